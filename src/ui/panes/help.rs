//! `?`: the keys of the focused pane, then the global ones.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph};

use crate::app::{App, keys};
use crate::ui::Theme;

pub fn draw(f: &mut Frame, area: Rect, app: &App, t: &Theme) {
    let (pane, global) = keys::for_view(app.view(), app.read_only);
    let mut lines = vec![Line::from(Span::styled(
        format!("{} pane", app.view().title()),
        t.accent,
    ))];
    let row = |k: &str, w: &str| {
        Line::from(vec![
            Span::styled(format!("  {k:<15}"), t.key),
            Span::styled(w.to_string(), t.base),
        ])
    };
    for h in pane {
        lines.push(row(h.key, h.what));
    }
    lines.push(Line::from(Span::styled("everywhere", t.accent)));
    for h in global {
        lines.push(row(h.key, h.what));
    }
    lines.push(Line::from(Span::styled(
        "commands: :nodes :certs :keys :logs :proxy :settings :help :q",
        t.dim,
    )));
    if app.read_only {
        lines.push(Line::from(Span::styled(
            "read-only: actions that change anything are hidden",
            t.warn,
        )));
    }
    let h = (lines.len() as u16 + 2).min(area.height);
    let hidden = (lines.len() as u16 + 2).saturating_sub(h);
    let scroll = app.help_scroll.min(hidden);
    let w = 66.min(area.width);
    let r = Rect::new(
        area.x + (area.width - w) / 2,
        area.y + (area.height - h) / 2,
        w,
        h,
    );
    f.render_widget(Clear, r);
    let block = Block::bordered()
        .border_style(t.border_focus)
        .title(Span::styled(
            if hidden > 0 {
                " help · j/k scroll · esc closes "
            } else {
                " help · esc closes "
            },
            t.title,
        ))
        .style(t.base);
    f.render_widget(Paragraph::new(lines).scroll((scroll, 0)).block(block), r);
}
