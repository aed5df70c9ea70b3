//! `harvcred certs`: every certificate of every node (and of the
//! `ssl-certificates` / `additional-ca` settings), like `kubeadm certs
//! check-expiration`, worst first.

use clap::Args;
use serde::Serialize;
use time::OffsetDateTime;

use super::ConnectArgs;
use super::status::{sweep, table};
use crate::creds::Level;
use crate::creds::certs::{CertAssessment, table_rows};
use crate::logs::sanitize_str;
use crate::status::{NodeOutcome, Sweep};

#[derive(Debug, Clone, Args)]
pub struct CertsArgs {
    /// Print JSON (field names documented in README).
    #[arg(long)]
    pub json: bool,
    /// Only this node (repeatable).
    #[arg(long = "node", value_name = "NAME")]
    pub nodes: Vec<String>,
    /// Also list certificates far from expiry (level ok).
    #[arg(long)]
    pub all: bool,
}

/// One certificate; field names are part of the interface (README).
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct CertJson {
    /// Node name, or `cluster` for the certificates of settings.
    pub node: String,
    pub file: String,
    /// 0-based PEM block in the file.
    pub block: usize,
    pub subject: String,
    pub issuer: String,
    pub not_after: String,
    pub days_left: i64,
    pub residual: String,
    pub authority: String,
    pub is_ca: bool,
    pub level: Level,
    pub serial: String,
    pub sha256: String,
    pub message: String,
}

/// Every certificate with its node, worst first; with `all == false`, the
/// `ok` ones are left out and counted.
pub fn collect(s: &Sweep, all: bool) -> (Vec<(String, CertAssessment)>, usize) {
    let mut items: Vec<(String, CertAssessment)> = Vec::new();
    for n in &s.nodes {
        if let NodeOutcome::Report(r) = &n.outcome {
            items.extend(r.certs.iter().map(|c| (n.info.name.clone(), c.clone())));
        }
    }
    items.extend(
        s.cluster
            .certs
            .iter()
            .map(|c| ("cluster".to_string(), c.clone())),
    );
    crate::creds::certs::sort_with_nodes(&mut items);
    let mut sorted = items;
    let before = sorted.len();
    if !all {
        sorted.retain(|(_, c)| c.level != Level::Ok);
    }
    let left_out = before - sorted.len();
    (sorted, left_out)
}

pub fn to_json(items: &[(String, CertAssessment)], now: OffsetDateTime) -> Vec<CertJson> {
    items
        .iter()
        .map(|(node, a)| {
            let row = &table_rows(std::slice::from_ref(a), now)[0];
            CertJson {
                node: node.clone(),
                file: a.cert.path.clone(),
                block: a.cert.index,
                subject: row.subject.clone(),
                issuer: a.cert.issuer.clone(),
                not_after: a
                    .cert
                    .not_after
                    .format(&time::format_description::well_known::Rfc3339)
                    .unwrap_or_default(),
                days_left: a.days_left(),
                residual: row.residual.clone(),
                authority: row.authority.clone(),
                is_ca: a.cert.is_ca,
                level: a.level,
                serial: a.cert.serial_hex.clone(),
                sha256: a.cert.sha256.clone(),
                message: a.message.clone(),
            }
        })
        .collect()
}

pub fn render(items: &[(String, CertAssessment)], left_out: usize, now: OffsetDateTime) -> String {
    let mut rows = vec![vec![
        "NODE".to_string(),
        "CERTIFICATE".into(),
        "SUBJECT".into(),
        "EXPIRES".into(),
        "RESIDUAL TIME".into(),
        "CERTIFICATE AUTHORITY".into(),
        "CA".into(),
        "LEVEL".into(),
    ]];
    for (node, a) in items {
        let r = &table_rows(std::slice::from_ref(a), now)[0];
        let file = if a.cert.index > 0 {
            format!("{}#{}", a.cert.path, a.cert.index + 1)
        } else {
            a.cert.path.clone()
        };
        rows.push(vec![
            sanitize_str(node).into_owned(),
            sanitize_str(&file).into_owned(),
            sanitize_str(&r.subject).into_owned(),
            r.expires.clone(),
            r.residual.clone(),
            sanitize_str(&r.authority).into_owned(),
            if r.is_ca { "yes" } else { "no" }.into(),
            r.level.to_string(),
        ]);
    }
    let mut out = table(&rows);
    if left_out > 0 {
        out.push_str(&format!(
            "\n{left_out} certificates expire in more than 120 days and are not shown (--all shows them)\n"
        ));
    }
    out
}

/// Exit code: the worst certificate's (monitoring convention), 2 when a node
/// could not be read, 3 when there is nothing to judge.
pub fn exit_code(s: &Sweep, items: &[(String, CertAssessment)]) -> i32 {
    if s.nodes.is_empty() {
        return 3;
    }
    if s.nodes
        .iter()
        .any(|n| matches!(n.outcome, NodeOutcome::Failed(_)))
    {
        return 2;
    }
    items
        .iter()
        .map(|(_, c)| c.level.exit_code())
        .max()
        .unwrap_or(0)
}

pub fn run(args: CertsArgs, connect: &ConnectArgs) -> anyhow::Result<i32> {
    let s = match sweep(connect, &args.nodes) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("harvcred certs: {}", super::status::error_line(&e));
            return Ok(3);
        }
    };
    let now = OffsetDateTime::now_utc();
    let (items, left_out) = collect(&s, args.all);
    if args.json {
        println!("{}", super::status::json_text(&to_json(&items, now))?);
    } else {
        print!("{}", render(&items, left_out, now));
        for n in &s.nodes {
            if let NodeOutcome::Failed(u) = &n.outcome {
                println!(
                    "{} unreachable ({}): {}",
                    sanitize_str(&n.info.name),
                    u.reason.label(),
                    sanitize_str(&u.detail)
                );
            }
        }
    }
    Ok(exit_code(&s, &items))
}
