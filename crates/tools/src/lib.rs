//! Client-side tools of the `paddock` binary, usable against any ZooKeeper-protocol server:
//! [`shell`] (`paddock shell`, zkCli.sh's commands and output) and [`bench`] (`paddock bench`, a load
//! generator with latency histograms).

pub mod bench;
mod connect;
pub use connect::TlsArgs;
pub mod shell;
mod subtree;
