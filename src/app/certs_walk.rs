//! The console forms of the four certificate changes (`flows::certs`) on
//! the generic engine form: auto-rotation (`:autorotate`, `a` in `:certs`),
//! rotate now through Rancher (`:rotate`, `R`), rotate nodes by hand
//! (`:rotate-node`, `N`), and the controller-manager/scheduler fix
//! (`:fix-kcm`, `F`); `N` and `F` in a node's details are for that node.
//! Their walks run on the console's walk thread with
//! the command line's I/O (`cli::certs`), connected there.

use std::time::Duration;

use super::engine_form::{Field, FieldInput, FormSpec};
use super::runner::{ConsoleChange, WalkSetup};
use super::walk::TargetChoice;
use crate::cli::certs::{
    AutoRotateIo, CertsEnv, FixKcmIo, RotateClusterIo, RotateNodeIo, connect_env,
};
use crate::cluster::rotation::AUTO_ROTATE;
use crate::flows::certs::{
    AutoRotateChange, AutoRotateDraft, CLUSTER_TARGET, FixKcmChange, RotateClusterChange,
    RotateNodeChange, RotateNodeDraft,
};

fn line(fields: &[Field], i: usize) -> String {
    match fields.get(i).map(|f| &f.input) {
        Some(FieldInput::Line { input, .. }) => input.text().to_string(),
        _ => String::new(),
    }
}

/// `:autorotate`: Harvester's `auto-rotate-rke2-certs`.
pub struct AutoRotateForm;

impl FormSpec for AutoRotateForm {
    type Change = AutoRotateChange;
    const NAME: &'static str = "auto-rotate";

    fn title(&self) -> String {
        " auto-rotate-rke2-certs: enable on/off, hours (expiringInHours 1..8759) ".into()
    }
    fn fields(&self) -> Vec<Field> {
        vec![Field::line("enable"), Field::line("hours")]
    }
    fn change(&self) -> AutoRotateChange {
        AutoRotateChange
    }
    fn draft(&self, fields: &[Field], _: TargetChoice) -> AutoRotateDraft {
        AutoRotateDraft::from_text(&line(fields, 0), &line(fields, 1))
    }
    fn fixed_target(&self) -> Option<(&'static str, String)> {
        Some(("setting", AUTO_ROTATE.to_string()))
    }
}

/// `:rotate`: rotate now, cluster-wide, through Rancher's planner.
pub struct RotateNowForm;

impl FormSpec for RotateNowForm {
    type Change = RotateClusterChange;
    const NAME: &'static str = "rotate now";

    fn title(&self) -> String {
        " rotate every node's RKE2 certificates now ".into()
    }
    fn fields(&self) -> Vec<Field> {
        Vec::new()
    }
    fn change(&self) -> RotateClusterChange {
        RotateClusterChange
    }
    fn draft(&self, _: &[Field], _: TargetChoice) {}
    fn fixed_target(&self) -> Option<(&'static str, String)> {
        Some(("cluster", CLUSTER_TARGET.to_string()))
    }
}

/// `:rotate-node`: `rke2 certificate rotate` on the chosen nodes, one at a
/// time; from a node's details, on that node.
#[derive(Default)]
pub struct RotateNodeForm {
    pub node: Option<String>,
}

impl FormSpec for RotateNodeForm {
    type Change = RotateNodeChange;
    const NAME: &'static str = "rotate node";

    fn title(&self) -> String {
        " rotate by hand: services (rke2 certificate rotate --service; empty: all) ".into()
    }
    fn fields(&self) -> Vec<Field> {
        vec![Field::line("service")]
    }
    fn change(&self) -> RotateNodeChange {
        RotateNodeChange
    }
    fn fixed_target(&self) -> Option<(&'static str, String)> {
        self.node.clone().map(|n| ("node", n))
    }
    fn draft(&self, fields: &[Field], _: TargetChoice) -> RotateNodeDraft {
        RotateNodeDraft {
            services: line(fields, 0)
                .split([',', ' '])
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect(),
            again: false,
        }
    }
}

/// `:fix-kcm`: new controller-manager/scheduler certificates on the chosen
/// servers; from a node's details, on that node.
#[derive(Default)]
pub struct FixKcmForm {
    pub node: Option<String>,
}

impl FormSpec for FixKcmForm {
    type Change = FixKcmChange;
    const NAME: &'static str = "fix-kcm";

    fn title(&self) -> String {
        " replace expired self-signed controller-manager/scheduler certificates ".into()
    }
    fn fields(&self) -> Vec<Field> {
        Vec::new()
    }
    fn change(&self) -> FixKcmChange {
        FixKcmChange
    }
    fn fixed_target(&self) -> Option<(&'static str, String)> {
        self.node.clone().map(|n| ("node", n))
    }
    fn draft(&self, _: &[Field], _: TargetChoice) {}
}

/// How long a walk follows the cluster after the change (the command
/// line's `--timeout` default).
const FOLLOW: Duration = Duration::from_secs(900);

/// The certificate I/O for a console walk: its own API client and pool on
/// the walk thread, the day thresholds of config.toml.
async fn env(setup: WalkSetup, walk: String) -> Result<std::sync::Arc<CertsEnv>, String> {
    let paths = crate::config::Paths::from_env();
    let thresholds = crate::config::Config::load(&paths.config_file())
        .map(|c| c.certificates)
        .unwrap_or_default();
    connect_env(
        &setup.kube,
        setup.ssh,
        setup.state_dir,
        FOLLOW,
        thresholds,
        walk,
        true,
    )
    .await
}

impl ConsoleChange for AutoRotateChange {
    type Io = AutoRotateIo;
    async fn connect(
        setup: WalkSetup,
        _: Vec<String>,
        walk: String,
        _: AutoRotateDraft,
    ) -> Result<AutoRotateIo, String> {
        Ok(AutoRotateIo(env(setup, walk).await?))
    }
}

/// Every node is swept first: expired leaves are warned about, and at the
/// end each node's leaves are compared with what they were.
impl ConsoleChange for RotateClusterChange {
    type Io = RotateClusterIo;
    async fn connect(
        setup: WalkSetup,
        _: Vec<String>,
        walk: String,
        _: (),
    ) -> Result<RotateClusterIo, String> {
        Ok(RotateClusterIo::swept(env(setup, walk).await?).await)
    }
}

impl ConsoleChange for RotateNodeChange {
    type Io = RotateNodeIo;
    async fn connect(
        setup: WalkSetup,
        _: Vec<String>,
        walk: String,
        _: RotateNodeDraft,
    ) -> Result<RotateNodeIo, String> {
        Ok(RotateNodeIo(env(setup, walk).await?))
    }
}

impl ConsoleChange for FixKcmChange {
    type Io = FixKcmIo;
    async fn connect(
        setup: WalkSetup,
        targets: Vec<String>,
        walk: String,
        _: (),
    ) -> Result<FixKcmIo, String> {
        Ok(FixKcmIo::new(env(setup, walk).await?, targets))
    }
}

#[cfg(test)]
mod tests {
    use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;

    use super::*;
    use crate::app::engine_form::EngineForm;
    use crate::app::engine_form::tests::{walk_actions, walk_answer};
    use crate::app::{App, Effect, Msg, NodeInfo, Role, Setup, View};
    use crate::cluster::rotation::{AutoRotate, ClusterGeneration, ControlPlane, RotationState};
    use crate::flows::Step;
    use crate::flows::certs::{AutoRotateFacts, RotateClusterFacts};
    use crate::flows::engine::{Action, Change, Event};
    use crate::ui::Theme;

    fn node(name: &str, role: Role, ready: bool) -> NodeInfo {
        NodeInfo {
            name: name.into(),
            role,
            address: Some(format!("10.0.0.1{}", &name[4..])),
            ready: Some(ready),
        }
    }

    fn nodes() -> Vec<NodeInfo> {
        vec![
            node("node1", Role::Server, true),
            node("node2", Role::Server, true),
            node("node3", Role::Worker, true),
        ]
    }

    fn app(read_only: bool) -> App {
        let mut app = App::new(Setup {
            read_only,
            inventory: Vec::new(),
            kube: Ok(()),
            notice: None,
            theme: "dark".into(),
        });
        app.update(Msg::NodesListed(nodes()));
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

    /// The walk's requests (audit lines left out), with the targets a Load reads.
    fn requests<C: ConsoleChange>(fx: &[Effect]) -> Vec<(Vec<String>, Action<C::Work>)> {
        walk_actions::<C>(fx)
            .into_iter()
            .filter(|(_, a)| !matches!(a, Action::Audit(_)))
            .collect()
    }

    fn ticket_of<W>(a: &Action<W>) -> (u64, String) {
        match a {
            Action::DryRun { ticket, target, .. }
            | Action::Apply { ticket, target, .. }
            | Action::Verify { ticket, target, .. } => (*ticket, target.clone()),
            _ => panic!("not a request to a target"),
        }
    }

    fn form<S: FormSpec>(app: &App) -> &EngineForm<S> {
        app.form_of::<S>().expect("the form is open")
    }

    fn answer<S: FormSpec>(app: &mut App, ev: Event<S::Change>) -> Vec<Effect> {
        let walk = form::<S>(app).walk.correlation_id.clone();
        walk_answer(app, &walk, ev)
    }

    fn screen(app: &App, height: u16) -> Vec<String> {
        let theme = Theme::default_theme();
        let mut term = Terminal::new(TestBackend::new(78, height)).unwrap();
        let form = app.form.as_ref().expect("a form is open");
        term.draw(|f| form.draw(f, f.area(), &theme)).unwrap();
        crate::ui::buffer_lines(term.backend().buffer())
    }

    fn state(ready: bool, message: &str, spec: i64, status: i64) -> RotationState {
        RotationState {
            control_plane: ControlPlane {
                ready: Some(ready),
                ready_message: message.into(),
                spec_generation: spec,
                status_generation: status,
            },
            cluster: ClusterGeneration {
                generation: spec,
                resource_version: "41".into(),
            },
        }
    }

    /// `:certs`, then `key`: the form open and its walk reading.
    fn opened(key: char) -> (App, Vec<Effect>) {
        let mut app = app(false);
        typed(&mut app, ":certs");
        press(&mut app, KeyCode::Enter);
        let fx = press(&mut app, KeyCode::Char(key));
        (app, fx)
    }

    #[test]
    fn rotate_now_reads_the_cluster_and_refuses_with_the_stuck_state_and_its_fix() {
        let (mut app, fx) = opened('R');
        assert_eq!(app.view(), &View::Walk("rotate now"));
        let load = requests::<RotateClusterChange>(&fx);
        assert!(
            matches!(&load[..], [(t, Action::Load)] if t == &[CLUSTER_TARGET]),
            "the cluster, not the selected node, is the target"
        );
        // t does not turn a change of the cluster into one of nodes.
        assert!(requests::<RotateClusterChange>(&press(&mut app, KeyCode::Char('t'))).is_empty());
        answer::<RotateNowForm>(
            &mut app,
            Event::Loaded(RotateClusterFacts {
                state: state(
                    false,
                    "configuring control plane node(s) node1: waiting for probes: kube-controller-manager, kube-scheduler",
                    1,
                    1,
                ),
                nodes: nodes(),
                expired: Vec::new(),
                stuck: vec![
                    "node1: waiting for the kube-controller-manager/kube-scheduler probes: their self-signed certificates have expired; run `harvcred certs fix-kcm --node node1`".into(),
                ],
            }),
        );
        press(&mut app, KeyCode::Enter);
        assert_eq!(form::<RotateNowForm>(&app).walk.step, Step::Edit, "refused");
        let s = screen(&app, 14).join("\n");
        assert!(s.contains("certs.rotate · edit"), "{s}");
        assert!(s.contains("targets  cluster: fleet-local/local"), "{s}");
        assert!(s.contains("✗ preconditions: the RKEControlPlane"), "{s}");
        assert!(s.contains("waiting for probes"), "{s}");
        assert!(s.contains("fix-kcm --node node1"), "{s}");
    }

    #[test]
    fn rotate_now_previews_the_bump_then_follows_the_nodes_to_a_summary() {
        let (mut app, _) = opened('R');
        answer::<RotateNowForm>(
            &mut app,
            Event::Loaded(RotateClusterFacts {
                state: state(true, "", 1, 1),
                nodes: nodes(),
                expired: Vec::new(),
                stuck: Vec::new(),
            }),
        );
        press(&mut app, KeyCode::Enter);
        let s = screen(&app, 20).join("\n");
        assert!(s.contains("certs.rotate · preview"), "{s}");
        assert!(
            s.contains("rotateCertificates.generation 1 -> 2 (at resourceVersion 41)"),
            "{s}"
        );
        let dry = requests::<RotateClusterChange>(&press(&mut app, KeyCode::Enter));
        let (ticket, target) = ticket_of(&dry[0].1);
        answer::<RotateNowForm>(
            &mut app,
            Event::DryRunDone {
                ticket,
                target,
                result: Ok(()),
            },
        );
        let apply = requests::<RotateClusterChange>(&press(&mut app, KeyCode::Char('y')));
        let (ticket, target) = ticket_of(&apply[0].1);
        let fx = answer::<RotateNowForm>(
            &mut app,
            Event::Applied {
                ticket,
                target: target.clone(),
                result: Ok(true),
            },
        );
        let (ticket, _) = ticket_of(&requests::<RotateClusterChange>(&fx)[0].1);
        let mut opened_logs = Vec::new();
        let per_cert: Vec<String> = (0..10)
            .map(|i| {
                format!("node1 server/tls/client-{i}.crt: Dec 10, 2026 -> Nov 30, 2027 renewed")
            })
            .collect();
        let lines = [
            "node1: /var/lib/rancher/rke2/certificate_rotation/generation now 2, rke2-server restarted (Mon 2026-11-30 22:10:01 UTC)".to_string(),
            "  node1 | level=info msg=\"rke2 is up and running\"".into(),
            "RKEControlPlane: Ready True, status generation 2".into(),
        ]
        .into_iter()
        .chain(per_cert)
        .chain(["node1: 18 of 18 leaf certificates renewed; earliest NotAfter 2026-12-10 -> 2027-11-30".to_string()]);
        for text in lines {
            let fx = answer::<RotateNowForm>(
                &mut app,
                Event::Progress {
                    ticket,
                    target: target.clone(),
                    text,
                },
            );
            opened_logs.extend(fx.into_iter().filter_map(|e| match e {
                Effect::OpenLogs { sources, .. } => Some(format!("{sources:?}")),
                _ => None,
            }));
        }
        assert!(
            opened_logs.len() == 1 && opened_logs[0].contains("node1"),
            "the log beside the form is the node being rotated: {opened_logs:?}"
        );
        let fx = answer::<RotateNowForm>(
            &mut app,
            Event::Verified {
                ticket,
                target,
                result: Ok(()),
            },
        );
        assert!(
            fx.iter()
                .any(|e| matches!(e, Effect::Sweep(t) if t.len() == 3)),
            "every node is read again: {fx:?}"
        );
        let s = screen(&app, 16);
        assert_eq!(
            s[..3],
            [
                "┌ certs.rotate · done ───────────────────────────────────────────────────────┐",
                "│targets  cluster: fleet-local/local                                         │",
                "│fleet-local/local  verified                                                 │",
            ]
        );
        assert_eq!(
            s[3],
            "│done: 1 changed, 0 already so                                               │"
        );
        assert!(
            s[8].starts_with("┌ followed 9-14 of 14 (pgup/pgdn) "),
            "{s:#?}"
        );
        assert_eq!(
            s[13],
            "│node1 server/tls/client-9.crt: Dec 10, 2026 -> Nov 30, 2027 renewed         │"
        );
        assert_eq!(
            s[14],
            "│node1: 18 of 18 leaf certificates renewed; earliest NotAfter 2026-12-10 -> 2│"
        );
        // pgup: the start of the rotation.
        press(&mut app, KeyCode::PageUp);
        let s = screen(&app, 16);
        assert!(s[8].starts_with("┌ followed 1-6 of 14 "), "{s:#?}");
        assert!(
            s[9].contains("certificate_rotation/generation now 2"),
            "{s:#?}"
        );
        // Closing goes back to :certs.
        press(&mut app, KeyCode::Enter);
        assert_eq!(app.view(), &View::Certs);
    }

    #[test]
    fn auto_rotate_shows_unparsed_text_at_its_field_and_previews_when_it_fires() {
        let (mut app, fx) = opened('a');
        let load = requests::<AutoRotateChange>(&fx);
        assert!(matches!(&load[..], [(t, Action::Load)] if t == &[AUTO_ROTATE]));
        let now = time::OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
        answer::<AutoRotateForm>(
            &mut app,
            Event::Loaded(AutoRotateFacts {
                current: AutoRotate {
                    enable: false,
                    expiring_in_hours: 240,
                    resource_version: "9".into(),
                },
                earliest_not_after: Ok(now + time::Duration::days(100)),
                state: Ok(state(true, "", 0, 0)),
                now,
            }),
        );
        typed(&mut app, "maybe");
        press(&mut app, KeyCode::Tab);
        typed(&mut app, "9000");
        let s = screen(&app, 12);
        assert_eq!(
            s[..7],
            [
                "┌ auto-rotate-rke2-certs: enable on/off, hours (expiringInHours 1..8759) ────┐",
                "│  enable    maybe                                                           │",
                "│            ✗ \"maybe\": on or off (empty keeps the setting's value)          │",
                "│                                                                            │",
                "│> hours     9000                                                            │",
                "│            ✗ expiringInHours can't be large than 8759 (one year less an    │",
                "│            hour)                                                           │",
            ]
        );
        assert!(
            s[9].contains("targets  setting: auto-rotate-rke2-certs"),
            "{s:#?}"
        );
        press(&mut app, KeyCode::Enter);
        assert_eq!(
            form::<AutoRotateForm>(&app).walk.step,
            Step::Edit,
            "refused"
        );
        // Fixed: on, 3000 hours (the certificate expires within them).
        for _ in 0..4 {
            press(&mut app, KeyCode::Backspace);
        }
        typed(&mut app, "3000");
        press(&mut app, KeyCode::BackTab);
        for _ in 0..5 {
            press(&mut app, KeyCode::Backspace);
        }
        typed(&mut app, "on");
        press(&mut app, KeyCode::Enter);
        let s = screen(&app, 16).join("\n");
        assert!(s.contains("certs.auto-rotate · preview"), "{s}");
        assert!(
            s.contains("enable false -> true,") && s.contains("expiringInHours 240 -> 3000"),
            "{s}"
        );
        assert!(
            s.contains("fires at once: that is within 3000 hours"),
            "{s}"
        );
    }

    #[test]
    fn rotating_a_node_by_hand_is_for_the_marked_nodes_and_refused_while_a_server_is_not_ready() {
        let mut app = app(false);
        // node2 marked, then :rotate-node.
        press(&mut app, KeyCode::Char('j'));
        press(&mut app, KeyCode::Char(' '));
        typed(&mut app, ":rotate-node");
        let fx = press(&mut app, KeyCode::Enter);
        let load = requests::<RotateNodeChange>(&fx);
        assert!(
            matches!(&load[..], [(t, Action::Load)] if t == &["node2"]),
            "{:?}",
            load.len()
        );
        let mut facts = nodes();
        facts[0].ready = Some(false);
        answer::<RotateNodeForm>(&mut app, Event::Loaded(facts));
        typed(&mut app, "kubelet, api-server");
        assert_eq!(
            RotateNodeForm::default()
                .draft(&form::<RotateNodeForm>(&app).fields, TargetChoice::Marked)
                .services,
            ["kubelet", "api-server"]
        );
        press(&mut app, KeyCode::Enter);
        let s = screen(&app, 12).join("\n");
        assert_eq!(form::<RotateNodeForm>(&app).walk.step, Step::Edit, "{s}");
        assert!(s.contains("control-plane node node1 is not Ready"), "{s}");
        // The change's own check, for the record.
        assert!(
            RotateNodeChange
                .plan(&RotateNodeDraft::default(), &nodes(), &["node2".into()])
                .is_ok()
        );
    }

    #[test]
    fn from_a_nodes_details_the_forms_are_for_that_node_alone() {
        let mut app = app(false);
        // node1 marked; node2's details.
        press(&mut app, KeyCode::Char(' '));
        press(&mut app, KeyCode::Enter);
        assert_eq!(app.view(), &View::NodeDetail("node2".into()));
        let fx = press(&mut app, KeyCode::Char('N'));
        let load = requests::<RotateNodeChange>(&fx);
        assert!(matches!(&load[..], [(t, Action::Load)] if t == &["node2"]));
        answer::<RotateNodeForm>(&mut app, Event::Loaded(nodes()));
        assert!(
            requests::<RotateNodeChange>(&press(&mut app, KeyCode::Char('t'))).is_empty(),
            "t does not change the node"
        );
        let s = screen(&app, 12).join("\n");
        assert!(s.contains("targets  node: node2"), "{s}");
        press(&mut app, KeyCode::Esc);
        assert_eq!(app.view(), &View::NodeDetail("node2".into()));
        let fx = press(&mut app, KeyCode::Char('F'));
        let load = requests::<FixKcmChange>(&fx);
        assert!(matches!(&load[..], [(t, Action::Load)] if t == &["node2"]));
    }

    #[test]
    fn read_only_refuses_the_forms_and_the_help_hides_their_keys() {
        let mut app = app(true);
        typed(&mut app, ":certs");
        press(&mut app, KeyCode::Enter);
        for key in ['a', 'R', 'N', 'F'] {
            let fx = press(&mut app, KeyCode::Char(key));
            assert!(fx.is_empty() && app.form.is_none(), "{key}");
            assert!(app.flash.as_ref().unwrap().text.contains("read-only"));
        }
        let keys = |read_only| -> Vec<&str> {
            crate::app::keys::for_view(&View::Certs, read_only)
                .0
                .iter()
                .map(|h| h.key)
                .collect()
        };
        assert!(["a", "R", "N", "F"].iter().all(|k| keys(false).contains(k)));
        assert!(!["a", "R", "N", "F"].iter().any(|k| keys(true).contains(k)));
        let (mut app, fx) = opened('F');
        assert!(!requests::<FixKcmChange>(&fx).is_empty());
        assert_eq!(app.view(), &View::Walk("fix-kcm"));
        // esc while reading cancels and comes back to :certs.
        press(&mut app, KeyCode::Esc);
        assert!(app.form.is_none());
        assert_eq!(app.view(), &View::Certs);
    }
}
