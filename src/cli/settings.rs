//! `harvcred settings`: show, check and set the other credential settings
//! (`additional-ca`, `ssl-certificates`, `ssl-parameters`,
//! `containerd-registry`). `set` is the setting change on the walkthrough
//! engine (`flows::setting`), driven by the command line's walk driver like
//! `proxy set`: validate, preview, dry run, confirm, apply, verify, audit,
//! and the same exit codes.
//!
//! Values can hold a private key or registry passwords: they are read from
//! stdin (`--value -`) or files, never from the command line, and wiped
//! when dropped.

use std::io::Read;
use std::time::Duration;

use clap::{Args, Subcommand};
use zeroize::Zeroizing;

use super::ConnectArgs;
use super::status::{error_line, json_text};
use super::walk::WalkFlags;
use crate::creds::ca_bundle;
use crate::creds::level::{Level, Thresholds};
use crate::creds::setting_values::{self as values, SslCertificates};
use crate::flows::engine::Problem;
use crate::flows::setting::{self as flow, CLUSTER, Context, Io, SettingChange, SettingValue};
use crate::flows::setting_edit::{Edit, FormIo, Kind, SettingDraft, SettingFormChange};
use crate::logs::sanitize_str;

#[derive(Debug, Clone, Args)]
pub struct SettingsArgs {
    #[command(subcommand)]
    pub command: SettingsCommand,
}

/// Where the new value comes from.
#[derive(Debug, Clone, Args, Default)]
pub struct ValueSource {
    /// `-`: the value as Harvester stores it, read from stdin (empty restores the default).
    #[arg(long, value_name = "-")]
    pub value: Option<String>,
    /// The value as Harvester stores it, read from a file.
    #[arg(long, value_name = "FILE", conflicts_with = "value")]
    pub file: Option<std::path::PathBuf>,
    /// ssl-certificates: the certificate chain (PEM), leaf first.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["value", "file"], requires = "key_file")]
    pub cert_file: Option<std::path::PathBuf>,
    /// ssl-certificates: the private key (PEM); `-` reads it from stdin.
    #[arg(long, value_name = "FILE", requires = "cert_file")]
    pub key_file: Option<std::path::PathBuf>,
    /// ssl-certificates: the CA bundle (PEM) the chain verifies up to.
    #[arg(long, value_name = "FILE", requires = "cert_file")]
    pub ca_file: Option<std::path::PathBuf>,
}

#[derive(Debug, Clone, Subcommand)]
pub enum SettingsCommand {
    /// What the settings hold (certificates listed, secrets masked) and their problems (exit 0/1/2/3 as `status`).
    Show {
        /// One of additional-ca, ssl-certificates, ssl-parameters, containerd-registry (default: all).
        name: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Validate a value as Harvester's webhook and harvcred do: exit 0 valid, 1 warnings, 2 invalid.
    Check {
        /// additional-ca, ssl-certificates, ssl-parameters or containerd-registry.
        name: String,
        #[command(flatten)]
        source: ValueSource,
        /// The host name or IP the cluster is reached by (a new ssl-certificates certificate must cover it).
        #[arg(long, value_name = "HOST")]
        host: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Change the setting: preview, dry run, confirmation, patch with the read resourceVersion, verification.
    Set {
        /// additional-ca, ssl-certificates, ssl-parameters or containerd-registry.
        name: String,
        #[command(flatten)]
        source: ValueSource,
        /// Validate and dry-run on the server only; change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Do not ask for confirmation (needed when stdin is not a terminal).
        #[arg(long)]
        yes: bool,
        /// Seconds to wait for the cluster to report the change configured.
        #[arg(long, default_value_t = 180, value_name = "SECS")]
        verify_timeout: u64,
    },
    /// additional-ca: add CA certificates (PEM) to the bundle, the rest of it kept as it is,
    /// then change the setting as `set additional-ca` does.
    AddCa {
        /// `-`: the CA certificate(s), PEM, read from stdin.
        #[arg(long, value_name = "-")]
        value: Option<String>,
        /// The CA certificate(s), PEM, read from a file.
        #[arg(long, value_name = "FILE", conflicts_with = "value")]
        file: Option<std::path::PathBuf>,
        #[command(flatten)]
        walk: SetFlags,
    },
    /// additional-ca: remove one CA by its SHA-256 fingerprint (or 8+ leading hex digits
    /// of it, as `settings show additional-ca` lists them), then change the setting as `set` does.
    RemoveCa {
        /// The CA's SHA-256 fingerprint or an unambiguous prefix of it (8 hex digits at least).
        fingerprint: String,
        #[command(flatten)]
        walk: SetFlags,
    },
    /// Restore the value the last change from this machine replaced, the same safe way
    /// (not ssl-certificates: its old key is never kept; set an empty value to reset it).
    Rollback {
        /// additional-ca, ssl-parameters or containerd-registry.
        name: String,
        /// Show what the rollback would send and dry-run it on the server only; change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
        /// Seconds to wait for the cluster to report the change configured.
        #[arg(long, default_value_t = 180, value_name = "SECS")]
        verify_timeout: u64,
    },
}

/// How a change of `add-ca` and `remove-ca` is walked (as `set`).
#[derive(Debug, Clone, Args)]
pub struct SetFlags {
    /// Validate and dry-run on the server only; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Do not ask for confirmation (needed when stdin is not a terminal).
    #[arg(long)]
    pub yes: bool,
    /// Seconds to wait for the cluster to report the change configured.
    #[arg(long, default_value_t = 180, value_name = "SECS")]
    pub verify_timeout: u64,
}

fn setting_name(name: &str) -> anyhow::Result<&'static str> {
    values::known(name).ok_or_else(|| {
        anyhow::anyhow!(
            "unknown setting {}: one of {}",
            sanitize_str(name),
            values::NAMES.join(", ")
        )
    })
}

pub(crate) fn read_all(r: impl Read) -> std::io::Result<Zeroizing<String>> {
    let bytes = crate::hardening::read_to_end_wiped(r)?;
    match std::str::from_utf8(&bytes) {
        Ok(s) => Ok(Zeroizing::new(s.to_string())),
        Err(_) => Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "the value is not UTF-8 text",
        )),
    }
}

fn read_path(path: &std::path::Path) -> anyhow::Result<Zeroizing<String>> {
    if path.as_os_str() == "-" {
        return Ok(read_all(std::io::stdin().lock())?);
    }
    let f = std::fs::File::open(path)
        .map_err(|e| anyhow::anyhow!("reading {}: {e}", path.display()))?;
    read_all(f).map_err(|e| anyhow::anyhow!("reading {}: {e}", path.display()))
}

/// The new value from the options, as Harvester stores it.
fn value_of(name: &str, src: &ValueSource) -> anyhow::Result<SettingValue> {
    if let Some(cert) = &src.cert_file {
        if name != values::SSL_CERTIFICATES {
            anyhow::bail!("--cert-file, --key-file and --ca-file are for ssl-certificates only");
        }
        let key = read_path(src.key_file.as_deref().unwrap_or(std::path::Path::new("-")))?;
        let s = SslCertificates {
            ca: match &src.ca_file {
                Some(p) => read_path(p)?,
                None => Zeroizing::new(String::new()),
            },
            public_certificate: read_path(cert)?,
            private_key: key,
        };
        return Ok(SettingValue(s.to_json()));
    }
    let text = match (&src.value, &src.file) {
        (Some(v), _) if v == "-" => read_all(std::io::stdin().lock())?,
        (Some(_), _) => anyhow::bail!(
            "--value takes `-` only: the value is read from stdin (values can hold keys and passwords, and every user of this machine can read the command line)"
        ),
        (None, Some(f)) => read_path(f)?,
        (None, None) => anyhow::bail!(
            "give the value: --value - (stdin) or --file F{}",
            if name == values::SSL_CERTIFICATES {
                ", or --cert-file F --key-file F [--ca-file F]"
            } else {
                ""
            }
        ),
    };
    // A trailing newline from `echo` or an editor is not part of a JSON value.
    let trimmed = if name == values::ADDITIONAL_CA {
        text.as_str()
    } else {
        text.trim_end_matches(['\n', '\r'])
    };
    Ok(SettingValue::new(trimmed))
}

fn level_code(problems: &[Problem]) -> i32 {
    if flow::blocks(problems) {
        2
    } else if problems.is_empty() {
        0
    } else {
        1
    }
}

/// The host part of the API server URL (a Harvester kubeconfig points at the VIP).
pub(crate) fn host_of(server: &str) -> Option<String> {
    let after = server.split_once("://").map_or(server, |(_, r)| r);
    let authority = after.split(['/', '?', '#']).next()?;
    let host = match authority.strip_prefix('[') {
        Some(r) => r.split_once(']')?.0,
        None => authority.rsplit_once(':').map_or(authority, |(h, _)| h),
    };
    (!host.is_empty()).then(|| host.to_string())
}

struct Session {
    rt: tokio::runtime::Runtime,
    client: kube::Client,
    state_dir: std::path::PathBuf,
    context: String,
    cluster: String,
    host: Option<String>,
}

fn connect(connect: &ConnectArgs) -> anyhow::Result<Session> {
    let paths = crate::config::Paths::from_env();
    crate::console::init_logging(&paths);
    let rt = super::runtime()?;
    let (client, context, server) = rt
        .block_on(crate::cluster::connect(&connect.kube()))
        .map_err(|p| anyhow::anyhow!("{}", p.detail))?;
    Ok(Session {
        rt,
        client,
        state_dir: paths.state_dir,
        cluster: format!("{context} ({server})"),
        context,
        host: host_of(&server),
    })
}

fn show(connect_args: &ConnectArgs, name: Option<&str>, json: bool) -> anyhow::Result<i32> {
    let names: Vec<&'static str> = match name {
        Some(n) => vec![setting_name(n)?],
        None => values::NAMES.to_vec(),
    };
    let s = connect(connect_args)?;
    let now = time::OffsetDateTime::now_utc();
    let t = Thresholds::default();
    let mut worst = Level::Ok;
    let mut docs = Vec::new();
    for n in names {
        match s
            .rt
            .block_on(crate::cluster::settings::read_setting(&s.client, n))
        {
            Ok(r) => {
                let mut d = values::describe(n, r.effective(), now, &t);
                let mut nodes = serde_json::Value::Null;
                if n == values::CONTAINERD_REGISTRY {
                    nodes = registry_nodes(&s, connect_args, r.effective(), &mut d);
                }
                let mut copies = serde_json::Value::Null;
                if n == values::ADDITIONAL_CA {
                    copies = additional_ca_copies(&s, r.effective(), &mut d);
                }
                worst = worst.worse(d.level());
                if json {
                    docs.push(serde_json::json!({
                        "name": n,
                        "resource_version": r.resource_version,
                        "configured": r.configured.status,
                        "customized": !r.value.is_empty(),
                        "value": d.detail,
                        "findings": d.findings,
                        "level": d.level().as_str(),
                        "nodes": nodes,
                        "copies": copies,
                    }));
                } else {
                    println!(
                        "{n} (resourceVersion {}, {})",
                        sanitize_str(&r.resource_version),
                        if r.value.is_empty() {
                            "Harvester's default"
                        } else {
                            "customized"
                        }
                    );
                    for l in &d.lines {
                        println!("  {}", sanitize_str(l));
                    }
                    for f in &d.findings {
                        println!("  {}: {}", f.level, sanitize_str(&f.message));
                    }
                }
            }
            Err(e) => {
                worst = worst.worse(Level::Unknown);
                if json {
                    docs.push(serde_json::json!({"name": n, "error": e, "level": "unknown"}));
                } else {
                    println!("{n}: {}", sanitize_str(&e));
                }
            }
        }
    }
    if json {
        println!(
            "{}",
            json_text(&serde_json::json!({"settings": docs, "exit_code": worst.exit_code()}))?
        );
    }
    Ok(worst.exit_code())
}

/// Where Harvester copied the additional-ca bundle, each copy compared
/// with the setting: a line per copy, a warning for one that differs or is
/// missing while the setting holds a bundle (not synced yet, or changed by
/// hand); one that cannot be read (no right to read secrets) is only said.
/// The JSON per copy.
fn additional_ca_copies(s: &Session, value: &str, d: &mut values::Described) -> serde_json::Value {
    use crate::creds::{Finding, Level};
    let copies =
        s.rt.block_on(crate::cluster::settings::additional_ca_copies(&s.client));
    let mut out = serde_json::Map::new();
    for (at, read) in copies {
        let state = match &read {
            Ok(Some(copy)) if copy == value => "matches",
            // Harvester empties the copies for an empty value and updates
            // only the CDI config maps that exist.
            Ok(None) if value.is_empty() || at.ends_with("-cdi") => "none",
            Ok(_) => {
                d.findings.push(Finding::new(
                    Level::Warn,
                    values::ADDITIONAL_CA,
                    format!(
                        "{at} does not hold the setting's bundle (not synced yet, or changed by hand)"
                    ),
                ));
                "differs"
            }
            Err(_) => "not read",
        };
        match &read {
            Err(e) => d.lines.push(format!("copy {at}: not read: {e}")),
            Ok(_) => d.lines.push(format!("copy {at}: {state}")),
        }
        out.insert(at, serde_json::json!({"state": state}));
    }
    serde_json::Value::Object(out)
}

/// The SSH pool the nodes are read with (user from the flags or config.toml).
fn node_pool(connect_args: &ConnectArgs) -> std::sync::Arc<crate::node::Pool> {
    let paths = crate::config::Paths::from_env();
    // A config.toml that cannot be read names no user: the flag's or `rancher`.
    let config = crate::config::Config::load(&paths.config_file()).unwrap_or_default();
    crate::node::Pool::new(connect_args.ssh_settings(&config, &paths))
}

/// Each node's `registries.yaml` compared with the `containerd-registry`
/// value over SSH: a line per node, a warning naming each node whose file
/// differs (what differs, never its auth), unknown for a node that cannot
/// be read. The JSON per node.
fn registry_nodes(
    s: &Session,
    connect_args: &ConnectArgs,
    value: &str,
    d: &mut values::Described,
) -> serde_json::Value {
    use crate::creds::registries::{self as reg, REGISTRIES_YAML};
    use crate::creds::{Finding, Level};
    let setting = match reg::from_setting(value) {
        Ok(shape) => shape,
        Err(_) => return serde_json::Value::Null, // already judged by describe
    };
    let pool = node_pool(connect_args);
    let read = s.rt.block_on(async {
        let read = flow::registries_on_nodes(&s.client, &pool, &setting).await;
        let _ = tokio::time::timeout(Duration::from_secs(3), pool.close_all()).await;
        read
    });
    let read = match read {
        Ok(r) => r,
        Err(e) => {
            d.findings.push(Finding::new(
                Level::Unknown,
                values::CONTAINERD_REGISTRY,
                format!("the nodes' {REGISTRIES_YAML} not compared: {e}"),
            ));
            return serde_json::Value::Null;
        }
    };
    let mut out = serde_json::Map::new();
    for n in read {
        match n.compared {
            Ok(diffs) if diffs.is_empty() => {
                d.lines
                    .push(format!("node {}: {REGISTRIES_YAML} matches", n.node));
                out.insert(n.node, serde_json::json!({"matches": true}));
            }
            Ok(diffs) => {
                d.lines.push(format!(
                    "node {}: {REGISTRIES_YAML} differs from the setting",
                    n.node
                ));
                d.findings.push(Finding::new(
                    Level::Warn,
                    values::CONTAINERD_REGISTRY,
                    format!(
                        "node {}: {REGISTRIES_YAML} differs from the setting (edited by hand, or not synced yet): {}",
                        n.node,
                        diffs.join("; ")
                    ),
                ));
                out.insert(
                    n.node,
                    serde_json::json!({"matches": false, "differences": diffs}),
                );
            }
            Err(e) => {
                d.findings.push(Finding::new(
                    Level::Unknown,
                    values::CONTAINERD_REGISTRY,
                    format!("node {}: {REGISTRIES_YAML} not read: {e}", n.node),
                ));
                out.insert(n.node, serde_json::json!({"error": e}));
            }
        }
    }
    serde_json::Value::Object(out)
}

fn check(name: &'static str, src: &ValueSource, host: Option<String>, json: bool) -> i32 {
    let v = match value_of(name, src) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("harvcred settings check: {}", error_line(&e));
            return 2;
        }
    };
    let problems = flow::validate(name, &v.0, &Context { host });
    let code = level_code(&problems);
    if json {
        let doc = serde_json::json!({
            "name": name,
            "value": values::describe(name, &v.0, time::OffsetDateTime::now_utc(), &Thresholds::default()).detail,
            "problems": problems,
            "exit_code": code,
        });
        match json_text(&doc) {
            Ok(t) => println!("{t}"),
            Err(e) => eprintln!("harvcred settings check: {e}"),
        }
    } else if problems.is_empty() {
        println!("valid");
    } else {
        for p in &problems {
            println!("{}", super::walk::problem_line(p));
        }
    }
    code
}

/// `--read-only` (flag or config) refuses `set` and `rollback`; the refusal when there is one.
fn read_only_refusal(command: &str, flag: bool, config: bool) -> Option<String> {
    let why = match (flag, config) {
        (true, _) => "--read-only",
        (false, true) => "read_only = true in config.toml",
        (false, false) => return None,
    };
    Some(format!(
        "harvcred settings {command}: refused, {why} forbids changing the cluster (`harvcred settings check` validates a value without changing anything)"
    ))
}

pub fn run(args: SettingsArgs, connect_args: &ConnectArgs, read_only: bool) -> anyhow::Result<i32> {
    match args.command {
        SettingsCommand::Show { name, json } => {
            show(connect_args, name.as_deref(), json).or_else(|e| {
                eprintln!("harvcred settings show: {}", error_line(&e));
                Ok(
                    if name.as_deref().is_some_and(|n| values::known(n).is_none()) {
                        2
                    } else {
                        3
                    },
                )
            })
        }
        SettingsCommand::Check {
            name,
            source,
            host,
            json,
        } => match setting_name(&name) {
            Ok(n) => Ok(check(n, &source, host, json)),
            Err(e) => {
                eprintln!("harvcred settings check: {}", error_line(&e));
                Ok(2)
            }
        },
        SettingsCommand::Set {
            name,
            source,
            dry_run,
            yes,
            verify_timeout,
        } => {
            let name = match writable(&name, "set", read_only) {
                Ok(n) => n,
                Err(code) => return Ok(code),
            };
            // Read before connecting: the value comes on stdin or from files.
            let value = match value_of(name, &source) {
                Ok(v) => v,
                Err(e) => {
                    eprintln!("harvcred settings set: {}", error_line(&e));
                    return Ok(2);
                }
            };
            let s = match connect(connect_args) {
                Ok(s) => s,
                Err(e) => {
                    eprintln!("harvcred settings set: {}", error_line(&e));
                    return Ok(3);
                }
            };
            let flags = walk_flags(dry_run, yes);
            Ok(walk(
                &s,
                connect_args,
                name,
                false,
                value,
                flags,
                verify_timeout,
            ))
        }
        SettingsCommand::AddCa { value, file, walk } => {
            let source = ValueSource {
                value,
                file,
                ..Default::default()
            };
            if let Err(code) = writable(values::ADDITIONAL_CA, "add-ca", read_only) {
                return Ok(code);
            }
            // Read before connecting: the PEM comes on stdin or from a file.
            let pem = match value_of(values::ADDITIONAL_CA, &source) {
                Ok(v) => v,
                Err(e) => {
                    eprintln!("harvcred settings add-ca: {}", error_line(&e));
                    return Ok(2);
                }
            };
            let edit = Edit::AddCa(pem.0.clone());
            Ok(edit_bundle("add-ca", connect_args, &walk, edit, |bundle| {
                let added = ca_bundle::add(bundle, &pem.0)?;
                let mut said = added.already.clone();
                said.extend(added.added.iter().map(|c| format!("adding {c}")));
                Ok((added.bundle, said))
            }))
        }
        SettingsCommand::RemoveCa { fingerprint, walk } => {
            if let Err(code) = writable(values::ADDITIONAL_CA, "remove-ca", read_only) {
                return Ok(code);
            }
            let edit = Edit::RemoveCa(fingerprint.clone());
            Ok(edit_bundle(
                "remove-ca",
                connect_args,
                &walk,
                edit,
                |bundle| {
                    let removed = ca_bundle::remove(bundle, &fingerprint)?;
                    let copies = match removed.copies {
                        1 => String::new(),
                        n => format!(" ({n} copies)"),
                    };
                    Ok((
                        removed.bundle,
                        vec![format!("removing {}{copies}", removed.removed)],
                    ))
                },
            ))
        }
        SettingsCommand::Rollback {
            name,
            dry_run,
            yes,
            verify_timeout,
        } => {
            let name = match writable(&name, "rollback", read_only) {
                Ok(n) => n,
                Err(code) => return Ok(code),
            };
            if !flow::can_roll_back(name) {
                eprintln!(
                    "harvcred settings rollback: {name} has no rollback: its old value holds a private key, which harvcred never keeps in a file; `harvcred settings set {name} --value -` with an empty stdin resets it to Harvester's own certificate"
                );
                return Ok(2);
            }
            let s = match connect(connect_args) {
                Ok(s) => s,
                Err(e) => {
                    eprintln!("harvcred settings rollback: {}", error_line(&e));
                    return Ok(3);
                }
            };
            let kept = match crate::flows::keep::load_setting(&s.state_dir, name, &s.context) {
                Ok(Some(k)) => k,
                Ok(None) => {
                    eprintln!(
                        "harvcred settings rollback: no change of {name} was made from this machine for context {}: nothing to roll back to",
                        sanitize_str(&s.context)
                    );
                    return Ok(2);
                }
                Err(e) => {
                    eprintln!("harvcred settings rollback: {}", error_line(&e));
                    return Ok(3);
                }
            };
            let flags = walk_flags(dry_run, yes);
            Ok(walk(
                &s,
                connect_args,
                name,
                true,
                SettingValue(kept),
                flags,
                verify_timeout,
            ))
        }
    }
}

/// `add-ca` / `remove-ca` (writing allowed): what `said` makes of the
/// bundle as the cluster holds it (the new bundle and what it does, or why
/// it refuses) is printed; then `edit` is walked as `set additional-ca`,
/// its bundle made again from the value the walk reads (a change between
/// the two reads is not lost). Refusals exit 2 before anything is sent; a
/// bundle left as it was exits 0 without a walk.
fn edit_bundle(
    command: &str,
    connect_args: &ConnectArgs,
    flags: &SetFlags,
    edit: Edit,
    said: impl FnOnce(&str) -> Result<(String, Vec<String>), String>,
) -> i32 {
    let name = values::ADDITIONAL_CA;
    let s = match connect(connect_args) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("harvcred settings {command}: {}", error_line(&e));
            return 3;
        }
    };
    let current = match s
        .rt
        .block_on(crate::cluster::settings::read_setting(&s.client, name))
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("harvcred settings {command}: {}", sanitize_str(&e));
            return 3;
        }
    };
    let (bundle, said) = match said(current.effective()) {
        Ok(edited) => edited,
        Err(e) => {
            eprintln!("harvcred settings {command}: {}", sanitize_str(&e));
            return 2;
        }
    };
    for line in &said {
        println!("{}", sanitize_str(line));
    }
    if bundle == current.effective() {
        println!("additional-ca already holds it: nothing to change");
        return 0;
    }
    let kind = match edit {
        Edit::AddCa(_) => Kind::AddCa,
        _ => Kind::RemoveCa,
    };
    let draft = SettingDraft {
        name,
        edit,
        at: name,
        refused: Vec::new(),
        host: None,
    };
    super::walk::run(
        &s.rt,
        SettingFormChange { name, kind },
        &FormIo::new(io(&s, name, flags.verify_timeout), None),
        vec![CLUSTER.into()],
        draft,
        walk_flags(flags.dry_run, flags.yes),
    )
}

fn walk_flags(dry_run: bool, yes: bool) -> WalkFlags {
    WalkFlags {
        dry_run,
        yes,
        parallel: 1,
        keep_going: false,
    }
}

/// The setting's name for a command that changes it, or the exit code of
/// the refusal (`--read-only`, an unreadable config, an unknown name).
fn writable(name: &str, command: &str, read_only: bool) -> Result<&'static str, i32> {
    let config = match crate::config::Config::load(&crate::config::Paths::from_env().config_file())
    {
        Ok(c) => c,
        // A config that cannot be read cannot say writing is allowed.
        Err(e) => {
            eprintln!("harvcred settings {command}: {}", error_line(&e));
            return Err(3);
        }
    };
    if let Some(refusal) = read_only_refusal(command, read_only, config.read_only) {
        eprintln!("{refusal}");
        return Err(2);
    }
    setting_name(name).map_err(|e| {
        eprintln!("harvcred settings {command}: {}", error_line(&e));
        2
    })
}

/// The I/O of a change of setting `name` in session `s`.
fn io(s: &Session, name: &'static str, verify_timeout: u64) -> Io {
    Io::new(
        s.client.clone(),
        name,
        s.context.clone(),
        s.state_dir.clone(),
        s.cluster.clone(),
        Context {
            host: s.host.clone(),
        },
        Duration::from_secs(verify_timeout),
    )
}

/// Walks a change (or its rollback) of setting `name` on the engine; the
/// exit code. A containerd-registry change is verified on the nodes too.
fn walk(
    s: &Session,
    connect_args: &ConnectArgs,
    name: &'static str,
    rollback: bool,
    value: SettingValue,
    flags: WalkFlags,
    verify_timeout: u64,
) -> i32 {
    let mut io = io(s, name, verify_timeout);
    if name == values::CONTAINERD_REGISTRY {
        io = io.with_registry_nodes(node_pool(connect_args));
    }
    super::walk::run(
        &s.rt,
        SettingChange { name, rollback },
        &io,
        vec![CLUSTER.into()],
        value,
        flags,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_of_the_server_url() {
        assert_eq!(
            host_of("https://10.0.0.5:6443").as_deref(),
            Some("10.0.0.5")
        );
        assert_eq!(
            host_of("https://[fd00::1]:6443/x").as_deref(),
            Some("fd00::1")
        );
        assert_eq!(host_of("https://vip.corp").as_deref(), Some("vip.corp"));
    }

    #[test]
    fn read_only_settings_set_exits_2_without_touching_a_cluster() {
        let cli = <crate::cli::Cli as clap::Parser>::parse_from([
            "harvcred",
            "--read-only",
            "--kubeconfig",
            "/nonexistent/kubeconfig",
            "settings",
            "set",
            "ssl-parameters",
            "--file",
            "/nonexistent/value",
            "--yes",
        ]);
        assert_eq!(crate::cli::run(cli).unwrap(), 2);
    }

    #[test]
    fn read_only_add_ca_and_remove_ca_exit_2_without_touching_a_cluster() {
        for args in [
            &["add-ca", "--file", "/nonexistent/ca.pem", "--yes"][..],
            &["remove-ca", "abcdef0123", "--yes"][..],
        ] {
            let mut argv = vec![
                "harvcred",
                "--read-only",
                "--kubeconfig",
                "/nonexistent/kubeconfig",
                "settings",
            ];
            argv.extend_from_slice(args);
            let cli = <crate::cli::Cli as clap::Parser>::parse_from(argv);
            assert_eq!(crate::cli::run(cli).unwrap(), 2, "{args:?}");
        }
    }

    #[test]
    fn a_value_on_the_command_line_is_refused() {
        let src = ValueSource {
            value: Some(r#"{"protocols":"TLSv1.2"}"#.into()),
            ..Default::default()
        };
        let e = value_of(values::SSL_PARAMETERS, &src).unwrap_err();
        assert!(e.to_string().contains("`-` only"), "{e}");
    }
}
