//! Entering and leaving the full-screen terminal. The guard restores the
//! terminal on every way out: normal quit, error (drop) and panic (ratatui's
//! hook installed by `init`).

use ratatui::DefaultTerminal;

pub struct TerminalGuard {
    pub terminal: DefaultTerminal,
}

impl TerminalGuard {
    pub fn enter() -> TerminalGuard {
        let terminal = ratatui::init();
        // Pasted text arrives as one event (keys into a form's field),
        // not as keys that would each mean something.
        let _ = crossterm::execute!(std::io::stdout(), crossterm::event::EnableBracketedPaste);
        TerminalGuard { terminal }
    }
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        let _ = crossterm::execute!(std::io::stdout(), crossterm::event::DisableBracketedPaste);
        ratatui::restore();
    }
}
