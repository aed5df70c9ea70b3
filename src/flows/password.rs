//! Changing the `rancher` password on chosen nodes, now and after every
//! reboot, as a change on the walkthrough engine. Pure: each node's state
//! today, the checks of the new password, and per node what is written
//! where: the runtime (`chpasswd -e`, the hash on stdin), then the persisted
//! source that wins at boot (a per-node CloudInit resource where the cluster
//! serves it, else a byte-preserving edit of the winning `/oem` file), plus
//! every clear-text copy in `/oem` replaced by the hash. The I/O is
//! `cli::password::PasswordIo`.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use secrecy::SecretString;
use zeroize::Zeroizing;

use super::Severity;
use super::engine::{Change, Planned, Problem};
use crate::creds::oem::{self, PasswdEntry};
use crate::creds::password::{
    self, PersistMatch, PersistedPassword, Sensitive, ShadowEntry, classify_persisted,
};
use crate::node::write::{Backup, FileChange, Version};

/// The audit action of a password change.
pub const ACTION: &str = "password.set";
/// The user whose password this changes.
pub const USER: &str = "rancher";
/// The stage harvcred's CloudInit uses unless a later one sets the password
/// (Harvester's docs use it for `99_passwd.yaml`).
pub const DEFAULT_STAGE: &str = "initramfs.after";

/// The CloudInit resource harvcred keeps for one node.
pub fn cloudinit_name(node: &str) -> String {
    format!("harvcred-rancher-password-{node}")
}

/// Its file in `/oem`: `99_zz_` sorts after `90_custom.yaml`, `99_custom.yaml`
/// and `99_passwd.yaml`, so within a stage yip applies it last.
pub fn cloudinit_filename(node: &str) -> String {
    format!("99_zz_harvcred_rancher_password_{node}.yaml")
}

/// The new password, typed twice. `Debug` masks both.
#[derive(Clone, PartialEq, Eq)]
pub struct Draft {
    pub password: Sensitive,
    pub again: Sensitive,
}

impl Default for Draft {
    fn default() -> Self {
        Draft {
            password: Sensitive::new(""),
            again: Sensitive::new(""),
        }
    }
}

impl fmt::Debug for Draft {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Draft { password: <redacted>, again: <redacted> }")
    }
}

/// A yip file of a node's `/oem`, as read.
#[derive(Clone)]
pub struct OemFile {
    pub text: Zeroizing<String>,
    pub version: Version,
}

impl fmt::Debug for OemFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "OemFile({} bytes)", self.text.len())
    }
}

/// What one node has today.
#[derive(Debug, Clone, Default)]
pub struct NodeFacts {
    /// rancher's `/etc/shadow` entry.
    pub runtime: Option<ShadowEntry>,
    /// Every yip file in `/oem` (full path).
    pub oem: BTreeMap<String, OemFile>,
    /// The node's `kubernetes.io/hostname` label (CloudInit selects on it).
    pub hostname_label: Option<String>,
    /// `/oem/harvester.config`, the install config (its `os.password` may be clear text).
    pub install_config: Option<OemFile>,
}

/// What is read before editing.
#[derive(Debug, Clone, Default)]
pub struct Facts {
    pub nodes: BTreeMap<String, NodeFacts>,
    /// The cluster serves `cloudinits.node.harvesterhci.io` (Harvester v1.3+).
    pub cloudinit_served: bool,
}

/// harvcred's CloudInit for one node.
#[derive(Clone)]
pub struct CloudInitWork {
    pub name: String,
    pub filename: String,
    /// The node's hostname label value.
    pub hostname: String,
    pub contents: Zeroizing<String>,
}

/// What is done on one node. Holds the password (for the PAM check) and its
/// hash; `Debug` shows neither.
#[derive(Clone)]
pub struct NodeWork {
    pub password: Sensitive,
    pub hash: Sensitive,
    pub cloudinit: Option<CloudInitWork>,
    pub oem_edits: Vec<Arc<FileChange>>,
}

impl fmt::Debug for NodeWork {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NodeWork")
            .field("cloudinit", &self.cloudinit.as_ref().map(|c| &c.name))
            .field(
                "oem_edits",
                &self.oem_edits.iter().map(|e| &e.path).collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

/// A persisted rancher password and its file.
#[derive(Debug, Clone)]
pub struct Persisted {
    pub file: String,
    pub entry: PasswdEntry,
}

impl Persisted {
    fn key(&self) -> ((usize, usize), &str, usize) {
        oem::boot_order(&self.file, &self.entry)
    }
    pub fn label(&self) -> String {
        format!("{} {}", self.file, self.entry.location)
    }
}

/// Every rancher password in `/oem`, in the order yip applies them at boot
/// (the last wins), and the files yip could not read.
pub fn persisted(oem_files: &BTreeMap<String, OemFile>) -> (Vec<Persisted>, Vec<String>) {
    let mut out = Vec::new();
    let mut broken = Vec::new();
    for (file, f) in oem_files {
        match oem::parse_oem(&f.text) {
            Ok(cfg) => out.extend(cfg.rancher_passwords().into_iter().map(|p| Persisted {
                file: file.clone(),
                entry: p.clone(),
            })),
            Err(e) => broken.push(format!("{file}: {e}")),
        }
    }
    out.sort_by(|a, b| a.key().cmp(&b.key()));
    (out, broken)
}

/// Today's state of one node, for the preview and `password check`.
pub fn describe_today(nf: &NodeFacts) -> Vec<String> {
    let mut lines = Vec::new();
    match &nf.runtime {
        Some(e) => {
            let scheme = match &e.status {
                password::PasswordStatus::Set(s) => s.name(),
                password::PasswordStatus::Locked(_) => "locked".into(),
                password::PasswordStatus::Empty => "empty".into(),
            };
            let when = e
                .last_change
                .map_or("unknown".to_string(), |d| d.to_string());
            lines.push(format!(
                "today: /etc/shadow holds {scheme}, last changed {when}"
            ));
        }
        None => lines.push("today: rancher's /etc/shadow entry could not be read".into()),
    }
    let (all, broken) = persisted(&nf.oem);
    for b in broken {
        lines.push(format!("today: {b}"));
    }
    match all.last() {
        None => lines.push("today: no rancher password persisted in /oem".into()),
        Some(w) => {
            let agree = nf.runtime.as_ref().map_or("cannot tell", |rt| {
                match password::persisted_matches_runtime(&w.entry.value, rt) {
                    PersistMatch::Same => "agrees with the runtime",
                    PersistMatch::Differs => {
                        "DIFFERS from the runtime: the password changes at the next reboot"
                    }
                    PersistMatch::Unverifiable(_) | PersistMatch::NotPersisted => "cannot tell",
                }
            });
            lines.push(format!("today: wins at boot: {}; {agree}", w.label()));
        }
    }
    for p in &all {
        if classify_persisted(p.entry.value.expose_secret()) == PersistedPassword::ClearText {
            lines.push(format!(
                "today: CLEAR TEXT in {}: replaced by the hash",
                p.label()
            ));
        }
    }
    if nf
        .install_config
        .as_ref()
        .is_some_and(|ic| install_config_clear_text(&ic.text))
    {
        lines.push(format!(
            "today: CLEAR TEXT in {INSTALL_CONFIG} os.password: replaced by the hash"
        ));
    }
    lines
}

/// The change.
#[derive(Debug, Clone)]
pub struct PasswordChange {
    /// Shortest password accepted (config.toml `password_min_length`).
    pub min_length: usize,
}

impl Default for PasswordChange {
    fn default() -> Self {
        PasswordChange {
            min_length: password::DEFAULT_MIN_LENGTH,
        }
    }
}

impl Change for PasswordChange {
    type Draft = Draft;
    type Facts = Facts;
    type Work = NodeWork;

    fn action(&self) -> &'static str {
        ACTION
    }

    fn validate(&self, draft: &Draft, _: &Facts) -> Vec<Problem> {
        password::check_new_password(
            draft.password.expose_secret(),
            draft.again.expose_secret(),
            USER,
            self.min_length,
        )
        .into_iter()
        .map(|p| Problem {
            field: if p.message.contains("two entries") {
                "again"
            } else {
                "password"
            },
            severity: if p.blocking {
                Severity::Error
            } else {
                Severity::Warning
            },
            message: p.message,
        })
        .collect()
    }

    fn plan(
        &self,
        draft: &Draft,
        facts: &Facts,
        targets: &[String],
    ) -> Result<Vec<Planned<NodeWork>>, String> {
        targets
            .iter()
            .map(|t| {
                let nf = facts
                    .nodes
                    .get(t)
                    .ok_or_else(|| format!("{t} was not read"))?;
                plan_node(t, nf, &draft.password, facts.cloudinit_served)
                    .map_err(|e| format!("{t}: {e}"))
            })
            .collect()
    }

    fn consequences(&self, _: &Facts) -> Vec<String> {
        vec![
            "the new password works at once (console, su, SSH password logins where sshd allows them); open sessions stay".into(),
            "it stays after reboots: the persisted source that yip applies last at boot holds the same hash".into(),
        ]
    }
}

fn plan_node(
    node: &str,
    nf: &NodeFacts,
    new_password: &Sensitive,
    cloudinit_served: bool,
) -> Result<Planned<NodeWork>, String> {
    // A node whose runtime already holds this password (an earlier run that
    // could not persist) keeps its hash: only what is missing is done.
    let in_place = nf.runtime.as_ref().and_then(|rt| {
        let h = rt.hash().expose_secret();
        (h.starts_with("$6$")
            && password::crypt_rounds(h) <= password::MAX_VERIFY_ROUNDS
            && password::verify_password(new_password.expose_secret(), h))
        .then(|| rt.hash().clone())
    });
    let hash = match &in_place {
        Some(h) => h.clone(),
        None => {
            let secret = SecretString::from(new_password.expose_secret().to_string());
            Sensitive::new(password::hash_new_password(&secret).map_err(|e| e.to_string())?)
        }
    };
    let (all, broken) = persisted(&nf.oem);
    if let Some(b) = broken.first() {
        return Err(format!(
            "{b}; yip cannot read it either: fix it by hand first"
        ));
    }
    let our_file = format!("/oem/{}", cloudinit_filename(node));
    let others: Vec<&Persisted> = all.iter().filter(|p| p.file != our_file).collect();
    let mut preview = describe_today(nf);
    preview.push(if in_place.is_some() {
        "runtime: already holds the new password (nothing to do)".into()
    } else {
        "runtime: chpasswd -e (rancher's new $6$ hash on stdin)".into()
    });

    let cloudinit = match (cloudinit_served, &nf.hostname_label) {
        (true, Some(hostname)) => {
            // A later stage than ours that sets the password would win: use it.
            let stage = match others.last() {
                Some(w) if oem::stage_rank(&w.entry.stage) > oem::stage_rank(DEFAULT_STAGE) => {
                    w.entry.stage.clone()
                }
                _ => DEFAULT_STAGE.to_string(),
            };
            let contents = oem::render_cloudinit_passwd(hash.expose_secret())
                .map_err(|e| e.to_string())?
                .replacen(DEFAULT_STAGE, &stage, 1);
            preview.push(format!(
                "persisted: CloudInit {} -> /oem/{} (stage {stage}, matchSelector kubernetes.io/hostname={hostname})",
                cloudinit_name(node),
                cloudinit_filename(node)
            ));
            Some(CloudInitWork {
                name: cloudinit_name(node),
                filename: cloudinit_filename(node),
                hostname: hostname.clone(),
                contents: Zeroizing::new(contents),
            })
        }
        _ => None,
    };

    // Entries to rewrite with the hash: every clear-text copy, and without a
    // CloudInit the one that wins at boot.
    let mut edit: Vec<&Persisted> = others
        .iter()
        .copied()
        .filter(|p| {
            classify_persisted(p.entry.value.expose_secret()) == PersistedPassword::ClearText
        })
        .collect();
    if cloudinit.is_none() {
        let Some(winner) = others.last() else {
            return Err(
                "no rancher password is persisted in /oem and the cluster has no CloudInit resource (Harvester before v1.3): add stages.initramfs[0].users.rancher.passwd to the node's config by hand first".into(),
            );
        };
        if !edit.iter().any(|p| std::ptr::eq(*p, *winner)) {
            edit.push(winner);
        }
    }
    let mut by_file: BTreeMap<&str, Vec<&Persisted>> = BTreeMap::new();
    for p in edit {
        by_file.entry(p.file.as_str()).or_default().push(p);
    }
    let mut oem_edits = Vec::new();
    for (file, entries) in by_file {
        let f = &nf.oem[file];
        let mut text = Zeroizing::new(f.text.to_string());
        for p in &entries {
            text = Zeroizing::new(
                oem::set_user_passwd(
                    &text,
                    &p.entry.stage,
                    p.entry.entry,
                    USER,
                    hash.expose_secret(),
                )
                .map_err(|e| format!("{file} {}: {e}", p.entry.location))?,
            );
            preview.push(format!(
                "persisted: {file} {}: the new hash, byte-preserving edit (backup in /oem/install/)",
                p.entry.location
            ));
        }
        oem_edits.push(Arc::new(FileChange {
            path: file.to_string(),
            from: f.version.clone(),
            content: Zeroizing::new(text.as_bytes().to_vec()),
            backup: Backup::for_path(file),
            new_mode: 0o600,
        }));
    }

    if let Some(ic) = &nf.install_config
        && install_config_clear_text(&ic.text)
    {
        let edited = replace_install_password(&ic.text, &hash)?;
        preview.push(format!(
            "persisted: {INSTALL_CONFIG} os.password: the clear text replaced by the hash (backup in /oem/install/)"
        ));
        oem_edits.push(Arc::new(FileChange {
            path: INSTALL_CONFIG.into(),
            from: ic.version.clone(),
            content: Zeroizing::new(edited.into_bytes()),
            backup: Backup::for_path(INSTALL_CONFIG),
            new_mode: 0o600,
        }));
    }

    // What yip applies last at the next boot once this is written.
    let mut after: BTreeMap<String, OemFile> = nf
        .oem
        .iter()
        .filter(|(k, _)| **k != our_file)
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    for e in oem_edits.iter().filter(|e| e.path != INSTALL_CONFIG) {
        after.insert(
            e.path.clone(),
            OemFile {
                text: Zeroizing::new(String::from_utf8_lossy(&e.content).into_owned()),
                version: Version::of(&e.content),
            },
        );
    }
    if let Some(c) = &cloudinit {
        after.insert(
            our_file.clone(),
            OemFile {
                text: c.contents.clone(),
                version: Version::of(c.contents.as_bytes()),
            },
        );
    }
    let winner = judge_persisted(&after, &hash).map_err(|e| format!("after the change {e}"))?;
    preview.push(format!("next boot: {winner} wins, with the new hash"));
    Ok(Planned {
        target: node.to_string(),
        preview,
        work: NodeWork {
            password: new_password.clone(),
            hash,
            cloudinit,
            oem_edits,
        },
    })
}

/// The install config Harvester's installer leaves in `/oem`; no boot stage
/// reads it, but its `os.password` is the installer's input, clear text
/// included.
pub const INSTALL_CONFIG: &str = "/oem/harvester.config";

fn install_password(text: &str) -> Result<Option<Sensitive>, String> {
    let v: Option<serde_json::Value> =
        serde_saphyr::from_str(text).map_err(|_| format!("{INSTALL_CONFIG}: not YAML"))?;
    Ok(v.as_ref()
        .and_then(|v| v.get("os"))
        .and_then(|os| os.get("password"))
        .and_then(|p| match p {
            serde_json::Value::String(s) => Some(Sensitive::new(s.as_str())),
            serde_json::Value::Number(n) => Some(Sensitive::new(n.to_string())),
            _ => None,
        }))
}

/// Whether the install config holds a clear-text `os.password`.
pub fn install_config_clear_text(text: &str) -> bool {
    matches!(
        install_password(text),
        Ok(Some(p)) if classify_persisted(p.expose_secret()) == PersistedPassword::ClearText
    )
}

/// Replaces a clear-text `os.password` of the install config with `hash`,
/// changing only that line; refused unless the value is on exactly one
/// `password: <value>` line and the result parses to the same document with
/// only that value changed.
pub fn replace_install_password(text: &str, hash: &Sensitive) -> Result<String, String> {
    let refuse = |why: &str| format!("{INSTALL_CONFIG} os.password: {why}; edit it by hand");
    let Some(old) = install_password(text)? else {
        return Err(refuse("not found"));
    };
    let old = old.expose_secret();
    let mut hits = Vec::new();
    for (i, line) in text.split_inclusive('\n').enumerate() {
        let body = line.trim_end_matches(['\n', '\r']);
        let trimmed = body.trim_start();
        let Some(value) = trimmed.strip_prefix("password:") else {
            continue;
        };
        let value = value.trim();
        if value == old || value == format!("\"{old}\"") || value == format!("'{old}'") {
            hits.push(i);
        }
    }
    let [hit] = hits[..] else {
        return Err(refuse("not written as one `password: <value>` line"));
    };
    let mut out = Zeroizing::new(String::with_capacity(text.len() + 128));
    for (i, line) in text.split_inclusive('\n').enumerate() {
        if i == hit {
            let body = line.trim_end_matches(['\n', '\r']);
            let indent = &body[..body.len() - body.trim_start().len()];
            out.push_str(&format!(
                "{indent}password: \"{}\"{}",
                hash.expose_secret(),
                &line[body.len()..]
            ));
        } else {
            out.push_str(line);
        }
    }
    let mut want: serde_json::Value =
        serde_saphyr::from_str(text).map_err(|_| refuse("not YAML"))?;
    want["os"]["password"] = serde_json::Value::String(hash.expose_secret().to_string());
    let got: serde_json::Value =
        serde_saphyr::from_str(&out).map_err(|_| refuse("the edit did not parse"))?;
    if got != want {
        return Err(refuse("the edit changed more than the password"));
    }
    Ok(out.to_string())
}

/// Re-judges `/oem` after the change: the password yip applies last at boot
/// must be `hash`, and no clear text may be left. The winner's label.
pub fn judge_persisted(
    oem_files: &BTreeMap<String, OemFile>,
    hash: &Sensitive,
) -> Result<String, String> {
    let (all, broken) = persisted(oem_files);
    if let Some(b) = broken.first() {
        return Err(format!("yip cannot read {b}"));
    }
    let Some(winner) = all.last() else {
        return Err("no rancher password is persisted in /oem".into());
    };
    if winner.entry.value != *hash {
        return Err(format!(
            "{} wins at boot and does not hold the new hash",
            winner.label()
        ));
    }
    if let Some(p) = all
        .iter()
        .find(|p| classify_persisted(p.entry.value.expose_secret()) == PersistedPassword::ClearText)
    {
        return Err(format!("{} still holds clear text", p.label()));
    }
    Ok(winner.label())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::creds::password::find_shadow_entry;

    const INSTALLER: &str = "$6$Ab3dEf6hIj9kLm2o$L0oIy1cBLgRbZ3i5F5G0fJX2kPqfmY8rYv2d1zVQ0gk7H4q3oQ9C5c0aK2rT8dHnWm1sV7bX3jE6uR9pL4tNq1";
    const PW: &str = "Harvcred-Sentinel-7q2x";

    fn custom(passwd: &str) -> String {
        format!(
            "name: Harvester Configuration\nstages:\n  initramfs:\n  - users:\n      rancher:\n        passwd: {passwd}   # installer\n    hostname: node1\n"
        )
    }

    fn file(text: &str) -> OemFile {
        OemFile {
            text: Zeroizing::new(text.into()),
            version: Version::of(text.as_bytes()),
        }
    }

    fn node(files: &[(&str, String)], label: bool) -> NodeFacts {
        NodeFacts {
            runtime: Some(
                find_shadow_entry(
                    &format!("rancher:{INSTALLER}:19700:0:99999:7:::\n"),
                    "rancher",
                )
                .unwrap(),
            ),
            oem: files
                .iter()
                .map(|(p, t)| (p.to_string(), file(t)))
                .collect(),
            hostname_label: label.then(|| "node1".to_string()),
            install_config: None,
        }
    }

    fn draft() -> Draft {
        Draft {
            password: Sensitive::new(PW),
            again: Sensitive::new(PW),
        }
    }

    fn plan(nf: NodeFacts, served: bool) -> Result<Planned<NodeWork>, String> {
        let facts = Facts {
            nodes: BTreeMap::from([("node1".to_string(), nf)]),
            cloudinit_served: served,
        };
        PasswordChange::default()
            .plan(&draft(), &facts, &["node1".to_string()])
            .map(|mut v| v.remove(0))
    }

    #[test]
    fn a_cloudinit_per_node_wins_over_the_installer_and_99_passwd() {
        let pw_file = "stages:\n  initramfs.after:\n    - users:\n        rancher:\n          passwd: \"$6$QwErTyUiOpAsDfGh$x\"\n";
        let nf = node(
            &[
                ("/oem/90_custom.yaml", custom(INSTALLER)),
                ("/oem/99_passwd.yaml", pw_file.into()),
            ],
            true,
        );
        let p = plan(nf, true).unwrap();
        let ci = p.work.cloudinit.as_ref().unwrap();
        assert_eq!(ci.name, "harvcred-rancher-password-node1");
        assert_eq!(ci.hostname, "node1");
        assert!(ci.contents.contains("initramfs.after"));
        assert!(p.work.oem_edits.is_empty(), "a hash is not rewritten");
        assert!(
            p.preview
                .iter()
                .any(|l| l.contains("99_zz_harvcred") && l.starts_with("next boot")),
            "{:?}",
            p.preview
        );
        assert!(
            p.preview
                .iter()
                .any(|l| l.contains("kubernetes.io/hostname=node1"))
        );
        // The hash is fresh, 16-character salt, and verifies; never in the preview.
        let h = p.work.hash.expose_secret();
        assert_eq!(h.split('$').nth(2).unwrap().len(), 16);
        assert!(password::verify_password(PW, h));
        for l in &p.preview {
            assert!(!l.contains(h) && !l.contains(PW), "{l}");
        }
        assert!(!format!("{:?}", p.work).contains(h));
    }

    #[test]
    fn clear_text_is_replaced_and_without_cloudinit_the_winner_is_edited() {
        let nf = node(&[("/oem/90_custom.yaml", custom("plain-text-pass"))], true);
        let p = plan(nf.clone(), true).unwrap();
        assert_eq!(p.work.oem_edits.len(), 1, "the clear text is replaced");
        let edited = String::from_utf8(p.work.oem_edits[0].content.to_vec()).unwrap();
        assert!(!edited.contains("plain-text-pass"));
        assert!(edited.contains("   # installer"), "the rest kept: {edited}");
        assert_eq!(
            p.work.oem_edits[0].backup,
            Backup::Into("/oem/install".into())
        );

        // No CloudInit (Harvester before v1.3): the old layout's file is edited.
        let old = node(&[("/oem/99_custom.yaml", custom(INSTALLER))], true);
        let p = plan(old, false).unwrap();
        assert!(p.work.cloudinit.is_none());
        assert_eq!(p.work.oem_edits[0].path, "/oem/99_custom.yaml");
        assert!(
            p.preview
                .iter()
                .any(|l| l.starts_with("next boot: /oem/99_custom.yaml"))
        );

        // Nothing persisted and no CloudInit: refused, nothing guessed.
        let none = node(&[], false);
        assert!(plan(none, false).unwrap_err().contains("before v1.3"));
    }

    #[test]
    fn the_install_configs_clear_text_is_replaced_on_its_own_line_only() {
        let text = "install:\n  mode: create\n  vip: 10.0.0.10\nos:\n  hostname: node1\n  password: plain-text-pass # typed at install\ntoken: abc\n";
        // A comment on the line: the value is not the whole rest, refused.
        assert!(replace_install_password(text, &Sensitive::new(INSTALLER)).is_err());
        let text = text.replace(" # typed at install", "");
        assert!(install_config_clear_text(&text));
        let out = replace_install_password(&text, &Sensitive::new(INSTALLER)).unwrap();
        assert_eq!(
            out,
            text.replace(
                "password: plain-text-pass",
                &format!("password: \"{INSTALLER}\"")
            )
        );
        assert!(!install_config_clear_text(&out));
        let mut nf = node(&[("/oem/90_custom.yaml", custom(INSTALLER))], true);
        nf.install_config = Some(file(&text));
        let p = plan(nf, true).unwrap();
        assert_eq!(p.work.oem_edits.len(), 1);
        assert_eq!(p.work.oem_edits[0].path, INSTALL_CONFIG);
        assert!(!String::from_utf8_lossy(&p.work.oem_edits[0].content).contains("plain-text-pass"));
    }

    #[test]
    fn a_runtime_that_already_has_the_password_keeps_its_hash() {
        let h = password::hash_new_password(&SecretString::from(PW)).unwrap();
        let mut nf = node(&[("/oem/90_custom.yaml", custom(INSTALLER))], true);
        nf.runtime = Some(
            find_shadow_entry(&format!("rancher:{h}:19700:0:99999:7:::\n"), "rancher").unwrap(),
        );
        let p = plan(nf, true).unwrap();
        assert_eq!(
            p.work.hash.expose_secret(),
            h,
            "an earlier run's hash is kept"
        );
        assert!(
            p.preview
                .iter()
                .any(|l| l.contains("already holds the new password"))
        );
        assert!(p.work.cloudinit.unwrap().contents.contains(&h));
    }

    #[test]
    fn validation_blocks_and_warns_and_debug_masks() {
        let c = PasswordChange::default();
        let d = Draft {
            password: Sensitive::new("rancher"),
            again: Sensitive::new("rancher2"),
        };
        let p = c.validate(&d, &Facts::default());
        assert!(
            p.iter()
                .any(|p| p.field == "again" && p.severity == Severity::Error)
        );
        assert!(
            p.iter()
                .any(|p| p.field == "password" && p.message.contains("default"))
        );
        assert!(!format!("{d:?}").contains("rancher"));
        let w = c.validate(
            &Draft {
                password: Sensitive::new("password1234"),
                again: Sensitive::new("password1234"),
            },
            &Facts::default(),
        );
        assert_eq!(w.len(), 1);
        assert_eq!(w[0].severity, Severity::Warning);
    }
}
