//! The Kubernetes side: a client from the kubeconfig (like kubectl), the node
//! list by watch, why the API cannot be reached; and the two other sources of
//! the node list, the inventory file and the cached last-known list.

pub mod cloudinit;
pub mod rancher;
pub mod rotation;
pub mod settings;

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
use futures::StreamExt;
use k8s_openapi::api::core::v1::Node;
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc::Sender;

use crate::model::{ApiProblem, ApiProblemKind, ApiState, NodeInfo, Role};

/// Which kubeconfig and context to use; None = like kubectl ($KUBECONFIG, ~/.kube/config).
#[derive(Debug, Clone, Default)]
pub struct KubeSettings {
    pub kubeconfig: Option<PathBuf>,
    pub context: Option<String>,
}

/// A client and the names to show for it.
pub async fn connect(s: &KubeSettings) -> Result<(Client, String, String), ApiProblem> {
    let (config, context) = client_config(s).await?;
    let server = config.cluster_url.to_string();
    let client = Client::try_from(config).map_err(|e| classify(&e))?;
    Ok((client, context, server))
}

/// The client configuration of a kubeconfig context (like kubectl) and the
/// context's name.
pub async fn client_config(s: &KubeSettings) -> Result<(kube::Config, String), ApiProblem> {
    let config_problem = |e: &(dyn std::error::Error + 'static)| ApiProblem {
        kind: ApiProblemKind::Config,
        detail: chain_text(e),
    };
    let kc = match &s.kubeconfig {
        Some(p) => Kubeconfig::read_from(p),
        None => Kubeconfig::read(),
    }
    .map_err(|e| config_problem(&e))?;
    let context = s
        .context
        .clone()
        .or_else(|| kc.current_context.clone())
        .unwrap_or_else(|| "default".into());
    let opts = KubeConfigOptions {
        context: s.context.clone(),
        ..Default::default()
    };
    let mut config = kube::Config::from_custom_kubeconfig(kc, &opts)
        .await
        .map_err(|e| config_problem(&e))?;
    // An unreachable API must be reported in seconds, not after the default 30.
    config.connect_timeout = Some(Duration::from_secs(5));
    Ok((config, context))
}

/// How often the API is asked for its version while the watch is quiet: a
/// watch on a server that stopped answering (link cut, host hung) would
/// otherwise stay silent for minutes.
const HEARTBEAT: Duration = Duration::from_secs(10);

/// Watch the nodes until the receiver goes away. Errors are reported and the
/// watch retried with backoff, so the API coming back is noticed by itself.
/// What the node watch reports; the console turns each into its own message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WatchEvent {
    /// The API's complete node list (first list, and after every re-list).
    Listed(Vec<NodeInfo>),
    Applied(NodeInfo),
    Deleted(String),
    ApiState(ApiState),
}

pub async fn watch_nodes(client: Client, tx: Sender<WatchEvent>) {
    let mut heartbeat = tokio::time::interval(HEARTBEAT);
    heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    heartbeat.tick().await;
    'watch: loop {
        let api: Api<Node> = Api::all(client.clone());
        let mut stream = watcher(api, watcher::Config::default())
            .default_backoff()
            .boxed();
        let mut initial: Vec<NodeInfo> = Vec::new();
        loop {
            let msg = tokio::select! {
                ev = stream.next() => match ev {
                    None => return,
                    Some(Ok(watcher::Event::Init)) => {
                        initial.clear();
                        continue;
                    }
                    Some(Ok(watcher::Event::InitApply(n))) => {
                        initial.push(node_info(&n));
                        continue;
                    }
                    Some(Ok(watcher::Event::InitDone)) => {
                        WatchEvent::Listed(std::mem::take(&mut initial))
                    }
                    Some(Ok(watcher::Event::Apply(n))) => WatchEvent::Applied(node_info(&n)),
                    Some(Ok(watcher::Event::Delete(n))) => {
                        WatchEvent::Deleted(n.metadata.name.unwrap_or_default())
                    }
                    Some(Err(e)) => {
                        tracing::warn!("node watch: {}", chain_text(&e));
                        WatchEvent::ApiState(ApiState::Down(classify(&e)))
                    }
                },
                _ = heartbeat.tick() => {
                    let problem = match tokio::time::timeout(
                        Duration::from_secs(5),
                        client.apiserver_version(),
                    )
                    .await
                    {
                        Ok(Ok(_)) => continue,
                        Ok(Err(e)) => classify(&e),
                        Err(_) => ApiProblem {
                            kind: ApiProblemKind::Timeout,
                            detail: "the API server did not answer within 5 s".into(),
                        },
                    };
                    tracing::warn!("API heartbeat: {}", problem.detail);
                    if tx.send(WatchEvent::ApiState(ApiState::Down(problem))).await.is_err() {
                        return;
                    }
                    // The watch may be stuck on a dead connection: start over.
                    continue 'watch;
                }
            };
            if tx.send(msg).await.is_err() {
                return;
            }
        }
    }
}

pub fn node_info(n: &Node) -> NodeInfo {
    let labels = n.metadata.labels.clone().unwrap_or_default();
    let is = |k: &str| labels.get(k).is_some_and(|v| v == "true" || v.is_empty());
    let role = if is("node-role.harvesterhci.io/witness") {
        Role::Witness
    } else if is("node-role.kubernetes.io/control-plane")
        || is("node-role.kubernetes.io/master")
        || is("node-role.kubernetes.io/etcd")
    {
        Role::Server
    } else {
        Role::Worker
    };
    let status = n.status.as_ref();
    let address = status
        .and_then(|s| s.addresses.as_ref())
        .and_then(|a| a.iter().find(|a| a.type_ == "InternalIP"))
        .map(|a| a.address.clone());
    let ready = status
        .and_then(|s| s.conditions.as_ref())
        .and_then(|c| c.iter().find(|c| c.type_ == "Ready"))
        .map(|c| c.status == "True");
    NodeInfo {
        name: n.metadata.name.clone().unwrap_or_default(),
        role,
        address,
        ready,
    }
}

/// Every InternalIP of a node (both families on a dual-stack cluster): the
/// webhook's noProxy check and the proxy itself see all of them.
pub fn internal_ips(n: &Node) -> Vec<String> {
    n.status
        .as_ref()
        .and_then(|s| s.addresses.as_ref())
        .map(|a| {
            a.iter()
                .filter(|a| a.type_ == "InternalIP")
                .map(|a| a.address.clone())
                .collect()
        })
        .unwrap_or_default()
}

/// Every message in an error's source chain, outermost first, without repeats.
/// Wipes every string of an object read from the API before it is freed:
/// a Setting's value may hold a proxy's credentials, a registry's password
/// or a private key, and its annotations a copy of it. What kube read it
/// from is beyond reach (the response's bytes in hyper and rustls, and
/// serde_json's scratch buffer for strings with escapes, freed unwiped).
pub fn wipe_object(mut obj: kube::api::DynamicObject) {
    use zeroize::Zeroize as _;
    fn wipe(v: &mut serde_json::Value) {
        match v {
            serde_json::Value::String(s) => s.zeroize(),
            serde_json::Value::Array(a) => a.iter_mut().for_each(wipe),
            serde_json::Value::Object(m) => m.values_mut().for_each(wipe),
            _ => {}
        }
    }
    wipe(&mut obj.data);
    for v in obj
        .metadata
        .annotations
        .iter_mut()
        .flat_map(|a| a.values_mut())
    {
        v.zeroize();
    }
}

pub fn chain_text(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut cur = Some(e);
    while let Some(err) = cur {
        let s = err.to_string();
        if !parts.iter().any(|p| p.contains(&s)) {
            parts.push(s);
        }
        cur = err.source();
    }
    parts.join(": ")
}

/// Why the API cannot be used, found by walking the error's source chain
/// down to the HTTP status, TLS or socket error at its bottom.
pub fn classify(e: &(dyn std::error::Error + 'static)) -> ApiProblem {
    let mut kind = None;
    let mut cur = Some(e);
    while let Some(err) = cur {
        if let Some(kube::Error::Api(st)) = err.downcast_ref::<kube::Error>() {
            kind = Some(match st.code {
                401 => ApiProblemKind::Auth,
                403 => ApiProblemKind::Forbidden,
                _ => ApiProblemKind::Other,
            });
        } else if let Some(kube::runtime::watcher::Error::WatchError(st)) =
            err.downcast_ref::<kube::runtime::watcher::Error>()
        {
            kind = Some(match st.code {
                401 => ApiProblemKind::Auth,
                403 => ApiProblemKind::Forbidden,
                _ => ApiProblemKind::Other,
            });
        } else if let Some(kube::Error::Auth(_)) = err.downcast_ref::<kube::Error>() {
            kind = Some(ApiProblemKind::Auth);
        } else if err.downcast_ref::<rustls::Error>().is_some() {
            kind = Some(ApiProblemKind::Tls);
        } else if let Some(io) = err.downcast_ref::<std::io::Error>() {
            use std::io::ErrorKind as K;
            let k = match io.kind() {
                K::ConnectionRefused => Some(ApiProblemKind::Refused),
                K::TimedOut => Some(ApiProblemKind::Timeout),
                K::HostUnreachable | K::NetworkUnreachable => Some(ApiProblemKind::Timeout),
                _ => None,
            };
            if k.is_some() {
                kind = k;
            }
        }
        // Some layers (hyper, tower's timeout) only say it in words.
        if kind.is_none() {
            let s = err.to_string().to_lowercase();
            if s.contains("certificate") || s.contains("tls") || s.contains("handshake") {
                kind = Some(ApiProblemKind::Tls);
            } else if s.contains("connection refused") {
                kind = Some(ApiProblemKind::Refused);
            } else if s.contains("timed out") || s.contains("deadline") || s.contains("elapsed") {
                kind = Some(ApiProblemKind::Timeout);
            } else if s.contains("dns error") || s.contains("failed to lookup") {
                kind = Some(ApiProblemKind::Dns);
            }
        }
        cur = err.source();
    }
    ApiProblem {
        kind: kind.unwrap_or(ApiProblemKind::Other),
        detail: chain_text(e),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct InventoryFile {
    #[serde(alias = "nodes")]
    node: Vec<InventoryNode>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct InventoryNode {
    name: String,
    address: String,
    #[serde(default)]
    role: Option<String>,
}

/// `--inventory FILE`: `[[node]]` tables with `name`, `address`, `role`.
pub fn load_inventory(path: &Path) -> Result<Vec<NodeInfo>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let f: InventoryFile =
        toml::from_str(&text).with_context(|| format!("inventory {}", path.display()))?;
    f.node
        .into_iter()
        .map(|n| {
            let role = match n.role.as_deref() {
                None => Role::Unknown,
                Some(r) => Role::parse(r).with_context(|| {
                    format!(
                        "inventory {}: node {}: role {r:?} is not server, worker or witness",
                        path.display(),
                        n.name
                    )
                })?,
            };
            Ok(NodeInfo {
                name: n.name,
                role,
                address: Some(n.address),
                ready: None,
            })
        })
        .collect()
}

#[derive(Debug, Serialize, Deserialize)]
struct CacheFile {
    context: String,
    nodes: Vec<NodeInfo>,
}

/// One file per context; the name is made safe for a path.
pub fn cache_path(state_dir: &Path, context: &str) -> PathBuf {
    let safe = crate::config::file_name_safe(context);
    state_dir.join("nodes").join(format!("{safe}.json"))
}

pub fn load_cache(state_dir: &Path, context: &str) -> Result<Vec<NodeInfo>> {
    let p = cache_path(state_dir, context);
    let f: CacheFile = serde_json::from_slice(&std::fs::read(&p)?)?;
    Ok(if f.context == context {
        f.nodes
    } else {
        Vec::new()
    })
}

/// Written to a temp file and renamed, so a crash never leaves half a list.
pub fn save_cache(state_dir: &Path, context: &str, nodes: &[NodeInfo]) -> Result<()> {
    let p = cache_path(state_dir, context);
    let body = serde_json::to_vec_pretty(&CacheFile {
        context: context.to_string(),
        nodes: nodes.to_vec(),
    })?;
    crate::config::write_private(&p, &body)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inventory_reads_nodes_and_rejects_unknown_roles() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("inv.toml");
        std::fs::write(
            &p,
            "[[node]]\nname = \"n1\"\naddress = \"10.0.0.1\"\nrole = \"management\"\n\n\
             [[node]]\nname = \"n2\"\naddress = \"10.0.0.2\"\nrole = \"worker\"\n",
        )
        .unwrap();
        let n = load_inventory(&p).unwrap();
        assert_eq!(n.len(), 2);
        assert_eq!(n[0].role, Role::Server);
        assert_eq!(n[1].address.as_deref(), Some("10.0.0.2"));
        std::fs::write(
            &p,
            "[[node]]\nname = \"n1\"\naddress = \"x\"\nrole = \"boss\"\n",
        )
        .unwrap();
        let e = format!("{:#}", load_inventory(&p).unwrap_err());
        assert!(e.contains("boss"), "{e}");
    }

    #[test]
    fn cache_round_trips_per_context() {
        let d = tempfile::tempdir().unwrap();
        let nodes = vec![NodeInfo {
            name: "n1".into(),
            role: Role::Server,
            address: Some("10.0.0.1".into()),
            ready: Some(true),
        }];
        save_cache(d.path(), "ctx/a b", &nodes).unwrap();
        assert_eq!(load_cache(d.path(), "ctx/a b").unwrap(), nodes);
        assert!(load_cache(d.path(), "other").is_err());
    }

    #[test]
    fn classify_walks_the_chain() {
        let refused = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        let e = kube::Error::Service(Box::new(refused));
        assert_eq!(classify(&e).kind, ApiProblemKind::Refused);
        let st = kube::core::Status::failure("Unauthorized", "Unauthorized").with_code(401);
        let e = watcher::Error::InitialListFailed(kube::Error::Api(Box::new(st)));
        let p = classify(&e);
        assert_eq!(p.kind, ApiProblemKind::Auth);
        assert!(p.detail.contains("Unauthorized"), "{}", p.detail);
        let tls = std::io::Error::other(rustls::Error::InvalidCertificate(
            rustls::CertificateError::UnknownIssuer,
        ));
        let e = kube::Error::Service(Box::new(tls));
        assert_eq!(classify(&e).kind, ApiProblemKind::Tls);
    }
}
