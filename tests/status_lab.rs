//! Credential reports of lab nodes: the files gathered in one SSH round trip
//! per node, judged by `creds::report`, checked against the lab's scenarios
//! and against what openssl says about the same certificates.

mod common;

use std::process::{Command, Stdio};

use common::Lab;
use harvcred::creds::Level;
use harvcred::creds::proxy::HttpProxySetting;
use harvcred::creds::report::{
    Area, ClusterContext, NodeReport, assess_node, compare_tokens_across,
};
use harvcred::node::gather;

fn gather_node(lab: &Lab, node: &str) -> harvcred::creds::report::NodeFiles {
    let out = common::output_with_stdin(
        Command::new("ssh").arg("-F").arg(lab.ssh_config()).args([
            "-o",
            "BatchMode=yes",
            node,
            "sudo",
            "sh",
            "-s",
        ]),
        gather::script().as_bytes(),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    gather::parse(&out.stdout).unwrap()
}

fn reports(lab: &Lab, nodes: &[&str]) -> Vec<NodeReport> {
    let value = lab.kubectl_ok(&[
        "get",
        "settings.harvesterhci.io",
        "http-proxy",
        "-o",
        "jsonpath={.value}",
    ]);
    let cluster = ClusterContext {
        http_proxy: Some(
            HttpProxySetting::parse(if value.is_empty() { "{}" } else { &value }).unwrap(),
        ),
        ..Default::default()
    };
    let now = time::OffsetDateTime::now_utc();
    let mut reports: Vec<NodeReport> = nodes
        .iter()
        .map(|n| assess_node(n, &gather_node(lab, n), &cluster, now, &Default::default()))
        .collect();
    compare_tokens_across(&mut reports);
    reports
}

fn explain(r: &NodeReport, area: Area) -> String {
    r.areas[&area]
        .findings
        .iter()
        .map(|f| format!("{:?} {}: {}", f.level, f.subject, f.message))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn a_healthy_lab_reports_every_area_ok_and_cert_dates_match_openssl() {
    let lab = Lab::up(&["--nodes", "2"]);
    let reports = reports(&lab, &["node1", "node2"]);
    for r in &reports {
        for area in Area::ALL {
            assert_eq!(
                r.level(area),
                Level::Ok,
                "{} {area:?}:\n{}",
                r.node,
                explain(r, area)
            );
        }
        assert!(r.certs.len() >= 20);
        assert!(r.tokens.len() >= 4, "{:?}", r.tokens);
        assert_eq!(r.runtime_keys.len(), 1);
    }
    // The report's not-after of a chain file's leaf is openssl's.
    let pem = lab.ssh_ok(
        "node1",
        "sudo cat /var/lib/rancher/rke2/server/tls/serving-kube-apiserver.crt",
    );
    let end = openssl_enddate(&pem);
    let leaf = reports[0]
        .certs
        .iter()
        .find(|c| c.cert.path.ends_with("/serving-kube-apiserver.crt") && c.cert.index == 0)
        .unwrap();
    let ours = leaf
        .cert
        .not_after
        .format(&time::macros::format_description!(
            "[year]-[month]-[day] [hour]:[minute]:[second]Z"
        ))
        .unwrap();
    assert_eq!(end, ours);
    // No token value anywhere in what the report would print.
    let token = lab.ssh_ok("node1", "sudo cat /var/lib/rancher/rke2/server/token");
    let secret = token.trim().rsplit(':').next().unwrap();
    let json = serde_json::to_string(&reports).unwrap();
    assert!(!json.contains(secret), "token secret in the report");
    assert!(!format!("{reports:?}").contains(secret));
}

#[test]
fn every_scenario_shows_up_in_the_report_with_its_level() {
    let lab = Lab::up(&common::PROBLEM_SCENARIOS);
    let r = reports(&lab, &["node1", "node2", "node3"]);
    // certs-expiring: node2 about 10 days (warn), node3 expired.
    assert_eq!(
        r[1].level(Area::Certificates).max(Level::Warn),
        r[1].level(Area::Certificates)
    );
    assert!(
        r[1].certs
            .iter()
            .any(|c| c.level == Level::Warn && (8..=10).contains(&c.days_left()))
    );
    assert_eq!(r[2].level(Area::Certificates), Level::Expired);
    // kcm-cert-expired: node1's only expired certs are the controller-manager and scheduler ones.
    let expired: Vec<&str> = r[0]
        .certs
        .iter()
        .filter(|c| c.level == Level::Expired)
        .map(|c| c.cert.path.as_str())
        .collect();
    assert!(!expired.is_empty());
    assert!(
        expired
            .iter()
            .all(|p| p.contains("kube-controller-manager/") || p.contains("kube-scheduler/")),
        "{expired:?}"
    );
    // token-mismatch: node3's token is critical, with what to do.
    assert_eq!(
        r[2].level(Area::Token),
        Level::Critical,
        "{}",
        explain(&r[2], Area::Token)
    );
    assert!(explain(&r[2], Area::Token).contains("rancherd/config.yaml"));
    assert_eq!(
        r[1].level(Area::Token),
        Level::Ok,
        "{}",
        explain(&r[1], Area::Token)
    );
    // proxy-drift: node1 disagrees with the setting, node2 does not.
    assert!(
        r[0].level(Area::Proxy) >= Level::Warn,
        "{}",
        explain(&r[0], Area::Proxy)
    );
    assert_eq!(
        r[1].level(Area::Proxy),
        Level::Ok,
        "{}",
        explain(&r[1], Area::Proxy)
    );
    // plaintext-password: node1's /oem holds a readable password.
    assert!(
        r[0].level(Area::Password) >= Level::Critical,
        "{}",
        explain(&r[0], Area::Password)
    );
    assert!(
        explain(&r[0], Area::Password)
            .to_lowercase()
            .contains("clear")
    );
    assert_eq!(
        r[1].level(Area::Password),
        Level::Ok,
        "{}",
        explain(&r[1], Area::Password)
    );
}

/// `harvcred --lab D ARGS`: exit code and stdout, in a clean XDG home.
fn harvcred(lab: &Lab, args: &[&str]) -> (i32, String) {
    let home = tempfile::tempdir().unwrap();
    let out = Command::new(common::BIN)
        .arg("--lab")
        .arg(&lab.dir)
        .args(args)
        .env("XDG_CONFIG_HOME", home.path().join("config"))
        .env("XDG_STATE_HOME", home.path().join("state"))
        .env("XDG_RUNTIME_DIR", home.path())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let code = out.status.code().unwrap_or(-1);
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        (0..=3).contains(&code),
        "{args:?} exited {code}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (code, stdout)
}

fn status_json(lab: &Lab, extra: &[&str]) -> (i32, serde_json::Value) {
    let mut args = vec!["status", "--json"];
    args.extend_from_slice(extra);
    let (code, out) = harvcred(lab, &args);
    (code, serde_json::from_str(&out).unwrap())
}

fn node<'a>(j: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    j["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["node"] == name)
        .unwrap_or_else(|| panic!("{name} not in {j:#}"))
}

fn area_level<'a>(j: &'a serde_json::Value, name: &str, area: &str) -> &'a str {
    node(j, name)["areas"][area]["level"].as_str().unwrap()
}

fn area_messages(j: &serde_json::Value, name: &str, area: &str) -> String {
    node(j, name)["areas"][area]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| format!("{} {}: {}", f["level"], f["subject"], f["message"]))
        .collect::<Vec<_>>()
        .join("\n")
}

/// `ssh-keygen -lf` of a node's authorized_keys: `SHA256:...` fingerprints.
fn keygen_fingerprints(lab: &Lab, node: &str) -> Vec<String> {
    let keys = lab.ssh_ok(node, "cat ~/.ssh/authorized_keys");
    let f = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(f.path(), keys).unwrap();
    let out = Command::new("ssh-keygen")
        .arg("-lf")
        .arg(f.path())
        .output()
        .unwrap();
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter_map(|l| l.split_whitespace().nth(1).map(String::from))
        .collect()
}

fn openssl_enddate(pem: &str) -> String {
    let out = common::output_with_stdin(
        Command::new("openssl").args(["x509", "-noout", "-enddate", "-dateopt", "iso_8601"]),
        pem.as_bytes(),
    );
    let out = String::from_utf8(out.stdout).unwrap();
    out.trim().trim_start_matches("notAfter=").to_string()
}

#[test]
fn status_and_certs_commands_on_a_healthy_lab_exit_0_and_agree_with_openssl_and_ssh_keygen() {
    let lab = Lab::up(&["--nodes", "2"]);
    let (code, j) = status_json(&lab, &[]);
    assert_eq!(code, 0, "{j:#}");
    assert_eq!(j["exit_code"], 0);
    for n in ["node1", "node2"] {
        assert_eq!(node(&j, n)["level"], "ok", "{j:#}");
        assert!(node(&j, n)["error"].is_null());
        for a in ["certificates", "keys", "password", "token", "proxy"] {
            assert_eq!(area_level(&j, n, a), "ok", "{n} {a}");
        }
    }
    assert_eq!(j["cluster"]["level"], "ok", "{:#}", j["cluster"]);
    let cluster = j["cluster"]["findings"].to_string();
    assert!(cluster.contains("auto-rotate-rke2-certs"), "{cluster}");
    // Keys: the fingerprints ssh-keygen prints for the same file.
    let fps = keygen_fingerprints(&lab, "node1");
    assert_eq!(fps.len(), 1);
    let runtime: Vec<&str> = node(&j, "node1")["keys"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|k| k["source"] == "runtime")
        .map(|k| k["fingerprint"].as_str().unwrap())
        .collect();
    assert_eq!(runtime, fps);
    // The key harvcred logged in with: the lab operator's, as ssh-keygen sees it.
    let ours = Command::new("ssh-keygen")
        .arg("-lf")
        .arg(lab.dir.join("id_ed25519"))
        .output()
        .unwrap();
    let ours = String::from_utf8(ours.stdout).unwrap();
    let ours = ours.split_whitespace().nth(1).unwrap();
    let logins: Vec<&str> = node(&j, "node1")["keys"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|k| k["login"] == true)
        .map(|k| k["fingerprint"].as_str().unwrap())
        .collect();
    assert!(logins.contains(&ours), "{ours} not marked in {j:#}");
    assert!(node(&j, "node1")["tokens"].as_array().unwrap().len() >= 4);
    // --node narrows the report to the node asked for.
    let (code, one) = status_json(&lab, &["--node", "node2"]);
    assert_eq!(code, 0);
    assert_eq!(one["nodes"].as_array().unwrap().len(), 1);

    // certs: nothing near expiry on a fresh lab; the count of what is left out.
    let (code, table) = harvcred(&lab, &["certs"]);
    assert_eq!(code, 0);
    assert!(
        table.contains("certificates expire in more than 120 days"),
        "{table}"
    );
    let (code, all) = harvcred(&lab, &["certs", "--json", "--all"]);
    assert_eq!(code, 0);
    let all: serde_json::Value = serde_json::from_str(&all).unwrap();
    let apiserver = all
        .as_array()
        .unwrap()
        .iter()
        .find(|c| {
            c["node"] == "node1"
                && c["file"] == "/var/lib/rancher/rke2/server/tls/serving-kube-apiserver.crt"
                && c["block"] == 0
        })
        .expect("the apiserver certificate is listed");
    let pem = lab.ssh_ok(
        "node1",
        "sudo cat /var/lib/rancher/rke2/server/tls/serving-kube-apiserver.crt",
    );
    // openssl: 2027-10-30 12:36:00Z; ours: RFC 3339 2027-10-30T12:36:00Z.
    assert_eq!(
        apiserver["not_after"].as_str().unwrap().replace('T', " "),
        openssl_enddate(&pem)
    );
    let fp = common::output_with_stdin(
        Command::new("sh")
            .arg("-c")
            .arg("openssl x509 -noout -fingerprint -sha256 | cut -d= -f2 | tr -d ':' | tr A-F a-f"),
        pem.as_bytes(),
    );
    let fp = String::from_utf8(fp.stdout).unwrap();
    assert_eq!(apiserver["sha256"].as_str().unwrap(), fp.trim());
    // No token value anywhere in what the commands print.
    let token = lab.ssh_ok("node1", "sudo cat /var/lib/rancher/rke2/server/token");
    let secret = token.trim().rsplit(':').next().unwrap();
    assert!(!j.to_string().contains(secret));

    // sudo refused on node2: told apart from SSH trouble, exit 2.
    lab.ssh_ok(
        "node2",
        "sudo mv /etc/sudoers.d/rancher /root/rancher.sudoers",
    );
    let (code, j) = status_json(&lab, &[]);
    assert_eq!(code, 2, "{j:#}");
    assert_eq!(node(&j, "node2")["level"], "unreachable");
    assert_eq!(node(&j, "node2")["error"]["reason"], "sudo", "{j:#}");
    assert_eq!(node(&j, "node1")["level"], "ok");
}

#[test]
fn status_command_reports_every_scenario_with_what_to_do_and_exit_2() {
    let lab = Lab::up(&common::PROBLEM_SCENARIOS);
    let (code, j) = status_json(&lab, &[]);
    assert_eq!(code, 2, "{j:#}");
    assert_eq!(j["exit_code"], 2);
    // certs-expiring: node3 expired; kcm-cert-expired: node1 expired, with the workaround.
    assert_eq!(area_level(&j, "node3", "certificates"), "expired");
    assert_eq!(area_level(&j, "node1", "certificates"), "expired");
    let kcm = area_messages(&j, "node1", "certificates");
    assert!(kcm.contains("kube-controller-manager"), "{kcm}");
    // token-mismatch: node3, with the fix.
    assert_eq!(area_level(&j, "node3", "token"), "critical");
    assert!(area_messages(&j, "node3", "token").contains("rancherd/config.yaml"));
    assert_eq!(area_level(&j, "node2", "token"), "ok");
    // proxy-drift: node1 warns (or worse).
    assert!(
        ["warn", "critical"].contains(&area_level(&j, "node1", "proxy")),
        "{}",
        area_messages(&j, "node1", "proxy")
    );
    assert_eq!(area_level(&j, "node2", "proxy"), "ok");
    // plaintext-password: node1, clear text on disk.
    assert_eq!(area_level(&j, "node1", "password"), "critical");
    assert!(
        area_messages(&j, "node1", "password")
            .to_lowercase()
            .contains("clear")
    );
    // The table says the same and what to do.
    let (code, table) = harvcred(&lab, &["status"]);
    assert_eq!(code, 2);
    assert!(table.contains("node3 token critical"), "{table}");
    // certs: worst first, expired rows at the top, dates like openssl's.
    let (code, certs) = harvcred(&lab, &["certs"]);
    assert_eq!(code, 2);
    let first = certs.lines().nth(1).unwrap();
    assert!(first.ends_with("expired"), "{certs}");
    let (_, cj) = harvcred(&lab, &["certs", "--json", "--node", "node2"]);
    let cj: serde_json::Value = serde_json::from_str(&cj).unwrap();
    let warn = cj
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["level"] == "warn")
        .expect("node2's certificate about 10 days from expiry");
    let path = warn["file"].as_str().unwrap();
    let pem = lab.ssh_ok("node2", &format!("sudo cat {path}"));
    let pem_block = pem
        .split_inclusive("-----END CERTIFICATE-----\n")
        .nth(warn["block"].as_u64().unwrap() as usize)
        .unwrap();
    assert_eq!(
        warn["not_after"].as_str().unwrap().replace('T', " "),
        openssl_enddate(pem_block)
    );
}
