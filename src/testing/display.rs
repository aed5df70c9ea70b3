//! Every corpus entry through every place the console and the CLI show
//! remote text.
//!
//! ratatui silently drops C0/C1 control characters when it fills its buffer,
//! so scanning the screen for ESC alone could not catch a place that passes
//! remote text raw (`ESC [2J` would show as `[2J`). The check is therefore a
//! comparison: the console fed the hostile text must show exactly what it
//! shows when fed the already-escaped text (escaping is idempotent), and no
//! character a terminal acts on may be on screen.

use std::sync::{Arc, LazyLock};

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, PKCS_ED25519};
use time::OffsetDateTime;
use time::macros::datetime;
use zeroize::Zeroizing;

use super::hostile::{assert_inert, corpus, corpus_text};
use crate::app::{App, Msg, NodeInfo, Setup, Shared, View};
use crate::creds::level::Thresholds;
use crate::creds::proxy::{HttpProxySetting, ProxyUrl};
use crate::creds::report::{Area, FileRead, NodeFiles, TokenCopy, assess_node, network_facts};
use crate::logs::{LogLine, Timestamp, sanitize_str};
use crate::model::{Role, SshProblem, SshProblemKind, SshState};
use crate::status::{ClusterSettings, NodeOutcome, ReadFailure, Unreadable};

pub(super) const NOW: OffsetDateTime = datetime!(2026-11-29 12:00 UTC);
const KEY: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGGFOMswY4ktRo2j4fU9viU7rFZtW81ncGnHA25rr0ZG";

/// Ed25519 signatures are deterministic: the same names give the same
/// certificate bytes, so the hostile and the escaped run differ only in text.
static CA_KEY: LazyLock<KeyPair> = LazyLock::new(|| KeyPair::generate_for(&PKCS_ED25519).unwrap());
static LEAF_KEY: LazyLock<KeyPair> =
    LazyLock::new(|| KeyPair::generate_for(&PKCS_ED25519).unwrap());

/// A leaf and its CA with `text` in both subjects, as one PEM file.
pub(super) fn chain_pem(text: &str) -> String {
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.distinguished_name
        .push(DnType::CommonName, format!("ca {text}"));
    ca.distinguished_name
        .push(DnType::OrganizationName, format!("org {text}"));
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.not_before = datetime!(2024-01-01 0:00 UTC);
    ca.not_after = datetime!(2034-01-01 0:00 UTC);
    ca.serial_number = Some(vec![1].into());
    let ca_key = KeyPair::from_pem(&CA_KEY.serialize_pem()).unwrap();
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca, ca_key);
    let mut leaf = CertificateParams::new(vec!["kubernetes".to_string()]).unwrap();
    leaf.distinguished_name
        .push(DnType::CommonName, format!("leaf {text}"));
    leaf.not_before = datetime!(2026-01-01 0:00 UTC);
    // Soon: the certificate shows up in findings as well as in lists.
    leaf.not_after = datetime!(2026-12-05 0:00 UTC);
    leaf.serial_number = Some(vec![2].into());
    let leaf_cert = leaf.signed_by(&*LEAF_KEY, &issuer).unwrap();
    format!("{}{}", leaf_cert.pem(), ca_cert.pem())
}

fn content(s: impl Into<Vec<u8>>) -> FileRead {
    FileRead::Content(Zeroizing::new(s.into()))
}

/// One line of `text`, for places inside line-based files (a raw newline
/// there would split the line, which is the parser's business, not display's).
fn one_line(text: &str) -> String {
    text.replace(['\n', '\r'], " ")
}

/// What a node with `text` in every remote field it has would send.
fn node_files(text: &str) -> NodeFiles {
    let line = one_line(text);
    let mut files = std::collections::BTreeMap::new();
    // A GitHub entry and a key of a type nobody knows: the user name and the
    // type name are the file's words too (no blanks: they end at one).
    let word: String = line
        .chars()
        .map(|c| if c.is_whitespace() { '_' } else { c })
        .collect();
    let odd_type = format!("t{word}");
    let mut blob = (odd_type.len() as u32).to_be_bytes().to_vec();
    blob.extend_from_slice(odd_type.as_bytes());
    blob.extend_from_slice(b"\x00\x00\x00\x01k");
    let odd_key = {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(&blob)
    };
    files.insert(
        "/home/rancher/.ssh/authorized_keys".to_string(),
        content(format!(
            "{KEY} runtime {line}\ngithub:gh{word}\n{odd_type} {odd_key} odd\n"
        )),
    );
    // A JSON string is a YAML double-quoted scalar: the exact text survives.
    let item = serde_json::to_string(&format!("{KEY} persisted {line}")).unwrap();
    let proxy = serde_json::to_string(&format!("http://{line}:3128")).unwrap();
    files.insert(
        "/oem/90_custom.yaml".to_string(),
        content(format!(
            "stages:\n  network:\n    - users:\n        rancher:\n          ssh_authorized_keys:\n            - {item}\n      environment:\n        HTTP_PROXY: {proxy}\n"
        )),
    );
    files.insert(
        "/oem/99_broken.yaml".to_string(),
        content(format!("stages: [{line}\n")),
    );
    files.insert(
        "/etc/environment".to_string(),
        content(format!("HTTP_PROXY=http://{line}:3128\nNO_PROXY={line}\n")),
    );
    files.insert(
        "/var/lib/rancher/rke2/server/tls/serving-kube-apiserver.crt".to_string(),
        content(chain_pem(&line)),
    );
    files.insert(
        "/var/lib/rancher/rke2/server/tls/broken.crt".to_string(),
        content(format!(
            "-----BEGIN CERTIFICATE-----\n{line}\n-----END CERTIFICATE-----\n"
        )),
    );
    files.insert(
        "/var/lib/rancher/rke2/server/token".to_string(),
        content("K10bad::server:token\n"),
    );
    files.insert(
        "/etc/rancher/rancherd/config.yaml".to_string(),
        content(format!(
            "token: K10bad::server:token\nkubernetesVersion: {}\n",
            serde_json::to_string(&line).unwrap()
        )),
    );
    NodeFiles {
        files,
        node_time: Some(NOW.unix_timestamp()),
        hostname: Some(text.to_string()),
        login_fingerprint: Some(format!("SHA256:{text}")),
    }
}

fn settings(text: &str) -> ClusterSettings {
    ClusterSettings {
        http_proxy: Some(Ok(HttpProxySetting {
            http_proxy: ProxyUrl::new(&format!("http://ops:secret@{text}:3128")),
            https_proxy: ProxyUrl::new(&format!("http://{text}:3128")),
            no_proxy: format!("{text},10.0.0.0/8"),
        })),
        auto_rotate: Some(Err(format!("auto-rotate {text}"))),
        ssl_certificates: Some(Err(format!("ssl {text}"))),
        additional_ca: None,
        error: Some(format!("api {text}")),
        http_proxy_missing: false,
        network: Default::default(),
        node_ips: vec![text.to_string()],
        kubelet_versions: [("x".to_string(), text.to_string())].into(),
        // The short hash and the format are harvcred's own words; where the
        // copy was found is the cluster's.
        cluster_token: Some(TokenCopy {
            source: format!("secret {text}"),
            short_hash: "1a2b3c4d".to_string(),
            format: "full".to_string(),
        }),
        // What a setting holds (a CA's subject, a cipher) is the cluster's.
        described: vec![
            (
                crate::creds::setting_values::ADDITIONAL_CA,
                true,
                crate::creds::setting_values::Described {
                    lines: Vec::new(),
                    detail: serde_json::json!({"certificates": [
                        {"subject": format!("CN=ca {text}"), "sha256": "ab".repeat(32)}
                    ]}),
                    findings: vec![crate::creds::level::Finding::new(
                        crate::creds::level::Level::Warn,
                        "additional-ca",
                        format!("finding {text}"),
                    )],
                },
            ),
            (
                crate::creds::setting_values::SSL_PARAMETERS,
                true,
                crate::creds::setting_values::Described {
                    lines: vec![format!("ciphers {text}")],
                    ..Default::default()
                },
            ),
        ],
    }
}

pub(super) fn names(text: &str) -> (String, String) {
    (format!("n{text}"), format!("n{text}-down"))
}

/// A console that has been told `text` everywhere: API context and server,
/// node names and addresses, an SSH failure, settings, one node's files, a
/// failed node, log lines (`log` is the raw journal line), a flash message.
pub(super) fn console(text: &str, log: &[u8]) -> App {
    let mut app = App::new(Setup {
        read_only: false,
        inventory: Vec::new(),
        kube: Ok(()),
        notice: Some(format!("notice {text}")),
        theme: "dark".into(),
    });
    app.update(Msg::Resize {
        width: 160,
        height: 48,
    });
    app.update(Msg::ApiContext {
        context: text.to_string(),
        server: format!("https://{text}:6443/"),
    });
    let (up, down) = names(text);
    app.update(Msg::NodesListed(vec![
        NodeInfo {
            name: up.clone(),
            role: Role::Server,
            address: Some(text.to_string()),
            ready: Some(true),
        },
        NodeInfo {
            name: down.clone(),
            role: Role::Worker,
            address: Some(format!("{text}2")),
            ready: Some(false),
        },
    ]));
    app.update(Msg::Ssh {
        node: up.clone(),
        state: SshState::Up { latency_ms: 5 },
    });
    app.update(Msg::Ssh {
        node: down.clone(),
        state: SshState::Down(SshProblem {
            kind: SshProblemKind::Refused,
            detail: format!("ssh said {text}"),
        }),
    });
    app.update(Msg::SettingsRead(Shared::new(settings(text))));
    let files = node_files(text);
    let report = assess_node(
        &up,
        &files,
        &settings(text).context(),
        NOW,
        &Thresholds::default(),
    );
    app.update(Msg::NodeSwept {
        node: up.clone(),
        outcome: Shared::new(NodeOutcome::Report(Arc::new(report))),
        network: Shared::new(network_facts(&files)),
    });
    app.update(Msg::NodeSwept {
        node: down.clone(),
        outcome: Shared::new(NodeOutcome::Failed(Unreadable {
            reason: ReadFailure::Sudo,
            detail: format!("sudo said {text}"),
        })),
        network: Shared::new(Default::default()),
    });
    // The log pane, following the first node, with one batch.
    crate::app::logpane::open(&mut app, vec![up.clone()], None);
    {
        let id = app.logs.pane.as_ref().expect("a log pane").id;
        app.update(Msg::LogLines {
            pane: id,
            node: 0,
            lines: vec![
                LogLine::new(0, Some(Timestamp::from_unix(0, 0)), log, 4096),
                LogLine::new(0, None, log, 64),
            ],
            dropped: 0,
        });
    }
    app.update(Msg::Flash {
        error: true,
        text: format!("flash {text}"),
    });
    app
}

/// Every screen the console can show this data on, as text.
fn screens(app: &mut App, text: &str) -> Vec<(String, Vec<String>)> {
    let (up, down) = names(text);
    let theme = crate::ui::theme::Theme::default_theme();
    let mut out = Vec::new();
    let mut shots: Vec<(String, View, Option<Area>)> = vec![
        ("node table".into(), View::Nodes, None),
        ("certs".into(), View::Certs, None),
        ("keys".into(), View::Keys, None),
        ("settings".into(), View::Settings, None),
        ("logs".into(), View::Logs, None),
        (
            "detail of the unreachable node".into(),
            View::NodeDetail(down),
            Some(Area::Keys),
        ),
    ];
    for a in Area::ALL {
        shots.push((
            format!("detail {a:?}"),
            View::NodeDetail(up.clone()),
            Some(a),
        ));
    }
    for (size, (w, h)) in [("160x48", (160, 48)), ("80x24", (80, 24))] {
        for (name, view, tab) in &shots {
            app.views = vec![View::Nodes];
            if *view != View::Nodes {
                app.views.push(view.clone());
            }
            if let Some(a) = tab {
                app.detail.tab = *a;
            }
            let mut term =
                ratatui::Terminal::new(ratatui::backend::TestBackend::new(w, h)).unwrap();
            term.draw(|f| crate::ui::draw(f, app, &theme)).unwrap();
            out.push((
                format!("{name} at {size}"),
                crate::ui::buffer_lines(term.backend().buffer()),
            ));
        }
        // Views opened as the operator does (`:token` lists every node's
        // token copies by source and short hash).
        for cmd in ["token"] {
            use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
            app.views = vec![View::Nodes];
            for c in format!(":{cmd}").chars() {
                app.update(Msg::Key(KeyEvent::new(
                    KeyCode::Char(c),
                    KeyModifiers::NONE,
                )));
            }
            app.update(Msg::Key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE)));
            let mut term =
                ratatui::Terminal::new(ratatui::backend::TestBackend::new(w, h)).unwrap();
            term.draw(|f| crate::ui::draw(f, app, &theme)).unwrap();
            out.push((
                format!(":{cmd} at {size}"),
                crate::ui::buffer_lines(term.backend().buffer()),
            ));
        }
    }
    out
}

/// Where a raw control character reached the screen. ratatui drops C0 and
/// C1 characters, so a raw `ab ESC [2J` shows as `ab[2J`: the plain text
/// around each control of `text`, joined, must never be on screen (it is
/// shown with the control's visible escape between). A control at the start
/// has no text before it: then the text after it may only follow its escape.
/// Returns the offending line, and counts the probes seen.
pub(super) fn leak(screen: &[String], text: &str, seen: &mut usize) -> Option<String> {
    let plain = |x: &char| x.is_ascii_graphic() && *x != '\\';
    let chars: Vec<char> = text.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        if !c.is_control() {
            continue;
        }
        let after: String = chars[i + 1..]
            .iter()
            .take_while(|x| plain(x))
            .take(8)
            .collect();
        let mut before: Vec<char> = chars[..i]
            .iter()
            .rev()
            .take_while(|x| plain(x))
            .take(8)
            .copied()
            .collect();
        before.reverse();
        let before: String = before.into_iter().collect();
        if after.is_empty() {
            continue;
        }
        if !before.is_empty() {
            let joined = format!("{before}{after}");
            if joined.len() < 4 {
                continue;
            }
            if let Some(l) = screen.iter().find(|l| l.contains(&joined)) {
                return Some(l.clone());
            }
            *seen += 1;
            continue;
        }
        if after.len() < 3 {
            continue;
        }
        let shown = sanitize_str(&c.to_string()).into_owned();
        let shown = if c == '\t' { " ".to_string() } else { shown };
        for line in screen {
            for (at, _) in line.match_indices(&after) {
                *seen += 1;
                if !line[..at].ends_with(&shown) {
                    return Some(line.clone());
                }
            }
        }
    }
    None
}

#[test]
fn the_console_shows_hostile_remote_text_only_escaped() {
    let mut screens_per_entry = 0;
    let mut probes = 0;
    let entries = corpus();
    for ((name, raw), (_, text)) in entries.iter().zip(corpus_text()) {
        let shots = screens(&mut console(&text, raw), &text);
        if *name == "csi clear screen" {
            // Every screen shows remote text: the probes are not vacuous.
            for (place, lines) in &shots {
                assert!(
                    lines.iter().any(|l| l.contains("\\e[2J")),
                    "{place} shows none of the remote text:\n{}",
                    lines.join("\n")
                );
            }
            // And each named place shows its own field.
            let on = |place: &str, what: &str| {
                let (_, lines) = shots.iter().find(|(p, _)| p == place).unwrap();
                assert!(
                    lines.iter().any(|l| l.contains(what)),
                    "{place} does not show {what:?}:\n{}",
                    lines.join("\n")
                );
            };
            let e = "\\e[2J\\e[H";
            on("certs at 160x48", &format!("leaf {e}"));
            on("detail Certificates at 160x48", &format!("ca {e}"));
            on("keys at 160x48", &format!("runtime {e}"));
            on("keys at 160x48", &format!("github:gh{e}"));
            on("keys at 160x48", &format!("t{e}"));
            on("detail Keys at 160x48", &format!("runtime {e}"));
            on("settings at 160x48", &format!("api {e}"));
            on("settings at 160x48", &format!("auto-rotate {e}"));
            on("settings at 160x48", &format!("http://ops:***@{e}:3128"));
            on("settings at 160x48", &format!("CN=ca {e}"));
            on("settings at 160x48", &format!("ciphers {e}"));
            on("settings at 160x48", &format!("finding {e}"));
            on(
                "detail of the unreachable node at 160x48",
                &format!("ssh said {e}"),
            );
            on("node table at 160x48", &format!("flash {e}"));
            on("node table at 160x48", &format!("n{e}"));
            on("logs at 160x48", e);
            on("detail Proxy at 160x48", &format!("http://{e}:3128"));
        }
        for (place, lines) in &shots {
            for l in lines {
                assert_inert(place, name, l);
            }
            if let Some(l) = leak(lines, &text, &mut probes) {
                panic!("{place}: corpus entry {name:?} reached the screen raw: {l:?}");
            }
        }
        screens_per_entry = shots.len();
    }
    assert!(
        probes > 1000,
        "the probes found too little on screen: {probes}"
    );
    eprintln!(
        "hostile corpus: {} entries x {screens_per_entry} console screens, {probes} probes checked",
        entries.len()
    );
}

/// The probe finds a raw escape that ratatui hid, and passes its escape.
#[test]
fn a_raw_escape_is_caught_though_ratatui_hides_it() {
    use ratatui::widgets::Paragraph;
    let draw = |s: &str| {
        let mut term = ratatui::Terminal::new(ratatui::backend::TestBackend::new(20, 1)).unwrap();
        term.draw(|f| f.render_widget(Paragraph::new(s.to_string()), f.area()))
            .unwrap();
        crate::ui::buffer_lines(term.backend().buffer())
    };
    let raw = "xy\u{1b}[2Jz";
    assert!(
        !draw(raw)[0].contains('\u{1b}'),
        "ratatui drops it silently"
    );
    let mut n = 0;
    assert!(leak(&draw(raw), raw, &mut n).is_some());
    assert_eq!(leak(&draw(&sanitize_str(raw)), raw, &mut n), None);
    assert_eq!(n, 1);
}

/// A sweep as `harvcred status` and `certs` print it, `text` everywhere.
pub(super) fn sweep(text: &str) -> crate::status::Sweep {
    use crate::status::SweptNode;
    let (up, down) = names(text);
    let files = node_files(text);
    let report = assess_node(
        &up,
        &files,
        &settings(text).context(),
        NOW,
        &Thresholds::default(),
    );
    let info = |name: &str| NodeInfo {
        name: name.to_string(),
        role: Role::Server,
        address: Some(text.to_string()),
        ready: Some(true),
    };
    crate::status::Sweep {
        nodes: vec![
            SweptNode {
                info: info(&up),
                outcome: NodeOutcome::Report(Arc::new(report)),
            },
            SweptNode {
                info: info(&down),
                outcome: NodeOutcome::Failed(Unreadable {
                    reason: ReadFailure::Auth,
                    detail: format!("ssh said {text}"),
                }),
            },
        ],
        cluster: crate::status::assess_cluster(
            &settings(text),
            &[text.to_string()],
            None,
            NOW,
            &Thresholds::default(),
        ),
        api_error: Some(format!("api {text}")),
    }
}

/// What the CLI prints: tables checked character by character (no ratatui
/// in between), JSON also checked to carry the exact remote value.
#[test]
fn the_cli_prints_hostile_remote_text_only_escaped() {
    use crate::cli::status::json_text;
    let mut outputs = 0;
    let entries = corpus_text();
    for (name, text) in &entries {
        let s = sweep(text);
        let mut check = |place: &str, out: &str| {
            assert_inert(place, name, out);
            let lines: Vec<String> = out.lines().map(String::from).collect();
            let mut n = 0;
            // JSON escapes its own way (`\u001b`); inertness is what counts there.
            let json = place.ends_with("--json");
            if let Some(l) = leak(&lines, text, &mut n).filter(|_| !json) {
                panic!("{place}: corpus entry {name:?} printed raw: {l:?}");
            }
            outputs += 1;
        };
        check("status table", &crate::cli::status::render(&s));
        let json = crate::cli::status::to_json(&s);
        let printed = json_text(&json).unwrap();
        check("status --json", &printed);
        let back: serde_json::Value = serde_json::from_str(&printed).unwrap();
        assert_eq!(
            back,
            serde_json::to_value(&json).unwrap(),
            "{name}: JSON lost text"
        );

        let crate::status::NodeOutcome::Report(r) = &s.nodes[0].outcome else {
            unreachable!()
        };
        let certs: Vec<_> = r
            .certs
            .iter()
            .map(|c| (s.nodes[0].info.name.clone(), c.clone()))
            .collect();
        assert!(!certs.is_empty());
        check("certs table", &crate::cli::certs::render(&certs, 0, NOW));
        check(
            "certs --json",
            &json_text(&crate::cli::certs::to_json(&certs, NOW)).unwrap(),
        );
        let m = crate::creds::keys::key_matrix(&[crate::creds::keys::NodeKeys {
            node: r.node.clone(),
            runtime: r.runtime_keys.clone(),
            persisted: r
                .persisted_keys
                .iter()
                .map(|k| (k.source.clone(), k.key.clone()))
                .collect(),
            login: r.login_fingerprint.clone(),
        }]);
        assert!(!m.keys.is_empty());
        check("keys list", &crate::cli::keys::render_matrix(&m));
        let v = serde_json::json!({ "nodes": m.nodes, "keys": m.keys });
        check("keys list --json", &json_text(&v).unwrap());
        check(
            "error line",
            &crate::cli::status::error_line(
                &anyhow::anyhow!("remote said {text}").context(format!("on {text}")),
            ),
        );
    }
    eprintln!(
        "hostile corpus: {} entries x {} CLI outputs",
        entries.len(),
        outputs / entries.len()
    );
}

/// The `:password` walk on nodes named with `text`, every node's dry run,
/// apply and verify answered with `text` as the node's error: the form, the
/// per-node preview, progress and summary screens.
#[test]
fn the_walk_screens_show_hostile_node_words_only_escaped() {
    use super::press;
    use crate::app::engine_form::tests::{walk_actions, walk_answer};
    use crate::flows::engine::{Action, Event};
    use crate::flows::password::{Facts, NodeFacts, PasswordChange};
    use crossterm::event::KeyCode;
    let theme = crate::ui::theme::Theme::default_theme();
    let shot = |app: &App| {
        let mut term = ratatui::Terminal::new(ratatui::backend::TestBackend::new(200, 40)).unwrap();
        term.draw(|f| crate::ui::draw(f, app, &theme)).unwrap();
        crate::ui::buffer_lines(term.backend().buffer())
    };
    let mut probes = 0;
    let mut screens = 0;
    let entries = corpus_text();
    for (name, text) in &entries {
        // The long lines make this slow without adding a place.
        if text.len() > 10_000 {
            continue;
        }
        let (a, b) = names(text);
        let mut app = super::hostile_console(text);
        for c in ":password".chars() {
            press(&mut app, KeyCode::Char(c));
        }
        press(&mut app, KeyCode::Enter);
        let walk = app.form.as_ref().expect("the form").walk_id().to_string();
        let facts = Facts {
            nodes: [&a, &b]
                .map(|n| {
                    (
                        n.clone(),
                        NodeFacts {
                            hostname_label: Some(text.clone()),
                            ..Default::default()
                        },
                    )
                })
                .into(),
            cloudinit_served: true,
        };
        walk_answer::<PasswordChange>(&mut app, &walk, Event::Loaded(facts));
        let walk = app.form.as_ref().unwrap().walk_id().to_string();
        for c in "Correct-Horse-9-Battery".chars() {
            press(&mut app, KeyCode::Char(c));
        }
        press(&mut app, KeyCode::Tab);
        for c in "Correct-Horse-9-Battery".chars() {
            press(&mut app, KeyCode::Char(c));
        }
        let mut all = vec![shot(&app)];
        let mut fx = press(&mut app, KeyCode::Enter); // preview
        all.push(shot(&app));
        fx.extend(press(&mut app, KeyCode::Enter)); // dry runs
        // Taking an action out of its effect empties it: once only.
        let mut pending = walk_actions::<PasswordChange>(&fx);
        // a's verify fails with the node's words (the walk then stops before
        // b; b's apply would fail too); on to the summary and closed.
        let mut rounds = 0;
        while rounds < 8 && !pending.is_empty() {
            rounds += 1;
            let mut next = Vec::new();
            for (_, act) in std::mem::take(&mut pending) {
                let err = |t: &str, on: &str| (t == on).then(|| format!("node said {text}"));
                let ev = match act {
                    Action::DryRun { ticket, target, .. } => Event::DryRunDone {
                        ticket,
                        target,
                        result: Ok(()),
                    },
                    Action::Apply { ticket, target, .. } => Event::Applied {
                        ticket,
                        result: err(&target, &b).map_or(Ok(true), Err),
                        target,
                    },
                    Action::Verify { ticket, target, .. } => Event::Verified {
                        ticket,
                        result: err(&target, &a).map_or(Ok(()), Err),
                        target,
                    },
                    _ => continue,
                };
                next.extend(walk_answer::<PasswordChange>(&mut app, &walk, ev));
                all.push(shot(&app));
            }
            // Past a refused dry run: go on with the nodes that passed.
            next.extend(press(&mut app, KeyCode::Char('y')));
            next.extend(press(&mut app, KeyCode::Enter));
            all.push(shot(&app));
            pending = walk_actions::<PasswordChange>(&next);
        }
        for lines in &all {
            for l in lines {
                assert_inert("password walk", name, l);
            }
            if let Some(l) = leak(lines, text, &mut probes) {
                panic!("password walk: corpus entry {name:?} reached the screen raw: {l:?}");
            }
        }
        screens += all.len();
        let said = all
            .iter()
            .filter(|s| s.iter().any(|l| l.contains("verify: node said")))
            .count();
        assert!(
            said > 0,
            "{name}: the node's verify error was never on screen"
        );
    }
    assert!(
        probes > 100,
        "the probes found too little on screen: {probes}"
    );
    eprintln!("hostile corpus: password walk, {screens} screens, {probes} probes checked");
}
