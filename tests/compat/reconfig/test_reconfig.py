"""Dynamic reconfiguration (`reconfig`, opcode 16) by unchanged clients, kazoo and zkCli.sh, against the cluster
phase's 3-server ensemble: Paddock's, or Apache ZooKeeper 3.8's in the self-test, which is how the expectations
here are known to be ZooKeeper's. The client is on the follower the rest of the phase uses (PADDOCK_ADDR); a
follower that is neither that one nor the leader is removed and added back, by kazoo, then by zkCli.

Cluster phase only (conftest.py leaves this directory out of the standalone phase), and last in pytest.ini's
testpaths: /zookeeper/config's data differs afterwards (a new `version=`, and the re-added member's line carries
its client address), though the membership is the same three participants again, every member serving; the
last test checks that.

Where Paddock differs from ZooKeeper by design (docs/replication.md section 7: versions are Raft indexes, not
epoch-based zxids), the assertions state ZooKeeper's rule (`version=` is the hex of the reconfig's zxid, the
node's mzxid) rather than a value."""

import os
import re
import subprocess
import threading
import time

import pytest
from kazoo.exceptions import BadArgumentsError, BadVersionError, KazooException, NoAuthError
from kazoo.protocol.states import EventType

from targets import addr_of, super_auth, start_kazoo, stop_kazoo
from zkwire import ERROR_NAMES, RawClient, ZkError, four_letter_word

CONFIG = "/zookeeper/config"
ZKCLI = "/usr/share/zookeeper/bin/zkCli.sh"
# As run.sh's wait_ensemble: an election with tickTime=2000 and syncLimit=5 may take 20 s, more when loaded.
WHOLE_WAIT = 120.0


def member_addrs():
    """{id: client address} of the ensemble's members (run.sh's COMPAT_MEMBERS)."""
    value = os.environ.get("COMPAT_MEMBERS")
    if not value:
        pytest.fail("COMPAT_MEMBERS is not set: run the cluster phase through tests/compat/run.sh", pytrace=False)
    return {int(k): v for k, v in (item.split("=", 1) for item in value.split())}


def client_myid():
    return int(os.environ["COMPAT_PADDOCK_MYID"])


def mode(addr):
    """srvr's `Mode:` of the server at `addr`, or None if it does not answer (or is not serving)."""
    try:
        srvr = four_letter_word(addr, "srvr", timeout=2.0)
    except OSError:
        return None
    match = re.search(r"^Mode: (\S+)", srvr, re.M)
    return match.group(1) if match else None


def modes():
    return {i: mode(addr) for i, addr in member_addrs().items()}


def wait_whole(why):
    """Waits (bounded) until the three members say one `Mode: leader` and two `Mode: follower`; returns the
    leader's id."""
    deadline = time.monotonic() + WHOLE_WAIT
    while True:
        seen = modes()
        leaders = [i for i, m in seen.items() if m == "leader"]
        if len(leaders) == 1 and sorted(seen.values()) == ["follower", "follower", "leader"]:
            return leaders[0]
        if time.monotonic() > deadline:
            pytest.fail(f"{why}: the ensemble is not one leader and two followers within {WHOLE_WAIT:.0f} s: {seen}")
        time.sleep(0.5)


def parse_config(data):
    """/zookeeper/config's data as {id: the line's value} and the version (hex in `version=`)."""
    servers, version = {}, None
    for line in data.decode().split("\n"):
        if line.startswith("version="):
            version = int(line[len("version="):], 16)
        elif line:
            key, value = line.split("=", 1)
            servers[int(key[len("server."):])] = value
    return servers, version


def roles(servers):
    """{id: role} from parsed server lines (`host:peer:election:role[;client]`)."""
    return {i: value.split(";")[0].rsplit(":", 1)[1] for i, value in servers.items()}


def check_answer(data, stat, want_ids, why):
    """A reconfig's answer, as ZooKeeper gives it: /zookeeper/config's data and Stat, the data listing `want_ids`
    as participants and `version=` the hex of the reconfig's zxid, which is the node's mzxid (ZooKeeper sets the
    new QuorumVerifier's version to the txn's zxid and writes the node with it); data version -1 (the txn is a
    setData with version -1)."""
    servers, version = parse_config(data)
    assert roles(servers) == {i: "participant" for i in want_ids}, f"{why}: {data!r}"
    assert version == stat.mzxid, f"{why}: version={version:x} is not the mzxid {stat.mzxid:x}: {data!r}"
    assert (stat.version, stat.dataLength) == (-1, len(data)), f"{why}: {stat}"
    return servers, version


def leaving_candidate():
    """The id of a follower that is neither the server the client is on nor the leader, once the ensemble is
    whole."""
    leader = wait_whole("before a reconfig")
    others = sorted(set(member_addrs()) - {leader, client_myid()})
    assert len(others) == 1, (leader, client_myid(), member_addrs())
    return others[0]


def joining_line(servers, sid):
    """`server.N=...` re-adding member `sid` with its original peer and election ports and role, and its client
    address: the zoo.cfg lines have no client part, and ZooKeeper requires one of a joiner."""
    return f"server.{sid}={servers[sid].split(';')[0]};{member_addrs()[sid]}"


def config_everywhere():
    """/zookeeper/config as every member serves it after a sync: all the same."""
    seen = {}
    for sid, addr in member_addrs().items():
        client = start_kazoo(addr)
        try:
            client.sync(CONFIG)
            seen[sid] = client.get(CONFIG)[0]
        finally:
            stop_kazoo(client)
    assert len(set(seen.values())) == 1, f"the members serve different configs: {seen}"
    return next(iter(seen.values()))


@pytest.fixture
def admin():
    client = start_kazoo(addr_of("paddock"), auth_data=[("digest", super_auth())])
    yield client
    stop_kazoo(client)


@pytest.fixture
def anyone():
    client = start_kazoo(addr_of("paddock"))
    yield client
    stop_kazoo(client)


def test_kazoo_removes_a_follower_and_adds_it_back(admin, anyone):
    leaving = leaving_candidate()
    before, before_stat = admin.get(CONFIG)
    servers, _ = parse_config(before)
    assert sorted(servers) == sorted(member_addrs()), before
    fired = threading.Event()
    events = []

    def watch(event):
        events.append(event)
        fired.set()

    anyone.get(CONFIG, watch=watch)  # a non-super client may read and watch it

    data, stat = admin.reconfig(joining=None, leaving=str(leaving), new_members=None)
    remaining = sorted(set(servers) - {leaving})
    _, removed_version = check_answer(data, stat, remaining, f"after removing server.{leaving}")
    assert stat.mzxid > before_stat.mzxid
    assert fired.wait(30), "no notification on /zookeeper/config after a reconfig"
    assert [(e.type, e.path) for e in events] == [(EventType.CHANGED, CONFIG)]
    # The client's own server serves the new config.
    admin.sync(CONFIG)
    assert admin.get(CONFIG) == (data, stat)

    # Back, with its original ports and role, from the version just written.
    line = joining_line(servers, leaving)
    data, stat = admin.reconfig(joining=line, leaving=None, new_members=None, from_config=removed_version)
    added, added_version = check_answer(data, stat, sorted(servers), f"after adding back {line}")
    assert added_version > removed_version
    assert added[leaving] == line.split("=", 1)[1], data
    assert {i: v for i, v in added.items() if i != leaving} == {i: v for i, v in servers.items() if i != leaving}

    # A stale version is refused, even from the super user, and changes nothing.
    with pytest.raises(BadVersionError):
        admin.reconfig(joining=None, leaving=str(leaving), new_members=None, from_config=removed_version)
    # So is a request from anyone else: /zookeeper/config is writable by the super user only (ZooKeeper 3.5.3+).
    with pytest.raises(NoAuthError):
        anyone.reconfig(joining=None, leaving=str(leaving), new_members=None)
    # And a joiner without a client port (ZooKeeper: "each server should have 3 ports specified").
    with pytest.raises(BadArgumentsError):
        admin.reconfig(joining=f"server.{leaving}={servers[leaving].split(';')[0]}", leaving=None, new_members=None)
    admin.sync(CONFIG)
    assert admin.get(CONFIG) == (data, stat), "a refused reconfig changed /zookeeper/config"

    wait_whole(f"after server.{leaving} was added back by kazoo")


def test_zkcli_removes_a_follower_and_adds_it_back():
    leaving = leaving_candidate()
    addr = addr_of("paddock")
    reader = start_kazoo(addr)
    try:
        reader.sync(CONFIG)
        before = reader.get(CONFIG)[0]
    finally:
        stop_kazoo(reader)
    servers, _ = parse_config(before)

    # Without the super user's credentials.
    refused = subprocess.run([ZKCLI, "-server", addr, "reconfig", "-remove", str(leaving)], capture_output=True,
                             text=True, timeout=60)
    assert refused.returncode != 0 and "Insufficient permission" in refused.stderr, refused

    # zkCli reads commands from its standard input when it is not a terminal (no JLine): no echo to interleave
    # with the output, and one session, so addauth applies to what follows.
    line = joining_line(servers, leaving)
    script = "\n".join([
        f"addauth digest {super_auth()}",
        "config -s",
        f"reconfig -s -remove {leaving}",
        "config -s",
        f"reconfig -s -add {line}",
        "config -s",
    ]) + "\n"
    result = subprocess.run([ZKCLI, "-server", addr], input=script, capture_output=True, text=True, timeout=120)
    blocks = config_blocks(result.stdout)
    transcript = f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    assert [committed for committed, _, _, _ in blocks] == [False, True, False, True, False], transcript
    everyone, remaining = sorted(servers), sorted(set(servers) - {leaving})
    for (_, data, _, _), want in zip(blocks, [everyone, remaining, remaining, everyone, everyone]):
        assert sorted(parse_config(data)[0]) == want, transcript
    for _, data, mzxid, version_line in blocks:
        # `version=` is the hex of the mZxid zkCli prints with -s (0 for the static config, mZxid 0x0).
        assert parse_config(data)[1] == mzxid, f"{version_line} vs mZxid {mzxid:x}\n{transcript}"
    assert blocks[1][1] == blocks[2][1] and blocks[3][1] == blocks[4][1], transcript
    assert parse_config(blocks[4][1])[0][leaving] == line.split("=", 1)[1], transcript
    wait_whole(f"after server.{leaving} was added back by zkCli")


def config_blocks(stdout):
    """The configs zkCli printed, in order: (after `Committed new configuration:`?, the data, the mZxid of the Stat
    printed after it, the `version=` line). A config is its `server.N=` lines up to its `version=` line."""
    blocks, committed, lines, current = [], False, stdout.split("\n"), None
    for i, line in enumerate(lines):
        line = line.rstrip("\r")
        if line == "Committed new configuration:":
            committed = True
        elif re.match(r"^server\.\d+=", line):
            current = (current or []) + [line]
        elif line.startswith("version=") and current is not None:
            data = "\n".join(current + [line]).encode()
            mzxid = next(int(m.group(1), 16) for m in (re.match(r"^mZxid = 0x([0-9a-f]+)$", x.rstrip("\r"))
                                                        for x in lines[i + 1:]) if m)
            blocks.append((committed, data, mzxid, line))
            committed, current = False, None
    return blocks


# Long enough for a removed member to notice it hears no leader: several of Paddock's election timeouts (at most
# 1 s, docs/replication.md section 7), and of ZooKeeper's syncLimit * tickTime / 2.
LEFT_FOR = 6.0


def restore(servers, sid):
    """Adds member `sid` back (bounded retries) if /zookeeper/config lacks it, so a failed test leaves the
    ensemble whole for the next."""
    client = start_kazoo(addr_of("paddock"), auth_data=[("digest", super_auth())])
    deadline = time.monotonic() + WHOLE_WAIT
    try:
        while True:
            try:
                client.sync(CONFIG)
                if sid in parse_config(client.get(CONFIG)[0])[0]:
                    return
                client.reconfig(joining=joining_line(servers, sid), leaving=None, new_members=None)
            except KazooException:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"server.{sid} could not be added back within {WHOLE_WAIT:.0f} s")
            time.sleep(1)
    finally:
        stop_kazoo(client)


def test_a_follower_removed_for_a_while_is_added_back_without_disturbing_anyone(admin):
    """An operator removes a follower, which keeps running, and adds it back some seconds later: ZooKeeper answers
    the reconfig, keeps its leader and its clients' connections."""
    leaving = leaving_candidate()
    leader = wait_whole("before removing a follower for a while")
    states = []
    admin.add_listener(states.append)
    servers, _ = parse_config(admin.get(CONFIG)[0])
    data, stat = admin.reconfig(joining=None, leaving=str(leaving), new_members=None)
    _, removed_version = check_answer(data, stat, sorted(set(servers) - {leaving}), f"removing server.{leaving}")
    time.sleep(LEFT_FOR)
    line = joining_line(servers, leaving)
    try:
        data, stat = admin.reconfig(joining=line, leaving=None, new_members=None, from_config=removed_version)
        outcome = "answered"
    except KazooException as e:
        outcome = repr(e)
    finally:
        restore(servers, leaving)
    leader_after = wait_whole(f"after server.{leaving} was added back")
    assert (outcome, states, leader_after) == ("answered", [], leader), (
        f"adding back server.{leaving} {LEFT_FOR:.0f} s after its removal: the reconfig's outcome, the client's "
        f"connection states since the removal, the leader after (was server.{leader}): {outcome}, {states}, "
        f"server.{leader_after}")
    check_answer(data, stat, sorted(servers), f"after adding back {line}")


def test_a_refused_reconfig_takes_a_zxid():
    """ZooKeeper's PrepRequestProcessor turns a refused request into an error txn that still takes a zxid (as for
    every refused write): the reply header carries that new zxid, after the client's previous write's."""
    addr = addr_of("paddock")
    leaving = leaving_candidate()
    with RawClient(addr) as anyone, RawClient(addr) as admin:
        assert admin.add_auth("digest", super_auth()).err == 0
        path = "/reconfig-zxid"
        try:
            admin.create(path)
        except ZkError:  # left by an earlier run
            pass
        seen = []
        for label, client, request in [
            ("NoAuth", anyone, dict(leaving=str(leaving))),
            ("BadVersion", admin, dict(leaving=str(leaving), config_id=0x7fffffff)),
            ("BadArguments", admin, dict(joining="server.9=127.0.0.1:1:2:participant")),
        ]:
            client.set(path, b"x")
            write = client.last_header.zxid
            with pytest.raises(ZkError):
                client.reconfig(**request)
            header = client.last_header
            seen.append((label, ERROR_NAMES.get(header.err, header.err), header.zxid - write))
        admin.delete(path)
    assert [(label, err) for label, err, _ in seen] == [(label, label) for label, _, _ in seen], seen
    assert all(after > 0 for _, _, after in seen), (
        f"a refused reconfig's reply zxid is not after the client's previous write (label, error, reply zxid "
        f"minus the write's): {seen}")


def test_a_refused_reconfig_is_refused_in_zookeepers_order():
    """ZooKeeper checks the version, then the new configuration, and the ACL of /zookeeper/config last
    (PrepRequestProcessor's OpCode.reconfig): a client without the super user's credentials hears BadVersion for
    a stale version and BadArguments for a configuration it may not have, not NoAuth."""
    addr = addr_of("paddock")
    leaving = leaving_candidate()
    others = sorted(set(member_addrs()) - {leaving})
    with RawClient(addr) as anyone:
        answers = []
        for request in [dict(leaving=str(leaving), config_id=0x7fffffff), dict(leaving=f"{others[0]},{leaving}")]:
            try:
                anyone.reconfig(**request)
                answers.append("ok")
            except ZkError:
                answers.append(ERROR_NAMES.get(anyone.last_header.err, anyone.last_header.err))
    assert answers == ["BadVersion", "BadArguments"], answers


def test_the_ensemble_is_whole_again():
    """Last: three participants in /zookeeper/config on every member, one leader and two followers serving."""
    wait_whole("after the reconfig tests")
    servers, _ = parse_config(config_everywhere())
    assert roles(servers) == {i: "participant" for i in member_addrs()}, servers
