//! The bottom line: the filter or command being typed, else the last
//! result or error, else the most useful keys.

use ratatui::Frame;
use ratatui::layout::{Position, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use crate::app::{App, Mode, View};
use crate::ui::Theme;
use crate::ui::sanitize::escape;

pub fn draw(f: &mut Frame, area: Rect, app: &App, t: &Theme) {
    let line = match app.mode {
        Mode::Filter => {
            f.set_cursor_position(Position::new(
                area.x + 1 + app.input.chars().count() as u16,
                area.y,
            ));
            Line::from(vec![
                Span::styled("/", t.key),
                Span::styled(app.input.clone(), t.input),
                Span::styled("   enter keep · esc clear", t.dim),
            ])
        }
        Mode::Command => {
            f.set_cursor_position(Position::new(
                area.x + 1 + app.input.chars().count() as u16,
                area.y,
            ));
            let sugg = app.command_completions();
            let mut l = vec![
                Span::styled(":", t.key),
                Span::styled(app.input.clone(), t.input),
                Span::raw("   "),
            ];
            if sugg.is_empty() {
                l.push(Span::styled("no such command", t.flash_error));
            } else {
                for s in sugg {
                    let st = if s == app.input { t.accent } else { t.dim };
                    // `:logs` completes node names: show the word, not the line.
                    let word = s.rsplit(' ').next().unwrap_or(&s);
                    l.push(Span::styled(format!("{} ", escape(word)), st));
                }
            }
            Line::from(l)
        }
        Mode::Normal => match &app.flash {
            Some(fl) => Line::from(Span::styled(
                format!(" {}", escape(&fl.text)),
                if fl.error {
                    t.flash_error
                } else {
                    t.flash_info
                },
            )),
            None if app.view() == &View::Logs && app.logs.pane.is_some() => {
                super::logs::key_hints(t)
            }
            None => {
                let mut l = Vec::new();
                for (k, what) in [
                    ("?", "help"),
                    (":", "command"),
                    ("/", "filter"),
                    ("enter", "details"),
                    ("esc", "back"),
                    ("ctrl-c", "quit"),
                ] {
                    l.push(Span::styled(format!(" <{k}>"), t.key));
                    l.push(Span::styled(format!(" {what}"), t.dim));
                }
                Line::from(l)
            }
        },
    };
    f.render_widget(Paragraph::new(line), area);
}
