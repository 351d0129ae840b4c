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


def cluster_mode():
    """True in run.sh's cluster phase: the paddock target is then a FOLLOWER of a 3-server ensemble, while the
    zookeeper target stays a standalone server (the reference)."""
    return os.environ.get("COMPAT_CLUSTER") == "1"


def self_test():
    """True when Apache ZooKeeper stands in for Paddock (run.sh's COMPAT_SELF_TEST=1)."""
    return os.environ.get("COMPAT_SELF_TEST") == "1"


def role_of(target):
    """What `target` says after `Mode:` in srvr: the paddock target is a follower in the cluster phase."""
    return "follower" if cluster_mode() and target == "paddock" else "standalone"


def ensemble_config():
    """The `server.N` lines Apache ZooKeeper keeps in /zookeeper/config on every member of the cluster phase's
    ensemble, as QuorumServer prints them (`server.N=host:peer:election:participant`), without the `version=` line
    that follows them: with reconfigEnabled=true (run.sh sets it for reconfig/) ZooKeeper versions the static
    configuration with its first leader's first zxid (ZOOKEEPER-1783), Paddock with 0 (its first log entry); both
    write the node's mzxid as the version, which is what the tests check. run.sh writes it from the members'
    zoo.cfg; the self-test proves the form on a real ZooKeeper ensemble."""
    value = os.environ.get("COMPAT_ENSEMBLE_CONFIG")
    if not value:
        pytest.fail("COMPAT_ENSEMBLE_CONFIG is not set: run the cluster phase through tests/compat/run.sh",
                    pytrace=False)
    return value.encode()


def expect_cluster_bug(request, target, bug):
    """Marks the running test xfail(strict) when `target` is Paddock's ensemble member (cluster phase, not the
    self-test), for a known Paddock bug in code this suite does not own, written up with its reproduction for the
    code's owner under the id at the start of `bug`. Only for real server bugs. strict: the test fails once the
    bug is fixed, and the call must then go."""
    if target == "paddock" and cluster_mode() and not self_test():
        request.node.add_marker(pytest.mark.xfail(strict=True, reason=f"Paddock cluster bug {bug}"))


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
