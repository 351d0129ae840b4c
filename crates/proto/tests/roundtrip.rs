//! Every request and reply survives encode → decode unchanged, for arbitrary field values.

use paddock_proto::*;
use proptest::collection::vec;
use proptest::prelude::*;

const MAX: usize = DEFAULT_MAX_BUFFER;

fn text() -> impl Strategy<Value = String> {
    "[/a-zA-Z0-9_.\u{e9}\u{4e2d}-]{0,24}"
}

fn bytes() -> impl Strategy<Value = Vec<u8>> {
    vec(any::<u8>(), 0..64)
}

/// Znode data: null (`None`), empty and non-empty all occur, and must come back as they went.
fn data() -> impl Strategy<Value = Option<Vec<u8>>> {
    proptest::option::of(bytes())
}

fn stat() -> impl Strategy<Value = Stat> {
    (any::<[i64; 6]>(), any::<[i32; 5]>()).prop_map(|(l, i)| Stat {
        czxid: l[0],
        mzxid: l[1],
        ctime: l[2],
        mtime: l[3],
        version: i[0],
        cversion: i[1],
        aversion: i[2],
        ephemeral_owner: l[4],
        data_length: i[3],
        num_children: i[4],
        pzxid: l[5],
    })
}

fn acls() -> impl Strategy<Value = Vec<Acl>> {
    vec((any::<i32>(), text(), text()).prop_map(|(p, s, i)| Acl::new(p, Id::new(s, i))), 0..4)
}

fn create() -> impl Strategy<Value = CreateRequest> {
    (text(), data(), acls(), any::<i32>()).prop_map(|(path, data, acl, flags)| CreateRequest { path, data, acl, flags })
}

fn create_ttl() -> impl Strategy<Value = CreateTtlRequest> {
    (create(), any::<i64>()).prop_map(|(c, ttl)| CreateTtlRequest {
        path: c.path,
        data: c.data,
        acl: c.acl,
        flags: c.flags,
        ttl,
    })
}

fn path_watch() -> impl Strategy<Value = PathWatchRequest> {
    (text(), any::<bool>()).prop_map(|(path, watch)| PathWatchRequest { path, watch })
}

fn path() -> impl Strategy<Value = PathRequest> {
    text().prop_map(|path| PathRequest { path })
}

fn path_version() -> impl Strategy<Value = (String, i32)> {
    (text(), any::<i32>())
}

fn multi_op() -> impl Strategy<Value = MultiOp> {
    let create_op = prop_oneof![Just(OpCode::Create), Just(OpCode::Create2), Just(OpCode::CreateContainer)];
    prop_oneof![
        (create_op, create()).prop_map(|(op, req)| MultiOp::Create { op, req }),
        create_ttl().prop_map(MultiOp::CreateTtl),
        path_version().prop_map(|(path, version)| MultiOp::Delete(DeleteRequest { path, version })),
        (text(), data(), any::<i32>()).prop_map(|(path, data, version)| MultiOp::SetData(SetDataRequest {
            path,
            data,
            version
        })),
        path_version().prop_map(|(path, version)| MultiOp::Check(CheckVersionRequest { path, version })),
        path_watch().prop_map(MultiOp::GetChildren),
        path_watch().prop_map(MultiOp::GetData),
    ]
}

fn set_watches(v2: bool) -> impl Strategy<Value = SetWatches> {
    (any::<i64>(), vec(text(), 0..3), vec(text(), 0..3), vec(text(), 0..3), vec(text(), 0..3), vec(text(), 0..3))
        .prop_map(move |(relative_zxid, d, e, c, p, r)| SetWatches {
            relative_zxid,
            data_watches: d,
            exist_watches: e,
            child_watches: c,
            persistent_watches: if v2 { p } else { vec![] },
            persistent_recursive_watches: if v2 { r } else { vec![] },
        })
}

fn request() -> impl Strategy<Value = Request> {
    let create_op = prop_oneof![Just(OpCode::Create), Just(OpCode::Create2), Just(OpCode::CreateContainer)];
    prop_oneof![
        (create_op, create()).prop_map(|(op, req)| Request::Create { op, req }),
        create_ttl().prop_map(Request::CreateTtl),
        path_version().prop_map(|(path, version)| Request::Delete(DeleteRequest { path, version })),
        path().prop_map(Request::DeleteContainer),
        path_watch().prop_map(Request::Exists),
        path_watch().prop_map(Request::GetData),
        (text(), data(), any::<i32>()).prop_map(|(path, data, version)| Request::SetData(SetDataRequest {
            path,
            data,
            version
        })),
        path().prop_map(Request::GetAcl),
        (text(), acls(), any::<i32>()).prop_map(|(path, acl, version)| Request::SetAcl(SetAclRequest {
            path,
            acl,
            version
        })),
        path_watch().prop_map(Request::GetChildren),
        path_watch().prop_map(Request::GetChildren2),
        path().prop_map(Request::Sync),
        path_version().prop_map(|(path, version)| Request::Check(CheckVersionRequest { path, version })),
        vec(multi_op(), 0..5).prop_map(Request::Multi),
        vec(multi_op(), 0..5).prop_map(Request::MultiRead),
        (text(), text(), text(), any::<i64>()).prop_map(|(j, l, n, c)| Request::Reconfig(ReconfigRequest {
            joining_servers: j,
            leaving_servers: l,
            new_members: n,
            cur_config_id: c
        })),
        (text(), any::<i32>())
            .prop_map(|(path, watcher_type)| Request::CheckWatches(WatchesRequest { path, watcher_type })),
        (text(), any::<i32>())
            .prop_map(|(path, watcher_type)| Request::RemoveWatches(WatchesRequest { path, watcher_type })),
        set_watches(false).prop_map(Request::SetWatches),
        set_watches(true).prop_map(Request::SetWatches2),
        (text(), any::<i32>()).prop_map(|(path, mode)| Request::AddWatch(AddWatchRequest { path, mode })),
        path().prop_map(Request::GetEphemerals),
        path().prop_map(Request::GetAllChildrenNumber),
        Just(Request::WhoAmI),
        Just(Request::Ping),
        Just(Request::CloseSession),
        (any::<i32>(), text(), bytes()).prop_map(|(auth_type, scheme, auth)| Request::Auth(AuthPacket {
            auth_type,
            scheme,
            auth
        })),
        bytes().prop_map(|token| Request::Sasl(SaslRequest { token })),
    ]
}

fn multi_result() -> impl Strategy<Value = MultiResult> {
    let code = prop_oneof![Just(ErrorCode::Ok), Just(ErrorCode::NoNode), Just(ErrorCode::RuntimeInconsistency)];
    prop_oneof![
        text().prop_map(MultiResult::Create),
        (text(), stat()).prop_map(|(path, stat)| MultiResult::Create2 { path, stat }),
        Just(MultiResult::Delete),
        stat().prop_map(MultiResult::SetData),
        Just(MultiResult::Check),
        vec(text(), 0..4).prop_map(MultiResult::GetChildren),
        (data(), stat()).prop_map(|(data, stat)| MultiResult::GetData { data, stat }),
        code.prop_map(MultiResult::Error),
    ]
}

fn response() -> impl Strategy<Value = (OpCode, Response)> {
    prop_oneof![
        Just((OpCode::Delete, Response::Empty)),
        text().prop_map(|p| (OpCode::Create, Response::Create(p))),
        (text(), stat()).prop_map(|(path, stat)| (OpCode::Create2, Response::Create2 { path, stat })),
        stat().prop_map(|s| (OpCode::Exists, Response::Stat(s))),
        (data(), stat()).prop_map(|(data, stat)| (OpCode::GetData, Response::GetData { data, stat })),
        (acls(), stat()).prop_map(|(acl, stat)| (OpCode::GetAcl, Response::GetAcl { acl, stat })),
        vec(text(), 0..4).prop_map(|c| (OpCode::GetChildren, Response::GetChildren(c))),
        (vec(text(), 0..4), stat())
            .prop_map(|(children, stat)| (OpCode::GetChildren2, Response::GetChildren2 { children, stat })),
        text().prop_map(|p| (OpCode::Sync, Response::Sync(p))),
        vec(multi_result(), 0..5).prop_map(|r| (OpCode::Multi, Response::Multi(r))),
        Just((OpCode::AddWatch, Response::ErrorBody(0))),
        vec(text(), 0..4).prop_map(|e| (OpCode::GetEphemerals, Response::GetEphemerals(e))),
        any::<i32>().prop_map(|n| (OpCode::GetAllChildrenNumber, Response::AllChildrenNumber(n))),
        vec((text(), text()), 0..3).prop_map(|v| (
            OpCode::WhoAmI,
            Response::WhoAmI(v.into_iter().map(|(auth_scheme, user)| ClientInfo { auth_scheme, user }).collect())
        )),
        proptest::option::of(bytes()).prop_map(|t| (OpCode::Sasl, Response::Sasl(t))),
    ]
}

fn split_frame(frame: &[u8]) -> Vec<u8> {
    let mut buf = bytes::BytesMut::from(frame);
    let body = decode_frame(&mut buf, MAX).expect("valid frame").expect("complete frame");
    assert!(buf.is_empty());
    body.to_vec()
}

proptest! {
    #[test]
    fn requests_round_trip(req in request(), xid in any::<i32>()) {
        let body = split_frame(&req.encode(xid));
        let mut r = JuteReader::new(&body, MAX);
        let header = RequestHeader::read_from(&mut r).unwrap();
        prop_assert_eq!(header.clone(), RequestHeader { xid, op: req.opcode() as i32 });
        prop_assert_eq!(Request::decode(header.op, &body[8..], MAX), Ok(req));
    }

    #[test]
    fn replies_round_trip((op, resp) in response(), xid in any::<i32>(), zxid in any::<i64>()) {
        let body = split_frame(&encode_reply(&ReplyHeader { xid, zxid, err: 0 }, Some(&resp)));
        let mut r = JuteReader::new(&body, MAX);
        prop_assert_eq!(ReplyHeader::read_from(&mut r).unwrap(), ReplyHeader { xid, zxid, err: 0 });
        prop_assert_eq!(Response::decode(op, &body[16..], MAX), Ok(resp));
    }

    #[test]
    fn error_replies_have_no_body((_, resp) in response(), err in -130i32..-1) {
        let body = split_frame(&encode_reply(&ReplyHeader { xid: 1, zxid: 2, err }, Some(&resp)));
        prop_assert_eq!(body.len(), 16);
    }

    #[test]
    fn handshake_round_trips_with_and_without_read_only(
        last_zxid_seen in any::<i64>(), timeout in any::<i32>(), session_id in any::<i64>(),
        passwd in vec(any::<u8>(), 16), read_only in proptest::option::of(any::<bool>()),
    ) {
        let req = ConnectRequest { protocol_version: 0, last_zxid_seen, timeout, session_id, passwd: passwd.clone(), read_only };
        prop_assert_eq!(decode_connect_request(&req.to_bytes()), Ok(req));
        let resp = ConnectResponse { protocol_version: 0, timeout, session_id, passwd, read_only };
        let body = split_frame(&encode_connect_response(&resp));
        prop_assert_eq!(ConnectResponse::read_from(&mut JuteReader::new(&body, MAX)), Ok(resp));
    }

    #[test]
    fn notifications_round_trip(zxid in any::<i64>(), event_type in 1i32..5, path in text()) {
        let event = WatcherEvent { event_type, state: KEEPER_STATE_SYNC_CONNECTED, path };
        let body = split_frame(&encode_notification(zxid, &event));
        let mut r = JuteReader::new(&body, MAX);
        prop_assert_eq!(ReplyHeader::read_from(&mut r).unwrap(), ReplyHeader { xid: xid::NOTIFICATION, zxid, err: 0 });
        prop_assert_eq!(WatcherEvent::read_from(&mut r), Ok(event));
    }
}

/// Byte-exact check against the jute layout of `create /a x` with OPEN_ACL_UNSAFE, written out by hand from
/// zookeeper.jute, so that a symmetric mistake in both encoder and decoder cannot hide.
#[test]
fn create_request_matches_the_java_client_bytes() {
    let req = Request::Create {
        op: OpCode::Create,
        req: CreateRequest { path: "/a".into(), data: Some(b"x".to_vec()), acl: Acl::open_unsafe(), flags: 0 },
    };
    let expected: Vec<u8> = [
        &[0, 0, 0, 50][..],         // frame length
        &[0, 0, 0, 1, 0, 0, 0, 1],  // xid 1, create
        &[0, 0, 0, 2, b'/', b'a'],  // path
        &[0, 0, 0, 1, b'x'],        // data
        &[0, 0, 0, 1, 0, 0, 0, 31], // one ACL, perms ALL
        &[0, 0, 0, 5, b'w', b'o', b'r', b'l', b'd'],
        &[0, 0, 0, 6, b'a', b'n', b'y', b'o', b'n', b'e'],
        &[0, 0, 0, 0], // flags
    ]
    .concat();
    assert_eq!(req.encode(1).to_vec(), expected);
}

/// `zkCli.sh create /n` sends a null buffer (length -1) for the data, and ZooKeeper answers getData on
/// such a node with a null buffer again: both directions keep -1 apart from an empty buffer (length 0).
#[test]
fn null_data_is_length_minus_one_and_empty_data_length_zero() {
    let null = CreateRequest { path: "/n".into(), data: None, acl: vec![], flags: 0 };
    let empty = CreateRequest { data: Some(vec![]), ..null.clone() };
    assert_eq!(&null.to_bytes()[6..10], &[0xff, 0xff, 0xff, 0xff]);
    assert_eq!(&empty.to_bytes()[6..10], &[0, 0, 0, 0]);
    for req in [null, empty] {
        let body = req.to_bytes();
        assert_eq!(Request::decode(1, &body, MAX), Ok(Request::Create { op: OpCode::Create, req }));
    }
    let set = SetDataRequest { path: "/n".into(), data: None, version: -1 };
    assert_eq!(&set.to_bytes()[6..10], &[0xff, 0xff, 0xff, 0xff]);
    assert_eq!(Request::decode(5, &set.to_bytes(), MAX), Ok(Request::SetData(set)));

    let mut w = JuteWriter::new();
    Response::GetData { data: None, stat: Stat::default() }.write_to(&mut w);
    let body = w.into_bytes();
    assert_eq!(&body[..4], &[0xff, 0xff, 0xff, 0xff]);
    assert_eq!(body.len(), 4 + 68);
    assert_eq!(
        Response::decode(OpCode::GetData, &body, MAX),
        Ok(Response::GetData { data: None, stat: Stat::default() })
    );
    let mut w = JuteWriter::new();
    Response::Multi(vec![MultiResult::GetData { data: None, stat: Stat::default() }]).write_to(&mut w);
    let body = w.into_bytes();
    assert_eq!(&body[9..13], &[0xff, 0xff, 0xff, 0xff], "after the 9-byte MultiHeader");
    assert_eq!(
        Response::decode(OpCode::MultiRead, &body, MAX),
        Ok(Response::Multi(vec![MultiResult::GetData { data: None, stat: Stat::default() }]))
    );
}

#[test]
fn unknown_opcodes_and_bad_multi_ops_are_decode_errors() {
    assert_eq!(Request::decode(99, &[], MAX), Err(DecodeError::UnknownOpCode(99)));
    assert_eq!(Request::decode(0, &[], MAX), Err(DecodeError::UnknownOpCode(0)));
    let mut w = JuteWriter::new();
    MultiHeader { op: OpCode::Sync as i32, done: false, err: -1 }.write_to(&mut w);
    assert_eq!(Request::decode(14, &w.into_bytes(), MAX), Err(DecodeError::InvalidMultiOp(9)));
    assert_eq!(Request::decode(1, &[0, 0], MAX), Err(DecodeError::Truncated));
}
