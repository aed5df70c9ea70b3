//! The fault matrix of `certs rotate --node` (action `certs.rotate-node`,
//! issue 19): the rotation by hand on a node, stopped at `restart` (on the
//! node, inside the rotation's own transient unit, right after `systemctl
//! stop rke2-server`: rke2 is down there) and at `verify` (the rotation
//! done, following the unit and the Node), hit there by each fault
//! (`tests/common/faults.rs`), then checked the way an operator would: the
//! node answers again, rke2-server is active and the Node Ready in the end,
//! every server certificate is the old or the new one and none is missing
//! (the agent's are signed anew at every start of rke2: present), the key
//! and the password still log in, the audit log says what happened, and the
//! same command again finishes without rotating twice: exactly one new
//! `tls-<time>` backup of rke2's across both runs, and a third run says
//! `already so` and rotates nothing.
//!
//! On a real node nothing waits at the `restart` point: the rotation goes
//! on by itself. So after the fault the test lets the node's side go on
//! (from the host, without SSH), as it would have; a reboot ends it there.
//!
//! `HARVCRED_MATRIX=full` runs every cell of [`table`], by default
//! [`ci_subset`]. One 1-node lab, cell after cell; between cells the last
//! rotation is made to look an hour old (its `tls-<time>` folder renamed),
//! as if that much time had passed, so the next cell's run rotates again.
//! Each cell is one line of
//! `target/tmp/reliability/matrix-fault_matrix_rotate.jsonl`.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use common::faults::{Fault, Paused, REBOOT_WITHIN, node_dir_names, node_files, wait_for};
use common::matrix::{self, Spec, audit_lines, has, run_cells, steps_by_faults};
use common::{Home, Lab, text};

const REPORT: &str = "fault_matrix_rotate";
const FLOW: &str = "certs rotate-node";
const NODE: &str = "node1";
const STEPS: [&str; 2] = ["restart", "verify"];

/// `--timeout 120`: a run that cannot reach the node gives up within the
/// cell's time (the default follows the node for 900 s).
const ARGS: [&str; 7] = [
    "certs",
    "rotate",
    "--node",
    NODE,
    "--yes",
    "--timeout",
    "120",
];
const RUN_ENDS_WITHIN: Duration = Duration::from_secs(420);
const PAUSE_WITHIN: Duration = Duration::from_secs(120);

fn table() -> Vec<Spec> {
    steps_by_faults(&STEPS)
}

/// The CI subset: harvcred killed while rke2 is stopped on the node (the
/// rotation must go on and start it; the rerun follows it up), the node
/// rebooted there (nothing rotated; the rerun rotates), and both while
/// following. The cut link and the killed sshd take the `--timeout` each
/// (about 135 s a cell): in the full run only.
fn ci_subset() -> Vec<Spec> {
    use Fault::*;
    [
        ("restart", Sigkill),
        ("restart", Reboot),
        ("verify", Sigkill),
        ("verify", Reboot),
    ]
    .into_iter()
    .map(|(step, fault)| Spec { step, fault })
    .collect()
}

/// Where the certificates a rotation renews are, with their CAs' files.
const CERTS: [&str; 3] = [
    "/var/lib/rancher/rke2/server/tls/*.crt",
    "/var/lib/rancher/rke2/server/tls/*/*.crt",
    "/var/lib/rancher/rke2/agent/*.crt",
];

/// The leaf certificates (the CAs', `*ca.crt` and `*ca.nochain.crt`, are
/// not rotated) by path.
fn certs(lab: &Lab) -> BTreeMap<String, Vec<u8>> {
    let mut files = node_files(lab, NODE, &CERTS);
    files.retain(|p, _| !p.rsplit('/').next().unwrap_or("").contains("ca."));
    files
}

const SERVER_DIR: &str = "/var/lib/rancher/rke2/server";

/// rke2's `tls-<unix time>` backups: one per `rke2 certificate rotate`.
fn rotations(lab: &Lab) -> usize {
    node_dir_names(lab, NODE, Path::new(SERVER_DIR))
        .iter()
        .filter(|n| {
            n.strip_prefix("tls-")
                .is_some_and(|t| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()))
        })
        .count()
}

/// The last rotation an hour and a second older, as if that time had passed.
fn age_rotations(lab: &Lab) {
    lab.ssh_ok(
        NODE,
        &format!(
            "sudo sh -c 'cd {SERVER_DIR} && now=$(date +%s) && for d in tls-[0-9]*; do n=${{d#tls-}}; if [ $((now - n)) -le 3600 ]; then mv \"$d\" \"tls-$((n - 3601))\"; fi; done'"
        ),
    );
}

fn rke2_active(lab: &Lab) -> bool {
    lab.ssh(NODE, "systemctl is-active --quiet rke2-server")
        .status
        .success()
}

/// The node's side of the rotation, as it goes on by itself on a real node:
/// a pause at its fault point let go (from the host, no SSH needed).
fn let_the_node_go_on(lab: &Lab) {
    lab.node_root(
        NODE,
        "for m in /run/harvcred-fault.*.paused; do [ -e \"$m\" ] && touch \"${m%.paused}.resume\"; done; true",
    );
}

fn rotation_running(lab: &Lab) -> bool {
    lab.ssh(
        NODE,
        "systemctl is-active --quiet harvcred-rotate-rke2-server",
    )
    .status
    .success()
}

fn inject(lab: &Lab, paused: &mut Paused, fault: Fault) {
    match fault {
        Fault::LinkCut => lab.cut_link(NODE),
        Fault::SshdKilled => lab.kill_sshd(NODE),
        Fault::Reboot => lab.reboot(&[NODE]),
        Fault::OemFull => lab.fill_oem(NODE),
        Fault::Sigkill => {
            paused.kill();
        }
    }
}

fn restore(lab: &Lab, fault: Fault) {
    match fault {
        Fault::LinkCut => lab.restore_link(NODE),
        Fault::SshdKilled => lab.reboot(&[NODE]),
        Fault::OemFull => lab.unfill_oem(NODE),
        Fault::Reboot | Fault::Sigkill => {}
    }
}

/// One cell: Ok(what was seen) or Err(the invariant that broke).
fn run_cell(lab: &Lab, home: &Home, spec: &Spec, password: &str) -> Result<String, String> {
    let before = certs(lab);
    let rotations_before = rotations(lab);
    if before.len() < 10 || !rke2_active(lab) {
        return Err(format!(
            "not the healthy node to start from: {} certificates, rke2-server active {}",
            before.len(),
            rke2_active(lab)
        ));
    }
    let mark = home.audit().lines().count();

    // 1. The rotation, stopped at the step, and the fault.
    let mut paused = Paused::start(home.cmd(lab, &ARGS), spec.step, NODE, b"");
    let point = paused.wait_paused(PAUSE_WITHIN)?;
    if spec.step == "restart"
        && lab
            .node_root(NODE, "systemctl is-active rke2-server || true")
            .trim()
            != "inactive"
    {
        return Err("paused at restart, yet rke2-server is not stopped on the node".into());
    }
    inject(lab, &mut paused, spec.fault);
    let killed = spec.fault == Fault::Sigkill;
    if !killed {
        paused.resume();
    }
    if spec.fault != Fault::Reboot {
        let_the_node_go_on(lab);
    }
    let first_exit = if killed {
        None
    } else {
        Some(paused.wait_end(RUN_ENDS_WITHIN))
    };
    restore(lab, spec.fault);
    let first_exit = first_exit.transpose()?;
    let first_out = paused.output();

    // 2. The node is back, its rotation (if any) ended; the operator logs in.
    wait_for(&format!("{NODE} answering SSH"), REBOOT_WITHIN, || {
        lab.ssh(NODE, "true").status.success()
    });
    wait_for("the node's rotation unit to end", REBOOT_WITHIN, || {
        !rotation_running(lab)
    });
    if !lab.pam_accepts(NODE, password) {
        return Err("the password is no longer accepted after the fault".into());
    }
    let mid = certs(lab);
    let rotations_mid = rotations(lab);

    // 3. The audit log says what happened.
    let first = audit_lines(home, mark, NODE);
    let code = first_exit.and_then(|s| s.code());
    if has(&first, Some("verify"), "verified") != (code == Some(0)) {
        return Err(format!(
            "the audit's verify line and the exit {code:?} disagree: {first_out}"
        ));
    }
    if !killed && code != Some(0) && !has(&first, None, "failed") {
        return Err(format!(
            "the run failed (exit {code:?}) and the audit log has no failed line: {first_out}"
        ));
    }
    if rotations_mid > rotations_before
        && !killed
        && code == Some(0)
        && !has(&first, Some("rotate"), "applied")
    {
        return Err(format!(
            "rotated, and the audit log has no rotate line: {first_out}"
        ));
    }

    // 4. The same command again finishes: it rotates only when the first
    // run's rotation never ran, else it says already so and follows up.
    let mark_rerun = home.audit().lines().count();
    let rerun = home.run(lab, &ARGS);
    let rerun_out = text(&rerun);
    let rerun_lines = audit_lines(home, mark_rerun, NODE);
    if !rerun.status.success() || !has(&rerun_lines, Some("verify"), "verified") {
        return Err(format!("the second run did not finish: {rerun_out}"));
    }
    let rotated_mid = rotations_mid > rotations_before;
    let already = rerun_out.contains("0 changed, 1 already so");
    if rotated_mid != already {
        return Err(format!(
            "rotated before the second run: {rotated_mid}, and it says: {rerun_out}"
        ));
    }
    if already
        && !rerun_lines.iter().any(|l| {
            l["step"] == "rotate"
                && l["detail"]
                    .as_str()
                    .is_some_and(|d| d.starts_with("already so"))
        })
    {
        return Err("the second run's audit lines do not say already so".into());
    }

    // 5. One rotation in all; every certificate the old or the new one.
    let after = certs(lab);
    let rotations_after = rotations(lab);
    if rotations_after != rotations_before + 1 {
        return Err(format!(
            "{} rotations (rke2's tls-<time> backups) across both runs, not one",
            rotations_after - rotations_before
        ));
    }
    if after.keys().ne(before.keys()) || mid.keys().ne(before.keys()) {
        return Err(format!(
            "certificates missing: {} before, {} after the fault, {} in the end",
            before.len(),
            mid.len(),
            after.len()
        ));
    }
    for (p, b) in &before {
        let (m, a) = (&mid[p], &after[p]);
        // The agent's are signed anew at every start of rke2 (it asks the
        // supervisor for them), a rotation or not: present is what holds.
        if p.starts_with(SERVER_DIR) && m != b && m != a {
            return Err(format!(
                "{p} after the fault is neither the old nor the new certificate"
            ));
        }
        if a == b {
            return Err(format!("{p} was not rotated"));
        }
    }
    if already && after != mid {
        return Err("the second run renewed certificates the first had rotated".into());
    }
    if !rke2_active(lab) || lab.node_ready(NODE) != "True" {
        return Err(
            "the second run verified, yet rke2-server is not active or the Node not Ready".into(),
        );
    }

    // 6. A run after the finished rotation rotates nothing.
    let third = home.run(lab, &ARGS);
    let third_out = text(&third);
    if !third.status.success() || !third_out.contains("0 changed, 1 already so") {
        return Err(format!("a run after the finished rotation: {third_out}"));
    }
    if rotations(lab) != rotations_after || certs(lab) != after {
        return Err("a run after the finished rotation rotated again".into());
    }
    if !lab.key_and_password_log_in(NODE, password) {
        return Err("the key or the password no longer logs in".into());
    }
    Ok(matrix::rerun_summary(
        &point,
        code,
        if rotated_mid {
            "rotated"
        } else {
            "not rotated"
        },
        &rerun_out,
    ))
}

#[test]
fn certs_rotate_node_survives_every_fault_at_every_step() {
    let started = Instant::now();
    let cells = if matrix::full_run() {
        table()
    } else {
        ci_subset()
    };
    let declared: Vec<(&str, &str, &str)> = table()
        .iter()
        .map(|s| (FLOW, s.step, s.fault.name()))
        .collect();
    matrix::declare(REPORT, &declared);
    let lab = Lab::up(&["--nodes", "1"]);
    let password = lab.rancher_password();
    let home = Home::new("hcmatrixrot");
    let failed = run_cells(
        REPORT,
        FLOW,
        NODE,
        &cells,
        || age_rotations(&lab),
        |spec| run_cell(&lab, &home, spec, &password),
    );
    if failed.is_empty() {
        again_rotates_a_second_time(&lab, &home);
    }
    eprintln!(
        "fault matrix (rotate-node): {} cells in {:.0} s, {} failed",
        cells.len(),
        started.elapsed().as_secs_f64(),
        failed.len()
    );
    assert!(failed.is_empty(), "failed cells:\n{}", failed.join("\n"));
}

/// Right after a finished rotation, `--again` is the way to a second one.
fn again_rotates_a_second_time(lab: &Lab, home: &Home) {
    let (before, rotations_before) = (certs(lab), rotations(lab));
    let plain = home.run(lab, &ARGS);
    assert!(
        text(&plain).contains("0 changed, 1 already so"),
        "{}",
        text(&plain)
    );
    let mut args = ARGS.to_vec();
    args.push("--again");
    let again = home.run(lab, &args);
    let out = text(&again);
    assert!(
        again.status.success() && out.contains("1 changed, 0 already so"),
        "{out}"
    );
    assert_eq!(rotations(lab), rotations_before + 1, "{out}");
    let after = certs(lab);
    assert!(before.iter().all(|(p, b)| after[p] != *b), "{out}");
}

#[test]
fn the_ci_subset_covers_both_steps() {
    let subset = ci_subset();
    let table = table();
    assert_eq!(table.len(), 10);
    assert!(subset.iter().all(|s| table.contains(s)));
    for step in STEPS {
        assert!(
            subset.iter().any(|s| s.step == step),
            "{step} not in the CI subset"
        );
    }
}
