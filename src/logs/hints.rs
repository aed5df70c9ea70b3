//! Known failure lines, and what to do about them.
//!
//! The pane checks every line against [`HINTS`] when it arrives (not per
//! frame) and marks lines that have an explanation; the operator can then
//! jump to the console view that fixes the problem. To add a hint, add an
//! entry to the table: a list of alternatives, each a list of substrings that
//! must all occur in the line. Patterns are exact (case-sensitive) substrings
//! of the messages RKE2, rancherd and rancher-system-agent print; keep them
//! short (≤ 32 bytes lets the standard library's vectorised search apply).
//! Sources are in `reference/harvester.md` §3, §5, §6.

/// Where in the console the fix lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Goto {
    Certs,
    Keys,
    Password,
    Token,
    Proxy,
    Nodes,
}

impl Goto {
    /// The `:` command that opens the view.
    pub fn command(self) -> &'static str {
        match self {
            Goto::Certs => ":certs",
            Goto::Keys => ":keys",
            Goto::Password => ":password",
            Goto::Token => ":token",
            Goto::Proxy => ":proxy",
            Goto::Nodes => ":nodes",
        }
    }
}

/// One known failure.
#[derive(Debug, PartialEq, Eq)]
pub struct Hint {
    /// Stable identifier (for tests, help text, and "don't show again").
    pub id: &'static str,
    /// Matches if for some alternative all its substrings occur in the line.
    pub patterns: &'static [&'static [&'static str]],
    /// One line: what the message means.
    pub title: &'static str,
    /// Why it happens.
    pub explanation: &'static str,
    /// What to do.
    pub action: &'static str,
    pub goto: Goto,
}

impl Hint {
    pub fn matches(&self, line: &str) -> bool {
        self.patterns
            .iter()
            .any(|all| all.iter().all(|p| line.contains(p)))
    }
}

/// The table, most specific first: the first match wins.
pub static HINTS: &[Hint] = &[
    Hint {
        id: "token-rotated",
        patterns: &[&["encrypted with different token"]],
        title: "The cluster token was changed",
        explanation: "rke2-server found bootstrap data encrypted with another token. The server \
                      token is the passphrase of the bootstrap data, so after `rke2 token rotate` \
                      (or a hand edit) this node can no longer read it.",
        action: "Do not rotate the token on Harvester. Give this node the token the datastore \
                 is encrypted with: after `rke2 token rotate` that is the NEW token (rotate \
                 re-encrypted the datastore; putting the previous one back does not help), after \
                 a hand edit the old one. Compare /var/lib/rancher/rke2/server/token of a running \
                 server, /oem/harvester.config, /etc/rancher/rancherd/config.yaml and the \
                 fleet-local/local-rke-state secret in the token view, then restart rke2-server.",
        goto: Goto::Token,
    },
    Hint {
        id: "join-token-mismatch",
        patterns: &[&["Bad Gateway getting cacerts"], &["likely token mismatch"]],
        title: "A joining node's token differs from the cluster's",
        explanation: "rancherd on the joining node cannot fetch the cluster CA: the server \
                      answers 502 on /cacerts when the token is wrong.",
        action: "Compare the token hashes in the token view. On the joining node fix token: in \
                 /etc/rancher/rancherd/config.yaml and in the rancherd file inside \
                 /oem/90_custom.yaml (it is re-rendered from there at boot), then restart \
                 rancherd: `harvcred token fix --node NODE` does this.",
        goto: Goto::Token,
    },
    Hint {
        id: "controller-manager-scheduler-certs",
        patterns: &[
            &["waiting for probes:", "kube-controller-manager"],
            &["waiting for probes:", "kube-scheduler"],
        ],
        title: "kube-controller-manager / kube-scheduler serving certificates expired",
        explanation: "Their self-signed serving certificates (server/tls/kube-controller-manager/, \
                      kube-scheduler/) are not rotated with the other RKE2 certificates, so \
                      Rancher's health probes on ports 10257/10259 fail after a year.",
        action: "In the certificates view run the controller-manager/scheduler workaround: \
                 remove their .crt/.key and restart both static pods (crictl rm -f).",
        goto: Goto::Certs,
    },
    Hint {
        id: "agent-secret-too-old",
        patterns: &[&["secret received was too old"]],
        title: "Certificates expired before auto-rotation could renew them",
        explanation: "rancher-system-agent rejects the plan secret; auto-rotation cannot repair \
                      certificates that have already expired.",
        action: "Rotate the certificates by hand on this node (certificates view: stop \
                 rke2-server, rke2 certificate rotate, start), then restart \
                 rancher-system-agent.",
        goto: Goto::Certs,
    },
    Hint {
        id: "cert-expired",
        patterns: &[&["x509: certificate has expired"]],
        title: "An expired (or not yet valid) certificate",
        explanation: "A TLS peer presented a certificate outside its validity period, or this \
                      node's clock is wrong.",
        action: "Check days left in the certificates view and rotate; check the node's time.",
        goto: Goto::Certs,
    },
    Hint {
        id: "proxy-connect",
        patterns: &[&["proxyconnect tcp"]],
        title: "A connection through the HTTP proxy failed",
        explanation: "A component tried to reach a host through the configured proxy and the \
                      proxy refused or was unreachable; cluster-internal addresses missing from \
                      noProxy end up here too.",
        action: "Check the http-proxy setting and noProxy (node IPs or CIDR, cluster CIDRs, \
                 the VIP) in the proxy view.",
        goto: Goto::Proxy,
    },
];

/// The shortest pattern: lines shorter than this cannot match.
fn min_len() -> usize {
    // Computed once; a const fn over the table would need nested const loops.
    static MIN: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *MIN.get_or_init(|| {
        HINTS
            .iter()
            .flat_map(|h| h.patterns.iter())
            .map(|all| all.iter().map(|p| p.len()).max().unwrap_or(0))
            .min()
            .unwrap_or(0)
    })
}

/// The explanation for a known failure line, if there is one.
pub fn hint_for(line: &str) -> Option<&'static Hint> {
    if line.len() < min_len() {
        return None;
    }
    HINTS.iter().find(|h| h.matches(line))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(line: &str) -> Option<&'static str> {
        hint_for(line).map(|h| h.id)
    }

    #[test]
    fn known_failure_lines() {
        assert_eq!(
            id(
                "time=\"2024-05-31T10:00:00Z\" level=fatal msg=\"Failed to reconcile with temporary etcd: bootstrap data already found and encrypted with different token\""
            ),
            Some("token-rotated")
        );
        assert_eq!(
            id(
                "time=\"…\" level=error msg=\"failed to bootstrap system, will retry: generating plan: response 502: 502  Bad Gateway getting cacerts: <html>\""
            ),
            Some("join-token-mismatch")
        );
        assert_eq!(
            id(
                "failed to get cacerts (HTTP 502 Bad Gateway): likely token mismatch or incorrect server URL; check the token"
            ),
            Some("join-token-mismatch")
        );
        assert_eq!(
            id(
                "E1129 11:07:03 x509: certificate has expired or is not yet valid: current time 2026-11-29T11:07:03Z is after 2026-11-01T00:00:00Z"
            ),
            Some("cert-expired")
        );
        assert_eq!(
            id(
                "[INFO ] configuring bootstrap node(s) custom-1a2b: waiting for probes: kube-controller-manager, kube-scheduler"
            ),
            Some("controller-manager-scheduler-certs")
        );
        assert_eq!(
            id("waiting for probes: kube-scheduler"),
            Some("controller-manager-scheduler-certs")
        );
        assert_eq!(
            id("level=error msg=\"[K8s] secret received was too old, ignoring\""),
            Some("agent-secret-too-old")
        );
        assert_eq!(
            id(
                "Get \"https://10.0.0.1/\": proxyconnect tcp: dial tcp 10.1.1.1:3128: connect: connection refused"
            ),
            Some("proxy-connect")
        );
    }

    #[test]
    fn ordinary_lines_have_no_hint() {
        for l in [
            "",
            "short",
            "level=info msg=\"Running kube-apiserver --advertise-port=6443\"",
            "waiting for probes: etcd, kube-apiserver",
            "Certificate expires in 200 days",
            "certificate has expired", // without the x509 context
        ] {
            assert_eq!(id(l), None, "{l}");
        }
    }

    #[test]
    fn table_is_well_formed() {
        let mut ids = std::collections::HashSet::new();
        for h in HINTS {
            assert!(ids.insert(h.id), "duplicate id {}", h.id);
            assert!(!h.patterns.is_empty() && h.patterns.iter().all(|a| !a.is_empty()));
            assert!(
                h.patterns
                    .iter()
                    .flat_map(|a| a.iter())
                    .all(|p| !p.is_empty() && p.len() <= 32)
            );
            assert!(!h.title.is_empty() && !h.explanation.is_empty() && !h.action.is_empty());
            assert!(h.goto.command().starts_with(':'));
        }
    }
}
