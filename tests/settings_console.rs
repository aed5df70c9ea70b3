//! The `:settings` forms in a real terminal (tmux) against a lab:
//! ssl-parameters edited to `TLSv1.2 TLSv1.3` (preview, dry run, `y`,
//! `configured`); then `TLSv1.9` gets the webhook's exact message at the
//! field and nothing is sent; then a CA is added to additional-ca from a
//! file path in the form and the view lists it. Needs root (the lab).

mod common;

use std::time::{Duration, Instant};

use common::tmux::{Tmux, flat, wait_for};
use common::{BIN, Home, Lab};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};

const TAG: &str = "setcon";

#[test]
fn settings_forms_apply_refuse_at_the_field_and_add_a_ca_from_a_file() {
    let started = Instant::now();
    let lab = Lab::up(&["--nodes", "1"]);
    let home = Home::new("hc-setcon");
    let (state, config) = (home.0.path().join("state"), home.0.path().join("config"));
    let env = [
        ("XDG_STATE_HOME", state.as_path()),
        ("XDG_CONFIG_HOME", config.as_path()),
    ];
    let cmd = format!("{BIN} --lab {}; sleep 30", lab.dir.display());
    let t = Tmux::start(TAG, &cmd, &env);
    t.wait("the API", Duration::from_secs(15), |s| s.contains("API ok"));

    // Select ssl-parameters (after additional-ca, empty, and ssl-certificates).
    t.command("settings");
    t.wait("the settings read", Duration::from_secs(20), |s| {
        s.contains("ssl-parameters") && s.contains("containerd-registry")
    });
    t.keys(&["j", "j"]);
    t.wait("ssl-parameters selected", Duration::from_secs(5), |s| {
        s.contains("▶ ssl-parameters")
    });
    t.keys(&["e"]);
    t.wait("the form", Duration::from_secs(10), |s| {
        s.contains("ssl-parameters · edit")
    });
    t.keys(&["C-u"]);
    t.text("TLSv1.2 TLSv1.3");
    t.keys(&["Enter"]);
    let s = t.wait("the preview", Duration::from_secs(10), |s| {
        s.contains("ssl-parameters · preview")
    });
    assert!(flat(&s).contains("protocols  TLSv1.2 TLSv1.3"), "{s}");
    t.keys(&["Enter"]);
    t.wait("the dry run to pass", Duration::from_secs(10), |s| {
        s.contains("ssl-parameters · confirm")
    });
    t.keys(&["y"]);
    t.wait("configured", Duration::from_secs(30), |s| {
        s.contains("applied; the cluster reports it configured")
    });
    assert_eq!(
        lab.setting_value("ssl-parameters"),
        r#"{"protocols":"TLSv1.2 TLSv1.3"}"#
    );

    // Back in the view; the form again, prefilled with what was set.
    t.keys(&["Enter"]);
    t.wait("the view", Duration::from_secs(10), |s| {
        s.contains("▶ ssl-parameters")
    });
    t.keys(&["e"]);
    t.wait("the prefilled form", Duration::from_secs(10), |s| {
        s.contains("ssl-parameters · edit") && s.contains("TLSv1.2 TLSv1.3")
    });
    t.keys(&["C-u"]);
    t.text("TLSv1.9");
    // Under the protocols field itself, not only in the walk's box.
    t.wait(
        "the webhook's message at the field",
        Duration::from_secs(10),
        |s| {
            let lines: Vec<&str> = s.lines().collect();
            lines.windows(2).any(|w| {
                w[0].contains("> protocols TLSv1.9")
                    && w[1].contains("✗ unsupported SSL protocol: TLSv1.9")
            })
        },
    );
    let mark = lab.api_log_mark();
    let audit = state.join("harvcred/audit.jsonl");
    t.keys(&["Enter"]);
    // The refusal is audited after the decision; once it is there, a patch
    // sent for it would be in the request log.
    wait_for("the refusal in the audit log", || {
        std::fs::read_to_string(&audit).is_ok_and(|a| a.contains(r#""result":"refused""#))
    });
    assert!(
        t.screen().contains("ssl-parameters · edit"),
        "refused: stays in the form"
    );
    assert!(
        lab.api_writes_since(mark, "settings.harvesterhci.io", "ssl-parameters")
            .is_empty(),
        "nothing was sent"
    );
    t.keys(&["C-x"]);

    // additional-ca (the first line): `a`, a file path, the CA listed as
    // typed, applied, then listed in the view.
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.distinguished_name.push(DnType::CommonName, "console-ca");
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let pem = p.self_signed(&KeyPair::generate().unwrap()).unwrap().pem();
    let file = home.0.path().join("console-ca.pem");
    std::fs::write(&file, &pem).unwrap();
    t.wait("the view", Duration::from_secs(10), |s| {
        s.contains("▶ ssl-parameters")
    });
    t.keys(&["g", "a"]);
    t.wait("the add form", Duration::from_secs(10), |s| {
        s.contains("add CAs to additional-ca")
    });
    t.keys(&["Tab"]);
    t.text(file.to_str().unwrap());
    t.wait("the CA listed as typed", Duration::from_secs(10), |s| {
        s.contains("CN=console-ca  NotAfter")
    });
    t.keys(&["Enter"]);
    t.wait("the preview", Duration::from_secs(10), |s| {
        s.contains("additional-ca · preview")
    });
    t.keys(&["Enter"]);
    t.wait("the dry run to pass", Duration::from_secs(10), |s| {
        s.contains("additional-ca · confirm")
    });
    t.keys(&["y"]);
    t.wait("configured", Duration::from_secs(30), |s| {
        s.contains("applied; the cluster reports it configured")
    });
    assert_eq!(lab.setting_value("additional-ca"), pem);
    t.keys(&["Enter"]);
    t.wait("the CA in the view", Duration::from_secs(20), |s| {
        s.contains("CA CN=console-ca  sha256")
    });

    // containerd-registry (the last line): done only once the node's
    // registries.yaml holds the mirror (Rancher restarts RKE2 to write it).
    t.keys(&["G", "e"]);
    t.wait("the registry form", Duration::from_secs(10), |s| {
        s.contains("containerd-registry · edit")
    });
    t.text(r#"{"Mirrors":{"docker.io":{"Endpoints":["https://mirror.console.lab"]}}}"#);
    t.keys(&["Enter", "Enter"]);
    t.wait("the preview", Duration::from_secs(10), |s| {
        s.contains("containerd-registry · preview")
    });
    t.keys(&["Enter"]);
    t.wait("the dry run to pass", Duration::from_secs(10), |s| {
        s.contains("containerd-registry · confirm")
    });
    t.keys(&["y"]);
    let s = t.wait(
        "the node's registries.yaml",
        Duration::from_secs(120),
        |s| s.contains("containerd-registry · done"),
    );
    assert!(
        flat(&s).contains("node node1: /etc/rancher/rke2/registries.yaml matches"),
        "{s}"
    );
    let on_node = lab.ssh_ok("node1", "sudo cat /etc/rancher/rke2/registries.yaml");
    assert!(on_node.contains("https://mirror.console.lab"), "{on_node}");

    t.keys(&["C-c"]);
    drop(t);
    let audit = std::fs::read_to_string(&audit).unwrap();
    assert!(audit.contains("settings.set.ssl-parameters"), "{audit}");
    assert!(audit.contains("settings.set.additional-ca"), "{audit}");
    eprintln!("settings_console took {:?}", started.elapsed());
}
