//! The lab's network: one bridge on the host with the gateway address, and per
//! node a network namespace joined to it by a veth pair. Every name and address
//! comes from the lab's plan, so parallel labs never touch each other.

use anyhow::Result;

use super::names;
use super::plan::{LabPlan, NodePlan};
use super::record::Record;
use super::sys;

pub fn create_bridge(
    plan: &LabPlan,
    rec: &mut Record,
    save: &dyn Fn(&Record) -> Result<()>,
) -> Result<()> {
    let br = names::bridge(&plan.id);
    sys::ip(&["link", "add", &br, "type", "bridge"])?;
    rec.bridge = Some(br.clone());
    save(rec)?;
    sys::ip(&["addr", "add", &format!("{}/24", plan.gateway()), "dev", &br])?;
    sys::ip(&["link", "set", &br, "up"])?;
    Ok(())
}

pub fn create_node_net(
    plan: &LabPlan,
    node: &NodePlan,
    rec: &mut Record,
    save: &dyn Fn(&Record) -> Result<()>,
) -> Result<()> {
    let ns = names::netns(&plan.id, &node.name);
    let veth = names::veth(&plan.id, node.index);
    sys::ip(&["netns", "add", &ns])?;
    rec.netns.insert(node.name.clone(), ns.clone());
    save(rec)?;
    sys::ip(&[
        "link", "add", &veth, "type", "veth", "peer", "name", "host0", "netns", &ns,
    ])?;
    rec.veths.insert(node.name.clone(), veth.clone());
    save(rec)?;
    sys::ip(&[
        "link",
        "set",
        &veth,
        "master",
        &names::bridge(&plan.id),
        "up",
    ])?;
    sys::ip(&[
        "-n",
        &ns,
        "addr",
        "add",
        &format!("{}/24", node.ip),
        "dev",
        "host0",
    ])?;
    sys::ip(&["-n", &ns, "link", "set", "host0", "up"])?;
    // No default route: a node reaches its own subnet and nothing else.
    sys::ip(&["-n", &ns, "link", "set", "lo", "up"])?;
    Ok(())
}

/// Cut a node off the network or reconnect it (fault injection for tests).
pub fn set_node_link(plan: &LabPlan, node: &NodePlan, up: bool) -> Result<()> {
    let veth = names::veth(&plan.id, node.index);
    sys::ip(&["link", "set", &veth, if up { "up" } else { "down" }])?;
    Ok(())
}

/// Remove the namespaces, veths and bridge a record lists; what is already
/// gone is fine. Processes still inside a namespace are killed first.
pub fn remove_all(rec: &Record) -> Vec<String> {
    let mut problems = Vec::new();
    for ns in rec.netns.values() {
        for pid in sys::processes_in_netns(ns) {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        if sys::netns_exists(ns)
            && let Err(e) = sys::ip(&["netns", "del", ns])
        {
            problems.push(e.to_string());
        }
    }
    for veth in rec.veths.values() {
        // Deleting a namespace deletes the veth's host end too, a moment later:
        // "Cannot find device" then means it is gone, as wanted.
        if sys::link_exists(veth)
            && let Err(e) = sys::ip(&["link", "del", veth])
            && sys::link_exists(veth)
        {
            problems.push(e.to_string());
        }
    }
    if let Some(br) = &rec.bridge
        && sys::link_exists(br)
        && let Err(e) = sys::ip(&["link", "del", br])
    {
        problems.push(e.to_string());
    }
    problems
}
