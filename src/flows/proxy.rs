//! The guided change of the `http-proxy` setting (and its rollback, which is
//! the same walk with the kept old value as the new one), as a change on the
//! walkthrough engine: one target, the cluster ([`CLUSTER`]). What is
//! particular to it: Harvester's checks, the masked old/new preview, and a
//! work item that carries the resourceVersion read (the patch's
//! precondition) and the value it replaces (kept for a rollback).

use std::collections::BTreeMap;

use serde::Serialize;

use super::Severity;
use super::engine::{Change, Planned, Problem, TargetState};
use crate::audit::MaskedProxy;
use crate::cluster::settings::ProxyRead;
use crate::creds::proxy::{
    self, ClusterFacts, HttpProxySetting, NoProxyEntry, ProxyUrl, coverage_warnings,
    parse_no_proxy, validate_proxy_url, webhook_check,
};

/// The one target of a proxy change: the setting is cluster-wide.
pub const CLUSTER: &str = "cluster";

/// A form field of the proxy change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Field {
    HttpProxy,
    HttpsProxy,
    NoProxy,
}

impl Field {
    pub const ALL: [Field; 3] = [Field::HttpProxy, Field::HttpsProxy, Field::NoProxy];
    pub fn label(self) -> &'static str {
        match self {
            Field::HttpProxy => "httpProxy",
            Field::HttpsProxy => "httpsProxy",
            Field::NoProxy => "noProxy",
        }
    }
}

/// Every check of a proposed value: Harvester's webhook rule with its exact
/// message, URL syntax, noProxy entries, and advice that does not block.
/// Messages never carry credentials.
pub fn validate(s: &HttpProxySetting, facts: &ClusterFacts) -> Vec<Problem> {
    let mut out = Vec::new();
    let mut add = |field: Field, severity, message: String| {
        out.push(Problem {
            field: field.label(),
            severity,
            message,
        })
    };
    for (field, url) in [
        (Field::HttpProxy, &s.http_proxy),
        (Field::HttpsProxy, &s.https_proxy),
    ] {
        for p in validate_proxy_url(url) {
            add(field, Severity::Error, p);
        }
    }
    let ips: Vec<&str> = facts.node_ips.iter().map(String::as_str).collect();
    if let Err(m) = webhook_check(s, &ips) {
        add(Field::NoProxy, Severity::Error, m);
    }
    for e in parse_no_proxy(&s.no_proxy) {
        match e {
            NoProxyEntry::Invalid(x) => add(
                Field::NoProxy,
                Severity::Error,
                format!("`{x}` is neither an IP, a CIDR nor a host name: fix or remove it"),
            ),
            NoProxyEntry::Wildcard => add(
                Field::NoProxy,
                Severity::Warning,
                "`*` turns the proxy off for everything".into(),
            ),
            _ => {}
        }
    }
    if s.proxy_set() {
        for w in coverage_warnings(s, facts) {
            add(Field::NoProxy, Severity::Warning, w);
        }
    } else if !s.no_proxy.is_empty() {
        add(
            Field::NoProxy,
            Severity::Warning,
            "no proxy is set: noProxy has no effect".into(),
        );
    }
    out
}

/// Whether any problem blocks sending.
pub fn blocks(problems: &[Problem]) -> bool {
    problems.iter().any(|p| p.severity == Severity::Error)
}

/// The lines that differ between two values, masked (`field: old -> new`).
pub fn diff(old: &HttpProxySetting, new: &HttpProxySetting) -> Vec<String> {
    let (o, n) = (MaskedProxy::from(old), MaskedProxy::from(new));
    let dash = |s: &str| {
        if s.is_empty() {
            "(empty)".to_string()
        } else {
            s.to_string()
        }
    };
    let mut out = Vec::new();
    for (label, a, b, same) in [
        (
            "httpProxy",
            &o.http_proxy,
            &n.http_proxy,
            old.http_proxy == new.http_proxy,
        ),
        (
            "httpsProxy",
            &o.https_proxy,
            &n.https_proxy,
            old.https_proxy == new.https_proxy,
        ),
        (
            "noProxy",
            &o.no_proxy,
            &n.no_proxy,
            old.no_proxy == new.no_proxy,
        ),
    ] {
        if !same {
            // Two values that differ only in the masked password look equal.
            let note = if a == b { " (credentials differ)" } else { "" };
            out.push(format!("{label}: {} -> {}{note}", dash(a), dash(b)));
        }
    }
    out
}

/// What applying a proxy change does to the cluster (Harvester's
/// http-proxy controller; reference/harvester.md section 1).
pub fn consequences(node_count: usize) -> Vec<String> {
    let mut v = vec![
        "RKE2 restarts on every node (nodes do not reboot)".to_string(),
        "rancher (cattle-system) and harvester redeploy with the new HTTP_PROXY/HTTPS_PROXY/NO_PROXY".to_string(),
        format!(
            "Harvester appends to NO_PROXY by itself: {}",
            proxy::BUILTIN_NO_PROXY
        ),
    ];
    if node_count == 1 {
        v.push(
            "this is a single-node cluster: it is briefly unavailable while RKE2 restarts".into(),
        );
    } else {
        v.push("a single-node cluster would be briefly unavailable; here the API stays up while nodes restart RKE2".into());
    }
    v
}

/// A proxy change or its rollback.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    Change,
    Rollback,
}

impl Mode {
    /// The audit log's action name.
    pub fn action(self) -> &'static str {
        match self {
            Mode::Change => "proxy.set",
            Mode::Rollback => "proxy.rollback",
        }
    }
}

/// What the operator wants: a field left `None` keeps the cluster's value
/// (`proxy set --no-proxy X` changes noProxy only). `Debug` masks the URLs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProxyDraft {
    pub http_proxy: Option<ProxyUrl>,
    pub https_proxy: Option<ProxyUrl>,
    pub no_proxy: Option<String>,
}

impl ProxyDraft {
    /// Every field given (the console's form, a rollback's kept value).
    pub fn whole(s: &HttpProxySetting) -> ProxyDraft {
        ProxyDraft {
            http_proxy: Some(s.http_proxy.clone()),
            https_proxy: Some(s.https_proxy.clone()),
            no_proxy: Some(s.no_proxy.clone()),
        }
    }

    /// The value it means, given the cluster's.
    pub fn resolve(&self, current: &HttpProxySetting) -> HttpProxySetting {
        HttpProxySetting {
            http_proxy: self
                .http_proxy
                .clone()
                .unwrap_or_else(|| current.http_proxy.clone()),
            https_proxy: self
                .https_proxy
                .clone()
                .unwrap_or_else(|| current.https_proxy.clone()),
            no_proxy: self
                .no_proxy
                .clone()
                .unwrap_or_else(|| current.no_proxy.clone()),
        }
    }
}

/// What is read before editing: the setting (with its resourceVersion) and
/// what the checks need to know about the cluster.
#[derive(Debug, Clone, PartialEq)]
pub struct ProxyFacts {
    pub current: ProxyRead,
    pub cluster: ClusterFacts,
}

/// The patch: the new value, conditioned on the version read, and the
/// value it replaces (kept for `rollback` once applied). `Debug` masks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyWork {
    pub new: HttpProxySetting,
    pub old: HttpProxySetting,
    pub resource_version: String,
}

/// The `http-proxy` change (or its rollback) on the engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProxyChange {
    pub mode: Mode,
}

impl ProxyChange {
    pub fn change() -> ProxyChange {
        ProxyChange { mode: Mode::Change }
    }
    pub fn rollback() -> ProxyChange {
        ProxyChange {
            mode: Mode::Rollback,
        }
    }
}

/// `field: old -> new` for every field, masked; unchanged ones say so.
fn preview_lines(old: &HttpProxySetting, new: &HttpProxySetting) -> Vec<String> {
    let (o, n) = (MaskedProxy::from(old), MaskedProxy::from(new));
    let dash = |s: &str| {
        if s.is_empty() {
            "-".to_string()
        } else {
            s.to_string()
        }
    };
    [
        (Field::HttpProxy, &o.http_proxy, &n.http_proxy),
        (Field::HttpsProxy, &o.https_proxy, &n.https_proxy),
        (Field::NoProxy, &o.no_proxy, &n.no_proxy),
    ]
    .iter()
    .map(|(f, a, b)| {
        if a == b {
            format!("{:<11} {} (unchanged)", f.label(), dash(a))
        } else {
            format!("{:<11} {} -> {}", f.label(), dash(a), dash(b))
        }
    })
    .collect()
}

impl Change for ProxyChange {
    type Draft = ProxyDraft;
    type Facts = ProxyFacts;
    type Work = ProxyWork;

    fn action(&self) -> &'static str {
        self.mode.action()
    }

    fn validate(&self, draft: &ProxyDraft, facts: &ProxyFacts) -> Vec<Problem> {
        validate(&draft.resolve(&facts.current.setting), &facts.cluster)
    }

    fn plan(
        &self,
        draft: &ProxyDraft,
        facts: &ProxyFacts,
        targets: &[String],
    ) -> Result<Vec<Planned<ProxyWork>>, String> {
        let old = &facts.current.setting;
        let new = draft.resolve(old);
        if new == *old {
            return Ok(Vec::new());
        }
        let mut preview = vec![format!(
            "settings.harvesterhci.io http-proxy, patched at resourceVersion {}:",
            facts.current.resource_version
        )];
        preview.extend(preview_lines(old, &new));
        Ok(targets
            .iter()
            .map(|t| Planned {
                target: t.clone(),
                preview: preview.clone(),
                work: ProxyWork {
                    new: new.clone(),
                    old: old.clone(),
                    resource_version: facts.current.resource_version.clone(),
                },
            })
            .collect())
    }

    fn consequences(&self, facts: &ProxyFacts) -> Vec<String> {
        consequences(facts.cluster.node_ips.len())
    }

    fn audit_values(
        &self,
        draft: &ProxyDraft,
        facts: &ProxyFacts,
    ) -> Option<(serde_json::Value, serde_json::Value)> {
        let old = &facts.current.setting;
        let new = draft.resolve(old);
        Some((
            serde_json::to_value(MaskedProxy::from(old)).ok()?,
            serde_json::to_value(MaskedProxy::from(&new)).ok()?,
        ))
    }

    fn changed(&self, before: &ProxyFacts, now: &ProxyFacts) -> Vec<String> {
        diff(&before.current.setting, &now.current.setting)
    }

    fn whole(&self) -> &'static str {
        "the cluster"
    }

    fn summary(&self, states: &BTreeMap<String, TargetState>) -> Option<String> {
        Some(match states.get(CLUSTER)? {
            TargetState::Verified { changed: true } => {
                "applied; the cluster reports it configured".into()
            }
            TargetState::Verified { changed: false } => {
                "the cluster already had the value and reports it configured".into()
            }
            TargetState::Failed(e) => match e.strip_prefix("verify: ") {
                Some(m) => format!("applied, but {m}"),
                None => format!(
                    "{}; a retry reads the setting first and does not write it twice",
                    e.replacen("apply: ", "applying failed: ", 1)
                ),
            },
            TargetState::Skipped(why) => format!("not applied: {why}"),
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::Outcome;
    use crate::cluster::settings::Configured;
    use crate::creds::proxy::ProxyUrl;
    use crate::flows::Step;
    use crate::flows::engine::{Action, ApplyOptions, AuditLine, Event, Walk};

    const IPS: [&str; 3] = ["10.0.0.11", "10.0.0.12", "10.0.0.13"];

    fn cluster() -> ClusterFacts {
        ClusterFacts {
            node_ips: IPS.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        }
    }

    fn facts(s: HttpProxySetting, rv: &str) -> ProxyFacts {
        ProxyFacts {
            current: ProxyRead {
                setting: s,
                resource_version: rv.into(),
                configured: Configured::default(),
            },
            cluster: cluster(),
        }
    }

    fn proxy(no_proxy: &str) -> HttpProxySetting {
        HttpProxySetting {
            http_proxy: ProxyUrl::new("http://admin:S3cretPw@proxy.corp:3128"),
            https_proxy: ProxyUrl::new("http://admin:S3cretPw@proxy.corp:3128"),
            no_proxy: no_proxy.into(),
        }
    }

    fn walk(change: ProxyChange, draft: ProxyDraft) -> Walk<ProxyChange> {
        let (w, a) = Walk::new(
            change,
            vec![CLUSTER.into()],
            draft,
            ApplyOptions::default(),
            "c1".into(),
        );
        assert!(matches!(a[..], [Action::Load]));
        w
    }

    /// A change walk that read an empty setting at resourceVersion 5.
    fn loaded() -> Walk<ProxyChange> {
        let mut w = walk(ProxyChange::change(), ProxyDraft::default());
        w.handle(Event::Loaded(facts(HttpProxySetting::default(), "5")));
        assert_eq!(w.step, Step::Edit);
        w
    }

    fn audits(actions: &[Action<ProxyWork>]) -> Vec<&AuditLine> {
        actions
            .iter()
            .filter_map(|a| match a {
                Action::Audit(l) => Some(l),
                _ => None,
            })
            .collect()
    }

    fn results(actions: &[Action<ProxyWork>]) -> Vec<Outcome> {
        audits(actions).iter().map(|l| l.result).collect()
    }

    fn sends(actions: &[Action<ProxyWork>]) -> bool {
        actions
            .iter()
            .any(|a| matches!(a, Action::DryRun { .. } | Action::Apply { .. }))
    }

    /// Edits to `new`, previews and passes the dry run: at the confirmation.
    fn to_confirm(w: &mut Walk<ProxyChange>, new: &HttpProxySetting) -> u64 {
        w.handle(Event::Edited(ProxyDraft::whole(new)));
        assert!(w.handle(Event::Next).is_empty());
        assert_eq!(w.step, Step::Preview);
        let a = w.handle(Event::Next);
        let Action::DryRun { ticket, work, .. } = &a[0] else {
            panic!("{a:?}")
        };
        assert_eq!(work.new, *new);
        let ticket = *ticket;
        w.handle(Event::DryRunDone {
            ticket,
            target: CLUSTER.into(),
            result: Ok(()),
        });
        assert_eq!(w.step, Step::Confirm);
        ticket
    }

    #[test]
    fn happy_path_dry_runs_confirms_applies_keeps_old_and_verifies() {
        let mut w = loaded();
        let new = proxy("10.0.0.0/24");
        to_confirm(&mut w, &new);
        assert!(
            w.plan[0]
                .preview
                .iter()
                .any(|l| l.contains("http://admin:***@proxy.corp:3128")),
            "{:?}",
            w.plan[0].preview
        );
        let a = w.handle(Event::Next);
        let Action::Apply { ticket, work, .. } = &a[0] else {
            panic!("{a:?}")
        };
        // Conditioned on the version read; the replaced value goes with it.
        assert_eq!(work.resource_version, "5");
        assert_eq!(work.old, HttpProxySetting::default());
        let ticket = *ticket;
        let a = w.handle(Event::Applied {
            ticket,
            target: CLUSTER.into(),
            result: Ok(true),
        });
        assert_eq!(results(&a), vec![Outcome::Applied]);
        assert!(matches!(a.last(), Some(Action::Verify { .. })), "{a:?}");
        let a = w.handle(Event::Verified {
            ticket,
            target: CLUSTER.into(),
            result: Ok(()),
        });
        assert_eq!(results(&a), vec![Outcome::Verified]);
        let line = audits(&a)[0];
        assert_eq!(line.old.as_ref().unwrap()["httpProxy"], "", "{line:?}");
        assert_eq!(
            line.new.as_ref().unwrap()["httpProxy"],
            "http://admin:***@proxy.corp:3128"
        );
        assert_eq!(w.step, Step::Done);
        assert_eq!(
            w.result,
            Some(Ok("applied; the cluster reports it configured".into()))
        );
        // Nothing in the walk's Debug output gives the password away.
        assert!(!format!("{:?}", w.draft).contains("S3cretPw"));
        assert!(!format!("{:?}", w.plan).contains("S3cretPw"));
    }

    #[test]
    fn uncovered_node_ip_blocks_before_sending_and_keeps_the_input() {
        let mut w = loaded();
        let typed = ProxyDraft::whole(&proxy("10.0.0.11,10.0.0.12,example.com"));
        w.handle(Event::Edited(typed.clone()));
        let msg = "noProxy should contain the node's IP addresses or CIDR. The node(s) 10.0.0.13 are not covered.";
        assert!(
            w.problems
                .iter()
                .any(|p| p.field == "noProxy" && p.severity == Severity::Error && p.message == msg),
            "{:?}",
            w.problems
        );
        let a = w.handle(Event::Next);
        assert!(!sends(&a));
        assert_eq!(results(&a), vec![Outcome::Refused]);
        assert!(audits(&a)[0].detail.contains(msg));
        assert_eq!(w.step, Step::Edit);
        assert_eq!(w.draft, typed);
        // Fixing it lets the walk go on.
        w.handle(Event::Edited(ProxyDraft::whole(&proxy("10.0.0.0/24"))));
        assert!(!blocks(&w.problems));
        w.handle(Event::Next);
        assert_eq!(w.step, Step::Preview);
    }

    #[test]
    fn conflict_rereads_shows_what_changed_and_asks_again() {
        let mut w = loaded();
        to_confirm(&mut w, &proxy("10.0.0.0/24"));
        let a = w.handle(Event::Next);
        let Action::Apply { ticket, .. } = a[0] else {
            panic!()
        };
        let meanwhile = HttpProxySetting {
            no_proxy: "192.168.0.0/16".into(),
            ..Default::default()
        };
        let a = w.handle(Event::Conflict {
            ticket,
            target: CLUSTER.into(),
            now: facts(meanwhile, "9"),
        });
        assert_eq!(results(&a), vec![Outcome::Denied]);
        assert_eq!(w.step, Step::Preview);
        assert_eq!(w.conflict, vec!["noProxy: (empty) -> 192.168.0.0/16"]);
        assert_eq!(w.draft, ProxyDraft::whole(&proxy("10.0.0.0/24")));
        // Asked again: a new dry run carrying the version just read.
        let a = w.handle(Event::Next);
        let Action::DryRun { work, .. } = &a[0] else {
            panic!("{a:?}")
        };
        assert_eq!(work.resource_version, "9");
    }

    #[test]
    fn webhook_denial_keeps_the_form_and_its_words() {
        let mut w = loaded();
        let typed = ProxyDraft::whole(&proxy("10.0.0.0/24"));
        w.handle(Event::Edited(typed.clone()));
        w.handle(Event::Next);
        let a = w.handle(Event::Next);
        let Action::DryRun { ticket, .. } = a[0] else {
            panic!()
        };
        let words = "admission webhook \"validator.harvester-system.harvester-webhook\" denied the request: noProxy should contain the node's IP addresses or CIDR. The node(s) 10.0.0.14 are not covered.";
        let a = w.handle(Event::Denied {
            ticket,
            target: CLUSTER.into(),
            words: words.into(),
        });
        assert_eq!(results(&a), vec![Outcome::Denied]);
        assert_eq!(w.step, Step::Edit);
        assert_eq!(w.notice.as_deref(), Some(words));
        assert_eq!(w.draft, typed);
    }

    #[test]
    fn cancel_at_every_step_before_apply_sends_nothing() {
        for stop in [
            Step::Loading,
            Step::Edit,
            Step::Preview,
            Step::DryRun,
            Step::Confirm,
        ] {
            let mut w = walk(ProxyChange::change(), ProxyDraft::default());
            let mut all = Vec::new();
            let mut ticket = 0;
            if w.step != stop {
                all.extend(w.handle(Event::Loaded(facts(HttpProxySetting::default(), "1"))));
                all.extend(w.handle(Event::Edited(ProxyDraft::whole(&proxy("10.0.0.0/24")))));
            }
            for _ in 0..2 {
                if w.step != stop {
                    let a = w.handle(Event::Next);
                    if let Some(Action::DryRun { ticket: t, .. }) = a.first() {
                        ticket = *t;
                    }
                    all.extend(a);
                }
            }
            if w.step != stop {
                all.extend(w.handle(Event::DryRunDone {
                    ticket,
                    target: CLUSTER.into(),
                    result: Ok(()),
                }));
            }
            assert_eq!(w.step, stop);
            let a = w.handle(Event::Cancel);
            assert!(a.is_empty(), "{stop:?}: {a:?}");
            assert_eq!(w.step, Step::Cancelled, "{stop:?}");
            assert!(
                !all.iter().any(|a| matches!(a, Action::Apply { .. })),
                "{stop:?}"
            );
            // Late answers change nothing either.
            assert!(
                w.handle(Event::Applied {
                    ticket,
                    target: CLUSTER.into(),
                    result: Ok(true),
                })
                .is_empty()
            );
            assert_eq!(w.step, Step::Cancelled);
        }
    }

    #[test]
    fn back_walks_back_and_drops_a_late_dry_run_answer() {
        let mut w = loaded();
        w.handle(Event::Edited(ProxyDraft::whole(&proxy("10.0.0.0/24"))));
        w.handle(Event::Next);
        let a = w.handle(Event::Next);
        let Action::DryRun { ticket, .. } = a[0] else {
            panic!()
        };
        w.handle(Event::Back);
        assert_eq!(w.step, Step::Preview);
        w.handle(Event::DryRunDone {
            ticket,
            target: CLUSTER.into(),
            result: Ok(()),
        });
        assert_eq!(w.step, Step::Preview, "a stale answer must not confirm");
        w.handle(Event::Back);
        assert_eq!(w.step, Step::Edit);
    }

    #[test]
    fn rollback_is_the_same_walk_to_the_kept_value_and_no_change_is_said() {
        let kept = HttpProxySetting::default();
        let mut w = walk(ProxyChange::rollback(), ProxyDraft::whole(&kept));
        w.handle(Event::Loaded(facts(proxy("10.0.0.0/24"), "7")));
        assert_eq!(w.change.action(), "proxy.rollback");
        w.handle(Event::Next);
        assert_eq!(w.step, Step::Preview);
        let a = w.handle(Event::Next);
        assert!(matches!(&a[0], Action::DryRun { work, .. } if work.new == kept));
        // A change to the value the cluster already has is not sent.
        let mut g = loaded();
        g.handle(Event::Next);
        assert_eq!(g.step, Step::Edit);
        assert_eq!(
            g.notice.as_deref(),
            Some("nothing to change: the cluster already has it")
        );
    }

    #[test]
    fn fields_not_given_keep_the_clusters_value() {
        let d = ProxyDraft {
            no_proxy: Some("10.0.0.0/16".into()),
            ..Default::default()
        };
        assert_eq!(d.resolve(&proxy("10.0.0.0/24")), proxy("10.0.0.0/16"));
    }

    #[test]
    fn clearing_every_field_is_valid() {
        let mut w = walk(ProxyChange::change(), ProxyDraft::default());
        w.handle(Event::Loaded(facts(proxy("10.0.0.0/24"), "3")));
        w.handle(Event::Edited(ProxyDraft::whole(
            &HttpProxySetting::default(),
        )));
        assert!(w.problems.is_empty(), "{:?}", w.problems);
        w.handle(Event::Next);
        assert_eq!(w.step, Step::Preview);
    }

    /// Verifying waits for Harvester's controller (RKE2 restarts on every
    /// node): ctrl-x stops following, and the walk says it was applied.
    #[test]
    fn cancel_while_verifying_stops_following_and_says_it_was_applied() {
        let mut w = loaded();
        to_confirm(&mut w, &proxy("10.0.0.0/24"));
        let a = w.handle(Event::Next);
        let Action::Apply { ticket, .. } = a[0] else {
            panic!()
        };
        w.handle(Event::Applied {
            ticket,
            target: CLUSTER.into(),
            result: Ok(true),
        });
        assert!(w.handle(Event::Cancel).is_empty());
        assert_eq!(w.step, Step::Done);
        let Some(Err(m)) = &w.result else {
            panic!("{:?}", w.result)
        };
        assert!(m.starts_with("applied, but stopped following"), "{m}");
        // The verification's late answer changes nothing.
        w.handle(Event::Verified {
            ticket,
            target: CLUSTER.into(),
            result: Ok(()),
        });
        assert!(matches!(w.result, Some(Err(_))));
    }

    #[test]
    fn a_failed_apply_says_so_and_a_retry_sends_the_same_patch() {
        let mut w = loaded();
        to_confirm(&mut w, &proxy("10.0.0.0/24"));
        let a = w.handle(Event::Next);
        let Action::Apply { ticket, .. } = a[0] else {
            panic!()
        };
        let a = w.handle(Event::Applied {
            ticket,
            target: CLUSTER.into(),
            result: Err("connection reset".into()),
        });
        assert_eq!(results(&a), vec![Outcome::Failed]);
        assert_eq!(w.step, Step::Done);
        let Some(Err(m)) = &w.result else {
            panic!("{:?}", w.result)
        };
        assert!(m.starts_with("applying failed: connection reset"), "{m}");
        let a = w.handle(Event::Retry(None));
        assert!(
            matches!(&a[..], [Action::Apply { work, .. }] if work.resource_version == "5"),
            "{a:?}"
        );
    }

    #[test]
    fn validation_table() {
        let f = cluster();
        let url = |s: &str| HttpProxySetting {
            http_proxy: ProxyUrl::new(s),
            https_proxy: ProxyUrl::default(),
            no_proxy: "10.0.0.0/24".into(),
        };
        let np = |s: &str| HttpProxySetting {
            no_proxy: s.into(),
            ..proxy("")
        };
        // (value, field with an error, part of its message) or None: valid.
        let cases: Vec<(HttpProxySetting, Option<(Field, &str)>)> = vec![
            (url("http://proxy.corp:3128"), None),
            (url("https://u:pw@10.1.1.1:8443"), None),
            (url("http://[fd00::1]:3128"), None),
            // Go reads a value without scheme as http://.
            (url("proxy.corp:3128"), None),
            (
                url("ftp://proxy:21"),
                Some((Field::HttpProxy, "scheme must be http")),
            ),
            (
                url("http://proxy:70000"),
                Some((Field::HttpProxy, "port `70000`")),
            ),
            (
                url("http://pro xy:3128"),
                Some((Field::HttpProxy, "spaces")),
            ),
            (url("http://:3128"), Some((Field::HttpProxy, "no host"))),
            (np("10.0.0.11,10.0.0.12,10.0.0.13"), None),
            (np(" 10.0.0.11 , 10.0.0.12,10.0.0.13, "), None),
            (np("10.0.0.0/24,,"), None),
            (
                np("10.0.0.0/28,fd00::/64,.corp.example,localhost:8080"),
                None,
            ),
            (
                np("::ffff:10.0.0.0/120"),
                Some((Field::NoProxy, "not covered")),
            ),
            (np("10.0.0.0/8"), None),
            (np("10.0.0.0/33"), Some((Field::NoProxy, "not covered"))),
            (
                np("10.0.0.0/24,10.0.0"),
                Some((Field::NoProxy, "`10.0.0` is neither")),
            ),
            (
                np("10.0.0.0/24,a b"),
                Some((Field::NoProxy, "`a b` is neither")),
            ),
            (
                np("10.0.0.0/24,http://x"),
                Some((Field::NoProxy, "`http://x` is neither")),
            ),
            (
                np("proxy.corp,example.com"),
                Some((
                    Field::NoProxy,
                    "10.0.0.11, 10.0.0.12, 10.0.0.13 are not covered",
                )),
            ),
        ];
        for (s, want) in cases {
            let p = validate(&s, &f);
            let errors: Vec<_> = p.iter().filter(|p| p.severity == Severity::Error).collect();
            match want {
                None => assert!(errors.is_empty(), "{s:?}: {errors:?}"),
                Some((field, part)) => assert!(
                    errors
                        .iter()
                        .any(|e| e.field == field.label() && e.message.contains(part)),
                    "{s:?}: {p:?}"
                ),
            }
            assert!(p.iter().all(|p| !p.message.contains(":pw@")), "{p:?}");
        }
        // Advice that does not block, naming the entries Harvester adds itself.
        let p = validate(&np("10.0.0.0/24,localhost,.svc"), &f);
        assert!(!blocks(&p));
        assert!(
            p.iter().any(|p| p.message.contains("`localhost`, `.svc`")),
            "{p:?}"
        );
        let with_vip = ClusterFacts {
            vip: Some("192.168.5.10".into()),
            ..cluster()
        };
        let p = validate(&np("10.0.0.0/24"), &with_vip);
        assert!(!blocks(&p));
        assert!(
            p.iter().any(|p| p.message.contains("VIP 192.168.5.10")),
            "{p:?}"
        );
    }
}
