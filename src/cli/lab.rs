//! `harvcred lab`: start, inspect and remove a local lab cluster.

use std::path::{Path, PathBuf};

use anyhow::Result;
use clap::{Args, Subcommand};

use crate::lab::layout::LabDir;
use crate::lab::plan::Scenario;
use crate::lab::record::{LabState, Record};
use crate::lab::{self, UpOptions};

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct LabArgs {
    #[command(subcommand)]
    pub command: Option<LabCommand>,
    /// Without a subcommand: start a lab, keep it while you work, remove it on ctrl-c.
    #[command(flatten)]
    pub up: UpArgs,
}

#[derive(Debug, Subcommand)]
pub enum LabCommand {
    /// Start a lab in the background; returns once every node answers SSH and the API answers.
    Up(UpArgs),
    /// Show a lab's nodes, addresses and state.
    Status(DirArg),
    /// Stop a lab and remove everything it created (idempotent, also after a crash).
    Down(DirArg),
    /// Reboot nodes (`systemctl reboot` inside each) and wait until they answer SSH again.
    Reboot(RebootArgs),
    /// List the scenarios a lab can reproduce.
    Scenarios,
    /// Make the lab's API fail the next requests that match: 500, 409 or no answer.
    Fault(FaultArgs),
    /// (internal) The background process that owns a lab.
    #[command(hide = true)]
    Supervise(DirArg),
    /// (internal) The stand-ins for RKE2 and Rancher's agents that run inside nodes.
    #[command(hide = true)]
    Standin(crate::lab::standin::StandinArgs),
    /// (internal) Apply a node's /oem yip stages at boot (`boot` or `network`), inside the node.
    #[command(hide = true)]
    Yip { phase: String },
}

#[derive(Debug, Clone, Args)]
pub struct RebootArgs {
    #[arg(long, default_value = "harvcred-lab")]
    pub dir: PathBuf,
    /// Nodes to reboot (e.g. node2); all at once, each timed on its own.
    #[arg(required = true, value_name = "NODE")]
    pub nodes: Vec<String>,
}

#[derive(Debug, Clone, Args)]
pub struct UpArgs {
    /// Number of nodes; the first three are management nodes.
    #[arg(long, default_value_t = 3)]
    pub nodes: usize,
    /// How many of the first nodes are management (server) nodes.
    #[arg(long, default_value_t = 3)]
    pub servers: usize,
    /// The lab's folder (kubeconfig, ssh_config, keys, node trees).
    #[arg(long, default_value = "harvcred-lab")]
    pub dir: PathBuf,
    /// Problems to reproduce (repeatable); see `harvcred lab scenarios`.
    #[arg(long = "scenario", value_name = "NAME")]
    pub scenarios: Vec<Scenario>,
    /// The lab's /24 (default: a free one of 10.213.N.0/24).
    #[arg(long)]
    pub subnet: Option<String>,
}

#[derive(Debug, Clone, Args)]
pub struct FaultArgs {
    #[arg(long, default_value = "harvcred-lab")]
    pub dir: PathBuf,
    /// Requests with this HTTP method (`*`: any).
    #[arg(long, default_value = "*")]
    pub method: String,
    /// Requests whose path and query contain this text.
    #[arg(long, required_unless_present = "clear")]
    pub path: Option<String>,
    /// What they get: 500, 409 (a resourceVersion conflict) or hang (no answer).
    #[arg(long, value_enum, required_unless_present = "clear")]
    pub answer: Option<crate::lab::api::faults::Answer>,
    /// How many of the next matching requests.
    #[arg(long, default_value_t = 1)]
    pub times: u32,
    /// Serve the request first (a write lands), then fail its answer.
    #[arg(long)]
    pub after: bool,
    /// Disarm every fault instead.
    #[arg(long, conflicts_with_all = ["path", "answer", "after"])]
    pub clear: bool,
}

#[derive(Debug, Clone, Args)]
pub struct DirArg {
    #[arg(long, default_value = "harvcred-lab")]
    pub dir: PathBuf,
}

pub fn run(
    args: LabArgs,
    connect: &super::ConnectArgs,
    console: &super::ConsoleArgs,
) -> Result<i32> {
    match args.command {
        Some(LabCommand::Up(up)) => {
            let rec = lab::up(&options(&up)?)?;
            print_usage(&rec);
            Ok(0)
        }
        Some(LabCommand::Status(d)) => status(&d.dir),
        Some(LabCommand::Down(d)) => {
            let report = lab::down(&d.dir)?;
            match (&report.id, report.problems.is_empty()) {
                (None, _) => println!("no lab in {}: nothing to remove", d.dir.display()),
                (Some(id), true) => println!("lab {id} removed: nodes, network and files"),
                (Some(id), false) => {
                    eprintln!("lab {id}: some things could not be removed:");
                    for p in &report.problems {
                        eprintln!("  {p}");
                    }
                    return Ok(1);
                }
            }
            Ok(0)
        }
        Some(LabCommand::Scenarios) => {
            for s in Scenario::ALL {
                println!("{:<20} {}", s.name(), s.describe());
            }
            Ok(0)
        }
        Some(LabCommand::Fault(f)) => fault(&f),
        Some(LabCommand::Supervise(d)) => {
            lab::supervisor::run(&d.dir)?;
            Ok(0)
        }
        Some(LabCommand::Standin(a)) => lab::standin::run(a),
        Some(LabCommand::Yip { phase }) => crate::lab::yip::run_phase(&phase),
        Some(LabCommand::Reboot(r)) => {
            let mut code = 0;
            for (node, outcome) in lab::reboot(&r.dir, &r.nodes)? {
                match outcome {
                    Ok(secs) => println!("{node} rebooted: answers SSH again after {secs:.1} s"),
                    Err(why) => {
                        eprintln!("{node}: {why}");
                        code = 1;
                    }
                }
            }
            Ok(code)
        }
        None => session(&args.up, connect, console),
    }
}

fn fault(f: &FaultArgs) -> Result<i32> {
    use crate::lab::api::faults;
    if !f.dir.join("lab.json").is_file() {
        anyhow::bail!("no lab in {}", f.dir.display());
    }
    let (Some(path), Some(answer)) = (&f.path, f.answer) else {
        faults::clear(&f.dir)?;
        println!("no API faults armed");
        return Ok(0);
    };
    let rule = faults::Rule {
        method: f.method.clone(),
        path: path.clone(),
        answer,
        times: f.times,
        after: f.after,
    };
    faults::arm(&f.dir, std::slice::from_ref(&rule))?;
    println!(
        "armed: the next {} {} request(s) matching {:?} get {}{}",
        rule.times,
        rule.method,
        rule.path,
        answer.name(),
        if rule.after {
            " after being served"
        } else {
            ""
        }
    );
    Ok(0)
}

fn options(up: &UpArgs) -> Result<UpOptions> {
    let mut opts = UpOptions::new(&up.dir);
    opts.nodes = up.nodes;
    opts.servers = up.servers;
    if !up.scenarios.is_empty() {
        opts.scenarios = up.scenarios.clone();
    }
    opts.subnet = up
        .subnet
        .as_deref()
        .map(lab::names::parse_subnet)
        .transpose()?;
    opts.progress = true;
    Ok(opts)
}

/// `harvcred lab`: a lab for as long as this command runs. Once it is up the
/// console opens on it (as `--lab DIR` would); quitting the console, or
/// ctrl-c / SIGTERM while the lab starts, removes the lab.
fn session(up: &UpArgs, connect: &super::ConnectArgs, console: &super::ConsoleArgs) -> Result<i32> {
    let rec = lab::up(&options(up)?)?;
    let mut connect = connect.clone();
    connect.lab = Some(rec.plan.dir.clone());
    let result = crate::console::run(super::console_options(&connect, console));
    eprintln!("lab: removing {} ...", rec.plan.id);
    let report = lab::down(&rec.plan.dir)?;
    if !report.problems.is_empty() {
        for p in &report.problems {
            eprintln!("  {p}");
        }
        return Ok(1);
    }
    result
}

fn status(dir: &Path) -> Result<i32> {
    let Some((rec, alive)) = lab::status(dir)? else {
        println!("no lab in {}", dir.display());
        return Ok(3);
    };
    let state = match (rec.state, alive) {
        (LabState::Ready, true) => "running".to_string(),
        (LabState::Ready, false) => {
            "dead (its supervisor is gone; run `harvcred lab down` to clean up)".into()
        }
        (s, _) => format!("{s:?}").to_lowercase(),
    };
    println!("lab {} in {}: {state}", rec.plan.id, rec.plan.dir.display());
    print_nodes(&rec);
    if let Some(e) = &rec.error {
        println!("error: {e}");
    }
    let all_up = rec
        .boots
        .values()
        .all(|b| b.state == crate::lab::record::NodeState::Up);
    Ok(if rec.state == LabState::Ready && alive && all_up {
        0
    } else {
        2
    })
}

fn print_nodes(rec: &Record) {
    let scen: Vec<_> = rec.plan.scenarios.iter().map(|s| s.name()).collect();
    println!(
        "subnet {}  API {}  scenarios: {}",
        rec.plan.cidr(),
        rec.plan.api_url(),
        scen.join(", ")
    );
    println!(
        "{:<8} {:<15} {:<8} {:<10} BOOTS",
        "NODE", "IP", "ROLE", "STATE"
    );
    for n in &rec.plan.nodes {
        let role = match n.role {
            crate::lab::plan::Role::Server => "server",
            crate::lab::plan::Role::Worker => "worker",
        };
        let boot = rec.boots.get(&n.name).cloned().unwrap_or_default();
        let state = format!("{:?}", boot.state).to_lowercase();
        println!(
            "{:<8} {:<15} {:<8} {:<10} {}",
            n.name, n.ip, role, state, boot.count
        );
    }
    for n in &rec.plan.nodes {
        if let Some(p) = rec.boots.get(&n.name).and_then(|b| b.problem.as_ref()) {
            println!("{}: {p}", n.name);
        }
    }
}

fn print_usage(rec: &Record) {
    let d = LabDir::new(&rec.plan.dir);
    println!(
        "lab {} ready in {:.1} s: {} nodes",
        rec.plan.id,
        rec.ready_after_secs.unwrap_or_default(),
        rec.plan.nodes.len()
    );
    print_nodes(rec);
    println!();
    println!("  ssh -F {} node1", d.ssh_config().display());
    println!(
        "  KUBECONFIG={} kubectl get nodes -o wide",
        d.kubeconfig().display()
    );
    println!("  harvcred --lab {} ...", d.root.display());
    println!("  rancher's password: {}", d.rancher_password().display());
    println!("  harvcred lab down --dir {}", d.root.display());
}
