//! Discovery and OpenAPI documents, enough for kubectl to resolve `nodes`,
//! `settings.harvesterhci.io`, `cloudinits`, `clusters.provisioning.cattle.io` and
//! `rkecontrolplanes.rke.cattle.io`.
//! The aggregated discovery kubectl asks for first is not offered: answering
//! with plain `application/json` makes it fall back to these.

use serde_json::{Value, json};

use super::resources::{DEFS, KUBELET_VERSION, ResourceDef};

/// `/version` of the RKE2 the lab runs (`v1.33.5+rke2r1`).
pub fn version(rke2_version: &str) -> Value {
    let minor = rke2_version.split('.').nth(1).unwrap_or("33");
    json!({
        "major": "1",
        "minor": minor,
        "gitVersion": rke2_version,
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2025-09-10T00:00:00Z",
        "goVersion": "go1.24.6 X:boringcrypto",
        "compiler": "gc",
        "platform": "linux/amd64",
    })
}

pub fn core_versions(server_address: &str) -> Value {
    json!({
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}],
    })
}

fn groups() -> Vec<(&'static str, &'static str)> {
    let mut out: Vec<(&str, &str)> = Vec::new();
    for d in DEFS.iter().filter(|d| !d.group.is_empty()) {
        if !out.contains(&(d.group, d.version)) {
            out.push((d.group, d.version));
        }
    }
    out
}

fn group_doc(group: &str, version: &str) -> Value {
    let gv = json!({"groupVersion": format!("{group}/{version}"), "version": version});
    json!({
        "kind": "APIGroup",
        "apiVersion": "v1",
        "name": group,
        "versions": [gv.clone()],
        "preferredVersion": gv,
    })
}

pub fn group_list() -> Value {
    let groups: Vec<Value> = groups()
        .into_iter()
        .map(|(g, v)| {
            let mut d = group_doc(g, v);
            if let Some(m) = d.as_object_mut() {
                m.remove("kind");
                m.remove("apiVersion");
            }
            d
        })
        .collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

pub fn group(group: &str) -> Option<Value> {
    groups()
        .into_iter()
        .find(|(g, _)| *g == group)
        .map(|(g, v)| group_doc(g, v))
}

fn resource(d: &ResourceDef) -> Value {
    let mut r = json!({
        "name": d.plural,
        "singularName": d.singular,
        "namespaced": d.namespaced,
        "kind": d.kind,
        "verbs": d.verbs,
    });
    if !d.short_names.is_empty() {
        r["shortNames"] = json!(d.short_names);
    }
    r
}

/// The APIResourceList of `/api/v1` (group "") or `/apis/<group>/<version>`.
pub fn resource_list(group: &str, version: &str) -> Option<Value> {
    let defs: Vec<&ResourceDef> = DEFS
        .iter()
        .filter(|d| d.group == group && d.version == version)
        .collect();
    if defs.is_empty() {
        return None;
    }
    let group_version = if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    };
    Some(json!({
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": group_version,
        "resources": defs.into_iter().map(resource).collect::<Vec<_>>(),
    }))
}

fn gv_path(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("api/{version}")
    } else {
        format!("apis/{group}/{version}")
    }
}

/// The OpenAPI v3 index. kubectl `create`/`apply` refuse to run without
/// OpenAPI unless told `--validate=false`: the per-group documents below tell
/// it the server validates fields itself, so it sends the object as is.
pub fn openapi_v3_index() -> Value {
    let mut paths = serde_json::Map::new();
    for d in DEFS.iter() {
        let p = gv_path(d.group, d.version);
        let url = format!("/openapi/v3/{p}?hash=harvcred-lab-1");
        paths.insert(p, json!({ "serverRelativeURL": url }));
    }
    json!({ "paths": paths })
}

/// A minimal OpenAPI v3 document for one group/version: every object is an
/// open schema (`x-kubernetes-preserve-unknown-fields`), and create and patch
/// declare `fieldValidation`, which is what kubectl looks for. Patch bodies
/// list merge and JSON patch only, so `kubectl apply` picks a merge patch.
pub fn openapi_v3_group(path: &str) -> Option<Value> {
    let defs: Vec<&ResourceDef> = DEFS
        .iter()
        .filter(|d| gv_path(d.group, d.version) == path)
        .collect();
    if defs.is_empty() {
        return None;
    }
    let mut paths = serde_json::Map::new();
    let mut schemas = serde_json::Map::new();
    for d in defs {
        let gvk = json!({"group": d.group, "version": d.version, "kind": d.kind});
        let schema_name = if d.group.is_empty() {
            format!("io.k8s.api.core.{}.{}", d.version, d.kind)
        } else {
            let reversed: Vec<&str> = d.group.split('.').rev().collect();
            format!("{}.{}.{}", reversed.join("."), d.version, d.kind)
        };
        let schema_ref = json!({"$ref": format!("#/components/schemas/{schema_name}")});
        schemas.insert(
            schema_name.clone(),
            json!({
                "type": "object",
                "x-kubernetes-preserve-unknown-fields": true,
                "x-kubernetes-group-version-kind": [gvk.clone()],
            }),
        );
        let field_validation = json!([
            {"name": "fieldValidation", "in": "query", "schema": {"type": "string", "uniqueItems": true}},
            {"name": "dryRun", "in": "query", "schema": {"type": "string", "uniqueItems": true}},
        ]);
        let ok = json!({"200": {"description": "OK", "content": {"application/json": {"schema": schema_ref}}}});
        let base = if d.namespaced {
            format!("/{}/namespaces/{{namespace}}/{}", path, d.plural)
        } else {
            format!("/{}/{}", path, d.plural)
        };
        let mut item = serde_json::Map::new();
        item.insert(
            "get".into(),
            json!({"x-kubernetes-group-version-kind": gvk, "responses": ok}),
        );
        if d.allows("patch") {
            item.insert(
                "patch".into(),
                json!({
                    "x-kubernetes-group-version-kind": gvk,
                    "parameters": field_validation,
                    "requestBody": {"content": {
                        "application/merge-patch+json": {"schema": {"type": "object"}},
                        "application/json-patch+json": {"schema": {"type": "object"}},
                    }},
                    "responses": ok,
                }),
            );
        }
        if d.allows("update") {
            item.insert(
                "put".into(),
                json!({
                    "x-kubernetes-group-version-kind": gvk,
                    "parameters": field_validation,
                    "requestBody": {"content": {"application/json": {"schema": schema_ref}}},
                    "responses": ok,
                }),
            );
        }
        paths.insert(format!("{base}/{{name}}"), Value::Object(item));
        if d.allows("create") {
            paths.insert(
                base,
                json!({"post": {
                    "x-kubernetes-group-version-kind": gvk,
                    "parameters": field_validation,
                    "requestBody": {"content": {"application/json": {"schema": schema_ref}}},
                    "responses": ok,
                }}),
            );
        }
    }
    Some(json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": KUBELET_VERSION},
        "paths": paths,
        "components": {"schemas": schemas},
    }))
}
