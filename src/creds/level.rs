//! Severity levels, the thresholds that map "days left" onto them, and findings.
//!
//! Every check in `creds` ends in a [`Finding`]: a level for colour and exit
//! codes, and a message that tells the operator what to do next.

use serde::{Deserialize, Serialize};
use std::fmt;

/// How bad something is, ordered from best to worst so that `max` is "worst of".
///
/// `Unknown` sorts last (worst): a file that cannot be read or parsed needs a
/// human as much as an expired certificate does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Level {
    /// Nothing to do.
    Ok,
    /// Inside RKE2's renewal window: the next start of rke2-server/agent renews it.
    RenewsAtRestart,
    /// Needs attention soon.
    Warn,
    /// Needs attention now (for certificates: Harvester's upgrade pre-check fails).
    Critical,
    /// Already expired.
    Expired,
    /// Could not be judged (unreadable, unparsable, missing).
    Unknown,
}

impl Level {
    /// Short lower-case name, as shown in tables and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Ok => "ok",
            Level::RenewsAtRestart => "renews-at-restart",
            Level::Warn => "warn",
            Level::Critical => "critical",
            Level::Expired => "expired",
            Level::Unknown => "unknown",
        }
    }

    /// Exit code in the monitoring convention (0 ok, 1 warning, 2 critical, 3 unknown).
    pub fn exit_code(self) -> i32 {
        match self {
            Level::Ok | Level::RenewsAtRestart => 0,
            Level::Warn => 1,
            Level::Critical | Level::Expired => 2,
            Level::Unknown => 3,
        }
    }

    /// The worse of two levels.
    pub fn worse(self, other: Level) -> Level {
        self.max(other)
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The worst level of a set; `Ok` for an empty set.
pub fn worst<I: IntoIterator<Item = Level>>(levels: I) -> Level {
    levels.into_iter().max().unwrap_or(Level::Ok)
}

/// The worst level among findings; `Ok` when there are none.
pub fn worst_of(findings: &[Finding]) -> Level {
    worst(findings.iter().map(|f| f.level))
}

/// Day thresholds for expiring things. Defaults follow RKE2 (renews leaf
/// certificates within 120 days of expiry when it starts) and Harvester (the
/// upgrade pre-check fails when a certificate expires within 7 days).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Thresholds {
    /// At or below this many days left: inside RKE2's renew-at-start window.
    pub renew_at_restart_days: i64,
    /// At or below this many days left: warn.
    pub warn_days: i64,
    /// At or below this many days left: critical.
    pub critical_days: i64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            renew_at_restart_days: 120,
            warn_days: 30,
            critical_days: 7,
        }
    }
}

/// A configuration mistake in [`Thresholds`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "certificate thresholds must satisfy 0 <= critical_days ({critical}) <= warn_days ({warn}) <= renew_at_restart_days ({renew})"
)]
pub struct ThresholdsError {
    critical: i64,
    warn: i64,
    renew: i64,
}

impl Thresholds {
    /// Checks the ordering, so a typo in the config file cannot silence warnings.
    pub fn validate(&self) -> Result<(), ThresholdsError> {
        if 0 <= self.critical_days
            && self.critical_days <= self.warn_days
            && self.warn_days <= self.renew_at_restart_days
        {
            Ok(())
        } else {
            Err(ThresholdsError {
                critical: self.critical_days,
                warn: self.warn_days,
                renew: self.renew_at_restart_days,
            })
        }
    }

    /// Level for a remaining lifetime in seconds (negative or zero: expired).
    /// Days are counted down (a certificate with 7 d 3 h left has 7 days left).
    pub fn level_for_remaining(&self, remaining_secs: i64) -> Level {
        if remaining_secs <= 0 {
            return Level::Expired;
        }
        let days = remaining_secs / 86_400;
        if days <= self.critical_days {
            Level::Critical
        } else if days <= self.warn_days {
            Level::Warn
        } else if days <= self.renew_at_restart_days {
            Level::RenewsAtRestart
        } else {
            Level::Ok
        }
    }
}

/// One judged fact: what it is about, how bad, and what to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// How bad.
    pub level: Level,
    /// What it is about (a path, a setting name, "rancher password", ...).
    pub subject: String,
    /// What is wrong and what to do about it. Never contains a secret.
    pub message: String,
}

impl Finding {
    /// A finding.
    pub fn new(level: Level, subject: impl Into<String>, message: impl Into<String>) -> Self {
        Finding {
            level,
            subject: subject.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}] {}: {}", self.level, self.subject, self.message)
    }
}

/// Sorts findings worst first, then by subject, so tables are stable.
pub fn sort_findings(findings: &mut [Finding]) {
    findings.sort_by(|a, b| {
        b.level
            .cmp(&a.level)
            .then_with(|| a.subject.cmp(&b.subject))
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_are_ordered_by_severity() {
        assert!(Level::Ok < Level::RenewsAtRestart);
        assert!(Level::RenewsAtRestart < Level::Warn);
        assert!(Level::Warn < Level::Critical);
        assert!(Level::Critical < Level::Expired);
        assert!(Level::Expired < Level::Unknown);
        assert_eq!(
            worst([Level::Warn, Level::Ok, Level::Critical]),
            Level::Critical
        );
        assert_eq!(worst([]), Level::Ok);
        assert_eq!(Level::Warn.worse(Level::Ok), Level::Warn);
    }

    #[test]
    fn exit_codes_follow_monitoring_convention() {
        assert_eq!(Level::Ok.exit_code(), 0);
        assert_eq!(Level::RenewsAtRestart.exit_code(), 0);
        assert_eq!(Level::Warn.exit_code(), 1);
        assert_eq!(Level::Critical.exit_code(), 2);
        assert_eq!(Level::Expired.exit_code(), 2);
        assert_eq!(Level::Unknown.exit_code(), 3);
    }

    #[test]
    fn default_thresholds_map_days() {
        let t = Thresholds::default();
        let d = 86_400;
        assert_eq!(t.level_for_remaining(400 * d), Level::Ok);
        assert_eq!(t.level_for_remaining(121 * d), Level::Ok);
        assert_eq!(t.level_for_remaining(120 * d), Level::RenewsAtRestart);
        assert_eq!(t.level_for_remaining(31 * d), Level::RenewsAtRestart);
        assert_eq!(t.level_for_remaining(30 * d + 5), Level::Warn);
        assert_eq!(t.level_for_remaining(8 * d), Level::Warn);
        assert_eq!(t.level_for_remaining(7 * d + 3600), Level::Critical);
        assert_eq!(t.level_for_remaining(60), Level::Critical);
        assert_eq!(t.level_for_remaining(0), Level::Expired);
        assert_eq!(t.level_for_remaining(-5 * d), Level::Expired);
    }

    #[test]
    fn thresholds_from_config_and_validation() {
        let t: Thresholds =
            serde_json::from_str(r#"{"warn_days": 28, "critical_days": 14}"#).unwrap();
        assert_eq!(t.renew_at_restart_days, 120);
        assert_eq!(t.warn_days, 28);
        t.validate().unwrap();
        let bad = Thresholds {
            renew_at_restart_days: 10,
            warn_days: 30,
            critical_days: 7,
        };
        assert!(
            bad.validate()
                .unwrap_err()
                .to_string()
                .contains("warn_days (30)")
        );
        assert!(serde_json::from_str::<Thresholds>(r#"{"warn": 3}"#).is_err());
    }

    #[test]
    fn level_names_serialize_kebab_case() {
        assert_eq!(
            serde_json::to_string(&Level::RenewsAtRestart).unwrap(),
            "\"renews-at-restart\""
        );
        assert_eq!(Level::RenewsAtRestart.to_string(), "renews-at-restart");
    }
}
