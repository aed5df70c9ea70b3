//! Adding and removing single CAs of an `additional-ca` bundle. Everything
//! else in the bundle stays byte for byte (other blocks, their order, the
//! text between them): the operator's comments and layout are theirs, and a
//! diff of the setting shows only the CA that changed.

use super::certs::{CertInfo, parse_pem_str};
use super::setting_values::ADDITIONAL_CA;

/// One PEM block of a text: its bytes (its line end included) and what it
/// holds.
struct Block {
    start: usize,
    end: usize,
    label: String,
    cert: Result<CertInfo, String>,
}

/// The PEM blocks of `text`, where they are. A block without its END line
/// runs to the end of the text (and is unreadable).
fn blocks(text: &str) -> Vec<Block> {
    let mut out = Vec::new();
    let mut open: Option<(usize, String)> = None;
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim();
        if let Some(rest) = trimmed.strip_prefix("-----BEGIN ") {
            if let Some((start, label)) = open.take() {
                out.push(block(text, start, offset, label));
            }
            let label = rest.strip_suffix("-----").unwrap_or(rest).to_string();
            open = Some((offset, label));
        } else if trimmed.starts_with("-----END ")
            && let Some((start, label)) = open.take()
        {
            out.push(block(text, start, offset + line.len(), label));
        }
        offset += line.len();
    }
    if let Some((start, label)) = open {
        out.push(block(text, start, text.len(), label));
    }
    out
}

fn block(text: &str, start: usize, end: usize, label: String) -> Block {
    let cert = if label == "CERTIFICATE" {
        let mut f = parse_pem_str(ADDITIONAL_CA, &text[start..end]);
        match (f.certs.pop(), f.errors.first()) {
            (Some(c), None) => Ok(c),
            (_, Some(e)) => Err(e.reason.clone()),
            (None, None) => Err("no certificate in the block".into()),
        }
    } else {
        Err(format!("a {label} block, not a certificate"))
    };
    Block {
        start,
        end,
        label,
        cert,
    }
}

/// How a certificate is named in messages: subject and SHA-256 prefix.
pub fn name_of(c: &CertInfo) -> String {
    format!(
        "{} (sha256 {})",
        c.subject,
        &c.sha256[..c.sha256.len().min(16)]
    )
}

/// A bundle with CAs added.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Added {
    pub bundle: String,
    /// Each certificate added, named.
    pub added: Vec<String>,
    /// Each one given that the bundle already held (not added twice).
    pub already: Vec<String>,
}

/// `bundle` with every CA certificate of `pem` appended (in the order
/// given). Refused, with nothing added, when `pem` holds no certificate, a
/// block that is no certificate or cannot be read, or a certificate that is
/// not a CA. One already in the bundle is named and not added again.
pub fn add(bundle: &str, pem: &str) -> Result<Added, String> {
    let given = blocks(pem);
    if given.is_empty() {
        return Err("no PEM certificate in what was given".into());
    }
    let mut have: Vec<String> = blocks(bundle)
        .into_iter()
        .filter_map(|b| b.cert.ok().map(|c| c.sha256))
        .collect();
    let mut out = Added {
        bundle: bundle.to_string(),
        added: Vec::new(),
        already: Vec::new(),
    };
    let mut appended = String::new();
    for (i, b) in given.iter().enumerate() {
        let n = i + 1;
        let c = match &b.cert {
            Ok(c) => c,
            Err(_) if b.label != "CERTIFICATE" => {
                return Err(format!(
                    "block {n} is a {} block, not a certificate: only CA certificates go into additional-ca",
                    b.label
                ));
            }
            Err(e) => return Err(format!("block {n} cannot be read: {e}")),
        };
        if !c.is_ca {
            return Err(format!(
                "{} is not a CA (no basicConstraints CA:TRUE): it cannot sign anything the cluster should trust",
                name_of(c)
            ));
        }
        if have.contains(&c.sha256) {
            out.already.push(format!(
                "{} is already in the bundle: not added again",
                name_of(c)
            ));
            continue;
        }
        have.push(c.sha256.clone());
        let text = pem[b.start..b.end].trim_start();
        appended.push_str(text);
        if !text.ends_with('\n') {
            appended.push('\n');
        }
        out.added.push(name_of(c));
    }
    if !appended.is_empty() {
        if !out.bundle.is_empty() && !out.bundle.ends_with('\n') {
            out.bundle.push('\n');
        }
        out.bundle.push_str(&appended);
    }
    Ok(out)
}

/// A bundle with one CA removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Removed {
    pub bundle: String,
    /// The certificate removed, named.
    pub removed: String,
    /// How many copies of it the bundle held (all are removed).
    pub copies: usize,
}

/// The fingerprint as typed (`AB:CD…`, `sha256:abcd…`), as lower-case hex.
fn normalised(fingerprint: &str) -> Result<String, String> {
    let t = fingerprint.trim();
    let t = t
        .strip_prefix("sha256:")
        .or_else(|| t.strip_prefix("SHA256:"))
        .unwrap_or(t);
    let hex: String = t.chars().filter(|c| *c != ':').collect();
    if hex.len() < 8 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(format!(
            "{} is no SHA-256 fingerprint: give at least 8 of its hex digits (as `settings show additional-ca` lists them)",
            crate::logs::sanitize_str(fingerprint)
        ));
    }
    Ok(hex.to_ascii_lowercase())
}

/// `bundle` without the certificate whose SHA-256 fingerprint is (or
/// starts with, 8 hex digits at least) `fingerprint`, every copy of it.
/// Refused when no certificate or more than one matches.
pub fn remove(bundle: &str, fingerprint: &str) -> Result<Removed, String> {
    let want = normalised(fingerprint)?;
    let all = blocks(bundle);
    let found = pick(all.iter().filter_map(|b| b.cert.as_ref().ok()), &want)?;
    let mut out = String::new();
    let mut from = 0;
    let mut copies = 0;
    for b in &all {
        if b.cert.as_ref().is_ok_and(|c| c.sha256 == found.sha256) {
            out.push_str(&bundle[from..b.start]);
            from = b.end;
            copies += 1;
        }
    }
    out.push_str(&bundle[from..]);
    Ok(Removed {
        bundle: out,
        removed: name_of(found),
        copies,
    })
}

/// The one certificate whose fingerprint starts with `want`.
fn pick<'a>(certs: impl Iterator<Item = &'a CertInfo>, want: &str) -> Result<&'a CertInfo, String> {
    let mut matching: Vec<&CertInfo> = Vec::new();
    for c in certs {
        if c.sha256.starts_with(want) && !matching.iter().any(|m| m.sha256 == c.sha256) {
            matching.push(c);
        }
    }
    match matching[..] {
        [one] => Ok(one),
        [] => Err(format!(
            "no certificate of additional-ca has a SHA-256 fingerprint starting with {want}"
        )),
        _ => {
            let names: Vec<String> = matching.iter().map(|c| name_of(c)).collect();
            Err(format!(
                "{want} is ambiguous: it starts the fingerprints of {}; give more digits",
                names.join(" and ")
            ))
        }
    }
}

/// The certificates of a bundle in order, for picking one to remove.
pub fn certificates(bundle: &str) -> Vec<CertInfo> {
    blocks(bundle)
        .into_iter()
        .filter_map(|b| b.cert.ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::creds::certs::tests::{NOW, make_chain};
    use time::Duration;

    fn chain(cn: &str) -> (String, String) {
        make_chain(
            cn,
            "h.corp",
            NOW - Duration::days(1),
            NOW + Duration::days(300),
        )
    }

    fn sha(pem: &str) -> String {
        certificates(pem)[0].sha256.clone()
    }

    #[test]
    fn adding_appends_and_keeps_the_bundle_byte_for_byte() {
        let (_, a) = chain("corp-a");
        let (_, b) = chain("corp-b");
        // Comments, blank lines and CRLF around the existing CA stay.
        let bundle = format!("# corp root\r\n\r\n{a}# end, no newline");
        let got = add(&bundle, &b).unwrap();
        assert_eq!(got.bundle, format!("{bundle}\n{b}"));
        assert_eq!(got.added.len(), 1);
        assert!(got.added[0].starts_with("CN=corp-b"), "{got:?}");
        assert!(got.already.is_empty());
        // Into an empty bundle: just the CA.
        assert_eq!(add("", &b).unwrap().bundle, b);
    }

    #[test]
    fn a_duplicate_is_named_and_not_added_twice() {
        let (_, a) = chain("corp-a");
        let (_, b) = chain("corp-b");
        let got = add(&a, &format!("{a}{b}{b}")).unwrap();
        assert_eq!(got.bundle, format!("{a}{b}"));
        assert_eq!(got.already.len(), 2, "{got:?}");
        assert!(got.already[0].contains("already in the bundle"), "{got:?}");
        let got = add(&a, &a).unwrap();
        assert_eq!(got.bundle, a);
        assert!(got.added.is_empty());
    }

    #[test]
    fn non_ca_unreadable_and_other_blocks_are_refused_whole() {
        let (leaf, ca) = chain("corp-a");
        let e = add("", &format!("{ca}{leaf}")).unwrap_err();
        assert!(e.contains("CN=h.corp") && e.contains("is not a CA"), "{e}");
        let e = add(
            "",
            "-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n",
        )
        .unwrap_err();
        assert!(e.starts_with("block 1 cannot be read"), "{e}");
        let e = add(
            "",
            &format!("{ca}-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"),
        )
        .unwrap_err();
        assert!(e.contains("block 2 is a PRIVATE KEY block"), "{e}");
        assert!(!e.contains("AAAA"), "{e}");
        let e = add("", "just text").unwrap_err();
        assert!(e.contains("no PEM certificate"), "{e}");
    }

    #[test]
    fn removing_by_prefix_keeps_everything_else_and_every_copy_goes() {
        let (_, a) = chain("corp-a");
        let (_, b) = chain("corp-b");
        let (_, c) = chain("corp-c");
        let bundle = format!("# a\n{a}\n# b\n{b}# c\n{c}{b}");
        let fp = sha(&b);
        let got = remove(&bundle, &fp[..8]).unwrap();
        assert_eq!(got.bundle, format!("# a\n{a}\n# b\n# c\n{c}"));
        assert_eq!(got.copies, 2);
        assert!(got.removed.starts_with("CN=corp-b"), "{got:?}");
        // Colon-separated upper case, as openssl prints it.
        let colons: Vec<String> = fp[..12]
            .to_uppercase()
            .as_bytes()
            .chunks(2)
            .map(|p| String::from_utf8(p.to_vec()).unwrap())
            .collect();
        let got = remove(&bundle, &format!("sha256:{}", colons.join(":"))).unwrap();
        assert_eq!(got.copies, 2);
    }

    #[test]
    fn unknown_short_and_ambiguous_fingerprints_are_refused() {
        let (_, a) = chain("corp-a");
        let e = remove(&a, "00000000").unwrap_err();
        assert!(e.contains("no certificate of additional-ca"), "{e}");
        let e = remove(&a, &sha(&a)[..7]).unwrap_err();
        assert!(e.contains("at least 8"), "{e}");
        let e = remove(&a, "zzzzzzzz").unwrap_err();
        assert!(e.contains("at least 8"), "{e}");
        // Two CAs whose fingerprints share the digits given.
        let (_, b) = chain("corp-b");
        let mut certs = certificates(&format!("{a}{b}"));
        certs[0].sha256 = format!("abcdef01{}", &certs[0].sha256[8..]);
        certs[1].sha256 = format!("abcdef01{}", &certs[1].sha256[8..]);
        let e = pick(certs.iter(), "abcdef01").unwrap_err();
        assert!(
            e.contains("is ambiguous") && e.contains("CN=corp-a") && e.contains("CN=corp-b"),
            "{e}"
        );
        let more = &certs[1].sha256[..12];
        assert!(pick(certs.iter(), more).unwrap().subject.contains("corp-b"));
    }
}
