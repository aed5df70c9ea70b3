//! The secrets scan (issue 19): recognisable sentinel secrets, a sampler of
//! every process's arguments and environment on the machine while a flow
//! runs (the lab's nodes are containers on the same kernel, so the host's
//! /proc shows their processes too), and afterwards a search of every file
//! and output the test can reach: harvcred's folders (audit log, its log,
//! rollback records), the lab's folder (the API's request log, the
//! supervisor's and nodes' console logs, every file a node wrote: its
//! overlay's upper layer and /oem), the nodes' tmpfs folders, the outputs
//! and screens the test collected.
//!
//! ```ignore
//! let pw = Sentinel::new(Kind::Password);
//! let mut scan = SecretScan::start(&lab, &[&pw]);
//! let out = home.run(&lab, &[...]);
//! scan.output("password set", &out);
//! scan.finish(&home, "password_lab");
//! ```
//!
//! `finish` appends the figures to `target/tmp/reliability/secrets-<file>.jsonl`
//! and fails the test when a sentinel was found anywhere it must not be, or
//! when the sampler never saw harvcred run (a scan that cannot fail).

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;

use super::{BIN, Home, Lab, output_with_stdin};

/// Every sentinel made here starts with it: a person reading a leak knows
/// it for one at a glance.
pub const MARKER: &str = "HcSnt";

/// What a sentinel stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    Password,
    /// A crypt hash of a password: secret too (it confirms guesses offline),
    /// but expected in /etc/shadow and /oem.
    PasswordHash,
    Token,
    PrivateKey,
    RegistryPassword,
    ProxyPassword,
    CloudCredential,
}

impl Kind {
    fn tag(self) -> &'static str {
        match self {
            Kind::Password => "pw",
            Kind::PasswordHash => "hash",
            Kind::Token => "tok",
            Kind::PrivateKey => "key",
            Kind::RegistryPassword => "reg",
            Kind::ProxyPassword => "px",
            Kind::CloudCredential => "cc",
        }
    }
}

/// One secret a test hands to harvcred, the forms it is searched in, and
/// the places it must live (where finding it is expected, not a leak).
#[derive(Clone)]
pub struct Sentinel {
    pub kind: Kind,
    value: String,
    /// (form, bytes): the value itself, its base64 at the three alignments,
    /// or a PEM's body lines.
    needles: Vec<(&'static str, Vec<u8>)>,
    /// Path fragments of the places it must live: lab-relative files
    /// (`upper/etc/shadow`), `node:/path` for the nodes' tmpfs files.
    homes: Vec<String>,
}

impl std::fmt::Debug for Sentinel {
    /// Never the value: a failing assert prints the kind only.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Sentinel({:?})", self.kind)
    }
}

impl Sentinel {
    /// `HcSnt<kind>-<16 random letters and digits>`: valid as a password (24
    /// characters), a short token, a URL's password or a registry's.
    pub fn new(kind: Kind) -> Sentinel {
        use rand::Rng as _;
        let random: String = rand::rng()
            .sample_iter(rand::distr::Alphanumeric)
            .take(16)
            .map(char::from)
            .collect();
        Sentinel::of(kind, &format!("{MARKER}{}-{random}", kind.tag()))
    }

    /// A secret the test did not choose (the lab's cluster token, a hash
    /// read back from a node): searched as it is, and in base64.
    pub fn of(kind: Kind, value: &str) -> Sentinel {
        assert!(
            value.len() >= 12,
            "a secret this short would be found by chance"
        );
        let mut needles = vec![("plain", value.as_bytes().to_vec())];
        needles.extend(base64_forms(value.as_bytes()));
        Sentinel {
            kind,
            value: value.to_string(),
            needles,
            homes: Vec::new(),
        }
    }

    /// A private key in PEM: its body lines are what a leak shows (JSON
    /// escapes the line breaks, a log may cut the block), so each long one
    /// is searched on its own.
    pub fn private_key(pem: &str) -> Sentinel {
        let needles: Vec<(&'static str, Vec<u8>)> = pem
            .lines()
            .map(str::trim)
            .filter(|l| l.len() >= 40 && !l.starts_with("-----"))
            .map(|l| ("PEM body line", l.as_bytes().to_vec()))
            .collect();
        assert!(!needles.is_empty(), "a PEM key with a body");
        Sentinel {
            kind: Kind::PrivateKey,
            value: pem.to_string(),
            needles,
            homes: Vec::new(),
        }
    }

    /// The crypt hash `node` holds now for rancher. It must live in the
    /// node's /etc/shadow (and chpasswd's `shadow-` backup) and in /oem
    /// (harvcred's CloudInit file, an edited installer file, their backups).
    pub fn password_hash(lab: &Lab, node: &str) -> Sentinel {
        Sentinel::of(Kind::PasswordHash, &lab.shadow_hash(node))
            .lives_in(&["/upper/etc/shadow", "/oem/"])
    }

    /// Where it must live: path fragments (see [`Sentinel::homes`]).
    pub fn lives_in(mut self, places: &[&str]) -> Sentinel {
        self.homes.extend(places.iter().map(|p| p.to_string()));
        self
    }

    pub fn value(&self) -> &str {
        &self.value
    }

    fn home_of(&self, place: &str) -> bool {
        self.homes.iter().any(|h| place.contains(h.as_str()))
    }

    /// The first form of it in `bytes`, if any.
    fn found_in(&self, bytes: &[u8]) -> Option<&'static str> {
        self.needles
            .iter()
            .find(|(_, n)| memchr::memmem::find(bytes, n).is_some())
            .map(|(form, _)| *form)
    }
}

/// The value's base64 at each of the three alignments it can have inside a
/// longer encoded text, without the characters its neighbours change.
fn base64_forms(value: &[u8]) -> Vec<(&'static str, Vec<u8>)> {
    (0..3)
        .map(|pad| {
            let mut bytes = vec![b'x'; pad];
            bytes.extend_from_slice(value);
            let enc = base64::engine::general_purpose::STANDARD.encode(&bytes);
            let start = if pad == 0 { 0 } else { 4 };
            ("base64", enc.as_bytes()[start..enc.len() - 4].to_vec())
        })
        .collect()
}

/// A process as the sampler classes it.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum Class {
    Host,
    /// A process of one of this lab's nodes (its cgroup is the node's).
    LabNode,
    /// Another container's (another test's lab).
    Other,
}

#[derive(Default)]
struct Sampled {
    /// Every distinct argument list and environment, with where it was first seen.
    texts: BTreeMap<Vec<u8>, String>,
    classes: BTreeMap<u32, Class>,
    /// The argument list each process was last read with: its environment
    /// is read again only after an exec.
    last_cmdline: BTreeMap<u32, Vec<u8>>,
    samples: u64,
    /// Sweeps that saw a harvcred command (not `harvcred lab ...`) running.
    flow_samples: u64,
    reads: u64,
}

/// One sweep of /proc.
fn sweep(s: &mut Sampled, own_pid_ns: &Path, lab_cgroup: &str, bin: &[u8]) {
    let mut flow = false;
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else {
            continue;
        };
        let dir = e.path();
        let Ok(cmdline) = std::fs::read(dir.join("cmdline")) else {
            continue;
        };
        s.reads += 1;
        if cmdline.is_empty() {
            continue; // a kernel thread, or a process that just ended
        }
        let class = *s.classes.entry(pid).or_insert_with(|| {
            let cgroup = std::fs::read_to_string(dir.join("cgroup")).unwrap_or_default();
            if cgroup.contains(lab_cgroup) {
                Class::LabNode
            } else if std::fs::read_link(dir.join("ns/pid")).ok()
                == std::fs::read_link(own_pid_ns).ok()
            {
                Class::Host
            } else {
                Class::Other
            }
        });
        if cmdline.starts_with(bin) && !cmdline[bin.len()..].starts_with(b"\0lab\0") {
            flow = true;
        }
        let exec_seen = s.last_cmdline.get(&pid) == Some(&cmdline);
        if !exec_seen {
            if let Ok(environ) = std::fs::read(dir.join("environ")) {
                s.reads += 1;
                s.texts
                    .entry(environ)
                    .or_insert_with(|| format!("environment of {class:?} process {pid}"));
            }
            s.last_cmdline.insert(pid, cmdline.clone());
        }
        s.texts
            .entry(cmdline)
            .or_insert_with(|| format!("arguments of {class:?} process {pid}"));
    }
    s.samples += 1;
    if flow {
        s.flow_samples += 1;
    }
}

/// A scan in progress: the sampler runs from [`SecretScan::start`] to
/// [`SecretScan::finish`].
pub struct SecretScan {
    secrets: Vec<Sentinel>,
    lab_dir: PathBuf,
    ssh_config: PathBuf,
    nodes: Vec<String>,
    outputs: Vec<(String, Vec<u8>)>,
    stop: Arc<AtomicBool>,
    sampled: Arc<Mutex<Sampled>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// Where a sentinel was found, without the sentinel.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Finding {
    pub secret: Kind,
    pub form: &'static str,
    pub place: String,
}

/// What one scan looked at and found: one line of the report file.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Figures {
    pub file: String,
    pub test: String,
    pub secrets: usize,
    pub kinds: Vec<Kind>,
    /// Sweeps of every process's arguments and environment.
    pub samples: u64,
    /// Sweeps taken while a harvcred command was running.
    pub flow_samples: u64,
    pub host_processes_sampled: usize,
    pub node_processes_sampled: usize,
    pub other_processes_sampled: usize,
    /// Distinct argument lists and environments searched.
    pub process_texts: usize,
    pub proc_reads: u64,
    pub harvcred_files_scanned: usize,
    pub lab_files_scanned: usize,
    pub node_tmpfs_files_scanned: usize,
    pub bytes_scanned: u64,
    pub outputs_scanned: usize,
    /// Processes, files and outputs searched.
    pub places: usize,
    /// Where a sentinel had to be and was (a hash in /etc/shadow, a
    /// rollback record at 0600).
    pub expected: Vec<Finding>,
    pub found: usize,
    pub leaks: Vec<Finding>,
}

impl SecretScan {
    /// Starts sampling every process on the machine (every 2 ms).
    pub fn start(lab: &Lab, secrets: &[&Sentinel]) -> SecretScan {
        let lab_cgroup = format!("/harvcred-{}-", lab.id());
        let nodes = lab.record()["plan"]["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["name"].as_str().unwrap().to_string())
            .collect();
        let stop = Arc::new(AtomicBool::new(false));
        let sampled = Arc::new(Mutex::new(Sampled::default()));
        let (s, out) = (stop.clone(), sampled.clone());
        let thread = std::thread::spawn(move || {
            let own_ns = PathBuf::from(format!("/proc/{}/ns/pid", std::process::id()));
            while !s.load(Ordering::Relaxed) {
                sweep(
                    &mut out.lock().unwrap(),
                    &own_ns,
                    &lab_cgroup,
                    BIN.as_bytes(),
                );
                std::thread::sleep(Duration::from_millis(2));
            }
        });
        SecretScan {
            secrets: secrets.iter().map(|s| (*s).clone()).collect(),
            lab_dir: lab.dir.clone(),
            ssh_config: lab.ssh_config(),
            nodes,
            outputs: Vec::new(),
            stop,
            sampled,
            thread: Some(thread),
        }
    }

    /// A secret known only later (a hash read back from a node).
    pub fn add(&mut self, secret: Sentinel) {
        self.secrets.push(secret);
    }

    /// A command's stdout and stderr (panic output included).
    pub fn output(&mut self, what: &str, out: &Output) {
        self.text(&format!("stdout of {what}"), &out.stdout);
        self.text(&format!("stderr of {what}"), &out.stderr);
    }

    /// Any text a user sees (a JSON output, a screen).
    pub fn text(&mut self, what: &str, text: impl AsRef<[u8]>) {
        self.outputs
            .push((what.to_string(), text.as_ref().to_vec()));
    }

    fn search(
        &self,
        place: &str,
        bytes: &[u8],
        expected: &mut Vec<Finding>,
        leaks: &mut Vec<Finding>,
    ) {
        for s in &self.secrets {
            if let Some(form) = s.found_in(bytes) {
                let f = Finding {
                    secret: s.kind,
                    form,
                    place: place.to_string(),
                };
                if s.home_of(place) {
                    expected.push(f);
                } else {
                    leaks.push(f);
                }
            }
        }
    }

    /// Stops the sampler, searches everything, records the figures to
    /// `secrets-<file>.jsonl` and fails on any leak or an idle sampler.
    pub fn finish(mut self, home: &Home, file: &str) -> Figures {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.take().unwrap().join().unwrap();
        let sampled = std::mem::take(&mut *self.sampled.lock().unwrap());
        let (mut expected, mut leaks) = (Vec::new(), Vec::new());
        for (text, place) in &sampled.texts {
            self.search(place, text, &mut expected, &mut leaks);
        }
        let mut bytes_scanned = 0u64;

        // harvcred's folders: a rollback record may hold a value it must
        // restore, then only readable by its owner.
        let harvcred_files = plain_files_below(home.0.path());
        for p in &harvcred_files {
            let bytes = std::fs::read(p).unwrap_or_default();
            bytes_scanned += bytes.len() as u64;
            let mut here = Vec::new();
            self.search(&p.display().to_string(), &bytes, &mut Vec::new(), &mut here);
            let private = std::fs::metadata(p).is_ok_and(|m| m.permissions().mode() & 0o077 == 0);
            for f in here {
                if p.to_string_lossy().contains("/rollback/") && private {
                    expected.push(Finding {
                        place: format!("rollback record (0600) {}", p.display()),
                        ..f
                    });
                } else {
                    leaks.push(f);
                }
            }
        }

        // The lab's folder: its logs, and what every node wrote.
        let lab_files = plain_files_below(&self.lab_dir);
        for p in &lab_files {
            let bytes = std::fs::read(p).unwrap_or_default();
            bytes_scanned += bytes.len() as u64;
            let rel = p.strip_prefix(&self.lab_dir).unwrap().display().to_string();
            self.search(&rel, &bytes, &mut expected, &mut leaks);
        }

        // The nodes' tmpfs folders, which no host folder holds.
        let mut node_tmpfs_files = 0;
        for node in &self.nodes {
            let (count, hits) = self.grep_node_tmpfs(node);
            node_tmpfs_files += count;
            for path in hits {
                let place = format!("{node}:{path}");
                let bytes = self.node_file(node, &path);
                self.search(&place, &bytes, &mut expected, &mut leaks);
            }
        }

        for (what, text) in &self.outputs {
            bytes_scanned += text.len() as u64;
            self.search(what, text, &mut expected, &mut leaks);
        }

        let count = |c: Class| sampled.classes.values().filter(|k| **k == c).count();
        let mut kinds: Vec<Kind> = self.secrets.iter().map(|s| s.kind).collect();
        kinds.sort();
        kinds.dedup();
        let figures = Figures {
            file: file.to_string(),
            test: std::thread::current().name().unwrap_or("?").to_string(),
            secrets: self.secrets.len(),
            kinds,
            samples: sampled.samples,
            flow_samples: sampled.flow_samples,
            host_processes_sampled: count(Class::Host),
            node_processes_sampled: count(Class::LabNode),
            other_processes_sampled: count(Class::Other),
            process_texts: sampled.texts.len(),
            proc_reads: sampled.reads,
            harvcred_files_scanned: harvcred_files.len(),
            lab_files_scanned: lab_files.len(),
            node_tmpfs_files_scanned: node_tmpfs_files,
            bytes_scanned,
            outputs_scanned: self.outputs.len(),
            places: count(Class::Host)
                + count(Class::LabNode)
                + harvcred_files.len()
                + lab_files.len()
                + node_tmpfs_files
                + self.outputs.len(),
            found: leaks.len(),
            expected,
            leaks,
        };
        super::matrix::append_report(
            &format!("secrets-{file}"),
            &serde_json::to_string(&figures).unwrap(),
        );
        assert!(
            figures.flow_samples > 0 && figures.node_processes_sampled > 0,
            "the sampler never saw harvcred run, or no node process: {figures:#?}"
        );
        assert!(
            figures.leaks.is_empty(),
            "a secret was found where it must not be: {:#?}",
            figures.leaks
        );
        figures
    }

    /// How many files the node's tmpfs folders hold, and those that hold
    /// a needle (the needles go on grep's stdin, never in an argument).
    fn grep_node_tmpfs(&self, node: &str) -> (usize, Vec<String>) {
        let mut needles = zeroize::Zeroizing::new(Vec::new());
        for s in &self.secrets {
            for (_, n) in &s.needles {
                needles.extend_from_slice(n);
                needles.push(b'\n');
            }
        }
        let out = output_with_stdin(
            Command::new("ssh").arg("-F").arg(&self.ssh_config).args([
                "-o",
                "BatchMode=yes",
                node,
                "sudo -n sh -c 'D=\"/run /tmp /var/tmp /dev/shm\"; find $D -type f 2>/dev/null | wc -l; grep -rlsF -f - $D; true'",
            ]),
            &needles,
        );
        assert!(
            out.status.success(),
            "{node}: scanning its tmpfs: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let mut lines = text.lines();
        let count = lines.next().unwrap_or("0").trim().parse().unwrap();
        (count, lines.map(str::to_string).collect())
    }

    fn node_file(&self, node: &str, path: &str) -> Vec<u8> {
        Command::new("ssh")
            .arg("-F")
            .arg(&self.ssh_config)
            .args(["-o", "BatchMode=yes", node, "sudo", "-n", "cat", "--", path])
            .stdin(Stdio::null())
            .output()
            .map(|o| o.stdout)
            .unwrap_or_default()
    }
}

impl Drop for SecretScan {
    /// A test that fails before `finish` stops the sampler too.
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Every regular file below `dir`, into the file systems mounted there (a
/// node's `/oem` is a tmpfs of its own) but without following symlinks (a
/// node's tree has absolute links that would lead into the host's folders).
pub fn plain_files_below(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    let mut seen = BTreeSet::new();
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let Ok(m) = e.metadata() else { continue };
            if !seen.insert((m.dev(), m.ino())) {
                continue;
            }
            if m.is_dir() {
                todo.push(e.path());
            } else if m.is_file() {
                out.push(e.path());
            }
        }
    }
    out.sort();
    out
}
