"""kazoo with SASL GSSAPI (Kerberos) against one server (crates/paddock/tests/it/kerberos.rs runs it against
Paddock and against Apache ZooKeeper and compares the outcomes).

Usage: python kerberos_kazoo.py HOST:PORT CLIENT_CCACHE APP_CCACHE CLIENT_ID
  CLIENT_CCACHE, APP_CCACHE: credential caches holding tickets of client@REALM and app/localhost@REALM
  CLIENT_ID: the sasl id the server gives client@REALM (the ACL of the node it creates)
KRB5_CONFIG names the realm's krb5.conf. Prints one JSON object: for each scenario, what the client saw.
"""

import json
import os
import struct
import sys
import time

from kazoo.client import KazooClient
from kazoo.exceptions import AuthFailedError, NoAuthError
from kazoo.handlers.threading import KazooTimeoutError
from kazoo.protocol.serialization import SASL, read_string
from kazoo.retry import KazooRetry
from kazoo.security import make_acl

HOSTS, CLIENT_CACHE, APP_CACHE, CLIENT_ID = sys.argv[1:5]
PATH = "/krb-acl-%d" % os.getpid()


class WhoAmI:
    """whoAmI (opcode 107), which kazoo has no method for (see sasl_kazoo.py)."""

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


def connect(cache, service="zookeeper"):
    """A started client whose Kerberos tickets come from `cache` (None: no SASL), or its failure's name."""
    # MIT Kerberos reads KRB5CCNAME whenever pykerberos starts a context, so each client gets its own.
    os.environ["KRB5CCNAME"] = "FILE:" + cache if cache else "FILE:/nonexistent/no-ticket"
    sasl = {"mechanism": "GSSAPI", "service": service} if cache is not False else None
    # One try: a refused authentication must show, not be retried until the test times out.
    zk = KazooClient(hosts=HOSTS, sasl_options=sasl, timeout=10, connection_retry=KazooRetry(max_tries=0))
    started = time.monotonic()
    try:
        zk.start(timeout=15)
        zk.get_children("/")
        return zk, "connected"
    except Exception as e:  # the outcome is compared, so its kind is what matters
        # kazoo reports a refused SASL exchange as AuthFailedError, or, when the refusal lands between its
        # CONNECTED callback and start()'s check of it (a race in the client alone: the faster the server
        # answers, the likelier), as a KazooTimeoutError long before the timeout.
        quick = time.monotonic() - started < 5
        zk.stop()
        refused = isinstance(e, AuthFailedError) or (isinstance(e, KazooTimeoutError) and quick)
        return None, "AUTH_FAILED" if refused else type(e).__name__


def who_am_i(zk):
    result = zk.handler.async_result()
    zk._call(WhoAmI(), result)
    return sorted(u for u in result.get(timeout=10) if u[0] != "ip")


def garbage_token():
    """A client that sends a SASL token that is no Kerberos token at all."""
    zk, outcome = connect(False)
    if not zk:
        return outcome
    result = zk.handler.async_result()
    zk._call(SASL(b"\x60\x03not-a-kerberos-token"), result)
    try:
        result.get(timeout=10)
        outcome = "accepted"
    except Exception as e:
        outcome = type(e).__name__
    zk.stop()
    return outcome


def main():
    out = {}
    client, out["client"] = connect(CLIENT_CACHE)
    if client:
        out["client_whoami"] = who_am_i(client)
        client.create(PATH, b"for client", acl=[make_acl("sasl", CLIENT_ID, all=True)])
        out["client_reads_own_node"] = client.get(PATH)[0].decode()
        out["acl"] = [[a.id.scheme, a.id.id, a.perms] for a in client.get_acls(PATH)[0]]
        client.stop()
    app, out["app"] = connect(APP_CACHE)
    if app:
        out["app_whoami"] = who_am_i(app)
        try:
            app.get(PATH)
            out["app_reads_clients_node"] = "read"
        except NoAuthError:
            out["app_reads_clients_node"] = "NoAuthError"
        app.stop()
    # Without a ticket pykerberos fails before any token is sent: the client refuses itself, and kazoo
    # reports it as AuthFailedError or, retrying its library error until start() gives up, as a timeout.
    _, outcome = connect(None)
    out["no_ticket"] = "refused" if outcome in ("AUTH_FAILED", "KazooTimeoutError") else outcome
    # A ticket for another service (HTTP/localhost): the server cannot read it and refuses the client.
    _, out["ticket_for_another_service"] = connect(CLIENT_CACHE, service="HTTP")
    out["garbage_token"] = garbage_token()
    print(json.dumps(out, sort_keys=True))


main()
