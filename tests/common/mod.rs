//! Shared helpers for tests that run against a real lab (root needed).
#![allow(dead_code)]

pub mod faults;
pub mod matrix;
pub mod secrets;
pub mod tmux;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

pub const BIN: &str = env!("CARGO_BIN_EXE_harvcred");

/// Run `cmd` with `input` on its stdin (never in its arguments) and collect its output.
pub fn output_with_stdin(cmd: &mut Command, input: &[u8]) -> Output {
    use std::io::Write;
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    child.wait_with_output().unwrap()
}

/// A lab for one test; removed when dropped, also when the test panics.
pub struct Lab {
    pub dir: PathBuf,
    _tmp: tempfile::TempDir,
}

impl Lab {
    pub fn up(args: &[&str]) -> Lab {
        assert!(
            nix::unistd::geteuid().is_root(),
            "lab tests need root: run them with README's test command (scripts/dev test)"
        );
        let tmp = tempfile::Builder::new()
            .prefix("hclab")
            .tempdir_in("/tmp")
            .unwrap();
        let dir = tmp.path().join("lab");
        let mut cmd = Command::new(BIN);
        cmd.args(["lab", "up", "--dir"]).arg(&dir).args(args);
        let out = cmd.output().unwrap();
        // Dropping the guard cleans up even when `up` failed half-way.
        let lab = Lab { dir, _tmp: tmp };
        assert!(
            out.status.success(),
            "lab up failed: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        lab
    }

    pub fn ssh_config(&self) -> PathBuf {
        self.dir.join("ssh_config")
    }
    pub fn kubeconfig(&self) -> PathBuf {
        self.dir.join("kubeconfig")
    }

    /// Run a command on a node as rancher, through the lab's ssh_config.
    pub fn ssh(&self, node: &str, command: &str) -> Output {
        Command::new("ssh")
            .arg("-F")
            .arg(self.ssh_config())
            .args(["-o", "BatchMode=yes", node, command])
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    /// Like [`Lab::ssh`], asserting success and returning stdout.
    pub fn ssh_ok(&self, node: &str, command: &str) -> String {
        let out = self.ssh(node, command);
        assert!(
            out.status.success(),
            "ssh {node} {command}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Writes a journal entry that `journalctl -u rke2-server` shows, as root
    /// (`OBJECT_SYSTEMD_UNIT` from uid 0 is one of `-u`'s matches).
    /// `printf_message` goes through printf: `\\033` writes an ESC.
    pub fn inject_rke2_server_entry(&self, node: &str, printf_message: &str) {
        self.ssh_ok(
            node,
            &format!(
                "printf 'MESSAGE={printf_message}\\nOBJECT_SYSTEMD_UNIT=rke2-server.service\\nSYSLOG_IDENTIFIER=rke2-server\\n' | sudo logger --journald"
            ),
        );
    }

    /// journalctl processes on a node.
    pub fn journalctl_count(&self, node: &str) -> usize {
        // pgrep -c prints 0 and exits 1 when there is none.
        let out = self.ssh(node, "pgrep -c -x journalctl");
        String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
    }

    /// Polls briefly: the remote end needs a moment to see its stdin close.
    pub fn assert_no_journalctl_left(&self, nodes: &[&str], after: &str) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let left: Vec<(&str, usize)> = nodes
                .iter()
                .map(|n| (*n, self.journalctl_count(n)))
                .filter(|(_, c)| *c > 0)
                .collect();
            if left.is_empty() {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "journalctl still running {after}: {left:?}"
            );
            std::thread::sleep(std::time::Duration::from_millis(300));
        }
    }

    /// The installer's `rancher` password (the lab writes it at `up`).
    pub fn rancher_password(&self) -> String {
        std::fs::read_to_string(self.dir.join("rancher-password"))
            .unwrap()
            .trim()
            .to_string()
    }

    /// The operator can still log in on `node`: with the key over SSH, and
    /// with `password` through PAM.
    pub fn key_and_password_log_in(&self, node: &str, password: &str) -> bool {
        self.ssh(node, "true").status.success() && self.pam_accepts(node, password)
    }

    /// A real authentication through pam_unix's helper on the node, the
    /// password on its stdin (never an argument): true when the node accepts it.
    pub fn pam_accepts(&self, node: &str, password: &str) -> bool {
        let mut input = password.as_bytes().to_vec();
        input.push(0);
        let out = output_with_stdin(
            Command::new("ssh").arg("-F").arg(self.ssh_config()).args([
                "-o",
                "BatchMode=yes",
                node,
                "sudo -n unix_chkpwd rancher nullok",
            ]),
            &input,
        );
        match out.status.code() {
            Some(0) => true,
            Some(7) => false,
            other => panic!(
                "{node}: unix_chkpwd exited {other:?}: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        }
    }

    /// rancher's crypt hash in the node's /etc/shadow.
    pub fn shadow_hash(&self, node: &str) -> String {
        let line = self.ssh_ok(node, "sudo -n getent shadow rancher");
        line.split(':').nth(1).unwrap().to_string()
    }

    /// Whether `node` lets rancher in with `key` alone, over a new connection
    /// (no master, no agent, no other identity), host key checked.
    pub fn accepts_key(&self, node: &str, key: &Path) -> bool {
        let g = Command::new("ssh")
            .arg("-F")
            .arg(self.ssh_config())
            .args(["-G", node])
            .output()
            .unwrap();
        let g = String::from_utf8(g.stdout).unwrap();
        let opt = |k: &str| {
            g.lines()
                .find_map(|l| l.strip_prefix(&format!("{k} ")))
                .unwrap()
                .to_string()
        };
        let st = Command::new("ssh")
            .args(["-F", "/dev/null", "-i"])
            .arg(key)
            .args([
                "-o",
                &format!("UserKnownHostsFile={}", opt("userknownhostsfile")),
                "-o",
                "StrictHostKeyChecking=yes",
                "-o",
                "IdentitiesOnly=yes",
                "-o",
                "IdentityAgent=none",
                "-o",
                "BatchMode=yes",
                "-o",
                "ControlMaster=no",
                "-o",
                "ControlPath=none",
                "-o",
                "ConnectTimeout=10",
                "-l",
                "rancher",
                &opt("hostname"),
                "true",
            ])
            .stdin(Stdio::null())
            .output()
            .unwrap();
        st.status.success()
    }

    /// `harvcred lab reboot` of `nodes` (at once): each reboots and answers SSH again.
    pub fn reboot(&self, nodes: &[&str]) {
        let out = Command::new(BIN)
            .args(["lab", "reboot", "--dir"])
            .arg(&self.dir)
            .args(nodes)
            .output()
            .unwrap();
        assert!(out.status.success(), "lab reboot: {}", text(&out));
    }

    pub fn kubectl(&self, args: &[&str]) -> Output {
        Command::new("kubectl")
            .env("KUBECONFIG", self.kubeconfig())
            .args(args)
            .output()
            .unwrap()
    }

    pub fn kubectl_ok(&self, args: &[&str]) -> String {
        let out = self.kubectl(args);
        assert!(
            out.status.success(),
            "kubectl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// The Node's `Ready` condition status (`True`, `False`, `Unknown`, or
    /// empty when it cannot be read).
    pub fn node_ready(&self, node: &str) -> String {
        let out = self.kubectl(&[
            "get",
            "node",
            node,
            "-o",
            "jsonpath={.status.conditions[?(@.type==\"Ready\")].status}",
        ]);
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// A Harvester setting's `value` as the API stores it.
    pub fn setting_value(&self, name: &str) -> String {
        self.kubectl_ok(&[
            "get",
            "settings.harvesterhci.io",
            name,
            "-o",
            "jsonpath={.value}",
        ])
    }

    /// The lab API's request log: one JSON value per request that reached
    /// the API (verb, resource, name, dryRun, resourceVersion, code, ...).
    pub fn api_requests(&self) -> Vec<serde_json::Value> {
        self.request_log("api-requests.jsonl")
    }

    /// One of the lab's request logs: the API's `api-requests.jsonl` or the
    /// Rancher's `rancher-requests.jsonl`.
    pub fn request_log(&self, file: &str) -> Vec<serde_json::Value> {
        std::fs::read_to_string(self.dir.join(file))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    /// Where the request log ends now; pass it to [`Lab::api_writes_since`].
    pub fn api_log_mark(&self) -> usize {
        self.api_requests().len()
    }

    /// The writes (create, update, patch, delete) to `resource` `name` that
    /// reached the API after `mark`, whoever sent them.
    pub fn api_writes_since(
        &self,
        mark: usize,
        resource: &str,
        name: &str,
    ) -> Vec<serde_json::Value> {
        self.api_requests()
            .into_iter()
            .skip(mark)
            .filter(|r| {
                r["resource"] == resource
                    && r["name"] == name
                    && ["create", "update", "patch", "delete"]
                        .contains(&r["verb"].as_str().unwrap_or(""))
            })
            .collect()
    }

    pub fn record(&self) -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(self.dir.join("lab.json")).unwrap()).unwrap()
    }

    pub fn id(&self) -> String {
        self.record()["plan"]["id"].as_str().unwrap().to_string()
    }

    /// The lab's node addresses, in node order.
    pub fn node_ips(&self) -> Vec<String> {
        self.record()["plan"]["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["ip"].as_str().unwrap().to_string())
            .collect()
    }

    /// `10.213.7` for a lab on 10.213.7.0/24.
    pub fn subnet_prefix(&self) -> String {
        self.record()["plan"]["subnet"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o.to_string())
            .collect::<Vec<_>>()
            .join(".")
    }

    /// Take the lab down and assert that nothing of it is left on the machine.
    pub fn down_leaving_nothing(&self) {
        let (id, dir) = (self.id(), self.dir.clone());
        let out = self.down();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(leftovers(&id, &dir), Vec::<String>::new());
    }

    pub fn down(&self) -> Output {
        Command::new(BIN)
            .args(["lab", "down", "--dir"])
            .arg(&self.dir)
            .output()
            .unwrap()
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        let _ = self.down();
    }
}

/// Every scenario that reproduces a problem, for `Lab::up`.
pub const PROBLEM_SCENARIOS: [&str; 10] = [
    "--scenario",
    "certs-expiring",
    "--scenario",
    "kcm-cert-expired",
    "--scenario",
    "token-mismatch",
    "--scenario",
    "proxy-drift",
    "--scenario",
    "plaintext-password",
];

/// Everything of lab `id` still on the machine: namespaces, links, mounts, processes.
pub fn leftovers(id: &str, dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    let prefix = format!("{id}-");
    if let Ok(entries) = std::fs::read_dir("/run/netns") {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with(&prefix) {
                found.push(format!("netns {name}"));
            }
        }
    }
    for e in std::fs::read_dir("/sys/class/net").unwrap().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name == format!("{id}br")
            || (name.starts_with(&format!("{id}n")) && name[id.len() + 1..].parse::<u32>().is_ok())
        {
            found.push(format!("link {name}"));
        }
    }
    found.extend(harvcred::lab::cgroup::leftovers(id));
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let d = dir.to_string_lossy();
    for line in mountinfo.lines() {
        if let Some(mp) = line.split(' ').nth(4)
            && (mp.starts_with(&*d) || mp.starts_with(&format!("/run/netns/{prefix}")))
        {
            found.push(format!("mount {mp}"));
        }
    }
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        if let Ok(cmdline) = std::fs::read(e.path().join("cmdline")) {
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            if cmdline.contains(&*d) && !cmdline.contains("lab down") {
                found.push(format!(
                    "process {}: {cmdline}",
                    e.file_name().to_string_lossy()
                ));
            }
        }
    }
    found
}

/// A new ed25519 key pair `dir/name` (and `.pub`) without passphrase,
/// commented `name`.
pub fn keygen(dir: &Path, name: &str) -> PathBuf {
    let p = dir.join(name);
    let st = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", name, "-f"])
        .arg(&p)
        .status()
        .unwrap();
    assert!(st.success());
    p
}

/// `SHA256:...` of a key file, as `ssh-keygen -lf` prints it.
pub fn fingerprint(key: &Path) -> String {
    let out = Command::new("ssh-keygen")
        .arg("-lf")
        .arg(key)
        .output()
        .unwrap();
    assert!(out.status.success(), "ssh-keygen -lf {}", key.display());
    String::from_utf8(out.stdout)
        .unwrap()
        .split_whitespace()
        .nth(1)
        .unwrap()
        .to_string()
}

/// A command's stdout then stderr, for messages and searches.
pub fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Every file below `p`.
pub fn files_below(p: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(p).into_iter().flatten().flatten() {
        let path = e.path();
        if path.is_dir() {
            out.extend(files_below(&path));
        } else if path.is_file() {
            out.push(path);
        }
    }
    out
}

/// harvcred's own folders (config, state: audit log, harvcred.log) for a
/// test, in /tmp under `prefix`.
pub struct Home(pub tempfile::TempDir);

impl Home {
    pub fn new(prefix: &str) -> Home {
        Home(
            tempfile::Builder::new()
                .prefix(prefix)
                .tempdir_in("/tmp")
                .unwrap(),
        )
    }
    /// harvcred on `lab` with these folders.
    pub fn cmd(&self, lab: &Lab, args: &[&str]) -> Command {
        let mut c = Command::new(BIN);
        c.env("HOME", self.0.path())
            .env("XDG_STATE_HOME", self.0.path().join("state"))
            .env("XDG_CONFIG_HOME", self.0.path().join("config"))
            .env("XDG_RUNTIME_DIR", self.0.path().join("run"))
            .arg("--lab")
            .arg(&lab.dir)
            .args(args);
        c
    }
    /// `cmd`, run to its end with nothing on stdin.
    pub fn run(&self, lab: &Lab, args: &[&str]) -> Output {
        self.cmd(lab, args).stdin(Stdio::null()).output().unwrap()
    }
    pub fn state_dir(&self) -> PathBuf {
        self.0.path().join("state/harvcred")
    }
    pub fn audit(&self) -> String {
        std::fs::read_to_string(self.state_dir().join("audit.jsonl")).unwrap_or_default()
    }
    /// Every file harvcred left in its folders, concatenated.
    pub fn saved(&self) -> String {
        files_below(self.0.path())
            .iter()
            .map(|p| String::from_utf8_lossy(&std::fs::read(p).unwrap_or_default()).into_owned())
            .collect()
    }
}
