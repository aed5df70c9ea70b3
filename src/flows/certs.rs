//! The certificate changes on the walkthrough engine: auto-rotation
//! (`auto-rotate-rke2-certs`), rotate now (Rancher's generation bump),
//! rotate one node by hand (`rke2 certificate rotate`), and the
//! controller-manager/scheduler fix. Pure: what is checked, what is written
//! where; `cli::certs` performs it.

use std::collections::BTreeMap;

use time::OffsetDateTime;

use super::Severity;
use super::engine::{Change, Planned, Problem};
use crate::app::{NodeInfo, Role};
use crate::cluster::rotation::{
    AUTO_ROTATE, AutoRotate, ClusterGeneration, MAX_EXPIRING_IN_HOURS, RotationState,
};
use crate::creds::Level;
use crate::creds::certs::{CertInfo, assess, component_signed, format_expiry};
use crate::creds::level::Thresholds;

/// Where Rancher's rotation plan records the generation it ran on a node.
pub const GENERATION_FILE: &str = "/var/lib/rancher/rke2/certificate_rotation/generation";
/// RKE2's crictl and the configuration it needs to reach RKE2's containerd.
pub const CRICTL: &str = "/var/lib/rancher/rke2/bin/crictl";
pub const CRICTL_CONFIG: &str = "/var/lib/rancher/rke2/agent/etc/crictl.yaml";
pub const SERVER_TLS: &str = "/var/lib/rancher/rke2/server/tls";
/// The two components whose serving certificates older RKE2 lets them sign themselves.
pub const KCM_COMPONENTS: [&str; 2] = ["kube-controller-manager", "kube-scheduler"];
/// The services `rke2 certificate rotate --service` knows.
pub const RKE2_SERVICES: [&str; 11] = [
    "admin",
    "api-server",
    "controller-manager",
    "scheduler",
    "rke2-controller",
    "rke2-server",
    "cloud-controller",
    "etcd",
    "auth-proxy",
    "kubelet",
    "kube-proxy",
];
/// What works and what does not once certificates have expired (harvester#9351).
pub const EXPIRED_TEXT: &str = "certificates have already expired: auto-rotation cannot fix expired certificates (harvester#9351), \
    and rotate now needs a Ready control plane; what still works is the manual rotation on each node \
    (`harvcred certs rotate --node N`, servers one at a time)";

fn unit(server: bool) -> &'static str {
    if server { "rke2-server" } else { "rke2-agent" }
}

fn problem(field: &'static str, severity: Severity, message: impl Into<String>) -> Problem {
    Problem {
        field,
        severity,
        message: message.into(),
    }
}

/// What the preview shows of a rotation and its preconditions.
fn rotation_lines(state: &RotationState) -> Vec<String> {
    let cp = &state.control_plane;
    let mut v = vec![format!(
        "RKEControlPlane fleet-local/local: Ready {}, spec generation {}, status generation {}; Cluster generation {}",
        match cp.ready {
            Some(true) => "True",
            Some(false) => "False",
            None => "unknown",
        },
        cp.spec_generation,
        cp.status_generation,
        state.cluster.generation
    )];
    let blockers = state.blockers();
    if blockers.is_empty() {
        v.push("a rotation can start now".into());
    } else {
        for b in blockers {
            v.push(format!("cannot start now: {b}"));
        }
    }
    v
}

/// What a rotation does, for every preview that can lead to one.
pub fn rotation_consequences() -> Vec<String> {
    vec![
        "Rancher rotates node by node: on each control-plane node rke2-server restarts with new leaf certificates (same CAs), then each worker's rke2-agent".into(),
        "the API and workloads' control plane are briefly unavailable on the node being rotated; VMs keep running".into(),
        "the RKEControlPlane goes not Ready until every node is done".into(),
    ]
}

// ---------------------------------------------------------------- auto-rotate

/// `auto-rotate-rke2-certs`: enable/disable and `expiringInHours`.
pub struct AutoRotateChange;

/// The operator's wishes; None keeps the current value.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AutoRotateDraft {
    pub enable: Option<bool>,
    pub expiring_in_hours: Option<i64>,
    /// Fields typed in a form that do not parse: (field, why).
    pub unparsed: Vec<(&'static str, String)>,
}

impl AutoRotateDraft {
    /// The draft a form's two lines make: `enable` on/off (empty keeps
    /// it), `expiringInHours` a whole number (empty keeps it).
    pub fn from_text(enable: &str, hours: &str) -> AutoRotateDraft {
        let mut d = AutoRotateDraft::default();
        match enable.trim().to_ascii_lowercase().as_str() {
            "" => {}
            "on" | "yes" | "true" | "enable" => d.enable = Some(true),
            "off" | "no" | "false" | "disable" => d.enable = Some(false),
            other => d.unparsed.push((
                "enable",
                format!("{other:?}: on or off (empty keeps the setting's value)"),
            )),
        }
        let h = hours.trim();
        if !h.is_empty() {
            match h.parse::<i64>() {
                Ok(v) => d.expiring_in_hours = Some(v),
                Err(_) => d.unparsed.push((
                    "hours",
                    format!("{h:?}: a whole number of hours (1 to {MAX_EXPIRING_IN_HOURS})"),
                )),
            }
        }
        d
    }
}

#[derive(Debug, Clone)]
pub struct AutoRotateFacts {
    pub current: AutoRotate,
    /// The earliest NotAfter the apiservers present, or why it is not known.
    pub earliest_not_after: Result<OffsetDateTime, String>,
    pub state: Result<RotationState, String>,
    pub now: OffsetDateTime,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AutoRotateWork {
    pub enable: bool,
    pub expiring_in_hours: i64,
    pub resource_version: String,
}

/// Harvester's default when the setting has no hours yet.
pub const DEFAULT_EXPIRING_IN_HOURS: i64 = 240;

impl AutoRotateDraft {
    /// The values that will be written.
    pub fn resolve(&self, current: &AutoRotate) -> (bool, i64) {
        let hours = self
            .expiring_in_hours
            .unwrap_or(if current.expiring_in_hours > 0 {
                current.expiring_in_hours
            } else {
                DEFAULT_EXPIRING_IN_HOURS
            });
        (self.enable.unwrap_or(current.enable), hours)
    }
}

/// When the controller will bump the generation, in words.
pub fn fire_text(facts: &AutoRotateFacts, enable: bool, hours: i64) -> Vec<String> {
    let mut v = Vec::new();
    match &facts.earliest_not_after {
        Ok(t) => {
            let at = *t - time::Duration::hours(hours);
            v.push(format!(
                "the apiservers' earliest certificate expires {}",
                format_expiry(*t)
            ));
            if *t <= facts.now {
                v.push(EXPIRED_TEXT.to_string());
            } else if !enable {
                v.push("disabled: the controller will not rotate".into());
            } else if at <= facts.now {
                v.push(format!("fires at once: that is within {hours} hours"));
            } else {
                v.push(format!(
                    "fires at {} ({hours} hours before it expires)",
                    format_expiry(at)
                ));
            }
        }
        Err(e) => v.push(format!("when it fires is not known: {e}")),
    }
    match &facts.state {
        Ok(s) => v.extend(rotation_lines(s)),
        Err(e) => v.push(format!("whether it can fire is not known: {e}")),
    }
    v
}

impl Change for AutoRotateChange {
    type Draft = AutoRotateDraft;
    type Facts = AutoRotateFacts;
    type Work = AutoRotateWork;

    fn action(&self) -> &'static str {
        "certs.auto-rotate"
    }

    fn validate(&self, draft: &AutoRotateDraft, facts: &AutoRotateFacts) -> Vec<Problem> {
        let (enable, hours) = draft.resolve(&facts.current);
        let mut v: Vec<Problem> = draft
            .unparsed
            .iter()
            .map(|(field, why)| problem(field, Severity::Error, why.clone()))
            .collect();
        // Harvester's webhook checks these, in its words.
        if hours <= 0 {
            v.push(problem(
                "hours",
                Severity::Error,
                "expiringInHours can't be negative or zero",
            ));
        } else if hours > MAX_EXPIRING_IN_HOURS {
            v.push(problem(
                "hours",
                Severity::Error,
                format!("expiringInHours can't be large than {MAX_EXPIRING_IN_HOURS} (one year less an hour)"),
            ));
        }
        if enable && matches!(&facts.earliest_not_after, Ok(t) if *t <= facts.now) {
            v.push(problem("enable", Severity::Warning, EXPIRED_TEXT));
        }
        v
    }

    fn plan(
        &self,
        draft: &AutoRotateDraft,
        facts: &AutoRotateFacts,
        targets: &[String],
    ) -> Result<Vec<Planned<AutoRotateWork>>, String> {
        let (enable, hours) = draft.resolve(&facts.current);
        let cur = &facts.current;
        if cur.enable == enable && cur.expiring_in_hours == hours {
            return Ok(Vec::new());
        }
        let mut preview = vec![format!(
            "settings.harvesterhci.io {AUTO_ROTATE}: enable {} -> {enable}, expiringInHours {} -> {hours} (at resourceVersion {})",
            cur.enable, cur.expiring_in_hours, cur.resource_version
        )];
        preview.extend(fire_text(facts, enable, hours));
        Ok(targets
            .iter()
            .map(|t| Planned {
                target: t.clone(),
                preview: preview.clone(),
                work: AutoRotateWork {
                    enable,
                    expiring_in_hours: hours,
                    resource_version: cur.resource_version.clone(),
                },
            })
            .collect())
    }

    fn consequences(&self, _facts: &AutoRotateFacts) -> Vec<String> {
        let mut v = vec![
            "when it fires, Harvester's controller bumps the Cluster's rotation generation; then:"
                .to_string(),
        ];
        v.extend(rotation_consequences());
        v
    }
}

// ------------------------------------------------------------ rotate cluster

/// Rotate now: bump `spec.rkeConfig.rotateCertificates.generation`.
pub struct RotateClusterChange;

/// The one target of a cluster-wide rotation.
pub const CLUSTER_TARGET: &str = "fleet-local/local";

#[derive(Debug, Clone)]
pub struct RotateClusterFacts {
    pub state: RotationState,
    pub nodes: Vec<NodeInfo>,
    /// `node: file` of leaf certificates already expired.
    pub expired: Vec<String>,
    /// Stuck states the nodes' journals show ([`stuck_hint`]), read when the
    /// control plane is not Ready.
    pub stuck: Vec<String>,
}

impl Change for RotateClusterChange {
    type Draft = ();
    type Facts = RotateClusterFacts;
    type Work = ClusterGeneration;

    fn action(&self) -> &'static str {
        "certs.rotate"
    }

    fn validate(&self, _: &(), facts: &RotateClusterFacts) -> Vec<Problem> {
        let mut v: Vec<Problem> = facts
            .state
            .blockers()
            .into_iter()
            .map(|b| problem("preconditions", Severity::Error, b))
            .collect();
        if !v.is_empty() {
            // What the journals say it waits on, and what to do about it.
            v.extend(
                facts
                    .stuck
                    .iter()
                    .map(|h| problem("stuck", Severity::Error, h.clone())),
            );
        }
        if !facts.expired.is_empty() {
            v.push(problem(
                "certificates",
                Severity::Warning,
                format!("{EXPIRED_TEXT}; expired: {}", facts.expired.join(", ")),
            ));
        }
        v
    }

    fn plan(
        &self,
        _: &(),
        facts: &RotateClusterFacts,
        targets: &[String],
    ) -> Result<Vec<Planned<ClusterGeneration>>, String> {
        let blockers = facts.state.blockers();
        if !blockers.is_empty() {
            let mut why = blockers;
            why.extend(facts.stuck.iter().cloned());
            return Err(format!("refused, nothing written: {}", why.join("; ")));
        }
        let g = &facts.state.cluster;
        let mut preview = vec![format!(
            "clusters.provisioning.cattle.io {CLUSTER_TARGET}: spec.rkeConfig.rotateCertificates.generation {} -> {} (at resourceVersion {})",
            g.generation,
            g.generation + 1,
            g.resource_version
        )];
        preview.extend(rotation_lines(&facts.state));
        let servers: Vec<&str> = facts
            .nodes
            .iter()
            .filter(|n| n.role == Role::Server)
            .map(|n| n.name.as_str())
            .collect();
        preview.push(format!(
            "followed per node: {GENERATION_FILE} on {}, the rke2-server/rke2-agent restarts, the status generation",
            servers.join(" ")
        ));
        Ok(targets
            .iter()
            .map(|t| Planned {
                target: t.clone(),
                preview: preview.clone(),
                work: g.clone(),
            })
            .collect())
    }

    fn consequences(&self, _: &RotateClusterFacts) -> Vec<String> {
        rotation_consequences()
    }
}

/// What a node's journals say about a rotation that does not move on, and
/// what to do about it.
pub fn stuck_hint(node: &str, journal: &str) -> Option<String> {
    if journal.contains("secret received was too old") {
        return Some(format!(
            "{node}: rancher-system-agent waits on \"secret received was too old\": restart it (`sudo systemctl restart rancher-system-agent` on {node})"
        ));
    }
    // Rancher's planner says `waiting for probes: kube-controller-manager,
    // kube-scheduler`; rancher-system-agent logs why each probe fails.
    let probe_fails = ["kube-controller-manager", "kube-scheduler"]
        .iter()
        .any(|c| {
            journal.lines().any(|l| {
                l.contains(&format!("error while running probe {c}"))
                    && l.contains("certificate has expired")
            })
        });
    if probe_fails
        || (journal.contains("waiting for probes")
            && (journal.contains("kube-controller-manager") || journal.contains("kube-scheduler")))
    {
        return Some(kcm_hint(node));
    }
    None
}

fn kcm_hint(node: &str) -> String {
    format!(
        "{node}: waiting for the kube-controller-manager/kube-scheduler probes: their self-signed certificates have expired; run `harvcred certs fix-kcm --node {node}`"
    )
}

/// The probes Rancher's planner waits on (its Ready message), with the
/// nodes whose controller-manager/scheduler certificate has expired
/// (`expired`: `node: file`): the fix for each of them.
pub fn probes_hints(ready_message: &str, expired: &[String]) -> Vec<String> {
    let waits = ready_message.contains("waiting for probes")
        && KCM_COMPONENTS.iter().any(|c| ready_message.contains(c));
    if !waits {
        return Vec::new();
    }
    let mut nodes: Vec<&str> = expired
        .iter()
        .filter_map(|e| e.split_once(": "))
        .filter(|(_, f)| KCM_COMPONENTS.iter().any(|c| *f == component_cert(c)))
        .map(|(n, _)| n)
        .collect();
    nodes.dedup();
    nodes.into_iter().map(kcm_hint).collect()
}

// --------------------------------------------------------------- rotate node

/// Rotate one node by hand with `rke2 certificate rotate`.
pub struct RotateNodeChange;

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RotateNodeDraft {
    /// `--service` values; empty: all of the node's.
    pub services: Vec<String>,
    /// Rotate even when the node was rotated within [`ROTATED_RECENTLY_SECS`]
    /// or a rotation by harvcred is still running there (`--again`).
    pub again: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RotateNodeWork {
    pub server: bool,
    pub services: Vec<String>,
    pub again: bool,
}

/// A rotation by harvcred younger than this (rke2's newest `tls-<unix
/// time>` backup on the node, made after harvcred's record of it) counts as
/// the one asked for: running the command again after an interrupted run
/// follows it up instead of rotating a second time.
pub const ROTATED_RECENTLY_SECS: u64 = 3600;

/// The transient unit the rotation runs in on the node (`systemd-run`), so it
/// goes on, and starts rke2 again, whatever happens to the SSH session.
pub fn rotation_unit(rke2_unit: &str) -> String {
    format!("harvcred-rotate-{rke2_unit}")
}

/// Where the rotation's unit notes, before `rke2 certificate rotate`, when
/// it ran it (a unix time): `/var/lib/rancher` survives reboots, and only
/// rke2 backups from then on are harvcred's rotation (not Rancher's).
pub fn rotation_record_file(rke2_unit: &str) -> String {
    format!("/var/lib/rancher/harvcred/rotate-{rke2_unit}")
}

/// Where that unit leaves its progress and result (`started`, `stopped`,
/// `rotated RC`, `done RC EXIT TIME`), and the rotation's output beside it (`.out`).
pub fn rotation_result_file(rke2_unit: &str) -> String {
    format!("/run/harvcred-rotate/{rke2_unit}")
}

impl RotateNodeWork {
    /// The rotate command's arguments after `rke2`.
    pub fn rotate_args(&self) -> Vec<String> {
        let mut a = vec!["certificate".to_string(), "rotate".into()];
        for s in &self.services {
            a.push("--service".into());
            a.push(s.clone());
        }
        a
    }

    pub fn unit(&self) -> &'static str {
        unit(self.server)
    }
}

/// Servers that are not Ready: while one is, no other server may go down.
pub fn servers_not_ready<'a>(nodes: &'a [NodeInfo], except: &str) -> Vec<&'a str> {
    nodes
        .iter()
        .filter(|n| n.role == Role::Server && n.name != except && n.ready != Some(true))
        .map(|n| n.name.as_str())
        .collect()
}

impl Change for RotateNodeChange {
    type Draft = RotateNodeDraft;
    type Facts = Vec<NodeInfo>;
    type Work = RotateNodeWork;

    fn action(&self) -> &'static str {
        "certs.rotate-node"
    }

    fn validate(&self, draft: &RotateNodeDraft, nodes: &Vec<NodeInfo>) -> Vec<Problem> {
        let mut v = Vec::new();
        for s in &draft.services {
            if !RKE2_SERVICES.contains(&s.as_str()) {
                v.push(problem(
                    "service",
                    Severity::Error,
                    format!(
                        "{s:?} is not a service rke2 certificate rotate knows ({})",
                        RKE2_SERVICES.join(", ")
                    ),
                ));
            }
        }
        if nodes.len() == 1 {
            v.push(problem(
                "node",
                Severity::Warning,
                "a single-node cluster: the API and every workload's control plane are down while rke2-server is stopped",
            ));
        }
        v
    }

    fn plan(
        &self,
        draft: &RotateNodeDraft,
        nodes: &Vec<NodeInfo>,
        targets: &[String],
    ) -> Result<Vec<Planned<RotateNodeWork>>, String> {
        let mut out = Vec::new();
        for t in targets {
            let Some(n) = nodes.iter().find(|n| &n.name == t) else {
                return Err(format!("no node named {t:?} in the cluster"));
            };
            let server = n.role != Role::Worker;
            if server {
                let down = servers_not_ready(nodes, t);
                if !down.is_empty() {
                    return Err(format!(
                        "refused, nothing done: control-plane node {} is not Ready; rotate servers one at a time, each only once the others are Ready again",
                        down.join(", ")
                    ));
                }
            }
            let work = RotateNodeWork {
                server,
                services: draft.services.clone(),
                again: draft.again,
            };
            let u = work.unit();
            let mut preview = vec![
                format!(
                    "on the node, in the transient unit {} (it goes on if the SSH session is lost):",
                    rotation_unit(u)
                ),
                format!("  systemctl stop {u}"),
                format!(
                    "  rke2 {} (the old certificates are kept by rke2 in a tls-<time> folder)",
                    work.rotate_args().join(" ")
                ),
                format!(
                    "  systemctl start {u}, whatever the rotation said; its result in {}",
                    rotation_result_file(u)
                ),
                format!("then wait until {u} is active and the Node is Ready"),
            ];
            if !draft.again {
                preview.push(format!(
                    "already so, only followed up, when a rotation by harvcred is still running there or ran less than {} min ago (--again rotates anyway)",
                    ROTATED_RECENTLY_SECS / 60
                ));
            }
            out.push(Planned {
                target: t.clone(),
                preview,
                work,
            });
        }
        Ok(out)
    }

    fn consequences(&self, _: &Vec<NodeInfo>) -> Vec<String> {
        vec![
            "the node's rke2 is stopped for the rotation: its pods' control plane is unavailable meanwhile; VMs keep running".into(),
            "nodes are done one at a time; a control-plane node is started only while every other one is Ready".into(),
        ]
    }
}

// ---------------------------------------------------------------- fix-kcm

/// The controller-manager/scheduler fix: remove their self-signed
/// certificates and restart the static pods so they make new ones.
pub struct FixKcmChange;

#[derive(Debug, Clone)]
pub struct FixKcmFacts {
    pub now: OffsetDateTime,
    pub thresholds: Thresholds,
    /// Node -> component -> its certificate (the file's first block), or why not read.
    pub certs: BTreeMap<String, BTreeMap<&'static str, Result<CertInfo, String>>>,
    /// Node -> component -> the certificate kept in the node's newest
    /// `tls-harvcred-*` folder: what an earlier (or interrupted) fix took.
    pub kept: BTreeMap<String, BTreeMap<&'static str, Kept>>,
}

/// A component's certificate as a fix kept it.
#[derive(Debug, Clone)]
pub struct Kept {
    /// The backup folder (`…/server/tls-harvcred-<time>`).
    pub folder: String,
    pub cert: CertInfo,
}

/// Where the fix keeps the old files: one folder per node and run, beside
/// `tls/` like RKE2's own `tls-<time>` backups.
pub const KCM_BACKUP_PREFIX: &str = "/var/lib/rancher/rke2/server/tls-harvcred-";

/// The certificate file of a component.
pub fn component_cert(component: &str) -> String {
    format!("{SERVER_TLS}/{component}/{component}.crt")
}

pub fn component_key(component: &str) -> String {
    format!("{SERVER_TLS}/{component}/{component}.key")
}

/// Whether the fix applies to this certificate, and if not why.
pub fn fix_applies(
    cert: &CertInfo,
    component: &str,
    now: OffsetDateTime,
    t: &Thresholds,
) -> Result<(), String> {
    if !component_signed(cert, component) {
        return Err(format!(
            "{component}'s certificate is issued by {} (RKE2's CA), which RKE2 renews itself: the fix is only for the self-signed certificates of older RKE2",
            cert.issuer_cn.as_deref().unwrap_or(&cert.issuer)
        ));
    }
    let a = assess(cert, now, t);
    if a.level == Level::Ok {
        return Err(format!(
            "{component}'s self-signed certificate is not near expiry ({})",
            format_expiry(cert.not_after)
        ));
    }
    Ok(())
}

/// What the fix does with one component of a node.
#[derive(Debug, Clone, PartialEq, Eq)]
enum KcmStep {
    /// Fix it; the preview line.
    Fix(String),
    /// A fix made it already (a new self-signed certificate, the old one
    /// kept); the line that says so.
    Done(String),
    /// Not offered: why.
    Refused(String),
}

fn kcm_step(
    c: &'static str,
    cert: Option<&Result<CertInfo, String>>,
    kept: Option<&Kept>,
    facts: &FixKcmFacts,
) -> KcmStep {
    let restart = format!(
        "then `crictl rm -f` of the {c} container (CRI_CONFIG_FILE={CRICTL_CONFIG}); wait for a new certificate"
    );
    match (cert, kept) {
        (Some(Ok(cert)), kept) => match fix_applies(cert, c, facts.now, &facts.thresholds) {
            // An interrupted run copied it already: not copied twice.
            Ok(()) if kept.is_some_and(|k| k.cert.sha256 == cert.sha256) => KcmStep::Fix(format!(
                "{} (self-signed, expires {}): already kept in {}/{c}/ by an interrupted fix; removed with its .key, {restart}",
                component_cert(c),
                format_expiry(cert.not_after),
                kept.map_or("", |k| &k.folder)
            )),
            Ok(()) => KcmStep::Fix(format!(
                "{} (self-signed, expires {}): copied with its .key to {KCM_BACKUP_PREFIX}<time>/{c}/ (kept there), then removed, {restart}",
                component_cert(c),
                format_expiry(cert.not_after)
            )),
            Err(e) => match kept {
                Some(k)
                    if k.cert.sha256 != cert.sha256
                        && component_signed(cert, c)
                        && assess(cert, facts.now, &facts.thresholds).level == Level::Ok =>
                {
                    KcmStep::Done(format!(
                        "{c}: fixed already: a new self-signed certificate (expires {}), the old one kept in {}/{c}/",
                        format_expiry(cert.not_after),
                        k.folder
                    ))
                }
                _ => KcmStep::Refused(e),
            },
        },
        // Moved aside by an interrupted fix before its container restarted.
        (Some(Err(_)), Some(k)) => KcmStep::Fix(format!(
            "{} is missing, kept in {}/{c}/ by an interrupted fix: {restart}",
            component_cert(c),
            k.folder
        )),
        (Some(Err(e)), None) => KcmStep::Refused(format!("{c}: {e}")),
        (None, _) => KcmStep::Refused(format!("{c}: not read")),
    }
}

impl Change for FixKcmChange {
    type Draft = ();
    type Facts = FixKcmFacts;
    /// The components to fix (none: a fix made them already).
    type Work = Vec<&'static str>;

    fn action(&self) -> &'static str {
        "certs.fix-kcm"
    }

    fn validate(&self, _: &(), _: &FixKcmFacts) -> Vec<Problem> {
        Vec::new()
    }

    fn plan(
        &self,
        _: &(),
        facts: &FixKcmFacts,
        targets: &[String],
    ) -> Result<Vec<Planned<Vec<&'static str>>>, String> {
        let mut out = Vec::new();
        let mut why = Vec::new();
        for t in targets {
            let Some(certs) = facts.certs.get(t) else {
                return Err(format!("{t}: not a control-plane node of this cluster"));
            };
            let kept = facts.kept.get(t);
            let mut fix = Vec::new();
            let mut preview = Vec::new();
            let mut refused = Vec::new();
            for c in KCM_COMPONENTS {
                match kcm_step(c, certs.get(c), kept.and_then(|k| k.get(c)), facts) {
                    KcmStep::Fix(line) => {
                        fix.push(c);
                        preview.push(line);
                    }
                    KcmStep::Done(line) => preview.push(line),
                    KcmStep::Refused(e) => refused.push(format!("{t}: {e}")),
                }
            }
            // Fixed already (both components): `already so`, nothing done.
            if !fix.is_empty() || refused.is_empty() {
                out.push(Planned {
                    target: t.clone(),
                    preview,
                    work: fix,
                });
            } else {
                why.extend(refused);
            }
        }
        if out.is_empty() {
            return Err(format!("not offered: {}", why.join("; ")));
        }
        Ok(out)
    }

    fn consequences(&self, _: &FixKcmFacts) -> Vec<String> {
        vec!["the controller-manager and scheduler static pods restart and sign new certificates; the old files stay on the node in the backup folder (one per node and run; a run after an interrupted one keeps using its folder)".into()]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::rotation::ControlPlane;

    fn state(ready: bool, spec: i64, status: i64) -> RotationState {
        RotationState {
            control_plane: ControlPlane {
                ready: Some(ready),
                ready_message: String::new(),
                spec_generation: spec,
                status_generation: status,
            },
            cluster: ClusterGeneration {
                generation: spec,
                resource_version: "7".into(),
            },
        }
    }

    fn facts(ready: bool, spec: i64, status: i64) -> RotateClusterFacts {
        RotateClusterFacts {
            state: state(ready, spec, status),
            nodes: Vec::new(),
            expired: Vec::new(),
            stuck: vec!["node3: restart it".into()],
        }
    }

    #[test]
    fn rotate_now_is_refused_with_the_reason_when_not_ready_or_under_way() {
        let t = vec![CLUSTER_TARGET.to_string()];
        let e = RotateClusterChange
            .plan(&(), &facts(false, 1, 1), &t)
            .unwrap_err();
        assert!(e.contains("not Ready"), "{e}");
        assert!(
            e.contains("node3: restart it"),
            "the stuck state is named: {e}"
        );
        let e = RotateClusterChange
            .plan(&(), &facts(true, 2, 1), &t)
            .unwrap_err();
        assert!(
            e.contains("spec generation 2 differs from its status generation 1"),
            "{e}"
        );
        let p = RotateClusterChange
            .plan(&(), &facts(true, 1, 1), &t)
            .unwrap();
        assert!(
            p[0].preview[0].contains("generation 1 -> 2"),
            "{:?}",
            p[0].preview
        );
        assert_eq!(p[0].work.resource_version, "7");
    }

    fn auto(current: (bool, i64), not_after_hours: i64) -> AutoRotateFacts {
        let now = OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
        AutoRotateFacts {
            current: AutoRotate {
                enable: current.0,
                expiring_in_hours: current.1,
                resource_version: "3".into(),
            },
            earliest_not_after: Ok(now + time::Duration::hours(not_after_hours)),
            state: Ok(state(true, 0, 0)),
            now,
        }
    }

    #[test]
    fn expiring_in_hours_is_checked_as_harvester_does_and_the_preview_says_when_it_fires() {
        let f = auto((false, 240), 1000);
        let bad = |h| {
            AutoRotateChange.validate(
                &AutoRotateDraft {
                    enable: Some(true),
                    expiring_in_hours: Some(h),
                    ..Default::default()
                },
                &f,
            )
        };
        assert!(bad(0)[0].message.contains("negative or zero"));
        assert!(bad(8760)[0].message.contains("large than 8759"));
        assert!(bad(8759).is_empty());
        // A form's text that does not parse is a problem at its field.
        let typed = AutoRotateChange.validate(&AutoRotateDraft::from_text("maybe", "ten"), &f);
        let fields: Vec<&str> = typed.iter().map(|p| p.field).collect();
        assert_eq!(fields, ["enable", "hours"], "{typed:?}");
        let d = AutoRotateDraft {
            enable: Some(true),
            ..Default::default()
        };
        let p = AutoRotateChange.plan(&d, &f, &["s".into()]).unwrap();
        let text = p[0].preview.join("\n");
        assert!(
            text.contains("fires at") && text.contains("240 hours before"),
            "{text}"
        );
        assert!(text.contains("a rotation can start now"), "{text}");
        let d = AutoRotateDraft::from_text("on", "2000");
        assert!(d.unparsed.is_empty());
        let p = AutoRotateChange.plan(&d, &f, &["s".into()]).unwrap();
        assert!(p[0].preview.join("\n").contains("fires at once"));
        let expired = auto((false, 240), -5);
        let p = AutoRotateChange.plan(&d, &expired, &["s".into()]).unwrap();
        assert!(p[0].preview.join("\n").contains("harvester#9351"));
        let same = AutoRotateDraft::from_text("off", " 240 ");
        assert!(
            AutoRotateChange
                .plan(&same, &f, &["s".into()])
                .unwrap()
                .is_empty()
        );
    }

    fn node(name: &str, role: Role, ready: bool) -> NodeInfo {
        NodeInfo {
            name: name.into(),
            role,
            address: None,
            ready: Some(ready),
        }
    }

    #[test]
    fn a_server_is_not_rotated_while_another_server_is_not_ready() {
        let nodes = vec![
            node("node1", Role::Server, true),
            node("node2", Role::Server, false),
            node("node3", Role::Worker, true),
        ];
        let e = RotateNodeChange
            .plan(&RotateNodeDraft::default(), &nodes, &["node1".into()])
            .unwrap_err();
        assert!(e.contains("node2 is not Ready"), "{e}");
        let p = RotateNodeChange
            .plan(
                &RotateNodeDraft {
                    services: vec!["kubelet".into()],
                    again: false,
                },
                &nodes,
                &["node3".into()],
            )
            .unwrap();
        assert_eq!(p[0].work.unit(), "rke2-agent");
        assert_eq!(
            p[0].work.rotate_args(),
            vec!["certificate", "rotate", "--service", "kubelet"]
        );
        let single = vec![node("node1", Role::Server, true)];
        let w = RotateNodeChange.validate(&RotateNodeDraft::default(), &single);
        assert!(w[0].message.contains("single-node"));
    }

    #[test]
    fn stuck_states_are_named_with_what_to_do() {
        assert!(
            stuck_hint("node2", "level=error msg=\"secret received was too old\"")
                .unwrap()
                .contains("restart rancher-system-agent")
        );
        assert!(
            stuck_hint(
                "node1",
                "waiting for probes: kube-controller-manager, kube-scheduler"
            )
            .unwrap()
            .contains("fix-kcm --node node1")
        );
        // rancher-system-agent's words for a probe that fails on an expired certificate.
        let agent = "level=error msg=\"[K8s] error while running probe kube-scheduler: Get \\\"https://127.0.0.1:10259/healthz\\\": tls: failed to verify certificate: x509: certificate has expired or is not yet valid\"";
        assert!(
            stuck_hint("node1", agent)
                .unwrap()
                .contains("fix-kcm --node node1")
        );
        assert_eq!(
            stuck_hint(
                "node1",
                "[K8s] error while running probe kube-scheduler: connection refused"
            ),
            None,
            "a probe failing for another reason is not the certificate fix's"
        );
        assert_eq!(stuck_hint("node1", "all fine"), None);
        // The planner's message and the expired files name the nodes to fix.
        let expired = [
            format!("node1: {}", component_cert("kube-scheduler")),
            format!("node1: {}", component_cert("kube-controller-manager")),
            "node2: /var/lib/rancher/rke2/agent/client-kubelet.crt".to_string(),
        ];
        let msg = "configuring control plane node(s) custom-4a1b: waiting for probes: kube-controller-manager, kube-scheduler";
        assert_eq!(probes_hints(msg, &expired), [kcm_hint("node1")]);
        assert!(probes_hints("waiting for probes: etcd", &expired).is_empty());
    }

    /// A self-signed certificate of `component` valid until `days` from `now`.
    fn kcm_cert(component: &str, now: OffsetDateTime, days: i64) -> CertInfo {
        let mut p = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        p.distinguished_name
            .push(rcgen::DnType::CommonName, format!("{component}@1"));
        p.not_before = now - time::Duration::days(365);
        p.not_after = now + time::Duration::days(days);
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap();
        let pem = p.self_signed(&key).unwrap().pem();
        crate::creds::certs::parse_pem_str(component, &pem)
            .certs
            .remove(0)
    }

    /// node1's facts: each component's certificate (None: missing) and
    /// what the newest `tls-harvcred-*` folder keeps of it.
    fn kcm_facts(
        now: OffsetDateTime,
        each: [(Option<CertInfo>, Option<CertInfo>); 2],
    ) -> FixKcmFacts {
        let mut certs = BTreeMap::new();
        let mut kept = BTreeMap::new();
        for (c, (cert, k)) in KCM_COMPONENTS.into_iter().zip(each) {
            certs.insert(
                c,
                cert.ok_or_else(|| "No such file or directory".to_string()),
            );
            if let Some(cert) = k {
                let folder = format!("{KCM_BACKUP_PREFIX}20261201T040000Z");
                kept.insert(c, Kept { folder, cert });
            }
        }
        FixKcmFacts {
            now,
            thresholds: Thresholds::default(),
            certs: [("node1".to_string(), certs)].into(),
            kept: [("node1".to_string(), kept)].into(),
        }
    }

    #[test]
    fn fix_kcm_after_an_interrupted_run_finishes_it_without_a_second_backup() {
        let now = OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
        let t = vec!["node1".to_string()];
        let expired = |c| kcm_cert(c, now, -3);
        let fresh = |c| kcm_cert(c, now, 365);
        let (kcm, sched) = (expired(KCM_COMPONENTS[0]), expired(KCM_COMPONENTS[1]));

        // Never fixed: both copied to a new folder.
        let f = kcm_facts(
            now,
            [(Some(kcm.clone()), None), (Some(sched.clone()), None)],
        );
        let p = FixKcmChange.plan(&(), &f, &t).unwrap();
        assert_eq!(p[0].work, KCM_COMPONENTS.to_vec());
        assert!(
            p[0].preview
                .iter()
                .all(|l| l.contains("copied with its .key to"))
        );

        // Copied by a run that stopped there, then moved aside by one that
        // stopped before the restart: neither is copied again.
        let f = kcm_facts(
            now,
            [
                (Some(kcm.clone()), Some(kcm.clone())),
                (None, Some(sched.clone())),
            ],
        );
        let p = FixKcmChange.plan(&(), &f, &t).unwrap();
        assert_eq!(p[0].work, KCM_COMPONENTS.to_vec());
        assert!(
            p[0].preview[0].contains("already kept in"),
            "{:?}",
            p[0].preview
        );
        assert!(
            p[0].preview[1].contains("is missing, kept in"),
            "{:?}",
            p[0].preview
        );

        // Fixed (new certificates, the old ones kept): already so.
        let f = kcm_facts(
            now,
            [
                (Some(fresh(KCM_COMPONENTS[0])), Some(kcm.clone())),
                (Some(fresh(KCM_COMPONENTS[1])), Some(sched.clone())),
            ],
        );
        let p = FixKcmChange.plan(&(), &f, &t).unwrap();
        assert!(p[0].work.is_empty());
        assert!(
            p[0].preview.iter().all(|l| l.contains("fixed already")),
            "{:?}",
            p[0].preview
        );

        // Fresh and never fixed, or missing with nothing kept: not offered.
        let f = kcm_facts(now, [(Some(fresh(KCM_COMPONENTS[0])), None), (None, None)]);
        let e = FixKcmChange.plan(&(), &f, &t).unwrap_err();
        assert!(
            e.contains("not near expiry") && e.contains("No such file"),
            "{e}"
        );
    }
}
