//! Where harvcred keeps things (XDG folders) and its config file.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::Deserialize;

/// The folders harvcred uses, resolved once at start from the environment.
#[derive(Debug, Clone)]
pub struct Paths {
    /// `$XDG_CONFIG_HOME/harvcred`: config.toml and themes/.
    pub config_dir: PathBuf,
    /// `$XDG_STATE_HOME/harvcred`: harvcred.log, the node cache.
    pub state_dir: PathBuf,
    /// Short folder for ssh control sockets: a unix socket path is limited to
    /// 108 bytes, so not under the (possibly long) state folder.
    pub runtime_dir: PathBuf,
}

impl Paths {
    pub fn from_env() -> Paths {
        let home = std::env::var_os("HOME")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("/"));
        let xdg = |var: &str, fallback: &str| {
            std::env::var_os(var)
                .map(PathBuf::from)
                .filter(|p| p.is_absolute())
                .unwrap_or_else(|| home.join(fallback))
        };
        let runtime = std::env::var_os("XDG_RUNTIME_DIR")
            .map(PathBuf::from)
            .filter(|p| p.is_absolute() && p.is_dir())
            .unwrap_or_else(std::env::temp_dir);
        Paths {
            config_dir: xdg("XDG_CONFIG_HOME", ".config").join("harvcred"),
            state_dir: xdg("XDG_STATE_HOME", ".local/state").join("harvcred"),
            runtime_dir: runtime,
        }
    }

    pub fn config_file(&self) -> PathBuf {
        self.config_dir.join("config.toml")
    }
    pub fn user_themes(&self) -> PathBuf {
        self.config_dir.join("themes")
    }
    pub fn log_file(&self) -> PathBuf {
        self.state_dir.join("harvcred.log")
    }
}

/// `s` as one file-name component: what is not alphanumeric, `-`, `_` or
/// `.` becomes `_` (kubeconfig context names hold `/`, `:` and `@`).
pub fn file_name_safe(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// `config.toml`. Every field is optional; the command line wins over it.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Theme name (a file stem in the user's or the shipped themes).
    pub theme: Option<String>,
    /// Hide and refuse every action that changes something.
    #[serde(default)]
    pub read_only: bool,
    /// User for SSH to the nodes (default `rancher`).
    pub ssh_user: Option<String>,
    /// Node inventory used when the API is unreachable.
    pub inventory: Option<PathBuf>,
    /// Seconds between SSH reachability probes of a node (default 3).
    pub probe_interval_secs: Option<u64>,
    /// Seconds between credential sweeps of every node (default: none, `r` only).
    pub sweep_interval_secs: Option<u64>,
    /// `[certificates]`: day thresholds of the certificate levels.
    #[serde(default)]
    pub certificates: crate::creds::level::Thresholds,
    /// Lines a log pane holds (default 10,000); older ones make room.
    pub log_lines: Option<usize>,
    /// Shortest new rancher password accepted (default 12).
    pub password_min_length: Option<usize>,
    /// `[rancher]`: the Rancher that holds Harvester cloud credentials.
    pub rancher: Option<RancherSection>,
}

/// `[rancher]` in config.toml: a kubeconfig context reaching the Rancher
/// that manages the Harvester clusters (`--rancher-context` wins).
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RancherSection {
    pub context: String,
    /// Its kubeconfig, when not the one the cluster is reached with.
    pub kubeconfig: Option<PathBuf>,
}

impl Config {
    /// A missing file is the empty config; a broken one is an error naming the file.
    pub fn load(path: &Path) -> Result<Config> {
        match std::fs::read_to_string(path) {
            Ok(text) => {
                let c: Config =
                    toml::from_str(&text).with_context(|| format!("{}", path.display()))?;
                // A mistyped threshold must not silently hide expiring certificates.
                c.certificates
                    .validate()
                    .with_context(|| format!("{}: [certificates]", path.display()))?;
                Ok(c)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Config::default()),
            Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
        }
    }
}

/// Makes `dir` (and missing parents) 0700, or checks an existing one: a
/// symlink or a folder of another user is refused, and one of ours that
/// others can enter is narrowed to 0700. harvcred's log, node cache and
/// audit log live there.
pub fn private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    let m = std::fs::symlink_metadata(dir)?;
    if !m.is_dir() {
        return Err(refuse(dir, "is not a folder (a symlink?)"));
    }
    // SAFETY: geteuid has no preconditions.
    if m.uid() != unsafe { libc::geteuid() } {
        return Err(refuse(dir, "belongs to another user"));
    }
    if m.mode() & 0o077 != 0 {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

fn refuse(path: &Path, why: &str) -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::PermissionDenied,
        format!("{}: {why}; harvcred does not write there", path.display()),
    )
}

/// Opens `path` to append, creating it 0600 in a [`private_dir`]; never
/// through a symlink (`O_NOFOLLOW`), never another user's file, and an
/// existing file of ours is narrowed to 0600.
pub fn open_private_append(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
    if let Some(dir) = path.parent() {
        private_dir(dir)?;
    }
    let f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .map_err(|e| match e.raw_os_error() {
            Some(libc::ELOOP) => refuse(path, "is a symlink"),
            _ => e,
        })?;
    let m = f.metadata()?;
    // SAFETY: geteuid has no preconditions.
    if !m.is_file() || m.uid() != unsafe { libc::geteuid() } {
        return Err(refuse(path, "is not a file of ours"));
    }
    if m.mode() & 0o077 != 0 {
        f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(f)
}

/// Replaces `path` with `bytes`: a new 0600 file (never an existing one,
/// never through a symlink) in a [`private_dir`], renamed over the old one,
/// so a crash never leaves half a file.
pub fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(dir) = path.parent() {
        private_dir(dir)?;
    }
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_config_is_default_and_broken_one_names_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("config.toml");
        assert_eq!(Config::load(&p).unwrap(), Config::default());
        std::fs::write(&p, "theme = \"light\"\nread_only = true\n").unwrap();
        let c = Config::load(&p).unwrap();
        assert_eq!(c.theme.as_deref(), Some("light"));
        assert!(c.read_only);
        std::fs::write(&p, "theme = \"light\"\nredonly = true\n").unwrap();
        let e = format!("{:#}", Config::load(&p).unwrap_err());
        assert!(e.contains("config.toml"), "{e}");
        assert!(e.contains("line 2"), "{e}");
    }

    #[test]
    fn the_rancher_section_names_a_context_and_optionally_its_kubeconfig() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("config.toml");
        std::fs::write(&p, "[rancher]\ncontext = \"rancher\"\n").unwrap();
        let r = Config::load(&p).unwrap().rancher.unwrap();
        assert_eq!((r.context.as_str(), r.kubeconfig), ("rancher", None));
        std::fs::write(&p, "[rancher]\ncontext = \"r\"\nkubeconfig = \"/k\"\n").unwrap();
        let r = Config::load(&p).unwrap().rancher.unwrap();
        assert_eq!(r.kubeconfig, Some(PathBuf::from("/k")));
    }

    #[test]
    fn certificate_thresholds_come_from_the_config_and_are_checked() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("config.toml");
        std::fs::write(&p, "[certificates]\nwarn_days = 45\ncritical_days = 14\n").unwrap();
        let t = Config::load(&p).unwrap().certificates;
        assert_eq!(
            (t.renew_at_restart_days, t.warn_days, t.critical_days),
            (120, 45, 14)
        );
        std::fs::write(&p, "[certificates]\nwarn_days = 3\ncritical_days = 14\n").unwrap();
        let e = format!("{:#}", Config::load(&p).unwrap_err());
        assert!(e.contains("config.toml: [certificates]"), "{e}");
        assert!(e.contains("critical_days (14) <= warn_days (3)"), "{e}");
    }

    #[test]
    fn private_files_are_0600_in_0700_folders_and_never_through_a_symlink() {
        use std::os::unix::fs::PermissionsExt;
        let d = tempfile::tempdir().unwrap();
        let mode = |p: &Path| std::fs::symlink_metadata(p).unwrap().permissions().mode() & 0o777;
        let state = d.path().join("state/harvcred");
        let log = state.join("harvcred.log");
        drop(open_private_append(&log).unwrap());
        assert_eq!((mode(&state), mode(&log)), (0o700, 0o600));
        // A folder of ours others could enter is narrowed.
        std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::set_permissions(&log, std::fs::Permissions::from_mode(0o644)).unwrap();
        drop(open_private_append(&log).unwrap());
        assert_eq!((mode(&state), mode(&log)), (0o700, 0o600));
        // A symlink planted where the file goes is refused, its target untouched.
        let victim = d.path().join("victim");
        std::fs::write(&victim, "precious").unwrap();
        std::fs::remove_file(&log).unwrap();
        std::os::unix::fs::symlink(&victim, &log).unwrap();
        assert!(open_private_append(&log).is_err());
        let cache = state.join("nodes.json");
        std::os::unix::fs::symlink(&victim, &cache).unwrap();
        write_private(&cache, b"[]").unwrap();
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
        assert_eq!(mode(&cache), 0o600);
        // A symlinked folder is refused too.
        let linked = d.path().join("linked");
        std::os::unix::fs::symlink(d.path().join("elsewhere"), &linked).unwrap();
        std::fs::create_dir(d.path().join("elsewhere")).unwrap();
        assert!(private_dir(&linked).is_err());
    }
}
