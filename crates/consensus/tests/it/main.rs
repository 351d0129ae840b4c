//! The consensus crate's integration tests, in one binary: openraft's storage suite against the WAL-backed
//! store and the tree state machine, restart from disk, injected disk failures, and an in-process 3-node
//! cluster.

mod cluster;
mod common;
#[cfg(feature = "failpoints")]
mod failpoints;
mod restart;
mod suite;
mod tcp_cluster;
