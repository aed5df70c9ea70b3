//! harvcred: a terminal console for the credentials of Harvester HCI clusters.

pub mod cli;
pub mod creds;
pub mod lab;
pub mod logs;
pub mod node;
