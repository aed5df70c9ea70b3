//! The node table's order, as k9s does it: shift and a column's letter sorts
//! by that column, the same key again reverses. Status columns put the worst
//! first, because that is what an operator sorts them for.

use std::cmp::Ordering;
use std::net::IpAddr;

use super::model::{NodeRow, SshState};
use super::natural_cmp;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortColumn {
    Name,
    Role,
    Address,
    Ssh,
    Certs,
    Keys,
    Password,
    Token,
    Proxy,
}

impl SortColumn {
    /// In the table's column order.
    pub const ALL: [SortColumn; 9] = [
        SortColumn::Name,
        SortColumn::Role,
        SortColumn::Address,
        SortColumn::Ssh,
        SortColumn::Certs,
        SortColumn::Keys,
        SortColumn::Password,
        SortColumn::Token,
        SortColumn::Proxy,
    ];

    /// The (shifted) letter that sorts by this column.
    pub fn key(self) -> char {
        match self {
            SortColumn::Name => 'N',
            SortColumn::Role => 'R',
            SortColumn::Address => 'I',
            SortColumn::Ssh => 'S',
            SortColumn::Certs => 'C',
            SortColumn::Keys => 'K',
            SortColumn::Password => 'P',
            SortColumn::Token => 'T',
            // "P" is taken by the password; proXy.
            SortColumn::Proxy => 'X',
        }
    }

    pub fn from_key(c: char) -> Option<SortColumn> {
        SortColumn::ALL.into_iter().find(|s| s.key() == c)
    }

    pub fn label(self) -> &'static str {
        match self {
            SortColumn::Name => "name",
            SortColumn::Role => "role",
            SortColumn::Address => "IP",
            SortColumn::Ssh => "SSH",
            SortColumn::Certs => "certs",
            SortColumn::Keys => "keys",
            SortColumn::Password => "password",
            SortColumn::Token => "token",
            SortColumn::Proxy => "proxy",
        }
    }

    fn worst_first(self) -> bool {
        !matches!(
            self,
            SortColumn::Name | SortColumn::Role | SortColumn::Address
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sort {
    pub column: SortColumn,
    pub reversed: bool,
}

impl Default for Sort {
    fn default() -> Self {
        Sort {
            column: SortColumn::Name,
            reversed: false,
        }
    }
}

impl Sort {
    /// The order after pressing `column`'s key.
    pub fn pressed(self, column: SortColumn) -> Sort {
        Sort {
            column,
            reversed: column == self.column && !self.reversed,
        }
    }

    /// What the table title says; None for the default order.
    pub fn describe(self) -> Option<String> {
        if self == Sort::default() {
            return None;
        }
        let dir = match (self.column.worst_first(), self.reversed) {
            (true, false) => "worst first",
            (true, true) => "best first",
            (false, false) => "ascending",
            (false, true) => "descending",
        };
        Some(format!("by {}, {dir}", self.column.label()))
    }

    /// Rows in this order; ties (and unknown values) fall back to the name.
    pub fn compare(self, a: &NodeRow, b: &NodeRow) -> Ordering {
        let by_column = match self.column {
            SortColumn::Name => Ordering::Equal,
            SortColumn::Role => a.info.role.cmp(&b.info.role),
            SortColumn::Address => address_key(a).cmp(&address_key(b)),
            SortColumn::Ssh => ssh_severity(&a.ssh).cmp(&ssh_severity(&b.ssh)),
            SortColumn::Certs => a.creds.certs.severity().cmp(&b.creds.certs.severity()),
            SortColumn::Keys => a.creds.keys.severity().cmp(&b.creds.keys.severity()),
            SortColumn::Password => a
                .creds
                .password
                .severity()
                .cmp(&b.creds.password.severity()),
            SortColumn::Token => a.creds.token.severity().cmp(&b.creds.token.severity()),
            SortColumn::Proxy => a.creds.proxy.severity().cmp(&b.creds.proxy.severity()),
        };
        let by_column = if self.column.worst_first() {
            by_column.reverse()
        } else {
            by_column
        };
        let o = by_column.then_with(|| natural_cmp(&a.info.name, &b.info.name));
        if self.reversed { o.reverse() } else { o }
    }
}

/// Numeric order of addresses (10.0.0.9 before 10.0.0.10); nodes without one last.
fn address_key(r: &NodeRow) -> (bool, Option<IpAddr>, String) {
    let text = r.info.address.clone().unwrap_or_default();
    let ip = text.parse::<IpAddr>().ok();
    (r.info.address.is_none(), ip, text)
}

fn ssh_severity(s: &SshState) -> u8 {
    match s {
        SshState::Up { .. } => 1,
        SshState::Pending => 0,
        SshState::Down(_) => 2,
    }
}
