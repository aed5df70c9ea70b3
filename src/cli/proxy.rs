//! `harvcred proxy`: show, check, set and roll back the cluster's
//! `http-proxy` setting. `set` and `rollback` are the proxy change on the
//! walkthrough engine (`flows::proxy`), driven by the command line's walk
//! driver (`cli::walk`) like every other change: validate, preview, dry run,
//! confirm, apply, verify, the audit log and the exit codes.
//!
//! Proxy URLs with credentials are never taken from the command line (every
//! user can read /proc/*/cmdline): `--http-proxy -` reads the URL from stdin.

use std::io::{BufRead, IsTerminal, Write};
use std::time::Duration;

use clap::{Args, Subcommand};
use serde::Serialize;
use zeroize::Zeroizing;

use super::ConnectArgs;
use super::status::{error_line, json_text};
use super::walk::WalkFlags;
use crate::audit::MaskedProxy;
use crate::creds::proxy::{ClusterFacts, HttpProxySetting, ProxyUrl};
use crate::flows::engine::Problem;
use crate::flows::keep;
use crate::flows::proxy::{self as flow, CLUSTER, Field, ProxyChange, ProxyDraft};
use crate::flows::proxy_io::Io;
use crate::logs::sanitize_str;

#[derive(Debug, Clone, Args)]
pub struct ProxyArgs {
    #[command(subcommand)]
    pub command: ProxyCommand,
}

/// A proxy URL option: the URL, `-` to read it from stdin (for URLs with
/// credentials), or empty to clear.
#[derive(Debug, Clone, Args, Default)]
pub struct ValueArgs {
    /// httpProxy URL; `-` reads it from stdin (required when it has user:password@).
    #[arg(long, value_name = "URL")]
    pub http_proxy: Option<String>,
    /// httpsProxy URL; `-` reads it from stdin (after --http-proxy's line).
    #[arg(long, value_name = "URL")]
    pub https_proxy: Option<String>,
    /// noProxy: comma-separated IPs, CIDRs and host names.
    #[arg(long, value_name = "LIST")]
    pub no_proxy: Option<String>,
}

#[derive(Debug, Clone, Subcommand)]
pub enum ProxyCommand {
    /// The http-proxy setting (credentials masked) and its problems (exit 0/1/2/3).
    Show {
        /// Print JSON (field names documented in README).
        #[arg(long)]
        json: bool,
    },
    /// Validate a value like the form does: exit 0 valid, 1 warnings, 2 invalid.
    /// Without values, the current setting; without --node-ips, the live nodes.
    Check {
        #[command(flatten)]
        value: ValueArgs,
        /// Node InternalIPs to check noProxy against instead of the live nodes.
        #[arg(long, value_name = "A,B,...", value_delimiter = ',')]
        node_ips: Option<Vec<String>>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Change the setting: fields not given keep their value; preview, dry run,
    /// confirmation, patch with the read resourceVersion, verification.
    Set {
        #[command(flatten)]
        value: ValueArgs,
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
    /// Restore the value the last change from this machine replaced, the same safe way.
    Rollback {
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

/// Reads one line of stdin, without echo when it is a terminal.
fn read_secret_line(prompt: &str) -> anyhow::Result<Zeroizing<String>> {
    let stdin = std::io::stdin();
    let tty = stdin.is_terminal();
    if tty {
        eprint!("{prompt}: ");
        let _ = std::io::stderr().flush();
    }
    let saved = if tty { echo_off() } else { None };
    // Not std's stdin: its buffer would keep the URL for the process's life.
    let res = read_line_from(&mut crate::hardening::UnbufferedFd::stdin());
    if let Some(t) = saved {
        // SAFETY: restores the attributes read from the same descriptor.
        unsafe { libc::tcsetattr(0, libc::TCSANOW, &t) };
        eprintln!();
    }
    Ok(res?)
}

/// One line of `input` without its line ending (`\n` or `\r\n`); at EOF,
/// what there is. Every copy is wiped when dropped.
fn read_line_from(input: &mut impl BufRead) -> std::io::Result<Zeroizing<String>> {
    // Room up front, so that growing does not leave a copy behind unwiped.
    let mut line = Zeroizing::new(String::with_capacity(4096));
    input.read_line(&mut line)?;
    Ok(Zeroizing::new(
        line.trim_end_matches(['\n', '\r']).to_string(),
    ))
}

/// Turns terminal echo off on stdin; the attributes to restore.
fn echo_off() -> Option<libc::termios> {
    // SAFETY: termios is plain data; fd 0 is a terminal (checked by the caller).
    unsafe {
        let mut t: libc::termios = std::mem::zeroed();
        if libc::tcgetattr(0, &mut t) != 0 {
            return None;
        }
        let saved = t;
        t.c_lflag &= !libc::ECHO;
        (libc::tcsetattr(0, libc::TCSANOW, &t) == 0).then_some(saved)
    }
}

/// A URL option's value; refuses credentials on the command line.
fn url_value(flag: &str, given: &Option<String>) -> anyhow::Result<Option<ProxyUrl>> {
    match given.as_deref() {
        None => Ok(None),
        Some("-") => {
            let line = read_secret_line(&format!("{flag} URL"))?;
            Ok(Some(ProxyUrl::new(&line)))
        }
        Some(s) => {
            let u = ProxyUrl::new(s);
            if u.has_credentials() {
                anyhow::bail!(
                    "{flag} {}: credentials on the command line are visible to every user of this machine (ps, /proc); pass `{flag} -` and write the URL on stdin, then change that proxy password",
                    u.masked()
                );
            }
            Ok(Some(u))
        }
    }
}

/// The given options as a draft: fields not given keep the cluster's value.
fn draft_of(v: &ValueArgs) -> anyhow::Result<ProxyDraft> {
    Ok(ProxyDraft {
        http_proxy: url_value("--http-proxy", &v.http_proxy)?,
        https_proxy: url_value("--https-proxy", &v.https_proxy)?,
        no_proxy: v.no_proxy.as_ref().map(|n| n.trim().to_string()),
    })
}

/// The current value with the given options applied.
fn apply_values(base: &HttpProxySetting, v: &ValueArgs) -> anyhow::Result<HttpProxySetting> {
    Ok(draft_of(v)?.resolve(base))
}

fn any_value(v: &ValueArgs) -> bool {
    v.http_proxy.is_some() || v.https_proxy.is_some() || v.no_proxy.is_some()
}

struct Session {
    rt: tokio::runtime::Runtime,
    io: Io,
}

fn connect(connect: &ConnectArgs, verify_timeout: u64) -> anyhow::Result<Session> {
    let paths = crate::config::Paths::from_env();
    crate::console::init_logging(&paths);
    let kube = connect.kube();
    let rt = super::runtime()?;
    let (client, context, server) = rt
        .block_on(crate::cluster::connect(&kube))
        .map_err(|p| anyhow::anyhow!("{}", p.detail))?;
    Ok(Session {
        rt,
        io: Io::new(
            client,
            paths.state_dir,
            context.clone(),
            format!("{context} ({server})"),
            Duration::from_secs(verify_timeout),
        ),
    })
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

fn print_problems(problems: &[Problem]) {
    for p in problems {
        println!("{}", super::walk::problem_line(p));
    }
}

fn print_value(s: &HttpProxySetting) {
    print!("{}", value_text(s));
}

/// The three values, credentials masked, escaped.
fn value_text(s: &HttpProxySetting) -> String {
    let m = MaskedProxy::from(s);
    let mut out = String::new();
    for (f, v) in [
        (Field::HttpProxy, m.http_proxy),
        (Field::HttpsProxy, m.https_proxy),
        (Field::NoProxy, m.no_proxy),
    ] {
        out.push_str(&format!(
            "  {:<11} {}\n",
            f.label(),
            if v.is_empty() {
                "-".into()
            } else {
                sanitize_str(&v).into_owned()
            }
        ));
    }
    out
}

/// Walks a change or its rollback on the engine to its end; the exit code.
fn walk(s: &Session, change: ProxyChange, draft: ProxyDraft, dry_run: bool, yes: bool) -> i32 {
    let flags = WalkFlags {
        dry_run,
        yes,
        parallel: 1,
        keep_going: false,
    };
    super::walk::run(&s.rt, change, &s.io, vec![CLUSTER.into()], draft, flags)
}

#[derive(Serialize)]
struct ShowJson {
    #[serde(rename = "httpProxy")]
    http_proxy: String,
    #[serde(rename = "httpsProxy")]
    https_proxy: String,
    #[serde(rename = "noProxy")]
    no_proxy: String,
    resource_version: String,
    /// The `configured` condition: true, false or null.
    configured: Option<bool>,
    configured_message: String,
    node_ips: Vec<String>,
    problems: Vec<Problem>,
    exit_code: i32,
}

/// `http-proxy (resourceVersion …, configured: …)`, the API's words escaped.
/// `configured` False is Harvester's controller retrying (it sets False on a
/// syncer error and tries again), not a final failure.
fn show_header(cur: &crate::cluster::settings::ProxyRead) -> String {
    let c = &cur.configured;
    let configured = match c.status {
        Some(true) => "yes".to_string(),
        Some(false) => format!(
            "not yet, the controller is retrying ({}{}{}); `harvcred proxy set` waits --verify-timeout seconds for it",
            c.reason,
            if c.reason.is_empty() || c.message.is_empty() {
                ""
            } else {
                ": "
            },
            c.message
        ),
        None => "unknown".into(),
    };
    sanitize_str(&format!(
        "http-proxy (resourceVersion {}, configured: {configured})",
        cur.resource_version
    ))
    .into_owned()
}

fn show(s: &Session, json: bool) -> anyhow::Result<i32> {
    let (cur, facts) = s.rt.block_on(async {
        let cur = crate::cluster::settings::read_http_proxy(&s.io.client).await;
        let facts = crate::cluster::settings::proxy_facts(&s.io.client).await;
        (cur, facts)
    });
    let cur = cur.map_err(|e| anyhow::anyhow!(e))?;
    let facts = facts.map_err(|e| anyhow::anyhow!(e))?;
    let (text, code) = show_text(&cur, &facts, json)?;
    print!("{text}");
    Ok(code)
}

/// What `proxy show` prints (the API's words escaped; JSON with the
/// characters a terminal acts on as `\uXXXX`), and its exit code.
pub fn show_text(
    cur: &crate::cluster::settings::ProxyRead,
    facts: &crate::creds::proxy::ClusterFacts,
    json: bool,
) -> anyhow::Result<(String, i32)> {
    let problems = flow::validate(&cur.setting, facts);
    let code = level_code(&problems);
    let mut out = String::new();
    if json {
        let m = MaskedProxy::from(&cur.setting);
        let doc = ShowJson {
            http_proxy: m.http_proxy,
            https_proxy: m.https_proxy,
            no_proxy: m.no_proxy,
            resource_version: cur.resource_version.clone(),
            configured: cur.configured.status,
            configured_message: cur.configured.message.clone(),
            node_ips: facts.node_ips.clone(),
            problems,
            exit_code: code,
        };
        out.push_str(&json_text(&doc)?);
        out.push('\n');
    } else {
        out.push_str(&show_header(cur));
        out.push('\n');
        out.push_str(&value_text(&cur.setting));
        if !problems.is_empty() {
            out.push_str("Problems:\n");
            for p in &problems {
                out.push_str(&super::walk::problem_line(p));
                out.push('\n');
            }
        }
    }
    Ok((out, code))
}

/// `--read-only` (the flag or `read_only` in config.toml) refuses every
/// command that changes the setting; the refusal, when there is one.
fn read_only_refusal(command: &ProxyCommand, flag: bool, config: bool) -> Option<String> {
    let name = match command {
        ProxyCommand::Set { .. } => "proxy set",
        ProxyCommand::Rollback { .. } => "proxy rollback",
        ProxyCommand::Show { .. } | ProxyCommand::Check { .. } => return None,
    };
    let why = match (flag, config) {
        (true, _) => "--read-only",
        (false, true) => "read_only = true in config.toml",
        (false, false) => return None,
    };
    Some(format!(
        "harvcred {name}: refused, {why} forbids changing the cluster (`harvcred proxy check` validates a value without changing anything)"
    ))
}

pub fn run(args: ProxyArgs, connect_args: &ConnectArgs, read_only: bool) -> anyhow::Result<i32> {
    if matches!(
        args.command,
        ProxyCommand::Set { .. } | ProxyCommand::Rollback { .. }
    ) {
        let config =
            match crate::config::Config::load(&crate::config::Paths::from_env().config_file()) {
                Ok(c) => c,
                // A config that cannot be read cannot say writing is allowed.
                Err(e) => {
                    eprintln!("harvcred proxy: {}", error_line(&e));
                    return Ok(3);
                }
            };
        if let Some(refusal) = read_only_refusal(&args.command, read_only, config.read_only) {
            eprintln!("{refusal}");
            return Ok(2);
        }
    }
    let fail = |e: anyhow::Error| {
        eprintln!("harvcred proxy: {}", error_line(&e));
        Ok(3)
    };
    match args.command {
        ProxyCommand::Show { json } => match connect(connect_args, 0) {
            Ok(s) => show(&s, json).or_else(fail),
            Err(e) => fail(e),
        },
        ProxyCommand::Check {
            value,
            node_ips,
            json,
        } => check(connect_args, &value, node_ips, json),
        ProxyCommand::Set {
            value,
            dry_run,
            yes,
            verify_timeout,
        } => {
            if !any_value(&value) {
                eprintln!(
                    "harvcred proxy set: give at least one of --http-proxy, --https-proxy, --no-proxy (an empty value clears the field)"
                );
                return Ok(2);
            }
            // Read before connecting: a URL with credentials comes on stdin.
            let draft = match draft_of(&value) {
                Ok(d) => d,
                Err(e) => {
                    eprintln!("harvcred proxy set: {}", error_line(&e));
                    return Ok(2);
                }
            };
            let s = match connect(connect_args, verify_timeout) {
                Ok(s) => s,
                Err(e) => return fail(e),
            };
            Ok(walk(&s, ProxyChange::change(), draft, dry_run, yes))
        }
        ProxyCommand::Rollback {
            dry_run,
            yes,
            verify_timeout,
        } => {
            let s = match connect(connect_args, verify_timeout) {
                Ok(s) => s,
                Err(e) => return fail(e),
            };
            let kept = match keep::load_proxy(&s.io.state_dir, &s.io.context) {
                Ok(Some(k)) => k,
                Ok(None) => {
                    eprintln!(
                        "harvcred proxy rollback: no change of http-proxy was made from this machine for context {}: nothing to roll back to",
                        sanitize_str(&s.io.context)
                    );
                    return Ok(2);
                }
                Err(e) => return fail(e),
            };
            Ok(walk(
                &s,
                ProxyChange::rollback(),
                ProxyDraft::whole(&kept),
                dry_run,
                yes,
            ))
        }
    }
}

fn check(
    connect_args: &ConnectArgs,
    value: &ValueArgs,
    node_ips: Option<Vec<String>>,
    json: bool,
) -> anyhow::Result<i32> {
    // With the node IPs and a full value given, no cluster is needed.
    let needs_cluster = node_ips.is_none() || !any_value(value);
    let (base, mut facts) = if needs_cluster {
        let s = match connect(connect_args, 0) {
            Ok(s) => s,
            Err(e) => {
                eprintln!(
                    "harvcred proxy check: {} (give --node-ips and the values to check without a cluster)",
                    error_line(&e)
                );
                return Ok(3);
            }
        };
        let got = s.rt.block_on(async {
            let cur = crate::cluster::settings::read_http_proxy(&s.io.client).await?;
            let facts = if node_ips.is_none() {
                crate::cluster::settings::proxy_facts(&s.io.client).await?
            } else {
                ClusterFacts::default()
            };
            Ok::<_, String>((cur.setting, facts))
        });
        match got {
            Ok(x) => x,
            Err(e) => {
                eprintln!("harvcred proxy check: {}", sanitize_str(&e));
                return Ok(3);
            }
        }
    } else {
        (HttpProxySetting::default(), ClusterFacts::default())
    };
    if let Some(ips) = node_ips {
        facts.node_ips = ips.into_iter().map(|s| s.trim().to_string()).collect();
    }
    let s = match apply_values(&base, value) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("harvcred proxy check: {}", error_line(&e));
            return Ok(2);
        }
    };
    let problems = flow::validate(&s, &facts);
    let code = level_code(&problems);
    if json {
        println!(
            "{}",
            json_text(&serde_json::json!({
                "value": MaskedProxy::from(&s),
                "node_ips": facts.node_ips,
                "problems": problems,
                "exit_code": code,
            }))?
        );
    } else {
        print_value(&s);
        if problems.is_empty() {
            println!("valid");
        } else {
            print_problems(&problems);
        }
    }
    Ok(code)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn read(
        status: Option<bool>,
        reason: &str,
        message: &str,
    ) -> crate::cluster::settings::ProxyRead {
        crate::cluster::settings::ProxyRead {
            setting: HttpProxySetting::default(),
            resource_version: "42\u{1b}]52;c;aGk=\u{7}".into(),
            configured: crate::cluster::settings::Configured {
                status,
                reason: reason.into(),
                message: message.into(),
            },
        }
    }

    /// The condition's words come from the API: escaped; and False is the
    /// controller retrying, not a failure.
    #[test]
    fn show_header_escapes_the_api_and_calls_false_retrying() {
        let h = show_header(&read(
            Some(false),
            "SyncerError",
            "dial tcp: \u{1b}[2J\u{9b}31m\u{202e}lies",
        ));
        assert!(
            !h.chars()
                .any(|c| c == '\u{1b}' || c == '\u{9b}' || c == '\u{202e}' || c == '\u{7}'),
            "{h:?}"
        );
        assert!(h.contains("\\e[2J"), "{h}");
        assert!(h.contains("retrying"), "{h}");
        assert!(h.contains("SyncerError: dial tcp"), "{h}");
        assert!(!h.contains("failed"), "{h}");
        assert!(show_header(&read(Some(true), "", "")).contains("configured: yes"));
    }

    #[test]
    fn read_only_refuses_set_and_rollback_from_the_flag_or_the_config() {
        let set = ProxyCommand::Set {
            value: ValueArgs::default(),
            dry_run: false,
            yes: true,
            verify_timeout: 1,
        };
        let rollback = ProxyCommand::Rollback {
            dry_run: false,
            yes: true,
            verify_timeout: 1,
        };
        for cmd in [&set, &rollback] {
            let flag = read_only_refusal(cmd, true, false).unwrap();
            assert!(flag.contains("--read-only"), "{flag}");
            let cfg = read_only_refusal(cmd, false, true).unwrap();
            assert!(cfg.contains("read_only = true in config.toml"), "{cfg}");
            assert_eq!(read_only_refusal(cmd, false, false), None);
        }
        assert_eq!(
            read_only_refusal(&ProxyCommand::Show { json: false }, true, true),
            None
        );
    }

    /// --read-only refuses before anything is read or sent: no cluster is
    /// needed to be refused (exit 2, not the 3 of "no cluster").
    #[test]
    fn read_only_proxy_set_exits_2_without_touching_a_cluster() {
        let cli = <crate::cli::Cli as clap::Parser>::parse_from([
            "harvcred",
            "--read-only",
            "--kubeconfig",
            "/nonexistent/kubeconfig",
            "proxy",
            "rollback",
            "--yes",
        ]);
        assert_eq!(crate::cli::run(cli).unwrap(), 2);
    }

    #[test]
    fn secret_lines_are_read_one_by_one_without_their_endings() {
        // --http-proxy - then --https-proxy -: two lines of the same stdin.
        let mut input = Cursor::new(&b"http://u:Pw1@p:3128\r\nhttp://u:Pw2@q:3128\nlast"[..]);
        assert_eq!(
            read_line_from(&mut input).unwrap().as_str(),
            "http://u:Pw1@p:3128"
        );
        assert_eq!(
            read_line_from(&mut input).unwrap().as_str(),
            "http://u:Pw2@q:3128"
        );
        // No newline before EOF: the text as it is; then nothing.
        assert_eq!(read_line_from(&mut input).unwrap().as_str(), "last");
        assert_eq!(read_line_from(&mut input).unwrap().as_str(), "");
        // Not UTF-8: an error that does not repeat the input.
        let e = read_line_from(&mut Cursor::new(&b"http://u:S3cr\xffet@p\n"[..])).unwrap_err();
        assert!(!e.to_string().contains("S3cr"), "{e}");
    }
}
