//! Changing one file on a node, safely: the primitive every change flow
//! uses for node files (`/oem/*.yaml`, rancherd's config, authorized_keys).
//!
//! - The change is made against what was read: the caller passes the
//!   SHA-256 of the content it read (or "missing"), and the node refuses when
//!   the file is different now (the file-side resourceVersion).
//! - Content goes over the remote command's stdin, behind a header line with
//!   the expected old hash and the content's length, never in an argument.
//! - On the node: the content lands in a temporary file in the same folder,
//!   its length is checked (a transfer cut short is never renamed into
//!   place), owner and mode are copied from the file it replaces, it is
//!   fsynced, renamed over the original, and the folder is fsynced. So a cut
//!   at any point leaves the old file or the new one, never a mix.
//! - Before the first change the original is copied into a backup folder
//!   (`/oem/install/NAME.<UTC time>` for `/oem` files, as Harvester's docs
//!   do by hand).
//! - A file that already holds the new content is left alone ("already
//!   applied"), so a retry never changes a node twice; [`probe`] tells a
//!   caller after a failure which version a node has.
//!
//! The hashes of the content are compared on the admin host; they never
//! travel in a command line either.

use std::fmt;

use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::pool::{ExecError, Pool};
use crate::model::Target;

/// Exit status of the write script when the file is not the one read.
const EXIT_CHANGED: i32 = 10;
/// Exit status when fewer bytes arrived than announced.
const EXIT_SHORT: i32 = 11;

/// SHA-256 of a file's content (lower-case hex), or missing.
#[derive(Clone, PartialEq, Eq)]
pub enum Version {
    Missing,
    Sha256(String),
}

impl Version {
    pub fn of(content: &[u8]) -> Version {
        Version::Sha256(hex::encode(Sha256::digest(content)))
    }

    fn header_word(&self) -> &str {
        match self {
            Version::Missing => "missing",
            Version::Sha256(h) => h,
        }
    }

    fn parse(word: &str) -> Option<Version> {
        if word == "missing" {
            Some(Version::Missing)
        } else if word.len() == 64 && word.bytes().all(|b| b.is_ascii_hexdigit()) {
            Some(Version::Sha256(word.to_ascii_lowercase()))
        } else {
            None
        }
    }
}

/// Only a prefix: the full hash of a file that holds a secret is not for logs.
impl fmt::Debug for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Version::Missing => f.write_str("missing"),
            Version::Sha256(h) => write!(f, "sha256:{}…", &h[..h.len().min(12)]),
        }
    }
}

/// A file as read from a node, with the version a write must start from.
pub struct RemoteFile {
    pub path: String,
    /// None when the file does not exist.
    pub content: Option<Zeroizing<Vec<u8>>>,
    pub version: Version,
}

impl fmt::Debug for RemoteFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteFile")
            .field("path", &self.path)
            .field("bytes", &self.content.as_ref().map(|c| c.len()))
            .field("version", &self.version)
            .finish()
    }
}

/// Where the original goes before it is replaced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backup {
    None,
    /// Into this folder on the node, as `NAME.<UTC time>`.
    Into(String),
}

impl Backup {
    /// Harvester's convention for `/oem` files: `/oem/install/`.
    pub fn for_path(path: &str) -> Backup {
        if path.starts_with("/oem/") {
            Backup::Into("/oem/install".into())
        } else {
            Backup::None
        }
    }
}

/// One file to change on one node.
pub struct FileChange {
    pub path: String,
    /// The version the change was computed from.
    pub from: Version,
    pub content: Zeroizing<Vec<u8>>,
    pub backup: Backup,
    /// Mode of a file that does not exist yet (an existing file keeps its own).
    pub new_mode: u32,
}

impl fmt::Debug for FileChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FileChange")
            .field("path", &self.path)
            .field("from", &self.from)
            .field("bytes", &self.content.len())
            .field("backup", &self.backup)
            .finish()
    }
}

/// What a write did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Written {
    /// Replaced (or created); the backup's path when one was made.
    Changed { backup: Option<String> },
    /// The file already held the new content: nothing was done.
    AlreadyApplied,
}

/// Which version a node holds, after a write that may or may not have happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    Old,
    New,
    /// Neither: someone else changed it.
    Other(Version),
}

#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("{0}: not an absolute path harvcred writes (no '..', no control characters)")]
    BadPath(String),
    #[error("{path} changed on the node since it was read ({now:?}); read it again")]
    Changed { path: String, now: Version },
    #[error("{0}: the content did not arrive whole; the file was left as it was")]
    Short(String),
    #[error("{path}: read back differs from what was written ({found:?})")]
    ReadBack { path: String, found: Version },
    #[error("{path}: {detail}")]
    Remote { path: String, detail: String },
    #[error(transparent)]
    Exec(#[from] ExecError),
}

/// Paths are arguments of the remote command: only plain absolute ones.
fn check_path(path: &str) -> Result<(), WriteError> {
    let ok = path.starts_with('/')
        && path.len() > 1
        && !path.ends_with('/')
        && !path.chars().any(|c| c.is_control())
        && !path.split('/').any(|part| part == ".." || part == ".");
    if ok {
        Ok(())
    } else {
        Err(WriteError::BadPath(path.to_string()))
    }
}

/// Read, as root: `F <base64>` or `M` (missing).
const READ_SCRIPT: &str = r#"set -eu
if [ -e "$1" ]; then printf 'F '; base64 -w0 < "$1"; echo; else echo M; fi"#;

/// Hash only, as root: `S <sha256>` or `M`.
const HASH_SCRIPT: &str = r#"set -eu
if [ -e "$1" ]; then printf 'S '; sha256sum < "$1" | cut -d' ' -f1; else echo M; fi"#;

/// The write, as root. `$1` path, `$2` backup folder or empty, `$3` mode for a
/// new file. Stdin: `<old version> <length>[ <pause>]\n` then exactly
/// `length` bytes (`<pause>`: debug builds' fault point, see [`PAUSE_AT`]).
const WRITE_SCRIPT: &str = r#"set -eu
path=$1 backup=$2 mode=$3
dir=$(dirname "$path") name=$(basename "$path")
[ -d "$dir" ] || { echo "folder $dir does not exist" >&2; exit 2; }
# Temporaries of an attempt cut off earlier: not a .yaml, so yip never read them.
find "$dir" -maxdepth 1 -name '.harvcred-write.*' -mmin +10 -exec rm -f {} + 2>/dev/null || true
IFS=' ' read -r expect length pause
tmp=$(mktemp "$dir/.harvcred-write.XXXXXX") btmp=
trap 'rm -f "$tmp" ${btmp:+"$btmp"}' EXIT
head -c "$length" > "$tmp"
got=$(wc -c < "$tmp")
[ "$got" -eq "$length" ] || { echo "short $got/$length" >&2; exit 11; }
if [ -e "$path" ]; then now=$(sha256sum < "$path" | cut -d' ' -f1); else now=missing; fi
new=$(sha256sum < "$tmp" | cut -d' ' -f1)
if [ "$now" = "$new" ]; then echo SAME; exit 0; fi
if [ "$now" != "$expect" ]; then echo "CHANGED $now"; exit 10; fi
# Again right before acting: the file may have changed while this script
# waited (a slow link; an attempt the admin host gave up on and retried).
still_as_read() {
  if [ -e "$path" ]; then n=$(sha256sum < "$path" | cut -d' ' -f1); else n=missing; fi
  [ "$n" = "$now" ] || { echo "CHANGED $n"; exit 10; }
}
if [ -e "$path" ]; then
  chown --reference="$path" "$tmp"
  chmod --reference="$path" "$tmp"
  if [ -n "$backup" ]; then
    pause_at backup
    still_as_read
    mkdir -p "$backup"
    # An attempt cut off after its backup already kept these bytes: one copy.
    copy=
    for b in "$backup/$name".*; do
      if [ -f "$b" ] && cmp -s "$b" "$path"; then copy=$b; fi
    done
    if [ -z "$copy" ]; then
      # Whole or not at all: a copy cut short (a full /oem) is no backup,
      # and would keep the retry from seeing that none was taken.
      copy="$backup/$name.$(date -u +%Y-%m-%dT%H:%M:%SZ)"
      btmp=$(mktemp "$backup/.harvcred-backup.XXXXXX")
      cp -p "$path" "$btmp"
      sync "$btmp"
      mv -f "$btmp" "$copy"
      btmp=
    fi
    echo "BACKUP $copy"
  fi
else
  chown 0:0 "$tmp"
  chmod "$mode" "$tmp"
fi
sync "$tmp"
pause_at rename
still_as_read
mv -f "$tmp" "$path"
trap - EXIT
sync "$dir"
printf 'WROTE '; sha256sum < "$path" | cut -d' ' -f1"#;

/// Debug builds: the write script stops at `pause_at STEP` when its header
/// asked for STEP (`STEP:ID`): it marks `/run/harvcred-fault.ID.paused` and
/// waits for `.resume` beside it (harvcred creates it when the test resumes);
/// not resumed within the pause limit, it gives up and leaves the file alone.
#[cfg(debug_assertions)]
pub(crate) const PAUSE_AT: &str = r#"pause_at() {
  case "${pause:-}" in "$1":*) ;; *) return 0 ;; esac
  mark=/run/harvcred-fault.${pause#*:}
  : > "$mark.paused"
  waited=0
  while [ ! -e "$mark.resume" ]; do
    waited=$((waited + 1))
    [ "$waited" -le 6000 ] || { rm -f "$mark.paused"; echo "fault point $1: not resumed" >&2; exit 12; }
    sleep 0.1
  done
  rm -f "$mark.paused" "$mark.resume"
}
"#;

/// Release builds: no fault points.
#[cfg(not(debug_assertions))]
pub(crate) const PAUSE_AT: &str = "pause_at() { :; }\n";

fn write_script() -> String {
    format!("{PAUSE_AT}{WRITE_SCRIPT}")
}

/// Debug builds: the node-side fault point (`backup` or `rename`) the tests
/// asked for on this write, if any: `(step, folder of the test, id)`.
#[cfg(debug_assertions)]
fn node_pause(
    t: &Target,
    change: &FileChange,
) -> Option<(&'static str, std::path::PathBuf, String)> {
    // A backup is only taken of an existing file: claim the point only there.
    let backs_up = change.backup != Backup::None && change.from != Version::Missing;
    let steps: &[&'static str] = if backs_up {
        &["backup", "rename"]
    } else {
        &["rename"]
    };
    let (step, dir) = steps
        .iter()
        .find_map(|s| crate::faults::claim(s, &t.name).map(|d| (*s, d)))?;
    let id = hex::encode(rand::random::<[u8; 8]>());
    Some((step, dir, id))
}

/// Debug builds: once the node's script waits at the point, announce the
/// pause, wait for the test's resume and pass it on to the node. Raced
/// against the write itself: it ends only when the resume could not reach
/// the node (link cut, sshd gone), which ends the write too.
#[cfg(debug_assertions)]
async fn relay_node_pause(
    pool: &Pool,
    t: &Target,
    step: &str,
    dir: &std::path::Path,
    id: &str,
) -> ExecError {
    if let Err(e) = relay_node_pause_once(pool, t, step, dir, id).await {
        return e;
    }
    std::future::pending().await
}

/// Debug builds: once the node's script waits at `pause_at STEP` (its
/// `pause` word `STEP:ID`), announce the pause, wait for the test's resume
/// and pass it on to the node; an error when the resume could not reach it.
#[cfg(debug_assertions)]
pub(crate) async fn relay_node_pause_once(
    pool: &Pool,
    t: &Target,
    step: &str,
    dir: &std::path::Path,
    id: &str,
) -> Result<(), ExecError> {
    let mark = format!("/run/harvcred-fault.{id}");
    let paused = format!("{mark}.paused");
    loop {
        match pool.exec(t, "test", &["-e", &paused]).await {
            Ok(out) if out.status.success() => break,
            _ => tokio::time::sleep(std::time::Duration::from_millis(100)).await,
        }
    }
    crate::faults::announce_and_wait(dir, step, &t.name).await;
    pool.exec(t, "sudo", &["-n", "touch", &format!("{mark}.resume")])
        .await
        .map(drop)
}

/// `sudo -n sh -c SCRIPT harvcred-write ARGS...`: never waits for a password.
fn sudo_sh<'a>(script: &'a str, args: &[&'a str]) -> Vec<&'a str> {
    let mut v = vec!["-n", "sh", "-c", script, "harvcred-write"];
    v.extend_from_slice(args);
    v
}

fn remote_error(path: &str, out: &std::process::Output) -> WriteError {
    let text = String::from_utf8_lossy(&out.stderr);
    let detail = text.lines().last().unwrap_or("").trim();
    WriteError::Remote {
        path: path.to_string(),
        detail: if detail.is_empty() {
            format!("failed ({})", out.status)
        } else {
            crate::logs::sanitize::sanitize_str(detail).into_owned()
        },
    }
}

/// A command that timed out leaves a connection that may hang (a cut link):
/// the next attempt must open a new one rather than wait on it again.
async fn forgetting_hung(
    pool: &Pool,
    t: &Target,
    run: impl std::future::Future<Output = Result<std::process::Output, ExecError>>,
) -> Result<std::process::Output, ExecError> {
    let r = run.await;
    if matches!(r, Err(ExecError::Timeout(_))) {
        pool.reset(&t.name).await;
    }
    r
}

/// Read a file (as root) with the version a later [`write`] starts from.
pub async fn read(pool: &Pool, t: &Target, path: &str) -> Result<RemoteFile, WriteError> {
    use base64::Engine;
    check_path(path)?;
    let out = forgetting_hung(
        pool,
        t,
        pool.exec(t, "sudo", &sudo_sh(READ_SCRIPT, &[path])),
    )
    .await?;
    if !out.status.success() {
        return Err(remote_error(path, &out));
    }
    let text = Zeroizing::new(out.stdout);
    let line = text.split(|b| *b == b'\n').next().unwrap_or_default();
    if line == b"M" {
        return Ok(RemoteFile {
            path: path.into(),
            content: None,
            version: Version::Missing,
        });
    }
    let b64 = line.strip_prefix(b"F ").ok_or_else(|| WriteError::Remote {
        path: path.into(),
        detail: "unexpected answer from the node".into(),
    })?;
    let content = Zeroizing::new(
        base64::engine::general_purpose::STANDARD
            .decode(b64)
            .map_err(|_| WriteError::Remote {
                path: path.into(),
                detail: "unreadable answer from the node".into(),
            })?,
    );
    Ok(RemoteFile {
        path: path.into(),
        version: Version::of(&content),
        content: Some(content),
    })
}

/// The version a node holds now.
pub async fn version(pool: &Pool, t: &Target, path: &str) -> Result<Version, WriteError> {
    check_path(path)?;
    let out = forgetting_hung(
        pool,
        t,
        pool.exec(t, "sudo", &sudo_sh(HASH_SCRIPT, &[path])),
    )
    .await?;
    if !out.status.success() {
        return Err(remote_error(path, &out));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().next().unwrap_or("");
    if line == "M" {
        return Ok(Version::Missing);
    }
    line.strip_prefix("S ")
        .and_then(Version::parse)
        .ok_or_else(|| WriteError::Remote {
            path: path.into(),
            detail: "unexpected answer from the node".into(),
        })
}

/// After a failure: does the node hold the old version, the new one, or neither?
pub async fn probe(pool: &Pool, t: &Target, change: &FileChange) -> Result<Found, WriteError> {
    let now = version(pool, t, &change.path).await?;
    Ok(if now == Version::of(&change.content) {
        Found::New
    } else if now == change.from {
        Found::Old
    } else {
        Found::Other(now)
    })
}

/// Replace (or create) one file on one node; see the module's comment.
pub async fn write(pool: &Pool, t: &Target, change: &FileChange) -> Result<Written, WriteError> {
    check_path(&change.path)?;
    let backup = match &change.backup {
        Backup::None => String::new(),
        Backup::Into(dir) => {
            check_path(dir)?;
            dir.clone()
        }
    };
    let mode = format!("{:o}", change.new_mode & 0o7777);
    crate::faults::point("write", &t.name).await;
    #[cfg(debug_assertions)]
    let pause = node_pause(t, change);
    #[cfg(debug_assertions)]
    let pause_word = pause
        .as_ref()
        .map(|(step, _, id)| format!(" {step}:{id}"))
        .unwrap_or_default();
    #[cfg(not(debug_assertions))]
    let pause_word = "";
    let header = format!(
        "{} {}{pause_word}\n",
        change.from.header_word(),
        change.content.len()
    );
    let mut input = Zeroizing::new(Vec::with_capacity(header.len() + change.content.len()));
    input.extend_from_slice(header.as_bytes());
    input.extend_from_slice(&change.content);
    let script = write_script();
    let args = sudo_sh(&script, &[&change.path, &backup, &mode]);
    #[cfg(debug_assertions)]
    let out = match &pause {
        None => forgetting_hung(pool, t, pool.exec_with_stdin(t, "sudo", &args, &input)).await?,
        Some((step, dir, id)) => {
            let limit = pool.op_timeout() + crate::faults::MAX_PAUSE;
            let run = forgetting_hung(
                pool,
                t,
                pool.exec_with_stdin_within(t, "sudo", &args, &input, limit),
            );
            tokio::select! {
                r = run => r?,
                e = relay_node_pause(pool, t, step, dir, id) => {
                    // The connection is not to be trusted with a retry.
                    pool.reset(&t.name).await;
                    return Err(e.into());
                }
            }
        }
    };
    #[cfg(not(debug_assertions))]
    let out = forgetting_hung(pool, t, pool.exec_with_stdin(t, "sudo", &args, &input)).await?;
    let text = String::from_utf8_lossy(&out.stdout);
    match out.status.code() {
        Some(0) => {}
        Some(EXIT_CHANGED) => {
            let now = text
                .lines()
                .find_map(|l| l.strip_prefix("CHANGED "))
                .and_then(Version::parse)
                .unwrap_or(Version::Missing);
            return Err(WriteError::Changed {
                path: change.path.clone(),
                now,
            });
        }
        Some(EXIT_SHORT) => return Err(WriteError::Short(change.path.clone())),
        _ => return Err(remote_error(&change.path, &out)),
    }
    if text.lines().any(|l| l == "SAME") {
        return Ok(Written::AlreadyApplied);
    }
    let found = text
        .lines()
        .find_map(|l| l.strip_prefix("WROTE "))
        .and_then(Version::parse)
        .unwrap_or(Version::Missing);
    if found != Version::of(&change.content) {
        return Err(WriteError::ReadBack {
            path: change.path.clone(),
            found,
        });
    }
    let backup = text
        .lines()
        .find_map(|l| l.strip_prefix("BACKUP "))
        .map(str::to_string);
    Ok(Written::Changed { backup })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    /// The write script run by a real `sh` against a temporary folder, the way
    /// the node runs it (minus sudo and ssh).
    fn run_script(args: &[&str], stdin: &[u8]) -> std::process::Output {
        use std::io::Write;
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(write_script())
            .arg("harvcred-write")
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut sin = child.stdin.take().unwrap();
        let _ = sin.write_all(stdin);
        drop(sin);
        child.wait_with_output().unwrap()
    }

    fn input(from: &Version, content: &[u8]) -> Vec<u8> {
        let mut v = format!("{} {}\n", from.header_word(), content.len()).into_bytes();
        v.extend_from_slice(content);
        v
    }

    #[test]
    fn replaces_keeps_mode_backs_up_and_is_idempotent() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let oem = dir.path().join("oem");
        std::fs::create_dir(&oem).unwrap();
        let file = oem.join("90_custom.yaml");
        let old = b"# keep me\nname: old\n".to_vec();
        std::fs::write(&file, &old).unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o640)).unwrap();
        let backup = oem.join("install");
        let (p, b) = (file.to_str().unwrap(), backup.to_str().unwrap());
        let new = b"# keep me\nname: new\n";

        let out = run_script(&[p, b, "600"], &input(&Version::of(&old), new));
        assert!(out.status.success(), "{out:?}");
        assert_eq!(std::fs::read(&file).unwrap(), new);
        let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o640, "the replaced file's mode is kept");
        let copies: Vec<_> = std::fs::read_dir(&backup).unwrap().collect();
        assert_eq!(copies.len(), 1);
        let copy = copies[0].as_ref().unwrap().path();
        assert_eq!(
            std::fs::read(&copy).unwrap(),
            old,
            "backup holds the original"
        );
        assert!(
            copy.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("90_custom.yaml.20")
        );

        // The same change again (a retry): nothing done, no second backup.
        let out = run_script(&[p, b, "600"], &input(&Version::of(&old), new));
        assert!(out.status.success());
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "SAME");
        assert_eq!(std::fs::read_dir(&backup).unwrap().count(), 1);
    }

    #[test]
    fn an_attempt_cut_off_after_its_backup_does_not_make_a_second_copy() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("90_custom.yaml");
        let old = b"name: old\n".to_vec();
        std::fs::write(&file, &old).unwrap();
        let backup = dir.path().join("install");
        std::fs::create_dir(&backup).unwrap();
        // What the cut-off attempt left: the backup, the file unchanged.
        std::fs::write(backup.join("90_custom.yaml.2026-01-01T00:00:00Z"), &old).unwrap();
        let (p, b) = (file.to_str().unwrap(), backup.to_str().unwrap());
        let out = run_script(&[p, b, "600"], &input(&Version::of(&old), b"name: new\n"));
        assert!(out.status.success(), "{out:?}");
        assert_eq!(std::fs::read(&file).unwrap(), b"name: new\n");
        assert_eq!(std::fs::read_dir(&backup).unwrap().count(), 1);
        assert!(String::from_utf8_lossy(&out.stdout).contains("BACKUP "));
    }

    #[test]
    fn refuses_a_file_changed_since_read_and_a_short_transfer() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("config.yaml");
        std::fs::write(&file, b"token: a\n").unwrap();
        let p = file.to_str().unwrap();
        let stale = Version::of(b"token: something else\n");
        let out = run_script(&[p, "", "600"], &input(&stale, b"token: b\n"));
        assert_eq!(out.status.code(), Some(EXIT_CHANGED));
        let now = String::from_utf8_lossy(&out.stdout);
        assert_eq!(
            now.trim().strip_prefix("CHANGED ").and_then(Version::parse),
            Some(Version::of(b"token: a\n"))
        );
        assert_eq!(std::fs::read(&file).unwrap(), b"token: a\n");

        // Announced 100 bytes, sent 9 (the link went down): not renamed.
        let mut cut = format!("{} 100\n", Version::of(b"token: a\n").header_word()).into_bytes();
        cut.extend_from_slice(b"token: b\n");
        let out = run_script(&[p, "", "600"], &cut);
        assert_eq!(out.status.code(), Some(EXIT_SHORT), "{out:?}");
        assert_eq!(std::fs::read(&file).unwrap(), b"token: a\n");
        let litter: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().starts_with(".harvcred"))
            .collect();
        assert!(litter.is_empty(), "temporary left behind");
    }

    #[test]
    fn creates_a_missing_file_with_the_mode_asked_for() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("99_harvcred.yaml");
        let p = file.to_str().unwrap();
        let out = run_script(&[p, "", "600"], &input(&Version::Missing, b"x: 1\n"));
        assert!(out.status.success(), "{out:?}");
        assert_eq!(std::fs::read(&file).unwrap(), b"x: 1\n");
        let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }

    #[test]
    fn only_plain_absolute_paths_reach_the_node() {
        for bad in ["oem/x", "/oem/../etc/shadow", "/oem/x\n", "/", "/oem/"] {
            assert!(check_path(bad).is_err(), "{bad:?}");
        }
        assert!(check_path("/oem/90_custom.yaml").is_ok());
    }

    #[test]
    fn debug_output_shows_no_content_and_no_full_hash() {
        let c = FileChange {
            path: "/oem/99_passwd.yaml".into(),
            from: Version::of(b"x"),
            content: Zeroizing::new(b"passwd: $6$secret".to_vec()),
            backup: Backup::for_path("/oem/99_passwd.yaml"),
            new_mode: 0o600,
        };
        let d = format!("{c:?}");
        assert!(!d.contains("secret"), "{d}");
        assert!(!d.contains(&hex::encode(Sha256::digest(b"x"))), "{d}");
        assert!(d.contains("/oem/install"), "{d}");
    }
}
