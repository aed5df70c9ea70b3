//! Running commands inside lab nodes the way an operator would: over SSH as
//! `rancher`, with sudo, through the lab's own ssh_config (strict host keys).

use std::path::Path;
use std::process::{Output, Stdio};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use tokio::io::AsyncWriteExt;
use tokio::process::Command;

/// Run `script` with `sh -s` as root on `node`. The script travels on stdin, so
/// nothing in it shows in a process list on either side.
pub async fn node_root_sh(ssh_config: &Path, node: &str, script: &str) -> Result<Output> {
    let mut child = Command::new("ssh")
        .arg("-F")
        .arg(ssh_config)
        .args(["-o", "BatchMode=yes", "-o", "ConnectTimeout=10"])
        .arg(node)
        .args(["sudo", "sh", "-s"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .context("starting ssh")?;
    let mut stdin = child.stdin.take().expect("stdin is piped");
    stdin.write_all(script.as_bytes()).await?;
    drop(stdin);
    match tokio::time::timeout(Duration::from_secs(120), child.wait_with_output()).await {
        Ok(out) => Ok(out?),
        Err(_) => bail!("{node}: command did not finish within 120 s"),
    }
}

/// Like [`node_root_sh`], but a non-zero exit is an error carrying stderr.
pub async fn node_root_sh_ok(ssh_config: &Path, node: &str, script: &str) -> Result<String> {
    let out = node_root_sh(ssh_config, node, script).await?;
    if !out.status.success() {
        bail!(
            "{node}: exit {}: {}",
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}
