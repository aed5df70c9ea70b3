//! The guided change of the `http-proxy` setting (and its rollback, which is
//! the same walk with the kept old value as the new one).

use serde::Serialize;

use super::{Severity, Step};
use crate::audit::{MaskedProxy, Outcome};
use crate::cluster::settings::{PatchFailure, ProxyRead, Verified};
use crate::creds::proxy::{
    self, ClusterFacts, HttpProxySetting, NoProxyEntry, coverage_warnings, parse_no_proxy,
    validate_proxy_url, webhook_check,
};

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

/// One validation problem, shown at its field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    pub field: Field,
    pub severity: Severity,
    pub message: String,
}

/// Every check of a proposed value: Harvester's webhook rule with its exact
/// message, URL syntax, noProxy entries, and advice that does not block.
/// Messages never carry credentials.
pub fn validate(s: &HttpProxySetting, facts: &ClusterFacts) -> Vec<Problem> {
    let mut out = Vec::new();
    let mut add = |field, severity, message: String| {
        out.push(Problem {
            field,
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

/// What happened: operator input and request results.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// The setting and the facts the checks need were read.
    Loaded {
        current: ProxyRead,
        facts: ClusterFacts,
    },
    LoadFailed(String),
    /// The operator changed the form.
    Edited(HttpProxySetting),
    /// Enter / continue / yes.
    Next,
    Back,
    Cancel,
    DryRunDone {
        ticket: u64,
        result: Result<ProxyRead, PatchFailure>,
    },
    Applied {
        ticket: u64,
        result: Result<ProxyRead, PatchFailure>,
    },
    Verified {
        ticket: u64,
        result: Verified,
    },
    /// While verifying: the `configured` condition changed (what it says now).
    Progress {
        ticket: u64,
        text: String,
    },
}

/// What the flow asks its driver to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Read the setting and the node IPs (answer: Loaded / LoadFailed).
    Load,
    /// Server-side dry run (answer: DryRunDone with the ticket).
    DryRun {
        ticket: u64,
        new: HttpProxySetting,
        resource_version: String,
    },
    /// The patch with the resourceVersion as precondition (answer: Applied).
    Apply {
        ticket: u64,
        new: HttpProxySetting,
        resource_version: String,
    },
    /// Follow `status.conditions` (answer: Verified).
    Verify {
        ticket: u64,
        resource_version: String,
    },
    /// Keep the replaced value for a rollback.
    KeepPrevious(HttpProxySetting),
    /// Append an audit line (the driver adds time, user, cluster).
    Audit {
        action: &'static str,
        correlation_id: String,
        old: MaskedProxy,
        new: MaskedProxy,
        result: Outcome,
        detail: String,
    },
}

/// A message for the operator beside the form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// The cluster said no: its words, verbatim.
    Denied(String),
    /// Someone changed the setting meanwhile: what changed, masked.
    Conflict(Vec<String>),
    /// Something to do or know (nothing to change, a failed request, ...).
    Info(String),
}

/// The state of one proxy walkthrough. `Debug` is safe: every URL is masked.
#[derive(Debug)]
pub struct ProxyFlow {
    pub step: Step,
    pub mode: Mode,
    /// Stop after a successful dry run (`proxy set --dry-run`).
    pub dry_run_only: bool,
    pub correlation_id: String,
    /// The setting as last read (with its resourceVersion).
    pub current: Option<ProxyRead>,
    pub facts: ClusterFacts,
    /// What the operator typed (kept through denials and conflicts).
    pub draft: HttpProxySetting,
    pub problems: Vec<Problem>,
    pub notice: Option<Notice>,
    /// How the walk ended (Done): Ok(summary) or Err(what to check).
    pub result: Option<Result<String, String>>,
    /// While verifying: the last word of the `configured` condition.
    pub progress: Option<String>,
    ticket: u64,
    /// The value an applied change replaced (`current` is the new one then).
    replaced: Option<HttpProxySetting>,
    /// Whether `draft` came from the operator (kept on Loaded) or is to be
    /// prefilled from the setting.
    draft_given: bool,
}

impl ProxyFlow {
    /// A change; the draft is prefilled from the setting once it is read.
    pub fn change(correlation_id: String) -> (ProxyFlow, Vec<Action>) {
        Self::start(Mode::Change, None, correlation_id)
    }

    /// A change to a value given up front (the CLI's flags).
    pub fn change_to(new: HttpProxySetting, correlation_id: String) -> (ProxyFlow, Vec<Action>) {
        Self::start(Mode::Change, Some(new), correlation_id)
    }

    /// A rollback to the kept value: the same walk, old value as new.
    pub fn rollback(
        previous: HttpProxySetting,
        correlation_id: String,
    ) -> (ProxyFlow, Vec<Action>) {
        Self::start(Mode::Rollback, Some(previous), correlation_id)
    }

    fn start(
        mode: Mode,
        draft: Option<HttpProxySetting>,
        correlation_id: String,
    ) -> (ProxyFlow, Vec<Action>) {
        let f = ProxyFlow {
            step: Step::Loading,
            mode,
            dry_run_only: false,
            correlation_id,
            current: None,
            facts: ClusterFacts::default(),
            draft_given: draft.is_some(),
            draft: draft.unwrap_or_default(),
            problems: Vec::new(),
            notice: None,
            result: None,
            ticket: 0,
            progress: None,
            replaced: None,
        };
        (f, vec![Action::Load])
    }

    /// Problems of one field, worst first.
    pub fn problems_at(&self, field: Field) -> impl Iterator<Item = &Problem> {
        let mut v: Vec<&Problem> = self.problems.iter().filter(|p| p.field == field).collect();
        v.sort_by_key(|p| std::cmp::Reverse(p.severity));
        v.into_iter()
    }

    /// The value being replaced.
    pub fn old(&self) -> HttpProxySetting {
        self.current
            .as_ref()
            .map(|c| c.setting.clone())
            .unwrap_or_default()
    }

    /// The value before this walk's change (the replaced one once applied).
    pub fn before(&self) -> HttpProxySetting {
        self.replaced.clone().unwrap_or_else(|| self.old())
    }

    /// Whether the walk is over.
    pub fn finished(&self) -> bool {
        matches!(self.step, Step::Done | Step::Cancelled)
    }

    fn audit(&self, result: Outcome, detail: impl Into<String>) -> Action {
        let old = self.before();
        Action::Audit {
            action: self.mode.action(),
            correlation_id: self.correlation_id.clone(),
            old: (&old).into(),
            new: (&self.draft).into(),
            result,
            detail: detail.into(),
        }
    }

    fn revalidate(&mut self) {
        self.problems = validate(&self.draft, &self.facts);
    }

    fn rv(&self) -> String {
        self.current
            .as_ref()
            .map(|c| c.resource_version.clone())
            .unwrap_or_default()
    }

    fn next_ticket(&mut self) -> u64 {
        self.ticket += 1;
        self.ticket
    }

    /// A 409: take the new current value, say what changed, ask again.
    fn conflict(&mut self, now: ProxyRead) -> Vec<Action> {
        let changed = diff(&self.old(), &now.setting);
        let a = self.audit(
            Outcome::Denied,
            "409 Conflict: the setting was changed by someone else meanwhile",
        );
        self.current = Some(now);
        self.revalidate();
        self.notice = Some(Notice::Conflict(changed));
        self.step = if blocks(&self.problems) {
            Step::Edit
        } else {
            Step::Preview
        };
        vec![a]
    }

    /// Feeds one event; returns what to do next.
    pub fn handle(&mut self, ev: Event) -> Vec<Action> {
        use Step as S;
        match (self.step, ev) {
            (S::Done | S::Cancelled, _) => vec![],
            (_, Event::Cancel) if matches!(self.step, S::Apply) => {
                self.notice = Some(Notice::Info(
                    "the change has been sent: wait for the cluster's answer".into(),
                ));
                vec![]
            }
            (S::Verify, Event::Cancel) => {
                self.step = S::Done;
                self.result = Some(Err(
                    "applied; stopped following status.conditions before the cluster reported it configured".into(),
                ));
                vec![]
            }
            (_, Event::Cancel) => {
                self.step = S::Cancelled;
                vec![]
            }
            (S::Loading, Event::Loaded { current, facts }) => {
                if !self.draft_given {
                    self.draft = current.setting.clone();
                }
                self.current = Some(current);
                self.facts = facts;
                self.revalidate();
                self.step = S::Edit;
                vec![]
            }
            (S::Loading, Event::LoadFailed(e)) => {
                self.step = S::Done;
                self.result = Some(Err(e));
                vec![]
            }
            (S::Edit, Event::Edited(s)) => {
                self.draft = s;
                self.revalidate();
                // A denial or conflict note stays until the next attempt.
                vec![]
            }
            (S::Edit, Event::Next) => {
                self.revalidate();
                if blocks(&self.problems) {
                    let detail = self
                        .problems
                        .iter()
                        .filter(|p| p.severity == Severity::Error)
                        .map(|p| format!("{}: {}", p.field.label(), p.message))
                        .collect::<Vec<_>>()
                        .join("; ");
                    return vec![self.audit(Outcome::Refused, detail)];
                }
                if self.draft == self.old() {
                    self.notice = Some(Notice::Info(
                        "nothing to change: the value is the one the cluster has".into(),
                    ));
                    return vec![];
                }
                self.notice = None;
                self.step = S::Preview;
                vec![]
            }
            (S::Preview, Event::Next) => {
                let ticket = self.next_ticket();
                self.step = S::DryRun;
                vec![Action::DryRun {
                    ticket,
                    new: self.draft.clone(),
                    resource_version: self.rv(),
                }]
            }
            (S::Preview, Event::Back) => {
                self.step = S::Edit;
                vec![]
            }
            (S::DryRun, Event::Back) => {
                // The answer of the abandoned dry run is ignored (ticket).
                self.next_ticket();
                self.step = S::Preview;
                vec![]
            }
            (S::DryRun, Event::DryRunDone { ticket, result }) if ticket == self.ticket => {
                match result {
                    Ok(_) if self.dry_run_only => {
                        self.step = S::Done;
                        self.result = Some(Ok("dry run passed: nothing was changed".into()));
                        vec![self.audit(Outcome::DryRun, "server-side dry run passed")]
                    }
                    Ok(_) => {
                        self.step = S::Confirm;
                        vec![]
                    }
                    Err(PatchFailure::Conflict(now)) => self.conflict(*now),
                    Err(PatchFailure::Denied(m)) => {
                        self.step = S::Edit;
                        self.notice = Some(Notice::Denied(m.clone()));
                        vec![self.audit(Outcome::Denied, format!("dry run: {m}"))]
                    }
                    Err(PatchFailure::Other(m)) => {
                        self.step = S::Preview;
                        self.notice = Some(Notice::Info(format!("the dry run failed: {m}")));
                        vec![self.audit(Outcome::Failed, format!("dry run: {m}"))]
                    }
                }
            }
            (S::Confirm, Event::Next) => {
                let ticket = self.next_ticket();
                self.step = S::Apply;
                vec![Action::Apply {
                    ticket,
                    new: self.draft.clone(),
                    resource_version: self.rv(),
                }]
            }
            (S::Confirm, Event::Back) => {
                self.step = S::Preview;
                vec![]
            }
            (S::Apply, Event::Applied { ticket, result }) if ticket == self.ticket => {
                match result {
                    Ok(written) => {
                        let old = self.old();
                        let audit = self.audit(Outcome::Applied, "");
                        let ticket = self.next_ticket();
                        let rv = written.resource_version.clone();
                        self.replaced = Some(old.clone());
                        self.current = Some(written);
                        self.step = S::Verify;
                        vec![
                            audit,
                            Action::KeepPrevious(old),
                            Action::Verify {
                                ticket,
                                resource_version: rv,
                            },
                        ]
                    }
                    Err(PatchFailure::Conflict(now)) => self.conflict(*now),
                    Err(PatchFailure::Denied(m)) => {
                        self.step = S::Edit;
                        self.notice = Some(Notice::Denied(m.clone()));
                        vec![self.audit(Outcome::Denied, m)]
                    }
                    Err(PatchFailure::Other(m)) => {
                        // It may or may not have been written; a retry carries
                        // the old resourceVersion, so it cannot overwrite blindly.
                        self.step = S::Preview;
                        self.notice = Some(Notice::Info(format!("applying failed: {m}")));
                        vec![self.audit(Outcome::Failed, m)]
                    }
                }
            }
            (S::Verify, Event::Progress { ticket, text }) if ticket == self.ticket => {
                self.progress = Some(text);
                vec![]
            }
            (S::Verify, Event::Verified { ticket, result }) if ticket == self.ticket => {
                self.step = S::Done;
                // The audit's "old" is now the new value; record the replaced one.
                match result {
                    Verified::Configured => {
                        self.result = Some(Ok("applied; the cluster reports it configured".into()));
                        vec![self.audit(Outcome::Verified, "configured")]
                    }
                    Verified::NotConfigured(m) | Verified::Timeout(m) => {
                        self.result = Some(Err(format!("applied, but {m}")));
                        vec![self.audit(Outcome::Failed, m)]
                    }
                }
            }
            // Late answers of abandoned requests, keys that mean nothing here.
            _ => vec![],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::settings::Configured;
    use crate::creds::proxy::ProxyUrl;

    const IPS: [&str; 3] = ["10.0.0.11", "10.0.0.12", "10.0.0.13"];

    fn facts() -> ClusterFacts {
        ClusterFacts {
            node_ips: IPS.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        }
    }

    fn read(s: HttpProxySetting, rv: &str) -> ProxyRead {
        ProxyRead {
            setting: s,
            resource_version: rv.into(),
            configured: Configured::default(),
        }
    }

    fn proxy(no_proxy: &str) -> HttpProxySetting {
        HttpProxySetting {
            http_proxy: ProxyUrl::new("http://admin:S3cretPw@proxy.corp:3128"),
            https_proxy: ProxyUrl::new("http://admin:S3cretPw@proxy.corp:3128"),
            no_proxy: no_proxy.into(),
        }
    }

    fn loaded() -> ProxyFlow {
        let (mut f, a) = ProxyFlow::change("c1".into());
        assert_eq!(a, vec![Action::Load]);
        f.handle(Event::Loaded {
            current: read(HttpProxySetting::default(), "5"),
            facts: facts(),
        });
        assert_eq!(f.step, Step::Edit);
        f
    }

    fn results(actions: &[Action]) -> Vec<Outcome> {
        actions
            .iter()
            .filter_map(|a| match a {
                Action::Audit { result, .. } => Some(*result),
                _ => None,
            })
            .collect()
    }

    fn sends(actions: &[Action]) -> bool {
        actions
            .iter()
            .any(|a| matches!(a, Action::DryRun { .. } | Action::Apply { .. }))
    }

    #[test]
    fn happy_path_dry_runs_confirms_applies_keeps_old_and_verifies() {
        let mut f = loaded();
        let new = proxy("10.0.0.0/24");
        assert!(f.handle(Event::Edited(new.clone())).is_empty());
        assert!(f.handle(Event::Next).is_empty());
        assert_eq!(f.step, Step::Preview);
        let a = f.handle(Event::Next);
        let Action::DryRun {
            ticket,
            new: sent,
            resource_version,
        } = &a[0]
        else {
            panic!("{a:?}")
        };
        assert_eq!((sent, resource_version.as_str()), (&new, "5"));
        f.handle(Event::DryRunDone {
            ticket: *ticket,
            result: Ok(read(new.clone(), "5")),
        });
        assert_eq!(f.step, Step::Confirm);
        let a = f.handle(Event::Next);
        let Action::Apply {
            ticket,
            resource_version,
            ..
        } = &a[0]
        else {
            panic!("{a:?}")
        };
        assert_eq!(resource_version, "5");
        let a = f.handle(Event::Applied {
            ticket: *ticket,
            result: Ok(read(new.clone(), "6")),
        });
        assert_eq!(results(&a), vec![Outcome::Applied]);
        assert!(a.contains(&Action::KeepPrevious(HttpProxySetting::default())));
        let Some(Action::Verify {
            ticket,
            resource_version,
        }) = a.last()
        else {
            panic!("{a:?}")
        };
        assert_eq!(resource_version, "6");
        assert_eq!(f.step, Step::Verify);
        let a = f.handle(Event::Verified {
            ticket: *ticket,
            result: Verified::Configured,
        });
        assert_eq!(results(&a), vec![Outcome::Verified]);
        assert!(
            matches!(&a[0], Action::Audit { old, .. } if old.http_proxy.is_empty()),
            "the verified line records the replaced value: {a:?}"
        );
        assert_eq!(f.step, Step::Done);
        assert!(f.result.as_ref().unwrap().is_ok());
        // Nothing in the flow's Debug output gives the password away.
        assert!(!format!("{f:?}").contains("S3cretPw"));
    }

    #[test]
    fn uncovered_node_ip_blocks_before_sending_and_keeps_the_input() {
        let mut f = loaded();
        let typed = proxy("10.0.0.11,10.0.0.12,example.com");
        f.handle(Event::Edited(typed.clone()));
        let msg = "noProxy should contain the node's IP addresses or CIDR. The node(s) 10.0.0.13 are not covered.";
        assert!(
            f.problems_at(Field::NoProxy)
                .any(|p| p.severity == Severity::Error && p.message == msg),
            "{:?}",
            f.problems
        );
        let a = f.handle(Event::Next);
        assert!(!sends(&a));
        assert_eq!(results(&a), vec![Outcome::Refused]);
        let Action::Audit { detail, .. } = &a[0] else {
            unreachable!()
        };
        assert!(detail.contains(msg));
        assert_eq!(f.step, Step::Edit);
        assert_eq!(f.draft, typed);
        // Fixing it lets the walk go on.
        f.handle(Event::Edited(proxy("10.0.0.0/24")));
        assert!(!blocks(&f.problems));
        f.handle(Event::Next);
        assert_eq!(f.step, Step::Preview);
    }

    #[test]
    fn conflict_rereads_shows_what_changed_and_asks_again() {
        let mut f = loaded();
        f.handle(Event::Edited(proxy("10.0.0.0/24")));
        f.handle(Event::Next);
        let a = f.handle(Event::Next);
        let Action::DryRun { ticket, .. } = a[0] else {
            panic!()
        };
        f.handle(Event::DryRunDone {
            ticket,
            result: Ok(read(proxy("10.0.0.0/24"), "5")),
        });
        let a = f.handle(Event::Next);
        let Action::Apply { ticket, .. } = a[0] else {
            panic!()
        };
        let meanwhile = HttpProxySetting {
            no_proxy: "192.168.0.0/16".into(),
            ..Default::default()
        };
        let a = f.handle(Event::Applied {
            ticket,
            result: Err(PatchFailure::Conflict(Box::new(read(meanwhile, "9")))),
        });
        assert_eq!(results(&a), vec![Outcome::Denied]);
        assert_eq!(f.step, Step::Preview);
        assert_eq!(
            f.notice,
            Some(Notice::Conflict(vec![
                "noProxy: (empty) -> 192.168.0.0/16".into()
            ]))
        );
        assert_eq!(f.draft, proxy("10.0.0.0/24"));
        // Asked again: a new dry run carrying the version just read.
        let a = f.handle(Event::Next);
        let Action::DryRun {
            resource_version, ..
        } = &a[0]
        else {
            panic!("{a:?}")
        };
        assert_eq!(resource_version, "9");
    }

    #[test]
    fn webhook_denial_keeps_the_form_and_its_words() {
        let mut f = loaded();
        let typed = proxy("10.0.0.0/24");
        f.handle(Event::Edited(typed.clone()));
        f.handle(Event::Next);
        let a = f.handle(Event::Next);
        let Action::DryRun { ticket, .. } = a[0] else {
            panic!()
        };
        let words = "admission webhook \"validator.harvester-system.harvester-webhook\" denied the request: noProxy should contain the node's IP addresses or CIDR. The node(s) 10.0.0.14 are not covered.";
        let a = f.handle(Event::DryRunDone {
            ticket,
            result: Err(PatchFailure::Denied(words.into())),
        });
        assert_eq!(results(&a), vec![Outcome::Denied]);
        assert_eq!(f.step, Step::Edit);
        assert_eq!(f.notice, Some(Notice::Denied(words.into())));
        assert_eq!(f.draft, typed);
    }

    #[test]
    fn cancel_at_every_step_before_apply_sends_nothing() {
        // Walk to each step, then cancel: no patch is ever requested.
        for stop in [
            Step::Loading,
            Step::Edit,
            Step::Preview,
            Step::DryRun,
            Step::Confirm,
        ] {
            let (mut f, _) = ProxyFlow::change("c".into());
            let mut all = Vec::new();
            let mut walk = |f: &mut ProxyFlow, ev| all.extend(f.handle(ev));
            if f.step != stop {
                walk(
                    &mut f,
                    Event::Loaded {
                        current: read(HttpProxySetting::default(), "1"),
                        facts: facts(),
                    },
                );
                walk(&mut f, Event::Edited(proxy("10.0.0.0/24")));
            }
            if f.step != stop {
                walk(&mut f, Event::Next);
            }
            if f.step != stop {
                walk(&mut f, Event::Next);
            }
            if f.step != stop {
                walk(
                    &mut f,
                    Event::DryRunDone {
                        ticket: 1,
                        result: Ok(read(proxy("10.0.0.0/24"), "1")),
                    },
                );
            }
            assert_eq!(f.step, stop);
            let a = f.handle(Event::Cancel);
            assert!(a.is_empty(), "{stop:?}: {a:?}");
            assert_eq!(f.step, Step::Cancelled, "{stop:?}");
            assert!(
                !all.iter().any(|a| matches!(a, Action::Apply { .. })),
                "{stop:?}"
            );
            // Late answers change nothing either.
            assert!(
                f.handle(Event::Applied {
                    ticket: 1,
                    result: Ok(read(proxy("10.0.0.0/24"), "2"))
                })
                .is_empty()
            );
            assert_eq!(f.step, Step::Cancelled);
        }
    }

    #[test]
    fn back_walks_back_and_drops_a_late_dry_run_answer() {
        let mut f = loaded();
        f.handle(Event::Edited(proxy("10.0.0.0/24")));
        f.handle(Event::Next);
        let a = f.handle(Event::Next);
        let Action::DryRun { ticket, .. } = a[0] else {
            panic!()
        };
        f.handle(Event::Back);
        assert_eq!(f.step, Step::Preview);
        f.handle(Event::DryRunDone {
            ticket,
            result: Ok(read(proxy("10.0.0.0/24"), "5")),
        });
        assert_eq!(f.step, Step::Preview, "a stale answer must not confirm");
        f.handle(Event::Back);
        assert_eq!(f.step, Step::Edit);
    }

    #[test]
    fn rollback_is_the_same_walk_to_the_kept_value_and_no_change_is_said() {
        let kept = HttpProxySetting::default();
        let (mut f, _) = ProxyFlow::rollback(kept.clone(), "r".into());
        f.handle(Event::Loaded {
            current: read(proxy("10.0.0.0/24"), "7"),
            facts: facts(),
        });
        assert_eq!(f.draft, kept, "the kept value, not the current one");
        f.handle(Event::Next);
        assert_eq!(f.step, Step::Preview);
        let a = f.handle(Event::Next);
        assert!(matches!(&a[0], Action::DryRun { new, .. } if *new == kept));
        // A change to the value the cluster already has is not sent.
        let mut g = loaded();
        g.handle(Event::Next);
        assert_eq!(g.step, Step::Edit);
        assert!(matches!(g.notice, Some(Notice::Info(ref m)) if m.contains("nothing to change")));
    }

    #[test]
    fn clearing_every_field_is_valid() {
        let (mut f, _) = ProxyFlow::change("c".into());
        f.handle(Event::Loaded {
            current: read(proxy("10.0.0.0/24"), "3"),
            facts: facts(),
        });
        f.handle(Event::Edited(HttpProxySetting::default()));
        assert!(f.problems.is_empty(), "{:?}", f.problems);
        f.handle(Event::Next);
        assert_eq!(f.step, Step::Preview);
    }

    #[test]
    fn validation_table() {
        let f = facts();
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
                        .any(|e| e.field == field && e.message.contains(part)),
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
            ..facts()
        };
        let p = validate(&np("10.0.0.0/24"), &with_vip);
        assert!(!blocks(&p));
        assert!(
            p.iter().any(|p| p.message.contains("VIP 192.168.5.10")),
            "{p:?}"
        );
    }
}
