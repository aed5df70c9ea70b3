//! Harvester cloud credentials in Rancher (reference harvester.md section 7):
//! secrets in `cattle-global-data` holding a kubeconfig for the Harvester
//! cluster whose bearer token is a Rancher token `<name>:<secret>`. This
//! module reads them, the Rancher token objects they name, and judges when
//! they expire. The token's secret part stays inside [`EmbeddedKubeconfig`]
//! (zeroised, never in Debug); everything else here carries only the name.

use serde::Serialize;
use serde_json::Value;
use zeroize::Zeroizing;

use super::level::{Level, Thresholds};

/// Where Rancher keeps cloud credentials.
pub const NAMESPACE: &str = "cattle-global-data";
/// The data keys of a Harvester cloud credential (rancher/rancher#47491).
pub const KUBECONFIG_KEY: &str = "harvestercredentialConfig-kubeconfigContent";
pub const CLUSTER_ID_KEY: &str = "harvestercredentialConfig-clusterId";
pub const CLUSTER_TYPE_KEY: &str = "harvestercredentialConfig-clusterType";
/// Rancher's lifetime of generated kubeconfig tokens (minutes; 0 = never).
pub const TTL_SETTING: &str = "kubeconfig-default-token-ttl-minutes";
/// The display name Rancher's UI gives a cloud credential.
pub const DISPLAY_NAME_ANNOTATION: &str = "field.cattle.io/name";
pub const CREATOR_ANNOTATION: &str = "field.cattle.io/creatorId";

/// The part of an embedded kubeconfig harvcred needs. Debug shows no token.
pub struct EmbeddedKubeconfig {
    /// The current context's cluster server URL.
    pub server: String,
    /// The Rancher token's name: what comes before `:` in the bearer token.
    pub token_name: Option<String>,
    token: Zeroizing<String>,
}

impl std::fmt::Debug for EmbeddedKubeconfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedKubeconfig")
            .field("server", &self.server)
            .field("token_name", &self.token_name)
            .finish_non_exhaustive()
    }
}

impl EmbeddedKubeconfig {
    /// The whole bearer token: only for comparing and for output filters.
    pub fn token(&self) -> &str {
        &self.token
    }

    /// The Harvester cluster id of Rancher's proxy path `/k8s/clusters/<id>`.
    pub fn cluster_id(&self) -> Option<&str> {
        cluster_id_of_server(&self.server)
    }

    /// `https://host:port` of the server URL.
    pub fn origin(&self) -> &str {
        origin_of(&self.server)
    }
}

/// `https://host:port` of a URL (everything before the path).
pub fn origin_of(url: &str) -> &str {
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    match url[after_scheme..].find('/') {
        Some(i) => &url[..after_scheme + i],
        None => url,
    }
}

/// `<id>` of a server URL ending in `/k8s/clusters/<id>`.
pub fn cluster_id_of_server(server: &str) -> Option<&str> {
    let path = &server[origin_of(server).len()..];
    let rest = path.trim_end_matches('/').strip_prefix("/k8s/clusters/")?;
    (!rest.is_empty() && !rest.contains('/')).then_some(rest)
}

/// Reads a kubeconfig's current context (or its only one): server and bearer
/// token. Errors never quote the text.
pub fn parse_kubeconfig(text: &str) -> Result<EmbeddedKubeconfig, String> {
    let kc = kube::config::Kubeconfig::from_yaml(text)
        .map_err(|_| "the kubeconfig does not parse as YAML".to_string())?;
    let context = match &kc.current_context {
        Some(c) => kc.contexts.iter().find(|x| &x.name == c),
        None if kc.contexts.len() == 1 => kc.contexts.first(),
        None => None,
    }
    .and_then(|c| c.context.as_ref())
    .ok_or("the kubeconfig has no current context")?;
    let server = kc
        .clusters
        .iter()
        .find(|c| c.name == context.cluster)
        .and_then(|c| c.cluster.as_ref())
        .and_then(|c| c.server.clone())
        .ok_or("the kubeconfig's context names no cluster with a server")?;
    let user = context.user.as_deref().unwrap_or("");
    let token = kc
        .auth_infos
        .iter()
        .find(|a| a.name == user)
        .and_then(|a| a.auth_info.as_ref())
        .and_then(|a| a.token.as_ref())
        .map(|t| Zeroizing::new(secrecy::ExposeSecret::expose_secret(t).to_string()))
        .ok_or("the kubeconfig's user has no token")?;
    let token_name = token
        .split_once(':')
        .map(|(n, _)| n.to_string())
        .filter(|n| !n.is_empty());
    Ok(EmbeddedKubeconfig {
        server,
        token_name,
        token,
    })
}

/// A Harvester cloud credential as read from its secret.
#[derive(Debug)]
pub struct CloudCredential {
    pub name: String,
    pub display_name: Option<String>,
    pub creator: Option<String>,
    pub cluster_id: Option<String>,
    pub cluster_type: Option<String>,
    pub resource_version: Option<String>,
    /// The embedded kubeconfig, or why it cannot be read.
    pub kubeconfig: Result<EmbeddedKubeconfig, String>,
}

fn decoded(data: &Value, key: &str) -> Option<Zeroizing<String>> {
    use base64::Engine;
    let b = base64::engine::general_purpose::STANDARD
        .decode(data.get(key)?.as_str()?)
        .ok()?;
    String::from_utf8(b).ok().map(Zeroizing::new)
}

/// The kubeconfig text a credential secret (as JSON) holds.
pub fn kubeconfig_text(secret: &Value) -> Option<Zeroizing<String>> {
    decoded(&secret["data"], KUBECONFIG_KEY)
}

/// A secret (as JSON) that is a Harvester cloud credential; None for any
/// other secret of `cattle-global-data`.
pub fn from_secret(secret: &Value) -> Option<CloudCredential> {
    let data = &secret["data"];
    data.get(KUBECONFIG_KEY)?;
    let meta = &secret["metadata"];
    let annotation = |k: &str| meta["annotations"][k].as_str().map(str::to_string);
    let plain = |k: &str| decoded(data, k).map(|s| s.trim().to_string());
    Some(CloudCredential {
        name: meta["name"].as_str().unwrap_or("").to_string(),
        display_name: annotation(DISPLAY_NAME_ANNOTATION),
        creator: annotation(CREATOR_ANNOTATION),
        cluster_id: plain(CLUSTER_ID_KEY),
        cluster_type: plain(CLUSTER_TYPE_KEY),
        resource_version: meta["resourceVersion"].as_str().map(str::to_string),
        kubeconfig: decoded(data, KUBECONFIG_KEY)
            .ok_or_else(|| format!("{KUBECONFIG_KEY} is not base64 of UTF-8 text"))
            .and_then(|k| parse_kubeconfig(&k)),
    })
}

/// A Rancher token object (`tokens.management.cattle.io`), without its secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TokenInfo {
    pub name: String,
    /// Unix seconds; None when the token never expires (ttl 0).
    #[serde(skip)]
    pub expires_at: Option<i64>,
    /// `expiresAt` as Rancher wrote it; empty for never.
    #[serde(rename = "expiresAt")]
    pub expires_at_text: String,
    pub expired: bool,
    /// Milliseconds; 0 = never.
    pub ttl: i64,
    #[serde(rename = "userId")]
    pub user_id: String,
    #[serde(rename = "clusterName")]
    pub cluster_name: String,
}

pub fn token_info(obj: &Value) -> TokenInfo {
    let text = obj["expiresAt"].as_str().unwrap_or("").to_string();
    let expires_at =
        time::OffsetDateTime::parse(&text, &time::format_description::well_known::Rfc3339)
            .ok()
            .map(|t| t.unix_timestamp());
    TokenInfo {
        name: obj["metadata"]["name"].as_str().unwrap_or("").to_string(),
        expires_at,
        expires_at_text: text,
        expired: obj["expired"].as_bool().unwrap_or(false),
        ttl: obj["ttl"].as_i64().unwrap_or(0),
        user_id: obj["userId"].as_str().unwrap_or("").to_string(),
        cluster_name: obj["clusterName"].as_str().unwrap_or("").to_string(),
    }
}

/// What became of looking up a credential's token in Rancher.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenLookup {
    Found(TokenInfo),
    /// Rancher has no token of that name: the credential cannot work.
    Missing,
    /// The token could not be read (permissions, API error).
    Unreadable(String),
}

/// How a credential's token is judged: level and the words for it.
/// Expired (or gone) needs renewing now; within the certificate warning
/// days a warning; a token that never expires is ok.
pub fn judge(token: &TokenLookup, now: i64, thresholds: &Thresholds) -> (Level, String) {
    match token {
        TokenLookup::Missing => (
            Level::Critical,
            "its token no longer exists in Rancher: renew the credential".into(),
        ),
        TokenLookup::Unreadable(why) => {
            (Level::Unknown, format!("its token cannot be read: {why}"))
        }
        TokenLookup::Found(t) => match t.expires_at {
            None if t.ttl == 0 && !t.expired => (Level::Ok, "its token never expires".into()),
            None => (
                Level::Unknown,
                "its token's expiresAt cannot be read".into(),
            ),
            Some(at) => {
                let left = at - now;
                if t.expired || left <= 0 {
                    (
                        Level::Expired,
                        format!(
                            "its token expired {} ago: Rancher cannot scale or delete guest clusters; renew the credential",
                            span(-left)
                        ),
                    )
                } else if left / 86_400 <= warning_days(t, thresholds) {
                    (
                        Level::Warn,
                        format!("its token expires in {}: renew the credential", span(left)),
                    )
                } else {
                    (Level::Ok, format!("its token expires in {}", span(left)))
                }
            }
        },
    }
}

/// The certificates' warning days, but at most half the token's lifetime:
/// a token Rancher 2.8 issues for 30 days would otherwise warn from birth.
pub fn warning_days(t: &TokenInfo, thresholds: &Thresholds) -> i64 {
    let lifetime_days = t.ttl / 86_400_000;
    if lifetime_days > 0 {
        thresholds.warn_days.min(lifetime_days / 2)
    } else {
        thresholds.warn_days
    }
}

/// `5d 3h`, `7h`, `12m` for a duration in seconds.
fn span(secs: i64) -> String {
    let secs = secs.max(0);
    let (d, h, m) = (secs / 86_400, secs % 86_400 / 3600, secs % 3600 / 60);
    if d > 0 {
        format!("{d}d {h}h")
    } else if h > 0 {
        format!("{h}h")
    } else {
        format!("{m}m")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use serde_json::json;

    const KC: &str = "apiVersion: v1
kind: Config
clusters:
- name: hc
  cluster:
    server: https://rancher.example:443/k8s/clusters/c-m-abcd1234
users:
- name: hc
  user:
    token: kubeconfig-user-x1y2z:S3cretPart
contexts:
- name: hc
  context:
    user: hc
    cluster: hc
current-context: hc
";

    fn secret(kc: &str) -> Value {
        let b = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        json!({
            "metadata": {"name": "cc-abcde", "resourceVersion": "7",
                "annotations": {"field.cattle.io/name": "harvester-prod", "field.cattle.io/creatorId": "user-x1y2z"}},
            "data": {KUBECONFIG_KEY: b(kc), CLUSTER_ID_KEY: b("c-m-abcd1234"), CLUSTER_TYPE_KEY: b("imported")},
        })
    }

    #[test]
    fn a_credential_names_its_cluster_and_token_but_debug_never_shows_the_secret() {
        let c = from_secret(&secret(KC)).unwrap();
        assert_eq!(c.name, "cc-abcde");
        assert_eq!(c.display_name.as_deref(), Some("harvester-prod"));
        assert_eq!(c.cluster_id.as_deref(), Some("c-m-abcd1234"));
        let k = c.kubeconfig.as_ref().unwrap();
        assert_eq!(k.token_name.as_deref(), Some("kubeconfig-user-x1y2z"));
        assert_eq!(k.cluster_id(), Some("c-m-abcd1234"));
        assert_eq!(k.origin(), "https://rancher.example:443");
        assert_eq!(k.token(), "kubeconfig-user-x1y2z:S3cretPart");
        assert!(!format!("{c:?}").contains("S3cretPart"));
    }

    #[test]
    fn other_secrets_are_not_credentials_and_a_broken_kubeconfig_is_said_so() {
        assert!(from_secret(&json!({"metadata": {"name": "x"}, "data": {"a": "Yg=="}})).is_none());
        let c = from_secret(&secret("::: not yaml S3cretPart")).unwrap();
        let e = c.kubeconfig.unwrap_err();
        assert!(!e.contains("S3cretPart"), "{e}");
    }

    #[test]
    fn cluster_ids_come_only_from_ranchers_proxy_path() {
        assert_eq!(
            cluster_id_of_server("https://r/k8s/clusters/c-m-1/"),
            Some("c-m-1")
        );
        assert_eq!(cluster_id_of_server("https://r:6443"), None);
        assert_eq!(cluster_id_of_server("https://r/k8s/clusters/c-m-1/x"), None);
        assert_eq!(origin_of("https://r:1/a/b"), "https://r:1");
    }

    fn token(expires_at: Option<i64>, ttl: i64, expired: bool) -> TokenLookup {
        TokenLookup::Found(TokenInfo {
            name: "kubeconfig-user-a".into(),
            expires_at,
            expires_at_text: String::new(),
            expired,
            ttl,
            user_id: "user-a".into(),
            cluster_name: String::new(),
        })
    }

    #[test]
    fn expired_is_expired_within_the_warning_days_warns_and_ttl_zero_is_ok() {
        let t = Thresholds::default();
        let now = 1_000_000_000;
        let day = 86_400;
        assert_eq!(
            judge(&token(Some(now - day), 1, false), now, &t).0,
            Level::Expired
        );
        assert_eq!(
            judge(&token(Some(now + day), 1, true), now, &t).0,
            Level::Expired
        );
        // 5 days left is a warning, not critical: the credential still works.
        let (l, m) = judge(&token(Some(now + 5 * day + 10), 1, false), now, &t);
        assert_eq!(
            (l, m.as_str()),
            (
                Level::Warn,
                "its token expires in 5d 0h: renew the credential"
            )
        );
        assert_eq!(
            judge(&token(Some(now + 31 * day), 1, false), now, &t).0,
            Level::Ok
        );
        // A fresh 30-day token is ok; past half its life it warns.
        let month = 30 * day * 1000;
        assert_eq!(
            judge(&token(Some(now + 30 * day - 60), month, false), now, &t).0,
            Level::Ok
        );
        assert_eq!(
            judge(&token(Some(now + 16 * day), month, false), now, &t).0,
            Level::Ok
        );
        assert_eq!(
            judge(&token(Some(now + 15 * day), month, false), now, &t).0,
            Level::Warn
        );
        assert_eq!(judge(&token(None, 0, false), now, &t).0, Level::Ok);
        assert_eq!(judge(&TokenLookup::Missing, now, &t).0, Level::Critical);
        assert_eq!(judge(&token(None, 5, false), now, &t).0, Level::Unknown);
    }

    #[test]
    fn token_objects_read_ranchers_fields() {
        let t = token_info(&json!({
            "metadata": {"name": "kubeconfig-user-a"},
            "expiresAt": "2026-01-01T00:00:00Z", "expired": false, "ttl": 2_592_000_000i64,
            "userId": "user-a", "clusterName": "c-m-1",
        }));
        assert_eq!(t.expires_at, Some(1_767_225_600));
        assert_eq!((t.ttl, t.cluster_name.as_str()), (2_592_000_000, "c-m-1"));
    }
}
