//! `harvcred proxy` against a lab: refused before sending with Harvester's
//! message, dry run changes nothing, a change applies and kubectl shows it,
//! rollback restores, the 409 and webhook paths of the cluster module, and
//! the proxy password in no process's arguments or environment, audit line,
//! log line (at debug), output, lab log or node file (the secrets scan,
//! `tests/common/secrets.rs`); only the rollback record (0600) may hold it.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::secrets::{Kind, SecretScan, Sentinel};
use common::{BIN, Home, Lab, output_with_stdin, text};

fn proxy_url(password: &str) -> String {
    format!("http://admin:{password}@proxy.corp.example:3128")
}

fn harvcred(lab: &Lab, state: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(BIN);
    c.arg("--lab")
        .arg(&lab.dir)
        .args(args)
        .env("XDG_STATE_HOME", state)
        .env("HARVCRED_LOG", "harvcred=debug,info");
    c
}

/// Runs with `input` on stdin (the proxy URL is never an argument); its
/// output goes to the scan.
fn run(scan: &mut SecretScan, what: &str, mut cmd: Command, input: &str) -> Output {
    let out = output_with_stdin(&mut cmd, input.as_bytes());
    scan.output(what, &out);
    out
}

fn value(lab: &Lab) -> String {
    lab.setting_value("http-proxy")
}

fn rv(lab: &Lab) -> String {
    lab.kubectl_ok(&[
        "get",
        "settings.harvesterhci.io",
        "http-proxy",
        "-o",
        "jsonpath={.metadata.resourceVersion}",
    ])
}

/// The patches of `http-proxy` that reached the API since `mark`, as
/// (dryRun, resourceVersion the patch was conditioned on, result code).
fn proxy_patches(lab: &Lab, mark: usize) -> Vec<(bool, String, u64)> {
    lab.api_writes_since(mark, "settings.harvesterhci.io", "http-proxy")
        .iter()
        .map(|r| {
            assert_eq!(r["verb"], "patch", "{r}");
            (
                r["dryRun"].as_bool().unwrap(),
                r["resourceVersion"].as_str().unwrap_or("").to_string(),
                r["code"].as_u64().unwrap(),
            )
        })
        .collect()
}

fn audit_lines(state: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(state.join("harvcred/audit.jsonl"))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn set_dry_run_refusals_and_rollback_without_leaking_the_password() {
    let lab = Lab::up(&["--nodes", "3"]);
    let home = Home::new("hcpx");
    let state = home.0.path().join("state");
    let st = state.as_path();
    let password = Sentinel::new(Kind::ProxyPassword);
    let mut scan = SecretScan::start(&lab, &[&password]);
    let url = || proxy_url(password.value());
    let ips = lab.node_ips();
    let subnet = format!("{}.0/24", lab.subnet_prefix());
    let before = value(&lab);

    // An uncovered node: refused by harvcred before sending, with Harvester's words.
    let rv0 = rv(&lab);
    let mark = lab.api_log_mark();
    let partial = format!("{},{}", ips[0], ips[1]);
    let out = run(
        &mut scan,
        "proxy set",
        harvcred(
            &lab,
            st,
            &[
                "proxy",
                "set",
                "--http-proxy",
                "-",
                "--no-proxy",
                &partial,
                "--yes",
            ],
        ),
        &format!("{}\n", url()),
    );
    let msg = format!(
        "noProxy should contain the node's IP addresses or CIDR. The node(s) {} are not covered.",
        ips[2]
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains(&msg), "{}", text(&out));
    assert!(
        text(&out).contains("Refused before sending"),
        "{}",
        text(&out)
    );
    assert_eq!(
        proxy_patches(&lab, mark),
        vec![],
        "nothing may reach the API"
    );
    // The log was being written meanwhile: harvcred read the nodes it checks.
    assert!(
        lab.api_requests()
            .iter()
            .skip(mark)
            .any(|r| r["resource"] == "nodes" && r["code"] == 200),
        "{:?}",
        lab.api_requests()
    );
    let a = audit_lines(st);
    assert_eq!(a.last().unwrap()["result"], "refused");
    assert!(a.last().unwrap()["detail"].as_str().unwrap().contains(&msg));

    // A dry run is checked by the server and changes nothing.
    let mark = lab.api_log_mark();
    let out = run(
        &mut scan,
        "proxy set",
        harvcred(
            &lab,
            st,
            &[
                "proxy",
                "set",
                "--http-proxy",
                "-",
                "--no-proxy",
                &subnet,
                "--dry-run",
            ],
        ),
        &format!("{}\n", url()),
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("http://admin:***@proxy.corp.example:3128"));
    assert!(text(&out).contains("RKE2 restarts on every node"));
    assert_eq!(value(&lab), before);
    assert_eq!(rv(&lab), rv0);
    assert_eq!(
        proxy_patches(&lab, mark),
        vec![(true, rv0.clone(), 200)],
        "one dry-run patch, nothing else"
    );
    assert_eq!(audit_lines(st).last().unwrap()["result"], "dry-run");

    // Without a terminal and without --yes nobody can confirm: refused.
    let mark = lab.api_log_mark();
    let out = run(
        &mut scan,
        "proxy set without --yes",
        harvcred(&lab, st, &["proxy", "set", "--no-proxy", &subnet]),
        "",
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("--yes"), "{}", text(&out));
    assert_eq!(
        proxy_patches(&lab, mark),
        vec![],
        "nothing may reach the API"
    );

    // The change: applied, verified, and kubectl shows it.
    let mark = lab.api_log_mark();
    let out = run(
        &mut scan,
        "proxy set",
        harvcred(
            &lab,
            st,
            &[
                "proxy",
                "set",
                "--http-proxy",
                "-",
                "--no-proxy",
                &subnet,
                "--yes",
            ],
        ),
        &format!("{}\n", url()),
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("configured"), "{}", text(&out));
    assert_eq!(
        proxy_patches(&lab, mark),
        vec![(true, rv0.clone(), 200), (false, rv0.clone(), 200)],
        "a dry run, then one patch conditioned on the version read"
    );
    let yaml = lab.kubectl_ok(&[
        "get",
        "settings.harvesterhci.io",
        "http-proxy",
        "-o",
        "yaml",
    ]);
    assert!(yaml.contains(&url()), "{yaml}");
    assert!(yaml.contains(&subnet), "{yaml}");
    let results: Vec<_> = audit_lines(st)
        .iter()
        .map(|l| l["result"].as_str().unwrap().to_string())
        .collect();
    assert!(
        results.ends_with(&["applied".to_string(), "verified".to_string()]),
        "{results:?}"
    );

    // show masks it.
    let out = harvcred(&lab, st, &["proxy", "show", "--json"])
        .output()
        .unwrap();
    scan.output("proxy show --json", &out);
    let shown: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        shown["httpProxy"],
        "http://admin:***@proxy.corp.example:3128"
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));

    // A rollback's dry run sends only dry-run patches; the value stays.
    let set_value = value(&lab);
    let mark = lab.api_log_mark();
    let out = run(
        &mut scan,
        "proxy rollback --dry-run",
        harvcred(&lab, st, &["proxy", "rollback", "--dry-run"]),
        "",
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(value(&lab), set_value);
    let patches = proxy_patches(&lab, mark);
    assert!(
        !patches.is_empty() && patches.iter().all(|(dry, _, _)| *dry),
        "dry runs only: {patches:?}"
    );

    // Rollback restores the value the change replaced.
    let rv1 = rv(&lab);
    let mark = lab.api_log_mark();
    let out = run(
        &mut scan,
        "proxy rollback",
        harvcred(&lab, st, &["proxy", "rollback", "--yes"]),
        "",
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    // The lab starts with value "" (the default `{}` applies); the kept
    // value is written back as `{}`, the same effective value.
    assert!(before.is_empty() || before == "{}", "{before}");
    assert_eq!(value(&lab), "{}");
    assert_eq!(
        proxy_patches(&lab, mark)
            .into_iter()
            .filter(|(dry, _, _)| !dry)
            .collect::<Vec<_>>(),
        vec![(false, rv1, 200)],
        "one patch, conditioned on the version the change left"
    );
    assert_eq!(audit_lines(st).last().unwrap()["action"], "proxy.rollback");

    // harvcred ran at debug: the scan looked at a log that was written.
    for f in ["harvcred/audit.jsonl", "harvcred/harvcred.log"] {
        let t = std::fs::read_to_string(st.join(f)).unwrap();
        assert!(!t.is_empty(), "{f} is empty");
    }
    scan.finish(&home, "proxy_lab");
    // (After the scan: this test itself puts the URL in an argument.)
    // A URL with credentials on the command line is refused outright.
    let out = harvcred(&lab, st, &["proxy", "check", "--http-proxy", &url()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(!text(&out).contains(password.value()));
    assert!(text(&out).contains("--http-proxy -"), "{}", text(&out));
}

#[test]
fn check_exit_codes_with_and_without_a_cluster() {
    let run = |args: &[&str]| {
        let out = Command::new(BIN)
            .args(["proxy", "check"])
            .args(args)
            .env("KUBECONFIG", "/nonexistent")
            .output()
            .unwrap();
        (out.status.code(), text(&out))
    };
    fn with<'a>(v: &[&'a str]) -> Vec<&'a str> {
        [v, &["--node-ips", "192.168.1.10,192.168.1.11,fd00::5"][..]].concat()
    }
    let (c, t) = run(&with(&[
        "--http-proxy",
        "http://p:3128",
        "--no-proxy",
        "192.168.1.0/24,fd00::/64",
    ]));
    assert_eq!(c, Some(0), "{t}");
    let (c, t) = run(&with(&[
        "--http-proxy",
        "http://p:3128",
        "--no-proxy",
        "192.168.1.0/24,fd00::/64,.svc",
    ]));
    assert_eq!(c, Some(1), "{t}");
    assert!(t.contains("`.svc`"), "{t}");
    let (c, t) = run(&with(&[
        "--http-proxy",
        "http://p:3128",
        "--no-proxy",
        "192.168.1.10, 192.168.1.11,",
    ]));
    assert_eq!(c, Some(2), "{t}");
    assert!(t.contains("The node(s) fd00::5 are not covered."), "{t}");
    let (c, t) = run(&with(&[
        "--http-proxy",
        "ftp://p:21",
        "--no-proxy",
        "0.0.0.0/0,::/0",
    ]));
    assert_eq!(c, Some(2), "{t}");
    assert!(t.contains("scheme must be http, https or socks5"), "{t}");
    // No proxy at all is valid.
    let (c, t) = run(&with(&[
        "--http-proxy",
        "",
        "--https-proxy",
        "",
        "--no-proxy",
        "",
    ]));
    assert_eq!(c, Some(0), "{t}");
    // Without node IPs a cluster is needed: unknown (3), saying what to give.
    let (c, t) = run(&["--http-proxy", "http://p:3128"]);
    assert_eq!(c, Some(3), "{t}");
    assert!(t.contains("--node-ips"), "{t}");
}

#[test]
fn cluster_module_conflict_denial_and_dry_run() {
    use harvcred::cluster::settings::{PatchFailure, patch_http_proxy, read_http_proxy};
    use harvcred::creds::proxy::{HttpProxySetting, ProxyUrl};
    let lab = Lab::up(&["--nodes", "3"]);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let kube = harvcred::cluster::KubeSettings {
        kubeconfig: Some(lab.kubeconfig()),
        context: None,
    };
    let (client, _, _) = rt.block_on(harvcred::cluster::connect(&kube)).unwrap();
    let read = rt.block_on(read_http_proxy(&client)).unwrap();
    let subnet = format!("{}.0/24", lab.subnet_prefix());
    let good = HttpProxySetting {
        http_proxy: ProxyUrl::new(&proxy_url(Sentinel::new(Kind::ProxyPassword).value())),
        https_proxy: ProxyUrl::default(),
        no_proxy: subnet.clone(),
    };

    // Dry run: validated, not stored.
    let before = value(&lab);
    let mark = lab.api_log_mark();
    rt.block_on(patch_http_proxy(
        &client,
        &good,
        &read.resource_version,
        true,
    ))
    .unwrap();
    assert_eq!(value(&lab), before);
    assert_eq!(rv(&lab), read.resource_version);
    assert_eq!(
        proxy_patches(&lab, mark),
        vec![(true, read.resource_version.clone(), 200)]
    );

    // The webhook's denial comes back in its own words.
    let bad = HttpProxySetting {
        no_proxy: "example.com".into(),
        ..good.clone()
    };
    let e = rt
        .block_on(patch_http_proxy(
            &client,
            &bad,
            &read.resource_version,
            false,
        ))
        .unwrap_err();
    let PatchFailure::Denied(m) = e else {
        panic!("{e:?}")
    };
    assert!(
        m.starts_with("admission webhook \"validator.harvester-system.harvester-webhook\" denied the request: noProxy should contain the node's IP addresses or CIDR."),
        "{m}"
    );

    let denied = proxy_patches(&lab, mark);
    assert_eq!(denied.len(), 2, "{denied:?}");
    assert_eq!(denied[1], (false, read.resource_version.clone(), 400));

    // Someone changes it behind our back: our stale version gets the 409
    // path with the value as it is now.
    lab.kubectl_ok(&[
        "patch",
        "settings.harvesterhci.io",
        "http-proxy",
        "--type=merge",
        "-p",
        r#"{"value":"{\"noProxy\":\"172.16.0.0/12\"}"}"#,
    ]);
    let e = rt
        .block_on(patch_http_proxy(
            &client,
            &good,
            &read.resource_version,
            false,
        ))
        .unwrap_err();
    let PatchFailure::Conflict(now) = e else {
        panic!("{e:?}")
    };
    assert_eq!(now.setting.no_proxy, "172.16.0.0/12");
    assert_ne!(now.resource_version, read.resource_version);
    assert_eq!(
        value(&lab),
        r#"{"noProxy":"172.16.0.0/12"}"#,
        "the stale patch must not land"
    );
    let sent = proxy_patches(&lab, mark);
    assert_eq!(
        sent.last(),
        Some(&(false, read.resource_version.clone(), 409)),
        "the stale patch reached the API with the old version: {sent:?}"
    );
    let mark = lab.api_log_mark();
    // With the version just read, it goes through.
    let written = rt
        .block_on(patch_http_proxy(
            &client,
            &good,
            &now.resource_version,
            false,
        ))
        .unwrap();
    assert_eq!(written.setting, good);
    assert_eq!(
        proxy_patches(&lab, mark),
        vec![(false, now.resource_version.clone(), 200)]
    );
}
