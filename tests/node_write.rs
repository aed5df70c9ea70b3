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
