//! The `:token` view's state: the same view as `harvcred token show`
//! (`flows::token::build_view`), built from the sweeps read so far and the
//! cluster's copy, plus each node's joining state (bootstrap data, rancherd's
//! 502 `cacerts` loop), read when the view opens; scrolled.

use std::collections::BTreeMap;

use crossterm::event::KeyCode;

use super::{App, Effect, NodeSweep, Target};
use crate::creds::report::Area;
use crate::flows::token::{JoinState, NodeInput, TokenView, build_view};

/// The view's own state.
#[derive(Debug, Clone, Default)]
pub struct TokenViewState {
    /// The first line on screen.
    pub offset: usize,
    /// Each node's joining state, as last read.
    pub join: BTreeMap<String, JoinState>,
}

impl App {
    /// The view of every node whose sweep is done (or failed), in name order.
    pub fn token_view(&self) -> TokenView {
        let cluster: Vec<_> = self
            .settings
            .as_ref()
            .and_then(|s| s.cluster_token.clone())
            .into_iter()
            .collect();
        let mut names: Vec<&String> = self.sweeps.keys().collect();
        names.sort_by(|a, b| crate::model::natural_cmp(a, b));
        let role = |n: &str| self.row(n).map_or("?", |r| r.info.role.label());
        let inputs = names
            .into_iter()
            .filter_map(|n| {
                let read = match self.sweeps.get(n)? {
                    NodeSweep::Done(r) => Ok((r.tokens.as_slice(), r.areas.get(&Area::Token)?)),
                    NodeSweep::Failed(u) => Err(format!("{}: {}", u.reason.label(), u.detail)),
                    _ => return None,
                };
                Some(NodeInput {
                    node: n,
                    role: role(n),
                    read,
                    join: self
                        .token_view
                        .join
                        .get(n.as_str())
                        .cloned()
                        .unwrap_or_default(),
                })
            })
            .collect();
        build_view(inputs, &cluster, None)
    }

    /// `:token` opens: read every node's joining state again.
    pub(super) fn open_token_view(&mut self) -> Vec<Effect> {
        self.token_view.offset = 0;
        let targets: Vec<Target> = self.rows.iter().map(Self::target).collect();
        vec![Effect::ReadJoinStates(targets)]
    }

    /// One node's joining state arrived.
    pub(super) fn token_join(&mut self, node: String, state: JoinState) {
        self.token_view.join.insert(node, state);
    }

    /// Scrolling keys of the view; false when the key is not one of them.
    pub(super) fn key_token_view(&mut self, code: KeyCode, ctrl: bool) -> bool {
        let page = crate::ui::full_body_rows(self.size.0, self.size.1).max(1);
        let lines = crate::ui::panes::token::line_count(&self.token_view());
        super::scroll(&mut self.token_view.offset, code, ctrl, page, lines)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::Arc;

    use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;

    use super::*;
    use crate::app::msg::Shared;
    use crate::app::{Msg, NodeInfo, Role, Setup, View};
    use crate::creds::level::Level;
    use crate::creds::report::{AreaReport, NodeReport, SERVER_TOKEN, TokenCopy};
    use crate::creds::token::JoinLoop;
    use crate::status::NodeOutcome;

    fn report(node: &str, copies: &[(&str, &str)]) -> NodeReport {
        let mut areas = BTreeMap::new();
        areas.insert(
            Area::Token,
            AreaReport {
                level: Level::Ok,
                findings: Vec::new(),
            },
        );
        NodeReport {
            node: node.into(),
            areas,
            certs: Vec::new(),
            runtime_keys: Vec::new(),
            persisted_keys: Vec::new(),
            tokens: copies
                .iter()
                .map(|(s, h)| TokenCopy {
                    source: s.to_string(),
                    short_hash: h.to_string(),
                    format: "short".into(),
                })
                .collect(),
            login_fingerprint: None,
        }
    }

    fn app() -> (App, Vec<Effect>) {
        app_with(true)
    }

    fn app_with(read_only: bool) -> (App, Vec<Effect>) {
        let mut app = App::new(Setup {
            read_only,
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
            report(
                "node1",
                &[
                    (SERVER_TOKEN, "h:aaaa1111"),
                    ("/etc/rancher/rancherd/config.yaml", "h:aaaa1111"),
                ],
            ),
            report("node2", &[(SERVER_TOKEN, "h:aaaa1111")]),
            report(
                "node3",
                &[("/etc/rancher/rancherd/config.yaml", "h:bbbb2222")],
            ),
        ] {
            app.update(Msg::NodeSwept {
                node: r.node.clone(),
                outcome: Shared::new(NodeOutcome::Report(Arc::new(r))),
                network: Shared::new(Default::default()),
            });
        }
        let mut fx = Vec::new();
        for c in ":token".chars() {
            fx.extend(app.update(Msg::Key(KeyEvent::new(
                KeyCode::Char(c),
                KeyModifiers::NONE,
            ))));
        }
        fx.extend(app.update(Msg::Key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE))));
        (app, fx)
    }

    /// `:token` (also read-only: it changes nothing) reads the nodes'
    /// joining state and shows what `token show` shows: the looping node
    /// marked with its line (escaped), its copy differing from the servers'.
    #[test]
    fn token_marks_the_looping_node_and_the_copies_that_differ() {
        let (mut app, fx) = app();
        assert_eq!(*app.view(), View::Token);
        assert!(
            fx.iter()
                .any(|e| matches!(e, Effect::ReadJoinStates(t) if t.len() == 3)),
            "{fx:?}"
        );
        app.update(Msg::JoinState {
            node: "node3".into(),
            state: JoinState {
                bootstrap_data: Some(false),
                rancherd_loop: Some(JoinLoop {
                    line: "msg=\"502 Bad Gateway getting cacerts\" \x1b[2J".into(),
                    repeats: 4,
                }),
            },
        });
        let v = app.token_view();
        assert_eq!(v.exit_code, 2);
        let theme = crate::ui::Theme::default_theme();
        let mut term = Terminal::new(TestBackend::new(120, 20)).unwrap();
        term.draw(|f| crate::ui::draw(f, &app, &theme)).unwrap();
        let s = crate::ui::buffer_lines(term.backend().buffer()).join("\n");
        assert!(s.contains("cluster token (3 nodes) critical"), "{s}");
        assert!(s.contains("node3 (server) critical  not joined"), "{s}");
        assert!(
            s.contains("rancherd 502 cacerts loop (4x), fix: harvcred token fix --node node3"),
            "{s}"
        );
        // logrus' msg= dropped, the escape sequence shown as text.
        assert!(
            s.contains("    502 Bad Gateway getting cacerts\" \\e[2J"),
            "{s}"
        );
        assert!(!s.contains('\x1b'), "{s}");
        let n3 = s.lines().find(|l| l.contains("h:bbbb2222")).unwrap();
        assert!(n3.contains("DIFFERS"), "{n3}");
        let n1 = s
            .lines()
            .find(|l| l.contains("rancherd/config.yaml") && l.contains("h:aaaa1111"))
            .unwrap();
        assert!(n1.contains("agrees"), "{n1}");
    }

    fn key(app: &mut App, code: KeyCode) -> Vec<Effect> {
        app.update(Msg::Key(KeyEvent::new(code, KeyModifiers::NONE)))
    }

    fn node3_loops(app: &mut App) {
        app.update(Msg::JoinState {
            node: "node3".into(),
            state: JoinState {
                bootstrap_data: Some(false),
                rancherd_loop: Some(JoinLoop {
                    line: "msg=\"502 Bad Gateway getting cacerts\"".into(),
                    repeats: 4,
                }),
            },
        });
    }

    /// `F` opens the fix for the node that cannot join, whichever row the
    /// table has selected; cancelled, the view is back and reads the
    /// joining states again (a fix changes them).
    #[test]
    fn f_fixes_the_node_that_cannot_join_and_coming_back_reads_again() {
        use crate::flows::engine::Action;
        use crate::flows::token::TokenFix;
        let (mut app, _) = app_with(false);
        node3_loops(&mut app);
        assert_eq!(app.selected_row().unwrap().info.name, "node1");
        let fx = key(&mut app, KeyCode::Char('F'));
        assert_eq!(*app.view(), View::Walk("token fix"));
        let loads = crate::app::engine_form::tests::walk_actions::<TokenFix>(&fx);
        assert!(
            matches!(&loads[..], [(t, Action::Load)] if t == &["node3"]),
            "{:?}",
            loads.iter().map(|(t, _)| t).collect::<Vec<_>>()
        );
        let fx = key(&mut app, KeyCode::Esc);
        assert_eq!(*app.view(), View::Token);
        assert!(
            fx.iter()
                .any(|e| matches!(e, Effect::ReadJoinStates(t) if t.len() == 3)),
            "{fx:?}"
        );
    }

    #[test]
    fn f_is_refused_read_only() {
        let (mut app, _) = app_with(true);
        node3_loops(&mut app);
        let fx = key(&mut app, KeyCode::Char('F'));
        assert!(fx.is_empty());
        assert_eq!(*app.view(), View::Token);
        assert!(
            app.flash.as_ref().is_some_and(|f| f.error),
            "{:?}",
            app.flash
        );
    }
}
