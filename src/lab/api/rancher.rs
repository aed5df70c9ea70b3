//! The lab's Rancher: the external Rancher that manages the lab's Harvester
//! cluster, as far as Harvester's cloud credentials need it (reference
//! harvester.md section 7). Its own HTTPS listener on the lab API's address,
//! with the lab's PKI, serving:
//!
//! - `/k8s/clusters/local/...`: Rancher's local cluster, Kubernetes-style:
//!   Secrets in `cattle-global-data` (list, get, merge patch with a
//!   resourceVersion precondition), and cluster-scoped `management.cattle.io/v3`
//!   `tokens`, `clusters`, `settings` (list, get);
//! - `/k8s/clusters/<id>/...`: Rancher's proxy to the Harvester cluster
//!   `<id>`: `/version`, `/api`, `/apis` for a bearer token
//!   `<token name>:<secret>` that exists, is not expired and belongs to `<id>`;
//!   401 otherwise;
//! - `POST /v3/clusters/<id>?action=generateKubeconfig`: a new token with
//!   `kubeconfig-default-token-ttl-minutes`, answered `{"config": "..."}`.
//!
//! The operator (the `rancher` context of the lab's kubeconfig) is the lab's
//! admin: the lab's client certificate or the admin token of that context.
//! Token secrets are held in `Zeroizing` strings and never served (Rancher
//! 2.8 with token hashing serves a hash; here the field is left out [U]).

use std::collections::BTreeMap;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use anyhow::Result;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, Request, State};
use axum::http::{Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde_json::{Value, json};
use tokio::sync::watch;
use zeroize::Zeroizing;

use super::errors::ApiError;
use super::routes::json_response;
use super::server::{self, Auth};
use crate::lab::plan::{LabPlan, Scenario};

/// Where the lab's Rancher listens on the lab API's address (a real Rancher
/// is on 443, which the lab's Harvester ingress already has).
pub const RANCHER_PORT: u16 = 9443;
/// Its request log in the lab folder (same line format as the API's).
pub const REQUEST_LOG_FILE: &str = "rancher-requests.jsonl";
/// The context of the lab's kubeconfig that reaches this Rancher.
pub const CONTEXT: &str = "rancher";
/// Rancher's setting for the lifetime of generated kubeconfig tokens.
pub const TTL_SETTING: &str = "kubeconfig-default-token-ttl-minutes";
/// Rancher 2.8's default: 30 days (rancher/rancher#44912).
pub const DEFAULT_TTL_MINUTES: i64 = 43_200;
/// Where Rancher keeps cloud credentials.
pub const NAMESPACE: &str = "cattle-global-data";
/// The cloud credential the lab seeds.
pub const CREDENTIAL: &str = "cc-lab01";

const KUBECONFIG_KEY: &str = "harvestercredentialConfig-kubeconfigContent";
const CLUSTER_ID_KEY: &str = "harvestercredentialConfig-clusterId";
const CLUSTER_TYPE_KEY: &str = "harvestercredentialConfig-clusterType";
const DAY: i64 = 86_400;

/// Everything the lab's Rancher needs to start. Debug leaves out the key.
#[derive(Clone)]
pub struct RancherConfig {
    pub plan: LabPlan,
    /// `ip:port`; port 0 in tests.
    pub listen: SocketAddr,
    pub serving_cert_pem: String,
    pub serving_key_pem: String,
    /// The CA that signed the serving certificate (embedded in kubeconfigs).
    pub serving_ca_pem: String,
    pub client_ca_pem: String,
}

impl std::fmt::Debug for RancherConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RancherConfig")
            .field("plan", &self.plan.id)
            .field("listen", &self.listen)
            .finish_non_exhaustive()
    }
}

/// A token as Rancher stores it; the secret part apart from the object.
struct TokenEntry {
    object: Value,
    secret: Zeroizing<String>,
    /// Unix seconds; None = never (ttl 0).
    expires: Option<i64>,
}

struct State_ {
    rv: u64,
    secrets: BTreeMap<String, Value>,
    tokens: BTreeMap<String, TokenEntry>,
    clusters: BTreeMap<String, Value>,
    settings: BTreeMap<String, Value>,
}

struct Rancher {
    state: Mutex<State_>,
    base_url: String,
    ca_pem: String,
    cluster_id: String,
    rke2_version: &'static str,
}

/// A running lab Rancher; dropping it stops the listener.
pub struct RancherHandle {
    addr: SocketAddr,
    admin_token: Zeroizing<String>,
    cluster_id: String,
    _shutdown: watch::Sender<bool>,
}

impl std::fmt::Debug for RancherHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RancherHandle")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl RancherHandle {
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }
    /// `https://ip:port/k8s/clusters/local`: the operator's context server.
    pub fn local_url(&self) -> String {
        format!("https://{}/k8s/clusters/local", self.addr)
    }
    /// The operator's bearer token (`name:secret`), for the kubeconfig only.
    pub fn admin_token(&self) -> &str {
        &self.admin_token
    }
    /// The Harvester cluster's id in this Rancher (`c-m-...`).
    pub fn cluster_id(&self) -> &str {
        &self.cluster_id
    }
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

fn rfc3339(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

fn random_lower(n: usize) -> String {
    use rand::Rng;
    const CHARS: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut rng = rand::rng();
    (0..n)
        .map(|_| CHARS[rng.random_range(0..CHARS.len())] as char)
        .collect()
}

/// `c-m-` and 8 characters, stable for a lab (Rancher's provisioned
/// clusters are named so; an imported Harvester is `c-xxxxx` [U]).
pub fn cluster_id_for(plan_id: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in plan_id.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    let chars = b"bcdfghjklmnpqrstvwxz2456789";
    let s: String = (0..8)
        .map(|i| chars[((h >> (i * 5)) % chars.len() as u64) as usize] as char)
        .collect();
    format!("c-m-{s}")
}

/// A kubeconfig as Rancher's generateKubeconfig words it: one cluster, user
/// and context named after the cluster, a bearer token.
pub fn rancher_kubeconfig(
    server: &str,
    ca_pem: &str,
    name: &str,
    token: &str,
) -> Zeroizing<String> {
    let q = |s: &str| serde_json::to_string(s).unwrap_or_default();
    let ca = base64::engine::general_purpose::STANDARD.encode(ca_pem);
    Zeroizing::new(format!(
        "apiVersion: v1
kind: Config
clusters:
- name: {n}
  cluster:
    server: {server}
    certificate-authority-data: {ca}
users:
- name: {n}
  user:
    token: {token}
contexts:
- name: {n}
  context:
    user: {n}
    cluster: {n}
current-context: {n}
",
        n = q(name),
        server = q(server),
        ca = q(&ca),
        token = q(token),
    ))
}

impl Rancher {
    fn next_rv(st: &mut State_) -> String {
        st.rv += 1;
        st.rv.to_string()
    }

    fn ttl_minutes(st: &State_) -> i64 {
        st.settings
            .get(TTL_SETTING)
            .and_then(|s| s["value"].as_str())
            .and_then(|v| v.parse().ok())
            .unwrap_or(DEFAULT_TTL_MINUTES)
    }

    /// A new kubeconfig token for `user`, created `created` and living `ttl_minutes` (0 = never).
    fn add_token(
        st: &mut State_,
        user: &str,
        cluster: &str,
        created: i64,
        ttl_minutes: i64,
    ) -> (String, Zeroizing<String>) {
        let name = format!("kubeconfig-{user}{}", random_lower(5));
        let secret = Zeroizing::new(random_lower(54));
        let expires = (ttl_minutes > 0).then(|| created + ttl_minutes * 60);
        let rv = Self::next_rv(st);
        // Field names as Rancher's Token type has them; the label, `isDerived`
        // and `clusterName` set on a generated kubeconfig token are [U].
        let object = json!({
            "apiVersion": "management.cattle.io/v3",
            "kind": "Token",
            "metadata": {
                "name": name,
                "resourceVersion": rv,
                "creationTimestamp": rfc3339(created),
                "labels": {"authn.management.cattle.io/token-userId": user, "cattle.io/creator": "norman"},
            },
            "authProvider": "local",
            "userId": user,
            "clusterName": cluster,
            "isDerived": true,
            "current": false,
            "description": "Kubeconfig token",
            "ttl": ttl_minutes * 60_000,
            "expiresAt": expires.map(rfc3339).unwrap_or_default(),
            "expired": expires.is_some_and(|e| e <= now()),
            "enabled": true,
        });
        let full = Zeroizing::new(format!("{name}:{}", secret.as_str()));
        st.tokens.insert(
            name.clone(),
            TokenEntry {
                object,
                secret,
                expires,
            },
        );
        (name, full)
    }

    fn cluster_kubeconfig(&self, token: &str) -> Zeroizing<String> {
        let server = format!("{}/k8s/clusters/{}", self.base_url, self.cluster_id);
        let name = self
            .cluster_display_name()
            .unwrap_or_else(|| self.cluster_id.clone());
        rancher_kubeconfig(&server, &self.ca_pem, &name, token)
    }

    fn cluster_display_name(&self) -> Option<String> {
        let st = self.state.lock().ok()?;
        st.clusters
            .get(&self.cluster_id)
            .and_then(|c| c["spec"]["displayName"].as_str())
            .map(str::to_string)
    }

    /// Does `bearer` (`name:secret`) authenticate for cluster `id` now?
    fn token_valid(&self, bearer: &str, id: &str) -> bool {
        let Some((name, secret)) = bearer.split_once(':') else {
            return false;
        };
        let Ok(st) = self.state.lock() else {
            return false;
        };
        st.tokens.get(name).is_some_and(|t| {
            let same = t.secret.len() == secret.len()
                && t.secret
                    .bytes()
                    .zip(secret.bytes())
                    .fold(0u8, |a, (x, y)| a | (x ^ y))
                    == 0;
            let cluster = t.object["clusterName"].as_str().unwrap_or("");
            same && t.expires.is_none_or(|e| e > now()) && (cluster.is_empty() || cluster == id)
        })
    }
}

/// Bind and serve; returns once listening.
pub async fn serve(cfg: RancherConfig) -> Result<RancherHandle> {
    let (listener, tls, addr) = server::bind_tls(
        &cfg.serving_cert_pem,
        &cfg.serving_key_pem,
        &cfg.client_ca_pem,
        cfg.listen,
        "the lab's Rancher",
    )
    .await?;
    let cluster_id = cluster_id_for(&cfg.plan.id);
    let rancher = Arc::new(Rancher {
        state: Mutex::new(State_ {
            rv: 1000,
            secrets: BTreeMap::new(),
            tokens: BTreeMap::new(),
            clusters: BTreeMap::new(),
            settings: BTreeMap::new(),
        }),
        base_url: format!("https://{addr}"),
        ca_pem: cfg.serving_ca_pem.clone(),
        cluster_id: cluster_id.clone(),
        rke2_version: cfg.plan.rke2_version(),
    });
    let admin_token = seed(&rancher, &cfg.plan);
    let (tx, rx) = watch::channel(false);
    let router = Router::new().fallback(handle).with_state(rancher);
    tokio::spawn(server::accept_loop(
        listener,
        tls,
        router,
        server::Token::new(&admin_token),
        server::RequestLog::open(&cfg.plan.dir.join(REQUEST_LOG_FILE)),
        // The rules of `lab fault` hit the Rancher's requests too (matched
        // by path, counted apart from the Harvester API's).
        Arc::new(super::faults::Faults::in_dir(&cfg.plan.dir)),
        rx,
    ));
    tracing::info!(%addr, "lab Rancher listening");
    Ok(RancherHandle {
        addr,
        admin_token,
        cluster_id,
        _shutdown: tx,
    })
}

/// The setting, the Harvester cluster, the admin's token and one Harvester
/// cloud credential whose token expires as the scenario says. Returns the
/// admin's bearer token.
fn seed(r: &Rancher, plan: &LabPlan) -> Zeroizing<String> {
    let t = now();
    let (admin, credential_token) = {
        let mut st = r.state.lock().expect("fresh lock");
        let rv = Rancher::next_rv(&mut st);
        st.settings.insert(
            TTL_SETTING.into(),
            json!({
                "apiVersion": "management.cattle.io/v3",
                "kind": "Setting",
                "metadata": {"name": TTL_SETTING, "resourceVersion": rv},
                "value": DEFAULT_TTL_MINUTES.to_string(),
                "default": "0",
                "source": "",
            }),
        );
        let rv = Rancher::next_rv(&mut st);
        st.clusters.insert(
            r.cluster_id.clone(),
            json!({
                "apiVersion": "management.cattle.io/v3",
                "kind": "Cluster",
                "metadata": {
                    "name": r.cluster_id,
                    "resourceVersion": rv,
                    "labels": {"provider.cattle.io": "harvester"},
                },
                "spec": {"displayName": format!("harvester-{}", plan.id)},
                "status": {"provider": "harvester", "driver": "imported"},
            }),
        );
        let (_, admin) = Rancher::add_token(&mut st, "user-admin0", "", t - 90 * DAY, 0);
        // The credential's token was made so long ago that it has the
        // scenario's time left, with Rancher 2.8's 30 days.
        let left = if plan.has(Scenario::CloudcredExpired) {
            -2 * DAY
        } else if plan.has(Scenario::CloudcredExpiring) {
            5 * DAY
        } else {
            30 * DAY
        };
        let created = t + left - DEFAULT_TTL_MINUTES * 60;
        let cluster = r.cluster_id.clone();
        let (_, tok) = Rancher::add_token(
            &mut st,
            "user-h8x2k",
            &cluster,
            created,
            DEFAULT_TTL_MINUTES,
        );
        (admin, tok)
    };
    let kc = r.cluster_kubeconfig(&credential_token);
    let mut st = r.state.lock().expect("fresh lock");
    let rv = Rancher::next_rv(&mut st);
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let secret = json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": {
            "name": CREDENTIAL,
            "namespace": NAMESPACE,
            "resourceVersion": rv,
            "creationTimestamp": rfc3339(t - 30 * DAY),
            "labels": {"cattle.io/creator": "norman"},
            // The display name and creator annotations as Rancher's UI writes
            // them; `provisioning.cattle.io/driver` is [U].
            "annotations": {
                "field.cattle.io/name": format!("harvester-{}", plan.id),
                "field.cattle.io/creatorId": "user-h8x2k",
                "provisioning.cattle.io/driver": "harvester",
            },
        },
        "data": {
            KUBECONFIG_KEY: b64(&kc),
            CLUSTER_ID_KEY: b64(&r.cluster_id),
            CLUSTER_TYPE_KEY: b64("imported"),
        },
    });
    st.secrets.insert(CREDENTIAL.into(), secret);
    admin
}

fn bearer(headers: &axum::http::HeaderMap) -> Option<Zeroizing<String>> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| Zeroizing::new(token.trim().to_string()))
}

async fn handle(State(r): State<Arc<Rancher>>, req: Request) -> Response {
    let auth = req
        .extensions()
        .get::<Auth>()
        .copied()
        .unwrap_or(Auth::Anonymous);
    let operator = matches!(auth, Auth::ClientCert | Auth::BearerToken);
    let token = bearer(req.headers());
    let (parts, body) = req.into_parts();
    let body = match axum::body::to_bytes(body, server::MAX_BODY).await {
        Ok(b) => b,
        Err(_) => {
            return ApiError::new(413, "RequestEntityTooLarge", "request entity too large")
                .into_response();
        }
    };
    let query: HashMap<String, String> = Query::try_from_uri(&parts.uri)
        .map(|Query(q)| q)
        .unwrap_or_default();
    let segs: Vec<&str> = parts
        .uri
        .path()
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    let result = match segs.as_slice() {
        ["k8s", "clusters", "local", rest @ ..] if operator => {
            let dry_run = query.get("dryRun").map(String::as_str) == Some("All");
            local(&r, &parts.method, rest, &body, dry_run)
        }
        ["k8s", "clusters", id, rest @ ..] if *id != "local" => {
            if token.as_deref().is_some_and(|t| r.token_valid(t, id)) {
                downstream(&r, &parts.method, id, rest)
            } else {
                Err(ApiError::unauthorized())
            }
        }
        ["v3", "clusters", id]
            if operator
                && parts.method == Method::POST
                && query.get("action").map(String::as_str) == Some("generateKubeconfig") =>
        {
            generate(&r, id)
        }
        _ if !operator => Err(ApiError::unauthorized()),
        _ => Err(ApiError::path_not_found()),
    };
    result.unwrap_or_else(IntoResponse::into_response)
}

fn ok(v: Value) -> Result<Response, ApiError> {
    Ok(json_response(StatusCode::OK, &v))
}

fn not_found(resource: &str, name: &str) -> ApiError {
    ApiError::new(404, "NotFound", format!("{resource} \"{name}\" not found"))
}

fn list_of(kind: &str, api_version: &str, rv: u64, items: Vec<Value>) -> Value {
    json!({
        "apiVersion": api_version,
        "kind": format!("{kind}List"),
        "metadata": {"resourceVersion": rv.to_string()},
        "items": items,
    })
}

/// Rancher's local cluster: what the cloud credentials need of it.
fn local(
    r: &Rancher,
    method: &Method,
    rest: &[&str],
    body: &Bytes,
    dry_run: bool,
) -> Result<Response, ApiError> {
    let mut st = r
        .state
        .lock()
        .map_err(|_| ApiError::new(500, "InternalError", "state lock"))?;
    let get = *method == Method::GET;
    match rest {
        ["version"] if get => ok(super::discovery::version(r.rke2_version)),
        // Discovery, so that kubectl works with the `rancher` context.
        ["api"] if get => ok(super::discovery::core_versions(&r.base_url)),
        ["api", "v1"] if get => ok(json!({
            "kind": "APIResourceList", "apiVersion": "v1", "groupVersion": "v1",
            "resources": [{"name": "secrets", "singularName": "secret", "namespaced": true,
                "kind": "Secret", "verbs": ["get", "list", "patch"]}],
        })),
        ["apis"] if get => ok(json!({
            "kind": "APIGroupList", "apiVersion": "v1",
            "groups": [{"name": "management.cattle.io",
                "versions": [{"groupVersion": "management.cattle.io/v3", "version": "v3"}],
                "preferredVersion": {"groupVersion": "management.cattle.io/v3", "version": "v3"}}],
        })),
        ["apis", "management.cattle.io", "v3"] if get => {
            let res = |name: &str, kind: &str| {
                json!({"name": name, "singularName": kind.to_lowercase(),
                "namespaced": false, "kind": kind, "verbs": ["get", "list"]})
            };
            ok(json!({
                "kind": "APIResourceList", "apiVersion": "v1", "groupVersion": "management.cattle.io/v3",
                "resources": [res("tokens", "Token"), res("clusters", "Cluster"), res("settings", "Setting")],
            }))
        }
        ["api", "v1", "namespaces", ns, "secrets"] if get => {
            let items = if *ns == NAMESPACE {
                st.secrets.values().cloned().collect()
            } else {
                Vec::new()
            };
            ok(list_of("Secret", "v1", st.rv, items))
        }
        ["api", "v1", "namespaces", ns, "secrets", name] if *ns == NAMESPACE => {
            let Some(current) = st.secrets.get(*name).cloned() else {
                return Err(not_found("secrets", name));
            };
            if get {
                return ok(current);
            }
            if *method != Method::PATCH {
                return Err(ApiError::new(
                    405,
                    "MethodNotAllowed",
                    "the server does not allow this method on the requested resource",
                ));
            }
            let patch: Value = serde_json::from_slice(body).map_err(|e| {
                ApiError::bad_request(format!(
                    "the body of the request was in an unknown format: {e}"
                ))
            })?;
            if let Some(rv) = patch["metadata"]["resourceVersion"].as_str()
                && Some(rv) != current["metadata"]["resourceVersion"].as_str()
            {
                return Err(ApiError::new(
                    409,
                    "Conflict",
                    format!(
                        "Operation cannot be fulfilled on secrets \"{name}\": the object has been modified; please apply your changes to the latest version and try again"
                    ),
                ));
            }
            let mut new = current;
            json_patch::merge(&mut new, &patch);
            if dry_run {
                return ok(new);
            }
            new["metadata"]["resourceVersion"] = json!(Rancher::next_rv(&mut st));
            st.secrets.insert((*name).to_string(), new.clone());
            ok(new)
        }
        ["apis", "management.cattle.io", "v3", res] if get => {
            let (kind, items): (&str, Vec<Value>) = match *res {
                "tokens" => ("Token", st.tokens.values().map(token_view).collect()),
                "clusters" => ("Cluster", st.clusters.values().cloned().collect()),
                "settings" => ("Setting", st.settings.values().cloned().collect()),
                _ => return Err(ApiError::path_not_found()),
            };
            ok(list_of(kind, "management.cattle.io/v3", st.rv, items))
        }
        ["apis", "management.cattle.io", "v3", res, name] if get => {
            let found = match *res {
                "tokens" => st.tokens.get(*name).map(token_view),
                "clusters" => st.clusters.get(*name).cloned(),
                "settings" => st.settings.get(*name).cloned(),
                _ => return Err(ApiError::path_not_found()),
            };
            found
                .map(ok)
                .unwrap_or_else(|| Err(not_found(&format!("{res}.management.cattle.io"), name)))
        }
        _ => Err(ApiError::path_not_found()),
    }
}

/// A token as served: `expired` as of now, never the secret.
fn token_view(t: &TokenEntry) -> Value {
    let mut v = t.object.clone();
    v["expired"] = json!(t.expires.is_some_and(|e| e <= now()));
    v
}

/// What Rancher's proxy answers for the Harvester cluster (the lab answers
/// discovery itself rather than forwarding).
fn downstream(r: &Rancher, method: &Method, id: &str, rest: &[&str]) -> Result<Response, ApiError> {
    if *method != Method::GET {
        return Err(ApiError::new(
            405,
            "MethodNotAllowed",
            "the lab's Rancher proxy only reads",
        ));
    }
    if id != r.cluster_id {
        return Err(ApiError::new(
            404,
            "NotFound",
            format!("clusters.management.cattle.io \"{id}\" not found"),
        ));
    }
    match rest {
        ["version"] => ok(super::discovery::version(r.rke2_version)),
        ["api"] => ok(super::discovery::core_versions(&r.base_url)),
        ["apis"] => ok(super::discovery::group_list()),
        _ => Err(ApiError::path_not_found()),
    }
}

/// `generateKubeconfig`: a new token for the admin, with the TTL setting.
fn generate(r: &Rancher, id: &str) -> Result<Response, ApiError> {
    if id != r.cluster_id {
        return Err(not_found("clusters.management.cattle.io", id));
    }
    let token = {
        let mut st = r
            .state
            .lock()
            .map_err(|_| ApiError::new(500, "InternalError", "state lock"))?;
        let ttl = Rancher::ttl_minutes(&st);
        Rancher::add_token(&mut st, "user-admin0", id, now(), ttl).1
    };
    let config = r.cluster_kubeconfig(&token);
    // `type` as Norman names action outputs [U]; clients read `config`.
    let body = json!({"type": "generateKubeconfigOutput", "config": config.as_str()});
    Ok(json_response(StatusCode::OK, &body))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rancher() -> Rancher {
        Rancher {
            state: Mutex::new(State_ {
                rv: 1,
                secrets: BTreeMap::new(),
                tokens: BTreeMap::new(),
                clusters: BTreeMap::new(),
                settings: BTreeMap::new(),
            }),
            base_url: "https://10.0.0.1:9443".into(),
            ca_pem: "CA".into(),
            cluster_id: "c-m-1".into(),
            rke2_version: "v1.33.1+rke2r1",
        }
    }

    #[test]
    fn the_proxy_takes_a_live_token_of_its_cluster_only_and_never_serves_the_secret() {
        let r = rancher();
        let (live, expired, other, never) = {
            let mut st = r.state.lock().unwrap();
            let t = now();
            (
                Rancher::add_token(&mut st, "user-a", "c-m-1", t, 60).1,
                Rancher::add_token(&mut st, "user-a", "c-m-1", t - 7200, 60).1,
                Rancher::add_token(&mut st, "user-a", "c-m-2", t, 60).1,
                Rancher::add_token(&mut st, "user-a", "", t - 999_999, 0).1,
            )
        };
        assert!(r.token_valid(&live, "c-m-1"));
        assert!(!r.token_valid(&live, "c-m-2"));
        assert!(!r.token_valid(&expired, "c-m-1"));
        assert!(!r.token_valid(&other, "c-m-1"));
        assert!(r.token_valid(&never, "c-m-1"));
        let (name, secret) = live.split_once(':').unwrap();
        assert!(!r.token_valid(&format!("{name}:{}", "x".repeat(secret.len())), "c-m-1"));
        assert!(!r.token_valid(name, "c-m-1"));
        let st = r.state.lock().unwrap();
        let served: Vec<Value> = st.tokens.values().map(token_view).collect();
        let text = serde_json::to_string(&served).unwrap();
        assert!(!text.contains(secret), "{text}");
        let expired_name = expired.split_once(':').unwrap().0;
        assert_eq!(token_view(&st.tokens[expired_name])["expired"], true);
        assert_eq!(token_view(&st.tokens[name])["ttl"], 3_600_000);
    }

    #[test]
    fn cluster_ids_are_stable_and_shaped_like_ranchers() {
        let a = cluster_id_for("ab12");
        assert_eq!(a, cluster_id_for("ab12"));
        assert_ne!(a, cluster_id_for("ab13"));
        assert!(a.starts_with("c-m-") && a.len() == 12, "{a}");
    }

    #[test]
    fn generated_kubeconfig_parses_with_the_token_and_the_proxy_path() {
        let kc = rancher_kubeconfig(
            "https://10.0.0.1:9443/k8s/clusters/c-m-x",
            "CA",
            "hc \"1\"",
            "kubeconfig-user-a:b",
        );
        let k = kube::config::Kubeconfig::from_yaml(&kc).unwrap();
        assert_eq!(k.current_context.as_deref(), Some("hc \"1\""));
        let c = k.clusters[0].cluster.as_ref().unwrap();
        assert_eq!(
            c.server.as_deref(),
            Some("https://10.0.0.1:9443/k8s/clusters/c-m-x")
        );
    }
}
