//! Every four-letter word, run against Paddock and Apache ZooKeeper 3.8 (both started by the harness) in
//! the same state, with the output formats compared: same keys, same line shapes, same fixed texts; and,
//! where the state determines them, the same values: the watch reports, `envi`'s entries, and the
//! counters around `srst` and `crst`.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use paddock_testkit::{PaddockProcess, ZooKeeperProcess, exchange_until_close, four_letter_word};
use zookeeper_client as zk;

/// Both servers, each with one session holding a data watch, an exists watch, a child watch and an
/// ephemeral node.
struct Pair {
    paddock: PaddockProcess,
    zookeeper: ZooKeeperProcess,
    sessions: Vec<Session>,
}

/// A client and the watches it holds; dropping a watcher makes the client remove the watch.
struct Session {
    client: zk::Client,
    _watches: Vec<zk::OneshotWatcher>,
}

async fn pair(extra_cfg: &[(&str, &str)]) -> Pair {
    let cfg: Vec<(String, String)> = extra_cfg.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    let zk_cfg = cfg.clone();
    let zookeeper = tokio::task::spawn_blocking(move || {
        let refs: Vec<(&str, &str)> = zk_cfg.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        ZooKeeperProcess::start_with(&refs)
    })
    .await
    .expect("start task")
    .expect("Apache ZooKeeper starts");
    let refs: Vec<(&str, &str)> = cfg.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let paddock = PaddockProcess::start_with(&refs).expect("Paddock starts");
    let mut sessions = Vec::new();
    for addr in [paddock.addr(), zookeeper.addr()] {
        sessions.push(prepared_session(&addr).await);
    }
    Pair { paddock, zookeeper, sessions }
}

async fn prepared_session(addr: &str) -> Session {
    let mut client = None;
    for _ in 0..300 {
        match zk::Client::connector().with_session_timeout(Duration::from_secs(30)).connect(addr).await {
            Ok(c) => {
                client = Some(c);
                break;
            }
            // ZooKeeper answers ruok before it serves sessions.
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    let client = client.expect("session");
    let persistent = zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all());
    let ephemeral = zk::CreateMode::Ephemeral.with_acls(zk::Acls::anyone_all());
    client.create("/w", b"x", &persistent).await.expect("create");
    client.create("/w/e", b"", &ephemeral).await.expect("ephemeral");
    let (_, _, data_watch) = client.get_and_watch_data("/w").await.expect("data watch");
    let (_, exists_watch) = client.check_and_watch_stat("/w/missing").await.expect("exists watch");
    let (_, _, child_watch) = client.get_and_watch_children("/w").await.expect("child watch");
    Session { client, _watches: vec![data_watch, exists_watch, child_watch] }
}

fn flw(addr: &str, cmd: &str) -> String {
    four_letter_word(addr, cmd).unwrap_or_else(|e| panic!("{cmd} on {addr}: {e}"))
}

fn both(p: &Pair, cmd: &str) -> (String, String) {
    (flw(&p.paddock.addr(), cmd), flw(&p.zookeeper.addr(), cmd))
}

/// Paddock's answer and ZooKeeper's, each with its session id (as the words print it, `0x…`) replaced by
/// `<session>`, so that answers about the same state compare equal.
fn both_by_session(p: &Pair, cmd: &str) -> (String, String) {
    let (ours, theirs) = both(p, cmd);
    let hide =
        |text: &str, session: &Session| text.replace(&format!("0x{:x}", session.client.session_id().0), "<session>");
    (hide(&ours, &p.sessions[0]), hide(&theirs, &p.sessions[1]))
}

/// A `wchc` or `wchp` answer as heading → indented lines, each as a set: ZooKeeper prints hash-set order.
fn grouped(text: &str) -> BTreeMap<String, BTreeSet<String>> {
    let mut groups: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut heading = String::new();
    for line in text.lines().filter(|l| !l.is_empty()) {
        match line.strip_prefix('\t') {
            Some(item) => {
                groups.entry(heading.clone()).or_default().insert(item.to_string());
            }
            None => heading = line.to_string(),
        }
    }
    groups
}

/// The `cons` line of the session's connection as key → value, without what differs between any two runs
/// (the client's port, the times).
fn session_connection(cons: &str) -> BTreeMap<String, String> {
    let line = cons.lines().find(|l| l.contains("sid=<session>")).unwrap_or_else(|| panic!("no session in\n{cons}"));
    let inside = line.split_once('(').and_then(|(_, rest)| rest.strip_suffix(')')).unwrap_or_default();
    inside
        .split(',')
        .filter_map(|kv| kv.split_once('='))
        .filter(|(key, _)| !["est", "lresp", "llat", "minlat", "avglat", "maxlat"].contains(key))
        .map(|(key, value)| (key.to_string(), value.to_string()))
        .collect()
}

/// `mntr` keys whose values the same requests determine: counters, sizes, counts and the state (not
/// latencies, which are measured; `srvr` shows them zeroed by `srst`).
const COUNTERS: &[&str] = &[
    "zk_packets_received",
    "zk_packets_sent",
    "zk_bytes_received_count",
    "zk_connection_request_count",
    "zk_num_alive_connections",
    "zk_outstanding_requests",
    "zk_last_client_response_size",
    "zk_min_client_response_size",
    "zk_max_client_response_size",
    "zk_response_bytes",
    "zk_watch_bytes",
    "zk_cnt_readlatency",
    "zk_cnt_updatelatency",
    "zk_avg_w_read_per_namespace",
    "zk_min_w_read_per_namespace",
    "zk_max_w_read_per_namespace",
    "zk_cnt_w_read_per_namespace",
    "zk_sum_w_read_per_namespace",
    "zk_cnt_w_write_per_namespace",
    "zk_sum_w_write_per_namespace",
    "zk_watch_count",
    "zk_znode_count",
    "zk_ephemerals_count",
    "zk_global_sessions",
];

fn counters(mntr: &str) -> BTreeMap<String, String> {
    let all = pairs(mntr, '\t');
    COUNTERS.iter().map(|key| (key.to_string(), all.get(*key).cloned().unwrap_or_else(|| "<missing>".into()))).collect()
}

/// `key<sep>value` lines as a map.
fn pairs(text: &str, sep: char) -> BTreeMap<String, String> {
    text.lines().filter_map(|l| l.split_once(sep)).map(|(k, v)| (k.trim().to_string(), v.trim().to_string())).collect()
}

fn keys_in_order(text: &str) -> Vec<String> {
    text.lines().filter_map(|l| l.split_once(':')).map(|(k, _)| k.to_string()).collect()
}

/// A line shape: digits, hex and addresses blanked out.
fn shape(line: &str) -> String {
    let mut out = String::new();
    let mut last_digit = false;
    for c in line.chars() {
        let digitish = c.is_ascii_hexdigit() || c == '.';
        if digitish && (c.is_ascii_digit() || last_digit) {
            if !last_digit {
                out.push('#');
            }
            last_digit = true;
        } else {
            out.push(c);
            last_digit = false;
        }
    }
    out
}

#[tokio::test]
async fn every_four_letter_word_matches_zookeepers_format() {
    let p = pair(&[("4lw.commands.whitelist", "*")]).await;

    for (cmd, fixed) in [
        ("ruok", "imok"),
        ("isro", "rw"),
        ("reqs", ""),
        ("crst", "Connection stats reset.\n"),
        ("srst", "Server stats reset.\n"),
    ] {
        let (ours, theirs) = both(&p, cmd);
        assert_eq!(theirs, fixed, "ZooKeeper's {cmd}");
        assert_eq!(ours, theirs, "{cmd}");
    }

    let (ours, theirs) = both(&p, "srvr");
    assert_eq!(keys_in_order(&ours)[1..], keys_in_order(&theirs)[1..], "srvr keys\n{ours}\n{theirs}");
    assert_eq!(pairs(&ours, ':')["Mode"], "standalone");
    assert_eq!(pairs(&ours, ':')["Node count"], pairs(&theirs, ':')["Node count"], "same tree, same count");

    let (ours, theirs) = both(&p, "stat");
    assert!(ours.contains("Clients:\n /127.0.0.1:") && theirs.contains("Clients:\n /127.0.0.1:"), "{ours}\n{theirs}");
    let tail = |t: &str| keys_in_order(t.split("\n\n").nth(1).unwrap_or_default());
    assert_eq!(tail(&ours), tail(&theirs), "stat summary keys");

    let (ours, theirs) = both(&p, "conf");
    let our_keys: BTreeSet<String> = pairs(&ours, '=').into_keys().collect();
    let their_keys: BTreeSet<String> = pairs(&theirs, '=').into_keys().collect();
    assert_eq!(our_keys, their_keys, "conf keys");

    // `envi`: ZooKeeper's keys in its order; the values a native process shares with a JVM are the same.
    let (ours, theirs) = both(&p, "envi");
    assert!(ours.starts_with("Environment:\n") && theirs.starts_with("Environment:\n"));
    let entries = |t: &str| -> Vec<(String, String)> {
        t.lines().skip(1).filter_map(|l| l.split_once('=')).map(|(k, v)| (k.to_string(), v.to_string())).collect()
    };
    let (our_entries, their_entries) = (entries(&ours), entries(&theirs));
    let keys = |e: &[(String, String)]| e.iter().map(|(k, _)| k.clone()).collect::<Vec<_>>();
    assert_eq!(keys(&our_entries), keys(&their_entries), "envi keys\n{ours}\n{theirs}");
    for key in ["os.name", "os.arch", "os.version", "user.name", "user.home"] {
        assert_eq!(pairs(&ours, '=')[key], pairs(&theirs, '=')[key], "envi {key}");
    }
    assert_eq!(pairs(&ours, '=')["java.compiler"], "<NA>");

    let (ours, theirs) = both(&p, "mntr");
    let (ours, theirs) = (pairs(&ours, '\t'), pairs(&theirs, '\t'));
    // Parsers of mntr (Kafka's, Solr's, monitoring agents) expect every key to start with zk_.
    assert!(ours.keys().all(|key| key.starts_with("zk_")), "mntr keys: {:?}", ours.keys());
    assert!(ours.contains_key("zk_paddock_state_digest"), "Paddock's own keys are there, prefixed");
    for (key, value) in &theirs {
        let ours = ours.get(key).unwrap_or_else(|| panic!("mntr key {key} missing"));
        assert_eq!(ours.parse::<f64>().is_ok(), value.parse::<f64>().is_ok(), "{key}: {ours} vs {value}");
    }
    assert_eq!(ours["zk_znode_count"], theirs["zk_znode_count"]);
    assert_eq!(ours["zk_ephemerals_count"], theirs["zk_ephemerals_count"]);
    assert_eq!(ours["zk_watch_count"], theirs["zk_watch_count"]);

    for cmd in ["dirs", "cons"] {
        let (ours, theirs) = both(&p, cmd);
        let shapes = |t: &str| t.lines().map(shape).collect::<BTreeSet<_>>();
        assert_eq!(shapes(&ours), shapes(&theirs), "{cmd}:\n{ours}\n---\n{theirs}");
    }

    // The watch reports cover the data-watch table only (getData and exists watches), not the child watch.
    let (ours, theirs) = both(&p, "wchs");
    assert_eq!(theirs, "1 connections watching 2 paths\nTotal watches:2\n");
    assert_eq!(ours, theirs, "wchs");
    for cmd in ["wchc", "wchp"] {
        let (ours, theirs) = both_by_session(&p, cmd);
        assert!(ours.ends_with("\n\n") && theirs.ends_with("\n\n"), "{cmd} ends with a blank line");
        assert_eq!(grouped(&ours), grouped(&theirs), "{cmd}:\n{ours}\n---\n{theirs}");
    }
    let expected: BTreeMap<String, BTreeSet<String>> =
        [("<session>".to_string(), ["/w".to_string(), "/w/missing".to_string()].into())].into();
    assert_eq!(grouped(&both_by_session(&p, "wchc").1), expected, "ZooKeeper's wchc");

    // The digest log gets a line every 128 zxids: write enough on both to get one.
    for addr in [p.paddock.addr(), p.zookeeper.addr()] {
        let client = zk::Client::connect(&addr).await.expect("connect");
        let persistent = zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all());
        for i in 0..130 {
            client.create(&format!("/h{i}"), b"", &persistent).await.expect("create");
        }
    }
    let (ours, theirs) = both(&p, "hash");
    assert!(!theirs.is_empty(), "ZooKeeper logged a digest");
    assert_eq!(shape(&ours), shape(&theirs), "hash:\n{ours}\n---\n{theirs}");

    let (ours, theirs) = both(&p, "dump");
    for heading in ["SessionTracker dump:", "ephemeral nodes dump:", "Sessions with Ephemerals (1):", "\t/w/e"] {
        assert!(ours.contains(heading) && theirs.contains(heading), "dump lacks {heading:?}:\n{ours}\n---\n{theirs}");
    }
}

#[tokio::test]
async fn srst_and_crst_reset_what_zookeeper_resets_and_counting_resumes_alike() {
    let p = pair(&[("4lw.commands.whitelist", "*")]).await;

    // `srst` is itself answered after the reset: one packet sent. Each word is a packet of 4 bytes, and
    // the asking connection is one of the server's connections.
    // ZooKeeper now and then counts one packet more right after its reset (seen once in a loaded CI run:
    // `Sent: 2`), a race of its own: reset both again, a few times at most, until it shows its usual state.
    let mut after_reset = None;
    for _ in 0..5 {
        both(&p, "srst");
        let (ours, theirs) = both(&p, "srvr");
        let settled = theirs.contains("Received: 1\nSent: 1\nConnections: 2\n");
        after_reset = Some((ours, theirs));
        if settled {
            break;
        }
    }
    let (ours, theirs) = after_reset.expect("at least one round");
    let without_version = |t: &str| t.lines().skip(1).map(|l| format!("{l}\n")).collect::<String>();
    assert!(theirs.contains("Received: 1\nSent: 1\nConnections: 2\n"), "ZooKeeper's srvr after srst:\n{theirs}");
    assert_eq!(without_version(&ours), without_version(&theirs), "srvr after srst");
    let (ours, theirs) = both(&p, "mntr");
    assert_eq!(counters(&theirs)["zk_bytes_received_count"], "8", "ZooKeeper's mntr after srst");
    assert_eq!(counters(&ours), counters(&theirs), "mntr after srst");

    // `crst` zeroes the connection's packets and forgets its last operation.
    both(&p, "crst");
    let (ours, theirs) = both_by_session(&p, "cons");
    assert_eq!(session_connection(&theirs)["lop"], "NA", "ZooKeeper's cons after crst:\n{theirs}");
    assert_eq!(session_connection(&ours), session_connection(&theirs), "cons after crst:\n{ours}\n---\n{theirs}");

    // The same requests afterwards (reads, a write that fires the data watch, a write that fails), counted
    // alike.
    for session in &p.sessions {
        session.client.get_data("/w").await.expect("get");
        session.client.get_children("/w").await.expect("children");
        session.client.check_stat("/w/nothing").await.expect("exists");
        session.client.set_data("/w", b"longer data", None).await.expect("set");
        let persistent = zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all());
        let error = session.client.create("/w", b"", &persistent).await.expect_err("already there");
        assert_eq!(error, zk::Error::NodeExists);
    }
    // ZooKeeper adds a reply to `zk_response_bytes` just after queueing it: let the last one land.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (ours, theirs) = both_by_session(&p, "cons");
    let theirs_connection = session_connection(&theirs);
    assert_eq!(theirs_connection["lop"], "NA", "a failed write is not named:\n{theirs}");
    assert_eq!(session_connection(&ours), theirs_connection, "cons after requests:\n{ours}\n---\n{theirs}");
    let (ours, theirs) = both(&p, "mntr");
    assert_ne!(counters(&theirs)["zk_response_bytes"], "0");
    assert_eq!(counters(&ours), counters(&theirs), "mntr after requests");
}

/// One `mntr` key as a number on both servers (Paddock's, ZooKeeper's).
fn counter(p: &Pair, key: &str) -> (i64, i64) {
    let value = |addr: &str| pairs(&flw(addr, "mntr"), '\t').get(key).and_then(|v| v.parse().ok()).unwrap_or(-1);
    (value(&p.paddock.addr()), value(&p.zookeeper.addr()))
}

/// [`counter`], polled until both servers show `expected` or a few seconds pass: a closed socket reaches
/// each server's bookkeeping a moment after the client closes it.
async fn settled(p: &Pair, key: &str, expected: (i64, i64)) -> (i64, i64) {
    let mut last = counter(p, key);
    for _ in 0..50 {
        if last == expected {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        last = counter(p, key);
    }
    last
}

/// A raw session: the handshake written and its whole answer read, nothing else.
fn raw_session(addr: &str) -> std::net::TcpStream {
    use std::io::{Read, Write};
    let mut socket = std::net::TcpStream::connect(addr).expect("connect");
    socket.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
    let mut body = Vec::new();
    body.extend_from_slice(&0i32.to_be_bytes()); // protocol version
    body.extend_from_slice(&0i64.to_be_bytes()); // last zxid seen
    body.extend_from_slice(&30_000i32.to_be_bytes()); // session timeout
    body.extend_from_slice(&0i64.to_be_bytes()); // session id: a new one
    body.extend_from_slice(&16i32.to_be_bytes());
    body.extend_from_slice(&[0; 16]); // password
    socket.write_all(&(body.len() as i32).to_be_bytes()).expect("write");
    socket.write_all(&body).expect("write");
    // Read all of it: closing a socket with unread data resets the connection, which neither server
    // counts as a drop (a read error, not an end of stream).
    let mut length = [0u8; 4];
    socket.read_exact(&mut length).expect("handshake answered");
    let mut answer = vec![0u8; i32::from_be_bytes(length).max(0) as usize];
    socket.read_exact(&mut answer).expect("handshake answered");
    socket
}

#[tokio::test]
async fn dropped_connections_and_persistent_watches_are_counted_as_zookeeper_counts() {
    let p = pair(&[("4lw.commands.whitelist", "*")]).await;

    // A client that closes its socket while the server holds the session open is a dropped connection
    // (so is the harness's readiness probe, a connection closed without a word: hence the baseline).
    let (ours, theirs) = counter(&p, "zk_connection_drop_count");
    for addr in [p.paddock.addr(), p.zookeeper.addr()] {
        drop(raw_session(&addr));
    }
    let dropped = (ours + 1, theirs + 1);
    assert_eq!(settled(&p, "zk_connection_drop_count", dropped).await, dropped, "a dropped connection counts");

    // One that closes its session first is not: the server closes the connection. (The client waits for
    // that close; closing at once would race it, and ZooKeeper counts the client's close when it wins.)
    for addr in [p.paddock.addr(), p.zookeeper.addr()] {
        use std::io::{Read, Write};
        let mut socket = raw_session(&addr);
        let close_session = [8i32.to_be_bytes(), 1i32.to_be_bytes(), (-11i32).to_be_bytes()].concat();
        socket.write_all(&close_session).expect("closeSession sent");
        let mut rest = Vec::new();
        socket.read_to_end(&mut rest).expect("the server closes the connection");
        assert!(!rest.is_empty(), "{addr}: closeSession answered");
    }
    // Give a wrongly counted close the time to show.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(settled(&p, "zk_connection_drop_count", dropped).await, dropped, "a closed session does not count");

    // A persistent-recursive watch sits in both of ZooKeeper's watch tables and counts twice, a persistent
    // one too, unless the connection already watches that path there (`/w` has a data and a child watch
    // already). The data-watch reports (`wchs`) see each once.
    let (ours, theirs) = counter(&p, "zk_watch_count");
    assert_eq!(ours, theirs, "zk_watch_count before");
    let mut watchers = Vec::new();
    for session in &p.sessions {
        for (path, mode) in [
            ("/", zk::AddWatchMode::PersistentRecursive),
            ("/zookeeper", zk::AddWatchMode::Persistent),
            ("/w", zk::AddWatchMode::PersistentRecursive),
        ] {
            watchers.push(session.client.watch(path, mode).await.expect("persistent watch"));
        }
    }
    // Each server has one session here: two new paths, each counted twice; `/w` adds nothing.
    let expected = (ours + 4, theirs + 4);
    assert_eq!(settled(&p, "zk_watch_count", expected).await, expected, "zk_watch_count with persistent watches");
    let (ours, theirs) = both(&p, "wchs");
    assert_eq!(ours, theirs, "wchs with persistent watches");

    // Events fire one-shot, persistent and recursive watches; ZooKeeper counts the watchers each watch
    // table fired per event (`node_*_watch_count`), the recursive ones in both tables for a deletion.
    let persistent = zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all());
    for session in &p.sessions {
        session.client.set_data("/w", b"changed", None).await.expect("set");
        session.client.create("/w/x", b"", &persistent).await.expect("create");
        session.client.set_data("/w/x", b"changed", None).await.expect("set child");
        session.client.delete("/w/x", None).await.expect("delete");
    }
    let watch_counts = |mntr: &str| -> BTreeMap<String, String> {
        pairs(mntr, '\t').into_iter().filter(|(k, _)| k.contains("_node_") && k.ends_with("_watch_count")).collect()
    };
    let (ours, theirs) = both(&p, "mntr");
    let theirs = watch_counts(&theirs);
    assert_eq!(theirs.len(), 20, "ZooKeeper's node_*_watch_count summaries: {theirs:?}");
    assert_ne!(theirs["zk_cnt_node_deleted_watch_count"], "0", "ZooKeeper counted the deletion's watchers");
    assert_eq!(watch_counts(&ours), theirs, "node_*_watch_count");
    drop(watchers);
}

#[tokio::test]
async fn trace_mask_words_answer_as_zookeeper_does() {
    let p = pair(&[("4lw.commands.whitelist", "*")]).await;
    let stmk = |mask: i64| [b"stmk".as_slice(), &mask.to_be_bytes()].concat();
    // gtmk and stmk answer the mask without a newline; stmk without its 8-byte mask answers nothing.
    let steps: [(&str, Vec<u8>, &str); 5] = [
        ("gtmk at start", b"gtmk".to_vec(), "306"),
        ("stmk 63", stmk(63), "63"),
        ("gtmk after stmk", b"gtmk".to_vec(), "63"),
        ("stmk without a mask", b"stmk".to_vec(), ""),
        ("stmk -1", stmk(-1), "-1"),
    ];
    for (what, bytes, expected) in steps {
        let theirs = exchange_until_close(&p.zookeeper.addr(), &bytes).expect("ZooKeeper answers");
        assert_eq!(theirs, expected, "ZooKeeper, {what}");
        assert_eq!(exchange_until_close(&p.paddock.addr(), &bytes).expect("Paddock answers"), theirs, "{what}");
    }
}

#[tokio::test]
async fn the_whitelist_is_enforced_as_zookeeper_does() {
    let p = pair(&[("4lw.commands.whitelist", "srvr, mntr")]).await;
    let (ours, theirs) = both(&p, "ruok");
    assert_eq!(theirs, "ruok is not executed because it is not in the whitelist.\n");
    assert_eq!(ours, theirs);
    let (ours, _) = both(&p, "mntr");
    assert!(ours.contains("zk_znode_count"), "whitelisted words still run");
}
