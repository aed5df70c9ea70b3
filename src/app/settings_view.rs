//! `:settings`: a selection over the other credential settings
//! (`additional-ca`, `ssl-certificates`, `ssl-parameters`,
//! `containerd-registry`) and each CA of `additional-ca`, and their
//! changes as engine forms: `e` edits the selected setting, `a` adds CAs
//! to `additional-ca`, `d` removes the selected CA, `b` rolls back to the
//! value the last change from this machine replaced. Every change is the
//! command line's (`flows::setting`: Harvester's webhook messages, preview,
//! dry run, resourceVersion, `configured` followed, audit), with the
//! form's own checks at its fields.

use std::time::Duration;

use crossterm::event::KeyCode;
use zeroize::Zeroizing;

use super::engine_form::{Field, FormSpec};
use super::runner::{ConsoleChange, WalkSetup};
use super::walk::TargetChoice;
use super::{App, Effect, Flash};
use crate::creds::ca_bundle;
use crate::creds::setting_values::{self as values, SslCertificates};
use crate::flows::setting::{self as flow, CLUSTER, Io, SettingValue};
pub use crate::flows::setting_edit::{
    Edit, FormFacts, FormIo, Kind, SettingDraft, SettingFormChange,
};

/// The view's selection.
#[derive(Debug, Default)]
pub struct SettingsView {
    pub selected: usize,
}

/// A line of `:settings` that can be selected: a setting, or one CA of
/// `additional-ca` (its SHA-256 and subject).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    pub name: &'static str,
    pub ca: Option<(String, String)>,
}

/// How long the console follows `configured` (the command line's default).
const VERIFY: Duration = Duration::from_secs(180);

impl ConsoleChange for SettingFormChange {
    type Io = FormIo;
    async fn connect(
        setup: WalkSetup,
        _: Vec<String>,
        _: String,
        draft: SettingDraft,
    ) -> Result<FormIo, String> {
        let (client, context, server) = crate::cluster::connect(&setup.kube)
            .await
            .map_err(|p| p.detail)?;
        let kept = if flow::can_roll_back(draft.name) {
            crate::flows::keep::load_setting(&setup.state_dir, draft.name, &context)
                .map_err(|e| e.to_string())?
                .map(SettingValue)
        } else {
            None
        };
        let io = Io::new(
            client,
            draft.name,
            context.clone(),
            setup.state_dir,
            format!("{context} ({server})"),
            flow::Context {
                host: crate::cli::settings::host_of(&server),
            },
            VERIFY,
        );
        // Done only once every node's registries.yaml holds the change.
        let io = if draft.name == values::CONTAINERD_REGISTRY {
            io.with_registry_nodes(crate::node::Pool::new(setup.ssh))
        } else {
            io
        };
        Ok(FormIo::new(io, kept))
    }
}

/// A settings form.
pub struct SettingForm {
    pub name: &'static str,
    pub kind: Kind,
    /// `RemoveCa`: the fingerprint it starts with (the CA selected).
    pub fingerprint: String,
    /// `RemoveCa`: the CAs of the bundle as the view listed them.
    pub listed: Vec<String>,
}

impl SettingForm {
    pub fn new(name: &'static str, kind: Kind) -> SettingForm {
        SettingForm {
            name,
            kind,
            fingerprint: String::new(),
            listed: Vec::new(),
        }
    }
}

/// The text of field 0 (`pasted`), or of the file field 1 names when it
/// is given (the file wins); the draft notes which, and a file that
/// cannot be read.
fn pasted_or_file(
    fields: &[Field],
    draft: &mut SettingDraft,
    pasted: &'static str,
) -> Zeroizing<String> {
    let text = |i: usize| fields.get(i).map(Field::value).unwrap_or_default();
    let path = text(1);
    if path.trim().is_empty() {
        draft.at = pasted;
        return text(0);
    }
    draft.at = "file";
    read_file(path.trim()).unwrap_or_else(|e| {
        draft.refused.push(("file", e));
        Zeroizing::default()
    })
}

/// A pasted private key, described without a byte of it.
fn key_summary(text: &str) -> String {
    if text.trim().is_empty() {
        return String::new();
    }
    let lines = text.lines().count();
    let kind = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("-----BEGIN "))
        .map(|l| l.trim_end_matches('-').to_string())
        .unwrap_or_else(|| "no PEM block".into());
    format!("{lines} lines, {kind}")
}

/// A field's text, or, when it is one line that is no PEM, the file it names.
fn pem_or_file(text: &str) -> Result<Zeroizing<String>, String> {
    let t = text.trim();
    if t.is_empty() || t.contains("-----BEGIN") || t.contains('\n') {
        return Ok(Zeroizing::new(text.to_string()));
    }
    read_file(t)
}

fn read_file(path: &str) -> Result<Zeroizing<String>, String> {
    let f = std::fs::File::open(path).map_err(|e| format!("{path} cannot be read: {e}"))?;
    crate::cli::settings::read_all(f).map_err(|e| format!("{path} cannot be read: {e}"))
}

/// `ssl-parameters` as Harvester stores it: the fields given, or nothing
/// (Harvester's default) when both are empty.
fn ssl_parameters(protocols: &str, ciphers: &str) -> String {
    let mut parts = Vec::new();
    for (key, v) in [("protocols", protocols.trim()), ("ciphers", ciphers.trim())] {
        if !v.is_empty() {
            parts.push(format!("\"{key}\":{}", serde_json::Value::from(v)));
        }
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!("{{{}}}", parts.join(","))
    }
}

/// A field of a JSON object, as Go's decoder finds it (any case).
fn json_field(value: &str, key: &str) -> String {
    let Ok(serde_json::Value::Object(m)) = serde_json::from_str(value) else {
        return String::new();
    };
    m.iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(key))
        .and_then(|(_, v)| v.as_str())
        .unwrap_or("")
        .to_string()
}

/// The certificates of PEM text, a line each, as the form lists them.
fn listed(pem: &str) -> Vec<String> {
    ca_bundle::certificates(pem)
        .iter()
        .map(|c| {
            format!(
                "  {}  NotAfter {}  {}  sha256 {}",
                c.subject,
                crate::creds::certs::format_expiry(c.not_after),
                if c.is_ca { "CA" } else { "not a CA" },
                &c.sha256[..16]
            )
        })
        .collect()
}

impl FormSpec for SettingForm {
    type Change = SettingFormChange;
    const NAME: &'static str = "settings";

    fn title(&self) -> String {
        match (self.kind, self.name) {
            (Kind::AddCa, _) => " add CAs to additional-ca (paste PEM, or a file path) ".into(),
            (Kind::RemoveCa, _) => {
                " remove a CA from additional-ca (its SHA-256, 8+ digits) ".into()
            }
            (Kind::Rollback, n) => format!(" {n}: back to the value before the last change "),
            (Kind::Edit, values::SSL_CERTIFICATES) => {
                " ssl-certificates (PEM pasted, or a file path; the key is never shown) ".into()
            }
            (Kind::Edit, n) => format!(" {n} "),
        }
    }

    fn fields(&self) -> Vec<Field> {
        match (self.kind, self.name) {
            (Kind::AddCa, _) => vec![Field::text("pem"), Field::line("file")],
            (Kind::RemoveCa, _) => {
                let mut f = Field::line("fingerprint");
                f.set(&self.fingerprint);
                vec![f]
            }
            (Kind::Rollback, _) => Vec::new(),
            (Kind::Edit, values::ADDITIONAL_CA) => vec![Field::text("bundle"), Field::line("file")],
            (Kind::Edit, values::SSL_CERTIFICATES) => vec![
                Field::text("cert"),
                Field::secret_text("key", key_summary),
                Field::text("ca"),
                Field::line("host"),
            ],
            (Kind::Edit, values::SSL_PARAMETERS) => {
                vec![Field::line("protocols"), Field::line("ciphers")]
            }
            (Kind::Edit, _) => vec![Field::text("value")],
        }
    }

    fn change(&self) -> SettingFormChange {
        SettingFormChange {
            name: self.name,
            kind: self.kind,
        }
    }

    fn draft(&self, fields: &[Field], _: TargetChoice) -> SettingDraft {
        let text = |i: usize| fields.get(i).map(Field::value).unwrap_or_default();
        let mut draft = SettingDraft {
            name: self.name,
            edit: Edit::Rollback,
            at: self.name,
            refused: Vec::new(),
            host: None,
        };
        let edit = match (self.kind, self.name) {
            (Kind::AddCa, _) => Edit::AddCa(pasted_or_file(fields, &mut draft, "pem")),
            (Kind::RemoveCa, _) => {
                draft.at = "fingerprint";
                Edit::RemoveCa(text(0).trim().to_string())
            }
            (Kind::Rollback, _) => Edit::Rollback,
            (Kind::Edit, values::ADDITIONAL_CA) => {
                let bundle = pasted_or_file(fields, &mut draft, "bundle");
                Edit::Value(SettingValue(bundle))
            }
            (Kind::Edit, values::SSL_CERTIFICATES) => {
                draft.at = "cert";
                let mut part = |i: usize, field: &'static str| {
                    pem_or_file(&text(i)).unwrap_or_else(|e| {
                        draft.refused.push((field, e));
                        Zeroizing::default()
                    })
                };
                let s = SslCertificates {
                    public_certificate: part(0, "cert"),
                    private_key: part(1, "key"),
                    ca: part(2, "ca"),
                };
                let host = text(3).trim().to_string();
                draft.host = (!host.is_empty()).then_some(host);
                let all_empty = s.public_certificate.trim().is_empty()
                    && s.private_key.trim().is_empty()
                    && s.ca.trim().is_empty();
                if all_empty {
                    Edit::Value(SettingValue::new(""))
                } else {
                    Edit::Value(SettingValue(s.to_json()))
                }
            }
            (Kind::Edit, values::SSL_PARAMETERS) => {
                draft.at = "protocols";
                Edit::Value(SettingValue::new(&ssl_parameters(&text(0), &text(1))))
            }
            (Kind::Edit, _) => {
                draft.at = "value";
                Edit::Value(SettingValue::new(text(0).trim_end_matches(['\n', '\r'])))
            }
        };
        draft.edit = edit;
        draft
    }

    fn fixed_target(&self) -> Option<(&'static str, String)> {
        Some(("cluster-wide setting", CLUSTER.into()))
    }

    fn walk_name(&self) -> Option<&'static str> {
        Some(self.name)
    }

    /// An edit starts from the value the cluster stores (empty: Harvester's
    /// default); `ssl-certificates` never, its key is not shown.
    fn fill(
        &self,
        fields: &mut [Field],
        walk: &crate::flows::engine::Walk<SettingFormChange>,
    ) -> bool {
        let Some(facts) = &walk.facts else {
            return false;
        };
        if self.kind != Kind::Edit || self.name == values::SSL_CERTIFICATES {
            return false;
        }
        let value: &str = &facts.setting.current.value;
        match self.name {
            values::SSL_PARAMETERS => {
                let (p, c) = (json_field(value, "protocols"), json_field(value, "ciphers"));
                for (field, v) in fields.iter_mut().zip([p, c]) {
                    field.set(&v);
                }
            }
            _ => {
                if let Some(f) = fields.first_mut() {
                    f.set(value);
                }
            }
        }
        true
    }

    fn notes(&self) -> Vec<String> {
        match (self.kind, self.name) {
            (Kind::RemoveCa, _) => {
                let mut out = vec!["the bundle's CAs:".to_string()];
                out.extend(self.listed.iter().cloned());
                out
            }
            (Kind::Rollback, _) => Vec::new(),
            (Kind::Edit, values::CONTAINERD_REGISTRY) => vec![
                "prefilled from the value Harvester stores: it removes Configs[*].Auth after syncing (the credentials move to fleet-local secrets), so passwords are not shown here; give auth again only to change it".into(),
            ],
            (Kind::Edit, values::SSL_CERTIFICATES) => vec![
                "not prefilled: the current key is never shown. Every field empty: reset to Harvester's own certificate".into(),
                "host: the address the cluster is reached by (the certificate must cover it); the kubeconfig's host is checked too".into(),
            ],
            (Kind::Edit, values::SSL_PARAMETERS) => vec![format!(
                "protocols from {} (space-separated); both empty: the ingress's defaults",
                values::SSL_PROTOCOLS.join(" ")
            )],
            _ => Vec::new(),
        }
    }

    /// The certificates of the bundle or the CAs being added, listed as
    /// they are typed (problems with them are at the field).
    fn notes_for(&self, fields: &[Field]) -> Vec<String> {
        let mut out = self.notes();
        let pem_field = matches!(
            (self.kind, self.name),
            (Kind::AddCa, _) | (Kind::Edit, values::ADDITIONAL_CA)
        );
        if !pem_field {
            return out;
        }
        let file = fields.get(1).map(Field::value).unwrap_or_default();
        let text = if file.trim().is_empty() {
            fields.first().map(Field::value).unwrap_or_default()
        } else {
            read_file(file.trim()).unwrap_or_default()
        };
        let certs = listed(&text);
        if !certs.is_empty() {
            out.push(format!("{} certificate(s):", certs.len()));
            out.extend(certs);
        }
        out
    }
}

impl App {
    /// The lines of `:settings` that can be selected, in order.
    pub fn settings_items(&self) -> Vec<Item> {
        let mut out = Vec::new();
        let described = self.settings.as_ref().map(|s| s.described.as_slice());
        for name in values::NAMES {
            out.push(Item { name, ca: None });
            if name != values::ADDITIONAL_CA {
                continue;
            }
            let certs = described
                .and_then(|d| d.iter().find(|(n, _, _)| *n == name))
                .and_then(|(_, _, d)| d.detail["certificates"].as_array().cloned())
                .unwrap_or_default();
            for c in certs {
                let sha = c["sha256"].as_str().unwrap_or_default().to_string();
                let subject = c["subject"].as_str().unwrap_or_default().to_string();
                out.push(Item {
                    name,
                    ca: Some((sha, subject)),
                });
            }
        }
        out
    }

    fn selected_item(&self) -> Option<Item> {
        let items = self.settings_items();
        let i = self
            .settings_view
            .selected
            .min(items.len().saturating_sub(1));
        items.get(i).cloned()
    }

    /// j/k, arrows, g/G move the selection; false when the key is not one of them.
    pub(super) fn key_settings_view(&mut self, code: KeyCode) -> bool {
        let last = self.settings_items().len().saturating_sub(1);
        let s = &mut self.settings_view.selected;
        match code {
            KeyCode::Char('j') | KeyCode::Down => *s = (*s + 1).min(last),
            KeyCode::Char('k') | KeyCode::Up => *s = s.saturating_sub(1).min(last),
            KeyCode::Char('g') | KeyCode::Home => *s = 0,
            KeyCode::Char('G') | KeyCode::End => *s = last,
            _ => return false,
        }
        true
    }

    /// `e`, `a`, `d`, `b` in `:settings`: the form for the selected line.
    pub(super) fn open_settings_form(&mut self, key: char) -> Vec<Effect> {
        let what = match key {
            'a' => "adding a CA",
            'd' => "removing a CA",
            'b' => "rolling a setting back",
            _ => "editing a setting",
        };
        if self.read_only {
            self.flash = Some(Flash {
                error: true,
                text: format!("{what} changes the cluster: refused in read-only mode"),
            });
            return Vec::new();
        }
        let Some(item) = self.selected_item() else {
            return Vec::new();
        };
        let refuse = |app: &mut App, text: String| {
            app.flash = Some(Flash { error: true, text });
            Vec::new()
        };
        let form = match key {
            'a' | 'd' if item.name != values::ADDITIONAL_CA => {
                return refuse(
                    self,
                    format!("{what}: select additional-ca or one of its CAs first"),
                );
            }
            'a' => SettingForm::new(values::ADDITIONAL_CA, Kind::AddCa),
            'd' => {
                let listed = self
                    .settings_items()
                    .into_iter()
                    .filter_map(|i| i.ca)
                    .map(|(sha, subject)| format!("  {}  {subject}", &sha[..sha.len().min(16)]))
                    .collect();
                SettingForm {
                    fingerprint: item
                        .ca
                        .map(|(sha, _)| sha[..sha.len().min(16)].to_string())
                        .unwrap_or_default(),
                    listed,
                    ..SettingForm::new(values::ADDITIONAL_CA, Kind::RemoveCa)
                }
            }
            'b' if !flow::can_roll_back(item.name) => {
                return refuse(
                    self,
                    format!(
                        "{} has no rollback: its old value holds a private key, which harvcred never keeps; edit it (e) with every field empty to reset it to Harvester's own certificate",
                        item.name
                    ),
                );
            }
            'b' => SettingForm::new(item.name, Kind::Rollback),
            _ => SettingForm::new(item.name, Kind::Edit),
        };
        self.open_form(form)
    }
}

#[cfg(test)]
pub(crate) mod tests;
