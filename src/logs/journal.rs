//! Parsing `journalctl` output, and resuming a stream without repeats.
//!
//! The stream reads `journalctl -o short-unix`:
//! `1795971835.397065 node1 rke2[1234]: msg` ([`parse_short`], which also
//! reads `-o short-iso-precise`). Not `-o json` or `-o export`, which carry a
//! cursor: on the lab, journalctl's JSON formatter managed 9,900-18,900
//! lines/s for ten nodes where the short formats reached 43,000-46,000, and
//! export was erratic (4,400-42,000), so they would have capped the pane at
//! half of what `journalctl -f` itself delivers. The node's formatting is the
//! same work as the operator's own `journalctl -f`; what is left to us is
//! cheap to parse.
//!
//! With `--all`, journalctl prints every byte of the message as it is
//! (escape sequences included: the sanitiser deals with them when a
//! [`LogLine`](super::buffer::LogLine) is built) and indents the lines after
//! the first of a multi-line message, so a line starting at column 0 is
//! always a new entry: a message cannot forge one.
//!
//! Reconnecting: [`Resume`] remembers the last timestamp and the messages
//! seen at it; the next connection asks for `--since=@SECONDS` and drops what
//! [`Resume::is_repeat`] recognises.

use std::fmt;

/// A journal timestamp: microseconds since the Unix epoch, UTC (journald's
/// own resolution; `__REALTIME_TIMESTAMP` is exactly this).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// From seconds and microseconds since the epoch.
    pub fn from_unix(secs: i64, micros: u32) -> Self {
        Timestamp(secs * 1_000_000 + i64::from(micros))
    }

    /// Whole seconds since the epoch (floor).
    pub fn unix_secs(self) -> i64 {
        self.0.div_euclid(1_000_000)
    }

    /// Time of day in UTC, `HH:MM:SS.mmm`: what the log pane shows.
    pub fn clock(self) -> Clock {
        Clock(self)
    }
}

/// `YYYY-MM-DDTHH:MM:SS.ffffffZ`
impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self.unix_secs();
        let micros = self.0.rem_euclid(1_000_000);
        let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
        let tod = secs.rem_euclid(86_400);
        write!(
            f,
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{micros:06}Z",
            tod / 3600,
            tod / 60 % 60,
            tod % 60
        )
    }
}

/// Display adapter for [`Timestamp::clock`].
#[derive(Clone, Copy, Debug)]
pub struct Clock(Timestamp);

impl fmt::Display for Clock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = self.0.0;
        let tod = t.div_euclid(1_000_000).rem_euclid(86_400);
        let ms = t.rem_euclid(1_000_000) / 1000;
        write!(
            f,
            "{:02}:{:02}:{:02}.{ms:03}",
            tod / 3600,
            tod / 60 % 60,
            tod % 60
        )
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
/// algorithm: exact, branch-light, no tables).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = i64::from((m + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

fn digits(b: &[u8]) -> Option<u32> {
    if b.is_empty() || b.len() > 9 {
        return None;
    }
    let mut v = 0u32;
    for &c in b {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v * 10 + u32::from(c - b'0');
    }
    Some(v)
}

/// Parses an ISO 8601 timestamp as journalctl prints it:
/// `YYYY-MM-DDTHH:MM:SS[.frac](+HH:MM|+HHMM|Z)`, fraction 0–9 digits.
/// Returns the timestamp and the number of bytes consumed.
pub fn parse_iso(b: &[u8]) -> Option<(Timestamp, usize)> {
    if b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b'T'
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let y = digits(&b[0..4])?;
    let mo = digits(&b[5..7])?;
    let d = digits(&b[8..10])?;
    let h = digits(&b[11..13])?;
    let mi = digits(&b[14..16])?;
    let s = digits(&b[17..19])?;
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || s > 60 {
        return None;
    }
    let mut i = 19;
    let mut micros = 0u32;
    if b.get(i) == Some(&b'.') {
        let start = i + 1;
        let mut j = start;
        while j < b.len() && b[j].is_ascii_digit() {
            j += 1;
        }
        if j == start || j - start > 9 {
            return None;
        }
        // Scale the fraction to microseconds.
        let frac = &b[start..j];
        for k in 0..6 {
            micros = micros * 10 + frac.get(k).map_or(0, |c| u32::from(c - b'0'));
        }
        i = j;
    }
    let offset_secs: i64 = match b.get(i)? {
        b'Z' => {
            i += 1;
            0
        }
        sign @ (b'+' | b'-') => {
            let oh = digits(b.get(i + 1..i + 3)?)?;
            let rest = if b.get(i + 3) == Some(&b':') {
                i + 4
            } else {
                i + 3
            };
            let om = digits(b.get(rest..rest + 2)?)?;
            i = rest + 2;
            let o = i64::from(oh * 3600 + om * 60);
            if *sign == b'-' { -o } else { o }
        }
        _ => return None,
    };
    let days = days_from_civil(i64::from(y), mo, d);
    let secs = days * 86_400 + i64::from(h * 3600 + mi * 60 + s) - offset_secs;
    Some((Timestamp::from_unix(secs, micros), i))
}

/// One line of `journalctl -o short-iso-precise` output.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShortLine<'a> {
    /// `<timestamp> <host> <identifier>[<pid>]: <message>`
    Entry(ShortEntry<'a>),
    /// journalctl's own notes: `-- Boot 1a2b… --`, `-- No entries --`, …
    Meta(&'a [u8]),
    /// Anything else, in practice the indented continuation of a multi-line
    /// message: shown as is, with the previous entry's node and time.
    Other(&'a [u8]),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ShortEntry<'a> {
    pub ts: Timestamp,
    pub host: &'a [u8],
    pub ident: &'a [u8],
    pub pid: Option<u32>,
    pub message: &'a [u8],
}

/// Parses the timestamp journalctl's `short-unix` prints: seconds since the
/// epoch, a dot, the fraction (microseconds: 6 digits; 1-9 accepted).
/// Returns the timestamp and the number of bytes consumed.
pub fn parse_unix(b: &[u8]) -> Option<(Timestamp, usize)> {
    let dot = b.iter().take(13).position(|&c| c == b'.')?;
    let secs = &b[..dot];
    if secs.is_empty() || secs.len() > 12 || !secs.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let frac_len = b[dot + 1..]
        .iter()
        .take_while(|c| c.is_ascii_digit())
        .count();
    if frac_len == 0 || frac_len > 9 {
        return None;
    }
    let frac = &b[dot + 1..dot + 1 + frac_len];
    let mut micros = 0u32;
    for k in 0..6 {
        micros = micros * 10 + frac.get(k).map_or(0, |c| u32::from(c - b'0'));
    }
    let secs: i64 = std::str::from_utf8(secs).ok()?.parse().ok()?;
    Some((Timestamp::from_unix(secs, micros), dot + 1 + frac_len))
}

/// Splits a line of `short-unix` or `short-iso(-precise)` output. No
/// allocation; a trailing `\r` or `\n` is not removed (the caller splits
/// lines).
pub fn parse_short(line: &[u8]) -> ShortLine<'_> {
    if line.starts_with(b"-- ") {
        return ShortLine::Meta(line);
    }
    let Some((ts, n)) = parse_unix(line).or_else(|| parse_iso(line)) else {
        return ShortLine::Other(line);
    };
    let rest = &line[n..];
    let Some(rest) = rest.strip_prefix(b" ") else {
        return ShortLine::Other(line);
    };
    let Some(sp) = rest.iter().position(|&c| c == b' ') else {
        return ShortLine::Other(line);
    };
    let host = &rest[..sp];
    let rest = &rest[sp + 1..];
    // The identifier ends at the first ':' (followed by a space or the end).
    let Some(colon) = rest
        .windows(2)
        .position(|w| w == b": ")
        .or_else(|| rest.ends_with(b":").then(|| rest.len() - 1))
    else {
        return ShortLine::Other(line);
    };
    let head = &rest[..colon];
    let message = rest.get(colon + 2..).unwrap_or(&[]);
    let (ident, pid) = match head.iter().rposition(|&c| c == b'[') {
        Some(open) if head.ends_with(b"]") => match digits(&head[open + 1..head.len() - 1]) {
            Some(pid) => (&head[..open], Some(pid)),
            None => (head, None),
        },
        _ => (head, None),
    };
    ShortLine::Entry(ShortEntry {
        ts,
        host,
        ident,
        pid,
        message,
    })
}

/// How many same-timestamp messages [`Resume`] remembers for de-duplication.
const SAME_TS_MEMORY: usize = 256;

/// Where a stream got to, so a reconnect continues without repeats.
///
/// Feed every received entry to [`observe`](Resume::observe); on reconnect,
/// run journalctl with [`journalctl_args`](Resume::journalctl_args) and drop
/// the entries for which [`is_repeat`](Resume::is_repeat) is true.
///
/// Timestamps are journald's (microseconds, taken when the entry arrived), in
/// the order journalctl prints them; an entry older than the last one shown,
/// or at the same microsecond with a message already shown, is a repeat.
#[derive(Clone, Debug, Default)]
pub struct Resume {
    last_ts: Option<Timestamp>,
    /// Hashes of the messages seen at `last_ts` (`--since` has second
    /// resolution, so the last second comes again).
    at_last_ts: Vec<u64>,
}

fn hash(msg: &[u8]) -> u64 {
    use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
    BuildHasherDefault::<DefaultHasher>::default().hash_one(msg)
}

impl Resume {
    pub fn new() -> Self {
        Self::default()
    }

    /// Records an entry that was shown.
    pub fn observe(&mut self, ts: Timestamp, message: &[u8]) {
        match self.last_ts {
            Some(last) if ts < last => {}
            Some(last) if ts == last => {
                if self.at_last_ts.len() < SAME_TS_MEMORY {
                    self.at_last_ts.push(hash(message));
                }
            }
            _ => {
                self.last_ts = Some(ts);
                self.at_last_ts.clear();
                self.at_last_ts.push(hash(message));
            }
        }
    }

    pub fn last_timestamp(&self) -> Option<Timestamp> {
        self.last_ts
    }

    /// True for an entry a resumed connection delivers again: older than the
    /// last one seen, or at the same instant with a message already seen.
    pub fn is_repeat(&self, ts: Timestamp, message: &[u8]) -> bool {
        match self.last_ts {
            Some(last) if ts < last => true,
            Some(last) if ts == last => self.at_last_ts.contains(&hash(message)),
            _ => false,
        }
    }

    /// Arguments for `journalctl` (program name excluded).
    ///
    /// First connection: the last `backlog` entries, then follow. Later
    /// connections: everything since the last second seen, `--no-tail` so
    /// `-f`'s implied `-n 10` does not cut the gap. `--all` so journalctl
    /// does not turn a message with control characters into "[blob data]"
    /// (the sanitiser shows them); `--quiet` leaves out journalctl's own
    /// notes ("-- No entries --"). Pass each element as one argument
    /// (openssh's `Command::arg` quotes it).
    pub fn journalctl_args(&self, unit: &str, backlog: u32) -> Vec<String> {
        let mut a = vec![
            format!("--unit={unit}"),
            "--follow".to_owned(),
            "--all".to_owned(),
            "--quiet".to_owned(),
            "--no-pager".to_owned(),
            "--output=short-unix".to_owned(),
        ];
        match self.last_ts {
            Some(ts) => {
                a.push(format!("--since=@{}", ts.unix_secs()));
                a.push("--no-tail".to_owned());
            }
            None => a.push(format!("--lines={backlog}")),
        }
        a
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_timestamps_match_the_time_crate() {
        use time::format_description::well_known::Rfc3339;
        for s in [
            "2026-11-29T11:07:03.123456+00:00",
            "2024-02-29T23:59:59.999999+02:00",
            "1970-01-01T00:00:00.000000Z",
            "2000-03-01T00:00:00.5-05:30",
            "2038-01-19T03:14:08.000001+00:00",
        ] {
            let (ts, n) = parse_iso(s.as_bytes()).expect(s);
            assert_eq!(n, s.len());
            let want = time::OffsetDateTime::parse(s, &Rfc3339).unwrap();
            assert_eq!(i128::from(ts.0) * 1000, want.unix_timestamp_nanos(), "{s}");
        }
        // Old journalctl writes the offset without a colon.
        let (a, _) = parse_iso(b"2026-11-29T12:07:03.000001+0100").unwrap();
        let (b, _) = parse_iso(b"2026-11-29T11:07:03.000001+00:00").unwrap();
        assert_eq!(a, b);
        assert_eq!(b.to_string(), "2026-11-29T11:07:03.000001Z");
        assert_eq!(b.clock().to_string(), "11:07:03.000");
        assert!(parse_iso(b"2026-13-29T11:07:03+00:00").is_none());
        assert!(parse_iso(b"not a timestamp at all").is_none());
    }

    #[test]
    fn short_lines() {
        let l = b"2026-11-29T11:07:03.123456+00:00 node-1 rke2[1234]: time=\"x\" level=fatal msg=\"a: b\"";
        let ShortLine::Entry(e) = parse_short(l) else {
            panic!()
        };
        assert_eq!(e.host, b"node-1");
        assert_eq!(e.ident, b"rke2");
        assert_eq!(e.pid, Some(1234));
        assert_eq!(e.message, b"time=\"x\" level=fatal msg=\"a: b\"");
        assert_eq!(e.ts.clock().to_string(), "11:07:03.123");

        let ShortLine::Entry(e) = parse_short(b"2026-11-29T11:07:03+0000 n kernel: hi") else {
            panic!()
        };
        assert_eq!(
            (e.ident, e.pid, e.message),
            (&b"kernel"[..], None, &b"hi"[..])
        );

        let ShortLine::Entry(e) = parse_short(b"2026-11-29T11:07:03Z n systemd[1]:") else {
            panic!()
        };
        assert_eq!(e.message, b"");

        assert_eq!(
            parse_short(b"-- Boot 0123abcd --"),
            ShortLine::Meta(b"-- Boot 0123abcd --")
        );
        assert_eq!(
            parse_short(b"        goroutine 1 [running]:"),
            ShortLine::Other(b"        goroutine 1 [running]:")
        );
    }

    #[test]
    fn short_unix_lines() {
        let l = b"1795971835.397065 node1 rke2[659]: level=warning msg=\"x\"";
        let ShortLine::Entry(e) = parse_short(l) else {
            panic!()
        };
        assert_eq!(e.ts, Timestamp(1_795_971_835_397_065));
        assert_eq!(
            (e.host, e.ident, e.pid),
            (&b"node1"[..], &b"rke2"[..], Some(659))
        );
        assert_eq!(e.message, b"level=warning msg=\"x\"");
        // The same instant as short-iso-precise prints it.
        let ShortLine::Entry(iso) =
            parse_short(b"2026-11-29T17:03:55.397065+00:00 node1 rke2[659]: m")
        else {
            panic!()
        };
        assert_eq!(iso.ts.unix_secs(), 1_795_971_835);
        // Escape sequences stay in the message (the sanitiser's job).
        let ShortLine::Entry(e) = parse_short(b"1795971835.000001 n x: evil \x1b]52;c;aGk=\x07")
        else {
            panic!()
        };
        assert_eq!(e.message, b"evil \x1b]52;c;aGk=\x07");
        // journalctl indents a multi-line message's next lines.
        assert_eq!(
            parse_short(b"                          line two"),
            ShortLine::Other(b"                          line two")
        );
        // Not a timestamp: a fraction without digits, or too many.
        assert!(matches!(
            parse_short(b"1795971835. n x: m"),
            ShortLine::Other(_)
        ));
        assert!(matches!(
            parse_short(b"1795971835.1234567890 n x: m"),
            ShortLine::Other(_)
        ));
        assert!(matches!(
            parse_short(b"12345678901234.5 n x: m"),
            ShortLine::Other(_)
        ));
    }

    #[test]
    fn resume_by_time_drops_what_was_shown() {
        let mut r = Resume::new();
        let first = r.journalctl_args("rke2-server", 200);
        for a in ["--lines=200", "--follow", "--all", "--output=short-unix"] {
            assert!(first.contains(&a.to_owned()), "{a}");
        }

        r.observe(Timestamp(5_000_001), b"a");
        r.observe(Timestamp(5_000_002), b"b");
        r.observe(Timestamp(5_000_002), b"c");
        let args = r.journalctl_args("rke2-server", 200);
        assert!(args.contains(&"--since=@5".to_owned()));
        assert!(args.contains(&"--no-tail".to_owned()));
        assert!(!args.iter().any(|a| a.starts_with("--lines")));
        assert!(r.is_repeat(Timestamp(5_000_001), b"a"));
        assert!(r.is_repeat(Timestamp(4_999_999), b"new but older"));
        assert!(r.is_repeat(Timestamp(5_000_002), b"c"));
        assert!(!r.is_repeat(Timestamp(5_000_002), b"d"));
        assert!(!r.is_repeat(Timestamp(5_000_003), b"a"));
        // An older entry does not move the mark back.
        r.observe(Timestamp(4_000_000), b"z");
        assert_eq!(r.last_timestamp(), Some(Timestamp(5_000_002)));
    }
}
