//! Choosing a lab's id and subnet so several labs (parallel tests) never clash
//! with each other or with anything else on the machine.
//!
//! A lab with id `hcN` owns: bridge `hcNbr`, host-side veths `hcNnI`, network
//! namespaces and machine names `hcN-nodeI`, and the subnet `10.213.N.0/24` (or
//! the one asked for). The claim is a folder `/run/harvcred-lab/hcN` made with an
//! atomic `mkdir`: whoever creates it owns the id.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use anyhow::{Result, bail};

use super::record::Record;
use super::sys;

pub const RUN_DIR: &str = "/run/harvcred-lab";
/// Default subnets are `10.213.N.0/24` for N in 1..=MAX_ID.
const DEFAULT_SECOND_OCTET: u8 = 213;
const MAX_ID: u8 = 250;

pub fn bridge(id: &str) -> String {
    format!("{id}br")
}
pub fn veth(id: &str, index: usize) -> String {
    format!("{id}n{index}")
}
pub fn netns(id: &str, node: &str) -> String {
    format!("{id}-{node}")
}
pub fn machine(id: &str, node: &str) -> String {
    format!("{id}-{node}")
}

/// A claimed id and subnet; dropping it without [`Claim::keep`] releases it.
pub struct Claim {
    pub id: String,
    pub subnet: [u8; 3],
    pub path: PathBuf,
    kept: bool,
}

impl Claim {
    pub fn keep(mut self) -> PathBuf {
        self.kept = true;
        self.path.clone()
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        if !self.kept {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

/// Parse `10.1.2.0/24` (or `10.1.2`) into the first three octets.
pub fn parse_subnet(text: &str) -> Result<[u8; 3]> {
    let base = text.strip_suffix("/24").unwrap_or(text);
    let base = if base.matches('.').count() == 2 {
        format!("{base}.0")
    } else {
        base.to_string()
    };
    let Ok(ip) = base.parse::<Ipv4Addr>() else {
        bail!("--subnet {text:?} is not an IPv4 /24 such as 10.213.40.0/24");
    };
    let [a, b, c, d] = ip.octets();
    if d != 0 {
        bail!("--subnet {text:?}: give the network address of a /24, such as {a}.{b}.{c}.0/24");
    }
    if ip.is_loopback() || ip.is_multicast() || ip.is_unspecified() {
        bail!(
            "--subnet {text:?} cannot be used for a lab; pick a private /24 such as 10.213.40.0/24"
        );
    }
    Ok([a, b, c])
}

/// What on this machine already uses `subnet`, if anything (an address or a route).
pub fn subnet_user(subnet: [u8; 3]) -> Option<String> {
    let prefix = format!("{}.{}.{}.", subnet[0], subnet[1], subnet[2]);
    let addrs = sys::ip(&["-4", "-o", "addr", "show"]).unwrap_or_default();
    for line in addrs.lines() {
        let mut words = line.split_whitespace();
        let dev = words.nth(1).unwrap_or("?").to_string();
        if let Some(addr) = line.split_whitespace().skip_while(|w| *w != "inet").nth(1)
            && addr.starts_with(&prefix)
        {
            return Some(format!("address {addr} on {dev}"));
        }
    }
    let routes = sys::ip(&["-4", "route", "show"]).unwrap_or_default();
    routes
        .lines()
        .find(|line| line.starts_with(&prefix))
        .map(|line| format!("route {line}"))
}

/// Claim a free id and subnet. With `want_subnet`, that subnet or an error saying
/// what uses it.
pub fn claim(lab_dir: &Path, want_subnet: Option<[u8; 3]>) -> Result<Claim> {
    std::fs::create_dir_all(RUN_DIR)?;
    // Go round the ids instead of taking the lowest free one: an id reused
    // right after a lab went down would make that lab's leftovers (and logs,
    // and a test's check for leftovers) hard to tell from the new lab's.
    let next_file = Path::new(RUN_DIR).join(".next");
    let start: u8 = std::fs::read_to_string(&next_file)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .filter(|n| (1..=MAX_ID).contains(n))
        .unwrap_or(1);
    for n in (start..=MAX_ID).chain(1..start) {
        let id = format!("hc{n}");
        let subnet = want_subnet.unwrap_or([10, DEFAULT_SECOND_OCTET, n]);
        if sys::link_exists(&bridge(&id)) || any_netns_with_prefix(&format!("{id}-")) {
            continue;
        }
        if let Some(user) = subnet_user(subnet) {
            if want_subnet.is_some() {
                bail!(
                    "subnet {}.{}.{}.0/24 is already in use ({user}); choose another with --subnet or leave it out",
                    subnet[0],
                    subnet[1],
                    subnet[2]
                );
            }
            continue;
        }
        if want_subnet.is_some() && subnet_claimed(subnet)? {
            bail!(
                "subnet {}.{}.{}.0/24 is claimed by another lab being started; choose another with --subnet",
                subnet[0],
                subnet[1],
                subnet[2]
            );
        }
        let path = Path::new(RUN_DIR).join(&id);
        if path.exists() && claim_is_stale(&path) {
            let _ = std::fs::remove_dir_all(&path);
        }
        match std::fs::create_dir(&path) {
            Ok(()) => {
                std::fs::write(path.join("dir"), lab_dir.as_os_str().as_encoded_bytes())?;
                std::fs::write(
                    path.join("subnet"),
                    format!("{}.{}.{}", subnet[0], subnet[1], subnet[2]),
                )?;
                let after = if n == MAX_ID { 1 } else { n + 1 };
                let _ = std::fs::write(&next_file, after.to_string());
                return Ok(Claim {
                    id,
                    subnet,
                    path,
                    kept: false,
                });
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e.into()),
        }
    }
    bail!(
        "no free lab id: {MAX_ID} labs seem to exist; run `harvcred lab down --dir DIR` for old ones"
    )
}

fn any_netns_with_prefix(prefix: &str) -> bool {
    std::fs::read_dir("/run/netns")
        .map(|entries| {
            entries
                .flatten()
                .any(|e| e.file_name().to_string_lossy().starts_with(prefix))
        })
        .unwrap_or(false)
}

fn subnet_claimed(subnet: [u8; 3]) -> Result<bool> {
    let want = format!("{}.{}.{}", subnet[0], subnet[1], subnet[2]);
    let Ok(entries) = std::fs::read_dir(RUN_DIR) else {
        return Ok(false);
    };
    for entry in entries.flatten() {
        if !claim_is_stale(&entry.path())
            && std::fs::read_to_string(entry.path().join("subnet"))
                .ok()
                .as_deref()
                == Some(&want)
        {
            return Ok(true);
        }
    }
    Ok(false)
}

/// A claim is stale when its lab folder no longer holds a live record naming it.
fn claim_is_stale(path: &Path) -> bool {
    let Ok(dir) = std::fs::read(path.join("dir")) else {
        // A claim being written right now has no `dir` yet for a moment; a claim
        // older than a minute without one was abandoned.
        return std::fs::metadata(path)
            .and_then(|m| m.modified())
            .map(|t| t.elapsed().map(|e| e.as_secs() > 60).unwrap_or(false))
            .unwrap_or(true);
    };
    let dir = PathBuf::from(String::from_utf8_lossy(&dir).into_owned());
    match Record::load(&dir.join("lab.json")) {
        Ok(Some(rec)) => {
            rec.claim.as_deref() != Some(path) || rec.state == super::record::LabState::Down
        }
        // No record yet: `lab up` writes it right after claiming; give it time.
        Ok(None) => std::fs::metadata(path)
            .and_then(|m| m.modified())
            .map(|t| t.elapsed().map(|e| e.as_secs() > 600).unwrap_or(false))
            .unwrap_or(true),
        Err(_) => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subnets_are_read_as_a_slash_24_and_nonsense_is_explained() {
        assert_eq!(parse_subnet("10.213.40.0/24").unwrap(), [10, 213, 40]);
        assert_eq!(parse_subnet("10.213.40").unwrap(), [10, 213, 40]);
        let err = parse_subnet("10.213.40.5/24").unwrap_err().to_string();
        assert!(err.contains("10.213.40.0/24"), "{err}");
        let err = parse_subnet("lab").unwrap_err().to_string();
        assert!(err.contains("such as"), "{err}");
        assert!(parse_subnet("127.0.0.0/24").is_err());
    }

    #[test]
    fn interface_names_fit_the_kernel_limit_for_the_largest_lab() {
        let id = format!("hc{MAX_ID}");
        for name in [bridge(&id), veth(&id, super::super::plan::MAX_NODES)] {
            assert!(name.len() <= 15, "{name} is longer than IFNAMSIZ-1");
        }
    }
}
