//! The `rancher` password: `/etc/shadow` lines, persisted `passwd` values from
//! yip configs, whether they agree, and making a new `$6$` hash.
//!
//! yip copies a `passwd` that starts with `$` into `/etc/shadow` unchanged and
//! hashes anything else at boot, so anything else is clear text on disk.
//! Hash strings are treated as sensitive too (offline cracking): they never
//! appear in `Debug` or error messages.

use super::level::{Finding, Level};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Deserializer, Serialize};
use std::fmt;
use time::{Date, Duration};
use zeroize::Zeroizing;

/// How a password is hashed, from the crypt prefix.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum HashScheme {
    /// `$6$`: what Harvester's installer writes.
    Sha512Crypt,
    /// `$5$`
    Sha256Crypt,
    /// `$y$`: the default of newer distributions.
    Yescrypt,
    /// `$2a$`, `$2b$`, `$2y$`
    Bcrypt,
    /// `$1$`: weak.
    Md5Crypt,
    /// `$apr1$`: Apache MD5, weak.
    Apr1,
    /// 13-character traditional DES crypt: very weak.
    Des,
    /// Any other `$id$`.
    Other(String),
}

impl HashScheme {
    /// Reads the scheme of a crypt string (no `!`/`*` prefix).
    pub fn of(hash: &str) -> HashScheme {
        let id = hash
            .strip_prefix('$')
            .and_then(|r| r.split('$').next())
            .unwrap_or("");
        match id {
            "6" => HashScheme::Sha512Crypt,
            "5" => HashScheme::Sha256Crypt,
            "y" | "7" | "gy" => HashScheme::Yescrypt,
            "2a" | "2b" | "2y" | "2x" => HashScheme::Bcrypt,
            "1" => HashScheme::Md5Crypt,
            "apr1" => HashScheme::Apr1,
            "" if !hash.starts_with('$') && hash.len() == 13 => HashScheme::Des,
            other => HashScheme::Other(other.to_string()),
        }
    }

    /// Display name.
    pub fn name(&self) -> String {
        match self {
            HashScheme::Sha512Crypt => "SHA-512 crypt ($6$)".into(),
            HashScheme::Sha256Crypt => "SHA-256 crypt ($5$)".into(),
            HashScheme::Yescrypt => "yescrypt ($y$)".into(),
            HashScheme::Bcrypt => "bcrypt ($2b$)".into(),
            HashScheme::Md5Crypt => "MD5 crypt ($1$)".into(),
            HashScheme::Apr1 => "Apache MD5 ($apr1$)".into(),
            HashScheme::Des => "DES crypt".into(),
            HashScheme::Other(id) => format!("unknown scheme (${id}$)"),
        }
    }

    /// Schemes that should be replaced.
    pub fn is_weak(&self) -> bool {
        matches!(
            self,
            HashScheme::Md5Crypt | HashScheme::Apr1 | HashScheme::Des
        )
    }
}

/// A sensitive string (password hash or clear text): zeroised on drop, never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Sensitive(Zeroizing<String>);

impl Sensitive {
    /// Wraps a value.
    pub fn new(s: impl Into<String>) -> Self {
        Sensitive(Zeroizing::new(s.into()))
    }
    /// The value, for comparison or writing; never for printing.
    pub fn expose_secret(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Sensitive {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Lenient: YAML reads `passwd: 12345678` as a number, which is still a
/// (clear-text) password; numbers and booleans are kept as their text.
impl<'de> Deserialize<'de> for Sensitive {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Sensitive;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Sensitive, E> {
                Ok(Sensitive::new(v))
            }
            fn visit_string<E: serde::de::Error>(self, v: String) -> Result<Sensitive, E> {
                Ok(Sensitive(Zeroizing::new(v)))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Sensitive, E> {
                Ok(Sensitive::new(v.to_string()))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Sensitive, E> {
                Ok(Sensitive::new(v.to_string()))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Sensitive, E> {
                Ok(Sensitive::new(v.to_string()))
            }
            fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<Sensitive, E> {
                Ok(Sensitive::new(v.to_string()))
            }
            fn visit_unit<E: serde::de::Error>(self) -> Result<Sensitive, E> {
                Ok(Sensitive::new(""))
            }
        }
        d.deserialize_any(V)
    }
}

/// The password field of a shadow entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", content = "scheme", rename_all = "kebab-case")]
pub enum PasswordStatus {
    /// A usable hash.
    Set(HashScheme),
    /// `!` or `*` prefixed: password login disabled (the hash, if any, is kept).
    Locked(Option<HashScheme>),
    /// Empty field: login without a password.
    Empty,
}

/// One `/etc/shadow` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ShadowEntry {
    /// Login name.
    pub user: String,
    #[serde(skip)]
    hash: Sensitive,
    /// Set, locked or empty, and the scheme.
    pub status: PasswordStatus,
    /// Days since 1970-01-01 of the last change (`None` when the field is empty).
    pub last_change_days: Option<i64>,
    /// The same as a date.
    #[serde(serialize_with = "super::ser_date")]
    pub last_change: Option<Date>,
    /// `0` in the last-change field: the password must be changed at next login.
    pub must_change: bool,
    /// Maximum password age in days (`99999`: never expires).
    pub max_days: Option<i64>,
}

impl ShadowEntry {
    /// The crypt string (with any lock prefix); for comparisons, never for display.
    pub fn hash(&self) -> &Sensitive {
        &self.hash
    }

    /// The crypt string without a `!`/`*` lock prefix.
    fn unlocked_hash(&self) -> &str {
        self.hash.expose_secret().trim_start_matches(['!', '*'])
    }
}

/// Problems reading shadow text or hashing. Never carries the line itself.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordError {
    /// Wrong field count.
    #[error("shadow line {line} has {fields} fields, expected 9")]
    Fields {
        /// 1-based line.
        line: usize,
        /// Fields found.
        fields: usize,
    },
    /// A numeric field is not a number.
    #[error("shadow line {line}: field {field} is not a number of days")]
    Number {
        /// 1-based line.
        line: usize,
        /// Field name.
        field: &'static str,
    },
    /// No entry for the user.
    #[error("no /etc/shadow entry for user {0}")]
    NoUser(String),
    /// New password rejected.
    #[error("password rejected: {0}")]
    Rejected(&'static str),
    /// Hashing failed.
    #[error("password hashing failed")]
    Hashing,
}

fn days_field(s: &str, line: usize, field: &'static str) -> Result<Option<i64>, PasswordError> {
    if s.is_empty() {
        Ok(None)
    } else {
        s.parse()
            .map(Some)
            .map_err(|_| PasswordError::Number { line, field })
    }
}

/// Date of "days since 1970-01-01".
pub fn days_to_date(days: i64) -> Option<Date> {
    Date::from_calendar_date(1970, time::Month::January, 1)
        .ok()?
        .checked_add(Duration::days(days))
}

/// Parses one `/etc/shadow` line (`rancher:$6$…:19700:0:99999:7:::`).
pub fn parse_shadow_line(line: &str, line_no: usize) -> Result<ShadowEntry, PasswordError> {
    let fields: Vec<&str> = line.trim_end_matches(['\n', '\r']).split(':').collect();
    if fields.len() != 9 {
        return Err(PasswordError::Fields {
            line: line_no,
            fields: fields.len(),
        });
    }
    let hash = fields[1];
    let status = if hash.is_empty() {
        PasswordStatus::Empty
    } else if hash.starts_with(['!', '*']) {
        let rest = hash.trim_start_matches(['!', '*']);
        PasswordStatus::Locked((!rest.is_empty()).then(|| HashScheme::of(rest)))
    } else {
        PasswordStatus::Set(HashScheme::of(hash))
    };
    let last = days_field(fields[2], line_no, "last change")?;
    Ok(ShadowEntry {
        user: fields[0].to_string(),
        hash: Sensitive::new(hash),
        status,
        last_change_days: last,
        last_change: last.and_then(days_to_date),
        must_change: last == Some(0),
        max_days: days_field(fields[4], line_no, "maximum age")?,
    })
}

/// Finds a user's entry in `/etc/shadow` text.
pub fn find_shadow_entry(text: &str, user: &str) -> Result<ShadowEntry, PasswordError> {
    for (i, line) in text.lines().enumerate() {
        if line.split(':').next() == Some(user) {
            return parse_shadow_line(line, i + 1);
        }
    }
    Err(PasswordError::NoUser(user.to_string()))
}

/// What a persisted `passwd:` value means to yip at boot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "scheme", rename_all = "kebab-case")]
pub enum PersistedPassword {
    /// Starts with `$`: copied into `/etc/shadow` as is.
    Hashed(HashScheme),
    /// Anything else (even a 13-character DES string): yip hashes it at boot,
    /// so the file holds a readable password.
    ClearText,
    /// `!` or `*`: copied, login locked.
    Locked,
    /// Empty: yip leaves the password alone.
    Empty,
}

/// Classifies a persisted value the way yip (mudler/entities) treats it.
pub fn classify_persisted(value: &str) -> PersistedPassword {
    if value.is_empty() {
        PersistedPassword::Empty
    } else if value.starts_with('$') {
        PersistedPassword::Hashed(HashScheme::of(value))
    } else if value.starts_with(['!', '*']) {
        PersistedPassword::Locked
    } else {
        PersistedPassword::ClearText
    }
}

/// Whether the persisted password would give the same login as the runtime one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PersistMatch {
    /// Same password.
    Same,
    /// Different: the password changes at the next reboot.
    Differs,
    /// Cannot tell (reason).
    Unverifiable(&'static str),
    /// Nothing persisted.
    NotPersisted,
}

/// Compares a persisted `passwd` value with the runtime shadow entry: equal
/// hash strings, or, for clear text, a crypt check against a `$6$`/`$5$` hash.
pub fn persisted_matches_runtime(persisted: &Sensitive, runtime: &ShadowEntry) -> PersistMatch {
    let value = persisted.expose_secret();
    match classify_persisted(value) {
        PersistedPassword::Empty => PersistMatch::NotPersisted,
        PersistedPassword::Locked => {
            if matches!(runtime.status, PasswordStatus::Locked(_)) {
                PersistMatch::Same
            } else {
                PersistMatch::Differs
            }
        }
        PersistedPassword::Hashed(_) => {
            if value == runtime.hash.expose_secret() {
                PersistMatch::Same
            } else {
                PersistMatch::Differs
            }
        }
        PersistedPassword::ClearText => match HashScheme::of(runtime.unlocked_hash()) {
            HashScheme::Sha512Crypt | HashScheme::Sha256Crypt
                if crypt_rounds(runtime.unlocked_hash()) > MAX_VERIFY_ROUNDS =>
            {
                PersistMatch::Unverifiable(
                    "the runtime hash asks for more SHA-crypt rounds than harvcred computes (1,000,000); compare on the node",
                )
            }
            HashScheme::Sha512Crypt | HashScheme::Sha256Crypt => {
                if verify_password(value, runtime.unlocked_hash()) {
                    PersistMatch::Same
                } else {
                    PersistMatch::Differs
                }
            }
            _ => PersistMatch::Unverifiable(
                "runtime hash is not SHA-crypt; cannot check clear text against it",
            ),
        },
    }
}

/// The most SHA-crypt rounds harvcred computes to compare a password: the
/// default is 5000, common hardened values are a few hundred thousand; a
/// hash asking for up to 999,999,999 (what the format allows) would hang a
/// sweep for minutes.
pub const MAX_VERIFY_ROUNDS: u64 = 1_000_000;

/// The `rounds=` a `$5$`/`$6$` hash asks for (5000 when it names none).
pub fn crypt_rounds(hash: &str) -> u64 {
    let rest = hash
        .strip_prefix("$6$")
        .or_else(|| hash.strip_prefix("$5$"))
        .unwrap_or("");
    rest.strip_prefix("rounds=")
        .and_then(|r| r.split('$').next())
        .map_or(5000, |n| n.parse::<u64>().unwrap_or(u64::MAX))
}

/// Checks a clear-text password against a `$5$`/`$6$` crypt string.
pub fn verify_password(password: &str, hash: &str) -> bool {
    use sha_crypt::{PasswordVerifier, ShaCrypt};
    ShaCrypt::default()
        .verify_password(password.as_bytes(), hash)
        .is_ok()
}

/// Makes a `$6$` hash with a 16-character salt, like Harvester's installer and
/// `openssl passwd -6`. (The crate's own random salt is 22 characters; glibc
/// truncates salts to 16 and then the login fails.)
pub fn hash_new_password(password: &SecretString) -> Result<String, PasswordError> {
    use rand::Rng as _;
    let mut salt = Zeroizing::new([0u8; 12]);
    rand::rng().fill(&mut salt[..]);
    hash_with_salt_bytes(password, &salt[..])
}

/// The same with chosen salt bytes (12 bytes give the 16-character salt).
pub fn hash_with_salt_bytes(password: &SecretString, salt: &[u8]) -> Result<String, PasswordError> {
    use sha_crypt::{PasswordHasher, ShaCrypt};
    if salt.is_empty() || salt.len() > 12 {
        // More than 12 bytes encode to more than 16 characters, which glibc truncates.
        return Err(PasswordError::Rejected("salt must be 1 to 12 bytes"));
    }
    let pw = password.expose_secret();
    if pw.is_empty() {
        return Err(PasswordError::Rejected("empty password"));
    }
    if pw.contains(['\n', '\r', '\0']) {
        return Err(PasswordError::Rejected("contains a line break or NUL"));
    }
    let h = ShaCrypt::SHA512
        .hash_password_with_salt(pw.as_bytes(), salt)
        .map_err(|_| PasswordError::Hashing)?;
    let s = h.as_str();
    // The crate writes the default `rounds=5000$` explicitly; glibc and openssl
    // omit it for the default, and so do we (same hash, shorter, familiar).
    Ok(s.replacen("$6$rounds=5000$", "$6$", 1))
}

/// The shortest new password harvcred accepts unless config.toml says
/// otherwise (`password_min_length`).
pub const DEFAULT_MIN_LENGTH: usize = 12;

/// The bundled list of the most common passwords (one a line, `#` comments).
const COMMON_PASSWORDS: &str = include_str!("../../assets/common-passwords.txt");

/// Whether a password is in the bundled list of common passwords (case-insensitive).
pub fn is_common_password(password: &str) -> bool {
    let lower = Zeroizing::new(password.to_lowercase());
    COMMON_PASSWORDS
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .any(|l| l.eq_ignore_ascii_case(&lower))
}

/// One problem of a new password; never quotes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPasswordProblem {
    /// Blocks the change (else a warning).
    pub blocking: bool,
    pub message: String,
}

/// The checks of a new password before anything is sent: not empty, not
/// `rancher`, at least `min_length` characters, not the user name, both
/// entries equal, no line break or NUL (chpasswd and yip read lines); a
/// common password is a warning only.
pub fn check_new_password(
    password: &str,
    again: &str,
    user: &str,
    min_length: usize,
) -> Vec<NewPasswordProblem> {
    let block = |m: String| NewPasswordProblem {
        blocking: true,
        message: m,
    };
    let mut out = Vec::new();
    let chars = password.chars().count();
    if password.is_empty() {
        out.push(block("type a new password".into()));
    } else {
        if password.eq_ignore_ascii_case("rancher") {
            out.push(block(
                "not `rancher`: it is Harvester's well-known default password".into(),
            ));
        } else if password == user {
            out.push(block(format!("the password is the user name ({user})")));
        }
        if chars < min_length {
            out.push(block(format!(
                "at least {min_length} characters (this one has {chars}; password_min_length in config.toml)"
            )));
        }
        if password.contains(['\n', '\r', '\0']) {
            out.push(block("no line break or NUL character".into()));
        }
    }
    if password != again {
        out.push(block(
            "the two entries differ: type the same password twice".into(),
        ));
    }
    if !password.is_empty() && is_common_password(password) {
        out.push(NewPasswordProblem {
            blocking: false,
            message: "this is one of the most common passwords, tried first by anyone guessing"
                .into(),
        });
    }
    out
}

/// Judges the runtime and persisted passwords of one node.
/// `persisted` holds (source label, value) pairs, e.g. ("/oem/90_custom.yaml", …).
pub fn assess_password(
    node: &str,
    runtime: Option<&ShadowEntry>,
    persisted: &[(String, Sensitive)],
) -> Vec<Finding> {
    let subject = format!("{node} rancher password");
    let mut out = Vec::new();
    match runtime {
        None => out.push(Finding::new(
            Level::Unknown,
            subject.clone(),
            "no rancher entry in /etc/shadow could be read: check sudo access on the node",
        )),
        Some(e) => match &e.status {
            PasswordStatus::Empty => out.push(Finding::new(
                Level::Critical,
                subject.clone(),
                "rancher has an empty password: anyone at the console can log in; set a password now",
            )),
            PasswordStatus::Locked(_) => out.push(Finding::new(
                Level::Ok,
                subject.clone(),
                "password login is locked; SSH keys only (keep a working key before changing anything)",
            )),
            PasswordStatus::Set(s) if s.is_weak() => out.push(Finding::new(
                Level::Warn,
                subject.clone(),
                format!(
                    "stored as {}, which is weak: set the password again so it is stored as SHA-512 crypt",
                    s.name()
                ),
            )),
            PasswordStatus::Set(s) => {
                let when = e
                    .last_change
                    .map(|d| format!("; last changed {d}"))
                    .unwrap_or_default();
                out.push(Finding::new(
                    Level::Ok,
                    subject.clone(),
                    format!("stored as {}{when}", s.name()),
                ));
            }
        },
    }
    if runtime.is_some_and(|e| e.must_change) {
        out.push(Finding::new(
            Level::Warn,
            subject.clone(),
            "marked must-change (last change 0): the next login asks for a new password",
        ));
    }
    // In boot order: yip applies each in turn, the node boots with the last.
    let winner = persisted.len().checked_sub(1);
    for (i, (source, value)) in persisted.iter().enumerate() {
        let class = classify_persisted(value.expose_secret());
        if class == PersistedPassword::ClearText {
            out.push(Finding::new(
                Level::Critical,
                format!("{subject} in {source}"),
                "the password is stored in clear text and readable on disk: replace it with a SHA-512 hash (change the password with harvcred)",
            ));
        }
        if let PersistedPassword::Hashed(s) = &class
            && s.is_weak()
        {
            out.push(Finding::new(
                Level::Warn,
                format!("{subject} in {source}"),
                format!("persisted as {}: replace it with a SHA-512 hash", s.name()),
            ));
        }
        if Some(i) != winner {
            if class != PersistedPassword::Empty {
                let (last, _) = &persisted[persisted.len() - 1];
                out.push(Finding::new(
                    Level::Ok,
                    format!("{subject} in {source}"),
                    format!(
                        "overridden at boot: yip applies {last} later, so the node never boots with this one"
                    ),
                ));
            }
            continue;
        }
        if let Some(rt) = runtime {
            match persisted_matches_runtime(value, rt) {
                PersistMatch::Differs => out.push(Finding::new(
                    Level::Warn,
                    format!("{subject} in {source}"),
                    "differs from the runtime password, and it is the one yip applies last: the password changes to it at the next reboot; persist the current hash or change the password with harvcred",
                )),
                PersistMatch::Unverifiable(why) => out.push(Finding::new(
                    Level::Unknown,
                    format!("{subject} in {source}"),
                    format!("cannot tell whether it matches the runtime password: {why}"),
                )),
                PersistMatch::Same | PersistMatch::NotPersisted => {}
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write as _;
    use std::process::{Command, Stdio};

    const SHA512: &str = "$6$saltsaltsaltsalt$8Hy9PzPcQkGhv2M8X3RK3q3HqD1v.Kk9qj8A1WkFvQ0aI/2ZPzS0KnI4p8uV6uKxrf3Kc9y3gNf6L5fTqS1tq/";

    /// A hash asking for absurd rounds cannot hang the sweep: it is not
    /// computed, and the report says it could not compare.
    #[test]
    fn a_hash_with_absurd_rounds_is_not_computed() {
        let rt = parse_shadow_line(
            "rancher:$6$rounds=999999999$saltsalt$8Hy9PzPcQkGhv2M8X3RK3q3HqD1v.Kk9qj8A1WkFvQ0aI/2ZPzS0KnI4p8uV6uKxrf3Kc9y3gNf6L5fTqS1tq/:19700:0:99999:7:::",
            1,
        )
        .unwrap();
        let m = persisted_matches_runtime(&Sensitive::new("clear text"), &rt);
        assert!(
            matches!(m, PersistMatch::Unverifiable(why) if why.contains("rounds")),
            "{m:?}"
        );
        assert_eq!(crypt_rounds("$6$rounds=656000$s$h"), 656_000);
        assert_eq!(crypt_rounds("$6$s$h"), 5000);
        assert_eq!(
            crypt_rounds("$5$rounds=99999999999999999999999$s$h"),
            u64::MAX
        );
    }

    #[test]
    fn shadow_lines_of_every_scheme() {
        let cases = [
            ("$6$abc$def", HashScheme::Sha512Crypt),
            ("$5$abc$def", HashScheme::Sha256Crypt),
            ("$y$j9T$abc$def", HashScheme::Yescrypt),
            (
                "$2b$10$abcdefabcdefabcdefabcdefabcdefabcdefabcdefabcdefabcde",
                HashScheme::Bcrypt,
            ),
            ("$1$abc$def", HashScheme::Md5Crypt),
            ("$apr1$abc$def", HashScheme::Apr1),
            ("abJnggxhB/yWI", HashScheme::Des),
            ("$sha1$1$abc", HashScheme::Other("sha1".into())),
        ];
        for (hash, scheme) in cases {
            let e = parse_shadow_line(&format!("rancher:{hash}:19700:0:99999:7:::"), 1).unwrap();
            assert_eq!(e.status, PasswordStatus::Set(scheme.clone()), "{hash}");
            assert_eq!(e.user, "rancher");
            assert_eq!(
                scheme.is_weak(),
                matches!(
                    scheme,
                    HashScheme::Md5Crypt | HashScheme::Apr1 | HashScheme::Des
                )
            );
        }
        let e = parse_shadow_line("rancher:$6$abc$def:19700:0:99999:7:::", 1).unwrap();
        assert_eq!(e.last_change.unwrap().to_string(), "2023-12-09");
        assert_eq!(e.max_days, Some(99999));
        assert!(!e.must_change);
    }

    #[test]
    fn locked_empty_and_must_change() {
        let e = parse_shadow_line("rancher:!$6$abc$def:19700::::::", 1).unwrap();
        assert_eq!(
            e.status,
            PasswordStatus::Locked(Some(HashScheme::Sha512Crypt))
        );
        let e = parse_shadow_line("daemon:*:19700:0:99999:7:::", 1).unwrap();
        assert_eq!(e.status, PasswordStatus::Locked(None));
        let e = parse_shadow_line("rancher:!!:0::::::", 1).unwrap();
        assert_eq!(e.status, PasswordStatus::Locked(None));
        assert!(e.must_change);
        let e = parse_shadow_line("rancher::19700:0:99999:7:::", 1).unwrap();
        assert_eq!(e.status, PasswordStatus::Empty);
        let f = assess_password("n1", Some(&e), &[]);
        assert_eq!(f[0].level, Level::Critical);
        assert!(f[0].message.contains("empty password"));
    }

    #[test]
    fn errors_never_show_the_line() {
        let err = parse_shadow_line("rancher:$6$secret$hash:19700", 3).unwrap_err();
        assert_eq!(err.to_string(), "shadow line 3 has 3 fields, expected 9");
        let err = parse_shadow_line("rancher:$6$secret$hash:x::::::", 4).unwrap_err();
        assert!(!err.to_string().contains("secret"));
        let text = "root:*:1:0:99999:7:::\nrancher:$6$x$y:19700:0:99999:7:::\n";
        assert_eq!(find_shadow_entry(text, "rancher").unwrap().user, "rancher");
        assert!(find_shadow_entry(text, "bob").is_err());
        let e = find_shadow_entry(text, "rancher").unwrap();
        let dbg = format!("{e:?}");
        assert!(!dbg.contains("$6$x$y"), "{dbg}");
    }

    #[test]
    fn persisted_values_classified_like_yip() {
        assert_eq!(
            classify_persisted(SHA512),
            PersistedPassword::Hashed(HashScheme::Sha512Crypt)
        );
        assert_eq!(
            classify_persisted("$1$abc$def"),
            PersistedPassword::Hashed(HashScheme::Md5Crypt)
        );
        assert_eq!(
            classify_persisted("hunter2hunter2"),
            PersistedPassword::ClearText
        );
        // A DES string is hashed again by yip: effectively clear text.
        assert_eq!(
            classify_persisted("abJnggxhB/yWI"),
            PersistedPassword::ClearText
        );
        assert_eq!(classify_persisted("!"), PersistedPassword::Locked);
        assert_eq!(classify_persisted(""), PersistedPassword::Empty);
    }

    #[test]
    fn new_hash_has_16_char_salt_and_verifies() {
        let pw = SecretString::from("correct horse battery staple");
        let h = hash_new_password(&pw).unwrap();
        let parts: Vec<&str> = h.split('$').collect();
        assert_eq!(parts[1], "6");
        assert_eq!(parts[2].len(), 16, "{h}");
        assert_eq!(parts[3].len(), 86);
        assert!(verify_password("correct horse battery staple", &h));
        assert!(!verify_password("wrong", &h));
        assert!(hash_new_password(&SecretString::from("")).is_err());
        assert!(hash_new_password(&SecretString::from("a\nb")).is_err());
        assert!(hash_with_salt_bytes(&pw, &[0u8; 13]).is_err());
    }

    /// Independent check: openssl computes the same hash for the same salt,
    /// with the password on stdin (never in argv).
    #[test]
    fn hash_matches_openssl_passwd() {
        for pw in ["rancher", "pässwörd with spaces & $ymbols", "x"] {
            let secret = SecretString::from(pw);
            let h = hash_new_password(&secret).unwrap();
            let salt = h.split('$').nth(2).unwrap();
            let mut child = Command::new("openssl")
                .args(["passwd", "-6", "-salt", salt, "-stdin"])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn()
                .expect("openssl is installed");
            child
                .stdin
                .take()
                .unwrap()
                .write_all(format!("{pw}\n").as_bytes())
                .unwrap();
            let out = child.wait_with_output().unwrap();
            assert!(out.status.success());
            assert_eq!(String::from_utf8(out.stdout).unwrap().trim(), h);
        }
    }

    #[test]
    fn persisted_against_runtime() {
        let pw = SecretString::from("s3cret-pass");
        let h = hash_new_password(&pw).unwrap();
        let rt = parse_shadow_line(&format!("rancher:{h}:19700:0:99999:7:::"), 1).unwrap();
        assert_eq!(
            persisted_matches_runtime(&Sensitive::new(h.clone()), &rt),
            PersistMatch::Same
        );
        assert_eq!(
            persisted_matches_runtime(&Sensitive::new(SHA512), &rt),
            PersistMatch::Differs
        );
        // Clear text is checked with crypt.
        assert_eq!(
            persisted_matches_runtime(&Sensitive::new("s3cret-pass"), &rt),
            PersistMatch::Same
        );
        assert_eq!(
            persisted_matches_runtime(&Sensitive::new("other"), &rt),
            PersistMatch::Differs
        );
        // $5$ too.
        let h5 = "$5$saltstring$5B8vYYiY.CVt1RlTTf8KbXBH3hsxY/GNooZaBBGWEc5";
        let rt5 = parse_shadow_line(&format!("rancher:{h5}:19700:0:99999:7:::"), 1).unwrap();
        assert_eq!(
            persisted_matches_runtime(&Sensitive::new("Hello world!"), &rt5),
            PersistMatch::Same
        );
        let y = parse_shadow_line("rancher:$y$j9T$a$b:19700:0:99999:7:::", 1).unwrap();
        assert!(matches!(
            persisted_matches_runtime(&Sensitive::new("x"), &y),
            PersistMatch::Unverifiable(_)
        ));
        assert_eq!(
            persisted_matches_runtime(&Sensitive::new(""), &rt),
            PersistMatch::NotPersisted
        );

        let f = assess_password(
            "n1",
            Some(&rt),
            &[("/oem/90_custom.yaml".into(), Sensitive::new("s3cret-pass"))],
        );
        let crit = f.iter().find(|f| f.level == Level::Critical).unwrap();
        assert!(crit.message.contains("clear text"));
        assert!(
            f.iter()
                .all(|f| !f.message.contains("s3cret") && !f.subject.contains("s3cret"))
        );
        let f = assess_password(
            "n1",
            Some(&rt),
            &[("99_passwd.yaml".into(), Sensitive::new(SHA512))],
        );
        assert!(
            f.iter()
                .any(|f| f.level == Level::Warn && f.message.contains("next reboot"))
        );
    }

    #[test]
    fn sha256_known_vector() {
        // Vectors of the SHA-crypt specification, as `openssl passwd -5/-6 -salt saltstring` prints them.
        assert!(verify_password(
            "Hello world!",
            "$5$saltstring$5B8vYYiY.CVt1RlTTf8KbXBH3hsxY/GNooZaBBGWEc5"
        ));
        assert!(verify_password(
            "Hello world!",
            "$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1"
        ));
    }

    #[test]
    fn new_password_checks_block_and_warn() {
        let msgs = |p: &str, a: &str| -> Vec<(bool, String)> {
            check_new_password(p, a, "rancher", 12)
                .into_iter()
                .map(|x| (x.blocking, x.message))
                .collect()
        };
        assert!(msgs("", "")[0].1.contains("type a new password"));
        assert!(
            msgs("rancher", "rancher")
                .iter()
                .any(|(b, m)| *b && m.contains("default"))
        );
        assert!(
            msgs("short-pass", "short-pass")
                .iter()
                .any(|(b, m)| *b && m.contains("at least 12"))
        );
        let user = check_new_password("operator-name", "operator-name", "operator-name", 12);
        assert!(
            user.iter()
                .any(|p| p.blocking && p.message.contains("user name"))
        );
        assert!(
            msgs("a-good-long-one", "a-good-long-onf")
                .iter()
                .any(|(b, m)| *b && m.contains("differ"))
        );
        assert!(
            msgs("a-good\nlong-one", "a-good\nlong-one")
                .iter()
                .any(|(b, _)| *b)
        );
        // A common password is a warning, not a block.
        let common = msgs("Password1234", "Password1234");
        assert_eq!(common.len(), 1, "{common:?}");
        assert!(!common[0].0 && common[0].1.contains("most common"));
        assert!(msgs("Harvcred-Sentinel-7q2x", "Harvcred-Sentinel-7q2x").is_empty());
        // The minimum is configurable.
        assert!(
            check_new_password("sixteen-chars-ok", "sixteen-chars-ok", "rancher", 20)[0]
                .message
                .contains("at least 20")
        );
        // No message quotes the password.
        for (_, m) in msgs("Sentinel-xyz", "Sentinel-xyw") {
            assert!(!m.contains("Sentinel"), "{m}");
        }
    }

    #[test]
    fn sensitive_debug_is_redacted() {
        let s = Sensitive::new("topsecret");
        assert_eq!(format!("{s:?}"), "<redacted>");
    }
}
