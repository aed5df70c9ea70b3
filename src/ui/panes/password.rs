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
    walk::draw_with(f, rest, &form.walk, &label, false, t);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::password_walk::tests::{NEW, at_form, done_with_node3_failed};
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;

    fn screen(app: &App) -> Vec<String> {
        let theme = Theme::default_theme();
        let mut term = Terminal::new(TestBackend::new(72, 12)).unwrap();
        term.draw(|f| draw(f, f.area(), app, &theme)).unwrap();
        let buf = term.backend().buffer();
        crate::ui::buffer_lines(buf)
    }

    #[test]
    fn the_form_is_masked_with_problems_at_their_field() {
        let s = screen(&at_form("rancher"));
        assert_eq!(
            s[..8],
            [
                "┌ new password for rancher (masked) ───────────────────────────────────┐",
                "│  password  •••••••                                                   │",
                "│            ✗ not `rancher`: it is Harvester's well-known default     │",
                "│            password                                                  │",
                "│            ✗ at least 12 characters (this one has 7;                 │",
                "│            password_min_length in config.toml)                       │",
                "│> again     •••••••                                                   │",
                "└──────────────────────────────────────────────────────────────────────┘",
            ]
        );
        assert_eq!(
            s[8],
            "┌ password.set · edit ─────────────────────────────────────────────────┐"
        );
        assert_eq!(
            s[9],
            "│targets  marked nodes: node1 node3                                    │"
        );
        assert!(
            !s[10].contains('✗'),
            "problems once, at their field: {}",
            s[10]
        );
    }

    #[test]
    fn a_finished_walk_shows_each_node_and_what_to_retry() {
        let s = screen(&done_with_node3_failed());
        assert!(!s.join("\n").contains(NEW));
        assert_eq!(
            s[..6],
            [
                "┌ password.set · done ─────────────────────────────────────────────────┐",
                "│targets  marked nodes: node1 node3                                    │",
                "│node1  verified                                                       │",
                "│node3  failed      apply: ssh: link down                              │",
                "│1 changed, 0 already so, failed: node3; retry to finish them (the     │",
                "│others are not changed again)                                         │",
            ]
        );
        assert_eq!(
            s[11],
            "└r retry the failed nodes · enter/esc close────────────────────────────┘"
        );
    }
}
