//! The console side of the proxy walkthrough (`:proxy`): the proxy change
//! on the walkthrough engine (`flows::proxy`), with the form's fields and
//! focus, keys to engine events (`app::walk`), and the walk's actions to
//! the runner as `Effect::Proxy`; their answers come back as `Msg::Walk`.
//! Kept out of `mod.rs` so the shared files only dispatch here.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::msg::Once;
use super::walk::key_event;
use super::{App, Effect, Flash, View};
use crate::creds::proxy::{HttpProxySetting, ProxyUrl};
use crate::flows::Step;
use crate::flows::engine::{Action, ApplyOptions, Event, Problem, TargetState, Walk};
use crate::flows::proxy::{CLUSTER, Field, ProxyChange, ProxyDraft, ProxyWork};
use crate::ui::forms::LineInput;

/// The form's state: the engine walk, what is typed in each field, focus, reveal.
pub struct ProxyForm {
    pub walk: Walk<ProxyChange>,
    /// httpProxy, httpsProxy, noProxy (in `Field::ALL` order).
    pub inputs: [LineInput; 3],
    pub focus: usize,
    /// Credentials shown in clear (ctrl-r), until the field loses focus.
    pub reveal: bool,
    /// The log pane the walk opened beside itself when it applied, if any.
    pub log_pane: Option<u64>,
}

impl std::fmt::Debug for ProxyForm {
    // The inputs mask themselves; the walk's values are masked by their types.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProxyForm")
            .field("step", &self.walk.step)
            .field("draft", &self.walk.draft)
            .field("inputs", &self.inputs)
            .field("focus", &self.focus)
            .finish()
    }
}

impl ProxyForm {
    fn setting(&self) -> HttpProxySetting {
        HttpProxySetting {
            http_proxy: ProxyUrl::new(self.inputs[0].text()),
            https_proxy: ProxyUrl::new(self.inputs[1].text()),
            no_proxy: self.inputs[2].text().trim().to_string(),
        }
    }

    fn fill(&mut self, s: &HttpProxySetting) {
        self.inputs = [
            LineInput::new(s.http_proxy.expose_secret()),
            LineInput::new(s.https_proxy.expose_secret()),
            LineInput::new(&s.no_proxy),
        ];
    }

    /// What a field shows: URLs masked unless revealed while focused.
    pub fn shown(&self, i: usize) -> String {
        let text = self.inputs[i].text();
        if Field::ALL[i] == Field::NoProxy || (self.reveal && self.focus == i) {
            text.to_string()
        } else {
            crate::creds::proxy::mask_url(text)
        }
    }

    /// Problems of one field, worst first.
    pub fn problems_at(&self, field: Field) -> impl Iterator<Item = &Problem> {
        let mut v: Vec<&Problem> = self
            .walk
            .problems
            .iter()
            .filter(|p| p.field == field.label())
            .collect();
        v.sort_by_key(|p| std::cmp::Reverse(p.severity));
        v.into_iter()
    }

    /// The value before this walk's change (as last read).
    pub fn before(&self) -> HttpProxySetting {
        self.walk
            .facts
            .as_ref()
            .map(|f| f.current.setting.clone())
            .unwrap_or_default()
    }

    /// The value the walk would write.
    pub fn after(&self) -> HttpProxySetting {
        self.walk.draft.resolve(&self.before())
    }

    /// The step to show: the engine's apply step is shown as verify while
    /// the cluster is followed until it reports the change configured.
    pub fn shown_step(&self) -> Step {
        match self.walk.states.get(CLUSTER) {
            Some(TargetState::Verifying { .. }) if self.walk.step == Step::Apply => Step::Verify,
            _ => self.walk.step,
        }
    }
}

/// The walkthrough open in the console (one at a time). A new flow adds a
/// variant and its own file, not fields to `App`.
#[derive(Debug)]
pub enum OpenWalk {
    Proxy(ProxyForm),
}

/// The proxy form, when the open walkthrough is the proxy's.
pub fn proxy_form(walk: &Option<OpenWalk>) -> Option<&ProxyForm> {
    walk.as_ref().map(|OpenWalk::Proxy(f)| f)
}

fn proxy_form_mut(walk: &mut Option<OpenWalk>) -> Option<&mut ProxyForm> {
    walk.as_mut().map(|OpenWalk::Proxy(f)| f)
}

fn effects(walk: &Walk<ProxyChange>, actions: Vec<Action<ProxyWork>>) -> Vec<Effect> {
    actions
        .into_iter()
        .map(|a| Effect::Proxy {
            walk: walk.correlation_id.clone(),
            action: Once::new(a),
        })
        .collect()
}

/// A new walk of `change` over the cluster, from `draft`.
fn new_form(change: ProxyChange, draft: ProxyDraft) -> (ProxyForm, Vec<Action<ProxyWork>>) {
    let (walk, actions) = Walk::new(
        change,
        vec![CLUSTER.to_string()],
        draft,
        ApplyOptions::default(),
        crate::audit::correlation_id(),
    );
    let form = ProxyForm {
        walk,
        inputs: Default::default(),
        focus: 0,
        reveal: false,
        log_pane: None,
    };
    (form, actions)
}

impl App {
    /// `:proxy`: a new walkthrough (an unfinished one is kept, not restarted).
    pub fn open_proxy_form(&mut self) -> Vec<Effect> {
        self.views.truncate(1);
        self.views.push(View::Proxy);
        if proxy_form(&self.walk).is_some_and(|f| !f.walk.finished()) {
            return Vec::new();
        }
        let (form, actions) = new_form(ProxyChange::change(), ProxyDraft::default());
        let fx = effects(&form.walk, actions);
        self.walk = Some(OpenWalk::Proxy(form));
        fx
    }

    /// Applying restarts RKE2 on every node: follow the first management
    /// node's rke2-server log beside the form (unless a log pane is open).
    fn log_beside_the_form(&mut self) -> Vec<Effect> {
        if self.logs.pane.is_some() {
            return Vec::new();
        }
        let mut rows: Vec<&super::NodeRow> = self.rows.iter().collect();
        rows.sort_by_key(|r| (r.info.role != super::Role::Server, !r.ssh.is_up()));
        let Some(first) = rows.first() else {
            return Vec::new();
        };
        let (id, fx) = super::logpane::open_beside(self, vec![first.info.name.clone()]);
        if let Some(form) = proxy_form_mut(&mut self.walk) {
            form.log_pane = Some(id);
        }
        fx
    }

    /// An answer for the walk from the runner (a stale one is ignored by the
    /// engine's tickets; one for an earlier walk is dropped).
    pub fn proxy_event(&mut self, walk: &str, ev: Event<ProxyChange>) -> Vec<Effect> {
        let Some(form) = proxy_form_mut(&mut self.walk).filter(|f| f.walk.correlation_id == walk)
        else {
            return Vec::new();
        };
        let was_loading = form.walk.step == Step::Loading;
        let mut actions = form.walk.handle(ev);
        if was_loading && form.walk.step == Step::Edit {
            // The form shows the value the walk is for: the cluster's, or
            // the kept one of a rollback; what is shown is what is sent.
            let shown = form.after();
            form.fill(&shown);
            actions.extend(form.walk.handle(Event::Edited(ProxyDraft::whole(&shown))));
        }
        if form.walk.step == Step::Done {
            let (error, text) = match &form.walk.result {
                Some(Ok(m)) => (false, m.clone()),
                Some(Err(m)) => (true, m.clone()),
                None => (false, "done".into()),
            };
            self.flash = Some(Flash {
                error,
                text: format!("http-proxy: {text}"),
            });
        }
        effects(&form.walk, actions)
    }

    /// Keys while the form is on screen.
    pub fn proxy_key(&mut self, k: KeyEvent) -> Vec<Effect> {
        let Some(form) = proxy_form_mut(&mut self.walk) else {
            return Vec::new();
        };
        let ctrl = k.modifiers.contains(KeyModifiers::CONTROL);
        let step = form.walk.step;
        let mut close = false;
        let actions = match (step, k.code) {
            // Roll back what this walk applied: the same walk, old value as new.
            (Step::Done, KeyCode::Char('u')) if !form.walk.plan.is_empty() => {
                let (new, actions) =
                    new_form(ProxyChange::rollback(), ProxyDraft::whole(&form.before()));
                let log_pane = form.log_pane;
                *form = new;
                form.log_pane = log_pane;
                actions
            }
            (Step::Done | Step::Cancelled, KeyCode::Esc | KeyCode::Enter | KeyCode::Char('q')) => {
                close = true;
                Vec::new()
            }
            (Step::Edit, KeyCode::Tab | KeyCode::Down) => {
                form.focus = (form.focus + 1) % 3;
                form.reveal = false;
                Vec::new()
            }
            (Step::Edit, KeyCode::BackTab | KeyCode::Up) => {
                form.focus = (form.focus + 2) % 3;
                form.reveal = false;
                Vec::new()
            }
            (Step::Edit, KeyCode::Char('r')) if ctrl => {
                form.reveal = !form.reveal;
                Vec::new()
            }
            // enter, esc, ctrl-x: the engine's keys (shared by every walk).
            (Step::Edit, KeyCode::Enter | KeyCode::Esc) => match key_event(&form.walk, &k) {
                Some(ev) => form.walk.handle(ev),
                None => Vec::new(),
            },
            (Step::Edit, _) if !(ctrl && k.code == KeyCode::Char('x')) => {
                if form.inputs[form.focus].key(&k) {
                    let s = form.setting();
                    form.walk.handle(Event::Edited(ProxyDraft::whole(&s)))
                } else {
                    Vec::new()
                }
            }
            _ => match key_event(&form.walk, &k) {
                Some(ev) => form.walk.handle(ev),
                None => Vec::new(),
            },
        };
        if form.walk.step == Step::Cancelled {
            close = true;
            self.flash = Some(Flash {
                error: false,
                text: "http-proxy: cancelled, nothing was changed".into(),
            });
        }
        if form.walk.step == Step::Done && step != Step::Done {
            // Stopped following the verification (ctrl-x): say how it ended.
            if let Some(Err(m)) = &form.walk.result {
                self.flash = Some(Flash {
                    error: true,
                    text: format!("http-proxy: {m}"),
                });
            }
        }
        let applying = actions.iter().any(|a| matches!(a, Action::Apply { .. }));
        let opened_log = form.log_pane;
        let mut fx = effects(&form.walk, actions);
        if close {
            if form.walk.finished() {
                self.walk = None;
            }
            if self.views.len() > 1 {
                self.views.pop();
            }
            // The log the walk opened goes with it (its journalctl ends).
            if opened_log.is_some() && self.logs.pane.as_ref().map(|p| p.id) == opened_log {
                fx.extend(super::logpane::close(self));
            }
        }
        if applying {
            fx.extend(self.log_beside_the_form());
        }
        fx
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::{Msg, Setup};
    use crate::cluster::settings::{Configured, ProxyRead};
    use crate::creds::proxy::ClusterFacts;
    use crate::flows::proxy::ProxyFacts;

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
    /// The walk's actions among the effects (taken: the runner never sees them).
    fn actions(fx: &[Effect]) -> Vec<Action<ProxyWork>> {
        fx.iter()
            .filter_map(|e| match e {
                Effect::Proxy { action, .. } => action.take(),
                _ => None,
            })
            .collect()
    }
    /// An answer for the walk open now.
    fn answer(app: &mut App, ev: Event<ProxyChange>) -> Vec<Effect> {
        let walk = proxy_form(&app.walk).unwrap().walk.correlation_id.clone();
        app.update(Msg::Walk {
            walk,
            event: Once::new(Box::new(ev)),
        })
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
        assert!(a.walk.is_none());
        assert!(a.flash.as_ref().unwrap().text.contains("read-only"));
    }

    #[test]
    fn form_prefills_masks_validates_as_typed_and_cancels_without_sending() {
        let mut a = app(false);
        let fx = actions(&command(&mut a, "proxy"));
        assert!(matches!(fx[..], [Action::Load]), "{fx:?}");
        assert_eq!(a.view(), &View::Proxy);
        loaded(&mut a);
        let form = proxy_form(&a.walk).unwrap();
        assert_eq!(form.shown(0), "http://u:***@proxy:3128");
        assert_eq!(form.shown(2), "10.0.0.0/24");
        // ctrl-r reveals the focused field on purpose.
        a.update(ctrl('r'));
        assert_eq!(
            proxy_form(&a.walk).unwrap().shown(0),
            "http://u:Pa55w0rd@proxy:3128"
        );
        a.update(ctrl('r'));
        // To noProxy (shift-tab wraps), clear it, type an uncovered list.
        a.update(key(KeyCode::BackTab));
        a.update(ctrl('u'));
        typed(&mut a, "10.0.0.11");
        let form = proxy_form(&a.walk).unwrap();
        assert!(
            form.problems_at(Field::NoProxy)
                .any(|p| p.message.contains("The node(s) 10.0.0.12 are not covered.")),
            "{:?}",
            form.walk.problems
        );
        // Enter is refused before sending (only an audit line) and keeps the text.
        let fx = actions(&a.update(key(KeyCode::Enter)));
        assert!(fx.iter().all(|e| matches!(e, Action::Audit(_))), "{fx:?}");
        assert_eq!(proxy_form(&a.walk).unwrap().inputs[2].text(), "10.0.0.11");
        typed(&mut a, ",10.0.0.12");
        a.update(key(KeyCode::Enter));
        assert_eq!(proxy_form(&a.walk).unwrap().walk.step, Step::Preview);
        let fx = actions(&a.update(key(KeyCode::Enter)));
        assert!(matches!(fx[..], [Action::DryRun { .. }]), "{fx:?}");
        // ctrl-x: cancelled, the form closes, nothing else is requested.
        let fx = a.update(ctrl('x'));
        assert!(fx.is_empty(), "{fx:?}");
        assert!(a.walk.is_none());
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
        let w = &proxy_form(&a.walk).unwrap().walk;
        assert_eq!(w.step, Step::Preview);
        assert!(w.conflicted(), "{:?}", w.notice);
        assert!(
            w.conflict.iter().any(|l| l.contains("192.168.0.0/16")),
            "{:?}",
            w.conflict
        );
        assert_eq!(proxy_form(&a.walk).unwrap().inputs[2].text(), "10.0.0.0/16");
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
        assert_eq!(proxy_form(&a.walk).unwrap().walk.step, Step::Done);
        // u: the same walk back to the value this change replaced.
        let fx = actions(&a.update(key(KeyCode::Char('u'))));
        assert!(matches!(fx[..], [Action::Load]), "{fx:?}");
        let w = &proxy_form(&a.walk).unwrap().walk;
        assert_eq!(w.change, ProxyChange::rollback());
        assert_eq!(w.draft, ProxyDraft::whole(&meanwhile.current.setting));
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
        let Some(Effect::Proxy { action, .. }) = fx.first() else {
            panic!("{fx:?}")
        };
        let Some(Action::Apply { ticket, .. }) = action.take() else {
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
        assert_eq!(a.view(), &View::Proxy);
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
        assert_eq!(proxy_form(&a.walk).unwrap().shown_step(), Step::Verify);
        answer(
            &mut a,
            Event::Verified {
                ticket: *ticket,
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

    /// ctrl-x while the cluster is followed stops following; the flash says
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
        assert_eq!(proxy_form(&a.walk).unwrap().walk.step, Step::Done);
        let flash = a.flash.as_ref().unwrap();
        assert!(flash.error);
        assert!(
            flash.text.contains("applied, but stopped following"),
            "{}",
            flash.text
        );
    }
}
