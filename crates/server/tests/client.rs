//! Integration tests through an independent client implementation: the `zookeeper-client` crate, talking
//! to an in-process server on 127.0.0.1.

use std::time::Duration;

use paddock_server::{RunningServer, ServerConfig};
use zookeeper_client as zk;

async fn server_with(f: impl FnOnce(&mut ServerConfig)) -> RunningServer {
    let mut config = ServerConfig {
        client_port: 0,
        client_port_address: [127, 0, 0, 1].into(),
        tick_time_ms: 100,
        min_session_timeout_ms: 200,
        max_session_timeout_ms: 60_000,
        admin_enable_server: false,
        ..ServerConfig::default()
    };
    f(&mut config);
    paddock_server::start(config).await.expect("server starts")
}

async fn server() -> RunningServer {
    server_with(|_| {}).await
}

async fn connect(server: &RunningServer) -> zk::Client {
    zk::Client::connector()
        .with_session_timeout(Duration::from_secs(10))
        .connect(&server.client_addr.to_string())
        .await
        .expect("client connects")
}

fn persistent() -> zk::CreateOptions<'static> {
    zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all())
}

fn ephemeral() -> zk::CreateOptions<'static> {
    zk::CreateMode::Ephemeral.with_acls(zk::Acls::anyone_all())
}

#[tokio::test]
async fn create_get_set_delete_with_stat_rules() {
    let server = server().await;
    let client = connect(&server).await;
    let (stat, _) = client.create("/a", b"one", &persistent()).await.expect("create");
    assert_eq!(stat.czxid, stat.mzxid);
    assert_eq!(stat.czxid, stat.pzxid);
    assert_eq!((stat.version, stat.cversion, stat.aversion), (0, 0, 0));
    assert_eq!(stat.data_length, 3);

    let (data, got) = client.get_data("/a").await.expect("get");
    assert_eq!(data, b"one");
    assert_eq!(got, stat);

    let set = client.set_data("/a", b"two!", Some(0)).await.expect("set");
    assert_eq!(set.version, 1);
    assert!(set.mzxid > stat.mzxid);
    assert_eq!(set.czxid, stat.czxid);
    assert!(matches!(client.set_data("/a", b"x", Some(0)).await, Err(zk::Error::BadVersion)));

    client.create("/a/b", b"", &persistent()).await.expect("child");
    client.create("/a/c", b"", &persistent()).await.expect("child");
    client.delete("/a/c", None).await.expect("delete child");
    let (children, parent) = client.get_children("/a").await.expect("children");
    assert_eq!(children, vec!["b".to_string()]);
    // cversion counts creates and deletes of children.
    assert_eq!(parent.cversion, 3);
    assert_eq!(parent.num_children, 1);
    assert!(matches!(client.delete("/a", None).await, Err(zk::Error::NotEmpty)));
    assert!(matches!(client.create("/a", b"", &persistent()).await, Err(zk::Error::NodeExists)));
    assert!(matches!(client.get_data("/nope").await, Err(zk::Error::NoNode)));
    server.shutdown().await;
}

#[tokio::test]
async fn sequential_names_come_from_parent_cversion() {
    let server = server().await;
    let client = connect(&server).await;
    client.create("/q", b"", &persistent()).await.expect("parent");
    client.create("/q/plain", b"", &persistent()).await.expect("plain child");
    let seq = zk::CreateMode::PersistentSequential.with_acls(zk::Acls::anyone_all());
    let (_, n1) = client.create("/q/item-", b"", &seq).await.expect("seq");
    let (_, n2) = client.create("/q/item-", b"", &seq).await.expect("seq");
    assert_eq!(n1.into_i64(), 1);
    assert_eq!(n2.into_i64(), 2);
    let mut children = client.list_children("/q").await.expect("list");
    children.sort();
    assert_eq!(children, vec!["item-0000000001", "item-0000000002", "plain"]);
    server.shutdown().await;
}

#[tokio::test]
async fn one_shot_watches_fire_once_with_the_right_event() {
    let server = server().await;
    let client = connect(&server).await;
    let (_, exists_watch) = client.check_and_watch_stat("/w").await.expect("exists watch");
    client.create("/w", b"", &persistent()).await.expect("create");
    let event = exists_watch.changed().await;
    assert_eq!(event.event_type, zk::EventType::NodeCreated);
    assert_eq!(event.path, "/w");

    let (_, _, data_watch) = client.get_and_watch_data("/w").await.expect("data watch");
    let (_, _, child_watch) = client.get_and_watch_children("/w").await.expect("child watch");
    client.create("/w/c", b"", &persistent()).await.expect("child");
    assert_eq!(child_watch.changed().await.event_type, zk::EventType::NodeChildrenChanged);
    client.set_data("/w", b"x", None).await.expect("set");
    assert_eq!(data_watch.changed().await.event_type, zk::EventType::NodeDataChanged);
    server.shutdown().await;
}

#[tokio::test]
async fn persistent_recursive_watch_sees_descendants() {
    let server = server().await;
    let client = connect(&server).await;
    client.create("/r", b"", &persistent()).await.expect("create");
    let mut watcher = client.watch("/r", zk::AddWatchMode::PersistentRecursive).await.expect("addWatch");
    client.create("/r/a", b"", &persistent()).await.expect("create");
    client.set_data("/r/a", b"1", None).await.expect("set");
    client.delete("/r/a", None).await.expect("delete");
    let events: Vec<_> = [watcher.changed().await, watcher.changed().await, watcher.changed().await]
        .into_iter()
        .map(|e| (e.event_type, e.path))
        .collect();
    assert_eq!(
        events,
        vec![
            (zk::EventType::NodeCreated, "/r/a".to_string()),
            (zk::EventType::NodeDataChanged, "/r/a".to_string()),
            (zk::EventType::NodeDeleted, "/r/a".to_string()),
        ]
    );
    server.shutdown().await;
}

#[tokio::test]
async fn ephemerals_belong_to_their_session_and_go_with_it() {
    let server = server().await;
    let owner = connect(&server).await;
    let observer = connect(&server).await;
    owner.create("/e", b"", &ephemeral()).await.expect("ephemeral");
    let (_, stat) = observer.get_data("/e").await.expect("visible");
    assert_eq!(stat.ephemeral_owner, owner.session_id().0);
    assert_eq!(owner.list_ephemerals("/").await.expect("getEphemerals"), vec!["/e".to_string()]);
    assert!(observer.list_ephemerals("/").await.expect("getEphemerals").is_empty());
    assert!(matches!(owner.create("/e/child", b"", &persistent()).await, Err(zk::Error::NoChildrenForEphemerals)));
    let (_, deleted) = observer.check_and_watch_stat("/e").await.expect("watch");
    drop(owner);
    assert_eq!(deleted.changed().await.event_type, zk::EventType::NodeDeleted);
    assert!(observer.check_stat("/e").await.expect("exists").is_none());
    server.shutdown().await;
}

#[tokio::test]
async fn an_abandoned_session_expires_and_its_ephemerals_vanish() {
    let server = server().await;
    let observer = connect(&server).await;
    let owner = zk::Client::connector()
        .with_session_timeout(Duration::from_millis(400))
        .with_detached()
        .connect(&server.client_addr.to_string())
        .await
        .expect("connect");
    owner.create("/gone", b"", &ephemeral()).await.expect("ephemeral");
    let (_, watch) = observer.check_and_watch_stat("/gone").await.expect("watch");
    // Detached: dropping the client neither closes the session nor keeps pinging it.
    drop(owner);
    let event = tokio::time::timeout(Duration::from_secs(10), watch.changed()).await.expect("expiry within 10s");
    assert_eq!(event.event_type, zk::EventType::NodeDeleted);
    server.shutdown().await;
}

#[tokio::test]
async fn multi_is_atomic() {
    let server = server().await;
    let client = connect(&server).await;
    client.create("/m", b"", &persistent()).await.expect("create");
    let mut writer = client.new_multi_writer();
    writer.add_create("/m/a", b"", &persistent()).expect("op");
    writer.add_check_version("/m", 5).expect("op");
    writer.add_create("/m/b", b"", &persistent()).expect("op");
    let err = writer.commit().await.expect_err("check fails");
    match err {
        zk::MultiWriteError::OperationFailed { index, source } => {
            assert_eq!(index, 1);
            assert_eq!(source, zk::Error::BadVersion);
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(client.check_stat("/m/a").await.expect("exists").is_none(), "nothing applied");

    let mut writer = client.new_multi_writer();
    writer.add_create("/m/a", b"", &persistent()).expect("op");
    writer.add_set_data("/m", b"x", Some(0)).expect("op");
    writer.add_delete("/m/a", None).expect("op");
    let results = writer.commit().await.expect("multi succeeds");
    assert_eq!(results.len(), 3);
    let (_, stat) = client.get_data("/m").await.expect("get");
    assert_eq!(stat.version, 1);
    server.shutdown().await;
}

#[tokio::test]
async fn digest_acl_guards_nodes_and_masks_get_acl() {
    let server = server().await;
    let alice = zk::Client::connector()
        .with_auth("digest", b"alice:secret")
        .connect(&server.client_addr.to_string())
        .await
        .expect("connect");
    let creator_all = zk::CreateMode::Persistent.with_acls(zk::Acls::creator_all());
    alice.create("/private", b"s", &creator_all).await.expect("create");
    let stranger = connect(&server).await;
    assert!(matches!(stranger.get_data("/private").await, Err(zk::Error::NoAuth)));
    assert!(matches!(stranger.get_acl("/private").await, Err(zk::Error::NoAuth)));
    let (acl, _) = alice.get_acl("/private").await.expect("getACL");
    assert_eq!(acl.len(), 1);
    assert_eq!(acl[0].scheme(), "digest");
    assert!(acl[0].id().starts_with("alice:"));
    let users = alice.list_auth_users().await.expect("whoAmI");
    assert!(users.iter().any(|u| u.scheme() == "digest" && u.user() == "alice"));
    assert!(users.iter().any(|u| u.scheme() == "ip"));
    server.shutdown().await;
}

#[tokio::test]
async fn reads_of_counts_sync_and_builtin_nodes() {
    let server = server().await;
    let client = connect(&server).await;
    client.create("/n", b"", &persistent()).await.expect("create");
    client.create("/n/a", b"", &persistent()).await.expect("create");
    client.create("/n/a/b", b"", &persistent()).await.expect("create");
    assert_eq!(client.count_descendants_number("/n").await.expect("count"), 2);
    client.sync("/n").await.expect("sync");
    let mut zk_children = client.list_children("/zookeeper").await.expect("list");
    zk_children.sort();
    assert_eq!(zk_children, vec!["config", "quota"]);
    assert!(matches!(client.delete("/zookeeper", None).await, Err(zk::Error::BadArguments(_))));
    server.shutdown().await;
}

#[tokio::test]
async fn ttl_nodes_need_extended_types_and_containers_are_reaped() {
    let plain = server().await;
    let client = connect(&plain).await;
    let ttl = zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all()).with_ttl(Duration::from_millis(100));
    assert!(client.create("/t", b"", &ttl).await.is_err(), "TTL refused without extendedTypesEnabled");
    plain.shutdown().await;

    let server = server_with(|c| {
        c.extended_types_enabled = true;
        c.container_check_interval_ms = 100;
    })
    .await;
    let client = connect(&server).await;
    let (stat, _) = client.create("/t", b"", &ttl).await.expect("TTL create");
    assert_eq!(stat.ephemeral_owner, 0, "clients see 0 for TTL nodes");
    let container = zk::CreateMode::Container.with_acls(zk::Acls::anyone_all());
    client.create("/c", b"", &container).await.expect("container");
    client.create("/c/x", b"", &persistent()).await.expect("child");
    client.delete("/c/x", None).await.expect("delete child");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let t = client.check_stat("/t").await.expect("exists");
        let c = client.check_stat("/c").await.expect("exists");
        if t.is_none() && c.is_none() {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "TTL node and empty container reaped within 10s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    server.shutdown().await;
}
