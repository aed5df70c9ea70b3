//! Parsing `journalctl` output, and resuming a stream without repeats.
//!
//! Two output formats are understood:
//!
//! * `-o short-iso-precise`: `2026-11-29T11:07:03.123456+00:00 node1 rke2[1234]: msg`
//!   ([`parse_short`]). Cheap and readable, but it carries no cursor.
//! * `-o json` ([`parse_json`]): one object per line with `__CURSOR`,
//!   `__REALTIME_TIMESTAMP`, `PRIORITY`, `MESSAGE`, …  journald writes a field
//!   that is not printable UTF-8 as an **array of byte values**
//!   (`"MESSAGE":[27,91,50,74]`), which is exactly the case a hostile line
//!   produces, so [`Field`] keeps both shapes and hands out bytes for the
//!   sanitiser. Strings without JSON escapes are borrowed from the input.
//!
//! Both parsers return borrowed views; nothing here is sanitised yet (that
//! happens when a [`LogLine`](super::buffer::LogLine) is built).
//!
//! Reconnecting: [`Resume`] remembers the last cursor (JSON) or the last
//! timestamp (short format) and builds the `journalctl` arguments for the next
//! connection, `--after-cursor=…` so nothing is repeated, or `--since=@…` plus
//! [`Resume::is_repeat`] to drop the lines already seen in that second.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserializer, SeqAccess, Visitor};

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

/// Splits a short-iso(-precise) line. No allocation; a trailing `\r` or `\n`
/// is not removed (the caller splits lines).
pub fn parse_short(line: &[u8]) -> ShortLine<'_> {
    if line.starts_with(b"-- ") {
        return ShortLine::Meta(line);
    }
    let Some((ts, n)) = parse_iso(line) else {
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

/// A journal field value: text, or the byte array journald uses for values
/// that are not printable UTF-8.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Field<'a> {
    Text(Cow<'a, str>),
    Bytes(Vec<u8>),
}

impl Field<'_> {
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Field::Text(t) => t.as_bytes(),
            Field::Bytes(b) => b,
        }
    }
}

impl<'de: 'a, 'a> de::Deserialize<'de> for Field<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(FieldVisitor)
    }
}

struct FieldVisitor;

impl<'de> Visitor<'de> for FieldVisitor {
    type Value = Field<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string or an array of bytes")
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Field::Text(Cow::Borrowed(v)))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Field::Text(Cow::Owned(v.to_owned())))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Field::Text(Cow::Owned(v)))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Field::Text(Cow::Owned(v.to_string())))
    }

    /// Either a byte array, or (a field with several values) an array of
    /// values, of which the first is kept.
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let first: Option<Elem<'de>> = seq.next_element()?;
        match first {
            None => Ok(Field::Bytes(Vec::new())),
            Some(Elem::Byte(b)) => {
                let mut v = Vec::with_capacity(seq.size_hint().unwrap_or(64) + 1);
                v.push(b);
                while let Some(b) = seq.next_element::<u8>()? {
                    v.push(b);
                }
                Ok(Field::Bytes(v))
            }
            Some(Elem::Value(f)) => {
                while seq.next_element::<de::IgnoredAny>()?.is_some() {}
                Ok(f)
            }
        }
    }
}

enum Elem<'a> {
    Byte(u8),
    Value(Field<'a>),
}

impl<'de: 'a, 'a> de::Deserialize<'de> for Elem<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Elem<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a byte or a field value")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                u8::try_from(v)
                    .map(Elem::Byte)
                    .map_err(|_| E::custom("byte out of range"))
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                FieldVisitor.visit_borrowed_str(v).map(Elem::Value)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                FieldVisitor.visit_str(v).map(Elem::Value)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
                FieldVisitor.visit_seq(seq).map(Elem::Value)
            }
        }
        d.deserialize_any(V)
    }
}

/// The fields the stream asks journalctl for besides the cursor and timestamp
/// it always prints. [`RawEntry`] reads more (host, identifier, pid) when a
/// caller asks journalctl for them; the pane and `harvcred logs` do not.
pub const JSON_FIELDS: &[&str] = &["MESSAGE", "PRIORITY"];

#[derive(serde::Deserialize)]
struct RawEntry<'a> {
    #[serde(rename = "__CURSOR", borrow, default)]
    cursor: Option<Field<'a>>,
    #[serde(rename = "__REALTIME_TIMESTAMP", borrow, default)]
    realtime: Option<Field<'a>>,
    #[serde(rename = "_HOSTNAME", borrow, default)]
    host: Option<Field<'a>>,
    #[serde(rename = "SYSLOG_IDENTIFIER", borrow, default)]
    ident: Option<Field<'a>>,
    #[serde(rename = "_PID", borrow, default)]
    pid: Option<Field<'a>>,
    #[serde(rename = "PRIORITY", borrow, default)]
    priority: Option<Field<'a>>,
    #[serde(rename = "MESSAGE", borrow, default)]
    message: Option<Field<'a>>,
}

/// One entry of `journalctl -o json`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JsonEntry<'a> {
    pub cursor: Option<Cow<'a, str>>,
    pub ts: Option<Timestamp>,
    pub host: Option<Field<'a>>,
    pub ident: Option<Field<'a>>,
    pub pid: Option<u32>,
    /// syslog priority, 0 (emerg) … 7 (debug): lets the pane colour errors.
    pub priority: Option<u8>,
    /// `None` when journald left it out (e.g. over 4096 bytes without `--all`).
    pub message: Option<Field<'a>>,
}

fn field_num(f: &Option<Field<'_>>) -> Option<u64> {
    std::str::from_utf8(f.as_ref()?.as_bytes())
        .ok()?
        .parse()
        .ok()
}

/// Parses one line of `journalctl -o json`.
pub fn parse_json(line: &[u8]) -> Result<JsonEntry<'_>, serde_json::Error> {
    let raw: RawEntry<'_> = serde_json::from_slice(line)?;
    Ok(JsonEntry {
        ts: field_num(&raw.realtime)
            .and_then(|v| i64::try_from(v).ok())
            .map(Timestamp),
        pid: field_num(&raw.pid).and_then(|v| u32::try_from(v).ok()),
        priority: field_num(&raw.priority).and_then(|v| u8::try_from(v).ok()),
        cursor: match raw.cursor {
            Some(Field::Text(c)) => Some(c),
            _ => None,
        },
        host: raw.host,
        ident: raw.ident,
        message: raw.message,
    })
}

/// Output format asked of journalctl.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Json,
    ShortIsoPrecise,
}

/// How many same-timestamp messages [`Resume`] remembers for de-duplication.
const SAME_TS_MEMORY: usize = 256;

/// Where a stream got to, so a reconnect continues without repeats.
///
/// Feed every received entry to [`observe`](Resume::observe); on reconnect,
/// run journalctl with [`journalctl_args`](Resume::journalctl_args) and drop
/// the entries for which [`is_repeat`](Resume::is_repeat) is true.
#[derive(Clone, Debug, Default)]
pub struct Resume {
    cursor: Option<String>,
    last_ts: Option<Timestamp>,
    /// Hashes of the messages seen at `last_ts` (`--since` is inclusive and
    /// only has second resolution here).
    at_last_ts: Vec<u64>,
}

/// A cursor is `s=…;i=…;b=…;m=…;t=…;x=…`; anything else is not passed back
/// to the node's command line.
fn plausible_cursor(c: &str) -> bool {
    !c.is_empty()
        && c.len() <= 512
        && c.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'=' || b == b';')
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
    pub fn observe(&mut self, cursor: Option<&str>, ts: Option<Timestamp>, message: &[u8]) {
        if let Some(c) = cursor
            && plausible_cursor(c)
        {
            // Reuse the allocation: cursors have a fixed shape.
            let s = self.cursor.get_or_insert_with(String::new);
            s.clear();
            s.push_str(c);
        }
        let Some(ts) = ts else { return };
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

    pub fn cursor(&self) -> Option<&str> {
        self.cursor.as_deref()
    }

    pub fn last_timestamp(&self) -> Option<Timestamp> {
        self.last_ts
    }

    /// True for an entry a timestamp-based resume delivers again: older than
    /// the last one seen, or at the same instant with a message already seen.
    /// (Not needed after `--after-cursor`, and harmless there.)
    pub fn is_repeat(&self, ts: Option<Timestamp>, message: &[u8]) -> bool {
        match (self.last_ts, ts) {
            (Some(last), Some(ts)) if ts < last => true,
            (Some(last), Some(ts)) if ts == last => self.at_last_ts.contains(&hash(message)),
            _ => false,
        }
    }

    /// Arguments for `journalctl` (program name excluded).
    ///
    /// First connection: the last `backlog` entries, then follow. Later
    /// connections: everything after the cursor (or since the last second
    /// seen), `--no-tail` so `-f`'s implied `-n 10` does not cut the gap.
    /// `--all` so journalctl neither abbreviates unprintable fields as
    /// "blob data" nor nulls long JSON fields; the sanitiser and the line cap
    /// deal with both. Pass each element as one argument (openssh's
    /// `Command::arg` quotes it).
    pub fn journalctl_args(&self, unit: &str, format: Format, backlog: u32) -> Vec<String> {
        let mut a = vec![
            format!("--unit={unit}"),
            "--follow".to_owned(),
            "--all".to_owned(),
            "--no-pager".to_owned(),
            match format {
                Format::Json => "--output=json",
                Format::ShortIsoPrecise => "--output=short-iso-precise",
            }
            .to_owned(),
        ];
        if format == Format::Json {
            // JSON always carries __CURSOR and __REALTIME_TIMESTAMP (all
            // Resume and the pane need, with these two); the other ~40
            // fields are 57% of the bytes: 134,894 -> 57,602 bytes per 1,000
            // rke2-server lines on the lab (-o cat: 18,433). systemd >= 236.
            a.push(format!("--output-fields={}", JSON_FIELDS.join(",")));
        }
        match (&self.cursor, self.last_ts) {
            (Some(c), _) if format == Format::Json => {
                a.push(format!("--after-cursor={c}"));
                a.push("--no-tail".to_owned());
            }
            (_, Some(ts)) => {
                a.push(format!("--since=@{}", ts.unix_secs()));
                a.push("--no-tail".to_owned());
            }
            _ => a.push(format!("--lines={backlog}")),
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
    fn json_entries_borrow_text_and_decode_byte_arrays() {
        let l = br#"{"__CURSOR":"s=ab;i=1f;b=cd;m=2;t=5;x=9","__REALTIME_TIMESTAMP":"1795000000123456","_HOSTNAME":"node-1","SYSLOG_IDENTIFIER":"rke2","_PID":"77","PRIORITY":"3","MESSAGE":"level=fatal msg=boom","_BOOT_ID":"x"}"#;
        let e = parse_json(l).unwrap();
        assert_eq!(e.cursor.as_deref(), Some("s=ab;i=1f;b=cd;m=2;t=5;x=9"));
        assert!(matches!(e.cursor, Some(Cow::Borrowed(_))));
        assert_eq!(e.ts, Some(Timestamp(1_795_000_000_123_456)));
        assert_eq!((e.pid, e.priority), (Some(77), Some(3)));
        assert!(matches!(
            e.message,
            Some(Field::Text(Cow::Borrowed("level=fatal msg=boom")))
        ));

        // journald writes a message with control characters as bytes.
        let l = br#"{"__REALTIME_TIMESTAMP":"1","MESSAGE":[27,93,53,50,59,99,59,97,71,107,61,7]}"#;
        let e = parse_json(l).unwrap();
        assert_eq!(e.message.unwrap().as_bytes(), b"\x1b]52;c;aGk=\x07");

        // Several values for one field: the first is kept.
        let e = parse_json(br#"{"MESSAGE":["one",[116,119,111]]}"#).unwrap();
        assert_eq!(e.message.unwrap().as_bytes(), b"one");
        // Left out (too long without --all).
        assert_eq!(parse_json(br#"{"MESSAGE":null}"#).unwrap().message, None);
        // Escaped strings are owned, and decoded.
        let e = parse_json(br#"{"MESSAGE":"a\u001b[2Jb"}"#).unwrap();
        assert_eq!(e.message.unwrap().as_bytes(), b"a\x1b[2Jb");
        assert!(parse_json(b"garbage").is_err());
    }

    #[test]
    fn resume_by_cursor_and_by_time() {
        let mut r = Resume::new();
        let first = r.journalctl_args("rke2-server", Format::Json, 200);
        assert!(first.contains(&"--lines=200".to_owned()));
        assert!(first.contains(&"--follow".to_owned()));
        assert!(first.contains(&"--output-fields=MESSAGE,PRIORITY".to_owned()));

        r.observe(Some("s=1;i=2"), Some(Timestamp(5_000_001)), b"a");
        let again = r.journalctl_args("rke2-server", Format::Json, 200);
        assert!(again.contains(&"--after-cursor=s=1;i=2".to_owned()));
        assert!(again.contains(&"--no-tail".to_owned()));
        assert!(!again.iter().any(|a| a.starts_with("--lines")));

        // A cursor that is not a cursor is never passed on.
        r.observe(Some("s=1; rm -rf /"), None, b"");
        assert_eq!(r.cursor(), Some("s=1;i=2"));

        // Short format: since the last second, minus what was seen.
        let mut r = Resume::new();
        r.observe(None, Some(Timestamp(5_000_001)), b"a");
        r.observe(None, Some(Timestamp(5_000_002)), b"b");
        r.observe(None, Some(Timestamp(5_000_002)), b"c");
        let args = r.journalctl_args("rke2-server", Format::ShortIsoPrecise, 200);
        assert!(args.contains(&"--since=@5".to_owned()));
        assert!(r.is_repeat(Some(Timestamp(5_000_001)), b"a"));
        assert!(r.is_repeat(Some(Timestamp(5_000_002)), b"c"));
        assert!(!r.is_repeat(Some(Timestamp(5_000_002)), b"d"));
        assert!(!r.is_repeat(Some(Timestamp(5_000_003)), b"a"));
        assert!(!r.is_repeat(None, b"a"));
    }
}
