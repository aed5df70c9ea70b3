//! `harvcred password set` against real lab nodes: the new password works
//! at once through PAM on the chosen nodes only, survives a reboot (the lab
//! rebuilds /etc from /oem like Harvester), replaces clear text, works on
//! the old layout, survives a cut link with a retry, and neither the
//! password nor its hash shows in a process argument or environment (host
//! and nodes), the audit, the log, harvcred's files or outputs, the lab's
//! logs or a node file outside /etc/shadow and /oem (the secrets scan,
//! `tests/common/secrets.rs`). Needs root (the lab); run with `scripts/dev test`.

mod common;

use std::process::{Command, Output};
use std::sync::Mutex;
use std::time::Duration;

use common::secrets::{Kind, SecretScan, Sentinel};
use common::{BIN, Home, Lab, output_with_stdin, text};
use harvcred::cli::password::{PasswordIo, list_nodes};
use harvcred::creds::password::Sensitive;
use harvcred::flows::engine::{self, AuditLine, ChangeIo, Walk};
use harvcred::flows::password::{Draft, Facts, NodeWork, PasswordChange};

fn set(home: &Home, lab: &Lab, nodes: &[&str], password: &str) -> Output {
    let mut args = vec!["password", "set", "--yes"];
    for n in nodes {
        args.extend(["--node", n]);
    }
    // At debug: the secrets scan reads harvcred.log as it is most verbose.
    output_with_stdin(
        home.cmd(lab, &args)
            .env("HARVCRED_LOG", "harvcred=debug,info"),
        format!("{password}\n").as_bytes(),
    )
}

fn oem_texts(lab: &Lab, node: &str) -> Vec<(String, String)> {
    let dir = lab.dir.join("nodes").join(node).join("oem");
    let mut v: Vec<(String, String)> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .filter(|e| e.path().is_file())
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read_to_string(e.path()).unwrap_or_default(),
            )
        })
        .collect();
    v.sort();
    v
}

fn reboot(lab: &Lab, nodes: &[&str]) {
    let out = Command::new(BIN)
        .args(["lab", "reboot", "--dir"])
        .arg(&lab.dir)
        .args(nodes)
        .output()
        .unwrap();
    assert!(out.status.success(), "lab reboot: {}", text(&out));
}

fn password_levels(home: &Home, lab: &Lab, scan: &mut SecretScan) -> Vec<(String, String)> {
    let out = home.cmd(lab, &["status", "--json"]).output().unwrap();
    scan.output("status --json", &out);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("status --json: {e}: {}", text(&out)));
    v["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            (
                n["node"].as_str().unwrap().to_string(),
                n["areas"]["password"]["level"]
                    .as_str()
                    .unwrap_or("?")
                    .to_string(),
            )
        })
        .collect()
}

/// Cuts one node's link as its apply starts and brings it back after.
struct CutLink<'a> {
    inner: &'a PasswordIo,
    node: String,
    veth: String,
    once: Mutex<bool>,
    audit: Mutex<Vec<AuditLine>>,
}

fn link(veth: &str, state: &str) {
    let st = Command::new("ip")
        .args(["link", "set", veth, state])
        .status()
        .unwrap();
    assert!(st.success(), "ip link set {veth} {state}");
}

impl ChangeIo<PasswordChange> for CutLink<'_> {
    async fn load(&self) -> Result<Facts, String> {
        self.inner.load().await
    }
    async fn dry_run(&self, t: &str, w: &NodeWork) -> Result<(), String> {
        self.inner.dry_run(t, w).await
    }
    async fn apply(&self, t: &str, w: &NodeWork) -> Result<bool, String> {
        let cut = t == self.node && std::mem::replace(&mut *self.once.lock().unwrap(), false);
        if cut {
            link(&self.veth, "down");
        }
        let r = self.inner.apply(t, w).await;
        if cut {
            link(&self.veth, "up");
        }
        r
    }
    async fn verify(&self, t: &str, w: &NodeWork) -> Result<(), String> {
        self.inner.verify(t, w).await
    }
    fn audit(&self, line: &AuditLine) {
        self.audit.lock().unwrap().push(line.clone());
        self.inner.audit(line);
    }
}

fn password_io(
    lab: &Lab,
    home: &Home,
    rt: &tokio::runtime::Runtime,
    targets: &[&str],
) -> PasswordIo {
    let settings = harvcred::cluster::KubeSettings {
        kubeconfig: Some(lab.kubeconfig()),
        context: None,
    };
    let (client, context, _) = rt
        .block_on(harvcred::cluster::connect(&settings))
        .unwrap_or_else(|p| panic!("connect: {p:?}"));
    let nodes = rt.block_on(list_nodes(&client)).unwrap();
    // In the test's home: removed with it.
    let ctl = home.0.path().join("ctl");
    std::fs::create_dir_all(&ctl).unwrap();
    std::fs::create_dir_all(home.state_dir()).unwrap();
    PasswordIo {
        pool: harvcred::node::Pool::new(harvcred::node::SshSettings::new(
            "rancher".into(),
            Some(lab.ssh_config()),
            ctl,
        )),
        client,
        nodes,
        targets: targets.iter().map(|s| s.to_string()).collect(),
        state_dir: home.state_dir(),
        cluster: context,
        correlation_id: "lab-cut".into(),
        rollout_timeout: Duration::from_secs(60),
    }
}

/// Node1 and node3 get a new password, node2 keeps its own: at once (PAM),
/// after a reboot of all three, and in `status`. Then node3's link is cut
/// as its apply starts, the summary and audit say what node3 holds, and
/// the retry finishes it. Nothing secret leaks on the way.
#[test]
fn a_new_password_on_two_of_three_nodes_works_at_once_after_a_reboot_and_after_a_cut_link() {
    // A CloudInit 99_passwd.yaml sets the password in force: ours must beat it.
    let lab = Lab::up(&["--nodes", "3", "--scenario", "cloudinit-password"]);
    let home = Home::new("hcpw");
    let old = lab.rancher_password();
    assert!(
        oem_texts(&lab, "node1")
            .iter()
            .any(|(n, _)| n == "99_passwd.yaml")
    );
    let node2_before = lab.shadow_hash("node2");
    assert!(
        lab.pam_accepts("node1", &old),
        "the lab's password works first"
    );

    let (first, second) = (Sentinel::new(Kind::Password), Sentinel::new(Kind::Password));
    let (pw, pw2) = (first.value(), second.value());
    let mut scan = SecretScan::start(&lab, &[&first, &second]);
    let out = set(&home, &lab, &["node1", "node3"], pw);
    scan.output("password set", &out);
    let said = text(&out);
    assert_eq!(out.status.code(), Some(0), "{said}");
    assert!(said.contains("2 changed, 0 already so"), "{said}");
    assert!(
        said.contains("next boot: /oem/99_zz_harvcred_rancher_password_node1.yaml"),
        "{said}"
    );
    assert!(lab.pam_accepts("node1", pw));
    assert!(lab.pam_accepts("node3", pw));
    assert!(!lab.pam_accepts("node2", pw), "node2 was not chosen");
    assert!(
        !lab.pam_accepts("node1", &old),
        "node1's old password is gone"
    );
    assert!(lab.pam_accepts("node2", &old));
    let hashes = [lab.shadow_hash("node1"), lab.shadow_hash("node3")];
    scan.add(Sentinel::password_hash(&lab, "node1"));
    scan.add(Sentinel::password_hash(&lab, "node3"));

    // Again with the same password: nothing to do, nothing rewritten.
    let again = set(&home, &lab, &["node1"], pw);
    scan.output("password set again", &again);
    assert_eq!(again.status.code(), Some(0), "{}", text(&again));
    assert!(
        text(&again).contains("0 changed, 1 already so"),
        "{}",
        text(&again)
    );
    assert_eq!(lab.shadow_hash("node1"), hashes[0]);
    // Refused before anything is sent: the default password; no --yes from a pipe.
    let refused = set(&home, &lab, &["node2"], "rancher");
    assert_eq!(refused.status.code(), Some(2), "{}", text(&refused));
    let mut no_yes = home.cmd(&lab, &["password", "set", "--node", "node2"]);
    let no_yes = output_with_stdin(&mut no_yes, format!("{pw}\n").as_bytes());
    scan.output("password set without --yes", &no_yes);
    assert_eq!(no_yes.status.code(), Some(2), "{}", text(&no_yes));
    assert_eq!(lab.shadow_hash("node2"), node2_before, "node2 untouched");
    assert_ne!(hashes[0], hashes[1], "a fresh salt per node");

    // A runtime-only change, like `passwd` (harvester#2699), to show the
    // reboot really rebuilds /etc from /oem.
    output_with_stdin(
        Command::new("ssh").arg("-F").arg(lab.ssh_config()).args([
            "-o",
            "BatchMode=yes",
            "node2",
            "sudo -n chpasswd",
        ]),
        b"rancher:Runtime-Only-Change-1\n",
    );
    assert!(lab.pam_accepts("node2", "Runtime-Only-Change-1"));

    reboot(&lab, &["node1", "node2", "node3"]);
    assert!(
        lab.pam_accepts("node1", pw),
        "node1 keeps it after a reboot"
    );
    assert!(
        lab.pam_accepts("node3", pw),
        "node3 keeps it after a reboot"
    );
    assert!(
        !lab.pam_accepts("node2", "Runtime-Only-Change-1"),
        "a runtime-only change is lost at reboot"
    );
    assert!(lab.pam_accepts("node2", &old));
    assert_eq!(lab.shadow_hash("node2"), node2_before, "node2 unchanged");
    let levels = password_levels(&home, &lab, &mut scan);
    assert_eq!(
        levels,
        ["node1", "node2", "node3"]
            .map(|n| (n.to_string(), "ok".to_string()))
            .to_vec(),
        "status's password area"
    );
    let check = home
        .cmd(&lab, &["password", "check", "--node", "node1"])
        .output()
        .unwrap();
    assert_eq!(check.status.code(), Some(0), "{}", text(&check));
    scan.output("password check", &check);

    // The cut link: node3 only, in-process so the cut lands as its apply starts.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let io = password_io(&lab, &home, &rt, &["node3"]);
    let cut = CutLink {
        inner: &io,
        node: "node3".into(),
        veth: format!("{}n3", lab.id()),
        once: Mutex::new(true),
        audit: Mutex::new(Vec::new()),
    };
    let draft = Draft {
        password: Sensitive::new(pw2),
        again: Sensitive::new(pw2),
    };
    let (mut walk, a) = Walk::new(
        PasswordChange::default(),
        vec!["node3".into()],
        draft,
        engine::ApplyOptions::default(),
        "lab-cut".into(),
    );
    rt.block_on(engine::drive(&mut walk, &cut, a, |_| {}));
    for _ in 0..3 {
        let a = walk.handle(engine::Event::Next);
        rt.block_on(engine::drive(&mut walk, &cut, a, |_| {}));
    }
    let Some(Err(summary)) = walk.result.clone() else {
        panic!("the cut apply must fail: {:?}", walk.result)
    };
    assert!(summary.contains("failed: node3"), "{summary}");
    let state = format!("{:?}", walk.states["node3"]);
    let now_new = lab.pam_accepts("node3", pw2);
    if now_new {
        assert!(state.contains("runtime changed"), "{state}");
    } else {
        assert!(
            lab.pam_accepts("node3", pw),
            "node3 holds the old or the new one"
        );
        assert!(state.contains("runtime unchanged"), "{state}");
    }
    assert!(
        state.contains("persisted unchanged") || state.contains("persisting FAILED"),
        "{state}"
    );
    let runtime_line = home
        .audit()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|l| {
            l["correlation_id"] == "lab-cut" && l["node"] == "node3" && l["step"] == "runtime"
        })
        .expect("the audit has node3's runtime step");
    assert_eq!(runtime_line["result"], "failed");
    let said = runtime_line["detail"].as_str().unwrap();
    assert!(
        said.contains(if now_new {
            "runtime changed"
        } else {
            "runtime unchanged"
        }),
        "{said}"
    );
    assert!(
        cut.audit
            .lock()
            .unwrap()
            .iter()
            .any(|l| l.target.as_deref() == Some("node3")
                && l.step == "apply"
                && l.result == harvcred::audit::Outcome::Failed),
        "the engine's apply line"
    );
    let a = walk.handle(engine::Event::Retry(None));
    rt.block_on(engine::drive(&mut walk, &cut, a, |_| {}));
    assert!(matches!(walk.result, Some(Ok(_))), "{:?}", walk.states);
    assert!(lab.pam_accepts("node3", pw2), "the retry finished node3");
    assert!(lab.pam_accepts("node1", pw), "node1 untouched");
    scan.add(Sentinel::password_hash(&lab, "node3"));
    rt.block_on(io.pool.close_all());

    let audit = home.audit();
    let has = |node: &str, step: &str| {
        audit.lines().any(|l| {
            let l: serde_json::Value = serde_json::from_str(l).unwrap();
            l["action"] == "password.set" && l["node"] == node && l["step"] == step
        })
    };
    assert!(has("node1", "verify") && has("node3", "runtime"), "{audit}");
    scan.finish(&home, "password_lab");
}

/// Clear text in the installer's file (`custom`) is replaced by the hash,
/// backed up in /oem/install/, the new password wins at boot from harvcred's
/// CloudInit file, or without CloudInit from the edited file itself.
fn clear_text_is_replaced(lab_args: &[&str], custom: &str, cloudinit: bool) -> ClearText {
    let lab = Lab::up(lab_args);
    let home = Home::new("hcpw");
    let new = Sentinel::new(Kind::Password);
    let mut scan = SecretScan::start(&lab, &[&new]);
    let pw = new.value();
    let clear = lab.rancher_password();
    let before = oem_texts(&lab, "node1");
    assert!(
        before
            .iter()
            .any(|(n, t)| n == custom && t.contains(&clear)),
        "the scenario puts clear text in {custom}: {:?}",
        before.iter().map(|(n, _)| n).collect::<Vec<_>>()
    );
    let out = set(&home, &lab, &["node1"], pw);
    scan.output("password set", &out);
    let said = text(&out);
    assert_eq!(out.status.code(), Some(0), "{said}");
    assert!(
        said.contains(&format!("CLEAR TEXT in /oem/{custom}")),
        "{said}"
    );
    let winner = if cloudinit {
        "99_zz_harvcred_rancher_password_node1.yaml"
    } else {
        custom
    };
    assert!(
        said.contains(&format!("next boot: /oem/{winner}")),
        "{said}"
    );
    assert_eq!(said.contains("persisted: CloudInit"), cloudinit, "{said}");
    let after = oem_texts(&lab, "node1");
    for (name, t) in &after {
        assert!(!t.contains(&clear), "clear text left in /oem/{name}");
    }
    let hash = lab.shadow_hash("node1");
    scan.add(Sentinel::password_hash(&lab, "node1"));
    for file in [custom, winner] {
        assert!(
            after.iter().any(|(n, t)| n == file && t.contains(&hash)),
            "{file} holds the new hash"
        );
    }
    let backups: Vec<String> = std::fs::read_dir(lab.dir.join("nodes/node1/oem/install"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        backups.iter().any(|b| b.starts_with(&format!("{custom}."))),
        "{backups:?}"
    );
    reboot(&lab, &["node1"]);
    assert!(lab.pam_accepts("node1", pw));
    assert!(!lab.pam_accepts("node1", &clear));
    assert_eq!(
        password_levels(&home, &lab, &mut scan),
        vec![("node1".to_string(), "ok".to_string())]
    );
    ClearText { lab, home, scan }
}

/// A lab of one node whose clear text was replaced, and its scan, running.
struct ClearText {
    lab: Lab,
    home: Home,
    scan: SecretScan,
}

#[test]
fn clear_text_on_the_old_layout_is_replaced_and_a_cloudinit_wins() {
    let done = clear_text_is_replaced(
        &[
            "--nodes",
            "1",
            "--scenario",
            "old-layout",
            "--scenario",
            "plaintext-password",
        ],
        "99_custom.yaml",
        true,
    );
    done.scan.finish(&done.home, "password_lab");
}

/// Harvester before v1.3 has no CloudInit: the winning /oem file is edited.
/// Then a change whose persisting fails (the file was edited by someone
/// else after it was read) is shown as runtime changed, not persisted, and
/// the retry only persists.
#[test]
fn without_cloudinit_the_winning_oem_file_is_edited() {
    let ClearText {
        lab,
        home,
        mut scan,
    } = clear_text_is_replaced(
        &[
            "--nodes",
            "1",
            "--scenario",
            "no-cloudinit",
            "--scenario",
            "plaintext-password",
        ],
        "90_custom.yaml",
        false,
    );

    let rt = tokio::runtime::Runtime::new().unwrap();
    let io = password_io(&lab, &home, &rt, &["node1"]);
    let second = Sentinel::new(Kind::Password);
    scan.add(second.clone());
    let pw2 = second.value();
    let draft = Draft {
        password: Sensitive::new(pw2),
        again: Sensitive::new(pw2),
    };
    let (mut walk, a) = Walk::new(
        PasswordChange::default(),
        vec!["node1".into()],
        draft,
        engine::ApplyOptions::default(),
        "lab-cut".into(),
    );
    rt.block_on(engine::drive(&mut walk, &io, a, |_| {}));
    for _ in 0..2 {
        let a = walk.handle(engine::Event::Next);
        rt.block_on(engine::drive(&mut walk, &io, a, |_| {}));
    }
    // Read and planned; now someone edits the file before harvcred writes it.
    let file = lab.dir.join("nodes/node1/oem/90_custom.yaml");
    let theirs = std::fs::read(&file).unwrap();
    let mut edited = theirs.clone();
    edited.extend_from_slice(b"# an operator was here\n");
    std::fs::write(&file, &edited).unwrap();
    let a = walk.handle(engine::Event::Next);
    rt.block_on(engine::drive(&mut walk, &io, a, |_| {}));
    let state = format!("{:?}", walk.states["node1"]);
    assert!(
        state.contains("runtime changed, persisting FAILED"),
        "{state}"
    );
    assert_eq!(harvcred::cli::walk::exit_code_of(&walk.states), 1);
    assert!(lab.pam_accepts("node1", pw2), "the runtime changed");
    assert_eq!(std::fs::read(&file).unwrap(), edited, "their edit kept");
    // Their edit undone, the retry persists only.
    std::fs::write(&file, &theirs).unwrap();
    let a = walk.handle(engine::Event::Retry(None));
    rt.block_on(engine::drive(&mut walk, &io, a, |_| {}));
    assert!(matches!(walk.result, Some(Ok(_))), "{:?}", walk.states);
    let retried = home.audit();
    assert!(
        retried.lines().any(|l| {
            let l: serde_json::Value = serde_json::from_str(l).unwrap();
            l["correlation_id"] == "lab-cut"
                && l["node"] == "node1"
                && l["step"] == "runtime"
                && l["detail"] == "runtime already had the new hash"
        }),
        "the retry only persists: {retried}"
    );
    rt.block_on(io.pool.close_all());
    reboot(&lab, &["node1"]);
    assert!(lab.pam_accepts("node1", pw2));
    scan.add(Sentinel::password_hash(&lab, "node1"));
    scan.finish(&home, "password_lab");
}
