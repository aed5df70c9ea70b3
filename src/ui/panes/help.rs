//! `?`: the keys of the focused pane, then the global ones.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph};

use crate::app::{App, keys};
use crate::ui::Theme;

/// Width of the key column (two spaces, the key, padding).
const KEY_COLUMN: usize = 17;

pub fn draw(f: &mut Frame, area: Rect, app: &App, t: &Theme) {
    let (pane, global) = keys::for_view(app.view(), app.read_only);
    let w = 66.min(area.width);
    // Descriptions wrap under themselves rather than run past the border.
    let text_width = (w as usize).saturating_sub(2 + KEY_COLUMN).max(10);
    let mut lines = vec![Line::from(Span::styled(
        format!("{} pane", app.view().title()),
        t.accent,
    ))];
    let rows = |lines: &mut Vec<Line<'static>>, k: &str, what: &str| {
        for (i, part) in wrap(what, text_width).into_iter().enumerate() {
            let key = if i == 0 { k } else { "" };
            lines.push(Line::from(vec![
                Span::styled(format!("  {key:<15}"), t.key),
                Span::styled(part, t.base),
            ]));
        }
    };
    for h in pane {
        rows(&mut lines, h.key, h.what);
    }
    lines.push(Line::from(Span::styled("everywhere", t.accent)));
    for h in global {
        rows(&mut lines, h.key, h.what);
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

/// Splits `text` at spaces into lines of at most `width` characters (a word
/// longer than that gets a line of its own).
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut out = vec![String::new()];
    for word in text.split(' ') {
        let last = out.last_mut().expect("never empty");
        if last.is_empty() {
            last.push_str(word);
        } else if last.chars().count() + 1 + word.chars().count() <= width {
            last.push(' ');
            last.push_str(word);
        } else {
            out.push(word.to_string());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::wrap;

    #[test]
    fn wrap_keeps_every_word_within_the_width() {
        let text = "filter by name, IP, role or level (crit, warn, ...)";
        let lines = wrap(text, 20);
        assert!(lines.iter().all(|l| l.chars().count() <= 20), "{lines:?}");
        assert_eq!(lines.join(" "), text);
        assert_eq!(wrap("short", 20), ["short"]);
    }
}
