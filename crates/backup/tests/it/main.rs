//! The backup crate's integration tests: one binary (link time on 2 cores), a module per concern.

mod check;
mod common;
mod digest;
mod encryption;
mod history;
mod pitr;
mod prune;
mod target;
