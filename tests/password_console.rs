//! `:password` in a real terminal (tmux) against a lab: the selected node
//! only, the password typed twice (masked), preview, dry run, `y`; the node's
//! log beside the form; the summary; then a real PAM check on the nodes:
//! the new password works on the changed node, not on the other. Needs root.

mod common;

use std::time::Duration;

use common::tmux::Tmux;
use common::{BIN, Lab};

const TAG: &str = "pwconsole";
const NEW: &str = "Console-Sentinel-4k9w";

#[test]
fn console_password_walk_changes_only_the_selected_node() {
    let lab = Lab::up(&["--nodes", "2"]);
    let installer = std::fs::read_to_string(lab.dir.join("rancher-password"))
        .unwrap()
        .trim_end()
        .to_string();
    assert!(lab.pam_accepts("node2", &installer));
    let tmp = tempfile::tempdir().unwrap();
    let (state, config) = (tmp.path().join("state"), tmp.path().join("config"));
    let env = [
        ("XDG_STATE_HOME", state.as_path()),
        ("XDG_CONFIG_HOME", config.as_path()),
    ];
    let cmd = format!("{BIN} --lab {}; sleep 30", lab.dir.display());
    let t = Tmux::start(TAG, &cmd, &env);
    t.wait("the API", Duration::from_secs(15), |s| s.contains("API ok"));
    t.wait("both nodes", Duration::from_secs(15), |s| {
        s.contains("node1") && s.contains("node2")
    });
    // node2 selected, nothing marked: the walk is for node2 alone.
    t.keys(&["j"]);
    t.wait("node2 selected", Duration::from_secs(10), |s| {
        s.contains("▌node2")
    });
    t.command("password");
    let s = t.wait("the form", Duration::from_secs(30), |s| {
        s.contains("password.set · edit")
    });
    assert!(s.contains("marked nodes: node2"), "{s}");
    t.text(NEW);
    t.keys(&["Tab"]);
    t.text(NEW);
    let s = t.wait("both fields typed", Duration::from_secs(15), |s| {
        s.matches(&"•".repeat(NEW.chars().count())).count() == 2
    });
    assert!(!s.contains(NEW), "masked\n{s}");
    t.keys(&["Enter"]);
    let s = t.wait("the preview", Duration::from_secs(10), |s| {
        s.contains("password.set · preview")
    });
    assert!(s.contains("chpasswd"), "{s}");
    t.keys(&["Enter"]);
    t.wait("the dry run to pass", Duration::from_secs(30), |s| {
        s.contains("password.set · confirm")
    });
    t.keys(&["y"]);
    t.wait(
        "node2's log beside the form",
        Duration::from_secs(30),
        |s| s.contains("logs node2") && s.contains("password.set ·"),
    );
    let s = t.wait("the summary", Duration::from_secs(120), |s| {
        s.contains("password.set · done")
    });
    assert!(s.contains("verified"), "{s}");
    assert!(!s.contains(NEW), "{s}");
    t.keys(&["Enter", "C-c"]);
    drop(t);

    assert!(
        lab.pam_accepts("node2", NEW),
        "node2 takes the new password"
    );
    assert!(!lab.pam_accepts("node2", &installer));
    assert!(lab.pam_accepts("node1", &installer), "node1 is unchanged");
    assert!(!lab.pam_accepts("node1", NEW));
    for f in ["harvcred/audit.jsonl", "harvcred/harvcred.log"] {
        let text = std::fs::read_to_string(state.join(f)).unwrap_or_default();
        assert!(!text.contains(NEW), "{f}:\n{text}");
    }
}
