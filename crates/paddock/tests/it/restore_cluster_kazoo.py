"""One kazoo client under load for restore_cluster.rs: it writes in a loop until the whole-cluster restore
ends its session, lets kazoo get a new session by itself (the LOST state handled), then stops its client
until the test's go, and writes again in the restarted client, as an application would.

The client is stopped between the restore and the go because the state digest covers sessions: the test
compares every member's digest with the backup's (taken with no session open) while no session exists.

Usage: restore_cluster_kazoo.py HOSTS NAME CONTROL_DIR

Files in CONTROL_DIR: it writes `ready-NAME` after its first writes, `last-NAME` naming the writes the
restore cut short (data, the session they were sent in, kazoo's error for each path) and `lost-NAME` once
its client is stopped; then it waits for `go`. Its report is one JSON object on stdout.

The writes before the restore go two at a time: one under /load/NAME, which the backup does not hold
(once the restore is applied it fails with NoNode), and a set of /app/hot-NAME, which the backup holds and
which shows whether a write of a session the restore ended can still reach the restored tree. They are
issued under a lock that the state listener takes too, so none is issued once kazoo has seen its
connection go: a write that changes the restored tree was sent in the session the restore ended.
"""

import json
import os
import sys
import threading
import time

from kazoo.client import KazooClient, KazooState
from kazoo.exceptions import KazooException, NodeExistsError
from kazoo.retry import KazooRetry

READY_AFTER = 10
# Hang detectors, far above what the steps take on a loaded 2-core machine.
WAIT_LIMIT = 180.0
WRITE_LIMIT = 60.0


def wait_for(path):
    deadline = time.time() + WAIT_LIMIT
    while not os.path.exists(path):
        if time.time() > deadline:
            raise SystemExit(f"no {path} within {WAIT_LIMIT} s")
        time.sleep(0.05)


def touch(path):
    with open(path, "w"):
        pass


class Client:
    """A kazoo client that records its state changes and notices when its connection or session goes."""

    def __init__(self, hosts):
        self.states = []
        self.disrupted = threading.Event()
        self.lock = threading.Lock()
        retry = dict(max_tries=-1, max_delay=0.5)
        self.zk = KazooClient(
            hosts=hosts,
            timeout=10.0,
            connection_retry=KazooRetry(**retry),
            command_retry=KazooRetry(deadline=WRITE_LIMIT, **retry),
        )
        self.zk.add_listener(self.on_state)
        self.zk.start(timeout=30)

    def on_state(self, state):
        self.states.append(str(state))
        if state in (KazooState.SUSPENDED, KazooState.LOST):
            with self.lock:
                self.disrupted.set()

    def session_id(self):
        client_id = self.zk.client_id
        return client_id[0] if client_id else None

    def stop(self):
        try:
            self.zk.stop()
            self.zk.close()
        except KazooException:
            pass


def load_until_stopped(client, own, hot, ready, cut_short):
    """Writes until the restore stops it, two writes at a time (one under `own`, a set or a create; one
    set of `hot`): (writes made, why it stopped). Touches `ready` after the first writes; the writes the
    restore cut short are described in `cut_short`."""
    zk = client.zk
    rounds = 0
    deadline = time.time() + WAIT_LIMIT
    while time.time() < deadline:
        data = str(rounds).encode()
        with client.lock:
            if client.disrupted.is_set():
                return 2 * rounds, "connection or session lost"
            session = client.session_id()
            if rounds % 2 == 0:
                mine = (own, zk.set_async(own, data))
            else:
                mine = (own + "/w-", zk.create_async(own + "/w-", data, sequence=True))
            pending = [mine, (hot, zk.set_async(hot, data))]
        errors = {}
        for path, result in pending:
            try:
                result.get(timeout=WRITE_LIMIT)
            except KazooException as e:
                errors[path] = repr(e)
        if errors:
            if 2 * rounds < READY_AFTER:
                raise SystemExit(f"a write before the restore failed: {errors}")
            with open(cut_short, "w") as f:
                f.write(json.dumps({"data": data.decode(), "session": session, "errors": errors}))
            return 2 * rounds, "write failed"
        rounds += 1
        if 2 * rounds == READY_AFTER:
            touch(ready)
    raise SystemExit(f"no restore stopped the writes within {WAIT_LIMIT} s")


def write_after(client, own):
    """The first write after the restore, with kazoo's retry (a new session, /load recreated): the czxid of
    the node it created."""
    zk = client.zk
    zk.retry(zk.ensure_path, own)
    try:
        zk.retry(zk.create, own + "/after", b"after")
    except NodeExistsError:
        # A first attempt applied whose answer was lost: the retry finds it.
        pass
    data, stat = zk.retry(zk.get, own + "/after")
    if data != b"after":
        raise SystemExit(f"{own}/after holds {data!r}")
    return stat.czxid


def wait_for_new_session(client, old):
    """kazoo's own handling of the ended session: LOST, then a new session. Its id."""
    deadline = time.time() + WAIT_LIMIT
    while time.time() < deadline:
        session = client.session_id()
        if client.zk.connected and session is not None and session != old:
            return session
        time.sleep(0.05)
    raise SystemExit(f"kazoo got no new session within {WAIT_LIMIT} s: states {client.states}")


def main():
    hosts, name, control = sys.argv[1], sys.argv[2], sys.argv[3]
    own = "/load/" + name
    client = Client(hosts)
    session_before = client.session_id()
    client.zk.ensure_path("/load")
    client.zk.create(own, b"start")
    writes, stopped_by = load_until_stopped(
        client,
        own,
        "/app/hot-" + name,
        os.path.join(control, "ready-" + name),
        os.path.join(control, "last-" + name),
    )
    session_reconnected = wait_for_new_session(client, session_before)
    client.zk.stop()
    touch(os.path.join(control, "lost-" + name))
    wait_for(os.path.join(control, "go"))
    client.zk.start(timeout=30)
    czxid = write_after(client, own)
    report = {
        "name": name,
        "writes_before": writes,
        "stopped_by": stopped_by,
        "write_after_ok": True,
        "after_czxid": czxid,
        "session_before": session_before,
        "session_reconnected": session_reconnected,
        "session_after": client.session_id(),
        "states": client.states,
    }
    client.stop()
    print(json.dumps(report))


if __name__ == "__main__":
    main()
