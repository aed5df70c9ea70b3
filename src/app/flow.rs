//! The console side of the proxy walkthrough (`:proxy`): the form's fields
//! and focus around `flows::proxy`, keys to flow events, flow actions to
//! effects. Kept out of `mod.rs` so the shared files only dispatch here.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::{App, Effect, Flash, View};
use crate::creds::proxy::{HttpProxySetting, ProxyUrl};
use crate::flows::Step;
use crate::flows::proxy::{Action, Event, Field, ProxyFlow};
use crate::ui::forms::LineInput;

/// The form's state: the flow, what is typed in each field, focus, reveal.
#[derive(Debug)]
pub struct ProxyForm {
    pub flow: ProxyFlow,
    /// httpProxy, httpsProxy, noProxy (in `Field::ALL` order).
    pub inputs: [LineInput; 3],
    pub focus: usize,
    /// Credentials shown in clear (ctrl-r), until the field loses focus.
    pub reveal: bool,
    /// The log pane the walk opened beside itself when it applied, if any.
    pub log_pane: Option<u64>,
}

impl ProxyForm {
    fn setting(&self) -> HttpProxySetting {
        HttpProxySetting {
            http_proxy: ProxyUrl::new(self.inputs[0].text()),
            https_proxy: ProxyUrl::new(self.inputs[1].text()),
            no_proxy: self.inputs[2].text().trim().to_string(),
        }
    }

    fn fill_from_draft(&mut self) {
        let d = &self.flow.draft;
        self.inputs = [
            LineInput::new(d.http_proxy.expose_secret()),
            LineInput::new(d.https_proxy.expose_secret()),
            LineInput::new(&d.no_proxy),
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

fn effects(actions: Vec<Action>) -> Vec<Effect> {
    actions.into_iter().map(Effect::Proxy).collect()
}

impl App {
    /// `:proxy`: a new walkthrough (an unfinished one is kept, not restarted).
    pub fn open_proxy_form(&mut self) -> Vec<Effect> {
        self.views.truncate(1);
        self.views.push(View::Proxy);
        if proxy_form(&self.walk).is_some_and(|f| !f.flow.finished()) {
            return Vec::new();
        }
        let (flow, actions) = ProxyFlow::change(crate::audit::correlation_id());
        self.walk = Some(OpenWalk::Proxy(ProxyForm {
            flow,
            inputs: Default::default(),
            focus: 0,
            reveal: false,
            log_pane: None,
        }));
        effects(actions)
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

    /// A result for the walkthrough from the runner.
    pub fn proxy_event(&mut self, ev: Event) -> Vec<Effect> {
        let Some(form) = proxy_form_mut(&mut self.walk) else {
            return Vec::new();
        };
        let was_loading = form.flow.step == Step::Loading;
        let actions = form.flow.handle(ev);
        if was_loading && form.flow.step == Step::Edit {
            form.fill_from_draft();
        }
        if form.flow.step == Step::Done {
            self.flash = Some(match &form.flow.result {
                Some(Ok(m)) => Flash {
                    error: false,
                    text: format!("http-proxy: {m}"),
                },
                Some(Err(m)) => Flash {
                    error: true,
                    text: format!("http-proxy: {m}"),
                },
                None => Flash {
                    error: false,
                    text: "http-proxy: done".into(),
                },
            });
        }
        effects(actions)
    }

    /// Keys while the form is on screen.
    pub fn proxy_key(&mut self, k: KeyEvent) -> Vec<Effect> {
        let Some(form) = proxy_form_mut(&mut self.walk) else {
            return Vec::new();
        };
        let ctrl = k.modifiers.contains(KeyModifiers::CONTROL);
        let mut close = false;
        let actions = match (form.flow.step, k.code) {
            // Roll back what this walk applied: the same walk, old value as new.
            (Step::Done, KeyCode::Char('u')) if form.flow.current.is_some() => {
                let (flow, actions) =
                    ProxyFlow::rollback(form.flow.before(), crate::audit::correlation_id());
                form.flow = flow;
                form.focus = 0;
                form.reveal = false;
                actions
            }
            (Step::Done | Step::Cancelled, KeyCode::Esc | KeyCode::Enter | KeyCode::Char('q')) => {
                close = true;
                Vec::new()
            }
            // ctrl-x cancels at any step; nothing is written before apply.
            (_, KeyCode::Char('x')) if ctrl => form.flow.handle(Event::Cancel),
            (Step::Edit, KeyCode::Esc) => form.flow.handle(Event::Cancel),
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
            (Step::Edit, KeyCode::Enter) => form.flow.handle(Event::Next),
            (Step::Edit, _) => {
                if form.inputs[form.focus].key(&k) {
                    let s = form.setting();
                    form.flow.handle(Event::Edited(s))
                } else {
                    Vec::new()
                }
            }
            (Step::Preview, KeyCode::Enter) => form.flow.handle(Event::Next),
            (Step::Confirm, KeyCode::Char('y')) => form.flow.handle(Event::Next),
            (Step::Confirm, KeyCode::Char('n')) => form.flow.handle(Event::Back),
            (_, KeyCode::Esc) => form.flow.handle(Event::Back),
            _ => Vec::new(),
        };
        if form.flow.step == Step::Cancelled {
            close = true;
            self.flash = Some(Flash {
                error: false,
                text: "http-proxy: cancelled, nothing was changed".into(),
            });
        }
        let applying = actions.iter().any(|a| matches!(a, Action::Apply { .. }));
        let opened_log = form.log_pane;
        let mut fx = Vec::new();
        if close {
            if form.flow.finished() {
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
        fx.extend(effects(actions));
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
    fn loaded(app: &mut App) {
        app.update(Msg::Proxy(Event::Loaded {
            current: ProxyRead {
                setting: HttpProxySetting::parse(
                    r#"{"httpProxy":"http://u:Pa55w0rd@proxy:3128","noProxy":"10.0.0.0/24"}"#,
                )
                .unwrap(),
                resource_version: "4".into(),
                configured: Configured::default(),
            },
            facts: ClusterFacts {
                node_ips: vec!["10.0.0.11".into(), "10.0.0.12".into()],
                ..Default::default()
            },
        }));
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
        let fx = a.update(key(KeyCode::Enter));
        let [Effect::Proxy(Action::DryRun { ticket, .. })] = fx[..] else {
            panic!("{fx:?}")
        };
        a.update(Msg::Proxy(Event::DryRunDone {
            ticket,
            result: Ok(proxy_form(&a.walk).unwrap().flow.current.clone().unwrap()),
        }));
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
        let fx = command(&mut a, "proxy");
        assert_eq!(fx, vec![Effect::Proxy(Action::Load)]);
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
            form.flow
                .problems_at(Field::NoProxy)
                .any(|p| p.message.contains("The node(s) 10.0.0.12 are not covered.")),
            "{:?}",
            form.flow.problems
        );
        // Enter is refused before sending (only an audit line) and keeps the text.
        let fx = a.update(key(KeyCode::Enter));
        assert!(
            fx.iter()
                .all(|e| matches!(e, Effect::Proxy(Action::Audit { .. }))),
            "{fx:?}"
        );
        assert_eq!(proxy_form(&a.walk).unwrap().inputs[2].text(), "10.0.0.11");
        typed(&mut a, ",10.0.0.12");
        a.update(key(KeyCode::Enter));
        assert_eq!(proxy_form(&a.walk).unwrap().flow.step, Step::Preview);
        let fx = a.update(key(KeyCode::Enter));
        assert!(
            matches!(fx[..], [Effect::Proxy(Action::DryRun { .. })]),
            "{fx:?}"
        );
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
        use crate::cluster::settings::{PatchFailure, Verified};
        use crate::flows::proxy::Notice;
        let mut a = app(false);
        to_confirm(&mut a);
        let fx = a.update(key(KeyCode::Char('y')));
        let [Effect::Proxy(Action::Apply { ticket, .. })] = fx[..] else {
            panic!("{fx:?}")
        };
        let meanwhile = ProxyRead {
            setting: HttpProxySetting::parse(r#"{"noProxy":"192.168.0.0/16"}"#).unwrap(),
            resource_version: "9".into(),
            configured: Configured::default(),
        };
        a.update(Msg::Proxy(Event::Applied {
            ticket,
            result: Err(PatchFailure::Conflict(Box::new(meanwhile.clone()))),
        }));
        let f = &proxy_form(&a.walk).unwrap().flow;
        assert_eq!(f.step, Step::Preview);
        let Some(Notice::Conflict(lines)) = &f.notice else {
            panic!("{:?}", f.notice)
        };
        assert!(
            lines.iter().any(|l| l.contains("192.168.0.0/16")),
            "{lines:?}"
        );
        assert_eq!(proxy_form(&a.walk).unwrap().inputs[2].text(), "10.0.0.0/16");
        // Asked again: the next dry run carries the version just read.
        let fx = a.update(key(KeyCode::Enter));
        let [
            Effect::Proxy(Action::DryRun {
                ticket,
                ref resource_version,
                ..
            }),
        ] = fx[..]
        else {
            panic!("{fx:?}")
        };
        assert_eq!(resource_version, "9");
        a.update(Msg::Proxy(Event::DryRunDone {
            ticket,
            result: Ok(meanwhile.clone()),
        }));
        let fx = a.update(key(KeyCode::Char('y')));
        let [Effect::Proxy(Action::Apply { ticket, .. })] = fx[..] else {
            panic!("{fx:?}")
        };
        let written = ProxyRead {
            setting: proxy_form(&a.walk).unwrap().flow.draft.clone(),
            resource_version: "10".into(),
            configured: Configured::default(),
        };
        let fx = a.update(Msg::Proxy(Event::Applied {
            ticket,
            result: Ok(written),
        }));
        let Some(Effect::Proxy(Action::Verify { ticket, .. })) = fx.last() else {
            panic!("{fx:?}")
        };
        a.update(Msg::Proxy(Event::Verified {
            ticket: *ticket,
            result: Verified::Configured,
        }));
        assert_eq!(proxy_form(&a.walk).unwrap().flow.step, Step::Done);
        // u: the same walk back to the value this change replaced.
        let fx = a.update(key(KeyCode::Char('u')));
        assert_eq!(fx, vec![Effect::Proxy(Action::Load)]);
        let f = &proxy_form(&a.walk).unwrap().flow;
        assert_eq!(f.draft, meanwhile.setting);
    }

    #[test]
    fn applying_follows_a_management_nodes_rke2_server_log_beside_the_form() {
        use crate::app::{NodeInfo, Role};
        use crate::cluster::settings::Verified;
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
        let Some(Effect::Proxy(Action::Apply { ticket, .. })) = fx.first() else {
            panic!("{fx:?}")
        };
        let ticket = *ticket;
        let Some(Effect::OpenLogs { pane, sources }) = fx.last() else {
            panic!("{fx:?}")
        };
        assert_eq!(sources.len(), 1);
        assert_eq!(sources[0].target.name, "node2", "the management node");
        assert_eq!(sources[0].unit.as_deref(), Some("rke2-server"));
        let pane = *pane;
        // The form keeps the screen and the keys; the log sits beside it.
        assert_eq!(a.view(), &View::Proxy);
        let written = ProxyRead {
            setting: proxy_form(&a.walk).unwrap().flow.draft.clone(),
            resource_version: "5".into(),
            configured: Configured::default(),
        };
        let fx = a.update(Msg::Proxy(Event::Applied {
            ticket,
            result: Ok(written),
        }));
        let Some(Effect::Proxy(Action::Verify { ticket, .. })) = fx.last() else {
            panic!("{fx:?}")
        };
        a.update(Msg::Proxy(Event::Verified {
            ticket: *ticket,
            result: Verified::Configured,
        }));
        // Closing the finished walk ends the log it opened.
        let fx = a.update(key(KeyCode::Esc));
        assert!(fx.contains(&Effect::CloseLogs { pane }), "{fx:?}");
        assert!(a.logs.pane.is_none());
        assert_eq!(a.view(), &View::Nodes);
    }
}
