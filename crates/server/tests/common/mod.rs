//! Helpers shared by the admin server's integration tests: a raw HTTP/1.1 client, so that the tests see
//! exactly the status line, headers and bytes a server sends (Paddock's axum or ZooKeeper's Jetty).

// Each test binary uses a different subset of these helpers.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// ZooKeeper 3.9's AdminServer commands (`Commands.java`): primary name, then aliases.
pub const COMMANDS: &[&[&str]] = &[
    &["connection_stat_reset", "crst"],
    &["configuration", "conf", "config"],
    &["connections", "cons"],
    &["hash"],
    &["dirs"],
    &["dump"],
    &["environment", "env", "envi"],
    &["get_trace_mask", "gtmk"],
    &["initial_configuration", "icfg"],
    &["is_read_only", "isro"],
    &["last_snapshot", "lsnp"],
    &["leader", "lead"],
    &["monitor", "mntr"],
    &["observer_connection_stat_reset", "orst"],
    &["restore", "rest"],
    &["ruok"],
    &["set_trace_mask", "stmk"],
    &["snapshot", "snap"],
    &["server_stats", "srvr"],
    &["stats", "stat"],
    &["stat_reset", "srst"],
    &["observers", "obsr"],
    &["system_properties", "sysp"],
    &["voting_view"],
    &["watches", "wchc"],
    &["watches_by_path", "wchp"],
    &["watch_summary", "wchs"],
    &["zabstate"],
];

/// Paddock's own AdminServer commands, listed on `/commands` after ZooKeeper's.
pub const PADDOCK_COMMANDS: &[&[&str]] = &[&["backup"]];

#[derive(Debug)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }
}

/// One request on a fresh connection (`Connection: close`), the whole response read.
pub async fn http(addr: SocketAddr, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> HttpResponse {
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    let exchange = async {
        let mut stream = TcpStream::connect(addr).await.expect("admin server accepts");
        stream.write_all(request.as_bytes()).await.expect("request sent");
        stream.write_all(body).await.expect("body sent");
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).await.expect("response read");
        raw
    };
    let raw = tokio::time::timeout(Duration::from_secs(60), exchange).await.expect("HTTP exchange in time");
    parse_http(&raw, method == "HEAD")
}

pub async fn get(addr: SocketAddr, path: &str) -> HttpResponse {
    http(addr, "GET", path, &[], b"").await
}

/// A response to HEAD announces the length of a body it does not send.
fn parse_http(raw: &[u8], head_request: bool) -> HttpResponse {
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").expect("end of headers");
    let head = String::from_utf8(raw[..split].to_vec()).expect("ASCII headers");
    let mut lines = head.split("\r\n");
    let status_line = lines.next().expect("status line");
    let status = status_line.split(' ').nth(1).and_then(|s| s.parse().ok()).expect("status code");
    let headers: Vec<(String, String)> = lines
        .map(|l| {
            let (name, value) = l.split_once(':').expect("header line");
            (name.trim().to_string(), value.trim().to_string())
        })
        .collect();
    let mut response = HttpResponse { status, headers, body: raw[split + 4..].to_vec() };
    if head_request {
        assert!(response.body.is_empty(), "a body in answer to HEAD");
    } else if response.header("transfer-encoding").is_some_and(|te| te.eq_ignore_ascii_case("chunked")) {
        response.body = dechunk(&response.body);
    } else if let Some(length) = response.header("content-length").and_then(|l| l.parse::<usize>().ok()) {
        assert_eq!(response.body.len(), length, "body length matches Content-Length");
    }
    response
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let line_end = data.windows(2).position(|w| w == b"\r\n").expect("chunk size line");
        let size_text = std::str::from_utf8(&data[..line_end]).expect("chunk size");
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16).expect("hex size");
        data = &data[line_end + 2..];
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&data[..size]);
        data = &data[size + 2..];
    }
}
