//! The fault matrix, node side (issue 19): every change flow that touches
//! nodes, stopped at each of its steps (a fault point, `src/faults.rs`),
//! hit there by each fault (`tests/common/faults.rs`), then checked the way
//! an operator would: the node is back, every file is the old or the new
//! version byte for byte, the operator still logs in with a key and the
//! password, the audit log says what happened, and the same command again
//! finishes the change without doing anything twice.
//!
//! `HARVCRED_MATRIX=full` runs every cell of [`table`]; by default a subset
//! in which every flow, step and fault appears ([`ci_subset`]). One lab
//! (`no-cloudinit`: persisting means harvcred edits `/oem` itself, backups
//! and all); each node runs its cells one after the other, the nodes in
//! parallel. Each cell is one line of `target/tmp/reliability/matrix-fault_matrix_nodes.jsonl`.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::faults::{Fault, Paused, REBOOT_WITHIN, node_dir_names, node_files, wait_for};
use common::matrix::{self, Cell};
use common::{Home, Lab, fingerprint, keygen, text};

const REPORT: &str = "fault_matrix_nodes";

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Flow {
    PasswordSet,
    KeysAdd,
    KeysRemove,
}

impl Flow {
    const ALL: [Flow; 3] = [Flow::PasswordSet, Flow::KeysAdd, Flow::KeysRemove];

    fn name(self) -> &'static str {
        match self {
            Flow::PasswordSet => "password set",
            Flow::KeysAdd => "keys add",
            Flow::KeysRemove => "keys remove",
        }
    }

    /// The steps where the flow touches a node. `write` is its first write
    /// (password: the runtime `chpasswd`; keys: the first file), `backup`
    /// and `rename` are inside the safe write of its `/oem` file.
    fn steps(self) -> &'static [&'static str] {
        &["write", "backup", "rename", "verify"]
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Spec {
    flow: Flow,
    step: &'static str,
    fault: Fault,
}

/// Every cell: flow x step x fault (only the steps a flow has).
fn table() -> Vec<Spec> {
    let mut all = Vec::new();
    for flow in Flow::ALL {
        for &step in flow.steps() {
            for fault in Fault::ALL {
                all.push(Spec { flow, step, fault });
            }
        }
    }
    all
}

/// The CI subset: every flow, every fault and every step at least once.
fn ci_subset() -> Vec<Spec> {
    use Fault::*;
    use Flow::*;
    [
        (PasswordSet, "write", OemFull),
        (PasswordSet, "rename", Sigkill),
        (KeysAdd, "backup", LinkCut),
        (KeysAdd, "verify", Reboot),
        (KeysRemove, "rename", SshdKilled),
        (KeysRemove, "write", LinkCut),
    ]
    .into_iter()
    .map(|(flow, step, fault)| Spec { flow, step, fault })
    .collect()
}

/// What a node is known to hold between cells.
struct NodeState {
    password: String,
}

/// Files a flow may touch (globs expand on the node). `/etc/shadow` is
/// compared by rancher's hash only: yip rebuilds the file at every boot.
const FILES: [&str; 5] = [
    "/etc/shadow",
    "/home/rancher/.ssh/authorized_keys",
    "/oem/*.yaml",
    "/oem/*.yml",
    "/oem/harvester.config",
];

fn comparable(path: &str, bytes: &[u8]) -> Vec<u8> {
    if path == "/etc/shadow" {
        let text = String::from_utf8_lossy(bytes);
        let hash = text
            .lines()
            .find_map(|l| l.strip_prefix("rancher:"))
            .and_then(|rest| rest.split(':').next())
            .unwrap_or("");
        return hash.as_bytes().to_vec();
    }
    bytes.to_vec()
}

fn snapshot(lab: &Lab, node: &str) -> BTreeMap<String, Vec<u8>> {
    node_files(lab, node, &FILES)
        .into_iter()
        .map(|(p, b)| {
            let c = comparable(&p, &b);
            (p, c)
        })
        .collect()
}

fn backups(lab: &Lab, node: &str) -> usize {
    node_dir_names(lab, node, Path::new("/oem/install")).len()
}

/// The command of one cell, and what it is to achieve.
struct Run {
    args: Vec<String>,
    stdin: Vec<u8>,
    /// password set: the new password.
    password: Option<String>,
    /// keys: the key file added or removed.
    key: Option<PathBuf>,
}

/// Audit lines (parsed) after line `mark` of the log.
fn audit_since(home: &Home, mark: usize) -> Vec<serde_json::Value> {
    home.audit()
        .lines()
        .skip(mark)
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

fn audit_len(home: &Home) -> usize {
    home.audit().lines().count()
}

fn node_lines<'a>(lines: &'a [serde_json::Value], node: &str) -> Vec<&'a serde_json::Value> {
    lines.iter().filter(|l| l["node"] == node).collect()
}

fn has(lines: &[&serde_json::Value], step: Option<&str>, result: &str) -> bool {
    lines
        .iter()
        .any(|l| l["result"] == result && step.is_none_or(|s| l["step"] == s))
}

/// Prepare the command of `spec` on `node` (keys remove: the key it removes
/// is added first, without a fault).
fn prepare(lab: &Lab, home: &Home, node: &str, spec: &Spec, keys: &Path) -> Result<Run, String> {
    let tag = format!(
        "{}-{}-{}-{node}",
        spec.flow.name().replace(' ', "-"),
        spec.step,
        spec.fault.name()
    );
    let node_arg = node.to_string();
    Ok(match spec.flow {
        Flow::PasswordSet => {
            let pw = format!("Fault-{tag}-9x");
            Run {
                args: ["password", "set", "--node", &node_arg, "--yes"]
                    .map(String::from)
                    .to_vec(),
                stdin: format!("{pw}\n").into_bytes(),
                password: Some(pw),
                key: None,
            }
        }
        Flow::KeysAdd => {
            let key = keygen(keys, &tag);
            let pubf = key.with_extension("pub");
            Run {
                args: vec![
                    "keys".into(),
                    "add".into(),
                    "--node".into(),
                    node_arg,
                    "--key-file".into(),
                    pubf.to_string_lossy().into_owned(),
                    "--yes".into(),
                ],
                stdin: Vec::new(),
                password: None,
                key: Some(key),
            }
        }
        Flow::KeysRemove => {
            let key = keygen(keys, &tag);
            let pubf = key.with_extension("pub");
            let pubs = pubf.to_string_lossy().into_owned();
            let out = home.run(
                lab,
                &["keys", "add", "--node", node, "--key-file", &pubs, "--yes"],
            );
            if !out.status.success() || !lab.accepts_key(node, &key) {
                return Err(format!(
                    "setup: the key to remove was not added: {}",
                    text(&out)
                ));
            }
            Run {
                args: vec![
                    "keys".into(),
                    "remove".into(),
                    "--fingerprint".into(),
                    fingerprint(&pubf),
                    "--node".into(),
                    node_arg,
                    "--yes".into(),
                ],
                stdin: Vec::new(),
                password: None,
                key: Some(key),
            }
        }
    })
}

/// How long a faulted run may take to give up (a cut link: the SSH
/// timeouts; a reboot: the node's return).
const RUN_ENDS_WITHIN: Duration = Duration::from_secs(240);
const PAUSE_WITHIN: Duration = Duration::from_secs(120);
/// A resume buffered on a cut link arrives within a few retransmissions.
const LATE_WRITES_WITHIN: Duration = Duration::from_secs(30);

/// One cell on `node`: Ok(what was seen) or Err(the invariant that broke).
fn run_cell(
    lab: &Lab,
    home: &Home,
    node: &str,
    spec: &Spec,
    state: &mut NodeState,
    keys: &Path,
) -> Result<String, String> {
    let run = prepare(lab, home, node, spec, keys)?;
    let args: Vec<&str> = run.args.iter().map(String::as_str).collect();
    let before = snapshot(lab, node);
    let backups_before = backups(lab, node);
    let mark = audit_len(home);

    // 1. The run, stopped at the step, and the fault.
    let mut paused = Paused::start(home.cmd(lab, &args), spec.step, node, &run.stdin);
    let point = paused.wait_paused(PAUSE_WITHIN)?;
    let mut killed = false;
    match spec.fault {
        Fault::LinkCut => lab.cut_link(node),
        Fault::SshdKilled => lab.kill_sshd(node),
        Fault::Reboot => lab.reboot(&[node]),
        Fault::OemFull => lab.fill_oem(node),
        Fault::Sigkill => {
            paused.kill();
            killed = true;
        }
    }
    let first_exit = if killed {
        None
    } else {
        paused.resume();
        let st = paused.wait_end(RUN_ENDS_WITHIN);
        // Restored whatever happened, so later cells find the node whole.
        restore(lab, node, spec.fault);
        Some(st?)
    };
    if killed {
        restore(lab, node, spec.fault);
    }
    let first_out = paused.output();

    // 2. The node is back and the operator can log in.
    wait_for(&format!("{node} answering SSH"), REBOOT_WITHIN, || {
        lab.ssh(node, "true").status.success()
    });
    lab.let_late_writes_land(node, LATE_WRITES_WITHIN);
    let mid = snapshot(lab, node);
    let backups_mid = backups(lab, node);
    let old_pw_ok = lab.pam_accepts(node, &state.password);
    let new_pw_ok = run
        .password
        .as_ref()
        .is_some_and(|p| lab.pam_accepts(node, p));
    if !old_pw_ok && !new_pw_ok {
        return Err("neither the old nor the new password is accepted after the fault".into());
    }

    // 3. The audit log says what happened.
    let first_lines = audit_since(home, mark);
    let mine = node_lines(&first_lines, node);
    let verified = has(&mine, Some("verify"), "verified");
    let code = first_exit.and_then(|s| s.code());
    if verified != (code == Some(0)) {
        return Err(format!(
            "audit says verified={verified} but the run exited {code:?}: {first_out}"
        ));
    }
    if !killed && code != Some(0) && !has(&mine, None, "failed") {
        return Err(format!(
            "the run failed (exit {code:?}) and the audit log has no failed line for {node}"
        ));
    }
    let mark_rerun = audit_len(home);

    // 4. The same command again finishes it, doing only what was left.
    let rerun = common::output_with_stdin(&mut home.cmd(lab, &args), &run.stdin);
    let rerun_out = text(&rerun);
    if !rerun.status.success() {
        return Err(format!(
            "the second run did not finish the change: {rerun_out}"
        ));
    }
    if let Some(pw) = &run.password {
        // Whatever else fails below, the node's password is this one now.
        state.password = pw.clone();
    }
    let rerun_lines = audit_since(home, mark_rerun);
    if !has(&node_lines(&rerun_lines, node), Some("verify"), "verified") {
        return Err("the second run's audit lines have no verified line".into());
    }
    let after = snapshot(lab, node);
    let backups_after = backups(lab, node);

    // 5. Every file is the old or the new version, byte for byte.
    let paths: BTreeSet<&String> = before
        .keys()
        .chain(mid.keys())
        .chain(after.keys())
        .collect();
    let mut changed = 0;
    let mut changed_oem = 0;
    let mut mid_done = true;
    for p in &paths {
        let (b, m, a) = (before.get(*p), mid.get(*p), after.get(*p));
        if m != b && m != a {
            return Err(format!(
                "{p} after the fault is neither the old nor the new version"
            ));
        }
        if a != b {
            changed += 1;
            if p.starts_with("/oem/") {
                changed_oem += 1;
            }
            if m != a {
                mid_done = false;
            }
        }
    }
    if changed == 0 {
        return Err("nothing changed, even after the second run".into());
    }
    // The audit claims no apply that did not happen.
    if has(&mine, Some("apply"), "applied") && !mid_done {
        return Err("the audit says applied, but the node holds the old version".into());
    }
    // Nothing done twice: a second backup only for a file not yet changed.
    if backups_after - backups_before > changed_oem || backups_mid > backups_after {
        return Err(format!(
            "backups taken twice: {backups_before} before, {backups_after} after, {changed_oem} /oem file(s) changed"
        ));
    }
    let already = rerun_out.contains("0 changed, 1 already so");
    if mid_done && !already {
        return Err(format!(
            "the first run had finished, yet the second changed again: {rerun_out}"
        ));
    }
    if !mid_done && already {
        return Err("the second run says already so, but the change was not complete".into());
    }

    // 6. The operator's logins afterwards.
    if !lab.ssh(node, "true").status.success() {
        return Err("the operator's key no longer logs in".into());
    }
    match spec.flow {
        Flow::PasswordSet => {
            let pw = run.password.clone().expect("password run");
            if !lab.pam_accepts(node, &pw) {
                return Err("the new password is not accepted after the second run".into());
            }
        }
        Flow::KeysAdd | Flow::KeysRemove => {
            if !lab.pam_accepts(node, &state.password) {
                return Err("the password no longer works".into());
            }
            let key = run.key.as_ref().expect("key run");
            let works = lab.accepts_key(node, key);
            if works != (spec.flow == Flow::KeysAdd) {
                return Err(format!("the {} key logs in: {works}", spec.flow.name()));
            }
        }
    }
    Ok(format!(
        "paused at {point}; first run exit {}; {} file(s) changed, {} already done before the second run; second run: {}",
        code.map_or("killed".to_string(), |c| c.to_string()),
        changed,
        if mid_done { "all" } else { "not all" },
        rerun_out
            .lines()
            .find(|l| l.contains("changed,"))
            .unwrap_or("")
            .trim()
    ))
}

/// What the operator does after the fault.
fn restore(lab: &Lab, node: &str, fault: Fault) {
    match fault {
        Fault::LinkCut => lab.restore_link(node),
        // From the node's console: sshd does not come back otherwise.
        Fault::SshdKilled => lab.reboot(&[node]),
        Fault::OemFull => lab.unfill_oem(node),
        Fault::Reboot | Fault::Sigkill => {}
    }
}

#[test]
fn node_flows_survive_every_fault_at_every_step() {
    let started = Instant::now();
    let cells = if matrix::full_run() {
        table()
    } else {
        ci_subset()
    };
    let declared: Vec<(&str, &str, &str)> = table()
        .iter()
        .map(|s| (s.flow.name(), s.step, s.fault.name()))
        .collect();
    matrix::declare(REPORT, &declared);
    let lab = Lab::up(&["--nodes", "3", "--scenario", "no-cloudinit"]);
    let nodes: Vec<String> = (1..=3).map(|i| format!("node{i}")).collect();
    let initial = std::fs::read_to_string(lab.dir.join("rancher-password"))
        .unwrap()
        .trim()
        .to_string();
    // The nodes' /oem is its own small filesystem, as on Harvester.
    for n in &nodes {
        let st = nix::sys::statvfs::statvfs(&lab.oem_dir(n)).unwrap();
        let size = st.blocks() * st.fragment_size();
        assert!(
            size <= 64 << 20,
            "{n}'s /oem is {size} bytes, not a small partition"
        );
    }
    let keys = tempfile::tempdir().unwrap();
    let home = Home::new("hcmatrix");

    // Cells spread over the nodes; each node's run one after the other.
    let mut per_node: Vec<Vec<Spec>> = vec![Vec::new(); nodes.len()];
    for (i, c) in cells.iter().enumerate() {
        per_node[i % nodes.len()].push(*c);
    }
    let results: Vec<(Spec, String, Result<String, String>)> = std::thread::scope(|s| {
        let handles: Vec<_> = nodes
            .iter()
            .zip(per_node)
            .map(|(node, specs)| {
                let (lab, home, keys, initial) = (&lab, &home, keys.path(), initial.clone());
                s.spawn(move || {
                    let mut state = NodeState { password: initial };
                    let mut out = Vec::new();
                    for spec in specs {
                        let t = Instant::now();
                        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                            run_cell(lab, home, node, &spec, &mut state, keys)
                        }))
                        .unwrap_or_else(|p| {
                            Err(p
                                .downcast_ref::<String>()
                                .cloned()
                                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                                .unwrap_or_else(|| "panicked".into()))
                        });
                        let r = r.map(|d| format!("{d} ({:.0} s)", t.elapsed().as_secs_f64()));
                        matrix::record(
                            REPORT,
                            &Cell {
                                flow: spec.flow.name().into(),
                                step: spec.step.into(),
                                fault: spec.fault.name().into(),
                                passed: r.is_ok(),
                                detail: format!("{node}: {}", r.as_ref().unwrap_or_else(|e| e)),
                            },
                        );
                        out.push((spec, node.clone(), r));
                    }
                    out
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });

    let failed: Vec<String> = results
        .iter()
        .filter_map(|(s, n, r)| {
            r.as_ref().err().map(|e| {
                format!(
                    "{} x {} x {} on {n}: {e}",
                    s.flow.name(),
                    s.step,
                    s.fault.name()
                )
            })
        })
        .collect();
    eprintln!(
        "fault matrix (nodes): {} cells in {:.0} s, {} failed",
        results.len(),
        started.elapsed().as_secs_f64(),
        failed.len()
    );
    assert!(failed.is_empty(), "failed cells:\n{}", failed.join("\n"));
    // A cell silently skipped fails the run.
    assert_eq!(results.len(), cells.len(), "cells run vs the table");
}

#[test]
fn the_ci_subset_covers_every_flow_step_and_fault() {
    let subset = ci_subset();
    let table = table();
    for flow in Flow::ALL {
        assert!(subset.iter().any(|s| s.flow == flow), "{flow:?}");
        for step in flow.steps() {
            assert!(subset.iter().any(|s| s.step == *step), "{step}");
        }
    }
    for fault in Fault::ALL {
        assert!(subset.iter().any(|s| s.fault == fault), "{fault:?}");
    }
    assert!(subset.iter().all(|s| table.contains(s)));
    assert_eq!(table.len(), 60);
}
