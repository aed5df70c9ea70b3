//! Every corpus entry through the CLI outputs `display.rs` leaves out:
//! `proxy show`, `password check`, `settings show` (all four settings),
//! `token show` and `cloudcreds show`, as tables and as JSON. Text is checked character by
//! character (no ratatui in between); JSON must carry the exact remote
//! value and parse back.

use super::display::{NOW, chain_pem, leak, names, sweep};
use super::hostile::{assert_inert, corpus_text};
use crate::cli::status::json_text;
use crate::creds::level::{Finding, Level, Thresholds};
use crate::logs::sanitize_str;

/// Checks one output; JSON also parses back to `value`.
fn check(place: &str, entry: &str, text: &str, out: &str, value: Option<&serde_json::Value>) {
    assert_inert(place, entry, out);
    if let Some(v) = value {
        let back: serde_json::Value = serde_json::from_str(out.trim_end())
            .unwrap_or_else(|e| panic!("{place}: {entry}: not JSON: {e}"));
        assert_eq!(&back, v, "{place}: {entry}: JSON lost text");
        return;
    }
    let lines: Vec<String> = out.lines().map(String::from).collect();
    let mut n = 0;
    if let Some(l) = leak(&lines, text, &mut n) {
        panic!("{place}: corpus entry {entry:?} printed raw: {l:?}");
    }
}

/// `harvcred settings show`'s text for one setting, as `cli::settings::show`
/// prints it, and its JSON document.
fn settings_show(name: &str, value: &str, rv: &str) -> (String, serde_json::Value) {
    let d = crate::creds::setting_values::describe(name, value, NOW, &Thresholds::default());
    let mut out = format!(
        "{name} (resourceVersion {}, customized)\n",
        sanitize_str(rv)
    );
    for l in &d.lines {
        out.push_str(&format!("  {}\n", sanitize_str(l)));
    }
    for f in &d.findings {
        out.push_str(&format!("  {}: {}\n", f.level, sanitize_str(&f.message)));
    }
    let doc = serde_json::json!({
        "name": name,
        "resource_version": rv,
        "configured": true,
        "customized": true,
        "value": d.detail,
        "findings": d.findings,
        "level": d.level().as_str(),
    });
    (out, doc)
}

/// The four settings, each with `text` where the cluster's words are:
/// certificate subjects, registry names and endpoints, protocols, ciphers.
fn settings_values(text: &str) -> Vec<(&'static str, String)> {
    use crate::creds::setting_values as v;
    let line = text.replace(['\n', '\r'], " ");
    let pem = chain_pem(&line);
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519)
        .unwrap()
        .serialize_pem();
    vec![
        (v::ADDITIONAL_CA, pem.clone()),
        (
            v::SSL_CERTIFICATES,
            serde_json::json!({"publicCertificate": pem, "privateKey": key, "ca": pem}).to_string(),
        ),
        (
            v::SSL_PARAMETERS,
            serde_json::json!({"protocols": format!("TLSv1.2 {text}"), "ciphers": text})
                .to_string(),
        ),
        (
            v::CONTAINERD_REGISTRY,
            serde_json::json!({
                "Mirrors": {format!("r{line}"): {"Endpoints": [format!("https://m{line}")]}},
                "Configs": {format!("c{line}"): {"Auth": {"Username": format!("u{text}")}}},
            })
            .to_string(),
        ),
    ]
}

fn token_view(text: &str) -> crate::flows::token::TokenView {
    use crate::creds::token::JoinLoop;
    use crate::flows::token::{CopyView, NodeView, TokenView};
    let (a, b) = names(text);
    let copy = |source: String| CopyView {
        source,
        short_hash: "1a2b3c4d".into(),
        format: "secure (server)".into(),
        ca: "matches",
        agrees_with_servers: Some(false),
    };
    TokenView {
        exit_code: 2,
        servers_token: Some("5e6f7a8b".into()),
        nodes: vec![
            NodeView {
                node: a,
                role: "server".into(),
                level: "critical".into(),
                error: None,
                copies: vec![copy(format!("/oem/{text}.yaml"))],
                bootstrap_data: Some(false),
                rancherd_loop: Some(JoinLoop {
                    line: format!("msg=\"{text}\""),
                    repeats: 3,
                }),
                findings: vec![Finding::new(
                    Level::Warn,
                    format!("subject {text}"),
                    format!("message {text}"),
                )],
            },
            NodeView {
                node: b,
                role: "server".into(),
                level: "unreachable".into(),
                error: Some(format!("ssh said {text}")),
                copies: Vec::new(),
                bootstrap_data: None,
                rancherd_loop: None,
                findings: Vec::new(),
            },
        ],
        cluster: vec![copy(format!("secret {text}"))],
        api_error: Some(format!("api {text}")),
    }
}

/// A Rancher whose one cloud credential carries `text` in every name the
/// Rancher chooses: secret name, display name, cluster id and name, token
/// name and expiry, the TTL setting.
fn cloudcreds_inventory(text: &str) -> crate::cluster::rancher::Inventory {
    use crate::cluster::rancher::{CredentialRow, Inventory};
    use crate::creds::cloudcred::{self as cc, TokenInfo, TokenLookup};
    use base64::Engine;
    let b = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    // JSON strings are YAML scalars: the hostile token name survives quoting.
    let token = serde_json::to_string(&format!("kubeconfig-user-{text}:S3cret")).unwrap();
    let kc = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: a\n  cluster:\n    server: https://r/k8s/clusters/c-m-1\nusers:\n- name: a\n  user:\n    token: {token}\ncontexts:\n- name: a\n  context:\n    cluster: a\n    user: a\ncurrent-context: a\n"
    );
    let secret = serde_json::json!({
        "metadata": {"name": format!("cc-{text}"), "resourceVersion": "1",
            "annotations": {(cc::DISPLAY_NAME_ANNOTATION): format!("display {text}")}},
        "data": {(cc::KUBECONFIG_KEY): b(&kc), (cc::CLUSTER_ID_KEY): b(&format!("c-m-{text}"))},
    });
    Inventory {
        ttl_minutes: Ok(format!("ttl {text}")),
        rows: vec![CredentialRow {
            cred: cc::from_secret(&secret).unwrap(),
            cluster_name: Some(format!("cluster {text}")),
            token: TokenLookup::Found(TokenInfo {
                name: format!("kubeconfig-user-{text}"),
                expires_at: Some(3 * 86_400),
                expires_at_text: format!("expiry {text}"),
                expired: false,
                ttl: 0,
                user_id: format!("user {text}"),
                cluster_name: format!("c-m-{text}"),
            }),
        }],
    }
}

#[test]
fn the_other_cli_outputs_print_hostile_remote_text_only_escaped() {
    use crate::cluster::settings::{Configured, ProxyRead};
    use crate::creds::proxy::{ClusterFacts, HttpProxySetting, ProxyUrl};
    let mut outputs = 0;
    let entries = corpus_text();
    for (name, text) in &entries {
        let mut run = |place: &str, out: &str, json: Option<&serde_json::Value>| {
            check(place, name, text, out, json);
            outputs += 1;
        };
        // proxy show
        let cur = ProxyRead {
            setting: HttpProxySetting {
                http_proxy: ProxyUrl::new(&format!("http://ops:secret@{text}:3128")),
                https_proxy: ProxyUrl::new(&format!("http://{text}:3128")),
                no_proxy: format!("{text},10.0.0.0/8"),
            },
            resource_version: format!("rv{text}"),
            configured: Configured {
                status: Some(false),
                reason: format!("reason {text}"),
                message: format!("message {text}"),
            },
        };
        let facts = ClusterFacts {
            node_ips: vec![text.clone()],
            ..Default::default()
        };
        let (out, _) = crate::cli::proxy::show_text(&cur, &facts, false).unwrap();
        run("proxy show", &out, None);
        let (out, _) = crate::cli::proxy::show_text(&cur, &facts, true).unwrap();
        let back: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(
            back["configured_message"],
            format!("message {text}"),
            "{name}"
        );
        assert_eq!(back["node_ips"][0], text.as_str(), "{name}");
        run("proxy show --json", &out, Some(&back));

        // password check
        let (out, _) = crate::cli::password::check_report(&sweep(text));
        run("password check", &out, None);

        // settings show, each setting and the error line of an unreadable one
        for (setting, value) in settings_values(text) {
            let (out, doc) = settings_show(setting, &value, &format!("rv{text}"));
            run(&format!("settings show {setting}"), &out, None);
            run(
                &format!("settings show {setting} --json"),
                &json_text(&doc).unwrap(),
                Some(&doc),
            );
        }

        // token show
        let v = token_view(text);
        let out = crate::cli::token::render_view(&v);
        run("token show", &out, None);
        run(
            "token show --json",
            &json_text(&v).unwrap(),
            Some(&serde_json::to_value(&v).unwrap()),
        );

        // cloudcreds show
        let inv = cloudcreds_inventory(text);
        let t = Thresholds::default();
        let (out, _) = crate::cli::cloudcreds::show_text(text, text, &inv, 0, &t, false).unwrap();
        run("cloudcreds show", &out, None);
        assert!(!out.contains("S3cret"), "{name}: {out}");
        let (out, _) = crate::cli::cloudcreds::show_text(text, text, &inv, 0, &t, true).unwrap();
        let back: serde_json::Value = serde_json::from_str(&out).unwrap();
        let cred = &back["credentials"][0];
        assert_eq!(cred["display_name"], format!("display {text}"), "{name}");
        assert_eq!(cred["cluster_name"], format!("cluster {text}"), "{name}");
        run("cloudcreds show --json", &out, Some(&back));

        if name == &"csi clear screen" {
            // Each output shows the remote words (escaped): not vacuous.
            let (cc, _) =
                crate::cli::cloudcreds::show_text(text, text, &inv, 0, &t, false).unwrap();
            for w in [
                "cc-",
                "display ",
                "cluster ",
                "kubeconfig-user-",
                "expiry ",
                "ttl ",
            ] {
                assert!(
                    cc.contains(&format!("{w}{e}", e = "\\e[2J\\e[H")),
                    "{w}: {cc}"
                );
            }
            let e = "\\e[2J\\e[H";
            let (proxy, _) = crate::cli::proxy::show_text(&cur, &facts, false).unwrap();
            assert!(proxy.contains(&format!("message {e}")), "{proxy}");
            assert!(
                proxy.contains(&format!("http://ops:***@{e}:3128")),
                "{proxy}"
            );
            let (pw, _) = crate::cli::password::check_report(&sweep(text));
            assert!(
                pw.contains(&format!("n{e}-down: unreachable: ssh said {e}")),
                "{pw}"
            );
            let token = crate::cli::token::render_view(&v);
            for w in ["secret", "ssh said", "api", "subject", "message"] {
                assert!(token.contains(&format!("{w} {e}")), "{w}: {token}");
            }
            assert!(token.contains(&format!("/oem/{e}.yaml")), "{token}");
            let settings: Vec<String> = settings_values(text)
                .into_iter()
                .map(|(n, v)| settings_show(n, &v, "1").0)
                .collect();
            assert!(settings[0].contains(&format!("ca {e}")), "{}", settings[0]);
            assert!(
                settings[1].contains(&format!("leaf {e}")),
                "{}",
                settings[1]
            );
            assert!(settings[2].contains(e), "{}", settings[2]);
            assert!(settings[3].contains(&format!("r{e}")), "{}", settings[3]);
            assert!(settings[3].contains(&format!("u{e}")), "{}", settings[3]);
        }
    }
    eprintln!(
        "hostile corpus: {} entries x {} more CLI outputs",
        entries.len(),
        outputs / entries.len()
    );
}
