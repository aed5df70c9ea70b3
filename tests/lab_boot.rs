//! A lab node boots as a Harvester node does: ephemeral /etc and /var come
//! back from the image, /oem is applied by yip at every boot, persistent paths
//! keep what they hold, and a broken /oem keeps the node from coming back.
//! Needs root (the lab).

mod common;

use std::process::{Command, Output};

use common::{BIN, Lab};

fn lab_cmd(lab: &Lab, args: &[&str]) -> Output {
    Command::new(BIN)
        .arg("lab")
        .arg(args[0])
        .arg("--dir")
        .arg(&lab.dir)
        .args(&args[1..])
        .output()
        .unwrap()
}

fn reboot_ok(lab: &Lab, node: &str) {
    let out = lab_cmd(lab, &["reboot", node]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "lab reboot {node}: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains(&format!("{node} rebooted: answers SSH again after")),
        "{stdout}"
    );
}

/// rancher's hash as /etc/shadow holds it now.
fn shadow_hash(lab: &Lab, node: &str) -> String {
    let line = lab.ssh_ok(node, "sudo getent shadow rancher");
    line.split(':').nth(1).unwrap().to_string()
}

/// Whether the system's crypt(3) (libxcrypt, as PAM uses at login) accepts
/// `password` for `hash`; the password goes on stdin.
fn crypt_accepts(hash: &str, password: &str) -> bool {
    let out = common::output_with_stdin(
        Command::new("perl").args([
            "-e",
            "my $pw = <STDIN>; chomp $pw; print crypt($pw, $ARGV[0]) eq $ARGV[0] ? 'ok' : 'bad'",
            hash,
        ]),
        format!("{password}\n").as_bytes(),
    );
    match String::from_utf8_lossy(&out.stdout).as_ref() {
        "ok" => true,
        "bad" => false,
        other => panic!(
            "perl crypt: {other} {}",
            String::from_utf8_lossy(&out.stderr)
        ),
    }
}

/// Write a file into a node's /oem as root; the content goes on stdin.
fn put_oem(lab: &Lab, node: &str, name: &str, content: &str) {
    let out = common::output_with_stdin(
        Command::new("ssh")
            .arg("-F")
            .arg(lab.ssh_config())
            .args(["-o", "BatchMode=yes", node])
            .arg(format!("sudo tee /oem/{name} >/dev/null")),
        content.as_bytes(),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_reboot_brings_back_oem_and_keeps_persistent_paths() {
    let lab = Lab::up(&["--nodes", "3"]);
    let password = std::fs::read_to_string(lab.dir.join("rancher-password")).unwrap();
    let password = password.trim();

    // node1: runtime changes to ephemeral paths are gone after a reboot;
    // persistent paths keep theirs.
    let installed = shadow_hash(&lab, "node1");
    assert!(crypt_accepts(&installed, password));
    lab.ssh_ok(
        "node1",
        "echo 'rancher:Runtime-Only-9' | sudo chpasswd \
         && echo runtime | sudo tee /etc/runtime-note /etc/rancher/persisted-note >/dev/null \
         && echo '# runtime edit' | sudo tee -a /etc/rancher/rancherd/config.yaml >/dev/null \
         && ssh-keygen -q -t ed25519 -N '' -C runtime-only -f /tmp/k && cat /tmp/k.pub >> ~/.ssh/authorized_keys",
    );
    let runtime = shadow_hash(&lab, "node1");
    assert!(crypt_accepts(&runtime, "Runtime-Only-9"));
    assert!(!crypt_accepts(&runtime, password));
    // The operator's key, persisted in /oem/90_custom.yaml, removed at runtime only.
    lab.ssh_ok(
        "node1",
        "grep -v harvcred-lab-operator ~/.ssh/authorized_keys > /tmp/ak; cat /tmp/ak > ~/.ssh/authorized_keys",
    );
    assert!(
        !lab.ssh("node1", "true").status.success(),
        "the key is still accepted"
    );

    reboot_ok(&lab, "node1");
    // Logging in again at all shows the key came back from /oem.
    let back = shadow_hash(&lab, "node1");
    assert!(
        crypt_accepts(&back, password),
        "the installer's password is not back"
    );
    assert!(!crypt_accepts(&back, "Runtime-Only-9"));
    let listing = lab.ssh_ok(
        "node1",
        "sudo ls /etc/runtime-note /etc/rancher/persisted-note 2>&1; cat ~/.ssh/authorized_keys",
    );
    assert!(
        listing.contains("'/etc/runtime-note': No such file"),
        "{listing}"
    );
    assert!(
        listing.lines().any(|l| l == "/etc/rancher/persisted-note"),
        "{listing}"
    );
    // rancherd's config persists, but 90_custom.yaml's `files` rewrite it at boot.
    let rancherd = lab.ssh_ok("node1", "sudo cat /etc/rancher/rancherd/config.yaml");
    assert!(!rancherd.contains("# runtime edit"), "{rancherd}");
    assert!(rancherd.contains("role: cluster-init"), "{rancherd}");
    assert!(
        listing.contains("runtime-only"),
        "a runtime key in /home was lost: {listing}"
    );
    assert_eq!(
        listing.matches("harvcred-lab-operator").count(),
        1,
        "{listing}"
    );

    // node2: a password persisted in /oem (clear text, later stage, later file)
    // is what the node has after a reboot, hashed by yip with a 16-char salt.
    put_oem(
        &lab,
        "node2",
        "99_passwd.yaml",
        "stages:\n  initramfs.after:\n  - users:\n      rancher:\n        passwd: Persisted-Pw-7\n",
    );
    reboot_ok(&lab, "node2");
    let hash = shadow_hash(&lab, "node2");
    assert!(crypt_accepts(&hash, "Persisted-Pw-7"), "{hash}");
    assert!(!crypt_accepts(&hash, password));
    assert_eq!(hash.split('$').nth(2).unwrap().len(), 16, "{hash}");
    // A second reboot keeps it (it lives in /oem, not in the runtime).
    reboot_ok(&lab, "node2");
    assert!(crypt_accepts(&shadow_hash(&lab, "node2"), "Persisted-Pw-7"));

    // node3: a tab-indented /oem file (harvester#9519) keeps the node from
    // coming back, and the lab says which file.
    put_oem(
        &lab,
        "node3",
        "95_broken.yaml",
        "stages:\n  initramfs:\n  - users:\n      rancher:\n\t\tpasswd: x\n",
    );
    let out = lab_cmd(&lab, &["reboot", "node3"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("/oem/95_broken.yaml does not parse"), "{err}");
    let status = lab_cmd(&lab, &["status"]);
    let text = String::from_utf8_lossy(&status.stdout);
    assert_eq!(status.status.code(), Some(2), "{text}");
    assert!(text.contains("/oem/95_broken.yaml"), "{text}");
    assert!(text.contains("sshd does not start"), "{text}");
    assert!(!lab.ssh("node3", "true").status.success());
    // The other nodes are not affected.
    lab.ssh_ok("node1", "true");
}

#[test]
fn lab_down_acts_only_on_what_the_lab_made() {
    // A folder whose path would inject into the generated ssh_config is refused.
    let out = Command::new(BIN)
        .args(["lab", "up", "--nodes", "1", "--dir", "/tmp/harvcred lab\"x"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("ssh_config"), "{err}");
    assert!(!std::path::Path::new("/tmp/harvcred lab\"x").exists());

    let lab = Lab::up(&["--nodes", "1"]);
    let record = lab.dir.join("lab.json");
    let original = std::fs::read_to_string(&record).unwrap();
    let tampered = |f: &dyn Fn(&mut serde_json::Value)| {
        let mut v: serde_json::Value = serde_json::from_str(&original).unwrap();
        f(&mut v);
        std::fs::write(&record, serde_json::to_vec_pretty(&v).unwrap()).unwrap();
        let out = lab.down();
        std::fs::write(&record, &original).unwrap();
        assert!(
            !out.status.success(),
            "lab down accepted a tampered lab.json"
        );
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        // Nothing was touched: the node still answers.
        lab.ssh_ok("node1", "true");
        err
    };
    let err = tampered(&|v| v["netns"]["node1"] = "host-services".into());
    assert!(err.contains("\"host-services\" is not this lab's"), "{err}");
    let err = tampered(&|v| v["plan"]["dir"] = "/var/lib".into());
    assert!(err.contains("plan folder is /var/lib"), "{err}");

    std::fs::write(lab.dir.join("operator-notes.txt"), "mine\n").unwrap();
    let id = lab.id();
    let out = lab.down();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(common::leftovers(&id, &lab.dir), Vec::<String>::new());
    let left: Vec<String> = std::fs::read_dir(&lab.dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(left, vec!["operator-notes.txt".to_string()]);
}

/// Wait, with a deadline, until `check` holds.
fn wait_until(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !check() {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

fn condition(ci: &serde_json::Value, node: &str, kind: &str) -> String {
    ci["status"]["rollouts"][node]["conditions"]
        .as_array()
        .and_then(|a| a.iter().find(|c| c["type"] == kind))
        .and_then(|c| c["status"].as_str())
        .unwrap_or("")
        .to_string()
}

#[test]
fn a_cloudinit_lands_on_matching_nodes_is_kept_and_applies_at_reboot() {
    let lab = Lab::up(&["--nodes", "2"]);
    let password = std::fs::read_to_string(lab.dir.join("rancher-password")).unwrap();
    let password = password.trim().to_string();
    let manifest = "apiVersion: node.harvesterhci.io/v1beta1\nkind: CloudInit\nmetadata:\n  name: rancher-password\nspec:\n  matchSelector:\n    kubernetes.io/hostname: node2\n  filename: 99_passwd\n  contents: |\n    stages:\n      initramfs.after:\n      - users:\n          rancher:\n            passwd: Cloudinit-Pw-3\n";
    let out = common::output_with_stdin(
        Command::new("kubectl")
            .env("KUBECONFIG", lab.kubeconfig())
            .args(["apply", "-f", "-"]),
        manifest.as_bytes(),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let on = |node: &str| lab.ssh(node, "sudo cat /oem/99_passwd.yaml");
    wait_until("the file on node2", || on("node2").status.success());
    assert!(String::from_utf8_lossy(&on("node2").stdout).contains("Cloudinit-Pw-3"));
    assert!(
        !on("node1").status.success(),
        "node1 does not match the selector"
    );
    let get = || -> serde_json::Value {
        serde_json::from_str(&lab.kubectl_ok(&[
            "get",
            "cloudinit",
            "rancher-password",
            "-o",
            "json",
        ]))
        .unwrap()
    };
    wait_until("the rollout status", || {
        let ci = get();
        condition(&ci, "node2", "Present") == "True"
            && condition(&ci, "node2", "Applicable") == "True"
            && condition(&ci, "node2", "OutOfSync") == "False"
            && condition(&ci, "node1", "Applicable") == "False"
            && condition(&ci, "node1", "Present") == "False"
    });
    // Nothing applies until the node reboots.
    assert!(crypt_accepts(&shadow_hash(&lab, "node2"), &password));

    // A manual edit is put back.
    lab.ssh_ok(
        "node2",
        "echo 'stages: {}' | sudo tee /oem/99_passwd.yaml >/dev/null",
    );
    wait_until("the edit to be reverted", || {
        String::from_utf8_lossy(&on("node2").stdout).contains("Cloudinit-Pw-3")
    });

    reboot_ok(&lab, "node2");
    let hash = shadow_hash(&lab, "node2");
    assert!(crypt_accepts(&hash, "Cloudinit-Pw-3"), "{hash}");
    assert!(!crypt_accepts(&hash, &password));
    assert!(crypt_accepts(&shadow_hash(&lab, "node1"), &password));

    // Deleting the resource removes the file and rolls nothing back.
    lab.kubectl_ok(&["delete", "cloudinit", "rancher-password"]);
    wait_until("the file to go", || !on("node2").status.success());
    assert!(crypt_accepts(&shadow_hash(&lab, "node2"), "Cloudinit-Pw-3"));
}

#[test]
fn older_layouts_and_a_cloudinit_password_boot_the_same_way() {
    let lab = Lab::up(&[
        "--nodes",
        "2",
        "--scenario",
        "old-layout",
        "--scenario",
        "cloudinit-password",
    ]);
    let in_force = std::fs::read_to_string(lab.dir.join("rancher-password")).unwrap();
    let in_force = in_force.trim();
    let check = |node: &str| {
        let oem = lab.ssh_ok(node, "sudo ls /oem");
        assert!(oem.lines().any(|l| l == "99_custom.yaml"), "{oem}");
        assert!(!oem.contains("90_custom.yaml"), "{oem}");
        // The key comes from the initramfs stage and from users.rancher, once.
        let keys = lab.ssh_ok(node, "cat ~/.ssh/authorized_keys");
        assert_eq!(keys.matches("harvcred-lab-operator").count(), 1, "{keys}");
        let layout = lab.ssh_ok(node, "cat /run/cos/cos-layout.env");
        assert!(
            layout.contains("RW_PATHS=\"/var /etc /srv /boot\""),
            "{layout}"
        );
        // The CloudInit's later stage wins over the installer's password.
        let hash = shadow_hash(&lab, node);
        assert!(crypt_accepts(&hash, in_force), "{node}: {hash}");
        let passwd = lab.ssh_ok(node, "sudo cat /oem/99_passwd.yaml");
        assert!(passwd.contains(&hash), "{passwd}");
        let custom = lab.ssh_ok(node, "sudo cat /oem/99_custom.yaml");
        assert!(custom.contains("passwd: $6$") && !custom.contains(&hash));
    };
    check("node1");
    check("node2");
    let rancherd = lab.ssh_ok("node2", "sudo cat /etc/rancher/rancherd/config.yaml");
    assert!(rancherd.contains("role: agent"), "{rancherd}");
    let ci = lab.kubectl_ok(&["get", "cloudinit", "rancher-password", "-o", "json"]);
    let ci: serde_json::Value = serde_json::from_str(&ci).unwrap();
    assert_eq!(ci["spec"]["filename"], "99_passwd.yaml");
    reboot_ok(&lab, "node1");
    check("node1");
    // A reboot from inside the node, as an operator does it.
    let _ = lab.ssh("node2", "sudo systemctl reboot");
    wait_until("node2 to boot again", || {
        let boot = &lab.record()["boots"]["node2"];
        boot["count"] == 2 && boot["state"] == "up"
    });
    check("node2");
}
