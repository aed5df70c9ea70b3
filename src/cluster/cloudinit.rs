//! Harvester's `CloudInit` resource (`cloudinits.node.harvesterhci.io`,
//! node-manager, v1.3+): the supported way to persist a change in `/oem`.
//! node-manager writes `spec.contents` as `/oem/<spec.filename>` on every
//! node whose labels match `spec.matchSelector` and reports per node under
//! `status.rollouts.<node>.conditions`; the file takes effect at the node's
//! next boot. Flows prefer it to editing `/oem` over SSH where the cluster
//! serves it.
//!
//! Contents may carry a password hash or keys: they travel only in request
//! bodies borrowed from zeroised text and never show in `Debug`.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use kube::api::{ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams};
use kube::{Api, Client};
use serde::Serialize;
use zeroize::Zeroizing;

const GROUP: &str = "node.harvesterhci.io";
const VERSION: &str = "v1beta1";
const PLURAL: &str = "cloudinits";
const TIMEOUT: Duration = Duration::from_secs(15);
/// The label every node carries with its host name (what a per-node selector uses).
pub const HOSTNAME_LABEL: &str = "kubernetes.io/hostname";

fn api(client: Client) -> Api<DynamicObject> {
    let gvk = GroupVersionKind::gvk(GROUP, VERSION, "CloudInit");
    let ar = ApiResource::from_gvk_with_plural(&gvk, PLURAL);
    Api::all_with(client, &ar)
}

/// Which nodes a CloudInit applies to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selector {
    /// `{}`: every node, also those that join later.
    All,
    /// One node, by its host name label.
    Node(String),
    /// Any other label set, as read from a resource.
    Labels(BTreeMap<String, String>),
}

impl Selector {
    fn to_map(&self) -> BTreeMap<String, String> {
        match self {
            Selector::All => BTreeMap::new(),
            Selector::Node(n) => BTreeMap::from([(HOSTNAME_LABEL.to_string(), n.clone())]),
            Selector::Labels(m) => m.clone(),
        }
    }

    fn from_map(m: BTreeMap<String, String>) -> Selector {
        if m.is_empty() {
            Selector::All
        } else if m.len() == 1
            && let Some(n) = m.get(HOSTNAME_LABEL)
        {
            Selector::Node(n.clone())
        } else {
            Selector::Labels(m)
        }
    }

    /// Whether a node with these labels is selected (every pair must match).
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.to_map().iter().all(|(k, v)| labels.get(k) == Some(v))
    }
}

/// What a CloudInit says.
pub struct CloudInit {
    pub name: String,
    pub selector: Selector,
    /// The file name in `/oem` (yip reads `/oem/*.yaml` in name order).
    pub filename: String,
    pub contents: Zeroizing<String>,
    pub paused: bool,
}

impl fmt::Debug for CloudInit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CloudInit")
            .field("name", &self.name)
            .field("selector", &self.selector)
            .field("filename", &self.filename)
            .field("contents", &format_args!("<{} bytes>", self.contents.len()))
            .field("paused", &self.paused)
            .finish()
    }
}

/// One node's rollout of a CloudInit, from `status.rollouts.<node>.conditions`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Rollout {
    pub applicable: Option<bool>,
    /// The file is in the node's `/oem` as the resource says.
    pub present: Option<bool>,
    /// The file differs from the resource (edited by hand, or not written yet).
    pub out_of_sync: Option<bool>,
    /// The first non-empty condition message.
    pub message: String,
}

impl Rollout {
    /// In place on the node (applies at its next boot).
    pub fn done(&self) -> bool {
        self.present == Some(true) && self.out_of_sync != Some(true)
    }
}

/// A CloudInit as read, with the version a change must start from.
#[derive(Debug)]
pub struct CloudInitRead {
    pub cloudinit: CloudInit,
    pub resource_version: String,
    pub rollouts: BTreeMap<String, Rollout>,
}

#[derive(Debug, thiserror::Error)]
pub enum ApplyFailure {
    /// Changed (or created) by someone else since it was read.
    #[error("the CloudInit changed since it was read (409 Conflict); read it again")]
    Conflict,
    /// Refused by the API (validation, webhook): its message, verbatim.
    #[error("{0}")]
    Denied(String),
    #[error("{0}")]
    Other(String),
}

/// Whether the cluster serves CloudInit (Harvester v1.3 and later).
pub async fn served(client: &Client) -> Result<bool, String> {
    let res = tokio::time::timeout(
        TIMEOUT,
        client.list_api_group_resources(&format!("{GROUP}/{VERSION}")),
    )
    .await;
    match res {
        Ok(Ok(list)) => Ok(list.resources.iter().any(|r| r.name == PLURAL)),
        Ok(Err(kube::Error::Api(st))) if st.code == 404 => Ok(false),
        Ok(Err(e)) => Err(format!(
            "asking the API for {GROUP}/{VERSION}: {}",
            super::chain_text(&e)
        )),
        Err(_) => Err(format!(
            "asking the API for {GROUP}/{VERSION}: no answer within 15 s"
        )),
    }
}

fn parse(obj: &DynamicObject) -> Result<CloudInitRead, String> {
    let spec = &obj.data["spec"];
    let selector: BTreeMap<String, String> = spec["matchSelector"]
        .as_object()
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                .collect()
        })
        .unwrap_or_default();
    let cond = |conds: &serde_json::Value, kind: &str| {
        conds.as_array().and_then(|a| {
            a.iter()
                .find(|c| c["type"] == kind)
                .map(|c| c["status"] == "True")
        })
    };
    let mut rollouts = BTreeMap::new();
    if let Some(map) = obj.data["status"]["rollouts"].as_object() {
        for (node, r) in map {
            let conds = &r["conditions"];
            let message = conds
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|c| c["message"].as_str())
                .find(|m| !m.is_empty())
                .unwrap_or("")
                .to_string();
            rollouts.insert(
                node.clone(),
                Rollout {
                    applicable: cond(conds, "Applicable"),
                    present: cond(conds, "Present"),
                    out_of_sync: cond(conds, "OutOfSync"),
                    message,
                },
            );
        }
    }
    Ok(CloudInitRead {
        cloudinit: CloudInit {
            name: obj.metadata.name.clone().unwrap_or_default(),
            selector: Selector::from_map(selector),
            filename: spec["filename"].as_str().unwrap_or("").to_string(),
            contents: Zeroizing::new(spec["contents"].as_str().unwrap_or("").to_string()),
            paused: spec["paused"].as_bool().unwrap_or(false),
        },
        resource_version: obj
            .metadata
            .resource_version
            .clone()
            .ok_or("the API returned a CloudInit without resourceVersion")?,
        rollouts,
    })
}

/// Reads every CloudInit (the keys flow names the ones that persist a key).
pub async fn list(client: &Client) -> Result<Vec<CloudInitRead>, String> {
    match tokio::time::timeout(TIMEOUT, api(client.clone()).list(&Default::default())).await {
        Ok(Ok(l)) => l.items.iter().map(parse).collect(),
        Ok(Err(e)) => Err(format!("listing CloudInits: {}", super::chain_text(&e))),
        Err(_) => Err("listing CloudInits: no answer within 15 s".into()),
    }
}

/// Reads one CloudInit; `None` when it does not exist.
pub async fn get(client: &Client, name: &str) -> Result<Option<CloudInitRead>, String> {
    match tokio::time::timeout(TIMEOUT, api(client.clone()).get_opt(name)).await {
        Ok(Ok(Some(obj))) => parse(&obj).map(Some),
        Ok(Ok(None)) => Ok(None),
        Ok(Err(e)) => Err(format!(
            "reading CloudInit {name}: {}",
            super::chain_text(&e)
        )),
        Err(_) => Err(format!("reading CloudInit {name}: no answer within 15 s")),
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Body<'a> {
    api_version: &'static str,
    kind: &'static str,
    metadata: Meta<'a>,
    spec: Spec<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Meta<'a> {
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    resource_version: Option<&'a str>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Spec<'a> {
    match_selector: BTreeMap<String, String>,
    filename: &'a str,
    contents: &'a str,
    paused: bool,
}

/// kube requires `Debug` of a patch body; the contents stay hidden.
impl fmt::Debug for Body<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CloudInit {} <contents hidden>", self.metadata.name)
    }
}

fn failure(name: &str, e: kube::Error) -> ApplyFailure {
    match e {
        kube::Error::Api(st) if st.code == 409 => ApplyFailure::Conflict,
        kube::Error::Api(st) if matches!(st.code, 400 | 403 | 422) => {
            ApplyFailure::Denied(st.message.clone())
        }
        e => ApplyFailure::Other(format!(
            "writing CloudInit {name}: {}",
            super::chain_text(&e)
        )),
    }
}

/// Creates the CloudInit (`from_version` None: it must not exist yet) or
/// replaces it if it is still at `from_version`. With `dry_run` the API
/// validates and stores nothing. Returns what the API now holds.
pub async fn apply(
    client: &Client,
    ci: &CloudInit,
    from_version: Option<&str>,
    dry_run: bool,
) -> Result<CloudInitRead, ApplyFailure> {
    let api = api(client.clone());
    let body = Body {
        api_version: "node.harvesterhci.io/v1beta1",
        kind: "CloudInit",
        metadata: Meta {
            name: &ci.name,
            resource_version: from_version,
        },
        spec: Spec {
            match_selector: ci.selector.to_map(),
            filename: &ci.filename,
            contents: ci.contents.as_str(),
            paused: ci.paused,
        },
    };
    let res = match from_version {
        None => {
            // Typed create goes through a DynamicObject; build it from the
            // body so the contents are serialised once, into a zeroised buffer.
            let json = Zeroizing::new(serde_json::to_vec(&body).map_err(|e| {
                ApplyFailure::Other(format!("encoding CloudInit {}: {e}", ci.name))
            })?);
            let obj: DynamicObject = serde_json::from_slice(&json)
                .map_err(|e| ApplyFailure::Other(format!("encoding CloudInit {}: {e}", ci.name)))?;
            let pp = PostParams {
                dry_run,
                ..Default::default()
            };
            tokio::time::timeout(TIMEOUT, api.create(&pp, &obj)).await
        }
        Some(_) => {
            let pp = PatchParams {
                dry_run,
                ..Default::default()
            };
            tokio::time::timeout(TIMEOUT, api.patch(&ci.name, &pp, &Patch::Merge(&body))).await
        }
    };
    match res {
        Ok(Ok(obj)) => parse(&obj).map_err(ApplyFailure::Other),
        Ok(Err(e)) => Err(failure(&ci.name, e)),
        Err(_) => Err(ApplyFailure::Other(format!(
            "writing CloudInit {}: no answer within 15 s; read it again before retrying",
            ci.name
        ))),
    }
}

/// Deletes a CloudInit. node-manager then removes its file from `/oem`;
/// what it set on the nodes is not rolled back.
pub async fn delete(client: &Client, name: &str) -> Result<(), String> {
    match tokio::time::timeout(
        TIMEOUT,
        api(client.clone()).delete(name, &Default::default()),
    )
    .await
    {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(kube::Error::Api(st))) if st.code == 404 => Ok(()),
        Ok(Err(e)) => Err(format!(
            "deleting CloudInit {name}: {}",
            super::chain_text(&e)
        )),
        Err(_) => Err(format!("deleting CloudInit {name}: no answer within 15 s")),
    }
}

/// Follows `status.rollouts` until every node in `nodes` has the file in
/// place, or `timeout`; returns the last rollout seen per node (a node never
/// reported has the default, all unknown).
pub async fn follow_rollouts(
    client: &Client,
    name: &str,
    nodes: &[String],
    timeout: Duration,
    mut progress: impl FnMut(&BTreeMap<String, Rollout>),
) -> BTreeMap<String, Rollout> {
    let deadline = tokio::time::Instant::now() + timeout;
    let mut last: BTreeMap<String, Rollout> = BTreeMap::new();
    loop {
        if let Ok(Some(read)) = get(client, name).await {
            let now: BTreeMap<String, Rollout> = nodes
                .iter()
                .map(|n| (n.clone(), read.rollouts.get(n).cloned().unwrap_or_default()))
                .collect();
            if now != last {
                progress(&now);
                last = now;
            }
            if last.values().all(Rollout::done) {
                return last;
            }
        }
        if tokio::time::Instant::now() >= deadline {
            return last;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selectors_are_the_label_maps_node_manager_matches() {
        let node1 = BTreeMap::from([
            (HOSTNAME_LABEL.to_string(), "node1".to_string()),
            (
                "node-role.kubernetes.io/control-plane".into(),
                "true".into(),
            ),
        ]);
        assert!(Selector::All.matches(&node1));
        assert!(Selector::Node("node1".into()).matches(&node1));
        assert!(!Selector::Node("node2".into()).matches(&node1));
        assert_eq!(Selector::from_map(BTreeMap::new()), Selector::All);
        assert_eq!(
            Selector::from_map(Selector::Node("n".into()).to_map()),
            Selector::Node("n".into())
        );
    }

    #[test]
    fn rollouts_and_spec_are_read_from_the_resource() {
        let obj: DynamicObject = serde_json::from_value(serde_json::json!({
            "apiVersion": "node.harvesterhci.io/v1beta1",
            "kind": "CloudInit",
            "metadata": {"name": "harvcred-passwd-node1", "resourceVersion": "42"},
            "spec": {
                "matchSelector": {"kubernetes.io/hostname": "node1"},
                "filename": "99_harvcred_passwd.yaml",
                "contents": "stages: {}\n",
                "paused": false
            },
            "status": {"rollouts": {"node1": {"conditions": [
                {"type": "Applicable", "status": "True"},
                {"type": "OutOfSync", "status": "False"},
                {"type": "Present", "status": "True"}
            ]}, "node2": {"conditions": [
                {"type": "Applicable", "status": "True"},
                {"type": "OutOfSync", "status": "True", "message": "file was edited"},
                {"type": "Present", "status": "True"}
            ]}}}
        }))
        .unwrap();
        let r = parse(&obj).unwrap();
        assert_eq!(r.resource_version, "42");
        assert_eq!(r.cloudinit.selector, Selector::Node("node1".into()));
        assert_eq!(r.cloudinit.filename, "99_harvcred_passwd.yaml");
        assert!(r.rollouts["node1"].done());
        assert!(!r.rollouts["node2"].done());
        assert_eq!(r.rollouts["node2"].message, "file was edited");
    }

    #[test]
    fn debug_hides_the_contents() {
        let ci = CloudInit {
            name: "x".into(),
            selector: Selector::All,
            filename: "99_x.yaml".into(),
            contents: Zeroizing::new("passwd: $6$SECRETSALT$hash".into()),
            paused: false,
        };
        let body = Body {
            api_version: "v",
            kind: "k",
            metadata: Meta {
                name: "x",
                resource_version: None,
            },
            spec: Spec {
                match_selector: BTreeMap::new(),
                filename: "f",
                contents: ci.contents.as_str(),
                paused: false,
            },
        };
        for d in [format!("{ci:?}"), format!("{body:?}")] {
            assert!(!d.contains("SECRET"), "{d}");
        }
    }
}
