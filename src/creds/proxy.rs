//! The HTTP proxy: Harvester's `http-proxy` setting, the node-local proxy in
//! `/etc/environment`, the webhook's noProxy rule re-checked client-side, and
//! the checks Harvester does not make (URL syntax, VIP, registration host,
//! cluster CIDRs).
//!
//! Proxy URLs may carry `user:password@`; they are held in [`ProxyUrl`], which
//! zeroises and prints only a masked form.

use super::level::{Finding, Level};
use serde::Serialize;
use std::collections::BTreeSet;
use std::fmt;
use std::net::IpAddr;
use zeroize::Zeroizing;

/// Entries Harvester appends to `NO_PROXY` itself (`util.AddBuiltInNoProxy`).
pub const BUILTIN_NO_PROXY: &str = "localhost,127.0.0.1,0.0.0.0,10.0.0.0/8,longhorn-system,cattle-system,cattle-system.svc,harvester-system,.svc,.cluster.local";

/// RKE2's default pod CIDR on Harvester.
pub const DEFAULT_POD_CIDR: &str = "10.52.0.0/16";
/// RKE2's default service CIDR on Harvester.
pub const DEFAULT_SERVICE_CIDR: &str = "10.53.0.0/16";

/// A proxy URL that may contain credentials. Zeroised on drop; `Debug` and
/// `Display` show it masked (`http://user:***@host:3128`).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct ProxyUrl(Zeroizing<String>);

impl ProxyUrl {
    /// Wraps a value (trimmed).
    pub fn new(s: &str) -> Self {
        ProxyUrl(Zeroizing::new(s.trim().to_string()))
    }
    /// Not set.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    /// The real value, for writing; never for display.
    pub fn expose_secret(&self) -> &str {
        &self.0
    }
    /// The masked form for display.
    pub fn masked(&self) -> String {
        mask_url(&self.0)
    }
    /// Whether it carries credentials.
    pub fn has_credentials(&self) -> bool {
        split_authority(&self.0).1.is_some()
    }
}

impl fmt::Debug for ProxyUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ProxyUrl({:?})", self.masked())
    }
}

impl fmt::Display for ProxyUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

/// Splits `scheme://userinfo@host:port/path` into (scheme, userinfo, hostport, rest).
fn split_authority(s: &str) -> (Option<&str>, Option<&str>, &str, &str) {
    let (scheme, after) = match s.find("://") {
        Some(i) => (Some(&s[..i]), &s[i + 3..]),
        None => (None, s),
    };
    // Search for the end of the authority after the last `@`, so that a raw
    // (not percent-encoded) `/`, `?` or `#` in a password is still masked.
    let from = after.rfind('@').map_or(0, |i| i + 1);
    let end = after[from..]
        .find(['/', '?', '#'])
        .map_or(after.len(), |i| from + i);
    let (authority, rest) = after.split_at(end);
    match authority.rfind('@') {
        Some(at) => (scheme, Some(&authority[..at]), &authority[at + 1..], rest),
        None => (scheme, None, authority, rest),
    }
}

/// Masks the password of a URL (`user:pw@` → `user:***@`); a user without a
/// password is masked whole (it may be a token).
pub fn mask_url(s: &str) -> String {
    let (scheme, userinfo, hostport, rest) = split_authority(s);
    let Some(ui) = userinfo else {
        return s.to_string();
    };
    let masked_ui = match ui.split_once(':') {
        Some((user, _)) => format!("{user}:***"),
        None => "***".to_string(),
    };
    match scheme {
        Some(sc) => format!("{sc}://{masked_ui}@{hostport}{rest}"),
        None => format!("{masked_ui}@{hostport}{rest}"),
    }
}

/// The `http-proxy` setting value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HttpProxySetting {
    /// `httpProxy`
    pub http_proxy: ProxyUrl,
    /// `httpsProxy`
    pub https_proxy: ProxyUrl,
    /// `noProxy`, comma-separated.
    pub no_proxy: String,
}

/// Problems with proxy values. Messages never carry credentials.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProxyError {
    /// Not JSON (position only: the value may hold a password).
    #[error("the http-proxy value is not valid JSON (line {line}, column {column})")]
    Json {
        /// Line.
        line: usize,
        /// Column.
        column: usize,
    },
    /// JSON but not an object of strings.
    #[error("the http-proxy value must be a JSON object with string fields; `{0}` is not a string")]
    Shape(String),
}

impl HttpProxySetting {
    /// Parses the setting value; an empty value is `{}`. Field names match
    /// case-insensitively, as Go's JSON decoder does.
    pub fn parse(value: &str) -> Result<Self, ProxyError> {
        if value.trim().is_empty() {
            return Ok(Self::default());
        }
        let v: Zeroizing<String> = Zeroizing::new(value.to_string());
        let parsed: serde_json::Value = serde_json::from_str(&v).map_err(|e| ProxyError::Json {
            line: e.line(),
            column: e.column(),
        })?;
        let serde_json::Value::Object(map) = parsed else {
            return Err(ProxyError::Shape("value".into()));
        };
        let mut out = Self::default();
        for (k, val) in map {
            let target = match k.to_ascii_lowercase().as_str() {
                "httpproxy" => 0,
                "httpsproxy" => 1,
                "noproxy" => 2,
                _ => continue,
            };
            let s = match val {
                serde_json::Value::String(s) => Zeroizing::new(s),
                serde_json::Value::Null => Zeroizing::new(String::new()),
                _ => return Err(ProxyError::Shape(k)),
            };
            match target {
                0 => out.http_proxy = ProxyUrl::new(&s),
                1 => out.https_proxy = ProxyUrl::new(&s),
                _ => out.no_proxy = s.trim().to_string(),
            }
        }
        Ok(out)
    }

    /// JSON text to write back to the setting (holds credentials: zeroised).
    pub fn to_json(&self) -> Zeroizing<String> {
        let mut m = serde_json::Map::new();
        if !self.http_proxy.is_empty() {
            m.insert("httpProxy".into(), self.http_proxy.expose_secret().into());
        }
        if !self.https_proxy.is_empty() {
            m.insert("httpsProxy".into(), self.https_proxy.expose_secret().into());
        }
        if !self.no_proxy.is_empty() {
            m.insert("noProxy".into(), self.no_proxy.clone().into());
        }
        Zeroizing::new(serde_json::Value::Object(m).to_string())
    }

    /// A proxy is configured (the webhook only checks noProxy then).
    pub fn proxy_set(&self) -> bool {
        !self.http_proxy.is_empty() || !self.https_proxy.is_empty()
    }

    /// `NO_PROXY` as Harvester hands it to its components (value + built-ins).
    pub fn effective_no_proxy(&self) -> String {
        if self.no_proxy.is_empty() {
            BUILTIN_NO_PROXY.to_string()
        } else {
            format!("{},{BUILTIN_NO_PROXY}", self.no_proxy)
        }
    }
}

/// An IP network (address and prefix length), for CIDR containment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct Cidr {
    /// Network address (host bits cleared).
    pub addr: IpAddr,
    /// Prefix length.
    pub prefix: u8,
}

impl Cidr {
    /// Parses `a.b.c.d/n` or `v6/n` (host bits may be set, as Go's ParseCIDR allows).
    pub fn parse(s: &str) -> Option<Cidr> {
        let (a, p) = s.split_once('/')?;
        if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) || p.len() > 3 {
            return None;
        }
        let prefix: u8 = p.parse().ok()?;
        let addr: IpAddr = a.parse().ok()?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        if prefix > max {
            return None;
        }
        Some(Cidr {
            addr: mask(addr, prefix),
            prefix,
        })
    }

    /// Whether the network contains an address (IPv4-mapped IPv6 counts as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        match (self.addr, ip) {
            (IpAddr::V4(_), IpAddr::V4(_)) | (IpAddr::V6(_), IpAddr::V6(_)) => {
                mask(ip, self.prefix) == self.addr
            }
            _ => false,
        }
    }

    /// Whether the network contains all of another network.
    pub fn contains_net(&self, other: &Cidr) -> bool {
        other.prefix >= self.prefix && self.contains(other.addr)
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

fn mask(ip: IpAddr, prefix: u8) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => {
            let bits = u32::from(v4);
            let m = if prefix == 0 {
                0
            } else {
                u32::MAX << (32 - u32::from(prefix))
            };
            IpAddr::V4((bits & m).into())
        }
        IpAddr::V6(v6) => {
            let bits = u128::from(v6);
            let m = if prefix == 0 {
                0
            } else {
                u128::MAX << (128 - u32::from(prefix))
            };
            IpAddr::V6((bits & m).into())
        }
    }
}

/// What one noProxy entry is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "value", rename_all = "kebab-case")]
pub enum NoProxyEntry {
    /// An IP address: covers that address.
    Ip(IpAddr),
    /// A CIDR: covers the addresses in it.
    Cidr(Cidr),
    /// A host or domain (`example.com`, `.svc`, `*.corp`, `host:8080`): covers no IP.
    Host(String),
    /// `*`: no proxy for anything.
    Wildcard,
    /// Neither IP, CIDR nor host name.
    Invalid(String),
}

fn valid_hostname(h: &str) -> bool {
    let h = h.strip_prefix("*.").map_or(h, |r| r);
    let h = h.strip_prefix('.').unwrap_or(h);
    let h = match h.rsplit_once(':') {
        Some((name, port)) if !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => h,
    };
    !h.is_empty()
        && h.len() <= 253
        && h.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

/// Classifies one (trimmed) entry.
pub fn classify_no_proxy_entry(e: &str) -> NoProxyEntry {
    if e == "*" {
        NoProxyEntry::Wildcard
    } else if let Ok(ip) = e.parse::<IpAddr>() {
        NoProxyEntry::Ip(ip)
    } else if e.contains('/') {
        Cidr::parse(e).map_or_else(|| NoProxyEntry::Invalid(e.to_string()), NoProxyEntry::Cidr)
    } else if e.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        // Looks like an IPv4 address but is not one (10.0.0, 10.0.0.256).
        NoProxyEntry::Invalid(e.to_string())
    } else if valid_hostname(e) {
        NoProxyEntry::Host(e.to_ascii_lowercase())
    } else {
        NoProxyEntry::Invalid(e.to_string())
    }
}

/// Splits noProxy like the webhook (on `,`, trimmed), dropping empty parts
/// (spaces, trailing commas).
pub fn parse_no_proxy(s: &str) -> Vec<NoProxyEntry> {
    s.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(classify_no_proxy_entry)
        .collect()
}

/// Whether an IP is covered by an IP or CIDR entry (host names count for nothing).
pub fn ip_covered(entries: &[NoProxyEntry], ip: IpAddr) -> bool {
    let ip = ip.to_canonical();
    entries.iter().any(|e| match e {
        NoProxyEntry::Ip(x) => x.to_canonical() == ip,
        NoProxyEntry::Cidr(c) => c.contains(ip),
        _ => false,
    })
}

/// Whether a host name is matched by an entry, following Go's `httpproxy`
/// rules (`example.com` and `.example.com` match the domain and subdomains).
pub fn host_covered(entries: &[NoProxyEntry], host: &str) -> bool {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return ip_covered(entries, ip);
    }
    let host = host.to_ascii_lowercase();
    entries.iter().any(|e| match e {
        NoProxyEntry::Wildcard => true,
        NoProxyEntry::Host(h) => {
            let h = h.rsplit_once(':').map_or(h.as_str(), |(n, p)| {
                if p.bytes().all(|b| b.is_ascii_digit()) {
                    n
                } else {
                    h.as_str()
                }
            });
            let h = h.strip_prefix('*').unwrap_or(h);
            let bare = h.strip_prefix('.').unwrap_or(h);
            host == bare || host.ends_with(&format!(".{bare}"))
        }
        _ => false,
    })
}

/// The webhook's rule: with a proxy set, every node InternalIP must be covered
/// by an IP or CIDR entry. Returns Harvester's exact message when not.
/// Node IPs that do not parse are ignored, as the webhook does.
pub fn webhook_check(setting: &HttpProxySetting, node_ips: &[&str]) -> Result<(), String> {
    if !setting.proxy_set() {
        return Ok(());
    }
    let entries = parse_no_proxy(&setting.no_proxy);
    // The webhook keys a map by Go's net.IP.String() and sorts those strings.
    let missed: BTreeSet<String> = node_ips
        .iter()
        .filter_map(|s| s.trim().parse::<IpAddr>().ok())
        .map(|ip| ip.to_canonical())
        .filter(|ip| !ip_covered(&entries, *ip))
        .map(|ip| ip.to_string())
        .collect();
    if missed.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "noProxy should contain the node's IP addresses or CIDR. The node(s) {} are not covered.",
            missed.into_iter().collect::<Vec<_>>().join(", ")
        ))
    }
}

/// Syntax problems of a proxy URL (messages mask credentials).
pub fn validate_proxy_url(url: &ProxyUrl) -> Vec<String> {
    let s = url.expose_secret();
    let shown = url.masked();
    let mut problems = Vec::new();
    if s.is_empty() {
        return problems;
    }
    if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        problems.push(format!("`{shown}` contains spaces or control characters"));
    }
    // Go's proxy parsing (golang.org/x/net/http/httpproxy, what Harvester's
    // components use) reads a value without scheme as http://; its
    // transport speaks http, https and socks5.
    let (scheme, _, hostport, rest) = split_authority(s);
    match scheme {
        None => {}
        Some(sc)
            if !matches!(
                sc.to_ascii_lowercase().as_str(),
                "http" | "https" | "socks5" | "socks5h"
            ) =>
        {
            problems.push(format!(
                "`{shown}`: scheme must be http, https or socks5, not `{sc}`"
            ))
        }
        _ => {}
    }
    let (host, port) = if let Some(r) = hostport.strip_prefix('[') {
        match r.split_once(']') {
            Some((h, p)) => {
                if h.parse::<std::net::Ipv6Addr>().is_err() {
                    problems.push(format!("`{shown}`: `[{h}]` is not an IPv6 address"));
                }
                (
                    h.to_string(),
                    p.strip_prefix(':').map(str::to_string).or_else(|| {
                        if !p.is_empty() {
                            problems
                                .push(format!("`{shown}`: unexpected text after the IPv6 address"));
                        }
                        None
                    }),
                )
            }
            None => {
                problems.push(format!("`{shown}`: missing `]`"));
                (r.to_string(), None)
            }
        }
    } else {
        match hostport.rsplit_once(':') {
            Some((h, p)) => (h.to_string(), Some(p.to_string())),
            None => (hostport.to_string(), None),
        }
    };
    if host.is_empty() {
        problems.push(format!("`{shown}` has no host"));
    } else if !hostport.starts_with('[')
        && host.parse::<IpAddr>().is_err()
        && (host.bytes().all(|b| b.is_ascii_digit() || b == b'.') || !valid_hostname(&host))
    {
        problems.push(format!(
            "`{shown}`: `{host}` is neither a host name nor an IP address"
        ));
    }
    if let Some(p) = port {
        match p.parse::<u32>() {
            Ok(n) if (1..=65535).contains(&n) && p.bytes().all(|b| b.is_ascii_digit()) => {}
            _ => problems.push(format!(
                "`{shown}`: port `{p}` is not a number from 1 to 65535"
            )),
        }
    }
    if !rest.is_empty() && rest != "/" {
        problems.push(format!(
            "`{shown}`: the path `{rest}` is ignored by proxy clients; remove it"
        ));
    }
    problems
}

/// What the proxy checks need to know about the cluster.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClusterFacts {
    /// InternalIP of every node.
    pub node_ips: Vec<String>,
    /// The cluster VIP, if known.
    pub vip: Option<String>,
    /// Host of `cluster-registration-url`, if set.
    pub registration_host: Option<String>,
    /// Pod CIDR (default 10.52.0.0/16).
    pub pod_cidr: Option<String>,
    /// Service CIDR (default 10.53.0.0/16).
    pub service_cidr: Option<String>,
}

/// All checks of a proposed or current `http-proxy` value.
pub fn check_setting(setting: &HttpProxySetting, facts: &ClusterFacts) -> Vec<Finding> {
    let subject = "http-proxy setting";
    let mut out = Vec::new();
    if !setting.proxy_set() {
        if !setting.no_proxy.is_empty() {
            out.push(Finding::new(
                Level::Ok,
                subject,
                "no proxy is set; noProxy has no effect",
            ));
        }
        return out;
    }
    let ips: Vec<&str> = facts.node_ips.iter().map(String::as_str).collect();
    if let Err(msg) = webhook_check(setting, &ips) {
        out.push(Finding::new(
            Level::Critical,
            subject,
            format!(
                "{msg} Harvester rejects this value; add the node CIDR (or each node IP) to noProxy"
            ),
        ));
    }
    for (name, url) in [
        ("httpProxy", &setting.http_proxy),
        ("httpsProxy", &setting.https_proxy),
    ] {
        for p in validate_proxy_url(url) {
            out.push(Finding::new(
                Level::Critical,
                format!("{subject} {name}"),
                format!("{p}. Harvester accepts it, but its components cannot reach the proxy"),
            ));
        }
    }
    let entries = parse_no_proxy(&setting.no_proxy);
    for e in &entries {
        match e {
            NoProxyEntry::Invalid(s) => out.push(Finding::new(
                Level::Warn,
                format!("{subject} noProxy"),
                format!("`{s}` is neither an IP, a CIDR nor a host name: fix or remove it"),
            )),
            NoProxyEntry::Wildcard => out.push(Finding::new(
                Level::Warn,
                format!("{subject} noProxy"),
                "`*` turns the proxy off for everything",
            )),
            _ => {}
        }
    }
    for w in coverage_warnings(setting, facts) {
        out.push(Finding::new(Level::Warn, format!("{subject} noProxy"), w));
    }
    if out.is_empty() {
        out.push(Finding::new(
            Level::Ok,
            subject,
            format!(
                "proxy {} / {}; noProxy covers every node",
                or_dash(&setting.http_proxy),
                or_dash(&setting.https_proxy)
            ),
        ));
    }
    out
}

/// Warnings about noProxy that do not block a change: what is left out
/// (VIP, registration host, pod and service CIDRs) and what is needless
/// (entries Harvester appends by itself). Only meaningful with a proxy set.
pub fn coverage_warnings(setting: &HttpProxySetting, facts: &ClusterFacts) -> Vec<String> {
    let mut out = Vec::new();
    let effective = parse_no_proxy(&setting.effective_no_proxy());
    if let Some(vip) = &facts.vip
        && !host_covered(&effective, vip)
    {
        out.push(format!("the cluster VIP {vip} is not covered: add it (or its CIDR) so that nodes reach the cluster directly"));
    }
    if let Some(h) = &facts.registration_host
        && !host_covered(&effective, h)
    {
        out.push(format!("the registration host {h} (cluster-registration-url) is not covered: Harvester's docs say to add it to noProxy"));
    }
    for (label, cidr, default) in [
        ("pod", &facts.pod_cidr, DEFAULT_POD_CIDR),
        ("service", &facts.service_cidr, DEFAULT_SERVICE_CIDR),
    ] {
        let c = cidr.as_deref().unwrap_or(default);
        if let Some(net) = Cidr::parse(c) {
            let covered = effective.iter().any(|e| match e {
                NoProxyEntry::Cidr(x) => x.contains_net(&net),
                _ => false,
            });
            if !covered {
                out.push(format!("the {label} CIDR {c} is not covered (not even by Harvester's built-in 10.0.0.0/8): add it"));
            }
        }
    }
    let builtin: Vec<&str> = BUILTIN_NO_PROXY.split(',').collect();
    let dup: Vec<&str> = setting
        .no_proxy
        .split(',')
        .map(str::trim)
        .filter(|e| builtin.iter().any(|b| b.eq_ignore_ascii_case(e)))
        .collect();
    if !dup.is_empty() {
        out.push(format!(
            "Harvester adds {} to NO_PROXY by itself: not needed here",
            dup.iter()
                .map(|d| format!("`{d}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    out
}

fn or_dash(u: &ProxyUrl) -> String {
    if u.is_empty() { "-".into() } else { u.masked() }
}

/// Proxy variables of `/etc/environment`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeProxyEnv {
    /// `http_proxy` (or `HTTP_PROXY`).
    pub http_proxy: Option<ProxyUrl>,
    /// `https_proxy` (or `HTTPS_PROXY`).
    pub https_proxy: Option<ProxyUrl>,
    /// `no_proxy` (or `NO_PROXY`).
    pub no_proxy: Option<String>,
    /// Variables set twice (lower and upper case) with different values.
    pub conflicts: Vec<String>,
}

fn unquote(v: &str) -> String {
    let v = v.trim();
    if v.len() >= 2
        && ((v.starts_with('"') && v.ends_with('"')) || (v.starts_with('\'') && v.ends_with('\'')))
    {
        v[1..v.len() - 1].to_string()
    } else {
        // Unquoted: a ` #` starts a comment.
        v.split(" #").next().unwrap_or("").trim().to_string()
    }
}

/// Parses `/etc/environment` (`KEY=value`, quotes, comments, `export`).
pub fn parse_etc_environment(text: &str) -> NodeProxyEnv {
    let mut out = NodeProxyEnv::default();
    let mut seen: Vec<(String, Zeroizing<String>)> = Vec::new();
    for line in text.lines() {
        let l = line.trim();
        if l.is_empty() || l.starts_with('#') {
            continue;
        }
        let l = l.strip_prefix("export ").map_or(l, str::trim_start);
        let Some((k, v)) = l.split_once('=') else {
            continue;
        };
        let key = k.trim().to_ascii_lowercase();
        if !matches!(key.as_str(), "http_proxy" | "https_proxy" | "no_proxy") {
            continue;
        }
        let val = Zeroizing::new(unquote(v));
        if let Some((_, prev)) = seen.iter().find(|(kk, _)| *kk == key) {
            if **prev != *val && !out.conflicts.contains(&key) {
                out.conflicts.push(key.clone());
            }
            continue;
        }
        match key.as_str() {
            "http_proxy" => out.http_proxy = Some(ProxyUrl::new(&val)),
            "https_proxy" => out.https_proxy = Some(ProxyUrl::new(&val)),
            _ => out.no_proxy = Some(val.trim().to_string()),
        }
        seen.push((key, val));
    }
    out
}

/// Compares a node's `/etc/environment` with the setting.
pub fn environment_drift(
    node: &str,
    env: &NodeProxyEnv,
    setting: &HttpProxySetting,
) -> Vec<Finding> {
    let subject = format!("{node} /etc/environment proxy");
    let mut out = Vec::new();
    for c in &env.conflicts {
        out.push(Finding::new(
            Level::Warn,
            subject.clone(),
            format!("{c} is set twice with different values (lower and upper case): programs disagree on the proxy; keep one"),
        ));
    }
    let node_set = env.http_proxy.as_ref().is_some_and(|u| !u.is_empty())
        || env.https_proxy.as_ref().is_some_and(|u| !u.is_empty());
    if !node_set {
        out.push(Finding::new(
            Level::Ok,
            subject,
            if setting.proxy_set() {
                "no node-local proxy: only Harvester's components use the http-proxy setting"
            } else {
                "no proxy"
            },
        ));
        return out;
    }
    if !setting.proxy_set() {
        out.push(Finding::new(
            Level::Warn,
            subject.clone(),
            "a node-local proxy is set but the http-proxy setting is empty: it is per node, manual and unchecked; prefer the http-proxy setting",
        ));
    }
    let empty = ProxyUrl::default();
    for (name, n, s) in [
        (
            "http_proxy",
            env.http_proxy.as_ref().unwrap_or(&empty),
            &setting.http_proxy,
        ),
        (
            "https_proxy",
            env.https_proxy.as_ref().unwrap_or(&empty),
            &setting.https_proxy,
        ),
    ] {
        if setting.proxy_set() && n != s {
            out.push(Finding::new(
                Level::Warn,
                subject.clone(),
                format!(
                    "{name} is {} here but {} in the http-proxy setting: align them",
                    or_dash(n),
                    or_dash(s)
                ),
            ));
        }
        for p in validate_proxy_url(n) {
            out.push(Finding::new(
                Level::Warn,
                subject.clone(),
                format!("{name}: {p}"),
            ));
        }
    }
    let node_no: BTreeSet<String> = env
        .no_proxy
        .as_deref()
        .unwrap_or("")
        .split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect();
    let set_no: BTreeSet<String> = setting
        .no_proxy
        .split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect();
    if setting.proxy_set() && node_no != set_no {
        let missing: Vec<_> = set_no.difference(&node_no).cloned().collect();
        let extra: Vec<_> = node_no.difference(&set_no).cloned().collect();
        out.push(Finding::new(
            Level::Warn,
            subject.clone(),
            format!(
                "no_proxy differs from the setting (missing here: {}; only here: {})",
                if missing.is_empty() {
                    "-".into()
                } else {
                    missing.join(",")
                },
                if extra.is_empty() {
                    "-".into()
                } else {
                    extra.join(",")
                }
            ),
        ));
    }
    if out.is_empty() {
        out.push(Finding::new(
            Level::Ok,
            subject,
            "matches the http-proxy setting",
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setting(no_proxy: &str) -> HttpProxySetting {
        HttpProxySetting {
            http_proxy: ProxyUrl::new("http://proxy.corp:3128"),
            https_proxy: ProxyUrl::new("http://proxy.corp:3128"),
            no_proxy: no_proxy.into(),
        }
    }

    #[test]
    fn masking() {
        assert_eq!(
            mask_url("http://user:pw@host:3128"),
            "http://user:***@host:3128"
        );
        assert_eq!(
            mask_url("http://us%40er:p@ss:w@host:3128/"),
            "http://us%40er:***@host:3128/"
        );
        assert_eq!(mask_url("https://tokenonly@host"), "https://***@host");
        assert_eq!(mask_url("http://host:3128"), "http://host:3128");
        assert_eq!(mask_url("user:pw@host:3128"), "user:***@host:3128");
        assert_eq!(mask_url(""), "");
        // Raw special characters in the password are still masked.
        assert_eq!(
            mask_url("http://u:pa/ss?#@host:3128/"),
            "http://u:***@host:3128/"
        );
        let u = ProxyUrl::new("http://admin:S3cr3t@10.0.0.1:3128");
        assert!(u.has_credentials());
        for shown in [format!("{u:?}"), u.to_string()] {
            assert!(!shown.contains("S3cr3t"), "{shown}");
        }
    }

    #[test]
    fn setting_parse_and_roundtrip() {
        let s = HttpProxySetting::parse(
            r#"{"httpProxy":"http://u:pw@p:3128","HTTPSPROXY":"https://p:3129","noProxy":" 10.0.0.0/8 ,a.b "}"#,
        )
        .unwrap();
        assert_eq!(s.http_proxy.expose_secret(), "http://u:pw@p:3128");
        assert_eq!(s.https_proxy.expose_secret(), "https://p:3129");
        assert_eq!(s.no_proxy, "10.0.0.0/8 ,a.b");
        assert!(format!("{s:?}").contains("u:***@p"));
        assert!(!format!("{s:?}").contains("pw@"));
        let back = HttpProxySetting::parse(&s.to_json()).unwrap();
        assert_eq!(back, s);
        assert_eq!(
            HttpProxySetting::parse("").unwrap(),
            HttpProxySetting::default()
        );
        assert_eq!(
            HttpProxySetting::parse("{}").unwrap(),
            HttpProxySetting::default()
        );
        let err = HttpProxySetting::parse(r#"{"httpProxy":"http://u:secret@p"#).unwrap_err();
        assert!(!err.to_string().contains("secret"), "{err}");
        assert!(HttpProxySetting::parse(r#"{"noProxy":5}"#).is_err());
        assert!(HttpProxySetting::parse(r#"[1]"#).is_err());
    }

    #[test]
    fn no_proxy_coverage_table() {
        let nodes = [
            "192.168.0.30",
            "192.168.0.31",
            "192.168.0.32",
            "fd00::a",
            "fd00::b",
        ];
        let msg = |ips: &str| {
            format!(
                "noProxy should contain the node's IP addresses or CIDR. The node(s) {ips} are not covered."
            )
        };
        let cases: &[(&str, Option<&str>)] = &[
            (
                "",
                Some("192.168.0.30, 192.168.0.31, 192.168.0.32, fd00::a, fd00::b"),
            ),
            ("192.168.0.0/24,fd00::/64", None),
            ("192.168.0.0/24", Some("fd00::a, fd00::b")),
            // Host names cover nothing.
            (
                "10.1.2.0/24,foo.bar,fd00::/8",
                Some("192.168.0.30, 192.168.0.31, 192.168.0.32"),
            ),
            ("192.168.0.0/27,fd00::/120", Some("192.168.0.32")),
            // Trailing commas and spaces.
            (
                "192.168.0.30, 192.168.0.31 ,,fd00::a,fd00:0:0::b,",
                Some("192.168.0.32"),
            ),
            (
                "192.168.0.30,192.168.0.31,192.168.0.32,fd00::a,fd00::b",
                None,
            ),
            // Host bits set in a CIDR are fine (Go masks them).
            ("192.168.0.99/24,fd00::1/64", None),
            // Broken CIDRs cover nothing.
            (
                "192.168.0.0/33,fd00::/129",
                Some("192.168.0.30, 192.168.0.31, 192.168.0.32, fd00::a, fd00::b"),
            ),
            ("0.0.0.0/0,::/0", None),
        ];
        for (no_proxy, want) in cases {
            let got = webhook_check(&setting(no_proxy), &nodes);
            assert_eq!(
                got,
                want.map_or(Ok(()), |w| Err(msg(w))),
                "noProxy={no_proxy:?}"
            );
        }
        // No proxy set: nothing to check.
        assert_eq!(webhook_check(&HttpProxySetting::default(), &nodes), Ok(()));
        // Sorted as strings, like the webhook.
        assert_eq!(
            webhook_check(&setting(""), &["10.0.0.9", "10.0.0.10", "bogus"]),
            Err(msg("10.0.0.10, 10.0.0.9"))
        );
    }

    #[test]
    fn entry_classification() {
        use NoProxyEntry::*;
        let e = parse_no_proxy(
            "localhost, 127.0.0.1,10.0.0.0/8,.svc,*.corp.example,host:8080,*,fd00::1,10.0.0,10.0.0.256,a b,http://x,-,",
        );
        assert_eq!(e[0], Host("localhost".into()));
        assert!(matches!(e[1], Ip(_)));
        assert!(matches!(e[2], Cidr(_)));
        assert_eq!(e[3], Host(".svc".into()));
        assert_eq!(e[4], Host("*.corp.example".into()));
        assert_eq!(e[5], Host("host:8080".into()));
        assert_eq!(e[6], Wildcard);
        assert!(matches!(e[7], Ip(_)));
        assert_eq!(e[8], Invalid("10.0.0".into()));
        assert_eq!(e[9], Invalid("10.0.0.256".into()));
        assert_eq!(e[10], Invalid("a b".into()));
        assert_eq!(e[11], Invalid("http://x".into()));
        assert_eq!(e.len(), 13);
    }

    #[test]
    fn cidr_math() {
        let c = super::Cidr::parse("10.52.0.0/16").unwrap();
        assert!(super::Cidr::parse("10.0.0.0/8").unwrap().contains_net(&c));
        assert!(!c.contains_net(&super::Cidr::parse("10.0.0.0/8").unwrap()));
        assert!(c.contains("10.52.255.1".parse().unwrap()));
        assert!(!c.contains("10.53.0.1".parse().unwrap()));
        assert!(!c.contains("::1".parse().unwrap()));
        assert!(c.contains("::ffff:10.52.1.1".parse().unwrap()));
        assert_eq!(
            super::Cidr::parse("192.168.1.77/24").unwrap().to_string(),
            "192.168.1.0/24"
        );
        assert!(super::Cidr::parse("10.0.0.0/").is_none());
        assert!(super::Cidr::parse("10.0.0.0/+8").is_none());
        assert!(
            super::Cidr::parse("fd00::/64")
                .unwrap()
                .contains("fd00::ffff".parse().unwrap())
        );
    }

    #[test]
    fn url_validation() {
        let ok = |s: &str| {
            assert!(
                validate_proxy_url(&ProxyUrl::new(s)).is_empty(),
                "{s}: {:?}",
                validate_proxy_url(&ProxyUrl::new(s))
            )
        };
        let bad = |s: &str, want: &str| {
            let p = validate_proxy_url(&ProxyUrl::new(s));
            assert!(p.iter().any(|m| m.contains(want)), "{s}: {p:?}");
            assert!(p.iter().all(|m| !m.contains("hunter2")), "{p:?}");
        };
        ok("http://proxy.corp:3128");
        ok("https://user:hunter2@10.0.0.1:3128/");
        ok("http://[fd00::1]:3128");
        ok("http://proxy");
        // Go reads these as http://proxy.corp:3128 and a SOCKS5 proxy: valid,
        // so nothing may claim they "cannot be reached".
        ok("proxy.corp:3128");
        ok("10.0.0.1:3128");
        ok("socks5://proxy:1080");
        ok("SOCKS5h://user:hunter2@proxy:1080");
        bad("ftp://proxy:21", "scheme must be http, https or socks5");
        bad("http://:3128", "no host");
        bad("http://user:hunter2@proxy:99999", "port `99999`");
        bad("http://proxy:abc", "port `abc`");
        bad("http://[fd00::zz]:3128", "not an IPv6");
        bad("http://pro xy:3128", "spaces");
        bad("http://10.0.0.300:3128", "neither a host name");
        bad("http://proxy:3128/path", "ignored");
    }

    #[test]
    fn setting_checks_beyond_the_webhook() {
        let facts = ClusterFacts {
            node_ips: vec!["192.168.0.30".into()],
            vip: Some("192.168.0.100".into()),
            registration_host: Some("rancher.corp.example".into()),
            ..Default::default()
        };
        let f = check_setting(&setting("192.168.0.30"), &facts);
        assert!(f.iter().any(|f| f.message.contains("VIP 192.168.0.100")));
        assert!(f.iter().any(|f| f.message.contains("rancher.corp.example")));
        // Pod and service CIDRs are covered by the built-in 10.0.0.0/8.
        assert!(!f.iter().any(|f| f.message.contains("pod CIDR")));
        let f = check_setting(&setting("192.168.0.0/24,.corp.example"), &facts);
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(f[0].level, Level::Ok);
        let custom = ClusterFacts {
            pod_cidr: Some("172.20.0.0/16".into()),
            ..facts.clone()
        };
        let f = check_setting(&setting("192.168.0.0/24,.corp.example"), &custom);
        assert!(
            f.iter()
                .any(|f| f.message.contains("pod CIDR 172.20.0.0/16"))
        );
        let f = check_setting(&setting("192.168.0.0/24,.corp.example,bad entry"), &facts);
        assert!(
            f.iter()
                .any(|f| f.level == Level::Warn && f.message.contains("`bad entry`"))
        );
        let f = check_setting(&setting(""), &facts);
        assert_eq!(f[0].level, Level::Critical);
        assert!(f[0].message.starts_with("noProxy should contain"));
    }

    #[test]
    fn etc_environment_and_drift() {
        let text = "# proxy\nPATH=/usr/bin\nexport http_proxy=\"http://u:pw@proxy.corp:3128\"\nHTTPS_PROXY='http://u:pw@proxy.corp:3128'\nno_proxy=192.168.0.0/24,.corp.example # note\nNO_PROXY=other\n";
        let env = parse_etc_environment(text);
        assert_eq!(
            env.http_proxy.as_ref().unwrap().expose_secret(),
            "http://u:pw@proxy.corp:3128"
        );
        assert_eq!(
            env.https_proxy.as_ref().unwrap().expose_secret(),
            "http://u:pw@proxy.corp:3128"
        );
        assert_eq!(
            env.no_proxy.as_deref(),
            Some("192.168.0.0/24,.corp.example")
        );
        assert_eq!(env.conflicts, vec!["no_proxy".to_string()]);

        let s = HttpProxySetting {
            http_proxy: ProxyUrl::new("http://u:pw@proxy.corp:3128"),
            https_proxy: ProxyUrl::new("http://u:pw@proxy.corp:3128"),
            no_proxy: "192.168.0.0/24,.corp.example".into(),
        };
        let f = environment_drift("n1", &env, &s);
        assert_eq!(f.len(), 1, "{f:?}");
        assert!(f[0].message.contains("set twice"));

        let other = HttpProxySetting {
            http_proxy: ProxyUrl::new("http://u:pw@other:3128"),
            ..s.clone()
        };
        let f = environment_drift(
            "n1",
            &parse_etc_environment("http_proxy=http://u:pw@proxy.corp:3128\n"),
            &other,
        );
        assert!(f.iter().any(|f| f.message.contains(
            "http_proxy is http://u:***@proxy.corp:3128 here but http://u:***@other:3128"
        )));
        assert!(f.iter().any(|f| f.message.contains("no_proxy differs")));
        assert!(f.iter().all(|f| !f.message.contains(":pw@")));
        let f = environment_drift(
            "n1",
            &parse_etc_environment("http_proxy=http://p:3128\n"),
            &HttpProxySetting::default(),
        );
        assert!(f[0].message.contains("setting is empty"));
        let f = environment_drift("n1", &parse_etc_environment("PATH=/bin\n"), &s);
        assert_eq!(f[0].level, Level::Ok);
    }
}
