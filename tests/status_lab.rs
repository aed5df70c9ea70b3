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
    let value = lab.setting_value("http-proxy");
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

/// An expired root that image CA bundles still carry (AddTrust, 2020).
fn expired_2020_root() -> String {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.distinguished_name
        .push(DnType::CommonName, "AddTrust External CA Root");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.not_before = time::macros::datetime!(2000-05-30 10:48 UTC);
    ca.not_after = time::macros::datetime!(2020-05-30 10:48 UTC);
    ca.self_signed(&KeyPair::generate().unwrap()).unwrap().pem()
}

/// A crypt hash as `openssl passwd -6` makes them.
fn sha512_crypt(password: &str) -> String {
    let out = Command::new("openssl")
        .args(["passwd", "-6", "-salt", "harvcredlabsalt", password])
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// Gives `node` what a real Harvester node has and the plain lab does not:
/// containerd's unpacked images under agent/ with their CA bundles (each
/// with a root that expired in 2020), a directory whose name holds a newline
/// under server/tls (which `find | while read` turned into a read of
/// /etc/harvcred-decoy.crt), and the password changed the way Harvester's
/// docs say (a CloudInit `99_passwd.yaml` under `initramfs.after`, which
/// overrides 90_custom.yaml's at boot). Returns the new hash.
fn make_node_like_harvester(lab: &Lab, node: &str) -> String {
    let hash = sha512_crypt("changed-by-cloudinit");
    let script = format!(
        r#"set -e
snap=/var/lib/rancher/rke2/agent/containerd/io.containerd.snapshotter.v1.overlayfs/snapshots
for i in $(seq 1 40); do
  mkdir -p "$snap/$i/fs/etc/ssl/certs" "$snap/$i/fs/usr/share/ca-certificates/mozilla"
  cat > "$snap/$i/fs/etc/ssl/certs/ca-certificates.crt" <<'PEM'
{root}PEM
  cp "$snap/$i/fs/etc/ssl/certs/ca-certificates.crt" "$snap/$i/fs/usr/share/ca-certificates/mozilla/AddTrust_External_Root.crt"
done
printf 'DECOY' > /etc/harvcred-decoy.crt
mkdir -p "/var/lib/rancher/rke2/server/tls/x
/etc"
printf 'x' > "/var/lib/rancher/rke2/server/tls/x
/etc/harvcred-decoy.crt"
usermod -p '{hash}' rancher
cat > /oem/99_passwd.yaml <<'YAML'
stages:
  initramfs.after:
    - users:
        rancher:
          passwd: "{hash}"
YAML
"#,
        root = expired_2020_root(),
    );
    let out = common::output_with_stdin(
        Command::new("ssh").arg("-F").arg(lab.ssh_config()).args([
            "-o",
            "BatchMode=yes",
            node,
            "sudo",
            "sh",
            "-s",
        ]),
        script.as_bytes(),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    hash
}

/// On a healthy two-node lab whose node2 looks like a real Harvester node
/// (image CA bundles full of expired roots, a newline in a file name, the
/// password changed by 99_passwd.yaml): every area is ok, from the library
/// and from `harvcred status` (exit 0) and `harvcred certs`, and their facts
/// agree with openssl and ssh-keygen.
#[test]
fn a_healthy_lab_like_harvester_exits_0_and_agrees_with_openssl_and_ssh_keygen() {
    let lab = Lab::up(&["--nodes", "2"]);
    make_node_like_harvester(&lab, "node2");
    reports_of_a_healthy_lab(&lab);
    commands_on_a_healthy_lab(&lab);
}

fn reports_of_a_healthy_lab(lab: &Lab) {
    let reports = reports(lab, &["node1", "node2"]);
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
    }
    for r in &reports {
        assert!(r.certs.len() >= 20);
        assert!(r.tokens.len() >= 4, "{:?}", r.tokens);
        assert_eq!(r.runtime_keys.len(), 1);
        // Only RKE2's own certificate files, never an image's bundle or
        // what a newline in a name pointed at.
        for c in &r.certs {
            let p = &c.cert.path;
            assert!(
                !p.contains("/containerd/") && !p.contains("decoy") && !p.contains('\n'),
                "{}: {p:?}",
                r.node
            );
        }
        assert!(
            r.areas[&Area::Certificates].findings.iter().any(|f| f
                .message
                .contains("within 120 days of expiry when it starts: RKE2 v1.33")),
            "{}",
            explain(r, Area::Certificates)
        );
    }
    // node2's password was changed by 99_passwd.yaml: 90_custom.yaml's is
    // overridden at boot, not "changes at the next reboot".
    let pw = explain(&reports[1], Area::Password);
    assert!(
        pw.contains("/oem/90_custom.yaml") && pw.contains("overridden at boot"),
        "{pw}"
    );
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

/// Every problem scenario at once, checked from the library and from the
/// commands. Scenarios overlap (kcm-cert-expired expires certificates on
/// every server), so each check is one the other scenarios cannot satisfy.
#[test]
fn every_scenario_shows_up_with_its_level_and_what_to_do() {
    let lab = Lab::up(&common::PROBLEM_SCENARIOS);
    scenario_reports(&lab);
    scenario_commands(&lab);
}

/// Whether a certificate path is one kcm-cert-expired expires.
fn kcm_or_scheduler(path: &str) -> bool {
    path.contains("/kube-controller-manager/") || path.contains("/kube-scheduler/")
}

fn scenario_reports(lab: &Lab) {
    let r = reports(lab, &["node1", "node2", "node3"]);
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
    // certs-expiring's node3 leaf, not kcm-cert-expired's certificates.
    assert!(
        r[2].certs
            .iter()
            .any(|c| c.level == Level::Expired && !kcm_or_scheduler(&c.cert.path)),
        "{}",
        explain(&r[2], Area::Certificates)
    );
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

fn commands_on_a_healthy_lab(lab: &Lab) {
    let (code, j) = status_json(lab, &[]);
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
    let fps = keygen_fingerprints(lab, "node1");
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
    let (code, one) = status_json(lab, &["--node", "node2"]);
    assert_eq!(code, 0);
    assert_eq!(one["nodes"].as_array().unwrap().len(), 1);

    // certs: nothing near expiry on a fresh lab; the count of what is left out.
    let (code, table) = harvcred(lab, &["certs"]);
    assert_eq!(code, 0);
    assert!(
        table.contains("certificates expire in more than 120 days"),
        "{table}"
    );
    let (code, all) = harvcred(lab, &["certs", "--json", "--all"]);
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
    let (code, j) = status_json(lab, &[]);
    assert_eq!(code, 2, "{j:#}");
    assert_eq!(node(&j, "node2")["level"], "unreachable");
    assert_eq!(node(&j, "node2")["error"]["reason"], "sudo", "{j:#}");
    assert_eq!(node(&j, "node1")["level"], "ok");
}

fn scenario_commands(lab: &Lab) {
    let (code, j) = status_json(lab, &[]);
    assert_eq!(code, 2, "{j:#}");
    assert_eq!(j["exit_code"], 2);
    // certs-expiring: node3 has an expired certificate outside the
    // controller-manager/scheduler folders (which kcm-cert-expired expires).
    assert_eq!(area_level(&j, "node3", "certificates"), "expired");
    let node3 = node(&j, "node3")["areas"]["certificates"]["findings"]
        .as_array()
        .unwrap()
        .clone();
    assert!(
        node3
            .iter()
            .any(|f| f["level"] == "expired" && !kcm_or_scheduler(f["subject"].as_str().unwrap())),
        "{node3:#?}"
    );
    // kcm-cert-expired: node1 expired, with the workaround (which no other
    // scenario's certificate gets).
    assert_eq!(area_level(&j, "node1", "certificates"), "expired");
    let kcm = area_messages(&j, "node1", "certificates");
    assert!(
        kcm.contains("crictl ps -q --name kube-controller-manager"),
        "{kcm}"
    );
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
    let (code, table) = harvcred(lab, &["status"]);
    assert_eq!(code, 2);
    assert!(table.contains("node3 token critical"), "{table}");
    // certs: worst first, expired rows at the top, dates like openssl's.
    let (code, certs) = harvcred(lab, &["certs"]);
    assert_eq!(code, 2);
    let first = certs.lines().nth(1).unwrap();
    assert!(first.ends_with("expired"), "{certs}");
    let (_, cj) = harvcred(lab, &["certs", "--json", "--node", "node2"]);
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
