//! `:` commands and their completion.

use super::View;

pub struct Command {
    pub name: &'static str,
    pub aliases: &'static [&'static str],
    pub what: &'static str,
    /// Changes something on the cluster: refused in read-only mode.
    pub mutating: bool,
}

pub const COMMANDS: &[Command] = &[
    Command {
        name: "nodes",
        aliases: &["node", "no"],
        what: "node table",
        mutating: false,
    },
    Command {
        name: "certs",
        aliases: &["cert", "certificates"],
        what: "certificates",
        mutating: false,
    },
    Command {
        name: "keys",
        aliases: &["key"],
        what: "SSH keys",
        mutating: false,
    },
    Command {
        name: "token",
        aliases: &[],
        what: "cluster token copies",
        mutating: false,
    },
    Command {
        name: "logs",
        aliases: &["log"],
        what: "node logs",
        mutating: false,
    },
    Command {
        name: "proxy",
        aliases: &[],
        what: "change the HTTP proxy (guided)",
        mutating: true,
    },
    Command {
        name: "password",
        aliases: &[],
        what: "change the rancher password on nodes (guided)",
        mutating: true,
    },
    Command {
        name: "autorotate",
        aliases: &["auto-rotate"],
        what: "RKE2 certificate auto-rotation on/off, expiringInHours (guided)",
        mutating: true,
    },
    Command {
        name: "rotate",
        aliases: &[],
        what: "rotate every node's RKE2 certificates now, through Rancher (guided)",
        mutating: true,
    },
    Command {
        name: "rotate-node",
        aliases: &[],
        what: "rotate RKE2 certificates on nodes by hand, one at a time (guided)",
        mutating: true,
    },
    Command {
        name: "fix-kcm",
        aliases: &["fixkcm"],
        what: "replace expired self-signed controller-manager/scheduler certificates (guided)",
        mutating: true,
    },
    Command {
        name: "settings",
        aliases: &[],
        what: "Harvester settings",
        mutating: false,
    },
    Command {
        name: "help",
        aliases: &["h"],
        what: "keys of this pane",
        mutating: false,
    },
    Command {
        name: "q",
        aliases: &["quit", "q!", "exit"],
        what: "quit",
        mutating: false,
    },
];

pub fn find(input: &str) -> Option<&'static Command> {
    let w = input.trim();
    COMMANDS
        .iter()
        .find(|c| c.name == w || c.aliases.contains(&w))
}

/// Command names that start with what was typed, in table order.
pub fn completions(input: &str, read_only: bool) -> Vec<&'static str> {
    let w = input.trim_start();
    COMMANDS
        .iter()
        .filter(|c| !(read_only && c.mutating))
        .filter(|c| c.name.starts_with(w))
        .map(|c| c.name)
        .collect()
}

/// The view a command opens, if it is a view.
pub fn view_of(name: &str) -> Option<View> {
    Some(match name {
        "nodes" => View::Nodes,
        "certs" => View::Certs,
        "keys" => View::Keys,
        "logs" => View::Logs,
        "settings" => View::Settings,
        _ => return None,
    })
}
