//! Turns `Effect`s into tokio tasks; their results come back as `Msg`s on the
//! same channel the keys use. Nothing here touches `App`.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc::Sender;
use tokio::task::JoinHandle;

use super::{ApiProblemKind, ApiState, Effect, Msg, Shared, Target};
use crate::cluster::{self, KubeSettings};
use crate::flows::engine::{Action, Change, ChangeIo, Event, perform};
use crate::node::Pool;
use crate::node::stream::{Backpressure, LogStream, StreamEvent, StreamSpec};

pub struct Runner {
    tx: Sender<Msg>,
    kube: KubeSettings,
    state_dir: PathBuf,
    pool: Arc<Pool>,
    probe_every: Duration,
    watch: Option<JoinHandle<()>>,
    probes: HashMap<String, (Target, JoinHandle<()>)>,
    /// The read in flight per node: a newer sweep of a node replaces it.
    sweeps: Arc<std::sync::Mutex<HashMap<String, JoinHandle<()>>>>,
    /// `sweep_interval_secs` of config.toml; the ticker starts with the first sweep.
    sweep_every: Option<Duration>,
    ticker: Option<JoinHandle<()>>,
    thresholds: crate::creds::level::Thresholds,
    /// Each open log pane's streams and the task forwarding their batches.
    logs: HashMap<u64, (Vec<LogStream>, JoinHandle<()>)>,
    /// How the engine walks reach the nodes (their own pool, on their thread).
    walk_ssh: Option<crate::node::SshSettings>,
    /// The thread that runs engine walks' actions (their futures are not
    /// `Send`: a current-thread runtime with a LocalSet), started at need.
    walks: Option<tokio::sync::mpsc::UnboundedSender<WalkJob>>,
}

/// One action of an engine walk, for the walk thread.
type WalkJob =
    Box<dyn FnOnce(&WalkThread) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()>>> + Send>;

/// An open walk's correlation id and its I/O.
type WalkIo = (String, std::rc::Rc<dyn std::any::Any>);

/// What the walk thread keeps between actions: the open walk of each kind
/// of change and its I/O (connected at its `Load`). One per kind, as the
/// console keeps one form per kind: a `:proxy` walk opened beside an
/// unfinished `:password` one does not take its I/O away.
#[derive(Default)]
struct WalkThread {
    open: std::rc::Rc<std::cell::RefCell<HashMap<std::any::TypeId, WalkIo>>>,
}

/// What a walk's I/O is built from.
#[derive(Clone)]
pub struct WalkSetup {
    pub kube: KubeSettings,
    pub state_dir: PathBuf,
    pub ssh: crate::node::SshSettings,
}

/// A change the console runs on the walk thread: how its I/O connects.
/// A new flow implements this beside its form (`engine_form::FormSpec`);
/// the thread, the driving and the messages are shared.
pub trait ConsoleChange: Change<Draft: Send, Facts: Send> + Send + Sized + 'static {
    type Io: ChangeIo<Self> + 'static;
    /// Connects for a walk over `targets`; `draft` is the form as it was
    /// when the walk (re)loaded (e.g. a key file to prove first).
    fn connect(
        setup: WalkSetup,
        targets: Vec<String>,
        walk: String,
        draft: Self::Draft,
    ) -> impl std::future::Future<Output = Result<Self::Io, String>>;
}

/// An action of an open engine walk, its change's type erased so that one
/// `Effect::Walk` carries every flow's actions.
pub trait WalkAction: Send {
    /// Runs it on the walk thread (answers come back as `Msg::Walk`).
    fn run(self: Box<Self>, runner: &mut Runner, walk: String, targets: Vec<String>);
    /// The typed request, for tests: a `WalkRequest<C>`.
    fn into_any(self: Box<Self>) -> Box<dyn std::any::Any>;
}

/// One engine action of change `C`; a `Load` carries the form's draft.
pub struct WalkRequest<C: ConsoleChange> {
    pub action: Action<C::Work>,
    pub draft: Option<C::Draft>,
}

impl<C: ConsoleChange> WalkAction for WalkRequest<C> {
    fn run(self: Box<Self>, runner: &mut Runner, walk: String, targets: Vec<String>) {
        runner.engine_walk::<C>(walk, targets, self.action, self.draft);
    }
    fn into_any(self: Box<Self>) -> Box<dyn std::any::Any> {
        self
    }
}

impl ConsoleChange for crate::flows::password::PasswordChange {
    type Io = crate::cli::password::PasswordIo;
    fn connect(
        setup: WalkSetup,
        targets: Vec<String>,
        walk: String,
        _: Self::Draft,
    ) -> impl std::future::Future<Output = Result<Self::Io, String>> {
        password_io(setup, targets, walk)
    }
}

/// `:keys` `a`: the I/O of `harvcred keys add`, with a pool of the walk
/// thread's own.
impl ConsoleChange for crate::flows::keys::AddKeys {
    type Io = crate::cli::keys::KeysIo;
    async fn connect(
        setup: WalkSetup,
        targets: Vec<String>,
        _: String,
        draft: Self::Draft,
    ) -> Result<Self::Io, String> {
        let mut io =
            crate::cli::keys::KeysIo::connect(&setup.kube, setup.ssh, setup.state_dir, targets)
                .await?;
        io.key_file = draft.key_file;
        Ok(io)
    }
}

/// `:keys` `d`: the I/O of `harvcred keys remove`; the key file of the
/// draft's `prove_with` is proven on the targets when they are read.
impl ConsoleChange for crate::flows::keys::RemoveKeys {
    type Io = crate::cli::keys::KeysIo;
    async fn connect(
        setup: WalkSetup,
        targets: Vec<String>,
        _: String,
        draft: Self::Draft,
    ) -> Result<Self::Io, String> {
        let mut io =
            crate::cli::keys::KeysIo::connect(&setup.kube, setup.ssh, setup.state_dir, targets)
                .await?;
        io.fingerprints = draft.fingerprints.join(",");
        io.prove_with = draft.prove_with;
        Ok(io)
    }
}

impl ConsoleChange for crate::flows::proxy::ProxyChange {
    type Io = crate::flows::proxy_io::Io;
    async fn connect(
        setup: WalkSetup,
        _targets: Vec<String>,
        _walk: String,
        _: Self::Draft,
    ) -> Result<Self::Io, String> {
        let (client, context, server) =
            cluster::connect(&setup.kube).await.map_err(|p| p.detail)?;
        Ok(crate::flows::proxy_io::Io::new(
            client,
            setup.state_dir,
            context.clone(),
            format!("{context} ({server})"),
            Duration::from_secs(180),
        ))
    }
}

impl Runner {
    pub fn new(
        tx: Sender<Msg>,
        kube: KubeSettings,
        state_dir: PathBuf,
        pool: Arc<Pool>,
        probe_every: Duration,
    ) -> Runner {
        Runner {
            tx,
            kube,
            state_dir,
            pool,
            probe_every,
            watch: None,
            probes: HashMap::new(),
            sweeps: Default::default(),
            sweep_every: None,
            ticker: None,
            thresholds: Default::default(),
            logs: HashMap::new(),
            walk_ssh: None,
            walks: None,
        }
    }

    /// Judge certificates with these day thresholds (from the config file).
    pub fn with_thresholds(mut self, t: crate::creds::level::Thresholds) -> Runner {
        self.thresholds = t;
        self
    }

    /// Engine walks reach the nodes with these settings (their own pool,
    /// control sockets in a folder of their own).
    pub fn with_walk_ssh(mut self, mut ssh: crate::node::SshSettings) -> Runner {
        ssh.control_dir = ssh.control_dir.join("w");
        self.walk_ssh = Some(ssh);
        self
    }

    fn walk_thread(&mut self) -> &tokio::sync::mpsc::UnboundedSender<WalkJob> {
        self.walks.get_or_insert_with(|| {
            let (jtx, mut jrx) = tokio::sync::mpsc::unbounded_channel::<WalkJob>();
            std::thread::Builder::new()
                .name("walks".into())
                .spawn(move || {
                    let rt = match tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                    {
                        Ok(rt) => rt,
                        Err(e) => {
                            tracing::error!("the walk thread has no runtime: {e}");
                            return;
                        }
                    };
                    let local = tokio::task::LocalSet::new();
                    let state = std::rc::Rc::new(WalkThread::default());
                    local.block_on(&rt, async move {
                        while let Some(job) = jrx.recv().await {
                            tokio::task::spawn_local(job(&state));
                        }
                    });
                })
                .expect("spawning the walk thread");
            jtx
        })
    }

    /// An action of an engine walk, on the walk thread; the answer (and a
    /// verification's progress) comes back as `Msg::Walk`.
    fn engine_walk<C: ConsoleChange>(
        &mut self,
        walk: String,
        targets: Vec<String>,
        action: Action<C::Work>,
        draft: Option<C::Draft>,
    ) {
        let tx = self.tx.clone();
        let Some(ssh) = self.walk_ssh.clone() else {
            let _ = self.tx.try_send(Msg::Flash {
                error: true,
                text: "walks are not set up in this console".into(),
            });
            return;
        };
        let setup = WalkSetup {
            kube: self.kube.clone(),
            state_dir: self.state_dir.clone(),
            ssh,
        };
        let job: WalkJob = Box::new(move |thread: &WalkThread| {
            let slot = thread.open.clone();
            Box::pin(async move {
                let answer = |ev: Event<C>| Msg::Walk {
                    walk: walk.clone(),
                    event: super::msg::Once::new(Box::new(ev)),
                };
                let send = |ev: Event<C>| {
                    let _ = tx.try_send(answer(ev));
                };
                if let (Action::Load, Some(draft)) = (&action, draft) {
                    // A new walk (or new targets): connect, read its nodes.
                    match C::connect(setup, targets, walk.clone(), draft).await {
                        Ok(io) => {
                            let io: std::rc::Rc<dyn std::any::Any> = std::rc::Rc::new(io);
                            slot.borrow_mut()
                                .insert(std::any::TypeId::of::<C>(), (walk.clone(), io));
                        }
                        Err(e) => {
                            send(Event::LoadFailed(e));
                            return;
                        }
                    }
                }
                let io = slot
                    .borrow()
                    .get(&std::any::TypeId::of::<C>())
                    .filter(|(id, _)| *id == walk)
                    .and_then(|(_, io)| io.clone().downcast::<C::Io>().ok());
                let Some(io) = io else {
                    // A newer walk took the thread: this one's answer would
                    // be dropped anyway.
                    return;
                };
                if let Some(ev) = perform(&*io, action, send).await {
                    let _ = tx.send(answer(ev)).await;
                }
            })
        });
        let _ = self.walk_thread().send(job);
    }

    /// Sweep every node again this often (None: only on `r`).
    pub fn with_sweep_interval(mut self, every: Option<Duration>) -> Runner {
        self.sweep_every = every;
        self
    }

    /// Settings first (node reports are judged against `http-proxy`), then
    /// every node at once, each in its own task: a node that cannot be
    /// reached costs its own connect timeout and nobody else's.
    fn sweep(&mut self, targets: Vec<Target>) {
        if let (Some(every), None) = (self.sweep_every, &self.ticker) {
            let tx = self.tx.clone();
            self.ticker = Some(tokio::spawn(async move {
                let mut i = tokio::time::interval(every);
                i.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                i.tick().await;
                loop {
                    i.tick().await;
                    if tx.send(Msg::RefreshDue).await.is_err() {
                        return;
                    }
                }
            }));
        }
        let (tx, kube, pool, sweeps, thresholds) = (
            self.tx.clone(),
            self.kube.clone(),
            self.pool.clone(),
            self.sweeps.clone(),
            self.thresholds,
        );
        tokio::spawn(async move {
            let settings = match cluster::connect(&kube).await {
                Ok((client, _, _)) => crate::status::read_settings(client).await,
                Err(p) => crate::status::ClusterSettings {
                    error: Some(p.detail),
                    ..Default::default()
                },
            };
            let ctx = settings.context();
            let _ = tx.send(Msg::SettingsRead(Shared::new(settings))).await;
            let mut map = sweeps.lock().expect("sweep map");
            map.retain(|_, h| !h.is_finished());
            for t in targets {
                let (tx, pool, ctx) = (tx.clone(), pool.clone(), ctx.clone());
                let name = t.name.clone();
                let h = tokio::spawn(async move {
                    let (outcome, network) =
                        crate::status::sweep_node_with_network(&pool, &t, ctx, thresholds).await;
                    let _ = tx
                        .send(Msg::NodeSwept {
                            node: t.name.clone(),
                            outcome: Shared::new(outcome),
                            network: Shared::new(network),
                        })
                        .await;
                });
                if let Some(old) = map.insert(name, h) {
                    old.abort();
                }
            }
        });
    }

    pub fn run(&mut self, e: Effect) {
        match e {
            Effect::WatchNodes => {
                if self.watch.is_some() {
                    return;
                }
                let (tx, kube) = (self.tx.clone(), self.kube.clone());
                self.watch = Some(tokio::spawn(async move {
                    match cluster::connect(&kube).await {
                        Ok((client, context, server)) => {
                            let _ = tx.send(Msg::ApiContext { context, server }).await;
                            // The watch speaks its own words; the console's are messages.
                            let (wtx, mut wrx) = tokio::sync::mpsc::channel(16);
                            let forward = async move {
                                while let Some(ev) = wrx.recv().await {
                                    let msg = match ev {
                                        cluster::WatchEvent::Listed(n) => Msg::NodesListed(n),
                                        cluster::WatchEvent::Applied(n) => Msg::NodeApplied(n),
                                        cluster::WatchEvent::Deleted(n) => Msg::NodeDeleted(n),
                                        cluster::WatchEvent::ApiState(s) => Msg::ApiState(s),
                                    };
                                    if tx.send(msg).await.is_err() {
                                        return;
                                    }
                                }
                            };
                            tokio::join!(cluster::watch_nodes(client, wtx), forward);
                        }
                        Err(p) => {
                            tracing::warn!("API: {}", p.detail);
                            let state = if p.kind == ApiProblemKind::Config {
                                ApiState::NotConfigured(p.detail)
                            } else {
                                ApiState::Down(p)
                            };
                            let _ = tx.send(Msg::ApiState(state)).await;
                        }
                    }
                }));
            }
            Effect::LoadCache { context } => {
                let (tx, dir) = (self.tx.clone(), self.state_dir.clone());
                tokio::spawn(async move {
                    let r =
                        tokio::task::spawn_blocking(move || cluster::load_cache(&dir, &context))
                            .await;
                    if let Ok(Ok(nodes)) = r {
                        let _ = tx.send(Msg::CacheLoaded(nodes)).await;
                    }
                });
            }
            Effect::SaveCache { context, nodes } => {
                let (tx, dir) = (self.tx.clone(), self.state_dir.clone());
                tokio::spawn(async move {
                    let r = tokio::task::spawn_blocking(move || {
                        cluster::save_cache(&dir, &context, &nodes)
                    })
                    .await;
                    if let Ok(Err(e)) = r {
                        tracing::warn!("saving node cache: {e:#}");
                        let _ = tx
                            .send(Msg::Flash {
                                error: true,
                                text: format!("could not save the node list cache: {e}"),
                            })
                            .await;
                    }
                });
            }
            Effect::Track(targets) => self.track(targets),
            Effect::Sweep(targets) => self.sweep(targets),
            Effect::Walk {
                walk,
                targets,
                action,
            } => {
                if let Some(a) = action.take() {
                    a.run(self, walk, targets)
                }
            }
            Effect::ReadJoinStates(targets) => {
                for t in targets {
                    let (tx, pool) = (self.tx.clone(), self.pool.clone());
                    tokio::spawn(async move {
                        if let Ok(state) = crate::cli::token::read_join_state(&pool, &t).await {
                            let _ = tx
                                .send(Msg::JoinState {
                                    node: t.name,
                                    state,
                                })
                                .await;
                        }
                    });
                }
            }
            Effect::OpenLogs { pane, sources } => self.open_logs(pane, sources),
            Effect::CloseLogs { pane } => {
                // Dropping the streams closes the remote journalctl's stdin.
                self.logs.remove(&pane);
            }
            Effect::SaveLogs { file, text } => self.save_logs(file, text),
            Effect::Quit => {}
        }
    }

    /// One stream per node; batches go to the app as `Msg::LogLines`. A pane
    /// that falls behind loses lines (counted), never stalls the readers.
    fn open_logs(&mut self, pane: u64, sources: Vec<super::logpane::LogSource>) {
        let (stx, mut srx) = tokio::sync::mpsc::channel::<StreamEvent>(64);
        let streams = sources
            .into_iter()
            .map(|s| {
                let mut spec = StreamSpec::new(s.node, s.target);
                spec.unit = s.unit;
                spec.backlog = super::logpane::BACKLOG;
                spec.backpressure = Backpressure::Drop;
                LogStream::spawn(self.pool.clone(), spec, stx.clone())
            })
            .collect();
        let tx = self.tx.clone();
        let forward = tokio::spawn(async move {
            while let Some(ev) = srx.recv().await {
                let msg = match ev {
                    StreamEvent::Lines {
                        node,
                        lines,
                        dropped,
                    } => Msg::LogLines {
                        pane,
                        node,
                        lines,
                        dropped,
                    },
                    StreamEvent::Status { node, status } => Msg::LogStatus { pane, node, status },
                };
                if tx.send(msg).await.is_err() {
                    return;
                }
            }
        });
        if let Some((_, old)) = self.logs.insert(pane, (streams, forward)) {
            old.abort();
        }
    }

    /// `ctrl-s` in a log pane: `STATE/logs/FILE`, mode 0600 (logs can say
    /// more than they should); the flash line says where.
    fn save_logs(&self, file: String, text: String) {
        let (tx, dir) = (self.tx.clone(), self.state_dir.join("logs"));
        tokio::spawn(async move {
            let lines = text.lines().count();
            let r = tokio::task::spawn_blocking(move || -> std::io::Result<PathBuf> {
                use std::io::Write;
                use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
                std::fs::DirBuilder::new()
                    .recursive(true)
                    .mode(0o700)
                    .create(&dir)?;
                let path = dir.join(file);
                let mut f = std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(&path)?;
                f.write_all(text.as_bytes())?;
                Ok(path)
            })
            .await;
            let (error, text) = match r {
                Ok(Ok(path)) => (false, format!("saved {lines} lines to {}", path.display())),
                Ok(Err(e)) => (true, format!("could not save the log: {e}")),
                Err(e) => (true, format!("could not save the log: {e}")),
            };
            let _ = tx.send(Msg::Flash { error, text }).await;
        });
    }

    /// One probe loop per node; a node whose address changed gets a new one.
    fn track(&mut self, targets: Vec<Target>) {
        let keep: Vec<&str> = targets.iter().map(|t| t.name.as_str()).collect();
        let gone: Vec<String> = self
            .probes
            .keys()
            .filter(|n| !keep.contains(&n.as_str()))
            .cloned()
            .collect();
        for name in gone {
            if let Some((_, h)) = self.probes.remove(&name) {
                h.abort();
            }
            let pool = self.pool.clone();
            tokio::spawn(async move { pool.forget(&name).await });
        }
        for t in targets {
            if let Some((old, h)) = self.probes.get(&t.name) {
                if *old == t {
                    continue;
                }
                h.abort();
            }
            let (tx, pool, every) = (self.tx.clone(), self.pool.clone(), self.probe_every);
            let target = t.clone();
            let h = tokio::spawn(async move {
                if target.address.is_some() {
                    // The address changed: the old connection may point elsewhere.
                    pool.forget(&target.name).await;
                }
                loop {
                    let state = pool.probe(&target).await;
                    if tx
                        .send(Msg::Ssh {
                            node: target.name.clone(),
                            state,
                        })
                        .await
                        .is_err()
                    {
                        return;
                    }
                    tokio::time::sleep(every).await;
                }
            });
            self.probes.insert(t.name.clone(), (t, h));
        }
    }

    /// Stop every task and close the SSH masters (bounded, so quitting never hangs).
    pub async fn shutdown(mut self) {
        if let Some(w) = self.watch.take() {
            w.abort();
        }
        for (_, (_, h)) in self.probes.drain() {
            h.abort();
        }
        if let Some(t) = self.ticker.take() {
            t.abort();
        }
        for (_, h) in self.sweeps.lock().expect("sweep map").drain() {
            h.abort();
        }
        // The log streams go first, so every remote journalctl sees its stdin
        // close before the masters do.
        if !self.logs.is_empty() {
            for (_, (streams, fwd)) in self.logs.drain() {
                fwd.abort();
                drop(streams);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let _ = tokio::time::timeout(Duration::from_secs(3), self.pool.close_all()).await;
    }
}

/// The I/O of a `:password` walk: the API, its target nodes over SSH (a
/// pool of the walk thread's own), the audit log.
async fn password_io(
    setup: WalkSetup,
    targets: Vec<String>,
    correlation_id: String,
) -> Result<crate::cli::password::PasswordIo, String> {
    let WalkSetup {
        kube,
        state_dir,
        ssh,
    } = setup;
    let (client, context, server) = cluster::connect(&kube).await.map_err(|p| p.detail)?;
    let nodes = crate::cli::password::list_nodes(&client).await?;
    if let Some(n) = targets.iter().find(|n| !nodes.contains_key(*n)) {
        return Err(format!("no node named {n} in the cluster"));
    }
    Ok(crate::cli::password::PasswordIo {
        pool: Pool::new(ssh),
        client,
        nodes,
        targets,
        state_dir,
        cluster: format!("{context} ({server})"),
        correlation_id,
        rollout_timeout: Duration::from_secs(120),
    })
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use tokio::sync::mpsc;

    use super::*;
    use crate::app::{ApiProblem, NodeInfo, Role};
    use crate::node::SshSettings;

    /// A runner on a state folder of its own, with no cluster configured
    /// (the kubeconfig does not exist) and no SSH target.
    fn runner(state: &std::path::Path) -> (Runner, mpsc::Receiver<Msg>) {
        let (tx, rx) = mpsc::channel(16);
        let kube = KubeSettings {
            kubeconfig: Some(state.join("no-such-kubeconfig")),
            context: None,
        };
        let pool = Pool::new(SshSettings::new(
            "rancher".into(),
            None,
            state.join("sockets"),
        ));
        let r = Runner::new(tx, kube, state.to_path_buf(), pool, Duration::from_secs(60));
        (r, rx)
    }

    async fn next(rx: &mut mpsc::Receiver<Msg>) -> Msg {
        tokio::time::timeout(Duration::from_secs(10), rx.recv())
            .await
            .expect("a message within 10 s")
            .expect("the runner's channel open")
    }

    fn nodes() -> Vec<NodeInfo> {
        vec![NodeInfo {
            name: "node1".into(),
            role: Role::Server,
            address: Some("10.0.0.11".into()),
            ready: Some(true),
        }]
    }

    #[tokio::test]
    async fn the_node_cache_saved_is_the_one_loaded_for_its_context() {
        let d = tempfile::tempdir().unwrap();
        let (mut r, mut rx) = runner(d.path());
        r.run(Effect::SaveCache {
            context: "ctx-a".into(),
            nodes: nodes(),
        });
        // Saving says nothing when it works; wait for the file, then load.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while cluster::load_cache(d.path(), "ctx-a").is_err() {
            assert!(tokio::time::Instant::now() < deadline, "cache never saved");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        r.run(Effect::LoadCache {
            context: "ctx-a".into(),
        });
        match next(&mut rx).await {
            Msg::CacheLoaded(list) => assert_eq!(list, nodes()),
            other => panic!("{other:?}"),
        }
        r.shutdown().await;
    }

    #[tokio::test]
    async fn a_cache_that_cannot_be_saved_is_said_on_the_flash_line() {
        let d = tempfile::tempdir().unwrap();
        // The state "folder" is a file: nothing can be written under it.
        let state = d.path().join("state");
        std::fs::write(&state, "").unwrap();
        let (mut r, mut rx) = runner(&state);
        r.run(Effect::SaveCache {
            context: "ctx".into(),
            nodes: nodes(),
        });
        match next(&mut rx).await {
            Msg::Flash { error, text } => {
                assert!(error);
                assert!(
                    text.starts_with("could not save the node list cache"),
                    "{text}"
                );
            }
            other => panic!("{other:?}"),
        }
        r.shutdown().await;
    }

    #[tokio::test]
    async fn saved_logs_are_private_and_never_overwritten() {
        let d = tempfile::tempdir().unwrap();
        let (mut r, mut rx) = runner(d.path());
        let save = |r: &mut Runner| {
            r.run(Effect::SaveLogs {
                file: "node1-rke2-server.log".into(),
                text: "one\ntwo\n".into(),
            })
        };
        save(&mut r);
        let path = d.path().join("logs/node1-rke2-server.log");
        match next(&mut rx).await {
            Msg::Flash { error, text } => {
                assert!(!error, "{text}");
                assert_eq!(text, format!("saved 2 lines to {}", path.display()));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "one\ntwo\n");
        let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(&d.path().join("logs")), 0o700);
        // The same name again: refused, the first file kept.
        std::fs::write(&path, "kept").unwrap();
        save(&mut r);
        match next(&mut rx).await {
            Msg::Flash { error, text } => {
                assert!(error);
                assert!(text.starts_with("could not save the log"), "{text}");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "kept");
        r.shutdown().await;
    }

    #[tokio::test]
    async fn without_a_cluster_the_watch_says_so_and_the_proxy_form_cannot_load() {
        let d = tempfile::tempdir().unwrap();
        let (mut r, mut rx) = runner(d.path());
        r.run(Effect::WatchNodes);
        match next(&mut rx).await {
            Msg::ApiState(
                ApiState::NotConfigured(why) | ApiState::Down(ApiProblem { detail: why, .. }),
            ) => {
                assert!(why.contains("no-such-kubeconfig"), "{why}")
            }
            other => panic!("{other:?}"),
        }
        // Engine walks run on their thread, set up as the console does.
        let mut r = r.with_walk_ssh(SshSettings::new(
            "rancher".into(),
            None,
            d.path().join("sockets"),
        ));
        let load: Box<dyn WalkAction> = Box::new(WalkRequest::<crate::flows::proxy::ProxyChange> {
            action: Action::Load,
            draft: Some(Default::default()),
        });
        r.run(Effect::Walk {
            walk: "w1".into(),
            targets: vec![crate::flows::proxy::CLUSTER.into()],
            action: super::super::msg::Once::new(load),
        });
        match next(&mut rx).await {
            Msg::Walk { walk, event } => {
                assert_eq!(walk, "w1");
                let ev = event.take().unwrap();
                let ev = ev
                    .downcast::<Event<crate::flows::proxy::ProxyChange>>()
                    .unwrap();
                assert!(matches!(*ev, Event::LoadFailed(why) if !why.is_empty()));
            }
            other => panic!("{other:?}"),
        }
        r.shutdown().await;
    }
}
