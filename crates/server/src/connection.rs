//! One client connection: framing, the handshake, four-letter words, and forwarding decoded requests to
//! the core. Bad input ends this connection (or earns an error reply) and never touches any other.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use paddock_proto::Id;
use paddock_proto::{
    DecodeError, ErrorCode, JuteReader, OpCode, Record, Request, RequestHeader, decode_connect_request, decode_frame,
    four_letter_word,
};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufWriter, ReadHalf, WriteHalf};
use tokio::sync::mpsc;
use tracing::{debug, info, warn};

use crate::Shared;
use crate::core::{CoreMsg, Outbound};
use crate::fourlw;
use crate::outbox::Outbox;
use crate::stats;
use crate::throttle::SessionKind;
use crate::watch::ConnId;

/// Serves one accepted connection, plain TCP or TLS, until either side closes it. `transport_ids`: who
/// the transport proved the client is (a TLS client certificate's `x509` id), added to its auth ids.
pub async fn serve<S>(stream: S, peer: SocketAddr, transport_ids: Vec<Id>, conn: ConnId, shared: Arc<Shared>)
where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    let (reader, writer) = tokio::io::split(stream);
    let (out, out_rx) = Outbox::new(shared.config.limits.max_outbox_bytes, shared.in_flight.clone());
    let server_closed = Arc::new(AtomicBool::new(false));
    let writer_task = tokio::spawn(write_loop(writer, out_rx, server_closed.clone(), out.clone()));
    let outcome = tokio::select! {
        outcome = read_loop(reader, peer, transport_ids, conn, &shared, out.clone()) => outcome,
        () = out.until_overflow() => Ok(ReadEnd::Overflowed),
    };
    match &outcome {
        Err(reason) => info!(peer = %peer, "closing connection: {reason}"),
        Ok(ReadEnd::Overflowed) => {
            // Not flushed: the client is not reading, so the flush would never end.
            writer_task.abort();
            warn!(
                peer = %peer,
                limit = out.limit(),
                "client is not reading its replies: its outbox passed paddock.maxOutboxBytes; closing the connection"
            );
        }
        Ok(_) => {}
    }
    let dropped = matches!(outcome, Ok(ReadEnd::ClientClosed)) && !server_closed.load(Ordering::Acquire);
    let _ = shared.core.send(CoreMsg::Closed { conn, dropped }).await;
    // This task's own handle keeps the outbox open: the writer flushes what is queued and stops here.
    let _ = out.send(Outbound::Close);
    let _ = writer_task.await;
    out.forget_outstanding();
}

/// How a connection's read side ended without an error.
enum ReadEnd {
    /// End of stream: the client closed its socket.
    ClientClosed,
    /// A four-letter word was answered; the server closes such connections itself.
    FourLetterWord,
    /// The client let more than `paddock.maxOutboxBytes` pile up unread.
    Overflowed,
}

/// Sets `server_closed` once the server has decided to close the connection, so that the client's end of
/// stream that follows is not counted as the client dropping the connection.
async fn write_loop<S: AsyncWrite>(
    writer: WriteHalf<S>,
    out: mpsc::UnboundedReceiver<Outbound>,
    server_closed: Arc<AtomicBool>,
    outbox: Outbox,
) {
    drain(writer, out, server_closed, &outbox).await;
    outbox.writer_stopped();
}

async fn drain<S: AsyncWrite>(
    writer: WriteHalf<S>,
    mut out: mpsc::UnboundedReceiver<Outbound>,
    server_closed: Arc<AtomicBool>,
    outbox: &Outbox,
) {
    let mut writer = BufWriter::with_capacity(64 * 1024, writer);
    while let Some(item) = out.recv().await {
        let mut close = false;
        let mut batch = Some(item);
        // Coalesce everything already queued into one write and one flush.
        while let Some(item) = batch.take().or_else(|| out.try_recv().ok()) {
            match item {
                Outbound::Frame(frame) => {
                    if writer.write_all(&frame).await.is_err() {
                        return;
                    }
                    outbox.written(frame.len());
                }
                Outbound::Close => {
                    server_closed.store(true, Ordering::Release);
                    close = true;
                    break;
                }
            }
        }
        if writer.flush().await.is_err() || close {
            let _ = writer.shutdown().await;
            return;
        }
    }
}

async fn read_loop<S: AsyncRead>(
    mut reader: ReadHalf<S>,
    peer: SocketAddr,
    transport_ids: Vec<Id>,
    conn: ConnId,
    shared: &Arc<Shared>,
    out: Outbox,
) -> Result<ReadEnd, String> {
    let mut transport_ids = Some(transport_ids);
    let max_frame = shared.config.jute_max_buffer;
    // Strings and buffers inside a frame may use ZooKeeper's extra slack on top of jute.maxbuffer.
    let max_field = max_frame.saturating_mul(2).max(1024);
    let mut buf = BytesMut::with_capacity(4096);
    let mut handshaken = false;
    loop {
        // Before the handshake the first four bytes may be a four-letter word instead of a frame length.
        if !handshaken && let Some(cmd) = buf.first_chunk::<4>().and_then(|first4| four_letter_word(*first4)) {
            let trace_mask = if cmd == "stmk" { read_trace_mask(&mut reader, &mut buf).await } else { None };
            return four_letter(cmd, trace_mask, peer, shared, &out).await.map(|()| ReadEnd::FourLetterWord);
        }
        let frame = match decode_frame(&mut buf, max_frame) {
            Ok(Some(frame)) => frame,
            Ok(None) => {
                let n = reader.read_buf(&mut buf).await.map_err(|e| format!("read error: {e}"))?;
                if n == 0 {
                    return if buf.is_empty() {
                        Ok(ReadEnd::ClientClosed)
                    } else {
                        Err(format!("client closed mid-frame ({} bytes pending)", buf.len()))
                    };
                }
                continue;
            }
            Err(e) => return Err(format!("bad frame from client: {e}")),
        };
        if !handshaken {
            let req = decode_connect_request(&frame).map_err(|e| format!("bad handshake: {e}"))?;
            let kind = if req.session_id == 0 { SessionKind::New } else { SessionKind::Renew };
            if !shared.connection_throttle.admit(kind) {
                // ZooKeeper's ClientCnxnLimitException: closed without an answer; the client retries.
                return Err("connection throttled (connection_throttle_tokens)".to_string());
            }
            handshaken = true;
            let transport_ids = transport_ids.take().unwrap_or_default();
            let msg = CoreMsg::Connect { conn, peer, transport_ids, req, out: out.clone(), bytes: frame.len() + 4 };
            shared.core.send(msg).await.map_err(|_| "server shutting down".to_string())?;
            continue;
        }
        let (msg, xid) = decode_request(conn, &frame, max_field)?;
        if out.writer_has_stopped() {
            // The server closed this connection: nothing it sends is answered any more. Reading on until
            // the client closes lets it read the last answers before its end goes.
            continue;
        }
        out.request_sent(xid);
        shared.core.send(msg).await.map_err(|_| "server shutting down".to_string())?;
        out.throttle().await;
    }
}

/// Decodes a request frame. A body that does not parse earns an error reply (the connection stays, as in
/// ZooKeeper); a frame too short for even a header ends the connection.
/// Returns the message for the core and the request's xid.
fn decode_request(conn: ConnId, frame: &[u8], max_field: usize) -> Result<(CoreMsg, i32), String> {
    let mut reader = JuteReader::new(frame, max_field);
    let header = RequestHeader::read_from(&mut reader).map_err(|e| format!("bad request header: {e}"))?;
    let body = frame.get(8..).unwrap_or_default();
    let received = Instant::now();
    let bytes = frame.len() + 4;
    let msg = match Request::decode(header.op, body, max_field) {
        Ok(req) => CoreMsg::Request { conn, xid: header.xid, req, received, bytes },
        Err(DecodeError::UnknownOpCode(op)) => {
            info!(op, "unknown opcode; answering Unimplemented and closing the connection as ZooKeeper does");
            CoreMsg::UnknownOpCode { conn, xid: header.xid, bytes }
        }
        Err(e) => {
            debug!(op = header.op, "undecodable request: {e}");
            let op = OpCode::from_i32(header.op).unwrap_or(OpCode::Error);
            CoreMsg::BadRequest { conn, xid: header.xid, op, code: ErrorCode::MarshallingError, bytes }
        }
    };
    Ok((msg, header.xid))
}

/// `stmk` carries the new mask: a big-endian i64 after the word. ZooKeeper reads it with the word (one
/// read) and answers nothing when it is not all there; a short wait covers a client that sends it apart.
async fn read_trace_mask<S: AsyncRead>(reader: &mut ReadHalf<S>, buf: &mut BytesMut) -> Option<i64> {
    const WORD_AND_MASK: usize = 12;
    while buf.len() < WORD_AND_MASK {
        match tokio::time::timeout(Duration::from_secs(1), reader.read_buf(buf)).await {
            Ok(Ok(n)) if n > 0 => {}
            _ => break,
        }
    }
    let mask = buf.get(4..WORD_AND_MASK)?;
    Some(i64::from_be_bytes(mask.try_into().ok()?))
}

async fn four_letter(
    cmd: &'static str,
    trace_mask: Option<i64>,
    peer: SocketAddr,
    shared: &Arc<Shared>,
    out: &Outbox,
) -> Result<(), String> {
    // ZooKeeper counts the word as a packet of 4 bytes before running it (so `srvr` counts itself), even
    // when the whitelist refuses it, and its output as packets, one per buffered chunk.
    let _ = shared.inspect(|core| core.stats.packet_received(4)).await;
    let text = if shared.config.four_letter_allowed(cmd) {
        match (cmd, trace_mask) {
            ("stmk", Some(mask)) => fourlw::set_trace_mask(shared, mask),
            // ZooKeeper fails reading the missing mask and closes without a word.
            ("stmk", None) => String::new(),
            _ => fourlw::run(cmd, Some(peer), shared).await,
        }
    } else {
        format!("{cmd} is not executed because it is not in the whitelist.\n")
    };
    // Counted before the client can read it, so that a word sent right after sees it.
    let packets = stats::four_letter_packets(&text);
    let _ = shared.inspect(move |core| core.stats.packets_sent += packets).await;
    let _ = out.send(Outbound::Frame(bytes::Bytes::from(text)));
    let _ = out.send(Outbound::Close);
    Ok(())
}
