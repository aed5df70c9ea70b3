//! The cluster token: the view of every copy (`harvcred token show`, the
//! console's `:token`) and the fix of a joining node's token as an engine
//! change (`harvcred token fix`). Pure: the I/O is `cli::token`.
//!
//! The fix follows Harvester's "Modifying cluster token on agent nodes": a
//! node whose rancherd loops on `502 Bad Gateway getting cacerts` gets the
//! token of a healthy server's `/etc/rancher/rancherd/config.yaml` in its own
//! rancherd config and in the rancherd file inside `/oem` (which renders it
//! again at every boot). A node that has bootstrap data is refused: its
//! datastore is encrypted with the token it joined with.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use serde::Serialize;
use zeroize::Zeroizing;

use super::Severity;
use super::engine::{Change, Planned, Problem};
use crate::creds::level::{Finding, Level};
use crate::creds::report::{SERVER_TOKEN, TokenCopy};
use crate::creds::token::{
    self, JoinLoop, RANCHERD_CONFIG, RANCHERD_RKE2_DROPIN, Token, set_file_token_in_oem,
    set_token_in_yaml,
};
use crate::node::write::{Backup, FileChange, Version};

/// The installer's config: its `token:` is one more copy on the node.
pub const INSTALL_CONFIG: &str = "/oem/harvester.config";

/// The audit log's action.
pub const ACTION: &str = "token.fix";

/// Where RKE2 keeps a server's bootstrap data (etcd): a node that has it has
/// joined, and its token must not change.
pub const BOOTSTRAP_DATA: &str = "/var/lib/rancher/rke2/server/db";

/// What `token rotate` says instead of rotating.
pub fn rotate_refusal() -> String {
    format!(
        "harvcred token rotate: refused. Harvester does not support changing the cluster token. {}.\n\
         The failure it gives, in `journalctl -u rke2-server` at the next restart:\n  \
         level=fatal msg=\"Failed to reconcile with temporary etcd: bootstrap data already found and encrypted with different token\"\n\
         A node that cannot join because its token is wrong needs its own copies fixed instead: `harvcred token fix --node NODE`.",
        token::WHY_NOT_ROTATED
    )
}

// ------------------------------------------------------------------ view --

/// One copy of the token, as shown: never the value.
#[derive(Debug, Clone, Serialize)]
pub struct CopyView {
    pub source: String,
    pub short_hash: String,
    pub format: String,
    /// `matches` / `differs` (the CA hash of a secure token against the
    /// node's server-ca.crt), `no-hash` (short token, `K10::`),
    /// `not-checked` (no server-ca.crt read).
    pub ca: &'static str,
    /// Whether it is the token the servers' own `server/token` hold; None
    /// when no server's could be read or the servers tie.
    pub agrees_with_servers: Option<bool>,
}

/// One node's copies and its joining state.
#[derive(Debug, Clone, Serialize)]
pub struct NodeView {
    pub node: String,
    pub role: String,
    /// The node's token area level, or `unreachable`.
    pub level: String,
    pub error: Option<String>,
    pub copies: Vec<CopyView>,
    /// `/var/lib/rancher/rke2/server/db` exists (None: not read).
    pub bootstrap_data: Option<bool>,
    /// rancherd's 502 `cacerts` loop, with its last line (remote text).
    pub rancherd_loop: Option<JoinLoop>,
    pub findings: Vec<Finding>,
}

/// Every copy on every node and in the cluster.
#[derive(Debug, Clone, Serialize)]
pub struct TokenView {
    pub exit_code: i32,
    /// The hash most servers' own `server/token` share (None: none read, or a tie).
    pub servers_token: Option<String>,
    pub nodes: Vec<NodeView>,
    /// `fleet-local/local-rke-state` (`serverToken`, `agentToken`).
    pub cluster: Vec<CopyView>,
    pub api_error: Option<String>,
}

/// What was read of one node beside its sweep.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JoinState {
    pub bootstrap_data: Option<bool>,
    pub rancherd_loop: Option<JoinLoop>,
}

/// The CA check of one copy, from the node's findings (the sweep judged it).
fn ca_of(node: &str, copy: &TokenCopy, findings: &[Finding]) -> &'static str {
    let subject = format!("{node} cluster token in {}", copy.source);
    match findings.iter().find(|f| f.subject == subject) {
        Some(f) if f.message.contains("CA hash matches") => "matches",
        Some(f) if f.message.contains("does not match") => "differs",
        _ if copy.format.starts_with("secure") => "not-checked",
        _ => "no-hash",
    }
}

/// The hash most servers' own `server/token` share, when one does.
pub fn servers_token<'a>(server_tokens: impl Iterator<Item = &'a str>) -> Option<String> {
    let mut votes: BTreeMap<&str, usize> = BTreeMap::new();
    for h in server_tokens {
        *votes.entry(h).or_default() += 1;
    }
    let mut ranked: Vec<(&str, usize)> = votes.into_iter().collect();
    ranked.sort_by_key(|(_, n)| std::cmp::Reverse(*n));
    match ranked.as_slice() {
        [] => None,
        [(h, _)] => Some(h.to_string()),
        [(h, a), (_, b), ..] if a > b => Some(h.to_string()),
        _ => None,
    }
}

/// One node of the view: its copies (`Err`: why it could not be read).
pub struct NodeInput<'a> {
    pub node: &'a str,
    pub role: &'a str,
    pub read: Result<(&'a [TokenCopy], &'a crate::creds::report::AreaReport), String>,
    pub join: JoinState,
}

/// Builds the view and its exit code (as `status`: 2 critical or a node
/// unreadable, else 3 unknown, else 1 warning, else 0).
pub fn build_view(
    nodes: Vec<NodeInput<'_>>,
    cluster: &[TokenCopy],
    api_error: Option<String>,
) -> TokenView {
    let servers = servers_token(nodes.iter().flat_map(|n| {
        match &n.read {
            Ok((copies, _)) => copies
                .iter()
                .filter(|c| c.source == SERVER_TOKEN)
                .map(|c| c.short_hash.as_str())
                .collect::<Vec<_>>(),
            Err(_) => Vec::new(),
        }
    }));
    let agrees = |h: &str| servers.as_ref().map(|s| s == h);
    let mut levels = Vec::new();
    let mut unreachable = false;
    let mut out_nodes = Vec::new();
    for n in nodes {
        match n.read {
            Ok((copies, area)) => {
                let mut findings = area.findings.clone();
                let mut level = area.level;
                if let Some(l) = &n.join.rancherd_loop {
                    let f = Finding::new(
                        Level::Critical,
                        format!("{} rancherd", n.node),
                        format!(
                            "rancherd cannot join: its log repeats the 502 `cacerts` failure a wrong token gives ({} times this boot). Fix the node's token: `harvcred token fix --node {}`",
                            l.repeats, n.node
                        ),
                    );
                    level = level.worse(f.level);
                    findings.insert(0, f);
                }
                levels.push(level);
                out_nodes.push(NodeView {
                    node: n.node.to_string(),
                    role: n.role.to_string(),
                    level: level.as_str().to_string(),
                    error: None,
                    copies: copies
                        .iter()
                        .map(|c| CopyView {
                            source: c.source.clone(),
                            short_hash: c.short_hash.clone(),
                            format: c.format.clone(),
                            ca: ca_of(n.node, c, &area.findings),
                            agrees_with_servers: agrees(&c.short_hash),
                        })
                        .collect(),
                    bootstrap_data: n.join.bootstrap_data,
                    rancherd_loop: n.join.rancherd_loop,
                    findings,
                });
            }
            Err(e) => {
                unreachable = true;
                out_nodes.push(NodeView {
                    node: n.node.to_string(),
                    role: n.role.to_string(),
                    level: "unreachable".into(),
                    error: Some(e),
                    copies: Vec::new(),
                    bootstrap_data: None,
                    rancherd_loop: None,
                    findings: Vec::new(),
                });
            }
        }
    }
    let cluster: Vec<CopyView> = cluster
        .iter()
        .map(|c| CopyView {
            source: c.source.clone(),
            short_hash: c.short_hash.clone(),
            format: c.format.clone(),
            ca: "not-checked",
            agrees_with_servers: agrees(&c.short_hash),
        })
        .collect();
    if cluster.iter().any(|c| c.agrees_with_servers == Some(false)) {
        levels.push(Level::Critical);
    }
    let has = |l: &[Level]| levels.iter().any(|x| l.contains(x));
    let exit_code = if out_nodes.is_empty() {
        3
    } else if unreachable || has(&[Level::Critical, Level::Expired]) {
        2
    } else if has(&[Level::Unknown]) {
        3
    } else if has(&[Level::Warn]) {
        1
    } else {
        0
    };
    TokenView {
        exit_code,
        servers_token: servers,
        nodes: out_nodes,
        cluster,
        api_error,
    }
}

// ------------------------------------------------------------------- fix --

/// A file as read from a target (may hold the token: zeroised).
#[derive(Clone)]
pub struct FileNow {
    pub text: Zeroizing<String>,
    pub version: Version,
}

/// What the fix knows of one target.
#[derive(Clone, Default)]
pub struct NodeFacts {
    pub role: String,
    /// `/var/lib/rancher/rke2/server/db` exists.
    pub bootstrap_data: bool,
    pub rancherd_loop: Option<JoinLoop>,
    /// rancherd's running process (since its last start) logged the 502
    /// `cacerts` failure: it read a wrong token and only a restart makes it
    /// read the config again.
    pub looping_now: bool,
    /// rancherd's config, its rke2 drop-in, and the `/oem/*.yaml` files.
    pub files: BTreeMap<String, FileNow>,
}

/// What is read before the fix.
#[derive(Clone)]
pub struct Facts {
    /// The server the token was read from.
    pub source: String,
    /// The token of the source's rancherd config, or why it is not usable.
    pub token: Result<Token, String>,
    pub nodes: BTreeMap<String, NodeFacts>,
}

/// What is done on one node: the edited files (holding the token), then a
/// restart of rancherd when it needs one; verified against `expected`.
/// A rerun after an earlier run wrote the files restarts only a rancherd
/// still looping on the old token, and one after a finished fix does
/// nothing but verify.
#[derive(Clone)]
pub struct NodeWork {
    pub edits: Vec<Arc<FileChange>>,
    pub restart: bool,
    pub expected: Token,
}

impl fmt::Debug for NodeWork {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NodeWork")
            .field(
                "edits",
                &self.edits.iter().map(|e| &e.path).collect::<Vec<_>>(),
            )
            .field("restart", &self.restart)
            .field("expected", &self.expected)
            .finish()
    }
}

/// The fix of a joining node's token.
pub struct TokenFix;

fn refusal_for_joined(node: &str) -> String {
    format!(
        "refused: {node} has RKE2 bootstrap data ({BOOTSTRAP_DATA}): it has joined, and its datastore is encrypted with the token it joined with. Editing its token makes rke2-server fatal at the next start (\"bootstrap data already found and encrypted with different token\"); `token fix` is only for a node that has not joined"
    )
}

impl TokenFix {
    /// The edited files of one node, with what each preview line says.
    fn edits(
        &self,
        node: &str,
        n: &NodeFacts,
        token: &Token,
    ) -> Result<Vec<(String, FileChange)>, String> {
        let mut out = Vec::new();
        for (path, f) in &n.files {
            let (edited, what) = if path == RANCHERD_CONFIG
                || path == RANCHERD_RKE2_DROPIN
                || path == INSTALL_CONFIG
            {
                match token::token_from_yaml(&f.text) {
                    Ok(Some(t)) if t.expose_secret() == token.expose_secret() => continue,
                    Ok(None) => continue,
                    _ => {}
                }
                let backup = if path.starts_with("/oem/") {
                    " (backup to /oem/install/)"
                } else {
                    ""
                };
                (
                    set_token_in_yaml(&f.text, token).map_err(|e| format!("{node} {path}: {e}"))?,
                    format!("{path}: token: -> {}{backup}", token.short_hash()),
                )
            } else {
                let mut text = Zeroizing::new(f.text.to_string());
                let mut changed = Vec::new();
                let cfg = crate::creds::oem::parse_oem(&f.text).ok();
                for inner in [RANCHERD_CONFIG, RANCHERD_RKE2_DROPIN] {
                    let holds = cfg
                        .as_ref()
                        .is_some_and(|c| c.files.iter().any(|e| e.path == inner));
                    if !holds {
                        continue;
                    }
                    match set_file_token_in_oem(&text, inner, token) {
                        Ok(t) if *t != *text => {
                            text = t;
                            changed.push(inner);
                        }
                        Ok(_) => {}
                        Err(e) => return Err(format!("{node} {path} ({inner}): {e}")),
                    }
                }
                if changed.is_empty() {
                    continue;
                }
                (
                    text,
                    format!(
                        "{path}: token: inside the content of {} -> {} (backup to /oem/install/)",
                        changed.join(" and "),
                        token.short_hash()
                    ),
                )
            };
            out.push((
                what,
                FileChange {
                    path: path.clone(),
                    from: f.version.clone(),
                    content: Zeroizing::new(edited.as_bytes().to_vec()),
                    backup: Backup::for_path(path),
                    new_mode: 0o600,
                },
            ));
        }
        Ok(out)
    }
}

impl Change for TokenFix {
    type Draft = ();
    type Facts = Facts;
    type Work = NodeWork;

    fn action(&self) -> &'static str {
        ACTION
    }

    fn validate(&self, _: &(), facts: &Facts) -> Vec<Problem> {
        let mut p = Vec::new();
        let err = |field, message: String| Problem {
            field,
            severity: Severity::Error,
            message,
        };
        if let Err(e) = &facts.token {
            p.push(err("from", e.clone()));
        }
        for (node, n) in &facts.nodes {
            if *node == facts.source {
                p.push(err(
                    "node",
                    format!("refused: {node} is the server the token is read from"),
                ));
            }
            // A joined node whose copies already hold the token has nothing
            // to write: a rerun after a finished fix, only verified.
            let writes = facts
                .token
                .as_ref()
                .is_ok_and(|t| self.edits(node, n, t).map_or(true, |e| !e.is_empty()));
            if n.bootstrap_data && writes {
                p.push(err("node", refusal_for_joined(node)));
            } else if !n.bootstrap_data && n.rancherd_loop.is_none() {
                p.push(Problem {
                    field: "node",
                    severity: Severity::Warning,
                    message: format!(
                        "{node}'s rancherd log shows no 502 `cacerts` loop this boot: the token may not be what keeps it from joining"
                    ),
                });
            }
            if !n.files.contains_key(RANCHERD_CONFIG) {
                p.push(err(
                    "node",
                    format!("{node} has no {RANCHERD_CONFIG}: not a Harvester node that joins with rancherd"),
                ));
            }
        }
        p
    }

    fn plan(
        &self,
        _: &(),
        facts: &Facts,
        targets: &[String],
    ) -> Result<Vec<Planned<NodeWork>>, String> {
        let token = facts.token.as_ref().map_err(Clone::clone)?;
        let mut out = Vec::new();
        for node in targets {
            let n = facts
                .nodes
                .get(node)
                .ok_or_else(|| format!("{node} was not read"))?;
            let edits = self.edits(node, n, token)?;
            // Written by an earlier run: restart only a rancherd that still
            // runs with the old token; one that joined or is bootstrapping
            // now is left alone (a restart would be the second).
            let restart = !edits.is_empty() || (!n.bootstrap_data && n.looping_now);
            let mut preview = vec![format!(
                "the token of {}'s rancherd config ({}, {}), never shown",
                facts.source,
                token.short_hash(),
                token.format_name()
            )];
            if edits.is_empty() {
                preview.push("every copy on the node already holds it: nothing to write".into());
            }
            preview.extend(edits.iter().map(|(what, _)| what.clone()));
            preview.push(if restart {
                "then: systemctl restart rancherd, and its log followed until it bootstraps or the 502 `cacerts` failure repeats; then the Node Ready in the API".into()
            } else if n.bootstrap_data {
                "it has joined: no restart; checked that the Node is Ready and the copies agree".into()
            } else {
                "rancherd's running process has not looped since its last start: no restart; the Node followed until Ready".into()
            });
            out.push(Planned {
                target: node.clone(),
                preview,
                work: NodeWork {
                    edits: edits.into_iter().map(|(_, c)| Arc::new(c)).collect(),
                    restart,
                    expected: token.clone(),
                },
            });
        }
        Ok(out)
    }

    fn consequences(&self, _facts: &Facts) -> Vec<String> {
        vec![
            "rancherd restarts on the node and, with the cluster's token, bootstraps: it installs and starts RKE2, and the node joins".into(),
            "the /oem copy makes the fix survive a reboot (yip renders rancherd's config from it at every boot)".into(),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flows::Step;
    use crate::flows::engine::{ApplyOptions, Event, Walk};

    const OEM: &str = "stages:\n  initramfs:\n  - files:\n    - path: /etc/rancher/rancherd/config.yaml\n      content: |\n        role: server\n        token: \"wrong-one\"\n      encoding: \"\"\n";

    fn facts(bootstrap: bool) -> Facts {
        let file = |t: &str| FileNow {
            text: Zeroizing::new(t.to_string()),
            version: Version::of(t.as_bytes()),
        };
        let mut files = BTreeMap::new();
        files.insert(
            RANCHERD_CONFIG.to_string(),
            file("role: server\ntoken: \"wrong-one\"\n"),
        );
        files.insert("/oem/90_custom.yaml".to_string(), file(OEM));
        let mut nodes = BTreeMap::new();
        nodes.insert(
            "node3".to_string(),
            NodeFacts {
                role: "server".into(),
                bootstrap_data: bootstrap,
                rancherd_loop: Some(JoinLoop {
                    line: "502 Bad Gateway getting cacerts".into(),
                    repeats: 3,
                }),
                looping_now: !bootstrap,
                files,
            },
        );
        Facts {
            source: "node1".into(),
            token: Ok(Token::parse("Right-Token-42").unwrap()),
            nodes,
        }
    }

    fn walk(f: Facts) -> Walk<TokenFix> {
        let (mut w, _) = Walk::new(
            TokenFix,
            vec!["node3".into()],
            (),
            ApplyOptions::default(),
            "c".into(),
        );
        w.handle(Event::Loaded(f));
        w.handle(Event::Next);
        w
    }

    #[test]
    fn a_joining_node_gets_both_copies_and_the_preview_never_shows_the_token() {
        let w = walk(facts(false));
        assert_eq!(w.step, Step::Preview, "{:?}", w.problems);
        let p = &w.plan[0];
        let text = p.preview.join("\n");
        assert!(!text.contains("Right-Token-42"), "{text}");
        assert!(
            text.contains("/etc/rancher/rancherd/config.yaml: token:"),
            "{text}"
        );
        assert!(text.contains("/oem/90_custom.yaml: token: inside the content of /etc/rancher/rancherd/config.yaml"), "{text}");
        assert!(!format!("{:?}", p.work).contains("Right-Token-42"));
        assert_eq!(p.work.edits.len(), 2);
        for e in &p.work.edits {
            let c = String::from_utf8_lossy(&e.content);
            assert!(
                c.contains("\"Right-Token-42\"") && !c.contains("wrong-one"),
                "{c}"
            );
        }
    }

    #[test]
    fn a_node_with_bootstrap_data_is_refused_with_why() {
        let w = walk(facts(true));
        assert_eq!(w.step, Step::Edit);
        let m = &w.problems[0].message;
        assert!(
            m.starts_with("refused: node3 has RKE2 bootstrap data"),
            "{m}"
        );
        assert!(m.contains("bootstrap data already found and encrypted with different token"));
    }

    /// A rerun: the copies hold the token already (an earlier run wrote
    /// them). Nothing is written; rancherd restarts only while its running
    /// process still loops on the old token, so a finished fix is not
    /// restarted a second time, and a joined node is verified, not refused.
    #[test]
    fn copies_that_already_agree_restart_only_a_rancherd_still_looping() {
        let agreeing = |bootstrap: bool, looping_now: bool| {
            let mut f = facts(bootstrap);
            f.token = Ok(Token::parse("wrong-one").unwrap());
            f.nodes.get_mut("node3").unwrap().looping_now = looping_now;
            let w = walk(f);
            assert_eq!(w.step, Step::Preview, "{:?}", w.problems);
            let p = &w.plan[0];
            assert!(p.work.edits.is_empty());
            let text = p.preview.join("\n");
            assert!(text.contains("nothing to write"), "{text}");
            (p.work.restart, text)
        };
        let (restart, text) = agreeing(false, true);
        assert!(restart, "{text}");
        let (restart, text) = agreeing(true, false);
        assert!(!restart, "{text}");
        assert!(text.contains("it has joined: no restart"), "{text}");
        let (restart, text) = agreeing(false, false);
        assert!(!restart, "{text}");
        assert!(text.contains("no restart"), "{text}");
    }

    #[test]
    fn the_view_marks_the_looping_node_and_the_copies_that_disagree() {
        use crate::creds::report::AreaReport;
        let copy = |s: &str, h: &str| TokenCopy {
            source: s.into(),
            short_hash: h.into(),
            format: "short".into(),
        };
        let area = AreaReport {
            level: Level::Ok,
            findings: vec![],
        };
        let n1 = vec![copy(SERVER_TOKEN, "h:a"), copy(RANCHERD_CONFIG, "h:a")];
        let n3 = vec![copy(RANCHERD_CONFIG, "h:b")];
        let v = build_view(
            vec![
                NodeInput {
                    node: "node1",
                    role: "server",
                    read: Ok((&n1, &area)),
                    join: JoinState::default(),
                },
                NodeInput {
                    node: "node3",
                    role: "server",
                    read: Ok((&n3, &area)),
                    join: JoinState {
                        bootstrap_data: Some(false),
                        rancherd_loop: Some(JoinLoop {
                            line: "x".into(),
                            repeats: 2,
                        }),
                    },
                },
            ],
            &[copy(
                "secret fleet-local/local-rke-state serverToken",
                "h:a",
            )],
            None,
        );
        assert_eq!(v.exit_code, 2);
        assert_eq!(v.servers_token.as_deref(), Some("h:a"));
        assert_eq!(v.nodes[0].copies[1].agrees_with_servers, Some(true));
        assert_eq!(v.nodes[1].copies[0].agrees_with_servers, Some(false));
        assert_eq!(v.nodes[1].level, "critical");
        assert!(
            v.nodes[1].findings[0]
                .message
                .contains("token fix --node node3")
        );
        assert_eq!(v.cluster[0].agrees_with_servers, Some(true));
    }
}
