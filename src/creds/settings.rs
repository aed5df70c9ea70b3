//! Certificate-related Harvester settings: `auto-rotate-rke2-certs` (when
//! would it fire), `ssl-certificates` and `additional-ca` (when do the
//! certificates in them expire).
//!
//! The auto-rotate controller only looks at the kube-apiserver serving
//! certificate on :6443 and rotates when `now + expiringInHours > NotAfter`;
//! it cannot fix certificates that have already expired (harvester#9351).

use super::certs::{CertAssessment, CertFile, parse_pem_str};
use super::level::{Finding, Level, Thresholds};
use serde::Serialize;
use time::{Duration, OffsetDateTime};
use zeroize::Zeroizing;

/// Name of the setting.
pub const AUTO_ROTATE: &str = "auto-rotate-rke2-certs";
/// Largest `expiringInHours` the webhook accepts (24·365−1).
pub const MAX_EXPIRING_IN_HOURS: i64 = 8759;

/// The `auto-rotate-rke2-certs` value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct AutoRotate {
    /// `enable`
    pub enable: bool,
    /// `expiringInHours`
    pub expiring_in_hours: i64,
}

impl Default for AutoRotate {
    /// Harvester's default: off, 240 hours (10 days).
    fn default() -> Self {
        AutoRotate {
            enable: false,
            expiring_in_hours: 240,
        }
    }
}

/// Why a setting value was refused (as Harvester's webhook words it where it has words).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettingError {
    /// Not JSON (position only).
    #[error("{setting}: the value is not valid JSON (line {line}, column {column})")]
    Json {
        /// Setting name.
        setting: &'static str,
        /// Line.
        line: usize,
        /// Column.
        column: usize,
    },
    /// Wrong type or range.
    #[error("{setting}: {message}")]
    Invalid {
        /// Setting name.
        setting: &'static str,
        /// Harvester's message where it has one.
        message: String,
    },
}

fn json_object(
    setting: &'static str,
    value: &str,
) -> Result<serde_json::Map<String, serde_json::Value>, SettingError> {
    let v: serde_json::Value = serde_json::from_str(value).map_err(|e| SettingError::Json {
        setting,
        line: e.line(),
        column: e.column(),
    })?;
    match v {
        serde_json::Value::Object(m) => Ok(m),
        _ => Err(SettingError::Invalid {
            setting,
            message: "the value must be a JSON object".into(),
        }),
    }
}

/// Looks a field up case-insensitively, as Go's JSON decoder does.
fn field<'a>(
    m: &'a serde_json::Map<String, serde_json::Value>,
    name: &str,
) -> Option<&'a serde_json::Value> {
    m.iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v)
}

impl AutoRotate {
    /// Parses and validates like the webhook; an empty value is the default.
    pub fn parse(value: &str) -> Result<Self, SettingError> {
        if value.trim().is_empty() {
            return Ok(Self::default());
        }
        let bad = |message: &str| SettingError::Invalid {
            setting: AUTO_ROTATE,
            message: message.to_string(),
        };
        let m = json_object(AUTO_ROTATE, value)?;
        let enable = match field(&m, "enable") {
            None | Some(serde_json::Value::Null) => false,
            Some(serde_json::Value::Bool(b)) => *b,
            Some(_) => return Err(bad("enable must be true or false")),
        };
        let hours = match field(&m, "expiringInHours") {
            None | Some(serde_json::Value::Null) => 0,
            Some(serde_json::Value::Number(n)) => n
                .as_i64()
                .ok_or_else(|| bad("expiringInHours must be a whole number"))?,
            Some(_) => return Err(bad("expiringInHours must be a whole number")),
        };
        let r = AutoRotate {
            enable,
            expiring_in_hours: hours,
        };
        r.validate()?;
        Ok(r)
    }

    /// The webhook's range check (its messages, typo included).
    pub fn validate(&self) -> Result<(), SettingError> {
        let bad = |message: &str| SettingError::Invalid {
            setting: AUTO_ROTATE,
            message: message.to_string(),
        };
        if self.expiring_in_hours <= 0 {
            return Err(bad("expiringInHours can't be negative or zero"));
        }
        if self.expiring_in_hours > MAX_EXPIRING_IN_HOURS {
            return Err(bad("expiringInHours can't be large than 8759"));
        }
        Ok(())
    }

    /// JSON text to write back.
    pub fn to_json(&self) -> String {
        serde_json::json!({"enable": self.enable, "expiringInHours": self.expiring_in_hours})
            .to_string()
    }

    /// When the controller would rotate, given the apiserver cert's not_after.
    pub fn fires_at(&self, apiserver_not_after: OffsetDateTime) -> OffsetDateTime {
        apiserver_not_after - Duration::hours(self.expiring_in_hours)
    }

    /// What the setting will do for this apiserver certificate at `now`.
    pub fn outlook(
        &self,
        apiserver_not_after: OffsetDateTime,
        now: OffsetDateTime,
    ) -> RotateOutlook {
        if apiserver_not_after <= now {
            RotateOutlook::TooLate
        } else if !self.enable {
            RotateOutlook::Disabled
        } else {
            let at = self.fires_at(apiserver_not_after);
            if at < now {
                RotateOutlook::DueNow
            } else {
                RotateOutlook::FiresAt(at)
            }
        }
    }
}

/// What `auto-rotate-rke2-certs` will do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RotateOutlook {
    /// Off.
    Disabled,
    /// Inside the window: the controller rotates as soon as the control plane is Ready.
    DueNow,
    /// Will rotate at about this time.
    FiresAt(OffsetDateTime),
    /// The certificate has expired: auto-rotation cannot help.
    TooLate,
}

/// Finding for the setting and the apiserver serving certificate.
pub fn auto_rotate_finding(
    setting: &AutoRotate,
    apiserver_not_after: OffsetDateTime,
    now: OffsetDateTime,
) -> Finding {
    let subject = AUTO_ROTATE;
    let expiry = super::certs::format_expiry(apiserver_not_after);
    match setting.outlook(apiserver_not_after, now) {
        RotateOutlook::TooLate => Finding::new(
            Level::Critical,
            subject,
            format!(
                "the kube-apiserver serving certificate expired ({expiry}); auto-rotation cannot fix expired certificates: on each control-plane node stop rke2-server, run `rke2 certificate rotate`, start it, then restart rancher-system-agent"
            ),
        ),
        RotateOutlook::Disabled => Finding::new(
            Level::Ok,
            subject,
            format!(
                "off (the default, because rotation restarts the control plane); the kube-apiserver certificate expires {expiry}; RKE2 renews it when rke2-server restarts within its renewal window (120 days before expiry from the May 2025 RKE2 releases, 90 before; each node's certificates say which applies)"
            ),
        ),
        RotateOutlook::DueNow => Finding::new(
            Level::Warn,
            subject,
            format!(
                "rotation is due now (the kube-apiserver certificate expires {expiry}, within {} h): Rancher rotates certificates and restarts rke2-server on each control-plane node once the control plane is Ready",
                setting.expiring_in_hours
            ),
        ),
        RotateOutlook::FiresAt(at) => Finding::new(
            Level::Ok,
            subject,
            format!(
                "rotates at about {} ({} h before the kube-apiserver certificate expires {expiry}); that restarts rke2-server on every control-plane node",
                super::certs::format_expiry(at),
                setting.expiring_in_hours
            ),
        ),
    }
}

/// The certificates of the `ssl-certificates` setting (`ca` and
/// `publicCertificate`; the private key is only checked for presence and never kept).
pub fn ssl_certificates(value: &str) -> Result<Vec<CertFile>, SettingError> {
    const NAME: &str = "ssl-certificates";
    if value.trim().is_empty() {
        return Ok(Vec::new());
    }
    let value = Zeroizing::new(value.to_string());
    let m = json_object(NAME, &value)?;
    let text = |k: &str| -> Result<String, SettingError> {
        match field(&m, k) {
            None | Some(serde_json::Value::Null) => Ok(String::new()),
            Some(serde_json::Value::String(s)) => Ok(s.clone()),
            Some(_) => Err(SettingError::Invalid {
                setting: NAME,
                message: format!("{k} must be a string"),
            }),
        }
    };
    let ca = text("ca")?;
    let public = text("publicCertificate")?;
    let has_key = match field(&m, "privateKey") {
        Some(serde_json::Value::String(s)) => !s.trim().is_empty(),
        _ => false,
    };
    if ca.is_empty() && public.is_empty() && !has_key {
        return Ok(Vec::new()); // the internal certificate is used
    }
    if public.is_empty() || !has_key {
        return Err(SettingError::Invalid {
            setting: NAME,
            message: "publicCertificate and privateKey are both needed".into(),
        });
    }
    let mut out = vec![parse_pem_str("ssl-certificates publicCertificate", &public)];
    if !ca.is_empty() {
        out.push(parse_pem_str("ssl-certificates ca", &ca));
    }
    Ok(out)
}

/// The certificates of the `additional-ca` setting (a plain PEM bundle).
pub fn additional_ca(value: &str) -> Vec<CertFile> {
    if value.trim().is_empty() {
        Vec::new()
    } else {
        vec![parse_pem_str("additional-ca", value)]
    }
}

/// Judges certificates from settings (nothing renews them).
pub fn setting_cert_findings(
    files: &[CertFile],
    now: OffsetDateTime,
    t: &Thresholds,
) -> (Vec<CertAssessment>, Vec<Finding>) {
    let mut assessed = Vec::new();
    let mut findings = Vec::new();
    for f in files {
        let (a, problems) = super::certs::assess_file(f, now, t);
        findings.extend(problems);
        assessed.extend(a);
    }
    (assessed, findings)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::creds::certs::tests::{NOW, make_chain};

    #[test]
    fn auto_rotate_parse_like_the_webhook() {
        assert_eq!(AutoRotate::parse("").unwrap(), AutoRotate::default());
        let r = AutoRotate::parse(r#"{"enable":true,"expiringInHours":720}"#).unwrap();
        assert!(r.enable);
        assert_eq!(r.expiring_in_hours, 720);
        assert_eq!(AutoRotate::parse(&r.to_json()).unwrap(), r);
        let msg = |v: &str| AutoRotate::parse(v).unwrap_err().to_string();
        assert_eq!(
            msg(r#"{"enable":true,"expiringInHours":0}"#),
            "auto-rotate-rke2-certs: expiringInHours can't be negative or zero"
        );
        assert_eq!(
            msg(r#"{"enable":true,"expiringInHours":-5}"#),
            "auto-rotate-rke2-certs: expiringInHours can't be negative or zero"
        );
        assert_eq!(
            msg(r#"{"enable":true,"expiringInHours":8760}"#),
            "auto-rotate-rke2-certs: expiringInHours can't be large than 8759"
        );
        assert!(AutoRotate::parse(r#"{"enable":true,"expiringInHours":8759}"#).is_ok());
        assert!(msg(r#"{"enable":"yes","expiringInHours":5}"#).contains("enable"));
        assert!(msg(r#"{"enable":true,"expiringInHours":1.5}"#).contains("whole number"));
        assert!(msg("{").contains("not valid JSON"));
    }

    #[test]
    fn when_auto_rotate_fires() {
        let on = AutoRotate {
            enable: true,
            expiring_in_hours: 240,
        };
        let not_after = NOW + Duration::days(30);
        assert_eq!(
            on.outlook(not_after, NOW),
            RotateOutlook::FiresAt(NOW + Duration::days(20))
        );
        let f = auto_rotate_finding(&on, not_after, NOW);
        assert_eq!(f.level, Level::Ok);
        assert!(
            f.message
                .contains("rotates at about Dec 19, 2026 12:00 UTC"),
            "{}",
            f.message
        );
        assert_eq!(
            on.outlook(NOW + Duration::days(5), NOW),
            RotateOutlook::DueNow
        );
        assert_eq!(
            auto_rotate_finding(&on, NOW + Duration::days(5), NOW).level,
            Level::Warn
        );
        let off = AutoRotate::default();
        assert_eq!(off.outlook(not_after, NOW), RotateOutlook::Disabled);
        assert!(
            auto_rotate_finding(&off, not_after, NOW)
                .message
                .contains("off")
        );
        let late = auto_rotate_finding(&on, NOW - Duration::hours(1), NOW);
        assert_eq!(late.level, Level::Critical);
        assert!(late.message.contains("cannot fix expired"));
    }

    #[test]
    fn ssl_certificates_and_additional_ca() {
        let (leaf, ca) = make_chain(
            "corp-ca",
            "harvester.corp",
            NOW - Duration::days(300),
            NOW + Duration::days(20),
        );
        let v = serde_json::json!({"ca": ca, "publicCertificate": leaf, "privateKey": "-----BEGIN PRIVATE KEY-----\nsecretkeymaterial\n-----END PRIVATE KEY-----\n"}).to_string();
        let files = ssl_certificates(&v).unwrap();
        assert_eq!(files.len(), 2);
        let (a, problems) = setting_cert_findings(&files, NOW, &Thresholds::default());
        assert!(problems.is_empty());
        let leaf_a = a.iter().find(|x| !x.cert.is_ca).unwrap();
        assert_eq!(leaf_a.level, Level::Warn);
        assert!(
            leaf_a.message.contains("replace it before it expires"),
            "{}",
            leaf_a.message
        );
        // 100 days: no RKE2 renewal window for a user certificate.
        let (leaf, _) = make_chain(
            "corp-ca",
            "harvester.corp",
            NOW - Duration::days(300),
            NOW + Duration::days(100),
        );
        let v = serde_json::json!({"publicCertificate": leaf, "privateKey": "k"}).to_string();
        let (a, _) =
            setting_cert_findings(&ssl_certificates(&v).unwrap(), NOW, &Thresholds::default());
        assert_eq!(a[0].level, Level::Ok);
        assert!(ssl_certificates("{}").unwrap().is_empty());
        assert!(ssl_certificates("").unwrap().is_empty());
        let err = ssl_certificates(r#"{"publicCertificate":"x"}"#).unwrap_err();
        assert!(err.to_string().contains("privateKey"));
        let err = ssl_certificates(r#"{"privateKey":"topsecret", "#).unwrap_err();
        assert!(!err.to_string().contains("topsecret"));

        let (_, ca) = make_chain(
            "old-corp-ca",
            "x",
            NOW - Duration::days(1),
            NOW + Duration::days(1),
        );
        let files = additional_ca(&ca);
        let (a, _) = setting_cert_findings(&files, NOW, &Thresholds::default());
        assert!(a[0].cert.is_ca);
        assert!(additional_ca("  ").is_empty());
        let (_, problems) =
            setting_cert_findings(&additional_ca("not pem"), NOW, &Thresholds::default());
        assert_eq!(problems[0].level, Level::Unknown);
    }
}
