//! The `:keys` view's state: the key x node matrix built from the sweeps
//! read so far (the same `key_matrix` as `harvcred keys list`), scrolled,
//! with a cursor on a key; and its two engine forms: `a` adds pasted public
//! keys, `d` removes the key under the cursor (`flows::keys`).

use crossterm::event::KeyCode;

use super::engine_form::{Field, FieldInput, FormSpec};
use super::walk::TargetChoice;
use super::{App, Effect, Flash, NodeSweep};
use crate::creds::keys::{KeyMatrix, NodeKeys, key_matrix};
use crate::flows::keys::{AddDraft, AddKeys, RemoveDraft, RemoveKeys};

/// The view's own state: the first line on screen and the key under the cursor.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeysView {
    pub offset: usize,
    /// Index of the key (matrix row) under the cursor.
    pub cursor: usize,
}

/// `a` in `:keys`: public keys pasted, one a line (or `github:USER`).
pub struct AddKeysForm;

impl FormSpec for AddKeysForm {
    type Change = AddKeys;
    const NAME: &'static str = "keys add";

    fn title(&self) -> String {
        " public keys to add for rancher: one a line, or github:USER (paste) ".into()
    }
    fn fields(&self) -> Vec<Field> {
        vec![Field::text("keys")]
    }
    fn change(&self) -> AddKeys {
        AddKeys
    }
    /// Every node: one CloudInit for all of them (also nodes that join
    /// later), as `keys add --all`.
    fn draft(&self, fields: &[Field], choice: TargetChoice) -> AddDraft {
        AddDraft {
            text: fields
                .first()
                .map(|f| f.value().to_string())
                .unwrap_or_default(),
            for_all: choice == TargetChoice::All,
        }
    }
}

/// `d` in `:keys`: the key under the cursor, from the chosen nodes.
pub struct RemoveKeyForm {
    pub fingerprint: String,
}

impl FormSpec for RemoveKeyForm {
    type Change = RemoveKeys;
    const NAME: &'static str = "keys remove";

    fn title(&self) -> String {
        format!(
            " remove {} · prove with: a private key file that stays (optional) ",
            self.fingerprint
        )
    }
    fn fields(&self) -> Vec<Field> {
        vec![Field::line("prove with")]
    }
    fn change(&self) -> RemoveKeys {
        RemoveKeys
    }
    fn draft(&self, fields: &[Field], _: TargetChoice) -> RemoveDraft {
        let path = match fields.first().map(|f| &f.input) {
            Some(FieldInput::Line { input, .. }) => input.text().trim().to_string(),
            _ => String::new(),
        };
        RemoveDraft {
            fingerprints: vec![self.fingerprint.clone()],
            prove_with: (!path.is_empty()).then(|| expand_home(&path)),
        }
    }
    /// The key is proven when the nodes are read: another file, another read.
    fn reload(&self, loaded: &RemoveDraft, now: &RemoveDraft) -> bool {
        loaded.prove_with != now.prove_with
    }
}

/// `~/x` as the operator means it.
fn expand_home(path: &str) -> std::path::PathBuf {
    match (path.strip_prefix("~/"), std::env::var_os("HOME")) {
        (Some(rest), Some(home)) => std::path::PathBuf::from(home).join(rest),
        _ => std::path::PathBuf::from(path),
    }
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

    /// Keys of the view that move or scroll; false when the key is not one
    /// of them. `j`/`k` move the cursor from key to key (the view follows),
    /// the others scroll the page.
    pub(super) fn key_keys_view(&mut self, code: KeyCode, ctrl: bool) -> bool {
        let page = crate::ui::full_body_rows(self.size.0, self.size.1).max(1) as isize;
        let m = self.key_matrix();
        let keys = m.keys.len();
        let lines = crate::ui::panes::keys::line_count(&m);
        let last = lines.saturating_sub(page as usize);
        let v = &mut self.keys_view;
        let step = match code {
            KeyCode::Char('j') | KeyCode::Down => 1,
            KeyCode::Char('k') | KeyCode::Up => -1,
            _ => 0,
        };
        if step != 0 {
            v.cursor =
                (v.cursor as isize + step).clamp(0, keys.saturating_sub(1) as isize) as usize;
            // The key's line (under the header) stays on screen.
            let line = v.cursor + 1;
            if line < v.offset + 1 {
                v.offset = line.saturating_sub(1);
            } else if line >= v.offset + page as usize {
                v.offset = line + 1 - page as usize;
            }
            v.offset = v.offset.min(last);
            return true;
        }
        let delta = match code {
            KeyCode::PageDown => page,
            KeyCode::Char('f') if ctrl => page,
            KeyCode::PageUp => -page,
            KeyCode::Char('b') if ctrl => -page,
            KeyCode::Char('g') | KeyCode::Home => {
                v.cursor = 0;
                isize::MIN / 2
            }
            KeyCode::Char('G') | KeyCode::End => {
                v.cursor = keys.saturating_sub(1);
                isize::MAX / 2
            }
            _ => return false,
        };
        v.offset = (v.offset as isize + delta).clamp(0, last as isize) as usize;
        true
    }

    /// The key under the cursor (the matrix may have shrunk since).
    pub fn key_under_cursor(&self) -> Option<String> {
        let m = self.key_matrix();
        let i = self.keys_view.cursor.min(m.keys.len().checked_sub(1)?);
        Some(m.keys[i].fingerprint.clone())
    }

    fn refused_read_only(&mut self, what: &str) -> bool {
        if self.read_only {
            self.flash = Some(Flash {
                error: true,
                text: format!("{what} changes the cluster: refused in read-only mode"),
            });
        }
        self.read_only
    }

    /// `a` in `:keys`: the add form over the marked nodes (else the selected one).
    pub(super) fn open_keys_add(&mut self) -> Vec<Effect> {
        if self.refused_read_only("adding keys") {
            return Vec::new();
        }
        self.open_form(AddKeysForm)
    }

    /// `d` in `:keys`: the remove form for the key under the cursor.
    pub(super) fn open_keys_remove(&mut self) -> Vec<Effect> {
        if self.refused_read_only("removing a key") {
            return Vec::new();
        }
        let Some(fingerprint) = self.key_under_cursor() else {
            self.flash = Some(Flash {
                error: true,
                text: "no key to remove: no node read yet (r reads every node)".into(),
            });
            return Vec::new();
        };
        self.open_form(RemoveKeyForm { fingerprint })
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
    fn the_cursor_moves_key_by_key_and_the_view_scrolls_within_its_lines() {
        let mut app = with_drift();
        app.update(Msg::Resize {
            width: 100,
            height: 10,
        });
        let lines = crate::ui::panes::keys::line_count(&app.key_matrix());
        let page = crate::ui::full_body_rows(100, 10);
        assert!(
            lines > page,
            "{lines} lines, {page} a page: the test needs scrolling"
        );
        let key = |c| Msg::Key(KeyEvent::new(c, KeyModifiers::NONE));
        let shown = |app: &App| {
            let (o, c) = (app.keys_view.offset, app.keys_view.cursor + 1);
            assert!(o <= c && c < o + page, "key line {c} off the page at {o}");
        };
        app.update(key(KeyCode::Char('j')));
        assert_eq!(app.key_under_cursor().as_deref(), Some(K2_FP));
        shown(&app);
        for _ in 0..5 {
            app.update(key(KeyCode::Char('j')));
        }
        assert_eq!(
            app.key_under_cursor().as_deref(),
            Some(K3_FP),
            "the last key"
        );
        shown(&app);
        app.update(key(KeyCode::Char('G')));
        assert_eq!(app.keys_view.offset, lines - page);
        app.update(key(KeyCode::Char('k')));
        assert_eq!(app.key_under_cursor().as_deref(), Some(K2_FP));
        shown(&app);
        app.update(key(KeyCode::Char('g')));
        assert_eq!((app.keys_view.offset, app.keys_view.cursor), (0, 0));
        // Still the view: scrolling keys did not leave it.
        assert_eq!(*app.view(), View::Keys);
    }
}
