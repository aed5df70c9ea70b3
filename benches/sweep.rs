//! A credential sweep of 3, 20 and 50 lab nodes: harvcred (`status::sweep_all`:
//! node list, settings, one `sudo -n sh -c` per node over the multiplexed pool,
//! parsing and judging) against `parallel-ssh` doing the same reads (the
//! gather script on stdin of `sudo sh -s`, one ssh per node, all at once).
//!
//! Cold: the first sweep (new SSH connections). Warm: the median of the next
//! five (harvcred reuses its masters; pssh has nothing to reuse).
//! Needs root (the labs) and Debian's `pssh`:
//!
//!     sudo cargo bench --bench sweep                 # 3, 20 and 50 nodes
//!     HARVCRED_BENCH_SIZES=3,20 sudo cargo bench --bench sweep
//!
//! Target (issue 12): warm, harvcred takes at most half of pssh's time
//! (ratio <= 0.5) at every size; exit 1 when missed. Under `cargo test` it
//! does nothing (it needs root, pssh and labs of up to 50 nodes).
//!
//! Measured 2026-11-29 on the shared 2-core machine (load 7, other builds
//! running), warm: 3 nodes 322 vs 1,626 ms, 20 nodes 886 vs 4,741 ms,
//! 50 nodes 2,249 vs 14,813 ms (ratio 0.15; target at most 0.5). Cold at 50:
//! 17.8 s vs pssh 15.3 s, pssh losing 3 nodes to its connect timeout.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use harvcred::cluster::KubeSettings;
use harvcred::node::{Pool, SshSettings};
use harvcred::status::{NodeOutcome, sweep_all};

mod common;
use common::Verdict;

const BIN: &str = env!("CARGO_BIN_EXE_harvcred");
const WARM_RUNS: usize = 5;

/// A lab, removed when dropped.
struct Lab {
    dir: PathBuf,
    _tmp: tempfile::TempDir,
}

impl Lab {
    fn up(nodes: usize) -> Lab {
        let tmp = tempfile::Builder::new()
            .prefix("hcbench")
            .tempdir_in("/tmp")
            .unwrap();
        let dir = tmp.path().join("lab");
        let started = Instant::now();
        let out = Command::new(BIN)
            .args(["lab", "up", "--dir"])
            .arg(&dir)
            .args(["--nodes", &nodes.to_string()])
            .output()
            .unwrap();
        let lab = Lab { dir, _tmp: tmp };
        assert!(
            out.status.success(),
            "lab up: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        eprintln!("{nodes}-node lab up in {:?}", started.elapsed());
        lab
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        let _ = Command::new(BIN)
            .args(["lab", "down", "--dir"])
            .arg(&self.dir)
            .output();
    }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// One harvcred sweep; every node must have been read.
async fn harvcred_sweep(lab: &Path, pool: &Pool, nodes: usize) -> Duration {
    let kube = KubeSettings {
        kubeconfig: Some(lab.join("kubeconfig")),
        context: None,
    };
    let started = Instant::now();
    let s = sweep_all(&kube, pool, Vec::new(), Default::default()).await;
    let took = started.elapsed();
    assert_eq!(s.nodes.len(), nodes);
    for n in &s.nodes {
        assert!(
            matches!(n.outcome, NodeOutcome::Report(_)),
            "{}: {:?}",
            n.info.name,
            n.outcome
        );
    }
    took
}

/// One pssh run of the same script on every node.
fn pssh_sweep(lab: &Path, hosts: &Path, nodes: usize, script: &str) -> Duration {
    let started = Instant::now();
    let mut child = Command::new("parallel-ssh")
        .arg("-h")
        .arg(hosts)
        .args(["-p", &nodes.to_string(), "-t", "60", "-I", "-i", "-x"])
        .arg(format!("-F {}/ssh_config", lab.display()))
        .arg("sudo sh -s")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(script.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let took = started.elapsed();
    let text = String::from_utf8_lossy(&out.stdout);
    let failed = nodes - text.matches("[SUCCESS]").count();
    if failed > 0 {
        // Reported, not hidden: on a small host the 50 cold handshakes at
        // once can exceed ssh_config's ConnectTimeout.
        eprintln!("pssh: {failed} of {nodes} nodes failed in this run");
    }
    took
}

fn ms(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1000.0)
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --all-targets` runs this
    // binary without it, and must not boot 73 lab nodes.
    if !std::env::args().any(|a| a == "--bench") {
        eprintln!("sweep bench: run with `cargo bench --bench sweep` (root)");
        return;
    }
    assert!(
        nix::unistd::geteuid().is_root(),
        "the sweep benchmark boots labs: run it as root"
    );
    let sizes: Vec<usize> = std::env::var("HARVCRED_BENCH_SIZES")
        .unwrap_or_else(|_| "3,20,50".into())
        .split(',')
        .map(|s| s.trim().parse().expect("HARVCRED_BENCH_SIZES: numbers"))
        .collect();
    let script = harvcred::node::gather::script();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut rows = Vec::new();
    let mut verdict = Verdict::new();
    for n in sizes {
        let lab = Lab::up(n);
        let hosts = lab.dir.join("bench-hosts");
        std::fs::write(
            &hosts,
            (1..=n).map(|i| format!("node{i}\n")).collect::<String>(),
        )
        .unwrap();
        let sockets = tempfile::Builder::new()
            .prefix("hcb")
            .tempdir_in("/tmp")
            .unwrap();
        let (h_cold, h_warm) = rt.block_on(async {
            let mut ssh = SshSettings::new(
                "rancher".into(),
                Some(lab.dir.join("ssh_config")),
                sockets.path().to_path_buf(),
            );
            // One machine hosts all 50 nodes' sshd: the cold handshakes queue
            // for its CPUs far longer than a real node's would (pssh's
            // ssh_config allows 10 s per connection too).
            ssh.connect_timeout = Duration::from_secs(30);
            ssh.op_timeout = Duration::from_secs(60);
            let pool = Pool::new(ssh);
            let cold = harvcred_sweep(&lab.dir, &pool, n).await;
            let mut warm = Vec::new();
            for _ in 0..WARM_RUNS {
                warm.push(harvcred_sweep(&lab.dir, &pool, n).await);
            }
            pool.close_all().await;
            (cold, median(warm))
        });
        eprintln!(
            "harvcred {n} nodes: cold {}, warm {}",
            ms(h_cold),
            ms(h_warm)
        );
        let p_cold = pssh_sweep(&lab.dir, &hosts, n, &script);
        let p_warm = median(
            (0..WARM_RUNS)
                .map(|_| pssh_sweep(&lab.dir, &hosts, n, &script))
                .collect(),
        );
        let row = format!(
            "| {n:>2} | {} | {} | {} | {} | {:.2} |",
            ms(h_cold),
            ms(h_warm),
            ms(p_cold),
            ms(p_warm),
            h_warm.as_secs_f64() / p_warm.as_secs_f64()
        );
        eprintln!("{row}");
        rows.push(row);
        verdict.at_most(
            &format!("warm sweep, {n} nodes: harvcred / pssh"),
            h_warm.as_secs_f64() / p_warm.as_secs_f64(),
            0.5,
            "",
        );
    }
    println!("| nodes | harvcred cold | harvcred warm | pssh cold | pssh warm | warm ratio |");
    println!("|---|---|---|---|---|---|");
    for r in rows {
        println!("{r}");
    }
    verdict.finish("sweep");
}
