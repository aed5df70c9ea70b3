//! Fault injectors for the fault-matrix tests: what can go wrong on a node
//! (or with harvcred itself) while harvcred is paused at a fault point
//! (`src/faults.rs`), and what an operator does to bring it back.
//!
//! Everything here acts from the host, never over the node's SSH (which a
//! fault may have cut): the link on the bridge side, commands in the node
//! through `nsenter` into its container, `/oem` through its host mount.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use super::Lab;

/// The faults of the matrix, as its table names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Fault {
    /// The node's network link cut, restored after harvcred gave up.
    LinkCut,
    /// Every sshd process on the node killed, and kept from restarting;
    /// the operator reboots the node from its console.
    SshdKilled,
    /// The node rebooted at that moment.
    Reboot,
    /// `/oem` (its own small filesystem) full: no space left.
    OemFull,
    /// harvcred itself killed with SIGKILL.
    Sigkill,
}

impl Fault {
    pub const ALL: [Fault; 5] = [
        Fault::LinkCut,
        Fault::SshdKilled,
        Fault::Reboot,
        Fault::OemFull,
        Fault::Sigkill,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Fault::LinkCut => "link-cut",
            Fault::SshdKilled => "sshd-killed",
            Fault::Reboot => "reboot",
            Fault::OemFull => "oem-full",
            Fault::Sigkill => "sigkill",
        }
    }
}

impl Lab {
    /// The host side of the node's veth pair.
    fn veth(&self, node: &str) -> String {
        self.record()["veths"][node]
            .as_str()
            .unwrap_or_else(|| panic!("{node} has no link in lab.json"))
            .to_string()
    }

    /// Cut the node off the network (its connections hang, as with a
    /// pulled cable: no reset reaches either side).
    pub fn cut_link(&self, node: &str) {
        run_ok(Command::new("ip").args(["link", "set", &self.veth(node), "down"]));
    }

    pub fn restore_link(&self, node: &str) {
        let veth = self.veth(node);
        run_ok(Command::new("ip").args(["link", "set", &veth, "up"]));
        // Back on the bridge: the node answers SSH again.
        wait_for(
            &format!("{node} answering SSH again"),
            REBOOT_WITHIN,
            || self.ssh(node, "true").status.success(),
        );
    }

    /// The node's container init as the host sees it (for nsenter).
    fn node_init(&self, node: &str) -> i32 {
        let rec = self.record();
        let pid = rec["nspawn_pids"][node]
            .as_i64()
            .unwrap_or_else(|| panic!("{node} is not running")) as i32;
        harvcred::lab::supervisor::container_init(pid)
            .unwrap_or_else(|| panic!("{node}'s container has no init"))
    }

    /// Run `script` as root inside the node, without SSH; its stdout.
    pub fn node_root(&self, node: &str, script: &str) -> String {
        let init = self.node_init(node).to_string();
        let out = Command::new("nsenter")
            .args(["-t", &init, "-m", "-u", "-i", "-n", "-p", "--", "sh", "-c"])
            .arg(script)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{node}: {script}: {}",
            super::text(&out)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// sshd dies on the node, every process of it (the listener and each
    /// connection's, harvcred's shared connection with them; by pid, found
    /// by exact name in the node's own process namespace), and stays dead:
    /// masked for this boot, so systemd does not restart it. Only a reboot
    /// brings it back.
    pub fn kill_sshd(&self, node: &str) {
        self.node_root(
            node,
            "systemctl mask --runtime --quiet ssh.service ssh.socket 2>/dev/null; \
             systemctl kill --signal=KILL ssh.service; \
             for p in $(pgrep -x sshd) $(pgrep -x sshd-session); do kill -KILL \"$p\" 2>/dev/null; done; true",
        );
        wait_for(
            &format!("{node}'s sshd gone"),
            Duration::from_secs(20),
            || !self.ssh(node, "true").status.success(),
        );
    }

    /// A write the admin host gave up on may still be waiting at its fault
    /// point on the node, and a resume still in flight over the old
    /// connection (a cut link's buffered data arrives once it is back) lets
    /// it finish late. Give it until `within` to finish or give up, so the
    /// checks after the fault see the node as it stays; past that it never
    /// got the resume and leaves the file alone.
    pub fn let_late_writes_land(&self, node: &str, within: Duration) {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            let out = self.ssh(node, "ls /run/harvcred-fault.*.paused 2>/dev/null");
            // ls lists the markers still there; 255 is ssh's own failure.
            if out.stdout.is_empty() && out.status.code() != Some(255) {
                return;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// The node's `/oem` as the host mounts it (its own filesystem).
    pub fn oem_dir(&self, node: &str) -> PathBuf {
        self.dir.join("nodes").join(node).join("oem")
    }

    /// Fill the node's `/oem` to the last byte (a file `.harvcred-test-fill`,
    /// not a .yaml, so yip never reads it).
    pub fn fill_oem(&self, node: &str) {
        use std::io::Write;
        let path = self.oem_dir(node).join(FILL);
        let mut f = std::fs::File::create(&path).unwrap();
        let chunk = vec![0u8; 64 * 1024];
        loop {
            match f.write(&chunk) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) if e.raw_os_error() == Some(libc::ENOSPC) => break,
                Err(e) => panic!("filling {}: {e}", path.display()),
            }
        }
        // The last partial block: byte by byte until nothing fits.
        while f.write(&[0]).is_ok_and(|n| n == 1) {}
        let _ = f.sync_all();
        assert_eq!(
            nix::sys::statvfs::statvfs(&self.oem_dir(node))
                .unwrap()
                .blocks_available(),
            0,
            "{node}'s /oem still has room"
        );
    }

    pub fn unfill_oem(&self, node: &str) {
        let _ = std::fs::remove_file(self.oem_dir(node).join(FILL));
    }
}

const FILL: &str = ".harvcred-test-fill";

/// How long a node may take to come back (a reboot under load).
pub const REBOOT_WITHIN: Duration = Duration::from_secs(180);

fn run_ok(cmd: &mut Command) {
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{cmd:?}: {}", super::text(&out));
}

/// Poll `ok` until it holds, failing with `what` after `within`.
pub fn wait_for(what: &str, within: Duration, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !ok() {
        assert!(Instant::now() < deadline, "not within {within:?}: {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A harvcred run asked to stop at a fault point: `HARVCRED_FAULT_AT` and
/// `HARVCRED_FAULT_DIR` set, output to files (a pipe nobody reads could
/// block it).
pub struct Paused {
    pub child: Child,
    pub dir: tempfile::TempDir,
}

impl Paused {
    /// Start `cmd` (stdin: `input`) to stop at `step@node`.
    pub fn start(mut cmd: Command, step: &str, node: &str, input: &[u8]) -> Paused {
        use std::io::Write;
        let dir = tempfile::Builder::new()
            .prefix("hcfault")
            .tempdir_in("/tmp")
            .unwrap();
        let out = std::fs::File::create(dir.path().join("stdout")).unwrap();
        let err = std::fs::File::create(dir.path().join("stderr")).unwrap();
        let mut child = cmd
            .env("HARVCRED_FAULT_AT", format!("{step}@{node}"))
            .env("HARVCRED_FAULT_DIR", dir.path())
            .stdin(Stdio::piped())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(input).unwrap();
        drop(stdin);
        Paused { child, dir }
    }

    /// Wait until harvcred says it is paused (`Ok(the point)`), or ended
    /// without reaching the point (`Err(its exit and output)`).
    pub fn wait_paused(&mut self, within: Duration) -> Result<String, String> {
        let paused = self.dir.path().join("paused");
        let deadline = Instant::now() + within;
        loop {
            if let Ok(s) = std::fs::read_to_string(&paused) {
                return Ok(s.trim().to_string());
            }
            if let Some(st) = self.child.try_wait().unwrap() {
                return Err(format!(
                    "ended ({st}) without reaching the fault point: {}",
                    self.output()
                ));
            }
            if Instant::now() >= deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                return Err(format!("not paused within {within:?}: {}", self.output()));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn resume(&self) {
        std::fs::write(self.dir.path().join("resume"), b"").unwrap();
    }

    /// SIGKILL: no cleanup, no last audit line.
    pub fn kill(&mut self) -> ExitStatus {
        self.child.kill().unwrap();
        self.child.wait().unwrap()
    }

    /// Wait for the end (killed after `within`: a hang is a failure).
    pub fn wait_end(&mut self, within: Duration) -> Result<ExitStatus, String> {
        let deadline = Instant::now() + within;
        loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                return Ok(st);
            }
            if Instant::now() >= deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                return Err(format!("did not end within {within:?}: {}", self.output()));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// What it printed so far, stdout then stderr.
    pub fn output(&self) -> String {
        let read = |n: &str| std::fs::read_to_string(self.dir.path().join(n)).unwrap_or_default();
        format!("{}{}", read("stdout"), read("stderr"))
    }
}

/// A node's files as bytes (read as root over SSH), for byte comparisons.
pub fn node_files(
    lab: &Lab,
    node: &str,
    paths: &[&str],
) -> std::collections::BTreeMap<String, Vec<u8>> {
    use base64::Engine;
    let list = paths.join(" ");
    let out = lab.ssh_ok(
        node,
        &format!(
            "sudo -n sh -c 'for f in {list}; do if [ -f \"$f\" ]; then printf \"%s \" \"$f\"; base64 -w0 < \"$f\"; echo; fi; done'"
        ),
    );
    out.lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(p, b)| {
            (
                p.to_string(),
                base64::engine::general_purpose::STANDARD.decode(b).unwrap(),
            )
        })
        .collect()
}

/// The names in a node's folder (hidden ones too), sorted.
pub fn node_dir_names(lab: &Lab, node: &str, dir: &Path) -> Vec<String> {
    let out = lab.ssh_ok(
        node,
        &format!("sudo -n ls -A {} 2>/dev/null || true", dir.display()),
    );
    out.lines().map(str::to_string).collect()
}
