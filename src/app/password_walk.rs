//! The console side of `:password` (flows::password on the engine): the new
//! password typed twice in zeroised, masked line editors, the nodes it is
//! for (`t`: marked / a role / all), and the engine walk's keys. The walk's
//! actions go to the runner as `Effect::Password`; their answers come back
//! as `Msg::Password`, so `update` never waits on a node.

use crossterm::event::{KeyCode, KeyEvent};

use super::walk::{TargetChoice, key_event};
use super::{App, Effect, View};
use crate::creds::password::Sensitive;
use crate::flows::Step;
use crate::flows::engine::{Action, ApplyOptions, Event, TargetState, Walk};
use crate::flows::password::{Draft, NodeWork, PasswordChange};
use crate::ui::forms::LineInput;

/// The open `:password` walk.
pub struct PasswordForm {
    pub walk: Walk<PasswordChange>,
    pub choice: TargetChoice,
    /// The new password, then the same again.
    pub inputs: [LineInput; 2],
    pub focus: usize,
    /// The log pane the walk opened beside itself, and whose node it shows.
    pub log_pane: Option<(u64, String)>,
}

impl std::fmt::Debug for PasswordForm {
    // The inputs mask themselves; the walk's draft and work hold secrets.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordForm")
            .field("step", &self.walk.step)
            .field("targets", &self.walk.targets)
            .field("choice", &self.choice)
            .field("inputs", &self.inputs)
            .finish()
    }
}

pub const FIELDS: [&str; 2] = ["password", "again"];

fn effects(walk: &Walk<PasswordChange>, actions: Vec<Action<NodeWork>>) -> Vec<Effect> {
    actions
        .into_iter()
        .map(|a| Effect::Password {
            walk: walk.correlation_id.clone(),
            targets: walk.targets.clone(),
            action: super::msg::Once::new(a),
        })
        .collect()
}

impl PasswordForm {
    fn draft(&self) -> Draft {
        Draft {
            password: Sensitive::new(self.inputs[0].text()),
            again: Sensitive::new(self.inputs[1].text()),
        }
    }
}

fn new_walk(targets: Vec<String>, draft: Draft) -> (Walk<PasswordChange>, Vec<Action<NodeWork>>) {
    Walk::new(
        PasswordChange::default(),
        targets,
        draft,
        ApplyOptions::default(),
        crate::audit::correlation_id(),
    )
}

impl App {
    /// The nodes `choice` means today; marked falls back to the selected node.
    fn password_targets(&self, choice: TargetChoice) -> Vec<String> {
        let names = choice.pick(&self.rows, &self.table.marked);
        if names.is_empty() && choice == TargetChoice::Marked {
            return self
                .selected_row()
                .map(|r| vec![r.info.name.clone()])
                .unwrap_or_default();
        }
        names
    }

    /// `:password`: a new walk (an unfinished one is kept, not restarted).
    pub fn open_password_form(&mut self) -> Vec<Effect> {
        self.views.truncate(1);
        self.views.push(View::Password);
        if self.password.as_ref().is_some_and(|f| !f.walk.finished()) {
            return Vec::new();
        }
        let targets = self.password_targets(TargetChoice::Marked);
        let (walk, actions) = new_walk(targets, Draft::default());
        let fx = effects(&walk, actions);
        self.password = Some(PasswordForm {
            walk,
            choice: TargetChoice::Marked,
            inputs: Default::default(),
            focus: 0,
            log_pane: None,
        });
        fx
    }

    /// A key while the `:password` walk is shown.
    pub fn password_key(&mut self, k: KeyEvent) -> Vec<Effect> {
        let Some(step) = self.password.as_ref().map(|f| f.walk.step) else {
            return Vec::new();
        };
        if step == Step::Edit {
            match k.code {
                KeyCode::Tab | KeyCode::Down | KeyCode::BackTab | KeyCode::Up => {
                    let f = self.password.as_mut().unwrap();
                    f.focus = 1 - f.focus;
                    return Vec::new();
                }
                KeyCode::Char('t')
                    if k.modifiers.is_empty()
                        || k.modifiers == crossterm::event::KeyModifiers::SHIFT =>
                {
                    // `t` would be typed into the password otherwise: it
                    // chooses targets only while both fields are empty.
                    let f = self.password.as_ref().unwrap();
                    if f.inputs.iter().all(|i| i.text().is_empty()) {
                        let choice = f.choice.next();
                        let targets = self.password_targets(choice);
                        // Other nodes: their files are read afresh (a new
                        // walk; answers for the old one are dropped).
                        let f = self.password.as_mut().unwrap();
                        f.choice = choice;
                        let (walk, actions) = new_walk(targets, f.draft());
                        f.walk = walk;
                        return effects(&f.walk, actions);
                    }
                }
                _ => {}
            }
            let f = self.password.as_mut().unwrap();
            let focus = f.focus;
            if f.inputs[focus].key(&k) {
                let draft = f.draft();
                let actions = f.walk.handle(Event::Edited(draft));
                return effects(&f.walk, actions);
            }
        }
        let f = self.password.as_mut().unwrap();
        if f.walk.finished() && matches!(k.code, KeyCode::Enter | KeyCode::Esc) {
            return self.close_password_form();
        }
        let Some(ev) = key_event(&f.walk, &k) else {
            self.dirty = false;
            return Vec::new();
        };
        let actions = f.walk.handle(ev);
        let mut fx = effects(&f.walk, actions);
        if f.walk.step == Step::Cancelled {
            // Cancelled before apply: nothing was sent; the form closes.
            self.flash = Some(super::Flash {
                error: false,
                text: "password: cancelled, nothing was changed".into(),
            });
            fx.extend(self.close_password_form());
            return fx;
        }
        fx.extend(self.password_log_follows());
        fx
    }

    fn close_password_form(&mut self) -> Vec<Effect> {
        let opened = self
            .password
            .take()
            .and_then(|f| f.log_pane)
            .map(|(id, _)| id);
        self.views.truncate(1);
        // The log the walk opened goes with it (its journalctl ends).
        if opened.is_some() && self.logs.pane.as_ref().map(|p| p.id) == opened {
            return super::logpane::close(self);
        }
        Vec::new()
    }

    /// The log pane beside the form shows the node being changed: opened
    /// when the first node applies, moved when the next one does (a pane
    /// the operator opened is left alone).
    fn password_log_follows(&mut self) -> Vec<Effect> {
        let Some(f) = self.password.as_ref() else {
            return Vec::new();
        };
        let Some(node) = f
            .walk
            .states
            .iter()
            .find(|(_, s)| matches!(s, TargetState::Applying | TargetState::Verifying { .. }))
            .map(|(n, _)| n.clone())
        else {
            return Vec::new();
        };
        let ours = f.log_pane.as_ref().map(|(id, _)| *id);
        if f.log_pane.as_ref().is_some_and(|(_, n)| *n == node) {
            return Vec::new();
        }
        match (&self.logs.pane, ours) {
            (None, _) => {}
            (Some(p), Some(id)) if p.id == id => {}
            _ => return Vec::new(),
        }
        let (id, fx) = super::logpane::open_beside(self, vec![node.clone()]);
        if let Some(f) = self.password.as_mut() {
            f.log_pane = Some((id, node));
        }
        fx
    }

    /// An answer for the walk from the runner (a stale one is ignored by the
    /// engine's tickets; one for a closed walk is dropped).
    pub fn password_event(&mut self, walk: &str, ev: Event<PasswordChange>) -> Vec<Effect> {
        let Some(f) = self
            .password
            .as_mut()
            .filter(|f| f.walk.correlation_id == walk)
        else {
            return Vec::new();
        };
        let actions = f.walk.handle(ev);
        let mut fx = effects(&f.walk, actions);
        fx.extend(self.password_log_follows());
        fx
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::collections::BTreeMap;

    use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

    use super::*;
    use crate::app::{Msg, NodeInfo, Role, Setup};
    use crate::flows::engine::TargetState;
    use crate::flows::password::{Facts, NodeFacts};

    pub const NEW: &str = "Harvcred-Sentinel-7q2x";

    fn app(read_only: bool) -> App {
        let mut app = App::new(Setup {
            read_only,
            inventory: Vec::new(),
            kube: Ok(()),
            notice: None,
            theme: "dark".into(),
        });
        let node = |name: &str, ip: &str, role| NodeInfo {
            name: name.into(),
            role,
            address: Some(ip.into()),
            ready: Some(true),
        };
        app.update(Msg::NodesListed(vec![
            node("node1", "10.0.0.11", Role::Server),
            node("node2", "10.0.0.12", Role::Server),
            node("node3", "10.0.0.13", Role::Worker),
        ]));
        app
    }

    fn press(app: &mut App, code: KeyCode) -> Vec<Effect> {
        app.update(Msg::Key(KeyEvent::new(code, KeyModifiers::NONE)))
    }

    fn typed(app: &mut App, s: &str) -> Vec<Effect> {
        s.chars()
            .flat_map(|c| press(app, KeyCode::Char(c)))
            .collect()
    }

    fn actions(fx: &[Effect]) -> Vec<Action<NodeWork>> {
        fx.iter()
            .filter_map(|e| match e {
                Effect::Password { action, .. } => action.take(),
                _ => None,
            })
            .collect()
    }

    /// The walk's requests to the nodes (audit lines left out).
    fn requests(fx: &[Effect]) -> Vec<Action<NodeWork>> {
        actions(fx)
            .into_iter()
            .filter(|a| !matches!(a, Action::Audit(_)))
            .collect()
    }

    /// An answer for the walk open now.
    fn answer(app: &mut App, ev: Event<PasswordChange>) -> Vec<Effect> {
        let walk = form(app).walk.correlation_id.clone();
        app.update(Msg::Password {
            walk,
            event: crate::app::msg::Once::new(ev),
        })
    }

    /// The nodes the walk's `Load` reads.
    fn load_targets(fx: &[Effect]) -> Vec<String> {
        fx.iter()
            .find_map(|e| match e {
                Effect::Password {
                    targets, action, ..
                } => matches!(action.take(), Some(Action::Load)).then(|| targets.clone()),
                _ => None,
            })
            .expect("a Load")
    }

    pub fn facts() -> Facts {
        Facts {
            nodes: ["node1", "node2", "node3"]
                .map(|n| {
                    (
                        n.to_string(),
                        NodeFacts {
                            runtime: None,
                            oem: BTreeMap::new(),
                            hostname_label: Some(n.to_string()),
                            install_config: None,
                        },
                    )
                })
                .into(),
            cloudinit_served: true,
        }
    }

    fn form(app: &App) -> &PasswordForm {
        app.password.as_ref().expect("the :password walk is open")
    }

    /// `:password` with node1 and node3 marked, read, the password typed
    /// twice: the walk at its form.
    pub fn at_form(password: &str) -> App {
        let mut app = app(false);
        press(&mut app, KeyCode::Char(' '));
        press(&mut app, KeyCode::Char('j'));
        press(&mut app, KeyCode::Char('j'));
        press(&mut app, KeyCode::Char(' '));
        typed(&mut app, ":password");
        let fx = press(&mut app, KeyCode::Enter);
        assert!(matches!(actions(&fx)[..], [Action::Load]), "{fx:?}");
        assert_eq!(app.view(), &View::Password);
        answer(&mut app, Event::Loaded(facts()));
        typed(&mut app, password);
        press(&mut app, KeyCode::Tab);
        typed(&mut app, password);
        app
    }

    /// The walk done: node1 changed and verified, node3's apply failed.
    pub fn done_with_node3_failed() -> App {
        let mut app = at_form(NEW);
        press(&mut app, KeyCode::Enter);
        for a in requests(&press(&mut app, KeyCode::Enter)) {
            let (ticket, target) = ticket_of(&a);
            answer(
                &mut app,
                Event::DryRunDone {
                    ticket,
                    target,
                    result: Ok(()),
                },
            );
        }
        let mut next = requests(&press(&mut app, KeyCode::Char('y')));
        while let Some(a) = next.pop() {
            let (ticket, target) = ticket_of(&a);
            let ev = match (&a, target.as_str()) {
                (Action::Apply { .. }, "node3") => Event::Applied {
                    ticket,
                    target,
                    result: Err("ssh: link down".into()),
                },
                (Action::Apply { .. }, _) => Event::Applied {
                    ticket,
                    target,
                    result: Ok(true),
                },
                _ => Event::Verified {
                    ticket,
                    target,
                    result: Ok(()),
                },
            };
            next.extend(requests(&answer(&mut app, ev)));
        }
        assert_eq!(form(&app).walk.step, Step::Done);
        app
    }

    fn ticket_of(a: &Action<NodeWork>) -> (u64, String) {
        match a {
            Action::DryRun { ticket, target, .. }
            | Action::Apply { ticket, target, .. }
            | Action::Verify { ticket, target, .. } => (*ticket, target.clone()),
            other => panic!("{other:?}"),
        }
    }

    fn opened_logs_of(fx: &[Effect]) -> Vec<String> {
        fx.iter()
            .filter_map(|e| match e {
                Effect::OpenLogs { sources, .. } => Some(format!("{sources:?}")),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn targets_are_the_marked_nodes_and_t_cycles_them_while_the_fields_are_empty() {
        let mut app = app(false);
        press(&mut app, KeyCode::Char('j'));
        typed(&mut app, ":password");
        press(&mut app, KeyCode::Enter);
        // Nothing marked: the selected node.
        assert_eq!(form(&app).walk.targets, ["node2"]);
        answer(&mut app, Event::Loaded(facts()));
        let old = form(&app).walk.correlation_id.clone();
        let fx = press(&mut app, KeyCode::Char('t'));
        assert_eq!(form(&app).choice, TargetChoice::Role(Role::Server));
        assert_eq!(form(&app).walk.targets, ["node1", "node2"]);
        // Other nodes are read afresh; an answer for the walk before is dropped.
        assert_eq!(load_targets(&fx), ["node1", "node2"]);
        app.update(Msg::Password {
            walk: old,
            event: crate::app::msg::Once::new(Event::Loaded(facts())),
        });
        assert_eq!(form(&app).walk.step, Step::Loading);
        answer(&mut app, Event::Loaded(facts()));
        assert_eq!(form(&app).walk.step, Step::Edit);
        for _ in 0..3 {
            press(&mut app, KeyCode::Char('t'));
            answer(&mut app, Event::Loaded(facts()));
        }
        assert_eq!(form(&app).choice, TargetChoice::All);
        assert_eq!(form(&app).walk.targets, ["node1", "node2", "node3"]);
        // Once something is typed, `t` is a letter of the password.
        typed(&mut app, "at");
        assert_eq!(form(&app).choice, TargetChoice::All);
        assert_eq!(form(&app).inputs[0].text(), "at");
    }

    #[test]
    fn the_help_lists_the_walks_keys_and_read_only_leaves_out_apply_and_retry() {
        let keys = |read_only| -> Vec<&str> {
            crate::app::keys::for_view(&View::Password, read_only)
                .0
                .iter()
                .map(|h| h.key)
                .collect()
        };
        let all = keys(false);
        for k in ["t", "enter", "y", "esc / n", "ctrl-x", "r"] {
            assert!(all.contains(&k), "{k}: {all:?}");
        }
        let ro = keys(true);
        assert!(!ro.contains(&"y") && !ro.contains(&"r"), "{ro:?}");
    }

    #[test]
    fn problems_are_shown_at_their_field_and_block_the_preview() {
        let mut app = at_form("rancher");
        let fields: Vec<&str> = form(&app).walk.problems.iter().map(|p| p.field).collect();
        assert!(fields.contains(&"password"), "{fields:?}");
        press(&mut app, KeyCode::Enter);
        assert_eq!(form(&app).walk.step, Step::Edit, "refused at the form");
        // Different second entry: the problem is at `again`.
        typed(&mut app, "x");
        assert!(
            form(&app).walk.problems.iter().any(|p| p.field == "again"),
            "{:?}",
            form(&app).walk.problems
        );
        // The form's Debug never shows what was typed.
        let shown = format!("{:?}", form(&app));
        assert!(!shown.contains("rancher"), "{shown}");
    }

    #[test]
    fn enter_previews_per_node_dry_runs_y_applies_and_r_retries_only_the_failed_node() {
        let mut app = at_form(NEW);
        assert!(form(&app).walk.problems.is_empty());
        press(&mut app, KeyCode::Enter);
        assert_eq!(form(&app).walk.step, Step::Preview);
        let planned: Vec<&str> = form(&app)
            .walk
            .plan
            .iter()
            .map(|p| p.target.as_str())
            .collect();
        assert_eq!(planned, ["node1", "node3"]);
        assert!(
            !form(&app)
                .walk
                .plan
                .iter()
                .any(|p| p.preview.join("\n").contains(NEW)),
            "the preview never shows the password"
        );
        // `y` means nothing before the dry run passed.
        assert!(requests(&typed(&mut app, "y")).is_empty());
        let dry = requests(&press(&mut app, KeyCode::Enter));
        assert_eq!(dry.len(), 2, "{dry:?}");
        for a in &dry {
            let (ticket, target) = ticket_of(a);
            answer(
                &mut app,
                Event::DryRunDone {
                    ticket,
                    target,
                    result: Ok(()),
                },
            );
        }
        assert_eq!(form(&app).walk.step, Step::Confirm);
        let fx = press(&mut app, KeyCode::Char('y'));
        let apply = requests(&fx);
        assert_eq!(ticket_of(&apply[0]).1, "node1");
        assert_eq!(form(&app).walk.states["node1"], TargetState::Applying);
        // The log beside the form follows the node being changed.
        let logs = opened_logs_of(&fx);
        assert!(logs.len() == 1 && logs[0].contains("node1"), "{logs:?}");
        let (ticket, target) = ticket_of(&apply[0]);
        let fx = answer(
            &mut app,
            Event::Applied {
                ticket,
                target,
                result: Ok(true),
            },
        );
        let (ticket, target) = ticket_of(&requests(&fx)[0]);
        let fx = answer(
            &mut app,
            Event::Verified {
                ticket,
                target,
                result: Ok(()),
            },
        );
        let next = requests(&fx);
        assert_eq!(ticket_of(&next[0]).1, "node3");
        let logs = opened_logs_of(&fx);
        assert!(logs.len() == 1 && logs[0].contains("node3"), "{logs:?}");
        let (ticket, target) = ticket_of(&next[0]);
        answer(
            &mut app,
            Event::Applied {
                ticket,
                target,
                result: Err("ssh: link down".into()),
            },
        );
        assert_eq!(form(&app).walk.step, Step::Done);
        assert!(matches!(
            form(&app).walk.states["node1"],
            TargetState::Verified { .. }
        ));
        assert!(matches!(
            form(&app).walk.states["node3"],
            TargetState::Failed(_)
        ));
        // r: node3 alone, node1 is not changed twice.
        let retry = requests(&press(&mut app, KeyCode::Char('r')));
        let applied: Vec<String> = retry
            .iter()
            .filter(|a| matches!(a, Action::Apply { .. }))
            .map(|a| ticket_of(a).1)
            .collect();
        assert_eq!(applied, ["node3"]);
        let (ticket, target) = ticket_of(
            &retry
                .iter()
                .find(|a| matches!(a, Action::Apply { .. }))
                .unwrap()
                .clone(),
        );
        let fx = answer(
            &mut app,
            Event::Applied {
                ticket,
                target,
                result: Ok(true),
            },
        );
        let (ticket, target) = ticket_of(&requests(&fx)[0]);
        answer(
            &mut app,
            Event::Verified {
                ticket,
                target,
                result: Ok(()),
            },
        );
        assert_eq!(form(&app).walk.step, Step::Done);
        assert!(
            form(&app)
                .walk
                .states
                .values()
                .all(|s| matches!(s, TargetState::Verified { .. }))
        );
        // Closing the finished walk ends the log it opened.
        let fx = press(&mut app, KeyCode::Enter);
        assert!(app.password.is_none());
        assert!(
            fx.iter().any(|e| matches!(e, Effect::CloseLogs { .. })),
            "{fx:?}"
        );
    }

    #[test]
    fn esc_and_ctrl_x_cancel_before_apply_and_read_only_refuses() {
        let mut app = at_form(NEW);
        press(&mut app, KeyCode::Enter);
        press(&mut app, KeyCode::Esc);
        assert_eq!(form(&app).walk.step, Step::Edit, "esc: back to the form");
        let fx = app.update(Msg::Key(KeyEvent::new(
            KeyCode::Char('x'),
            KeyModifiers::CONTROL,
        )));
        assert!(app.password.is_none(), "ctrl-x cancels");
        assert!(actions(&fx).iter().all(|a| matches!(a, Action::Audit(_))));
        assert!(
            app.flash
                .as_ref()
                .unwrap()
                .text
                .contains("nothing was changed")
        );

        let mut app = self::app(true);
        typed(&mut app, ":password");
        let fx = press(&mut app, KeyCode::Enter);
        assert!(fx.is_empty() && app.password.is_none());
        assert!(app.flash.as_ref().unwrap().text.contains("read-only"));
    }
}
