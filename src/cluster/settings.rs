//! The `http-proxy` setting on the API: read with its resourceVersion,
//! patched with that version as a precondition (optimistic concurrency),
//! server-side dry run, the webhook's denial kept verbatim, and the
//! `configured` condition followed after a change.

use std::time::Duration;

use k8s_openapi::api::core::v1::Node;
use kube::api::{ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams};
use kube::{Api, Client};
use zeroize::Zeroizing;

use crate::creds::proxy::HttpProxySetting;
use crate::creds::setting_values::ServedTls;

const HTTP_PROXY: &str = "http-proxy";
const TIMEOUT: Duration = Duration::from_secs(15);

fn settings_api(client: Client) -> Api<DynamicObject> {
    let gvk = GroupVersionKind::gvk("harvesterhci.io", "v1beta1", "Setting");
    let ar = ApiResource::from_gvk_with_plural(&gvk, "settings");
    Api::all_with(client, &ar)
}

/// The `configured` condition of a setting.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Configured {
    pub status: Option<bool>,
    pub reason: String,
    pub message: String,
}

/// The setting as read: parsed value and the version it was read at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyRead {
    pub setting: HttpProxySetting,
    pub resource_version: String,
    pub configured: Configured,
}

/// Why a patch did not go through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PatchFailure {
    /// 409: someone changed the setting since it was read; this is its value now.
    Conflict(Box<ProxyRead>),
    /// The admission webhook (or the API's validation) said no: its words.
    Denied(String),
    /// Anything else: network, auth, timeouts.
    Other(String),
}

impl std::fmt::Display for PatchFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PatchFailure::Conflict(_) => f.write_str(
                "the http-proxy setting was changed by someone else since it was read (409 Conflict)",
            ),
            PatchFailure::Denied(m) | PatchFailure::Other(m) => f.write_str(m),
        }
    }
}

/// The `configured` condition of a Setting object.
fn configured_of(obj: &DynamicObject) -> Configured {
    obj.data["status"]["conditions"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["type"] == "configured"))
        .map(|c| Configured {
            status: match c["status"].as_str() {
                Some("True") => Some(true),
                Some("False") => Some(false),
                _ => None,
            },
            reason: c["reason"].as_str().unwrap_or("").to_string(),
            message: c["message"].as_str().unwrap_or("").to_string(),
        })
        .unwrap_or_default()
}

/// The setting read from `obj`, which is wiped then (see [`super::wipe_object`]).
fn parse(obj: DynamicObject) -> Result<ProxyRead, String> {
    let value = crate::status::effective_value(&obj.data);
    let read = HttpProxySetting::parse(&value)
        .map_err(|e| e.to_string())
        .map(|setting| ProxyRead {
            setting,
            resource_version: obj.metadata.resource_version.clone().unwrap_or_default(),
            configured: configured_of(&obj),
        });
    super::wipe_object(obj);
    read
}

/// The annotation Harvester's setting controller writes, with the
/// condition, once a syncer has run for a value: hex SHA-224 of `value`
/// (`pkg/controller/master/setting/handler.go`). Its arrival is the proof
/// that the controller saw this value, whatever the condition's timestamps.
pub const HASH_ANNOTATION: &str = "harvesterhci.io/hash";

/// [`HASH_ANNOTATION`] for `value`.
pub fn value_hash(value: &str) -> String {
    use sha2::Digest;
    sha2::Sha224::digest(value.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The verdict once the controller has recorded our value's hash: True
/// (a value), or False without a message (an empty value: Harvester reports
/// the default as not configured). False with a message is its syncer's
/// error: followed until the timeout, which names it.
fn synced_verdict(r: &SettingRead, want_hash: &str, empty: bool) -> Option<Verified> {
    if r.hash != want_hash {
        return None;
    }
    match (r.configured.status, empty) {
        (Some(true), _) => Some(Verified::Configured),
        (Some(false), true) if r.configured.message.is_empty() => Some(Verified::Configured),
        _ => None,
    }
}

/// Any setting as read: its value as stored (`value`, which may be empty,
/// and `default`), the version it was read at and its `configured`
/// condition. `Debug` shows sizes only: values can hold keys and passwords.
#[derive(Clone, PartialEq, Eq)]
pub struct SettingRead {
    pub name: String,
    pub value: Zeroizing<String>,
    pub default: Zeroizing<String>,
    pub resource_version: String,
    pub configured: Configured,
    /// [`HASH_ANNOTATION`]: the value the controller last synced.
    pub hash: String,
}

impl std::fmt::Debug for SettingRead {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SettingRead")
            .field("name", &self.name)
            .field("value_bytes", &self.value.len())
            .field("resource_version", &self.resource_version)
            .field("configured", &self.configured)
            .finish()
    }
}

impl SettingRead {
    /// What Harvester uses: `value` if set, else `default`.
    pub fn effective(&self) -> &str {
        if self.value.is_empty() {
            &self.default
        } else {
            &self.value
        }
    }

    /// The setting read from `obj`, which is wiped then (see [`super::wipe_object`]).
    pub(crate) fn of(obj: DynamicObject) -> SettingRead {
        let read = SettingRead::copied(&obj);
        super::wipe_object(obj);
        read
    }

    fn copied(obj: &DynamicObject) -> SettingRead {
        let get = |k: &str| Zeroizing::new(obj.data[k].as_str().unwrap_or("").to_string());
        SettingRead {
            name: obj.metadata.name.clone().unwrap_or_default(),
            value: get("value"),
            default: get("default"),
            resource_version: obj.metadata.resource_version.clone().unwrap_or_default(),
            configured: configured_of(obj),
            hash: obj
                .metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get(HASH_ANNOTATION))
                .cloned()
                .unwrap_or_default(),
        }
    }
}

/// Reads any setting; a missing one is an error.
pub async fn read_setting(client: &Client, name: &str) -> Result<SettingRead, String> {
    let api = settings_api(client.clone());
    match tokio::time::timeout(TIMEOUT, api.get(name)).await {
        Ok(Ok(obj)) => Ok(SettingRead::of(obj)),
        Ok(Err(kube::Error::Api(r))) if r.code == 404 => Err(format!(
            "the cluster has no {name} Setting (settings.harvesterhci.io): not a Harvester cluster, or an older Harvester without it"
        )),
        Ok(Err(e)) => Err(format!("reading setting {name}: {}", super::chain_text(&e))),
        Err(_) => Err(format!("reading setting {name}: no answer within 15 s")),
    }
}

/// How a patch of a setting's value ended when it did not go through.
enum RawFailure {
    Conflict,
    Denied(String),
    Other(String),
}

/// Patches `value` of setting `name` at `resource_version` (a precondition:
/// the API answers 409 if it moved on); `dry_run` stores nothing.
///
/// `body` borrows the value from the caller's zeroised buffer, so harvcred
/// itself keeps no unwiped copy. kube serialises it into a request body of
/// its own, which hyper and rustls copy on the way out and free unwiped: we
/// cannot reach those. The answer (the object with its value) is wiped by
/// the callers once parsed.
async fn patch_value(
    client: &Client,
    name: &str,
    body: &(impl serde::Serialize + std::fmt::Debug),
    dry_run: bool,
) -> Result<DynamicObject, RawFailure> {
    let api = settings_api(client.clone());
    let params = PatchParams {
        dry_run,
        ..Default::default()
    };
    match tokio::time::timeout(TIMEOUT, api.patch(name, &params, &Patch::Merge(body))).await {
        Ok(Ok(obj)) => Ok(obj),
        Ok(Err(kube::Error::Api(st))) if st.code == 409 => Err(RawFailure::Conflict),
        Ok(Err(kube::Error::Api(st))) if st.code == 400 || st.code == 422 => {
            Err(RawFailure::Denied(st.message.clone()))
        }
        Ok(Err(e)) => Err(RawFailure::Other(format!(
            "patching setting {name}: {}",
            super::chain_text(&e)
        ))),
        Err(_) => Err(RawFailure::Other(format!(
            "patching setting {name}: no answer within 15 s; read it again before retrying"
        ))),
    }
}

/// Why a patch of any setting did not go through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SettingPatchFailure {
    /// 409: changed by someone else since it was read; its value now.
    Conflict(Box<SettingRead>),
    /// The webhook's (or the API's) words.
    Denied(String),
    Other(String),
}

/// A patch body whose `Debug` (kube may log it) shows the size only.
#[derive(serde::Serialize)]
struct OpaquePatchBody<'a> {
    metadata: PatchMeta<'a>,
    value: &'a str,
}

impl std::fmt::Debug for OpaquePatchBody<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PatchBody")
            .field("resourceVersion", &self.metadata.resource_version)
            .field("value_bytes", &self.value.len())
            .finish()
    }
}

/// Writes `value` (as Harvester stores it; empty restores the default) into
/// setting `name` if it is still at `resource_version`.
pub async fn patch_setting(
    client: &Client,
    name: &str,
    value: &str,
    resource_version: &str,
    dry_run: bool,
) -> Result<SettingRead, SettingPatchFailure> {
    let body = OpaquePatchBody {
        metadata: PatchMeta { resource_version },
        value,
    };
    match patch_value(client, name, &body, dry_run).await {
        Ok(obj) => Ok(SettingRead::of(obj)),
        Err(RawFailure::Conflict) => match read_setting(client, name).await {
            Ok(now) => Err(SettingPatchFailure::Conflict(Box::new(now))),
            Err(e) => Err(SettingPatchFailure::Other(format!(
                "409 Conflict, and reading the setting again failed: {e}"
            ))),
        },
        Err(RawFailure::Denied(m)) => Err(SettingPatchFailure::Denied(m)),
        Err(RawFailure::Other(m)) => Err(SettingPatchFailure::Other(m)),
    }
}

/// Whether `rv` is newer than `applied_rv` (numbers where they are numbers).
fn newer_than(rv: &str, applied_rv: &str) -> bool {
    match (rv.parse::<u64>(), applied_rv.parse::<u64>()) {
        (Ok(a), Ok(b)) => a > b,
        _ => rv != applied_rv,
    }
}

/// Follows the `configured` condition of setting `name` after a change
/// written at `applied_rv`: it counts once the controller has written the
/// object again (a newer resourceVersion), else the old `True` would pass.
pub async fn follow_setting_configured(
    client: &Client,
    name: &str,
    written: &str,
    applied_rv: &str,
    timeout: Duration,
    mut progress: impl FnMut(&Configured),
) -> Verified {
    let want_hash = value_hash(written);
    let deadline = tokio::time::Instant::now() + timeout;
    let mut last = Configured::default();
    loop {
        if let Ok(r) = read_setting(client, name).await {
            if r.configured != last {
                progress(&r.configured);
                last = r.configured.clone();
            }
            if let Some(v) = synced_verdict(&r, &want_hash, written.is_empty()) {
                return v;
            }
            if let Some(v) =
                configured_verdict(&r.configured, newer_than(&r.resource_version, applied_rv))
            {
                return v;
            }
        }
        if tokio::time::Instant::now() >= deadline {
            return Verified::Timeout(timeout_text(name, timeout, &last));
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// Reads the setting. A missing setting is an error: Harvester always has one.
pub async fn read_http_proxy(client: &Client) -> Result<ProxyRead, String> {
    let api = settings_api(client.clone());
    match tokio::time::timeout(TIMEOUT, api.get(HTTP_PROXY)).await {
        Ok(Ok(obj)) => parse(obj),
        Ok(Err(kube::Error::Api(r))) if r.code == 404 => Err(NOT_HARVESTER.into()),
        Ok(Err(e)) => Err(format!(
            "reading setting {HTTP_PROXY}: {}",
            super::chain_text(&e)
        )),
        Err(_) => Err(format!(
            "reading setting {HTTP_PROXY}: no answer within 15 s"
        )),
    }
}

/// What a missing `http-proxy` Setting means: every Harvester has one.
pub const NOT_HARVESTER: &str = "the cluster has no http-proxy Setting (settings.harvesterhci.io): this is not a Harvester cluster, or the kubeconfig's context points at another one";

/// The InternalIP of every node, as the webhook sees them.
pub async fn node_ips(client: &Client) -> Result<Vec<String>, String> {
    let api: Api<Node> = Api::all(client.clone());
    match tokio::time::timeout(TIMEOUT, api.list(&Default::default())).await {
        Ok(Ok(list)) => Ok(list.items.iter().flat_map(super::internal_ips).collect()),
        Ok(Err(e)) => Err(format!("listing nodes: {}", super::chain_text(&e))),
        Err(_) => Err("listing nodes: no answer within 15 s".into()),
    }
}

#[derive(serde::Serialize)]
struct PatchMeta<'a> {
    /// A precondition: the API answers 409 if the setting moved on.
    #[serde(rename = "resourceVersion")]
    resource_version: &'a str,
}

#[derive(serde::Serialize)]
struct PatchBody<'a> {
    metadata: PatchMeta<'a>,
    value: &'a str,
}

/// kube wants the patch to be `Debug` (and may log it): the value is
/// shown through its masked form only.
impl std::fmt::Debug for PatchBody<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let masked =
            HttpProxySetting::parse(self.value).map(|s| crate::audit::MaskedProxy::from(&s));
        f.debug_struct("PatchBody")
            .field("resourceVersion", &self.metadata.resource_version)
            .field("value", &masked.ok())
            .finish()
    }
}

/// Writes `new` if the setting is still at `resource_version`. With
/// `dry_run` the API validates (webhook included) and stores nothing.
/// On a 409 the current value is read again and returned.
pub async fn patch_http_proxy(
    client: &Client,
    new: &HttpProxySetting,
    resource_version: &str,
    dry_run: bool,
) -> Result<ProxyRead, PatchFailure> {
    let value = new.to_json();
    // The value (with credentials) only travels in the request body; it is
    // borrowed from the zeroised JSON text, not copied into a serde Value.
    let body = PatchBody {
        metadata: PatchMeta { resource_version },
        value: value.as_str(),
    };
    match patch_value(client, HTTP_PROXY, &body, dry_run).await {
        Ok(obj) => parse(obj).map_err(PatchFailure::Other),
        Err(RawFailure::Conflict) => match read_http_proxy(client).await {
            Ok(current) => Err(PatchFailure::Conflict(Box::new(current))),
            Err(e) => Err(PatchFailure::Other(format!(
                "409 Conflict, and reading the setting again failed: {e}"
            ))),
        },
        Err(RawFailure::Denied(m)) => Err(PatchFailure::Denied(m)),
        Err(RawFailure::Other(m)) => Err(PatchFailure::Other(m)),
    }
}

/// How following the `configured` condition ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verified {
    Configured,
    /// The controller reported a failure (its reason and message).
    NotConfigured(String),
    /// No verdict in time: what to check.
    Timeout(String),
}

/// The verdict a reading of the condition gives, or None to keep
/// following. Harvester's setting controller sets `configured` False with
/// the syncer's error and tries again, so False (whatever the reason) is
/// "still retrying", never final: only True ends the wait before the timeout.
pub fn configured_verdict(c: &Configured, touched_since_change: bool) -> Option<Verified> {
    (touched_since_change && c.status == Some(true)).then_some(Verified::Configured)
}

/// Whether the env vars Harvester's http-proxy syncer writes into the
/// provisioning Cluster `fleet-local/local` (`spec.agentEnvVars`) carry `s`:
/// what `configured` means. None when the Cluster cannot be read.
pub async fn agent_env_carries(client: &Client, s: &HttpProxySetting) -> Option<bool> {
    let gvk = GroupVersionKind::gvk("provisioning.cattle.io", "v1", "Cluster");
    let ar = ApiResource::from_gvk_with_plural(&gvk, "clusters");
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), "fleet-local", &ar);
    let cluster = tokio::time::timeout(TIMEOUT, api.get("local"))
        .await
        .ok()?
        .ok()?;
    let env = cluster.data["spec"]["agentEnvVars"].as_array()?;
    let var = |name: &str| {
        env.iter()
            .find(|e| e["name"] == name)
            .and_then(|e| e["value"].as_str())
            .unwrap_or("")
    };
    let no_proxy: Vec<&str> = var("NO_PROXY").split(',').map(str::trim).collect();
    Some(
        var("HTTP_PROXY") == s.http_proxy.expose_secret()
            && var("HTTPS_PROXY") == s.https_proxy.expose_secret()
            && s.no_proxy
                .split(',')
                .map(str::trim)
                .filter(|e| !e.is_empty())
                .all(|e| no_proxy.contains(&e)),
    )
}

/// Follows `status.conditions` after a change written at `applied_rv`: the
/// condition only counts once the controller has touched the object again
/// (a newer resourceVersion), else the old `True` would pass for the new value.
/// A controller that reconciles within the second of its last report writes
/// an identical status, which moves no resourceVersion: then a True counts
/// once the Cluster's agent env vars carry the value.
pub async fn follow_configured(
    client: &Client,
    applied_rv: &str,
    timeout: Duration,
    mut progress: impl FnMut(&Configured),
) -> Verified {
    let deadline = tokio::time::Instant::now() + timeout;
    let mut last = Configured::default();
    let newer = |rv: &str| newer_than(rv, applied_rv);
    loop {
        if let Ok(r) = read_http_proxy(client).await {
            if r.configured != last {
                progress(&r.configured);
                last = r.configured.clone();
            }
            if let Some(v) = configured_verdict(&r.configured, newer(&r.resource_version)) {
                return v;
            }
            if r.configured.status == Some(true)
                && agent_env_carries(client, &r.setting).await == Some(true)
            {
                return Verified::Configured;
            }
        }
        if tokio::time::Instant::now() >= deadline {
            return Verified::Timeout(timeout_text(HTTP_PROXY, timeout, &last));
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

fn timeout_text(name: &str, timeout: Duration, last: &Configured) -> String {
    let retrying = if last.status == Some(false) {
        format!(
            "Harvester's controller was still retrying ({}{}{})",
            last.reason,
            if last.reason.is_empty() || last.message.is_empty() {
                ""
            } else {
                ": "
            },
            last.message
        )
    } else {
        "the controller had not reported yet".to_string()
    };
    let also = if name == HTTP_PROXY {
        " and the rke2-server log of the nodes"
    } else {
        ""
    };
    format!(
        "the {name} setting was not reported configured within {} s; {retrying}. It may still succeed: check `kubectl get settings.harvesterhci.io {name} -o yaml`{also}",
        timeout.as_secs()
    )
}

/// The host of `cluster-registration-url` (the docs ask for it in noProxy),
/// when set. The URL carries a token: only the host is kept.
pub async fn registration_host(client: &Client) -> Option<String> {
    let api = settings_api(client.clone());
    let obj = tokio::time::timeout(TIMEOUT, api.get_opt("cluster-registration-url"))
        .await
        .ok()?
        .ok()??;
    let url = crate::status::effective_value(&obj.data);
    super::wipe_object(obj);
    let after = url.split_once("://")?.1;
    let authority = after.split(['/', '?', '#']).next()?;
    let hostport = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = match hostport.strip_prefix('[') {
        Some(r) => r.split_once(']')?.0,
        None => hostport.rsplit_once(':').map_or(hostport, |(h, _)| h),
    };
    (!host.is_empty()).then(|| host.to_string())
}

/// Where Harvester's additional-ca syncer copies the bundle: the secret
/// `harvester-additional-ca` (key `additional-ca.pem`) of these namespaces.
pub const ADDITIONAL_CA_SECRET_NAMESPACES: [&str; 3] =
    ["harvester-system", "longhorn-system", "cattle-system"];
/// And the CDI importer's config map in harvester-system (key `ca.pem`).
pub const ADDITIONAL_CA_CONFIG_MAP: &str = "harvester-system/harvester-additional-ca-cdi";

/// Each copy of the additional-ca bundle as the cluster holds it: where
/// (`namespace/name`), and its text (None: the object or key is missing),
/// or why it could not be read.
pub async fn additional_ca_copies(
    client: &Client,
) -> Vec<(String, Result<Option<String>, String>)> {
    use k8s_openapi::api::core::v1::{ConfigMap, Secret};
    let text = |b: Option<Vec<u8>>| b.map(|b| String::from_utf8_lossy(&b).into_owned());
    let mut out = Vec::new();
    for ns in ADDITIONAL_CA_SECRET_NAMESPACES {
        let api: Api<Secret> = Api::namespaced(client.clone(), ns);
        let read = match tokio::time::timeout(TIMEOUT, api.get_opt("harvester-additional-ca")).await
        {
            Ok(Ok(s)) => {
                Ok(text(s.and_then(|s| {
                    s.data?.remove("additional-ca.pem").map(|b| b.0)
                })))
            }
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err("timed out".into()),
        };
        out.push((format!("{ns}/harvester-additional-ca"), read));
    }
    let (ns, name) = ADDITIONAL_CA_CONFIG_MAP
        .split_once('/')
        .expect("namespace/name");
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), ns);
    let read = match tokio::time::timeout(TIMEOUT, api.get_opt(name)).await {
        Ok(Ok(cm)) => Ok(cm.and_then(|cm| cm.data?.remove("ca.pem"))),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("timed out".into()),
    };
    out.push((ADDITIONAL_CA_CONFIG_MAP.to_string(), read));
    out
}

/// The facts the proxy checks need, read from the cluster.
pub async fn proxy_facts(client: &Client) -> Result<crate::creds::proxy::ClusterFacts, String> {
    Ok(crate::creds::proxy::ClusterFacts {
        node_ips: node_ips(client).await?,
        registration_host: registration_host(client).await,
        ..Default::default()
    })
}

/// Harvester's ingress port on the VIP (Traefik, or rke2-ingress-nginx in older releases).
pub const INGRESS_PORT: u16 = 443;

/// `host` (an IP address or a name) and `port` as a socket address.
async fn resolve(host: &str, port: u16) -> Result<std::net::SocketAddr, String> {
    match host.parse::<std::net::IpAddr>() {
        Ok(ip) => Ok(std::net::SocketAddr::new(ip, port)),
        Err(_) => tokio::net::lookup_host((host, port))
            .await
            .map_err(|e| format!("resolving {host}: {e}"))?
            .next()
            .ok_or_else(|| format!("{host} resolves to no address")),
    }
}

/// The SHA-256 (hex) of the leaf certificate `host`:`port` presents to a
/// TLS dial (any certificate accepted: only what is presented is read).
pub async fn presented_leaf_sha256(host: &str, port: u16) -> Result<String, String> {
    use sha2::Digest;
    let addr = resolve(host, port).await?;
    let chain = super::rotation::presented_chain(addr, Some(host)).await?;
    let leaf = chain
        .first()
        .ok_or_else(|| format!("{addr} presented no certificate"))?;
    Ok(hex::encode(sha2::Sha256::digest(leaf)))
}

/// What the ingress should present after an `ssl-certificates` change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IngressWant {
    /// This leaf (SHA-256 hex): the new certificate.
    Presents(String),
    /// Anything but this leaf: Harvester's own again after a reset.
    NoLonger(String),
}

/// Dials `host`:`port` until it presents what `want` says or `timeout`
/// passes (Harvester redeploys the ingress after `configured`); the
/// fingerprint seen, or what was seen last.
pub async fn follow_ingress(
    host: &str,
    port: u16,
    want: &IngressWant,
    timeout: Duration,
    progress: &dyn Fn(String),
) -> Result<String, String> {
    let deadline = tokio::time::Instant::now() + timeout;
    let wanted = match want {
        IngressWant::Presents(w) => format!("the new certificate (SHA-256 {w})"),
        IngressWant::NoLonger(_) => "Harvester's own certificate again".into(),
    };
    loop {
        let last = match presented_leaf_sha256(host, port).await {
            Ok(seen) => {
                let done = match want {
                    IngressWant::Presents(w) => seen == *w,
                    IngressWant::NoLonger(u) => seen != *u,
                };
                if done {
                    return Ok(seen);
                }
                format!("it presents SHA-256 {seen}")
            }
            Err(e) => e,
        };
        progress(format!(
            "waiting for the ingress at {host}:{port} to present {wanted} ({last})"
        ));
        if tokio::time::Instant::now() >= deadline {
            return Err(format!(
                "the ingress at {host}:{port} did not present {wanted} within {} s ({last}); check the ingress pods in kube-system and the secret cattle-system/tls-ingress",
                timeout.as_secs()
            ));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// How the ingress should answer a dial offering one TLS version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    Works,
    Refused,
    /// Not known (TLS 1.2 with ciphers, before any certificate was seen).
    Either,
}

/// What the ingress should do with TLS 1.2 and 1.3 under `served`. With
/// ciphers, TLS 1.2 works only when one of them fits the key of the
/// certificate the ingress presents (`leaf`): ECDHE-RSA suites for an RSA
/// key, ECDHE-ECDSA suites for the others.
fn expected(served: &ServedTls, leaf: Option<&[u8]>) -> [(&'static str, Expect); 2] {
    let rsa_key = leaf.and_then(|der| {
        let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
        Some(
            cert.public_key().algorithm.algorithm
                == x509_parser::oid_registry::OID_PKCS1_RSAENCRYPTION,
        )
    });
    let tls12 = match (&served.tls12, &served.tls12_suites, rsa_key) {
        (false, _, _) => Expect::Refused,
        (true, None, _) => Expect::Works,
        (true, Some(_), None) => Expect::Either,
        (true, Some(suites), Some(rsa)) => {
            let kind = if rsa { "_RSA_" } else { "_ECDSA_" };
            if suites.iter().any(|s| s.contains(kind)) {
                Expect::Works
            } else {
                Expect::Refused
            }
        }
    };
    let tls13 = if served.tls13 {
        Expect::Works
    } else {
        Expect::Refused
    };
    [("TLSv1.2", tls12), ("TLSv1.3", tls13)]
}

/// What the recovery from an ingress no client can reach is.
pub const SSL_PARAMETERS_RECOVERY: &str = "recover with `harvcred settings set ssl-parameters --value -` and an empty stdin (Harvester's documented fix: delete the value), or `harvcred settings rollback ssl-parameters`";

/// Dials `host`:`port` offering TLS 1.2 only and TLS 1.3 only until the
/// ingress answers as `served` says (it restarts with new ssl-parameters a
/// moment after `configured`) or `timeout` passes. Ok: which versions it
/// negotiates. Err when no handshake works at all (the UI and every
/// kubeconfig through the ingress are locked out), or on timeout.
pub async fn follow_ingress_protocols(
    host: &str,
    port: u16,
    served: &ServedTls,
    timeout: Duration,
    progress: &dyn Fn(String),
) -> Result<String, String> {
    let addr = resolve(host, port).await?;
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let (tls12, tls13) = tokio::join!(
            super::rotation::handshake_with(addr, Some(host), &rustls::version::TLS12),
            super::rotation::handshake_with(addr, Some(host), &rustls::version::TLS13),
        );
        let leaf = tls13.as_ref().or(tls12.as_ref()).ok().map(Vec::as_slice);
        let want = expected(served, leaf);
        let seen = [("TLSv1.2", tls12), ("TLSv1.3", tls13)];
        let as_expected = want.iter().zip(&seen).all(|((_, e), (_, r))| match e {
            Expect::Works => r.is_ok(),
            Expect::Refused => r.is_err(),
            Expect::Either => true,
        });
        let works: Vec<&str> = seen
            .iter()
            .filter(|(_, r)| r.is_ok())
            .map(|(v, _)| *v)
            .collect();
        let refused: Vec<String> = seen
            .iter()
            .filter_map(|(v, r)| r.as_ref().err().map(|e| format!("{v}: {e}")))
            .collect();
        let timed_out = tokio::time::Instant::now() >= deadline;
        if works.is_empty() && (as_expected || timed_out) {
            return Err(format!(
                "no TLS handshake with the ingress at {host}:{port} works ({}): the Harvester UI and every kubeconfig that goes through the ingress (Rancher's) are locked out; {SSL_PARAMETERS_RECOVERY}",
                refused.join("; ")
            ));
        }
        let summary = format!(
            "the ingress at {host}:{port} negotiates {}{}",
            works.join(" and "),
            if refused.is_empty() {
                String::new()
            } else {
                format!(" (refused: {})", refused.join("; "))
            }
        );
        if as_expected {
            return Ok(summary);
        }
        if timed_out {
            return Err(format!(
                "{summary}, not yet what the new ssl-parameters ask for after {} s; check the ingress pods in kube-system",
                timeout.as_secs()
            ));
        }
        progress(format!("waiting for the ingress to restart: {summary}"));
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_ingress_is_followed_until_it_presents_the_wanted_leaf() {
        let ip: std::net::IpAddr = "127.0.0.1".parse().unwrap();
        let listener = tokio::net::TcpListener::bind((ip, 0)).await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let certs = crate::lab::api::ingress::IngressCerts::new(ip).unwrap();
        let (_stop, rx) = tokio::sync::watch::channel(false);
        tokio::spawn(crate::lab::api::ingress::serve(listener, certs, rx));
        let own = presented_leaf_sha256("127.0.0.1", port).await.unwrap();
        assert_eq!(own.len(), 64);
        let quiet = |_: String| {};
        let seen = follow_ingress(
            "127.0.0.1",
            port,
            &IngressWant::Presents(own.clone()),
            Duration::from_secs(2),
            &quiet,
        )
        .await;
        assert_eq!(seen, Ok(own.clone()));
        // A certificate that never comes: not presented in time, said so.
        let e = follow_ingress(
            "127.0.0.1",
            port,
            &IngressWant::Presents("ab".repeat(32)),
            Duration::from_millis(600),
            &quiet,
        )
        .await
        .unwrap_err();
        assert!(
            e.contains("did not present the new certificate") && e.contains(&own),
            "{e}"
        );
        let e = follow_ingress(
            "127.0.0.1",
            port,
            &IngressWant::NoLonger(own.clone()),
            Duration::from_millis(600),
            &quiet,
        )
        .await
        .unwrap_err();
        assert!(e.contains("Harvester's own certificate again"), "{e}");
    }

    #[tokio::test]
    async fn the_ingress_protocols_are_followed_and_a_lockout_is_named() {
        use crate::creds::setting_values::served_tls;
        let ip: std::net::IpAddr = "127.0.0.1".parse().unwrap();
        let listener = tokio::net::TcpListener::bind((ip, 0)).await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let certs = crate::lab::api::ingress::IngressCerts::new(ip).unwrap();
        let (_stop, rx) = tokio::sync::watch::channel(false);
        tokio::spawn(crate::lab::api::ingress::serve(listener, certs.clone(), rx));
        let quiet = |_: String| {};
        let follow = |value: &'static str, wait: u64| {
            let served = served_tls(value);
            async move {
                follow_ingress_protocols(
                    "127.0.0.1",
                    port,
                    &served,
                    Duration::from_millis(wait),
                    &quiet,
                )
                .await
            }
        };
        let both = follow("", 2000).await.unwrap();
        assert!(both.contains("negotiates TLSv1.2 and TLSv1.3"), "{both}");
        // Not restarted yet: TLS 1.2 still works, so it is not what TLSv1.3 asks.
        let e = follow(r#"{"protocols":"TLSv1.3"}"#, 600).await.unwrap_err();
        assert!(
            e.contains("not yet what the new ssl-parameters ask for"),
            "{e}"
        );
        certs.apply_ssl_parameters(r#"{"protocols":"TLSv1.3"}"#);
        let only13 = follow(r#"{"protocols":"TLSv1.3"}"#, 2000).await.unwrap();
        assert!(
            only13.contains("negotiates TLSv1.3 (refused: TLSv1.2"),
            "{only13}"
        );
        // A TLS 1.2 cipher for an RSA key: the lab's ECDSA certificate has
        // no suite left for TLS 1.2.
        let rsa_only = r#"{"ciphers":"ECDHE-RSA-AES128-GCM-SHA256"}"#;
        certs.apply_ssl_parameters(rsa_only);
        let seen = follow(rsa_only, 2000).await.unwrap();
        assert!(
            seen.contains("negotiates TLSv1.3 (refused: TLSv1.2"),
            "{seen}"
        );
        certs.apply_ssl_parameters(r#"{"protocols":"TLSv1.1"}"#);
        let e = follow(r#"{"protocols":"TLSv1.1"}"#, 2000)
            .await
            .unwrap_err();
        assert!(
            e.contains("no TLS handshake with the ingress") && e.contains(SSL_PARAMETERS_RECOVERY),
            "{e}"
        );
    }

    #[test]
    fn the_hash_is_harvesters_sha224_of_the_value() {
        // sha224("") as Go's crypto/sha256.New224 gives it.
        assert_eq!(
            value_hash(""),
            "d14a028c2a3a2bc9476102bb288234c415a2b01f828ea62ac5b3e42f"
        );
        let read = |hash: &str, status, message: &str| SettingRead {
            name: "ssl-parameters".into(),
            value: Zeroizing::new(String::new()),
            default: Zeroizing::new(String::new()),
            resource_version: "1".into(),
            configured: Configured {
                status,
                reason: String::new(),
                message: message.into(),
            },
            hash: hash.into(),
        };
        let h = value_hash("{}");
        assert_eq!(
            synced_verdict(&read(&h, Some(true), ""), &h, false),
            Some(Verified::Configured)
        );
        assert_eq!(
            synced_verdict(&read("old", Some(true), ""), &h, false),
            None
        );
        let e = value_hash("");
        assert_eq!(
            synced_verdict(&read(&e, Some(false), ""), &e, true),
            Some(Verified::Configured)
        );
        assert_eq!(
            synced_verdict(&read(&e, Some(false), "boom"), &e, true),
            None
        );
    }

    #[test]
    fn patch_body_carries_the_version_and_debug_masks_the_value() {
        let s = HttpProxySetting::parse(r#"{"httpProxy":"http://u:Hunter2@p:3128"}"#).unwrap();
        let value = s.to_json();
        let body = PatchBody {
            metadata: PatchMeta {
                resource_version: "42",
            },
            value: value.as_str(),
        };
        let json: serde_json::Value = serde_json::to_value(&body).unwrap();
        assert_eq!(json["metadata"]["resourceVersion"], "42");
        assert_eq!(
            HttpProxySetting::parse(json["value"].as_str().unwrap()).unwrap(),
            s
        );
        let dbg = format!("{body:?}");
        assert!(!dbg.contains("Hunter2"), "{dbg}");
        assert!(dbg.contains("u:***@p:3128"), "{dbg}");
    }

    /// configured=False with a reason is the controller retrying: following
    /// goes on (until the timeout), and the timeout says it was retrying.
    #[test]
    fn configured_false_with_a_reason_is_retrying_not_failed() {
        let c = |status, reason: &str, message: &str| Configured {
            status,
            reason: reason.into(),
            message: message.into(),
        };
        let failing = c(Some(false), "SyncerError", "redeploying harvester: timeout");
        assert_eq!(configured_verdict(&failing, true), None);
        assert_eq!(
            configured_verdict(&c(Some(false), "Reconciling", ""), true),
            None
        );
        assert_eq!(
            configured_verdict(&c(Some(true), "", ""), true),
            Some(Verified::Configured)
        );
        // The old True, before the controller looked at the change, is not it.
        assert_eq!(configured_verdict(&c(Some(true), "", ""), false), None);
        let t = timeout_text(HTTP_PROXY, Duration::from_secs(180), &failing);
        assert!(t.contains("within 180 s"), "{t}");
        assert!(
            t.contains("still retrying (SyncerError: redeploying harvester: timeout)"),
            "{t}"
        );
    }
}
