//! `harvcred cloudcreds show|renew`: Harvester cloud credentials in the
//! operator's Rancher (`--rancher-context` or `[rancher]` in config.toml):
//! which cluster each is for, when its token expires, and renewing one
//! with a new kubeconfig (checked, previewed, confirmed, patched with the
//! resourceVersion read, verified, audited). A token's secret part is never
//! printed, logged or audited; only its name.

use std::io::IsTerminal;
use std::path::PathBuf;

use clap::{Args, Subcommand};
use serde::Serialize;
use serde_json::json;
use zeroize::Zeroizing;

use super::ConnectArgs;
use super::status::{error_line, json_text, table};
use crate::audit::{self, Outcome};
use crate::cluster::rancher::{self, CredentialRow, Inventory, Rancher};
use crate::creds::cloudcred::{self, NAMESPACE, TTL_SETTING, TokenInfo, TokenLookup};
use crate::creds::level::{Finding, Level, Thresholds, worst};
use crate::logs::sanitize_str;
use crate::model::ApiProblemKind;

#[derive(Debug, Args)]
pub struct CloudcredsArgs {
    #[command(subcommand)]
    pub command: CloudcredsCommand,
}

#[derive(Debug, Subcommand)]
pub enum CloudcredsCommand {
    /// Every Harvester cloud credential, its cluster and when its token expires (exit 0/1/2/3).
    Show {
        /// Print JSON (field names documented in README).
        #[arg(long)]
        json: bool,
    },
    /// Replace a credential's kubeconfig: --generate, --kubeconfig-file F, or --kubeconfig - (stdin)
    /// (exit 0 done, 1 applied not verified, 2 refused/denied, 3 unreachable).
    Renew {
        /// The credential's secret name in cattle-global-data (`cc-...`).
        name: String,
        /// Have Rancher generate a new kubeconfig for the credential's cluster.
        #[arg(long, conflicts_with = "kubeconfig_file")]
        generate: bool,
        /// Read the new kubeconfig from this file.
        #[arg(long, value_name = "FILE")]
        kubeconfig_file: Option<PathBuf>,
        /// Check and preview (server-side dry run); change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
    },
}

const ACTION: &str = "cloudcreds.renew";

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

fn load_config() -> anyhow::Result<crate::config::Config> {
    crate::config::Config::load(&crate::config::Paths::from_env().config_file())
}

const NO_RANCHER: &str = "no Rancher context: give --rancher-context NAME (a context of the kubeconfig) or a [rancher] section with context = \"...\" in config.toml";

pub fn run(args: CloudcredsArgs, connect: &ConnectArgs, read_only: bool) -> anyhow::Result<i32> {
    let config = match load_config() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("harvcred cloudcreds: {}", error_line(&e));
            return Ok(3);
        }
    };
    match args.command {
        CloudcredsCommand::Show { json } => {
            let Some(settings) = connect.rancher(&config) else {
                eprintln!("harvcred cloudcreds show: {NO_RANCHER}");
                return Ok(3);
            };
            let rt = super::runtime()?;
            let read = rt.block_on(async {
                let r = rancher::connect(&settings).await?;
                let inv = rancher::read(&r).await?;
                Ok::<_, crate::model::ApiProblem>((r, inv))
            });
            let (r, inv) = match read {
                Ok(x) => x,
                Err(p) => {
                    eprintln!(
                        "harvcred cloudcreds show: the Rancher cannot be read ({}): {}",
                        p.short(),
                        sanitize_str(&p.detail)
                    );
                    return Ok(3);
                }
            };
            let (text, code) = show_text(
                &r.context,
                &r.server,
                &inv,
                now(),
                &config.certificates,
                json,
            )?;
            print!("{text}");
            Ok(code)
        }
        CloudcredsCommand::Renew {
            name,
            generate,
            kubeconfig_file,
            dry_run,
            yes,
        } => {
            let why = match (read_only, config.read_only) {
                (true, _) => Some("--read-only"),
                (false, true) => Some("read_only = true in config.toml"),
                _ => None,
            };
            if let Some(why) = why {
                eprintln!(
                    "harvcred cloudcreds renew: refused, {why} forbids changing anything (`harvcred cloudcreds show` reads without changing)"
                );
                return Ok(2);
            }
            // `--kubeconfig -` is the global flag: here it names the new kubeconfig on stdin.
            let from_stdin = connect.kubeconfig.as_deref() == Some(std::path::Path::new("-"));
            let source = match (generate, kubeconfig_file, from_stdin) {
                (true, None, false) => Source::Generate,
                (false, Some(f), false) => Source::Text(read_file(&f)?),
                (false, None, true) => Source::Text(read_stdin()?),
                _ => {
                    eprintln!(
                        "harvcred cloudcreds renew: give exactly one of --generate, --kubeconfig-file FILE, --kubeconfig - (stdin)"
                    );
                    return Ok(2);
                }
            };
            let mut connect = connect.clone();
            if from_stdin {
                connect.kubeconfig = None;
            }
            let Some(settings) = connect.rancher(&config) else {
                eprintln!("harvcred cloudcreds renew: {NO_RANCHER}");
                return Ok(3);
            };
            let state_dir = crate::config::Paths::from_env().state_dir;
            let rt = super::runtime()?;
            Ok(rt.block_on(renew(
                &settings,
                &name,
                source,
                Flags {
                    dry_run,
                    yes,
                    stdin_used: from_stdin,
                },
                &state_dir,
            )))
        }
    }
}

fn read_file(path: &std::path::Path) -> anyhow::Result<Zeroizing<String>> {
    let bytes = Zeroizing::new(
        std::fs::read(path).map_err(|e| anyhow::anyhow!("reading {}: {e}", path.display()))?,
    );
    std::str::from_utf8(&bytes)
        .map(|s| Zeroizing::new(s.to_string()))
        .map_err(|_| anyhow::anyhow!("{} is not UTF-8 text", path.display()))
}

/// A kubeconfig (its token) from stdin, through a buffer wiped as it grows:
/// `read_to_string` frees each outgrown buffer with the bytes in it.
fn read_stdin() -> anyhow::Result<Zeroizing<String>> {
    Ok(super::settings::read_all(std::io::stdin().lock())?)
}

// ---- show -----------------------------------------------------------------

/// A credential as `show --json` prints it; field names are in README.
#[derive(Debug, Serialize)]
pub struct CredentialJson {
    pub name: String,
    pub display_name: Option<String>,
    pub cluster_id: Option<String>,
    pub cluster_name: Option<String>,
    pub cluster_type: Option<String>,
    /// The Rancher token (name, expiresAt, expired, ttl); never its secret.
    pub token: Option<TokenInfo>,
    /// `2026-12-31T00:00:00Z`, `never`, or empty when unknown.
    pub expires: String,
    pub level: Level,
    pub message: String,
}

#[derive(Debug, Serialize)]
pub struct ShowJson {
    pub exit_code: i32,
    pub rancher_context: String,
    pub rancher_server: String,
    /// Rancher's `kubeconfig-default-token-ttl-minutes`; null when unreadable.
    pub kubeconfig_default_token_ttl_minutes: Option<String>,
    pub credentials: Vec<CredentialJson>,
}

fn expires_text(token: &TokenLookup) -> String {
    match token {
        TokenLookup::Found(t) if t.expires_at_text.is_empty() && t.ttl == 0 => "never".into(),
        TokenLookup::Found(t) => t.expires_at_text.clone(),
        _ => String::new(),
    }
}

/// Judges one credential: its token's level, or unknown when its
/// kubeconfig cannot be read.
pub fn judge_row(row: &CredentialRow, now: i64, thresholds: &Thresholds) -> (Level, String) {
    match &row.cred.kubeconfig {
        Err(why) => (
            Level::Unknown,
            format!("its kubeconfig cannot be read: {why}"),
        ),
        Ok(_) => cloudcred::judge(&row.token, now, thresholds),
    }
}

fn credential_json(row: &CredentialRow, now: i64, thresholds: &Thresholds) -> CredentialJson {
    let (level, message) = judge_row(row, now, thresholds);
    CredentialJson {
        name: row.cred.name.clone(),
        display_name: row.cred.display_name.clone(),
        cluster_id: row.cred.cluster_id.clone(),
        cluster_name: row.cluster_name.clone(),
        cluster_type: row.cred.cluster_type.clone(),
        token: match &row.token {
            TokenLookup::Found(t) => Some(t.clone()),
            _ => None,
        },
        expires: expires_text(&row.token),
        level,
        message,
    }
}

/// The findings `status` adds for the credentials: what is not ok.
pub fn findings(inv: &Inventory, now: i64, thresholds: &Thresholds) -> Vec<Finding> {
    inv.rows
        .iter()
        .filter_map(|row| {
            let (level, message) = judge_row(row, now, thresholds);
            (level != Level::Ok).then(|| {
                Finding::new(
                    level,
                    format!("cloud credential {}", subject(row)),
                    format!(
                        "{message} (harvcred cloudcreds renew {} --generate)",
                        row.cred.name
                    ),
                )
            })
        })
        .collect()
}

/// What `status` says about the credentials of the Rancher at `settings`:
/// one finding per credential that is not ok, or one unknown finding when
/// the Rancher cannot be read.
pub async fn status_findings(
    settings: &crate::cluster::KubeSettings,
    thresholds: &Thresholds,
) -> Vec<Finding> {
    let read = async {
        let r = rancher::connect(settings).await?;
        rancher::read(&r).await
    };
    // A Rancher that hangs must not hold up the cluster's status.
    let read = async {
        tokio::time::timeout(std::time::Duration::from_secs(20), read)
            .await
            .unwrap_or_else(|_| {
                Err(crate::model::ApiProblem {
                    kind: ApiProblemKind::Timeout,
                    detail: "no answer within 20 s".into(),
                })
            })
    };
    match read.await {
        Ok(inv) => findings(&inv, now(), thresholds),
        Err(p) => vec![Finding::new(
            Level::Unknown,
            "cloud credentials",
            format!(
                "the Rancher ({}) cannot be read ({}): {}",
                settings.context.as_deref().unwrap_or("?"),
                p.short(),
                p.detail
            ),
        )],
    }
}

/// `cc-x (display) for cluster c-m-y (name)`.
fn subject(row: &CredentialRow) -> String {
    let named = |id: &str, name: &Option<String>| match name {
        Some(n) => format!("{id} ({n})"),
        None => id.to_string(),
    };
    format!(
        "{} for cluster {}",
        named(&row.cred.name, &row.cred.display_name),
        named(
            row.cred.cluster_id.as_deref().unwrap_or("?"),
            &row.cluster_name
        )
    )
}

/// The exit code of a set of levels: 2 expired or critical, else 3 when
/// something could not be judged, else 1 for a warning, else 0 (as `status`).
fn exit_code(levels: &[Level]) -> i32 {
    let has = |l: &[Level]| levels.iter().any(|x| l.contains(x));
    if has(&[Level::Critical, Level::Expired]) {
        2
    } else if has(&[Level::Unknown]) {
        3
    } else {
        worst(levels.iter().copied()).exit_code()
    }
}

/// `show`'s output (remote text escaped) and its exit code.
pub fn show_text(
    context: &str,
    server: &str,
    inv: &Inventory,
    now: i64,
    thresholds: &Thresholds,
    as_json: bool,
) -> anyhow::Result<(String, i32)> {
    let creds: Vec<CredentialJson> = inv
        .rows
        .iter()
        .map(|r| credential_json(r, now, thresholds))
        .collect();
    let code = exit_code(&creds.iter().map(|c| c.level).collect::<Vec<_>>());
    if as_json {
        let doc = ShowJson {
            exit_code: code,
            rancher_context: context.to_string(),
            rancher_server: server.to_string(),
            kubeconfig_default_token_ttl_minutes: inv.ttl_minutes.clone().ok(),
            credentials: creds,
        };
        return Ok((format!("{}\n", json_text(&doc)?), code));
    }
    let mut out = format!(
        "Rancher: {} ({})\n{TTL_SETTING}: {}\n\n",
        sanitize_str(context),
        sanitize_str(server),
        match &inv.ttl_minutes {
            Ok(v) => ttl_words(v),
            Err(e) => format!("cannot be read: {}", sanitize_str(e)),
        }
    );
    if creds.is_empty() {
        out.push_str(&format!("No Harvester cloud credential in {NAMESPACE}.\n"));
        return Ok((out, code));
    }
    let mut rows = vec![vec![
        "CREDENTIAL".to_string(),
        "NAME".into(),
        "CLUSTER".into(),
        "TOKEN".into(),
        "EXPIRES".into(),
        "LEVEL".into(),
    ]];
    let mut notes = Vec::new();
    for c in &creds {
        let esc = |s: &Option<String>| sanitize_str(s.as_deref().unwrap_or("-")).into_owned();
        let cluster = match (&c.cluster_id, &c.cluster_name) {
            (Some(id), Some(n)) => format!("{} ({})", sanitize_str(id), sanitize_str(n)),
            (id, _) => esc(id),
        };
        rows.push(vec![
            sanitize_str(&c.name).into_owned(),
            esc(&c.display_name),
            cluster,
            esc(&c.token.as_ref().map(|t| t.name.clone())),
            if c.expires.is_empty() {
                "-".into()
            } else {
                sanitize_str(&c.expires).into_owned()
            },
            c.level.as_str().to_string(),
        ]);
        if c.level != Level::Ok {
            notes.push(format!(
                "{} {}: {}",
                c.level,
                sanitize_str(&c.name),
                sanitize_str(&c.message)
            ));
        }
    }
    out.push_str(&table(&rows));
    if !notes.is_empty() {
        out.push('\n');
        for n in notes {
            out.push_str(&n);
            out.push('\n');
        }
    }
    Ok((out, code))
}

/// `43200 (30 days)`, `0 (tokens never expire)`.
fn ttl_words(v: &str) -> String {
    match v.trim().parse::<i64>() {
        Ok(0) => format!("{} (tokens never expire)", sanitize_str(v)),
        Ok(m) if m % 1440 == 0 => format!("{m} ({} days)", m / 1440),
        Ok(m) => format!("{m} ({}h {}m)", m / 60, m % 60),
        Err(_) => sanitize_str(v).into_owned(),
    }
}

// ---- renew ----------------------------------------------------------------

enum Source {
    Generate,
    Text(Zeroizing<String>),
}

struct Flags {
    dry_run: bool,
    yes: bool,
    /// The new kubeconfig came on stdin, so stdin cannot confirm.
    stdin_used: bool,
}

/// What the audit line records of a token: name and expiry, never the secret.
fn token_record(name: Option<&str>, lookup: Option<&TokenLookup>) -> serde_json::Value {
    json!({
        "token": name,
        "expiresAt": lookup.map(expires_text),
    })
}

struct Audit<'a> {
    state_dir: &'a std::path::Path,
    cluster: String,
    credential: String,
    correlation_id: String,
}

impl Audit<'_> {
    fn write(
        &self,
        step: &str,
        result: Outcome,
        old: Option<serde_json::Value>,
        new: Option<serde_json::Value>,
        detail: &str,
    ) {
        let mut e = audit::Entry::new(&self.cluster, ACTION, &self.correlation_id, result);
        e.node = Some(self.credential.clone());
        e.step = Some(step.to_string());
        e.old = old;
        e.new = new;
        e.detail = detail.to_string();
        if let Err(err) = audit::append(self.state_dir, &e) {
            tracing::error!("writing the audit log: {err}");
        }
    }
}

fn describe_token(name: Option<&str>, lookup: &TokenLookup, now: i64) -> String {
    let name = sanitize_str(name.unwrap_or("(no token name)")).into_owned();
    match lookup {
        TokenLookup::Found(t) => {
            let (_, words) = cloudcred::judge(lookup, now, &Thresholds::default());
            let exp = if t.expires_at_text.is_empty() && t.ttl == 0 {
                "never expires".to_string()
            } else {
                format!("expires {}", sanitize_str(&t.expires_at_text))
            };
            format!("{name}, {exp} ({})", words.trim_start_matches("its token "))
        }
        TokenLookup::Missing => format!("{name}, not found in Rancher"),
        TokenLookup::Unreadable(why) => format!("{name}, cannot be read: {}", sanitize_str(why)),
    }
}

/// The fault points' target (`src/faults.rs`): the API, as the other flows.
const FAULT_TARGET: &str = "cluster";

/// How long verifying tries to read the credential back.
const VERIFY_WITHIN: std::time::Duration = std::time::Duration::from_secs(45);

fn holds_token(kubeconfig: &str, token: &str) -> bool {
    cloudcred::parse_kubeconfig(kubeconfig).is_ok_and(|k| k.token() == token)
}

/// A dry run or patch (`step`) that did not go through: audited, said,
/// and its exit code (2 denied or changed meanwhile, 3 failed).
fn patch_failed(
    audit: &Audit,
    step: &str,
    failure: rancher::PatchFailure,
    old: serde_json::Value,
    new: serde_json::Value,
) -> i32 {
    let (result, why, code) = match failure {
        rancher::PatchFailure::Conflict => (
            Outcome::Denied,
            "the credential was changed by someone else since it was read (409 Conflict): nothing overwritten; look at it again (cloudcreds show) before retrying".to_string(),
            2,
        ),
        rancher::PatchFailure::Denied(m) => (Outcome::Denied, m, 2),
        rancher::PatchFailure::Failed(m) => (Outcome::Failed, m, 3),
    };
    audit.write(step, result, Some(old), Some(new), &why);
    let what = if step == "dry-run" {
        "the dry run"
    } else {
        "the patch"
    };
    let how = if code == 2 { "was denied" } else { "failed" };
    eprintln!(
        "harvcred cloudcreds renew: {what} {how}: {}",
        sanitize_str(&why)
    );
    code
}

/// Whether what Rancher now stores (not what was sent) holds token
/// `new_name` and authenticates. A read that fails (an API error, no
/// answer) is tried again for [`VERIFY_WITHIN`]: the patch is done, only
/// its check waits.
async fn verify_stored(r: &Rancher, name: &str, new_name: &str) -> Result<(), String> {
    let deadline = tokio::time::Instant::now() + VERIFY_WITHIN;
    let text = loop {
        match rancher::stored_kubeconfig(r, name).await {
            Ok(Some(text)) => break text,
            Ok(None) => return Err("the credential is gone".into()),
            Err(p) if tokio::time::Instant::now() < deadline => {
                tracing::warn!("reading the credential back: {}; trying again", p.detail);
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            }
            Err(p) => return Err(format!("the credential cannot be read back: {}", p.detail)),
        }
    };
    match cloudcred::parse_kubeconfig(&text) {
        Ok(k) if k.token_name.as_deref() == Some(new_name) => rancher::authenticates(&text)
            .await
            .map(|_| ())
            .map_err(|p| {
                format!(
                    "the stored token does not authenticate ({}): {}",
                    p.short(),
                    p.detail
                )
            }),
        Ok(_) => Err("the stored kubeconfig names another token".into()),
        Err(why) => Err(format!("the stored kubeconfig cannot be read: {why}")),
    }
}

async fn renew(
    settings: &crate::cluster::KubeSettings,
    name: &str,
    source: Source,
    flags: Flags,
    state_dir: &std::path::Path,
) -> i32 {
    let who = "harvcred cloudcreds renew";
    let r: Rancher = match rancher::connect(settings).await {
        Ok(r) => r,
        Err(p) => {
            eprintln!(
                "{who}: the Rancher cannot be reached ({}): {}",
                p.short(),
                sanitize_str(&p.detail)
            );
            return 3;
        }
    };
    let audit = Audit {
        state_dir,
        cluster: format!("{} {}", r.context, r.server),
        credential: name.to_string(),
        correlation_id: audit::correlation_id(),
    };
    let refuse = |step: &str, why: &str| {
        audit.write(step, Outcome::Refused, None, None, why);
        eprintln!("{who}: refused: {}", sanitize_str(why));
        2
    };
    crate::faults::point("read", FAULT_TARGET).await;
    let cred = match rancher::credential(&r, name).await {
        Ok(Some(c)) => c,
        Ok(None) => {
            return refuse(
                "validate",
                &format!("no Harvester cloud credential {name} in {NAMESPACE}"),
            );
        }
        Err(p) => {
            let why = format!(
                "the credential cannot be read ({}): {}",
                p.short(),
                p.detail
            );
            // A failed attempt too, though nothing was sent (as the engine's `load`).
            audit.write("load", Outcome::Failed, None, None, &why);
            eprintln!("{who}: {}", sanitize_str(&why));
            return if matches!(p.kind, ApiProblemKind::Auth | ApiProblemKind::Forbidden) {
                2
            } else {
                3
            };
        }
    };
    let Some(cluster_id) = cred.cluster_id.clone() else {
        return refuse(
            "validate",
            "the credential names no cluster (harvestercredentialConfig-clusterId)",
        );
    };
    let old_name = cred
        .kubeconfig
        .as_ref()
        .ok()
        .and_then(|k| k.token_name.clone());
    let old_lookup = match &old_name {
        Some(n) => rancher::token(&r, n).await,
        None => TokenLookup::Unreadable("no token name in the old kubeconfig".into()),
    };
    let cluster_label = match rancher::cluster_display_name(&r, &cluster_id).await {
        Some(n) => format!("{cluster_id} ({n})"),
        None => cluster_id.clone(),
    };
    let old_record = token_record(old_name.as_deref(), Some(&old_lookup));
    let t = now();

    let new_text = match source {
        Source::Text(t) => t,
        Source::Generate if flags.dry_run => {
            // generateKubeconfig makes a token: not in a dry run.
            println!("Preview (cloudcreds renew, dry run):");
            println!("  credential: {}", sanitize_str(name));
            println!("  cluster:    {}", sanitize_str(&cluster_label));
            println!(
                "  old token:  {}",
                describe_token(old_name.as_deref(), &old_lookup, t)
            );
            println!(
                "  new token:  generated by Rancher for {} when run without --dry-run",
                sanitize_str(&cluster_id)
            );
            println!("Dry run: nothing generated, nothing written.");
            audit.write(
                "dry-run",
                Outcome::DryRun,
                Some(old_record),
                None,
                "--generate: nothing generated",
            );
            return 0;
        }
        Source::Generate => match rancher::generate_kubeconfig(&r, &cluster_id).await {
            Ok(k) => k,
            Err(p) => {
                let why = format!(
                    "Rancher's generateKubeconfig failed ({}): {}",
                    p.short(),
                    p.detail
                );
                audit.write("generate", Outcome::Failed, Some(old_record), None, &why);
                eprintln!("{who}: {}", sanitize_str(&why));
                return if matches!(p.kind, ApiProblemKind::Auth | ApiProblemKind::Forbidden) {
                    2
                } else {
                    3
                };
            }
        },
    };

    // Checks, all before anything is written.
    let new = match cloudcred::parse_kubeconfig(&new_text) {
        Ok(k) => k,
        Err(why) => return refuse("validate", &format!("the new kubeconfig: {why}")),
    };
    if new.cluster_id() != Some(cluster_id.as_str()) {
        return refuse(
            "validate",
            &format!(
                "the new kubeconfig's server {} is not Rancher's proxy for cluster {cluster_id} (…/k8s/clusters/{cluster_id})",
                new.server
            ),
        );
    }
    if let Ok(old) = &cred.kubeconfig
        && old.origin() != new.origin()
    {
        return refuse(
            "validate",
            &format!(
                "the new kubeconfig's server {} is another Rancher than the credential's {}",
                new.server,
                old.origin()
            ),
        );
    }
    let Some(new_name) = new.token_name.clone() else {
        return refuse(
            "validate",
            "the new kubeconfig's token is not a Rancher token (<name>:<secret>)",
        );
    };
    match rancher::authenticates(&new_text).await {
        Ok(_) => {}
        Err(p)
            if matches!(
                p.kind,
                ApiProblemKind::Auth
                    | ApiProblemKind::Forbidden
                    | ApiProblemKind::Config
                    | ApiProblemKind::Tls
            ) =>
        {
            return refuse(
                "validate",
                &format!(
                    "the new kubeconfig's token {new_name} does not authenticate against cluster {cluster_id} ({}): {}",
                    p.short(),
                    p.detail
                ),
            );
        }
        Err(p) => {
            let why = format!(
                "cluster {cluster_id} cannot be reached through the new kubeconfig ({}): {}",
                p.short(),
                p.detail
            );
            audit.write("validate", Outcome::Failed, None, None, &why);
            eprintln!("{who}: {}", sanitize_str(&why));
            return 3;
        }
    }
    let new_lookup = rancher::token(&r, &new_name).await;
    let new_record = token_record(Some(&new_name), Some(&new_lookup));
    // After authenticating, so an expired copy of the current token is
    // refused as not authenticating. A token that does authenticate and is
    // already stored is the state asked for (e.g. a rerun after a run whose
    // end was lost): said so, not written again.
    if cred
        .kubeconfig
        .as_ref()
        .is_ok_and(|old| old.token() == new.token())
    {
        println!(
            "Already so: {NAMESPACE}/{} holds this kubeconfig's token {}, which authenticates against cluster {}. Nothing written; a token that lives longer needs a new one (--generate).",
            sanitize_str(name),
            describe_token(Some(&new_name), &new_lookup, t),
            sanitize_str(&cluster_id)
        );
        audit.write(
            "verify",
            Outcome::Verified,
            Some(old_record),
            Some(new_record),
            "already so: the credential holds this token and it authenticates",
        );
        return 0;
    }

    println!("Preview (cloudcreds renew):");
    println!(
        "  credential: {}{}",
        sanitize_str(name),
        cred.display_name
            .as_deref()
            .map(|d| format!(" ({})", sanitize_str(d)))
            .unwrap_or_default()
    );
    println!("  cluster:    {}", sanitize_str(&cluster_label));
    println!(
        "  old token:  {}",
        describe_token(old_name.as_deref(), &old_lookup, t)
    );
    println!(
        "  new token:  {}",
        describe_token(Some(&new_name), &new_lookup, t)
    );
    println!(
        "  change:     secret {NAMESPACE}/{} data.{} (resourceVersion {})",
        sanitize_str(name),
        cloudcred::KUBECONFIG_KEY,
        sanitize_str(cred.resource_version.as_deref().unwrap_or("?"))
    );
    let Some(rv) = cred.resource_version.clone() else {
        return refuse(
            "validate",
            "the credential has no resourceVersion to condition the change on",
        );
    };

    // The server checks the change before anyone is asked to confirm it, so
    // a denial or a conflict shows before the question.
    crate::faults::point("dry-run", FAULT_TARGET).await;
    if let Err(f) = rancher::patch_kubeconfig(&r, name, &rv, &new_text, true).await {
        return patch_failed(&audit, "dry-run", f, old_record, new_record);
    }
    if flags.dry_run {
        println!(
            "Dry run: Rancher accepts the change; nothing written. (The new token exists in Rancher regardless.)"
        );
        audit.write(
            "dry-run",
            Outcome::DryRun,
            Some(old_record),
            Some(new_record),
            "",
        );
        return 0;
    }
    if !flags.yes {
        if flags.stdin_used || !std::io::stdin().is_terminal() {
            return refuse(
                "confirm",
                "no confirmation: stdin is not a terminal (or holds the kubeconfig) and --yes was not given",
            );
        }
        if !super::walk::ask_yes("Replace the credential's kubeconfig?") {
            return refuse("confirm", "not confirmed");
        }
    }
    crate::faults::point("patch", FAULT_TARGET).await;
    let applied_detail = match rancher::patch_kubeconfig(&r, name, &rv, &new_text, false).await {
        Ok(()) => String::new(),
        // No answer, yet the patch may have landed: read before saying.
        Err(rancher::PatchFailure::Failed(e)) => match rancher::stored_kubeconfig(&r, name).await {
            Ok(Some(text)) if holds_token(&text, new.token()) => {
                format!("{e}; read back: the patch landed")
            }
            _ => {
                let f = rancher::PatchFailure::Failed(e);
                return patch_failed(&audit, "apply", f, old_record, new_record);
            }
        },
        Err(f) => return patch_failed(&audit, "apply", f, old_record, new_record),
    };
    audit.write(
        "apply",
        Outcome::Applied,
        Some(old_record.clone()),
        Some(new_record.clone()),
        &applied_detail,
    );
    println!(
        "Applied: {}/{} holds the new kubeconfig.",
        NAMESPACE,
        sanitize_str(name)
    );

    crate::faults::point("follow", FAULT_TARGET).await;
    let verified = verify_stored(&r, name, &new_name).await;
    match verified {
        Ok(()) => {
            audit.write(
                "verify",
                Outcome::Verified,
                Some(old_record),
                Some(new_record),
                "the stored token authenticates",
            );
            println!(
                "Verified: the stored token {} authenticates against cluster {}.",
                sanitize_str(&new_name),
                sanitize_str(&cluster_id)
            );
            0
        }
        Err(why) => {
            audit.write(
                "verify",
                Outcome::Failed,
                Some(old_record),
                Some(new_record),
                &why,
            );
            eprintln!("{who}: applied but not verified: {}", sanitize_str(&why));
            1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::creds::cloudcred::CloudCredential;

    fn row(name: &str, display: &str, cluster_name: &str, token: TokenLookup) -> CredentialRow {
        CredentialRow {
            cred: CloudCredential {
                name: name.into(),
                display_name: Some(display.into()),
                creator: None,
                cluster_id: Some("c-m-1".into()),
                cluster_type: Some("imported".into()),
                resource_version: Some("5".into()),
                kubeconfig: cloudcred::parse_kubeconfig(
                    "apiVersion: v1\nkind: Config\nclusters:\n- name: a\n  cluster:\n    server: https://r/k8s/clusters/c-m-1\nusers:\n- name: a\n  user:\n    token: kubeconfig-user-q:Zsecret\ncontexts:\n- name: a\n  context:\n    cluster: a\n    user: a\ncurrent-context: a\n",
                ),
            },
            cluster_name: Some(cluster_name.into()),
            token,
        }
    }

    fn found(expires_at: i64) -> TokenLookup {
        TokenLookup::Found(TokenInfo {
            name: "kubeconfig-user-q".into(),
            expires_at: Some(expires_at),
            expires_at_text: "2026-01-06T00:00:00Z".into(),
            expired: false,
            ttl: 2_592_000_000,
            user_id: "user-q".into(),
            cluster_name: "c-m-1".into(),
        })
    }

    #[test]
    fn show_names_the_credential_its_cluster_and_token_and_exits_by_the_worst() {
        let now = 1_000_000;
        let inv = Inventory {
            ttl_minutes: Ok("43200".into()),
            rows: vec![row(
                "cc-a",
                "prod",
                "harvester-prod",
                found(now + 5 * 86_400),
            )],
        };
        let (text, code) = show_text(
            "rancher",
            "https://r/k8s/clusters/local",
            &inv,
            now,
            &Thresholds::default(),
            false,
        )
        .unwrap();
        assert_eq!(code, 1, "{text}");
        assert!(text.contains("43200 (30 days)"), "{text}");
        assert!(text.contains("c-m-1 (harvester-prod)"), "{text}");
        assert!(text.contains("kubeconfig-user-q"), "{text}");
        assert!(
            text.contains("warn cc-a: its token expires in 5d 0h"),
            "{text}"
        );
        assert!(!text.contains("Zsecret"), "{text}");
        let (json, code) =
            show_text("rancher", "s", &inv, now, &Thresholds::default(), true).unwrap();
        assert_eq!(code, 1);
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["credentials"][0]["level"], "warn");
        assert_eq!(v["credentials"][0]["token"]["name"], "kubeconfig-user-q");
        assert_eq!(v["kubeconfig_default_token_ttl_minutes"], "43200");
        assert!(!json.contains("Zsecret"));
        let expired = Inventory {
            ttl_minutes: Ok("43200".into()),
            rows: vec![row("cc-a", "prod", "p", found(now - 1))],
        };
        assert_eq!(
            show_text("r", "s", &expired, now, &Thresholds::default(), false)
                .unwrap()
                .1,
            2
        );
        let ok = Inventory {
            ttl_minutes: Ok("0".into()),
            rows: vec![],
        };
        let (text, code) = show_text("r", "s", &ok, now, &Thresholds::default(), false).unwrap();
        assert_eq!(code, 0);
        assert!(text.contains("0 (tokens never expire)"), "{text}");
    }

    #[test]
    fn status_findings_name_the_credential_and_skip_ok_ones() {
        let now = 1_000_000;
        let inv = Inventory {
            ttl_minutes: Ok("43200".into()),
            rows: vec![
                row("cc-a", "prod", "hp", found(now + 3 * 86_400)),
                row("cc-b", "lab", "hl", found(now + 90 * 86_400)),
            ],
        };
        let f = findings(&inv, now, &Thresholds::default());
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].level, Level::Warn);
        assert_eq!(
            f[0].subject,
            "cloud credential cc-a (prod) for cluster c-m-1 (hp)"
        );
    }
}
