//! The console's log pane: live journals of one node or of the marked nodes,
//! merged, in a bounded [`LogBuffer`], with follow/pause, search, filter and
//! the view toggles of `logs::view`.
//!
//! The pane is state only: opening it emits [`Effect::OpenLogs`] (the runner
//! starts one `node::stream` per node), batches come back as
//! `Msg::LogLines`, closing (esc/q, quit, another pane) emits
//! [`Effect::CloseLogs`], which drops the streams and so ends the remote
//! journalctl. Every line was sanitised when the stream built it; node names
//! and units are sanitised here before they reach the screen.

use std::cell::RefCell;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::{App, Effect, Flash, Role, Target, View};
use crate::logs::{Hint, Limits, LogBuffer, LogLine, LogView, NodeId};
use crate::node::stream::{StreamStatus, valid_unit};

/// Lines a pane holds unless config.toml says otherwise (`log_lines`).
pub const DEFAULT_LINES: usize = 10_000;
/// Journal entries each stream shows before following.
pub const BACKLOG: u32 = 200;
/// What `u` cycles through after each node's own unit.
pub const OTHER_UNITS: [&str; 2] = ["rancherd", "rancher-system-agent"];
/// Units `:logs UNIT` takes without a node (the selected node's).
const KNOWN_UNITS: [&str; 4] = [
    "rke2-server",
    "rke2-agent",
    "rancherd",
    "rancher-system-agent",
];
/// Columns `left`/`right` move.
const HSTEP: usize = 8;

/// One stream to start: the `node`th node of the pane, and its unit (None:
/// decided on the node).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogSource {
    pub node: NodeId,
    pub target: Target,
    pub unit: Option<String>,
}

/// The unit a node's log shows by default: rke2-server on management (and
/// witness) nodes, rke2-agent on workers; unknown roles ask the node.
pub fn default_unit(role: Role) -> Option<&'static str> {
    match role {
        Role::Server | Role::Witness => Some("rke2-server"),
        Role::Worker => Some("rke2-agent"),
        Role::Unknown => None,
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaneNode {
    /// As the table names it (for the stream's target).
    pub name: String,
    /// Sanitised, for the screen.
    pub label: String,
    /// The unit asked for, then the unit the stream reports.
    pub unit: Option<String>,
    pub status: StreamStatus,
}

#[derive(Debug)]
pub struct LogPane {
    /// Batches of an older pane (closed, or replaced by `u`) carry another id.
    pub id: u64,
    pub nodes: Vec<PaneNode>,
    /// The unit chosen with `u` or `:logs ... UNIT`; None: each node's own.
    pub unit: Option<String>,
    pub buf: LogBuffer,
    /// Interior mutability for the one thing drawing changes: the view
    /// remembers the window it last showed (scrolling and `n` start there).
    pub view: RefCell<LogView>,
    pub fullscreen: bool,
    /// The `/` prompt while it is being typed.
    pub search_input: Option<String>,
    /// The newest known-failure line seen, and its node.
    pub hint: Option<(NodeId, &'static Hint)>,
}

impl LogPane {
    /// The node's sanitised name, for line prefixes.
    pub fn label(&self, node: NodeId) -> &str {
        self.nodes.get(node as usize).map_or("?", |n| &n.label)
    }

    /// What the title says the pane shows: `node1 rke2-server`, or the
    /// shared unit of several nodes.
    pub fn unit_label(&self) -> String {
        let mut units: Vec<&str> = self
            .nodes
            .iter()
            .map(|n| n.unit.as_deref().unwrap_or("…"))
            .collect();
        units.sort_unstable();
        units.dedup();
        crate::logs::sanitize_str(&units.join(",")).into_owned()
    }

    fn push(&mut self, node: NodeId, lines: Vec<LogLine>, dropped: u64) {
        if dropped > 0 {
            self.buf.push_gap(node, None, dropped);
        }
        for l in lines {
            if let Some(h) = l.hint() {
                self.hint = Some((node, h));
            }
            self.buf.push(l);
        }
        // O(new lines): keeps the search index and match counts current.
        self.view.get_mut().update(&self.buf);
    }

    /// Everything held, as the pane shows it with timestamps and node names.
    pub fn text(&self) -> String {
        let mut s = String::with_capacity(self.buf.bytes());
        let multi = self.nodes.len() > 1;
        for l in self.buf.iter() {
            if multi {
                s.push_str(self.label(l.node()));
                s.push_str(": ");
            }
            if let Some(ts) = l.ts() {
                s.push_str(&ts.to_string());
                s.push(' ');
            }
            s.push_str(l.text());
            s.push('\n');
        }
        s
    }
}

/// The log panes' part of `App`.
#[derive(Debug)]
pub struct Logs {
    pub pane: Option<LogPane>,
    next_id: u64,
    pub max_lines: usize,
}

impl Default for Logs {
    fn default() -> Self {
        Logs {
            pane: None,
            next_id: 1,
            max_lines: DEFAULT_LINES,
        }
    }
}

/// What a key did in the pane.
pub enum PaneKey {
    Done(Vec<Effect>),
    /// Not a pane key: the console's global keys get it.
    NotMine,
}

fn flash(app: &mut App, error: bool, text: impl Into<String>) {
    app.flash = Some(Flash {
        error,
        text: text.into(),
    });
}

/// `l` on the table: the marked nodes, else the selected one.
pub fn open_from_table(app: &mut App) -> Vec<Effect> {
    open_table_nodes(app, None)
}

fn open_table_nodes(app: &mut App, unit: Option<String>) -> Vec<Effect> {
    let names: Vec<String> = if app.table.marked.is_empty() {
        app.selected_row()
            .map(|r| vec![r.info.name.clone()])
            .unwrap_or_default()
    } else {
        app.rows
            .iter()
            .filter(|r| app.table.marked.contains(&r.info.name))
            .map(|r| r.info.name.clone())
            .collect()
    };
    if names.is_empty() {
        flash(app, true, "no node to show the log of");
        return Vec::new();
    }
    open(app, names, unit)
}

/// `:logs [NODE...] [UNIT]`: words naming a node are nodes, a last word
/// that names none is the unit. Without nodes, like `l` (with the unit).
pub fn command(app: &mut App, args: &[&str]) -> Vec<Effect> {
    let mut nodes = Vec::new();
    let mut unit = None;
    for (i, w) in args.iter().enumerate() {
        if app.row(w).is_some() {
            nodes.push(w.to_string());
        } else if i + 1 == args.len()
            && valid_unit(w)
            // Alone, only a known unit: `:logs nodeX` is a typo, not a unit.
            && (!nodes.is_empty() || KNOWN_UNITS.contains(w))
        {
            unit = Some(w.to_string());
        } else {
            flash(
                app,
                true,
                format!(
                    ":logs: no node {} (usage :logs NODE... [UNIT])",
                    crate::logs::sanitize_str(w)
                ),
            );
            return Vec::new();
        }
    }
    if nodes.is_empty() {
        return open_table_nodes(app, unit);
    }
    open(app, nodes, unit)
}

/// Opens a pane for `names` (replacing any open one) as the log view.
pub fn open(app: &mut App, names: Vec<String>, unit: Option<String>) -> Vec<Effect> {
    open_pane(app, names, unit, true)
}

/// Opens a pane for `names` beside the page in front (a guided flow's form),
/// which keeps the keys; returns the pane's id with the effects.
pub fn open_beside(app: &mut App, names: Vec<String>) -> (u64, Vec<Effect>) {
    let id = app.logs.next_id;
    (id, open_pane(app, names, None, false))
}

fn open_pane(
    app: &mut App,
    names: Vec<String>,
    unit: Option<String>,
    as_view: bool,
) -> Vec<Effect> {
    // The view's toggles carry over to the next pane.
    let (wrap, timestamps) = app
        .logs
        .pane
        .as_ref()
        .map(|p| {
            let v = p.view.borrow();
            (v.wrap(), v.timestamps())
        })
        .unwrap_or((false, true));
    let mut fx = close(app);
    let id = app.logs.next_id;
    app.logs.next_id += 1;
    let mut nodes = Vec::new();
    let mut sources = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let Some(row) = app.row(name) else { continue };
        let u = unit
            .clone()
            .or_else(|| default_unit(row.info.role).map(String::from));
        sources.push(LogSource {
            node: i as NodeId,
            target: Target {
                name: name.clone(),
                address: row.info.address.clone(),
            },
            unit: u.clone(),
        });
        nodes.push(PaneNode {
            name: name.clone(),
            label: crate::logs::sanitize_str(name).into_owned(),
            unit: u,
            status: StreamStatus::Connecting,
        });
    }
    let mut view = LogView::new();
    view.set_wrap(wrap);
    view.set_timestamps(timestamps);
    app.logs.pane = Some(LogPane {
        id,
        nodes,
        unit,
        buf: LogBuffer::new(Limits {
            max_lines: app.logs.max_lines.max(1),
            ..Limits::default()
        }),
        view: RefCell::new(view),
        fullscreen: false,
        search_input: None,
        hint: None,
    });
    if as_view && app.view() != &View::Logs {
        app.views.push(View::Logs);
    }
    fx.push(Effect::OpenLogs { pane: id, sources });
    fx
}

/// Closes the pane, if one is open: its streams end.
pub fn close(app: &mut App) -> Vec<Effect> {
    match app.logs.pane.take() {
        Some(p) => vec![Effect::CloseLogs { pane: p.id }],
        None => Vec::new(),
    }
}

/// Closes the pane and leaves its view.
fn close_view(app: &mut App) -> Vec<Effect> {
    if app.view() == &View::Logs && app.views.len() > 1 {
        app.views.pop();
    }
    close(app)
}

pub fn lines(app: &mut App, pane: u64, node: NodeId, lines: Vec<LogLine>, dropped: u64) {
    match &mut app.logs.pane {
        Some(p) if p.id == pane => p.push(node, lines, dropped),
        // A closed pane's last batch: nothing to draw.
        _ => app.dirty = false,
    }
}

pub fn status(app: &mut App, pane: u64, node: NodeId, status: StreamStatus) {
    let Some(p) = app.logs.pane.as_mut().filter(|p| p.id == pane) else {
        app.dirty = false;
        return;
    };
    let Some(n) = p.nodes.get_mut(node as usize) else {
        return;
    };
    if let StreamStatus::Streaming { unit } = &status {
        n.unit = Some(unit.clone());
    }
    n.status = status;
}

/// Brings the view's memory of its window up to date at the pane's current
/// size, so scrolling starts from what is on screen (also before any frame).
fn sync(app: &mut App) {
    let size = app.size;
    if let Some(p) = app.logs.pane.as_mut() {
        let (h, w) = crate::ui::panes::logs::text_size(size, p);
        p.view.get_mut().window(&p.buf, h, w);
    }
}

pub fn key(app: &mut App, k: KeyEvent) -> PaneKey {
    let ctrl = k.modifiers.contains(KeyModifiers::CONTROL);
    let Some(p) = app.logs.pane.as_mut() else {
        return PaneKey::NotMine;
    };
    if let Some(input) = &mut p.search_input {
        match k.code {
            KeyCode::Esc => p.search_input = None,
            KeyCode::Enter => {
                let pat = std::mem::take(input);
                p.search_input = None;
                let v = p.view.get_mut();
                v.set_search(&p.buf, &pat);
                if v.search().is_none() {
                    v.set_filter(false);
                }
            }
            KeyCode::Backspace => {
                if input.pop().is_none() {
                    p.search_input = None;
                }
            }
            KeyCode::Char(c) if !c.is_control() && !ctrl => input.push(c),
            _ => app.dirty = false,
        }
        return PaneKey::Done(Vec::new());
    }
    sync(app);
    let p = app.logs.pane.as_mut().expect("pane checked above");
    let v = p.view.get_mut();
    let buf = &p.buf;
    match k.code {
        KeyCode::Char('q') => return PaneKey::Done(close_view(app)),
        KeyCode::Esc if v.search().is_some() => {
            v.clear_search();
            v.set_filter(false);
        }
        KeyCode::Esc => return PaneKey::Done(close_view(app)),
        KeyCode::Char('k') | KeyCode::Up => v.scroll_up(buf, 1),
        KeyCode::Char('j') | KeyCode::Down => v.scroll_down(buf, 1),
        KeyCode::Char('b') if ctrl => v.page_up(buf),
        KeyCode::Char('f') if ctrl => v.page_down(buf),
        KeyCode::PageUp => v.page_up(buf),
        KeyCode::PageDown => v.page_down(buf),
        KeyCode::Char('g') | KeyCode::Home => v.to_top(buf),
        KeyCode::Char('G') | KeyCode::Char('0') | KeyCode::End => v.to_tail(),
        KeyCode::Char('/') => p.search_input = Some(v.last_pattern().to_string()),
        KeyCode::Char(c @ ('n' | 'N')) => {
            let j = if c == 'n' {
                v.search_next(buf)
            } else {
                v.search_prev(buf)
            };
            match (j, v.search()) {
                (_, None) => flash(app, true, "no search: / first"),
                (None, Some(m)) => {
                    let pat = crate::logs::sanitize_str(m.query().pattern()).into_owned();
                    flash(app, true, format!("no line matches {pat}"));
                }
                (Some(j), Some(_)) if j.wrapped => flash(app, false, "search wrapped around"),
                _ => {}
            }
        }
        KeyCode::Char('f') => {
            if v.search().is_some() {
                let on = !v.filter();
                v.set_filter(on);
            } else {
                flash(
                    app,
                    true,
                    "f shows only the lines matching a search: / first",
                );
            }
        }
        KeyCode::Char('w') => {
            let on = !v.wrap();
            v.set_wrap(on);
        }
        KeyCode::Char('t') => {
            let on = !v.timestamps();
            v.set_timestamps(on);
        }
        KeyCode::Left | KeyCode::Char('h') => v.scroll_left(HSTEP),
        KeyCode::Right | KeyCode::Char('l') => v.scroll_right(HSTEP),
        KeyCode::Char('z') | KeyCode::Char('F') => p.fullscreen = !p.fullscreen,
        KeyCode::Char('u') => return PaneKey::Done(cycle_unit(app)),
        KeyCode::Char('s') if ctrl => return PaneKey::Done(save(app)),
        _ => return PaneKey::NotMine,
    }
    PaneKey::Done(Vec::new())
}

/// `u`: each node's own unit, then rancherd, then rancher-system-agent.
fn cycle_unit(app: &mut App) -> Vec<Effect> {
    let Some(p) = &app.logs.pane else {
        return Vec::new();
    };
    let next = match p.unit.as_deref() {
        None => Some(OTHER_UNITS[0]),
        Some(u) => OTHER_UNITS
            .iter()
            .position(|x| *x == u)
            .and_then(|i| OTHER_UNITS.get(i + 1))
            .copied(),
    };
    let names = p.nodes.iter().map(|n| n.name.clone()).collect();
    let fullscreen = p.fullscreen;
    let fx = open(app, names, next.map(String::from));
    if let Some(p) = &mut app.logs.pane {
        p.fullscreen = fullscreen;
    }
    fx
}

/// `ctrl-s`: what is held, to a file the runner writes in the state folder.
fn save(app: &mut App) -> Vec<Effect> {
    let Some(p) = &app.logs.pane else {
        return Vec::new();
    };
    if p.buf.is_empty() {
        flash(app, true, "nothing to save yet");
        return Vec::new();
    }
    let who = if p.nodes.len() == 1 {
        p.nodes[0].label.clone()
    } else {
        format!("{}-nodes", p.nodes.len())
    };
    let unit = p
        .nodes
        .first()
        .and_then(|n| n.unit.clone())
        .unwrap_or_else(|| "log".into());
    let now = time::OffsetDateTime::now_utc();
    let stamp = format!(
        "{:04}{:02}{:02}-{:02}{:02}{:02}",
        now.year(),
        now.month() as u8,
        now.day(),
        now.hour(),
        now.minute(),
        now.second()
    );
    let file: String = format!("{who}-{unit}-{stamp}.log")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    vec![Effect::SaveLogs {
        file,
        text: p.text(),
    }]
}

/// Node names completing the last word of `:logs ...` (full command lines).
pub fn complete(app: &App, input: &str) -> Option<Vec<String>> {
    let (cmd, rest) = input.trim_start().split_once(' ')?;
    if super::command::find(cmd).is_none_or(|c| c.name != "logs") {
        return None;
    }
    let (done, last) = match rest.rfind(' ') {
        Some(i) => (&rest[..=i], &rest[i + 1..]),
        None => ("", rest),
    };
    let mut words: Vec<&str> = app
        .rows
        .iter()
        .map(|r| r.info.name.as_str())
        .filter(|n| !done.split_whitespace().any(|d| d == *n))
        .collect();
    words.extend(KNOWN_UNITS);
    Some(
        words
            .into_iter()
            .filter(|w| w.starts_with(last))
            .map(|w| format!("{cmd} {done}{w}"))
            .collect(),
    )
}

#[cfg(test)]
#[path = "logpane_tests.rs"]
mod tests;
