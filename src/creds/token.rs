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

    /// `sha256:3f9a1c2b`: a short hash of the secret part, safe to show and
    /// enough to tell copies apart.
    pub fn short_hash(&self) -> String {
        format!("sha256:{}", &hex::encode(self.digest())[..8])
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
        let expected = format!(
            "sha256:{}",
            &hex::encode(Sha256::digest(PW.as_bytes()))[..8]
        );
        assert_eq!(a.short_hash(), expected);
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
        assert!(format!("{t:?}").starts_with("Token(secure (server), sha256:"));
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
}
