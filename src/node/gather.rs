//! One round trip per node: a shell script, run as root with `sudo sh -s`
//! (the script on stdin), prints every file the credential views need; the
//! console parses its output into [`NodeFiles`]. Keeping it to one command per
//! node is what makes a 50-node sweep cost about one mux round trip each
//! (reliability-and-performance.md, T4).
//!
//! Output, one record after another:
//! - `F <path>` then a line of base64 (the content);
//! - `M <path>` missing; `E <path>` present but unreadable;
//! - `T <epoch seconds>` the node's clock; `H <hostname>`;
//! - `L <sshd's "Accepted publickey ..." line>` of the connection the script
//!   came over (its client address and port are the script's `$1`, from
//!   `$SSH_CONNECTION`, which sudo would otherwise drop): which key harvcred
//!   logged in with.
//!
//! Only `rancher`'s line of `/etc/shadow` leaves the node.

use std::collections::BTreeMap;

use base64::Engine;
use zeroize::Zeroizing;

use crate::creds::report::{FileRead, NodeFiles};

/// Files read on every node, besides the certificate trees and `/oem/*.yaml`.
pub const FIXED_FILES: &[&str] = &[
    "/home/rancher/.ssh/authorized_keys",
    "/etc/environment",
    "/etc/rancher/rancherd/config.yaml",
    "/etc/rancher/rke2/config.yaml.d/40-rancherd.yaml",
    "/etc/rancher/rke2/config.yaml.d/50-rancher.yaml",
    "/etc/rancher/rke2/config.yaml.d/90-harvester-server.yaml",
    "/var/lib/rancher/rke2/server/token",
    "/var/lib/rancher/rke2/server/agent-token",
    "/var/lib/rancher/rke2/server/tls/server-ca.crt",
    "/var/lib/rancher/rke2/agent/server-ca.crt",
    "/oem/harvester.config",
];

pub use crate::model::{MAX_FILE_BYTES, MAX_OUTPUT_BYTES, SHADOW_RANCHER};
/// The most stdout harvcred reads from one node's script: the node's ceiling
/// in base64 plus the record lines, with room to spare. A node that sends
/// more is not running our script faithfully.
pub const MAX_STDOUT_BYTES: usize = MAX_OUTPUT_BYTES / 3 * 4 + 1024 * 1024;

/// The script; POSIX sh and coreutils only (SLE Micro has both).
pub fn script() -> String {
    script_under("")
}

/// The script's body, a plain shell file so it can be read and checked as
/// shell (`sh -n`, shellcheck) before it is ever sent.
pub const SCRIPT_BODY: &str = include_str!("../../assets/gather.sh");

/// The script reading a node's tree mounted under `root` (tests run it over
/// a fixture tree); paths are reported as the node sees them. The settings
/// the body expects go in front of it.
pub fn script_under(root: &str) -> String {
    assert!(!root.contains('\''), "root is put in single quotes");
    let fixed = FIXED_FILES.join(" ");
    assert!(
        !fixed.contains('\'') && !SHADOW_RANCHER.contains('\''),
        "settings are put in single quotes"
    );
    format!(
        "R='{root}'\nMAX_FILE={MAX_FILE_BYTES}\nMAX_OUTPUT={MAX_OUTPUT_BYTES}\nFIXED='{fixed}'\nSHADOW='{SHADOW_RANCHER}'\n{SCRIPT_BODY}"
    )
}

/// Why a script's output could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum GatherError {
    #[error("line {0}: unexpected output from the node (not a gather record)")]
    Garbled(usize),
    #[error("{0}: the content is not valid base64 (output cut short?)")]
    BadContent(String),
}

/// Parses the script's stdout.
pub fn parse(output: &[u8]) -> Result<NodeFiles, GatherError> {
    let mut files = BTreeMap::new();
    let mut node_time = None;
    let mut hostname = None;
    let mut login = None;
    let mut lines = output.split(|b| *b == b'\n').enumerate();
    while let Some((i, line)) = lines.next() {
        if line.is_empty() {
            continue;
        }
        let text = String::from_utf8_lossy(line);
        let (tag, rest) = text.split_at(text.find(' ').ok_or(GatherError::Garbled(i + 1))?);
        let rest = rest[1..].to_string();
        match tag {
            "F" => {
                let (_, content) = lines
                    .next()
                    .ok_or_else(|| GatherError::BadContent(rest.clone()))?;
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(content)
                    .map_err(|_| GatherError::BadContent(rest.clone()))?;
                files.insert(rest, FileRead::Content(Zeroizing::new(bytes)));
            }
            "M" => {
                files.insert(rest, FileRead::Missing);
            }
            "E" => {
                files.insert(rest, FileRead::Unreadable);
            }
            "B" => {
                files.insert(rest, FileRead::TooLarge);
            }
            "C" => {
                files.insert(rest, FileRead::OverOutputLimit);
            }
            "T" => node_time = rest.trim().parse::<i64>().ok(),
            "H" => hostname = Some(rest),
            "L" => login = crate::creds::keys::accepted_key_fingerprint(&rest),
            _ => return Err(GatherError::Garbled(i + 1)),
        }
    }
    Ok(NodeFiles {
        files,
        node_time,
        hostname,
        login_fingerprint: login,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::creds::level::{Level, Thresholds};
    use crate::creds::report::{Area, ClusterContext, assess_node};
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
    use std::path::Path;
    use std::process::{Command, Stdio};
    use time::macros::datetime;

    const TLS: &str = "var/lib/rancher/rke2/server/tls";
    const AGENT: &str = "var/lib/rancher/rke2/agent";
    /// Where a real node keeps the CA bundle of one unpacked image layer.
    const IMAGE_BUNDLE: &str = "var/lib/rancher/rke2/agent/containerd/io.containerd.snapshotter.v1.overlayfs/snapshots/17/fs/etc/ssl/certs/ca-certificates.crt";

    /// A self-signed CA (as RKE2 makes them) and a leaf it signed, as PEM.
    fn ca_and_leaf(
        ca_cn: &str,
        leaf_cn: &str,
        not_after: time::OffsetDateTime,
    ) -> (String, String) {
        let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.distinguished_name.push(DnType::CommonName, ca_cn);
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let issued = time::OffsetDateTime::now_utc() - time::Duration::days(30);
        ca.not_before = issued;
        ca.not_after = datetime!(2035-01-01 0:00 UTC);
        let ca_key = KeyPair::generate().unwrap();
        let ca_pem = ca.self_signed(&ca_key).unwrap().pem();
        let issuer = Issuer::new(ca, ca_key);
        let mut leaf = CertificateParams::new(vec!["kubernetes".to_string()]).unwrap();
        leaf.distinguished_name.push(DnType::CommonName, leaf_cn);
        leaf.not_before = issued;
        leaf.not_after = not_after;
        let leaf_pem = leaf
            .signed_by(&KeyPair::generate().unwrap(), &issuer)
            .unwrap()
            .pem();
        (ca_pem, leaf_pem)
    }

    /// A root that expired in 2020, like the old roots image bundles carry.
    fn expired_2020_root() -> String {
        let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.distinguished_name
            .push(DnType::CommonName, "AddTrust External CA Root");
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.not_before = datetime!(2000-05-30 10:48 UTC);
        ca.not_after = datetime!(2020-05-30 10:48 UTC);
        ca.self_signed(&KeyPair::generate().unwrap()).unwrap().pem()
    }

    fn put(root: &Path, rel: &str, bytes: &[u8]) {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, bytes).unwrap();
    }

    /// A server node's tree as Harvester lays it out: RKE2's certificates,
    /// the containerd snapshot tree of unpacked images, /oem, the rancher
    /// account's files.
    fn harvester_tree(root: &Path) {
        // RKE2's leaves last a year; these were issued a month ago.
        let far = time::OffsetDateTime::now_utc() + time::Duration::days(335);
        let (ca, leaf) = ca_and_leaf("rke2-server-ca@1735689600", "kube-apiserver", far);
        put(root, &format!("{TLS}/server-ca.crt"), ca.as_bytes());
        put(
            root,
            &format!("{TLS}/serving-kube-apiserver.crt"),
            (leaf + &ca).as_bytes(),
        );
        let (eca, eleaf) = ca_and_leaf("etcd-server-ca@1735689600", "etcd-server", far);
        put(root, &format!("{TLS}/etcd/server-ca.crt"), eca.as_bytes());
        put(
            root,
            &format!("{TLS}/etcd/server-client.crt"),
            eleaf.as_bytes(),
        );
        let (kca, kleaf) = ca_and_leaf(
            "kube-controller-manager-ca@1735689600",
            "kube-controller-manager",
            far,
        );
        put(
            root,
            &format!("{TLS}/kube-controller-manager/kube-controller-manager.crt"),
            (kleaf + &kca).as_bytes(),
        );
        let (sca, sleaf) = ca_and_leaf("kube-scheduler-ca@1735689600", "kube-scheduler", far);
        put(
            root,
            &format!("{TLS}/kube-scheduler/kube-scheduler.crt"),
            (sleaf + &sca).as_bytes(),
        );
        let (aca, aleaf) = ca_and_leaf("rke2-client-ca@1735689600", "system:node:node1", far);
        put(root, &format!("{AGENT}/client-ca.crt"), aca.as_bytes());
        put(
            root,
            &format!("{AGENT}/client-kubelet.crt"),
            (aleaf + &aca).as_bytes(),
        );
        put(root, &format!("{AGENT}/server-ca.crt"), ca.as_bytes());
        put(root, IMAGE_BUNDLE, expired_2020_root().as_bytes());
        put(
            root,
            &format!("{AGENT}/etc/containerd/certs.d/registry.local/ca.crt"),
            expired_2020_root().as_bytes(),
        );
        put(
            root,
            "oem/90_custom.yaml",
            b"name: Harvester Configuration\nstages:\n  initramfs:\n  - users:\n      rancher:\n        passwd: $6$x$y\n",
        );
        put(
            root,
            "oem/harvester.config",
            b"token: K10abc::server:def\nos:\n  hostname: node1\n",
        );
        put(root, "home/rancher/.ssh/authorized_keys", b"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGGFOMswY4ktRo2j4fU9viU7rFZtW81ncGnHA25rr0ZG ops@laptop\n");
        put(root, "etc/environment", b"");
        put(
            root,
            "etc/shadow",
            b"root:$6$r$rootsecret:19000:0:99999:7:::\nrancher:$6$s$rancherhash:19000:0:99999:7:::\n",
        );
    }

    fn run(root: &Path) -> std::process::Output {
        let out = Command::new("sh")
            .arg("-c")
            .arg(script_under(root.to_str().unwrap()))
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    /// The script run by a real `sh` over a fixture root: every file it
    /// reports is byte for byte the file in the tree, missing files are
    /// reported missing, and of /etc/shadow only rancher's line leaves.
    #[test]
    fn the_script_over_a_fake_root_reports_each_file_byte_for_byte() {
        let d = tempfile::tempdir().unwrap();
        harvester_tree(d.path());
        let out = run(d.path());
        let files = parse(&out.stdout).unwrap();
        assert!(files.node_time.unwrap() > 1_700_000_000);
        assert!(files.hostname.is_some());
        let mut compared = 0;
        for (path, read) in &files.files {
            if path == SHADOW_RANCHER {
                continue;
            }
            let on_disk = std::fs::read(d.path().join(path.trim_start_matches('/')));
            match read {
                FileRead::Content(c) => {
                    assert_eq!(&c[..], &on_disk.unwrap()[..], "{path}");
                    compared += 1;
                }
                FileRead::Missing => assert!(on_disk.is_err(), "{path} exists"),
                other => panic!("{path}: {other:?}"),
            }
        }
        for f in FIXED_FILES {
            assert!(files.files.contains_key(*f), "{f} not reported");
        }
        assert_eq!(
            files.files["/etc/rancher/rancherd/config.yaml"],
            FileRead::Missing
        );
        // 7 RKE2 certificate files, 2 /oem files, keys, environment, and the
        // fixed copies of server-ca.crt.
        assert!(compared >= 11, "{compared}");
        assert_eq!(
            files.text(SHADOW_RANCHER).unwrap(),
            "rancher:$6$s$rancherhash:19000:0:99999:7:::"
        );
        assert!(!String::from_utf8_lossy(&out.stdout).contains("cm9vdHNlY3JldA"));
    }

    /// Image layers' CA bundles and registry CAs are not node certificates:
    /// a healthy node with an expired 2020 root in an image stays healthy.
    #[test]
    fn only_rke2_certificate_files_are_read_not_image_bundles() {
        let d = tempfile::tempdir().unwrap();
        harvester_tree(d.path());
        let files = parse(&run(d.path()).stdout).unwrap();
        let crts: Vec<&String> = files.files.keys().filter(|p| p.ends_with(".crt")).collect();
        assert!(
            crts.iter()
                .all(|p| !p.contains("/containerd/") && !p.contains("/etc/")),
            "{crts:?}"
        );
        assert!(crts.contains(&&format!("/{TLS}/kube-scheduler/kube-scheduler.crt")));
        assert!(crts.contains(&&format!("/{AGENT}/client-kubelet.crt")));
        let r = assess_node(
            "node1",
            &files,
            &ClusterContext::default(),
            time::OffsetDateTime::now_utc(),
            &Thresholds::default(),
        );
        assert_eq!(
            r.level(Area::Certificates),
            Level::Ok,
            "{:?}",
            r.areas[&Area::Certificates]
        );
    }

    /// A name with a newline cannot make the script read a file that is not
    /// an RKE2 certificate (`find | while read` would read `/secret/x.crt`).
    #[test]
    fn a_file_name_with_a_newline_cannot_make_the_script_read_another_file() {
        let d = tempfile::tempdir().unwrap();
        harvester_tree(d.path());
        put(d.path(), "secret/stolen.crt", b"STOLEN-SECRET");
        put(d.path(), &format!("{TLS}/evil\n/secret/stolen.crt"), b"x");
        put(d.path(), &format!("{TLS}/odd\nname.crt"), b"y");
        let out = run(d.path());
        let files = parse(&out.stdout).unwrap();
        assert!(
            files
                .files
                .keys()
                .all(|p| !p.contains("secret") && !p.contains("evil") && !p.contains("odd")),
            "{:?}",
            files.files.keys().collect::<Vec<_>>()
        );
        assert!(!String::from_utf8_lossy(&out.stdout).contains("U1RPTEVO"));
    }

    /// A huge file is not sent, and the whole output has a ceiling on the node.
    #[test]
    fn every_file_and_the_whole_output_are_capped_on_the_node() {
        let d = tempfile::tempdir().unwrap();
        harvester_tree(d.path());
        put(
            d.path(),
            &format!("{TLS}/huge.crt"),
            &vec![b'A'; 2 * MAX_FILE_BYTES],
        );
        let files = parse(&run(d.path()).stdout).unwrap();
        assert_eq!(files.files[&format!("/{TLS}/huge.crt")], FileRead::TooLarge);
        assert!(files.files[&format!("/{TLS}/serving-kube-apiserver.crt")].is_content());
        // Many files just under the per-file cap: the output stops at the
        // node's ceiling and says which files it left out.
        for i in 0..(MAX_OUTPUT_BYTES / MAX_FILE_BYTES + 4) {
            put(
                d.path(),
                &format!("{TLS}/big-{i:02}.crt"),
                &vec![b'B'; MAX_FILE_BYTES - 1],
            );
        }
        let out = run(d.path());
        assert!(
            out.stdout.len() <= MAX_OUTPUT_BYTES * 4 / 3 + 64 * 1024,
            "{}",
            out.stdout.len()
        );
        let files = parse(&out.stdout).unwrap();
        let left_out = files
            .files
            .values()
            .filter(|r| **r == FileRead::OverOutputLimit)
            .count();
        assert!(left_out >= 3, "{left_out}");
        assert!(out.stdout.len() <= MAX_STDOUT_BYTES);
    }

    #[test]
    fn records_round_trip_and_garbage_is_an_error_not_a_guess() {
        let out = b"T 1700000000\nH node1\nF /a b.crt\naGVsbG8=\nM /gone\nE /secret\n";
        let files = parse(out).unwrap();
        match &files.files["/a b.crt"] {
            FileRead::Content(c) => assert_eq!(&c[..], b"hello"),
            other => panic!("{other:?}"),
        }
        assert_eq!(files.files["/gone"], FileRead::Missing);
        assert_eq!(files.files["/secret"], FileRead::Unreadable);
        assert_eq!(
            parse(b"Welcome to node1\n").unwrap_err(),
            GatherError::Garbled(1)
        );
        assert!(matches!(
            parse(b"F /x\n!!!\n"),
            Err(GatherError::BadContent(_))
        ));
    }
}
