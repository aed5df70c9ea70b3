//! `:password` on the console's engine form (`engine_form`): the new
//! password typed twice in zeroised, masked fields; `flows::password` does
//! the rest.

use super::engine_form::{Field, FieldInput, FormSpec};
use super::walk::TargetChoice;
use crate::creds::password::Sensitive;
use crate::flows::password::{Draft, PasswordChange};

/// The `:password` form.
pub struct PasswordForm;

pub const FIELDS: [&str; 2] = ["password", "again"];

impl FormSpec for PasswordForm {
    type Change = PasswordChange;
    const NAME: &'static str = "password";

    fn title(&self) -> String {
        " new password for rancher (masked) ".into()
    }

    fn fields(&self) -> Vec<Field> {
        FIELDS.into_iter().map(Field::secret).collect()
    }

    fn change(&self) -> PasswordChange {
        PasswordChange::default()
    }

    fn draft(&self, fields: &[Field], _: TargetChoice) -> Draft {
        let secret = |i: usize| match fields.get(i).map(|f| &f.input) {
            Some(FieldInput::Line { input, .. }) => Sensitive::new(input.text()),
            _ => Sensitive::new(""),
        };
        Draft {
            password: secret(0),
            again: secret(1),
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::collections::BTreeMap;

    use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

    use super::*;
    use crate::app::engine_form::EngineForm;
    use crate::app::engine_form::tests::{walk_actions, walk_answer};
    use crate::app::{App, Effect, Msg, NodeInfo, Role, Setup, View};
    use crate::flows::Step;
    use crate::flows::engine::{Action, Event, TargetState};
    use crate::flows::password::{Facts, NodeFacts, NodeWork};

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
        walk_actions::<PasswordChange>(fx)
            .into_iter()
            .map(|(_, a)| a)
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
        walk_answer(app, &walk, ev)
    }

    /// The nodes the walk's `Load` reads.
    fn load_targets(fx: &[Effect]) -> Vec<String> {
        walk_actions::<PasswordChange>(fx)
            .into_iter()
            .find_map(|(targets, a)| matches!(a, Action::Load).then_some(targets))
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

    fn form(app: &App) -> &EngineForm<PasswordForm> {
        app.form_of::<PasswordForm>()
            .expect("the :password walk is open")
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
        assert_eq!(app.view(), &View::Walk("password"));
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
        walk_answer::<PasswordChange>(&mut app, &old, Event::Loaded(facts()));
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
        assert_eq!(*form(&app).fields[0].value(), "at");
    }

    #[test]
    fn the_help_lists_the_walks_keys_and_read_only_leaves_out_apply_and_retry() {
        let keys = |read_only| -> Vec<&str> {
            crate::app::keys::for_view(&View::Walk("password"), read_only)
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
        assert!(app.form.is_none());
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
        assert!(app.form.is_none(), "ctrl-x cancels");
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
        assert!(fx.is_empty() && app.form.is_none());
        assert!(app.flash.as_ref().unwrap().text.contains("read-only"));
    }
}
