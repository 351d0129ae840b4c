//! Every four-letter word, run against Paddock and Apache ZooKeeper 3.8 (both started by the harness) in
//! the same state, with the output formats compared: same keys, same line shapes, same fixed texts.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use paddock_testkit::{PaddockProcess, ZooKeeperProcess, four_letter_word};
use zookeeper_client as zk;

/// Both servers, each with one session holding a data watch, a child watch and an ephemeral node.
struct Pair {
    paddock: PaddockProcess,
    zookeeper: ZooKeeperProcess,
    _sessions: Vec<Session>,
}

/// A client and the watches it holds; dropping a watcher makes the client remove the watch.
struct Session {
    _client: zk::Client,
    _data_watch: zk::OneshotWatcher,
    _child_watch: zk::OneshotWatcher,
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
    Pair { paddock, zookeeper, _sessions: sessions }
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
    let (_, _, child_watch) = client.get_and_watch_children("/w").await.expect("child watch");
    Session { _client: client, _data_watch: data_watch, _child_watch: child_watch }
}

fn flw(addr: &str, cmd: &str) -> String {
    four_letter_word(addr, cmd).unwrap_or_else(|e| panic!("{cmd} on {addr}: {e}"))
}

fn both(p: &Pair, cmd: &str) -> (String, String) {
    (flw(&p.paddock.addr(), cmd), flw(&p.zookeeper.addr(), cmd))
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

    let (ours, theirs) = both(&p, "envi");
    assert!(ours.starts_with("Environment:\n") && theirs.starts_with("Environment:\n"));
    let their_keys: BTreeSet<String> = pairs(&theirs, '=').into_keys().collect();
    for key in pairs(&ours, '=').into_keys().filter(|k| !k.starts_with("paddock.")) {
        assert!(their_keys.contains(&key), "envi key {key} is not ZooKeeper's");
    }

    let (ours, theirs) = both(&p, "mntr");
    let (ours, theirs) = (pairs(&ours, '\t'), pairs(&theirs, '\t'));
    for (key, value) in &theirs {
        let ours = ours.get(key).unwrap_or_else(|| panic!("mntr key {key} missing"));
        assert_eq!(ours.parse::<f64>().is_ok(), value.parse::<f64>().is_ok(), "{key}: {ours} vs {value}");
    }
    assert_eq!(ours["zk_znode_count"], theirs["zk_znode_count"]);
    assert_eq!(ours["zk_ephemerals_count"], theirs["zk_ephemerals_count"]);
    assert_eq!(ours["zk_watch_count"], theirs["zk_watch_count"]);

    for cmd in ["wchs", "wchc", "wchp", "dirs", "cons"] {
        let (ours, theirs) = both(&p, cmd);
        let shapes = |t: &str| t.lines().map(shape).collect::<BTreeSet<_>>();
        assert_eq!(shapes(&ours), shapes(&theirs), "{cmd}:\n{ours}\n---\n{theirs}");
    }

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
async fn the_whitelist_is_enforced_as_zookeeper_does() {
    let p = pair(&[("4lw.commands.whitelist", "srvr, mntr")]).await;
    let (ours, theirs) = both(&p, "ruok");
    assert_eq!(theirs, "ruok is not executed because it is not in the whitelist.\n");
    assert_eq!(ours, theirs);
    let (ours, _) = both(&p, "mntr");
    assert!(ours.contains("zk_znode_count"), "whitelisted words still run");
}
