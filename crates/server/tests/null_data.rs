//! Null znode data, on raw sockets (no client library in between, so nothing turns null into empty): a
//! create or setData with a null buffer (length -1) reads back as a null buffer, an empty one (length 0) as
//! empty, as Apache ZooKeeper answers; `dataLength` is 0 for both. The distinction survives the multi and
//! multiRead paths and a restart, from the write-ahead log and from a snapshot.

use std::path::Path;
use std::time::Duration;

use bytes::BytesMut;
use paddock_proto::*;
use paddock_server::{RunningServer, ServerConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const WAIT: Duration = Duration::from_secs(10);
const NULL: [u8; 4] = [0xff; 4];
const EMPTY: [u8; 4] = [0; 4];

fn config(data_dir: &Path, snap_count: u64) -> ServerConfig {
    ServerConfig {
        client_port: 0,
        client_port_address: [127, 0, 0, 1].into(),
        admin_enable_server: false,
        data_dir: data_dir.to_path_buf(),
        snap_count,
        ..ServerConfig::default()
    }
}

/// A raw connection past the handshake, numbering its requests itself.
struct Raw {
    stream: TcpStream,
    xid: i32,
}

impl Raw {
    async fn connect(server: &RunningServer) -> Raw {
        let mut stream = TcpStream::connect(server.client_addr).await.expect("connect");
        let req = ConnectRequest { timeout: 10_000, passwd: vec![0; 16], read_only: Some(false), ..Default::default() };
        let mut frame = (req.to_bytes().len() as u32).to_be_bytes().to_vec();
        frame.extend(req.to_bytes());
        stream.write_all(&frame).await.expect("send handshake");
        let body = read_frame(&mut stream).await;
        let resp = ConnectResponse::read_from(&mut JuteReader::new(&body, DEFAULT_MAX_BUFFER)).expect("handshake");
        assert_ne!(resp.session_id, 0);
        Raw { stream, xid: 0 }
    }

    /// Sends `req` and returns the reply body after the header, asserting the reply is a success.
    async fn call(&mut self, req: &Request) -> Vec<u8> {
        self.xid += 1;
        self.stream.write_all(&req.encode(self.xid)).await.expect("send request");
        let body = read_frame(&mut self.stream).await;
        let header = ReplyHeader::read_from(&mut JuteReader::new(&body, DEFAULT_MAX_BUFFER)).expect("reply header");
        assert_eq!((header.xid, header.err), (self.xid, 0), "{req:?}");
        body[16..].to_vec()
    }

    /// getData: the raw reply body (its first four bytes are the data length) and its decoded form.
    async fn get_data(&mut self, path: &str) -> (Vec<u8>, Option<Vec<u8>>, Stat) {
        let body = self.call(&Request::GetData(PathWatchRequest { path: path.into(), watch: false })).await;
        match Response::decode(OpCode::GetData, &body, DEFAULT_MAX_BUFFER) {
            Ok(Response::GetData { data, stat }) => (body, data, stat),
            other => panic!("getData {path}: {other:?}"),
        }
    }

    async fn create(&mut self, op: OpCode, path: &str, data: Option<&[u8]>) {
        let req =
            CreateRequest { path: path.into(), data: data.map(<[u8]>::to_vec), acl: Acl::open_unsafe(), flags: 0 };
        self.call(&Request::Create { op, req }).await;
    }

    async fn set_data(&mut self, path: &str, data: Option<&[u8]>) -> Stat {
        let req = SetDataRequest { path: path.into(), data: data.map(<[u8]>::to_vec), version: -1 };
        let body = self.call(&Request::SetData(req)).await;
        Stat::read_from(&mut JuteReader::new(&body, DEFAULT_MAX_BUFFER)).expect("setData answers a Stat")
    }
}

async fn read_frame(stream: &mut TcpStream) -> Vec<u8> {
    let mut buf = BytesMut::new();
    loop {
        if let Ok(Some(frame)) = decode_frame(&mut buf, 16 * 1024 * 1024) {
            return frame.to_vec();
        }
        let n = tokio::time::timeout(WAIT, stream.read_buf(&mut buf)).await.expect("answer in time").expect("read");
        assert_ne!(n, 0, "server closed the connection");
    }
}

/// Asserts the getData reply for `path` carries exactly `length` (`NULL` or `EMPTY`) and dataLength 0.
async fn assert_data(raw: &mut Raw, path: &str, length: [u8; 4]) {
    let (body, data, stat) = raw.get_data(path).await;
    assert_eq!(&body[..4], &length, "getData {path}: raw data length");
    assert_eq!(data, if length == NULL { None } else { Some(vec![]) }, "getData {path}");
    assert_eq!(stat.data_length, 0, "getData {path}: dataLength");
}

/// `/n` created null, `/e` created empty, `/n2` created null by create2, `/s` set from data to null.
async fn assert_state(raw: &mut Raw) {
    assert_data(raw, "/n", NULL).await;
    assert_data(raw, "/e", EMPTY).await;
    assert_data(raw, "/n2", NULL).await;
    assert_data(raw, "/s", NULL).await;
    assert_data(raw, "/m", NULL).await;
    assert_data(raw, "/me", EMPTY).await;
}

fn snapshot_count(data_dir: &Path) -> usize {
    let dir = data_dir.join("paddock").join("snap");
    std::fs::read_dir(dir)
        .map(|entries| entries.flatten().filter(|e| e.file_name().to_string_lossy().ends_with(".snap")).count())
        .unwrap_or(0)
}

#[tokio::test]
async fn null_and_empty_data_read_back_as_sent_and_survive_restarts() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = paddock_server::start_durable(config(dir.path(), 100_000)).await.expect("server starts");
    let mut raw = Raw::connect(&server).await;

    raw.create(OpCode::Create, "/n", None).await;
    raw.create(OpCode::Create, "/e", Some(b"")).await;
    raw.create(OpCode::Create2, "/n2", None).await;
    raw.create(OpCode::Create, "/s", Some(b"data")).await;
    assert_eq!(raw.set_data("/s", None).await.data_length, 0);
    // setData(empty) on null data, then back: both are kept as sent.
    raw.set_data("/n2", Some(b"")).await;
    assert_data(&mut raw, "/n2", EMPTY).await;
    let stat = raw.set_data("/n2", None).await;
    assert_eq!((stat.version, stat.data_length), (2, 0));

    let create = |path: &str| CreateRequest { path: path.into(), data: None, acl: Acl::open_unsafe(), flags: 0 };
    let multi = Request::Multi(vec![
        MultiOp::Create { op: OpCode::Create, req: create("/m") },
        MultiOp::Create { op: OpCode::Create2, req: create("/me") },
        MultiOp::SetData(SetDataRequest { path: "/me".into(), data: Some(vec![]), version: -1 }),
    ]);
    let reply = raw.call(&multi).await;
    let results = Response::decode(OpCode::Multi, &reply, DEFAULT_MAX_BUFFER);
    let ok = matches!(&results, Ok(Response::Multi(r)) if r.len() == 3 && !r.iter().any(|r| matches!(r, MultiResult::Error(_))));
    assert!(ok, "multi: {results:?}");

    let read = Request::MultiRead(vec![
        MultiOp::GetData(PathWatchRequest { path: "/n".into(), watch: false }),
        MultiOp::GetData(PathWatchRequest { path: "/e".into(), watch: false }),
    ]);
    let reply = raw.call(&read).await;
    // First result: a 9-byte MultiHeader, then the data length.
    assert_eq!(&reply[9..13], &NULL);
    let results = match Response::decode(OpCode::MultiRead, &reply, DEFAULT_MAX_BUFFER) {
        Ok(Response::Multi(results)) => results,
        other => panic!("multiRead: {other:?}"),
    };
    let shapes: Vec<_> = results
        .iter()
        .map(|r| match r {
            MultiResult::GetData { data, stat } => (data.clone(), stat.data_length),
            other => panic!("multiRead result {other:?}"),
        })
        .collect();
    assert_eq!(shapes, [(None, 0), (Some(vec![]), 0)]);
    assert_state(&mut raw).await;
    drop(raw);
    server.shutdown().await;

    // Recovered from the write-ahead log alone; every write from now on is followed by a snapshot.
    assert_eq!(snapshot_count(dir.path()), 0);
    let server = paddock_server::start_durable(config(dir.path(), 1)).await.expect("server restarts");
    let mut raw = Raw::connect(&server).await;
    assert_state(&mut raw).await;
    raw.create(OpCode::Create, "/late", None).await;
    let deadline = tokio::time::Instant::now() + WAIT;
    while snapshot_count(dir.path()) == 0 {
        assert!(tokio::time::Instant::now() < deadline, "no snapshot was written");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    drop(raw);
    server.shutdown().await;

    // Recovered from the snapshot (and whatever log follows it).
    let server = paddock_server::start_durable(config(dir.path(), 100_000)).await.expect("server restarts again");
    let mut raw = Raw::connect(&server).await;
    assert_state(&mut raw).await;
    assert_data(&mut raw, "/late", NULL).await;
    drop(raw);
    server.shutdown().await;
}
