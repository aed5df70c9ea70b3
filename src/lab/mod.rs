//! The local lab cluster: node sandboxes with real sshd, the Harvester API
//! emulator, scenarios. See DESIGN.md, "The lab".
//!
//! `up` checks the machine, builds the base tree if needed, claims an id and a
//! subnet, writes the record and starts the supervisor ([`supervisor`]), which
//! creates everything else and reports through the record. `down` stops the
//! supervisor and removes whatever the record lists, also after a crash.

pub mod api;
pub mod base;
pub mod cgroup;
pub mod exec;
pub mod image;
pub mod layout;
pub mod names;
pub mod net;
pub mod pki;
pub mod plan;
pub mod record;
pub mod seed;
pub mod standin;
pub mod supervisor;
pub mod sys;
pub mod yip;

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use layout::LabDir;
use plan::{LabPlan, MAX_NODES, Scenario};
use record::{LabState, Record};

/// What `lab up` is asked for.
#[derive(Clone, Debug)]
pub struct UpOptions {
    pub dir: PathBuf,
    pub nodes: usize,
    /// How many of the first nodes are management (server) nodes.
    pub servers: usize,
    pub scenarios: Vec<Scenario>,
    pub subnet: Option<[u8; 3]>,
    /// Print progress (base tree build, waiting) on stderr.
    pub progress: bool,
}

impl UpOptions {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        UpOptions {
            dir: dir.into(),
            nodes: 3,
            servers: 3,
            scenarios: vec![Scenario::Healthy],
            subnet: None,
            progress: false,
        }
    }
}

/// Refuse early, with what to do, instead of failing half-way.
pub fn check_machine() -> Result<()> {
    if !sys::is_root() {
        bail!(
            "the lab needs root (it creates network namespaces, a bridge and containers); run it with sudo"
        );
    }
    let missing: Vec<_> = [
        ("systemd-nspawn", "systemd-container"),
        ("debootstrap", "debootstrap"),
        ("ip", "iproute2"),
        ("ssh", "openssh-client"),
        ("ssh-keygen", "openssh-client"),
    ]
    .into_iter()
    .filter(|(prog, _)| !sys::which(prog))
    .collect();
    if !missing.is_empty() {
        let progs: Vec<_> = missing.iter().map(|(p, _)| *p).collect();
        let mut pkgs: Vec<_> = missing.iter().map(|(_, p)| *p).collect();
        pkgs.dedup();
        bail!(
            "the lab needs {} (install with: apt-get install {})",
            progs.join(", "),
            pkgs.join(" ")
        );
    }
    Ok(())
}

/// Start a lab and return once every node answers SSH and the API answers.
pub fn up(opts: &UpOptions) -> Result<Record> {
    check_machine()?;
    if opts.nodes == 0 || opts.nodes > MAX_NODES {
        bail!("--nodes must be between 1 and {MAX_NODES}");
    }
    let dir = absolute(&opts.dir)?;
    layout::check_dir_name(&dir)?;
    check_dir_owner(&dir)?;
    let lab_dir = LabDir::new(&dir);
    if let Some(rec) = Record::load(&lab_dir.record())?
        && rec.state != LabState::Down
    {
        let live = rec.supervisor_pid.map(sys::pid_alive).unwrap_or(false);
        if live {
            bail!(
                "{} holds a running lab ({}); stop it with `harvcred lab down --dir {}` or choose another --dir",
                dir.display(),
                rec.plan.id,
                dir.display()
            );
        }
        bail!(
            "{} holds the remains of lab {} that is not running; clean it up with `harvcred lab down --dir {}`",
            dir.display(),
            rec.plan.id,
            dir.display()
        );
    }
    let created_dir = !dir.exists();
    if !created_dir
        && std::fs::read_dir(&dir)?.any(|e| e.map(|e| e.file_name() != "lab.json").unwrap_or(true))
    {
        bail!(
            "{} is not empty; give `--dir` a new or empty folder (the lab writes keys and node trees there)",
            dir.display()
        );
    }
    base::ensure(opts.progress)?;
    raise_inotify_limit(opts.nodes, opts.progress)?;

    let claim = names::claim(&dir, opts.subnet)?;
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut scenarios = opts.scenarios.clone();
    scenarios.sort();
    scenarios.dedup();
    let plan = LabPlan {
        id: claim.id.clone(),
        dir: dir.clone(),
        subnet: claim.subnet,
        nodes: LabPlan::make_nodes(claim.subnet, opts.nodes, opts.servers.min(opts.nodes)),
        scenarios,
        api_port: 6443,
    };
    let mut rec = Record::new(plan);
    rec.created_dir = created_dir;
    rec.claim = Some(claim.keep());
    rec.save(&lab_dir.record())?;

    let launched = Instant::now();
    let child = spawn_supervisor(&lab_dir);
    let child = match child {
        Ok(c) => c,
        Err(e) => {
            let _ = down(&dir);
            return Err(e);
        }
    };
    let budget = Duration::from_secs(150 + 4 * opts.nodes as u64);
    let mut announced = false;
    loop {
        std::thread::sleep(Duration::from_millis(100));
        let rec = Record::load(&lab_dir.record())?.context("the lab record vanished")?;
        match rec.state {
            LabState::Ready => return Ok(rec),
            LabState::Failed | LabState::Down | LabState::Stopping => {
                let why = rec
                    .error
                    .clone()
                    .unwrap_or_else(|| "the supervisor stopped".into());
                let log = tail(&lab_dir.supervisor_log(), 15);
                let _ = down(&dir);
                bail!("the lab did not start: {why}\n{log}");
            }
            LabState::Starting => {}
        }
        if !sys::pid_alive(child) {
            let log = tail(&lab_dir.supervisor_log(), 15);
            let _ = down(&dir);
            bail!("the lab's supervisor died while starting:\n{log}");
        }
        if launched.elapsed() > budget {
            let _ = down(&dir);
            bail!("the lab did not become ready within {} s", budget.as_secs());
        }
        if opts.progress && !announced && launched.elapsed() > Duration::from_secs(3) {
            eprintln!(
                "lab: waiting for {} nodes to boot and answer SSH ...",
                opts.nodes
            );
            announced = true;
        }
    }
}

/// Every booted node's systemd, journald and logind take inotify instances from
/// root's shared budget; Debian's default of 128 runs out at about 25 nodes and
/// nodes then fail to start sshd. Raise it (never lower it) to fit this lab
/// beside others.
fn raise_inotify_limit(nodes: usize, progress: bool) -> Result<()> {
    const KNOB: &str = "/proc/sys/fs/inotify/max_user_instances";
    let current: usize = std::fs::read_to_string(KNOB)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0);
    // Room for other labs beside this one (parallel tests).
    let wanted = 8192 + 32 * nodes;
    if current < wanted {
        std::fs::write(KNOB, wanted.to_string())
            .with_context(|| format!("raising {KNOB} to {wanted}"))?;
        if progress {
            eprintln!(
                "lab: raised fs.inotify.max_user_instances from {current} to {wanted} (booted nodes need several each)"
            );
        }
    }
    Ok(())
}

fn spawn_supervisor(dir: &LabDir) -> Result<i32> {
    use std::os::unix::fs::OpenOptionsExt;
    let exe = std::env::current_exe().context("finding the harvcred binary")?;
    let log = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o640)
        .custom_flags(libc::O_NOFOLLOW)
        .open(dir.supervisor_log())
        .with_context(|| format!("creating {}", dir.supervisor_log().display()))?;
    let mut cmd = Command::new(exe);
    cmd.args(["lab", "supervise", "--dir"])
        .arg(&dir.root)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log);
    // Its own session: the lab outlives the `lab up` that started it.
    unsafe {
        cmd.pre_exec(|| {
            nix::unistd::setsid().map_err(std::io::Error::from)?;
            Ok(())
        });
    }
    let child = cmd.spawn().context("starting the lab supervisor")?;
    let pid = child.id() as i32;
    // Reap it in the background so a dead supervisor does not linger as a zombie.
    std::thread::spawn(move || {
        let mut child = child;
        let _ = child.wait();
    });
    Ok(pid)
}

/// What `lab down` did.
#[derive(Debug, Default)]
pub struct DownReport {
    pub found: bool,
    pub id: Option<String>,
    pub problems: Vec<String>,
}

/// Stop a lab and remove everything it made. Idempotent: a folder without a
/// lab is fine, and a lab whose supervisor crashed is cleaned from its record.
pub fn down(dir: &Path) -> Result<DownReport> {
    let dir = absolute(dir)?;
    let lab_dir = LabDir::new(&dir);
    let Some(rec) = Record::load(&lab_dir.record())? else {
        return Ok(DownReport::default());
    };
    check_machine()?;
    // lab.json is a file in a folder; act only on what is provably this lab's.
    check_record_is_this_labs(&rec, &dir)?;
    if let Some(pid) = rec.supervisor_pid
        && pid != std::process::id() as i32
        && sys::pid_alive(pid)
    {
        if supervisor::is_lab_supervisor(pid, &dir) {
            // The supervisor shuts the nodes down cleanly; give it time for that.
            sys::stop_process(pid, Duration::from_secs(60));
        } else {
            eprintln!(
                "lab: process {pid} is not this lab's supervisor (any more); leaving it alone"
            );
        }
    }
    // Whatever it did not get to, from the record as it stands now.
    let rec = Record::load(&lab_dir.record())?.unwrap_or(rec);
    check_record_is_this_labs(&rec, &dir)?;
    let mut problems = supervisor::teardown_processes_and_net(&rec);
    if let Some(claim) = &rec.claim {
        let _ = std::fs::remove_dir_all(claim);
    }
    if problems.is_empty() {
        // Only what the lab wrote: a file the operator put in the folder stays.
        let entries = std::fs::read_dir(&dir)?;
        let mut record_last = None;
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if !LabDir::is_written(&name) {
                continue;
            }
            let p = entry.path();
            if name == "lab.json" {
                record_last = Some(p);
                continue;
            }
            // symlink_metadata: a link is removed, never followed.
            let is_dir = std::fs::symlink_metadata(&p)
                .map(|m| m.is_dir())
                .unwrap_or(false);
            let r = if is_dir {
                std::fs::remove_dir_all(&p)
            } else {
                std::fs::remove_file(&p)
            };
            if let Err(e) = r {
                problems.push(format!("removing {}: {e}", p.display()));
            }
        }
        if problems.is_empty() {
            if let Some(p) = record_last {
                std::fs::remove_file(&p).with_context(|| format!("removing {}", p.display()))?;
            }
            if rec.created_dir {
                // Only if empty: an operator's file keeps the folder.
                let _ = std::fs::remove_dir(&dir);
            }
        }
    } else {
        let mut rec = rec.clone();
        rec.error = Some(problems.join("; "));
        let _ = rec.save(&lab_dir.record());
    }
    Ok(DownReport {
        found: true,
        id: Some(rec.plan.id.clone()),
        problems,
    })
}

/// Reboot `nodes` as `systemctl reboot` inside each does, and wait until each
/// answers SSH again: `(node, seconds from the reboot until SSH answered, or
/// why it did not come back)`.
pub fn reboot(dir: &Path, nodes: &[String]) -> Result<Vec<(String, Result<f64, String>)>> {
    check_machine()?;
    let dir = absolute(dir)?;
    let lab_dir = LabDir::new(&dir);
    let rec =
        Record::load(&lab_dir.record())?.with_context(|| format!("no lab in {}", dir.display()))?;
    if rec.state != LabState::Ready || !rec.supervisor_pid.map(sys::pid_alive).unwrap_or(false) {
        bail!(
            "lab {} is not running (see `harvcred lab status --dir {}`)",
            rec.plan.id,
            dir.display()
        );
    }
    let mut waiting = Vec::new();
    for node in nodes {
        if !rec.plan.nodes.iter().any(|n| &n.name == node) {
            bail!("lab {} has no node {node}", rec.plan.id);
        }
        let pid = *rec
            .nspawn_pids
            .get(node)
            .with_context(|| format!("{node} is not running"))?;
        let machine = names::machine(&rec.plan.id, node);
        if !supervisor::is_lab_nspawn(pid, &machine) {
            bail!("process {pid} is not {node}'s container ({machine}); not touching it");
        }
        let init = supervisor::container_init(pid)
            .with_context(|| format!("{node}'s container has no init process"))?;
        let before = rec.boots.get(node).map(|b| b.count).unwrap_or(0);
        let started = Instant::now();
        let out = Command::new("nsenter")
            .args([
                "-t",
                &init.to_string(),
                "-m",
                "-u",
                "-i",
                "-n",
                "-p",
                "--",
                "systemctl",
                "reboot",
            ])
            .stdin(Stdio::null())
            .output()
            .context("running nsenter (util-linux)")?;
        if !out.status.success() {
            bail!(
                "systemctl reboot in {node}: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        waiting.push((node.clone(), before, started));
    }
    let budget = Duration::from_secs(120 + 3 * rec.plan.nodes.len() as u64);
    let mut done: Vec<(String, Result<f64, String>)> = Vec::new();
    while !waiting.is_empty() {
        std::thread::sleep(Duration::from_millis(100));
        let now = Record::load(&lab_dir.record())?.context("the lab record vanished")?;
        waiting.retain(|(node, before, started)| {
            let b = now.boots.get(node).cloned().unwrap_or_default();
            let outcome = if b.count > *before && b.state == record::NodeState::Up {
                Some(Ok(started.elapsed().as_secs_f64()))
            } else if b.count > *before && b.state == record::NodeState::Failed {
                Some(Err(b.problem.unwrap_or_else(|| "did not come back".into())))
            } else if b.state == record::NodeState::Stopped {
                Some(Err("stopped instead of rebooting".into()))
            } else if started.elapsed() > budget {
                Some(Err(format!(
                    "did not come back within {} s",
                    budget.as_secs()
                )))
            } else {
                None
            };
            match outcome {
                Some(o) => {
                    done.push((node.clone(), o));
                    false
                }
                None => true,
            }
        });
    }
    Ok(done)
}

/// Refuse a record that names anything outside this lab: `lab down` runs as
/// root and removes what the record lists.
fn check_record_is_this_labs(rec: &Record, dir: &Path) -> Result<()> {
    let refuse = |what: String| -> Result<()> {
        bail!(
            "{} does not describe a lab of this folder ({what}); not touching anything. Remove what the lab made by hand, or restore the file",
            LabDir::new(dir).record().display()
        )
    };
    let id = &rec.plan.id;
    let id_ok = id
        .strip_prefix("hc")
        .is_some_and(|n| !n.is_empty() && n.len() <= 3 && n.bytes().all(|b| b.is_ascii_digit()));
    if !id_ok {
        return refuse(format!("lab id {id:?} is not of the form hcN"));
    }
    if rec.plan.dir != dir {
        return refuse(format!(
            "its plan folder is {}, not {}",
            rec.plan.dir.display(),
            dir.display()
        ));
    }
    for (node, ns) in &rec.netns {
        if !rec.plan.nodes.iter().any(|n| &n.name == node) || *ns != names::netns(id, node) {
            return refuse(format!("network namespace {ns:?} is not this lab's"));
        }
    }
    for (node, veth) in &rec.veths {
        let want = rec
            .plan
            .nodes
            .iter()
            .find(|n| &n.name == node)
            .map(|n| names::veth(id, n.index));
        if want.as_ref() != Some(veth) {
            return refuse(format!("link {veth:?} is not this lab's"));
        }
    }
    if let Some(br) = &rec.bridge
        && *br != names::bridge(id)
    {
        return refuse(format!("bridge {br:?} is not this lab's"));
    }
    if let Some(claim) = &rec.claim
        && *claim != Path::new(names::RUN_DIR).join(id)
    {
        return refuse(format!("claim {} is not this lab's", claim.display()));
    }
    for node in rec.nspawn_pids.keys() {
        if !rec.plan.nodes.iter().any(|n| &n.name == node) {
            return refuse(format!("process of unknown node {node:?}"));
        }
    }
    Ok(())
}

/// A folder someone else can write to could get links planted in it between
/// our checks and our writes.
fn check_dir_owner(dir: &Path) -> Result<()> {
    use std::os::unix::fs::MetadataExt;
    let Ok(meta) = std::fs::symlink_metadata(dir) else {
        return Ok(());
    };
    if !meta.is_dir() {
        bail!("{} is not a folder (a link is not accepted)", dir.display());
    }
    if meta.uid() != 0 || meta.mode() & 0o022 != 0 {
        bail!(
            "{} must be owned by root and writable by root only (the lab writes keys there)",
            dir.display()
        );
    }
    Ok(())
}

/// The state of a lab, from its record, checked against the machine.
pub fn status(dir: &Path) -> Result<Option<(Record, bool)>> {
    let dir = absolute(dir)?;
    let Some(rec) = Record::load(&LabDir::new(&dir).record())? else {
        return Ok(None);
    };
    let alive = rec.supervisor_pid.map(sys::pid_alive).unwrap_or(false);
    Ok(Some((rec, alive)))
}

fn absolute(p: &Path) -> Result<PathBuf> {
    if p.is_absolute() {
        Ok(p.to_path_buf())
    } else {
        Ok(std::env::current_dir()?.join(p))
    }
}

fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}
