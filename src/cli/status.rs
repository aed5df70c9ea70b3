//! `harvcred status`: every node's credential levels per area and the
//! cluster settings, as a table or JSON, with a monitoring exit code.

use std::collections::BTreeMap;

use clap::Args;
use serde::Serialize;

use super::ConnectArgs;
use crate::creds::level::{Finding, Level};
use crate::creds::report::Area;
use crate::logs::sanitize_str;
use crate::status::{NodeOutcome, Sweep, Unreadable};

#[derive(Debug, Clone, Args)]
pub struct StatusArgs {
    /// Print JSON (field names documented in README).
    #[arg(long)]
    pub json: bool,
    /// Only this node (repeatable).
    #[arg(long = "node", value_name = "NAME")]
    pub nodes: Vec<String>,
}

/// The JSON document; field names are part of the interface (README).
#[derive(Debug, Serialize)]
pub struct StatusJson {
    pub exit_code: i32,
    pub nodes: Vec<NodeJson>,
    pub cluster: ClusterJson,
}

#[derive(Debug, Serialize)]
pub struct NodeJson {
    pub node: String,
    pub role: String,
    pub address: Option<String>,
    /// Worst level over the areas; `unreachable` when the node could not be read.
    pub level: String,
    /// Why the node could not be read (`reason`: auth, host-key, timeout, refused, sudo, ...).
    pub error: Option<Unreadable>,
    /// Per area (`certificates`, `keys`, `password`, `token`, `proxy`).
    pub areas: BTreeMap<Area, AreaJson>,
    /// rancher's SSH keys: `runtime` (authorized_keys) or the /oem file they are persisted in.
    pub keys: Vec<KeyJson>,
    /// Where the cluster token is stored; a short keyed hash, never the value.
    pub tokens: Vec<TokenJson>,
}

#[derive(Debug, Serialize)]
pub struct KeyJson {
    pub source: String,
    #[serde(rename = "type")]
    pub key_type: String,
    /// `SHA256:...`, as `ssh-keygen -lf` prints it.
    pub fingerprint: String,
    pub comment: String,
    /// harvcred's own connection logged in with this key (sshd's log says so).
    pub login: bool,
}

#[derive(Debug, Serialize)]
pub struct TokenJson {
    pub source: String,
    pub short_hash: String,
    pub format: String,
}

#[derive(Debug, Serialize)]
pub struct AreaJson {
    pub level: Level,
    pub findings: Vec<Finding>,
}

#[derive(Debug, Serialize)]
pub struct ClusterJson {
    pub level: Level,
    /// The `http-proxy` setting with credentials masked.
    pub http_proxy: Option<String>,
    pub findings: Vec<Finding>,
    /// Why the API could not be read.
    pub api_error: Option<String>,
}

/// Exit code: 2 when anything is critical or expired or a node cannot be
/// read; else 3 when something could not be judged; else 1 for a warning;
/// else 0 (`renews-at-restart` is 0: RKE2 renews it by itself at the next start).
pub fn exit_code(s: &Sweep) -> i32 {
    let mut levels: Vec<Level> = vec![s.cluster.level];
    let mut unreachable = false;
    for n in &s.nodes {
        match &n.outcome {
            NodeOutcome::Report(r) => levels.extend(r.areas.values().map(|a| a.level)),
            NodeOutcome::Failed(_) => unreachable = true,
        }
    }
    if s.nodes.is_empty() {
        return 3;
    }
    let has = |l: &[Level]| levels.iter().any(|x| l.contains(x));
    if unreachable || has(&[Level::Critical, Level::Expired]) {
        2
    } else if has(&[Level::Unknown]) {
        3
    } else if has(&[Level::Warn]) {
        1
    } else {
        0
    }
}

pub fn to_json(s: &Sweep) -> StatusJson {
    StatusJson {
        exit_code: exit_code(s),
        nodes: s
            .nodes
            .iter()
            .map(|n| {
                let (keys, tokens) = match &n.outcome {
                    NodeOutcome::Report(r) => (
                        r.runtime_keys
                            .iter()
                            .map(|k| ("runtime".to_string(), k))
                            .chain(r.persisted_keys.iter().map(|k| (k.source.clone(), &k.key)))
                            .map(|(source, k)| KeyJson {
                                source,
                                key_type: k.key_type.clone(),
                                fingerprint: k.fingerprint.clone(),
                                comment: k.comment.clone(),
                                login: r.login_fingerprint.as_ref() == Some(&k.fingerprint),
                            })
                            .collect(),
                        r.tokens
                            .iter()
                            .map(|t| TokenJson {
                                source: t.source.clone(),
                                short_hash: t.short_hash.clone(),
                                format: t.format.clone(),
                            })
                            .collect(),
                    ),
                    NodeOutcome::Failed(_) => (Vec::new(), Vec::new()),
                };
                let (level, error, areas) = match &n.outcome {
                    NodeOutcome::Report(r) => (
                        r.worst().as_str().to_string(),
                        None,
                        r.areas
                            .iter()
                            .map(|(a, rep)| {
                                (
                                    *a,
                                    AreaJson {
                                        level: rep.level,
                                        findings: rep.findings.clone(),
                                    },
                                )
                            })
                            .collect(),
                    ),
                    NodeOutcome::Failed(u) => {
                        ("unreachable".to_string(), Some(u.clone()), BTreeMap::new())
                    }
                };
                NodeJson {
                    node: n.info.name.clone(),
                    role: n.info.role.label().to_string(),
                    address: n.info.address.clone(),
                    level,
                    error,
                    areas,
                    keys,
                    tokens,
                }
            })
            .collect(),
        cluster: ClusterJson {
            level: s.cluster.level,
            http_proxy: s.cluster.http_proxy_masked.clone(),
            findings: s.cluster.findings.clone(),
            api_error: s.api_error.clone(),
        },
    }
}

/// The table: a row per node, then what needs doing, then the settings.
pub fn render(s: &Sweep) -> String {
    let mut out = String::new();
    let mut rows = vec![vec![
        "NODE".to_string(),
        "ROLE".into(),
        "ADDRESS".into(),
        "CERTS".into(),
        "KEYS".into(),
        "PASSWORD".into(),
        "TOKEN".into(),
        "PROXY".into(),
    ]];
    let mut notes = Vec::new();
    for n in &s.nodes {
        let mut row = vec![
            sanitize_str(&n.info.name).into_owned(),
            n.info.role.label().to_string(),
            sanitize_str(n.info.address.as_deref().unwrap_or("-")).into_owned(),
        ];
        match &n.outcome {
            NodeOutcome::Report(r) => {
                for a in Area::ALL {
                    row.push(r.level(a).as_str().to_string());
                    for f in &r.areas[&a].findings {
                        if f.level != Level::Ok && f.level != Level::RenewsAtRestart {
                            notes.push(format!(
                                "{} {} {}: {}: {}",
                                sanitize_str(&n.info.name),
                                a.title().to_lowercase(),
                                f.level,
                                sanitize_str(&f.subject),
                                sanitize_str(&f.message)
                            ));
                        }
                    }
                }
            }
            NodeOutcome::Failed(u) => {
                for _ in Area::ALL {
                    row.push("-".into());
                }
                notes.push(format!(
                    "{} unreachable ({}): {}",
                    sanitize_str(&n.info.name),
                    u.reason.label(),
                    sanitize_str(&u.detail)
                ));
            }
        }
        rows.push(row);
    }
    out.push_str(&table(&rows));
    if !notes.is_empty() {
        out.push('\n');
        for n in notes {
            out.push_str(&n);
            out.push('\n');
        }
    }
    out.push_str(&format!("\ncluster settings: {}\n", s.cluster.level));
    if let Some(p) = &s.cluster.http_proxy_masked {
        out.push_str(&format!("  http-proxy: {}\n", sanitize_str(p)));
    }
    for f in &s.cluster.findings {
        out.push_str(&format!(
            "  {} {}: {}\n",
            f.level,
            sanitize_str(&f.subject),
            sanitize_str(&f.message)
        ));
    }
    if let Some(e) = &s.api_error {
        out.push_str(&format!("  API: {}\n", sanitize_str(e)));
    }
    out
}

/// JSON for the terminal or a pipe: serde_json escapes C0 controls only, so
/// C1 controls, bidi overrides and the other characters the sanitiser
/// escapes are written as `\uXXXX` too (still the same JSON value).
pub fn json_text<T: Serialize>(v: &T) -> serde_json::Result<String> {
    Ok(escape_json_unicode(&serde_json::to_string_pretty(v)?))
}

/// `\uXXXX` (UTF-16, surrogate pairs above U+FFFF) for DEL and every
/// non-ASCII character the sanitiser would escape; only inside JSON strings can there
/// be non-ASCII characters, so the structure is untouched.
pub fn escape_json_unicode(json: &str) -> String {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(json.len());
    for c in json.chars() {
        // serde_json leaves DEL raw as well; other ASCII controls it escapes.
        if (!c.is_ascii() || c == '\x7f') && crate::logs::sanitize::needs_escape(c) {
            let mut units = [0u16; 2];
            for u in c.encode_utf16(&mut units) {
                let _ = write!(out, "\\u{u:04x}");
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// An error for the terminal: its whole chain, remote words escaped.
pub fn error_line(e: &anyhow::Error) -> String {
    sanitize_str(&format!("{e:#}")).into_owned()
}

/// Left-aligned columns, two spaces apart.
pub fn table(rows: &[Vec<String>]) -> String {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..cols)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|s| s.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for r in rows {
        let mut line = String::new();
        for (i, cell) in r.iter().enumerate() {
            if i + 1 == r.len() {
                line.push_str(cell);
            } else {
                line.push_str(&crate::ui::sanitize::pad_to(cell, widths[i]));
                line.push_str("  ");
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// Runs a sweep for the CLI commands: connection flags, config, inventory.
pub fn sweep(connect: &ConnectArgs, only: &[String]) -> anyhow::Result<Sweep> {
    let paths = crate::config::Paths::from_env();
    let config = crate::config::Config::load(&paths.config_file())?;
    let inventory = match connect.inventory.as_ref().or(config.inventory.as_ref()) {
        Some(p) => crate::cluster::load_inventory(p)?,
        None => Vec::new(),
    };
    let ssh = connect.ssh_settings(&config, &paths);
    let kube = connect.kube();
    let rt = super::runtime()?;
    let mut s = rt.block_on(async {
        let pool = crate::node::Pool::new(ssh);
        let s = crate::status::sweep_all(&kube, &pool, inventory, config.certificates).await;
        let _ = tokio::time::timeout(std::time::Duration::from_secs(3), pool.close_all()).await;
        s
    });
    // With a Rancher context, expiring cloud credentials are cluster findings.
    if let Some(rancher) = connect.rancher(&config) {
        let found = rt.block_on(super::cloudcreds::status_findings(
            &rancher,
            &config.certificates,
        ));
        s.cluster.level = s.cluster.level.worse(crate::creds::level::worst_of(&found));
        s.cluster.findings.extend(found);
    }
    if !only.is_empty() {
        for name in only {
            if !s.nodes.iter().any(|n| &n.info.name == name) {
                anyhow::bail!("no node named {name:?} in the cluster");
            }
        }
        s.nodes.retain(|n| only.contains(&n.info.name));
    }
    Ok(s)
}

pub fn run(args: StatusArgs, connect: &ConnectArgs) -> anyhow::Result<i32> {
    let s = match sweep(connect, &args.nodes) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("harvcred status: {}", error_line(&e));
            return Ok(3);
        }
    };
    if args.json {
        println!("{}", json_text(&to_json(&s))?);
    } else {
        print!("{}", render(&s));
    }
    Ok(exit_code(&s))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::{NodeInfo, Role};
    use crate::creds::report::{AreaReport, NodeReport};
    use crate::status::{ClusterReport, ReadFailure, SweptNode};
    use std::sync::Arc;

    /// What a hostile node or API could put in a finding.
    const HOSTILE: &str = "ok\u{1b}]52;c;aGk=\u{7} \u{9b}31m \u{202e}txt.exe \u{e0041}";

    fn node(name: &str, levels: [Level; 5]) -> SweptNode {
        let areas = Area::ALL
            .iter()
            .zip(levels)
            .map(|(a, level)| {
                (
                    *a,
                    AreaReport {
                        level,
                        findings: vec![Finding::new(level, format!("{name} {a:?}"), HOSTILE)],
                    },
                )
            })
            .collect();
        SweptNode {
            info: NodeInfo {
                name: name.into(),
                role: Role::Server,
                address: Some("10.0.0.1".into()),
                ready: Some(true),
            },
            outcome: NodeOutcome::Report(Arc::new(NodeReport {
                node: name.into(),
                areas,
                certs: Vec::new(),
                runtime_keys: Vec::new(),
                persisted_keys: Vec::new(),
                tokens: Vec::new(),
                login_fingerprint: None,
            })),
        }
    }

    fn sweep(nodes: Vec<SweptNode>) -> Sweep {
        Sweep {
            nodes,
            cluster: ClusterReport {
                level: Level::Ok,
                http_proxy_masked: None,
                findings: Vec::new(),
                certs: Vec::new(),
            },
            api_error: None,
        }
    }

    const OK: [Level; 5] = [Level::Ok; 5];

    #[test]
    fn exit_codes_0_1_2_3_for_ok_warn_critical_and_unjudged() {
        let with = |l: Level| {
            let mut levels = OK;
            levels[2] = l;
            sweep(vec![node("node1", OK), node("node2", levels)])
        };
        assert_eq!(exit_code(&with(Level::Ok)), 0);
        assert_eq!(exit_code(&with(Level::RenewsAtRestart)), 0);
        assert_eq!(exit_code(&with(Level::Warn)), 1);
        assert_eq!(exit_code(&with(Level::Critical)), 2);
        assert_eq!(exit_code(&with(Level::Expired)), 2);
        assert_eq!(exit_code(&with(Level::Unknown)), 3);
        assert_eq!(exit_code(&sweep(Vec::new())), 3);
        let mut unreachable = with(Level::Ok);
        unreachable.nodes[1].outcome = NodeOutcome::Failed(Unreadable {
            reason: ReadFailure::Sudo,
            detail: "sudo: a password is required".into(),
        });
        assert_eq!(exit_code(&unreachable), 2);
        // The JSON carries the same code.
        assert_eq!(to_json(&unreachable).exit_code, 2);
    }

    /// The field names README documents.
    #[test]
    fn json_field_names_are_the_documented_ones() {
        let mut s = sweep(vec![node("node1", OK)]);
        s.nodes.push(SweptNode {
            outcome: NodeOutcome::Failed(Unreadable {
                reason: ReadFailure::HostKey,
                detail: "x".into(),
            }),
            ..node("node2", OK)
        });
        let j: serde_json::Value = serde_json::from_str(&json_text(&to_json(&s)).unwrap()).unwrap();
        let keys = |v: &serde_json::Value| {
            let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
            k.sort();
            k
        };
        assert_eq!(keys(&j), ["cluster", "exit_code", "nodes"]);
        assert_eq!(
            keys(&j["nodes"][0]),
            [
                "address", "areas", "error", "keys", "level", "node", "role", "tokens"
            ]
        );
        assert_eq!(
            keys(&j["nodes"][0]["areas"]),
            ["certificates", "keys", "password", "proxy", "token"]
        );
        assert_eq!(keys(&j["nodes"][0]["areas"]["keys"]), ["findings", "level"]);
        assert_eq!(
            keys(&j["nodes"][0]["areas"]["keys"]["findings"][0]),
            ["level", "message", "subject"]
        );
        assert_eq!(j["nodes"][1]["level"], "unreachable");
        assert_eq!(j["nodes"][1]["error"]["reason"], "host-key");
        assert_eq!(
            keys(&j["cluster"]),
            ["api_error", "findings", "http_proxy", "level"]
        );
    }

    /// Remote text reaches the terminal escaped, in the table and in JSON
    /// (which serde_json alone leaves raw for C1 controls and bidi overrides).
    #[test]
    fn remote_text_is_escaped_in_the_table_and_in_json() {
        let mut levels = OK;
        levels[0] = Level::Warn;
        let s = sweep(vec![node("node1", levels)]);
        let dangerous = |t: &str| {
            t.chars().any(|c| {
                matches!(
                    c,
                    '\u{1b}' | '\u{7}' | '\u{80}'..='\u{9f}' | '\u{202e}' | '\u{e0041}'
                )
            })
        };
        let table = render(&s);
        assert!(table.contains("txt.exe"), "{table}");
        assert!(!dangerous(&table), "{table:?}");
        let json = json_text(&to_json(&s)).unwrap();
        assert!(!dangerous(&json), "{json:?}");
        assert!(
            json.contains("\\u009b31m \\u202etxt.exe \\udb40\\udc41"),
            "{json}"
        );
        // Still the same value once parsed.
        let back: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(
            back["nodes"][0]["areas"]["keys"]["findings"][0]["message"],
            HOSTILE
        );
        let e = anyhow::anyhow!("listing nodes: \u{1b}[31mforbidden\u{9b}");
        assert!(!dangerous(&error_line(&e)));
    }
}
