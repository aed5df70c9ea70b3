//! The state owner. `App::update(Msg) -> Vec<Effect>` is the only place the
//! console's state changes; it does no I/O, so it is tested by feeding Msgs.

pub mod certs;
pub mod certs_walk;
pub mod command;
pub mod detail;
pub mod engine_form;
pub mod keys;
pub mod keys_view;
pub mod logpane;
pub mod model;
pub mod msg;
pub mod password_walk;
pub mod proxy_walk;
pub mod runner;
pub mod settings_view;
pub mod sort;
pub mod table;
pub mod token_view;
pub mod token_walk;
pub mod walk;

use std::cmp::Ordering;

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

pub use crate::model::natural_cmp;
pub use model::*;
pub use msg::{Effect, Msg, Shared, Target};

/// A page of the console; the stack of them is what `esc` walks back through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum View {
    Nodes,
    NodeDetail(String),
    Certs,
    Keys,
    Token,
    Logs,
    /// An engine walk's form (`engine_form`), by its flow's name.
    Walk(&'static str),
    Settings,
}

impl View {
    pub fn title(&self) -> &str {
        match self {
            View::Nodes => "nodes",
            View::NodeDetail(n) => n,
            View::Certs => "certificates",
            View::Keys => "SSH keys",
            View::Token => "cluster token",
            View::Logs => "logs",
            View::Walk(name) => name,
            View::Settings => "settings",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Normal,
    Filter,
    Command,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flash {
    pub error: bool,
    pub text: String,
}

/// Start-up facts the console is given (read before the first frame).
#[derive(Debug, Clone)]
pub struct Setup {
    pub read_only: bool,
    /// Nodes from `--inventory`.
    pub inventory: Vec<NodeInfo>,
    /// False when there is no kubeconfig to try (the reason says why).
    pub kube: Result<(), String>,
    /// A message for the flash line at start (e.g. a broken theme file).
    pub notice: Option<String>,
    pub theme: String,
}

#[derive(Debug)]
pub struct App {
    pub rows: Vec<NodeRow>,
    inventory: Vec<NodeInfo>,
    pub api: ApiState,
    pub context: Option<String>,
    pub server: Option<String>,
    api_synced: bool,
    pub views: Vec<View>,
    pub mode: Mode,
    /// What is being typed in filter or command mode.
    pub input: String,
    completion: Option<(String, usize)>,
    /// The node table's filter, selection, scroll, order and marks (table.rs).
    pub table: table::TableView,
    pub help: bool,
    /// First line of the help overlay shown (it scrolls when taller than the screen).
    pub help_scroll: u16,
    pub flash: Option<Flash>,
    pub read_only: bool,
    pub theme: String,
    pub size: (u16, u16),
    /// Something changed since the last frame.
    pub dirty: bool,
    pub quit: bool,
    tracked: Vec<Target>,
    /// Each node's credential sweep, judged (what the table, panes and views show).
    pub sweeps: std::collections::BTreeMap<String, NodeSweep>,
    /// The reports as read, before token copies are compared across nodes
    /// (that comparison is redone from these whenever one arrives).
    /// What each node's files say about the cluster network (VIP, CIDRs).
    networks: std::collections::BTreeMap<String, crate::creds::proxy::ClusterFacts>,
    raw_reports:
        std::collections::BTreeMap<String, std::sync::Arc<crate::creds::report::NodeReport>>,
    pub settings: Option<std::sync::Arc<crate::status::ClusterSettings>>,
    /// The settings judged; None until they have been read.
    pub cluster: Option<crate::status::ClusterReport>,
    /// The node detail view's tab and scroll (detail.rs).
    pub detail: detail::DetailView,
    /// Day thresholds the cluster's certificates are judged by (config file).
    thresholds: crate::creds::level::Thresholds,
    /// `:certs`: the first row on screen and the view's own filter (certs.rs).
    pub certs: certs::CertsView,
    /// `:keys`: the first line on screen (keys_view.rs).
    pub keys_view: keys_view::KeysView,
    /// `:token`: scroll and the nodes' joining state (token_view.rs).
    pub token_view: token_view::TokenViewState,
    /// `:settings`: the selected line (settings_view.rs).
    pub settings_view: settings_view::SettingsView,
    /// The open engine walk's form (engine_form.rs), if any.
    pub form: Option<Box<dyn engine_form::OpenForm>>,
    /// The log pane (logpane.rs).
    pub logs: logpane::Logs,
}

/// The scrolling keys of a list view (`j`/`k`, PgDn/PgUp and ctrl-f/b,
/// `g`/`G`): moves `offset` over `lines` shown `page` at a time; false when
/// the key is not one of them.
fn scroll(offset: &mut usize, code: KeyCode, ctrl: bool, page: usize, lines: usize) -> bool {
    let step = page as isize;
    let delta = match code {
        KeyCode::Char('j') | KeyCode::Down => 1,
        KeyCode::Char('k') | KeyCode::Up => -1,
        KeyCode::PageDown => step,
        KeyCode::Char('f') if ctrl => step,
        KeyCode::PageUp => -step,
        KeyCode::Char('b') if ctrl => -step,
        KeyCode::Char('g') | KeyCode::Home => isize::MIN / 2,
        KeyCode::Char('G') | KeyCode::End => isize::MAX / 2,
        _ => return false,
    };
    let last = lines.saturating_sub(page);
    *offset = (*offset as isize + delta).clamp(0, last as isize) as usize;
    true
}

impl App {
    pub fn new(setup: Setup) -> App {
        let mut app = App {
            rows: Vec::new(),
            inventory: setup.inventory.clone(),
            api: match &setup.kube {
                Ok(()) => ApiState::Connecting,
                Err(why) => ApiState::NotConfigured(why.clone()),
            },
            context: None,
            server: None,
            api_synced: false,
            views: vec![View::Nodes],
            mode: Mode::Normal,
            input: String::new(),
            completion: None,
            table: table::TableView::default(),
            help: false,
            help_scroll: 0,
            flash: setup.notice.map(|text| Flash { error: true, text }),
            read_only: setup.read_only,
            theme: setup.theme,
            size: (80, 24),
            dirty: true,
            quit: false,
            tracked: Vec::new(),
            sweeps: Default::default(),
            networks: Default::default(),
            raw_reports: Default::default(),
            settings: None,
            cluster: None,
            detail: detail::DetailView::default(),
            thresholds: Default::default(),
            certs: certs::CertsView::default(),
            keys_view: keys_view::KeysView::default(),
            token_view: Default::default(),
            settings_view: Default::default(),
            form: None,
            logs: Default::default(),
        };
        for n in setup.inventory {
            app.upsert(n, Source::Inventory);
        }
        app
    }

    /// Judge certificates with these day thresholds (from the config file).
    pub fn with_thresholds(mut self, t: crate::creds::level::Thresholds) -> App {
        self.thresholds = t;
        self
    }

    /// The effects to run once, when the console starts.
    pub fn start(&mut self, kube: bool) -> Vec<Effect> {
        let mut fx = Vec::new();
        if kube {
            fx.push(Effect::WatchNodes);
        }
        fx.extend(self.track());
        fx.extend(self.sweep_new());
        fx
    }

    pub fn view(&self) -> &View {
        self.views.last().unwrap_or(&View::Nodes)
    }

    /// Indices into `rows` of the rows the filter lets through.
    pub fn visible(&self) -> Vec<usize> {
        let f = self.table.filter.to_lowercase();
        let mut v: Vec<usize> = self
            .rows
            .iter()
            .enumerate()
            .filter(|(_, r)| {
                f.is_empty()
                    || r.info.name.to_lowercase().contains(&f)
                    || r.info.address.as_deref().unwrap_or("").contains(&f)
                    || r.info.role.label().contains(&f)
                    || r.creds.cells().iter().any(|(_, c)| c.label().contains(&f))
            })
            .map(|(i, _)| i)
            .collect();
        v.sort_by(|&a, &b| self.table.sort.compare(&self.rows[a], &self.rows[b]));
        v
    }

    /// Position of the selected row within `visible()`.
    pub fn selected_pos(&self, visible: &[usize]) -> Option<usize> {
        if visible.is_empty() {
            return None;
        }
        let found = self.table.selected.as_ref().and_then(|name| {
            visible
                .iter()
                .position(|&i| &self.rows[i].info.name == name)
        });
        Some(found.unwrap_or(0))
    }

    pub fn selected_row(&self) -> Option<&NodeRow> {
        let v = self.visible();
        self.selected_pos(&v).map(|p| &self.rows[v[p]])
    }

    pub fn row(&self, name: &str) -> Option<&NodeRow> {
        self.rows.iter().find(|r| r.info.name == name)
    }

    /// Nodes reachable over SSH, and all nodes.
    pub fn nodes_up(&self) -> (usize, usize) {
        (
            self.rows.iter().filter(|r| r.ssh.is_up()).count(),
            self.rows.len(),
        )
    }

    /// The worst credential state of any node; None while nothing is known.
    pub fn worst_cred(&self) -> Option<&CredCell> {
        self.rows
            .iter()
            .flat_map(|r| r.creds.cells().map(|(_, c)| c))
            .filter(|c| c.severity() > 0)
            .max_by_key(|c| c.severity())
    }

    /// The commands matching what was typed (while tab cycles: what was typed before it).
    pub fn command_completions(&self) -> Vec<String> {
        let base = self.completion.as_ref().map_or(&self.input, |(b, _)| b);
        self.completions_of(base)
    }

    /// Full command lines completing `base`: command names, or `:logs`' node names.
    fn completions_of(&self, base: &str) -> Vec<String> {
        logpane::complete(self, base).unwrap_or_else(|| {
            command::completions(base, self.read_only)
                .into_iter()
                .map(String::from)
                .collect()
        })
    }

    /// One message in. `dirty` says whether a frame is due: a message that
    /// changes nothing clears its own mark, never one an earlier message of
    /// the same frame set (a key typed just before a late log line must
    /// still be drawn).
    pub fn update(&mut self, msg: Msg) -> Vec<Effect> {
        let pending = self.dirty;
        let fx = self.handle(msg);
        self.dirty |= pending;
        fx
    }

    fn handle(&mut self, msg: Msg) -> Vec<Effect> {
        self.dirty = true;
        let fx = match msg {
            Msg::Key(k) => self.key(k),
            Msg::Resize { width, height } => {
                self.size = (width, height);
                Vec::new()
            }
            Msg::ApiContext { context, server } => {
                self.context = Some(context.clone());
                self.server = Some(server);
                vec![Effect::LoadCache { context }]
            }
            Msg::ApiState(s) => {
                self.api = s;
                Vec::new()
            }
            Msg::NodesListed(list) => {
                self.api = ApiState::Up;
                self.api_synced = true;
                // Rows the API no longer has go, unless the inventory lists them.
                let names: Vec<&str> = list.iter().map(|n| n.name.as_str()).collect();
                let gone: Vec<String> = self
                    .rows
                    .iter()
                    .filter(|r| !names.contains(&r.info.name.as_str()))
                    .map(|r| r.info.name.clone())
                    .collect();
                for g in gone {
                    self.remove_or_revert(&g);
                }
                for n in list {
                    self.upsert(n, Source::Api);
                }
                let mut fx = self.save_cache();
                fx.extend(self.track());
                fx.extend(self.sweep_new());
                fx
            }
            Msg::NodeApplied(n) => {
                self.api = ApiState::Up;
                self.upsert(n, Source::Api);
                let mut fx = self.save_cache();
                fx.extend(self.track());
                fx.extend(self.sweep_new());
                fx
            }
            Msg::NodeDeleted(name) => {
                self.remove_or_revert(&name);
                let mut fx = self.save_cache();
                fx.extend(self.track());
                fx
            }
            Msg::CacheLoaded(list) => {
                // The API's own list, once there, is newer than any cache.
                if !self.api_synced {
                    for mut n in list {
                        if self.row(&n.name).is_none() {
                            // Readiness from an old session is no news: the
                            // screen says unknown, as for an inventory node.
                            n.ready = None;
                            self.upsert(n, Source::Cache);
                        }
                    }
                }
                let mut fx = self.track();
                fx.extend(self.sweep_new());
                fx
            }
            Msg::Ssh { node, state } => {
                if let Some(r) = self.rows.iter_mut().find(|r| r.info.name == node) {
                    r.ssh = state;
                } else {
                    self.dirty = false;
                }
                Vec::new()
            }
            Msg::SettingsRead(s) => {
                self.settings = Some(s.0);
                self.rejudge();
                Vec::new()
            }
            Msg::NodeSwept {
                node,
                outcome,
                network,
            } => {
                self.networks
                    .insert(node.clone(), network.0.as_ref().clone());
                if self.row(&node).is_none() {
                    // The node left while it was being read.
                    self.dirty = false;
                    return Vec::new();
                }
                match &*outcome.0 {
                    crate::status::NodeOutcome::Report(r) => {
                        self.raw_reports.insert(node, r.clone());
                    }
                    crate::status::NodeOutcome::Failed(u) => {
                        self.raw_reports.remove(&node);
                        self.sweeps.insert(node, NodeSweep::Failed(u.clone()));
                    }
                }
                self.rejudge();
                Vec::new()
            }
            Msg::RefreshDue => self.sweep_all(),
            Msg::Flash { error, text } => {
                self.flash = Some(Flash { error, text });
                Vec::new()
            }
            Msg::Quit => self.quit(),
            Msg::Walk { walk, event } => match event.take() {
                Some(ev) => self.form_answer(&walk, ev),
                None => Vec::new(),
            },
            Msg::Paste(text) => self.form_paste(&text.0),
            Msg::LogLines {
                pane,
                node,
                lines,
                dropped,
            } => {
                logpane::lines(self, pane, node, lines, dropped);
                return Vec::new();
            }
            Msg::JoinState { node, state } => {
                self.token_join(node, state);
                Vec::new()
            }
            Msg::LogStatus { pane, node, status } => {
                logpane::status(self, pane, node, status);
                return Vec::new();
            }
        };
        self.fix_offset();
        fx
    }

    fn quit(&mut self) -> Vec<Effect> {
        self.quit = true;
        let mut fx = logpane::close(self);
        fx.push(Effect::Quit);
        fx
    }

    fn upsert(&mut self, info: NodeInfo, source: Source) {
        match self.rows.iter_mut().find(|r| r.info.name == info.name) {
            Some(r) => {
                if r.info.address != info.address {
                    r.ssh = SshState::Pending;
                }
                // The API knows more than the inventory; the inventory more than a cache.
                if source == Source::Api || r.source != Source::Api {
                    r.info = info;
                    r.source = source;
                }
            }
            None => {
                let pos = self
                    .rows
                    .partition_point(|r| natural_cmp(&r.info.name, &info.name) == Ordering::Less);
                self.rows.insert(
                    pos,
                    NodeRow {
                        info,
                        source,
                        ssh: SshState::Pending,
                        creds: Creds::default(),
                    },
                );
            }
        }
    }

    fn remove_or_revert(&mut self, name: &str) {
        if let Some(inv) = self.inventory.iter().find(|n| n.name == name).cloned() {
            if let Some(r) = self.rows.iter_mut().find(|r| r.info.name == name) {
                if r.info.address != inv.address {
                    r.ssh = SshState::Pending;
                }
                r.info = inv;
                r.source = Source::Inventory;
            }
        } else {
            self.rows.retain(|r| r.info.name != name);
            self.sweeps.remove(name);
            self.raw_reports.remove(name);
            self.table.marked.remove(name);
        }
    }

    fn target(r: &NodeRow) -> Target {
        Target {
            name: r.info.name.clone(),
            address: r.info.address.clone(),
        }
    }

    /// Sweep the nodes never swept yet (new rows).
    fn sweep_new(&mut self) -> Vec<Effect> {
        let new: Vec<Target> = self
            .rows
            .iter()
            .filter(|r| !self.sweeps.contains_key(&r.info.name))
            .map(Self::target)
            .collect();
        self.start_sweep(new)
    }

    /// `r` and the interval: sweep every node again.
    fn sweep_all(&mut self) -> Vec<Effect> {
        let all: Vec<Target> = self.rows.iter().map(Self::target).collect();
        self.start_sweep(all)
    }

    fn start_sweep(&mut self, targets: Vec<Target>) -> Vec<Effect> {
        if targets.is_empty() {
            return Vec::new();
        }
        for t in &targets {
            // A known report stays on screen while it is read again.
            if !matches!(self.sweeps.get(&t.name), Some(NodeSweep::Done(_))) {
                self.sweeps.insert(t.name.clone(), NodeSweep::Loading);
            }
        }
        self.fill_cells();
        vec![Effect::Sweep(targets)]
    }

    /// Compare token copies across the nodes read so far, judge the
    /// settings against them, and fill the table's cells.
    fn rejudge(&mut self) {
        let mut judged: Vec<crate::creds::report::NodeReport> =
            self.raw_reports.values().map(|r| (**r).clone()).collect();
        // As `status` does: the nodes' copies and Rancher's (the secret).
        let cluster_token = self
            .settings
            .as_ref()
            .and_then(|s| s.cluster_token.as_ref());
        crate::creds::report::compare_tokens_with_cluster(&mut judged, cluster_token);
        for r in judged {
            self.sweeps
                .insert(r.node.clone(), NodeSweep::Done(std::sync::Arc::new(r)));
        }
        if let Some(s) = &self.settings {
            // The VIP and the CIDRs come from the nodes' files, as in `status`:
            // the first node (in name order) that names each.
            let mut s = s.as_ref().clone();
            for n in self.networks.values() {
                let net = &mut s.network;
                net.vip = net.vip.take().or_else(|| n.vip.clone());
                net.pod_cidr = net.pod_cidr.take().or_else(|| n.pod_cidr.clone());
                net.service_cidr = net.service_cidr.take().or_else(|| n.service_cidr.clone());
            }
            let s = &s;
            let ips: Vec<String> = self
                .rows
                .iter()
                .filter_map(|r| r.info.address.clone())
                .collect();
            let apiserver =
                crate::status::apiserver_not_after(self.raw_reports.values().map(|r| r.as_ref()));
            self.cluster = Some(crate::status::assess_cluster(
                s,
                &ips,
                apiserver,
                time::OffsetDateTime::now_utc(),
                &self.thresholds,
            ));
        }
        self.fill_cells();
    }

    fn fill_cells(&mut self) {
        for r in &mut self.rows {
            r.creds = match self.sweeps.get(&r.info.name) {
                None => Creds::default(),
                Some(NodeSweep::Loading) => Creds::all(CredCell::Loading),
                Some(NodeSweep::Failed(_)) => Creds::all(CredCell::Unknown),
                Some(NodeSweep::Done(rep)) => {
                    let mut c = Creds::default();
                    for a in crate::creds::report::Area::ALL {
                        c.set(a, CredCell::from_level(rep.level(a)));
                    }
                    c
                }
            };
        }
    }

    fn save_cache(&self) -> Vec<Effect> {
        match (&self.context, self.api_synced) {
            (Some(context), true) => vec![Effect::SaveCache {
                context: context.clone(),
                nodes: self
                    .rows
                    .iter()
                    .filter(|r| r.source == Source::Api)
                    .map(|r| r.info.clone())
                    .collect(),
            }],
            _ => Vec::new(),
        }
    }

    /// Tell the SSH side about the node set, when it changed.
    fn track(&mut self) -> Vec<Effect> {
        let t: Vec<Target> = self.rows.iter().map(Self::target).collect();
        if t == self.tracked {
            return Vec::new();
        }
        self.tracked = t.clone();
        vec![Effect::Track(t)]
    }

    fn page(&self) -> usize {
        if let Some(rows) = crate::ui::panes::logs::table_rows(self) {
            return rows.max(1);
        }
        crate::ui::table_body_rows(self.size.0, self.size.1).max(1)
    }

    /// Keep the selected row inside the table's window.
    fn fix_offset(&mut self) {
        let v = self.visible();
        let rows = self.page();
        let Some(pos) = self.selected_pos(&v) else {
            self.table.offset = 0;
            return;
        };
        if pos < self.table.offset {
            self.table.offset = pos;
        } else if pos >= self.table.offset + rows {
            self.table.offset = pos + 1 - rows;
        }
        self.table.offset = self.table.offset.min(v.len().saturating_sub(rows));
    }

    fn select_by(&mut self, delta: isize) {
        let v = self.visible();
        let Some(pos) = self.selected_pos(&v) else {
            return;
        };
        let new = (pos as isize + delta).clamp(0, v.len() as isize - 1) as usize;
        self.table.selected = Some(self.rows[v[new]].info.name.clone());
    }

    fn key(&mut self, k: KeyEvent) -> Vec<Effect> {
        if k.kind == KeyEventKind::Release {
            self.dirty = false;
            return Vec::new();
        }
        // Over a slow SSH link `esc` and the key typed right after it arrive
        // in one read, which the terminal reads as Alt+key. No key is bound
        // to Alt, so take it as what the operator typed: esc, then the key.
        if k.modifiers.contains(KeyModifiers::ALT) && k.code != KeyCode::Esc {
            let mut fx = self.key(KeyEvent::new(KeyCode::Esc, KeyModifiers::NONE));
            let mut plain = k;
            plain.modifiers.remove(KeyModifiers::ALT);
            fx.extend(self.key(plain));
            return fx;
        }
        let ctrl = k.modifiers.contains(KeyModifiers::CONTROL);
        if ctrl && k.code == KeyCode::Char('c') {
            return self.quit();
        }
        if self.mode == Mode::Normal {
            self.flash = None;
        }
        if self.mode == Mode::Normal
            && !self.help
            && matches!(self.view(), View::Walk(_))
            && self.form.is_some()
        {
            return self.form_key(k);
        }
        match self.mode {
            Mode::Filter => self.key_filter(k),
            Mode::Command => self.key_command(k),
            Mode::Normal if self.help => {
                match k.code {
                    KeyCode::Esc | KeyCode::Char('?') | KeyCode::Char('q') => {
                        self.help = false;
                        self.help_scroll = 0;
                    }
                    // Bounded by the overlay's length (the drawing then
                    // clamps it to its last page), so `k` answers at once.
                    KeyCode::Char('j') | KeyCode::Down => {
                        let (pane, global) = keys::for_view(self.view(), self.read_only);
                        let lines = (pane.len() + global.len() + 4) as u16;
                        self.help_scroll = (self.help_scroll + 1).min(lines);
                    }
                    KeyCode::Char('k') | KeyCode::Up => {
                        self.help_scroll = self.help_scroll.saturating_sub(1)
                    }
                    _ => self.dirty = false,
                }
                Vec::new()
            }
            Mode::Normal if self.view() == &View::Logs && self.logs.pane.is_some() => {
                match logpane::key(self, k) {
                    logpane::PaneKey::Done(fx) => fx,
                    logpane::PaneKey::NotMine => self.key_normal(k, ctrl),
                }
            }
            Mode::Normal => self.key_normal(k, ctrl),
        }
    }

    fn key_normal(&mut self, k: KeyEvent, ctrl: bool) -> Vec<Effect> {
        let page = self.page() as isize;
        match (k.code, self.view().clone()) {
            (KeyCode::Char(':'), _) => {
                self.mode = Mode::Command;
                self.input.clear();
                self.completion = None;
            }
            (KeyCode::Char('?'), _) => self.help = true,
            (KeyCode::Esc, View::Keys) if !self.keys_view.marked.is_empty() => {
                self.keys_view.marked.clear();
            }
            (KeyCode::Esc, View::Certs) if !self.certs.filter.is_empty() => {
                self.certs.filter.clear();
                self.certs.offset = 0;
            }
            (KeyCode::Esc, _) | (KeyCode::Char('q'), View::NodeDetail(_)) => {
                if self.views.len() > 1 {
                    self.views.pop();
                } else if !self.table.filter.is_empty() {
                    self.table.filter.clear();
                } else {
                    self.table.marked.clear();
                }
            }
            (KeyCode::Char('q'), v) if v != View::Nodes => {
                self.views.pop();
            }
            (KeyCode::Char('j') | KeyCode::Down, View::Nodes | View::NodeDetail(_)) => {
                self.select_by(1);
                self.follow_detail();
            }
            (KeyCode::Char('k') | KeyCode::Up, View::Nodes | View::NodeDetail(_)) => {
                self.select_by(-1);
                self.follow_detail();
            }
            (KeyCode::Char('g') | KeyCode::Home, View::Nodes) => self.select_by(isize::MIN / 2),
            (KeyCode::Char('G') | KeyCode::End, View::Nodes) => self.select_by(isize::MAX / 2),
            (KeyCode::PageDown, View::Nodes) => self.select_by(page),
            (KeyCode::PageUp, View::Nodes) => self.select_by(-page),
            (KeyCode::Char('f'), View::Nodes) if ctrl => self.select_by(page),
            (KeyCode::Char('b'), View::Nodes) if ctrl => self.select_by(-page),
            (KeyCode::Enter, View::Nodes) => {
                if let Some(r) = self.selected_row() {
                    let name = r.info.name.clone();
                    self.table.selected = Some(name.clone());
                    self.views.push(View::NodeDetail(name));
                }
            }
            (KeyCode::Char('r'), _) => return self.sweep_all(),
            (KeyCode::Char(' '), View::Nodes) => {
                if let Some(r) = self.selected_row() {
                    let name = r.info.name.clone();
                    if !self.table.marked.remove(&name) {
                        self.table.marked.insert(name);
                    }
                    self.select_by(1);
                }
            }
            (KeyCode::Char('l'), View::Nodes) => return logpane::open_from_table(self),
            (KeyCode::Char('l'), View::NodeDetail(name)) => {
                return logpane::open(self, vec![name], None);
            }
            (KeyCode::Char(c @ ('N' | 'F')), View::NodeDetail(name)) => {
                return self.open_node_certs_form(c, name);
            }
            (code, View::NodeDetail(_)) if self.detail.key(code, ctrl, page as u16) => {}
            (KeyCode::Char(c), View::Nodes) if sort::SortColumn::from_key(c).is_some() => {
                let column = sort::SortColumn::from_key(c).expect("checked by the guard");
                // The selection is a node name, so it stays on the same node.
                self.table.sort = self.table.sort.pressed(column);
            }
            (KeyCode::Char('/'), View::Nodes) => {
                self.mode = Mode::Filter;
                self.input = self.table.filter.clone();
            }
            (KeyCode::Char('/'), View::Certs) => {
                self.mode = Mode::Filter;
                self.input = self.certs.filter.clone();
            }
            (KeyCode::Char(c @ ('a' | 'R' | 'N' | 'F')), View::Certs) => {
                return self.open_certs_form(c);
            }
            (code, View::Certs) if self.key_certs(code, ctrl) => {}
            (KeyCode::Char('a'), View::Keys) => return self.open_keys_add(),
            (KeyCode::Char('d'), View::Keys) => return self.open_keys_remove(),
            (code, View::Keys) if self.key_keys_view(code, ctrl) => {}
            (KeyCode::Char('F'), View::Token) => return self.open_token_fix_form(),
            (code, View::Token) if self.key_token_view(code, ctrl) => {}
            (KeyCode::Char(c @ ('e' | 'a' | 'd' | 'b')), View::Settings) => {
                return self.open_settings_form(c);
            }
            (code, View::Settings) if self.key_settings_view(code) => {}
            _ => self.dirty = false,
        }
        Vec::new()
    }

    /// In the detail view, j/k walk through nodes: the page follows the selection.
    fn follow_detail(&mut self) {
        if let View::NodeDetail(_) = self.view()
            && let Some(r) = self.selected_row()
        {
            let name = r.info.name.clone();
            self.table.selected = Some(name.clone());
            *self.views.last_mut().unwrap() = View::NodeDetail(name);
            self.detail.scroll = 0;
        }
    }

    /// The filter of the view in front (each list keeps its own).
    fn view_filter(&mut self) -> &mut String {
        match self.view() {
            View::Certs => &mut self.certs.filter,
            _ => &mut self.table.filter,
        }
    }

    fn key_filter(&mut self, k: KeyEvent) -> Vec<Effect> {
        match k.code {
            KeyCode::Esc => {
                self.view_filter().clear();
                self.input.clear();
                self.mode = Mode::Normal;
            }
            KeyCode::Enter => self.mode = Mode::Normal,
            KeyCode::Backspace => {
                self.input.pop();
                *self.view_filter() = self.input.clone();
            }
            KeyCode::Char(c) if !c.is_control() => {
                self.input.push(c);
                *self.view_filter() = self.input.clone();
            }
            _ => {}
        }
        // A narrower list starts at its top.
        self.certs.offset = 0;
        Vec::new()
    }

    fn key_command(&mut self, k: KeyEvent) -> Vec<Effect> {
        match k.code {
            KeyCode::Esc => {
                self.mode = Mode::Normal;
                self.input.clear();
            }
            KeyCode::Backspace => {
                if self.input.pop().is_none() {
                    self.mode = Mode::Normal;
                }
                self.completion = None;
            }
            KeyCode::Tab => {
                // First tab completes to the first match; further tabs cycle
                // through the matches of what was typed.
                let base = match &self.completion {
                    Some((base, _)) => base.clone(),
                    None => self.input.clone(),
                };
                let matches = self.completions_of(&base);
                if !matches.is_empty() {
                    let i = match &self.completion {
                        Some((_, i)) => (i + 1) % matches.len(),
                        None => 0,
                    };
                    self.input = matches[i].clone();
                    self.completion = Some((base, i));
                }
            }
            KeyCode::Enter => {
                self.mode = Mode::Normal;
                let line = std::mem::take(&mut self.input);
                self.completion = None;
                return self.run_command(&line);
            }
            KeyCode::Char(c) if !c.is_control() => {
                self.input.push(c);
                self.completion = None;
            }
            _ => {}
        }
        Vec::new()
    }

    fn run_command(&mut self, line: &str) -> Vec<Effect> {
        let word = line.trim();
        if word.is_empty() {
            return Vec::new();
        }
        let (head, args) = word.split_once(' ').unwrap_or((word, ""));
        let Some(cmd) = command::find(head) else {
            self.flash = Some(Flash {
                error: true,
                text: format!("unknown command :{word} (tab completes; :help lists keys)"),
            });
            return Vec::new();
        };
        // The command's name only: its arguments are the operator's words.
        tracing::debug!("console command :{}", cmd.name);
        if self.read_only && cmd.mutating {
            self.flash = Some(Flash {
                error: true,
                text: format!(
                    ":{} changes the cluster: refused in read-only mode",
                    cmd.name
                ),
            });
            return Vec::new();
        }
        match cmd.name {
            "q" => return self.quit(),
            "help" => self.help = true,
            "proxy" => {
                self.views.truncate(1);
                return self.open_form(proxy_walk::ProxyForm::new(self));
            }
            "password" => {
                self.views.truncate(1);
                return self.open_form(password_walk::PasswordForm);
            }
            "autorotate" => return self.open_certs_form('a'),
            "rotate" => return self.open_certs_form('R'),
            "rotate-node" => return self.open_certs_form('N'),
            "fix-kcm" => return self.open_certs_form('F'),
            "token" => {
                self.views.truncate(1);
                self.views.push(View::Token);
                let mut fx = logpane::close(self);
                fx.extend(self.open_token_view());
                return fx;
            }
            "logs" => {
                let args: Vec<&str> = args.split_whitespace().collect();
                return logpane::command(self, &args);
            }
            name => {
                if let Some(v) = command::view_of(name) {
                    self.views.truncate(1);
                    if v != View::Nodes {
                        self.views.push(v);
                    }
                    // The log view left the stack: its streams end.
                    return logpane::close(self);
                }
            }
        }
        Vec::new()
    }
}

#[cfg(test)]
mod tests;
