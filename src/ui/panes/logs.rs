//! The log pane: the log slot under the node table while no log is open;
//! once one is, the pane below the table (or beside a form, or fullscreen)
//! with its lines, markers and hint line.
//!
//! Drawing asks `LogView::window` for the visible rows only (O(height)),
//! whatever the buffer holds. Text is already sanitised by the stream; node
//! names are sanitised in the pane's labels.

use std::ops::Range;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph};

use crate::app::logpane::LogPane;
use crate::app::{App, View};
use crate::logs::view::TIMESTAMP_COLUMNS;
use crate::logs::{LogLine, Row};
use crate::model::StreamStatus;
use crate::ui::Theme;
use crate::ui::sanitize::escape;

/// The empty slot of the node table view.
pub fn draw(f: &mut Frame, area: Rect, t: &Theme) {
    let block = Block::bordered()
        .border_style(t.border)
        .title(Span::styled(" log ", t.title));
    f.render_widget(
        Paragraph::new(Span::styled("no log stream open (l on a node)", t.dim)).block(block),
        area,
    );
}

/// Where a log pane goes relative to the other content of the screen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogPlace {
    /// Under a table: the table keeps about 2/5 of the height.
    Below,
    /// Right of a form (the guided flows): half the width each.
    Beside,
    /// The whole body.
    Full,
}

/// Splits `body` into the main content's area and the log pane's; `Full`
/// leaves the main content an empty area.
pub fn split(body: Rect, place: LogPlace) -> (Rect, Rect) {
    match place {
        LogPlace::Full => (Rect { height: 0, ..body }, body),
        LogPlace::Below => {
            // The table keeps 2/5 (at least 5 rows), the pane at least 5; a
            // screen too small for both gives the pane everything.
            let main = (body.height * 2 / 5)
                .max(5)
                .min(body.height.saturating_sub(5));
            let [m, l] =
                Layout::vertical([Constraint::Length(main), Constraint::Min(0)]).areas(body);
            (m, l)
        }
        LogPlace::Beside => {
            let [m, l] =
                Layout::horizontal([Constraint::Percentage(50), Constraint::Min(0)]).areas(body);
            (m, l)
        }
    }
}

/// The console's body (between header and status line) at a screen size.
fn body(size: (u16, u16)) -> Rect {
    let a = crate::ui::areas(Rect::new(0, 0, size.0, size.1));
    Rect {
        height: a.status.y - a.main.y,
        ..a.main
    }
}

fn place(p: &LogPane) -> LogPlace {
    if p.fullscreen {
        LogPlace::Full
    } else {
        LogPlace::Below
    }
}

/// Node table rows on screen while the pane sits under the table.
pub fn table_rows(app: &App) -> Option<usize> {
    let p = app.logs.pane.as_ref()?;
    if app.view() != &View::Logs {
        return None;
    }
    let (main, _) = split(body(app.size), place(p));
    Some(main.height.saturating_sub(3) as usize)
}

/// Columns of the prefix in front of each line: timestamp, node name.
fn prefix_columns(p: &LogPane, timestamps: bool) -> usize {
    let ts = if timestamps { TIMESTAMP_COLUMNS } else { 0 };
    ts + node_columns(p)
}

fn node_columns(p: &LogPane) -> usize {
    if p.nodes.len() > 1 {
        p.nodes
            .iter()
            .map(|n| n.label.chars().count())
            .max()
            .unwrap_or(0)
            + 1
    } else {
        0
    }
}

/// Rows and columns of the pane's text at a screen size (what `window` gets).
pub fn text_size(size: (u16, u16), p: &LogPane) -> (usize, usize) {
    let (_, area) = split(body(size), place(p));
    text_size_in(area, p, p.view.borrow().timestamps())
}

fn text_size_in(area: Rect, p: &LogPane, timestamps: bool) -> (usize, usize) {
    // The hint line takes the pane's last row.
    let h = (area.height.saturating_sub(2) as usize).saturating_sub(usize::from(p.hint.is_some()));
    let w = (area.width.saturating_sub(2) as usize).saturating_sub(prefix_columns(p, timestamps));
    (h, w.max(1))
}

/// The log view: the table above the pane, or the pane fullscreen.
pub fn draw_view(f: &mut Frame, body: Rect, app: &App, t: &Theme) {
    let Some(p) = &app.logs.pane else { return };
    let (main, log) = split(body, place(p));
    if main.height > 0 {
        super::nodes::draw(f, main, app, t);
    }
    draw_pane(f, log, p, t);
}

/// A node's prefix colour, so merged lines tell their node apart.
pub fn node_style(i: usize, t: &Theme) -> Style {
    const PALETTE: [Color; 6] = [
        Color::Cyan,
        Color::Magenta,
        Color::Yellow,
        Color::Green,
        Color::LightBlue,
        Color::LightRed,
    ];
    if t.name == "monochrome" {
        return t.base.add_modifier(Modifier::BOLD);
    }
    t.base.fg(PALETTE[i % PALETTE.len()])
}

/// Draws a log pane into `area` (any place: below, beside, fullscreen).
pub fn draw_pane(f: &mut Frame, area: Rect, p: &LogPane, t: &Theme) {
    let mut view = p.view.borrow_mut();
    // The window first: the status counts as new only lines it left out.
    let ts_on = view.timestamps();
    let (h, w) = text_size_in(area, p, ts_on);
    let win = view.window(&p.buf, h, w);
    let status = view.status(&p.buf);
    // Title: what is shown and whether it follows.
    let who = if p.nodes.len() == 1 {
        p.nodes[0].label.clone()
    } else {
        format!("{} nodes", p.nodes.len())
    };
    let mut title = vec![Span::styled(
        format!(" logs {who} · {} ", p.unit_label()),
        t.title,
    )];
    if status.following {
        title.push(Span::styled(" following ", t.ok));
    } else {
        title.push(Span::styled(
            format!(" PAUSED · {} new · G resumes ", status.new_lines),
            t.badge,
        ));
    }
    if status.filtering {
        title.push(Span::styled(" filter ", t.accent));
    }
    // Bottom border: markers, search, stream trouble.
    let mut bottom: Vec<Span> = Vec::new();
    if let Some(input) = &p.search_input {
        bottom.push(Span::styled(format!(" /{}█ ", escape(input)), t.input));
    } else if let (Some(m), Some(q)) = (status.matches, view.search()) {
        bottom.push(Span::styled(
            format!(
                " /{} {m} match{} ",
                escape(q.query().pattern()),
                if m == 1 { "" } else { "es" }
            ),
            t.accent,
        ));
    }
    if status.evicted > 0 {
        bottom.push(Span::styled(
            format!(
                " {} lines dropped (holds {}) ",
                status.evicted,
                p.buf.limits().max_lines
            ),
            t.warn,
        ));
    }
    if status.dropped_upstream > 0 {
        bottom.push(Span::styled(
            format!(" {} lines not received ", status.dropped_upstream),
            t.critical,
        ));
    }
    for n in &p.nodes {
        let s = match &n.status {
            StreamStatus::Retrying { error, after } => {
                format!(
                    " {}: {} (again in {:.0}s) ",
                    n.label,
                    error,
                    after.as_secs_f32()
                )
            }
            StreamStatus::Failed(e) => format!(" {}: {e} ", n.label),
            _ => continue,
        };
        bottom.push(Span::styled(escape(&s).into_owned(), t.critical));
    }
    let block = Block::bordered()
        .border_style(t.border_focus)
        .title(Line::from(title))
        .title_bottom(Line::from(bottom));
    let inner = block.inner(area);
    f.render_widget(block, area);

    let node_cols = node_columns(p);
    let mut lines: Vec<Line> = Vec::with_capacity(h + 1);
    for row in &win.rows {
        lines.push(row_line(p, row, &win.highlights, ts_on, node_cols, t));
    }
    if win.rows.is_empty() {
        let waiting = p.nodes.iter().any(|n| n.status == StreamStatus::Connecting);
        let msg = if waiting {
            "connecting…"
        } else if status.filtering {
            "no line matches the search"
        } else {
            "no lines yet"
        };
        lines.push(Line::from(Span::styled(msg, t.dim)));
    }
    let text_area = Rect {
        height: h as u16,
        ..inner
    };
    f.render_widget(Paragraph::new(lines).style(t.base), text_area);
    if let Some((node, hint)) = p.hint
        && inner.height > 0
    {
        let r = Rect {
            y: inner.y + inner.height - 1,
            height: 1,
            ..inner
        };
        let line = Line::from(vec![
            Span::styled("↳ hint ", t.warn),
            Span::styled(format!("{}: ", p.label(node)), node_style(node as usize, t)),
            Span::styled(hint.title, t.warn),
            Span::styled(format!(" → {} ", hint.goto.command()), t.key),
            Span::styled(hint.action, t.base),
        ]);
        f.render_widget(Paragraph::new(line), r);
    }
}

fn row_line<'a>(
    p: &'a LogPane,
    row: &Row<'a>,
    highlights: &[Range<usize>],
    ts_on: bool,
    node_cols: usize,
    t: &Theme,
) -> Line<'a> {
    let line = row.line;
    let mut spans = Vec::new();
    if ts_on {
        match (row.first, line.ts()) {
            (true, Some(ts)) => spans.push(Span::styled(format!("{} ", ts.clock()), t.dim)),
            _ => spans.push(Span::raw(" ".repeat(TIMESTAMP_COLUMNS))),
        }
    }
    if node_cols > 0 {
        let label = p.label(line.node());
        if row.first {
            spans.push(Span::styled(
                format!("{label:<w$}", w = node_cols),
                node_style(line.node() as usize, t),
            ));
        } else {
            spans.push(Span::raw(" ".repeat(node_cols)));
        }
    }
    let base = match (line.kind(), line.priority()) {
        (crate::logs::LineKind::Gap(_), _) => t.critical,
        (_, Some(0..=3)) => t.critical,
        (_, Some(4)) => t.warn,
        _ if row.current => t.selected,
        _ => t.base,
    };
    spans.extend(styled_text(
        line,
        row,
        &highlights[row.highlights.clone()],
        base,
        t,
    ));
    Line::from(spans)
}

/// The row's text cut where its style changes: search matches, visible
/// escapes (so an operator sees that the node sent control characters), the
/// over-long-line marker.
fn styled_text<'a>(
    line: &'a LogLine,
    row: &Row<'a>,
    hl: &[Range<usize>],
    base: Style,
    t: &Theme,
) -> Vec<Span<'a>> {
    let text = line.text();
    let r = row.text.clone();
    let mut cuts = vec![r.start, r.end];
    for e in line.escapes() {
        cuts.push(e.range().start);
        cuts.push(e.range().end);
    }
    for h in hl {
        cuts.push(h.start);
        cuts.push(h.end);
    }
    if let Some(c) = line.truncated_at() {
        cuts.push(c);
    }
    cuts.retain(|&c| c >= r.start && c <= r.end);
    cuts.sort_unstable();
    cuts.dedup();
    let mut out = Vec::with_capacity(cuts.len());
    for w in cuts.windows(2) {
        let (a, b) = (w[0], w[1]);
        if a == b {
            continue;
        }
        let style = if hl.iter().any(|h| h.start <= a && b <= h.end) {
            t.badge
        } else if line
            .escapes()
            .iter()
            .any(|e| e.range().start <= a && b <= e.range().end)
        {
            t.warn
        } else if line.truncated_at().is_some_and(|c| a >= c) {
            t.dim.add_modifier(Modifier::ITALIC)
        } else {
            base
        };
        out.push(Span::styled(&text[a..b], style));
    }
    out
}

/// The status line's reminder while the pane has the keys (fits 80 columns).
pub fn key_hints(t: &Theme) -> Line<'static> {
    let mut l = Vec::new();
    for (k, what) in [
        ("?", "keys"),
        ("k", "pause"),
        ("G", "tail"),
        ("/", "search"),
        ("f", "filter"),
        ("z", "full"),
        ("^s", "save"),
        ("q", "close"),
    ] {
        l.push(Span::styled(format!(" <{k}>"), t.key));
        l.push(Span::styled(format!(" {what}"), t.dim));
    }
    Line::from(l)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pane_goes_below_beside_or_over_the_main_content() {
        // 80x24: the body between header and status line is 21 rows.
        let body = Rect::new(0, 2, 80, 21);
        let (m, l) = split(body, LogPlace::Below);
        assert_eq!((m.height, l.height, l.y), (8, 13, 10));
        assert_eq!((m.width, l.width), (80, 80));
        let (m, l) = split(body, LogPlace::Beside);
        assert_eq!(
            (m.width, l.width, l.x, m.height, l.height),
            (40, 40, 40, 21, 21)
        );
        let (m, l) = split(body, LogPlace::Full);
        assert_eq!((m.height, l), (0, body));
        // Tiny screens never underflow.
        let (m, l) = split(Rect::new(0, 0, 10, 3), LogPlace::Below);
        assert_eq!(m.height + l.height, 3);
    }
}
