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
    /// Everything written to stderr so far (read on a thread as it comes).
    err: std::sync::Arc<std::sync::Mutex<String>>,
    err_reader: thread::JoinHandle<()>,
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
        let err = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let (errout, sink) = (child.stderr.take().unwrap(), err.clone());
        let err_reader = thread::spawn(move || {
            for l in BufReader::new(errout).lines() {
                let Ok(l) = l else { break };
                let mut e = sink.lock().unwrap();
                e.push_str(&l);
                e.push('\n');
            }
        });
        Follow {
            child,
            lines,
            seen: Vec::new(),
            err,
            err_reader,
        }
    }

    /// Waits until stderr holds `what`; panics with stderr if it never does.
    fn wait_stderr(&self, what: &str, limit: Duration) {
        let deadline = Instant::now() + limit;
        while !self.err.lock().unwrap().contains(what) {
            assert!(
                Instant::now() < deadline,
                "no {what:?} on stderr within {limit:?}: {}",
                self.err.lock().unwrap()
            );
            thread::sleep(Duration::from_millis(100));
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
                self.err_reader.join().unwrap();
                let err = self.err.lock().unwrap().clone();
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

    // A carriage return would let a line overwrite itself on a terminal.
    lab.inject_rke2_server_entry("node2", "progress half\\rdone");
    let out = logs_ok(&lab, &["node2", "-n", "20"]);
    assert!(out.contains("progress half\\rdone"), "{out}");
    assert!(!out.contains('\r'), "carriage returns are shown as escapes");

    let out = logs_ok(&lab, &["node3", "--unit", "rancherd", "-n", "50"]);
    assert!(out.contains("502 Bad Gateway getting cacerts"), "{out}");
    assert!(
        out.contains("↳ hint: A joining node's token differs from the cluster's"),
        "{out}"
    );
    assert!(out.contains("(in the console: :token)"), "{out}");

    // --grep keeps only the matching lines, prefixed when several nodes.
    let out = logs_ok(
        &lab,
        &[
            "node2", "node3", "-u", "rancherd", "-n", "50", "--grep", "cacerts",
        ],
    );
    assert!(!out.is_empty());
    // Every line matches, or is the hint under a line that does.
    let lines: Vec<&str> = out.lines().collect();
    for (i, l) in lines.iter().enumerate() {
        let hint_of_a_match =
            l.starts_with("node3:   ↳ hint") && i > 0 && lines[i - 1].contains("cacerts");
        assert!(
            l.starts_with("node3: ") && (l.contains("cacerts") || hint_of_a_match),
            "line {i} is not node3's or does not match:\n{out}"
        );
    }

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
    // A line written on node1 arrives under node1's name, and only there.
    lab.inject_rke2_server_entry("node1", "written on node1");
    f.wait_for("node1's own line", Duration::from_secs(15), |l| {
        l.contains("written on node1")
    });
    assert!(
        f.seen
            .iter()
            .filter(|l| l.contains("written on node1"))
            .all(|l| l.starts_with("node1: ")),
        "{:?}",
        f.seen
    );
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
    lab.inject_rke2_server_entry("node1", "live from node1");
    f.wait_for("node1's live line", Duration::from_secs(15), |l| {
        l.contains("live from node1")
    });
    f.signal(nix::sys::signal::Signal::SIGINT);
    let (st, err) = f.exit(Duration::from_secs(5));
    assert!(st.success(), "{st} {err}");
    lab.assert_no_journalctl_left(&nodes, "after ctrl-c");

    // A closed pipe ends it, also while the log is quiet (then nothing
    // else would make it write and see the pipe gone). The lines are node1's:
    // markers written only there.
    for i in 1..=3 {
        lab.inject_rke2_server_entry("node1", &format!("pipe marker {i}"));
    }
    let mut sh = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "'{BIN}' --lab '{}' logs -f node1 -n 50 --grep 'pipe marker' | head -3",
            lab.dir.display()
        ))
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while sh.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = sh.kill();
            panic!("harvcred logs -f | head -3 still running after 30s");
        }
        thread::sleep(Duration::from_millis(100));
    }
    let out = sh.wait_with_output().unwrap();
    let got: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            l.split("pipe marker")
                .nth(1)
                .unwrap_or(l)
                .trim()
                .to_string()
        })
        .collect();
    assert_eq!(
        got,
        ["1", "2", "3"],
        "{:?}",
        String::from_utf8_lossy(&out.stdout)
    );
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
    // Down until harvcred has noticed and is reconnecting, not a fixed time.
    f.wait_stderr("trying again", Duration::from_secs(60));
    link("up");
    f.wait_for("the last seq", Duration::from_secs(60), |l| {
        seq(l) == Some(699)
    });
    let seen = std::mem::take(&mut f.seen);
    f.signal(nix::sys::signal::Signal::SIGINT);
    let (_, err) = f.exit(Duration::from_secs(5));
    let got: Vec<u32> = seen.iter().filter_map(|l| seq(l)).collect();
    let first = got[0];
    let want: Vec<u32> = (first..=699).collect();
    if got != want {
        let not_seq: Vec<&String> = seen.iter().filter(|l| seq(l).is_none()).collect();
        let missing: Vec<u32> = want.iter().filter(|i| !got.contains(i)).copied().collect();
        // Whether the node's journal has them tells harvcred's loss from the lab's.
        let on_node: Vec<String> = missing
            .iter()
            .take(5)
            .map(|i| {
                let out = lab.ssh(
                    "node1",
                    &format!("sudo journalctl -u rke2-server -o short-unix --grep '^seq {i}$'"),
                );
                String::from_utf8_lossy(&out.stdout).trim().to_string()
            })
            .collect();
        panic!(
            "every line once, in order, across the reconnect: missing {missing:?} (in node1's journal: {on_node:?}), {} lines for {} wanted\nother lines: {not_seq:#?}\nstderr: {err}",
            got.len(),
            want.len()
        );
    }
    lab.assert_no_journalctl_left(&["node1"], "after the reconnect");
}
