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

use crate::model::{SshProblem, SshProblemKind, SshState, Target};

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
    /// harvcred's own folder for control sockets and the ssh config it hands
    /// to ssh; why it could not be made, if so (then nothing connects).
    private: Result<PrivateDir, String>,
}

/// A 0700 folder of ours, made fresh (never an existing path, so never
/// through someone's symlink), holding the control sockets and `ssh_config`.
struct PrivateDir {
    dir: PathBuf,
    ssh_config: PathBuf,
}

/// Options forced on every node connection, whatever the operator's ssh
/// config says: ssh takes the first value it reads, and these come before
/// the operator's config is included. A node (or whoever took its address)
/// must not get the operator's agent, and harvcred must not run the
/// operator's LocalCommand on each connection.
const FORCED_SSH_OPTIONS: &str =
    "ForwardAgent no\nPermitLocalCommand no\nForwardX11 no\nClearAllForwardings yes\n";

/// The ssh config harvcred hands to ssh: the forced options, then the
/// operator's config (`-F FILE`, else ~/.ssh/config and /etc/ssh/ssh_config
/// as ssh would read them).
pub fn wrapper_ssh_config(operator_config: Option<&std::path::Path>) -> String {
    let mut text = String::from("# written by harvcred for node connections\n");
    text.push_str(FORCED_SSH_OPTIONS);
    let include = |p: &std::path::Path| format!("Include \"{}\"\n", p.display());
    match operator_config {
        Some(f) => text.push_str(&include(&std::path::absolute(f).unwrap_or(f.to_path_buf()))),
        None => {
            if let Some(home) = std::env::var_os("HOME") {
                text.push_str(&include(&PathBuf::from(home).join(".ssh/config")));
            }
            text.push_str(&include(std::path::Path::new("/etc/ssh/ssh_config")));
        }
    }
    text
}

fn make_private_dir(s: &SshSettings) -> Result<PrivateDir, String> {
    use std::io::Write;
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
    std::fs::create_dir_all(&s.control_dir)
        .map_err(|e| format!("{}: {e}", s.control_dir.display()))?;
    let mut made = None;
    for _ in 0..16 {
        // Short: a control socket path must stay under 108 bytes.
        let dir = s
            .control_dir
            .join(format!("hc-{:08x}", rand::random::<u32>()));
        match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
            Ok(()) => {
                made = Some(dir);
                break;
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(format!("{}: {e}", dir.display())),
        }
    }
    let dir = made.ok_or("no free name for harvcred's control folder")?;
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))
        .map_err(|e| format!("{}: {e}", dir.display()))?;
    let ssh_config = dir.join("ssh_config");
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&ssh_config)
        .and_then(|mut f| f.write_all(wrapper_ssh_config(s.config_file.as_deref()).as_bytes()))
        .map_err(|e| format!("{}: {e}", ssh_config.display()))?;
    Ok(PrivateDir { dir, ssh_config })
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
        let private = make_private_dir(&settings);
        if let Err(e) = &private {
            tracing::error!("harvcred's private ssh folder: {e}");
        }
        Arc::new(Pool {
            settings,
            nodes: Mutex::new(HashMap::new()),
            private,
        })
    }

    fn private(&self) -> Result<&PrivateDir, SshProblem> {
        self.private.as_ref().map_err(|e| {
            other(format!(
                "harvcred's private folder for ssh could not be made ({e}): no node connection without it"
            ))
        })
    }

    /// The folder holding the control sockets (0700, ours).
    /// The limit of one remote operation.
    pub fn op_timeout(&self) -> Duration {
        self.settings.op_timeout
    }

    pub fn control_dir(&self) -> Option<&std::path::Path> {
        self.private.as_ref().ok().map(|p| p.dir.as_path())
    }

    /// The config file handed to ssh (`-F`): forced options, then the operator's.
    pub fn ssh_config_file(&self) -> Option<&std::path::Path> {
        self.private.as_ref().ok().map(|p| p.ssh_config.as_path())
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

    /// One of the node's 8 command slots, then its shared connection (opened
    /// if needed); the slot is held until the permit is dropped.
    async fn slot(&self, t: &Target) -> Result<(OwnedSemaphorePermit, Arc<Session>), ExecError> {
        let c = self.conn(&t.name);
        let permit = c
            .permits
            .clone()
            .acquire_owned()
            .await
            .expect("semaphore never closed");
        let session = self.session(&c, t).await.map_err(ExecError::Ssh)?;
        Ok((permit, session))
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
        self.exec_capped(t, program, args, usize::MAX).await
    }

    /// Like [`Pool::exec`], with `input` written to the command's stdin (then
    /// closed): the one way content that may carry a secret reaches a node.
    /// The whole exchange, input included, is under the operation timeout.
    pub async fn exec_with_stdin(
        &self,
        t: &Target,
        program: &str,
        args: &[&str],
        input: &[u8],
    ) -> Result<std::process::Output, ExecError> {
        self.exec_with_stdin_within(t, program, args, input, self.settings.op_timeout)
            .await
    }

    /// [`Pool::exec_with_stdin`] with the exchange under `limit` instead of
    /// the operation timeout (a write paused at a fault point on the node).
    pub async fn exec_with_stdin_within(
        &self,
        t: &Target,
        program: &str,
        args: &[&str],
        input: &[u8],
        limit: Duration,
    ) -> Result<std::process::Output, ExecError> {
        self.run(t, program, args, Some(input), usize::MAX, limit)
            .await
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
        self.run(t, program, args, None, max_stdout, self.settings.op_timeout)
            .await
    }

    /// One command, its stdin `input` (or none), its stdout read through
    /// [`read_capped`] (what a node answers may be token or hash material:
    /// no copy of it is freed unwiped); the exchange under `limit`, the
    /// spawn under the operation timeout.
    async fn run(
        &self,
        t: &Target,
        program: &str,
        args: &[&str],
        input: Option<&[u8]>,
        max_stdout: usize,
        limit: Duration,
    ) -> Result<std::process::Output, ExecError> {
        use openssh::Stdio;
        use tokio::io::AsyncWriteExt;
        let (_permit, session) = self.slot(t).await?;
        let op = self.settings.op_timeout;
        let spawned = opening_again_if_refused(op, || async {
            session
                .command(program)
                .args(args)
                .stdin(if input.is_some() {
                    Stdio::piped()
                } else {
                    Stdio::null()
                })
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
        let exchange = async {
            let mut out = child.stdout().take().expect("stdout is piped");
            let mut err = child.stderr().take().expect("stderr is piped");
            let mut stdin = child.stdin().take();
            let write = async {
                if let (Some(w), Some(input)) = (stdin.as_mut(), input) {
                    // A command that exits before reading everything closes
                    // the pipe; its exit status says why, so the error is moot.
                    let _ = w.write_all(input).await;
                    let _ = w.shutdown().await;
                }
                drop(stdin);
                Ok::<_, ExecError>(())
            };
            let (_, stdout, stderr) = tokio::try_join!(
                write,
                async {
                    read_capped(&mut out, max_stdout)
                        .await
                        .map_err(|e| ExecError::Other(openssh::Error::ChildIo(e)))?
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
        match timeout(limit, exchange).await {
            Ok(r) => r,
            Err(_) => Err(ExecError::Timeout(limit)),
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
        let (permit, session) = self.slot(t).await?;
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
    /// The node's name and address come from the API (untrusted): each
    /// reaches ssh only when it is an IP or a strict host name, so neither
    /// can be an option (`-oProxyCommand=…`) or a URL (`ssh://user@host:port`).
    pub async fn resolve(&self, t: &Target) -> Result<Resolved, SshProblem> {
        let address = match &t.address {
            Some(a) => Some(safe_destination(a).ok_or_else(|| SshProblem {
                kind: SshProblemKind::NoAddress,
                detail: format!(
                    "the node's address {:?} is neither an IP nor a host name: not handed to ssh",
                    crate::logs::sanitize_str(a)
                ),
            })?),
            None => None,
        };
        let by_name = match safe_destination(&t.name) {
            Some(name) => Some(self.ssh_g(&name).await?),
            None => None,
        };
        let r = match (by_name, address) {
            (Some(by_name), _) if by_name.hostname != t.name => by_name,
            (_, Some(addr)) => self.ssh_g(&addr).await?,
            (Some(by_name), None) => by_name,
            (None, None) => {
                return Err(SshProblem {
                    kind: SshProblemKind::NoAddress,
                    detail: "no address, and the node's name is not a host name ssh may be given"
                        .into(),
                });
            }
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
        let private = self.private()?;
        let mut cmd = Command::new("ssh");
        cmd.arg("-G").arg("-F").arg(&private.ssh_config);
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
        let private = self.private()?;
        let (connect_timeout, limit) = handshake_limits(s.connect_timeout, slow);
        let mut b = SessionBuilder::default();
        b.user(s.user.clone())
            .known_hosts_check(KnownHosts::Strict)
            .connect_timeout(connect_timeout)
            .server_alive_interval(Duration::from_secs(15))
            .control_directory(&private.dir)
            .control_persist(ControlPersist::IdleFor(s.persist_idle))
            .config_file(&private.ssh_config);
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
        // No stdio of ours: an inherited stdin is handed to the master,
        // which then reads the console's terminal while `true` runs and
        // keys typed meanwhile are lost (seen as a dropped Enter).
        let probe = || async {
            session
                .command("true")
                .stdin(openssh::Stdio::null())
                .stdout(openssh::Stdio::null())
                .stderr(openssh::Stdio::null())
                .status()
                .await
        };
        match opening_again_if_refused(op, probe).await {
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
        if let Ok(p) = &self.private {
            // Only our own config file is left once every master is gone;
            // a master still running keeps its socket folder, and the folder.
            let _ = std::fs::remove_file(&p.ssh_config);
            if std::fs::remove_dir(&p.dir).is_err() {
                let _ = std::fs::write(
                    &p.ssh_config,
                    wrapper_ssh_config(self.settings.config_file.as_deref()),
                );
            }
        }
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

/// `s` when it is an IP address or a strict host name (RFC 1123 labels of
/// letters, digits and inner hyphens), else None.
pub fn safe_destination(s: &str) -> Option<String> {
    if s.parse::<std::net::IpAddr>().is_ok() {
        return Some(s.to_string());
    }
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    };
    (s.len() <= 253 && s.split('.').all(label_ok)).then(|| s.to_string())
}

/// Everything `r` sends, or None once it passes `max` bytes.
pub async fn read_capped<R: tokio::io::AsyncRead + Unpin>(
    r: &mut R,
    max: usize,
) -> std::io::Result<Option<Vec<u8>>> {
    use tokio::io::AsyncReadExt;
    let mut buf = zeroize::Zeroizing::new(Vec::new());
    let mut chunk = zeroize::Zeroizing::new(vec![0u8; 16 * 1024]);
    loop {
        let n = r.read(&mut chunk).await?;
        if n == 0 {
            return Ok(Some(std::mem::take(&mut *buf)));
        }
        if n > max - buf.len() {
            return Ok(None);
        }
        crate::hardening::extend_wiped(&mut buf, &chunk[..n]);
    }
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
    } else if lower.contains("host key is known for") {
        SshProblemKind::HostKeyUnknown(Vec::new())
    } else if lower.contains("host key verification failed") {
        // Without OpenSSH's banner nothing says the key is merely unknown.
        SshProblemKind::HostKeyUnverified
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
        SshProblemKind::HostKeyUnverified => {
            "host key verification failed: the key is unknown or changed (ssh did not say which; its LogLevel hides the reason). Compare the node's fingerprint on its console with known_hosts before trusting anything".to_string()
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

    /// What the API says a node's address or name is reaches ssh only as an
    /// IP or a strict host name: an `ssh://` URL (which ssh would read as
    /// user, host and port) or an option is refused before ssh runs.
    #[tokio::test]
    async fn a_node_address_from_the_api_reaches_ssh_only_as_an_ip_or_host_name() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("config");
        std::fs::write(&cfg, "").unwrap();
        let pool = Pool::new(SshSettings::new(
            "rancher".into(),
            Some(cfg),
            dir.path().to_path_buf(),
        ));
        for (name, address) in [
            ("node1", Some("ssh://root@evil.example:2222")),
            ("node1", Some("-oProxyCommand=touch /tmp/pwned")),
            ("node1", Some("10.0.0.1 -oProxyCommand=x")),
            ("-oProxyCommand=touch /tmp/pwned", None),
            ("ssh://root@evil.example:2222", None),
        ] {
            let t = Target {
                name: name.into(),
                address: address.map(String::from),
            };
            let e = pool.resolve(&t).await.unwrap_err();
            assert_eq!(
                e.kind,
                SshProblemKind::NoAddress,
                "{name} {address:?}: {e:?}"
            );
        }
        for (name, address, host) in [
            ("node1", Some("10.0.0.1"), "10.0.0.1"),
            ("node1", Some("fd00::5"), "fd00::5"),
            (
                "harvester-node-1.lab.example",
                None,
                "harvester-node-1.lab.example",
            ),
        ] {
            let t = Target {
                name: name.into(),
                address: address.map(String::from),
            };
            assert_eq!(pool.resolve(&t).await.unwrap().hostname, host);
        }
    }

    /// The operator's ForwardAgent and LocalCommand never apply to node
    /// connections, the rest of their config does; control sockets live in a
    /// fresh 0700 folder of ours.
    #[tokio::test]
    async fn node_connections_never_forward_the_agent_or_run_local_commands() {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("operator config");
        std::fs::write(
            &cfg,
            "Host node1\n  HostName 10.9.9.9\n  Port 2222\nHost *\n  ForwardAgent yes\n  PermitLocalCommand yes\n  LocalCommand touch /tmp/harvcred-pwned\n",
        )
        .unwrap();
        let pool = Pool::new(SshSettings::new(
            "rancher".into(),
            Some(cfg),
            dir.path().to_path_buf(),
        ));
        let r = pool
            .resolve(&Target {
                name: "node1".into(),
                address: None,
            })
            .await
            .unwrap();
        assert_eq!((r.hostname.as_str(), r.port), ("10.9.9.9", 2222));
        let out = std::process::Command::new("ssh")
            .arg("-G")
            .arg("-F")
            .arg(pool.ssh_config_file().unwrap())
            .arg("node1")
            .output()
            .unwrap();
        let g = String::from_utf8_lossy(&out.stdout);
        assert!(g.lines().any(|l| l == "forwardagent no"), "{g}");
        assert!(g.lines().any(|l| l == "permitlocalcommand no"), "{g}");
        let control = pool.control_dir().unwrap();
        let m = std::fs::symlink_metadata(control).unwrap();
        assert!(m.is_dir());
        assert_eq!(m.permissions().mode() & 0o777, 0o700);
        assert_eq!(m.uid(), std::fs::metadata(dir.path()).unwrap().uid());
        assert!(control.starts_with(dir.path()));
        // Two pools never share a folder.
        let other = Pool::new(SshSettings::new(
            "rancher".into(),
            None,
            dir.path().to_path_buf(),
        ));
        assert_ne!(other.control_dir().unwrap(), control);
    }

    #[tokio::test]
    async fn a_node_answer_is_read_up_to_its_cap_and_no_further() {
        let big = vec![b'x'; 3000];
        assert_eq!(
            read_capped(&mut &big[..], 3000)
                .await
                .unwrap()
                .unwrap()
                .len(),
            3000
        );
        assert_eq!(read_capped(&mut &big[..], 2999).await.unwrap(), None);
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
        // No banner (LogLevel QUIET): could be a changed key, never "add it".
        let bare = classify_ssh("Host key verification failed.\r\n");
        assert_eq!(bare.kind, SshProblemKind::HostKeyUnverified);
        assert!(
            bare.detail.contains("unknown or changed"),
            "{}",
            bare.detail
        );
        assert!(!bare.detail.contains("add"), "{}", bare.detail);
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
