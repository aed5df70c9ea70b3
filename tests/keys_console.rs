//! `:keys` in a real terminal (tmux) against a lab: a key appended to one
//! node's runtime authorized_keys by hand shows as `runtime only` drift on
//! that node alone, and the key harvcred logged in with is marked on every
//! node. Needs root.

mod common;

use std::time::Duration;

use common::tmux::Tmux;
use common::{BIN, Lab, fingerprint, keygen};

const TAG: &str = "keysconsole";

#[test]
fn console_keys_shows_hand_added_drift_and_the_login_key() {
    let lab = Lab::up(&["--nodes", "2"]);
    let tmp = tempfile::tempdir().unwrap();
    let key = keygen(tmp.path(), "by-hand");
    let public = std::fs::read_to_string(key.with_extension("pub")).unwrap();
    let drift_fp = fingerprint(&key.with_extension("pub"));
    let login_fp = fingerprint(&lab.dir.join("id_ed25519.pub"));
    lab.ssh_ok(
        "node2",
        &format!("echo '{}' >> ~/.ssh/authorized_keys", public.trim()),
    );

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
    t.command("keys");
    let s = t.wait("both nodes' keys", Duration::from_secs(60), |s| {
        s.contains("on 2 nodes") && s.contains(&drift_fp) && s.contains(&login_fp)
    });
    let line = |fp: &str| -> Vec<String> {
        s.lines()
            .find(|l| l.contains(fp))
            .unwrap()
            .split_whitespace()
            .map(str::to_string)
            .collect()
    };
    // KEY TYPE node1 node2 DRIFT...
    let drift = line(&drift_fp);
    assert_eq!(drift[2..5], ["-", "R", "runtime"], "{s}");
    let login = line(&login_fp);
    assert!(login[2].ends_with('*') && login[3].ends_with('*'), "{s}");
    t.keys(&["C-c"]);
}
