//! `update()` driven by Msgs, checking what the operator would see change.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::*;

fn setup() -> Setup {
    Setup {
        read_only: false,
        inventory: Vec::new(),
        kube: Ok(()),
        notice: None,
        theme: "dark".into(),
    }
}

fn node(name: &str, ip: &str, role: Role) -> NodeInfo {
    NodeInfo {
        name: name.into(),
        role,
        address: Some(ip.into()),
        ready: Some(true),
    }
}

fn three() -> Vec<NodeInfo> {
    vec![
        node("node1", "10.0.0.11", Role::Server),
        node("node2", "10.0.0.12", Role::Server),
        node("node3", "10.0.0.13", Role::Worker),
    ]
}

fn key(c: char) -> Msg {
    Msg::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE))
}
fn code(c: KeyCode) -> Msg {
    Msg::Key(KeyEvent::new(c, KeyModifiers::NONE))
}
fn typed(app: &mut App, s: &str) -> Vec<Effect> {
    s.chars().flat_map(|c| app.update(key(c))).collect()
}
fn selected(app: &App) -> String {
    app.selected_row().unwrap().info.name.clone()
}

fn listed() -> App {
    let mut app = App::new(setup());
    app.update(Msg::ApiContext {
        context: "local".into(),
        server: "https://10.0.0.1:6443/".into(),
    });
    app.update(Msg::NodesListed(three()));
    app
}

#[test]
fn start_watches_the_api_and_probes_inventory_nodes() {
    let mut s = setup();
    s.inventory = vec![node("a", "10.0.0.1", Role::Server)];
    let mut app = App::new(s);
    let fx = app.start(true);
    assert_eq!(fx[0], Effect::WatchNodes);
    assert_eq!(
        fx[1],
        Effect::Track(vec![Target {
            name: "a".into(),
            address: Some("10.0.0.1".into())
        }])
    );
    assert_eq!(app.rows[0].ssh, SshState::Pending);
}

#[test]
fn api_list_fills_the_table_in_natural_order_and_is_cached_and_probed() {
    let mut app = App::new(setup());
    let fx = app.update(Msg::ApiContext {
        context: "local".into(),
        server: "https://x:6443".into(),
    });
    assert_eq!(
        fx,
        vec![Effect::LoadCache {
            context: "local".into()
        }]
    );
    let mut list = three();
    list.push(node("node10", "10.0.0.20", Role::Worker));
    list.reverse();
    let fx = app.update(Msg::NodesListed(list));
    let names: Vec<_> = app.rows.iter().map(|r| r.info.name.as_str()).collect();
    assert_eq!(names, ["node1", "node2", "node3", "node10"]);
    assert_eq!(app.api, ApiState::Up);
    assert!(
        matches!(&fx[0], Effect::SaveCache { context, nodes } if context == "local" && nodes.len() == 4)
    );
    assert!(matches!(&fx[1], Effect::Track(t) if t.len() == 4));
    // The same list again changes nothing the SSH side has to know.
    let fx = app.update(Msg::NodesListed(
        app.rows.iter().map(|r| r.info.clone()).collect(),
    ));
    assert!(!fx.iter().any(|e| matches!(e, Effect::Track(_))));
}

#[test]
fn node_added_or_not_ready_shows_without_refresh() {
    let mut app = listed();
    let mut n3 = node("node3", "10.0.0.13", Role::Worker);
    n3.ready = Some(false);
    app.update(Msg::NodeApplied(n3));
    assert_eq!(app.row("node3").unwrap().info.ready, Some(false));
    let fx = app.update(Msg::NodeApplied(node("node4", "10.0.0.14", Role::Worker)));
    assert_eq!(app.rows.len(), 4);
    assert!(
        fx.iter()
            .any(|e| matches!(e, Effect::Track(t) if t.len() == 4))
    );
    app.update(Msg::NodeDeleted("node4".into()));
    assert_eq!(app.rows.len(), 3);
}

#[test]
fn ssh_state_lands_on_its_row_and_counts_in_the_header() {
    let mut app = listed();
    app.update(Msg::Ssh {
        node: "node1".into(),
        state: SshState::Up { latency_ms: 3 },
    });
    app.update(Msg::Ssh {
        node: "node2".into(),
        state: SshState::Down(SshProblem {
            kind: SshProblemKind::Refused,
            detail: "10.0.0.12:22: connection refused".into(),
        }),
    });
    assert_eq!(app.nodes_up(), (1, 3));
    assert!(matches!(app.row("node2").unwrap().ssh, SshState::Down(_)));
    // A probe result for a node that has left is ignored.
    app.update(Msg::Ssh {
        node: "gone".into(),
        state: SshState::Up { latency_ms: 1 },
    });
    assert_eq!(app.rows.len(), 3);
    // An address change means the old SSH state no longer applies.
    app.update(Msg::NodeApplied(node("node1", "10.0.0.99", Role::Server)));
    assert_eq!(app.row("node1").unwrap().ssh, SshState::Pending);
}

#[test]
fn api_down_keeps_inventory_and_cached_nodes() {
    let mut s = setup();
    s.inventory = vec![node("node1", "10.0.0.11", Role::Server)];
    let mut app = App::new(s);
    app.update(Msg::ApiState(ApiState::Down(ApiProblem {
        kind: ApiProblemKind::Refused,
        detail: "connection refused".into(),
    })));
    app.update(Msg::CacheLoaded(three()));
    assert_eq!(app.rows.len(), 3);
    assert_eq!(app.row("node1").unwrap().source, Source::Inventory);
    assert_eq!(app.row("node2").unwrap().source, Source::Cache);
    // The cache was Ready when saved; that is no news about now.
    assert_eq!(app.row("node2").unwrap().info.ready, None);
    // The API's own list replaces cached rows; inventory rows stay.
    app.update(Msg::NodesListed(vec![node(
        "node3",
        "10.0.0.13",
        Role::Worker,
    )]));
    let names: Vec<_> = app.rows.iter().map(|r| r.info.name.as_str()).collect();
    assert_eq!(names, ["node1", "node3"]);
    assert_eq!(app.row("node3").unwrap().source, Source::Api);
    // A late cache never overrides the API.
    app.update(Msg::CacheLoaded(three()));
    assert_eq!(app.rows.len(), 2);
}

#[test]
fn movement_keys_like_k9s() {
    let mut app = listed();
    app.update(Msg::Resize {
        width: 80,
        height: 24,
    });
    assert_eq!(selected(&app), "node1");
    app.update(key('j'));
    assert_eq!(selected(&app), "node2");
    app.update(code(KeyCode::Down));
    assert_eq!(selected(&app), "node3");
    app.update(key('j'));
    assert_eq!(selected(&app), "node3", "stays on the last row");
    app.update(key('g'));
    assert_eq!(selected(&app), "node1");
    app.update(key('G'));
    assert_eq!(selected(&app), "node3");
    app.update(code(KeyCode::Up));
    assert_eq!(selected(&app), "node2");
    app.update(code(KeyCode::PageUp));
    assert_eq!(selected(&app), "node1");
}

#[test]
fn paging_scrolls_a_long_table_keeping_selection_in_view() {
    let mut app = App::new(setup());
    app.update(Msg::Resize {
        width: 80,
        height: 24,
    });
    let many: Vec<_> = (1..=100)
        .map(|i| node(&format!("n{i}"), "10.0.0.1", Role::Worker))
        .collect();
    app.update(Msg::NodesListed(many));
    let page = crate::ui::table_body_rows(80, 24);
    app.update(code(KeyCode::PageDown));
    assert_eq!(selected(&app), format!("n{}", page + 1));
    assert!(app.table.offset > 0 && app.table.offset <= page);
    app.update(key('G'));
    assert_eq!(selected(&app), "n100");
    assert_eq!(app.table.offset, 100 - page);
    app.update(key('g'));
    assert_eq!(app.table.offset, 0);
}

#[test]
fn selection_follows_the_node_when_rows_move() {
    let mut app = listed();
    app.update(key('j'));
    assert_eq!(selected(&app), "node2");
    app.update(Msg::NodeApplied(node("node0", "10.0.0.10", Role::Worker)));
    assert_eq!(selected(&app), "node2");
}

#[test]
fn filter_narrows_live_and_esc_clears() {
    let mut app = listed();
    app.update(key('/'));
    assert_eq!(app.mode, Mode::Filter);
    typed(&mut app, "work");
    assert_eq!(app.visible().len(), 1);
    assert_eq!(selected(&app), "node3");
    app.update(code(KeyCode::Enter));
    assert_eq!(app.mode, Mode::Normal);
    assert_eq!(app.table.filter, "work");
    // j/k now move inside the filtered rows only.
    app.update(key('k'));
    assert_eq!(selected(&app), "node3");
    app.update(code(KeyCode::Esc));
    assert_eq!(app.table.filter, "");
    assert_eq!(app.visible().len(), 3);
    // By IP, and esc while typing drops the filter.
    app.update(key('/'));
    typed(&mut app, "0.12");
    assert_eq!(selected(&app), "node2");
    app.update(code(KeyCode::Esc));
    assert_eq!((app.mode, app.visible().len()), (Mode::Normal, 3));
}

#[test]
fn enter_drills_in_and_esc_goes_back() {
    let mut app = listed();
    app.update(key('j'));
    app.update(code(KeyCode::Enter));
    assert_eq!(app.view(), &View::NodeDetail("node2".into()));
    app.update(key('j'));
    assert_eq!(app.view(), &View::NodeDetail("node3".into()));
    app.update(code(KeyCode::Esc));
    assert_eq!(app.view(), &View::Nodes);
    assert_eq!(selected(&app), "node3");
    // esc on the bottom page does not leave the console.
    app.update(code(KeyCode::Esc));
    assert!(!app.quit);
}

#[test]
fn command_mode_completes_and_switches_views() {
    let mut app = listed();
    app.update(key(':'));
    assert_eq!(app.mode, Mode::Command);
    typed(&mut app, "ce");
    assert_eq!(app.command_completions(), ["certs"]);
    app.update(code(KeyCode::Tab));
    assert_eq!(app.input, "certs");
    app.update(code(KeyCode::Enter));
    assert_eq!(app.view(), &View::Certs);
    // Tab cycles through several matches of what was typed.
    app.update(key(':'));
    typed(&mut app, "n");
    app.update(code(KeyCode::Tab));
    assert_eq!(app.input, "nodes");
    app.update(key(':'));
    app.update(code(KeyCode::Esc));
    app.update(key(':'));
    // Nothing typed: tab walks through every command.
    app.update(code(KeyCode::Tab));
    assert_eq!(app.input, "nodes");
    app.update(code(KeyCode::Tab));
    assert_eq!(app.input, "certs");
    assert_eq!(app.command_completions().len(), command::COMMANDS.len());
    app.update(code(KeyCode::Esc));
    assert_eq!(app.mode, Mode::Normal);
    // :nodes returns to the table; an unknown command says so.
    app.update(key(':'));
    typed(&mut app, "nodes");
    app.update(code(KeyCode::Enter));
    assert_eq!(app.view(), &View::Nodes);
    app.update(key(':'));
    typed(&mut app, "bogus");
    app.update(code(KeyCode::Enter));
    assert!(app.flash.as_ref().unwrap().text.contains(":bogus"));
}

#[test]
fn quit_by_command_or_ctrl_c_from_any_mode() {
    let mut app = listed();
    app.update(key(':'));
    let fx = typed(&mut app, "q");
    assert!(fx.is_empty());
    let fx = app.update(code(KeyCode::Enter));
    assert_eq!(fx, vec![Effect::Quit]);
    assert!(app.quit);

    let mut app = listed();
    app.update(key('/'));
    let fx = app.update(Msg::Key(KeyEvent::new(
        KeyCode::Char('c'),
        KeyModifiers::CONTROL,
    )));
    assert_eq!(fx, vec![Effect::Quit]);
}

#[test]
fn help_overlay_opens_and_swallows_keys_until_closed() {
    let mut app = listed();
    app.update(key('?'));
    assert!(app.help);
    app.update(key('j'));
    assert_eq!(
        selected(&app),
        "node1",
        "keys do not reach the table under help"
    );
    app.update(code(KeyCode::Esc));
    assert!(!app.help);
    let (pane, _) = keys::for_view(&View::Nodes, false);
    assert!(pane.iter().any(|k| k.key == "/"));
    let (pane, _) = keys::for_view(&View::NodeDetail("x".into()), false);
    assert!(
        !pane.iter().any(|k| k.key == "/"),
        "detail pane has no filter"
    );
}

#[test]
fn nothing_dirty_for_keys_that_do_nothing() {
    let mut app = listed();
    app.dirty = false;
    app.update(key('x'));
    assert!(!app.dirty);
    app.update(key('j'));
    assert!(app.dirty);
}

#[test]
fn a_message_that_changes_nothing_keeps_an_earlier_key_due_for_drawing() {
    let mut app = listed();
    app.dirty = false;
    app.update(key(':'));
    // A probe for a node the table no longer has, before the next frame.
    app.update(Msg::Ssh {
        node: "gone".into(),
        state: SshState::Up { latency_ms: 3 },
    });
    assert!(app.dirty, "the command line must still be drawn");
    app.dirty = false;
    app.update(Msg::Ssh {
        node: "gone".into(),
        state: SshState::Up { latency_ms: 3 },
    });
    assert!(!app.dirty);
}

mod sweep {
    use super::*;
    use crate::creds::Level;
    use crate::creds::level::Finding;
    use crate::creds::report::{Area, AreaReport, NodeReport, TokenCopy};
    use crate::status::{ClusterSettings, NodeOutcome, ReadFailure, Unreadable};
    use std::collections::BTreeMap;
    use std::sync::Arc;

    fn report(node: &str, levels: [Level; 5], token_hash: &str) -> NodeReport {
        let mut areas = BTreeMap::new();
        for (a, l) in Area::ALL.into_iter().zip(levels) {
            areas.insert(
                a,
                AreaReport {
                    level: l,
                    findings: vec![Finding::new(l, format!("{node} {a:?}"), "do this")],
                },
            );
        }
        NodeReport {
            node: node.into(),
            areas,
            certs: Vec::new(),
            runtime_keys: Vec::new(),
            persisted_keys: Vec::new(),
            login_fingerprint: None,
            tokens: vec![TokenCopy {
                source: "/var/lib/rancher/rke2/server/token".into(),
                short_hash: token_hash.into(),
                format: "secure".into(),
            }],
        }
    }

    fn swept(app: &mut App, r: NodeReport) {
        app.update(Msg::NodeSwept {
            node: r.node.clone(),
            outcome: Shared::new(NodeOutcome::Report(Arc::new(r))),
            network: Shared::new(Default::default()),
        });
    }

    const OK: [Level; 5] = [Level::Ok; 5];

    #[test]
    fn listing_nodes_sweeps_them_and_cells_load_until_reports_arrive() {
        let mut app = App::new(setup());
        let fx = app.update(Msg::NodesListed(three()));
        let sweep = fx.iter().find_map(|e| match e {
            Effect::Sweep(t) => Some(t.len()),
            _ => None,
        });
        assert_eq!(sweep, Some(3));
        assert_eq!(app.rows[0].creds.certs, CredCell::Loading);
        swept(
            &mut app,
            report(
                "node1",
                [
                    Level::Expired,
                    Level::Ok,
                    Level::Critical,
                    Level::Warn,
                    Level::RenewsAtRestart,
                ],
                "aaa",
            ),
        );
        let c = &app.rows[0].creds;
        assert_eq!(c.certs, CredCell::Critical("expired".into()));
        assert_eq!(c.keys, CredCell::Ok("ok".into()));
        assert_eq!(c.password, CredCell::Critical("critical".into()));
        assert_eq!(c.token, CredCell::Warn("warn".into()));
        assert_eq!(c.proxy, CredCell::Ok("renews at restart".into()));
        // The others are still being read: never a guessed value.
        assert_eq!(app.rows[1].creds.certs, CredCell::Loading);
        // A node added later is swept by itself.
        let fx = app.update(Msg::NodeApplied(node("node4", "10.0.0.14", Role::Worker)));
        assert!(fx.contains(&Effect::Sweep(vec![Target {
            name: "node4".into(),
            address: Some("10.0.0.14".into())
        }])));
    }

    #[test]
    fn an_unreadable_node_says_why_and_shows_unknown_cells() {
        let mut app = listed();
        app.update(Msg::NodeSwept {
            node: "node2".into(),
            outcome: Shared::new(NodeOutcome::Failed(Unreadable {
                reason: ReadFailure::Sudo,
                detail: "sudo: a password is required".into(),
            })),
            network: Shared::new(Default::default()),
        });
        assert_eq!(app.rows[1].creds.token, CredCell::Unknown);
        assert!(
            matches!(&app.sweeps["node2"], NodeSweep::Failed(u) if u.reason == ReadFailure::Sudo)
        );
    }

    /// The console judges what `status` judges: the VIP and the CIDRs that
    /// the nodes' files name, and the token copy Rancher keeps.
    #[test]
    fn the_nodes_network_facts_and_rancher_s_token_copy_reach_the_judging() {
        let mut app = listed();
        app.update(Msg::SettingsRead(Shared::new(ClusterSettings {
            http_proxy: Some(Ok(crate::creds::proxy::HttpProxySetting::parse(
                r#"{"httpProxy":"http://proxy:3128","noProxy":"10.0.0.0/24"}"#,
            )
            .unwrap())),
            cluster_token: Some(TokenCopy {
                source: "secret fleet-local/local-rke-state serverToken".into(),
                short_hash: "aaa".into(),
                format: "secure".into(),
            }),
            ..Default::default()
        })));
        app.update(Msg::NodeSwept {
            node: "node1".into(),
            outcome: Shared::new(NodeOutcome::Report(Arc::new(report("node1", OK, "aaa")))),
            network: Shared::new(crate::creds::proxy::ClusterFacts {
                vip: Some("192.168.122.100".into()),
                pod_cidr: Some("172.30.0.0/16".into()),
                ..Default::default()
            }),
        });
        swept(&mut app, report("node2", OK, "bbb"));
        let said: Vec<String> = app
            .cluster
            .as_ref()
            .unwrap()
            .findings
            .iter()
            .map(|f| f.message.clone())
            .collect();
        assert!(
            said.iter()
                .any(|m| m.contains("VIP 192.168.122.100 is not covered")),
            "{said:?}"
        );
        assert!(
            said.iter().any(|m| m.contains("pod CIDR 172.30.0.0/16")),
            "{said:?}"
        );
        // Two nodes disagree; Rancher's copy decides which one is odd
        // (without it, a tie).
        let NodeSweep::Done(r) = &app.sweeps["node2"] else {
            panic!("node2 not judged")
        };
        let token: Vec<String> = r
            .areas
            .get(&Area::Token)
            .map(|a| a.findings.iter().map(|f| f.message.clone()).collect())
            .unwrap_or_default();
        assert!(
            token.iter().any(|m| m.contains("local-rke-state")),
            "{token:?}"
        );
        assert!(
            !token.iter().any(|m| m.contains("no majority")),
            "{token:?}"
        );
    }

    #[test]
    fn token_copies_are_compared_again_whenever_a_report_arrives() {
        let mut app = listed();
        swept(&mut app, report("node1", OK, "aaa"));
        swept(&mut app, report("node3", OK, "bbb"));
        // Two nodes, two tokens: no majority yet to tell which one is odd...
        swept(&mut app, report("node2", OK, "aaa"));
        // ...the third decides: node3 disagrees with the two others.
        assert_eq!(
            app.rows[2].creds.token,
            CredCell::Critical("critical".into())
        );
        assert_eq!(app.rows[0].creds.token, CredCell::Ok("ok".into()));
        // Re-judging does not pile up the same finding.
        swept(&mut app, report("node1", OK, "aaa"));
        let NodeSweep::Done(r) = &app.sweeps["node3"] else {
            panic!()
        };
        let n = r.areas[&Area::Token]
            .findings
            .iter()
            .filter(|f| f.level == Level::Critical)
            .count();
        assert_eq!(n, 1);
    }

    #[test]
    fn r_sweeps_every_node_again_and_keeps_what_is_known_on_screen() {
        let mut app = listed();
        swept(&mut app, report("node1", OK, "aaa"));
        let fx = app.update(key('r'));
        assert!(matches!(&fx[..], [Effect::Sweep(t)] if t.len() == 3));
        assert_eq!(app.rows[0].creds.certs, CredCell::Ok("ok".into()));
        let fx = app.update(Msg::RefreshDue);
        assert!(matches!(&fx[..], [Effect::Sweep(t)] if t.len() == 3));
    }

    #[test]
    fn detail_tabs_switch_with_tab_and_number_keys() {
        let mut app = listed();
        app.update(code(KeyCode::Enter));
        assert_eq!(app.detail.tab, Area::Certificates);
        app.update(code(KeyCode::Tab));
        assert_eq!(app.detail.tab, Area::Keys);
        app.update(code(KeyCode::BackTab));
        app.update(code(KeyCode::BackTab));
        assert_eq!(app.detail.tab, Area::Proxy);
        app.update(key('4'));
        assert_eq!(app.detail.tab, Area::Token);
    }

    #[test]
    fn the_filter_matches_credential_levels() {
        let mut app = listed();
        swept(
            &mut app,
            report(
                "node2",
                [Level::Ok, Level::Ok, Level::Critical, Level::Ok, Level::Ok],
                "aaa",
            ),
        );
        app.update(key('/'));
        typed(&mut app, "crit");
        let names: Vec<&str> = app
            .visible()
            .iter()
            .map(|&i| app.rows[i].info.name.as_str())
            .collect();
        assert_eq!(names, ["node2"]);
    }

    #[test]
    fn settings_are_judged_with_the_node_ips_and_credentials_masked() {
        let mut app = listed();
        let s = ClusterSettings {
            http_proxy: Some(Ok(crate::creds::proxy::HttpProxySetting::parse(
                r#"{"httpProxy":"http://u:Pa55w0rd@proxy:3128","noProxy":"10.0.0.0/24"}"#,
            )
            .unwrap())),
            ..Default::default()
        };
        app.update(Msg::SettingsRead(Shared::new(s)));
        let c = app.cluster.as_ref().unwrap();
        let shown = c.http_proxy_masked.as_deref().unwrap();
        assert!(!shown.contains("Pa55w0rd"), "{shown}");
        assert!(shown.contains("proxy:3128"));
        assert_eq!(c.level, Level::Ok, "{:?}", c.findings);
    }

    fn order(app: &App) -> Vec<&str> {
        app.visible()
            .iter()
            .map(|&i| app.rows[i].info.name.as_str())
            .collect()
    }

    #[test]
    fn shift_letters_sort_the_table_worst_first_and_again_reverses() {
        let mut app = listed();
        let certs = |l: Level| [l, Level::Ok, Level::Ok, Level::Ok, Level::Ok];
        swept(&mut app, report("node1", certs(Level::Warn), "aaa"));
        swept(&mut app, report("node2", certs(Level::Ok), "aaa"));
        swept(&mut app, report("node3", certs(Level::Expired), "aaa"));
        app.update(key('j'));
        assert_eq!(selected(&app), "node2");

        app.update(key('C'));
        assert_eq!(order(&app), ["node3", "node1", "node2"]);
        assert_eq!(
            app.table.sort.describe().as_deref(),
            Some("by certs, worst first")
        );
        // The selection stays on its node, wherever the node moved.
        assert_eq!(selected(&app), "node2");
        app.update(key('C'));
        assert_eq!(order(&app), ["node2", "node1", "node3"]);
        assert_eq!(
            app.table.sort.describe().as_deref(),
            Some("by certs, best first")
        );

        // Roles: servers first; ties keep the natural name order.
        app.update(key('R'));
        assert_eq!(order(&app), ["node1", "node2", "node3"]);
        app.update(key('R'));
        assert_eq!(order(&app), ["node3", "node2", "node1"]);

        // An unreachable node comes first by SSH, and the filter still applies.
        app.update(Msg::Ssh {
            node: "node2".into(),
            state: SshState::Down(SshProblem {
                kind: SshProblemKind::Timeout,
                detail: "timed out".into(),
            }),
        });
        for n in ["node1", "node3"] {
            app.update(Msg::Ssh {
                node: n.into(),
                state: SshState::Up { latency_ms: 3 },
            });
        }
        app.update(key('S'));
        assert_eq!(order(&app), ["node2", "node1", "node3"]);
        app.update(key('/'));
        typed(&mut app, "node");
        app.update(code(KeyCode::Backspace));
        assert_eq!(order(&app), ["node2", "node1", "node3"]);
        app.update(code(KeyCode::Enter));
        // Name again is the default order, said by nothing in the title.
        app.update(key('N'));
        assert_eq!(order(&app), ["node1", "node2", "node3"]);
        assert_eq!(app.table.sort.describe(), None);
    }

    #[test]
    fn addresses_sort_as_numbers_not_text() {
        let mut app = App::new(setup());
        app.update(Msg::NodesListed(vec![
            node("a", "10.0.0.10", Role::Server),
            node("b", "10.0.0.9", Role::Server),
            node("c", "10.0.0.100", Role::Worker),
        ]));
        app.update(key('I'));
        assert_eq!(order(&app), ["b", "a", "c"]);
    }
}

/// Over a slow SSH link `esc` then `j` arrive together as Alt+j.
#[test]
fn alt_key_is_taken_as_esc_then_the_key() {
    let alt = |c: char| Msg::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::ALT));
    let mut app = listed();
    app.update(Msg::Resize {
        width: 80,
        height: 24,
    });
    app.update(code(KeyCode::Enter));
    assert_eq!(app.view(), &View::NodeDetail("node1".into()));
    app.update(alt('j'));
    assert_eq!(app.view(), &View::Nodes, "esc closed the details");
    assert_eq!(selected(&app), "node2", "then j moved down");
    // In the filter: esc leaves it, then the key acts on the table.
    app.update(key('/'));
    typed(&mut app, "node");
    app.update(alt('G'));
    assert_eq!(app.mode, Mode::Normal);
    assert_eq!(selected(&app), "node3");
    // Alt+esc stays one esc (nothing to split).
    app.update(Msg::Key(KeyEvent::new(KeyCode::Esc, KeyModifiers::ALT)));
    assert_eq!(app.view(), &View::Nodes);
}
