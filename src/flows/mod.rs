//! Guided walkthroughs on one engine (`engine`). A walk is driven by
//! events (what the operator did, what a request returned) and answers with
//! actions (what to request); it does no I/O itself, so the console, the
//! CLI and the tests drive the same walk. Each change (`proxy`, `password`,
//! `keys`, `certs`) says only what is particular to it (`engine::Change`).
//!
//! Every change takes the same route:
//! edit -> validate -> preview -> dry run -> confirm -> apply -> verify -> done,
//! with back and cancel at every step before apply.

pub mod certs;
pub mod engine;
pub mod keep;
pub mod keys;
pub mod password;
pub mod proxy;
pub mod proxy_io;
pub mod setting;
pub mod setting_edit;
pub mod token;

use serde::Serialize;

/// Where a walkthrough is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Step {
    /// Reading the current value and the facts the checks need.
    Loading,
    /// The operator edits; `Next` validates (synchronously) and moves on
    /// only when nothing blocks.
    Edit,
    /// Old and new side by side, and what the change does.
    Preview,
    /// The server-side dry run is running.
    DryRun,
    /// Waiting for the operator's yes.
    Confirm,
    /// The change is being written.
    Apply,
    /// Following the cluster until it reports the change configured.
    Verify,
    /// Finished (see the flow's result).
    Done,
    /// Left by the operator before anything was written.
    Cancelled,
}

impl Step {
    pub fn label(self) -> &'static str {
        match self {
            Step::Loading => "loading",
            Step::Edit => "edit",
            Step::Preview => "preview",
            Step::DryRun => "dry run",
            Step::Confirm => "confirm",
            Step::Apply => "apply",
            Step::Verify => "verify",
            Step::Done => "done",
            Step::Cancelled => "cancelled",
        }
    }
}

/// How serious a validation problem is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Severity {
    Warning,
    /// Blocks the change: it is not sent.
    Error,
}
