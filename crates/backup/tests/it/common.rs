//! Helpers shared by the modules of this test binary.

use std::path::Path;

use paddock_backup::point::Point;
use paddock_backup::restore::{RestoreRequest, restore};
use paddock_backup::target::Target;
use paddock_tree::DataTree;

/// Restores `point` of the target's one cluster (or `cluster`) into `dir`, keeping sessions, and reads back
/// the restored snapshot: its tree (the bump marker makes its last zxid the point's plus 2^32), or why the
/// restore failed.
pub async fn restored_tree(
    target: &Target,
    cluster: Option<&str>,
    point: Point,
    dir: &Path,
) -> Result<DataTree, String> {
    let request = RestoreRequest {
        data_dir: dir.to_path_buf(),
        cluster: cluster.map(str::to_string),
        point,
        bump: 1 << 32,
        keep_sessions: true,
        dry_run: false,
        member: None,
        subtree: None,
    };
    restore(target, &request, &|_| {}, &|_, _| {}).await.map_err(|e| e.to_string())?;
    let snapshots = paddock_storage::list_snapshots(&paddock_storage::snap_dir(dir)).map_err(|e| e.to_string())?;
    let (_, path) = snapshots.last().ok_or("the restore wrote no snapshot")?;
    paddock_backup::datadir::read_snapshot_file(path).map_err(|e| e.to_string())
}
