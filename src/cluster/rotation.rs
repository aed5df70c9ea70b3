//! RKE2 certificate rotation on the API: the RKEControlPlane's Ready
//! condition and generations, the provisioning Cluster's rotation
//! generation (bumped with its resourceVersion as a precondition, dry run
//! supported), the `auto-rotate-rke2-certs` setting, and the earliest
//! NotAfter the apiservers present, read the way Harvester's controller
//! reads it (a TLS dial of each server's :6443 without verifying).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use kube::api::{ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams};
use kube::{Api, Client};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use time::OffsetDateTime;

const TIMEOUT: Duration = Duration::from_secs(15);
pub const AUTO_ROTATE: &str = "auto-rotate-rke2-certs";
/// Harvester's webhook refuses more (one year minus an hour).
pub const MAX_EXPIRING_IN_HOURS: i64 = 8759;

fn resource(group: &str, version: &str, kind: &str, plural: &str) -> ApiResource {
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, version, kind), plural)
}

fn control_planes(client: &Client) -> Api<DynamicObject> {
    let ar = resource("rke.cattle.io", "v1", "RKEControlPlane", "rkecontrolplanes");
    Api::namespaced_with(client.clone(), "fleet-local", &ar)
}

fn clusters(client: &Client) -> Api<DynamicObject> {
    let ar = resource("provisioning.cattle.io", "v1", "Cluster", "clusters");
    Api::namespaced_with(client.clone(), "fleet-local", &ar)
}

fn settings(client: &Client) -> Api<DynamicObject> {
    let ar = resource("harvesterhci.io", "v1beta1", "Setting", "settings");
    Api::all_with(client.clone(), &ar)
}

/// What the RKEControlPlane `fleet-local/local` says about rotation.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ControlPlane {
    /// The Ready condition; None when it has none.
    pub ready: Option<bool>,
    /// Ready's message (what it waits for), when not Ready.
    pub ready_message: String,
    /// `spec.rotateCertificates.generation`.
    pub spec_generation: i64,
    /// `status.certificateRotationGeneration`.
    pub status_generation: i64,
}

/// The provisioning Cluster's rotation generation and the version it was read at.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ClusterGeneration {
    /// `spec.rkeConfig.rotateCertificates.generation`.
    pub generation: i64,
    pub resource_version: String,
}

/// Both, read together.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RotationState {
    pub control_plane: ControlPlane,
    pub cluster: ClusterGeneration,
}

impl RotationState {
    /// Why a rotation cannot start now (Harvester's controller and Rancher's
    /// planner wait for the same): empty when it can.
    pub fn blockers(&self) -> Vec<String> {
        let cp = &self.control_plane;
        let mut v = Vec::new();
        if cp.ready != Some(true) {
            let msg = if cp.ready_message.is_empty() {
                String::new()
            } else {
                format!(" ({})", cp.ready_message)
            };
            v.push(format!(
                "the RKEControlPlane fleet-local/local is not Ready{msg}"
            ));
        }
        if cp.spec_generation != cp.status_generation {
            v.push(format!(
                "a rotation is under way: the RKEControlPlane's spec generation {} differs from its status generation {}",
                cp.spec_generation, cp.status_generation
            ));
        }
        if self.cluster.generation != cp.spec_generation {
            v.push(format!(
                "the Cluster fleet-local/local asks for generation {} but the RKEControlPlane has {}: Rancher has not passed the last bump on yet",
                self.cluster.generation, cp.spec_generation
            ));
        }
        v
    }

    /// Whether the rotation asked for with generation `g` is done.
    pub fn done(&self, g: i64) -> bool {
        self.control_plane.status_generation >= g && self.control_plane.ready == Some(true)
    }
}

fn int(v: &serde_json::Value) -> i64 {
    v.as_i64()
        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
        .unwrap_or(0)
}

fn control_plane_of(obj: &DynamicObject) -> ControlPlane {
    let ready = obj.data["status"]["conditions"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["type"] == "Ready"));
    ControlPlane {
        ready: ready.and_then(|c| match c["status"].as_str() {
            Some("True") => Some(true),
            Some("False") => Some(false),
            _ => None,
        }),
        ready_message: ready
            .and_then(|c| c["message"].as_str())
            .unwrap_or("")
            .to_string(),
        spec_generation: int(&obj.data["spec"]["rotateCertificates"]["generation"]),
        status_generation: int(&obj.data["status"]["certificateRotationGeneration"]),
    }
}

fn cluster_of(obj: &DynamicObject) -> ClusterGeneration {
    ClusterGeneration {
        generation: int(&obj.data["spec"]["rkeConfig"]["rotateCertificates"]["generation"]),
        resource_version: obj.metadata.resource_version.clone().unwrap_or_default(),
    }
}

async fn get(api: &Api<DynamicObject>, what: &str) -> Result<DynamicObject, String> {
    match tokio::time::timeout(TIMEOUT, api.get("local")).await {
        Ok(Ok(o)) => Ok(o),
        Ok(Err(kube::Error::Api(r))) if r.code == 404 => Err(format!(
            "the cluster has no {what} fleet-local/local: this is not a Harvester cluster, or the context points at another one"
        )),
        Ok(Err(e)) => Err(format!("reading {what}: {}", super::chain_text(&e))),
        Err(_) => Err(format!("reading {what}: no answer within 15 s")),
    }
}

/// Reads the RKEControlPlane and the Cluster.
pub async fn read_state(client: &Client) -> Result<RotationState, String> {
    let cp = get(&control_planes(client), "rkecontrolplanes.rke.cattle.io").await?;
    let cl = get(&clusters(client), "clusters.provisioning.cattle.io").await?;
    Ok(RotationState {
        control_plane: control_plane_of(&cp),
        cluster: cluster_of(&cl),
    })
}

/// Why a write did not go through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteFailure {
    /// 409: changed by someone else since it was read.
    Conflict(String),
    /// The webhook (or the API's validation) said no: its words, verbatim.
    Denied(String),
    /// Network, auth, timeouts.
    Other(String),
}

impl std::fmt::Display for WriteFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WriteFailure::Conflict(m) | WriteFailure::Denied(m) | WriteFailure::Other(m) => {
                f.write_str(m)
            }
        }
    }
}

async fn patch(
    api: &Api<DynamicObject>,
    name: &str,
    what: &str,
    body: &serde_json::Value,
    dry_run: bool,
) -> Result<DynamicObject, WriteFailure> {
    let params = PatchParams {
        dry_run,
        ..Default::default()
    };
    match tokio::time::timeout(TIMEOUT, api.patch(name, &params, &Patch::Merge(body))).await {
        Ok(Ok(o)) => Ok(o),
        Ok(Err(kube::Error::Api(st))) if st.code == 409 => Err(WriteFailure::Conflict(format!(
            "{what} was changed by someone else since it was read (409 Conflict): read it again and look before retrying"
        ))),
        Ok(Err(kube::Error::Api(st))) if st.code == 400 || st.code == 422 => {
            Err(WriteFailure::Denied(st.message.clone()))
        }
        Ok(Err(e)) => Err(WriteFailure::Other(format!(
            "patching {what}: {}",
            super::chain_text(&e)
        ))),
        Err(_) => Err(WriteFailure::Other(format!(
            "patching {what}: no answer within 15 s; read it again before retrying"
        ))),
    }
}

/// Asks Rancher for a rotation: `generation + 1` on the Cluster, only if it
/// is still at `from.resource_version`. Returns the generation written.
pub async fn bump_generation(
    client: &Client,
    from: &ClusterGeneration,
    dry_run: bool,
) -> Result<i64, WriteFailure> {
    let next = from.generation + 1;
    let body = serde_json::json!({
        "metadata": {"resourceVersion": from.resource_version},
        "spec": {"rkeConfig": {"rotateCertificates": {"generation": next}}},
    });
    let o = patch(
        &clusters(client),
        "local",
        "clusters.provisioning.cattle.io fleet-local/local",
        &body,
        dry_run,
    )
    .await?;
    Ok(cluster_of(&o).generation)
}

/// The `auto-rotate-rke2-certs` setting as read.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AutoRotate {
    pub enable: bool,
    pub expiring_in_hours: i64,
    pub resource_version: String,
}

/// A Go struct field of a JSON object (Go matches names case-insensitively).
fn go_field<'a>(v: &'a serde_json::Value, name: &str) -> Option<&'a serde_json::Value> {
    v.as_object()?
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v)
}

/// `{"enable":true,"expiringInHours":240}` (value, else default).
pub fn parse_auto_rotate(value: &str) -> Result<(bool, i64), String> {
    if value.trim().is_empty() {
        return Ok((false, 0));
    }
    let v: serde_json::Value =
        serde_json::from_str(value).map_err(|e| format!("{AUTO_ROTATE} is not JSON: {e}"))?;
    Ok((
        go_field(&v, "enable")
            .and_then(|e| e.as_bool())
            .unwrap_or(false),
        go_field(&v, "expiringInHours")
            .and_then(|h| h.as_i64())
            .unwrap_or(0),
    ))
}

fn auto_rotate_of(obj: &DynamicObject) -> Result<AutoRotate, String> {
    let (enable, expiring_in_hours) =
        parse_auto_rotate(&crate::status::effective_value(&obj.data))?;
    Ok(AutoRotate {
        enable,
        expiring_in_hours,
        resource_version: obj.metadata.resource_version.clone().unwrap_or_default(),
    })
}

pub async fn read_auto_rotate(client: &Client) -> Result<AutoRotate, String> {
    match tokio::time::timeout(TIMEOUT, settings(client).get(AUTO_ROTATE)).await {
        Ok(Ok(o)) => auto_rotate_of(&o),
        Ok(Err(kube::Error::Api(r))) if r.code == 404 => Err(format!(
            "the cluster has no {AUTO_ROTATE} Setting: Harvester has it from v1.3.0 on"
        )),
        Ok(Err(e)) => Err(format!(
            "reading setting {AUTO_ROTATE}: {}",
            super::chain_text(&e)
        )),
        Err(_) => Err(format!(
            "reading setting {AUTO_ROTATE}: no answer within 15 s"
        )),
    }
}

/// The setting's value as Harvester writes it.
pub fn auto_rotate_value(enable: bool, hours: i64) -> String {
    serde_json::json!({"enable": enable, "expiringInHours": hours}).to_string()
}

/// Writes the setting if it is still at `resource_version`.
pub async fn patch_auto_rotate(
    client: &Client,
    enable: bool,
    hours: i64,
    resource_version: &str,
    dry_run: bool,
) -> Result<AutoRotate, WriteFailure> {
    let body = serde_json::json!({
        "metadata": {"resourceVersion": resource_version},
        "value": auto_rotate_value(enable, hours),
    });
    let o = patch(
        &settings(client),
        AUTO_ROTATE,
        &format!("setting {AUTO_ROTATE}"),
        &body,
        dry_run,
    )
    .await?;
    auto_rotate_of(&o).map_err(WriteFailure::Other)
}

/// Accepts any certificate: the dial only reads what is presented, as
/// Harvester's controller does (`InsecureSkipVerify`).
#[derive(Debug)]
struct AcceptAny(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AcceptAny {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// The certificates (DER, as sent: leaf first) `addr` presents to a TLS
/// dial that accepts any, as Harvester's controllers dial. `name` is sent as
/// SNI when it is a host name.
pub async fn presented_chain(addr: SocketAddr, name: Option<&str>) -> Result<Vec<Vec<u8>>, String> {
    let tls = dial_accepting_any(addr, name, rustls::DEFAULT_VERSIONS).await?;
    let (_, conn) = tls.get_ref();
    Ok(conn
        .peer_certificates()
        .unwrap_or_default()
        .iter()
        .map(|c| c.as_ref().to_vec())
        .collect())
}

/// Whether a TLS handshake with `addr` offering only `version` succeeds
/// (any certificate accepted): the leaf presented (DER), or the
/// handshake's error.
pub async fn handshake_with(
    addr: SocketAddr,
    name: Option<&str>,
    version: &'static rustls::SupportedProtocolVersion,
) -> Result<Vec<u8>, String> {
    let tls = dial_accepting_any(addr, name, &[version]).await?;
    let (_, conn) = tls.get_ref();
    Ok(conn
        .peer_certificates()
        .and_then(|c| c.first())
        .map(|c| c.as_ref().to_vec())
        .unwrap_or_default())
}

/// A TLS dial of `addr` with `versions`, accepting any certificate.
async fn dial_accepting_any(
    addr: SocketAddr,
    name: Option<&str>,
    versions: &[&'static rustls::SupportedProtocolVersion],
) -> Result<tokio_rustls::client::TlsStream<tokio::net::TcpStream>, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let cfg = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(versions)
        .map_err(|e| e.to_string())?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AcceptAny(provider)))
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(cfg));
    let server_name = match name.map(|n| ServerName::try_from(n.to_string())) {
        Some(Ok(n)) => n,
        _ => ServerName::IpAddress(addr.ip().into()),
    };
    let dial = async {
        let tcp = tokio::net::TcpStream::connect(addr).await?;
        connector.connect(server_name, tcp).await
    };
    tokio::time::timeout(Duration::from_secs(5), dial)
        .await
        .map_err(|_| format!("dialing {addr}: timed out"))?
        .map_err(|e| format!("dialing {addr}: {e}"))
}

/// The earliest NotAfter among the certificates `addr` presents.
pub async fn presented_not_after(addr: SocketAddr) -> Result<OffsetDateTime, String> {
    let mut earliest: Option<OffsetDateTime> = None;
    for der in presented_chain(addr, None).await? {
        let (_, cert) = x509_parser::parse_x509_certificate(&der)
            .map_err(|e| format!("{addr}: parsing a presented certificate: {e}"))?;
        let t = OffsetDateTime::from_unix_timestamp(cert.validity().not_after.timestamp())
            .map_err(|e| e.to_string())?;
        earliest = Some(earliest.map_or(t, |e| e.min(t)));
    }
    earliest.ok_or_else(|| format!("{addr} presented no certificate"))
}

/// The earliest NotAfter over the apiservers at `ips` (port 6443).
pub async fn earliest_apiserver_not_after(ips: &[String]) -> Result<OffsetDateTime, String> {
    let mut earliest: Option<OffsetDateTime> = None;
    for ip in ips {
        let addr: std::net::IpAddr = ip
            .parse()
            .map_err(|_| format!("{ip:?} is not an IP address"))?;
        let t = presented_not_after(SocketAddr::new(addr, 6443)).await?;
        earliest = Some(earliest.map_or(t, |e| e.min(t)));
    }
    earliest.ok_or_else(|| "no Ready control-plane node to dial".to_string())
}

/// Every node as the API lists it (name, role, InternalIP, Ready).
pub async fn nodes(client: &Client) -> Result<Vec<crate::model::NodeInfo>, String> {
    use k8s_openapi::api::core::v1::Node;
    let api: Api<Node> = Api::all(client.clone());
    match tokio::time::timeout(TIMEOUT, api.list(&Default::default())).await {
        Ok(Ok(list)) => Ok(list.items.iter().map(super::node_info).collect()),
        Ok(Err(e)) => Err(format!("listing nodes: {}", super::chain_text(&e))),
        Err(_) => Err("listing nodes: no answer within 15 s".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(ready: Option<bool>, spec: i64, status: i64, cluster: i64) -> RotationState {
        RotationState {
            control_plane: ControlPlane {
                ready,
                ready_message: String::new(),
                spec_generation: spec,
                status_generation: status,
            },
            cluster: ClusterGeneration {
                generation: cluster,
                resource_version: "1".into(),
            },
        }
    }

    #[test]
    fn a_rotation_can_start_only_when_ready_and_every_generation_agrees() {
        assert!(state(Some(true), 2, 2, 2).blockers().is_empty());
        assert!(state(Some(false), 2, 2, 2).blockers()[0].contains("not Ready"));
        assert!(state(Some(true), 3, 2, 3).blockers()[0].contains("under way"));
        assert!(state(Some(true), 2, 2, 3).blockers()[0].contains("not passed"));
        assert!(state(Some(true), 3, 3, 3).done(3));
        assert!(!state(Some(false), 3, 3, 3).done(3));
    }

    #[test]
    fn the_setting_is_read_like_go_and_written_like_harvester() {
        assert_eq!(
            parse_auto_rotate(r#"{"Enable":true,"expiringInHours":240}"#).unwrap(),
            (true, 240)
        );
        assert_eq!(parse_auto_rotate("").unwrap(), (false, 0));
        assert_eq!(
            auto_rotate_value(true, 8759),
            r#"{"enable":true,"expiringInHours":8759}"#
        );
    }
}
