//! The value a change replaced, kept in the state folder for `rollback`.
//! This is I/O for the callers of the flows (CLI, runner), not for the
//! machines themselves. The file holds the old value as written, credentials
//! included (a rollback must restore them), so it is created 0600.

use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

use crate::creds::proxy::HttpProxySetting;

/// One file per kubeconfig context, like the node cache.
pub fn proxy_path(state_dir: &Path, context: &str) -> PathBuf {
    setting_path(state_dir, "http-proxy", context)
}

/// Where the value a change of setting `name` replaced is kept.
pub fn setting_path(state_dir: &Path, name: &str, context: &str) -> PathBuf {
    let safe = crate::config::file_name_safe(context);
    state_dir
        .join("rollback")
        .join(format!("{name}.{safe}.json"))
}

/// Keeps the raw value of setting `name` a change replaced (0600, as
/// [`save_proxy`]). Callers keep no private key here (`ssl-certificates`
/// has no rollback) and no registry password (removed before).
pub fn save_setting(
    state_dir: &Path,
    name: &str,
    context: &str,
    previous: &str,
) -> std::io::Result<()> {
    crate::config::write_private(&setting_path(state_dir, name, context), previous.as_bytes())
}

/// The kept value of setting `name`, or None when no change was made from this machine.
pub fn load_setting(
    state_dir: &Path,
    name: &str,
    context: &str,
) -> anyhow::Result<Option<Zeroizing<String>>> {
    let p = setting_path(state_dir, name, context);
    match std::fs::read(&p) {
        Ok(bytes) => Ok(Some(Zeroizing::new(String::from_utf8(bytes)?))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(anyhow::anyhow!("reading {}: {e}", p.display())),
    }
}

/// Keeps `previous`: a new 0600 file in a 0700 folder, never through a
/// symlink, renamed over the old one (it holds the proxy's credentials).
pub fn save_proxy(
    state_dir: &Path,
    context: &str,
    previous: &HttpProxySetting,
) -> std::io::Result<()> {
    let json = previous.to_json();
    crate::config::write_private(&proxy_path(state_dir, context), json.as_bytes())
}

/// The kept value, or None when no change was made from this machine.
pub fn load_proxy(state_dir: &Path, context: &str) -> anyhow::Result<Option<HttpProxySetting>> {
    let p = proxy_path(state_dir, context);
    match std::fs::read(&p) {
        Ok(bytes) => {
            let text = Zeroizing::new(String::from_utf8(bytes)?);
            Ok(Some(
                HttpProxySetting::parse(&text)
                    .map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))?,
            ))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(anyhow::anyhow!("reading {}: {e}", p.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::creds::proxy::ProxyUrl;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn kept_value_round_trips_privately_per_context() {
        let d = tempfile::tempdir().unwrap();
        assert_eq!(load_proxy(d.path(), "a").unwrap(), None);
        let s = HttpProxySetting {
            http_proxy: ProxyUrl::new("http://u:pw@p:3128"),
            https_proxy: ProxyUrl::default(),
            no_proxy: "10.0.0.0/24".into(),
        };
        save_proxy(d.path(), "ctx/a", &s).unwrap();
        assert_eq!(load_proxy(d.path(), "ctx/a").unwrap(), Some(s));
        assert_eq!(load_proxy(d.path(), "other").unwrap(), None);
        let mode = std::fs::metadata(proxy_path(d.path(), "ctx/a"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let folder = proxy_path(d.path(), "ctx/a");
        let folder_mode = std::fs::metadata(folder.parent().unwrap())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(folder_mode & 0o777, 0o700, "the rollback folder is private");
    }
}
