//! `:settings`: the cluster settings that touch credentials, judged.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Wrap};

use super::detail::finding_lines;
use crate::app::App;
use crate::ui::Theme;
use crate::ui::sanitize::escape;

pub fn draw(f: &mut Frame, area: Rect, app: &App, t: &Theme) {
    let block = Block::bordered()
        .border_style(t.border_focus)
        .title(Span::styled(" settings ", t.title));
    let mut lines = Vec::new();
    match &app.cluster {
        None => lines.push(Line::from(Span::styled(
            "not read yet (r reads the settings and every node)",
            t.unknown,
        ))),
        Some(c) => {
            lines.push(Line::from(vec![
                Span::styled("http-proxy   ", t.dim),
                Span::styled(
                    escape(c.http_proxy_masked.as_deref().unwrap_or("not set")).into_owned(),
                    t.base,
                ),
            ]));
            lines.extend(finding_lines(&c.findings, t));
        }
    }
    f.render_widget(
        Paragraph::new(lines)
            .block(block)
            .wrap(Wrap { trim: false }),
        area,
    );
}
