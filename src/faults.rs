//! Fault points: the places where the fault-matrix tests stop harvcred in
//! the middle of a change, to cut a node's link, kill its sshd, reboot it,
//! fill `/oem` or kill harvcred itself there, and then see what is left.
//!
//! Only debug builds (the tests' binary) have them: in a release build
//! [`point`] is an empty function, so no environment variable can make an
//! operator's harvcred wait.
//!
//! `HARVCRED_FAULT_AT=STEP` (or `STEP@TARGET`) names the point; the first
//! time harvcred reaches it, it writes `STEP TARGET` into
//! `$HARVCRED_FAULT_DIR/paused` and waits until the test creates
//! `$HARVCRED_FAULT_DIR/resume` (at most ten minutes), then goes on. Later
//! passes of the same point go straight through, so one fault is injected
//! once per run.

/// The steps a change goes through on a node or the API, as the matrix
/// names them.
pub const STEPS: [&str; 9] = [
    "read", "backup", "write", "rename", "restart", "verify", "dry-run", "patch", "follow",
];

/// Stop here when the tests asked for this step (and target); see the
/// module's header. `target` is a node name, or `cluster` for the API.
#[cfg(debug_assertions)]
pub async fn point(step: &str, target: &str) {
    let Some(dir) = pause_here(step, target) else {
        return;
    };
    let resume = dir.join("resume");
    let deadline = tokio::time::Instant::now() + MAX_PAUSE;
    while !resume.exists() && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(POLL).await;
    }
}

/// Release builds: no fault points.
#[cfg(not(debug_assertions))]
pub async fn point(_step: &str, _target: &str) {}

/// The same for code off the async runtime (blocks the calling thread).
#[cfg(debug_assertions)]
pub fn point_blocking(step: &str, target: &str) {
    let Some(dir) = pause_here(step, target) else {
        return;
    };
    let resume = dir.join("resume");
    let deadline = std::time::Instant::now() + MAX_PAUSE;
    while !resume.exists() && std::time::Instant::now() < deadline {
        std::thread::sleep(POLL);
    }
}

/// Release builds: no fault points.
#[cfg(not(debug_assertions))]
pub fn point_blocking(_step: &str, _target: &str) {}

#[cfg(debug_assertions)]
const MAX_PAUSE: std::time::Duration = std::time::Duration::from_secs(600);
#[cfg(debug_assertions)]
const POLL: std::time::Duration = std::time::Duration::from_millis(50);

/// When this is the requested point, reached for the first time: announce
/// the pause in `paused` and give the folder to wait in.
#[cfg(debug_assertions)]
fn pause_here(step: &str, target: &str) -> Option<std::path::PathBuf> {
    use std::sync::atomic::{AtomicBool, Ordering};
    static FIRED: AtomicBool = AtomicBool::new(false);

    let (wanted, dir) = requested()?;
    if !matches(&wanted, step, target) || FIRED.swap(true, Ordering::SeqCst) {
        return None;
    }
    let dir = std::path::PathBuf::from(dir);
    // Written whole by rename, so the test never reads half a line.
    let tmp = dir.join(".paused");
    if std::fs::write(&tmp, format!("{step} {target}\n")).is_ok() {
        let _ = std::fs::rename(&tmp, dir.join("paused"));
    }
    Some(dir)
}

#[cfg(debug_assertions)]
fn requested() -> Option<(String, String)> {
    let wanted = std::env::var("HARVCRED_FAULT_AT").ok()?;
    let dir = std::env::var("HARVCRED_FAULT_DIR").ok()?;
    Some((wanted, dir))
}

/// `STEP` matches the step on any target, `STEP@TARGET` only there.
#[cfg(debug_assertions)]
fn matches(wanted: &str, step: &str, target: &str) -> bool {
    match wanted.split_once('@') {
        Some((s, t)) => s == step && t == target,
        None => wanted == step,
    }
}

#[cfg(all(test, debug_assertions))]
mod tests {
    use super::*;

    #[test]
    fn a_step_matches_on_any_target_and_step_at_target_only_there() {
        assert!(matches("write", "write", "node2"));
        assert!(matches("write@node2", "write", "node2"));
        assert!(!matches("write@node1", "write", "node2"));
        assert!(!matches("rename", "write", "node2"));
    }
}
