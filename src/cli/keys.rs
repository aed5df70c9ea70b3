//! `harvcred keys`: the key x node matrix of `rancher`'s SSH keys, and
//! adding or removing keys on chosen nodes through the walkthrough engine
//! (preview, dry run, confirmation, apply, verify per node, audit).
//!
//! Exit codes: `list` like `status` (0 no drift, 1 drift, 3 a node or the
//! cluster could not be read); `add`/`remove` like `proxy set` (0 applied
//! and verified, 1 applied but not verified everywhere, 2 refused or denied,
//! 3 unreachable). Only public keys are read; a private key file named by
//! `--prove-with` is handed to `ssh -i` and never opened by harvcred.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{Args, Subcommand};
use zeroize::Zeroizing;

use super::ConnectArgs;
use super::status::{error_line, json_text, table};
use crate::audit;
use crate::cluster::cloudinit;
use crate::creds::keys::{self, KeyMatrix};
use crate::flows::engine::{AuditLine, Change, ChangeIo};
use crate::flows::keys::{
    AddDraft, AddKeys, CloudInitFact, KeyFacts, KeyWork, NodeFacts, RUNTIME, RemoveDraft,
    RemoveKeys, Step, check_result,
};
use crate::logs::sanitize_str;
use crate::model::Target;
use crate::node::Pool;
use crate::node::write::{self, Backup, FileChange, Written};

#[derive(Debug, Clone, Args)]
pub struct KeysArgs {
    #[command(subcommand)]
    pub command: KeysCommand,
}

/// Options every change shares.
#[derive(Debug, Clone, Args)]
pub struct ChangeArgs {
    /// Nodes to change (repeat or comma-separate).
    #[arg(long = "node", value_name = "NAME", value_delimiter = ',')]
    pub nodes: Vec<String>,
    /// Preview and dry-run only; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Do not ask for confirmation (needed when stdin is not a terminal).
    #[arg(long)]
    pub yes: bool,
    /// Go on with the other nodes after one fails.
    #[arg(long)]
    pub keep_going: bool,
}

#[derive(Debug, Clone, Subcommand)]
pub enum KeysCommand {
    /// Every key of every node as a matrix key x node: runtime, persisted
    /// sources, drift, the key harvcred logged in with (exit 0/1/3).
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
        /// Only these nodes.
        #[arg(long = "node", value_name = "NAME", value_delimiter = ',')]
        nodes: Vec<String>,
    },
    /// Add public keys (runtime and persisted) on chosen nodes.
    Add {
        #[command(flatten)]
        change: ChangeArgs,
        /// Every node, persisted in one CloudInit for all nodes (also later ones).
        #[arg(long)]
        all: bool,
        /// A .pub or authorized_keys file; `-` reads the keys from stdin.
        #[arg(long, value_name = "FILE")]
        key_file: PathBuf,
    },
    /// Remove keys from the runtime file and every persisted source.
    Remove {
        #[command(flatten)]
        change: ChangeArgs,
        /// Key to remove, as `ssh-keygen -lf` prints it (repeatable).
        #[arg(long = "fingerprint", value_name = "SHA256:...", required = true)]
        fingerprints: Vec<String>,
        /// Prove this key first by a fresh login to each node (no shared
        /// connection): a private key file, or a .pub whose key the agent holds.
        #[arg(long, value_name = "KEYFILE")]
        prove_with: Option<PathBuf>,
    },
}

/// The connections a keys command uses: its runtime and what the walks use.
struct Session {
    rt: tokio::runtime::Runtime,
    conn: Conn,
}

impl std::ops::Deref for Session {
    type Target = Conn;
    fn deref(&self) -> &Conn {
        &self.conn
    }
}

/// What reading and changing keys needs, owned (no runtime of its own), so
/// a walk can run on the console's walk thread as well as on the command line.
#[derive(Clone)]
pub struct Conn {
    pub pool: Arc<Pool>,
    pub client: Option<kube::Client>,
    /// Kubeconfig context and server, for the audit log.
    pub cluster: String,
    pub state_dir: PathBuf,
    /// Every node of the cluster (name, address).
    pub nodes: Vec<Target>,
    /// The user harvcred logs in as (a proof logs in as the same one).
    pub ssh_user: String,
}

fn connect(connect: &ConnectArgs) -> anyhow::Result<Session> {
    let paths = crate::config::Paths::from_env();
    crate::console::init_logging(&paths);
    let config = crate::config::Config::load(&paths.config_file())?;
    let c = connect.resolve();
    let ssh_user = connect
        .ssh_user
        .clone()
        .or(config.ssh_user.clone())
        .unwrap_or_else(|| "rancher".into());
    let ssh =
        crate::node::SshSettings::new(ssh_user.clone(), c.ssh_config, paths.runtime_dir.clone());
    let rt = super::runtime()?;
    let kube = connect.kube();
    let (client, cluster, mut infos) = rt.block_on(async {
        use k8s_openapi::api::core::v1::Node;
        match crate::cluster::connect(&kube).await {
            Ok((client, context, server)) => {
                let api: kube::Api<Node> = kube::Api::all(client.clone());
                let infos = match tokio::time::timeout(
                    Duration::from_secs(10),
                    api.list(&Default::default()),
                )
                .await
                {
                    Ok(Ok(l)) => l.items.iter().map(crate::cluster::node_info).collect(),
                    _ => Vec::new(),
                };
                (Some(client), format!("{context} ({server})"), infos)
            }
            Err(_) => (None, "unknown cluster".to_string(), Vec::new()),
        }
    });
    if infos.is_empty()
        && let Some(p) = connect.inventory.as_ref().or(config.inventory.as_ref())
    {
        infos = crate::cluster::load_inventory(p)?;
    }
    if infos.is_empty() {
        anyhow::bail!("no node list: the API could not be read and no inventory was given");
    }
    infos.sort_by(|a, b| crate::model::natural_cmp(&a.name, &b.name));
    let pool = rt.block_on(async { Pool::new(ssh) });
    Ok(Session {
        rt,
        conn: Conn {
            pool,
            client,
            cluster,
            state_dir: paths.state_dir,
            ssh_user,
            nodes: infos
                .into_iter()
                .map(|i| Target {
                    name: i.name,
                    address: i.address,
                })
                .collect(),
        },
    })
}

/// Reads one node's runtime file, `/oem/*.yaml` and login key.
async fn read_node(pool: &Pool, t: &Target) -> Result<NodeFacts, String> {
    let files = crate::status::read_node(pool, t)
        .await
        .map_err(|u| u.detail)?;
    let mut n = NodeFacts {
        login: files.login_fingerprint.clone(),
        ..Default::default()
    };
    for (path, read) in &files.files {
        let crate::creds::report::FileRead::Content(c) = read else {
            continue;
        };
        if path == RUNTIME {
            n.runtime = Some(c.clone());
        } else if let Some(name) = path.strip_prefix("/oem/")
            && !name.contains('/')
            && (name.ends_with(".yaml") || name.ends_with(".yml"))
        {
            n.oem.insert(path.clone(), c.clone());
        }
    }
    Ok(n)
}

/// Every node, and the CloudInits; node errors by name.
async fn read_all(s: &Conn, only: &[String]) -> (KeyFacts, BTreeMap<String, String>) {
    let mut facts = KeyFacts::default();
    let mut errors = BTreeMap::new();
    let nodes: Vec<&Target> = s
        .nodes
        .iter()
        .filter(|t| only.is_empty() || only.contains(&t.name))
        .collect();
    let read = futures::future::join_all(nodes.iter().map(|t| read_node(&s.pool, t))).await;
    for (t, r) in nodes.iter().zip(read) {
        match r {
            Ok(n) => {
                facts.nodes.insert(t.name.clone(), n);
            }
            Err(e) => {
                errors.insert(t.name.clone(), e);
            }
        }
    }
    if let Some(client) = &s.client {
        match cloudinit::served(client).await {
            Ok(true) => {
                facts.cloudinit_served = true;
                match cloudinit::list(client).await {
                    Ok(list) => {
                        facts.cloudinits = list
                            .into_iter()
                            .map(|r| {
                                let (all, mut nodes) = match &r.cloudinit.selector {
                                    cloudinit::Selector::All => (true, BTreeSet::new()),
                                    cloudinit::Selector::Node(n) => {
                                        (false, BTreeSet::from([n.clone()]))
                                    }
                                    cloudinit::Selector::Labels(_) => (false, BTreeSet::new()),
                                };
                                nodes.extend(
                                    r.rollouts
                                        .iter()
                                        .filter(|(_, ro)| ro.applicable == Some(true))
                                        .map(|(n, _)| n.clone()),
                                );
                                CloudInitFact {
                                    name: r.cloudinit.name.clone(),
                                    filename: r.cloudinit.filename.clone(),
                                    contents: r.cloudinit.contents.clone(),
                                    resource_version: r.resource_version.clone(),
                                    all,
                                    nodes,
                                }
                            })
                            .collect()
                    }
                    Err(e) => {
                        errors.insert("cluster".into(), e);
                    }
                }
            }
            Ok(false) => {}
            Err(e) => {
                errors.insert("cluster".into(), e);
            }
        }
    }
    (facts, errors)
}

// ------------------------------------------------------------------- list --

pub(crate) fn render_matrix(m: &KeyMatrix) -> String {
    let mut rows = vec![{
        let mut h = vec!["KEY".to_string(), "TYPE".into(), "COMMENT".into()];
        // Node names can come from an inventory file: remote text too.
        h.extend(m.nodes.iter().map(|n| sanitize_str(n).into_owned()));
        h.push("DRIFT".into());
        h
    }];
    for k in &m.keys {
        let mut r = vec![
            // github:USER and unknown key types are the file's words.
            sanitize_str(&k.fingerprint).into_owned(),
            sanitize_str(&k.key_type).into_owned(),
            sanitize_str(&k.comment).into_owned(),
        ];
        for n in &m.nodes {
            let c = &k.nodes[n];
            let mut cell = String::new();
            if c.runtime {
                cell.push('R');
            }
            if !c.sources.is_empty() {
                cell.push('P');
            }
            if c.login {
                cell.push('*');
            }
            if cell.is_empty() {
                cell.push('-');
            }
            r.push(cell);
        }
        let mut marks = k.drift.clone();
        if k.some_nodes_only {
            marks.push("(on some nodes only)".into());
        }
        r.push(if marks.is_empty() {
            "-".into()
        } else {
            sanitize_str(&marks.join(", ")).into_owned()
        });
        rows.push(r);
    }
    let mut out = table(&rows);
    out.push_str("R runtime (~rancher/.ssh/authorized_keys)  P persisted (/oem)  * harvcred logged in with it\n");
    for k in &m.keys {
        for n in &m.nodes {
            for src in &k.nodes[n].sources {
                out.push_str(&format!(
                    "{} on {}: {}\n",
                    sanitize_str(&k.fingerprint),
                    sanitize_str(n),
                    sanitize_str(src)
                ));
            }
        }
    }
    out
}

fn list(s: &Session, only: &[String], json: bool) -> anyhow::Result<i32> {
    for n in only {
        if !s.nodes.iter().any(|t| &t.name == n) {
            eprintln!("harvcred keys: no node named {:?}", sanitize_str(n));
            return Ok(3);
        }
    }
    let (facts, errors) = s.rt.block_on(read_all(s, only));
    let m = keys::key_matrix(&facts.node_keys());
    if json {
        let v = serde_json::json!({
            "nodes": m.nodes,
            "keys": m.keys,
            "errors": errors,
            "drift": m.has_drift(),
        });
        println!("{}", json_text(&v)?);
    } else {
        print!("{}", render_matrix(&m));
        for (n, e) in &errors {
            eprintln!("{}: not read: {}", sanitize_str(n), sanitize_str(e));
        }
    }
    Ok(if !errors.is_empty() {
        3
    } else if m.has_drift() {
        1
    } else {
        0
    })
}

// ------------------------------------------------------------------ prove --

/// The public key of a key file: the file itself when it is a `.pub`, else
/// `FILE.pub` (the private key is never read).
fn public_key_of(file: &Path) -> anyhow::Result<keys::AuthorizedKey> {
    let pub_path = if file.extension().is_some_and(|e| e == "pub") {
        file.to_path_buf()
    } else {
        let mut p = file.as_os_str().to_owned();
        p.push(".pub");
        PathBuf::from(p)
    };
    let text = std::fs::read_to_string(&pub_path).map_err(|e| {
        anyhow::anyhow!(
            "{}: {e} (the public key is needed next to the private one)",
            pub_path.display()
        )
    })?;
    keys::fingerprint_public_key(&text).map_err(|e| anyhow::anyhow!("{}: {e}", pub_path.display()))
}

/// A fresh login with only `key_file` (never the shared master): the
/// node's address and host key checking come from `ssh -G` over harvcred's
/// own ssh config, every identity of the config is left out.
async fn prove(pool: &Pool, user: &str, t: &Target, key_file: &Path) -> Result<(), String> {
    let r = pool.resolve(t).await.map_err(|p| p.detail)?;
    let config = pool
        .ssh_config_file()
        .ok_or("harvcred's ssh config could not be made")?;
    let g = tokio::process::Command::new("ssh")
        .arg("-F")
        .arg(config)
        .arg("-G")
        .arg("--")
        .arg(&r.destination)
        .output()
        .await
        .map_err(|e| format!("ssh -G: {e}"))?;
    let text = String::from_utf8_lossy(&g.stdout);
    let opt = |name: &str| -> Vec<String> {
        text.lines()
            .filter_map(|l| l.split_once(' '))
            .filter(|(k, _)| *k == name)
            .map(|(_, v)| v.to_string())
            .collect()
    };
    let first = |name: &str| opt(name).into_iter().next();
    let mut cmd = tokio::process::Command::new("ssh");
    cmd.arg("-F").arg("/dev/null");
    let mut o = |k: &str, v: &str| {
        cmd.arg("-o").arg(format!("{k}={v}"));
    };
    for (k, key) in [
        ("HostName", "hostname"),
        ("Port", "port"),
        ("HostKeyAlias", "hostkeyalias"),
        ("ProxyJump", "proxyjump"),
        ("ProxyCommand", "proxycommand"),
    ] {
        if let Some(v) = first(key) {
            o(k, &v);
        }
    }
    for key in ["userknownhostsfile", "globalknownhostsfile"] {
        if let Some(v) = first(key) {
            let k = if key == "userknownhostsfile" {
                "UserKnownHostsFile"
            } else {
                "GlobalKnownHostsFile"
            };
            o(k, &v);
        }
    }
    o("User", user);
    o("StrictHostKeyChecking", "yes");
    o("ControlMaster", "no");
    o("ControlPath", "none");
    o("BatchMode", "yes");
    o("IdentitiesOnly", "yes");
    o("PasswordAuthentication", "no");
    o("KbdInteractiveAuthentication", "no");
    o("ConnectTimeout", "10");
    o("ForwardAgent", "no");
    o("ClearAllForwardings", "yes");
    if key_file.extension().is_none_or(|e| e != "pub") {
        // A private key file: the agent must not log in in its place.
        o("IdentityAgent", "none");
    }
    let out = tokio::time::timeout(
        Duration::from_secs(30),
        cmd.arg("-i")
            .arg(key_file)
            .arg("--")
            .arg(first("hostname").unwrap_or(r.hostname.clone()))
            .arg("true")
            .stdin(std::process::Stdio::null())
            .output(),
    )
    .await
    .map_err(|_| "the fresh login took longer than 30 s".to_string())?
    .map_err(|e| format!("ssh: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "the fresh login with this key failed: {}",
            sanitize_str(String::from_utf8_lossy(&out.stderr).trim())
        ))
    }
}

// ------------------------------------------------------------------- walk --

/// The I/O of a key change: the nodes over SSH, CloudInit over the API,
/// the audit log.
pub struct KeysIo {
    pub s: Conn,
    /// Per node: the key fingerprint proven by a fresh login before the walk.
    pub proven: BTreeMap<String, String>,
    /// A key file to prove on every target when the nodes are read (the
    /// console's `prove with` field; the command line proves beforehand).
    pub prove_with: Option<PathBuf>,
    /// A public key file to add from, read with the nodes (the console's
    /// `key file` field; the command line reads `--key-file` itself).
    pub key_file: Option<PathBuf>,
    pub verify_timeout: Duration,
    /// The keys of the change, for every audit line (public fingerprints only).
    pub fingerprints: String,
    /// The chosen nodes: one that cannot be read stops the walk (unreachable).
    pub targets: Vec<String>,
}

impl KeysIo {
    /// For the console's walk thread: connects to the API (the node list
    /// comes from it) and makes a pool of its own.
    pub async fn connect(
        kube: &crate::cluster::KubeSettings,
        ssh: crate::node::SshSettings,
        state_dir: PathBuf,
        targets: Vec<String>,
    ) -> Result<KeysIo, String> {
        let (client, context, server) =
            crate::cluster::connect(kube).await.map_err(|p| p.detail)?;
        let listed = super::password::list_nodes(&client).await?;
        if let Some(n) = targets.iter().find(|n| !listed.contains_key(*n)) {
            return Err(format!("no node named {n} in the cluster"));
        }
        let mut nodes: Vec<Target> = listed.into_values().map(|n| n.target).collect();
        nodes.sort_by(|a, b| crate::model::natural_cmp(&a.name, &b.name));
        Ok(KeysIo {
            s: Conn {
                ssh_user: ssh.user.clone(),
                pool: Pool::new(ssh),
                client: Some(client),
                cluster: format!("{context} ({server})"),
                state_dir,
                nodes,
            },
            proven: BTreeMap::new(),
            prove_with: None,
            key_file: None,
            verify_timeout: Duration::from_secs(90),
            fingerprints: String::new(),
            targets,
        })
    }

    fn target(&self, name: &str) -> Result<&Target, String> {
        self.s
            .nodes
            .iter()
            .find(|t| t.name == name)
            .ok_or_else(|| format!("no node named {name}"))
    }

    /// Proves `file` on every target by a fresh login (as `--prove-with`);
    /// what failed is kept for the plan's refusal to name.
    async fn prove_targets(&self, file: &Path, facts: &mut KeyFacts) {
        let key = match public_key_of(file) {
            Ok(k) => k,
            Err(e) => {
                for n in &self.targets {
                    facts.proof_failures.insert(n.clone(), error_line(&e));
                }
                return;
            }
        };
        for n in &self.targets {
            let Ok(t) = self.target(n) else { continue };
            match prove(&self.s.pool, &self.s.ssh_user, t, file).await {
                Ok(()) => {
                    facts.proven.insert(n.clone(), key.fingerprint.clone());
                }
                Err(e) => {
                    facts
                        .proof_failures
                        .insert(n.clone(), format!("{} not proven: {e}", key.fingerprint));
                }
            }
        }
    }

    /// Creates or replaces a CloudInit as planned; Ok(false) when it
    /// already says so (another node of a shared one wrote it).
    async fn cloudinit_step(
        &self,
        step: &Step,
        target: &str,
        dry_run: bool,
    ) -> Result<bool, String> {
        let Step::CloudInit {
            name,
            filename,
            all,
            from,
            contents,
        } = step
        else {
            return Err("not a CloudInit step".into());
        };
        let (all, from) = (*all, from.as_deref());
        let client = self.s.client.as_ref().ok_or("no API connection")?;
        let current = cloudinit::get(client, name).await?;
        if let Some(c) = &current
            && *c.cloudinit.contents == **contents
        {
            return Ok(false);
        }
        if current.as_ref().map(|c| c.resource_version.as_str()) != from
            && !(from.is_none() && current.is_none())
        {
            return Err(format!(
                "CloudInit {name} changed since it was read: run the command again"
            ));
        }
        let ci = cloudinit::CloudInit {
            name: name.into(),
            selector: if all {
                cloudinit::Selector::All
            } else {
                cloudinit::Selector::Node(target.into())
            },
            filename: filename.into(),
            contents: contents.clone(),
            paused: false,
        };
        cloudinit::apply(client, &ci, from, dry_run)
            .await
            .map(|_| true)
            .map_err(|e| format!("CloudInit {name}: {e}"))
    }
}

impl<C: Change<Facts = KeyFacts, Work = KeyWork>> ChangeIo<C> for KeysIo {
    async fn load(&self) -> Result<KeyFacts, String> {
        audit::probe(&self.s.state_dir).map_err(|e| {
            format!("the audit log cannot be written ({e}): no change is made without it")
        })?;
        let (mut facts, errors) = read_all(&self.s, &[]).await;
        if let Some(e) = errors.get("cluster") {
            return Err(e.clone());
        }
        for t in &self.targets {
            if let Some(e) = errors.get(t) {
                return Err(format!(
                    "{t} could not be read, nothing was changed: {}",
                    sanitize_str(e)
                ));
            }
        }
        facts.proven = self.proven.clone();
        if let Some(file) = &self.prove_with {
            self.prove_targets(file, &mut facts).await;
        }
        if let Some(file) = &self.key_file {
            let read = read_key_file(file).await;
            facts.key_file = Some((file.clone(), read));
        }
        Ok(facts)
    }

    async fn dry_run(&self, target: &str, work: &KeyWork) -> Result<(), String> {
        let t = self.target(target)?;
        for step in &work.steps {
            match step {
                Step::File { path, from, .. } => {
                    let now = write::version(&self.s.pool, t, path)
                        .await
                        .map_err(|e| e.to_string())?;
                    if &now != from {
                        return Err(format!("{path} changed since it was read"));
                    }
                }
                Step::CloudInit { .. } => {
                    self.cloudinit_step(step, target, true).await?;
                }
            }
        }
        Ok(())
    }

    async fn apply(&self, target: &str, work: &KeyWork) -> Result<bool, String> {
        let t = self.target(target)?;
        let mut changed = false;
        // In plan order: persisted sources first, the runtime file last.
        for step in &work.steps {
            match step {
                Step::File {
                    path,
                    from,
                    content,
                } => {
                    let fc = FileChange {
                        path: path.clone(),
                        from: from.clone(),
                        content: content.clone(),
                        backup: Backup::for_path(path),
                        new_mode: 0o600,
                    };
                    match write::write(&self.s.pool, t, &fc).await {
                        Ok(Written::Changed { .. }) => changed = true,
                        Ok(Written::AlreadyApplied) => {}
                        Err(e) => return Err(format!("{path}: {e}")),
                    }
                }
                Step::CloudInit { .. } => {
                    changed |= self.cloudinit_step(step, target, false).await?;
                }
            }
        }
        Ok(changed)
    }

    async fn verify(&self, target: &str, work: &KeyWork) -> Result<(), String> {
        crate::faults::point("verify", target).await;
        let t = self.target(target)?;
        // node-manager writes a CloudInit's file a moment later: re-read until
        // the node is exactly as planned, or the deadline.
        let deadline = Instant::now() + self.verify_timeout;
        loop {
            let last = match read_node(&self.s.pool, t).await {
                Ok(now) => match check_result(work, &now) {
                    Ok(()) => return Ok(()),
                    Err(e) => e,
                },
                Err(e) => e,
            };
            if Instant::now() >= deadline {
                return Err(last);
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    fn audit(&self, line: &AuditLine) {
        // Node and step in their own fields; the fingerprints in `old`/`new`
        // (from the change) and, for lines without them, in `detail`.
        let mut e = audit::Entry::from_walk(&self.s.cluster, line);
        if e.old.is_none() && e.new.is_none() && !self.fingerprints.is_empty() {
            e.detail = format!("keys={}: {}", self.fingerprints, line.detail);
        }
        if let Err(err) = audit::append(&self.s.state_dir, &e) {
            tracing::error!("writing the audit log: {err}");
        }
    }
}

/// Walks one change to its end on the shared driver; the exit code (as `proxy set`).
fn walk<C>(
    s: &Session,
    change: C,
    draft: C::Draft,
    targets: Vec<String>,
    args: &ChangeArgs,
    proven: BTreeMap<String, String>,
    fingerprints: String,
) -> i32
where
    C: Change<Facts = KeyFacts, Work = KeyWork>,
{
    let io = KeysIo {
        s: s.conn.clone(),
        proven,
        prove_with: None,
        key_file: None,
        verify_timeout: Duration::from_secs(90),
        fingerprints,
        targets: targets.clone(),
    };
    let flags = super::walk::WalkFlags {
        dry_run: args.dry_run,
        yes: args.yes,
        parallel: 1,
        keep_going: args.keep_going,
    };
    super::walk::run(&s.rt, change, &io, targets, draft, flags)
}

/// A public key file, for the console's add form; bounded, since a wrong
/// path could name anything.
async fn read_key_file(file: &Path) -> Result<String, String> {
    const LIMIT: u64 = 256 * 1024;
    let meta = tokio::fs::metadata(file).await.map_err(|e| e.to_string())?;
    if !meta.is_file() {
        return Err("not a file".into());
    }
    if meta.len() > LIMIT {
        return Err(format!(
            "{} bytes: more than a file of public keys holds",
            meta.len()
        ));
    }
    let text = Zeroizing::new(
        tokio::fs::read_to_string(file)
            .await
            .map_err(|e| e.to_string())?,
    );
    if text.contains("PRIVATE KEY") {
        return Err("this is a private key: give the .pub file".into());
    }
    Ok(text.to_string())
}

fn read_keys(file: &Path) -> anyhow::Result<Zeroizing<String>> {
    if file.as_os_str() == "-" {
        // A private key given by mistake must leave no copy behind either.
        return Ok(super::settings::read_all(std::io::stdin().lock())?);
    }
    Ok(Zeroizing::new(std::fs::read_to_string(file)?))
}

fn check_nodes(s: &Session, nodes: &[String]) -> Result<(), String> {
    if nodes.is_empty() {
        return Err("choose nodes with --node (or --all for add)".into());
    }
    for n in nodes {
        if !s.nodes.iter().any(|t| &t.name == n) {
            return Err(format!("no node named {:?}", sanitize_str(n)));
        }
    }
    Ok(())
}

pub fn run(args: KeysArgs, connect_args: &ConnectArgs, read_only: bool) -> anyhow::Result<i32> {
    if read_only && !matches!(args.command, KeysCommand::List { .. }) {
        eprintln!("harvcred keys: --read-only: changes are refused");
        return Ok(2);
    }
    let s = match connect(connect_args) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("harvcred keys: {}", error_line(&e));
            return Ok(3);
        }
    };
    let code = match args.command {
        KeysCommand::List { json, nodes } => list(&s, &nodes, json)?,
        KeysCommand::Add {
            change,
            all,
            key_file,
        } => {
            let nodes = if all {
                s.nodes.iter().map(|t| t.name.clone()).collect()
            } else {
                change.nodes.clone()
            };
            if let Err(e) = check_nodes(&s, &nodes) {
                eprintln!("harvcred keys: {}", sanitize_str(&e.to_string()));
                return Ok(2);
            }
            let text = match read_keys(&key_file) {
                Ok(t) => t,
                Err(e) => {
                    eprintln!("harvcred keys: {}: {e}", key_file.display());
                    return Ok(2);
                }
            };
            let draft = AddDraft {
                text: text.to_string(),
                for_all: all,
                key_file: None,
            };
            let fps = keys::parse_new_keys(&draft.text, &BTreeSet::new())
                .keys
                .iter()
                .map(|k| k.fingerprint.clone())
                .collect::<Vec<_>>()
                .join(",");
            walk(&s, AddKeys, draft, nodes, &change, BTreeMap::new(), fps)
        }
        KeysCommand::Remove {
            change,
            fingerprints,
            prove_with,
        } => {
            if let Err(e) = check_nodes(&s, &change.nodes) {
                eprintln!("harvcred keys: {}", sanitize_str(&e.to_string()));
                return Ok(2);
            }
            let mut proven = BTreeMap::new();
            if let Some(file) = &prove_with {
                let key = match public_key_of(file) {
                    Ok(k) => k,
                    Err(e) => {
                        eprintln!("harvcred keys: {}", error_line(&e));
                        return Ok(2);
                    }
                };
                for n in &change.nodes {
                    let t = s.nodes.iter().find(|t| &t.name == n).expect("checked");
                    match s.rt.block_on(prove(&s.pool, &s.ssh_user, t, file)) {
                        Ok(()) => {
                            println!(
                                "{}: {} proven by a fresh login",
                                sanitize_str(n),
                                key.fingerprint
                            );
                            proven.insert(n.clone(), key.fingerprint.clone());
                        }
                        // ssh's words, from the node.
                        Err(e) => eprintln!(
                            "{}: {} not proven: {}",
                            sanitize_str(n),
                            key.fingerprint,
                            sanitize_str(&e.to_string())
                        ),
                    }
                }
            }
            let fps = fingerprints.join(",");
            let draft = RemoveDraft {
                fingerprints,
                prove_with: None,
            };
            walk(
                &s,
                RemoveKeys,
                draft,
                change.nodes.clone(),
                &change,
                proven,
                fps,
            )
        }
    };
    s.rt.block_on(async {
        let _ = tokio::time::timeout(Duration::from_secs(3), s.pool.close_all()).await;
    });
    Ok(code)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[tokio::test]
    async fn the_console_key_file_is_a_public_key_file_or_says_why_not() {
        let d = tempfile::tempdir().unwrap();
        let public = d.path().join("k.pub");
        std::fs::write(&public, "ssh-ed25519 AAAA x@y\n").unwrap();
        assert_eq!(
            read_key_file(&public).await.unwrap(),
            "ssh-ed25519 AAAA x@y\n"
        );
        let private = d.path().join("k");
        std::fs::write(&private, "-----BEGIN OPENSSH PRIVATE KEY-----\n").unwrap();
        assert!(read_key_file(&private).await.unwrap_err().contains(".pub"));
        assert!(
            read_key_file(d.path())
                .await
                .unwrap_err()
                .contains("not a file")
        );
        let big = d.path().join("big.pub");
        std::fs::write(&big, vec![b'a'; 300 * 1024]).unwrap();
        assert!(read_key_file(&big).await.unwrap_err().contains("bytes"));
        assert!(read_key_file(&d.path().join("none")).await.is_err());
    }

    #[test]
    fn read_only_refuses_add_and_remove_without_touching_a_cluster() {
        for args in [
            vec![
                "harvcred",
                "keys",
                "remove",
                "--fingerprint",
                "SHA256:x",
                "--node",
                "n1",
            ],
            vec!["harvcred", "keys", "add", "--all", "--key-file", "-"],
        ] {
            let cli = super::super::Cli::parse_from(args);
            let Some(super::super::Commands::Keys(k)) = cli.command else {
                panic!("not a keys command")
            };
            assert_eq!(run(k, &ConnectArgs::default(), true).unwrap(), 2);
        }
    }

    #[test]
    fn the_matrix_table_escapes_comments_and_marks_cells() {
        let a = keys::parse_key_line(
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGpJ3mTa8WlzMv1pYnR4S1dX2vT2mLkVQ0l8Yv3R6cQm evil\u{1b}[2J",
            1,
        )
        .unwrap()
        .unwrap();
        let m = keys::key_matrix(&[
            keys::NodeKeys {
                node: "node1".into(),
                runtime: vec![a.clone()],
                persisted: vec![],
                login: Some(a.fingerprint.clone()),
            },
            keys::NodeKeys {
                node: "node2".into(),
                ..Default::default()
            },
        ]);
        let t = render_matrix(&m);
        assert!(!t.contains('\u{1b}'), "{t}");
        assert!(t.contains("R*"), "{t}");
        assert!(t.contains("runtime only, (on some nodes only)"), "{t}");
    }
}
