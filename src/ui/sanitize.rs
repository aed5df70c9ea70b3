//! Remote text (hostnames, ssh and API error messages) made safe for the
//! terminal with the log pane's sanitiser: control characters, escape
//! sequences and bidi overrides become visible escapes.

use std::borrow::Cow;

/// One line for the screen; borrowed when already safe.
pub fn escape(s: &str) -> Cow<'_, str> {
    crate::logs::sanitize_str(s)
}

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn escapes_what_could_drive_the_terminal() {
        assert_eq!(escape("node1"), "node1");
        assert_eq!(escape("a\u{1b}[2Jb"), "a\\e[2Jb");
        assert_eq!(escape("x\ny\r"), "x\\ny\\r");
        assert_eq!(escape("\u{202E}evil"), "\\u{202e}evil");
        assert_eq!(escape("c1\u{9b}31m"), "c1\\u{9b}31m");
        assert_eq!(escape("ünïcode ok"), "ünïcode ok");
    }
}
