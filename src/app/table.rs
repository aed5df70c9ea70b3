//! The node table's own state: what it is narrowed to, which node is
//! selected (by name, so it survives re-sorting and new nodes), the first
//! row on screen, the order and the marked nodes.

use std::collections::BTreeSet;

use super::sort::Sort;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TableView {
    pub filter: String,
    pub selected: Option<String>,
    pub offset: usize,
    pub sort: Sort,
    /// Nodes marked with `space` (for `l`, and the targets of a multi-node change).
    pub marked: BTreeSet<String>,
}
