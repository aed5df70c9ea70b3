//! A 50-node lab, in a test binary of its own so that it does not boot beside
//! the other tests' labs on a small machine.

mod common;

use common::Lab;

#[test]
fn fifty_nodes_come_up_answer_and_go_down() {
    let lab = Lab::up(&["--nodes", "50"]);
    let nodes = lab.kubectl_ok(&["get", "nodes", "--no-headers"]);
    assert_eq!(
        nodes.lines().filter(|l| l.contains(" Ready ")).count(),
        50,
        "{nodes}"
    );
    assert_eq!(lab.ssh_ok("node50", "hostname").trim(), "node50");
    assert_eq!(
        lab.ssh_ok("node50", "systemctl is-active rke2-agent")
            .trim(),
        "active"
    );
    lab.down_leaving_nothing();
}
