//! `harvcred logs` against the lab: what an operator sees on stdout, and
//! that nothing keeps running on the nodes afterwards.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use common::{BIN, Lab};

fn logs(lab: &Lab, args: &[&str]) -> Command {
    let mut c = Command::new(BIN);
    c.arg("--lab").arg(&lab.dir).arg("logs").args(args);
    c
}

fn logs_ok(lab: &Lab, args: &[&str]) -> String {
    let out = logs(lab, args).stdin(Stdio::null()).output().unwrap();
    assert!(
        out.status.success(),
        "harvcred logs {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("sanitised output is UTF-8")
}

/// `harvcred logs -f ...` with its stdout read line by line on a thread.
struct Follow {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Follow {
    fn start(lab: &Lab, args: &[&str]) -> Follow {
        let mut child = logs(lab, args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (tx, lines) = mpsc::channel();
        let out = child.stdout.take().unwrap();
        thread::spawn(move || {
            for l in BufReader::new(out).lines() {
                let Ok(l) = l else { break };
                if tx.send(l).is_err() {
                    break;
                }
            }
        });
        Follow {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Waits for a line for which `pred` holds; panics with what was seen.
    fn wait_for(&mut self, what: &str, limit: Duration, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) => {
                    self.seen.push(l.clone());
                    if pred(&l) {
                        return l;
                    }
                }
                Err(_) => panic!(
                    "no line with {what} within {limit:?}; saw:\n{}",
                    self.seen.join("\n")
                ),
            }
        }
    }

    fn signal(&self, sig: nix::sys::signal::Signal) {
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.child.id() as i32), sig).unwrap();
    }

    /// Waits for the exit; returns its status and stderr.
    fn exit(mut self, limit: Duration) -> (std::process::ExitStatus, String) {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                let mut err = String::new();
                std::io::Read::read_to_string(&mut self.child.stderr.take().unwrap(), &mut err)
                    .unwrap();
                return (st, err);
            }
            assert!(Instant::now() < deadline, "harvcred logs did not exit");
            thread::sleep(Duration::from_millis(50));
        }
    }
}

#[test]
fn history_is_sanitised_and_known_failures_get_their_hint() {
    let lab = Lab::up(&["--nodes", "3", "--scenario", "token-mismatch"]);

    let out = logs_ok(&lab, &["node1", "-n", "5"]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 5, "{out}");
    assert!(
        lines.iter().any(|l| l.contains("level="))
            && !lines.iter().any(|l| l.starts_with("node1: ")),
        "one node: rke2-server lines without a prefix:\n{out}"
    );

    // OSC 52 would set the terminal's clipboard; it must arrive as text.
    lab.inject_rke2_server_entry("node2", "evil \\033]52;c;aGk=\\007 line");
    let out = logs_ok(&lab, &["node2", "-n", "20"]);
    assert!(!out.contains('\x1b') && !out.contains('\x07'), "{out:?}");
    assert!(out.contains("evil \\e]52;c;aGk=\\a line"), "{out}");

    let out = logs_ok(&lab, &["node3", "--unit", "rancherd", "-n", "50"]);
    assert!(out.contains("502 Bad Gateway getting cacerts"), "{out}");
    assert!(
        out.contains("↳ hint: A joining node's token differs from the cluster's"),
        "{out}"
    );
    assert!(out.contains("(in the console: :token)"), "{out}");
    assert!(!out.contains('\r'), "carriage returns are shown as escapes");

    // --grep keeps only the matching lines, prefixed when several nodes.
    let out = logs_ok(
        &lab,
        &[
            "node2", "node3", "-u", "rancherd", "-n", "50", "--grep", "cacerts",
        ],
    );
    assert!(!out.is_empty());
    assert!(out.lines().all(|l| l.starts_with("node3: ")), "{out}");

    lab.assert_no_journalctl_left(&["node1", "node2", "node3"], "after the history reads");
}

#[test]
fn follow_shows_a_restart_live_and_leaves_nothing_on_the_nodes() {
    let lab = Lab::up(&["--nodes", "2"]);
    let nodes = ["node1", "node2"];

    let mut f = Follow::start(&lab, &["-f", "node1", "node2", "-n", "1"]);
    f.wait_for("node1's prefix", Duration::from_secs(20), |l| {
        l.starts_with("node1: ")
    });
    assert_eq!(lab.journalctl_count("node2"), 1);
    lab.ssh_ok("node2", "sudo systemctl restart rke2-server");
    f.wait_for("the stop", Duration::from_secs(15), |l| {
        l.starts_with("node2: ") && l.contains("Stopping rke2-server.service")
    });
    f.wait_for("the start", Duration::from_secs(15), |l| {
        l.starts_with("node2: ") && l.contains("Started rke2-server.service")
    });
    // SIGKILL: no clean-up code runs, the pipe's EOF has to do it.
    f.signal(nix::sys::signal::Signal::SIGKILL);
    f.exit(Duration::from_secs(5));
    lab.assert_no_journalctl_left(&nodes, "after SIGKILL");

    // ctrl-c ends it cleanly.
    let mut f = Follow::start(&lab, &["-f", "node1", "-n", "3"]);
    f.wait_for("a line", Duration::from_secs(20), |_| true);
    f.signal(nix::sys::signal::Signal::SIGINT);
    let (st, err) = f.exit(Duration::from_secs(5));
    assert!(st.success(), "{st} {err}");
    lab.assert_no_journalctl_left(&nodes, "after ctrl-c");

    // A closed pipe ends it promptly, also while the log is quiet.
    let started = Instant::now();
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "'{BIN}' --lab '{}' logs -f node1 -n 20 | head -3",
            lab.dir.display()
        ))
        .output()
        .unwrap();
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 3);
    lab.assert_no_journalctl_left(&nodes, "after | head");
}

#[test]
fn a_cut_link_reconnects_without_repeating_or_losing_lines() {
    let lab = Lab::up(&["--nodes", "1"]);
    let veth = format!("{}n1", lab.id());
    let link = |state: &str| {
        let st = Command::new("ip")
            .args(["link", "set", &veth, state])
            .status()
            .unwrap();
        assert!(st.success());
    };
    // Numbered lines, written on the node whatever happens to our link.
    lab.ssh_ok(
        "node1",
        "sudo systemd-run --quiet --unit=seqgen sh -c 'i=0; while [ $i -lt 700 ]; do \
         printf \"MESSAGE=seq %d\\nOBJECT_SYSTEMD_UNIT=rke2-server.service\\n\" $i | logger --journald; \
         i=$((i+1)); sleep 0.05; done'",
    );
    let seq = |l: &str| -> Option<u32> { l.split("seq ").nth(1)?.trim().parse().ok() };
    let mut f = Follow::start(&lab, &["-f", "node1", "-n", "0"]);
    f.wait_for("seq 20", Duration::from_secs(20), |l| seq(l) >= Some(20));
    link("down");
    thread::sleep(Duration::from_secs(18));
    link("up");
    f.wait_for("the last seq", Duration::from_secs(60), |l| {
        seq(l) == Some(699)
    });
    let seen = std::mem::take(&mut f.seen);
    f.signal(nix::sys::signal::Signal::SIGINT);
    let (_, err) = f.exit(Duration::from_secs(5));
    assert!(err.contains("trying again"), "a reconnect happened: {err}");
    let got: Vec<u32> = seen.iter().filter_map(|l| seq(l)).collect();
    let first = got[0];
    let want: Vec<u32> = (first..=699).collect();
    assert_eq!(got, want, "every line once, in order, across the reconnect");
    lab.assert_no_journalctl_left(&["node1"], "after the reconnect");
}
