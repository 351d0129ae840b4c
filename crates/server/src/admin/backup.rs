//! The `backup` admin command (Paddock's own, for `paddock backup create`): streams a consistent snapshot of
//! the applied tree without writing anything to disk.
//!
//! It is authenticated as `snapshot` is (ALL on `/`, see [`super::auth`]) and switched off with it
//! (`admin.snapshot.enabled=false`). The tree is frozen (an O(1) clone, as for a snapshot) and a blocking
//! thread writes it through [`paddock_storage::write_snapshot_to_paced`] into a bounded channel that feeds
//! the response body, so the body is the exact bytes of a `.snap` file (docs/format.md, 3) and memory stays
//! bounded whatever the client's speed. The headers describe the snapshot (`paddock-zxid`, `paddock-digest`,
//! ...) and name the data directory's cluster id. One backup streams at a time; a second one gets 429.
//!
//! The length is not known in advance, so the body is chunked: a failure mid-stream aborts it, and the client
//! sees an incomplete body rather than a clean end (the snapshot's trailer would be missing anyway).

use std::io::{self, Write};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use axum::body::Body;
use axum::http::{HeaderName, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use paddock_tree::DataTree;
use tokio::sync::mpsc;
use tracing::{info, warn};

use super::AdminState;
use super::response::{CommandResponse, add_headers};
use crate::persist;

const COMMAND: &str = "backup";

const LAST_ZXID: HeaderName = HeaderName::from_static("last_zxid");
const CLUSTER_ID: HeaderName = HeaderName::from_static("paddock-cluster-id");
const ZXID: HeaderName = HeaderName::from_static("paddock-zxid");
const TIME_MS: HeaderName = HeaderName::from_static("paddock-time-ms");
const NODE_COUNT: HeaderName = HeaderName::from_static("paddock-node-count");
const DIGEST: HeaderName = HeaderName::from_static("paddock-digest");
const SNAPSHOT_FORMAT: HeaderName = HeaderName::from_static("paddock-snapshot-format");

/// Bytes the writer thread collects before handing them to the response body: a snapshot chunk is at most
/// 1 MiB of body, so about one chunk per piece.
const PIECE: usize = 1 << 20;

/// Pieces waiting between the writer thread and the client: 8 of 1 MiB. The writer blocks when they are all
/// waiting, so a slow client costs at most ~8 MiB here (plus the piece being filled and the chunk being
/// compressed) however large the tree, while a fast one rarely waits for the writer.
const QUEUE: usize = 8;

/// What the writer thread sends to the body.
enum Piece {
    Bytes(Bytes),
    /// The trailer has been sent: the body may end.
    Done,
    Failed(String),
}

/// `GET /commands/backup`, after authorization.
/// With `?subtree=/P`, the snapshot holds only that subtree, its ancestors and `/zookeeper`: what
/// `paddock backup create --subtree` stores.
pub async fn backup(state: &AdminState, kwargs: &std::collections::HashMap<String, String>) -> Response {
    if !state.shared.config.admin_snapshot_enabled {
        let error = "the backup command is disabled (admin.snapshot.enabled=false)";
        return CommandResponse::failed(COMMAND, error, StatusCode::SERVICE_UNAVAILABLE).into_response();
    }
    if state.shared.cluster_id.is_none() {
        let error = "this server keeps its data in memory only (no data directory): it has no cluster id and \
                     makes no backups";
        return CommandResponse::failed(COMMAND, error, StatusCode::SERVICE_UNAVAILABLE).into_response();
    }
    let Some(slot) = Slot::take(&state.backup_in_flight) else {
        metrics::counter!("paddock_admin_backup_refused_total").increment(1);
        let error = "another backup is being streamed from this server; try again once it has finished";
        return CommandResponse::failed(COMMAND, error, StatusCode::TOO_MANY_REQUESTS).into_response();
    };
    // Frozen between two applies: a consistent state at one zxid, while the live tree moves on.
    let frozen = state.shared.inspect(|core| core.serving().then(|| (core.tree.clone(), core.cluster_id()))).await;
    let Some(Some((tree, cluster_id))) = frozen else { return CommandResponse::not_serving(COMMAND).into_response() };
    let Some(cluster_id) = cluster_id else {
        let error = "this ensemble has not named its cluster yet (its leader does so with its first entries); \
                     try again in a moment";
        return CommandResponse::failed(COMMAND, error, StatusCode::SERVICE_UNAVAILABLE).into_response();
    };

    let tree = match kwargs.get("subtree") {
        None => tree,
        Some(subtree) => match cut(tree, subtree.clone()).await {
            Some(cut) => cut,
            None => {
                let error = format!("subtree={subtree} does not exist in this server's tree (or is not a valid path)");
                return CommandResponse::failed(COMMAND, error, StatusCode::BAD_REQUEST).into_response();
            }
        },
    };
    let meta = persist::snapshot_header(&tree);
    let mut response = CommandResponse::new(COMMAND);
    response.add_header(LAST_ZXID, format!("0x{:x}", meta.zxid));
    response.add_header(CLUSTER_ID, cluster_id.to_string());
    response.add_header(ZXID, meta.zxid.to_string());
    response.add_header(TIME_MS, meta.time_ms.to_string());
    response.add_header(NODE_COUNT, meta.node_count.to_string());
    response.add_header(DIGEST, format!("{:016x}", meta.digest));
    response.add_header(SNAPSHOT_FORMAT, meta.format_version.to_string());

    let (tx, rx) = mpsc::channel(QUEUE);
    let pace = state.shared.config.snapshot_pace;
    let writer_slot = slot.clone();
    let spawned = std::thread::Builder::new()
        .name("paddock-backup".into())
        .spawn(move || write_backup(tree, tx, pace, writer_slot));
    if let Err(e) = spawned {
        metrics::counter!("paddock_admin_backup_errors_total").increment(1);
        let error = format!("cannot start the backup thread: {e}");
        return CommandResponse::failed(COMMAND, error, StatusCode::INTERNAL_SERVER_ERROR).into_response();
    }
    info!(zxid = format_args!("0x{:x}", meta.zxid), nodes = meta.node_count, %cluster_id, "admin backup started");
    let body = Body::from_stream(Pieces { rx, finished: false, _slot: slot });
    let mut http = (StatusCode::OK, [(header::CONTENT_TYPE, "application/octet-stream")], body).into_response();
    add_headers(&mut http, response.header_pairs());
    http
}

/// The tree cut down to `subtree` (an O(n) walk, off the async threads); `None` when it has no such node.
async fn cut(tree: paddock_tree::DataTree, subtree: String) -> Option<paddock_tree::DataTree> {
    tokio::task::spawn_blocking(move || tree.subtree_only(&subtree)).await.ok().flatten()
}

/// Runs on the backup thread: the snapshot of `tree` into the channel, then `Done`, or `Failed`. Paced as
/// snapshots are (`paddock.snapshot.cpuShare`), but at normal priority, unlike the snapshot writer's
/// `SCHED_IDLE`: a client is waiting on this stream, and on a saturated server an idle-class writer would
/// make no progress at all.
fn write_backup(tree: DataTree, tx: mpsc::Sender<Piece>, pace: paddock_storage::Pace, _slot: Slot) {
    let header = persist::snapshot_header(&tree);
    let mut out = ChannelWriter { tx: tx.clone(), piece: Vec::with_capacity(PIECE) };
    match paddock_storage::write_snapshot_to_paced(&mut out, &header, pace, |body| tree.write_snapshot(body)) {
        Ok(bytes) => {
            info!(zxid = format_args!("0x{:x}", header.zxid), bytes, "admin backup streamed");
            let _ = tx.blocking_send(Piece::Done);
        }
        Err(e) => {
            // A client that went away closed the channel: nothing to tell, and no error of the server's.
            if !tx.is_closed() {
                metrics::counter!("paddock_admin_backup_errors_total").increment(1);
                warn!(zxid = format_args!("0x{:x}", header.zxid), "admin backup failed: {e}");
                let _ = tx.blocking_send(Piece::Failed(e.to_string()));
            } else {
                info!(zxid = format_args!("0x{:x}", header.zxid), "admin backup abandoned by its client");
            }
        }
    }
}

/// Collects the snapshot's bytes into pieces of [`PIECE`] bytes for the channel; blocks while it is full.
struct ChannelWriter {
    tx: mpsc::Sender<Piece>,
    piece: Vec<u8>,
}

impl ChannelWriter {
    fn send_piece(&mut self) -> io::Result<()> {
        if self.piece.is_empty() {
            return Ok(());
        }
        let piece = std::mem::replace(&mut self.piece, Vec::with_capacity(PIECE));
        self.tx
            .blocking_send(Piece::Bytes(Bytes::from(piece)))
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the backup's client went away"))
    }
}

impl Write for ChannelWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let taken = buf.len().min(PIECE - self.piece.len());
        self.piece.extend_from_slice(&buf[..taken]);
        if self.piece.len() == PIECE {
            self.send_piece()?;
        }
        Ok(taken)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.send_piece()
    }
}

/// The response body: the pieces as they come, an error if the writer failed or stopped without `Done`
/// (so the HTTP body is cut off, never ended cleanly), and the end after `Done`. Holds the backup slot until
/// the body is dropped.
struct Pieces {
    rx: mpsc::Receiver<Piece>,
    finished: bool,
    _slot: Slot,
}

impl futures_core::Stream for Pieces {
    type Item = io::Result<Bytes>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.finished {
            return Poll::Ready(None);
        }
        let item = match this.rx.poll_recv(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(Some(Piece::Bytes(bytes))) => return Poll::Ready(Some(Ok(bytes))),
            Poll::Ready(Some(Piece::Done)) => None,
            Poll::Ready(Some(Piece::Failed(error))) => Some(Err(io::Error::other(error))),
            Poll::Ready(None) => Some(Err(io::Error::other("the backup writer stopped before the end"))),
        };
        this.finished = true;
        Poll::Ready(item)
    }
}

/// The one backup a server streams at a time: taken by a request, held by its writer thread and its
/// response body, free again once both are gone.
#[derive(Clone)]
struct Slot {
    _held: Arc<SlotFlag>,
}

/// Frees the slot when dropped, by the last holder.
struct SlotFlag(Arc<AtomicBool>);

impl Slot {
    fn take(in_flight: &Arc<AtomicBool>) -> Option<Slot> {
        if in_flight.swap(true, Ordering::AcqRel) {
            return None;
        }
        Some(Slot { _held: Arc::new(SlotFlag(in_flight.clone())) })
    }
}

impl Drop for SlotFlag {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use futures_core::Stream;

    use super::*;

    async fn next(pieces: &mut Pieces) -> Option<io::Result<Bytes>> {
        std::future::poll_fn(|cx| Pin::new(&mut *pieces).poll_next(cx)).await
    }

    fn pieces(rx: mpsc::Receiver<Piece>, flag: &Arc<AtomicBool>) -> Pieces {
        Pieces { rx, finished: false, _slot: Slot::take(flag).expect("free slot") }
    }

    #[tokio::test]
    async fn the_body_ends_only_after_done_and_fails_otherwise() {
        let flag = Arc::new(AtomicBool::new(false));
        for (last, clean) in [(Some(Piece::Done), true), (Some(Piece::Failed("disk".into())), false), (None, false)] {
            let (tx, rx) = mpsc::channel(QUEUE);
            let mut body = pieces(rx, &flag);
            tx.send(Piece::Bytes(Bytes::from_static(b"PDKS"))).await.expect("send");
            if let Some(last) = last {
                tx.send(last).await.expect("send");
            }
            drop(tx);
            assert_eq!(next(&mut body).await.expect("a piece").expect("bytes"), Bytes::from_static(b"PDKS"));
            match next(&mut body).await {
                None => assert!(clean, "a body without Done ended cleanly"),
                Some(Err(_)) => assert!(!clean, "a finished body failed"),
                Some(Ok(_)) => panic!("an unexpected piece"),
            }
            assert!(next(&mut body).await.is_none(), "nothing after the end");
            assert!(flag.load(Ordering::Acquire), "the slot is held while the body lives");
            drop(body);
            assert!(!flag.load(Ordering::Acquire), "the slot is free once the body is gone");
        }
    }

    #[test]
    fn one_backup_at_a_time() {
        let flag = Arc::new(AtomicBool::new(false));
        let slot = Slot::take(&flag).expect("free");
        assert!(Slot::take(&flag).is_none());
        let writer = slot.clone();
        drop(slot);
        assert!(Slot::take(&flag).is_none(), "the writer still holds it");
        drop(writer);
        assert!(Slot::take(&flag).is_some());
    }

    #[test]
    fn the_writer_stops_when_the_client_goes_away() {
        let (tx, rx) = mpsc::channel(QUEUE);
        let mut out = ChannelWriter { tx, piece: Vec::new() };
        out.write_all(&vec![7; PIECE + 10]).expect("room in the channel");
        drop(rx);
        out.write_all(&vec![7; PIECE]).expect_err("the client is gone");
    }
}
