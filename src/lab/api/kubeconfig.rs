//! The kubeconfig a lab hands out, shaped like RKE2's `rke2.yaml`: inline
//! base64 CA, client certificate and key.

use base64::Engine;

/// An RKE2-style kubeconfig for `server_url`: cluster, user and context all
/// named `cluster_name`, which is also the current context.
pub fn kubeconfig_yaml(
    server_url: &str,
    ca_pem: &str,
    client_cert_pem: &str,
    client_key_pem: &str,
    cluster_name: &str,
) -> String {
    kubeconfig_with_rancher_yaml(
        server_url,
        ca_pem,
        client_cert_pem,
        client_key_pem,
        cluster_name,
        None,
    )
}

/// A second context reaching the lab's Rancher with a bearer token.
pub struct RancherContext<'a> {
    pub name: &'a str,
    /// `https://ip:port/k8s/clusters/local`.
    pub server_url: &'a str,
    pub token: &'a str,
}

/// [`kubeconfig_yaml`] plus, when given, a Rancher context (cluster and
/// user named like it, same CA); the Harvester context stays current.
pub fn kubeconfig_with_rancher_yaml(
    server_url: &str,
    ca_pem: &str,
    client_cert_pem: &str,
    client_key_pem: &str,
    cluster_name: &str,
    rancher: Option<RancherContext<'_>>,
) -> String {
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    // JSON strings are valid YAML scalars: quoting this way is always safe.
    let q = |s: &str| serde_json::to_string(s).unwrap_or_default();
    let name = q(cluster_name);
    let (r_cluster, r_context, r_user) = match &rancher {
        Some(r) => {
            let n = q(r.name);
            (
                format!(
                    "- cluster:\n    certificate-authority-data: {}\n    server: {}\n  name: {n}\n",
                    b64(ca_pem),
                    q(r.server_url)
                ),
                format!("- context:\n    cluster: {n}\n    user: {n}\n  name: {n}\n"),
                format!("- name: {n}\n  user:\n    token: {}\n", q(r.token)),
            )
        }
        None => Default::default(),
    };
    format!(
        "apiVersion: v1
clusters:
- cluster:
    certificate-authority-data: {ca}
    server: {server}
  name: {name}
{r_cluster}contexts:
- context:
    cluster: {name}
    user: {name}
  name: {name}
{r_context}current-context: {name}
kind: Config
preferences: {{}}
users:
- name: {name}
  user:
    client-certificate-data: {cert}
    client-key-data: {key}
{r_user}",
        ca = b64(ca_pem),
        server = q(server_url),
        cert = b64(client_cert_pem),
        key = b64(client_key_pem),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubeconfig_parses_and_names_the_context_after_the_cluster() {
        let y = kubeconfig_yaml("https://10.0.0.1:6443", "CA", "CERT", "KEY", "hc7");
        let k: kube::config::Kubeconfig = serde_saphyr::from_str(&y).unwrap();
        assert_eq!(k.current_context.as_deref(), Some("hc7"));
        let c = &k.clusters[0].cluster.as_ref().unwrap();
        assert_eq!(c.server.as_deref(), Some("https://10.0.0.1:6443"));
        assert_eq!(c.certificate_authority_data.as_deref(), Some("Q0E="));
    }

    #[test]
    fn the_rancher_context_is_a_second_context_and_not_the_current_one() {
        let y = kubeconfig_with_rancher_yaml(
            "https://10.0.0.1:6443",
            "CA",
            "CERT",
            "KEY",
            "hc7",
            Some(RancherContext {
                name: "rancher",
                server_url: "https://10.0.0.1:9443/k8s/clusters/local",
                token: "kubeconfig-user-a:b",
            }),
        );
        let k: kube::config::Kubeconfig = serde_saphyr::from_str(&y).unwrap();
        assert_eq!(k.current_context.as_deref(), Some("hc7"));
        let names: Vec<_> = k.contexts.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["hc7", "rancher"]);
        let r = k.clusters.iter().find(|c| c.name == "rancher").unwrap();
        assert_eq!(
            r.cluster.as_ref().unwrap().server.as_deref(),
            Some("https://10.0.0.1:9443/k8s/clusters/local")
        );
        assert_eq!(k.auth_infos.len(), 2);
    }
}
