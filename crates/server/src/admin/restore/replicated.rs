//! Restores carried out as txns in the log, so that every member of an ensemble applies them at the same
//! place: a subtree (`RestoreSubtree`, on any server) and a whole tree on a member of an ensemble
//! (`RestoreTree`). The server that received the command proposes the txn (a follower forwards it to the
//! leader like any write) and answers once it has applied it.

use axum::body::Body;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use paddock_tree::restore::{ChangeSummary, RestoreRefusal};
use paddock_tree::{DataTree, ProposalId, Txn, TxnOp, TxnResult};
use serde_json::{Value, json};
use tracing::info;

use super::{COMMAND, RestoreOptions, read_posted_tree};
use crate::admin::AdminState;
use crate::admin::response::CommandResponse;

/// The largest restore txn an ensemble carries: one log entry travels whole in one peer frame
/// (`paddock_consensus::transport::MAX_FRAME`), with room left for the entries batched beside it. A bigger
/// restore is refused with this figure named; restore such a tree offline (`paddock restore --config`).
const MAX_REPLICATED_RESTORE: usize = 32 << 20;

pub(super) async fn restore(state: &AdminState, options: RestoreOptions, body: Body) -> Response {
    let tree = match read_posted_tree(state, body).await {
        Ok(tree) => tree,
        Err(refused) => return refused,
    };
    match options.subtree.clone() {
        Some(subtree) => restore_subtree(state, tree, subtree, options).await,
        None => restore_whole(state, tree).await,
    }
}

async fn restore_subtree(state: &AdminState, tree: DataTree, subtree: String, options: RestoreOptions) -> Response {
    let Some(nodes) = paddock_tree::restore::restored_nodes(&tree, &subtree) else {
        let error = format!("{subtree} does not exist in the posted backup");
        return CommandResponse::failed(COMMAND, error, StatusCode::BAD_REQUEST).into_response();
    };
    drop(tree);
    let on_conflict = options.on_conflict;
    // The plan against the tree as it stands: the dry run's answer, and a clear refusal before anything is
    // proposed. The txn plans again when it is applied, against the tree as it then is. Planned on a frozen
    // copy (an O(1) clone) off the core's thread, so that clients wait only for the apply.
    let Some(frozen) = state.shared.inspect(|core| core.tree.clone()).await else {
        return CommandResponse::not_serving(COMMAND).into_response();
    };
    let (path, restored) = (subtree.clone(), nodes.clone());
    let planned = tokio::task::spawn_blocking(move || frozen.plan_subtree_restore(&path, &restored, on_conflict)).await;
    let Ok(planned) = planned else {
        return failed("planning the restore failed", StatusCode::INTERNAL_SERVER_ERROR);
    };
    let mut response = CommandResponse::new(COMMAND);
    response.put("subtree", subtree.as_str());
    response.put("on_conflict", on_conflict.name());
    response.put("dry_run", options.dry_run);
    let planned = match planned {
        Ok(planned) => planned,
        Err(refusal) => return refused(response, refusal),
    };
    if options.dry_run {
        let changes: Vec<ChangeSummary> = planned
            .iter()
            .map(|c| ChangeSummary { kind: c.kind(), path: c.path().to_string(), fields: c.fields() })
            .collect();
        put_changes(&mut response, &changes);
        return response.into_response();
    }
    let op = TxnOp::RestoreSubtree { path: subtree, on_conflict, nodes };
    match propose(state, op, limit(state)).await {
        Ok((zxid, TxnResult::SubtreeRestored(changes))) => {
            info!(zxid = format_args!("0x{zxid:x}"), changes = changes.len(), "admin subtree restore done");
            response.put("last_zxid", zxid);
            put_changes(&mut response, &changes);
            response.into_response()
        }
        Ok((_, TxnResult::RestoreConflicts(paths))) => refused(response, RestoreRefusal::Conflicts(paths)),
        Ok((_, other)) => failed(format!("the restore was not applied: {other:?}"), StatusCode::CONFLICT),
        Err(refusal) => refusal,
    }
}

/// A whole tree, on a member of an ensemble.
async fn restore_whole(state: &AdminState, tree: DataTree) -> Response {
    let (nodes, from_zxid) = (tree.node_count(), tree.last_zxid());
    let snapshot = match tokio::task::spawn_blocking(move || paddock_tree::restore::encode_restored_tree(&tree)).await {
        Ok(Ok(snapshot)) => snapshot,
        Ok(Err(e)) => return failed(format!("cannot encode the tree: {e}"), StatusCode::INTERNAL_SERVER_ERROR),
        Err(e) => return failed(e.to_string(), StatusCode::INTERNAL_SERVER_ERROR),
    };
    match propose(state, TxnOp::RestoreTree { snapshot }, MAX_REPLICATED_RESTORE).await {
        Ok((zxid, TxnResult::TreeRestored { nodes })) => {
            info!(
                from_zxid = format_args!("0x{from_zxid:x}"),
                zxid = format_args!("0x{zxid:x}"),
                nodes,
                "admin restore done"
            );
            let mut response = CommandResponse::new(COMMAND);
            response.put("last_zxid", zxid);
            response.put("node_count", nodes);
            response.into_response()
        }
        Ok((_, other)) => {
            failed(format!("the restore of {nodes} nodes was not applied: {other:?}"), StatusCode::BAD_REQUEST)
        }
        Err(refusal) => refusal,
    }
}

/// How big a restore txn this server can carry: an ensemble's entries cross the peer transport.
fn limit(state: &AdminState) -> usize {
    if state.shared.config.ensemble().ok().flatten().is_some() {
        MAX_REPLICATED_RESTORE
    } else {
        paddock_storage::MAX_RECORD_PAYLOAD
    }
}

/// Proposes `op` through this server's core and waits until it is applied here.
async fn propose(state: &AdminState, op: TxnOp, limit: usize) -> Result<(i64, TxnResult), Response> {
    let (size, op) = encoded_size(op);
    if size > limit {
        let error = format!(
            "the restore is {size} bytes as one log entry, above the {limit} bytes one entry may carry: restore a \
             smaller subtree, or restore the members offline with `paddock restore --config`"
        );
        return Err(failed(error, StatusCode::PAYLOAD_TOO_LARGE));
    }
    let (reply, answer) = tokio::sync::oneshot::channel();
    if state.shared.inspect(move |core| core.propose_admin(op, reply)).await.is_none() {
        return Err(CommandResponse::not_serving(COMMAND).into_response());
    }
    match answer.await {
        Ok(Ok(applied)) => Ok(applied),
        Ok(Err(code)) => Err(failed(
            format!("the restore was not applied ({code:?}): this server is not part of a working quorum, or lost it"),
            StatusCode::SERVICE_UNAVAILABLE,
        )),
        Err(_) => Err(failed("the server stopped before the restore was applied", StatusCode::SERVICE_UNAVAILABLE)),
    }
}

/// The size of `op` as the log entry the core will encode (its header is of fixed size); the op back,
/// uncopied.
fn encoded_size(op: TxnOp) -> (usize, TxnOp) {
    let txn = Txn { origin: ProposalId::default(), time: 0, session_id: 0, auth: Vec::new(), op };
    (txn.encode().len(), txn.op)
}

fn put_changes(response: &mut CommandResponse, changes: &[ChangeSummary]) {
    let count = |kind: &str| changes.iter().filter(|c| c.kind == kind).count();
    response.put("created", count("create"));
    response.put("updated", count("update"));
    response.put("deleted", count("delete"));
    let listed: Vec<Value> =
        changes.iter().map(|c| json!({ "kind": c.kind, "path": c.path, "fields": c.fields })).collect();
    response.put("changes", Value::Array(listed));
}

fn refused(mut response: CommandResponse, refusal: RestoreRefusal) -> Response {
    match refusal {
        RestoreRefusal::Conflicts(paths) => {
            response.error = Some(format!(
                "{} live nodes differ from the backup or are not in it (first: {}): choose onConflict=overwrite or skip",
                paths.len(),
                paths.first().map_or("", String::as_str)
            ));
            response.status = StatusCode::CONFLICT;
            response.put("conflicts", paths);
        }
        RestoreRefusal::Invalid(code, message) => {
            response.error = Some(message);
            response.status = StatusCode::BAD_REQUEST;
            response.put("code", format!("{code:?}"));
        }
    }
    response.into_response()
}

fn failed(error: impl Into<String>, status: StatusCode) -> Response {
    CommandResponse::failed(COMMAND, error, status).into_response()
}
