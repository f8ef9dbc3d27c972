//! Text from outside (parameter values, a child's stderr, a peer's reply) made safe for one
//! log line or one exit reason, or for XML text and attribute values.

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

/// Escape a value for an XML attribute (single- or double-quoted), or for any XML text:
/// `&`, `<`, `>`, `"` and `'` become entity references. Characters XML 1.0 does not allow at
/// all (XML 1.0 §2.2: C0 controls other than tab, newline and carriage return; U+FFFE,
/// U+FFFF) become a space, since no reference can carry them. Anything else is kept.
pub fn escape_xml(s: &str) -> Cow<'_, str> {
    escape_xml_as(s, true)
}

/// Escape prose for XML character data (element content): as [`escape_xml`], but quotes and
/// apostrophes stay as written, since only `&`, `<` and `>` have a meaning there
/// (XML 1.0 §2.4). For long descriptions that people read in the XML itself.
pub fn escape_xml_text(s: &str) -> Cow<'_, str> {
    escape_xml_as(s, false)
}

fn escape_xml_as(s: &str, quotes: bool) -> Cow<'_, str> {
    let forbidden = |c: char| {
        (c < ' ' && !matches!(c, '\t' | '\n' | '\r')) || matches!(c, '\u{fffe}' | '\u{ffff}')
    };
    let needs = |c: char| {
        matches!(c, '&' | '<' | '>') || (quotes && matches!(c, '"' | '\'')) || forbidden(c)
    };
    if !s.chars().any(needs) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' if quotes => out.push_str("&quot;"),
            '\'' if quotes => out.push_str("&apos;"),
            c if forbidden(c) => out.push(' '),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::{escape_controls, escape_xml, escape_xml_text};
    use std::borrow::Cow;

    #[test]
    fn xml_markup_and_quotes_are_escaped() {
        assert_eq!(
            escape_xml(r#"<a b="c" d='e'>&amp;</a>"#),
            "&lt;a b=&quot;c&quot; d=&apos;e&apos;&gt;&amp;amp;&lt;/a&gt;"
        );
    }

    #[test]
    fn xml_text_keeps_quotes() {
        assert_eq!(
            escape_xml_text(r#"the peer's "state" & <more>"#),
            "the peer's \"state\" &amp; &lt;more&gt;"
        );
        assert!(matches!(escape_xml_text("it's \"so\""), Cow::Borrowed(_)));
    }

    #[test]
    fn xml_plain_text_is_borrowed() {
        assert!(matches!(escape_xml("plain text é\n\t"), Cow::Borrowed(_)));
    }

    #[test]
    fn xml_forbidden_characters_become_spaces() {
        assert_eq!(
            escape_xml("a\u{1}b\u{1b}c\0d\u{fffe}e\u{ffff}"),
            "a b c d e "
        );
        assert_eq!(escape_xml("tab\tnl\ncr\r"), "tab\tnl\ncr\r");
        assert_eq!(escape_xml_text("a\u{1}b"), "a b");
    }

    #[test]
    fn escaped_xml_parses_back_to_the_input() {
        let input = "x & y < z > \"q\" 'a' é";
        let doc = format!(
            "<r a=\"{0}\" b='{0}'><t>{0}</t><u>{1}</u></r>",
            escape_xml(input),
            escape_xml_text(input)
        );
        let parsed = roxmltree::Document::parse(&doc).expect("escaped text is well-formed XML");
        let root = parsed.root_element();
        assert_eq!(root.attribute("a"), Some(input));
        assert_eq!(root.attribute("b"), Some(input));
        for child in root.children() {
            assert_eq!(child.text(), Some(input));
        }
    }

    #[test]
    fn controls_are_escaped_visibly() {
        assert_eq!(escape_controls("plain text é"), "plain text é");
        assert_eq!(
            escape_controls("a\nocf-exit-reason:forged\r\t\0\x1b[31m\x7f\u{85}\u{2028}"),
            "a\\nocf-exit-reason:forged\\r\\t\\0\\x1b[31m\\x7f\\u{85}\\u{2028}"
        );
    }
}
