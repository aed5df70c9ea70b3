//! The base tree every node boots from: a minimal Debian made once with
//! debootstrap and cached outside the repository, then shared read-only by all
//! nodes of all labs through overlays.

use std::io::{BufRead, BufReader, IsTerminal, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use nix::fcntl::{Flock, FlockArg};

use super::layout::RANCHER_UID;

/// Bump when what `customise` puts into the base changes. The cache entry's
/// name also carries a hash of the package list, so a changed list makes a
/// new tree instead of silently reusing an old one.
const CUSTOMISE_VERSION: u32 = 1;
const SUITE: &str = "bookworm";
/// openssl: the procedures harvcred and the docs give run it on the node.
const PACKAGES: &str =
    "systemd,systemd-sysv,dbus,openssh-server,sudo,procps,libpam-systemd,openssl";

/// The cache entry's name: `debian-bookworm-v1-<8 hex of the package list>`.
pub fn base_name() -> String {
    use sha2::{Digest, Sha256};
    let hash = hex::encode(Sha256::digest(PACKAGES.as_bytes()));
    format!("debian-{SUITE}-v{CUSTOMISE_VERSION}-{}", &hash[..8])
}

/// Where base trees are cached: `$HARVCRED_LAB_CACHE` or `/var/cache/harvcred/lab`.
pub fn cache_dir() -> PathBuf {
    std::env::var_os("HARVCRED_LAB_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/cache/harvcred/lab"))
}

pub fn base_path() -> PathBuf {
    cache_dir().join(base_name())
}

/// The Debian mirror: `$HARVCRED_LAB_MIRROR`, else the first `deb.debian.org`-style
/// URI apt is configured with, else deb.debian.org.
fn mirror() -> String {
    if let Ok(m) = std::env::var("HARVCRED_LAB_MIRROR") {
        return m;
    }
    for file in [
        "/etc/apt/sources.list.d/debian.sources",
        "/etc/apt/sources.list",
    ] {
        if let Ok(text) = std::fs::read_to_string(file) {
            for line in text.lines() {
                let line = line.trim();
                let uri = line.strip_prefix("URIs:").map(str::trim).or_else(|| {
                    line.strip_prefix("deb ")
                        .and_then(|r| r.split_whitespace().next())
                });
                if let Some(uri) = uri
                    && uri.ends_with("/debian")
                {
                    return uri.to_string();
                }
            }
        }
    }
    "http://deb.debian.org/debian".to_string()
}

/// Return the base tree, building it first if it is not cached. Concurrent
/// callers (parallel tests) wait for one build instead of racing.
pub fn ensure(progress: bool) -> Result<PathBuf> {
    let base = base_path();
    if base.join(".harvcred-ready").exists() {
        return Ok(base);
    }
    std::fs::create_dir_all(cache_dir())
        .with_context(|| format!("creating {}", cache_dir().display()))?;
    let name = base_name();
    let lock_file = std::fs::File::create(cache_dir().join(format!("{name}.lock")))?;
    let _lock = Flock::lock(lock_file, FlockArg::LockExclusive)
        .map_err(|(_, e)| anyhow::anyhow!("locking the base cache: {e}"))?;
    if base.join(".harvcred-ready").exists() {
        return Ok(base);
    }
    let started = Instant::now();
    let tmp = cache_dir().join(format!("{name}.building"));
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp)?;
    }
    debootstrap(&tmp, progress)?;
    customise(&tmp)?;
    std::fs::write(tmp.join(".harvcred-ready"), &name)?;
    if base.exists() {
        std::fs::remove_dir_all(&base)?;
    }
    std::fs::rename(&tmp, &base)?;
    if progress {
        eprintln!(
            "lab: base tree ready in {:.0} s at {}",
            started.elapsed().as_secs_f64(),
            base.display()
        );
    }
    Ok(base)
}

fn debootstrap(target: &Path, progress: bool) -> Result<()> {
    let mirror = mirror();
    if progress {
        eprintln!(
            "lab: building the node base tree (Debian {SUITE}, once; cached in {})",
            cache_dir().display()
        );
    }
    let mut child = Command::new("debootstrap")
        .arg("--variant=minbase")
        .arg(format!("--include={PACKAGES}"))
        .arg(SUITE)
        .arg(target)
        .arg(&mirror)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("starting debootstrap (install it: apt-get install debootstrap)")?;
    let stderr = child.stderr.take().expect("piped");
    let err_reader = std::thread::spawn(move || {
        let mut text = String::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            text.push_str(&line);
            text.push('\n');
        }
        text
    });
    let tty = std::io::stderr().is_terminal();
    let (mut retrieved, mut unpacked, mut configured) = (0u32, 0u32, 0u32);
    let mut log_tail: Vec<String> = Vec::new();
    for line in BufReader::new(child.stdout.take().expect("piped"))
        .lines()
        .map_while(Result::ok)
    {
        if line.starts_with("I: Retrieving") {
            retrieved += 1;
        } else if line.starts_with("I: Unpacking") || line.starts_with("I: Extracting") {
            unpacked += 1;
        } else if line.starts_with("I: Configuring") {
            configured += 1;
        }
        log_tail.push(line);
        if log_tail.len() > 20 {
            log_tail.remove(0);
        }
        if progress {
            let status = format!(
                "lab: debootstrap: {retrieved} retrieved, {unpacked} unpacked, {configured} configured"
            );
            if tty {
                eprint!("\r{status}\x1b[K");
            } else if (retrieved + unpacked + configured) % 25 == 0 {
                eprintln!("{status}");
            }
        }
    }
    if progress && tty {
        eprintln!();
    }
    let status = child.wait()?;
    let stderr_text = err_reader.join().unwrap_or_default();
    if !status.success() {
        let _ = std::fs::remove_dir_all(target);
        bail!(
            "debootstrap failed (mirror {mirror}; set HARVCRED_LAB_MIRROR to use another):\n{}\n{}",
            log_tail.join("\n"),
            stderr_text.trim()
        );
    }
    Ok(())
}

/// What every node shares: user `rancher` with passwordless sudo and no slow
/// shell rc files, sshd settings, no host keys (each node gets its own), mount
/// points for the lab's bind mounts.
fn customise(root: &Path) -> Result<()> {
    chroot(
        root,
        &format!(
            "set -e
groupadd -g {RANCHER_UID} rancher
useradd -m -u {RANCHER_UID} -g rancher -G sudo -s /bin/bash rancher
usermod -p '!' root
rm -f /etc/ssh/ssh_host_*
systemctl mask getty@tty1.service console-getty.service systemd-networkd-wait-online.service >/dev/null 2>&1 || true
"
        ),
    )?;
    // Empty rc files: sshd runs every command through the login shell (lab-recipes.md).
    for rc in [".bashrc", ".profile", ".bash_logout"] {
        let p = root.join("home/rancher").join(rc);
        std::fs::write(&p, "")?;
        nix::unistd::chown(
            &p,
            Some(nix::unistd::Uid::from_raw(RANCHER_UID)),
            Some(nix::unistd::Gid::from_raw(RANCHER_UID)),
        )?;
    }
    write_mode(
        &root.join("etc/sudoers.d/rancher"),
        "rancher ALL=(ALL) NOPASSWD: ALL\n",
        0o440,
    )?;
    // Debian's sshd defaults stay (MaxSessions 10, password login allowed as on
    // a Harvester node); only what slows a lab down or litters it changes.
    write_mode(
        &root.join("etc/ssh/sshd_config.d/10-harvcred-lab.conf"),
        "HostKey /etc/ssh/ssh_host_ed25519_key\nUseDNS no\nPrintMotd no\nPrintLastLog no\n",
        0o644,
    )?;
    // Journals in memory: fifty nodes logging fast must not fill the disk.
    write_mode(
        &root.join("etc/systemd/journald.conf.d/10-harvcred-lab.conf"),
        "[Journal]\nStorage=volatile\nRuntimeMaxUse=32M\nRateLimitBurst=0\n",
        0o644,
    )?;
    for dir in ["oem", "opt/harvcred-lab", "opt/rke2/bin"] {
        std::fs::create_dir_all(root.join(dir))?;
    }
    std::fs::write(root.join("opt/harvcred-lab/harvcred"), "")?;
    // An empty machine-id makes systemd generate one per boot, so nodes differ.
    std::fs::write(root.join("etc/machine-id"), "")?;
    Ok(())
}

fn chroot(root: &Path, script: &str) -> Result<()> {
    let out = Command::new("chroot")
        .arg(root)
        .args(["/bin/sh", "-c", script])
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .output()
        .context("running chroot")?;
    if !out.status.success() {
        bail!(
            "preparing the base tree failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

pub fn write_mode(path: &Path, content: &str, mode: u32) -> Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let mut f =
        std::fs::File::create(path).with_context(|| format!("writing {}", path.display()))?;
    f.write_all(content.as_bytes())?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_cache_name_follows_the_package_list() {
        let name = super::base_name();
        assert!(name.starts_with("debian-bookworm-v1-"), "{name}");
        assert_eq!(name.len(), "debian-bookworm-v1-".len() + 8);
        assert!(super::PACKAGES.split(',').any(|p| p == "openssl"));
    }
}
