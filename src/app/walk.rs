//! The console side of an engine walk (`flows::engine`), generic over the
//! change: which nodes it is for (marked nodes, a role, all) and what a key
//! means at each step. Pure: the caller feeds the returned event to the walk
//! and performs the walk's actions.

use std::collections::BTreeSet;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::{NodeRow, Role, natural_cmp};
use crate::flows::Step;
use crate::flows::engine::{Change, Event, TargetState, Walk};

/// Which nodes a multi-node change is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetChoice {
    /// The nodes marked with `space` on the table.
    Marked,
    Role(Role),
    All,
}

impl TargetChoice {
    /// The choice `t` moves to: marked, servers, workers, witnesses, all.
    pub fn next(self) -> TargetChoice {
        match self {
            TargetChoice::Marked => TargetChoice::Role(Role::Server),
            TargetChoice::Role(Role::Server) => TargetChoice::Role(Role::Worker),
            TargetChoice::Role(Role::Worker) => TargetChoice::Role(Role::Witness),
            TargetChoice::Role(_) => TargetChoice::All,
            TargetChoice::All => TargetChoice::Marked,
        }
    }

    pub fn label(self) -> String {
        match self {
            TargetChoice::Marked => "marked nodes".into(),
            TargetChoice::Role(r) => format!("every {} node", r.label()),
            TargetChoice::All => "every node".into(),
        }
    }

    /// The nodes chosen, in the table's natural name order.
    pub fn pick(self, rows: &[NodeRow], marked: &BTreeSet<String>) -> Vec<String> {
        let mut names: Vec<String> = rows
            .iter()
            .filter(|r| match self {
                TargetChoice::Marked => marked.contains(&r.info.name),
                TargetChoice::Role(role) => r.info.role == role,
                TargetChoice::All => true,
            })
            .map(|r| r.info.name.clone())
            .collect();
        names.sort_by(|a, b| natural_cmp(a, b));
        names.dedup();
        names
    }
}

/// The walk's event for a key at its current step, if the key means one.
/// `enter`/`y` go on, `esc`/`n` go back (cancel from the form), `ctrl-x`
/// cancels (during apply: starts no further node), `r` retries the failed
/// and skipped nodes once the walk is done.
pub fn key_event<C: Change>(walk: &Walk<C>, k: &KeyEvent) -> Option<Event<C>> {
    let ctrl = k.modifiers.contains(KeyModifiers::CONTROL);
    let s = walk.step;
    Some(match k.code {
        KeyCode::Char('x') if ctrl => Event::Cancel,
        KeyCode::Enter if matches!(s, Step::Edit | Step::Preview) => Event::Next,
        KeyCode::Char('y') | KeyCode::Enter if s == Step::Confirm => Event::Next,
        KeyCode::Esc | KeyCode::Char('n')
            if matches!(s, Step::Preview | Step::DryRun | Step::Confirm) =>
        {
            Event::Back
        }
        KeyCode::Esc if s == Step::Edit || s == Step::Loading => Event::Cancel,
        KeyCode::Char('r')
            if s == Step::Done
                && walk
                    .states
                    .values()
                    .any(|t| matches!(t, TargetState::Failed(_) | TargetState::Skipped(_))) =>
        {
            Event::Retry(None)
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::{Creds, NodeInfo, Source, SshState};

    fn row(name: &str, role: Role) -> NodeRow {
        NodeRow {
            info: NodeInfo {
                name: name.into(),
                role,
                address: None,
                ready: Some(true),
            },
            source: Source::Api,
            ssh: SshState::Pending,
            creds: Creds::default(),
        }
    }

    #[test]
    fn targets_are_the_marked_nodes_a_role_or_all_in_name_order() {
        let rows = vec![
            row("node10", Role::Worker),
            row("node2", Role::Server),
            row("node1", Role::Server),
            row("node3", Role::Witness),
        ];
        let marked: BTreeSet<String> = ["node10", "node1"].map(String::from).into();
        assert_eq!(
            TargetChoice::Marked.pick(&rows, &marked),
            ["node1", "node10"]
        );
        assert_eq!(
            TargetChoice::Role(Role::Server).pick(&rows, &marked),
            ["node1", "node2"]
        );
        assert_eq!(
            TargetChoice::All.pick(&rows, &marked),
            ["node1", "node2", "node3", "node10"]
        );
        let mut c = TargetChoice::Marked;
        let mut seen = Vec::new();
        for _ in 0..5 {
            seen.push(c.label());
            c = c.next();
        }
        assert_eq!(c, TargetChoice::Marked, "t cycles back: {seen:?}");
    }

    /// One node, one line: enough to walk the steps.
    struct Touch;

    impl Change for Touch {
        type Draft = ();
        type Facts = ();
        type Work = ();
        fn action(&self) -> &'static str {
            "test.touch"
        }
        fn validate(&self, _: &(), _: &()) -> Vec<crate::flows::engine::Problem> {
            Vec::new()
        }
        fn plan(
            &self,
            _: &(),
            _: &(),
            ts: &[String],
        ) -> Result<Vec<crate::flows::engine::Planned<()>>, String> {
            Ok(ts
                .iter()
                .map(|t| crate::flows::engine::Planned {
                    target: t.clone(),
                    preview: Vec::new(),
                    work: (),
                })
                .collect())
        }
    }

    #[test]
    fn keys_mean_the_step_they_are_pressed_at_and_r_retries_only_after_a_failure() {
        use crate::flows::engine::{Action, ApplyOptions};
        let key = |c| KeyEvent::new(c, KeyModifiers::NONE);
        let (mut w, _) = Walk::new(
            Touch,
            vec!["node1".into()],
            (),
            ApplyOptions::default(),
            "k".into(),
        );
        assert!(matches!(
            key_event(&w, &key(KeyCode::Esc)),
            Some(Event::Cancel)
        ));
        w.handle(Event::Loaded(()));
        assert!(matches!(
            key_event(&w, &key(KeyCode::Enter)),
            Some(Event::Next)
        ));
        assert!(
            key_event(&w, &key(KeyCode::Char('y'))).is_none(),
            "no yes before the dry run"
        );
        w.handle(Event::Next);
        assert!(matches!(
            key_event(&w, &key(KeyCode::Esc)),
            Some(Event::Back)
        ));
        let a = w.handle(Event::Next);
        let Action::DryRun { ticket, .. } = &a[0] else {
            panic!("{a:?}")
        };
        w.handle(Event::DryRunDone {
            ticket: *ticket,
            target: "node1".into(),
            result: Ok(()),
        });
        assert!(matches!(
            key_event(&w, &key(KeyCode::Char('y'))),
            Some(Event::Next)
        ));
        let a = w.handle(Event::Next);
        let Action::Apply { ticket, .. } = &a[0] else {
            panic!("{a:?}")
        };
        assert!(key_event(&w, &key(KeyCode::Char('r'))).is_none());
        let ctrl_x = KeyEvent::new(KeyCode::Char('x'), KeyModifiers::CONTROL);
        assert!(matches!(key_event(&w, &ctrl_x), Some(Event::Cancel)));
        w.handle(Event::Applied {
            ticket: *ticket,
            target: "node1".into(),
            result: Err("link down".into()),
        });
        assert_eq!(w.step, Step::Done);
        assert!(matches!(
            key_event(&w, &key(KeyCode::Char('r'))),
            Some(Event::Retry(None))
        ));
    }
}
