//! What Harvester's auto-rotate-rke2-certs controller does to learn when
//! the control plane's certificates expire: a TLS dial to each apiserver
//! endpoint without verifying (Go's `InsecureSkipVerify`), keeping the
//! earliest NotAfter among the certificates the server presents. The dial
//! is harvcred's own (`cluster::rotation`): the lab's controller and the
//! `certs auto-rotate` preview read the same thing the same way.

use std::net::SocketAddr;

use anyhow::Result;
use time::OffsetDateTime;

/// The earliest NotAfter among the certificates `addr` presents.
pub async fn earliest_not_after(addr: SocketAddr) -> Result<OffsetDateTime> {
    crate::cluster::rotation::presented_not_after(addr)
        .await
        .map_err(anyhow::Error::msg)
}
