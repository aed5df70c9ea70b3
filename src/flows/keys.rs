//! Adding and removing `rancher`'s SSH keys on chosen nodes, as changes on
//! the walkthrough engine ([`super::engine`]). Pure: what is read comes in
//! as [`KeyFacts`], what is done on a node goes out as [`KeyWork`].
//!
//! yip only appends keys at boot, so a key is removed from the runtime file
//! and from every persisted source, or it comes back. Persisted sources are
//! changed before the runtime file, so a cut in the middle leaves a node with
//! at least the keys it had. A removal that would lock the operator out is
//! refused at planning: the last key of a node, and the key harvcred logged
//! in with unless another key that stays was just proven by a fresh login.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use zeroize::Zeroizing;

use super::Severity;
use super::engine::{Change, Planned, Problem};
use crate::creds::keys::{self, AuthorizedKey, KeyKind, NodeKeys};
use crate::creds::oem;
use crate::node::write::Version;

/// The runtime file (on /home, which persists on Harvester).
pub const RUNTIME: &str = "/home/rancher/.ssh/authorized_keys";
/// Prefix of the CloudInit resources harvcred writes (the ones it may edit).
pub const CLOUDINIT_PREFIX: &str = "harvcred-keys";

/// A CloudInit resource as the flow needs it.
#[derive(Clone)]
pub struct CloudInitFact {
    pub name: String,
    pub filename: String,
    pub contents: Zeroizing<String>,
    pub resource_version: String,
    /// For every node (`{}` selector).
    pub all: bool,
    /// Nodes it lands on (selector or rollout).
    pub nodes: BTreeSet<String>,
}

impl CloudInitFact {
    fn ours(&self) -> bool {
        self.name.starts_with(CLOUDINIT_PREFIX)
    }
    fn applies_to(&self, node: &str) -> bool {
        self.all || self.nodes.contains(node)
    }
}

/// One node as read: the runtime file and every `/oem/*.yaml`.
#[derive(Clone, Default)]
pub struct NodeFacts {
    pub runtime: Option<Zeroizing<Vec<u8>>>,
    /// `/oem/NAME.yaml` -> content.
    pub oem: BTreeMap<String, Zeroizing<Vec<u8>>>,
    /// The key harvcred's connection logged in with (sshd's log).
    pub login: Option<String>,
}

impl NodeFacts {
    fn runtime_text(&self) -> String {
        self.runtime
            .as_ref()
            .map(|c| String::from_utf8_lossy(c).into_owned())
            .unwrap_or_default()
    }

    fn runtime_keys(&self) -> Vec<AuthorizedKey> {
        keys::parse_authorized_keys(&self.runtime_text()).entries
    }

    /// (source, key) of every persisted rancher key, per file and list.
    pub fn persisted(&self) -> Vec<(String, AuthorizedKey)> {
        let mut out = Vec::new();
        for (path, content) in &self.oem {
            let Ok(cfg) = oem::parse_oem(&String::from_utf8_lossy(content)) else {
                continue;
            };
            for list in cfg.authorized_keys.iter().filter(|l| l.user == "rancher") {
                for k in keys::parse_key_list(&list.keys).entries {
                    out.push((format!("{path}: {}", list.location), k));
                }
            }
        }
        out
    }
}

/// Everything read before a key change.
#[derive(Clone, Default)]
pub struct KeyFacts {
    pub nodes: BTreeMap<String, NodeFacts>,
    /// The cluster serves CloudInit (Harvester v1.3+).
    pub cloudinit_served: bool,
    pub cloudinits: Vec<CloudInitFact>,
    /// Per node: the key fingerprint just proven by a fresh login.
    pub proven: BTreeMap<String, String>,
    /// Per node: why the key to prove was not proven (named by a refusal).
    pub proof_failures: BTreeMap<String, String>,
    /// The public key file to add from (`.pub`), read on the admin host
    /// with the nodes: its path, and its text or why it could not be read.
    pub key_file: Option<(PathBuf, Result<String, String>)>,
}

impl KeyFacts {
    pub fn node_keys(&self) -> Vec<NodeKeys> {
        self.nodes
            .iter()
            .map(|(n, f)| NodeKeys {
                node: n.clone(),
                runtime: f.runtime_keys(),
                persisted: f.persisted(),
                login: f.login.clone(),
            })
            .collect()
    }

    fn cloudinit_of_file(&self, node: &str, path: &str) -> Option<&CloudInitFact> {
        let name = path.strip_prefix("/oem/")?;
        self.cloudinits
            .iter()
            .find(|c| c.filename == name && c.applies_to(node))
    }
}

/// One thing done on a node, in order.
#[derive(Clone)]
pub enum Step {
    /// A node file, written with the safe write (backup for `/oem`).
    File {
        path: String,
        from: Version,
        content: Zeroizing<Vec<u8>>,
    },
    /// A CloudInit resource created (`from` None) or replaced at `from`.
    CloudInit {
        name: String,
        filename: String,
        all: bool,
        from: Option<String>,
        contents: Zeroizing<String>,
    },
}

impl std::fmt::Debug for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Step::File { path, .. } => write!(f, "File({path})"),
            Step::CloudInit { name, .. } => write!(f, "CloudInit({name})"),
        }
    }
}

/// What is done on one node, and what it must look like afterwards.
#[derive(Clone, Debug)]
pub struct KeyWork {
    pub steps: Vec<Step>,
    /// Exactly the fingerprints the runtime file holds afterwards.
    pub runtime_after: BTreeSet<String>,
    /// Per `/oem` file: exactly the rancher fingerprints it holds afterwards
    /// (files harvcred leaves alone included).
    pub sources_after: BTreeMap<String, BTreeSet<String>>,
    /// For the audit: the fingerprints added or removed.
    pub fingerprints: Vec<String>,
}

/// Fingerprints of rancher keys in a yip text (empty when it does not parse).
pub fn source_fingerprints(text: &str) -> BTreeSet<String> {
    oem::parse_oem(text)
        .map(|c| {
            c.rancher_keys()
                .entries
                .into_iter()
                .map(|k| k.fingerprint)
                .collect()
        })
        .unwrap_or_default()
}

fn sources_now(n: &NodeFacts) -> BTreeMap<String, BTreeSet<String>> {
    n.oem
        .iter()
        .map(|(p, c)| (p.clone(), source_fingerprints(&String::from_utf8_lossy(c))))
        .collect()
}

fn node<'a>(facts: &'a KeyFacts, t: &str) -> Result<&'a NodeFacts, String> {
    facts
        .nodes
        .get(t)
        .ok_or_else(|| format!("{t} could not be read: nothing is planned for it"))
}

// -------------------------------------------------------------------- add --

/// What the operator gives to add.
#[derive(Clone, PartialEq, Debug, Default)]
pub struct AddDraft {
    /// Public keys, one a line, or `github:<user>` entries.
    pub text: String,
    /// One CloudInit for every node (also nodes that join later) instead of one per node.
    pub for_all: bool,
    /// A public key file whose lines are added too (read with the nodes).
    pub key_file: Option<PathBuf>,
}

pub struct AddKeys;

impl AddKeys {
    /// The draft's key file as read with the nodes, if it is that file.
    fn file_read<'a>(draft: &AddDraft, facts: &'a KeyFacts) -> Option<&'a Result<String, String>> {
        let wanted = draft.key_file.as_ref()?;
        facts
            .key_file
            .as_ref()
            .filter(|(path, _)| path == wanted)
            .map(|(_, read)| read)
    }

    fn parsed(draft: &AddDraft, facts: &KeyFacts) -> keys::NewKeys {
        let text = match Self::file_read(draft, facts) {
            Some(Ok(file)) => format!("{}\n{file}", draft.text),
            _ => draft.text.clone(),
        };
        let present: BTreeSet<String> = facts
            .node_keys()
            .iter()
            .flat_map(|n| {
                n.runtime
                    .iter()
                    .chain(n.persisted.iter().map(|(_, k)| k))
                    .map(|k| k.fingerprint.clone())
                    .collect::<Vec<_>>()
            })
            .collect();
        keys::parse_new_keys(&text, &present)
    }
}

impl Change for AddKeys {
    type Draft = AddDraft;
    type Facts = KeyFacts;
    type Work = KeyWork;

    fn action(&self) -> &'static str {
        "keys.add"
    }

    /// The fingerprints added (public; never a key's text).
    fn audit_values(
        &self,
        draft: &AddDraft,
        facts: &KeyFacts,
    ) -> Option<(serde_json::Value, serde_json::Value)> {
        let fps: Vec<String> = Self::parsed(draft, facts)
            .keys
            .into_iter()
            .map(|k| k.fingerprint)
            .collect();
        Some((serde_json::json!([]), serde_json::json!(fps)))
    }

    fn validate(&self, draft: &AddDraft, facts: &KeyFacts) -> Vec<Problem> {
        let p = Self::parsed(draft, facts);
        let mk = |severity, message| Problem {
            field: "keys",
            severity,
            message,
        };
        let file = match Self::file_read(draft, facts) {
            Some(Err(why)) => Some(Problem {
                field: "key file",
                severity: Severity::Error,
                message: format!("cannot be read: {why}"),
            }),
            _ => None,
        };
        p.errors
            .into_iter()
            .map(|m| mk(Severity::Error, m))
            .chain(p.warnings.into_iter().map(|m| mk(Severity::Warning, m)))
            .chain(file)
            .collect()
    }

    fn plan(
        &self,
        draft: &AddDraft,
        facts: &KeyFacts,
        targets: &[String],
    ) -> Result<Vec<Planned<KeyWork>>, String> {
        let new = Self::parsed(draft, facts).keys;
        let raws: Vec<String> = new.iter().map(|k| k.raw.clone()).collect();
        let mut out = Vec::new();
        for t in targets {
            let n = node(facts, t)?;
            let mut steps = Vec::new();
            let mut preview = Vec::new();
            let mut sources_after = sources_now(n);
            if facts.cloudinit_served {
                let (name, filename) = if draft.for_all {
                    (
                        CLOUDINIT_PREFIX.to_string(),
                        "95_harvcred_keys.yaml".to_string(),
                    )
                } else {
                    (
                        format!("{CLOUDINIT_PREFIX}-{t}"),
                        format!("95_harvcred_keys_{t}.yaml"),
                    )
                };
                let current = facts.cloudinits.iter().find(|c| c.name == name);
                let contents = match current {
                    Some(c) => {
                        let mut have = oem::parse_oem(&c.contents)
                            .map_err(|e| format!("CloudInit {name}: {e}"))?
                            .rancher_keys()
                            .entries
                            .into_iter()
                            .map(|k| k.raw)
                            .collect::<Vec<_>>();
                        for r in &raws {
                            if !have.contains(r) {
                                have.push(r.clone());
                            }
                        }
                        oem::set_rancher_authorized_keys(&c.contents, &have)
                            .map_err(|e| format!("CloudInit {name}: {e}"))?
                    }
                    None => oem::render_cloudinit_keys(&raws).map_err(|e| e.to_string())?,
                };
                preview.push(format!(
                    "CloudInit {name} ({}): /oem/{filename} stages.network[0].authorized_keys.rancher += {}",
                    if draft.for_all { "every node" } else { t.as_str() },
                    fps(&new)
                ));
                sources_after.insert(format!("/oem/{filename}"), source_fingerprints(&contents));
                steps.push(Step::CloudInit {
                    name,
                    filename,
                    all: draft.for_all,
                    from: current.map(|c| c.resource_version.clone()),
                    contents: Zeroizing::new(contents),
                });
            } else {
                // No CloudInit (before v1.3): the last /oem file holding rancher's list.
                let (path, text) = n
                    .oem
                    .iter()
                    .rev()
                    .map(|(p, c)| (p, String::from_utf8_lossy(c).into_owned()))
                    .find(|(_, text)| {
                        oem::parse_oem(text).is_ok_and(|c| {
                            c.authorized_keys
                                .iter()
                                .any(|l| l.location == "stages.network[0].authorized_keys.rancher")
                        })
                    })
                    .ok_or_else(|| {
                        format!("{t}: no /oem file has stages.network[0].authorized_keys.rancher and the cluster has no CloudInit: add the list by hand first")
                    })?;
                let cfg = oem::parse_oem(&text).map_err(|e| format!("{t} {path}: {e}"))?;
                let mut have: Vec<String> = cfg
                    .authorized_keys
                    .iter()
                    .find(|l| l.location == "stages.network[0].authorized_keys.rancher")
                    .map(|l| l.keys.clone())
                    .unwrap_or_default();
                for r in &raws {
                    if !have.iter().any(|h| h.trim() == r.trim()) {
                        have.push(r.clone());
                    }
                }
                let edited = oem::set_rancher_authorized_keys(&text, &have)
                    .map_err(|e| format!("{t} {path}: {e}"))?;
                if edited != text {
                    preview.push(format!(
                        "{path}: stages.network[0].authorized_keys.rancher += {} (backup in /oem/install)",
                        fps(&new)
                    ));
                    sources_after.insert(path.clone(), source_fingerprints(&edited));
                    steps.push(Step::File {
                        path: path.clone(),
                        from: Version::of(text.as_bytes()),
                        content: Zeroizing::new(edited.into_bytes()),
                    });
                }
            }
            let runtime_text = n.runtime_text();
            let mut runtime_after: BTreeSet<String> = n
                .runtime_keys()
                .into_iter()
                .map(|k| k.fingerprint)
                .collect();
            if let Some(appended) = keys::append_to_authorized_keys(&runtime_text, &new) {
                preview.push(format!("{RUNTIME}: append {}", fps(&new)));
                steps.push(Step::File {
                    path: RUNTIME.into(),
                    from: match &n.runtime {
                        Some(c) => Version::of(c),
                        None => Version::Missing,
                    },
                    content: Zeroizing::new(appended.into_bytes()),
                });
            }
            runtime_after.extend(
                new.iter()
                    .filter(|k| k.kind != KeyKind::GitHub)
                    .map(|k| k.fingerprint.clone()),
            );
            if new.iter().any(|k| k.kind == KeyKind::GitHub) {
                preview.push(
                    "github: entries are persisted only: yip fetches their keys at the next boot"
                        .into(),
                );
            }
            out.push(Planned {
                target: t.clone(),
                preview,
                work: KeyWork {
                    steps,
                    runtime_after,
                    sources_after,
                    fingerprints: new.iter().map(|k| k.fingerprint.clone()).collect(),
                },
            });
        }
        Ok(out)
    }
}

fn fps(keys: &[AuthorizedKey]) -> String {
    keys.iter()
        .map(|k| k.fingerprint.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

// ----------------------------------------------------------------- remove --

/// The keys to remove, by fingerprint.
#[derive(Clone, PartialEq, Debug, Default)]
pub struct RemoveDraft {
    pub fingerprints: Vec<String>,
    /// A key file to prove by a fresh login when the nodes are read (the
    /// console's field; the command line proves before the walk).
    pub prove_with: Option<std::path::PathBuf>,
}

pub struct RemoveKeys;

/// Where a list sits in a yip file, from its location text.
enum ListAt {
    StageKeys(String, usize),
    UserKeys(String, usize),
}

fn list_at(location: &str) -> Option<ListAt> {
    let rest = location.strip_prefix("stages.")?;
    let open = rest.find('[')?;
    let close = rest[open..].find(']')? + open;
    let stage = rest[..open].to_string();
    let index: usize = rest[open + 1..close].parse().ok()?;
    match &rest[close + 1..] {
        ".authorized_keys.rancher" => Some(ListAt::StageKeys(stage, index)),
        ".users.rancher.ssh_authorized_keys" => Some(ListAt::UserKeys(stage, index)),
        _ => None,
    }
}

/// A yip text without the `remove` keys in any of rancher's lists.
/// Err: lists harvcred cannot edit, with why.
fn without_keys(text: &str, remove: &BTreeSet<String>) -> Result<String, String> {
    let cfg = oem::parse_oem(text).map_err(|e| e.to_string())?;
    let mut out = text.to_string();
    for list in cfg.authorized_keys.iter().filter(|l| l.user == "rancher") {
        let kept: Vec<String> = list
            .keys
            .iter()
            .filter(|raw| {
                !matches!(keys::parse_key_line(raw, 0), Ok(Some(k)) if remove.contains(&k.fingerprint))
            })
            .cloned()
            .collect();
        if kept.len() == list.keys.len() {
            continue;
        }
        out = match list_at(&list.location) {
            Some(ListAt::StageKeys(s, i)) => {
                oem::set_authorized_keys(&out, &s, i, "rancher", &kept)
            }
            Some(ListAt::UserKeys(s, i)) => {
                oem::set_user_ssh_authorized_keys(&out, &s, i, "rancher", &kept)
            }
            None => {
                return Err(format!(
                    "{}: a cloud-config list harvcred does not edit; remove the key there by hand",
                    list.location
                ));
            }
        }
        .map_err(|e| format!("{}: {e}", list.location))?;
    }
    Ok(out)
}

impl Change for RemoveKeys {
    type Draft = RemoveDraft;
    type Facts = KeyFacts;
    type Work = KeyWork;

    fn action(&self) -> &'static str {
        "keys.remove"
    }

    /// The fingerprints removed.
    fn audit_values(
        &self,
        draft: &RemoveDraft,
        _: &KeyFacts,
    ) -> Option<(serde_json::Value, serde_json::Value)> {
        Some((serde_json::json!(draft.fingerprints), serde_json::json!([])))
    }

    fn validate(&self, draft: &RemoveDraft, _: &KeyFacts) -> Vec<Problem> {
        let mut v = Vec::new();
        if draft.fingerprints.is_empty() {
            v.push(Problem {
                field: "fingerprint",
                severity: Severity::Error,
                message: "name the key to remove (SHA256:…)".into(),
            });
        }
        for f in &draft.fingerprints {
            if !f.starts_with("SHA256:") && !f.starts_with("github:") {
                v.push(Problem {
                    field: "fingerprint",
                    severity: Severity::Error,
                    message: format!("{f}: a fingerprint as ssh-keygen -lf prints it (SHA256:…)"),
                });
            }
        }
        v
    }

    fn plan(
        &self,
        draft: &RemoveDraft,
        facts: &KeyFacts,
        targets: &[String],
    ) -> Result<Vec<Planned<KeyWork>>, String> {
        let remove: BTreeSet<String> = draft.fingerprints.iter().cloned().collect();
        let mut out = Vec::new();
        for t in targets {
            let n = node(facts, t)?;
            let runtime_keys = n.runtime_keys();
            let runtime_after: BTreeSet<String> = runtime_keys
                .iter()
                .filter(|k| k.kind != KeyKind::GitHub && !remove.contains(&k.fingerprint))
                .map(|k| k.fingerprint.clone())
                .collect();
            // Lockout rule: never the last key; the login key only when
            // another key that stays was just proven.
            let proven = facts.proven.get(t).filter(|p| runtime_after.contains(*p));
            let login_removed = match &n.login {
                Some(l) => remove.contains(l),
                None => true,
            };
            if runtime_after.is_empty() {
                return Err(format!(
                    "refused on {t}: no key would open the node afterwards (it is the last key{}); add another key first",
                    if login_removed {
                        ", and the key harvcred is logged in with"
                    } else {
                        ""
                    }
                ));
            }
            if login_removed && proven.is_none() {
                return Err(format!(
                    "refused on {t}: {} harvcred is logged in with; prove another key that stays on {t} first (--prove-with KEYFILE, in the console its key file: a fresh login without the shared connection){}",
                    match &n.login {
                        Some(_) => "this is the key",
                        None => "sshd did not say which key",
                    },
                    match facts.proof_failures.get(t) {
                        Some(why) => format!("; the proof failed: {why}"),
                        None => String::new(),
                    }
                ));
            }
            let mut preview = Vec::new();
            let mut persisted_steps = Vec::new();
            let mut cloudinit_steps = Vec::new();
            let mut sources_after = sources_now(n);
            let mut found_anywhere = false;
            for (path, content) in &n.oem {
                let text = String::from_utf8_lossy(content).into_owned();
                let here: Vec<String> = source_fingerprints(&text)
                    .intersection(&remove)
                    .cloned()
                    .collect();
                if here.is_empty() {
                    continue;
                }
                found_anywhere = true;
                let others: Vec<&String> = match facts.cloudinit_of_file(t, path) {
                    Some(ci) => facts
                        .nodes
                        .keys()
                        .filter(|n| ci.applies_to(n) && !targets.contains(n))
                        .collect(),
                    None => Vec::new(),
                };
                match facts.cloudinit_of_file(t, path) {
                    Some(ci) if ci.ours() && !others.is_empty() => preview.push(format!(
                        "{path}: NOT changed: CloudInit {} also applies to {} (choose those nodes too), so {} comes back at boot",
                        ci.name,
                        others.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(" "),
                        here.join(", ")
                    )),
                    Some(ci) if ci.ours() => {
                        let edited = without_keys(&ci.contents, &remove)
                            .map_err(|e| format!("CloudInit {}: {e}", ci.name))?;
                        preview.push(format!(
                            "CloudInit {} ({path}): remove {}",
                            ci.name,
                            here.join(", ")
                        ));
                        sources_after.insert(path.clone(), source_fingerprints(&edited));
                        cloudinit_steps.push(Step::CloudInit {
                            name: ci.name.clone(),
                            filename: ci.filename.clone(),
                            all: ci.all,
                            from: Some(ci.resource_version.clone()),
                            contents: Zeroizing::new(edited),
                        });
                    }
                    Some(ci) => preview.push(format!(
                        "{path}: NOT changed: written by CloudInit {} which is not harvcred's (edit it in Harvester), so {} comes back at boot",
                        ci.name,
                        here.join(", ")
                    )),
                    None => match without_keys(&text, &remove) {
                        Ok(edited) => {
                            preview.push(format!(
                                "{path}: remove {} (backup in /oem/install)",
                                here.join(", ")
                            ));
                            sources_after.insert(path.clone(), source_fingerprints(&edited));
                            persisted_steps.push(Step::File {
                                path: path.clone(),
                                from: Version::of(content),
                                content: Zeroizing::new(edited.into_bytes()),
                            });
                        }
                        Err(why) => preview.push(format!("{path}: NOT changed: {why}")),
                    },
                }
            }
            for (src, k) in n.persisted() {
                if k.kind == KeyKind::GitHub && !remove.contains(&k.fingerprint) {
                    preview.push(format!(
                        "{src}: {} fetches keys from GitHub at boot; harvcred cannot edit GitHub's list, so a removed key that is one of them comes back",
                        k.raw
                    ));
                }
            }
            let mut steps = cloudinit_steps;
            steps.extend(persisted_steps);
            if let Some(text) = keys::remove_from_authorized_keys(&n.runtime_text(), &remove) {
                found_anywhere = true;
                preview.push(format!(
                    "{RUNTIME}: remove {} (after the persisted sources)",
                    remove.iter().cloned().collect::<Vec<_>>().join(", ")
                ));
                steps.push(Step::File {
                    path: RUNTIME.into(),
                    from: match &n.runtime {
                        Some(c) => Version::of(c),
                        None => Version::Missing,
                    },
                    content: Zeroizing::new(text.into_bytes()),
                });
            }
            if !found_anywhere {
                preview.push("the key is not on this node".into());
            }
            if let Some(p) = proven {
                preview.push(format!("{p} was proven on {t} by a fresh login"));
            }
            out.push(Planned {
                target: t.clone(),
                preview,
                work: KeyWork {
                    steps,
                    runtime_after,
                    sources_after,
                    fingerprints: draft.fingerprints.clone(),
                },
            });
        }
        Ok(out)
    }
}

/// Whether a node as read again is exactly the planned result; why not.
pub fn check_result(work: &KeyWork, now: &NodeFacts) -> Result<(), String> {
    let runtime: BTreeSet<String> = now
        .runtime_keys()
        .into_iter()
        .filter(|k| k.kind != KeyKind::GitHub)
        .map(|k| k.fingerprint)
        .collect();
    if runtime != work.runtime_after {
        return Err(format!(
            "{RUNTIME} holds {} keys, not the {} planned",
            runtime.len(),
            work.runtime_after.len()
        ));
    }
    let sources = sources_now(now);
    for (path, want) in &work.sources_after {
        let have = sources.get(path).cloned().unwrap_or_default();
        if &have != want {
            return Err(format!("{path} does not hold the planned keys yet"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keygen(dir: &std::path::Path, name: &str) -> String {
        let p = dir.join(name);
        let st = std::process::Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-C", name, "-f"])
            .arg(&p)
            .status()
            .unwrap();
        assert!(st.success());
        std::fs::read_to_string(p.with_extension("pub"))
            .unwrap()
            .trim()
            .to_string()
    }

    fn fp(line: &str) -> String {
        keys::parse_key_line(line, 1).unwrap().unwrap().fingerprint
    }

    fn facts(a: &str, b: &str, login: &str) -> KeyFacts {
        let oem = format!(
            "stages:\n  network:\n    - authorized_keys:\n        rancher:\n          - {a}\n          - {b}\n"
        );
        let old = format!(
            "stages:\n  initramfs:\n    - users:\n        rancher:\n          ssh_authorized_keys:\n            - {a}\n"
        );
        let n = NodeFacts {
            runtime: Some(Zeroizing::new(format!("# keys\n{a}\n{b}\n").into_bytes())),
            oem: BTreeMap::from([
                (
                    "/oem/90_custom.yaml".into(),
                    Zeroizing::new(oem.into_bytes()),
                ),
                ("/oem/91_old.yaml".into(), Zeroizing::new(old.into_bytes())),
            ]),
            login: Some(login.into()),
        };
        KeyFacts {
            nodes: BTreeMap::from([("node1".into(), n)]),
            cloudinit_served: true,
            ..Default::default()
        }
    }

    #[test]
    fn a_key_file_read_with_the_nodes_is_added_and_an_unreadable_one_is_named() {
        let d = tempfile::tempdir().unwrap();
        let (a, b, c) = (
            keygen(d.path(), "a"),
            keygen(d.path(), "b"),
            keygen(d.path(), "c"),
        );
        let path = PathBuf::from("/keys/c.pub");
        let draft = AddDraft {
            key_file: Some(path.clone()),
            ..Default::default()
        };
        let mut f = facts(&a, &b, &fp(&a));
        f.key_file = Some((path.clone(), Ok(format!("{c}\n"))));
        assert!(AddKeys.validate(&draft, &f).is_empty());
        let p = AddKeys.plan(&draft, &f, &["node1".to_string()]).unwrap();
        assert_eq!(p[0].work.fingerprints, vec![fp(&c)]);
        // A file read for another path is not this draft's.
        f.key_file = Some((PathBuf::from("/other.pub"), Ok(format!("{c}\n"))));
        let other = AddKeys.plan(&draft, &f, &["node1".to_string()]);
        assert!(
            other.is_ok_and(|p| p.iter().all(|t| t.work.fingerprints.is_empty())),
            "another file's keys are not added"
        );
        f.key_file = Some((path, Err("No such file or directory".into())));
        let problems = AddKeys.validate(&draft, &f);
        assert!(
            problems.iter().any(|p| p.field == "key file"
                && p.severity == Severity::Error
                && p.message.contains("No such file")),
            "{problems:?}"
        );
    }

    #[test]
    fn removing_the_login_key_is_refused_until_another_key_is_proven() {
        let d = tempfile::tempdir().unwrap();
        let (a, b) = (keygen(d.path(), "a"), keygen(d.path(), "b"));
        let mut f = facts(&a, &b, &fp(&a));
        let draft = RemoveDraft {
            fingerprints: vec![fp(&a)],
            ..Default::default()
        };
        let t = ["node1".to_string()];
        let e = RemoveKeys.plan(&draft, &f, &t).unwrap_err();
        assert!(e.contains("logged in with"), "{e}");
        // A proof that failed is named in the refusal.
        f.proof_failures.insert(
            "node1".into(),
            "the fresh login with this key failed".into(),
        );
        let e = RemoveKeys.plan(&draft, &f, &t).unwrap_err();
        assert!(
            e.contains("the proof failed: the fresh login with this key failed"),
            "{e}"
        );
        // Proving the key that is removed does not count.
        f.proven.insert("node1".into(), fp(&a));
        assert!(RemoveKeys.plan(&draft, &f, &t).is_err());
        f.proven.insert("node1".into(), fp(&b));
        let p = RemoveKeys.plan(&draft, &f, &t).unwrap();
        let w = &p[0].work;
        // Persisted first (both files), the runtime file last.
        let order: Vec<String> = w.steps.iter().map(|s| format!("{s:?}")).collect();
        assert_eq!(
            order,
            [
                "File(/oem/90_custom.yaml)",
                "File(/oem/91_old.yaml)",
                "File(/home/rancher/.ssh/authorized_keys)"
            ]
        );
        assert_eq!(w.runtime_after, BTreeSet::from([fp(&b)]));
        assert!(w.sources_after["/oem/91_old.yaml"].is_empty());
        let Step::File { content, .. } = &w.steps[2] else {
            panic!()
        };
        assert_eq!(
            String::from_utf8_lossy(content),
            format!("# keys\n{b}\n"),
            "other lines kept byte for byte"
        );
        // Removing every key: refused whatever was proven.
        let all = RemoveDraft {
            fingerprints: vec![fp(&a), fp(&b)],
            ..Default::default()
        };
        let e = RemoveKeys.plan(&all, &f, &t).unwrap_err();
        assert!(e.contains("last key"), "{e}");
    }

    #[test]
    fn a_key_in_someone_elses_cloudinit_is_named_and_left() {
        let d = tempfile::tempdir().unwrap();
        let (a, b) = (keygen(d.path(), "a"), keygen(d.path(), "b"));
        let mut f = facts(&a, &b, &fp(&b));
        let contents = format!(
            "stages:\n  network:\n    - authorized_keys:\n        rancher:\n          - {a}\n"
        );
        f.nodes.get_mut("node1").unwrap().oem.insert(
            "/oem/99_team.yaml".into(),
            Zeroizing::new(contents.clone().into_bytes()),
        );
        f.cloudinits.push(CloudInitFact {
            name: "team-keys".into(),
            filename: "99_team.yaml".into(),
            contents: Zeroizing::new(contents),
            resource_version: "1".into(),
            all: true,
            nodes: BTreeSet::new(),
        });
        let p = RemoveKeys
            .plan(
                &RemoveDraft {
                    fingerprints: vec![fp(&a)],
                    ..Default::default()
                },
                &f,
                &["node1".to_string()],
            )
            .unwrap();
        let preview = p[0].preview.join("\n");
        assert!(
            preview.contains("/oem/99_team.yaml: NOT changed: written by CloudInit team-keys"),
            "{preview}"
        );
        assert_eq!(
            p[0].work.sources_after["/oem/99_team.yaml"],
            BTreeSet::from([fp(&a)])
        );
    }

    #[test]
    fn add_goes_to_a_cloudinit_and_the_runtime_file() {
        let d = tempfile::tempdir().unwrap();
        let (a, b, c) = (
            keygen(d.path(), "a"),
            keygen(d.path(), "b"),
            keygen(d.path(), "c"),
        );
        let f = facts(&a, &b, &fp(&a));
        let draft = AddDraft {
            text: format!("{c}\n{c}\n{a}\n"),
            for_all: true,
            key_file: None,
        };
        let problems = AddKeys.validate(&draft, &f);
        assert!(problems.iter().all(|p| p.severity == Severity::Warning));
        assert!(problems.iter().any(|p| p.message.contains("given twice")));
        assert!(
            problems
                .iter()
                .any(|p| p.message.contains("already present"))
        );
        let p = AddKeys.plan(&draft, &f, &["node1".to_string()]).unwrap();
        let w = &p[0].work;
        let Step::CloudInit { name, contents, .. } = &w.steps[0] else {
            panic!("{:?}", w.steps)
        };
        assert_eq!(name, CLOUDINIT_PREFIX);
        assert_eq!(
            source_fingerprints(contents),
            BTreeSet::from([fp(&a), fp(&c)])
        );
        assert_eq!(w.runtime_after, BTreeSet::from([fp(&a), fp(&b), fp(&c)]));
    }
}
