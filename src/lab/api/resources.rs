//! The resources the emulator serves and the objects a new lab starts with.

use serde_json::{Value, json};

use super::controllers::{http_proxy_env_vars, proxy_value};
use super::store::{Store, now_rfc3339};
use crate::lab::plan::{LabPlan, Role};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Node,
    Namespace,
    Secret,
    ConfigMap,
    Setting,
    CloudInit,
    Cluster,
    RkeControlPlane,
}

/// What discovery says about a resource, and what the router allows on it.
#[derive(Debug)]
pub struct ResourceDef {
    pub kind_id: Kind,
    pub group: &'static str,
    pub version: &'static str,
    pub plural: &'static str,
    pub singular: &'static str,
    pub kind: &'static str,
    pub namespaced: bool,
    pub verbs: &'static [&'static str],
    pub short_names: &'static [&'static str],
    /// A custom resource: strategic merge patch is refused, updates need a
    /// resourceVersion, `metadata.generation` is kept.
    pub custom: bool,
    /// Has a `/status` subresource: writes to the object keep the stored
    /// status, writes to `/status` change only the status.
    pub status_subresource: bool,
}

const READ: &[&str] = &["get", "list", "watch"];
const ALL: &[&str] = &[
    "create", "delete", "get", "list", "patch", "update", "watch",
];

pub static DEFS: [ResourceDef; 8] = [
    ResourceDef {
        kind_id: Kind::Node,
        group: "",
        version: "v1",
        plural: "nodes",
        singular: "node",
        kind: "Node",
        namespaced: false,
        verbs: READ,
        short_names: &["no"],
        custom: false,
        status_subresource: false,
    },
    ResourceDef {
        kind_id: Kind::Namespace,
        group: "",
        version: "v1",
        plural: "namespaces",
        singular: "namespace",
        kind: "Namespace",
        namespaced: false,
        verbs: READ,
        short_names: &["ns"],
        custom: false,
        status_subresource: false,
    },
    ResourceDef {
        kind_id: Kind::Secret,
        group: "",
        version: "v1",
        plural: "secrets",
        singular: "secret",
        kind: "Secret",
        namespaced: true,
        verbs: READ,
        short_names: &[],
        custom: false,
        status_subresource: false,
    },
    ResourceDef {
        kind_id: Kind::ConfigMap,
        group: "",
        version: "v1",
        plural: "configmaps",
        singular: "configmap",
        kind: "ConfigMap",
        namespaced: true,
        verbs: READ,
        short_names: &["cm"],
        custom: false,
        status_subresource: false,
    },
    ResourceDef {
        kind_id: Kind::Setting,
        group: "harvesterhci.io",
        version: "v1beta1",
        plural: "settings",
        singular: "setting",
        kind: "Setting",
        namespaced: false,
        verbs: ALL,
        short_names: &[],
        custom: true,
        status_subresource: false,
    },
    ResourceDef {
        kind_id: Kind::CloudInit,
        group: "node.harvesterhci.io",
        version: "v1beta1",
        plural: "cloudinits",
        singular: "cloudinit",
        kind: "CloudInit",
        namespaced: false,
        verbs: ALL,
        short_names: &[],
        custom: true,
        status_subresource: true,
    },
    ResourceDef {
        kind_id: Kind::Cluster,
        group: "provisioning.cattle.io",
        version: "v1",
        plural: "clusters",
        singular: "cluster",
        kind: "Cluster",
        namespaced: true,
        verbs: &["get", "list", "patch", "update", "watch"],
        short_names: &[],
        custom: true,
        status_subresource: true,
    },
    // Rancher keeps the rotation's progress here: the planner copies the
    // Cluster's generation into the spec and reports in the status.
    ResourceDef {
        kind_id: Kind::RkeControlPlane,
        group: "rke.cattle.io",
        version: "v1",
        plural: "rkecontrolplanes",
        singular: "rkecontrolplane",
        kind: "RKEControlPlane",
        namespaced: true,
        verbs: &["get", "list", "patch", "update", "watch"],
        short_names: &[],
        custom: true,
        status_subresource: true,
    },
];

impl Kind {
    pub fn def(self) -> &'static ResourceDef {
        DEFS.iter()
            .find(|d| d.kind_id == self)
            .expect("every kind has a definition")
    }
}

impl ResourceDef {
    /// `settings.harvesterhci.io`, or `nodes` for the core group, as error
    /// messages name a resource.
    pub fn qualified(&self) -> String {
        if self.group.is_empty() {
            self.plural.to_string()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }

    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_string()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    pub fn find(group: &str, version: &str, plural: &str) -> Option<&'static ResourceDef> {
        DEFS.iter()
            .find(|d| d.group == group && d.version == version && d.plural == plural)
    }

    pub fn allows(&self, verb: &str) -> bool {
        self.verbs.contains(&verb)
    }
}

/// Harvester's settings that touch credentials, with their defaults
/// (harvester.md section 1), plus the version setting the UI shows.
pub const SETTING_DEFAULTS: &[(&str, &str)] = &[
    ("additional-ca", ""),
    (
        "auto-rotate-rke2-certs",
        r#"{"enable":false,"expiringInHours":240}"#,
    ),
    ("backup-target", ""),
    ("cluster-registration-url", ""),
    ("containerd-registry", ""),
    ("http-proxy", "{}"),
    ("kubeconfig-default-token-ttl-minutes", "0"),
    ("server-version", "v1.6.1"),
    ("ssl-certificates", "{}"),
    ("ssl-parameters", "{}"),
];

pub const NAMESPACES: &[&str] = &[
    "cattle-system",
    "default",
    "fleet-local",
    "harvester-system",
    "kube-system",
    "longhorn-system",
];

/// `cattle-system/tls-ingress`: the ssl-certificates syncer's secret.
pub const TLS_INGRESS_SECRET: &str = "tls-ingress";
/// The additional-ca syncer's config map for CDI's importer, and its key
/// (Harvester's `util.CDIAdditionalCAConfigMapName`; the key is `ca.pem` in
/// the release that creates it in harvester-system [U: in later ones]).
pub const CDI_CA_CONFIG_MAP: &str = "harvester-additional-ca-cdi";
pub const CDI_CA_KEY: &str = "ca.pem";

pub const KUBELET_VERSION: &str = crate::lab::pki::RKE2_VERSION;

/// Go's `omitempty` drops empty strings and false: a stored Setting looks the
/// way Harvester's API returns it.
pub fn normalize_setting(obj: &mut Value) {
    if let Some(m) = obj.as_object_mut() {
        for f in ["value", "default", "source"] {
            if m.get(f).is_some_and(|v| v == "" || v.is_null()) {
                m.remove(f);
            }
        }
        if m.get("customized")
            .is_some_and(|v| v == false || v.is_null())
        {
            m.remove("customized");
        }
    }
}

pub fn setting_condition(status: bool, reason: &str, message: &str) -> Value {
    let now = now_rfc3339();
    json!({
        "type": "configured",
        "status": if status { "True" } else { "False" },
        "reason": reason,
        "message": message,
        "lastUpdateTime": now,
        "lastTransitionTime": now,
    })
}

/// The `Ready` condition of an RKEControlPlane.
pub fn ready_condition(ok: bool, message: &str) -> Value {
    let now = now_rfc3339();
    json!({
        "type": "Ready",
        "status": if ok { "True" } else { "False" },
        "message": message,
        "lastUpdateTime": now,
        "lastTransitionTime": now,
    })
}

pub fn node_object(name: &str, ip: &str, role: Role, kubelet_version: &str) -> Value {
    let mut labels = json!({
        "kubernetes.io/hostname": name,
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64",
        "beta.kubernetes.io/os": "linux",
        "beta.kubernetes.io/arch": "amd64",
        "node.kubernetes.io/instance-type": "rke2",
    });
    if role == Role::Server {
        for r in ["control-plane", "etcd", "master"] {
            labels[format!("node-role.kubernetes.io/{r}")] = json!("true");
        }
    }
    let now = now_rfc3339();
    json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "labels": labels,
            "annotations": {"rke2.io/internal-ip": ip, "rke2.io/hostname": name},
        },
        "spec": {"podCIDR": "10.52.0.0/24", "providerID": format!("rke2://{name}")},
        "status": {
            "addresses": [
                {"type": "InternalIP", "address": ip},
                {"type": "Hostname", "address": name},
            ],
            "conditions": [{
                "type": "Ready",
                "status": "True",
                "reason": "KubeletReady",
                "message": "kubelet is posting ready status",
                "lastHeartbeatTime": now,
                "lastTransitionTime": now,
            }],
            "nodeInfo": {
                "architecture": "amd64",
                "operatingSystem": "linux",
                "osImage": "Harvester v1.6.1",
                "kernelVersion": "6.4.0-150600.23.60-default",
                "kubeletVersion": kubelet_version,
                "kubeProxyVersion": kubelet_version,
                "containerRuntimeVersion": "containerd://2.0.5-k3s2",
                "machineID": "",
                "systemUUID": "",
                "bootID": "",
            },
        },
    })
}

/// Fill a new store with what a freshly installed Harvester cluster has.
pub fn seed(
    store: &Store,
    plan: &LabPlan,
    server_token: &str,
    initial_settings: &[(String, String)],
) -> anyhow::Result<()> {
    use base64::Engine;
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    for ns in NAMESPACES {
        store.create(
            Kind::Namespace,
            json!({"apiVersion":"v1","kind":"Namespace","metadata":{"name":ns,"labels":{"kubernetes.io/metadata.name":ns}},
                   "spec":{"finalizers":["kubernetes"]},"status":{"phase":"Active"}}),
            false,
        )?;
    }
    for n in &plan.nodes {
        let mut node = node_object(&n.name, &n.ip.to_string(), n.role, plan.rke2_version());
        if crate::lab::seed::not_joined(plan, n) {
            // Left from before the node was reinstalled: its kubelet has not
            // posted since, until the node joins again.
            node["status"]["conditions"][0]["status"] = json!("Unknown");
            node["status"]["conditions"][0]["reason"] = json!("NodeStatusUnknown");
            node["status"]["conditions"][0]["message"] =
                json!("Kubelet stopped posting node status.");
        }
        store.create(Kind::Node, node, false)?;
    }
    let mut proxy = "{}".to_string();
    for (name, default) in SETTING_DEFAULTS {
        let value = initial_settings
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone());
        if *name == "http-proxy" {
            proxy = value.clone().unwrap_or_else(|| default.to_string());
        }
        // A fresh http-proxy has never been synced: `status: {}` until a
        // change makes Harvester's controller report `configured`.
        let status = if *name == "http-proxy" && value.is_none() {
            json!({})
        } else {
            json!({"conditions": [setting_condition(true, "", "")]})
        };
        let mut obj = json!({
            "apiVersion": "harvesterhci.io/v1beta1",
            "kind": "Setting",
            "metadata": {"name": name},
            "default": default,
            "value": value.unwrap_or_default(),
            "status": status,
        });
        normalize_setting(&mut obj);
        store.create(Kind::Setting, obj, false)?;
    }
    // Overrides of settings not in the table are created as given.
    for (name, value) in initial_settings {
        if SETTING_DEFAULTS.iter().any(|(n, _)| n == name) {
            continue;
        }
        let _ = store.create(
            Kind::Setting,
            json!({"apiVersion":"harvesterhci.io/v1beta1","kind":"Setting","metadata":{"name":name},"value":value}),
            false,
        );
    }
    store.create(
        Kind::Secret,
        json!({
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "local-rke-state", "namespace": "fleet-local"},
            "type": "rke.cattle.io/cluster-state",
            "data": {"serverToken": b64(server_token), "agentToken": b64(server_token)},
        }),
        false,
    )?;
    // What Harvester's setting syncers write into and the lab's controllers
    // keep up to date: the ingress's TLS secret (Harvester's syncer only
    // updates it, so a fresh cluster has it [U: what it holds before the
    // first ssl-certificates value; empty here]) and the CDI importer's CA
    // config map (updated where it exists).
    store.create(
        Kind::Secret,
        json!({
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": TLS_INGRESS_SECRET, "namespace": "cattle-system"},
            "type": "kubernetes.io/tls",
            "data": {"tls.crt": "", "tls.key": ""},
        }),
        false,
    )?;
    store.create(
        Kind::ConfigMap,
        json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": CDI_CA_CONFIG_MAP, "namespace": "harvester-system"},
            "data": {CDI_CA_KEY: ""},
        }),
        false,
    )?;
    let env = http_proxy_env_vars(&[], &proxy_value(&proxy));
    let version = plan.rke2_version();
    // The provisioning Cluster carries the rotation's spec only; Rancher
    // reports its progress on the RKEControlPlane.
    store.create(
        Kind::Cluster,
        json!({
            "apiVersion": "provisioning.cattle.io/v1",
            "kind": "Cluster",
            "metadata": {"name": "local", "namespace": "fleet-local", "labels": {"provider.cattle.io": "harvester"}},
            "spec": {
                "kubernetesVersion": version,
                "agentEnvVars": env,
                "rkeConfig": {"rotateCertificates": {"generation": 0}},
            },
            "status": {
                "ready": true,
                "clusterName": "local",
                "conditions": [{"type": "Ready", "status": "True", "lastUpdateTime": now_rfc3339()}],
            },
        }),
        false,
    )?;
    store.create(
        Kind::RkeControlPlane,
        json!({
            "apiVersion": "rke.cattle.io/v1",
            "kind": "RKEControlPlane",
            "metadata": {"name": "local", "namespace": "fleet-local", "labels": {"rke.cattle.io/cluster-name": "local"}},
            "spec": {
                "kubernetesVersion": version,
                "agentEnvVars": env,
                "managementClusterName": "local",
                "rotateCertificates": {"generation": 0},
            },
            "status": {
                "ready": true,
                "certificateRotationGeneration": 0,
                "conditions": [ready_condition(true, "")],
            },
        }),
        false,
    )?;
    Ok(())
}
