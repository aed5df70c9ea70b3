//! The examples in assets/ are what an operator copies: they must load with
//! harvcred's own readers and say what harvcred does by default.

use std::path::Path;

use harvcred::app::logpane::DEFAULT_LINES;
use harvcred::cluster::load_inventory;
use harvcred::config::Config;
use harvcred::creds::level::Thresholds;

fn asset(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("assets")
        .join(name)
}

#[test]
fn example_config_loads_and_holds_the_defaults() {
    let c = Config::load(&asset("config.example.toml")).unwrap();
    assert_eq!(c.theme.as_deref(), Some("dark"));
    assert!(!c.read_only);
    assert_eq!(c.ssh_user.as_deref(), Some("rancher"));
    assert_eq!(c.probe_interval_secs, Some(3));
    assert_eq!(
        c.sweep_interval_secs, None,
        "sweeps are on `r` unless asked for"
    );
    assert_eq!(c.log_lines, Some(DEFAULT_LINES));
    assert_eq!(c.certificates, Thresholds::default());
    assert_eq!(c.inventory, None);
}

#[test]
fn example_inventory_loads_with_its_roles() {
    let nodes = load_inventory(&asset("nodes.example.toml")).unwrap();
    let summary: Vec<(String, String, String)> = nodes
        .iter()
        .map(|n| {
            (
                n.name.clone(),
                n.address.clone().unwrap_or_default(),
                format!("{:?}", n.role),
            )
        })
        .collect();
    assert_eq!(summary.len(), 4, "{summary:?}");
    assert_eq!(summary[0].0, "harvester-1");
    assert_eq!(summary[0].1, "10.0.0.11");
    assert_eq!(summary[3].2, "Worker", "{summary:?}");
}

/// What harvcred sends to nodes, as the shell files it is built from and as
/// the complete script it sends.
fn shell_texts() -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = ["gather.sh", "journal-wrapper.sh"]
        .iter()
        .map(|n| {
            (
                n.to_string(),
                std::fs::read_to_string(asset(n)).unwrap_or_else(|e| panic!("assets/{n}: {e}")),
            )
        })
        .collect();
    v.push((
        "gather script as sent".into(),
        harvcred::node::gather::script(),
    ));
    v.push((
        "journal wrapper as sent".into(),
        harvcred::node::stream::WRAPPER.to_string(),
    ));
    v
}

#[test]
fn what_is_sent_to_nodes_is_the_shell_files_and_parses_as_sh() {
    assert_eq!(
        harvcred::node::stream::WRAPPER,
        std::fs::read_to_string(asset("journal-wrapper.sh")).unwrap()
    );
    assert!(harvcred::node::gather::script().ends_with(harvcred::node::gather::SCRIPT_BODY));
    for (name, text) in shell_texts() {
        let out = std::process::Command::new("sh")
            .args(["-n", "-c", &text])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{name} does not parse as sh: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn what_is_sent_to_nodes_passes_shellcheck() {
    for (name, text) in shell_texts() {
        let mut child = std::process::Command::new("shellcheck")
            .args(["--shell=sh", "-"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("shellcheck: {e} (scripts/dev setup installs it)"));
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "shellcheck finds fault with {name}:\n{}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
}
