"""kazoo's side of the ZooKeeper import/export round trip (zk_import.rs).

    write ADDR            a varied tree; leaves one session (with its ephemerals) open and prints its id and
                          password as JSON, then exits without closing it
    load ADDR N           N asynchronous creates and updates under /load (snapshots are taken meanwhile)
    dump ADDR             every node: data (hex, or null), Stat, ACL and children, as JSON
    reconnect ADDR ID PW  resumes session ID with password PW (hex) and reports what it sees
"""

import json
import os
import sys
from collections import namedtuple

from kazoo.client import KazooClient
from kazoo.protocol.serialization import Create2, SetData, int_struct, long_struct, write_buffer, write_string
from kazoo.security import OPEN_ACL_UNSAFE, make_acl, make_digest_acl

ADDR = sys.argv[2]
OPEN = list(OPEN_ACL_UNSAFE)


def serialize_create(path, data, acl, flags):
    b = bytearray()
    b.extend(write_string(path))
    b.extend(write_buffer(data))
    b.extend(int_struct.pack(len(acl)))
    for entry in acl:
        b.extend(int_struct.pack(entry.perms) + write_string(entry.id.scheme) + write_string(entry.id.id))
    b.extend(int_struct.pack(flags))
    return b


class CreateContainer(namedtuple("CreateContainer", "path data acl flags")):
    """Opcode 19 with CreateMode.CONTAINER (4), which kazoo does not offer."""

    type = 19

    def serialize(self):
        return serialize_create(self.path, self.data, self.acl, self.flags)

    deserialize = Create2.deserialize


class CreateTTL(namedtuple("CreateTTL", "path data acl flags ttl")):
    """Opcode 21 with CreateMode.PERSISTENT_WITH_TTL (5) or PERSISTENT_SEQUENTIAL_WITH_TTL (6)."""

    type = 21

    def serialize(self):
        b = serialize_create(self.path, self.data, self.acl, self.flags)
        b.extend(long_struct.pack(self.ttl))
        return b

    deserialize = Create2.deserialize


def call(zk, request):
    result = zk.handler.async_result()
    zk._call(request, result)
    return result.get(timeout=30)


def client(timeout=30, **kwargs):
    zk = KazooClient(hosts=ADDR, timeout=timeout, **kwargs)
    zk.start(timeout=60)
    zk.add_auth("digest", "user:pass")
    return zk


def write():
    # The session left open must outlive a slow test run: up to the servers' maxSessionTimeout.
    zk = client(timeout=120)
    secret = make_digest_acl("user", "pass", all=True)
    world_read = make_acl("world", "anyone", read=True)
    zk.create("/app", b"the application")
    zk.create("/app/config", bytes(range(256)) * 4)
    for i in range(3):
        zk.set("/app/config", b"\x00\xff" * (i + 1))
    zk.create("/app/empty", b"")
    call(zk, Create2("/app/null", None, OPEN, 0))
    zk.create("/app/set-null", b"x")
    call(zk, SetData("/app/set-null", None, -1))
    zk.create("/app/secret", b"only user", acl=[secret])
    zk.create("/app/readonly", b"r", acl=[make_acl("world", "anyone", read=True, admin=True)])
    zk.set_acls("/app/readonly", [make_acl("world", "anyone", read=True, write=True)])
    zk.create("/app/noread", b"n", acl=[make_acl("world", "anyone", create=True, delete=True)])
    zk.create("/app/two-acls", b"m", acl=[secret, world_read])
    zk.create("/app/\u00fcn\u00efcode-\u540d\u524d", "\u540d".encode())
    for i in range(6):
        zk.create("/app/seq/item-", b"%d" % i, sequence=True, makepath=True)
    for name in sorted(zk.get_children("/app/seq"))[1::2]:
        zk.delete("/app/seq/" + name)
    zk.create("/app/gone", b"")
    zk.delete("/app/gone")
    zk.create("/deep/" + "/".join("d%02d" % i for i in range(24)), b"deep", makepath=True)
    call(zk, CreateContainer("/ctr", b"container", OPEN, 4))
    zk.create("/ctr/child", b"c")
    call(zk, CreateContainer("/ctr-unused", b"", OPEN, 4))
    call(zk, CreateTTL("/ttl", b"ttl", OPEN, 5, 3600 * 1000))
    call(zk, CreateTTL("/ttl-seq-", b"", OPEN, 6, 7200 * 1000))
    tx = zk.transaction()
    tx.create("/app/tx1", b"1")
    tx.set_data("/app/empty", b"")
    tx.create("/app/tx2", b"2")
    tx.commit()
    failed = zk.transaction()
    failed.create("/app/tx3", b"3")
    failed.check("/app", 99)
    failed.commit()
    zk.create("/eph", b"")
    other = client()
    other.create("/eph/closed", b"", ephemeral=True)
    other.stop()
    other.close()
    zk.create("/eph/owned", b"mine", ephemeral=True)
    zk.create("/eph/seq-", b"", ephemeral=True, sequence=True)
    session_id, passwd = zk.client_id
    print(json.dumps({"session_id": session_id, "passwd": passwd.hex()}))
    sys.stdout.flush()
    os._exit(0)


def load(count):
    zk = client()
    zk.ensure_path("/load")
    pending = []
    for i in range(count):
        path = "/load/n%05d" % i
        pending.append(zk.create_async(path, b"v" * 200))
        if i % 3 == 0 and i > 0:
            pending.append(zk.set_async("/load/n%05d" % (i - 1), b"w" * 100))
        if len(pending) >= 400:
            for p in pending:
                p.get(timeout=60)
            pending = []
    for p in pending:
        p.get(timeout=60)
    for i in range(0, count, 7):
        pending.append(zk.delete_async("/load/n%05d" % i))
    for p in pending:
        p.get(timeout=60)
    zk.stop()
    zk.close()
    print(json.dumps({"loaded": count}))


def dump():
    zk = client()
    nodes = {}

    def visit(path):
        record = {}
        try:
            data, stat = zk.get(path)
            record["data"] = None if data is None else data.hex()
            record["stat"] = stat._asdict()
        except Exception as e:  # noqa: BLE001 - the outcome is what is compared
            record["get"] = type(e).__name__
        try:
            acls, _ = zk.get_acls(path)
            record["acl"] = [[a.perms, a.id.scheme, a.id.id] for a in acls]
        except Exception as e:  # noqa: BLE001
            record["acl"] = type(e).__name__
        try:
            children = sorted(zk.get_children(path))
            record["children"] = children
        except Exception as e:  # noqa: BLE001
            record["children"] = type(e).__name__
            children = []
        nodes[path] = record
        for child in children:
            visit(path.rstrip("/") + "/" + child)

    visit("/")
    zk.stop()
    zk.close()
    print(json.dumps(nodes, sort_keys=True))


def reconnect(session_id, passwd):
    zk = KazooClient(hosts=ADDR, timeout=30, client_id=(session_id, bytes.fromhex(passwd)))
    zk.start(timeout=60)
    same = zk.client_id[0] == session_id
    _, stat = zk.get("/eph/owned")
    print(json.dumps({"same_session": same, "owner": stat.ephemeralOwner}))
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    mode = sys.argv[1]
    if mode == "write":
        write()
    elif mode == "load":
        load(int(sys.argv[3]))
    elif mode == "dump":
        dump()
    elif mode == "reconnect":
        reconnect(int(sys.argv[3]), sys.argv[4])
    else:
        sys.exit("unknown mode " + mode)
