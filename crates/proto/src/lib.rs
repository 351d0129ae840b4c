//! The ZooKeeper client wire protocol: jute encoding, records, requests and replies, framing with size
//! limits. Pure: no I/O, no sessions.

pub mod types;

pub use types::*;
