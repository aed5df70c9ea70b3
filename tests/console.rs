//! The console in a real terminal (tmux) against a real lab: nodes appear
//! with role, IP and SSH state; moving, filter, help and command mode work; a
//! node cut off or with sshd stopped turns unreachable with the reason while
//! the others stay usable, and recovers; a hung API shows as a timeout and
//! recovers; with the API unreachable the inventory and the cached list keep
//! the table; quitting restores the terminal and closes the SSH masters, and a
//! killed console's masters go by themselves.
//! Needs root (the lab); run with `scripts/dev test`.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::tmux::Tmux;

const TAG: &str = "console";
use common::{BIN, Lab};

/// A stopped process, continued when dropped (also when the test fails).
struct Frozen(nix::unistd::Pid);

impl Drop for Frozen {
    fn drop(&mut self) {
        let _ = nix::sys::signal::kill(self.0, nix::sys::signal::Signal::SIGCONT);
    }
}

/// The table line of `node` (the one with its IP in it).
fn row<'a>(screen: &'a str, node: &str, ip: &str) -> &'a str {
    screen
        .lines()
        .find(|l| l.contains(node) && l.contains(&format!("{ip} ")))
        .unwrap_or("")
}

/// The SSH column says `ok 12ms` (credential columns say `ok` too, without a time).
fn ssh_ok(screen: &str, node: &str, ip: &str) -> bool {
    row_ssh_ok(row(screen, node, ip))
}

fn row_ssh_ok(r: &str) -> bool {
    r.split(" ok ")
        .skip(1)
        .any(|rest| rest.starts_with(|c: char| c.is_ascii_digit()))
}

struct Nodes(Vec<(String, String, String)>);

fn nodes(lab: &Lab) -> Nodes {
    let rec = lab.record();
    Nodes(
        rec["plan"]["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| {
                let role = match n["role"].as_str().unwrap().to_lowercase().as_str() {
                    "server" => "server",
                    _ => "worker",
                };
                (
                    n["name"].as_str().unwrap().to_string(),
                    n["ip"].as_str().unwrap().to_string(),
                    role.to_string(),
                )
            })
            .collect(),
    )
}

impl Nodes {
    fn all_up(&self, s: &str) -> bool {
        self.0.iter().all(|(n, ip, _)| ssh_ok(s, n, ip))
    }
}

/// No ssh master of ours still uses the lab's ssh_config. harvcred hands ssh
/// its own config (`-F`), which includes the lab's: a master is ours when the
/// file it was given names the lab's ssh_config.
fn ssh_masters(lab: &Lab) -> Vec<String> {
    let cfg = lab.ssh_config().display().to_string();
    let mut v = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        if let Ok(c) = std::fs::read(e.path().join("cmdline")) {
            let args: Vec<String> = c
                .split(|b| *b == 0)
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect();
            let given = args
                .windows(2)
                .find(|w| w[0] == "-F")
                .map(|w| std::fs::read_to_string(&w[1]).unwrap_or_default())
                .unwrap_or_default();
            if args.first().is_some_and(|a| a == "ssh")
                && args.iter().any(|a| a == "-M")
                && given.contains(&cfg)
            {
                v.push(args.join(" "));
            }
        }
    }
    v
}

#[test]
fn console_walkthrough_faults_and_api_outage_on_a_lab() {
    let lab = Lab::up(&["--nodes", "3"]);
    let n = nodes(&lab);
    let home = tempfile::tempdir().unwrap();
    let state = home.path().join("state");
    let config = home.path().join("config");
    let env = [
        ("XDG_STATE_HOME", state.as_path()),
        ("XDG_CONFIG_HOME", config.as_path()),
    ];
    let cmd = format!(
        "{BIN} --lab {}; echo EXIT=$?; stty -a | tr ' ' '\\n' | grep -x -- '-*icanon'; sleep 60",
        lab.dir.display()
    );
    let started = Instant::now();
    let t = Tmux::start(TAG, &cmd, &env);

    // Start: the three nodes with role, IP and SSH state.
    let s = t.wait("three nodes reachable", Duration::from_secs(15), |s| {
        n.all_up(s)
    });
    eprintln!(
        "all three nodes shown reachable after {:?}",
        started.elapsed()
    );
    for (name, ip, role) in &n.0 {
        assert!(row(&s, name, ip).contains(role), "{name} {role}:\n{s}");
    }
    assert!(s.contains("API ok"), "{s}");
    assert!(s.contains("nodes 3/3 up"), "{s}");

    // Move: the detail pane follows the selection.
    t.keys(&["j"]);
    t.wait("node2 selected", Duration::from_secs(15), |s| {
        s.contains("┌ node2 ")
    });
    t.keys(&["G"]);
    t.wait("node3 selected", Duration::from_secs(15), |s| {
        s.contains("┌ node3 ")
    });
    t.keys(&["g", "Enter"]);
    t.wait("node1's details", Duration::from_secs(15), |s| {
        s.contains("┌ node1 ") && s.contains("1 Certificates")
    });
    // esc and j typed quickly over a slow link arrive in one read (the
    // terminal's Alt+j): the details close, then j moves to node2.
    t.bytes(b"\x1bj");
    t.wait(
        "the table with node2 selected",
        Duration::from_secs(15),
        |s| s.contains("nodes (3)") && s.contains("┌ node2 ") && !s.contains("1 Certificates"),
    );
    t.keys(&["g"]);
    t.wait("node1 selected", Duration::from_secs(15), |s| {
        s.contains("┌ node1 ")
    });

    // Filter.
    t.keys(&["/", "n", "o", "d", "e", "3", "Enter"]);
    let s = t.wait("filtered to node3", Duration::from_secs(15), |s| {
        s.contains("nodes (1/3)")
    });
    assert!(row(&s, "node1", &n.0[0].1).is_empty(), "{s}");
    t.keys(&["Escape"]);
    t.wait("filter cleared", Duration::from_secs(15), |s| {
        s.contains("nodes (3)")
    });

    // Help.
    t.keys(&["?"]);
    t.wait("help", Duration::from_secs(15), |s| {
        s.contains("nodes pane") && s.contains("filter by name")
    });
    t.keys(&["Escape"]);
    t.wait("help closed", Duration::from_secs(15), |s| {
        !s.contains("nodes pane")
    });

    // Command mode with completion.
    t.keys(&[":", "c", "e", "Tab"]);
    t.wait("completed :certs", Duration::from_secs(15), |s| {
        s.contains(":certs")
    });
    t.keys(&["Enter"]);
    t.wait("certificates view", Duration::from_secs(15), |s| {
        s.contains("certificates (") && s.contains("RESIDUAL")
    });
    t.keys(&["Escape"]);
    t.wait("back on nodes", Duration::from_secs(15), |s| {
        s.contains("nodes (3)")
    });

    // Cut node2's link: its row turns unreachable with the reason; the others stay up.
    let veth = lab.record()["veths"]["node2"].as_str().unwrap().to_string();
    let ip = |a: &str| {
        assert!(
            Command::new("ip")
                .args(["link", "set", &veth, a])
                .status()
                .unwrap()
                .success()
        )
    };
    ip("down");
    let s = t.wait("node2 unreachable", Duration::from_secs(20), |s| {
        let r = row(s, "node2", &n.0[1].1);
        !row_ssh_ok(r) && (r.contains("timeout") || r.contains("no route"))
    });
    assert!(
        ssh_ok(&s, "node1", &n.0[0].1) && ssh_ok(&s, "node3", &n.0[2].1),
        "{s}"
    );
    assert!(s.contains("nodes 2/3 up"), "{s}");
    ip("up");
    t.wait("node2 back", Duration::from_secs(30), |s| n.all_up(s));

    // Stop sshd on node3 (a timer starts it again): refused, then back. The
    // timer needs a tight accuracy: systemd may otherwise fire it a minute late.
    lab.ssh_ok(
        "node3",
        "sudo systemd-run --quiet --on-active=12 --timer-property=AccuracySec=100ms systemctl start ssh && sudo systemctl stop ssh",
    );
    let s = t.wait("node3 refused", Duration::from_secs(10), |s| {
        row(s, "node3", &n.0[2].1).contains("refused")
    });
    assert!(ssh_ok(&s, "node1", &n.0[0].1), "{s}");
    t.keys(&["G"]);
    t.wait(
        "the reason in node3's details",
        Duration::from_secs(15),
        |s| s.contains("connection refused (is sshd running?)"),
    );
    t.wait("node3 back", Duration::from_secs(30), |s| n.all_up(s));

    // The API server hangs (its process stopped): the header turns to a timeout
    // while SSH stays usable, and comes back when the server does.
    let sup = lab.record()["supervisor_pid"].as_i64().unwrap() as i32;
    let frozen = Frozen(nix::unistd::Pid::from_raw(sup));
    nix::sys::signal::kill(frozen.0, nix::sys::signal::Signal::SIGSTOP).unwrap();
    let s = t.wait("API down", Duration::from_secs(30), |s| {
        s.contains("API down: timeout")
    });
    assert!(n.all_up(&s), "{s}");
    drop(frozen);
    t.wait("API back", Duration::from_secs(30), |s| {
        s.contains("API ok")
    });

    // Quit: exit 0, terminal back in cooked mode and off the alternate screen.
    t.keys(&[":", "q", "Enter"]);
    let s = t.wait("exit", Duration::from_secs(10), |s| s.contains("EXIT="));
    assert!(s.contains("EXIT=0"), "{s}");
    assert!(
        s.lines().any(|l| l.trim() == "icanon"),
        "raw mode left on:\n{s}"
    );
    assert_eq!(t.tmux(&["display", "-p", "#{alternate_on}"]).trim(), "0");
    assert!(
        ssh_masters(&lab).is_empty(),
        "masters left: {:?}",
        ssh_masters(&lab)
    );
    drop(t);

    // API unreachable (a kubeconfig pointing at a closed port) with an inventory:
    // the nodes and their SSH state are still there, and the header says why.
    let kc = std::fs::read_to_string(lab.kubeconfig()).unwrap();
    let bad = home.path().join("kubeconfig-down");
    std::fs::write(&bad, kc.replace(":6443", ":1")).unwrap();
    let inv = home.path().join("inventory.toml");
    let mut text = String::new();
    for (name, ip, role) in &n.0 {
        text += &format!("[[node]]\nname = \"{name}\"\naddress = \"{ip}\"\nrole = \"{role}\"\n");
    }
    std::fs::write(&inv, text).unwrap();
    let fresh = home.path().join("state2");
    let env2 = [
        ("XDG_STATE_HOME", fresh.as_path()),
        ("XDG_CONFIG_HOME", config.as_path()),
    ];
    let run = |inventory: bool, env: &[(&str, &Path)]| {
        let cmd = format!(
            "{BIN} --kubeconfig {} --ssh-config {} {}; sleep 60",
            bad.display(),
            lab.ssh_config().display(),
            if inventory {
                format!("--inventory {}", inv.display())
            } else {
                String::new()
            }
        );
        Tmux::start(TAG, &cmd, env)
    };
    let t = run(true, &env2);
    let s = t.wait("inventory nodes reachable", Duration::from_secs(15), |s| {
        n.all_up(s)
    });
    assert!(s.contains("API down: connection refused"), "{s}");
    assert!(s.contains("nodes from the inventory"), "{s}");
    t.keys(&["C-c"]);
    drop(t);

    // Without an inventory, the list the API gave in the first run is used.
    let t = run(false, &env);
    let s = t.wait("cached nodes reachable", Duration::from_secs(15), |s| {
        n.all_up(s)
    });
    assert!(s.contains("nodes from the cached list"), "{s}");

    // Killed outright, the console cannot close its masters: they go by
    // themselves once idle (ControlPersist 30 s).
    assert_eq!(ssh_masters(&lab).len(), 3);
    let pid = console_pid(&bad).expect("the console is running");
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL).unwrap();
    let start = Instant::now();
    while !ssh_masters(&lab).is_empty() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "masters outlived a killed console: {:?}",
            ssh_masters(&lab)
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    eprintln!("masters gone {:?} after the kill", start.elapsed());
    drop(t);
}

/// The running console that uses `kubeconfig`.
/// The credential columns of the problem scenarios' lab, the detail tabs
/// and the settings view, in a real terminal.
#[test]
fn console_shows_the_credential_levels_of_a_lab() {
    let lab = Lab::up(&common::PROBLEM_SCENARIOS);
    let n = nodes(&lab);
    let home = tempfile::tempdir().unwrap();
    let state = home.path().join("state");
    let config = home.path().join("config");
    let env = [
        ("XDG_STATE_HOME", state.as_path()),
        ("XDG_CONFIG_HOME", config.as_path()),
    ];
    let cmd = format!("{BIN} --lab {}; sleep 30", lab.dir.display());
    let t = Tmux::start(TAG, &cmd, &env);
    // Columns CERT KEYS PASS TOKEN PROXY (100 columns: the narrow table).
    let s = t.wait("levels in the table", Duration::from_secs(20), |s| {
        row(s, "node3", &n.0[2].1).contains("exp")
            && row(s, "node3", &n.0[2].1).contains("crit")
            && row(s, "node1", &n.0[0].1).contains("exp")
            // Every node read (nodes are read in parallel; none may still load).
            && !row(s, "node2", &n.0[1].1).contains('…')
    });
    let cells = |node: usize| -> Vec<String> {
        let r = row(&s, &n.0[node].0, &n.0[node].1);
        let after_ssh: Vec<&str> = r
            .trim_matches(|c| c == '│' || c == ' ')
            .split_whitespace()
            .collect();
        after_ssh[after_ssh.len() - 5..]
            .iter()
            .map(|c| c.to_string())
            .collect()
    };
    // node1: expired kcm cert, clear-text password, proxy drift.
    let c1 = cells(0);
    assert_eq!(c1[0], "exp", "{s}");
    assert_eq!(c1[2], "crit", "{s}");
    assert!(c1[4] == "warn" || c1[4] == "crit", "{s}");
    // node2: a certificate about 10 days from expiry (and the kcm one); token fine.
    let c2 = cells(1);
    assert!(c2[0] == "warn" || c2[0] == "exp", "{s}");
    assert_eq!(c2[2], "ok", "{s}");
    assert_eq!(c2[3], "ok", "{s}");
    // node3: expired certificates and the wrong token.
    let c3 = cells(2);
    assert_eq!(c3[0], "exp", "{s}");
    assert_eq!(c3[3], "crit", "{s}");
    // certs-expiring's own certificates: kcm-cert-expired expires only the
    // controller-manager and scheduler serving certificates, so the table's
    // `exp` above would hold without them. The RKE2 admin client leaf is one
    // kcm-cert-expired never touches.
    t.text(":certs");
    t.keys(&["Enter"]);
    t.wait("certificates view", Duration::from_secs(15), |s| {
        s.contains("certificates (") && s.contains("RESIDUAL")
    });
    t.text("/client-admin");
    t.keys(&["Enter"]);
    let s = t.wait("the admin client leaves", Duration::from_secs(15), |s| {
        s.contains("</client-admin>")
            && (1..=3).all(|i| {
                s.lines()
                    .any(|l| l.contains(&format!("node{i}")) && l.contains("client-admin.crt"))
            })
    });
    let admin = |node: &str| -> &str {
        s.lines()
            .find(|l| l.contains(node) && l.contains("client-admin.crt"))
            .unwrap()
    };
    assert!(admin("node3").contains("expired"), "{s}");
    assert!(
        admin("node2").contains("warn") || admin("node2").contains("critical"),
        "node2's leaf expires in 10 days:\n{s}"
    );
    assert!(
        !admin("node1").contains("expired") && !admin("node1").contains("warn"),
        "{s}"
    );
    t.keys(&["Escape", "Escape"]);
    t.wait("back on nodes", Duration::from_secs(15), |s| {
        s.contains("nodes (3)")
    });

    // node3's token tab says what to do.
    t.keys(&["G", "Enter", "4"]);
    t.wait("node3's token tab", Duration::from_secs(15), |s| {
        s.contains("┌ node3 ") && s.contains("critical") && s.contains("rancherd/config.yaml")
    });
    t.keys(&[
        "Escape", ":", "s", "e", "t", "t", "i", "n", "g", "s", "Enter",
    ]);
    t.wait("settings view", Duration::from_secs(15), |s| {
        s.contains(" settings ") && s.contains("auto-rotate-rke2-certs")
    });
    t.keys(&["C-c"]);
}

fn console_pid(kubeconfig: &Path) -> Option<nix::unistd::Pid> {
    let k = kubeconfig.display().to_string();
    std::fs::read_dir("/proc").unwrap().flatten().find_map(|e| {
        let c = std::fs::read(e.path().join("cmdline")).ok()?;
        let c = String::from_utf8_lossy(&c).replace('\0', " ");
        if c.starts_with(BIN) && c.contains(&k) {
            let pid: i32 = e.file_name().to_str()?.parse().ok()?;
            Some(nix::unistd::Pid::from_raw(pid))
        } else {
            None
        }
    })
}

#[test]
fn console_log_pane_follows_sanitises_and_leaves_nothing_on_the_nodes() {
    // node3's rancherd carries a wrong token: its journal has the 502 retries.
    let lab = Lab::up(&["--nodes", "3", "--scenario", "token-mismatch"]);
    let n = nodes(&lab);
    let home = tempfile::tempdir().unwrap();
    let state = home.path().join("state");
    let config = home.path().join("config");
    let env = [
        ("XDG_STATE_HOME", state.as_path()),
        ("XDG_CONFIG_HOME", config.as_path()),
    ];
    let cmd = format!("{BIN} --lab {}; echo EXIT=$?; sleep 60", lab.dir.display());
    let t = Tmux::start(TAG, &cmd, &env);
    // Let an OSC 52 that got through become a tmux buffer we can see.
    t.tmux(&["set", "-g", "set-clipboard", "on"]);
    t.wait("three nodes reachable", Duration::from_secs(15), |s| {
        n.all_up(s)
    });

    // l on node1: its rke2-server journal, following.
    t.keys(&["l"]);
    t.wait("node1's rke2-server log", Duration::from_secs(20), |s| {
        s.contains("logs node1 · rke2-server") && s.contains("following") && s.contains("level=")
    });
    assert_eq!(lab.journalctl_count("node1"), 1);

    // A restart shows live: the filter keeps systemd's lines about the unit.
    t.keys(&["z", "/"]);
    for c in "rke2-server.service".chars() {
        t.keys(&[&c.to_string()]);
    }
    t.keys(&["Enter", "f", "G"]);
    lab.ssh_ok("node1", "sudo systemctl restart rke2-server");
    let s = t.wait("the stop and the start", Duration::from_secs(20), |s| {
        let stop = s
            .lines()
            .position(|l| l.contains("Stopping rke2-server.service"));
        stop.is_some_and(|i| {
            s.lines()
                .skip(i)
                .any(|l| l.contains("Started rke2-server.service"))
        })
    });
    assert!(s.contains(" filter "), "{s}");
    t.keys(&["Escape", "z"]);

    // Escape sequences from the node arrive as visible text, never as ESC.
    lab.inject_rke2_server_entry("node1", "evil \\033]52;c;aGk=\\007 \\033[31mred");
    let s = t.wait("the injected line", Duration::from_secs(10), |s| {
        s.contains("evil ")
    });
    assert!(s.contains("evil \\e]52;c;aGk=\\a \\e[31mred"), "{s}");
    assert!(!s.contains('\x1b') && !s.contains('\x07'), "{s:?}");
    assert_eq!(t.tmux(&["list-buffers"]).trim(), "", "OSC 52 reached tmux");

    // ctrl-s saves what is held and says where.
    t.keys(&["C-s"]);
    let s = t.wait("saved", Duration::from_secs(15), |s| s.contains("saved "));
    let dir = state.join("harvcred/logs");
    let saved: Vec<_> = std::fs::read_dir(&dir).unwrap().flatten().collect();
    assert_eq!(saved.len(), 1, "{s}");
    let text = std::fs::read_to_string(saved[0].path()).unwrap();
    assert!(text.contains("evil \\e]52;c;aGk=\\a"), "{text}");
    assert!(!text.contains('\x1b'));

    // Closing the pane ends the remote journalctl.
    t.keys(&["q"]);
    t.wait("the table back", Duration::from_secs(15), |s| {
        !s.contains("logs node1") && s.contains("│role ")
    });
    lab.assert_no_journalctl_left(&["node1"], "after closing the pane");

    // Three marked nodes, merged, each line prefixed with its node. node3
    // has not joined (token-mismatch): its rke2-server never ran, and
    // `journalctl -f` of a unit without entries shows none that come later,
    // so its line is there before the pane opens (the backlog shows it).
    lab.inject_rke2_server_entry("node3", "hello from node3");
    t.keys(&["g", "Space", "Space", "Space", "l"]);
    t.wait("the three streams", Duration::from_secs(20), |s| {
        s.contains("logs 3 nodes")
    });
    for node in ["node1", "node2", "node3"] {
        assert_eq!(lab.journalctl_count(node), 1, "{node}");
    }
    for node in ["node1", "node2"] {
        lab.inject_rke2_server_entry(node, &format!("hello from {node}"));
    }
    // Only the matching lines: node3's, from the backlog, stays in view.
    t.keys(&["/"]);
    t.text("hello from");
    t.keys(&["Enter", "f", "G"]);
    let s = t.wait("a line of each node", Duration::from_secs(15), |s| {
        ["node1", "node2", "node3"].iter().all(|node| {
            s.lines()
                .any(|l| l.contains(&format!("{node} hello from {node}")))
        })
    });
    assert!(s.contains("3 marked"), "{s}");

    // A known failure in the joining node's rancherd log gets its hint line,
    // which names the view that helps.
    t.keys(&["q"]);
    t.wait("the table back", Duration::from_secs(15), |s| {
        !s.contains("logs 3 nodes") && s.contains("│role ")
    });
    t.text(":logs node3 rancherd");
    t.keys(&["Enter"]);
    let s = t.wait("the token hint", Duration::from_secs(20), |s| {
        s.contains("logs node3 · rancherd") && s.contains("↳ hint")
    });
    assert!(
        s.contains("A joining node's token differs from the cluster's → :token"),
        "{s}"
    );
    // The line it explains runs past the pane's edge: saved whole.
    t.keys(&["C-s"]);
    t.wait("saved", Duration::from_secs(15), |s| s.contains("saved "));
    let rancherd_log = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .find(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("node3-rancherd-")
        })
        .expect("node3's rancherd log saved");
    let text = std::fs::read_to_string(rancherd_log.path()).unwrap();
    assert!(text.contains("502 Bad Gateway getting cacerts"), "{text}");

    // Quitting with the pane open ends every stream.
    t.keys(&[":", "q", "Enter"]);
    let s = t.wait("exit", Duration::from_secs(10), |s| s.contains("EXIT="));
    assert!(s.contains("EXIT=0"), "{s}");
    lab.assert_no_journalctl_left(&["node1", "node2", "node3"], "after quitting");
}

/// Every key typed reaches the console while it probes its nodes over SSH
/// (every second here): a probe once lent the terminal to ssh, and a key
/// typed while it ran was gone (an Enter that never took). Four rounds of
/// 60 keys at the prompt, each shown whole or the test fails with what
/// arrived.
#[test]
fn console_keeps_every_key_typed_while_it_probes_the_nodes() {
    let lab = Lab::up(&["--nodes", "2"]);
    let home = tempfile::tempdir().unwrap();
    let (state, config) = (home.path().join("state"), home.path().join("config"));
    std::fs::create_dir_all(config.join("harvcred")).unwrap();
    std::fs::write(
        config.join("harvcred/config.toml"),
        "probe_interval_secs = 1\n",
    )
    .unwrap();
    let env = [
        ("XDG_STATE_HOME", state.as_path()),
        ("XDG_CONFIG_HOME", config.as_path()),
    ];
    let cmd = format!("{BIN} --lab {}; sleep 30", lab.dir.display());
    let t = Tmux::start(TAG, &cmd, &env);
    let n = nodes(&lab);
    t.wait("both nodes probed", Duration::from_secs(30), |s| {
        n.0.iter().all(|(name, ip, _)| ssh_ok(s, name, ip))
    });
    for round in 0..4 {
        t.keys(&[":"]);
        t.wait("the prompt", Duration::from_secs(10), |s| {
            s.lines().any(|l| l.starts_with(':'))
        });
        let typed: String = (0..60)
            .map(|i| char::from(b'a' + ((i * 7 + round) % 26) as u8))
            .collect();
        for c in typed.chars() {
            t.text(&c.to_string());
        }
        let want = format!(":{typed}");
        let s = t.wait_or_screen(Duration::from_secs(10), |s| {
            s.lines().any(|l| l.starts_with(&want))
        });
        let got = s.lines().find(|l| l.starts_with(':')).unwrap_or("");
        assert!(
            s.lines().any(|l| l.starts_with(&want)),
            "round {round}: keys lost while the nodes were probed\n typed {want}\n shown {got}"
        );
        t.keys(&["Escape"]);
    }
}
