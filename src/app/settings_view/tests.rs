//! The settings forms: fields → draft, Harvester's and harvcred's messages
//! at the field with nothing sent, the bundle edits planned on the value
//! read, the key never shown, and the view's keys.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};

use super::*;
use crate::app::engine_form::EngineForm;
use crate::app::engine_form::tests::{walk_actions, walk_answer};
use crate::app::msg::{Pasted, Shared};
use crate::app::{Msg, Setup, View};
use crate::cluster::settings::{Configured, SettingRead};
use crate::flows::engine::{Action, Change, Event};
use crate::flows::setting::SettingFacts;
use crate::flows::{Severity, Step};

fn app(read_only: bool) -> App {
    App::new(Setup {
        read_only,
        inventory: Vec::new(),
        kube: Ok(()),
        notice: None,
        theme: "dark".into(),
    })
}

fn key(app: &mut App, c: KeyCode) -> Vec<Effect> {
    app.update(Msg::Key(KeyEvent::new(c, KeyModifiers::NONE)))
}

fn typed(app: &mut App, s: &str) {
    for c in s.chars() {
        key(app, KeyCode::Char(c));
    }
}

fn clear(app: &mut App) {
    app.update(Msg::Key(KeyEvent::new(
        KeyCode::Char('u'),
        KeyModifiers::CONTROL,
    )));
}

fn paste(app: &mut App, s: &str) {
    app.update(Msg::Paste(Pasted(s.to_string().into())));
}

pub(crate) fn facts(name: &str, value: &str, kept: Option<&str>) -> FormFacts {
    FormFacts {
        setting: SettingFacts {
            current: SettingRead {
                name: name.into(),
                value: Zeroizing::new(value.into()),
                default: Zeroizing::default(),
                resource_version: "7".into(),
                configured: Configured::default(),
                hash: String::new(),
            },
            context: flow::Context {
                host: Some("10.0.0.5".into()),
            },
        },
        kept: kept.map(SettingValue::new),
    }
}

fn form(app: &App) -> &EngineForm<SettingForm> {
    app.form_of::<SettingForm>().expect("a settings form")
}

/// Opens `spec` and answers its read with `f`.
fn opened(spec: SettingForm, f: FormFacts) -> App {
    let mut a = app(false);
    a.open_form(spec);
    let walk = a.form.as_ref().unwrap().walk_id().to_string();
    walk_answer::<SettingFormChange>(&mut a, &walk, Event::Loaded(f));
    a
}

fn errors_at(app: &App, field: &str) -> Vec<String> {
    form(app)
        .walk
        .problems
        .iter()
        .filter(|p| p.field == field && p.severity == Severity::Error)
        .map(|p| p.message.clone())
        .collect()
}

/// Enter (preview) then enter (dry run): the new value the dry run carries,
/// None when nothing was sent.
fn previewed(app: &mut App) -> Option<String> {
    let mut fx = key(app, KeyCode::Enter);
    if form(app).walk.step == Step::Preview {
        fx.extend(key(app, KeyCode::Enter));
    }
    walk_actions::<SettingFormChange>(&fx)
        .into_iter()
        .find_map(|(_, a)| match a {
            Action::DryRun { work, .. } => Some(work.new.0.to_string()),
            _ => None,
        })
}

pub(crate) fn ca(cn: &str) -> String {
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.distinguished_name.push(DnType::CommonName, cn);
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.self_signed(&KeyPair::generate().unwrap()).unwrap().pem()
}

/// A CA, a leaf for 10.0.0.5 signed by it, the leaf's key, another key.
pub(crate) fn serving() -> (String, String, String, String) {
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.distinguished_name.push(DnType::CommonName, "lab-ca");
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_key = KeyPair::generate().unwrap();
    let ca = p.self_signed(&ca_key).unwrap().pem();
    let issuer = Issuer::new(p, ca_key);
    let leaf_params = CertificateParams::new(vec!["10.0.0.5".to_string()]).unwrap();
    let key = KeyPair::generate().unwrap();
    let leaf = leaf_params.signed_by(&key, &issuer).unwrap().pem();
    let other = KeyPair::generate().unwrap().serialize_pem();
    (ca, leaf, key.serialize_pem(), other)
}

#[test]
fn ssl_parameters_prefills_and_says_harvesters_message_at_protocols() {
    let mut a = opened(
        SettingForm::new(values::SSL_PARAMETERS, Kind::Edit),
        facts(values::SSL_PARAMETERS, r#"{"protocols":"TLSv1.2"}"#, None),
    );
    assert_eq!(*form(&a).fields[0].value(), "TLSv1.2");
    clear(&mut a);
    typed(&mut a, "TLSv1.2 TLSv1.9");
    assert_eq!(
        errors_at(&a, "protocols"),
        ["unsupported SSL protocol: TLSv1.9"]
    );
    assert_eq!(previewed(&mut a), None, "nothing is sent");
    assert_eq!(form(&a).walk.step, Step::Edit);
    assert_eq!(*form(&a).fields[0].value(), "TLSv1.2 TLSv1.9");
    // No TLSv1.2/1.3 left: sent only after the warning is seen.
    clear(&mut a);
    typed(&mut a, "TLSv1.1");
    let warned = &form(&a).walk.problems;
    assert!(
        warned
            .iter()
            .any(|p| p.field == "protocols" && p.message.contains("neither TLSv1.2 nor TLSv1.3")),
        "{warned:?}"
    );
    // An unknown cipher: warned about at ciphers, as `show` does.
    clear(&mut a);
    typed(&mut a, "TLSv1.2 TLSv1.3");
    key(&mut a, KeyCode::Tab);
    typed(&mut a, "NOT-A-CIPHER");
    let warned = &form(&a).walk.problems;
    assert!(
        warned
            .iter()
            .any(|p| p.field == "ciphers" && p.message.contains("NOT-A-CIPHER")),
        "{warned:?}"
    );
    clear(&mut a);
    assert_eq!(
        previewed(&mut a).as_deref(),
        Some(r#"{"protocols":"TLSv1.2 TLSv1.3"}"#)
    );
}

#[test]
fn adding_cas_plans_on_the_bundle_read_and_refuses_at_the_field() {
    let (first, second) = (ca("corp-a"), ca("corp-b"));
    let (_, leaf, _, _) = serving();
    let open = || {
        opened(
            SettingForm::new(values::ADDITIONAL_CA, Kind::AddCa),
            facts(values::ADDITIONAL_CA, &first, None),
        )
    };
    let mut a = open();
    paste(&mut a, &leaf);
    assert!(
        errors_at(&a, "pem")[0].contains("is not a CA"),
        "{:?}",
        form(&a).walk.problems
    );
    assert_eq!(previewed(&mut a), None);
    let mut a = open();
    paste(&mut a, &first);
    assert!(errors_at(&a, "pem")[0].contains("already in the bundle"));
    let mut a = open();
    key(&mut a, KeyCode::Tab);
    typed(&mut a, "/nonexistent/ca.pem");
    assert!(errors_at(&a, "file")[0].contains("/nonexistent/ca.pem cannot be read"));
    assert_eq!(previewed(&mut a), None);
    // From a file: listed under the fields as typed, then planned.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("b.pem");
    std::fs::write(&path, &second).unwrap();
    clear(&mut a);
    typed(&mut a, path.to_str().unwrap());
    let notes = form(&a).spec.notes_for(&form(&a).fields);
    assert!(
        notes
            .iter()
            .any(|l| l.contains("CN=corp-b") && l.contains("  CA  ")),
        "{notes:?}"
    );
    assert_eq!(previewed(&mut a), Some(format!("{first}{second}")));
}

#[test]
fn removing_a_ca_keeps_the_rest_and_refuses_an_unknown_fingerprint() {
    let (first, second) = (ca("corp-a"), ca("corp-b"));
    let bundle = format!("# ours\n{first}{second}");
    let fp = ca_bundle::certificates(&second)[0].sha256.clone();
    let mut a = opened(
        SettingForm {
            fingerprint: fp[..16].to_string(),
            ..SettingForm::new(values::ADDITIONAL_CA, Kind::RemoveCa)
        },
        facts(values::ADDITIONAL_CA, &bundle, None),
    );
    assert_eq!(*form(&a).fields[0].value(), &fp[..16]);
    assert_eq!(previewed(&mut a), Some(format!("# ours\n{first}")));
    let mut a = opened(
        SettingForm::new(values::ADDITIONAL_CA, Kind::RemoveCa),
        facts(values::ADDITIONAL_CA, &bundle, None),
    );
    typed(&mut a, "00000000dead");
    assert!(errors_at(&a, "fingerprint")[0].contains("no certificate of additional-ca"));
    assert_eq!(previewed(&mut a), None);
}

/// The ssl-certificates form with these pasted.
fn ssl_form(cert: &str, key_pem: &str, ca_pem: &str) -> App {
    let mut a = opened(
        SettingForm::new(values::SSL_CERTIFICATES, Kind::Edit),
        facts(values::SSL_CERTIFICATES, "", None),
    );
    paste(&mut a, cert);
    key(&mut a, KeyCode::Tab);
    paste(&mut a, key_pem);
    key(&mut a, KeyCode::Tab);
    paste(&mut a, ca_pem);
    a
}

#[test]
fn ssl_certificates_checks_at_the_fields_and_never_shows_the_key() {
    let (ca_pem, leaf, key_pem, other) = serving();
    let mut a = ssl_form(&leaf, &other, &ca_pem);
    assert!(
        errors_at(&a, "key")
            .iter()
            .any(|m| m.contains("privateKey does not match")),
        "{:?}",
        form(&a).walk.problems
    );
    assert_eq!(previewed(&mut a), None);
    // A CA that did not sign the certificate: said at ca, never sent.
    let (other_ca, _, _, _) = serving();
    let mut a = ssl_form(&leaf, &key_pem, &other_ca);
    assert!(
        errors_at(&a, "ca")
            .iter()
            .any(|m| m.contains("does not verify up to ca")),
        "{:?}",
        form(&a).walk.problems
    );
    assert_eq!(previewed(&mut a), None);
    // The right key and CA: nothing in the way.
    let mut a = ssl_form(&leaf, &key_pem, &ca_pem);
    assert!(
        !form(&a)
            .walk
            .problems
            .iter()
            .any(|p| p.severity == Severity::Error),
        "{:?}",
        form(&a).walk.problems
    );
    // Drawn: the key is a line count and its kind, never its text.
    let screen = screen(&a).join("\n");
    let body = key_pem.lines().nth(1).unwrap();
    assert!(!screen.contains(&body[..20]), "{screen}");
    assert!(screen.contains("lines, PRIVATE KEY"), "{screen}");
    assert!(!format!("{a:?}").contains(&body[..20]));
    assert!(previewed(&mut a).is_some());
}

fn screen(app: &App) -> Vec<String> {
    let theme = crate::ui::Theme::default_theme();
    let backend = ratatui::backend::TestBackend::new(100, 30);
    let mut term = ratatui::Terminal::new(backend).unwrap();
    let form = app.form.as_ref().expect("a form is open");
    term.draw(|f| form.draw(f, f.area(), &theme)).unwrap();
    crate::ui::buffer_lines(term.backend().buffer())
}

#[test]
fn emptying_ssl_certificates_says_it_resets_to_harvesters_own() {
    let (_, leaf, key_pem, _) = serving();
    let stored = SslCertificates {
        ca: Zeroizing::default(),
        public_certificate: Zeroizing::new(leaf),
        private_key: Zeroizing::new(key_pem),
    }
    .to_json();
    let mut a = opened(
        SettingForm::new(values::SSL_CERTIFICATES, Kind::Edit),
        facts(values::SSL_CERTIFICATES, &stored, None),
    );
    // Not prefilled: empty already means the reset.
    assert!(form(&a).fields.iter().all(Field::is_empty));
    key(&mut a, KeyCode::Tab);
    key(&mut a, KeyCode::Tab);
    key(&mut a, KeyCode::Tab);
    key(&mut a, KeyCode::Enter);
    let preview = form(&a).walk.plan[0].preview.join("\n");
    assert!(
        preview.contains("reset to Harvester's own certificate"),
        "{preview}"
    );
}

#[test]
fn rollback_restores_the_kept_value_or_says_there_is_none() {
    let mut a = opened(
        SettingForm::new(values::SSL_PARAMETERS, Kind::Rollback),
        facts(
            values::SSL_PARAMETERS,
            r#"{"protocols":"TLSv1.3"}"#,
            Some(r#"{"protocols":"TLSv1.2"}"#),
        ),
    );
    assert_eq!(
        form(&a).walk.change.action(),
        "settings.rollback.ssl-parameters"
    );
    assert_eq!(
        previewed(&mut a).as_deref(),
        Some(r#"{"protocols":"TLSv1.2"}"#)
    );
    let mut a = opened(
        SettingForm::new(values::SSL_PARAMETERS, Kind::Rollback),
        facts(values::SSL_PARAMETERS, r#"{"protocols":"TLSv1.3"}"#, None),
    );
    assert!(
        form(&a).walk.problems[0]
            .message
            .contains("nothing to roll back to")
    );
    assert_eq!(previewed(&mut a), None);
}

fn with_settings(read_only: bool) -> App {
    let mut a = app(read_only);
    let bundle = format!("{}{}", ca("corp-a"), ca("corp-b"));
    let now = time::OffsetDateTime::now_utc();
    let t = crate::creds::level::Thresholds::default();
    let described = values::NAMES
        .iter()
        .map(|n| {
            let v = if *n == values::ADDITIONAL_CA {
                bundle.as_str()
            } else {
                ""
            };
            (*n, !v.is_empty(), values::describe(n, v, now, &t))
        })
        .collect();
    a.update(Msg::SettingsRead(Shared::new(
        crate::status::ClusterSettings {
            described,
            ..Default::default()
        },
    )));
    a.views.push(View::Settings);
    a
}

#[test]
fn the_view_selects_settings_and_cas_and_opens_their_forms() {
    let mut a = with_settings(false);
    let items = a.settings_items();
    assert_eq!(items.len(), 6, "{items:?}");
    // The second CA: `d` opens the removal of it.
    key(&mut a, KeyCode::Char('j'));
    key(&mut a, KeyCode::Char('j'));
    key(&mut a, KeyCode::Char('d'));
    let sha = items[2].ca.as_ref().unwrap().0.clone();
    assert_eq!(form(&a).spec.kind, Kind::RemoveCa);
    assert_eq!(*form(&a).fields[0].value(), sha[..16]);
    key(&mut a, KeyCode::Esc);
    assert!(a.form.is_none());
    // ssl-certificates: no rollback, and why.
    a.views.retain(|v| !matches!(v, View::Walk(_)));
    key(&mut a, KeyCode::Char('j'));
    assert_eq!(
        a.settings_items()[a.settings_view.selected].name,
        values::SSL_CERTIFICATES
    );
    key(&mut a, KeyCode::Char('b'));
    assert!(a.form.is_none());
    assert!(a.flash.as_ref().unwrap().text.contains("has no rollback"));
    key(&mut a, KeyCode::Char('a'));
    assert!(
        a.flash
            .as_ref()
            .unwrap()
            .text
            .contains("select additional-ca")
    );
    key(&mut a, KeyCode::Char('e'));
    assert_eq!(form(&a).spec.name, values::SSL_CERTIFICATES);
}

#[test]
fn read_only_refuses_every_settings_form() {
    let mut a = with_settings(true);
    for c in ['e', 'a', 'd', 'b'] {
        let fx = key(&mut a, KeyCode::Char(c));
        assert!(fx.is_empty() && a.form.is_none(), "{c}");
        assert!(a.flash.as_ref().unwrap().text.contains("read-only"), "{c}");
    }
}

fn view_screen(app: &App) -> String {
    let theme = crate::ui::Theme::default_theme();
    let mut term = ratatui::Terminal::new(ratatui::backend::TestBackend::new(100, 30)).unwrap();
    term.draw(|f| crate::ui::draw(f, app, &theme)).unwrap();
    crate::ui::buffer_lines(term.backend().buffer()).join("\n")
}

/// The view: each CA on a line of its own, the selection marked, the keys
/// in the footer (without the changing ones in read-only mode).
#[test]
fn the_view_lists_each_ca_marks_the_selection_and_names_its_keys() {
    let mut a = with_settings(false);
    key(&mut a, KeyCode::Char('j'));
    let s = view_screen(&a);
    assert!(s.contains("  additional-ca        customized"), "{s}");
    assert!(s.contains("▶     CA CN=corp-a  sha256"), "{s}");
    assert!(s.contains("      CA CN=corp-b  sha256"), "{s}");
    assert!(
        s.contains("ssl-parameters       Harvester's default"),
        "{s}"
    );
    assert!(
        s.contains("e edit") && s.contains("d remove CA") && s.contains("b roll back"),
        "{s}"
    );
    let s = view_screen(&with_settings(true));
    assert!(s.contains("j/k select") && !s.contains("e edit"), "{s}");
}
