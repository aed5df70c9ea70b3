//! Live logs of one (node, unit): `journalctl -u UNIT -f -o short-unix` on the node
//! over its pooled connection, read in batches, parsed and sanitised into
//! [`LogLine`]s, sent over a bounded channel.
//!
//! Three things matter here more than speed:
//! - **Nothing stays behind on the node.** openssh cannot signal a remote
//!   process (`Child::disconnect` leaves it running), so journalctl runs
//!   under [`WRAPPER`], which kills it when its stdin reaches EOF. We hold
//!   stdin open for the stream's life; dropping the stream, aborting its task
//!   or the death of harvcred (even SIGKILL: the kernel closes our end of the
//!   pipe the mux master reads from) closes it.
//! - **No line twice.** Every entry's timestamp goes into a [`Resume`]; a
//!   new connection continues from the last second seen and drops what was
//!   already shown.
//! - **A dead link is noticed.** A cut link leaves the SSH master hanging and
//!   the stream silent; after [`StreamSpec::stall_check`] of silence the
//!   node is probed and, if it does not answer, the connection is replaced.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncReadExt;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::{Instant, sleep, sleep_until};

use super::pool::{ExecError, Pool};
use crate::logs::{LogLine, NodeId, Resume, ShortLine, Timestamp, level_of, parse_short};
use crate::model::{SshState, Target};

/// Runs `journalctl "$@"` and ends it when stdin reaches EOF (sudo unless
/// root); the shell file says how. A plain file so it can be checked as shell.
pub const WRAPPER: &str = include_str!("../../assets/journal-wrapper.sh");

/// Picks the unit when none is asked for: rke2-agent on a node where only it
/// is enabled (a worker), rke2-server everywhere else.
const DEFAULT_UNIT_SCRIPT: &str = "if systemctl is-enabled --quiet rke2-agent.service 2>/dev/null \
    && ! systemctl is-enabled --quiet rke2-server.service 2>/dev/null; \
    then echo rke2-agent; else echo rke2-server; fi";

/// Lines in one batch at most, and how long a batch waits to fill up: one
/// message per 50 ms at most keeps the app at one redraw per frame.
const MAX_BATCH: usize = 2048;
const BATCH_WINDOW: Duration = Duration::from_millis(50);
const READ_CHUNK: usize = 64 << 10;
/// A line longer than this (JSON, before parsing) is skipped and counted.
const MAX_PENDING: usize = 8 << 20;
const MAX_STDERR: usize = 2048;

/// What to do when the receiver is not keeping up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backpressure {
    /// Stop reading (the node's journal keeps the lines): for `harvcred logs`.
    Wait,
    /// Keep reading and count the lines not delivered: for a pane, which
    /// must never make the node's reader stall behind the UI.
    Drop,
}

#[derive(Clone, Debug)]
pub struct StreamSpec {
    pub node: NodeId,
    pub target: Target,
    /// `None`: decided on the node (rke2-agent on workers, else rke2-server).
    pub unit: Option<String>,
    /// Entries before following (journalctl `--lines`).
    pub backlog: u32,
    pub follow: bool,
    pub max_line_bytes: usize,
    pub backpressure: Backpressure,
    /// Silence after which the node is probed.
    pub stall_check: Duration,
}

impl StreamSpec {
    pub fn new(node: NodeId, target: Target) -> Self {
        StreamSpec {
            node,
            target,
            unit: None,
            backlog: 200,
            follow: true,
            max_line_bytes: crate::logs::Limits::default().max_line_bytes,
            backpressure: Backpressure::Drop,
            stall_check: Duration::from_secs(10),
        }
    }
}

#[derive(Debug)]
pub enum StreamEvent {
    /// `dropped`: lines received but not delivered before this batch.
    Lines {
        node: NodeId,
        lines: Vec<LogLine>,
        dropped: u64,
    },
    Status {
        node: NodeId,
        status: StreamStatus,
    },
}

pub use crate::model::StreamStatus;

/// A running stream; dropping it ends the task and with it the remote
/// journalctl.
pub struct LogStream {
    task: JoinHandle<()>,
}

impl LogStream {
    pub fn spawn(pool: Arc<Pool>, spec: StreamSpec, tx: mpsc::Sender<StreamEvent>) -> LogStream {
        LogStream {
            task: tokio::spawn(run(pool, spec, tx)),
        }
    }

    pub fn is_finished(&self) -> bool {
        self.task.is_finished()
    }
}

impl Drop for LogStream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Is `unit` a plain systemd unit name (so it cannot be taken for anything else)?
pub fn valid_unit(unit: &str) -> bool {
    !unit.is_empty()
        && unit.len() <= 256
        && !unit.starts_with('-')
        && unit
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"@._:-\\".contains(&b))
}

/// Pause before the `n`th retry (n ≥ 1): 0.5 s doubling up to 15 s, plus
/// up to a quarter at random so many nodes do not retry in step.
pub fn backoff(n: u32) -> Duration {
    let base = Duration::from_millis(500)
        .saturating_mul(1 << n.saturating_sub(1).min(5))
        .min(Duration::from_secs(15));
    base + base.mul_f64(rand::random::<f64>() / 4.0)
}

#[derive(Clone, Copy)]
struct Entry {
    ts: Timestamp,
    /// Bytes before the message on the entry's first line: the indentation
    /// of its next lines, taken off them.
    indent: usize,
    priority: Option<u8>,
    /// Already shown before a reconnect: its next lines are skipped too.
    repeat: bool,
}

enum Silence {
    /// The unit has written nothing new.
    Quiet,
    /// The journal has entries newer than the last one shown.
    Behind,
    Unreachable,
}

/// Runs `journalctl "$@"` once, as [`WRAPPER`] does (sudo unless root).
const NEWEST_ENTRY: &str = r#"s=; [ "$(id -u)" = 0 ] || s="sudo -n"; exec $s journalctl "$@""#;

/// Is the newest entry (journalctl's output for `--lines=1`) later than the
/// last entry shown? Before anything was shown there is nothing to compare
/// with (a stream asked for no backlog of a quiet unit): not behind.
fn newer_than_shown(newest: &[u8], shown: &Resume) -> bool {
    let first = newest.split(|&c| c == b'\n').next().unwrap_or_default();
    match (parse_short(first), shown.last_timestamp()) {
        (ShortLine::Entry(e), Some(last)) => e.ts > last,
        _ => false,
    }
}

enum Outcome {
    /// journalctl ended (stdout closed): whether it exited with 0, and
    /// stderr's words if it said any.
    Eof {
        ok: bool,
        error: String,
    },
    Failed(String),
    /// Silent and the node did not answer a probe.
    Stalled,
    ReceiverGone,
}

struct Conn<'a> {
    spec: &'a StreamSpec,
    tx: &'a mpsc::Sender<StreamEvent>,
    resume: &'a mut Resume,
    /// After a reconnect, drop what was already shown.
    skip_repeats: bool,
    /// The entry whose lines are arriving: a multi-line message's next lines
    /// come indented and belong to it.
    entry: Option<Entry>,
    batch: Vec<LogLine>,
    dropped: u64,
    /// Skipping the rest of an over-long line.
    discarding: bool,
    received: u64,
}

async fn run(pool: Arc<Pool>, spec: StreamSpec, tx: mpsc::Sender<StreamEvent>) {
    let node = spec.node;
    let status = |s: StreamStatus| {
        let tx = tx.clone();
        async move {
            tx.send(StreamEvent::Status { node, status: s })
                .await
                .is_ok()
        }
    };
    let mut resume = Resume::new();
    let mut unit = spec.unit.clone();
    let mut failures = 0u32;
    let mut dropped = 0u64;
    loop {
        if !status(StreamStatus::Connecting).await {
            return;
        }
        let outcome = match &unit {
            Some(_) => None,
            None => match default_unit(&pool, &spec.target).await {
                Ok(u) => {
                    unit = Some(u);
                    None
                }
                Err(e) => Some(Outcome::Failed(e.to_string())),
            },
        };
        let mut received = 0;
        let outcome = match outcome {
            Some(o) => o,
            None => {
                let u = unit.clone().expect("unit decided above");
                let mut args = resume.journalctl_args(&u, spec.backlog);
                if !spec.follow {
                    args.retain(|a| a != "--follow");
                }
                let skip_repeats = resume.last_timestamp().is_some();
                let mut c = Conn {
                    spec: &spec,
                    tx: &tx,
                    resume: &mut resume,
                    skip_repeats,
                    entry: None,
                    batch: Vec::new(),
                    dropped,
                    discarding: false,
                    received: 0,
                };
                let o = c.stream(&pool, &u, args).await;
                dropped = c.dropped;
                received = c.received;
                o
            }
        };
        let error = match outcome {
            Outcome::ReceiverGone => return,
            Outcome::Eof { ok: true, .. } if !spec.follow => {
                status(StreamStatus::Ended).await;
                return;
            }
            Outcome::Eof { error, .. } if error.is_empty() => "journalctl ended".to_string(),
            Outcome::Eof { error, .. } => error,
            Outcome::Failed(e) => e,
            Outcome::Stalled => {
                // The master hangs on the dead link: make the next attempt
                // open a new one.
                pool.reset(&spec.target.name).await;
                "no answer from the node (link down?)".to_string()
            }
        };
        if !spec.follow {
            status(StreamStatus::Failed(error)).await;
            return;
        }
        failures = if received > 0 { 1 } else { failures + 1 };
        let after = backoff(failures);
        if !status(StreamStatus::Retrying { error, after }).await {
            return;
        }
        sleep(after).await;
    }
}

async fn default_unit(pool: &Pool, t: &Target) -> Result<String, ExecError> {
    let out = pool.exec(t, "sh", &["-c", DEFAULT_UNIT_SCRIPT]).await?;
    let u = String::from_utf8_lossy(&out.stdout).trim().to_string();
    Ok(if u == "rke2-agent" {
        u
    } else {
        "rke2-server".into()
    })
}

impl Conn<'_> {
    async fn stream(&mut self, pool: &Pool, unit: &str, args: Vec<String>) -> Outcome {
        let mut wrapper_args = vec!["-c".to_string(), WRAPPER.to_string(), "sh".to_string()];
        wrapper_args.extend(args);
        let mut p = match pool
            .spawn_stream(&self.spec.target, "sh", &wrapper_args)
            .await
        {
            Ok(p) => p,
            Err(e) => return Outcome::Failed(e.to_string()),
        };
        // Held, never written: its EOF is what ends the remote journalctl.
        let _stdin = p.child.stdin().take();
        let (Some(mut stdout), Some(mut stderr)) =
            (p.child.stdout().take(), p.child.stderr().take())
        else {
            return Outcome::Failed("no pipes to the remote command".into());
        };
        let streaming = StreamStatus::Streaming { unit: unit.into() };
        if self
            .tx
            .send(StreamEvent::Status {
                node: self.spec.node,
                status: streaming,
            })
            .await
            .is_err()
        {
            return Outcome::ReceiverGone;
        }
        let mut buf: Vec<u8> = Vec::with_capacity(2 * READ_CHUNK);
        let mut ebuf = [0u8; 512];
        let mut err_text: Vec<u8> = Vec::new();
        let mut stderr_open = true;
        let mut batch_due: Option<Instant> = None;
        let mut quiet_since = Instant::now();
        loop {
            if buf.capacity() - buf.len() < READ_CHUNK {
                buf.reserve(READ_CHUNK);
            }
            let wake = batch_due.unwrap_or(quiet_since + self.spec.stall_check);
            tokio::select! {
                r = stdout.read_buf(&mut buf) => match r {
                    Ok(0) => {
                        self.take_lines(&mut buf, true);
                        if !self.flush().await {
                            return Outcome::ReceiverGone;
                        }
                        // Let the last words on stderr arrive.
                        if stderr_open {
                            let _ = tokio::time::timeout(Duration::from_millis(300), async {
                                while let Ok(n) = stderr.read(&mut ebuf).await {
                                    if n == 0 { break; }
                                    keep_stderr(&mut err_text, &ebuf[..n]);
                                }
                            }).await;
                        }
                        drop((stdout, stderr, _stdin));
                        let ok = p.wait(Duration::from_secs(2)).await.is_some_and(|s| s.success());
                        return Outcome::Eof { ok, error: stderr_summary(&err_text) };
                    }
                    Ok(_) => {
                        quiet_since = Instant::now();
                        self.take_lines(&mut buf, false);
                        if self.batch.len() >= MAX_BATCH {
                            if !self.flush().await {
                                return Outcome::ReceiverGone;
                            }
                            batch_due = None;
                        } else if batch_due.is_none() && !self.batch.is_empty() {
                            batch_due = Some(quiet_since + BATCH_WINDOW);
                        }
                    }
                    Err(e) => return Outcome::Failed(format!("reading the log: {e}")),
                },
                r = stderr.read(&mut ebuf), if stderr_open => match r {
                    Ok(0) | Err(_) => stderr_open = false,
                    Ok(n) => keep_stderr(&mut err_text, &ebuf[..n]),
                },
                _ = sleep_until(wake) => {
                    if batch_due.take().is_some() {
                        if !self.flush().await {
                            return Outcome::ReceiverGone;
                        }
                    } else {
                        match self.check_silence(pool, unit).await {
                            Silence::Quiet => quiet_since = Instant::now(),
                            Silence::Behind => return Outcome::Failed(
                                "journalctl stopped following (the journal rotated under it); resuming".into(),
                            ),
                            Silence::Unreachable => return Outcome::Stalled,
                        }
                    }
                }
            }
        }
    }

    /// After [`StreamSpec::stall_check`] of silence: the unit may just be
    /// quiet, the link may be dead, or journalctl may have lost the journal
    /// (`journalctl -f` can miss a file rotated under it, "is truncated,
    /// ignoring file", and then prints nothing while the unit logs on). The
    /// unit's newest entry tells them apart.
    async fn check_silence(&self, pool: &Pool, unit: &str) -> Silence {
        let unit_arg = format!("--unit={unit}");
        let args = [
            "-c",
            NEWEST_ENTRY,
            "sh",
            &unit_arg,
            "--lines=1",
            "--all",
            "--quiet",
            "--no-pager",
            "--output=short-unix",
        ];
        // The probe first: it dials the port, so a cut link shows in seconds
        // (a command over the hanging master would wait out its timeout).
        if !matches!(pool.probe(&self.spec.target).await, SshState::Up { .. }) {
            return Silence::Unreachable;
        }
        match pool.exec(&self.spec.target, "sh", &args).await {
            Ok(out) if newer_than_shown(&out.stdout, self.resume) => Silence::Behind,
            _ => Silence::Quiet,
        }
    }

    /// Parses every complete line in `buf` into the batch and removes it
    /// from `buf`; at `eof`, also a last line without a newline.
    fn take_lines(&mut self, buf: &mut Vec<u8>, eof: bool) {
        let mut start = 0;
        while let Some(i) = memchr::memchr(b'\n', &buf[start..]) {
            let end = start + i;
            if self.discarding {
                self.discarding = false;
            } else {
                self.line(&buf[start..end]);
            }
            start = end + 1;
        }
        if eof && start < buf.len() && !self.discarding {
            let end = buf.len();
            self.line(&buf[start..end]);
            start = end;
        }
        buf.drain(..start);
        if buf.len() > MAX_PENDING {
            buf.clear();
            self.discarding = true;
            self.dropped += 1;
        }
    }

    fn line(&mut self, raw: &[u8]) {
        if raw.is_empty() {
            return;
        }
        self.received += 1;
        let node = self.spec.node;
        let max = self.spec.max_line_bytes;
        match parse_short(raw) {
            ShortLine::Entry(e) => {
                let repeat = self.skip_repeats && self.resume.is_repeat(e.ts, e.message);
                let priority = level_of(e.message);
                self.entry = Some(Entry {
                    ts: e.ts,
                    indent: raw.len() - e.message.len(),
                    priority,
                    repeat,
                });
                if repeat {
                    return;
                }
                self.resume.observe(e.ts, e.message);
                self.batch
                    .push(LogLine::new(node, Some(e.ts), e.message, max).with_priority(priority));
            }
            ShortLine::Other(text) => match self.entry {
                Some(Entry { repeat: true, .. }) => {}
                Some(Entry {
                    ts,
                    indent,
                    priority,
                    ..
                }) => {
                    let spaces = text.iter().take(indent).take_while(|&&c| c == b' ').count();
                    self.batch.push(
                        LogLine::new(node, Some(ts), &text[spaces..], max).with_priority(priority),
                    );
                }
                None => self.batch.push(LogLine::new(node, None, text, max)),
            },
            // journalctl's own notes (`-- Boot 1a2b… --`): shown as they are.
            ShortLine::Meta(text) => {
                self.entry = None;
                self.batch.push(LogLine::new(node, None, text, max));
            }
        }
    }

    /// Sends the batch; false when nobody listens any more.
    async fn flush(&mut self) -> bool {
        if self.batch.is_empty() {
            return true;
        }
        let ev = StreamEvent::Lines {
            node: self.spec.node,
            lines: std::mem::take(&mut self.batch),
            dropped: self.dropped,
        };
        match self.spec.backpressure {
            Backpressure::Wait => {
                if self.tx.send(ev).await.is_err() {
                    return false;
                }
            }
            Backpressure::Drop => match self.tx.try_send(ev) {
                Ok(()) => {}
                Err(mpsc::error::TrySendError::Full(StreamEvent::Lines { lines, .. })) => {
                    self.dropped += lines.len() as u64;
                    return true;
                }
                Err(mpsc::error::TrySendError::Full(_)) => return true,
                Err(mpsc::error::TrySendError::Closed(_)) => return false,
            },
        }
        self.dropped = 0;
        true
    }
}

fn keep_stderr(acc: &mut Vec<u8>, b: &[u8]) {
    let room = MAX_STDERR.saturating_sub(acc.len());
    acc.extend_from_slice(&b[..b.len().min(room)]);
}

/// The last meaningful line of the remote stderr, sanitised (it is remote
/// text and ends up on a terminal).
fn stderr_summary(b: &[u8]) -> String {
    b.split(|&c| c == b'\n')
        .map(|l| crate::logs::sanitize(l.trim_ascii()).into_owned())
        .rfind(|l| !l.is_empty() && l != "Terminated")
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unit_names_are_plain() {
        assert!(valid_unit("rke2-server"));
        assert!(valid_unit("rancher-system-agent.service"));
        assert!(!valid_unit("--output=cat"));
        assert!(!valid_unit("a b"));
        assert!(!valid_unit(""));
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        assert!(backoff(1) >= Duration::from_millis(500));
        assert!(backoff(1) <= Duration::from_millis(625));
        assert!(backoff(3) >= Duration::from_secs(2));
        assert!(backoff(30) <= Duration::from_millis(18_750));
    }

    #[test]
    fn the_wrapper_ends_journalctl_when_stdin_closes() {
        use std::io::Read;
        use std::os::unix::process::CommandExt;
        use std::process::{Command, Stdio};
        // A fake journalctl that would run forever, on PATH first.
        let d = tempfile::tempdir().unwrap();
        let fake = d.path().join("journalctl");
        std::fs::write(&fake, "#!/bin/sh\necho started \"$@\"\nexec sleep 600\n").unwrap();
        std::process::Command::new("chmod")
            .arg("+x")
            .arg(&fake)
            .status()
            .unwrap();
        let path = format!("{}:{}", d.path().display(), std::env::var("PATH").unwrap());
        // As root the wrapper runs journalctl directly; otherwise `sudo -n`
        // would look elsewhere, so pretend to be root for the test.
        let script = WRAPPER.replace("[ \"$(id -u)\" = 0 ]", "true");
        // Its own process group, so a failed run can be cleaned up whole.
        let mut child = Command::new("sh")
            .args(["-c", &script, "sh", "--unit=x"])
            .env("PATH", path)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .unwrap();
        let group = nix::unistd::Pid::from_raw(child.id() as i32);
        let mut out = child.stdout.take().unwrap();
        let mut first = [0u8; 17];
        out.read_exact(&mut first).unwrap();
        assert_eq!(&first, b"started --unit=x\n");
        drop(child.stdin.take());
        // Our stdout reaches EOF only when every remote process has gone
        // (the fake's sleep holds it open): wait for that with a deadline.
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut rest = Vec::new();
            let _ = tx.send(out.read_to_end(&mut rest).map(|_| rest));
        });
        let eof = rx.recv_timeout(Duration::from_secs(10));
        if eof.is_err() {
            let _ = nix::sys::signal::killpg(group, nix::sys::signal::Signal::SIGKILL);
            let _ = child.wait();
            panic!("journalctl still running 10 s after the wrapper's stdin closed");
        }
        assert!(child.wait().unwrap().code().is_some());
    }

    fn texts(lines: &[LogLine]) -> Vec<(&str, Option<u8>)> {
        lines.iter().map(|l| (l.text(), l.priority())).collect()
    }

    /// Feeds `chunks` as reads from journalctl and returns what the batch got.
    fn feed(resume: &mut Resume, skip_repeats: bool, chunks: &[&[u8]]) -> Vec<LogLine> {
        let spec = StreamSpec::new(
            3,
            Target {
                name: "node1".into(),
                address: None,
            },
        );
        let (tx, _rx) = mpsc::channel(1);
        let mut c = Conn {
            spec: &spec,
            tx: &tx,
            resume,
            skip_repeats,
            entry: None,
            batch: Vec::new(),
            dropped: 0,
            discarding: false,
            received: 0,
        };
        let mut buf = Vec::new();
        for (i, chunk) in chunks.iter().enumerate() {
            buf.extend_from_slice(chunk);
            c.take_lines(&mut buf, i + 1 == chunks.len());
        }
        std::mem::take(&mut c.batch)
    }

    #[test]
    fn entries_split_anywhere_come_out_whole_with_their_level() {
        let out: &[u8] = b"1795971835.000001 node1 rke2[7]: time=\"x\" level=error msg=\"boom\"\n\
1795971835.000002 node1 rke2[7]: panic: runtime error\n\
                                 goroutine 1 [running]:\n\
                                 \tmain.go:12\n\
-- Boot 0123abcd --\n\
1795971836.5 node1 rke2[9]: I1129 17:03:55.123456 1 x.go:1] started";
        let whole = feed(&mut Resume::new(), false, &[out]);
        assert_eq!(
            texts(&whole),
            [
                ("time=\"x\" level=error msg=\"boom\"", Some(3)),
                ("panic: runtime error", None),
                // The next lines of a message, without journalctl's indent.
                ("goroutine 1 [running]:", None),
                // A tab is shown as spaces.
                ("        main.go:12", None),
                ("-- Boot 0123abcd --", None),
                ("I1129 17:03:55.123456 1 x.go:1] started", Some(6)),
            ]
        );
        assert!(whole.iter().all(|l| l.node() == 3));
        assert_eq!(whole[3].ts(), Some(Timestamp(1_795_971_835_000_002)));
        // Cut into reads at every byte: the same lines.
        for at in 1..out.len() {
            let split = feed(&mut Resume::new(), false, &[&out[..at], &out[at..]]);
            assert_eq!(texts(&split), texts(&whole), "split at {at}");
        }
    }

    #[test]
    fn a_resumed_connection_shows_nothing_twice() {
        let mut resume = Resume::new();
        let first =
            b"1795971835.000001 n u: a\n1795971835.000002 n u: b\n             b's second line\n";
        assert_eq!(feed(&mut resume, false, &[first]).len(), 3);
        // `--since=@1795971835` delivers the same second again, then more.
        let again =
            b"1795971835.000001 n u: a\n1795971835.000002 n u: b\n             b's second line\n\
1795971835.000002 n u: c at the same microsecond\n1795971836.000000 n u: d\n";
        let shown = feed(&mut resume, true, &[again]);
        assert_eq!(
            shown.iter().map(|l| l.text()).collect::<Vec<_>>(),
            ["c at the same microsecond", "d"]
        );
    }

    #[test]
    fn silence_is_a_stuck_journalctl_only_when_the_journal_moved_on() {
        let mut shown = Resume::new();
        assert!(!newer_than_shown(b"1795971835.000001 n u: a\n", &shown));
        shown.observe(Timestamp(1_795_971_835_000_001), b"a");
        assert!(!newer_than_shown(b"1795971835.000001 n u: a\n", &shown));
        assert!(newer_than_shown(b"1795971840.000000 n u: later\n", &shown));
        assert!(!newer_than_shown(b"", &shown));
        assert!(!newer_than_shown(b"sudo: a password is required\n", &shown));
    }

    #[test]
    fn stderr_summary_keeps_the_last_words_sanitised() {
        assert_eq!(
            stderr_summary(b"sudo: a password is required\n\x1b[2Jx\nTerminated\n"),
            "\\e[2Jx"
        );
        assert_eq!(stderr_summary(b""), "");
    }
}
