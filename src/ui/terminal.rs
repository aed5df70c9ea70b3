//! Entering and leaving the full-screen terminal. The guard restores the
//! terminal on every way out: normal quit, error (drop) and panic (ratatui's
//! hook installed by `init`).

use ratatui::DefaultTerminal;

pub struct TerminalGuard {
    pub terminal: DefaultTerminal,
}

impl TerminalGuard {
    pub fn enter() -> TerminalGuard {
        TerminalGuard {
            terminal: ratatui::init(),
        }
    }
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        ratatui::restore();
    }
}
