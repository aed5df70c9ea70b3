//! `:proxy`: the guided change of the cluster's `http-proxy` setting
//! (`flows::proxy`) as an engine form: three URL fields filled from the
//! cluster's value once read (credentials masked, `ctrl-r` shows the
//! focused one), Harvester's webhook messages at their field, one target
//! (the cluster), a management node's rke2-server log beside the form
//! while it applies, and `u` at the end to roll back to the value before.

use super::App;
use super::engine_form::{Field, FollowUp, FormSpec};
use super::walk::TargetChoice;
use crate::creds::proxy::{HttpProxySetting, ProxyUrl, mask_url};
use crate::flows::Step;
use crate::flows::engine::Walk;
use crate::flows::proxy::{CLUSTER, ProxyChange, ProxyDraft};

/// The proxy form: a change, or the rollback to a kept value.
pub struct ProxyForm {
    /// The value a rollback writes back (its fields start with it).
    rollback: Option<HttpProxySetting>,
    /// Node-local proxy drift from the last sweep, shown under the fields.
    drift: Vec<String>,
}

impl ProxyForm {
    /// A change of the setting; `app`'s last sweep says what differs on the
    /// nodes themselves.
    pub fn new(app: &App) -> ProxyForm {
        ProxyForm {
            rollback: None,
            drift: node_local_drift(app),
        }
    }
}

/// Node-local proxy drift (/etc/environment) from the last sweep, and why
/// the console leaves it alone.
fn node_local_drift(app: &App) -> Vec<String> {
    use crate::app::NodeSweep;
    use crate::creds::Level;
    use crate::creds::report::Area;
    let mut out = Vec::new();
    for (node, sweep) in &app.sweeps {
        let NodeSweep::Done(r) = sweep else { continue };
        let Some(area) = r.areas.get(&Area::Proxy) else {
            continue;
        };
        for fnd in area
            .findings
            .iter()
            .filter(|f| f.level != Level::Ok && f.subject.contains("/etc/environment"))
        {
            out.push(format!("  {node}: {}", fnd.message));
        }
    }
    if !out.is_empty() {
        out.insert(0, "Node-local proxy (/etc/environment) differs:".into());
        out.push(
            "  harvcred does not edit /oem for it: it is per node, not copied to new nodes, bypasses the webhook, and its layout may change (Harvester's security guide)".into(),
        );
    }
    out
}

fn fill_with(fields: &mut [Field], s: &HttpProxySetting) {
    let values = [
        s.http_proxy.expose_secret(),
        s.https_proxy.expose_secret(),
        s.no_proxy.as_str(),
    ];
    for (field, value) in fields.iter_mut().zip(values) {
        field.set(value);
    }
}

impl FormSpec for ProxyForm {
    type Change = ProxyChange;
    const NAME: &'static str = "http-proxy";

    fn title(&self) -> String {
        match self.rollback {
            Some(_) => " back to the value before (ctrl-r shows credentials) ".into(),
            None => " http-proxy setting (ctrl-r shows credentials) ".into(),
        }
    }

    fn fields(&self) -> Vec<Field> {
        let mut fields = vec![
            Field::masked_by("httpProxy", mask_url),
            Field::masked_by("httpsProxy", mask_url),
            Field::line("noProxy"),
        ];
        if let Some(kept) = &self.rollback {
            fill_with(&mut fields, kept);
        }
        fields
    }

    fn change(&self) -> ProxyChange {
        match self.rollback {
            Some(_) => ProxyChange::rollback(),
            None => ProxyChange::change(),
        }
    }

    fn draft(&self, fields: &[Field], _: TargetChoice) -> ProxyDraft {
        let value = |i: usize| fields.get(i).map(Field::value).unwrap_or_default();
        ProxyDraft::whole(&HttpProxySetting {
            http_proxy: ProxyUrl::new(&value(0)),
            https_proxy: ProxyUrl::new(&value(1)),
            no_proxy: value(2).trim().to_string(),
        })
    }

    fn fixed_target(&self) -> Option<(&'static str, String)> {
        Some(("cluster-wide setting", CLUSTER.into()))
    }

    fn walk_name(&self) -> Option<&'static str> {
        Some(Self::NAME)
    }

    /// The form shows the value the walk is for: the cluster's, or the
    /// kept one of a rollback.
    fn fill(&self, fields: &mut [Field], walk: &Walk<ProxyChange>) -> bool {
        let Some(facts) = &walk.facts else {
            return false;
        };
        fill_with(
            fields,
            self.rollback.as_ref().unwrap_or(&facts.current.setting),
        );
        true
    }

    /// Roll back what this walk applied: the same walk, the value it
    /// replaced as the new one.
    fn follow_up(&self, walk: &Walk<ProxyChange>) -> Option<FollowUp<Self>> {
        let facts = walk.facts.as_ref()?;
        (walk.step == Step::Done && !walk.plan.is_empty()).then(|| FollowUp {
            key: 'u',
            hint: "roll back to the value before this change",
            spec: ProxyForm {
                rollback: Some(facts.current.setting.clone()),
                drift: self.drift.clone(),
            },
        })
    }

    fn logs_a_management_node(&self) -> bool {
        true
    }

    fn notes(&self) -> Vec<String> {
        self.drift.clone()
    }
}

#[cfg(test)]
#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::engine_form::EngineForm;
    use crate::app::engine_form::tests::{walk_actions, walk_answer};
    use crate::app::{Effect, Msg, Setup, View};
    use crate::cluster::settings::{Configured, ProxyRead};
    use crate::creds::proxy::ClusterFacts;
    use crate::flows::engine::{Action, Event};
    use crate::flows::proxy::{ProxyFacts, ProxyWork};
    use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

    fn app(read_only: bool) -> App {
        App::new(Setup {
            read_only,
            inventory: Vec::new(),
            kube: Ok(()),
            notice: None,
            theme: "dark".into(),
        })
    }
    fn key(c: KeyCode) -> Msg {
        Msg::Key(KeyEvent::new(c, KeyModifiers::NONE))
    }
    fn ctrl(c: char) -> Msg {
        Msg::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL))
    }
    fn typed(app: &mut App, s: &str) -> Vec<Effect> {
        s.chars()
            .flat_map(|c| app.update(key(KeyCode::Char(c))))
            .collect()
    }
    fn command(app: &mut App, s: &str) -> Vec<Effect> {
        let mut fx = app.update(key(KeyCode::Char(':')));
        fx.extend(typed(app, s));
        fx.extend(app.update(key(KeyCode::Enter)));
        fx
    }
    fn form(app: &App) -> &EngineForm<ProxyForm> {
        app.form_of::<ProxyForm>().expect("the proxy form")
    }
    /// The walk's actions among the effects (taken: the runner never sees them).
    fn actions(fx: &[Effect]) -> Vec<Action<ProxyWork>> {
        walk_actions::<ProxyChange>(fx)
            .into_iter()
            .map(|(_, a)| a)
            .collect()
    }
    /// An answer for the walk open now.
    fn answer(app: &mut App, ev: Event<ProxyChange>) -> Vec<Effect> {
        let walk = app.form.as_ref().unwrap().walk_id().to_string();
        walk_answer::<ProxyChange>(app, &walk, ev)
    }
    fn facts(setting: HttpProxySetting, rv: &str) -> ProxyFacts {
        ProxyFacts {
            current: ProxyRead {
                setting,
                resource_version: rv.into(),
                configured: Configured::default(),
            },
            cluster: ClusterFacts {
                node_ips: vec!["10.0.0.11".into(), "10.0.0.12".into()],
                ..Default::default()
            },
        }
    }
    fn loaded(app: &mut App) {
        let setting = HttpProxySetting::parse(
            r#"{"httpProxy":"http://u:Pa55w0rd@proxy:3128","noProxy":"10.0.0.0/24"}"#,
        )
        .unwrap();
        answer(app, Event::Loaded(facts(setting, "4")));
    }

    /// Opens the form, sets noProxy to 10.0.0.0/16, previews and passes the
    /// dry run: the walk then waits for `y`.
    fn to_confirm(a: &mut App) {
        command(a, "proxy");
        loaded(a);
        a.update(key(KeyCode::BackTab));
        a.update(ctrl('u'));
        typed(a, "10.0.0.0/16");
        a.update(key(KeyCode::Enter));
        let fx = actions(&a.update(key(KeyCode::Enter)));
        let [Action::DryRun { ticket, .. }] = fx[..] else {
            panic!("{fx:?}")
        };
        answer(
            a,
            Event::DryRunDone {
                ticket,
                target: CLUSTER.into(),
                result: Ok(()),
            },
        );
    }

    #[test]
    fn read_only_refuses_the_form() {
        let mut a = app(true);
        let fx = command(&mut a, "proxy");
        assert!(fx.is_empty(), "{fx:?}");
        assert!(a.form.is_none());
        assert!(a.flash.as_ref().unwrap().text.contains("read-only"));
    }

    #[test]
    fn form_prefills_masks_validates_as_typed_and_cancels_without_sending() {
        let mut a = app(false);
        let fx = walk_actions::<ProxyChange>(&command(&mut a, "proxy"));
        assert!(
            matches!(&fx[..], [(t, Action::Load)] if t == &[CLUSTER]),
            "{fx:?}"
        );
        assert_eq!(a.view(), &View::Walk("http-proxy"));
        loaded(&mut a);
        assert_eq!(*form(&a).shown(0), "http://u:***@proxy:3128");
        assert_eq!(*form(&a).shown(2), "10.0.0.0/24");
        // ctrl-r reveals the focused field on purpose.
        a.update(ctrl('r'));
        assert_eq!(*form(&a).shown(0), "http://u:Pa55w0rd@proxy:3128");
        a.update(ctrl('r'));
        // To noProxy (shift-tab wraps), clear it, type an uncovered list.
        a.update(key(KeyCode::BackTab));
        a.update(ctrl('u'));
        typed(&mut a, "10.0.0.11");
        let problems = &form(&a).walk.problems;
        assert!(
            problems.iter().any(|p| p.field == "noProxy"
                && p.message.contains("The node(s) 10.0.0.12 are not covered.")),
            "{problems:?}"
        );
        // Enter is refused before sending (only an audit line) and keeps the text.
        let fx = actions(&a.update(key(KeyCode::Enter)));
        assert!(fx.iter().all(|e| matches!(e, Action::Audit(_))), "{fx:?}");
        assert_eq!(&*form(&a).fields[2].value(), "10.0.0.11");
        typed(&mut a, ",10.0.0.12");
        a.update(key(KeyCode::Enter));
        assert_eq!(form(&a).walk.step, Step::Preview);
        let fx = actions(&a.update(key(KeyCode::Enter)));
        assert!(matches!(fx[..], [Action::DryRun { .. }]), "{fx:?}");
        // ctrl-x: cancelled, the form closes, nothing else is requested.
        let fx = a.update(ctrl('x'));
        assert!(fx.is_empty(), "{fx:?}");
        assert!(a.form.is_none());
        assert_eq!(a.view(), &View::Nodes);
        assert!(
            a.flash
                .as_ref()
                .unwrap()
                .text
                .contains("nothing was changed")
        );
        // The app's Debug output never shows the password.
        command(&mut a, "proxy");
        loaded(&mut a);
        assert!(!format!("{a:?}").contains("Pa55w0rd"));
    }

    #[test]
    fn conflict_shows_what_changed_and_asks_again_then_u_rolls_back() {
        let mut a = app(false);
        to_confirm(&mut a);
        let fx = actions(&a.update(key(KeyCode::Char('y'))));
        let [Action::Apply { ticket, .. }] = fx[..] else {
            panic!("{fx:?}")
        };
        let meanwhile = facts(
            HttpProxySetting::parse(r#"{"noProxy":"192.168.0.0/16"}"#).unwrap(),
            "9",
        );
        answer(
            &mut a,
            Event::Conflict {
                ticket,
                target: CLUSTER.into(),
                now: meanwhile.clone(),
            },
        );
        let w = &form(&a).walk;
        assert_eq!(w.step, Step::Preview);
        assert!(w.conflicted(), "{:?}", w.notice);
        assert!(
            w.conflict.iter().any(|l| l.contains("192.168.0.0/16")),
            "{:?}",
            w.conflict
        );
        assert_eq!(&*form(&a).fields[2].value(), "10.0.0.0/16");
        // Asked again: the next dry run carries the version just read.
        let fx = actions(&a.update(key(KeyCode::Enter)));
        let [
            Action::DryRun {
                ticket, ref work, ..
            },
        ] = fx[..]
        else {
            panic!("{fx:?}")
        };
        assert_eq!(work.resource_version, "9");
        answer(
            &mut a,
            Event::DryRunDone {
                ticket,
                target: CLUSTER.into(),
                result: Ok(()),
            },
        );
        let fx = actions(&a.update(key(KeyCode::Char('y'))));
        let [Action::Apply { ticket, .. }] = fx[..] else {
            panic!("{fx:?}")
        };
        let fx = actions(&answer(
            &mut a,
            Event::Applied {
                ticket,
                target: CLUSTER.into(),
                result: Ok(true),
            },
        ));
        let Some(Action::Verify { ticket, .. }) = fx.last() else {
            panic!("{fx:?}")
        };
        answer(
            &mut a,
            Event::Verified {
                ticket: *ticket,
                target: CLUSTER.into(),
                result: Ok(()),
            },
        );
        assert_eq!(form(&a).walk.step, Step::Done);
        // u: the same walk back to the value this change replaced.
        let fx = actions(&a.update(key(KeyCode::Char('u'))));
        assert!(matches!(fx[..], [Action::Load]), "{fx:?}");
        let w = &form(&a).walk;
        assert_eq!(w.change, ProxyChange::rollback());
        assert_eq!(w.draft, ProxyDraft::whole(&meanwhile.current.setting));
        // Once read, the form shows the kept value, not the cluster's.
        answer(
            &mut a,
            Event::Loaded(facts(HttpProxySetting::default(), "10")),
        );
        assert_eq!(form(&a).walk.step, Step::Edit);
        assert_eq!(&*form(&a).fields[2].value(), "192.168.0.0/16");
        assert_eq!(
            form(&a).walk.draft,
            ProxyDraft::whole(&meanwhile.current.setting)
        );
    }

    #[test]
    fn applying_follows_a_management_nodes_rke2_server_log_beside_the_form() {
        use crate::app::{NodeInfo, Role};
        let mut a = app(false);
        let node = |name: &str, role| NodeInfo {
            name: name.into(),
            role,
            address: Some("10.0.0.1".into()),
            ready: Some(true),
        };
        a.update(Msg::NodesListed(vec![
            node("node1", Role::Worker),
            node("node2", Role::Server),
        ]));
        to_confirm(&mut a);
        let fx = a.update(key(KeyCode::Char('y')));
        let [Action::Apply { ticket, .. }] = actions(&fx)[..] else {
            panic!("{fx:?}")
        };
        let Some(Effect::OpenLogs { pane, sources }) = fx.last() else {
            panic!("{fx:?}")
        };
        assert_eq!(sources.len(), 1);
        assert_eq!(sources[0].target.name, "node2", "the management node");
        assert_eq!(sources[0].unit.as_deref(), Some("rke2-server"));
        let pane = *pane;
        // The form keeps the screen and the keys; the log sits beside it.
        assert_eq!(a.view(), &View::Walk("http-proxy"));
        let fx = actions(&answer(
            &mut a,
            Event::Applied {
                ticket,
                target: CLUSTER.into(),
                result: Ok(true),
            },
        ));
        let Some(Action::Verify { ticket, .. }) = fx.last() else {
            panic!("{fx:?}")
        };
        let ticket = *ticket;
        // Progress names no node: the log stays on the management node.
        let fx = answer(
            &mut a,
            Event::Progress {
                ticket,
                target: CLUSTER.into(),
                text: "configured: False · restarting".into(),
            },
        );
        assert!(
            !fx.iter().any(|e| matches!(e, Effect::OpenLogs { .. })),
            "{fx:?}"
        );
        answer(
            &mut a,
            Event::Verified {
                ticket,
                target: CLUSTER.into(),
                result: Ok(()),
            },
        );
        // Closing the finished walk ends the log it opened.
        let fx = a.update(key(KeyCode::Esc));
        assert!(fx.contains(&Effect::CloseLogs { pane }), "{fx:?}");
        assert!(a.logs.pane.is_none());
        assert_eq!(a.view(), &View::Nodes);
    }

    /// ctrl-x while the cluster is followed stops following; the walk says
    /// the change was applied and not yet reported configured.
    #[test]
    fn ctrl_x_while_verifying_stops_following() {
        let mut a = app(false);
        to_confirm(&mut a);
        let fx = actions(&a.update(key(KeyCode::Char('y'))));
        let [Action::Apply { ticket, .. }] = fx[..] else {
            panic!("{fx:?}")
        };
        answer(
            &mut a,
            Event::Applied {
                ticket,
                target: CLUSTER.into(),
                result: Ok(true),
            },
        );
        a.update(ctrl('x'));
        let w = &form(&a).walk;
        assert_eq!(w.step, Step::Done);
        let Some(Err(m)) = &w.result else {
            panic!("{:?}", w.result)
        };
        assert!(m.contains("applied, but stopped following"), "{m}");
    }

    fn screen(app: &App, width: u16, height: u16) -> Vec<String> {
        let theme = crate::ui::Theme::default_theme();
        let backend = ratatui::backend::TestBackend::new(width, height);
        let mut term = ratatui::Terminal::new(backend).unwrap();
        let form = app.form.as_ref().expect("a form is open");
        term.draw(|f| form.draw(f, f.area(), &theme)).unwrap();
        crate::ui::buffer_lines(term.backend().buffer())
    }

    /// What the operator sees at the form: the password masked (revealed
    /// with ctrl-r on its field only), Harvester's message at noProxy, the
    /// one target, and no `t` to choose nodes.
    #[test]
    fn the_form_masks_credentials_and_shows_harvesters_message_at_the_field() {
        let mut a = app(false);
        command(&mut a, "proxy");
        loaded(&mut a);
        a.update(key(KeyCode::BackTab));
        a.update(ctrl('u'));
        typed(&mut a, "10.0.0.11");
        let s = screen(&a, 80, 16);
        assert_eq!(
            s[1..6],
            [
                "│  httpProxy http://u:***@proxy:3128                                           │",
                "│  httpsProxy                                                                  │",
                "│> noProxy   10.0.0.11                                                         │",
                "│            ✗ noProxy should contain the node's IP addresses or CIDR. The     │",
                "│            node(s) 10.0.0.12 are not covered.                                │",
            ],
            "{}",
            s.join("\n")
        );
        assert!(s[7].starts_with("┌ http-proxy · edit "), "{}", s[7]);
        assert!(s[8].contains("cluster-wide setting: cluster"), "{}", s[8]);
        assert!(!s[15].contains("t targets"), "{}", s[15]);
        // ctrl-r on noProxy has nothing to reveal; on httpProxy it does.
        a.update(ctrl('r'));
        assert!(!screen(&a, 80, 16).join("\n").contains("Pa55w0rd"));
        a.update(key(KeyCode::Tab));
        a.update(ctrl('r'));
        let s = screen(&a, 80, 16);
        assert!(s[1].contains("http://u:Pa55w0rd@proxy:3128"), "{}", s[1]);
        // Moving on masks it again.
        a.update(key(KeyCode::Tab));
        assert!(!screen(&a, 80, 16).join("\n").contains("Pa55w0rd"));
    }
}
