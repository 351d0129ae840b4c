//! The cluster id a server's backups and archive are named by. A standalone server's is its data
//! directory's (`<dataDir>/paddock/cluster-id`). An ensemble's is in its tree: the first leader of an
//! ensemble whose tree has none proposes its own directory's id (`SetClusterId`), the first such entry
//! applied sticks, and every member adopts it, rewriting its own file so that offline tools agree.

use paddock_storage::cluster_id::ClusterId;
use paddock_tree::TxnOp;
use tokio::sync::watch;
use tracing::{info, warn};

use super::{Core, Origin};
use crate::log::ServerRole;

/// What a core knows of its cluster id.
#[derive(Default)]
pub(crate) struct ClusterNaming {
    /// The data directory's id: a standalone server's, or what a member adopted (or proposes as leader).
    own: Option<ClusterId>,
    /// Where a member reports the ensemble's id once it is known (continuous archiving waits for it).
    report: Option<watch::Sender<Option<ClusterId>>>,
    /// Whether this member has proposed the ensemble's id while leading (once per leadership).
    proposed: bool,
}

impl Core {
    /// The data directory's cluster id (`None` for a server without one), and where a member reports its
    /// ensemble's id.
    pub(crate) fn set_cluster_id(&mut self, own: Option<ClusterId>, report: Option<watch::Sender<Option<ClusterId>>>) {
        self.naming = ClusterNaming { own, report, proposed: false };
    }

    /// The id this server's backups go under: a member's is its ensemble's (`None` until the first leader
    /// has named it), a standalone server's is its data directory's.
    pub fn cluster_id(&self) -> Option<ClusterId> {
        if self.member { self.tree.cluster_id().map(ClusterId::from_u128) } else { self.naming.own }
    }

    /// After the tree changed (entries applied, a snapshot installed): a member adopts the ensemble's id as
    /// soon as its tree holds one, and a leader whose ensemble has none names it.
    pub(super) fn follow_cluster_id(&mut self) {
        if !self.member || self.naming.own.is_none() {
            return;
        }
        match self.cluster_id() {
            Some(id) if Some(id) != self.naming.own => self.adopt(id),
            Some(id) => {
                if let Some(report) = &self.naming.report {
                    report.send_if_modified(|known| known.replace(id) != Some(id));
                }
            }
            None if self.role == ServerRole::Leader && !self.naming.proposed => {
                self.naming.proposed = true;
                if let Some(own) = self.naming.own {
                    info!(cluster_id = %own, "naming the ensemble's cluster after this member's data directory");
                    self.propose(0, Vec::new(), TxnOp::SetClusterId { id: own.as_u128() }, Origin::Internal);
                }
            }
            None => {}
        }
    }

    /// A new leadership proposes the id again if the ensemble still has none (the last leader's proposal
    /// may have been lost).
    pub(super) fn cluster_naming_role_changed(&mut self) {
        self.naming.proposed = false;
    }

    fn adopt(&mut self, id: ClusterId) {
        info!(cluster_id = %id, was = ?self.naming.own.map(|own| own.to_string()), "adopting the ensemble's cluster id");
        self.naming.own = Some(id);
        if let Some(report) = &self.naming.report {
            report.send_replace(Some(id));
        }
        let data_dir = self.config.data_dir.clone();
        // Once per member and data directory: off the core's thread, as every fsync is.
        tokio::task::spawn_blocking(move || {
            if let Err(e) = paddock_storage::cluster_id::adopt(&data_dir, id) {
                warn!("cannot record the ensemble's cluster id: {e}");
            }
        });
    }
}
