//! Loopback networking helpers: picking ports and speaking ZooKeeper's four-letter words.

use std::collections::HashSet;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use anyhow::{Context, bail};

const FOUR_LETTER_TIMEOUT: Duration = Duration::from_secs(10);

/// A TCP port on 127.0.0.1 that was free a moment ago and has not been handed out before by this
/// process, so parallel tests in one binary never race each other for the same port.
pub fn free_port() -> u16 {
    static HANDED_OUT: OnceLock<Mutex<HashSet<u16>>> = OnceLock::new();
    let handed_out = HANDED_OUT.get_or_init(Default::default);
    for _ in 0..1000 {
        let Ok(listener) = TcpListener::bind(("127.0.0.1", 0)) else { continue };
        let Ok(addr) = listener.local_addr() else { continue };
        let mut seen = handed_out.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if seen.insert(addr.port()) {
            return addr.port();
        }
    }
    // The kernel keeps handing out ports we already gave away: every test would fail anyway.
    panic!("paddock-testkit: no free TCP port on 127.0.0.1")
}

/// Sends a four-letter word (`ruok`, `srvr`, `mntr`, `cons`, ...) over a fresh TCP connection and returns
/// everything the server writes before closing it.
pub fn four_letter_word(addr: &str, cmd: &str) -> anyhow::Result<String> {
    four_letter_word_within(addr, cmd, FOUR_LETTER_TIMEOUT)
}

/// [`four_letter_word`] giving up after `timeout` per step. Readiness probes use a short one: a JVM binds
/// its client port before it starts reading from it, and a probe in between would otherwise hang.
pub(crate) fn four_letter_word_within(addr: &str, cmd: &str, timeout: Duration) -> anyhow::Result<String> {
    exchange_within(addr, cmd.as_bytes(), timeout).with_context(|| format!("four-letter word `{cmd}`"))
}

/// Writes `bytes` on a fresh TCP connection and returns everything the server writes before it closes the
/// connection: a four-letter word with an argument (`stmk` and its mask), or a raw protocol exchange.
pub fn exchange_until_close(addr: &str, bytes: &[u8]) -> anyhow::Result<String> {
    exchange_within(addr, bytes, FOUR_LETTER_TIMEOUT)
}

fn exchange_within(addr: &str, bytes: &[u8], timeout: Duration) -> anyhow::Result<String> {
    let target = resolve(addr)?;
    let mut stream =
        TcpStream::connect_timeout(&target, timeout).with_context(|| format!("cannot connect to {addr}"))?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    stream.write_all(bytes).with_context(|| format!("cannot send to {addr}"))?;
    let mut reply = Vec::new();
    stream.read_to_end(&mut reply).with_context(|| format!("no complete answer from {addr}"))?;
    Ok(String::from_utf8_lossy(&reply).into_owned())
}

/// Whether something accepts TCP connections on `addr` right now.
pub(crate) fn addr_accepts(addr: SocketAddr) -> bool {
    TcpStream::connect_timeout(&addr, Duration::from_millis(500)).is_ok()
}

fn resolve(addr: &str) -> anyhow::Result<SocketAddr> {
    let mut addrs = addr.to_socket_addrs().with_context(|| format!("bad address {addr:?}"))?;
    match addrs.next() {
        Some(a) => Ok(a),
        None => bail!("address {addr:?} resolves to nothing"),
    }
}
