//! `:keys` add and remove in a real terminal (tmux) against a lab: with
//! node2 selected, `a`, a public key pasted (bracketed paste) and another
//! named by its .pub file, preview, dry run, `y`; node2's runtime
//! authorized_keys and its CloudInit-written /oem file hold both keys (as
//! `harvcred keys list` shows), node1 does not, and
//! the matrix shows it once read again; then `d` on that key removes it
//! from node2, runtime and persisted. Needs root (the lab).

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::tmux::Tmux;
use common::{BIN, Lab, fingerprint, keygen};

const TAG: &str = "keyswalk";

/// `harvcred keys list --json` with the console's own config and state.
fn keys_list(lab: &Lab, env: &[(&str, &Path)]) -> serde_json::Value {
    let out = Command::new(BIN)
        .arg("--lab")
        .arg(&lab.dir)
        .args(["keys", "list", "--json"])
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("keys list: {e}\n{}", String::from_utf8_lossy(&out.stderr)))
}

/// Where `fp` is on `node` in the list: (runtime, persisted sources).
fn on_node(list: &serde_json::Value, fp: &str, node: &str) -> (bool, usize) {
    let Some(row) = list["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["fingerprint"] == fp)
    else {
        return (false, 0);
    };
    let cell = &row["nodes"][node];
    (
        cell["runtime"] == true,
        cell["sources"].as_array().map_or(0, Vec::len),
    )
}

#[test]
fn console_keys_adds_a_pasted_key_on_node2_and_removes_it_with_d() {
    let lab = Lab::up(&["--nodes", "2"]);
    let tmp = tempfile::tempdir().unwrap();
    let key = keygen(tmp.path(), "console-walk");
    let public = std::fs::read_to_string(key.with_extension("pub")).unwrap();
    let fp = fingerprint(&key.with_extension("pub"));
    // A second key comes from its .pub file, named in the form.
    let key2 = keygen(tmp.path(), "from-file");
    let pub2 = key2.with_extension("pub");
    let public2 = std::fs::read_to_string(&pub2).unwrap();
    let fp2 = fingerprint(&pub2);

    let (state, config) = (tmp.path().join("state"), tmp.path().join("config"));
    let env = [
        ("XDG_STATE_HOME", state.as_path()),
        ("XDG_CONFIG_HOME", config.as_path()),
    ];
    let cmd = format!("{BIN} --lab {}; sleep 30", lab.dir.display());
    let t = Tmux::start(TAG, &cmd, &env);
    t.wait("both nodes", Duration::from_secs(30), |s| {
        s.contains("node1") && s.contains("node2")
    });
    // node2 selected, nothing marked: the walk is for node2 alone.
    t.keys(&["j"]);
    t.command("keys");
    t.wait("both nodes' keys", Duration::from_secs(60), |s| {
        s.contains("on 2 nodes")
    });

    t.keys(&["a"]);
    let s = t.wait("the add form", Duration::from_secs(30), |s| {
        s.contains("keys.add · edit")
    });
    assert!(s.contains("marked nodes: node2"), "{s}");
    t.tmux(&["set-buffer", "-b", "k", &public]);
    t.tmux(&["paste-buffer", "-p", "-b", "k"]);
    t.wait("the pasted key", Duration::from_secs(15), |s| {
        s.contains("console-walk")
    });
    t.keys(&["Tab"]);
    t.text(&pub2.display().to_string());
    t.wait("the key file typed", Duration::from_secs(15), |s| {
        s.contains("from-file.pub")
    });
    // The file is read with the nodes, then the preview.
    t.keys(&["Enter"]);
    let s = t.wait("the preview", Duration::from_secs(10), |s| {
        s.contains("keys.add · preview")
    });
    assert!(s.contains("harvcred-keys-node2"), "{s}");
    t.keys(&["Enter"]);
    t.wait("the dry run to pass", Duration::from_secs(30), |s| {
        s.contains("keys.add · confirm")
    });
    t.keys(&["y"]);
    let s = t.wait("the summary", Duration::from_secs(120), |s| {
        s.contains("keys.add · done")
    });
    assert!(s.contains("node2  verified"), "{s}");
    assert!(s.contains("logs node2"), "node2's log beside the form\n{s}");

    // On the nodes: node2 has it at runtime and persisted, node1 not at all.
    let runtime = lab.ssh_ok("node2", "cat ~/.ssh/authorized_keys");
    assert!(runtime.contains(public.trim()), "{runtime}");
    let persisted = lab.ssh_ok("node2", "sudo -n cat /oem/95_harvcred_keys_node2.yaml");
    assert!(persisted.contains(public.trim()), "{persisted}");
    assert!(runtime.contains(public2.trim()), "{runtime}");
    assert!(persisted.contains(public2.trim()), "{persisted}");
    let list = keys_list(&lab, &env);
    assert_eq!(on_node(&list, &fp, "node2"), (true, 1), "{list:#}");
    assert_eq!(on_node(&list, &fp, "node1"), (false, 0), "{list:#}");
    assert_eq!(on_node(&list, &fp2, "node2"), (true, 1), "{list:#}");

    // Closed: back to the matrix, read again, the key under the cursor.
    t.keys(&["Enter"]);
    t.wait(
        "the matrix with the new key",
        Duration::from_secs(60),
        |s| s.contains("SSH keys") && s.contains(&fp),
    );
    let rows_above = {
        let s = t.screen();
        let lines: Vec<&str> = s.lines().collect();
        let header = lines.iter().position(|l| l.contains("KEY")).unwrap();
        let at = lines.iter().position(|l| l.contains(&fp)).unwrap();
        at - header - 1
    };
    for _ in 0..rows_above {
        t.keys(&["j"]);
    }
    t.keys(&["d"]);
    let s = t.wait("the remove form", Duration::from_secs(30), |s| {
        s.contains("keys.remove · edit")
    });
    assert!(s.contains(&format!("remove {fp}")), "{s}");
    assert!(s.contains("marked nodes: node2"), "{s}");
    t.keys(&["Enter"]);
    let s = t.wait("the preview", Duration::from_secs(10), |s| {
        s.contains("keys.remove · preview")
    });
    assert!(s.contains("harvcred-keys-node2"), "{s}");
    t.keys(&["Enter"]);
    t.wait("the dry run to pass", Duration::from_secs(30), |s| {
        s.contains("keys.remove · confirm")
    });
    t.keys(&["y"]);
    let s = t.wait("the summary", Duration::from_secs(120), |s| {
        s.contains("keys.remove · done")
    });
    assert!(s.contains("node2  verified"), "{s}");
    t.keys(&["Enter", "C-c"]);
    drop(t);

    let runtime = lab.ssh_ok("node2", "cat ~/.ssh/authorized_keys");
    assert!(!runtime.contains(public.trim()), "{runtime}");
    let list = keys_list(&lab, &env);
    assert_eq!(on_node(&list, &fp, "node2"), (false, 0), "{list:#}");
    assert_eq!(
        on_node(&list, &fp2, "node2"),
        (true, 1),
        "only the chosen key went"
    );
    let audit = std::fs::read_to_string(state.join("harvcred/audit.jsonl")).unwrap();
    for action in ["keys.add", "keys.remove"] {
        assert!(
            audit.lines().any(|l| l.contains(action) && l.contains(&fp)),
            "{action} with {fp}:\n{audit}"
        );
    }
}
