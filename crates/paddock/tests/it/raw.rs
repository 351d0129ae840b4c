//! A ZooKeeper client connection spoken by hand with `paddock-proto`'s encoding: the test decides which server
//! each connection uses, what the handshake says, and when to reconnect.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use paddock_proto::{
    Acl, ConnectRequest, ConnectResponse, CreateMode, CreateRequest, ErrorCode, JuteReader, JuteWriter, OpCode,
    PathWatchRequest, Record, ReplyHeader, Request, SetDataRequest,
};

/// A client connection spoken by hand.
pub struct Raw {
    stream: TcpStream,
    /// The highest zxid seen in a reply, as a client tracks it for its next handshake.
    pub last_zxid: i64,
}

/// The handshake's outcome: the session (id, password, timeout, read-only), or None when the server closed the connection
/// instead of answering.
pub type Handshake = Option<(i64, Vec<u8>, i32, bool)>;

impl Raw {
    pub fn connect(addr: &str, session: (i64, &[u8]), timeout_ms: i32, last_zxid_seen: i64) -> (Raw, Handshake) {
        Self::connect_as(addr, session, timeout_ms, last_zxid_seen, false)
    }

    /// `read_only`: the handshake's flag, a client that accepts a read-only server.
    pub fn connect_as(
        addr: &str,
        session: (i64, &[u8]),
        timeout_ms: i32,
        last_zxid_seen: i64,
        read_only: bool,
    ) -> (Raw, Handshake) {
        let stream = TcpStream::connect(addr).expect("connect");
        stream.set_read_timeout(Some(Duration::from_secs(30))).expect("read timeout");
        let mut raw = Raw { stream, last_zxid: last_zxid_seen };
        let req = ConnectRequest {
            protocol_version: 0,
            last_zxid_seen,
            timeout: timeout_ms,
            session_id: session.0,
            passwd: session.1.to_vec(),
            read_only: Some(read_only),
        };
        let mut w = JuteWriter::framed();
        req.write_to(&mut w);
        raw.stream.write_all(&w.into_frame()).expect("send the handshake");
        let answer = raw.frame().map(|frame| {
            let resp = ConnectResponse::read_from(&mut JuteReader::new(&frame, frame.len())).expect("handshake answer");
            (resp.session_id, resp.passwd, resp.timeout, resp.read_only == Some(true))
        });
        (raw, answer)
    }

    /// The next frame's body, or None once the server closed the connection.
    pub fn frame(&mut self) -> Option<Vec<u8>> {
        let mut len = [0u8; 4];
        self.stream.read_exact(&mut len).ok()?;
        let mut body = vec![0u8; u32::from_be_bytes(len) as usize];
        self.stream.read_exact(&mut body).ok()?;
        Some(body)
    }

    /// Sends `req` and returns its reply's error code, skipping notifications; None if the connection closed.
    pub fn call(&mut self, xid: i32, req: &Request) -> Option<ErrorCode> {
        self.stream.write_all(&req.encode(xid)).ok()?;
        loop {
            let frame = self.frame()?;
            let header = ReplyHeader::read_from(&mut JuteReader::new(&frame, frame.len())).expect("reply header");
            if header.xid == xid {
                self.last_zxid = self.last_zxid.max(header.zxid);
                return ErrorCode::from_i32(header.err);
            }
        }
    }

    pub fn create(&mut self, xid: i32, path: &str, mode: CreateMode) -> Option<ErrorCode> {
        let req = CreateRequest {
            path: path.into(),
            data: Some(b"x".to_vec()),
            acl: Acl::open_unsafe(),
            flags: mode.flags(),
        };
        self.call(xid, &Request::Create { op: OpCode::Create, req })
    }

    pub fn set(&mut self, xid: i32, path: &str) -> Option<ErrorCode> {
        self.call(xid, &Request::SetData(SetDataRequest { path: path.into(), data: Some(b"y".to_vec()), version: -1 }))
    }

    pub fn exists(&mut self, xid: i32, path: &str) -> Option<ErrorCode> {
        self.call(xid, &Request::Exists(PathWatchRequest { path: path.into(), watch: false }))
    }

    /// Sends raw bytes (a pipelined request, a bad frame); false if the connection is gone.
    pub fn send_bytes(&mut self, bytes: &[u8]) -> bool {
        self.stream.write_all(bytes).is_ok()
    }

    /// Whether the server closes this connection within `within` (anything it sends meanwhile is ignored).
    pub fn closed_within(&mut self, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        let _ = self.stream.set_read_timeout(Some(Duration::from_millis(200)));
        while Instant::now() < deadline {
            let mut byte = [0u8; 1];
            match self.stream.read(&mut byte) {
                Ok(0) => return true,
                Ok(_) => {}
                Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
                Err(_) => return true,
            }
        }
        false
    }
}

/// Polls `probe` every 100 ms until it holds; false after 30 s (an election, a cut-off member noticing it is
/// cut off, an expiry: each takes seconds on a loaded machine).
pub fn eventually(mut probe: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if probe() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}
