//! The lab's background process: it creates the network and the nodes, serves
//! the Harvester API, watches the nodes, and tears everything down on SIGTERM.
//! `lab up` starts it detached and waits for the record to say `ready`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use tokio::process::Command;

use super::api;
use super::base;
use super::cgroup;
use super::image;
use super::layout::{LabDir, NODE_BIN, NODE_SHARE};
use super::names;
use super::net;
use super::plan::{LabPlan, NodePlan};
use super::record::{LabState, NodeState, Record};
use super::seed;
use super::sys;
use super::yip;

/// Shared so both the start sequence and the teardown see every item the
/// moment it is created; the lock is never held across an await.
type SharedRecord = Arc<Mutex<Record>>;

struct Ctx {
    dir: LabDir,
    rec: SharedRecord,
    /// Set when the lab is going down: a node that exits then is not started again.
    stopping: AtomicBool,
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
        stopping: AtomicBool::new(false),
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

    let Running {
        api,
        mut events,
        rancher: _rancher,
    } = running;
    let mut kubelets = Kubelets::new(&ctx.plan());
    let mut beat = tokio::time::interval(HEARTBEAT_EVERY);
    beat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = sigterm.recv() => break,
            _ = sigint.recv() => break,
            Some(event) = events.recv() => match event {
                NodeEvent::Down(node, why) => {
                    eprintln!("supervisor: {node} went down ({why})");
                    kubelets.down(&node);
                    api.set_node_ready(&node, false, "Kubelet stopped posting node status.");
                }
                NodeEvent::Up(node) => {
                    eprintln!("supervisor: {node} is up again");
                    kubelets.up(&node);
                    api.set_node_ready(&node, true, "kubelet is posting ready status");
                }
            },
            _ = beat.tick() => kubelets.check(&api),
        }
    }
    ctx.stopping.store(true, Ordering::SeqCst);
    stop(&ctx, Some(api)).await;
    Ok(())
}

/// How often the nodes' kubelets are looked at.
const HEARTBEAT_EVERY: Duration = Duration::from_secs(1);
/// How long a node's kubelet may post nothing before its Node's `Ready`
/// goes Unknown. Kubernetes' node-monitor-grace-period is 40 s (50 s from
/// 1.32); the lab's is shorter so that tests do not wait for it. A restart
/// of rke2 (a rotation, a proxy change) is far shorter than either.
pub const NODE_MONITOR_GRACE: Duration = Duration::from_secs(12);

/// The kubelets as the node lifecycle controller sees them. In RKE2 the
/// kubelet runs under rke2-server (rke2-agent on workers): stopping that
/// unit stops the node's status updates, and after the grace period the
/// Node is no longer Ready, until the unit runs again.
struct Kubelets {
    id: String,
    /// Node -> (its RKE2 unit, last time it was seen running, marked Unknown).
    nodes: BTreeMap<String, (&'static str, Instant, bool)>,
    /// Nodes rebooting: their Ready is the reboot's to say.
    rebooting: std::collections::BTreeSet<String>,
}

impl Kubelets {
    fn new(plan: &LabPlan) -> Kubelets {
        let now = Instant::now();
        Kubelets {
            id: plan.id.clone(),
            nodes: plan
                .nodes
                .iter()
                .map(|n| (n.name.clone(), (n.role.rke2_unit(), now, false)))
                .collect(),
            rebooting: Default::default(),
        }
    }

    fn down(&mut self, node: &str) {
        self.rebooting.insert(node.to_string());
    }

    fn up(&mut self, node: &str) {
        self.rebooting.remove(node);
        if let Some(k) = self.nodes.get_mut(node) {
            *k = (k.0, Instant::now(), false);
        }
    }

    fn check(&mut self, api: &api::ApiHandle) {
        for (node, (unit, last, unknown)) in self.nodes.iter_mut() {
            if self.rebooting.contains(node) {
                continue;
            }
            match cgroup::unit_running(&self.id, node, unit) {
                Some(true) => {
                    *last = Instant::now();
                    if *unknown {
                        eprintln!("supervisor: {node}'s kubelet posts its status again");
                        api.set_node_ready(node, true, "kubelet is posting ready status");
                        *unknown = false;
                    }
                }
                Some(false) if !*unknown && last.elapsed() >= NODE_MONITOR_GRACE => {
                    eprintln!("supervisor: {node}'s kubelet stopped posting ({unit} not running)");
                    api.set_node_status_unknown(node);
                    *unknown = true;
                }
                _ => {}
            }
        }
    }
}

struct Running {
    api: api::ApiHandle,
    events: tokio::sync::mpsc::UnboundedReceiver<NodeEvent>,
    /// Serves until dropped with the rest.
    rancher: api::rancher::RancherHandle,
}

/// What the main loop hears from the nodes' lives.
enum NodeEvent {
    Down(String, String),
    Up(String),
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
    write_secret(&dir.rancher_password(), material.password_in_force(&plan))?;
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
            mount_oem_partition(&nd.oem())?;
            let key = nd.in_upper("/etc/ssh/ssh_host_ed25519_key");
            std::fs::create_dir_all(key.parent().expect("has parent"))?;
            ssh_keygen(&key, &format!("root@{}", node.name)).await?;
            tokio::task::spawn_blocking(move || {
                // What the lab adds to the image (units, stand-ins) goes into each
                // node's upper layer before every boot, not into the cached base,
                // so a new harvcred needs no base rebuild (see node_life).
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
        serving_cert_pem: serving_cert.clone(),
        serving_key_pem: serving_key.clone(),
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
    let rancher = api::rancher::serve(api::rancher::RancherConfig {
        plan: plan.clone(),
        listen: (plan.gateway(), api::rancher::RANCHER_PORT).into(),
        serving_cert_pem: serving_cert.clone(),
        serving_key_pem: serving_key.clone(),
        serving_ca_pem: material.pki().server_ca_pem().to_string(),
        client_ca_pem: material.pki().client_ca_pem().to_string(),
    })
    .await
    .context("starting the lab's Rancher")?;
    let rancher_url = rancher.local_url();
    let kubeconfig = api::kubeconfig_with_rancher_yaml(
        &plan.api_url(),
        material.pki().server_ca_pem(),
        &client_cert,
        &client_key,
        &format!("harvcred-lab-{}", plan.id),
        Some(api::RancherContext {
            name: api::rancher::CONTEXT,
            server_url: &rancher_url,
            token: rancher.admin_token(),
        }),
    );
    write_secret(&dir.kubeconfig(), &kubeconfig)?;

    // Boot the nodes; each one's life (reboots included) runs on its own.
    let (events_tx, events) = tokio::sync::mpsc::unbounded_channel();
    let exe = std::env::current_exe().context("finding the harvcred binary")?;
    let mut first_boots = Vec::new();
    for node in &plan.nodes {
        let (first_tx, first_rx) = tokio::sync::oneshot::channel();
        first_boots.push(first_rx);
        tokio::spawn(node_life(
            ctx.clone(),
            node.clone(),
            base.clone(),
            exe.clone(),
            events_tx.clone(),
            first_tx,
        ));
    }
    // Ready when every node answers SSH and the API answers a real client.
    for first in first_boots {
        first.await.context("a node's supervision ended")??;
    }
    check_api(&dir.kubeconfig()).await?;
    if plan.has(super::plan::Scenario::CloudinitPassword) {
        create_cloudinit(
            &dir.kubeconfig(),
            seed::CLOUDINIT_PASSWORD_NAME,
            seed::CLOUDINIT_PASSWORD_FILE,
            &material.cloudinit_password_yaml(),
        )
        .await
        .context("creating the cloudinit-password CloudInit")?;
    }
    Ok(Running {
        api,
        events,
        rancher,
    })
}

/// systemd-nspawn's exit status when the container rebooted.
const NSPAWN_REBOOT: i32 = 133;

/// Boot a node, and again each time it reboots: before each boot its
/// ephemeral paths go back to the image (as on Harvester) and yip applies
/// /oem inside it. Ends when the node stops other than by a reboot, or the
/// lab goes down.
async fn node_life(
    ctx: Arc<Ctx>,
    node: NodePlan,
    base: PathBuf,
    exe: PathBuf,
    events: tokio::sync::mpsc::UnboundedSender<NodeEvent>,
    first_up: tokio::sync::oneshot::Sender<Result<()>>,
) {
    let plan = ctx.plan();
    let nd = ctx.dir.node(&node.name);
    let name = node.name.clone();
    let mut first_up = Some(first_up);
    let fail_first = |first: &mut Option<tokio::sync::oneshot::Sender<Result<()>>>,
                      e: anyhow::Error| {
        if let Some(tx) = first.take() {
            let _ = tx.send(Err(e));
        }
    };
    loop {
        if ctx.stopping.load(Ordering::SeqCst) {
            break;
        }
        let upper = nd.upper();
        let prepared = tokio::task::spawn_blocking(move || prepare_boot(&upper))
            .await
            .map_err(anyhow::Error::from)
            .and_then(|r| r);
        if let Err(e) = prepared {
            let e = e.context(format!("preparing {name}'s boot"));
            eprintln!("supervisor: {e:#}");
            set_boot(&ctx, &name, |b| {
                b.state = NodeState::Failed;
                b.problem = Some(format!("{e:#}"));
            });
            fail_first(&mut first_up, e);
            break;
        }
        let mut child = match boot(&plan, &node, &ctx.dir, &base, &exe) {
            Ok(c) => c,
            Err(e) => {
                fail_first(&mut first_up, e);
                break;
            }
        };
        let pid = child.id().map(|p| p as i32);
        let started = Instant::now();
        let mut count = 0;
        let _ = ctx.update(|r| {
            if let Some(pid) = pid {
                r.nspawn_pids.insert(name.clone(), pid);
            }
            let b = r.boots.entry(name.clone()).or_default();
            b.count += 1;
            b.state = NodeState::Booting;
            b.problem = None;
            b.up_after_secs = None;
            count = b.count;
        });
        if ctx.stopping.load(Ordering::SeqCst) {
            // The teardown may have listed the processes before this one existed.
            if let Some(pid) = pid {
                tokio::task::spawn_blocking(move || {
                    sys::stop_process(pid, Duration::from_secs(20))
                })
                .await
                .ok();
            }
            break;
        }
        // Watch this boot until the node answers SSH, or says why it cannot.
        {
            let (ctx, node, events) = (ctx.clone(), node.clone(), events.clone());
            let first = first_up.take();
            let within = Duration::from_secs(90 + 3 * plan.nodes.len() as u64);
            tokio::spawn(async move {
                let nd = ctx.dir.node(&node.name);
                let r = wait_node_up(&ctx.dir.ssh_config(), &node, &nd.upper(), within).await;
                let current = ctx
                    .rec
                    .lock()
                    .expect("record lock")
                    .boots
                    .get(&node.name)
                    .map(|b| b.count)
                    == Some(count);
                if current {
                    let secs = started.elapsed().as_secs_f64();
                    set_boot(&ctx, &node.name, |b| match &r {
                        Ok(()) => {
                            b.state = NodeState::Up;
                            b.up_after_secs = Some(secs);
                        }
                        Err(e) => {
                            b.state = NodeState::Failed;
                            b.problem = Some(format!("{e:#}"));
                        }
                    });
                    if r.is_ok() && count > 1 {
                        let _ = events.send(NodeEvent::Up(node.name.clone()));
                    }
                }
                if let Some(tx) = first {
                    let console = nd.console_log();
                    let _ = tx.send(r.with_context(|| {
                        format!("its last boot messages:\n{}", console_tail(&console))
                    }));
                }
            });
        }
        let status = child.wait().await;
        cgroup::remove(&plan.id, &name);
        if ctx.stopping.load(Ordering::SeqCst) {
            break;
        }
        let why = match &status {
            Ok(s) => s.to_string(),
            Err(e) => e.to_string(),
        };
        let rebooted = matches!(&status, Ok(s) if s.code() == Some(NSPAWN_REBOOT));
        set_boot(&ctx, &name, |b| {
            b.state = if rebooted {
                NodeState::Rebooting
            } else {
                NodeState::Stopped
            }
        });
        let _ = events.send(NodeEvent::Down(
            name.clone(),
            if rebooted { "reboot".into() } else { why },
        ));
        if !rebooted {
            break;
        }
    }
}

/// Size of a node's `/oem`: on Harvester it is a partition of its own
/// (COS_OEM, 64 MiB), so it fills up on its own, and a change that writes
/// there can hit ENOSPC while the rest of the disk has room.
pub const OEM_PARTITION_SIZE: &str = "64m";

/// The node's `/oem` as a filesystem of its own: a size-limited tmpfs on the
/// host, so it outlives the node's reboots (like the partition) and goes
/// with the lab (the teardown unmounts everything under the lab's folder).
fn mount_oem_partition(oem: &Path) -> Result<()> {
    let target = oem.to_str().context("the lab folder's path is not UTF-8")?;
    sys::run(
        "mount",
        &[
            "-t",
            "tmpfs",
            "-o",
            &format!("size={OEM_PARTITION_SIZE},mode=0755"),
            "harvcred-lab-oem",
            target,
        ],
    )
    .map(drop)
    .with_context(|| format!("mounting {}'s own filesystem", oem.display()))
}

fn set_boot(ctx: &Ctx, node: &str, f: impl FnOnce(&mut super::record::NodeBoot)) {
    let _ = ctx.update(|r| f(r.boots.entry(node.to_string()).or_default()));
}

/// Before a boot: the image's state in the ephemeral paths, the lab's image
/// files, and no outcome of an earlier boot's yip.
fn prepare_boot(upper: &Path) -> Result<()> {
    image::reset_ephemeral(upper)?;
    image::write_image(upper)?;
    let status = upper.join(yip::STATUS_FILE.trim_start_matches('/'));
    match std::fs::remove_file(&status) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e).with_context(|| format!("removing {}", status.display())),
    }
}

fn boot(
    plan: &LabPlan,
    node: &NodePlan,
    dir: &LabDir,
    base: &Path,
    exe: &Path,
) -> Result<tokio::process::Child> {
    use std::os::unix::fs::OpenOptionsExt;
    let nd = dir.node(&node.name);
    let console = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o640)
        .custom_flags(libc::O_NOFOLLOW)
        .open(nd.console_log())?;
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
    // And runs in a cgroup of its own (cgroup.rs says why).
    let procs: Vec<std::ffi::CString> = cgroup::prepare(&plan.id, &node.name)
        .with_context(|| format!("creating {}'s cgroup", node.name))?
        .into_iter()
        .map(|p| std::ffi::CString::new(p.into_os_string().into_encoded_bytes()))
        .collect::<Result<_, _>>()
        .context("cgroup path")?;
    if !procs.is_empty() {
        // SAFETY: between fork and exec only async-signal-safe calls (open,
        // write, close) on memory prepared before the fork.
        unsafe {
            cmd.pre_exec(move || {
                for p in &procs {
                    let fd = libc::open(p.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
                    if fd < 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    let written = libc::write(fd, b"0".as_ptr().cast(), 1);
                    libc::close(fd);
                    if written != 1 {
                        return Err(std::io::Error::last_os_error());
                    }
                }
                Ok(())
            });
        }
    }
    cmd.spawn()
        .context("starting systemd-nspawn (install it: apt-get install systemd-container)")
}

async fn wait_node_up(
    ssh_config: &Path,
    node: &NodePlan,
    upper: &Path,
    within: Duration,
) -> Result<()> {
    let deadline = Instant::now() + within;
    let mut last = "no answer yet".to_string();
    while Instant::now() < deadline {
        // A node whose /oem does not parse never starts sshd; say which file.
        if let Some(st) = yip::Status::read(upper)
            && !st.ok
        {
            bail!(
                "did not come back: {} does not parse ({}); sshd does not start",
                st.broken_file.as_deref().unwrap_or("an /oem file"),
                st.error.as_deref().unwrap_or("no detail")
            );
        }
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

/// Create a CloudInit for every node through the lab's API, as an operator
/// would (the webhook and node-manager's controller see it).
async fn create_cloudinit(kubeconfig: &Path, name: &str, file: &str, contents: &str) -> Result<()> {
    use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, PostParams};
    let kc = kube::config::Kubeconfig::read_from(kubeconfig)?;
    let config = kube::Config::from_custom_kubeconfig(kc, &Default::default()).await?;
    let client = kube::Client::try_from(config)?;
    let gvk = GroupVersionKind::gvk("node.harvesterhci.io", "v1beta1", "CloudInit");
    let api: Api<DynamicObject> = Api::all_with(
        client,
        &ApiResource::from_gvk_with_plural(&gvk, "cloudinits"),
    );
    let obj: DynamicObject = serde_json::from_value(serde_json::json!({
        "apiVersion": "node.harvesterhci.io/v1beta1",
        "kind": "CloudInit",
        "metadata": {"name": name},
        "spec": {"matchSelector": {}, "filename": file, "contents": contents, "paused": false},
    }))?;
    api.create(&PostParams::default(), &obj).await?;
    Ok(())
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
    ctx.stopping.store(true, Ordering::SeqCst);
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
    let mut problems = Vec::new();
    // Only the lab's own containers: a PID in lab.json may have been reused, or
    // the file edited.
    let ours: Vec<i32> = rec
        .nspawn_pids
        .iter()
        .filter(|(node, pid)| {
            let machine = names::machine(&rec.plan.id, node);
            if !sys::pid_alive(**pid) {
                return false;
            }
            let own = is_lab_nspawn(**pid, &machine);
            if !own {
                problems.push(format!(
                    "process {pid} (listed for {node}) is not the lab's container {machine}; left alone"
                ));
            }
            own
        })
        .map(|(_, pid)| *pid)
        .collect();
    std::thread::scope(|s| {
        for pid in &ours {
            s.spawn(move || sys::stop_process(*pid, Duration::from_secs(20)));
        }
    });
    problems.extend(cgroup::remove_lab(&rec.plan.id));
    problems.extend(net::remove_all(rec));
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

/// Created new with its final mode (no moment of 0644), never through a link.
fn write_secret(path: &Path, content: &str) -> Result<()> {
    super::pki::write_file(path, content, 0o600)
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
    super::pki::write_file(&dir.known_hosts(), &text, 0o644)
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
    super::layout::check_dir_name(&dir.root)?;
    super::pki::write_file(&dir.ssh_config(), &text, 0o644)
}

/// Where the nodes' files are on the host, by node name (for tests and tools).
pub fn node_dirs(dir: &LabDir, plan: &LabPlan) -> BTreeMap<String, PathBuf> {
    plan.nodes
        .iter()
        .map(|n| (n.name.clone(), dir.node(&n.name).root))
        .collect()
}

/// Whether `pid` is the systemd-nspawn of the lab's machine `machine`: its
/// program is systemd-nspawn and its arguments name that machine.
pub fn is_lab_nspawn(pid: i32, machine: &str) -> bool {
    let exe = std::fs::read_link(format!("/proc/{pid}/exe")).unwrap_or_default();
    if exe
        .file_name()
        .map(|n| n != "systemd-nspawn")
        .unwrap_or(true)
    {
        return false;
    }
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let want = format!("--machine={machine}");
    cmdline.split(|b| *b == 0).any(|arg| arg == want.as_bytes())
}

/// The container's init (its PID 1) as the host sees it: the child of nspawn.
pub fn container_init(nspawn_pid: i32) -> Option<i32> {
    let children =
        std::fs::read_to_string(format!("/proc/{nspawn_pid}/task/{nspawn_pid}/children")).ok()?;
    children.split_whitespace().next()?.parse().ok()
}

/// Whether `pid` is the supervisor of the lab in `dir` (`harvcred lab
/// supervise --dir DIR`), not some process that took its PID.
pub fn is_lab_supervisor(pid: i32, dir: &Path) -> bool {
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
    let dir = dir.as_os_str().as_encoded_bytes();
    args.windows(4)
        .any(|w| w[0] == b"lab" && w[1] == b"supervise" && w[2] == b"--dir" && w[3] == dir)
}
