//! The local lab cluster: node sandboxes with real sshd, the Harvester API
//! emulator, scenarios. See DESIGN.md, "The lab".

pub mod api;
pub mod exec;
pub mod layout;
pub mod pki;
pub mod plan;
pub mod seed;
pub mod standin;
