//! Encryption at rest for backup objects (docs/backup-format.md, "Encrypted objects"): XChaCha20-Poly1305
//! in the STREAM construction (BE32), 64 KiB plaintext segments, the object's key and the format version
//! as associated data, so that an object moved to another name, cut short, reordered or altered fails
//! authentication instead of being read.
//!
//! Keys come from key files (32 raw bytes, or 64 hex digits and an optional newline). A key is named by
//! its key id, the first 8 bytes of SHA-256 over a label and the key: objects and manifests name the key
//! that sealed them without revealing it. A [`Keyring`] holds several keys for rotation: the first seals,
//! every one opens.
//!
//! Nothing decrypted leaves a [`Decryptor`] before its segment's tag has been checked, and an object
//! whose last segment is missing (its last-segment flag never seen) fails at [`Decryptor::finish`].

use std::fmt;
use std::path::Path;

use aead_stream::{DecryptorBE32, EncryptorBE32};
use chacha20poly1305::{KeyInit, XChaCha20Poly1305};
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::BackupError;

/// The first bytes of every encrypted object. No plaintext object Paddock writes starts with them
/// (snapshots start with their own magic, manifests with `{`, log segments with theirs).
pub const MAGIC: &[u8; 8] = b"PDKCRYPT";
/// The encrypted object format version, also bound into every segment's associated data.
pub const FORMAT_VERSION: u8 = 1;
pub const KEY_BYTES: usize = 32;
pub const KEY_ID_BYTES: usize = 8;
/// XChaCha20's 24-byte nonce less STREAM BE32's 4-byte counter and 1-byte last-segment flag.
pub const NONCE_PREFIX_BYTES: usize = 19;
/// magic, version, key id, nonce prefix.
pub const HEADER_BYTES: usize = MAGIC.len() + 1 + KEY_ID_BYTES + NONCE_PREFIX_BYTES;
/// Plaintext bytes per STREAM segment (the last may hold fewer, down to none).
pub const SEGMENT_BYTES: usize = 64 * 1024;
/// Poly1305's tag after every segment.
pub const TAG_BYTES: usize = 16;
const SEALED_SEGMENT_BYTES: usize = SEGMENT_BYTES + TAG_BYTES;

/// Separates key ids from any other use of SHA-256 over the same key.
const KEY_ID_LABEL: &[u8] = b"paddock backup key id\0";

/// The public name of a key: 16 hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyId([u8; KEY_ID_BYTES]);

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&crate::target::hex(&self.0))
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({self})")
    }
}

/// One 256-bit key and where it came from. Its bytes never appear in `Debug` output.
#[derive(Clone)]
pub struct Key {
    bytes: [u8; KEY_BYTES],
    id: KeyId,
    source: String,
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Key {{ id: {}, source: {:?} }}", self.id, self.source)
    }
}

impl Key {
    /// A key from its bytes; `source` names it in messages.
    pub fn from_bytes(bytes: [u8; KEY_BYTES], source: &str) -> Key {
        let mut hash = Sha256::new();
        hash.update(KEY_ID_LABEL);
        hash.update(bytes);
        let digest = hash.finalize();
        let mut id = [0u8; KEY_ID_BYTES];
        id.copy_from_slice(&digest[..KEY_ID_BYTES]);
        Key { bytes, id: KeyId(id), source: source.to_string() }
    }

    /// A fresh random key (what `openssl rand 32` writes to a key file).
    pub fn generate() -> Key {
        let mut bytes = [0u8; KEY_BYTES];
        rand::rng().fill_bytes(&mut bytes);
        Key::from_bytes(bytes, "generated")
    }

    /// Reads a key file: exactly 32 bytes, or 64 hex digits (an ending newline allowed). Anything else is a
    /// one-line error naming the file and its size.
    pub fn load(path: &Path) -> Result<Key, BackupError> {
        let name = path.display().to_string();
        let raw = std::fs::read(path)
            .map_err(|e| BackupError::Key(format!("cannot read the encryption key file {name}: {e}")))?;
        let bytes = parse_key_file(&raw).ok_or_else(|| {
            BackupError::Key(format!(
                "encryption key file {name} holds {} bytes: a key is {KEY_BYTES} raw bytes or {} hex digits",
                raw.len(),
                KEY_BYTES * 2
            ))
        })?;
        Ok(Key::from_bytes(bytes, &name))
    }

    pub fn id(&self) -> KeyId {
        self.id
    }

    /// The key file it came from (or how it was made).
    pub fn source(&self) -> &str {
        &self.source
    }

    fn cipher(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new(&self.bytes.into())
    }
}

fn parse_key_file(raw: &[u8]) -> Option<[u8; KEY_BYTES]> {
    if let Ok(bytes) = <[u8; KEY_BYTES]>::try_from(raw) {
        return Some(bytes);
    }
    let text = std::str::from_utf8(raw).ok()?.trim_end_matches(['\n', '\r']);
    if text.len() != KEY_BYTES * 2 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let mut bytes = [0u8; KEY_BYTES];
    for (i, byte) in bytes.iter_mut().enumerate() {
        *byte = u8::from_str_radix(text.get(i * 2..i * 2 + 2)?, 16).ok()?;
    }
    Some(bytes)
}

/// The keys a target is used with: the first seals new objects, every one opens.
#[derive(Clone, Debug)]
pub struct Keyring {
    keys: Vec<Key>,
}

impl Keyring {
    /// At least one key; the same key given twice counts once.
    pub fn new(keys: Vec<Key>) -> Result<Keyring, BackupError> {
        let mut unique: Vec<Key> = Vec::with_capacity(keys.len());
        for key in keys {
            if !unique.iter().any(|k| k.id == key.id) {
                unique.push(key);
            }
        }
        if unique.is_empty() {
            return Err(BackupError::Key("no encryption key given".into()));
        }
        Ok(Keyring { keys: unique })
    }

    /// Reads every key file, in order (the first seals).
    pub fn load<P: AsRef<Path>>(paths: &[P]) -> Result<Keyring, BackupError> {
        Keyring::new(paths.iter().map(|p| Key::load(p.as_ref())).collect::<Result<_, _>>()?)
    }

    /// The key new objects are sealed with.
    pub fn primary(&self) -> &Key {
        // `new` refuses an empty keyring.
        &self.keys[0]
    }

    pub fn find(&self, id: KeyId) -> Option<&Key> {
        self.keys.iter().find(|k| k.id == id)
    }

    pub fn ids(&self) -> Vec<KeyId> {
        self.keys.iter().map(|k| k.id).collect()
    }
}

/// The key id an object's first bytes name, if they are an encrypted object's header; `None` for a
/// plaintext object.
pub fn sealed_with(prefix: &[u8]) -> Option<KeyId> {
    let rest = prefix.strip_prefix(MAGIC.as_slice())?;
    let id = rest.get(1..1 + KEY_ID_BYTES)?;
    let mut bytes = [0u8; KEY_ID_BYTES];
    bytes.copy_from_slice(id);
    Some(KeyId(bytes))
}

/// Whether an object starting with `prefix` (at least [`MAGIC`]'s length, or the whole object) is
/// encrypted.
pub fn is_sealed(prefix: &[u8]) -> bool {
    prefix.starts_with(MAGIC)
}

/// What every segment of an object is bound to: the format version and the object's key in its target.
fn associated_data(object: &str) -> Vec<u8> {
    let mut ad = Vec::with_capacity(1 + object.len());
    ad.push(FORMAT_VERSION);
    ad.extend_from_slice(object.as_bytes());
    ad
}

/// Seals a stream of plaintext into an encrypted object: [`Encryptor::update`] returns whole sealed
/// segments as they fill (the header first), [`Encryptor::finish`] the last one.
pub struct Encryptor {
    stream: EncryptorBE32<XChaCha20Poly1305>,
    ad: Vec<u8>,
    pending: Vec<u8>,
    header: Option<Vec<u8>>,
    object: String,
}

impl Encryptor {
    /// `object` is the object's key in its target, bound into every segment.
    pub fn new(key: &Key, object: &str) -> Encryptor {
        let mut nonce = [0u8; NONCE_PREFIX_BYTES];
        rand::rng().fill_bytes(&mut nonce);
        let mut header = Vec::with_capacity(HEADER_BYTES);
        header.extend_from_slice(MAGIC);
        header.push(FORMAT_VERSION);
        header.extend_from_slice(&key.id.0);
        header.extend_from_slice(&nonce);
        Encryptor {
            stream: EncryptorBE32::from_aead(key.cipher(), &nonce.into()),
            ad: associated_data(object),
            pending: Vec::with_capacity(SEGMENT_BYTES),
            header: Some(header),
            object: object.to_string(),
        }
    }

    /// Takes more plaintext; appends to `out` the header (first call) and every segment now complete. A
    /// full segment is sealed only once more plaintext follows it: the last segment is the one `finish`
    /// seals, whatever its size.
    pub fn update(&mut self, mut plaintext: &[u8], out: &mut Vec<u8>) -> Result<(), BackupError> {
        if let Some(header) = self.header.take() {
            out.extend_from_slice(&header);
        }
        while !plaintext.is_empty() {
            if self.pending.len() == SEGMENT_BYTES {
                let mut segment = std::mem::replace(&mut self.pending, Vec::with_capacity(SEGMENT_BYTES));
                segment.reserve(TAG_BYTES);
                self.stream.encrypt_next_in_place(&self.ad, &mut segment).map_err(|_| self.failed())?;
                out.extend_from_slice(&segment);
            }
            let take = (SEGMENT_BYTES - self.pending.len()).min(plaintext.len());
            let (now, rest) = plaintext.split_at(take);
            self.pending.extend_from_slice(now);
            plaintext = rest;
        }
        Ok(())
    }

    /// Seals the last segment (flagged last) and appends it to `out`.
    pub fn finish(mut self, out: &mut Vec<u8>) -> Result<(), BackupError> {
        if let Some(header) = self.header.take() {
            out.extend_from_slice(&header);
        }
        let failed = self.failed();
        let mut segment = self.pending;
        segment.reserve(TAG_BYTES);
        self.stream.encrypt_last_in_place(&self.ad, &mut segment).map_err(|_| failed)?;
        out.extend_from_slice(&segment);
        Ok(())
    }

    fn failed(&self) -> BackupError {
        // Only past 2^32 segments (256 TiB): STREAM's counter would wrap.
        BackupError::Io(format!("cannot encrypt {}: the object is too large", self.object))
    }
}

/// Seals a whole object at once.
pub fn seal(key: &Key, object: &str, plaintext: &[u8]) -> Result<Vec<u8>, BackupError> {
    let segments = plaintext.len() / SEGMENT_BYTES + 1;
    let mut out = Vec::with_capacity(HEADER_BYTES + plaintext.len() + segments * TAG_BYTES);
    let mut encryptor = Encryptor::new(key, object);
    encryptor.update(plaintext, &mut out)?;
    encryptor.finish(&mut out)?;
    Ok(out)
}

/// Opens a stream of ciphertext: [`Decryptor::update`] returns the plaintext of every segment whose tag
/// checked, [`Decryptor::finish`] the last one's, and fails if the object ends without a last segment.
pub struct Decryptor<'k> {
    keyring: Option<&'k Keyring>,
    ad: Vec<u8>,
    name: String,
    state: State,
}

enum State {
    Header(Vec<u8>),
    Body { stream: Box<DecryptorBE32<XChaCha20Poly1305>>, pending: Vec<u8>, key_id: KeyId },
}

impl<'k> Decryptor<'k> {
    /// `object` is the object's key in its target (what it was sealed under); `name` names it in messages.
    pub fn new(keyring: Option<&'k Keyring>, object: &str, name: &str) -> Decryptor<'k> {
        Decryptor {
            keyring,
            ad: associated_data(object),
            name: name.to_string(),
            state: State::Header(Vec::with_capacity(HEADER_BYTES)),
        }
    }

    /// Takes more ciphertext; appends to `out` the plaintext of every segment authenticated so far. A full
    /// sealed segment is opened only once more bytes follow it: until then it may be the last.
    pub fn update(&mut self, mut ciphertext: &[u8], out: &mut Vec<u8>) -> Result<(), BackupError> {
        if let State::Header(header) = &mut self.state {
            let take = (HEADER_BYTES - header.len()).min(ciphertext.len());
            header.extend_from_slice(&ciphertext[..take]);
            ciphertext = &ciphertext[take..];
            if header.len() < HEADER_BYTES {
                return Ok(());
            }
            let header = std::mem::take(header);
            self.state = self.open_header(&header)?;
        }
        let State::Body { stream, pending, key_id } = &mut self.state else { return Ok(()) };
        while !ciphertext.is_empty() {
            if pending.len() == SEALED_SEGMENT_BYTES {
                let mut segment = std::mem::replace(pending, Vec::with_capacity(SEALED_SEGMENT_BYTES));
                stream.decrypt_next_in_place(&self.ad, &mut segment).map_err(|_| tampered(&self.name, *key_id))?;
                out.extend_from_slice(&segment);
            }
            let take = (SEALED_SEGMENT_BYTES - pending.len()).min(ciphertext.len());
            let (now, rest) = ciphertext.split_at(take);
            pending.extend_from_slice(now);
            ciphertext = rest;
        }
        Ok(())
    }

    /// Opens the last segment: the object must end with one sealed as last.
    pub fn finish(self, out: &mut Vec<u8>) -> Result<(), BackupError> {
        match self.state {
            State::Header(header) => Err(BackupError::Damaged(format!(
                "{}: {} bytes, shorter than an encrypted object's {HEADER_BYTES}-byte header (truncated)",
                self.name,
                header.len()
            ))),
            State::Body { stream, mut pending, key_id } => {
                stream.decrypt_last_in_place(&self.ad, &mut pending).map_err(|_| tampered(&self.name, key_id))?;
                out.extend_from_slice(&pending);
                Ok(())
            }
        }
    }

    fn open_header(&self, header: &[u8]) -> Result<State, BackupError> {
        let Some(key_id) = sealed_with(header) else {
            return Err(BackupError::Damaged(format!("{}: not an encrypted object", self.name)));
        };
        let version = header.get(MAGIC.len()).copied().unwrap_or(0);
        if version != FORMAT_VERSION {
            return Err(BackupError::Damaged(format!(
                "{}: encryption format version {version} is not one this Paddock reads ({FORMAT_VERSION})",
                self.name
            )));
        }
        let key = self.keyring.and_then(|k| k.find(key_id)).ok_or_else(|| no_key(&self.name, key_id, self.keyring))?;
        let mut nonce = [0u8; NONCE_PREFIX_BYTES];
        nonce.copy_from_slice(&header[HEADER_BYTES - NONCE_PREFIX_BYTES..HEADER_BYTES]);
        Ok(State::Body {
            stream: Box::new(DecryptorBE32::from_aead(key.cipher(), &nonce.into())),
            pending: Vec::with_capacity(SEALED_SEGMENT_BYTES),
            key_id,
        })
    }
}

/// Opens a whole object at once.
pub fn open(keyring: Option<&Keyring>, object: &str, name: &str, sealed: &[u8]) -> Result<Vec<u8>, BackupError> {
    let mut out = Vec::with_capacity(sealed.len());
    let mut decryptor = Decryptor::new(keyring, object, name);
    decryptor.update(sealed, &mut out)?;
    decryptor.finish(&mut out)?;
    Ok(out)
}

fn no_key(name: &str, id: KeyId, keyring: Option<&Keyring>) -> BackupError {
    let given = match keyring {
        None => "none given".to_string(),
        Some(k) => format!("given: {}", k.ids().iter().map(KeyId::to_string).collect::<Vec<_>>().join(", ")),
    };
    BackupError::Key(format!("object {name} is encrypted with key {id}; no --encryption-key-file holds it ({given})"))
}

fn tampered(name: &str, id: KeyId) -> BackupError {
    BackupError::Damaged(format!(
        "object {name} failed authentication (key {id}): tampered, truncated, or not this object"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring(key: &Key) -> Keyring {
        Keyring::new(vec![key.clone()]).unwrap_or_else(|e| panic!("{e}"))
    }

    fn pattern(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 7 + i / 251) as u8).collect()
    }

    #[test]
    fn round_trips_at_segment_boundaries_and_sizes_the_object_exactly() {
        let key = Key::generate();
        for len in [0, 1, SEGMENT_BYTES - 1, SEGMENT_BYTES, SEGMENT_BYTES + 1, 3 * SEGMENT_BYTES] {
            let plain = pattern(len);
            let sealed = seal(&key, "c/snapshots/x.snap", &plain).expect("seal");
            let segments = len.div_ceil(SEGMENT_BYTES).max(1);
            assert_eq!(sealed.len(), HEADER_BYTES + len + segments * TAG_BYTES, "{len} bytes");
            assert_eq!(sealed_with(&sealed), Some(key.id()));
            let opened = open(Some(&ring(&key)), "c/snapshots/x.snap", "x", &sealed).expect("open");
            assert_eq!(opened, plain, "{len} bytes");
        }
    }

    #[test]
    fn streaming_in_odd_chunks_gives_the_same_plaintext() {
        let key = Key::generate();
        let plain = pattern(2 * SEGMENT_BYTES + 5);
        let mut sealed = Vec::new();
        let mut encryptor = Encryptor::new(&key, "k");
        for chunk in plain.chunks(1000) {
            encryptor.update(chunk, &mut sealed).expect("update");
        }
        encryptor.finish(&mut sealed).expect("finish");
        let keyring = ring(&key);
        let mut decryptor = Decryptor::new(Some(&keyring), "k", "k");
        let mut opened = Vec::new();
        for chunk in sealed.chunks(7) {
            decryptor.update(chunk, &mut opened).expect("update");
            // Released plaintext is always whole authenticated segments.
            assert_eq!(opened.len() % SEGMENT_BYTES, 0);
        }
        decryptor.finish(&mut opened).expect("finish");
        assert_eq!(opened, plain);
    }

    #[test]
    fn a_flipped_byte_a_cut_an_extra_segment_or_another_name_fails() {
        let key = Key::generate();
        let keyring = ring(&key);
        let plain = pattern(2 * SEGMENT_BYTES + 10);
        let sealed = seal(&key, "a", &plain).expect("seal");
        let fails = |bytes: &[u8], object: &str| open(Some(&keyring), object, "obj", bytes).is_err();
        for at in [HEADER_BYTES, HEADER_BYTES + SEGMENT_BYTES + 3, sealed.len() - 1, HEADER_BYTES - 1] {
            let mut bad = sealed.clone();
            bad[at] ^= 1;
            assert!(fails(&bad, "a"), "byte {at}");
        }
        // Cut at a segment boundary: the remaining last segment was not sealed as last.
        assert!(fails(&sealed[..HEADER_BYTES + 2 * (SEGMENT_BYTES + TAG_BYTES)], "a"));
        assert!(fails(&sealed[..HEADER_BYTES + SEGMENT_BYTES + TAG_BYTES], "a"));
        assert!(fails(&sealed[..HEADER_BYTES + 3], "a"));
        assert!(fails(&sealed, "b"));
        let err = open(Some(&keyring), "b", "obj", &sealed).expect_err("another name");
        assert!(err.to_string().contains("failed authentication") && err.to_string().contains(&key.id().to_string()));
    }

    #[test]
    fn a_missing_key_is_named_by_its_id() {
        let key = Key::generate();
        let other = Key::generate();
        let sealed = seal(&key, "a", b"hello").expect("seal");
        let err = open(Some(&ring(&other)), "a", "T/a", &sealed).expect_err("wrong key");
        let text = err.to_string();
        assert!(text.contains(&format!("object T/a is encrypted with key {}", key.id())), "{text}");
        assert!(text.contains(&other.id().to_string()), "{text}");
        let err = open(None, "a", "T/a", &sealed).expect_err("no key");
        assert!(err.to_string().contains("none given"), "{err}");
        let both = Keyring::new(vec![other.clone(), key.clone()]).expect("keyring");
        assert_eq!(open(Some(&both), "a", "T/a", &sealed).expect("the second key opens"), b"hello");
        assert_eq!(both.primary().id(), other.id());
    }

    #[test]
    fn key_files_are_raw_or_hex_and_a_wrong_size_is_named() {
        let dir = tempfile::tempdir().expect("dir");
        let raw = dir.path().join("raw.key");
        let hex_file = dir.path().join("hex.key");
        let bad = dir.path().join("bad.key");
        let bytes: [u8; KEY_BYTES] = std::array::from_fn(|i| i as u8);
        std::fs::write(&raw, bytes).expect("write");
        std::fs::write(&hex_file, format!("{}\n", crate::target::hex(&bytes))).expect("write");
        std::fs::write(&bad, [1u8; 17]).expect("write");
        let a = Key::load(&raw).expect("raw");
        let b = Key::load(&hex_file).expect("hex");
        assert_eq!(a.id(), b.id());
        assert_eq!(a.id().to_string().len(), 16);
        let err = Key::load(&bad).expect_err("17 bytes").to_string();
        assert!(err.contains(&bad.display().to_string()) && err.contains("17 bytes") && !err.contains('\n'), "{err}");
        assert!(!format!("{a:?}").contains("0001020304"), "Debug must not show the key");
    }
}
