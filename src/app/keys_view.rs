//! The `:keys` view's state: the key x node matrix built from the sweeps
//! read so far (the same `key_matrix` as `harvcred keys list`), scrolled.

use crossterm::event::KeyCode;

use super::{App, NodeSweep};
use crate::creds::keys::{KeyMatrix, NodeKeys, key_matrix};

/// The view's own state: the first line on screen.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeysView {
    pub offset: usize,
}

impl App {
    /// The matrix of every node whose sweep is done, in the table's order of names.
    pub fn key_matrix(&self) -> KeyMatrix {
        let mut nodes: Vec<NodeKeys> = self
            .sweeps
            .iter()
            .filter_map(|(node, s)| match s {
                NodeSweep::Done(r) => Some(NodeKeys {
                    node: node.clone(),
                    runtime: r.runtime_keys.clone(),
                    persisted: r
                        .persisted_keys
                        .iter()
                        .map(|k| (k.source.clone(), k.key.clone()))
                        .collect(),
                    login: r.login_fingerprint.clone(),
                }),
                _ => None,
            })
            .collect();
        nodes.sort_by(|a, b| crate::model::natural_cmp(&a.node, &b.node));
        key_matrix(&nodes)
    }

    /// Scrolling keys of the view; false when the key is not one of them.
    pub(super) fn key_keys_view(&mut self, code: KeyCode, ctrl: bool) -> bool {
        let page = crate::ui::full_body_rows(self.size.0, self.size.1).max(1) as isize;
        let delta = match code {
            KeyCode::Char('j') | KeyCode::Down => 1,
            KeyCode::Char('k') | KeyCode::Up => -1,
            KeyCode::PageDown => page,
            KeyCode::Char('f') if ctrl => page,
            KeyCode::PageUp => -page,
            KeyCode::Char('b') if ctrl => -page,
            KeyCode::Char('g') | KeyCode::Home => isize::MIN / 2,
            KeyCode::Char('G') | KeyCode::End => isize::MAX / 2,
            _ => return false,
        };
        let lines = crate::ui::panes::keys::line_count(&self.key_matrix());
        let last = lines.saturating_sub(page as usize);
        self.keys_view.offset =
            (self.keys_view.offset as isize + delta).clamp(0, last as isize) as usize;
        true
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::collections::BTreeMap;
    use std::sync::Arc;

    use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

    use super::*;
    use crate::app::msg::Shared;
    use crate::app::{Msg, NodeInfo, Role, Setup, View};
    use crate::creds::keys::{AuthorizedKey, parse_key_line};
    use crate::creds::report::{KeySource, NodeReport};
    use crate::status::NodeOutcome;

    pub const K1: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAILuSpYfplnBhkanPLUqkQdBjM9i8PuIe8wDz2TOTPPWJ admin@ops";
    pub const K1_FP: &str = "SHA256:Bhg7otMAyyBL243LVSmm1ZapdwksrACXvHopgQ8pTfQ";
    /// Its comment carries a terminal escape (remote text).
    pub const K2: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB/D7Ci3LDkzfMMNC9mEojkoolkoibXojleq8kTA/peu evil\x1b[2Jx";
    pub const K2_FP: &str = "SHA256:m/nt9TKKKxoV5tfOweUrG8yz6yu/Z4vOORqwMDY84Z8";
    pub const K3: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKCw1JTCZWwJarAjA83rOlu6feUsT5MA+kErkYNFN5kF boot@oem";
    pub const K3_FP: &str = "SHA256:aPaXkPWbxkIQfm3eULcGTzxprI9fUEY4pO+Ghzv5990";
    const OEM: &str = "/oem/90_custom.yaml: stages.network[0].authorized_keys.rancher";

    fn k(line: &str) -> AuthorizedKey {
        parse_key_line(line, 1).unwrap().unwrap()
    }

    fn report(node: &str, runtime: &[&str], persisted: &[&str], login: Option<&str>) -> NodeReport {
        NodeReport {
            node: node.into(),
            areas: BTreeMap::new(),
            certs: Vec::new(),
            runtime_keys: runtime.iter().map(|l| k(l)).collect(),
            persisted_keys: persisted
                .iter()
                .map(|l| KeySource {
                    source: OEM.into(),
                    key: k(l),
                })
                .collect(),
            tokens: Vec::new(),
            login_fingerprint: login.map(str::to_string),
        }
    }

    /// Two nodes read: node1 has K1 (both, logged in with) and K2 runtime
    /// only; node2 has K1 (both) and K3 persisted only. node3 not read yet.
    pub fn with_drift() -> App {
        let mut app = App::new(Setup {
            read_only: false,
            inventory: Vec::new(),
            kube: Ok(()),
            notice: None,
            theme: "dark".into(),
        });
        let node = |name: &str, ip: &str| NodeInfo {
            name: name.into(),
            role: Role::Server,
            address: Some(ip.into()),
            ready: Some(true),
        };
        app.update(Msg::NodesListed(vec![
            node("node1", "10.0.0.11"),
            node("node2", "10.0.0.12"),
            node("node3", "10.0.0.13"),
        ]));
        for r in [
            report("node2", &[K1], &[K1, K3], None),
            report("node1", &[K1, K2], &[K1], Some(K1_FP)),
        ] {
            app.update(Msg::NodeSwept {
                node: r.node.clone(),
                outcome: Shared::new(NodeOutcome::Report(Arc::new(r))),
                network: Shared::new(Default::default()),
            });
        }
        for c in ":keys".chars() {
            app.update(Msg::Key(KeyEvent::new(
                KeyCode::Char(c),
                KeyModifiers::NONE,
            )));
        }
        app.update(Msg::Key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE)));
        app
    }

    #[test]
    fn the_matrix_holds_the_nodes_read_with_drift_and_the_login_key() {
        let app = with_drift();
        assert_eq!(*app.view(), View::Keys);
        let m = app.key_matrix();
        // node3 is not read yet: no column guessed for it.
        assert_eq!(m.nodes, ["node1", "node2"]);
        let row = |fp: &str| m.keys.iter().find(|r| r.fingerprint == fp).unwrap();
        assert!(row(K1_FP).drift.is_empty());
        assert!(row(K1_FP).nodes["node1"].login);
        assert!(!row(K1_FP).nodes["node2"].login);
        assert_eq!(row(K2_FP).drift, ["runtime only"]);
        assert_eq!(row(K3_FP).drift, ["persisted only"]);
        assert_eq!(row(K3_FP).nodes["node2"].sources, [OEM]);
    }

    #[test]
    fn the_view_scrolls_within_its_lines() {
        let mut app = with_drift();
        app.update(Msg::Resize {
            width: 100,
            height: 10,
        });
        let key = |c| Msg::Key(KeyEvent::new(c, KeyModifiers::NONE));
        app.update(key(KeyCode::Char('j')));
        assert_eq!(app.keys_view.offset, 1);
        app.update(key(KeyCode::Char('G')));
        let lines = crate::ui::panes::keys::line_count(&app.key_matrix());
        let page = crate::ui::full_body_rows(100, 10);
        assert_eq!(app.keys_view.offset, lines - page);
        app.update(key(KeyCode::Char('g')));
        assert_eq!(app.keys_view.offset, 0);
        // Still the view: scrolling keys did not leave it.
        assert_eq!(*app.view(), View::Keys);
    }
}
