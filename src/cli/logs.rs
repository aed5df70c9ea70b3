//! `harvcred logs NODE... [--unit U] [-f] [-n N] [--grep TEXT]`: the journal
//! of rke2-server (or another unit) of one or several nodes on stdout.
//!
//! Every byte from the nodes goes through `logs::sanitize` (a log line must
//! never drive the operator's terminal). Known failures get a hint line.
//! Ends on ctrl-c, SIGTERM and a closed pipe, and then ends the remote
//! journalctl processes before exiting.

use std::collections::HashSet;
use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Result, bail};
use clap::Args;
use tokio::sync::mpsc;

use super::ConnectArgs;
use crate::app::Target;
use crate::config::{Config, Paths};
use crate::logs::{LogLine, Query};
use crate::node::Pool;
use crate::node::stream::{
    Backpressure, LogStream, StreamEvent, StreamSpec, StreamStatus, valid_unit,
};

#[derive(Debug, Clone, Args)]
pub struct LogsArgs {
    /// Nodes, as named in the ssh config (or their addresses).
    #[arg(required = true, value_name = "NODE")]
    pub nodes: Vec<String>,
    /// Unit (default: rke2-server, or rke2-agent on a worker); e.g. rancherd,
    /// rancher-system-agent.
    #[arg(long, short = 'u', value_name = "UNIT")]
    pub unit: Option<String>,
    /// Keep following new lines (until ctrl-c).
    #[arg(long, short = 'f')]
    pub follow: bool,
    /// Lines of history to show first, per node.
    #[arg(long, short = 'n', default_value_t = 10, value_name = "N")]
    pub lines: u32,
    /// Show only lines containing TEXT (case-insensitive unless it has capitals).
    #[arg(long, value_name = "TEXT")]
    pub grep: Option<String>,
}

/// Exit code when a node's log could not be read (monitoring's "unknown").
const EXIT_FAILED: i32 = 3;

pub fn run(args: LogsArgs, connect: &ConnectArgs) -> Result<i32> {
    if let Some(u) = &args.unit
        && !valid_unit(u)
    {
        bail!("not a unit name: {}", crate::logs::sanitize_str(u));
    }
    let paths = Paths::from_env();
    let config = Config::load(&paths.config_file())?;
    std::fs::create_dir_all(&paths.runtime_dir)?;
    let ssh = connect.ssh_settings(&config, &paths);
    let rt = super::runtime()?;
    rt.block_on(stream_to_stdout(args, Pool::new(ssh)))
}

async fn stream_to_stdout(args: LogsArgs, pool: Arc<Pool>) -> Result<i32> {
    let grep = match &args.grep {
        Some(g) => match Query::new(g) {
            Some(q) => Some(q),
            None => bail!("--grep needs some text"),
        },
        None => None,
    };
    let (tx, mut rx) = mpsc::channel::<StreamEvent>(64);
    let mut streams: Vec<LogStream> = args
        .nodes
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let mut spec = StreamSpec::new(
                i as u16,
                Target {
                    name: name.clone(),
                    address: None,
                },
            );
            spec.unit = args.unit.clone();
            spec.backlog = args.lines;
            spec.follow = args.follow;
            // stdout sets the pace; the journal on the node holds the rest.
            spec.backpressure = Backpressure::Wait;
            LogStream::spawn(pool.clone(), spec, tx.clone())
        })
        .collect();
    drop(tx);

    let prefixes: Vec<String> = if args.nodes.len() > 1 {
        args.nodes
            .iter()
            .map(|n| format!("{}: ", crate::logs::sanitize_str(n)))
            .collect()
    } else {
        vec![String::new()]
    };
    let mut out = Output {
        w: std::io::BufWriter::with_capacity(64 << 10, std::io::stdout().lock()),
        prefixes,
        grep,
        hinted: HashSet::new(),
    };
    let mut open = args.nodes.len();
    let mut code = 0;
    let mut sigterm = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let mut pipe_check = tokio::time::interval(Duration::from_millis(200));
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    while open > 0 {
        tokio::select! {
            ev = rx.recv() => {
                let Some(ev) = ev else { break };
                match ev {
                    StreamEvent::Lines { node, lines, dropped } => {
                        if out.lines(node, &lines, dropped).is_err() {
                            break; // closed pipe
                        }
                    }
                    StreamEvent::Status { node, status } => {
                        let name = crate::logs::sanitize_str(&args.nodes[node as usize]);
                        match status {
                            // ssh's errors can carry the node's words.
                            StreamStatus::Retrying { error, after } => eprintln!(
                                "harvcred: {name}: {}; trying again in {:.1}s",
                                crate::logs::sanitize_str(&error),
                                after.as_secs_f32()
                            ),
                            StreamStatus::Failed(e) => {
                                eprintln!("harvcred: {name}: {}", crate::logs::sanitize_str(&e));
                                code = EXIT_FAILED;
                                open -= 1;
                            }
                            StreamStatus::Ended => open -= 1,
                            StreamStatus::Connecting | StreamStatus::Streaming { .. } => {}
                        }
                    }
                }
            }
            _ = &mut ctrl_c => break,
            _ = sigterm.recv() => break,
            // With `-f` on a quiet log nothing is written for a long time:
            // notice a closed pipe (`| head`) without waiting for a line.
            _ = pipe_check.tick() => if stdout_closed() { break },
        }
    }
    // Dropping the streams closes the remote journalctl's stdin; closing the
    // masters then ends their sessions, either way the wrapper kills it.
    streams.clear();
    drop(rx);
    tokio::time::sleep(Duration::from_millis(50)).await;
    pool.close_all().await;
    Ok(code)
}

struct Output<W: Write> {
    w: W,
    prefixes: Vec<String>,
    grep: Option<Query>,
    /// A hint is explained once per node and hint, not on every repeat.
    hinted: HashSet<(u16, &'static str)>,
}

impl<W: Write> Output<W> {
    fn lines(&mut self, node: u16, lines: &[LogLine], dropped: u64) -> std::io::Result<()> {
        let prefix = &self.prefixes[(node as usize).min(self.prefixes.len() - 1)];
        if dropped > 0 {
            writeln!(self.w, "{prefix}[… {dropped} lines not received]")?;
        }
        for l in lines {
            if let Some(q) = &self.grep
                && !q.is_match(l.text())
            {
                continue;
            }
            match l.ts() {
                Some(ts) => writeln!(self.w, "{prefix}{} {}", ts.clock(), l.text())?,
                None => writeln!(self.w, "{prefix}{}", l.text())?,
            }
            if let Some(h) = l.hint()
                && self.hinted.insert((node, h.id))
            {
                writeln!(
                    self.w,
                    "{prefix}  ↳ hint: {} {} (in the console: {})",
                    h.title,
                    h.action,
                    h.goto.command()
                )?;
            }
        }
        self.w.flush()
    }
}

/// True when stdout is a pipe whose reader has gone.
fn stdout_closed() -> bool {
    let mut p = libc::pollfd {
        fd: libc::STDOUT_FILENO,
        events: 0,
        revents: 0,
    };
    // SAFETY: one valid pollfd, zero timeout.
    let n = unsafe { libc::poll(&mut p, 1, 0) };
    n > 0 && p.revents & (libc::POLLERR | libc::POLLHUP) != 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logs::Timestamp;

    /// Every hostile corpus line (issue 19), at full length and cut, comes
    /// out of `harvcred logs` escaped.
    #[test]
    fn hostile_lines_are_printed_escaped() {
        let mut o = out(&["n1: "], None);
        let mut n = 0;
        for (_, raw) in crate::testing::hostile::corpus() {
            let lines = [
                LogLine::new(0, Some(Timestamp::from_unix(0, 0)), &raw, 4096),
                LogLine::new(0, None, &raw, 64),
            ];
            o.lines(0, &lines, 0).unwrap();
            n += 1;
        }
        let printed = String::from_utf8(std::mem::take(&mut o.w)).unwrap();
        assert_eq!(printed.lines().count(), 2 * n);
        crate::testing::hostile::assert_inert("harvcred logs", "any", &printed);
        assert!(printed.contains("\\e]52;c;cm0gLXJmIH4K\\a"), "{printed}");
    }

    fn out(prefixes: &[&str], grep: Option<&str>) -> Output<Vec<u8>> {
        Output {
            w: Vec::new(),
            prefixes: prefixes.iter().map(|s| s.to_string()).collect(),
            grep: grep.and_then(Query::new),
            hinted: HashSet::new(),
        }
    }

    #[test]
    fn lines_are_prefixed_sanitised_and_hinted_once() {
        let mut o = out(&["node1: ", "node2: "], None);
        let ts = Some(Timestamp::from_unix(0, 0));
        let bad = LogLine::new(0, ts, b"evil \x1b]52;c;aGk=\x07 line", 1024);
        let hint = LogLine::new(
            1,
            ts,
            b"level=fatal msg=\"starting kubernetes: preparing server: failed to validate token: 502 Bad Gateway getting cacerts\"",
            1024,
        );
        o.lines(0, &[bad], 0).unwrap();
        o.lines(1, &[hint.clone(), hint], 3).unwrap();
        let s = String::from_utf8(o.w).unwrap();
        assert!(!s.contains('\x1b'), "{s}");
        assert!(
            s.starts_with("node1: 00:00:00.000 evil \\e]52;c;aGk=\\a line\n"),
            "{s}"
        );
        assert!(s.contains("node2: [… 3 lines not received]"));
        assert_eq!(s.matches("↳ hint").count(), 1, "{s}");
    }

    #[test]
    fn grep_keeps_only_matching_lines() {
        let mut o = out(&[""], Some("cacerts"));
        let a = LogLine::new(0, None, b"getting cacerts", 100);
        let b = LogLine::new(0, None, b"all fine", 100);
        o.lines(0, &[a, b], 0).unwrap();
        assert_eq!(String::from_utf8(o.w).unwrap(), "getting cacerts\n");
    }
}
