//! Every corpus entry through the console walks on the generic engine form
//! (`:proxy`, `:keys` add and remove, the four certificate forms, the token
//! fix, the `:settings` form of ssl-parameters) and the `:token` view: the nodes are named with the entry, what each
//! walk reads carries it (the proxy's current value, key comments, the
//! rotation's Ready message, certificate errors, the token's source), and
//! every node answer (load failure, dry run, denial, apply, progress,
//! verify) says it. Every screen on the way must show it only escaped.

use super::{hostile_console, press};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use time::macros::datetime;
use zeroize::Zeroizing;

use super::display::{leak, names};
use super::hostile::{assert_inert, corpus_text};
use crate::app::engine_form::FormSpec;
use crate::app::engine_form::tests::{walk_actions, walk_answer};
use crate::app::msg::Pasted;
use crate::app::{App, Msg, NodeInfo, Role};
use crate::flows::engine::{Action, Change, Event};

type Facts<S> = <<S as FormSpec>::Change as Change>::Facts;

fn typed(app: &mut App, s: &str) {
    for c in s.chars() {
        press(app, KeyCode::Char(c));
    }
}

fn shot(app: &App) -> Vec<String> {
    let theme = crate::ui::theme::Theme::default_theme();
    let mut term = ratatui::Terminal::new(ratatui::backend::TestBackend::new(200, 50)).unwrap();
    term.draw(|f| crate::ui::draw(f, app, &theme)).unwrap();
    crate::ui::buffer_lines(term.backend().buffer())
}

/// How a walk is answered.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Run {
    /// Read, filled, previewed, dry-run; applied with progress, the first
    /// verify failing with the node's words; on to the summary.
    Through,
    /// The read fails with the node's words.
    LoadFails,
    /// The first dry run is denied with the cluster's words (a webhook).
    Denied,
}

/// The screens of walk `spec` run as `run` says, `fill` typing its fields.
fn walk_screens<S: FormSpec>(
    text: &str,
    spec: S,
    facts: impl Fn() -> Facts<S>,
    fill: &dyn Fn(&mut App),
    run: Run,
) -> Vec<Vec<String>> {
    let mut app = hostile_console(text);
    app.open_form(spec);
    let walk = app.form.as_ref().expect("the form").walk_id().to_string();
    let mut all = vec![shot(&app)];
    let said = format!("node said {text}");
    if run == Run::LoadFails {
        walk_answer::<S::Change>(&mut app, &walk, Event::LoadFailed(said));
        all.push(shot(&app));
        return all;
    }
    walk_answer::<S::Change>(&mut app, &walk, Event::Loaded(facts()));
    all.push(shot(&app));
    fill(&mut app);
    all.push(shot(&app));
    let mut fx = press(&mut app, KeyCode::Enter); // preview
    all.push(shot(&app));
    fx.extend(press(&mut app, KeyCode::Enter)); // dry runs
    all.push(shot(&app));
    let mut pending = walk_actions::<S::Change>(&fx);
    let mut first = true;
    let mut rounds = 0;
    while rounds < 8 && !pending.is_empty() {
        rounds += 1;
        let mut next = Vec::new();
        for (_, act) in std::mem::take(&mut pending) {
            let evs = match act {
                Action::DryRun { ticket, target, .. } if run == Run::Denied => {
                    vec![Event::Denied {
                        ticket,
                        target,
                        words: format!("webhook said {text}"),
                    }]
                }
                Action::DryRun { ticket, target, .. } => vec![Event::DryRunDone {
                    ticket,
                    target,
                    result: Ok(()),
                }],
                Action::Apply { ticket, target, .. } => vec![Event::Applied {
                    ticket,
                    target,
                    result: Ok(true),
                }],
                Action::Verify { ticket, target, .. } => {
                    let result = if std::mem::take(&mut first) {
                        Err(said.clone())
                    } else {
                        Ok(())
                    };
                    vec![
                        Event::Progress {
                            ticket,
                            target: target.clone(),
                            text: format!("progress {text}"),
                        },
                        Event::Verified {
                            ticket,
                            target,
                            result,
                        },
                    ]
                }
                _ => continue,
            };
            for ev in evs {
                next.extend(walk_answer::<S::Change>(&mut app, &walk, ev));
                all.push(shot(&app));
            }
        }
        if run == Run::Denied {
            break;
        }
        next.extend(press(&mut app, KeyCode::Char('y')));
        next.extend(press(&mut app, KeyCode::Enter));
        all.push(shot(&app));
        pending = walk_actions::<S::Change>(&next);
    }
    all
}

fn ctrl_u(app: &mut App) {
    app.update(Msg::Key(KeyEvent::new(
        KeyCode::Char('u'),
        KeyModifiers::CONTROL,
    )));
}

const KEY_A: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAILuSpYfplnBhkanPLUqkQdBjM9i8PuIe8wDz2TOTPPWJ";
const KEY_A_FP: &str = "SHA256:Bhg7otMAyyBL243LVSmm1ZapdwksrACXvHopgQ8pTfQ";
const KEY_B: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB/D7Ci3LDkzfMMNC9mEojkoolkoibXojleq8kTA/peu";
const KEY_B_FP: &str = "SHA256:m/nt9TKKKxoV5tfOweUrG8yz6yu/Z4vOORqwMDY84Z8";
const KEY_C: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKCw1JTCZWwJarAjA83rOlu6feUsT5MA+kErkYNFN5kF";

/// Every walk form, each run three ways: (form, screens).
fn all_walks(text: &str) -> Vec<(String, Run, Vec<Vec<String>>)> {
    use crate::app::certs_walk::{AutoRotateForm, FixKcmForm, RotateNodeForm, RotateNowForm};
    use crate::app::keys_view::{AddKeysForm, RemoveKeyForm};
    use crate::app::proxy_walk::ProxyForm;
    use crate::app::token_walk::TokenFixForm;
    use crate::cluster::rotation::{AutoRotate, ClusterGeneration, ControlPlane, RotationState};
    use crate::cluster::settings::{Configured, ProxyRead};
    use crate::creds::proxy::{ClusterFacts, HttpProxySetting, ProxyUrl};
    use crate::flows::certs::{AutoRotateFacts, FixKcmFacts, RotateClusterFacts};
    use crate::flows::{keys, proxy, token};

    let (a, b) = names(text);
    let line = text.replace(['\n', '\r'], " ");
    let now = datetime!(2026-11-29 12:00 UTC);
    let node_infos = || {
        [&a, &b]
            .map(|n| NodeInfo {
                name: n.clone(),
                role: Role::Server,
                address: Some(text.to_string()),
                ready: Some(true),
            })
            .to_vec()
    };
    let proxy_facts = || proxy::ProxyFacts {
        current: ProxyRead {
            setting: HttpProxySetting {
                http_proxy: ProxyUrl::new(&format!("http://ops:secret@{text}:3128")),
                https_proxy: ProxyUrl::new(&format!("http://{text}:3128")),
                no_proxy: format!("{text},10.0.0.0/8"),
            },
            resource_version: "4".into(),
            configured: Configured {
                status: Some(false),
                reason: format!("reason {text}"),
                message: format!("configured {text}"),
            },
        },
        cluster: ClusterFacts {
            node_ips: vec!["10.0.0.11".into()],
            ..Default::default()
        },
    };
    let proxy_fill = |app: &mut App| {
        for (i, v) in ["http://proxy:3128", "", "10.0.0.0/8"].iter().enumerate() {
            if i > 0 {
                press(app, KeyCode::Tab);
            }
            ctrl_u(app);
            typed(app, v);
        }
    };
    let key_facts = || {
        keys::KeyFacts {
        nodes: [&a, &b]
            .map(|n| {
                (
                    n.clone(),
                    keys::NodeFacts {
                        runtime: Some(Zeroizing::new(
                            format!("{KEY_A} login {line}\n{KEY_B} runtime {line}\n").into_bytes(),
                        )),
                        oem: [(
                            "/oem/90_custom.yaml".to_string(),
                            Zeroizing::new(
                                format!(
                                    "stages:\n  network:\n    - users:\n        rancher:\n          ssh_authorized_keys:\n            - {}\n",
                                    serde_json::to_string(&format!("{KEY_B} persisted {line}")).unwrap()
                                )
                                .into_bytes(),
                            ),
                        )]
                        .into(),
                        login: Some(KEY_A_FP.into()),
                    },
                )
            })
            .into(),
        cloudinit_served: true,
        proof_failures: [(a.clone(), format!("proof {text}"))].into(),
        ..Default::default()
    }
    };
    let keys_fill = |app: &mut App| {
        app.update(Msg::Paste(Pasted(format!("{KEY_C} new@ops\n").into())));
    };
    let state = || RotationState {
        control_plane: ControlPlane {
            ready: Some(true),
            ready_message: format!("ready {text}"),
            spec_generation: 1,
            status_generation: 1,
        },
        cluster: ClusterGeneration {
            generation: 1,
            resource_version: "41".into(),
        },
    };
    let auto_facts = || AutoRotateFacts {
        current: AutoRotate {
            enable: false,
            expiring_in_hours: 240,
            resource_version: "7".into(),
        },
        earliest_not_after: Err(format!("certs {text}")),
        state: Ok(state()),
        now,
    };
    let auto_fill = |app: &mut App| {
        typed(app, "on");
        press(app, KeyCode::Tab);
        typed(app, "24");
    };
    let rotate_facts = || RotateClusterFacts {
        state: state(),
        nodes: node_infos(),
        expired: vec![format!("{a}: {text}.crt")],
        stuck: vec![format!("stuck {text}")],
    };
    // a's certificates are self-signed and expire within days (the fix is
    // offered); b's could not be read, with the node's words.
    let kcm_cert = |component: &str| {
        let mut p = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        p.distinguished_name
            .push(rcgen::DnType::CommonName, format!("{component}@1 {line}"));
        p.not_before = datetime!(2025-12-01 0:00 UTC);
        p.not_after = datetime!(2026-12-05 0:00 UTC);
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap();
        let pem = p.self_signed(&key).unwrap().pem();
        let mut file = crate::creds::certs::parse_pem_str(component, &pem);
        Ok(file.certs.remove(0))
    };
    let kcm_facts = || FixKcmFacts {
        now,
        thresholds: Default::default(),
        certs: [
            (
                a.clone(),
                [
                    (
                        "kube-controller-manager",
                        kcm_cert("kube-controller-manager"),
                    ),
                    ("kube-scheduler", kcm_cert("kube-scheduler")),
                ]
                .into(),
            ),
            (
                b.clone(),
                [
                    ("kube-controller-manager", Err(format!("read {text}"))),
                    ("kube-scheduler", Err(format!("read {text}"))),
                ]
                .into(),
            ),
        ]
        .into(),
        kept: Default::default(),
    };
    let token_facts = || token::Facts {
        source: format!("source {text}"),
        token: Ok(crate::creds::token::Token::parse("K10::server:walk-token").unwrap()),
        nodes: [(
            a.clone(),
            token::NodeFacts {
                role: format!("role {text}"),
                bootstrap_data: false,
                rancherd_loop: Some(crate::creds::token::JoinLoop {
                    line: format!("loop {text}"),
                    repeats: 3,
                }),
                looping_now: true,
                files: [(
                    crate::creds::token::RANCHERD_CONFIG.to_string(),
                    token::FileNow {
                        text: Zeroizing::new("token: K10::server:other\n".into()),
                        version: crate::node::write::Version::of(b"token: K10::server:other\n"),
                    },
                )]
                .into(),
            },
        )]
        .into(),
    };
    let none = |_: &mut App| {};
    use crate::app::settings_view::{Kind, SettingForm, tests::facts as setting_facts};
    use crate::creds::setting_values as values;
    let hostile_json = serde_json::Value::from(text).to_string();
    let ssl_parameters = || {
        let v = format!(r#"{{"protocols":"TLSv1.2","ciphers":{hostile_json}}}"#);
        setting_facts(values::SSL_PARAMETERS, &v, None)
    };
    let ssl_parameters_fill = |app: &mut App| {
        ctrl_u(app);
        typed(app, "TLSv1.2 TLSv1.3");
    };
    let mut out = Vec::new();
    for run in [Run::Through, Run::LoadFails, Run::Denied] {
        out.push((
            format!("proxy {run:?}"),
            run,
            walk_screens(
                text,
                ProxyForm::new(&hostile_console(text)),
                proxy_facts,
                &proxy_fill,
                run,
            ),
        ));
        out.push((
            format!("keys add {run:?}"),
            run,
            walk_screens(text, AddKeysForm, key_facts, &keys_fill, run),
        ));
        out.push((
            format!("keys remove {run:?}"),
            run,
            walk_screens(
                text,
                RemoveKeyForm {
                    fingerprints: vec![KEY_B_FP.into()],
                },
                key_facts,
                &none,
                run,
            ),
        ));
        out.push((
            format!("auto-rotate {run:?}"),
            run,
            walk_screens(text, AutoRotateForm, auto_facts, &auto_fill, run),
        ));
        out.push((
            format!("rotate now {run:?}"),
            run,
            walk_screens(text, RotateNowForm, rotate_facts, &none, run),
        ));
        out.push((
            format!("rotate node {run:?}"),
            run,
            walk_screens(
                text,
                RotateNodeForm::default(),
                node_infos,
                &|app: &mut App| typed(app, "kubelet"),
                run,
            ),
        ));
        out.push((
            format!("fix-kcm {run:?}"),
            run,
            walk_screens(text, FixKcmForm::default(), kcm_facts, &none, run),
        ));
        out.push((
            format!("settings ssl-parameters {run:?}"),
            run,
            walk_screens(
                text,
                SettingForm::new(values::SSL_PARAMETERS, Kind::Edit),
                ssl_parameters,
                &ssl_parameters_fill,
                run,
            ),
        ));
        out.push((
            format!("token fix {run:?}"),
            run,
            walk_screens(
                text,
                TokenFixForm { node: a.clone() },
                token_facts,
                &none,
                run,
            ),
        ));
    }
    out
}

#[test]
fn the_engine_walks_show_hostile_remote_words_only_escaped() {
    let mut probes = 0;
    let mut screens = 0;
    let entries = corpus_text();
    for (name, text) in &entries {
        // The long lines make this slow without adding a place.
        if text.len() > 10_000 {
            continue;
        }
        let walks = all_walks(text);
        for (form, _, shots) in &walks {
            for lines in shots {
                for l in lines {
                    assert_inert(form, name, l);
                }
                if let Some(l) = leak(lines, text, &mut probes) {
                    panic!("{form}: corpus entry {name:?} reached the screen raw: {l:?}");
                }
            }
            screens += shots.len();
        }
        if *name == "csi clear screen" {
            // Each run got as far as the node's words: the probes see them.
            for (form, run, shots) in &walks {
                let said: &[&str] = match run {
                    Run::Through => &["progress", "node said"],
                    Run::LoadFails => &["node said"],
                    Run::Denied => &["webhook said"],
                };
                for w in said {
                    let w = format!("{w} \\e[2J");
                    assert!(
                        shots.iter().flatten().any(|l| l.contains(&w)),
                        "{form} never showed {w:?}:\n{}",
                        shots.last().unwrap().join("\n")
                    );
                }
            }
        }
    }
    assert!(
        probes > 1000,
        "the probes found too little on screen: {probes}"
    );
    eprintln!("hostile corpus: engine walks, {screens} screens, {probes} probes checked");
}

/// `:token` with a node that loops on rancherd's 502: its log line is remote.
#[test]
fn the_token_view_shows_rancherds_line_only_escaped() {
    let mut probes = 0;
    for (name, text) in &corpus_text() {
        if text.len() > 10_000 {
            continue;
        }
        // A console whose first node was read (the view lists read nodes).
        let mut app = super::display::console(text, text.as_bytes());
        let (a, _) = names(text);
        typed(&mut app, ":token");
        press(&mut app, KeyCode::Enter);
        app.update(Msg::JoinState {
            node: a,
            state: crate::flows::token::JoinState {
                bootstrap_data: Some(false),
                rancherd_loop: Some(crate::creds::token::JoinLoop {
                    line: format!("time=\"x\" level=error msg=\"{text}\""),
                    repeats: 4,
                }),
            },
        });
        let lines = shot(&app);
        if *name == "csi clear screen" {
            assert!(
                lines.iter().any(|l| l.contains("\\e[2J\\e[H\"")),
                "rancherd's line is not on screen:\n{}",
                lines.join("\n")
            );
        }
        for l in &lines {
            assert_inert(":token", name, l);
        }
        if let Some(l) = leak(&lines, text, &mut probes) {
            panic!(":token: corpus entry {name:?} reached the screen raw: {l:?}");
        }
    }
    assert!(
        probes > 10,
        "the probes found too little on screen: {probes}"
    );
}
