//! Rotate now from the console in a real terminal (tmux) against a lab:
//! `:certs`, `R`, the preview of the generation bump, the dry run, `y`; the
//! rotated node's log beside the form; the summary with the node's renewed
//! leaves; then on the cluster the rotation done and every leaf on the node
//! renewed with the same CAs. Needs root.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::tmux::Tmux;
use common::{BIN, Lab};

const TAG: &str = "certsconsole";

/// Every leaf certificate file of the node with its serial (openssl).
fn serials(lab: &Lab) -> BTreeMap<String, String> {
    lab.ssh_ok(
        "node1",
        "sudo sh -c 'for f in $(find /var/lib/rancher/rke2/server/tls /var/lib/rancher/rke2/agent -maxdepth 2 -name \"*.crt\" ! -name \"*-ca.*\" ! -path \"*/temporary-certs/*\"); do echo $f $(openssl x509 -noout -serial -in $f); done'",
    )
    .lines()
    .filter_map(|l| l.split_once(' '))
    .map(|(f, s)| (f.to_string(), s.to_string()))
    .collect()
}

fn cas(lab: &Lab) -> String {
    lab.ssh_ok(
        "node1",
        "for f in /var/lib/rancher/rke2/agent/server-ca.crt /var/lib/rancher/rke2/agent/client-ca.crt; do sudo openssl x509 -noout -fingerprint -sha256 -in $f; done",
    )
}

/// The status line shows the `:` prompt (typing before it shows is lost).
fn prompt(s: &str) -> bool {
    s.lines().last().is_some_and(|l| l.starts_with(':'))
}

#[test]
fn console_rotate_now_renews_every_leaf_and_shows_the_node_being_rotated() {
    let lab = Lab::up(&["--nodes", "1"]);
    let before = serials(&lab);
    let ca = cas(&lab);
    let tmp = tempfile::tempdir().unwrap();
    let (state, config) = (tmp.path().join("state"), tmp.path().join("config"));
    let env = [
        ("XDG_STATE_HOME", state.as_path()),
        ("XDG_CONFIG_HOME", config.as_path()),
    ];
    let cmd = format!("{BIN} --lab {}; sleep 30", lab.dir.display());
    let t = Tmux::start(TAG, &cmd, &env);
    t.wait("the API and node1", Duration::from_secs(15), |s| {
        s.contains("API ok") && s.contains("node1")
    });
    t.keys(&[":"]);
    t.wait("the command prompt", Duration::from_secs(5), prompt);
    t.text("certs");
    t.keys(&["Enter"]);
    t.wait("node1's certificates", Duration::from_secs(30), |s| {
        s.contains("certificates (") && s.contains("node1")
    });
    t.keys(&["R"]);
    let s = t.wait("the form, the cluster read", Duration::from_secs(60), |s| {
        s.contains("certs.rotate · edit")
    });
    assert!(s.contains("cluster: fleet-local/local"), "{s}");
    t.keys(&["Enter"]);
    let s = t.wait("the preview", Duration::from_secs(10), |s| {
        s.contains("certs.rotate · preview")
    });
    assert!(s.contains("0 -> 1 (at resourceVersion"), "{s}");
    assert!(s.contains("a rotation can start now"), "{s}");
    t.keys(&["Enter"]);
    t.wait("the dry run to pass", Duration::from_secs(30), |s| {
        s.contains("certs.rotate · confirm")
    });
    t.keys(&["y"]);
    t.wait(
        "node1's log beside the form",
        Duration::from_secs(60),
        |s| s.contains("logs node1") && s.contains("certs.rotate ·"),
    );
    let s = t.wait("the summary", Duration::from_secs(180), |s| {
        s.contains("certs.rotate · done")
    });
    assert!(s.contains("fleet-local/local  verified"), "{s}");
    let tally = format!(
        "node1: {n} of {n} leaf certificates renewed",
        n = before.len()
    );
    assert!(s.contains(&tally), "{tally}:\n{s}");
    // Closing comes back to the certificates, read again.
    t.keys(&["Enter"]);
    t.wait("the certificates again", Duration::from_secs(10), |s| {
        s.contains("certificates (") && !s.contains("certs.rotate")
    });
    t.keys(&["C-c"]);
    drop(t);

    assert_eq!(
        lab.kubectl_ok(&[
            "-n",
            "fleet-local",
            "get",
            "rkecontrolplanes.rke.cattle.io",
            "local",
            "-o",
            "jsonpath={.status.certificateRotationGeneration}|{.status.conditions[?(@.type==\"Ready\")].status}",
        ])
        .trim(),
        "1|True"
    );
    let after = serials(&lab);
    for (file, serial) in &before {
        assert_ne!(after.get(file), Some(serial), "{file} not renewed");
    }
    assert_eq!(cas(&lab), ca, "the CAs stay");
    let audit = std::fs::read_to_string(state.join("harvcred/audit.jsonl")).unwrap();
    assert!(
        audit.lines().any(|l| l.contains("\"action\":\"certs.rotate\"")
            && l.contains("\"step\":\"verify\"")),
        "{audit}"
    );
}
