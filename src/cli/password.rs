//! `harvcred password`: check and change the `rancher` password on chosen
//! nodes, now and after every reboot. `set` walks the engine's change
//! (`flows::password`): validate, preview, dry run, confirm, apply (runtime
//! first, then persisted), verify (the hash in /etc/shadow, a real PAM check
//! with the new password, the boot winner re-judged), per node.
//!
//! The password is read from stdin only (twice, without echo, on a
//! terminal); it reaches a node only on the stdin of `unix_chkpwd`, and its
//! hash only on the stdin of `chpasswd -e` or inside the CloudInit/`/oem`
//! content. Neither is printed, logged or audited.

use std::collections::BTreeMap;
use std::io::{BufRead, IsTerminal, Write};
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, Subcommand};
use k8s_openapi::api::core::v1::Node;
use kube::{Api, Client};
use zeroize::Zeroizing;

use super::ConnectArgs;
use super::status::error_line;
use crate::audit::{self, Outcome};
use crate::cluster::cloudinit::{self, HOSTNAME_LABEL, Selector};
use crate::creds::level::Level;
use crate::creds::password::{self, Sensitive};
use crate::creds::report::{Area, NodeFiles};

use crate::flows::engine::{self, AuditLine, ChangeIo};
use crate::flows::password::{self as flow, Facts, NodeFacts, NodeWork, OemFile, PasswordChange};
use crate::logs::sanitize_str;
use crate::model::Target;
use crate::node::Pool;
use crate::node::write::{self, Version, Written};
use crate::status::NodeOutcome;

#[derive(Debug, Clone, Args)]
pub struct PasswordArgs {
    #[command(subcommand)]
    pub command: PasswordCommand,
}

#[derive(Debug, Clone, Subcommand)]
pub enum PasswordCommand {
    /// Is the runtime password the one that wins at boot, is anything clear
    /// text (exit 0 ok, 1 warnings, 2 critical or unreachable, 3 unknown).
    Check {
        /// Only these nodes (default: all).
        #[arg(long = "node", value_name = "NODE")]
        nodes: Vec<String>,
    },
    /// Set a new rancher password on nodes, read from stdin (twice without
    /// echo on a terminal); exit 0 applied and verified, 1 applied but not
    /// verified, 2 refused, 3 cluster or nodes unreachable.
    Set {
        /// A node to change (repeat for several).
        #[arg(long = "node", value_name = "NODE", required_unless_present = "all")]
        nodes: Vec<String>,
        /// Every node of the cluster.
        #[arg(long, conflicts_with = "nodes")]
        all: bool,
        /// Do not ask for confirmation (needed when stdin is not a terminal).
        #[arg(long)]
        yes: bool,
        /// Validate, preview and dry-run on the nodes and the API only; change nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

/// One line of stdin without its ending, without echo on a terminal.
pub(crate) fn read_secret(
    prompt: &str,
    input: &mut impl BufRead,
) -> anyhow::Result<Zeroizing<String>> {
    let tty = std::io::stdin().is_terminal();
    if tty {
        eprint!("{prompt}: ");
        let _ = std::io::stderr().flush();
    }
    // SAFETY: termios is plain data; fd 0 is a terminal when `tty`.
    let saved = tty.then(|| unsafe {
        let mut t: libc::termios = std::mem::zeroed();
        if libc::tcgetattr(0, &mut t) != 0 {
            return None;
        }
        let saved = t;
        t.c_lflag &= !libc::ECHO;
        (libc::tcsetattr(0, libc::TCSANOW, &t) == 0).then_some(saved)
    });
    // Room up front, so that growing leaves no unwiped copy behind.
    let mut line = Zeroizing::new(String::with_capacity(4096));
    let res = input.read_line(&mut line);
    if let Some(Some(t)) = saved {
        // SAFETY: restores the attributes read from the same descriptor.
        unsafe { libc::tcsetattr(0, libc::TCSANOW, &t) };
        eprintln!();
    }
    res?;
    Ok(Zeroizing::new(
        line.trim_end_matches(['\n', '\r']).to_string(),
    ))
}

/// The new password: twice on a terminal, once from a pipe.
fn read_draft() -> anyhow::Result<flow::Draft> {
    // Not std's stdin: its buffer would keep the password for the process's life.
    let mut input = crate::hardening::UnbufferedFd::stdin();
    let first = read_secret("New rancher password", &mut input)?;
    let again = if std::io::stdin().is_terminal() {
        read_secret("The same again", &mut input)?
    } else {
        first.clone()
    };
    Ok(flow::Draft {
        password: Sensitive::new(first.as_str()),
        again: Sensitive::new(again.as_str()),
    })
}

/// A cluster node as the change needs it.
#[derive(Debug, Clone)]
pub struct ClusterNode {
    pub target: Target,
    pub hostname_label: Option<String>,
}

/// The cluster's nodes, by name.
pub async fn list_nodes(client: &Client) -> Result<BTreeMap<String, ClusterNode>, String> {
    let api: Api<Node> = Api::all(client.clone());
    let list = tokio::time::timeout(Duration::from_secs(15), api.list(&Default::default()))
        .await
        .map_err(|_| "listing the nodes: no answer within 15 s".to_string())?
        .map_err(|e| format!("listing the nodes: {}", crate::cluster::chain_text(&e)))?;
    Ok(list
        .items
        .iter()
        .map(|n| {
            let info = crate::cluster::node_info(n);
            let label = n
                .metadata
                .labels
                .as_ref()
                .and_then(|l| l.get(HOSTNAME_LABEL))
                .cloned();
            (
                info.name.clone(),
                ClusterNode {
                    target: Target {
                        name: info.name,
                        address: info.address,
                    },
                    hostname_label: label,
                },
            )
        })
        .collect())
}

/// The I/O of a password change: the nodes over SSH, CloudInit over the API,
/// the audit log.
pub struct PasswordIo {
    pub pool: Arc<Pool>,
    pub client: Client,
    pub nodes: BTreeMap<String, ClusterNode>,
    pub targets: Vec<String>,
    pub state_dir: std::path::PathBuf,
    /// Kubeconfig context and server, for the audit log.
    pub cluster: String,
    pub correlation_id: String,
    /// How long node-manager may take to put a CloudInit file in place.
    pub rollout_timeout: Duration,
}

const GETENT: (&str, &[&str]) = ("sudo", &["-n", "getent", "shadow", flow::USER]);

impl PasswordIo {
    fn target(&self, node: &str) -> Result<&Target, String> {
        self.nodes
            .get(node)
            .map(|n| &n.target)
            .ok_or_else(|| format!("no node named {node} in the cluster"))
    }

    /// rancher's /etc/shadow entry (read as root; never printed).
    async fn shadow(&self, t: &Target) -> Result<password::ShadowEntry, String> {
        let out = self
            .pool
            .exec(t, GETENT.0, GETENT.1)
            .await
            .map_err(|e| e.to_string())?;
        if !out.status.success() {
            return Err(format!(
                "reading rancher's /etc/shadow entry: {}",
                last_line(&out.stderr)
            ));
        }
        // The bytes as read, wiped too, not only the text made of them.
        let stdout = Zeroizing::new(out.stdout);
        let text = Zeroizing::new(String::from_utf8_lossy(&stdout).into_owned());
        password::find_shadow_entry(&text, flow::USER).map_err(|e| e.to_string())
    }

    /// `Err((sent, why))`: `sent` tells whether chpasswd may have run.
    async fn runtime(&self, t: &Target, w: &NodeWork) -> Result<bool, (bool, String)> {
        if self.shadow(t).await.map_err(|e| (false, e))?.hash() == &w.hash {
            return Ok(false);
        }
        crate::faults::point("write", &t.name).await;
        let input = Zeroizing::new(format!("{}:{}\n", flow::USER, w.hash.expose_secret()));
        let out = self
            .pool
            .exec_with_stdin(t, "sudo", &["-n", "chpasswd", "-e"], input.as_bytes())
            .await
            .map_err(|e| (true, e.to_string()))?;
        if !out.status.success() {
            return Err((true, format!("chpasswd -e: {}", last_line(&out.stderr))));
        }
        Ok(true)
    }

    async fn persist(&self, node: &str, t: &Target, w: &NodeWork) -> Result<bool, String> {
        let mut changed = false;
        if let Some(c) = &w.cloudinit {
            let ci = cloudinit::CloudInit {
                name: c.name.clone(),
                selector: Selector::Node(c.hostname.clone()),
                filename: c.filename.clone(),
                contents: c.contents.clone(),
                paused: false,
            };
            let current = cloudinit::get(&self.client, &c.name).await?;
            let same = current.as_ref().is_some_and(|r| {
                r.cloudinit.contents == ci.contents
                    && r.cloudinit.selector == ci.selector
                    && r.cloudinit.filename == ci.filename
            });
            if !same {
                cloudinit::apply(
                    &self.client,
                    &ci,
                    current.as_ref().map(|r| r.resource_version.as_str()),
                    false,
                )
                .await
                .map_err(|e| format!("CloudInit {}: {e}", c.name))?;
                changed = true;
            }
            let rollouts = cloudinit::follow_rollouts(
                &self.client,
                &c.name,
                &[node.to_string()],
                self.rollout_timeout,
                |_| {},
            )
            .await;
            if !rollouts.get(node).is_some_and(|r| r.done()) {
                return Err(format!(
                    "CloudInit {} is stored, but node-manager has not put /oem/{} in place within {} s",
                    c.name,
                    c.filename,
                    self.rollout_timeout.as_secs()
                ));
            }
        }
        for e in &w.oem_edits {
            match write::write(&self.pool, t, e).await {
                Ok(Written::Changed { .. }) => changed = true,
                Ok(Written::AlreadyApplied) => {}
                Err(err) => return Err(format!("{}: {err}", e.path)),
            }
        }
        Ok(changed)
    }

    /// An audit line of a sub-step the engine does not see (runtime, persist).
    fn note(&self, node: &str, step: &'static str, result: Outcome, detail: String) {
        self.write_audit(&AuditLine {
            action: flow::ACTION,
            correlation_id: self.correlation_id.clone(),
            target: Some(node.to_string()),
            step,
            result,
            detail,
            old: None,
            new: None,
        });
    }
}

fn last_line(b: &[u8]) -> String {
    let s = String::from_utf8_lossy(b);
    s.lines()
        .map(str::trim)
        .rfind(|l| !l.is_empty())
        .unwrap_or("failed without a message")
        .to_string()
}

fn oem_files(files: &NodeFiles) -> BTreeMap<String, OemFile> {
    files
        .files
        .keys()
        .filter(|p| p.starts_with("/oem/") && (p.ends_with(".yaml") || p.ends_with(".yml")))
        .filter_map(|p| {
            files.content(p).map(|c| {
                (
                    p.clone(),
                    OemFile {
                        text: Zeroizing::new(String::from_utf8_lossy(c).into_owned()),
                        version: Version::of(c),
                    },
                )
            })
        })
        .collect()
}

impl ChangeIo<PasswordChange> for PasswordIo {
    async fn load(&self) -> Result<Facts, String> {
        audit::probe(&self.state_dir).map_err(|e| {
            format!("the audit log cannot be written ({e}): no change is made without it")
        })?;
        let served = cloudinit::served(&self.client).await?;
        let mut nodes = BTreeMap::new();
        for name in &self.targets {
            let t = self.target(name)?;
            let files = crate::status::read_node(&self.pool, t)
                .await
                .map_err(|u| format!("{name}: {}", u.detail))?;
            let runtime = files
                .text(crate::node::gather::SHADOW_RANCHER)
                .and_then(|l| password::parse_shadow_line(l.trim_end(), 1).ok());
            nodes.insert(
                name.clone(),
                NodeFacts {
                    runtime,
                    oem: oem_files(&files),
                    hostname_label: self.nodes[name].hostname_label.clone(),
                    install_config: files.content(flow::INSTALL_CONFIG).map(|c| OemFile {
                        text: Zeroizing::new(String::from_utf8_lossy(c).into_owned()),
                        version: Version::of(c),
                    }),
                },
            );
        }
        Ok(Facts {
            nodes,
            cloudinit_served: served,
        })
    }

    async fn dry_run(&self, node: &str, w: &NodeWork) -> Result<(), String> {
        let t = self.target(node)?;
        self.shadow(t).await?;
        let out = self
            .pool
            .exec(
                t,
                "sudo",
                &[
                    "-n",
                    "sh",
                    "-c",
                    "command -v chpasswd && command -v unix_chkpwd",
                ],
            )
            .await
            .map_err(|e| e.to_string())?;
        if !out.status.success() {
            return Err("chpasswd or unix_chkpwd is missing on the node".into());
        }
        if let Some(c) = &w.cloudinit {
            let current = cloudinit::get(&self.client, &c.name).await?;
            let ci = cloudinit::CloudInit {
                name: c.name.clone(),
                selector: Selector::Node(c.hostname.clone()),
                filename: c.filename.clone(),
                contents: c.contents.clone(),
                paused: false,
            };
            cloudinit::apply(
                &self.client,
                &ci,
                current.as_ref().map(|r| r.resource_version.as_str()),
                true,
            )
            .await
            .map_err(|e| format!("CloudInit {} (dry run): {e}", c.name))?;
        }
        for e in &w.oem_edits {
            let now = write::version(&self.pool, t, &e.path)
                .await
                .map_err(|err| err.to_string())?;
            if now != e.from && now != Version::of(&e.content) {
                return Err(format!("{} changed on the node since it was read", e.path));
            }
        }
        Ok(())
    }

    async fn apply(&self, node: &str, w: &NodeWork) -> Result<bool, String> {
        let r = self.apply_node(node, w).await;
        if r.is_err() {
            // A connection that hung (a cut link) is not reused by the retry.
            self.pool.reset(node).await;
        }
        r
    }

    async fn verify(&self, node: &str, w: &NodeWork) -> Result<(), String> {
        let r = self.verify_node(node, w).await;
        if r.is_err() {
            self.pool.reset(node).await;
        }
        r
    }

    fn audit(&self, line: &AuditLine) {
        self.write_audit(line)
    }
}

impl PasswordIo {
    async fn apply_node(&self, node: &str, w: &NodeWork) -> Result<bool, String> {
        let t = self.target(node)?;
        let runtime = match self.runtime(t, w).await {
            Ok(changed) => changed,
            Err((sent, e)) => {
                // Whether chpasswd got through before the failure: ask again.
                let state = match (sent, self.shadow(t).await) {
                    (false, _) => "runtime unchanged (chpasswd not sent)",
                    (true, Ok(s)) if s.hash() == &w.hash => "runtime changed",
                    (true, Ok(_)) => "runtime unchanged",
                    (true, Err(_)) => {
                        "runtime state unknown (chpasswd sent, then the node stopped answering; the retry checks)"
                    }
                };
                let msg = format!("{state}, persisted unchanged: {e}");
                self.note(node, "runtime", Outcome::Failed, msg.clone());
                return Err(msg);
            }
        };
        let rt_text = if runtime {
            "runtime changed"
        } else {
            "runtime already had the new hash"
        };
        self.note(node, "runtime", Outcome::Applied, rt_text.into());
        match self.persist(node, t, w).await {
            Ok(persisted) => {
                self.note(
                    node,
                    "persist",
                    Outcome::Applied,
                    if persisted {
                        "persisted changed".into()
                    } else {
                        "persisted already had the new hash".into()
                    },
                );
                Ok(runtime || persisted)
            }
            Err(e) => {
                let msg = format!(
                    "{}{rt_text}, persisting FAILED: {e}; the next reboot would bring the old password back: retry to persist",
                    if runtime { engine::PARTLY_APPLIED } else { "" }
                );
                self.note(node, "persist", Outcome::Failed, msg.clone());
                Err(msg)
            }
        }
    }

    async fn verify_node(&self, node: &str, w: &NodeWork) -> Result<(), String> {
        crate::faults::point("verify", node).await;
        let t = self.target(node)?;
        if self.shadow(t).await?.hash() != &w.hash {
            return Err("/etc/shadow does not hold the new hash".into());
        }
        // pam_unix's own helper checks the password against /etc/shadow the
        // way a login does; the password travels on its stdin, NUL-ended.
        let mut input = Zeroizing::new(w.password.expose_secret().as_bytes().to_vec());
        input.push(0);
        let out = self
            .pool
            .exec_with_stdin(
                t,
                "sudo",
                &["-n", "unix_chkpwd", flow::USER, "nullok"],
                &input,
            )
            .await
            .map_err(|e| e.to_string())?;
        if !out.status.success() {
            return Err(format!(
                "PAM (unix_chkpwd) refused the new password ({})",
                out.status
            ));
        }
        let files = crate::status::read_node(&self.pool, t)
            .await
            .map_err(|u| u.detail)?;
        flow::judge_persisted(&oem_files(&files), &w.hash)?;
        if files
            .content(flow::INSTALL_CONFIG)
            .is_some_and(|c| flow::install_config_clear_text(&String::from_utf8_lossy(c)))
        {
            return Err(format!("{} still holds clear text", flow::INSTALL_CONFIG));
        }
        Ok(())
    }

    /// One audit line, with its node and step in their own fields.
    pub fn write_audit(&self, line: &AuditLine) {
        let e = audit::Entry::from_walk(&self.cluster, line);
        if let Err(err) = audit::append(&self.state_dir, &e) {
            tracing::error!("writing the audit log: {err}");
        }
    }
}

/// Connects and builds the I/O of a change over `targets` (all when empty).
pub fn connect(
    connect: &ConnectArgs,
    config: &crate::config::Config,
    rt: &tokio::runtime::Runtime,
    chosen: &[String],
    all: bool,
) -> Result<PasswordIo, (i32, String)> {
    let paths = crate::config::Paths::from_env();
    let (client, context, server) = rt
        .block_on(crate::cluster::connect(&connect.kube()))
        .map_err(|p| (3, p.detail))?;
    let nodes = rt.block_on(list_nodes(&client)).map_err(|e| (3, e))?;
    for n in chosen {
        if !nodes.contains_key(n) {
            return Err((2, format!("no node named {n:?} in the cluster")));
        }
    }
    let mut targets: Vec<String> = if all {
        nodes.keys().cloned().collect()
    } else {
        chosen.to_vec()
    };
    targets.sort_by(|a, b| crate::model::natural_cmp(a, b));
    targets.dedup();
    let ssh = connect.ssh_settings(config, &paths);
    Ok(PasswordIo {
        pool: Pool::new(ssh),
        client,
        nodes,
        targets,
        state_dir: paths.state_dir,
        cluster: format!("{context} ({server})"),
        correlation_id: audit::correlation_id(),
        rollout_timeout: Duration::from_secs(120),
    })
}

fn check(connect: &ConnectArgs, nodes: &[String]) -> i32 {
    let s = match super::status::sweep(connect, nodes) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("harvcred password check: {}", error_line(&e));
            return 3;
        }
    };
    let (text, code) = check_report(&s);
    print!("{text}");
    code
}

/// What `password check` prints for a sweep (node names, subjects and
/// messages are the nodes' words: escaped), and its exit code.
pub fn check_report(s: &crate::status::Sweep) -> (String, i32) {
    use std::fmt::Write as _;
    let mut out = String::new();
    let mut levels = Vec::new();
    let mut unreachable = false;
    for n in &s.nodes {
        match &n.outcome {
            NodeOutcome::Report(r) => {
                let Some(a) = r.areas.get(&Area::Password) else {
                    continue;
                };
                let _ = writeln!(out, "{}: {}", sanitize_str(&n.info.name), a.level.as_str());
                for f in &a.findings {
                    let _ = writeln!(
                        out,
                        "  {:<8} {}: {}",
                        f.level.as_str(),
                        sanitize_str(&f.subject),
                        sanitize_str(&f.message)
                    );
                }
                levels.push(a.level);
            }
            NodeOutcome::Failed(u) => {
                let _ = writeln!(
                    out,
                    "{}: unreachable: {}",
                    sanitize_str(&n.info.name),
                    sanitize_str(&u.detail)
                );
                unreachable = true;
            }
        }
    }
    let has = |l: &[Level]| levels.iter().any(|x| l.contains(x));
    let code = if s.nodes.is_empty() {
        3
    } else if unreachable || has(&[Level::Critical, Level::Expired]) {
        2
    } else if has(&[Level::Unknown]) {
        3
    } else if has(&[Level::Warn]) {
        1
    } else {
        0
    };
    (out, code)
}

pub fn run(args: PasswordArgs, connect_args: &ConnectArgs, read_only: bool) -> anyhow::Result<i32> {
    let (nodes, all, yes, dry_run) = match args.command {
        PasswordCommand::Check { nodes } => return Ok(check(connect_args, &nodes)),
        PasswordCommand::Set {
            nodes,
            all,
            yes,
            dry_run,
        } => (nodes, all, yes, dry_run),
    };
    let paths = crate::config::Paths::from_env();
    let config = match crate::config::Config::load(&paths.config_file()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("harvcred password set: {}", error_line(&e));
            return Ok(3);
        }
    };
    if read_only || config.read_only {
        eprintln!(
            "harvcred password set: refused, {} forbids changing the cluster (`harvcred password check` only reads)",
            if read_only {
                "--read-only"
            } else {
                "read_only = true in config.toml"
            }
        );
        return Ok(2);
    }
    crate::console::init_logging(&paths);
    let draft = match read_draft() {
        Ok(d) => d,
        Err(e) => {
            eprintln!(
                "harvcred password set: reading the password: {}",
                error_line(&e)
            );
            return Ok(2);
        }
    };
    let rt = super::runtime()?;
    let io = match connect(connect_args, &config, &rt, &nodes, all) {
        Ok(io) => io,
        Err((code, e)) => {
            eprintln!("harvcred password set: {}", sanitize_str(&e));
            return Ok(code);
        }
    };
    let flags = super::walk::WalkFlags {
        dry_run,
        yes,
        parallel: 1,
        keep_going: false,
    };
    // Before anything is read from the nodes, as the driver would again later.
    if super::walk::refused_without_confirmation::<PasswordChange, _>(
        &io,
        flow::ACTION,
        "harvcred password set",
        &io.correlation_id,
        flags,
    ) {
        return Ok(2);
    }
    let change = PasswordChange {
        min_length: config
            .password_min_length
            .unwrap_or(password::DEFAULT_MIN_LENGTH),
    };
    let code = super::walk::run_as(
        &rt,
        change,
        &io,
        io.targets.clone(),
        draft,
        flags,
        io.correlation_id.clone(),
    );
    let pool = io.pool.clone();
    rt.block_on(async {
        let _ = tokio::time::timeout(Duration::from_secs(3), pool.close_all()).await;
    });
    Ok(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_line_is_read_without_its_ending() {
        let mut input = std::io::Cursor::new(b"Harvcred-Sentinel-7q2x\r\nnext\n".to_vec());
        let l = read_secret("x", &mut input).unwrap();
        assert_eq!(l.as_str(), "Harvcred-Sentinel-7q2x");
    }
}
