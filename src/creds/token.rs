//! The cluster token: its two formats, a display form that reveals nothing,
//! the CA hash check, and whether the copies on a node agree.
//!
//! RKE2 turns a short token `<pw>` into `K10::server:<pw>` and uses the
//! password part as the passphrase of the bootstrap data, so a short token and
//! a secure token with the same password are the same token. That is also why
//! the console never rotates it ("bootstrap data already found and encrypted
//! with different token").

use super::level::{Finding, Level};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fmt;
use zeroize::Zeroizing;

/// Where a copy of the token is kept on a node.
pub const TOKEN_PATHS: [&str; 5] = [
    "/var/lib/rancher/rke2/server/token",
    "/etc/rancher/rancherd/config.yaml",
    "/oem/harvester.config",
    "/etc/rancher/rke2/config.yaml.d/40-rancherd.yaml",
    "/oem/90_custom.yaml",
];

/// The message shown instead of a "rotate" action.
pub const WHY_NOT_ROTATED: &str = "the cluster token is never rotated: it is the passphrase that encrypts RKE2's bootstrap data, and after `rke2 token rotate` rke2-server failed on reboot with \"bootstrap data already found and encrypted with different token\" (rancher/rke2#6250)";

/// Token format.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "format", rename_all = "kebab-case")]
pub enum TokenFormat {
    /// `K10<sha256 of CA>::<user>:<password>`.
    Secure {
        /// CA hash, lower-case hex; `None` for `K10::user:pw`.
        ca_hash: Option<String>,
        /// `server` or `node` (others are reported as they are).
        user: String,
    },
    /// The password alone; the joining node does not verify the CA.
    Short,
}

/// A cluster token. Zeroised on drop; `Debug` and `Display` show only the
/// format and a short hash of the secret part.
#[derive(Clone)]
pub struct Token {
    value: Zeroizing<String>,
    format: TokenFormat,
    /// Byte offset of the password in `value`.
    pw_start: usize,
}

/// Why a token value was not accepted. Never contains the value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Empty value.
    #[error("the token is empty")]
    Empty,
    /// Whitespace or control characters inside.
    #[error("the token contains spaces or control characters")]
    BadChars,
    /// `K10…` without `::`.
    #[error("the token starts with K10 but has no `::` separator")]
    NoSeparator,
    /// CA hash not 64 hex digits.
    #[error("the CA hash of the token is not 64 hex digits")]
    BadHash,
    /// `K10<hash>::` without `user:password`.
    #[error("the token has no `user:password` after `::`")]
    NoCredentials,
    /// The YAML could not be read (position only; the text holds secrets).
    #[error("YAML syntax error{0}")]
    Yaml(String),
    /// `token:` is not a string.
    #[error("`token:` is not a string")]
    NotString,
    /// The file is not laid out so that the token can be replaced safely
    /// (what and where, never the value).
    #[error("{0}")]
    Layout(String),
}

impl Token {
    /// Parses a token value (surrounding whitespace is ignored: files end with a newline).
    pub fn parse(text: &str) -> Result<Token, TokenError> {
        let value = Zeroizing::new(text.trim().to_string());
        if value.is_empty() {
            return Err(TokenError::Empty);
        }
        if value.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(TokenError::BadChars);
        }
        if let Some(rest) = value.strip_prefix("K10") {
            let (hash, creds) = rest.split_once("::").ok_or(TokenError::NoSeparator)?;
            let ca_hash = if hash.is_empty() {
                None
            } else if hash.len() == 64 && hash.chars().all(|c| c.is_ascii_hexdigit()) {
                Some(hash.to_ascii_lowercase())
            } else {
                return Err(TokenError::BadHash);
            };
            let (user, pw) = creds.split_once(':').ok_or(TokenError::NoCredentials)?;
            if pw.is_empty() || user.is_empty() {
                return Err(TokenError::NoCredentials);
            }
            let pw_start = value.len() - pw.len();
            let format = TokenFormat::Secure {
                ca_hash,
                user: user.to_string(),
            };
            return Ok(Token {
                value,
                format,
                pw_start,
            });
        }
        Ok(Token {
            value,
            format: TokenFormat::Short,
            pw_start: 0,
        })
    }

    /// Secure or short, with CA hash and user.
    pub fn format(&self) -> &TokenFormat {
        &self.format
    }

    /// Short name of the format for tables: `secure (server)`, `short`.
    pub fn format_name(&self) -> String {
        match &self.format {
            TokenFormat::Secure { user, .. } => format!("secure ({user})"),
            TokenFormat::Short => "short".into(),
        }
    }

    fn password(&self) -> &str {
        &self.value[self.pw_start..]
    }

    fn digest(&self) -> [u8; 32] {
        Sha256::digest(self.password().as_bytes()).into()
    }

    /// `h:3f9a1c2b`: a short keyed hash of the secret part, safe to show and
    /// enough to tell copies apart. The key is made fresh for each harvcred
    /// process, so a hash from an output (a ticket, a monitoring log) cannot
    /// be used to test guesses of the token offline; hashes compare within
    /// one run only.
    pub fn short_hash(&self) -> String {
        use hmac::Mac as _;
        // HMAC, not sha256(key || secret): the construction made for a keyed
        // hash, whatever the digest's length-extension properties.
        let mut mac = hmac::Hmac::<Sha256>::new_from_slice(hash_key())
            .expect("HMAC takes a key of any length");
        mac.update(self.password().as_bytes());
        format!("h:{}", &hex::encode(mac.finalize().into_bytes())[..8])
    }

    /// Same secret part (what RKE2 uses), whatever the formats.
    pub fn agrees_with(&self, other: &Token) -> bool {
        // Compare digests: no early exit on the secret itself.
        self.digest() == other.digest()
    }

    /// The whole value, for writing a fix to a node; never for display.
    pub fn expose_secret(&self) -> &str {
        &self.value
    }

    /// Checks the token's CA hash against the bytes of `server-ca.crt`.
    pub fn check_ca(&self, server_ca_bytes: &[u8]) -> CaCheck {
        match &self.format {
            TokenFormat::Secure {
                ca_hash: Some(h), ..
            } => {
                let file = server_ca_hash(server_ca_bytes);
                if *h == file {
                    CaCheck::Match
                } else {
                    CaCheck::Mismatch {
                        token: h[..12].to_string(),
                        file: file[..12].to_string(),
                    }
                }
            }
            _ => CaCheck::NoHash,
        }
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Token({}, {})", self.format_name(), self.short_hash())
    }
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.short_hash())
    }
}

/// The key of [`Token::short_hash`]: random, once per process, never shown.
fn hash_key() -> &'static [u8; 32] {
    static KEY: std::sync::OnceLock<[u8; 32]> = std::sync::OnceLock::new();
    KEY.get_or_init(rand::random)
}

/// `sha256(file bytes)` as hex, as RKE2 computes the hash in a secure token.
pub fn server_ca_hash(server_ca_bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(server_ca_bytes))
}

/// Result of the CA hash check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CaCheck {
    /// The token names this CA.
    Match,
    /// Different CA (prefixes of both hashes, which are public).
    Mismatch {
        /// Token's hash prefix.
        token: String,
        /// File's hash prefix.
        file: String,
    },
    /// Short token or `K10::`: nothing to check.
    NoHash,
}

#[derive(Deserialize)]
struct TokenDoc {
    #[serde(default)]
    token: Option<TokenScalar>,
}

/// A `token:` scalar; numbers are accepted because an all-digit token is
/// read as a number by YAML.
struct TokenScalar(Zeroizing<String>);

impl<'de> Deserialize<'de> for TokenScalar {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = TokenScalar;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a token string")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<TokenScalar, E> {
                Ok(TokenScalar(Zeroizing::new(v.to_string())))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<TokenScalar, E> {
                Ok(TokenScalar(Zeroizing::new(v.to_string())))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<TokenScalar, E> {
                Ok(TokenScalar(Zeroizing::new(v.to_string())))
            }
            fn visit_unit<E: serde::de::Error>(self) -> Result<TokenScalar, E> {
                Ok(TokenScalar(Zeroizing::new(String::new())))
            }
        }
        d.deserialize_any(V)
    }
}

/// Turns a YAML error into a message with the position only (the text may
/// hold secrets, and the parser's own message can quote it).
pub(crate) fn yaml_position(e: &serde_saphyr::Error) -> String {
    match e.location() {
        Some(l) if l.line() > 0 => format!(" at line {}, column {}", l.line(), l.column()),
        _ => String::new(),
    }
}

/// Reads `token:` from a YAML text (`rancherd/config.yaml`, `harvester.config`,
/// `40-rancherd.yaml`). `Ok(None)` when there is no `token:` key.
pub fn token_from_yaml(text: &str) -> Result<Option<Token>, TokenError> {
    let doc: Option<TokenDoc> =
        serde_saphyr::from_str(text).map_err(|e| TokenError::Yaml(yaml_position(&e)))?;
    match doc.and_then(|d| d.token) {
        None => Ok(None),
        Some(TokenScalar(s)) if s.is_empty() => Ok(None),
        Some(TokenScalar(s)) => Token::parse(&s).map(Some),
    }
}

/// The file rancherd reads its token from, and the rke2 drop-in rancherd
/// writes from it; both are also rendered from `/oem/90_custom.yaml` at boot.
pub const RANCHERD_CONFIG: &str = "/etc/rancher/rancherd/config.yaml";
pub const RANCHERD_RKE2_DROPIN: &str = "/etc/rancher/rke2/config.yaml.d/40-rancherd.yaml";

fn line_starts(text: &str) -> Vec<usize> {
    std::iter::once(0)
        .chain(text.match_indices('\n').map(|(i, _)| i + 1))
        .filter(|&i| i < text.len())
        .collect()
}

fn line_at(text: &str, start: usize) -> &str {
    let end = text[start..].find('\n').map_or(text.len(), |e| start + e);
    &text[start..end]
}

fn indent_of(line: &str) -> usize {
    line.len() - line.trim_start_matches(' ').len()
}

/// Replaces the value of the `token:` key at `indent` spaces in `text`
/// between byte `from` and `to`, keeping every other byte. The value must
/// be a one-line scalar.
fn replace_token_line(
    text: &str,
    from: usize,
    to: usize,
    indent: usize,
    new: &Token,
) -> Result<Zeroizing<String>, TokenError> {
    let found: Vec<usize> = line_starts(text)
        .into_iter()
        .filter(|&s| s >= from && s < to)
        .filter(|&s| {
            let l = line_at(text, s);
            indent_of(l) == indent && l[indent..].starts_with("token:")
        })
        .collect();
    let start = match found.as_slice() {
        [one] => *one,
        [] => return Err(TokenError::Layout("no `token:` line to replace".into())),
        _ => {
            return Err(TokenError::Layout(
                "more than one `token:` line: edit the file by hand".into(),
            ));
        }
    };
    let line = line_at(text, start);
    let value_at = start + indent + "token:".len();
    let rest = &line[indent + "token:".len()..];
    let value = rest.trim();
    if value.is_empty() || value.starts_with(['|', '>', '&', '*', '!']) {
        return Err(TokenError::Layout(
            "`token:` is not a one-line value: edit the file by hand".into(),
        ));
    }
    // A trailing comment after a quoted value stays.
    let comment = match rest.find(" #") {
        Some(i) if value.starts_with(['"', '\'']) => &rest[i..],
        Some(_) => {
            return Err(TokenError::Layout(
                "`token:` has a comment after a plain value: edit the file by hand".into(),
            ));
        }
        None => "",
    };
    let rendered =
        Zeroizing::new(serde_json::Value::String(new.expose_secret().to_string()).to_string());
    let mut out = Zeroizing::new(String::with_capacity(text.len() + rendered.len()));
    out.push_str(&text[..value_at]);
    out.push(' ');
    out.push_str(&rendered);
    out.push_str(comment);
    out.push_str(&text[start + line.len()..]);
    Ok(out)
}

fn yaml_value(text: &str) -> Result<serde_json::Value, TokenError> {
    serde_saphyr::from_str::<serde_json::Value>(text)
        .map_err(|e| TokenError::Yaml(yaml_position(&e)))
}

/// Sets the top-level `token:` of a YAML config (rancherd's
/// `config.yaml`, the `40-rancherd.yaml` drop-in) to `new`, every other byte
/// kept; the result is parsed again and must differ from the input only in
/// the token.
pub fn set_token_in_yaml(text: &str, new: &Token) -> Result<Zeroizing<String>, TokenError> {
    let out = replace_token_line(text, 0, text.len(), 0, new)?;
    let got = token_from_yaml(&out)?
        .ok_or_else(|| TokenError::Layout("the edited file has no token".into()))?;
    if got.expose_secret() != new.expose_secret() {
        return Err(TokenError::Layout(
            "the edited file does not read back with the new token".into(),
        ));
    }
    let (mut a, mut b) = (yaml_value(text)?, yaml_value(&out)?);
    for v in [&mut a, &mut b] {
        if let Some(m) = v.as_object_mut() {
            m.remove("token");
        }
    }
    if a != b {
        return Err(TokenError::Layout(
            "the edit would change more than the token".into(),
        ));
    }
    Ok(out)
}

/// Sets `token:` inside the content of the yip `files` entry for `file_path`
/// in an `/oem` config (the installer writes it as a `content: |` block
/// scalar), every other byte of the file kept. The result is parsed again:
/// the entry's content must read back with the new token, and the whole
/// document must equal the old one but for that content.
pub fn set_file_token_in_oem(
    text: &str,
    file_path: &str,
    new: &Token,
) -> Result<Zeroizing<String>, TokenError> {
    crate::creds::oem::check_tabs(text).map_err(|e| TokenError::Layout(e.to_string()))?;
    let starts = line_starts(text);
    let is_path_line = |l: &str| {
        let t = l
            .trim_start_matches(' ')
            .trim_start_matches("- ")
            .trim_start();
        t.strip_prefix("path:").is_some_and(|v| {
            let v = v.trim();
            v == file_path || v.trim_matches(['"', '\'']) == file_path
        })
    };
    let entries: Vec<usize> = starts
        .iter()
        .copied()
        .filter(|&s| is_path_line(line_at(text, s)))
        .collect();
    let [entry] = entries.as_slice() else {
        return Err(TokenError::Layout(format!(
            "{} `path: {file_path}` entries (one expected): edit the file by hand",
            entries.len()
        )));
    };
    let pl = line_at(text, *entry);
    let key_indent = pl.find("path:").expect("matched path:");
    // The entry's other keys sit at the same column, until a line less indented.
    let mut content_line = None;
    for &s in starts.iter().filter(|&&s| s > *entry) {
        let l = line_at(text, s);
        if l.trim().is_empty() || l.trim_start().starts_with('#') {
            continue;
        }
        let ind = indent_of(l);
        if ind < key_indent || (ind == key_indent && l[ind..].starts_with("- ")) {
            break;
        }
        if ind == key_indent && l[ind..].starts_with("content:") {
            content_line = Some(s);
            break;
        }
    }
    let Some(cs) = content_line else {
        return Err(TokenError::Layout(format!(
            "the entry for {file_path} has no `content:`"
        )));
    };
    let cl = line_at(text, cs);
    let head = cl[key_indent + "content:".len()..].trim();
    if !matches!(head, "|" | "|-" | "|+") {
        return Err(TokenError::Layout(format!(
            "the content of {file_path} is not a `|` block (encoded or quoted): edit the file by hand"
        )));
    }
    // The block: the following lines more indented than the key (or blank).
    let block_from = cs + cl.len() + 1;
    let mut block_to = text.len();
    let mut block_indent = None;
    for &s in starts.iter().filter(|&&s| s >= block_from) {
        let l = line_at(text, s);
        if l.trim().is_empty() {
            continue;
        }
        let ind = indent_of(l);
        if ind <= key_indent {
            block_to = s;
            break;
        }
        block_indent.get_or_insert(ind);
    }
    let Some(block_indent) = block_indent else {
        return Err(TokenError::Layout(format!(
            "the content of {file_path} is empty"
        )));
    };
    let out = replace_token_line(text, block_from, block_to, block_indent, new)?;
    // Read back: the document equals the old one but for this content.
    let old_doc = yaml_value(text)?;
    let new_doc = yaml_value(&out)?;
    let mut expected = old_doc.clone();
    let mut seen = 0;
    let mut bad = None;
    let new_contents = file_contents(&new_doc, file_path);
    if let Some(stages) = expected.get_mut("stages").and_then(|s| s.as_object_mut()) {
        for entries in stages.values_mut() {
            for st in entries.as_array_mut().into_iter().flatten() {
                for f in st
                    .get_mut("files")
                    .and_then(|f| f.as_array_mut())
                    .into_iter()
                    .flatten()
                {
                    if f.get("path").and_then(|p| p.as_str()) == Some(file_path) {
                        seen += 1;
                        match new_contents.first() {
                            Some(c) => f["content"] = serde_json::Value::String(c.to_string()),
                            None => bad = Some("the entry lost its content"),
                        }
                    }
                }
            }
        }
    }
    if let Some(b) = bad {
        return Err(TokenError::Layout(b.into()));
    }
    if seen != 1 || new_contents.len() != 1 {
        return Err(TokenError::Layout(format!(
            "the entry for {file_path} is not under stages.<stage>[i].files: edit the file by hand"
        )));
    }
    if expected != new_doc {
        return Err(TokenError::Layout(
            "the edit would change more than the token".into(),
        ));
    }
    let got = token_from_yaml(new_contents[0])?
        .ok_or_else(|| TokenError::Layout("the edited content has no token".into()))?;
    if got.expose_secret() != new.expose_secret() {
        return Err(TokenError::Layout(
            "the edited content does not read back with the new token".into(),
        ));
    }
    Ok(out)
}

fn file_contents<'a>(doc: &'a serde_json::Value, file_path: &str) -> Vec<&'a str> {
    doc.get("stages")
        .and_then(|s| s.as_object())
        .into_iter()
        .flat_map(|m| m.values())
        .flat_map(|e| e.as_array().into_iter().flatten())
        .flat_map(|st| {
            st.get("files")
                .and_then(|f| f.as_array())
                .into_iter()
                .flatten()
        })
        .filter(|f| f.get("path").and_then(|p| p.as_str()) == Some(file_path))
        .filter_map(|f| f.get("content").and_then(|c| c.as_str()))
        .collect()
}

/// A joining node's rancherd retrying because of its token, as its journal
/// shows it (Harvester's "Modifying cluster token on agent nodes").
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct JoinLoop {
    /// The last such line, shortened (the HTML body of the 502 cut off);
    /// still remote text: sanitise before showing.
    pub line: String,
    /// How many such lines since rancherd last bootstrapped.
    pub repeats: usize,
}

/// Whether a line is rancherd failing to get the cluster's CA certificates,
/// which a wrong token gives: `502 Bad Gateway getting cacerts`, the newer
/// `failed to get cacerts (HTTP 502 ...): likely token mismatch`, the older
/// `insecure cacerts download from ...`.
pub fn is_cacerts_failure(line: &str) -> bool {
    (line.contains("getting cacerts") && line.contains("502"))
        || line.contains("failed to get cacerts")
        || line.contains("insecure cacerts download")
}

/// The token loop in rancherd's journal (`journalctl -b -u rancherd`), or
/// None when its last word is a bootstrap (or it never failed so).
pub fn rancherd_join_loop(journal: &str) -> Option<JoinLoop> {
    let mut found: Option<JoinLoop> = None;
    for l in journal.lines() {
        if l.contains("Successfully Bootstrapped") {
            found = None;
        } else if is_cacerts_failure(l) {
            let short = match l.find(": <html>") {
                Some(i) => &l[..i],
                None => l,
            };
            let short: String = short.chars().take(240).collect();
            let repeats = found.as_ref().map_or(0, |f| f.repeats) + 1;
            found = Some(JoinLoop {
                line: short,
                repeats,
            });
        }
    }
    found
}

/// How the copies of the token on one node compare.
#[derive(Debug, Clone, Serialize)]
pub struct TokenComparison {
    /// Groups of sources with the same secret, biggest first: (short hash, sources).
    pub groups: Vec<(String, Vec<String>)>,
    /// Findings (agreement, disagreement, CA hash differences).
    pub findings: Vec<Finding>,
}

/// Compares the copies found on one node: `(source path, token)` pairs.
pub fn compare_tokens(node: &str, copies: &[(String, Token)]) -> TokenComparison {
    let subject = format!("{node} cluster token");
    let mut groups: Vec<(String, Vec<String>)> = Vec::new();
    for (src, tok) in copies {
        let h = tok.short_hash();
        match groups.iter_mut().find(|(g, _)| *g == h) {
            Some((_, v)) => v.push(src.clone()),
            None => groups.push((h, vec![src.clone()])),
        }
    }
    groups.sort_by_key(|g| std::cmp::Reverse(g.1.len()));
    let mut findings = Vec::new();
    match groups.len() {
        0 => findings.push(Finding::new(
            Level::Unknown,
            subject.clone(),
            "no copy of the cluster token could be read on this node: check sudo access",
        )),
        1 => findings.push(Finding::new(
            Level::Ok,
            subject.clone(),
            format!("{} copies agree ({})", copies.len(), groups[0].0),
        )),
        _ => {
            let listing = groups
                .iter()
                .map(|(h, srcs)| format!("{h}: {}", srcs.join(", ")))
                .collect::<Vec<_>>()
                .join("; ");
            // The server's own copy is what rke2-server runs with: the
            // others are named against it when there is one.
            let own = copies
                .iter()
                .find(|(src, _)| src == "/var/lib/rancher/rke2/server/token")
                .map(|(_, t)| t.short_hash());
            let against_own = match &own {
                Some(h) => {
                    let differ: Vec<&str> = copies
                        .iter()
                        .filter(|(_, t)| &t.short_hash() != h)
                        .map(|(src, _)| src.as_str())
                        .collect();
                    format!(
                        "{} differ(s) from this server's own /var/lib/rancher/rke2/server/token ({h}), which rke2-server runs with. ",
                        differ.join(", ")
                    )
                }
                None => String::new(),
            };
            findings.push(Finding::new(
                Level::Critical,
                subject.clone(),
                format!(
                    "copies disagree ({listing}). {against_own}A node whose rancherd token is wrong cannot join (`journalctl -u rancherd` repeats \"502 Bad Gateway getting cacerts\"): set `token:` in /etc/rancher/rancherd/config.yaml and in the rancherd file inside /oem/90_custom.yaml to the cluster's token (read it on a working server with `sudo yq eval .token /etc/rancher/rancherd/config.yaml`). Do not rotate the token."
                ),
            ));
        }
    }
    let hashes: std::collections::BTreeSet<&str> = copies
        .iter()
        .filter_map(|(_, t)| match t.format() {
            TokenFormat::Secure {
                ca_hash: Some(h), ..
            } => Some(h.as_str()),
            _ => None,
        })
        .collect();
    if hashes.len() > 1 {
        findings.push(Finding::new(
            Level::Warn,
            subject,
            "secure copies name different CAs: one was made for another cluster or before a CA rotation; compare with `server-ca.crt`",
        ));
    }
    TokenComparison { groups, findings }
}

/// Finding for the CA hash check of one copy.
pub fn ca_check_finding(node: &str, source: &str, check: &CaCheck) -> Finding {
    let subject = format!("{node} cluster token in {source}");
    match check {
        CaCheck::Match => Finding::new(Level::Ok, subject, "CA hash matches server-ca.crt"),
        CaCheck::NoHash => Finding::new(
            Level::Ok,
            subject,
            "short token: joining nodes do not verify the cluster CA",
        ),
        CaCheck::Mismatch { token, file } => Finding::new(
            Level::Critical,
            subject,
            format!(
                "CA hash {token}… does not match server-ca.crt ({file}…): nodes joining with this token refuse the server; use the token from /var/lib/rancher/rke2/server/token of a working server"
            ),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PW: &str = "c0ffee-Pa55word";

    fn secure(pw: &str, user: &str, ca: &[u8]) -> String {
        format!("K10{}::{user}:{pw}", server_ca_hash(ca))
    }

    #[test]
    fn formats() {
        let ca = b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
        let t = Token::parse(&format!("{}\n", secure(PW, "server", ca))).unwrap();
        assert!(
            matches!(t.format(), TokenFormat::Secure { user, ca_hash: Some(_) } if user == "server")
        );
        assert_eq!(t.format_name(), "secure (server)");
        let n = Token::parse(&secure(PW, "node", ca)).unwrap();
        assert_eq!(n.format_name(), "secure (node)");
        let s = Token::parse(PW).unwrap();
        assert_eq!(s.format(), &TokenFormat::Short);
        let e = Token::parse(&format!("K10::server:{PW}")).unwrap();
        assert!(matches!(
            e.format(),
            TokenFormat::Secure { ca_hash: None, .. }
        ));
        // A short token may contain colons; it is all password.
        assert_eq!(Token::parse("a:b").unwrap().format(), &TokenFormat::Short);

        assert_eq!(Token::parse("  \n").unwrap_err(), TokenError::Empty);
        assert_eq!(Token::parse("K10abc").unwrap_err(), TokenError::NoSeparator);
        assert_eq!(
            Token::parse("K10abc::server:x").unwrap_err(),
            TokenError::BadHash
        );
        assert_eq!(
            Token::parse(&format!("K10{}::server:", "a".repeat(64))).unwrap_err(),
            TokenError::NoCredentials
        );
        assert_eq!(
            Token::parse(&format!("K10{}::nouser", "a".repeat(64))).unwrap_err(),
            TokenError::NoCredentials
        );
        assert_eq!(Token::parse("two words").unwrap_err(), TokenError::BadChars);
    }

    #[test]
    fn short_and_secure_with_same_password_agree() {
        let ca = b"ca bytes";
        let a = Token::parse(&secure(PW, "server", ca)).unwrap();
        let b = Token::parse(PW).unwrap();
        let c = Token::parse("another").unwrap();
        assert!(a.agrees_with(&b));
        assert_eq!(a.short_hash(), b.short_hash());
        assert!(!a.agrees_with(&c));
        assert_ne!(a.short_hash(), c.short_hash());
        // Keyed: not the plain SHA-256 of the password, which would let a
        // shown hash test guesses.
        let plain = &hex::encode(Sha256::digest(PW.as_bytes()))[..8];
        assert!(!a.short_hash().contains(plain));
        assert!(a.short_hash().starts_with("h:") && a.short_hash().len() == 10);
    }

    /// The short hash is HMAC-SHA256 under the run's key (RFC 4231's
    /// construction, checked here against the two-pass definition), not the
    /// key and the secret hashed in one go.
    #[test]
    fn the_short_hash_is_an_hmac_under_the_runs_key() {
        let key = hash_key();
        let block = |pad: u8| -> Vec<u8> {
            let mut b = key.to_vec();
            b.resize(64, 0);
            b.iter().map(|x| x ^ pad).collect()
        };
        let inner = Sha256::new()
            .chain_update(block(0x36))
            .chain_update(PW.as_bytes())
            .finalize();
        let outer = Sha256::new()
            .chain_update(block(0x5c))
            .chain_update(inner)
            .finalize();
        let short = Token::parse(PW).unwrap().short_hash();
        assert_eq!(short, format!("h:{}", &hex::encode(outer)[..8]));
        let prefixed = Sha256::new()
            .chain_update(key)
            .chain_update(PW.as_bytes())
            .finalize();
        assert_ne!(short, format!("h:{}", &hex::encode(prefixed)[..8]));
        assert_ne!(*key, [0u8; 32], "a random key");
    }

    #[test]
    fn never_shows_the_value() {
        let t = Token::parse(&secure(PW, "server", b"x")).unwrap();
        for shown in [
            format!("{t:?}"),
            format!("{t}"),
            format!("{:?}", Some(t.clone())),
        ] {
            assert!(!shown.contains(PW), "{shown}");
            assert!(!shown.contains("K10"), "{shown}");
        }
        assert!(format!("{t:?}").starts_with("Token(secure (server), h:"));
        // Errors do not echo the value either.
        let err = Token::parse(&format!("K10zz::server:{PW}")).unwrap_err();
        assert!(!err.to_string().contains(PW));
    }

    #[test]
    fn ca_hash_check_against_file_bytes() {
        let ca = b"-----BEGIN CERTIFICATE-----\nMIIBxx\n-----END CERTIFICATE-----\n";
        let t = Token::parse(&secure(PW, "server", ca)).unwrap();
        assert_eq!(t.check_ca(ca), CaCheck::Match);
        let other = t.check_ca(b"different");
        assert!(matches!(other, CaCheck::Mismatch { .. }));
        assert_eq!(
            ca_check_finding("n1", "/var/lib/rancher/rke2/server/token", &other).level,
            Level::Critical
        );
        assert_eq!(Token::parse(PW).unwrap().check_ca(ca), CaCheck::NoHash);
        // Upper-case hex in a token still matches.
        let upper = format!("K10{}::server:{PW}", server_ca_hash(ca).to_uppercase());
        assert_eq!(Token::parse(&upper).unwrap().check_ca(ca), CaCheck::Match);
        // Independent check of the hash with sha256sum.
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("server-ca.crt");
        std::fs::write(&p, ca).unwrap();
        let out = std::process::Command::new("sha256sum")
            .arg(&p)
            .output()
            .unwrap();
        let sum = String::from_utf8(out.stdout).unwrap();
        assert_eq!(sum.split_whitespace().next().unwrap(), server_ca_hash(ca));
    }

    #[test]
    fn token_from_yaml_files() {
        let rancherd = format!("role: agent\nserver: https://10.0.0.10:443\ntoken: \"{PW}\"\n");
        assert!(
            token_from_yaml(&rancherd)
                .unwrap()
                .unwrap()
                .agrees_with(&Token::parse(PW).unwrap())
        );
        let dropin = format!("token: {}\n", secure(PW, "server", b"x"));
        assert!(token_from_yaml(&dropin).unwrap().is_some());
        let harvester = format!(
            "# comment\nscheme_version: 1\ntoken: '{PW}'\nos:\n  password: hunter2\n  ssh_authorized_keys: []\ninstall:\n  mode: create\n"
        );
        assert!(token_from_yaml(&harvester).unwrap().is_some());
        assert_eq!(
            token_from_yaml("token: 12345\n")
                .unwrap()
                .unwrap()
                .short_hash(),
            Token::parse("12345").unwrap().short_hash()
        );
        assert!(token_from_yaml("role: agent\n").unwrap().is_none());
        assert!(token_from_yaml("token:\n").unwrap().is_none());
        assert!(token_from_yaml("").unwrap().is_none());
        let err = token_from_yaml(&format!("token: [\"{PW}\"\nfoo: : :\n")).unwrap_err();
        assert!(!err.to_string().contains(PW), "{err}");
    }

    #[test]
    fn comparison_of_copies() {
        let ca = b"ca";
        let copies = vec![
            (
                TOKEN_PATHS[0].to_string(),
                Token::parse(&secure(PW, "server", ca)).unwrap(),
            ),
            (TOKEN_PATHS[1].to_string(), Token::parse(PW).unwrap()),
            (TOKEN_PATHS[2].to_string(), Token::parse(PW).unwrap()),
        ];
        let c = compare_tokens("n1", &copies);
        assert_eq!(c.groups.len(), 1);
        assert_eq!(c.findings[0].level, Level::Ok);
        assert!(c.findings[0].message.contains("3 copies agree"));

        let mut bad = copies.clone();
        bad.push((
            TOKEN_PATHS[4].to_string(),
            Token::parse("wrong-token").unwrap(),
        ));
        bad.push((
            TOKEN_PATHS[3].to_string(),
            Token::parse(&secure(PW, "server", b"other ca")).unwrap(),
        ));
        let c = compare_tokens("n1", &bad);
        assert_eq!(c.groups.len(), 2);
        assert_eq!(c.groups[0].1.len(), 4);
        assert_eq!(c.groups[1].1, vec![TOKEN_PATHS[4].to_string()]);
        let crit = &c.findings[0];
        assert_eq!(crit.level, Level::Critical);
        assert!(crit.message.contains("/oem/90_custom.yaml"));
        assert!(crit.message.contains("502 Bad Gateway"));
        assert!(!crit.message.contains(PW) && !crit.message.contains("wrong-token"));
        assert!(
            c.findings
                .iter()
                .any(|f| f.level == Level::Warn && f.message.contains("different CAs"))
        );
        assert_eq!(compare_tokens("n1", &[]).findings[0].level, Level::Unknown);
    }

    /// After `rke2 token rotate` the datastore is encrypted with the new
    /// token: the hint must not send the operator back to the previous one.
    #[test]
    fn the_rotated_token_hint_does_not_say_put_the_previous_token_back() {
        let line = "level=fatal msg=\"starting kubernetes: preparing server: bootstrap data already found and encrypted with different token\"";
        let h = crate::logs::hint_for(line).expect("a hint for the rotated token");
        assert_eq!(h.id, "token-rotated");
        assert!(
            !h.action.contains("Put the previous token back"),
            "{}",
            h.action
        );
        assert!(h.action.contains("NEW token"), "{}", h.action);
    }

    /// On a server the copy that differs is named against server/token.
    #[test]
    fn copies_that_differ_are_named_against_the_servers_own_token() {
        let a = Token::parse(
            "K10aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa::server:alpha",
        )
        .unwrap();
        let b = Token::parse(
            "K10aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa::server:bravo",
        )
        .unwrap();
        let c = compare_tokens(
            "node1",
            &[
                ("/var/lib/rancher/rke2/server/token".into(), a.clone()),
                ("/etc/rancher/rancherd/config.yaml".into(), b),
                ("/oem/harvester.config".into(), a),
            ],
        );
        let m = &c.findings[0].message;
        assert!(
            m.contains("/etc/rancher/rancherd/config.yaml differ(s) from this server's own /var/lib/rancher/rke2/server/token"),
            "{m}"
        );
    }

    const OEM: &str = "# installer's file\nname: Harvester Configuration\nstages:\n  initramfs:\n  - commands:\n    - modprobe kvm\n    files:\n    - path: /etc/rancher/rancherd/config.yaml\n      permissions: 384\n      owner: 0\n      group: 0\n      content: |\n        server: https://10.0.0.10:443\n        role: server\n        token: \"wrong-Token-1\"\n        kubernetesVersion: v1.33.5+rke2r1\n        labels:\n         - harvesterhci.io/managed=true\n      encoding: \"\"\n      ownerstring: \"\"\n    - path: /etc/rancher/rke2/config.yaml.d/40-rancherd.yaml\n      permissions: 384\n      content: |\n        token: \"wrong-Token-1\"\n        server: https://10.0.0.10:9345\n      encoding: \"\"\n    hostname: node3\n    users:\n      rancher:\n        passwd: $6$x$y # keep me\n";

    #[test]
    fn the_token_inside_oem_file_content_is_replaced_and_nothing_else() {
        let new = Token::parse(&secure(PW, "server", b"ca")).unwrap();
        let out = set_file_token_in_oem(OEM, RANCHERD_CONFIG, &new).unwrap();
        let diff: Vec<(&str, &str)> = OEM
            .lines()
            .zip(out.lines())
            .filter(|(a, b)| a != b)
            .collect();
        assert_eq!(diff.len(), 1, "{diff:?}");
        assert_eq!(diff[0].0, "        token: \"wrong-Token-1\"");
        assert!(diff[0].1.starts_with("        token: \"K10"));
        assert_eq!(OEM.lines().count(), out.lines().count());
        // The other file's token is untouched until it is asked for.
        assert!(out.contains(
            "content: |\n        token: \"wrong-Token-1\"\n        server: https://10.0.0.10:9345"
        ));
        let both = set_file_token_in_oem(&out, RANCHERD_RKE2_DROPIN, &new).unwrap();
        let parsed = crate::creds::oem::parse_oem(&both).unwrap();
        let (_, tok) = parsed.rancherd_token.unwrap();
        assert!(tok.unwrap().agrees_with(&new));
        assert!(!both.contains("wrong-Token-1"));
        assert!(both.contains("passwd: $6$x$y # keep me"));
        // No entry, an encoded one: refused, the value never in the error.
        let err = set_file_token_in_oem(OEM, "/etc/nothing", &new).unwrap_err();
        assert!(err.to_string().contains("0 `path: /etc/nothing` entries"));
        let b64 = "stages:\n  initramfs:\n  - files:\n    - path: /etc/rancher/rancherd/config.yaml\n      encoding: b64\n      content: dG9rZW46IHgK\n";
        let err = set_file_token_in_oem(b64, RANCHERD_CONFIG, &new).unwrap_err();
        assert!(err.to_string().contains("not a `|` block"), "{err}");
        assert!(!err.to_string().contains(PW));
    }

    #[test]
    fn the_token_of_a_config_file_is_replaced_and_nothing_else() {
        let text = "server: https://10.0.0.10:443\nrole: server\ntoken: \"wrong\" # set by the installer\nkubernetesVersion: v1.33.5+rke2r1\n";
        let new = Token::parse(PW).unwrap();
        let out = set_token_in_yaml(text, &new).unwrap();
        assert_eq!(
            out.as_str(),
            format!(
                "server: https://10.0.0.10:443\nrole: server\ntoken: \"{PW}\" # set by the installer\nkubernetesVersion: v1.33.5+rke2r1\n"
            )
        );
        assert!(set_token_in_yaml("role: agent\n", &new).is_err());
        assert!(set_token_in_yaml("token: |\n  x\n", &new).is_err());
    }

    #[test]
    fn the_502_cacerts_loop_is_found_until_rancherd_bootstraps() {
        let fail = "time=\"2026-11-30T20:00:00Z\" level=info msg=\"failed to bootstrap system, will retry: generating plan: response 502: 502 Bad Gateway getting cacerts: <html>\\r\\n<head>\"";
        let boot = "level=info msg=\"Bootstrapping Rancher (v2.12.2/v1.33.5+rke2r1)\"";
        let j = format!("{boot}\n{fail}\n{boot}\n{fail}\n");
        let l = rancherd_join_loop(&j).unwrap();
        assert_eq!(l.repeats, 2);
        assert!(
            l.line.ends_with("502 Bad Gateway getting cacerts"),
            "{}",
            l.line
        );
        let healed = format!(
            "{j}level=info msg=\"Successfully Bootstrapped Rancher (v2.12.2/v1.33.5+rke2r1)\"\n"
        );
        assert_eq!(rancherd_join_loop(&healed), None);
        assert!(is_cacerts_failure(
            "failed to get cacerts (HTTP 502 Bad Gateway): likely token mismatch or incorrect server URL"
        ));
        assert_eq!(rancherd_join_loop(boot), None);
    }
}
