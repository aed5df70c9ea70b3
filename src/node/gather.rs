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
    "/var/lib/rancher/rke2/server/token",
    "/var/lib/rancher/rke2/server/tls/server-ca.crt",
    "/var/lib/rancher/rke2/agent/server-ca.crt",
    "/oem/harvester.config",
];

/// The pseudo-path under which `rancher`'s shadow line is reported.
pub const SHADOW_RANCHER: &str = "/etc/shadow#rancher";

/// The script; POSIX sh and coreutils only (SLE Micro has both).
pub fn script() -> String {
    let fixed = FIXED_FILES.join(" ");
    format!(
        r#"export LC_ALL=C
conn=${{1-}}
set -- $conn
if [ -n "${{2-}}" ]; then
  l=$(journalctl _COMM=sshd -o cat -r -n 5000 --no-pager 2>/dev/null | grep -m1 -F "from $1 port $2 ssh2")
  [ -n "$l" ] && printf 'L %s\n' "$l"
fi
emit() {{
  if [ -f "$1" ]; then
    if [ -r "$1" ]; then printf 'F %s\n' "$1"; base64 -w0 < "$1"; printf '\n'
    else printf 'E %s\n' "$1"; fi
  else printf 'M %s\n' "$1"; fi
}}
printf 'T %s\n' "$(date +%s)"
printf 'H %s\n' "$(hostname)"
for f in {fixed}; do emit "$f"; done
for f in /oem/*.yaml /oem/*.yml; do [ -e "$f" ] && emit "$f"; done
find /var/lib/rancher/rke2/server/tls /var/lib/rancher/rke2/agent -name '*.crt' -type f 2>/dev/null | sort | while IFS= read -r f; do emit "$f"; done
line=$(grep '^rancher:' /etc/shadow 2>/dev/null)
if [ -n "$line" ]; then printf 'F {SHADOW_RANCHER}\n'; printf '%s' "$line" | base64 -w0; printf '\n'
elif [ -r /etc/shadow ]; then printf 'M {SHADOW_RANCHER}\n'
else printf 'E {SHADOW_RANCHER}\n'; fi
"#
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
    use std::process::{Command, Stdio};

    /// The script run by a real `sh` over a fake root: what it prints parses
    /// back to the files' bytes, missing and unreadable ones are told apart.
    #[test]
    fn the_script_runs_in_sh_and_its_output_parses_back_to_the_files() {
        let out = Command::new("sh")
            .arg("-c")
            .arg(
                script()
                    .replace("'^rancher:' /etc/shadow", "'^rancher:' /nonexistent-shadow")
                    .replace("-r /etc/shadow", "-r /nonexistent-shadow"),
            )
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(out.status.success());
        let files = parse(&out.stdout).unwrap();
        assert!(files.node_time.unwrap() > 1_700_000_000);
        assert!(files.hostname.is_some());
        for f in FIXED_FILES {
            assert!(files.files.contains_key(*f), "{f} not reported");
        }
        assert!(matches!(
            files.files[SHADOW_RANCHER],
            FileRead::Unreadable | FileRead::Missing
        ));
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
