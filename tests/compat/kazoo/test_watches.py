"""Watches through kazoo (one-shot watches, DataWatch, ChildrenWatch, checkWatches/removeWatches/addWatch as
kazoo records) and through raw sessions where kazoo cannot help (persistent watch events, setWatches)."""

import queue
import socket
import threading
import time

import pytest
from kazoo.exceptions import NoWatcherError
from kazoo.protocol.states import EventType, KazooState

from kazoo_ext import AddWatch, CheckWatches, RemoveWatches, call
from zkwire import (
    ADD_WATCH_PERSISTENT,
    ADD_WATCH_PERSISTENT_RECURSIVE,
    WATCHER_ANY,
    WATCHER_CHILDREN,
    WATCHER_DATA,
    RawClient,
    ZkError,
)


class Events:
    """Collects watch callbacks from kazoo's callback thread."""

    def __init__(self):
        self.queue = queue.Queue()

    def __call__(self, event):
        self.queue.put(event)

    def next(self, timeout=5.0):
        return self.queue.get(timeout=timeout)

    def none_within(self, seconds=0.5):
        try:
            extra = self.queue.get(timeout=seconds)
        except queue.Empty:
            return True
        raise AssertionError(f"unexpected event {extra}")


def wait_for(predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def test_exists_watch_fires_on_create(kz, kz_factory, root):
    writer = kz_factory()
    events = Events()
    assert kz.exists(f"{root}/w", watch=events) is None
    writer.create(f"{root}/w")
    event = events.next()
    assert (event.type, event.path) == (EventType.CREATED, f"{root}/w")


def test_data_watch_is_one_shot(kz, kz_factory, root):
    writer = kz_factory()
    kz.create(f"{root}/w")
    events = Events()
    kz.get(f"{root}/w", watch=events)
    writer.set(f"{root}/w", b"1")
    assert events.next().type == EventType.CHANGED
    writer.set(f"{root}/w", b"2")
    events.none_within()


def test_child_and_delete_watches(kz, kz_factory, root):
    writer = kz_factory()
    kz.create(f"{root}/w")
    children, data = Events(), Events()
    kz.get_children(root, watch=children)
    kz.get(f"{root}/w", watch=data)
    writer.delete(f"{root}/w")
    assert (data.next().type, children.next().type) == (EventType.DELETED, EventType.CHILD)


def test_set_acl_fires_no_watch(kz, kz_factory, root):
    writer = kz_factory()
    kz.create(f"{root}/w")
    events = Events()
    kz.get(f"{root}/w", watch=events)
    writer.set_acls(f"{root}/w", writer.get_acls(f"{root}/w")[0])
    events.none_within()


def test_event_arrives_before_the_reply_to_a_later_read(raw_factory, root):
    """ZooKeeper queues a notification on the connection before any later reply."""
    watcher, writer = raw_factory(), raw_factory()
    writer.create(f"{root}/w", b"0")
    watcher.get(f"{root}/w", watch=True)
    writer.set(f"{root}/w", b"1")
    data, _ = watcher.get(f"{root}/w")
    if data == b"1":
        assert [e.type for e in watcher.events] == ["NodeDataChanged"]


def test_data_watch_recipe(kz, kz_factory, root):
    writer = kz_factory()
    seen = []
    kz.DataWatch(f"{root}/dw", lambda data, stat: seen.append(data))
    assert wait_for(lambda: seen == [None])
    writer.create(f"{root}/dw", b"a")
    writer.set(f"{root}/dw", b"b")
    assert wait_for(lambda: seen[-1] == b"b")
    writer.delete(f"{root}/dw")
    assert wait_for(lambda: seen[-1] is None)


def test_children_watch_recipe(kz, kz_factory, root):
    writer = kz_factory()
    seen = []
    kz.ChildrenWatch(root, lambda children: seen.append(sorted(children)))
    assert wait_for(lambda: seen == [[]])
    writer.create(f"{root}/a")
    assert wait_for(lambda: seen[-1] == ["a"])
    writer.create(f"{root}/b")
    writer.delete(f"{root}/a")
    assert wait_for(lambda: seen[-1] == ["b"])


def test_check_and_remove_watches(kz, root):
    kz.create(f"{root}/w")
    with pytest.raises(NoWatcherError):
        call(kz, CheckWatches(f"{root}/w", WATCHER_DATA))
    kz.get(f"{root}/w", watch=Events())
    kz.get_children(f"{root}/w", watch=Events())
    assert call(kz, CheckWatches(f"{root}/w", WATCHER_DATA))
    assert call(kz, CheckWatches(f"{root}/w", WATCHER_CHILDREN))
    assert call(kz, RemoveWatches(f"{root}/w", WATCHER_DATA))
    with pytest.raises(NoWatcherError):
        call(kz, RemoveWatches(f"{root}/w", WATCHER_DATA))
    assert call(kz, RemoveWatches(f"{root}/w", WATCHER_ANY))
    with pytest.raises(NoWatcherError):
        call(kz, CheckWatches(f"{root}/w", WATCHER_ANY))


def test_add_watch_through_kazoo(kz, root):
    assert call(kz, AddWatch(root, ADD_WATCH_PERSISTENT_RECURSIVE))
    assert call(kz, CheckWatches(root, WATCHER_DATA))


def test_persistent_watch_events(raw_factory, root):
    watcher, writer = raw_factory(), raw_factory()
    writer.create(f"{root}/p")
    assert watcher.add_watch(f"{root}/p", ADD_WATCH_PERSISTENT) == 0
    writer.create(f"{root}/p/child")
    writer.set(f"{root}/p", b"1")
    writer.set(f"{root}/p/child", b"1")  # not watched: persistent is not recursive
    writer.set(f"{root}/p", b"2")
    writer.delete(f"{root}/p/child")
    events = watcher.wait_events(4)
    assert [(e.type, e.path) for e in events] == [
        ("NodeChildrenChanged", f"{root}/p"),
        ("NodeDataChanged", f"{root}/p"),
        ("NodeDataChanged", f"{root}/p"),
        ("NodeChildrenChanged", f"{root}/p"),
    ]
    assert all(e.state == 3 for e in events)


def test_persistent_recursive_watch_events(raw_factory, root):
    watcher, writer = raw_factory(), raw_factory()
    assert watcher.add_watch(root, ADD_WATCH_PERSISTENT_RECURSIVE) == 0
    writer.create(f"{root}/a")
    writer.create(f"{root}/a/b")
    writer.set(f"{root}/a/b", b"x")
    writer.delete(f"{root}/a/b")
    events = watcher.wait_events(4)
    # Recursive watches never report NodeChildrenChanged.
    assert [(e.type, e.path) for e in events] == [
        ("NodeCreated", f"{root}/a"),
        ("NodeCreated", f"{root}/a/b"),
        ("NodeDataChanged", f"{root}/a/b"),
        ("NodeDeleted", f"{root}/a/b"),
    ]
    watcher.remove_watches(root, WATCHER_ANY)
    watcher.take_events()
    writer.create(f"{root}/after")
    watcher.ping()
    assert watcher.events == []


def test_set_watches_after_reconnect_delivers_missed_events(raw_factory, root):
    writer = raw_factory()
    for name in ("data", "gone", "kids", "same"):
        writer.create(f"{root}/{name}")
    watcher = RawClient(writer.addr)
    watcher.get(f"{root}/data", watch=True)
    watcher.get(f"{root}/gone", watch=True)
    watcher.get_children(f"{root}/kids", watch=True)
    watcher.exists(f"{root}/new", watch=True)
    watcher.get(f"{root}/same", watch=True)
    session, passwd, seen = watcher.session_id, watcher.passwd, watcher.last_zxid
    watcher.close()  # TCP gone, session alive
    writer.set(f"{root}/data", b"changed")
    writer.delete(f"{root}/gone")
    writer.create(f"{root}/kids/x")
    writer.create(f"{root}/new")
    back = raw_factory(session_id=session, passwd=passwd, last_zxid=seen)
    assert back.session_id == session
    header = back.set_watches(seen, data=[f"{root}/data", f"{root}/gone", f"{root}/same"],
                              exist=[f"{root}/new"], child=[f"{root}/kids"])
    assert header.err == 0
    events = back.wait_events(4)
    assert sorted((e.type, e.path) for e in events) == sorted([
        ("NodeDataChanged", f"{root}/data"),
        ("NodeDeleted", f"{root}/gone"),
        ("NodeCreated", f"{root}/new"),
        ("NodeChildrenChanged", f"{root}/kids"),
    ])
    back.take_events()
    writer.set(f"{root}/same", b"1")  # re-registered, not fired on reconnect
    assert [(e.type, e.path) for e in back.wait_events(1)] == [("NodeDataChanged", f"{root}/same")]


def drop_connection(client):
    """Breaks kazoo's TCP connection underneath it, as a network fault would."""
    client._connection._socket.shutdown(socket.SHUT_RDWR)


def test_kazoo_recovers_after_connection_drop(kz, kz_factory, root):
    writer = kz_factory()
    states = []
    kz.add_listener(states.append)
    session = kz.client_id[0]
    data_seen, children_seen = [], []
    kz.create(f"{root}/dw", b"before")
    kz.DataWatch(f"{root}/dw", lambda data, stat: data_seen.append(data))
    kz.ChildrenWatch(root, lambda children: children_seen.append(sorted(children)))
    assert wait_for(lambda: data_seen == [b"before"] and children_seen == [["dw"]])
    reconnected = threading.Event()
    kz.add_listener(lambda state: reconnected.set() if state == KazooState.CONNECTED else None)
    drop_connection(kz)
    writer.set(f"{root}/dw", b"while-away")
    writer.create(f"{root}/new")
    assert reconnected.wait(15)
    assert KazooState.SUSPENDED in states
    assert kz.client_id[0] == session  # same session after the reconnect
    # The recipes re-read on reconnect, so the changes made while away are not lost.
    assert wait_for(lambda: data_seen[-1] == b"while-away")
    assert wait_for(lambda: children_seen[-1] == ["dw", "new"])
    writer.set(f"{root}/dw", b"after")
    assert wait_for(lambda: data_seen[-1] == b"after")


def test_kazoo_ephemeral_survives_connection_drop(kz, kz_factory, root):
    observer = kz_factory()
    session = kz.client_id[0]
    kz.create(f"{root}/eph", ephemeral=True)
    reconnected = threading.Event()
    kz.add_listener(lambda state: reconnected.set() if state == KazooState.CONNECTED else None)
    drop_connection(kz)
    assert reconnected.wait(15)
    assert observer.exists(f"{root}/eph").ephemeralOwner == session
    assert kz.client_id[0] == session


def test_watch_on_missing_node_via_exists_raw(raw_factory, root):
    watcher, writer = raw_factory(), raw_factory()
    assert watcher.exists(f"{root}/later", watch=True) is None
    writer.create(f"{root}/later")
    writer.delete(f"{root}/later")
    events = watcher.wait_events(1)
    watcher.ping()
    assert [(e.type, e.path) for e in watcher.events] == [("NodeCreated", f"{root}/later")]
    assert events


def test_remove_watches_on_missing_watch(raw, root):
    with pytest.raises(ZkError) as error:
        raw.remove_watches(f"{root}/none", WATCHER_ANY)
    assert error.value.name == "NoWatcher"
