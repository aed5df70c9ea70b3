//! Generic form pieces every walkthrough reuses: a one-line input whose
//! text is zeroised (it may hold a proxy password), a multi-line input for
//! pasted text (public keys, PEM bundles, registry YAML), and drawing a
//! labelled field with its problems under it.
//!
//! The one-line input is a small line editor rather than a ratatui-textarea:
//! the text must be zeroised, and what is shown (masked) differs from what
//! is held, which the textarea's buffer cannot do. The multi-line input is
//! ratatui-textarea (undo history off, lines wiped on drop); it shows what
//! it holds, so it is for text that is not a secret to the screen.

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

    /// Room for `extra` more bytes. `String` would reallocate by itself and
    /// free the old buffer with the text typed so far still in it (a
    /// password, a prefix of it); here the old buffer is wiped as it drops.
    fn reserve(&mut self, extra: usize) {
        let need = self.text.len() + extra;
        if need > self.text.capacity() {
            let mut bigger =
                Zeroizing::new(String::with_capacity(need.max(32).next_power_of_two()));
            bigger.push_str(&self.text);
            self.text = bigger;
        }
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
                self.reserve(c.len_utf8());
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

/// Rows `text` takes when wrapped at word boundaries to `width` columns
/// (as `Paragraph`'s wrap does, closely enough to leave room for it).
pub fn wrapped_rows(text: &str, width: u16) -> u16 {
    let width = width.max(1) as usize;
    let mut rows = 1u16;
    let mut used = 0usize;
    for word in text.split(' ') {
        let w = word.chars().count();
        let need = if used == 0 { w } else { used + 1 + w };
        if need <= width {
            used = need;
        } else {
            rows += 1;
            // A word longer than the line takes rows of its own.
            rows += (w.saturating_sub(1) / width) as u16;
            used = w % width;
        }
    }
    rows
}

/// Rows the notes under a field take at `width`.
pub fn note_rows(notes: &[FieldNote<'_>], width: u16) -> u16 {
    notes
        .iter()
        .map(|n| wrapped_rows(&format!("✗ {}", escape(n.text)), width))
        .sum()
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

/// Several lines of text being edited (ratatui-textarea underneath).
/// `Debug` never shows the text; the lines are wiped when it is dropped.
pub struct MultiLineInput {
    /// In a cell so that drawing (which sets the textarea's styles) needs
    /// only `&self`: the console draws from a shared `&App`.
    area: std::cell::RefCell<ratatui_textarea::TextArea<'static>>,
}

impl Default for MultiLineInput {
    fn default() -> Self {
        MultiLineInput::new("")
    }
}

impl std::fmt::Debug for MultiLineInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "MultiLineInput({} lines)",
            self.area.borrow().lines().len()
        )
    }
}

impl Drop for MultiLineInput {
    fn drop(&mut self) {
        use zeroize::Zeroize;
        for mut line in std::mem::take(self.area.get_mut()).into_lines() {
            line.zeroize();
        }
    }
}

/// What may be typed or pasted: no control characters (they would reach the
/// terminal when the field is drawn). Terminals paste line breaks as `\r`.
/// One pass into one buffer sized up front: no copy of a pasted key is left
/// behind unwiped.
fn clean(text: &str) -> Zeroizing<String> {
    let mut out = Zeroizing::new(String::with_capacity(text.len()));
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\r' {
            if chars.peek() == Some(&'\n') {
                chars.next();
            }
            out.push('\n');
        } else if c == '\n' || !c.is_control() {
            out.push(c);
        }
    }
    out
}

/// Room a line is given beyond its text, so that typing into it does not
/// reallocate (which would free the old buffer unwiped).
const LINE_ROOM: usize = 256;

/// A textarea holding `text`, each line with [`LINE_ROOM`] to spare.
fn textarea(text: &str) -> ratatui_textarea::TextArea<'static> {
    let lines: Vec<String> = text
        .split('\n')
        .map(|l| {
            let mut s = String::with_capacity(l.len() + LINE_ROOM);
            s.push_str(l);
            s
        })
        .collect();
    let mut area = ratatui_textarea::TextArea::new(lines);
    // Undo history would keep copies of every edit around.
    area.set_max_histories(0);
    area.set_cursor_line_style(Style::default());
    area
}

impl MultiLineInput {
    pub fn new(text: &str) -> Self {
        let mut area = textarea(&clean(text));
        // Typing goes on where the text ends, as in the one-line input.
        area.move_cursor(ratatui_textarea::CursorMove::Bottom);
        area.move_cursor(ratatui_textarea::CursorMove::End);
        MultiLineInput {
            area: std::cell::RefCell::new(area),
        }
    }

    /// Replaces the textarea by one holding `text` with the cursor at
    /// (row, col); the old lines are wiped.
    fn replace(&mut self, text: &str, (row, col): (usize, usize)) {
        use zeroize::Zeroize;
        let mut area = textarea(text);
        area.move_cursor(ratatui_textarea::CursorMove::Jump(
            row.min(u16::MAX as usize) as u16,
            col.min(u16::MAX as usize) as u16,
        ));
        let old = std::mem::replace(self.area.get_mut(), area);
        for mut line in old.into_lines() {
            line.zeroize();
        }
    }

    /// Before an edit at the cursor: when its line or the one above (which
    /// a backspace at the start joins it to) could grow out of its buffer,
    /// every line gets fresh room.
    fn make_room(&mut self) {
        let (row, col) = self.cursor();
        let tight = {
            let a = self.area.borrow();
            let lines = a.lines();
            let this = lines.get(row).map_or(0, String::len);
            let spare = |l: &String| l.capacity() - l.len();
            lines.get(row).is_some_and(|l| spare(l) < 8)
                || row
                    .checked_sub(1)
                    .and_then(|r| lines.get(r))
                    .is_some_and(|l| spare(l) < this + 8)
        };
        if tight {
            let text = self.value();
            self.replace(&text, (row, col));
        }
    }

    /// The cursor is after the last character of its line.
    fn at_line_end(&self) -> bool {
        let (row, col) = self.cursor();
        let a = self.area.borrow();
        a.lines().get(row).is_none_or(|l| l.chars().count() == col)
    }

    /// Line `row` and the next one made one (the cursor where they meet);
    /// false when there is no next line.
    fn join_with_next(&mut self, row: usize) -> bool {
        let joined = {
            let a = self.area.borrow();
            let lines = a.lines();
            if row + 1 >= lines.len() {
                return false;
            }
            let mut out = Zeroizing::new(String::with_capacity(
                lines.iter().map(|l| l.len() + 1).sum::<usize>(),
            ));
            for (i, l) in lines.iter().enumerate() {
                if i > 0 && i != row + 1 {
                    out.push('\n');
                }
                out.push_str(l);
            }
            (out, (row, lines[row].chars().count()))
        };
        self.replace(&joined.0, joined.1);
        true
    }

    /// The text, wiped when dropped.
    pub fn value(&self) -> Zeroizing<String> {
        Zeroizing::new(self.area.borrow().lines().join("\n"))
    }

    /// The text, lines joined with `\n`.
    pub fn text(&self) -> String {
        self.area.borrow().lines().join("\n")
    }

    /// The lines (a copy).
    pub fn lines(&self) -> Vec<String> {
        self.area.borrow().lines().to_vec()
    }

    /// How many lines the text has.
    pub fn line_count(&self) -> usize {
        self.area.borrow().lines().len()
    }

    /// Nothing typed (one empty line).
    pub fn is_empty(&self) -> bool {
        self.area.borrow().lines().iter().all(|l| l.is_empty())
    }

    /// The cursor is on the last line, and that line is empty.
    pub fn at_empty_last_line(&self) -> bool {
        let a = self.area.borrow();
        let (row, _) = self.cursor();
        row + 1 == a.lines().len() && a.lines().last().is_some_and(|l| l.is_empty())
    }

    /// (row, column) of the cursor, in lines and chars.
    pub fn cursor(&self) -> (usize, usize) {
        let ratatui_textarea::DataCursor(row, col) = self.area.borrow().cursor();
        (row, col)
    }

    /// Edits for a key; false for the keys the form itself uses (tab,
    /// shift-tab, esc) and for keys that changed nothing.
    pub fn key(&mut self, k: &KeyEvent) -> bool {
        match k.code {
            KeyCode::Tab | KeyCode::BackTab | KeyCode::Esc => false,
            KeyCode::Char(c) if c.is_control() => false,
            // Joining two lines: the textarea would free the second one
            // unwiped.
            KeyCode::Backspace if k.modifiers.is_empty() && self.cursor().1 == 0 => {
                match self.cursor().0.checked_sub(1) {
                    Some(row) => self.join_with_next(row),
                    None => false,
                }
            }
            KeyCode::Delete if k.modifiers.is_empty() && self.at_line_end() => {
                self.join_with_next(self.cursor().0)
            }
            _ => {
                self.make_room();
                let before = (self.cursor(), self.line_count());
                let changed = self.area.get_mut().input(*k);
                changed || before != (self.cursor(), self.line_count())
            }
        }
    }

    /// A bracketed paste: inserted at the cursor, control characters dropped.
    /// The text is rebuilt around it in buffers sized up front (the
    /// textarea's own insert leaves copies of what was pasted unwiped).
    pub fn paste(&mut self, text: &str) {
        let pasted = clean(text);
        let (row, col) = self.cursor();
        let (joined, cursor) = {
            let a = self.area.borrow();
            let lines = a.lines();
            let mut out = Zeroizing::new(String::with_capacity(
                lines.iter().map(|l| l.len() + 1).sum::<usize>() + pasted.len(),
            ));
            for (i, l) in lines.iter().enumerate() {
                if i > 0 {
                    out.push('\n');
                }
                if i == row {
                    let at = l.char_indices().nth(col).map_or(l.len(), |(b, _)| b);
                    out.push_str(&l[..at]);
                    out.push_str(&pasted);
                    out.push_str(&l[at..]);
                } else {
                    out.push_str(l);
                }
            }
            let breaks = pasted.matches('\n').count();
            let tail = pasted.rsplit('\n').next().unwrap_or("").chars().count();
            let col = if breaks == 0 { col + tail } else { tail };
            (out, (row + breaks, col))
        };
        self.replace(&joined, cursor);
    }

    /// Draws the field: its label on the first line, the text in a bordered
    /// box under it (styled by focus), the notes under the box.
    pub fn draw(&self, f: &mut Frame, area: Rect, view: &MultiLineView<'_>, t: &Theme) {
        if area.height == 0 {
            return;
        }
        let marker = if view.focused { "> " } else { "  " };
        f.render_widget(
            Paragraph::new(Line::from(vec![
                Span::styled(marker, t.accent),
                Span::styled(view.label.to_string(), t.dim),
            ])),
            Rect { height: 1, ..area },
        );
        let notes = note_rows(view.notes, area.width);
        let box_h = area
            .height
            .saturating_sub(1 + notes)
            .max(area.height.min(3));
        let box_area = Rect {
            y: area.y + 1,
            height: box_h.min(area.height.saturating_sub(1)),
            ..area
        };
        let border = if view.focused { t.accent } else { t.dim };
        let mut a = self.area.borrow_mut();
        a.set_block(ratatui::widgets::Block::bordered().border_style(border));
        a.set_style(if view.focused { t.input } else { t.base });
        a.set_cursor_style(if view.focused {
            Style::default().add_modifier(ratatui::style::Modifier::REVERSED)
        } else {
            Style::default()
        });
        f.render_widget(&*a, box_area);
        drop(a);
        let below = box_area.y + box_area.height;
        let lines: Vec<Line> = view
            .notes
            .iter()
            .map(|n| {
                Line::from(Span::styled(
                    format!("{} {}", if n.error { "✗" } else { "!" }, escape(n.text)),
                    if n.error { t.critical } else { t.warn },
                ))
            })
            .collect();
        let notes_area = Rect {
            y: below,
            height: (area.y + area.height).saturating_sub(below),
            ..area
        };
        if notes_area.height > 0 {
            f.render_widget(
                Paragraph::new(lines).wrap(ratatui::widgets::Wrap { trim: false }),
                notes_area,
            );
        }
    }
}

/// What a multi-line field shows besides its text.
#[derive(Clone, Copy)]
pub struct MultiLineView<'a> {
    pub label: &'a str,
    pub focused: bool,
    pub notes: &'a [FieldNote<'a>],
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

    #[test]
    fn multi_line_editing_keeps_lines_drops_control_characters_and_hides_in_debug() {
        let mut m = MultiLineInput::new("ssh-ed25519 AAAA one\r\n");
        assert_eq!(m.lines(), ["ssh-ed25519 AAAA one", ""]);
        m.paste("ssh-rsa BBBB two\x1b[2J\rthird");
        assert_eq!(m.text(), "ssh-ed25519 AAAA one\nssh-rsa BBBB two[2J\nthird");
        assert!(m.key(&key(KeyCode::Enter)));
        for c in "x".chars() {
            assert!(m.key(&key(KeyCode::Char(c))));
        }
        assert_eq!(m.lines().len(), 4);
        assert_eq!(m.lines()[3], "x");
        assert!(m.key(&key(KeyCode::Backspace)));
        assert!(m.key(&key(KeyCode::Backspace)));
        assert_eq!(m.text(), "ssh-ed25519 AAAA one\nssh-rsa BBBB two[2J\nthird");
        // The form's own keys are left to the form.
        for k in [KeyCode::Tab, KeyCode::BackTab, KeyCode::Esc] {
            assert!(!m.key(&key(k)));
        }
        assert_eq!(format!("{m:?}"), "MultiLineInput(3 lines)");
    }

    #[test]
    fn multi_line_field_draws_label_box_text_and_notes() {
        use ratatui::Terminal;
        use ratatui::backend::TestBackend;
        let m = MultiLineInput::new("ssh-ed25519 AAAAC3Nza one@host\nssh-rsa AAAAB3Nza two@host");
        let theme = Theme::default_theme();
        let mut term = Terminal::new(TestBackend::new(40, 7)).unwrap();
        term.draw(|f| {
            m.draw(
                f,
                f.area(),
                &MultiLineView {
                    label: "authorized keys",
                    focused: true,
                    notes: &[FieldNote {
                        error: true,
                        text: "line 2: RSA key under 2048 bits",
                    }],
                },
                &theme,
            )
        })
        .unwrap();
        let buf = term.backend().buffer();
        let rows: Vec<String> = crate::ui::buffer_lines(buf);
        assert_eq!(
            rows,
            [
                "> authorized keys",
                "┌──────────────────────────────────────┐",
                "│ssh-ed25519 AAAAC3Nza one@host        │",
                "│ssh-rsa AAAAB3Nza two@host            │",
                "│                                      │",
                "└──────────────────────────────────────┘",
                "✗ line 2: RSA key under 2048 bits",
            ]
        );
    }
}
