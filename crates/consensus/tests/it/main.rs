//! The consensus crate's integration tests, in one binary: openraft's storage suite against the WAL-backed
//! store and the tree state machine, and restart from disk.

mod common;
mod restart;
mod suite;
