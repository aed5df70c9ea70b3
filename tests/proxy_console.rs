//! The `:proxy` form in a real terminal (tmux) against a lab: an uncovered
//! node IP shows Harvester's message at the noProxy field and nothing is
//! sent; fixed, previewed (password masked), dry-run, confirmed, and kubectl
//! shows the new value. Needs root (the lab).

mod common;

use std::time::Duration;

use common::tmux::{Tmux, flat, wait_for};

const TAG: &str = "proxy";
use common::{BIN, Lab};

#[test]
fn proxy_form_refuses_an_uncovered_node_then_applies_the_fixed_value() {
    let lab = Lab::up(&["--nodes", "3"]);
    let ips = lab.node_ips();
    let tmp = tempfile::tempdir().unwrap();
    let (state, config) = (tmp.path().join("state"), tmp.path().join("config"));
    let env = [
        ("XDG_STATE_HOME", state.as_path()),
        ("XDG_CONFIG_HOME", config.as_path()),
    ];
    let cmd = format!("{BIN} --lab {}; sleep 30", lab.dir.display());
    let t = Tmux::start(TAG, &cmd, &env);
    t.wait("the API", Duration::from_secs(15), |s| s.contains("API ok"));

    t.command("proxy");
    t.wait("the form", Duration::from_secs(10), |s| {
        s.contains("http-proxy · edit")
    });
    t.text("http://admin:FormS3cret@proxy.corp:3128");
    // Shown masked while typed.
    let s = t.wait("the masked URL", Duration::from_secs(15), |s| {
        s.contains("http://admin:***@proxy.corp:3128")
    });
    assert!(!s.contains("FormS3cret"), "{s}");

    // noProxy without the third node: Harvester's message at the field.
    t.keys(&["BTab"]);
    t.text(&format!("{},{}", ips[0], ips[1]));
    let msg = format!(
        "noProxy should contain the node's IP addresses or CIDR. The node(s) {} are not covered.",
        ips[2]
    );
    t.wait("Harvester's message", Duration::from_secs(15), |s| {
        flat(s).contains(&msg)
    });
    let mark = lab.api_log_mark();
    let audit = state.join("harvcred/audit.jsonl");
    t.keys(&["Enter"]);
    // The refusal is audited after the decision; once it is there, a patch
    // sent for it would be in the request log.
    wait_for("the refusal in the audit log", || {
        std::fs::read_to_string(&audit).is_ok_and(|a| a.contains(r#""result":"refused""#))
    });
    let s = t.screen();
    assert!(
        s.contains("http-proxy · edit"),
        "refused: stays in the form\n{s}"
    );
    assert!(
        s.contains(&format!("{},{}", ips[0], ips[1])),
        "what was typed is kept\n{s}"
    );
    assert_eq!(
        lab.api_writes_since(mark, "settings.harvesterhci.io", "http-proxy"),
        Vec::<serde_json::Value>::new(),
        "nothing was sent"
    );
    let rv0 = lab.kubectl_ok(&[
        "get",
        "settings.harvesterhci.io",
        "http-proxy",
        "-o",
        "jsonpath={.metadata.resourceVersion}",
    ]);

    // Fixed: the message goes; preview, dry run, confirm.
    t.text(&format!(",{}", ips[2]));
    t.wait("the message gone", Duration::from_secs(15), |s| {
        !flat(s).contains("are not covered")
    });
    t.keys(&["Enter"]);
    let s = t.wait("the preview", Duration::from_secs(15), |s| {
        s.contains("http-proxy · preview")
    });
    assert!(s.contains("RKE2 restarts on every node"), "{s}");
    assert!(!s.contains("FormS3cret"), "{s}");
    t.keys(&["Enter"]);
    t.wait("the dry run to pass", Duration::from_secs(10), |s| {
        s.contains("http-proxy · confirm")
    });
    t.keys(&["y"]);
    // Applying restarts RKE2: a management node's rke2-server log follows
    // beside the form while the change is checked.
    let s = t.wait("the log beside the form", Duration::from_secs(20), |s| {
        s.contains("logs node1 · rke2-server") && s.contains("http-proxy ·")
    });
    assert!(s.contains("following"), "{s}");
    t.wait("configured", Duration::from_secs(60), |s| {
        s.contains("applied; the cluster reports it configured")
    });
    let sent: Vec<(bool, &str, u64)> = lab
        .api_writes_since(mark, "settings.harvesterhci.io", "http-proxy")
        .iter()
        .map(|r| {
            (
                r["dryRun"].as_bool().unwrap(),
                r["resourceVersion"].as_str().unwrap_or(""),
                r["code"].as_u64().unwrap(),
            )
        })
        .map(|(d, v, c)| (d, if v == rv0 { "read" } else { "other" }, c))
        .collect();
    assert_eq!(
        sent,
        vec![(true, "read", 200), (false, "read", 200)],
        "a dry run, then one patch conditioned on the version read ({rv0})"
    );
    let v = lab.setting_value("http-proxy");
    assert!(v.contains("http://admin:FormS3cret@proxy.corp:3128"), "{v}");
    assert!(
        v.contains(&format!("{},{},{}", ips[0], ips[1], ips[2])),
        "{v}"
    );
    t.keys(&["Enter", "C-c"]);
    drop(t);
    for f in ["harvcred/audit.jsonl", "harvcred/harvcred.log"] {
        let text = std::fs::read_to_string(state.join(f)).unwrap();
        assert!(!text.contains("FormS3cret"), "{f}:\n{text}");
    }
    let audit = std::fs::read_to_string(state.join("harvcred/audit.jsonl")).unwrap();
    assert!(audit.contains(r#""result":"refused""#), "{audit}");
    assert!(audit.contains(r#""result":"verified""#), "{audit}");
}
