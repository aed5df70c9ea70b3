//! A console in a tmux session: keys in, screen text out (walkthrough tests).

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A tmux server of its own, killed when dropped (also when the test fails).
pub struct Tmux {
    socket: String,
    /// harvcred's log (under the session's `XDG_STATE_HOME`), shown when a
    /// wait fails: what the console did with the keys it was sent.
    log: Option<std::path::PathBuf>,
    /// Every distinct screen captured, for the secrets scan.
    screens: Mutex<Vec<String>>,
}

impl Tmux {
    /// `cmd` in a detached 100x30 session on its own server, named after
    /// `tag` and the test process so parallel tests never share one.
    pub fn start(tag: &str, cmd: &str, env: &[(&str, &Path)]) -> Tmux {
        let socket = format!(
            "hc-{tag}-{}-{}",
            std::process::id(),
            rand::random::<u32>() % 100_000
        );
        let mut c = Command::new("tmux");
        c.args([
            "-L",
            &socket,
            "-f",
            "/dev/null",
            "new-session",
            "-d",
            "-x",
            "100",
            "-y",
            "30",
        ]);
        for (k, v) in env {
            c.arg("-e").arg(format!("{k}={}", v.display()));
        }
        if !env.iter().any(|(k, _)| *k == "HARVCRED_LOG") {
            c.args(["-e", "HARVCRED_LOG=harvcred=debug,info"]);
        }
        c.args(["-e", "TERM=xterm-256color", cmd]);
        assert!(c.status().unwrap().success(), "tmux new-session");
        let log = env
            .iter()
            .find(|(k, _)| *k == "XDG_STATE_HOME")
            .map(|(_, v)| v.join("harvcred/harvcred.log"));
        Tmux {
            socket,
            log,
            screens: Mutex::new(Vec::new()),
        }
    }

    pub fn tmux(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .args(["-L", &self.socket])
            .args(args)
            .output()
            .unwrap();
        // Keys that never reached the console must fail here, not as a
        // screen that never changes.
        let input = matches!(
            args.first(),
            Some(&"send-keys" | &"paste-buffer" | &"set-buffer")
        );
        assert!(
            out.status.success() || !input,
            "tmux {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub fn screen(&self) -> String {
        let s = self.tmux(&["capture-pane", "-p"]);
        let mut seen = self.screens.lock().unwrap();
        if seen.last() != Some(&s) {
            seen.push(s.clone());
        }
        s
    }

    /// The screens [`Tmux::screen`] returned so far, each change once.
    pub fn screens_seen(&self) -> Vec<String> {
        self.screens.lock().unwrap().clone()
    }

    pub fn keys(&self, keys: &[&str]) {
        for k in keys {
            self.tmux(&["send-keys", k]);
            std::thread::sleep(Duration::from_millis(60));
        }
    }

    /// Writes `bytes` to the pane in one go, as a slow link delivers keys
    /// typed in quick succession (`b"\x1bj"`: esc and j in one read).
    pub fn bytes(&self, bytes: &[u8]) {
        let hex: Vec<String> = bytes.iter().map(|b| format!("{b:02x}")).collect();
        let mut args = vec!["send-keys", "-H"];
        args.extend(hex.iter().map(String::as_str));
        self.tmux(&args);
    }

    /// Types text literally (no key names).
    pub fn text(&self, s: &str) {
        self.tmux(&["send-keys", "-l", s]);
        std::thread::sleep(Duration::from_millis(60));
    }

    /// Types a secret: through a tmux buffer loaded from stdin and pasted
    /// (without bracketed paste, so the console gets keys), never in a
    /// process's arguments as `send-keys` would put it.
    pub fn type_secret(&self, secret: &str) {
        let mut load = Command::new("tmux")
            .args(["-L", &self.socket, "load-buffer", "-b", "secret", "-"])
            .stdin(Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write as _;
        load.stdin
            .take()
            .unwrap()
            .write_all(secret.as_bytes())
            .unwrap();
        assert!(load.wait().unwrap().success(), "tmux load-buffer");
        self.tmux(&["paste-buffer", "-d", "-b", "secret"]);
        std::thread::sleep(Duration::from_millis(60));
    }

    /// Runs `:name` as an operator does: `:`, and typing only once the
    /// prompt is drawn, enter only once the line reads `:name` (a key sent
    /// to a screen that is not ready yet tests nothing).
    pub fn command(&self, name: &str) {
        let prompt = |s: &str, typed: &str| {
            s.lines()
                .any(|l| l.trim_start().starts_with(&format!(":{typed}")))
        };
        self.keys(&[":"]);
        self.wait("the command prompt", Duration::from_secs(10), |s| {
            prompt(s, "")
        });
        self.text(name);
        self.wait(&format!("`:{name}` typed"), Duration::from_secs(10), |s| {
            prompt(s, name)
        });
        self.keys(&["Enter"]);
    }

    fn log_tail(&self) -> String {
        let Some(text) = self
            .log
            .as_ref()
            .and_then(|p| std::fs::read_to_string(p).ok())
        else {
            return "(none)".into();
        };
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    /// The screen once `ok` holds, or the last one after `limit`: for a
    /// test that says itself what went wrong.
    pub fn wait_or_screen(&self, limit: Duration, ok: impl Fn(&str) -> bool) -> String {
        let start = Instant::now();
        loop {
            let s = self.screen();
            if ok(&s) || start.elapsed() > limit {
                return s;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Wait until `ok` holds for the screen; fail with the screen if it never does.
    pub fn wait(&self, what: &str, limit: Duration, ok: impl Fn(&str) -> bool) -> String {
        let start = Instant::now();
        loop {
            let s = self.screen();
            if ok(&s) {
                return s;
            }
            if start.elapsed() > limit {
                panic!(
                    "waited {limit:?} for {what}; screen:\n{s}\nharvcred's log, last lines:\n{}",
                    self.log_tail()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// The screen's text with the box borders and line breaks taken out, so a
/// message wrapped over two lines can be found whole.
pub fn flat(screen: &str) -> String {
    screen
        .lines()
        .map(|l| l.trim_matches(|c| c == '│' || c == ' '))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Polls `ok` until it holds; fails after 10 s.
pub fn wait_for(what: &str, ok: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !ok() {
        assert!(Instant::now() < deadline, "waited 10s for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        self.tmux(&["kill-server"]);
    }
}
