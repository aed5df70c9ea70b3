//! `harvcred settings` against a lab: for each of additional-ca,
//! ssl-parameters, ssl-certificates and containerd-registry a valid value is
//! applied (configured followed) and read back, a value Harvester's webhook
//! (or harvcred's own checks) refuse is refused with its exact message and
//! nothing reaches the API as a write, and the setting is reset (an empty
//! value restores Harvester's default). Private keys and registry passwords
//! never reach the audit log or the output. The registries reach each node's
//! registries.yaml, and a node's file edited by hand is named as drift; a
//! new ssl-certificates certificate is presented by the lab's ingress on the
//! VIP:443 (a TLS dial sees it), and its own again after a reset; an
//! ssl-parameters cipher the ingress does not know is warned about by name.
//! What the lab's controllers sync is read back as a user would: the CA
//! secrets and CDI config map (additional-ca), `cattle-system/tls-ingress`,
//! the registry secret and each node's RKE2 restarted one node at a time
//! (containerd-registry), and the protocols the ingress negotiates
//! (ssl-parameters: a TLS 1.3-only value refuses a TLS 1.2 dial; a value
//! with no servable protocol locks every client out and `set` says so with
//! the recovery). Rollback restores each (ssl-certificates has none).
//! Needs root (the lab).

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::secrets::{Kind, SecretScan, Sentinel};
use common::{BIN, Home, Lab, output_with_stdin};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, SanType};

/// Everything harvcred printed in this file's tests, for the secrets scan.
static PRINTED: std::sync::Mutex<Vec<u8>> = std::sync::Mutex::new(Vec::new());

/// harvcred with its own config and state in `home`, `input` on stdin.
fn hc(lab: &Lab, home: &Path, args: &[&str], input: &str) -> (i32, String, String) {
    let mut cmd = Command::new(BIN);
    cmd.arg("--lab")
        .arg(&lab.dir)
        .args(args)
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env("XDG_STATE_HOME", home.join("state"))
        .env("XDG_RUNTIME_DIR", home)
        .stdin(Stdio::piped());
    let out = output_with_stdin(&mut cmd, input.as_bytes());
    let mut printed = PRINTED.lock().unwrap();
    printed.extend_from_slice(&out.stdout);
    printed.extend_from_slice(&out.stderr);
    drop(printed);
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

fn stored(lab: &Lab, name: &str) -> serde_json::Value {
    let out = lab.kubectl_ok(&["get", "settings.harvesterhci.io", name, "-o", "json"]);
    serde_json::from_str(&out).unwrap()
}

fn configured(lab: &Lab, name: &str) -> bool {
    stored(lab, name)["status"]["conditions"]
        .as_array()
        .is_some_and(|cs| {
            cs.iter()
                .any(|c| c["type"] == "configured" && c["status"] == "True")
        })
}

/// Resets `name` with an empty value (Harvester's default applies again;
/// its controller reports the default as not configured).
fn reset(lab: &Lab, home: &Path, name: &str) {
    let (code, out, err) = hc(
        lab,
        home,
        &["settings", "set", name, "--value", "-", "--yes"],
        "",
    );
    assert_eq!(code, 0, "reset {name}: {out}\n{err}");
    // An empty value is omitted, as Go's omitempty does.
    assert_eq!(
        stored(lab, name)["value"].as_str().unwrap_or(""),
        "",
        "{name}"
    );
}

/// A value refused before sending: exit 2, the message, no write reached the API.
fn refused(lab: &Lab, home: &Path, args: &[&str], input: &str, name: &str, message: &str) {
    let mark = lab.api_log_mark();
    let before = stored(lab, name)["value"].clone();
    let (code, out, err) = hc(lab, home, args, input);
    assert_eq!(code, 2, "{out}\n{err}");
    assert!(
        out.contains(message) || err.contains(message),
        "expected {message:?}:\n{out}\n{err}"
    );
    assert_eq!(
        lab.api_writes_since(mark, "settings.harvesterhci.io", name),
        Vec::<serde_json::Value>::new()
    );
    assert_eq!(stored(lab, name)["value"], before);
}

struct Pki {
    ca: String,
    leaf: String,
    key: String,
    other_key: String,
}

fn pki(host: &str) -> Pki {
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.distinguished_name
        .push(DnType::CommonName, "settings-lab-ca");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_key = KeyPair::generate().unwrap();
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca, ca_key);
    let mut leaf = CertificateParams::new(vec!["harvester.lab".to_string()]).unwrap();
    leaf.subject_alt_names
        .push(SanType::IpAddress(host.parse().unwrap()));
    leaf.distinguished_name
        .push(DnType::CommonName, "harvester.lab");
    let key = KeyPair::generate().unwrap();
    let leaf_cert = leaf.signed_by(&key, &issuer).unwrap();
    Pki {
        ca: ca_cert.pem(),
        leaf: leaf_cert.pem(),
        key: key.serialize_pem(),
        other_key: KeyPair::generate().unwrap().serialize_pem(),
    }
}

/// A CA certificate that expired yesterday.
fn expired_ca() -> (String, KeyPair) {
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.distinguished_name.push(DnType::CommonName, "old-lab-ca");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let now = time::OffsetDateTime::now_utc();
    ca.not_before = now - time::Duration::days(400);
    ca.not_after = now - time::Duration::days(1);
    let key = KeyPair::generate().unwrap();
    (ca.self_signed(&key).unwrap().pem(), key)
}

fn api_host(lab: &Lab) -> String {
    let kc = std::fs::read_to_string(lab.kubeconfig()).unwrap();
    let server = kc
        .lines()
        .find_map(|l| l.trim().strip_prefix("server:"))
        .unwrap()
        .trim()
        .trim_matches('"');
    let authority = server.split_once("://").unwrap().1;
    authority.rsplit_once(':').unwrap().0.to_string()
}

/// The SHA-256 of the certificate `host`:443 presents, as openssl prints it.
fn presented_sha256(host: &str) -> String {
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "openssl s_client -connect {host}:443 </dev/null 2>/dev/null | openssl x509 -noout -fingerprint -sha256"
        ))
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

fn pem_sha256(pem: &str) -> String {
    let mut cmd = Command::new("openssl");
    cmd.args(["x509", "-noout", "-fingerprint", "-sha256"]);
    let out = output_with_stdin(&mut cmd, pem.as_bytes());
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// The decoded data of secret `ns/name`, read through the lab's API.
fn secret_data(lab: &Lab, ns: &str, name: &str) -> serde_json::Map<String, serde_json::Value> {
    use base64::Engine;
    let out = lab.kubectl_ok(&["get", "secret", "-n", ns, name, "-o", "json"]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    v["data"]
        .as_object()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .map(|(k, b64)| {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(b64.as_str().unwrap())
                .unwrap();
            (k, serde_json::json!(String::from_utf8(bytes).unwrap()))
        })
        .collect()
}

/// Where Harvester's additional-ca syncer copies the bundle: each copy's text.
fn additional_ca_copies(lab: &Lab) -> Vec<String> {
    let mut copies: Vec<String> = ["harvester-system", "longhorn-system", "cattle-system"]
        .iter()
        .map(|ns| {
            secret_data(lab, ns, "harvester-additional-ca")["additional-ca.pem"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    let cm = lab.kubectl_ok(&[
        "get",
        "configmap",
        "-n",
        "harvester-system",
        "harvester-additional-ca-cdi",
        "-o",
        "jsonpath={.data.ca\\.pem}",
    ]);
    copies.push(cm);
    copies
}

/// Whether a TLS handshake with `host`:443 offering only `version`
/// (`-tls1_2`, `-tls1_3`) succeeds, as openssl sees it.
fn handshake(host: &str, version: &str) -> bool {
    Command::new("openssl")
        .args(["s_client", "-connect", &format!("{host}:443"), version])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap()
        .success()
}

/// The RKE2 unit's invocation and when it last started and became active
/// (CLOCK_MONOTONIC, shared by the lab's nodes), on `node`.
fn rke2_run(lab: &Lab, node: &str) -> (String, u64, u64) {
    let out = lab.ssh_ok(
        node,
        "for u in rke2-server rke2-agent; do if systemctl is-active -q $u; then systemctl show -p InvocationID -p InactiveExitTimestampMonotonic -p ActiveEnterTimestampMonotonic $u; fi; done",
    );
    let field = |k: &str| {
        out.lines()
            .find_map(|l| l.strip_prefix(&format!("{k}=")))
            .unwrap_or_else(|| panic!("{node}: no {k} in {out}"))
            .to_string()
    };
    (
        field("InvocationID"),
        field("InactiveExitTimestampMonotonic").parse().unwrap(),
        field("ActiveEnterTimestampMonotonic").parse().unwrap(),
    )
}

#[test]
fn the_other_credential_settings_are_set_refused_and_reset() {
    let started = Instant::now();
    let lab = Lab::up(&["--nodes", "2"]);
    let home_dir = Home::new("hcset");
    let home = home_dir.0.path();
    let host = api_host(&lab);
    let p = pki(&host);
    // The registry password lives on in each node's registries.yaml (as on
    // Harvester); the key only in the lab API's memory and the key file.
    let registry_password = Sentinel::new(Kind::RegistryPassword)
        .lives_in(&["/upper/etc/rancher/rke2/registries.yaml"]);
    let private_key = Sentinel::private_key(&p.key);
    let mut scan = SecretScan::start(&lab, &[&registry_password, &private_key]);

    // additional-ca: a CA applied, listed with its fingerprint; a bundle
    // with a server certificate is warned about (no webhook rule). The
    // preview says what Harvester does with it.
    let (code, out, err) = hc(
        &lab,
        home,
        &["settings", "set", "additional-ca", "--value", "-", "--yes"],
        &p.ca,
    );
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(
        format!("{out}{err}").contains("CDI config maps; RKE2 is unaffected"),
        "{out}\n{err}"
    );
    assert_eq!(stored(&lab, "additional-ca")["value"], p.ca.as_str());
    assert!(configured(&lab, "additional-ca"));
    // Copied into the CA secrets of harvester-system, longhorn-system and
    // cattle-system and into CDI's config map by the time it is configured.
    assert_eq!(additional_ca_copies(&lab), vec![p.ca.clone(); 4]);
    let (code, out, _) = hc(
        &lab,
        home,
        &["settings", "show", "additional-ca", "--json"],
        "",
    );
    assert_eq!(code, 0, "{out}");
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    let certs = &doc["settings"][0]["value"]["certificates"];
    assert_eq!(certs[0]["subject"], "CN=settings-lab-ca", "{doc}");
    assert_eq!(certs[0]["is_ca"], true);
    assert_eq!(certs[0]["sha256"].as_str().unwrap().len(), 64);
    // `show` compares each copy with the setting.
    let copies = doc["settings"][0]["copies"].as_object().unwrap();
    assert_eq!(copies.len(), 4, "{doc}");
    assert!(copies.values().all(|c| c["state"] == "matches"), "{doc}");
    let (code, out, _) = hc(
        &lab,
        home,
        &["settings", "check", "additional-ca", "--value", "-"],
        &format!("{}{}", p.ca, p.leaf),
    );
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("CN=harvester.lab") && out.contains("is not a CA"),
        "{out}"
    );
    // Harvester has no rule for it; harvcred refuses text that is no
    // certificate, and no copy changes.
    refused(
        &lab,
        home,
        &["settings", "set", "additional-ca", "--value", "-", "--yes"],
        "not a certificate\n",
        "additional-ca",
        "no PEM certificate in the value",
    );
    assert_eq!(additional_ca_copies(&lab), vec![p.ca.clone(); 4]);

    // An expired CA is only a warning for `set`, but `show` exits as
    // `status` does for an expired certificate (2) and names it.
    let (expired_ca, _) = expired_ca();
    let (code, out, err) = hc(
        &lab,
        home,
        &["settings", "set", "additional-ca", "--value", "-", "--yes"],
        &expired_ca,
    );
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(err.contains("Warnings") && err.contains("expired"), "{err}");
    let (code, out, _) = hc(&lab, home, &["settings", "show", "additional-ca"], "");
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains("CN=old-lab-ca") && out.contains("expired"),
        "{out}"
    );
    assert_eq!(additional_ca_copies(&lab), vec![expired_ca.clone(); 4]);
    // The rollback restores the bundle it replaced, copies included.
    let (code, out, err) = hc(
        &lab,
        home,
        &["settings", "rollback", "additional-ca", "--yes"],
        "",
    );
    assert_eq!(code, 0, "{out}\n{err}");
    assert_eq!(stored(&lab, "additional-ca")["value"], p.ca.as_str());
    assert!(configured(&lab, "additional-ca"));
    assert_eq!(additional_ca_copies(&lab), vec![p.ca.clone(); 4]);
    // Empty: Harvester empties the copies (it deletes none).
    reset(&lab, home, "additional-ca");
    assert_eq!(additional_ca_copies(&lab), vec![String::new(); 4]);

    // ssl-parameters: Harvester's message, from harvcred before sending and
    // from the lab's webhook for a client that does not check.
    let (code, out, err) = hc(
        &lab,
        home,
        &["settings", "set", "ssl-parameters", "--value", "-", "--yes"],
        r#"{"protocols":"TLSv1.2 TLSv1.3","ciphers":"ECDHE-ECDSA-AES128-GCM-SHA256"}"#,
    );
    assert_eq!(code, 0, "{out}\n{err}");
    assert_eq!(
        stored(&lab, "ssl-parameters")["value"],
        r#"{"protocols":"TLSv1.2 TLSv1.3","ciphers":"ECDHE-ECDSA-AES128-GCM-SHA256"}"#
    );
    assert!(configured(&lab, "ssl-parameters"));
    // `set` dialed the restarted ingress: both protocols work (the lab's
    // ingress certificate is ECDSA, so the ECDSA suite serves TLS 1.2).
    assert!(
        err.contains("negotiates TLSv1.2 and TLSv1.3")
            || out.contains("negotiates TLSv1.2 and TLSv1.3"),
        "{out}\n{err}"
    );
    assert!(handshake(&host, "-tls1_2") && handshake(&host, "-tls1_3"));
    refused(
        &lab,
        home,
        &["settings", "set", "ssl-parameters", "--value", "-", "--yes"],
        r#"{"protocols":"TLSv1.2 TLSv1.4"}"#,
        "ssl-parameters",
        "unsupported SSL protocol: TLSv1.4",
    );
    let out = lab.kubectl(&[
        "patch",
        "settings.harvesterhci.io",
        "ssl-parameters",
        "--type=merge",
        "-p",
        r#"{"value":"{\"protocols\":\"TLSv1.4\"}"}"#,
    ]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("unsupported SSL protocol: TLSv1.4"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // --dry-run: the server's dry run only; the value stays.
    let mark = lab.api_log_mark();
    let (code, out, err) = hc(
        &lab,
        home,
        &[
            "settings",
            "set",
            "ssl-parameters",
            "--value",
            "-",
            "--dry-run",
        ],
        r#"{"protocols":"TLSv1.3"}"#,
    );
    assert_eq!(code, 0, "{out}\n{err}");
    let writes = lab.api_writes_since(mark, "settings.harvesterhci.io", "ssl-parameters");
    assert_eq!(writes.len(), 1, "{writes:?}\n{out}\n{err}");
    assert_eq!(writes[0]["dryRun"], true, "{writes:?}");
    assert_eq!(
        stored(&lab, "ssl-parameters")["value"],
        r#"{"protocols":"TLSv1.2 TLSv1.3","ciphers":"ECDHE-ECDSA-AES128-GCM-SHA256"}"#
    );
    // A second change, then the rollback restores the first value.
    let (code, out, err) = hc(
        &lab,
        home,
        &["settings", "set", "ssl-parameters", "--value", "-", "--yes"],
        r#"{"protocols":"TLSv1.3"}"#,
    );
    assert_eq!(code, 0, "{out}\n{err}");
    assert_eq!(
        stored(&lab, "ssl-parameters")["value"],
        r#"{"protocols":"TLSv1.3"}"#
    );
    // The ingress restarted with TLS 1.3 only: a TLS 1.2 dial is refused.
    assert!(
        format!("{out}{err}").contains("negotiates TLSv1.3 (refused: TLSv1.2"),
        "{out}\n{err}"
    );
    assert!(!handshake(&host, "-tls1_2"));
    assert!(handshake(&host, "-tls1_3"));
    let (code, out, err) = hc(
        &lab,
        home,
        &["settings", "rollback", "ssl-parameters", "--yes"],
        "",
    );
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(handshake(&host, "-tls1_2") && handshake(&host, "-tls1_3"));
    assert_eq!(
        stored(&lab, "ssl-parameters")["value"],
        r#"{"protocols":"TLSv1.2 TLSv1.3","ciphers":"ECDHE-ECDSA-AES128-GCM-SHA256"}"#
    );
    assert!(configured(&lab, "ssl-parameters"));
    // A cipher name the ingress does not know: Harvester takes it, harvcred
    // warns naming it (set applies; show exits 1).
    let (code, out, err) = hc(
        &lab,
        home,
        &["settings", "set", "ssl-parameters", "--value", "-", "--yes"],
        r#"{"protocols":"TLSv1.2","ciphers":"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES129-GCM"}"#,
    );
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(
        err.contains("Warnings")
            && err.contains("does not know")
            && err.contains("ECDHE-RSA-AES129-GCM"),
        "{err}"
    );
    let (code, out, _) = hc(&lab, home, &["settings", "show", "ssl-parameters"], "");
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("does not know (") && out.contains(": ECDHE-RSA-AES129-GCM;"),
        "{out}"
    );
    // No protocol the ingress can serve: Harvester takes it (harvcred
    // warns), the ingress then refuses every handshake, and `set` says the
    // cluster is locked out, with the recovery (exit 1: applied, not working).
    let (code, out, err) = hc(
        &lab,
        home,
        &["settings", "set", "ssl-parameters", "--value", "-", "--yes"],
        r#"{"protocols":"TLSv1.1"}"#,
    );
    assert_eq!(code, 1, "{out}\n{err}");
    let said = format!("{out}{err}");
    assert!(
        said.contains("no TLS handshake with the ingress")
            && said.contains("locked out")
            && said.contains("harvcred settings set ssl-parameters --value -")
            && said.contains("harvcred settings rollback ssl-parameters"),
        "{said}"
    );
    assert!(!handshake(&host, "-tls1_2") && !handshake(&host, "-tls1_3"));
    // The documented recovery: an empty value; the ingress serves both again.
    reset(&lab, home, "ssl-parameters");
    assert!(handshake(&host, "-tls1_2") && handshake(&host, "-tls1_3"));

    // ssl-certificates: from files; a key that is not the certificate's is
    // refused before sending; the key never reaches the output or the audit.
    let files = tempfile::tempdir().unwrap();
    let f = |n: &str, t: &str| {
        let p = files.path().join(n);
        std::fs::write(&p, t).unwrap();
        p.to_str().unwrap().to_string()
    };
    let (cert, key, ca, other) = (
        f("cert.pem", &p.leaf),
        f("key.pem", &p.key),
        f("ca.pem", &p.ca),
        f("other.pem", &p.other_key),
    );
    refused(
        &lab,
        home,
        &[
            "settings",
            "set",
            "ssl-certificates",
            "--cert-file",
            &cert,
            "--key-file",
            &other,
            "--ca-file",
            &ca,
            "--yes",
        ],
        "",
        "ssl-certificates",
        "privateKey does not match publicCertificate",
    );
    // Harvester's webhook rule, said before sending; the lab's webhook says
    // the same to a client that does not check.
    let no_key = serde_json::json!({"publicCertificate": p.leaf, "privateKey": "junk"}).to_string();
    refused(
        &lab,
        home,
        &[
            "settings",
            "set",
            "ssl-certificates",
            "--value",
            "-",
            "--yes",
        ],
        &no_key,
        "ssl-certificates",
        "failed to locate private key",
    );
    let out = lab.kubectl(&[
        "patch",
        "settings.harvesterhci.io",
        "ssl-certificates",
        "--type=merge",
        "-p",
        &serde_json::json!({ "value": no_key }).to_string(),
    ]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("failed to locate private key"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let elsewhere = pki("10.255.255.254");
    let (cert2, key2) = (
        f("cert2.pem", &elsewhere.leaf),
        f("key2.pem", &elsewhere.key),
    );
    refused(
        &lab,
        home,
        &[
            "settings",
            "set",
            "ssl-certificates",
            "--cert-file",
            &cert2,
            "--key-file",
            &key2,
            "--yes",
        ],
        "",
        "ssl-certificates",
        &format!("publicCertificate does not cover {host}"),
    );
    refused(
        &lab,
        home,
        &[
            "settings",
            "set",
            "ssl-certificates",
            "--cert-file",
            &cert,
            "--key-file",
            &key,
            "--ca-file",
            &cert2,
            "--yes",
        ],
        "",
        "ssl-certificates",
        "publicCertificate does not verify up to ca",
    );
    // Harvester's ingress on the VIP:443 presents its own certificate first.
    let own = presented_sha256(&host);
    assert!(own.starts_with("sha256 Fingerprint="), "{own}");
    let (code, out, err) = hc(
        &lab,
        home,
        &[
            "settings",
            "set",
            "ssl-certificates",
            "--cert-file",
            &cert,
            "--key-file",
            "-",
            "--ca-file",
            &ca,
            "--yes",
        ],
        &p.key,
    );
    assert_eq!(code, 0, "{out}\n{err}");
    let v: serde_json::Value =
        serde_json::from_str(stored(&lab, "ssl-certificates")["value"].as_str().unwrap()).unwrap();
    assert_eq!(v["publicCertificate"], p.leaf.as_str());
    assert_eq!(v["privateKey"], p.key.as_str());
    assert!(configured(&lab, "ssl-certificates"));
    // Harvester's syncer wrote them into the ingress's TLS secret.
    let tls = secret_data(&lab, "cattle-system", "tls-ingress");
    assert_eq!(tls["tls.crt"], p.leaf.as_str());
    // Compared without printing: a failure message would show the key.
    assert!(
        tls["tls.key"] == p.key.as_str(),
        "tls.key is not the key set"
    );
    // `set` waited for the ingress to present it: a dial sees it now.
    assert_eq!(presented_sha256(&host), pem_sha256(&p.leaf));
    assert!(
        err.contains("presents SHA-256") || out.contains("presents SHA-256"),
        "{out}\n{err}"
    );
    let (code, out, _) = hc(&lab, home, &["settings", "show", "ssl-certificates"], "");
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("the chain's NotAfter") && out.contains("privateKey: set"),
        "{out}"
    );
    // Its old key is never kept in a file: no rollback, an empty value resets.
    let (code, _, err) = hc(
        &lab,
        home,
        &["settings", "rollback", "ssl-certificates", "--yes"],
        "",
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("has no rollback"), "{err}");
    reset(&lab, home, "ssl-certificates");
    // An empty value: the ingress is back on its own certificate; as in
    // Harvester, the secret keeps the last certificate and key.
    assert_eq!(presented_sha256(&host), own);
    assert_eq!(
        secret_data(&lab, "cattle-system", "tls-ingress")["tls.crt"],
        p.leaf.as_str()
    );

    // containerd-registry: the password is masked; Harvester removes the
    // auth from the value after syncing.
    let registry = format!(
        r#"{{"Mirrors":{{"docker.io":{{"Endpoints":["https://mirror.lab"]}}}},"Configs":{{"mirror.lab":{{"Auth":{{"Username":"puller","Password":"{}"}}}}}}}}"#,
        registry_password.value()
    );
    let runs_before = [rke2_run(&lab, "node1"), rke2_run(&lab, "node2")];
    let (code, out, err) = hc(
        &lab,
        home,
        &[
            "settings",
            "set",
            "containerd-registry",
            "--value",
            "-",
            "--yes",
        ],
        &registry,
    );
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(!out.contains(registry_password.value()) && !err.contains(registry_password.value()));
    let said = format!("{out}{err}");
    assert!(
        said.contains("restarts RKE2 on every node, one node at a time"),
        "{said}"
    );
    // `set` waited for each node's registries.yaml to match, and said so.
    for n in ["node1", "node2"] {
        assert!(
            out.contains(&format!(
                "node {n}: /etc/rancher/rke2/registries.yaml matches"
            )),
            "{out}"
        );
    }
    // Harvester's secret holds the registries, auth included.
    let yaml = secret_data(&lab, "cattle-system", "harvester-containerd-registry");
    let yaml = yaml["registries.yaml"].as_str().unwrap();
    assert!(
        yaml.contains("https://mirror.lab") && yaml.contains("puller"),
        "{yaml}"
    );
    // Rancher's planner restarted RKE2 on each node, one node at a time:
    // node2's restart began after node1's was up again.
    let deadline = Instant::now() + Duration::from_secs(60);
    let runs_after = loop {
        let now = [rke2_run(&lab, "node1"), rke2_run(&lab, "node2")];
        if now[0].0 != runs_before[0].0 && now[1].0 != runs_before[1].0 {
            break now;
        }
        assert!(
            Instant::now() < deadline,
            "RKE2 not restarted on every node: {runs_before:?} -> {now:?}"
        );
        std::thread::sleep(Duration::from_millis(300));
    };
    assert!(
        runs_after[1].1 >= runs_after[0].2,
        "node2 restarted before node1 was up: {runs_after:?}"
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let v = stored(&lab, "containerd-registry")["value"].clone();
        if !v.as_str().unwrap().contains("Auth") {
            assert!(v.as_str().unwrap().contains("https://mirror.lab"), "{v}");
            break;
        }
        assert!(Instant::now() < deadline, "Auth was not removed: {v}");
        std::thread::sleep(Duration::from_millis(200));
    }
    // Rancher's planner writes it to every node's registries.yaml (with the
    // auth); `show` compares each node's file with the setting.
    let show_registry = || {
        hc(
            &lab,
            home,
            &["settings", "show", "containerd-registry", "--json"],
            "",
        )
    };
    let nodes_match = |out: &str| {
        let doc: serde_json::Value = serde_json::from_str(out).unwrap();
        let nodes = doc["settings"][0]["nodes"].clone();
        ["node1", "node2"]
            .iter()
            .all(|n| nodes[n]["matches"] == true)
    };
    let registries = "sudo cat /etc/rancher/rke2/registries.yaml";
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (code, out, err) = show_registry();
        if code == 0 && nodes_match(&out) {
            break;
        }
        assert!(Instant::now() < deadline, "{code}\n{out}\n{err}");
        std::thread::sleep(Duration::from_millis(300));
    }
    for n in ["node1", "node2"] {
        let file = lab.ssh_ok(n, registries);
        assert!(
            file.contains("https://mirror.lab") && file.contains("puller"),
            "{n}: {file}"
        );
    }
    // An edit by hand on node2 is drift on node2 only; its password stays unsaid.
    lab.ssh_ok(
        "node2",
        "sudo sed -i 's#https://mirror.lab#https://elsewhere.lab#' /etc/rancher/rke2/registries.yaml",
    );
    let (code, out, err) = hc(&lab, home, &["settings", "show", "containerd-registry"], "");
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(
        out.contains("node node2: /etc/rancher/rke2/registries.yaml differs")
            && out.contains("https://elsewhere.lab")
            && out.contains("node node1: /etc/rancher/rke2/registries.yaml matches"),
        "{out}"
    );
    assert!(!out.contains(registry_password.value()) && !err.contains(registry_password.value()));
    refused(
        &lab,
        home,
        &[
            "settings",
            "set",
            "containerd-registry",
            "--value",
            "-",
            "--yes",
        ],
        "[1",
        "containerd-registry",
        "containerd-registry",
    );
    // The rollback restores the value the change replaced: none.
    let (code, out, err) = hc(
        &lab,
        home,
        &["settings", "rollback", "containerd-registry", "--yes"],
        "",
    );
    assert_eq!(code, 0, "{out}\n{err}");
    assert_eq!(
        stored(&lab, "containerd-registry")["value"]
            .as_str()
            .unwrap_or(""),
        ""
    );
    assert_eq!(
        secret_data(&lab, "cattle-system", "harvester-containerd-registry")["registries.yaml"],
        ""
    );
    // No registries left: the files go, node2's edit with them.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (code, out, err) = show_registry();
        if code == 0 && nodes_match(&out) {
            break;
        }
        assert!(Instant::now() < deadline, "{code}\n{out}\n{err}");
        std::thread::sleep(Duration::from_millis(300));
    }

    // All four, back at Harvester's defaults.
    let (code, out, _) = hc(&lab, home, &["settings", "show", "--json"], "");
    assert_eq!(code, 0, "{out}");
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    let names: Vec<&str> = doc["settings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "additional-ca",
            "ssl-certificates",
            "ssl-parameters",
            "containerd-registry"
        ]
    );
    assert!(
        doc["settings"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["customized"] == false),
        "{doc}"
    );

    // --read-only refuses before anything is read.
    let mark = lab.api_log_mark();
    let (code, _, err) = hc(
        &lab,
        home,
        &[
            "--read-only",
            "settings",
            "set",
            "ssl-parameters",
            "--value",
            "-",
            "--yes",
        ],
        "{}",
    );
    assert_eq!(code, 2, "{err}");
    assert!(
        lab.api_writes_since(mark, "settings.harvesterhci.io", "ssl-parameters")
            .is_empty()
    );

    // No private key or registry password in any process's arguments or
    // environment (sampled all along), anything harvcred wrote or printed,
    // the lab's logs (its API request log records no body), or any file of
    // the lab or the nodes but registries.yaml.
    scan.text("harvcred's outputs", &*PRINTED.lock().unwrap());
    scan.finish(&home_dir, "settings_lab");
    let audit =
        std::fs::read_to_string(home.join("state/harvcred/audit.jsonl")).unwrap_or_default();
    assert!(audit.contains("settings.set.ssl-certificates"), "{audit}");
    eprintln!("settings_lab took {:?}", started.elapsed());
}

/// `settings add-ca` and `remove-ca`: a second CA is added to a bundle and
/// listed, the first kept byte for byte; the added one is removed by a
/// fingerprint prefix; an unknown fingerprint exits 2 and writes nothing.
#[test]
fn single_cas_are_added_and_removed_with_the_rest_of_the_bundle_kept() {
    let lab = Lab::up(&["--nodes", "1"]);
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    let first = pki(&api_host(&lab)).ca;
    let (second, _) = expired_ca();
    let bundle = format!("# the corporate root\n{first}");
    let (code, out, err) = hc(
        &lab,
        home,
        &["settings", "set", "additional-ca", "--value", "-", "--yes"],
        &bundle,
    );
    assert_eq!(code, 0, "{out}\n{err}");

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("second.pem");
    std::fs::write(&file, &second).unwrap();
    let (code, out, err) = hc(
        &lab,
        home,
        &[
            "settings",
            "add-ca",
            "--file",
            file.to_str().unwrap(),
            "--yes",
        ],
        "",
    );
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("adding CN=old-lab-ca"), "{out}");
    assert_eq!(
        stored(&lab, "additional-ca")["value"],
        format!("{bundle}{second}").as_str()
    );
    assert!(configured(&lab, "additional-ca"));
    let (_, out, _) = hc(
        &lab,
        home,
        &["settings", "show", "additional-ca", "--json"],
        "",
    );
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    let certs = doc["settings"][0]["value"]["certificates"]
        .as_array()
        .unwrap()
        .clone();
    let subjects: Vec<&str> = certs
        .iter()
        .map(|c| c["subject"].as_str().unwrap())
        .collect();
    assert_eq!(subjects, ["CN=settings-lab-ca", "CN=old-lab-ca"], "{doc}");
    // The same CA again: said, nothing written.
    let mark = lab.api_log_mark();
    let (code, out, _) = hc(
        &lab,
        home,
        &["settings", "add-ca", "--value", "-", "--yes"],
        &second,
    );
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("already in the bundle"), "{out}");
    assert!(
        lab.api_writes_since(mark, "settings.harvesterhci.io", "additional-ca")
            .is_empty()
    );

    // An unknown fingerprint: exit 2, the message, nothing written.
    refused(
        &lab,
        home,
        &["settings", "remove-ca", "00000000deadbeef", "--yes"],
        "",
        "additional-ca",
        "no certificate of additional-ca has a SHA-256 fingerprint starting with 00000000deadbeef",
    );
    let prefix = &certs[1]["sha256"].as_str().unwrap()[..10];
    let (code, out, err) = hc(&lab, home, &["settings", "remove-ca", prefix, "--yes"], "");
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("removing CN=old-lab-ca"), "{out}");
    assert_eq!(stored(&lab, "additional-ca")["value"], bundle.as_str());
    // Audited as `settings set additional-ca`: the set, the add, the removal.
    let audit = std::fs::read_to_string(home.join("state/harvcred/audit.jsonl")).unwrap();
    let applied = audit
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|e| e["action"] == "settings.set.additional-ca" && e["step"] == "apply")
        .count();
    assert_eq!(applied, 3, "{audit}");
}
