//! Lines per second from fast-writing lab nodes into the log model
//! (`LogStream` → `LogBuffer` → `LogView::update`), side by side with the
//! ceiling `ssh node sudo journalctl -u rke2-server -f | cat` (journalctl's
//! default `short` output, as issue 5 defines it, and the leaner `-o cat`), for 1
//! and 10 nodes in one run; resident memory over the run. Target (issue 5):
//! at least 80% of raw (`short`), flat memory; the rate is judged (exit 1
//! when missed), the memory printed. Without a lab (`cargo test`) it does
//! nothing.
//!
//! Needs a running lab with at least 10 nodes (root):
//!
//! ```text
//! harvcred lab up --dir /tmp/bl --nodes 10 --servers 10   # every node runs rke2-server
//! HARVCRED_BENCH_LAB=/tmp/bl cargo bench --bench logs_stream
//! harvcred lab down --dir /tmp/bl
//! ```
//!
//! `HARVCRED_BENCH_RATE` (lines/s per node, default 20000) and
//! `HARVCRED_BENCH_SECS` (per measurement, default 8) tune it. The rate is
//! set back to the default trickle at the end.
//!
//! Measured 2026-11-29 on the shared 2-core machine at load 25–40 (other
//! builds running), so a lower bound: 1 node, raw 4,215 lines/s, model
//! 1,653 lines/s (39%), 0 dropped, RSS 4.3→7.3 MiB. The 10-node row did
//! not finish within the run's time limit. Target not yet shown: re-run on
//! a quiet machine. (Raw reads `-o cat`; the stream reads `-o json`, about
//! ten times the bytes, for cursors.)
//!
//! Again later that day with `--output-fields=MESSAGE,PRIORITY` (JSON at 43%
//! of the bytes) and the raw clock starting at the first bytes, rate 5000
//! per node, 4 s, load average about 12, labs of 10 servers: 1 node raw
//! 4,933, model 4,852 lines/s (98%, but both at the writer's rate, so not a
//! ceiling); 10 nodes raw 50,143, model 23,010 (46%), 0 dropped (the
//! readers fall behind, the journal keeps the rest), RSS 7.9→10.6 MiB.
//! The 10-node gap is not explained yet: harvcred's parse/sanitise and the
//! nodes' journalctl JSON formatting share the same two cores here.
//!
//! With both ceilings (5000 lines/s per node, 6 s, load average ~22 with a
//! CI run beside it): 1 node short 5,025, cat 4,952, model 5,005 (100%);
//! 10 nodes short 34,329, cat 50,182, model 17,988 lines/s (52% of the
//! issue's `journalctl -f | cat`, 36% of `-o cat`), 0 dropped, RSS
//! 9.6→12.2 MiB. Target (80%) not met at 10 nodes on this machine.
//!
//! The gap was the nodes' `journalctl -o json` (raw, ten nodes, same
//! machine: json 9,900-18,900 lines/s, short 43,000-44,500, short-unix
//! 43,000-50,000). Streams now read `-o short-unix`; 2026-11-29 evening,
//! 5000 lines/s per node, 6 s, load ~2-14 (the nodes' journald alone takes
//! most of both cores at 50,000 lines/s):
//! - run 1: 1 node short 5,007, cat 5,116, model 4,902 (98%); 10 nodes short
//!   38,752, cat 49,538, model 44,309 (114% of short, 89% of cat), 0 dropped,
//!   RSS 8.4→11.4 MiB.
//! - run 2: 1 node 5,104 / 4,937 / 4,971 (97%); 10 nodes short 43,769, cat
//!   48,088, model 40,168 (92% of short, 84% of cat), 0 dropped, RSS
//!   7.8→10.6 MiB.
//!
//! Target met. At 10,000 lines/s per node the machine is past saturation
//! (1 node: model 7,023 vs short 5,160); the ten nodes' SSH handshakes then
//! took longer than the pool's fixed 8 s and never completed (the handshake
//! limit now doubles per timeout, up to a minute).

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod common;
use common::Verdict;

use harvcred::app::Target;
use harvcred::logs::{LogBuffer, LogView};
use harvcred::node::stream::{Backpressure, LogStream, StreamEvent, StreamSpec};
use harvcred::node::{Pool, SshSettings};

fn env_or<T: std::str::FromStr>(k: &str, d: T) -> T {
    std::env::var(k)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(d)
}

fn ssh(cfg: &Path, node: &str, cmd: &str) {
    let st = Command::new("ssh")
        .arg("-F")
        .arg(cfg)
        .args(["-o", "BatchMode=yes", node, cmd])
        .stdin(Stdio::null())
        .status()
        .unwrap();
    assert!(st.success(), "ssh {node} {cmd}");
}

fn set_rate(cfg: &Path, nodes: &[String], rate: Option<u32>) {
    let threads: Vec<_> = nodes
        .iter()
        .map(|n| {
            let (cfg, n) = (cfg.to_path_buf(), n.clone());
            let cmd = match rate {
                Some(r) => format!(
                    "echo HARVCRED_LAB_LOG_RATE={r} | sudo tee /etc/default/harvcred-lab-standin >/dev/null && sudo systemctl restart rke2-server"
                ),
                None => "sudo rm -f /etc/default/harvcred-lab-standin && sudo systemctl restart rke2-server".into(),
            };
            std::thread::spawn(move || ssh(&cfg, &n, &cmd))
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}

/// How long a node may take to send its first line before it is left out.
const START_GRACE_SECS: u64 = 20;

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// The ceiling: plain ssh + journalctl in `output` (`short`, journalctl's
/// default, is the issue's `journalctl -f | cat`; `cat` is the message alone),
/// newlines counted.
fn raw(cfg: &Path, nodes: &[String], secs: u64, output: &str) -> f64 {
    let remote = format!("sudo journalctl -u rke2-server -f -o {output} -n 0");
    let mut children: Vec<_> = nodes
        .iter()
        .map(|n| {
            Command::new("ssh")
                .arg("-F")
                .arg(cfg)
                .args(["-o", "BatchMode=yes", n, &remote])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    // Each node's clock starts at its first bytes, as the model's does:
    // ssh handshakes (seconds for 10 at once on a loaded machine) are not
    // part of the throughput.
    let readers: Vec<_> = children
        .iter_mut()
        .map(|c| {
            let mut out = c.stdout.take().unwrap();
            std::thread::spawn(move || {
                let mut buf = vec![0u8; 1 << 16];
                let mut lines = 0u64;
                let mut deadline = None;
                while deadline.is_none_or(|d| Instant::now() < d) {
                    match out.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            if deadline.is_none() {
                                deadline = Some(Instant::now() + Duration::from_secs(secs));
                                continue;
                            }
                            lines += memchr::memchr_iter(b'\n', &buf[..n]).count() as u64
                        }
                    }
                }
                lines
            })
        })
        .collect();
    // A journalctl that never prints (the lab's small in-memory journals
    // rotate every few seconds at these rates, and journalctl -f can miss
    // the new file: "is truncated, ignoring file") must not hang the run:
    // after the grace its ssh is killed, which ends its reader.
    let give_up = Instant::now() + Duration::from_secs(secs + START_GRACE_SECS);
    while Instant::now() < give_up && !readers.iter().all(|r| r.is_finished()) {
        std::thread::sleep(Duration::from_millis(100));
    }
    for c in &mut children {
        let _ = c.kill();
    }
    let total: u64 = readers.into_iter().map(|r| r.join().unwrap()).sum();
    let took = secs as f64;
    for mut c in children {
        // Closing ssh's stdin and killing it ends the remote journalctl
        // (ssh without a tty: the session closes, journalctl gets SIGPIPE).
        let _ = c.kill();
        let _ = c.wait();
    }
    total as f64 / took
}

struct ModelRun {
    lines_per_s: f64,
    dropped: u64,
    rss_first: u64,
    rss_max: u64,
    rss_last: u64,
}

/// Streams into one LogBuffer + LogView, as a pane would.
fn model(rt: &tokio::runtime::Runtime, cfg: &Path, nodes: &[String], secs: u64) -> ModelRun {
    rt.block_on(async {
        let dir = PathBuf::from(format!("/tmp/hcb{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let pool = Pool::new(SshSettings::new(
            "rancher".into(),
            Some(cfg.to_path_buf()),
            dir.clone(),
        ));
        let (tx, mut rx) = tokio::sync::mpsc::channel(256);
        let streams: Vec<LogStream> = nodes
            .iter()
            .enumerate()
            .map(|(i, n)| {
                let mut spec = StreamSpec::new(
                    i as u16,
                    Target {
                        name: n.clone(),
                        address: None,
                    },
                );
                spec.unit = Some("rke2-server".into());
                spec.backlog = 0;
                spec.backpressure = Backpressure::Drop;
                LogStream::spawn(pool.clone(), spec, tx.clone())
            })
            .collect();
        drop(tx);
        let mut buf = LogBuffer::new(Default::default());
        let mut view = LogView::new();
        // Wait for the first line of every node before timing.
        let mut started_nodes = vec![false; nodes.len()];
        let _ = tokio::time::timeout(Duration::from_secs(START_GRACE_SECS), async {
            while started_nodes.iter().any(|s| !s) {
                if let Some(StreamEvent::Lines { node, .. }) = rx.recv().await {
                    started_nodes[node as usize] = true;
                }
            }
        })
        .await;
        let silent = started_nodes.iter().filter(|s| !**s).count();
        if silent > 0 {
            eprintln!("model: {silent} node(s) sent nothing within {START_GRACE_SECS} s");
        }
        let (mut lines, mut dropped) = (0u64, 0u64);
        let started = Instant::now();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
        let (rss_first, mut rss_max, mut rss_last) = (rss_kib(), 0, 0);
        let mut next_sample = Instant::now();
        loop {
            tokio::select! {
                ev = rx.recv() => match ev {
                    Some(StreamEvent::Lines { node, lines: ls, dropped: d }) => {
                        if d > 0 {
                            buf.push_gap(node, None, d);
                            dropped += d;
                        }
                        lines += ls.len() as u64;
                        for l in ls {
                            buf.push(l);
                        }
                        view.update(&buf);
                    }
                    Some(StreamEvent::Status { .. }) => {}
                    None => break,
                },
                _ = tokio::time::sleep_until(deadline) => break,
            }
            if Instant::now() >= next_sample {
                rss_last = rss_kib();
                rss_max = rss_max.max(rss_last);
                next_sample += Duration::from_millis(250);
            }
        }
        let took = started.elapsed().as_secs_f64();
        drop(streams);
        tokio::time::sleep(Duration::from_millis(100)).await;
        pool.close_all().await;
        let _ = std::fs::remove_dir_all(&dir);
        ModelRun {
            lines_per_s: lines as f64 / took,
            dropped,
            rss_first,
            rss_max,
            rss_last,
        }
    })
}

fn main() {
    let Some(lab) = std::env::var_os("HARVCRED_BENCH_LAB") else {
        eprintln!(
            "logs_stream: set HARVCRED_BENCH_LAB to a running lab's folder (10 nodes); see the file's header"
        );
        return;
    };
    let cfg = PathBuf::from(lab).join("ssh_config");
    let rate: u32 = env_or("HARVCRED_BENCH_RATE", 20_000);
    let secs: u64 = env_or("HARVCRED_BENCH_SECS", 8);
    let all: Vec<String> = (1..=10).map(|i| format!("node{i}")).collect();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    set_rate(&cfg, &all, Some(rate));
    std::thread::sleep(Duration::from_secs(2));
    println!("rke2-server at {rate} lines/s per node, {secs} s per measurement");
    println!(
        "{:>5} {:>12} {:>12} {:>12} {:>7} {:>7} {:>9} {:>22}",
        "nodes",
        "raw short/s",
        "raw cat/s",
        "model l/s",
        "/short",
        "/cat",
        "dropped",
        "RSS KiB first/max/last"
    );
    let mut verdict = Verdict::new();
    for n in [1usize, 10] {
        let nodes = &all[..n];
        let short = raw(&cfg, nodes, secs, "short");
        let cat = raw(&cfg, nodes, secs, "cat");
        let m = model(&rt, &cfg, nodes, secs);
        println!(
            "{n:>5} {short:>12.0} {cat:>12.0} {:>12.0} {:>6.0}% {:>6.0}% {:>9} {:>8}/{}/{}",
            m.lines_per_s,
            100.0 * m.lines_per_s / short,
            100.0 * m.lines_per_s / cat,
            m.dropped,
            m.rss_first,
            m.rss_max,
            m.rss_last
        );
        // Issue 5's ceiling: `journalctl -u rke2-server -f | cat`, the
        // default short output.
        verdict.at_least(
            &format!("{n} node(s): model / raw short"),
            100.0 * m.lines_per_s / short,
            80.0,
            "%",
        );
    }
    set_rate(&cfg, &all, None);
    verdict.finish("logs_stream");
}
