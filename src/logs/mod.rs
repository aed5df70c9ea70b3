//! The log stream model: what a live log pane holds, and how it is
//! sanitised, searched and explained. Pure: no I/O, no SSH, no terminal.
//!
//! The route of a line: the stream task (node/) reads bytes from
//! `journalctl -u rke2-server -f -o short-unix` on a node, splits them into lines, parses
//! each with [`journal`] (timestamp, message), and builds a [`LogLine`], which
//! sanitises the message ([`mod@sanitize`]), caps its length and looks it up in
//! the known-failure table ([`hints`]). Batches of lines reach the app state
//! as a message; the pane pushes them into its [`LogBuffer`] (bounded ring,
//! counts what it drops), calls [`LogView::update`] (incremental search
//! index) and on the next frame asks [`LogView::window`] for the rows to draw.
//! Every step costs O(new lines) or O(screen height), never O(history): the
//! targets are T6–T9 in `reference/reliability-and-performance.md`.

pub mod buffer;
pub mod hints;
pub mod journal;
pub mod level;
pub mod sanitize;
pub mod search;
pub mod view;

pub use buffer::{Limits, LineKind, LogBuffer, LogLine, NodeId, Span};
pub use hints::{Goto, HINTS, Hint, hint_for};
pub use journal::{Resume, ShortEntry, ShortLine, Timestamp, parse_short};
pub use level::level_of;
pub use sanitize::{sanitize, sanitize_str, sanitize_with_spans};
pub use search::{Direction, Jump, MatchIndex, Query};
pub use view::{LogView, Row, Status, Window};
