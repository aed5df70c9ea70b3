//! The Rancher side of Harvester cloud credentials, through the operator's
//! Rancher context (a kubeconfig context whose server is Rancher's
//! `/k8s/clusters/local` proxy, or Rancher's local cluster itself): the
//! credentials, their tokens, the clusters' display names, the TTL setting,
//! `generateKubeconfig`, the patch of a credential, and whether a kubeconfig
//! authenticates. Kubeconfig text and tokens stay in `Zeroizing` buffers.

use std::time::Duration;

use kube::Client;
use serde_json::{Value, json};
use zeroize::Zeroizing;

use super::{KubeSettings, classify};
use crate::creds::cloudcred::{
    self, CloudCredential, KUBECONFIG_KEY, NAMESPACE, TTL_SETTING, TokenLookup,
};
use crate::model::{ApiProblem, ApiProblemKind};

/// A connection to the operator's Rancher.
pub struct Rancher {
    pub client: Client,
    /// Rancher's own address (`https://host:port`), for its `/v3` API.
    base: Client,
    pub context: String,
    pub server: String,
}

impl std::fmt::Debug for Rancher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rancher")
            .field("context", &self.context)
            .field("server", &self.server)
            .finish_non_exhaustive()
    }
}

pub async fn connect(s: &KubeSettings) -> Result<Rancher, ApiProblem> {
    let (config, context) = super::client_config(s).await?;
    let server = config.cluster_url.to_string();
    let mut base_config = config.clone();
    // Rancher's /v3 API is at its root, not under the /k8s/clusters proxy.
    base_config.cluster_url = cloudcred::origin_of(server.trim_end_matches('/'))
        .parse()
        .map_err(|_| ApiProblem {
            kind: ApiProblemKind::Config,
            detail: format!("{server} is not a URL"),
        })?;
    let client = Client::try_from(config).map_err(|e| classify(&e))?;
    let base = Client::try_from(base_config).map_err(|e| classify(&e))?;
    Ok(Rancher {
        client,
        base,
        context,
        server,
    })
}

fn get(path: &str) -> http::Request<Vec<u8>> {
    http::Request::get(path)
        .body(Vec::new())
        .expect("a static request")
}

async fn get_json(client: &Client, path: &str) -> Result<Value, kube::Error> {
    client.request::<Value>(get(path)).await
}

fn is_not_found(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 404)
}

/// A credential with what Rancher says about its cluster and its token.
#[derive(Debug)]
pub struct CredentialRow {
    pub cred: CloudCredential,
    /// The cluster's display name (`spec.displayName`), when Rancher has it.
    pub cluster_name: Option<String>,
    pub token: TokenLookup,
}

/// Every Harvester cloud credential of a Rancher.
#[derive(Debug)]
pub struct Inventory {
    /// `kubeconfig-default-token-ttl-minutes`, or why it could not be read.
    pub ttl_minutes: Result<String, String>,
    pub rows: Vec<CredentialRow>,
}

/// Reads the credentials (a failing list is the whole answer's failure),
/// then per credential its cluster and token.
pub async fn read(r: &Rancher) -> Result<Inventory, ApiProblem> {
    let list = get_json(
        &r.client,
        &format!("/api/v1/namespaces/{NAMESPACE}/secrets"),
    )
    .await
    .map_err(|e| classify(&e))?;
    let mut rows = Vec::new();
    for item in list["items"].as_array().into_iter().flatten() {
        let Some(cred) = cloudcred::from_secret(item) else {
            continue;
        };
        let cluster_name = match &cred.cluster_id {
            Some(id) => cluster_display_name(r, id).await,
            None => None,
        };
        let token = match cred
            .kubeconfig
            .as_ref()
            .ok()
            .and_then(|k| k.token_name.clone())
        {
            Some(name) => token(r, &name).await,
            None => TokenLookup::Unreadable("the kubeconfig names no Rancher token".into()),
        };
        rows.push(CredentialRow {
            cred,
            cluster_name,
            token,
        });
    }
    rows.sort_by(|a, b| a.cred.name.cmp(&b.cred.name));
    let ttl_minutes = get_json(
        &r.client,
        &format!("/apis/management.cattle.io/v3/settings/{TTL_SETTING}"),
    )
    .await
    .map(|s| {
        // An empty value means Rancher's default is in force.
        match s["value"].as_str().filter(|v| !v.is_empty()) {
            Some(v) => v.to_string(),
            None => s["default"].as_str().unwrap_or("").to_string(),
        }
    })
    .map_err(|e| classify(&e).detail);
    Ok(Inventory { ttl_minutes, rows })
}

/// A cluster's display name (`spec.displayName`), when Rancher has it.
pub async fn cluster_display_name(r: &Rancher, id: &str) -> Option<String> {
    let c = get_json(
        &r.client,
        &format!("/apis/management.cattle.io/v3/clusters/{id}"),
    )
    .await
    .ok()?;
    c["spec"]["displayName"].as_str().map(str::to_string)
}

/// The Rancher token named `name`.
pub async fn token(r: &Rancher, name: &str) -> TokenLookup {
    match get_json(
        &r.client,
        &format!("/apis/management.cattle.io/v3/tokens/{name}"),
    )
    .await
    {
        Ok(v) => TokenLookup::Found(cloudcred::token_info(&v)),
        Err(e) if is_not_found(&e) => TokenLookup::Missing,
        Err(e) => TokenLookup::Unreadable(classify(&e).detail),
    }
}

/// One credential by name (None: no such Harvester credential).
pub async fn credential(r: &Rancher, name: &str) -> Result<Option<CloudCredential>, ApiProblem> {
    Ok(read_secret(r, name)
        .await?
        .and_then(|v| cloudcred::from_secret(&v)))
}

/// How long one request to Rancher may go unanswered before harvcred says so.
pub const TIMEOUT: Duration = Duration::from_secs(15);

/// The credential's secret (None: there is none), within [`TIMEOUT`].
async fn read_secret(r: &Rancher, name: &str) -> Result<Option<Value>, ApiProblem> {
    let path = format!("/api/v1/namespaces/{NAMESPACE}/secrets/{name}");
    match tokio::time::timeout(TIMEOUT, get_json(&r.client, &path)).await {
        Ok(Ok(v)) => Ok(Some(v)),
        Ok(Err(e)) if is_not_found(&e) => Ok(None),
        Ok(Err(e)) => Err(classify(&e)),
        Err(_) => Err(ApiProblem {
            kind: ApiProblemKind::Timeout,
            detail: format!("reading secret {NAMESPACE}/{name}: no answer within 15 s"),
        }),
    }
}

/// The kubeconfig text a credential stores now (None: no such credential).
pub async fn stored_kubeconfig(
    r: &Rancher,
    name: &str,
) -> Result<Option<Zeroizing<String>>, ApiProblem> {
    Ok(read_secret(r, name)
        .await?
        .and_then(|v| cloudcred::kubeconfig_text(&v)))
}

/// `POST /v3/clusters/<id>?action=generateKubeconfig`: a kubeconfig with a
/// new token for the operator, living `kubeconfig-default-token-ttl-minutes`.
pub async fn generate_kubeconfig(
    r: &Rancher,
    cluster_id: &str,
) -> Result<Zeroizing<String>, ApiProblem> {
    #[derive(serde::Deserialize)]
    struct Output {
        config: String,
    }
    let req = http::Request::post(format!(
        "/v3/clusters/{cluster_id}?action=generateKubeconfig"
    ))
    .header(http::header::CONTENT_TYPE, "application/json")
    .body(b"{}".to_vec())
    .expect("a static request");
    let answer = match tokio::time::timeout(TIMEOUT, r.base.request_text(req)).await {
        Ok(answer) => answer.map_err(|e| classify(&e))?,
        // Rancher may have made the token all the same: it expires by itself.
        Err(_) => {
            return Err(ApiProblem {
                kind: ApiProblemKind::Timeout,
                detail: "generateKubeconfig: no answer within 15 s (a token Rancher made meanwhile is never used and expires by itself)".into(),
            });
        }
    };
    let text = Zeroizing::new(answer);
    let out: Output = serde_json::from_str(&text).map_err(|_| ApiProblem {
        kind: ApiProblemKind::Other,
        detail: "Rancher's generateKubeconfig answer holds no config".into(),
    })?;
    Ok(Zeroizing::new(out.config))
}

/// Why a patch of a credential did not go through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PatchFailure {
    /// 409: the credential was changed by someone else since it was read.
    Conflict,
    /// Refused by the API (another 4xx): its words.
    Denied(String),
    /// A 5xx, no answer or no connection: it may have landed all the same.
    Failed(String),
}

/// Merge-patches the credential's kubeconfig, conditioned on the
/// resourceVersion read; `dry_run` asks the server to only check it.
pub async fn patch_kubeconfig(
    r: &Rancher,
    name: &str,
    resource_version: &str,
    kubeconfig: &str,
    dry_run: bool,
) -> Result<(), PatchFailure> {
    use base64::Engine;
    let encoded = Zeroizing::new(base64::engine::general_purpose::STANDARD.encode(kubeconfig));
    let body = Zeroizing::new(
        json!({
            "metadata": {"resourceVersion": resource_version},
            "data": {KUBECONFIG_KEY: encoded.as_str()},
        })
        .to_string(),
    );
    let dry = if dry_run { "&dryRun=All" } else { "" };
    // The request takes its own copy; hyper drops it after sending.
    let req = http::Request::patch(format!(
        "/api/v1/namespaces/{NAMESPACE}/secrets/{name}?fieldManager=harvcred{dry}"
    ))
    .header(http::header::CONTENT_TYPE, "application/merge-patch+json")
    .body(body.as_bytes().to_vec())
    .expect("a static request");
    match tokio::time::timeout(TIMEOUT, r.client.request::<Value>(req)).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(kube::Error::Api(s))) if s.code == 409 => Err(PatchFailure::Conflict),
        Ok(Err(kube::Error::Api(s))) if (400..500).contains(&s.code) => {
            Err(PatchFailure::Denied(classify(&kube::Error::Api(s)).detail))
        }
        Ok(Err(e)) => Err(PatchFailure::Failed(format!(
            "patching secret {NAMESPACE}/{name}: {}",
            classify(&e).detail
        ))),
        Err(_) => Err(PatchFailure::Failed(format!(
            "patching secret {NAMESPACE}/{name}: no answer within 15 s"
        ))),
    }
}

/// Does `kubeconfig` reach its cluster and authenticate? The server's
/// version on success.
pub async fn authenticates(kubeconfig: &str) -> Result<String, ApiProblem> {
    let kc = kube::config::Kubeconfig::from_yaml(kubeconfig).map_err(|_| ApiProblem {
        kind: ApiProblemKind::Config,
        detail: "the kubeconfig does not parse".into(),
    })?;
    let mut config =
        kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
            .await
            .map_err(|e| ApiProblem {
                kind: ApiProblemKind::Config,
                detail: super::chain_text(&e),
            })?;
    config.connect_timeout = Some(Duration::from_secs(5));
    config.read_timeout = Some(Duration::from_secs(15));
    let client = Client::try_from(config).map_err(|e| classify(&e))?;
    let v = client.apiserver_version().await.map_err(|e| classify(&e))?;
    Ok(v.git_version)
}
