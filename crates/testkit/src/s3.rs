//! Real S3-compatible object stores for backup tests, on 127.0.0.1 with one bucket, stopped by pid on drop
//! (both installed by scripts/install-test-deps): moto's server (`moto_server`, in the test venv), the most
//! complete, which accepts any credentials; and s3rver (npm), which refuses any access key but its own, for
//! the tests of wrong credentials.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, bail};
use tempfile::TempDir;

use crate::net::free_port;
use crate::process::ServerChild;

const START_LIMIT: Duration = Duration::from_secs(60);

/// An S3 server with bucket `bucket`. Point a client at it with [`S3Server::env`].
pub struct S3Server {
    pub port: u16,
    pub bucket: String,
    /// The key pair it accepts (moto: any).
    key: (&'static str, &'static str),
    child: ServerChild,
    _dir: TempDir,
}

/// s3rver's only credentials.
const S3RVER_KEY: (&str, &str) = ("S3RVER", "S3RVER");

impl S3Server {
    pub fn start() -> anyhow::Result<S3Server> {
        let binary = moto_binary();
        if !binary.exists() {
            bail!("moto_server is not installed ({} is missing): run scripts/install-test-deps", binary.display());
        }
        let dir = tempfile::tempdir().context("temp dir for moto")?;
        let port = free_port();
        let mut command = Command::new(&binary);
        command.args(["-H", "127.0.0.1", "-p", &port.to_string()]).env("TMPDIR", dir.path());
        let mut child = ServerChild::spawn(command, &dir.path().join("moto.log"))?;
        child.wait_until("moto_server", START_LIMIT, || http(port, "GET", "/").is_ok())?;
        let bucket = "paddock-backups".to_string();
        let status = http(port, "PUT", &format!("/{bucket}"))?;
        if status != 200 {
            bail!("moto_server answered {status} to creating bucket {bucket}");
        }
        Ok(S3Server { port, bucket, key: ("test", "test"), child, _dir: dir })
    }

    /// s3rver, which refuses requests made with another access key than its own (`S3RVER`).
    pub fn start_checking_credentials() -> anyhow::Result<S3Server> {
        let binary = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/s3rver/node_modules/.bin/s3rver");
        if !binary.exists() {
            bail!("s3rver is not installed ({} is missing): run scripts/install-test-deps", binary.display());
        }
        let dir = tempfile::tempdir().context("temp dir for s3rver")?;
        let port = free_port();
        let bucket = "paddock-backups".to_string();
        let mut command = Command::new(&binary);
        command.arg("-d").arg(dir.path()).args([
            "-a",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "--configure-bucket",
            &bucket,
        ]);
        let mut child = ServerChild::spawn(command, &dir.path().join("s3rver.log"))?;
        child.wait_until("s3rver", START_LIMIT, || http(port, "GET", "/").is_ok())?;
        Ok(S3Server { port, bucket, key: S3RVER_KEY, child, _dir: dir })
    }

    /// `s3://<bucket>/<prefix>`.
    pub fn url(&self, prefix: &str) -> String {
        format!("s3://{}/{prefix}", self.bucket)
    }

    /// The environment that points object_store (and the AWS SDKs) at this server.
    pub fn env(&self) -> Vec<(String, String)> {
        [
            ("AWS_ENDPOINT", format!("http://127.0.0.1:{}", self.port)),
            ("AWS_ALLOW_HTTP", "true".to_string()),
            ("AWS_REGION", "us-east-1".to_string()),
            ("AWS_ACCESS_KEY_ID", self.key.0.to_string()),
            ("AWS_SECRET_ACCESS_KEY", self.key.1.to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        self.child.kill9();
    }
}

/// The venv's moto_server, next to the workspace's target directory.
fn moto_binary() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/venv/bin/moto_server")
}

/// One bodiless HTTP/1.1 request; the status code of the answer.
fn http(port: u16, method: &str, path: &str) -> anyhow::Result<u16> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )?;
    let mut head = [0u8; 12];
    stream.read_exact(&mut head)?;
    let text = String::from_utf8_lossy(&head);
    text.get(9..12).and_then(|code| code.parse().ok()).context("not an HTTP answer")
}
