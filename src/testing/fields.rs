//! Every engine form field fed invalid values from a table: the message is
//! at that field, nothing is sent (no dry run, no apply), and the field
//! still holds what was typed.

use super::press;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use crate::app::engine_form::tests::{walk_actions, walk_answer};
use crate::app::engine_form::{FieldInput, FormSpec};
use crate::app::msg::Pasted;
use crate::app::{App, Effect, Msg};
use crate::flows::Severity;
use crate::flows::engine::{Action, Change, Event};

type Facts<S> = <<S as FormSpec>::Change as Change>::Facts;

/// One row: the field (by index and name), what is typed there (after
/// `before` in other fields), and words of the message it must get.
struct Row {
    field: usize,
    name: &'static str,
    value: &'static str,
    before: &'static [(usize, &'static str)],
    says: &'static str,
}

const fn row(field: usize, name: &'static str, value: &'static str, says: &'static str) -> Row {
    Row {
        field,
        name,
        value,
        before: &[],
        says,
    }
}

/// Puts `value` in field `i` of the open form `S` as the operator does:
/// focus moved there, the field cleared, then typed (pasted into a
/// multi-line field).
fn enter<S: FormSpec>(app: &mut App, i: usize, value: &str) -> Vec<Effect> {
    let mut fx = Vec::new();
    for _ in 0..8 {
        if app.form_of::<S>().unwrap().focus == i {
            break;
        }
        fx.extend(press(app, KeyCode::Tab));
    }
    assert_eq!(
        app.form_of::<S>().unwrap().focus,
        i,
        "field {i} not reached"
    );
    let text = matches!(
        app.form_of::<S>().unwrap().fields[i].input,
        FieldInput::Text(_) | FieldInput::SecretText { .. }
    );
    if text {
        fx.extend(app.update(Msg::Paste(Pasted(value.to_string().into()))));
    } else {
        fx.extend(app.update(Msg::Key(KeyEvent::new(
            KeyCode::Char('u'),
            KeyModifiers::CONTROL,
        ))));
        for c in value.chars() {
            fx.extend(press(app, KeyCode::Char(c)));
        }
    }
    fx
}

/// The form drawn: the lines from field `name`'s label to the next field's.
fn at_field<S: FormSpec>(app: &App, name: &str) -> Vec<String> {
    let theme = crate::ui::theme::Theme::default_theme();
    let mut term = ratatui::Terminal::new(ratatui::backend::TestBackend::new(120, 40)).unwrap();
    let form = app.form.as_ref().unwrap();
    term.draw(|f| form.draw(f, f.area(), &theme)).unwrap();
    let lines = crate::ui::buffer_lines(term.backend().buffer());
    let names: Vec<&str> = app
        .form_of::<S>()
        .unwrap()
        .fields
        .iter()
        .map(|f| f.name)
        .collect();
    // A label is the field's name after the focus marker (a long name
    // runs into its value).
    let label = |l: &str, n: &str| {
        let inner = l.trim_start_matches('│');
        inner.starts_with(&format!("> {n}")) || inner.starts_with(&format!("  {n}"))
    };
    let start = lines
        .iter()
        .position(|l| label(l, name))
        .unwrap_or_else(|| panic!("no field {name}:\n{}", lines.join("\n")));
    let end = lines[start + 1..]
        .iter()
        .position(|l| names.iter().any(|n| label(l, n)) || l.starts_with('└'))
        .map_or(lines.len(), |e| start + 1 + e);
    lines[start..end].to_vec()
}

/// Runs `rows` on form `S`, opened fresh for each by `open`; `load` answers
/// a read the draft asks for (a key file) with its facts.
fn refused<S: FormSpec>(
    form: &str,
    open: &dyn Fn() -> App,
    load: &dyn Fn(&str) -> Facts<S>,
    rows: &[Row],
) -> usize {
    for r in rows {
        let mut app = open();
        let mut fx = Vec::new();
        for (i, v) in r.before {
            fx.extend(enter::<S>(&mut app, *i, v));
        }
        fx.extend(enter::<S>(&mut app, r.field, r.value));
        // Enter (preview), and enter again (dry runs): what would go on.
        for k in [KeyCode::Enter, KeyCode::Enter] {
            let step = press(&mut app, k);
            for (_, a) in walk_actions::<S::Change>(&step) {
                match a {
                    Action::Load => {
                        let walk = app.form.as_ref().unwrap().walk_id().to_string();
                        fx.extend(walk_answer::<S::Change>(
                            &mut app,
                            &walk,
                            Event::Loaded(load(r.value)),
                        ));
                    }
                    Action::DryRun { .. } | Action::Apply { .. } => {
                        panic!("{form} {} = {:?}: sent on", r.name, r.value)
                    }
                    _ => {}
                }
            }
            fx.extend(step);
        }
        for (_, a) in walk_actions::<S::Change>(&fx) {
            assert!(
                !matches!(a, Action::DryRun { .. } | Action::Apply { .. }),
                "{form} {} = {:?}: sent on",
                r.name,
                r.value
            );
        }
        let f = app.form_of::<S>().expect("the form is still open");
        let p = f
            .walk
            .problems
            .iter()
            .find(|p| p.field == r.name && p.severity == Severity::Error)
            .unwrap_or_else(|| {
                panic!(
                    "{form} {} = {:?}: no error at the field: {:?}",
                    r.name, r.value, f.walk.problems
                )
            });
        assert!(
            p.message.contains(r.says),
            "{form} {} = {:?}: {:?}",
            r.name,
            r.value,
            p.message
        );
        let shown = at_field::<S>(&app, r.name).join("\n");
        assert!(
            shown.contains(&format!(
                "✗ {}",
                &p.message.chars().take(20).collect::<String>()
            )),
            "{form} {} = {:?}: the message is not at the field:\n{shown}",
            r.name,
            r.value
        );
        assert_eq!(
            f.fields[r.field].value().trim_end_matches('\n'),
            r.value.trim_end_matches('\n'),
            "{form} {}: what was typed is lost",
            r.name
        );
    }
    rows.len()
}

/// The `:settings` forms: Harvester's webhook messages and harvcred's own
/// checks at the field each belongs to.
fn settings_rows() -> usize {
    use crate::app::settings_view::tests::{facts, serving};
    use crate::app::settings_view::{Kind, SettingForm};
    use crate::creds::setting_values as v;
    let leak = |s: String| -> &'static str { Box::leak(s.into_boxed_str()) };
    let (_, leaf, key, other_key) = serving();
    let (leaf, key, other_key) = (leak(leaf), leak(key), leak(other_key));
    let form = |name: &'static str, kind: Kind| {
        move || {
            let f = facts(name, "", None);
            opened(SettingForm::new(name, kind), f)
        }
    };
    let mut n = 0;
    let mut run = |label: &str, name: &'static str, kind: Kind, rows: &[Row]| {
        n += refused::<SettingForm>(label, &form(name, kind), &|_| facts(name, "", None), rows);
    };
    run(
        ":settings ssl-parameters",
        v::SSL_PARAMETERS,
        Kind::Edit,
        &[
            row(
                0,
                "protocols",
                "TLSv1.9",
                "unsupported SSL protocol: TLSv1.9",
            ),
            row(
                0,
                "protocols",
                "TLSv1.2 SSLv4",
                "unsupported SSL protocol: SSLv4",
            ),
        ],
    );
    run(
        ":settings additional-ca",
        v::ADDITIONAL_CA,
        Kind::Edit,
        &[
            row(0, "bundle", "not a certificate\n", "no PEM certificate"),
            row(1, "file", "/nonexistent/ca.pem", "cannot be read"),
        ],
    );
    run(
        ":settings add CA",
        v::ADDITIONAL_CA,
        Kind::AddCa,
        &[
            row(0, "pem", "not a certificate\n", "no PEM certificate"),
            row(0, "pem", leaf, "is not a CA"),
            row(1, "file", "/nonexistent/ca.pem", "cannot be read"),
        ],
    );
    run(
        ":settings remove CA",
        v::ADDITIONAL_CA,
        Kind::RemoveCa,
        &[
            row(0, "fingerprint", "abc123", "at least 8 of its hex digits"),
            row(
                0,
                "fingerprint",
                "00000000dead",
                "no certificate of additional-ca",
            ),
        ],
    );
    run(
        ":settings containerd-registry",
        v::CONTAINERD_REGISTRY,
        Kind::Edit,
        &[
            row(0, "value", "{\"Mirrors\":\n", "invalid JSON"),
            row(0, "value", "[1]\n", "cannot unmarshal"),
        ],
    );
    run(
        ":settings ssl-certificates",
        v::SSL_CERTIFICATES,
        Kind::Edit,
        &[
            row(0, "cert", "/nonexistent/cert.pem", "cannot be read"),
            Row {
                before: leak_before(leaf),
                ..row(1, "key", other_key, "privateKey does not match")
            },
            Row {
                before: Box::leak(vec![(0, leaf), (1, key)].into_boxed_slice()),
                ..row(3, "host", "other.example", "does not cover other.example")
            },
        ],
    );
    n
}

/// `before` of a row: the certificate pasted into field 0.
fn leak_before(cert: &'static str) -> &'static [(usize, &'static str)] {
    Box::leak(vec![(0, cert)].into_boxed_slice())
}

fn console() -> App {
    super::console_of(&[("node1", "10.0.0.11"), ("node2", "10.0.0.12")])
}

/// `spec`'s form opened on a console and its walk's read answered.
fn opened<S: FormSpec>(spec: S, facts: Facts<S>) -> App {
    let mut app = console();
    app.open_form(spec);
    let walk = app.form.as_ref().unwrap().walk_id().to_string();
    walk_answer::<S::Change>(&mut app, &walk, Event::Loaded(facts));
    app
}

fn proxy_facts() -> crate::flows::proxy::ProxyFacts {
    use crate::cluster::settings::{Configured, ProxyRead};
    use crate::creds::proxy::{ClusterFacts, HttpProxySetting};
    crate::flows::proxy::ProxyFacts {
        current: ProxyRead {
            setting: HttpProxySetting::parse(
                r#"{"httpProxy":"http://proxy:3128","noProxy":"10.0.0.0/24"}"#,
            )
            .unwrap(),
            resource_version: "4".into(),
            configured: Configured::default(),
        },
        cluster: ClusterFacts {
            node_ips: vec!["10.0.0.11".into(), "10.0.0.12".into()],
            ..Default::default()
        },
    }
}

fn auto_rotate_facts() -> crate::flows::certs::AutoRotateFacts {
    use crate::cluster::rotation::{AutoRotate, ClusterGeneration, ControlPlane, RotationState};
    crate::flows::certs::AutoRotateFacts {
        current: AutoRotate {
            enable: false,
            expiring_in_hours: 240,
            resource_version: "7".into(),
        },
        earliest_not_after: Ok(time::macros::datetime!(2030-01-01 0:00 UTC)),
        state: Ok(RotationState {
            control_plane: ControlPlane {
                ready: Some(true),
                ready_message: String::new(),
                spec_generation: 1,
                status_generation: 1,
            },
            cluster: ClusterGeneration {
                generation: 1,
                resource_version: "41".into(),
            },
        }),
        now: time::macros::datetime!(2026-11-29 12:00 UTC),
    }
}

#[test]
fn every_form_field_refuses_invalid_values_at_the_field_and_sends_nothing() {
    use crate::app::certs_walk::{AutoRotateForm, RotateNodeForm};
    use crate::app::keys_view::AddKeysForm;
    use crate::app::keys_view::tests::{key_facts, with_drift};
    use crate::app::password_walk::PasswordForm;
    use crate::app::proxy_walk::ProxyForm;
    let mut n = 0;

    n += refused::<ProxyForm>(
        ":proxy",
        &|| {
            let app = console();
            opened(ProxyForm::new(&app), proxy_facts())
        },
        &|_| proxy_facts(),
        &[
            row(
                0,
                "httpProxy",
                "ftp://proxy:3128",
                "scheme must be http, https or socks5",
            ),
            row(0, "httpProxy", "http://", "has no host"),
            row(0, "httpProxy", "proxy with spaces", "contains spaces"),
            row(
                1,
                "httpsProxy",
                "http://proxy:99999",
                "is not a number from 1 to 65535",
            ),
            row(
                2,
                "noProxy",
                "localhost",
                "10.0.0.11, 10.0.0.12 are not covered",
            ),
            row(2, "noProxy", "10.1.0.0/16", "not covered"),
        ],
    );

    n += refused::<PasswordForm>(
        ":password",
        &|| crate::app::password_walk::tests::at_form(""),
        &|_| crate::app::password_walk::tests::facts(),
        &[
            row(
                0,
                "password",
                "short",
                "at least 12 characters (this one has 5",
            ),
            row(
                0,
                "password",
                "Eleven-char",
                "at least 12 characters (this one has 11",
            ),
            Row {
                before: &[(0, "Correct-Horse-9-Battery")],
                ..row(1, "again", "Correct-Horse-9-Batterz", "two entries")
            },
        ],
    );

    let no_file = |path: &str| crate::flows::keys::KeyFacts {
        key_file: Some((
            path.into(),
            Err("No such file or directory (os error 2)".into()),
        )),
        ..key_facts()
    };
    n += refused::<AddKeysForm>(
        ":keys add",
        &|| {
            let mut app = with_drift();
            press(&mut app, KeyCode::Char('a'));
            let walk = app.form.as_ref().unwrap().walk_id().to_string();
            walk_answer::<crate::flows::keys::AddKeys>(&mut app, &walk, Event::Loaded(key_facts()));
            app
        },
        &no_file,
        &[
            row(0, "keys", "not a key\n", "line 1: not a public key"),
            row(
                0,
                "keys",
                "ssh-ed25519 AAAA!!!! broken\n",
                "line 1: not a public key",
            ),
            row(
                0,
                "keys",
                "ssh-rsa AAAAC3NzaC1lZDI1NTE5AAAAIKCw1JTCZWwJarAjA83rOlu6feUsT5MA+kErkYNFN5kF x\n",
                "line 1: not a public key",
            ),
            row(1, "key file", "/nonexistent/harvcred.pub", "cannot be read"),
        ],
    );

    n += refused::<AutoRotateForm>(
        ":autorotate",
        &|| opened(AutoRotateForm, auto_rotate_facts()),
        &|_| auto_rotate_facts(),
        &[
            row(0, "enable", "maybe", "on or off"),
            row(1, "hours", "ten", "a whole number"),
            row(1, "hours", "0", "can't be negative or zero"),
            row(1, "hours", "-5", "can't be negative or zero"),
            row(1, "hours", "9000", "can't be large than"),
        ],
    );

    n += refused::<RotateNodeForm>(
        ":rotate-node",
        &|| {
            let nodes = ["node1", "node2"]
                .map(|n| crate::app::NodeInfo {
                    name: n.into(),
                    role: crate::app::Role::Server,
                    address: None,
                    ready: Some(true),
                })
                .to_vec();
            opened(RotateNodeForm::default(), nodes)
        },
        &|_| Vec::new(),
        &[row(0, "service", "kube-bogus", "is not a service")],
    );

    n += settings_rows();
    eprintln!("invalid values: {n} rows, each refused at its field with nothing sent");
}
