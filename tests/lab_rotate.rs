//! Certificate rotation and the token as Rancher and RKE2 handle them, on
//! real lab nodes: Rancher's planner on a generation bump, Harvester's
//! auto-rotate-rke2-certs controller, `rke2 token rotate`, an older RKE2,
//! and the containerd tree every node carries.

mod common;

use std::collections::BTreeMap;

use common::Lab;

fn wait_for(what: &str, mut check: impl FnMut() -> bool) {
    for _ in 0..600 {
        if check() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    panic!("timed out waiting for {what}");
}

const TLS: &str = "/var/lib/rancher/rke2/server/tls";
const AGENT: &str = "/var/lib/rancher/rke2/agent";

/// `(certificate, the CA that must have signed it)` of a node's certificates
/// a rotation renews.
fn rotated_files(server: bool) -> Vec<(String, String)> {
    let mut files = Vec::new();
    if server {
        for (crt, ca) in [
            ("client-admin.crt", "client-ca.crt"),
            ("serving-kube-apiserver.crt", "server-ca.crt"),
            ("client-supervisor.crt", "client-ca.crt"),
            ("etcd/server-client.crt", "etcd/server-ca.crt"),
            (
                "kube-controller-manager/kube-controller-manager.crt",
                "server-ca.crt",
            ),
            ("kube-scheduler/kube-scheduler.crt", "server-ca.crt"),
        ] {
            files.push((format!("{TLS}/{crt}"), format!("{TLS}/{ca}")));
        }
    }
    for (crt, ca) in [
        ("client-kubelet.crt", "client-ca.crt"),
        ("serving-kubelet.crt", "server-ca.crt"),
        ("client-kube-proxy.crt", "client-ca.crt"),
    ] {
        files.push((format!("{AGENT}/{crt}"), format!("{AGENT}/{ca}")));
    }
    files
}

/// File -> (serial, NotAfter as epoch seconds), as openssl on the node reads
/// them; each certificate is also verified against its CA there.
fn certs(lab: &Lab, node: &str, server: bool) -> BTreeMap<String, (String, i64)> {
    let mut script = String::from("set -e\n");
    for (crt, ca) in rotated_files(server) {
        script.push_str(&format!(
            "openssl verify -CAfile {ca} {crt} >/dev/null\nprintf '%s %s %s\\n' {crt} \"$(openssl x509 -noout -serial -in {crt} | cut -d= -f2)\" \"$(date -d \"$(openssl x509 -noout -enddate -in {crt} | cut -d= -f2)\" +%s)\"\n"
        ));
    }
    let out = common::output_with_stdin(
        std::process::Command::new("ssh")
            .arg("-F")
            .arg(lab.ssh_config())
            .args(["-o", "BatchMode=yes", node, "sudo", "sh", "-s"]),
        script.as_bytes(),
    );
    assert!(
        out.status.success(),
        "{node}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f[0].to_string(), (f[1].to_string(), f[2].parse().unwrap()))
        })
        .collect()
}

/// The CA certificates' fingerprints: a rotation must keep them.
fn ca_fingerprints(lab: &Lab, node: &str) -> String {
    lab.ssh_ok(
        node,
        &format!(
            "for f in {AGENT}/server-ca.crt {AGENT}/client-ca.crt; do sudo openssl x509 -noout -fingerprint -sha256 -in $f; done"
        ),
    )
}

fn control_plane(lab: &Lab) -> (String, String, String) {
    let out = lab.kubectl_ok(&[
        "-n",
        "fleet-local",
        "get",
        "rkecontrolplanes.rke.cattle.io",
        "local",
        "-o",
        "jsonpath={.spec.rotateCertificates.generation}|{.status.certificateRotationGeneration}|{.status.conditions[?(@.type==\"Ready\")].status}",
    ]);
    let f: Vec<&str> = out.trim().split('|').collect();
    (f[0].into(), f[1].into(), f[2].into())
}

fn cluster_generation(lab: &Lab) -> String {
    lab.kubectl_ok(&[
        "-n",
        "fleet-local",
        "get",
        "clusters.provisioning.cattle.io",
        "local",
        "-o",
        "jsonpath={.spec.rkeConfig.rotateCertificates.generation}",
    ])
    .trim()
    .to_string()
}

/// Waits until the control plane reports `generation` done and Ready, and
/// says whether Ready was seen False on the way.
fn wait_for_rotation(lab: &Lab, generation: &str) -> bool {
    let mut saw_not_ready = false;
    wait_for(&format!("rotation generation {generation}"), || {
        let (_, done, ready) = control_plane(lab);
        saw_not_ready |= ready == "False";
        done == generation && ready == "True"
    });
    saw_not_ready
}

const NODES: [(&str, bool); 4] = [
    ("node1", true),
    ("node2", true),
    ("node3", true),
    ("node4", false),
];

fn snapshot(lab: &Lab) -> BTreeMap<&'static str, BTreeMap<String, (String, i64)>> {
    NODES
        .iter()
        .map(|(n, server)| (*n, certs(lab, n, *server)))
        .collect()
}

fn assert_all_rotated(
    before: &BTreeMap<&'static str, BTreeMap<String, (String, i64)>>,
    after: &BTreeMap<&'static str, BTreeMap<String, (String, i64)>>,
) {
    for (node, files) in before {
        for (file, (serial, not_after)) in files {
            let (new_serial, new_not_after) = &after[node][file];
            assert_ne!(new_serial, serial, "{node}: {file} was not re-issued");
            assert!(
                new_not_after > not_after,
                "{node}: {file} NotAfter did not move"
            );
        }
    }
}

#[test]
fn rotation_auto_rotate_token_and_containerd_on_real_nodes() {
    let lab = Lab::up(&["--nodes", "4"]);

    // Containerd's tree with image CA bundles, one root expired in 2020.
    for (node, server) in NODES {
        let addtrust = "/var/lib/rancher/rke2/agent/containerd/io.containerd.snapshotter.v1.overlayfs/snapshots/17/fs/etc/ssl/certs/AddTrust_External_Root.pem";
        let end = lab.ssh_ok(
            node,
            &format!("sudo openssl x509 -noout -enddate -in {addtrust}"),
        );
        assert!(end.contains("2020 GMT"), "{node}: {end}");
        assert!(
            !lab.ssh(
                node,
                &format!("sudo openssl x509 -checkend 0 -noout -in {addtrust}")
            )
            .status
            .success()
        );
        let bundles = lab.ssh_ok(
            node,
            "sudo find /var/lib/rancher/rke2/agent/containerd -name 'ca-certificates.crt' | wc -l",
        );
        assert!(bundles.trim().parse::<u32>().unwrap() >= 2, "{node}");
        if server {
            // The supervisor's listener cache, signed by server-ca.
            use base64::Engine;
            let json: serde_json::Value = serde_json::from_str(
                &lab.ssh_ok(node, &format!("sudo cat {TLS}/dynamic-cert.json")),
            )
            .unwrap();
            let crt = base64::engine::general_purpose::STANDARD
                .decode(json["data"]["tls.crt"].as_str().unwrap())
                .unwrap();
            let dir = tempfile::tempdir().unwrap();
            std::fs::write(dir.path().join("dyn.crt"), crt).unwrap();
            std::fs::write(
                dir.path().join("ca.crt"),
                lab.ssh_ok(node, &format!("sudo cat {TLS}/server-ca.crt")),
            )
            .unwrap();
            let verify = std::process::Command::new("openssl")
                .args(["verify", "-CAfile"])
                .arg(dir.path().join("ca.crt"))
                .arg(dir.path().join("dyn.crt"))
                .output()
                .unwrap();
            assert!(verify.status.success(), "{node}: dynamic-cert.json");
            lab.ssh_ok(node, &format!("sudo test -d {TLS}/temporary-certs"));
        }
    }

    // Rancher's view: the RKEControlPlane reports, the Cluster carries the spec.
    assert_eq!(
        control_plane(&lab),
        ("0".to_string(), "0".to_string(), "True".to_string())
    );
    let cluster_status = lab.kubectl_ok(&[
        "-n",
        "fleet-local",
        "get",
        "clusters.provisioning.cattle.io",
        "local",
        "-o",
        "jsonpath={.status}",
    ]);
    assert!(
        !cluster_status.contains("certificateRotationGeneration"),
        "{cluster_status}"
    );
    let secret = lab.kubectl_ok(&[
        "-n",
        "fleet-local",
        "get",
        "secret",
        "local-rke-state",
        "-o",
        "jsonpath={.data.serverToken}|{.data.agentToken}",
    ]);
    assert!(secret.split('|').all(|t| t.len() > 20), "{secret}");

    // auto-rotate-rke2-certs: the lab's apiserver certificates have 335 days
    // left, inside 8759 hours: the controller bumps the generation by itself.
    let cas = ca_fingerprints(&lab, "node1");
    let before = snapshot(&lab);
    lab.kubectl_ok(&[
        "patch",
        "settings.harvesterhci.io",
        "auto-rotate-rke2-certs",
        "--type",
        "merge",
        "-p",
        r#"{"value":"{\"enable\":true,\"expiringInHours\":8759}"}"#,
    ]);
    let saw_not_ready = wait_for_rotation(&lab, "1");
    assert!(saw_not_ready, "Ready never went False during the rotation");
    assert_eq!(cluster_generation(&lab), "1");
    // Off again, before the fresh certificates come within 8759 hours.
    lab.kubectl_ok(&[
        "patch",
        "settings.harvesterhci.io",
        "auto-rotate-rke2-certs",
        "--type",
        "merge",
        "-p",
        r#"{"value":"{\"enable\":false,\"expiringInHours\":8759}"}"#,
    ]);
    let after = snapshot(&lab);
    assert_all_rotated(&before, &after);
    assert_eq!(ca_fingerprints(&lab, "node1"), cas, "the CAs must stay");
    assert_eq!(ca_fingerprints(&lab, "node4"), cas);
    for (node, server) in NODES {
        let generation = lab.ssh(
            node,
            "sudo cat /var/lib/rancher/rke2/certificate_rotation/generation",
        );
        if server {
            assert_eq!(String::from_utf8_lossy(&generation.stdout).trim(), "1");
            // The planner's script, and the manifests RKE2 wrote again at start.
            lab.ssh_ok(
                node,
                "sudo test -x /var/lib/rancher/rke2/rancher_v2prov_certificate_rotation/bin/rotate.sh && sudo test -f /var/lib/rancher/rke2/agent/pod-manifests/kube-controller-manager.yaml && sudo test -f /var/lib/rancher/rke2/agent/pod-manifests/kube-scheduler.yaml",
            );
        } else {
            // Workers only restart rke2-agent.
            assert!(!generation.status.success(), "{node}");
        }
    }
    // The apiserver presents the new certificate.
    let served = lab.ssh_ok(
        "node2",
        "echo | openssl s_client -connect 127.0.0.1:6443 2>/dev/null | openssl x509 -noout -serial | cut -d= -f2",
    );
    assert_eq!(
        served.trim(),
        after["node2"][&format!("{TLS}/serving-kube-apiserver.crt")].0
    );

    // A generation bump by hand: every node again, one after the other.
    lab.kubectl_ok(&[
        "-n",
        "fleet-local",
        "patch",
        "clusters.provisioning.cattle.io",
        "local",
        "--type",
        "merge",
        "-p",
        r#"{"spec":{"rkeConfig":{"rotateCertificates":{"generation":2}}}}"#,
    ]);
    wait_for_rotation(&lab, "2");
    assert_eq!(control_plane(&lab).0, "2");
    assert_all_rotated(&after, &snapshot(&lab));
    assert_eq!(ca_fingerprints(&lab, "node3"), cas);

    // `rke2 token rotate` re-encrypts the bootstrap data; the config still
    // names the old token, so the next start is fatal.
    let new_token = "RotatedTokenForTheLabTest42";
    lab.ssh_ok(
        "node2",
        &format!("sudo rke2 token rotate --new-token {new_token}"),
    );
    let _ = lab.ssh("node2", "sudo systemctl restart rke2-server");
    wait_for("rke2-server's fatal bootstrap error", || {
        lab.ssh_ok("node2", "sudo journalctl -u rke2-server --no-pager")
            .contains("level=fatal msg=\"Failed to reconcile with temporary etcd: bootstrap data already found and encrypted with different token\"")
    });
    assert_ne!(
        lab.ssh("node2", "systemctl is-active rke2-server")
            .status
            .code(),
        Some(0)
    );
    // With the new token in Rancher's drop-in (it overrides rancherd's), it starts.
    lab.ssh_ok(
        "node2",
        &format!(
            "sudo sed -i 's/\"token\":\"[^\"]*\"/\"token\":\"{new_token}\"/' /etc/rancher/rke2/config.yaml.d/50-rancher.yaml && sudo systemctl restart rke2-server"
        ),
    );
    wait_for("rke2-server to start with the new token", || {
        lab.ssh("node2", "systemctl is-active rke2-server")
            .status
            .success()
    });

    // An http-proxy change while the planner is at work: Harvester's first
    // update of the Cluster conflicts, `configured` is False for a moment,
    // and the controller retries until it is True.
    lab.kubectl_ok(&[
        "-n",
        "fleet-local",
        "patch",
        "clusters.provisioning.cattle.io",
        "local",
        "--type",
        "merge",
        "-p",
        r#"{"spec":{"rkeConfig":{"rotateCertificates":{"generation":3}}}}"#,
    ]);
    wait_for("the rotation to be under way", || {
        control_plane(&lab).2 == "False"
    });
    lab.kubectl_ok(&[
        "patch",
        "settings.harvesterhci.io",
        "http-proxy",
        "--type",
        "merge",
        "-p",
        r#"{"value":"{\"noProxy\":\"localhost\"}"}"#,
    ]);
    let configured = || {
        lab.kubectl_ok(&[
            "get",
            "settings.harvesterhci.io",
            "http-proxy",
            "-o",
            "jsonpath={.status.conditions[?(@.type==\"configured\")].status}|{.status.conditions[?(@.type==\"configured\")].message}",
        ])
    };
    let mut saw_conflict = false;
    wait_for("http-proxy to be configured after a conflict", || {
        let c = configured();
        saw_conflict |= c.starts_with("False|Operation cannot be fulfilled");
        c.starts_with("True|")
    });
    assert!(saw_conflict, "no transient False was seen");
    wait_for_rotation(&lab, "3");
}

#[test]
fn an_older_rke2_and_a_node_whose_certificates_already_expired() {
    // node3's certificates expired 5 days ago (certs-expiring).
    let lab = Lab::up(&[
        "--nodes",
        "3",
        "--scenario",
        "old-rke2",
        "--scenario",
        "certs-expiring",
    ]);
    // The version shows where it does on Harvester.
    let kubelet = lab.kubectl_ok(&[
        "get",
        "nodes",
        "-o",
        "jsonpath={.items[*].status.nodeInfo.kubeletVersion}",
    ]);
    assert!(
        kubelet.split_whitespace().all(|v| v == "v1.32.3+rke2r1"),
        "{kubelet}"
    );
    assert!(
        lab.ssh_ok("node1", "sudo cat /etc/rancher/rancherd/config.yaml")
            .contains("kubernetesVersion: v1.32.3+rke2r1")
    );
    let journal = lab.ssh_ok("node1", "sudo journalctl -u rke2-server --no-pager");
    assert!(
        journal.contains("Starting rke2 v1.32.3+rke2r1"),
        "{journal}"
    );
    assert!(
        journal.contains("--cert-dir=/var/lib/rancher/rke2/server/tls/kube-controller-manager")
    );
    // The components sign their own serving certificates.
    let issuer = lab.ssh_ok(
        "node1",
        &format!(
            "sudo openssl x509 -noout -issuer -in {TLS}/kube-controller-manager/kube-controller-manager.crt"
        ),
    );
    assert!(issuer.contains("kube-controller-manager-ca@"), "{issuer}");
    let check = lab.ssh_ok("node2", "sudo rke2 certificate check --service admin 2>&1");
    assert!(check.contains("will expire within 90 days"), "{check}");

    // A rotation: node3's expired certificates keep its rancher-system-agent
    // from applying the plan ("secret received was too old") until it restarts.
    lab.kubectl_ok(&[
        "-n",
        "fleet-local",
        "patch",
        "clusters.provisioning.cattle.io",
        "local",
        "--type",
        "merge",
        "-p",
        r#"{"spec":{"rkeConfig":{"rotateCertificates":{"generation":1}}}}"#,
    ]);
    wait_for("the too-old line on node3", || {
        lab.ssh_ok(
            "node3",
            "sudo journalctl -u rancher-system-agent --no-pager",
        )
        .contains("secret received was too old")
    });
    let (_, done, ready) = control_plane(&lab);
    assert_eq!((done.as_str(), ready.as_str()), ("0", "False"));
    lab.ssh_ok("node3", "sudo systemctl restart rancher-system-agent");
    wait_for_rotation(&lab, "1");
    let left = lab.ssh_ok(
        "node3",
        &format!(
            "sudo openssl x509 -checkend 86400 -noout -in {TLS}/client-admin.crt && echo valid"
        ),
    );
    assert!(left.contains("valid"), "{left}");
}
