//! What a lab is made of, decided before anything is created: names, addresses,
//! roles and scenarios. Every other lab module works from a `LabPlan`.

use std::fmt;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A node's role in the cluster: the first three nodes are management (server)
/// nodes, further ones workers, as Harvester promotes them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    Server,
    Worker,
}

impl Role {
    /// The RKE2 unit that runs on a node of this role.
    pub fn rke2_unit(self) -> &'static str {
        match self {
            Role::Server => "rke2-server",
            Role::Worker => "rke2-agent",
        }
    }
}

/// Problems the lab can reproduce, as Harvester's security guide describes them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Scenario {
    /// Everything fresh and coherent (the default).
    Healthy,
    /// One node's leaf certificates have 10 days left, another's have expired.
    CertsExpiring,
    /// kube-controller-manager and kube-scheduler serving certs expired on every server.
    KcmCertExpired,
    /// The last node has not joined: its rancherd token differs and its
    /// rancherd journal shows the 502 cacerts retries.
    TokenMismatch,
    /// http-proxy is set and one node's /etc/environment disagrees with it.
    ProxyDrift,
    /// One node's /oem holds the rancher password in clear text.
    PlaintextPassword,
    /// The cluster runs an RKE2 from before May 2025 (as Harvester up to
    /// v1.5 ships): 90-day renewal window, self-signed component certs.
    OldRke2,
    /// A cluster installed before Harvester v1.1.2: `/oem/99_custom.yaml`, keys
    /// in the initramfs stage and under the user, a `rootfs` stage with an
    /// `environment_file`, joining nodes with rancherd `role: agent`.
    OldLayout,
    /// A CloudInit `99_passwd.yaml` sets another rancher password than the
    /// installer's (and the nodes have rebooted since).
    CloudinitPassword,
    /// Harvester before v1.3: the API serves no CloudInit resource (no
    /// `node.harvesterhci.io` group), so persisting means editing `/oem`.
    NoCloudinit,
    /// The lab's Rancher holds a Harvester cloud credential whose token
    /// expires in 5 days.
    CloudcredExpiring,
    /// The lab's Rancher holds a Harvester cloud credential whose token
    /// expired 2 days ago.
    CloudcredExpired,
}

impl Scenario {
    pub const ALL: [Scenario; 12] = [
        Scenario::Healthy,
        Scenario::CertsExpiring,
        Scenario::KcmCertExpired,
        Scenario::TokenMismatch,
        Scenario::ProxyDrift,
        Scenario::PlaintextPassword,
        Scenario::OldRke2,
        Scenario::OldLayout,
        Scenario::CloudinitPassword,
        Scenario::NoCloudinit,
        Scenario::CloudcredExpiring,
        Scenario::CloudcredExpired,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Scenario::Healthy => "healthy",
            Scenario::CertsExpiring => "certs-expiring",
            Scenario::KcmCertExpired => "kcm-cert-expired",
            Scenario::TokenMismatch => "token-mismatch",
            Scenario::ProxyDrift => "proxy-drift",
            Scenario::PlaintextPassword => "plaintext-password",
            Scenario::OldRke2 => "old-rke2",
            Scenario::OldLayout => "old-layout",
            Scenario::CloudinitPassword => "cloudinit-password",
            Scenario::NoCloudinit => "no-cloudinit",
            Scenario::CloudcredExpiring => "cloudcred-expiring",
            Scenario::CloudcredExpired => "cloudcred-expired",
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            Scenario::Healthy => "every credential fresh and coherent",
            Scenario::CertsExpiring => {
                "node2's leaf certificates expire in 10 days, node3's have expired"
            }
            Scenario::KcmCertExpired => {
                "older RKE2 (as old-rke2) whose self-signed kube-controller-manager and kube-scheduler serving certificates expired on every server"
            }
            Scenario::TokenMismatch => {
                "the last node was reinstalled with a wrong token and has not joined: its rancherd log shows 502 cacerts retries, its Node is not Ready"
            }
            Scenario::ProxyDrift => {
                "http-proxy is set and node1's /etc/environment names another proxy"
            }
            Scenario::PlaintextPassword => {
                "node1's /oem/90_custom.yaml holds the password in clear text"
            }
            Scenario::OldRke2 => {
                "RKE2 v1.32.3 (before May 2025): renews within 90 days, components self-sign their serving certs"
            }
            Scenario::OldLayout => {
                "installed before v1.1.2: /oem/99_custom.yaml, SSH keys in the initramfs stage and under users.rancher, a rootfs stage with environment_file, joining nodes with rancherd role: agent"
            }
            Scenario::CloudinitPassword => {
                "a CloudInit 99_passwd.yaml overrides the installer's rancher password (rancher-password holds the one in force)"
            }
            Scenario::NoCloudinit => {
                "before Harvester v1.3: the API serves no CloudInit resource (node.harvesterhci.io)"
            }
            Scenario::CloudcredExpiring => {
                "the lab's Rancher holds a Harvester cloud credential whose token expires in 5 days"
            }
            Scenario::CloudcredExpired => {
                "the lab's Rancher holds a Harvester cloud credential whose token expired 2 days ago"
            }
        }
    }
}

impl fmt::Display for Scenario {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Scenario {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Scenario::ALL
            .into_iter()
            .find(|sc| sc.name() == s)
            .ok_or_else(|| {
                let names: Vec<_> = Scenario::ALL.iter().map(|s| s.name()).collect();
                format!("unknown scenario {s:?}; known: {}", names.join(", "))
            })
    }
}

/// One node of the lab.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodePlan {
    /// 1-based position; node1 is the first management node (role cluster-init).
    pub index: usize,
    /// Kubernetes node name, hostname and SSH alias at once: `node1`, `node2`, ...
    pub name: String,
    pub ip: Ipv4Addr,
    pub role: Role,
}

/// Everything decided about a lab before it is built.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabPlan {
    /// Short unique id of this lab on the machine, e.g. `hc7`; prefixes every
    /// interface, namespace and machine name it creates.
    pub id: String,
    /// The lab's folder: kubeconfig, ssh_config, keys, record, node trees.
    pub dir: PathBuf,
    /// The first three octets of the lab's /24, e.g. [10, 213, 7].
    pub subnet: [u8; 3],
    pub nodes: Vec<NodePlan>,
    pub scenarios: Vec<Scenario>,
    /// Port of the Harvester API on the bridge address.
    pub api_port: u16,
}

impl LabPlan {
    /// The host side of the lab's bridge, where the API listens.
    pub fn gateway(&self) -> Ipv4Addr {
        self.host(1)
    }

    /// The cluster VIP as a Harvester install would have it (not answered by
    /// anything in the lab, but named in configs and noProxy advice).
    pub fn vip(&self) -> Ipv4Addr {
        self.host(10)
    }

    pub fn host(&self, last: u8) -> Ipv4Addr {
        let [a, b, c] = self.subnet;
        Ipv4Addr::new(a, b, c, last)
    }

    /// `10.213.7.0/24`
    pub fn cidr(&self) -> String {
        format!("{}/24", self.host(0))
    }

    pub fn has(&self, scenario: Scenario) -> bool {
        self.scenarios.contains(&scenario)
    }

    /// The RKE2 the cluster runs. Expired self-signed component certificates
    /// only happen with an RKE2 that lets the components sign their own.
    pub fn rke2_version(&self) -> &'static str {
        if self.has(Scenario::OldRke2) || self.has(Scenario::KcmCertExpired) {
            crate::lab::pki::OLD_RKE2_VERSION
        } else {
            crate::lab::pki::RKE2_VERSION
        }
    }

    pub fn api_url(&self) -> String {
        format!("https://{}:{}", self.gateway(), self.api_port)
    }

    pub fn node(&self, name: &str) -> Option<&NodePlan> {
        self.nodes.iter().find(|n| n.name == name)
    }

    /// The node a single-node scenario applies to, by 1-based position,
    /// falling back to the last node on smaller labs.
    pub fn nth_or_last(&self, index: usize) -> &NodePlan {
        self.nodes
            .get(index.saturating_sub(1))
            .unwrap_or_else(|| self.nodes.last().expect("a lab has at least one node"))
    }

    /// Node IPs start at .11 so that .1 (bridge) and .10 (VIP) stay free.
    pub fn node_ip(subnet: [u8; 3], index: usize) -> Ipv4Addr {
        let [a, b, c] = subnet;
        Ipv4Addr::new(a, b, c, 10 + index as u8)
    }

    /// Build the node list: the first `servers` nodes are management nodes.
    pub fn make_nodes(subnet: [u8; 3], count: usize, servers: usize) -> Vec<NodePlan> {
        (1..=count)
            .map(|index| NodePlan {
                index,
                name: format!("node{index}"),
                ip: Self::node_ip(subnet, index),
                role: if index <= servers {
                    Role::Server
                } else {
                    Role::Worker
                },
            })
            .collect()
    }
}

/// Largest lab: node addresses .11 to .254 of the /24.
pub const MAX_NODES: usize = 200;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_three_nodes_are_servers_and_addresses_skip_gateway_and_vip() {
        let nodes = LabPlan::make_nodes([10, 213, 7], 5, 3);
        assert_eq!(nodes[0].ip, Ipv4Addr::new(10, 213, 7, 11));
        assert_eq!(nodes[4].ip, Ipv4Addr::new(10, 213, 7, 15));
        let roles: Vec<_> = nodes.iter().map(|n| n.role).collect();
        assert_eq!(
            roles,
            [
                Role::Server,
                Role::Server,
                Role::Server,
                Role::Worker,
                Role::Worker
            ]
        );
        assert_eq!(nodes[3].name, "node4");
    }

    #[test]
    fn scenario_names_round_trip_and_unknown_names_list_the_known_ones() {
        for s in Scenario::ALL {
            assert_eq!(s.name().parse::<Scenario>().unwrap(), s);
        }
        let err = "certs".parse::<Scenario>().unwrap_err();
        assert!(err.contains("certs-expiring"), "{err}");
    }
}
