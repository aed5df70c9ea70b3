//! The lab's background process: it creates the network and the nodes, serves
//! the Harvester API, watches the nodes, and tears everything down on SIGTERM.
//! `lab up` starts it detached and waits for the record to say `ready`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use tokio::process::Command;

use super::api;
use super::base;
use super::layout::{LabDir, NODE_BIN, NODE_SHARE};
use super::names;
use super::net;
use super::plan::{LabPlan, NodePlan};
use super::record::{LabState, Record};
use super::seed;
use super::sys;

/// Shared so both the start sequence and the teardown see every item the
/// moment it is created; the lock is never held across an await.
type SharedRecord = Arc<Mutex<Record>>;

struct Ctx {
    dir: LabDir,
    rec: SharedRecord,
}

impl Ctx {
    fn save(&self) -> Result<()> {
        let rec = self.rec.lock().expect("record lock");
        rec.save(&self.dir.record())
    }

    fn update(&self, f: impl FnOnce(&mut Record)) -> Result<()> {
        let mut rec = self.rec.lock().expect("record lock");
        f(&mut rec);
        rec.save(&self.dir.record())
    }

    fn plan(&self) -> LabPlan {
        self.rec.lock().expect("record lock").plan.clone()
    }
}

/// Entry point of `harvcred lab supervise --dir DIR`.
pub fn run(dir: &Path) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(supervise(dir))
}

async fn supervise(dir: &Path) -> Result<()> {
    let dir = LabDir::new(dir);
    let Some(mut rec) = Record::load(&dir.record())? else {
        bail!("no lab record in {}", dir.root.display());
    };
    rec.supervisor_pid = Some(std::process::id() as i32);
    let ctx = Arc::new(Ctx {
        dir: dir.clone(),
        rec: Arc::new(Mutex::new(rec)),
    });
    ctx.save()?;

    let mut sigterm = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let mut sigint = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())?;
    let started = Instant::now();
    let start = start(ctx.clone());
    tokio::pin!(start);
    let outcome = tokio::select! {
        r = &mut start => r.map(Some),
        _ = sigterm.recv() => Ok(None),
        _ = sigint.recv() => Ok(None),
    };
    let running = match outcome {
        Ok(Some(running)) => running,
        Ok(None) => {
            eprintln!("supervisor: stopped while starting");
            stop(&ctx, None).await;
            return Ok(());
        }
        Err(e) => {
            let msg = format!("{e:#}");
            eprintln!("supervisor: start failed: {msg}");
            stop(&ctx, None).await;
            ctx.update(|r| {
                r.state = LabState::Failed;
                r.error = Some(msg);
            })?;
            return Ok(());
        }
    };
    let secs = started.elapsed().as_secs_f64();
    ctx.update(|r| {
        r.state = LabState::Ready;
        r.ready_after_secs = Some(secs);
    })?;
    eprintln!("supervisor: lab ready after {secs:.2} s");

    let Running { api, mut exited } = running;
    loop {
        tokio::select! {
            _ = sigterm.recv() => break,
            _ = sigint.recv() => break,
            Some((node, status)) = exited.recv() => {
                eprintln!("supervisor: {node} stopped ({status})");
                api.set_node_ready(&node, false, "Kubelet stopped posting node status.");
            }
        }
    }
    stop(&ctx, Some(api)).await;
    Ok(())
}

struct Running {
    api: api::ApiHandle,
    exited: tokio::sync::mpsc::UnboundedReceiver<(String, String)>,
}

async fn start(ctx: Arc<Ctx>) -> Result<Running> {
    let plan = ctx.plan();
    let dir = ctx.dir.clone();
    let base = base::ensure(false)?;

    // Keys and files first: nothing in them needs cleaning up beyond the folder.
    ssh_keygen(&dir.operator_key(), "harvcred-lab-operator").await?;
    let operator_pub = std::fs::read_to_string(dir.operator_key().with_extension("pub"))?;
    let material = {
        let plan = plan.clone();
        let operator_pub = operator_pub.trim().to_string();
        tokio::task::spawn_blocking(move || seed::ClusterMaterial::generate(&plan, &operator_pub))
            .await??
    };
    write_secret(&dir.rancher_password(), material.password_clear())?;
    let api_token = random_token();
    write_secret(&dir.api_token(), &api_token)?;
    seed::write_share(&plan, &material, &dir.share())?;

    let material = Arc::new(material);
    let mut seeding = tokio::task::JoinSet::new();
    for node in plan.nodes.clone() {
        let (plan, material, base, nd) = (
            plan.clone(),
            material.clone(),
            base.clone(),
            dir.node(&node.name),
        );
        seeding.spawn(async move {
            std::fs::create_dir_all(nd.upper())?;
            std::fs::create_dir_all(nd.oem())?;
            let key = nd.in_upper("/etc/ssh/ssh_host_ed25519_key");
            std::fs::create_dir_all(key.parent().expect("has parent"))?;
            ssh_keygen(&key, &format!("root@{}", node.name)).await?;
            tokio::task::spawn_blocking(move || {
                // Units and the rke2 command go into each node's upper layer, not
                // the cached base, so a new harvcred needs no base rebuild.
                seed::write_base_files(&nd.upper())?;
                // No /run/nologin at boot: if systemd-user-sessions fails under
                // load (seen with 50 nodes on 2 cores), rancher must still log in.
                base::write_mode(
                    &nd.in_upper("/etc/tmpfiles.d/systemd-nologin.conf"),
                    "",
                    0o644,
                )?;
                seed::seed_node(&plan, &node, &material, &base, &nd.upper(), &nd.oem())
            })
            .await??;
            anyhow::Ok(())
        });
    }
    while let Some(r) = seeding.join_next().await {
        r??;
    }
    write_known_hosts(&dir, &plan)?;
    write_ssh_config(&dir, &plan)?;

    // Network: each item lands in the record the moment it exists.
    {
        let save = |r: &Record| r.save(&dir.record());
        let mut rec = ctx.rec.lock().expect("record lock");
        net::create_bridge(&plan, &mut rec, &save)?;
        for node in &plan.nodes {
            net::create_node_net(&plan, node, &mut rec, &save)?;
        }
    }

    // The API, on the bridge address, before the nodes: they are Ready in it at once.
    let (serving_cert, serving_key) = material.pki().issue_api_serving(
        &[plan.gateway().into(), std::net::Ipv4Addr::LOCALHOST.into()],
        &["localhost", "kubernetes", "kubernetes.default"],
    );
    let (client_cert, client_key) = material.pki().issue_admin_client();
    let api = api::serve(api::ApiConfig {
        plan: plan.clone(),
        listen: (plan.gateway(), plan.api_port).into(),
        serving_cert_pem: serving_cert,
        serving_key_pem: serving_key,
        client_ca_pem: material.pki().client_ca_pem().to_string(),
        bearer_token: api_token,
        server_token: material.server_token().to_string(),
        initial_settings: material.initial_settings(),
        node_ops: Some(api::NodeOps {
            ssh_config: dir.ssh_config(),
            oem_dirs: plan
                .nodes
                .iter()
                .map(|n| (n.name.clone(), dir.node(&n.name).oem()))
                .collect(),
        }),
    })
    .await
    .context("starting the lab's API")?;
    let kubeconfig = api::kubeconfig_yaml(
        &plan.api_url(),
        material.pki().server_ca_pem(),
        &client_cert,
        &client_key,
        &format!("harvcred-lab-{}", plan.id),
    );
    write_secret(&dir.kubeconfig(), &kubeconfig)?;

    // Boot the nodes.
    let (exited_tx, exited) = tokio::sync::mpsc::unbounded_channel();
    let exe = std::env::current_exe().context("finding the harvcred binary")?;
    for node in &plan.nodes {
        let child = boot(&plan, node, &dir, &base, &exe)?;
        let pid = child.id().map(|p| p as i32);
        ctx.update(|r| {
            if let Some(pid) = pid {
                r.nspawn_pids.insert(node.name.clone(), pid);
            }
        })?;
        let (tx, name) = (exited_tx.clone(), node.name.clone());
        let mut child = child;
        tokio::spawn(async move {
            let status = match child.wait().await {
                Ok(s) => s.to_string(),
                Err(e) => e.to_string(),
            };
            let _ = tx.send((name, status));
        });
    }

    // Ready when every node answers SSH and the API answers a real client.
    // Generous: on a 2-core machine booting many nodes beside other labs is slow.
    let deadline = Duration::from_secs(90 + 3 * plan.nodes.len() as u64);
    let mut waits = tokio::task::JoinSet::new();
    for node in plan.nodes.clone() {
        let ssh_config = dir.ssh_config();
        let console = dir.node(&node.name).console_log();
        waits.spawn(async move {
            wait_for_ssh(&ssh_config, &node, deadline)
                .await
                .with_context(|| format!("its last boot messages:\n{}", console_tail(&console)))
        });
    }
    while let Some(r) = waits.join_next().await {
        r??;
    }
    check_api(&dir.kubeconfig()).await?;
    Ok(Running { api, exited })
}

fn boot(
    plan: &LabPlan,
    node: &NodePlan,
    dir: &LabDir,
    base: &Path,
    exe: &Path,
) -> Result<tokio::process::Child> {
    let nd = dir.node(&node.name);
    let console = std::fs::File::create(nd.console_log())?;
    let base_s = base.display().to_string();
    let mut cmd = Command::new("systemd-nspawn");
    cmd.arg("--quiet")
        .arg("-D")
        .arg(base)
        .arg(format!("--overlay={base_s}:{}:/", nd.upper().display()))
        .arg(format!("--bind={}:/oem", nd.oem().display()))
        .arg(format!("--bind-ro={}:{NODE_SHARE}", dir.share().display()))
        .arg(format!("--bind-ro={}:{NODE_BIN}", exe.display()))
        .arg(format!(
            "--network-namespace-path=/run/netns/{}",
            names::netns(&plan.id, &node.name)
        ))
        // This machine has no system bus for nspawn to register with (lab-recipes.md).
        .args([
            "--register=no",
            "--keep-unit",
            "--boot",
            "--console=read-only",
        ])
        .arg(format!(
            "--machine={}",
            names::machine(&plan.id, &node.name)
        ))
        .stdin(Stdio::null())
        .stdout(console.try_clone()?)
        .stderr(console);
    // Each node leads its own process group so a signal to the supervisor's
    // group (a ctrl-c in `lab`) does not kill nodes behind the teardown's back.
    cmd.process_group(0);
    cmd.spawn()
        .context("starting systemd-nspawn (install it: apt-get install systemd-container)")
}

async fn wait_for_ssh(ssh_config: &Path, node: &NodePlan, within: Duration) -> Result<()> {
    let deadline = Instant::now() + within;
    let mut last = "no answer yet".to_string();
    while Instant::now() < deadline {
        let attempt = Command::new("ssh")
            .arg("-F")
            .arg(ssh_config)
            .args(["-o", "BatchMode=yes", "-o", "ConnectTimeout=2"])
            .arg(&node.name)
            .arg("true")
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .output();
        // ConnectTimeout bounds only the TCP connect; a booting node can accept
        // and then stall in PAM while logind starts, so bound the whole attempt.
        match tokio::time::timeout(Duration::from_secs(15), attempt).await {
            Ok(Ok(out)) if out.status.success() => return Ok(()),
            Ok(Ok(out)) => {
                last = format!(
                    "{}: {}",
                    out.status,
                    String::from_utf8_lossy(&out.stderr).trim()
                )
            }
            Ok(Err(e)) => last = e.to_string(),
            Err(_) => last = "an attempt stalled for 15 s after connecting".into(),
        }
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    bail!(
        "{} ({}) did not answer SSH within {} s (last attempt: {last})",
        node.name,
        node.ip,
        within.as_secs()
    )
}

/// The end of a node's console, without colour codes, to say why it did not come up.
fn console_tail(path: &Path) -> String {
    let text = std::fs::read(path).unwrap_or_default();
    let text = String::from_utf8_lossy(&text);
    let mut clean = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            // Skip a CSI sequence: ESC [ params final-byte.
            if chars.peek() == Some(&'[') {
                chars.next();
                for c in chars.by_ref() {
                    if ('@'..='~').contains(&c) {
                        break;
                    }
                }
            }
        } else if c == '\n' || !c.is_control() {
            clean.push(c);
        }
    }
    let lines: Vec<&str> = clean.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(12)..].join("\n")
}

async fn check_api(kubeconfig: &Path) -> Result<()> {
    let kc = kube::config::Kubeconfig::read_from(kubeconfig)?;
    let config = kube::Config::from_custom_kubeconfig(kc, &Default::default()).await?;
    let client = kube::Client::try_from(config)?;
    client
        .apiserver_version()
        .await
        .context("the lab's API does not answer")?;
    Ok(())
}

/// Stop every node (in parallel: each shutdown takes about half a second), the
/// API, and the network. Idempotent; runs in the supervisor and in `lab down`.
async fn stop(ctx: &Ctx, api: Option<api::ApiHandle>) {
    let _ = ctx.update(|r| r.state = LabState::Stopping);
    let rec = ctx.rec.lock().expect("record lock").clone();
    let problems = tokio::task::spawn_blocking(move || teardown_processes_and_net(&rec))
        .await
        .unwrap_or_else(|e| vec![e.to_string()]);
    for p in &problems {
        eprintln!("supervisor: teardown: {p}");
    }
    if let Some(api) = api {
        api.shutdown().await;
    }
    let _ = ctx.update(|r| {
        r.state = LabState::Down;
        r.nspawn_pids.clear();
    });
}

/// Stop node processes and remove the network a record lists. Safe to call
/// again and after a crash; returns what could not be removed.
pub fn teardown_processes_and_net(rec: &Record) -> Vec<String> {
    std::thread::scope(|s| {
        for pid in rec.nspawn_pids.values() {
            s.spawn(move || sys::stop_process(*pid, Duration::from_secs(20)));
        }
    });
    let mut problems = net::remove_all(rec);
    for mp in sys::mounts_under(&rec.plan.dir) {
        if let Err(e) = sys::run("umount", &["-l", &mp]) {
            problems.push(e.to_string());
        }
    }
    problems
}

async fn ssh_keygen(path: &Path, comment: &str) -> Result<()> {
    let out = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", comment, "-f"])
        .arg(path)
        .stdin(Stdio::null())
        .output()
        .await
        .context("running ssh-keygen (install openssh-client)")?;
    if !out.status.success() {
        bail!(
            "ssh-keygen: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

fn write_secret(path: &Path, content: &str) -> Result<()> {
    base::write_mode(path, content, 0o600)
}

fn random_token() -> String {
    use rand::Rng;
    use rand::distr::Alphanumeric;
    rand::rng()
        .sample_iter(&Alphanumeric)
        .take(40)
        .map(char::from)
        .collect()
}

fn write_known_hosts(dir: &LabDir, plan: &LabPlan) -> Result<()> {
    let mut text = String::new();
    for node in &plan.nodes {
        let key = std::fs::read_to_string(
            dir.node(&node.name)
                .in_upper("/etc/ssh/ssh_host_ed25519_key.pub"),
        )?;
        let mut words = key.split_whitespace();
        let (kind, body) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
        text.push_str(&format!("{},{} {kind} {body}\n", node.name, node.ip));
    }
    base::write_mode(&dir.known_hosts(), &text, 0o644)
}

fn quote(p: &Path) -> String {
    format!("\"{}\"", p.display())
}

fn write_ssh_config(dir: &LabDir, plan: &LabPlan) -> Result<()> {
    let mut text = format!(
        "# harvcred lab {} ({}): use with `ssh -F {}` or `harvcred --lab {}`\n",
        plan.id,
        plan.cidr(),
        quote(&dir.ssh_config()),
        quote(&dir.root)
    );
    for node in &plan.nodes {
        text.push_str(&format!(
            "\nHost {name}\n  HostName {ip}\n  User rancher\n  IdentityFile {key}\n  IdentitiesOnly yes\n  UserKnownHostsFile {kh}\n  GlobalKnownHostsFile /dev/null\n  StrictHostKeyChecking yes\n  ConnectTimeout 10\n  LogLevel ERROR\n",
            name = node.name,
            ip = node.ip,
            key = quote(&dir.operator_key()),
            kh = quote(&dir.known_hosts()),
        ));
    }
    base::write_mode(&dir.ssh_config(), &text, 0o644)
}

/// Where the nodes' files are on the host, by node name (for tests and tools).
pub fn node_dirs(dir: &LabDir, plan: &LabPlan) -> BTreeMap<String, PathBuf> {
    plan.nodes
        .iter()
        .map(|n| (n.name.clone(), dir.node(&n.name).root))
        .collect()
}
