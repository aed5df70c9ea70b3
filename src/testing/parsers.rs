//! Property tests of the parsers that read remote data (issue 19): whatever
//! a node or the API sends, they return a value or an error, never panic;
//! the `/oem` editors either refuse or write a file that parses back with
//! the edit and nothing else changed. Case counts are bounded so each target
//! stays within a few seconds of CI time.

use proptest::prelude::*;

use crate::creds::{certs, keys, oem, password, proxy, settings, token};
use crate::logs::{LogLine, parse_short};

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Bytes biased towards what confuses parsers: structure characters of PEM,
/// YAML, shadow and journal lines, controls and invalid UTF-8.
fn hostile_bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        any::<u8>().prop_map(|b| vec![b]),
        Just(b"-----BEGIN CERTIFICATE-----\n".to_vec()),
        Just(b"-----END CERTIFICATE-----\n".to_vec()),
        Just(b"MIIB".to_vec()),
        Just(b"\n".to_vec()),
        Just(b": ".to_vec()),
        Just(b"- ".to_vec()),
        Just(b"  ".to_vec()),
        Just(b"\t".to_vec()),
        Just(b"\"".to_vec()),
        Just(b"'".to_vec()),
        Just(b"#".to_vec()),
        Just(b"&a *a ".to_vec()),
        Just(b"!!binary ".to_vec()),
        Just(b"stages:\n".to_vec()),
        Just(b"users:\n".to_vec()),
        Just(b"rancher".to_vec()),
        Just(b"ssh-ed25519 ".to_vec()),
        Just(b"$6$".to_vec()),
        Just(b":".to_vec()),
        Just(b"2026-11-29T12:00:00.123456+0000 ".to_vec()),
        Just(b"1764417600.123456 ".to_vec()),
        Just(b"\x1b[".to_vec()),
        Just("\u{9b}\u{202e}".as_bytes().to_vec()),
        Just(b"\xff\xc3".to_vec()),
    ];
    prop::collection::vec(piece, 0..max).prop_map(|v| v.concat())
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

proptest! {
    #![proptest_config(config(2048))]

    #[test]
    fn cert_files_never_panic(bytes in hostile_bytes(48)) {
        let f = certs::parse_cert_file("/x.crt", &bytes);
        prop_assert!(f.certs.is_empty() || f.errors.len() <= f.certs.len() + 64);
        let _ = certs::parse_pem_str("setting", &lossy(&bytes));
    }

    /// A PEM block of random DER: x509-parser's input is attacker-shaped.
    #[test]
    fn pem_blocks_of_random_der_never_panic(der in prop::collection::vec(any::<u8>(), 0..600)) {
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::STANDARD.encode(&der);
        let pem = format!("-----BEGIN CERTIFICATE-----\n{b64}\n-----END CERTIFICATE-----\n");
        let f = certs::parse_cert_file("/x.crt", pem.as_bytes());
        prop_assert_eq!(f.certs.len() + usize::from(!f.errors.is_empty()), 1);
        let _ = certs::parse_cert_file("/x.der", &der);
    }

    #[test]
    fn authorized_keys_never_panic(bytes in hostile_bytes(48)) {
        let text = lossy(&bytes);
        let parsed = keys::parse_authorized_keys(&text);
        for (i, line) in text.lines().enumerate() {
            let _ = keys::parse_key_line(line, i + 1);
        }
        let _ = keys::fingerprint_public_key(&text);
        let _ = keys::accepted_key_fingerprint(&text);
        // Removing what is there, or adding nothing new, never breaks the file.
        let fps = parsed.entries.iter().map(|k| k.fingerprint.clone()).collect();
        if let Some(out) = keys::remove_from_authorized_keys(&text, &fps) {
            prop_assert!(keys::parse_authorized_keys(&out).entries.is_empty());
        }
    }

    #[test]
    fn shadow_lines_never_panic(bytes in hostile_bytes(32)) {
        let text = lossy(&bytes);
        for (i, line) in text.lines().enumerate() {
            let _ = password::parse_shadow_line(line, i + 1);
        }
        let _ = password::find_shadow_entry(&text, "rancher");
        let _ = password::classify_persisted(&text);
    }

    /// A well-formed line parses back to its fields.
    #[test]
    fn shadow_lines_round_trip(
        hash in "(\\$6\\$[a-zA-Z0-9./]{8}\\$[a-zA-Z0-9./]{86}|!|\\*|!\\$6\\$ab\\$cd)",
        last in proptest::option::of(0i64..40_000),
        max in proptest::option::of(0i64..99_999),
    ) {
        let field = |v: Option<i64>| v.map(|d| d.to_string()).unwrap_or_default();
        let line = format!("rancher:{hash}:{}:0:{}:7:::", field(last), field(max));
        let e = password::parse_shadow_line(&line, 1).unwrap();
        prop_assert_eq!(e.user.as_str(), "rancher");
        prop_assert_eq!(e.hash().expose_secret(), hash.as_str());
        prop_assert_eq!(e.last_change_days, last);
        prop_assert_eq!(e.max_days, max);
    }

    #[test]
    fn journal_lines_never_panic_and_stay_inert(bytes in hostile_bytes(32)) {
        let _ = parse_short(&bytes);
        let line = LogLine::new(0, None, &bytes, 256);
        super::hostile::assert_inert("log line", "proptest", line.text());
        let _ = crate::node::gather::parse(&bytes);
    }

    #[test]
    fn settings_and_env_never_panic(bytes in hostile_bytes(32)) {
        let text = lossy(&bytes);
        let _ = proxy::HttpProxySetting::parse(&text);
        let _ = proxy::parse_no_proxy(&text);
        let _ = proxy::parse_etc_environment(&text);
        let _ = settings::AutoRotate::parse(&text);
        let _ = token::Token::parse(&text);
    }
}

/// An `/oem` file as Harvester's installer writes it, varied in the ways
/// hand edits vary it: indentation, quoting, comments, other stages.
fn oem_file() -> impl Strategy<Value = (String, String)> {
    let quote = prop_oneof![Just(""), Just("\""), Just("'")];
    let indent = prop_oneof![Just(2usize), Just(4)];
    let comment = prop_oneof![Just(""), Just("  # set by the installer"), Just(" #x")];
    let extra = prop_oneof![
        Just(String::new()),
        Just("  boot:\n    - commands:\n        - echo 'a: b' # c\n".to_string()),
        Just("  rootfs:\n    - name: \"x\"\n      files: []\n".to_string()),
    ];
    let hash = "\\$6\\$[a-zA-Z0-9./]{8}\\$[a-zA-Z0-9./]{20}";
    (quote, indent, comment, extra, hash).prop_map(|(q, n, c, extra, hash)| {
        let i = |k: usize| " ".repeat(n * k);
        // Keys of a list item line up after its "- ".
        let item = |k: usize| format!("{}  {}", i(2), i(k));
        let text = format!(
            "# hand edited{c}\nname: Harvester\nstages:\n{extra}{}initramfs:\n{}- name: users{c}\n{}users:\n{}rancher:\n{}passwd: {q}{hash}{q}{c}\n{}homedir: /home/rancher\n{}network:\n{}- authorized_keys:\n{}rancher:\n{}- ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGGFOMswY4ktRo2j4fU9viU7rFZtW81ncGnHA25rr0ZG old{c}\n",
            i(1), i(2), item(0), item(1), item(2), item(2), i(1), i(2), item(1), item(2),
        );
        // The extra stages are written at indent 2; keep them valid at 4.
        let text = text
            .replace("\n  boot:", &format!("\n{}boot:", i(1)))
            .replace("\n  rootfs:", &format!("\n{}rootfs:", i(1)));
        (text, hash)
    })
}

/// Only one stretch of bytes differs between `a` and `b`.
fn one_region_changed(a: &str, b: &str) -> bool {
    let p = a.bytes().zip(b.bytes()).take_while(|(x, y)| x == y).count();
    let s = a[p..]
        .bytes()
        .rev()
        .zip(b[p..].bytes().rev())
        .take_while(|(x, y)| x == y)
        .count();
    // Everything but [p, len - s) is shared; nothing more to check.
    p + s <= a.len() && p + s <= b.len()
}

proptest! {
    #![proptest_config(config(1024))]

    /// Setting the password hash changes only the old value's bytes, and the
    /// file parses back with the new hash.
    #[test]
    fn oem_password_edit_round_trips(
        (text, old) in oem_file(),
        new in "\\$6\\$[a-zA-Z0-9./]{8}\\$[a-zA-Z0-9./]{86}",
    ) {
        let before = oem::parse_oem(&text).unwrap();
        prop_assert_eq!(before.rancher_passwords()[0].value.expose_secret(), old.as_str());
        let out = oem::set_rancher_passwd(&text, &new).unwrap();
        let after = oem::parse_oem(&out).unwrap();
        prop_assert_eq!(after.rancher_passwords()[0].value.expose_secret(), new.as_str());
        prop_assert!(one_region_changed(&text, &out));
        prop_assert_eq!(out.replace(&new, &old), text);
    }

    /// Keys with comments YAML cares about (`: `, `#`, quotes) are written so
    /// that they read back exactly, or refused.
    #[test]
    fn oem_keys_edit_reparses_or_is_refused(
        (text, _) in oem_file(),
        comments in prop::collection::vec("[ -~]{0,24}", 1..4),
    ) {
        let keys: Vec<String> = comments
            .iter()
            .map(|c| format!("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGGFOMswY4ktRo2j4fU9viU7rFZtW81ncGnHA25rr0ZG {c}").trim().to_string())
            .collect();
        let edited = oem::set_rancher_authorized_keys(&text, &keys);
        // Plain comments need no quoting: refusing them would be a bug.
        if comments.iter().all(|c| c.chars().all(|x| x.is_ascii_alphanumeric() || x == ' ')) {
            prop_assert!(edited.is_ok(), "{edited:?}");
        }
        if let Ok(out) = edited {
            let after = oem::parse_oem(&out).unwrap();
            let raw: Vec<String> = after.rancher_keys().entries.iter().map(|k| k.raw.clone()).collect();
            prop_assert_eq!(raw, keys);
            // The password stage is untouched.
            prop_assert!(out.contains("initramfs:"));
            let before = oem::parse_oem(&text).unwrap();
            prop_assert_eq!(
                after.rancher_passwords()[0].value.expose_secret(),
                before.rancher_passwords()[0].value.expose_secret()
            );
        }
    }

    /// Arbitrary text: parsing never panics; an edit is refused or parses.
    #[test]
    fn oem_edits_of_arbitrary_text_parse_or_are_refused(bytes in hostile_bytes(40)) {
        let text = lossy(&bytes);
        let _ = oem::parse_oem(&text);
        let _ = oem::check_tabs(&text);
        if let Ok(out) = oem::set_rancher_passwd(&text, "$6$abcdefgh$xyz") {
            prop_assert!(oem::parse_oem(&out).is_ok(), "{out:?}");
        }
        if let Ok(out) = oem::set_rancher_authorized_keys(&text, &["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGGFOMswY4ktRo2j4fU9viU7rFZtW81ncGnHA25rr0ZG a: #b".to_string()]) {
            prop_assert!(oem::parse_oem(&out).is_ok(), "{out:?}");
        }
    }
}
