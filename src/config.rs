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
}
