//! kill -9 loop: concurrent writers record every acknowledged write while the server is killed with
//! SIGKILL at random moments and restarted. After every restart, every acknowledged write must be there
//! with the right data and version, and no multi may be half-applied.
//!
//! `PADDOCK_CRASH_CYCLES=N` runs more cycles (default 30):
//! `PADDOCK_CRASH_CYCLES=500 cargo test -p paddock --test it crash:: -- --nocapture`

use std::collections::HashMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::Rng;
use tokio::sync::oneshot;
use zookeeper_client as zk;

const WRITERS: usize = 8;
/// How long the writers may take to open their sessions (a hang detector, not a pace).
const CONNECT_LIMIT: Duration = Duration::from_secs(30);

struct Server {
    child: Child,
    port: u16,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("free port")
}

fn start(data_dir: &Path, port: u16) -> Server {
    let cfg = data_dir.join("zoo.cfg");
    std::fs::write(
        &cfg,
        format!(
            "tickTime=500\nclientPortAddress=127.0.0.1\nclientPort={port}\ndataDir={}\nadmin.enableServer=false\nsnapCount=300\n",
            data_dir.display()
        ),
    )
    .expect("write zoo.cfg");
    let log =
        std::fs::OpenOptions::new().create(true).append(true).open(data_dir.join("server.log")).expect("log file");
    let mut child = Command::new(env!("CARGO_BIN_EXE_paddock"))
        .args(["server", "--config"])
        .arg(&cfg)
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("spawn paddock");
    for _ in 0..200 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Server { child, port };
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    let _ = child.kill();
    let _ = child.wait();
    let log = std::fs::read_to_string(data_dir.join("server.log")).unwrap_or_default();
    panic!("paddock did not start within 5s; log:\n{log}");
}

impl Server {
    fn kill9(mut self) {
        // Child::kill sends SIGKILL on Unix.
        self.child.kill().expect("kill -9");
        let _ = self.child.wait();
    }
}

async fn connect(port: u16) -> zk::Client {
    zk::Client::connector()
        .with_session_timeout(Duration::from_secs(30))
        .with_fail_eagerly()
        .connect(&format!("127.0.0.1:{port}"))
        .await
        .expect("connect")
}

fn open() -> zk::CreateOptions<'static> {
    zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all())
}

/// What a writer knows was acknowledged.
#[derive(Default, Clone)]
struct Acked {
    /// Highest acknowledged counter written to the writer's node with set_data (data = counter, version = counter).
    set: i32,
    /// Children created and acknowledged.
    children: Vec<String>,
    /// Multi pairs acknowledged.
    pairs: Vec<u32>,
}

/// Writes until the first error; says on `connected` once its session is open.
async fn writer(
    port: u16,
    id: usize,
    acked: Arc<Mutex<HashMap<usize, Acked>>>,
    mut round: u32,
    connected: oneshot::Sender<()>,
) {
    let client = connect(port).await;
    let _ = connected.send(());
    let path = format!("/crash/w{id}");
    loop {
        round += 1;
        let next = acked.lock().map(|a| a.get(&id).map(|x| x.set).unwrap_or(0)).unwrap_or(0) + 1;
        match client.set_data(&path, next.to_string().as_bytes(), Some(next - 1)).await {
            Ok(stat) => {
                assert_eq!(stat.version, next, "version follows acknowledged sets");
                if let Ok(mut a) = acked.lock() {
                    a.entry(id).or_default().set = next;
                }
            }
            Err(_) => return,
        }
        let child = format!("{path}/c{round}");
        if client.create(&child, b"c", &open()).await.is_err() {
            return;
        }
        if let Ok(mut a) = acked.lock() {
            a.entry(id).or_default().children.push(child);
        }
        let mut multi = client.new_multi_writer();
        let (a_path, b_path) = (format!("{path}/p{round}a"), format!("{path}/p{round}b"));
        multi.add_create(&a_path, b"", &open()).expect("op");
        multi.add_create(&b_path, b"", &open()).expect("op");
        if multi.commit().await.is_err() {
            return;
        }
        if let Ok(mut a) = acked.lock() {
            a.entry(id).or_default().pairs.push(round);
        }
    }
}

async fn verify(port: u16, acked: &HashMap<usize, Acked>) {
    let client = connect(port).await;
    for (id, a) in acked {
        let path = format!("/crash/w{id}");
        let (data, stat) = client.get_data(&path).await.expect("writer node survives");
        let value: i32 = String::from_utf8_lossy(&data).parse().expect("data is a counter");
        assert!(value >= a.set, "{path}: acknowledged set {} lost (found {value})", a.set);
        assert_eq!(stat.version, value, "{path}: data and version move together");
        let children: std::collections::HashSet<String> =
            client.list_children(&path).await.expect("children").into_iter().collect();
        for child in &a.children {
            let name = child.rsplit('/').next().unwrap_or_default();
            assert!(children.contains(name), "acknowledged create {child} lost");
        }
        for pair in &a.pairs {
            assert!(children.contains(&format!("p{pair}a")), "acknowledged multi {pair} lost");
        }
        for child in &children {
            if let Some(rest) = child.strip_prefix('p') {
                let round = rest.trim_end_matches(['a', 'b']);
                let twin_a = children.contains(&format!("p{round}a"));
                let twin_b = children.contains(&format!("p{round}b"));
                assert!(twin_a && twin_b, "multi p{round} half-applied");
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_survive_kill_9() {
    let cycles: usize = std::env::var("PADDOCK_CRASH_CYCLES").ok().and_then(|v| v.parse().ok()).unwrap_or(30);
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let server = start(dir.path(), port);
    {
        let client = connect(port).await;
        client.create("/crash", b"", &open()).await.expect("root");
        for id in 0..WRITERS {
            client.create(&format!("/crash/w{id}"), b"0", &open()).await.expect("writer node");
        }
    }
    let acked: Arc<Mutex<HashMap<usize, Acked>>> =
        Arc::new(Mutex::new((0..WRITERS).map(|i| (i, Acked::default())).collect()));
    let mut server = Some(server);
    for cycle in 0..cycles {
        let Some(running) = server.take() else { unreachable!("server present") };
        let mut connected = Vec::new();
        let writers: Vec<_> = (0..WRITERS)
            .map(|id| {
                let (tx, rx) = oneshot::channel();
                connected.push(rx);
                tokio::spawn(writer(running.port, id, acked.clone(), (cycle as u32) * 100_000, tx))
            })
            .collect();
        // The kill comes at a random moment of the writing, not of the connecting: with the cores busy, opening
        // eight sessions can take longer than the whole delay, and a kill before a writer's session is open
        // fails its connect instead of interrupting its writes.
        for rx in connected {
            let opened = tokio::time::timeout(CONNECT_LIMIT, rx).await;
            assert!(matches!(opened, Ok(Ok(()))), "every writer opens its session within {CONNECT_LIMIT:?}");
        }
        let delay = rand::rng().random_range(100..600);
        tokio::time::sleep(Duration::from_millis(delay)).await;
        running.kill9();
        for w in writers {
            w.await.expect("writer saw a wrong version in an acknowledged reply");
        }
        let restarted = start(dir.path(), port);
        let snapshot = acked.lock().expect("lock").clone();
        verify(restarted.port, &snapshot).await;
        server = Some(restarted);
    }
    let total: i32 = acked.lock().expect("lock").values().map(|a| a.set).sum();
    assert!(total > 0, "writers made progress");
    if let Some(s) = server {
        s.kill9();
    }
}
