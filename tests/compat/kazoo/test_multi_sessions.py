"""Transactions (multi) with per-op results, and session lifecycle: close, expiry, reconnect, timeouts."""

import socket
import threading

import pytest
from kazoo.exceptions import (
    BadVersionError,
    NoNodeError,
    NodeExistsError,
    NotEmptyError,
    RolledBackError,
    RuntimeInconsistency,
    SessionExpiredError,
)
from kazoo.protocol.states import KazooState

from targets import start_kazoo, stop_kazoo
from zkwire import CHECK, CREATE, DELETE, SET_DATA, RawClient, create_body, enc_buffer, enc_int, enc_string, \
    path_version_body, split_addr


def test_transaction_commits_every_op(kz, root):
    kz.create(f"{root}/v", b"0")
    tx = kz.transaction()
    tx.create(f"{root}/a", b"a")
    tx.create(f"{root}/s-", sequence=True)
    tx.set_data(f"{root}/v", b"1", version=0)
    tx.check(f"{root}/v", 1)
    tx.delete(f"{root}/a")
    results = tx.commit()
    assert results[0] == f"{root}/a"
    assert results[1] == f"{root}/s-0000000002"
    assert results[2].version == 1
    assert results[3] is True and results[4] is True
    assert kz.exists(f"{root}/a") is None
    # All ops share one zxid.
    assert kz.exists(f"{root}/v").mzxid == kz.exists(f"{root}/s-0000000002").czxid


@pytest.mark.parametrize("failing,error", [
    ("set_missing", NoNodeError),
    ("check_version", BadVersionError),
    ("create_existing", NodeExistsError),
    ("delete_parent", NotEmptyError),
])
def test_transaction_failing_in_the_middle(kz, root, failing, error):
    kz.create(f"{root}/v", b"0")
    kz.create(f"{root}/v/kid")
    tx = kz.transaction()
    tx.create(f"{root}/first")
    if failing == "set_missing":
        tx.set_data(f"{root}/missing", b"x")
    elif failing == "check_version":
        tx.check(f"{root}/v", 5)
    elif failing == "create_existing":
        tx.create(f"{root}/v")
    else:
        tx.delete(f"{root}/v")
    tx.create(f"{root}/last")
    results = tx.commit()
    assert [type(r) for r in results] == [RolledBackError, error, RuntimeInconsistency]
    assert kz.exists(f"{root}/first") is None and kz.exists(f"{root}/last") is None


def test_failed_multi_consumes_one_zxid(raw, root):
    before = raw.create2(f"{root}/before")[1].czxid
    results = raw.multi([
        (CREATE, create_body(f"{root}/x")),
        (SET_DATA, enc_string(f"{root}/missing") + enc_buffer(b"") + enc_int(-1)),
    ])
    assert [(t, err) for t, err, _ in results] == [(-1, 0), (-1, -101)]
    assert raw.last_header.err == 0 and raw.last_header.zxid == before + 1
    assert raw.create2(f"{root}/after")[1].czxid == before + 2


def test_multi_reply_types(raw, root):
    results = raw.multi([
        (CREATE, create_body(f"{root}/m", b"1")),
        (SET_DATA, enc_string(f"{root}/m") + enc_buffer(b"2") + enc_int(0)),
        (CHECK, path_version_body(f"{root}/m", 1)),
        (DELETE, path_version_body(f"{root}/m", 1)),
    ])
    assert [(t, err) for t, err, _ in results] == [(1, 0), (5, 0), (13, 0), (2, 0)]
    assert results[0][2] == f"{root}/m" and results[1][2].version == 1


def test_close_session_removes_ephemerals_and_notifies(kz, addr, root):
    owner = start_kazoo(addr)
    owner.create(f"{root}/e", ephemeral=True)
    seen = threading.Event()
    kz.exists(f"{root}/e", watch=lambda event: seen.set())
    stop_kazoo(owner)
    assert seen.wait(5)
    assert kz.exists(f"{root}/e") is None


def test_raw_close_session_reply_then_socket_closed(raw_factory, root):
    client = raw_factory()
    client.create(f"{root}/e", flags=1)
    header = client.close_session()
    assert header.err == 0 and header.zxid > 0
    assert client.sock.recv(1) == b""  # the server closed the connection
    assert raw_factory().exists(f"{root}/e") is None


def test_session_expires_when_client_goes_silent(addr, raw_factory, root):
    silent = RawClient(addr, timeout_ms=4000)
    assert silent.connect_response.timeout == 4000
    silent.create(f"{root}/e", flags=1)
    watcher = raw_factory()
    watcher.exists(f"{root}/e", watch=True)
    session, passwd = silent.session_id, silent.passwd
    silent.close()  # no closeSession, no pings: the server must expire it
    events = watcher.wait_events(1, timeout=15)
    assert [(e.type, e.path) for e in events] == [("NodeDeleted", f"{root}/e")]
    expired = RawClient(addr, session_id=session, passwd=passwd)
    assert expired.connect_response.timeout == 0 and expired.connect_response.session_id == 0
    expired.close()


class Gate:
    """A TCP relay in front of a server that can stop letting clients in: while shut, every new connection is
    accepted and closed at once, so a client behind the gate cannot reconnect. Connections already through are
    relayed until either side closes."""

    def __init__(self, addr):
        self.upstream = split_addr(addr)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.addr = f"127.0.0.1:{self.listener.getsockname()[1]}"
        self.is_open = threading.Event()
        self.is_open.set()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if not self.is_open.is_set():
                client.close()
                continue
            server = socket.create_connection(self.upstream)
            for src, dst in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    @staticmethod
    def _pump(src, dst):
        try:
            while chunk := src.recv(65536):
                dst.sendall(chunk)
        except OSError:
            pass
        for sock in (src, dst):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def close(self):
        self.listener.close()


def test_kazoo_sees_expiry_as_lost(addr, root):
    # kazoo connects through a gate: when the thief below claims its session, the server drops kazoo's
    # connection, and kazoo reconnecting at once could take the session back (closing the thief's connection)
    # before the thief's closeSession is read, which a loaded machine did. The gate keeps kazoo out meanwhile.
    gate = Gate(addr)
    client = start_kazoo(gate.addr)
    states = []
    lost = threading.Event()

    def listener(state):
        states.append(state)
        if state == KazooState.LOST:
            lost.set()

    client.add_listener(listener)
    try:
        session, passwd = client.client_id
        # Another connection claiming the session and closing it expires it for kazoo.
        gate.is_open.clear()
        thief = RawClient(addr, session_id=session, passwd=passwd)
        thief.close_session()
        thief.close()
        gate.is_open.set()
        assert lost.wait(20)
        with pytest.raises(SessionExpiredError):
            client.get("/")
    finally:
        stop_kazoo(client)
        gate.close()


@pytest.mark.parametrize("requested,negotiated", [(1, 4000), (4000, 4000), (15000, 15000), (40000, 40000),
                                                  (100000, 40000)])
def test_session_timeout_negotiation(addr, requested, negotiated):
    with RawClient(addr, timeout_ms=requested) as client:
        assert client.connect_response.timeout == negotiated


def test_session_ids_and_passwords(addr):
    with RawClient(addr) as one, RawClient(addr) as two:
        assert one.session_id != two.session_id
        assert one.session_id > 0 and two.session_id > 0
        assert len(one.passwd) == 16 and one.passwd != bytes(16)
        assert one.connect_response.protocol_version == 0


def test_reads_after_writes_in_order(raw, root):
    for i in range(50):
        raw.create(f"{root}/n{i}", str(i).encode())
    zxids = [raw.get(f"{root}/n{i}")[1].czxid for i in range(50)]
    assert zxids == sorted(zxids) and len(set(zxids)) == 50
