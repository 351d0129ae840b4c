//! Abuse (issue 12, docs/security.md §5): idle connections by the thousand, slowloris handshakes, lying and
//! oversized length prefixes, clients that pipeline and never read, a flood of watches, and the connection
//! caps. Throughout, a well-behaved client keeps being answered (its latency is printed; only a generous
//! hang bound is asserted) and the server's resident memory stays under a stated bound.

use std::io::Write;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use paddock_proto::{CreateMode, ErrorCode, PathWatchRequest, Request};
use paddock_testkit::PaddockProcess;

use crate::raw::{Raw, eventually};

/// A request a well-behaved client waits longer than this for is a hang, not slowness.
const HANG: Duration = Duration::from_secs(20);
/// The server's resident memory under every abuse here. An idle server is ~20 MiB; the worst case the
/// limits allow for these tests is far below this, while 1,000 lying 1 MiB prefixes honoured would pass it.
const RSS_BOUND_KIB: u64 = 512 * 1024;

/// `VmRSS` of process `pid`, in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("read /proc/<pid>/status");
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).expect("VmRSS line");
    line.split_whitespace().nth(1).and_then(|kib| kib.parse().ok()).expect("VmRSS value")
}

/// One `exists` by a fresh well-behaved session: asserts it is answered within [`HANG`], prints its latency.
fn well_behaved_probe(server: &PaddockProcess, what: &str) {
    let started = Instant::now();
    let (mut client, session) = Raw::connect(&server.addr(), (0, &[0; 16]), 30_000, 0);
    assert!(session.is_some(), "{what}: the well-behaved client got no session");
    assert_eq!(client.exists(1, "/"), Some(ErrorCode::Ok), "{what}: exists / failed");
    let took = started.elapsed();
    eprintln!("{what}: a well-behaved client connected and was answered in {took:?}");
    assert!(took < HANG, "{what}: the well-behaved client waited {took:?}");
}

fn check_memory(server: &PaddockProcess, what: &str) {
    let rss = rss_kib(server.pid().expect("server runs"));
    eprintln!("{what}: server RSS {} MiB (bound {} MiB)", rss / 1024, RSS_BOUND_KIB / 1024);
    assert!(rss < RSS_BOUND_KIB, "{what}: server RSS {rss} KiB over {RSS_BOUND_KIB} KiB");
}

/// 10,000 idle connections (the test process and the server each hold 10,000 descriptors: CI's limit is
/// 20,000), slowloris handshakes and 1,000 lying length prefixes at once.
#[test]
fn idle_connections_slowloris_and_lying_prefixes_leave_a_well_behaved_client_served() {
    let server = PaddockProcess::start_with(&[("maxClientCnxns", "0")]).expect("start paddock");
    let addr = server.addr();
    let idle: Vec<TcpStream> = (0..10_000).map(|_| TcpStream::connect(&addr).expect("idle connection")).collect();
    well_behaved_probe(&server, "10,000 idle connections");
    check_memory(&server, "10,000 idle connections");
    // A length prefix announcing ~960 KiB (under jute.maxbuffer) followed by three bytes, 1,000 times: the
    // server must not hold what was announced, only what arrived.
    let lying: Vec<TcpStream> = (0..1_000)
        .map(|_| {
            let mut s = TcpStream::connect(&addr).expect("lying connection");
            s.write_all(&[0, 0x0f, 0, 0, 1, 2, 3]).expect("send a lying prefix");
            s
        })
        .collect();
    // Slowloris: 50 handshakes sent one byte a second for 5 seconds.
    let slow: Vec<std::thread::JoinHandle<()>> = (0..50)
        .map(|_| {
            let addr = addr.clone();
            std::thread::spawn(move || {
                let mut s = TcpStream::connect(&addr).expect("slowloris connection");
                for byte in [0u8, 0, 0, 44, 0] {
                    if s.write_all(&[byte]).is_err() {
                        return;
                    }
                    std::thread::sleep(Duration::from_secs(1));
                }
            })
        })
        .collect();
    for second in 0..3 {
        well_behaved_probe(&server, &format!("slowloris second {second}, 1,000 lying prefixes"));
    }
    for t in slow {
        t.join().expect("slowloris thread");
    }
    check_memory(&server, "10,000 idle connections and 1,000 lying prefixes");
    drop((idle, lying));
}

/// A length prefix over jute.maxbuffer, and a negative one: the connection is closed at once, the server
/// carries on.
#[test]
fn oversized_and_negative_length_prefixes_close_only_their_connection() {
    let server = PaddockProcess::start().expect("start paddock");
    for prefix in [[0x7f, 0xff, 0xff, 0xff], [0, 0x20, 0, 0], [0xff, 0xff, 0xff, 0xfe]] {
        let (mut raw, session) = Raw::connect(&server.addr(), (0, &[0; 16]), 30_000, 0);
        assert!(session.is_some());
        raw.send_bytes(&prefix);
        assert!(raw.closed_within(HANG), "prefix {prefix:?} did not close the connection");
        well_behaved_probe(&server, &format!("after prefix {prefix:?}"));
    }
}

/// Clients that pipeline reads of a 512 KiB node and never read a reply: each is disconnected once its
/// outbox passes paddock.maxOutboxBytes (1 MiB here), logged once with its address, and the server's
/// memory stays bounded.
#[test]
fn clients_that_pipeline_and_never_read_are_disconnected_and_memory_stays_bounded() {
    let server = PaddockProcess::start_with(&[("paddock.maxOutboxBytes", "1MiB")]).expect("start paddock");
    let (mut writer, _) = Raw::connect(&server.addr(), (0, &[0; 16]), 30_000, 0);
    let big = Request::Create {
        op: paddock_proto::OpCode::Create,
        req: paddock_proto::CreateRequest {
            path: "/big".into(),
            data: Some(vec![7; 512 * 1024]),
            acl: paddock_proto::Acl::open_unsafe(),
            flags: CreateMode::Persistent.flags(),
        },
    };
    assert_eq!(writer.call(1, &big), Some(ErrorCode::Ok));
    const GREEDY: usize = 8;
    let mut greedy = Vec::new();
    for _ in 0..GREEDY {
        let (mut raw, session) = Raw::connect(&server.addr(), (0, &[0; 16]), 30_000, 0);
        assert!(session.is_some());
        // 200 replies of 512 KiB = 100 MiB each, far past the socket buffers and the outbox.
        for xid in 1..=200 {
            let get = Request::GetData(PathWatchRequest { path: "/big".into(), watch: false });
            if !raw.send_bytes(&get.encode(xid)) {
                break;
            }
        }
        greedy.push(raw);
    }
    let marker = "client is not reading its replies";
    let disconnected = eventually(|| server.log().matches(marker).count() >= GREEDY);
    let log = server.log();
    let lines: Vec<&str> = log.lines().filter(|l| l.contains(marker)).collect();
    assert!(disconnected, "{} of {GREEDY} non-reading clients disconnected:\n{}", lines.len(), lines.join("\n"));
    assert_eq!(lines.len(), GREEDY, "logged once per connection:\n{}", lines.join("\n"));
    assert!(lines.iter().all(|l| l.contains("127.0.0.1:")), "the log names the peer:\n{}", lines.join("\n"));
    well_behaved_probe(&server, "8 clients pipelining without reading");
    check_memory(&server, "8 clients pipelining without reading");
}

/// A session setting watch after watch: past paddock.maxWatchesPerSession its next watch-setting request
/// gets QuotaExceeded; reads without a watch and other sessions are unaffected.
#[test]
fn a_flood_of_watches_stops_at_max_watches_per_session() {
    let server = PaddockProcess::start_with(&[("paddock.maxWatchesPerSession", "100")]).expect("start paddock");
    let (mut flood, _) = Raw::connect(&server.addr(), (0, &[0; 16]), 30_000, 0);
    let watch = |path: String| Request::Exists(PathWatchRequest { path, watch: true });
    let mut codes = Vec::new();
    for i in 0..1_000 {
        codes.push(flood.call(i + 1, &watch(format!("/w{i}"))).expect("answered"));
    }
    assert!(codes[..100].iter().all(|c| *c == ErrorCode::NoNode), "the first 100 watches are set");
    assert!(codes[100..].iter().all(|c| *c == ErrorCode::QuotaExceeded), "every one past the limit is refused");
    assert_eq!(flood.exists(2_000, "/"), Some(ErrorCode::Ok), "a read without a watch is still served");
    let wchs = paddock_testkit::four_letter_word(&server.addr(), "wchs").expect("wchs");
    eprintln!("wchs after the flood: {wchs}");
    assert!(wchs.contains("Total watches:100"), "{wchs}");
    well_behaved_probe(&server, "a session at its watch limit");
    let (mut other, _) = Raw::connect(&server.addr(), (0, &[0; 16]), 30_000, 0);
    assert_eq!(other.call(1, &watch("/w0".into())), Some(ErrorCode::NoNode), "another session sets its own");
}

/// maxCnxns caps connections over all clients; connection_throttle_tokens refuses handshakes past the
/// bucket. Both close without an answer, as ZooKeeper does.
#[test]
fn max_cnxns_and_the_connection_throttle_refuse_past_their_limits() {
    let server = PaddockProcess::start_with(&[("maxCnxns", "20"), ("maxClientCnxns", "0")]).expect("start paddock");
    let held: Vec<(Raw, _)> = (0..20).map(|_| Raw::connect(&server.addr(), (0, &[0; 16]), 30_000, 0)).collect();
    assert!(held.iter().all(|(_, session)| session.is_some()));
    let (_, refused) = Raw::connect(&server.addr(), (0, &[0; 16]), 30_000, 0);
    assert!(refused.is_none(), "the 21st connection is refused");
    assert!(server.log().contains("maxCnxns is 20"), "{}", server.log());
    drop(held);
    assert!(eventually(|| Raw::connect(&server.addr(), (0, &[0; 16]), 30_000, 0).1.is_some()), "room again");

    let throttle = [("connection_throttle_tokens", "5"), ("connection_throttle_fill_time", "3600000")];
    let server = PaddockProcess::start_with(&throttle).expect("start paddock");
    let sessions: Vec<_> = (0..6).map(|_| Raw::connect(&server.addr(), (0, &[0; 16]), 30_000, 0)).collect();
    let answered = sessions.iter().filter(|(_, s)| s.is_some()).count();
    assert_eq!(answered, 5, "five tokens, five sessions");
    assert!(server.log().contains("connection throttled"), "{}", server.log());
}

/// Writers pipelining 300 writes each, answered in full and in order under globalOutstandingLimit=1 and
/// under request_throttle_max_requests=1: the throttles hold requests back, they never drop one.
#[test]
fn throttled_pipelines_are_answered_in_full_and_in_order() {
    for cfg in [("globalOutstandingLimit", "1"), ("request_throttle_max_requests", "1")] {
        let server = PaddockProcess::start_with(&[cfg]).expect("start paddock");
        let writers: Vec<_> = (0..4)
            .map(|w| {
                let addr = server.addr();
                std::thread::spawn(move || pipeline_writes(&addr, w))
            })
            .collect();
        well_behaved_probe(&server, &format!("{}={} under 4 pipelining writers", cfg.0, cfg.1));
        for writer in writers {
            assert_eq!(writer.join().expect("writer thread"), 300, "{cfg:?}: every write answered, in order");
        }
        let mntr = paddock_testkit::four_letter_word(&server.addr(), "mntr").expect("mntr");
        let counter = |key: &str| -> u64 {
            let line = mntr.lines().find(|l| l.starts_with(&format!("{key}\t"))).unwrap_or_else(|| panic!("{key}"));
            line[key.len() + 1..].trim().parse().expect("a count")
        };
        // ZooKeeper's RequestThrottler metrics: the request throttler waited, and dropped nothing.
        let throttled = cfg.0 == "request_throttle_max_requests";
        assert_eq!(counter("zk_request_throttle_wait_count") > 0, throttled, "{cfg:?}:\n{mntr}");
        assert_eq!((counter("zk_stale_requests"), counter("zk_stale_requests_dropped")), (0, 0), "{cfg:?}");
    }
}

/// Sends 300 creates without waiting, then reads the replies; returns how many came back in order.
fn pipeline_writes(addr: &str, writer: usize) -> usize {
    let (mut raw, session) = Raw::connect(addr, (0, &[0; 16]), 30_000, 0);
    assert!(session.is_some());
    for xid in 1..=300 {
        let create = Request::Create {
            op: paddock_proto::OpCode::Create,
            req: paddock_proto::CreateRequest {
                path: format!("/p{writer}-{xid}"),
                data: Some(vec![1; 64]),
                acl: paddock_proto::Acl::open_unsafe(),
                flags: CreateMode::Persistent.flags(),
            },
        };
        assert!(raw.send_bytes(&create.encode(xid)), "send {xid}");
    }
    let mut in_order = 0;
    for xid in 1..=300 {
        let frame = raw.frame().expect("a reply");
        let header = <paddock_proto::ReplyHeader as paddock_proto::Record>::read_from(
            &mut paddock_proto::JuteReader::new(&frame, frame.len()),
        )
        .expect("reply header");
        if header.xid == xid && header.err == 0 {
            in_order += 1;
        }
    }
    in_order
}

/// Memory does not grow with the number of requests served: a client pipelining a million reads, a
/// thousand at a time, leaves the server's resident memory within 8 MiB of where the first 100,000 left it.
/// Every request's latency sample used to stay in the Prometheus recorder until something scraped
/// `/metrics` (about 20 bytes a request: 20 MiB here, 170 MiB in scripts/bench-security's 10-minute soak).
#[test]
fn memory_does_not_grow_with_the_requests_served() {
    let server = PaddockProcess::start().expect("start paddock");
    let pid = server.pid().expect("server runs");
    let (mut client, session) = Raw::connect(&server.addr(), (0, &[0; 16]), 30_000, 0);
    assert!(session.is_some(), "a session");
    let exists = Request::Exists(PathWatchRequest { path: "/".into(), watch: false });
    let mut next_xid = 0;
    let mut serve = |requests: i32| {
        for _ in 0..requests / 1000 {
            let batch: Vec<u8> = (0..1000).flat_map(|i| exists.encode(next_xid + i)).collect();
            assert!(client.send_bytes(&batch), "send a batch");
            for _ in 0..1000 {
                assert!(client.frame().is_some(), "a reply");
            }
            next_xid += 1000;
        }
    };
    // The metrics recorder folds samples every second: measure after it has run.
    let settled = Duration::from_secs(3);
    serve(100_000);
    std::thread::sleep(settled);
    let warm = rss_kib(pid);
    serve(1_000_000);
    std::thread::sleep(settled);
    let end = rss_kib(pid);
    eprintln!("server RSS after 100,000 requests {warm} KiB, after 1,100,000 {end} KiB");
    assert!(end < warm + 8 * 1024, "RSS grew from {warm} KiB to {end} KiB over a million requests");
}
