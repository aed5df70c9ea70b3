//! Pure credential logic, no I/O: the rest of harvcred reads files from the
//! nodes and the API and hands their bytes to these functions.
//!
//! - [`level`]: severity levels, thresholds, findings (with what to do).
//! - [`ciphers`]: the cipher names Harvester's ingress accepts (`ssl-parameters`).
//! - [`ca_bundle`]: adding and removing single CAs of `additional-ca`, the rest kept byte for byte.
//! - [`certs`]: X.509 files of RKE2 (every PEM block, DER), expiry judgement, table rows.
//! - [`keys`]: `authorized_keys` parsing, fingerprints, runtime vs persisted drift.
//! - [`password`]: `/etc/shadow` lines, persisted `passwd` values, `$6$` hashing.
//! - [`token`]: cluster token formats, masked display, CA hash, agreement of copies.
//! - [`oem`]: yip configs in `/oem` (and CloudInit contents): reading and byte-preserving edits.
//! - [`proxy`]: the `http-proxy` setting, `/etc/environment`, noProxy coverage.
//! - [`settings`]: `auto-rotate-rke2-certs`, `ssl-certificates`, `additional-ca`.
//! - [`registries`]: the `containerd-registry` setting against the nodes' `registries.yaml`.
//! - [`cloudcred`]: Harvester cloud credentials in Rancher, their tokens' expiry.
//!
//! Secrets (passwords, tokens, proxy credentials) are held in zeroising
//! wrappers and never appear in `Debug`, `Display` or error messages.

pub mod ca_bundle;
pub mod certs;
pub mod ciphers;
pub mod cloudcred;
pub mod keys;
pub mod level;
pub mod oem;
pub mod password;
pub mod proxy;
pub mod registries;
pub mod report;
pub mod setting_values;
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

/// T10: a sentinel secret fed through every parser never comes out of
/// `Debug`, `Display`, an error or a finding.
#[cfg(test)]
mod secret_leak_tests {
    use super::*;

    const S: &str = "S3ntinel-xyzzy";

    fn check(out: &mut Vec<String>) {
        for o in out.iter() {
            assert!(!o.contains(S), "secret leaked: {o}");
        }
        out.clear();
    }

    #[test]
    fn sentinel_never_leaks() {
        let mut out: Vec<String> = Vec::new();

        // Password.
        let line = format!("rancher:$6$salt${S}:19700:0:99999:7:::");
        let e = password::parse_shadow_line(&line, 1).unwrap();
        out.push(format!("{e:?}"));
        out.push(format!(
            "{:?}",
            password::parse_shadow_line(&format!("rancher:{S}:x::::::"), 1)
        ));
        out.push(format!(
            "{:?}",
            password::parse_shadow_line(&format!("rancher:{S}"), 1)
        ));
        let persisted = vec![(
            "/oem/90_custom.yaml".to_string(),
            password::Sensitive::new(S),
        )];
        for f in password::assess_password("n1", Some(&e), &persisted) {
            out.push(f.to_string());
        }
        out.push(format!(
            "{:?}",
            password::hash_with_salt_bytes(&S.into(), b"0123456789ab")
        ));
        check(&mut out);

        // Token.
        let t = token::Token::parse(&format!("K10{}::server:{S}", "a".repeat(64))).unwrap();
        out.push(format!("{t:?} {t}"));
        let short = token::Token::parse(S).unwrap();
        for f in
            token::compare_tokens("n1", &[("a".into(), t.clone()), ("b".into(), short)]).findings
        {
            out.push(f.to_string());
        }
        out.push(format!(
            "{:?}",
            token::Token::parse(&format!("K10zz::server:{S}"))
        ));
        out.push(format!("{:?}", token::Token::parse(&format!("{S} {S}"))));
        out.push(format!(
            "{:?}",
            token::token_from_yaml(&format!("token: [\"{S}\"\n: :"))
        ));
        out.push(format!(
            "{:?}",
            token::token_from_yaml(&format!("token: {{a: {S}}}\n"))
        ));
        check(&mut out);

        // Proxy.
        let url = format!("http://u:{S}@proxy:3128");
        let value = format!(r#"{{"httpProxy":"{url}","httpsProxy":"{url}/x","noProxy":""}}"#);
        let setting = proxy::HttpProxySetting::parse(&value).unwrap();
        out.push(format!("{setting:?}"));
        let facts = proxy::ClusterFacts {
            node_ips: vec!["10.0.0.1".into()],
            vip: Some("192.168.1.1".into()),
            ..Default::default()
        };
        for f in proxy::check_setting(&setting, &facts) {
            out.push(f.to_string());
        }
        let env = proxy::parse_etc_environment(&format!(
            "http_proxy={url}\nHTTP_PROXY=http://v:{S}@other:1\n"
        ));
        out.push(format!("{env:?}"));
        for f in proxy::environment_drift("n1", &env, &setting) {
            out.push(f.to_string());
        }
        for bad in [
            format!(r#"{{"httpProxy":"{url}"#),
            format!(r#"{{"httpProxy":1, "x":"{S}"}}"#),
        ] {
            out.push(format!("{:?}", proxy::HttpProxySetting::parse(&bad)));
        }
        for p in
            proxy::validate_proxy_url(&proxy::ProxyUrl::new(&format!("socks5://u:{S}@:99999/p")))
        {
            out.push(p);
        }
        check(&mut out);

        // /oem.
        let yaml = format!(
            "stages:\n  initramfs:\n  - users:\n      rancher:\n        passwd: {S}\n    environment:\n      http_proxy: {url}\n    files:\n    - path: /etc/rancher/rancherd/config.yaml\n      content: |\n        token: {S}\n"
        );
        out.push(format!("{:?}", oem::parse_oem(&yaml)));
        out.push(format!(
            "{:?}",
            oem::parse_oem(&format!("{yaml}  - users: {{rancher: {{passwd: \"{S}\"\n"))
        ));
        out.push(format!("{:?}", oem::set_rancher_passwd(&yaml, S)));
        out.push(format!(
            "{:?}",
            oem::set_rancher_passwd(&format!("{yaml}\t#c\n"), "$6$a$b")
        ));
        check(&mut out);

        // Settings.
        let ssl = format!(r#"{{"publicCertificate":"x","privateKey":"{S}"#);
        out.push(format!("{:?}", settings::ssl_certificates(&ssl)));
        out.push(format!(
            "{:?}",
            settings::ssl_certificates(&format!(r#"{{"ca":1,"privateKey":"{S}"}}"#))
        ));
        check(&mut out);
    }
}
