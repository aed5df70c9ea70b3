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
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    // JSON strings are valid YAML scalars: quoting this way is always safe.
    let q = |s: &str| serde_json::to_string(s).unwrap_or_default();
    let name = q(cluster_name);
    format!(
        "apiVersion: v1
clusters:
- cluster:
    certificate-authority-data: {ca}
    server: {server}
  name: {name}
contexts:
- context:
    cluster: {name}
    user: {name}
  name: {name}
current-context: {name}
kind: Config
preferences: {{}}
users:
- name: {name}
  user:
    client-certificate-data: {cert}
    client-key-data: {key}
",
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
}
