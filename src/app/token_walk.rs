//! `F` in `:token`: the fix of a joining node's token (`flows::token`) on
//! the generic engine form. The node is the one the view shows looping on
//! rancherd's 502 `cacerts` (or without bootstrap data) when there is
//! exactly one, else the node selected in the table. The token is read on
//! the walk thread from a healthy server and never reaches the console.

use std::time::Duration;

use super::engine_form::{Field, FormSpec};
use super::runner::{ConsoleChange, WalkSetup};
use super::walk::TargetChoice;
use super::{App, Effect, Flash};
use crate::cli::token::{TokenIo, TokenIoError};
use crate::flows::token::TokenFix;

/// How long the fix follows rancherd and the Node (the command line's
/// `--timeout` default).
const FOLLOW: Duration = Duration::from_secs(300);

/// The fix of one node's token.
pub struct TokenFixForm {
    pub node: String,
}

impl FormSpec for TokenFixForm {
    type Change = TokenFix;
    const NAME: &'static str = "token fix";

    fn title(&self) -> String {
        " fix a joining node's token: copied from a healthy server, never shown ".into()
    }
    fn fields(&self) -> Vec<Field> {
        Vec::new()
    }
    fn change(&self) -> TokenFix {
        TokenFix
    }
    fn draft(&self, _: &[Field], _: TargetChoice) {}
    fn fixed_target(&self) -> Option<(&'static str, String)> {
        Some(("node", self.node.clone()))
    }
}

impl ConsoleChange for TokenFix {
    type Io = TokenIo;
    async fn connect(
        setup: WalkSetup,
        targets: Vec<String>,
        _: String,
        _: (),
    ) -> Result<TokenIo, String> {
        let node = targets.into_iter().next().unwrap_or_default();
        TokenIo::connect(
            &setup.kube,
            setup.ssh,
            setup.state_dir,
            Vec::new(),
            node,
            None,
            FOLLOW,
        )
        .await
        .map_err(|TokenIoError { message, .. }| message)
    }
}

impl App {
    /// The node `F` fixes: the only one the view shows not joined, else the
    /// table's selection.
    fn token_fix_node(&self) -> Option<String> {
        let view = self.token_view();
        let joining: Vec<&str> = view
            .nodes
            .iter()
            .filter(|n| n.rancherd_loop.is_some() || n.bootstrap_data == Some(false))
            .map(|n| n.node.as_str())
            .collect();
        match joining[..] {
            [one] => Some(one.to_string()),
            _ => self.selected_row().map(|r| r.info.name.clone()),
        }
    }

    /// `F` in `:token`.
    pub(super) fn open_token_fix_form(&mut self) -> Vec<Effect> {
        if self.read_only {
            self.flash = Some(Flash {
                error: true,
                text: "token fix changes a node: refused in read-only mode".into(),
            });
            return Vec::new();
        }
        match self.token_fix_node() {
            Some(node) => self.open_form(TokenFixForm { node }),
            None => Vec::new(),
        }
    }
}
