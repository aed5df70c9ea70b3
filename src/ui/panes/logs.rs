//! The log pane's slot: where a node's rke2-server log will scroll.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::Span;
use ratatui::widgets::{Block, Paragraph};

use crate::ui::Theme;

pub fn draw(f: &mut Frame, area: Rect, t: &Theme) {
    let block = Block::bordered()
        .border_style(t.border)
        .title(Span::styled(" log ", t.title));
    f.render_widget(
        Paragraph::new(Span::styled("no log stream open", t.dim)).block(block),
        area,
    );
}
