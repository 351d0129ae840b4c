//! Targets: a large object goes up as a parallel multipart upload and comes back through parallel ranged
//! reads, byte for byte, into a directory and into a real S3-compatible server (moto); manifests are
//! create-only.

use bytes::Bytes;
use paddock_backup::target::Target;
use rand::{RngCore, SeedableRng};
use tokio::sync::mpsc;

/// 20 MiB and a bit: three parts of 8 MiB, the last one short.
const SIZE: usize = 20 * 1024 * 1024 + 12_345;

async fn round_trip(target: &Target) {
    let mut bytes = vec![0u8; SIZE];
    rand::rngs::StdRng::seed_from_u64(5).fill_bytes(&mut bytes);
    let (tx, rx) = mpsc::channel(4);
    let source = bytes.clone();
    let feeder = tokio::spawn(async move {
        for chunk in source.chunks(1_000_000) {
            tx.send(Ok(Bytes::copy_from_slice(chunk))).await.expect("send");
        }
    });
    let written = target.upload("c/snapshots/big.snap", rx, &|_| {}).await.expect("upload");
    feeder.await.expect("feeder");
    assert_eq!(written.size, SIZE as u64);
    let mut back = Vec::with_capacity(SIZE);
    let read = target
        .download("c/snapshots/big.snap", |chunk| {
            back.extend_from_slice(chunk);
            Ok(())
        })
        .await
        .expect("download");
    assert_eq!(read, written, "size and SHA-256 of what was read are those of what was written");
    assert!(back == bytes, "the object comes back byte for byte");

    assert!(target.put_new("c/snapshots/x.json", Bytes::from_static(b"one")).await.expect("first put"));
    assert!(!target.put_new("c/snapshots/x.json", Bytes::from_static(b"two")).await.expect("second put"));
    assert_eq!(target.get("c/snapshots/x.json").await.expect("get"), Bytes::from_static(b"one"), "create-only");
    let err = target.download("c/snapshots/absent", |_| Ok(())).await.expect_err("a missing object");
    assert!(err.to_string().contains("does not exist"), "{err}");
}

#[tokio::test]
async fn a_directory_target_round_trips_a_large_object() {
    let dir = tempfile::tempdir().expect("temp dir");
    round_trip(&Target::open(dir.path().to_str().expect("utf-8")).expect("target")).await;
}

#[tokio::test]
async fn an_s3_target_round_trips_a_large_object() {
    let s3 = paddock_testkit::S3Server::start().expect("moto starts");
    // SAFETY: no other test of this binary reads or writes the environment (only S3 targets read these).
    for (key, value) in s3.env() {
        unsafe { std::env::set_var(key, value) };
    }
    round_trip(&Target::open(&s3.url("it")).expect("target")).await;
    let err = Target::open("ftp://somewhere/x").err().expect("an unknown scheme");
    assert!(err.to_string().contains("unknown target scheme \"ftp\""), "{err}");
}
