//! What a log pane shows: follow/pause, scrolling, wrap, search and filter.
//!
//! [`LogView`] is the pane's state; [`LogView::window`] turns it plus a
//! [`LogBuffer`] into the rows to draw for a given height and width, walking
//! only the lines that end up on screen (O(height), whatever the buffer
//! holds; livekit-cli #932 re-wrapped the whole history per frame and spent
//! 900 ms on it).
//!
//! Behaviour, k9s-like:
//! * Follow is on at first: the window ends at the newest line.
//! * Scrolling up pauses it; the window then stays on the same lines while
//!   new ones arrive, and [`Status::new_lines`] counts them. Scrolling back
//!   down to the newest line, or [`LogView::to_tail`], resumes following.
//! * `/` search highlights matches and keeps every line (context); the filter
//!   toggle shows matching lines only. `n`/`N` move between matches, wrap,
//!   and report it ([`Jump::wrapped`]).
//! * Wrap splits a line into rows of `width` columns; without wrap, a
//!   horizontal offset picks the columns shown.
//!
//! A column is a `char` (the sanitiser has removed everything zero-width);
//! wide CJK characters are counted as one, so a renderer may clip them.

use std::collections::VecDeque;
use std::ops::Range;

use super::buffer::{LogBuffer, LogLine};
use super::search::{Direction, Jump, MatchIndex, Query};

/// Columns of the `HH:MM:SS.mmm ` prefix when timestamps are shown.
pub const TIMESTAMP_COLUMNS: usize = 13;

/// One screen row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Row<'a> {
    pub line: &'a LogLine,
    /// Byte range of [`LogLine::text`] shown on this row.
    pub text: Range<usize>,
    /// First row of its line (draw the timestamp/node prefix here; wrapped
    /// continuation rows get blank space instead).
    pub first: bool,
    /// Indices into [`Window::highlights`] of this row's search matches.
    pub highlights: Range<usize>,
    /// This line is the current `n`/`N` match.
    pub current: bool,
}

impl<'a> Row<'a> {
    /// The text shown on this row.
    pub fn text(&self) -> &'a str {
        &self.line.text()[self.text.clone()]
    }
}

/// The rows to draw, top to bottom, and their search highlights.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Window<'a> {
    pub rows: Vec<Row<'a>>,
    /// Byte ranges in the row's `line.text()`, each inside that row's `text`.
    pub highlights: Vec<Range<usize>>,
}

/// What the pane's title/status line says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Status {
    pub following: bool,
    /// Lines that arrived since following was paused.
    pub new_lines: u64,
    /// Of those, lines that match the search (when a search is active).
    pub new_matches: Option<usize>,
    /// Matching lines held (when a search is active).
    pub matches: Option<usize>,
    pub filtering: bool,
    pub lines: usize,
    /// Lines pushed out of the buffer by its caps.
    pub evicted: u64,
    /// Lines that never arrived (reconnect gaps, upstream drops).
    pub dropped_upstream: u64,
    pub wrap: bool,
    pub timestamps: bool,
    pub hscroll: usize,
}

/// The lines the view walks: the whole buffer, or the filter's matches.
#[derive(Clone, Copy)]
struct Src<'a, 's> {
    buf: &'a LogBuffer,
    /// Matching sequence numbers, and how many of them at the front were
    /// evicted since the index was last updated (skipped, never shown).
    only: Option<(&'s VecDeque<u64>, usize)>,
}

/// Borrows only the search field, so the view's other fields stay writable.
fn src<'a, 's>(search: &'s Option<MatchIndex>, filter: bool, buf: &'a LogBuffer) -> Src<'a, 's> {
    Src {
        buf,
        only: match (search, filter) {
            (Some(m), true) => {
                let s = m.seqs();
                Some((s, s.partition_point(|&x| x < buf.first_seq())))
            }
            _ => None,
        },
    }
}

impl<'a> Src<'a, '_> {
    fn len(&self) -> usize {
        match self.only {
            None => self.buf.len(),
            Some((s, skip)) => s.len() - skip,
        }
    }
    fn seq_at(&self, i: usize) -> u64 {
        match self.only {
            None => self.buf.first_seq() + i as u64,
            Some((s, skip)) => s[skip + i],
        }
    }
    fn line(&self, i: usize) -> &'a LogLine {
        self.buf.get(self.seq_at(i)).expect("index in range")
    }
    /// Index of the first line with sequence ≥ `seq` (may be `len()`).
    fn index_of(&self, seq: u64) -> usize {
        match self.only {
            None => (seq.saturating_sub(self.buf.first_seq()) as usize).min(self.buf.len()),
            Some((s, skip)) => s.partition_point(|&x| x < seq).max(skip) - skip,
        }
    }
}

/// The state of one log pane.
#[derive(Clone, Debug)]
pub struct LogView {
    follow: bool,
    /// Top line while paused.
    top: u64,
    /// `next_seq` of the buffer when following was paused.
    paused_at: u64,
    wrap: bool,
    timestamps: bool,
    hscroll: usize,
    filter: bool,
    search: Option<MatchIndex>,
    /// Kept after the search is cleared, for recall on the next `/`.
    last_pattern: String,
    current: Option<u64>,
    // What the last window showed.
    last_top: u64,
    last_bottom: u64,
    last_height: usize,
    last_width: usize,
}

impl Default for LogView {
    fn default() -> Self {
        LogView {
            follow: true,
            top: 0,
            paused_at: 0,
            wrap: false,
            timestamps: true,
            hscroll: 0,
            filter: false,
            search: None,
            last_pattern: String::new(),
            current: None,
            last_top: 0,
            last_bottom: 0,
            last_height: 0,
            last_width: 0,
        }
    }
}

impl LogView {
    pub fn new() -> Self {
        Self::default()
    }

    /// Rows a line takes.
    fn rows_of(&self, line: &LogLine, width: usize) -> usize {
        if self.wrap {
            line.columns().div_ceil(width).max(1)
        } else {
            1
        }
    }

    /// Brings the search index up to date with lines that arrived
    /// (O(new lines)). [`window`](Self::window) and `n`/`N` do it themselves;
    /// call it before [`status`](Self::status) for exact match counts.
    pub fn update(&mut self, buf: &LogBuffer) {
        if let Some(m) = &mut self.search {
            m.update(buf);
        }
        if self.current.is_some_and(|c| c < buf.first_seq()) {
            self.current = None;
        }
    }

    /// The rows to draw in `height` rows of `width` columns (the columns for
    /// the message, after any timestamp/node prefix). Remembers what it
    /// showed, for scrolling. O(height) plus O(log n) with the filter on.
    pub fn window<'a>(&mut self, buf: &'a LogBuffer, height: usize, width: usize) -> Window<'a> {
        self.update(buf);
        let width = width.max(1);
        self.last_height = height;
        self.last_width = width;
        let mut win = Window {
            rows: Vec::with_capacity(height),
            highlights: Vec::new(),
        };
        let src = src(&self.search, self.filter, buf);
        let query = self.search.as_ref().map(MatchIndex::query);
        let n = src.len();
        if n == 0 || height == 0 {
            self.last_top = buf.next_seq();
            self.last_bottom = buf.next_seq();
            return win;
        }
        let (start, mut skip) = if self.follow {
            self.bottom_start(src, height, width)
        } else {
            let i = src.index_of(self.top).min(n - 1);
            let mut rows = 0;
            let mut j = i;
            while j < n && rows < height {
                rows += self.rows_of(src.line(j), width);
                j += 1;
            }
            if rows >= height {
                (i, 0)
            } else {
                self.bottom_start(src, height, width)
            }
        };
        let mut matches = Vec::new();
        let mut starts = Vec::new();
        let mut i = start;
        while i < n && win.rows.len() < height {
            let line = src.line(i);
            matches.clear();
            if let Some(q) = query {
                q.find_all(line.text(), &mut matches);
            }
            let current = self.current == Some(line.seq());
            let emit = |text: Range<usize>, first: bool, win: &mut Window<'a>| {
                let h0 = win.highlights.len();
                for m in &matches {
                    if m.start < text.end && text.start < m.end {
                        win.highlights
                            .push(m.start.max(text.start)..m.end.min(text.end));
                    }
                }
                let h1 = win.highlights.len();
                win.rows.push(Row {
                    line,
                    text,
                    first,
                    highlights: h0..h1,
                    current,
                });
            };
            if self.wrap {
                let total = self.rows_of(line, width);
                let take = (total - skip).min(height - win.rows.len());
                if line.is_ascii() {
                    let len = line.text().len();
                    for k in skip..skip + take {
                        emit(k * width..((k + 1) * width).min(len), k == 0, &mut win);
                    }
                } else {
                    starts.clear();
                    for (ci, (bi, _)) in line.text().char_indices().enumerate() {
                        if ci % width == 0 {
                            if starts.len() > skip + take {
                                break;
                            }
                            starts.push(bi);
                        }
                    }
                    let len = line.text().len();
                    for k in skip..skip + take {
                        let a = starts.get(k).copied().unwrap_or(len);
                        let b = starts.get(k + 1).copied().unwrap_or(len);
                        emit(a..b, k == 0, &mut win);
                    }
                }
            } else {
                let r = col_range(line, self.hscroll, width);
                emit(r, true, &mut win);
            }
            skip = 0;
            i += 1;
        }
        let (top, bottom) = (src.seq_at(start), src.seq_at(i - 1));
        self.last_top = top;
        self.last_bottom = bottom;
        win
    }

    /// Start (line index, rows of it to skip) of a window ending at the
    /// newest line.
    fn bottom_start(&self, src: Src<'_, '_>, height: usize, width: usize) -> (usize, usize) {
        let mut rows = 0;
        let mut j = src.len();
        while j > 0 {
            j -= 1;
            rows += self.rows_of(src.line(j), width);
            if rows >= height {
                return (j, rows - height);
            }
        }
        (0, 0)
    }

    /// Whether the lines from index `i` to the end fit in the last height.
    fn fits_from(&self, src: Src<'_, '_>, i: usize) -> bool {
        let h = self.last_height.max(1);
        let w = self.last_width.max(1);
        let mut rows = 0;
        for j in i..src.len() {
            rows += self.rows_of(src.line(j), w);
            if rows > h {
                return false;
            }
        }
        true
    }

    fn pause(&mut self, buf: &LogBuffer) {
        if self.follow {
            self.follow = false;
            self.paused_at = buf.next_seq();
            self.top = self.last_top;
        }
    }

    pub fn is_following(&self) -> bool {
        self.follow
    }

    /// Resumes following the newest line.
    pub fn to_tail(&mut self) {
        self.follow = true;
    }

    /// Pauses and shows the oldest line held.
    pub fn to_top(&mut self, buf: &LogBuffer) {
        self.pause(buf);
        let src = src(&self.search, self.filter, buf);
        if src.len() > 0 {
            self.top = src.seq_at(0);
        }
    }

    /// Scrolls `n` lines towards older lines; pauses following.
    pub fn scroll_up(&mut self, buf: &LogBuffer, n: usize) {
        self.pause(buf);
        let src = src(&self.search, self.filter, buf);
        if src.len() == 0 {
            return;
        }
        let i = src.index_of(self.top).min(src.len() - 1);
        self.top = src.seq_at(i.saturating_sub(n));
    }

    /// Scrolls `n` lines towards newer lines; resumes following once the
    /// newest line is on screen.
    pub fn scroll_down(&mut self, buf: &LogBuffer, n: usize) {
        if self.follow {
            return;
        }
        let src = src(&self.search, self.filter, buf);
        if src.len() == 0 {
            self.follow = true;
            return;
        }
        let i = (src.index_of(self.top) + n).min(src.len() - 1);
        self.top = src.seq_at(i);
        if self.fits_from(src, i) {
            self.follow = true;
        }
    }

    fn page(&self) -> usize {
        self.last_height.saturating_sub(1).max(1)
    }

    pub fn page_up(&mut self, buf: &LogBuffer) {
        self.scroll_up(buf, self.page());
    }

    pub fn page_down(&mut self, buf: &LogBuffer) {
        self.scroll_down(buf, self.page());
    }

    pub fn wrap(&self) -> bool {
        self.wrap
    }

    pub fn set_wrap(&mut self, on: bool) {
        self.wrap = on;
    }

    pub fn timestamps(&self) -> bool {
        self.timestamps
    }

    pub fn set_timestamps(&mut self, on: bool) {
        self.timestamps = on;
    }

    pub fn hscroll(&self) -> usize {
        self.hscroll
    }

    /// Moves the horizontal offset (ignored while wrapping).
    pub fn scroll_right(&mut self, cols: usize) {
        self.hscroll = self.hscroll.saturating_add(cols);
    }

    pub fn scroll_left(&mut self, cols: usize) {
        self.hscroll = self.hscroll.saturating_sub(cols);
    }

    /// Sets the `/` search; an empty pattern clears it.
    pub fn set_search(&mut self, buf: &LogBuffer, pattern: &str) {
        self.current = None;
        let Some(q) = Query::new(pattern) else {
            self.search = None;
            return;
        };
        self.last_pattern.clear();
        self.last_pattern.push_str(pattern);
        match &mut self.search {
            Some(m) => m.set_query(q, buf),
            None => self.search = Some(MatchIndex::new(q, buf)),
        }
    }

    pub fn clear_search(&mut self) {
        self.search = None;
        self.current = None;
    }

    pub fn search(&self) -> Option<&MatchIndex> {
        self.search.as_ref()
    }

    /// The last pattern searched for, to prefill the `/` prompt.
    pub fn last_pattern(&self) -> &str {
        &self.last_pattern
    }

    /// Shows only matching lines (while a search is set), or all lines.
    pub fn set_filter(&mut self, on: bool) {
        self.filter = on;
    }

    pub fn filter(&self) -> bool {
        self.filter
    }

    /// `n`: the next match towards newer lines.
    pub fn search_next(&mut self, buf: &LogBuffer) -> Option<Jump> {
        self.jump(buf, Direction::Newer)
    }

    /// `N`: the next match towards older lines.
    pub fn search_prev(&mut self, buf: &LogBuffer) -> Option<Jump> {
        self.jump(buf, Direction::Older)
    }

    fn jump(&mut self, buf: &LogBuffer, dir: Direction) -> Option<Jump> {
        self.update(buf);
        let m = self.search.as_ref()?;
        let current = self.current.filter(|&c| c >= buf.first_seq());
        // Without a current match, start from the screen: `n` finds the
        // first match on or below its top line, `N` the last on or above its
        // bottom line.
        let j = match (current, dir) {
            (Some(c), d) => m.next_from(c, d)?,
            (None, Direction::Newer) if self.shown_top() == 0 => Jump {
                seq: *m.seqs().front()?,
                wrapped: false,
            },
            (None, Direction::Newer) => m.next_from(self.shown_top() - 1, dir)?,
            (None, Direction::Older) => m.next_from(self.last_bottom.saturating_add(1), dir)?,
        };
        let visible = !self.follow && self.last_top <= j.seq && j.seq <= self.last_bottom;
        self.pause(buf);
        self.current = Some(j.seq);
        if !visible {
            // Put the match a third of the way down, with context above it.
            let src = src(&self.search, self.filter, buf);
            let i = src.index_of(j.seq);
            self.top = src.seq_at(i.saturating_sub(self.last_height / 3));
        }
        Some(j)
    }

    /// Top line of the screen (as last drawn, or the anchor when paused).
    fn shown_top(&self) -> u64 {
        if self.follow { self.last_top } else { self.top }
    }

    /// The current `n`/`N` match.
    pub fn current_match(&self) -> Option<u64> {
        self.current
    }

    /// The pane's status as of the last [`LogView::window`]: draw the window
    /// first, so "new" counts only lines below what is on screen.
    pub fn status(&self, buf: &LogBuffer) -> Status {
        // New since the pause and not on screen: a line drawn is not news.
        let unseen_from = self.paused_at.max(self.last_bottom.saturating_add(1));
        let new_lines = if self.follow {
            0
        } else {
            buf.next_seq().saturating_sub(unseen_from)
        };
        Status {
            following: self.follow,
            new_lines,
            new_matches: self.search.as_ref().map(|m| {
                if self.follow {
                    0
                } else {
                    m.count_from(unseen_from)
                }
            }),
            matches: self.search.as_ref().map(MatchIndex::len),
            filtering: self.filter && self.search.is_some(),
            lines: buf.len(),
            evicted: buf.evicted(),
            dropped_upstream: buf.dropped_upstream(),
            wrap: self.wrap,
            timestamps: self.timestamps,
            hscroll: self.hscroll,
        }
    }
}

/// Byte range of columns `from .. from + width` of a line.
fn col_range(line: &LogLine, from: usize, width: usize) -> Range<usize> {
    let t = line.text();
    if line.is_ascii() {
        let a = from.min(t.len());
        return a..(a + width).min(t.len());
    }
    let mut it = t
        .char_indices()
        .map(|(i, _)| i)
        .chain(std::iter::once(t.len()));
    let a = it.nth(from).unwrap_or(t.len());
    let b = if a == t.len() {
        a
    } else {
        it.nth(width - 1).unwrap_or(t.len())
    };
    a..b
}

#[cfg(test)]
#[allow(clippy::single_range_in_vec_init)] // expected match lists
mod tests {
    use super::*;
    use crate::logs::buffer::Limits;

    fn buf_n(n: usize) -> LogBuffer {
        let mut b = LogBuffer::new(Limits::default());
        for i in 0..n {
            b.push_raw(0, None, format!("line {i}").as_bytes());
        }
        b
    }

    fn shown(v: &mut LogView, b: &LogBuffer, h: usize, w: usize) -> Vec<String> {
        v.window(b, h, w)
            .rows
            .iter()
            .map(|r| r.text().to_owned())
            .collect()
    }

    #[test]
    fn follows_the_tail_by_default() {
        let mut b = buf_n(10);
        let mut v = LogView::new();
        assert_eq!(shown(&mut v, &b, 3, 80), ["line 7", "line 8", "line 9"]);
        b.push_raw(0, None, b"line 10");
        assert_eq!(shown(&mut v, &b, 3, 80), ["line 8", "line 9", "line 10"]);
        assert_eq!(v.status(&b).new_lines, 0);
        // Fewer lines than rows: all of them, from the top.
        let b = buf_n(2);
        assert_eq!(shown(&mut LogView::new(), &b, 5, 80), ["line 0", "line 1"]);
        assert!(
            LogView::new()
                .window(&LogBuffer::default(), 5, 80)
                .rows
                .is_empty()
        );
    }

    #[test]
    fn scrolling_up_pauses_and_counts_new_lines() {
        let mut b = buf_n(10);
        let mut v = LogView::new();
        shown(&mut v, &b, 3, 80);
        v.scroll_up(&b, 2);
        assert!(!v.is_following());
        assert_eq!(shown(&mut v, &b, 3, 80), ["line 5", "line 6", "line 7"]);
        for i in 10..15 {
            b.push_raw(0, None, format!("line {i}").as_bytes());
        }
        // The screen stays put; the new lines are counted.
        assert_eq!(shown(&mut v, &b, 3, 80), ["line 5", "line 6", "line 7"]);
        let s = v.status(&b);
        assert_eq!((s.following, s.new_lines), (false, 5));
        v.to_tail();
        assert_eq!(shown(&mut v, &b, 3, 80), ["line 12", "line 13", "line 14"]);
        assert_eq!(v.status(&b).new_lines, 0);
    }

    #[test]
    fn new_lines_already_on_screen_are_not_counted_as_new() {
        let mut b = buf_n(3);
        let mut v = LogView::new();
        shown(&mut v, &b, 10, 80);
        v.scroll_up(&b, 1);
        assert!(!v.is_following());
        for i in 3..5 {
            b.push_raw(0, None, format!("line {i}").as_bytes());
        }
        // Everything fits: both new lines are drawn, so none is news.
        assert_eq!(shown(&mut v, &b, 10, 80).len(), 5);
        assert_eq!(v.status(&b).new_lines, 0);
        // Past the screen's last row they are.
        for i in 5..12 {
            b.push_raw(0, None, format!("line {i}").as_bytes());
        }
        let rows = shown(&mut v, &b, 10, 80);
        assert_eq!(rows.last().map(String::as_str), Some("line 9"));
        assert_eq!(v.status(&b).new_lines, 2);
    }

    #[test]
    fn scrolling_down_to_the_tail_resumes_following() {
        let b = buf_n(10);
        let mut v = LogView::new();
        shown(&mut v, &b, 3, 80);
        v.scroll_up(&b, 3);
        v.scroll_down(&b, 1);
        assert!(!v.is_following());
        v.scroll_down(&b, 2);
        assert!(v.is_following());
        v.to_top(&b);
        assert_eq!(shown(&mut v, &b, 3, 80), ["line 0", "line 1", "line 2"]);
        v.page_down(&b);
        assert_eq!(shown(&mut v, &b, 3, 80), ["line 2", "line 3", "line 4"]);
        v.page_up(&b);
        v.scroll_up(&b, 100);
        assert_eq!(shown(&mut v, &b, 3, 80)[0], "line 0");
    }

    #[test]
    fn paused_view_survives_eviction() {
        let mut b = LogBuffer::new(Limits {
            max_lines: 5,
            ..Limits::default()
        });
        for i in 0..5 {
            b.push_raw(0, None, format!("l{i}").as_bytes());
        }
        let mut v = LogView::new();
        shown(&mut v, &b, 2, 80);
        v.to_top(&b);
        for i in 5..8 {
            b.push_raw(0, None, format!("l{i}").as_bytes());
        }
        v.update(&b);
        assert_eq!(shown(&mut v, &b, 2, 80), ["l3", "l4"]);
        let s = v.status(&b);
        assert_eq!((s.new_lines, s.evicted), (3, 3));
    }

    #[test]
    fn wrapping_splits_rows_and_keeps_the_tail_bottom_aligned() {
        let mut b = LogBuffer::default();
        b.push_raw(0, None, b"aaaaabbbbbcc");
        b.push_raw(0, None, b"dd");
        let mut v = LogView::new();
        v.set_wrap(true);
        let w = v.window(&b, 3, 5);
        let rows: Vec<(&str, bool)> = w.rows.iter().map(|r| (r.text(), r.first)).collect();
        assert_eq!(rows, [("bbbbb", false), ("cc", false), ("dd", true)]);
        // Non-ASCII text wraps on char boundaries.
        let mut b = LogBuffer::default();
        b.push_raw(0, None, "ééééé日本語x".as_bytes());
        let rows = shown(&mut v, &b, 5, 4);
        assert_eq!(rows, ["éééé", "é日本語", "x"]);
        // Paused: the window starts at the first row of the top line.
        v.to_top(&b);
        assert_eq!(shown(&mut v, &b, 2, 4), ["éééé", "é日本語"]);
    }

    #[test]
    fn horizontal_offset_picks_columns() {
        let mut b = LogBuffer::default();
        b.push_raw(0, None, b"0123456789");
        b.push_raw(0, None, "αβγδεζηθ".as_bytes());
        b.push_raw(0, None, b"short");
        let mut v = LogView::new();
        v.scroll_right(6);
        assert_eq!(shown(&mut v, &b, 3, 3), ["678", "ηθ", ""]);
        v.scroll_left(100);
        assert_eq!(shown(&mut v, &b, 3, 3), ["012", "αβγ", "sho"]);
        // Ignored while wrapping.
        v.scroll_right(2);
        v.set_wrap(true);
        assert_eq!(shown(&mut v, &b, 1, 10), ["short"]);
    }

    #[test]
    fn search_highlights_and_keeps_context() {
        let mut b = LogBuffer::default();
        for l in ["ok", "error one error", "ok", "Error two", "ok"] {
            b.push_raw(0, None, l.as_bytes());
        }
        let mut v = LogView::new();
        v.set_search(&b, "error");
        let w = v.window(&b, 5, 80);
        assert_eq!(w.rows.len(), 5);
        let hl: Vec<Vec<&str>> = w
            .rows
            .iter()
            .map(|r| {
                w.highlights[r.highlights.clone()]
                    .iter()
                    .map(|h| &r.line.text()[h.clone()])
                    .collect()
            })
            .collect();
        assert_eq!(
            hl,
            [
                vec![],
                vec!["error", "error"],
                vec![],
                vec!["Error"],
                vec![]
            ]
        );
        assert_eq!(v.status(&b).matches, Some(2));
        assert_eq!(v.last_pattern(), "error");
        // A highlight split by wrapping is clipped to each row.
        v.set_wrap(true);
        v.to_top(&b);
        let w = v.window(&b, 3, 8);
        let r = &w.rows[1]; // line 1, "error one error", wrapped at 8
        assert_eq!(r.text(), "error on");
        assert_eq!(w.highlights[r.highlights.clone()], [0..5]);
        let r2 = &w.rows[2];
        assert_eq!(r2.text(), "e error");
        assert_eq!(w.highlights[r2.highlights.clone()], [10..15]);
    }

    #[test]
    fn filter_shows_matches_only_and_updates_incrementally() {
        let mut b = buf_n(0);
        for l in ["a err", "b", "c err", "d"] {
            b.push_raw(0, None, l.as_bytes());
        }
        let mut v = LogView::new();
        v.set_search(&b, "err");
        v.set_filter(true);
        assert_eq!(shown(&mut v, &b, 5, 80), ["a err", "c err"]);
        b.push_raw(0, None, b"e err");
        b.push_raw(0, None, b"f");
        v.update(&b);
        assert_eq!(shown(&mut v, &b, 5, 80), ["a err", "c err", "e err"]);
        assert_eq!(shown(&mut v, &b, 2, 80), ["c err", "e err"]);
        v.scroll_up(&b, 1);
        b.push_raw(0, None, b"g err");
        v.update(&b);
        let s = v.status(&b);
        assert_eq!(
            (s.new_lines, s.new_matches, s.filtering),
            (1, Some(1), true)
        );
        assert_eq!(shown(&mut v, &b, 2, 80), ["a err", "c err"]);
        v.set_filter(false);
        v.to_tail();
        assert_eq!(shown(&mut v, &b, 2, 80), ["f", "g err"]);
    }

    #[test]
    fn a_stale_filter_index_never_shows_evicted_lines() {
        let mut b = LogBuffer::new(Limits {
            max_lines: 3,
            ..Limits::default()
        });
        let mut v = LogView::new();
        v.set_search(&b, "x");
        v.set_filter(true);
        for l in ["x0", "x1", "x2"] {
            b.push_raw(0, None, l.as_bytes());
        }
        v.update(&b);
        v.to_top(&b);
        shown(&mut v, &b, 2, 80);
        // Lines arrive and evict without update(): scrolling must not panic.
        for l in ["x3", "x4"] {
            b.push_raw(0, None, l.as_bytes());
        }
        v.scroll_down(&b, 1);
        v.scroll_up(&b, 1);
        assert_eq!(shown(&mut v, &b, 2, 80), ["x2", "x3"]);
    }

    #[test]
    fn n_and_shift_n_jump_wrap_and_pause() {
        let mut b = LogBuffer::default();
        for i in 0..30 {
            let l = if i % 10 == 5 {
                format!("{i} hit")
            } else {
                format!("{i}")
            };
            b.push_raw(0, None, l.as_bytes());
        }
        let mut v = LogView::new();
        v.set_search(&b, "hit");
        shown(&mut v, &b, 3, 80); // lines 27..29
        // From the tail, N finds the newest match above the screen bottom.
        let j = v.search_prev(&b).unwrap();
        assert_eq!(
            j,
            Jump {
                seq: 25,
                wrapped: false
            }
        );
        assert!(!v.is_following());
        assert_eq!(v.current_match(), Some(25));
        let rows = v.window(&b, 3, 80);
        assert_eq!(rows.rows[1].text(), "25 hit");
        assert!(rows.rows[1].current && !rows.rows[0].current);
        assert_eq!(
            v.search_prev(&b).unwrap(),
            Jump {
                seq: 15,
                wrapped: false
            }
        );
        assert_eq!(
            v.search_prev(&b).unwrap(),
            Jump {
                seq: 5,
                wrapped: false
            }
        );
        assert_eq!(
            v.search_prev(&b).unwrap(),
            Jump {
                seq: 25,
                wrapped: true
            }
        );
        assert_eq!(
            v.search_next(&b).unwrap(),
            Jump {
                seq: 5,
                wrapped: true
            }
        );
        assert_eq!(
            v.search_next(&b).unwrap(),
            Jump {
                seq: 15,
                wrapped: false
            }
        );
        // From a paused screen without a current match, n starts at its top.
        v.clear_search();
        assert_eq!(v.search_next(&b), None);
        v.set_search(&b, "hit");
        v.to_top(&b);
        shown(&mut v, &b, 3, 80);
        assert_eq!(
            v.search_next(&b).unwrap(),
            Jump {
                seq: 5,
                wrapped: false
            }
        );
    }

    #[test]
    fn window_reads_only_what_is_visible() {
        // The benchmark measures that a window's cost does not grow with the
        // history; here, correctness at both ends of a long one.
        let mut b = LogBuffer::new(Limits {
            max_lines: 1_000,
            ..Limits::default()
        });
        for i in 0..100_000u32 {
            b.push_raw(0, None, i.to_string().as_bytes());
        }
        let mut v = LogView::new();
        assert_eq!(shown(&mut v, &b, 2, 80), ["99998", "99999"]);
        v.to_top(&b);
        assert_eq!(shown(&mut v, &b, 2, 80), ["99000", "99001"]);
        assert_eq!(v.status(&b).evicted, 99_000);
    }
}
