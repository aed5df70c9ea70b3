//! The corpus of hostile remote text: what a compromised node, a tampered
//! `/oem` file or a malicious API object could put where harvcred shows
//! remote text. Every entry is one kind of attack on the terminal.

use crate::logs::sanitize::needs_escape;

/// Each entry: a name (for failure messages) and the raw bytes.
pub fn corpus() -> Vec<(&'static str, Vec<u8>)> {
    let mut v: Vec<(&'static str, Vec<u8>)> = vec![
        ("csi clear screen", b"\x1b[2J\x1b[H".to_vec()),
        ("csi colours", b"\x1b[31mred\x1b[0m".to_vec()),
        (
            "csi alt screen, hide cursor",
            b"\x1b[?1049h\x1b[?25l".to_vec(),
        ),
        (
            "csi cursor up and erase line",
            b"ok\x1b[1A\x1b[2Kfaked".to_vec(),
        ),
        ("osc window title", b"\x1b]0;pwned\x07".to_vec()),
        (
            "osc 52 clipboard write",
            b"\x1b]52;c;cm0gLXJmIH4K\x07".to_vec(),
        ),
        ("osc 52 clipboard read", b"\x1b]52;c;?\x1b\\".to_vec()),
        (
            "osc 8 hyperlink",
            b"\x1b]8;;https://evil.example/\x1b\\click\x1b]8;;\x1b\\".to_vec(),
        ),
        ("dcs decrqss", b"\x1bP1$qm\x1b\\".to_vec()),
        ("dcs xtgettcap", b"\x1bP+q544e\x1b\\".to_vec()),
        ("apc kitty graphics", b"\x1b_Gf=100;AAAA\x1b\\".to_vec()),
        ("pm", b"\x1b^privacy\x1b\\".to_vec()),
        ("sos", b"\x1bXstring\x1b\\".to_vec()),
        ("esc reset and charset", b"\x1bc\x1b(0\x1b7\x1b8".to_vec()),
        ("lone trailing esc", b"tail\x1b".to_vec()),
        ("8-bit csi byte", b"\x9b2J".to_vec()),
        ("8-bit osc and st bytes", b"\x9d0;t\x9c".to_vec()),
        ("8-bit dcs byte", b"\x90q\x9c".to_vec()),
        ("c1 csi as utf-8", "\u{9b}2J".as_bytes().to_vec()),
        (
            "c1 osc 52 as utf-8",
            "\u{9d}52;c;YQ==\u{9c}".as_bytes().to_vec(),
        ),
        (
            "c1 apc pm as utf-8",
            "\u{9f}apc\u{9c}\u{9e}pm\u{9c}".as_bytes().to_vec(),
        ),
        (
            "c1 nel ri ind",
            "a\u{85}b\u{8d}c\u{84}d".as_bytes().to_vec(),
        ),
        (
            "bidi embeddings and overrides",
            "user\u{202a}a\u{202b}b\u{202c}c\u{202d}d\u{202e}nimda"
                .as_bytes()
                .to_vec(),
        ),
        (
            "bidi isolates",
            "\u{2066}lri\u{2067}rli\u{2068}fsi\u{2069}pdi"
                .as_bytes()
                .to_vec(),
        ),
        (
            "bidi marks",
            "\u{200e}lrm\u{200f}rlm\u{61c}alm".as_bytes().to_vec(),
        ),
        (
            "zero-width and tag chars",
            "ad\u{200b}min\u{200d}\u{feff}\u{e0041}".as_bytes().to_vec(),
        ),
        ("line separators", "a\u{2028}b\u{2029}c".as_bytes().to_vec()),
        ("invalid utf-8", b"bad \xff\xfe \xc3( end".to_vec()),
        ("cut utf-8", b"cut \xe2\x80".to_vec()),
        ("overlong and surrogate", b"\xc0\xaf \xed\xa0\x80".to_vec()),
        ("nul", b"before\x00AfterNul".to_vec()),
        (
            "carriage return overwrite",
            b"password: hunter2\rpassword: ********".to_vec(),
        ),
        ("backspace overwrite", b"abc\x08\x08\x08xyz".to_vec()),
        ("newline injection", b"line one\nfake second line".to_vec()),
        ("bell del vt ff", b"\x07\x7f\x0b\x0c".to_vec()),
        ("tab", b"a\tb".to_vec()),
    ];
    // Very long lines: a plain one, one with an escape at the far end, one
    // of wide characters.
    v.push(("very long line", vec![b'A'; 200_000]));
    let mut far = vec![b'x'; 100_000];
    far.extend_from_slice(b"\x1b]52;c;aGk=\x07\x1b[2J");
    v.push(("escape after 100k", far));
    v.push(("long wide chars", "日本".repeat(30_000).into_bytes()));
    v
}

/// The corpus as text (what a `String` field gets: invalid UTF-8 replaced,
/// as harvcred's readers do with `from_utf8_lossy`).
pub fn corpus_text() -> Vec<(&'static str, String)> {
    corpus()
        .into_iter()
        .map(|(n, b)| (n, String::from_utf8_lossy(&b).into_owned()))
        .collect()
}

/// The characters a terminal could act on, or that reorder or hide text.
pub fn is_raw(c: char) -> bool {
    needs_escape(c) && c != '\n'
}

/// Panics when `out` holds a character that must never reach the terminal
/// raw. `\n` is allowed: multi-line outputs (CLI tables) are split by it.
pub fn assert_inert(place: &str, entry: &str, out: &str) {
    if let Some(c) = out.chars().find(|&c| is_raw(c)) {
        let at = out.chars().position(|x| x == c).unwrap_or(0);
        let near: String = out.chars().skip(at.saturating_sub(40)).take(80).collect();
        panic!(
            "{place}: raw {:#x} from corpus entry {entry:?} near {near:?}",
            c as u32
        );
    }
}
