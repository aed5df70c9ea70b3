//! `:password`: the new password typed twice (masked), its problems at the
//! field, and under it the engine walk (targets, preview per node, live
//! states, summary) as `walk.rs` draws every walk.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::Span;
use ratatui::widgets::Block;

use super::walk;
use crate::app::App;
use crate::app::password_walk::FIELDS;
use crate::flows::{Severity, Step};
use crate::ui::Theme;
use crate::ui::forms::{FieldNote, FieldView, draw_field};

pub fn draw(f: &mut Frame, area: Rect, app: &App, t: &Theme) {
    let Some(form) = app.password.as_ref() else {
        return;
    };
    let label = form.choice.label();
    if form.walk.step != Step::Edit {
        walk::draw(f, area, &form.walk, &label, t);
        return;
    }
    let notes: Vec<Vec<FieldNote>> = FIELDS
        .iter()
        .map(|name| {
            form.walk
                .problems
                .iter()
                .filter(|p| p.field == *name)
                .map(|p| FieldNote {
                    error: p.severity == Severity::Error,
                    text: &p.message,
                })
                .collect()
        })
        .collect();
    let wanted: u16 = notes.iter().map(|n| 1 + n.len() as u16 * 2).sum::<u16>() + 2;
    let height = wanted.min(area.height.saturating_sub(4).max(3));
    let top = Rect { height, ..area };
    let block = Block::bordered()
        .border_style(t.border_focus)
        .title(Span::styled(" new password for rancher (masked) ", t.title));
    let inner = block.inner(top);
    f.render_widget(block, top);
    let bottom = inner.y + inner.height;
    let mut y = inner.y;
    for (i, name) in FIELDS.iter().enumerate() {
        let want = 1 + notes[i].len() as u16 * 2;
        let h = want.min(bottom.saturating_sub(y));
        let shown = "•".repeat(form.inputs[i].text().chars().count());
        let view = FieldView {
            label: name,
            shown: &shown,
            cursor: Some(form.inputs[i].cursor()),
            focused: form.focus == i,
            notes: &notes[i],
        };
        draw_field(f, Rect::new(inner.x, y, inner.width, h), &view, t);
        y += h;
    }
    let rest = Rect {
        y: area.y + height,
        height: area.height.saturating_sub(height),
        ..area
    };
    walk::draw(f, rest, &form.walk, &label, t);
}
