//! What every benchmark shares: telling `cargo bench` from `cargo test`, the
//! sizes for each, and the verdict against the targets.
//!
//! `cargo bench` passes `--bench`: full sizes, figures printed against their
//! targets, exit 1 when one is missed. `cargo test --all-targets` (or
//! `cargo test --benches`) runs the same binary without it: a smoke run at
//! small sizes in a debug build, figures printed for information only.
#![allow(dead_code)]

use std::time::{Duration, Instant};

/// True under `cargo bench` (and not `cargo bench -- --test`).
pub fn benchmarking() -> bool {
    let args: Vec<String> = std::env::args().collect();
    args.iter().any(|a| a == "--bench") && !args.iter().any(|a| a == "--test")
}

/// `full` when benchmarking, `smoke` under `cargo test`.
pub fn sized<T>(full: T, smoke: T) -> T {
    if benchmarking() { full } else { smoke }
}

/// Median wall time of `runs` calls of `f` (after one warm-up call).
pub fn median_time(runs: usize, mut f: impl FnMut()) -> Duration {
    f();
    let mut v: Vec<Duration> = (0..runs.max(1))
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .collect();
    v.sort();
    v[v.len() / 2]
}

/// The figures of one benchmark against their targets.
#[derive(Default)]
pub struct Verdict {
    rows: Vec<(String, String, String, bool)>,
}

impl Verdict {
    pub fn new() -> Verdict {
        Verdict::default()
    }

    /// `measured` must be at most `target` (a time, a ratio).
    pub fn at_most(&mut self, what: &str, measured: f64, target: f64, unit: &str) {
        self.rows.push((
            what.to_string(),
            format!("{measured:.3} {unit}"),
            format!("<= {target} {unit}"),
            measured <= target,
        ));
    }

    /// `measured` must be at least `target` (a rate, a share).
    pub fn at_least(&mut self, what: &str, measured: f64, target: f64, unit: &str) {
        self.rows.push((
            what.to_string(),
            format!("{measured:.3} {unit}"),
            format!(">= {target} {unit}"),
            measured >= target,
        ));
    }

    /// Prints the table; when benchmarking, exits 1 if a target was missed.
    pub fn finish(self, bench: &str) {
        let mode = if benchmarking() {
            "benchmark"
        } else {
            "smoke run (debug build, small sizes: figures are not judged)"
        };
        println!("\n{bench}: figures against targets ({mode})");
        for (what, measured, target, met) in &self.rows {
            let mark = if !benchmarking() {
                "-"
            } else if *met {
                "met"
            } else {
                "MISSED"
            };
            println!("  {what:<62} {measured:>18}  target {target:<16} {mark}");
        }
        let missed = self.rows.iter().filter(|r| !r.3).count();
        if benchmarking() && missed > 0 {
            eprintln!("{bench}: {missed} target(s) missed");
            std::process::exit(1);
        }
    }
}
