//! A change of one of the other credential settings as the console's forms
//! and `settings add-ca` / `remove-ca` make it: `setting::SettingChange`
//! with a draft that says what to do with the value the walk reads (the
//! whole value, CAs added to the bundle, one removed, the value kept for a
//! rollback), so the bundle edits are planned on the value read (after a
//! conflict, on the one read again), and problems carry the form field they
//! belong at.

use zeroize::Zeroizing;

use super::Severity;
use super::engine::{AuditLine, Change, ChangeIo, Planned, Problem, Refusal, TargetState};
use super::setting::{Io, SettingChange, SettingFacts, SettingValue, SettingWork};
use crate::creds::ca_bundle;
use crate::creds::setting_values as values;

/// What a form does with the setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The whole value, edited.
    Edit,
    /// `additional-ca`: CAs added to the bundle as it is.
    AddCa,
    /// `additional-ca`: one CA removed.
    RemoveCa,
    /// Back to the value the last change from this machine replaced.
    Rollback,
}

/// What the form's fields ask for; the value is made from it and what the
/// walk read (the bundle a CA is added to), so a conflict re-plans on the
/// value read again.
#[derive(Clone, PartialEq)]
pub enum Edit {
    Value(SettingValue),
    AddCa(Zeroizing<String>),
    RemoveCa(String),
    Rollback,
}

impl std::fmt::Debug for Edit {
    // A value may hold a private key or registry passwords.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Edit::Value(v) => write!(f, "Value({v:?})"),
            Edit::AddCa(pem) => write!(f, "AddCa(<{} bytes>)", pem.len()),
            Edit::RemoveCa(fp) => write!(f, "RemoveCa({fp})"),
            Edit::Rollback => f.write_str("Rollback"),
        }
    }
}

/// The draft of a settings form.
#[derive(Debug, Clone, PartialEq)]
pub struct SettingDraft {
    pub name: &'static str,
    pub edit: Edit,
    /// The field the value came from (problems of the value go there).
    pub at: &'static str,
    /// What the form itself refuses (a file that cannot be read), at its field.
    pub refused: Vec<(&'static str, String)>,
    /// `ssl-certificates`: a host the certificate must cover besides the
    /// kubeconfig's (problems about it go to the `host` field).
    pub host: Option<String>,
}

/// What a settings walk reads: the setting, and the value a rollback restores.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormFacts {
    pub setting: SettingFacts,
    pub kept: Option<SettingValue>,
}

/// A change of one setting: `SettingChange` with a draft of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SettingFormChange {
    pub name: &'static str,
    pub kind: Kind,
}

impl SettingFormChange {
    fn inner(&self) -> SettingChange {
        SettingChange {
            name: self.name,
            rollback: self.kind == Kind::Rollback,
        }
    }
}

/// The value the draft makes with what was read, or why it cannot (the
/// field and the message).
fn value_of(
    draft: &SettingDraft,
    facts: &FormFacts,
) -> Result<(SettingValue, Vec<String>), String> {
    let current = facts.setting.current.effective();
    match &draft.edit {
        Edit::Value(v) => Ok((v.clone(), Vec::new())),
        Edit::AddCa(pem) => {
            let added = ca_bundle::add(current, pem)?;
            if added.added.is_empty() {
                return Err(added.already.join("; "));
            }
            Ok((SettingValue::new(&added.bundle), added.already))
        }
        Edit::RemoveCa(fp) => {
            let removed = ca_bundle::remove(current, fp)?;
            Ok((SettingValue::new(&removed.bundle), Vec::new()))
        }
        Edit::Rollback => match &facts.kept {
            Some(v) => Ok((v.clone(), Vec::new())),
            None => Err(format!(
                "no change of {} was made from this machine for this context: nothing to roll back to",
                draft.name
            )),
        },
    }
}

/// The field of the form a problem of the value belongs at.
fn field_of(draft: &SettingDraft, message: &str) -> &'static str {
    match draft.name {
        values::SSL_PARAMETERS if message.contains("cipher") => "ciphers",
        values::SSL_PARAMETERS if message.contains("protocol") || message.contains("TLSv1") => {
            "protocols"
        }
        values::SSL_CERTIFICATES if message.starts_with("privateKey") => "key",
        values::SSL_CERTIFICATES if message.contains("ca:") || message.starts_with("ca ") => "ca",
        values::SSL_CERTIFICATES if message.contains("publicCertificate") => "cert",
        values::SSL_CERTIFICATES if message.contains("private key") => "key",
        _ => draft.at,
    }
}

impl Change for SettingFormChange {
    type Draft = SettingDraft;
    type Facts = FormFacts;
    type Work = SettingWork;

    fn action(&self) -> &'static str {
        self.inner().action()
    }

    fn validate(&self, draft: &SettingDraft, facts: &FormFacts) -> Vec<Problem> {
        let error = |field, message| Problem {
            field,
            severity: Severity::Error,
            message,
        };
        if !draft.refused.is_empty() {
            return draft
                .refused
                .iter()
                .map(|(field, m)| error(*field, m.clone()))
                .collect();
        }
        let (value, notes) = match value_of(draft, facts) {
            Ok(v) => v,
            Err(m) => return vec![error(draft.at, m)],
        };
        let mut out: Vec<Problem> = notes
            .into_iter()
            .map(|message| Problem {
                field: draft.at,
                severity: Severity::Warning,
                message,
            })
            .collect();
        out.extend(
            self.inner()
                .validate(&value, &facts.setting)
                .into_iter()
                .map(|p| Problem {
                    field: field_of(draft, &p.message),
                    ..p
                }),
        );
        if let Some(host) = draft.host.as_deref().filter(|h| !h.is_empty()) {
            let at_host = SettingFacts {
                context: super::setting::Context {
                    host: Some(host.to_string()),
                },
                ..facts.setting.clone()
            };
            let about_host = format!("does not cover {host},");
            for p in self.inner().validate(&value, &at_host) {
                if out.iter().any(|o| o.message == p.message) {
                    continue;
                }
                let field = if p.message.contains(&about_host) {
                    "host"
                } else {
                    field_of(draft, &p.message)
                };
                out.push(Problem { field, ..p });
            }
        }
        out
    }

    fn plan(
        &self,
        draft: &SettingDraft,
        facts: &FormFacts,
        targets: &[String],
    ) -> Result<Vec<Planned<SettingWork>>, String> {
        let (value, _) = value_of(draft, facts)?;
        let mut planned = self.inner().plan(&value, &facts.setting, targets)?;
        if self.name == values::SSL_CERTIFICATES && value.0.is_empty() {
            for p in &mut planned {
                p.preview
                    .insert(1, "reset to Harvester's own certificate".into());
            }
        }
        Ok(planned)
    }

    fn consequences(&self, facts: &FormFacts) -> Vec<String> {
        self.inner().consequences(&facts.setting)
    }

    fn audit_values(
        &self,
        draft: &SettingDraft,
        facts: &FormFacts,
    ) -> Option<(serde_json::Value, serde_json::Value)> {
        let (value, _) = value_of(draft, facts).ok()?;
        self.inner().audit_values(&value, &facts.setting)
    }

    fn changed(&self, before: &FormFacts, now: &FormFacts) -> Vec<String> {
        self.inner().changed(&before.setting, &now.setting)
    }

    fn whole(&self) -> &'static str {
        self.inner().whole()
    }

    fn summary(&self, states: &std::collections::BTreeMap<String, TargetState>) -> Option<String> {
        self.inner().summary(states)
    }
}

/// The I/O of `settings set`, and the kept value a rollback restores.
pub struct FormIo {
    io: Io,
    kept: Option<SettingValue>,
}

impl FormIo {
    pub fn new(io: Io, kept: Option<SettingValue>) -> FormIo {
        FormIo { io, kept }
    }
    fn facts(&self, setting: SettingFacts) -> FormFacts {
        FormFacts {
            setting,
            kept: self.kept.clone(),
        }
    }
    fn refusal(&self, r: Refusal<SettingFacts>) -> Refusal<FormFacts> {
        match r {
            Refusal::Conflict(now) => Refusal::Conflict(self.facts(now)),
            Refusal::Denied(m) => Refusal::Denied(m),
            Refusal::Failed(m) => Refusal::Failed(m),
        }
    }
}

impl ChangeIo<SettingFormChange> for FormIo {
    async fn load(&self) -> Result<FormFacts, String> {
        let setting = ChangeIo::<SettingChange>::load(&self.io).await?;
        Ok(self.facts(setting))
    }
    async fn dry_run(&self, target: &str, work: &SettingWork) -> Result<(), String> {
        ChangeIo::<SettingChange>::dry_run(&self.io, target, work).await
    }
    async fn try_dry_run(
        &self,
        target: &str,
        work: &SettingWork,
    ) -> Result<(), Refusal<FormFacts>> {
        ChangeIo::<SettingChange>::try_dry_run(&self.io, target, work)
            .await
            .map_err(|r| self.refusal(r))
    }
    async fn apply(&self, target: &str, work: &SettingWork) -> Result<bool, String> {
        ChangeIo::<SettingChange>::apply(&self.io, target, work).await
    }
    async fn try_apply(
        &self,
        target: &str,
        work: &SettingWork,
    ) -> Result<bool, Refusal<FormFacts>> {
        ChangeIo::<SettingChange>::try_apply(&self.io, target, work)
            .await
            .map_err(|r| self.refusal(r))
    }
    async fn verify(&self, target: &str, work: &SettingWork) -> Result<(), String> {
        ChangeIo::<SettingChange>::verify(&self.io, target, work).await
    }
    async fn verify_with_progress(
        &self,
        target: &str,
        work: &SettingWork,
        progress: &dyn Fn(String),
    ) -> Result<(), String> {
        ChangeIo::<SettingChange>::verify_with_progress(&self.io, target, work, progress).await
    }
    fn audit(&self, line: &AuditLine) {
        ChangeIo::<SettingChange>::audit(&self.io, line)
    }
}
