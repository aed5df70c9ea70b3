//! The node detail view's own state: which credential tab is shown and how
//! far it is scrolled. App routes the view's keys here.

use crossterm::event::KeyCode;

use crate::creds::report::Area;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DetailView {
    pub tab: Area,
    /// First line of the tab shown.
    pub scroll: u16,
}

impl Default for DetailView {
    fn default() -> Self {
        DetailView {
            tab: Area::Certificates,
            scroll: 0,
        }
    }
}

impl DetailView {
    /// The view's keys; false when `code` is not one of them.
    pub fn key(&mut self, code: KeyCode, ctrl: bool, page: u16) -> bool {
        match code {
            KeyCode::Tab => self.show(next_area(self.tab, 1)),
            KeyCode::BackTab => self.show(next_area(self.tab, -1)),
            KeyCode::Char(c @ '1'..='5') => self.show(Area::ALL[(c as u8 - b'1') as usize]),
            KeyCode::PageDown => self.scroll = self.scroll.saturating_add(page),
            KeyCode::Char('d') if ctrl => self.scroll = self.scroll.saturating_add(page),
            KeyCode::PageUp => self.scroll = self.scroll.saturating_sub(page),
            KeyCode::Char('u') if ctrl => self.scroll = self.scroll.saturating_sub(page),
            _ => return false,
        }
        true
    }

    fn show(&mut self, tab: Area) {
        self.tab = tab;
        self.scroll = 0;
    }
}

/// The area `delta` tabs away, wrapping around.
fn next_area(a: Area, delta: isize) -> Area {
    let i = Area::ALL.iter().position(|x| *x == a).unwrap_or(0) as isize;
    Area::ALL[(i + delta).rem_euclid(Area::ALL.len() as isize) as usize]
}
