//! Making remote text safe for the terminal.
//!
//! Every byte that comes from a node passes through here before it can reach
//! the screen (CVE-2021-25743 is what happens otherwise). Nothing is ever
//! interpreted or silently dropped: each dangerous character is replaced by a
//! visible escape, so the operator sees that a line carried, say, a clipboard
//! write (`\e]52;c;aGk=\a`) or a right-to-left override (`\u{202e}`).
//!
//! | input | shown as |
//! |---|---|
//! | ESC | `\e` |
//! | BEL, BS, CR, LF | `\a`, `\b`, `\r`, `\n` |
//! | other C0 controls, DEL | `\x00` … `\x1f`, `\x7f` |
//! | C1 controls U+0080–U+009F | `\u{9b}` … |
//! | Unicode format characters (Cf: bidi controls, zero-width characters, BOM, tag characters, soft hyphen, …) and U+2028/U+2029 | `\u{202e}` … |
//! | a byte that is not valid UTF-8 | `\xff` … |
//! | tab | expanded to spaces (see below) |
//!
//! Safety does not depend on recognising escape sequences: every control
//! character is escaped on its own, so `ESC ] 52 ; … BEL` comes out as the
//! plain text `\e]52;…\a` whatever the parser thinks. The parser only finds the
//! *extent* of each sequence (CSI, OSC, DCS, SOS, PM, APC, two- and three-byte
//! ESC sequences, their 8-bit C1 forms) so [`sanitize_with_spans`] can report
//! it as one token, which lets the renderer dim it and tell a real escape apart
//! from a log line that merely contains the characters `\e`.
//!
//! Tabs are expanded to spaces up to the next multiple of [`TAB_WIDTH`]
//! columns (a column is a `char` here), so the pane's column arithmetic
//! (horizontal offset, wrapping, highlights) never meets a control character.
//! Go stack traces in rke2 logs are tab-indented, so tabs are common.
//!
//! Speed: a clean ASCII line is checked 16 bytes at a time and returned
//! borrowed, with no allocation; see `benches/logs.rs`.

use std::borrow::Cow;
use std::ops::Range;

/// Tab stops every this many columns.
pub const TAB_WIDTH: usize = 8;

/// Sanitises a line of raw bytes (possibly invalid UTF-8).
///
/// Borrowed when the input is already safe, owned otherwise.
pub fn sanitize(bytes: &[u8]) -> Cow<'_, str> {
    sanitize_impl(bytes, None)
}

/// Sanitises text that is already valid UTF-8.
pub fn sanitize_str(s: &str) -> Cow<'_, str> {
    sanitize_impl(s.as_bytes(), None)
}

/// Like [`sanitize`], and appends to `spans` the byte ranges (in the returned
/// text) of every escape token, one range per escape sequence or escaped
/// character, in order and without overlap.
pub fn sanitize_with_spans<'a>(bytes: &'a [u8], spans: &mut Vec<Range<usize>>) -> Cow<'a, str> {
    sanitize_impl(bytes, Some(spans))
}

/// True for bytes that need a closer look: C0 controls (tab included), DEL
/// and every non-ASCII byte. Branch-free so the chunked scan vectorises.
#[inline(always)]
fn is_special(b: u8) -> bool {
    b.wrapping_sub(0x20) >= 0x5f
}

/// Index of the first special byte at or after `i`, or `b.len()`.
#[inline]
fn find_special(b: &[u8], mut i: usize) -> usize {
    const W: usize = 16;
    while i + W <= b.len() {
        let mut any = false;
        for &x in &b[i..i + W] {
            any |= is_special(x);
        }
        if any {
            break;
        }
        i += W;
    }
    while i < b.len() && !is_special(b[i]) {
        i += 1;
    }
    i
}

/// Whether a (valid, non-ASCII or ASCII) char must be shown as an escape.
#[inline]
pub fn needs_escape(c: char) -> bool {
    let u = c as u32;
    if u < 0x80 {
        return u < 0x20 || u == 0x7f;
    }
    if u <= 0x9f {
        return true; // C1
    }
    // Unicode 15 general category Cf, plus the line and paragraph separators
    // (which some terminals treat as line breaks).
    matches!(
        u,
        0x00AD
            | 0x0600..=0x0605
            | 0x061C
            | 0x06DD
            | 0x070F
            | 0x0890..=0x0891
            | 0x08E2
            | 0x180E
            | 0x200B..=0x200F
            | 0x2028..=0x202E
            | 0x2060..=0x2064
            | 0x2066..=0x206F
            | 0xFEFF
            | 0xFFF9..=0xFFFB
            | 0x110BD
            | 0x110CD
            | 0x13430..=0x1343F
            | 0x1BCA0..=0x1BCA3
            | 0x1D173..=0x1D17A
            | 0xE0001
            | 0xE0020..=0xE007F
    )
}

/// Position of the first byte that changes the output (a control byte, a tab,
/// a char that needs escaping), scanning valid UTF-8 `s` from `i`.
fn first_change(s: &str, mut i: usize) -> Option<usize> {
    let b = s.as_bytes();
    loop {
        i = find_special(b, i);
        if i >= b.len() {
            return None;
        }
        if b[i] < 0x80 {
            return Some(i);
        }
        let c = s[i..].chars().next().expect("i is a char boundary");
        if needs_escape(c) {
            return Some(i);
        }
        i += c.len_utf8();
    }
}

fn sanitize_impl<'a>(bytes: &'a [u8], spans: Option<&mut Vec<Range<usize>>>) -> Cow<'a, str> {
    let first = find_special(bytes, 0);
    if first == bytes.len() {
        // All printable ASCII.
        return Cow::Borrowed(std::str::from_utf8(bytes).expect("printable ASCII is UTF-8"));
    }
    let start = match std::str::from_utf8(bytes) {
        Ok(s) => match first_change(s, first) {
            None => return Cow::Borrowed(s),
            Some(p) => p,
        },
        Err(e) => first.min(e.valid_up_to()),
    };
    Cow::Owned(slow(bytes, start, spans))
}

const HEX: &[u8; 16] = b"0123456789abcdef";

fn push_byte_escape(out: &mut String, b: u8) {
    match b {
        0x1b => out.push_str("\\e"),
        0x07 => out.push_str("\\a"),
        0x08 => out.push_str("\\b"),
        b'\r' => out.push_str("\\r"),
        b'\n' => out.push_str("\\n"),
        _ => {
            out.push_str("\\x");
            out.push(HEX[(b >> 4) as usize] as char);
            out.push(HEX[(b & 0xf) as usize] as char);
        }
    }
}

/// Length of the UTF-8 sequence a lead byte announces (0 if not a lead byte).
#[inline]
fn utf8_len(lead: u8) -> usize {
    match lead {
        0xC2..=0xDF => 2,
        0xE0..=0xEF => 3,
        0xF0..=0xF4 => 4,
        _ => 0,
    }
}

/// Decodes one char at `i`, or None if the bytes there are not valid UTF-8.
#[inline]
fn decode_at(b: &[u8], i: usize) -> Option<char> {
    let n = utf8_len(b[i]);
    if n == 0 || i + n > b.len() {
        return None;
    }
    std::str::from_utf8(&b[i..i + n]).ok()?.chars().next()
}

/// End (exclusive) of the escape sequence whose introducer ends at `j`
/// (`kind` says which). Only used to group output into tokens.
fn csi_end(b: &[u8], mut j: usize) -> usize {
    while j < b.len() && (0x30..=0x3f).contains(&b[j]) {
        j += 1;
    }
    while j < b.len() && (0x20..=0x2f).contains(&b[j]) {
        j += 1;
    }
    if j < b.len() && (0x40..=0x7e).contains(&b[j]) {
        j + 1
    } else {
        j
    }
}

/// End of a control string (OSC, DCS, SOS, PM, APC) body starting at `j`:
/// after BEL, ST (`ESC \` or C1 U+009C) or CAN/SUB; before any other ESC;
/// or the end of the line.
fn string_end(b: &[u8], mut j: usize) -> usize {
    while j < b.len() {
        match b[j] {
            0x07 | 0x18 | 0x1a => return j + 1,
            0x1b => {
                return if b.get(j + 1) == Some(&b'\\') {
                    j + 2
                } else {
                    j
                };
            }
            0xc2 if b.get(j + 1) == Some(&0x9c) => return j + 2,
            _ => j += 1,
        }
    }
    j
}

/// End of the sequence introduced by ESC at `i`.
fn esc_end(b: &[u8], i: usize) -> usize {
    let j = i + 1;
    match b.get(j) {
        None => j,
        Some(b'[') => csi_end(b, j + 1),
        Some(b']' | b'P' | b'X' | b'^' | b'_') => string_end(b, j + 1),
        Some(0x20..=0x2f) => {
            let mut k = j;
            while k < b.len() && (0x20..=0x2f).contains(&b[k]) {
                k += 1;
            }
            if k < b.len() && (0x30..=0x7e).contains(&b[k]) {
                k + 1
            } else {
                k
            }
        }
        Some(0x30..=0x7e) => j + 1,
        Some(_) => j,
    }
}

/// End of the sequence introduced by the C1 char `c` occupying `i..j`.
fn c1_end(b: &[u8], c: char, j: usize) -> usize {
    match c {
        '\u{9b}' => csi_end(b, j),
        '\u{9d}' | '\u{90}' | '\u{98}' | '\u{9e}' | '\u{9f}' => string_end(b, j),
        _ => j,
    }
}

/// The general path: `b[..start]` is known clean and valid UTF-8.
fn slow(b: &[u8], start: usize, mut spans: Option<&mut Vec<Range<usize>>>) -> String {
    let mut out = String::with_capacity(b.len() + b.len() / 4 + 16);
    out.push_str(std::str::from_utf8(&b[..start]).expect("checked clean prefix"));
    // Column = chars emitted so far (for tab stops).
    let mut col = b[..start].iter().filter(|&&x| (x as i8) >= -0x40).count();
    // The open escape token: (output start, input end).
    let mut token: Option<(usize, usize)> = None;
    let mut i = start;
    while i < b.len() {
        if let Some((s, end)) = token
            && i >= end
        {
            if let Some(sp) = spans.as_deref_mut() {
                sp.push(s..out.len());
            }
            token = None;
        }
        let x = b[i];
        if !is_special(x) {
            // Copy the run of clean ASCII at once (but not past an open
            // token, so its span stays exact).
            let mut j = find_special(b, i);
            if let Some((_, end)) = token {
                j = j.min(end);
            }
            let run = std::str::from_utf8(&b[i..j]).expect("ASCII");
            out.push_str(run);
            col += run.len();
            i = j;
            continue;
        }
        if x == b'\t' {
            let n = TAB_WIDTH - col % TAB_WIDTH;
            for _ in 0..n {
                out.push(' ');
            }
            col += n;
            i += 1;
            continue;
        }
        let before = out.len();
        let mut token_end = i + 1;
        let step;
        if x < 0x80 {
            if x == 0x1b {
                token_end = esc_end(b, i);
            }
            push_byte_escape(&mut out, x);
            step = 1;
        } else if let Some(c) = decode_at(b, i) {
            step = c.len_utf8();
            if !needs_escape(c) {
                out.push(c);
                col += 1;
                i += step;
                continue;
            }
            token_end = c1_end(b, c, i + step);
            out.extend(c.escape_unicode());
        } else {
            push_byte_escape(&mut out, x);
            step = 1;
        }
        col += out.len() - before; // escapes are ASCII: bytes == columns
        if token.is_none() {
            token = Some((before, token_end.max(i + step)));
        }
        i += step;
    }
    if let (Some((s, _)), Some(sp)) = (token, spans) {
        sp.push(s..out.len());
    }
    out
}

#[cfg(test)]
#[allow(clippy::single_range_in_vec_init)] // expected match lists
mod tests {
    use super::*;

    /// The property T9 asks for: nothing that a terminal would act on.
    fn assert_inert(out: &str) {
        for c in out.chars() {
            let u = c as u32;
            assert!(u >= 0x20 && u != 0x7f, "control {u:#x} in {out:?}");
            assert!(!(0x80..=0x9f).contains(&u), "C1 {u:#x} in {out:?}");
            assert!(!needs_escape(c), "format char {u:#x} in {out:?}");
        }
    }

    fn s(b: &[u8]) -> String {
        let out = sanitize(b).into_owned();
        assert_inert(&out);
        out
    }

    #[test]
    fn clean_lines_are_borrowed() {
        let line = b"I1129 11:07:03.123 server.go:42] Running kube-apiserver";
        assert!(matches!(sanitize(line), Cow::Borrowed(_)));
        let utf8 = "naïve café – 日本語 ✓".as_bytes();
        assert!(matches!(sanitize(utf8), Cow::Borrowed(_)));
        assert_eq!(sanitize(utf8), "naïve café – 日本語 ✓");
        assert!(matches!(sanitize(b""), Cow::Borrowed("")));
    }

    /// A corpus of hostile input and how each must look on screen.
    const CORPUS: &[(&[u8], &str)] = &[
        (b"\x1b]0;pwned title\x07after", "\\e]0;pwned title\\aafter"),
        (b"\x1b]2;title\x1b\\x", "\\e]2;title\\e\\x"),
        (
            b"\x1b]8;;https://evil.example/\x1b\\click\x1b]8;;\x1b\\",
            "\\e]8;;https://evil.example/\\e\\click\\e]8;;\\e\\",
        ),
        (b"\x1b]52;c;aGk=\x07", "\\e]52;c;aGk=\\a"),
        (b"\x1b]52;c;?\x07", "\\e]52;c;?\\a"),
        (b"a\x1b[2Jb", "a\\e[2Jb"),
        (
            b"\x1b[H\x1b[10;20H\x1b[1A\x1b[2K",
            "\\e[H\\e[10;20H\\e[1A\\e[2K",
        ),
        (b"\x1b[?1049h\x1b[?25l", "\\e[?1049h\\e[?25l"),
        (b"\x1b[31mred\x1b[0m", "\\e[31mred\\e[0m"),
        (b"\x1bP1$qm\x1b\\", "\\eP1$qm\\e\\"),
        (
            b"\x1b_apc\x1b\\\x1b^pm\x1b\\\x1bXsos\x1b\\",
            "\\e_apc\\e\\\\e^pm\\e\\\\eXsos\\e\\",
        ),
        (b"\x1bc\x1b7\x1b8\x1b(0", "\\ec\\e7\\e8\\e(0"),
        ("\u{9b}2J".as_bytes(), "\\u{9b}2J"),
        ("\u{9d}0;t\u{9c}".as_bytes(), "\\u{9d}0;t\\u{9c}"),
        (b"\x9b2J", "\\x9b2J"),
        (b"end\x1b", "end\\e"),
        (b"\x1b", "\\e"),
        (
            b"password: hunter2\rpassword: ********",
            "password: hunter2\\rpassword: ********",
        ),
        (b"abc\x08\x08\x08xyz", "abc\\b\\b\\bxyz"),
        (
            b"bell\x07 nul\x00 del\x7f vt\x0b ff\x0c",
            "bell\\a nul\\x00 del\\x7f vt\\x0b ff\\x0c",
        ),
        (b"multi\nline", "multi\\nline"),
        (
            "if access_level != \"user\u{202e} \u{2066}// Check if admin\u{2069} \u{2066}\" {"
                .as_bytes(),
            "if access_level != \"user\\u{202e} \\u{2066}// Check if admin\\u{2069} \\u{2066}\" {",
        ),
        (
            "\u{200e}\u{200f}\u{061c}\u{202a}\u{202b}\u{202c}\u{202d}\u{2067}\u{2068}".as_bytes(),
            "\\u{200e}\\u{200f}\\u{61c}\\u{202a}\\u{202b}\\u{202c}\\u{202d}\\u{2067}\\u{2068}",
        ),
        (
            "ad\u{200b}min\u{200c}\u{200d}\u{2060}\u{feff}".as_bytes(),
            "ad\\u{200b}min\\u{200c}\\u{200d}\\u{2060}\\u{feff}",
        ),
        (
            "soft\u{ad}hyphen tag\u{e0041}".as_bytes(),
            "soft\\u{ad}hyphen tag\\u{e0041}",
        ),
        ("line\u{2028}sep".as_bytes(), "line\\u{2028}sep"),
        (b"bad \xff\xfe utf8 \xc3(", "bad \\xff\\xfe utf8 \\xc3("),
        (b"cut \xe2\x80", "cut \\xe2\\x80"),
        (b"overlong \xc0\xaf", "overlong \\xc0\\xaf"),
        (b"surrogate \xed\xa0\x80", "surrogate \\xed\\xa0\\x80"),
    ];

    #[test]
    fn hostile_corpus_is_shown_not_interpreted() {
        for (input, want) in CORPUS {
            assert_eq!(s(input), *want, "input {input:?}");
        }
    }

    #[test]
    fn str_entry_point_agrees() {
        let t = "x\u{1b}[2J\u{202e}y";
        assert_eq!(sanitize_str(t), sanitize(t.as_bytes()));
        assert_eq!(sanitize_str(t), "x\\e[2J\\u{202e}y");
    }

    #[test]
    fn tabs_expand_to_tab_stops() {
        assert_eq!(s(b"\tx"), "        x");
        assert_eq!(s(b"ab\tc"), "ab      c");
        assert_eq!(s(b"12345678\tx"), "12345678        x");
        // Columns count chars, escapes count as their visible width.
        assert_eq!(s("é\tx".as_bytes()), "é       x");
        assert_eq!(s(b"\x07\tx"), "\\a      x");
    }

    #[test]
    fn spans_cover_whole_sequences() {
        let mut sp = Vec::new();
        let out = sanitize_with_spans(b"a\x1b]52;c;aGk=\x07b\x1b[2Jc\xffd", &mut sp);
        let toks: Vec<&str> = sp.iter().map(|r| &out[r.clone()]).collect();
        assert_eq!(toks, ["\\e]52;c;aGk=\\a", "\\e[2J", "\\xff"]);

        sp.clear();
        let out = sanitize_with_spans("\u{9b}1;2H rest \u{202e}".as_bytes(), &mut sp);
        let toks: Vec<&str> = sp.iter().map(|r| &out[r.clone()]).collect();
        assert_eq!(toks, ["\\u{9b}1;2H", "\\u{202e}"]);

        sp.clear();
        let out = sanitize_with_spans(b"\x1b]0;unterminated", &mut sp);
        assert_eq!(sp, [0..out.len()]);

        sp.clear();
        let out = sanitize_with_spans(b"clean", &mut sp);
        assert!(sp.is_empty() && out == "clean");
    }

    /// Deterministic fuzz: random bytes biased towards the interesting ones.
    #[test]
    fn fuzz_random_bytes_stay_inert() {
        use rand::{Rng, SeedableRng, rngs::StdRng};
        let mut rng = StdRng::seed_from_u64(0x5eed_1095);
        let alphabet: &[&[u8]] = &[
            b"\x1b",
            b"[",
            b"]",
            b"\x07",
            b"\\",
            b"\r",
            b"\t",
            b"\n",
            b"\x7f",
            b"a",
            b";",
            "\u{9b}".as_bytes(),
            "\u{9c}".as_bytes(),
            "\u{202e}".as_bytes(),
            "\u{200d}".as_bytes(),
            "é".as_bytes(),
            b"\xc2",
            b"\xe2\x80",
            b"\xff",
        ];
        let mut line = Vec::new();
        let mut spans = Vec::new();
        for _ in 0..5_000 {
            line.clear();
            let n = rng.random_range(0..64);
            for _ in 0..n {
                if rng.random_bool(0.5) {
                    line.push(rng.random());
                } else {
                    line.extend_from_slice(alphabet[rng.random_range(0..alphabet.len())]);
                }
            }
            spans.clear();
            let out = sanitize_with_spans(&line, &mut spans);
            assert_inert(&out);
            let mut last = 0;
            for r in &spans {
                assert!(r.start >= last && r.start < r.end && r.end <= out.len());
                assert!(out.is_char_boundary(r.start) && out.is_char_boundary(r.end));
                last = r.end;
            }
            // Sanitising is idempotent on its own output, except that the
            // backslashes it introduced are plain text the second time.
            assert_eq!(sanitize_str(&out), &*out);
        }
    }
}
