//! The fault matrix, API side (issue 19): every change harvcred makes
//! through the API (`proxy set`, `settings set`, `certs auto-rotate`,
//! `certs rotate --cluster`, `cloudcreds renew` in the lab's Rancher) is stopped at each API step (`read`, `dry-run`,
//! `patch`, `follow`: harvcred's fault points) and hit there by a fault: the
//! lab API answering 500, answering 409 (a resourceVersion conflict), not
//! answering (after storing the write: the answer lost), or harvcred killed
//! (SIGKILL). After each cell: the object holds exactly the old or the new
//! value, the audit log says what happened, the exit code is the documented
//! one, running the same command again finishes the change writing at most
//! the one patch the first run did not complete, and the operator can still
//! log in to the node with a key.
//!
//! `HARVCRED_MATRIX=full` runs every cell; the default runs [`CI_CELLS`],
//! which hold every flow, step and fault at least once. Each cell is one
//! line of `target/tmp/reliability/matrix-fault_matrix_api.jsonl`.

mod common;

use std::process::{Child, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use common::matrix::{self, Cell};
use common::{Home, Lab};
use harvcred::lab::api::faults::{self, Answer, Rule};

const REPORT: &str = "fault_matrix_api";

const STEPS: [&str; 4] = ["read", "dry-run", "patch", "follow"];
const FAULTS: [&str; 4] = ["api-500", "api-409", "api-timeout", "harvcred-killed"];

/// The cells the default (CI) run takes: every flow, step and fault at
/// least once, two hung APIs only (each costs harvcred's 15 s request
/// timeout): both a patch whose answer is lost.
const CI_CELLS: [(&str, &str, &str); 18] = [
    ("proxy set", "read", "harvcred-killed"),
    ("proxy set", "dry-run", "api-409"),
    ("proxy set", "patch", "api-timeout"),
    ("proxy set", "follow", "api-500"),
    ("settings set", "read", "api-500"),
    ("settings set", "patch", "api-409"),
    ("settings set", "follow", "harvcred-killed"),
    ("certs auto-rotate", "dry-run", "api-500"),
    ("certs auto-rotate", "patch", "harvcred-killed"),
    ("certs auto-rotate", "follow", "api-500"),
    ("certs rotate", "dry-run", "api-409"),
    ("certs rotate", "patch", "api-500"),
    ("certs rotate", "follow", "harvcred-killed"),
    ("cloudcreds renew", "read", "api-500"),
    ("cloudcreds renew", "dry-run", "api-409"),
    ("cloudcreds renew", "patch", "harvcred-killed"),
    ("cloudcreds renew", "patch", "api-timeout"),
    ("cloudcreds renew", "follow", "api-500"),
];

/// An API-changing flow of the table. `which` picks one of the two values
/// a toggled flow alternates between (a rotation only ever goes one up).
struct Flow {
    name: &'static str,
    /// The command line and its stdin for value `which`.
    command: fn(&Lab, usize) -> (Vec<String>, String),
    /// The request log its writes reach (the lab API's or the Rancher's).
    log: &'static str,
    /// The object written, as the request log names it, and its API path.
    resource: &'static str,
    object: &'static str,
    path: &'static str,
    /// What the steps `read` and `follow` read (GET).
    read_path: &'static str,
    /// The object's value the change writes, as stored (bytes compared).
    value: fn(&Lab) -> String,
    /// Made before the cells (the values' inputs).
    prepare: Option<fn(&Lab)>,
    /// A rotation: the new value is the old generation + 1, and once asked
    /// for it is Rancher's to finish (running the command again would ask
    /// for another).
    rotation: bool,
}

fn args(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// The table's rows: a new API-changing flow is one more entry (its cells
/// follow from [`STEPS`] x [`FAULTS`]; CI's are lines of [`CI_CELLS`]).
const FLOWS: &[Flow] = &[
    Flow {
        name: "proxy set",
        command: |lab, which| {
            let url = ["http://proxy-a.lab:3128", "http://proxy-b.lab:3128"][which];
            let no_proxy = format!("{}.0/24", lab.subnet_prefix());
            let a = args(&["proxy", "set", "--http-proxy", url, "--no-proxy"]);
            ([a, vec![no_proxy, "--yes".into()]].concat(), String::new())
        },
        log: API_LOG,
        resource: "settings.harvesterhci.io",
        object: "http-proxy",
        path: "settings/http-proxy",
        read_path: "settings/http-proxy",
        value: |lab| lab.setting_value("http-proxy"),
        prepare: None,
        rotation: false,
    },
    Flow {
        name: "settings set",
        command: |_, which| {
            let v = [
                r#"{"protocols":"TLSv1.2 TLSv1.3"}"#,
                r#"{"protocols":"TLSv1.3"}"#,
            ][which];
            let a = ["settings", "set", "ssl-parameters", "--value", "-", "--yes"];
            (args(&a), v.to_string())
        },
        log: API_LOG,
        resource: "settings.harvesterhci.io",
        object: "ssl-parameters",
        path: "settings/ssl-parameters",
        read_path: "settings/ssl-parameters",
        value: |lab| lab.setting_value("ssl-parameters"),
        prepare: None,
        rotation: false,
    },
    Flow {
        name: "certs auto-rotate",
        command: |_, which| {
            let hours = ["100", "200"][which];
            let a = ["certs", "auto-rotate", "--disable", "--expiring-in-hours"];
            ([args(&a), args(&[hours, "--yes"])].concat(), String::new())
        },
        log: API_LOG,
        resource: "settings.harvesterhci.io",
        object: "auto-rotate-rke2-certs",
        path: "settings/auto-rotate-rke2-certs",
        read_path: "settings/auto-rotate-rke2-certs",
        value: |lab| lab.setting_value("auto-rotate-rke2-certs"),
        prepare: None,
        rotation: false,
    },
    Flow {
        name: "certs rotate",
        command: |_, _| {
            let a = ["certs", "rotate", "--cluster", "--yes", "--timeout", "120"];
            (args(&a), String::new())
        },
        log: API_LOG,
        resource: "clusters.provisioning.cattle.io",
        object: "local",
        path: "clusters/local",
        read_path: "rkecontrolplanes/local",
        value: |lab| {
            lab.kubectl_ok(&[
                "get",
                "clusters.provisioning.cattle.io",
                "-n",
                "fleet-local",
                "local",
                "-o",
                "jsonpath={.spec.rkeConfig.rotateCertificates.generation}",
            ])
        },
        prepare: None,
        rotation: true,
    },
    Flow {
        name: "cloudcreds renew",
        command: |lab, which| {
            let file = renew_kubeconfig(lab, which);
            let a = [
                "--rancher-context",
                "rancher",
                "cloudcreds",
                "renew",
                CREDENTIAL,
            ];
            let file = ["--kubeconfig-file", file.to_str().unwrap(), "--yes"];
            ([args(&a), args(&file)].concat(), String::new())
        },
        log: RANCHER_LOG,
        resource: "secrets",
        object: CREDENTIAL,
        path: "secrets/cc-lab01",
        read_path: "secrets/cc-lab01",
        value: |lab| {
            lab.kubectl_ok(&[
                "--context",
                "rancher",
                "get",
                "secret",
                "-n",
                "cattle-global-data",
                CREDENTIAL,
                "-o",
                "jsonpath={.data.harvestercredentialConfig-kubeconfigContent}",
            ])
        },
        prepare: Some(generate_renew_kubeconfigs),
        rotation: false,
    },
];

const API_LOG: &str = "api-requests.jsonl";
const RANCHER_LOG: &str = harvcred::lab::api::rancher::REQUEST_LOG_FILE;
/// The lab Rancher's Harvester cloud credential.
const CREDENTIAL: &str = "cc-lab01";

/// Where `cloudcreds renew`'s kubeconfig `which` is kept (beside the lab,
/// gone with it).
fn renew_kubeconfig(lab: &Lab, which: usize) -> std::path::PathBuf {
    lab.dir
        .parent()
        .unwrap()
        .join(format!("renew-{which}.kubeconfig"))
}

/// Two kubeconfigs with new tokens for the credential's cluster, as
/// Rancher's generateKubeconfig gives them to its admin (0600 files).
fn generate_renew_kubeconfigs(lab: &Lab) {
    use harvcred::cluster::rancher;
    use std::os::unix::fs::OpenOptionsExt;
    let settings = harvcred::cluster::KubeSettings {
        kubeconfig: Some(lab.kubeconfig()),
        context: Some("rancher".into()),
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    let cluster = harvcred::lab::api::rancher::cluster_id_for(&lab.id());
    for which in 0..2 {
        let text = rt.block_on(async {
            let r = rancher::connect(&settings).await.unwrap();
            rancher::generate_kubeconfig(&r, &cluster).await.unwrap()
        });
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(renew_kubeconfig(lab, which))
            .unwrap();
        std::io::Write::write_all(&mut f, text.as_bytes()).unwrap();
    }
}

/// Whether the cell makes sense: an API server never answers a read with 409.
fn applicable(step: &str, fault: &str) -> bool {
    !(fault == "api-409" && (step == "read" || step == "follow"))
}

/// The exit code README documents for the first run (None: killed).
fn expected_exit(step: &str, fault: &str) -> Option<i32> {
    Some(match (step, fault) {
        (_, "harvcred-killed") => return None,
        // A read retried until it answers, or the write read back after a
        // lost answer: the change goes through.
        ("follow", _) | ("patch", "api-timeout") => 0,
        // Changed meanwhile: shown, not retried on its own with --yes.
        (_, "api-409") => 2,
        // The cluster could not be reached (read, dry run, patch).
        _ => 3,
    })
}

/// The fault to arm at `step` of `flow`.
fn rule(flow: &Flow, step: &str, fault: &str) -> Rule {
    let (method, path) = match step {
        "read" | "follow" => ("GET", flow.read_path),
        _ => ("PATCH", flow.path),
    };
    let answer = match fault {
        "api-500" => Answer::InternalError,
        "api-409" => Answer::Conflict,
        _ => Answer::Hang,
    };
    Rule {
        method: method.into(),
        path: path.into(),
        answer,
        times: 1,
        // A hung write is stored and its answer lost: the case a retry
        // must not write twice.
        after: answer == Answer::Hang && step == "patch",
    }
}

/// The cells to run: all applicable ones with `HARVCRED_MATRIX=full`, else
/// [`CI_CELLS`]; only flow F's with `HARVCRED_MATRIX_FLOW=F`.
fn cells() -> Vec<(usize, &'static str, &'static str)> {
    let full = matrix::full_run();
    let only = std::env::var("HARVCRED_MATRIX_FLOW").ok();
    let mut out = Vec::new();
    for (i, flow) in FLOWS.iter().enumerate() {
        if only.as_deref().is_some_and(|f| f != flow.name) {
            continue;
        }
        for step in STEPS {
            for fault in FAULTS {
                let ci = CI_CELLS.contains(&(flow.name, step, fault));
                if applicable(step, fault) && (full || ci) {
                    out.push((i, step, fault));
                }
            }
        }
    }
    out
}

/// A harvcred run, its output in files (no pipe to fill up while paused).
struct Run {
    child: Child,
    dir: tempfile::TempDir,
    started: Instant,
}

/// Longest a run may take: harvcred's 15 s per request, a rotation's
/// follow; a run still going then is hung.
const RUN_DEADLINE: Duration = Duration::from_secs(150);

impl Run {
    fn start(lab: &Lab, home: &Home, cmd: &(Vec<String>, String), pause_at: Option<&str>) -> Run {
        let dir = tempfile::tempdir().unwrap();
        let argv: Vec<&str> = cmd.0.iter().map(String::as_str).collect();
        let mut c = home.cmd(lab, &argv);
        if let Some(step) = pause_at {
            c.env("HARVCRED_FAULT_AT", format!("{step}@cluster"))
                .env("HARVCRED_FAULT_DIR", dir.path());
        }
        let out = std::fs::File::create(dir.path().join("out")).unwrap();
        let mut child = c
            .stdin(Stdio::piped())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .unwrap();
        {
            use std::io::Write;
            let mut stdin = child.stdin.take().unwrap();
            stdin.write_all(cmd.1.as_bytes()).unwrap();
        }
        Run {
            child,
            dir,
            started: Instant::now(),
        }
    }

    /// Waits until harvcred stands at its fault point.
    fn paused(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !self.dir.path().join("paused").exists() {
            if let Some(st) = self.child.try_wait().unwrap() {
                return Err(format!(
                    "harvcred ended ({st}) before its fault point: {}",
                    self.output()
                ));
            }
            if Instant::now() > deadline {
                return Err("harvcred never reached its fault point".into());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(())
    }

    fn resume(&self) {
        std::fs::write(self.dir.path().join("resume"), "").unwrap();
    }

    fn kill(&mut self) -> ExitStatus {
        self.child.kill().unwrap();
        self.child.wait().unwrap()
    }

    /// Its end, or Err when it is still going at [`RUN_DEADLINE`] (killed then).
    fn end(&mut self) -> Result<ExitStatus, String> {
        loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                return Ok(st);
            }
            if self.started.elapsed() > RUN_DEADLINE {
                self.kill();
                return Err(format!(
                    "harvcred hung: still running after {} s: {}",
                    RUN_DEADLINE.as_secs(),
                    self.output()
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn output(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("out")).unwrap_or_default()
    }
}

fn audit_lines(home: &Home) -> Vec<serde_json::Value> {
    home.audit()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// The patches (not dry runs) of `flow`'s object since `mark`. The
/// Rancher's log names a request through its proxy by path only.
fn patches_since(lab: &Lab, flow: &Flow, mark: usize) -> usize {
    lab.request_log(flow.log)
        .iter()
        .skip(mark)
        .filter(|r| {
            let ours = (r["resource"] == flow.resource && r["name"] == flow.object)
                || r["path"].as_str().is_some_and(|p| p.ends_with(flow.path));
            let write =
                ["create", "update", "patch", "delete"].contains(&r["verb"].as_str().unwrap_or(""));
            ours && write && r["dryRun"] != true
        })
        .count()
}

/// Waits until the RKEControlPlane is Ready with the Cluster's generation.
fn rotation_idle(lab: &Lab) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let cp = lab.kubectl_ok(&[
            "get",
            "rkecontrolplanes.rke.cattle.io",
            "-n",
            "fleet-local",
            "local",
            "-o",
            r#"jsonpath={.spec.rotateCertificates.generation}|{.status.certificateRotationGeneration}|{.status.conditions[?(@.type=="Ready")].status}"#,
        ]);
        let rotate = FLOWS.iter().find(|f| f.rotation).expect("a rotation flow");
        let asked = (rotate.value)(lab);
        let f: Vec<&str> = cp.split('|').collect();
        let gen_of = |s: &str| s.parse::<i64>().unwrap_or(0);
        if gen_of(f[0]) == gen_of(&asked) && gen_of(f[1]) == gen_of(&asked) && f[2] == "True" {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!(
                "the rotation did not finish: RKEControlPlane {cp}, asked {asked}"
            ));
        }
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// The value a toggled flow's command `which` leaves, learnt from a run
/// without faults (which must succeed).
fn learn(lab: &Lab, home: &Home, flow: &Flow, which: usize) -> String {
    let mut run = Run::start(lab, home, &(flow.command)(lab, which), None);
    let st = run.end().unwrap();
    assert_eq!(st.code(), Some(0), "{}: {}", flow.name, run.output());
    (flow.value)(lab)
}

/// One cell; Ok with what was checked, or Err with the invariant broken.
fn cell(
    lab: &Lab,
    home: &Home,
    flow: &Flow,
    values: &[String; 2],
    step: &str,
    fault: &str,
) -> Result<String, String> {
    let old = (flow.value)(lab);
    let (which, new) = if flow.rotation {
        rotation_idle(lab)?;
        let g: i64 = old.parse().unwrap_or(0);
        (0, (g + 1).to_string())
    } else {
        let cur = values
            .iter()
            .position(|v| *v == old)
            .ok_or_else(|| format!("the value before the cell is neither known one: {old:?}"))?;
        (1 - cur, values[1 - cur].clone())
    };
    let cmd = (flow.command)(lab, which);
    let audit_mark = audit_lines(home).len();
    let api_mark = lab.request_log(flow.log).len();

    // The first run, stopped at the step and hit there.
    let mut run = Run::start(lab, home, &cmd, Some(step));
    run.paused()?;
    let first = if fault == "harvcred-killed" {
        run.kill()
    } else {
        faults::arm(&lab.dir, &[rule(flow, step, fault)]).unwrap();
        run.resume();
        let st = run.end();
        faults::clear(&lab.dir).unwrap();
        st?
    };
    let said = run.output();
    if fault != "harvcred-killed" {
        let hit = lab
            .request_log(flow.log)
            .into_iter()
            .skip(api_mark)
            .any(|r| r["fault"].as_str().is_some_and(|f| f.starts_with(fault)));
        if !hit {
            return Err(format!("the armed {fault} never hit a request: {said}"));
        }
    }
    if first.code() != expected_exit(step, fault) {
        return Err(format!(
            "exit {first}, README documents {:?}: {said}",
            expected_exit(step, fault)
        ));
    }
    if fault == "api-timeout" && first.code() == Some(3) && !said.contains("no answer within 15 s")
    {
        return Err(format!("a hung API is not said as such: {said}"));
    }

    // Exactly the old or the new value.
    let after = (flow.value)(lab);
    if after != old && after != new {
        return Err(format!(
            "a third value: {after:?} (old {old:?}, new {new:?})"
        ));
    }
    let landed = after == new;

    // The audit log says what happened.
    let lines: Vec<serde_json::Value> = audit_lines(home).into_iter().skip(audit_mark).collect();
    let has = |result: &str, step: Option<&str>| {
        lines
            .iter()
            .any(|l| l["result"] == result && step.is_none_or(|s| l["step"] == s))
    };
    if !landed && (has("applied", None) || has("verified", None)) {
        return Err(format!(
            "the audit log claims a change that did not land: {lines:?}"
        ));
    }
    if landed && fault != "harvcred-killed" && !has("applied", Some("apply")) {
        return Err(format!(
            "the change landed, the audit log does not say so: {lines:?}"
        ));
    }
    match (fault, first.code()) {
        ("api-409", _) => {
            let said_meanwhile = lines.iter().any(|l| {
                l["result"] == "denied"
                    && l["detail"]
                        .as_str()
                        .is_some_and(|d| d.contains("changed by someone else"))
            });
            if !said_meanwhile {
                return Err(format!("a 409 not audited as changed meanwhile: {lines:?}"));
            }
        }
        (_, Some(0)) if !has("verified", None) => {
            return Err(format!("exit 0 without a verified audit line: {lines:?}"));
        }
        (_, Some(3)) if !has("failed", None) => {
            return Err(format!("a failure not audited as failed: {lines:?}"));
        }
        _ => {}
    }

    // The same change again: finished, at most the one patch not done.
    let rerun_mark = lab.request_log(flow.log).len();
    let mut rerun_said = String::from("(not run again: the rotation asked for is Rancher's)");
    if flow.rotation && landed {
        rotation_idle(lab)?;
    } else {
        let mut again = Run::start(lab, home, &cmd, None);
        let st = again.end()?;
        rerun_said = again.output();
        if st.code() != Some(0) {
            return Err(format!("the same command again: exit {st}: {rerun_said}"));
        }
        if flow.rotation {
            rotation_idle(lab)?;
        }
    }
    let now = (flow.value)(lab);
    if now != new {
        return Err(format!("after running again: {now:?}, not the new {new:?}"));
    }
    let patches = patches_since(lab, flow, rerun_mark);
    let allowed = usize::from(!landed);
    if patches != allowed {
        return Err(format!(
            "running again patched {patches} times, {allowed} left to do: {rerun_said}"
        ));
    }

    // The operator still gets in with a key (a fresh connection).
    let login = lab.ssh("node1", "true");
    if !login.status.success() {
        return Err(format!(
            "no key login to node1 afterwards: {}",
            String::from_utf8_lossy(&login.stderr)
        ));
    }
    Ok(format!(
        "first run {}, {} left; again: {patches} patch(es), new value; key login ok",
        first
            .code()
            .map_or("killed".to_string(), |c| format!("exit {c}")),
        if landed { "new value" } else { "old value" }
    ))
}

/// `harvcred lab fault` arms what a real client then meets: the
/// apiserver's 500 and 409 in its words, for the next N requests only.
fn lab_fault_command_answers_as_the_api_server(lab: &Lab) {
    let fault = |args: &[&str]| {
        let out = std::process::Command::new(common::BIN)
            .args(["lab", "fault", "--dir"])
            .arg(&lab.dir)
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", common::text(&out));
    };
    let get = ["get", "settings.harvesterhci.io", "http-proxy"];
    fault(&[
        "--method",
        "GET",
        "--path",
        "settings/http-proxy",
        "--answer",
        "500",
        "--times",
        "2",
    ]);
    for _ in 0..2 {
        let t = common::text(&lab.kubectl(&get));
        assert!(t.contains("Internal error occurred"), "{t}");
    }
    lab.kubectl_ok(&get);
    fault(&[
        "--method",
        "PATCH",
        "--path",
        "settings/http-proxy",
        "--answer",
        "409",
    ]);
    let patch = lab.kubectl(&[
        "patch",
        "settings.harvesterhci.io",
        "http-proxy",
        "--type=merge",
        "-p",
        r#"{"value":""}"#,
    ]);
    assert!(
        common::text(&patch).contains(
            "Operation cannot be fulfilled on settings.harvesterhci.io \"http-proxy\": the object has been modified; please apply your changes to the latest version and try again"
        ),
        "{}",
        common::text(&patch)
    );
    fault(&[
        "--method",
        "GET",
        "--path",
        "settings/http-proxy",
        "--answer",
        "500",
    ]);
    fault(&["--clear"]);
    lab.kubectl_ok(&get);
    let faulted: Vec<String> = lab
        .api_requests()
        .iter()
        .filter_map(|r| r["fault"].as_str().map(str::to_string))
        .collect();
    assert_eq!(faulted, ["api-500", "api-500", "api-409"]);
}

#[test]
fn api_faults_at_every_step_leave_old_or_new_and_a_rerun_finishes() {
    let started = Instant::now();
    let lab = Lab::up(&["--nodes", "1", "--servers", "1"]);
    let home = Home::new("hcfaultapi");
    lab_fault_command_answers_as_the_api_server(&lab);
    let cells = cells();
    let mut values: Vec<[String; 2]> = Vec::new();
    for flow in FLOWS {
        if let Some(prepare) = flow.prepare {
            prepare(&lab);
        }
        values.push(if flow.rotation {
            Default::default()
        } else {
            [learn(&lab, &home, flow, 0), learn(&lab, &home, flow, 1)]
        });
    }
    let mut failed = Vec::new();
    let mut run = 0;
    for (i, step, fault) in &cells {
        let flow = &FLOWS[*i];
        let t = Instant::now();
        let outcome = cell(&lab, &home, flow, &values[*i], step, fault);
        faults::clear(&lab.dir).unwrap();
        run += 1;
        eprintln!(
            "{} / {step} / {fault}: {} ({:.1} s)",
            flow.name,
            match &outcome {
                Ok(_) => "passed".to_string(),
                Err(e) => format!("FAILED: {e}"),
            },
            t.elapsed().as_secs_f64()
        );
        matrix::record(
            REPORT,
            &Cell {
                flow: flow.name.into(),
                step: step.to_string(),
                fault: fault.to_string(),
                passed: outcome.is_ok(),
                detail: outcome.clone().unwrap_or_else(|e| e),
            },
        );
        if let Err(e) = outcome {
            failed.push(format!("{} / {step} / {fault}: {e}", flow.name));
        }
    }
    eprintln!("{run} cells in {:.0} s", started.elapsed().as_secs_f64());
    assert!(failed.is_empty(), "failed cells:\n{}", failed.join("\n"));
    assert_eq!(run, cells.len(), "every cell of the table ran");
}

/// The CI subset covers every flow, step and fault; the full table every
/// applicable cell.
#[test]
fn the_ci_cells_cover_every_flow_step_and_fault() {
    for (flow, step, fault) in CI_CELLS {
        assert!(FLOWS.iter().any(|f| f.name == flow), "{flow}");
        assert!(applicable(step, fault), "{flow} {step} {fault}");
    }
    for flow in FLOWS {
        assert!(CI_CELLS.iter().any(|c| c.0 == flow.name), "{}", flow.name);
    }
    for step in STEPS {
        assert!(CI_CELLS.iter().any(|c| c.1 == step), "{step}");
    }
    for fault in FAULTS {
        assert!(CI_CELLS.iter().any(|c| c.2 == fault), "{fault}");
    }
}
