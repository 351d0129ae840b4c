"""Differential run: every scenario in scenarios.py runs on Apache ZooKeeper, then on Paddock; the normalized
traces must be identical. Traces are saved under $COMPAT_TRACE_DIR for reading."""

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))

from scenarios import SCENARIOS  # noqa: E402
from targets import addr_of, super_auth  # noqa: E402
from ztrace import Trace, compare  # noqa: E402


def run(name, target):
    trace = Trace(name, addr_of(target))
    trace.super_auth = super_auth()
    try:
        SCENARIOS[name](trace)
    finally:
        trace.close_all()
    return trace


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_same_trace(name):
    reference = run(name, "zookeeper")
    candidate = run(name, "paddock")
    compare(name, reference, candidate)
