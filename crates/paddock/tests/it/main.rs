//! End-to-end tests of the `paddock` binary as users run it: one test binary (link time on 2 cores), a
//! module per concern.

mod acl_truth_table;
mod archive;
mod archive_ensemble;
mod backup;
mod backup_prune;
mod crash;
mod cves;
mod digests;
mod durability;
mod encryption;
mod ensemble;
mod failover;
mod fourlw;
mod history;
mod kerberos;
mod kill_loop;
mod limits;
mod linearizability;
mod partition;
mod quorum_tls;
mod quota;
mod raw;
mod read_only;
mod reconfig;
mod restore_cluster;
mod restore_subtree;
mod sasl;
mod sessions;
mod tls;
mod zk_import;
