//! Screens as the operator sees them: insta snapshots of the text on
//! ratatui's TestBackend at 80x24 and 120x40, and the colours of status cells
//! asserted cell by cell (snapshots keep text only).

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use harvcred::app::*;
use harvcred::ui::{self, Theme};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use ratatui::style::{Color, Modifier};

fn node(name: &str, ip: &str, role: Role) -> NodeInfo {
    NodeInfo {
        name: name.into(),
        role,
        address: Some(ip.into()),
        ready: Some(true),
    }
}

fn setup(read_only: bool, inventory: Vec<NodeInfo>) -> Setup {
    Setup {
        read_only,
        inventory,
        kube: Ok(()),
        notice: None,
        theme: "dark".into(),
    }
}

fn three() -> Vec<NodeInfo> {
    vec![
        node("node1", "10.213.40.11", Role::Server),
        node("node2", "10.213.40.12", Role::Server),
        node("node3", "10.213.40.13", Role::Worker),
    ]
}

fn refused() -> SshState {
    SshState::Down(SshProblem {
        kind: SshProblemKind::Refused,
        detail: "10.213.40.12:22: connection refused (is sshd running?)".into(),
    })
}

/// A 3-node cluster: API up, node1 reachable, node2's sshd stopped, node3 still connecting.
fn cluster(w: u16, h: u16) -> App {
    let mut app = App::new(setup(false, Vec::new()));
    app.update(Msg::Resize {
        width: w,
        height: h,
    });
    app.update(Msg::ApiContext {
        context: "local".into(),
        server: "https://10.213.40.1:6443/".into(),
    });
    app.update(Msg::NodesListed(three()));
    app.update(Msg::Ssh {
        node: "node1".into(),
        state: SshState::Up { latency_ms: 4 },
    });
    app.update(Msg::Ssh {
        node: "node2".into(),
        state: refused(),
    });
    app
}

fn press(app: &mut App, c: KeyCode) {
    app.update(Msg::Key(KeyEvent::new(c, KeyModifiers::NONE)));
}
fn type_str(app: &mut App, s: &str) {
    for c in s.chars() {
        press(app, KeyCode::Char(c));
    }
}

fn draw(app: &App, theme: &Theme) -> Terminal<TestBackend> {
    let (w, h) = app.size;
    let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
    t.draw(|f| ui::draw(f, app, theme)).unwrap();
    t
}

fn dark() -> Theme {
    Theme::default_theme()
}

/// The text of screen line `y`.
fn row_text(buf: &Buffer, y: u16) -> String {
    (0..buf.area.width)
        .map(|x| buf[(x, y)].symbol().to_string())
        .collect()
}

/// Position of the first occurrence of `text` on the screen.
fn find(buf: &Buffer, text: &str) -> (u16, u16) {
    for y in 0..buf.area.height {
        let line = row_text(buf, y);
        if let Some(i) = line.find(text) {
            let x = line[..i].chars().count() as u16;
            return (x, y);
        }
    }
    panic!("{text:?} not on screen");
}

/// Position of `text` on the line that also shows `row`.
fn find_in_row(buf: &Buffer, row: &str, text: &str) -> (u16, u16) {
    let (_, y) = find(buf, row);
    let line = row_text(buf, y);
    let i = line
        .find(text)
        .unwrap_or_else(|| panic!("{text:?} not in {line:?}"));
    (line[..i].chars().count() as u16, y)
}

#[test]
fn node_table_80x24() {
    let app = cluster(80, 24);
    let t = draw(&app, &dark());
    insta::assert_snapshot!(t.backend());
}

#[test]
fn node_table_120x40_has_detail_and_log_slot() {
    let app = cluster(120, 40);
    let t = draw(&app, &dark());
    insta::assert_snapshot!(t.backend());
}

#[test]
fn status_cells_are_coloured_by_state() {
    let app = cluster(80, 24);
    let th = dark();
    let t = draw(&app, &th);
    let buf = t.backend().buffer();
    let ok = find_in_row(buf, "node1", "ok 4ms");
    assert_eq!(buf[ok].fg, Color::Green);
    let down = find_in_row(buf, "node2", "refused");
    assert_eq!(buf[down].fg, Color::LightRed);
    assert!(buf[down].modifier.contains(Modifier::BOLD));
    let pending = find_in_row(buf, "node3", "connecting");
    assert_eq!(buf[pending].fg, Color::DarkGray);
    // Credential cells are being read: a grey "…" in each of the five
    // columns after SSH, never a value.
    let (x, y) = find_in_row(buf, "node1", "ok 4ms");
    let line = row_text(buf, y);
    let after_ssh: String = line.chars().skip(x as usize + "ok 4ms".len()).collect();
    let cells: Vec<&str> = after_ssh
        .trim_end_matches(['│', ' '])
        .split_whitespace()
        .collect();
    assert_eq!(cells, ["…"; 5], "{line}");
    let q = find_in_row(buf, "node1", "…");
    assert_eq!(buf[q].fg, Color::DarkGray);
    // The header counts 1 of 3 up, in the critical colour.
    let up = find(buf, "nodes 1/3 up");
    assert_eq!(buf[up].fg, Color::LightRed);
    let api = find(buf, "API ok");
    assert_eq!(buf[api].fg, Color::Green);
}

#[test]
fn monochrome_theme_uses_no_colour_and_still_marks_trouble() {
    let dir = tempfile::tempdir().unwrap();
    let (mono, warn) = Theme::load("monochrome", dir.path());
    assert_eq!(warn, None);
    let app = cluster(80, 24);
    let t = draw(&app, &mono);
    let buf = t.backend().buffer();
    for y in 0..24 {
        for x in 0..80 {
            let c = &buf[(x, y)];
            assert!(matches!(c.fg, Color::Reset), "fg {:?} at {x},{y}", c.fg);
            assert!(matches!(c.bg, Color::Reset), "bg {:?} at {x},{y}", c.bg);
        }
    }
    let down = find_in_row(buf, "node2", "refused");
    assert!(buf[down].modifier.contains(Modifier::REVERSED));
}

/// The three nodes as `--inventory` gives them (through its real loader:
/// an inventory cannot know whether Kubernetes calls a node Ready).
fn three_from_an_inventory() -> Vec<NodeInfo> {
    let d = tempfile::tempdir().unwrap();
    let path = d.path().join("inventory.toml");
    let mut text = String::new();
    for n in three() {
        text += &format!(
            "[[node]]\nname = \"{}\"\naddress = \"{}\"\nrole = \"{}\"\n",
            n.name,
            n.address.unwrap(),
            n.role.label()
        );
    }
    std::fs::write(&path, text).unwrap();
    harvcred::cluster::load_inventory(&path).unwrap()
}

#[test]
fn api_down_with_inventory_80x24() {
    let mut app = App::new(setup(false, three_from_an_inventory()));
    app.update(Msg::Resize {
        width: 80,
        height: 24,
    });
    app.update(Msg::ApiState(ApiState::Down(ApiProblem {
        kind: ApiProblemKind::Refused,
        detail: "error trying to connect: tcp connect error: Connection refused (os error 111)"
            .into(),
    })));
    app.update(Msg::Ssh {
        node: "node1".into(),
        state: SshState::Up { latency_ms: 2 },
    });
    let t = draw(&app, &dark());
    insta::assert_snapshot!(t.backend());
    let buf = t.backend().buffer();
    let api = find(buf, "API down: connection refused");
    assert_eq!(buf[api].fg, Color::LightRed);
    find(buf, "nodes from the inventory");
    find(buf, "unknown (not from the API)");
    assert!(!shows(buf, "Ready"), "no readiness the API did not give");
}

#[test]
fn detail_view_shows_unknown_host_key_fingerprint_80x24() {
    let mut app = cluster(80, 24);
    app.update(Msg::Ssh {
        node: "node3".into(),
        state: SshState::Down(SshProblem {
            kind: SshProblemKind::HostKeyUnknown(vec![
                "ED25519 SHA256:9n2Qw0k8m4c1yJ3o3h7m2u1WvQe8cT4bX5zK6rL7pA0".into(),
            ]),
            detail: "host key not in known_hosts (strict checking)".into(),
        }),
    });
    press(&mut app, KeyCode::Char('G'));
    press(&mut app, KeyCode::Enter);
    let t = draw(&app, &dark());
    insta::assert_snapshot!(t.backend());
    find(t.backend().buffer(), "SHA256:9n2Qw0k8");
}

#[test]
fn help_overlay_80x24() {
    let mut app = cluster(80, 24);
    press(&mut app, KeyCode::Char('?'));
    let t = draw(&app, &dark());
    insta::assert_snapshot!(t.backend());
    // Every entry whole: the overlay's text, continuation lines joined to
    // the entry above, holds each key's full description.
    let buf = t.backend().buffer();
    let (x0, y0) = find(buf, "┌ help");
    let inner = |y: u16| -> String {
        (x0 + 1..x0 + 65)
            .map(|x| buf[(x, y)].symbol().to_string())
            .collect()
    };
    let mut entries: Vec<String> = Vec::new();
    for y in y0 + 1..buf.area.height {
        let text = inner(y);
        if text.starts_with(&" ".repeat(17)) && !entries.is_empty() {
            let last = entries.last_mut().unwrap();
            last.push(' ');
            last.push_str(text.trim());
        } else {
            entries.push(text.trim().to_string());
        }
    }
    let (pane, global) = keys::for_view(&View::Nodes, false);
    for h in pane.iter().chain(&global) {
        assert!(
            entries.iter().any(|e| e.ends_with(h.what)),
            "{:?} is not shown whole:\n{entries:#?}",
            h.what
        );
    }
}

/// Whether `text` is anywhere on screen.
fn shows(buf: &Buffer, text: &str) -> bool {
    (0..buf.area.height).any(|y| row_text(buf, y).contains(text))
}

#[test]
fn help_taller_than_the_terminal_scrolls_to_its_last_line() {
    let mut app = cluster(80, 16);
    press(&mut app, KeyCode::Char('?'));
    let t = draw(&app, &dark());
    let buf = t.backend().buffer();
    assert!(shows(buf, "j/k scroll"), "the title says it scrolls");
    assert!(!shows(buf, "commands: :nodes"));
    for _ in 0..40 {
        press(&mut app, KeyCode::Char('j'));
    }
    let t = draw(&app, &dark());
    let buf = t.backend().buffer();
    assert!(shows(buf, "commands: :nodes"), "last line reachable");
    assert!(!shows(buf, "next node"), "first lines scrolled away");
    press(&mut app, KeyCode::Esc);
    press(&mut app, KeyCode::Char('?'));
    assert!(shows(draw(&app, &dark()).backend().buffer(), "next node"));
}

#[test]
fn command_mode_with_completion_80x24() {
    let mut app = cluster(80, 24);
    press(&mut app, KeyCode::Char(':'));
    type_str(&mut app, "c");
    let t = draw(&app, &dark());
    let buf = t.backend().buffer();
    let (_, y) = find(buf, ":c");
    assert_eq!(y, 23, "the command line is the bottom line");
    find(buf, "certs");
}

#[test]
fn filter_80x24() {
    let mut app = cluster(80, 24);
    press(&mut app, KeyCode::Char('/'));
    type_str(&mut app, "node2");
    press(&mut app, KeyCode::Enter);
    let t = draw(&app, &dark());
    insta::assert_snapshot!(t.backend());
}

#[test]
fn read_only_is_shown_in_the_header() {
    let mut app = App::new(setup(true, three()));
    app.update(Msg::Resize {
        width: 80,
        height: 24,
    });
    let t = draw(&app, &dark());
    let buf = t.backend().buffer();
    let b = find(buf, "READ-ONLY");
    assert_eq!(buf[b].bg, Color::Yellow);
}

#[test]
fn remote_text_cannot_drive_the_terminal() {
    let mut app = App::new(setup(false, Vec::new()));
    app.update(Msg::Resize {
        width: 120,
        height: 40,
    });
    app.update(Msg::NodesListed(vec![node(
        "evil\u{1b}[2J\u{202e}x",
        "10.0.0.1",
        Role::Worker,
    )]));
    app.update(Msg::Ssh {
        node: "evil\u{1b}[2J\u{202e}x".into(),
        state: SshState::Down(SshProblem {
            kind: SshProblemKind::Other,
            detail: "bad\u{7}\u{1b}]0;title\u{7}".into(),
        }),
    });
    let t = draw(&app, &dark());
    let buf = t.backend().buffer();
    for c in buf.content() {
        assert!(
            !c.symbol()
                .chars()
                .any(|ch| ch.is_control() || ch == '\u{202e}'),
            "raw control character reached the screen: {:?}",
            c.symbol()
        );
    }
    find(buf, "evil\\e[2J\\u{202e}x");
}

/// Every screen at every size: nothing is drawn outside the terminal (the
/// buffer is exactly the terminal), the header and the key line are there
/// whenever the terminal has room for them, and what is open is on screen.
#[test]
fn every_screen_fits_small_and_after_resize() {
    let mut app = cluster(80, 24);
    for (w, h) in [(80, 24), (40, 12), (200, 60), (80, 24)] {
        app.update(Msg::Resize {
            width: w,
            height: h,
        });
        for (keys, shown) in [
            (&[][..], "nodes"),
            (&[KeyCode::Char('?')][..], "help"),
            (&[KeyCode::Esc, KeyCode::Enter][..], "node1"),
        ] {
            for k in keys {
                press(&mut app, *k);
            }
            let t = draw(&app, &dark());
            let buf = t.backend().buffer();
            assert_eq!((buf.area.width, buf.area.height), (w, h));
            assert!(
                shows(buf, shown),
                "{shown:?} not on the {w}x{h} screen after {keys:?}"
            );
            assert!(
                row_text(buf, 0).starts_with(" harvcred") || row_text(buf, 0).contains("help"),
                "header at {w}x{h}: {:?}",
                row_text(buf, 0)
            );
            // Every box drawn is closed: as many top corners as bottom ones.
            let count = |c: &str| buf.content().iter().filter(|x| x.symbol() == c).count();
            assert_eq!(count("┌"), count("└"), "a box runs off the {w}x{h} screen");
            assert_eq!(count("┐"), count("┘"), "a box runs off the {w}x{h} screen");
        }
        press(&mut app, KeyCode::Esc);
        press(&mut app, KeyCode::Esc);
    }
}

mod credentials {
    use super::*;
    use harvcred::creds::Level;
    use harvcred::creds::level::Finding;
    use harvcred::creds::report::{Area, AreaReport, NodeReport};
    use harvcred::status::{NodeOutcome, ReadFailure, Unreadable};
    use std::collections::BTreeMap;
    use std::sync::Arc;

    fn report(node: &str, levels: [Level; 5]) -> NodeReport {
        let mut areas = BTreeMap::new();
        for (a, l) in Area::ALL.into_iter().zip(levels) {
            let findings = match (a, l) {
                (Area::Certificates, Level::Expired) => vec![
                    Finding::new(
                        Level::Expired,
                        "/var/lib/rancher/rke2/server/tls/kube-controller-manager/kube-controller-manager.crt [0] kube-controller-manager",
                        "expired 3 days ago: delete it and restart rke2-server so it is made again",
                    ),
                    Finding::new(
                        Level::Ok,
                        "/var/lib/rancher/rke2/server/tls/server-ca.crt [0] rke2-server-ca",
                        "expires in 3649 days",
                    ),
                ],
                _ => vec![Finding::new(
                    l,
                    format!("{node} {}", a.title().to_lowercase()),
                    "nothing to do",
                )],
            };
            areas.insert(a, AreaReport { level: l, findings });
        }
        NodeReport {
            node: node.into(),
            areas,
            certs: Vec::new(),
            runtime_keys: Vec::new(),
            persisted_keys: Vec::new(),
            login_fingerprint: None,
            tokens: Vec::new(),
        }
    }

    /// node1 all ok, node2 an expired controller-manager cert and a warning, node3 sudo refused.
    fn swept(w: u16, h: u16) -> App {
        let mut app = cluster(w, h);
        for r in [
            report("node1", [Level::Ok; 5]),
            report(
                "node2",
                [
                    Level::Expired,
                    Level::Ok,
                    Level::Ok,
                    Level::Warn,
                    Level::RenewsAtRestart,
                ],
            ),
        ] {
            app.update(Msg::NodeSwept {
                node: r.node.clone(),
                outcome: Shared::new(NodeOutcome::Report(Arc::new(r))),
                network: Shared::new(Default::default()),
            });
        }
        app.update(Msg::NodeSwept {
            node: "node3".into(),
            outcome: Shared::new(NodeOutcome::Failed(Unreadable {
                reason: ReadFailure::Sudo,
                detail: "sudo: a password is required".into(),
            })),
            network: Shared::new(Default::default()),
        });
        app
    }

    #[test]
    fn filled_credential_columns_80x24() {
        let app = swept(80, 24);
        let t = draw(&app, &dark());
        let buf = t.backend().buffer();
        let exp = find_in_row(buf, "node2", "exp");
        assert_eq!(buf[exp].fg, Color::LightRed);
        let warn = find_in_row(buf, "node2", "warn");
        assert_eq!(buf[warn].fg, Color::Yellow);
        // node1's CERT column: right after the SSH column.
        let (x, y) = find_in_row(buf, "node1", "ok 4ms");
        let cert = (x..80)
            .skip(6)
            .find(|&i| buf[(i, y)].symbol() == "o")
            .expect("a cert cell");
        assert_eq!(buf[(cert + 1, y)].symbol(), "k");
        assert_eq!(buf[(cert, y)].fg, Color::Green);
        // Could not be read: unknown, not a guess.
        let q = find_in_row(buf, "node3", "?");
        assert_eq!(buf[q].fg, Color::DarkGray);
        insta::assert_snapshot!(t.backend());
    }

    #[test]
    fn filled_credential_columns_120x40() {
        let app = swept(120, 40);
        let t = draw(&app, &dark());
        insta::assert_snapshot!(t.backend());
    }

    fn detail_of_node2(w: u16, h: u16) -> App {
        let mut app = swept(w, h);
        press(&mut app, KeyCode::Char('j'));
        press(&mut app, KeyCode::Enter);
        app
    }

    #[test]
    fn detail_certificates_tab_80x24() {
        let app = detail_of_node2(80, 24);
        let t = draw(&app, &dark());
        let buf = t.backend().buffer();
        let e = find(buf, "expired  ");
        assert_eq!(buf[e].fg, Color::LightRed);
        insta::assert_snapshot!(t.backend());
    }

    #[test]
    fn detail_token_tab_120x40() {
        let mut app = detail_of_node2(120, 40);
        press(&mut app, KeyCode::Char('4'));
        let t = draw(&app, &dark());
        let buf = t.backend().buffer();
        let w = find(buf, "warn     ");
        assert_eq!(buf[w].fg, Color::Yellow);
        insta::assert_snapshot!(t.backend());
    }

    #[test]
    fn detail_of_an_unreadable_node_says_sudo() {
        let mut app = swept(80, 24);
        press(&mut app, KeyCode::Char('G'));
        press(&mut app, KeyCode::Enter);
        let t = draw(&app, &dark());
        let buf = t.backend().buffer();
        let s = find(buf, "could not read (sudo)");
        assert_eq!(buf[s].fg, Color::LightRed);
    }

    /// A node report holding `n` real certificates (one made with rcgen,
    /// read back with the parser, then filed under `n` paths).
    fn with_certs(node: &str, n: usize) -> NodeReport {
        use harvcred::creds::certs::{assess, parse_cert_file};
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(vec!["node".into()]).unwrap();
        params.not_after = rcgen::date_time_ymd(2030, 1, 1);
        let pem = params.self_signed(&key).unwrap().pem();
        let parsed = parse_cert_file("x.crt", pem.as_bytes());
        let one = assess(
            &parsed.certs[0],
            time::OffsetDateTime::now_utc(),
            &Default::default(),
        );
        let mut r = report(node, [Level::Ok; 5]);
        r.certs = (0..n)
            .map(|i| {
                let mut c = one.clone();
                let dir = if i % 10 == 0 { "etcd/" } else { "" };
                c.cert.path = format!("/var/lib/rancher/rke2/server/tls/{dir}cert{i:02}.crt");
                c
            })
            .collect();
        r
    }

    fn shows(buf: &Buffer, text: &str) -> bool {
        super::shows(buf, text)
    }

    #[test]
    fn certs_view_scrolls_through_every_certificate_and_filters() {
        let mut app = cluster(80, 24);
        let r = with_certs("node1", 60);
        app.update(Msg::NodeSwept {
            node: "node1".into(),
            outcome: Shared::new(NodeOutcome::Report(Arc::new(r))),
            network: Shared::new(Default::default()),
        });
        press(&mut app, KeyCode::Char(':'));
        type_str(&mut app, "certs");
        press(&mut app, KeyCode::Enter);
        let t = draw(&app, &dark());
        let buf = t.backend().buffer();
        assert!(
            shows(buf, "certificates (60) 1-18"),
            "title counts and says which rows"
        );
        assert!(shows(buf, "tls/cert01.crt"));
        assert!(!shows(buf, "tls/cert59.crt"));

        press(&mut app, KeyCode::Char('G'));
        let t = draw(&app, &dark());
        let buf = t.backend().buffer();
        assert!(shows(buf, "43-60"), "the last page");
        // etcd/ sorts after the files beside it.
        assert!(shows(buf, "tls/etcd/cert50.crt"));
        press(&mut app, KeyCode::PageUp);
        press(&mut app, KeyCode::Char('k'));
        assert!(shows(draw(&app, &dark()).backend().buffer(), "24-41"));

        // The view's own filter: the node table's filter is untouched.
        press(&mut app, KeyCode::Char('/'));
        type_str(&mut app, "etcd");
        press(&mut app, KeyCode::Enter);
        let t = draw(&app, &dark());
        let buf = t.backend().buffer();
        assert!(shows(buf, "certificates (6/60) </etcd>"));
        assert!(shows(buf, "tls/etcd/cert50.crt"));
        assert!(!shows(buf, "tls/cert01.crt"));
        assert!(app.table.filter.is_empty());
        // esc clears the filter first, then leaves the view.
        press(&mut app, KeyCode::Esc);
        assert!(shows(
            draw(&app, &dark()).backend().buffer(),
            "certificates (60)"
        ));
        press(&mut app, KeyCode::Esc);
        assert!(shows(draw(&app, &dark()).backend().buffer(), "nodes (3)"));
    }

    #[test]
    fn detail_tabs_list_every_certificate_key_and_token_copy_and_scroll() {
        use harvcred::creds::keys::parse_authorized_keys;
        use harvcred::creds::report::{KeySource, TokenCopy};
        let mut app = cluster(80, 24);
        let mut r = with_certs("node1", 30);
        let keys = parse_authorized_keys(
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGGFOMswY4ktRo2j4fU9viU7rFZtW81ncGnHA25rr0ZG ops@laptop\n",
        );
        r.runtime_keys = keys.entries.clone();
        r.persisted_keys = vec![KeySource {
            source: "/oem/90_custom.yaml".into(),
            key: keys.entries[0].clone(),
        }];
        r.login_fingerprint = Some(keys.entries[0].fingerprint.clone());
        r.tokens = vec![TokenCopy {
            source: "/var/lib/rancher/rke2/server/token".into(),
            short_hash: "3f2a9c1b".into(),
            format: "secure".into(),
        }];
        app.update(Msg::NodeSwept {
            node: "node1".into(),
            outcome: Shared::new(NodeOutcome::Report(Arc::new(r))),
            network: Shared::new(Default::default()),
        });
        press(&mut app, KeyCode::Enter);
        let buf = draw(&app, &dark()).backend().buffer().clone();
        assert!(shows(&buf, "30 certificate blocks, worst first"));
        assert!(shows(&buf, "server/tls/cert01.crt"));
        assert!(shows(&buf, "pgdn/pgup scroll"));
        assert!(!shows(&buf, "server/tls/cert29.crt"));
        press(&mut app, KeyCode::PageDown);
        press(&mut app, KeyCode::PageDown);
        let buf = draw(&app, &dark()).backend().buffer().clone();
        assert!(shows(&buf, "server/tls/cert29.crt"), "the end is reachable");

        press(&mut app, KeyCode::Char('2'));
        let buf = draw(&app, &dark()).backend().buffer().clone();
        assert!(shows(&buf, "runtime ~rancher/.ssh/authorized_keys: 1 keys"));
        assert!(shows(&buf, "persisted in /oem/90_custom.yaml"));
        assert!(shows(
            &buf,
            "SHA256:9lD1qJeuw7nN43BZpCHCE+Mpg24CDGmL1aIWu5cYO8k"
        ));
        assert!(shows(&buf, "harvcred logged in with it"));

        press(&mut app, KeyCode::Char('4'));
        let buf = draw(&app, &dark()).backend().buffer().clone();
        assert!(shows(
            &buf,
            "3f2a9c1b secure  /var/lib/rancher/rke2/server/token"
        ));
    }
}

mod log_pane {
    use super::*;
    use harvcred::logs::{LogLine, Timestamp};

    fn ts(s: i64) -> Option<Timestamp> {
        Some(Timestamp::from_unix(1_790_000_000 + s, 250_000))
    }

    fn batch(app: &mut App, node: u16, dropped: u64, lines: &[(i64, &[u8])]) {
        let pane = app.logs.pane.as_ref().unwrap().id;
        app.update(Msg::LogLines {
            pane,
            node,
            lines: lines
                .iter()
                .map(|(s, t)| LogLine::new(node, ts(*s), t, 120))
                .collect(),
            dropped,
        });
    }

    /// node1 and node2 marked, `l`, lines from both: one hostile, one too
    /// long, one with a known failure, and lines lost on the way.
    fn two_nodes(max_lines: usize) -> App {
        let mut app = cluster(80, 24);
        app.logs.max_lines = max_lines;
        type_str(&mut app, "  ");
        press(&mut app, KeyCode::Char('l'));
        batch(
            &mut app,
            0,
            0,
            &[
                (0, b"Starting rke2-server"),
                (1, b"evil \x1b]52;c;aGk=\x07 \x1b[31mred"),
            ],
        );
        batch(
            &mut app,
            1,
            4,
            &[
                (2, b"level=info msg=\"Waiting for API server\""),
                (3, &[b'x'; 300]),
                (
                    4,
                    b"level=fatal msg=\"failed to validate token: 502 Bad Gateway getting cacerts\"",
                ),
            ],
        );
        app
    }

    #[test]
    fn log_pane_two_nodes_80x24() {
        let app = two_nodes(10_000);
        let th = dark();
        let t = draw(&app, &th);
        insta::assert_snapshot!(t.backend());
        let buf = t.backend().buffer();
        // Each node's prefix in its own colour.
        let one = find_in_row(buf, "Starting", "node1");
        let two = find_in_row(buf, "Waiting", "node2");
        assert_ne!(buf[one].fg, buf[two].fg);
        assert_ne!(buf[one].fg, Color::Reset);
        // Escapes are shown, marked, and no ESC reaches the screen.
        let esc = find(buf, "\\e]52;c;aGk=\\a");
        assert_eq!(buf[esc].fg, Color::Yellow);
        for y in 0..24 {
            for x in 0..80 {
                assert!(!buf[(x, y)].symbol().contains('\u{1b}'));
            }
        }
        find(buf, "4 lines not received");
        find(buf, "↳ hint");
        find(buf, "following");
    }

    #[test]
    fn log_pane_paused_fullscreen_search_80x24() {
        let mut app = two_nodes(6);
        press(&mut app, KeyCode::Char('z'));
        press(&mut app, KeyCode::Char('w'));
        press(&mut app, KeyCode::Char('t'));
        type_str(&mut app, "/api");
        press(&mut app, KeyCode::Enter);
        press(&mut app, KeyCode::Char('k'));
        batch(&mut app, 0, 0, &[(5, b"one more"), (6, b"and another")]);
        let th = dark();
        let t = draw(&app, &th);
        insta::assert_snapshot!(t.backend());
        let buf = t.backend().buffer();
        // Both lines that came while paused are on screen: no news.
        find(buf, "PAUSED · 0 new");
        find(buf, "and another");
        find(buf, "…[cut: line was 300 byt");
        find(buf, "2 lines dropped (holds 6)");
        // The match (case-insensitive) is highlighted.
        let m = find(buf, "API server");
        assert_eq!(buf[m].bg, Color::Yellow);
    }

    #[test]
    fn paused_pane_counts_as_new_only_the_lines_below_the_screen() {
        let mut app = two_nodes(10_000);
        press(&mut app, KeyCode::Char('k'));
        let lines: Vec<(i64, Vec<u8>)> = (0..40)
            .map(|i| (10 + i, format!("later {i:02}").into_bytes()))
            .collect();
        let refs: Vec<(i64, &[u8])> = lines.iter().map(|(s, t)| (*s, &t[..])).collect();
        batch(&mut app, 0, 0, &refs);
        let t = draw(&app, &dark());
        let buf = t.backend().buffer();
        let on_screen = (0..40)
            .filter(|i| shows(buf, &format!("later {i:02}")))
            .count();
        assert!(on_screen < 40, "the test needs lines below the screen");
        find(buf, &format!("PAUSED · {} new", 40 - on_screen));
    }

    #[test]
    fn log_pane_draws_at_any_size_without_panicking() {
        let mut app = two_nodes(10_000);
        for z in [false, true] {
            for (w, h) in [(1, 1), (10, 3), (20, 6), (40, 10), (80, 12), (200, 60)] {
                app.update(Msg::Resize {
                    width: w,
                    height: h,
                });
                // Keys that use the pane's size, then a frame.
                press(&mut app, KeyCode::Char('k'));
                press(&mut app, KeyCode::PageUp);
                press(&mut app, KeyCode::Char('G'));
                draw(&app, &dark());
            }
            press(&mut app, KeyCode::Char('z'));
            assert_eq!(app.logs.pane.as_ref().unwrap().fullscreen, !z);
        }
    }

    #[test]
    fn help_lists_the_log_pane_keys_80x24() {
        let mut app = two_nodes(10_000);
        press(&mut app, KeyCode::Char('?'));
        let t = draw(&app, &dark());
        let buf = t.backend().buffer();
        for k in [
            "G / 0 / end",
            "/  n  N",
            "ctrl-s",
            "z / F",
            "w  t",
            "esc / q",
            "u ",
        ] {
            find(buf, k);
        }
        // Everything fits in 80x24: the last global key is on screen.
        find(buf, "quit (also :q)");
    }
}
