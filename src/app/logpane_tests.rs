//! The log pane driven by Msgs (keys and batches), checking what the
//! operator would see and which streams the runner is asked to start or end.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::*;
use crate::app::{Msg, NodeInfo, Setup};
use crate::logs::Timestamp;

fn node(name: &str, ip: &str, role: Role) -> NodeInfo {
    NodeInfo {
        name: name.into(),
        role,
        address: Some(ip.into()),
        ready: Some(true),
    }
}

fn app() -> App {
    let mut app = App::new(Setup {
        read_only: false,
        inventory: Vec::new(),
        kube: Ok(()),
        notice: None,
        theme: "dark".into(),
    });
    app.update(Msg::Resize {
        width: 80,
        height: 24,
    });
    app.update(Msg::NodesListed(vec![
        node("node1", "10.0.0.11", Role::Server),
        node("node2", "10.0.0.12", Role::Server),
        node("node3", "10.0.0.13", Role::Worker),
    ]));
    app
}

fn key(c: char) -> Msg {
    Msg::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE))
}
fn code(c: KeyCode) -> Msg {
    Msg::Key(KeyEvent::new(c, KeyModifiers::NONE))
}
fn ctrl(c: char) -> Msg {
    Msg::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL))
}
fn typed(app: &mut App, s: &str) -> Vec<Effect> {
    s.chars().flat_map(|c| app.update(key(c))).collect()
}
fn command(app: &mut App, line: &str) -> Vec<Effect> {
    let mut fx = typed(app, &format!(":{line}"));
    fx.extend(app.update(code(KeyCode::Enter)));
    fx
}

/// The (node, unit) of each stream an effect list opens, and the pane id.
fn opened(fx: &[Effect]) -> (u64, Vec<(String, Option<String>)>) {
    fx.iter()
        .find_map(|e| match e {
            Effect::OpenLogs { pane, sources } => Some((
                *pane,
                sources
                    .iter()
                    .map(|s| (s.target.name.clone(), s.unit.clone()))
                    .collect(),
            )),
            _ => None,
        })
        .expect("an OpenLogs effect")
}

fn ns(v: &[(&str, Option<&str>)]) -> Vec<(String, Option<String>)> {
    v.iter()
        .map(|(n, u)| (n.to_string(), u.map(String::from)))
        .collect()
}

fn pane(app: &App) -> &LogPane {
    app.logs.pane.as_ref().expect("a log pane")
}

fn feed(app: &mut App, node: NodeId, texts: &[&str]) {
    let id = pane(app).id;
    let lines = texts
        .iter()
        .map(|t| LogLine::new(node, Some(Timestamp::from_unix(0, 0)), t.as_bytes(), 1024))
        .collect();
    app.update(Msg::LogLines {
        pane: id,
        node,
        lines,
        dropped: 0,
    });
}

fn feed_n(app: &mut App, from: usize, n: usize) {
    let texts: Vec<String> = (from..from + n).map(|i| format!("line {i}")).collect();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    feed(app, 0, &refs);
}

/// The texts the pane would show now, top to bottom.
fn shown(app: &App) -> Vec<String> {
    let p = pane(app);
    let (h, w) = crate::ui::panes::logs::text_size(app.size, p);
    let mut v = p.view.borrow_mut();
    v.window(&p.buf, h, w)
        .rows
        .iter()
        .map(|r| r.text().to_string())
        .collect()
}

#[test]
fn l_opens_the_selected_node_with_its_roles_unit_and_esc_closes_it() {
    let mut app = app();
    let fx = app.update(key('l'));
    let (id, s) = opened(&fx);
    assert_eq!(s, ns(&[("node1", Some("rke2-server"))]));
    assert_eq!(app.view(), &View::Logs);
    assert_eq!(
        app.update(code(KeyCode::Esc)),
        vec![Effect::CloseLogs { pane: id }]
    );
    assert_eq!(app.view(), &View::Nodes);
    assert!(app.logs.pane.is_none());
    // A worker's log is rke2-agent's; q closes too.
    typed(&mut app, "jj");
    let (id3, s) = opened(&app.update(key('l')));
    assert_ne!(id3, id);
    assert_eq!(s, ns(&[("node3", Some("rke2-agent"))]));
    assert_eq!(app.update(key('q')), vec![Effect::CloseLogs { pane: id3 }]);
}

#[test]
fn l_in_a_nodes_detail_opens_that_nodes_log_and_esc_goes_back_to_it() {
    let mut app = app();
    typed(&mut app, " "); // node1 marked, node2 selected
    app.update(code(KeyCode::Enter));
    app.update(key('j')); // the detail walks on to node3
    assert_eq!(app.view(), &View::NodeDetail("node3".into()));
    let (id, s) = opened(&app.update(key('l')));
    // The node on screen, not the marked one.
    assert_eq!(s, ns(&[("node3", Some("rke2-agent"))]));
    assert_eq!(
        app.update(code(KeyCode::Esc)),
        vec![Effect::CloseLogs { pane: id }]
    );
    assert_eq!(app.view(), &View::NodeDetail("node3".into()));
}

#[test]
fn marked_nodes_open_together_with_their_own_units() {
    let mut app = app();
    typed(&mut app, " j "); // marks node1 and node3 (space moves down)
    assert_eq!(
        app.table
            .marked
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
        ["node1", "node3"]
    );
    let (_, s) = opened(&app.update(key('l')));
    assert_eq!(
        s,
        ns(&[
            ("node1", Some("rke2-server")),
            ("node3", Some("rke2-agent"))
        ])
    );
    // Lines of both are merged and saved with their node's name.
    feed(&mut app, 0, &["from one"]);
    feed(&mut app, 1, &["from three"]);
    assert_eq!(shown(&app), ["from one", "from three"]);
    let fx = app.update(ctrl('s'));
    let Some(Effect::SaveLogs { file, text }) = fx.first() else {
        panic!("{fx:?}")
    };
    assert!(
        file.starts_with("2-nodes-rke2-server-") && file.ends_with(".log"),
        "{file}"
    );
    assert_eq!(
        text,
        "node1: 1970-01-01T00:00:00.000000Z from one\nnode3: 1970-01-01T00:00:00.000000Z from three\n"
    );
    // esc in the table clears the marks.
    app.update(code(KeyCode::Esc));
    app.update(code(KeyCode::Esc));
    assert!(app.table.marked.is_empty());
}

#[test]
fn logs_command_takes_nodes_and_a_unit_and_completes_node_names() {
    let mut app = app();
    let (_, s) = opened(&command(&mut app, "logs node2 node3 rancherd"));
    assert_eq!(
        s,
        ns(&[("node2", Some("rancherd")), ("node3", Some("rancherd"))])
    );
    // An unknown node is refused with the reason; the open pane stays.
    let id = pane(&app).id;
    let fx = command(&mut app, "logs nodeX");
    assert!(fx.is_empty());
    assert!(app.flash.as_ref().unwrap().text.contains("no node nodeX"));
    assert_eq!(pane(&app).id, id);
    // A unit alone: the selected node's.
    let (_, s) = opened(&command(&mut app, "logs rancher-system-agent"));
    assert_eq!(s, ns(&[("node1", Some("rancher-system-agent"))]));
    let id = pane(&app).id;
    // Without a node: like l.
    let fx = command(&mut app, "logs");
    assert_eq!(opened(&fx).1, ns(&[("node1", Some("rke2-server"))]));
    assert!(fx.contains(&Effect::CloseLogs { pane: id }));
    // Tab completes node names after :logs, then cycles.
    app.update(code(KeyCode::Esc));
    typed(&mut app, ":logs no");
    app.update(code(KeyCode::Tab));
    assert_eq!(app.input, "logs node1");
    app.update(code(KeyCode::Tab));
    assert_eq!(app.input, "logs node2");
    typed(&mut app, " ranc");
    app.update(code(KeyCode::Tab));
    assert_eq!(app.input, "logs node2 rancherd");
}

#[test]
fn u_cycles_the_unit_by_reopening_the_streams() {
    let mut app = app();
    let (first, _) = opened(&app.update(key('l')));
    app.update(key('w'));
    let fx = app.update(key('u'));
    assert!(pane(&app).view.borrow().wrap(), "toggles carry over");
    assert!(fx.contains(&Effect::CloseLogs { pane: first }));
    let (second, s) = opened(&fx);
    assert_eq!(s, ns(&[("node1", Some("rancherd"))]));
    let (_, s) = opened(&app.update(key('u')));
    assert_eq!(s, ns(&[("node1", Some("rancher-system-agent"))]));
    let (_, s) = opened(&app.update(key('u')));
    assert_eq!(s, ns(&[("node1", Some("rke2-server"))]));
    // A batch of a replaced stream is not shown (and costs no frame).
    app.dirty = false;
    app.update(Msg::LogLines {
        pane: second,
        node: 0,
        lines: vec![LogLine::new(0, None, b"old unit", 100)],
        dropped: 0,
    });
    assert!(pane(&app).buf.is_empty());
    assert!(!app.dirty);
}

#[test]
fn scrolling_up_pauses_and_counts_new_lines_and_g_resumes() {
    let mut app = app();
    app.update(key('l'));
    feed_n(&mut app, 0, 100);
    let tail = shown(&app);
    assert_eq!(tail.last().unwrap(), "line 99");
    app.update(key('k'));
    app.update(code(KeyCode::Up));
    feed_n(&mut app, 100, 5);
    let s = pane(&app).view.borrow().status(&pane(&app).buf);
    assert_eq!((s.following, s.new_lines), (false, 5));
    let paused = shown(&app);
    assert_eq!(paused.last().unwrap(), "line 97", "{paused:?}");
    app.update(code(KeyCode::PageUp));
    assert!(shown(&app)[0] < paused[0]);
    app.update(key('G'));
    assert_eq!(shown(&app).last().unwrap(), "line 104");
    let s = pane(&app).view.borrow().status(&pane(&app).buf);
    assert_eq!((s.following, s.new_lines), (true, 0));
    // 0 resumes too.
    app.update(key('k'));
    app.update(key('0'));
    assert!(pane(&app).view.borrow().is_following());
}

#[test]
fn search_highlights_n_and_shift_n_jump_and_f_filters() {
    let mut app = app();
    app.update(key('l'));
    let texts: Vec<String> = (0..60)
        .map(|i| {
            if i % 20 == 3 {
                format!("{i} error here")
            } else {
                format!("{i} fine")
            }
        })
        .collect();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    feed(&mut app, 0, &refs);
    // f before a search says what it needs.
    app.update(key('f'));
    assert!(app.flash.as_ref().unwrap().error);
    typed(&mut app, "/error");
    assert_eq!(pane(&app).search_input.as_deref(), Some("error"));
    app.update(code(KeyCode::Enter));
    assert_eq!(
        pane(&app).view.borrow().status(&pane(&app).buf).matches,
        Some(3)
    );
    // From the tail, N goes to the newest match above, n to the next one.
    app.update(key('N'));
    assert_eq!(pane(&app).view.borrow().current_match(), Some(43));
    app.update(key('N'));
    assert_eq!(pane(&app).view.borrow().current_match(), Some(23));
    assert!(shown(&app).iter().any(|l| l == "23 error here"));
    app.update(key('n'));
    assert_eq!(pane(&app).view.borrow().current_match(), Some(43));
    app.update(key('n'));
    assert_eq!(pane(&app).view.borrow().current_match(), Some(3));
    assert_eq!(app.flash.as_ref().unwrap().text, "search wrapped around");
    // f: only matching lines; again: all.
    app.update(key('f'));
    app.update(key('G'));
    assert_eq!(
        shown(&app),
        ["3 error here", "23 error here", "43 error here"]
    );
    app.update(key('f'));
    assert!(shown(&app).iter().any(|l| l.ends_with("fine")));
    assert_eq!(
        shown(&app).len(),
        pane(&app)
            .view
            .borrow()
            .status(&pane(&app).buf)
            .lines
            .min(11)
    );
    // esc drops the search first, then closes.
    assert!(app.update(code(KeyCode::Esc)).is_empty());
    assert!(pane(&app).view.borrow().search().is_none());
    assert!(matches!(
        app.update(code(KeyCode::Esc))[..],
        [Effect::CloseLogs { .. }]
    ));
}

#[test]
fn toggles_wrap_timestamps_sideways_and_fullscreen() {
    let mut app = app();
    app.update(key('l'));
    let long = "x".repeat(200);
    feed(&mut app, 0, &[&long]);
    let (_, w) = crate::ui::panes::logs::text_size(app.size, pane(&app));
    assert_eq!(shown(&app).len(), 1);
    app.update(key('t'));
    let (_, w2) = crate::ui::panes::logs::text_size(app.size, pane(&app));
    assert_eq!(w2, w + crate::logs::view::TIMESTAMP_COLUMNS);
    app.update(key('w'));
    assert_eq!(shown(&app).len(), 200usize.div_ceil(w2));
    app.update(key('w'));
    app.update(code(KeyCode::Right));
    assert_eq!(pane(&app).view.borrow().hscroll(), 8);
    app.update(code(KeyCode::Left));
    assert_eq!(pane(&app).view.borrow().hscroll(), 0);
    let (h, _) = crate::ui::panes::logs::text_size(app.size, pane(&app));
    app.update(key('z'));
    let (hf, _) = crate::ui::panes::logs::text_size(app.size, pane(&app));
    assert!(hf > h, "{hf} > {h}");
    // The table's page follows the space it has left.
    app.update(key('z'));
    assert!(crate::ui::panes::logs::table_rows(&app).unwrap() >= 3);
}

#[test]
fn dropped_lines_hints_and_quit() {
    let mut app = app();
    app.update(key('l'));
    let id = pane(&app).id;
    app.update(Msg::LogLines {
        pane: id,
        node: 0,
        lines: vec![LogLine::new(
            0,
            None,
            b"failed to validate token: 502 Bad Gateway getting cacerts",
            1024,
        )],
        dropped: 7,
    });
    let p = pane(&app);
    assert_eq!(p.buf.dropped_upstream(), 7);
    assert_eq!(p.buf.len(), 2, "a gap line, then the line");
    assert!(p.hint.is_some_and(|(n, _)| n == 0));
    // The stream's reports land on its node.
    app.update(Msg::LogStatus {
        pane: id,
        node: 0,
        status: StreamStatus::Streaming {
            unit: "rke2-server".into(),
        },
    });
    assert_eq!(
        pane(&app).nodes[0].status,
        StreamStatus::Streaming {
            unit: "rke2-server".into()
        }
    );
    // Quitting ends the streams before anything else.
    assert_eq!(
        app.update(ctrl('c')),
        vec![Effect::CloseLogs { pane: id }, Effect::Quit]
    );
}

#[test]
fn the_buffer_holds_what_config_says() {
    let mut app = app();
    app.logs.max_lines = 50;
    app.update(key('l'));
    feed_n(&mut app, 0, 120);
    let s = pane(&app).view.borrow().status(&pane(&app).buf);
    assert_eq!((s.lines, s.evicted), (50, 70));
}

#[test]
fn another_view_by_command_closes_the_pane_and_gone_nodes_are_unmarked() {
    let mut app = app();
    let (id, _) = opened(&app.update(key('l')));
    assert_eq!(
        command(&mut app, "certs"),
        vec![Effect::CloseLogs { pane: id }]
    );
    assert!(app.logs.pane.is_none());
    assert_eq!(app.view(), &View::Certs);
    app.update(code(KeyCode::Esc));
    typed(&mut app, "G ");
    assert!(app.table.marked.contains("node3"));
    app.update(Msg::NodeDeleted("node3".into()));
    assert!(app.table.marked.is_empty());
}
