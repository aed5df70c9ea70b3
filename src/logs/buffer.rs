//! The bounded store behind one log pane.
//!
//! Log viewers that keep everything die on a busy node (k9s #1188 grew to
//! 30 GB; Rancher's dashboard tab to 2.5 GB), so a pane holds at most
//! [`Limits::max_lines`] lines **and** [`Limits::max_bytes`] bytes, and one
//! line at most [`Limits::max_line_bytes`]. What does not fit is counted, never
//! silently lost: lines pushed out of the front are counted in
//! [`LogBuffer::evicted`], lines that never arrived (a reconnect gap, a
//! backpressure drop upstream) in [`LogBuffer::dropped_upstream`] and by a
//! visible gap line at the place they went missing.
//!
//! Every line gets a sequence number, one more than the line before, so a
//! paused view can say "N new lines" by subtraction and find a line in O(1)
//! (`seq - first_seq` is its index). Appending and reading a window cost the
//! same at the first line and the millionth.

use std::collections::VecDeque;
use std::ops::Range;

use super::hints::{Hint, hint_for};
use super::journal::Timestamp;
use super::sanitize::sanitize_with_spans;

/// Index into the caller's node list (for the node's name and colour).
pub type NodeId = u16;

/// Caps of one pane (T7 in reliability-and-performance.md).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    pub max_lines: usize,
    pub max_bytes: usize,
    /// Longest line kept, in bytes of sanitised text; longer lines are cut
    /// with a visible marker (TailBlazer #14: 10 kB lines stall viewers).
    pub max_line_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_lines: 10_000,
            max_bytes: 16 << 20,
            max_line_bytes: 16 << 10,
        }
    }
}

/// What a stored line is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LineKind {
    /// A line from the node.
    Text,
    /// A marker for `n` lines that never arrived.
    Gap(u64),
}

/// Byte range in a line's text, `u32` to keep lines small.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Span {
    pub start: u32,
    pub end: u32,
}

impl Span {
    pub fn range(self) -> Range<usize> {
        self.start as usize..self.end as usize
    }
}

/// One sanitised line. Build it where the bytes arrive (the stream task), so
/// the UI thread only moves it into the buffer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogLine {
    seq: u64,
    ts: Option<Timestamp>,
    text: Box<str>,
    /// Escape tokens in `text`, for dim styling.
    escapes: Box<[Span]>,
    /// Where the truncation marker starts, if the line was cut.
    truncated_at: Option<u32>,
    /// Width in columns (chars), computed once so wrapping is O(1) per line.
    columns: u32,
    node: NodeId,
    priority: Option<u8>,
    kind: LineKind,
    hint: Option<&'static Hint>,
}

/// Back off to a UTF-8 char boundary at or before `i` (so a cut does not
/// leave half a character to be shown as `\xNN`).
fn floor_boundary(b: &[u8], mut i: usize) -> usize {
    let stop = i.saturating_sub(3);
    while i > stop && i < b.len() && (b[i] as i8) < -0x40 {
        i -= 1;
    }
    i
}

impl LogLine {
    /// Sanitises `raw` and caps it at `max_line_bytes` (plus the marker).
    pub fn new(node: NodeId, ts: Option<Timestamp>, raw: &[u8], max_line_bytes: usize) -> Self {
        let max = max_line_bytes.min(u32::MAX as usize / 2);
        let cut_raw = if raw.len() > max {
            floor_boundary(raw, max)
        } else {
            raw.len()
        };
        let mut spans = Vec::new();
        let clean = sanitize_with_spans(&raw[..cut_raw], &mut spans);
        let mut cut = None;
        if cut_raw < raw.len() || clean.len() > max {
            // Escapes can make the text longer than the input; cut again at a
            // char boundary and never through an escape token.
            let mut at = clean.len().min(max);
            while !clean.is_char_boundary(at) {
                at -= 1;
            }
            if let Some(s) = spans.iter().find(|s| s.start < at && at < s.end) {
                at = s.start;
            }
            spans.retain(|s| s.end <= at);
            cut = Some(at);
        }
        let (text, truncated_at) = match cut {
            None => (clean.into_owned().into_boxed_str(), None),
            Some(at) => {
                let mut t = String::with_capacity(at + 40);
                t.push_str(&clean[..at]);
                t.push_str(&format!(" …[cut: line was {} bytes]", raw.len()));
                (t.into_boxed_str(), Some(at as u32))
            }
        };
        let hint = hint_for(&text);
        let columns = text.chars().count() as u32;
        LogLine {
            columns,
            seq: 0,
            ts,
            escapes: spans
                .into_iter()
                .map(|r| Span {
                    start: r.start as u32,
                    end: r.end as u32,
                })
                .collect(),
            text,
            truncated_at,
            node,
            priority: None,
            kind: LineKind::Text,
            hint,
        }
    }

    /// A visible marker for `count` lines of `node` that never arrived.
    pub fn gap(node: NodeId, ts: Option<Timestamp>, count: u64) -> Self {
        let s = if count == 1 { "" } else { "s" };
        let text = format!("[… {count} line{s} not received]").into_boxed_str();
        LogLine {
            seq: 0,
            ts,
            columns: text.chars().count() as u32,
            text,
            escapes: Box::new([]),
            truncated_at: None,
            node,
            priority: None,
            kind: LineKind::Gap(count),
            hint: None,
        }
    }

    /// Sets the syslog priority (0 emerg … 7 debug) when the source has one.
    pub fn with_priority(mut self, p: Option<u8>) -> Self {
        self.priority = p;
        self
    }

    pub fn seq(&self) -> u64 {
        self.seq
    }
    pub fn ts(&self) -> Option<Timestamp> {
        self.ts
    }
    pub fn text(&self) -> &str {
        &self.text
    }
    pub fn escapes(&self) -> &[Span] {
        &self.escapes
    }
    /// Byte offset in [`text`](Self::text) where the truncation marker starts.
    pub fn truncated_at(&self) -> Option<usize> {
        self.truncated_at.map(|t| t as usize)
    }
    /// Width in columns (one per char; the sanitiser leaves no zero-width
    /// or control characters, wide CJK characters count as one).
    pub fn columns(&self) -> usize {
        self.columns as usize
    }
    /// True when every char is one byte, so columns are byte offsets.
    pub fn is_ascii(&self) -> bool {
        self.columns as usize == self.text.len()
    }
    pub fn node(&self) -> NodeId {
        self.node
    }
    pub fn priority(&self) -> Option<u8> {
        self.priority
    }
    pub fn kind(&self) -> LineKind {
        self.kind
    }
    pub fn hint(&self) -> Option<&'static Hint> {
        self.hint
    }

    /// Bytes this line is charged against [`Limits::max_bytes`]: the struct,
    /// its text and its spans (heap overhead aside).
    pub fn cost(&self) -> usize {
        std::mem::size_of::<Self>() + self.text.len() + std::mem::size_of_val(&*self.escapes)
    }
}

/// The ring buffer of one pane.
#[derive(Clone, Debug)]
pub struct LogBuffer {
    lines: VecDeque<LogLine>,
    limits: Limits,
    bytes: usize,
    /// Sequence number of `lines[0]` (or of the next line when empty).
    first_seq: u64,
    evicted: u64,
    dropped_upstream: u64,
}

impl Default for LogBuffer {
    fn default() -> Self {
        Self::new(Limits::default())
    }
}

impl LogBuffer {
    pub fn new(limits: Limits) -> Self {
        LogBuffer {
            lines: VecDeque::new(),
            limits: Limits {
                max_lines: limits.max_lines.max(1),
                ..limits
            },
            bytes: 0,
            first_seq: 0,
            evicted: 0,
            dropped_upstream: 0,
        }
    }

    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Appends a line built with [`LogLine::new`]; returns its sequence number.
    pub fn push(&mut self, mut line: LogLine) -> u64 {
        let seq = self.next_seq();
        line.seq = seq;
        self.bytes += line.cost();
        self.lines.push_back(line);
        while self.lines.len() > self.limits.max_lines
            || (self.bytes > self.limits.max_bytes && self.lines.len() > 1)
        {
            self.pop_front();
        }
        seq
    }

    /// Sanitises and appends raw bytes from `node`.
    pub fn push_raw(&mut self, node: NodeId, ts: Option<Timestamp>, raw: &[u8]) -> u64 {
        let line = LogLine::new(node, ts, raw, self.limits.max_line_bytes);
        self.push(line)
    }

    /// Records `count` lines of `node` lost before they reached the pane, with
    /// a gap line where they went missing. Returns the gap line's sequence.
    pub fn push_gap(&mut self, node: NodeId, ts: Option<Timestamp>, count: u64) -> u64 {
        self.dropped_upstream += count;
        self.push(LogLine::gap(node, ts, count))
    }

    fn pop_front(&mut self) {
        if let Some(l) = self.lines.pop_front() {
            self.bytes -= l.cost();
            self.first_seq += 1;
            self.evicted += 1;
        }
    }

    /// Removes every line; sequence numbers and counters carry on.
    pub fn clear(&mut self) {
        self.first_seq = self.next_seq();
        self.lines.clear();
        self.bytes = 0;
    }

    pub fn len(&self) -> usize {
        self.lines.len()
    }
    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }
    /// Bytes charged (see [`LogLine::cost`]).
    pub fn bytes(&self) -> usize {
        self.bytes
    }
    /// Sequence number of the oldest line held.
    pub fn first_seq(&self) -> u64 {
        self.first_seq
    }
    /// Sequence number the next line will get (one past the newest).
    pub fn next_seq(&self) -> u64 {
        self.first_seq + self.lines.len() as u64
    }
    /// Lines pushed out of the front to respect the caps.
    pub fn evicted(&self) -> u64 {
        self.evicted
    }
    /// Lines reported lost before they arrived ([`push_gap`](Self::push_gap)).
    pub fn dropped_upstream(&self) -> u64 {
        self.dropped_upstream
    }

    /// The line with sequence number `seq`, if still held. O(1).
    pub fn get(&self, seq: u64) -> Option<&LogLine> {
        let i = seq.checked_sub(self.first_seq)?;
        self.lines.get(usize::try_from(i).ok()?)
    }

    /// The lines with sequence numbers in `seqs` that are still held.
    pub fn range(&self, seqs: Range<u64>) -> impl DoubleEndedIterator<Item = &LogLine> + '_ {
        let lo = seqs.start.clamp(self.first_seq, self.next_seq()) - self.first_seq;
        let hi = seqs.end.clamp(self.first_seq, self.next_seq()) - self.first_seq;
        let hi = hi.max(lo);
        self.lines.range(lo as usize..hi as usize)
    }

    /// All lines, oldest first.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &LogLine> + '_ {
        self.lines.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(b: &LogBuffer) -> Vec<&str> {
        b.iter().map(|l| l.text()).collect()
    }

    #[test]
    fn line_cap_evicts_oldest_and_counts() {
        let mut b = LogBuffer::new(Limits {
            max_lines: 3,
            ..Limits::default()
        });
        for i in 0..5 {
            assert_eq!(b.push_raw(0, None, format!("l{i}").as_bytes()), i);
        }
        assert_eq!(texts(&b), ["l2", "l3", "l4"]);
        assert_eq!((b.first_seq(), b.next_seq(), b.evicted()), (2, 5, 2));
        assert_eq!(b.get(1), None);
        assert_eq!(b.get(3).unwrap().text(), "l3");
        assert_eq!(b.get(5), None);
        let r: Vec<u64> = b.range(0..4).map(|l| l.seq()).collect();
        assert_eq!(r, [2, 3]);
    }

    #[test]
    fn byte_cap_evicts_and_keeps_accounting_exact() {
        let one = LogLine::new(0, None, &[b'x'; 100], 1000).cost();
        let mut b = LogBuffer::new(Limits {
            max_lines: 1000,
            max_bytes: one * 4,
            max_line_bytes: 1000,
        });
        for _ in 0..10 {
            b.push_raw(0, None, &[b'x'; 100]);
        }
        assert_eq!(b.len(), 4);
        assert_eq!(b.bytes(), one * 4);
        assert_eq!(b.evicted(), 6);
        // A single line over the byte cap is still kept (the newest line is
        // always visible).
        let mut b = LogBuffer::new(Limits {
            max_lines: 10,
            max_bytes: 10,
            max_line_bytes: 1000,
        });
        b.push_raw(0, None, b"first");
        b.push_raw(0, None, b"second");
        assert_eq!(texts(&b), ["second"]);
    }

    #[test]
    fn long_lines_are_cut_with_a_marker() {
        let raw = vec![b'a'; 100_000];
        let l = LogLine::new(1, None, &raw, 16 << 10);
        let at = l.truncated_at().unwrap();
        assert_eq!(at, 16 << 10);
        assert_eq!(&l.text()[at..], " …[cut: line was 100000 bytes]");
        assert_eq!(l.node(), 1);

        // Never through a multi-byte char or an escape token.
        let mut raw = "é".repeat(10).into_bytes();
        raw.extend_from_slice(b"\x1b[2J tail");
        let l = LogLine::new(0, None, &raw, 19);
        assert_eq!(l.text(), "ééééééééé …[cut: line was 29 bytes]");
        let l = LogLine::new(0, None, &raw, 21);
        assert_eq!(l.text(), "éééééééééé …[cut: line was 29 bytes]");
        assert!(l.escapes().is_empty());
        let l = LogLine::new(0, None, &raw, 25);
        assert_eq!(l.text(), "éééééééééé\\e[2J …[cut: line was 29 bytes]");
        assert_eq!(l.escapes(), [Span { start: 20, end: 25 }]);

        // Escape expansion alone can trigger the cut.
        let l = LogLine::new(0, None, &[0x07; 10], 10);
        assert_eq!(l.text(), "\\a\\a\\a\\a\\a …[cut: line was 10 bytes]");
        assert_eq!(l.escapes().len(), 5);

        let short = LogLine::new(0, None, b"fine", 10);
        assert_eq!((short.text(), short.truncated_at()), ("fine", None));
    }

    #[test]
    fn upstream_drops_are_counted_and_marked() {
        let mut b = LogBuffer::default();
        b.push_raw(0, None, b"before");
        let g = b.push_gap(2, None, 120);
        b.push_raw(0, None, b"after");
        assert_eq!(b.dropped_upstream(), 120);
        assert_eq!(b.get(g).unwrap().kind(), LineKind::Gap(120));
        assert_eq!(b.get(g).unwrap().text(), "[… 120 lines not received]");
        assert_eq!(b.get(g).unwrap().node(), 2);
        assert_eq!(b.evicted(), 0);
    }

    #[test]
    fn lines_are_sanitised_and_hinted_on_the_way_in() {
        let mut b = LogBuffer::default();
        let s = b.push_raw(
            0,
            Some(Timestamp(7)),
            b"\x1b[2Jmsg=\"x509: certificate has expired or is not yet valid\"",
        );
        let l = b.get(s).unwrap();
        assert!(l.text().starts_with("\\e[2J"));
        assert_eq!(l.escapes(), [Span { start: 0, end: 5 }]);
        assert_eq!(l.hint().unwrap().id, "cert-expired");
        assert_eq!(l.ts(), Some(Timestamp(7)));
    }

    #[test]
    fn clear_keeps_sequence_numbers_monotonic() {
        let mut b = LogBuffer::default();
        b.push_raw(0, None, b"a");
        b.push_raw(0, None, b"b");
        b.clear();
        assert!(b.is_empty());
        assert_eq!(b.bytes(), 0);
        assert_eq!(b.push_raw(0, None, b"c"), 2);
        assert_eq!(b.first_seq(), 2);
    }
}
