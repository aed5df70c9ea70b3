//! The SSH side against a real lab: one reused master per node, never more
//! than 8 commands at once on it (sshd refuses the 11th), strict host keys
//! with the offered fingerprint shown, masters closed on the way out.
//! Needs root (the lab); run with `scripts/dev test`.

mod common;

use std::path::Path;
use std::time::Duration;

use common::Lab;
use harvcred::app::{SshProblemKind, SshState, Target};
use harvcred::node::{MAX_COMMANDS_PER_NODE, Pool, SshSettings, parse_keyscan};

fn pool(ssh_config: &Path) -> std::sync::Arc<Pool> {
    let ctl = tempfile::Builder::new()
        .prefix("hcp")
        .tempdir_in("/tmp")
        .unwrap();
    let s = SshSettings::new("rancher".into(), Some(ssh_config.to_path_buf()), ctl.keep());
    Pool::new(s)
}

fn target(name: &str) -> Target {
    Target {
        name: name.into(),
        address: None,
    }
}

fn masters(cfg: &Path) -> usize {
    let cfg = cfg.display().to_string();
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
        .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
        .filter(|c| c.starts_with("ssh ") && c.contains(" -M ") && c.contains(&cfg))
        .count()
}

/// A copy of the lab's ssh_config that checks host keys against `known_hosts`.
fn config_with_known_hosts(lab: &Lab, dir: &Path, known_hosts: &str) -> std::path::PathBuf {
    let kh = dir.join("known_hosts");
    std::fs::write(&kh, known_hosts).unwrap();
    let text = std::fs::read_to_string(lab.ssh_config()).unwrap().replace(
        &format!("\"{}\"", lab.dir.join("known_hosts").display()),
        &format!("\"{}\"", kh.display()),
    );
    assert!(
        text.contains(&kh.display().to_string()),
        "ssh_config layout changed"
    );
    let cfg = dir.join("ssh_config");
    std::fs::write(&cfg, text).unwrap();
    cfg
}

#[test]
fn pool_on_a_lab() {
    let lab = Lab::up(&["--nodes", "2"]);
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let p = pool(&lab.ssh_config());
        // Masters run with the config harvcred hands ssh (forced options,
        // then the lab's included): that is what their command line names.
        let wrapper = p.ssh_config_file().unwrap().to_path_buf();

        // Probes reuse one master per node.
        for _ in 0..3 {
            for n in ["node1", "node2"] {
                assert!(matches!(p.probe(&target(n)).await, SshState::Up { .. }));
            }
        }
        assert_eq!(masters(&wrapper), 2);

        // 20 commands at once on one node: all succeed (sshd's MaxSessions is 10),
        // and the remote start/end times never overlap more than 8 deep.
        let script = "date +%s%N; sleep 0.4; date +%s%N";
        let (n1, args) = (target("node1"), ["-c", script]);
        let runs = (0..20).map(|_| p.exec(&n1, "sh", &args));
        let outs = futures::future::join_all(runs).await;
        let mut spans = Vec::new();
        for o in outs {
            let o = o.expect("command over the shared master");
            assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
            let t: Vec<u128> = String::from_utf8(o.stdout)
                .unwrap()
                .lines()
                .map(|l| l.trim().parse().unwrap())
                .collect();
            spans.push((t[0], t[1]));
        }
        let deepest = spans
            .iter()
            .map(|(s, _)| spans.iter().filter(|(a, b)| a <= s && s < b).count())
            .max()
            .unwrap();
        assert!(deepest <= MAX_COMMANDS_PER_NODE, "{deepest} at once");
        assert!(deepest >= 2, "commands did run concurrently");

        p.close_all().await;
        // The masters exit on their own once asked; give them a deadline.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while masters(&wrapper) > 0 {
            assert!(
                tokio::time::Instant::now() < deadline,
                "masters left after close_all"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }

        // Strict host keys: an unknown key is refused and its fingerprint shown.
        let lab_kh = std::fs::read_to_string(lab.dir.join("known_hosts")).unwrap();
        let node1_line = lab_kh.lines().find(|l| l.starts_with("node1,")).unwrap();
        let real = parse_keyscan(node1_line).remove(0);
        let tmp = tempfile::tempdir().unwrap();
        let cfg = config_with_known_hosts(&lab, tmp.path(), "");
        match pool(&cfg).probe(&target("node1")).await {
            SshState::Down(pr) => match pr.kind {
                SshProblemKind::HostKeyUnknown(fps) => {
                    assert!(fps.contains(&real), "{fps:?} vs {real}")
                }
                k => panic!("expected an unknown host key, got {k:?}: {}", pr.detail),
            },
            s => panic!("connected without a known host key: {s:?}"),
        }
        assert_eq!(
            std::fs::read_to_string(tmp.path().join("known_hosts")).unwrap(),
            "",
            "a key was added to known_hosts"
        );

        // A changed key: refused, and the key the host now offers is named.
        let other = tmp.path().join("other");
        assert!(
            std::process::Command::new("ssh-keygen")
                .args(["-q", "-t", "ed25519", "-N", "", "-f"])
                .arg(&other)
                .status()
                .unwrap()
                .success()
        );
        let other_pub = std::fs::read_to_string(other.with_extension("pub")).unwrap();
        let mut w = other_pub.split_whitespace();
        let (kt, body) = (w.next().unwrap(), w.next().unwrap());
        let hosts = node1_line.split_whitespace().next().unwrap();
        let cfg = config_with_known_hosts(&lab, tmp.path(), &format!("{hosts} {kt} {body}\n"));
        match pool(&cfg).probe(&target("node1")).await {
            SshState::Down(pr) => match pr.kind {
                SshProblemKind::HostKeyChanged(Some(fp)) => assert_eq!(fp, real),
                k => panic!("expected a changed host key, got {k:?}: {}", pr.detail),
            },
            s => panic!("connected despite a changed host key: {s:?}"),
        }
    });
}
