//! The SSH side: remote reads of node files, and (with the console) the
//! session pool, atomic remote writes and log streams.

pub mod gather;
pub mod pool;
pub mod stream;
pub mod write;

pub use pool::*;
