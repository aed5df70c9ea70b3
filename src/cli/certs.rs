//! `harvcred certs`: every certificate of every node (and of the
//! `ssl-certificates` / `additional-ca` settings), like `kubeadm certs
//! check-expiration`, worst first.

use clap::Args;
use serde::Serialize;
use time::OffsetDateTime;

use super::ConnectArgs;
use super::status::{sweep, table};
use crate::creds::Level;
use crate::creds::certs::{CertAssessment, table_rows};
use crate::logs::sanitize_str;
use crate::status::{NodeOutcome, Sweep};

#[derive(Debug, Clone, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct CertsArgs {
    #[command(subcommand)]
    pub command: Option<CertsCommand>,
    /// Print JSON (field names documented in README).
    #[arg(long)]
    pub json: bool,
    /// Only this node (repeatable).
    #[arg(long = "node", value_name = "NAME")]
    pub nodes: Vec<String>,
    /// Also list certificates far from expiry (level ok).
    #[arg(long)]
    pub all: bool,
}

/// One certificate; field names are part of the interface (README).
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct CertJson {
    /// Node name, or `cluster` for the certificates of settings.
    pub node: String,
    pub file: String,
    /// 0-based PEM block in the file.
    pub block: usize,
    pub subject: String,
    pub issuer: String,
    pub not_after: String,
    pub days_left: i64,
    pub residual: String,
    pub authority: String,
    pub is_ca: bool,
    pub level: Level,
    pub serial: String,
    pub sha256: String,
    pub message: String,
}

/// Every certificate with its node, worst first; with `all == false`, the
/// `ok` ones are left out and counted.
pub fn collect(s: &Sweep, all: bool) -> (Vec<(String, CertAssessment)>, usize) {
    let mut items: Vec<(String, CertAssessment)> = Vec::new();
    for n in &s.nodes {
        if let NodeOutcome::Report(r) = &n.outcome {
            items.extend(r.certs.iter().map(|c| (n.info.name.clone(), c.clone())));
        }
    }
    items.extend(
        s.cluster
            .certs
            .iter()
            .map(|c| ("cluster".to_string(), c.clone())),
    );
    crate::creds::certs::sort_with_nodes(&mut items);
    let mut sorted = items;
    let before = sorted.len();
    if !all {
        sorted.retain(|(_, c)| c.level != Level::Ok);
    }
    let left_out = before - sorted.len();
    (sorted, left_out)
}

pub fn to_json(items: &[(String, CertAssessment)], now: OffsetDateTime) -> Vec<CertJson> {
    items
        .iter()
        .map(|(node, a)| {
            let row = &table_rows(std::slice::from_ref(a), now)[0];
            CertJson {
                node: node.clone(),
                file: a.cert.path.clone(),
                block: a.cert.index,
                subject: row.subject.clone(),
                issuer: a.cert.issuer.clone(),
                not_after: a
                    .cert
                    .not_after
                    .format(&time::format_description::well_known::Rfc3339)
                    .unwrap_or_default(),
                days_left: a.days_left(),
                residual: row.residual.clone(),
                authority: row.authority.clone(),
                is_ca: a.cert.is_ca,
                level: a.level,
                serial: a.cert.serial_hex.clone(),
                sha256: a.cert.sha256.clone(),
                message: a.message.clone(),
            }
        })
        .collect()
}

pub fn render(items: &[(String, CertAssessment)], left_out: usize, now: OffsetDateTime) -> String {
    let mut rows = vec![vec![
        "NODE".to_string(),
        "CERTIFICATE".into(),
        "SUBJECT".into(),
        "EXPIRES".into(),
        "RESIDUAL TIME".into(),
        "CERTIFICATE AUTHORITY".into(),
        "CA".into(),
        "LEVEL".into(),
    ]];
    for (node, a) in items {
        let r = &table_rows(std::slice::from_ref(a), now)[0];
        let file = if a.cert.index > 0 {
            format!("{}#{}", a.cert.path, a.cert.index + 1)
        } else {
            a.cert.path.clone()
        };
        rows.push(vec![
            sanitize_str(node).into_owned(),
            sanitize_str(&file).into_owned(),
            sanitize_str(&r.subject).into_owned(),
            r.expires.clone(),
            r.residual.clone(),
            sanitize_str(&r.authority).into_owned(),
            if r.is_ca { "yes" } else { "no" }.into(),
            r.level.to_string(),
        ]);
    }
    let mut out = table(&rows);
    if left_out > 0 {
        out.push_str(&format!(
            "\n{left_out} certificates expire in more than 120 days and are not shown (--all shows them)\n"
        ));
    }
    out
}

/// Exit code: the worst certificate's (monitoring convention), 2 when a node
/// could not be read, 3 when there is nothing to judge.
pub fn exit_code(s: &Sweep, items: &[(String, CertAssessment)]) -> i32 {
    if s.nodes.is_empty() {
        return 3;
    }
    if s.nodes
        .iter()
        .any(|n| matches!(n.outcome, NodeOutcome::Failed(_)))
    {
        return 2;
    }
    items
        .iter()
        .map(|(_, c)| c.level.exit_code())
        .max()
        .unwrap_or(0)
}

pub fn run(args: CertsArgs, connect: &ConnectArgs, read_only: bool) -> anyhow::Result<i32> {
    if let Some(command) = args.command {
        return run_change(command, connect, read_only);
    }
    let s = match sweep(connect, &args.nodes) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("harvcred certs: {}", super::status::error_line(&e));
            return Ok(3);
        }
    };
    let now = OffsetDateTime::now_utc();
    let (items, left_out) = collect(&s, args.all);
    if args.json {
        println!("{}", super::status::json_text(&to_json(&items, now))?);
    } else {
        print!("{}", render(&items, left_out, now));
        for n in &s.nodes {
            if let NodeOutcome::Failed(u) = &n.outcome {
                println!(
                    "{} unreachable ({}): {}",
                    sanitize_str(&n.info.name),
                    u.reason.label(),
                    sanitize_str(&u.detail)
                );
            }
        }
    }
    Ok(exit_code(&s, &items))
}

// ------------------------------------------------------------------ changes

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::walk::{self, WalkFlags};
use crate::app::{NodeInfo, Role, Target};
use crate::cluster::rotation::{self, ClusterGeneration, WriteFailure};
use crate::flows::certs::{
    self as flow, AutoRotateChange, AutoRotateDraft, AutoRotateFacts, AutoRotateWork, FixKcmChange,
    FixKcmFacts, Kept, RotateClusterChange, RotateClusterFacts, RotateNodeChange, RotateNodeDraft,
    RotateNodeWork,
};
use crate::flows::engine::{AuditLine, Change, ChangeIo, Refusal};
use crate::node::Pool;

/// What `certs` changes.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum CertsCommand {
    /// Enable/disable Harvester's auto-rotate-rke2-certs and set expiringInHours (1..8759).
    AutoRotate {
        #[arg(long, conflicts_with = "disable")]
        enable: bool,
        #[arg(long)]
        disable: bool,
        /// Rotate when the apiservers' earliest certificate expires within this many hours.
        #[arg(long, value_name = "H", allow_hyphen_values = true)]
        expiring_in_hours: Option<i64>,
        #[command(flatten)]
        change: ChangeArgs,
    },
    /// Rotate now: cluster-wide through Rancher (--cluster), or by hand on nodes (--node, one at a time).
    Rotate {
        /// Bump the Cluster's rotation generation; Rancher rotates node by node.
        #[arg(long, conflicts_with = "nodes", required_unless_present = "nodes")]
        cluster: bool,
        /// Rotate this node by hand: stop rke2, `rke2 certificate rotate`, start (repeatable; one at a time).
        #[arg(long = "node", value_name = "NAME")]
        nodes: Vec<String>,
        /// Only these services (`rke2 certificate rotate --service`; with --node).
        #[arg(long = "service", value_name = "S", requires = "nodes")]
        services: Vec<String>,
        /// With --node: rotate even when harvcred rotated the node less than an hour ago or its rotation still runs there (else that is already so: only followed up).
        #[arg(long, requires = "nodes")]
        again: bool,
        #[command(flatten)]
        change: ChangeArgs,
    },
    /// Replace self-signed, expiring kube-controller-manager/kube-scheduler certificates on a node.
    FixKcm {
        #[arg(long = "node", value_name = "NAME", required = true)]
        nodes: Vec<String>,
        #[command(flatten)]
        change: ChangeArgs,
    },
}

#[derive(Debug, Clone, clap::Args)]
pub struct ChangeArgs {
    /// Validate and dry-run only; nothing is changed.
    #[arg(long)]
    pub dry_run: bool,
    /// Apply without asking (needed without a terminal).
    #[arg(long)]
    pub yes: bool,
    /// How long to follow the cluster after the change, in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 900)]
    pub timeout: u64,
}

/// What every certificate change's I/O needs. It owns its API client and
/// its pool, so the console's walk thread holds it as the command line does.
pub struct CertsEnv {
    client: kube::Client,
    kube: crate::cluster::KubeSettings,
    pool: Arc<Pool>,
    state_dir: std::path::PathBuf,
    cluster: String,
    timeout: Duration,
    thresholds: crate::creds::level::Thresholds,
    /// The walk's correlation id, learnt from its first audit line, for the
    /// lines the I/O adds itself (a rotation followed per node).
    correlation_id: Mutex<String>,
    /// Where the I/O's own lines go besides a verification's progress: the
    /// command line prints them, the console logs them.
    out: fn(&str),
}

/// The command line's `out`: stdout, sanitised.
fn print_line(line: &str) {
    println!("{}", sanitize_str(line));
}

/// The console's `out`: its log file (the form shows the progress). The
/// nodes' journal lines (`  node | …`) stay out of it: what a node logs is
/// not harvcred's to keep.
fn log_line(line: &str) {
    if !line.starts_with("  ") {
        tracing::info!("{}", sanitize_str(line));
    }
}

/// Connects a certificate change's I/O: the API, a pool of its own.
pub async fn connect_env(
    kube: &crate::cluster::KubeSettings,
    mut ssh: crate::node::SshSettings,
    state_dir: std::path::PathBuf,
    timeout: Duration,
    thresholds: crate::creds::level::Thresholds,
    correlation_id: String,
    console: bool,
) -> Result<Arc<CertsEnv>, String> {
    let (client, context, server) = crate::cluster::connect(kube).await.map_err(|p| p.detail)?;
    // Stopping rke2 or rotating takes longer than a read.
    ssh.op_timeout = Duration::from_secs(120);
    Ok(Arc::new(CertsEnv {
        client,
        kube: kube.clone(),
        pool: Pool::new(ssh),
        state_dir,
        cluster: format!("{context} ({server})"),
        timeout,
        thresholds,
        correlation_id: Mutex::new(correlation_id),
        out: if console { log_line } else { print_line },
    }))
}

impl CertsEnv {
    fn say(&self, line: &str) {
        (self.out)(line)
    }

    /// `say`, and the verification's progress.
    fn tell(&self, progress: &dyn Fn(String), line: String) {
        self.say(&line);
        progress(line);
    }

    pub fn pool(&self) -> &Arc<Pool> {
        &self.pool
    }

    /// Every node's certificates, read now.
    async fn sweep(&self) -> Sweep {
        crate::status::sweep_all(&self.kube, &self.pool, Vec::new(), self.thresholds).await
    }

    fn audit(&self, line: &AuditLine) {
        let mut id = self.correlation_id.lock().expect("not poisoned");
        let mut line = line.clone();
        if line.correlation_id.is_empty() {
            line.correlation_id = id.clone();
        } else {
            *id = line.correlation_id.clone();
        }
        walk::write_audit(&self.state_dir, &self.cluster, &line);
    }

    fn probe_audit(&self) -> Result<(), String> {
        crate::audit::probe(&self.state_dir).map_err(|e| {
            format!(
                "cannot write the audit log {}: {e}; fix that first (no change is made without an audit trail)",
                crate::audit::path(&self.state_dir).display()
            )
        })
    }

    /// Runs `script` as root on `node` (`sudo -n sh -c`); stdout, or why not.
    async fn sh(&self, node: &str, script: &str, args: &[&str]) -> Result<String, String> {
        let t = Target {
            name: node.to_string(),
            address: None,
        };
        let mut argv = vec!["-n", "sh", "-c", script, "harvcred"];
        argv.extend_from_slice(args);
        let out = match self.pool.exec_capped(&t, "sudo", &argv, 4 << 20).await {
            Ok(out) => out,
            Err(e) => {
                // A connection that hung or died (a cut link, a rebooted
                // node) is not used again: the next command opens a new one.
                if !matches!(e, crate::node::ExecError::TooMuchOutput(_)) {
                    self.pool.reset(node).await;
                }
                return Err(format!("{node}: {e}"));
            }
        };
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            let err = String::from_utf8_lossy(&out.stderr);
            Err(format!("{node}: {}", crate::logs::sanitize_str(err.trim())))
        }
    }

    async fn nodes(&self) -> Result<Vec<NodeInfo>, String> {
        rotation::nodes(&self.client).await
    }
}

// auto-rotate

pub struct AutoRotateIo(pub Arc<CertsEnv>);

impl ChangeIo<AutoRotateChange> for AutoRotateIo {
    async fn load(&self) -> Result<AutoRotateFacts, String> {
        let env = &*self.0;
        env.probe_audit()?;
        crate::faults::point("read", API_TARGET).await;
        let current = rotation::read_auto_rotate(&env.client).await?;
        let ips: Vec<String> = env
            .nodes()
            .await?
            .into_iter()
            .filter(|n| n.role == Role::Server && n.ready == Some(true))
            .filter_map(|n| n.address)
            .collect();
        Ok(AutoRotateFacts {
            current,
            earliest_not_after: rotation::earliest_apiserver_not_after(&ips).await,
            state: rotation::read_state(&env.client).await,
            now: OffsetDateTime::now_utc(),
        })
    }
    async fn dry_run(&self, t: &str, w: &AutoRotateWork) -> Result<(), String> {
        self.try_dry_run(t, w).await.map_err(Refusal::into_text)
    }
    async fn try_dry_run(
        &self,
        _: &str,
        w: &AutoRotateWork,
    ) -> Result<(), Refusal<AutoRotateFacts>> {
        crate::faults::point("dry-run", API_TARGET).await;
        match rotation::patch_auto_rotate(
            &self.0.client,
            w.enable,
            w.expiring_in_hours,
            &w.resource_version,
            true,
        )
        .await
        {
            Ok(_) => Ok(()),
            Err(e) => Err(refusal(self, e).await),
        }
    }
    async fn apply(&self, t: &str, w: &AutoRotateWork) -> Result<bool, String> {
        self.try_apply(t, w).await.map_err(Refusal::into_text)
    }
    async fn try_apply(
        &self,
        _: &str,
        w: &AutoRotateWork,
    ) -> Result<bool, Refusal<AutoRotateFacts>> {
        // A retry may find an earlier attempt written (its answer lost): it
        // is not written twice.
        if self.has(w).await {
            return Ok(false);
        }
        crate::faults::point("patch", API_TARGET).await;
        match rotation::patch_auto_rotate(
            &self.0.client,
            w.enable,
            w.expiring_in_hours,
            &w.resource_version,
            false,
        )
        .await
        {
            Ok(_) => Ok(true),
            // No answer, yet the write may have landed: read before saying.
            Err(WriteFailure::Other(e)) if self.has(w).await => {
                tracing::warn!("{e}; the setting reads as written: the patch landed");
                Ok(true)
            }
            Err(e) => Err(refusal(self, e).await),
        }
    }
    async fn verify(&self, _: &str, w: &AutoRotateWork) -> Result<(), String> {
        crate::faults::point("follow", API_TARGET).await;
        // Read again until it answers: one failed read is no verdict.
        let deadline = tokio::time::Instant::now() + self.0.timeout;
        let now = loop {
            match rotation::read_auto_rotate(&self.0.client).await {
                Ok(now) => break now,
                Err(e) if tokio::time::Instant::now() >= deadline => return Err(e),
                Err(e) => tracing::warn!("{e}; reading it again"),
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        };
        if now.enable == w.enable && now.expiring_in_hours == w.expiring_in_hours {
            Ok(())
        } else {
            Err(format!(
                "the setting reads enable {} expiringInHours {} after the change",
                now.enable, now.expiring_in_hours
            ))
        }
    }
    fn audit(&self, line: &AuditLine) {
        self.0.audit(line)
    }
}

impl AutoRotateIo {
    /// Whether the setting already holds what `w` writes.
    async fn has(&self, w: &AutoRotateWork) -> bool {
        rotation::read_auto_rotate(&self.0.client)
            .await
            .is_ok_and(|now| now.enable == w.enable && now.expiring_in_hours == w.expiring_in_hours)
    }
}

/// The fault points' target for a step on the API ([`crate::faults`]).
const API_TARGET: &str = "cluster";

/// A write's failure as the engine takes it: a 409 reads everything again
/// (the walk shows it changed meanwhile and asks again), a denial keeps the
/// cluster's words.
async fn refusal<C: Change, I: ChangeIo<C>>(io: &I, e: WriteFailure) -> Refusal<C::Facts> {
    match e {
        WriteFailure::Conflict(_) => match io.load().await {
            Ok(now) => Refusal::Conflict(now),
            Err(e) => Refusal::Failed(e),
        },
        WriteFailure::Denied(m) => Refusal::Denied(m),
        WriteFailure::Other(m) => Refusal::Failed(m),
    }
}

// rotate now

pub struct RotateClusterIo {
    env: Arc<CertsEnv>,
    expired: Vec<String>,
    /// Every leaf before the rotation: when given, the end of the follow
    /// says per node how many were renewed and their NotAfter before and
    /// after (the console; the command line prints its own table).
    leaves_before: Option<Leaves>,
    /// Each node's generation file and unit start before anything was
    /// written: a node Rancher rotates at once after the bump is not missed.
    start: Mutex<BTreeMap<String, (String, String)>>,
}

impl RotateClusterIo {
    pub fn new(env: Arc<CertsEnv>, expired: Vec<String>, leaves_before: Option<Leaves>) -> Self {
        RotateClusterIo {
            env,
            expired,
            leaves_before,
            start: Mutex::new(BTreeMap::new()),
        }
    }

    /// Every node swept first: the leaves already expired (a warning), and
    /// the leaves to compare with at the end.
    pub async fn swept(env: Arc<CertsEnv>) -> Self {
        let before = leaves(&env.sweep().await);
        let expired = expired_of(&before, OffsetDateTime::now_utc());
        Self::new(env, expired, Some(before))
    }

    /// Each leaf's NotAfter before -> after, then per node how many leaves
    /// were renewed and the earliest NotAfter before and after.
    async fn renewed_lines(&self, before: &Leaves) -> Vec<String> {
        let after = leaves(&self.env.sweep().await);
        let mut lines = old_new_lines(before, &after, true);
        // Per node: renewed, all, earliest NotAfter before, after.
        type Tally = (usize, usize, Option<OffsetDateTime>, Option<OffsetDateTime>);
        let mut per: BTreeMap<&str, Tally> = BTreeMap::new();
        for (k, (serial, na)) in before {
            let e = per.entry(k.0.as_str()).or_default();
            e.1 += 1;
            e.2 = Some(e.2.map_or(*na, |t| t.min(*na)));
            if let Some((s, t)) = after.get(k) {
                if s != serial {
                    e.0 += 1;
                }
                e.3 = Some(e.3.map_or(*t, |x| x.min(*t)));
            }
        }
        let day =
            |t: Option<OffsetDateTime>| t.map_or("-".into(), crate::creds::certs::format_expiry);
        lines.extend(per.into_iter().map(|(node, (renewed, all, old, new))| {
            format!(
                "{node}: {renewed} of {all} leaf certificates renewed; earliest NotAfter {} -> {}",
                day(old),
                day(new)
            )
        }));
        lines
    }
}

/// `node: file` of the leaves expired at `now`.
fn expired_of(l: &Leaves, now: OffsetDateTime) -> Vec<String> {
    l.iter()
        .filter(|(_, (_, t))| *t <= now)
        .map(|((n, f, _), _)| format!("{n}: {f}"))
        .collect()
}

/// What one node shows of a rotation: its generation file and its unit's last start.
async fn node_progress(env: &CertsEnv, n: &NodeInfo) -> Result<(String, String), String> {
    let unit = if n.role == Role::Worker {
        "rke2-agent"
    } else {
        "rke2-server"
    };
    let out = env
        .sh(
            &n.name,
            "cat \"$1\" 2>/dev/null || echo -; systemctl show -p ActiveEnterTimestamp --value \"$2\"",
            &[flow::GENERATION_FILE, unit],
        )
        .await?;
    let mut l = out.lines();
    Ok((
        l.next().unwrap_or("-").trim().to_string(),
        l.next().unwrap_or("").trim().to_string(),
    ))
}

async fn journal_tail(env: &CertsEnv, node: &str, unit: &str, lines: &str) -> String {
    env.sh(node, JOURNAL_TAIL, &[unit, lines])
        .await
        .unwrap_or_default()
}

/// The last `$2` lines of unit `$1`'s journal.
const JOURNAL_TAIL: &str = "journalctl -u \"$1\" -n \"$2\" --no-pager -o cat";

/// The stuck states the nodes' recent journals show, with what to do.
async fn stuck_hints(env: &CertsEnv, nodes: &[NodeInfo]) -> Vec<String> {
    let mut hints = Vec::new();
    for n in nodes {
        let unit = if n.role == Role::Worker {
            "rke2-agent"
        } else {
            "rke2-server"
        };
        let mut text = journal_tail(env, &n.name, "rancher-system-agent", "200").await;
        text.push_str(&journal_tail(env, &n.name, unit, "200").await);
        hints.extend(flow::stuck_hint(&n.name, &text));
    }
    hints
}

/// How long a rotation may show no progress before the journals are read
/// for a stuck state (it is followed on all the same).
const QUIET: Duration = Duration::from_secs(30);

impl ChangeIo<RotateClusterChange> for RotateClusterIo {
    async fn load(&self) -> Result<RotateClusterFacts, String> {
        self.env.probe_audit()?;
        crate::faults::point("read", API_TARGET).await;
        let state = rotation::read_state(&self.env.client).await?;
        let nodes = self.env.nodes().await?;
        let mut start = BTreeMap::new();
        for n in &nodes {
            if let Ok(p) = node_progress(&self.env, n).await {
                start.insert(n.name.clone(), p);
            }
        }
        *self.start.lock().expect("not poisoned") = start;
        let stuck = if state.control_plane.ready == Some(true) {
            Vec::new()
        } else {
            let mut hints = stuck_hints(&self.env, &nodes).await;
            for h in flow::probes_hints(&state.control_plane.ready_message, &self.expired) {
                if !hints.contains(&h) {
                    hints.push(h);
                }
            }
            hints
        };
        Ok(RotateClusterFacts {
            state,
            nodes,
            expired: self.expired.clone(),
            stuck,
        })
    }
    async fn dry_run(&self, t: &str, from: &ClusterGeneration) -> Result<(), String> {
        self.try_dry_run(t, from).await.map_err(Refusal::into_text)
    }
    async fn try_dry_run(
        &self,
        _: &str,
        from: &ClusterGeneration,
    ) -> Result<(), Refusal<RotateClusterFacts>> {
        crate::faults::point("dry-run", API_TARGET).await;
        match rotation::bump_generation(&self.env.client, from, true).await {
            Ok(_) => Ok(()),
            Err(e) => Err(refusal(self, e).await),
        }
    }
    async fn apply(&self, t: &str, from: &ClusterGeneration) -> Result<bool, String> {
        self.try_apply(t, from).await.map_err(Refusal::into_text)
    }
    async fn try_apply(
        &self,
        _: &str,
        from: &ClusterGeneration,
    ) -> Result<bool, Refusal<RotateClusterFacts>> {
        crate::faults::point("patch", API_TARGET).await;
        let g = match rotation::bump_generation(&self.env.client, from, false).await {
            Ok(g) => g,
            // No answer, yet the bump may have landed: a rerun would rotate
            // twice, so read before saying it failed.
            Err(WriteFailure::Other(e)) => match rotation::read_state(&self.env.client).await {
                Ok(s) if s.cluster.generation == from.generation + 1 => {
                    tracing::warn!("{e}; the Cluster reads the new generation: the bump landed");
                    s.cluster.generation
                }
                _ => return Err(Refusal::Failed(e)),
            },
            Err(e) => return Err(refusal(self, e).await),
        };
        self.env.say(&format!(
            "fleet-local/local: rotation generation {g} asked for"
        ));
        Ok(true)
    }
    async fn verify(&self, _: &str, from: &ClusterGeneration) -> Result<(), String> {
        self.follow(from, &|_| {}).await
    }
    async fn verify_with_progress(
        &self,
        _: &str,
        from: &ClusterGeneration,
        progress: &dyn Fn(String),
    ) -> Result<(), String> {
        self.follow(from, progress).await
    }
    fn audit(&self, line: &AuditLine) {
        self.env.audit(line)
    }
}

impl RotateClusterIo {
    /// Follows the rotation per node and on the RKEControlPlane to its end.
    async fn follow(
        &self,
        from: &ClusterGeneration,
        progress: &dyn Fn(String),
    ) -> Result<(), String> {
        crate::faults::point("follow", API_TARGET).await;
        let env = &*self.env;
        let want = from.generation + 1;
        let nodes = env.nodes().await?;
        let deadline = tokio::time::Instant::now() + env.timeout;
        let mut seen = self.start.lock().expect("not poisoned").clone();
        let mut last_cp = None;
        let mut last_progress = tokio::time::Instant::now();
        let mut hinted = false;
        loop {
            for n in &nodes {
                let Ok(p) = node_progress(env, n).await else {
                    continue;
                };
                let before = seen.get(&n.name).cloned().unwrap_or_default();
                if p != before {
                    let unit = if n.role == Role::Worker {
                        "rke2-agent"
                    } else {
                        "rke2-server"
                    };
                    let mut what = Vec::new();
                    if p.0 != before.0 {
                        what.push(format!("{} now {}", flow::GENERATION_FILE, p.0));
                    }
                    if p.1 != before.1 {
                        what.push(format!("{unit} restarted ({})", p.1));
                    }
                    let detail = what.join(", ");
                    env.tell(progress, format!("{}: {detail}", n.name));
                    for l in journal_tail(env, &n.name, unit, "5").await.lines() {
                        env.tell(progress, format!("  {} | {l}", n.name));
                    }
                    env.audit(&AuditLine {
                        action: "certs.rotate",
                        correlation_id: String::new(),
                        target: Some(n.name.clone()),
                        step: "follow",
                        result: crate::audit::Outcome::Applied,
                        detail,
                        old: None,
                        new: None,
                    });
                    seen.insert(n.name.clone(), p);
                    last_progress = tokio::time::Instant::now();
                }
            }
            if let Ok(s) = rotation::read_state(&env.client).await {
                let cp = (s.control_plane.ready, s.control_plane.status_generation);
                if last_cp != Some(cp) {
                    env.tell(
                        progress,
                        format!(
                            "RKEControlPlane: Ready {}, status generation {}{}",
                            match cp.0 {
                                Some(true) => "True",
                                Some(false) => "False",
                                None => "unknown",
                            },
                            cp.1,
                            if s.control_plane.ready_message.is_empty() {
                                String::new()
                            } else {
                                format!(" ({})", s.control_plane.ready_message)
                            }
                        ),
                    );
                    last_cp = Some(cp);
                    last_progress = tokio::time::Instant::now();
                }
                if s.done(want) {
                    if let Some(before) = &self.leaves_before {
                        for l in self.renewed_lines(before).await {
                            env.tell(progress, l);
                        }
                    }
                    return Ok(());
                }
            }
            if !hinted && last_progress.elapsed() >= QUIET {
                hinted = true;
                for h in stuck_hints(env, &nodes).await {
                    env.tell(progress, format!("stuck: {h}"));
                }
            }
            if tokio::time::Instant::now() >= deadline {
                let hints = stuck_hints(env, &nodes).await;
                return Err(format!(
                    "the rotation to generation {want} was not done within {} s{}",
                    env.timeout.as_secs(),
                    if hints.is_empty() {
                        "; it may still finish: run `harvcred certs` again later".to_string()
                    } else {
                        format!("; {}", hints.join("; "))
                    }
                ));
            }
            tokio::time::sleep(Duration::from_millis(700)).await;
        }
    }
}

// rotate a node by hand

pub struct RotateNodeIo(pub Arc<CertsEnv>);

/// Sets `$rke2`: sudo's PATH may not hold it; Harvester installs RKE2 under
/// /opt/rke2 (its /usr is read-only), the install script under /usr/local.
const FIND_RKE2: &str = "rke2=$(command -v rke2); for c in /opt/rke2/bin/rke2 /usr/local/bin/rke2; do [ -x \"$rke2\" ] || rke2=$c; done;";

async fn node_ready(env: &CertsEnv, name: &str) -> Option<bool> {
    env.nodes()
        .await
        .ok()?
        .into_iter()
        .find(|n| n.name == name)?
        .ready
}

impl ChangeIo<RotateNodeChange> for RotateNodeIo {
    async fn load(&self) -> Result<Vec<NodeInfo>, String> {
        self.0.probe_audit()?;
        self.0.nodes().await
    }
    async fn dry_run(&self, node: &str, w: &RotateNodeWork) -> Result<(), String> {
        self.0
            .sh(
                node,
                &format!(
                    "{FIND_RKE2} [ -x \"$rke2\" ] || {{ echo 'refused: no rke2 command (PATH, /opt/rke2/bin, /usr/local/bin)' >&2; exit 1; }}; \
                     command -v systemd-run >/dev/null || {{ echo 'refused: no systemd-run on the node' >&2; exit 1; }}; systemctl cat \"$1\" >/dev/null"
                ),
                &[w.unit()],
            )
            .await
            .map(drop)
    }
    async fn apply(&self, node: &str, w: &RotateNodeWork) -> Result<bool, String> {
        let env = &*self.0;
        if w.server {
            // Checked again now: the node before may not be Ready yet.
            let nodes = env.nodes().await?;
            let down = flow::servers_not_ready(&nodes, node);
            if !down.is_empty() {
                return Err(format!(
                    "refused: control-plane node {} is not Ready; {node} is not stopped",
                    down.join(", ")
                ));
            }
        }
        let unit = w.unit();
        let deadline = tokio::time::Instant::now() + env.timeout;
        if !w.again {
            match self.last_rotation(node, unit).await? {
                NodeRotation::Running(since) => {
                    let what = format!(
                        "already so: a rotation by harvcred has been running on {node} since {}; followed, not started again",
                        unix_time_text(since)
                    );
                    env.say(&format!("{node}: {what}"));
                    self.rotation_audit(node, crate::audit::Outcome::Applied, what);
                    self.rotation_result(node, unit, deadline).await?;
                    return Ok(false);
                }
                NodeRotation::Recent(at) => {
                    let what = format!(
                        "already so: harvcred's rotation renewed {node}'s certificates at {} (rke2's backup tls-{at}), less than {} min ago; not rotated again (--again rotates anyway)",
                        unix_time_text(Some(at)),
                        flow::ROTATED_RECENTLY_SECS / 60
                    );
                    env.say(&format!("{node}: {what}"));
                    self.rotation_audit(node, crate::audit::Outcome::Applied, what);
                    self.start_if_stopped(node, unit).await?;
                    return Ok(false);
                }
                NodeRotation::None => {}
            }
        }
        #[cfg(debug_assertions)]
        let pause = crate::faults::claim("restart", node)
            .map(|dir| (dir, hex::encode(rand::random::<[u8; 8]>())));
        #[cfg(debug_assertions)]
        let pause_word = pause
            .as_ref()
            .map(|(_, id)| format!("restart:{id}"))
            .unwrap_or_default();
        #[cfg(not(debug_assertions))]
        let pause_word = String::new();
        let args = w.rotate_args();
        env.say(&format!(
            "{node}: in {}: systemctl stop {unit}; rke2 {}; systemctl start {unit}",
            flow::rotation_unit(unit),
            args.join(" ")
        ));
        let launch = format!("{FIND_RKE2} {LAUNCH_ROTATION}");
        let body = format!("{}{ROTATION}", crate::node::write::PAUSE_AT);
        let rotation_unit = flow::rotation_unit(unit);
        let result_file = flow::rotation_result_file(unit);
        let record_file = flow::rotation_record_file(unit);
        let mut argv: Vec<&str> = vec![
            unit,
            &rotation_unit,
            &result_file,
            &pause_word,
            &body,
            &record_file,
        ];
        argv.extend(args.iter().map(String::as_str));
        env.sh(node, &launch, &argv).await?;
        let done = self.rotation_result(node, unit, deadline);
        #[cfg(debug_assertions)]
        let done = async {
            let Some((dir, id)) = &pause else {
                return done.await;
            };
            tokio::pin!(done);
            let t = Target {
                name: node.to_string(),
                address: None,
            };
            tokio::select! {
                r = &mut done => return r,
                r = crate::node::write::relay_node_pause_once(&env.pool, &t, "restart", dir, id) => {
                    if let Err(e) = r {
                        tracing::warn!("{node}: the fault point's resume did not reach the node: {e}");
                    }
                }
            }
            done.await
        };
        let r = done.await;
        match &r {
            Ok(()) => self.rotation_audit(
                node,
                crate::audit::Outcome::Applied,
                format!("rke2 {} done; {unit} started again", args.join(" ")),
            ),
            Err(e) => self.rotation_audit(node, crate::audit::Outcome::Failed, e.clone()),
        }
        r.map(|()| true)
    }
    async fn verify(&self, node: &str, w: &RotateNodeWork) -> Result<(), String> {
        self.follow(node, w, &|_| {}).await
    }
    async fn verify_with_progress(
        &self,
        node: &str,
        w: &RotateNodeWork,
        progress: &dyn Fn(String),
    ) -> Result<(), String> {
        self.follow(node, w, progress).await
    }
    fn audit(&self, line: &AuditLine) {
        self.0.audit(line)
    }
}

/// Starts the rotation on the node in a transient unit of its own, so that
/// neither a lost SSH session nor a killed harvcred leaves rke2 stopped.
/// After `FIND_RKE2`; `$1` rke2's unit, `$2` the rotation's unit, `$3` its
/// result file, `$4` the fault point's word (debug builds), `$5`
/// [`ROTATION`], `$6` the record file, then `rke2`'s arguments.
const LAUNCH_ROTATION: &str = r#"[ -x "$rke2" ] || { echo 'no rke2 command (PATH, /opt/rke2/bin, /usr/local/bin)' >&2; exit 1; }
u=$1 ru=$2 res=$3 pause=$4 body=$5 rec=$6; shift 6
mkdir -p "$(dirname "$res")" "$(dirname "$rec")"
rm -f "$res" "$res.out"
exec systemd-run --unit="$ru" --description="harvcred: rotate the certificates of $u" --collect --quiet \
  /bin/sh -c "$body" harvcred-rotate "$u" "$res" "$pause" "$rke2" "$rec" "$@""#;

/// The rotation in its unit: stop, rotate, and start again whatever the
/// rotation said (the EXIT trap, also on SIGTERM); each step appended to the
/// result file: `started T`, `stopped`, `rotated RC`, `done RC EXIT T`.
/// Right before rke2 runs, the record file gets the time (whole, by rename).
const ROTATION: &str = r#"u=$1 res=$2 pause=$3 rke2=$4 rec=$5; shift 5
rc=-
trap 'c=$?; systemctl start --no-block "$u"; echo "done $rc $c $(date +%s)" >> "$res"' EXIT
trap 'exit 143' TERM HUP INT
echo "started $(date +%s)" >> "$res"
systemctl stop "$u" || exit 20
echo stopped >> "$res"
pause_at restart
date +%s > "$rec.tmp" && mv -f "$rec.tmp" "$rec"
"$rke2" "$@" > "$res.out" 2>&1
rc=$?
echo "rotated $rc" >> "$res"
exit "$rc"
"#;

/// What the node says of its last rotation: harvcred's rotation unit
/// running (`running T|-`), else rke2's newest `tls-<unix time>` backup
/// made since harvcred's record (`$4`) when younger than `$3` s (`rotated
/// T`), else `none`. `$1` the rotation's unit, `$2` its result file.
const LAST_ROTATION: &str = r#"if systemctl is-active --quiet "$1"; then
  s=$(sed -n 's/^started //p' "$2" 2>/dev/null | tail -n 1); echo "running ${s:--}"; exit 0
fi
since=$(cat "$4" 2>/dev/null)
case $since in ''|*[!0-9]*) echo none; exit 0 ;; esac
now=$(date +%s) best=0
for d in /var/lib/rancher/rke2/server/tls-* /var/lib/rancher/rke2/agent/tls-*; do
  n=${d##*/tls-}
  case $n in ''|*[!0-9]*) continue ;; esac
  if [ "$n" -gt "$best" ]; then best=$n; fi
done
if [ "$best" -ge "$since" ] && [ $((now - best)) -lt "$3" ]; then echo "rotated $best"; else echo none; fi"#;

/// The result file, then `RUNNING` while the rotation's unit runs.
const ROTATION_PROGRESS: &str =
    r#"cat "$2" 2>/dev/null; if systemctl is-active --quiet "$1"; then echo RUNNING; fi"#;

/// A node's last rotation, as [`LAST_ROTATION`] says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NodeRotation {
    /// harvcred's rotation runs there, started at this unix time.
    Running(Option<i64>),
    /// rke2 rotated at this unix time, recently.
    Recent(i64),
    None,
}

fn parse_last_rotation(out: &str) -> NodeRotation {
    let line = out.lines().next().unwrap_or("").trim();
    match line.split_once(' ') {
        Some(("running", t)) => NodeRotation::Running(t.parse().ok()),
        Some(("rotated", t)) => t
            .parse()
            .map(NodeRotation::Recent)
            .unwrap_or(NodeRotation::None),
        _ => NodeRotation::None,
    }
}

/// How a rotation ended, from its result file ([`ROTATION`]); `None` while
/// it runs or when nothing says (`running`: its unit still runs).
fn rotation_outcome(progress: &str, running: bool) -> Option<Result<(), String>> {
    if let Some(done) = progress.lines().find_map(|l| l.strip_prefix("done ")) {
        let mut f = done.split_whitespace();
        let (rc, exit) = (f.next().unwrap_or("-"), f.next().unwrap_or("-"));
        let why = match (rc, exit) {
            ("0", _) => return Some(Ok(())),
            ("-", "20") => "systemctl stop failed; nothing rotated".to_string(),
            ("-", "12") => {
                "the rotation was not resumed at its fault point; nothing rotated".into()
            }
            ("-", e) => {
                format!("the rotation was stopped before rke2 ran (exit {e}); nothing rotated")
            }
            (rc, _) => format!("rke2 certificate rotate exited {rc}"),
        };
        return Some(Err(format!("{why}; rke2 was started again")));
    }
    if running {
        return None;
    }
    Some(Err(if progress.trim().is_empty() {
        "the rotation left no result (the node restarted meanwhile?); nothing is known to be rotated: run the same command again".into()
    } else {
        "the rotation's unit ended without a result".into()
    }))
}

fn unix_time_text(t: Option<i64>) -> String {
    t.and_then(|t| OffsetDateTime::from_unix_timestamp(t).ok())
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| "an unknown time".into())
}

/// How long one poll of a node may take: a cut link is noticed within it.
const POLL_LIMIT: Duration = Duration::from_secs(15);

impl RotateNodeIo {
    /// `script` as root on `node` ([`CertsEnv::sh`]) within [`POLL_LIMIT`]:
    /// a cut link is noticed at once, and the connection left hanging is
    /// forgotten, so the next poll opens a new one.
    async fn poll(&self, node: &str, script: &str, args: &[&str]) -> Result<String, String> {
        match tokio::time::timeout(POLL_LIMIT, self.0.sh(node, script, args)).await {
            Ok(r) => r,
            Err(_) => {
                self.0.pool.reset(node).await;
                Err(format!("{node}: no answer within {POLL_LIMIT:?}"))
            }
        }
    }

    async fn last_rotation(&self, node: &str, unit: &str) -> Result<NodeRotation, String> {
        let recent = flow::ROTATED_RECENTLY_SECS.to_string();
        self.0
            .sh(
                node,
                LAST_ROTATION,
                &[
                    &flow::rotation_unit(unit),
                    &flow::rotation_result_file(unit),
                    &recent,
                    &flow::rotation_record_file(unit),
                ],
            )
            .await
            .map(|out| parse_last_rotation(&out))
    }

    /// Waits for the rotation's result (until `deadline`), shows rke2's
    /// output, and says how it ended. The node may not answer meanwhile (a
    /// cut link, a reboot): it is asked again until the deadline.
    async fn rotation_result(
        &self,
        node: &str,
        unit: &str,
        deadline: tokio::time::Instant,
    ) -> Result<(), String> {
        let env = &*self.0;
        let (ru, res) = (flow::rotation_unit(unit), flow::rotation_result_file(unit));
        let mut last_error = String::new();
        let mut shown = 0usize;
        let outcome = loop {
            match self.poll(node, ROTATION_PROGRESS, &[&ru, &res]).await {
                Ok(out) => {
                    let running = out.lines().any(|l| l == "RUNNING");
                    let steps: Vec<&str> = out.lines().filter(|l| *l != "RUNNING").collect();
                    for l in steps.iter().skip(shown) {
                        env.say(&format!("{node}: rotation: {l}"));
                    }
                    shown = shown.max(steps.len());
                    if let Some(o) = rotation_outcome(&out, running) {
                        break o;
                    }
                }
                Err(e) => last_error = e,
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(format!(
                    "{node}: no result of the rotation within {} s{}; it goes on on the node by itself ({ru}, result in {res}): run the same command again to follow it",
                    env.timeout.as_secs(),
                    if last_error.is_empty() {
                        String::new()
                    } else {
                        format!(" ({last_error})")
                    }
                ));
            }
            tokio::time::sleep(Duration::from_millis(700)).await;
        };
        if let Ok(out) = self
            .poll(
                node,
                "cat \"$1\" 2>/dev/null || true",
                &[&format!("{res}.out")],
            )
            .await
        {
            for l in out.lines() {
                env.say(&format!("  {node} | {l}"));
            }
        }
        outcome.map_err(|e| format!("{node}: {e}"))
    }

    /// A rotation found done: its unit is started if it is not running (a
    /// rotation cut short before its start), nothing else.
    async fn start_if_stopped(&self, node: &str, unit: &str) -> Result<(), String> {
        let out = self
            .0
            .sh(
                node,
                "s=$(systemctl is-active \"$1\"); case $s in active|activating|reloading) ;; *) systemctl start --no-block \"$1\"; echo \"started ($s before)\" ;; esac",
                &[unit],
            )
            .await?;
        if !out.trim().is_empty() {
            self.0.say(&format!("{node}: {unit} {}", out.trim()));
        }
        Ok(())
    }

    /// One audit line of what the rotation did (step `rotate`).
    fn rotation_audit(&self, node: &str, result: crate::audit::Outcome, detail: String) {
        self.0.audit(&AuditLine {
            action: "certs.rotate-node",
            correlation_id: String::new(),
            target: Some(node.to_string()),
            step: "rotate",
            result,
            detail,
            old: None,
            new: None,
        });
    }

    /// Follows the node's log until its unit is active and the Node Ready.
    async fn follow(
        &self,
        node: &str,
        w: &RotateNodeWork,
        progress: &dyn Fn(String),
    ) -> Result<(), String> {
        crate::faults::point("verify", node).await;
        let env = &*self.0;
        let unit = w.unit();
        let deadline = tokio::time::Instant::now() + env.timeout;
        let mut shown = 0usize;
        loop {
            let active = self
                .poll(node, "systemctl is-active \"$1\" || true", &[unit])
                .await
                .unwrap_or_default();
            let log = self
                .poll(node, JOURNAL_TAIL, &[unit, "20"])
                .await
                .unwrap_or_default();
            let lines: Vec<&str> = log.lines().collect();
            // The log while it starts, once per line.
            if lines.len() > shown {
                for l in &lines[shown..] {
                    env.tell(progress, format!("  {node} | {l}"));
                }
                shown = lines.len();
            }
            if active.trim() == "active" && node_ready(env, node).await == Some(true) {
                env.tell(
                    progress,
                    format!("{node}: {unit} active and the Node Ready"),
                );
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(format!(
                    "{node}: {unit} is {} and the Node not Ready after {} s; look at `harvcred logs --node {node}`",
                    active.trim(),
                    env.timeout.as_secs()
                ));
            }
            tokio::time::sleep(Duration::from_millis(700)).await;
        }
    }
}

// controller-manager / scheduler fix

impl FixKcmIo {
    pub fn new(env: Arc<CertsEnv>, targets: Vec<String>) -> Self {
        FixKcmIo {
            env,
            targets,
            before: Mutex::new(BTreeMap::new()),
        }
    }
}

pub struct FixKcmIo {
    env: Arc<CertsEnv>,
    targets: Vec<String>,
    /// The sha256 of each certificate before the fix: the new one must differ.
    before: Mutex<BTreeMap<(String, &'static str), String>>,
}

async fn read_component(
    env: &CertsEnv,
    node: &str,
    c: &str,
) -> Result<crate::creds::certs::CertInfo, String> {
    read_cert(env, node, &flow::component_cert(c)).await
}

/// The first certificate of the file at `path` on `node`.
async fn read_cert(
    env: &CertsEnv,
    node: &str,
    path: &str,
) -> Result<crate::creds::certs::CertInfo, String> {
    let b64 = env.sh(node, "base64 -w0 < \"$1\"", &[path]).await?;
    use base64::Engine;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .map_err(|e| format!("{node}: {path}: {e}"))?;
    crate::creds::certs::parse_cert_file(path, &bytes)
        .certs
        .into_iter()
        .next()
        .ok_or_else(|| format!("{path} holds no certificate"))
}

/// The certificates in `node`'s newest `tls-harvcred-*` folder, per
/// component: what the last fix there kept.
async fn read_kept(env: &CertsEnv, node: &str) -> BTreeMap<&'static str, Kept> {
    let newest = env
        .sh(
            node,
            "ls -d \"$1\"*/ 2>/dev/null | sort | tail -n 1",
            &[flow::KCM_BACKUP_PREFIX],
        )
        .await
        .unwrap_or_default();
    let folder = newest.trim().trim_end_matches('/');
    let mut kept = BTreeMap::new();
    if folder.is_empty() {
        return kept;
    }
    for c in flow::KCM_COMPONENTS {
        if let Ok(cert) = read_cert(env, node, &format!("{folder}/{c}/{c}.crt")).await {
            kept.insert(
                c,
                Kept {
                    folder: folder.to_string(),
                    cert,
                },
            );
        }
    }
    kept
}

/// The fix on one node, every component in one go (`$1` the backup
/// prefix, `$2` crictl, `$3` its config, then the components). Safe to run
/// again after any interruption, and the files are the old or the new ones
/// throughout but for the instant between their removal and the restart:
/// - one backup folder per run (one timestamp), made whole under a hidden
///   name, synced, then renamed, so a `tls-harvcred-*` folder is always
///   complete; the originals are removed only after that;
/// - the newest folder is used again when it holds the current files (an
///   interrupted run copied them) or they are gone (it removed them): no
///   second backup;
/// - a component whose files are gone only has its container restarted.
const KCM_FIX_SCRIPT: &str = r#"set -e
prefix=$1 crictl=$2; export CRI_CONFIG_FILE="$3"; shift 3
tls=${prefix%/*}/tls part=${prefix%/*}/.tls-harvcred.part
rm -rf "$part"
b=$(ls -d "$prefix"*/ 2>/dev/null | sort | tail -n 1); b=${b%/}
new=
for c; do
  f=$tls/$c/$c
  if [ -f "$f.crt" ] && ! { [ -n "$b" ] && cmp -s "$f.crt" "$b/$c/$c.crt" && cmp -s "$f.key" "$b/$c/$c.key"; }; then new=1; fi
done
if [ -n "$new" ]; then
  b=$prefix$(date -u +%Y%m%dT%H%M%SZ)
  for c; do
    f=$tls/$c/$c
    if [ -f "$f.crt" ]; then mkdir -p "$part/$c"; cp -p "$f.crt" "$f.key" "$part/$c/"; fi
  done
  sync; mv -T "$part" "$b"; sync
  said="old certificates and keys kept in $b"
else
  said="old certificates and keys already kept in $b (by an interrupted fix)"
fi
for c; do rm -f "$tls/$c/$c.crt" "$tls/$c/$c.key"; done
for c; do
  ids=$("$crictl" ps -q --name "$c")
  [ -z "$ids" ] || "$crictl" rm -f $ids >/dev/null
done
echo "$said""#;

impl ChangeIo<FixKcmChange> for FixKcmIo {
    async fn load(&self) -> Result<FixKcmFacts, String> {
        let env = &*self.env;
        env.probe_audit()?;
        let nodes = env.nodes().await?;
        let mut certs = BTreeMap::new();
        let mut kept = BTreeMap::new();
        for t in &self.targets {
            if !nodes.iter().any(|n| &n.name == t && n.role == Role::Server) {
                continue;
            }
            let mut per = BTreeMap::new();
            for c in flow::KCM_COMPONENTS {
                let r = read_component(env, t, c).await;
                if let Ok(cert) = &r {
                    self.before
                        .lock()
                        .expect("not poisoned")
                        .insert((t.clone(), c), cert.sha256.clone());
                }
                per.insert(c, r);
            }
            certs.insert(t.clone(), per);
            kept.insert(t.clone(), read_kept(env, t).await);
        }
        Ok(FixKcmFacts {
            now: OffsetDateTime::now_utc(),
            thresholds: env.thresholds,
            certs,
            kept,
        })
    }
    async fn dry_run(&self, node: &str, comps: &Vec<&'static str>) -> Result<(), String> {
        for c in comps {
            // A certificate an interrupted fix moved aside is in its folder.
            self.env
                .sh(
                    node,
                    "test -x \"$2\" || { echo \"refused: $2 is missing\" >&2; exit 1; }; \
                     test -f \"$1\" || ls \"$3\"*/\"$4\"/\"$4\".crt >/dev/null 2>&1 || { echo \"refused: $1 is missing\" >&2; exit 1; }",
                    &[
                        &flow::component_cert(c),
                        flow::CRICTL,
                        flow::KCM_BACKUP_PREFIX,
                        c,
                    ],
                )
                .await?;
        }
        Ok(())
    }
    async fn apply(&self, node: &str, comps: &Vec<&'static str>) -> Result<bool, String> {
        // Copying the files aside is the backup; removing them and the
        // container the restart.
        crate::faults::point("backup", node).await;
        if comps.is_empty() {
            self.env
                .say(&format!("{node}: fixed already, nothing to do"));
            return Ok(false);
        }
        let mut args = vec![flow::KCM_BACKUP_PREFIX, flow::CRICTL, flow::CRICTL_CONFIG];
        args.extend(comps.iter().copied());
        let out = self.env.sh(node, KCM_FIX_SCRIPT, &args).await?;
        self.env.say(&format!(
            "{node}: {}; {} restarted",
            crate::logs::sanitize_str(out.trim()),
            comps.join(", ")
        ));
        Ok(true)
    }
    async fn verify(&self, node: &str, comps: &Vec<&'static str>) -> Result<(), String> {
        self.follow(node, comps, &|_| {}).await
    }
    async fn verify_with_progress(
        &self,
        node: &str,
        comps: &Vec<&'static str>,
        progress: &dyn Fn(String),
    ) -> Result<(), String> {
        self.follow(node, comps, progress).await
    }
    fn audit(&self, line: &AuditLine) {
        self.env.audit(line)
    }
}

impl FixKcmIo {
    /// Waits for each component's new certificate and shows its dates.
    async fn follow(
        &self,
        node: &str,
        comps: &[&'static str],
        progress: &dyn Fn(String),
    ) -> Result<(), String> {
        crate::faults::point("verify", node).await;
        let deadline = tokio::time::Instant::now() + self.env.timeout;
        for c in comps {
            let old = self
                .before
                .lock()
                .expect("not poisoned")
                .get(&(node.to_string(), *c))
                .cloned()
                .unwrap_or_default();
            loop {
                if let Ok(cert) = read_component(&self.env, node, c).await
                    && cert.sha256 != old
                {
                    self.env.tell(
                        progress,
                        format!(
                            "{node}: new {c} certificate: issuer {}, valid {} to {}",
                            cert.issuer_cn.as_deref().unwrap_or(&cert.issuer),
                            crate::creds::certs::format_expiry(cert.not_before),
                            crate::creds::certs::format_expiry(cert.not_after)
                        ),
                    );
                    break;
                }

                if tokio::time::Instant::now() >= deadline {
                    return Err(format!(
                        "no new {c} certificate within {} s: look at the static pod (`crictl ps --name {c}` with CRI_CONFIG_FILE={})",
                        self.env.timeout.as_secs(),
                        flow::CRICTL_CONFIG
                    ));
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
        Ok(())
    }
}

// running them

/// Every leaf certificate per node (node, file, block) -> (serial, NotAfter).
type Leaves = BTreeMap<(String, String, usize), (String, OffsetDateTime)>;

fn leaves(s: &Sweep) -> Leaves {
    let mut m = BTreeMap::new();
    for n in &s.nodes {
        if let NodeOutcome::Report(r) = &n.outcome {
            for c in r.certs.iter().filter(|c| !c.cert.is_ca) {
                m.insert(
                    (n.info.name.clone(), c.cert.path.clone(), c.cert.index),
                    (c.cert.serial_hex.clone(), c.cert.not_after),
                );
            }
        }
    }
    m
}

/// Each leaf's NotAfter before -> after and whether it was renewed; in
/// columns, or `compact` for a narrow pane (no padding, the path after
/// `/var/lib/rancher/rke2/`).
fn old_new_lines(before: &Leaves, after: &Leaves, compact: bool) -> Vec<String> {
    before
        .iter()
        .map(|(k, (serial, na))| {
            let (node, file, _) = k;
            let now = after.get(k);
            let mark = match now {
                Some((s, _)) if s != serial => "renewed",
                Some(_) => "unchanged",
                None => "gone",
            };
            let (old, new) = (
                crate::creds::certs::format_expiry(*na),
                now.map(|(_, t)| crate::creds::certs::format_expiry(*t))
                    .unwrap_or_else(|| "-".into()),
            );
            if compact {
                let file = file.trim_start_matches("/var/lib/rancher/rke2/");
                format!("{node} {file}: {old} -> {new} {mark}")
            } else {
                format!("{node:<8} {file:<70} {old} -> {new} {mark}")
            }
        })
        .collect()
}

fn print_old_new(before: &Leaves, after: &Leaves) {
    println!("Certificates, before -> after:");
    let lines = old_new_lines(before, after, false);
    for l in &lines {
        println!("  {}", sanitize_str(l));
    }
    let renewed = lines.iter().filter(|l| l.ends_with(" renewed")).count();
    println!("{renewed} of {} leaf certificates renewed", before.len());
}

fn run_change(
    command: CertsCommand,
    connect: &ConnectArgs,
    read_only: bool,
) -> anyhow::Result<i32> {
    let paths = crate::config::Paths::from_env();
    let config = match crate::config::Config::load(&paths.config_file()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("harvcred certs: {}", super::status::error_line(&e));
            return Ok(walk::UNREACHABLE);
        }
    };
    if read_only || config.read_only {
        eprintln!(
            "harvcred certs: refused, {} forbids changing the cluster",
            if read_only {
                "--read-only"
            } else {
                "read_only in config.toml"
            }
        );
        return Ok(walk::REFUSED);
    }
    crate::console::init_logging(&paths);
    let change = match &command {
        CertsCommand::AutoRotate { change, .. }
        | CertsCommand::Rotate { change, .. }
        | CertsCommand::FixKcm { change, .. } => change.clone(),
    };
    let rt = super::runtime()?;
    let ssh = connect.ssh_settings(&config, &paths);
    let env = match rt.block_on(connect_env(
        &connect.kube(),
        ssh,
        paths.state_dir.clone(),
        Duration::from_secs(change.timeout),
        config.certificates,
        String::new(),
        false,
    )) {
        Ok(env) => env,
        Err(e) => {
            eprintln!("harvcred certs: {}", sanitize_str(&e));
            return Ok(walk::UNREACHABLE);
        }
    };
    let flags = WalkFlags {
        dry_run: change.dry_run,
        yes: change.yes,
        parallel: 1,
        keep_going: false,
    };
    let code = match command {
        CertsCommand::AutoRotate {
            enable,
            disable,
            expiring_in_hours,
            ..
        } => {
            let draft = AutoRotateDraft {
                enable: if enable {
                    Some(true)
                } else if disable {
                    Some(false)
                } else {
                    None
                },
                expiring_in_hours,
                unparsed: Vec::new(),
            };
            walk::run(
                &rt,
                AutoRotateChange,
                &AutoRotateIo(env.clone()),
                vec![rotation::AUTO_ROTATE.to_string()],
                draft,
                flags,
            )
        }
        CertsCommand::Rotate {
            cluster: _,
            nodes,
            services,
            again,
            ..
        } => {
            let kube = connect.kube();
            let sweep_now = || {
                rt.block_on(crate::status::sweep_all(
                    &kube,
                    &env.pool,
                    Vec::new(),
                    env.thresholds,
                ))
            };
            let before = if change.dry_run {
                None
            } else {
                Some(sweep_now())
            };
            let code = if nodes.is_empty() {
                let expired = before
                    .as_ref()
                    .map(|s| expired_of(&leaves(s), OffsetDateTime::now_utc()))
                    .unwrap_or_default();
                walk::run(
                    &rt,
                    RotateClusterChange,
                    &RotateClusterIo::new(env.clone(), expired, None),
                    vec![flow::CLUSTER_TARGET.to_string()],
                    (),
                    flags,
                )
            } else {
                // The rotation's own audit lines come before the engine's
                // first: they share its id from the start.
                let id = crate::audit::correlation_id();
                *env.correlation_id.lock().expect("not poisoned") = id.clone();
                walk::run_as(
                    &rt,
                    RotateNodeChange,
                    &RotateNodeIo(env.clone()),
                    nodes,
                    RotateNodeDraft { services, again },
                    flags,
                    id,
                )
            };
            if let Some(before) = before
                && code != walk::REFUSED
            {
                print_old_new(&leaves(&before), &leaves(&sweep_now()));
            }
            code
        }
        CertsCommand::FixKcm { nodes, .. } => walk::run(
            &rt,
            FixKcmChange,
            &FixKcmIo::new(env.clone(), nodes.clone()),
            nodes,
            (),
            flags,
        ),
    };
    rt.block_on(async {
        let _ = tokio::time::timeout(Duration::from_secs(3), env.pool.close_all()).await;
    });
    Ok(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_rotation_is_read_from_the_nodes_words() {
        assert_eq!(
            parse_last_rotation("running 1796097503\n"),
            NodeRotation::Running(Some(1796097503))
        );
        assert_eq!(
            parse_last_rotation("running -\n"),
            NodeRotation::Running(None)
        );
        assert_eq!(
            parse_last_rotation("rotated 1796097503\n"),
            NodeRotation::Recent(1796097503)
        );
        assert_eq!(parse_last_rotation("none\n"), NodeRotation::None);
        assert_eq!(parse_last_rotation(""), NodeRotation::None);
    }

    #[test]
    fn a_rotation_ends_as_its_result_file_says() {
        let run = "started 1\nstopped\n";
        assert_eq!(rotation_outcome(run, true), None, "still running");
        assert_eq!(
            rotation_outcome(&format!("{run}rotated 0\ndone 0 0 2\n"), false),
            Some(Ok(()))
        );
        let failed = rotation_outcome(&format!("{run}rotated 1\ndone 1 1 2\n"), false);
        assert!(matches!(failed, Some(Err(e)) if e.contains("exited 1")));
        let cut = rotation_outcome(&format!("{run}done - 143 2\n"), false);
        assert!(matches!(cut, Some(Err(e)) if e.contains("nothing rotated")));
        // /run is lost in a reboot: no result, no unit.
        let lost = rotation_outcome("", false);
        assert!(matches!(lost, Some(Err(e)) if e.contains("run the same command again")));
    }
}
