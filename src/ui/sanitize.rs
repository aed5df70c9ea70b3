//! Remote text (hostnames, ssh and API error messages) made safe for the
//! terminal with the log pane's sanitiser: control characters, escape
//! sequences and bidi overrides become visible escapes.

use std::borrow::Cow;

/// One line for the screen; borrowed when already safe.
pub fn escape(s: &str) -> Cow<'_, str> {
    crate::logs::sanitize_str(s)
}

/// `s` left-aligned in `width` columns (a column is a char, as with `{:<w$}`).
/// `format!`'s width stops at 65535 and panics past it; a remote name can be
/// longer, so columns sized from remote text are padded here.
pub fn pad_to(s: &str, width: usize) -> String {
    let mut out = String::with_capacity(s.len() + width);
    out.push_str(s);
    out.extend(std::iter::repeat_n(
        ' ',
        width.saturating_sub(s.chars().count()),
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::{escape, pad_to};

    #[test]
    fn pads_past_what_format_can() {
        assert_eq!(pad_to("ab", 4), "ab  ");
        assert_eq!(pad_to("abcdef", 4), "abcdef");
        assert_eq!(pad_to("é", 2), "é ");
        assert_eq!(pad_to("", 100_000).len(), 100_000);
    }

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
