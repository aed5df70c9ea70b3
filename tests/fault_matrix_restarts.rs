//! The fault matrix for the flows that restart a service on a node (issue
//! 19). `certs fix-kcm` (on `kcm-cert-expired`) at backup (before the
//! expired certificates are copied aside and removed, the static pods
//! restarted) and verify: the certificates are the old or the new ones,
//! never missing, the old ones kept in one backup folder however often the
//! fix is run, and a run after the finished fix changes nothing (`0
//! changed, 1 already so`). `token fix` (on `token-mismatch`: node3 cannot
//! join until fixed),
//! stopped at each of its steps (write, backup, rename, restart, verify:
//! fault points, `src/faults.rs`), hit there by each fault
//! (`tests/common/faults.rs`), then checked the way an operator would: the
//! node is back, every file is the old or the new version byte for byte,
//! the key and the password still log in, the audit log says what
//! happened, and the same command again finishes the fix without doing
//! anything twice: it restarts rancherd only when the rancherd running then
//! still loops on the old token, and a run after the finished fix restarts
//! nothing.
//!
//! `HARVCRED_MATRIX=full` runs every cell of [`table`] and [`kcm_table`];
//! by default [`ci_subset`] and [`kcm_ci_subset`]. One lab per test
//! function, both at once; each lab's one node takes its cells one after
//! the other, broken again between them (token: its files as at the start,
//! RKE2 stopped and its bootstrap data removed; kcm: the expired
//! certificates moved back). Each cell is one line of
//! `target/tmp/reliability/matrix-fault_matrix_restarts.jsonl`.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::{Duration, Instant};

use common::faults::{Fault, Paused, REBOOT_WITHIN, node_dir_names, node_files, wait_for};
use common::matrix::{self, Spec, audit_lines, has, run_cells, steps_by_faults};
use common::{Home, Lab, text};

const REPORT: &str = "fault_matrix_restarts";
const FLOW: &str = "token fix";
/// The node of `token-mismatch` that cannot join (the last one).
const NODE: &str = "node3";

/// `write` is its first file written (rancherd's config), `backup` and
/// `rename` are inside the safe write of its first `/oem` file, `restart`
/// right before `systemctl restart rancherd`.
const STEPS: [&str; 5] = ["write", "backup", "rename", "restart", "verify"];

fn table() -> Vec<Spec> {
    steps_by_faults(&STEPS)
}

/// The CI subset: the restart step (killed there: files written, rancherd
/// still on the old token; rebooted there: it joins at boot), and a fault
/// inside an `/oem` write. The other faults are in the nodes' subset.
fn ci_subset() -> Vec<Spec> {
    use Fault::*;
    [
        ("restart", Sigkill),
        ("restart", Reboot),
        ("rename", OemFull),
    ]
    .into_iter()
    .map(|(step, fault)| Spec { step, fault })
    .collect()
}

/// The files the fix writes. rancherd's config is compared by its token
/// only: yip renders it again from `/oem` at every boot.
const FILES: [&str; 4] = [
    "/etc/rancher/rancherd/config.yaml",
    "/oem/*.yaml",
    "/oem/*.yml",
    "/oem/harvester.config",
];

fn comparable(path: &str, bytes: &[u8]) -> Vec<u8> {
    if path == "/etc/rancher/rancherd/config.yaml" {
        let text = String::from_utf8_lossy(bytes);
        let token = text
            .lines()
            .find_map(|l| l.strip_prefix("token:"))
            .unwrap_or("")
            .trim()
            .trim_matches('"');
        return token.as_bytes().to_vec();
    }
    bytes.to_vec()
}

fn snapshot(lab: &Lab) -> BTreeMap<String, Vec<u8>> {
    node_files(lab, NODE, &FILES)
        .into_iter()
        .map(|(p, b)| {
            let c = comparable(&p, &b);
            (p, c)
        })
        .collect()
}

fn backups(lab: &Lab) -> usize {
    node_dir_names(lab, NODE, Path::new("/oem/install")).len()
}

/// systemd's id of the running rancherd: a new one is a restart.
fn rancherd_run(lab: &Lab) -> String {
    lab.ssh_ok(NODE, "systemctl show -p InvocationID --value rancherd")
        .trim()
        .to_string()
}

/// What the running rancherd says once it has got that far: `true` it
/// bootstrapped, `false` it loops on the 502 `cacerts` failure.
fn rancherd_bootstrapped(lab: &Lab) -> bool {
    let mut said = None;
    wait_for(
        "rancherd to bootstrap or fail on cacerts",
        REBOOT_WITHIN,
        || {
            let out = lab.ssh(
                NODE,
                "i=$(systemctl show -p InvocationID --value rancherd); [ -n \"$i\" ] && sudo journalctl -u rancherd _SYSTEMD_INVOCATION_ID=$i -o cat --no-pager",
            );
            let log = String::from_utf8_lossy(&out.stdout);
            if log.contains("Successfully Bootstrapped") {
                said = Some(true);
            } else if log.contains("getting cacerts") {
                said = Some(false);
            }
            said.is_some()
        },
    );
    said.unwrap()
}

fn node_ready(lab: &Lab) -> String {
    lab.node_ready(NODE)
}

/// The node's files as `lab up` made them (a tar, read as root over SSH).
fn files_at_start(lab: &Lab) -> Vec<u8> {
    let out = lab.ssh(
        NODE,
        "sudo tar cf - /etc/rancher/rancherd/config.yaml /etc/rancher/rke2/config.yaml.d /oem/90_custom.yaml /oem/99_settings.yaml /oem/harvester.config 2>/dev/null",
    );
    assert!(!out.stdout.is_empty(), "{}", text(&out));
    out.stdout
}

/// Back to a node that cannot join, as `lab up` made it: RKE2 stopped and
/// not enabled, no bootstrap data or RKE2 token, no backups, its files as
/// at the start (the wrong token), rancherd restarted and looping, the Node
/// NotReady.
fn unjoin(lab: &Lab, start: &[u8]) {
    let out = common::output_with_stdin(
        std::process::Command::new("ssh")
            .arg("-F")
            .arg(lab.ssh_config())
            .arg(NODE)
            .arg(
                "sudo sh -c 'systemctl disable --now rke2-server 2>/dev/null; cd /var/lib/rancher/rke2/server && rm -rf db token agent-token node-token; rm -f /etc/rancher/rke2/config.yaml.d/* /oem/install/*; tar xf - -C /; systemctl restart rancherd'",
            ),
        start,
    );
    assert!(out.status.success(), "unjoin: {}", text(&out));
    wait_for("the Node NotReady again", REBOOT_WITHIN, || {
        node_ready(lab) != "True"
    });
    assert!(!rancherd_bootstrapped(lab), "rancherd still joins");
}

const ARGS: [&str; 5] = ["token", "fix", "--node", NODE, "--yes"];
const RUN_ENDS_WITHIN: Duration = Duration::from_secs(420);
const PAUSE_WITHIN: Duration = Duration::from_secs(120);
const LATE_WRITES_WITHIN: Duration = Duration::from_secs(30);

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
    let before = snapshot(lab);
    let backups_before = backups(lab);
    let mark = home.audit().lines().count();

    // 1. The fix, stopped at the step, and the fault.
    let mut paused = Paused::start(home.cmd(lab, &ARGS), spec.step, NODE, b"");
    let point = paused.wait_paused(PAUSE_WITHIN)?;
    let killed = spec.fault == Fault::Sigkill;
    match spec.fault {
        Fault::LinkCut => lab.cut_link(NODE),
        Fault::SshdKilled => lab.kill_sshd(NODE),
        Fault::Reboot => lab.reboot(&[NODE]),
        Fault::OemFull => lab.fill_oem(NODE),
        Fault::Sigkill => {
            paused.kill();
        }
    }
    let first_exit = if killed {
        restore(lab, spec.fault);
        None
    } else {
        paused.resume();
        let st = paused.wait_end(RUN_ENDS_WITHIN);
        restore(lab, spec.fault);
        Some(st?)
    };
    let first_out = paused.output();

    // 2. The node is back; the operator logs in with the key and password.
    wait_for(&format!("{NODE} answering SSH"), REBOOT_WITHIN, || {
        lab.ssh(NODE, "true").status.success()
    });
    lab.let_late_writes_land(NODE, LATE_WRITES_WITHIN);
    if !lab.pam_accepts(NODE, password) {
        return Err("the password is no longer accepted after the fault".into());
    }
    let mid = snapshot(lab);
    let joined_mid = rancherd_bootstrapped(lab);
    let run_mid = rancherd_run(lab);

    // 3. The audit log says what happened.
    let first = audit_lines(home, mark, NODE);
    let verified = has(&first, Some("verify"), "verified");
    let code = first_exit.and_then(|s| s.code());
    if verified != (code == Some(0)) {
        return Err(format!(
            "audit says verified={verified} but the run exited {code:?}: {first_out}"
        ));
    }
    if !killed && code != Some(0) && !has(&first, None, "failed") {
        return Err(format!(
            "the run failed (exit {code:?}) and the audit log has no failed line: {first_out}"
        ));
    }

    // 4. The same command again finishes the fix: it restarts rancherd
    // only when the running one still loops on the old token.
    let mark_rerun = home.audit().lines().count();
    let rerun = home.run(lab, &ARGS);
    let rerun_out = text(&rerun);
    if !rerun.status.success() {
        return Err(format!(
            "the second run did not finish the fix: {rerun_out}"
        ));
    }
    if !has(
        &audit_lines(home, mark_rerun, NODE),
        Some("verify"),
        "verified",
    ) {
        return Err("the second run's audit lines have no verified line".into());
    }
    let run_after = rancherd_run(lab);
    let restarted = run_after != run_mid;
    if joined_mid && restarted {
        return Err(format!(
            "rancherd had bootstrapped, yet the second run restarted it: {rerun_out}"
        ));
    }
    if !joined_mid && !restarted {
        return Err(format!(
            "rancherd still looped on the old token and the second run did not restart it: {rerun_out}"
        ));
    }
    let already = rerun_out.contains("0 changed, 1 already so");
    if joined_mid != already {
        return Err(format!(
            "joined before the second run: {joined_mid}, and it says: {rerun_out}"
        ));
    }
    if node_ready(lab) != "True" {
        return Err("the second run verified, yet the Node is not Ready".into());
    }
    let after = snapshot(lab);
    let backups_after = backups(lab);

    // 5. Every file is the old or the new version, byte for byte; a backup
    // only once per /oem file changed.
    let paths: BTreeSet<&String> = before
        .keys()
        .chain(mid.keys())
        .chain(after.keys())
        .collect();
    let mut changed_oem = 0;
    for p in &paths {
        let (b, m, a) = (before.get(*p), mid.get(*p), after.get(*p));
        if m != b && m != a {
            return Err(format!(
                "{p} after the fault is neither the old nor the new version"
            ));
        }
        if a != b && p.starts_with("/oem/") {
            changed_oem += 1;
        }
    }
    let config = "/etc/rancher/rancherd/config.yaml";
    if before.get(config) == after.get(config) || changed_oem == 0 {
        return Err(
            "the old token is still in rancherd's config or /oem after the second run".into(),
        );
    }
    if backups_after < backups_before || backups_after - backups_before > changed_oem {
        return Err(format!(
            "backups taken twice: {backups_before} before, {backups_after} after, {changed_oem} /oem file(s) changed"
        ));
    }

    // 6. A run after the finished fix does nothing but check.
    let third = home.run(lab, &ARGS);
    let third_out = text(&third);
    if !third.status.success() || !third_out.contains("0 changed, 1 already so") {
        return Err(format!("a run after the finished fix: {third_out}"));
    }
    if rancherd_run(lab) != run_after {
        return Err("a run after the finished fix restarted rancherd".into());
    }
    if !lab.key_and_password_log_in(NODE, password) {
        return Err("the key or the password no longer logs in".into());
    }
    Ok(matrix::rerun_summary(
        &point,
        code,
        if joined_mid {
            "joined"
        } else {
            "rancherd still looping"
        },
        &rerun_out,
    ))
}

#[test]
fn token_fix_survives_every_fault_at_every_step() {
    let started = Instant::now();
    let cells = if matrix::full_run() {
        table()
    } else {
        ci_subset()
    };
    declare_tables();
    let lab = Lab::up(&["--nodes", "3", "--scenario", "token-mismatch"]);
    let password = lab.rancher_password();
    let home = Home::new("hcmatrixr");
    assert!(!rancherd_bootstrapped(&lab), "{NODE} joins before any fix");
    let start = files_at_start(&lab);

    let failed = run_cells(
        REPORT,
        FLOW,
        NODE,
        &cells,
        || unjoin(&lab, &start),
        |spec| run_cell(&lab, &home, spec, &password),
    );
    eprintln!(
        "fault matrix (restarts): {} cells in {:.0} s, {} failed",
        cells.len(),
        started.elapsed().as_secs_f64(),
        failed.len()
    );
    assert!(failed.is_empty(), "failed cells:\n{}", failed.join("\n"));
}

/// Both test functions' cells, in one table file.
fn declare_tables() {
    let mut declared: Vec<(&str, &str, &str)> = table()
        .iter()
        .map(|s| (FLOW, s.step, s.fault.name()))
        .collect();
    declared.extend(
        kcm_table()
            .iter()
            .map(|s| (KCM_FLOW, s.step, s.fault.name())),
    );
    matrix::declare(REPORT, &declared);
}

// certs fix-kcm

const KCM_FLOW: &str = "certs fix-kcm";
const KCM_NODE: &str = "node1";
/// `--timeout 120`: a verify that cannot reach the node gives up within
/// the cell's time (the default follows the cluster for 900 s).
const KCM_ARGS: [&str; 7] = [
    "certs",
    "fix-kcm",
    "--node",
    KCM_NODE,
    "--yes",
    "--timeout",
    "120",
];
/// The certificate and key of kube-controller-manager and kube-scheduler.
const KCM_FILES: [&str; 1] = ["/var/lib/rancher/rke2/server/tls/kube-*/kube-*"];
const SERVER_DIR: &str = "/var/lib/rancher/rke2/server";

/// `backup` is before moving the certificates aside (the fix's write and
/// restart are that move and the container's removal, in one command).
fn kcm_table() -> Vec<Spec> {
    steps_by_faults(&["backup", "verify"])
}

/// The CI subset: each step; sshd killed at backup (once took the backup
/// twice), a reboot at verify (reconnects); with [`ci_subset`] every fault.
fn kcm_ci_subset() -> Vec<Spec> {
    use Fault::*;
    [
        ("backup", LinkCut),
        ("backup", SshdKilled),
        ("verify", Reboot),
        ("verify", Sigkill),
    ]
    .into_iter()
    .map(|(step, fault)| Spec { step, fault })
    .collect()
}

/// The `tls-harvcred-*` folders the fix keeps the old certificates in.
fn kcm_backups(lab: &Lab) -> usize {
    node_dir_names(lab, KCM_NODE, Path::new(SERVER_DIR))
        .iter()
        .filter(|n| n.starts_with("tls-harvcred-"))
        .count()
}

/// Both certificates valid for another day.
fn kcm_fresh(lab: &Lab) -> bool {
    lab.ssh(
        KCM_NODE,
        &format!("for c in kube-controller-manager kube-scheduler; do sudo openssl x509 -checkend 86400 -noout -in {SERVER_DIR}/tls/$c/$c.crt || exit 1; done"),
    )
    .status
    .success()
}

/// Back to the expired certificates: the fix's backup moved back.
fn unfix_kcm(lab: &Lab) {
    lab.ssh_ok(
        KCM_NODE,
        &format!("sudo sh -c 'cd {SERVER_DIR} && for c in kube-controller-manager kube-scheduler; do rm -rf tls/$c; mv tls-harvcred-*/$c tls/; done; rmdir tls-harvcred-*'"),
    );
    assert!(!kcm_fresh(lab), "the certificates are still fresh");
}

fn kcm_cell(lab: &Lab, home: &Home, spec: &Spec, password: &str) -> Result<String, String> {
    let before = node_files(lab, KCM_NODE, &KCM_FILES);
    if before.len() != 4 {
        return Err(format!("expected 4 files, found {:?}", before.keys()));
    }
    let mark = home.audit().lines().count();
    let mut paused = Paused::start(home.cmd(lab, &KCM_ARGS), spec.step, KCM_NODE, b"");
    let point = paused.wait_paused(PAUSE_WITHIN)?;
    let killed = spec.fault == Fault::Sigkill;
    match spec.fault {
        Fault::LinkCut => lab.cut_link(KCM_NODE),
        Fault::SshdKilled => lab.kill_sshd(KCM_NODE),
        Fault::Reboot => lab.reboot(&[KCM_NODE]),
        Fault::OemFull => lab.fill_oem(KCM_NODE),
        Fault::Sigkill => {
            paused.kill();
        }
    }
    let first_exit = if killed {
        None
    } else {
        paused.resume();
        Some(paused.wait_end(RUN_ENDS_WITHIN))
    };
    match spec.fault {
        Fault::LinkCut => lab.restore_link(KCM_NODE),
        Fault::SshdKilled => lab.reboot(&[KCM_NODE]),
        Fault::OemFull => lab.unfill_oem(KCM_NODE),
        Fault::Reboot | Fault::Sigkill => {}
    }
    let first_exit = first_exit.transpose()?;
    let first_out = paused.output();
    wait_for(&format!("{KCM_NODE} answering SSH"), REBOOT_WITHIN, || {
        lab.ssh(KCM_NODE, "true").status.success()
    });
    if !lab.pam_accepts(KCM_NODE, password) {
        return Err("the password is no longer accepted after the fault".into());
    }
    let mid = node_files(lab, KCM_NODE, &KCM_FILES);
    let fixed_mid = kcm_fresh(lab);
    let backups_mid = kcm_backups(lab);

    let first = audit_lines(home, mark, KCM_NODE);
    let code = first_exit.and_then(|s| s.code());
    if has(&first, Some("verify"), "verified") != (code == Some(0)) {
        return Err(format!(
            "the audit's verify line and the exit {code:?} disagree: {first_out}"
        ));
    }
    if !killed && code != Some(0) && !has(&first, None, "failed") {
        return Err(format!(
            "the run failed (exit {code:?}) with no failed line: {first_out}"
        ));
    }
    // The node is back before the verify gives up: it reads it again on a
    // new connection (`/oem` is not the fix's business).
    let back_in_time =
        (spec.step == "verify" && spec.fault == Fault::Reboot) || spec.fault == Fault::OemFull;
    if back_in_time && code != Some(0) {
        return Err(format!(
            "the node was back, yet the first run exited {code:?}: {first_out}"
        ));
    }

    // The same command again: the fix when it was not done, nothing when it was.
    let mark_rerun = home.audit().lines().count();
    let rerun = home.run(lab, &KCM_ARGS);
    let rerun_out = text(&rerun);
    if !rerun.status.success()
        || !has(
            &audit_lines(home, mark_rerun, KCM_NODE),
            Some("verify"),
            "verified",
        )
    {
        return Err(format!(
            "the second run did not finish the fix: {rerun_out}"
        ));
    }
    if fixed_mid != rerun_out.contains("0 changed, 1 already so") {
        return Err(format!(
            "fixed before the second run: {fixed_mid}, and it says: {rerun_out}"
        ));
    }
    let after = node_files(lab, KCM_NODE, &KCM_FILES);
    if !kcm_fresh(lab) || after.len() != 4 {
        return Err(format!("not fixed after the second run: {rerun_out}"));
    }
    for (p, b) in &before {
        let (m, a) = (mid.get(p), after.get(p));
        if m != Some(b) && m != a {
            return Err(format!(
                "{p} after the fault is neither the old nor the new version"
            ));
        }
        if a == Some(b) {
            return Err(format!("{p} is still the expired one"));
        }
    }
    if fixed_mid && after != mid {
        return Err("the second run replaced certificates the first had fixed".into());
    }
    let backups_after = kcm_backups(lab);
    if backups_after != 1 || backups_mid > 1 {
        return Err(format!("old certificates kept {backups_after} times"));
    }

    // A run after the finished fix does nothing but check.
    let third = home.run(lab, &KCM_ARGS);
    let third_out = text(&third);
    if !third.status.success() || !third_out.contains("0 changed, 1 already so") {
        return Err(format!("a run after the finished fix: {third_out}"));
    }
    if node_files(lab, KCM_NODE, &KCM_FILES) != after || kcm_backups(lab) != 1 {
        return Err(format!(
            "a run after the finished fix replaced or kept certificates again: {third_out}"
        ));
    }
    if !lab.key_and_password_log_in(KCM_NODE, password) {
        return Err("the key or the password no longer logs in".into());
    }
    Ok(matrix::rerun_summary(
        &point,
        code,
        if fixed_mid { "fixed" } else { "still expired" },
        &rerun_out,
    ))
}

#[test]
fn certs_fix_kcm_survives_every_fault_at_every_step() {
    let started = Instant::now();
    let cells = if matrix::full_run() {
        kcm_table()
    } else {
        kcm_ci_subset()
    };
    declare_tables();
    let lab = Lab::up(&["--nodes", "1", "--scenario", "kcm-cert-expired"]);
    let password = lab.rancher_password();
    let home = Home::new("hcmatrixk");
    assert!(
        !kcm_fresh(&lab),
        "the certificates are fresh before any fix"
    );
    let failed = run_cells(
        REPORT,
        KCM_FLOW,
        KCM_NODE,
        &cells,
        || unfix_kcm(&lab),
        |spec| kcm_cell(&lab, &home, spec, &password),
    );
    eprintln!(
        "fault matrix (fix-kcm): {} cells in {:.0} s, {} failed",
        cells.len(),
        started.elapsed().as_secs_f64(),
        failed.len()
    );
    assert!(failed.is_empty(), "failed cells:\n{}", failed.join("\n"));
}

#[test]
fn the_kcm_ci_subset_has_each_step_and_with_the_token_subset_each_fault() {
    let kcm = kcm_ci_subset();
    assert!(kcm.iter().all(|s| kcm_table().contains(s)));
    for step in ["backup", "verify"] {
        assert!(kcm.iter().any(|s| s.step == step), "{step}");
    }
    let faults: BTreeSet<Fault> = kcm.iter().chain(&ci_subset()).map(|s| s.fault).collect();
    assert_eq!(faults, BTreeSet::from(Fault::ALL));
}

#[test]
fn the_ci_subset_has_the_restart_step() {
    let subset = ci_subset();
    let table = table();
    assert!(subset.iter().any(|s| s.step == "restart"));
    assert!(subset.iter().all(|s| table.contains(s)));
    assert_eq!(table.len(), 25);
    let kcm = kcm_ci_subset();
    assert!(!kcm.is_empty() && kcm.iter().all(|s| kcm_table().contains(s)));
    assert_eq!(kcm_table().len(), 10);
}
