//! Generic form pieces every walkthrough reuses: a one-line input whose
//! text is zeroised (it may hold a proxy password), and drawing a labelled
//! field with its problems under it.
//!
//! The input is a small line editor rather than a ratatui-textarea: the
//! text must be zeroised, and what is shown (masked) differs from what is
//! held, which the textarea's buffer cannot do.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use zeroize::Zeroizing;

use super::Theme;
use super::sanitize::escape;

/// One line of text being edited; `Debug` never shows the text.
#[derive(Default, Clone, PartialEq, Eq)]
pub struct LineInput {
    text: Zeroizing<String>,
    /// Cursor, in chars.
    cursor: usize,
}

impl std::fmt::Debug for LineInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "LineInput({} chars)", self.text.chars().count())
    }
}

impl LineInput {
    pub fn new(text: &str) -> Self {
        LineInput {
            text: Zeroizing::new(text.to_string()),
            cursor: text.chars().count(),
        }
    }

    pub fn text(&self) -> &str {
        &self.text
    }

    pub fn cursor(&self) -> usize {
        self.cursor
    }

    fn byte_at(&self, chars: usize) -> usize {
        self.text
            .char_indices()
            .nth(chars)
            .map_or(self.text.len(), |(i, _)| i)
    }

    /// Edits for a key; true when the key was an edit (text or cursor).
    pub fn key(&mut self, k: &KeyEvent) -> bool {
        let ctrl = k.modifiers.contains(KeyModifiers::CONTROL);
        let len = self.text.chars().count();
        match k.code {
            KeyCode::Char('a') if ctrl => self.cursor = 0,
            KeyCode::Char('e') if ctrl => self.cursor = len,
            KeyCode::Char('u') if ctrl => {
                let at = self.byte_at(self.cursor);
                self.text.replace_range(..at, "");
                self.cursor = 0;
            }
            KeyCode::Char('k') if ctrl => {
                let at = self.byte_at(self.cursor);
                self.text.truncate(at);
            }
            KeyCode::Char(c) if !ctrl && !c.is_control() => {
                let at = self.byte_at(self.cursor);
                self.text.insert(at, c);
                self.cursor += 1;
            }
            KeyCode::Backspace if self.cursor > 0 => {
                let at = self.byte_at(self.cursor - 1);
                self.text.remove(at);
                self.cursor -= 1;
            }
            KeyCode::Delete if self.cursor < len => {
                let at = self.byte_at(self.cursor);
                self.text.remove(at);
            }
            KeyCode::Left => self.cursor = self.cursor.saturating_sub(1),
            KeyCode::Right => self.cursor = (self.cursor + 1).min(len),
            KeyCode::Home => self.cursor = 0,
            KeyCode::End => self.cursor = len,
            KeyCode::Backspace | KeyCode::Delete => {}
            _ => return false,
        }
        true
    }
}

/// A problem to show under a field.
pub struct FieldNote<'a> {
    pub error: bool,
    pub text: &'a str,
}

/// What one field shows.
#[derive(Clone, Copy)]
pub struct FieldView<'a> {
    pub label: &'a str,
    /// The text to display (masked unless revealed).
    pub shown: &'a str,
    /// Cursor position in chars, drawn when focused.
    pub cursor: Option<usize>,
    pub focused: bool,
    pub notes: &'a [FieldNote<'a>],
}

/// Draws `label: value` on the first line of `area` and the notes under it
/// (as many as fit). `shown` is what to display (masked unless revealed);
/// the cursor is placed when the field has focus.
pub fn draw_field(f: &mut Frame, area: Rect, field: &FieldView<'_>, t: &Theme) {
    let FieldView {
        label,
        shown,
        cursor,
        focused,
        notes,
    } = *field;
    if area.height == 0 {
        return;
    }
    let label_w = 12u16;
    let style: Style = if focused { t.input } else { t.base };
    let marker = if focused { "> " } else { "  " };
    let shown = escape(shown).into_owned();
    let first = Line::from(vec![
        Span::styled(marker, t.accent),
        Span::styled(format!("{label:<w$}", w = (label_w - 2) as usize), t.dim),
        Span::styled(
            if shown.is_empty() {
                " ".to_string()
            } else {
                shown.clone()
            },
            style,
        ),
    ]);
    f.render_widget(Paragraph::new(first), Rect { height: 1, ..area });
    // Notes go under the value, wrapped within its column.
    let notes_area = Rect {
        x: area.x + label_w.min(area.width),
        y: area.y + 1,
        width: area.width.saturating_sub(label_w),
        height: area.height.saturating_sub(1),
    };
    let lines: Vec<Line> = notes
        .iter()
        .map(|n| {
            Line::from(Span::styled(
                format!("{} {}", if n.error { "✗" } else { "!" }, escape(n.text)),
                if n.error { t.critical } else { t.warn },
            ))
        })
        .collect();
    if notes_area.height > 0 && notes_area.width > 0 {
        f.render_widget(
            Paragraph::new(lines).wrap(ratatui::widgets::Wrap { trim: false }),
            notes_area,
        );
    }
    if focused && let Some(c) = cursor {
        let x = area.x + label_w + (c.min(shown.chars().count()) as u16);
        if x < area.x + area.width {
            f.set_cursor_position((x, area.y));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(c: KeyCode) -> KeyEvent {
        KeyEvent::new(c, KeyModifiers::NONE)
    }

    #[test]
    fn line_editing_and_debug_hides_the_text() {
        let mut i = LineInput::new("http://p");
        for c in ":3128".chars() {
            assert!(i.key(&key(KeyCode::Char(c))));
        }
        assert_eq!(i.text(), "http://p:3128");
        i.key(&key(KeyCode::Home));
        i.key(&key(KeyCode::Delete));
        i.key(&key(KeyCode::End));
        i.key(&key(KeyCode::Backspace));
        assert_eq!(i.text(), "ttp://p:312");
        i.key(&key(KeyCode::Left));
        i.key(&key(KeyCode::Char('é')));
        assert_eq!(i.text(), "ttp://p:31é2");
        assert!(!i.key(&key(KeyCode::Tab)));
        assert!(!format!("{i:?}").contains("ttp"));
    }
}
