//! What a lab node holds: the files a Harvester node carries, coherent across
//! the cluster (one PKI, one token, one password), written into the node's
//! overlay upper layer and `/oem` folder before it boots, with the scenarios'
//! deliberate faults.

use std::fmt;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow};
use rand::Rng;
use rand::distr::Alphanumeric;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use zeroize::Zeroizing;

use super::layout::NODE_BIN;
use super::pki::{self, ClusterPki, NodeIdentity, Validity};
use super::plan::{LabPlan, NodePlan, Role, Scenario};

/// The Rancher that rancherd installs with each RKE2 (Harvester v1.6 / v1.5).
pub fn rancher_version(rke2_version: &str) -> &'static str {
    if pki::from_may_2025(rke2_version) {
        "v2.12.2"
    } else {
        "v2.11.0"
    }
}
/// The proxy node1 carries under `proxy-drift`.
pub const OLD_PROXY: &str = "http://proxy.old.example:8080";

/// Everything secret or shared that a lab's nodes and API agree on.
/// `Debug` shows no secret.
#[derive(Clone, Serialize, Deserialize)]
pub struct ClusterMaterial {
    pub pki: ClusterPki,
    pub operator_pubkey: String,
    #[serde(with = "zstring")]
    token_secret: Zeroizing<String>,
    #[serde(with = "zstring")]
    wrong_token_secret: Zeroizing<String>,
    #[serde(with = "zstring")]
    password: Zeroizing<String>,
    password_hash: String,
    /// The password a `cloudinit-password` CloudInit sets instead.
    #[serde(with = "zstring", default)]
    cloudinit_password: Zeroizing<String>,
    #[serde(default)]
    cloudinit_password_hash: String,
    http_proxy: Option<String>,
    api_serving_chain: String,
    #[serde(with = "zstring")]
    api_serving_key: Zeroizing<String>,
    admin_cert: String,
    #[serde(with = "zstring")]
    admin_key: Zeroizing<String>,
}

mod zstring {
    use serde::{Deserialize, Deserializer, Serializer};
    use zeroize::Zeroizing;
    pub fn serialize<S: Serializer>(v: &Zeroizing<String>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(v)
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Zeroizing<String>, D::Error> {
        Ok(Zeroizing::new(String::deserialize(d)?))
    }
}

impl fmt::Debug for ClusterMaterial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClusterMaterial")
            .field("pki", &self.pki)
            .field("operator_pubkey", &self.operator_pubkey)
            .field("token_sha256", &short_hash(&self.token_secret))
            .field("password", &"[elided]")
            .field("http_proxy", &self.http_proxy.as_ref().map(|_| "[set]"))
            .finish_non_exhaustive()
    }
}

fn short_hash(s: &str) -> String {
    hex::encode(Sha256::digest(s.as_bytes()))[..12].to_string()
}

fn random_alnum(n: usize) -> Zeroizing<String> {
    Zeroizing::new(
        rand::rng()
            .sample_iter(Alphanumeric)
            .take(n)
            .map(char::from)
            .collect(),
    )
}

/// SHA-512 crypt (`$6$<salt>$<hash>`, default 5000 rounds) of `password` with
/// a salt of `salt_bytes` random bytes (12 → the 16 characters glibc expects;
/// the lab's yip uses that too when it hashes a clear-text password).
pub fn sha512_crypt(password: &str, salt_bytes: usize) -> Result<String> {
    use sha_crypt::{PasswordHasher, ShaCrypt};
    let salt: Vec<u8> = (0..salt_bytes).map(|_| rand::random::<u8>()).collect();
    let hash = ShaCrypt::SHA512
        .hash_password_with_salt(password.as_bytes(), &salt)
        .map_err(|e| anyhow!("sha-crypt: {e}"))?
        .to_string();
    // sha-crypt writes the default rounds explicitly; crypt(3) and the
    // Harvester installer leave them out (same hash).
    Ok(hash.replacen("$rounds=5000$", "$", 1))
}

/// The http-proxy value for `proxy-drift`: the lab gateway as proxy.
fn proxy_setting(plan: &LabPlan) -> String {
    let proxy = format!("http://{}:3128", plan.gateway());
    serde_json::json!({
        "httpProxy": proxy,
        "httpsProxy": proxy,
        "noProxy": format!("localhost,127.0.0.1,0.0.0.0,10.0.0.0/8,{}", plan.cidr()),
    })
    .to_string()
}

impl ClusterMaterial {
    pub fn generate(plan: &LabPlan, operator_pubkey: &str) -> Result<ClusterMaterial> {
        let now = OffsetDateTime::now_utc();
        let pki = ClusterPki::generate(now)?;
        let token_secret = random_alnum(24);
        let mut wrong_token_secret = random_alnum(24);
        while *wrong_token_secret == *token_secret {
            wrong_token_secret = random_alnum(24);
        }
        let password = random_alnum(16);
        let password_hash = sha512_crypt(&password, 12)?;
        let cloudinit_password = random_alnum(16);
        let cloudinit_password_hash = sha512_crypt(&cloudinit_password, 12)?;
        let (api_serving_chain, api_key) = pki.issue_api_serving(
            &[plan.gateway().into(), std::net::Ipv4Addr::LOCALHOST.into()],
            &[
                "localhost",
                "kubernetes",
                "kubernetes.default",
                "kubernetes.default.svc",
                "kubernetes.default.svc.cluster.local",
            ],
        );
        let (admin_cert, admin_key) = pki.issue_admin_client();
        Ok(ClusterMaterial {
            pki,
            operator_pubkey: operator_pubkey.trim().to_string(),
            token_secret,
            wrong_token_secret,
            password,
            password_hash,
            cloudinit_password,
            cloudinit_password_hash,
            http_proxy: plan.has(Scenario::ProxyDrift).then(|| proxy_setting(plan)),
            api_serving_chain,
            api_serving_key: Zeroizing::new(api_key),
            admin_cert,
            admin_key: Zeroizing::new(admin_key),
        })
    }

    /// The cluster token as the nodes have it: `K10<ca hash>::server:<secret>`.
    pub fn server_token(&self) -> Zeroizing<String> {
        Zeroizing::new(pki::server_token(
            &self.pki.server_ca.cert,
            &self.token_secret,
        ))
    }
    /// The token as typed at install (the secret part).
    pub fn token_secret(&self) -> &str {
        &self.token_secret
    }
    /// The `rancher` password in clear text.
    pub fn password_clear(&self) -> &str {
        &self.password
    }
    /// The password the nodes accept: the CloudInit's under
    /// `cloudinit-password`, else the installer's.
    pub fn password_in_force(&self, plan: &LabPlan) -> &str {
        if plan.has(Scenario::CloudinitPassword) {
            &self.cloudinit_password
        } else {
            &self.password
        }
    }
    /// The contents of the `cloudinit-password` CloudInit (`99_passwd.yaml`):
    /// a later stage than the installer's, so its password wins.
    pub fn cloudinit_password_yaml(&self) -> String {
        format!(
            "stages:\n  initramfs.after:\n  - users:\n      rancher:\n        passwd: {}\n",
            scalar(&self.cloudinit_password_hash)
        )
    }
    /// `$6$` SHA-512 crypt of the password with a 16-character salt.
    pub fn password_hash(&self) -> &str {
        &self.password_hash
    }
    /// The value the API's `http-proxy` setting starts with (JSON), if any.
    pub fn http_proxy_setting(&self) -> Option<&str> {
        self.http_proxy.as_deref()
    }
    /// `(leaf + server-ca PEM, SEC1 key PEM)` for the API listener.
    pub fn api_serving(&self) -> (&str, &str) {
        (&self.api_serving_chain, &self.api_serving_key)
    }
    /// `(cert + client-ca PEM, SEC1 key PEM)` for the kubeconfig's admin user.
    pub fn admin_client(&self) -> (&str, &str) {
        (&self.admin_cert, &self.admin_key)
    }
    /// server-ca's certificate (the kubeconfig's certificate-authority-data).
    pub fn server_ca_pem(&self) -> &str {
        &self.pki.server_ca.cert
    }
    pub fn pki(&self) -> &ClusterPki {
        &self.pki
    }
    /// Harvester settings the API starts with, as `(name, value)`: only
    /// `http-proxy`, under `proxy-drift`.
    pub fn initial_settings(&self) -> Vec<(String, String)> {
        self.http_proxy
            .iter()
            .map(|v| ("http-proxy".to_string(), v.clone()))
            .collect()
    }

    /// The token secret a node is configured with (the wrong one on the
    /// token-mismatch node).
    fn node_token_secret(&self, plan: &LabPlan, node: &NodePlan) -> &str {
        if token_mismatch_node(plan, node) {
            &self.wrong_token_secret
        } else {
            &self.token_secret
        }
    }
}

fn token_mismatch_node(plan: &LabPlan, node: &NodePlan) -> bool {
    plan.has(Scenario::TokenMismatch)
        && plan.nodes.last().map(|n| n.name == node.name) == Some(true)
}

/// A node that has not joined yet: the token-mismatch node, (re)installed
/// with a wrong token, so rancherd never bootstrapped it. It has no RKE2
/// token or bootstrap data, no Rancher drop-in, and only rancherd runs at
/// boot; its Node object (left from before the reinstall) is not Ready.
pub fn not_joined(plan: &LabPlan, node: &NodePlan) -> bool {
    token_mismatch_node(plan, node)
}

fn is_node1(plan: &LabPlan, node: &NodePlan) -> bool {
    plan.nth_or_last(1).name == node.name
}

// ---------------------------------------------------------------------------
// Writing files with owners and modes

struct Tree<'a> {
    base: &'a Path,
    upper: &'a Path,
}

impl Tree<'_> {
    fn host(&self, node_path: &str) -> PathBuf {
        self.upper.join(node_path.trim_start_matches('/'))
    }

    /// Create the parent folders of `node_path` in the upper layer, copying mode
    /// and owner from the base tree where it has them (so the overlay shows the
    /// same folders), else 0755 root.
    fn parents(&self, node_path: &str) -> Result<()> {
        let rel = Path::new(node_path.trim_start_matches('/'));
        let mut acc = PathBuf::new();
        let comps: Vec<_> = rel.components().collect();
        for c in &comps[..comps.len().saturating_sub(1)] {
            acc.push(c);
            self.dir(&acc, 0o755, 0, 0)?;
        }
        Ok(())
    }

    fn dir(&self, rel: &Path, mode: u32, uid: u32, gid: u32) -> Result<()> {
        let up = self.upper.join(rel);
        if up.exists() {
            return Ok(());
        }
        fs::create_dir(&up).with_context(|| format!("creating {}", up.display()))?;
        let (mode, uid, gid) = match fs::metadata(self.base.join(rel)) {
            Ok(m) if m.is_dir() => (m.mode() & 0o7777, m.uid(), m.gid()),
            _ => (mode, uid, gid),
        };
        fs::set_permissions(&up, fs::Permissions::from_mode(mode))?;
        std::os::unix::fs::chown(&up, Some(uid), Some(gid))
            .with_context(|| format!("chown {}", up.display()))?;
        Ok(())
    }

    fn file(&self, node_path: &str, content: &str, mode: u32, uid: u32, gid: u32) -> Result<()> {
        self.parents(node_path)?;
        write_owned(&self.host(node_path), content, mode, uid, gid)
    }

    fn symlink(&self, node_path: &str, target: &str) -> Result<()> {
        self.parents(node_path)?;
        let p = self.host(node_path);
        let _ = fs::remove_file(&p);
        std::os::unix::fs::symlink(target, &p).with_context(|| format!("linking {}", p.display()))
    }
}

fn write_owned(path: &Path, content: &str, mode: u32, uid: u32, gid: u32) -> Result<()> {
    pki::write_file(path, content, mode)?;
    std::os::unix::fs::chown(path, Some(uid), Some(gid))
        .with_context(|| format!("chown {}", path.display()))
}

/// Give every file below `dir` to `uid:gid` (ownership fix-up after pki writes).
fn chown_tree(dir: &Path, uid: u32, gid: u32) -> Result<()> {
    for entry in fs::read_dir(dir)? {
        let p = entry?.path();
        std::os::unix::fs::lchown(&p, Some(uid), Some(gid))?;
        if p.is_dir() {
            chown_tree(&p, uid, gid)?;
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// YAML text

/// A YAML scalar: plain when unambiguous, else double-quoted (JSON quoting is
/// valid YAML).
fn scalar(s: &str) -> String {
    let plain_ok = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || " $./:_-+=@,".contains(c))
        && !s.starts_with([' ', '-', ':', '@', ','])
        && !s.ends_with([' ', ':'])
        && !s.contains(": ")
        && !s.contains(" #")
        && !matches!(
            s,
            "true" | "false" | "null" | "yes" | "no" | "on" | "off" | "~"
        )
        && s.parse::<f64>().is_err();
    if plain_ok {
        s.to_string()
    } else {
        serde_json::to_string(s).expect("strings serialise")
    }
}

/// `text` as a literal block, each line indented by `indent` spaces.
fn block(text: &str, indent: usize) -> String {
    let pad = " ".repeat(indent);
    text.lines()
        .map(|l| {
            if l.is_empty() {
                "\n".to_string()
            } else {
                format!("{pad}{l}\n")
            }
        })
        .collect()
}

// ---------------------------------------------------------------------------
// The node's configuration files

fn join_url(plan: &LabPlan) -> String {
    format!("https://{}:443", plan.vip())
}

/// `/etc/rancher/rancherd/config.yaml`, from the installer's template.
fn rancherd_config(plan: &LabPlan, node: &NodePlan, token: &str) -> String {
    let mut s = String::new();
    if node.index == 1 {
        s.push_str("role: cluster-init\n");
    } else {
        s.push_str(&format!("server: {}\n", join_url(plan)));
        // Before v1.1.2 every joining node started as an agent and was promoted later.
        let role = match node.role {
            Role::Server if !plan.has(Scenario::OldLayout) => "server",
            _ => "agent",
        };
        s.push_str(&format!("role: {role}\n"));
    }
    s.push_str(&format!(
        "token: {}\n",
        serde_json::to_string(token).expect("str")
    ));
    let version = plan.rke2_version();
    let rancher = rancher_version(version);
    s.push_str(&format!("kubernetesVersion: {version}\n"));
    s.push_str(&format!("rancherVersion: {rancher}\n"));
    s.push_str(&format!(
        "rancherInstallerImage: rancher/system-agent-installer-rancher:{rancher}\n"
    ));
    s.push_str("labels:\n - harvesterhci.io/managed=true\n");
    s.push_str("extraConfig:\n  disable:\n  - rke2-snapshot-controller\n  - rke2-snapshot-controller-crd\n  - rke2-snapshot-validation-webhook\n");
    s
}

fn rke2_40_rancherd(plan: &LabPlan, node: &NodePlan, token: &str) -> String {
    let mut s = format!("token: {}\n", serde_json::to_string(token).expect("str"));
    if node.index != 1 {
        s.push_str(&format!("server: https://{}:9345\n", plan.vip()));
    }
    s
}

/// `50-rancher.yaml`: the drop-in Rancher's planner writes on the nodes it
/// manages (JSON, as Rancher writes it); its token overrides rancherd's 40.
fn rke2_50_rancher(plan: &LabPlan, node: &NodePlan, token: &str) -> String {
    let mut v = serde_json::json!({
        "agent-token": token,
        "token": token,
        "node-label": ["harvesterhci.io/managed=true", format!("rke.cattle.io/machine={}", node.name)],
        "private-registry": "/etc/rancher/rke2/registries.yaml",
    });
    if node.index != 1 {
        v["server"] = serde_json::json!(format!("https://{}:9345", plan.vip()));
    }
    if node.role == Role::Server {
        v["cni"] = serde_json::json!("multus,canal");
        v["kube-controller-manager-arg"] = serde_json::json!([
            "cert-dir=/var/lib/rancher/rke2/server/tls/kube-controller-manager",
            "secure-port=10257"
        ]);
        v["kube-scheduler-arg"] = serde_json::json!([
            "cert-dir=/var/lib/rancher/rke2/server/tls/kube-scheduler",
            "secure-port=10259"
        ]);
    }
    format!("{v}\n")
}

fn rke2_90_server(plan: &LabPlan, node: &NodePlan) -> String {
    format!(
        "cni: multus,canal\ndisable: rke2-ingress-nginx\ncluster-cidr: 10.52.0.0/16\nservice-cidr: 10.53.0.0/16\ncluster-dns: 10.53.0.10\nnode-ip: {ip}\ntls-san:\n  - {vip}\naudit-policy-file: /etc/rancher/rke2/config.yaml.d/92-harvester-kube-audit-policy.yaml\nkubelet-arg:\n  - max-pods=200\n",
        ip = node.ip,
        vip = plan.vip()
    )
}

fn rke2_90_agent(node: &NodePlan) -> String {
    format!("node-ip: {}\nkubelet-arg:\n  - max-pods=200\n", node.ip)
}

/// `(key, value)` pairs of the node-local proxy environment, if any.
fn node_proxy_env(plan: &LabPlan, node: &NodePlan) -> Vec<(&'static str, String)> {
    if !plan.has(Scenario::ProxyDrift) {
        return Vec::new();
    }
    if is_node1(plan, node) {
        vec![
            ("http_proxy", OLD_PROXY.to_string()),
            ("https_proxy", OLD_PROXY.to_string()),
            ("no_proxy", "localhost,127.0.0.1".to_string()),
        ]
    } else {
        let proxy = format!("http://{}:3128", plan.gateway());
        vec![
            ("http_proxy", proxy.clone()),
            ("https_proxy", proxy),
            (
                "no_proxy",
                format!("localhost,127.0.0.1,0.0.0.0,10.0.0.0/8,{}", plan.cidr()),
            ),
        ]
    }
}

/// The installer's file: `99_custom.yaml` before Harvester v1.1.2.
pub fn custom_file_name(plan: &LabPlan) -> &'static str {
    if plan.has(Scenario::OldLayout) {
        "99_custom.yaml"
    } else {
        "90_custom.yaml"
    }
}

/// The file of the `cloudinit-password` CloudInit, and the CloudInit's name.
pub const CLOUDINIT_PASSWORD_FILE: &str = "99_passwd.yaml";
pub const CLOUDINIT_PASSWORD_NAME: &str = "rancher-password";

/// `/oem/90_custom.yaml`, shaped like the installer's `ConvertToCOS` output.
fn custom_yaml(
    plan: &LabPlan,
    node: &NodePlan,
    material: &ClusterMaterial,
    rancherd: &str,
    rke2_40: &str,
    rke2_90: Option<&str>,
    passwd: &str,
) -> String {
    let mut s = String::new();
    s.push_str("# Harvester node configuration, written by the installer (ConvertToCOS).\n");
    s.push_str("# Applied at every boot; back up to /oem/install/ before editing.\n");
    let old = plan.has(Scenario::OldLayout);
    s.push_str("name: Harvester Configuration\nstages:\n");
    if old {
        // cOS's layout, as older installs carried it in their own file.
        s.push_str("  rootfs:\n  - name: Layout configuration\n    environment_file: /run/cos/cos-layout.env\n    environment:\n");
        s.push_str("      VOLUMES: LABEL=COS_OEM:/oem LABEL=COS_PERSISTENT:/usr/local\n      OVERLAY: tmpfs:25%\n");
        s.push_str("      RW_PATHS: /var /etc /srv /boot\n");
        s.push_str(&format!(
            "      PERSISTENT_STATE_PATHS: {}\n",
            super::image::PERSISTENT.join(" ")
        ));
    }
    s.push_str("  initramfs:\n  - commands:\n");
    for c in [
        "modprobe kvm",
        "modprobe vhost_net",
        "rm -f /etc/sysconfig/network/ifroute-mgmt-br",
        "chmod 600 /etc/rancher/rke2/config.yaml.d/*",
    ] {
        s.push_str(&format!("    - {}\n", scalar(c)));
    }
    s.push_str("    files:\n");
    let mut file = |path: &str, content: &str| {
        s.push_str(&format!(
            "    - path: {path}\n      permissions: 384\n      owner: 0\n      group: 0\n      content: |\n{}      encoding: \"\"\n      ownerstring: \"\"\n",
            block(content, 8)
        ));
    };
    file("/etc/rancher/rancherd/config.yaml", rancherd);
    file("/etc/rancher/rke2/config.yaml.d/40-rancherd.yaml", rke2_40);
    if let Some(c) = rke2_90 {
        file(
            "/etc/rancher/rke2/config.yaml.d/90-harvester-server.yaml",
            c,
        );
    }
    let env = node_proxy_env(plan, node);
    if env.is_empty() {
        s.push_str("    environment: {}\n");
    } else {
        s.push_str("    environment:\n");
        for (k, v) in env {
            s.push_str(&format!("      {k}: {}\n", scalar(&v)));
        }
    }
    s.push_str(&format!("    hostname: {}\n", node.name));
    s.push_str(&format!(
        "    users:\n      rancher:\n        passwd: {}\n",
        scalar(passwd)
    ));
    let key = scalar(&material.operator_pubkey);
    if old {
        s.push_str(&format!("        ssh_authorized_keys:\n        - {key}\n"));
        s.push_str(&format!(
            "    authorized_keys:\n      rancher:\n      - {key}\n"
        ));
    }
    s.push_str("    timesyncd:\n      NTP: 0.suse.pool.ntp.org\n");
    if !old {
        s.push_str("  network:\n  - authorized_keys:\n      rancher:\n");
        s.push_str(&format!("      - {key}\n"));
    }
    s
}

/// `/oem/harvester.config`: the install configuration.
fn harvester_config(
    plan: &LabPlan,
    node: &NodePlan,
    material: &ClusterMaterial,
    token: &str,
    passwd: &str,
) -> String {
    let mut s = String::from("scheme_version: 1\n");
    if node.index != 1 {
        s.push_str(&format!("server_url: {}\n", join_url(plan)));
    }
    s.push_str(&format!(
        "token: {}\n",
        serde_json::to_string(token).expect("str")
    ));
    s.push_str("os:\n  ssh_authorized_keys:\n");
    s.push_str(&format!("  - {}\n", scalar(&material.operator_pubkey)));
    s.push_str(&format!("  hostname: {}\n", node.name));
    s.push_str(&format!("  password: {}\n", scalar(passwd)));
    s.push_str("  ntp_servers:\n  - 0.suse.pool.ntp.org\n");
    let env = node_proxy_env(plan, node);
    if env.is_empty() {
        s.push_str("  environment: {}\n");
    } else {
        s.push_str("  environment:\n");
        for (k, v) in env {
            s.push_str(&format!("    {k}: {}\n", scalar(&v)));
        }
    }
    s.push_str("install:\n");
    s.push_str(&format!(
        "  mode: {}\n",
        if node.index == 1 { "create" } else { "join" }
    ));
    s.push_str(&format!(
        "  role: {}\n",
        match node.role {
            Role::Server => "management",
            Role::Worker => "worker",
        }
    ));
    s.push_str(&format!(
        "  management_interface:\n    interfaces:\n    - name: host0\n    method: static\n    ip: {}\n    subnet_mask: 255.255.255.0\n    gateway: {}\n    default_route: true\n",
        node.ip,
        plan.gateway()
    ));
    s.push_str(&format!("  vip: {}\n  vip_mode: static\n", plan.vip()));
    s.push_str("  device: /dev/vda\n  tty: ttyS0\n");
    s
}

fn settings_yaml() -> String {
    "name: Harvester Settings\nstages:\n  initramfs:\n  - timesyncd:\n      NTP: 0.suse.pool.ntp.org\n"
        .to_string()
}

/// In the lab share: the RKE2 version the stand-ins are.
pub const RKE2_VERSION_FILE: &str = "rke2-version";

/// Marker the rke2 stand-ins find at their first start: the lab's first boot
/// continues a cluster that has been running since its certificates were
/// issued, so that start renews nothing (else the cert scenarios would heal
/// at boot). Removed by that start.
pub const RESUME_MARKER: &str = "/var/lib/rancher/rke2/.harvcred-lab-resume";
/// Where rke2-server's stand-in records the hash of the token that encrypted
/// the bootstrap data.
pub const BOOTSTRAP_TOKEN_HASH: &str = "/var/lib/rancher/rke2/server/db/bootstrap-token.sha256";

/// Write one node's files into its overlay upper layer and its `/oem` folder.
/// `base_root` is the shared base tree (read for folder owners).
pub fn seed_node(
    plan: &LabPlan,
    node: &NodePlan,
    material: &ClusterMaterial,
    base_root: &Path,
    upper: &Path,
    oem: &Path,
) -> Result<()> {
    let now = OffsetDateTime::now_utc();
    let t = Tree {
        base: base_root,
        upper,
    };
    fs::create_dir_all(upper)?;
    fs::create_dir_all(oem)?;

    // /etc/hostname, /etc/hosts, /etc/shadow, /etc/environment and rancher's
    // authorized_keys are not written here: yip makes them from /oem at every
    // boot, the first one included (super::yip), as on a Harvester node.
    let plaintext = plan.has(Scenario::PlaintextPassword) && is_node1(plan, node);

    // rancherd and rke2 configuration.
    let token = material.node_token_secret(plan, node);
    let rancherd = rancherd_config(plan, node, token);
    let rke2_40 = rke2_40_rancherd(plan, node, token);
    let rke2_90 = match node.role {
        Role::Server => rke2_90_server(plan, node),
        Role::Worker => rke2_90_agent(node),
    };
    t.file("/etc/rancher/rancherd/config.yaml", &rancherd, 0o600, 0, 0)?;
    t.file(
        "/etc/rancher/rke2/config.yaml.d/40-rancherd.yaml",
        &rke2_40,
        0o600,
        0,
        0,
    )?;
    // Rancher manages every node that has joined, with the cluster's token.
    let joined = !not_joined(plan, node);
    if joined {
        t.file(
            "/etc/rancher/rke2/config.yaml.d/50-rancher.yaml",
            &rke2_50_rancher(plan, node, &material.server_token()),
            0o600,
            0,
            0,
        )?;
    }
    let rke2_90_name = match node.role {
        Role::Server => "/etc/rancher/rke2/config.yaml.d/90-harvester-server.yaml",
        Role::Worker => "/etc/rancher/rke2/config.yaml.d/90-harvester-agent.yaml",
    };
    t.file(rke2_90_name, &rke2_90, 0o600, 0, 0)?;

    // Certificates.
    let id = NodeIdentity::from_plan(plan, node);
    let leaf = if plan.has(Scenario::CertsExpiring) && plan.nth_or_last(3).name == node.name {
        Validity::days_left(now, -5)
    } else if plan.has(Scenario::CertsExpiring) && plan.nth_or_last(2).name == node.name {
        Validity::days_left(now, 10)
    } else {
        Validity::healthy(now)
    };
    let components = if plan.has(Scenario::KcmCertExpired) {
        Validity::issued_days_ago(now, 400, pki::LEAF_DAYS)
    } else {
        Validity::healthy(now)
    };
    t.parents("/var/lib/rancher/rke2/x")?;
    if node.role == Role::Server {
        material
            .pki
            .write_server_tls(upper, &id, leaf, components, plan.rke2_version())?;
        t.file(
            "/var/lib/rancher/rke2/server/tls/dynamic-cert.json",
            &pki::dynamic_cert_json(&material.pki, &id, leaf)?,
            0o600,
            0,
            0,
        )?;
        t.parents("/var/lib/rancher/rke2/server/tls/temporary-certs/x")?;
        fs::set_permissions(
            t.host("/var/lib/rancher/rke2/server/tls/temporary-certs"),
            fs::Permissions::from_mode(0o700),
        )?;
    }
    if node.role == Role::Server && joined {
        // Servers have joined with the true token, whatever their config says now.
        let server_token = material.server_token();
        t.file(
            "/var/lib/rancher/rke2/server/token",
            &format!("{}\n", *server_token),
            0o600,
            0,
            0,
        )?;
        t.symlink("/var/lib/rancher/rke2/server/agent-token", "token")?;
        t.symlink("/var/lib/rancher/rke2/server/node-token", "token")?;
        t.file(
            BOOTSTRAP_TOKEN_HASH,
            &format!(
                "{}\n",
                hex::encode(Sha256::digest(material.token_secret().as_bytes()))
            ),
            0o600,
            0,
            0,
        )?;
    }
    material.pki.write_agent_certs(upper, &id, leaf)?;
    // Containerd's root: image layers with their own CA bundles.
    for (rel, pem) in pki::image_layer_files()? {
        let p = format!("/{}/{rel}", pki::AGENT_DIR);
        t.parents(&p)?;
        t.file(&p, &pem, 0o644, 0, 0)?;
    }
    t.parents("/var/lib/rancher/rke2/agent/containerd/io.containerd.metadata.v1.bolt/x")?;
    t.file(
        "/var/lib/rancher/rke2/agent/containerd/io.containerd.metadata.v1.bolt/meta.db",
        "",
        0o644,
        0,
        0,
    )?;
    t.file(RESUME_MARKER, "", 0o600, 0, 0)?;
    t.parents("/etc/systemd/system/multi-user.target.wants/x")?;
    if joined {
        enable_units(upper, node.role)?;
    } else {
        // rancherd starts RKE2 once it has bootstrapped.
        enable_unit_names(upper, &["rancherd"])?;
    }
    chown_tree(&t.host("/var/lib/rancher"), 0, 0)?;

    // /oem.
    let passwd = if plaintext {
        material.password_clear().to_string()
    } else {
        material.password_hash().to_string()
    };
    let custom = custom_yaml(
        plan,
        node,
        material,
        &rancherd,
        &rke2_40,
        (node.role == Role::Server).then_some(rke2_90.as_str()),
        &passwd,
    );
    write_owned(&oem.join(custom_file_name(plan)), &custom, 0o600, 0, 0)?;
    if plan.has(Scenario::CloudinitPassword) {
        // The CloudInit's file, as node-manager wrote it before the last boot
        // (the lab's API holds the CloudInit itself).
        write_owned(
            &oem.join(CLOUDINIT_PASSWORD_FILE),
            &material.cloudinit_password_yaml(),
            0o600,
            0,
            0,
        )?;
    }
    write_owned(
        &oem.join("harvester.config"),
        &harvester_config(plan, node, material, token, &passwd),
        0o600,
        0,
        0,
    )?;
    write_owned(&oem.join("99_settings.yaml"), &settings_yaml(), 0o600, 0, 0)?;
    fs::create_dir_all(oem.join("install"))?;
    fs::set_permissions(oem.join("install"), fs::Permissions::from_mode(0o700))?;
    Ok(())
}

/// The lab-wide share seen read-only in every node at `/run/harvcred-lab`:
/// the hash of the true token secret and the CAs a renewing agent needs.
pub fn write_share(plan: &LabPlan, material: &ClusterMaterial, share: &Path) -> Result<()> {
    fs::create_dir_all(share)?;
    fs::set_permissions(share, fs::Permissions::from_mode(0o755))?;
    // The RKE2 release installed on the nodes (the stand-ins behave as it does).
    write_owned(
        &share.join(RKE2_VERSION_FILE),
        &format!("{}\n", plan.rke2_version()),
        0o644,
        0,
        0,
    )?;
    write_owned(
        &share.join("cluster-token.sha256"),
        &format!(
            "{}\n",
            hex::encode(Sha256::digest(material.token_secret().as_bytes()))
        ),
        0o644,
        0,
        0,
    )?;
    let ca = share.join("ca");
    for (stem, pair) in [
        ("server-ca", &material.pki.server_ca),
        ("client-ca", &material.pki.client_ca),
    ] {
        write_owned(&ca.join(format!("{stem}.crt")), &pair.cert, 0o644, 0, 0)?;
        write_owned(&ca.join(format!("{stem}.key")), &pair.key, 0o600, 0, 0)?;
    }
    fs::set_permissions(&ca, fs::Permissions::from_mode(0o700))?;
    Ok(())
}

// ---------------------------------------------------------------------------
// What every node shares (installed once into the base tree)

/// A file of the base tree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BaseContent {
    Text(String),
    Symlink(String),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BaseFile {
    /// Absolute path inside the node.
    pub path: String,
    pub content: BaseContent,
    pub mode: u32,
}

pub const UNIT_DIR: &str = "/usr/lib/systemd/system";
/// RKE2's crictl, as the controller-manager certificate workaround calls it.
pub const CRICTL: &str = "/var/lib/rancher/rke2/bin/crictl";

struct UnitSpec {
    description: &'static str,
    docs: &'static str,
    /// `harvcred lab standin <program>`
    program: &'static str,
    /// The journal's SYSLOG_IDENTIFIER, as the real binary's name gives it.
    ident: &'static str,
    conflicts: Option<&'static str>,
    notify: bool,
}

fn unit(u: &UnitSpec) -> String {
    let conflicts = u
        .conflicts
        .map(|c| format!("Conflicts={c}\n"))
        .unwrap_or_default();
    format!(
        "[Unit]\nDescription={description}\nDocumentation={docs}\nWants=network-online.target\nAfter=network-online.target\n{conflicts}\n[Install]\nWantedBy=multi-user.target\n\n[Service]\nType={ty}\nEnvironmentFile=-/etc/default/%N\nEnvironmentFile=-/etc/sysconfig/%N\nEnvironmentFile=-{env}\nKillMode=process\nDelegate=yes\nLimitNOFILE=1048576\nTimeoutStartSec=0\nRestart=always\nRestartSec=5s\nSyslogIdentifier={ident}\n# harvcred lab: a stand-in that logs like the real program.\nExecStart={NODE_BIN} lab standin {program}\n",
        description = u.description,
        docs = u.docs,
        ident = u.ident,
        program = u.program,
        ty = if u.notify { "notify" } else { "simple" },
        env = super::layout::NODE_STANDIN_ENV,
    )
}

/// The stand-in units, the `rke2` wrapper and its link.
pub fn base_files() -> Vec<BaseFile> {
    let text = |path: &str, content: String, mode: u32| BaseFile {
        path: path.to_string(),
        content: BaseContent::Text(content),
        mode,
    };
    let rke2_docs = "https://github.com/rancher/rke2#readme";
    let units = [
        UnitSpec {
            description: "Rancher Kubernetes Engine v2 (server)",
            docs: rke2_docs,
            program: "rke2-server",
            ident: "rke2",
            conflicts: Some("rke2-agent.service"),
            notify: true,
        },
        UnitSpec {
            description: "Rancher Kubernetes Engine v2 (agent)",
            docs: rke2_docs,
            program: "rke2-agent",
            ident: "rke2",
            conflicts: Some("rke2-server.service"),
            notify: true,
        },
        UnitSpec {
            description: "Rancher Bootstrap",
            docs: "https://github.com/rancher/rancherd",
            program: "rancherd",
            ident: "rancherd",
            conflicts: None,
            notify: false,
        },
        UnitSpec {
            description: "Rancher System Agent",
            docs: "https://www.rancher.com",
            program: "rancher-system-agent",
            ident: "rancher-system-agent",
            conflicts: None,
            notify: false,
        },
    ];
    let mut files: Vec<BaseFile> = units
        .iter()
        .map(|u| text(&format!("{UNIT_DIR}/{}.service", u.program), unit(u), 0o644))
        .collect();
    files.push(text(
        super::layout::NODE_RKE2,
        format!(
            "#!/bin/sh\n# harvcred lab: stand-in for the rke2 command.\nexec {NODE_BIN} lab standin rke2 \"$@\"\n"
        ),
        0o755,
    ));
    files.push(text(
        CRICTL,
        format!(
            "#!/bin/sh\n# harvcred lab: stand-in for RKE2's crictl.\nexec {NODE_BIN} lab standin crictl \"$@\"\n"
        ),
        0o755,
    ));
    files.push(BaseFile {
        path: "/usr/local/bin/rke2".into(),
        content: BaseContent::Symlink(super::layout::NODE_RKE2.into()),
        mode: 0o777,
    });
    files
}

/// Install [`base_files`] into a base tree (as root).
pub fn write_base_files(base_root: &Path) -> Result<()> {
    for f in base_files() {
        let p = base_root.join(f.path.trim_start_matches('/'));
        if let Some(d) = p.parent() {
            fs::create_dir_all(d)?;
        }
        match &f.content {
            BaseContent::Text(t) => write_owned(&p, t, f.mode, 0, 0)?,
            BaseContent::Symlink(target) => {
                let _ = fs::remove_file(&p);
                std::os::unix::fs::symlink(target, &p)?;
            }
        }
    }
    Ok(())
}

/// The units a node of `role` starts at boot.
pub fn units_for(role: Role) -> [&'static str; 3] {
    [role.rke2_unit(), "rancherd", "rancher-system-agent"]
}

/// Enable the role's units in a node's upper layer (`multi-user.target.wants` links).
pub fn enable_units(upper: &Path, role: Role) -> Result<()> {
    enable_unit_names(upper, &units_for(role))
}

/// Enable these units in a node's upper layer.
pub fn enable_unit_names(upper: &Path, units: &[&str]) -> Result<()> {
    let wants = upper.join("etc/systemd/system/multi-user.target.wants");
    fs::create_dir_all(&wants)?;
    for u in units {
        let link = wants.join(format!("{u}.service"));
        let _ = fs::remove_file(&link);
        std::os::unix::fs::symlink(format!("{UNIT_DIR}/{u}.service"), &link)
            .with_context(|| format!("enabling {u}"))?;
    }
    Ok(())
}

/// Where a node path lands in a tree rooted at `root`.
pub fn in_root(root: &Path, node_path: &str) -> PathBuf {
    root.join(node_path.trim_start_matches('/'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::process::{Command, Stdio};

    const KEY: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeKeyForTestsOnly0000000000000000000 lab-operator";

    fn plan(scenarios: Vec<Scenario>, count: usize) -> LabPlan {
        LabPlan {
            id: "hc7".into(),
            dir: "/tmp/x".into(),
            subnet: [10, 213, 7],
            nodes: LabPlan::make_nodes([10, 213, 7], count, 3),
            scenarios,
            api_port: 6443,
        }
    }

    fn fake_base() -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        fs::create_dir_all(d.path().join("etc")).unwrap();
        fs::create_dir_all(d.path().join("home/rancher")).unwrap();
        fs::write(
            d.path().join("etc/shadow"),
            "root:*:20000:0:99999:7:::\nsshd:!:20000::::::\nrancher:!:20000:0:99999:7:::\n",
        )
        .unwrap();
        fs::write(
            d.path().join("etc/group"),
            "root:x:0:\nshadow:x:42:\nrancher:x:1000:\n",
        )
        .unwrap();
        d
    }

    struct Seeded {
        _base: tempfile::TempDir,
        dir: tempfile::TempDir,
    }
    impl Seeded {
        fn upper(&self, node: &str, p: &str) -> PathBuf {
            in_root(&self.dir.path().join(node).join("upper"), p)
        }
        fn oem(&self, node: &str, f: &str) -> PathBuf {
            self.dir.path().join(node).join("oem").join(f)
        }
        fn read_upper(&self, node: &str, p: &str) -> String {
            fs::read_to_string(self.upper(node, p)).unwrap()
        }
        fn read_oem(&self, node: &str, f: &str) -> String {
            fs::read_to_string(self.oem(node, f)).unwrap()
        }
    }

    /// What the first boot makes of the seeded tree: the image's /etc, then
    /// yip's stages over /oem.
    fn boot_with_yip(base: &Path, upper: &Path, oem: &Path) {
        fs::create_dir_all(upper.join("etc")).unwrap();
        for f in ["etc/shadow", "etc/group"] {
            fs::copy(base.join(f), upper.join(f)).unwrap();
        }
        std::os::unix::fs::chown(upper.join("etc/shadow"), Some(0), Some(42)).unwrap();
        fs::set_permissions(upper.join("etc/shadow"), fs::Permissions::from_mode(0o640)).unwrap();
        fs::write(
            upper.join("etc/passwd"),
            "root:x:0:0::/root:/bin/sh\nrancher:x:1000:1000::/home/rancher:/bin/bash\n",
        )
        .unwrap();
        let mut y = super::super::yip::Applier::new(upper).with_oem(oem);
        for phase in ["boot", "network"] {
            let st = y.run(phase, super::super::yip::phase_stages(phase).unwrap());
            assert!(st.ok, "{st:?}");
        }
    }

    fn seed_all(plan: &LabPlan, material: &ClusterMaterial) -> Seeded {
        let base = fake_base();
        let dir = tempfile::tempdir().unwrap();
        for n in &plan.nodes {
            let nd = dir.path().join(&n.name);
            seed_node(
                plan,
                n,
                material,
                base.path(),
                &nd.join("upper"),
                &nd.join("oem"),
            )
            .unwrap();
            boot_with_yip(base.path(), &nd.join("upper"), &nd.join("oem"));
        }
        Seeded { _base: base, dir }
    }

    fn yaml(text: &str) -> serde_json::Value {
        serde_saphyr::from_str(text).unwrap_or_else(|e| panic!("{e}\n{text}"))
    }

    fn leaf_days_left(s: &Seeded, node: &str, file: &str) -> i64 {
        let info = pki::read_chain(&s.read_upper(node, file)).unwrap();
        (info[0].not_after - OffsetDateTime::now_utc()).whole_days()
    }

    #[test]
    fn password_hash_has_a_16_char_salt_and_openssl_agrees() {
        let p = plan(vec![], 1);
        let m = ClusterMaterial::generate(&p, KEY).unwrap();
        let hash = m.password_hash();
        let parts: Vec<&str> = hash.split('$').collect();
        assert_eq!(parts[1], "6");
        assert_eq!(parts[2].len(), 16, "{hash}");
        assert_eq!(m.password_clear().len(), 16);
        // Independent check: openssl's crypt, password on stdin.
        let mut child = Command::new("openssl")
            .args(["passwd", "-6", "-salt", parts[2], "-stdin"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(format!("{}\n", m.password_clear()).as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), hash);
        // No secret in Debug.
        let dbg = format!("{m:?}");
        assert!(
            !dbg.contains(m.password_clear()) && !dbg.contains(m.token_secret()),
            "{dbg}"
        );
        assert!(!dbg.contains(hash));
        assert_eq!(m.http_proxy_setting(), None);
    }

    #[test]
    fn healthy_cluster_is_coherent() {
        let p = plan(vec![], 4);
        let m = ClusterMaterial::generate(&p, KEY).unwrap();
        let s = seed_all(&p, &m);

        // Token file: K10 + hash of the server-ca.crt actually written.
        let ca = s.read_upper("node2", "/var/lib/rancher/rke2/server/tls/server-ca.crt");
        let token = s.read_upper("node2", "/var/lib/rancher/rke2/server/token");
        assert_eq!(
            token.trim(),
            format!("K10{}::server:{}", pki::ca_hash(&ca), m.token_secret())
        );
        assert_eq!(token.trim(), m.server_token().as_str());
        // Rancher's drop-in names the same token and overrides rancherd's.
        for n in ["node1", "node4"] {
            let d50 = yaml(&s.read_upper(n, "/etc/rancher/rke2/config.yaml.d/50-rancher.yaml"));
            assert_eq!(d50["token"], m.server_token().as_str(), "{n}");
        }
        // Containerd's tree on every node: image CA bundles, one root expired in 2020.
        let bundle = s.read_upper(
            "node4",
            "/var/lib/rancher/rke2/agent/containerd/io.containerd.snapshotter.v1.overlayfs/snapshots/17/fs/etc/ssl/certs/ca-certificates.crt",
        );
        let certs = pki::read_chain(&bundle).unwrap();
        assert_eq!(certs.len(), 3);
        assert!(
            certs
                .iter()
                .any(|c| c.cn == "AddTrust External CA Root" && c.not_after.year() == 2020)
        );
        assert!(
            s.read_upper(
                "node2",
                "/var/lib/rancher/rke2/server/tls/dynamic-cert.json"
            )
            .contains("\"tls.crt\"")
        );
        assert_eq!(
            fs::read_link(s.upper("node1", "/var/lib/rancher/rke2/server/agent-token")).unwrap(),
            Path::new("token")
        );
        let mode = |p: PathBuf| fs::metadata(p).unwrap().mode();
        assert_eq!(
            mode(s.upper("node1", "/var/lib/rancher/rke2/server/token")) & 0o777,
            0o600
        );
        // Units enabled per role.
        let wants = "/etc/systemd/system/multi-user.target.wants";
        assert!(
            fs::symlink_metadata(s.upper("node1", &format!("{wants}/rke2-server.service"))).is_ok()
        );
        assert!(
            fs::symlink_metadata(s.upper("node4", &format!("{wants}/rke2-agent.service"))).is_ok()
        );
        assert!(
            fs::symlink_metadata(s.upper("node4", &format!("{wants}/rke2-server.service")))
                .is_err()
        );
        // Workers have agent certs but no server tree.
        assert!(!s.upper("node4", "/var/lib/rancher/rke2/server").exists());
        assert!(
            s.upper("node4", "/var/lib/rancher/rke2/agent/client-kubelet.crt")
                .exists()
        );
        // Same CA on every server.
        assert_eq!(
            ca,
            s.read_upper("node3", "/var/lib/rancher/rke2/server/tls/server-ca.crt")
        );

        // rancherd config per role.
        let rc = |n: &str| yaml(&s.read_upper(n, "/etc/rancher/rancherd/config.yaml"));
        assert_eq!(rc("node1")["role"], "cluster-init");
        assert!(rc("node1").get("server").is_none());
        assert_eq!(rc("node2")["role"], "server");
        assert_eq!(rc("node2")["server"], "https://10.213.7.10:443");
        assert_eq!(rc("node4")["role"], "agent");
        assert_eq!(rc("node4")["token"], m.token_secret());
        assert_eq!(rc("node1")["kubernetesVersion"], pki::RKE2_VERSION);
        let r90 = yaml(&s.read_upper(
            "node1",
            "/etc/rancher/rke2/config.yaml.d/90-harvester-server.yaml",
        ));
        assert_eq!(r90["tls-san"][0], "10.213.7.10");
        assert!(r90.get("token").is_none());
        assert_eq!(
            yaml(&s.read_upper("node3", "/etc/rancher/rke2/config.yaml.d/40-rancherd.yaml"))["token"],
            m.token_secret()
        );

        // 90_custom.yaml parses and carries what the installer puts there.
        let c = yaml(&s.read_oem("node2", "90_custom.yaml"));
        assert_eq!(c["name"], "Harvester Configuration");
        let init = &c["stages"]["initramfs"][0];
        assert_eq!(init["users"]["rancher"]["passwd"], m.password_hash());
        assert_eq!(init["hostname"], "node2");
        let f = &init["files"][0];
        assert_eq!(f["path"], "/etc/rancher/rancherd/config.yaml");
        assert_eq!(f["permissions"], 384);
        assert_eq!(
            f["content"].as_str().unwrap(),
            s.read_upper("node2", "/etc/rancher/rancherd/config.yaml")
        );
        assert_eq!(
            c["stages"]["network"][0]["authorized_keys"]["rancher"][0],
            KEY
        );
        assert!(s.read_oem("node2", "90_custom.yaml").starts_with("# "));
        let hc = yaml(&s.read_oem("node2", "harvester.config"));
        assert_eq!(hc["install"]["mode"], "join");
        assert_eq!(hc["token"], m.token_secret());
        assert_eq!(hc["os"]["password"], m.password_hash());
        assert_eq!(
            yaml(&s.read_oem("node1", "harvester.config"))["install"]["mode"],
            "create"
        );
        yaml(&s.read_oem("node1", "99_settings.yaml"));
        assert!(s.oem("node1", "install").is_dir());

        // shadow: rancher's field replaced, others kept, root:shadow 0640.
        let shadow = s.read_upper("node1", "/etc/shadow");
        assert!(shadow.starts_with("root:*:20000:0:99999:7:::\nsshd:!:20000::::::\n"));
        let rancher: Vec<&str> = shadow.lines().nth(2).unwrap().split(':').collect();
        assert_eq!(rancher[1], m.password_hash());
        assert!(rancher[2].parse::<i64>().unwrap() > 20000);
        let meta = fs::metadata(s.upper("node1", "/etc/shadow")).unwrap();
        assert_eq!(
            (meta.mode() & 0o777, meta.uid(), meta.gid()),
            (0o640, 0, 42)
        );
        // authorized_keys owned by rancher.
        let meta = fs::metadata(s.upper("node1", "/home/rancher/.ssh/authorized_keys")).unwrap();
        assert_eq!(
            (meta.mode() & 0o777, meta.uid(), meta.gid()),
            (0o600, 1000, 1000)
        );
        let meta = fs::metadata(s.upper("node1", "/home/rancher/.ssh")).unwrap();
        assert_eq!((meta.mode() & 0o777, meta.uid()), (0o700, 1000));
        assert_eq!(s.read_upper("node1", "/etc/hostname"), "node1\n");
        assert!(!s.upper("node1", "/etc/environment").exists());
        // Healthy certs: ~335 days left.
        assert_eq!(
            leaf_days_left(
                &s,
                "node2",
                "/var/lib/rancher/rke2/server/tls/client-admin.crt"
            ),
            334
        );
    }

    #[test]
    fn cert_scenarios_expire_what_they_say() {
        let p = plan(vec![Scenario::CertsExpiring, Scenario::KcmCertExpired], 4);
        let m = ClusterMaterial::generate(&p, KEY).unwrap();
        let s = seed_all(&p, &m);
        let admin = "/var/lib/rancher/rke2/server/tls/client-admin.crt";
        let kubelet = "/var/lib/rancher/rke2/agent/serving-kubelet.crt";
        assert!(leaf_days_left(&s, "node1", admin) > 300);
        assert_eq!(leaf_days_left(&s, "node2", admin), 9);
        assert_eq!(leaf_days_left(&s, "node2", kubelet), 9);
        assert!(leaf_days_left(&s, "node3", admin) < 0);
        assert!(
            leaf_days_left(
                &s,
                "node3",
                "/var/lib/rancher/rke2/server/tls/etcd/client.crt"
            ) < 0
        );
        for n in ["node1", "node2", "node3"] {
            for f in [
                "kube-controller-manager/kube-controller-manager.crt",
                "kube-scheduler/kube-scheduler.crt",
            ] {
                let d = leaf_days_left(&s, n, &format!("/var/lib/rancher/rke2/server/tls/{f}"));
                assert!(d < -30, "{n} {f} {d}");
            }
        }
        // CAs untouched.
        let ca = pki::read_chain(
            &s.read_upper("node3", "/var/lib/rancher/rke2/server/tls/client-ca.crt"),
        )
        .unwrap();
        assert!((ca[0].not_after - OffsetDateTime::now_utc()).whole_days() > 3000);
    }

    #[test]
    fn token_mismatch_changes_the_last_nodes_copies_only() {
        let p = plan(vec![Scenario::TokenMismatch], 3);
        let m = ClusterMaterial::generate(&p, KEY).unwrap();
        let s = seed_all(&p, &m);
        let tok = |n: &str| {
            yaml(&s.read_upper(n, "/etc/rancher/rancherd/config.yaml"))["token"]
                .as_str()
                .unwrap()
                .to_string()
        };
        assert_eq!(tok("node2"), m.token_secret());
        let wrong = tok("node3");
        assert_ne!(wrong, m.token_secret());
        assert_eq!(
            yaml(&s.read_upper("node3", "/etc/rancher/rke2/config.yaml.d/40-rancherd.yaml"))["token"],
            wrong.as_str()
        );
        assert_eq!(
            yaml(&s.read_oem("node3", "harvester.config"))["token"],
            wrong.as_str()
        );
        let c = yaml(&s.read_oem("node3", "90_custom.yaml"));
        assert!(
            c["stages"]["initramfs"][0]["files"][0]["content"]
                .as_str()
                .unwrap()
                .contains(&wrong)
        );
        // The share names the true token's hash.
        let share = s.dir.path().join("share");
        write_share(&p, &m, &share).unwrap();
        let h = fs::read_to_string(share.join("cluster-token.sha256")).unwrap();
        assert_eq!(
            h.trim(),
            hex::encode(Sha256::digest(m.token_secret().as_bytes()))
        );
        assert!(share.join("ca/client-ca.key").exists());
    }

    #[test]
    fn proxy_drift_and_plaintext_password() {
        let p = plan(vec![Scenario::ProxyDrift, Scenario::PlaintextPassword], 3);
        let m = ClusterMaterial::generate(&p, KEY).unwrap();
        let setting: serde_json::Value =
            serde_json::from_str(m.http_proxy_setting().unwrap()).unwrap();
        assert_eq!(setting["httpProxy"], "http://10.213.7.1:3128");
        assert!(
            setting["noProxy"]
                .as_str()
                .unwrap()
                .ends_with(",10.213.7.0/24")
        );
        let s = seed_all(&p, &m);
        assert!(
            s.read_upper("node1", "/etc/environment")
                .contains("http_proxy=\"http://proxy.old.example:8080\"")
        );
        assert!(
            s.read_upper("node2", "/etc/environment")
                .contains("https_proxy=\"http://10.213.7.1:3128\"\n")
        );
        let env = |n: &str| {
            yaml(&s.read_oem(n, "90_custom.yaml"))["stages"]["initramfs"][0]["environment"].clone()
        };
        assert_eq!(env("node1")["http_proxy"], OLD_PROXY);
        assert_eq!(env("node3")["http_proxy"], "http://10.213.7.1:3128");

        // node1: clear text in /oem, hashed by yip at boot (16-character salt).
        let c = yaml(&s.read_oem("node1", "90_custom.yaml"));
        assert_eq!(
            c["stages"]["initramfs"][0]["users"]["rancher"]["passwd"],
            m.password_clear()
        );
        let shadow = s.read_upper("node1", "/etc/shadow");
        let hash = shadow
            .lines()
            .find(|l| l.starts_with("rancher:"))
            .unwrap()
            .split(':')
            .nth(1)
            .unwrap();
        let salt = hash.split('$').nth(2).unwrap();
        assert_eq!(salt.len(), 16);
        let out = Command::new("sh")
            .args(["-c", &format!("openssl passwd -6 -salt '{salt}' -stdin")])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .and_then(|mut c| {
                c.stdin
                    .take()
                    .unwrap()
                    .write_all(m.password_clear().as_bytes())?;
                c.wait_with_output()
            })
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), hash);
        // The install config, from which 90_custom.yaml was made, has it in clear too.
        assert_eq!(
            yaml(&s.read_oem("node1", "harvester.config"))["os"]["password"],
            m.password_clear()
        );
        // node2 keeps the hash.
        let c2 = yaml(&s.read_oem("node2", "90_custom.yaml"));
        assert_eq!(
            c2["stages"]["initramfs"][0]["users"]["rancher"]["passwd"],
            m.password_hash()
        );
    }

    #[test]
    fn base_files_and_enabled_units() {
        let d = tempfile::tempdir().unwrap();
        write_base_files(d.path()).unwrap();
        let unit = fs::read_to_string(d.path().join("usr/lib/systemd/system/rke2-server.service"))
            .unwrap();
        assert!(unit.contains("ExecStart=/opt/harvcred-lab/harvcred lab standin rke2-server\n"));
        assert!(
            unit.contains("Restart=always\n")
                && unit.contains("EnvironmentFile=-/etc/default/harvcred-lab-standin\n")
        );
        assert_eq!(
            fs::read_link(d.path().join("usr/local/bin/rke2")).unwrap(),
            Path::new("/opt/rke2/bin/rke2")
        );
        let meta = fs::metadata(d.path().join("opt/rke2/bin/rke2")).unwrap();
        assert_eq!(meta.mode() & 0o777, 0o755);
        enable_units(d.path(), Role::Worker).unwrap();
        let wants = d.path().join("etc/systemd/system/multi-user.target.wants");
        assert_eq!(
            fs::read_link(wants.join("rke2-agent.service")).unwrap(),
            Path::new("/usr/lib/systemd/system/rke2-agent.service")
        );
        assert!(!wants.join("rke2-server.service").exists());
        assert!(fs::symlink_metadata(wants.join("rancherd.service")).is_ok());
    }

    #[test]
    fn material_round_trips_through_json() {
        let p = plan(vec![Scenario::ProxyDrift], 1);
        let m = ClusterMaterial::generate(&p, KEY).unwrap();
        let back: ClusterMaterial =
            serde_json::from_str(&serde_json::to_string(&m).unwrap()).unwrap();
        assert_eq!(back.server_token().as_str(), m.server_token().as_str());
        assert_eq!(back.password_hash(), m.password_hash());
        assert_eq!(back.http_proxy_setting(), m.http_proxy_setting());
    }
}
