//! Harvester cloud credentials in the lab's Rancher (scenario
//! cloudcred-expiring: the credential's token expires in 5 days): `cloudcreds
//! show` and `status` warn naming it; renewing from a kubeconfig whose token
//! does not authenticate is refused before anything is written; `--read-only`
//! and `--dry-run` write nothing; `renew --generate --yes` replaces it, the
//! new token authenticates through Rancher's proxy (kubectl), `show` is then
//! ok. No token secret in any process argument, harvcred output, audit line,
//! harvcred file or the Rancher's request log. Needs root (the lab).

mod common;

use std::process::Command;

use common::secrets::{Kind, SecretScan, Sentinel};
use common::{Home, Lab, output_with_stdin, text};
use harvcred::cluster::KubeSettings;
use harvcred::cluster::rancher;
use harvcred::creds::cloudcred;

const CRED: &str = "cc-lab01";
const RANCHER: [&str; 2] = ["--rancher-context", "rancher"];

/// The kubeconfig the credential stores now, read as Rancher's admin.
fn stored_kubeconfig(lab: &Lab) -> String {
    let settings = KubeSettings {
        kubeconfig: Some(lab.kubeconfig()),
        context: Some("rancher".into()),
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let r = rancher::connect(&settings).await.unwrap();
        rancher::stored_kubeconfig(&r, CRED)
            .await
            .unwrap()
            .unwrap()
            .to_string()
    })
}

/// `(token name, secret part)` of a kubeconfig.
fn token_parts(kubeconfig: &str) -> (String, String) {
    let k = cloudcred::parse_kubeconfig(kubeconfig).unwrap();
    let (n, s) = k.token().split_once(':').unwrap();
    (n.to_string(), s.to_string())
}

/// The lab Rancher's request log.
fn rancher_requests(lab: &Lab) -> Vec<serde_json::Value> {
    std::fs::read_to_string(lab.dir.join("rancher-requests.jsonl"))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Requests after `mark` that change something: the credential's patch or
/// a generated kubeconfig (a new token); not a server-side dry run.
fn rancher_writes_since(lab: &Lab, mark: usize) -> Vec<serde_json::Value> {
    rancher_requests(lab)
        .into_iter()
        .skip(mark)
        .filter(|r| r["verb"] != "get" && r["verb"] != "list" && r["dryRun"] != true)
        .collect()
}

/// kubectl with `kubeconfig` (from a 0600 file): the server's version when
/// the token authenticates.
fn kubectl_version(dir: &std::path::Path, kubeconfig: &str) -> std::process::Output {
    use std::os::unix::fs::OpenOptionsExt;
    let path = dir.join("new-kubeconfig");
    let _ = std::fs::remove_file(&path);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .unwrap();
    std::io::Write::write_all(&mut f, kubeconfig.as_bytes()).unwrap();
    Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(&path)
        // Not `get --raw`: it drops the server URL's path (Rancher's proxy prefix).
        .args(["version", "-o", "json"])
        .output()
        .unwrap()
}

fn with_rancher<'a>(args: &[&'a str]) -> Vec<&'a str> {
    RANCHER
        .iter()
        .copied()
        .chain(args.iter().copied())
        .collect()
}

#[test]
fn an_expiring_credential_warns_a_bad_kubeconfig_is_refused_and_generate_renews_it() {
    let lab = Lab::up(&["--nodes", "1", "--scenario", "cloudcred-expiring"]);
    let home = Home::new("hccc");
    let old = stored_kubeconfig(&lab);
    let (old_name, old_secret) = token_parts(&old);
    let mut outputs = String::new();
    let mut scan = SecretScan::start(&lab, &[&Sentinel::of(Kind::CloudCredential, &old_secret)]);

    // show: the credential, its cluster and token, warned about (5 days left).
    let out = home.run(&lab, &with_rancher(&["cloudcreds", "show"]));
    outputs += &text(&out);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let shown = text(&out);
    assert!(shown.contains(CRED) && shown.contains(&old_name), "{shown}");
    assert!(shown.contains("43200 (30 days)"), "{shown}");
    assert!(
        shown.contains(&format!("warn {CRED}: its token expires in 4d 23h"))
            || shown.contains(&format!("warn {CRED}: its token expires in 5d 0h")),
        "{shown}"
    );
    let out = home.run(&lab, &with_rancher(&["cloudcreds", "show", "--json"]));
    outputs += &text(&out);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["credentials"][0]["level"], "warn");
    assert!(
        v["credentials"][0]["cluster_name"]
            .as_str()
            .unwrap()
            .starts_with("harvester-")
    );

    // status warns about it too; without a Rancher context it says nothing.
    let out = home.run(&lab, &with_rancher(&["status"]));
    outputs += &text(&out);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains(&format!("warn cloud credential {CRED}")),
        "{}",
        text(&out)
    );
    let out = home.run(&lab, &["status"]);
    assert!(!text(&out).contains("cloud credential"), "{}", text(&out));

    // A kubeconfig for the right cluster whose token does not authenticate:
    // refused before anything is written.
    let bad = old.replace(&old_secret, &"x".repeat(old_secret.len()));
    let bad_file = home.0.path().join("bad-kubeconfig");
    std::fs::write(&bad_file, &bad).unwrap();
    let mark = rancher_requests(&lab).len();
    let out = home.run(
        &lab,
        &with_rancher(&[
            "cloudcreds",
            "renew",
            CRED,
            "--kubeconfig-file",
            bad_file.to_str().unwrap(),
            "--yes",
        ]),
    );
    outputs += &text(&out);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("does not authenticate"),
        "{}",
        text(&out)
    );
    assert_eq!(
        rancher_writes_since(&lab, mark),
        Vec::<serde_json::Value>::new()
    );
    // The same from stdin (`--kubeconfig -`).
    let out = output_with_stdin(
        &mut home.cmd(
            &lab,
            &with_rancher(&["--kubeconfig", "-", "cloudcreds", "renew", CRED, "--yes"]),
        ),
        bad.as_bytes(),
    );
    outputs += &text(&out);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert_eq!(
        rancher_writes_since(&lab, mark),
        Vec::<serde_json::Value>::new()
    );

    // --read-only refuses; --dry-run generates nothing and writes nothing.
    let out = home.run(
        &lab,
        &with_rancher(&[
            "--read-only",
            "cloudcreds",
            "renew",
            CRED,
            "--generate",
            "--yes",
        ]),
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let out = home.run(
        &lab,
        &with_rancher(&["cloudcreds", "renew", CRED, "--generate", "--dry-run"]),
    );
    outputs += &text(&out);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(
        rancher_writes_since(&lab, mark),
        Vec::<serde_json::Value>::new()
    );
    assert_eq!(stored_kubeconfig(&lab), old);

    // Renew: a new token from Rancher, patched with the resourceVersion read, verified.
    let mark = rancher_requests(&lab).len();
    let out = home.run(
        &lab,
        &with_rancher(&["cloudcreds", "renew", CRED, "--generate", "--yes"]),
    );
    outputs += &text(&out);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let new = stored_kubeconfig(&lab);
    let (new_name, new_secret) = token_parts(&new);
    assert_ne!(new_name, old_name);
    assert!(
        text(&out).contains(&format!("old token:  {old_name}"))
            && text(&out).contains(&format!("new token:  {new_name}")),
        "{}",
        text(&out)
    );
    // The server checked the patch (dry run) before it was sent for real.
    let patches: Vec<bool> = rancher_requests(&lab)
        .iter()
        .skip(mark)
        .filter(|r| r["verb"] == "patch")
        .map(|r| r["dryRun"] == true)
        .collect();
    assert_eq!(patches, [true, false]);
    let writes = rancher_writes_since(&lab, mark);
    let paths: Vec<&str> = writes.iter().map(|w| w["path"].as_str().unwrap()).collect();
    assert_eq!(
        paths,
        [
            format!(
                "/v3/clusters/{}",
                harvcred::lab::api::rancher::cluster_id_for(&lab.id())
            ),
            format!("/k8s/clusters/local/api/v1/namespaces/cattle-global-data/secrets/{CRED}"),
        ],
        "{writes:?}"
    );
    // The new token authenticates through Rancher's proxy; a wrong one does not.
    // (Outside harvcred's folders: those are searched for tokens below.)
    let kubectl_dir = tempfile::tempdir().unwrap();
    let ok = kubectl_version(kubectl_dir.path(), &new);
    assert!(
        String::from_utf8_lossy(&ok.stdout).contains("serverVersion"),
        "{}",
        text(&ok)
    );
    let refused = kubectl_version(kubectl_dir.path(), &bad);
    assert!(
        !String::from_utf8_lossy(&refused.stdout).contains("serverVersion"),
        "{}",
        text(&refused)
    );

    let out = home.run(&lab, &with_rancher(&["cloudcreds", "show"]));
    outputs += &text(&out);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains(&new_name), "{}", text(&out));

    // The audit names the tokens, never their secrets.
    let audit = home.audit();
    let verified: Vec<serde_json::Value> = audit
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .filter(|e: &serde_json::Value| {
            e["action"] == "cloudcreds.renew" && e["result"] == "verified"
        })
        .collect();
    assert_eq!(verified.len(), 1, "{audit}");
    assert_eq!(verified[0]["old"]["token"], old_name.as_str());
    assert_eq!(verified[0]["new"]["token"], new_name.as_str());

    // Neither token in any process's arguments or environment (sampled
    // all along), harvcred's output or files, the Rancher's request log or
    // any other file of the lab.
    scan.add(Sentinel::of(Kind::CloudCredential, &new_secret));
    scan.text("harvcred's outputs", &outputs);
    scan.finish(&home, "cloudcred_lab");
}

#[test]
fn an_expired_credential_is_critical_its_own_token_is_refused_and_generate_renews_it() {
    let lab = Lab::up(&["--nodes", "1", "--scenario", "cloudcred-expired"]);
    let home = Home::new("hccx");
    let old = stored_kubeconfig(&lab);

    let out = home.run(&lab, &with_rancher(&["cloudcreds", "show"]));
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains(&format!("expired {CRED}: its token expired 2d 0h ago")),
        "{}",
        text(&out)
    );
    let out = home.run(&lab, &with_rancher(&["status"]));
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains(&format!("expired cloud credential {CRED}")),
        "{}",
        text(&out)
    );

    // Its own kubeconfig again: the expired token does not authenticate.
    let mark = rancher_requests(&lab).len();
    let out = output_with_stdin(
        &mut home.cmd(
            &lab,
            &with_rancher(&["--kubeconfig", "-", "cloudcreds", "renew", CRED, "--yes"]),
        ),
        old.as_bytes(),
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("does not authenticate"),
        "{}",
        text(&out)
    );
    assert_eq!(
        rancher_writes_since(&lab, mark),
        Vec::<serde_json::Value>::new()
    );

    // Rancher does not answer generateKubeconfig: said after 15 s (the
    // lab would hang for 60), exit 3, nothing written.
    let fault = std::process::Command::new(common::BIN)
        .args(["lab", "fault", "--dir"])
        .arg(&lab.dir)
        .args(["--method", "POST", "--path", "action=generateKubeconfig"])
        .args(["--answer", "hang", "--times", "1"])
        .output()
        .unwrap();
    assert!(fault.status.success(), "{}", text(&fault));
    let mark = rancher_requests(&lab).len();
    let out = home.run(
        &lab,
        &with_rancher(&["cloudcreds", "renew", CRED, "--generate", "--yes"]),
    );
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(
        text(&out).contains("generateKubeconfig: no answer within 15 s"),
        "{}",
        text(&out)
    );
    assert!(
        rancher_writes_since(&lab, mark)
            .iter()
            .all(|r| r["verb"] != "patch"),
        "nothing patched"
    );
    assert_eq!(stored_kubeconfig(&lab), old);

    let out = home.run(
        &lab,
        &with_rancher(&["cloudcreds", "renew", CRED, "--generate", "--yes"]),
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let out = home.run(&lab, &with_rancher(&["cloudcreds", "show"]));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let refused = home
        .audit()
        .lines()
        .filter(|l| l.contains("\"result\":\"refused\"") && l.contains("does not authenticate"))
        .count();
    assert_eq!(refused, 1, "{}", home.audit());
}
