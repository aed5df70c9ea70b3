//! What Harvester's and Rancher's controllers do after a change is stored:
//! restart RKE2 for a new proxy, rotate certificates for a new rotation
//! generation, write CloudInit files into /oem. Each runs as a background
//! task that touches the store only through short, lock-scoped calls.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use base64::Engine;
use serde_json::{Value, json};
use zeroize::Zeroizing;

use super::NodeOps;
use super::resources::{
    CDI_CA_CONFIG_MAP, CDI_CA_KEY, Kind, TLS_INGRESS_SECRET, ready_condition, setting_condition,
};
use super::store::{Store, now_rfc3339};

use crate::lab::exec::{node_root_sh, node_root_sh_ok};
use crate::lab::layout::NODE_RKE2;
use crate::lab::plan::{LabPlan, Role};
use crate::lab::standin::STALE_PLAN_MARKER;

/// What Harvester appends to the noProxy of the setting for `NO_PROXY`.
pub const BUILTIN_NO_PROXY: &str = "localhost,127.0.0.1,0.0.0.0,10.0.0.0/8,longhorn-system,cattle-system,cattle-system.svc,harvester-system,.svc,.cluster.local";

/// The value of JSON field `name` as Go's `encoding/json` finds it: the
/// exact key first, else a key equal ignoring case.
pub fn go_field<'a>(obj: &'a serde_json::Map<String, Value>, name: &str) -> Option<&'a Value> {
    obj.get(name).or_else(|| {
        obj.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    })
}

/// `httpProxy`, `httpsProxy`, `noProxy` of an http-proxy value (empty when
/// absent or unparsable), keys matched as Go matches them.
pub fn proxy_value(v: &str) -> [String; 3] {
    let parsed: serde_json::Map<String, Value> = serde_json::from_str(v).unwrap_or_default();
    ["httpProxy", "httpsProxy", "noProxy"].map(|k| {
        go_field(&parsed, k)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    })
}

/// `enable` and `expiringInHours` of an auto-rotate-rke2-certs value.
pub fn auto_rotate_value(v: &str) -> (bool, i64) {
    let parsed: serde_json::Map<String, Value> = serde_json::from_str(v).unwrap_or_default();
    (
        go_field(&parsed, "enable")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        go_field(&parsed, "expiringInHours")
            .and_then(Value::as_i64)
            .unwrap_or(0),
    )
}

/// `spec.agentEnvVars` with its `*_PROXY` entries replaced, as Harvester's
/// http-proxy controller does.
pub fn http_proxy_env_vars(current: &[Value], proxy: &[String; 3]) -> Vec<Value> {
    let mut env: Vec<Value> = current
        .iter()
        .filter(|e| {
            !matches!(
                e["name"].as_str(),
                Some("HTTP_PROXY" | "HTTPS_PROXY" | "NO_PROXY")
            )
        })
        .cloned()
        .collect();
    let [http, https, no] = proxy;
    if !http.is_empty() {
        env.push(json!({"name": "HTTP_PROXY", "value": http}));
    }
    if !https.is_empty() {
        env.push(json!({"name": "HTTPS_PROXY", "value": https}));
    }
    let no_proxy = if no.trim().is_empty() {
        BUILTIN_NO_PROXY.to_string()
    } else {
        format!("{},{BUILTIN_NO_PROXY}", no.trim().trim_end_matches(','))
    };
    env.push(json!({"name": "NO_PROXY", "value": no_proxy}));
    env
}

fn effective(setting: &Value) -> String {
    let v = setting.get("value").and_then(Value::as_str).unwrap_or("");
    if v.is_empty() {
        setting
            .get("default")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    } else {
        v.to_string()
    }
}

pub struct Controllers {
    pub store: Arc<Store>,
    pub plan: LabPlan,
    pub node_ops: Option<NodeOps>,
    /// Bumped by each http-proxy change; only the newest reconcile reports.
    proxy_seq: AtomicU64,
    /// Rancher's planner works one plan at a time (rotation, RKE2 restarts).
    rotation: tokio::sync::Mutex<()>,
    /// A certificate rotation is under way (Rancher keeps updating the Cluster).
    rotating: std::sync::atomic::AtomicBool,
    /// Wakes the auto-rotate-rke2-certs controller when its setting changes.
    auto_rotate_kick: tokio::sync::Notify,
    /// Serialises /oem writes so that two quick CloudInit changes land in order.
    oem: tokio::sync::Mutex<()>,
    tasks: std::sync::Mutex<Vec<tokio::task::AbortHandle>>,
    /// The ingress the ssl-certificates syncer points at its certificate, and where it listens.
    pub ingress: std::sync::OnceLock<(Arc<super::ingress::IngressCerts>, std::net::SocketAddr)>,
    /// Bumped by each ssl-certificates sync; only the newest switches the ingress.
    ingress_seq: AtomicU64,
    /// Bumped by each ssl-parameters sync; only the newest restarts the ingress.
    ssl_parameters_seq: AtomicU64,
}

impl Controllers {
    pub fn new(store: Arc<Store>, plan: LabPlan, node_ops: Option<NodeOps>) -> Arc<Self> {
        let me = Arc::new(Controllers {
            store,
            plan,
            node_ops,
            proxy_seq: AtomicU64::new(0),
            rotation: tokio::sync::Mutex::new(()),
            auto_rotate_kick: tokio::sync::Notify::new(),
            rotating: std::sync::atomic::AtomicBool::new(false),
            oem: tokio::sync::Mutex::new(()),
            tasks: std::sync::Mutex::new(Vec::new()),
            ingress: std::sync::OnceLock::new(),
            ingress_seq: AtomicU64::new(0),
            ssl_parameters_seq: AtomicU64::new(0),
        });
        me.start_cloudinit_resync();
        me.start_kubelet_status();
        me
    }

    /// The kubelet's status posts for a node that is not Ready yet (one that
    /// has not joined): once RKE2 runs on it, its Node turns Ready, as the
    /// kubelet's first post after the join makes it.
    fn start_kubelet_status(self: &Arc<Self>) {
        let Some(ops) = self.node_ops.clone() else {
            return;
        };
        let me = self.clone();
        self.spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(2));
            loop {
                tick.tick().await;
                let waiting: Vec<String> = me
                    .store
                    .list(Kind::Node, None)
                    .0
                    .iter()
                    .filter(|n| {
                        !n["status"]["conditions"].as_array().is_some_and(|cs| {
                            cs.iter()
                                .any(|c| c["type"] == "Ready" && c["status"] == "True")
                        })
                    })
                    .filter_map(|n| n["metadata"]["name"].as_str().map(String::from))
                    .collect();
                for name in waiting {
                    let running = crate::lab::exec::node_root_sh(
                        &ops.ssh_config,
                        &name,
                        "systemctl is-active --quiet rke2-server || systemctl is-active --quiet rke2-agent",
                    )
                    .await
                    .is_ok_and(|o| o.status.success());
                    if running {
                        me.store.modify(Kind::Node, "", &name, |n| {
                            let now = now_rfc3339();
                            n["status"]["conditions"] = json!([{
                                "type": "Ready",
                                "status": "True",
                                "reason": "KubeletReady",
                                "message": "kubelet is posting ready status",
                                "lastHeartbeatTime": now,
                                "lastTransitionTime": now,
                            }]);
                        });
                    }
                }
            }
        });
    }

    fn spawn(&self, fut: impl std::future::Future<Output = ()> + Send + 'static) {
        let h = tokio::spawn(fut);
        let mut tasks = self.tasks.lock().unwrap_or_else(|e| e.into_inner());
        tasks.retain(|t| !t.is_finished());
        tasks.push(h.abort_handle());
    }

    pub fn abort_all(&self) {
        for t in self
            .tasks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain(..)
        {
            t.abort();
        }
    }

    /// Called after every stored (not dry-run) change.
    pub fn changed(self: &Arc<Self>, kind: Kind, old: Option<&Value>, new: Option<&Value>) {
        match kind {
            Kind::Setting => {
                let name = new.or(old).map(super::store::name_of).unwrap_or("");
                if name == "auto-rotate-rke2-certs" {
                    self.auto_rotate_kick.notify_one();
                }
                if SYNCED_SETTINGS.contains(&name)
                    && let Some(new) = new
                    && needs_sync(new)
                {
                    let value = Zeroizing::new(new["value"].as_str().unwrap_or("").to_string());
                    let seq = match name {
                        "ssl-certificates" => self.ingress_seq.fetch_add(1, Ordering::SeqCst) + 1,
                        "ssl-parameters" => {
                            self.ssl_parameters_seq.fetch_add(1, Ordering::SeqCst) + 1
                        }
                        _ => 0,
                    };
                    let (me, name) = (self.clone(), name.to_string());
                    self.spawn(async move {
                        me.sync_setting(&name, &value);
                        match name.as_str() {
                            "containerd-registry" => me.write_registries(&value).await,
                            "ssl-certificates" => me.switch_ingress(seq, &value).await,
                            "ssl-parameters" => me.restart_ingress_with(seq, &value).await,
                            _ => {}
                        }
                    });
                }
                if name == "http-proxy" {
                    let before = old.map(effective).unwrap_or_default();
                    let after = new.map(effective).unwrap_or_else(|| "{}".into());
                    if before != after {
                        let seq = self.proxy_seq.fetch_add(1, Ordering::SeqCst) + 1;
                        let me = self.clone();
                        self.spawn(async move { me.reconcile_http_proxy(seq, after).await });
                    }
                }
            }
            Kind::Cluster => {
                let gen_of = |o: Option<&Value>| {
                    o.and_then(|o| {
                        o["spec"]["rkeConfig"]["rotateCertificates"]["generation"].as_i64()
                    })
                    .unwrap_or(0)
                };
                let (before, after) = (gen_of(old), gen_of(new));
                if after > before {
                    let me = self.clone();
                    self.spawn(async move { me.rotate_certificates(after).await });
                }
            }
            Kind::RkeControlPlane => {
                // Rancher derives this spec from the provisioning Cluster and
                // puts back what someone changed by hand.
                let want = self
                    .store
                    .get(Kind::Cluster, "fleet-local", "local")
                    .map(|c| c["spec"]["rkeConfig"]["rotateCertificates"]["generation"].clone());
                if let Some(want) = want
                    && new.is_some_and(|n| n["spec"]["rotateCertificates"]["generation"] != want)
                {
                    self.store
                        .modify(Kind::RkeControlPlane, "fleet-local", "local", |cp| {
                            cp["spec"]["rotateCertificates"]["generation"] = want;
                        });
                }
            }
            Kind::CloudInit => {
                let me = self.clone();
                let (old, new) = (old.cloned(), new.cloned());
                self.spawn(async move { me.reconcile_cloudinit(old, new).await });
            }
            _ => {}
        }
    }

    /// Harvester's syncers of the other credential settings
    /// (`pkg/controller/master/setting/*.go`): each copies the value where it
    /// belongs and reports `configured`. The containerd-registry syncer then
    /// removes `Configs[*].Auth` from the setting's value (the credentials
    /// live on in the Rancher cluster's secrets).
    /// Like Harvester's handler, it records the hash of the value it synced
    /// with the condition (True for a value, False for an empty one, False
    /// with the error when a copy could not be written).
    fn sync_setting(&self, name: &str, value: &str) {
        let copied = match name {
            "additional-ca" => {
                self.copy_additional_ca(value);
                Ok(())
            }
            "ssl-certificates" => self.write_tls_ingress(value),
            "containerd-registry" => {
                self.write_registry_secret(value);
                Ok(())
            }
            _ => Ok(()),
        };
        let value = match name {
            "containerd-registry" if copied.is_ok() => {
                without_registry_auth(value).unwrap_or_else(|| value.to_string())
            }
            _ => value.to_string(),
        };
        self.store.modify(Kind::Setting, "", name, |s| {
            if s["value"].as_str().unwrap_or("") != value {
                s["value"] = json!(value);
            }
            match &copied {
                Ok(()) => {
                    s["metadata"]["annotations"][HASH_ANNOTATION] = json!(setting_hash(&value));
                    set_setting_condition(s, !value.is_empty(), "", "");
                }
                Err(e) => set_setting_condition(s, false, "", e),
            }
        });
    }

    /// `data` as the data of `ns/name`: the object created when missing,
    /// its data replaced otherwise (as Harvester's syncers write a secret).
    fn put_data(&self, kind: Kind, ns: &str, name: &str, data: Value) {
        if self
            .store
            .modify(kind, ns, name, |o| o["data"] = data.clone())
            .is_some()
        {
            return;
        }
        let def = kind.def();
        let mut obj = json!({
            "apiVersion": def.api_version(),
            "kind": def.kind,
            "metadata": {"name": name, "namespace": ns},
            "data": data,
        });
        if kind == Kind::Secret {
            obj["type"] = json!("Opaque");
        }
        if let Err(e) = self.store.create(kind, obj, false) {
            tracing::warn!("{ns}/{name}: {}", e.message);
        }
    }

    /// `additional_ca.go`: the bundle into the `harvester-additional-ca`
    /// secrets of harvester-system, longhorn-system and cattle-system
    /// (created when missing), `AWS_CERT` of the backup-target secret (when
    /// there is one) and every CDI importer config map that exists. An empty
    /// value empties them all; nothing is deleted.
    fn copy_additional_ca(&self, value: &str) {
        let b64 = base64::engine::general_purpose::STANDARD.encode(value);
        for ns in ADDITIONAL_CA_NAMESPACES {
            self.put_data(
                Kind::Secret,
                ns,
                ADDITIONAL_CA_SECRET,
                json!({ ADDITIONAL_CA_FILE: b64 }),
            );
        }
        self.store
            .modify(Kind::Secret, "longhorn-system", BACKUP_TARGET_SECRET, |s| {
                s["data"]["AWS_CERT"] = json!(b64);
            });
        for cm in self.store.list(Kind::ConfigMap, None).0 {
            if super::store::name_of(&cm) == CDI_CA_CONFIG_MAP {
                let ns = super::store::meta_str(&cm, "namespace").unwrap_or("");
                self.store
                    .modify(Kind::ConfigMap, ns, CDI_CA_CONFIG_MAP, |c| {
                        c["data"] = json!({ CDI_CA_KEY: value });
                    });
            }
        }
    }

    /// `ssl_certificate.go`: the certificate and key into the existing
    /// `cattle-system/tls-ingress` (Harvester fails when it is missing). An
    /// empty value only points the ingress back at Harvester's internal
    /// certificate: the secret keeps the last certificate and key.
    fn write_tls_ingress(&self, value: &str) -> Result<(), String> {
        let Ok(s) = crate::creds::setting_values::SslCertificates::parse(value) else {
            return Ok(()); // the webhook let through only JSON
        };
        if s.is_empty() {
            return Ok(());
        }
        let b64 = |t: &str| Zeroizing::new(base64::engine::general_purpose::STANDARD.encode(t));
        let (crt, key) = (b64(&s.public_certificate), b64(&s.private_key));
        self.store
            .modify(Kind::Secret, "cattle-system", TLS_INGRESS_SECRET, |sec| {
                sec["data"]["tls.crt"] = json!(crt.as_str());
                sec["data"]["tls.key"] = json!(key.as_str());
            })
            .map(|_| ())
            .ok_or_else(|| format!("secrets \"{TLS_INGRESS_SECRET}\" not found"))
    }

    /// `containerd_registry.go`: the registries (auth included, before the
    /// syncer strips it from the setting) as `registries.yaml` of
    /// `cattle-system/harvester-containerd-registry`; an empty value empties
    /// the key of an existing secret.
    fn write_registry_secret(&self, value: &str) {
        let yaml = crate::creds::registries::render(value);
        match yaml {
            Some(y) => {
                let b64 =
                    Zeroizing::new(base64::engine::general_purpose::STANDARD.encode(y.as_bytes()));
                self.put_data(
                    Kind::Secret,
                    "cattle-system",
                    REGISTRY_SECRET,
                    json!({ REGISTRY_SECRET_KEY: b64.as_str() }),
                );
            }
            None => {
                self.store
                    .modify(Kind::Secret, "cattle-system", REGISTRY_SECRET, |s| {
                        s["data"] = json!({ REGISTRY_SECRET_KEY: "" });
                    });
            }
        }
    }

    /// The ingress `ssl-certificates` points at.
    pub fn set_ingress(&self, certs: Arc<super::ingress::IngressCerts>, at: std::net::SocketAddr) {
        if let Some(s) = self.store.get(Kind::Setting, "", "ssl-parameters") {
            certs.apply_ssl_parameters(s["value"].as_str().unwrap_or(""));
        }
        let _ = self.ingress.set((certs, at));
    }

    /// Harvester's ssl-parameters syncer hands the protocols and ciphers to
    /// the ingress controller, which restarts with them a moment after
    /// `configured`.
    async fn restart_ingress_with(&self, seq: u64, value: &str) {
        let Some((certs, _)) = self.ingress.get() else {
            return;
        };
        tokio::time::sleep(INGRESS_RESTART).await;
        if self.ssl_parameters_seq.load(Ordering::SeqCst) == seq {
            certs.apply_ssl_parameters(value);
        }
    }

    /// Harvester's ssl-certificates syncer writes `cattle-system/tls-ingress`,
    /// points the TLSStore at it (or back at the internal certificate for an
    /// empty value) and redeploys the ingress: the new certificate is
    /// presented a moment after `configured`, once the ingress restarted.
    async fn switch_ingress(&self, seq: u64, value: &str) {
        let Some((certs, _)) = self.ingress.get() else {
            return;
        };
        tokio::time::sleep(INGRESS_RESTART).await;
        if self.ingress_seq.load(Ordering::SeqCst) != seq {
            return; // a newer change switches it
        }
        let parsed = if value.trim().is_empty() {
            None
        } else {
            crate::creds::setting_values::SslCertificates::parse(value).ok()
        };
        match parsed {
            Some(s) if !s.public_certificate.is_empty() || !s.private_key.is_empty() => {
                if let Err(e) = certs.present(&s.public_certificate, &s.private_key) {
                    tracing::warn!("the lab's ingress keeps its certificate: {e:#}");
                }
            }
            _ => certs.reset(),
        }
    }

    /// Rancher's planner, after Harvester copied the registries (and their
    /// auth, kept in `fleet-local` secrets) into the Cluster: on each node,
    /// one node at a time (servers first), `/etc/rancher/rke2/registries.yaml`
    /// is written and RKE2 restarted to load it. An empty setting leaves no
    /// registries: the file is removed [U: whether Rancher removes or empties
    /// it; harvcred reads both as no registries].
    async fn write_registries(&self, value: &str) {
        let Some(ops) = &self.node_ops else { return };
        let path = crate::creds::registries::REGISTRIES_YAML;
        // The file holds passwords: it travels base64 on the script's stdin, mode 0600.
        let write = match crate::creds::registries::render(value) {
            Some(y) => Zeroizing::new(format!(
                "set -e\nmkdir -p /etc/rancher/rke2\nf={path}\nprintf %s '{}' | base64 -d > \"$f.tmp\"\nchmod 600 \"$f.tmp\"\nmv \"$f.tmp\" \"$f\"\n",
                base64::engine::general_purpose::STANDARD.encode(y.as_bytes())
            )),
            None => Zeroizing::new(format!("rm -f {path}\n")),
        };
        let _one_plan_at_a_time = self.rotation.lock().await;
        if self
            .restart_one_at_a_time(ops, &write, "registries.yaml", || true)
            .await
        {
            self.set_control_plane_ready(true, "");
        }
    }

    /// Rancher's planner running `before` then restarting RKE2 on each node,
    /// one node at a time (a server's probes pass before the next node), with
    /// the RKEControlPlane not Ready meanwhile. False when a node failed (it
    /// stays reported) or `current` turned false (a newer plan takes over).
    async fn restart_one_at_a_time(
        &self,
        ops: &NodeOps,
        before: &str,
        what: &str,
        current: impl Fn() -> bool,
    ) -> bool {
        for n in self.planner_order() {
            let unit = n.role.rke2_unit();
            self.set_control_plane_ready(
                false,
                &format!("configuring node {}: restarting {unit}", n.name),
            );
            let script = Zeroizing::new(format!("{before}systemctl restart {unit}\n"));
            if let Err(e) = node_root_sh_ok(&ops.ssh_config, &n.name, &script).await {
                tracing::warn!(node = %n.name, "restarting RKE2 for {what} failed: {e:#}");
                self.set_control_plane_ready(
                    false,
                    &format!("restarting {unit} failed on {}", n.name),
                );
                return false;
            }
            if n.role == Role::Server
                && !self
                    .wait_for_probes(&ops.ssh_config, &n.name, &current)
                    .await
            {
                return false;
            }
        }
        true
    }

    /// Harvester's http-proxy syncer writes the agent env vars into the
    /// Cluster and reports `configured`; a failed write is reported False
    /// and retried. Rancher's planner then restarts RKE2 on the nodes, later
    /// and one node at a time, and reports on the RKEControlPlane.
    async fn reconcile_http_proxy(self: Arc<Self>, seq: u64, value: String) {
        let proxy = proxy_value(&value);
        let mut backoff = Duration::from_secs(2);
        let mut first = true;
        loop {
            // While Rancher's planner rotates certificates it keeps updating
            // the Cluster, so Harvester's first update from its cache meets a
            // conflict; the controller reports it and tries again.
            let busy = first && self.rotating.load(Ordering::SeqCst);
            first = false;
            if busy {
                self.store.modify(Kind::Setting, "", "http-proxy", |s| {
                    set_setting_condition(
                        s,
                        false,
                        "",
                        "Operation cannot be fulfilled on clusters.provisioning.cattle.io \"local\": the object has been modified; please apply your changes to the latest version and try again",
                    )
                });
                tokio::time::sleep(backoff).await;
                continue;
            }
            let written = self
                .store
                .modify(Kind::Cluster, "fleet-local", "local", |c| {
                    let current = c["spec"]["agentEnvVars"]
                        .as_array()
                        .cloned()
                        .unwrap_or_default();
                    c["spec"]["agentEnvVars"] = json!(http_proxy_env_vars(&current, &proxy));
                });
            if self.proxy_seq.load(Ordering::SeqCst) != seq {
                return; // a newer change is being reconciled and will report
            }
            match written {
                Some(cluster) => {
                    let env = cluster["spec"]["agentEnvVars"].clone();
                    self.store
                        .modify(Kind::RkeControlPlane, "fleet-local", "local", |cp| {
                            cp["spec"]["agentEnvVars"] = env;
                        });
                    self.store.modify(Kind::Setting, "", "http-proxy", |s| {
                        set_setting_condition(s, true, "", "")
                    });
                    break;
                }
                None => {
                    self.store.modify(Kind::Setting, "", "http-proxy", |s| {
                        set_setting_condition(
                            s,
                            false,
                            "",
                            "clusters.provisioning.cattle.io \"local\" not found",
                        )
                    });
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(30));
                }
            }
        }
        let _one_plan_at_a_time = self.rotation.lock().await;
        if self.proxy_seq.load(Ordering::SeqCst) != seq {
            return; // the newer change restarts the nodes itself
        }
        let Some(ops) = &self.node_ops else { return };
        if !self
            .restart_one_at_a_time(ops, "", "http-proxy", || {
                self.proxy_seq.load(Ordering::SeqCst) == seq
            })
            .await
        {
            return; // a node failed, or the newer change's plan takes over
        }
        self.set_control_plane_ready(true, "");
    }

    /// Servers (control plane, etcd) first, then workers, each by index:
    /// the planner's order, one node at a time.
    fn planner_order(&self) -> Vec<crate::lab::plan::NodePlan> {
        let mut nodes = self.plan.nodes.clone();
        nodes.sort_by_key(|n| (n.role == Role::Worker, n.index));
        nodes
    }

    /// The RKEControlPlane's `Ready`, mirrored on the provisioning Cluster.
    fn set_control_plane_ready(&self, ok: bool, message: &str) {
        self.store
            .modify(Kind::RkeControlPlane, "fleet-local", "local", |cp| {
                cp["status"]["ready"] = json!(ok);
                set_ready(cp, ok, message);
            });
        self.store
            .modify(Kind::Cluster, "fleet-local", "local", |c| {
                c["status"]["ready"] = json!(ok);
                set_ready(c, ok, message);
            });
    }

    /// Rancher's planner for `spec.rkeConfig.rotateCertificates.generation`:
    /// the RKEControlPlane takes the generation, then control-plane/etcd
    /// nodes rotate and restart rke2-server and workers restart rke2-agent,
    /// one node at a time; then `status.certificateRotationGeneration`
    /// follows. A node whose certificates had already expired does not
    /// apply the plan until its rancher-system-agent is restarted.
    async fn rotate_certificates(self: Arc<Self>, generation: i64) {
        let _one_plan_at_a_time = self.rotation.lock().await;
        let done = self
            .store
            .get(Kind::RkeControlPlane, "fleet-local", "local")
            .and_then(|c| c["status"]["certificateRotationGeneration"].as_i64());
        if done.is_some_and(|g| g >= generation) {
            return;
        }
        self.store
            .modify(Kind::RkeControlPlane, "fleet-local", "local", |cp| {
                cp["spec"]["rotateCertificates"]["generation"] = json!(generation);
            });
        self.rotating.store(true, Ordering::SeqCst);
        let failed = self.run_rotation_plans(generation).await;
        self.rotating.store(false, Ordering::SeqCst);
        match &failed {
            None => {
                self.store
                    .modify(Kind::RkeControlPlane, "fleet-local", "local", |cp| {
                        cp["status"]["certificateRotationGeneration"] = json!(generation);
                    });
                self.set_control_plane_ready(true, "");
            }
            Some(node) => self
                .set_control_plane_ready(false, &format!("certificate rotation failed on {node}")),
        }
    }

    /// The plans of one rotation, node after node; the node where one failed.
    async fn run_rotation_plans(&self, generation: i64) -> Option<String> {
        if let Some(ops) = &self.node_ops {
            for n in self.planner_order() {
                self.set_control_plane_ready(
                    false,
                    &format!("rotating certificates of node {}", n.name),
                );
                let script = match n.role {
                    Role::Server => server_rotation_script(generation),
                    Role::Worker => worker_rotation_script(),
                };
                loop {
                    match node_root_sh(&ops.ssh_config, &n.name, &script).await {
                        Ok(out) if out.status.success() => {
                            if n.role == Role::Server {
                                self.wait_for_probes(&ops.ssh_config, &n.name, || true)
                                    .await;
                            }
                            break;
                        }
                        Ok(out) if out.status.code() == Some(PLAN_NOT_APPLIED) => {
                            self.set_control_plane_ready(
                                false,
                                &format!(
                                    "rotating certificates of node {}: waiting for the plan to be applied (rancher-system-agent)",
                                    n.name
                                ),
                            );
                            tokio::time::sleep(Duration::from_secs(2)).await;
                        }
                        res => {
                            let why = match res {
                                Ok(out) => String::from_utf8_lossy(&out.stderr).trim().to_string(),
                                Err(e) => format!("{e:#}"),
                            };
                            tracing::warn!(node = %n.name, "certificate rotation failed: {why}");
                            return Some(n.name.clone());
                        }
                    }
                }
            }
        }
        None
    }

    /// After a plan restarted a control-plane node, Rancher's planner waits
    /// for its probes (rancher-system-agent's health checks of the
    /// components). The controller-manager's and scheduler's probes check
    /// their serving certificates: an expired self-signed one fails them,
    /// and the planner says so on the RKEControlPlane until it is fixed
    /// (harvester#3863). False when `current` says the plan was replaced.
    async fn wait_for_probes(
        &self,
        ssh_config: &Path,
        node: &str,
        current: impl Fn() -> bool,
    ) -> bool {
        loop {
            let failing = match node_root_sh(ssh_config, node, PROBES).await {
                Ok(out) => String::from_utf8_lossy(&out.stdout)
                    .split_whitespace()
                    .map(str::to_string)
                    .collect::<Vec<_>>(),
                Err(e) => {
                    tracing::warn!(node, "probing the control plane failed: {e:#}");
                    Vec::new()
                }
            };
            if failing.is_empty() || !current() {
                return current();
            }
            self.set_control_plane_ready(
                false,
                &format!(
                    "configuring control plane node(s) {node}: waiting for probes: {}",
                    failing.join(", ")
                ),
            );
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
    }

    /// Start Harvester's auto-rotate-rke2-certs controller.
    pub fn start_auto_rotate(self: &Arc<Self>) {
        let me = self.clone();
        self.spawn(async move {
            loop {
                let wait = me.auto_rotate_once().await;
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = me.auto_rotate_kick.notified() => {}
                }
            }
        });
    }

    /// One pass of Harvester's auto-rotate-rke2-certs controller; returns
    /// when to look again.
    async fn auto_rotate_once(self: &Arc<Self>) -> Duration {
        const RETRY: Duration = Duration::from_secs(30);
        const DAY: Duration = Duration::from_secs(24 * 3600);
        let Some(setting) = self.store.get(Kind::Setting, "", "auto-rotate-rke2-certs") else {
            return DAY;
        };
        let (enable, hours) = auto_rotate_value(&effective(&setting));
        if !enable {
            return DAY;
        }
        // The ready endpoints of default/kubernetes: the servers' apiservers.
        let nodes = self.store.list(Kind::Node, None).0;
        let endpoints: Vec<std::net::SocketAddr> = self
            .plan
            .nodes
            .iter()
            .filter(|n| n.role == Role::Server)
            .filter(|n| {
                nodes.iter().any(|o| {
                    super::store::name_of(o) == n.name
                        && o["status"]["conditions"].as_array().is_some_and(|cs| {
                            cs.iter()
                                .any(|c| c["type"] == "Ready" && c["status"] == "True")
                        })
                })
            })
            .map(|n| std::net::SocketAddr::new(n.ip.into(), 6443))
            .collect();
        let mut earliest: Option<time::OffsetDateTime> = None;
        for addr in endpoints {
            match super::probe::earliest_not_after(addr).await {
                Ok(t) => earliest = Some(earliest.map_or(t, |e| e.min(t))),
                Err(e) => {
                    tracing::warn!("auto-rotate-rke2-certs: {e:#}");
                    return RETRY;
                }
            }
        }
        let Some(not_after) = earliest else {
            return RETRY;
        };
        let now = time::OffsetDateTime::now_utc();
        let threshold = not_after - time::Duration::hours(hours);
        if now <= threshold {
            let left = (threshold - now).unsigned_abs();
            return left.min(DAY);
        }
        // Preconditions: the control plane is Ready and no rotation is under way.
        let cp = self
            .store
            .get(Kind::RkeControlPlane, "fleet-local", "local");
        let cluster = self.store.get(Kind::Cluster, "fleet-local", "local");
        let (Some(cp), Some(cluster)) = (cp, cluster) else {
            return RETRY;
        };
        let ready = cp["status"]["conditions"].as_array().is_some_and(|cs| {
            cs.iter()
                .any(|c| c["type"] == "Ready" && c["status"] == "True")
        });
        let want = cluster["spec"]["rkeConfig"]["rotateCertificates"]["generation"]
            .as_i64()
            .unwrap_or(0);
        let spec = cp["spec"]["rotateCertificates"]["generation"]
            .as_i64()
            .unwrap_or(0);
        let status = cp["status"]["certificateRotationGeneration"]
            .as_i64()
            .unwrap_or(0);
        if !ready || want != spec || spec != status {
            return RETRY;
        }
        tracing::info!(%not_after, hours, "auto-rotate-rke2-certs: rotating RKE2 certificates");
        let old = cluster.clone();
        if let Some(new) = self
            .store
            .modify(Kind::Cluster, "fleet-local", "local", |c| {
                c["spec"]["rkeConfig"]["rotateCertificates"]["generation"] = json!(want + 1);
            })
        {
            self.changed(Kind::Cluster, Some(&old), Some(&new));
        }
        RETRY
    }

    /// node-manager's CloudInit controller, for one change. A deleted
    /// CloudInit's file goes from every node (nothing it applied is rolled
    /// back: that happened at a boot). Otherwise see [`Self::sync_cloudinit`].
    async fn reconcile_cloudinit(self: Arc<Self>, old: Option<Value>, new: Option<Value>) {
        let Some(ops) = &self.node_ops else { return };
        let _in_order = self.oem.lock().await;
        match new {
            Some(ci) => self.sync_cloudinit(&ci).await,
            None => {
                let Some(file) = old
                    .as_ref()
                    .and_then(|o| o["spec"]["filename"].as_str())
                    .map(str::to_string)
                else {
                    return;
                };
                let dirs: Vec<PathBuf> = ops.oem_dirs.values().cloned().collect();
                let _ = tokio::task::spawn_blocking(move || {
                    for d in dirs {
                        let _ = remove_file(&d.join(&file));
                    }
                })
                .await;
            }
        }
    }

    /// node-manager watches /oem and puts a CloudInit's file back when it is
    /// edited or removed by hand (unless paused); the lab checks every second.
    fn start_cloudinit_resync(self: &Arc<Self>) {
        if self.node_ops.is_none() {
            return;
        }
        let me = self.clone();
        self.spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            loop {
                tick.tick().await;
                let _in_order = me.oem.lock().await;
                for ci in me.store.list(Kind::CloudInit, None).0 {
                    me.sync_cloudinit(&ci).await;
                }
            }
        });
    }

    /// One CloudInit on every node, as each node's node-manager does it: the
    /// file in /oem where `matchSelector` matches the node's labels (`{}`
    /// matches all) and nowhere else, unless paused; then
    /// `status.rollouts.<node>.conditions` (`Applicable`, `OutOfSync`,
    /// `Present`). Applying it is yip's job, at the node's next boot.
    async fn sync_cloudinit(&self, ci: &Value) {
        let Some(ops) = &self.node_ops else { return };
        let name = super::store::name_of(ci).to_string();
        let Some(file) = ci["spec"]["filename"].as_str().map(str::to_string) else {
            return;
        };
        let contents = ci["spec"]["contents"].as_str().unwrap_or("").to_string();
        let paused = ci["spec"]["paused"].as_bool() == Some(true);
        let selector = ci["spec"]["matchSelector"].clone();
        let nodes: Vec<(String, bool, PathBuf)> = self
            .store
            .list(Kind::Node, None)
            .0
            .iter()
            .filter_map(|node| {
                let node_name = super::store::name_of(node).to_string();
                let dir = ops.oem_dirs.get(&node_name)?.clone();
                let labels = &node["metadata"]["labels"];
                let matches = selector
                    .as_object()
                    .is_none_or(|sel| sel.iter().all(|(k, v)| labels.get(k) == Some(v)));
                Some((node_name, matches, dir))
            })
            .collect();
        let observed = tokio::task::spawn_blocking(move || {
            nodes
                .into_iter()
                .map(|(node, matches, dir)| {
                    let path = dir.join(&file);
                    let mut error = None;
                    if !paused {
                        let on_disk = std::fs::read(&path).ok();
                        if matches && on_disk.as_deref() != Some(contents.as_bytes()) {
                            if let Err(e) = write_atomic(&dir, &file, contents.as_bytes()) {
                                error = Some(e.to_string());
                            }
                        } else if !matches && on_disk.is_some() {
                            let _ = remove_file(&path);
                        }
                    }
                    let on_disk = std::fs::read(&path);
                    (
                        node,
                        matches,
                        on_disk.map(|d| d == contents.as_bytes()),
                        error,
                        file.clone(),
                    )
                })
                .collect::<Vec<_>>()
        })
        .await
        .unwrap_or_default();
        let mut rollouts = serde_json::Map::new();
        for (node, matches, in_sync, error, file) in observed {
            let cond = |t: &str, status: &str, reason: &str, message: String| json!({"type": t, "status": status, "reason": reason, "message": message});
            let applicable = if matches {
                cond("Applicable", "True", "CloudInitApplicable", String::new())
            } else {
                cond(
                    "Applicable",
                    "False",
                    "CloudInitNotApplicable",
                    "MatchSelector does not match Node labels".into(),
                )
            };
            let (out_of_sync, present) = match &in_sync {
                Ok(same) => (
                    if *same {
                        cond(
                            "OutOfSync",
                            "False",
                            "CloudInitChecksumMatch",
                            "Local file checksum is the same as the CloudInit checksum".into(),
                        )
                    } else {
                        cond(
                            "OutOfSync",
                            "True",
                            "CloudInitChecksumMismatch",
                            "Local file checksum is different than the CloudInit checksum".into(),
                        )
                    },
                    cond(
                        "Present",
                        "True",
                        "CloudInitPresentOnDisk",
                        format!("{file} is present under /oem"),
                    ),
                ),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => (
                    cond(
                        "OutOfSync",
                        "Unknown",
                        "CloudInitError",
                        format!("Open file: {e}"),
                    ),
                    cond(
                        "Present",
                        "False",
                        "CloudInitAbsentFromDisk",
                        format!("{file} is absent from /oem"),
                    ),
                ),
                Err(e) => (
                    cond(
                        "OutOfSync",
                        "Unknown",
                        "CloudInitError",
                        format!("Open file: {e}"),
                    ),
                    cond(
                        "Present",
                        "Unknown",
                        "CloudInitError",
                        format!("Open file: {e}"),
                    ),
                ),
            };
            let mut present = present;
            if let Some(e) = error {
                present["message"] = json!(format!("writing the file failed: {e}"));
            }
            rollouts.insert(
                node,
                json!({"conditions": [applicable, out_of_sync, present]}),
            );
        }
        let now = now_rfc3339();
        // Only a real change is written: a status rewritten every second would
        // wake every watcher. lastTransitionTime moves only with the condition.
        self.store.modify(Kind::CloudInit, "", &name, |ci| {
            let before = ci["status"]["rollouts"].clone();
            let mut changed = false;
            for (node, rollout) in rollouts.iter_mut() {
                for c in rollout["conditions"].as_array_mut().into_iter().flatten() {
                    let prev = before[node]["conditions"]
                        .as_array()
                        .and_then(|a| a.iter().find(|p| p["type"] == c["type"]));
                    match prev {
                        Some(p)
                            if p["status"] == c["status"]
                                && p["reason"] == c["reason"]
                                && p["message"] == c["message"] =>
                        {
                            c["lastTransitionTime"] = p["lastTransitionTime"].clone();
                        }
                        _ => {
                            changed = true;
                            c["lastTransitionTime"] = json!(now);
                        }
                    }
                }
            }
            if changed || before.as_object().map(|o| o.len()) != Some(rollouts.len()) {
                ci["status"] = json!({"rollouts": rollouts});
            }
        });
    }
}

/// The controller-manager and scheduler probes: each prints its component
/// when its serving certificate is missing or expired.
const PROBES: &str = r#"for c in kube-controller-manager kube-scheduler; do
  openssl x509 -checkend 0 -noout -in /var/lib/rancher/rke2/server/tls/$c/$c.crt >/dev/null 2>&1 || echo $c
done
"#;

/// Exit code of a plan that rancher-system-agent did not apply.
const PLAN_NOT_APPLIED: i32 = 42;

/// Before a plan runs: rancher-system-agent applies nothing on a node whose
/// certificates have already expired ("secret received was too old") until
/// it is restarted. The marker names the agent that saw the plan; the
/// stand-in agent logs the line while it is the one named there.
fn plan_gate() -> String {
    format!(
        r#"marker={STALE_PLAN_MARKER}
agent=$(systemctl show -p MainPID --value rancher-system-agent)
expired=
for f in $(find /var/lib/rancher/rke2/server/tls -maxdepth 2 -name '*.crt' -not -path '*/kube-controller-manager/*' -not -path '*/kube-scheduler/*' -not -path '*/temporary-certs/*' 2>/dev/null) $(find /var/lib/rancher/rke2/agent -maxdepth 1 -name '*.crt'); do
  openssl x509 -noout -checkend 0 -in "$f" >/dev/null 2>&1 || expired=1
done
if [ -n "$expired" ]; then
  if [ ! -e "$marker" ]; then
    mkdir -p "$(dirname "$marker")"
    echo "$agent" > "$marker"
  fi
  if [ "$(cat "$marker")" = "$agent" ]; then
    exit {PLAN_NOT_APPLIED}
  fi
fi
rm -f "$marker"
"#
    )
}

/// What the planner's plan does on a control-plane/etcd node: its
/// `rotate.sh` rotates unless this generation is already done, then the
/// controller-manager and scheduler serving certs and manifests go (they are
/// made again on start), then a restart without a stop first.
fn server_rotation_script(generation: i64) -> String {
    let tls = "/var/lib/rancher/rke2/server/tls";
    let dir = "/var/lib/rancher/rke2/rancher_v2prov_certificate_rotation/bin";
    format!(
        "set -e
{gate}mkdir -p {dir}
cat > {dir}/rotate.sh <<'ROTATE'
#!/bin/sh
f=/var/lib/rancher/rke2/certificate_rotation/generation
if [ \"$(cat \"$f\" 2>/dev/null)\" = \"{generation}\" ]; then
  exit 0
fi
{NODE_RKE2} certificate rotate
mkdir -p \"$(dirname \"$f\")\"
echo {generation} > \"$f\"
ROTATE
chmod 0700 {dir}/rotate.sh
{dir}/rotate.sh
rm -f {tls}/kube-controller-manager/kube-controller-manager.crt {tls}/kube-controller-manager/kube-controller-manager.key
rm -f /var/lib/rancher/rke2/agent/pod-manifests/kube-controller-manager.yaml
rm -f {tls}/kube-scheduler/kube-scheduler.crt {tls}/kube-scheduler/kube-scheduler.key
rm -f /var/lib/rancher/rke2/agent/pod-manifests/kube-scheduler.yaml
systemctl restart rke2-server
",
        gate = plan_gate()
    )
}

/// On a worker-only node the plan only restarts rke2-agent.
fn worker_rotation_script() -> String {
    format!("set -e\n{}systemctl restart rke2-agent\n", plan_gate())
}

/// Settings whose syncer the lab runs besides http-proxy.
const SYNCED_SETTINGS: [&str; 4] = [
    "additional-ca",
    "ssl-certificates",
    "ssl-parameters",
    "containerd-registry",
];

/// Harvester's additional-ca secret, its key, and where it goes
/// (`util.AdditionalCASecretName`, `util.AdditionalCAFileName`).
const ADDITIONAL_CA_SECRET: &str = "harvester-additional-ca";
const ADDITIONAL_CA_FILE: &str = "additional-ca.pem";
const ADDITIONAL_CA_NAMESPACES: [&str; 3] =
    ["harvester-system", "longhorn-system", "cattle-system"];
/// Longhorn's backup-target secret, given `AWS_CERT` (`util.BackupTargetSecretName`).
const BACKUP_TARGET_SECRET: &str = "harvester-backup-target-secret";
/// The containerd-registry syncer's secret and key (`util.ContainerdRegistrySecretName`).
const REGISTRY_SECRET: &str = "harvester-containerd-registry";
const REGISTRY_SECRET_KEY: &str = "registries.yaml";

/// How long the lab's ingress takes to restart with a new certificate.
const INGRESS_RESTART: Duration = Duration::from_millis(1500);

/// Harvester's handler records the SHA-224 of the value it synced here.
const HASH_ANNOTATION: &str = "harvesterhci.io/hash";

fn setting_hash(value: &str) -> String {
    use sha2::Digest;
    sha2::Sha224::digest(value.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Harvester's handler skips a value whose hash it recorded, and an empty
/// value that was never synced.
fn needs_sync(setting: &Value) -> bool {
    let value = setting["value"].as_str().unwrap_or("");
    let recorded = setting["metadata"]["annotations"][HASH_ANNOTATION]
        .as_str()
        .unwrap_or("");
    !(value.is_empty() && recorded.is_empty()) && recorded != setting_hash(value)
}

/// The containerd-registry value without `Configs[*].Auth`, when it had any.
fn without_registry_auth(value: &str) -> Option<String> {
    let mut v: Value = serde_json::from_str(value).ok()?;
    let configs = v
        .as_object_mut()?
        .iter_mut()
        .find(|(k, _)| k.eq_ignore_ascii_case("Configs"))?
        .1;
    let mut removed = false;
    for cfg in configs.as_object_mut()?.values_mut() {
        if let Some(cfg) = cfg.as_object_mut() {
            let keys: Vec<String> = cfg
                .keys()
                .filter(|k| k.eq_ignore_ascii_case("Auth"))
                .cloned()
                .collect();
            for k in keys {
                removed |= cfg.remove(&k).is_some_and(|a| !a.is_null());
            }
        }
    }
    removed.then(|| v.to_string())
}

fn set_setting_condition(s: &mut Value, ok: bool, reason: &str, message: &str) {
    let mut cond = setting_condition(ok, reason, message);
    let conds = s["status"]["conditions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let mut rest: Vec<Value> = Vec::new();
    for c in conds {
        if c["type"] == "configured" {
            // lastTransitionTime moves only when the status does.
            if c["status"] == cond["status"] {
                cond["lastTransitionTime"] = c["lastTransitionTime"].clone();
            }
        } else {
            rest.push(c);
        }
    }
    rest.push(cond);
    s["status"]["conditions"] = json!(rest);
}

/// Replace the `Ready` condition, keeping the others; lastTransitionTime
/// moves only when the status does.
fn set_ready(obj: &mut Value, ok: bool, message: &str) {
    let mut cond = ready_condition(ok, message);
    let conds = obj["status"]["conditions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let mut rest = Vec::new();
    for c in conds {
        if c["type"] == "Ready" {
            if c["status"] == cond["status"] && !c["lastTransitionTime"].is_null() {
                cond["lastTransitionTime"] = c["lastTransitionTime"].clone();
            }
        } else {
            rest.push(c);
        }
    }
    rest.insert(0, cond);
    obj["status"]["conditions"] = json!(rest);
}

/// Temp file, fsync, rename, fsync the folder: a reader sees the old file or
/// the new one, never half of one. Mode 0600: contents may hold credentials.
pub fn write_atomic(dir: &Path, file: &str, contents: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = dir.join(format!(".{file}.harvcred-tmp"));
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)?;
    f.write_all(contents)?;
    f.sync_all()?;
    drop(f);
    std::fs::rename(&tmp, dir.join(file))?;
    std::fs::File::open(dir)?.sync_all()
}

fn remove_file(path: &Path) -> std::io::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_auth_is_removed_and_the_rest_kept() {
        let v = r#"{"Mirrors":{"docker.io":{"Endpoints":["https://m"]}},"Configs":{"m":{"Auth":{"Username":"u","Password":"p"},"TLS":{"InsecureSkipVerify":true}}}}"#;
        let out: Value = serde_json::from_str(&without_registry_auth(v).unwrap()).unwrap();
        assert_eq!(out["Configs"]["m"].get("Auth"), None);
        assert_eq!(out["Configs"]["m"]["TLS"]["InsecureSkipVerify"], true);
        assert_eq!(out["Mirrors"]["docker.io"]["Endpoints"][0], "https://m");
        // Nothing to remove: the value stays as it is.
        assert_eq!(without_registry_auth(r#"{"Mirrors":{}}"#), None);
    }

    #[test]
    fn proxy_env_vars_replace_only_the_proxy_entries_and_append_harvesters_list() {
        let current = vec![
            json!({"name":"HTTP_PROXY","value":"http://old"}),
            json!({"name":"KEEP","value":"1"}),
        ];
        let env = http_proxy_env_vars(
            &current,
            &proxy_value(r#"{"httpsProxy":"http://p:3128","noProxy":"10.0.0.0/24"}"#),
        );
        assert_eq!(
            env,
            vec![
                json!({"name":"KEEP","value":"1"}),
                json!({"name":"HTTPS_PROXY","value":"http://p:3128"}),
                json!({"name":"NO_PROXY","value":format!("10.0.0.0/24,{BUILTIN_NO_PROXY}")}),
            ]
        );
    }

    #[test]
    fn the_server_rotation_script_is_valid_shell_and_does_the_planners_steps() {
        let script = server_rotation_script(3);
        let out = std::process::Command::new("sh")
            .args(["-n", "-c", &script])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            script.contains("= \"3\" ]; then\n  exit 0\nfi\n/opt/rke2/bin/rke2 certificate rotate")
        );
        assert!(script.contains("rancher_v2prov_certificate_rotation/bin/rotate.sh\nrm -f"));
        assert!(script.contains("openssl x509 -noout -checkend 0"));
        let worker = worker_rotation_script();
        assert!(worker.trim_end().ends_with("systemctl restart rke2-agent"));
        assert!(!worker.contains("certificate rotate"));
        assert!(script.contains("kube-scheduler/kube-scheduler.crt"));
        assert!(script.trim_end().ends_with("systemctl restart rke2-server"));
    }

    #[test]
    fn atomic_write_replaces_the_file_and_leaves_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        write_atomic(dir.path(), "20_x.yaml", b"a: 1\n").unwrap();
        write_atomic(dir.path(), "20_x.yaml", b"a: 2\n").unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.path().join("20_x.yaml")).unwrap(),
            "a: 2\n"
        );
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
