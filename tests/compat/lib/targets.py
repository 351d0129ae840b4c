"""Where the servers under test are (environment set by run.sh) and how to open kazoo sessions on them."""

import os

import pytest
from kazoo.client import KazooClient

TARGETS = ["zookeeper", "paddock"]
ADDR_VARS = {"zookeeper": "ZK_ADDR", "paddock": "PADDOCK_ADDR"}


def addr_of(target):
    var = ADDR_VARS[target]
    value = os.environ.get(var)
    if not value:
        pytest.fail(f"{var} is not set: run the suite through tests/compat/run.sh", pytrace=False)
    return value


def super_auth():
    """`super:<password>` matching the superDigest both servers were started with."""
    value = os.environ.get("COMPAT_SUPER_AUTH")
    if not value:
        pytest.fail("COMPAT_SUPER_AUTH is not set: run the suite through tests/compat/run.sh", pytrace=False)
    return value


def container_check_ms():
    return int(os.environ.get("COMPAT_CONTAINER_CHECK_MS", "1000"))


def start_kazoo(addr, **kwargs):
    client = KazooClient(hosts=addr, timeout=10.0, **kwargs)
    client.start(timeout=15)
    return client


def stop_kazoo(client):
    try:
        client.stop()
    finally:
        client.close()
