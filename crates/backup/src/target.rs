//! Where backups go: a local directory or an S3 bucket (`s3://bucket/prefix`), both through `object_store`.
//!
//! Object keys are relative to the target's root. Objects are written once: small ones (manifests) with
//! create-only semantics, so two writers can never both believe they wrote the same manifest; large ones
//! (snapshots) as parallel multipart uploads, checksummed (SHA-256) as they stream, never held whole in
//! memory.
//!
//! A target opened [`Target::with_keyring`] encrypts every object it writes and decrypts every object it
//! reads ([`crate::encryption`]); sizes and SHA-256 it reports are the plaintext's, so manifests describe
//! the same bytes with or without encryption. Listings give the stored (encrypted) sizes. A plaintext object
//! read through a keyed target is returned as it is (a target whose older objects predate encryption stays
//! readable; `paddock backup rekey` seals them, `paddock backup verify` names them); an encrypted object
//! read without the key that sealed it fails, naming that key's id.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::{ClientConfigKey, RetryConfig};
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload, WriteMultipart};
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;

use crate::BackupError;
use crate::encryption::{self, Decryptor, Encryptor, KeyId, Keyring};

/// Size of one multipart part. S3 needs at least 5 MiB for every part but the last; 8 MiB parts keep a
/// 1,000,000-znode snapshot (about 50 MiB compressed) to a handful of requests.
const PART_BYTES: usize = 8 * 1024 * 1024;

/// Parts uploaded at once: memory held by an upload is at most this many parts (32 MiB), and a slow
/// network still has several requests in flight.
const PARTS_IN_FLIGHT: usize = 4;

/// An endpoint that does not accept a connection within this is reported, not waited for.
const CONNECT_TIMEOUT: &str = "5s";

/// Transient failures (throttling, 5xx, dropped connections) are retried with backoff for up to 30 s per
/// request, then reported: an unreachable store or expired credentials get a clear error within a minute
/// rather than after object_store's default of three.
fn retry() -> RetryConfig {
    RetryConfig { max_retries: 5, retry_timeout: Duration::from_secs(30), ..RetryConfig::default() }
}

/// A backup target, opened from its URL or path.
#[derive(Clone)]
pub struct Target {
    store: Arc<dyn ObjectStore>,
    root: String,
    display: String,
    keyring: Option<Arc<Keyring>>,
}

/// Size and SHA-256 of an object as it was written or read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Written {
    pub size: u64,
    pub sha256: String,
}

impl Target {
    /// `s3://bucket[/prefix]` (endpoint, region and credentials from the `AWS_*` environment variables and
    /// the standard credential chain), or a local directory (a path, or `file:///path`), created if needed.
    pub fn open(spec: &str) -> Result<Target, BackupError> {
        let bad = |why: String| BackupError::Target(format!("{spec}: {why}"));
        if let Some(rest) = spec.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(bad("no bucket name (expected s3://bucket/prefix)".into()));
            }
            let store = AmazonS3Builder::from_env()
                .with_bucket_name(bucket)
                .with_config(AmazonS3ConfigKey::Client(ClientConfigKey::ConnectTimeout), CONNECT_TIMEOUT)
                .with_retry(retry())
                .build()
                .map_err(|e| bad(format!("cannot use this bucket: {e}")))?;
            return Ok(Target {
                store: Arc::new(store),
                root: prefix.trim_matches('/').to_string(),
                display: spec.trim_end_matches('/').to_string(),
                keyring: None,
            });
        }
        let path = match spec.split_once("://") {
            Some(("file", path)) => path,
            Some((scheme, _)) => {
                return Err(bad(format!("unknown target scheme {scheme:?}: use s3://bucket/prefix or a directory")));
            }
            None => spec,
        };
        if path.is_empty() {
            return Err(bad("empty path".into()));
        }
        std::fs::create_dir_all(path).map_err(|e| bad(format!("cannot create the directory: {e}")))?;
        let store = LocalFileSystem::new_with_prefix(path)
            .map_err(|e| bad(format!("cannot use the directory: {e}")))?
            .with_automatic_cleanup(true);
        Ok(Target { store: Arc::new(store), root: String::new(), display: path.to_string(), keyring: None })
    }

    /// The same target, encrypting what it writes with the keyring's first key and decrypting what it
    /// reads with whichever of its keys sealed it.
    pub fn with_keyring(self, keyring: Keyring) -> Target {
        Target { keyring: Some(Arc::new(keyring)), ..self }
    }

    /// The keys the target is used with, if it encrypts.
    pub fn keyring(&self) -> Option<&Keyring> {
        self.keyring.as_deref()
    }

    /// The target as the user named it, for messages.
    pub fn display(&self) -> &str {
        &self.display
    }

    fn path(&self, key: &str) -> ObjectPath {
        if self.root.is_empty() { ObjectPath::from(key) } else { ObjectPath::from(format!("{}/{key}", self.root)) }
    }

    fn name(&self, key: &str) -> String {
        format!("{}/{key}", self.display)
    }

    /// Writes a small object that must not exist yet. `Ok(false)`: it exists already, and was left alone.
    pub async fn put_new(&self, key: &str, bytes: Bytes) -> Result<bool, BackupError> {
        let options = PutOptions { mode: PutMode::Create, ..PutOptions::default() };
        match self.store.put_opts(&self.path(key), self.seal(key, bytes)?, options).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::AlreadyExists { .. }) => Ok(false),
            Err(e) => Err(BackupError::Io(format!("cannot write {}: {e}", self.name(key)))),
        }
    }

    /// Writes a small object whether or not it exists, replacing it in one step (a reader sees the old
    /// object or the new one, never a mix): `paddock backup rekey`.
    pub async fn replace(&self, key: &str, bytes: Bytes) -> Result<(), BackupError> {
        match self.store.put(&self.path(key), self.seal(key, bytes)?).await {
            Ok(_) => Ok(()),
            Err(e) => Err(BackupError::Io(format!("cannot write {}: {e}", self.name(key)))),
        }
    }

    fn seal(&self, key: &str, bytes: Bytes) -> Result<PutPayload, BackupError> {
        match &self.keyring {
            Some(keyring) => Ok(PutPayload::from(encryption::seal(keyring.primary(), key, &bytes)?)),
            None => Ok(PutPayload::from(bytes)),
        }
    }

    /// The id of the key an object is encrypted with; `None` for a plaintext object.
    pub async fn sealed_with(&self, key: &str) -> Result<Option<KeyId>, BackupError> {
        let path = self.path(key);
        let name = self.name(key);
        let size = self.store.head(&path).await.map_err(|e| read_error(&name, e))?.size;
        if size == 0 {
            return Ok(None);
        }
        let head = self
            .store
            .get_range(&path, 0..size.min(encryption::HEADER_BYTES as u64))
            .await
            .map_err(|e| read_error(&name, e))?;
        Ok(encryption::sealed_with(&head))
    }

    /// Streams the chunks from `source` into the object `key` as a multipart upload. Aborts the upload and
    /// fails if the source reports an error (the object is then never visible under `key`).
    pub async fn upload(
        &self,
        key: &str,
        mut source: mpsc::Receiver<Result<Bytes, String>>,
        progress: &(dyn Fn(u64) + Sync),
    ) -> Result<Written, BackupError> {
        let name = self.name(key);
        let upload = self
            .store
            .put_multipart(&self.path(key))
            .await
            .map_err(|e| BackupError::Io(format!("cannot start uploading {name}: {e}")))?;
        let mut writer = WriteMultipart::new_with_chunk_size(upload, PART_BYTES);
        let mut encryptor = self.keyring.as_ref().map(|k| Encryptor::new(k.primary(), key));
        let mut hash = Sha256::new();
        let mut size = 0u64;
        while let Some(chunk) = source.recv().await {
            let chunk = match chunk {
                Ok(chunk) => chunk,
                Err(why) => {
                    let _ = writer.abort().await;
                    return Err(BackupError::Source(why));
                }
            };
            hash.update(&chunk);
            size += chunk.len() as u64;
            progress(size);
            if let Err(e) = writer.wait_for_capacity(PARTS_IN_FLIGHT).await {
                return Err(BackupError::Io(format!("cannot upload {name}: {e}")));
            }
            match encryptor.as_mut() {
                Some(encryptor) => {
                    let mut sealed = Vec::with_capacity(chunk.len() + encryption::HEADER_BYTES + encryption::TAG_BYTES);
                    if let Err(e) = encryptor.update(&chunk, &mut sealed) {
                        let _ = writer.abort().await;
                        return Err(e);
                    }
                    writer.put(Bytes::from(sealed));
                }
                None => writer.put(chunk),
            }
        }
        if let Some(encryptor) = encryptor {
            let mut sealed = Vec::new();
            if let Err(e) = encryptor.finish(&mut sealed) {
                let _ = writer.abort().await;
                return Err(e);
            }
            writer.put(Bytes::from(sealed));
        }
        writer.finish().await.map_err(|e| BackupError::Io(format!("cannot finish uploading {name}: {e}")))?;
        Ok(Written { size, sha256: hex(&hash.finalize()) })
    }

    /// Whether an object exists.
    pub async fn exists(&self, key: &str) -> Result<bool, BackupError> {
        match self.store.head(&self.path(key)).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(BackupError::Io(format!("cannot read {}: {e}", self.name(key)))),
        }
    }

    /// Reads a whole small object (decrypted and authenticated whole before it is returned).
    pub async fn get(&self, key: &str) -> Result<Bytes, BackupError> {
        let name = self.name(key);
        let got = self.store.get(&self.path(key)).await.map_err(|e| read_error(&name, e))?;
        let bytes = got.bytes().await.map_err(|e| read_error(&name, e))?;
        if !encryption::is_sealed(&bytes) {
            return Ok(bytes);
        }
        Ok(Bytes::from(encryption::open(self.keyring(), key, &name, &bytes)?))
    }

    /// Streams an object chunk by chunk into `sink`, in order, returning its size and SHA-256 (of the
    /// plaintext, for an encrypted object: `sink` only ever sees authenticated segments, and an object cut
    /// short fails after its last chunk). An object of more than one part is fetched as ranges of
    /// `PART_BYTES`, `PARTS_IN_FLIGHT` at a time (a restore's download is as parallel as a backup's upload);
    /// memory stays at that many parts.
    pub async fn download(
        &self,
        key: &str,
        mut sink: impl FnMut(&[u8]) -> Result<(), BackupError>,
    ) -> Result<Written, BackupError> {
        let name = self.name(key);
        let path = self.path(key);
        let size = self.store.head(&path).await.map_err(|e| read_error(&name, e))?.size;
        let mut hash = Sha256::new();
        let mut read = 0u64;
        let mut deliver = |chunk: &[u8]| {
            hash.update(chunk);
            read += chunk.len() as u64;
            sink(chunk)
        };
        let mut opener = Opener::new(self.keyring(), key, &name);
        let mut consume = |chunk: &[u8]| opener.update(chunk, &mut deliver);
        if size <= PART_BYTES as u64 {
            let got = self.store.get(&path).await.map_err(|e| read_error(&name, e))?;
            let mut stream = got.into_stream();
            while let Some(chunk) = stream.next().await {
                consume(&chunk.map_err(|e| read_error(&name, e))?)?;
            }
        } else {
            let ranges = (0..size).step_by(PART_BYTES).map(|start| start..(start + PART_BYTES as u64).min(size));
            let store = &self.store;
            let mut parts = futures_util::stream::iter(ranges)
                .map(|range| {
                    let path = path.clone();
                    async move { store.get_range(&path, range).await }
                })
                .buffered(PARTS_IN_FLIGHT);
            while let Some(part) = parts.next().await {
                consume(&part.map_err(|e| read_error(&name, e))?)?;
            }
        }
        opener.finish(&mut deliver)?;
        Ok(Written { size: read, sha256: hex(&hash.finalize()) })
    }

    /// Every object under `prefix` (a key prefix ending in `/`, or empty for all), with its size, keys
    /// relative to the target's root, sorted.
    pub async fn list(&self, prefix: &str) -> Result<Vec<(String, u64)>, BackupError> {
        Ok(self.list_meta(prefix).await?.into_iter().map(|(key, size, _)| (key, size)).collect())
    }

    /// [`Target::list`] with each object's last-modified time (ms since the Unix epoch, as the store
    /// reports it: the file's mtime, or S3's `LastModified`): `(key, size, last_modified_ms)`, sorted.
    pub async fn list_meta(&self, prefix: &str) -> Result<Vec<(String, u64, i64)>, BackupError> {
        let full = self.path(prefix.trim_end_matches('/'));
        let at = if prefix.is_empty() && self.root.is_empty() { None } else { Some(&full) };
        let mut listed = self.store.list(at);
        let mut objects = Vec::new();
        let strip = if self.root.is_empty() { String::new() } else { format!("{}/", self.root) };
        while let Some(meta) = listed.next().await {
            let meta = meta.map_err(|e| BackupError::Io(format!("cannot list {}: {e}", self.name(prefix))))?;
            let key = meta.location.as_ref();
            let modified = meta.last_modified.timestamp_millis();
            objects.push((key.strip_prefix(&strip).unwrap_or(key).to_string(), meta.size, modified));
        }
        objects.sort();
        Ok(objects)
    }

    pub async fn delete(&self, key: &str) -> Result<(), BackupError> {
        self.store
            .delete(&self.path(key))
            .await
            .map_err(|e| BackupError::Io(format!("cannot delete {}: {e}", self.name(key))))
    }
}

/// Tells a plaintext object from an encrypted one by its first bytes, then passes the plaintext on.
enum Opening<'k> {
    Undecided(Vec<u8>),
    Plain,
    Sealed(Decryptor<'k>),
}

struct Opener<'k> {
    keyring: Option<&'k Keyring>,
    key: String,
    name: String,
    state: Opening<'k>,
}

impl<'k> Opener<'k> {
    fn new(keyring: Option<&'k Keyring>, key: &str, name: &str) -> Opener<'k> {
        Opener { keyring, key: key.to_string(), name: name.to_string(), state: Opening::Undecided(Vec::new()) }
    }

    fn update(
        &mut self,
        chunk: &[u8],
        deliver: &mut impl FnMut(&[u8]) -> Result<(), BackupError>,
    ) -> Result<(), BackupError> {
        match &mut self.state {
            Opening::Plain => deliver(chunk),
            Opening::Sealed(decryptor) => {
                let mut plain = Vec::with_capacity(chunk.len());
                decryptor.update(chunk, &mut plain)?;
                if plain.is_empty() { Ok(()) } else { deliver(&plain) }
            }
            Opening::Undecided(head) => {
                head.extend_from_slice(chunk);
                if head.len() < encryption::MAGIC.len() {
                    return Ok(());
                }
                let head = std::mem::take(head);
                self.decide(&head);
                self.update(&head, deliver)
            }
        }
    }

    fn decide(&mut self, head: &[u8]) {
        self.state = if encryption::is_sealed(head) {
            Opening::Sealed(Decryptor::new(self.keyring, &self.key, &self.name))
        } else {
            Opening::Plain
        };
    }

    fn finish(mut self, deliver: &mut impl FnMut(&[u8]) -> Result<(), BackupError>) -> Result<(), BackupError> {
        if let Opening::Undecided(head) = &mut self.state {
            // An object shorter than the magic: plaintext.
            let head = std::mem::take(head);
            self.state = Opening::Plain;
            if !head.is_empty() {
                deliver(&head)?;
            }
        }
        match self.state {
            Opening::Sealed(decryptor) => {
                let mut plain = Vec::new();
                decryptor.finish(&mut plain)?;
                if plain.is_empty() { Ok(()) } else { deliver(&plain) }
            }
            _ => Ok(()),
        }
    }
}

fn read_error(name: &str, e: object_store::Error) -> BackupError {
    match e {
        object_store::Error::NotFound { .. } => BackupError::Missing(name.to_string()),
        e => BackupError::Io(format!("cannot read {name}: {e}")),
    }
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
