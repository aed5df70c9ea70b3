//! The cipher names Harvester's ingress accepts in `ssl-parameters`'
//! `ciphers` (colon-separated; Harvester's webhook does not check them).
//! The ingress has been rke2-ingress-nginx (OpenSSL cipher strings: names
//! and keywords such as `HIGH` or `!aNULL`) and, in current Harvester,
//! Traefik, to which the syncer hands the list as a TLSOption's
//! `cipherSuites` (Go's IANA-style names). A name in neither is one the
//! ingress would reject or ignore.

/// OpenSSL 3's cipher names (`openssl ciphers 'ALL:COMPLEMENTOFALL:@SECLEVEL=0'`,
/// plus the TLS 1.3 suites and older names OpenSSL builds still know).
pub const OPENSSL_NAMES: &[&str] = &[
    "ADH-AES128-GCM-SHA256",
    "ADH-AES128-SHA",
    "ADH-AES128-SHA256",
    "ADH-AES256-GCM-SHA384",
    "ADH-AES256-SHA",
    "ADH-AES256-SHA256",
    "ADH-CAMELLIA128-SHA",
    "ADH-CAMELLIA128-SHA256",
    "ADH-CAMELLIA256-SHA",
    "ADH-CAMELLIA256-SHA256",
    "AECDH-AES128-SHA",
    "AECDH-AES256-SHA",
    "AECDH-NULL-SHA",
    "AES128-CCM",
    "AES128-CCM8",
    "AES128-GCM-SHA256",
    "AES128-SHA",
    "AES128-SHA256",
    "AES256-CCM",
    "AES256-CCM8",
    "AES256-GCM-SHA384",
    "AES256-SHA",
    "AES256-SHA256",
    "ARIA128-GCM-SHA256",
    "ARIA256-GCM-SHA384",
    "CAMELLIA128-SHA",
    "CAMELLIA128-SHA256",
    "CAMELLIA256-SHA",
    "CAMELLIA256-SHA256",
    "DES-CBC3-SHA",
    "DHE-DSS-AES128-GCM-SHA256",
    "DHE-DSS-AES128-SHA",
    "DHE-DSS-AES128-SHA256",
    "DHE-DSS-AES256-GCM-SHA384",
    "DHE-DSS-AES256-SHA",
    "DHE-DSS-AES256-SHA256",
    "DHE-DSS-ARIA128-GCM-SHA256",
    "DHE-DSS-ARIA256-GCM-SHA384",
    "DHE-DSS-CAMELLIA128-SHA",
    "DHE-DSS-CAMELLIA128-SHA256",
    "DHE-DSS-CAMELLIA256-SHA",
    "DHE-DSS-CAMELLIA256-SHA256",
    "DHE-PSK-AES128-CBC-SHA",
    "DHE-PSK-AES128-CBC-SHA256",
    "DHE-PSK-AES128-CCM",
    "DHE-PSK-AES128-CCM8",
    "DHE-PSK-AES128-GCM-SHA256",
    "DHE-PSK-AES256-CBC-SHA",
    "DHE-PSK-AES256-CBC-SHA384",
    "DHE-PSK-AES256-CCM",
    "DHE-PSK-AES256-CCM8",
    "DHE-PSK-AES256-GCM-SHA384",
    "DHE-PSK-ARIA128-GCM-SHA256",
    "DHE-PSK-ARIA256-GCM-SHA384",
    "DHE-PSK-CAMELLIA128-SHA256",
    "DHE-PSK-CAMELLIA256-SHA384",
    "DHE-PSK-CHACHA20-POLY1305",
    "DHE-PSK-NULL-SHA",
    "DHE-PSK-NULL-SHA256",
    "DHE-PSK-NULL-SHA384",
    "DHE-RSA-AES128-CCM",
    "DHE-RSA-AES128-CCM8",
    "DHE-RSA-AES128-GCM-SHA256",
    "DHE-RSA-AES128-SHA",
    "DHE-RSA-AES128-SHA256",
    "DHE-RSA-AES256-CCM",
    "DHE-RSA-AES256-CCM8",
    "DHE-RSA-AES256-GCM-SHA384",
    "DHE-RSA-AES256-SHA",
    "DHE-RSA-AES256-SHA256",
    "DHE-RSA-ARIA128-GCM-SHA256",
    "DHE-RSA-ARIA256-GCM-SHA384",
    "DHE-RSA-CAMELLIA128-SHA",
    "DHE-RSA-CAMELLIA128-SHA256",
    "DHE-RSA-CAMELLIA256-SHA",
    "DHE-RSA-CAMELLIA256-SHA256",
    "DHE-RSA-CHACHA20-POLY1305",
    "ECDHE-ARIA128-GCM-SHA256",
    "ECDHE-ARIA256-GCM-SHA384",
    "ECDHE-ECDSA-AES128-CCM",
    "ECDHE-ECDSA-AES128-CCM8",
    "ECDHE-ECDSA-AES128-GCM-SHA256",
    "ECDHE-ECDSA-AES128-SHA",
    "ECDHE-ECDSA-AES128-SHA256",
    "ECDHE-ECDSA-AES256-CCM",
    "ECDHE-ECDSA-AES256-CCM8",
    "ECDHE-ECDSA-AES256-GCM-SHA384",
    "ECDHE-ECDSA-AES256-SHA",
    "ECDHE-ECDSA-AES256-SHA384",
    "ECDHE-ECDSA-ARIA128-GCM-SHA256",
    "ECDHE-ECDSA-ARIA256-GCM-SHA384",
    "ECDHE-ECDSA-CAMELLIA128-SHA256",
    "ECDHE-ECDSA-CAMELLIA256-SHA384",
    "ECDHE-ECDSA-CHACHA20-POLY1305",
    "ECDHE-ECDSA-DES-CBC3-SHA",
    "ECDHE-ECDSA-NULL-SHA",
    "ECDHE-ECDSA-RC4-SHA",
    "ECDHE-PSK-AES128-CBC-SHA",
    "ECDHE-PSK-AES128-CBC-SHA256",
    "ECDHE-PSK-AES256-CBC-SHA",
    "ECDHE-PSK-AES256-CBC-SHA384",
    "ECDHE-PSK-CAMELLIA128-SHA256",
    "ECDHE-PSK-CAMELLIA256-SHA384",
    "ECDHE-PSK-CHACHA20-POLY1305",
    "ECDHE-PSK-NULL-SHA",
    "ECDHE-PSK-NULL-SHA256",
    "ECDHE-PSK-NULL-SHA384",
    "ECDHE-RSA-AES128-GCM-SHA256",
    "ECDHE-RSA-AES128-SHA",
    "ECDHE-RSA-AES128-SHA256",
    "ECDHE-RSA-AES256-GCM-SHA384",
    "ECDHE-RSA-AES256-SHA",
    "ECDHE-RSA-AES256-SHA384",
    "ECDHE-RSA-CAMELLIA128-SHA256",
    "ECDHE-RSA-CAMELLIA256-SHA384",
    "ECDHE-RSA-CHACHA20-POLY1305",
    "ECDHE-RSA-DES-CBC3-SHA",
    "ECDHE-RSA-NULL-SHA",
    "ECDHE-RSA-RC4-SHA",
    "EDH-DSS-DES-CBC3-SHA",
    "EDH-RSA-DES-CBC3-SHA",
    "NULL-MD5",
    "NULL-SHA",
    "NULL-SHA256",
    "PSK-AES128-CBC-SHA",
    "PSK-AES128-CBC-SHA256",
    "PSK-AES128-CCM",
    "PSK-AES128-CCM8",
    "PSK-AES128-GCM-SHA256",
    "PSK-AES256-CBC-SHA",
    "PSK-AES256-CBC-SHA384",
    "PSK-AES256-CCM",
    "PSK-AES256-CCM8",
    "PSK-AES256-GCM-SHA384",
    "PSK-ARIA128-GCM-SHA256",
    "PSK-ARIA256-GCM-SHA384",
    "PSK-CAMELLIA128-SHA256",
    "PSK-CAMELLIA256-SHA384",
    "PSK-CHACHA20-POLY1305",
    "PSK-NULL-SHA",
    "PSK-NULL-SHA256",
    "PSK-NULL-SHA384",
    "RC4-MD5",
    "RC4-SHA",
    "RSA-PSK-AES128-CBC-SHA",
    "RSA-PSK-AES128-CBC-SHA256",
    "RSA-PSK-AES128-GCM-SHA256",
    "RSA-PSK-AES256-CBC-SHA",
    "RSA-PSK-AES256-CBC-SHA384",
    "RSA-PSK-AES256-GCM-SHA384",
    "RSA-PSK-ARIA128-GCM-SHA256",
    "RSA-PSK-ARIA256-GCM-SHA384",
    "RSA-PSK-CAMELLIA128-SHA256",
    "RSA-PSK-CAMELLIA256-SHA384",
    "RSA-PSK-CHACHA20-POLY1305",
    "RSA-PSK-NULL-SHA",
    "RSA-PSK-NULL-SHA256",
    "RSA-PSK-NULL-SHA384",
    "SRP-AES-128-CBC-SHA",
    "SRP-AES-256-CBC-SHA",
    "SRP-DSS-AES-128-CBC-SHA",
    "SRP-DSS-AES-256-CBC-SHA",
    "SRP-RSA-AES-128-CBC-SHA",
    "SRP-RSA-AES-256-CBC-SHA",
    "TLS_AES_128_CCM_8_SHA256",
    "TLS_AES_128_CCM_SHA256",
    "TLS_AES_128_GCM_SHA256",
    "TLS_AES_256_GCM_SHA384",
    "TLS_CHACHA20_POLY1305_SHA256",
];

/// Go's `crypto/tls` cipher suite names (what Traefik's `cipherSuites` takes).
pub const GO_NAMES: &[&str] = &[
    "TLS_RSA_WITH_RC4_128_SHA",
    "TLS_RSA_WITH_3DES_EDE_CBC_SHA",
    "TLS_RSA_WITH_AES_128_CBC_SHA",
    "TLS_RSA_WITH_AES_256_CBC_SHA",
    "TLS_RSA_WITH_AES_128_CBC_SHA256",
    "TLS_RSA_WITH_AES_128_GCM_SHA256",
    "TLS_RSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_ECDSA_WITH_RC4_128_SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_RC4_128_SHA",
    "TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256",
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305",
    "TLS_AES_128_GCM_SHA256",
    "TLS_AES_256_GCM_SHA384",
    "TLS_CHACHA20_POLY1305_SHA256",
];

/// OpenSSL cipher-string keywords nginx's `ssl_ciphers` also takes.
const OPENSSL_KEYWORDS: &[&str] = &[
    "ALL",
    "COMPLEMENTOFALL",
    "COMPLEMENTOFDEFAULT",
    "DEFAULT",
    "HIGH",
    "MEDIUM",
    "LOW",
    "eNULL",
    "NULL",
    "aNULL",
    "kRSA",
    "aRSA",
    "RSA",
    "kDHE",
    "kEDH",
    "DH",
    "DHE",
    "EDH",
    "ADH",
    "kEECDH",
    "kECDHE",
    "ECDH",
    "ECDHE",
    "EECDH",
    "AECDH",
    "aDSS",
    "DSS",
    "aECDSA",
    "ECDSA",
    "TLSv1.2",
    "TLSv1.0",
    "TLSv1",
    "SSLv3",
    "AES128",
    "AES256",
    "AES",
    "AESGCM",
    "AESCCM",
    "AESCCM8",
    "ARIA128",
    "ARIA256",
    "ARIA",
    "ARIAGCM",
    "CAMELLIA128",
    "CAMELLIA256",
    "CAMELLIA",
    "CHACHA20",
    "3DES",
    "DES",
    "RC4",
    "RC2",
    "IDEA",
    "SEED",
    "MD5",
    "SHA1",
    "SHA",
    "SHA256",
    "SHA384",
    "kPSK",
    "kECDHEPSK",
    "kDHEPSK",
    "kRSAPSK",
    "aPSK",
    "PSK",
    "kSRP",
    "SRP",
    "aNULL",
    "SUITEB128",
    "SUITEB128ONLY",
    "SUITEB192",
    "CBC",
    "GOST",
    "kGOST",
];

/// Whether one element of a colon-separated `ciphers` is a name (or
/// cipher-string syntax) the ingress accepts.
pub fn known(element: &str) -> bool {
    let e = element.trim();
    // `!X`, `-X`, `+X` remove or move ciphers; `A+B` intersects; `@…` orders.
    if e.starts_with(['!', '-', '+', '@']) || e.contains('+') {
        return true;
    }
    OPENSSL_NAMES.contains(&e) || GO_NAMES.contains(&e) || OPENSSL_KEYWORDS.contains(&e)
}

/// The elements of `ciphers` the ingress does not know, in order, once each.
pub fn unknown(ciphers: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for e in ciphers.split([':', ',', ' ']).map(str::trim) {
        if !e.is_empty() && !known(e) && !out.iter().any(|o| o == e) {
            out.push(e.to_string());
        }
    }
    out
}

/// The TLS 1.2 suites an ingress built on rustls can serve (ECDHE with
/// AES-GCM or ChaCha20-Poly1305, as rustls' ring provider has them), by IANA
/// name, with the OpenSSL and Go names that select each.
const SERVABLE_TLS12: &[(&str, &[&str])] = &[
    (
        "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
        &["ECDHE-ECDSA-AES256-GCM-SHA384"],
    ),
    (
        "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
        &["ECDHE-ECDSA-AES128-GCM-SHA256"],
    ),
    (
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
        &[
            "ECDHE-ECDSA-CHACHA20-POLY1305",
            "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305",
        ],
    ),
    (
        "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
        &["ECDHE-RSA-AES256-GCM-SHA384"],
    ),
    (
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
        &["ECDHE-RSA-AES128-GCM-SHA256"],
    ),
    (
        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
        &[
            "ECDHE-RSA-CHACHA20-POLY1305",
            "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305",
        ],
    ),
];

/// The TLS 1.2 suites (IANA names) a `ciphers` list leaves an ingress that
/// serves only [`SERVABLE_TLS12`]; None for an empty list (the ingress's
/// defaults: all of them). Names are matched as OpenSSL and Go spell them;
/// unknown names select nothing (nginx ignores them when another matches);
/// an OpenSSL keyword or `A+B` expression selects them all (every one is an
/// ECDHE AEAD suite, in HIGH); exclusions (`!X`, `-X`) and ordering are not
/// modelled. TLS 1.3 suites are not chosen by this list (nginx's
/// `ssl_ciphers` and OpenSSL leave them alone).
pub fn servable_tls12(ciphers: &str) -> Option<Vec<&'static str>> {
    let elements: Vec<&str> = ciphers
        .split([':', ',', ' '])
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .collect();
    if elements.is_empty() {
        return None;
    }
    let selects_all = elements.iter().any(|e| {
        !e.starts_with(['!', '-', '@']) && (OPENSSL_KEYWORDS.contains(e) || e.contains('+'))
    });
    Some(
        SERVABLE_TLS12
            .iter()
            .filter(|(iana, aliases)| {
                selects_all || elements.iter().any(|e| e == iana || aliases.contains(e))
            })
            .map(|(iana, _)| *iana)
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openssl_and_go_names_and_cipher_string_syntax_are_known() {
        assert!(
            unknown("ECDHE-RSA-AES128-GCM-SHA256:TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256").is_empty()
        );
        assert!(unknown("HIGH:!aNULL:!MD5:ECDHE+AESGCM:@STRENGTH").is_empty());
        assert_eq!(
            unknown("ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES129-GCM:bogus:bogus"),
            ["ECDHE-RSA-AES129-GCM", "bogus"]
        );
    }

    #[test]
    fn the_servable_tls12_suites_follow_openssl_and_go_names() {
        assert_eq!(servable_tls12(""), None);
        assert_eq!(
            servable_tls12(
                "ECDHE-RSA-AES128-GCM-SHA256:bogus:TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305"
            ),
            Some(vec![
                "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
                "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"
            ])
        );
        assert_eq!(servable_tls12("AES256-SHA:bogus"), Some(vec![]));
        assert_eq!(servable_tls12("HIGH:!aNULL").map(|v| v.len()), Some(6));
    }
}
