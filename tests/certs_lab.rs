//! `harvcred certs auto-rotate / rotate / fix-kcm` on real lab nodes:
//! auto-rotation makes the lab's Harvester controller rotate, rotate now
//! renews every leaf on every node and follows the generation, a node
//! rotated by hand is the only one renewed, rotate now refuses (nothing
//! written) while a rotation is stuck or the planner waits for the probes
//! of expired controller-manager/scheduler certificates (naming the fix),
//! rotating a node by hand is refused while another server is NotReady,
//! and the controller-manager/scheduler fix is offered only for their
//! self-signed certificates.
//! Needs root (the lab); run with `scripts/dev test`.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use common::{BIN, Lab};

fn harvcred(lab: &Lab, state: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .arg("--lab")
        .arg(&lab.dir)
        .args(args)
        .env("XDG_STATE_HOME", state)
        .env("XDG_CONFIG_HOME", state)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "exit {:?}\n{}\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn wait_for(what: &str, mut check: impl FnMut() -> bool) {
    for _ in 0..900 {
        if check() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    panic!("timed out waiting for {what}");
}

/// `spec generation|status generation|Ready` of the RKEControlPlane.
fn control_plane(lab: &Lab) -> String {
    lab.kubectl_ok(&[
        "-n",
        "fleet-local",
        "get",
        "rkecontrolplanes.rke.cattle.io",
        "local",
        "-o",
        "jsonpath={.spec.rotateCertificates.generation}|{.status.certificateRotationGeneration}|{.status.conditions[?(@.type==\"Ready\")].status}",
    ])
    .trim()
    .to_string()
}

/// Every certificate file of a node with (serial, NotAfter epoch) as openssl
/// reads them on the node (first block of each file).
fn leaves(lab: &Lab, node: &str) -> BTreeMap<String, (String, i64)> {
    let out = lab.ssh_ok(
        node,
        "sudo sh -c 'for f in $(find /var/lib/rancher/rke2/server/tls /var/lib/rancher/rke2/agent -maxdepth 2 -name \"*.crt\" ! -name \"*-ca.*\" ! -path \"*/temporary-certs/*\" 2>/dev/null); do printf \"%s %s %s\\n\" $f $(openssl x509 -noout -serial -in $f | cut -d= -f2) $(date -d \"$(openssl x509 -noout -enddate -in $f | cut -d= -f2)\" +%s); done'",
    );
    out.lines()
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f[0].to_string(), (f[1].to_string(), f[2].parse().unwrap()))
        })
        .collect()
}

fn cas(lab: &Lab, node: &str) -> String {
    lab.ssh_ok(
        node,
        "for f in /var/lib/rancher/rke2/agent/server-ca.crt /var/lib/rancher/rke2/agent/client-ca.crt; do sudo openssl x509 -noout -fingerprint -sha256 -in $f; done",
    )
}

/// The RKEControlPlane's `Ready` message (what Rancher's planner waits on).
fn ready_message(lab: &Lab) -> String {
    lab.kubectl_ok(&[
        "-n",
        "fleet-local",
        "get",
        "rkecontrolplanes.rke.cattle.io",
        "local",
        "-o",
        "jsonpath={.status.conditions[?(@.type==\"Ready\")].message}",
    ])
}

/// The `Ready` condition's status of a Node.
fn node_ready(lab: &Lab, node: &str) -> String {
    lab.kubectl_ok(&[
        "get",
        "node",
        node,
        "-o",
        "jsonpath={.status.conditions[?(@.type==\"Ready\")].status}",
    ])
    .trim()
    .to_string()
}

/// When rke2-server last started on `node` (systemd's monotonic stamp).
fn unit_started(lab: &Lab, node: &str) -> String {
    lab.ssh_ok(
        node,
        "systemctl show -p ActiveEnterTimestampMonotonic --value rke2-server",
    )
}

const NODES: [&str; 3] = ["node1", "node2", "node3"];

/// `certs --json --all` agrees with openssl on every file of every node.
fn json_agrees_with_openssl(lab: &Lab, state: &Path) {
    let o = harvcred(lab, state, &["certs", "--json", "--all"]);
    let items: Vec<serde_json::Value> =
        serde_json::from_slice(&o.stdout).unwrap_or_else(|_| panic!("{}", text(&o)));
    for node in NODES {
        let disk = leaves(lab, node);
        for (file, (_, not_after)) in &disk {
            let item = items
                .iter()
                .find(|i| i["node"] == node && i["file"] == file.as_str() && i["block"] == 0)
                .unwrap_or_else(|| panic!("{node}: {file} missing from certs --json"));
            let t = time::OffsetDateTime::parse(
                item["not_after"].as_str().unwrap(),
                &time::format_description::well_known::Rfc3339,
            )
            .unwrap();
            assert_eq!(t.unix_timestamp(), *not_after, "{node}: {file}");
        }
    }
}

#[test]
fn auto_rotate_rotate_now_refusal_and_manual_rotation_on_the_certs_expiring_lab() {
    let lab = Lab::up(&["--nodes", "3", "--scenario", "certs-expiring"]);
    let state = tempfile::tempdir().unwrap();
    let st = state.path();

    // Auto-rotation: harvcred writes the setting; the controller fires (the
    // certificates expire well within 8759 hours).
    let o = harvcred(
        &lab,
        st,
        &[
            "certs",
            "auto-rotate",
            "--enable",
            "--expiring-in-hours",
            "8760",
            "--yes",
        ],
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("can't be large than 8759"),
        "{}",
        text(&o)
    );
    let o = harvcred(
        &lab,
        st,
        &[
            "certs",
            "auto-rotate",
            "--enable",
            "--expiring-in-hours",
            "8759",
        ],
    );
    assert_eq!(
        o.status.code(),
        Some(2),
        "no terminal, no --yes: {}",
        text(&o)
    );
    let o = harvcred(
        &lab,
        st,
        &[
            "certs",
            "auto-rotate",
            "--enable",
            "--expiring-in-hours",
            "8759",
            "--yes",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        text(&o).contains("harvester#9351"),
        "node3's expired: {}",
        text(&o)
    );

    // node3's expired certificates keep its agent at "secret received was
    // too old": the rotation is stuck, so rotate now must refuse.
    wait_for("the controller's rotation to stall on node3", || {
        control_plane(&lab).starts_with("1|0|False")
            && lab
                .ssh_ok(
                    "node3",
                    "sudo journalctl -u rancher-system-agent --no-pager",
                )
                .contains("secret received was too old")
    });
    let mark = lab.api_log_mark();
    let o = harvcred(&lab, st, &["certs", "rotate", "--cluster", "--yes"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let t = text(&o);
    assert!(t.contains("refused, nothing written"), "{t}");
    assert!(t.contains("not Ready"), "{t}");
    assert!(
        t.contains("`sudo systemctl restart rancher-system-agent` on node3"),
        "the stuck state is named with what to do: {t}"
    );
    assert!(
        t.contains("spec generation 1 differs from its status generation 0"),
        "{t}"
    );
    assert!(
        lab.api_writes_since(mark, "clusters.provisioning.cattle.io", "local")
            .is_empty(),
        "rotate now wrote while refusing"
    );
    let audit = std::fs::read_to_string(st.join("harvcred/audit.jsonl")).unwrap();
    assert!(
        audit.contains("\"action\":\"certs.rotate\"") && audit.contains("\"refused\""),
        "{audit}"
    );

    // The named fix for the stuck state; then the rotation finishes.
    lab.ssh_ok("node3", "sudo systemctl restart rancher-system-agent");
    wait_for("the rotation to finish", || {
        control_plane(&lab) == "1|1|True"
    });
    let o = harvcred(&lab, st, &["certs", "auto-rotate", "--disable", "--yes"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let o = harvcred(&lab, st, &["status"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    json_agrees_with_openssl(&lab, st);

    // A dry run of rotate now: the API validates, nothing is stored.
    let mark = lab.api_log_mark();
    let o = harvcred(&lab, st, &["certs", "rotate", "--cluster", "--dry-run"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let writes = lab.api_writes_since(mark, "clusters.provisioning.cattle.io", "local");
    assert!(
        !writes.is_empty() && writes.iter().all(|w| w["dryRun"] == true),
        "{writes:?}"
    );
    assert_eq!(control_plane(&lab), "1|1|True");

    // Rotate now: every leaf of every node renewed, CAs kept, generation followed.
    let ca = cas(&lab, "node1");
    let before: BTreeMap<&str, _> = NODES.iter().map(|n| (*n, leaves(&lab, n))).collect();
    let o = harvcred(&lab, st, &["certs", "rotate", "--cluster", "--yes"]);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(0), "{t}");
    for n in NODES {
        assert!(
            t.contains(&format!(
                "{n}: /var/lib/rancher/rke2/certificate_rotation/generation now 2"
            )),
            "{t}"
        );
        assert!(t.contains(&format!("  {n} | ")), "{n}'s log shown: {t}");
    }
    assert!(
        t.contains("RKEControlPlane: Ready True, status generation 2"),
        "{t}"
    );
    assert_eq!(control_plane(&lab), "2|2|True");
    let after: BTreeMap<&str, _> = NODES.iter().map(|n| (*n, leaves(&lab, n))).collect();
    for n in NODES {
        for (file, (serial, not_after)) in &before[n] {
            let (s, na) = &after[n][file];
            assert_ne!(s, serial, "{n}: {file} not renewed");
            assert!(na >= not_after, "{n}: {file}");
        }
        assert_eq!(cas(&lab, n), ca, "{n}: the CAs stay");
    }
    let tally = t
        .lines()
        .find(|l| l.ends_with("leaf certificates renewed"))
        .unwrap_or_else(|| panic!("{t}"));
    let f: Vec<&str> = tally.split_whitespace().collect();
    assert_eq!(f[0], f[2], "harvcred's sweep: every leaf renewed: {tally}");

    // By hand on node2 alone: only node2's leaves change.
    let before = after;
    let o = harvcred(&lab, st, &["certs", "rotate", "--node", "node2", "--yes"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("node2: rke2-server active and the Node Ready"));
    for n in NODES {
        let now = leaves(&lab, n);
        for (file, (serial, _)) in &before[n] {
            if n == "node2" {
                assert_ne!(&now[file].0, serial, "node2: {file} not renewed");
            } else {
                assert_eq!(&now[file].0, serial, "{n}: {file} was renewed");
            }
        }
    }

    // rke2-server stopped on node1: its kubelet posts no status, so the
    // Node goes NotReady as on a real cluster. Rotating node2 by hand must
    // then be refused, with node2 left running and nothing written.
    lab.ssh_ok("node1", "sudo systemctl stop rke2-server");
    wait_for("node1 NotReady in the API", || {
        node_ready(&lab, "node1") == "Unknown"
    });
    let started = unit_started(&lab, "node2");
    let node2_before = leaves(&lab, "node2");
    let mark = lab.api_log_mark();
    let o = harvcred(&lab, st, &["certs", "rotate", "--node", "node2", "--yes"]);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(2), "{t}");
    assert!(
        t.contains("refused") && t.contains("control-plane node node1 is not Ready"),
        "{t}"
    );
    assert_eq!(unit_started(&lab, "node2"), started, "node2 was stopped");
    assert_eq!(leaves(&lab, "node2"), node2_before, "node2 was rotated");
    let writes: Vec<_> = lab
        .api_requests()
        .into_iter()
        .skip(mark)
        .filter(|r| r["verb"] != "get" && r["verb"] != "list" && r["verb"] != "watch")
        .collect();
    assert!(writes.is_empty(), "written while refusing: {writes:?}");
    lab.ssh_ok("node1", "sudo systemctl start rke2-server");
    wait_for("node1 Ready again", || node_ready(&lab, "node1") == "True");

    // RKE2-issued controller-manager/scheduler certificates: no fix offered.
    let kcm =
        "/var/lib/rancher/rke2/server/tls/kube-controller-manager/kube-controller-manager.crt";
    let serial = lab.ssh_ok(
        "node1",
        &format!("sudo openssl x509 -noout -serial -in {kcm}"),
    );
    let o = harvcred(&lab, st, &["certs", "fix-kcm", "--node", "node1", "--yes"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("RKE2 renews itself"), "{}", text(&o));
    assert_eq!(
        lab.ssh_ok(
            "node1",
            &format!("sudo openssl x509 -noout -serial -in {kcm}")
        ),
        serial
    );
}

#[test]
fn fix_kcm_replaces_the_expired_self_signed_certificates() {
    let lab = Lab::up(&["--nodes", "1", "--scenario", "kcm-cert-expired"]);
    let state = tempfile::tempdir().unwrap();
    let tls = "/var/lib/rancher/rke2/server/tls";
    // A plan (here the RKE2 restart of a proxy change) leaves Rancher's
    // planner waiting for the probes the expired certificates fail
    // (harvester#3863): rotate now refuses and names the fix.
    let ip = &lab.node_ips()[0];
    lab.kubectl_ok(&[
        "patch",
        "settings.harvesterhci.io",
        "http-proxy",
        "--type",
        "merge",
        "-p",
        &format!(
            r#"{{"value":"{{\"httpProxy\":\"http://10.9.9.9:3128\",\"noProxy\":\"{ip}\"}}"}}"#
        ),
    ]);
    wait_for("the planner to wait for the probes", || {
        ready_message(&lab).contains("waiting for probes: kube-controller-manager, kube-scheduler")
    });
    let mark = lab.api_log_mark();
    let o = harvcred(
        &lab,
        state.path(),
        &["certs", "rotate", "--cluster", "--yes"],
    );
    let t = text(&o);
    assert_eq!(o.status.code(), Some(2), "{t}");
    assert!(t.contains("refused, nothing written"), "{t}");
    assert!(t.contains("waiting for probes"), "{t}");
    assert!(
        t.contains("run `harvcred certs fix-kcm --node node1`"),
        "the stuck state is named with its fix: {t}"
    );
    assert!(
        lab.api_writes_since(mark, "clusters.provisioning.cattle.io", "local")
            .is_empty(),
        "rotate now wrote while refusing"
    );
    let o = harvcred(
        &lab,
        state.path(),
        &["certs", "fix-kcm", "--node", "node1", "--dry-run"],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let o = harvcred(
        &lab,
        state.path(),
        &["certs", "fix-kcm", "--node", "node1", "--yes"],
    );
    let t = text(&o);
    assert_eq!(o.status.code(), Some(0), "{t}");
    for c in ["kube-controller-manager", "kube-scheduler"] {
        assert!(t.contains(&format!("node1: new {c} certificate")), "{t}");
        lab.ssh_ok(
            "node1",
            &format!("sudo openssl x509 -checkend 86400 -noout -in {tls}/{c}/{c}.crt"),
        );
        let backup = lab.ssh_ok(
            "node1",
            &format!("sudo sh -c 'ls /var/lib/rancher/rke2/server/tls-harvcred-*/{c}/'"),
        );
        assert!(
            backup.contains(&format!("{c}.crt")) && backup.contains(&format!("{c}.key")),
            "{backup}"
        );
    }
    // The probes pass: the planner finishes and the control plane is Ready.
    wait_for("the control plane Ready again", || {
        control_plane(&lab).ends_with("|True")
    });
    // Fixed: running it again does nothing, and says so.
    let o = harvcred(
        &lab,
        state.path(),
        &["certs", "fix-kcm", "--node", "node1", "--yes"],
    );
    let t = text(&o);
    assert_eq!(o.status.code(), Some(0), "{t}");
    assert!(t.contains("0 changed, 1 already so"), "{t}");
    assert!(t.contains("kube-scheduler: fixed already"), "{t}");
    let backups = lab.ssh_ok(
        "node1",
        "sudo sh -c 'ls -d /var/lib/rancher/rke2/server/tls-harvcred-*'",
    );
    assert_eq!(backups.lines().count(), 1, "one backup folder: {backups}");
}

/// The states an interrupted fix leaves between its steps on the node:
/// a half-made backup (`.tls-harvcred.part`), the controller-manager's files
/// copied into the backup folder but not removed, the scheduler's moved
/// there but its container not restarted. Running the fix again finishes it
/// with that one backup folder, and the copies there are the expired files.
#[test]
fn fix_kcm_run_again_after_an_interruption_finishes_it_with_one_backup() {
    let lab = Lab::up(&["--nodes", "1", "--scenario", "kcm-cert-expired"]);
    let state = tempfile::tempdir().unwrap();
    let server = "/var/lib/rancher/rke2/server";
    let backup = format!("{server}/tls-harvcred-20261130T235959Z");
    let sum = |path: &str| {
        lab.ssh_ok("node1", &format!("sudo sha256sum {path}"))
            .split_whitespace()
            .next()
            .unwrap()
            .to_string()
    };
    let kcm = format!("{server}/tls/kube-controller-manager/kube-controller-manager.crt");
    let sched = format!("{server}/tls/kube-scheduler/kube-scheduler.crt");
    let (kcm_old, sched_old) = (sum(&kcm), sum(&sched));
    lab.ssh_ok(
        "node1",
        &format!(
            "sudo sh -c 'set -e; cd {server}; mkdir -p .tls-harvcred.part/kube-scheduler {backup}/kube-controller-manager {backup}/kube-scheduler; \
             cp -p tls/kube-controller-manager/kube-controller-manager.* {backup}/kube-controller-manager/; \
             mv tls/kube-scheduler/kube-scheduler.* {backup}/kube-scheduler/'"
        ),
    );

    let o = harvcred(
        &lab,
        state.path(),
        &["certs", "fix-kcm", "--node", "node1", "--yes"],
    );
    let t = text(&o);
    assert_eq!(o.status.code(), Some(0), "{t}");
    assert!(t.contains("already kept in"), "{t}");
    assert!(t.contains("kube-scheduler.crt is missing, kept in"), "{t}");
    let folders = lab.ssh_ok("node1", &format!("sudo ls -A {server}"));
    let backups: Vec<&str> = folders
        .lines()
        .filter(|n| n.contains("tls-harvcred"))
        .collect();
    assert_eq!(
        backups,
        ["tls-harvcred-20261130T235959Z"],
        "one backup, no half-made one left"
    );
    for c in ["kube-controller-manager", "kube-scheduler"] {
        lab.ssh_ok(
            "node1",
            &format!("sudo openssl x509 -checkend 86400 -noout -in {server}/tls/{c}/{c}.crt"),
        );
    }
    assert_eq!(
        sum(&format!(
            "{backup}/kube-controller-manager/kube-controller-manager.crt"
        )),
        kcm_old
    );
    assert_eq!(
        sum(&format!("{backup}/kube-scheduler/kube-scheduler.crt")),
        sched_old
    );
}
