//! The keys of each pane, as the help overlay lists them.

use super::View;

pub struct KeyHelp {
    pub key: &'static str,
    pub what: &'static str,
    /// Changes something on the cluster: hidden and refused in read-only mode.
    pub mutating: bool,
}

const fn k(key: &'static str, what: &'static str) -> KeyHelp {
    KeyHelp {
        key,
        what,
        mutating: false,
    }
}

const GLOBAL: &[KeyHelp] = &[
    k(":", "command mode (tab completes)"),
    k("?", "this help"),
    k("esc", "back / close / clear filter"),
    k("r", "read every node's credentials again"),
    k("ctrl-c", "quit (also :q)"),
];

const TABLE: &[KeyHelp] = &[
    k("j / down", "next node"),
    k("k / up", "previous node"),
    k("g / home", "first node"),
    k("G / end", "last node"),
    k("pgdn / ctrl-f", "page down"),
    k("pgup / ctrl-b", "page up"),
    k("enter", "node details"),
    k("/", "filter by name, IP, role or level (crit, warn, ...)"),
    k("N R I S", "sort by name, role, IP, SSH (again: reverse)"),
    k("C K P T X", "sort by certs/keys/password/token/proxy"),
    k("space", "mark / unmark the node (esc clears marks)"),
    k("l", "log of the marked nodes, else of this node"),
];

const LOGS: &[KeyHelp] = &[
    k("k / up / pgup", "scroll up (pauses following)"),
    k("j / down / pgdn", "scroll down"),
    k("G / 0 / end", "back to the newest line, follow"),
    k("g / home", "oldest line held"),
    k("/  n  N", "search (highlights), next / previous match"),
    k("f", "show only the lines matching the search"),
    k("w  t", "wrap long lines, timestamps"),
    k("left / right", "scroll sideways"),
    k("z / F", "fullscreen"),
    k("u", "unit: rke2, rancherd, rancher-system-agent"),
    k("ctrl-s", "save the lines held (state folder's logs/)"),
    k("esc / q", "close (esc clears a search first)"),
];

const DETAIL: &[KeyHelp] = &[
    k("j / down", "next node"),
    k("k / up", "previous node"),
    k("tab / shift-tab", "next / previous credential area"),
    k("1 .. 5", "certificates, keys, password, token, proxy"),
    k("pgdn pgup", "scroll the tab (also ctrl-d ctrl-u)"),
    k("l", "this node's log (rke2-server, rke2-agent on a worker)"),
    KeyHelp {
        key: "N",
        what: "rotate this node's RKE2 certificates by hand",
        mutating: true,
    },
    KeyHelp {
        key: "F",
        what: "fix its expired controller-manager/scheduler certs",
        mutating: true,
    },
    k("esc / q", "back to the node table"),
];

const CERTS: &[KeyHelp] = &[
    k("j k / arrows", "scroll a line"),
    k("g G / home end", "first / last certificate"),
    k("pgdn pgup", "a page down / up"),
    k("/", "filter by node, file, subject or level"),
    KeyHelp {
        key: "a",
        what: "auto-rotation: on/off, expiringInHours (:autorotate)",
        mutating: true,
    },
    KeyHelp {
        key: "R",
        what: "rotate now, every node through Rancher (:rotate)",
        mutating: true,
    },
    KeyHelp {
        key: "N",
        what: "rotate the marked nodes by hand, one at a time (:rotate-node)",
        mutating: true,
    },
    KeyHelp {
        key: "F",
        what: "fix expired controller-manager/scheduler certs (:fix-kcm)",
        mutating: true,
    },
    k("esc / q", "clear the filter, then back"),
];

/// `:keys`, the key x node matrix.
const KEYS: &[KeyHelp] = &[
    k("j k / arrows", "the next / previous key"),
    k("g G / home end", "top / bottom"),
    k("pgdn pgup", "a page down / up"),
    k("R P *", "runtime, persisted, harvcred logged in with it"),
    KeyHelp {
        key: "a",
        what: "add public keys (paste) on the marked nodes, a role, all",
        mutating: true,
    },
    k("space", "mark / unmark the key (esc clears marks)"),
    KeyHelp {
        key: "d",
        what: "remove the marked keys, else the one under the cursor",
        mutating: true,
    },
    k("esc / q", "back"),
];

/// `:token`: the copies of the cluster token (a view, like `token show`).
const TOKEN: &[KeyHelp] = &[
    k("j k / arrows", "scroll a line"),
    k("g G / home end", "top / bottom"),
    k("pgdn pgup", "a page down / up"),
    k(
        "r",
        "read every node again (:token again also re-reads rancherd's log)",
    ),
    KeyHelp {
        key: "F",
        what: "fix the token of the node that cannot join (else the selected node)",
        mutating: true,
    },
    k("esc / q", "back"),
];

/// `:settings`: the other credential settings and the CAs of additional-ca.
const SETTINGS: &[KeyHelp] = &[
    k("j k / arrows", "select the next / previous setting or CA"),
    k("g G / home end", "first / last"),
    KeyHelp {
        key: "e",
        what: "edit the selected setting (preview, dry run, y to apply)",
        mutating: true,
    },
    KeyHelp {
        key: "a",
        what: "additional-ca: add CAs (pasted PEM or a file)",
        mutating: true,
    },
    KeyHelp {
        key: "d",
        what: "additional-ca: remove the selected CA",
        mutating: true,
    },
    KeyHelp {
        key: "b",
        what: "roll back to the value before the last change (not ssl-certificates)",
        mutating: true,
    },
    k("esc / q", "back"),
];

/// An engine walk's form (`engine_form`), as `app::walk` reads its keys.
const FORM: &[KeyHelp] = &[
    k(
        "t",
        "targets: marked nodes (else the selected), a role, all (fields empty)",
    ),
    k("tab / shift-tab", "next / previous field"),
    k("ctrl-r", "show the credentials of the focused URL (proxy)"),
    k(
        "enter",
        "preview per node, then the dry run (in pasted text: on an empty last line)",
    ),
    KeyHelp {
        key: "y",
        what: "apply after a passed dry run",
        mutating: true,
    },
    k("esc / n", "back a step (from the form: cancel)"),
    k(
        "ctrl-x",
        "cancel; applying: start no further node; verifying: stop following",
    ),
    KeyHelp {
        key: "r",
        what: "when done: retry the failed and skipped nodes only",
        mutating: true,
    },
    KeyHelp {
        key: "u",
        what: "when done (proxy): roll back to the value before",
        mutating: true,
    },
    k("enter / esc", "when done: close"),
    k(
        "pgup / pgdn",
        "scroll what the verification said (followed)",
    ),
];

/// The focused pane's keys, then the global ones; mutating keys left out in
/// read-only mode.
pub fn for_view(view: &View, read_only: bool) -> (Vec<&'static KeyHelp>, Vec<&'static KeyHelp>) {
    let pane: &[KeyHelp] = match view {
        View::Nodes => TABLE,
        View::NodeDetail(_) => DETAIL,
        View::Certs => CERTS,
        View::Keys => KEYS,
        View::Token => TOKEN,
        View::Settings => SETTINGS,
        View::Logs => LOGS,
        View::Walk(_) => FORM,
    };
    let keep = |h: &&KeyHelp| !(read_only && h.mutating);
    (
        pane.iter().filter(keep).collect(),
        GLOBAL.iter().filter(keep).collect(),
    )
}
