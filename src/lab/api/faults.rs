//! API faults on request, for the fault-matrix tests: the rules in
//! `api-faults.json` in the lab's folder (written by `harvcred lab fault`)
//! make the next N requests that match a method and a path substring fail
//! as a real API server fails: a 500 `InternalError`, a 409 resourceVersion
//! `Conflict`, or no answer at all until the client gives up (a hung
//! apiserver or etcd). The file is looked at on every request and re-armed
//! whenever it changes; without it the API answers normally.
//!
//! With `after`, the request is served first (a write is stored) and only
//! its answer is replaced: the write that landed while its client saw a
//! failure, which is what a retry must not do twice.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use anyhow::{Context, Result};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use super::errors::ApiError;

/// The rules file's name in the lab's folder.
pub const FAULTS_FILE: &str = "api-faults.json";

/// How long a hung request is held before the API lets go with a 504, as
/// the apiserver does after its default request timeout (60 s); a client
/// that gives up earlier closes the stream and the request is dropped then.
pub const HANG_LIMIT: Duration = Duration::from_secs(60);

/// What a faulted request is answered with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Answer {
    /// 500 InternalError.
    #[serde(rename = "500")]
    #[value(name = "500")]
    InternalError,
    /// 409 Conflict: the object was modified since the version the request names.
    #[serde(rename = "409")]
    #[value(name = "409")]
    Conflict,
    /// No answer until the client times out (at most [`HANG_LIMIT`], then 504).
    Hang,
}

impl Answer {
    /// The fault's name in the request log and the matrix.
    pub fn name(self) -> &'static str {
        match self {
            Answer::InternalError => "api-500",
            Answer::Conflict => "api-409",
            Answer::Hang => "api-timeout",
        }
    }

    /// The code the request log records (a hang's eventual 504).
    fn code(self) -> u16 {
        match self {
            Answer::InternalError => 500,
            Answer::Conflict => 409,
            Answer::Hang => 504,
        }
    }
}

/// One armed fault.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rule {
    /// HTTP method (`GET`, `PATCH`, ...; any case), or `*`.
    pub method: String,
    /// A substring of the request's path and query (`settings/http-proxy`,
    /// `dryRun=All`).
    pub path: String,
    pub answer: Answer,
    /// How many of the next matching requests it hits.
    #[serde(default = "one")]
    pub times: u32,
    /// Serve the request first (a write lands) and fail only its answer.
    #[serde(default)]
    pub after: bool,
}

fn one() -> u32 {
    1
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RulesFile {
    pub rules: Vec<Rule>,
}

/// Arms `rules` in lab folder `dir`, replacing any armed before (written
/// whole by rename: the API never reads half a file).
pub fn arm(dir: &Path, rules: &[Rule]) -> Result<()> {
    let path = dir.join(FAULTS_FILE);
    let tmp = dir.join(format!(".{FAULTS_FILE}.tmp"));
    let text = serde_json::to_string_pretty(&RulesFile {
        rules: rules.to_vec(),
    })?;
    std::fs::write(&tmp, text).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, &path).with_context(|| format!("writing {}", path.display()))
}

/// Disarms every fault of lab folder `dir`.
pub fn clear(dir: &Path) -> Result<()> {
    match std::fs::remove_file(dir.join(FAULTS_FILE)) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(e).with_context(|| format!("removing {}", dir.join(FAULTS_FILE).display()))
        }
        _ => Ok(()),
    }
}

/// A fault that hit a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hit {
    pub answer: Answer,
    pub after: bool,
}

impl Hit {
    pub fn name(&self) -> &'static str {
        self.answer.name()
    }

    pub fn code(&self) -> u16 {
        self.answer.code()
    }

    /// The answer, in the apiserver's words (a hang answers only after
    /// [`HANG_LIMIT`], if its client is still there).
    pub async fn respond(&self, info: &serde_json::Value) -> Response {
        let text = |k: &str| info[k].as_str().unwrap_or("").to_string();
        match self.answer {
            Answer::InternalError => ApiError::new(
                500,
                "InternalError",
                "Internal error occurred: etcdserver: request timed out",
            )
            .into_response(),
            Answer::Conflict => {
                let (resource, name) = (text("resource"), text("name"));
                let mut e = ApiError::new(
                    409,
                    "Conflict",
                    format!(
                        "Operation cannot be fulfilled on {resource} \"{name}\": the object has been modified; please apply your changes to the latest version and try again"
                    ),
                );
                let (kind, group) = resource.split_once('.').unwrap_or((&resource, ""));
                e.details = Some(serde_json::json!({"name": name, "group": group, "kind": kind}));
                e.into_response()
            }
            Answer::Hang => {
                tokio::time::sleep(HANG_LIMIT).await;
                ApiError::new(
                    504,
                    "Timeout",
                    "Timeout: request did not complete within requested timeout - context deadline exceeded",
                )
                .into_response()
            }
        }
    }
}

/// The armed rules as last read, with what is left of each.
struct Armed {
    stamp: Option<(SystemTime, u64, u64)>,
    rules: Vec<(Rule, u32)>,
}

/// The lab API's view of its folder's rules file.
pub struct Faults {
    path: Option<PathBuf>,
    armed: Mutex<Armed>,
}

impl Faults {
    /// Faults armed in lab folder `dir`.
    pub fn in_dir(dir: &Path) -> Faults {
        Faults {
            path: Some(dir.join(FAULTS_FILE)),
            armed: Mutex::new(Armed {
                stamp: None,
                rules: Vec::new(),
            }),
        }
    }

    /// The fault for this request, if one is armed for it (counted).
    pub fn hit(&self, method: &http::Method, uri: &http::Uri) -> Option<Hit> {
        let path = self.path.as_ref()?;
        let stamp = std::fs::metadata(path).ok().map(|m| {
            use std::os::unix::fs::MetadataExt;
            (
                m.modified().unwrap_or(SystemTime::UNIX_EPOCH),
                m.ino(),
                m.len(),
            )
        });
        let mut armed = self.armed.lock().ok()?;
        if armed.stamp != stamp {
            armed.stamp = stamp;
            armed.rules = match stamp.and_then(|_| read(path)) {
                Some(f) => f.rules.into_iter().map(|r| (r.clone(), r.times)).collect(),
                None => Vec::new(),
            };
        }
        let target = uri
            .path_and_query()
            .map_or_else(|| uri.path(), |p| p.as_str());
        let (rule, left) = armed.rules.iter_mut().find(|(r, left)| {
            *left > 0
                && (r.method == "*" || r.method.eq_ignore_ascii_case(method.as_str()))
                && target.contains(&r.path)
        })?;
        *left -= 1;
        Some(Hit {
            answer: rule.answer,
            after: rule.after,
        })
    }
}

fn read(path: &Path) -> Option<RulesFile> {
    let text = std::fs::read_to_string(path).ok()?;
    match serde_json::from_str(&text) {
        Ok(f) => Some(f),
        Err(e) => {
            tracing::warn!("{}: {e}; no faults armed", path.display());
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(method: &str, path: &str, answer: Answer, times: u32) -> Rule {
        Rule {
            method: method.into(),
            path: path.into(),
            answer,
            times,
            after: false,
        }
    }

    #[test]
    fn a_rule_hits_the_next_n_matching_requests_and_rearms_when_the_file_changes() {
        let dir = tempfile::tempdir().unwrap();
        let faults = Faults::in_dir(dir.path());
        let patch = http::Method::PATCH;
        let uri: http::Uri = "/apis/harvesterhci.io/v1beta1/settings/http-proxy?dryRun=All"
            .parse()
            .unwrap();
        assert_eq!(faults.hit(&patch, &uri), None);
        arm(
            dir.path(),
            &[rule("patch", "settings/http-proxy", Answer::Conflict, 2)],
        )
        .unwrap();
        assert_eq!(faults.hit(&http::Method::GET, &uri), None);
        let other: http::Uri = "/apis/harvesterhci.io/v1beta1/settings/ssl-parameters"
            .parse()
            .unwrap();
        assert_eq!(faults.hit(&patch, &other), None);
        for _ in 0..2 {
            assert_eq!(faults.hit(&patch, &uri).map(|h| h.name()), Some("api-409"));
        }
        assert_eq!(faults.hit(&patch, &uri), None, "only the next two");
        arm(
            dir.path(),
            &[rule("*", "dryRun=All", Answer::InternalError, 1)],
        )
        .unwrap();
        assert_eq!(faults.hit(&patch, &uri).map(|h| h.code()), Some(500));
        clear(dir.path()).unwrap();
        clear(dir.path()).unwrap();
        assert_eq!(faults.hit(&patch, &uri), None);
    }

    #[tokio::test]
    async fn a_conflict_is_worded_as_the_api_servers_resource_version_conflict() {
        let hit = Hit {
            answer: Answer::Conflict,
            after: false,
        };
        let info =
            serde_json::json!({"resource": "settings.harvesterhci.io", "name": "http-proxy"});
        let resp = hit.respond(&info).await;
        assert_eq!(resp.status(), 409);
        let body = axum::body::to_bytes(resp.into_body(), 1 << 16)
            .await
            .unwrap();
        let status: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(status["reason"], "Conflict");
        assert_eq!(
            status["message"],
            "Operation cannot be fulfilled on settings.harvesterhci.io \"http-proxy\": the object has been modified; please apply your changes to the latest version and try again"
        );
    }
}
