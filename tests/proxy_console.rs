//! The `:proxy` form in a real terminal (tmux) against a lab: an uncovered
//! node IP shows Harvester's message at the noProxy field and nothing is
//! sent; fixed, previewed (password masked), dry-run, confirmed, and kubectl
//! shows the new value. Needs root (the lab).

mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{BIN, Lab};

/// A detached tmux session on its own server socket; killed when dropped.
/// (Same shape as tests/console.rs's helper.)
struct Tmux {
    socket: String,
}

impl Tmux {
    fn start(cmd: &str, env: &[(&str, &Path)]) -> Tmux {
        let socket = format!(
            "hc-proxy-{}-{}",
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
        c.args(["-e", "TERM=xterm-256color", cmd]);
        assert!(c.status().unwrap().success(), "tmux new-session");
        Tmux { socket }
    }

    fn tmux(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .args(["-L", &self.socket])
            .args(args)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn screen(&self) -> String {
        self.tmux(&["capture-pane", "-p"])
    }

    fn keys(&self, keys: &[&str]) {
        for k in keys {
            self.tmux(&["send-keys", k]);
            std::thread::sleep(Duration::from_millis(60));
        }
    }

    /// Types text literally (no key names).
    fn text(&self, s: &str) {
        self.tmux(&["send-keys", "-l", s]);
        std::thread::sleep(Duration::from_millis(60));
    }

    fn wait(&self, what: &str, limit: Duration, ok: impl Fn(&str) -> bool) -> String {
        let start = Instant::now();
        loop {
            let s = self.screen();
            if ok(&s) {
                return s;
            }
            if start.elapsed() > limit {
                panic!("waited {limit:?} for {what}; screen:\n{s}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        self.tmux(&["kill-server"]);
    }
}

/// The screen's text with the box borders and line breaks taken out, so a
/// message wrapped over two lines can be found whole.
fn flat(screen: &str) -> String {
    screen
        .lines()
        .map(|l| l.trim_matches(|c| c == '│' || c == ' '))
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn proxy_form_refuses_an_uncovered_node_then_applies_the_fixed_value() {
    let lab = Lab::up(&["--nodes", "3"]);
    let ips = lab.node_ips();
    let tmp = tempfile::tempdir().unwrap();
    let (state, config) = (tmp.path().join("state"), tmp.path().join("config"));
    let env = [
        ("XDG_STATE_HOME", state.as_path()),
        ("XDG_CONFIG_HOME", config.as_path()),
    ];
    let cmd = format!("{BIN} --lab {}; sleep 30", lab.dir.display());
    let t = Tmux::start(&cmd, &env);
    t.wait("the API", Duration::from_secs(15), |s| s.contains("API ok"));

    t.keys(&[":"]);
    t.text("proxy");
    t.keys(&["Enter"]);
    t.wait("the form", Duration::from_secs(10), |s| {
        s.contains("http-proxy · edit")
    });
    t.text("http://admin:FormS3cret@proxy.corp:3128");
    // Shown masked while typed.
    let s = t.wait("the masked URL", Duration::from_secs(5), |s| {
        s.contains("http://admin:***@proxy.corp:3128")
    });
    assert!(!s.contains("FormS3cret"), "{s}");

    // noProxy without the third node: Harvester's message at the field.
    t.keys(&["BTab"]);
    t.text(&format!("{},{}", ips[0], ips[1]));
    let msg = format!(
        "noProxy should contain the node's IP addresses or CIDR. The node(s) {} are not covered.",
        ips[2]
    );
    t.wait("Harvester's message", Duration::from_secs(5), |s| {
        flat(s).contains(&msg)
    });
    let rv_before = lab.kubectl_ok(&[
        "get",
        "settings.harvesterhci.io",
        "http-proxy",
        "-o",
        "jsonpath={.metadata.resourceVersion}",
    ]);
    t.keys(&["Enter"]);
    std::thread::sleep(Duration::from_millis(500));
    let s = t.screen();
    assert!(
        s.contains("http-proxy · edit"),
        "refused: stays in the form\n{s}"
    );
    assert!(
        s.contains(&format!("{},{}", ips[0], ips[1])),
        "what was typed is kept\n{s}"
    );
    assert_eq!(
        lab.kubectl_ok(&[
            "get",
            "settings.harvesterhci.io",
            "http-proxy",
            "-o",
            "jsonpath={.metadata.resourceVersion}",
        ]),
        rv_before,
        "nothing was sent"
    );

    // Fixed: the message goes; preview, dry run, confirm.
    t.text(&format!(",{}", ips[2]));
    t.wait("the message gone", Duration::from_secs(5), |s| {
        !flat(s).contains("are not covered")
    });
    t.keys(&["Enter"]);
    let s = t.wait("the preview", Duration::from_secs(5), |s| {
        s.contains("http-proxy · preview")
    });
    assert!(s.contains("RKE2 restarts on every node"), "{s}");
    assert!(!s.contains("FormS3cret"), "{s}");
    t.keys(&["Enter"]);
    t.wait("the dry run to pass", Duration::from_secs(10), |s| {
        s.contains("http-proxy · confirm")
    });
    t.keys(&["y"]);
    t.wait("configured", Duration::from_secs(60), |s| {
        s.contains("applied; the cluster reports it configured")
    });
    let v = lab.kubectl_ok(&[
        "get",
        "settings.harvesterhci.io",
        "http-proxy",
        "-o",
        "jsonpath={.value}",
    ]);
    assert!(v.contains("http://admin:FormS3cret@proxy.corp:3128"), "{v}");
    assert!(
        v.contains(&format!("{},{},{}", ips[0], ips[1], ips[2])),
        "{v}"
    );
    t.keys(&["Enter", "C-c"]);
    drop(t);
    for f in ["harvcred/audit.jsonl", "harvcred/harvcred.log"] {
        let text = std::fs::read_to_string(state.join(f)).unwrap();
        assert!(!text.contains("FormS3cret"), "{f}:\n{text}");
    }
    let audit = std::fs::read_to_string(state.join("harvcred/audit.jsonl")).unwrap();
    assert!(audit.contains(r#""result":"refused""#), "{audit}");
    assert!(audit.contains(r#""result":"verified""#), "{audit}");
}
