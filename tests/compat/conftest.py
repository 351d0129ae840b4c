"""Shared fixtures: the two servers under test (from ZK_ADDR and PADDOCK_ADDR, set by run.sh), kazoo clients,
raw wire clients and a fresh per-test root znode."""

import logging
import os
import re
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))

from kazoo.exceptions import NoNodeError  # noqa: E402

from targets import TARGETS, addr_of, cluster_mode, start_kazoo, stop_kazoo, super_auth  # noqa: E402
from zkwire import RawClient  # noqa: E402

# reconfig/ changes the membership of the cluster phase's ensemble: there is no ensemble in the standalone phase,
# so its tests are deselected there (counted as deselected in pytest's summary). `collect_ignore` does not do it:
# pytest.ini's testpaths name reconfig/ explicitly, and explicit paths are collected regardless.
def pytest_collection_modifyitems(config, items):
    if cluster_mode():
        return
    standalone = [item for item in items if "reconfig" not in item.path.parts]
    if len(standalone) != len(items):
        config.hook.pytest_deselected(items=[item for item in items if "reconfig" in item.path.parts])
        items[:] = standalone

# kazoo logs every dropped connection at WARNING; the bad-input and reconnect tests drop many on purpose.
logging.getLogger("kazoo").setLevel(logging.ERROR)

@pytest.fixture(params=TARGETS)
def target(request):
    return request.param


@pytest.fixture
def addr(target):
    return addr_of(target)


@pytest.fixture
def kz_factory(addr):
    """Starts kazoo clients on the target; all are stopped (closeSession) at teardown."""
    clients = []

    def make(**kwargs):
        client = start_kazoo(addr, **kwargs)
        clients.append(client)
        return client

    yield make
    for client in clients:
        stop_kazoo(client)


@pytest.fixture
def kz(kz_factory):
    return kz_factory()


@pytest.fixture
def raw_factory(addr):
    """Opens raw wire sessions on the target; all are closed at teardown."""
    clients = []

    def make(**kwargs):
        client = RawClient(addr, **kwargs)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def raw(raw_factory):
    return raw_factory()


def delete_tree(client, path):
    try:
        client.delete(path, recursive=True)
    except NoNodeError:
        pass


@pytest.fixture
def root(request, addr):
    """A fresh znode named after the test, deleted first (as super, in case a previous run left ACLs behind)."""
    name = re.sub(r"[^A-Za-z0-9_-]", "_", request.node.originalname)
    path = f"/kz-{name}"
    admin = start_kazoo(addr, auth_data=[("digest", super_auth())])
    try:
        delete_tree(admin, path)
        admin.create(path)
    finally:
        stop_kazoo(admin)
    return path
