//! Server-side printing: the `meta.k8s.io/v1 Table` kubectl asks for with
//! `Accept: application/json;as=Table;v=v1;g=meta.k8s.io`, with the columns the
//! real API server (and Harvester's CRD printer columns) give.

use serde_json::{Value, json};

use super::resources::Kind;
use super::store::meta_str;

/// Does the Accept header ask for a Table?
pub fn wants_table(accept: &str) -> bool {
    accept.split(',').any(|part| {
        let params: Vec<&str> = part.split(';').map(str::trim).collect();
        params.contains(&"as=Table") && params.contains(&"g=meta.k8s.io")
    })
}

fn col(name: &str, typ: &str, format: &str, priority: u8, description: &str) -> Value {
    json!({"name": name, "type": typ, "format": format, "description": description, "priority": priority})
}

fn columns(kind: Kind) -> Vec<Value> {
    let name = col(
        "Name",
        "string",
        "name",
        0,
        "Name must be unique within a namespace.",
    );
    let age = col(
        "Age",
        "string",
        "",
        0,
        "CreationTimestamp is a timestamp representing the server time when this object was created.",
    );
    match kind {
        Kind::Node => vec![
            name,
            col("Status", "string", "", 0, "The status of the node"),
            col("Roles", "string", "", 0, "The roles of the node"),
            age,
            col(
                "Version",
                "string",
                "",
                0,
                "Kubelet Version reported by the node.",
            ),
            col(
                "Internal-IP",
                "string",
                "",
                1,
                "List of internal IPs for the node.",
            ),
            col(
                "External-IP",
                "string",
                "",
                1,
                "List of external IPs for the node.",
            ),
            col(
                "OS-Image",
                "string",
                "",
                1,
                "OS Image reported by the node from /etc/os-release (e.g. Debian GNU/Linux 7 (wheezy)).",
            ),
            col(
                "Kernel-Version",
                "string",
                "",
                1,
                "Kernel Version reported by the node from 'uname -r' (e.g. 3.16.0-0.bpo.4-amd64).",
            ),
            col(
                "Container-Runtime",
                "string",
                "",
                1,
                "Container runtime version reported by the node through runtime remote API (e.g. containerd://1.4.2).",
            ),
        ],
        Kind::Setting => vec![name, col("Value", "string", "", 0, "")],
        Kind::Namespace => vec![
            name,
            col("Status", "string", "", 0, "The status of the namespace"),
            age,
        ],
        Kind::Secret => vec![
            name,
            col("Type", "string", "", 0, "The type of the secret"),
            col(
                "Data",
                "string",
                "",
                0,
                "The number of entries in the secret",
            ),
            age,
        ],
        Kind::ConfigMap => vec![
            name,
            col(
                "Data",
                "string",
                "",
                0,
                "The number of entries in the config map",
            ),
            age,
        ],
        Kind::CloudInit | Kind::Cluster | Kind::RkeControlPlane => vec![name, age],
    }
}

fn addresses(obj: &Value, typ: &str) -> String {
    let list: Vec<&str> = obj["status"]["addresses"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|a| a["type"] == typ)
        .filter_map(|a| a["address"].as_str())
        .collect();
    if list.is_empty() {
        "<none>".into()
    } else {
        list.join(",")
    }
}

fn cells(kind: Kind, obj: &Value, now: time::OffsetDateTime) -> Vec<Value> {
    let name = json!(meta_str(obj, "name").unwrap_or(""));
    let age = json!(age(obj, now));
    let s = |v: &Value| json!(v.as_str().unwrap_or(""));
    match kind {
        Kind::Node => {
            let ready = obj["status"]["conditions"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|c| c["type"] == "Ready")
                .map(|c| {
                    if c["status"] == "True" {
                        "Ready"
                    } else {
                        "NotReady"
                    }
                })
                .unwrap_or("Unknown");
            let mut roles: Vec<&str> = obj["metadata"]["labels"]
                .as_object()
                .into_iter()
                .flatten()
                .filter_map(|(k, _)| k.strip_prefix("node-role.kubernetes.io/"))
                .collect();
            roles.sort();
            let roles = if roles.is_empty() {
                "<none>".to_string()
            } else {
                roles.join(",")
            };
            let info = &obj["status"]["nodeInfo"];
            vec![
                name,
                json!(ready),
                json!(roles),
                age,
                s(&info["kubeletVersion"]),
                json!(addresses(obj, "InternalIP")),
                json!(addresses(obj, "ExternalIP")),
                s(&info["osImage"]),
                s(&info["kernelVersion"]),
                s(&info["containerRuntimeVersion"]),
            ]
        }
        Kind::Setting => vec![name, s(&obj["value"])],
        Kind::Namespace => vec![name, s(&obj["status"]["phase"]), age],
        Kind::Secret => {
            let n = obj["data"].as_object().map_or(0, |m| m.len());
            vec![name, s(&obj["type"]), json!(n), age]
        }
        Kind::ConfigMap => {
            let n = obj["data"].as_object().map_or(0, |m| m.len());
            vec![name, json!(n), age]
        }
        Kind::CloudInit | Kind::Cluster | Kind::RkeControlPlane => vec![name, age],
    }
}

fn age(obj: &Value, now: time::OffsetDateTime) -> String {
    let Some(ts) = meta_str(obj, "creationTimestamp").and_then(|t| {
        time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).ok()
    }) else {
        return "<unknown>".into();
    };
    human_duration((now - ts).whole_seconds().max(0))
}

/// Kubernetes' `duration.HumanDuration`, the AGE column's format.
pub fn human_duration(secs: i64) -> String {
    let (m, h, d) = (secs / 60, secs / 3600, secs / 86400);
    if secs < 120 {
        format!("{secs}s")
    } else if m < 10 {
        if secs % 60 == 0 {
            format!("{m}m")
        } else {
            format!("{m}m{}s", secs % 60)
        }
    } else if h < 3 {
        format!("{m}m")
    } else if h < 8 {
        if m % 60 == 0 {
            format!("{h}h")
        } else {
            format!("{h}h{}m", m % 60)
        }
    } else if h < 48 {
        format!("{h}h")
    } else if h < 24 * 8 {
        if h % 24 == 0 {
            format!("{d}d")
        } else {
            format!("{d}d{}h", h % 24)
        }
    } else if h < 24 * 365 * 2 {
        format!("{d}d")
    } else if h < 24 * 365 * 8 {
        let y = d / 365;
        if d % 365 == 0 {
            format!("{y}y")
        } else {
            format!("{y}y{}d", d % 365)
        }
    } else {
        format!("{}y", d / 365)
    }
}

/// The row's object: the whole object with `includeObject=Object`, else
/// (the default) its metadata as a PartialObjectMetadata.
fn row_object(obj: &Value, include: &str) -> Value {
    match include {
        "None" => Value::Null,
        "Object" => obj.clone(),
        _ => json!({
            "kind": "PartialObjectMetadata",
            "apiVersion": "meta.k8s.io/v1",
            "metadata": obj["metadata"].clone(),
        }),
    }
}

pub fn table(kind: Kind, objects: &[Value], resource_version: u64, include: &str) -> Value {
    let now = time::OffsetDateTime::now_utc();
    let rows: Vec<Value> = objects
        .iter()
        .map(|o| json!({"cells": cells(kind, o, now), "object": row_object(o, include)}))
        .collect();
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": resource_version.to_string()},
        "columnDefinitions": columns(kind),
        "rows": rows,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lab::plan::Role;

    #[test]
    fn node_rows_read_like_kubectl_get_nodes_wide() {
        let node = super::super::resources::node_object(
            "node1",
            "10.0.0.11",
            Role::Server,
            "v1.33.5+rke2r1",
        );
        let t = table(Kind::Node, &[node], 5, "");
        let row = &t["rows"][0]["cells"];
        assert_eq!(row[0], "node1");
        assert_eq!(row[1], "Ready");
        assert_eq!(row[2], "control-plane,etcd,master");
        assert_eq!(row[4], "v1.33.5+rke2r1");
        assert_eq!(row[5], "10.0.0.11");
        assert_eq!(row[6], "<none>");
        assert_eq!(row[9], "containerd://2.0.5-k3s2");
        assert_eq!(t["columnDefinitions"][5]["priority"], 1);
        assert_eq!(t["rows"][0]["object"]["kind"], "PartialObjectMetadata");
    }

    #[test]
    fn ages_and_accept_headers() {
        assert_eq!(human_duration(5), "5s");
        assert_eq!(human_duration(150), "2m30s");
        assert_eq!(human_duration(3 * 3600 + 60), "3h1m");
        assert_eq!(human_duration(3 * 86400), "3d");
        assert!(wants_table(
            "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json"
        ));
        assert!(!wants_table("application/json"));
    }
}
