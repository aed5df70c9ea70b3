//! Pure credential logic, no I/O: the rest of harvcred reads files from the
//! nodes and the API and hands their bytes to these functions.
//!
//! - [`level`]: severity levels, thresholds, findings (with what to do).
//! - [`certs`]: X.509 files of RKE2 (every PEM block, DER), expiry judgement, table rows.
//! - [`keys`]: `authorized_keys` parsing, fingerprints, runtime vs persisted drift.
//! - [`password`]: `/etc/shadow` lines, persisted `passwd` values, `$6$` hashing.
//! - [`token`]: cluster token formats, masked display, CA hash, agreement of copies.
//! - [`oem`]: yip configs in `/oem` (and CloudInit contents): reading and byte-preserving edits.
//! - [`proxy`]: the `http-proxy` setting, `/etc/environment`, noProxy coverage.
//! - [`settings`]: `auto-rotate-rke2-certs`, `ssl-certificates`, `additional-ca`.
//!
//! Secrets (passwords, tokens, proxy credentials) are held in zeroising
//! wrappers and never appear in `Debug`, `Display` or error messages.

pub mod certs;
pub mod keys;
pub mod level;
pub mod oem;
pub mod password;
pub mod proxy;
pub mod settings;
pub mod token;

pub use level::{Finding, Level, Thresholds};

/// Serialises a time as RFC 3339 (JSON output of `harvcred status --json`).
pub(crate) fn ser_time<S: serde::Serializer>(
    t: &time::OffsetDateTime,
    s: S,
) -> Result<S::Ok, S::Error> {
    let text = t
        .format(&time::format_description::well_known::Rfc3339)
        .map_err(serde::ser::Error::custom)?;
    s.serialize_str(&text)
}

/// Serialises an optional date as `YYYY-MM-DD`.
pub(crate) fn ser_date<S: serde::Serializer>(
    d: &Option<time::Date>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => s.serialize_str(&d.to_string()),
        None => s.serialize_none(),
    }
}
