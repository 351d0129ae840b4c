"""kazoo's recipes, each of which leans on a different mix of sequential/ephemeral nodes, watches and
transactions: Lock, ReadLock/WriteLock, Semaphore, Election, Barrier, DoubleBarrier, Queue, LockingQueue,
Counter, SetPartitioner, Party, TreeCache."""

import threading
import time

import pytest
from kazoo.exceptions import ConnectionClosedError, LockTimeout
from kazoo.recipe.cache import TreeCache, TreeEvent


def wait_for(predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def test_lock_is_exclusive_and_fifo(kz_factory, root):
    first, second = kz_factory(), kz_factory()
    lock_a = first.Lock(f"{root}/lock", "a")
    lock_b = second.Lock(f"{root}/lock", "b")
    assert lock_a.acquire(timeout=5)
    assert not lock_b.acquire(blocking=False)
    acquired = threading.Event()

    def contend():
        if lock_b.acquire(timeout=10):
            acquired.set()

    thread = threading.Thread(target=contend)
    thread.start()
    assert wait_for(lambda: len(lock_a.contenders()) == 2)
    assert lock_a.contenders() == ["a", "b"]
    assert not acquired.is_set()
    lock_a.release()
    thread.join(10)
    assert acquired.is_set()
    lock_b.release()


def test_lock_released_when_holder_session_closes(kz_factory, root):
    holder, waiter = kz_factory(), kz_factory()
    assert holder.Lock(f"{root}/lock").acquire(timeout=5)
    lock = waiter.Lock(f"{root}/lock")
    holder.stop()
    assert lock.acquire(timeout=10)
    lock.release()


def test_read_write_locks(kz_factory, root):
    one, two = kz_factory(), kz_factory()
    read_one, read_two = one.ReadLock(f"{root}/rw"), two.ReadLock(f"{root}/rw")
    assert read_one.acquire(timeout=5) and read_two.acquire(timeout=5)
    write = kz_factory().WriteLock(f"{root}/rw")
    with pytest.raises(LockTimeout):
        write.acquire(timeout=0.5)
    read_one.release()
    read_two.release()
    assert write.acquire(timeout=5)
    write.release()


def test_semaphore(kz_factory, root):
    sems = [kz_factory().Semaphore(f"{root}/sem", identifier=str(i), max_leases=2) for i in range(3)]
    assert sems[0].acquire(timeout=5) and sems[1].acquire(timeout=5)
    assert not sems[2].acquire(blocking=False)
    assert sorted(sems[0].lease_holders()) == ["0", "1"]
    sems[0].release()
    assert sems[2].acquire(timeout=5)
    sems[1].release()
    sems[2].release()


def test_election(kz_factory, root):
    clients = [kz_factory() for _ in range(3)]
    elections = [c.Election(f"{root}/election", f"node{i}") for i, c in enumerate(clients)]
    leaders = []
    stop = threading.Event()

    def lead(name):
        leaders.append(name)
        stop.wait(10)

    def run(i):
        try:
            elections[i].run(lead, f"node{i}")
        except ConnectionClosedError:
            assert i == 0  # its client is stopped below, while it leads

    threads = []
    for i, election in enumerate(elections):
        thread = threading.Thread(target=run, args=(i,))
        thread.start()
        threads.append(thread)
        # One at a time, so the line is node0, node1, node2.
        assert wait_for(lambda: len(elections[0].contenders()) == i + 1)
    assert wait_for(lambda: leaders == ["node0"])
    assert elections[2].contenders() == ["node0", "node1", "node2"]
    clients[0].stop()  # the leader's session goes: the next in line leads
    assert wait_for(lambda: leaders == ["node0", "node1"])
    stop.set()
    for election in elections[1:]:
        election.cancel()
    for thread in threads:
        thread.join(10)


def test_barrier(kz_factory, root):
    controller, waiter = kz_factory(), kz_factory()
    barrier = controller.Barrier(f"{root}/barrier")
    barrier.create()
    passed = threading.Event()
    thread = threading.Thread(target=lambda: waiter.Barrier(f"{root}/barrier").wait(10) and passed.set())
    thread.start()
    time.sleep(0.3)
    assert not passed.is_set()
    barrier.remove()
    thread.join(10)
    assert passed.is_set()


def test_double_barrier(kz_factory, root):
    clients = [kz_factory() for _ in range(3)]
    entered = []

    def member(i):
        barrier = clients[i].DoubleBarrier(f"{root}/double", 3, identifier=f"m{i}")
        barrier.enter()
        entered.append(i)
        barrier.leave()

    threads = [threading.Thread(target=member, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    time.sleep(0.5)
    assert entered == []  # two of three: nobody enters yet
    member(2)
    for thread in threads:
        thread.join(10)
    assert sorted(entered) == [0, 1, 2]
    assert clients[0].get_children(f"{root}/double") == []


def test_queue_orders_by_priority_then_fifo(kz_factory, root):
    producer, consumer = kz_factory(), kz_factory()
    queue = producer.Queue(f"{root}/queue")
    for item, priority in ((b"low1", 200), (b"high", 10), (b"low2", 200), (b"mid", 100)):
        queue.put(item, priority=priority)
    assert len(queue) == 4
    other = consumer.Queue(f"{root}/queue")
    assert [other.get() for _ in range(4)] == [b"high", b"mid", b"low1", b"low2"]
    assert other.get() is None


def test_locking_queue(kz_factory, root):
    producer, consumer = kz_factory(), kz_factory()
    queue = producer.LockingQueue(f"{root}/lq")
    queue.put_all([b"a", b"b"])
    worker = consumer.LockingQueue(f"{root}/lq")
    assert worker.get(timeout=5) == b"a"
    assert worker.holds_lock()
    assert worker.consume()
    assert worker.get(timeout=5) == b"b"
    assert worker.release()  # not consumed: goes back
    assert queue.get(timeout=5) == b"b"
    assert queue.consume()
    assert len(queue) == 0


def test_counter(kz_factory, root):
    counters = [kz_factory().Counter(f"{root}/counter") for _ in range(3)]

    def bump(counter):
        for _ in range(10):
            counter += 1

    threads = [threading.Thread(target=bump, args=(c,)) for c in counters]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert counters[0].value == 30
    counters[1] -= 5
    assert counters[2].value == 25
    floats = kz_factory().Counter(f"{root}/float", default=0.5)
    floats += 1.25
    assert floats.value == 1.75


def test_set_partitioner(kz_factory, root):
    items = ["a", "b", "c", "d", "e", "f"]
    partitioners = [kz_factory().SetPartitioner(f"{root}/part", set=items, identifier=f"w{i}", time_boundary=0.5)
                    for i in range(2)]

    def all_acquired():
        for p in partitioners:
            if p.release:
                p.release_set()
            if p.allocating:
                p.wait_for_acquire(timeout=0.1)
        return all(p.acquired for p in partitioners)

    assert wait_for(all_acquired, timeout=20)
    owned = [sorted(p) for p in partitioners]
    assert sorted(owned[0] + owned[1]) == items and not set(owned[0]) & set(owned[1])
    for p in partitioners:
        p.finish()


def test_party(kz_factory, root):
    parties = [kz_factory().Party(f"{root}/party", f"guest{i}") for i in range(3)]
    for party in parties:
        party.join()
    assert sorted(parties[0]) == ["guest0", "guest1", "guest2"]
    assert len(parties[1]) == 3
    parties[2].leave()
    assert sorted(parties[0]) == ["guest0", "guest1"]


def test_tree_cache(kz_factory, root):
    writer, reader = kz_factory(), kz_factory()
    writer.create(f"{root}/tree/a", b"1", makepath=True)
    cache = TreeCache(reader, f"{root}/tree")
    events = []
    cache.listen(events.append)
    cache.start()
    try:
        assert wait_for(lambda: any(e.event_type == TreeEvent.INITIALIZED for e in events))
        assert cache.get_data(f"{root}/tree/a").data == b"1"
        writer.create(f"{root}/tree/a/b", b"2")
        writer.set(f"{root}/tree/a", b"3")
        assert wait_for(lambda: cache.get_data(f"{root}/tree/a/b") is not None)
        assert wait_for(lambda: cache.get_data(f"{root}/tree/a").data == b"3")
        assert cache.get_children(f"{root}/tree/a") == frozenset({"b"})
        writer.delete(f"{root}/tree/a", recursive=True)
        assert wait_for(lambda: cache.get_data(f"{root}/tree/a") is None)
        kinds = {e.event_type for e in events}
        assert {TreeEvent.NODE_ADDED, TreeEvent.NODE_UPDATED, TreeEvent.NODE_REMOVED} <= kinds
    finally:
        cache.close()


@pytest.mark.parametrize("recipe", ["lock", "election"])
def test_recipe_nodes_are_ephemeral_sequential(kz, root, recipe):
    if recipe == "lock":
        lock = kz.Lock(f"{root}/r")
        assert lock.acquire(timeout=5)
        names = kz.get_children(f"{root}/r")
        stat = kz.exists(f"{root}/r/{names[0]}")
        lock.release()
    else:
        party = kz.Party(f"{root}/r", "me")
        party.join()
        names = kz.get_children(f"{root}/r")
        stat = kz.exists(f"{root}/r/{names[0]}")
    assert stat.ephemeralOwner == kz.client_id[0]
