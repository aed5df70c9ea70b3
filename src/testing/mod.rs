//! Cross-cutting tests (issue 19): hostile remote text through every place it
//! is shown, and properties of the parsers that read remote data.

pub mod hostile;

mod cli_outputs;
mod display;
mod fields;
mod freed;
mod parsers;
mod walks;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use crate::app::{App, Effect, Msg, NodeInfo, Role, Setup};

/// A key pressed on the console.
fn press(app: &mut App, code: KeyCode) -> Vec<Effect> {
    app.update(Msg::Key(KeyEvent::new(code, KeyModifiers::NONE)))
}

/// A console (not read-only) whose API lists these servers, by name and
/// address.
fn console_of(nodes: &[(&str, &str)]) -> App {
    let mut app = App::new(Setup {
        read_only: false,
        inventory: Vec::new(),
        kube: Ok(()),
        notice: None,
        theme: "dark".into(),
    });
    app.update(Msg::NodesListed(
        nodes
            .iter()
            .map(|(name, address)| NodeInfo {
                name: name.to_string(),
                role: Role::Server,
                address: Some(address.to_string()),
                ready: Some(true),
            })
            .collect(),
    ));
    app
}

/// A console with two servers named and addressed with hostile `text`,
/// both marked (a walk's targets).
fn hostile_console(text: &str) -> App {
    let (a, b) = display::names(text);
    let mut app = console_of(&[(&a, text), (&b, text)]);
    press(&mut app, KeyCode::Char(' '));
    press(&mut app, KeyCode::Char('j'));
    press(&mut app, KeyCode::Char(' '));
    app
}
