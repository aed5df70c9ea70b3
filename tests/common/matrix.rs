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
