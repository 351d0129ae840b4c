"""kazoo's znode API against each server: every create mode, reads, writes, Stat rules and error codes.

Expected values are ZooKeeper 3.8's answers (checked against the Debian server); both targets must give them.
"""

import os
import time

import pytest
from kazoo.exceptions import (
    BadArgumentsError,
    BadVersionError,
    NoAuthError,
    NoChildrenForEphemeralsError,
    NodeExistsError,
    NoNodeError,
    NotEmptyError,
    ReconfigDisabledError,
)
from kazoo.protocol.serialization import GetChildren, GetData

from kazoo_ext import (
    CreateContainer,
    CreateTTL,
    GetAllChildrenNumber,
    GetEphemerals,
    MultiRead,
    call,
)
from targets import cluster_mode, container_check_ms, ensemble_config, role_of, start_kazoo, stop_kazoo
from zkwire import PERSISTENT_SEQUENTIAL, ZkError, four_letter_word


def wait_for(predicate, timeout=15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return predicate()


def test_persistent_create_get_set_delete(kz, root):
    path = kz.create(f"{root}/n", b"hello")
    assert path == f"{root}/n"
    data, stat = kz.get(path)
    assert data == b"hello"
    assert stat.version == 0 and stat.cversion == 0 and stat.aversion == 0
    assert stat.czxid == stat.mzxid == stat.pzxid > 0
    assert stat.ctime == stat.mtime > 0
    assert stat.ephemeralOwner == 0 and stat.dataLength == 5 and stat.numChildren == 0

    set_stat = kz.set(path, b"world!", version=0)
    assert set_stat.version == 1 and set_stat.dataLength == 6
    assert set_stat.mzxid > set_stat.czxid and set_stat.mtime >= set_stat.ctime
    assert kz.get(path)[0] == b"world!"

    with pytest.raises(BadVersionError):
        kz.set(path, b"x", version=0)
    with pytest.raises(BadVersionError):
        kz.delete(path, version=0)
    kz.delete(path, version=1)
    assert kz.exists(path) is None
    with pytest.raises(NoNodeError):
        kz.get(path)
    with pytest.raises(NoNodeError):
        kz.delete(path)
    with pytest.raises(NoNodeError):
        kz.set(path, b"x")


def test_create_errors(kz, root):
    kz.create(f"{root}/a")
    with pytest.raises(NodeExistsError):
        kz.create(f"{root}/a")
    with pytest.raises(NoNodeError):
        kz.create(f"{root}/missing/child")
    kz.create(f"{root}/a/b")
    with pytest.raises(NotEmptyError):
        kz.delete(f"{root}/a")
    kz.create(f"{root}/eph", ephemeral=True)
    with pytest.raises(NoChildrenForEphemeralsError):
        kz.create(f"{root}/eph/child")
    with pytest.raises(NoChildrenForEphemeralsError):
        kz.create(f"{root}/eph/seq-", sequence=True)


def test_ephemeral_owned_by_session_and_removed_on_close(kz, kz_factory, root):
    other = kz_factory()
    path, stat = other.create(f"{root}/e", b"x", ephemeral=True, include_data=True)
    assert stat.ephemeralOwner == other.client_id[0]
    assert kz.exists(path).ephemeralOwner == other.client_id[0]
    other.stop()
    assert kz.exists(path) is None


def test_sequential_counters(kz, root):
    names = [kz.create(f"{root}/s-", sequence=True) for _ in range(3)]
    assert names == [f"{root}/s-{i:010d}" for i in range(3)]
    kz.create(f"{root}/plain")  # every child create moves the counter
    assert kz.create(f"{root}/s-", sequence=True) == f"{root}/s-0000000004"
    kz.delete(f"{root}/s-0000000004")  # a delete never gives a number back
    assert kz.create(f"{root}/s-", sequence=True) == f"{root}/s-0000000005"
    assert kz.create(f"{root}/e-", ephemeral=True, sequence=True) == f"{root}/e-0000000006"
    assert kz.exists(f"{root}/e-0000000006").ephemeralOwner == kz.client_id[0]
    # kazoo keeps a trailing slash for sequential creates: the name is just the number.
    assert kz.create(f"{root}/", sequence=True) == f"{root}/0000000007"


def test_create2_returns_stat(kz, root):
    path, stat = kz.create(f"{root}/c2", b"abc", include_data=True)
    assert path == f"{root}/c2"
    assert stat.dataLength == 3 and stat.version == 0 and stat.czxid == stat.mzxid
    assert kz.exists(path) == stat


def test_children_and_children2(kz, root):
    for name in ("x", "y", "z"):
        kz.create(f"{root}/{name}")
    assert sorted(kz.get_children(root)) == ["x", "y", "z"]
    children, stat = kz.get_children(root, include_data=True)
    assert sorted(children) == ["x", "y", "z"]
    assert stat.numChildren == 3 and stat.cversion == 3
    kz.delete(f"{root}/y")
    stat = kz.exists(root)
    assert stat.numChildren == 2 and stat.cversion == 4  # deletes count in the visible cversion
    with pytest.raises(NoNodeError):
        kz.get_children(f"{root}/nope")


def test_stat_rules_for_acl_and_children(kz, root):
    path = kz.create(f"{root}/p")
    before = kz.exists(path)
    after_acl = kz.set_acls(path, kz.get_acls(path)[0], version=0)
    assert after_acl.aversion == 1
    assert after_acl.mzxid == before.mzxid  # setACL does not touch mzxid
    with pytest.raises(BadVersionError):
        kz.set_acls(path, kz.get_acls(path)[0], version=0)
    child_stat = kz.create(f"{path}/c", include_data=True)[1]
    parent = kz.exists(path)
    assert parent.pzxid == child_stat.czxid and parent.mzxid == before.mzxid


def test_null_and_empty_data(kz, root):
    kz.create(f"{root}/empty", b"")
    data, stat = kz.get(f"{root}/empty")
    assert data == b"" and stat.dataLength == 0
    kz.create(f"{root}/none", None)
    data, stat = kz.get(f"{root}/none")
    assert data in (None, b"") and stat.dataLength == 0


def test_large_value_near_limit(kz, root):
    value = b"v" * (1024 * 1024 - 1024)
    kz.create(f"{root}/big", value)
    assert kz.get(f"{root}/big")[0] == value


def test_sync_returns_path(kz, root):
    assert kz.sync(root) == root


def test_makepath_and_recursive_delete(kz, root):
    kz.create(f"{root}/a/b/c", b"deep", makepath=True)
    kz.ensure_path(f"{root}/a/b/d")
    assert sorted(kz.get_children(f"{root}/a/b")) == ["c", "d"]
    kz.delete(f"{root}/a", recursive=True)
    assert kz.exists(f"{root}/a") is None


@pytest.mark.parametrize("bad", ["\u0000", "\u0001", "\u001f", "\u007f", "\u009f", "\ud7ff\ue000", "\uf8ff",
                                 "\ufff0", "\uffff", "\U0001f600"])
def test_bad_characters_rejected(kz, root, bad):
    # U+D7FF is allowed but U+E000 (private use) is not; a non-BMP character is a surrogate pair on the wire.
    with pytest.raises(BadArgumentsError):
        kz.create(f"{root}/a{bad}b")
    with pytest.raises(BadArgumentsError):
        kz.set(f"{root}/a{bad}b", b"x")


@pytest.mark.parametrize("shape", ["/a/./b", "/a/../b", "/."])
def test_relative_segments_refused_by_kazoo(kz, root, shape):
    # kazoo refuses these before sending; the raw tests below show what the server does with them.
    with pytest.raises(ValueError):
        kz.create(root + shape)


# (path suffix, create, sequential create, setData, exists) exactly as ZooKeeper 3.8 answers them: the parent
# is looked up before the path is validated, the sequence number is appended before it, and reads validate
# nothing but NUL characters.
RAW_PATH_CASES = [
    ("/a/", "BadArguments", "/a/0000000000", "BadArguments", None),
    ("/a//b", "NoNode", "NoNode", "BadArguments", None),
    ("/a/./b", "NoNode", "NoNode", "BadArguments", None),
    ("/a/../b", "NoNode", "NoNode", "BadArguments", None),
    ("/.", "BadArguments", "/.0000000001", "BadArguments", None),
    ("/..", "BadArguments", "/..0000000001", "BadArguments", None),
    ("/a/.", "BadArguments", "/a/.0000000000", "BadArguments", None),
    ("/a\u0000b", "BadArguments", "BadArguments", "BadArguments", "BadArguments"),
    ("/a\u0001b", "BadArguments", "BadArguments", "BadArguments", None),
]


@pytest.mark.parametrize("suffix,create,seq_create,set_data,exists", RAW_PATH_CASES)
def test_path_validation_on_the_wire(raw, root, suffix, create, seq_create, set_data, exists):
    raw.create(f"{root}/a")

    def outcome(fn):
        try:
            result = fn()
        except ZkError as e:
            return e.name
        return result[0] if isinstance(result, tuple) else result

    path = root + suffix
    assert outcome(lambda: raw.create(path)) == create
    expected_seq = root + seq_create if seq_create.startswith("/") else seq_create
    assert outcome(lambda: raw.create2(path, flags=PERSISTENT_SEQUENTIAL)) == expected_seq
    assert outcome(lambda: raw.set(path, b"x")) == set_data
    assert outcome(lambda: raw.exists(path)) == exists


@pytest.mark.parametrize("relative", ["", "a", "a/b"])
def test_relative_paths_on_the_wire(raw, relative):
    with pytest.raises(ZkError) as create_error:
        raw.create(relative)
    assert create_error.value.name == ("NoNode" if "/" in relative else "BadArguments")
    with pytest.raises(ZkError) as set_error:
        raw.set(relative, b"x")
    assert set_error.value.name == "BadArguments"


def test_container_reaped_after_last_child_goes(kz, root):
    path, stat = call(kz, CreateContainer(f"{root}/box", b"", None))
    assert path == f"{root}/box" and stat.ephemeralOwner == 0
    kz.create(f"{path}/item")
    time.sleep(3 * container_check_ms() / 1000)
    assert kz.exists(path) is not None  # not empty: kept
    kz.delete(f"{path}/item")
    assert wait_for(lambda: kz.exists(path) is None)


def test_ttl_node(kz, root):
    path, stat = call(kz, CreateTTL(f"{root}/ttl", b"t", None, 5, 600000))
    assert path == f"{root}/ttl" and stat.ephemeralOwner == 0
    seq, _ = call(kz, CreateTTL(f"{root}/ttl-", b"", None, 6, 600000))
    assert seq == f"{root}/ttl-0000000001"
    for flags, ttl in ((5, 0), (5, -1), (5, 1 << 40), (1, 1000), (0, 1000)):
        with pytest.raises(BadArgumentsError):
            call(kz, CreateTTL(f"{root}/bad", b"", None, flags, ttl))
    short, _ = call(kz, CreateTTL(f"{root}/short", b"", None, 5, 200))
    assert wait_for(lambda: kz.exists(short) is None)
    assert kz.exists(path) is not None


def test_multi_read(kz, root):
    kz.create(f"{root}/a", b"A")
    kz.create(f"{root}/a/x")
    results = call(kz, MultiRead([GetData(f"{root}/a", None), GetChildren(f"{root}/a", None),
                                  GetData(f"{root}/missing", None), GetChildren(f"{root}/missing", None)]))
    assert results[0][0] == b"A" and results[0][1].numChildren == 1
    assert results[1] == ["x"]
    assert isinstance(results[2], NoNodeError) and isinstance(results[3], NoNodeError)


def test_get_ephemerals_and_all_children_number(kz, kz_factory, root):
    other = kz_factory()
    kz.create(f"{root}/e1", ephemeral=True)
    kz.create(f"{root}/sub/e2", ephemeral=True, makepath=True)
    other.create(f"{root}/other", ephemeral=True)
    mine = call(kz, GetEphemerals(root))
    assert sorted(mine) == [f"{root}/e1", f"{root}/sub/e2"]  # only the caller's session
    assert call(kz, GetEphemerals(f"{root}/su")) == [f"{root}/sub/e2"]  # a plain prefix match
    assert call(other, GetEphemerals(root)) == [f"{root}/other"]
    assert call(kz, GetAllChildrenNumber(root)) == 4
    assert call(kz, GetAllChildrenNumber(f"{root}/sub")) == 1
    with pytest.raises(NoNodeError):
        call(kz, GetAllChildrenNumber(f"{root}/nope"))


def test_reconfig_disabled_on_standalone(kz, target):
    # The cluster phase's members have reconfigEnabled=true (reconfig/ runs last): a member checks the request,
    # then the ACL of /zookeeper/config (writable by the super user only), so this client hears NoAuth there.
    refusal = NoAuthError if role_of(target) != "standalone" else ReconfigDisabledError
    with pytest.raises(refusal):
        kz.reconfig(joining="server.2=127.0.0.1:2888:3888;2182", leaving=None, new_members=None)


def test_special_nodes(kz):
    assert sorted(kz.get_children("/zookeeper")) >= ["config", "quota"]
    with pytest.raises(BadArgumentsError):
        kz.delete("/zookeeper/quota")


def test_zookeeper_config_node(kz, target):
    data, stat = kz.get("/zookeeper/config")
    if cluster_mode() and target == "paddock":
        # An ensemble member, unlike a standalone server, keeps the ensemble's configuration here; ZooKeeper
        # writes it with version -1 (DataTree.setData(path, data, -1, ...) from initConfigInZKDatabase), and
        # `version=` is the hex of its mzxid (0 for a static configuration; with reconfigEnabled=true, as here,
        # ZooKeeper's first leader versions it with its first zxid, ZOOKEEPER-1783).
        assert data == ensemble_config() + b"\nversion=%x" % stat.mzxid
        assert (stat.version, stat.dataLength) == (-1, len(data))
    else:
        assert (data, stat.version, stat.dataLength, stat.mzxid) == (b"", 0, 0, 0)
    assert (stat.czxid, stat.aversion) == (0, -1)


def test_four_letter_words(addr, target):
    assert four_letter_word(addr, "ruok") == "imok"
    srvr = four_letter_word(addr, "srvr")
    # The cluster phase's paddock target is a follower, and a ZooKeeper follower says `Mode: follower`.
    assert f"Mode: {role_of(target)}" in srvr and "Node count:" in srvr


CONF_KEYS = ["clientPort", "secureClientPort", "dataDir", "dataDirSize", "dataLogDir", "dataLogSize", "tickTime",
             "maxClientCnxns", "minSessionTimeout", "maxSessionTimeout", "clientPortListenBacklog", "serverId"]


def test_conf(addr, target):
    lines = four_letter_word(addr, "conf").rstrip("\n").split("\n")
    assert [line.split("=")[0] for line in lines[:len(CONF_KEYS)]] == CONF_KEYS, lines
    if role_of(target) == "standalone":
        assert lines[len(CONF_KEYS) - 1:] == ["serverId=0"], lines
        return
    # A ZooKeeper ensemble member prints its own id, then QuorumZooKeeperServer.dumpConf's quorum part: its limits,
    # ports and role, and the membership as in /zookeeper/config (the self-test's ZooKeeper follower prints this).
    myid = os.environ["COMPAT_PADDOCK_MYID"]
    membership = ensemble_config().decode().split("\n")
    own = next(line for line in membership if line.startswith(f"server.{myid}=")).split("=")[1].split(":")
    config = start_kazoo(addr)
    try:
        version = config.get("/zookeeper/config")[0].decode().split("\n")[-1]  # `version=`, see test above
    finally:
        stop_kazoo(config)
    assert lines[len(CONF_KEYS) - 1:] == [
        f"serverId={myid}", "initLimit=10", "syncLimit=5", "electionAlg=3", f"electionPort={own[2]}",
        f"quorumPort={own[1]}", "peerType=0", "membership: "] + membership + [version], lines


def test_kazoo_server_version(kz):
    assert kz.server_version()[:2] >= (3, 5)


def test_chroot_client(addr, root):
    chrooted = start_kazoo(addr + root)
    try:
        assert chrooted.create("/inside", b"c") == "/inside"
        assert chrooted.create("/s-", sequence=True) == "/s-0000000001"
    finally:
        stop_kazoo(chrooted)
    plain = start_kazoo(addr)
    try:
        assert plain.get(f"{root}/inside")[0] == b"c"
    finally:
        stop_kazoo(plain)
