//! `:password` in a real terminal (tmux) against a lab: the selected node
//! only, the password typed twice (masked), preview, dry run, `y`; the node's
//! log beside the form; the summary; then a real PAM check on the nodes:
//! the new password works on the changed node, not on the other. Neither
//! the password nor its hash shows anywhere (the secrets scan, with the
//! console logging at debug). Needs root.

mod common;

use std::path::Path;
use std::time::Duration;

use common::secrets::{Kind, SecretScan, Sentinel};
use common::tmux::Tmux;
use common::{BIN, Home, Lab};

const TAG: &str = "pwconsole";

#[test]
fn console_password_walk_changes_only_the_selected_node() {
    let lab = Lab::up(&["--nodes", "2"]);
    let installer = std::fs::read_to_string(lab.dir.join("rancher-password"))
        .unwrap()
        .trim_end()
        .to_string();
    assert!(lab.pam_accepts("node2", &installer));
    let sentinel = Sentinel::new(Kind::Password);
    let new = sentinel.value();
    let mut scan = SecretScan::start(&lab, &[&sentinel]);
    let home = Home::new("hcpwc");
    let (state, config) = (home.0.path().join("state"), home.0.path().join("config"));
    let env = [
        ("XDG_STATE_HOME", state.as_path()),
        ("XDG_CONFIG_HOME", config.as_path()),
        ("HARVCRED_LOG", Path::new("harvcred=debug,info")),
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
    t.type_secret(new);
    t.keys(&["Tab"]);
    t.type_secret(new);
    let s = t.wait("both fields typed", Duration::from_secs(15), |s| {
        s.matches(&"•".repeat(new.chars().count())).count() == 2
    });
    assert!(!s.contains(new), "masked\n{s}");
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
    assert!(!s.contains(new), "{s}");
    t.keys(&["Enter", "C-c"]);
    for screen in t.screens_seen() {
        scan.text("a console screen", screen);
    }
    drop(t);

    assert!(
        lab.pam_accepts("node2", new),
        "node2 takes the new password"
    );
    assert!(!lab.pam_accepts("node2", &installer));
    assert!(lab.pam_accepts("node1", &installer), "node1 is unchanged");
    assert!(!lab.pam_accepts("node1", new));
    assert!(
        home.state_dir().join("harvcred.log").exists(),
        "the console logged"
    );
    scan.add(Sentinel::password_hash(&lab, "node2"));
    scan.finish(&home, "password_console");
}
