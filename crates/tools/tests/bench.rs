//! `paddock bench` smoke tests against real Apache ZooKeeper: every workload runs exactly the requested
//! operations, reports them as JSON, and leaves nothing behind (or everything, with --keep).

mod common;

use std::process::ExitCode;

use paddock_tools::bench::{self, BenchArgs, Workload};
use serde_json::Value;

fn bench_args(workload: Workload, prefix: &str) -> BenchArgs {
    BenchArgs {
        server: common::zookeeper(),
        workload,
        clients: 4,
        seconds: None,
        ops: Some(200),
        value_size: 64,
        keys: 20,
        json: true,
        prefix: prefix.to_owned(),
        keep: false,
        batch: 1,
        kill_pid: None,
        tls: Default::default(),
    }
}

async fn run_bench(args: BenchArgs) -> Value {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = bench::run_with_io(args, &mut out, &mut err).await;
    let (out, err) = (String::from_utf8_lossy(&out), String::from_utf8_lossy(&err));
    assert_eq!(code, ExitCode::SUCCESS, "stdout: {out}\nstderr: {err}");
    serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("not one JSON object ({e}): {out}"))
}

fn assert_report(report: &Value, workload: &str) {
    assert_eq!(report["workload"], workload);
    assert_eq!(report["clients"], 4);
    assert_eq!(report["ops"], 200);
    assert_eq!(report["errors"], 0);
    assert_eq!(report["value_size"], 64);
    for field in ["seconds", "ops_per_sec"] {
        assert!(report[field].as_f64().is_some_and(|v| v > 0.0), "{field} in {report}");
    }
    let percentiles: Vec<u64> =
        ["p50_us", "p99_us", "p999_us", "max_us"].iter().map(|f| report[*f].as_u64().unwrap_or(0)).collect();
    assert!(percentiles[0] > 0, "{report}");
    assert!(percentiles.windows(2).all(|w| w[0] <= w[1]), "percentiles rise: {report}");
}

async fn assert_gone(prefix: &str) {
    common::expect(&["ls", prefix], 1, "", &format!("Node does not exist: {prefix}\n")).await;
}

#[tokio::test]
async fn every_workload_runs_the_requested_ops_and_cleans_up() {
    for workload in [Workload::Create, Workload::Set, Workload::Get, Workload::Mixed, Workload::Watch] {
        let prefix = format!("/bench-{}", workload.name());
        let report = run_bench(bench_args(workload, &prefix)).await;
        assert_report(&report, workload.name());
        assert_gone(&prefix).await;
    }
}

#[tokio::test]
async fn keep_leaves_the_created_nodes() {
    let mut args = bench_args(Workload::Create, "/bench-keep/deep");
    args.keep = true;
    let report = run_bench(args).await;
    assert_report(&report, "create");
    // 200 sequential nodes under the 4 clients' parents, which sit under <prefix>/create.
    common::expect(&["getAllChildrenNumber", "/bench-keep/deep/create"], 0, "204\n", "").await;
    common::expect(&["ls", "/bench-keep/deep/create"], 0, "[c0, c1, c2, c3]\n", "").await;
    common::expect(&["deleteall", "/bench-keep"], 0, "", "").await;
}

#[tokio::test]
async fn keys_are_precreated_with_the_value_size() {
    let mut args = bench_args(Workload::Get, "/bench-keys");
    args.keep = true;
    run_bench(args).await;
    common::expect(&["getAllChildrenNumber", "/bench-keys/get"], 0, "20\n", "").await;
    let stat = common::shell_json(&["stat", "/bench-keys/get/key-19"]).await;
    assert_eq!(stat["stat"]["dataLength"], 64);
    common::expect(&["deleteall", "/bench-keys"], 0, "", "").await;
}

#[tokio::test]
async fn seconds_mode_and_text_report() {
    let mut args = bench_args(Workload::Mixed, "/bench-seconds");
    args.ops = None;
    args.seconds = Some(1.0);
    args.json = false;
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = bench::run_with_io(args, &mut out, &mut err).await;
    let out = String::from_utf8_lossy(&out);
    assert_eq!(code, ExitCode::SUCCESS, "{out}{}", String::from_utf8_lossy(&err));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 4, "{out}");
    assert_eq!(lines[0], "workload    mixed (4 clients, 64-byte values)");
    assert!(lines[1].starts_with("operations  ") && lines[1].contains(" ok, 0 errors in 1."), "{out}");
    assert!(lines[2].starts_with("throughput  ") && lines[2].ends_with(" ops/s"), "{out}");
    assert!(lines[3].starts_with("latency     p50 "), "{out}");
    assert_gone("/bench-seconds").await;
}

#[tokio::test]
async fn bad_arguments_are_refused_before_connecting() {
    for (change, message) in [
        (
            BenchArgs { prefix: "/".to_owned(), ..bench_args(Workload::Get, "/x") },
            "--prefix must be an absolute znode path",
        ),
        (
            BenchArgs { prefix: "/zookeeper/x".to_owned(), ..bench_args(Workload::Get, "/x") },
            "--prefix must not be under /zookeeper",
        ),
        (BenchArgs { clients: 0, ..bench_args(Workload::Get, "/x") }, "--clients must be at least 1"),
        (BenchArgs { ops: Some(0), ..bench_args(Workload::Get, "/x") }, "--ops must be at least 1"),
    ] {
        let args = BenchArgs { server: "127.0.0.1:1".to_owned(), ..change };
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let code = bench::run_with_io(args, &mut out, &mut err).await;
        let err = String::from_utf8_lossy(&err);
        assert_eq!(code, ExitCode::FAILURE);
        assert!(err.contains(message), "{err}");
        assert!(out.is_empty());
    }
}
