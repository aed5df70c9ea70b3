//! Remote text (hostnames, ssh and API error messages) made safe for the
//! terminal: control characters, escape sequences and bidi overrides become
//! visible escapes. Stop-gap until `crate::logs`' sanitiser lands on main.

use std::borrow::Cow;

fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(c,
            '\u{200B}'..='\u{200F}'   // zero-width and direction marks
            | '\u{202A}'..='\u{202E}' // bidi embeddings and overrides
            | '\u{2066}'..='\u{2069}' // bidi isolates
            | '\u{FEFF}')
}

/// One line for the screen: every character that could move the cursor, change
/// colours or reorder text is shown as `\u{..}` (or `\n`, `\t`, `\e`).
pub fn escape(s: &str) -> Cow<'_, str> {
    if !s.chars().any(needs_escape) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{1b}' => out.push_str("\\e"),
            c if needs_escape(c) => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn escapes_what_could_drive_the_terminal() {
        assert_eq!(escape("node1"), "node1");
        assert_eq!(escape("a\u{1b}[2Jb"), "a\\e[2Jb");
        assert_eq!(escape("x\ny\r\t"), "x\\ny\\r\\t");
        assert_eq!(escape("\u{202E}evil"), "\\u{202e}evil");
        assert_eq!(escape("bell\u{7}"), "bell\\u{7}");
        assert_eq!(escape("c1\u{9b}31m"), "c1\\u{9b}31m");
        assert_eq!(escape("ünïcode ok"), "ünïcode ok");
    }
}
