//! End-to-end tests of the `paddock` binary as users run it: one test binary (link time on 2 cores), a
//! module per concern.

mod archive;
mod backup;
mod backup_prune;
mod crash;
mod digests;
mod durability;
mod ensemble;
mod failover;
mod fourlw;
mod kill_loop;
mod linearizability;
mod partition;
mod raw;
mod read_only;
mod reconfig;
mod sessions;
