//! The session pool: one multiplexed connection per node (openssh,
//! native-mux), reused, with a bounded lifetime; at most 8 commands at a time
//! per node; a hard timeout on every operation; strict host-key checking.

use std::collections::HashMap;
use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use openssh::{ControlPersist, KnownHosts, Session, SessionBuilder};
use sha2::{Digest, Sha256};
use tokio::process::Command;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::timeout;

use crate::app::{SshProblem, SshProblemKind, SshState, Target};

/// sshd's default MaxSessions is 10; stay under it with room for an
/// interactive `ssh` of the operator's own.
pub const MAX_COMMANDS_PER_NODE: usize = 8;

#[derive(Debug, Clone)]
pub struct SshSettings {
    pub user: String,
    /// `-F FILE`; None = ~/.ssh/config.
    pub config_file: Option<PathBuf>,
    /// Where control sockets go: keep the path short (108-byte limit).
    pub control_dir: PathBuf,
    pub connect_timeout: Duration,
    /// Hard limit on any single mux operation.
    pub op_timeout: Duration,
    /// A master exits after this long without use, so a killed console
    /// leaves none behind for long.
    pub persist_idle: NonZeroUsize,
}

impl SshSettings {
    pub fn new(user: String, config_file: Option<PathBuf>, control_dir: PathBuf) -> Self {
        SshSettings {
            user,
            config_file,
            control_dir,
            connect_timeout: Duration::from_secs(5),
            op_timeout: Duration::from_secs(8),
            persist_idle: NonZeroUsize::new(30).unwrap(),
        }
    }
}

/// What `ssh -G` says about a destination.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resolved {
    /// What to hand to ssh: the node's name when the ssh config has an entry
    /// for it, otherwise its address.
    pub destination: String,
    pub hostname: String,
    pub port: u16,
    /// A ProxyJump/ProxyCommand: then the node is not dialled directly.
    pub proxied: bool,
}

struct NodeConn {
    /// Shared so a long-lived stream can hold its permit without borrowing.
    permits: Arc<Semaphore>,
    session: tokio::sync::Mutex<Option<(Arc<Session>, Resolved)>>,
    /// Handshakes with this node that ran out of time in a row: each next
    /// one gets twice as long (see [`handshake_limits`]).
    slow_handshakes: std::sync::atomic::AtomicU32,
}

/// The connections of every node. Shared only between background tasks.
pub struct Pool {
    settings: SshSettings,
    nodes: Mutex<HashMap<String, Arc<NodeConn>>>,
}

#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    #[error("{}", .0.detail)]
    Ssh(SshProblem),
    #[error("timed out after {0:?}")]
    Timeout(Duration),
    #[error("the node sent more than {0} bytes; the rest was not read")]
    TooMuchOutput(usize),
    #[error("{0}")]
    Other(#[from] openssh::Error),
}

impl Pool {
    pub fn new(settings: SshSettings) -> Arc<Pool> {
        Arc::new(Pool {
            settings,
            nodes: Mutex::new(HashMap::new()),
        })
    }

    fn conn(&self, name: &str) -> Arc<NodeConn> {
        let mut m = self.nodes.lock().expect("pool map");
        m.entry(name.to_string())
            .or_insert_with(|| {
                Arc::new(NodeConn {
                    permits: Arc::new(Semaphore::new(MAX_COMMANDS_PER_NODE)),
                    session: tokio::sync::Mutex::new(None),
                    slow_handshakes: Default::default(),
                })
            })
            .clone()
    }

    /// Run `program args...` on a node over its shared connection (opened if
    /// needed), waiting for one of the node's 8 slots. Arguments are
    /// shell-escaped by openssh; never pass secrets here (use stdin).
    pub async fn exec(
        &self,
        t: &Target,
        program: &str,
        args: &[&str],
    ) -> Result<std::process::Output, ExecError> {
        let c = self.conn(&t.name);
        let _permit = c.permits.acquire().await.expect("semaphore never closed");
        let session = self.session(&c, t).await.map_err(ExecError::Ssh)?;
        let op = self.settings.op_timeout;
        match opening_again_if_refused(op, || async {
            session.command(program).args(args).output().await
        })
        .await
        {
            Ok(r) => Ok(r?),
            Err(_) => Err(ExecError::Timeout(op)),
        }
    }

    /// Like [`Pool::exec`], but stops reading once stdout passes
    /// `max_stdout` bytes (then [`ExecError::TooMuchOutput`]): a node's
    /// answer never grows harvcred's memory without bound.
    pub async fn exec_capped(
        &self,
        t: &Target,
        program: &str,
        args: &[&str],
        max_stdout: usize,
    ) -> Result<std::process::Output, ExecError> {
        use openssh::Stdio;
        let c = self.conn(&t.name);
        let _permit = c.permits.acquire().await.expect("semaphore never closed");
        let session = self.session(&c, t).await.map_err(ExecError::Ssh)?;
        let op = self.settings.op_timeout;
        let run = async {
            let spawned = opening_again_if_refused(op, || async {
                session
                    .command(program)
                    .args(args)
                    .stdin(Stdio::null())
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .await
            })
            .await;
            let mut child = match spawned {
                Ok(r) => r?,
                Err(_) => return Err(ExecError::Timeout(op)),
            };
            let mut out = child.stdout().take().expect("stdout is piped");
            let mut err = child.stderr().take().expect("stderr is piped");
            let (stdout, stderr) = tokio::try_join!(
                async {
                    read_capped(&mut out, max_stdout)
                        .await
                        .ok_or(ExecError::TooMuchOutput(max_stdout))
                },
                async { Ok(read_capped_draining(&mut err, 64 * 1024).await) },
            )?;
            let status = child.wait().await?;
            Ok(std::process::Output {
                status,
                stdout,
                stderr,
            })
        };
        match timeout(op, run).await {
            Ok(r) => r,
            Err(_) => Err(ExecError::Timeout(op)),
        }
    }

    /// Start a long-running remote command (a log stream) with stdin, stdout
    /// and stderr piped. It holds one of the node's 8 slots until the
    /// returned [`RemoteProcess`] is dropped. Only the spawn is under the
    /// operation timeout; the command itself runs as long as the caller wants.
    ///
    /// Dropping the process does **not** stop the remote command (openssh
    /// cannot signal it): run it under a wrapper that exits when its stdin
    /// reaches EOF, which dropping [`RemoteProcess::stdin`] causes.
    pub async fn spawn_stream(
        &self,
        t: &Target,
        program: &str,
        args: &[String],
    ) -> Result<RemoteProcess, ExecError> {
        use openssh::Stdio;
        let c = self.conn(&t.name);
        let permit = c
            .permits
            .clone()
            .acquire_owned()
            .await
            .expect("semaphore never closed");
        let session = self.session(&c, t).await.map_err(ExecError::Ssh)?;
        let op = self.settings.op_timeout;
        let spawned = opening_again_if_refused(op, || async {
            session
                .clone()
                .arc_command(program)
                .args(args)
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .await
        })
        .await;
        match spawned {
            Ok(Ok(child)) => Ok(RemoteProcess {
                child,
                _permit: permit,
            }),
            Ok(Err(e)) => Err(ExecError::Other(e)),
            Err(_) => Err(ExecError::Timeout(op)),
        }
    }

    /// Forget a node's connection (it hangs or died) so the next command
    /// opens a new one. The master exits once nothing uses it any more.
    pub async fn reset(&self, name: &str) {
        let c = self.nodes.lock().expect("pool map").get(name).cloned();
        if let Some(c) = c {
            self.drop_session(&c).await;
        }
    }

    /// The node's session, connecting when there is none.
    async fn session(&self, c: &NodeConn, t: &Target) -> Result<Arc<Session>, SshProblem> {
        let mut slot = c.session.lock().await;
        if let Some((s, _)) = slot.as_ref() {
            return Ok(s.clone());
        }
        let r = self.resolve(t).await?;
        use std::sync::atomic::Ordering::Relaxed;
        let slow = c.slow_handshakes.load(Relaxed);
        let s = match self.connect(&r, slow).await {
            Ok(s) => Arc::new(s),
            Err(p) => {
                if p.kind == SshProblemKind::Timeout {
                    c.slow_handshakes.store(slow.saturating_add(1), Relaxed);
                }
                return Err(p);
            }
        };
        c.slow_handshakes.store(0, Relaxed);
        *slot = Some((s.clone(), r));
        Ok(s)
    }

    /// Find out the real host, port and proxying for a node from the ssh config.
    pub async fn resolve(&self, t: &Target) -> Result<Resolved, SshProblem> {
        let by_name = self.ssh_g(&t.name).await?;
        let r = if by_name.hostname != t.name {
            by_name
        } else if let Some(addr) = &t.address {
            self.ssh_g(addr).await?
        } else {
            by_name
        };
        if r.hostname.is_empty() {
            return Err(SshProblem {
                kind: SshProblemKind::NoAddress,
                detail: "no address and no ssh config entry".into(),
            });
        }
        Ok(r)
    }

    async fn ssh_g(&self, dest: &str) -> Result<Resolved, SshProblem> {
        let mut cmd = Command::new("ssh");
        cmd.arg("-G");
        if let Some(f) = &self.settings.config_file {
            cmd.arg("-F").arg(f);
        }
        cmd.args(["-l", &self.settings.user, "--", dest]);
        cmd.stdin(std::process::Stdio::null());
        let out = match timeout(self.settings.op_timeout, cmd.output()).await {
            Ok(Ok(o)) => o,
            Ok(Err(e)) => return Err(other(format!("running ssh -G: {e}"))),
            Err(_) => return Err(other("ssh -G timed out".into())),
        };
        if !out.status.success() {
            return Err(other(first_line(&String::from_utf8_lossy(&out.stderr))));
        }
        Ok(parse_ssh_g(dest, &String::from_utf8_lossy(&out.stdout)))
    }

    /// `slow`: handshakes with this node that ran out of time just before.
    async fn connect(&self, r: &Resolved, slow: u32) -> Result<Session, SshProblem> {
        let s = &self.settings;
        let (connect_timeout, limit) = handshake_limits(s.connect_timeout, slow);
        let mut b = SessionBuilder::default();
        b.user(s.user.clone())
            .known_hosts_check(KnownHosts::Strict)
            .connect_timeout(connect_timeout)
            .server_alive_interval(Duration::from_secs(15))
            .control_directory(&s.control_dir)
            .control_persist(ControlPersist::IdleFor(s.persist_idle));
        if let Some(f) = &s.config_file {
            b.config_file(f);
        }
        match timeout(limit, b.connect_mux(&r.destination)).await {
            Ok(Ok(sess)) => Ok(sess),
            Ok(Err(e)) => Err(self.explain(r, &e).await),
            Err(_) => Err(SshProblem {
                kind: SshProblemKind::Timeout,
                detail: format!("no SSH connection to {} within {limit:?}", r.hostname),
            }),
        }
    }

    /// Turn an openssh error into what the operator needs to know; for host
    /// key problems, with the fingerprint the host now offers.
    async fn explain(&self, r: &Resolved, e: &openssh::Error) -> SshProblem {
        let text = error_text(e);
        let mut p = classify_ssh(&text);
        if let SshProblemKind::HostKeyUnknown(fps) = &mut p.kind
            && fps.is_empty()
        {
            *fps = keyscan(&r.hostname, r.port, self.settings.op_timeout).await;
        }
        p
    }

    /// Is the node reachable right now? Also keeps its connection fresh: a
    /// dead one is dropped so the next probe reconnects.
    pub async fn probe(&self, t: &Target) -> SshState {
        let c = self.conn(&t.name);
        let Ok(_permit) = c.permits.acquire().await else {
            return SshState::Pending;
        };
        match self.probe_inner(&c, t).await {
            Ok(rtt) => SshState::Up {
                latency_ms: rtt.as_millis().min(u32::MAX as u128) as u32,
            },
            Err(p) => {
                self.drop_session(&c).await;
                SshState::Down(p)
            }
        }
    }

    /// The round trip of a trivial command over the node's connection.
    async fn probe_inner(&self, c: &NodeConn, t: &Target) -> Result<Duration, SshProblem> {
        // An existing master survives sshd being stopped, and hangs when the
        // link is cut: dial the port first when we can reach it directly.
        let resolved = match c.session.lock().await.as_ref() {
            Some((_, r)) => r.clone(),
            None => self.resolve(t).await?,
        };
        if !resolved.proxied {
            tcp_check(&resolved, self.settings.connect_timeout).await?;
        }
        let session = self.session(c, t).await?;
        let op = self.settings.op_timeout;
        let started = Instant::now();
        match opening_again_if_refused(op, || async { session.command("true").status().await })
            .await
        {
            Ok(Ok(st)) if st.success() => Ok(started.elapsed()),
            Ok(Ok(st)) => Err(other(format!("`true` exited with {st}"))),
            Ok(Err(e)) => Err(classify_ssh(&error_text(&e))),
            Err(_) => Err(SshProblem {
                kind: SshProblemKind::Timeout,
                detail: format!("no answer over the SSH connection within {op:?}"),
            }),
        }
    }

    async fn drop_session(&self, c: &NodeConn) {
        let old = c.session.lock().await.take();
        if let Some((s, _)) = old
            && let Ok(s) = Arc::try_unwrap(s)
        {
            // Ask the master to exit now rather than when its idle time runs out.
            let _ = timeout(Duration::from_secs(2), s.close()).await;
        }
    }

    /// Forget a node (it left the cluster) and close its master.
    pub async fn forget(&self, name: &str) {
        let c = self.nodes.lock().expect("pool map").remove(name);
        if let Some(c) = c {
            self.drop_session(&c).await;
        }
    }

    /// Close every master; used on quit.
    pub async fn close_all(&self) {
        let all: Vec<Arc<NodeConn>> = self
            .nodes
            .lock()
            .expect("pool map")
            .drain()
            .map(|(_, c)| c)
            .collect();
        futures::future::join_all(all.iter().map(|c| self.drop_session(c))).await;
    }
}

/// A long-running remote command and the node slot it occupies.
pub struct RemoteProcess {
    pub child: openssh::Child<Arc<Session>>,
    _permit: OwnedSemaphorePermit,
}

impl RemoteProcess {
    /// The remote command's exit status once its output has ended; `None`
    /// when it does not come within `limit` or the connection failed.
    pub async fn wait(self, limit: Duration) -> Option<std::process::ExitStatus> {
        timeout(limit, self.child.wait()).await.ok()?.ok()
    }
}

/// sshd counts a session until it has handled the channel's close, which can
/// trail the exit status we already saw: a burst right after finished commands
/// may hit MaxSessions ("Session open refused by peer") although we never hold
/// more than 8. Nothing ran then, so opening again shortly is safe.
const REFUSED_SESSION_RETRY_MS: [u64; 6] = [25, 50, 100, 200, 400, 800];

/// ssh's ConnectTimeout (TCP connect and the server's banner) and the limit
/// on the whole handshake, after `slow` handshakes with the node ran out of
/// time in a row. A node starved of CPU (at 3 a.m., the one whose logs are
/// needed) can take longer than the usual limits to finish a key exchange;
/// cutting it off at the same point every time would never connect, so each
/// attempt gets twice as long, up to a minute.
pub fn handshake_limits(connect_timeout: Duration, slow: u32) -> (Duration, Duration) {
    let factor = 1u32 << slow.min(4);
    let connect = (connect_timeout * factor).min(Duration::from_secs(30));
    let limit = ((connect_timeout + Duration::from_secs(3)) * factor).min(Duration::from_secs(60));
    (connect, limit.max(connect + Duration::from_secs(3)))
}

fn session_refused(e: &openssh::Error) -> bool {
    error_text(e).contains("open refused")
}

/// Run `attempt` within `limit`, trying again while sshd refuses the session.
async fn opening_again_if_refused<T, F, Fut>(
    limit: Duration,
    mut attempt: F,
) -> Result<Result<T, openssh::Error>, tokio::time::error::Elapsed>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, openssh::Error>>,
{
    timeout(limit, async {
        let mut delays = REFUSED_SESSION_RETRY_MS.iter();
        loop {
            match attempt().await {
                Err(e) if session_refused(&e) => match delays.next() {
                    Some(ms) => tokio::time::sleep(Duration::from_millis(*ms)).await,
                    None => return Err(e),
                },
                done => return done,
            }
        }
    })
    .await
}

/// Everything `r` sends, or None once it passes `max` bytes.
pub async fn read_capped<R: tokio::io::AsyncRead + Unpin>(
    r: &mut R,
    max: usize,
) -> Option<Vec<u8>> {
    use tokio::io::AsyncReadExt;
    let mut buf = Vec::new();
    let n = r.take(max as u64 + 1).read_to_end(&mut buf).await.ok()?;
    (n <= max).then_some(buf)
}

/// The first `max` bytes `r` sends; the rest is read and dropped, so a
/// chatty stderr cannot stall the command.
async fn read_capped_draining<R: tokio::io::AsyncRead + Unpin>(r: &mut R, max: usize) -> Vec<u8> {
    use tokio::io::AsyncReadExt;
    let mut buf = Vec::new();
    let _ = (&mut *r).take(max as u64).read_to_end(&mut buf).await;
    let _ = tokio::io::copy(r, &mut tokio::io::sink()).await;
    buf
}

fn other(detail: String) -> SshProblem {
    SshProblem {
        kind: SshProblemKind::Other,
        detail,
    }
}

fn first_line(s: &str) -> String {
    s.lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("failed")
        .to_string()
}

/// The whole message of an openssh error, including ssh's own stderr.
fn error_text(e: &openssh::Error) -> String {
    crate::cluster::chain_text(e)
}

pub fn parse_ssh_g(dest: &str, out: &str) -> Resolved {
    let mut r = Resolved {
        destination: dest.to_string(),
        port: 22,
        ..Default::default()
    };
    for line in out.lines() {
        let mut it = line.splitn(2, ' ');
        let (Some(k), Some(v)) = (it.next(), it.next()) else {
            continue;
        };
        match k {
            "hostname" => r.hostname = v.trim().to_string(),
            "port" => r.port = v.trim().parse().unwrap_or(22),
            "proxyjump" | "proxycommand" if v.trim() != "none" => r.proxied = true,
            _ => {}
        }
    }
    r
}

async fn tcp_check(r: &Resolved, limit: Duration) -> Result<(), SshProblem> {
    let addr = (r.hostname.as_str(), r.port);
    let where_ = format!("{}:{}", r.hostname, r.port);
    match timeout(limit, tokio::net::TcpStream::connect(addr)).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => {
            use std::io::ErrorKind as K;
            let kind = match e.kind() {
                K::ConnectionRefused => SshProblemKind::Refused,
                K::TimedOut => SshProblemKind::Timeout,
                K::HostUnreachable | K::NetworkUnreachable => SshProblemKind::NoRoute,
                _ if e.to_string().contains("lookup") => SshProblemKind::Resolve,
                _ => SshProblemKind::Other,
            };
            let detail = match kind {
                SshProblemKind::Refused => {
                    format!("{where_}: connection refused (is sshd running?)")
                }
                _ => format!("{where_}: {e}"),
            };
            Err(SshProblem { kind, detail })
        }
        Err(_) => Err(SshProblem {
            kind: SshProblemKind::Timeout,
            detail: format!("{where_}: no answer within {limit:?} (link down or filtered?)"),
        }),
    }
}

/// Read ssh's words: host key trouble first, since it matters most.
pub fn classify_ssh(text: &str) -> SshProblem {
    let lower = text.to_lowercase();
    let kind = if text.contains("REMOTE HOST IDENTIFICATION HAS CHANGED")
        || lower.contains("host key for") && lower.contains("has changed")
    {
        SshProblemKind::HostKeyChanged(changed_fingerprint(text))
    } else if lower.contains("host key is known for")
        || lower.contains("host key verification failed")
    {
        SshProblemKind::HostKeyUnknown(Vec::new())
    } else if lower.contains("permission denied (") || lower.contains("too many authentication") {
        SshProblemKind::Auth
    } else if lower.contains("connection refused") {
        SshProblemKind::Refused
    } else if lower.contains("timed out") {
        SshProblemKind::Timeout
    } else if lower.contains("no route to host") || lower.contains("network is unreachable") {
        SshProblemKind::NoRoute
    } else if lower.contains("could not resolve hostname") {
        SshProblemKind::Resolve
    } else {
        SshProblemKind::Other
    };
    let detail = match &kind {
        SshProblemKind::HostKeyChanged(_) => "host key differs from known_hosts".to_string(),
        SshProblemKind::HostKeyUnknown(_) => {
            "host key not in known_hosts (strict checking)".to_string()
        }
        _ => text
            .lines()
            .map(str::trim)
            .rfind(|l| !l.is_empty() && !l.starts_with("Warning: Permanently added"))
            .unwrap_or("ssh failed")
            .to_string(),
    };
    SshProblem { kind, detail }
}

/// `The fingerprint for the ED25519 key sent by the remote host is\nSHA256:...`
fn changed_fingerprint(text: &str) -> Option<String> {
    let mut lines = text.lines();
    while let Some(l) = lines.next() {
        if let Some(rest) = l.split("The fingerprint for the ").nth(1) {
            let kt = rest.split(' ').next().unwrap_or("");
            let fp = lines.next()?.trim().trim_end_matches('.');
            return Some(format!("{kt} {fp}"));
        }
    }
    None
}

/// The host keys a host offers, as `TYPE SHA256:...` (what `ssh-keygen -l`
/// shows), for the operator to compare; nothing is written anywhere.
pub async fn keyscan(host: &str, port: u16, limit: Duration) -> Vec<String> {
    let out = timeout(
        limit,
        Command::new("ssh-keyscan")
            .args(["-T", "3", "-p", &port.to_string(), "--", host])
            .stdin(std::process::Stdio::null())
            .output(),
    )
    .await;
    match out {
        Ok(Ok(o)) => parse_keyscan(&String::from_utf8_lossy(&o.stdout)),
        _ => Vec::new(),
    }
}

pub fn parse_keyscan(out: &str) -> Vec<String> {
    out.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            let (_host, kt, b64) = (it.next()?, it.next()?, it.next()?);
            let blob = base64::engine::general_purpose::STANDARD.decode(b64).ok()?;
            let fp = base64::engine::general_purpose::STANDARD_NO_PAD.encode(Sha256::digest(&blob));
            let name = match kt {
                "ssh-ed25519" => "ED25519",
                "ssh-rsa" => "RSA",
                k if k.starts_with("ecdsa-") => "ECDSA",
                k => k,
            };
            Some(format!("{name} SHA256:{fp}"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_node_too_slow_to_shake_hands_gets_longer_each_time_up_to_a_minute() {
        let secs = |slow| {
            let (c, l) = handshake_limits(Duration::from_secs(5), slow);
            (c.as_secs(), l.as_secs())
        };
        assert_eq!(secs(0), (5, 8));
        assert_eq!(secs(1), (10, 16));
        assert_eq!(secs(2), (20, 32));
        assert_eq!(secs(3), (30, 60));
        assert_eq!(secs(40), (30, 60));
        // A long configured timeout is still capped, and the whole handshake
        // always leaves time after the TCP connect.
        let (c, l) = handshake_limits(Duration::from_secs(45), 0);
        assert_eq!((c.as_secs(), l.as_secs()), (30, 48));
    }

    #[tokio::test]
    async fn a_node_answer_is_read_up_to_its_cap_and_no_further() {
        let big = vec![b'x'; 3000];
        assert_eq!(read_capped(&mut &big[..], 3000).await.unwrap().len(), 3000);
        assert_eq!(read_capped(&mut &big[..], 2999).await, None);
        let got = read_capped_draining(&mut &big[..], 100).await;
        assert_eq!(got.len(), 100);
    }

    #[test]
    fn ssh_g_output_gives_host_port_and_proxying() {
        let r = parse_ssh_g(
            "node1",
            "user rancher\nhostname 10.1.2.3\nport 2222\nproxyjump none\n",
        );
        assert_eq!(
            (r.hostname.as_str(), r.port, r.proxied),
            ("10.1.2.3", 2222, false)
        );
        let r = parse_ssh_g("n", "hostname n\nport 22\nproxyjump bastion\n");
        assert!(r.proxied);
    }

    #[test]
    fn ssh_errors_are_read_for_the_operator() {
        let changed = "@@@@@\n@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @\n\
            The fingerprint for the ED25519 key sent by the remote host is\n\
            SHA256:abcDEF123.\nHost key verification failed.\n";
        assert_eq!(
            classify_ssh(changed).kind,
            SshProblemKind::HostKeyChanged(Some("ED25519 SHA256:abcDEF123".into()))
        );
        let unknown = "No ED25519 host key is known for 10.0.0.1 and you have requested strict checking.\nHost key verification failed.";
        assert_eq!(
            classify_ssh(unknown).kind,
            SshProblemKind::HostKeyUnknown(vec![])
        );
        let p = classify_ssh("rancher@10.0.0.1: Permission denied (publickey,password).");
        assert_eq!(p.kind, SshProblemKind::Auth);
        assert!(p.detail.contains("Permission denied"));
        assert_eq!(
            classify_ssh("ssh: connect to host 10.0.0.1 port 22: Connection refused").kind,
            SshProblemKind::Refused
        );
    }

    #[test]
    fn keyscan_fingerprint_matches_ssh_keygen() {
        let d = tempfile::tempdir().unwrap();
        let k = d.path().join("k");
        let ok = std::process::Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-C", "t", "-f"])
            .arg(&k)
            .status()
            .unwrap();
        assert!(ok.success());
        let pubkey = std::fs::read_to_string(k.with_extension("pub")).unwrap();
        let out = std::process::Command::new("ssh-keygen")
            .arg("-lf")
            .arg(k.with_extension("pub"))
            .output()
            .unwrap();
        let want = String::from_utf8(out.stdout).unwrap();
        let want = want.split_whitespace().nth(1).unwrap().to_string();
        let fps = parse_keyscan(&format!("# banner\n10.0.0.1 {pubkey}"));
        assert_eq!(fps, vec![format!("ED25519 {want}")]);
    }
}
