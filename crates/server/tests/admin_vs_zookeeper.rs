//! Paddock's AdminServer against Apache ZooKeeper 3.8's real one (Jetty, on Debian's jars): after the same
//! client traffic on both, every command ZooKeeper lists is fetched from both under every name, and the
//! JSON must agree key by key at every depth, type by type (integer and float apart), and value by value
//! wherever the traffic determines the value. What may differ is listed below with the reason.
//!
//! Paddock also has ZooKeeper 3.9's `snapshot` and `restore`, which 3.8 does not, and its own `backup`:
//! `admin.rs` tests them.

mod common;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::Duration;

use common::{COMMANDS, HttpResponse, PADDOCK_COMMANDS, get, http};
use paddock_server::{RunningServer, ServerConfig};
use paddock_testkit::{ZooKeeperProcess, free_port};
use serde_json::{Map, Value};
use zookeeper_client as zk;

/// ZooKeeper 3.8's commands: 3.9's without the two 3.8 lacks. The primary names are checked against the
/// `/commands` page of the running ZooKeeper.
fn commands_3_8() -> Vec<&'static [&'static str]> {
    COMMANDS.iter().copied().filter(|names| !ONLY_IN_3_9.contains(&names[0])).collect()
}

/// Paddock's commands from ZooKeeper 3.9 that 3.8 does not have (on the `/commands` page too).
const ONLY_IN_3_9: &[&str] = &["restore", "snapshot"];

/// Requests beyond one plain GET per name: arguments, and names no command has. The first element is
/// the name the rules below know the answer by.
const MORE_REQUESTS: &[(&str, &str)] = &[
    ("set_trace_mask", "/commands/set_trace_mask?traceMask=12"),
    ("get_trace_mask", "/commands/gtmk"),
    ("set_trace_mask", "/commands/stmk?traceMask=abc"),
    ("set_trace_mask", "/commands/stmk?traceMask=306"),
    ("monitor", "/commands/mntr?ignored=argument"),
    ("unknown", "/commands/nope"),
    ("unknown", "/commands/ruok/more"),
];

/// Values compared by JSON type only: (path, why). A path is the command's primary name, then the keys
/// down to the value; `[]` is any array element and `*` any run of characters within one key.
const SHAPE_ONLY: &[(&str, &str)] = &[
    ("*/version", "ZooKeeper's build string vs Paddock's (3.9-compatible) one"),
    ("configuration/client_port", "each server listens on its own free port"),
    ("configuration/data_dir", "each server has its own temp dir (ZooKeeper adds version-2)"),
    ("configuration/data_log_dir", "each server has its own temp dir (ZooKeeper adds version-2)"),
    ("*/connections/[]/remote_socket_address", "the clients' ephemeral ports"),
    ("*/connections/[]/established", "wall-clock time of the connect"),
    ("*/connections/[]/last_response_time", "wall-clock time"),
    ("*/connections/[]/*_latency", "measured time"),
    ("dirs/*", "bytes of each server's own file formats (and ZooKeeper's start-up snapshot)"),
    ("environment/zookeeper.version", "ZooKeeper's build string vs Paddock's"),
    ("environment/host.name", "Java asks DNS for the canonical name, Paddock reads the kernel's hostname"),
    ("environment/java.*", "the JVM's own properties; Paddock, a native process, says <NA>"),
    ("environment/os.memory.*", "the JVM heap; Paddock, a native process, says <NA>"),
    ("environment/user.dir", "each server's working directory"),
    ("hash/digests/[]/digest", "Paddock's digest is its own function of the tree (docs/compatibility.md)"),
    ("hash/digests/[]/digest_version", "Paddock's digest is its own function of the tree (docs/compatibility.md)"),
    ("last_snapshot/*", "ZooKeeper snapshots at start-up (zxid 0), Paddock only after snapCount writes"),
    ("monitor/uptime", "measured time"),
    ("monitor/*latency*", "measured time (and ZooKeeper pipeline stages Paddock does not have); counts: EXACT"),
    ("monitor/*_time", "measured time"),
    ("monitor/*_time_ms", "measured time"),
    ("monitor/*fsynctime", "measured time (the count may differ as ZooKeeper batches syncs)"),
    ("monitor/*dbinittime", "ZooKeeper's start-up database load, which Paddock does not time"),
    ("monitor/*snapshottime", "ZooKeeper snapshots at start-up, Paddock does not"),
    ("monitor/*sync_processor*", "ZooKeeper pipeline stage Paddock does not have (reported as 0)"),
    ("monitor/*prep_process*", "ZooKeeper pipeline stage Paddock does not have (reported as 0)"),
    ("monitor/*connection_token_deficit", "ZooKeeper connection throttling Paddock does not have (0)"),
    ("monitor/outstanding_changes_*", "ZooKeeper pipeline counter Paddock does not have (reported as 0)"),
    ("monitor/response_packet_*", "ZooKeeper's response cache, which Paddock does not have (0)"),
    ("monitor/*_file_descriptor_count", "each process's own descriptors, and the JVM raises its limit"),
    (
        "monitor/connection_drop_count",
        "both count a client closing its socket before the server closes it, which after closeSession is a race \
         that load decides (compared exactly in crates/paddock/tests/fourlw.rs, where it is not)",
    ),
    ("*/server_stats/uptime", "measured time"),
    ("*/server_stats/*_latency", "measured time"),
    ("*/server_stats/*_dir_size", "bytes of each server's own file formats"),
];

/// Values compared exactly although a [`SHAPE_ONLY`] rule covers their neighbours: (path, why).
const EXACT: &[(&str, &str)] = &[
    ("monitor/cnt_readlatency", "requests answered without the log, pings included"),
    ("monitor/cnt_updatelatency", "requests through the log, createSession and closeSession included"),
];

/// Keys only Paddock has: (path, why).
const PADDOCK_ONLY: &[(&str, &str)] = &[(
    "monitor/paddock_*",
    "Paddock's own metrics (zk_paddock_* in mntr, whose zk_ the JSON drops), prefixed so that no ZooKeeper tool mistakes them",
)];

/// Objects whose keys are not ZooKeeper's names but data that differs between the servers, rewritten on
/// both sides before comparing: (path, why).
const REWRITTEN: &[(&str, &str)] = &[
    ("dump/expiry_time_to_session_ids", "keyed by expiry time on each server's clock: sessions compared"),
    ("initial_configuration/initial_configuration", "the zoo.cfg text, whose ports and dataDir differ"),
    ("system_properties", "the JVM's properties: Paddock has no JVM, so only 'every value a string'"),
];

// ---- the two servers and their traffic --------------------------------------------------------------

struct Pair {
    zookeeper: ZooKeeperProcess,
    zookeeper_admin: SocketAddr,
    paddock: RunningServer,
    paddock_admin: SocketAddr,
    _paddock_dir: tempfile::TempDir,
}

/// ZooKeeper with its AdminServer, and an in-process Paddock reading the same zoo.cfg (its own dataDir
/// and ports substituted), so that configuration answers are comparable.
async fn start_pair() -> Pair {
    let zookeeper = tokio::task::spawn_blocking(|| ZooKeeperProcess::start_with_admin(&[]))
        .await
        .expect("start task")
        .expect("Apache ZooKeeper starts with its AdminServer");
    let zookeeper_admin = zookeeper.admin_addr().expect("ZooKeeper's admin port");
    let dir = tempfile::tempdir().expect("temp dir");
    let admin_port = free_port();
    let zoo_cfg = std::fs::read_to_string(zookeeper.dir().join("zoo.cfg")).expect("ZooKeeper's zoo.cfg");
    let ours = paddock_zoo_cfg(&zoo_cfg, &dir.path().join("data").display().to_string(), admin_port);
    let path = dir.path().join("zoo.cfg");
    std::fs::write(&path, ours).expect("write zoo.cfg");
    let (config, _warnings) = ServerConfig::load(&path).expect("Paddock reads ZooKeeper's zoo.cfg");
    let paddock = paddock_server::start_durable(config).await.expect("Paddock starts");
    let paddock_admin = SocketAddr::from(([127, 0, 0, 1], admin_port));
    Pair { zookeeper, zookeeper_admin, paddock, paddock_admin, _paddock_dir: dir }
}

fn paddock_zoo_cfg(zoo_cfg: &str, data_dir: &str, admin_port: u16) -> String {
    zoo_cfg
        .lines()
        .map(|line| match line.split_once('=') {
            Some(("dataDir", _)) => format!("dataDir={data_dir}\n"),
            Some(("clientPort", _)) => "clientPort=0\n".to_string(),
            Some(("admin.serverPort", _)) => format!("admin.serverPort={admin_port}\n"),
            _ => format!("{line}\n"),
        })
        .collect()
}

/// Two sessions with an ephemeral, a data, a child, an exists and a persistent watch, and enough writes
/// (past zxid 128) for a digest log entry.
struct Traffic {
    clients: Vec<zk::Client>,
    _oneshot: Vec<zk::OneshotWatcher>,
    _persistent: zk::PersistentWatcher,
}

impl Traffic {
    fn sessions(&self) -> Vec<i64> {
        self.clients.iter().map(|c| c.session_id().0).collect()
    }
}

/// `zookeeper-client` pings once on connecting, then after min(10 s, a third of this) without sending:
/// no ping while the test runs, so packet counts depend on the traffic alone.
const SESSION_TIMEOUT: Duration = Duration::from_secs(30);

async fn connect(addr: &str) -> zk::Client {
    zk::Client::connector().with_session_timeout(SESSION_TIMEOUT).connect(addr).await.expect("client connects")
}

async fn make_traffic(addr: &str) -> Traffic {
    let persistent = zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all());
    let ephemeral = zk::CreateMode::Ephemeral.with_acls(zk::Acls::anyone_all());
    let a = connect(addr).await;
    let b = connect(addr).await;
    a.create("/app", b"root", &persistent).await.expect("create");
    a.create("/app/config", b"v1", &persistent).await.expect("create");
    a.create("/app/eph", b"", &ephemeral).await.expect("create ephemeral");
    for i in 0..130 {
        a.create(&format!("/app/bulk{i:03}"), b"x", &persistent).await.expect("create");
    }
    a.set_data("/app/config", b"v2", None).await.expect("set");
    let (_, _, data_watch) = a.get_and_watch_data("/app/config").await.expect("data watch");
    let (_, _, child_watch) = b.get_and_watch_children("/app").await.expect("child watch");
    let (_, exists_watch) = b.check_and_watch_stat("/app/missing").await.expect("exists watch");
    let persistent_watch = b.watch("/app/bulk000", zk::AddWatchMode::Persistent).await.expect("persistent watch");
    Traffic {
        clients: vec![a, b],
        _oneshot: vec![data_watch, child_watch, exists_watch],
        _persistent: persistent_watch,
    }
}

// ---- JSON comparison ---------------------------------------------------------------------------------

/// A `*` in a pattern matches any run of characters except `/`.
fn glob(pattern: &str, text: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == text,
        Some((prefix, rest)) => {
            let Some(text) = text.strip_prefix(prefix) else { return false };
            text.char_indices()
                .map(|(i, _)| i)
                .chain([text.len()])
                .take_while(|i| !text[..*i].contains('/'))
                .any(|i| glob(rest, &text[i..]))
        }
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float",
        Value::Number(_) => "integer",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// What the comparison found, and which rules it used (a rule nothing needs is stale).
#[derive(Default)]
struct Report {
    differences: Vec<String>,
    used: BTreeSet<&'static str>,
}

impl Report {
    fn rule(&mut self, rules: &[(&'static str, &'static str)], path: &str) -> bool {
        match rules.iter().find(|(pattern, _)| glob(pattern, path)) {
            Some((pattern, _)) => {
                self.used.insert(pattern);
                true
            }
            None => false,
        }
    }

    fn differ(&mut self, text: String) {
        self.differences.push(text);
    }
}

/// One server's answer made comparable: session ids named by their order of creation, data-keyed
/// objects rewritten, and every shape-only value replaced by its type.
fn normalize(command: &str, body: &Value, sessions: &[i64], report: &mut Report) -> Value {
    let named = name_sessions(body, sessions);
    let rewritten = rewrite(command, named, report);
    mask(command, &rewritten, report)
}

fn session_label(sessions: &[i64], id: i64) -> Option<String> {
    sessions.iter().position(|s| *s == id).map(|i| format!("<session {}>", i + 1))
}

fn name_sessions(value: &Value, sessions: &[i64]) -> Value {
    match value {
        Value::Number(n) => n.as_i64().and_then(|id| session_label(sessions, id)).map_or(value.clone(), Value::from),
        Value::Array(items) => Value::Array(items.iter().map(|v| name_sessions(v, sessions)).collect()),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| {
                    let key = k.parse::<i64>().ok().and_then(|id| session_label(sessions, id)).unwrap_or(k.clone());
                    (key, name_sessions(v, sessions))
                })
                .collect(),
        ),
        _ => value.clone(),
    }
}

fn rewrite(command: &str, mut body: Value, report: &mut Report) -> Value {
    if report.rule(REWRITTEN, command) {
        return system_properties_shape(&body);
    }
    let Some(map) = body.as_object_mut() else { return body };
    for (key, value) in map.iter_mut() {
        let path = format!("{command}/{key}");
        if report.rule(REWRITTEN, &path) {
            *value = match key.as_str() {
                "expiry_time_to_session_ids" => sessions_by_expiry(value),
                _ => config_text_without_local_values(value),
            };
        }
    }
    body
}

/// `{command, error}` plus whether every other value is a string.
fn system_properties_shape(body: &Value) -> Value {
    let Some(map) = body.as_object() else { return body.clone() };
    let mut out = Map::new();
    let mut all_strings = true;
    for (key, value) in map {
        if key == "command" || key == "error" {
            out.insert(key.clone(), value.clone());
        } else {
            all_strings &= value.is_string();
        }
    }
    out.insert("<every property a string>".into(), all_strings.into());
    Value::Object(out)
}

/// The sessions in any bucket (ZooKeeper keeps emptied buckets until they expire), each key checked to be
/// a time in milliseconds.
fn sessions_by_expiry(value: &Value) -> Value {
    let Some(buckets) = value.as_object() else { return value.clone() };
    let mut sessions: Vec<Value> = Vec::new();
    for (time, ids) in buckets {
        if time.parse::<u64>().is_err() {
            return value.clone();
        }
        sessions.extend(ids.as_array().cloned().unwrap_or_default());
    }
    Value::Array(sessions)
}

fn config_text_without_local_values(value: &Value) -> Value {
    let Some(text) = value.as_str() else { return value.clone() };
    let lines: String = text
        .lines()
        .map(|line| match line.split_once('=') {
            Some((key @ ("dataDir" | "clientPort" | "admin.serverPort"), _)) => format!("{key}=<local>\n"),
            _ => format!("{line}\n"),
        })
        .collect();
    Value::String(lines)
}

fn mask(path: &str, value: &Value, report: &mut Report) -> Value {
    match value {
        Value::Object(map) => {
            Value::Object(map.iter().map(|(k, v)| (k.clone(), mask(&format!("{path}/{k}"), v, report))).collect())
        }
        Value::Array(items) => {
            let element = format!("{path}/[]");
            Value::Array(items.iter().map(|v| mask(&element, v, report)).collect())
        }
        leaf if report.rule(EXACT, path) => leaf.clone(),
        leaf if report.rule(SHAPE_ONLY, path) => Value::String(format!("<{}>", kind(leaf))),
        leaf => leaf.clone(),
    }
}

/// Compares two normalized answers. Array order is not compared: ZooKeeper fills most arrays from hash
/// sets.
fn compare(path: &str, zookeeper: &Value, paddock: &Value, report: &mut Report) {
    match (zookeeper, paddock) {
        (Value::Object(z), Value::Object(p)) => {
            for (key, z_value) in z {
                let inner = format!("{path}/{key}");
                match p.get(key) {
                    Some(p_value) => compare(&inner, z_value, p_value, report),
                    None => report.differ(format!("{inner}: missing from Paddock (ZooKeeper: {z_value})")),
                }
            }
            for (key, p_value) in p {
                let inner = format!("{path}/{key}");
                if !z.contains_key(key) && !report.rule(PADDOCK_ONLY, &inner) {
                    report.differ(format!("{inner}: only Paddock has it ({p_value})"));
                }
            }
        }
        (Value::Array(z), Value::Array(p)) if z.len() == p.len() => {
            let sorted = |items: &[Value]| {
                let mut items = items.to_vec();
                items.sort_by_key(Value::to_string);
                items
            };
            for (z_item, p_item) in sorted(z).iter().zip(sorted(p).iter()) {
                compare(&format!("{path}/[]"), z_item, p_item, report);
            }
        }
        _ if kind(zookeeper) != kind(paddock) => report.differ(format!(
            "{path}: ZooKeeper's {} {zookeeper} vs Paddock's {} {paddock}",
            kind(zookeeper),
            kind(paddock)
        )),
        _ if zookeeper != paddock => report.differ(format!("{path}: ZooKeeper {zookeeper} vs Paddock {paddock}")),
        _ => {}
    }
}

// ---- fetching from both -------------------------------------------------------------------------------

struct Sessions {
    zookeeper: Vec<i64>,
    paddock: Vec<i64>,
}

/// GETs `uri` from both servers and compares status, `Content-Type` and the JSON.
async fn compare_request(pair: &Pair, command: &str, uri: &str, sessions: &Sessions, report: &mut Report) {
    let z = get(pair.zookeeper_admin, uri).await;
    let p = get(pair.paddock_admin, uri).await;
    compare_http(uri, &z, &p, report);
    let z_json = normalize(command, &z.json(), &sessions.zookeeper, report);
    let p_json = normalize(command, &p.json(), &sessions.paddock, report);
    let before = report.differences.len();
    compare(command, &z_json, &p_json, report);
    for difference in &mut report.differences[before..] {
        *difference = format!("GET {uri}: {difference}");
    }
}

fn compare_http(what: &str, z: &HttpResponse, p: &HttpResponse, report: &mut Report) {
    if z.status != p.status {
        report.differ(format!("{what}: status {} from ZooKeeper, {} from Paddock", z.status, p.status));
    }
    let (z_type, p_type) = (z.header("content-type"), p.header("content-type"));
    if z_type != p_type {
        report.differ(format!("{what}: Content-Type {z_type:?} from ZooKeeper, {p_type:?} from Paddock"));
    }
}

fn assert_same(report: Report) {
    assert!(
        report.differences.is_empty(),
        "Paddock's AdminServer differs from ZooKeeper 3.8's:\n  {}",
        report.differences.join("\n  ")
    );
}

/// Primary names from a `/commands` page, in its order.
fn listed_commands(page: &str) -> Vec<String> {
    page.lines()
        .filter_map(|line| line.strip_prefix("<a href=\"/commands/"))
        .filter_map(|rest| rest.split_once('"'))
        .map(|(name, _)| name.to_string())
        .collect()
}

// ---- tests ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn every_command_answers_the_json_zookeeper_answers() {
    let pair = start_pair().await;
    // The testkit's readiness probes went through ZooKeeper's counters: both start the traffic from zero.
    for admin in [pair.zookeeper_admin, pair.paddock_admin] {
        assert_eq!(get(admin, "/commands/stat_reset").await.status, 200);
    }
    let zookeeper_traffic = make_traffic(&pair.zookeeper.addr()).await;
    let paddock_traffic = make_traffic(&pair.paddock.client_addr.to_string()).await;
    let sessions = Sessions { zookeeper: zookeeper_traffic.sessions(), paddock: paddock_traffic.sessions() };

    let mut listed = listed_commands(&get(pair.zookeeper_admin, "/commands").await.text());
    listed.sort();
    let commands = commands_3_8();
    let mut known: Vec<&str> = commands.iter().map(|names| names[0]).collect();
    known.sort();
    assert_eq!(listed, known, "ZooKeeper 3.8's commands");

    let mut report = Report::default();
    for names in commands {
        for name in names {
            compare_request(&pair, names[0], &format!("/commands/{name}"), &sessions, &mut report).await;
        }
    }
    for (command, uri) in MORE_REQUESTS {
        compare_request(&pair, command, uri, &sessions, &mut report).await;
    }
    let rules = SHAPE_ONLY.iter().chain(EXACT).chain(PADDOCK_ONLY).chain(REWRITTEN);
    let stale: Vec<&str> = rules.map(|(pattern, _)| *pattern).filter(|p| !report.used.contains(p)).collect();
    if !stale.is_empty() {
        report.differ(format!("rules no answer needed (remove them): {stale:?}"));
    }
    assert_same(report);

    assert_same(counters_after_reset(&pair, &zookeeper_traffic, &paddock_traffic, &sessions).await);
    assert_same(counters_after_a_session_closes(&pair, &sessions).await);
    drop((zookeeper_traffic, paddock_traffic));
    pair.paddock.shutdown().await;
}

/// The counters again, after `srst`/`crst` and the same reads on both servers (nothing else talks to them:
/// the sessions are too young to ping): packets, bytes, response sizes, read counts per namespace, and
/// each connection's last operation, cxid and zxid.
async fn counters_after_reset(pair: &Pair, zookeeper: &Traffic, paddock: &Traffic, sessions: &Sessions) -> Report {
    for (admin, traffic) in [(pair.zookeeper_admin, zookeeper), (pair.paddock_admin, paddock)] {
        get(admin, "/commands/srst").await;
        get(admin, "/commands/crst").await;
        for client in &traffic.clients {
            for _ in 0..3 {
                client.get_data("/app/config").await.expect("get");
            }
            client.get_children("/app").await.expect("children");
            client.check_stat("/app/missing").await.expect("exists");
        }
    }
    settle().await;
    compare_counters(pair, sessions).await
}

/// A third session creates an ephemeral node (firing the child watch: a notification) and closes, which
/// deletes the node: notification bytes, and a write per namespace ZooKeeper counts when a session closes.
async fn counters_after_a_session_closes(pair: &Pair, sessions: &Sessions) -> Report {
    let servers =
        [(pair.zookeeper_admin, pair.zookeeper.addr()), (pair.paddock_admin, pair.paddock.client_addr.to_string())];
    for (admin, addr) in servers {
        get(admin, "/commands/srst").await;
        let client = connect(&addr).await;
        let ephemeral = zk::CreateMode::Ephemeral.with_acls(zk::Acls::anyone_all());
        client.create("/app/closing", b"bye", &ephemeral).await.expect("create ephemeral");
        // Dropping the only handle closes the session.
        drop(client);
        wait_for_ephemerals(admin, 1).await;
    }
    settle().await;
    compare_counters(pair, sessions).await
}

/// ZooKeeper adds a reply to `response_bytes` just after queueing it: give the last one time to land.
async fn settle() {
    tokio::time::sleep(Duration::from_millis(300)).await;
}

async fn wait_for_ephemerals(admin: SocketAddr, count: u64) {
    for _ in 0..100 {
        if get(admin, "/commands/mntr").await.json()["ephemerals_count"] == count {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{admin}: the closed session's ephemeral node is still there");
}

async fn compare_counters(pair: &Pair, sessions: &Sessions) -> Report {
    let mut report = Report::default();
    for (command, uri) in
        [("connections", "/commands/cons"), ("stats", "/commands/stat"), ("monitor", "/commands/mntr")]
    {
        compare_request(pair, command, uri, sessions, &mut report).await;
    }
    report
}

#[tokio::test]
async fn the_http_layer_answers_as_zookeeper_does() {
    let pair = start_pair().await;
    let mut report = Report::default();
    let (z, p) = (pair.zookeeper_admin, pair.paddock_admin);

    // The command list: the same links in the same order, plus 3.9's commands and Paddock's own in Paddock's.
    for uri in ["/commands", "/commands/"] {
        let (zr, pr) = (get(z, uri).await, get(p, uri).await);
        compare_http(uri, &zr, &pr, &mut report);
        let only_3_9 = |line: &&str| {
            let paddock_only = PADDOCK_COMMANDS.iter().map(|names| names[0]);
            ONLY_IN_3_9.iter().copied().chain(paddock_only).any(|c| line.contains(&format!("\"/commands/{c}\"")))
        };
        let paddock_page = pr.text();
        let paddock_lines: Vec<&str> = paddock_page.lines().collect();
        let mut kept = Vec::new();
        let mut lines = paddock_lines.iter();
        while let Some(line) = lines.next() {
            if only_3_9(line) {
                assert_eq!(lines.next(), Some(&"<br/>"), "{uri}: a 3.9 link without its <br/>");
            } else {
                kept.push(*line);
            }
        }
        let kept: String = kept.iter().map(|l| format!("{l}\n")).collect();
        if kept != zr.text() {
            report.differ(format!("{uri}: ZooKeeper's page\n{}\nPaddock's\n{}", zr.text(), pr.text()));
        }
        let listed = listed_commands(&pr.text());
        assert!(ONLY_IN_3_9.iter().all(|c| listed.iter().any(|l| l == c)), "{uri}: Paddock lists {listed:?}");
    }

    // HEAD is GET without the body: same status, type and length.
    for uri in ["/commands/ruok", "/commands/nope", "/commands"] {
        let (zr, pr) = (http(z, "HEAD", uri, &[], b"").await, http(p, "HEAD", uri, &[], b"").await);
        compare_http(&format!("HEAD {uri}"), &zr, &pr, &mut report);
        for (server, head, admin) in [("ZooKeeper", &zr, z), ("Paddock", &pr, p)] {
            let length = get(admin, uri).await.body.len().to_string();
            if head.header("content-length") != Some(length.as_str()) {
                report.differ(format!("HEAD {uri}: {server}'s Content-Length is not its GET body's {length}"));
            }
        }
    }

    // Other methods are refused with 405. ZooKeeper's refusal is Jetty's HTML error page (or nothing),
    // Paddock's the usual JSON for a command (docs/compatibility.md).
    for (method, uri) in [
        ("POST", "/commands/ruok"),
        ("POST", "/commands/mntr"),
        ("PUT", "/commands/ruok"),
        ("DELETE", "/commands/ruok"),
        ("POST", "/commands"),
        ("PUT", "/commands"),
    ] {
        let (zr, pr) = (http(z, method, uri, &[], b"").await, http(p, method, uri, &[], b"").await);
        if (zr.status, pr.status) != (405, 405) {
            report.differ(format!("{method} {uri}: status {} from ZooKeeper, {} from Paddock", zr.status, pr.status));
        }
        if uri != "/commands" {
            let body = pr.json();
            assert!(body["command"].is_string() && body["error"].is_string(), "{method} {uri}: {body}");
        }
    }

    // Paths outside the command URL are Jetty's 404.
    let (zr, pr) = (get(z, "/elsewhere").await, get(p, "/elsewhere").await);
    if zr.status != pr.status {
        report.differ(format!("/elsewhere: status {} from ZooKeeper, {} from Paddock", zr.status, pr.status));
    }
    assert_same(report);
    pair.paddock.shutdown().await;
}

#[test]
fn globs_match_within_one_key() {
    assert!(glob("monitor/*_time", "monitor/max_election_time"));
    assert!(!glob("monitor/*_time", "monitor/max_election_time_ms"));
    assert!(glob("*/connections/[]/*_latency", "stats/connections/[]/avg_latency"));
    assert!(!glob("dirs/*", "dirs/a/b"));
    assert!(glob("dirs/*", "dirs/datadir_size"));
}
