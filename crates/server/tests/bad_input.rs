//! Hostile and broken input, sent on raw sockets: each case gets ZooKeeper's answer (an error code, or a
//! closed connection) and a bystander session on the same server keeps working throughout.

use std::time::Duration;

use bytes::BytesMut;
use paddock_proto::*;
use paddock_server::{RunningServer, ServerConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use zookeeper_client as zk;

const WAIT: Duration = Duration::from_secs(10);

async fn server() -> RunningServer {
    let config = ServerConfig {
        client_port: 0,
        client_port_address: [127, 0, 0, 1].into(),
        admin_enable_server: false,
        jute_max_buffer: 64 * 1024,
        ..ServerConfig::default()
    };
    paddock_server::start(config).await.expect("server starts")
}

async fn bystander(server: &RunningServer) -> zk::Client {
    let client = zk::Client::connect(&server.client_addr.to_string()).await.expect("bystander connects");
    let opts = zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all());
    client.create("/bystander", b"ok", &opts).await.expect("bystander create");
    client
}

async fn assert_bystander_ok(client: &zk::Client) {
    let (data, _) = client.get_data("/bystander").await.expect("bystander still served");
    assert_eq!(data, b"ok");
    client.set_data("/bystander", b"ok", None).await.expect("bystander can still write");
}

/// A raw connection that has completed the handshake.
async fn raw_session(server: &RunningServer) -> TcpStream {
    let mut stream = TcpStream::connect(server.client_addr).await.expect("connect");
    let req = ConnectRequest { timeout: 10_000, passwd: vec![0; 16], read_only: Some(false), ..Default::default() };
    let mut frame = (req.to_bytes().len() as u32).to_be_bytes().to_vec();
    frame.extend(req.to_bytes());
    stream.write_all(&frame).await.expect("send handshake");
    let body = read_frame(&mut stream).await.expect("handshake answered");
    let resp = ConnectResponse::read_from(&mut JuteReader::new(&body, DEFAULT_MAX_BUFFER)).expect("valid answer");
    assert_ne!(resp.session_id, 0);
    stream
}

async fn read_frame(stream: &mut TcpStream) -> Option<Vec<u8>> {
    let mut buf = BytesMut::new();
    loop {
        if let Ok(Some(frame)) = decode_frame(&mut buf, 16 * 1024 * 1024) {
            return Some(frame.to_vec());
        }
        let n = tokio::time::timeout(WAIT, stream.read_buf(&mut buf)).await.expect("server answers in time").ok()?;
        if n == 0 {
            return None;
        }
    }
}

async fn reply_header(stream: &mut TcpStream) -> ReplyHeader {
    let body = read_frame(stream).await.expect("a reply");
    ReplyHeader::read_from(&mut JuteReader::new(&body, DEFAULT_MAX_BUFFER)).expect("reply header")
}

async fn assert_closed(stream: &mut TcpStream) {
    assert_eq!(read_frame(stream).await, None, "server should close the connection");
}

#[tokio::test]
async fn frame_over_jute_maxbuffer_closes_only_that_connection() {
    let server = server().await;
    let client = bystander(&server).await;
    let mut raw = raw_session(&server).await;
    raw.write_all(&(1024 * 1024u32).to_be_bytes()).await.expect("send length");
    let _ = raw.write_all(&[0u8; 1024]).await;
    assert_closed(&mut raw).await;
    assert_bystander_ok(&client).await;
}

#[tokio::test]
async fn negative_length_and_garbage_before_handshake_close_the_connection() {
    let server = server().await;
    let client = bystander(&server).await;
    for garbage in [&[0xff, 0xff, 0xff, 0xfe][..], b"GET / HTTP/1.1\r\n\r\n", &[0, 0, 0, 3, 1, 2, 3]] {
        let mut raw = TcpStream::connect(server.client_addr).await.expect("connect");
        raw.write_all(garbage).await.expect("send garbage");
        assert_closed(&mut raw).await;
    }
    assert_bystander_ok(&client).await;
}

#[tokio::test]
async fn truncated_frame_then_close_leaves_the_server_serving() {
    let server = server().await;
    let client = bystander(&server).await;
    let mut raw = raw_session(&server).await;
    raw.write_all(&[0, 0, 0, 100, 0, 0, 0, 1]).await.expect("send half a frame");
    drop(raw);
    assert_bystander_ok(&client).await;
}

/// As ZooKeeper 3.8: Unimplemented with zxid -1, then the connection (not the session) is closed.
#[tokio::test]
async fn unknown_opcode_gets_unimplemented_then_the_connection_closes() {
    let server = server().await;
    let client = bystander(&server).await;
    let mut raw = raw_session(&server).await;
    let mut w = JuteWriter::framed();
    RequestHeader { xid: 7, op: 999 }.write_to(&mut w);
    raw.write_all(&w.into_frame()).await.expect("send");
    let header = reply_header(&mut raw).await;
    assert_eq!((header.xid, header.zxid, header.err), (7, -1, ErrorCode::Unimplemented.code()));
    assert_closed(&mut raw).await;
    assert_bystander_ok(&client).await;
}

#[tokio::test]
async fn truncated_body_gets_marshalling_error() {
    let server = server().await;
    let mut raw = raw_session(&server).await;
    let mut w = JuteWriter::framed();
    RequestHeader { xid: 3, op: OpCode::Create as i32 }.write_to(&mut w);
    w.write_i32(50); // a path length with no path behind it
    raw.write_all(&w.into_frame()).await.expect("send");
    let header = reply_header(&mut raw).await;
    assert_eq!((header.xid, header.err), (3, ErrorCode::MarshallingError.code()));
}

/// Expected codes follow PrepRequestProcessor's order: the path must contain a slash and no NUL, then the
/// parent must exist (NoNode), and only then is the whole path validated (BadArguments).
#[tokio::test]
async fn bad_paths_and_invalid_utf8_get_zookeepers_errors() {
    let server = server().await;
    let client = bystander(&server).await;
    let opts = zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all());
    client.create("/a", b"", &opts).await.expect("create /a");
    let mut raw = raw_session(&server).await;
    let (bad, no_node) = (ErrorCode::BadArguments, ErrorCode::NoNode);
    let cases: Vec<(Vec<u8>, ErrorCode)> = vec![
        (b"".to_vec(), bad),
        (b"a".to_vec(), bad),
        (b"/a/".to_vec(), bad),
        (b"/a\0b".to_vec(), bad),
        (vec![b'/', 0xff, 0xfe], bad),
        (vec![b'/', b'a', b'/', 0xc3], bad),
        (b"/a//b".to_vec(), no_node),
        (b"/a/./b".to_vec(), no_node),
        (b"/a/../b".to_vec(), no_node),
    ];
    for (i, (path, expected)) in cases.into_iter().enumerate() {
        let mut w = JuteWriter::framed();
        let xid = 100 + i as i32;
        RequestHeader { xid, op: OpCode::Create as i32 }.write_to(&mut w);
        w.write_buffer(&path);
        w.write_buffer(b"");
        w.write_vec(&Acl::open_unsafe(), |w, a| a.write_to(w));
        w.write_i32(0);
        raw.write_all(&w.into_frame()).await.expect("send");
        let header = reply_header(&mut raw).await;
        assert_eq!((header.xid, header.err), (xid, expected.code()), "path {path:?}");
    }
    let (children, _) = client.get_children("/a").await.expect("list /a");
    assert!(children.is_empty(), "nothing was created: {children:?}");
    assert_bystander_ok(&client).await;
}

/// `maxClientCnxns`: connections beyond the limit from one address are refused; the others keep working and
/// a slot frees up when a connection closes.
#[tokio::test]
async fn connections_beyond_max_client_cnxns_are_refused() {
    let config = ServerConfig {
        client_port: 0,
        client_port_address: [127, 0, 0, 1].into(),
        admin_enable_server: false,
        max_client_cnxns: 2,
        ..ServerConfig::default()
    };
    let server = paddock_server::start(config).await.expect("server starts");
    let first = raw_session(&server).await;
    let mut second = raw_session(&server).await;
    let mut third = TcpStream::connect(server.client_addr).await.expect("TCP accept");
    let req = ConnectRequest { timeout: 10_000, passwd: vec![0; 16], ..Default::default() };
    let mut frame = (req.to_bytes().len() as u32).to_be_bytes().to_vec();
    frame.extend(req.to_bytes());
    let _ = third.write_all(&frame).await;
    assert_closed(&mut third).await;
    let ping = Request::Ping.encode(-2);
    second.write_all(&ping).await.expect("ping");
    assert_eq!(reply_header(&mut second).await.xid, -2, "the admitted connections keep working");
    drop(first);
    let mut again = None;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(20)).await;
        let mut stream = TcpStream::connect(server.client_addr).await.expect("connect");
        let _ = stream.write_all(&frame).await;
        if read_frame(&mut stream).await.is_some() {
            again = Some(stream);
            break;
        }
    }
    assert!(again.is_some(), "a slot frees up when a connection closes");
}
