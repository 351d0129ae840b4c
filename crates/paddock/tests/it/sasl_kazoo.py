"""kazoo against one server with SASL DIGEST-MD5 (crates/paddock/tests/it/sasl.rs runs it against Paddock
and against Apache ZooKeeper and compares the outcomes).

Usage: python sasl_kazoo.py HOST:PORT [paddock]
Prints one JSON object: for each scenario, what the client saw (an outcome name, never a password).
"""

import json
import struct
import sys

from kazoo.client import KazooClient
from kazoo.exceptions import NoAuthError
from kazoo.protocol.serialization import read_string
from kazoo.retry import KazooRetry
from kazoo.security import make_acl

HOSTS = sys.argv[1]
PATH = "/sasl-acl-%d" % __import__("os").getpid()


class WhoAmI:
    """whoAmI (opcode 107), which kazoo has no method for. Not an (empty, so false) namedtuple: kazoo's
    connection loop skips false requests."""

    type = 107

    def serialize(self):
        return bytearray()

    @classmethod
    def deserialize(cls, data, offset):
        (count,) = struct.unpack_from("!i", data, offset)
        offset += 4
        users = []
        for _ in range(count):
            scheme, offset = read_string(data, offset)
            user, offset = read_string(data, offset)
            users.append([scheme, user])
        return users


def client(username, password):
    sasl = {"mechanism": "DIGEST-MD5", "username": username, "password": password} if username else None
    # One try: a refused authentication must show, not be retried until the test times out.
    return KazooClient(
        hosts=HOSTS,
        sasl_options=sasl,
        timeout=10,
        connection_retry=KazooRetry(max_tries=0),
    )


def who_am_i(zk):
    result = zk.handler.async_result()
    zk._call(WhoAmI(), result)
    users = result.get(timeout=10)
    return sorted(u for u in users if u[0] != "ip")


def connect(username, password):
    zk = client(username, password)
    try:
        zk.start(timeout=15)
        # kazoo may return from start() after a refused authentication: a request shows the outcome.
        zk.get_children("/")
        return zk, "connected"
    except Exception as e:  # the outcome is compared, so its kind is what matters
        zk.stop()
        return None, type(e).__name__


def main():
    out = {}
    bob, out["bob_right_password"] = connect("bob", "b0b-s3cret-pw")
    if bob:
        out["bob_whoami"] = who_am_i(bob)
        bob.create(PATH, b"for bob", acl=[make_acl("sasl", "bob", all=True)])
        out["bob_reads_own_node"] = bob.get(PATH)[0].decode()
        out["acl"] = [[a.id.scheme, a.id.id, a.perms] for a in bob.get_acls(PATH)[0]]
        bob.stop()
    alice, out["alice_right_password"] = connect("alice", "al1ce-s3cret-pw")
    if alice:
        out["alice_whoami"] = who_am_i(alice)
        try:
            alice.get(PATH)
            out["alice_reads_bobs_node"] = "read"
        except NoAuthError:
            out["alice_reads_bobs_node"] = "NoAuthError"
        alice.stop()
    _, out["bob_wrong_password"] = connect("bob", "not-the-password")
    _, out["unknown_user"] = connect("mallory", "no-ones-password")
    _, out["no_sasl_client"] = connect(None, None)
    if len(sys.argv) > 2 and sys.argv[2] == "paddock":
        # ZooKeeper 3.8 admits an unknown user who gives the password of the user its (shared) callback
        # handler looked up last; Paddock does not (docs/compatibility.md).
        _, out["unknown_user_with_anothers_password"] = connect("mallory", "b0b-s3cret-pw")
    print(json.dumps(out, sort_keys=True))


main()
