//! The console's loop: one task owns `App`; keys and background results
//! arrive on one channel; effects go to the runner; a frame is drawn on the
//! frame tick when something changed.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Result;
use crossterm::event::Event;
use tokio::sync::mpsc;

use crate::app::runner::Runner;
use crate::app::{App, Msg, Setup};
use crate::cluster::KubeSettings;
use crate::config::{Config, Paths};
use crate::node::{Pool, SshSettings};
use crate::ui::{self, Theme};

/// Everything the console needs, from the command line and config.
#[derive(Debug, Clone)]
pub struct Options {
    pub kubeconfig: Option<PathBuf>,
    pub context: Option<String>,
    pub ssh_config: Option<PathBuf>,
    pub ssh_user: Option<String>,
    pub inventory: Option<PathBuf>,
    pub read_only: bool,
    pub theme: Option<String>,
    /// When the process started, to log the time to the first frame.
    pub started: Instant,
}

/// 50 ms: fast enough to feel immediate, bounded so a burst of messages
/// costs at most 20 frames a second.
const FRAME: Duration = Duration::from_millis(50);
/// How long the input thread waits for a key before it looks whether the
/// console is closing.
const INPUT_WAIT: Duration = Duration::from_millis(100);

/// Logging goes to a file in the state folder, never to the terminal.
pub fn init_logging(paths: &Paths) -> Option<PathBuf> {
    use tracing_subscriber::EnvFilter;
    let path = paths.log_file();
    let file = crate::config::open_private_append(&path).ok()?;
    let filter = EnvFilter::try_from_env("HARVCRED_LOG")
        .unwrap_or_else(|_| EnvFilter::new("harvcred=info,warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false)
        .with_writer(std::sync::Mutex::new(file))
        .try_init()
        .ok()?;
    Some(path)
}

pub fn run(opts: Options) -> Result<i32> {
    // Passwords are typed here and secrets read: no core dumps (also when
    // opened by `harvcred lab`, after its nodes have started).
    crate::hardening::disable_core_dumps()?;
    let paths = Paths::from_env();
    init_logging(&paths);
    // Start-up reads (config, theme, inventory) happen before the first frame;
    // the loop itself never touches the disk or the network.
    let config = Config::load(&paths.config_file())?;
    let inventory = match opts.inventory.as_ref().or(config.inventory.as_ref()) {
        Some(p) => crate::cluster::load_inventory(p)?,
        None => Vec::new(),
    };
    let theme_name = ui::theme::choose(
        opts.theme.as_deref(),
        config.theme.as_deref(),
        ui::theme::no_color_env(),
    );
    let (theme, notice) = Theme::load(&theme_name, &paths.user_themes());
    if let Some(n) = &notice {
        tracing::warn!("{n}");
    }
    let kube: Result<(), String> = Ok(());
    let setup = Setup {
        read_only: opts.read_only || config.read_only,
        inventory,
        kube: kube.clone(),
        notice,
        theme: theme.name.clone(),
    };
    let ssh = SshSettings::new(
        opts.ssh_user
            .clone()
            .or(config.ssh_user.clone())
            .unwrap_or_else(|| "rancher".into()),
        opts.ssh_config.clone(),
        paths.runtime_dir.clone(),
    );
    let probe_every = Duration::from_secs(config.probe_interval_secs.unwrap_or(3).max(1));
    let kube_settings = KubeSettings {
        kubeconfig: opts.kubeconfig.clone(),
        context: opts.context.clone(),
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let (tx, rx) = mpsc::channel::<Msg>(1024);
        let runner = Runner::new(
            tx.clone(),
            kube_settings,
            paths.state_dir.clone(),
            Pool::new(ssh.clone()),
            probe_every,
        )
        .with_walk_ssh(ssh)
        .with_sweep_interval(
            config
                .sweep_interval_secs
                .filter(|s| *s > 0)
                .map(Duration::from_secs),
        )
        .with_thresholds(config.certificates);
        let mut app = App::new(setup).with_thresholds(config.certificates);
        if let Some(n) = config.log_lines {
            app.logs.max_lines = n.max(1);
        }
        event_loop(app, runner, tx, rx, &theme, kube.is_ok(), opts.started).await
    })?;
    Ok(0)
}

async fn event_loop(
    mut app: App,
    mut runner: Runner,
    tx: mpsc::Sender<Msg>,
    mut rx: mpsc::Receiver<Msg>,
    theme: &Theme,
    kube: bool,
    started: Instant,
) -> Result<()> {
    let mut guard = ui::terminal::TerminalGuard::enter();
    let size = guard.terminal.size()?;
    app.update(Msg::Resize {
        width: size.width,
        height: size.height,
    });
    guard.terminal.draw(|f| ui::draw(f, &app, theme))?;
    app.dirty = false;
    tracing::info!("first frame after {} ms", started.elapsed().as_millis());
    for e in app.start(kube) {
        runner.run(e);
    }

    let stop_input = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    read_terminal(tx.clone(), stop_input.clone())?;
    let signals = tokio::spawn(signals(tx.clone()));
    let mut frame = tokio::time::interval(FRAME);
    frame.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let result = loop {
        tokio::select! {
            msg = rx.recv() => {
                let Some(msg) = msg else { break Ok(()) };
                for e in app.update(msg) {
                    runner.run(e);
                }
                if app.quit { break Ok(()) }
            }
            _ = frame.tick() => {
                if app.dirty {
                    if let Err(e) = guard.terminal.draw(|f| ui::draw(f, &app, theme)) {
                        break Err(e.into());
                    }
                    app.dirty = false;
                }
            }
        }
    };
    stop_input.store(true, std::sync::atomic::Ordering::Relaxed);
    signals.abort();
    drop(guard);
    runner.shutdown().await;
    result
}

/// Keys and resizes, read by a thread of its own that blocks on the
/// terminal. crossterm's `EventStream` hands every wait to a helper thread
/// and was seen to leave a typed key unread until the next key arrived (a
/// form that did not open until the operator pressed another key); a
/// thread that reads the terminal itself has no hand-off to lose. It looks
/// at `stop` between short waits, so it is gone before the terminal is
/// given back to the shell.
fn read_terminal(
    tx: mpsc::Sender<Msg>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> std::io::Result<()> {
    use std::sync::atomic::Ordering;
    std::thread::Builder::new()
        .name("terminal-input".into())
        .spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                let ev = match crossterm::event::poll(INPUT_WAIT) {
                    Ok(false) => continue,
                    Ok(true) => crossterm::event::read(),
                    Err(e) => Err(e),
                };
                let msg = match ev {
                    Ok(Event::Key(k)) => Msg::Key(k),
                    Ok(Event::Resize(width, height)) => Msg::Resize { width, height },
                    Ok(Event::Paste(text)) => Msg::Paste(crate::app::msg::Pasted(text.into())),
                    Ok(_) => continue,
                    Err(e) => {
                        tracing::error!("terminal input: {e}");
                        Msg::Quit
                    }
                };
                let quit = matches!(msg, Msg::Quit);
                if tx.blocking_send(msg).is_err() || quit {
                    return;
                }
            }
        })?;
    Ok(())
}

async fn signals(tx: mpsc::Sender<Msg>) {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut hup)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::hangup()),
    ) else {
        return;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = hup.recv() => {}
    }
    let _ = tx.send(Msg::Quit).await;
}
