//! The `containerd-registry` setting against each node's
//! `/etc/rancher/rke2/registries.yaml`.
//!
//! Harvester copies the setting's mirrors and configs into the provisioning
//! Cluster's `spec.rkeConfig.registries` (the auth into `fleet-local`
//! secrets) and Rancher's planner writes RKE2's `registries.yaml` on every
//! node from it. The setting loses `Configs[*].Auth` after syncing and
//! Rancher keeps only `InsecureSkipVerify` of `TLS`, so what can be compared
//! is the mirrors (endpoints, rewrites) and, per registry,
//! `insecure_skip_verify`. The node file holds the registry passwords: it is
//! wiped when dropped and nothing of its auth is ever reported.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;
use zeroize::Zeroizing;

/// Where RKE2 reads its registry configuration.
pub const REGISTRIES_YAML: &str = "/etc/rancher/rke2/registries.yaml";

/// One mirror: its endpoints (in order) and rewrites.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Mirror {
    pub endpoints: Vec<String>,
    pub rewrites: BTreeMap<String, String>,
}

/// What the setting and a node's file can both say: mirrors, and the
/// registries whose TLS certificate is not checked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RegistryShape {
    pub mirrors: BTreeMap<String, Mirror>,
    pub insecure: BTreeSet<String>,
}

/// Wipes every string of a parsed document (it may hold passwords).
struct Wiped(Value);

impl Drop for Wiped {
    fn drop(&mut self) {
        fn wipe(v: &mut Value) {
            use zeroize::Zeroize;
            match v {
                Value::String(s) => s.zeroize(),
                Value::Array(a) => a.iter_mut().for_each(wipe),
                Value::Object(m) => m.values_mut().for_each(wipe),
                _ => {}
            }
        }
        wipe(&mut self.0);
    }
}

/// Field `name` as Go's `encoding/json` finds it (exact, else ignoring case).
fn go_field<'a>(v: &'a Value, name: &str) -> Option<&'a Value> {
    let o = v.as_object()?;
    o.get(name).or_else(|| {
        o.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    })
}

fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(String::from)
                .collect()
        })
        .unwrap_or_default()
}

fn string_map(v: Option<&Value>) -> BTreeMap<String, String> {
    v.and_then(Value::as_object)
        .map(|o| {
            o.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                .collect()
        })
        .unwrap_or_default()
}

/// The setting's value (Go field names, matched ignoring case); empty is no registries.
pub fn from_setting(value: &str) -> Result<RegistryShape, String> {
    let mut shape = RegistryShape::default();
    if value.trim().is_empty() {
        return Ok(shape);
    }
    let doc = Wiped(
        serde_json::from_str(value)
            .map_err(|_| "the containerd-registry value is not JSON".to_string())?,
    );
    if let Some(Value::Object(ms)) = go_field(&doc.0, "Mirrors") {
        for (host, m) in ms {
            shape.mirrors.insert(
                host.clone(),
                Mirror {
                    endpoints: strings(go_field(m, "Endpoints")),
                    rewrites: string_map(go_field(m, "Rewrites")),
                },
            );
        }
    }
    if let Some(Value::Object(cs)) = go_field(&doc.0, "Configs") {
        for (host, c) in cs {
            let insecure = go_field(c, "TLS")
                .and_then(|t| go_field(t, "InsecureSkipVerify"))
                .and_then(Value::as_bool)
                .unwrap_or(false);
            if insecure {
                shape.insecure.insert(host.clone());
            }
        }
    }
    Ok(shape)
}

/// A node's `registries.yaml` (RKE2's keys); a missing or empty file is no registries.
pub fn from_file(content: Option<&[u8]>) -> Result<RegistryShape, String> {
    let mut shape = RegistryShape::default();
    let Some(bytes) = content else {
        return Ok(shape);
    };
    let text = std::str::from_utf8(bytes).map_err(|_| "registries.yaml is not UTF-8 text")?;
    if text.trim().is_empty() {
        return Ok(shape);
    }
    // No parser error text: it could quote a password.
    let doc =
        Wiped(serde_saphyr::from_str::<Value>(text).map_err(|_| "registries.yaml is not YAML")?);
    if let Some(Value::Object(ms)) = doc.0.get("mirrors") {
        for (host, m) in ms {
            shape.mirrors.insert(
                host.clone(),
                Mirror {
                    endpoints: strings(m.get("endpoint")),
                    rewrites: string_map(m.get("rewrite")),
                },
            );
        }
    }
    if let Some(Value::Object(cs)) = doc.0.get("configs") {
        for (host, c) in cs {
            if c["tls"]["insecure_skip_verify"].as_bool() == Some(true) {
                shape.insecure.insert(host.clone());
            }
        }
    }
    Ok(shape)
}

/// How the node's file differs from the setting, one line per difference
/// (registry names, endpoints and rewrites only; never auth).
pub fn differences(setting: &RegistryShape, node: &RegistryShape) -> Vec<String> {
    let mut out = Vec::new();
    let hosts: BTreeSet<&String> = setting.mirrors.keys().chain(node.mirrors.keys()).collect();
    for h in hosts {
        match (setting.mirrors.get(h), node.mirrors.get(h)) {
            (Some(_), None) => out.push(format!("mirror {h} is missing")),
            (None, Some(_)) => out.push(format!("mirror {h} is not in the setting")),
            (Some(s), Some(n)) => {
                if s.endpoints != n.endpoints {
                    out.push(format!(
                        "mirror {h}: endpoints {} (the setting: {})",
                        list(&n.endpoints),
                        list(&s.endpoints)
                    ));
                }
                if s.rewrites != n.rewrites {
                    out.push(format!("mirror {h}: the rewrites differ"));
                }
            }
            (None, None) => {}
        }
    }
    for h in setting.insecure.symmetric_difference(&node.insecure) {
        out.push(format!(
            "{h}: insecure_skip_verify is {} (the setting: {})",
            node.insecure.contains(h),
            setting.insecure.contains(h)
        ));
    }
    out
}

fn list(v: &[String]) -> String {
    if v.is_empty() {
        "none".into()
    } else {
        v.join(", ")
    }
}

/// JSON text of a string: a valid YAML double-quoted scalar.
fn q(s: &str) -> String {
    Value::String(s.to_string()).to_string()
}

/// RKE2's `registries.yaml` for a setting value, as Rancher's planner
/// renders `spec.rkeConfig.registries` (with the auth Harvester moved into
/// `fleet-local` secrets). None for an empty or unreadable value. Used by
/// the lab's stand-in for the planner.
pub fn render(value: &str) -> Option<Zeroizing<String>> {
    if value.trim().is_empty() {
        return None;
    }
    let doc = Wiped(serde_json::from_str(value).ok()?);
    let mut y = Zeroizing::new(String::new());
    if let Some(Value::Object(ms)) = go_field(&doc.0, "Mirrors")
        && !ms.is_empty()
    {
        y.push_str("mirrors:\n");
        for (host, m) in ms {
            y.push_str(&format!("  {}:\n", q(host)));
            let eps = strings(go_field(m, "Endpoints"));
            if !eps.is_empty() {
                y.push_str("    endpoint:\n");
                for e in eps {
                    y.push_str(&format!("      - {}\n", q(&e)));
                }
            }
            let rw = string_map(go_field(m, "Rewrites"));
            if !rw.is_empty() {
                y.push_str("    rewrite:\n");
                for (k, v) in rw {
                    y.push_str(&format!("      {}: {}\n", q(&k), q(&v)));
                }
            }
        }
    }
    if let Some(Value::Object(cs)) = go_field(&doc.0, "Configs")
        && !cs.is_empty()
    {
        y.push_str("configs:\n");
        for (host, c) in cs {
            y.push_str(&format!("  {}:\n", q(host)));
            if let Some(auth) = go_field(c, "Auth").filter(|a| a.is_object()) {
                y.push_str("    auth:\n");
                for (go, rke2) in [
                    ("Username", "username"),
                    ("Password", "password"),
                    ("Auth", "auth"),
                    ("IdentityToken", "identity_token"),
                ] {
                    if let Some(v) = go_field(auth, go).and_then(Value::as_str)
                        && !v.is_empty()
                    {
                        y.push_str(&format!("      {rke2}: {}\n", q(v)));
                    }
                }
            }
            let insecure = go_field(c, "TLS")
                .and_then(|t| go_field(t, "InsecureSkipVerify"))
                .and_then(Value::as_bool)
                .unwrap_or(false);
            if insecure {
                y.push_str("    tls:\n      insecure_skip_verify: true\n");
            }
        }
    }
    Some(y)
}

#[cfg(test)]
mod tests {
    use super::*;

    const VALUE: &str = r#"{"Mirrors":{"docker.io":{"Endpoints":["https://m.lab"],"Rewrites":{"^a/(.*)":"b/$1"}}},"Configs":{"m.lab":{"Auth":{"Username":"u","Password":"Pa55"},"TLS":{"InsecureSkipVerify":true}}}}"#;

    #[test]
    fn the_rendered_file_matches_its_setting_with_or_without_auth() {
        let file = render(VALUE).unwrap();
        assert!(file.contains("password: \"Pa55\""), "{}", file.as_str());
        let node = from_file(Some(file.as_bytes())).unwrap();
        let setting = from_setting(VALUE).unwrap();
        assert_eq!(differences(&setting, &node), Vec::<String>::new());
        let without_auth = r#"{"mirrors":{"docker.io":{"endpoints":["https://m.lab"],"rewrites":{"^a/(.*)":"b/$1"}}},"configs":{"m.lab":{"TLS":{"InsecureSkipVerify":true}}}}"#;
        assert_eq!(
            differences(&from_setting(without_auth).unwrap(), &node),
            Vec::<String>::new()
        );
        assert_eq!(render(""), None);
        assert_eq!(from_file(None).unwrap(), from_setting("").unwrap());
    }

    #[test]
    fn differences_name_the_mirror_and_never_the_password() {
        let setting = from_setting(VALUE).unwrap();
        let edited = "mirrors:\n  docker.io:\n    endpoint:\n      - https://other.lab\nconfigs:\n  m.lab:\n    auth:\n      password: Pa55\n";
        let d = differences(&setting, &from_file(Some(edited.as_bytes())).unwrap());
        assert_eq!(
            d,
            [
                "mirror docker.io: endpoints https://other.lab (the setting: https://m.lab)",
                "mirror docker.io: the rewrites differ",
                "m.lab: insecure_skip_verify is false (the setting: true)",
            ]
        );
        let d = differences(&setting, &from_file(Some(b"")).unwrap());
        assert!(
            d.contains(&"mirror docker.io is missing".to_string()),
            "{d:?}"
        );
        assert!(from_file(Some(b"mirrors: [\"Pa55")).unwrap_err().len() < 40);
    }
}
