//! SSH public keys of `rancher`: `authorized_keys` text, fingerprints, and the
//! drift between the runtime file and the persisted sources.
//!
//! Keys are compared by SHA256 fingerprint (the blob), never by text, so a
//! changed comment or options prefix is not drift. Types this build does not
//! know are kept as "unknown type" entries with a fingerprint computed over
//! their blob, exactly as `ssh-keygen -lf` does, so they still compare.

use super::level::{Finding, Level};
use base64::Engine as _;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};

/// What kind of entry a line is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum KeyKind {
    /// A key type ssh-key understands (ed25519, rsa, ecdsa, sk-*).
    Known,
    /// Well-formed, but a type this build does not know (still fingerprinted).
    UnknownType,
    /// yip's `github:<user>`: fetched from `https://github.com/<user>.keys` at boot.
    GitHub,
}

/// One `authorized_keys` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuthorizedKey {
    /// 1-based line (or list position for YAML lists).
    pub line: usize,
    /// Options prefix (`no-pty,command="…"`), if any.
    pub options: Option<String>,
    /// Key type token (`ssh-ed25519`), or `github` for GitHub entries.
    pub key_type: String,
    /// Known, unknown type, or GitHub.
    pub kind: KeyKind,
    /// `SHA256:…` as `ssh-keygen -lf` prints it; `github:<user>` for GitHub entries.
    pub fingerprint: String,
    /// Comment after the key (often `user@host`).
    pub comment: String,
    /// The entry as written (trimmed), so flows can write it back unchanged.
    pub raw: String,
}

impl AuthorizedKey {
    /// Short label for lists: `ssh-ed25519 SHA256:… (comment)`.
    pub fn label(&self) -> String {
        if self.comment.is_empty() {
            format!("{} {}", self.key_type, self.fingerprint)
        } else {
            format!("{} {} ({})", self.key_type, self.fingerprint, self.comment)
        }
    }
}

/// A line that could not be read as a key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("line {line}: {reason}")]
pub struct KeyLineError {
    /// 1-based line.
    pub line: usize,
    /// Why.
    pub reason: String,
}

/// Result of reading an `authorized_keys` text.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct AuthorizedKeys {
    /// Entries in file order (comments and blank lines dropped).
    pub entries: Vec<AuthorizedKey>,
    /// Lines that are not keys.
    pub errors: Vec<KeyLineError>,
}

/// Parses `authorized_keys` text: comments, blank lines, options prefixes,
/// unknown key types and `github:<user>` entries.
/// The key fingerprint in sshd's `Accepted publickey for USER from ADDR port
/// N ssh2: TYPE SHA256:…` log line; None for other lines and methods.
pub fn accepted_key_fingerprint(line: &str) -> Option<String> {
    if !line.contains("Accepted publickey for ") {
        return None;
    }
    let fp = line.split_whitespace().find(|w| w.starts_with("SHA256:"))?;
    let body = &fp["SHA256:".len()..];
    let base64ish = |c: char| c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '=');
    (!body.is_empty() && body.chars().all(base64ish)).then(|| fp.to_string())
}

pub fn parse_authorized_keys(text: &str) -> AuthorizedKeys {
    let mut out = AuthorizedKeys::default();
    for (i, line) in text.lines().enumerate() {
        match parse_key_line(line, i + 1) {
            Ok(Some(k)) => out.entries.push(k),
            Ok(None) => {}
            Err(e) => out.errors.push(e),
        }
    }
    out
}

/// Parses a list of entries (as found in YAML `authorized_keys.rancher`).
pub fn parse_key_list<S: AsRef<str>>(items: &[S]) -> AuthorizedKeys {
    let mut out = AuthorizedKeys::default();
    for (i, item) in items.iter().enumerate() {
        match parse_key_line(item.as_ref(), i + 1) {
            Ok(Some(k)) => out.entries.push(k),
            Ok(None) => {}
            Err(e) => out.errors.push(e),
        }
    }
    out
}

/// Parses one line; `Ok(None)` for blank lines and comments.
pub fn parse_key_line(line: &str, line_no: usize) -> Result<Option<AuthorizedKey>, KeyLineError> {
    let raw = line.trim();
    if raw.is_empty() || raw.starts_with('#') {
        return Ok(None);
    }
    let err = |reason: &str| KeyLineError {
        line: line_no,
        reason: reason.to_string(),
    };
    if let Some(user) = raw.strip_prefix("github:") {
        let user = user.trim();
        if user.is_empty() || user.contains(char::is_whitespace) {
            return Err(err("github: entry needs exactly one user name"));
        }
        return Ok(Some(AuthorizedKey {
            line: line_no,
            options: None,
            key_type: "github".into(),
            kind: KeyKind::GitHub,
            fingerprint: format!("github:{user}"),
            comment: String::new(),
            raw: raw.to_string(),
        }));
    }
    // Like sshd: first try the line as a bare key, then skip an options prefix.
    if let Some(k) = try_key(raw, None, line_no)? {
        return Ok(Some(k));
    }
    let (options, rest) = split_options(raw).ok_or_else(|| err("unterminated quote in options"))?;
    match try_key(rest.trim_start(), Some(options.to_string()), line_no)? {
        Some(mut k) => {
            k.raw = raw.to_string();
            Ok(Some(k))
        }
        None => Err(err(
            "not a public key (expected `[options] type base64 [comment]`)",
        )),
    }
}

/// Splits an options prefix off at the first unquoted blank.
fn split_options(s: &str) -> Option<(&str, &str)> {
    let mut quoted = false;
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        match c {
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            c if c.is_whitespace() && !quoted => return Some((&s[..i], &s[i..])),
            _ => {}
        }
    }
    if quoted { None } else { Some((s, "")) }
}

fn try_key(
    s: &str,
    options: Option<String>,
    line_no: usize,
) -> Result<Option<AuthorizedKey>, KeyLineError> {
    let mut parts = s.splitn(3, char::is_whitespace);
    let (Some(key_type), Some(b64)) = (parts.next(), parts.next()) else {
        return Ok(None);
    };
    let comment = parts.next().unwrap_or("").trim().to_string();
    let Ok(blob) = base64::engine::general_purpose::STANDARD.decode(b64.trim()) else {
        return Ok(None);
    };
    // The blob starts with its own type name (RFC 4253 string).
    if blob_type(&blob) != Some(key_type.as_bytes()) {
        if options.is_some() && blob.len() > 4 {
            return Err(KeyLineError {
                line: line_no,
                reason: format!("key type `{key_type}` does not match the key data"),
            });
        }
        return Ok(None);
    }
    let (kind, fingerprint) = match ssh_key::PublicKey::from_openssh(&format!("{key_type} {b64}")) {
        Ok(k) if !k.key_data().is_other() => (
            KeyKind::Known,
            k.fingerprint(ssh_key::HashAlg::Sha256).to_string(),
        ),
        _ => (KeyKind::UnknownType, blob_fingerprint(&blob)),
    };
    Ok(Some(AuthorizedKey {
        line: line_no,
        options,
        key_type: key_type.to_string(),
        kind,
        fingerprint,
        comment,
        raw: s.trim().to_string(),
    }))
}

fn blob_type(blob: &[u8]) -> Option<&[u8]> {
    let len = u32::from_be_bytes(blob.get(..4)?.try_into().ok()?) as usize;
    blob.get(4..4 + len)
}

/// `SHA256:<base64, no padding>` of a key blob, as OpenSSH prints it.
fn blob_fingerprint(blob: &[u8]) -> String {
    format!(
        "SHA256:{}",
        base64::engine::general_purpose::STANDARD_NO_PAD.encode(Sha256::digest(blob))
    )
}

/// Fingerprint of a public key file (`id_ed25519.pub`): which key the console logs in with.
pub fn fingerprint_public_key(text: &str) -> Result<AuthorizedKey, KeyLineError> {
    if text.contains("PRIVATE KEY-----") {
        return Err(KeyLineError {
            line: 1,
            reason: "this is a private key; give the .pub file".into(),
        });
    }
    let parsed = parse_authorized_keys(text);
    if let Some(e) = parsed.errors.into_iter().next() {
        return Err(e);
    }
    let mut keys = parsed
        .entries
        .into_iter()
        .filter(|k| k.kind != KeyKind::GitHub);
    match (keys.next(), keys.next()) {
        (Some(k), None) => Ok(k),
        (None, _) => Err(KeyLineError {
            line: 1,
            reason: "no public key in this file".into(),
        }),
        (Some(_), Some(_)) => Err(KeyLineError {
            line: 2,
            reason: "more than one key in this file".into(),
        }),
    }
}

/// Differences between the runtime `authorized_keys` and the persisted sources.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct KeyDrift {
    /// Fingerprints in both.
    pub in_both: Vec<String>,
    /// At runtime only: not restored by yip at boot.
    pub runtime_only: Vec<AuthorizedKey>,
    /// Persisted only: yip appends them again at the next boot.
    pub persisted_only: Vec<AuthorizedKey>,
    /// `github:<user>` entries: fetched at boot, cannot be compared offline.
    pub github: Vec<AuthorizedKey>,
}

/// Compares by fingerprint; duplicates count once.
pub fn key_drift(runtime: &[AuthorizedKey], persisted: &[AuthorizedKey]) -> KeyDrift {
    let fps = |v: &[AuthorizedKey]| -> BTreeSet<String> {
        v.iter()
            .filter(|k| k.kind != KeyKind::GitHub)
            .map(|k| k.fingerprint.clone())
            .collect()
    };
    let (r, p) = (fps(runtime), fps(persisted));
    let mut seen = BTreeSet::new();
    let mut only = |v: &[AuthorizedKey], other: &BTreeSet<String>, tag: u8| -> Vec<AuthorizedKey> {
        v.iter()
            .filter(|k| k.kind != KeyKind::GitHub && !other.contains(&k.fingerprint))
            .filter(|k| seen.insert((tag, k.fingerprint.clone())))
            .cloned()
            .collect()
    };
    KeyDrift {
        in_both: r.intersection(&p).cloned().collect(),
        runtime_only: only(runtime, &p, 0),
        persisted_only: only(persisted, &r, 1),
        github: persisted
            .iter()
            .chain(runtime)
            .filter(|k| k.kind == KeyKind::GitHub)
            .cloned()
            .collect(),
    }
}

impl KeyDrift {
    /// True when runtime and persisted sets agree.
    pub fn is_clean(&self) -> bool {
        self.runtime_only.is_empty() && self.persisted_only.is_empty()
    }

    /// Findings for the keys view and `harvcred status`.
    pub fn findings(&self, node: &str) -> Vec<Finding> {
        let subject = format!("{node} rancher SSH keys");
        let mut out = Vec::new();
        // /home persists on Harvester: a runtime-only key survives reboots.
        for k in &self.runtime_only {
            out.push(Finding::new(
                Level::Ok,
                subject.clone(),
                format!(
                    "{} is only in ~rancher/.ssh/authorized_keys: /home persists, so it stays after a reboot, but a reinstalled or newly added node will not have it (persist it in /oem or a CloudInit resource for that)",
                    k.label()
                ),
            ));
        }
        for k in &self.persisted_only {
            out.push(Finding::new(
                Level::Warn,
                subject.clone(),
                format!(
                    "{} is persisted but not in ~rancher/.ssh/authorized_keys: a key removed at runtime comes back from /oem at the next boot (yip appends it again), so it is not revoked; remove it from every /oem source and CloudInit resource too",
                    k.label()
                ),
            ));
        }
        for k in &self.github {
            out.push(Finding::new(
                Level::Ok,
                subject.clone(),
                format!(
                    "{} is fetched from https://github.com/{}.keys at boot and cannot be compared here",
                    k.raw,
                    k.fingerprint.trim_start_matches("github:")
                ),
            ));
        }
        if out.iter().all(|f| f.level == Level::Ok) {
            out.push(Finding::new(
                Level::Ok,
                subject,
                format!("{} key(s), runtime and persisted agree", self.in_both.len()),
            ));
        }
        out
    }
}

// ------------------------------------------------------------ new keys --

/// Keys pasted or read from a file, checked before anything is sent.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct NewKeys {
    /// Keys to add, in the order given (duplicates dropped).
    pub keys: Vec<AuthorizedKey>,
    /// What blocks the change (weak or unreadable keys, private keys).
    pub errors: Vec<String>,
    /// What does not block it (RSA < 3072, duplicates, already present).
    pub warnings: Vec<String>,
}

/// Bits of an RSA modulus (None for other key types).
pub fn rsa_bits(key: &AuthorizedKey) -> Option<usize> {
    let k = ssh_key::PublicKey::from_openssh(&format!(
        "{} {}",
        key.key_type,
        key.raw
            .split_whitespace()
            .skip_while(|w| *w != key.key_type)
            .nth(1)?
    ))
    .ok()?;
    let n = k.key_data().rsa()?.n.as_positive_bytes()?;
    let first = n.iter().position(|b| *b != 0)?;
    Some((n.len() - first) * 8 - n[first].leading_zeros() as usize)
}

/// Parses keys to add: one per line (an `authorized_keys` or `.pub` text),
/// `github:<user>` kept as such (yip fetches it at boot). Refuses DSA, RSA
/// under 2048 bits, unknown types and private keys; warns on RSA under 3072
/// bits; names duplicates and keys `present` already holds (fingerprints).
pub fn parse_new_keys(text: &str, present: &BTreeSet<String>) -> NewKeys {
    let mut out = NewKeys::default();
    if text.contains("PRIVATE KEY") {
        out.errors.push(
            "this is a private key: give the public key (.pub), never the private one".into(),
        );
        return out;
    }
    let parsed = parse_authorized_keys(text);
    for e in parsed.errors {
        out.errors.push(e.to_string());
    }
    let mut seen = BTreeSet::new();
    for k in parsed.entries {
        let at = format!("line {}", k.line);
        if k.key_type == "ssh-dss" {
            out.errors.push(format!(
                "{at}: DSA keys are refused (OpenSSH no longer accepts them)"
            ));
            continue;
        }
        if k.kind == KeyKind::UnknownType {
            out.errors.push(format!(
                "{at}: key type `{}` is not one harvcred can check",
                k.key_type
            ));
            continue;
        }
        if let Some(bits) = rsa_bits(&k) {
            if bits < 2048 {
                out.errors.push(format!(
                    "{at}: RSA key of {bits} bits is refused (at least 2048)"
                ));
                continue;
            }
            if bits < 3072 {
                out.warnings.push(format!(
                    "{at}: RSA key of {bits} bits: 3072 or more is recommended"
                ));
            }
        }
        if !seen.insert(k.fingerprint.clone()) {
            out.warnings.push(format!(
                "{at}: {} is given twice; added once",
                k.fingerprint
            ));
            continue;
        }
        if present.contains(&k.fingerprint) {
            out.warnings.push(format!(
                "{at}: {} is already present; nodes that have it are left as they are",
                k.fingerprint
            ));
        }
        out.keys.push(k);
    }
    if out.keys.is_empty() && out.errors.is_empty() {
        out.errors.push("no key given".into());
    }
    out
}

// ---------------------------------------------------------------- matrix --

/// One node's keys as read: runtime entries, persisted entries by source,
/// the key harvcred logged in with.
#[derive(Debug, Clone, Default)]
pub struct NodeKeys {
    pub node: String,
    pub runtime: Vec<AuthorizedKey>,
    /// (source, key): `/oem/90_custom.yaml: stages.network[0].authorized_keys.rancher`.
    pub persisted: Vec<(String, AuthorizedKey)>,
    pub login: Option<String>,
}

/// Where one key is on one node.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct KeyCell {
    pub runtime: bool,
    /// Persisted sources holding it.
    pub sources: Vec<String>,
    /// harvcred logged in to this node with it.
    pub login: bool,
}

/// One key across the nodes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeyRow {
    pub fingerprint: String,
    pub key_type: String,
    pub comment: String,
    /// Per node (every node of the matrix has a cell, maybe empty).
    pub nodes: BTreeMap<String, KeyCell>,
    /// Drift between runtime and persisted on some node: `runtime only`,
    /// `persisted only` (a key that comes back at boot, or is lost on a
    /// reinstall).
    pub drift: Vec<String>,
    /// On some of the nodes only: shown, not counted as drift (a key removed
    /// from one node on purpose is not a fault).
    pub some_nodes_only: bool,
}

/// Every key of every node (key x node), with drift marked.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct KeyMatrix {
    pub nodes: Vec<String>,
    pub keys: Vec<KeyRow>,
}

impl KeyMatrix {
    pub fn has_drift(&self) -> bool {
        self.keys.iter().any(|k| !k.drift.is_empty())
    }
}

/// Builds the matrix; keys in order of first appearance.
pub fn key_matrix(nodes: &[NodeKeys]) -> KeyMatrix {
    let mut rows: Vec<KeyRow> = Vec::new();
    let names: Vec<String> = nodes.iter().map(|n| n.node.clone()).collect();
    let row_of = |k: &AuthorizedKey, rows: &mut Vec<KeyRow>| -> usize {
        if let Some(i) = rows.iter().position(|r| r.fingerprint == k.fingerprint) {
            return i;
        }
        rows.push(KeyRow {
            fingerprint: k.fingerprint.clone(),
            key_type: k.key_type.clone(),
            comment: k.comment.clone(),
            nodes: names
                .iter()
                .map(|n| (n.clone(), KeyCell::default()))
                .collect(),
            drift: Vec::new(),
            some_nodes_only: false,
        });
        rows.len() - 1
    };
    for n in nodes {
        for k in &n.runtime {
            let i = row_of(k, &mut rows);
            rows[i].nodes.get_mut(&n.node).expect("named").runtime = true;
        }
        for (src, k) in &n.persisted {
            let i = row_of(k, &mut rows);
            let cell = rows[i].nodes.get_mut(&n.node).expect("named");
            if !cell.sources.contains(src) {
                cell.sources.push(src.clone());
            }
        }
    }
    for r in &mut rows {
        for n in nodes {
            let cell = r.nodes.get_mut(&n.node).expect("named");
            cell.login = n.login.as_deref() == Some(r.fingerprint.as_str());
        }
        let github = r.fingerprint.starts_with("github:");
        let cells: Vec<&KeyCell> = r.nodes.values().collect();
        if !github && cells.iter().any(|c| c.runtime && c.sources.is_empty()) {
            r.drift.push("runtime only".into());
        }
        if !github && cells.iter().any(|c| !c.runtime && !c.sources.is_empty()) {
            r.drift.push("persisted only".into());
        }
        r.some_nodes_only = cells.iter().any(|c| !c.runtime && c.sources.is_empty());
    }
    KeyMatrix {
        nodes: names,
        keys: rows,
    }
}

/// `authorized_keys` text without the entries whose fingerprint is in
/// `remove`: every other line (comments, options, blank lines) kept byte
/// for byte. None when nothing matched.
pub fn remove_from_authorized_keys(text: &str, remove: &BTreeSet<String>) -> Option<String> {
    let mut out = String::with_capacity(text.len());
    let mut removed = false;
    for (i, line) in text.split_inclusive('\n').enumerate() {
        let hit =
            matches!(parse_key_line(line, i + 1), Ok(Some(k)) if remove.contains(&k.fingerprint));
        if hit {
            removed = true;
        } else {
            out.push_str(line);
        }
    }
    removed.then_some(out)
}

/// `authorized_keys` text with `add` appended (those not already there).
/// None when every key is there already.
pub fn append_to_authorized_keys(text: &str, add: &[AuthorizedKey]) -> Option<String> {
    let have: BTreeSet<String> = parse_authorized_keys(text)
        .entries
        .into_iter()
        .map(|k| k.fingerprint)
        .collect();
    let mut out = text.to_string();
    let mut added = false;
    for k in add.iter().filter(|k| k.kind != KeyKind::GitHub) {
        if have.contains(&k.fingerprint) {
            continue;
        }
        if !out.is_empty() && !out.ends_with('\n') {
            out.push('\n');
        }
        out.push_str(&k.raw);
        out.push('\n');
        added = true;
    }
    added.then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ED: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGpJ3mTa8WlzMv1pYnR4S1dX2vT2mLkVQ0l8Yv3R6cQm";

    fn keygen(dir: &std::path::Path, name: &str, kind: &str) -> String {
        let p = dir.join(name);
        let st = std::process::Command::new("ssh-keygen")
            .args([
                "-q",
                "-t",
                kind,
                "-N",
                "",
                "-C",
                &format!("{name}@admin"),
                "-f",
            ])
            .arg(&p)
            .status()
            .expect("ssh-keygen is installed");
        assert!(st.success());
        std::fs::read_to_string(p.with_extension("pub")).unwrap()
    }

    fn keygen_fp(path: &std::path::Path) -> String {
        let out = std::process::Command::new("ssh-keygen")
            .arg("-lf")
            .arg(path)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout)
            .unwrap()
            .split_whitespace()
            .nth(1)
            .unwrap()
            .to_string()
    }

    #[test]
    fn fingerprints_match_ssh_keygen() {
        let dir = tempfile::tempdir().unwrap();
        for kind in ["ed25519", "rsa", "ecdsa"] {
            let pubkey = keygen(dir.path(), &format!("id_{kind}"), kind);
            let k = fingerprint_public_key(&pubkey).unwrap();
            assert_eq!(k.kind, KeyKind::Known);
            assert_eq!(k.comment, format!("id_{kind}@admin"));
            let want = keygen_fp(&dir.path().join(format!("id_{kind}.pub")));
            assert_eq!(k.fingerprint, want, "{kind}");
        }
    }

    #[test]
    fn unknown_types_options_comments_and_github() {
        let dir = tempfile::tempdir().unwrap();
        let key = keygen(dir.path(), "k", "ed25519");
        let key = key.trim();
        // A well-formed blob of a type nobody knows: string "ssh-foo" then 4 bytes.
        let mut blob = Vec::new();
        blob.extend_from_slice(&7u32.to_be_bytes());
        blob.extend_from_slice(b"ssh-foo");
        blob.extend_from_slice(&[0, 0, 0, 1, 42]);
        let foo = format!(
            "ssh-foo {} future key",
            base64::engine::general_purpose::STANDARD.encode(&blob)
        );
        let text = format!(
            "# managed by harvcred\n\n{key}\nno-pty,command=\"echo hi there\",from=\"10.0.0.0/8\" {key}\n  {foo}\ngithub:octocat\nnot a key at all\n"
        );
        let parsed = parse_authorized_keys(&text);
        assert_eq!(parsed.entries.len(), 4);
        assert_eq!(parsed.errors.len(), 1);
        assert_eq!(parsed.errors[0].line, 7);
        let e = &parsed.entries;
        assert_eq!(e[0].line, 3);
        assert_eq!(e[0].options, None);
        assert_eq!(
            e[1].options.as_deref(),
            Some("no-pty,command=\"echo hi there\",from=\"10.0.0.0/8\"")
        );
        assert_eq!(e[0].fingerprint, e[1].fingerprint);
        assert_eq!(e[1].comment, "k@admin");
        assert_eq!(e[2].kind, KeyKind::UnknownType);
        assert_eq!(e[2].key_type, "ssh-foo");
        assert_eq!(e[2].comment, "future key");
        // The same fingerprint ssh-keygen would print for any blob.
        assert_eq!(e[2].fingerprint, blob_fingerprint(&blob));
        assert_eq!(e[3].kind, KeyKind::GitHub);
        assert_eq!(e[3].fingerprint, "github:octocat");

        // ssh-keygen agrees on the options-prefixed line.
        let p = dir.path().join("ak");
        std::fs::write(&p, format!("no-pty,command=\"echo hi there\" {key}\n")).unwrap();
        assert_eq!(keygen_fp(&p), e[1].fingerprint);
    }

    #[test]
    fn mismatched_type_and_private_keys_are_errors() {
        let bad = ED.replace("ssh-ed25519", "ssh-rsa");
        // A bare mismatch looks like an options prefix followed by nothing usable.
        assert!(parse_key_line(&bad, 1).is_err());
        let err = fingerprint_public_key("-----BEGIN OPENSSH PRIVATE KEY-----\nxx\n").unwrap_err();
        assert!(err.reason.contains("private key"));
        assert!(fingerprint_public_key("\n# nothing\n").is_err());
        assert!(parse_key_line("command=\"unterminated ssh-ed25519 AAAA", 4).is_err());
    }

    #[test]
    fn drift_by_fingerprint() {
        let dir = tempfile::tempdir().unwrap();
        let a = keygen(dir.path(), "a", "ed25519");
        let b = keygen(dir.path(), "b", "ed25519");
        let c = keygen(dir.path(), "c", "ed25519");
        // Runtime has a (with another comment and options) and b; persisted has a, c, github.
        let a_opts = format!(
            "no-pty {} renamed",
            a.split_whitespace().take(2).collect::<Vec<_>>().join(" ")
        );
        let runtime = parse_authorized_keys(&format!("{a_opts}\n{b}"));
        let persisted = parse_key_list(&[a.trim(), c.trim(), "github:octocat"]);
        let d = key_drift(&runtime.entries, &persisted.entries);
        assert_eq!(d.in_both.len(), 1);
        assert_eq!(d.runtime_only.len(), 1);
        assert_eq!(d.runtime_only[0].comment, "b@admin");
        assert_eq!(d.persisted_only[0].comment, "c@admin");
        assert_eq!(d.github.len(), 1);
        assert!(!d.is_clean());
        let f = d.findings("node1");
        // /home persists: the runtime-only key is no warning; the persisted
        // one removed at runtime is, since it comes back at the next boot.
        assert_eq!(f.iter().filter(|f| f.level == Level::Warn).count(), 1);
        assert!(f.iter().any(|f| f.level == Level::Warn
            && f.message.contains("c@admin")
            && f.message.contains("comes back from /oem at the next boot")));
        assert!(f.iter().any(|f| f.level == Level::Ok
            && f.message.contains("b@admin")
            && f.message.contains("stays after a reboot")));
        assert!(!f.iter().any(|f| f.message.contains("gone after a reboot")));

        let same = key_drift(&persisted.entries[..1], &runtime.entries[..1]);
        assert!(same.is_clean());
        assert!(same.findings("n").iter().all(|f| f.level == Level::Ok));
    }

    #[test]
    fn the_login_key_is_read_from_sshds_accepted_line() {
        assert_eq!(
            accepted_key_fingerprint(
                "Accepted publickey for rancher from 10.213.5.1 port 40412 ssh2: ED25519 SHA256:q0xKzlTbU3pTm9Qe0yMpDh8W2n8yTqWRp1c3b2a1YzE"
            )
            .as_deref(),
            Some("SHA256:q0xKzlTbU3pTm9Qe0yMpDh8W2n8yTqWRp1c3b2a1YzE")
        );
        assert_eq!(
            accepted_key_fingerprint(
                "Accepted password for rancher from 10.213.5.1 port 40412 ssh2"
            ),
            None
        );
        // Anything but a fingerprint after SHA256: is not taken for one.
        assert_eq!(
            accepted_key_fingerprint(
                "Accepted publickey for x from y port 1 ssh2: RSA SHA256:\x1b[31m"
            ),
            None
        );
    }

    #[test]
    fn new_keys_refuse_dsa_and_short_rsa_warn_on_rsa_2048_and_keep_github() {
        let d = tempfile::tempdir().unwrap();
        let rsa1024 = keygen_bits(d.path(), "r1", "rsa", "1024");
        let rsa2048 = keygen_bits(d.path(), "r2", "rsa", "2048");
        let ed = keygen(d.path(), "e", "ed25519");
        let text = format!("{rsa1024}{rsa2048}github:octocat\n{ed}{ed}");
        let present = BTreeSet::from([parse_key_line(&ed, 1).unwrap().unwrap().fingerprint]);
        let n = parse_new_keys(&text, &present);
        assert_eq!(n.errors.len(), 1, "{n:?}");
        assert!(n.errors[0].contains("1024 bits is refused"), "{n:?}");
        assert!(n.warnings.iter().any(|w| w.contains("2048 bits")), "{n:?}");
        assert!(
            n.warnings.iter().any(|w| w.contains("given twice")),
            "{n:?}"
        );
        assert!(
            n.warnings.iter().any(|w| w.contains("already present")),
            "{n:?}"
        );
        let kept: Vec<&str> = n.keys.iter().map(|k| k.key_type.as_str()).collect();
        assert_eq!(kept, ["ssh-rsa", "github", "ssh-ed25519"]);
        let dsa = "ssh-dss AAAAB3NzaC1kc3MAAACBAP1/U4EddRIpUt9KnC7s5Of2EbdSPO9EAMMeP4C2USZpRV1AIlH7WT2NWPq/xfW6MPbLm1Vs14E7gB00b/JmYLdrmVClpJ+f6AR7ECLCT7up1/63xhv4O1fnxqimFQ8E+4P208UewwI1VBNaFpEy9nXzrith1yrv8iIDGZ3RSAHHAAAAFQCXYFCPFSMLzLKSuYKi64QL8Fgc9QAAAIEA9+GghdabPd7LvKtcNrhXuXmUr7v6OuqC+VdMCz0HgmdRWVeOutRZT+ZxBxCBgLRJFnEj6EwoFhO3zwkyjMim4TwWeotUfI0o4KOuHiuzpnWRbqN/C/ohNWLx+2J6ASQ7zKTxvqhRkImog9/hWuWfBpKLZl6Ae1UlZAFMO/7PSSoAAACBAJNi9Zs2WwKLcNs8vmYgAPpXj6yzQIwYeQvyDTJ6n+5SeRv3ZsF2+AMRBQhD2XRYDfk1lZpVeJNAIv6VBWjkfbyNqv3rC8xo4jcb+w8j5m0CtSHaCT+Eg4/I1iuBaFl2oQLg4SaRKmm0qg1EQzX8F2IbzTL2ToHzuSPBqjMAq1rN a@b\n";
        let n = parse_new_keys(dsa, &BTreeSet::new());
        assert!(n.errors.iter().any(|e| e.contains("DSA")), "{n:?}");
        let n = parse_new_keys("-----BEGIN OPENSSH PRIVATE KEY-----\nx\n", &BTreeSet::new());
        assert!(n.errors[0].contains("private key"), "{n:?}");
    }

    fn keygen_bits(dir: &std::path::Path, name: &str, kind: &str, bits: &str) -> String {
        let p = dir.join(name);
        let st = std::process::Command::new("ssh-keygen")
            .args(["-q", "-t", kind, "-b", bits, "-N", "", "-C", name, "-f"])
            .arg(&p)
            .status()
            .unwrap();
        assert!(st.success());
        std::fs::read_to_string(p.with_extension("pub")).unwrap()
    }

    #[test]
    fn the_matrix_marks_drift_and_the_login_key() {
        let d = tempfile::tempdir().unwrap();
        let a = parse_key_line(&keygen(d.path(), "a", "ed25519"), 1)
            .unwrap()
            .unwrap();
        let b = parse_key_line(&keygen(d.path(), "b", "ed25519"), 1)
            .unwrap()
            .unwrap();
        let src = "/oem/90_custom.yaml: stages.network[0].authorized_keys.rancher".to_string();
        let nodes = vec![
            NodeKeys {
                node: "node1".into(),
                runtime: vec![a.clone(), b.clone()],
                persisted: vec![(src.clone(), a.clone())],
                login: Some(a.fingerprint.clone()),
            },
            NodeKeys {
                node: "node2".into(),
                runtime: vec![a.clone()],
                persisted: vec![(src.clone(), a.clone())],
                login: None,
            },
        ];
        let m = key_matrix(&nodes);
        assert_eq!(m.keys.len(), 2);
        assert!(m.keys[0].drift.is_empty(), "{:?}", m.keys[0]);
        assert!(m.keys[0].nodes["node1"].login && !m.keys[0].nodes["node2"].login);
        assert_eq!(m.keys[1].drift, ["runtime only"]);
        assert!(m.keys[1].some_nodes_only && !m.keys[0].some_nodes_only);
        assert!(m.has_drift());
    }
}
