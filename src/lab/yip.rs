//! The lab's yip: what Elemental's `yip` does with a Harvester node's
//! `/oem/*.yaml` at every boot, run inside the node by a systemd unit
//! (`harvcred lab yip boot|network`, see [`super::image`]).
//!
//! As yip: one stage at a time (`rootfs`, `initramfs`, `boot`, then later
//! `network`, each with its `.before` and `.after`) across all files in file-name
//! order, so a `99_*.yaml` overrides a `90_*.yaml` of the same stage and a later
//! stage overrides an earlier one. A file that does not parse (tab indentation,
//! harvester#9519) stops the boot: the unit fails, sshd (which requires it)
//! does not start, and the failure is written to [`STATUS_FILE`] for
//! `harvcred lab status`. Step failures (a command that fails) are logged and
//! the boot goes on, as Elemental's non-strict `run-stage` does.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, anyhow, bail};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Where the outcome of the last run of each phase is kept, inside the node
/// (`/var/log` persists; the supervisor clears it before each boot).
pub const STATUS_FILE: &str = "/var/log/harvcred-lab/yip.json";
/// The folder yip reads on a Harvester node.
pub const OEM: &str = "/oem";

/// The phases the lab's units run: `boot` early (before sshd), `network` once
/// the network is up.
pub fn phase_stages(phase: &str) -> Result<&'static [&'static str]> {
    match phase {
        "boot" => Ok(&["rootfs", "initramfs", "boot"]),
        "network" => Ok(&["network"]),
        other => bail!("unknown yip phase {other:?} (boot or network)"),
    }
}

/// `stage.before`, `stage`, `stage.after`, as Elemental runs them.
fn expand(stages: &[&str]) -> Vec<String> {
    stages
        .iter()
        .flat_map(|s| [format!("{s}.before"), s.to_string(), format!("{s}.after")])
        .collect()
}

/// What one run did; written to [`STATUS_FILE`].
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Status {
    pub phase: String,
    pub ok: bool,
    /// The `/oem` file that did not parse, if any.
    #[serde(default)]
    pub broken_file: Option<String>,
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub warnings: Vec<String>,
}

impl Status {
    /// Read the status a node left, from its root as the host sees it.
    pub fn read(root: &Path) -> Option<Status> {
        let text = fs::read(in_root(root, STATUS_FILE)).ok()?;
        serde_json::from_slice(&text).ok()
    }
}

/// A line for the journal. Never panics as `eprintln!` would on a write
/// error: a failed log line must not fail the boot.
fn log(msg: &str) {
    let _ = writeln!(std::io::stderr(), "yip: {msg}");
}

fn in_root(root: &Path, node_path: &str) -> PathBuf {
    root.join(node_path.trim_start_matches('/'))
}

/// A parsed `/oem` file.
struct OemFile {
    path: String,
    config: Value,
}

/// Read `/oem/*.yaml` and `*.yml` (not sub-folders: `/oem/install/` holds
/// backups) in file-name order. Returns the files that parse and the first
/// that does not.
fn load(dir: &Path) -> (Vec<OemFile>, Option<(String, String)>) {
    let mut names: Vec<String> = fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .filter(|e| e.file_type().map(|t| t.is_file()).unwrap_or(false))
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.ends_with(".yaml") || n.ends_with(".yml"))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    let mut files = Vec::new();
    let mut broken = None;
    for name in names {
        let path = format!("{OEM}/{name}");
        match fs::read_to_string(dir.join(&name))
            .map_err(anyhow::Error::from)
            .and_then(|t| parse(&t))
        {
            Ok(config) => files.push(OemFile { path, config }),
            Err(e) => {
                // Only the parser's first line: its snippet would quote the
                // file, and /oem holds password hashes and tokens.
                let msg = format!("{e:#}");
                let first = msg
                    .lines()
                    .next()
                    .unwrap_or("")
                    .trim_start_matches("error: ");
                if broken.is_none() {
                    broken = Some((path, first.to_string()));
                }
            }
        }
    }
    (files, broken)
}

/// Parse one file: a yip config (`stages:`), or a `#cloud-config`, which yip
/// turns into one `boot` step.
pub fn parse(text: &str) -> Result<Value> {
    let value: Value = serde_saphyr::from_str(text).map_err(|e| anyhow!("{e}"))?;
    let value = match value {
        Value::Null => Value::Object(Default::default()),
        v @ Value::Object(_) => v,
        // The type only: the value could be a secret.
        Value::Array(_) => bail!("the top level is a list, not a mapping"),
        _ => bail!("the top level is a single value, not a mapping"),
    };
    if text.trim_start().starts_with("#cloud-config") {
        return Ok(cloud_config_to_yip(&value));
    }
    if let Some(stages) = value.get("stages")
        && !stages.is_null()
        && !stages.is_object()
    {
        bail!("`stages` is not a mapping of stage names to steps");
    }
    Ok(value)
}

/// yip's `schema/cloudinit.go`: users, their keys (top-level
/// `ssh_authorized_keys` go to every user listed under `users:`, and only to
/// them), hostname, write_files and runcmd, as a `boot` step.
fn cloud_config_to_yip(cc: &Value) -> Value {
    let mut users = serde_json::Map::new();
    let mut keys = serde_json::Map::new();
    let top_keys: Vec<Value> = cc["ssh_authorized_keys"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let listed: Vec<(String, Value)> = match &cc["users"] {
        Value::Array(a) => a
            .iter()
            .filter_map(|u| Some((u["name"].as_str()?.to_string(), u.clone())))
            .collect(),
        Value::Object(m) => m.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        _ => Vec::new(),
    };
    for (name, u) in listed {
        let mut own: Vec<Value> = u["ssh_authorized_keys"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        own.extend(top_keys.iter().cloned());
        keys.insert(name.clone(), Value::Array(own));
        let mut u = u.clone();
        if let Some(o) = u.as_object_mut() {
            o.remove("ssh_authorized_keys");
        }
        users.insert(name, u);
    }
    let mut step = serde_json::json!({ "users": users, "authorized_keys": keys });
    for (from, to) in [
        ("hostname", "hostname"),
        ("write_files", "files"),
        ("runcmd", "commands"),
    ] {
        if !cc[from].is_null() {
            step[to] = cc[from].clone();
        }
    }
    serde_json::json!({ "name": "Cloud init", "stages": { "boot": [step] } })
}

/// One part of a step (`files`, `users`, ...).
type StepPart = fn(&mut Applier, &Value) -> Result<()>;

/// Applies steps to a root (`/` inside a node; a folder in tests).
pub struct Applier {
    root: PathBuf,
    oem: PathBuf,
    /// Inside a booted node: commands, `if` conditions and the kernel
    /// hostname run; on a folder only files change.
    live: bool,
    pub warnings: Vec<String>,
}

impl Applier {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        let root = root.into();
        let live = root == Path::new("/");
        Applier {
            oem: in_root(&root, OEM),
            root,
            live,
            warnings: Vec::new(),
        }
    }

    /// Read the `/oem` files from another folder (a seeded node on the host).
    pub fn with_oem(mut self, oem: impl Into<PathBuf>) -> Self {
        self.oem = oem.into();
        self
    }

    fn p(&self, node_path: &str) -> PathBuf {
        in_root(&self.root, node_path)
    }

    fn warn(&mut self, msg: String) {
        log(&msg);
        self.warnings.push(msg);
    }

    /// Run `stages` across every `/oem` file; `Err` only when a file does not
    /// parse (after the files that do were applied).
    pub fn run(&mut self, phase: &str, stages: &[&str]) -> Status {
        let (files, broken) = load(&self.oem);
        for stage in expand(stages) {
            for f in &files {
                let steps = f.config["stages"][stage.as_str()]
                    .as_array()
                    .cloned()
                    .unwrap_or_default();
                for (i, step) in steps.iter().enumerate() {
                    log(&format!("{} stage {stage} step {}", f.path, i + 1));
                    self.step(&f.path, step);
                }
            }
        }
        let mut status = Status {
            phase: phase.to_string(),
            ok: broken.is_none(),
            warnings: self.warnings.clone(),
            ..Default::default()
        };
        if let Some((file, error)) = broken {
            log(&format!("{file} does not parse: {error}"));
            status.broken_file = Some(file);
            status.error = Some(error);
        }
        status
    }

    /// One step, its parts in yip's plugin order.
    fn step(&mut self, file: &str, step: &Value) {
        if let Some(cond) = step["if"].as_str()
            && self.live
        {
            let ok = Command::new("/bin/sh")
                .args(["-c", cond])
                .status()
                .map(|s| s.success())
                .unwrap_or(false);
            if !ok {
                return;
            }
        }
        let parts: [(&str, StepPart); 7] = [
            ("directories", Applier::directories),
            ("files", Applier::files),
            ("commands", Applier::commands),
            ("hostname", Applier::hostname),
            ("users", Applier::users),
            ("authorized_keys", Applier::authorized_keys),
            ("environment", Applier::environment),
        ];
        for (key, apply) in parts {
            let v = if key == "environment" {
                step.clone()
            } else {
                step[key].clone()
            };
            if key != "environment" && v.is_null() {
                continue;
            }
            if let Err(e) = apply(self, &v) {
                self.warn(format!("{file}: {key}: {e:#}"));
            }
        }
    }

    fn directories(&mut self, v: &Value) -> Result<()> {
        for d in v.as_array().into_iter().flatten() {
            let path = d["path"].as_str().context("a directory without path")?;
            let host = self.p(path);
            fs::create_dir_all(&host)?;
            let mode = mode_of(&d["permissions"]).unwrap_or(0o755);
            fs::set_permissions(&host, fs::Permissions::from_mode(mode & 0o7777))?;
            chown(&host, d["owner"].as_u64(), d["group"].as_u64())?;
        }
        Ok(())
    }

    fn files(&mut self, v: &Value) -> Result<()> {
        for f in v.as_array().into_iter().flatten() {
            let path = f["path"].as_str().context("a file without path")?;
            let content = f["content"].as_str().unwrap_or("");
            let bytes = match f["encoding"].as_str().unwrap_or("") {
                "" => content.as_bytes().to_vec(),
                "b64" | "base64" => {
                    use base64::Engine;
                    base64::engine::general_purpose::STANDARD
                        .decode(content.trim())
                        .with_context(|| format!("{path}: base64"))?
                }
                other => bail!("{path}: encoding {other:?} is not supported by the lab"),
            };
            let mode = mode_of(&f["permissions"]).unwrap_or(0o644) & 0o7777;
            let (mut uid, mut gid) = (f["owner"].as_u64(), f["group"].as_u64());
            if let Some(os) = f["ownerstring"].as_str().filter(|s| !s.is_empty()) {
                let (u, g) = os.split_once(':').unwrap_or((os, ""));
                let users = self.passwd();
                if let Some(e) = users.get(u) {
                    uid = Some(e.uid as u64);
                    gid = Some(e.gid as u64);
                }
                if let Some(g) = self.group_gid(g) {
                    gid = Some(g as u64);
                }
            }
            let host = self.p(path);
            if let Some(parent) = host.parent() {
                fs::create_dir_all(parent)?;
            }
            write_replace(&host, &bytes, mode, uid, gid)?;
        }
        Ok(())
    }

    fn commands(&mut self, v: &Value) -> Result<()> {
        if !self.live {
            return Ok(());
        }
        for c in v.as_array().into_iter().flatten() {
            let Some(c) = c.as_str() else { continue };
            let out = Command::new("/bin/sh").args(["-c", c]).output()?;
            if !out.status.success() {
                self.warn(format!(
                    "command {c:?} failed ({}): {}",
                    out.status,
                    String::from_utf8_lossy(&out.stderr).trim()
                ));
            }
        }
        Ok(())
    }

    /// `/etc/hostname`, the kernel's hostname, and a line for it in `/etc/hosts`
    /// (with the node's address, which the stand-ins read).
    fn hostname(&mut self, v: &Value) -> Result<()> {
        let Some(name) = v.as_str().filter(|s| !s.is_empty()) else {
            return Ok(());
        };
        write_replace(
            &self.p("/etc/hostname"),
            format!("{name}\n").as_bytes(),
            0o644,
            Some(0),
            Some(0),
        )?;
        let mut addr = "127.0.0.1".to_string();
        if self.live {
            let out = Command::new("hostname").arg(name).output()?;
            if !out.status.success() {
                self.warn(format!(
                    "hostname {name}: {}",
                    String::from_utf8_lossy(&out.stderr).trim()
                ));
            }
            if let Ok(out) = Command::new("hostname").arg("-I").output()
                && let Some(a) = String::from_utf8_lossy(&out.stdout)
                    .split_whitespace()
                    .next()
            {
                addr = a.to_string();
            }
        }
        let hosts_path = self.p("/etc/hosts");
        let old = fs::read_to_string(&hosts_path).unwrap_or_else(|_| {
            "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n".into()
        });
        let mut out: String = old
            .lines()
            .filter(|l| !l.split_whitespace().skip(1).any(|n| n == name))
            .map(|l| format!("{l}\n"))
            .collect();
        out.push_str(&format!("{addr}\t{name}\n"));
        write_replace(&hosts_path, out.as_bytes(), 0o644, Some(0), Some(0))
    }

    /// `users.<name>`: `passwd` (a `$` value as is, clear text hashed with
    /// SHA-512 crypt) into `/etc/shadow`, and `ssh_authorized_keys` appended.
    fn users(&mut self, v: &Value) -> Result<()> {
        let Some(users) = v.as_object() else {
            return Ok(());
        };
        for (name, u) in users {
            if let Some(pw) = u["passwd"].as_str().filter(|s| !s.is_empty()) {
                let hash = if pw.starts_with('$') {
                    pw.to_string()
                } else {
                    super::seed::sha512_crypt(pw, 12)?
                };
                self.set_shadow(name, &hash)?;
            }
            if let Some(keys) = u["ssh_authorized_keys"].as_array() {
                self.append_keys(name, keys)?;
            }
        }
        Ok(())
    }

    fn authorized_keys(&mut self, v: &Value) -> Result<()> {
        for (user, keys) in v.as_object().into_iter().flatten() {
            if let Some(keys) = keys.as_array()
                && let Err(e) = self.append_keys(user, keys)
            {
                self.warn(format!("authorized_keys of {user}: {e:#}"));
            }
        }
        Ok(())
    }

    /// `environment` merged into `/etc/environment` (or `environment_file`),
    /// written as godotenv does (`KEY="value"`, sorted).
    fn environment(&mut self, step: &Value) -> Result<()> {
        let Some(env) = step["environment"].as_object().filter(|m| !m.is_empty()) else {
            return Ok(());
        };
        let file = step["environment_file"]
            .as_str()
            .filter(|s| !s.is_empty())
            .unwrap_or("/etc/environment");
        let host = self.p(file);
        let mut vars: BTreeMap<String, String> = fs::read_to_string(&host)
            .map(|t| parse_env(&t))
            .unwrap_or_default();
        for (k, v) in env {
            let v = match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            vars.insert(k.clone(), v);
        }
        let text: String = vars
            .iter()
            .map(|(k, v)| format!("{k}=\"{}\"\n", env_escape(v)))
            .collect();
        if let Some(parent) = host.parent() {
            fs::create_dir_all(parent)?;
        }
        write_replace(&host, text.as_bytes(), 0o644, None, None)
    }

    fn set_shadow(&mut self, user: &str, hash: &str) -> Result<()> {
        let path = self.p("/etc/shadow");
        let text = fs::read_to_string(&path).context("reading /etc/shadow")?;
        let today = (std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
            / 86_400)
            .to_string();
        let mut found = false;
        let out: String = text
            .lines()
            .map(|l| {
                let mut f: Vec<&str> = l.split(':').collect();
                if f.first() == Some(&user) && f.len() >= 3 {
                    f[1] = hash;
                    f[2] = &today;
                    found = true;
                }
                format!("{}\n", f.join(":"))
            })
            .collect();
        if !found {
            bail!("user {user} does not exist (the lab's yip does not create users)");
        }
        let meta = fs::metadata(&path)?;
        write_replace(
            &path,
            out.as_bytes(),
            meta.mode() & 0o7777,
            Some(meta.uid() as u64),
            Some(meta.gid() as u64),
        )
    }

    /// yip's `plugins/ssh.go`: keys only ever added, never removed.
    fn append_keys(&mut self, user: &str, keys: &[Value]) -> Result<()> {
        let users = self.passwd();
        let e = users
            .get(user)
            .with_context(|| format!("user {user} does not exist"))?;
        let ssh = self.p(&format!("{}/.ssh", e.home));
        if !ssh.exists() {
            fs::create_dir_all(&ssh)?;
            fs::set_permissions(&ssh, fs::Permissions::from_mode(0o700))?;
        }
        std::os::unix::fs::lchown(&ssh, Some(e.uid), Some(e.gid))?;
        let file = ssh.join("authorized_keys");
        let existing = fs::read_to_string(&file).unwrap_or_default();
        let have: Vec<&str> = existing.lines().map(str::trim).collect();
        let mut add = String::new();
        if !existing.is_empty() && !existing.ends_with('\n') {
            add.push('\n');
        }
        let mut added = false;
        for k in keys {
            let Some(k) = k.as_str().map(str::trim).filter(|k| !k.is_empty()) else {
                continue;
            };
            if k.starts_with("github:") || k.starts_with("gitlab:") {
                self.warn(format!("{user}: {k}: fetching keys is not done in the lab"));
                continue;
            }
            if !have.contains(&k) && !add.lines().any(|l| l == k) {
                add.push_str(k);
                add.push('\n');
                added = true;
            }
        }
        if added {
            let mut f = fs::OpenOptions::new()
                .append(true)
                .create(true)
                .mode(0o600)
                .custom_flags(libc::O_NOFOLLOW)
                .open(&file)
                .with_context(|| format!("opening {}", file.display()))?;
            f.write_all(add.as_bytes())?;
        }
        if file.exists() {
            std::os::unix::fs::lchown(&file, Some(e.uid), Some(e.gid))?;
        }
        Ok(())
    }

    fn passwd(&self) -> BTreeMap<String, PasswdEntry> {
        fs::read_to_string(self.p("/etc/passwd"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| {
                let f: Vec<&str> = l.split(':').collect();
                Some((
                    f.first()?.to_string(),
                    PasswdEntry {
                        uid: f.get(2)?.parse().ok()?,
                        gid: f.get(3)?.parse().ok()?,
                        home: f.get(5)?.to_string(),
                    },
                ))
            })
            .collect()
    }

    fn group_gid(&self, name: &str) -> Option<u32> {
        fs::read_to_string(self.p("/etc/group"))
            .ok()?
            .lines()
            .find_map(|l| {
                let f: Vec<&str> = l.split(':').collect();
                (f.first() == Some(&name)).then(|| f.get(2)?.parse().ok())?
            })
    }
}

/// `permissions:` as yip's YAML reads it: `384`, `0o600`, and `0600` (octal,
/// as Go's yaml.v3 keeps from YAML 1.1; our parser reads it as the float 600).
fn mode_of(v: &Value) -> Option<u32> {
    if let Some(n) = v.as_u64() {
        return u32::try_from(n).ok();
    }
    let digits = match v {
        Value::Number(n) => {
            let f = n.as_f64()?;
            (f.fract() == 0.0 && f >= 0.0).then(|| format!("{}", f as u64))?
        }
        Value::String(s) => s.trim_start_matches("0o").to_string(),
        _ => return None,
    };
    u32::from_str_radix(&digits, 8).ok()
}

struct PasswdEntry {
    uid: u32,
    gid: u32,
    home: String,
}

fn chown(path: &Path, uid: Option<u64>, gid: Option<u64>) -> Result<()> {
    if uid.is_some() || gid.is_some() {
        std::os::unix::fs::lchown(path, uid.map(|u| u as u32), gid.map(|g| g as u32))?;
    }
    Ok(())
}

/// Replace a file atomically: a new file created with its final mode and
/// owner beside it (`O_EXCL`, never through a symlink), then renamed over.
fn write_replace(
    path: &Path,
    content: &[u8],
    mode: u32,
    uid: Option<u64>,
    gid: Option<u64>,
) -> Result<()> {
    let name = path
        .file_name()
        .with_context(|| format!("{} has no file name", path.display()))?;
    let tmp = path.with_file_name(format!(
        ".{}.yip-{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    let _ = fs::remove_file(&tmp);
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode & 0o7777)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&tmp)
        .with_context(|| format!("writing {}", tmp.display()))?;
    f.write_all(content)?;
    chown(&tmp, uid, gid)?;
    // The umask may have taken bits off; set exactly what was asked.
    fs::set_permissions(&tmp, fs::Permissions::from_mode(mode & 0o7777))?;
    f.sync_all()?;
    fs::rename(&tmp, path).with_context(|| format!("replacing {}", path.display()))?;
    Ok(())
}

fn parse_env(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|l| {
            let l = l.trim();
            if l.is_empty() || l.starts_with('#') {
                return None;
            }
            let l = l.strip_prefix("export ").unwrap_or(l);
            let (k, v) = l.split_once('=')?;
            let v = v.trim();
            let v = if v.len() >= 2
                && ((v.starts_with('"') && v.ends_with('"'))
                    || (v.starts_with('\'') && v.ends_with('\'')))
            {
                env_unescape(&v[1..v.len() - 1])
            } else {
                v.to_string()
            };
            Some((k.trim().to_string(), v))
        })
        .collect()
}

fn env_escape(v: &str) -> String {
    let mut s = String::new();
    for c in v.chars() {
        match c {
            '\\' => s.push_str("\\\\"),
            '"' => s.push_str("\\\""),
            '\n' => s.push_str("\\n"),
            '\r' => s.push_str("\\r"),
            '$' => s.push_str("\\$"),
            '`' => s.push_str("\\`"),
            '!' => s.push_str("\\!"),
            c => s.push(c),
        }
    }
    s
}

fn env_unescape(v: &str) -> String {
    let mut s = String::new();
    let mut it = v.chars();
    while let Some(c) = it.next() {
        if c == '\\' {
            match it.next() {
                Some('n') => s.push('\n'),
                Some('r') => s.push('\r'),
                Some(o) => s.push(o),
                None => s.push('\\'),
            }
        } else {
            s.push(c);
        }
    }
    s
}

/// `harvcred lab yip boot|network` inside a node: apply, record the outcome,
/// exit 1 when a file did not parse (the unit fails, sshd does not start).
pub fn run_phase(phase: &str) -> Result<i32> {
    let stages = phase_stages(phase)?;
    let mut applier = Applier::new("/");
    let status = applier.run(phase, stages);
    let path = Path::new(STATUS_FILE);
    if let Some(d) = path.parent() {
        fs::create_dir_all(d)?;
    }
    // The boot phase's outcome stays readable after a clean network phase.
    if phase == "boot" || !status.ok {
        write_replace(
            path,
            &serde_json::to_vec_pretty(&status)?,
            0o644,
            None,
            None,
        )?;
    }
    Ok(if status.ok { 0 } else { 1 })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A root with rancher in /etc/passwd and /etc/shadow, and `/oem` files.
    fn root(files: &[(&str, &str)]) -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        let p = d.path();
        fs::create_dir_all(p.join("etc")).unwrap();
        fs::create_dir_all(p.join("oem")).unwrap();
        fs::create_dir_all(p.join("home/rancher")).unwrap();
        fs::write(
            p.join("etc/passwd"),
            "root:x:0:0::/root:/bin/sh\nrancher:x:1000:1000::/home/rancher:/bin/bash\nbob:x:1001:1001::/home/bob:/bin/sh\n",
        )
        .unwrap();
        fs::write(
            p.join("etc/shadow"),
            "root:*:1:0:99999:7:::\nrancher:!:1:0:99999:7:::\n",
        )
        .unwrap();
        for (name, text) in files {
            fs::write(p.join("oem").join(name), text).unwrap();
        }
        d
    }

    fn boot(d: &tempfile::TempDir) -> Status {
        let mut a = Applier::new(d.path());
        let s = a.run("boot", phase_stages("boot").unwrap());
        let n = a.run("network", phase_stages("network").unwrap());
        assert_eq!(s.ok, n.ok);
        s
    }

    fn shadow_of(d: &tempfile::TempDir, user: &str) -> String {
        fs::read_to_string(d.path().join("etc/shadow"))
            .unwrap()
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{user}:")))
            .unwrap()
            .split(':')
            .next()
            .unwrap()
            .to_string()
    }

    #[test]
    fn stages_run_in_order_across_files_so_later_ones_win() {
        let d = root(&[
            // Written first by name, but its stage runs after 90's initramfs.
            (
                "10_after.yaml",
                "stages:\n  initramfs.after:\n  - users:\n      rancher:\n        passwd: $6$after\n",
            ),
            (
                "90_custom.yaml",
                "stages:\n  initramfs:\n  - users:\n      rancher:\n        passwd: $6$installer\n",
            ),
            (
                "95_same.yml",
                "stages:\n  initramfs:\n  - environment:\n      A: \"x y\"\n    environment_file: /etc/custom.env\n",
            ),
        ]);
        assert!(boot(&d).ok);
        assert_eq!(shadow_of(&d, "rancher"), "$6$after");
        assert_eq!(
            fs::read_to_string(d.path().join("etc/custom.env")).unwrap(),
            "A=\"x y\"\n"
        );
    }

    #[test]
    fn permissions_read_as_yip_reads_them() {
        for (yaml, mode) in [
            ("p: 384", 0o600),
            ("p: 0600", 0o600),
            ("p: 0o640", 0o640),
            ("p: \"0755\"", 0o755),
        ] {
            let v = parse(yaml).unwrap();
            assert_eq!(mode_of(&v["p"]), Some(mode), "{yaml}");
        }
    }

    #[test]
    fn clear_text_is_hashed_with_a_16_character_salt() {
        let d = root(&[(
            "99_pw.yaml",
            "stages:\n  initramfs:\n  - users:\n      rancher:\n        passwd: Secret-1\n",
        )]);
        assert!(boot(&d).ok);
        let hash = shadow_of(&d, "rancher");
        assert!(hash.starts_with("$6$"), "{hash}");
        assert_eq!(hash.split('$').nth(2).unwrap().len(), 16);
        assert!(!hash.contains("Secret-1"));
    }

    #[test]
    fn keys_are_only_appended_and_top_level_keys_go_to_listed_users_only() {
        let d = root(&[
            (
                "50_keys.yaml",
                "stages:\n  network:\n  - authorized_keys:\n      rancher:\n      - ssh-ed25519 AAAA one\n",
            ),
            (
                "60_cc.yaml",
                "#cloud-config\nusers:\n- name: rancher\nssh_authorized_keys:\n- ssh-ed25519 AAAA two\n",
            ),
        ]);
        let keys = d.path().join("home/rancher/.ssh/authorized_keys");
        fs::create_dir_all(keys.parent().unwrap()).unwrap();
        fs::write(&keys, "ssh-ed25519 AAAA runtime\n").unwrap();
        assert!(boot(&d).ok);
        assert!(boot(&d).ok);
        assert_eq!(
            fs::read_to_string(&keys).unwrap(),
            "ssh-ed25519 AAAA runtime\nssh-ed25519 AAAA two\nssh-ed25519 AAAA one\n"
        );
        assert!(!d.path().join("home/bob/.ssh").exists());
    }

    #[test]
    fn a_tab_indented_file_is_named_and_the_others_still_apply() {
        let d = root(&[
            (
                "90_custom.yaml",
                "stages:\n  initramfs:\n  - hostname: node7\n",
            ),
            (
                "95_broken.yaml",
                "stages:\n  initramfs:\n  - users:\n      rancher:\n\t\tpasswd: x\n",
            ),
        ]);
        let st = boot(&d);
        assert!(!st.ok);
        assert_eq!(st.broken_file.as_deref(), Some("/oem/95_broken.yaml"));
        // Only the parser's first line: no quote of the file.
        assert!(!st.error.unwrap().contains('\n'));
        assert_eq!(
            fs::read_to_string(d.path().join("etc/hostname")).unwrap(),
            "node7\n"
        );
    }

    #[test]
    fn files_get_their_mode_and_owner_and_replace_a_link_instead_of_following_it() {
        let d = root(&[(
            "90_custom.yaml",
            "stages:\n  initramfs:\n  - files:\n    - path: /etc/rancher/x/config.yaml\n      permissions: 384\n      owner: 1000\n      group: 1000\n      content: |\n        token: t\n",
        )]);
        let target = d.path().join("elsewhere");
        fs::write(&target, "keep\n").unwrap();
        fs::create_dir_all(d.path().join("etc/rancher/x")).unwrap();
        std::os::unix::fs::symlink(&target, d.path().join("etc/rancher/x/config.yaml")).unwrap();
        assert!(boot(&d).ok);
        let f = d.path().join("etc/rancher/x/config.yaml");
        let m = fs::symlink_metadata(&f).unwrap();
        assert!(m.is_file());
        assert_eq!((m.mode() & 0o7777, m.uid(), m.gid()), (0o600, 1000, 1000));
        assert_eq!(fs::read_to_string(&f).unwrap(), "token: t\n");
        assert_eq!(fs::read_to_string(&target).unwrap(), "keep\n");
    }
}
