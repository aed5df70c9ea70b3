//! Driving an engine walk from the command line, for every flow's command:
//! load, refuse what does not validate or plan, print the preview per node,
//! the dry run, the confirmation (on a terminal, or `--yes`; without either
//! the change is refused), what changed meanwhile when a conflict sends the
//! walk back (asked again on a terminal; refused with `--yes`), per-node
//! states and progress as they happen, the per-node summary, and the exit code (README: 0 applied and verified, 1 applied but
//! not verified in time, 2 refused or denied, 3 the cluster or a node could
//! not be reached).

use std::collections::BTreeMap;
use std::io::{BufRead, IsTerminal, Write};

use crate::audit::{self, Outcome};
use crate::flows::engine::{
    ApplyOptions, AuditLine, Change, ChangeIo, Event, Problem, TargetState, Walk,
};
use crate::flows::{Severity, Step};
use crate::logs::sanitize_str;

/// How the command was asked to run.
#[derive(Debug, Clone, Copy, Default)]
pub struct WalkFlags {
    pub dry_run: bool,
    pub yes: bool,
    pub parallel: usize,
    pub keep_going: bool,
}

/// Exit codes (README).
pub const VERIFIED: i32 = 0;
pub const NOT_VERIFIED: i32 = 1;
pub const REFUSED: i32 = 2;
pub const UNREACHABLE: i32 = 3;

/// A failure text that means "refused or denied" rather than "not reached".
/// Flows' I/O starts such texts with `refused` or `denied`.
pub fn is_refusal(text: &str) -> bool {
    let t = text.trim_start();
    t.starts_with("refused")
        || t.starts_with("denied")
        || t.contains(": refused")
        || t.contains(": denied")
}

/// Writes an engine audit line to the audit log.
pub fn write_audit(state_dir: &std::path::Path, cluster: &str, line: &AuditLine) {
    // One line per node and step: `node` and `step` say which (README's audit table).
    let e = audit::Entry::from_walk(cluster, line);
    if let Err(err) = audit::append(state_dir, &e) {
        tracing::error!("writing the audit log: {err}");
    }
}

/// Without `--yes` (or `--dry-run`) and without a terminal on stdin nobody
/// can confirm: the refusal is audited and the operator told what to do.
/// True when the change must stop here.
pub fn refused_without_confirmation<C: Change, I: ChangeIo<C>>(
    io: &I,
    action: &'static str,
    who: &str,
    correlation_id: &str,
    flags: WalkFlags,
) -> bool {
    if flags.dry_run || flags.yes || std::io::stdin().is_terminal() {
        return false;
    }
    io.audit(&AuditLine {
        action,
        correlation_id: correlation_id.to_string(),
        target: None,
        step: "confirm",
        result: Outcome::Refused,
        detail: "no confirmation: stdin is not a terminal and --yes was not given".into(),
        old: None,
        new: None,
    });
    eprintln!(
        "{who}: stdin is not a terminal, so there is no one to confirm: add --yes (after a --dry-run) to apply without asking"
    );
    true
}

/// A yes/no question on the terminal; anything but yes is no.
pub fn ask_yes(question: &str) -> bool {
    eprint!("{question} [y/N] ");
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    if std::io::stdin().lock().read_line(&mut line).is_err() {
        return false;
    }
    matches!(line.trim(), "y" | "Y" | "yes")
}

/// One problem as a line (`  error    noProxy         message`), escaped.
pub fn problem_line(p: &Problem) -> String {
    let sev = match p.severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
    };
    format!("  {sev:<8} {:<15} {}", p.field, sanitize_str(&p.message))
}

fn print_problems<C: Change>(w: &Walk<C>) {
    for p in &w.problems {
        eprintln!("{}", problem_line(p));
    }
}

fn print_preview<C: Change>(w: &Walk<C>) {
    println!("Preview ({}):", w.change.action());
    for p in &w.plan {
        println!("  {}:", sanitize_str(&p.target));
        for l in &p.preview {
            println!("    {}", sanitize_str(l));
        }
    }
    if let Some(f) = &w.facts {
        let c = w.change.consequences(f);
        if !c.is_empty() {
            println!("What it does:");
            for l in c {
                println!("  - {}", sanitize_str(&l));
            }
        }
    }
}

fn state_text(s: &TargetState) -> String {
    match s {
        TargetState::Failed(e) | TargetState::Skipped(e) => {
            format!("{}: {}", s.label(), sanitize_str(e))
        }
        _ => s.label().to_string(),
    }
}

/// The exit code of a finished apply.
pub fn exit_code_of(states: &BTreeMap<String, TargetState>) -> i32 {
    let mut code = VERIFIED;
    for s in states.values() {
        let c = match s {
            TargetState::Verified { .. } => VERIFIED,
            TargetState::Failed(e) if e.starts_with("verify:") => NOT_VERIFIED,
            // Changed in part (the flow says so): applied, not verified.
            TargetState::Failed(e)
                if e.trim_start_matches("apply: ")
                    .starts_with(crate::flows::engine::PARTLY_APPLIED) =>
            {
                NOT_VERIFIED
            }
            TargetState::Failed(e) if is_refusal(e.trim_start_matches("apply:")) => REFUSED,
            TargetState::Failed(_) => UNREACHABLE,
            TargetState::Skipped(_) => REFUSED,
            _ => NOT_VERIFIED,
        };
        code = code.max(c);
    }
    code
}

/// Runs a walk of `change` over `targets` to its end; the exit code.
pub fn run<C, I>(
    rt: &tokio::runtime::Runtime,
    change: C,
    io: &I,
    targets: Vec<String>,
    draft: C::Draft,
    flags: WalkFlags,
) -> i32
where
    C: Change,
    I: ChangeIo<C>,
{
    run_as(
        rt,
        change,
        io,
        targets,
        draft,
        flags,
        audit::correlation_id(),
    )
}

/// [`run`] under a correlation id the I/O already uses for its own audit
/// lines (a change whose apply has steps of its own).
pub fn run_as<C, I>(
    rt: &tokio::runtime::Runtime,
    change: C,
    io: &I,
    targets: Vec<String>,
    draft: C::Draft,
    flags: WalkFlags,
    correlation_id: String,
) -> i32
where
    C: Change,
    I: ChangeIo<C>,
{
    let name = change.action();
    let options = ApplyOptions {
        parallel: flags.parallel.max(1),
        keep_going: flags.keep_going,
        dry_run_only: flags.dry_run,
    };
    let (mut w, a) = Walk::new(change, targets, draft, options, correlation_id);
    rt.block_on(crate::flows::engine::drive(&mut w, io, a, |_| {}));
    if let Some(Err(e)) = &w.result {
        eprintln!("harvcred {name}: {}", sanitize_str(e));
        return if is_refusal(e) { REFUSED } else { UNREACHABLE };
    }
    let a = w.handle(Event::Next);
    rt.block_on(crate::flows::engine::drive(&mut w, io, a, |_| {}));
    if w.step == Step::Edit {
        if let Some(n) = &w.notice {
            if n.starts_with("nothing to change") {
                println!("{}", sanitize_str(n));
                return VERIFIED;
            }
            print_problems(&w);
            eprintln!("harvcred {name}: {}", sanitize_str(n));
        } else {
            eprintln!("Refused before sending anything:");
            print_problems(&w);
            eprintln!("harvcred {name}: refused, nothing written");
        }
        return REFUSED;
    }
    if !w.problems.is_empty() {
        eprintln!("Warnings (not blocking):");
        print_problems(&w);
    }
    // From the preview to the end; a conflict sends the walk back here.
    loop {
        match w.step {
            Step::Preview => {}
            Step::Done => break,
            // Back at the form: the cluster refused the value, or what
            // changed meanwhile no longer lets it pass.
            Step::Edit => {
                let why = w.notice.as_deref().unwrap_or("");
                if w.conflicted() {
                    print_conflict(&w);
                    print_problems(&w);
                } else {
                    eprintln!("The cluster refused the change: {}", sanitize_str(why));
                }
                return REFUSED;
            }
            other => {
                eprintln!("harvcred {name}: the walk stopped at {}", other.label());
                return UNREACHABLE;
            }
        }
        if w.conflicted() {
            print_conflict(&w);
            if flags.yes {
                eprintln!(
                    "not retrying on its own with --yes: look at the change and run the command again"
                );
                return REFUSED;
            }
        }
        print_preview(&w);
        if refused_without_confirmation(
            io,
            name,
            &format!("harvcred {name}"),
            &w.correlation_id,
            flags,
        ) {
            return REFUSED;
        }
        let a = w.handle(Event::Next);
        rt.block_on(crate::flows::engine::drive(&mut w, io, a, |_| {}));
        match w.step {
            Step::Done => {
                println!(
                    "{}",
                    w.result
                        .as_ref()
                        .and_then(|r| r.as_ref().ok())
                        .map_or("", |s| s)
                );
                return VERIFIED;
            }
            Step::Confirm => {}
            Step::Preview if !w.conflicted() => {
                let why = w.notice.as_deref().unwrap_or("the dry run failed");
                eprintln!("harvcred {name}: {}", sanitize_str(why));
                // A dry run the cluster denied is a refusal; one that could not
                // reach a node or the API is not.
                let failures = why.trim_start_matches("the dry run failed: ");
                return if failures.split("; ").all(is_refusal) {
                    REFUSED
                } else {
                    UNREACHABLE
                };
            }
            // A conflict or the cluster's refusal: said at the top.
            _ => continue,
        }
        println!("dry run passed");
        if !flags.yes && !ask_yes("Apply this change?") {
            io.audit(&AuditLine {
                action: name,
                correlation_id: w.correlation_id.clone(),
                target: None,
                step: "confirm",
                result: Outcome::Refused,
                detail: "not confirmed".into(),
                old: None,
                new: None,
            });
            eprintln!("not applied: nothing was changed");
            return REFUSED;
        }
        let a = w.handle(Event::Next);
        let mut shown: BTreeMap<String, String> = BTreeMap::new();
        let mut heard: BTreeMap<String, String> = BTreeMap::new();
        rt.block_on(crate::flows::engine::drive(&mut w, io, a, |w| {
            for (t, s) in &w.states {
                let text = state_text(s);
                if shown.get(t) != Some(&text) && *s != TargetState::Pending {
                    println!("{}: {text}", sanitize_str(t));
                    shown.insert(t.clone(), text);
                }
            }
            // What a target says while it is verified (a rollout, a condition).
            for (t, p) in &w.progress {
                if heard.get(t) != Some(p) {
                    println!("  {}: {}", sanitize_str(t), sanitize_str(p));
                    heard.insert(t.clone(), p.clone());
                }
            }
        }));
    }
    println!("Summary:");
    for (t, s) in &w.states {
        println!("  {:<12} {}", sanitize_str(t), state_text(s));
    }
    match &w.result {
        Some(Ok(s)) => println!("{}", sanitize_str(s)),
        Some(Err(s)) => eprintln!("{}", sanitize_str(s)),
        None => {}
    }
    exit_code_of(&w.states)
}

/// What changed since the walk read it (the values masked by the flow).
fn print_conflict<C: Change>(w: &Walk<C>) {
    eprintln!(
        "{}",
        sanitize_str(w.notice.as_deref().unwrap_or("changed meanwhile"))
    );
    if w.conflict.is_empty() {
        eprintln!("  (nothing the change shows: only its metadata or status)");
    }
    for l in &w.conflict {
        eprintln!("  {}", sanitize_str(l));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_follow_the_worst_node() {
        let mut s = BTreeMap::new();
        s.insert("a".to_string(), TargetState::Verified { changed: true });
        assert_eq!(exit_code_of(&s), 0);
        s.insert(
            "b".into(),
            TargetState::Failed("verify: not Ready within 600 s".into()),
        );
        assert_eq!(exit_code_of(&s), 1);
        s.insert(
            "p".into(),
            TargetState::Failed(format!(
                "apply: {}runtime changed, persisting FAILED",
                crate::flows::engine::PARTLY_APPLIED
            )),
        );
        assert_eq!(
            exit_code_of(&s),
            1,
            "a node changed in part is applied, not verified"
        );
        s.insert(
            "c".into(),
            TargetState::Failed("apply: denied: expiringInHours".into()),
        );
        assert_eq!(exit_code_of(&s), 2);
        s.insert(
            "d".into(),
            TargetState::Failed("apply: ssh: connection refused".into()),
        );
        assert_eq!(exit_code_of(&s), 3);
    }

    /// A cluster-wide value: one target; the I/O answers the apply (or the
    /// dry run) with what `refuse` says.
    struct Value;

    impl Change for Value {
        type Draft = String;
        type Facts = String;
        type Work = String;
        fn action(&self) -> &'static str {
            "test.value"
        }
        fn validate(&self, _: &String, _: &String) -> Vec<Problem> {
            Vec::new()
        }
        fn plan(
            &self,
            draft: &String,
            now: &String,
            targets: &[String],
        ) -> Result<Vec<crate::flows::engine::Planned<String>>, String> {
            if draft == now {
                return Ok(Vec::new());
            }
            Ok(targets
                .iter()
                .map(|t| crate::flows::engine::Planned {
                    target: t.clone(),
                    preview: vec![format!("{now} -> {draft}")],
                    work: draft.clone(),
                })
                .collect())
        }
        fn changed(&self, before: &String, now: &String) -> Vec<String> {
            vec![format!("value: {before} -> {now}")]
        }
    }

    enum Answer {
        Conflict,
        Denied,
    }

    struct Io {
        at_dry_run: bool,
        answer: Answer,
        applied: std::cell::Cell<u32>,
    }

    impl Io {
        fn refusal(&self) -> crate::flows::engine::Refusal<String> {
            use crate::flows::engine::Refusal;
            match self.answer {
                Answer::Conflict => Refusal::Conflict("c".into()),
                Answer::Denied => {
                    Refusal::Denied("admission webhook denied the request: no".into())
                }
            }
        }
    }

    impl ChangeIo<Value> for Io {
        async fn load(&self) -> Result<String, String> {
            Ok("a".into())
        }
        async fn dry_run(&self, _: &str, _: &String) -> Result<(), String> {
            Ok(())
        }
        async fn try_dry_run(
            &self,
            _: &str,
            _: &String,
        ) -> Result<(), crate::flows::engine::Refusal<String>> {
            if self.at_dry_run {
                return Err(self.refusal());
            }
            Ok(())
        }
        async fn apply(&self, _: &str, _: &String) -> Result<bool, String> {
            Ok(true)
        }
        async fn try_apply(
            &self,
            _: &str,
            _: &String,
        ) -> Result<bool, crate::flows::engine::Refusal<String>> {
            self.applied.set(self.applied.get() + 1);
            Err(self.refusal())
        }
        async fn verify(&self, _: &str, _: &String) -> Result<(), String> {
            Ok(())
        }
        fn audit(&self, _: &AuditLine) {}
    }

    /// With `--yes` nobody looks at what changed meanwhile: a conflict at the
    /// dry run or the apply stops the command (exit 2) instead of going on;
    /// the cluster's denial is a refusal too, not "unreachable".
    #[test]
    fn a_conflict_with_yes_and_a_denial_exit_2_without_applying_again() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let flags = WalkFlags {
            yes: true,
            ..Default::default()
        };
        for (at_dry_run, answer, applies) in [
            (true, Answer::Conflict, 0),
            (false, Answer::Conflict, 1),
            (true, Answer::Denied, 0),
            (false, Answer::Denied, 1),
        ] {
            let io = Io {
                at_dry_run,
                answer,
                applied: std::cell::Cell::new(0),
            };
            let code = run(&rt, Value, &io, vec!["cluster".into()], "b".into(), flags);
            assert_eq!(code, REFUSED, "at dry run: {at_dry_run}");
            assert_eq!(io.applied.get(), applies, "at dry run: {at_dry_run}");
        }
    }
}
