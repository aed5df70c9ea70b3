//! The lab's Harvester API against real clients: kube's `Client` (from a
//! kubeconfig written by `kubeconfig_yaml`) and `/usr/bin/kubectl`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use harvcred::lab::api::{ApiConfig, ApiHandle, NodeOps, kubeconfig_yaml, serve};
use harvcred::lab::plan::LabPlan;
use k8s_openapi::api::core::v1::{Node, Secret};
use kube::api::{
    Api, ApiResource, DynamicObject, GroupVersionKind, ListParams, Patch, PatchParams, PostParams,
    WatchEvent, WatchParams,
};
use kube::config::{AuthInfo, KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use serde_json::{Value, json};

const TOKEN: &str = "lab-bearer-token-0123456789";
const SUBNET: [u8; 3] = [10, 213, 7];

struct Pki {
    ca_pem: String,
    serving_cert_pem: String,
    serving_key_pem: String,
    client_cert_pem: String,
    client_key_pem: String,
}

fn pki() -> Pki {
    let validity = |p: &mut CertificateParams| {
        let now = time::OffsetDateTime::now_utc();
        p.not_before = now - time::Duration::hours(1);
        p.not_after = now + time::Duration::days(30);
    };
    let ca_key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, "rke2-server-ca@1700000000");
    ca.distinguished_name = dn;
    validity(&mut ca);
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca, ca_key);

    let serving_key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let mut serving =
        CertificateParams::new(vec!["localhost".to_string(), "kubernetes".to_string()]).unwrap();
    serving
        .subject_alt_names
        .push(rcgen::SanType::IpAddress("127.0.0.1".parse().unwrap()));
    validity(&mut serving);
    let serving_cert = serving.signed_by(&serving_key, &issuer).unwrap();

    let client_key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let mut client = CertificateParams::new(Vec::<String>::new()).unwrap();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, "system:admin");
    dn.push(DnType::OrganizationName, "system:masters");
    client.distinguished_name = dn;
    client.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
    validity(&mut client);
    let client_cert = client.signed_by(&client_key, &issuer).unwrap();

    Pki {
        ca_pem: ca_cert.pem(),
        serving_cert_pem: serving_cert.pem(),
        serving_key_pem: serving_key.serialize_pem(),
        client_cert_pem: client_cert.pem(),
        client_key_pem: client_key.serialize_pem(),
    }
}

struct Lab {
    dir: tempfile::TempDir,
    api: ApiHandle,
    kubeconfig: PathBuf,
    url: String,
    pki: Pki,
}

impl Lab {
    async fn start(node_ops: Option<NodeOps>) -> Lab {
        Self::start_with(node_ops, vec![]).await
    }

    async fn start_with(node_ops: Option<NodeOps>, initial_settings: Vec<(String, String)>) -> Lab {
        let dir = tempfile::tempdir().unwrap();
        let pki = pki();
        let plan = LabPlan {
            id: "t1".into(),
            dir: dir.path().to_path_buf(),
            subnet: SUBNET,
            nodes: LabPlan::make_nodes(SUBNET, 4, 3),
            scenarios: vec![],
            api_port: 0,
        };
        let api = serve(ApiConfig {
            plan,
            listen: "127.0.0.1:0".parse().unwrap(),
            serving_cert_pem: pki.serving_cert_pem.clone(),
            serving_key_pem: pki.serving_key_pem.clone(),
            client_ca_pem: pki.ca_pem.clone(),
            bearer_token: TOKEN.into(),
            server_token: "K10abc::server:s3cr3t".into(),
            initial_settings,
            node_ops,
        })
        .await
        .unwrap();
        let url = format!("https://127.0.0.1:{}", api.local_addr().port());
        let kubeconfig = dir.path().join("kubeconfig");
        std::fs::write(
            &kubeconfig,
            kubeconfig_yaml(
                &url,
                &pki.ca_pem,
                &pki.client_cert_pem,
                &pki.client_key_pem,
                "t1",
            ),
        )
        .unwrap();
        Lab {
            dir,
            api,
            kubeconfig,
            url,
            pki,
        }
    }

    /// A client the way harvcred makes one: from the kubeconfig file.
    async fn client(&self) -> Client {
        let kc = Kubeconfig::read_from(&self.kubeconfig).unwrap();
        let cfg = Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
            .await
            .unwrap();
        Client::try_from(cfg).unwrap()
    }

    /// A client that trusts the CA but authenticates with `auth` only.
    async fn client_with(&self, auth: AuthInfo) -> Client {
        let mut kc = Kubeconfig::read_from(&self.kubeconfig).unwrap();
        kc.auth_infos[0].auth_info = Some(auth);
        let cfg = Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
            .await
            .unwrap();
        Client::try_from(cfg).unwrap()
    }

    async fn kubectl(&self, args: &[&str]) -> std::process::Output {
        tokio::process::Command::new("/usr/bin/kubectl")
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .arg("--cache-dir")
            .arg(self.dir.path().join("kube-cache"))
            .args(args)
            .output()
            .await
            .unwrap()
    }
}

fn gvk(group: &str, version: &str, kind: &str, plural: &str) -> ApiResource {
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, version, kind), plural)
}

fn settings(client: &Client) -> Api<DynamicObject> {
    Api::all_with(
        client.clone(),
        &gvk("harvesterhci.io", "v1beta1", "Setting", "settings"),
    )
}

fn cloudinits(client: &Client) -> Api<DynamicObject> {
    Api::all_with(
        client.clone(),
        &gvk("node.harvesterhci.io", "v1beta1", "CloudInit", "cloudinits"),
    )
}

fn control_planes(client: &Client) -> Api<DynamicObject> {
    Api::namespaced_with(
        client.clone(),
        "fleet-local",
        &gvk("rke.cattle.io", "v1", "RKEControlPlane", "rkecontrolplanes"),
    )
}

fn ready(obj: &DynamicObject) -> Option<String> {
    obj.data["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == "Ready")
        .and_then(|c| c["status"].as_str().map(str::to_string))
}

fn clusters(client: &Client) -> Api<DynamicObject> {
    Api::namespaced_with(
        client.clone(),
        "fleet-local",
        &gvk("provisioning.cattle.io", "v1", "Cluster", "clusters"),
    )
}

fn api_status(err: kube::Error) -> (u16, String, String) {
    match err {
        kube::Error::Api(s) => (s.code, s.reason.clone(), s.message.clone()),
        other => panic!("expected an API error Status, got {other:?}"),
    }
}

/// Every lab node's InternalIP covered: the noProxy a careful operator writes.
const GOOD_PROXY: &str = r#"{"httpProxy":"http://proxy.example:3128","httpsProxy":"http://proxy.example:3128","noProxy":"localhost,127.0.0.1,10.213.7.0/24"}"#;

async fn wait_for(what: &str, mut check: impl AsyncFnMut() -> bool) {
    // Up to 15 s: the build machine is shared and can be slow.
    for _ in 0..300 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}

fn configured(setting: &DynamicObject) -> Option<String> {
    setting.data["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == "configured")
        .and_then(|c| c["status"].as_str().map(str::to_string))
}

#[tokio::test]
async fn only_client_certificates_and_the_bearer_token_get_in() {
    let lab = Lab::start(None).await;
    // No credentials at all.
    let anon = lab.client_with(AuthInfo::default()).await;
    let (code, reason, message) = api_status(
        Api::<Node>::all(anon)
            .list(&ListParams::default())
            .await
            .unwrap_err(),
    );
    assert_eq!(
        (code, reason.as_str(), message.as_str()),
        (401, "Unauthorized", "Unauthorized")
    );
    // A wrong token.
    let wrong = lab
        .client_with(AuthInfo {
            token: Some("not-the-token".to_string().into()),
            ..Default::default()
        })
        .await;
    assert_eq!(
        api_status(
            Api::<Node>::all(wrong)
                .list(&ListParams::default())
                .await
                .unwrap_err()
        )
        .0,
        401
    );
    // The right token.
    let good = lab
        .client_with(AuthInfo {
            token: Some(TOKEN.to_string().into()),
            ..Default::default()
        })
        .await;
    assert_eq!(
        Api::<Node>::all(good)
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .len(),
        4
    );
    // A client certificate from another CA is refused in the handshake.
    let other = pki();
    let mut kc = Kubeconfig::read_from(&lab.kubeconfig).unwrap();
    kc.auth_infos[0].auth_info = Some(AuthInfo {
        client_certificate_data: Some(base64_of(&other.client_cert_pem)),
        client_key_data: Some(base64_of(&other.client_key_pem).into()),
        ..Default::default()
    });
    let cfg = Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
        .await
        .unwrap();
    let foreign = Client::try_from(cfg).unwrap();
    assert!(
        Api::<Node>::all(foreign)
            .list(&ListParams::default())
            .await
            .is_err()
    );
    let _ = &lab.pki;
    lab.api.shutdown().await;
}

fn base64_of(s: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(s)
}

#[tokio::test]
async fn nodes_secret_and_settings_look_like_harvester() {
    let lab = Lab::start(None).await;
    let client = lab.client().await;
    let nodes = Api::<Node>::all(client.clone())
        .list(&ListParams::default())
        .await
        .unwrap();
    let ips: Vec<String> = nodes
        .items
        .iter()
        .map(|n| {
            let st = n.status.as_ref().unwrap();
            st.addresses
                .as_ref()
                .unwrap()
                .iter()
                .find(|a| a.type_ == "InternalIP")
                .unwrap()
                .address
                .clone()
        })
        .collect();
    assert_eq!(
        ips,
        ["10.213.7.11", "10.213.7.12", "10.213.7.13", "10.213.7.14"]
    );
    let node1 = &nodes.items[0];
    let labels = node1.metadata.labels.as_ref().unwrap();
    assert_eq!(labels["node-role.kubernetes.io/control-plane"], "true");
    assert_eq!(labels["node-role.kubernetes.io/etcd"], "true");
    assert!(
        !nodes.items[3]
            .metadata
            .labels
            .as_ref()
            .unwrap()
            .contains_key("node-role.kubernetes.io/control-plane")
    );
    let info = node1.status.as_ref().unwrap().node_info.as_ref().unwrap();
    assert_eq!(info.kubelet_version, "v1.33.5+rke2r1");
    assert_eq!(info.os_image, "Harvester v1.6.1");

    let secret = Api::<Secret>::namespaced(client.clone(), "fleet-local")
        .get("local-rke-state")
        .await
        .unwrap();
    assert_eq!(secret.type_.as_deref(), Some("rke.cattle.io/cluster-state"));
    let data = secret.data.unwrap();
    assert_eq!(data["serverToken"].0, b"K10abc::server:s3cr3t");
    assert_eq!(data["agentToken"].0, b"K10abc::server:s3cr3t");

    let s = settings(&client);
    let proxy = s.get("http-proxy").await.unwrap();
    assert_eq!(proxy.data["default"], "{}");
    assert!(proxy.data.get("value").is_none());
    let rotate = s.get("auto-rotate-rke2-certs").await.unwrap();
    assert_eq!(
        rotate.data["default"],
        r#"{"enable":false,"expiringInHours":240}"#
    );
    let (code, _, message) = api_status(s.get("no-such-setting").await.unwrap_err());
    assert_eq!(code, 404);
    assert_eq!(
        message,
        r#"settings.harvesterhci.io "no-such-setting" not found"#
    );
    let names: Vec<String> = s
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|o| o.metadata.name.unwrap())
        .collect();
    for want in [
        "additional-ca",
        "ssl-certificates",
        "ssl-parameters",
        "containerd-registry",
        "kubeconfig-default-token-ttl-minutes",
        "backup-target",
        "cluster-registration-url",
    ] {
        assert!(
            names.iter().any(|n| n == want),
            "{want} missing from {names:?}"
        );
    }
    lab.api.shutdown().await;
}

#[tokio::test]
async fn a_covered_proxy_is_stored_reconciled_and_watched() {
    let lab = Lab::start(None).await;
    let client = lab.client().await;
    let s = settings(&client);
    let before = s.get("http-proxy").await.unwrap();
    // Never synced: Harvester shows `status: {}` on a fresh http-proxy.
    assert_eq!(before.data["status"], json!({}));
    let rv = before.metadata.resource_version.clone().unwrap();
    let mut events = s
        .watch(
            &WatchParams::default().fields("metadata.name=http-proxy"),
            &rv,
        )
        .await
        .unwrap()
        .boxed();

    let patched = s
        .patch(
            "http-proxy",
            &PatchParams::default(),
            &Patch::Merge(json!({"value": GOOD_PROXY})),
        )
        .await
        .unwrap();
    assert_eq!(patched.data["value"], GOOD_PROXY);
    assert_ne!(
        patched.metadata.resource_version.as_deref(),
        Some(rv.as_str())
    );

    // The watch sees the change live, then Harvester's controller reports it
    // configured once it has written the agent env vars (RKE2 restarts later).
    let mut seen = Vec::new();
    while seen.len() < 2 {
        let ev = tokio::time::timeout(Duration::from_secs(5), events.try_next())
            .await
            .expect("a watch event within 5 s")
            .unwrap()
            .expect("the watch stays open");
        match ev {
            WatchEvent::Modified(o) => seen.push((o.data["value"].clone(), configured(&o))),
            other => panic!("unexpected event {other:?}"),
        }
    }
    assert_eq!(
        (seen[0].0.as_str(), seen[0].1.as_deref()),
        (Some(GOOD_PROXY), None)
    );
    assert_eq!(seen[1].1.as_deref(), Some("True"));

    // kube-runtime's watcher (list, then watch from the list's version) sees
    // the next change too.
    let mut w = kube::runtime::watcher(
        s.clone(),
        kube::runtime::watcher::Config::default().fields("metadata.name=ssl-parameters"),
    )
    .boxed();
    let mut patched_once = false;
    let found = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(ev) = w.try_next().await.unwrap() {
            match ev {
                kube::runtime::watcher::Event::InitDone if !patched_once => {
                    patched_once = true;
                    s.patch(
                        "ssl-parameters",
                        &PatchParams::default(),
                        &Patch::Merge(json!({"value": r#"{"protocols":"TLSv1.3"}"#})),
                    )
                    .await
                    .unwrap();
                }
                kube::runtime::watcher::Event::Apply(o)
                    if o.data["value"] == r#"{"protocols":"TLSv1.3"}"# =>
                {
                    return true;
                }
                _ => {}
            }
        }
        false
    })
    .await;
    assert_eq!(found, Ok(true));

    // Harvester's controller carried the proxy into the cluster's agent env.
    let cluster = clusters(&client).get("local").await.unwrap();
    let env = cluster.data["spec"]["agentEnvVars"]
        .as_array()
        .unwrap()
        .clone();
    let no_proxy = env.iter().find(|e| e["name"] == "NO_PROXY").unwrap()["value"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        no_proxy.starts_with("localhost,127.0.0.1,10.213.7.0/24,localhost,"),
        "{no_proxy}"
    );
    assert!(no_proxy.ends_with(".svc,.cluster.local"), "{no_proxy}");
    assert!(
        env.iter()
            .any(|e| e["name"] == "HTTPS_PROXY" && e["value"] == "http://proxy.example:3128")
    );
    lab.api.shutdown().await;
}

#[tokio::test]
async fn the_webhook_denies_an_uncovered_node_and_stores_nothing() {
    let lab = Lab::start(None).await;
    let client = lab.client().await;
    let s = settings(&client);
    let value =
        r#"{"httpProxy":"http://proxy.example:3128","noProxy":"10.213.7.12,10.213.7.13/32,node4"}"#;
    let (code, reason, message) = api_status(
        s.patch(
            "http-proxy",
            &PatchParams::default(),
            &Patch::Merge(json!({"value": value})),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!(code, 400);
    assert_eq!(reason, "BadRequest");
    assert_eq!(
        message,
        "admission webhook \"validator.harvester-system.harvester-webhook\" denied the request: noProxy should contain the node's IP addresses or CIDR. The node(s) 10.213.7.11, 10.213.7.14 are not covered."
    );
    assert!(
        s.get("http-proxy")
            .await
            .unwrap()
            .data
            .get("value")
            .is_none()
    );

    // The other settings' rules, as an operator would meet them.
    let (code, _, message) = api_status(
        s.patch(
            "auto-rotate-rke2-certs",
            &PatchParams::default(),
            &Patch::Merge(json!({"value": r#"{"enable":true,"expiringInHours":9000}"#})),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!(code, 400);
    assert!(
        message.ends_with("denied the request: expiringInHours can't be large than 8759"),
        "{message}"
    );
    let (_, _, message) = api_status(
        s.patch(
            "ssl-parameters",
            &PatchParams::default(),
            &Patch::Merge(json!({"value": r#"{"protocols":"TLSv1.2 TLSv9"}"#})),
        )
        .await
        .unwrap_err(),
    );
    assert!(
        message.ends_with(": unsupported SSL protocol: TLSv9"),
        "{message}"
    );
    lab.api.shutdown().await;
}

/// Go's encoding/json matches keys ignoring case, so Harvester checks a
/// value an operator wrote as `{"HTTPProxy": ...}`; `ssl-certificates` is
/// checked by Harvester's TLS helpers, which parse but do not pair.
#[tokio::test]
async fn the_webhook_reads_json_as_go_does_and_checks_ssl_certificates_as_harvester() {
    let lab = Lab::start(None).await;
    let client = lab.client().await;
    let s = settings(&client);
    let (code, _, message) = api_status(
        s.patch(
            "http-proxy",
            &PatchParams::default(),
            &Patch::Merge(json!({"value": r#"{"HTTPProxy":"http://proxy.example:3128","NOPROXY":"10.213.7.11"}"#})),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!(code, 400);
    assert!(
        message.ends_with("The node(s) 10.213.7.12, 10.213.7.13, 10.213.7.14 are not covered."),
        "{message}"
    );

    let pki = harvcred::lab::pki::ClusterPki::generate(time::OffsetDateTime::now_utc()).unwrap();
    let (cert, key) = pki.issue_admin_client();
    let (_, other_key) = pki.issue_admin_client();
    let ssl = |v: serde_json::Value| Patch::Merge(json!({"value": v.to_string()}));
    let deny = async |v: serde_json::Value| {
        api_status(
            s.patch("ssl-certificates", &PatchParams::default(), &ssl(v))
                .await
                .unwrap_err(),
        )
        .2
    };
    let m = deny(json!({"publicCertificate": "not a certificate", "privateKey": key})).await;
    assert!(
        m.ends_with("denied the request: failed to locate certificate"),
        "{m}"
    );
    let m = deny(json!({"publicCertificate": cert, "privateKey": "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"})).await;
    assert!(
        m.ends_with("denied the request: unexpected block type 'CERTIFICATE'"),
        "{m}"
    );
    let m =
        deny(json!({"publicCertificate": cert, "privateKey": format!("{key}{other_key}")})).await;
    assert!(
        m.ends_with("denied the request: multiple private keys"),
        "{m}"
    );
    // A key that belongs to another certificate passes, as on Harvester.
    s.patch(
        "ssl-certificates",
        &PatchParams::default(),
        &ssl(json!({"publicCertificate": cert, "privateKey": other_key})),
    )
    .await
    .unwrap();
    lab.api.shutdown().await;
}

#[tokio::test]
async fn stale_versions_conflict_and_dry_runs_change_nothing() {
    let lab = Lab::start(None).await;
    let client = lab.client().await;
    let s = settings(&client);
    let original = s.get("ssl-parameters").await.unwrap();

    // Someone else changes it first.
    s.patch(
        "ssl-parameters",
        &PatchParams::default(),
        &Patch::Merge(json!({"value": r#"{"protocols":"TLSv1.3"}"#})),
    )
    .await
    .unwrap();
    let mut mine = original.clone();
    mine.data["value"] = json!(r#"{"protocols":"TLSv1.2"}"#);
    let (code, reason, message) = api_status(
        s.replace("ssl-parameters", &PostParams::default(), &mine)
            .await
            .unwrap_err(),
    );
    assert_eq!((code, reason.as_str()), (409, "Conflict"));
    assert_eq!(
        message,
        "Operation cannot be fulfilled on settings.harvesterhci.io \"ssl-parameters\": the object has been modified; please apply your changes to the latest version and try again"
    );
    // A merge patch carrying the old resourceVersion is a precondition too.
    let stale_rv = original.metadata.resource_version.clone().unwrap();
    let (code, _, _) = api_status(
        s.patch(
            "ssl-parameters",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"resourceVersion": stale_rv}, "value": "{}"})),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!(code, 409);
    assert_eq!(
        s.get("ssl-parameters").await.unwrap().data["value"],
        r#"{"protocols":"TLSv1.3"}"#
    );

    // Dry runs answer with the result and keep the stored object.
    let current = s.get("http-proxy").await.unwrap();
    let dry = s
        .patch(
            "http-proxy",
            &PatchParams {
                dry_run: true,
                ..Default::default()
            },
            &Patch::Merge(json!({"value": GOOD_PROXY})),
        )
        .await
        .unwrap();
    assert_eq!(dry.data["value"], GOOD_PROXY);
    let after = s.get("http-proxy").await.unwrap();
    assert!(after.data.get("value").is_none());
    assert_eq!(
        after.metadata.resource_version,
        current.metadata.resource_version
    );
    // A dry-run delete leaves it there.
    s.delete(
        "backup-target",
        &kube::api::DeleteParams {
            dry_run: true,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    s.get("backup-target").await.unwrap();

    // JSON patch with a failing test operation changes nothing either.
    let jp: json_patch::Patch = serde_json::from_value(json!([
        {"op": "test", "path": "/value", "value": "something else"},
        {"op": "replace", "path": "/value", "value": "{}"},
    ]))
    .unwrap();
    let (code, _, _) = api_status(
        s.patch(
            "ssl-parameters",
            &PatchParams::default(),
            &Patch::<()>::Json(jp),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!(code, 422);
    assert_eq!(
        s.get("ssl-parameters").await.unwrap().data["value"],
        r#"{"protocols":"TLSv1.3"}"#
    );
    // One whose test holds is applied; `remove` of the value restores the default.
    let jp: json_patch::Patch = serde_json::from_value(json!([
        {"op": "test", "path": "/value", "value": r#"{"protocols":"TLSv1.3"}"#},
        {"op": "replace", "path": "/value", "value": r#"{"protocols":"TLSv1.2"}"#},
    ]))
    .unwrap();
    let patched = s
        .patch(
            "ssl-parameters",
            &PatchParams::default(),
            &Patch::<()>::Json(jp),
        )
        .await
        .unwrap();
    assert_eq!(patched.data["value"], r#"{"protocols":"TLSv1.2"}"#);
    let jp: json_patch::Patch =
        serde_json::from_value(json!([{"op": "remove", "path": "/value"}])).unwrap();
    s.patch(
        "ssl-parameters",
        &PatchParams::default(),
        &Patch::<()>::Json(jp),
    )
    .await
    .unwrap();
    assert!(
        s.get("ssl-parameters")
            .await
            .unwrap()
            .data
            .get("value")
            .is_none()
    );
    // Strategic merge patch needs Go types a custom resource does not have.
    let (code, _, _) = api_status(
        s.patch(
            "ssl-parameters",
            &PatchParams::default(),
            &Patch::Strategic(json!({"value": "{}"})),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!(code, 415);
    lab.api.shutdown().await;
}

#[tokio::test]
async fn cloudinit_files_land_in_the_matching_nodes_oem_and_go_on_delete() {
    let oem = tempfile::tempdir().unwrap();
    let mut oem_dirs = BTreeMap::new();
    for n in 1..=4 {
        let d = oem.path().join(format!("node{n}"));
        std::fs::create_dir_all(&d).unwrap();
        oem_dirs.insert(format!("node{n}"), d);
    }
    let ops = NodeOps {
        ssh_config: oem.path().join("no-ssh-config"),
        oem_dirs: oem_dirs.clone(),
    };
    let lab = Lab::start(Some(ops)).await;
    let client = lab.client().await;
    let ci = cloudinits(&client);
    let make = |name: &str, file: &str, selector: Value| -> DynamicObject {
        serde_json::from_value(json!({
            "apiVersion": "node.harvesterhci.io/v1beta1",
            "kind": "CloudInit",
            "metadata": {"name": name},
            "spec": {"matchSelector": selector, "filename": file, "contents": "stages:\n  network:\n    - authorized_keys:\n        rancher:\n          - ssh-ed25519 AAAA test\n", "paused": false},
        }))
        .unwrap()
    };
    let (code, _, message) = api_status(
        ci.create(
            &PostParams::default(),
            &make("evil", "90_custom.yaml", json!({})),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!(code, 400);
    assert!(
        message.contains("conflicts with a critical system-owned file"),
        "{message}"
    );
    assert!(ci.get("evil").await.is_err());

    let created = ci
        .create(
            &PostParams::default(),
            &make(
                "keys",
                "20_keys",
                json!({"kubernetes.io/hostname": "node2"}),
            ),
        )
        .await
        .unwrap();
    assert_eq!(created.data["spec"]["filename"], "20_keys.yaml");
    let file = oem_dirs["node2"].join("20_keys.yaml");
    wait_for("the file on node2", async || file.exists()).await;
    assert!(
        std::fs::read_to_string(&file)
            .unwrap()
            .contains("ssh-ed25519 AAAA test")
    );
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert!(!oem_dirs["node1"].join("20_keys.yaml").exists());
    wait_for("the rollout status", async || {
        let o = ci.get("keys").await.unwrap();
        o.data["status"]["rollouts"]["node2"]["conditions"]
            .as_array()
            .is_some_and(|c| {
                c.iter()
                    .any(|c| c["type"] == "Present" && c["status"] == "True")
            })
    })
    .await;

    // Not valid YAML: refused.
    let mut bad = make("bad", "30_bad", json!({}));
    bad.data["spec"]["contents"] = json!("stages: [unclosed\n");
    assert_eq!(
        api_status(ci.create(&PostParams::default(), &bad).await.unwrap_err()).0,
        422
    );

    // A change of contents is rolled out; while paused, the node keeps its file.
    let contents = |s: &str| Patch::Merge(json!({"spec": {"contents": s}}));
    ci.patch("keys", &PatchParams::default(), &contents("stages: {}\n"))
        .await
        .unwrap();
    wait_for("the new contents", async || {
        std::fs::read_to_string(&file).unwrap() == "stages: {}\n"
    })
    .await;
    ci.patch(
        "keys",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"paused": true, "contents": "paused: yes\n"}})),
    )
    .await
    .unwrap();
    // The controller has seen the paused change once it reports node2's file
    // out of sync with the new contents; only then is "unchanged" a finding.
    wait_for("node2 reported out of sync", async || {
        let o = ci.get("keys").await.unwrap();
        o.data["status"]["rollouts"]["node2"]["conditions"]
            .as_array()
            .is_some_and(|c| {
                c.iter()
                    .any(|c| c["type"] == "OutOfSync" && c["status"] == "True")
            })
    })
    .await;
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "stages: {}\n");

    ci.delete("keys", &Default::default()).await.unwrap();
    wait_for("the file to go", async || !file.exists()).await;
    lab.api.shutdown().await;
}

#[tokio::test]
async fn a_rotation_generation_bump_is_carried_out_and_recorded() {
    let lab = Lab::start(None).await;
    let client = lab.client().await;
    let c = clusters(&client);
    let cp = control_planes(&client);
    let before = c.get("local").await.unwrap();
    assert_eq!(
        before.data["spec"]["rkeConfig"]["rotateCertificates"]["generation"],
        0
    );
    // The provisioning Cluster carries the spec only; Rancher reports on the
    // RKEControlPlane.
    assert!(before.data["status"]["certificateRotationGeneration"].is_null());
    let plane = cp.get("local").await.unwrap();
    assert_eq!(plane.data["spec"]["rotateCertificates"]["generation"], 0);
    assert_eq!(plane.data["status"]["certificateRotationGeneration"], 0);
    assert_eq!(ready(&plane).as_deref(), Some("True"));
    // Status belongs to the controller: a write to the object keeps it.
    let kept = cp
        .patch(
            "local",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"certificateRotationGeneration": 7}})),
        )
        .await
        .unwrap();
    assert_eq!(kept.data["status"]["certificateRotationGeneration"], 0);
    // Its spec follows the Cluster's: a change by hand is put back.
    cp.patch(
        "local",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"rotateCertificates": {"generation": 5}}})),
    )
    .await
    .unwrap();
    wait_for("the RKEControlPlane's spec to be put back", async || {
        cp.get("local").await.unwrap().data["spec"]["rotateCertificates"]["generation"] == 0
    })
    .await;
    c.patch(
        "local",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"rkeConfig": {"rotateCertificates": {"generation": 1}}}})),
    )
    .await
    .unwrap();
    wait_for("certificateRotationGeneration 1", async || {
        cp.get("local").await.unwrap().data["status"]["certificateRotationGeneration"] == 1
    })
    .await;
    let plane = cp.get("local").await.unwrap();
    assert_eq!(plane.data["spec"]["rotateCertificates"]["generation"], 1);
    assert_eq!(ready(&plane).as_deref(), Some("True"));
    assert_eq!(c.get("local").await.unwrap().data["status"]["ready"], true);
    lab.api.shutdown().await;
}

/// With node operations configured, the controllers really go to the nodes:
/// when SSH cannot reach them, the failure shows in the status instead of a
/// success that never happened.
#[tokio::test]
async fn node_side_effects_that_fail_are_reported_not_faked() {
    let dir = tempfile::tempdir().unwrap();
    let ops = NodeOps {
        ssh_config: dir.path().join("missing-ssh-config"),
        oem_dirs: BTreeMap::new(),
    };
    let lab = Lab::start(Some(ops)).await;
    let client = lab.client().await;
    let s = settings(&client);
    s.patch(
        "http-proxy",
        &PatchParams::default(),
        &Patch::Merge(json!({"value": GOOD_PROXY})),
    )
    .await
    .unwrap();
    // Harvester's part (the agent env vars) succeeds; the restart Rancher's
    // planner then cannot do shows on the RKEControlPlane.
    let cp = control_planes(&client);
    wait_for(
        "the RKEControlPlane to report the failed restart",
        async || {
            let o = cp.get("local").await.unwrap();
            o.data["status"]["conditions"][0]["message"]
                .as_str()
                .is_some_and(|m| m.contains("restarting rke2-server failed on node1"))
        },
    )
    .await;
    let o = s.get("http-proxy").await.unwrap();
    assert_eq!(configured(&o).as_deref(), Some("True"));
    assert_eq!(
        ready(&cp.get("local").await.unwrap()).as_deref(),
        Some("False")
    );

    let c = clusters(&client);
    c.patch(
        "local",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"rkeConfig": {"rotateCertificates": {"generation": 1}}}})),
    )
    .await
    .unwrap();
    wait_for("the rotation failure", async || {
        let o = cp.get("local").await.unwrap();
        o.data["status"]["conditions"][0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("certificate rotation failed on node1"))
    })
    .await;
    assert_eq!(
        cp.get("local").await.unwrap().data["status"]["certificateRotationGeneration"],
        0
    );
    lab.api.shutdown().await;
}

#[tokio::test]
async fn node_readiness_changes_reach_watchers() {
    let lab = Lab::start(None).await;
    let client = lab.client().await;
    let nodes = Api::<Node>::all(client);
    let list = nodes.list(&ListParams::default()).await.unwrap();
    let rv = list.metadata.resource_version.unwrap();
    let mut events = nodes
        .watch(&WatchParams::default(), &rv)
        .await
        .unwrap()
        .boxed();
    lab.api
        .set_node_ready("node2", false, "kubelet stopped posting node status");
    let ev = tokio::time::timeout(Duration::from_secs(5), events.try_next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let WatchEvent::Modified(node) = ev else {
        panic!("expected MODIFIED, got {ev:?}")
    };
    assert_eq!(node.metadata.name.as_deref(), Some("node2"));
    let ready = node
        .status
        .unwrap()
        .conditions
        .unwrap()
        .into_iter()
        .find(|c| c.type_ == "Ready")
        .unwrap();
    assert_eq!(ready.status, "False");
    assert_eq!(
        ready.message.as_deref(),
        Some("kubelet stopped posting node status")
    );
    lab.api.shutdown().await;
}

#[tokio::test]
async fn initial_settings_seed_the_proxy_drift_scenario() {
    let lab = Lab::start_with(None, vec![("http-proxy".into(), GOOD_PROXY.into())]).await;
    let client = lab.client().await;
    let proxy = settings(&client).get("http-proxy").await.unwrap();
    assert_eq!(proxy.data["value"], GOOD_PROXY);
    let cluster = clusters(&client).get("local").await.unwrap();
    assert!(
        cluster.data["spec"]["agentEnvVars"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["name"] == "HTTP_PROXY")
    );
    lab.api.shutdown().await;
}

fn stdout(out: &std::process::Output) -> String {
    assert!(
        out.status.success(),
        "kubectl failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test]
async fn kubectl_reads_and_patches_like_on_a_real_cluster() {
    if !Path::new("/usr/bin/kubectl").exists() {
        panic!("/usr/bin/kubectl is needed for this test");
    }
    let lab = Lab::start(None).await;

    let wide = stdout(&lab.kubectl(&["get", "nodes", "-o", "wide"]).await);
    let mut lines = wide.lines();
    let header: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(
        header,
        [
            "NAME",
            "STATUS",
            "ROLES",
            "AGE",
            "VERSION",
            "INTERNAL-IP",
            "EXTERNAL-IP",
            "OS-IMAGE",
            "KERNEL-VERSION",
            "CONTAINER-RUNTIME"
        ]
    );
    let node1: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(&node1[..3], ["node1", "Ready", "control-plane,etcd,master"]);
    assert_eq!(node1[4], "v1.33.5+rke2r1");
    assert_eq!(node1[5], "10.213.7.11");
    assert_eq!(node1[6], "<none>");
    assert!(wide.contains("Harvester v1.6.1"));
    assert!(wide.contains("containerd://2.0.5-k3s2"));
    assert!(
        wide.lines()
            .any(|l| l.starts_with("node4 ") && l.contains("<none>"))
    );

    let yaml = stdout(
        &lab.kubectl(&[
            "get",
            "settings.harvesterhci.io",
            "http-proxy",
            "-o",
            "yaml",
        ])
        .await,
    );
    assert!(
        yaml.contains("apiVersion: harvesterhci.io/v1beta1"),
        "{yaml}"
    );
    assert!(yaml.contains("kind: Setting"), "{yaml}");
    assert!(yaml.contains("name: http-proxy"), "{yaml}");
    assert!(yaml.contains("default: '{}'"), "{yaml}");

    let out = stdout(
        &lab.kubectl(&[
            "patch",
            "settings.harvesterhci.io",
            "http-proxy",
            "--type",
            "merge",
            "-p",
            &json!({"value": GOOD_PROXY}).to_string(),
        ])
        .await,
    );
    assert!(
        out.contains("setting.harvesterhci.io/http-proxy patched"),
        "{out}"
    );
    let table = stdout(
        &lab.kubectl(&["get", "settings.harvesterhci.io", "http-proxy"])
            .await,
    );
    let header: Vec<&str> = table.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(header, ["NAME", "VALUE"]);
    assert!(table.contains("proxy.example:3128"), "{table}");

    // A denial reaches the operator with the webhook's words.
    let denied = lab
        .kubectl(&[
            "patch",
            "settings.harvesterhci.io",
            "http-proxy",
            "--type",
            "merge",
            "-p",
            r#"{"value":"{\"httpProxy\":\"http://p:1\"}"}"#,
        ])
        .await;
    assert!(!denied.status.success());
    let err = String::from_utf8_lossy(&denied.stderr);
    assert!(
        err.contains(
            "The node(s) 10.213.7.11, 10.213.7.12, 10.213.7.13, 10.213.7.14 are not covered."
        ),
        "{err}"
    );

    let cis = lab.kubectl(&["get", "cloudinits"]).await;
    assert!(
        cis.status.success(),
        "{}",
        String::from_utf8_lossy(&cis.stderr)
    );
    assert!(String::from_utf8_lossy(&cis.stderr).contains("No resources found"));

    let cluster = stdout(
        &lab.kubectl(&[
            "-n",
            "fleet-local",
            "get",
            "clusters.provisioning.cattle.io",
            "local",
            "-o",
            "yaml",
        ])
        .await,
    );
    assert!(cluster.contains("rotateCertificates:"), "{cluster}");
    let plane = stdout(
        &lab.kubectl(&[
            "-n",
            "fleet-local",
            "get",
            "rkecontrolplanes.rke.cattle.io",
            "local",
            "-o",
            "jsonpath={.status.certificateRotationGeneration} {.status.conditions[?(@.type==\"Ready\")].status}",
        ])
        .await,
    );
    assert_eq!(plane.trim(), "0 True");

    // `kubectl create -f` / `apply -f` need OpenAPI (or --validate=false).
    let manifest = |file: &str| {
        format!(
            "apiVersion: node.harvesterhci.io/v1beta1\nkind: CloudInit\nmetadata:\n  name: keys\nspec:\n  matchSelector: {{}}\n  filename: {file}\n  contents: |\n    stages: {{}}\n"
        )
    };
    let f = lab.dir.path().join("ci.yaml");
    std::fs::write(&f, manifest("20_keys")).unwrap();
    let fs = f.to_str().unwrap();
    let out = stdout(&lab.kubectl(&["create", "-f", fs]).await);
    assert!(
        out.contains("cloudinit.node.harvesterhci.io/keys created"),
        "{out}"
    );
    let out = stdout(&lab.kubectl(&["apply", "-f", fs]).await);
    assert!(
        out.contains("cloudinit.node.harvesterhci.io/keys configured"),
        "{out}"
    );
    let listed = stdout(&lab.kubectl(&["get", "cloudinits"]).await);
    assert!(listed.lines().any(|l| l.starts_with("keys ")), "{listed}");
    stdout(&lab.kubectl(&["delete", "-f", fs]).await);
    std::fs::write(&f, manifest("90_custom.yaml")).unwrap();
    let refused = lab.kubectl(&["apply", "-f", fs]).await;
    assert!(!refused.status.success());
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(
        err.contains("conflicts with a critical system-owned file"),
        "{err}"
    );

    let ns = stdout(&lab.kubectl(&["get", "namespaces"]).await);
    assert!(
        ns.contains("harvester-system") && ns.contains("Active"),
        "{ns}"
    );

    // And the same API answers the bearer token kubectl may be given instead.
    let out = tokio::process::Command::new("/usr/bin/kubectl")
        .args([
            "--server",
            &lab.url,
            "--insecure-skip-tls-verify",
            "--token",
            TOKEN,
        ])
        .arg("--cache-dir")
        .arg(lab.dir.path().join("kube-cache2"))
        .args(["get", "nodes"])
        .env("KUBECONFIG", "/dev/null")
        .output()
        .await
        .unwrap();
    assert!(stdout(&out).contains("node3"));
    lab.api.shutdown().await;
}

/// The wire itself, with curl: HTTP/2 and HTTP/1.1, the exact 401 body, a
/// raw `watch=1` stream, OpenAPI v3, and 404 Status for what the lab does
/// not serve.
#[tokio::test]
async fn the_wire_speaks_http2_and_http1_and_answers_with_status_objects() {
    let lab = Lab::start(None).await;
    let ca = lab.dir.path().join("ca.crt");
    std::fs::write(&ca, &lab.pki.ca_pem).unwrap();
    let curl = |args: Vec<String>| {
        let ca = ca.clone();
        async move {
            let out = tokio::process::Command::new("curl")
                .args(["-sS", "--cacert"])
                .arg(&ca)
                .args(&args)
                .output()
                .await
                .expect("curl runs");
            String::from_utf8_lossy(&out.stdout).into_owned()
        }
    };
    let auth = format!("Authorization: Bearer {TOKEN}");
    for (flag, want) in [("--http2", "2"), ("--http1.1", "1.1")] {
        let got = curl(vec![
            flag.into(),
            "-o".into(),
            "/dev/null".into(),
            "-w".into(),
            "%{http_version} %{http_code}".into(),
            "-H".into(),
            auth.clone(),
            format!("{}/version", lab.url),
        ])
        .await;
        assert_eq!(got, format!("{want} 200"));
    }

    let body = curl(vec![format!("{}/api/v1/nodes", lab.url)]).await;
    let status: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        status,
        json!({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"Unauthorized","reason":"Unauthorized","code":401})
    );

    let body = curl(vec![
        "--max-time".into(),
        "1".into(),
        "-H".into(),
        auth.clone(),
        format!(
            "{}/api/v1/nodes?watch=1&fieldSelector=metadata.name%3Dnode3",
            lab.url
        ),
    ])
    .await;
    let events: Vec<Value> = body
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(events.len(), 1, "{body}");
    assert_eq!(events[0]["type"], "ADDED");
    assert_eq!(events[0]["object"]["metadata"]["name"], "node3");

    // OpenAPI v3 is served (kubectl create/apply need it), v2 is not.
    let index = curl(vec![
        "-H".into(),
        auth.clone(),
        format!("{}/openapi/v3", lab.url),
    ])
    .await;
    let index: Value = serde_json::from_str(&index).unwrap();
    assert!(index["paths"]["apis/harvesterhci.io/v1beta1"]["serverRelativeURL"].is_string());
    for path in ["/openapi/v2", "/apis/harvesterhci.io/v1beta1/upgrades"] {
        let body = curl(vec![
            "-H".into(),
            auth.clone(),
            format!("{}{path}", lab.url),
        ])
        .await;
        let status: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(status["code"], 404, "{path}: {body}");
    }
    lab.api.shutdown().await;
}
