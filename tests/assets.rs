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
