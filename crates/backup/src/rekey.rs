//! `paddock backup rekey`: re-encrypts every object of a target with the keyring's first key (and seals
//! plaintext objects left from before encryption was turned on).
//!
//! Each object is read and authenticated with whichever key sealed it, written anew under the new key and
//! replaces the old one in one step (a PUT, or a multipart upload completing): at every moment each object
//! is readable with the old key or the new one, so an interrupted rekey is simply run again with both
//! keys. Objects already sealed with the new key are skipped. Manifests go last, their `encryption` field
//! set to the new key id, so a manifest never names a key its snapshot is not sealed with yet.

use std::io::{Read, Write};

use bytes::Bytes;
use serde::Serialize;
use tokio::sync::mpsc;

use crate::BackupError;
use crate::manifest::{self, Manifest};
use crate::target::Target;

/// Objects up to this size are re-sealed in memory; larger ones go through a temporary file.
const IN_MEMORY_BYTES: u64 = 8 * 1024 * 1024;
const FILE_CHUNK_BYTES: usize = 1024 * 1024;

#[derive(Clone, Debug, Serialize)]
pub struct Rekeyed {
    pub target: String,
    /// The key every object is now sealed with.
    pub key_id: String,
    pub objects: usize,
    /// Objects re-encrypted (from another key, or from plaintext).
    pub rekeyed: usize,
    /// Of those, objects that were plaintext.
    pub were_plaintext: usize,
    /// Objects already sealed with the new key, left alone.
    pub already: usize,
    /// Plaintext bytes re-encrypted.
    pub bytes: u64,
    pub seconds: f64,
}

/// Re-encrypts everything in `target` with its keyring's first key. `progress(done, total)` after each
/// object.
pub async fn rekey(target: &Target, progress: &(dyn Fn(u64, u64) + Sync)) -> Result<Rekeyed, BackupError> {
    let started = std::time::Instant::now();
    let keyring = target.keyring().ok_or_else(|| {
        BackupError::Refused("rekey needs the new key (the first --encryption-key-file) and the old ones".into())
    })?;
    let new = keyring.primary().id();
    let mut objects = target.list("").await?;
    // Manifests last: each names the key of objects re-sealed before it.
    objects.sort_by_key(|(key, _)| (is_manifest(key), key.clone()));
    let mut rekeyed = Rekeyed {
        target: target.display().to_string(),
        key_id: new.to_string(),
        objects: objects.len(),
        rekeyed: 0,
        were_plaintext: 0,
        already: 0,
        bytes: 0,
        seconds: 0.0,
    };
    let total = objects.len() as u64;
    for (done, (key, size)) in objects.iter().enumerate() {
        match target.sealed_with(key).await? {
            Some(id) if id == new => rekeyed.already += 1,
            sealed => {
                rekeyed.bytes += reseal(target, key, *size).await?;
                rekeyed.rekeyed += 1;
                rekeyed.were_plaintext += usize::from(sealed.is_none());
            }
        }
        progress(done as u64 + 1, total);
    }
    rekeyed.seconds = started.elapsed().as_secs_f64();
    Ok(rekeyed)
}

fn is_manifest(key: &str) -> bool {
    manifest::parse_snapshot_key(key).is_some_and(|(_, _, ext)| ext == "json")
}

/// Reads `key` (authenticated whole) and writes it back sealed with the new key; the plaintext size.
async fn reseal(target: &Target, key: &str, stored_size: u64) -> Result<u64, BackupError> {
    if stored_size <= IN_MEMORY_BYTES {
        let mut bytes = target.get(key).await?;
        if is_manifest(key)
            && let Ok(mut m) = Manifest::parse(key, &bytes)
        {
            m.encryption = target.keyring().map_or_else(|| "none".into(), |k| k.primary().id().to_string());
            bytes = Bytes::from(m.to_json());
        }
        let size = bytes.len() as u64;
        target.replace(key, bytes).await?;
        return Ok(size);
    }
    let mut file = tempfile::tempfile().map_err(|e| BackupError::Io(format!("cannot make a temporary file: {e}")))?;
    target
        .download(key, |chunk| {
            file.write_all(chunk).map_err(|e| BackupError::Io(format!("cannot write a temporary file: {e}")))
        })
        .await?;
    let (tx, rx) = mpsc::channel(4);
    let feeder = tokio::task::spawn_blocking(move || feed(file, &tx));
    let written = target.upload(key, rx, &|_| {}).await;
    feeder.abort();
    Ok(written?.size)
}

/// Sends the temporary file's bytes, from its start, into the upload.
fn feed(mut file: std::fs::File, tx: &mpsc::Sender<Result<Bytes, String>>) {
    use std::io::Seek;
    if let Err(e) = file.rewind() {
        let _ = tx.blocking_send(Err(format!("cannot read a temporary file: {e}")));
        return;
    }
    loop {
        let mut chunk = vec![0u8; FILE_CHUNK_BYTES];
        match file.read(&mut chunk) {
            Ok(0) => return,
            Ok(n) => {
                chunk.truncate(n);
                if tx.blocking_send(Ok(Bytes::from(chunk))).is_err() {
                    return;
                }
            }
            Err(e) => {
                let _ = tx.blocking_send(Err(format!("cannot read a temporary file: {e}")));
                return;
            }
        }
    }
}
