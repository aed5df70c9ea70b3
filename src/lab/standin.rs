//! Stand-ins for RKE2 and Rancher's agents inside a lab node: services that
//! log like the real ones (logrus text format, to journald through
//! stdout/stderr), renew certificates and check the token at start as RKE2
//! does, and the `rke2` command's certificate and token subcommands.
//!
//! Run as `harvcred lab standin <program>`; `--root DIR` (hidden) runs against
//! a tree on the host instead of `/`.

use std::fs;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration as StdDuration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use clap::{Args, Parser, Subcommand};
use sha2::{Digest, Sha256};
use time::{Duration, OffsetDateTime};

use super::layout::NODE_SHARE;
use super::pki::{self, AGENT_DIR, CaKind, SERVER_TLS};
use super::seed::{BOOTSTRAP_TOKEN_HASH, RESUME_MARKER, RKE2_VERSION_FILE, rancher_version};

const RKE2_COMMIT: &str = "a3cf6fd5";
const GO_VERSION: &str = "go1.24.6 X:boringcrypto";
const SYSTEM_AGENT_VERSION: &str = "v0.3.13 (b7a4ba8)";
const TOKEN_FILE: &str = "/var/lib/rancher/rke2/server/token";
/// Written by the lab API's planner when a node with expired certificates
/// receives a plan: the PID of the rancher-system-agent that will not apply it.
pub const STALE_PLAN_MARKER: &str = "/var/lib/rancher/agent/harvcred-lab-stale-plan";
const RANCHERD_CONFIG: &str = "/etc/rancher/rancherd/config.yaml";
/// rancherd's rke2 drop-in, then Rancher's, which overrides it.
const RKE2_TOKEN_DROPINS: [&str; 2] = [
    "/etc/rancher/rke2/config.yaml.d/40-rancherd.yaml",
    "/etc/rancher/rke2/config.yaml.d/50-rancher.yaml",
];
/// Lines per second of the steady trickle, when not set by the environment.
const DEFAULT_RATE: f64 = 0.25;
pub const LOG_RATE_ENV: &str = "HARVCRED_LAB_LOG_RATE";

/// `harvcred lab standin ...`
#[derive(Debug, Clone, Args)]
pub struct StandinArgs {
    /// Root of the node's filesystem (tests use a temporary tree).
    #[arg(long, hide = true, default_value = "/")]
    pub root: PathBuf,
    #[command(subcommand)]
    pub program: Program,
}

#[derive(Clone, Subcommand)]
pub enum Program {
    /// rke2-server.service
    Rke2Server,
    /// rke2-agent.service
    Rke2Agent,
    /// rancherd.service
    Rancherd,
    /// rancher-system-agent.service
    RancherSystemAgent,
    /// The `rke2` command (certificate check/rotate, token rotate, --version).
    Rke2 {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// RKE2's `crictl` (`ps`, `rm`/`stop` of the control-plane containers), for
    /// the controller-manager/scheduler certificate workaround.
    Crictl {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
}

/// `Debug` without the `rke2` command's arguments (`token rotate` takes tokens).
impl std::fmt::Debug for Program {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Program::Rke2Server => f.write_str("Rke2Server"),
            Program::Rke2Agent => f.write_str("Rke2Agent"),
            Program::Rancherd => f.write_str("Rancherd"),
            Program::RancherSystemAgent => f.write_str("RancherSystemAgent"),
            Program::Rke2 { args } => write!(f, "Rke2 {{ args: [{} elided] }}", args.len()),
            Program::Crictl { args } => write!(f, "Crictl {{ args: {args:?} }}"),
        }
    }
}

pub fn run(args: StandinArgs) -> Result<i32> {
    let node = Node::new(&args.root);
    match args.program {
        Program::Rke2Server => serve(&node, Service::Rke2Server),
        Program::Rke2Agent => serve(&node, Service::Rke2Agent),
        Program::Rancherd => serve(&node, Service::Rancherd),
        Program::RancherSystemAgent => serve(&node, Service::SystemAgent),
        Program::Rke2 { args } => rke2_command(&node, &args),
        Program::Crictl { args } => crictl(&node, &args, &mut std::io::stdout().lock()),
    }
}

// ---------------------------------------------------------------------------
// The node as the stand-in sees it

struct Node {
    root: PathBuf,
}

impl Node {
    fn new(root: &Path) -> Self {
        Node {
            root: root.to_path_buf(),
        }
    }
    fn p(&self, node_path: &str) -> PathBuf {
        self.root.join(node_path.trim_start_matches('/'))
    }
    fn tls(&self) -> PathBuf {
        self.root.join(SERVER_TLS)
    }
    fn agent(&self) -> PathBuf {
        self.root.join(AGENT_DIR)
    }
    fn is_server(&self) -> bool {
        self.tls().is_dir()
    }
    /// The RKE2 release this node runs (the lab share says; else the current one).
    fn version(&self) -> String {
        fs::read_to_string(self.p(NODE_SHARE).join(RKE2_VERSION_FILE))
            .ok()
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| pki::RKE2_VERSION.to_string())
    }
    fn renew_within_days(&self) -> i64 {
        pki::renew_within_days(&self.version())
    }
    /// Newer RKE2 issues the controller-manager/scheduler serving certs from
    /// server-ca and renews them like any leaf; older ones leave them to the
    /// components, which self-sign.
    fn components_from_server_ca(&self) -> bool {
        pki::from_may_2025(&self.version())
    }
    /// The token in RKE2's config: the last drop-in that sets one wins.
    fn config_token(&self) -> Option<String> {
        let mut token = None;
        for f in RKE2_TOKEN_DROPINS {
            let Ok(text) = fs::read_to_string(self.p(f)) else {
                continue;
            };
            let v: serde_json::Value = serde_saphyr::from_str(&text).unwrap_or_default();
            if let Some(t) = v
                .get("token")
                .and_then(|t| t.as_str())
                .filter(|t| !t.is_empty())
            {
                token = Some(t.to_string());
            }
        }
        token
    }
    fn hostname(&self) -> String {
        fs::read_to_string(self.p("/etc/hostname"))
            .map(|s| s.trim().to_string())
            .unwrap_or_else(|_| "localhost".into())
    }
    /// The node's address, from its `/etc/hosts` line.
    fn ip(&self) -> String {
        let host = self.hostname();
        fs::read_to_string(self.p("/etc/hosts"))
            .ok()
            .and_then(|h| {
                h.lines().find_map(|l| {
                    let mut f = l.split_whitespace();
                    let ip = f.next()?;
                    f.any(|n| n == host).then(|| ip.to_string())
                })
            })
            .unwrap_or_else(|| "127.0.0.1".into())
    }
    /// Where the CA of `kind` lives for renewing this node's certs:
    /// `server/tls` on servers, the lab share on agents.
    fn ca_files(&self, kind: CaKind) -> (PathBuf, PathBuf) {
        let dir = if self.is_server() {
            self.tls()
        } else {
            self.p(NODE_SHARE).join("ca")
        };
        (
            dir.join(format!("{}.crt", kind.file_stem())),
            dir.join(format!("{}.key", kind.file_stem())),
        )
    }
}

// ---------------------------------------------------------------------------
// Logging, logrus text format

fn ts(t: OffsetDateTime) -> String {
    let f = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    t.to_offset(time::UtcOffset::UTC)
        .format(&f)
        .unwrap_or_default()
}

/// Go's `%q`-style quoting, as logrus uses for `msg`.
fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

struct Log<W: Write> {
    out: W,
    /// Cached timestamp text for the current second.
    sec: i64,
    stamp: String,
}

impl<W: Write> Log<W> {
    fn new(out: W) -> Self {
        Log {
            out,
            sec: i64::MIN,
            stamp: String::new(),
        }
    }
    fn line(&mut self, level: &str, msg: &str) {
        self.line_kv(level, msg, &[]);
    }
    /// A line with logrus fields after `msg` (`key="value"`).
    fn line_kv(&mut self, level: &str, msg: &str, fields: &[(&str, &str)]) {
        let now = OffsetDateTime::now_utc();
        if now.unix_timestamp() != self.sec {
            self.sec = now.unix_timestamp();
            self.stamp = ts(now);
        }
        let _ = write!(
            self.out,
            "time=\"{}\" level={level} msg={}",
            self.stamp,
            quote(msg)
        );
        for (k, v) in fields {
            let _ = write!(self.out, " {k}={}", quote(v));
        }
        let _ = writeln!(self.out);
    }
    fn info(&mut self, msg: &str) {
        self.line("info", msg);
    }
    fn warn(&mut self, msg: &str) {
        self.line("warning", msg);
    }
    fn error(&mut self, msg: &str) {
        self.line("error", msg);
    }
    fn fatal(&mut self, msg: &str) {
        self.line("fatal", msg);
    }
    fn flush(&mut self) {
        let _ = self.out.flush();
    }
}

// ---------------------------------------------------------------------------
// Services

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

fn install_signal_handlers() {
    use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal, sigaction};
    let action = SigAction::new(
        SigHandler::Handler(on_signal),
        SaFlags::SA_RESTART,
        SigSet::empty(),
    );
    for sig in [Signal::SIGTERM, Signal::SIGINT] {
        // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
        unsafe {
            let _ = sigaction(sig, &action);
        }
    }
}

/// Tell systemd (Type=notify) that the service is up.
fn sd_notify_ready() {
    if let Ok(path) = std::env::var("NOTIFY_SOCKET") {
        let _ = sd_notify(&path, "READY=1");
    }
}

/// Send `state` to systemd's notification socket (`@` = abstract namespace).
fn sd_notify(path: &str, state: &str) -> std::io::Result<()> {
    use std::os::linux::net::SocketAddrExt;
    use std::os::unix::net::{SocketAddr, UnixDatagram};
    let addr = match path.strip_prefix('@') {
        Some(name) => SocketAddr::from_abstract_name(name.as_bytes())?,
        None => SocketAddr::from_pathname(path)?,
    };
    UnixDatagram::unbound()?.send_to_addr(state.as_bytes(), &addr)?;
    Ok(())
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Service {
    Rke2Server,
    Rke2Agent,
    Rancherd,
    SystemAgent,
}

fn log_rate() -> f64 {
    std::env::var(LOG_RATE_ENV)
        .ok()
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|r| r.is_finite() && *r > 0.0)
        .unwrap_or(DEFAULT_RATE)
}

fn serve(node: &Node, service: Service) -> Result<i32> {
    install_signal_handlers();
    let stderr = std::io::stderr();
    let mut log = Log::new(BufWriter::with_capacity(64 * 1024, stderr.lock()));
    let now = OffsetDateTime::now_utc();
    let ok = match service {
        Service::Rke2Server => rke2_start(node, true, now, &mut log)?,
        Service::Rke2Agent => rke2_start(node, false, now, &mut log)?,
        Service::Rancherd => {
            log.flush();
            return rancherd(node, &mut log, &STOP);
        }
        Service::SystemAgent => {
            system_agent_start(&mut log);
            true
        }
    };
    log.flush();
    if !ok {
        return Ok(1);
    }
    if service == Service::Rke2Server {
        serve_apiserver_tls(node, &mut log);
        log.flush();
    }
    sd_notify_ready();
    trickle(node, service, log_rate(), &mut log, &STOP, None);
    shutdown(service, &mut log);
    log.flush();
    Ok(0)
}

/// What rke2-server/rke2-agent do at start before they are up: the token
/// check (servers) and the renewal of leaf certificates within 120 days of
/// expiry. Returns false after a fatal line.
fn rke2_start<W: Write>(
    node: &Node,
    server: bool,
    now: OffsetDateTime,
    log: &mut Log<W>,
) -> Result<bool> {
    let kind = if server { "" } else { " agent" };
    let version = node.version();
    log.info(&format!("Starting rke2{kind} {version} ({RKE2_COMMIT})"));
    let resume = node.p(RESUME_MARKER);
    let resuming = resume.exists();
    if server {
        if node.p(BOOTSTRAP_TOKEN_HASH).exists() {
            log.info("Managed etcd cluster bootstrap already complete and initialized");
        } else {
            log.info("Joining etcd cluster already initialized, forcing reconciliation");
        }
        // The bootstrap data is decrypted with the token of the config; the
        // token file only stands in when the config names none.
        let token = match node.config_token() {
            Some(t) => t,
            None => match fs::read_to_string(node.p(TOKEN_FILE)) {
                Ok(t) => t,
                Err(e) => {
                    log.fatal(&format!("failed to read token file {TOKEN_FILE}: {e}"));
                    return Ok(false);
                }
            },
        };
        let hash = hex::encode(Sha256::digest(pki::token_secret(&token).as_bytes()));
        let record = node.p(BOOTSTRAP_TOKEN_HASH);
        match fs::read_to_string(&record) {
            Ok(recorded) if recorded.trim() != hash => {
                log.info("Starting temporary etcd to reconcile with datastore");
                log.info("Reconciling bootstrap data between datastore and disk");
                log.fatal("Failed to reconcile with temporary etcd: bootstrap data already found and encrypted with different token");
                return Ok(false);
            }
            Ok(_) => log.info("Reconciling bootstrap data between datastore and disk"),
            Err(_) => {
                // Joining: the cluster hands its bootstrap data only to a
                // server whose token it knows.
                let cluster = fs::read_to_string(node.p(NODE_SHARE).join("cluster-token.sha256"))
                    .map(|h| h.trim().to_string())
                    .ok();
                if cluster.as_ref().is_some_and(|c| *c != hash) {
                    let server =
                        server_url(node).unwrap_or_else(|| "https://127.0.0.1:9345".into());
                    log.fatal(&format!(
                        "starting kubernetes: preparing server: failed to get CA certs: {server}/cacerts: 401 Unauthorized"
                    ));
                    return Ok(false);
                }
                pki::write_file(&record, &format!("{hash}\n"), 0o600)?;
                let own = node.p(TOKEN_FILE);
                let ca = node.tls().join("server-ca.crt");
                if !own.exists()
                    && let Ok(pem) = fs::read_to_string(&ca)
                {
                    let t = zeroize::Zeroizing::new(format!(
                        "{}\n",
                        pki::server_token(&pem, pki::token_secret(&token))
                    ));
                    pki::write_file(&own, &t, 0o600)?;
                    for link in ["agent-token", "node-token"] {
                        let l = own.with_file_name(link);
                        let _ = fs::remove_file(&l);
                        std::os::unix::fs::symlink("token", &l)?;
                    }
                }
            }
        }
    }
    if resuming {
        let _ = fs::remove_file(&resume);
    } else {
        renew_expiring(node, server, now, log)?;
        refresh_agent_certs(node, now)?;
    }
    write_static_pod_manifests(node, server, &version)?;
    if server {
        regenerate_missing_component_certs(node, now)?;
        let ip = node.ip();
        let host = node.hostname();
        // Older RKE2: the components get only --cert-dir and sign their own.
        let component_tls = |c: &str| {
            if node.components_from_server_ca() {
                format!(
                    "--tls-cert-file=/var/lib/rancher/rke2/server/tls/{c}/{c}.crt --tls-private-key-file=/var/lib/rancher/rke2/server/tls/{c}/{c}.key"
                )
            } else {
                format!("--cert-dir=/var/lib/rancher/rke2/server/tls/{c}")
            }
        };
        log.info("Running kube-apiserver --advertise-address={ip} --allow-privileged=true --anonymous-auth=false --api-audiences=https://kubernetes.default.svc.cluster.local,rke2 --authorization-mode=Node,RBAC --bind-address=0.0.0.0 --client-ca-file=/var/lib/rancher/rke2/server/tls/client-ca.crt --etcd-servers=https://127.0.0.1:2379 --secure-port=6443 --service-cluster-ip-range=10.53.0.0/16 --tls-cert-file=/var/lib/rancher/rke2/server/tls/serving-kube-apiserver.crt --tls-private-key-file=/var/lib/rancher/rke2/server/tls/serving-kube-apiserver.key".replace("{ip}", &ip).as_str());
        log.info(&format!("Running kube-scheduler --authentication-kubeconfig=/var/lib/rancher/rke2/server/cred/scheduler.kubeconfig --bind-address=127.0.0.1 --kubeconfig=/var/lib/rancher/rke2/server/cred/scheduler.kubeconfig --secure-port=10259 {}", component_tls("kube-scheduler")));
        log.info(&format!("Running kube-controller-manager --allocate-node-cidrs=true --bind-address=127.0.0.1 --cluster-cidr=10.52.0.0/16 --cluster-signing-kube-apiserver-client-cert-file=/var/lib/rancher/rke2/server/tls/client-ca.nochain.crt --kubeconfig=/var/lib/rancher/rke2/server/cred/controller.kubeconfig --secure-port=10257 --service-account-private-key-file=/var/lib/rancher/rke2/server/tls/service.current.key {}", component_tls("kube-controller-manager")));
        log.info(&format!("Running kubelet --address=0.0.0.0 --anonymous-auth=false --authentication-token-webhook=true --client-ca-file=/var/lib/rancher/rke2/agent/client-ca.crt --hostname-override={host} --kubeconfig=/var/lib/rancher/rke2/agent/kubelet.kubeconfig --node-ip={ip} --tls-cert-file=/var/lib/rancher/rke2/agent/serving-kubelet.crt --tls-private-key-file=/var/lib/rancher/rke2/agent/serving-kubelet.key"));
        log.info("Tunnel server egress proxy mode: agent");
        log.info("Waiting for API server to become available");
        log.info("rke2 is up and running");
    } else {
        let ip = node.ip();
        let host = node.hostname();
        let server = server_url(node).unwrap_or_else(|| "https://127.0.0.1:9345".into());
        log.info(&format!(
            "Adding server to load balancer rke2-agent-load-balancer: {}",
            server.trim_start_matches("https://")
        ));
        log.info(&format!(
            "Running kubelet --address=0.0.0.0 --anonymous-auth=false --hostname-override={host} --kubeconfig=/var/lib/rancher/rke2/agent/kubelet.kubeconfig --node-ip={ip} --tls-cert-file=/var/lib/rancher/rke2/agent/serving-kubelet.crt --tls-private-key-file=/var/lib/rancher/rke2/agent/serving-kubelet.key"
        ));
        let url = format!(
            "wss://{}/v1-rke2/connect",
            server.trim_start_matches("https://")
        );
        log.line_kv("info", "Connecting to proxy", &[("url", &url)]);
        log.info("rke2 agent is up and running");
    }
    Ok(true)
}

/// kube-apiserver's TLS listener on :6443 with the node's
/// `serving-kube-apiserver.crt`, read at start as the real one does: what
/// Harvester's auto-rotate-rke2-certs controller dials. Only the handshake
/// is served; requests get no answer.
fn serve_apiserver_tls<W: Write>(node: &Node, log: &mut Log<W>) {
    let cfg = (|| -> Result<std::sync::Arc<rustls::ServerConfig>> {
        let crt = fs::read_to_string(node.tls().join("serving-kube-apiserver.crt"))?;
        let key = fs::read_to_string(node.tls().join("serving-kube-apiserver.key"))?;
        let chain = rustls_pemfile::certs(&mut crt.as_bytes()).collect::<Result<Vec<_>, _>>()?;
        let key = rustls_pemfile::private_key(&mut key.as_bytes())?
            .ok_or_else(|| anyhow!("no private key"))?;
        let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
        let cfg = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(chain, key)?;
        Ok(std::sync::Arc::new(cfg))
    })();
    let listener = cfg.and_then(|cfg| {
        let l = std::net::TcpListener::bind(("0.0.0.0", 6443)).context("binding :6443")?;
        Ok((cfg, l))
    });
    match listener {
        Ok((cfg, listener)) => {
            std::thread::spawn(move || {
                for stream in listener.incoming().flatten() {
                    let cfg = cfg.clone();
                    std::thread::spawn(move || {
                        let _ = stream.set_read_timeout(Some(StdDuration::from_secs(5)));
                        let _ = stream.set_write_timeout(Some(StdDuration::from_secs(5)));
                        if let Ok(conn) = rustls::ServerConnection::new(cfg) {
                            let mut tls = rustls::StreamOwned::new(conn, stream);
                            while tls.conn.is_handshaking() {
                                if tls.conn.complete_io(&mut tls.sock).is_err() {
                                    return;
                                }
                            }
                            let mut buf = [0u8; 1024];
                            let _ = std::io::Read::read(&mut tls, &mut buf);
                        }
                    });
                }
            });
        }
        Err(e) => log.warn(&format!("kube-apiserver listener: {e:#}")),
    }
}

/// The join URL from the rke2 drop-in (`server:`), if any.
fn server_url(node: &Node) -> Option<String> {
    let text =
        fs::read_to_string(node.p("/etc/rancher/rke2/config.yaml.d/40-rancherd.yaml")).ok()?;
    let v: serde_json::Value = serde_saphyr::from_str(&text).ok()?;
    v.get("server")?.as_str().map(str::to_string)
}

/// Every leaf `.crt` RKE2 renews on this node: `server/tls` (servers) and
/// `agent/`, without CAs and without the components' self-signed certs.
fn renewable_leaves(node: &Node, server: bool) -> Vec<PathBuf> {
    let mut files = Vec::new();
    if server {
        let components_too = node.components_from_server_ca();
        for f in walk_crts(&node.tls()) {
            let rel = f
                .strip_prefix(node.tls())
                .unwrap_or(&f)
                .to_string_lossy()
                .to_string();
            let component =
                rel.starts_with("kube-controller-manager/") || rel.starts_with("kube-scheduler/");
            if component && !components_too {
                continue;
            }
            files.push(f);
        }
    }
    files.extend(
        walk_crts(&node.agent())
            .into_iter()
            .filter(|f| f.parent() == Some(node.agent().as_path())),
    );
    files
        .into_iter()
        .filter(|f| {
            fs::read_to_string(f)
                .ok()
                .and_then(|t| pki::read_chain(&t).ok())
                .and_then(|c| c.into_iter().next())
                .is_some_and(|c| !c.is_ca)
        })
        .collect()
}

fn walk_crts(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(rd) = fs::read_dir(dir) else {
        return out;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk_crts(&p));
        } else if p.extension().is_some_and(|x| x == "crt") {
            out.push(p);
        }
    }
    out.sort();
    out
}

fn node_path_of(node: &Node, p: &Path) -> String {
    format!(
        "/{}",
        p.strip_prefix(&node.root).unwrap_or(p).to_string_lossy()
    )
}

fn leaf_info(p: &Path) -> Result<pki::CertInfo> {
    let text = fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
    pki::read_chain(&text)?
        .into_iter()
        .next()
        .ok_or_else(|| anyhow!("{} holds no certificate", p.display()))
}

fn renew_expiring<W: Write>(
    node: &Node,
    server: bool,
    now: OffsetDateTime,
    log: &mut Log<W>,
) -> Result<()> {
    let window = node.renew_within_days();
    for f in renewable_leaves(node, server) {
        let info = leaf_info(&f)?;
        let left = info.not_after - now;
        if left > Duration::days(window) {
            continue;
        }
        let Some(kind) = CaKind::from_issuer_cn(&info.issuer_cn) else {
            continue;
        };
        let (ca_crt, ca_key) = node.ca_files(kind);
        let shown = node_path_of(node, &f);
        if left.is_negative() {
            log.warn(&format!(
                "Certificate {shown} expired {} days ago at {}, renewing",
                -left.whole_days(),
                ts(info.not_after)
            ));
        } else {
            log.info(&format!(
                "Certificate {shown} will expire in {} days at {}, renewing",
                left.whole_days(),
                ts(info.not_after)
            ));
        }
        if let Err(e) = pki::reissue_leaf_file(&f, &ca_crt, &ca_key, false, now) {
            log.error(&format!("Failed to renew certificate {shown}: {e:#}"));
        }
    }
    Ok(())
}

/// RKE2 writes its static pods' manifests at every start (Rancher's
/// rotation removes the controller-manager's and scheduler's).
fn write_static_pod_manifests(node: &Node, server: bool, version: &str) -> Result<()> {
    let dir = node.agent().join("pod-manifests");
    let image = format!(
        "index.docker.io/rancher/hardened-kubernetes:{}-build20250910",
        version.replace('+', "-")
    );
    let mut pods = vec![("kube-proxy", image.clone())];
    if server {
        pods.extend([
            (
                "etcd",
                "index.docker.io/rancher/hardened-etcd:v3.5.21-k3s1-build20250910".to_string(),
            ),
            ("kube-apiserver", image.clone()),
            ("kube-controller-manager", image.clone()),
            ("kube-scheduler", image),
        ]);
    }
    for (name, image) in pods {
        let tier = if name == "kube-proxy" {
            "node"
        } else {
            "control-plane"
        };
        pki::write_file(
            &dir.join(format!("{name}.yaml")),
            &format!(
                "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\n  namespace: kube-system\n  labels:\n    component: {name}\n    tier: {tier}\nspec:\n  hostNetwork: true\n  priorityClassName: system-cluster-critical\n  containers:\n  - name: {name}\n    image: {image}\n    command:\n    - {name}\n"
            ),
            0o600,
        )?;
    }
    Ok(())
}

/// The agent asks the supervisor for its kubelet, kube-proxy and controller
/// certificates at every start and gets them newly signed (same keys): a
/// restart of rke2-agent is what renews a worker's certificates.
fn refresh_agent_certs(node: &Node, now: OffsetDateTime) -> Result<()> {
    for f in renewable_leaves(node, false) {
        let info = leaf_info(&f)?;
        let Some(kind) = CaKind::from_issuer_cn(&info.issuer_cn) else {
            continue;
        };
        let (ca_crt, ca_key) = node.ca_files(kind);
        pki::reissue_leaf_file(&f, &ca_crt, &ca_key, false, now)?;
    }
    Ok(())
}

/// A missing controller-manager/scheduler serving cert is made again (the
/// documented workaround and Rancher's rotation remove them): by RKE2 from
/// server-ca on newer releases, by the component itself (self-signed) on
/// older ones. An expired one an older RKE2 keeps.
fn regenerate_missing_component_certs(node: &Node, now: OffsetDateTime) -> Result<()> {
    for (name, file) in pki::COMPONENT_CERTS {
        let crt = node.tls().join(file);
        if !crt.exists() || !crt.with_extension("key").exists() {
            let (chain, key) = component_cert(node, name, now)?;
            pki::write_file(&crt.with_extension("key"), &key, 0o600)?;
            pki::write_file(&crt, &chain, 0o644)?;
        }
    }
    Ok(())
}

fn component_cert(node: &Node, name: &str, now: OffsetDateTime) -> Result<(String, String)> {
    let v = pki::Validity::fresh(now, pki::LEAF_DAYS);
    if node.components_from_server_ca() {
        let (crt, key) = node.ca_files(CaKind::Server);
        let ca = pki::CaPem {
            cert: fs::read_to_string(&crt).with_context(|| format!("reading {}", crt.display()))?,
            key: fs::read_to_string(&key).with_context(|| format!("reading {}", key.display()))?,
        };
        pki::component_cert_from_ca(name, &ca, v)
    } else {
        pki::component_serving_cert(name, v)
    }
}

fn system_agent_start<W: Write>(log: &mut Log<W>) {
    log.info(&format!(
        "Rancher System Agent version {SYSTEM_AGENT_VERSION} is starting"
    ));
    log.info("Using directory /var/lib/rancher/agent/work for work");
    log.info("Starting remote watch of plans");
    log.info("Starting /v1, Kind=Secret controller");
}

/// The steady trickle while running, at `rate` lines per second, until
/// `stop` (or `limit` lines, for tests). Writes are buffered and flushed
/// once per tick, so high rates (tens of thousands per second) are reached.
fn trickle<W: Write>(
    node: &Node,
    service: Service,
    rate: f64,
    log: &mut Log<W>,
    stop: &AtomicBool,
    limit: Option<u64>,
) -> u64 {
    let host = node.hostname();
    let ip = node.ip();
    let mut kcm_expired = service == Service::SystemAgent && component_cert_expired(node);
    let start = Instant::now();
    let mut sent: u64 = 0;
    let tick = StdDuration::from_millis(10);
    let mut stale_checked = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        if service == Service::SystemAgent && stale_checked.elapsed() >= StdDuration::from_secs(5) {
            stale_checked = Instant::now();
            if holds_stale_plan(node) {
                log.error("[K8s] secret received was too old");
            }
            // The probes fail for as long as the certificates are expired.
            kcm_expired = component_cert_expired(node);
        }
        let due = (start.elapsed().as_secs_f64() * rate) as u64;
        let due = limit.map_or(due, |l| due.min(l));
        // After a long stall, do not burst more than a second's worth.
        if due > sent + rate.max(1.0) as u64 {
            sent = due - rate.max(1.0) as u64;
        }
        while sent < due {
            trickle_line(service, sent, &host, &ip, kcm_expired, log);
            sent += 1;
        }
        log.flush();
        if limit.is_some_and(|l| sent >= l) {
            break;
        }
        let wait = if rate >= 100.0 {
            tick
        } else {
            let next = (sent + 1) as f64 / rate;
            StdDuration::from_secs_f64((next - start.elapsed().as_secs_f64()).clamp(0.0, 0.5))
        };
        std::thread::sleep(wait);
    }
    sent
}

/// Whether the planner left a plan this agent process would not apply
/// (the node's certificates had expired): the marker names its PID.
fn holds_stale_plan(node: &Node) -> bool {
    fs::read_to_string(node.p(STALE_PLAN_MARKER))
        .is_ok_and(|pid| pid.trim() == std::process::id().to_string())
}

fn component_cert_expired(node: &Node) -> bool {
    let now = OffsetDateTime::now_utc();
    pki::COMPONENT_CERTS
        .iter()
        .any(|(_, f)| leaf_info(&node.tls().join(f)).is_ok_and(|c| c.not_after < now))
}

fn trickle_line<W: Write>(
    service: Service,
    n: u64,
    host: &str,
    ip: &str,
    kcm_expired: bool,
    log: &mut Log<W>,
) {
    match service {
        Service::Rke2Server | Service::Rke2Agent => {
            let msg = match n % 8 {
                0 => format!("Tunnel authorizer set Kubelet Port 0.0.0.0:10250 for node {host}"),
                1 => format!("Handling backend connection request [{host}]"),
                2 => "Active TLS secret kube-system/rke2-serving (ver=41253) (count 14): map[listener.cattle.io/cn-10.53.0.1:10.53.0.1 listener.cattle.io/cn-kubernetes:kubernetes listener.cattle.io/cn-localhost:localhost]".to_string(),
                3 => format!("Updating load balancer rke2-api-server-agent-load-balancer default server address -> {ip}:6443"),
                4 => {
                    let f = time::macros::format_description!(
                        "[year]/[month]/[day] [hour]:[minute]:[second]"
                    );
                    let now = OffsetDateTime::now_utc().format(&f).unwrap_or_default();
                    format!("Cluster-Http-Server {now} http: TLS handshake error from 10.52.0.17:48822: remote error: tls: bad certificate")
                }
                5 => format!(
                    "Pod for {} is synced",
                    ["etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler"]
                        [(n / 8 % 4) as usize]
                ),
                6 => "Reconciling ETCDSnapshotFile resources".to_string(),
                _ => {
                    let url = format!("wss://{ip}:9345/v1-rke2/connect");
                    log.line_kv("info", "Connecting to proxy", &[("url", &url)]);
                    return;
                }
            };
            if n % 8 == 4 {
                log.warn(&msg);
            } else {
                log.info(&msg);
            }
        }
        Service::SystemAgent => {
            if kcm_expired && n.is_multiple_of(3) {
                let name = if n.is_multiple_of(2) {
                    "kube-controller-manager"
                } else {
                    "kube-scheduler"
                };
                let port = if n.is_multiple_of(2) { 10257 } else { 10259 };
                log.error(&format!("[K8s] error while running probe {name}: Get \"https://127.0.0.1:{port}/healthz\": tls: failed to verify certificate: x509: certificate has expired or is not yet valid"));
            } else {
                log.info(&format!(
                    "[K8s] updated plan secret fleet-local/custom-{} with applied checksum and probe status",
                    &hex::encode(Sha256::digest(host.as_bytes()))[..12]
                ));
            }
        }
        Service::Rancherd => log.info("Reconciling Rancher bootstrap"),
    }
}

fn shutdown<W: Write>(service: Service, log: &mut Log<W>) {
    match service {
        Service::Rke2Server | Service::Rke2Agent => {
            log.info("Received SIGTERM, shutting down");
            log.info("Shutting down /v1, Kind=Node workers");
            log.info("Stopped tunnel to 127.0.0.1:9345");
            log.info("Shutting down kubelet and etcd static pods");
        }
        Service::SystemAgent => log.info("Received SIGTERM, stopping rancher-system-agent"),
        Service::Rancherd => log.info("Received SIGTERM, exiting"),
    }
}

/// rancherd: bootstraps when its token matches the cluster's; otherwise the
/// 502 cacerts retry loop a wrong token gives.
fn rancherd<W: Write>(node: &Node, log: &mut Log<W>, stop: &AtomicBool) -> Result<i32> {
    let version = node.version();
    let rancher = rancher_version(&version);
    let bootstrap = format!("Bootstrapping Rancher ({rancher}/{version})");
    log.info(&format!("Loading config file [{RANCHERD_CONFIG}]"));
    match rancherd_token_ok(node) {
        Ok(true) => {
            log.info(&bootstrap);
            log.info("Writing plan file to /var/lib/rancher/rancherd/plan/plan.json");
            let install = rke2_to_install(node);
            if let Some(unit) = install {
                // A node joining now: rancherd's plan writes RKE2's config
                // from its own and starts RKE2, which joins the cluster.
                install_rke2(node, unit, log)?;
            }
            log.info(&format!(
                "Successfully Bootstrapped Rancher ({rancher}/{version})"
            ));
            log.flush();
            if let Some(unit) = install {
                // After the line: the unit's start does not hold rancherd up.
                let _ = std::process::Command::new("systemctl")
                    .args(["enable", "--now", "--no-block", &format!("{unit}.service")])
                    .status();
            }
            while !stop.load(Ordering::Relaxed) {
                std::thread::sleep(StdDuration::from_millis(500));
            }
            shutdown(Service::Rancherd, log);
            log.flush();
            Ok(0)
        }
        Ok(false) => {
            let body = "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n";
            while !stop.load(Ordering::Relaxed) {
                log.info(&bootstrap);
                log.info(&format!(
                    "failed to bootstrap system, will retry: generating plan: response 502: 502 Bad Gateway getting cacerts: {body}"
                ));
                log.flush();
                let until = Instant::now() + StdDuration::from_secs(5);
                while Instant::now() < until && !stop.load(Ordering::Relaxed) {
                    std::thread::sleep(StdDuration::from_millis(100));
                }
            }
            shutdown(Service::Rancherd, log);
            log.flush();
            Ok(0)
        }
        Err(e) => {
            log.fatal(&format!("{e:#}"));
            log.flush();
            Ok(1)
        }
    }
}

/// The RKE2 unit rancherd's plan must install and start: none on a node
/// that has one enabled already (it has joined), else by the node's role.
fn rke2_to_install(node: &Node) -> Option<&'static str> {
    let wants = node.p("/etc/systemd/system/multi-user.target.wants");
    let enabled = ["rke2-server", "rke2-agent"]
        .iter()
        .any(|u| fs::symlink_metadata(wants.join(format!("{u}.service"))).is_ok());
    if enabled || !wants.is_dir() {
        return None;
    }
    Some(if node.is_server() {
        "rke2-server"
    } else {
        "rke2-agent"
    })
}

/// rancherd's plan for RKE2: `40-rancherd.yaml` with the token and join
/// address of rancherd's config.
fn install_rke2<W: Write>(node: &Node, unit: &str, log: &mut Log<W>) -> Result<()> {
    let text = fs::read_to_string(node.p(RANCHERD_CONFIG))?;
    let v: serde_json::Value = serde_saphyr::from_str(&text)
        .map_err(|e| anyhow!("failed to parse {RANCHERD_CONFIG}: {e}"))?;
    let token = zeroize::Zeroizing::new(
        v.get("token")
            .and_then(|t| t.as_str())
            .unwrap_or_default()
            .to_string(),
    );
    let mut dropin = zeroize::Zeroizing::new(format!(
        "token: {}\n",
        serde_json::Value::String(token.to_string())
    ));
    if let Some(server) = v.get("server").and_then(|s| s.as_str()) {
        let host = server
            .trim_start_matches("https://")
            .rsplit_once(':')
            .map_or(server.trim_start_matches("https://"), |(h, _)| h);
        dropin.push_str(&format!("server: https://{host}:9345\n"));
    }
    pki::write_file(&node.p(RKE2_TOKEN_DROPINS[0]), &dropin, 0o600)?;
    log.info(&format!(
        "Installing {unit} and writing {}",
        RKE2_TOKEN_DROPINS[0]
    ));
    Ok(())
}

fn rancherd_token_ok(node: &Node) -> Result<bool> {
    let text = fs::read_to_string(node.p(RANCHERD_CONFIG))
        .with_context(|| format!("failed to read config file {RANCHERD_CONFIG}"))?;
    let v: serde_json::Value = serde_saphyr::from_str(&text)
        .map_err(|e| anyhow!("failed to parse {RANCHERD_CONFIG}: {e}"))?;
    let token = v
        .get("token")
        .and_then(|t| t.as_str())
        .ok_or_else(|| anyhow!("token is required in {RANCHERD_CONFIG}"))?;
    let expected = match fs::read_to_string(node.p(NODE_SHARE).join("cluster-token.sha256")) {
        Ok(h) => h.trim().to_string(),
        // Nothing to compare with (not in a lab): behave as a healthy node.
        Err(_) => return Ok(true),
    };
    Ok(hex::encode(Sha256::digest(pki::token_secret(token).as_bytes())) == expected)
}

// ---------------------------------------------------------------------------
// The rke2 command

#[derive(Debug, Parser)]
#[command(
    name = "rke2",
    about = "Rancher Kubernetes Engine 2 (harvcred lab stand-in)",
    disable_version_flag = true
)]
struct Rke2Cli {
    /// Print the version
    #[arg(long, short = 'v')]
    version: bool,
    #[command(subcommand)]
    command: Option<Rke2Cmd>,
}

#[derive(Debug, Subcommand)]
enum Rke2Cmd {
    /// Manage RKE2 certificates
    Certificate {
        #[command(subcommand)]
        command: CertCmd,
    },
    /// Manage tokens
    Token {
        #[command(subcommand)]
        command: TokenCmd,
    },
    /// Run the management server (the rke2-server service)
    Server,
    /// Run the node agent (the rke2-agent service)
    Agent,
}

#[derive(Debug, Subcommand)]
enum CertCmd {
    /// Check RKE2 component certificates on disk
    Check {
        /// Format output: text or table
        #[arg(long, short = 'o', default_value = "text")]
        output: String,
        /// List of services to check
        #[arg(long, short = 's', value_delimiter = ',')]
        service: Vec<String>,
    },
    /// Rotate RKE2 component certificates on disk
    Rotate {
        /// List of services to rotate certificates for
        #[arg(long, short = 's', value_delimiter = ',')]
        service: Vec<String>,
    },
}

#[derive(Debug, Subcommand)]
enum TokenCmd {
    /// Rotate the server token
    Rotate {
        /// Existing token used to join a server or agent to a cluster
        #[arg(long, short = 't')]
        token: Option<String>,
        /// New token that replaces the existing token
        #[arg(long = "new-token")]
        new_token: Option<String>,
    },
}

/// `(name, server/tls files, agent files)`.
pub type CertService = (
    &'static str,
    &'static [&'static str],
    &'static [&'static str],
);

/// RKE2's certificate services and the files they own.
pub const SERVICES: &[CertService] = &[
    ("admin", &["client-admin.crt"], &[]),
    (
        "api-server",
        &["client-kube-apiserver.crt", "serving-kube-apiserver.crt"],
        &[],
    ),
    (
        "controller-manager",
        &[
            "client-controller.crt",
            "kube-controller-manager/kube-controller-manager.crt",
        ],
        &[],
    ),
    (
        "scheduler",
        &["client-scheduler.crt", "kube-scheduler/kube-scheduler.crt"],
        &[],
    ),
    (
        "rke2-controller",
        &["client-rke2-controller.crt"],
        &["client-rke2-controller.crt"],
    ),
    ("rke2-server", &["client-supervisor.crt"], &[]),
    (
        "cloud-controller",
        &["client-rke2-cloud-controller.crt"],
        &[],
    ),
    (
        "etcd",
        &[
            "etcd/client.crt",
            "etcd/server-client.crt",
            "etcd/peer-server-client.crt",
        ],
        &[],
    ),
    ("auth-proxy", &["client-auth-proxy.crt"], &[]),
    (
        "kubelet",
        &[],
        &["client-kubelet.crt", "serving-kubelet.crt"],
    ),
    (
        "kube-proxy",
        &["client-kube-proxy.crt"],
        &["client-kube-proxy.crt"],
    ),
];

fn rke2_command(node: &Node, args: &[String]) -> Result<i32> {
    let argv = std::iter::once("rke2".to_string()).chain(args.iter().cloned());
    let cli = match Rke2Cli::try_parse_from(argv) {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { 1 } else { 0 };
            let _ = e.print();
            return Ok(code);
        }
    };
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    if cli.version {
        writeln!(
            out,
            "rke2 version {} ({RKE2_COMMIT})\ngo version {GO_VERSION}",
            node.version()
        )?;
        return Ok(0);
    }
    let now = OffsetDateTime::now_utc();
    let stderr = std::io::stderr();
    let mut log = Log::new(stderr.lock());
    let result = match cli.command {
        None => {
            let mut cmd = <Rke2Cli as clap::CommandFactory>::command();
            let _ = cmd.print_help();
            return Ok(1);
        }
        Some(Rke2Cmd::Server) => return serve(node, Service::Rke2Server),
        Some(Rke2Cmd::Agent) => return serve(node, Service::Rke2Agent),
        Some(Rke2Cmd::Certificate {
            command: CertCmd::Check { output, service },
        }) => certificate_check(node, &output, &service, now, &mut out, &mut log),
        Some(Rke2Cmd::Certificate {
            command: CertCmd::Rotate { service },
        }) => certificate_rotate(node, &service, now, &mut log).map(|_| ()),
        Some(Rke2Cmd::Token {
            command: TokenCmd::Rotate { token, new_token },
        }) => token_rotate(node, token.as_deref(), new_token.as_deref(), &mut out),
    };
    match result {
        Ok(()) => Ok(0),
        Err(e) => {
            log.fatal(&format!("{e:#}"));
            Ok(1)
        }
    }
}

fn check_services(names: &[String]) -> Result<Vec<&'static CertService>> {
    if names.is_empty() {
        return Ok(SERVICES.iter().collect());
    }
    names
        .iter()
        .map(|n| {
            SERVICES
                .iter()
                .find(|(s, _, _)| s == n)
                .ok_or_else(|| anyhow!("{n} is not a recognized service"))
        })
        .collect()
}

/// `(service, path)` of every certificate file of the chosen services present on this node.
fn service_files(node: &Node, names: &[String]) -> Result<Vec<(&'static str, PathBuf)>> {
    let mut out = Vec::new();
    for (name, tls_files, agent_files) in check_services(names)? {
        if node.is_server() {
            out.extend(tls_files.iter().map(|f| (*name, node.tls().join(f))));
        }
        out.extend(agent_files.iter().map(|f| (*name, node.agent().join(f))));
    }
    out.retain(|(_, p)| p.exists());
    Ok(out)
}

/// The RESIDUAL TIME column, as Kubernetes' `ShortHumanDuration` writes it
/// (kubeadm's and RKE2's tables): `45s`, `12m`, `5h`, `334d`, `8y`, `<invalid>`.
fn residual(left: Duration) -> String {
    let secs = left.whole_seconds();
    if secs < -1 {
        "<invalid>".into()
    } else if secs < 60 {
        format!("{}s", secs.max(0))
    } else if left.whole_minutes() < 60 {
        format!("{}m", left.whole_minutes())
    } else if left.whole_hours() < 24 {
        format!("{}h", left.whole_hours())
    } else if left.whole_hours() < 24 * 365 {
        format!("{}d", left.whole_days())
    } else {
        format!("{}y", left.whole_days() / 365)
    }
}

fn status(left: Duration, window_days: i64) -> &'static str {
    if left.is_negative() {
        "EXPIRED"
    } else if left < Duration::days(window_days) {
        "WARNING"
    } else {
        "OK"
    }
}

fn certificate_check<W: Write, L: Write>(
    node: &Node,
    output: &str,
    services: &[String],
    now: OffsetDateTime,
    out: &mut W,
    log: &mut Log<L>,
) -> Result<()> {
    let files = service_files(node, services)?;
    let window = node.renew_within_days();
    match output {
        "table" => {
            let mut rows = vec![[
                "FILENAME".to_string(),
                "SUBJECT".into(),
                "USAGES".into(),
                "EXPIRES".into(),
                "RESIDUAL TIME".into(),
                "STATUS".into(),
            ]];
            rows.push(rows[0].clone().map(|h| "-".repeat(h.len())));
            let f = time::macros::format_description!(
                "[month repr:short] [day], [year] [hour]:[minute] UTC"
            );
            for (_, path) in &files {
                let name = path
                    .file_name()
                    .unwrap_or_default()
                    .to_string_lossy()
                    .to_string();
                for c in pki::read_chain(&fs::read_to_string(path)?)? {
                    let left = c.not_after - now;
                    rows.push([
                        name.clone(),
                        c.cn.clone(),
                        c.usages(),
                        c.not_after.format(&f).unwrap_or_default(),
                        residual(left),
                        status(left, window).into(),
                    ]);
                }
            }
            let widths: Vec<usize> = (0..6)
                .map(|i| rows.iter().map(|r| r[i].len()).max().unwrap_or(0))
                .collect();
            for r in rows {
                let line: Vec<String> = r
                    .iter()
                    .zip(&widths)
                    .map(|(c, w)| format!("{c:<w$}"))
                    .collect();
                writeln!(out, "{}", line.join("   ").trim_end())?;
            }
        }
        "text" => {
            let mut last = "";
            for (service, path) in &files {
                if *service != last {
                    log.info(&format!("Checking certificates for {service}"));
                    last = service;
                }
                let shown = node_path_of(node, path);
                for c in pki::read_chain(&fs::read_to_string(path)?)? {
                    let left = c.not_after - now;
                    let what = format!("{shown}: certificate {} (issuer={})", c.cn, c.issuer_cn);
                    match status(left, window) {
                        "EXPIRED" => log.error(&format!("{what} expired at {}", ts(c.not_after))),
                        "WARNING" => log.warn(&format!(
                            "{what} will expire within {window} days at {}",
                            ts(c.not_after)
                        )),
                        _ => log.info(&format!("{what} is ok, expires at {}", ts(c.not_after))),
                    }
                }
            }
        }
        other => bail!("invalid output format {other}: must be text or table"),
    }
    Ok(())
}

fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    fs::create_dir_all(to)?;
    fs::set_permissions(to, fs::metadata(from)?.permissions())?;
    for e in fs::read_dir(from)? {
        let e = e?;
        let (src, dst) = (e.path(), to.join(e.file_name()));
        if e.file_type()?.is_dir() {
            copy_tree(&src, &dst)?;
        } else if e.file_type()?.is_file() {
            fs::copy(&src, &dst)?;
        }
    }
    Ok(())
}

/// `rke2 certificate rotate`: back up the certificates (`server/tls-<ts>`,
/// or `agent/tls-<ts>` on agents), then re-issue the chosen services' leaf
/// certificates with new keys. Returns the backup folder.
fn certificate_rotate<L: Write>(
    node: &Node,
    services: &[String],
    now: OffsetDateTime,
    log: &mut Log<L>,
) -> Result<PathBuf> {
    let chosen = check_services(services)?;
    let server = node.is_server();
    let stamp = now.unix_timestamp();
    let backup = if server {
        log.info("Server detected, rotating server certificates");
        let b = node.p(&format!("/var/lib/rancher/rke2/server/tls-{stamp}"));
        copy_tree(&node.tls(), &b)?;
        b
    } else {
        log.info("Agent detected, rotating agent certificates");
        let b = node.agent().join(format!("tls-{stamp}"));
        fs::create_dir_all(&b)?;
        for f in walk_crts(&node.agent()) {
            if f.parent() == Some(node.agent().as_path()) {
                let name = f.file_name().unwrap_or_default();
                fs::copy(&f, b.join(name))?;
                let key = f.with_extension("key");
                if key.exists() {
                    fs::copy(&key, b.join(key.file_name().unwrap_or_default()))?;
                }
            }
        }
        b
    };
    let names: Vec<String> = chosen.iter().map(|(n, _, _)| n.to_string()).collect();
    let mut files_by_service: Vec<(&str, PathBuf)> = service_files(node, &names)?;
    files_by_service.dedup_by(|a, b| a.1 == b.1);
    for (name, _, _) in &chosen {
        log.info(&format!("Rotating certificates for {name} service"));
    }
    for (_, path) in files_by_service {
        let rel = path
            .strip_prefix(node.tls())
            .ok()
            .map(|r| r.to_string_lossy().to_string());
        if let Some((component, _)) = pki::COMPONENT_CERTS
            .iter()
            .find(|(_, f)| rel.as_deref() == Some(*f))
        {
            let (chain, key) = component_cert(node, component, now)?;
            pki::write_file(&path.with_extension("key"), &key, 0o600)?;
            pki::write_file(&path, &chain, 0o644)?;
            continue;
        }
        let info = leaf_info(&path)?;
        let kind = CaKind::from_issuer_cn(&info.issuer_cn)
            .ok_or_else(|| anyhow!("{}: unknown issuer {}", path.display(), info.issuer_cn))?;
        let (ca_crt, ca_key) = node.ca_files(kind);
        pki::reissue_leaf_file(&path, &ca_crt, &ca_key, true, now)?;
    }
    log.info(&format!(
        "Successfully backed up certificates for all services to path {}, please restart rke2 server or agent to rotate certificates",
        node_path_of(node, &backup)
    ));
    Ok(backup)
}

/// `rke2 token rotate`: write the new token to the token file. The bootstrap
/// data stays encrypted with the old one, so the next rke2-server start fails.
fn token_rotate<W: Write>(
    node: &Node,
    old: Option<&str>,
    new: Option<&str>,
    out: &mut W,
) -> Result<()> {
    let path = node.p(TOKEN_FILE);
    if !node.is_server() || !path.exists() {
        bail!("token rotate is only supported on server nodes: {TOKEN_FILE} not found");
    }
    let current = fs::read_to_string(&path)?;
    if let Some(old) = old
        && pki::token_secret(old) != pki::token_secret(&current)
    {
        bail!("token rotate failed: the server rejected the request: 401 Unauthorized");
    }
    let Some(new) = new.filter(|n| !n.trim().is_empty()) else {
        bail!("--new-token is required");
    };
    let ca = fs::read_to_string(node.tls().join("server-ca.crt"))?;
    let token = pki::server_token(&ca, pki::token_secret(new));
    pki::write_file(&path, &format!("{token}\n"), 0o600)?;
    // The bootstrap data is re-encrypted with the new token; the config
    // still names the old one until someone changes it.
    let hash = hex::encode(Sha256::digest(pki::token_secret(new).as_bytes()));
    pki::write_file(&node.p(BOOTSTRAP_TOKEN_HASH), &format!("{hash}\n"), 0o600)?;
    writeln!(out, "Token rotated, restart rke2 nodes with new token")?;
    Ok(())
}

// ---------------------------------------------------------------------------
// crictl: the static pods of the control plane as containers

/// `(container name, pod name prefix, image)` of the containers a node runs.
fn containers(node: &Node) -> Vec<(&'static str, &'static str)> {
    let mut c = vec![(
        "kube-proxy",
        "rancher/hardened-kubernetes:v1.33.5-rke2r1-build20250910",
    )];
    if node.is_server() {
        c.extend([
            ("etcd", "rancher/hardened-etcd:v3.5.21-k3s1-build20250910"),
            (
                "kube-apiserver",
                "rancher/hardened-kubernetes:v1.33.5-rke2r1-build20250910",
            ),
            (
                "kube-controller-manager",
                "rancher/hardened-kubernetes:v1.33.5-rke2r1-build20250910",
            ),
            (
                "kube-scheduler",
                "rancher/hardened-kubernetes:v1.33.5-rke2r1-build20250910",
            ),
            (
                "cloud-controller-manager",
                "rancher/rke2-cloud-provider:v1.33.1-0.20250516163953-99d91538b132-build20250516",
            ),
        ]);
    }
    c
}

/// A container's id, kept in `/run` (so a reboot makes new ones); `rm`
/// makes a new one, as the kubelet recreates the static pod's container.
fn container_id(node: &Node, name: &str) -> String {
    let path = node.p("/run/k3s/containerd/harvcred-lab").join(name);
    if let Ok(id) = fs::read_to_string(&path)
        && id.trim().len() == 64
    {
        return id.trim().to_string();
    }
    new_container_id(node, name)
}

fn new_container_id(node: &Node, name: &str) -> String {
    let id = hex::encode(rand::random::<[u8; 32]>());
    let path = node.p("/run/k3s/containerd/harvcred-lab").join(name);
    let _ = pki::write_file(&path, &format!("{id}\n"), 0o600);
    id
}

fn crictl<W: Write>(node: &Node, args: &[String], out: &mut W) -> Result<i32> {
    let mut it = args.iter().map(String::as_str);
    let cmd = it.next().unwrap_or("");
    let rest: Vec<&str> = it.collect();
    match cmd {
        "ps" => {
            let quiet = rest.iter().any(|a| *a == "-q" || *a == "--quiet");
            let name = rest
                .iter()
                .position(|a| *a == "--name")
                .and_then(|i| rest.get(i + 1))
                .copied()
                .or_else(|| rest.iter().find_map(|a| a.strip_prefix("--name=")));
            let list: Vec<_> = containers(node)
                .into_iter()
                .filter(|(n, _)| name.is_none_or(|want| n.contains(want)))
                .collect();
            if !quiet {
                writeln!(
                    out,
                    "{:<13}   {:<13}   {:<14}   {:<7}   {:<24}   {:<7}   {:<13}   POD",
                    "CONTAINER", "IMAGE", "CREATED", "STATE", "NAME", "ATTEMPT", "POD ID"
                )?;
            }
            for (n, _) in list {
                let id = container_id(node, n);
                if quiet {
                    writeln!(out, "{id}")?;
                } else {
                    writeln!(
                        out,
                        "{:<13}   {:<13}   {:<14}   {:<7}   {:<24}   {:<7}   {:<13}   {n}-{}",
                        &id[..13],
                        &id[20..33],
                        "2 hours ago",
                        "Running",
                        n,
                        0,
                        &id[40..53],
                        node.hostname()
                    )?;
                }
            }
            Ok(0)
        }
        "rm" | "stop" => {
            let ids: Vec<&str> = rest
                .iter()
                .copied()
                .filter(|a| !a.starts_with('-'))
                .collect();
            if ids.is_empty() {
                bail!("ID cannot be empty");
            }
            let now = OffsetDateTime::now_utc();
            for id in ids {
                let Some((name, _)) = containers(node)
                    .into_iter()
                    .find(|(n, _)| id.len() >= 12 && container_id(node, n).starts_with(id))
                else {
                    writeln!(
                        std::io::stderr(),
                        "removing container \"{id}\" failed: rpc error: code = NotFound desc = an error occurred when try to find container \"{id}\": not found"
                    )?;
                    return Ok(1);
                };
                // The kubelet recreates the static pod's container; the component
                // makes a new self-signed cert if its files are gone.
                if node.is_server() && pki::COMPONENT_CERTS.iter().any(|(n, _)| *n == name) {
                    regenerate_missing_component_certs(node, now)?;
                }
                new_container_id(node, name);
                writeln!(out, "{id}")?;
            }
            Ok(0)
        }
        "--version" | "-v" | "version" => {
            writeln!(out, "crictl version v1.33.0-k3s1")?;
            Ok(0)
        }
        other => {
            writeln!(
                std::io::stderr(),
                "crictl (harvcred lab stand-in): unsupported command {other:?}; supported: ps [-q] [--name N], rm [-f] ID..., stop ID..."
            )?;
            Ok(1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lab::plan::{LabPlan, Scenario};
    use crate::lab::seed::{ClusterMaterial, seed_node, write_share};

    const KEY: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeKeyForTestsOnly0000000000000000000 op";

    struct Lab {
        dir: tempfile::TempDir,
        material: ClusterMaterial,
    }

    impl Lab {
        /// A 4-node lab; node `name`'s root is upper layer + share at /run/harvcred-lab.
        fn new(scenarios: Vec<Scenario>) -> Lab {
            let dir = tempfile::tempdir().unwrap();
            let plan = LabPlan {
                id: "t".into(),
                dir: dir.path().into(),
                subnet: [10, 213, 9],
                nodes: LabPlan::make_nodes([10, 213, 9], 4, 3),
                scenarios,
                api_port: 6443,
            };
            let material = ClusterMaterial::generate(&plan, KEY).unwrap();
            let base = dir.path().join("base");
            fs::create_dir_all(base.join("etc")).unwrap();
            fs::write(
                base.join("etc/shadow"),
                "root:*:1::::::\nrancher:!:1::::::\n",
            )
            .unwrap();
            fs::write(base.join("etc/group"), "shadow:x:42:\n").unwrap();
            for n in &plan.nodes {
                let root = dir.path().join(&n.name);
                seed_node(&plan, n, &material, &base, &root, &root.join("oem")).unwrap();
                write_share(
                    &plan,
                    &material,
                    &root.join(NODE_SHARE.trim_start_matches('/')),
                )
                .unwrap();
            }
            Lab { dir, material }
        }
        fn node(&self, name: &str) -> Node {
            Node::new(&self.dir.path().join(name))
        }
    }

    fn start(node: &Node, server: bool, now: OffsetDateTime) -> (bool, String) {
        let mut log = Log::new(Vec::new());
        let ok = rke2_start(node, server, now, &mut log).unwrap();
        (ok, String::from_utf8(log.out).unwrap())
    }

    fn days_left(p: &Path) -> i64 {
        (leaf_info(p).unwrap().not_after - OffsetDateTime::now_utc()).whole_days()
    }

    #[test]
    fn first_start_resumes_then_restart_renews_expiring_certs_with_the_same_key() {
        let lab = Lab::new(vec![Scenario::CertsExpiring]);
        let now = OffsetDateTime::now_utc();
        let n2 = lab.node("node2");
        let admin = n2.tls().join("client-admin.crt");
        let key_before = fs::read_to_string(admin.with_extension("key")).unwrap();

        // The lab's boot: nothing renewed (the scenario survives boot).
        let (ok, out) = start(&n2, true, now);
        assert!(ok, "{out}");
        assert!(
            out.contains("level=info msg=\"Starting rke2 v1.33.5+rke2r1"),
            "{out}"
        );
        assert!(out.contains("rke2 is up and running"));
        assert!(!out.contains("renewing"));
        assert_eq!(days_left(&admin), 9);

        // A restart: within 120 days → renewed, same key, chain verifies.
        let (ok, out) = start(&n2, true, now);
        assert!(ok, "{out}");
        assert!(
            out.contains("msg=\"Certificate /var/lib/rancher/rke2/server/tls/client-admin.crt will expire in 9 days at "),
            "{out}"
        );
        assert!(
            out.contains("/var/lib/rancher/rke2/agent/serving-kubelet.crt will expire in 9 days")
        );
        assert_eq!(days_left(&admin), 364);
        assert_eq!(
            fs::read_to_string(admin.with_extension("key")).unwrap(),
            key_before
        );
        let v = std::process::Command::new("openssl")
            .args(["verify", "-CAfile"])
            .arg(n2.tls().join("client-ca.crt"))
            .arg(&admin)
            .output()
            .unwrap();
        assert!(String::from_utf8_lossy(&v.stdout).contains(": OK"));

        // Worker: expired agent certs renewed from the share's CA.
        let n4 = lab.node("node4");
        let _ = start(&n4, false, now);
        let kubelet = n4.agent().join("client-kubelet.crt");
        // node4 is healthy; age it by re-seeding validity through a rotate-free path:
        assert!(days_left(&kubelet) > 300);
        let (ok, out) = start(&n4, false, now + Duration::days(300));
        assert!(
            ok && out.contains("client-kubelet.crt will expire in"),
            "{out}"
        );
        assert!(out.contains("rke2 agent is up and running"));
        assert_eq!(
            leaf_info(&kubelet).unwrap().issuer_cn,
            leaf_info(&n4.agent().join("client-ca.crt")).unwrap().cn
        );

        // Expired (node3): "expired ... renewing".
        let n3 = lab.node("node3");
        let _ = start(&n3, true, now);
        let (_, out) = start(&n3, true, now);
        assert!(out.contains("level=warning msg=\"Certificate /var/lib/rancher/rke2/server/tls/etcd/client.crt expired 5 days ago"), "{out}");
    }

    #[test]
    fn kcm_certs_are_not_renewed_at_start_but_regenerated_when_removed() {
        let lab = Lab::new(vec![Scenario::KcmCertExpired]);
        let n1 = lab.node("node1");
        let now = OffsetDateTime::now_utc();
        let kcm = n1
            .tls()
            .join("kube-controller-manager/kube-controller-manager.crt");
        start(&n1, true, now);
        start(&n1, true, now);
        assert!(days_left(&kcm) < 0, "RKE2 leaves the component certs alone");
        // The workaround: remove them; the component makes new ones.
        fs::remove_file(&kcm).unwrap();
        fs::remove_file(kcm.with_extension("key")).unwrap();
        start(&n1, true, now);
        assert!(days_left(&kcm) > 360);
        let mut log = Log::new(Vec::new());
        let stop = AtomicBool::new(false);
        let n = trickle(&n1, Service::SystemAgent, 1000.0, &mut log, &stop, Some(30));
        assert_eq!(n, 30);
        let out = String::from_utf8(log.out).unwrap();
        assert!(
            out.contains("kube-scheduler"),
            "scheduler cert still expired: {out}"
        );
    }

    #[test]
    fn the_renewal_window_and_component_certs_follow_the_rke2_version() {
        // Healthy certs have 335 days left; 235 days on, just under 100 are
        // left: inside the newer 120-day window, outside the older 90-day
        // one. `later` is taken after the certificates are made, so a slow
        // machine cannot push it past them into "100 days".
        let new = Lab::new(vec![]);
        let later = OffsetDateTime::now_utc() + Duration::days(235);
        let n1 = new.node("node1");
        start(&n1, true, later); // the lab's boot: resumes
        let (ok, out) = start(&n1, true, later);
        assert!(
            ok && out.contains("client-admin.crt will expire in 99 days"),
            "{out}"
        );
        assert!(out.contains("--tls-cert-file=/var/lib/rancher/rke2/server/tls/kube-controller-manager/kube-controller-manager.crt"));
        let kcm = n1
            .tls()
            .join("kube-controller-manager/kube-controller-manager.crt");
        assert!(
            leaf_info(&kcm)
                .unwrap()
                .issuer_cn
                .starts_with("rke2-server-ca@")
        );
        assert!(
            out.contains("kube-controller-manager.crt will expire in 99 days"),
            "newer RKE2 renews them too"
        );

        let old = Lab::new(vec![Scenario::OldRke2]);
        let n1 = old.node("node1");
        start(&n1, true, later);
        let (ok, out) = start(&n1, true, later);
        assert!(ok, "{out}");
        assert!(out.contains("Starting rke2 v1.32.3+rke2r1"), "{out}");
        assert!(!out.contains("will expire in"), "90-day window: {out}");
        assert!(
            out.contains("--cert-dir=/var/lib/rancher/rke2/server/tls/kube-controller-manager")
        );
        assert!(
            !out.contains(
                "--tls-cert-file=/var/lib/rancher/rke2/server/tls/kube-controller-manager"
            )
        );
        let kcm = n1
            .tls()
            .join("kube-controller-manager/kube-controller-manager.crt");
        assert!(
            leaf_info(&kcm)
                .unwrap()
                .issuer_cn
                .starts_with("kube-controller-manager-ca@")
        );
        // Removed, it comes back self-signed.
        fs::remove_file(&kcm).unwrap();
        start(&n1, true, later);
        assert!(
            leaf_info(&kcm)
                .unwrap()
                .issuer_cn
                .starts_with("kube-controller-manager-ca@")
        );
        let mut table = Vec::new();
        let mut log = Log::new(Vec::new());
        certificate_check(
            &n1,
            "text",
            &["admin".into()],
            later + Duration::days(20),
            &mut table,
            &mut log,
        )
        .unwrap();
        let text = String::from_utf8(log.out).unwrap();
        assert!(text.contains("will expire within 90 days"), "{text}");
    }

    #[test]
    fn the_config_token_decrypts_the_bootstrap_data_and_rancher_overrides_rancherd() {
        let lab = Lab::new(vec![]);
        let n1 = lab.node("node1");
        let now = OffsetDateTime::now_utc();
        assert!(start(&n1, true, now).0);
        let d50 = n1.p("/etc/rancher/rke2/config.yaml.d/50-rancher.yaml");
        let good = fs::read_to_string(&d50).unwrap();
        // A wrong token in rancherd's 40 is overridden by Rancher's 50.
        let d40 = n1.p("/etc/rancher/rke2/config.yaml.d/40-rancherd.yaml");
        fs::write(&d40, "token: \"wrong\"\n").unwrap();
        assert!(start(&n1, true, now).0);
        // A wrong token in 50 wins and is fatal.
        fs::write(&d50, "{\"token\":\"wrong\"}\n").unwrap();
        let (ok, out) = start(&n1, true, now);
        assert!(
            !ok && out.contains("bootstrap data already found and encrypted with different token"),
            "{out}"
        );
        fs::write(&d50, &good).unwrap();
        assert!(start(&n1, true, now).0);
        // After `rke2 token rotate`, the new token in the config starts it again.
        let mut out = Vec::new();
        token_rotate(&n1, None, Some("NewTokenValue123"), &mut out).unwrap();
        assert!(!start(&n1, true, now).0);
        fs::write(&d50, "{\"token\":\"NewTokenValue123\"}\n").unwrap();
        assert!(start(&n1, true, now).0);
    }

    #[test]
    fn crictl_workaround_regenerates_removed_component_certs() {
        let lab = Lab::new(vec![Scenario::KcmCertExpired]);
        let n1 = lab.node("node1");
        let kcm = n1
            .tls()
            .join("kube-controller-manager/kube-controller-manager.crt");
        let run = |args: &[&str]| {
            let mut out = Vec::new();
            let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
            let code = crictl(&n1, &args, &mut out).unwrap();
            (code, String::from_utf8(out).unwrap())
        };
        let (code, id) = run(&["ps", "-q", "--name", "kube-controller-manager"]);
        assert_eq!(code, 0);
        assert_eq!(id.trim().len(), 64);
        // Removing the container with the expired cert still in place changes nothing.
        run(&["rm", "-f", id.trim()]);
        assert!(days_left(&kcm) < 0);
        let (_, id) = run(&["ps", "-q", "--name", "kube-controller-manager"]);
        // The documented workaround: delete the files, then remove the container.
        fs::remove_file(&kcm).unwrap();
        fs::remove_file(kcm.with_extension("key")).unwrap();
        let (code, out) = run(&["rm", "-f", id.trim()]);
        assert_eq!((code, out.trim()), (0, id.trim()));
        assert!(days_left(&kcm) > 360);
        let (_, id2) = run(&["ps", "-q", "--name", "kube-controller-manager"]);
        assert_ne!(id2, id, "a new container");
        let (_, table) = run(&["ps"]);
        assert!(table.starts_with("CONTAINER") && table.contains("kube-scheduler"));
        assert_eq!(run(&["rm", "-f", "0123456789abcdef"]).0, 1);
    }

    #[test]
    fn certificate_rotate_backs_up_and_reissues_with_new_keys() {
        let lab = Lab::new(vec![Scenario::CertsExpiring]);
        let n2 = lab.node("node2");
        let now = OffsetDateTime::now_utc();
        let api = n2.tls().join("serving-kube-apiserver.crt");
        let before = leaf_info(&api).unwrap();
        let key_before = fs::read_to_string(api.with_extension("key")).unwrap();
        let mut log = Log::new(Vec::new());
        let backup =
            certificate_rotate(&n2, &["api-server".into(), "kubelet".into()], now, &mut log)
                .unwrap();
        let out = String::from_utf8(log.out).unwrap();
        assert!(
            out.contains("Rotating certificates for api-server service"),
            "{out}"
        );
        assert!(out.contains(&format!(
            "to path /var/lib/rancher/rke2/server/tls-{}",
            now.unix_timestamp()
        )));
        assert_eq!(days_left(&api), 364);
        let after = leaf_info(&api).unwrap();
        assert_eq!(
            (after.sans.clone(), after.subject.clone()),
            (before.sans, before.subject)
        );
        assert_ne!(
            fs::read_to_string(api.with_extension("key")).unwrap(),
            key_before
        );
        assert_eq!(days_left(&backup.join("serving-kube-apiserver.crt")), 9);
        assert_eq!(days_left(&n2.agent().join("serving-kubelet.crt")), 364);
        // Not chosen: untouched.
        assert_eq!(days_left(&n2.tls().join("client-admin.crt")), 9);

        // Unknown service: a clear error.
        let mut log = Log::new(Vec::new());
        let err = certificate_rotate(&n2, &["apiserver".into()], now, &mut log).unwrap_err();
        assert!(
            err.to_string()
                .contains("apiserver is not a recognized service")
        );

        // check --output table shows the state.
        let mut out = Vec::new();
        let mut log = Log::new(Vec::new());
        certificate_check(&n2, "table", &[], now, &mut out, &mut log).unwrap();
        let table = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = table.lines().collect();
        assert!(
            lines[0].starts_with("FILENAME")
                && lines[0].contains("RESIDUAL TIME")
                && lines[0].ends_with("STATUS")
        );
        let admin = lines
            .iter()
            .find(|l| l.starts_with("client-admin.crt"))
            .unwrap();
        assert!(
            admin.contains("system:admin")
                && admin.contains("ClientAuth")
                && admin.contains(" 9d ")
                && admin.ends_with("WARNING"),
            "{admin}"
        );
        let api_line = lines
            .iter()
            .find(|l| l.starts_with("serving-kube-apiserver.crt"))
            .unwrap();
        assert!(api_line.ends_with("OK"), "{api_line}");
        // text output on a worker
        let mut out = Vec::new();
        let mut log = Log::new(Vec::new());
        certificate_check(
            &lab.node("node3"),
            "text",
            &["etcd".into()],
            now,
            &mut out,
            &mut log,
        )
        .unwrap();
        let text = String::from_utf8(log.out).unwrap();
        assert!(
            text.contains("Checking certificates for etcd") && text.contains("level=error"),
            "{text}"
        );
    }

    #[test]
    fn token_rotate_then_start_is_fatal_and_stays_down() {
        let lab = Lab::new(vec![]);
        let n1 = lab.node("node1");
        let now = OffsetDateTime::now_utc();
        assert!(start(&n1, true, now).0);
        let mut out = Vec::new();
        token_rotate(
            &n1,
            Some(lab.material.token_secret()),
            Some("NewTokenValue123"),
            &mut out,
        )
        .unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "Token rotated, restart rke2 nodes with new token\n"
        );
        let token = fs::read_to_string(n1.p(TOKEN_FILE)).unwrap();
        assert!(
            token.starts_with("K10") && token.trim_end().ends_with("::server:NewTokenValue123")
        );
        for _ in 0..2 {
            let (ok, log) = start(&n1, true, now);
            assert!(!ok);
            assert!(log.contains("level=fatal msg=\"Failed to reconcile with temporary etcd: bootstrap data already found and encrypted with different token\""), "{log}");
            assert!(
                !log.contains("NewTokenValue123") && !log.contains(lab.material.token_secret())
            );
        }
        // Wrong old token / worker: errors.
        let mut out = Vec::new();
        assert!(token_rotate(&n1, Some("nope"), Some("x"), &mut out).is_err());
        assert!(token_rotate(&lab.node("node4"), None, Some("x"), &mut out).is_err());
    }

    #[test]
    fn rancherd_bootstraps_or_retries_with_502() {
        let lab = Lab::new(vec![Scenario::TokenMismatch]);
        assert!(rancherd_token_ok(&lab.node("node1")).unwrap());
        assert!(!rancherd_token_ok(&lab.node("node4")).unwrap());
        let mut log = Log::new(Vec::new());
        let handle = std::thread::spawn(move || {
            std::thread::sleep(StdDuration::from_millis(300));
            STOP_TEST.store(true, Ordering::SeqCst);
        });
        let code = rancherd(&lab.node("node4"), &mut log, &STOP_TEST).unwrap();
        handle.join().unwrap();
        assert_eq!(code, 0);
        let out = String::from_utf8(log.out).unwrap();
        assert!(
            out.contains("msg=\"Bootstrapping Rancher (v2.12.2/v1.33.5+rke2r1)\""),
            "{out}"
        );
        assert!(out.contains("level=info msg=\"failed to bootstrap system, will retry: generating plan: response 502: 502 Bad Gateway getting cacerts: <html>\\r\\n<head><title>502 Bad Gateway</title></head>"), "{out}");
        assert!(!out.contains(lab.material.token_secret()));
    }

    static STOP_TEST: AtomicBool = AtomicBool::new(false);

    #[test]
    fn sd_notify_reaches_path_and_abstract_sockets() {
        use std::os::linux::net::SocketAddrExt;
        use std::os::unix::net::{SocketAddr, UnixDatagram};
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify");
        let sock = UnixDatagram::bind(&path).unwrap();
        sd_notify(path.to_str().unwrap(), "READY=1").unwrap();
        let mut buf = [0u8; 64];
        let n = sock.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"READY=1");
        let name = format!("harvcred-test-{}", std::process::id());
        let sock =
            UnixDatagram::bind_addr(&SocketAddr::from_abstract_name(name.as_bytes()).unwrap())
                .unwrap();
        sd_notify(&format!("@{name}"), "READY=1").unwrap();
        let n = sock.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"READY=1");
    }

    #[test]
    fn trickle_reaches_high_rates_and_quotes_like_logrus() {
        let lab = Lab::new(vec![]);
        let stop = AtomicBool::new(false);
        let mut log = Log::new(std::io::sink());
        let t = Instant::now();
        let n = trickle(
            &lab.node("node1"),
            Service::Rke2Server,
            20_000.0,
            &mut log,
            &stop,
            Some(10_000),
        );
        assert_eq!(n, 10_000);
        assert!(t.elapsed() < StdDuration::from_secs(3), "{:?}", t.elapsed());
        assert_eq!(quote("a\"b\r\n"), "\"a\\\"b\\r\\n\"");
        let mut log = Log::new(Vec::new());
        log.info("x");
        let line = String::from_utf8(log.out).unwrap();
        assert!(
            line.starts_with("time=\"20") && line.ends_with("Z\" level=info msg=\"x\"\n"),
            "{line}"
        );
    }

    #[test]
    fn rke2_cli_parses_known_commands_and_rejects_others() {
        assert!(
            Rke2Cli::try_parse_from(["rke2", "certificate", "check", "--output", "table"]).is_ok()
        );
        assert!(
            Rke2Cli::try_parse_from(["rke2", "certificate", "rotate", "--service", "admin,etcd"])
                .is_ok()
        );
        assert!(Rke2Cli::try_parse_from(["rke2", "token", "rotate", "--new-token", "x"]).is_ok());
        assert!(
            Rke2Cli::try_parse_from(["rke2", "--version"])
                .unwrap()
                .version
        );
        let e = Rke2Cli::try_parse_from(["rke2", "etcd-snapshot"]).unwrap_err();
        assert!(e.use_stderr());
        assert!(e.to_string().contains("etcd-snapshot"), "{e}");
        let secret = StandinArgs::try_parse_from_for_test([
            "x",
            "rke2",
            "token",
            "rotate",
            "--new-token",
            "Sekrit",
        ]);
        assert!(!format!("{secret:?}").contains("Sekrit"));
        let args = StandinArgs::try_parse_from_for_test([
            "x",
            "--root",
            "/tmp/r",
            "rke2",
            "certificate",
            "check",
            "-o",
            "table",
        ]);
        match args.program {
            Program::Rke2 { args } => assert_eq!(args, ["certificate", "check", "-o", "table"]),
            other => panic!("{other:?}"),
        }
    }

    impl StandinArgs {
        fn try_parse_from_for_test<const N: usize>(argv: [&str; N]) -> StandinArgs {
            #[derive(Parser)]
            struct W {
                #[command(flatten)]
                a: StandinArgs,
            }
            W::try_parse_from(argv).unwrap().a
        }
    }
}
