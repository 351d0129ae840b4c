//! Disk faults injected through the storage failpoints (ENOSPC on append, EIO on fsync) into a durable
//! server: clients get an error for every write that was not made durable, nothing unacknowledged is
//! applied or survives a restart, and writes work again once the "disk" recovers.
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

    let config = ServerConfig { data_dir: dir.path().to_path_buf(), ..ServerConfig::default() };
    let report = paddock_server::check::check_data_dir(&config).expect("check runs");
    assert!(report.is_sound(), "store is sound after the faults: {report:?}");
    scenario.teardown();
}
