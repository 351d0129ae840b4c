//! Disk faults injected through the storage failpoints (ENOSPC on append, EIO on fsync) into a durable
//! server: clients get an error for every write that was not made durable, nothing unacknowledged is
//! applied or survives a restart, and writes work again once the "disk" recovers. And a backup streamed
//! by the admin server that fails half way is cut off, never ended as if complete.
#![cfg(feature = "failpoints")]

use std::time::Duration;

use paddock_server::{RunningServer, ServerConfig};
use zookeeper_client as zk;

async fn start(dir: &std::path::Path) -> RunningServer {
    let config = ServerConfig {
        client_port: 0,
        client_port_address: [127, 0, 0, 1].into(),
        admin_enable_server: false,
        data_dir: dir.to_path_buf(),
        ..ServerConfig::default()
    };
    paddock_server::start_durable(config).await.expect("server starts")
}

async fn connect(server: &RunningServer) -> zk::Client {
    zk::Client::connector()
        .with_session_timeout(Duration::from_secs(20))
        .connect(&server.client_addr.to_string())
        .await
        .expect("client connects")
}

fn persistent() -> zk::CreateOptions<'static> {
    zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all())
}

/// One test function: failpoints are process-wide, so the scenarios must not run concurrently.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disk_errors_fail_writes_cleanly_and_writes_resume_after_recovery() {
    let scenario = fail::FailScenario::setup();
    let dir = tempfile::tempdir().expect("temp dir");
    let server = start(dir.path()).await;
    let client = connect(&server).await;
    client.create("/a", b"before", &persistent()).await.expect("healthy write");

    fail::cfg("wal::before_fsync", "return(eio)").expect("failpoint");
    let failed = client.create("/b", b"lost", &persistent()).await;
    assert!(failed.is_err(), "a write whose fsync failed must not be acknowledged: {failed:?}");
    assert!(matches!(client.get_data("/b").await, Err(zk::Error::NoNode)), "nothing unacknowledged is applied");
    let again = client.set_data("/a", b"lost too", None).await;
    assert!(again.is_err(), "writes keep failing while the disk does: {again:?}");
    fail::remove("wal::before_fsync");

    fail::cfg("wal::before_append", "return(enospc)").expect("failpoint");
    let full = client.create("/c", b"lost", &persistent()).await;
    assert!(full.is_err(), "a write that hit ENOSPC must not be acknowledged: {full:?}");
    fail::remove("wal::before_append");

    // The disk is back: writes work again and reads see exactly the acknowledged state.
    client.create("/b", b"after", &persistent()).await.expect("writes resume after recovery");
    let (data, stat) = client.get_data("/a").await.expect("get /a");
    assert_eq!((data.as_slice(), stat.version), (&b"before"[..], 0));
    assert!(matches!(client.get_data("/c").await, Err(zk::Error::NoNode)));
    drop(client);
    server.shutdown().await;

    let server = start(dir.path()).await;
    let client = connect(&server).await;
    let (data, _) = client.get_data("/a").await.expect("/a survives");
    assert_eq!(data, b"before");
    let (data, _) = client.get_data("/b").await.expect("/b survives");
    assert_eq!(data, b"after");
    assert!(matches!(client.get_data("/c").await, Err(zk::Error::NoNode)), "no failed write reappears");
    drop(client);
    server.shutdown().await;

    let report = paddock_backup::check::check_data_dir(dir.path(), None).expect("check runs");
    assert!(report.is_sound(), "store is sound after the faults: {report:?}");

    a_backup_failing_mid_stream_is_cut_off().await;
    scenario.teardown();
}

/// Incompressible bytes, so that every snapshot chunk is about 1 MiB and reaches the client on its own.
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

/// The raw bytes of a `backup` response, read until the server closes the connection (or resets it).
async fn raw_backup(admin: std::net::SocketAddr) -> Vec<u8> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(admin).await.expect("admin server accepts");
    let request = format!(
        "GET /commands/backup HTTP/1.1\r\nHost: {admin}\r\nAuthorization: digest super:pw\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.expect("request sent");
    let mut raw = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    let read = async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => raw.extend_from_slice(&buf[..n]),
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(60), read).await.expect("the response ends in time");
    raw
}

async fn a_backup_failing_mid_stream_is_cut_off() {
    let dir = tempfile::tempdir().expect("temp dir");
    let port = paddock_testkit::free_port();
    let config = ServerConfig {
        client_port: 0,
        client_port_address: [127, 0, 0, 1].into(),
        admin_enable_server: true,
        admin_server_address: [127, 0, 0, 1].into(),
        admin_server_port: port,
        super_digest: Some(paddock_tree::acl::digest_id("super:pw")),
        data_dir: dir.path().to_path_buf(),
        ..ServerConfig::default()
    };
    let server = paddock_server::start_durable(config).await.expect("server starts");
    let admin = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let client = connect(&server).await;
    for i in 0..3 {
        client.create(&format!("/big{i}"), &noise(1_000_000, i), &persistent()).await.expect("create");
    }
    const END: &[u8] = b"\r\n0\r\n\r\n";

    // Two chunks go out, the third write fails.
    fail::cfg("snapshot::before_write", "2*off->return(eio)").expect("failpoint");
    let raw = raw_backup(admin).await;
    fail::remove("snapshot::before_write");
    let head_end = raw.windows(4).position(|w| w == b"\r\n\r\n").expect("a response head");
    let head = String::from_utf8_lossy(&raw[..head_end]).to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 200 ") && head.contains("transfer-encoding: chunked"), "{head}");
    assert!(raw.len() - head_end > 1 << 20, "the chunks written before the failure were sent");
    assert!(!raw.ends_with(END), "a failed backup's body ended as if complete");

    let raw = raw_backup(admin).await;
    assert!(raw.ends_with(END), "a backup after the fault ends cleanly");
    assert!(raw.len() > 3_000_000);
    drop(client);
    server.shutdown().await;
}
