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

/// The view's own state: the first line on screen, the key under the
/// cursor, the keys marked with `space` (what `d` removes).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeysView {
    pub offset: usize,
    /// Index of the key (matrix row) under the cursor.
    pub cursor: usize,
    /// Fingerprints of the marked keys.
    pub marked: std::collections::BTreeSet<String>,
}

/// `a` in `:keys`: public keys pasted, one a line (or `github:USER`).
pub struct AddKeysForm;

impl FormSpec for AddKeysForm {
    type Change = AddKeys;
    const NAME: &'static str = "keys add";

    fn title(&self) -> String {
        " public keys, one a line, or a .pub file · enter on an empty last line: preview ".into()
    }
    fn fields(&self) -> Vec<Field> {
        vec![Field::text("keys"), Field::line("key file")]
    }
    fn change(&self) -> AddKeys {
        AddKeys
    }
    /// Every node: one CloudInit for all of them (also nodes that join
    /// later), as `keys add --all`.
    fn draft(&self, fields: &[Field], choice: TargetChoice) -> AddDraft {
        let path = fields
            .get(1)
            .map(|f| f.value().trim().to_string())
            .unwrap_or_default();
        AddDraft {
            text: fields
                .first()
                .map(|f| f.value().to_string())
                .unwrap_or_default(),
            for_all: choice == TargetChoice::All,
            key_file: (!path.is_empty()).then(|| expand_home(&path)),
        }
    }
    /// The file is read with the nodes: another file, another read.
    fn reload(&self, loaded: &AddDraft, now: &AddDraft) -> bool {
        loaded.key_file != now.key_file
    }
}

/// `d` in `:keys`: the marked keys (else the one under the cursor), from
/// the chosen nodes.
pub struct RemoveKeyForm {
    pub fingerprints: Vec<String>,
}

impl FormSpec for RemoveKeyForm {
    type Change = RemoveKeys;
    const NAME: &'static str = "keys remove";

    fn title(&self) -> String {
        let what = match &self.fingerprints[..] {
            [one] => one.clone(),
            many => format!("{} keys", many.len()),
        };
        format!(" remove {what} · key file: prove a key that stays ")
    }
    fn fields(&self) -> Vec<Field> {
        vec![Field::line("key file")]
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
            fingerprints: self.fingerprints.clone(),
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
        if code == KeyCode::Char(' ') {
            // Marks the key, then on to the next one, as the node table does.
            if let Some(k) = m.keys.get(v.cursor.min(keys.saturating_sub(1)))
                && !v.marked.remove(&k.fingerprint)
            {
                v.marked.insert(k.fingerprint.clone());
            }
        }
        let step = match code {
            KeyCode::Char(' ') => 1,
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

    /// `d` in `:keys`: the remove form for the marked keys still shown,
    /// else the key under the cursor.
    pub(super) fn open_keys_remove(&mut self) -> Vec<Effect> {
        if self.refused_read_only("removing a key") {
            return Vec::new();
        }
        let shown = self.key_matrix();
        let marked: Vec<String> = shown
            .keys
            .iter()
            .map(|k| k.fingerprint.clone())
            .filter(|fp| self.keys_view.marked.contains(fp))
            .collect();
        let fingerprints = match (marked.is_empty(), self.key_under_cursor()) {
            (false, _) => marked,
            (true, Some(fp)) => vec![fp],
            (true, None) => {
                self.flash = Some(Flash {
                    error: true,
                    text: "no key to remove: no node read yet (r reads every node)".into(),
                });
                return Vec::new();
            }
        };
        self.keys_view.marked.clear();
        self.open_form(RemoveKeyForm { fingerprints })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::collections::BTreeMap;
    use std::sync::Arc;

    use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

    use super::*;
    use crate::app::engine_form::EngineForm;
    use crate::app::engine_form::tests::{
        all_nodes_succeed, walk_actions, walk_answer, walk_requests,
    };
    use crate::app::msg::{Pasted, Shared};
    use crate::app::{Msg, NodeInfo, Role, Setup, View};
    use crate::creds::keys::{AuthorizedKey, parse_key_line};
    use crate::creds::report::{KeySource, NodeReport};
    use crate::flows::Step;
    use crate::flows::engine::{Action, Event};
    use crate::flows::keys::{KeyFacts, NodeFacts};
    use crate::status::NodeOutcome;
    use zeroize::Zeroizing;

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

    fn press(app: &mut App, code: KeyCode) -> Vec<Effect> {
        app.update(Msg::Key(KeyEvent::new(code, KeyModifiers::NONE)))
    }

    /// What a walk reads: every node has K1 at runtime (harvcred logged in
    /// with it) and K2 on node1; the cluster has CloudInit.
    pub fn key_facts() -> KeyFacts {
        let node = |runtime: &str| NodeFacts {
            runtime: Some(Zeroizing::new(runtime.as_bytes().to_vec())),
            oem: Default::default(),
            login: Some(K1_FP.into()),
        };
        KeyFacts {
            nodes: [
                ("node1".to_string(), node(&format!("{K1}\n{K2}\n"))),
                ("node2".to_string(), node(&format!("{K1}\n"))),
                ("node3".to_string(), node(&format!("{K1}\n"))),
            ]
            .into(),
            cloudinit_served: true,
            ..Default::default()
        }
    }

    pub fn add_form(app: &App) -> &EngineForm<AddKeysForm> {
        app.form_of::<AddKeysForm>().expect("the add form is open")
    }

    fn remove_form(app: &App) -> &EngineForm<RemoveKeyForm> {
        app.form_of::<RemoveKeyForm>()
            .expect("the remove form is open")
    }

    /// `:keys`, `a`, the nodes read, `text` pasted: the add form at its field.
    pub fn add_form_with(text: &str) -> App {
        let mut app = with_drift();
        let fx = press(&mut app, KeyCode::Char('a'));
        assert_eq!(*app.view(), View::Walk("keys add"));
        let loads = walk_actions::<AddKeys>(&fx);
        assert!(matches!(loads[..], [(_, Action::Load)]), "{loads:?}");
        let walk = add_form(&app).walk.correlation_id.clone();
        walk_answer::<AddKeys>(&mut app, &walk, Event::Loaded(key_facts()));
        app.update(Msg::Paste(Pasted(text.to_string().into())));
        app
    }

    #[test]
    fn a_adds_pasted_keys_previews_per_node_and_the_nodes_are_read_again_when_done() {
        let mut app = add_form_with(&format!("{K1}\n{K3}\n"));
        let f = add_form(&app);
        // Nothing marked: the selected node of the table.
        assert_eq!(f.walk.targets, ["node1"]);
        assert_eq!(f.walk.step, Step::Edit);
        let notes: Vec<String> = f
            .walk
            .problems
            .iter()
            .map(|p| format!("{}: {}", p.field, p.message))
            .collect();
        assert!(
            notes.len() == 1 && notes[0].contains(K1_FP) && notes[0].contains("already present"),
            "{notes:?}"
        );
        // The paste ended with a line break: enter on the empty last line previews.
        press(&mut app, KeyCode::Enter);
        let f = add_form(&app);
        assert_eq!(f.walk.step, Step::Preview);
        let preview = f.walk.plan[0].preview.join("\n");
        assert!(
            preview.contains("CloudInit harvcred-keys-node1 (node1)") && preview.contains(K3_FP),
            "{preview}"
        );
        let fx = press(&mut app, KeyCode::Enter);
        let mut fx = all_nodes_succeed::<AddKeys>(&mut app, fx);
        assert_eq!(add_form(&app).walk.step, Step::Confirm);
        fx.extend(press(&mut app, KeyCode::Char('y')));
        let fx = all_nodes_succeed::<AddKeys>(&mut app, fx);
        assert_eq!(add_form(&app).walk.step, Step::Done);
        // The matrix is read again on the nodes changed.
        let swept: Vec<&Effect> = fx
            .iter()
            .filter(|e| matches!(e, Effect::Sweep(_)))
            .collect();
        assert!(
            matches!(&swept[..], [Effect::Sweep(t)] if t.len() == 1 && t[0].name == "node1"),
            "{swept:?}"
        );
        // Closing goes back to the matrix.
        press(&mut app, KeyCode::Enter);
        assert!(app.form.is_none());
        assert_eq!(*app.view(), View::Keys);
    }

    #[test]
    fn in_the_pasted_text_enter_adds_a_line_and_t_chooses_nodes_only_while_it_is_empty() {
        let mut app = add_form_with("");
        let fx = press(&mut app, KeyCode::Char('t'));
        assert_eq!(add_form(&app).choice, TargetChoice::Role(Role::Server));
        let loads = walk_actions::<AddKeys>(&fx);
        assert_eq!(loads[0].0, ["node1", "node2", "node3"]);
        for _ in 0..3 {
            let walk = add_form(&app).walk.correlation_id.clone();
            walk_answer::<AddKeys>(&mut app, &walk, Event::Loaded(key_facts()));
            press(&mut app, KeyCode::Char('t'));
        }
        // Every node: one CloudInit for all of them, as `keys add --all`.
        assert_eq!(add_form(&app).choice, TargetChoice::All);
        let walk = add_form(&app).walk.correlation_id.clone();
        walk_answer::<AddKeys>(&mut app, &walk, Event::Loaded(key_facts()));
        assert!(add_form(&app).walk.draft.for_all);
        for c in "xt".chars() {
            press(&mut app, KeyCode::Char(c));
        }
        assert_eq!(add_form(&app).choice, TargetChoice::All, "t was typed");
        press(&mut app, KeyCode::Enter);
        assert_eq!(
            add_form(&app).walk.step,
            Step::Edit,
            "enter after text: a new line"
        );
        assert_eq!(*add_form(&app).fields[0].value(), "xt\n");
        // On the empty last line enter goes on, and the bad line is refused at its field.
        press(&mut app, KeyCode::Enter);
        let f = add_form(&app);
        assert_eq!(f.walk.step, Step::Edit);
        assert!(
            f.walk
                .problems
                .iter()
                .any(|p| p.field == "keys" && p.severity == crate::flows::Severity::Error),
            "{:?}",
            f.walk.problems
        );
    }

    #[test]
    fn d_removes_the_key_under_the_cursor_and_a_key_to_prove_reads_the_nodes_again() {
        let mut app = with_drift();
        press(&mut app, KeyCode::Char('j'));
        let fx = press(&mut app, KeyCode::Char('d'));
        assert_eq!(*app.view(), View::Walk("keys remove"));
        assert_eq!(remove_form(&app).walk.draft.fingerprints, [K2_FP]);
        assert_eq!(
            walk_requests::<RemoveKeys>(&fx)[0]
                .1
                .draft
                .as_ref()
                .unwrap()
                .prove_with,
            None
        );
        let walk = remove_form(&app).walk.correlation_id.clone();
        walk_answer::<RemoveKeys>(&mut app, &walk, Event::Loaded(key_facts()));
        press(&mut app, KeyCode::Enter);
        let f = remove_form(&app);
        assert_eq!(f.walk.step, Step::Preview);
        let preview = f.walk.plan[0].preview.join("\n");
        assert!(
            preview.contains(&format!("authorized_keys: remove {K2_FP}")),
            "{preview}"
        );
        // Back to the form; a key file to prove: enter reads the nodes
        // again with it (proven there), then previews.
        press(&mut app, KeyCode::Esc);
        for c in "/keys/id_new".chars() {
            press(&mut app, KeyCode::Char(c));
        }
        let fx = press(&mut app, KeyCode::Enter);
        let loads = walk_requests::<RemoveKeys>(&fx);
        assert!(
            loads.len() == 1 && matches!(loads[0].1.action, Action::Load),
            "one Load"
        );
        assert_eq!(
            loads[0].1.draft.as_ref().unwrap().prove_with.as_deref(),
            Some(std::path::Path::new("/keys/id_new"))
        );
        assert_eq!(remove_form(&app).walk.step, Step::Loading);
        let walk = remove_form(&app).walk.correlation_id.clone();
        walk_answer::<RemoveKeys>(&mut app, &walk, Event::Loaded(key_facts()));
        assert_eq!(remove_form(&app).walk.step, Step::Preview);
    }

    #[test]
    fn removing_the_login_key_unproven_is_refused_and_read_only_opens_no_form() {
        let mut app = with_drift();
        press(&mut app, KeyCode::Char('d'));
        assert_eq!(remove_form(&app).walk.draft.fingerprints, [K1_FP]);
        let walk = remove_form(&app).walk.correlation_id.clone();
        walk_answer::<RemoveKeys>(&mut app, &walk, Event::Loaded(key_facts()));
        press(&mut app, KeyCode::Enter);
        let f = remove_form(&app);
        assert_eq!(f.walk.step, Step::Edit);
        assert!(
            f.walk
                .notice
                .as_deref()
                .unwrap_or("")
                .contains("logged in with"),
            "{:?}",
            f.walk.notice
        );

        let mut app = with_drift();
        app.read_only = true;
        for c in ['a', 'd'] {
            let fx = press(&mut app, KeyCode::Char(c));
            assert!(fx.is_empty() && app.form.is_none());
            assert!(app.flash.as_ref().unwrap().text.contains("read-only"));
        }
    }

    #[test]
    fn space_marks_keys_and_d_removes_the_marked_ones() {
        let mut app = with_drift();
        press(&mut app, KeyCode::Char(' '));
        assert_eq!(
            app.key_under_cursor().as_deref(),
            Some(K2_FP),
            "on to the next key"
        );
        press(&mut app, KeyCode::Char('j'));
        press(&mut app, KeyCode::Char(' '));
        let s = crate::ui::panes::keys::tests::screen(&app).join("\n");
        assert!(
            s.contains(&format!("{K1_FP} ✓")) && s.contains(&format!("{K3_FP} ✓")),
            "{s}"
        );
        assert!(!s.contains(&format!("{K2_FP} ✓")), "{s}");
        // esc clears the marks first, and stays in the view.
        press(&mut app, KeyCode::Esc);
        assert!(app.keys_view.marked.is_empty());
        assert_eq!(*app.view(), View::Keys);
        press(&mut app, KeyCode::Char('g'));
        press(&mut app, KeyCode::Char(' '));
        press(&mut app, KeyCode::Char(' '));
        press(&mut app, KeyCode::Char(' '));
        press(&mut app, KeyCode::Char('d'));
        let f = remove_form(&app);
        assert_eq!(f.walk.draft.fingerprints, [K1_FP, K2_FP, K3_FP]);
        assert!(
            f.spec.title().contains("remove 3 keys"),
            "{}",
            f.spec.title()
        );
        assert!(
            app.keys_view.marked.is_empty(),
            "the marks went into the form"
        );
    }
}
