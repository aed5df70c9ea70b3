//! harvcred: a terminal console for the credentials of Harvester HCI clusters.

pub mod app;
pub mod audit;
pub mod cli;
pub mod cluster;
pub mod config;
pub mod console;
pub mod creds;
pub mod faults;
pub mod flows;
pub mod hardening;
pub mod lab;
pub mod logs;
pub mod model;
pub mod node;
pub mod status;
#[cfg(test)]
mod testing;
pub mod ui;
