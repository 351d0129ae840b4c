//! The admin HTTP server, spoken to over raw HTTP/1.1: ZooKeeper 3.9's commands and JSON shapes, the
//! authenticated `snapshot`/`restore` and Paddock's `backup`, health probes and Prometheus metrics, with
//! traffic made through a real client (`zookeeper-client`) and the `monitor` keys checked against Apache
//! ZooKeeper's `mntr`.

mod common;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use common::{COMMANDS, PADDOCK_COMMANDS, get, http};
use paddock_server::{RunningServer, ServerConfig};
use paddock_testkit::{ZooKeeperProcess, exchange_until_close, four_letter_word, free_port};
use tokio::net::TcpStream;
use zookeeper_client as zk;

const SUPER_DIGEST_PASSWORD: &str = "super:letmein";
/// ZooKeeper's answer, in `error`, while the server does not serve.
const NOT_SERVING: &str = "This ZooKeeper instance is not currently serving requests";

// ---- servers and clients -----------------------------------------------------------------------------

struct Admin {
    server: RunningServer,
    admin: SocketAddr,
    /// Keeps the data directory of a durable server alive.
    data: Option<tempfile::TempDir>,
}

fn config(admin_port: u16) -> ServerConfig {
    ServerConfig {
        client_port: 0,
        client_port_address: [127, 0, 0, 1].into(),
        tick_time_ms: 100,
        min_session_timeout_ms: 200,
        max_session_timeout_ms: 60_000,
        four_letter_whitelist: vec!["*".to_string()],
        admin_enable_server: true,
        admin_server_address: [127, 0, 0, 1].into(),
        admin_server_port: admin_port,
        super_digest: Some(paddock_tree::acl::digest_id(SUPER_DIGEST_PASSWORD)),
        ..ServerConfig::default()
    }
}

/// A server keeping its state in memory, with the admin server on a free port.
async fn memory_server(f: impl Fn(&mut ServerConfig)) -> Admin {
    for _ in 0..PORT_ATTEMPTS {
        let port = free_port();
        let mut config = config(port);
        f(&mut config);
        match paddock_server::start(config).await {
            Ok(server) => return Admin { server, admin: SocketAddr::from(([127, 0, 0, 1], port)), data: None },
            Err(e) if is_port_race(&e) => continue,
            Err(e) => panic!("server starts: {e:#}"),
        }
    }
    panic!("no free admin port after {PORT_ATTEMPTS} attempts");
}

/// A port handed out by `free_port` can be taken by a client socket of a test running alongside before the
/// server binds it: such a start is retried on another port.
const PORT_ATTEMPTS: usize = 3;

fn is_port_race(e: &anyhow::Error) -> bool {
    format!("{e:#}").contains("cannot listen")
}

/// A server with a data directory (WAL and snapshots), with the admin server on a free port.
async fn durable_server(f: impl Fn(&mut ServerConfig)) -> Admin {
    durable_server_on(tempfile::tempdir().expect("temp dir"), f).await
}

async fn durable_server_on(data: tempfile::TempDir, f: impl Fn(&mut ServerConfig)) -> Admin {
    for _ in 0..PORT_ATTEMPTS {
        let port = free_port();
        let mut config = config(port);
        config.data_dir = data.path().to_path_buf();
        f(&mut config);
        match paddock_server::start_durable(config).await {
            Ok(server) => return Admin { server, admin: SocketAddr::from(([127, 0, 0, 1], port)), data: Some(data) },
            Err(e) if is_port_race(&e) => continue,
            Err(e) => panic!("server starts: {e:#}"),
        }
    }
    panic!("no free admin port after {PORT_ATTEMPTS} attempts");
}

/// Stops a durable server and starts it again on the same data directory.
async fn restart(a: Admin) -> Admin {
    let data = a.data.expect("a durable server");
    a.server.shutdown().await;
    durable_server_on(data, |_| {}).await
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

async fn mntr(addr: SocketAddr) -> BTreeMap<String, String> {
    let text = tokio::task::spawn_blocking(move || four_letter_word(&addr.to_string(), "mntr"))
        .await
        .expect("mntr task")
        .expect("mntr answers");
    parse_mntr(&text)
}

fn parse_mntr(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter(|l| !l.is_empty())
        .map(|line| {
            let (key, value) = line.split_once('\t').unwrap_or_else(|| panic!("mntr line without a tab: {line:?}"));
            (key.to_string(), value.to_string())
        })
        .collect()
}

// ---- a Prometheus text-format parser -----------------------------------------------------------------

#[derive(Debug)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

#[derive(Debug, Default)]
struct Scrape {
    types: HashMap<String, String>,
    samples: Vec<Sample>,
}

impl Scrape {
    /// The value of the one sample with this name and these labels.
    fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let wanted: BTreeMap<String, String> = labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let mut found = self.samples.iter().filter(|s| s.name == name && s.labels == wanted);
        let first = found.next()?;
        assert!(found.next().is_none(), "duplicate sample {name}{labels:?}");
        Some(first.value)
    }

    fn sum(&self, name: &str) -> f64 {
        self.samples.iter().filter(|s| s.name == name).map(|s| s.value).sum()
    }
}

/// Parses the Prometheus text exposition format strictly: every line must be a comment, a `# HELP` /
/// `# TYPE` line or a sample, and every sample must belong to a declared metric family.
fn parse_prometheus(text: &str) -> Scrape {
    let mut scrape = Scrape::default();
    for line in text.lines() {
        if line.trim().is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap_or_else(|| panic!("bad TYPE line {line:?}"));
            assert!(valid_metric_name(name), "bad metric name in {line:?}");
            assert!(
                ["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind),
                "bad metric type in {line:?}"
            );
            assert!(scrape.types.insert(name.to_string(), kind.to_string()).is_none(), "TYPE declared twice: {line:?}");
            continue;
        }
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let name = rest.split(' ').next().unwrap_or_default();
            assert!(valid_metric_name(name), "bad metric name in {line:?}");
            continue;
        }
        if line.starts_with('#') {
            continue;
        }
        let sample = parse_sample(line);
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|suffix| sample.name.strip_suffix(suffix).filter(|base| scrape.types.contains_key(*base)))
            .unwrap_or(&sample.name);
        assert!(scrape.types.contains_key(family), "sample without a TYPE: {line:?}");
        scrape.samples.push(sample);
    }
    scrape
}

fn valid_metric_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

fn parse_sample(line: &str) -> Sample {
    let name_end = line.find(['{', ' ']).unwrap_or_else(|| panic!("sample without a value: {line:?}"));
    let name = &line[..name_end];
    assert!(valid_metric_name(name), "bad metric name in {line:?}");
    let mut rest = &line[name_end..];
    let mut labels = BTreeMap::new();
    if let Some(inner) = rest.strip_prefix('{') {
        rest = inner;
        loop {
            rest = rest.trim_start_matches(',');
            if let Some(after) = rest.strip_prefix('}') {
                rest = after;
                break;
            }
            let (key, after) = rest.split_once("=\"").unwrap_or_else(|| panic!("bad label in {line:?}"));
            assert!(valid_metric_name(key) && !key.contains(':'), "bad label name in {line:?}");
            let mut value = String::new();
            let mut chars = after.char_indices();
            let end = loop {
                match chars.next() {
                    Some((_, '\\')) => match chars.next() {
                        Some((_, 'n')) => value.push('\n'),
                        Some((_, c @ ('\\' | '"'))) => value.push(c),
                        other => panic!("bad escape {other:?} in {line:?}"),
                    },
                    Some((i, '"')) => break i,
                    Some((_, c)) => value.push(c),
                    None => panic!("unterminated label value in {line:?}"),
                }
            };
            labels.insert(key.to_string(), value);
            rest = &after[end + 1..];
        }
    }
    let mut fields = rest.split_whitespace();
    let value_text = fields.next().unwrap_or_else(|| panic!("sample without a value: {line:?}"));
    let value = match value_text {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        "NaN" => f64::NAN,
        v => v.parse().unwrap_or_else(|_| panic!("bad sample value in {line:?}")),
    };
    if let Some(timestamp) = fields.next() {
        timestamp.parse::<i64>().unwrap_or_else(|_| panic!("bad timestamp in {line:?}"));
    }
    assert!(fields.next().is_none(), "trailing text in {line:?}");
    Sample { name: name.to_string(), labels, value }
}

// ---- commands ----------------------------------------------------------------------------------------

#[tokio::test]
async fn every_command_answers_json_with_command_and_error() {
    let a = memory_server(|_| {}).await;
    let client = connect(&a.server).await;
    let session = client.session_id().0;
    client.create("/watched", b"x", &persistent()).await.expect("create");
    let ephemeral = zk::CreateMode::Ephemeral.with_acls(zk::Acls::anyone_all());
    client.create("/eph", b"", &ephemeral).await.expect("ephemeral");
    let (_, _, _watcher) = client.get_and_watch_data("/watched").await.expect("watch");

    for names in COMMANDS {
        let primary = names[0];
        if ["snapshot", "restore"].contains(&primary) {
            continue;
        }
        for name in *names {
            let r = get(a.admin, &format!("/commands/{name}")).await;
            assert_eq!(r.status, 200, "{name}: {}", r.text());
            assert_eq!(r.header("content-type"), Some("application/json"), "{name}");
            let body = r.json();
            assert_eq!(body["command"], primary, "{name}: {body}");
            let error = body.get("error").unwrap_or_else(|| panic!("{name}: no error entry: {body}"));
            match primary {
                "leader" => assert_eq!(error, "server is not initialized"),
                "set_trace_mask" => assert_eq!(error, "setTraceMask requires long traceMask argument"),
                _ => assert!(error.is_null(), "{name}: {body}"),
            }
        }
    }

    // The loop ran srst and crst: count some fresh traffic.
    for _ in 0..3 {
        client.get_data("/watched").await.expect("get");
    }
    let body = get(a.admin, "/commands/srvr").await.json();
    assert_eq!(body["read_only"], false);
    assert!(body["version"].as_str().is_some_and(|v| v.starts_with("3.9")), "{body}");
    assert!(body["node_count"].as_u64().is_some_and(|n| n >= 3), "{body}");
    assert_eq!(body["server_stats"]["server_state"], "standalone");
    assert_eq!(body["server_stats"]["num_alive_client_connections"], 1);
    assert!(body["server_stats"]["packets_received"].as_u64().is_some_and(|n| n >= 3), "{body}");
    // The last reply: header (16 bytes), the one data byte with its length, and the stat (68).
    assert_eq!(body["client_response"]["last_buffer_size"], 16 + 4 + 1 + 68);

    let body = get(a.admin, "/commands/stat").await.json();
    let connections = body["connections"].as_array().expect("connections");
    assert_eq!(connections.len(), 1, "{body}");
    assert!(connections[0]["remote_socket_address"].as_str().is_some_and(|s| s.starts_with("127.0.0.1:")));
    assert!(connections[0].get("session_id").is_none(), "stat lists connections briefly: {body}");

    let body = get(a.admin, "/commands/cons").await.json();
    assert_eq!(body["connections"][0]["session_id"], session, "{body}");
    assert_eq!(body["connections"][0]["session_timeout"], 10_000, "{body}");
    assert_eq!(body["secure_connections"], serde_json::json!([]));

    let body = get(a.admin, "/commands/dump").await.json();
    assert_eq!(body["session_id_to_ephemeral_paths"][session.to_string()], serde_json::json!(["/eph"]), "{body}");
    let expiring: Vec<i64> = body["expiry_time_to_session_ids"]
        .as_object()
        .expect("expiry map")
        .values()
        .flat_map(|ids| ids.as_array().cloned().unwrap_or_default())
        .filter_map(|id| id.as_i64())
        .collect();
    assert_eq!(expiring, vec![session], "{body}");

    let body = get(a.admin, "/commands/wchc").await.json();
    assert_eq!(body["session_id_to_watched_paths"][session.to_string()], serde_json::json!(["/watched"]));
    let body = get(a.admin, "/commands/wchp").await.json();
    assert_eq!(body["path_to_session_ids"]["/watched"], serde_json::json!([session]));
    let body = get(a.admin, "/commands/wchs").await.json();
    assert_eq!((body["num_connections"].as_u64(), body["num_paths"].as_u64()), (Some(1), Some(1)), "{body}");
    assert_eq!(body["num_total_watches"], 1);

    let body = get(a.admin, "/commands/conf").await.json();
    // The port actually bound (the test asked for 0, letting the kernel pick), as ZooKeeper shows it.
    assert_eq!(body["client_port"], u64::from(a.server.client_addr.port()));
    assert_eq!(body["tick_time"], 100);
    assert_eq!(body["max_session_timeout"], 60_000);
    // The digest log gets an entry every 128 zxids, as ZooKeeper's: none yet.
    let body = get(a.admin, "/commands/hash").await.json();
    assert_eq!(body["digests"], serde_json::json!([]), "{body}");
    let body = get(a.admin, "/commands/lsnp").await.json();
    assert_eq!((body["zxid"].as_str(), body["timestamp"].as_i64()), (Some("ffffffffffffffff"), Some(-1)));
    let body = get(a.admin, "/commands/isro").await.json();
    assert_eq!(body["read_only"], false);
    let body = get(a.admin, "/commands/envi").await.json();
    assert!(body["zookeeper.version"].is_string() && body["os.name"].is_string(), "{body}");
    let body = get(a.admin, "/commands/stmk?traceMask=12").await.json();
    assert_eq!(body["tracemask"], 12);
    assert_eq!(get(a.admin, "/commands/gtmk").await.json()["tracemask"], 12);
    // One mask, as ZooKeeper's one ZooTrace global: the four-letter words see what the admin set, and the
    // admin sees what `stmk` set.
    let client_port = a.server.client_addr.to_string();
    let word = |bytes: Vec<u8>| {
        let addr = client_port.clone();
        async move {
            let answer = tokio::task::spawn_blocking(move || exchange_until_close(&addr, &bytes));
            answer.await.expect("word task").expect("answered")
        }
    };
    assert_eq!(word(b"gtmk".to_vec()).await, "12");
    assert_eq!(word([b"stmk".as_slice(), &7i64.to_be_bytes()].concat()).await, "7");
    assert_eq!(get(a.admin, "/commands/gtmk").await.json()["tracemask"], 7);

    // srst and crst really reset the counters.
    get(a.admin, "/commands/srst").await;
    let body = get(a.admin, "/commands/srvr").await.json();
    assert!(body["server_stats"]["packets_received"].as_u64().is_some_and(|n| n <= 1), "{body}");
    get(a.admin, "/commands/crst").await;
    let body = get(a.admin, "/commands/cons").await.json();
    assert!(body["connections"][0]["packets_sent"].as_u64().is_some_and(|n| n <= 1), "{body}");
    drop(client);
    a.server.shutdown().await;
}

#[tokio::test]
async fn index_unknown_commands_and_wrong_methods() {
    let a = memory_server(|_| {}).await;
    for path in ["/commands", "/commands/"] {
        let r = get(a.admin, path).await;
        assert_eq!(r.status, 200);
        let text = r.text();
        for names in COMMANDS.iter().chain(PADDOCK_COMMANDS) {
            let link = format!("<a href=\"/commands/{0}\">{0}</a>", names[0]);
            assert!(text.contains(&link), "{link} missing from {text}");
        }
        assert_eq!(text.matches("<br/>").count(), COMMANDS.len() + PADDOCK_COMMANDS.len());
    }
    // ZooKeeper answers unknown commands with 200 and the error in the JSON.
    let r = get(a.admin, "/commands/nope").await;
    assert_eq!(r.status, 200);
    let body = r.json();
    assert_eq!((body["command"].as_str(), body["error"].as_str()), (Some("nope"), Some("Unknown command: nope")));
    let r = http(a.admin, "POST", "/commands/ruok", &[], b"").await;
    assert_eq!(r.status, 405);
    assert_eq!(r.json()["command"], "ruok");
    let r = get(a.admin, "/commands/restore").await;
    assert_eq!(r.status, 405);
    assert_eq!(r.json()["command"], "restore");
    assert_eq!(get(a.admin, "/elsewhere").await.status, 404);
    a.server.shutdown().await;
}

#[tokio::test]
async fn command_url_is_configurable() {
    let a = memory_server(|c| c.admin_command_url = "/zk/admin/".to_string()).await;
    let r = get(a.admin, "/zk/admin/ruok").await;
    assert_eq!((r.status, r.json()["command"].as_str().map(str::to_string)), (200, Some("ruok".to_string())));
    assert!(get(a.admin, "/zk/admin").await.text().contains("<a href=\"/zk/admin/monitor\">monitor</a>"));
    assert_eq!(get(a.admin, "/commands/ruok").await.status, 404);
    a.server.shutdown().await;
}

#[tokio::test]
async fn monitor_keys_and_values_match_mntr() {
    let a = memory_server(|_| {}).await;
    let client = connect(&a.server).await;
    for i in 0..5 {
        client.create(&format!("/m{i}"), b"data", &persistent()).await.expect("create");
    }
    let monitor = get(a.admin, "/commands/monitor").await.json();
    let text = mntr(a.server.client_addr).await;
    let monitor = monitor.as_object().expect("JSON object");
    let monitor_keys: BTreeSet<&str> =
        monitor.keys().map(String::as_str).filter(|k| !["command", "error"].contains(k)).collect();
    let mntr_keys: BTreeSet<&str> = text.keys().map(|k| k.strip_prefix("zk_").unwrap_or(k)).collect();
    assert_eq!(monitor_keys, mntr_keys);
    for (key, value) in &text {
        let json = &monitor[key.strip_prefix("zk_").unwrap_or(key)];
        if value.parse::<i64>().is_ok() {
            assert!(json.is_i64() || json.is_u64(), "{key}: {value} vs {json}");
        } else if value.parse::<f64>().is_ok() {
            assert!(json.is_number(), "{key}: {value} vs {json}");
        } else {
            assert_eq!(json.as_str(), Some(value.as_str()), "{key}");
        }
    }
    for stable in ["znode_count", "ephemerals_count", "watch_count", "global_sessions"] {
        assert_eq!(monitor[stable].to_string(), text[&format!("zk_{stable}")], "{stable}");
    }
    assert_eq!(monitor["server_state"], "standalone");
    assert_eq!(monitor["version"].as_str(), text.get("zk_version").map(String::as_str));
    drop(client);
    a.server.shutdown().await;
}

/// ZooKeeper's `mntr` (which the `monitor` command mirrors, minus the `zk_` prefix) is the reference for
/// the keys and their kinds; `admin_vs_zookeeper.rs` compares the JSON with ZooKeeper's AdminServer.
#[tokio::test]
async fn monitor_has_the_keys_apache_zookeeper_mntr_reports() {
    let zookeeper = tokio::task::spawn_blocking(ZooKeeperProcess::start)
        .await
        .expect("start task")
        .expect("Apache ZooKeeper starts");
    let reference = parse_mntr(&zookeeper_mntr(zookeeper.addr()).await);
    assert!(reference.len() > 100, "ZooKeeper's mntr: {reference:?}");

    let a = memory_server(|_| {}).await;
    let monitor = get(a.admin, "/commands/monitor").await.json();
    let mut missing = Vec::new();
    for (key, value) in &reference {
        let key = key.strip_prefix("zk_").unwrap_or(key);
        let Some(json) = monitor.get(key) else {
            missing.push(key.to_string());
            continue;
        };
        let number = value.parse::<f64>().is_ok();
        assert_eq!(json.is_number(), number, "{key}: ZooKeeper says {value:?}, Paddock {json}");
    }
    assert!(missing.is_empty(), "ZooKeeper mntr keys missing from Paddock's monitor: {missing:?}");
    a.server.shutdown().await;
}

/// ZooKeeper answers `ruok` before its request pipeline runs (which is when the testkit calls it
/// started), and `mntr` says "not currently serving" until then.
async fn zookeeper_mntr(addr: String) -> String {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let asked = addr.clone();
        let text = tokio::task::spawn_blocking(move || four_letter_word(&asked, "mntr"))
            .await
            .expect("mntr task")
            .expect("ZooKeeper answers mntr");
        if !text.contains("not currently serving") {
            return text;
        }
        assert!(tokio::time::Instant::now() < deadline, "ZooKeeper never started serving");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

// ---- metrics -----------------------------------------------------------------------------------------

#[tokio::test]
async fn metrics_are_prometheus_text_and_move_with_traffic() {
    let metrics_port = free_port();
    let a = memory_server(|c| c.metrics_http_port = Some(metrics_port)).await;
    let metrics_addr = SocketAddr::from(([127, 0, 0, 1], metrics_port));
    let client = connect(&a.server).await;
    client.create("/before", b"", &persistent()).await.expect("create");

    let r = get(a.admin, "/metrics").await;
    assert_eq!(r.status, 200);
    assert!(r.header("content-type").is_some_and(|t| t.starts_with("text/plain")), "{:?}", r.headers);
    let before = parse_prometheus(&r.text());
    for (name, kind) in [
        ("paddock_znodes", "gauge"),
        ("paddock_sessions", "gauge"),
        ("paddock_connections", "gauge"),
        ("paddock_watches", "gauge"),
        ("paddock_ephemerals", "gauge"),
        ("paddock_approximate_data_size_bytes", "gauge"),
        ("paddock_last_zxid", "gauge"),
        ("paddock_outstanding_requests", "gauge"),
        ("paddock_last_snapshot_zxid", "gauge"),
        ("paddock_role", "gauge"),
        ("paddock_commit_lag", "gauge"),
        ("paddock_requests_total", "counter"),
        ("paddock_request_duration_seconds", "histogram"),
    ] {
        assert_eq!(before.types.get(name).map(String::as_str), Some(kind), "{name}");
    }
    assert_eq!(before.value("paddock_role", &[("role", "standalone")]), Some(1.0));
    assert_eq!(before.value("paddock_commit_lag", &[]), Some(0.0));
    assert_eq!(before.value("paddock_connections", &[]), Some(1.0));
    assert_eq!(before.value("paddock_sessions", &[]), Some(1.0));
    assert_eq!(before.value("paddock_last_snapshot_zxid", &[]), Some(-1.0));
    let monitor = get(a.admin, "/commands/monitor").await.json();
    assert_eq!(before.value("paddock_znodes", &[]), monitor["znode_count"].as_f64());

    for i in 0..10 {
        client.create(&format!("/n{i}"), b"0123456789", &persistent()).await.expect("create");
        client.get_data(&format!("/n{i}")).await.expect("get");
    }
    let after = parse_prometheus(&get(a.admin, "/metrics").await.text());
    let counted = |s: &Scrape, op: &str| s.value("paddock_requests_total", &[("op", op)]).unwrap_or(0.0);
    let creates = |s: &Scrape| counted(s, "create") + counted(s, "create2");
    // The recorder is process-wide, so other tests add to these counters too: at least ours.
    assert!(creates(&after) >= creates(&before) + 10.0);
    assert!(counted(&after, "getData") >= counted(&before, "getData") + 10.0, "{:?}", after.samples);
    assert!(
        after.sum("paddock_request_duration_seconds_count")
            >= before.sum("paddock_request_duration_seconds_count") + 20.0
    );
    let gauge = |s: &Scrape, name: &str| s.value(name, &[]).expect(name);
    assert_eq!(gauge(&after, "paddock_znodes"), gauge(&before, "paddock_znodes") + 10.0);
    assert!(gauge(&after, "paddock_last_zxid") >= gauge(&before, "paddock_last_zxid") + 10.0);
    assert!(
        gauge(&after, "paddock_approximate_data_size_bytes")
            >= gauge(&before, "paddock_approximate_data_size_bytes") + 100.0
    );

    // The Prometheus port serves the same exposition.
    let r = get(metrics_addr, "/metrics").await;
    assert_eq!(r.status, 200);
    let port_scrape = parse_prometheus(&r.text());
    assert_eq!(port_scrape.value("paddock_znodes", &[]), Some(gauge(&after, "paddock_znodes")));
    assert_eq!(get(metrics_addr, "/commands/ruok").await.status, 404);
    drop(client);
    a.server.shutdown().await;
}

// ---- health ------------------------------------------------------------------------------------------

#[tokio::test]
async fn health_probes_answer_json() {
    let a = memory_server(|_| {}).await;
    let r = get(a.admin, "/health/live").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["status"], "live");
    let r = get(a.admin, "/health/ready").await;
    assert_eq!(r.status, 200);
    let body = r.json();
    assert_eq!(body["status"], "ready");
    assert_eq!(body["server_state"], "standalone");
    a.server.shutdown().await;
    // Once shut down nothing answers on the admin port any more.
    let refused = TcpStream::connect(a.admin).await;
    assert!(refused.is_err(), "admin port still open after shutdown");
}

// ---- snapshot and restore ----------------------------------------------------------------------------

/// Restricts `/` to `admin:secret` (and super), the setup ZooKeeper's docs suggest for admin auth.
async fn restrict_root(client: &zk::Client) {
    client.auth("digest", b"admin:secret").await.expect("auth");
    let admin =
        zk::Acl::new(zk::Permission::ALL, zk::AuthId::new("digest", &paddock_tree::acl::digest_id("admin:secret")));
    client.set_acl("/", &[admin], None).await.expect("setACL on /");
}

fn snapshot_files(data_dir: &Path) -> Vec<String> {
    let dir = data_dir.join("paddock").join("snap");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .map(|entries| entries.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default();
    names.retain(|n| n.ends_with(".snap"));
    names.sort();
    names
}

#[tokio::test]
async fn snapshot_needs_credentials_with_all_on_root_and_streams_the_file() {
    let a = durable_server(|c| c.admin_rate_limiter_interval_ms = 0).await;
    let data_dir = a.data.as_ref().expect("data dir").path().to_path_buf();
    let client = connect(&a.server).await;
    for i in 0..20 {
        client.create(&format!("/s{i}"), b"payload", &persistent()).await.expect("create");
    }
    restrict_root(&client).await;

    let r = get(a.admin, "/commands/snapshot").await;
    assert_eq!(r.status, 401);
    assert_eq!(r.json()["error"], "Auth info is missing for the command");
    for bad in ["digest", "kerberos abc", "digest a:b c"] {
        let r = http(a.admin, "GET", "/commands/snap", &[("Authorization", bad)], b"").await;
        assert_eq!(r.status, 401, "{bad}");
        assert_eq!(
            (r.json()["command"].as_str(), r.json()["error"].as_str()),
            (Some("snap"), Some("Not authenticated"))
        );
    }
    for wrong in ["digest admin:wrong", "digest bob:secret", "ip"] {
        let r = http(a.admin, "GET", "/commands/snapshot", &[("Authorization", wrong)], b"").await;
        assert_eq!(r.status, 403, "{wrong}: {}", r.text());
        assert_eq!(r.json()["error"], "Not authorized");
    }
    assert!(snapshot_files(&data_dir).is_empty(), "no snapshot taken without authorization");

    let owner = [("Authorization", "digest admin:secret")];
    let r = http(a.admin, "GET", "/commands/snapshot?streaming=false", &owner, b"").await;
    assert_eq!(r.status, 200, "{}", r.text());
    let body = r.json();
    assert_eq!((body["command"].as_str(), body["error"].is_null()), (Some("snapshot"), true), "{body}");
    let zxid_header = r.header("last_zxid").expect("last_zxid header").to_string();
    let zxid = i64::from_str_radix(zxid_header.trim_start_matches("0x"), 16).expect("hex zxid");
    assert!(zxid > 20, "{zxid_header}");
    let files = snapshot_files(&data_dir);
    assert_eq!(files.len(), 1, "{files:?}");
    let size: u64 = r.header("snapshot_size").and_then(|s| s.parse().ok()).expect("snapshot_size header");
    let file = data_dir.join("paddock").join("snap").join(&files[0]);
    assert_eq!(std::fs::metadata(&file).expect("snapshot file").len(), size);

    client.create("/after", b"", &persistent()).await.expect("create");
    let super_auth = format!("digest {SUPER_DIGEST_PASSWORD}");
    let r = http(a.admin, "POST", "/commands/snapshot", &[("Authorization", &super_auth)], b"").await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("content-type"), Some("application/octet-stream"));
    let zxid: i64 =
        i64::from_str_radix(r.header("last_zxid").expect("zxid").trim_start_matches("0x"), 16).expect("hex");
    let files = snapshot_files(&data_dir);
    assert_eq!(files.len(), 2, "{files:?}");
    let newest = paddock_storage::list_snapshots(&data_dir.join("paddock").join("snap")).expect("list");
    let (newest_zxid, newest_path) = newest.last().expect("a snapshot");
    assert_eq!(*newest_zxid, zxid);
    assert_eq!(r.body, std::fs::read(newest_path).expect("read snapshot"), "streamed bytes are the file");
    assert_eq!(r.header("snapshot_size").and_then(|s| s.parse::<usize>().ok()), Some(r.body.len()));
    // The streamed file is a valid Paddock snapshot of the tree at that zxid.
    let header = paddock_storage::verify_snapshot(newest_path).expect("valid snapshot");
    assert_eq!(header.zxid, zxid);

    let body = get(a.admin, "/commands/last_snapshot").await.json();
    assert_eq!(body["zxid"], format!("{zxid:x}"));
    assert!(body["timestamp"].as_i64().is_some_and(|t| t > 1_600_000_000), "{body}");
    let scrape = parse_prometheus(&get(a.admin, "/metrics").await.text());
    assert_eq!(scrape.value("paddock_last_snapshot_zxid", &[]), Some(zxid as f64));
    drop(client);
    a.server.shutdown().await;
}

#[tokio::test]
async fn snapshot_is_rate_limited_and_refused_without_a_data_dir() {
    let a = durable_server(|_| {}).await;
    let super_auth = format!("digest {SUPER_DIGEST_PASSWORD}");
    let auth = [("Authorization", super_auth.as_str())];
    let r = http(a.admin, "GET", "/commands/snapshot?streaming=false", &auth, b"").await;
    assert_eq!(r.status, 200, "{}", r.text());
    // The default interval is ZooKeeper's documented five minutes.
    let r = http(a.admin, "GET", "/commands/snapshot?streaming=false", &auth, b"").await;
    assert_eq!(r.status, 429, "{}", r.text());
    assert_eq!(r.json()["command"], "snapshot");
    a.server.shutdown().await;

    let a = memory_server(|_| {}).await;
    let r = http(a.admin, "GET", "/commands/snapshot", &auth, b"").await;
    assert_eq!(r.status, 503, "{}", r.text());
    assert!(r.json()["error"].as_str().is_some_and(|e| e.contains("memory")), "{}", r.text());
    a.server.shutdown().await;

    let a = durable_server(|c| c.admin_snapshot_enabled = false).await;
    let r = http(a.admin, "GET", "/commands/snapshot", &auth, b"").await;
    assert_eq!(r.status, 503, "{}", r.text());
    a.server.shutdown().await;
}

#[tokio::test]
async fn restore_replaces_the_tree_with_a_posted_backup_above_every_zxid_given_out() {
    let a = durable_server(|_| {}).await;
    let super_auth = format!("digest {SUPER_DIGEST_PASSWORD}");
    let auth = [("Authorization", super_auth.as_str())];
    let r = http(a.admin, "POST", "/commands/restore", &auth, b"snapshot bytes").await;
    assert_eq!(r.status, 503, "refused unless admin.restore.enabled: {}", r.text());
    assert!(r.json()["error"].as_str().is_some_and(|e| e.contains("admin.restore.enabled=true")), "{}", r.text());
    a.server.shutdown().await;

    let a = durable_server(|c| c.admin_restore_enabled = true).await;
    let r = http(a.admin, "POST", "/commands/restore", &[("Content-Type", "application/octet-stream")], b"x").await;
    assert_eq!(r.status, 401);
    assert_eq!(r.json()["command"], "restore");
    let r = http(a.admin, "POST", "/commands/rest", &auth, b"snapshot bytes").await;
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.json()["error"].as_str().is_some_and(|e| e.contains("not a sound snapshot")), "{}", r.text());

    let client = connect(&a.server).await;
    client.create("/kept", b"from the backup", &persistent()).await.expect("create");
    let backup = http(a.admin, "GET", "/commands/backup", &auth, b"").await;
    assert_eq!(backup.status, 200, "{}", backup.text());
    client.create("/after-the-backup", b"", &persistent()).await.expect("create");
    let (_, last) = client.get_data("/after-the-backup").await.expect("read");

    let r = http(a.admin, "POST", "/commands/restore", &auth, &backup.body).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let zxid = r.json()["last_zxid"].as_i64().expect("last_zxid");
    assert!(zxid > last.mzxid, "the restored tree continues above every zxid given out ({zxid} after {})", last.mzxid);
    assert!(http(a.admin, "POST", "/commands/restore", &auth, b"").await.status == 400, "an empty body is refused");

    let client = connect(&a.server).await;
    assert_eq!(client.get_data("/kept").await.expect("read").0, b"from the backup");
    assert_eq!(client.check_stat("/after-the-backup").await.expect("exists"), None, "what came after is gone");
    let (stat, _) = client.create("/after-the-restore", b"", &persistent()).await.expect("a write");
    assert!(stat.czxid > zxid);
    drop(client);

    // The restore is durable: a restart recovers the restored tree and the writes made since.
    let a = restart(a).await;
    let client = connect(&a.server).await;
    assert!(client.check_stat("/after-the-restore").await.expect("exists").is_some());
    assert_eq!(client.check_stat("/after-the-backup").await.expect("exists"), None);
    a.server.shutdown().await;
}

// ---- backup ------------------------------------------------------------------------------------------

/// The snap directory's entries, temp files included.
fn snap_dir_entries(data_dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(data_dir.join("paddock").join("snap"))
        .map(|entries| entries.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default()
}

fn cluster_id_file(data_dir: &Path) -> String {
    let bytes = std::fs::read(data_dir.join("paddock").join("cluster-id")).expect("the cluster-id file");
    assert_eq!(bytes.len(), 33, "32 hex digits and a newline: {bytes:?}");
    assert_eq!(bytes.last(), Some(&b'\n'));
    let id = String::from_utf8(bytes[..32].to_vec()).expect("ASCII");
    assert!(id.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)), "{id}");
    id
}

/// What a backup's headers say, checked against the snapshot its body holds.
struct Backup {
    cluster_id: String,
    zxid: i64,
    tree: paddock_tree::DataTree,
}

fn parse_backup(r: &common::HttpResponse, scratch: &Path) -> Backup {
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("content-type"), Some("application/octet-stream"));
    let header = |name: &str| r.header(name).unwrap_or_else(|| panic!("no {name} header")).to_string();
    let zxid: i64 = header("paddock-zxid").parse().expect("decimal zxid");
    assert_eq!(header("last_zxid"), format!("0x{zxid:x}"));
    let time_ms: i64 = header("paddock-time-ms").parse().expect("time");
    let node_count: u64 = header("paddock-node-count").parse().expect("node count");
    let digest_text = header("paddock-digest");
    assert!(digest_text.len() == 16 && digest_text.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
    let digest = u64::from_str_radix(&digest_text, 16).expect("hex digest");
    assert_eq!(header("paddock-snapshot-format"), paddock_tree::SNAPSHOT_FORMAT_VERSION.to_string());

    // The body is a snapshot file: stored, it verifies and loads as the tree the headers describe.
    let path = scratch.join(format!("backup-{zxid}.bin"));
    std::fs::write(&path, &r.body).expect("store the backup");
    let verified = paddock_storage::verify_snapshot(&path).expect("the body is a valid snapshot");
    assert_eq!(
        (verified.zxid, verified.time_ms, verified.node_count, verified.digest),
        (zxid, time_ms, node_count, digest)
    );
    assert_eq!(verified.format_version, paddock_tree::SNAPSHOT_FORMAT_VERSION);
    let tree = paddock_backup::datadir::load_snapshot(&path).expect("the body loads as a tree");
    assert_eq!((tree.last_zxid(), tree.digest(), tree.node_count() as u64), (zxid, digest, node_count));
    assert_eq!(tree.last_time(), time_ms);
    assert!(time_ms > 1_600_000_000_000, "the last txn's time: {time_ms}");
    Backup { cluster_id: header("paddock-cluster-id"), zxid, tree }
}

#[tokio::test]
async fn backup_streams_the_tree_from_memory_with_snapshots_auth_and_the_cluster_id() {
    let a = durable_server(|_| {}).await;
    let data_dir = a.data.as_ref().expect("data dir").path().to_path_buf();
    let scratch = tempfile::tempdir().expect("temp dir");
    let client = connect(&a.server).await;
    for i in 0..25 {
        client.create(&format!("/b{i}"), format!("payload {i}").as_bytes(), &persistent()).await.expect("create");
    }
    restrict_root(&client).await;
    let snap_before = snap_dir_entries(&data_dir);

    // Refused exactly as `snapshot` refuses, by the same check.
    for auth in
        [None, Some("digest"), Some("kerberos abc"), Some("digest a:b c"), Some("digest admin:wrong"), Some("ip")]
    {
        let headers: Vec<(&str, &str)> = auth.map(|v| ("Authorization", v)).into_iter().collect();
        let backup = http(a.admin, "GET", "/commands/backup", &headers, b"").await;
        let snapshot = http(a.admin, "GET", "/commands/snapshot", &headers, b"").await;
        assert_eq!(backup.status, snapshot.status, "{auth:?}: {}", backup.text());
        assert!(backup.status == 401 || backup.status == 403, "{auth:?}: {}", backup.status);
        let (b, s) = (backup.json(), snapshot.json());
        assert_eq!((b["command"].as_str(), s["command"].as_str()), (Some("backup"), Some("snapshot")));
        assert_eq!(b["error"], s["error"], "{auth:?}");
    }
    let r = http(a.admin, "POST", "/commands/backup", &[("Authorization", "digest admin:secret")], b"").await;
    assert_eq!(r.status, 405, "{}", r.text());

    let last_zxid = get(a.admin, "/commands/srvr").await.json()["server_stats"]["last_processed_zxid"].as_i64();
    let r = http(a.admin, "GET", "/commands/backup", &[("Authorization", "digest admin:secret")], b"").await;
    let first = parse_backup(&r, scratch.path());
    assert_eq!(Some(first.zxid), last_zxid, "the applied tree at the time of the request");
    assert_eq!(first.tree.get("/b7").and_then(|n| n.data()), Some(&b"payload 7"[..]), "/b7 in the backup");
    assert_eq!(first.cluster_id, cluster_id_file(&data_dir));
    assert_eq!(snap_dir_entries(&data_dir), snap_before, "nothing written to the snapshot directory");
    let lsnp = get(a.admin, "/commands/last_snapshot").await.json();
    assert_eq!(lsnp["zxid"], "ffffffffffffffff", "a backup is not a snapshot of the server's: {lsnp}");

    // Another backup right away: no rate limit, just one at a time.
    client.create("/later", b"", &persistent()).await.expect("create");
    let super_auth = format!("digest {SUPER_DIGEST_PASSWORD}");
    let r = http(a.admin, "GET", "/commands/backup", &[("Authorization", &super_auth)], b"").await;
    let second = parse_backup(&r, scratch.path());
    assert!(second.zxid > first.zxid && second.tree.get("/later").is_some());
    drop(client);

    // The id belongs to the data directory: the same after a restart.
    let a = restart(a).await;
    let r = http(a.admin, "GET", "/commands/backup", &[("Authorization", &super_auth)], b"").await;
    let third = parse_backup(&r, scratch.path());
    assert_eq!(third.cluster_id, first.cluster_id);
    assert_eq!(cluster_id_file(&data_dir), first.cluster_id);
    assert!(third.zxid >= second.zxid && third.tree.get("/later").is_some());
    assert_eq!(snap_dir_entries(&data_dir), snap_before, "nothing written to the snapshot directory");
    a.server.shutdown().await;
}

/// Sends a backup request and reads only the response head; the body is left unread.
async fn stalled_backup(addr: SocketAddr, auth: &str) -> TcpStream {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = TcpStream::connect(addr).await.expect("admin server accepts");
    let request = format!("GET /commands/backup HTTP/1.1\r\nHost: {addr}\r\nAuthorization: {auth}\r\n\r\n");
    stream.write_all(request.as_bytes()).await.expect("request sent");
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        stream.read_exact(&mut byte).await.expect("response head");
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    assert!(head.starts_with("HTTP/1.1 200 "), "{head}");
    assert!(head.to_ascii_lowercase().contains("transfer-encoding: chunked"), "a body of unknown length: {head}");
    stream
}

/// Incompressible bytes, so that the backup is as large as the data.
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

#[tokio::test]
async fn one_backup_streams_at_a_time_and_a_client_that_leaves_frees_the_slot() {
    let a = durable_server(|_| {}).await;
    let client = connect(&a.server).await;
    // 40 MB: far more than the server's queue (8 MiB) and the socket buffers hold, so a client that reads
    // nothing keeps its backup in flight.
    for i in 0..40 {
        client.create(&format!("/big{i}"), &noise(1_000_000, i), &persistent()).await.expect("create");
    }
    let auth = format!("digest {SUPER_DIGEST_PASSWORD}");
    let stalled = stalled_backup(a.admin, &auth).await;
    let r = http(a.admin, "GET", "/commands/backup", &[("Authorization", &auth)], b"").await;
    assert_eq!(r.status, 429, "{}", r.text());
    let body = r.json();
    assert_eq!(body["command"], "backup");
    assert!(body["error"].as_str().is_some_and(|e| e.contains("another backup")), "{body}");

    drop(stalled);
    let scratch = tempfile::tempdir().expect("temp dir");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let r = loop {
        let r = http(a.admin, "GET", "/commands/backup", &[("Authorization", &auth)], b"").await;
        if r.status != 429 || std::time::Instant::now() > deadline {
            break r;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let backup = parse_backup(&r, scratch.path());
    assert!(r.body.len() > 40_000_000, "{} bytes", r.body.len());
    let (data, _) = client.get_data("/big39").await.expect("get");
    assert_eq!(backup.tree.get("/big39").and_then(|n| n.data()), Some(data.as_slice()));
    drop(client);
    a.server.shutdown().await;
}

#[tokio::test]
async fn backup_is_refused_without_a_data_dir_or_when_snapshots_are_disabled() {
    let super_auth = format!("digest {SUPER_DIGEST_PASSWORD}");
    let auth = [("Authorization", super_auth.as_str())];
    let a = memory_server(|_| {}).await;
    let r = http(a.admin, "GET", "/commands/backup", &auth, b"").await;
    assert_eq!(r.status, 503, "{}", r.text());
    assert!(r.json()["error"].as_str().is_some_and(|e| e.contains("memory")), "{}", r.text());
    a.server.shutdown().await;

    let a = durable_server(|c| c.admin_snapshot_enabled = false).await;
    let r = http(a.admin, "GET", "/commands/backup", &auth, b"").await;
    assert_eq!(r.status, 503, "{}", r.text());
    assert!(r.json()["error"].as_str().is_some_and(|e| e.contains("admin.snapshot.enabled")), "{}", r.text());
    a.server.shutdown().await;
}

/// A member of a two-server ensemble with its admin server on `admin_port`.
async fn start_member(data: &Path, my_id: u64, servers: &str, admin_port: u16) -> anyhow::Result<RunningServer> {
    std::fs::write(data.join("myid"), format!("{my_id}\n")).expect("myid");
    let (parsed, _) = ServerConfig::parse(servers).expect("server lines parse");
    let mut config = config(admin_port);
    config.data_dir = data.to_path_buf();
    config.quorum = parsed.quorum;
    config.tick_time_ms = 200;
    paddock_server::start_durable(config).await
}

#[tokio::test]
async fn a_member_is_not_serving_backups_until_its_ensemble_runs_then_names_the_ensembles_cluster_id() {
    let dirs = [tempfile::tempdir().expect("temp dir"), tempfile::tempdir().expect("temp dir")];
    let (peers, admins) = ([free_port(), free_port()], [free_port(), free_port()]);
    let servers =
        format!("server.1=127.0.0.1:{}:{}\nserver.2=127.0.0.1:{}:{}\n", peers[0], free_port(), peers[1], free_port());
    let auth = format!("digest {SUPER_DIGEST_PASSWORD}");
    let auth = [("Authorization", auth.as_str())];

    // Alone, the first member has no quorum: it does not serve, and says so as `snapshot` would.
    let first = start_member(dirs[0].path(), 1, &servers, admins[0]).await.expect("member 1 starts");
    let admin1 = SocketAddr::from(([127, 0, 0, 1], admins[0]));
    let r = http(admin1, "GET", "/commands/backup", &auth, b"").await;
    assert_eq!(r.status, 200, "{}", r.text());
    let body = r.json();
    assert_eq!((body["command"].as_str(), body["error"].as_str()), (Some("backup"), Some(NOT_SERVING)), "{body}");

    let second = start_member(dirs[1].path(), 2, &servers, admins[1]).await.expect("member 2 starts");
    let scratch = tempfile::tempdir().expect("temp dir");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let r = loop {
        let r = http(admin1, "GET", "/commands/backup", &auth, b"").await;
        if r.header("content-type") == Some("application/octet-stream") || std::time::Instant::now() > deadline {
            break r;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(r.header("content-type"), Some("application/octet-stream"), "{}", r.text());
    let client = connect(&first).await;
    client.create("/m", b"member", &persistent()).await.expect("create");
    let r = http(admin1, "GET", "/commands/backup", &auth, b"").await;
    let backup = parse_backup(&r, scratch.path());
    assert_eq!(backup.tree.get("/m").and_then(|n| n.data()), Some(&b"member"[..]));
    drop(client);
    // The members share the id their first leader wrote into the log, and each has adopted it in its file.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let ids = loop {
        let ids = [cluster_id_file(dirs[0].path()), cluster_id_file(dirs[1].path())];
        if ids[0] == ids[1] || std::time::Instant::now() > deadline {
            break ids;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(ids[0], ids[1], "one cluster id for the ensemble");
    assert_eq!(backup.cluster_id, ids[0]);
    assert!(backup.tree.get("/zookeeper/config").is_some(), "a member's tree");
    assert!(snap_dir_entries(dirs[0].path()).is_empty(), "nothing written to a standalone snapshot directory");
    second.shutdown().await;
    first.shutdown().await;
}
