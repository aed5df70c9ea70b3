//! The lab as an operator meets it: `harvcred lab up`, ssh, kubectl, openssl,
//! `harvcred lab down`. Runs as root (README's test command).

mod common;

use std::process::Command;

use common::{BIN, Lab, leftovers};
use sha2::Digest;

/// Every `*.crt` of a node, fetched through SSH as an operator would.
fn node_certs(lab: &Lab, node: &str) -> Vec<(String, String)> {
    let list = lab.ssh_ok(
        node,
        "sudo find /var/lib/rancher/rke2 -name '*.crt' -type f | sort",
    );
    list.lines()
        .map(|path| {
            (
                path.to_string(),
                lab.ssh_ok(node, &format!("sudo cat {path}")),
            )
        })
        .collect()
}

fn openssl(args: &[&str], stdin: &str) -> String {
    let out = common::output_with_stdin(Command::new("openssl").args(args), stdin.as_bytes());
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Seconds until a PEM certificate expires, as openssl sees it (negative: expired).
fn openssl_seconds_left(pem: &str) -> i64 {
    let end = openssl(&["x509", "-noout", "-enddate"], pem);
    let end = end.trim().trim_start_matches("notAfter=");
    let fmt = time::macros::format_description!(
        "[month repr:short] [day padding:space] [hour]:[minute]:[second] [year] GMT"
    );
    let t = time::PrimitiveDateTime::parse(end, &fmt)
        .unwrap_or_else(|e| panic!("openssl date {end:?}: {e}"))
        .assume_utc();
    (t - time::OffsetDateTime::now_utc()).whole_seconds()
}

fn first_pem_block(text: &str) -> String {
    let end = "-----END CERTIFICATE-----";
    let i = text.find(end).expect("a certificate block") + end.len();
    format!("{}\n", &text[..i])
}

#[test]
fn lab_up_serves_ssh_and_kubectl_with_real_certs_and_down_leaves_nothing() {
    let lab = Lab::up(&[]);
    let id = lab.id();
    let record = lab.record();
    assert_eq!(record["state"], "ready");

    // The operator's view: ssh with the lab's config, sudo, the installer's /oem file.
    let custom = lab.ssh_ok("node1", "sudo cat /oem/90_custom.yaml");
    assert!(custom.contains("initramfs"), "{custom}");
    assert!(custom.contains("authorized_keys"), "{custom}");
    assert_eq!(lab.ssh_ok("node2", "hostname").trim(), "node2");
    assert_eq!(
        lab.ssh_ok("node3", "systemctl is-active rke2-server")
            .trim(),
        "active"
    );

    // rancher's password is a real SHA-512 crypt: sshd + PAM accept a password login.
    // Beside the lab folder, not in it: `lab down` leaves files it did not write.
    let askpass = lab.dir.parent().unwrap().join("askpass");
    std::fs::write(
        &askpass,
        format!(
            "#!/bin/sh\ncat '{}'\n",
            lab.dir.join("rancher-password").display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(
        &askpass,
        std::os::unix::fs::PermissionsExt::from_mode(0o700),
    )
    .unwrap();
    let login = Command::new("ssh")
        .arg("-F")
        .arg(lab.ssh_config())
        .args([
            "-o",
            "PubkeyAuthentication=no",
            "-o",
            "PreferredAuthentications=password,keyboard-interactive",
            "-o",
            "NumberOfPasswordPrompts=1",
            "node2",
            "id -un",
        ])
        .env("SSH_ASKPASS", &askpass)
        .env("SSH_ASKPASS_REQUIRE", "force")
        .env("DISPLAY", ":0")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(
        login.status.success(),
        "password login refused: {}",
        String::from_utf8_lossy(&login.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&login.stdout).trim(), "rancher");

    // kubectl lists the three nodes Ready with their lab addresses.
    let wide = lab.kubectl_ok(&["get", "nodes", "-o", "wide"]);
    let ips = lab.node_ips();
    for (i, ip) in ips.iter().enumerate() {
        let row = wide
            .lines()
            .find(|l| l.starts_with(&format!("node{} ", i + 1)))
            .unwrap_or_else(|| panic!("node{} missing from:\n{wide}", i + 1));
        assert!(row.contains(" Ready "), "{row}");
        assert!(row.contains(ip.as_str()), "{row}");
    }

    // openssl reads every certificate; leaf certs chain to the shared CA.
    let certs = node_certs(&lab, "node1");
    assert!(
        certs.len() >= 20,
        "only {} certificates on node1",
        certs.len()
    );
    for (path, pem) in &certs {
        openssl(&["x509", "-noout", "-subject"], pem);
        assert!(
            openssl_seconds_left(pem) > 300 * 86400,
            "{path} expires too soon in a healthy lab"
        );
    }
    let server_ca_1 = lab.ssh_ok(
        "node1",
        "sudo cat /var/lib/rancher/rke2/server/tls/server-ca.crt",
    );
    let server_ca_2 = lab.ssh_ok(
        "node2",
        "sudo cat /var/lib/rancher/rke2/server/tls/server-ca.crt",
    );
    assert_eq!(server_ca_1, server_ca_2, "servers must share their CAs");

    // The token's CA hash is the sha256 of server-ca.crt, as RKE2 computes it.
    let token = lab.ssh_ok("node1", "sudo cat /var/lib/rancher/rke2/server/token");
    let token = token.trim();
    let hash = hex::encode(sha2::Sha256::digest(server_ca_1.as_bytes()));
    assert!(
        token.starts_with(&format!("K10{hash}::server:")),
        "token does not carry the CA hash"
    );

    // Down removes everything, and a second down is fine.
    let dir = lab.dir.clone();
    let out = lab.down();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(leftovers(&id, &dir), Vec::<String>::new());
    assert!(!dir.exists(), "lab folder still there");
    let again = lab.down();
    assert!(again.status.success());
    assert!(String::from_utf8_lossy(&again.stdout).contains("nothing to remove"));
}

#[test]
fn scenarios_reproduce_the_problems_of_the_security_guide() {
    let lab = Lab::up(&common::PROBLEM_SCENARIOS);

    // certs-expiring: node2's leaf certs have about 10 days, node3's are expired.
    let leaf = |node: &str| {
        first_pem_block(&lab.ssh_ok(
            node,
            "sudo cat /var/lib/rancher/rke2/server/tls/client-admin.crt",
        ))
    };
    let days2 = openssl_seconds_left(&leaf("node2")) / 86400;
    assert!((8..=10).contains(&days2), "node2 leaf has {days2} days");
    assert!(
        openssl_seconds_left(&leaf("node3")) < 0,
        "node3 leaf not expired"
    );

    // kcm-cert-expired: controller-manager and scheduler serving certs expired on every server.
    for node in ["node1", "node2", "node3"] {
        for c in [
            "kube-controller-manager/kube-controller-manager.crt",
            "kube-scheduler/kube-scheduler.crt",
        ] {
            let pem = lab.ssh_ok(
                node,
                &format!("sudo cat /var/lib/rancher/rke2/server/tls/{c}"),
            );
            assert!(
                openssl_seconds_left(&first_pem_block(&pem)) < 0,
                "{node} {c} not expired"
            );
        }
    }

    // token-mismatch: the last node's rancherd token differs and rancherd says 502.
    let tok = |node: &str| {
        lab.ssh_ok(
            node,
            "sudo grep '^token:' /etc/rancher/rancherd/config.yaml",
        )
    };
    assert_eq!(tok("node1"), tok("node2"));
    assert_ne!(tok("node1"), tok("node3"));
    let mut journal = String::new();
    for _ in 0..50 {
        journal = lab.ssh_ok("node3", "sudo journalctl -b -u rancherd --no-pager");
        if journal.contains("502 Bad Gateway getting cacerts") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    assert!(
        journal.contains("502 Bad Gateway getting cacerts"),
        "{journal}"
    );
    let node1_rancherd = lab.ssh_ok("node1", "sudo journalctl -b -u rancherd --no-pager");
    assert!(!node1_rancherd.contains("502"), "{node1_rancherd}");

    // proxy-drift: the setting names a proxy; node1's /etc/environment another.
    let setting = lab.setting_value("http-proxy");
    let setting: serde_json::Value = serde_json::from_str(&setting).unwrap();
    let proxy = setting["httpProxy"].as_str().unwrap();
    assert!(proxy.starts_with("http://"), "{setting}");
    assert!(!lab.ssh_ok("node1", "cat /etc/environment").contains(proxy));
    assert!(lab.ssh_ok("node2", "cat /etc/environment").contains(proxy));

    // plaintext-password: node1's /oem holds the clear password that /etc/shadow hashes.
    let password = std::fs::read_to_string(lab.dir.join("rancher-password")).unwrap();
    let custom1 = lab.ssh_ok("node1", "sudo cat /oem/90_custom.yaml");
    assert!(
        custom1.contains(password.trim()),
        "clear password not in node1's /oem"
    );
    let custom2 = lab.ssh_ok("node2", "sudo cat /oem/90_custom.yaml");
    assert!(!custom2.contains(password.trim()));
    assert!(custom2.contains("passwd: $6$"), "{custom2}");
}

#[test]
fn the_webhook_denies_an_uncovered_node_and_stale_updates_conflict() {
    let lab = Lab::up(&["--nodes", "2"]);
    let value = r#"{"httpProxy":"http://10.9.9.9:3128","noProxy":"localhost"}"#;
    let patch = serde_json::json!({ "value": value }).to_string();
    let out = lab.kubectl(&[
        "patch",
        "settings.harvesterhci.io",
        "http-proxy",
        "--type",
        "merge",
        "-p",
        &patch,
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    let ips = lab.node_ips();
    let expected = format!(
        "noProxy should contain the node's IP addresses or CIDR. The node(s) {} are not covered.",
        ips.join(", ")
    );
    assert!(err.contains(&expected), "{err}");

    // A patch that carries an old resourceVersion is refused with 409.
    let rv = lab.kubectl_ok(&[
        "get",
        "settings.harvesterhci.io",
        "http-proxy",
        "-o",
        "jsonpath={.metadata.resourceVersion}",
    ]);
    let cidr = lab.subnet_prefix();
    let good = format!(r#"{{"httpProxy":"http://10.9.9.9:3128","noProxy":"{cidr}.0/24"}}"#);
    let first = serde_json::json!({"metadata": {"resourceVersion": rv}, "value": good}).to_string();
    lab.kubectl_ok(&[
        "patch",
        "settings.harvesterhci.io",
        "http-proxy",
        "--type",
        "merge",
        "-p",
        &first,
    ]);
    let stale = serde_json::json!({"metadata": {"resourceVersion": rv}, "value": "{}"}).to_string();
    let out = lab.kubectl(&[
        "patch",
        "settings.harvesterhci.io",
        "http-proxy",
        "--type",
        "merge",
        "-p",
        &stale,
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("the object has been modified"), "{err}");
    let now = lab.setting_value("http-proxy");
    assert_eq!(now, good);
}

#[test]
fn two_labs_run_side_by_side_on_their_own_subnets() {
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(|| Lab::up(&["--nodes", "1"]));
        let b = s.spawn(|| Lab::up(&["--nodes", "1"]));
        (a.join().unwrap(), b.join().unwrap())
    });
    assert_ne!(a.id(), b.id());
    assert_ne!(a.record()["plan"]["subnet"], b.record()["plan"]["subnet"]);
    assert_eq!(a.ssh_ok("node1", "hostname").trim(), "node1");
    assert_eq!(b.ssh_ok("node1", "hostname").trim(), "node1");
    // Each lab's node answers only through its own lab's config and host key.
    let a_ip = a.record()["plan"]["nodes"][0]["ip"]
        .as_str()
        .unwrap()
        .to_string();
    let b_ip = b.record()["plan"]["nodes"][0]["ip"]
        .as_str()
        .unwrap()
        .to_string();
    assert_ne!(a_ip, b_ip);
    assert!(a.kubectl_ok(&["get", "nodes"]).contains("node1"));
    assert!(b.kubectl_ok(&["get", "nodes"]).contains("node1"));
}

#[test]
fn a_failing_test_and_a_crashed_supervisor_leave_nothing_behind() {
    // A test that panics while holding a lab: the guard's drop tears it down.
    let mut seen = None;
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let lab = Lab::up(&["--nodes", "1"]);
        seen = Some((lab.id(), lab.dir.clone()));
        panic!("a test failing with a lab up");
    }));
    assert!(result.is_err());
    let (id, dir) = seen.unwrap();
    assert_eq!(leftovers(&id, &dir), Vec::<String>::new());

    // A supervisor killed with SIGKILL: `lab down` still removes everything from the record.
    let lab = Lab::up(&["--nodes", "1"]);
    let (id, dir) = (lab.id(), lab.dir.clone());
    let pid = lab.record()["supervisor_pid"].as_i64().unwrap() as i32;
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    // `lab status` says so once the process is gone.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let status = Command::new(BIN)
            .args(["lab", "status", "--dir"])
            .arg(&dir)
            .output()
            .unwrap();
        let said = String::from_utf8_lossy(&status.stdout).into_owned();
        if said.contains("dead") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "lab status never said the supervisor is dead: {said}"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let out = lab.down();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(leftovers(&id, &dir), Vec::<String>::new());
}

#[test]
fn bad_requests_get_a_message_that_says_what_to_do_and_leave_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let full = tmp.path().join("full");
    std::fs::create_dir(&full).unwrap();
    std::fs::write(full.join("notes.txt"), "mine").unwrap();
    let out = Command::new(BIN)
        .args(["lab", "up", "--dir"])
        .arg(&full)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not empty"));
    assert_eq!(
        std::fs::read_to_string(full.join("notes.txt")).unwrap(),
        "mine"
    );

    let out = Command::new(BIN)
        .args(["lab", "up", "--scenario", "certs", "--dir"])
        .arg(tmp.path().join("x"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("certs-expiring"));

    let out = Command::new(BIN)
        .args(["lab", "up", "--nodes", "0", "--dir"])
        .arg(tmp.path().join("y"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("between 1 and"));
    assert!(!tmp.path().join("y").exists());

    // Not root: said plainly, before anything is made.
    let out = Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            BIN,
            "lab",
            "up",
            "--dir",
        ])
        .arg(tmp.path().join("n"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("needs root"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!tmp.path().join("n").exists());

    // A missing tool names the package that brings it.
    let bin_dir = tmp.path().join("bin");
    std::fs::create_dir(&bin_dir).unwrap();
    for tool in ["ip", "ssh", "ssh-keygen", "debootstrap"] {
        let found = harvcred_which(tool);
        std::os::unix::fs::symlink(found, bin_dir.join(tool)).unwrap();
    }
    let out = Command::new(BIN)
        .args(["lab", "up", "--dir"])
        .arg(tmp.path().join("m"))
        .env("PATH", &bin_dir)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("systemd-nspawn") && err.contains("apt-get install systemd-container"),
        "{err}"
    );

    // A folder with a running lab is refused, and the running lab is untouched.
    let lab = Lab::up(&["--nodes", "1"]);
    let out = Command::new(BIN)
        .args(["lab", "up", "--dir"])
        .arg(&lab.dir)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("holds a running lab"));
    assert_eq!(lab.ssh_ok("node1", "hostname").trim(), "node1");

    // A subnet that is in use is refused with what uses it.
    let used = lab.subnet_prefix();
    let out = Command::new(BIN)
        .args(["lab", "up", "--subnet", &format!("{used}.0/24"), "--dir"])
        .arg(tmp.path().join("z"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("already in use"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!tmp.path().join("z").exists());
}

fn harvcred_which(tool: &str) -> std::path::PathBuf {
    std::env::split_paths(&std::env::var_os("PATH").unwrap())
        .map(|d| d.join(tool))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("{tool} not on PATH"))
}

fn wait_for(what: &str, mut check: impl FnMut() -> bool) {
    for _ in 0..300 {
        if check() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    panic!("timed out waiting for {what}");
}

#[test]
fn rotation_cloudinit_and_the_token_rotate_trap_act_on_the_nodes() {
    let lab = Lab::up(&["--nodes", "3", "--servers", "2"]);
    assert_eq!(
        lab.ssh_ok("node3", "systemctl is-active rke2-agent").trim(),
        "active"
    );
    assert_ne!(
        lab.ssh("node3", "test -e /var/lib/rancher/rke2/server/token")
            .status
            .code(),
        Some(0)
    );

    // Bumping Rancher's rotation generation re-issues the servers' leaf certs.
    let serial = |node: &str| {
        let pem = lab.ssh_ok(
            node,
            "sudo cat /var/lib/rancher/rke2/server/tls/client-admin.crt",
        );
        openssl(&["x509", "-noout", "-serial"], &first_pem_block(&pem))
    };
    let before = serial("node1");
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
    wait_for("the rotation to finish", || {
        lab.kubectl_ok(&[
            "-n",
            "fleet-local",
            "get",
            "rkecontrolplanes.rke.cattle.io",
            "local",
            "-o",
            "jsonpath={.status.certificateRotationGeneration}",
        ])
        .trim()
            == "1"
    });
    assert_ne!(
        serial("node1"),
        before,
        "client-admin.crt was not re-issued"
    );

    // A CloudInit resource lands in the matching nodes' /oem; protected names are refused.
    let cloudinit = |name: &str, filename: &str| {
        format!(
            "apiVersion: node.harvesterhci.io/v1beta1\nkind: CloudInit\nmetadata:\n  name: {name}\nspec:\n  matchSelector: {{}}\n  filename: {filename}\n  contents: |\n    stages:\n      initramfs.after:\n        - users:\n            rancher:\n              passwd: \"$6$abcdefghijklmnop$x\"\n"
        )
    };
    let apply = |yaml: String| {
        common::output_with_stdin(
            Command::new("kubectl")
                .env("KUBECONFIG", lab.kubeconfig())
                .args(["apply", "-f", "-"]),
            yaml.as_bytes(),
        )
    };
    let out = apply(cloudinit("bad", "90_custom.yaml"));
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("90_custom.yaml"));
    let out = apply(cloudinit("passwd", "99_passwd.yaml"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    wait_for("the CloudInit file on node3", || {
        lab.ssh("node3", "sudo grep -q initramfs.after /oem/99_passwd.yaml")
            .status
            .success()
    });

    // `rke2 token rotate` then a restart: rke2-server dies with the bootstrap error.
    lab.ssh_ok(
        "node2",
        "sudo rke2 token rotate --new-token not-the-cluster-token",
    );
    let _ = lab.ssh("node2", "sudo systemctl restart rke2-server");
    wait_for("rke2-server's fatal bootstrap error", || {
        lab.ssh_ok("node2", "sudo journalctl -u rke2-server --no-pager")
            .contains("bootstrap data already found and encrypted with different token")
    });
    // It stays down: systemd keeps restarting it and it keeps failing.
    wait_for(
        "rke2-server to fail again after systemd restarts it",
        || {
            let n = lab.ssh_ok("node2", "systemctl show -p NRestarts --value rke2-server");
            n.trim().parse::<u32>().unwrap_or(0) >= 1
        },
    );
}
