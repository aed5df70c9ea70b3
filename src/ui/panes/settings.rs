//! `:settings`: the cluster settings that touch credentials, judged: the
//! `http-proxy` line, then the other credential settings as `settings show`
//! describes them (no key, no password), each and each CA of
//! `additional-ca` selectable, with the keys that change them in the
//! footer. Values are remote text: escaped before the terminal.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Wrap};

use super::detail::finding_lines;
use crate::app::App;
use crate::ui::Theme;
use crate::ui::sanitize::escape;

/// The view's lines, and which one is the selected item's.
fn lines(app: &App, t: &Theme) -> (Vec<Line<'static>>, usize) {
    let mut lines = Vec::new();
    let Some(c) = &app.cluster else {
        lines.push(Line::from(Span::styled(
            "not read yet (r reads the settings and every node)",
            t.unknown,
        )));
        return (lines, 0);
    };
    lines.push(Line::from(vec![
        Span::styled("http-proxy   ", t.dim),
        Span::styled(
            escape(c.http_proxy_masked.as_deref().unwrap_or("not set")).into_owned(),
            t.base,
        ),
    ]));
    lines.extend(finding_lines(&c.findings, t));
    let items = app.settings_items();
    let selected = app
        .settings_view
        .selected
        .min(items.len().saturating_sub(1));
    let mut selected_line = 0;
    let described = app.settings.as_ref().map(|s| s.described.as_slice());
    for (i, item) in items.iter().enumerate() {
        let marker = |on: bool| if on { "▶ " } else { "  " };
        let style = |on: bool, base| if on { t.selected } else { base };
        let on = i == selected;
        if on {
            selected_line = lines.len();
        }
        if let Some((sha, subject)) = &item.ca {
            lines.push(Line::from(Span::styled(
                format!(
                    "{}    CA {}  sha256 {}",
                    marker(on),
                    escape(subject),
                    &sha[..sha.len().min(16)]
                ),
                style(on, t.base),
            )));
            continue;
        }
        let found = described.and_then(|d| d.iter().find(|(n, _, _)| *n == item.name));
        let state = match found {
            Some((_, true, _)) => "customized",
            Some((_, false, _)) => "Harvester's default",
            None => "not read",
        };
        lines.push(Line::from(vec![
            Span::styled(
                format!("{}{:<20}", marker(on), item.name),
                style(on, t.accent),
            ),
            Span::styled(format!(" {state}"), t.dim),
        ]));
        let Some((_, _, d)) = found else { continue };
        // additional-ca's certificates are the selectable lines after it.
        if item.name != crate::creds::setting_values::ADDITIONAL_CA {
            for l in &d.lines {
                lines.push(Line::from(Span::styled(
                    format!("      {}", escape(l)),
                    t.base,
                )));
            }
        }
        for l in finding_lines(&d.findings, t) {
            let mut spans = vec![Span::raw("    ")];
            spans.extend(l.spans);
            lines.push(Line::from(spans));
        }
    }
    (lines, selected_line)
}

/// The keys of the view, mutating ones left out in read-only mode.
fn footer(app: &App, t: &Theme) -> Line<'static> {
    let mut keys = vec![("j/k", "select")];
    if !app.read_only {
        keys.extend([
            ("e", "edit"),
            ("a", "add CA"),
            ("d", "remove CA"),
            ("b", "roll back"),
        ]);
    }
    keys.push(("esc", "back"));
    let mut spans = Vec::new();
    for (k, what) in keys {
        spans.push(Span::styled(format!(" {k}"), t.key));
        spans.push(Span::styled(format!(" {what} "), t.dim));
    }
    Line::from(spans)
}

pub fn draw(f: &mut Frame, area: Rect, app: &App, t: &Theme) {
    let block = Block::bordered()
        .border_style(t.border_focus)
        .title(Span::styled(" settings ", t.title))
        .title_bottom(footer(app, t));
    let (lines, selected) = lines(app, t);
    // The selected line stays on screen (rows counted as wrapped).
    let width = area.width.saturating_sub(2);
    let rows_of = |l: &Line| {
        let text: String = l.spans.iter().map(|s| s.content.as_ref()).collect();
        crate::ui::forms::wrapped_rows(&text, width)
    };
    let above: u16 = lines[..selected].iter().map(rows_of).sum();
    let shown = area.height.saturating_sub(2);
    let offset = (above + 1).saturating_sub(shown);
    f.render_widget(
        Paragraph::new(lines)
            .block(block)
            .wrap(Wrap { trim: false })
            .scroll((offset, 0)),
        area,
    );
}
