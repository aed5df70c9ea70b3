//! The walkthrough engine every multi-node change uses: it does the
//! stepping (edit -> validate -> preview -> dry run -> confirm -> apply ->
//! verify -> done, back and cancel before apply, answers to abandoned
//! requests ignored), the fan-out over the chosen targets with a chosen
//! parallelism, per-target states, stop-on-first-failure or keep going,
//! retry of the failed targets only, and the audit lines (one per target
//! and step). A flow only says what is particular to it ([`Change`]): its
//! checks, and what it writes where on each target. Like every flow here it
//! does no I/O: [`drive`] performs its actions through a [`ChangeIo`], for
//! the command line and the tests alike.

use std::collections::BTreeMap;
use std::future::Future;

use futures::stream::{FuturesUnordered, StreamExt};
use serde::Serialize;

use super::{Severity, Step};
use crate::audit::Outcome;

/// How an apply failure starts when it left its target changed in part
/// (e.g. the password at runtime but not persisted): the command line then
/// exits 1 (applied, not verified) rather than 3, and a retry finishes it.
pub const PARTLY_APPLIED: &str = "partly applied: ";

/// What the notice of a walk sent back by a conflict says (see [`Walk::conflicted`]).
const CHANGED_MEANWHILE: &str = "was changed meanwhile";

/// What is particular to one kind of change. Pure: no I/O.
pub trait Change {
    /// What the operator edits. Its `Debug` must mask secrets.
    type Draft: Clone + PartialEq + std::fmt::Debug;
    /// What is read before editing (current values, per-node files, ...).
    type Facts;
    /// What is done on one target (computed at preview, shown, then applied).
    type Work: Clone + Send + Sync;

    /// The audit log's action name, e.g. `password.set`.
    fn action(&self) -> &'static str;
    /// Every check of a draft; errors block, warnings do not.
    fn validate(&self, draft: &Self::Draft, facts: &Self::Facts) -> Vec<Problem>;
    /// Per target: exactly what will be written where, and the work itself.
    /// An `Err` explains why the change cannot be planned (nothing is sent).
    fn plan(
        &self,
        draft: &Self::Draft,
        facts: &Self::Facts,
        targets: &[String],
    ) -> Result<Vec<Planned<Self::Work>>, String>;
    /// What the change does beyond the files (restarts, ...), for the preview.
    fn consequences(&self, _facts: &Self::Facts) -> Vec<String> {
        Vec::new()
    }
    /// The value before and after, masked, for the audit log's `old` and
    /// `new` (None: the change has no single value to record).
    fn audit_values(
        &self,
        _draft: &Self::Draft,
        _facts: &Self::Facts,
    ) -> Option<(serde_json::Value, serde_json::Value)> {
        None
    }
    /// After a conflict: what changed between the facts read before and
    /// now, masked, one line each (`noProxy: a -> b`), for the operator.
    fn changed(&self, _before: &Self::Facts, _now: &Self::Facts) -> Vec<String> {
        Vec::new()
    }
    /// All the targets together, in the walk's messages (`every node`; a
    /// change of one cluster-wide resource says `the cluster`).
    fn whole(&self) -> &'static str {
        "every node"
    }
    /// How the walk ended, in the change's words, given every target's
    /// state (None: the engine's count of changed and failed targets).
    fn summary(&self, _states: &BTreeMap<String, TargetState>) -> Option<String> {
        None
    }
}

/// One validation problem, shown at its field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    pub field: &'static str,
    pub severity: Severity,
    pub message: String,
}

/// The preview and the work of one target.
#[derive(Debug, Clone)]
pub struct Planned<W> {
    pub target: String,
    /// Exactly what is written where (`/oem/99_x.yaml: users.rancher.passwd`,
    /// `runtime: chpasswd -e`), never a secret.
    pub preview: Vec<String>,
    pub work: W,
}

/// Where one target is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "state", content = "detail")]
pub enum TargetState {
    Pending,
    Applying,
    /// Applied (`changed` false: it already had the change); being checked.
    Verifying {
        changed: bool,
    },
    /// Verified; `changed` false when the target already had the change.
    Verified {
        changed: bool,
    },
    Failed(String),
    /// Not attempted: why (stopped after a failure, cancelled).
    Skipped(String),
}

impl TargetState {
    pub fn label(&self) -> &'static str {
        match self {
            TargetState::Pending => "pending",
            TargetState::Applying => "applying",
            TargetState::Verifying { .. } => "verifying",
            TargetState::Verified { changed: true } => "verified",
            TargetState::Verified { changed: false } => "already so",
            TargetState::Failed(_) => "failed",
            TargetState::Skipped(_) => "skipped",
        }
    }

    fn in_flight(&self) -> bool {
        matches!(self, TargetState::Applying | TargetState::Verifying { .. })
    }
}

/// How the apply step runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApplyOptions {
    /// Targets changed at once (1: one after the other).
    pub parallel: usize,
    /// Go on with the other targets after one fails.
    pub keep_going: bool,
    /// Stop after a successful dry run (`--dry-run`).
    pub dry_run_only: bool,
}

impl Default for ApplyOptions {
    fn default() -> Self {
        ApplyOptions {
            parallel: 1,
            keep_going: false,
            dry_run_only: false,
        }
    }
}

/// What happened.
#[derive(Debug)]
pub enum Event<C: Change> {
    Loaded(C::Facts),
    LoadFailed(String),
    Edited(C::Draft),
    /// Enter / continue / yes.
    Next,
    Back,
    /// Before apply: leave. During apply: start nothing more.
    Cancel,
    /// After apply: try the failed and skipped targets again (or one).
    Retry(Option<String>),
    DryRunDone {
        ticket: u64,
        target: String,
        result: Result<(), String>,
    },
    /// `Ok(true)` changed, `Ok(false)` it already had the change.
    Applied {
        ticket: u64,
        target: String,
        result: Result<bool, String>,
    },
    Verified {
        ticket: u64,
        target: String,
        result: Result<(), String>,
    },
    /// A dry run or apply found the resource changed by someone else since
    /// it was read (409, or a file's hash): the facts as read again. The walk
    /// goes back to the preview, re-planned, with what changed.
    Conflict {
        ticket: u64,
        target: String,
        now: C::Facts,
    },
    /// The cluster refused the value itself (an admission webhook): its
    /// words, verbatim. The walk goes back to the form with them.
    Denied {
        ticket: u64,
        target: String,
        words: String,
    },
    /// While verifying: what the target says now (shown beside its state).
    Progress {
        ticket: u64,
        target: String,
        text: String,
    },
}

/// What the engine asks its driver to do.
#[derive(Debug, Clone)]
pub enum Action<W> {
    Load,
    DryRun {
        ticket: u64,
        target: String,
        work: W,
    },
    Apply {
        ticket: u64,
        target: String,
        work: W,
    },
    Verify {
        ticket: u64,
        target: String,
        work: W,
    },
    Audit(AuditLine),
}

/// One audit line: the driver adds time, user and cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditLine {
    pub action: &'static str,
    pub correlation_id: String,
    /// The node, or None for the change as a whole.
    pub target: Option<String>,
    /// `validate`, `dry-run`, `apply`, `verify`.
    pub step: &'static str,
    pub result: Outcome,
    /// Never a secret: the flows' messages and the nodes' errors.
    pub detail: String,
    /// The value before and after, masked ([`Change::audit_values`]).
    pub old: Option<serde_json::Value>,
    pub new: Option<serde_json::Value>,
}

/// One walkthrough of a change over chosen targets.
pub struct Walk<C: Change> {
    pub change: C,
    pub step: Step,
    pub options: ApplyOptions,
    pub correlation_id: String,
    pub targets: Vec<String>,
    pub draft: C::Draft,
    pub facts: Option<C::Facts>,
    pub problems: Vec<Problem>,
    pub plan: Vec<Planned<C::Work>>,
    pub states: BTreeMap<String, TargetState>,
    /// While verifying: the last word of each target being verified.
    pub progress: BTreeMap<String, String>,
    /// After a conflict: what someone else changed meanwhile (masked).
    pub conflict: Vec<String>,
    /// A message for the operator beside the form.
    pub notice: Option<String>,
    /// How the walk ended: Ok(summary) or Err(what to check).
    pub result: Option<Result<String, String>>,
    ticket: u64,
    dry_runs_left: usize,
    dry_run_failures: Vec<String>,
}

impl<C: Change> Walk<C> {
    /// A walk over `targets` starting from `draft` (edited later or not).
    pub fn new(
        change: C,
        targets: Vec<String>,
        draft: C::Draft,
        options: ApplyOptions,
        correlation_id: String,
    ) -> (Walk<C>, Vec<Action<C::Work>>) {
        let w = Walk {
            change,
            step: Step::Loading,
            options: ApplyOptions {
                parallel: options.parallel.max(1),
                ..options
            },
            correlation_id,
            targets,
            draft,
            facts: None,
            problems: Vec::new(),
            plan: Vec::new(),
            states: BTreeMap::new(),
            progress: BTreeMap::new(),
            conflict: Vec::new(),
            notice: None,
            result: None,
            ticket: 0,
            dry_runs_left: 0,
            dry_run_failures: Vec::new(),
        };
        (w, vec![Action::Load])
    }

    pub fn finished(&self) -> bool {
        matches!(self.step, Step::Done | Step::Cancelled)
    }

    /// Whether the walk waits for the operator (not for a request).
    pub fn awaits_operator(&self) -> bool {
        matches!(self.step, Step::Edit | Step::Preview | Step::Confirm) || self.finished()
    }

    /// Whether the walk went back because a target changed since it was
    /// read (a 409, another hash): what changed is in `conflict`.
    pub fn conflicted(&self) -> bool {
        self.notice
            .as_deref()
            .is_some_and(|n| n.contains(CHANGED_MEANWHILE))
    }

    /// Targets in a state, in order.
    pub fn targets_in(&self, pred: impl Fn(&TargetState) -> bool) -> Vec<String> {
        self.states
            .iter()
            .filter(|(_, s)| pred(s))
            .map(|(t, _)| t.clone())
            .collect()
    }

    fn audit(
        &self,
        target: Option<&str>,
        step: &'static str,
        result: Outcome,
        detail: impl Into<String>,
    ) -> Action<C::Work> {
        let values = self
            .facts
            .as_ref()
            .and_then(|f| self.change.audit_values(&self.draft, f));
        let (old, new) = match values {
            Some((o, n)) => (Some(o), Some(n)),
            None => (None, None),
        };
        Action::Audit(AuditLine {
            action: self.change.action(),
            correlation_id: self.correlation_id.clone(),
            target: target.map(str::to_string),
            step,
            result,
            detail: detail.into(),
            old,
            new,
        })
    }

    /// The cluster refused the value: back to the form with its words (the
    /// draft is kept; nothing further is started).
    fn denied(&mut self, target: &str, step: &'static str, words: String) -> Vec<Action<C::Work>> {
        let audit = self.audit(Some(target), step, Outcome::Denied, words.clone());
        self.next_ticket();
        self.stop_in_flight("the cluster refused the value: back to the form");
        self.step = Step::Edit;
        self.notice = Some(words);
        vec![audit]
    }

    /// Targets not finished are not going to be: the walk went back.
    fn stop_in_flight(&mut self, why: &str) {
        self.progress.clear();
        for s in self.states.values_mut() {
            if matches!(
                s,
                TargetState::Applying | TargetState::Verifying { .. } | TargetState::Pending
            ) {
                *s = TargetState::Skipped(why.into());
            }
        }
    }

    /// Someone else changed what the walk read: take the new facts, say what
    /// changed, and ask again from the preview (or the form, when the draft
    /// no longer passes its checks). Targets already verified stay so; the
    /// re-plan finds them already changed.
    fn conflict(
        &mut self,
        target: &str,
        step: &'static str,
        now: C::Facts,
    ) -> Vec<Action<C::Work>> {
        let audit = self.audit(
            Some(target),
            step,
            Outcome::Denied,
            "conflict: changed by someone else since it was read",
        );
        self.conflict = match &self.facts {
            Some(before) => self.change.changed(before, &now),
            None => Vec::new(),
        };
        self.facts = Some(now);
        self.next_ticket();
        self.stop_in_flight("the walk went back to the preview");
        self.step = Step::Edit;
        let mut out = vec![audit];
        out.extend(self.plan_preview());
        if self.step == Step::Edit && self.notice.is_none() {
            self.notice = Some(format!(
                "{target} {CHANGED_MEANWHILE}: check the form and go on"
            ));
        } else if self.step == Step::Preview {
            self.notice = Some(format!(
                "{target} {CHANGED_MEANWHILE}: read again, check the preview and go on"
            ));
        }
        out
    }

    fn revalidate(&mut self) {
        self.problems = match &self.facts {
            Some(f) => self.change.validate(&self.draft, f),
            None => Vec::new(),
        };
    }

    fn blocking(&self) -> Vec<&Problem> {
        self.problems
            .iter()
            .filter(|p| p.severity == Severity::Error)
            .collect()
    }

    fn next_ticket(&mut self) -> u64 {
        self.ticket += 1;
        self.ticket
    }

    fn work_of(&self, target: &str) -> Option<C::Work> {
        self.plan
            .iter()
            .find(|p| p.target == target)
            .map(|p| p.work.clone())
    }

    /// Start as many pending targets as the parallelism allows; finish the
    /// walk when nothing is under way and nothing can start.
    fn schedule(&mut self) -> Vec<Action<C::Work>> {
        let mut out = Vec::new();
        let busy = self.states.values().filter(|s| s.in_flight()).count();
        let free = self.options.parallel.saturating_sub(busy);
        let pending: Vec<String> = self.targets_in(|s| *s == TargetState::Pending);
        for target in pending.into_iter().take(free) {
            if let Some(work) = self.work_of(&target) {
                self.states.insert(target.clone(), TargetState::Applying);
                out.push(Action::Apply {
                    ticket: self.ticket,
                    target,
                    work,
                });
            }
        }
        if out.is_empty() && !self.states.values().any(TargetState::in_flight) {
            self.finish();
        }
        out
    }

    fn finish(&mut self) {
        self.step = Step::Done;
        let count = |f: fn(&TargetState) -> bool| self.states.values().filter(|s| f(s)).count();
        let changed = count(|s| *s == TargetState::Verified { changed: true });
        let already = count(|s| *s == TargetState::Verified { changed: false });
        let failed = self.targets_in(|s| matches!(s, TargetState::Failed(_)));
        let skipped = self.targets_in(|s| matches!(s, TargetState::Skipped(_)));
        let own = self.change.summary(&self.states);
        let mut summary = format!("{changed} changed, {already} already so");
        if failed.is_empty() && skipped.is_empty() {
            self.result = Some(Ok(own.unwrap_or(summary)));
        } else if let Some(own) = own {
            self.result = Some(Err(own));
        } else {
            if !failed.is_empty() {
                summary.push_str(&format!(", failed: {}", failed.join(" ")));
            }
            if !skipped.is_empty() {
                summary.push_str(&format!(", not attempted: {}", skipped.join(" ")));
            }
            summary.push_str("; retry to finish them (the others are not changed again)");
            self.result = Some(Err(summary));
        }
    }

    fn fail_target(&mut self, target: &str, step: &'static str, e: String) -> Vec<Action<C::Work>> {
        self.progress.remove(target);
        let mut out = vec![self.audit(Some(target), step, Outcome::Failed, e.clone())];
        self.states.insert(
            target.to_string(),
            TargetState::Failed(format!("{step}: {e}")),
        );
        if !self.options.keep_going {
            for t in self.targets_in(|s| *s == TargetState::Pending) {
                self.states.insert(
                    t,
                    TargetState::Skipped(format!("stopped after {target} failed")),
                );
            }
        }
        out.extend(self.schedule());
        out
    }

    /// Feeds one event; returns what to do next.
    pub fn handle(&mut self, ev: Event<C>) -> Vec<Action<C::Work>> {
        use Step as S;
        match (self.step, ev) {
            (S::Done | S::Cancelled, Event::Retry(only)) if self.step == S::Done => {
                self.retry(only)
            }
            (S::Done | S::Cancelled, _) => vec![],
            (S::Apply | S::Verify, Event::Cancel) => {
                for t in self.targets_in(|s| *s == TargetState::Pending) {
                    self.states
                        .insert(t, TargetState::Skipped("cancelled by the operator".into()));
                }
                // A verification only watches (a rollout can take minutes):
                // stop following it; an apply under way must finish to know
                // what it wrote.
                for t in self.targets_in(|s| matches!(s, TargetState::Verifying { .. })) {
                    self.progress.remove(&t);
                    self.states.insert(
                        t,
                        TargetState::Failed(
                            "verify: stopped following before it was verified (cancelled by the operator)"
                                .into(),
                        ),
                    );
                }
                self.notice = Some(
                    "no further node is started; an apply under way finishes, verifications are no longer followed"
                        .into(),
                );
                self.schedule()
            }
            (_, Event::Cancel) => {
                self.step = S::Cancelled;
                vec![]
            }
            (S::Loading, Event::Loaded(facts)) => {
                self.facts = Some(facts);
                self.revalidate();
                self.step = S::Edit;
                vec![]
            }
            (S::Loading, Event::LoadFailed(e)) => {
                // A failed attempt too (README's audit log), though nothing was sent.
                let audit = self.audit(None, "load", Outcome::Failed, e.clone());
                self.step = S::Done;
                self.result = Some(Err(e));
                vec![audit]
            }
            (S::Edit, Event::Edited(d)) => {
                self.draft = d;
                self.revalidate();
                vec![]
            }
            (S::Edit, Event::Next) => self.plan_preview(),
            (S::Preview, Event::Back) => {
                self.step = S::Edit;
                vec![]
            }
            (S::Preview, Event::Next) => {
                self.conflict.clear();
                let ticket = self.next_ticket();
                self.step = S::DryRun;
                self.dry_runs_left = self.plan.len();
                self.dry_run_failures.clear();
                self.plan
                    .iter()
                    .map(|p| Action::DryRun {
                        ticket,
                        target: p.target.clone(),
                        work: p.work.clone(),
                    })
                    .collect()
            }
            (S::DryRun, Event::Back) => {
                self.next_ticket();
                self.step = S::Preview;
                vec![]
            }
            (
                S::DryRun,
                Event::DryRunDone {
                    ticket,
                    target,
                    result,
                },
            ) if ticket == self.ticket => {
                self.dry_runs_left = self.dry_runs_left.saturating_sub(1);
                if let Err(e) = result {
                    self.dry_run_failures.push(format!("{target}: {e}"));
                }
                if self.dry_runs_left > 0 {
                    return vec![];
                }
                if !self.dry_run_failures.is_empty() {
                    let detail = self.dry_run_failures.join("; ");
                    self.step = S::Preview;
                    self.notice = Some(format!("the dry run failed: {detail}"));
                    return vec![self.audit(None, "dry-run", Outcome::Failed, detail)];
                }
                if self.options.dry_run_only {
                    self.step = S::Done;
                    self.result = Some(Ok(format!(
                        "dry run passed on {}: nothing was changed",
                        self.change.whole()
                    )));
                    return vec![self.audit(None, "dry-run", Outcome::DryRun, "")];
                }
                self.step = S::Confirm;
                vec![]
            }
            (S::Confirm, Event::Back) => {
                self.step = S::Preview;
                vec![]
            }
            (
                S::DryRun,
                Event::Conflict {
                    ticket,
                    target,
                    now,
                },
            ) if ticket == self.ticket => self.conflict(&target, "dry-run", now),
            (
                S::Apply,
                Event::Conflict {
                    ticket,
                    target,
                    now,
                },
            ) if ticket == self.ticket
                && self.states.get(&target) == Some(&TargetState::Applying) =>
            {
                self.conflict(&target, "apply", now)
            }
            (
                S::DryRun,
                Event::Denied {
                    ticket,
                    target,
                    words,
                },
            ) if ticket == self.ticket => self.denied(&target, "dry-run", words),
            (
                S::Apply,
                Event::Denied {
                    ticket,
                    target,
                    words,
                },
            ) if ticket == self.ticket
                && self.states.get(&target) == Some(&TargetState::Applying) =>
            {
                self.denied(&target, "apply", words)
            }
            (
                S::Apply,
                Event::Progress {
                    ticket,
                    target,
                    text,
                },
            ) if ticket == self.ticket
                && matches!(
                    self.states.get(&target),
                    Some(TargetState::Verifying { .. })
                ) =>
            {
                self.progress.insert(target, text);
                vec![]
            }
            (S::Confirm, Event::Next) => {
                self.next_ticket();
                self.step = S::Apply;
                self.notice = None;
                self.states = self
                    .plan
                    .iter()
                    .map(|p| (p.target.clone(), TargetState::Pending))
                    .collect();
                self.schedule()
            }
            (
                S::Apply,
                Event::Applied {
                    ticket,
                    target,
                    result,
                },
            ) if ticket == self.ticket
                && self.states.get(&target) == Some(&TargetState::Applying) =>
            {
                match result {
                    Ok(changed) => {
                        let detail = if changed {
                            ""
                        } else {
                            "already had the change"
                        };
                        let audit = self.audit(Some(&target), "apply", Outcome::Applied, detail);
                        self.states
                            .insert(target.clone(), TargetState::Verifying { changed });
                        let Some(work) = self.work_of(&target) else {
                            return vec![audit];
                        };
                        vec![
                            audit,
                            Action::Verify {
                                ticket,
                                target,
                                work,
                            },
                        ]
                    }
                    Err(e) => self.fail_target(&target, "apply", e),
                }
            }
            (
                S::Apply,
                Event::Verified {
                    ticket,
                    target,
                    result,
                },
            ) if ticket == self.ticket
                && matches!(
                    self.states.get(&target),
                    Some(TargetState::Verifying { .. })
                ) =>
            {
                match result {
                    Ok(()) => {
                        let changed = self.states.get(&target)
                            == Some(&TargetState::Verifying { changed: true });
                        self.states
                            .insert(target.clone(), TargetState::Verified { changed });
                        self.progress.remove(&target);
                        let mut out =
                            vec![self.audit(Some(&target), "verify", Outcome::Verified, "")];
                        out.extend(self.schedule());
                        out
                    }
                    Err(e) => self.fail_target(&target, "verify", e),
                }
            }
            _ => vec![],
        }
    }

    fn plan_preview(&mut self) -> Vec<Action<C::Work>> {
        self.revalidate();
        let blocking = self.blocking();
        if !blocking.is_empty() {
            let detail = blocking
                .iter()
                .map(|p| format!("{}: {}", p.field, p.message))
                .collect::<Vec<_>>()
                .join("; ");
            return vec![self.audit(None, "validate", Outcome::Refused, detail)];
        }
        let Some(facts) = &self.facts else {
            return vec![];
        };
        if self.targets.is_empty() {
            self.notice = Some("no node chosen: mark nodes, or choose a role or all".into());
            return vec![];
        }
        match self.change.plan(&self.draft, facts, &self.targets) {
            Ok(plan) if plan.is_empty() => {
                self.notice = Some(format!(
                    "nothing to change: {} already has it",
                    self.change.whole()
                ));
                vec![]
            }
            Ok(plan) => {
                self.plan = plan;
                self.notice = None;
                self.step = Step::Preview;
                vec![]
            }
            Err(e) => {
                self.notice = Some(e.clone());
                vec![self.audit(None, "validate", Outcome::Refused, e)]
            }
        }
    }

    fn retry(&mut self, only: Option<String>) -> Vec<Action<C::Work>> {
        let again: Vec<String> = self
            .targets_in(|s| matches!(s, TargetState::Failed(_) | TargetState::Skipped(_)))
            .into_iter()
            .filter(|t| only.as_ref().is_none_or(|o| o == t))
            .collect();
        if again.is_empty() {
            self.notice = Some("nothing to retry: no node failed".into());
            return vec![];
        }
        self.next_ticket();
        for t in again {
            self.states.insert(t, TargetState::Pending);
        }
        self.step = Step::Apply;
        self.result = None;
        self.notice = None;
        self.schedule()
    }
}

/// The I/O of one kind of change, for [`drive`].
pub trait ChangeIo<C: Change> {
    fn load(&self) -> impl Future<Output = Result<C::Facts, String>>;
    fn dry_run(&self, target: &str, work: &C::Work) -> impl Future<Output = Result<(), String>>;
    /// `Ok(false)`: the target already had the change (nothing done).
    fn apply(&self, target: &str, work: &C::Work) -> impl Future<Output = Result<bool, String>>;
    fn verify(&self, target: &str, work: &C::Work) -> impl Future<Output = Result<(), String>>;
    /// Append an audit line; a change whose audit cannot be written is not made
    /// (`load` should check that first).
    fn audit(&self, line: &AuditLine);
    /// `dry_run`, able to say the target changed since it was read (what
    /// [`drive`] calls). The default knows no conflicts.
    fn try_dry_run(
        &self,
        target: &str,
        work: &C::Work,
    ) -> impl Future<Output = Result<(), Refusal<C::Facts>>> {
        async move { self.dry_run(target, work).await.map_err(Refusal::Failed) }
    }
    /// `apply`, able to say the target changed since it was read.
    fn try_apply(
        &self,
        target: &str,
        work: &C::Work,
    ) -> impl Future<Output = Result<bool, Refusal<C::Facts>>> {
        async move { self.apply(target, work).await.map_err(Refusal::Failed) }
    }
    /// `verify`, telling `progress` what the target says while it waits
    /// (a condition's message, a rollout's state).
    fn verify_with_progress(
        &self,
        target: &str,
        work: &C::Work,
        _progress: &dyn Fn(String),
    ) -> impl Future<Output = Result<(), String>> {
        self.verify(target, work)
    }
}

/// Why a dry run or an apply did not go through.
#[derive(Debug)]
pub enum Refusal<F> {
    Failed(String),
    /// The cluster refused the value (webhook): its words.
    Denied(String),
    /// The target changed since it was read (409, another hash): the facts
    /// read again.
    Conflict(F),
}

impl<F> Refusal<F> {
    /// The refusal as one line, for an I/O whose plain `dry_run`/`apply`
    /// answers with text.
    pub fn into_text(self) -> String {
        match self {
            Refusal::Failed(m) => m,
            Refusal::Denied(m) => format!("denied: {m}"),
            Refusal::Conflict(_) => "changed by someone else since it was read (409)".into(),
        }
    }
}

impl<C: Change> Event<C> {
    fn dry_run_answer(ticket: u64, target: String, r: Result<(), Refusal<C::Facts>>) -> Event<C> {
        match r {
            Err(Refusal::Conflict(now)) => Event::Conflict {
                ticket,
                target,
                now,
            },
            Err(Refusal::Denied(words)) => Event::Denied {
                ticket,
                target,
                words,
            },
            Err(Refusal::Failed(e)) => Event::DryRunDone {
                ticket,
                target,
                result: Err(e),
            },
            Ok(()) => Event::DryRunDone {
                ticket,
                target,
                result: Ok(()),
            },
        }
    }

    fn apply_answer(ticket: u64, target: String, r: Result<bool, Refusal<C::Facts>>) -> Event<C> {
        match r {
            Err(Refusal::Conflict(now)) => Event::Conflict {
                ticket,
                target,
                now,
            },
            Err(Refusal::Denied(words)) => Event::Denied {
                ticket,
                target,
                words,
            },
            Err(Refusal::Failed(e)) => Event::Applied {
                ticket,
                target,
                result: Err(e),
            },
            Ok(changed) => Event::Applied {
                ticket,
                target,
                result: Ok(changed),
            },
        }
    }
}

/// Performs `actions` and feeds their answers back until the walk waits for
/// the operator or is finished; requests of one round run concurrently (the
/// engine bounds how many targets apply at once). `seen` is told after every
/// event, for live per-target display.
pub async fn drive<C, I>(
    walk: &mut Walk<C>,
    io: &I,
    actions: Vec<Action<C::Work>>,
    mut seen: impl FnMut(&Walk<C>),
) where
    C: Change,
    I: ChangeIo<C>,
{
    let mut running = FuturesUnordered::new();
    // Progress of the verifications under way arrives beside their answers.
    let (progress_tx, mut progress_rx) = futures::channel::mpsc::unbounded::<Event<C>>();
    let mut queue = actions;
    loop {
        for action in queue.drain(..) {
            match action {
                Action::Audit(line) => io.audit(&line),
                Action::Load => {
                    running.push(boxed(async { Event::<C>::from_load(io.load().await) }))
                }
                Action::DryRun {
                    ticket,
                    target,
                    work,
                } => running.push(boxed(async move {
                    let result = io.try_dry_run(&target, &work).await;
                    Event::dry_run_answer(ticket, target, result)
                })),
                Action::Apply {
                    ticket,
                    target,
                    work,
                } => running.push(boxed(async move {
                    let result = io.try_apply(&target, &work).await;
                    Event::apply_answer(ticket, target, result)
                })),
                Action::Verify {
                    ticket,
                    target,
                    work,
                } => {
                    let tx = progress_tx.clone();
                    running.push(boxed(async move {
                        let report = |text: String| {
                            let _ = tx.unbounded_send(Event::Progress {
                                ticket,
                                target: target.clone(),
                                text,
                            });
                        };
                        let result = io.verify_with_progress(&target, &work, &report).await;
                        Event::Verified {
                            ticket,
                            target,
                            result,
                        }
                    }))
                }
            }
        }
        let ev = tokio::select! {
            biased;
            Some(p) = progress_rx.next() => p,
            answer = running.next() => match answer {
                Some(ev) => ev,
                None => return,
            },
        };
        queue = walk.handle(ev);
        seen(walk);
    }
}

/// Performs one action and returns its answer (None for an audit line),
/// for a driver that keeps the walk elsewhere (the console, which feeds
/// the answer back as a message). `progress` hears what a verification
/// says while it waits.
pub async fn perform<C, I>(
    io: &I,
    action: Action<C::Work>,
    progress: impl Fn(Event<C>),
) -> Option<Event<C>>
where
    C: Change,
    I: ChangeIo<C>,
{
    Some(match action {
        Action::Audit(line) => {
            io.audit(&line);
            return None;
        }
        Action::Load => Event::from_load(io.load().await),
        Action::DryRun {
            ticket,
            target,
            work,
        } => {
            let r = io.try_dry_run(&target, &work).await;
            Event::dry_run_answer(ticket, target, r)
        }
        Action::Apply {
            ticket,
            target,
            work,
        } => {
            let r = io.try_apply(&target, &work).await;
            Event::apply_answer(ticket, target, r)
        }
        Action::Verify {
            ticket,
            target,
            work,
        } => {
            let report = |text: String| {
                progress(Event::Progress {
                    ticket,
                    target: target.clone(),
                    text,
                })
            };
            let result = io.verify_with_progress(&target, &work, &report).await;
            Event::Verified {
                ticket,
                target,
                result,
            }
        }
    })
}

type EventFuture<'a, C> = std::pin::Pin<Box<dyn Future<Output = Event<C>> + 'a>>;

fn boxed<'a, C: Change>(f: impl Future<Output = Event<C>> + 'a) -> EventFuture<'a, C> {
    Box::pin(f)
}

impl<C: Change> Event<C> {
    fn from_load(r: Result<C::Facts, String>) -> Event<C> {
        match r {
            Ok(f) => Event::Loaded(f),
            Err(e) => Event::LoadFailed(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::collections::BTreeSet;

    /// A toy change: append one line to a file on each target. Targets in
    /// `facts` that already have the line need nothing.
    struct AppendLine;

    impl Change for AppendLine {
        type Draft = String;
        type Facts = BTreeSet<String>;
        type Work = String;

        fn action(&self) -> &'static str {
            "test.append"
        }
        fn validate(&self, draft: &String, _: &Self::Facts) -> Vec<Problem> {
            let mut v = Vec::new();
            if draft.is_empty() {
                v.push(Problem {
                    field: "line",
                    severity: Severity::Error,
                    message: "type the line to append".into(),
                });
            }
            v
        }
        fn plan(
            &self,
            draft: &String,
            _: &Self::Facts,
            targets: &[String],
        ) -> Result<Vec<Planned<String>>, String> {
            Ok(targets
                .iter()
                .map(|t| Planned {
                    target: t.clone(),
                    preview: vec![format!("/etc/demo: append {draft:?}")],
                    work: draft.clone(),
                })
                .collect())
        }
    }

    #[derive(Default)]
    struct FakeNodes {
        already: BTreeSet<String>,
        fail_apply: RefCell<BTreeSet<String>>,
        applied: RefCell<Vec<String>>,
        audit: RefCell<Vec<AuditLine>>,
        in_flight: RefCell<usize>,
        max_in_flight: RefCell<usize>,
    }

    impl ChangeIo<AppendLine> for FakeNodes {
        async fn load(&self) -> Result<BTreeSet<String>, String> {
            Ok(self.already.clone())
        }
        async fn dry_run(&self, _: &str, _: &String) -> Result<(), String> {
            Ok(())
        }
        async fn apply(&self, target: &str, _: &String) -> Result<bool, String> {
            *self.in_flight.borrow_mut() += 1;
            let now = *self.in_flight.borrow();
            let max = (*self.max_in_flight.borrow()).max(now);
            *self.max_in_flight.borrow_mut() = max;
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            *self.in_flight.borrow_mut() -= 1;
            if self.fail_apply.borrow().contains(target) {
                return Err("link down".into());
            }
            self.applied.borrow_mut().push(target.to_string());
            Ok(!self.already.contains(target))
        }
        async fn verify(&self, _: &str, _: &String) -> Result<(), String> {
            Ok(())
        }
        fn audit(&self, line: &AuditLine) {
            self.audit.borrow_mut().push(line.clone());
        }
    }

    fn nodes(n: usize) -> Vec<String> {
        (1..=n).map(|i| format!("node{i}")).collect()
    }

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    /// Walks to the confirmation and says yes; returns the walk after apply.
    fn walk_to_end(
        io: &FakeNodes,
        targets: Vec<String>,
        options: ApplyOptions,
    ) -> Walk<AppendLine> {
        let rt = rt();
        let (mut w, a) = Walk::new(AppendLine, targets, "x".into(), options, "c1".into());
        rt.block_on(drive(&mut w, io, a, |_| {}));
        for _ in 0..3 {
            let a = w.handle(Event::Next);
            rt.block_on(drive(&mut w, io, a, |_| {}));
        }
        w
    }

    fn states(w: &Walk<AppendLine>) -> Vec<(String, &'static str)> {
        w.states
            .iter()
            .map(|(t, s)| (t.clone(), s.label()))
            .collect()
    }

    #[test]
    fn every_target_is_applied_verified_and_audited_one_after_the_other() {
        let io = FakeNodes::default();
        let w = walk_to_end(&io, nodes(3), ApplyOptions::default());
        assert_eq!(w.step, Step::Done);
        assert_eq!(w.result, Some(Ok("3 changed, 0 already so".into())));
        assert_eq!(*io.applied.borrow(), nodes(3));
        assert_eq!(*io.max_in_flight.borrow(), 1);
        let per_node: Vec<(Option<String>, &str)> = io
            .audit
            .borrow()
            .iter()
            .map(|l| (l.target.clone(), l.step))
            .collect();
        for n in nodes(3) {
            assert!(
                per_node.contains(&(Some(n.clone()), "apply")),
                "{per_node:?}"
            );
            assert!(
                per_node.contains(&(Some(n.clone()), "verify")),
                "{per_node:?}"
            );
        }
    }

    #[test]
    fn a_failure_stops_the_rest_and_a_retry_changes_only_what_is_left() {
        let io = FakeNodes::default();
        io.fail_apply.borrow_mut().insert("node2".into());
        let mut w = walk_to_end(&io, nodes(3), ApplyOptions::default());
        assert_eq!(
            states(&w),
            vec![
                ("node1".into(), "verified"),
                ("node2".into(), "failed"),
                ("node3".into(), "skipped")
            ]
        );
        let Some(Err(summary)) = &w.result else {
            panic!("{:?}", w.result)
        };
        assert!(summary.contains("failed: node2"), "{summary}");
        assert!(summary.contains("not attempted: node3"), "{summary}");
        assert!(
            io.audit
                .borrow()
                .iter()
                .any(|l| l.target.as_deref() == Some("node2")
                    && l.result == Outcome::Failed
                    && l.detail == "link down")
        );

        io.fail_apply.borrow_mut().clear();
        let a = w.handle(Event::Retry(None));
        rt().block_on(drive(&mut w, &io, a, |_| {}));
        assert_eq!(w.result, Some(Ok("3 changed, 0 already so".into())));
        assert_eq!(
            *io.applied.borrow(),
            vec!["node1", "node2", "node3"],
            "node1 is not applied again"
        );
    }

    #[test]
    fn keep_going_finishes_the_others_and_retry_of_one_node_touches_only_it() {
        let io = FakeNodes::default();
        io.fail_apply.borrow_mut().insert("node2".into());
        let opts = ApplyOptions {
            keep_going: true,
            ..Default::default()
        };
        let mut w = walk_to_end(&io, nodes(3), opts);
        assert_eq!(states(&w)[2], ("node3".into(), "verified"));
        io.fail_apply.borrow_mut().clear();
        let a = w.handle(Event::Retry(Some("node2".into())));
        rt().block_on(drive(&mut w, &io, a, |_| {}));
        assert_eq!(*io.applied.borrow(), vec!["node1", "node3", "node2"]);
        assert!(matches!(w.result, Some(Ok(_))));
    }

    #[test]
    fn parallelism_bounds_the_targets_under_way() {
        let io = FakeNodes::default();
        let opts = ApplyOptions {
            parallel: 2,
            ..Default::default()
        };
        let w = walk_to_end(&io, nodes(5), opts);
        assert_eq!(w.result, Some(Ok("5 changed, 0 already so".into())));
        assert_eq!(*io.max_in_flight.borrow(), 2);
    }

    #[test]
    fn a_target_that_already_has_the_change_is_reported_so() {
        let io = FakeNodes {
            already: BTreeSet::from(["node2".to_string()]),
            ..Default::default()
        };
        let w = walk_to_end(&io, nodes(3), ApplyOptions::default());
        assert_eq!(w.result, Some(Ok("2 changed, 1 already so".into())));
        assert_eq!(states(&w)[1], ("node2".into(), "already so"));
    }

    #[test]
    fn an_invalid_draft_is_refused_at_the_form_and_kept() {
        let io = FakeNodes::default();
        let rt = rt();
        let (mut w, a) = Walk::new(
            AppendLine,
            nodes(2),
            String::new(),
            ApplyOptions::default(),
            "c".into(),
        );
        rt.block_on(drive(&mut w, &io, a, |_| {}));
        let a = w.handle(Event::Next);
        rt.block_on(drive(&mut w, &io, a, |_| {}));
        assert_eq!(w.step, Step::Edit);
        assert_eq!(w.problems[0].message, "type the line to append");
        let refused = io.audit.borrow();
        assert_eq!(refused.len(), 1);
        assert_eq!(
            (refused[0].step, refused[0].result),
            ("validate", Outcome::Refused)
        );
        assert!(io.applied.borrow().is_empty());
    }

    #[test]
    fn answers_to_an_abandoned_dry_run_are_ignored_and_cancel_before_apply_sends_nothing() {
        let (mut w, _) = Walk::new(
            AppendLine,
            nodes(1),
            "x".into(),
            ApplyOptions::default(),
            "c".into(),
        );
        w.handle(Event::Loaded(BTreeSet::new()));
        w.handle(Event::Next);
        let dry = w.handle(Event::Next);
        let Some(Action::DryRun { ticket, .. }) = dry.first().cloned() else {
            panic!("{dry:?}")
        };
        w.handle(Event::Back);
        assert_eq!(w.step, Step::Preview);
        w.handle(Event::DryRunDone {
            ticket,
            target: "node1".into(),
            result: Ok(()),
        });
        assert_eq!(w.step, Step::Preview, "a stale answer moves nothing");
        w.handle(Event::Cancel);
        assert_eq!(w.step, Step::Cancelled);
        assert!(w.handle(Event::Next).is_empty());
    }

    #[test]
    fn cancel_during_apply_starts_no_further_target() {
        let (mut w, _) = Walk::new(
            AppendLine,
            nodes(3),
            "x".into(),
            ApplyOptions::default(),
            "c".into(),
        );
        w.handle(Event::Loaded(BTreeSet::new()));
        w.handle(Event::Next);
        let dry = w.handle(Event::Next);
        let Some(Action::DryRun { ticket, .. }) = dry.first().cloned() else {
            panic!()
        };
        w.handle(Event::DryRunDone {
            ticket,
            target: "node1".into(),
            result: Ok(()),
        });
        // Still waiting for node2 and node3's dry runs.
        assert_eq!(w.step, Step::DryRun);
        for t in ["node2", "node3"] {
            w.handle(Event::DryRunDone {
                ticket,
                target: t.into(),
                result: Ok(()),
            });
        }
        assert_eq!(w.step, Step::Confirm);
        let started = w.handle(Event::Next);
        let Some(Action::Apply { ticket, target, .. }) = started.first().cloned() else {
            panic!("{started:?}")
        };
        assert_eq!(target, "node1");
        assert!(w.handle(Event::Cancel).is_empty());
        let after = w.handle(Event::Applied {
            ticket,
            target: "node1".into(),
            result: Ok(true),
        });
        assert!(matches!(after.last(), Some(Action::Verify { .. })));
        w.handle(Event::Verified {
            ticket,
            target: "node1".into(),
            result: Ok(()),
        });
        assert_eq!(
            states(&w),
            vec![
                ("node1".into(), "verified"),
                ("node2".into(), "skipped"),
                ("node3".into(), "skipped")
            ]
        );
        assert_eq!(w.step, Step::Done);
    }

    #[test]
    fn cancel_while_verifying_stops_following_and_the_late_answer_is_ignored() {
        let (mut w, _) = Walk::new(
            AppendLine,
            nodes(2),
            "x".into(),
            ApplyOptions::default(),
            "c".into(),
        );
        w.handle(Event::Loaded(BTreeSet::new()));
        w.handle(Event::Next);
        let dry = w.handle(Event::Next);
        let Some(Action::DryRun { ticket, .. }) = dry.first().cloned() else {
            panic!("{dry:?}")
        };
        for t in ["node1", "node2"] {
            w.handle(Event::DryRunDone {
                ticket,
                target: t.into(),
                result: Ok(()),
            });
        }
        let started = w.handle(Event::Next);
        let Some(Action::Apply { ticket, .. }) = started.first().cloned() else {
            panic!("{started:?}")
        };
        w.handle(Event::Applied {
            ticket,
            target: "node1".into(),
            result: Ok(true),
        });
        assert!(w.handle(Event::Cancel).is_empty());
        assert_eq!(w.step, Step::Done);
        assert_eq!(
            states(&w),
            vec![("node1".into(), "failed"), ("node2".into(), "skipped")]
        );
        assert!(matches!(
            w.states.get("node1"),
            Some(TargetState::Failed(e)) if e.starts_with("verify: stopped following")
        ));
        w.handle(Event::Verified {
            ticket,
            target: "node1".into(),
            result: Ok(()),
        });
        assert_eq!(states(&w)[0], ("node1".into(), "failed"));
    }

    /// A toy setting of the cluster as a whole: one target, one value, read
    /// with the facts, which a 409 brings back changed.
    struct Setting;

    impl Change for Setting {
        type Draft = String;
        type Facts = String;
        type Work = String;

        fn action(&self) -> &'static str {
            "test.setting"
        }
        fn validate(&self, _: &String, _: &String) -> Vec<Problem> {
            Vec::new()
        }
        fn plan(
            &self,
            draft: &String,
            now: &String,
            targets: &[String],
        ) -> Result<Vec<Planned<String>>, String> {
            if draft == now {
                return Ok(Vec::new());
            }
            Ok(targets
                .iter()
                .map(|t| Planned {
                    target: t.clone(),
                    preview: vec![format!("value: {now} -> {draft}")],
                    work: draft.clone(),
                })
                .collect())
        }
        fn audit_values(
            &self,
            draft: &String,
            now: &String,
        ) -> Option<(serde_json::Value, serde_json::Value)> {
            Some((now.as_str().into(), draft.as_str().into()))
        }
        fn changed(&self, before: &String, now: &String) -> Vec<String> {
            vec![format!("value: {before} -> {now}")]
        }
    }

    /// A setting walk at its apply, the value read as `a` and `b` typed.
    fn setting_applying() -> (Walk<Setting>, u64) {
        let (mut w, _) = Walk::new(
            Setting,
            vec!["cluster".into()],
            "b".into(),
            ApplyOptions::default(),
            "s1".into(),
        );
        w.handle(Event::Loaded("a".into()));
        w.handle(Event::Next);
        let dry = w.handle(Event::Next);
        let Action::DryRun { ticket, .. } = dry[0] else {
            panic!("{dry:?}")
        };
        w.handle(Event::DryRunDone {
            ticket,
            target: "cluster".into(),
            result: Ok(()),
        });
        assert_eq!(w.step, Step::Confirm);
        let a = w.handle(Event::Next);
        let Action::Apply { ticket, .. } = a[0] else {
            panic!("{a:?}")
        };
        (w, ticket)
    }

    fn audits<W: std::fmt::Debug>(actions: &[Action<W>]) -> Vec<&AuditLine> {
        actions
            .iter()
            .filter_map(|a| match a {
                Action::Audit(l) => Some(l),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn a_conflict_rereads_goes_back_to_the_preview_and_says_what_changed() {
        let (mut w, ticket) = setting_applying();
        let a = w.handle(Event::Conflict {
            ticket,
            target: "cluster".into(),
            now: "c".into(),
        });
        let lines = audits(&a);
        assert_eq!(lines.len(), 1, "{a:?}");
        assert_eq!(
            (lines[0].step, lines[0].result, lines[0].target.as_deref()),
            ("apply", Outcome::Denied, Some("cluster"))
        );
        // The line records what was there when the change was sent, masked by the flow.
        assert_eq!(lines[0].old, Some("a".into()));
        assert_eq!(lines[0].new, Some("b".into()));
        assert_eq!(w.step, Step::Preview);
        assert_eq!(w.conflict, vec!["value: a -> c".to_string()]);
        assert!(w.notice.as_deref().unwrap().contains("changed meanwhile"));
        assert_eq!(w.plan[0].preview, vec!["value: c -> b".to_string()]);
        assert_eq!(w.draft, "b", "the operator's value is kept");
        // The answer of the request that conflicted is stale now.
        assert!(
            w.handle(Event::Applied {
                ticket,
                target: "cluster".into(),
                result: Ok(true),
            })
            .is_empty()
        );
        assert_eq!(w.step, Step::Preview);
        // Asked again: a new dry run, and the note goes.
        let a = w.handle(Event::Next);
        assert!(matches!(&a[0], Action::DryRun { ticket: t, .. } if *t > ticket));
        assert!(w.conflict.is_empty());
    }

    #[test]
    fn a_conflict_that_made_the_same_change_leaves_nothing_to_do() {
        let (mut w, ticket) = setting_applying();
        w.handle(Event::Conflict {
            ticket,
            target: "cluster".into(),
            now: "b".into(),
        });
        assert_eq!(w.step, Step::Edit);
        assert!(w.notice.as_deref().unwrap().contains("nothing to change"));
        assert!(!matches!(
            w.states.get("cluster"),
            Some(TargetState::Applying)
        ));
    }

    #[test]
    fn progress_is_shown_while_verifying_and_goes_with_the_answer() {
        let (mut w, ticket) = setting_applying();
        w.handle(Event::Progress {
            ticket,
            target: "cluster".into(),
            text: "too early".into(),
        });
        assert!(w.progress.is_empty(), "not verifying yet");
        w.handle(Event::Applied {
            ticket,
            target: "cluster".into(),
            result: Ok(true),
        });
        w.handle(Event::Progress {
            ticket,
            target: "cluster".into(),
            text: "configured=False: restarting rke2 on node2".into(),
        });
        w.handle(Event::Progress {
            ticket: ticket - 1,
            target: "cluster".into(),
            text: "stale".into(),
        });
        assert_eq!(
            w.progress.get("cluster").map(String::as_str),
            Some("configured=False: restarting rke2 on node2")
        );
        let a = w.handle(Event::Verified {
            ticket,
            target: "cluster".into(),
            result: Ok(()),
        });
        assert!(w.progress.is_empty());
        assert_eq!(audits(&a)[0].step, "verify");
        assert_eq!(w.step, Step::Done);
    }

    /// The driver turns a conflict the I/O reports into the walk's event,
    /// and a verification's progress reaches the walk while it waits.
    #[tokio::test]
    async fn drive_reports_conflicts_and_progress() {
        struct Io {
            seen_progress: RefCell<Vec<String>>,
        }
        impl ChangeIo<Setting> for Io {
            async fn load(&self) -> Result<String, String> {
                Ok("a".into())
            }
            async fn dry_run(&self, _: &str, _: &String) -> Result<(), String> {
                Ok(())
            }
            async fn apply(&self, _: &str, _: &String) -> Result<bool, String> {
                Ok(true)
            }
            async fn try_apply(&self, _: &str, _: &String) -> Result<bool, Refusal<String>> {
                Err(Refusal::Conflict("c".into()))
            }
            async fn verify(&self, _: &str, _: &String) -> Result<(), String> {
                Ok(())
            }
            fn audit(&self, _: &AuditLine) {}
        }
        let io = Io {
            seen_progress: RefCell::new(Vec::new()),
        };
        let (mut w, a) = Walk::new(
            Setting,
            vec!["cluster".into()],
            "b".into(),
            ApplyOptions::default(),
            "d".into(),
        );
        drive(&mut w, &io, a, |_| {}).await;
        for _ in 0..3 {
            let a = w.handle(Event::Next);
            drive(&mut w, &io, a, |_| {}).await;
        }
        assert_eq!(w.step, Step::Preview);
        assert_eq!(w.conflict, vec!["value: a -> c".to_string()]);

        struct Slow;
        impl ChangeIo<Setting> for Slow {
            async fn load(&self) -> Result<String, String> {
                Ok("a".into())
            }
            async fn dry_run(&self, _: &str, _: &String) -> Result<(), String> {
                Ok(())
            }
            async fn apply(&self, _: &str, _: &String) -> Result<bool, String> {
                Ok(true)
            }
            async fn verify(&self, _: &str, _: &String) -> Result<(), String> {
                Ok(())
            }
            async fn verify_with_progress(
                &self,
                _: &str,
                _: &String,
                progress: &dyn Fn(String),
            ) -> Result<(), String> {
                progress("rolling out".into());
                tokio::task::yield_now().await;
                Ok(())
            }
            fn audit(&self, _: &AuditLine) {}
        }
        let (mut w, a) = Walk::new(
            Setting,
            vec!["cluster".into()],
            "b".into(),
            ApplyOptions::default(),
            "e".into(),
        );
        drive(&mut w, &Slow, a, |_| {}).await;
        for _ in 0..3 {
            let a = w.handle(Event::Next);
            drive(&mut w, &Slow, a, |w| {
                if let Some(p) = w.progress.get("cluster") {
                    io.seen_progress.borrow_mut().push(p.clone());
                }
            })
            .await;
        }
        assert_eq!(w.step, Step::Done);
        assert_eq!(*io.seen_progress.borrow(), vec!["rolling out".to_string()]);
    }

    #[test]
    fn a_webhook_denial_goes_back_to_the_form_with_its_words() {
        let (mut w, ticket) = setting_applying();
        let words = "admission webhook \"validator.harvester-system.harvester-webhook\" denied the request: no";
        let a = w.handle(Event::Denied {
            ticket,
            target: "cluster".into(),
            words: words.into(),
        });
        let lines = audits(&a);
        assert_eq!(
            (lines[0].step, lines[0].result, lines[0].detail.as_str()),
            ("apply", Outcome::Denied, words)
        );
        assert_eq!(w.step, Step::Edit);
        assert_eq!(w.notice.as_deref(), Some(words));
        assert_eq!(w.draft, "b");
        assert!(matches!(
            w.states.get("cluster"),
            Some(TargetState::Skipped(_))
        ));
        assert!(
            w.handle(Event::Applied {
                ticket,
                target: "cluster".into(),
                result: Ok(true),
            })
            .is_empty(),
            "the refused request's answer is stale"
        );
    }
}
