//! Test harness shared by every integration test in the workspace: start a real Apache ZooKeeper 3.8 or a
//! Paddock server as a child process on 127.0.0.1, talk to it with four-letter words, and get everything
//! killed when the test ends, panics or is killed itself.
//!
//! Servers are real processes rather than in-process tasks so that tests exercise exactly what users run
//! (the binary, its config parsing, its signal handling) and so that a crashing server cannot take the
//! test down with it.

mod ensemble;
mod kdc;
pub mod linearizability;
mod net;
mod netns;
mod paddock;
mod process;
mod s3;
mod spawner;
mod zookeeper;

pub use ensemble::{ENSEMBLE_WAIT, Ensemble, EnsembleSpec, Member};
pub use kdc::{Kdc, REALM as KDC_REALM};
pub use net::{exchange_until_close, four_letter_word, free_port};
pub use netns::Network;
pub use paddock::PaddockProcess;
pub use s3::S3Server;
pub use zookeeper::{ZooKeeperProcess, zkcli_class_path};
