//! `harvcred token`: every copy of the cluster token (`show`), the refusal
//! to rotate it (`rotate`), and the fix of a joining node's token (`fix`, on
//! the engine: `flows::token`).
//!
//! The token itself is read only from a healthy server's rancherd config
//! over SSH, held zeroised, and reaches the node only inside the content of
//! the safe write (`node::write`, on the remote command's stdin). It is
//! never printed, logged, audited, put in an argument or written on this
//! host; only a short keyed hash is shown.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::{Args, Subcommand};
use k8s_openapi::api::core::v1::{Node, Secret};
use kube::{Api, Client};
use zeroize::Zeroizing;

use super::ConnectArgs;
use super::status::{error_line, json_text, table};
use crate::audit;
use crate::creds::level::Thresholds;
use crate::creds::report::{Area, NodeFiles, SERVER_TOKEN, TokenCopy};
use crate::creds::token::{self, RANCHERD_CONFIG, RANCHERD_RKE2_DROPIN, Token};
use crate::flows::engine::{AuditLine, ChangeIo};
use crate::flows::token::{
    self as flow, BOOTSTRAP_DATA, Facts, FileNow, JoinState, NodeFacts, NodeInput, NodeWork,
    TokenFix, TokenView,
};
use crate::logs::sanitize_str;
use crate::model::{NodeInfo, Role, Target};
use crate::node::Pool;
use crate::node::write::{self, Version, Written};
use crate::status::NodeOutcome;

#[derive(Debug, Clone, Args)]
pub struct TokenArgs {
    #[command(subcommand)]
    pub command: TokenCommand,
}

#[derive(Debug, Clone, Subcommand)]
pub enum TokenCommand {
    /// Every copy of the cluster token on every node and in the cluster (a
    /// short keyed hash, never the value), the node whose rancherd loops on
    /// the 502 `cacerts` failure (exit 0 ok, 1 warning, 2 critical or a node
    /// unreadable, 3 unknown).
    Show {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Refuses (exit 2): Harvester does not support changing the cluster
    /// token, and after `rke2 token rotate` rke2-server fails at its next start.
    Rotate {
        /// Whatever follows is not read (a token given here would already
        /// be visible in the process list: do not).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, hide = true)]
        ignored: Vec<String>,
    },
    /// Give a node that cannot join (rancherd loops on 502 `cacerts`) the
    /// token of a healthy server's rancherd config, in its rancherd config and
    /// in /oem; restart rancherd and follow it until it bootstraps (exit 0
    /// fixed and joined, 1 applied but not joined in time, 2 refused, 3 unreachable).
    Fix {
        /// The node to fix (one that has not joined).
        #[arg(long = "node", value_name = "NODE")]
        node: String,
        /// The server whose /etc/rancher/rancherd/config.yaml holds the token
        /// (default: the first healthy server).
        #[arg(long, value_name = "SERVER")]
        from: Option<String>,
        /// Read, preview and check the node only; change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Do not ask for confirmation (needed when stdin is not a terminal).
        #[arg(long)]
        yes: bool,
        /// How long to wait for rancherd to bootstrap and the Node to turn Ready.
        #[arg(long, value_name = "SECS", default_value_t = 300)]
        timeout: u64,
    },
}

/// Runs `script` (which reads rancherd's journal) as root on the node; its stdout.
async fn read_as_root(pool: &Pool, t: &Target, script: &str) -> Result<Vec<u8>, String> {
    let out = pool
        .exec(t, "sudo", &["-n", "sh", "-c", script])
        .await
        .map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(format!(
            "reading rancherd's journal: {}",
            last_line(&out.stderr)
        ));
    }
    Ok(out.stdout)
}

/// One command on the node: whether it has bootstrap data, and rancherd's
/// journal of this boot (the script holds no secret).
const JOIN_STATE_SCRIPT: &str = "if [ -d /var/lib/rancher/rke2/server/db ]; then echo B=yes; else echo B=no; fi; journalctl -b -u rancherd -o cat --no-pager -n 400 2>/dev/null; true";

/// Whether the node has joined (bootstrap data) and rancherd's token loop.
pub async fn read_join_state(pool: &Pool, t: &Target) -> Result<JoinState, String> {
    let stdout = read_as_root(pool, t, JOIN_STATE_SCRIPT).await?;
    let text = String::from_utf8_lossy(&stdout);
    let mut lines = text.splitn(2, '\n');
    let bootstrap = match lines.next().map(str::trim) {
        Some("B=yes") => Some(true),
        Some("B=no") => Some(false),
        _ => None,
    };
    Ok(JoinState {
        bootstrap_data: bootstrap,
        rancherd_loop: token::rancherd_join_loop(lines.next().unwrap_or("")),
    })
}

/// rancherd's journal since its last start (its running process, by
/// systemd's invocation id); empty when it is not running.
const CURRENT_RUN_SCRIPT: &str = "i=$(systemctl show -p InvocationID --value rancherd 2>/dev/null); [ -z \"$i\" ] || journalctl -u rancherd _SYSTEMD_INVOCATION_ID=\"$i\" -o cat --no-pager -n 400 2>/dev/null; true";

/// Whether rancherd's running process loops on the 502 `cacerts` failure:
/// it read a wrong token, and reads its config again only when restarted.
pub async fn rancherd_looping_now(pool: &Pool, t: &Target) -> Result<bool, String> {
    let stdout = read_as_root(pool, t, CURRENT_RUN_SCRIPT).await?;
    Ok(token::rancherd_join_loop(&String::from_utf8_lossy(&stdout)).is_some())
}

/// The copies in `fleet-local/local-rke-state` (`serverToken`, `agentToken`),
/// hashed at once.
pub async fn read_cluster_copies(client: Client) -> Vec<TokenCopy> {
    let (ns, name) = crate::status::RKE_STATE_SECRET;
    let api: Api<Secret> = Api::namespaced(client, ns);
    let Ok(Ok(Some(secret))) =
        tokio::time::timeout(Duration::from_secs(10), api.get_opt(name)).await
    else {
        return Vec::new();
    };
    let mut data = secret.data.unwrap_or_default();
    let mut out = Vec::new();
    for key in ["serverToken", "agentToken"] {
        let Some(bytes) = data.remove(key) else {
            continue;
        };
        let text = Zeroizing::new(String::from_utf8_lossy(&Zeroizing::new(bytes.0)).into_owned());
        if let Ok(t) = Token::parse(&text) {
            out.push(TokenCopy {
                source: format!("secret {ns}/{name} {key}"),
                short_hash: t.short_hash(),
                format: t.format_name(),
            });
        }
    }
    out
}

/// The view `token show` prints and `:token` draws: a sweep of every node,
/// each node's joining state, the cluster's copies.
pub async fn read_view(
    kube: &crate::cluster::KubeSettings,
    pool: &Pool,
    inventory: Vec<NodeInfo>,
    thresholds: Thresholds,
) -> TokenView {
    let sweep = crate::status::sweep_all(kube, pool, inventory, thresholds).await;
    let joins = futures::future::join_all(sweep.nodes.iter().map(|n| async move {
        match &n.outcome {
            NodeOutcome::Report(_) => {
                let t = Target {
                    name: n.info.name.clone(),
                    address: n.info.address.clone(),
                };
                read_join_state(pool, &t).await.unwrap_or_default()
            }
            NodeOutcome::Failed(_) => JoinState::default(),
        }
    }))
    .await;
    let cluster = match crate::cluster::connect(kube).await {
        Ok((client, _, _)) => read_cluster_copies(client).await,
        Err(_) => Vec::new(),
    };
    let inputs = sweep
        .nodes
        .iter()
        .zip(joins)
        .map(|(n, join)| NodeInput {
            node: &n.info.name,
            role: role_name(n.info.role),
            read: match &n.outcome {
                NodeOutcome::Report(r) => Ok((
                    r.tokens.as_slice(),
                    r.areas.get(&Area::Token).expect("every area is present"),
                )),
                NodeOutcome::Failed(u) => Err(format!("{}: {}", u.reason.label(), u.detail)),
            },
            join,
        })
        .collect();
    flow::build_view(inputs, &cluster, sweep.api_error.clone())
}

fn role_name(r: Role) -> &'static str {
    r.label()
}

fn last_line(b: &[u8]) -> String {
    let s = String::from_utf8_lossy(b);
    s.lines()
        .map(str::trim)
        .rfind(|l| !l.is_empty())
        .unwrap_or("failed without a message")
        .to_string()
}

fn agrees_text(a: Option<bool>) -> &'static str {
    match a {
        Some(true) => "agrees",
        Some(false) => "DIFFERS",
        None => "?",
    }
}

/// The view as text.
pub fn print_view(v: &TokenView) {
    print!("{}", render_view(v));
}

/// The view as `token show` prints it: sources, node names, lines and
/// messages are remote words, escaped.
pub fn render_view(v: &TokenView) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    match &v.servers_token {
        Some(h) => {
            let _ = writeln!(out, "the servers' own {SERVER_TOKEN}: {h}");
        }
        None => {
            let _ = writeln!(
                out,
                "the servers' own {SERVER_TOKEN}: none read, or the servers disagree"
            );
        }
    }
    for n in &v.nodes {
        let mut head = format!("{} ({}) {}", sanitize_str(&n.node), n.role, n.level);
        if n.bootstrap_data == Some(false) {
            head.push_str("  not joined (no RKE2 bootstrap data)");
        }
        let _ = writeln!(out, "\n{head}");
        if let Some(e) = &n.error {
            let _ = writeln!(out, "  {}", sanitize_str(e));
            continue;
        }
        if let Some(l) = &n.rancherd_loop {
            let _ = writeln!(
                out,
                "  rancherd 502 cacerts loop ({} times this boot): {}",
                l.repeats,
                sanitize_str(&l.line)
            );
        }
        let mut rows = vec![vec![
            "  SOURCE".to_string(),
            "HASH".into(),
            "FORMAT".into(),
            "CA".into(),
            "SERVERS".into(),
        ]];
        for c in &n.copies {
            rows.push(vec![
                format!("  {}", sanitize_str(&c.source)),
                c.short_hash.clone(),
                c.format.clone(),
                c.ca.to_string(),
                agrees_text(c.agrees_with_servers).to_string(),
            ]);
        }
        out.push_str(&table(&rows));
        for f in n.findings.iter().filter(|f| f.level.as_str() != "ok") {
            let _ = writeln!(
                out,
                "  {:<8} {}: {}",
                f.level.as_str(),
                sanitize_str(&f.subject),
                sanitize_str(&f.message)
            );
        }
    }
    let _ = writeln!(out, "\ncluster");
    if v.cluster.is_empty() {
        let _ = writeln!(
            out,
            "  the secret {}/{} could not be read",
            crate::status::RKE_STATE_SECRET.0,
            crate::status::RKE_STATE_SECRET.1
        );
    }
    let mut rows = Vec::new();
    for c in &v.cluster {
        rows.push(vec![
            format!("  {}", sanitize_str(&c.source)),
            c.short_hash.clone(),
            c.format.clone(),
            agrees_text(c.agrees_with_servers).to_string(),
        ]);
    }
    out.push_str(&table(&rows));
    if let Some(e) = &v.api_error {
        let _ = writeln!(out, "  API: {}", sanitize_str(e));
    }
    let _ = writeln!(
        out,
        "\nhashes are keyed afresh for each run: compare them within one output. The token is never rotated (`harvcred token rotate` says why)."
    );
    out
}

fn show(connect: &ConnectArgs, json: bool) -> anyhow::Result<i32> {
    let paths = crate::config::Paths::from_env();
    let config = match crate::config::Config::load(&paths.config_file()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("harvcred token show: {}", error_line(&e));
            return Ok(3);
        }
    };
    let inventory = match connect.inventory.as_ref().or(config.inventory.as_ref()) {
        Some(p) => match crate::cluster::load_inventory(p) {
            Ok(i) => i,
            Err(e) => {
                eprintln!("harvcred token show: {}", error_line(&e));
                return Ok(3);
            }
        },
        None => Vec::new(),
    };
    let ssh = connect.ssh_settings(&config, &paths);
    let kube = connect.kube();
    let rt = super::runtime()?;
    let view = rt.block_on(async {
        let pool = Pool::new(ssh);
        let v = read_view(&kube, &pool, inventory, config.certificates).await;
        let _ = tokio::time::timeout(Duration::from_secs(3), pool.close_all()).await;
        v
    });
    if json {
        println!("{}", json_text(&view)?);
    } else {
        print_view(&view);
    }
    Ok(view.exit_code)
}

// ------------------------------------------------------------------- fix --

/// The I/O of the fix: the nodes over SSH, the Node's Ready in the API, the
/// audit log.
pub struct TokenIo {
    pub pool: Arc<Pool>,
    pub client: Client,
    pub nodes: BTreeMap<String, NodeInfo>,
    pub from: Option<String>,
    /// The node being fixed.
    pub target_name: String,
    pub state_dir: std::path::PathBuf,
    pub cluster: String,
    pub correlation_id: String,
    pub timeout: Duration,
    /// Per node: the journal cursor just before rancherd was restarted.
    cursors: Mutex<BTreeMap<String, String>>,
}

/// Why the fix's I/O could not be set up, with the command's exit code.
pub struct TokenIoError {
    pub code: i32,
    pub message: String,
}

impl TokenIo {
    /// Connects for a fix of `node` (token read from `from`, else from a
    /// healthy server): the cluster's nodes from the API, plus the
    /// inventory's for a node that never registered.
    pub async fn connect(
        kube: &crate::cluster::KubeSettings,
        ssh: crate::node::SshSettings,
        state_dir: std::path::PathBuf,
        inventory: Vec<NodeInfo>,
        node: String,
        from: Option<String>,
        timeout: Duration,
    ) -> Result<TokenIo, TokenIoError> {
        let fail = |code, message: String| TokenIoError { code, message };
        let (client, context, server) = crate::cluster::connect(kube)
            .await
            .map_err(|p| fail(3, sanitize_str(&p.detail).into_owned()))?;
        let api: Api<Node> = Api::all(client.clone());
        let list = match tokio::time::timeout(
            Duration::from_secs(15),
            api.list(&Default::default()),
        )
        .await
        {
            Ok(Ok(l)) => l,
            Ok(Err(e)) => {
                return Err(fail(
                    3,
                    format!(
                        "listing the nodes: {}",
                        sanitize_str(&crate::cluster::chain_text(&e))
                    ),
                ));
            }
            Err(_) => {
                return Err(fail(3, "listing the nodes: no answer within 15 s".into()));
            }
        };
        let mut nodes: BTreeMap<String, NodeInfo> = list
            .items
            .iter()
            .map(crate::cluster::node_info)
            .map(|i| (i.name.clone(), i))
            .collect();
        for i in inventory {
            nodes
                .entry(i.name.clone())
                .or_insert(NodeInfo { ready: None, ..i });
        }
        for n in std::iter::once(&node).chain(from.iter()) {
            if !nodes.contains_key(n) {
                return Err(fail(
                    2,
                    format!("no node named {:?} in the cluster", sanitize_str(n)),
                ));
            }
        }
        Ok(TokenIo {
            pool: Pool::new(ssh),
            client,
            nodes,
            from,
            target_name: node,
            state_dir,
            cluster: format!("{context} ({server})"),
            correlation_id: audit::correlation_id(),
            timeout,
            cursors: Mutex::new(BTreeMap::new()),
        })
    }

    fn target(&self, node: &str) -> Result<Target, String> {
        self.nodes
            .get(node)
            .map(|n| Target {
                name: n.name.clone(),
                address: n.address.clone(),
            })
            .ok_or_else(|| format!("no node named {node} in the cluster"))
    }

    /// `sudo cat` of a file that holds the token, kept zeroised.
    async fn read_secret_file(&self, t: &Target, path: &str) -> Result<Zeroizing<String>, String> {
        let out = self
            .pool
            .exec(t, "sudo", &["-n", "cat", path])
            .await
            .map_err(|e| e.to_string())?;
        let bytes = Zeroizing::new(out.stdout);
        if !out.status.success() {
            return Err(format!("{path}: {}", last_line(&out.stderr)));
        }
        Ok(Zeroizing::new(String::from_utf8_lossy(&bytes).into_owned()))
    }

    /// The token of `server`'s rancherd config, when the server is healthy:
    /// Ready, and its rancherd token is the one its rke2-server runs with.
    async fn token_of(&self, server: &str) -> Result<Token, String> {
        let info = self
            .nodes
            .get(server)
            .ok_or_else(|| format!("refused: no node named {server} in the cluster"))?;
        if info.role != Role::Server {
            return Err(format!(
                "refused: {server} is not a server (management) node"
            ));
        }
        if info.ready != Some(true) {
            return Err(format!("{server} is not Ready in the API"));
        }
        let t = self.target(server)?;
        let cfg = self.read_secret_file(&t, RANCHERD_CONFIG).await?;
        let tok = token::token_from_yaml(&cfg)
            .map_err(|e| format!("{server} {RANCHERD_CONFIG}: {e}"))?
            .ok_or_else(|| format!("{server} {RANCHERD_CONFIG} has no token"))?;
        let own = self.read_secret_file(&t, SERVER_TOKEN).await?;
        let own = Token::parse(&own).map_err(|e| format!("{server} {SERVER_TOKEN}: {e}"))?;
        if !tok.agrees_with(&own) {
            return Err(format!(
                "{server}'s rancherd token ({}) is not the one its rke2-server runs with ({}): not a source to copy from",
                tok.short_hash(),
                own.short_hash()
            ));
        }
        Ok(tok)
    }

    async fn source_token(&self, target: &str) -> (String, Result<Token, String>) {
        if let Some(f) = &self.from {
            return (f.clone(), self.token_of(f).await);
        }
        let mut why = Vec::new();
        for (name, n) in &self.nodes {
            if n.role != Role::Server || name == target {
                continue;
            }
            match self.token_of(name).await {
                Ok(t) => return (name.clone(), Ok(t)),
                Err(e) => why.push(e),
            }
        }
        (
            String::new(),
            Err(format!(
                "no healthy server to read the token from{}",
                if why.is_empty() {
                    String::new()
                } else {
                    format!(": {}", why.join("; "))
                }
            )),
        )
    }

    async fn bootstrap_data(&self, t: &Target) -> Result<bool, String> {
        read_join_state(&self.pool, t)
            .await?
            .bootstrap_data
            .ok_or_else(|| "could not tell whether the node has bootstrap data".into())
    }

    async fn journal_after(&self, t: &Target, cursor: &str) -> Result<String, String> {
        let after = format!("--after-cursor={cursor}");
        let out = self
            .pool
            .exec(
                t,
                "sudo",
                &[
                    "-n",
                    "journalctl",
                    "-u",
                    "rancherd",
                    "--no-pager",
                    "-o",
                    "cat",
                    &after,
                ],
            )
            .await
            .map_err(|e| e.to_string())?;
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    async fn node_ready(&self, node: &str) -> Option<bool> {
        let api: Api<Node> = Api::all(self.client.clone());
        let n = api.get_opt(node).await.ok()??;
        crate::cluster::node_info(&n).ready
    }

    async fn apply_node(&self, node: &str, w: &NodeWork) -> Result<bool, String> {
        let t = self.target(node)?;
        // Checked again right before writing: a node may have joined meanwhile.
        if !w.edits.is_empty() && self.bootstrap_data(&t).await? {
            return Err(format!(
                "refused: {node} has bootstrap data ({BOOTSTRAP_DATA}) now: nothing written"
            ));
        }
        if !w.restart {
            // A rerun after a finished fix (or one bootstrapping now): the
            // copies hold the token; verified, nothing done again.
            return Ok(false);
        }
        for e in &w.edits {
            match write::write(&self.pool, &t, e).await {
                Ok(Written::Changed { .. }) | Ok(Written::AlreadyApplied) => {}
                Err(err) => return Err(format!("{}: {err}", e.path)),
            }
        }
        let out = self
            .pool
            .exec(
                &t,
                "sudo",
                &["-n", "journalctl", "-n", "0", "--show-cursor", "--no-pager"],
            )
            .await
            .map_err(|e| e.to_string())?;
        let text = String::from_utf8_lossy(&out.stdout);
        let cursor = text
            .lines()
            .find_map(|l| l.strip_prefix("-- cursor: "))
            .ok_or("the node's journal gave no cursor")?
            .trim()
            .to_string();
        if cursor.contains(char::is_whitespace) {
            return Err("the node's journal cursor is not one word".into());
        }
        self.cursors
            .lock()
            .expect("cursor map")
            .insert(node.to_string(), cursor);
        crate::faults::point("restart", node).await;
        let out = self
            .pool
            .exec(&t, "sudo", &["-n", "systemctl", "restart", "rancherd"])
            .await
            .map_err(|e| e.to_string())?;
        if !out.status.success() {
            return Err(format!(
                "{}files written; systemctl restart rancherd: {}",
                crate::flows::engine::PARTLY_APPLIED,
                last_line(&out.stderr)
            ));
        }
        Ok(true)
    }

    /// rancherd's log since this run restarted it, until it bootstraps,
    /// fails the same way again, or `deadline`.
    async fn follow_rancherd(
        &self,
        t: &Target,
        deadline: Instant,
        progress: &dyn Fn(String),
    ) -> Result<(), String> {
        let node = &t.name;
        let cursor = self
            .cursors
            .lock()
            .expect("cursor map")
            .get(node)
            .cloned()
            .ok_or("rancherd was not restarted by this run")?;
        progress("following rancherd's log".into());
        loop {
            let j = self.journal_after(t, &cursor).await?;
            if let Some(l) = j.lines().find(|l| token::is_cacerts_failure(l)) {
                let short: String = l
                    .split(": <html>")
                    .next()
                    .unwrap_or(l)
                    .chars()
                    .take(240)
                    .collect();
                return Err(format!(
                    "rancherd still fails the same way after the restart: {short}: the token is not one the cluster accepts; check the server it was read from (--from)"
                ));
            }
            if let Some(l) = j.lines().find(|l| l.contains("level=fatal")) {
                let short: String = l.chars().take(240).collect();
                return Err(format!("rancherd stopped after the restart: {short}"));
            }
            if j.contains("Successfully Bootstrapped") {
                progress("rancherd bootstrapped; waiting for the Node to turn Ready".into());
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "rancherd did not bootstrap within {} s (`harvcred logs {node} --unit rancherd`)",
                    self.timeout.as_secs()
                ));
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }

    async fn verify_node(
        &self,
        node: &str,
        w: &NodeWork,
        progress: &dyn Fn(String),
    ) -> Result<(), String> {
        crate::faults::point("verify", node).await;
        let t = self.target(node)?;
        let deadline = Instant::now() + self.timeout;
        // Not restarted (a rerun found it joined or bootstrapping): no
        // restart's log to follow, the Node's Ready and the copies say it.
        if w.restart {
            self.follow_rancherd(&t, deadline, progress).await?;
        }
        loop {
            // A node that never registered gets its Node object now.
            if self.node_ready(node).await == Some(true) {
                break;
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "the Node was not Ready in the API within {} s",
                    self.timeout.as_secs()
                ));
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        progress("the Node is Ready; reading the copies again".into());
        let files = crate::status::read_node(&self.pool, &t)
            .await
            .map_err(|u| u.detail)?;
        judge_copies(&files, &w.expected)
    }
}

/// The rancherd config and every rancherd file in /oem hold `expected`.
fn judge_copies(files: &NodeFiles, expected: &Token) -> Result<(), String> {
    let cfg = Zeroizing::new(files.text(RANCHERD_CONFIG).unwrap_or_default());
    match token::token_from_yaml(&cfg) {
        Ok(Some(t)) if t.agrees_with(expected) => {}
        _ => return Err(format!("{RANCHERD_CONFIG} does not hold the token written")),
    }
    let install = Zeroizing::new(files.text(flow::INSTALL_CONFIG).unwrap_or_default());
    if let Ok(Some(t)) = token::token_from_yaml(&install)
        && !t.agrees_with(expected)
    {
        return Err(format!(
            "{} does not hold the token written",
            flow::INSTALL_CONFIG
        ));
    }
    for (path, _) in files.files.iter().filter(|(p, _)| p.starts_with("/oem/")) {
        let Some(text) = files.text(path).map(Zeroizing::new) else {
            continue;
        };
        if !(path.ends_with(".yaml") || path.ends_with(".yml")) {
            continue;
        }
        if let Ok(c) = crate::creds::oem::parse_oem(&text)
            && let Some((loc, tok)) = &c.rancherd_token
            && !tok.as_ref().is_ok_and(|t| t.agrees_with(expected))
        {
            return Err(format!(
                "{path} {loc} does not hold the token written: the next boot would bring the old one back"
            ));
        }
    }
    Ok(())
}

fn file_now(c: &[u8]) -> FileNow {
    FileNow {
        text: Zeroizing::new(String::from_utf8_lossy(c).into_owned()),
        version: Version::of(c),
    }
}

impl ChangeIo<TokenFix> for TokenIo {
    async fn load(&self) -> Result<Facts, String> {
        audit::probe(&self.state_dir).map_err(|e| {
            format!("the audit log cannot be written ({e}): no change is made without it")
        })?;
        let mut nodes = BTreeMap::new();
        // One target: the command takes one --node.
        let target = self.target_name.clone();
        let t = self.target(&target)?;
        let files = crate::status::read_node(&self.pool, &t)
            .await
            .map_err(|u| format!("{target}: {}", u.detail))?;
        let join = read_join_state(&self.pool, &t).await?;
        let mut wanted = BTreeMap::new();
        for (path, _) in files.files.iter() {
            let oem =
                path.starts_with("/oem/") && (path.ends_with(".yaml") || path.ends_with(".yml"));
            if (oem
                || path == RANCHERD_CONFIG
                || path == RANCHERD_RKE2_DROPIN
                || path == flow::INSTALL_CONFIG)
                && let Some(c) = files.content(path)
            {
                wanted.insert(path.clone(), file_now(c));
            }
        }
        nodes.insert(
            target.clone(),
            NodeFacts {
                role: role_name(self.nodes[&target].role).into(),
                bootstrap_data: join.bootstrap_data.ok_or_else(|| {
                    format!("{target}: could not tell whether it has bootstrap data")
                })?,
                rancherd_loop: join.rancherd_loop,
                looping_now: rancherd_looping_now(&self.pool, &t).await?,
                files: wanted,
            },
        );
        let (source, token) = self.source_token(&target).await;
        Ok(Facts {
            source,
            token,
            nodes,
        })
    }

    async fn dry_run(&self, node: &str, w: &NodeWork) -> Result<(), String> {
        let t = self.target(node)?;
        if !w.edits.is_empty() && self.bootstrap_data(&t).await? {
            return Err(format!(
                "refused: {node} has bootstrap data ({BOOTSTRAP_DATA})"
            ));
        }
        for e in &w.edits {
            let now = write::version(&self.pool, &t, &e.path)
                .await
                .map_err(|err| err.to_string())?;
            if now != e.from && now != Version::of(&e.content) {
                return Err(format!("{} changed on the node since it was read", e.path));
            }
        }
        let out = self
            .pool
            .exec(&t, "sudo", &["-n", "systemctl", "cat", "rancherd"])
            .await
            .map_err(|e| e.to_string())?;
        if !out.status.success() {
            return Err("the node has no rancherd unit".into());
        }
        Ok(())
    }

    async fn apply(&self, node: &str, w: &NodeWork) -> Result<bool, String> {
        let r = self.apply_node(node, w).await;
        if r.is_err() {
            self.pool.reset(node).await;
        }
        r
    }

    async fn verify(&self, node: &str, w: &NodeWork) -> Result<(), String> {
        self.verify_node(node, w, &|_| {}).await
    }

    async fn verify_with_progress(
        &self,
        node: &str,
        w: &NodeWork,
        progress: &dyn Fn(String),
    ) -> Result<(), String> {
        let r = self.verify_node(node, w, progress).await;
        if r.is_err() {
            self.pool.reset(node).await;
        }
        r
    }

    fn audit(&self, line: &AuditLine) {
        super::walk::write_audit(&self.state_dir, &self.cluster, line);
    }
}

fn fix(
    connect: &ConnectArgs,
    read_only: bool,
    node: String,
    from: Option<String>,
    flags: super::walk::WalkFlags,
    timeout: u64,
) -> anyhow::Result<i32> {
    let paths = crate::config::Paths::from_env();
    let config = match crate::config::Config::load(&paths.config_file()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("harvcred token fix: {}", error_line(&e));
            return Ok(3);
        }
    };
    if read_only || config.read_only {
        eprintln!("harvcred token fix: refused, read-only (`harvcred token show` only reads)");
        return Ok(2);
    }
    crate::console::init_logging(&paths);
    let rt = super::runtime()?;
    // A node that never registered has no Node object: the inventory names it.
    let inventory = match connect.inventory.as_ref().or(config.inventory.as_ref()) {
        Some(p) => match crate::cluster::load_inventory(p) {
            Ok(inv) => inv,
            Err(e) => {
                eprintln!("harvcred token fix: {}", error_line(&e));
                return Ok(3);
            }
        },
        None => Vec::new(),
    };
    let io = match rt.block_on(TokenIo::connect(
        &connect.kube(),
        connect.ssh_settings(&config, &paths),
        paths.state_dir.clone(),
        inventory,
        node.clone(),
        from,
        Duration::from_secs(timeout),
    )) {
        Ok(io) => io,
        Err(TokenIoError { code, message }) => {
            eprintln!("harvcred token fix: {message}");
            return Ok(code);
        }
    };
    if super::walk::refused_without_confirmation::<TokenFix, _>(
        &io,
        flow::ACTION,
        "harvcred token fix",
        &io.correlation_id,
        flags,
    ) {
        return Ok(2);
    }
    let code = super::walk::run_as(
        &rt,
        TokenFix,
        &io,
        vec![node],
        (),
        flags,
        io.correlation_id.clone(),
    );
    let pool = io.pool.clone();
    rt.block_on(async {
        let _ = tokio::time::timeout(Duration::from_secs(3), pool.close_all()).await;
    });
    Ok(code)
}

pub fn run(args: TokenArgs, connect: &ConnectArgs, read_only: bool) -> anyhow::Result<i32> {
    match args.command {
        TokenCommand::Show { json } => show(connect, json),
        TokenCommand::Rotate { ignored: _ } => {
            eprintln!("{}", flow::rotate_refusal());
            Ok(2)
        }
        TokenCommand::Fix {
            node,
            from,
            dry_run,
            yes,
            timeout,
        } => fix(
            connect,
            read_only,
            node,
            from,
            super::walk::WalkFlags {
                dry_run,
                yes,
                parallel: 1,
                keep_going: false,
            },
            timeout,
        ),
    }
}
