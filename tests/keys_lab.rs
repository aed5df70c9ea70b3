//! `harvcred keys` against real lab nodes: keys added and removed at runtime
//! and in every persisted source stay so across a real reboot (yip appends
//! every /oem key at boot), logins are checked with fresh ssh connections
//! that offer one key only, and the lockout rule refuses without touching
//! anything. Needs root (the lab); run with `scripts/dev test`.

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{BIN, Lab, fingerprint, keygen};

/// harvcred with its own config and state (the audit log) in `home`.
fn hc(lab: &Lab, home: &Path, args: &[&str]) -> (i32, String, String) {
    hc_env(lab, home, &[], args)
}

fn hc_env(lab: &Lab, home: &Path, env: &[(&str, &Path)], args: &[&str]) -> (i32, String, String) {
    let out = Command::new(BIN)
        .arg("--lab")
        .arg(&lab.dir)
        .args(args)
        .envs(env.iter().copied())
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env("XDG_STATE_HOME", home.join("state"))
        .env("XDG_RUNTIME_DIR", home)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

/// Offers `extra` too in the lab's ssh_config (after the operator's key),
/// as an operator does with a new key: harvcred and `lab reboot` (which
/// waits for a node by logging in through this file) still reach a node
/// whose operator key was removed.
fn offer_key_too(lab: &Lab, extra: &Path) {
    let text = std::fs::read_to_string(lab.ssh_config()).unwrap();
    let mut out = String::new();
    for line in text.lines() {
        out.push_str(line);
        out.push('\n');
        if line.trim_start().starts_with("IdentityFile ") {
            out.push_str(&format!("  IdentityFile {}\n", extra.display()));
        }
    }
    std::fs::write(lab.ssh_config(), out).unwrap();
}

fn on_disk(lab: &Lab, node: &str, rel: &str) -> Vec<u8> {
    std::fs::read(lab.dir.join("nodes").join(node).join(rel)).unwrap_or_default()
}

const RUNTIME: &str = "upper/home/rancher/.ssh/authorized_keys";

fn runtime_fps(lab: &Lab, node: &str) -> BTreeSet<String> {
    let text = String::from_utf8(on_disk(lab, node, RUNTIME)).unwrap();
    harvcred::creds::keys::parse_authorized_keys(&text)
        .entries
        .into_iter()
        .map(|k| k.fingerprint)
        .collect()
}

fn oem_files(lab: &Lab, node: &str) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<(String, Vec<u8>)> =
        std::fs::read_dir(lab.dir.join("nodes").join(node).join("oem"))
            .unwrap()
            .flatten()
            .filter(|e| e.path().is_file())
            .map(|e| {
                (
                    e.file_name().to_string_lossy().into_owned(),
                    std::fs::read(e.path()).unwrap(),
                )
            })
            .collect();
    v.sort();
    v
}

/// On 3 nodes: the refusal that changes nothing, add to all, remove the
/// operator's key from node2 after proving the new one, a per-node
/// CloudInit key removed again, a reboot of every node, then who gets in.
#[test]
fn keys_added_and_removed_stay_so_after_a_reboot_and_nobody_is_locked_out() {
    let lab = Lab::up(&["--nodes", "3"]);
    let home = tempfile::tempdir().unwrap();
    let keys = tempfile::tempdir().unwrap();
    let operator = lab.dir.join("id_ed25519");
    let old = fingerprint(&operator);
    let new = keygen(keys.path(), "new");
    let third = keygen(keys.path(), "third");
    let new_fp = fingerprint(&new);

    // Refused: the key harvcred logs in with, nothing proven. Nothing changes:
    // no API write, node2's files byte for byte, no backup.
    let mark = lab.api_log_mark();
    let before_keys = on_disk(&lab, "node2", RUNTIME);
    let before_oem = oem_files(&lab, "node2");
    let (code, out, err) = hc(
        &lab,
        home.path(),
        &[
            "keys",
            "remove",
            "--fingerprint",
            &old,
            "--node",
            "node2",
            "--yes",
        ],
    );
    assert_eq!(code, 2, "{out}{err}");
    assert!(err.contains("logged in with"), "{err}");
    let writes: Vec<_> = lab
        .api_requests()
        .into_iter()
        .skip(mark)
        .filter(|r| {
            ["create", "update", "patch", "delete"].contains(&r["verb"].as_str().unwrap_or(""))
        })
        .collect();
    assert!(writes.is_empty(), "{writes:?}");
    assert_eq!(on_disk(&lab, "node2", RUNTIME), before_keys);
    assert_eq!(oem_files(&lab, "node2"), before_oem);
    assert!(
        !lab.dir.join("nodes/node2/oem/install").exists() || {
            std::fs::read_dir(lab.dir.join("nodes/node2/oem/install"))
                .unwrap()
                .count()
                == 0
        }
    );

    // A key the node does not have proves nothing (the operator's key that
    // the lab's ssh config offers must not log in in its place).
    let (code, out, err) = hc(
        &lab,
        home.path(),
        &[
            "keys",
            "remove",
            "--fingerprint",
            &old,
            "--node",
            "node2",
            "--prove-with",
            third.to_str().unwrap(),
            "--yes",
        ],
    );
    assert_eq!(code, 2, "{out}{err}");
    assert!(err.contains("not proven"), "{err}");
    assert!(lab.accepts_key("node2", &operator));

    // Add to every node (one CloudInit for all), then log in with it.
    let pubfile = new.with_extension("pub");
    let (code, out, err) = hc(
        &lab,
        home.path(),
        &[
            "keys",
            "add",
            "--all",
            "--key-file",
            pubfile.to_str().unwrap(),
            "--yes",
        ],
    );
    assert_eq!(code, 0, "{out}{err}");
    for n in ["node1", "node2", "node3"] {
        assert!(lab.accepts_key(n, &new), "{n} accepts the new key");
    }
    offer_key_too(&lab, &new);

    // Remove the operator's key from node2, the new one proven first.
    let (code, out, err) = hc(
        &lab,
        home.path(),
        &[
            "keys",
            "remove",
            "--fingerprint",
            &old,
            "--node",
            "node2",
            "--prove-with",
            new.to_str().unwrap(),
            "--yes",
        ],
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("proven by a fresh login"), "{out}");
    assert!(out.contains("/oem/90_custom.yaml: remove"), "{out}");

    // A key only on node3, in its own CloudInit; removed again from there.
    let (code, out, err) = hc(
        &lab,
        home.path(),
        &[
            "keys",
            "add",
            "--node",
            "node3",
            "--key-file",
            third.with_extension("pub").to_str().unwrap(),
            "--yes",
        ],
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(lab.accepts_key("node3", &third));
    let third_fp = fingerprint(&third);
    let (code, out, err) = hc(
        &lab,
        home.path(),
        &[
            "keys",
            "remove",
            "--fingerprint",
            &third_fp,
            "--node",
            "node3",
            "--yes",
        ],
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("CloudInit harvcred-keys-node3"), "{out}");
    let ci = lab.kubectl_ok(&[
        "get",
        "cloudinits.node.harvesterhci.io",
        "harvcred-keys-node3",
        "-o",
        "jsonpath={.spec.contents}",
    ]);
    let third_pub = std::fs::read_to_string(third.with_extension("pub")).unwrap();
    let third_blob = third_pub.split_whitespace().nth(1).unwrap();
    assert!(!ci.contains(third_blob), "{ci}");

    // The audit names nodes, steps and fingerprints, never private material.
    let audit = std::fs::read_to_string(home.path().join("state/harvcred/audit.jsonl")).unwrap();
    let lines: Vec<serde_json::Value> = audit
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(
        lines.iter().any(|l| l["action"] == "keys.remove"
            && l["node"] == "node2"
            && l["step"] == "verify"
            && l["result"] == "verified"
            && l["old"][0] == old.as_str()),
        "{audit}"
    );
    assert!(
        lines.iter().any(|l| l["action"] == "keys.remove"
            && l["result"] == "refused"
            && l["detail"].as_str().unwrap().contains("logged in with")),
        "{audit}"
    );
    assert!(!audit.contains("PRIVATE"), "{audit}");

    lab.reboot(&["node1", "node2", "node3"]);
    assert!(
        !lab.accepts_key("node2", &operator),
        "node2 refuses the removed key after a reboot"
    );
    assert!(lab.accepts_key("node2", &new));
    for n in ["node1", "node3"] {
        assert!(
            lab.accepts_key(n, &operator),
            "{n} still accepts the operator's key"
        );
        assert!(lab.accepts_key(n, &new), "{n} accepts the new key");
    }
    assert!(
        !lab.accepts_key("node3", &third),
        "the CloudInit key stays gone after a reboot"
    );

    // The matrix: both keys where they belong, no drift.
    let (code, out, err) = hc(&lab, home.path(), &["keys", "list", "--json"]);
    assert_eq!(code, 0, "{out}{err}");
    let j: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(j["drift"], false, "{j:#}");
    let row = |fp: &str| {
        j["keys"]
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["fingerprint"] == fp)
            .unwrap_or_else(|| panic!("{fp} not in {j:#}"))
            .clone()
    };
    assert_eq!(row(&old)["nodes"]["node2"]["runtime"], false);
    assert_eq!(row(&old)["nodes"]["node1"]["runtime"], true);
    assert_eq!(row(&new_fp)["nodes"]["node2"]["runtime"], true);
    assert!(
        j["keys"]
            .as_array()
            .unwrap()
            .iter()
            .all(|k| k["fingerprint"] != third_fp)
    );
}

/// Older layout: the operator's key only in `initramfs[0].authorized_keys`
/// and `users.rancher.ssh_authorized_keys`; removing it removes it there,
/// and a reboot does not bring it back. Then a link cut during a removal on
/// node2 leaves it with the keys it had or exactly the planned ones.
#[test]
fn old_layout_sources_are_edited_and_a_cut_never_leaves_fewer_keys() {
    let lab = Lab::up(&["--nodes", "2", "--scenario", "old-layout"]);
    let home = tempfile::tempdir().unwrap();
    let keys = tempfile::tempdir().unwrap();
    let operator = lab.dir.join("id_ed25519");
    let old = fingerprint(&operator);
    let new = keygen(keys.path(), "new");
    let new_fp = fingerprint(&new);
    let pubfile = new.with_extension("pub");
    let (code, out, err) = hc(
        &lab,
        home.path(),
        &[
            "keys",
            "add",
            "--all",
            "--key-file",
            pubfile.to_str().unwrap(),
            "--yes",
        ],
    );
    assert_eq!(code, 0, "{out}{err}");
    offer_key_too(&lab, &new);

    // The new key proven through the agent this time (its .pub named).
    let sock = keys.path().join("agent.sock");
    let mut agent = Command::new("ssh-agent")
        .arg("-D")
        .arg("-a")
        .arg(&sock)
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !sock.exists() {
        assert!(Instant::now() < deadline, "ssh-agent did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    let added = Command::new("ssh-add")
        .arg(&new)
        .env("SSH_AUTH_SOCK", &sock)
        .output()
        .unwrap();
    assert!(added.status.success(), "{added:?}");
    let (code, out, err) = hc_env(
        &lab,
        home.path(),
        &[("SSH_AUTH_SOCK", &sock)],
        &[
            "keys",
            "remove",
            "--fingerprint",
            &old,
            "--node",
            "node1",
            "--prove-with",
            pubfile.to_str().unwrap(),
            "--yes",
        ],
    );
    agent.kill().unwrap();
    agent.wait().unwrap();
    assert_eq!(code, 0, "{out}{err}");
    lab.reboot(&["node1"]);
    assert!(!lab.accepts_key("node1", &operator), "{out}");
    assert!(lab.accepts_key("node1", &new));
    for (name, content) in oem_files(&lab, "node1") {
        let text = String::from_utf8_lossy(&content);
        let fps: Vec<String> = harvcred::creds::oem::parse_oem(&text)
            .map(|c| {
                c.rancher_keys()
                    .entries
                    .into_iter()
                    .map(|k| k.fingerprint)
                    .collect()
            })
            .unwrap_or_default();
        assert!(!fps.contains(&old), "{name} still has the key");
    }

    // node2: cut its link as soon as the first persisted source is written.
    let before = runtime_fps(&lab, "node2");
    let planned: BTreeSet<String> = before.iter().filter(|f| **f != old).cloned().collect();
    assert!(before.contains(&old) && before.contains(&new_fp));
    let veth = format!("{}n2", lab.id());
    let install = lab.dir.join("nodes/node2/oem/install");
    let count = |p: &Path| std::fs::read_dir(p).map(|d| d.count()).unwrap_or(0);
    let backups = count(&install);
    let watcher = {
        let install = install.clone();
        let veth = veth.clone();
        std::thread::spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(60);
            while count(&install) == backups && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(5));
            }
            let link = |s: &str| {
                Command::new("ip")
                    .args(["link", "set", &veth, s])
                    .status()
                    .unwrap()
            };
            link("down");
            // Longer than a mux operation may take (8 s): the step under way fails.
            std::thread::sleep(Duration::from_secs(10));
            link("up");
        })
    };
    let (code, out, err) = hc(
        &lab,
        home.path(),
        &[
            "keys",
            "remove",
            "--fingerprint",
            &old,
            "--node",
            "node2",
            "--prove-with",
            new.to_str().unwrap(),
            "--yes",
        ],
    );
    watcher.join().unwrap();
    eprintln!("the cut removal exited {code}: {out}{err}");
    assert!([0, 1, 3].contains(&code), "{code} {out}{err}");
    let after = runtime_fps(&lab, "node2");
    assert!(
        after.is_superset(&before) || after == planned,
        "node2 has {after:?}: neither all of {before:?} nor exactly {planned:?}"
    );
    // Running it again finishes the job.
    let (code, out, err) = hc(
        &lab,
        home.path(),
        &[
            "keys",
            "remove",
            "--fingerprint",
            &old,
            "--node",
            "node2",
            "--prove-with",
            new.to_str().unwrap(),
            "--yes",
        ],
    );
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(runtime_fps(&lab, "node2"), planned);
}
