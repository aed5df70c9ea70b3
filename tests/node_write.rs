//! Safe writes of node files against a real lab: a change lands whole with a
//! backup, keeps owner and mode, is refused when the file changed since it
//! was read, and a link cut during the write leaves the old file or the new
//! one (byte-compared on the node's own disk), which a retry then finishes
//! without touching the nodes already changed.
//! Needs root (the lab); run with `scripts/dev test`.

mod common;

use std::path::Path;
use std::process::Command;

use common::Lab;
use harvcred::app::Target;
use harvcred::cluster::cloudinit;
use harvcred::flows::engine;
use harvcred::node::write::{self, Backup, FileChange, Found, Version, WriteError, Written};
use harvcred::node::{Pool, SshSettings};
use zeroize::Zeroizing;

const FILE: &str = "/oem/90_custom.yaml";

fn target(name: &str) -> Target {
    Target {
        name: name.into(),
        address: None,
    }
}

fn pool(ssh_config: &Path) -> std::sync::Arc<Pool> {
    let ctl = tempfile::Builder::new()
        .prefix("hcw")
        .tempdir_in("/tmp")
        .unwrap();
    Pool::new(SshSettings::new(
        "rancher".into(),
        Some(ssh_config.to_path_buf()),
        ctl.keep(),
    ))
}

/// The file as the node's own disk holds it (its /oem is a folder of the lab).
fn on_disk(lab: &Lab, node: &str) -> Vec<u8> {
    std::fs::read(lab.dir.join("nodes").join(node).join("oem/90_custom.yaml")).unwrap()
}

fn backups(lab: &Lab, node: &str) -> Vec<String> {
    let dir = lab.dir.join("nodes").join(node).join("oem/install");
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with("90_custom.yaml."))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

fn change(file: &write::RemoteFile) -> FileChange {
    let old = file.content.as_ref().expect("90_custom.yaml exists");
    let mut new = old.to_vec();
    new.extend_from_slice(b"# changed by harvcred's write test\n");
    FileChange {
        path: FILE.into(),
        from: file.version.clone(),
        content: Zeroizing::new(new),
        backup: Backup::for_path(FILE),
        new_mode: 0o600,
    }
}

#[test]
fn writes_are_whole_backed_up_refused_when_stale_and_finished_by_a_retry() {
    let lab = Lab::up(&["--nodes", "3"]);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let pool = pool(&lab.ssh_config());
    let nodes = ["node1", "node2", "node3"];
    let stat = |node: &str| lab.ssh_ok(node, &format!("sudo stat -c '%a %u %g' {FILE}"));
    let before_stat: Vec<String> = nodes.iter().map(|n| stat(n)).collect();

    let read: Vec<_> = nodes
        .iter()
        .map(|n| rt.block_on(write::read(&pool, &target(n), FILE)).unwrap())
        .collect();
    for (i, n) in nodes.iter().enumerate() {
        assert_eq!(
            read[i].content.as_deref().map(|c| c.as_slice()),
            Some(on_disk(&lab, n).as_slice()),
            "{n}: read gives the bytes on disk"
        );
        assert_eq!(read[i].version, Version::of(&on_disk(&lab, n)));
    }
    let changes: Vec<_> = read.iter().map(change).collect();
    let old: Vec<Vec<u8>> = read
        .iter()
        .map(|f| f.content.as_ref().unwrap().to_vec())
        .collect();

    // node1: written whole, backed up into /oem/install, owner and mode kept.
    let w = rt
        .block_on(write::write(&pool, &target("node1"), &changes[0]))
        .unwrap();
    let Written::Changed { backup: Some(copy) } = w else {
        panic!("node1: {w:?}")
    };
    assert!(copy.starts_with("/oem/install/90_custom.yaml."), "{copy}");
    assert_eq!(on_disk(&lab, "node1"), *changes[0].content);
    assert_eq!(backups(&lab, "node1").len(), 1);
    let name = copy.rsplit('/').next().unwrap();
    let saved = std::fs::read(lab.dir.join("nodes/node1/oem/install").join(name)).unwrap();
    assert_eq!(saved, old[0], "the backup is the original, byte for byte");
    assert_eq!(stat("node1"), before_stat[0], "owner and mode kept");

    // node2: the link goes down before the write reaches the node.
    let veth = format!("{}n2", lab.id());
    let link = |state: &str| {
        let st = Command::new("ip")
            .args(["link", "set", &veth, state])
            .status()
            .unwrap();
        assert!(st.success(), "ip link set {veth} {state}");
    };
    // Make sure node2's connection exists, so the cut hits a live session.
    rt.block_on(write::version(&pool, &target("node2"), FILE))
        .unwrap();
    link("down");
    let cut = rt.block_on(write::write(&pool, &target("node2"), &changes[1]));
    link("up");
    assert!(
        matches!(cut, Err(WriteError::Exec(_))),
        "a write over a cut link fails: {cut:?}"
    );
    let after_cut = on_disk(&lab, "node2");
    assert!(
        after_cut == old[1] || after_cut == *changes[1].content,
        "node2 holds the old or the new file, never a mix"
    );
    let found = rt
        .block_on(write::probe(&pool, &target("node2"), &changes[1]))
        .unwrap();
    assert_eq!(
        found,
        if after_cut == old[1] {
            Found::Old
        } else {
            Found::New
        },
        "the probe tells which"
    );

    // node3: changed by someone else since it was read: refused, theirs kept.
    lab.ssh_ok(
        "node3",
        &format!("echo '# an operator was here' | sudo tee -a {FILE} >/dev/null"),
    );
    let theirs = on_disk(&lab, "node3");
    let stale = rt.block_on(write::write(&pool, &target("node3"), &changes[2]));
    match stale {
        Err(WriteError::Changed { now, .. }) => assert_eq!(now, Version::of(&theirs)),
        other => panic!("node3: a stale write must be refused, got {other:?}"),
    }
    assert_eq!(on_disk(&lab, "node3"), theirs, "their change kept");
    assert!(
        backups(&lab, "node3").is_empty(),
        "nothing backed up for a refused write"
    );

    // The retry of the whole change: node1 is left alone, node2 is finished.
    let again = rt
        .block_on(write::write(&pool, &target("node1"), &changes[0]))
        .unwrap();
    assert_eq!(again, Written::AlreadyApplied);
    assert_eq!(backups(&lab, "node1").len(), 1, "node1 not changed twice");
    let retried = rt
        .block_on(write::write(&pool, &target("node2"), &changes[1]))
        .unwrap();
    if after_cut == old[1] {
        assert!(matches!(retried, Written::Changed { .. }), "{retried:?}");
    } else {
        assert_eq!(retried, Written::AlreadyApplied);
    }
    assert_eq!(on_disk(&lab, "node2"), *changes[1].content);
    assert_eq!(stat("node2"), before_stat[1]);
    // Nothing left in /oem but the files and the backups.
    for n in nodes {
        let litter = lab.ssh_ok(n, "sudo find /oem -maxdepth 1 -name '.harvcred-write.*'");
        assert!(litter.trim().is_empty(), "{n}: temporary left: {litter}");
    }
    rt.block_on(pool.close_all());
}

/// The CloudInit client against the lab's node-manager: a per-node
/// resource lands in that node's /oem only; a write from a stale version is
/// a conflict; a dry run stores nothing; deleting removes the file.
#[test]
fn cloudinit_for_one_node_lands_in_its_oem_only() {
    let lab = Lab::up(&["--nodes", "2"]);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let settings = harvcred::cluster::KubeSettings {
        kubeconfig: Some(lab.kubeconfig()),
        context: None,
    };
    let client = rt
        .block_on(harvcred::cluster::connect(&settings))
        .map(|(c, _, _)| c)
        .unwrap_or_else(|p| panic!("connect: {p:?}"));
    assert!(rt.block_on(cloudinit::served(&client)).unwrap());

    let name = "harvcred-write-test-node2";
    let file = "95_harvcred_write_test.yaml";
    let contents =
        "stages:\n  initramfs:\n    - name: harvcred write test\n      commands: [\"true\"]\n";
    let ci = cloudinit::CloudInit {
        name: name.into(),
        selector: cloudinit::Selector::Node("node2".into()),
        filename: file.into(),
        contents: Zeroizing::new(contents.into()),
        paused: false,
    };
    let oem = |node: &str| lab.dir.join("nodes").join(node).join("oem").join(file);

    let dry = rt
        .block_on(cloudinit::apply(&client, &ci, None, true))
        .unwrap();
    assert_eq!(dry.cloudinit.filename, file);
    assert!(
        rt.block_on(cloudinit::get(&client, name))
            .unwrap()
            .is_none(),
        "a dry run stores nothing"
    );

    let created = rt
        .block_on(cloudinit::apply(&client, &ci, None, false))
        .unwrap();
    let rollouts = rt.block_on(cloudinit::follow_rollouts(
        &client,
        name,
        &["node2".to_string()],
        std::time::Duration::from_secs(30),
        |_| {},
    ));
    assert!(rollouts["node2"].done(), "{rollouts:?}");
    assert_eq!(std::fs::read_to_string(oem("node2")).unwrap(), contents);
    assert!(!oem("node1").exists(), "node1 is not selected");

    // A second writer that read before the first change: refused.
    let again = rt.block_on(cloudinit::apply(&client, &ci, None, false));
    assert!(
        matches!(again, Err(cloudinit::ApplyFailure::Conflict)),
        "creating an existing CloudInit: {again:?}"
    );
    let mut newer = cloudinit::CloudInit {
        contents: Zeroizing::new(format!("{contents}# second\n")),
        ..ci
    };
    // node-manager's status writes move the version on: read, then write.
    let current = rt.block_on(cloudinit::get(&client, name)).unwrap().unwrap();
    let updated = rt
        .block_on(cloudinit::apply(
            &client,
            &newer,
            Some(&current.resource_version),
            false,
        ))
        .unwrap();
    newer.contents = Zeroizing::new(format!("{contents}# third\n"));
    let stale = rt.block_on(cloudinit::apply(
        &client,
        &newer,
        Some(&current.resource_version),
        false,
    ));
    assert!(
        matches!(stale, Err(cloudinit::ApplyFailure::Conflict)),
        "a write from an old resourceVersion: {stale:?}"
    );
    assert_ne!(updated.resource_version, created.resource_version);
    rt.block_on(cloudinit::follow_rollouts(
        &client,
        name,
        &["node2".to_string()],
        std::time::Duration::from_secs(30),
        |_| {},
    ));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while std::fs::read_to_string(oem("node2")).unwrap_or_default()
        != format!("{contents}# second\n")
    {
        assert!(
            std::time::Instant::now() < deadline,
            "node2's file never followed the update"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }

    rt.block_on(cloudinit::delete(&client, name)).unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while oem("node2").exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "the file stayed after the delete"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

/// A change for the engine's lab test: a line appended to a file on each
/// node, written with the safe write.
struct DemoAppend;

const DEMO: &str = "/etc/rancher/harvcred-demo.yaml";

impl engine::Change for DemoAppend {
    type Draft = String;
    type Facts = std::collections::BTreeMap<String, write::RemoteFile>;
    type Work = std::sync::Arc<FileChange>;

    fn action(&self) -> &'static str {
        "demo.append"
    }
    fn validate(&self, _: &String, _: &Self::Facts) -> Vec<engine::Problem> {
        vec![]
    }
    fn plan(
        &self,
        draft: &String,
        facts: &Self::Facts,
        targets: &[String],
    ) -> Result<Vec<engine::Planned<Self::Work>>, String> {
        targets
            .iter()
            .map(|t| {
                let f = facts.get(t).ok_or(format!("{t} was not read"))?;
                let mut new = f.content.as_ref().map(|c| c.to_vec()).unwrap_or_default();
                new.extend_from_slice(format!("{draft}\n").as_bytes());
                Ok(engine::Planned {
                    target: t.clone(),
                    preview: vec![format!("{DEMO}: append one line")],
                    work: std::sync::Arc::new(FileChange {
                        path: DEMO.into(),
                        from: f.version.clone(),
                        content: Zeroizing::new(new),
                        backup: Backup::None,
                        new_mode: 0o600,
                    }),
                })
            })
            .collect()
    }
}

struct DemoIo<'a> {
    pool: &'a Pool,
    nodes: Vec<String>,
    /// Cut this node's link (veth) just before its first write.
    cut_once: std::sync::Mutex<Option<(String, String)>>,
    writes: std::sync::Mutex<Vec<(String, String)>>,
    audit: std::sync::Mutex<Vec<engine::AuditLine>>,
}

impl engine::ChangeIo<DemoAppend> for DemoIo<'_> {
    async fn load(&self) -> Result<<DemoAppend as engine::Change>::Facts, String> {
        let mut m = std::collections::BTreeMap::new();
        for n in &self.nodes {
            let f = write::read(self.pool, &target(n), DEMO)
                .await
                .map_err(|e| e.to_string())?;
            m.insert(n.clone(), f);
        }
        Ok(m)
    }
    async fn dry_run(
        &self,
        t: &str,
        _: &<DemoAppend as engine::Change>::Work,
    ) -> Result<(), String> {
        write::version(self.pool, &target(t), DEMO)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
    async fn apply(
        &self,
        t: &str,
        w: &<DemoAppend as engine::Change>::Work,
    ) -> Result<bool, String> {
        let cut = {
            let mut c = self.cut_once.lock().unwrap();
            match c.as_ref() {
                Some((node, _)) if node == t => c.take(),
                _ => None,
            }
        };
        if let Some((_, veth)) = &cut {
            assert!(
                Command::new("ip")
                    .args(["link", "set", veth, "down"])
                    .status()
                    .unwrap()
                    .success()
            );
        }
        let r = write::write(self.pool, &target(t), w).await;
        if let Some((_, veth)) = &cut {
            assert!(
                Command::new("ip")
                    .args(["link", "set", veth, "up"])
                    .status()
                    .unwrap()
                    .success()
            );
        }
        let outcome = match &r {
            Ok(Written::Changed { .. }) => "changed",
            Ok(Written::AlreadyApplied) => "already",
            Err(_) => "failed",
        };
        self.writes
            .lock()
            .unwrap()
            .push((t.to_string(), outcome.to_string()));
        match r {
            Ok(Written::Changed { .. }) => Ok(true),
            Ok(Written::AlreadyApplied) => Ok(false),
            Err(e) => Err(e.to_string()),
        }
    }
    async fn verify(
        &self,
        t: &str,
        w: &<DemoAppend as engine::Change>::Work,
    ) -> Result<(), String> {
        match write::probe(self.pool, &target(t), w).await {
            Ok(Found::New) => Ok(()),
            Ok(other) => Err(format!("{DEMO} holds {other:?}, not the change")),
            Err(e) => Err(e.to_string()),
        }
    }
    fn audit(&self, line: &engine::AuditLine) {
        self.audit.lock().unwrap().push(line.clone());
    }
}

/// The engine over 3 real nodes: node2's link goes down as its write
/// starts; the walk reports per node, node2 holds the old or the new file,
/// and the retry changes node2 only.
#[test]
fn a_walk_over_three_nodes_survives_a_cut_link_and_retries_only_that_node() {
    let lab = Lab::up(&["--nodes", "3"]);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let pool = pool(&lab.ssh_config());
    let nodes: Vec<String> = ["node1", "node2", "node3"].map(String::from).to_vec();
    for n in &nodes {
        lab.ssh_ok(
            n,
            &format!("printf 'old: {n}\\n' | sudo tee {DEMO} >/dev/null"),
        );
    }
    let disk =
        |n: &str| std::fs::read(lab.dir.join("nodes").join(n).join("upper").join(&DEMO[1..]));
    let io = DemoIo {
        pool: &pool,
        nodes: nodes.clone(),
        cut_once: std::sync::Mutex::new(Some(("node2".into(), format!("{}n2", lab.id())))),
        writes: Default::default(),
        audit: Default::default(),
    };
    let opts = engine::ApplyOptions {
        parallel: 1,
        keep_going: true,
        dry_run_only: false,
    };
    let (mut walk, actions) = engine::Walk::new(
        DemoAppend,
        nodes.clone(),
        "new: yes".into(),
        opts,
        "lab-c1".into(),
    );
    rt.block_on(engine::drive(&mut walk, &io, actions, |_| {}));
    for _ in 0..3 {
        let a = walk.handle(engine::Event::Next);
        rt.block_on(engine::drive(&mut walk, &io, a, |_| {}));
    }
    let states: Vec<(String, &str)> = walk
        .states
        .iter()
        .map(|(t, s)| (t.clone(), s.label()))
        .collect();
    assert_eq!(
        states,
        vec![
            ("node1".into(), "verified"),
            ("node2".into(), "failed"),
            ("node3".into(), "verified")
        ],
        "{:?}",
        walk.states
    );
    let Some(Err(summary)) = &walk.result else {
        panic!("{:?}", walk.result)
    };
    assert!(summary.contains("failed: node2"), "{summary}");
    let planned_all: Vec<Vec<u8>> = walk.plan.iter().map(|p| p.work.content.to_vec()).collect();
    let planned = |n: usize| planned_all[n].clone();
    let old2 = b"old: node2\n".to_vec();
    if let Ok(now) = disk("node2") {
        assert!(
            now == old2 || now == planned(1),
            "node2 holds a mix: {:?}",
            String::from_utf8_lossy(&now)
        );
    }
    assert!(
        io.audit
            .lock()
            .unwrap()
            .iter()
            .any(|l| l.target.as_deref() == Some("node2")
                && l.step == "apply"
                && l.result == harvcred::audit::Outcome::Failed),
        "node2's failure is audited"
    );

    io.writes.lock().unwrap().clear();
    let a = walk.handle(engine::Event::Retry(None));
    rt.block_on(engine::drive(&mut walk, &io, a, |_| {}));
    assert!(matches!(walk.result, Some(Ok(_))), "{:?}", walk.result);
    let retried: Vec<String> = io
        .writes
        .lock()
        .unwrap()
        .iter()
        .map(|(n, _)| n.clone())
        .collect();
    assert_eq!(retried, vec!["node2"], "the retry touches node2 only");
    for (i, n) in nodes.iter().enumerate() {
        assert_eq!(
            lab.ssh_ok(n, &format!("sudo cat {DEMO}")).into_bytes(),
            planned(i),
            "{n}"
        );
    }
    rt.block_on(pool.close_all());
}
