//! Feeds random and mutated frames to every decoder: none may panic, and none may allocate beyond its
//! input. PADDOCK_FUZZ_FRAMES sets the count (default 1,000,000; see the README to run it longer).

use bytes::BytesMut;
use paddock_proto::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const MAX: usize = 4096;

fn request_seeds() -> Vec<Vec<u8>> {
    let create = CreateRequest { path: "/a/b".into(), data: Some(b"data".to_vec()), acl: Acl::open_unsafe(), flags: 2 };
    let null_create = CreateRequest { path: "/n".into(), data: None, ..create.clone() };
    let requests = [
        Request::Create { op: OpCode::Create2, req: create.clone() },
        Request::SetData(SetDataRequest { path: "/x".into(), data: Some(vec![1, 2, 3]), version: 4 }),
        Request::Multi(vec![
            MultiOp::Create { op: OpCode::Create, req: create },
            MultiOp::Create { op: OpCode::Create2, req: null_create.clone() },
            MultiOp::SetData(SetDataRequest { path: "/n".into(), data: None, version: -1 }),
            MultiOp::Delete(DeleteRequest { path: "/y".into(), version: -1 }),
            MultiOp::Check(CheckVersionRequest { path: "/z".into(), version: 1 }),
        ]),
        Request::SetWatches2(SetWatches { relative_zxid: 9, data_watches: vec!["/a".into()], ..SetWatches::default() }),
        Request::Auth(AuthPacket { auth_type: 0, scheme: "digest".into(), auth: b"u:p".to_vec() }),
        Request::Create { op: OpCode::Create, req: null_create },
        Request::SetData(SetDataRequest { path: "/x".into(), data: None, version: -1 }),
    ];
    requests.iter().enumerate().map(|(i, r)| r.encode(i as i32).to_vec()).collect()
}

/// Reply bodies behind a request-like header (xid, opcode), so that [`feed`] hands them to
/// `Response::decode` with the opcode they answer: null and empty getData buffers among them.
fn response_seeds() -> Vec<Vec<u8>> {
    let stat = Stat { data_length: 0, num_children: 1, ..Stat::default() };
    let responses = [
        (OpCode::GetData, Response::GetData { data: None, stat }),
        (OpCode::GetData, Response::GetData { data: Some(vec![]), stat }),
        (
            OpCode::MultiRead,
            Response::Multi(vec![
                MultiResult::GetData { data: None, stat },
                MultiResult::GetData { data: Some(b"d".to_vec()), stat },
                MultiResult::GetChildren(vec!["c".into()]),
            ]),
        ),
    ];
    responses
        .iter()
        .enumerate()
        .map(|(i, (op, resp))| {
            let mut w = JuteWriter::framed();
            w.write_i32(i as i32);
            w.write_i32(*op as i32);
            resp.write_to(&mut w);
            w.into_frame().to_vec()
        })
        .collect()
}

fn seeds() -> Vec<Vec<u8>> {
    let mut seeds = request_seeds();
    seeds.extend(response_seeds());
    let connect =
        ConnectRequest { passwd: vec![0; 16], timeout: 30_000, read_only: Some(false), ..ConnectRequest::default() };
    seeds.push(connect.to_bytes());
    seeds
}

fn mutate(rng: &mut StdRng, input: &mut Vec<u8>) {
    for _ in 0..rng.random_range(1..4) {
        match rng.random_range(0..5) {
            0 if !input.is_empty() => {
                let i = rng.random_range(0..input.len());
                input[i] ^= 1 << rng.random_range(0..8);
            }
            1 if !input.is_empty() => {
                let i = rng.random_range(0..input.len());
                input[i] = [0x00, 0xff, 0x7f, 0x80][rng.random_range(0..4)];
            }
            2 => input.truncate(rng.random_range(0..=input.len())),
            3 => input.extend((0..rng.random_range(0..8)).map(|_| rng.random::<u8>())),
            _ => {
                // Overwrite a 4-byte window with a hostile length.
                if input.len() >= 4 {
                    let i = rng.random_range(0..=input.len() - 4);
                    let len: i32 = [-1, -2, i32::MAX, i32::MIN, 0x100000, 7][rng.random_range(0..6)];
                    input[i..i + 4].copy_from_slice(&len.to_be_bytes());
                }
            }
        }
    }
}

fn feed(input: &[u8]) {
    let mut buf = BytesMut::from(input);
    let _ = decode_frame(&mut buf, MAX);
    let _ = decode_connect_request(input);
    if let Some(op) = input.get(4..8) {
        let op = i32::from_be_bytes([op[0], op[1], op[2], op[3]]);
        let body = input.get(8..).unwrap_or_default();
        let _ = Request::decode(op, body, MAX);
        if let Some(code) = OpCode::from_i32(op) {
            let _ = Response::decode(code, body, MAX);
        }
    }
}

#[test]
fn a_million_random_and_mutated_frames_never_panic() {
    let count: u64 = std::env::var("PADDOCK_FUZZ_FRAMES").ok().and_then(|v| v.parse().ok()).unwrap_or(1_000_000);
    let seed: u64 = std::env::var("PADDOCK_FUZZ_SEED").ok().and_then(|v| v.parse().ok()).unwrap_or(0x5eed);
    let mut rng = StdRng::seed_from_u64(seed);
    let seeds = seeds();
    let mut fed = 0u64;
    for i in 0..count {
        let mut input = if i % 4 == 0 {
            (0..rng.random_range(0..64)).map(|_| rng.random::<u8>()).collect()
        } else {
            seeds[rng.random_range(0..seeds.len())][4..].to_vec()
        };
        mutate(&mut rng, &mut input);
        feed(&input);
        // Also with the frame prefix kept, for decode_frame.
        let mut framed = (input.len() as u32).to_be_bytes().to_vec();
        framed.extend_from_slice(&input);
        feed(&framed);
        fed += 1;
    }
    assert_eq!(fed, count);
    // The seeds themselves still decode, so the mutation above really explored around valid frames.
    for s in request_seeds() {
        let op = i32::from_be_bytes([s[8], s[9], s[10], s[11]]);
        assert!(Request::decode(op, &s[12..], MAX).is_ok());
    }
    for s in response_seeds() {
        let op = OpCode::from_i32(i32::from_be_bytes([s[8], s[9], s[10], s[11]]));
        assert!(op.is_some_and(|op| Response::decode(op, &s[12..], MAX).is_ok()));
    }
}
