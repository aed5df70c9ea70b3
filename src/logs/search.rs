//! `/` search and the filter toggle.
//!
//! A [`Query`] is a plain substring with smart case: all lower case matches
//! regardless of case, any upper-case letter makes it case-sensitive (as in
//! vim, less -I, k9s). Case folding is ASCII-only: log text is ASCII in
//! practice, and byte-for-byte folding keeps match ranges valid in the line.
//! Regular expressions are not offered (the `regex` crate is in Cargo.lock only
//! as a transitive dependency; plain text covers the log pane's needs).
//!
//! [`MatchIndex`] is the list of matching line sequence numbers. It is
//! brought up to date incrementally (only lines that arrived since the last
//! update are tested, evicted ones are dropped from the front), so keeping it
//! current costs O(new lines) per frame, never a rescan of the buffer. It
//! serves both the filter (the view walks it instead of the buffer) and
//! `n`/`N` (binary search from a position). Typing more characters refines the
//! existing matches instead of rescanning.

use std::collections::VecDeque;
use std::ops::Range;

use super::buffer::LogBuffer;

/// What the user typed after `/`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Query {
    pattern: Box<str>,
    /// ASCII-lowercased pattern when case-insensitive.
    folded: Box<[u8]>,
    case_sensitive: bool,
}

impl Query {
    /// Smart case. `None` for an empty pattern.
    pub fn new(pattern: &str) -> Option<Query> {
        let sensitive = pattern.chars().any(char::is_uppercase);
        Query::with_case(pattern, sensitive)
    }

    /// Explicit case sensitivity. `None` for an empty pattern.
    pub fn with_case(pattern: &str, case_sensitive: bool) -> Option<Query> {
        if pattern.is_empty() {
            return None;
        }
        Some(Query {
            pattern: pattern.into(),
            folded: pattern.as_bytes().to_ascii_lowercase().into(),
            case_sensitive,
        })
    }

    pub fn pattern(&self) -> &str {
        &self.pattern
    }

    pub fn is_case_sensitive(&self) -> bool {
        self.case_sensitive
    }

    /// First match starting at or after byte `from`.
    pub fn find_at(&self, hay: &str, from: usize) -> Option<Range<usize>> {
        let rest = hay.get(from..)?;
        let n = self.pattern.len();
        if self.case_sensitive {
            return rest.find(&*self.pattern).map(|i| from + i..from + i + n);
        }
        let h = rest.as_bytes();
        let p = &*self.folded;
        if h.len() < n {
            return None;
        }
        let first = p[0];
        let last_start = h.len() - n;
        let mut i = 0;
        // Scan for the first byte in either case, then compare the rest.
        // (`b | 0x20` maps exactly 'A'..='Z' onto 'a'..='z' among letters.)
        let letter = first.is_ascii_lowercase();
        while i <= last_start {
            let pos = if letter {
                h[i..=last_start].iter().position(|&b| b | 0x20 == first)
            } else {
                h[i..=last_start].iter().position(|&b| b == first)
            };
            let pos = pos?;
            let at = i + pos;
            if h[at + 1..at + n].eq_ignore_ascii_case(&p[1..]) {
                return Some(from + at..from + at + n);
            }
            i = at + 1;
        }
        None
    }

    pub fn is_match(&self, hay: &str) -> bool {
        if self.case_sensitive {
            hay.contains(&*self.pattern)
        } else {
            self.find_at(hay, 0).is_some()
        }
    }

    /// Appends every non-overlapping match in `hay`, left to right.
    pub fn find_all(&self, hay: &str, out: &mut Vec<Range<usize>>) {
        let mut at = 0;
        while let Some(r) = self.find_at(hay, at) {
            at = r.end;
            out.push(r);
        }
    }

    /// Whether every line matching `self` also matches `narrower`, so the
    /// matches of `narrower` can be found among those of `self`.
    fn contains_results_of(&self, narrower: &Query) -> bool {
        if self.case_sensitive {
            narrower.case_sensitive && narrower.pattern.contains(&*self.pattern)
        } else {
            let n = &narrower.folded;
            n.windows(self.folded.len()).any(|w| w == &*self.folded)
        }
    }
}

/// Direction of `n` (towards newer lines) and `N` (towards older).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    Newer,
    Older,
}

/// Where `n`/`N` landed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Jump {
    pub seq: u64,
    /// The search went past the newest (or oldest) match and started over:
    /// the pane says so.
    pub wrapped: bool,
}

/// Sequence numbers of the lines that match a query, oldest first.
#[derive(Clone, Debug)]
pub struct MatchIndex {
    query: Query,
    seqs: VecDeque<u64>,
    /// Lines before this sequence number have been tested.
    scanned_to: u64,
}

impl MatchIndex {
    /// An index for `query`, filled from `buf`.
    pub fn new(query: Query, buf: &LogBuffer) -> Self {
        let mut m = MatchIndex {
            query,
            seqs: VecDeque::new(),
            scanned_to: buf.first_seq(),
        };
        m.update(buf);
        m
    }

    pub fn query(&self) -> &Query {
        &self.query
    }

    /// Changes the query; refines the current matches when the new query is
    /// narrower (the usual case while typing), rescans otherwise.
    pub fn set_query(&mut self, query: Query, buf: &LogBuffer) {
        if query == self.query {
            return;
        }
        self.drop_evicted(buf);
        if self.query.contains_results_of(&query) {
            self.seqs
                .retain(|&s| buf.get(s).is_some_and(|l| query.is_match(l.text())));
            self.query = query;
        } else {
            self.query = query;
            self.seqs.clear();
            self.scanned_to = buf.first_seq();
        }
        self.update(buf);
    }

    fn drop_evicted(&mut self, buf: &LogBuffer) {
        let first = buf.first_seq();
        while self.seqs.front().is_some_and(|&s| s < first) {
            self.seqs.pop_front();
        }
        if self.scanned_to < first {
            self.scanned_to = first;
        }
        // The buffer was cleared or replaced: start over.
        if self.scanned_to > buf.next_seq() {
            self.seqs.clear();
            self.scanned_to = first;
        }
    }

    /// Tests the lines that arrived since the last call. O(new lines).
    pub fn update(&mut self, buf: &LogBuffer) {
        self.update_budget(buf, usize::MAX);
    }

    /// Like [`update`](Self::update) but tests at most `budget` lines, so a
    /// rescan of a very large buffer can be spread over frames. Returns true
    /// when the index is complete.
    pub fn update_budget(&mut self, buf: &LogBuffer, budget: usize) -> bool {
        self.drop_evicted(buf);
        let end = buf.next_seq();
        let stop = end.min(self.scanned_to.saturating_add(budget as u64));
        for l in buf.range(self.scanned_to..stop) {
            if self.query.is_match(l.text()) {
                self.seqs.push_back(l.seq());
            }
        }
        self.scanned_to = stop;
        stop == end
    }

    /// Matching sequence numbers, oldest first.
    pub fn seqs(&self) -> &VecDeque<u64> {
        &self.seqs
    }

    pub fn len(&self) -> usize {
        self.seqs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.seqs.is_empty()
    }

    /// Number of matches with sequence number ≥ `seq`. O(log n).
    pub fn count_from(&self, seq: u64) -> usize {
        self.seqs.len() - self.seqs.partition_point(|&s| s < seq)
    }

    /// The next match strictly after (`Newer`) or before (`Older`) `from`,
    /// wrapping around. O(log n).
    pub fn next_from(&self, from: u64, dir: Direction) -> Option<Jump> {
        if self.seqs.is_empty() {
            return None;
        }
        match dir {
            Direction::Newer => {
                let i = self.seqs.partition_point(|&s| s <= from);
                match self.seqs.get(i) {
                    Some(&seq) => Some(Jump {
                        seq,
                        wrapped: false,
                    }),
                    None => Some(Jump {
                        seq: self.seqs[0],
                        wrapped: true,
                    }),
                }
            }
            Direction::Older => {
                let i = self.seqs.partition_point(|&s| s < from);
                if i > 0 {
                    Some(Jump {
                        seq: self.seqs[i - 1],
                        wrapped: false,
                    })
                } else {
                    Some(Jump {
                        seq: *self.seqs.back().expect("not empty"),
                        wrapped: true,
                    })
                }
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::single_range_in_vec_init)] // expected match lists
mod tests {
    use super::*;
    use crate::logs::buffer::Limits;

    fn ranges(q: &str, hay: &str) -> Vec<Range<usize>> {
        let mut v = Vec::new();
        Query::new(q).unwrap().find_all(hay, &mut v);
        v
    }

    #[test]
    fn smart_case() {
        assert!(!Query::new("error").unwrap().is_case_sensitive());
        assert!(Query::new("Error").unwrap().is_case_sensitive());
        assert_eq!(ranges("error", "Error: ERROR error"), [0..5, 7..12, 13..18]);
        assert_eq!(ranges("Error", "Error: ERROR error"), [0..5]);
        assert_eq!(ranges("aa", "aaaaa"), [0..2, 2..4]);
        assert_eq!(ranges("x509", "X509 x509"), [0..4, 5..9]);
        assert_eq!(ranges("é", "É é"), [3..5]);
        assert_eq!(ranges("level=fatal", "level=fatal msg"), [0..11]);
        assert!(ranges("longer than the line", "short").is_empty());
        assert!(Query::new("").is_none());
        // Non-letters are not folded: '@' (0x40) is not '`' (0x60).
        assert!(ranges("`", "@").is_empty());
        assert!(ranges("[", "{").is_empty());
    }

    fn buf(lines: &[&str], max_lines: usize) -> LogBuffer {
        let mut b = LogBuffer::new(Limits {
            max_lines,
            ..Limits::default()
        });
        for l in lines {
            b.push_raw(0, None, l.as_bytes());
        }
        b
    }

    #[test]
    fn index_is_incremental_and_follows_eviction() {
        let mut b = buf(&["err 0", "ok 1", "ERR 2"], 4);
        let mut m = MatchIndex::new(Query::new("err").unwrap(), &b);
        assert_eq!(m.seqs(), &[0, 2]);
        b.push_raw(0, None, b"ok 3");
        b.push_raw(0, None, b"err 4"); // evicts seq 0
        m.update(&b);
        assert_eq!(m.seqs(), &[2, 4]);
        assert_eq!(m.count_from(3), 1);
        // Narrowing refines, widening rescans.
        m.set_query(Query::new("ERR").unwrap(), &b);
        assert_eq!(m.seqs(), &[2]);
        m.set_query(Query::new("1").unwrap(), &b);
        assert_eq!(m.seqs(), &[1]);
    }

    #[test]
    fn budgeted_update_completes_over_several_calls() {
        let lines: Vec<String> = (0..100).map(|i| format!("line {i}")).collect();
        let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
        let b = buf(&refs, 1000);
        let mut m = MatchIndex::new(Query::new("zzz").unwrap(), &LogBuffer::default());
        m.set_query(Query::new("7").unwrap(), &LogBuffer::default());
        let mut calls = 0;
        while !m.update_budget(&b, 30) {
            calls += 1;
        }
        assert_eq!(calls, 3);
        assert_eq!(m.len(), 19); // 7, 17, 27, …, 97 and 70–79
    }

    #[test]
    fn next_and_previous_wrap_and_say_so() {
        let b = buf(&["a x", "b", "c x", "d", "e x"], 100);
        let m = MatchIndex::new(Query::new("x").unwrap(), &b);
        let j = |from, dir| m.next_from(from, dir).unwrap();
        assert_eq!(
            j(0, Direction::Newer),
            Jump {
                seq: 2,
                wrapped: false
            }
        );
        assert_eq!(
            j(2, Direction::Newer),
            Jump {
                seq: 4,
                wrapped: false
            }
        );
        assert_eq!(
            j(4, Direction::Newer),
            Jump {
                seq: 0,
                wrapped: true
            }
        );
        assert_eq!(
            j(4, Direction::Older),
            Jump {
                seq: 2,
                wrapped: false
            }
        );
        assert_eq!(
            j(0, Direction::Older),
            Jump {
                seq: 4,
                wrapped: true
            }
        );
        assert_eq!(
            j(3, Direction::Older),
            Jump {
                seq: 2,
                wrapped: false
            }
        );
        let none = MatchIndex::new(Query::new("nope").unwrap(), &b);
        assert_eq!(none.next_from(0, Direction::Newer), None);
    }
}
