//! Text from outside (parameter values, a child's stderr, a peer's reply) made safe for one
//! log line or one exit reason.

use std::borrow::Cow;
use std::fmt::Write;

/// Escape every control character visibly, so that no value can end a log line early, forge an
/// `ocf-exit-reason:` line or send terminal escapes: `\n`, `\r`, `\t`, `\0`, `\\x1b` (ESC and
/// other C0 codes), `\x7f` (DEL), `\u{85}` (C1 codes), and the Unicode line and paragraph
/// separators. Anything else is kept as it is.
pub fn escape_controls(s: &str) -> Cow<'_, str> {
    let needs = |c: char| c.is_control() || c == '\u{2028}' || c == '\u{2029}';
    if !s.chars().any(needs) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\0' => out.push_str("\\0"),
            c if (c as u32) < 0x80 && needs(c) => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if needs(c) => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::escape_controls;

    #[test]
    fn controls_are_escaped_visibly() {
        assert_eq!(escape_controls("plain text é"), "plain text é");
        assert_eq!(
            escape_controls("a\nocf-exit-reason:forged\r\t\0\x1b[31m\x7f\u{85}\u{2028}"),
            "a\\nocf-exit-reason:forged\\r\\t\\0\\x1b[31m\\x7f\\u{85}\\u{2028}"
        );
    }
}
