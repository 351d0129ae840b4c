//! The peer transport: calls between the servers of an ensemble over ZooKeeper's quorum (peer) port.
//!
//! One TCP connection per pair of caller and callee carries many calls at once; replies come back in any
//! order and are matched by call id. Every frame is length-prefixed (big-endian `u32`, as jute frames are):
//!
//! ```text
//! u32 length      of everything after it, at most MAX_FRAME
//! u64 call_id     chosen by the caller, echoed in the reply
//! u8  kind        0 = call, 1 = reply, 2 = error reply
//! u8  method      the call's method (echoed in replies)
//! ... body        call: the request; reply: the response; error reply: a UTF-8 message
//! ```
//!
//! A caller gives every call a deadline. A broken connection fails the calls in flight on it at once (their
//! outcome is unknown, which the caller must report as such) and the next call reconnects. Bodies are opaque
//! here: the Raft layer encodes its messages.
//!
//! A connection the callee ends (end of stream or reset, as when its process dies) is counted in
//! [`Peer::closures`], so that a member can notice a dead peer at once rather than by missed heartbeats.
//!
//! What carries the frames is a [`PeerSecurity`]'s business: plain TCP ([`PlainTcp`], the default), or the
//! server's mutual TLS (`sslQuorum`), which also decides which member an inbound connection is, from the
//! current membership it is handed ([`Members`]). This crate knows no certificate.

use std::collections::HashMap;
use std::fmt;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader, ReadHalf};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::{Semaphore, mpsc, oneshot, watch};
use tracing::debug;

/// Largest frame either side accepts: a snapshot travels in chunks well below it, an admin restore's log
/// entry (at most 32 MiB, `paddock-server`'s `MAX_REPLICATED_RESTORE`) fits with the entries batched beside
/// it, and a bad length from a confused or hostile peer must not make us allocate gigabytes.
pub const MAX_FRAME: usize = 64 * 1024 * 1024;
/// Calls in flight on one connection: Raft keeps a handful per peer (append, heartbeat, vote); more means
/// the peer stopped answering, and callers should wait rather than queue without bound.
const MAX_IN_FLIGHT: usize = 256;
/// Frames queued for one connection's writer, for the same reason.
const WRITE_QUEUE: usize = 256;
/// Calls a listener serves at once, over all its connections.
const MAX_SERVING: usize = 1024;
/// Bytes of the buffer that joins queued frames kept between writes.
const JOINED_KEPT: usize = 256 * 1024;
/// A connect attempt gives up after this long.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// A connection's security handshake (TLS, and the peer's identity) must finish within this, either way:
/// a peer that trickles its hello holds a socket and a task only this long.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);
/// Inbound connections in their handshake at once. A connection past this is closed at once rather than
/// queued: members reconnect within a heartbeat, and a flood of strangers must not hold unbounded tasks.
const MAX_HANDSHAKES: usize = 64;

// ---- what carries the frames ----------------------------------------------------------------------------

/// A connection's bytes, whatever carries them (TCP, or TLS over TCP).
pub trait PeerIo: AsyncRead + AsyncWrite + Send + Unpin + 'static {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> PeerIo for T {}

/// A connection once its [`PeerSecurity`] handshake is done.
pub type PeerStream = Box<dyn PeerIo>;

/// The members an inbound connection may come from: id and configured peer address (`host:port`, as in the
/// member's `server.N` line). Kept current by the replica as the membership changes.
pub type Members = Arc<Vec<(u64, String)>>;

/// A handshake in progress.
pub type Handshake<'a, T> = Pin<Box<dyn Future<Output = io::Result<T>> + Send + 'a>>;

/// How peer connections are secured, and who may open one.
pub trait PeerSecurity: fmt::Debug + Send + Sync + 'static {
    /// Secures a connection accepted from `from`. Admits it only if it proves to be one of `members`, and
    /// returns which (`None`: this security proves no identity, as plain TCP). An error refuses it.
    fn accept(&self, stream: TcpStream, from: SocketAddr, members: Members)
    -> Handshake<'_, (PeerStream, Option<u64>)>;

    /// Secures a connection this server opened to the member configured at `target` (`host:port`).
    fn connect<'a>(&'a self, stream: TcpStream, target: &'a str) -> Handshake<'a, PeerStream>;

    /// The address this server's connections leave from, so that the members it calls see it come from its
    /// configured address (a host with several addresses would otherwise pick one by route). `None`: the
    /// system chooses.
    fn source(&self) -> Option<IpAddr> {
        None
    }
}

/// Plain TCP: every connection is admitted, none proves who it is.
#[derive(Debug, Default)]
pub struct PlainTcp;

impl PeerSecurity for PlainTcp {
    fn accept(&self, stream: TcpStream, _: SocketAddr, _: Members) -> Handshake<'_, (PeerStream, Option<u64>)> {
        Box::pin(async move { Ok((Box::new(stream) as PeerStream, None)) })
    }

    fn connect<'a>(&'a self, stream: TcpStream, _: &'a str) -> Handshake<'a, PeerStream> {
        Box::pin(async move { Ok(Box::new(stream) as PeerStream) })
    }
}

const KIND_CALL: u8 = 0;
const KIND_REPLY: u8 = 1;
const KIND_ERROR: u8 = 2;
/// `call_id`, `kind` and `method`.
const HEADER: usize = 10;

/// Why a call has no answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    #[error("cannot connect to peer {addr}: {reason}")]
    Connect { addr: SocketAddr, reason: String },
    /// The connection broke or the deadline passed: the callee may or may not have acted on the call.
    #[error("no answer from peer {addr}: {reason}")]
    Unknown { addr: SocketAddr, reason: String },
    /// The callee answered with an error.
    #[error("peer {addr} refused: {message}")]
    Refused { addr: SocketAddr, message: String },
}

/// One frame, without its length prefix.
#[derive(Debug, PartialEq, Eq)]
struct Frame {
    call_id: u64,
    kind: u8,
    method: u8,
    body: Vec<u8>,
}

impl Frame {
    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(4 + HEADER + self.body.len());
        out.extend(((HEADER + self.body.len()) as u32).to_be_bytes());
        out.extend(self.call_id.to_be_bytes());
        out.push(self.kind);
        out.push(self.method);
        out.extend(&self.body);
        out
    }
}

/// Reads one frame; `Ok(None)` at a clean end of stream between frames.
async fn read_frame<R: AsyncRead + Unpin>(input: &mut BufReader<R>) -> std::io::Result<Option<Frame>> {
    let mut len = [0u8; 4];
    match input.read_exact(&mut len).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let len = u32::from_be_bytes(len) as usize;
    if !(HEADER..=MAX_FRAME).contains(&len) {
        let message = format!("peer frame of {len} bytes (limits {HEADER}..={MAX_FRAME})");
        return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, message));
    }
    let mut header = [0u8; HEADER];
    input.read_exact(&mut header).await?;
    let mut body = vec![0u8; len - HEADER];
    input.read_exact(&mut body).await?;
    let mut call_id = [0u8; 8];
    call_id.copy_from_slice(&header[..8]);
    Ok(Some(Frame { call_id: u64::from_be_bytes(call_id), kind: header[8], method: header[9], body }))
}

/// Writes frames as they are queued; those queued together go out in one write (a reply and the next
/// append often are), so a busy connection costs fewer syscalls than frames.
async fn write_frames<W: AsyncWrite + Unpin>(mut output: W, mut frames: mpsc::Receiver<Vec<u8>>) {
    let mut queued = Vec::with_capacity(WRITE_QUEUE);
    let mut joined = Vec::new();
    while frames.recv_many(&mut queued, WRITE_QUEUE).await > 0 {
        let out = match queued.as_slice() {
            [one] => one.as_slice(),
            many => {
                joined.clear();
                many.iter().for_each(|frame| joined.extend_from_slice(frame));
                joined.as_slice()
            }
        };
        if output.write_all(out).await.is_err() {
            return;
        }
        queued.clear();
        // Snapshot chunks pass through here too: what they grew is not kept for small frames.
        joined.shrink_to(JOINED_KEPT);
    }
}

// ---- the serving side -----------------------------------------------------------------------------------

/// What a server does with a call: `Ok(response)` or `Err(message)`.
pub trait Handler: Send + Sync + 'static {
    fn call(&self, method: u8, body: Vec<u8>) -> impl Future<Output = Result<Vec<u8>, String>> + Send;
}

/// Accepts plain TCP peer connections on `listener` and serves their calls with `handler`, until dropped
/// (abort the returned task).
pub fn serve<H: Handler>(listener: TcpListener, handler: Arc<H>) -> tokio::task::JoinHandle<()> {
    serve_secured(listener, handler, Arc::new(PlainTcp), watch::channel(Members::default()).1)
}

/// [`serve`] with connections secured by `security`, which admits only the current `members`.
pub fn serve_secured<H: Handler>(
    listener: TcpListener,
    handler: Arc<H>,
    security: Arc<dyn PeerSecurity>,
    members: watch::Receiver<Members>,
) -> tokio::task::JoinHandle<()> {
    let serving = Arc::new(Semaphore::new(MAX_SERVING));
    let handshakes = Arc::new(Semaphore::new(MAX_HANDSHAKES));
    tokio::spawn(async move {
        while let Ok((stream, from)) = listener.accept().await {
            let Ok(permit) = handshakes.clone().try_acquire_owned() else {
                debug!(%from, "peer connection closed: {MAX_HANDSHAKES} handshakes are under way");
                continue;
            };
            let _ = stream.set_nodelay(true);
            let (security, current) = (security.clone(), members.borrow().clone());
            let (handler, serving) = (handler.clone(), serving.clone());
            tokio::spawn(async move {
                let secured = tokio::time::timeout(HANDSHAKE_TIMEOUT, security.accept(stream, from, current)).await;
                drop(permit);
                match secured {
                    Ok(Ok((stream, _member))) => serve_connection(stream, handler, serving).await,
                    // The security logs why it refused (once per stranger); the transport only notes it.
                    Ok(Err(e)) => debug!(%from, "peer connection not admitted: {e}"),
                    Err(_) => debug!(%from, "peer connection closed: no handshake within {HANDSHAKE_TIMEOUT:?}"),
                }
            });
        }
    })
}

async fn serve_connection<H: Handler>(stream: PeerStream, handler: Arc<H>, serving: Arc<Semaphore>) {
    let (read, write) = tokio::io::split(stream);
    let (out, frames) = mpsc::channel(WRITE_QUEUE);
    let writer = tokio::spawn(write_frames(write, frames));
    let mut input = BufReader::new(read);
    // A frame that is not a call, or any read error, ends the connection: the peer reconnects.
    while let Ok(Some(frame)) = read_frame(&mut input).await {
        if frame.kind != KIND_CALL {
            break;
        }
        let Ok(permit) = serving.clone().acquire_owned().await else { break };
        let (handler, out) = (handler.clone(), out.clone());
        tokio::spawn(async move {
            let (kind, body) = match handler.call(frame.method, frame.body).await {
                Ok(body) => (KIND_REPLY, body),
                Err(message) => (KIND_ERROR, message.into_bytes()),
            };
            let reply = Frame { call_id: frame.call_id, kind, method: frame.method, body };
            let _ = out.send(reply.encode()).await;
            drop(permit);
        });
    }
    drop(out);
    let _ = writer.await;
}

// ---- the calling side -----------------------------------------------------------------------------------

type Pending = Arc<Mutex<Calls>>;

/// The calls waiting for a reply on one connection.
#[derive(Default)]
struct Calls {
    waiting: HashMap<u64, oneshot::Sender<Result<Frame, String>>>,
    /// Why the connection ended, once it did. Set under the same lock that admits calls: a call admitted
    /// after the reader drained the map would wait out its whole deadline (the writer's channel still takes
    /// frames until the aborted writer is dropped).
    ended: Option<String>,
}

/// An open connection: frames go to its writer task; replies are routed by its reader task.
struct Connection {
    out: mpsc::Sender<Vec<u8>>,
    pending: Pending,
    /// Set when this side gives up on the connection (a deadline passed): its end that follows is ours,
    /// not the peer's, and must not count as a closure.
    abandoned: Arc<AtomicBool>,
}

/// Calls to one peer. Connects on first use and again after the connection breaks.
pub struct Peer {
    addr: SocketAddr,
    /// The peer as configured (`host:port`): whom its certificate must name.
    target: String,
    security: Arc<dyn PeerSecurity>,
    connection: tokio::sync::Mutex<Option<Arc<Connection>>>,
    next_call: std::sync::atomic::AtomicU64,
    in_flight: Semaphore,
    /// Connections the peer ended, counted (a watch holds one value: nothing queues however often it fires).
    closures: Arc<watch::Sender<u64>>,
}

impl Peer {
    /// A peer reached over plain TCP.
    pub fn new(addr: SocketAddr) -> Peer {
        Peer::secured(addr, addr.to_string(), Arc::new(PlainTcp))
    }

    /// A peer at `addr`, configured as `target` (`host:port`), reached through `security`.
    pub fn secured(addr: SocketAddr, target: String, security: Arc<dyn PeerSecurity>) -> Peer {
        Peer {
            addr,
            target,
            security,
            connection: tokio::sync::Mutex::new(None),
            next_call: std::sync::atomic::AtomicU64::new(1),
            in_flight: Semaphore::new(MAX_IN_FLIGHT),
            closures: Arc::new(watch::channel(0).0),
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Changes each time the peer ends a connection of ours (end of stream or an error reading it), at the
    /// moment it is read. A connection this side dropped after a deadline does not count. Only a connection
    /// that exists can be seen to end: a watcher must make sure calls keep one open.
    pub fn closures(&self) -> watch::Receiver<u64> {
        self.closures.subscribe()
    }

    /// Calls `method` with `body`; the answer must arrive within `deadline`.
    pub async fn call(&self, method: u8, body: Vec<u8>, deadline: Duration) -> Result<Vec<u8>, CallError> {
        let unknown = |reason: &str| CallError::Unknown { addr: self.addr, reason: reason.to_string() };
        let mut sent: Option<(Arc<Connection>, u64)> = None;
        let work = async {
            let _permit = self.in_flight.acquire().await.map_err(|_| unknown("the peer is closed"))?;
            let connection = self.connection().await?;
            let call_id = self.next_call.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let (tx, rx) = oneshot::channel();
            {
                let mut calls = lock(&connection.pending);
                if let Some(reason) = &calls.ended {
                    return Err(unknown(reason));
                }
                calls.waiting.insert(call_id, tx);
            }
            sent = Some((connection.clone(), call_id));
            let frame = Frame { call_id, kind: KIND_CALL, method, body };
            if connection.out.send(frame.encode()).await.is_err() {
                lock(&connection.pending).waiting.remove(&call_id);
                self.forget(&connection).await;
                return Err(unknown("the connection broke"));
            }
            match rx.await {
                Ok(Ok(reply)) if reply.kind == KIND_REPLY => Ok(reply.body),
                Ok(Ok(reply)) => Err(CallError::Refused {
                    addr: self.addr,
                    message: String::from_utf8_lossy(&reply.body).into_owned(),
                }),
                Ok(Err(reason)) => Err(unknown(&reason)),
                Err(_) => Err(unknown("the connection broke")),
            }
        };
        if let Ok(result) = tokio::time::timeout(deadline, work).await {
            return result;
        }
        // No answer in time: the connection may be stalled (a partition drops packets silently, and TCP
        // retransmits for many minutes before it gives up), so the next call opens a new one. The caller
        // stops waiting; so does the connection.
        if let Some((connection, call_id)) = sent {
            lock(&connection.pending).waiting.remove(&call_id);
            self.forget(&connection).await;
        }
        Err(unknown("the deadline passed"))
    }

    async fn connection(&self) -> Result<Arc<Connection>, CallError> {
        let mut slot = self.connection.lock().await;
        if let Some(connection) = slot.as_ref().filter(|c| c.is_open()) {
            return Ok(connection.clone());
        }
        let failed = |reason: String| CallError::Connect { addr: self.addr, reason };
        let stream = tokio::time::timeout(CONNECT_TIMEOUT, dial(self.addr, self.security.source()))
            .await
            .map_err(|_| failed("timed out".into()))?
            .map_err(|e| failed(e.to_string()))?;
        let _ = stream.set_nodelay(true);
        let stream = tokio::time::timeout(HANDSHAKE_TIMEOUT, self.security.connect(stream, &self.target))
            .await
            .map_err(|_| failed(format!("no handshake within {HANDSHAKE_TIMEOUT:?}")))?
            .map_err(|e| failed(e.to_string()))?;
        let connection = Arc::new(open(stream, self.closures.clone()));
        *slot = Some(connection.clone());
        Ok(connection)
    }

    /// Drops `connection` if it is still the current one, so the next call reconnects.
    async fn forget(&self, connection: &Arc<Connection>) {
        connection.abandoned.store(true, Ordering::Relaxed);
        let mut slot = self.connection.lock().await;
        if slot.as_ref().is_some_and(|c| Arc::ptr_eq(c, connection)) {
            *slot = None;
        }
    }
}

impl Connection {
    fn is_open(&self) -> bool {
        !self.out.is_closed() && lock(&self.pending).ended.is_none()
    }
}

/// Connects to `addr`, from `source` when it is given and of the same family.
async fn dial(addr: SocketAddr, source: Option<IpAddr>) -> io::Result<TcpStream> {
    let source = source.filter(|ip| !ip.is_unspecified() && ip.is_ipv4() == addr.is_ipv4());
    let Some(source) = source else { return TcpStream::connect(addr).await };
    let socket = if addr.is_ipv4() { TcpSocket::new_v4()? } else { TcpSocket::new_v6()? };
    socket.bind(SocketAddr::new(source, 0))?;
    socket.connect(addr).await
}

fn open(stream: PeerStream, closures: Arc<watch::Sender<u64>>) -> Connection {
    let (read, write) = tokio::io::split(stream);
    let (out, frames) = mpsc::channel(WRITE_QUEUE);
    let pending: Pending = Arc::default();
    let abandoned = Arc::new(AtomicBool::new(false));
    let writer = tokio::spawn(write_frames(write, frames));
    let ended = Ended { abandoned: abandoned.clone(), closures };
    tokio::spawn(route_replies(read, pending.clone(), writer, ended));
    Connection { out, pending, abandoned }
}

/// Where a connection's end is reported.
struct Ended {
    abandoned: Arc<AtomicBool>,
    closures: Arc<watch::Sender<u64>>,
}

/// Hands every reply to its caller; when the connection ends, fails every call still waiting on it.
async fn route_replies(
    read: ReadHalf<PeerStream>,
    pending: Pending,
    writer: tokio::task::JoinHandle<()>,
    ended: Ended,
) {
    let mut input = BufReader::new(read);
    let reason = loop {
        match read_frame(&mut input).await {
            Ok(Some(frame)) => {
                if let Some(caller) = lock(&pending).waiting.remove(&frame.call_id) {
                    let _ = caller.send(Ok(frame));
                }
            }
            Ok(None) => break "the peer closed the connection".to_string(),
            Err(e) => break format!("the connection failed: {e}"),
        }
    };
    writer.abort();
    let waiting = {
        let mut calls = lock(&pending);
        calls.ended = Some(reason.clone());
        std::mem::take(&mut calls.waiting)
    };
    for (_, caller) in waiting {
        let _ = caller.send(Err(reason.clone()));
    }
    if !ended.abandoned.load(Ordering::Relaxed) {
        ended.closures.send_modify(|n| *n = n.wrapping_add(1));
    }
}

/// The pending map is only held for an insert or a remove; a panic while holding it cannot leave it
/// inconsistent, so a poisoned lock is used as it is.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Echoes the body; method 9 answers with an error, method 7 never answers in time.
    struct Echo;

    impl Handler for Echo {
        async fn call(&self, method: u8, body: Vec<u8>) -> Result<Vec<u8>, String> {
            match method {
                9 => Err("no such method".into()),
                7 => {
                    tokio::time::sleep(Duration::from_secs(3600)).await;
                    Ok(body)
                }
                _ => Ok(body.into_iter().rev().collect()),
            }
        }
    }

    async fn server() -> (SocketAddr, tokio::task::JoinHandle<()>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("address");
        (addr, serve(listener, Arc::new(Echo)))
    }

    const SOON: Duration = Duration::from_secs(10);

    #[tokio::test]
    async fn many_calls_share_one_connection_and_get_their_own_answers() {
        let (addr, _server) = server().await;
        let peer = Arc::new(Peer::new(addr));
        let calls = (0..50u8).map(|i| {
            let peer = peer.clone();
            tokio::spawn(async move { (i, peer.call(1, vec![i, 0, 1], SOON).await) })
        });
        for call in calls {
            let (i, answer) = call.await.expect("task");
            assert_eq!(answer, Ok(vec![1, 0, i]));
        }
        let refused = peer.call(9, vec![], SOON).await;
        assert_eq!(refused, Err(CallError::Refused { addr, message: "no such method".into() }));
    }

    #[tokio::test]
    async fn a_call_without_answer_fails_at_its_deadline_and_others_go_on() {
        let (addr, _server) = server().await;
        let peer = Peer::new(addr);
        let slow = peer.call(7, vec![1], Duration::from_millis(100)).await;
        assert!(matches!(slow, Err(CallError::Unknown { .. })), "{slow:?}");
        assert_eq!(peer.call(1, vec![1, 2], SOON).await, Ok(vec![2, 1]));
    }

    #[tokio::test]
    async fn a_broken_connection_fails_the_call_in_flight_as_unknown_and_the_next_call_reconnects() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("address");
        // A peer that reads the first call and hangs up, then answers the next connection's call by hand.
        let fake = tokio::spawn(async move {
            let (first, _) = listener.accept().await.expect("accept");
            let (read, _write) = first.into_split();
            let call = read_frame(&mut BufReader::new(read)).await.expect("read").expect("a call");
            assert_eq!((call.kind, call.method, call.body), (KIND_CALL, 1, vec![5]));
            drop(_write);
            let (second, _) = listener.accept().await.expect("accept again");
            let (read, mut write) = second.into_split();
            let call = read_frame(&mut BufReader::new(read)).await.expect("read").expect("a call");
            let reply = Frame { call_id: call.call_id, kind: KIND_REPLY, method: call.method, body: vec![6] };
            write.write_all(&reply.encode()).await.expect("reply");
        });
        let peer = Peer::new(addr);
        let lost = peer.call(1, vec![5], SOON).await;
        assert!(matches!(lost, Err(CallError::Unknown { .. })), "{lost:?}");
        assert_eq!(peer.call(1, vec![5], SOON).await, Ok(vec![6]));
        fake.await.expect("the fake peer saw both calls");
    }

    #[tokio::test]
    async fn a_connection_the_peer_ends_is_counted_and_one_given_up_here_is_not() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("address");
        // A peer that never answers its first connection's call and hangs up on its second.
        let fake = tokio::spawn(async move {
            let (first, _) = listener.accept().await.expect("accept");
            let (second, _) = listener.accept().await.expect("accept again");
            let (read, write) = second.into_split();
            read_frame(&mut BufReader::new(read)).await.expect("read").expect("a call");
            drop(write);
            first
        });
        let peer = Peer::new(addr);
        let mut closures = peer.closures();
        let silent = peer.call(1, vec![1], Duration::from_millis(100)).await;
        assert!(matches!(silent, Err(CallError::Unknown { .. })), "{silent:?}");
        let hung_up = peer.call(1, vec![2], SOON).await;
        assert!(matches!(hung_up, Err(CallError::Unknown { .. })), "{hung_up:?}");
        tokio::time::timeout(SOON, closures.changed()).await.expect("the hang-up is seen").expect("the peer lives");
        assert_eq!(*closures.borrow_and_update(), 1, "only the connection the peer ended counts");
        // The next call must not go out on the ended connection and wait there for its deadline.
        let first = fake.await.expect("the fake peer");
        let started = std::time::Instant::now();
        let after = peer.call(1, vec![3], SOON).await;
        assert!(after.is_err() && started.elapsed() < SOON / 2, "{after:?} after {:?}", started.elapsed());
        drop(first);
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(!closures.has_changed().expect("the peer lives"), "the abandoned connection does not count");
    }

    #[tokio::test]
    async fn an_oversized_or_short_frame_ends_the_connection_not_the_server() {
        let (addr, _server) = server().await;
        for bad_len in [u32::MAX, (MAX_FRAME + 1) as u32, 3] {
            let mut stream = TcpStream::connect(addr).await.expect("connect");
            stream.write_all(&bad_len.to_be_bytes()).await.expect("write");
            let mut buf = [0u8; 1];
            let read = tokio::time::timeout(SOON, stream.read(&mut buf)).await.expect("closed in time");
            assert!(matches!(read, Ok(0) | Err(_)), "the server closes the connection: {read:?}");
        }
        assert_eq!(Peer::new(addr).call(1, vec![4, 2], SOON).await, Ok(vec![2, 4]));
    }

    /// Admits a connection only while the members handed to it include "admitted".
    #[derive(Debug)]
    struct OnlyListed;

    impl PeerSecurity for OnlyListed {
        fn accept(
            &self,
            stream: TcpStream,
            _: SocketAddr,
            members: Members,
        ) -> Handshake<'_, (PeerStream, Option<u64>)> {
            Box::pin(async move {
                match members.iter().find(|(_, addr)| addr == "admitted") {
                    Some((id, _)) => Ok((Box::new(stream) as PeerStream, Some(*id))),
                    None => Err(io::Error::new(io::ErrorKind::PermissionDenied, "not a member")),
                }
            })
        }

        fn connect<'a>(&'a self, stream: TcpStream, _: &'a str) -> Handshake<'a, PeerStream> {
            Box::pin(async move { Ok(Box::new(stream) as PeerStream) })
        }
    }

    #[tokio::test]
    async fn a_refused_connection_gets_no_answer_and_the_current_members_decide() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("address");
        let (members, view) = watch::channel(Members::default());
        let _server = serve_secured(listener, Arc::new(Echo), Arc::new(OnlyListed), view);
        let peer = Peer::new(addr);
        let refused = peer.call(1, vec![1, 2], SOON).await;
        assert!(matches!(refused, Err(CallError::Unknown { .. })), "{refused:?}");
        members.send_replace(Arc::new(vec![(3, "admitted".to_string())]));
        assert_eq!(peer.call(1, vec![1, 2], SOON).await, Ok(vec![2, 1]), "admitted once a member");
    }

    #[tokio::test]
    async fn nobody_listening_is_a_connect_error() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("address");
        drop(listener);
        let answer = Peer::new(addr).call(1, vec![], SOON).await;
        assert!(matches!(answer, Err(CallError::Connect { .. })), "{answer:?}");
    }
}
