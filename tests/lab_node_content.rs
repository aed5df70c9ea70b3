//! The stand-ins as processes, against a seeded node tree on the host: what
//! journald would receive on stderr, the exit codes systemd would see, and
//! SIGTERM handling. The test binary re-runs itself as the stand-in (the
//! `standin_child` test is the stand-in when the child variable is set, and
//! otherwise checks that re-running works: crictl answers as a process).

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use harvcred::lab::layout::NODE_SHARE;
use harvcred::lab::plan::{LabPlan, Scenario};
use harvcred::lab::seed::{ClusterMaterial, seed_node, write_share};
use harvcred::lab::standin::{Program, StandinArgs, run};

const CHILD_ENV: &str = "HARVCRED_TEST_STANDIN_CHILD";
const KEY: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeKeyForTestsOnly0000000000000000000 op";

/// The stand-in process: `<root>\t<program>[\t<rke2 arg>...]` in the environment.
/// Run as a plain test, it re-runs itself as `crictl ps` on a server and on
/// a worker: the server lists its kube-apiserver container, the worker none.
#[test]
fn standin_child() {
    let Ok(spec) = std::env::var(CHILD_ENV) else {
        let lab = Lab::new(vec![]);
        let ids = |node: &str| {
            let args = ["crictl", "ps", "--name", "kube-apiserver", "-q"];
            let (code, out) = stdout_of(spawn(&lab.root(node), &args, None));
            assert_eq!(code, 0, "crictl on {node}: {out}");
            // The test harness's own lines share stdout: keep the container ids.
            out.split_whitespace()
                .filter(|w| w.len() == 64 && w.bytes().all(|b| b.is_ascii_hexdigit()))
                .map(str::to_string)
                .collect::<Vec<_>>()
        };
        let server = ids("node1");
        assert_eq!(server.len(), 1, "one kube-apiserver container: {server:?}");
        assert_eq!(
            ids("node4"),
            Vec::<String>::new(),
            "a worker runs no API server"
        );
        return;
    };
    let mut parts = spec.split('\t');
    let root = PathBuf::from(parts.next().unwrap());
    let program = match parts.next().unwrap() {
        "rke2-server" => Program::Rke2Server,
        "rke2-agent" => Program::Rke2Agent,
        "rancherd" => Program::Rancherd,
        "rancher-system-agent" => Program::RancherSystemAgent,
        "rke2" => Program::Rke2 {
            args: parts.map(str::to_string).collect(),
        },
        "crictl" => Program::Crictl {
            args: parts.map(str::to_string).collect(),
        },
        other => panic!("unknown program {other}"),
    };
    let code = run(StandinArgs { root, program }).unwrap();
    std::process::exit(code);
}

fn spawn(root: &Path, program: &[&str], rate: Option<&str>) -> Child {
    let mut spec = root.display().to_string();
    for p in program {
        spec.push('\t');
        spec.push_str(p);
    }
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args([
        "--exact",
        "standin_child",
        "--nocapture",
        "--test-threads=1",
    ])
    .env(CHILD_ENV, spec)
    .env_remove("NOTIFY_SOCKET")
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    match rate {
        Some(r) => cmd.env("HARVCRED_LAB_LOG_RATE", r),
        None => cmd.env_remove("HARVCRED_LAB_LOG_RATE"),
    };
    cmd.spawn().unwrap()
}

/// Lines of the child's stderr, as they come.
fn lines(child: &mut Child) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

fn wait_for(rx: &mpsc::Receiver<String>, needle: &str, seen: &mut Vec<String>) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if let Ok(line) = rx.recv_timeout(Duration::from_millis(200)) {
            let hit = line.contains(needle);
            seen.push(line);
            if hit {
                return;
            }
        }
    }
    panic!("no line with {needle:?} in:\n{}", seen.join("\n"));
}

fn sigterm(child: &Child) {
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
}

fn stdout_of(mut child: Child) -> (i32, String) {
    let mut out = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    let status = child.wait().unwrap();
    (status.code().unwrap_or(-1), out)
}

struct Lab {
    dir: tempfile::TempDir,
    material: ClusterMaterial,
}

impl Lab {
    fn new(scenarios: Vec<Scenario>) -> Lab {
        let dir = tempfile::tempdir().unwrap();
        let plan = LabPlan {
            id: "it".into(),
            dir: dir.path().into(),
            subnet: [10, 213, 11],
            nodes: LabPlan::make_nodes([10, 213, 11], 4, 3),
            scenarios,
            api_port: 6443,
        };
        let material = ClusterMaterial::generate(&plan, KEY).unwrap();
        let base = match std::env::var_os("HARVCRED_TEST_BASE") {
            Some(b) => PathBuf::from(b),
            None => {
                let base = dir.path().join("base");
                std::fs::create_dir_all(base.join("etc")).unwrap();
                std::fs::write(
                    base.join("etc/shadow"),
                    "root:*:1::::::\nrancher:!:1::::::\n",
                )
                .unwrap();
                std::fs::write(base.join("etc/group"), "shadow:x:42:\n").unwrap();
                base
            }
        };
        for n in &plan.nodes {
            let root = dir.path().join(&n.name);
            seed_node(&plan, n, &material, &base, &root, &root.join("oem")).unwrap();
            // The first boot: the image's /etc/shadow, then yip over /oem.
            std::fs::create_dir_all(root.join("etc")).unwrap();
            std::fs::copy(base.join("etc/shadow"), root.join("etc/shadow")).unwrap();
            let status = harvcred::lab::yip::Applier::new(&root)
                .run("boot", &["rootfs", "initramfs", "boot"]);
            assert!(status.ok, "{status:?}");
            write_share(
                &plan,
                &material,
                &root.join(NODE_SHARE.trim_start_matches('/')),
            )
            .unwrap();
        }
        Lab { dir, material }
    }
    fn root(&self, node: &str) -> PathBuf {
        self.dir.path().join(node)
    }
}

#[test]
fn rke2_server_starts_trickles_and_stops_cleanly_on_sigterm() {
    let lab = Lab::new(vec![]);
    let mut child = spawn(&lab.root("node1"), &["rke2-server"], Some("20"));
    let rx = lines(&mut child);
    let mut seen = Vec::new();
    wait_for(&rx, "Starting rke2 v1.33.5+rke2r1", &mut seen);
    wait_for(&rx, "msg=\"rke2 is up and running\"", &mut seen);
    // The steady trickle follows: more lines come after "up and running".
    let before = seen.len();
    let deadline = Instant::now() + Duration::from_secs(20);
    while seen.len() < before + 2 {
        assert!(
            Instant::now() < deadline,
            "no trickle after start-up:\n{}",
            seen.join("\n")
        );
        if let Ok(line) = rx.recv_timeout(Duration::from_millis(200)) {
            seen.push(line);
        }
    }
    sigterm(&child);
    wait_for(&rx, "Received SIGTERM, shutting down", &mut seen);
    let (code, _) = stdout_of(child);
    assert_eq!(code, 0, "{}", seen.join("\n"));
    for line in &seen {
        assert!(
            line.starts_with("time=\"") && line.contains("Z\" level="),
            "not logrus text format: {line}"
        );
        assert!(!line.contains(lab.material.token_secret()));
    }
}

#[test]
fn token_rotate_then_rke2_server_exits_1_with_the_fatal_line() {
    let lab = Lab::new(vec![]);
    let root = lab.root("node2");
    let (code, out) = stdout_of(spawn(
        &root,
        &["rke2", "token", "rotate", "--new-token", "SomethingNew42"],
        None,
    ));
    assert_eq!(code, 0);
    assert!(
        out.contains("Token rotated, restart rke2 nodes with new token"),
        "{out}"
    );
    for _ in 0..2 {
        let mut child = spawn(&root, &["rke2-server"], None);
        let rx = lines(&mut child);
        let mut seen = Vec::new();
        wait_for(&rx, "level=fatal", &mut seen);
        let (code, _) = stdout_of(child);
        assert_eq!(code, 1);
        assert!(seen.last().unwrap().ends_with("msg=\"Failed to reconcile with temporary etcd: bootstrap data already found and encrypted with different token\""));
    }
}

#[test]
fn rke2_command_check_table_and_usage_errors() {
    let lab = Lab::new(vec![Scenario::CertsExpiring]);
    let (code, out) = stdout_of(spawn(
        &lab.root("node3"),
        &["rke2", "certificate", "check", "--output", "table"],
        None,
    ));
    assert_eq!(code, 0);
    let expired = out
        .lines()
        .find(|l| l.starts_with("client-admin.crt") && l.contains("system:admin"))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(expired.ends_with("EXPIRED"), "{expired}");

    let (code, out) = stdout_of(spawn(&lab.root("node1"), &["rke2", "--version"], None));
    assert_eq!(code, 0);
    assert!(out.contains("rke2 version v1.33.5+rke2r1"), "{out}");

    let mut child = spawn(&lab.root("node1"), &["rke2", "frobnicate"], None);
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    let (code, _) = stdout_of(child);
    assert_eq!(code, 1);
    assert!(
        err.contains("unrecognized subcommand 'frobnicate'"),
        "{err}"
    );
    assert!(err.contains("Usage: rke2"), "{err}");
}

#[test]
fn rancherd_on_the_mismatched_node_retries_with_502() {
    let lab = Lab::new(vec![Scenario::TokenMismatch]);
    let mut child = spawn(&lab.root("node4"), &["rancherd"], None);
    let rx = lines(&mut child);
    let mut seen = Vec::new();
    wait_for(&rx, "502 Bad Gateway getting cacerts", &mut seen);
    sigterm(&child);
    let (code, _) = stdout_of(child);
    assert_eq!(code, 0);

    let mut child = spawn(&lab.root("node1"), &["rancherd"], None);
    let rx = lines(&mut child);
    let mut seen = Vec::new();
    wait_for(
        &rx,
        "Successfully Bootstrapped Rancher (v2.12.2/v1.33.5+rke2r1)",
        &mut seen,
    );
    sigterm(&child);
    assert_eq!(stdout_of(child).0, 0);
}

/// `HARVCRED_LAB_LOG_RATE` is honoured: at 20000/s, 5000 lines come, which
/// the default trickle would take hours for. How fast exactly is the
/// logs_stream benchmark's business, not a test's.
#[test]
fn high_log_rates_are_reached() {
    let lab = Lab::new(vec![]);
    let mut child = spawn(&lab.root("node4"), &["rke2-agent"], Some("20000"));
    let rx = lines(&mut child);
    let mut seen = Vec::new();
    wait_for(&rx, "rke2 agent is up and running", &mut seen);
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut n = 0usize;
    while n < 5000 {
        assert!(
            Instant::now() < deadline,
            "only {n} lines at HARVCRED_LAB_LOG_RATE=20000"
        );
        if rx.recv_timeout(Duration::from_millis(200)).is_ok() {
            n += 1;
        }
    }
    sigterm(&child);
    let _ = stdout_of(child);
}

/// The hash in /etc/shadow is what the system's own crypt(3) (libxcrypt, as
/// PAM uses at login) accepts for the password; the password goes on stdin.
#[test]
fn shadow_hash_is_accepted_by_the_systems_crypt() {
    use std::io::Write;
    let lab = Lab::new(vec![Scenario::PlaintextPassword]);
    for node in ["node1", "node2"] {
        let shadow = std::fs::read_to_string(lab.root(node).join("etc/shadow")).unwrap();
        let hash = shadow
            .lines()
            .find_map(|l| l.strip_prefix("rancher:"))
            .and_then(|l| l.split(':').next())
            .unwrap()
            .to_string();
        let check = |pw: &str| {
            let mut child = Command::new("perl")
                .args([
                    "-e",
                    "my $pw = <STDIN>; chomp $pw; print crypt($pw, $ARGV[0]) eq $ARGV[0] ? 'ok' : 'bad'",
                    &hash,
                ])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn()
                .unwrap();
            writeln!(child.stdin.take().unwrap(), "{pw}").unwrap();
            String::from_utf8(child.wait_with_output().unwrap().stdout).unwrap()
        };
        assert_eq!(check(lab.material.password_clear()), "ok", "{node}: {hash}");
        assert_eq!(check("wrong-password"), "bad");
    }
}
