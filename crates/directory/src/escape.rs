//! Escaping of values placed into distinguished names and search filters.
//!
//! Every name that reaches LDAP (an e-mail address, a domain, a back-end name) passes through
//! one of these functions, even after validation: validation decides what the product accepts,
//! escaping makes sure that whatever is accepted is taken as a value and never as syntax.

/// Escape one attribute value for use in an RDN (RFC 4514 section 2.4).
///
/// Escaped with a backslash: `"` `+` `,` `;` `<` `>` `\` and `=` (the last is optional in the
/// RFC; OpenLDAP accepts it and it keeps `a=b` from ever looking like a second AVA), a leading
/// `#` or space and a trailing space. NUL and other control characters become `\XX` hex pairs.
pub fn escape_dn_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 8);
    let last = value.chars().count().saturating_sub(1);
    for (i, c) in value.chars().enumerate() {
        match c {
            '"' | '+' | ',' | ';' | '<' | '>' | '\\' | '=' => {
                out.push('\\');
                out.push(c);
            }
            '#' if i == 0 => out.push_str("\\#"),
            ' ' if i == 0 || i == last => out.push_str("\\ "),
            c if c.is_control() => {
                let mut buf = [0u8; 4];
                for b in c.encode_utf8(&mut buf).bytes() {
                    out.push_str(&format!("\\{b:02x}"));
                }
            }
            c => out.push(c),
        }
    }
    out
}

/// Escape one assertion value for use in a search filter (RFC 4515 section 3): `*` `(` `)` `\`
/// and NUL become `\2a` `\28` `\29` `\5c` `\00`; other control characters are hex-escaped too.
pub fn escape_filter_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 8);
    for c in value.chars() {
        match c {
            '*' => out.push_str("\\2a"),
            '(' => out.push_str("\\28"),
            ')' => out.push_str("\\29"),
            '\\' => out.push_str("\\5c"),
            c if c.is_control() => {
                let mut buf = [0u8; 4];
                for b in c.encode_utf8(&mut buf).bytes() {
                    out.push_str(&format!("\\{b:02x}"));
                }
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dn_specials_are_escaped() {
        assert_eq!(escape_dn_value("plain"), "plain");
        assert_eq!(escape_dn_value("a,b"), "a\\,b");
        assert_eq!(
            escape_dn_value("x,ou=admins,dc=example"),
            "x\\,ou\\=admins\\,dc\\=example"
        );
        assert_eq!(escape_dn_value("a+cn=b"), "a\\+cn\\=b");
        assert_eq!(escape_dn_value("\"q\";<>\\"), "\\\"q\\\"\\;\\<\\>\\\\");
        assert_eq!(escape_dn_value("#x#"), "\\#x#");
        assert_eq!(escape_dn_value(" a b "), "\\ a b\\ ");
        assert_eq!(escape_dn_value(" "), "\\ ");
        assert_eq!(escape_dn_value("a\0b\nc"), "a\\00b\\0ac");
        assert_eq!(escape_dn_value(""), "");
        assert_eq!(escape_dn_value("ünï"), "ünï");
    }

    #[test]
    fn filter_specials_are_escaped() {
        assert_eq!(escape_filter_value("user@example.com"), "user@example.com");
        assert_eq!(escape_filter_value("*"), "\\2a");
        assert_eq!(
            escape_filter_value("x)(|(mail=*))"),
            "x\\29\\28|\\28mail=\\2a\\29\\29"
        );
        assert_eq!(escape_filter_value("a\\b"), "a\\5cb");
        assert_eq!(escape_filter_value("a\0"), "a\\00");
        assert_eq!(escape_filter_value("\u{7f}"), "\\7f");
    }

    #[test]
    fn escaped_filter_value_has_no_bare_syntax() {
        for hostile in ["*)(objectClass=*", "(", ")", "\\", "a*b*c", "*()\\\0"] {
            let e = escape_filter_value(hostile);
            assert!(!e.contains(['*', '(', ')', '\0']), "{hostile:?} -> {e:?}");
            // every backslash starts a two-digit hex escape
            let b = e.as_bytes();
            for (i, &c) in b.iter().enumerate() {
                if c == b'\\' {
                    assert!(
                        b.len() > i + 2
                            && b[i + 1].is_ascii_hexdigit()
                            && b[i + 2].is_ascii_hexdigit()
                    );
                }
            }
        }
    }
}
