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
//!
//! `backup` and `rename` of a node file happen inside the write script on
//! the node: there the script itself waits ([`claim`], then
//! [`announce_and_wait`] once it does; `src/node/write.rs`).

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
    wait_for_resume(&dir).await;
}

/// For a point that pauses elsewhere (on a node, inside the write script):
/// claims it, without announcing. The caller arranges the pause, then calls
/// [`announce_and_wait`] once it is really paused there.
#[cfg(debug_assertions)]
pub fn claim(step: &str, target: &str) -> Option<std::path::PathBuf> {
    use std::sync::atomic::Ordering;
    let (wanted, dir) = requested()?;
    if !matches(&wanted, step, target) || FIRED.swap(true, Ordering::SeqCst) {
        return None;
    }
    Some(std::path::PathBuf::from(dir))
}

/// After [`claim`]: say `paused` and wait for `resume`.
#[cfg(debug_assertions)]
pub async fn announce_and_wait(dir: &std::path::Path, step: &str, target: &str) {
    announce(dir, step, target);
    wait_for_resume(dir).await;
}

#[cfg(debug_assertions)]
async fn wait_for_resume(dir: &std::path::Path) {
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

/// How long a paused harvcred (or node-side write) waits for `resume`.
#[cfg(debug_assertions)]
pub const MAX_PAUSE: std::time::Duration = std::time::Duration::from_secs(600);
#[cfg(debug_assertions)]
const POLL: std::time::Duration = std::time::Duration::from_millis(50);

/// When this is the requested point, reached for the first time: announce
/// the pause in `paused` and give the folder to wait in.
#[cfg(debug_assertions)]
fn pause_here(step: &str, target: &str) -> Option<std::path::PathBuf> {
    let dir = claim(step, target)?;
    announce(&dir, step, target);
    Some(dir)
}

/// One fault per run: the first point that matches takes it.
#[cfg(debug_assertions)]
static FIRED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

#[cfg(debug_assertions)]
fn announce(dir: &std::path::Path, step: &str, target: &str) {
    // Written whole by rename, so the test never reads half a line.
    let tmp = dir.join(".paused");
    if std::fs::write(&tmp, format!("{step} {target}\n")).is_ok() {
        let _ = std::fs::rename(&tmp, dir.join("paused"));
    }
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
