//! One file a pane.

pub mod certs;
pub mod detail;
pub mod engine_form;
pub mod header;
pub mod help;
pub mod keys;
pub mod logs;
pub mod nodes;
pub mod placeholder;
pub mod settings;
pub mod status;
pub mod token;
pub mod walk;

use ratatui::style::Style;

use super::Theme;
use crate::app::{CredCell, SshState};

/// Text and style of an SSH state cell.
pub fn ssh_cell(s: &SshState, t: &Theme) -> (String, Style) {
    match s {
        SshState::Pending => ("connecting".into(), t.unknown),
        SshState::Up { latency_ms } => (format!("ok {latency_ms}ms"), t.ok),
        SshState::Down(p) => (p.short().into(), t.critical),
    }
}

/// Text and style of a credential cell; narrow tables get the short form.
pub fn cred_cell(c: &CredCell, t: &Theme, long: bool) -> (String, Style) {
    match c {
        CredCell::Unknown => (
            (if long { "unknown (not read yet)" } else { "?" }).into(),
            t.unknown,
        ),
        CredCell::Loading => ((if long { "loading" } else { "…" }).into(), t.unknown),
        CredCell::Ok(s) => (if long { s.clone() } else { "ok".into() }, t.ok),
        CredCell::Warn(s) => (if long { s.clone() } else { "warn".into() }, t.warn),
        CredCell::Critical(s) if !long && s == "expired" => ("exp".into(), t.critical),
        CredCell::Critical(s) => (if long { s.clone() } else { "crit".into() }, t.critical),
    }
}
