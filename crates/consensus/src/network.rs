//! openraft's network over the peer transport: each Raft RPC is one call, its request and reply encoded with
//! `postcard` (compact, serde-based; openraft's messages are serde types). A snapshot travels in chunks of
//! [`SNAPSHOT_CHUNK`] bytes, each one call, so no frame exceeds the transport's limit; the receiver installs
//! it when the last chunk arrives.
//!
//! Methods below [`FIRST_APP_METHOD`] are Raft's; the server adds its own (forwarded writes, session
//! touches) above it through [`AppCalls`].

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use openraft::error::{NetworkError, RPCError, ReplicationClosed, StreamingError, Unreachable};
use openraft::network::{RPCOption, RaftNetworkFactory, RaftNetworkV2};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, SnapshotResponse, TransferLeaderRequest, TransferLeaderResponse,
    VoteRequest, VoteResponse,
};
use openraft::storage::RaftStateMachine;
use openraft::type_config::alias::SnapshotOf;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::state_machine::SnapshotBytes;
use crate::transport::{self, CallError, Peer, PeerSecurity, PlainTcp};
use crate::types::{PeerNode, SnapshotMeta, TypeConfig, Vote};

const APPEND: u8 = 1;
const VOTE: u8 = 2;
const PRE_VOTE: u8 = 3;
const SNAPSHOT_CHUNK: u8 = 4;
const TRANSFER_LEADER: u8 = 5;
/// Methods from here up belong to the server.
pub const FIRST_APP_METHOD: u8 = 64;

/// Bytes of snapshot per call: well under the transport's frame limit, large enough that a 100 MB snapshot
/// takes a few dozen calls.
pub const SNAPSHOT_CHUNK_BYTES: usize = 4 * 1024 * 1024;
/// How long an append (or heartbeat) may take to be answered. openraft gives it one heartbeat interval
/// (100 ms at most here), which a batch of large entries on a loaded machine overran again and again: the
/// follower never caught up and the leader lost its lease (seen with 1 MiB znodes under load). A follower
/// that is down is still noticed at once: its connection is refused.
const APPEND_DEADLINE: Duration = Duration::from_secs(10);
/// How long a snapshot chunk may take to be answered. openraft's default (`install_snapshot_timeout`,
/// 200 ms) suits a chunk on the wire, but the last chunk is answered only once the receiver has decoded and
/// installed the whole tree, which takes seconds for millions of znodes: with 200 ms a member that needs a
/// large snapshot retried it forever and never caught up (seen at 1,000,000 znodes).
const SNAPSHOT_CHUNK_DEADLINE: Duration = Duration::from_secs(120);

type Reply<T> = Result<T, String>;

fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, String> {
    postcard::to_stdvec(value).map_err(|e| format!("cannot encode: {e}"))
}

fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
    postcard::from_bytes(bytes).map_err(|e| format!("cannot decode: {e}"))
}

// ---- the calling side -----------------------------------------------------------------------------------

/// Creates one [`PeerClient`] per member, sharing one connection per member.
#[derive(Clone)]
pub struct Network {
    peers: Arc<Mutex<std::collections::HashMap<String, Arc<Peer>>>>,
    security: Arc<dyn PeerSecurity>,
}

impl Default for Network {
    /// Plain TCP.
    fn default() -> Self {
        Network::new(Arc::new(PlainTcp))
    }
}

impl Network {
    /// Connections to members secured by `security`.
    pub fn new(security: Arc<dyn PeerSecurity>) -> Network {
        Network { peers: Arc::default(), security }
    }

    /// The shared connection to `addr`, for the server's own calls too.
    pub fn peer(&self, addr: &str) -> Result<Arc<Peer>, String> {
        let mut peers = self.peers.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(peer) = peers.get(addr) {
            return Ok(peer.clone());
        }
        let resolved = std::net::ToSocketAddrs::to_socket_addrs(addr)
            .map_err(|e| format!("cannot resolve peer address {addr}: {e}"))?
            .next()
            .ok_or_else(|| format!("peer address {addr} resolves to nothing"))?;
        let peer = Arc::new(Peer::secured(resolved, addr.to_string(), self.security.clone()));
        peers.insert(addr.to_string(), peer.clone());
        Ok(peer)
    }
}

impl RaftNetworkFactory<TypeConfig> for Network {
    type Network = PeerClient;

    async fn new_client(&mut self, _target: u64, node: &PeerNode) -> PeerClient {
        PeerClient { peer: self.peer(&node.addr), addr: node.addr.clone() }
    }
}

/// Raft's calls to one member.
pub struct PeerClient {
    peer: Result<Arc<Peer>, String>,
    addr: String,
}

impl PeerClient {
    async fn call<Req: Serialize, Resp: DeserializeOwned>(
        &self,
        method: u8,
        request: &Req,
        deadline: Duration,
    ) -> Result<Resp, RPCError<TypeConfig>> {
        let peer = self.peer.as_ref().map_err(|e| RPCError::Unreachable(Unreachable::from_string(e)))?;
        let body = encode(request).map_err(|e| RPCError::Network(NetworkError::from_string(e)))?;
        let reply = peer.call(method, body, deadline).await.map_err(|e| match e {
            CallError::Connect { .. } => RPCError::Unreachable(Unreachable::new(&e)),
            CallError::Unknown { .. } | CallError::Refused { .. } => RPCError::Network(NetworkError::new(&e)),
        })?;
        let reply: Reply<Resp> = decode(&reply).map_err(|e| RPCError::Network(NetworkError::from_string(e)))?;
        reply.map_err(|e| RPCError::Network(NetworkError::from_string(format!("{}: {e}", self.addr))))
    }
}

impl RaftNetworkV2<TypeConfig> for PeerClient {
    type SnapshotData = SnapshotBytes;

    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<TypeConfig>, RPCError<TypeConfig>> {
        self.call(APPEND, &rpc, option.hard_ttl().max(APPEND_DEADLINE)).await
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<VoteResponse<TypeConfig>, RPCError<TypeConfig>> {
        self.call(VOTE, &rpc, option.hard_ttl()).await
    }

    async fn pre_vote(
        &mut self,
        rpc: VoteRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<VoteResponse<TypeConfig>, RPCError<TypeConfig>> {
        self.call(PRE_VOTE, &rpc, option.hard_ttl()).await
    }

    async fn full_snapshot(
        &mut self,
        vote: Vote,
        snapshot: SnapshotOf<TypeConfig, SnapshotBytes>,
        cancel: impl Future<Output = ReplicationClosed> + Send + 'static,
        option: RPCOption,
    ) -> Result<SnapshotResponse<TypeConfig>, StreamingError<TypeConfig>> {
        let send = self.send_snapshot(vote, snapshot, option);
        tokio::select! {
            closed = cancel => Err(StreamingError::Closed(closed)),
            sent = send => sent,
        }
    }

    async fn transfer_leader(
        &mut self,
        req: TransferLeaderRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<TransferLeaderResponse<TypeConfig>, RPCError<TypeConfig>> {
        self.call(TRANSFER_LEADER, &req, option.hard_ttl()).await
    }
}

/// One piece of a snapshot on its way to a member.
#[derive(Serialize, Deserialize)]
struct SnapshotChunk {
    vote: Vote,
    meta: SnapshotMeta,
    offset: u64,
    total: u64,
    data: Vec<u8>,
}

impl PeerClient {
    async fn send_snapshot(
        &self,
        vote: Vote,
        snapshot: SnapshotOf<TypeConfig, SnapshotBytes>,
        option: RPCOption,
    ) -> Result<SnapshotResponse<TypeConfig>, StreamingError<TypeConfig>> {
        let bytes = snapshot.snapshot.as_bytes();
        let total = bytes.len() as u64;
        let mut offset = 0usize;
        loop {
            let end = (offset + SNAPSHOT_CHUNK_BYTES).min(bytes.len());
            let chunk = SnapshotChunk {
                vote,
                meta: snapshot.meta.clone(),
                offset: offset as u64,
                total,
                data: bytes[offset..end].to_vec(),
            };
            let deadline = option.hard_ttl().max(SNAPSHOT_CHUNK_DEADLINE);
            let answer: Option<SnapshotResponse<TypeConfig>> =
                self.call(SNAPSHOT_CHUNK, &chunk, deadline).await.map_err(streaming)?;
            if end == bytes.len() {
                return answer.ok_or_else(|| {
                    StreamingError::Network(NetworkError::from_string("the last snapshot chunk was not answered"))
                });
            }
            offset = end;
        }
    }
}

fn streaming(e: RPCError<TypeConfig>) -> StreamingError<TypeConfig> {
    match e {
        RPCError::Timeout(e) => StreamingError::Timeout(e),
        RPCError::Unreachable(e) => StreamingError::Unreachable(e),
        RPCError::Network(e) => StreamingError::Network(e),
        RPCError::RemoteError(e) => StreamingError::Network(NetworkError::new(&e)),
    }
}

// ---- the serving side -----------------------------------------------------------------------------------

/// A boxed future, for the server's own methods.
pub type AppFuture = Pin<Box<dyn Future<Output = Result<Vec<u8>, String>> + Send>>;

/// The server's own calls (methods from [`FIRST_APP_METHOD`]).
pub type AppCalls = Arc<dyn Fn(u8, Vec<u8>) -> AppFuture + Send + Sync>;

/// Serves Raft's calls (and the server's) arriving on the peer port.
pub struct RaftService<SM: RaftStateMachine<TypeConfig, SnapshotData = SnapshotBytes>> {
    raft: openraft::Raft<TypeConfig, SM>,
    app: Option<AppCalls>,
    /// The snapshot being received: chunks arrive in order from the one leader sending it.
    receiving: tokio::sync::Mutex<Vec<u8>>,
}

impl<SM: RaftStateMachine<TypeConfig, SnapshotData = SnapshotBytes>> RaftService<SM> {
    pub fn new(raft: openraft::Raft<TypeConfig, SM>, app: Option<AppCalls>) -> Self {
        RaftService { raft, app, receiving: tokio::sync::Mutex::new(Vec::new()) }
    }

    async fn receive_chunk(&self, chunk: SnapshotChunk) -> Reply<Option<SnapshotResponse<TypeConfig>>> {
        let mut buffer = self.receiving.lock().await;
        if chunk.offset == 0 {
            buffer.clear();
        }
        let received = buffer.len() as u64;
        if chunk.offset != received || chunk.offset + chunk.data.len() as u64 > chunk.total {
            buffer.clear();
            return Err(format!("snapshot chunk at {} does not follow the {received} bytes received", chunk.offset));
        }
        buffer.extend_from_slice(&chunk.data);
        if (buffer.len() as u64) < chunk.total {
            return Ok(None);
        }
        let bytes = std::mem::take(&mut *buffer);
        let snapshot =
            SnapshotOf::<TypeConfig, SnapshotBytes> { meta: chunk.meta, snapshot: SnapshotBytes::new(bytes) };
        self.raft.install_full_snapshot(chunk.vote, snapshot).await.map(Some).map_err(|e| e.to_string())
    }
}

impl<SM: RaftStateMachine<TypeConfig, SnapshotData = SnapshotBytes>> transport::Handler for RaftService<SM> {
    async fn call(&self, method: u8, body: Vec<u8>) -> Result<Vec<u8>, String> {
        match method {
            APPEND => encode(&self.raft.append_entries(decode(&body)?).await.map_err(|e| e.to_string())),
            VOTE => encode(&self.raft.vote(decode(&body)?).await.map_err(|e| e.to_string())),
            PRE_VOTE => encode(&self.raft.pre_vote(decode(&body)?).await.map_err(|e| e.to_string())),
            SNAPSHOT_CHUNK => encode(&self.receive_chunk(decode(&body)?).await),
            TRANSFER_LEADER => {
                encode(&self.raft.handle_transfer_leader(decode(&body)?).await.map_err(|e| e.to_string()))
            }
            method if method >= FIRST_APP_METHOD => match &self.app {
                Some(app) => app(method, body).await,
                None => Err(format!("method {method} is not served here")),
            },
            method => Err(format!("unknown Raft method {method}")),
        }
    }
}
