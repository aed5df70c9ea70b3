//! `harvcred token` against real lab nodes: `show` (and the console's
//! `:token`, in tmux) marks the node whose
//! rancherd loops on the 502 `cacerts` failure (token-mismatch: node3, which
//! has not joined); `fix` on a server only checks it (its copies agree) or
//! refuses (they do not) and changes nothing there,
//! makes node3 join (rancherd bootstraps, RKE2 starts, the Node turns Ready)
//! and the join survives a reboot; `rotate` refuses; a token rotated by hand
//! gets the hint on rke2-server's fatal line and `show` names the copies
//! that disagree. The token never shows in a process argument or
//! environment (host and nodes), harvcred's outputs, screens, audit log, log
//! or files, the lab's logs, or a node file other than those it lives in
//! (the secrets scan, `tests/common/secrets.rs`). Needs root (the lab).

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::secrets::{Kind, SecretScan, Sentinel};
use common::tmux::Tmux;
use common::{BIN, Home, Lab, files_below, text};

fn wait_for(what: &str, secs: u64, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !ok() {
        assert!(Instant::now() < deadline, "waited {secs} s for {what}");
        std::thread::sleep(Duration::from_millis(300));
    }
}

fn show_json(home: &Home, lab: &Lab, scan: &mut SecretScan) -> (i32, serde_json::Value) {
    let out = home.run(lab, &["token", "show", "--json"]);
    scan.output("token show --json", &out);
    let v = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("token show --json: {e}: {}", text(&out)));
    (out.status.code().unwrap(), v)
}

fn node<'a>(v: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    v["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["node"] == name)
        .unwrap_or_else(|| panic!("{name} in {v:#}"))
}

/// The `(source, agrees_with_servers)` of a node's copies.
fn agreement(v: &serde_json::Value, name: &str) -> Vec<(String, serde_json::Value)> {
    node(v, name)["copies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["source"].as_str().unwrap().to_string(),
                c["agrees_with_servers"].clone(),
            )
        })
        .collect()
}

/// The `token:` of a YAML text.
fn yaml_token(text: &str) -> String {
    text.lines()
        .find_map(|l| l.strip_prefix("token:"))
        .unwrap()
        .trim()
        .trim_matches('"')
        .to_string()
}

/// The cluster token's secret part (what RKE2 compares; the CA hash before
/// it is public), as a secret of the scan. It lives in the files Harvester
/// keeps it in: rancherd's and RKE2's configs, RKE2's server/token and
/// agent-token, /oem (and the backups a fix makes there).
fn token_sentinel(cluster_token: &str) -> Sentinel {
    let secret = cluster_token.rsplit(':').next().unwrap();
    Sentinel::of(Kind::Token, secret).lives_in(&[
        "/upper/etc/rancher/",
        "/upper/var/lib/rancher/",
        "/oem/",
    ])
}

/// `token fix --node NODE --yes`, logging at debug for the secrets scan.
fn fix_at_debug(home: &Home, lab: &Lab, node: &str) -> std::process::Output {
    home.cmd(lab, &["token", "fix", "--node", node, "--yes"])
        .env("HARVCRED_LOG", "harvcred=debug,info")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap()
}

/// A server's files the token lives in, byte for byte.
fn server_files(lab: &Lab, name: &str) -> Vec<(String, Vec<u8>)> {
    let mut v = Vec::new();
    for p in [
        "/etc/rancher/rancherd/config.yaml",
        "/etc/rancher/rke2/config.yaml.d/40-rancherd.yaml",
        "/etc/rancher/rke2/config.yaml.d/50-rancher.yaml",
        "/var/lib/rancher/rke2/server/token",
    ] {
        let out = lab.ssh(name, &format!("sudo cat {p}"));
        v.push((p.to_string(), out.stdout));
    }
    let oem = lab.dir.join("nodes").join(name).join("oem");
    for p in files_below(&oem) {
        v.push((p.display().to_string(), std::fs::read(&p).unwrap()));
    }
    v.sort();
    v
}

#[test]
fn show_marks_the_looping_node_and_fix_makes_it_join_for_good_but_refuses_a_server() {
    let lab = Lab::up(&["--nodes", "3", "--scenario", "token-mismatch"]);
    let home = Home::new("hctok");
    let started = Instant::now();
    let cluster_token =
        yaml_token(&lab.ssh_ok("node1", "sudo cat /etc/rancher/rancherd/config.yaml"));
    assert!(cluster_token.len() > 10);
    let mut scan = SecretScan::start(&lab, &[&token_sentinel(&cluster_token)]);

    // show: node3 marked with rancherd's 502 line; its copies differ from
    // the servers' own server/token, node1's agree.
    let mut v = serde_json::Value::Null;
    let mut code = 0;
    wait_for("node3's rancherd loop in token show", 60, || {
        (code, v) = show_json(&home, &lab, &mut scan);
        !node(&v, "node3")["rancherd_loop"].is_null()
    });
    assert_eq!(code, 2, "{v:#}");
    assert_eq!(v["exit_code"], 2);
    let line = node(&v, "node3")["rancherd_loop"]["line"].as_str().unwrap();
    assert!(line.contains("502 Bad Gateway getting cacerts"), "{line}");
    assert!(!line.contains("<html>"), "{line}");
    assert_eq!(node(&v, "node3")["bootstrap_data"], false);
    assert_eq!(node(&v, "node3")["level"], "critical");
    assert!(node(&v, "node1")["rancherd_loop"].is_null());
    assert_eq!(node(&v, "node1")["bootstrap_data"], true);
    let n3 = agreement(&v, "node3");
    assert!(
        n3.iter()
            .any(|(s, _)| s == "/etc/rancher/rancherd/config.yaml")
    );
    assert!(n3.iter().all(|(_, a)| *a == false), "{n3:?}");
    assert!(agreement(&v, "node1").iter().all(|(_, a)| *a == true));
    let ca = node(&v, "node1")["copies"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["source"] == "/var/lib/rancher/rke2/server/token")
        .unwrap()["ca"]
        .clone();
    assert_eq!(ca, "matches");
    // The console's :token shows the same: node3 not joined, with its 502 line.
    {
        let (state, config) = (home.0.path().join("state"), home.0.path().join("config"));
        let env = [
            ("XDG_STATE_HOME", state.as_path()),
            ("XDG_CONFIG_HOME", config.as_path()),
        ];
        let cmd = format!("{BIN} --lab {}; sleep 30", lab.dir.display());
        let t = Tmux::start("tokencon", &cmd, &env);
        t.wait("three nodes", Duration::from_secs(30), |s| {
            s.contains("node1") && s.contains("node3")
        });
        t.command("token");
        let s = t.wait("node3 marked in :token", Duration::from_secs(60), |s| {
            s.contains("cluster token (3 nodes)") && s.contains("rancherd 502 cacerts loop")
        });
        let lines: Vec<&str> = s.lines().collect();
        let at = lines
            .iter()
            .position(|l| l.contains("rancherd 502 cacerts loop"))
            .unwrap();
        assert!(
            lines[at - 1].contains("node3 (server) critical")
                && lines[at - 1].contains("not joined"),
            "{s}"
        );
        assert!(lines[at].contains("token fix --node node3"), "{s}");
        assert!(
            lines[at + 1].contains("502 Bad Gateway getting cacerts"),
            "{s}"
        );
        assert_eq!(s.matches("rancherd 502 cacerts loop").count(), 1, "{s}");
        assert!(s.contains("DIFFERS"), "{s}");
        t.keys(&["C-c"]);
        for screen in t.screens_seen() {
            scan.text("a console screen", screen);
        }
    }
    let table = home.run(&lab, &["token", "show"]);
    scan.output("token show", &table);
    assert_eq!(table.status.code(), Some(2));
    let t = String::from_utf8_lossy(&table.stdout);
    assert!(
        t.contains("rancherd 502 cacerts loop") && t.contains("token fix --node node3"),
        "{t}"
    );

    // fix on a server whose copies hold the cluster's token: nothing to
    // write, rancherd not restarted, only checked ("already so").
    let before = server_files(&lab, "node2");
    let rancherd_run = |n: &str| lab.ssh_ok(n, "systemctl show -p InvocationID --value rancherd");
    let run_before = rancherd_run("node2");
    let out = home.run(&lab, &["token", "fix", "--node", "node2", "--yes"]);
    scan.output("token fix on a joined server", &out);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        text(&out).contains("it has joined: no restart")
            && text(&out).contains("0 changed, 1 already so"),
        "{}",
        text(&out)
    );
    assert_eq!(rancherd_run("node2"), run_before, "rancherd restarted");
    assert_eq!(server_files(&lab, "node2"), before);

    // fix on a server whose rancherd config holds another token (edited by
    // hand): refused with why, nothing changed there.
    lab.ssh_ok(
        "node2",
        "sudo cp -a /etc/rancher/rancherd/config.yaml /root/rancherd.yaml && sudo sed -i 's/^token:.*/token: Another-By-Hand-7/' /etc/rancher/rancherd/config.yaml",
    );
    let before = server_files(&lab, "node2");
    let out = fix_at_debug(&home, &lab, "node2");
    scan.output("token fix on a server", &out);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("node2 has RKE2 bootstrap data")
            && text(&out).contains("makes rke2-server fatal"),
        "{}",
        text(&out)
    );
    assert!(
        home.audit().contains("\"result\":\"refused\""),
        "{}",
        home.audit()
    );
    assert_eq!(server_files(&lab, "node2"), before);
    assert!(
        lab.ssh_ok("node2", "sudo ls /oem/install")
            .trim()
            .is_empty()
    );
    assert_eq!(rancherd_run("node2"), run_before, "rancherd restarted");
    lab.ssh_ok(
        "node2",
        "sudo mv /root/rancherd.yaml /etc/rancher/rancherd/config.yaml",
    );

    // fix node3: it joins.
    let out = fix_at_debug(&home, &lab, "node3");
    scan.output("token fix", &out);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("node3: verified"), "{}", text(&out));
    let journal = lab.ssh_ok("node3", "sudo journalctl -b -u rancherd --no-pager -o cat");
    assert!(journal.contains("Successfully Bootstrapped"), "{journal}");
    assert!(
        lab.ssh("node3", "systemctl is-active rke2-server")
            .status
            .success()
    );
    let ready = lab.kubectl_ok(&[
        "get",
        "node",
        "node3",
        "-o",
        "jsonpath={.status.conditions[?(@.type==\"Ready\")].status}",
    ]);
    assert_eq!(ready.trim(), "True");
    assert!(
        lab.ssh_ok("node3", "sudo ls /oem/install")
            .contains("90_custom.yaml."),
        "the /oem file was backed up"
    );

    // A reboot keeps it joined: yip renders rancherd's config from the fixed /oem.
    let out = Command::new(BIN)
        .args(["lab", "reboot", "--dir"])
        .arg(&lab.dir)
        .arg("node3")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    wait_for("rancherd to bootstrap after the reboot", 60, || {
        lab.ssh("node3", "sudo journalctl -b -u rancherd --no-pager -o cat")
            .stdout
            .windows(b"Successfully Bootstrapped".len())
            .any(|w| w == b"Successfully Bootstrapped")
    });
    wait_for("rke2-server after the reboot", 60, || {
        lab.ssh("node3", "systemctl is-active rke2-server")
            .status
            .success()
    });
    let journal = lab.ssh_ok("node3", "sudo journalctl -b -u rancherd --no-pager -o cat");
    assert!(!journal.contains("502"), "{journal}");
    assert_eq!(
        yaml_token(&lab.ssh_ok("node3", "sudo cat /etc/rancher/rancherd/config.yaml")),
        cluster_token
    );
    let (code, v) = show_json(&home, &lab, &mut scan);
    assert_eq!(node(&v, "node3")["level"], "ok", "{v:#}");
    assert!(agreement(&v, "node3").iter().all(|(_, a)| *a == true));
    assert_eq!(code, 0, "{v:#}");

    // The token never left the nodes except in memory.
    assert!(!home.audit().is_empty());
    for n in ["node1", "node3"] {
        let journal = lab.ssh_ok(n, "sudo journalctl --no-pager -o cat");
        assert!(
            !journal.contains(&cluster_token),
            "{n}'s journal holds the token"
        );
    }
    scan.finish(&home, "token_lab");
    eprintln!("token_lab (mismatch) took {:?}", started.elapsed());
}

/// `:token`, `F`: the console fixes the node that cannot join (the same
/// walk as `token fix`), with its rancherd log beside the form; back in
/// `:token` the node is no longer marked, and the API has it Ready.
#[test]
fn console_f_in_token_fixes_the_node_that_cannot_join() {
    let lab = Lab::up(&["--nodes", "3", "--scenario", "token-mismatch"]);
    let home = Home::new("hctok");
    let cluster_token =
        yaml_token(&lab.ssh_ok("node1", "sudo cat /etc/rancher/rancherd/config.yaml"));
    let mut scan = SecretScan::start(&lab, &[&token_sentinel(&cluster_token)]);
    let (state, config) = (home.0.path().join("state"), home.0.path().join("config"));
    let env = [
        ("XDG_STATE_HOME", state.as_path()),
        ("XDG_CONFIG_HOME", config.as_path()),
        ("HARVCRED_LOG", std::path::Path::new("harvcred=debug,info")),
    ];
    let cmd = format!("{BIN} --lab {}; sleep 30", lab.dir.display());
    let t = Tmux::start("tokenfix", &cmd, &env);
    t.wait("three nodes", Duration::from_secs(30), |s| {
        s.contains("node1") && s.contains("node3")
    });
    t.command("token");
    t.wait("node3 marked in :token", Duration::from_secs(60), |s| {
        s.contains("rancherd 502 cacerts loop")
    });
    // node1 is selected in the table: F still means the looping node3.
    t.keys(&["F"]);
    let s = t.wait("the fix's form", Duration::from_secs(30), |s| {
        s.contains("token.fix · edit")
    });
    assert!(s.contains("node3"), "{s}");
    t.keys(&["Enter"]);
    t.wait("the preview", Duration::from_secs(30), |s| {
        s.contains("token.fix · preview")
    });
    t.keys(&["Enter"]);
    t.wait("the dry run to pass", Duration::from_secs(30), |s| {
        s.contains("token.fix · confirm")
    });
    t.keys(&["y"]);
    let s = t.wait("the summary", Duration::from_secs(180), |s| {
        s.contains("token.fix · done")
    });
    assert!(s.contains("verified"), "{s}");
    assert!(!s.contains(&cluster_token), "{s}");
    t.keys(&["Enter"]);
    t.wait("node3 no longer marked", Duration::from_secs(60), |s| {
        s.contains("cluster token (3 nodes)") && !s.contains("rancherd 502 cacerts loop")
    });
    t.keys(&["C-c"]);
    for screen in t.screens_seen() {
        scan.text("a console screen", screen);
    }
    drop(t);
    let ready = lab.kubectl_ok(&[
        "get",
        "node",
        "node3",
        "-o",
        "jsonpath={.status.conditions[?(@.type==\"Ready\")].status}",
    ]);
    assert_eq!(ready.trim(), "True");
    assert_eq!(
        yaml_token(&lab.ssh_ok("node3", "sudo cat /etc/rancher/rancherd/config.yaml")),
        cluster_token
    );
    let audit = home.audit();
    assert!(audit.contains("\"token.fix\""), "{audit}");
    scan.finish(&home, "token_lab");
}

#[test]
fn rotation_is_refused_and_a_rotation_by_hand_is_explained() {
    let lab = Lab::up(&["--nodes", "3"]);
    let home = Home::new("hctok");
    let cluster_token =
        yaml_token(&lab.ssh_ok("node1", "sudo cat /etc/rancher/rancherd/config.yaml"));
    let mut scan = SecretScan::start(&lab, &[&token_sentinel(&cluster_token)]);

    let out = home.run(&lab, &["token", "rotate"]);
    scan.output("token rotate", &out);
    assert_eq!(out.status.code(), Some(2));
    let said = text(&out);
    assert!(
        said.contains("Harvester does not support changing the cluster token"),
        "{said}"
    );
    assert!(
        said.contains("bootstrap data already found and encrypted with different token"),
        "{said}"
    );
    assert!(said.contains("rancher/rke2#6250"), "{said}");

    // A healthy cluster: every copy agrees, nothing marked.
    let (code, v) = show_json(&home, &lab, &mut scan);
    assert_eq!(code, 0, "{v:#}");
    for n in ["node1", "node2", "node3"] {
        assert!(node(&v, n)["rancherd_loop"].is_null());
        assert!(agreement(&v, n).iter().all(|(_, a)| *a == true), "{v:#}");
    }
    assert_eq!(v["cluster"].as_array().unwrap().len(), 2, "{v:#}");

    // By hand on node1, as in rancher/rke2#6250, then a restart.
    lab.ssh_ok(
        "node1",
        "sudo rke2 token rotate --new-token RotatedByHandForTokenLab7",
    );
    let _ = lab.ssh("node1", "sudo systemctl restart rke2-server");
    wait_for("rke2-server's fatal line", 60, || {
        lab.ssh_ok("node1", "sudo journalctl -u rke2-server --no-pager")
            .contains("encrypted with different token")
    });
    let out = home.run(&lab, &["logs", "node1", "-n", "200"]);
    scan.output("logs node1", &out);
    let logs = text(&out);
    assert!(
        logs.contains("↳ hint: The cluster token was changed"),
        "{logs}"
    );
    assert!(
        logs.contains("Do not rotate the token on Harvester"),
        "{logs}"
    );

    let (code, v) = show_json(&home, &lab, &mut scan);
    assert_eq!(code, 2, "{v:#}");
    let n1 = agreement(&v, "node1");
    let own = n1
        .iter()
        .find(|(s, _)| s == "/var/lib/rancher/rke2/server/token")
        .unwrap();
    assert_eq!(own.1, false, "node1's rotated server/token differs: {n1:?}");
    let rancherd = n1
        .iter()
        .find(|(s, _)| s == "/etc/rancher/rancherd/config.yaml")
        .unwrap();
    assert_eq!(rancherd.1, true, "{n1:?}");
    assert_eq!(node(&v, "node1")["level"], "critical");
    assert!(agreement(&v, "node2").iter().all(|(_, a)| *a == true));
    let out = home.run(&lab, &["token", "show"]);
    scan.output("token show", &out);
    let table = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(table.contains("DIFFERS"), "{table}");
    assert!(!table.contains("RotatedByHandForTokenLab7"));
    scan.finish(&home, "token_lab");
}
