//! The admission rules of Harvester's webhook (settings, harvester.md
//! section 2) and of node-manager's (CloudInit), written for the server being
//! emulated: deliberately not shared with harvcred's own client-side checks,
//! so that a mistake in one shows up against the other.

use std::net::IpAddr;

use serde_json::Value;

use super::controllers::go_field;
use super::errors::{ApiError, HARVESTER_WEBHOOK};
use super::resources::Kind;

/// The name node-manager's validating webhook is registered under.
pub const NODE_MANAGER_WEBHOOK: &str = "validator.harvester-system.harvester-node-manager-webhook";

/// /oem files Harvester's installer and OS own; a CloudInit must not replace them.
pub const PROTECTED_OEM_FILES: &[&str] = &[
    "90_custom.yaml",
    "99_settings.yaml",
    "elemental.config",
    "grubenv",
    "harvester.config",
    "install",
];

/// Why a setting is refused: the inner message is what Harvester words.
fn deny(msg: impl AsRef<str>) -> ApiError {
    ApiError::denied(HARVESTER_WEBHOOK, msg.as_ref())
}

/// Validate a Setting on create or update. `node_ips` are the InternalIPs of
/// the nodes as they are now.
pub fn validate_setting(obj: &Value, node_ips: &[IpAddr]) -> Result<(), ApiError> {
    let name = obj["metadata"]["name"].as_str().unwrap_or("");
    let value = obj.get("value").and_then(Value::as_str).unwrap_or("");
    let default = obj.get("default").and_then(Value::as_str).unwrap_or("");
    // The CRD's schema says string; the API server refuses anything else
    // before any webhook sees it.
    for f in ["value", "default"] {
        if let Some(v) = obj.get(f).filter(|v| !v.is_string() && !v.is_null()) {
            let t = match v {
                Value::Bool(_) => "boolean",
                Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
                Value::Number(_) => "number",
                Value::Array(_) => "array",
                _ => "object",
            };
            return Err(ApiError::invalid(
                Kind::Setting,
                name,
                f,
                &format!("Invalid value: \"{t}\": {f} in body must be of type string: \"{t}\""),
            ));
        }
    }
    match name {
        "http-proxy" => {
            // Harvester checks the default only when it is not "{}", and the
            // value only when it differs from the default.
            if default != "{}" {
                validate_http_proxy(default, node_ips)?;
            }
            if value != default {
                validate_http_proxy(value, node_ips)?;
            }
            Ok(())
        }
        "auto-rotate-rke2-certs" => check_each(value, default, validate_auto_rotate),
        "ssl-parameters" => check_each(value, default, validate_ssl_parameters),
        "ssl-certificates" => check_each(value, default, validate_ssl_certificates),
        // An empty value (the default) is no registry configuration at all.
        "containerd-registry" => check_each(value, default, |v| {
            if v.is_empty() {
                Ok(())
            } else {
                json_object(v).map(|_| ())
            }
        }),
        "kubeconfig-default-token-ttl-minutes" => check_each(value, default, validate_ttl),
        _ => Ok(()),
    }
}

fn check_each(
    value: &str,
    default: &str,
    f: impl Fn(&str) -> Result<(), ApiError>,
) -> Result<(), ApiError> {
    f(default)?;
    f(value)
}

fn json_object(v: &str) -> Result<serde_json::Map<String, Value>, ApiError> {
    serde_json::from_str::<serde_json::Map<String, Value>>(v).map_err(|e| deny(e.to_string()))
}

fn validate_http_proxy(v: &str, node_ips: &[IpAddr]) -> Result<(), ApiError> {
    if v.is_empty() {
        return Ok(());
    }
    let cfg = json_object(v)?;
    // Go's encoding/json matches keys ignoring case: {"HTTPProxy": ...} counts.
    let field = |k: &str| -> Result<String, ApiError> {
        match go_field(&cfg, k) {
            None | Some(Value::Null) => Ok(String::new()),
            Some(Value::String(s)) => Ok(s.clone()),
            Some(_) => Err(deny(format!(
                "json: cannot unmarshal into Go struct field HTTPProxyConfig.{k} of type string"
            ))),
        }
    };
    let (http, https, no_proxy) = (field("httpProxy")?, field("httpsProxy")?, field("noProxy")?);
    if http.is_empty() && https.is_empty() {
        return Ok(());
    }
    let entries: Vec<&str> = no_proxy.split(',').map(str::trim).collect();
    // Go sorts the uncovered addresses as strings.
    let mut uncovered: Vec<String> = node_ips
        .iter()
        .filter(|ip| !entries.iter().any(|e| covers(e, **ip)))
        .map(|ip| ip.to_string())
        .collect();
    if uncovered.is_empty() {
        return Ok(());
    }
    uncovered.sort();
    uncovered.dedup();
    Err(deny(format!(
        "noProxy should contain the node's IP addresses or CIDR. The node(s) {} are not covered.",
        uncovered.join(", ")
    )))
}

/// An IP entry covers an equal IP, a CIDR entry the IPs inside it; anything
/// else (hostnames, domains) covers nothing.
fn covers(entry: &str, ip: IpAddr) -> bool {
    if let Ok(e) = entry.parse::<IpAddr>() {
        return e == ip;
    }
    let Some((net, bits)) = entry.split_once('/') else {
        return false;
    };
    let (Ok(net), Ok(bits)) = (net.parse::<IpAddr>(), bits.parse::<u32>()) else {
        return false;
    };
    let (n, a, width) = match (net, ip) {
        (IpAddr::V4(n), IpAddr::V4(a)) => (u32::from(n) as u128, u32::from(a) as u128, 32),
        (IpAddr::V6(n), IpAddr::V6(a)) => (u128::from(n), u128::from(a), 128),
        _ => return false,
    };
    if bits > width {
        return false;
    }
    let shift = width - bits;
    if shift >= 128 {
        return true;
    }
    (n >> shift) == (a >> shift)
}

fn validate_auto_rotate(v: &str) -> Result<(), ApiError> {
    if v.is_empty() {
        return Ok(());
    }
    let cfg = json_object(v)?;
    if go_field(&cfg, "enable").is_some_and(|e| !e.is_boolean() && !e.is_null()) {
        return Err(deny(
            "json: cannot unmarshal into Go struct field AutoRotateRKE2Certs.enable of type bool",
        ));
    }
    let hours = match go_field(&cfg, "expiringInHours") {
        None | Some(Value::Null) => 0,
        Some(h) => h.as_i64().ok_or_else(|| {
            deny("json: cannot unmarshal into Go struct field AutoRotateRKE2Certs.expiringInHours of type int")
        })?,
    };
    if hours <= 0 {
        return Err(deny("expiringInHours can't be negative or zero"));
    }
    if hours > 8759 {
        // Harvester's own wording, typo included.
        return Err(deny("expiringInHours can't be large than 8759"));
    }
    Ok(())
}

fn validate_ssl_parameters(v: &str) -> Result<(), ApiError> {
    if v.is_empty() {
        return Ok(());
    }
    let cfg = json_object(v)?;
    let protocols = go_field(&cfg, "protocols")
        .and_then(Value::as_str)
        .unwrap_or("");
    const SUPPORTED: &[&str] = &["SSLv2", "SSLv3", "TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3"];
    for p in protocols.split_whitespace() {
        if !SUPPORTED.contains(&p) {
            return Err(deny(format!("unsupported SSL protocol: {p}")));
        }
    }
    Ok(())
}

/// `ssl-certificates` as Harvester's webhook checks it (validator.go with
/// its `pkg/util/tls` helpers): `ca` a CA bundle if set, `publicCertificate`
/// a serving bundle, `privateKey` exactly one private key. Harvester does
/// not check that the key belongs to the certificate, and neither does this.
fn validate_ssl_certificates(v: &str) -> Result<(), ApiError> {
    if v.is_empty() {
        return Ok(());
    }
    let cfg = json_object(v)?;
    let field = |k: &str| -> Result<String, ApiError> {
        match go_field(&cfg, k) {
            None | Some(Value::Null) => Ok(String::new()),
            Some(Value::String(s)) => Ok(s.clone()),
            Some(_) => Err(deny(format!(
                "json: cannot unmarshal into Go struct field SSLCertificate.{k} of type string"
            ))),
        }
    };
    let (ca, cert, key) = (
        field("ca")?,
        field("publicCertificate")?,
        field("privateKey")?,
    );
    if ca.is_empty() && cert.is_empty() && key.is_empty() {
        return Ok(());
    }
    if !ca.is_empty() {
        validate_ca_bundle(&ca).map_err(deny)?;
    }
    validate_serving_bundle(&cert).map_err(deny)?;
    validate_private_key(&key).map_err(deny)
}

/// Go's `containsPEMHeader`: a `-----BEGIN` and the next `-----` on one line.
fn contains_pem_header(data: &str) -> bool {
    let Some(start) = data.find("-----BEGIN") else {
        return false;
    };
    let rest = &data[start + 10..];
    let Some(end) = rest.find("-----") else {
        return false;
    };
    !data[start..start + 10 + end].contains('\n')
}

/// Go's `pem.Decode`, enough for the validators: the first block's type and
/// bytes, and the rest; `None` when the block is malformed.
fn pem_decode(data: &str) -> Option<(String, Vec<u8>, &str)> {
    use base64::Engine;
    let start = data.find("-----BEGIN ")?;
    let after = &data[start + 11..];
    let type_end = after.find("-----")?;
    let label = &after[..type_end];
    if label.contains('\n') {
        return None;
    }
    let body_start = &after[type_end + 5..];
    let end_marker = format!("-----END {label}-----");
    let end = body_start.find(&end_marker)?;
    let body: String = body_start[..end]
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(body)
        .ok()?;
    Some((
        label.to_string(),
        der,
        &body_start[end + end_marker.len()..],
    ))
}

fn validate_ca_bundle(mut data: &str) -> Result<(), String> {
    let mut exists = false;
    while contains_pem_header(data) {
        let (label, _, rest) = pem_decode(data).ok_or("failed to parse PEM block")?;
        if label != "CERTIFICATE" {
            return Err(format!("unexpected block type '{label}'"));
        }
        exists = true;
        data = rest;
    }
    if !exists {
        return Err("failed to locate certificate".into());
    }
    Ok(())
}

fn validate_serving_bundle(mut data: &str) -> Result<(), String> {
    let mut first = true;
    let mut exists = false;
    while contains_pem_header(data) {
        let (label, der, rest) = pem_decode(data).ok_or("failed to parse PEM block")?;
        if label != "CERTIFICATE" {
            return Err(format!("unexpected block type '{label}'"));
        }
        let (_, cert) = x509_parser::parse_x509_certificate(&der)
            .map_err(|_| "x509: malformed certificate".to_string())?;
        if first {
            let has_cn = cert
                .subject()
                .iter_common_name()
                .any(|cn| cn.as_str().is_ok_and(|s| !s.trim().is_empty()));
            let has_san = cert
                .subject_alternative_name()
                .ok()
                .flatten()
                .is_some_and(|san| {
                    san.value.general_names.iter().any(|n| {
                        matches!(
                            n,
                            x509_parser::extensions::GeneralName::DNSName(_)
                                | x509_parser::extensions::GeneralName::IPAddress(_)
                        )
                    })
                });
            if !has_cn && !has_san {
                return Err("certificate has no common name or subject alt name".into());
            }
        }
        first = false;
        exists = true;
        data = rest;
    }
    if !exists {
        return Err("failed to locate certificate".into());
    }
    Ok(())
}

/// Go's `ValidatePrivateKey`, quirks included: a PKCS#8 or PKCS#1 block that
/// parses ends the check successfully at once, one that does not counts as a
/// key; an `EC PRIVATE KEY` must parse.
fn validate_private_key(mut data: &str) -> Result<(), String> {
    use x509_parser::der_parser::parse_der;
    let mut keys = 0;
    while contains_pem_header(data) {
        let (label, der, rest) = pem_decode(data).ok_or("failed to parse PEM block")?;
        match label.as_str() {
            "PRIVATE KEY" => {
                if rcgen::KeyPair::try_from(der.as_slice()).is_ok() {
                    return Ok(());
                }
                keys += 1;
            }
            "RSA PRIVATE KEY" => {
                if parse_der(&der).is_ok_and(|(left, _)| left.is_empty()) {
                    return Ok(());
                }
                keys += 1;
            }
            "EC PRIVATE KEY" => {
                let pem = format!(
                    "-----BEGIN EC PRIVATE KEY-----\n{}\n-----END EC PRIVATE KEY-----\n",
                    {
                        use base64::Engine;
                        base64::engine::general_purpose::STANDARD.encode(&der)
                    }
                );
                crate::lab::pki::key_from_pem(&pem)
                    .map_err(|_| "x509: failed to parse EC private key".to_string())?;
                keys += 1;
            }
            "EC PARAMETERS" => {}
            other => return Err(format!("unexpected block type '{other}'")),
        }
        data = rest;
    }
    match keys {
        0 => Err("failed to locate private key".into()),
        1 => Ok(()),
        _ => Err("multiple private keys".into()),
    }
}

fn validate_ttl(v: &str) -> Result<(), ApiError> {
    if v.is_empty() {
        return Ok(());
    }
    let n: i64 = v
        .parse()
        .map_err(|_| deny(format!("strconv.Atoi: parsing {v:?}: invalid syntax")))?;
    if n < 0 {
        return Err(deny("can't be negative"));
    }
    if n > 52_560_000 {
        return Err(deny("exceeds 100 years"));
    }
    Ok(())
}

/// CloudInit admission: the mutation node-manager applies (`.yaml` appended
/// to the filename) and its checks. `others` are the other CloudInits.
pub fn admit_cloudinit(obj: &mut Value, others: &[Value]) -> Result<(), ApiError> {
    let name = obj["metadata"]["name"].as_str().unwrap_or("").to_string();
    let invalid = |field: &str, why: &str| ApiError::invalid(Kind::CloudInit, &name, field, why);
    let Some(spec) = obj.get_mut("spec").and_then(Value::as_object_mut) else {
        return Err(invalid("spec", "Required value"));
    };
    let mut filename = spec
        .get("filename")
        .and_then(Value::as_str)
        .unwrap_or("")
        .trim()
        .to_string();
    if filename.is_empty() {
        return Err(invalid("spec.filename", "Required value"));
    }
    // node-manager's mutator: the base name only (the file lands in /oem and
    // nowhere else), `.yaml` added unless it ends in `.yaml` or `.yml`.
    filename = filename.rsplit('/').next().unwrap_or("").to_string();
    if filename.is_empty() || filename == "." || filename == ".." || filename.contains('\0') {
        return Err(invalid(
            "spec.filename",
            &format!("Invalid value: {filename:?}: must be a plain file name in /oem"),
        ));
    }
    if !(filename.ends_with(".yaml") || filename.ends_with(".yml")) {
        filename.push_str(".yaml");
    }
    if PROTECTED_OEM_FILES.contains(&filename.as_str()) {
        return Err(ApiError::denied(
            NODE_MANAGER_WEBHOOK,
            &format!(
                "filename conflicts with a critical system-owned file: {filename} is reserved, Harvester manages /oem/{filename} itself"
            ),
        ));
    }
    spec.insert("filename".into(), Value::String(filename.clone()));
    let contents = spec.get("contents").and_then(Value::as_str).unwrap_or("");
    // As node-manager's validator: empty, or one YAML document whose root is a mapping.
    match serde_saphyr::from_str::<serde_json::Value>(contents) {
        Err(e) => {
            let e = e.to_string();
            let first = e.lines().next().unwrap_or("").to_string();
            return Err(invalid(
                "spec.contents",
                &format!("Invalid value: contents must be valid YAML: {first}"),
            ));
        }
        Ok(Value::Object(_) | Value::Null) => {}
        Ok(_) => {
            return Err(invalid(
                "spec.contents",
                "Invalid value: could not parse document as yaml (its root must be a mapping)",
            ));
        }
    }
    match spec.get("matchSelector") {
        None | Some(Value::Null) => {
            spec.insert("matchSelector".into(), Value::Object(Default::default()));
        }
        Some(Value::Object(m)) if m.values().all(Value::is_string) => {}
        Some(_) => {
            return Err(invalid(
                "spec.matchSelector",
                "Invalid value: must be a map of label names to values",
            ));
        }
    }
    if let Some(other) = others.iter().find(|o| {
        o["metadata"]["name"] != name && o["spec"]["filename"].as_str() == Some(filename.as_str())
    }) {
        return Err(ApiError::denied(
            NODE_MANAGER_WEBHOOK,
            &format!(
                "filename {filename} is already used by CloudInit {}",
                other["metadata"]["name"].as_str().unwrap_or("")
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ips(list: &[&str]) -> Vec<IpAddr> {
        list.iter().map(|s| s.parse().unwrap()).collect()
    }

    fn proxy(value: &str) -> Value {
        json!({"metadata":{"name":"http-proxy"},"default":"{}","value":value})
    }

    #[test]
    fn http_proxy_needs_every_node_ip_in_no_proxy() {
        let nodes = ips(&["10.0.0.12", "10.0.0.11", "10.0.0.13"]);
        let err = validate_setting(
            &proxy(r#"{"httpProxy":"http://p:3128","noProxy":"10.0.0.12,example.com"}"#),
            &nodes,
        )
        .unwrap_err();
        assert_eq!(err.code, 400);
        assert_eq!(
            err.message,
            "admission webhook \"validator.harvester-system.harvester-webhook\" denied the request: noProxy should contain the node's IP addresses or CIDR. The node(s) 10.0.0.11, 10.0.0.13 are not covered."
        );
        // A CIDR covers, and an entry with spaces around it counts.
        validate_setting(
            &proxy(r#"{"httpsProxy":"http://p:3128","noProxy":"localhost, 10.0.0.0/24"}"#),
            &nodes,
        )
        .unwrap();
        // No proxy set: nothing to cover. Empty value: the default applies.
        validate_setting(&proxy(r#"{"noProxy":""}"#), &nodes).unwrap();
        validate_setting(&proxy(""), &nodes).unwrap();
        // A hostname never covers an IP; a too-narrow CIDR does not either.
        assert!(
            validate_setting(
                &proxy(r#"{"httpProxy":"http://p","noProxy":"node1,10.0.1.0/24,10.0.0.0/31"}"#),
                &nodes
            )
            .is_err()
        );
        assert!(validate_setting(&proxy("{not json"), &nodes).is_err());
        let err = validate_setting(
            &json!({"metadata":{"name":"http-proxy"},"value":{"httpProxy":"x"}}),
            &nodes,
        )
        .unwrap_err();
        assert_eq!(err.code, 422);
        assert!(err.message.starts_with("Setting.harvesterhci.io \"http-proxy\" is invalid: value: Invalid value: \"object\""), "{}", err.message);
    }

    #[test]
    fn json_keys_match_ignoring_case_as_go_decodes_them() {
        let nodes = ips(&["10.0.0.11"]);
        let err = validate_setting(&proxy(r#"{"HTTPProxy":"http://p:3128"}"#), &nodes)
            .unwrap_err()
            .message;
        assert!(
            err.ends_with("The node(s) 10.0.0.11 are not covered."),
            "{err}"
        );
        validate_setting(
            &proxy(r#"{"HTTPSPROXY":"http://p:3128","NoProxy":"10.0.0.0/24"}"#),
            &nodes,
        )
        .unwrap();
        let s = |v: &str| json!({"metadata":{"name":"auto-rotate-rke2-certs"},"value":v});
        let err = validate_setting(&s(r#"{"Enable":true,"EXPIRINGINHOURS":0}"#), &[])
            .unwrap_err()
            .message;
        assert!(
            err.ends_with("expiringInHours can't be negative or zero"),
            "{err}"
        );
    }

    #[test]
    fn ssl_certificates_are_checked_as_harvesters_tls_helpers_do() {
        let s = |v: Value| json!({"metadata":{"name":"ssl-certificates"},"value":v.to_string()});
        let msg = |v: Value| validate_setting(&s(v), &[]).unwrap_err().message;
        let now = time::OffsetDateTime::now_utc();
        let pki = crate::lab::pki::ClusterPki::generate(now).unwrap();
        let (cert, key) = pki.issue_admin_client();
        let (_, other_key) = pki.issue_admin_client();
        // All empty: the internal certificate again.
        validate_setting(&s(json!({})), &[]).unwrap();
        validate_setting(
            &s(json!({"publicCertificate": cert, "privateKey": key})),
            &[],
        )
        .unwrap();
        // Harvester does not check that the key belongs to the certificate.
        validate_setting(
            &s(json!({"publicCertificate": cert, "privateKey": other_key})),
            &[],
        )
        .unwrap();
        assert!(
            msg(json!({"publicCertificate": "junk", "privateKey": key}))
                .ends_with("denied the request: failed to locate certificate")
        );
        assert!(
            msg(json!({"publicCertificate": key, "privateKey": key}))
                .ends_with("unexpected block type 'EC PRIVATE KEY'")
        );
        assert!(
            msg(json!({"publicCertificate": cert, "privateKey": ""}))
                .ends_with("failed to locate private key")
        );
        assert!(
            msg(json!({"publicCertificate": cert, "privateKey": format!("{key}{other_key}")}))
                .ends_with("multiple private keys")
        );
        assert!(
            msg(json!({"ca": "-----BEGIN CERTIFICATE-----\n!!\n-----END CERTIFICATE-----\n", "publicCertificate": cert, "privateKey": key}))
                .ends_with("failed to parse PEM block")
        );
        // Keys match ignoring case here too.
        assert!(
            msg(json!({"PublicCertificate": "junk", "PRIVATEKEY": key}))
                .ends_with("failed to locate certificate")
        );
    }

    #[test]
    fn auto_rotate_and_ssl_parameters_and_ttl_rules() {
        let s = |name: &str, v: &str| json!({"metadata":{"name":name},"value":v});
        let msg = |name: &str, v: &str| validate_setting(&s(name, v), &[]).unwrap_err().message;
        assert!(
            msg(
                "auto-rotate-rke2-certs",
                r#"{"enable":true,"expiringInHours":0}"#
            )
            .ends_with(": expiringInHours can't be negative or zero")
        );
        assert!(
            msg(
                "auto-rotate-rke2-certs",
                r#"{"enable":true,"expiringInHours":8760}"#
            )
            .ends_with(": expiringInHours can't be large than 8759")
        );
        validate_setting(
            &s(
                "auto-rotate-rke2-certs",
                r#"{"enable":true,"expiringInHours":8759}"#,
            ),
            &[],
        )
        .unwrap();
        assert!(
            msg("ssl-parameters", r#"{"protocols":"TLSv1.2 TLSv1.4"}"#)
                .ends_with(": unsupported SSL protocol: TLSv1.4")
        );
        validate_setting(
            &s(
                "ssl-parameters",
                r#"{"protocols":"TLSv1.2 TLSv1.3","ciphers":"X"}"#,
            ),
            &[],
        )
        .unwrap();
        assert!(msg("kubeconfig-default-token-ttl-minutes", "-1").ends_with(": can't be negative"));
        assert!(
            msg("kubeconfig-default-token-ttl-minutes", "52560001")
                .ends_with(": exceeds 100 years")
        );
        assert!(validate_setting(&s("containerd-registry", "[1"), &[]).is_err());
        validate_setting(&s("additional-ca", "not json at all"), &[]).unwrap();
    }

    #[test]
    fn cloudinit_filenames_are_mutated_and_checked_as_node_manager_does() {
        let ci = |name: &str, file: &str| json!({"metadata":{"name":name},"spec":{"filename":file,"contents":"stages: {}\n"}});
        let mut a = ci("a", "20_keys");
        admit_cloudinit(&mut a, &[]).unwrap();
        assert_eq!(a["spec"]["filename"], "20_keys.yaml");
        assert_eq!(a["spec"]["matchSelector"], json!({}));
        let err = admit_cloudinit(&mut ci("b", "20_keys.yaml"), &[a.clone()]).unwrap_err();
        assert!(
            err.message.contains("already used by CloudInit a"),
            "{}",
            err.message
        );
        for f in [
            "90_custom",
            "90_custom.yaml",
            "99_settings",
            "x/../90_custom.yaml",
        ] {
            let err = admit_cloudinit(&mut ci("p", f), &[]).unwrap_err();
            assert!(
                err.message
                    .contains("conflicts with a critical system-owned file"),
                "{f}: {}",
                err.message
            );
        }
        // node-manager's mutator: base name, `.yml` kept, `.yaml` added otherwise
        // (so `grubenv` becomes a harmless grubenv.yaml).
        for (f, landed) in [
            ("../etc/x", "x.yaml"),
            ("20_keys.yml", "20_keys.yml"),
            ("grubenv", "grubenv.yaml"),
        ] {
            let mut c = ci("p", f);
            admit_cloudinit(&mut c, &[]).unwrap();
            assert_eq!(c["spec"]["filename"], landed);
        }
        for f in ["..", "a\0b"] {
            assert_eq!(admit_cloudinit(&mut ci("p", f), &[]).unwrap_err().code, 422);
        }
        for contents in ["a: [1\n", "- a list\n", "just text\n"] {
            let mut bad =
                json!({"metadata":{"name":"y"},"spec":{"filename":"y","contents":contents}});
            assert_eq!(
                admit_cloudinit(&mut bad, &[]).unwrap_err().code,
                422,
                "{contents}"
            );
        }
    }
}
