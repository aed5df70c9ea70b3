//! An engine walk's form (`app::engine_form`): its fields (masked lines,
//! plain lines, pasted multi-line text) with their problems at the field,
//! and under them the walk (targets, preview per node, live states,
//! summary) as `walk.rs` draws every walk.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph};

use super::walk::{self, Labels};
use crate::app::engine_form::{EngineForm, FieldInput, FormSpec};
use crate::flows::{Severity, Step};
use crate::ui::Theme;
use crate::ui::forms::{FieldNote, FieldView, MultiLineView, draw_field, note_rows};
use crate::ui::sanitize::escape;

/// Lines a multi-line field's box shows at most (it scrolls beyond).
const TEXT_ROWS: u16 = 6;

pub fn draw<S: FormSpec>(f: &mut Frame, area: Rect, form: &EngineForm<S>, t: &Theme) {
    let label = form.targets_label();
    let follow_up = form
        .spec
        .follow_up(&form.walk)
        .map(|next| format!("{} {}", next.key, next.hint));
    let labels = Labels {
        targets: &label,
        name: form.spec.walk_name(),
        hint: follow_up.as_deref(),
        fixed: form.spec.fixed_target().is_some(),
    };
    if form.walk.step != Step::Edit || form.fields.is_empty() {
        let area = draw_followed(f, area, form, t);
        walk::draw_with(f, area, &form.walk, &labels, true, t);
        return;
    }
    let notes: Vec<Vec<FieldNote>> = form
        .fields
        .iter()
        .map(|field| {
            form.walk
                .problems
                .iter()
                .filter(|p| p.field == field.name)
                .map(|p| FieldNote {
                    error: p.severity == Severity::Error,
                    text: &p.message,
                })
                .collect()
        })
        .collect();
    // Problems of no field of the form stay with the walk.
    let elsewhere = form
        .walk
        .problems
        .iter()
        .any(|p| !form.fields.iter().any(|field| field.name == p.field));
    // The fields' box has a border on each side.
    let inner_width = area.width.saturating_sub(2);
    let notes_of = &notes;
    let wanted_of = |i: usize| -> u16 {
        let notes = notes[i].len() as u16 * 2;
        match &form.fields[i].input {
            FieldInput::Line { .. } | FieldInput::SecretText { .. } => 1 + notes,
            FieldInput::Text(input) => {
                let notes = note_rows(&notes_of[i], inner_width);
                1 + (input.line_count() as u16).clamp(1, TEXT_ROWS) + 2 + notes
            }
        }
    };
    let notes_below = form.spec.notes_for(&form.fields);
    let wanted: u16 = (0..form.fields.len()).map(wanted_of).sum::<u16>()
        + 2
        + notes_below
            .iter()
            .map(|l| crate::ui::forms::wrapped_rows(l, inner_width))
            .sum::<u16>();
    let height = wanted.min(area.height.saturating_sub(4).max(3));
    let top = Rect { height, ..area };
    let block = Block::bordered()
        .border_style(t.border_focus)
        .title(Span::styled(form.spec.title(), t.title));
    let inner = block.inner(top);
    f.render_widget(block, top);
    let bottom = inner.y + inner.height;
    let mut y = inner.y;
    for (i, field) in form.fields.iter().enumerate() {
        let h = wanted_of(i).min(bottom.saturating_sub(y));
        let rect = Rect::new(inner.x, y, inner.width, h);
        let focused = form.focus == i;
        match &field.input {
            FieldInput::Line { input, .. } => {
                let shown = form.shown(i);
                let view = FieldView {
                    label: field.name,
                    shown: &shown,
                    cursor: Some(input.cursor()),
                    focused,
                    notes: &notes[i],
                };
                draw_field(f, rect, &view, t);
            }
            FieldInput::SecretText { input, summary } => {
                // Never the text: what it is, in a line.
                let shown = summary(&input.value());
                let view = FieldView {
                    label: field.name,
                    shown: &shown,
                    cursor: None,
                    focused,
                    notes: &notes[i],
                };
                draw_field(f, rect, &view, t);
            }
            FieldInput::Text(input) => {
                let view = MultiLineView {
                    label: field.name,
                    focused,
                    notes: &notes[i],
                };
                input.draw(f, rect, &view, t);
            }
        }
        y += h;
    }
    if y < bottom && !notes_below.is_empty() {
        let lines: Vec<Line> = notes_below
            .iter()
            .map(|l| Line::from(Span::styled(escape(l).into_owned(), t.dim)))
            .collect();
        let rect = Rect::new(inner.x, y, inner.width, bottom - y);
        f.render_widget(
            Paragraph::new(lines).wrap(ratatui::widgets::Wrap { trim: false }),
            rect,
        );
    }
    let rest = Rect {
        y: area.y + height,
        height: area.height.saturating_sub(height),
        ..area
    };
    walk::draw_with(f, rest, &form.walk, &labels, elsewhere, t);
}

/// What the verifications said so far, newest last, in a box under the
/// walk (half the area at most); returns the area left for the walk.
fn draw_followed<S: FormSpec>(f: &mut Frame, area: Rect, form: &EngineForm<S>, t: &Theme) -> Rect {
    let shown = matches!(form.walk.step, Step::Apply | Step::Verify | Step::Done);
    if !shown || form.followed.is_empty() || area.height < 10 {
        return area;
    }
    let height = (form.followed.len() as u16 + 2).min(area.height / 2);
    let rows = height.saturating_sub(2) as usize;
    // The newest lines, or as far back as pgup went.
    let len = form.followed.len();
    let end = (len - form.followed_back.min(len - 1)).max(rows.min(len));
    let lines: Vec<Line> = form.followed[end.saturating_sub(rows)..end]
        .iter()
        .map(|l| Line::from(Span::styled(escape(l).into_owned(), t.dim)))
        .collect();
    let title = if form.followed.len() > rows {
        format!(
            " followed {}-{} of {} (pgup/pgdn) ",
            end.saturating_sub(rows) + 1,
            end,
            form.followed.len()
        )
    } else {
        " followed ".to_string()
    };
    let rect = Rect {
        y: area.y + area.height - height,
        height,
        ..area
    };
    let block = Block::bordered()
        .border_style(t.border)
        .title(Span::styled(title, t.title));
    f.render_widget(Paragraph::new(lines).block(block), rect);
    Rect {
        height: area.height - height,
        ..area
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::App;
    use crate::app::password_walk::tests::{NEW, at_form, done_with_node3_failed};
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;

    fn screen(app: &App) -> Vec<String> {
        let theme = Theme::default_theme();
        let mut term = Terminal::new(TestBackend::new(72, 12)).unwrap();
        let form = app.form.as_ref().expect("a form is open");
        term.draw(|f| form.draw(f, f.area(), &theme)).unwrap();
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

    #[test]
    fn pasted_keys_are_shown_in_their_box_with_problems_under_it_then_the_walk() {
        use crate::app::keys_view::tests::{K1, K1_FP, K3, add_form_with};
        let app = add_form_with(&format!("{K1}\n{K3}\n"));
        let theme = Theme::default_theme();
        let mut term = Terminal::new(TestBackend::new(100, 16)).unwrap();
        let form = app.form.as_ref().unwrap();
        term.draw(|f| form.draw(f, f.area(), &theme)).unwrap();
        let s = crate::ui::buffer_lines(term.backend().buffer());
        let (k1, k3) = (format!("││{K1}"), format!("││{K3}"));
        assert_eq!(
            s[..11],
            [
                "┌ public keys, one a line, or a .pub file · enter on an empty last line: preview ──────────────────┐",
                "│> keys                                                                                            │",
                "│┌────────────────────────────────────────────────────────────────────────────────────────────────┐│",
                &format!("{k1:<98}││"),
                &format!("{k3:<98}││"),
                "││                                                                                                ││",
                "│└────────────────────────────────────────────────────────────────────────────────────────────────┘│",
                &format!("│! line 1: {K1_FP} is already present; nodes that have  │"),
                "│it are left as they are                                                                           │",
                "│  key file                                                                                        │",
                "└──────────────────────────────────────────────────────────────────────────────────────────────────┘",
            ]
        );
        // The problem is at its field, not again in the walk under it.
        assert!(s[11].starts_with("┌ keys.add · edit "), "{}", s[11]);
        assert!(s[12].contains("marked nodes: node1"), "{}", s[12]);
        assert!(!s[13..].join("\n").contains("already present"));
    }

    #[test]
    fn a_plain_line_field_shows_what_is_typed_and_a_refusal_stays_with_the_walk() {
        use crate::app::keys_view::tests::{K1_FP, with_drift};
        use crate::app::{Msg, engine_form::tests::walk_answer};
        use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
        let mut app = with_drift();
        let key = |c| Msg::Key(KeyEvent::new(c, KeyModifiers::NONE));
        // The login key, unproven: refused at the preview.
        app.update(key(KeyCode::Char('d')));
        let walk = app.form.as_ref().unwrap().walk_id().to_string();
        walk_answer::<crate::flows::keys::RemoveKeys>(
            &mut app,
            &walk,
            crate::flows::engine::Event::Loaded(crate::app::keys_view::tests::key_facts()),
        );
        app.update(key(KeyCode::Enter));
        for c in "~/id_x".chars() {
            app.update(key(KeyCode::Char(c)));
        }
        let s = screen(&app);
        assert_eq!(
            s[1],
            "│> key file  ~/id_x                                                    │",
            "{}",
            s.join("\n")
        );
        assert!(s[0].contains(&format!(" remove {K1_FP}")), "{}", s[0]);
        let walk = s[3..].join("\n");
        assert!(walk.contains("refused on node1"), "{walk}");
    }
}
