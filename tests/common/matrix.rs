//! The fault matrix's results: every cell (flow x step x fault) a test ran
//! is one JSON line in `target/tmp/reliability/matrix-<test file>.jsonl`,
//! from which `scripts/dev reliability` builds README's table. A cell that
//! failed also fails its test; the file only reports.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Mutex;

/// The folder every reliability report of the suite goes to.
pub fn reports_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("reliability");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// One cell's outcome.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Cell {
    pub flow: String,
    pub step: String,
    pub fault: String,
    pub passed: bool,
    /// What failed (the invariant and what was seen), or what was checked.
    pub detail: String,
}

/// Append `cell` to this test file's report (`file`: e.g. `fault_matrix_nodes`).
pub fn record(file: &str, cell: &Cell) {
    append_report(
        &format!("matrix-{file}"),
        &serde_json::to_string(cell).unwrap(),
    );
}

/// Append one JSON `line` to `<report>.jsonl` in [`reports_dir`]. The first
/// line a process writes to a report starts the file anew, so a report holds
/// the latest run only.
pub fn append_report(report: &str, line: &str) {
    static STARTED: Mutex<Vec<String>> = Mutex::new(Vec::new());
    let path = reports_dir().join(format!("{report}.jsonl"));
    let mut started = STARTED.lock().unwrap();
    let fresh = !started.iter().any(|f| f == report);
    if fresh {
        started.push(report.to_string());
    }
    let mut out = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .append(!fresh)
        .truncate(fresh)
        .open(&path)
        .unwrap();
    writeln!(out, "{line}").unwrap();
}

/// The cells `file`'s table has (flow, step, fault), whether this run runs
/// them or not, in `table-<file>.jsonl`: `scripts/dev reliability` marks
/// the ones not run `·` and combinations outside every table `–`.
pub fn declare(file: &str, cells: &[(&str, &str, &str)]) {
    let path = reports_dir().join(format!("table-{file}.jsonl"));
    let mut text = String::new();
    for (flow, step, fault) in cells {
        let line = serde_json::json!({"flow": flow, "step": step, "fault": fault});
        text.push_str(&format!("{line}\n"));
    }
    std::fs::write(&path, text).unwrap();
}

/// One cell of a flow's table: the step it stops at and the fault there.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Spec {
    pub step: &'static str,
    pub fault: super::faults::Fault,
}

/// A restart cell's line in the report: where harvcred was paused, how its
/// first run ended (None: killed), what the node was before the second run,
/// and the second run's `N changed, M already so`.
pub fn rerun_summary(
    point: &str,
    code: Option<i32>,
    before_second: &str,
    rerun_out: &str,
) -> String {
    format!(
        "paused at {point}; first run exit {}; {before_second} before the second run; second run: {}",
        code.map_or("killed".to_string(), |c| c.to_string()),
        rerun_out
            .lines()
            .find(|l| l.contains("changed,"))
            .unwrap_or("")
            .trim()
    )
}

/// `HARVCRED_MATRIX=full`: every cell of a file's table, not its CI subset.
pub fn full_run() -> bool {
    std::env::var("HARVCRED_MATRIX").is_ok_and(|v| v == "full")
}

/// Every step with every fault.
pub fn steps_by_faults(steps: &[&'static str]) -> Vec<Spec> {
    steps
        .iter()
        .flat_map(|&step| super::faults::Fault::ALL.map(|fault| Spec { step, fault }))
        .collect()
}

/// One lab's cells one after the other, `between` before each but the
/// first; each recorded in `report`, and the failures returned.
pub fn run_cells(
    report: &str,
    flow: &str,
    node: &str,
    cells: &[Spec],
    between: impl Fn(),
    cell: impl Fn(&Spec) -> Result<String, String>,
) -> Vec<String> {
    let mut failed = Vec::new();
    for (i, spec) in cells.iter().enumerate() {
        if i > 0 {
            between();
        }
        let t = std::time::Instant::now();
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| cell(spec)))
            .unwrap_or_else(|p| Err(panic_text(p)));
        let r = r.map(|d| format!("{d} ({:.0} s)", t.elapsed().as_secs_f64()));
        record(
            report,
            &Cell {
                flow: flow.into(),
                step: spec.step.into(),
                fault: spec.fault.name().into(),
                passed: r.is_ok(),
                detail: format!("{node}: {}", r.as_ref().unwrap_or_else(|e| e)),
            },
        );
        eprintln!("{flow} x {} x {}: {r:?}", spec.step, spec.fault.name());
        if let Err(e) = r {
            failed.push(format!(
                "{flow} x {} x {}: {e}",
                spec.step,
                spec.fault.name()
            ));
        }
    }
    failed
}

pub fn panic_text(p: Box<dyn std::any::Any + Send>) -> String {
    p.downcast_ref::<String>()
        .cloned()
        .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "panicked".into())
}

/// `node`'s audit lines after line `mark` of the log.
pub fn audit_lines(home: &super::Home, mark: usize, node: &str) -> Vec<serde_json::Value> {
    home.audit()
        .lines()
        .skip(mark)
        .filter_map(|l| serde_json::from_str(l).ok())
        .filter(|l: &serde_json::Value| l["node"] == node)
        .collect()
}

/// A line with this result (at this step, when given).
pub fn has(lines: &[serde_json::Value], step: Option<&str>, result: &str) -> bool {
    lines
        .iter()
        .any(|l| l["result"] == result && step.is_none_or(|s| l["step"] == s))
}
