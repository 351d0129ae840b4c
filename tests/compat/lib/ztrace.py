"""Normalized traces of a scripted scenario, so two servers' answers can be compared line by line.

Everything a server may legitimately choose differently is normalized, and nothing else:
  * zxids become offsets from the scenario's base zxid (`z+3`), so both servers must consume zxids identically
    from the base on (failed writes and session creates/closes included);
  * times become facts: ctime == mtime (while version is 0), mtime >= ctime (after), and both > 0;
  * session ids become the names the scenario gave its sessions (`A`, `B`), others `session?`;
  * children lists are sorted (ZooKeeper returns hash order);
  * notifications are recorded as (type, state, path); their zxid is dropped because ZooKeeper 3.8 sends -1 and
    3.9+ (and Paddock) the triggering zxid (ZOOKEEPER-4655) — an intentional difference.
"""

import difflib
import os
import socket

import kazoo.exceptions
from kazoo.protocol.states import ZnodeStat

from zkwire import ERROR_NAMES, Closed, ConnectResponse, Event, RawClient, ReplyHeader, Stat, ZkError

NO_REPLY = "no reply"


class Trace:
    def __init__(self, name, addr):
        self.name = name
        self.addr = addr
        self.lines = []
        self.base = None
        self.blur_zxids = False
        self.sessions = {}
        self.clients = []

    # -- sessions --

    def client(self, label, **kwargs):
        """A raw session whose id is shown as `label` in the trace."""
        c = RawClient(self.addr, **kwargs)
        self.sessions[c.session_id] = label
        self.clients.append(c)
        self.lines.append(f"[{label}] connected: timeout={c.connect_response.timeout} "
                          f"readOnly={c.connect_response.read_only} frame={c.connect_frame_len}")
        return c

    def name_session(self, session_id, label):
        self.sessions[session_id] = label

    def close_all(self):
        for c in self.clients:
            try:
                c.close_session()
            except (Closed, OSError, AssertionError, ZkError):
                pass
            c.close()

    # -- normalization --

    def set_base(self, zxid):
        self.base = zxid
        self.lines.append("base zxid set")

    def zxid(self, z):
        if z is None or z <= 0 or self.base is None:
            return str(z)
        if self.blur_zxids:
            return "z?"
        return f"z{z - self.base:+d}"

    def session(self, sid):
        if sid == 0:
            return "0"
        return self.sessions.get(sid, "session?")

    def stat(self, s):
        # Times are the server's clock: only relations are compared. ctime == mtime holds exactly while the node
        # was never set (version 0); after a setData the two may still be equal within one millisecond, so
        # only mtime >= ctime is compared then.
        if s.version == 0:
            order = "ctime==mtime" if s.ctime == s.mtime else "ctime!=mtime"
        else:
            order = "mtime>=ctime" if s.mtime >= s.ctime else "mtime<ctime"
        positive = "times>0" if s.ctime > 0 and s.mtime > 0 else f"times<=0({s.ctime},{s.mtime})"
        return (f"Stat(czxid={self.zxid(s.czxid)} mzxid={self.zxid(s.mzxid)} pzxid={self.zxid(s.pzxid)} "
                f"{order} {positive} version={s.version} cversion={s.cversion} aversion={s.aversion} "
                f"ephemeralOwner={self.session(s.ephemeralOwner)} dataLength={s.dataLength} "
                f"numChildren={s.numChildren})")

    def norm(self, v):
        if isinstance(v, (Stat, ZnodeStat)):
            return self.stat(v)
        if isinstance(v, ReplyHeader):
            return f"header(xid={v.xid} zxid={self.zxid(v.zxid)} err={ERROR_NAMES.get(v.err, v.err)})"
        if isinstance(v, ConnectResponse):
            return (f"connect(timeout={v.timeout} session={self.session(v.session_id)} "
                    f"passwd={'16 bytes' if v.passwd and len(v.passwd) == 16 else v.passwd} readOnly={v.read_only})")
        if isinstance(v, Event):
            return f"event({v.type} state={v.state} {v.path})"
        if isinstance(v, BaseException):
            return self.error(v)
        if isinstance(v, Children):
            return "children[" + ", ".join(sorted(v.names)) + "]"
        if isinstance(v, (list, tuple)):
            inner = ", ".join(self.norm(x) for x in v)
            return f"[{inner}]" if isinstance(v, list) else f"({inner})"
        if isinstance(v, bytes):
            return "b" + repr(v)[1:]
        return repr(v)

    def error(self, e):
        if isinstance(e, ZkError):
            return f"error {e.name}"
        if isinstance(e, kazoo.exceptions.KazooException):
            return f"error {type(e).__name__}"
        if isinstance(e, Closed):
            return "connection closed"
        if isinstance(e, (socket.timeout, TimeoutError)):
            return NO_REPLY
        raise e

    # -- recording --

    def step(self, label, fn, header_of=None):
        """Runs `fn` and records its normalized result or error; with `header_of` (a RawClient), also the
        reply header's zxid."""
        try:
            result = self.norm(fn())
        except (ZkError, kazoo.exceptions.KazooException, Closed, socket.timeout, TimeoutError) as e:
            result = self.error(e)
        if header_of is not None and header_of.last_header is not None:
            result += f"  hdr.zxid={self.zxid(header_of.last_header.zxid)}"
        self.lines.append(f"{label} -> {result}")
        return result

    def note(self, label, value):
        self.lines.append(f"{label}: {self.norm(value)}")

    def events(self, label, client, expect=0, timeout=3.0):
        """Records the notifications `client` has received; waits (pinging) for at least `expect` of them."""
        if expect:
            client.wait_events(expect, timeout)
        else:
            client.ping()
        events = client.take_events()
        self.lines.append(f"[{label}] events: " + (", ".join(self.norm(e) for e in events) or "none"))

    def text(self):
        return "\n".join(self.lines) + "\n"


class Children:
    """A children list, compared sorted."""

    def __init__(self, names):
        self.names = list(names)


def compare(name, reference, candidate, reference_label="zookeeper", candidate_label="paddock"):
    """Asserts two traces are equal; the message is a unified diff. Saves both to $COMPAT_TRACE_DIR if set."""
    trace_dir = os.environ.get("COMPAT_TRACE_DIR")
    if trace_dir:
        os.makedirs(trace_dir, exist_ok=True)
        for label, trace in ((reference_label, reference), (candidate_label, candidate)):
            with open(os.path.join(trace_dir, f"{name}.{label}.txt"), "w") as f:
                f.write(trace.text())
    if reference.lines != candidate.lines:
        diff = difflib.unified_diff(reference.lines, candidate.lines, fromfile=f"{name} on {reference_label}",
                                    tofile=f"{name} on {candidate_label}", lineterm="")
        raise AssertionError(f"scenario {name!r} diverges:\n" + "\n".join(diff))
