//! yip configs in `/oem` (`90_custom.yaml`, `99_custom.yaml`, CloudInit
//! contents like `99_passwd.yaml`): what they persist, and the two edits the
//! flows need, done so that every byte the edit does not mean to change stays
//! as it was.
//!
//! The edits are line-oriented and guided by the parser's source spans; the
//! result is parsed again and must equal the old document with exactly the
//! intended change, or the edit is refused. A file that yip's Go parser would
//! reject (tabs in indentation, harvester#9519) is refused up front.

use super::keys::{AuthorizedKeys, parse_key_list};
use super::password::Sensitive;
use super::proxy::{NodeProxyEnv, parse_etc_environment};
use super::token::{Token, TokenError, token_from_yaml, yaml_position};
use base64::Engine as _;
use serde::Deserialize;
use serde_saphyr::Spanned;
use std::collections::{BTreeMap, HashMap};
use zeroize::Zeroizing;

/// Path of the rancherd config that 90_custom.yaml writes at every boot.
pub const RANCHERD_CONFIG: &str = "/etc/rancher/rancherd/config.yaml";

/// Why a yip file could not be read or edited. Never quotes the file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OemError {
    /// Tab in indentation: yip (Go YAML) rejects the file and the node may not come back.
    #[error(
        "line {0}: tab character in indentation; yip cannot read this file and the node may not boot properly (harvester#9519): indent with spaces"
    )]
    Tab(usize),
    /// YAML syntax error (position only).
    #[error("YAML syntax error{0}")]
    Yaml(String),
    /// The layout is not the one the edit expects; nothing is guessed.
    #[error("unexpected layout: {0}")]
    Layout(String),
    /// The new value is not acceptable.
    #[error("refused value: {0}")]
    Value(String),
    /// The edited text did not parse back to the intended document.
    #[error("the edit did not verify: {0}")]
    Verify(String),
}

// ---------------------------------------------------------------- reading --

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawDoc {
    stages: Option<BTreeMap<String, Option<Vec<Option<RawStage>>>>>,
    users: Option<CloudUsers>,
    ssh_authorized_keys: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum CloudUsers {
    List(Vec<RawUser>),
    Map(BTreeMap<String, RawUser>),
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawStage {
    name: Option<String>,
    users: Option<BTreeMap<String, Option<RawUser>>>,
    environment: Option<BTreeMap<String, Sensitive>>,
    files: Option<Vec<RawFile>>,
    authorized_keys: Option<BTreeMap<String, Option<Vec<String>>>>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawUser {
    name: Option<String>,
    passwd: Option<Sensitive>,
    ssh_authorized_keys: Option<Vec<String>>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawFile {
    path: Option<String>,
    content: Option<Sensitive>,
    encoding: Option<String>,
}

/// A persisted password, with where it is.
#[derive(Debug, Clone)]
pub struct PasswdEntry {
    /// e.g. `stages.initramfs[0].users.rancher.passwd`.
    pub location: String,
    /// The yip stage that applies it (`initramfs`, `initramfs.after`, ...;
    /// `boot` for cloud-config `users:`) and the entry's index in it.
    pub stage: String,
    pub entry: usize,
    /// The user.
    pub user: String,
    /// The value (hash or clear text).
    pub value: Sensitive,
}

/// A persisted key list, with where it is.
#[derive(Debug, Clone)]
pub struct KeyListEntry {
    /// e.g. `stages.network[0].authorized_keys.rancher`.
    pub location: String,
    /// The user.
    pub user: String,
    /// Entries as written.
    pub keys: Vec<String>,
}

/// Environment variables of one stage (values may hold proxy credentials).
#[derive(Debug, Clone)]
pub struct EnvEntry {
    /// e.g. `stages.initramfs[0].environment`.
    pub location: String,
    /// Variables in name order.
    pub vars: Vec<(String, Sensitive)>,
}

/// A file a stage writes (content not kept).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileEntry {
    /// e.g. `stages.initramfs[0].files[2]`.
    pub location: String,
    /// Target path on the node.
    pub path: String,
    /// yip encoding (`""`, `b64`, ...).
    pub encoding: String,
}

/// What a yip config persists about credentials.
#[derive(Debug, Clone, Default)]
pub struct OemConfig {
    /// The file starts with `#cloud-config`.
    pub cloud_config: bool,
    /// `stage[index]` (and name) of every stage entry, in key order.
    pub stages: Vec<String>,
    /// Every `passwd` (all users).
    pub passwords: Vec<PasswdEntry>,
    /// Every `authorized_keys`/`ssh_authorized_keys` list.
    pub authorized_keys: Vec<KeyListEntry>,
    /// Top-level cloud-config `ssh_authorized_keys` with no user listed:
    /// yip installs them for nobody.
    pub unowned_keys: Vec<KeyListEntry>,
    /// Every `environment` map.
    pub environment: Vec<EnvEntry>,
    /// Every file written.
    pub files: Vec<FileEntry>,
    /// The token inside the rancherd config file content, with its location.
    pub rancherd_token: Option<(String, Result<Token, TokenError>)>,
}

impl OemConfig {
    /// The `rancher` passwords of this file, in file order (several when
    /// several stages set one; see [`boot_order`] for which one wins).
    pub fn rancher_passwords(&self) -> Vec<&PasswdEntry> {
        self.passwords
            .iter()
            .filter(|p| p.user == "rancher")
            .collect()
    }

    /// All `rancher` keys, parsed, in file order.
    pub fn rancher_keys(&self) -> AuthorizedKeys {
        let all: Vec<&str> = self
            .authorized_keys
            .iter()
            .filter(|k| k.user == "rancher")
            .flat_map(|k| k.keys.iter().map(String::as_str))
            .collect();
        parse_key_list(&all)
    }

    /// The proxy variables these stages write to `/etc/environment`.
    pub fn proxy_env(&self) -> NodeProxyEnv {
        let mut text = Zeroizing::new(String::new());
        for e in &self.environment {
            for (k, v) in &e.vars {
                text.push_str(k);
                text.push('=');
                text.push_str(v.expose_secret());
                text.push('\n');
            }
        }
        parse_etc_environment(&text)
    }
}

/// Where a yip stage runs in a boot: yip runs one stage at a time across all
/// `/oem` files (in file-name order), each stage as `X.before`, `X`,
/// `X.after`. Unknown stages sort last (they run only when asked for).
pub fn stage_rank(stage: &str) -> (usize, usize) {
    const ORDER: [&str; 6] = ["rootfs", "initramfs", "boot", "fs", "network", "reconcile"];
    let (base, phase) = match stage.rsplit_once('.') {
        Some((b, "before")) => (b, 0),
        Some((b, "after")) => (b, 2),
        _ => (stage, 1),
    };
    (
        ORDER.iter().position(|s| *s == base).unwrap_or(ORDER.len()),
        phase,
    )
}

/// Sort key of a persisted password in boot order: stage, then file name,
/// then entry; the last one yip applies is the one the node boots with.
pub fn boot_order<'a>(file: &'a str, p: &'a PasswdEntry) -> ((usize, usize), &'a str, usize) {
    (stage_rank(&p.stage), file, p.entry)
}

/// Whether a line opens a block scalar (`key: |`, `- >-`, `key: |2 # c`).
fn opens_block_scalar(line: &str) -> bool {
    let code = match line.find(" #") {
        Some(i) => &line[..i],
        None => line,
    };
    let code = code.trim_end();
    let Some(last) = code.rsplit(' ').next() else {
        return false;
    };
    let mut chars = last.chars();
    let first_ok = matches!(chars.next(), Some('|') | Some('>'));
    first_ok
        && chars.all(|c| matches!(c, '-' | '+' | '1'..='9'))
        && (code.len() == last.len() || {
            let before = code[..code.len() - last.len()].trim_end();
            before.ends_with(':') || before.ends_with('-') || before.ends_with("!!str")
        })
}

/// Refuses tabs in indentation (outside block scalar content), which Go's
/// YAML parser rejects even on comment lines, while ours would accept them.
pub fn check_tabs(text: &str) -> Result<(), OemError> {
    let mut block_parent: Option<usize> = None;
    for (i, line) in text.lines().enumerate() {
        let spaces = line.len() - line.trim_start_matches(' ').len();
        let rest = &line[spaces..];
        if let Some(parent) = block_parent {
            if line.trim().is_empty() || spaces > parent {
                continue; // content of the block scalar: tabs are text there
            }
            block_parent = None;
        }
        // Also refused on blank-looking lines: worthless there and risky.
        if rest.starts_with('\t') {
            return Err(OemError::Tab(i + 1));
        }
        if opens_block_scalar(line) {
            block_parent = Some(spaces);
        }
    }
    Ok(())
}

fn yaml_err(e: &serde_saphyr::Error) -> OemError {
    OemError::Yaml(yaml_position(e))
}

fn decode_content(content: &str, encoding: &str) -> Result<Zeroizing<String>, String> {
    match encoding.trim() {
        "" => Ok(Zeroizing::new(content.to_string())),
        "b64" | "base64" => {
            let clean: String = content.split_whitespace().collect();
            let bytes = Zeroizing::new(
                base64::engine::general_purpose::STANDARD
                    .decode(clean.as_bytes())
                    .map_err(|_| "content is not valid base64".to_string())?,
            );
            String::from_utf8(bytes.to_vec())
                .map(Zeroizing::new)
                .map_err(|_| "content is not text".to_string())
        }
        other => Err(format!("encoding `{other}` is not supported here")),
    }
}

/// Parses a yip config (or `#cloud-config`) and collects what it persists.
pub fn parse_oem(text: &str) -> Result<OemConfig, OemError> {
    check_tabs(text)?;
    let raw: Option<RawDoc> = serde_saphyr::from_str(text).map_err(|e| yaml_err(&e))?;
    let raw = raw.unwrap_or_default();
    let mut out = OemConfig {
        cloud_config: text.trim_start().starts_with("#cloud-config"),
        ..Default::default()
    };
    let mut listed_users = Vec::new();
    if let Some(users) = raw.users {
        let list: Vec<(String, RawUser)> = match users {
            CloudUsers::List(v) => v
                .into_iter()
                .enumerate()
                .map(|(i, u)| (u.name.clone().unwrap_or_else(|| format!("#{i}")), u))
                .collect(),
            CloudUsers::Map(m) => m.into_iter().collect(),
        };
        for (i, (name, u)) in list.into_iter().enumerate() {
            listed_users.push(name.clone());
            if let Some(p) = u.passwd {
                out.passwords.push(PasswdEntry {
                    stage: "boot".into(),
                    entry: 0,
                    location: format!("users[{i}].passwd"),
                    user: name.clone(),
                    value: p,
                });
            }
            if let Some(k) = u.ssh_authorized_keys {
                out.authorized_keys.push(KeyListEntry {
                    location: format!("users[{i}].ssh_authorized_keys"),
                    user: name,
                    keys: k,
                });
            }
        }
    }
    if let Some(k) = raw.ssh_authorized_keys {
        // yip (schema/cloudinit.go) gives top-level keys to each user listed
        // under `users:` and to nobody when none is listed.
        if listed_users.is_empty() {
            out.unowned_keys.push(KeyListEntry {
                location: "ssh_authorized_keys".into(),
                user: String::new(),
                keys: k,
            });
        } else {
            for user in listed_users {
                out.authorized_keys.push(KeyListEntry {
                    location: format!("ssh_authorized_keys (for users: {user})"),
                    user,
                    keys: k.clone(),
                });
            }
        }
    }
    for (stage, entries) in raw.stages.unwrap_or_default() {
        for (i, st) in entries.unwrap_or_default().into_iter().enumerate() {
            let Some(st) = st else { continue };
            let here = format!("stages.{stage}[{i}]");
            out.stages.push(match &st.name {
                Some(n) => format!("{here} ({n})"),
                None => here.clone(),
            });
            for (user, u) in st.users.unwrap_or_default() {
                let Some(u) = u else { continue };
                if let Some(p) = u.passwd {
                    out.passwords.push(PasswdEntry {
                        stage: stage.clone(),
                        entry: i,
                        location: format!("{here}.users.{user}.passwd"),
                        user: user.clone(),
                        value: p,
                    });
                }
                if let Some(k) = u.ssh_authorized_keys {
                    out.authorized_keys.push(KeyListEntry {
                        location: format!("{here}.users.{user}.ssh_authorized_keys"),
                        user: user.clone(),
                        keys: k,
                    });
                }
            }
            for (user, keys) in st.authorized_keys.unwrap_or_default() {
                out.authorized_keys.push(KeyListEntry {
                    location: format!("{here}.authorized_keys.{user}"),
                    user,
                    keys: keys.unwrap_or_default(),
                });
            }
            if let Some(env) = st.environment {
                out.environment.push(EnvEntry {
                    location: format!("{here}.environment"),
                    vars: env.into_iter().collect(),
                });
            }
            for (fi, f) in st.files.unwrap_or_default().into_iter().enumerate() {
                let path = f.path.unwrap_or_default();
                let encoding = f.encoding.unwrap_or_default();
                let location = format!("{here}.files[{fi}]");
                if path == RANCHERD_CONFIG {
                    let content = f.content.unwrap_or_else(|| Sensitive::new(""));
                    let token = match decode_content(content.expose_secret(), &encoding) {
                        Ok(text) => token_from_yaml(&text).and_then(|t| t.ok_or(TokenError::Empty)),
                        Err(why) => Err(TokenError::Yaml(format!(" ({why})"))),
                    };
                    out.rancherd_token = Some((format!("{location}.content"), token));
                }
                out.files.push(FileEntry {
                    location,
                    path,
                    encoding,
                });
            }
        }
    }
    Ok(out)
}

// ---------------------------------------------------------------- editing --

#[derive(Deserialize)]
struct LocDoc {
    #[serde(default)]
    stages: Option<HashMap<String, Option<Vec<Option<LocStage>>>>>,
}

type LocKeyList = Spanned<Option<Vec<Spanned<String>>>>;

#[derive(Deserialize)]
struct LocStage {
    #[serde(default)]
    users: Option<HashMap<Spanned<String>, Option<LocUser>>>,
    #[serde(default)]
    authorized_keys: Option<HashMap<Spanned<String>, LocKeyList>>,
}

#[derive(Deserialize)]
struct LocUser {
    #[serde(default)]
    passwd: Option<Spanned<Sensitive>>,
    #[serde(default)]
    ssh_authorized_keys: Option<LocKeyList>,
}

fn loc_stage<'a>(doc: &'a LocDoc, stage: &str, index: usize) -> Result<&'a LocStage, OemError> {
    doc.stages
        .as_ref()
        .and_then(|s| s.get(stage))
        .and_then(|v| v.as_ref())
        .and_then(|v| v.get(index))
        .and_then(|s| s.as_ref())
        .ok_or_else(|| OemError::Layout(format!("no stages.{stage}[{index}] in the file")))
}

/// Byte range of a span, when the parser gave byte offsets.
fn byte_range(loc: &serde_saphyr::Location) -> Option<(usize, usize)> {
    let sp = loc.span();
    let off = usize::try_from(sp.byte_offset()?).ok()?;
    let len = usize::try_from(sp.byte_len()?).ok()?;
    Some((off, off + len))
}

/// Start byte of the line holding `pos`, and its end (before the newline).
fn line_bounds(text: &str, pos: usize) -> (usize, usize) {
    let start = text[..pos].rfind('\n').map_or(0, |i| i + 1);
    let end = text[pos..].find('\n').map_or(text.len(), |i| pos + i);
    (start, end)
}

fn parse_generic(text: &str) -> Result<serde_json::Value, OemError> {
    let v: Option<serde_json::Value> = serde_saphyr::from_str(text).map_err(|e| yaml_err(&e))?;
    Ok(v.unwrap_or(serde_json::Value::Null))
}

/// The generic document with one value replaced, for verification.
fn with_replaced(
    mut doc: serde_json::Value,
    stage: &str,
    index: usize,
    path: &[&str],
    value: serde_json::Value,
) -> Option<serde_json::Value> {
    let mut cur = doc.get_mut("stages")?.get_mut(stage)?.get_mut(index)?;
    for p in &path[..path.len() - 1] {
        cur = cur.get_mut(*p)?;
    }
    let last = path[path.len() - 1];
    cur.as_object_mut()?.insert(last.to_string(), value);
    Some(doc)
}

fn verify(
    old: &str,
    new: &str,
    stage: &str,
    index: usize,
    path: &[&str],
    value: serde_json::Value,
) -> Result<(), OemError> {
    check_tabs(new)?;
    let before = parse_generic(old)?;
    let after = parse_generic(new)
        .map_err(|e| OemError::Verify(format!("the edited file does not parse: {e}")))?;
    let expected = with_replaced(before, stage, index, path, value)
        .ok_or_else(|| OemError::Verify("could not rebuild the expected document".into()))?;
    if after == expected {
        Ok(())
    } else {
        Err(OemError::Verify(
            "the edited file means something other than the intended change".into(),
        ))
    }
}

fn is_crypt_hash(h: &str) -> bool {
    h.starts_with('$')
        && h.len() > 3
        && h.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'/' | b'$' | b'=' | b','))
}

/// Sets `stages.<stage>[index].users.<user>.passwd` to a crypt hash, changing
/// only the bytes of the old value (its quoting style is kept). Clear text is
/// refused: yip would leave it readable in the file.
pub fn set_user_passwd(
    text: &str,
    stage: &str,
    index: usize,
    user: &str,
    new_hash: &str,
) -> Result<String, OemError> {
    if !is_crypt_hash(new_hash) {
        return Err(OemError::Value(
            "only a crypt hash ($6$…) is written to a persisted config, never clear text".into(),
        ));
    }
    check_tabs(text)?;
    let doc: LocDoc = serde_saphyr::from_str(text).map_err(|e| yaml_err(&e))?;
    let st = loc_stage(&doc, stage, index)?;
    let u = st
        .users
        .as_ref()
        .and_then(|m| m.iter().find(|(k, _)| k.value == user))
        .and_then(|(_, u)| u.as_ref())
        .ok_or_else(|| OemError::Layout(format!("no users.{user} in stages.{stage}[{index}]")))?;
    let p = u.passwd.as_ref().ok_or_else(|| {
        OemError::Layout(format!(
            "stages.{stage}[{index}].users.{user} has no passwd: add the line by hand or use a CloudInit resource"
        ))
    })?;
    let (start, end) = byte_range(&p.referenced)
        .ok_or_else(|| OemError::Layout("the parser gave no position for passwd".into()))?;
    let old_tok = text
        .get(start..end)
        .ok_or_else(|| OemError::Layout("passwd position is outside the file".into()))?;
    if old_tok.is_empty() || old_tok.contains('\n') {
        return Err(OemError::Layout(
            "passwd is empty or spans several lines; edit it by hand".into(),
        ));
    }
    if old_tok.starts_with(['|', '>', '&', '*', '!']) {
        return Err(OemError::Layout(
            "passwd is a block scalar, anchor, alias or tagged value; edit it by hand".into(),
        ));
    }
    let (ls, _) = line_bounds(text, start);
    if !text[ls..start].trim_end().ends_with("passwd:") {
        return Err(OemError::Layout(
            "passwd is not written as `passwd: <value>` on one line".into(),
        ));
    }
    let rendered = match old_tok.as_bytes()[0] {
        b'"' => format!("\"{new_hash}\""),
        b'\'' => format!("'{new_hash}'"),
        _ => new_hash.to_string(),
    };
    let new = format!("{}{}{}", &text[..start], rendered, &text[end..]);
    verify(
        text,
        &new,
        stage,
        index,
        &["users", user, "passwd"],
        serde_json::Value::String(new_hash.to_string()),
    )?;
    Ok(new)
}

/// `stages.initramfs[0].users.rancher.passwd`, where Harvester's installer puts it.
pub fn set_rancher_passwd(text: &str, new_hash: &str) -> Result<String, OemError> {
    set_user_passwd(text, "initramfs", 0, "rancher", new_hash)
}

/// Whether a string can be written as a YAML plain scalar unchanged.
fn plain_safe(s: &str) -> bool {
    let Some(first) = s.chars().next() else {
        return false;
    };
    !s.starts_with(char::is_whitespace)
        && !s.ends_with(char::is_whitespace)
        && !"-?:,[]{}#&*!|>'\"%@`".contains(first)
        && !s.contains(": ")
        && !s.contains(" #")
        && !s.ends_with(':')
        && !s.chars().any(|c| c.is_control())
        && !matches!(
            s.to_ascii_lowercase().as_str(),
            "null" | "~" | "true" | "false" | "yes" | "no" | "on" | "off"
        )
        && s.parse::<f64>().is_err()
}

fn render_scalar(s: &str) -> String {
    if plain_safe(s) {
        s.to_string()
    } else {
        serde_json::Value::String(s.to_string()).to_string()
    }
}

fn render_flow(items: &[String]) -> String {
    let parts: Vec<String> = items
        .iter()
        .map(|s| serde_json::Value::String(s.clone()).to_string())
        .collect();
    format!("[{}]", parts.join(", "))
}

/// End (exclusive) of a flow sequence starting at `start` (`[`), on the same line.
fn flow_end(text: &str, start: usize) -> Option<usize> {
    let mut depth = 0i32;
    let mut quote: Option<char> = None;
    let mut prev = '\0';
    for (i, c) in text[start..].char_indices() {
        if c == '\n' {
            return None;
        }
        match quote {
            Some('"') if c == '"' && prev != '\\' => quote = None,
            Some('\'') if c == '\'' => quote = None,
            Some(_) => {}
            None => match c {
                '"' | '\'' => quote = Some(c),
                '[' => depth += 1,
                ']' => {
                    depth -= 1;
                    if depth == 0 {
                        return Some(start + i + 1);
                    }
                }
                _ => {}
            },
        }
        prev = c;
    }
    None
}

/// Every key entry written is one non-empty line.
fn check_key_entries(keys: &[String]) -> Result<(), OemError> {
    if keys
        .iter()
        .any(|k| k.contains(['\n', '\r']) || k.trim().is_empty())
    {
        return Err(OemError::Value(
            "a key entry is empty or has a line break".into(),
        ));
    }
    Ok(())
}

/// Replaces `stages.<stage>[index].authorized_keys.<user>` with `keys`.
///
/// Block lists: lines of entries that stay are kept byte for byte (order
/// included), lines of removed entries are deleted, new entries are added
/// after the last entry with the same indentation; comments stay where they
/// are. Flow lists (`[a, b]`) and `~` are rewritten in place as a flow list.
/// The resulting list is: kept entries in file order, then new ones in the
/// order given.
pub fn set_authorized_keys(
    text: &str,
    stage: &str,
    index: usize,
    user: &str,
    keys: &[String],
) -> Result<String, OemError> {
    check_key_entries(keys)?;
    check_tabs(text)?;
    let doc: LocDoc = serde_saphyr::from_str(text).map_err(|e| yaml_err(&e))?;
    let st = loc_stage(&doc, stage, index)?;
    let (key, list) = st
        .authorized_keys
        .as_ref()
        .and_then(|m| m.iter().find(|(k, _)| k.value == user))
        .ok_or_else(|| {
            OemError::Layout(format!(
                "no authorized_keys.{user} in stages.{stage}[{index}]: add it by hand or use a CloudInit resource"
            ))
        })?;
    let (kstart, kend) = byte_range(&key.referenced)
        .ok_or_else(|| OemError::Layout("the parser gave no position for the key".into()))?;
    replace_key_list(
        text,
        stage,
        index,
        &["authorized_keys", user],
        (kstart, kend),
        list,
        keys,
    )
}

/// Replaces the key list `list` (whose key is at `kstart..kend`) with
/// `keys`, as [`set_authorized_keys`] describes; `path` is where the list
/// is under the stage, for the check of the result.
fn replace_key_list(
    text: &str,
    stage: &str,
    index: usize,
    path: &[&str],
    (kstart, kend): (usize, usize),
    list: &LocKeyList,
    keys: &[String],
) -> Result<String, OemError> {
    // Which existing entries stay: match each wanted key to an unused existing one.
    let existing: Vec<&Spanned<String>> = list.value.iter().flatten().collect();
    let mut used = vec![false; existing.len()];
    let mut added: Vec<&String> = Vec::new();
    for k in keys {
        match existing
            .iter()
            .enumerate()
            .find(|(i, e)| !used[*i] && e.value.trim() == k.trim())
        {
            Some((i, _)) => used[i] = true,
            None => added.push(k),
        }
    }
    let final_list: Vec<String> = existing
        .iter()
        .zip(&used)
        .filter(|(_, u)| **u)
        .map(|(e, _)| e.value.clone())
        .chain(added.iter().map(|s| (*s).clone()))
        .collect();

    let (vstart, vend) = byte_range(&list.referenced).unwrap_or((kend, kend));
    let value_tok = text.get(vstart..vend).unwrap_or("");
    let is_flow = text.get(vstart..vstart + 1) == Some("[");
    let is_null_tok = value_tok == "~" || value_tok.eq_ignore_ascii_case("null");
    let new = if is_flow || is_null_tok {
        // Flow list or explicit null: rewrite in place as a flow list.
        let end = if is_flow {
            flow_end(text, vstart).ok_or_else(|| {
                OemError::Layout("the flow list spans several lines; edit it by hand".into())
            })?
        } else {
            vend
        };
        format!(
            "{}{}{}",
            &text[..vstart],
            render_flow(&final_list),
            &text[end..]
        )
    } else if existing.is_empty() {
        // `rancher:` with nothing after it: add a block list below the key.
        if final_list.is_empty() {
            return Ok(text.to_string());
        }
        let (kline_start, kline_end) = line_bounds(text, kstart);
        let crlf = text[..kline_end].ends_with('\r');
        let nl = if crlf { "\r\n" } else { "\n" };
        let indent = " ".repeat(kstart - kline_start + 2);
        let mut ins = String::new();
        for k in &final_list {
            ins.push_str(nl);
            ins.push_str(&indent);
            ins.push_str("- ");
            ins.push_str(&render_scalar(k));
        }
        // Insert before the key line's own line break.
        let at = if crlf { kline_end - 1 } else { kline_end };
        format!("{}{}{}", &text[..at], ins, &text[at..])
    } else {
        edit_block_list(text, &existing, &used, &added, kend, final_list.is_empty())?
    };
    verify(
        text,
        &new,
        stage,
        index,
        path,
        serde_json::Value::Array(
            final_list
                .into_iter()
                .map(serde_json::Value::String)
                .collect(),
        ),
    )?;
    Ok(new)
}

/// Block list edit: keep or drop entry lines, add new entries after the last one.
fn edit_block_list(
    text: &str,
    existing: &[&Spanned<String>],
    used: &[bool],
    added: &[&String],
    key_end: usize,
    emptied: bool,
) -> Result<String, OemError> {
    // Lines with their terminators, so untouched lines are copied byte for byte.
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let mut starts = Vec::with_capacity(lines.len());
    let mut acc = 0;
    for l in &lines {
        starts.push(acc);
        acc += l.len();
    }
    let line_of = |pos: usize| starts.partition_point(|&s| s <= pos) - 1;
    let mut item_line = Vec::new();
    let mut prefix = String::new();
    for e in existing {
        let (s, en) = byte_range(&e.referenced)
            .ok_or_else(|| OemError::Layout("the parser gave no position for an entry".into()))?;
        let li = line_of(s);
        let (ls, le) = line_bounds(text, s);
        let before = &text[ls..s];
        if en > le || before.trim() != "-" {
            return Err(OemError::Layout(
                "an entry is not written as `- <key>` on its own line; edit it by hand".into(),
            ));
        }
        let after = text[en..le].trim();
        if !after.is_empty() && !after.starts_with('#') {
            return Err(OemError::Layout("unexpected text after an entry".into()));
        }
        if item_line.contains(&li) {
            return Err(OemError::Layout(
                "two entries on one line; edit it by hand".into(),
            ));
        }
        item_line.push(li);
        prefix = before.to_string();
    }
    let last = *item_line
        .last()
        .expect("caller checked the list is not empty");
    let nl = if lines[last].ends_with("\r\n") {
        "\r\n"
    } else {
        "\n"
    };
    let mut out = String::with_capacity(text.len() + 128);
    for (li, line) in lines.iter().enumerate() {
        match item_line.iter().position(|&x| x == li) {
            Some(i) if !used[i] => {}
            _ => out.push_str(line),
        }
        if li == last && !added.is_empty() {
            if !out.is_empty() && !out.ends_with('\n') {
                out.push_str(nl);
            }
            for k in added {
                out.push_str(&prefix);
                out.push_str(&render_scalar(k));
                out.push_str(nl);
            }
        }
    }
    if emptied {
        // An emptied block list would read as null; write `[]`.
        let colon = out[key_end..]
            .find(':')
            .map(|i| key_end + i + 1)
            .ok_or_else(|| OemError::Layout("no `:` after the key".into()))?;
        out.insert_str(colon, " []");
    }
    Ok(out)
}

/// Replaces `stages.<stage>[index].users.<user>.ssh_authorized_keys` with
/// `keys`, the same way as [`set_authorized_keys`] (older installers put
/// `rancher`'s keys there).
pub fn set_user_ssh_authorized_keys(
    text: &str,
    stage: &str,
    index: usize,
    user: &str,
    keys: &[String],
) -> Result<String, OemError> {
    check_key_entries(keys)?;
    check_tabs(text)?;
    let doc: LocDoc = serde_saphyr::from_str(text).map_err(|e| yaml_err(&e))?;
    let st = loc_stage(&doc, stage, index)?;
    let list = st
        .users
        .as_ref()
        .and_then(|m| m.iter().find(|(k, _)| k.value == user))
        .and_then(|(_, u)| u.as_ref())
        .and_then(|u| u.ssh_authorized_keys.as_ref())
        .ok_or_else(|| {
            OemError::Layout(format!(
                "no users.{user}.ssh_authorized_keys in stages.{stage}[{index}]"
            ))
        })?;
    // The parser gives no span for a field name here: the name is the last
    // `ssh_authorized_keys` before the value.
    let (vstart, _) = byte_range(&list.referenced)
        .ok_or_else(|| OemError::Layout("the parser gave no position for the list".into()))?;
    let kstart = text[..vstart]
        .rfind("ssh_authorized_keys")
        .ok_or_else(|| OemError::Layout("no `ssh_authorized_keys:` before the list".into()))?;
    let kend = kstart + "ssh_authorized_keys".len();
    replace_key_list(
        text,
        stage,
        index,
        &["users", user, "ssh_authorized_keys"],
        (kstart, kend),
        list,
        keys,
    )
}

/// `stages.network[0].authorized_keys.rancher`, where Harvester's installer puts it.
pub fn set_rancher_authorized_keys(text: &str, keys: &[String]) -> Result<String, OemError> {
    set_authorized_keys(text, "network", 0, "rancher", keys)
}

/// Contents of a CloudInit resource that persists `rancher`'s SSH keys
/// (appended at every boot in the `network` stage, as the installer's own).
pub fn render_cloudinit_keys(keys: &[String]) -> Result<String, OemError> {
    let text = "stages:\n  network:\n    - name: rancher SSH keys (harvcred)\n      authorized_keys:\n        rancher: []\n";
    set_rancher_authorized_keys(text, keys)
}

/// Contents of a CloudInit resource that persists `rancher`'s password
/// (Harvester docs: `99_passwd.yaml`, stage `initramfs.after`).
pub fn render_cloudinit_passwd(new_hash: &str) -> Result<String, OemError> {
    if !is_crypt_hash(new_hash) {
        return Err(OemError::Value(
            "only a crypt hash ($6$…) is written to a persisted config, never clear text".into(),
        ));
    }
    Ok(format!(
        "stages:\n  initramfs.after:\n    - users:\n        rancher:\n          passwd: \"{new_hash}\"\n"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::creds::password::{PersistedPassword, classify_persisted};

    const HASH: &str = "$6$Ab3dEf6hIj9kLm2o$L0oIy1cBLgRbZ3i5F5G0fJX2kPqfmY8rYv2d1zVQ0gk7H4q3oQ9C5c0aK2rT8dHnWm1sV7bX3jE6uR9pL4tNq1";
    const NEW: &str = "$6$QwErTyUiOpAsDfGh$9sD8fG7hJ6kL5zX4cV3bN2mQ1wE0rT9yU8iO7pA6sD5fG4hJ3kL2zX1cV0bN9mQ8wE7rT6yU5iO4pA3sD2fG1h";
    const KEY_A: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKk0b6w3eN9rJ1dL0vT8hP2qX5yZ7mA4sC6uF1gH3jK5 admin@laptop";
    const KEY_B: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB3dF5hJ7kL9zX1cV3bN5mQ7wE9rT1yU3iO5pA7sD9fG ci@build";
    const KEY_C: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIN7mQ9wE1rT3yU5iO7pA9sD1fG3hJ5kL7zX9cV1bN3mQ new@admin";

    /// Shaped like the installer's output (Go yaml: lists at the key's indentation).
    fn custom_yaml() -> String {
        format!(
            r#"# Harvester node configuration.
# Back up to /oem/install/ before editing.
name: Harvester Configuration
stages:
  initramfs:
  - commands:
    - rm -f /etc/sysconfig/network/ifroute-mgmt-br
    files:
    - path: /etc/rancher/rancherd/config.yaml
      permissions: 384
      owner: 0
      group: 0
      content: |
        role: cluster-init
        token: "MyShortToken-123"
        kubernetesVersion: v1.27.10+rke2r1
        labels:
         - harvesterhci.io/managed=true
      encoding: ""
      ownerstring: ""
    - path: /etc/motd
      content: "hello\tworld"
    users:
      rancher:
        passwd: {HASH}   # set by the installer
    environment:
      http_proxy: http://proxyuser:proxypass@proxy.corp:3128
      https_proxy: http://proxy.corp:3128
      no_proxy: localhost,127.0.0.1,192.168.0.0/24
    hostname: node1
  network:
  - authorized_keys:
      rancher:
      - {KEY_A}
      # the CI key
      - "{KEY_B}"
    name: Setup SSH keys
  boot:
  - name: unknown stage keys are fine
    sysctl:
      vm.max_map_count: "262144"
"#
        )
    }

    /// Lines of `new` that differ from `old`, as (old, new) pairs, aligned by a
    /// simple LCS so inserted and removed lines show up as such.
    fn changed_lines(old: &str, new: &str) -> (Vec<String>, Vec<String>) {
        let a: Vec<&str> = old.split_inclusive('\n').collect();
        let b: Vec<&str> = new.split_inclusive('\n').collect();
        let mut dp = vec![vec![0usize; b.len() + 1]; a.len() + 1];
        for i in (0..a.len()).rev() {
            for j in (0..b.len()).rev() {
                dp[i][j] = if a[i] == b[j] {
                    dp[i + 1][j + 1] + 1
                } else {
                    dp[i + 1][j].max(dp[i][j + 1])
                };
            }
        }
        let (mut i, mut j) = (0, 0);
        let (mut removed, mut inserted) = (Vec::new(), Vec::new());
        while i < a.len() && j < b.len() {
            if a[i] == b[j] {
                i += 1;
                j += 1;
            } else if dp[i + 1][j] >= dp[i][j + 1] {
                removed.push(a[i].to_string());
                i += 1;
            } else {
                inserted.push(b[j].to_string());
                j += 1;
            }
        }
        removed.extend(a[i..].iter().map(|s| s.to_string()));
        inserted.extend(b[j..].iter().map(|s| s.to_string()));
        (removed, inserted)
    }

    #[test]
    fn reads_the_installer_layout() {
        let c = parse_oem(&custom_yaml()).unwrap();
        assert!(!c.cloud_config);
        let pw = c.rancher_passwords();
        assert_eq!(pw.len(), 1);
        assert_eq!(pw[0].location, "stages.initramfs[0].users.rancher.passwd");
        assert_eq!(pw[0].value.expose_secret(), HASH);
        assert!(matches!(
            classify_persisted(pw[0].value.expose_secret()),
            PersistedPassword::Hashed(_)
        ));
        let keys = c.rancher_keys();
        assert_eq!(keys.entries.len(), 2);
        assert_eq!(keys.entries[1].comment, "ci@build");
        assert_eq!(
            c.authorized_keys[0].location,
            "stages.network[0].authorized_keys.rancher"
        );
        let (loc, tok) = c.rancherd_token.as_ref().unwrap();
        assert_eq!(loc, "stages.initramfs[0].files[0].content");
        assert_eq!(
            tok.as_ref().unwrap().short_hash(),
            Token::parse("MyShortToken-123").unwrap().short_hash()
        );
        assert_eq!(c.files.len(), 2);
        assert_eq!(c.files[1].path, "/etc/motd");
        let env = c.proxy_env();
        assert_eq!(
            env.http_proxy.unwrap().masked(),
            "http://proxyuser:***@proxy.corp:3128"
        );
        assert_eq!(
            env.no_proxy.as_deref(),
            Some("localhost,127.0.0.1,192.168.0.0/24")
        );
        assert!(
            c.stages
                .iter()
                .any(|s| s == "stages.boot[0] (unknown stage keys are fine)")
        );
        // Nothing secret in Debug.
        let dbg = format!("{c:?}");
        for secret in [HASH, "proxypass", "MyShortToken-123"] {
            assert!(!dbg.contains(secret), "{secret} in {dbg}");
        }
    }

    #[test]
    fn non_ascii_text_before_the_edit() {
        let old = custom_yaml().replace(
            "# Back up to /oem/install/ before editing.",
            "# Sicherung: /oem/install/ — Überprüfung ✓ 日本語",
        );
        let new = set_rancher_passwd(&old, NEW).unwrap();
        assert_eq!(new, old.replace(HASH, NEW));
        let new = set_rancher_authorized_keys(&old, &[KEY_B.to_string()]).unwrap();
        assert!(!new.contains(KEY_A));
        assert!(new.contains("Überprüfung ✓ 日本語"));
    }

    /// Cut or mangled files give errors, never panics (remote text is untrusted).
    #[test]
    fn mangled_input_never_panics() {
        let text = custom_yaml();
        let mut cuts: Vec<usize> = text.char_indices().map(|(i, _)| i).step_by(7).collect();
        cuts.push(text.len());
        for cut in cuts {
            let t = &text[..cut];
            let _ = parse_oem(t);
            let _ = set_rancher_passwd(t, NEW);
            let _ = set_rancher_authorized_keys(t, &[KEY_C.to_string()]);
            let swapped = t.replace("- ", "-").replace(": ", ":");
            let _ = parse_oem(&swapped);
            let _ = set_rancher_authorized_keys(&swapped, &[]);
        }
    }

    #[test]
    fn several_entries_of_a_stage() {
        let text = format!(
            "stages:\n  initramfs:\n  - users:\n      rancher:\n        passwd: {HASH}\n  # second entry\n  - name: later\n    users:\n      rancher:\n        passwd: plain-text-pw\n"
        );
        let c = parse_oem(&text).unwrap();
        let pw = c.rancher_passwords();
        assert_eq!(pw.len(), 2);
        assert_eq!(pw[1].location, "stages.initramfs[1].users.rancher.passwd");
        assert_eq!(
            classify_persisted(pw[1].value.expose_secret()),
            PersistedPassword::ClearText
        );
        // Editing index 1 leaves index 0 alone.
        let new = set_user_passwd(&text, "initramfs", 1, "rancher", NEW).unwrap();
        assert_eq!(new, text.replace("plain-text-pw", NEW));
    }

    #[test]
    fn reads_cloudinit_and_cloud_config_forms() {
        let c = parse_oem(&render_cloudinit_passwd(NEW).unwrap()).unwrap();
        assert_eq!(
            c.rancher_passwords()[0].location,
            "stages.initramfs.after[0].users.rancher.passwd"
        );
        assert_eq!(c.rancher_passwords()[0].value.expose_secret(), NEW);

        let clear = "stages:\n  initramfs.after:\n    - users:\n        rancher:\n          passwd: 12345678\n";
        let c = parse_oem(clear).unwrap();
        assert_eq!(
            classify_persisted(c.rancher_passwords()[0].value.expose_secret()),
            PersistedPassword::ClearText
        );

        let cc = format!(
            "#cloud-config\n# comment\nusers:\n  - name: rancher\n    passwd: {HASH}\n    ssh_authorized_keys:\n      - {KEY_A}\nssh_authorized_keys:\n  - {KEY_B}\nunknown_key: [1, 2]\n"
        );
        let c = parse_oem(&cc).unwrap();
        assert!(c.cloud_config);
        assert_eq!(c.rancher_passwords()[0].location, "users[0].passwd");
        assert_eq!(c.rancher_keys().entries.len(), 2);

        let b64 = format!(
            "stages:\n  initramfs:\n  - files:\n    - path: /etc/rancher/rancherd/config.yaml\n      encoding: b64\n      content: {}\n",
            base64::engine::general_purpose::STANDARD.encode("token: sekret\n")
        );
        let c = parse_oem(&b64).unwrap();
        assert!(
            c.rancherd_token
                .unwrap()
                .1
                .unwrap()
                .agrees_with(&Token::parse("sekret").unwrap())
        );
        assert!(parse_oem("").unwrap().passwords.is_empty());
        assert!(parse_oem("# just a comment\n").unwrap().stages.is_empty());
    }

    #[test]
    fn tabs_in_indentation_are_refused() {
        // harvester#9519: a tab-indented comment; our parser would accept it, yip's does not.
        let bad = custom_yaml().replace("# the CI key", "\t# the CI key");
        let err = parse_oem(&bad).unwrap_err();
        let line = bad
            .lines()
            .position(|l| l.contains("\t# the CI key"))
            .unwrap()
            + 1;
        assert_eq!(err, OemError::Tab(line));
        assert!(err.to_string().contains("tab character in indentation"));
        assert!(parse_oem("a:\n\tb: 1\n").is_err());
        // A tab inside a block scalar's text is content, not indentation.
        let ok = "stages:\n  initramfs:\n  - commands:\n    - |\n      if true; then\n      \techo hi\n      fi\n";
        parse_oem(ok).unwrap();
        // And a set_* edit refuses the file too.
        assert_eq!(
            set_rancher_passwd(&bad, NEW).unwrap_err(),
            OemError::Tab(line)
        );
    }

    #[test]
    fn syntax_errors_do_not_quote_the_file() {
        let err = parse_oem("stages:\n  initramfs:\n  - users: {rancher: {passwd: \"hunter2\"\n")
            .unwrap_err();
        assert!(matches!(err, OemError::Yaml(_)));
        assert!(!err.to_string().contains("hunter2"), "{err}");
    }

    #[test]
    fn password_edit_changes_only_the_value() {
        let old = custom_yaml();
        let new = set_rancher_passwd(&old, NEW).unwrap();
        let (removed, inserted) = changed_lines(&old, &new);
        assert_eq!(
            removed,
            vec![format!("        passwd: {HASH}   # set by the installer\n")]
        );
        assert_eq!(
            inserted,
            vec![format!("        passwd: {NEW}   # set by the installer\n")]
        );
        assert_eq!(
            parse_oem(&new).unwrap().rancher_passwords()[0]
                .value
                .expose_secret(),
            NEW
        );
        // Quoting style is kept.
        for (q, want) in [("'", format!("'{NEW}'")), ("\"", format!("\"{NEW}\""))] {
            let quoted = old.replace(&format!("passwd: {HASH}"), &format!("passwd: {q}{HASH}{q}"));
            let new = set_rancher_passwd(&quoted, NEW).unwrap();
            assert!(
                new.contains(&format!("passwd: {want}   # set by the installer\n")),
                "{new}"
            );
            assert_eq!(new.len(), quoted.len() - HASH.len() + NEW.len());
        }
        // CloudInit contents (initramfs.after) are edited the same way.
        let ci = render_cloudinit_passwd(HASH).unwrap();
        let new = set_user_passwd(&ci, "initramfs.after", 0, "rancher", NEW).unwrap();
        assert_eq!(new, render_cloudinit_passwd(NEW).unwrap());
    }

    #[test]
    fn password_edit_refuses_guesses() {
        let old = custom_yaml();
        assert!(matches!(
            set_rancher_passwd(&old, "clear text"),
            Err(OemError::Value(_))
        ));
        assert!(matches!(
            set_rancher_passwd(&old, "$6$a b"),
            Err(OemError::Value(_))
        ));
        let no_pw = old.replace(
            &format!("        passwd: {HASH}   # set by the installer\n"),
            "        homedir: /home/rancher\n",
        );
        assert!(
            matches!(set_rancher_passwd(&no_pw, NEW), Err(OemError::Layout(m)) if m.contains("has no passwd"))
        );
        let no_user = "stages:\n  initramfs:\n  - hostname: x\n";
        assert!(matches!(
            set_rancher_passwd(no_user, NEW),
            Err(OemError::Layout(_))
        ));
        let block = old.replace(
            &format!("passwd: {HASH}   # set by the installer"),
            &format!("passwd: |-\n          {HASH}"),
        );
        assert!(matches!(
            set_rancher_passwd(&block, NEW),
            Err(OemError::Layout(_))
        ));
        let flow = "stages:\n  initramfs:\n  - users: {rancher: {passwd: x}}\n";
        // A one-line flow mapping is fine: only the scalar changes, and the re-parse proves it.
        assert_eq!(
            set_rancher_passwd(flow, NEW).unwrap(),
            flow.replace("passwd: x", &format!("passwd: {NEW}"))
        );
        let anchored = format!(
            "x: &pw {HASH}\nstages:\n  initramfs:\n  - users:\n      rancher:\n        passwd: *pw\n"
        );
        assert!(set_rancher_passwd(&anchored, NEW).is_err());
    }

    #[test]
    fn key_edit_keeps_other_lines_and_comments() {
        let old = custom_yaml();
        // Drop B, keep A, add C.
        let new =
            set_rancher_authorized_keys(&old, &[KEY_A.to_string(), KEY_C.to_string()]).unwrap();
        let (removed, inserted) = changed_lines(&old, &new);
        assert_eq!(removed, vec![format!("      - \"{KEY_B}\"\n")]);
        assert_eq!(inserted, vec![format!("      - {KEY_C}\n")]);
        assert!(new.contains("      # the CI key\n"));
        let keys = parse_oem(&new).unwrap().rancher_keys();
        assert_eq!(
            keys.entries
                .iter()
                .map(|k| k.comment.as_str())
                .collect::<Vec<_>>(),
            ["admin@laptop", "new@admin"]
        );

        // Same list: nothing changes at all.
        let same =
            set_rancher_authorized_keys(&old, &[KEY_A.to_string(), KEY_B.to_string()]).unwrap();
        assert_eq!(same, old);

        // All removed: an explicit empty list.
        let empty = set_rancher_authorized_keys(&old, &[]).unwrap();
        assert!(
            empty.contains("      rancher: []\n      # the CI key\n"),
            "{empty}"
        );
        assert!(parse_oem(&empty).unwrap().rancher_keys().entries.is_empty());

        // A key with options needing quotes is written quoted and reads back the same.
        let odd = format!("command=\"echo a: b\",no-pty {KEY_C}");
        let new = set_rancher_authorized_keys(&old, &[KEY_A.to_string(), odd.clone()]).unwrap();
        let back = parse_oem(&new).unwrap();
        assert_eq!(back.authorized_keys[0].keys[1], odd);
    }

    #[test]
    fn key_edit_other_layouts() {
        let flow = "stages:\n  network:\n  - authorized_keys:\n      rancher: [] # none yet\n      bob: [x]\n";
        let new = set_rancher_authorized_keys(flow, &[KEY_A.to_string()]).unwrap();
        assert_eq!(
            new,
            format!(
                "stages:\n  network:\n  - authorized_keys:\n      rancher: [\"{KEY_A}\"] # none yet\n      bob: [x]\n"
            )
        );
        let empty = "stages:\n  network:\n  - authorized_keys:\n      rancher:\n    name: keys\n";
        let new =
            set_rancher_authorized_keys(empty, &[KEY_A.to_string(), KEY_B.to_string()]).unwrap();
        assert_eq!(
            new,
            format!(
                "stages:\n  network:\n  - authorized_keys:\n      rancher:\n        - {KEY_A}\n        - {KEY_B}\n    name: keys\n"
            )
        );
        let tilde = "stages:\n  network:\n  - authorized_keys:\n      rancher: ~\n";
        let new = set_rancher_authorized_keys(tilde, &[KEY_A.to_string()]).unwrap();
        assert!(new.contains(&format!("rancher: [\"{KEY_A}\"]\n")));
        // Indented lists (not Go style) and CRLF line ends.
        let crlf = format!(
            "stages:\r\n  network:\r\n    - authorized_keys:\r\n        rancher:\r\n          - {KEY_A}\r\n"
        );
        let new =
            set_rancher_authorized_keys(&crlf, &[KEY_A.to_string(), KEY_B.to_string()]).unwrap();
        assert_eq!(new, format!("{crlf}          - {KEY_B}\r\n"));
        // Last line without a newline.
        let eof =
            format!("stages:\n  network:\n  - authorized_keys:\n      rancher:\n      - {KEY_A}");
        let new =
            set_rancher_authorized_keys(&eof, &[KEY_A.to_string(), KEY_B.to_string()]).unwrap();
        assert_eq!(new, format!("{eof}\n      - {KEY_B}\n"));
        // Missing places are errors, not guesses.
        assert!(matches!(
            set_rancher_authorized_keys("stages:\n  initramfs: []\n", &[]),
            Err(OemError::Layout(_))
        ));
        let multi_flow =
            "stages:\n  network:\n  - authorized_keys:\n      rancher: [a,\n        b]\n";
        assert!(matches!(
            set_rancher_authorized_keys(multi_flow, &[]),
            Err(OemError::Layout(_))
        ));
        assert!(matches!(
            set_rancher_authorized_keys(flow, &["a\nb".into()]),
            Err(OemError::Value(_))
        ));
    }

    #[test]
    fn user_key_list_edit_keeps_every_other_byte() {
        let text = format!(
            "stages:\n  initramfs:\n  - users:\n      rancher:\n        passwd: x # keep\n        ssh_authorized_keys:\n        - {KEY_A}\n        - {KEY_B}\n    authorized_keys:\n      rancher:\n      - {KEY_A}\n"
        );
        let new =
            set_user_ssh_authorized_keys(&text, "initramfs", 0, "rancher", &[KEY_B.to_string()])
                .unwrap();
        assert_eq!(new, text.replace(&format!("        - {KEY_A}\n"), ""));
        let emptied = set_user_ssh_authorized_keys(&text, "initramfs", 0, "rancher", &[]).unwrap();
        assert!(emptied.contains("ssh_authorized_keys: []\n"), "{emptied}");
        assert!(emptied.contains(&format!("      rancher:\n      - {KEY_A}\n")));
        let c = parse_oem(&emptied).unwrap();
        assert_eq!(c.rancher_keys().entries.len(), 1);
        assert!(set_user_ssh_authorized_keys(&text, "network", 0, "rancher", &[]).is_err());
    }

    #[test]
    fn cloudinit_keys_render_as_a_network_stage_list() {
        let text =
            render_cloudinit_keys(&[KEY_A.to_string(), "github:octocat".to_string()]).unwrap();
        let c = parse_oem(&text).unwrap();
        assert_eq!(
            c.authorized_keys[0].location,
            "stages.network[0].authorized_keys.rancher"
        );
        assert_eq!(c.authorized_keys[0].keys, [KEY_A, "github:octocat"]);
    }
}
