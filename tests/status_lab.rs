//! Credential reports of lab nodes: the files gathered in one SSH round trip
//! per node, judged by `creds::report`, checked against the lab's scenarios
//! and against what openssl says about the same certificates.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};

use common::Lab;
use harvcred::creds::Level;
use harvcred::creds::proxy::HttpProxySetting;
use harvcred::creds::report::{
    Area, ClusterContext, NodeReport, assess_node, compare_tokens_across,
};
use harvcred::node::gather;

fn gather_node(lab: &Lab, node: &str) -> harvcred::creds::report::NodeFiles {
    let mut child = Command::new("ssh")
        .arg("-F")
        .arg(lab.ssh_config())
        .args(["-o", "BatchMode=yes", node, "sudo", "sh", "-s"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(gather::script().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
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
    let mut child = Command::new("openssl")
        .args(["x509", "-noout", "-enddate", "-dateopt", "iso_8601"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(pem.as_bytes())
        .unwrap();
    let end = String::from_utf8(child.wait_with_output().unwrap().stdout).unwrap();
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
    assert_eq!(end.trim().trim_start_matches("notAfter="), ours);
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
