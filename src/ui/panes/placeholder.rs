//! Views whose content later work provides: they say so instead of showing
//! anything invented.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Wrap};

use crate::app::View;
use crate::ui::Theme;

pub fn draw(f: &mut Frame, area: Rect, v: &View, t: &Theme) {
    let block = Block::bordered()
        .border_style(t.border_focus)
        .title(Span::styled(format!(" {} ", v.title()), t.title));
    let text = vec![
        Line::from(Span::styled(
            format!(
                "The {} view is not built yet: nothing has been read.",
                v.title()
            ),
            t.unknown,
        )),
        Line::from(Span::styled("esc goes back to the node table.", t.dim)),
    ];
    f.render_widget(
        Paragraph::new(text).block(block).wrap(Wrap { trim: false }),
        area,
    );
}
