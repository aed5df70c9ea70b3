//! The lab's Harvester API: an HTTPS Kubernetes-style API server that serves
//! what harvcred reads and changes on a Harvester cluster: Nodes, Namespaces,
//! the `fleet-local/local-rke-state` Secret, `settings.harvesterhci.io`,
//! `cloudinits.node.harvesterhci.io`, `clusters.provisioning.cattle.io`
//! and `rkecontrolplanes.rke.cattle.io` `fleet-local/local`, with resource versions, conflicts, dry runs, merge
//! and JSON patches, watches, server-side tables, discovery (so `kubectl`
//! works), Harvester's webhook validation, and the side effects Harvester's
//! and Rancher's controllers have on the nodes (RKE2 restarts, certificate
//! rotation, auto-rotate-rke2-certs, /oem files, registries.yaml), and the
//! ingress on the VIP:443 presenting `ssl-certificates` ([`ingress`]).
//!
//! Not emulated: server-side apply (`application/apply-patch+yaml` gets 415),
//! strategic merge patch on the custom resources (415, as on a real cluster),
//! set-based label selectors, pagination (`limit` is ignored: a list is
//! always whole), watch bookmarks, OpenAPI v2, and persistence: the objects
//! live in memory and a restarted API starts from a fresh cluster again.
//!
//! ```no_run
//! # async fn demo(cfg: harvcred::lab::api::ApiConfig) -> anyhow::Result<()> {
//! let api = harvcred::lab::api::serve(cfg).await?;
//! println!("listening on {}", api.local_addr());
//! api.set_node_ready("node2", false, "kubelet stopped posting node status");
//! api.shutdown().await;
//! # Ok(()) }
//! ```

mod controllers;
mod discovery;
mod errors;
pub mod faults;
pub mod ingress;
mod kubeconfig;
mod probe;
pub mod rancher;
mod resources;
mod routes;
mod server;
pub use server::REQUEST_LOG_FILE;
mod store;
mod table;
mod webhook;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Result;
use serde_json::json;
use tokio::sync::watch;

use crate::lab::plan::LabPlan;

pub use kubeconfig::{RancherContext, kubeconfig_with_rancher_yaml, kubeconfig_yaml};

/// Everything the API needs to start. Debug output leaves out the key and
/// the tokens.
#[derive(Clone)]
pub struct ApiConfig {
    /// Nodes (name, ip, role), scenarios, gateway ip, api_port.
    pub plan: LabPlan,
    /// Where to listen: the bridge `ip:port` in the lab; `127.0.0.1:0` in tests.
    pub listen: SocketAddr,
    /// Certificate chain PEM for the listener, leaf first.
    pub serving_cert_pem: String,
    pub serving_key_pem: String,
    /// Client certificates signed by this CA are authenticated.
    pub client_ca_pem: String,
    /// Also accepted: `Authorization: Bearer <token>`.
    pub bearer_token: String,
    /// Goes into Secret `fleet-local/local-rke-state` (`serverToken`, `agentToken`).
    pub server_token: String,
    /// Setting name -> value overrides at start (e.g. `http-proxy` for the
    /// proxy-drift scenario). Settings Harvester does not know are created.
    pub initial_settings: Vec<(String, String)>,
    /// Node side effects; `None` (unit tests) changes nothing outside the API.
    pub node_ops: Option<NodeOps>,
}

impl std::fmt::Debug for ApiConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiConfig")
            .field("plan", &self.plan.id)
            .field("listen", &self.listen)
            .field(
                "initial_settings",
                &self
                    .initial_settings
                    .iter()
                    .map(|(n, _)| n)
                    .collect::<Vec<_>>(),
            )
            .field("node_ops", &self.node_ops)
            .finish_non_exhaustive()
    }
}

/// How the API reaches the nodes for controller side effects.
#[derive(Clone, Debug)]
pub struct NodeOps {
    /// The lab's ssh_config; commands run as root via [`crate::lab::exec::node_root_sh_ok`].
    pub ssh_config: PathBuf,
    /// Node name -> host folder mounted at /oem in that node (CloudInit files
    /// are written here).
    pub oem_dirs: BTreeMap<String, PathBuf>,
}

/// A running API. Dropping it stops the server as [`ApiHandle::shutdown`]
/// does, without waiting for it.
pub struct ApiHandle {
    addr: SocketAddr,
    shutdown: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
    store: Arc<store::Store>,
    controllers: Arc<controllers::Controllers>,
}

impl std::fmt::Debug for ApiHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiHandle")
            .field("addr", &self.addr)
            .finish()
    }
}

/// Bind, seed the objects of a fresh Harvester cluster, and serve HTTPS
/// (HTTP/1.1 and HTTP/2). Returns once the socket is listening.
pub async fn serve(cfg: ApiConfig) -> Result<ApiHandle> {
    let (listener, tls, addr) = server::bind_tls(
        &cfg.serving_cert_pem,
        &cfg.serving_key_pem,
        &cfg.client_ca_pem,
        cfg.listen,
        "the lab API",
    )
    .await?;
    let store = Arc::new(store::Store::new());
    resources::seed(&store, &cfg.plan, &cfg.server_token, &cfg.initial_settings)?;
    let controllers =
        controllers::Controllers::new(store.clone(), cfg.plan.clone(), cfg.node_ops.clone());
    controllers.start_auto_rotate();
    let (tx, rx) = watch::channel(false);
    // Harvester's ingress on the VIP:443 (port 0 when the API's is: tests).
    let ingress_at = SocketAddr::new(
        addr.ip(),
        if cfg.listen.port() == 0 {
            0
        } else {
            ingress::INGRESS_PORT
        },
    );
    match tokio::net::TcpListener::bind(ingress_at).await {
        Ok(l) => {
            let certs = ingress::IngressCerts::new(addr.ip())?;
            controllers.set_ingress(certs.clone(), l.local_addr()?);
            tokio::spawn(ingress::serve(l, certs, rx.clone()));
        }
        // The lab works without it; only the ssl-certificates dial fails.
        Err(e) => tracing::warn!(%ingress_at, "the lab's ingress cannot listen: {e}"),
    }
    let app = Arc::new(routes::App {
        store: store.clone(),
        controllers: controllers.clone(),
        server_address: addr.to_string(),
    });
    let task = tokio::spawn(server::accept_loop(
        listener,
        tls,
        routes::router(app),
        server::Token::new(&cfg.bearer_token),
        server::RequestLog::open(&cfg.plan.dir.join(server::REQUEST_LOG_FILE)),
        Arc::new(faults::Faults::in_dir(&cfg.plan.dir)),
        rx,
    ));
    tracing::info!(%addr, "lab Harvester API listening");
    Ok(ApiHandle {
        addr,
        shutdown: tx,
        task,
        store,
        controllers,
    })
}

impl ApiHandle {
    /// The address actually bound (the port chosen when `listen` had port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Where the ingress listens (None when it could not bind).
    pub fn ingress_addr(&self) -> Option<SocketAddr> {
        self.controllers.ingress.get().map(|(_, a)| *a)
    }

    /// Flip a node's `Ready` condition, as the kubelet's status would; watchers
    /// see a MODIFIED event. Unknown nodes are ignored.
    pub fn set_node_ready(&self, node: &str, ready: bool, message: &str) {
        let (status, reason) = if ready {
            ("True", "KubeletReady")
        } else {
            ("False", "KubeletNotReady")
        };
        self.set_node_condition(node, status, reason, message);
    }

    /// What Kubernetes' node lifecycle controller writes when a node's
    /// kubelet has posted no status for the grace period: `Ready` Unknown
    /// (kubectl shows NotReady).
    pub fn set_node_status_unknown(&self, node: &str) {
        self.set_node_condition(
            node,
            "Unknown",
            "NodeStatusUnknown",
            "Kubelet stopped posting node status.",
        );
    }

    fn set_node_condition(&self, node: &str, status: &str, reason: &str, message: &str) {
        let now = store::now_rfc3339();
        self.store.modify(resources::Kind::Node, "", node, |n| {
            let conds = n["status"]["conditions"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            let mut out: Vec<serde_json::Value> =
                conds.into_iter().filter(|c| c["type"] != "Ready").collect();
            let before = n["status"]["conditions"]
                .as_array()
                .and_then(|a| a.iter().find(|c| c["type"] == "Ready"))
                .cloned()
                .unwrap_or_default();
            let transition = if before["status"] == status {
                before["lastTransitionTime"].clone()
            } else {
                json!(now)
            };
            out.insert(
                0,
                json!({
                    "type": "Ready",
                    "status": status,
                    "reason": reason,
                    "message": message,
                    "lastHeartbeatTime": now,
                    "lastTransitionTime": transition,
                }),
            );
            n["status"]["conditions"] = json!(out);
        });
    }

    /// Stop accepting, drop open connections (ending watches) and abort
    /// controller work in progress.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        self.controllers.abort_all();
        let _ = self.task.await;
    }
}
