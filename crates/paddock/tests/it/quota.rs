//! Quotas enforced as ZooKeeper 3.7+ enforces them with `enforceQuota` (docs/security.md §4): the same
//! writes against Paddock and Apache ZooKeeper 3.8 must be refused alike (QuotaExceeded for a create or
//! setData past a hard limit, alone or in a multi), soft limits only logged, the usage and the quota
//! metrics the same; then what only Paddock does (a multi counts its own ops, no default enforcement) and a
//! three-member ensemble holding the limit whichever member the clients use.

use paddock_testkit::{Ensemble, EnsembleSpec, PaddockProcess, ZooKeeperProcess, four_letter_word};
use zookeeper_client as zk;

use crate::kill_loop::connect_retrying;

const ENFORCE: &[(&str, &str)] = &[("enforceQuota", "true")];

/// zkCli `setquota -N 3 -B 12`'s limits text: hard limits, no soft ones.
const HARD_3_NODES_12_BYTES: &str = "count=-1,bytes=-1=;byteHardLimit=12;countHardLimit=3";

fn open() -> zk::CreateOptions<'static> {
    zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all())
}

/// An outcome as the transcripts compare it: `ok` or the error.
fn shown<T>(result: Result<T, impl std::fmt::Debug>) -> String {
    match result {
        Ok(_) => "ok".to_string(),
        Err(e) => format!("{e:?}"),
    }
}

async fn create(client: &zk::Client, path: &str, data: &[u8]) -> String {
    shown(client.create(path, data, &open()).await)
}

/// What zkCli's `setquota` writes: the quota path under `/zookeeper/quota`, the limits node, then the stats
/// node (whose creation makes the server count the subtree).
async fn setquota(client: &zk::Client, quoted: &str, limits: &str) {
    let mut at = String::from("/zookeeper/quota");
    for part in quoted.split('/').skip(1) {
        at = format!("{at}/{part}");
        let _ = client.create(&at, b"", &open()).await;
    }
    client.create(&format!("{at}/zookeeper_limits"), limits.as_bytes(), &open()).await.expect("limits node");
    client.create(&format!("{at}/zookeeper_stats"), b"count=0,bytes=0", &open()).await.expect("stats node");
}

async fn stats(client: &zk::Client, quoted: &str) -> String {
    let node = client.get_data(&format!("/zookeeper/quota{quoted}/zookeeper_stats")).await;
    node.map(|(data, _)| String::from_utf8_lossy(&data).into_owned()).unwrap_or_else(|e| format!("{e:?}"))
}

/// The writes both servers must answer alike, each with its outcome, and the usage after them.
async fn transcript(addr: &str) -> Vec<String> {
    let c = connect_retrying(addr).await;
    let mut out = Vec::new();
    let mut note = |label: &str, outcome: String| out.push(format!("{label}: {outcome}"));
    note("create /q", create(&c, "/q", b"").await);
    setquota(&c, "/q", HARD_3_NODES_12_BYTES).await;
    note("create /q/a, 2 nodes 5 bytes", create(&c, "/q/a", b"12345").await);
    note("create /q/b, 3 nodes 10 bytes", create(&c, "/q/b", b"12345").await);
    note("create /q/c, 4 nodes", create(&c, "/q/c", b"").await);
    note("create /q/a again (exists before quota)", create(&c, "/q/a", b"").await);
    note("setData /q/a to 12 bytes", shown(c.set_data("/q/a", b"1234567", None).await));
    note("setData /q/a to 13 bytes", shown(c.set_data("/q/a", b"12345678", None).await));
    note("setData /q/a to 13 bytes, stale version", shown(c.set_data("/q/a", b"12345678", Some(99)).await));
    note("setData /q/a same size, stale version", shown(c.set_data("/q/a", b"7654321", Some(99)).await));
    note("setData /q/a smaller", shown(c.set_data("/q/a", b"12", None).await));
    note("setData /q/a back to 12 bytes", shown(c.set_data("/q/a", b"1234567", None).await));
    note("setData missing node", shown(c.set_data("/q/nope", b"123456789", None).await));
    let mut multi = c.new_multi_writer();
    multi.add_create("/q/m", b"", &open()).expect("create op");
    note("multi [create /q/m]", shown(multi.commit().await));
    let mut multi = c.new_multi_writer();
    multi.add_check_version("/q", 0).expect("check op");
    multi.add_set_data("/q/b", b"123456", None).expect("setData op");
    note("multi [check, setData /q/b +1 byte]", shown(multi.commit().await));
    note("stats of /q", stats(&c, "/q").await);
    // The deepest quota decides: /q is full, /q/b has room.
    setquota(&c, "/q/b", "count=-1,bytes=-1=;byteHardLimit=-1;countHardLimit=2").await;
    note("create /q/b/x under the roomy nested quota", create(&c, "/q/b/x", b"abc").await);
    note("create /q/b/y past the nested quota", create(&c, "/q/b/y", b"").await);
    note("stats of /q after the nested quota", stats(&c, "/q").await);
    note("stats of /q/b", stats(&c, "/q/b").await);
    // Soft limits are logged only (the logs are checked by the caller).
    note("create /s", create(&c, "/s", b"").await);
    setquota(&c, "/s", "count=1,bytes=-1").await;
    note("create /s/a past the soft count", create(&c, "/s/a", b"").await);
    note("stats of /s", stats(&c, "/s").await);
    // Without its limits node the quota enforces nothing (the stats node may stay).
    note("delquota /q", shown(c.delete("/zookeeper/quota/q/zookeeper_limits", None).await));
    note("create /q/c once the quota is gone", create(&c, "/q/c", b"").await);
    out
}

/// The `mntr` lines of the quota metrics.
fn quota_lines(addr: &str) -> Vec<String> {
    let mntr = four_letter_word(addr, "mntr").expect("mntr answers");
    let mut lines: Vec<String> = mntr.lines().filter(|l| l.contains("_quota_")).map(str::to_string).collect();
    lines.sort();
    lines
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hard_limits_refuse_and_soft_ones_log_exactly_as_in_zookeeper() {
    let zookeeper = ZooKeeperProcess::start_with(ENFORCE).expect("ZooKeeper starts");
    let paddock = PaddockProcess::start_with(ENFORCE).expect("Paddock starts");
    let expected = transcript(&zookeeper.addr()).await;
    let got = transcript(&paddock.addr()).await;
    assert_eq!(got, expected, "Paddock (left) and ZooKeeper (right) answered differently");
    assert!(expected.contains(&"create /q/c, 4 nodes: QuotaExceeded".to_string()), "{expected:#?}");
    assert_eq!(quota_lines(&paddock.addr()), quota_lines(&zookeeper.addr()), "quota metrics in mntr");
    assert!(quota_lines(&paddock.addr()).contains(&"zk_q_quota_exceeded_error_per_namespace\t6".to_string()));
    let soft = "Quota exceeded: /s [current count=2, softCountLimit=1]";
    assert!(zookeeper.log().contains(soft), "ZooKeeper logs the soft limit");
    assert!(paddock.log().contains(soft), "Paddock logs the soft limit:\n{}", paddock.log());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paddock_counts_a_multis_own_ops_and_enforces_nothing_by_default() {
    let enforcing = PaddockProcess::start_with(ENFORCE).expect("Paddock starts");
    let c = connect_retrying(&enforcing.addr()).await;
    create(&c, "/m", b"").await;
    setquota(&c, "/m", "count=-1,bytes=-1=;byteHardLimit=-1;countHardLimit=2").await;
    // ZooKeeper checks each op of a multi against the state before the multi, and lets both through.
    let mut multi = c.new_multi_writer();
    multi.add_create("/m/a", b"", &open()).expect("create op");
    multi.add_create("/m/b", b"", &open()).expect("create op");
    let refused = multi.commit().await;
    assert!(
        matches!(refused, Err(zk::MultiWriteError::OperationFailed { index: 1, source: zk::Error::QuotaExceeded })),
        "{refused:?}"
    );
    assert_eq!(create(&c, "/m/a", b"").await, "ok", "one fits");
    // ...and refuses this one, which frees a node before it takes one.
    let mut multi = c.new_multi_writer();
    multi.add_delete("/m/a", None).expect("delete op");
    multi.add_create("/m/b", b"", &open()).expect("create op");
    assert_eq!(shown(multi.commit().await), "ok");
    assert_eq!(stats(&c, "/m").await, "count=2,bytes=0");

    let default = PaddockProcess::start().expect("Paddock starts");
    let c = connect_retrying(&default.addr()).await;
    create(&c, "/m", b"").await;
    setquota(&c, "/m", "count=-1,bytes=-1=;byteHardLimit=-1;countHardLimit=1").await;
    assert_eq!(create(&c, "/m/a", b"").await, "ok", "enforceQuota is off by default, as in ZooKeeper");
    assert_eq!(stats(&c, "/m").await, "count=2,bytes=0", "usage is tracked all the same");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ensemble_holds_the_limit_whichever_member_the_clients_use() {
    let ensemble = Ensemble::start_spec(&EnsembleSpec { participants: 3, observers: 0, config: ENFORCE })
        .expect("ensemble starts");
    ensemble.leader().expect("a leader");
    let mut clients = Vec::new();
    for member in &ensemble.members {
        clients.push(connect_retrying(&member.addr()).await);
    }
    create(&clients[0], "/e", b"").await;
    setquota(&clients[0], "/e", "count=-1,bytes=-1=;byteHardLimit=-1;countHardLimit=4").await;
    // Nine creates from three members at once: exactly three fit (the quota counts /e itself).
    let mut tasks = tokio::task::JoinSet::new();
    for (m, client) in clients.iter().enumerate() {
        for i in 0..3 {
            let client = client.clone();
            tasks.spawn(async move { create(&client, &format!("/e/{m}-{i}"), b"").await });
        }
    }
    let outcomes: Vec<String> = tasks.join_all().await;
    let created = outcomes.iter().filter(|o| *o == "ok").count();
    assert_eq!(created, 3, "{outcomes:?}");
    assert!(outcomes.iter().all(|o| o == "ok" || o == "QuotaExceeded"), "{outcomes:?}");
    for (m, client) in clients.iter().enumerate() {
        client.sync("/e").await.expect("sync");
        assert_eq!(stats(client, "/e").await, "count=4,bytes=0", "member {m}");
        assert_eq!(create(client, &format!("/e/late-{m}"), b"").await, "QuotaExceeded", "member {m}");
        assert_eq!(client.list_children("/e").await.expect("children").len(), 3, "member {m}");
    }
    // Each member counts the refusals of its own clients, as ZooKeeper's leader counts what it prepared.
    let refused: u64 = ensemble
        .members
        .iter()
        .filter_map(|m| m.mntr("zk_e_quota_exceeded_error_per_namespace"))
        .map(|v| v.parse::<u64>().expect("a count"))
        .sum();
    assert_eq!(refused, 6 + 3);
}
