"""A small synchronous ZooKeeper wire client, independent of kazoo.

It speaks the jute protocol directly so the suite can send what kazoo 2.11 cannot (TTL and container creates,
multiRead, addWatch, removeWatches/checkWatches, getEphemerals, getAllChildrenNumber, whoAmI, setWatches,
setWatches2, unknown opcodes, malformed frames) and so notifications arrive in a deterministic order relative to
replies: the client reads frames in order and keeps every notification it meets in `events`.
"""

import socket
import struct
import time
from collections import namedtuple

# Opcodes (ZooDefs.OpCode).
CREATE, DELETE, EXISTS, GET_DATA, SET_DATA, GET_ACL, SET_ACL, GET_CHILDREN, SYNC = 1, 2, 3, 4, 5, 6, 7, 8, 9
PING, GET_CHILDREN2, CHECK, MULTI, CREATE2, RECONFIG = 11, 12, 13, 14, 15, 16
CHECK_WATCHES, REMOVE_WATCHES, CREATE_CONTAINER, DELETE_CONTAINER, CREATE_TTL, MULTI_READ = 17, 18, 19, 20, 21, 22
AUTH, SET_WATCHES, SASL, GET_EPHEMERALS, GET_ALL_CHILDREN_NUMBER, SET_WATCHES2 = 100, 101, 102, 103, 104, 105
ADD_WATCH, WHO_AM_I, CLOSE_SESSION = 106, 107, -11

NOTIFICATION_XID, PING_XID, AUTH_XID, SET_WATCHES_XID = -1, -2, -4, -8

# Create flags (CreateMode).
PERSISTENT, EPHEMERAL, PERSISTENT_SEQUENTIAL, EPHEMERAL_SEQUENTIAL = 0, 1, 2, 3
CONTAINER, PERSISTENT_WITH_TTL, PERSISTENT_SEQUENTIAL_WITH_TTL = 4, 5, 6

# addWatch modes and WatcherType values for checkWatches/removeWatches.
ADD_WATCH_PERSISTENT, ADD_WATCH_PERSISTENT_RECURSIVE = 0, 1
WATCHER_CHILDREN, WATCHER_DATA, WATCHER_ANY = 1, 2, 3

ERROR_NAMES = {
    0: "OK", -1: "SystemError", -2: "RuntimeInconsistency", -3: "DataInconsistency", -4: "ConnectionLoss",
    -5: "MarshallingError", -6: "Unimplemented", -7: "OperationTimeout", -8: "BadArguments",
    -12: "UnknownSession", -13: "NewConfigNoQuorum", -14: "ReconfigInProgress", -100: "APIError",
    -101: "NoNode", -102: "NoAuth", -103: "BadVersion", -108: "NoChildrenForEphemerals", -110: "NodeExists",
    -111: "NotEmpty", -112: "SessionExpired", -113: "InvalidCallback", -114: "InvalidACL", -115: "AuthFailed",
    -118: "SessionMoved", -119: "NotReadOnly", -120: "EphemeralOnLocalSession", -121: "NoWatcher",
    -122: "RequestTimeout", -123: "ReconfigDisabled", -124: "SessionClosedRequireSaslAuth",
    -125: "QuotaExceeded", -127: "ThrottledOp",
}

EVENT_NAMES = {-1: "None", 1: "NodeCreated", 2: "NodeDeleted", 3: "NodeDataChanged", 4: "NodeChildrenChanged"}

OPEN_ACL_UNSAFE = [(31, "world", "anyone")]

Stat = namedtuple(
    "Stat",
    "czxid mzxid ctime mtime version cversion aversion ephemeralOwner dataLength numChildren pzxid",
)
Event = namedtuple("Event", "type state path zxid")
ReplyHeader = namedtuple("ReplyHeader", "xid zxid err")
ConnectResponse = namedtuple("ConnectResponse", "protocol_version timeout session_id passwd read_only")
STAT = struct.Struct("!qqqqiiiqiiq")


class ZkError(Exception):
    """A non-zero `err` in a ReplyHeader (or in a multi sub-result)."""

    def __init__(self, code):
        super().__init__(f"{ERROR_NAMES.get(code, 'Unknown')} ({code})")
        self.code = code
        self.name = ERROR_NAMES.get(code, f"Error{code}")


class Closed(Exception):
    """The server closed the connection (or it broke) before a full frame arrived."""


# ---- jute encoding -------------------------------------------------------------------------------------------


def enc_int(v):
    return struct.pack("!i", v)


def enc_long(v):
    return struct.pack("!q", v)


def enc_bool(v):
    return b"\x01" if v else b"\x00"


def enc_buffer(b):
    return enc_int(-1) if b is None else enc_int(len(b)) + b


def enc_string(s):
    """A ustring; `bytes` are sent as they are so tests can send invalid UTF-8."""
    if s is None:
        return enc_int(-1)
    raw = s if isinstance(s, bytes) else s.encode("utf-8")
    return enc_int(len(raw)) + raw


def enc_acl(acl):
    out = enc_int(len(acl))
    for perms, scheme, ident in acl:
        out += enc_int(perms) + enc_string(scheme) + enc_string(ident)
    return out


def enc_strings(items):
    out = enc_int(len(items))
    for s in items:
        out += enc_string(s)
    return out


class Reader:
    """Decodes jute fields from a reply body."""

    def __init__(self, data, offset=0):
        self.data = data
        self.offset = offset

    def _take(self, n):
        if self.offset + n > len(self.data):
            raise ValueError(f"reply too short: need {n} bytes at {self.offset} of {len(self.data)}")
        chunk = self.data[self.offset:self.offset + n]
        self.offset += n
        return chunk

    def int(self):
        return struct.unpack("!i", self._take(4))[0]

    def long(self):
        return struct.unpack("!q", self._take(8))[0]

    def bool(self):
        return self._take(1) != b"\x00"

    def buffer(self):
        n = self.int()
        return None if n < 0 else self._take(n)

    def string(self):
        b = self.buffer()
        return None if b is None else b.decode("utf-8")

    def strings(self):
        n = self.int()
        return None if n < 0 else [self.string() for _ in range(n)]

    def stat(self):
        return Stat._make(STAT.unpack(self._take(STAT.size)))

    def acl(self):
        n = self.int()
        return [(self.int(), self.string(), self.string()) for _ in range(n)]

    def remaining(self):
        return len(self.data) - self.offset


# ---- request bodies ------------------------------------------------------------------------------------------


def create_body(path, data=b"", acl=None, flags=0, ttl=None):
    body = enc_string(path) + enc_buffer(data) + enc_acl(OPEN_ACL_UNSAFE if acl is None else acl) + enc_int(flags)
    if ttl is not None:
        body += enc_long(ttl)
    return body


def path_watch_body(path, watch=False):
    return enc_string(path) + enc_bool(watch)


def path_version_body(path, version=-1):
    return enc_string(path) + enc_int(version)


def multi_body(ops):
    """`ops` is a list of (opcode, body); the list ends with the {-1, done, -1} header."""
    out = b""
    for opcode, body in ops:
        out += enc_int(opcode) + enc_bool(False) + enc_int(-1) + body
    return out + enc_int(-1) + enc_bool(True) + enc_int(-1)


def parse_multi(reader):
    """A MultiResponse as a list of (type, err, value)."""
    results = []
    while True:
        op_type, done, err = reader.int(), reader.bool(), reader.int()
        if done:
            return results
        if op_type == -1:
            results.append((op_type, reader.int(), None))
        elif op_type == CREATE:
            results.append((op_type, err, reader.string()))
        elif op_type in (CREATE2, CREATE_CONTAINER, CREATE_TTL):
            results.append((op_type, err, (reader.string(), reader.stat())))
        elif op_type == SET_DATA:
            results.append((op_type, err, reader.stat()))
        elif op_type == GET_DATA:
            results.append((op_type, err, (reader.buffer(), reader.stat())))
        elif op_type == GET_CHILDREN:
            results.append((op_type, err, reader.strings()))
        else:
            results.append((op_type, err, None))


# ---- the client ----------------------------------------------------------------------------------------------


def split_addr(addr):
    host, port = addr.rsplit(":", 1)
    return host, int(port)


def four_letter_word(addr, word, timeout=5.0):
    with socket.create_connection(split_addr(addr), timeout=timeout) as s:
        s.sendall(word.encode())
        chunks = []
        while True:
            chunk = s.recv(65536)
            if not chunk:
                return b"".join(chunks).decode("utf-8", "replace")
            chunks.append(chunk)


class RawClient:
    """One ZooKeeper session over one TCP connection. Every call blocks until its reply arrives."""

    def __init__(self, addr, timeout_ms=10000, session_id=0, passwd=b"\x00" * 16, last_zxid=0,
                 read_only=False, send_read_only=True, io_timeout=10.0):
        self.addr = addr
        self.sock = socket.create_connection(split_addr(addr), timeout=io_timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.events = []
        self.last_header = None
        self.last_zxid = last_zxid
        self.xid = 0
        body = enc_int(0) + enc_long(last_zxid) + enc_int(timeout_ms) + enc_long(session_id) + enc_buffer(passwd)
        if send_read_only:
            body += enc_bool(read_only)
        self.send_frame(body)
        frame = self.read_frame()
        r = Reader(frame)
        proto, negotiated, sid, pw = r.int(), r.int(), r.long(), r.buffer()
        ro = r.bool() if r.remaining() > 0 else None
        self.connect_response = ConnectResponse(proto, negotiated, sid, pw, ro)
        self.connect_frame_len = len(frame)
        self.session_id = sid
        self.passwd = pw

    # -- framing --

    def send_frame(self, payload):
        self.sock.sendall(enc_int(len(payload)) + payload)

    def _recv_exact(self, n):
        chunks, remaining = [], n
        while remaining:
            try:
                chunk = self.sock.recv(remaining)
            except (ConnectionResetError, BrokenPipeError) as e:
                raise Closed(str(e)) from e
            if not chunk:
                raise Closed(f"connection closed with {remaining} of {n} bytes missing")
            chunks.append(chunk)
            remaining -= len(chunk)
        return b"".join(chunks)

    def read_frame(self):
        n = struct.unpack("!i", self._recv_exact(4))[0]
        return self._recv_exact(n)

    def read_reply(self):
        """The next reply frame that is not a notification; notifications go to `events`."""
        while True:
            frame = self.read_frame()
            r = Reader(frame)
            header = ReplyHeader(r.int(), r.long(), r.int())
            if header.xid == NOTIFICATION_XID:
                self.events.append(Event(EVENT_NAMES.get(r.int(), "?"), r.int(), r.string(), header.zxid))
                continue
            if header.zxid > 0:
                self.last_zxid = max(self.last_zxid, header.zxid)
            if header.xid != PING_XID:
                self.last_header = header
            return header, r

    # -- requests --

    def call_raw(self, opcode, body=b"", xid=None):
        """Sends one request and returns (ReplyHeader, Reader over the body) without interpreting err."""
        self.last_header = None
        if xid is None:
            self.xid += 1
            xid = self.xid
        self.send_frame(enc_int(xid) + enc_int(opcode) + body)
        while True:
            header, r = self.read_reply()
            if header.xid == PING_XID and xid != PING_XID:
                continue
            if header.xid != xid:
                raise AssertionError(f"reply xid {header.xid} does not match request xid {xid}")
            return header, r

    def call(self, opcode, body=b"", xid=None):
        header, r = self.call_raw(opcode, body, xid)
        if header.err != 0:
            raise ZkError(header.err)
        return r

    def wait_events(self, count, timeout=5.0):
        """Pings until at least `count` notifications have arrived (they may trail a reply on another session)."""
        deadline = time.monotonic() + timeout
        while len(self.events) < count and time.monotonic() < deadline:
            self.ping()
            if len(self.events) < count:
                time.sleep(0.02)
        return self.events

    def take_events(self):
        events, self.events = self.events, []
        return events

    # -- operations --

    def ping(self):
        return self.call_raw(PING, xid=PING_XID)[0]

    def create(self, path, data=b"", acl=None, flags=0):
        return self.call(CREATE, create_body(path, data, acl, flags)).string()

    def create2(self, path, data=b"", acl=None, flags=0):
        r = self.call(CREATE2, create_body(path, data, acl, flags))
        return r.string(), r.stat()

    def create_container(self, path, data=b"", acl=None, flags=CONTAINER):
        r = self.call(CREATE_CONTAINER, create_body(path, data, acl, flags))
        return r.string(), r.stat()

    def create_ttl(self, path, data=b"", acl=None, flags=PERSISTENT_WITH_TTL, ttl=60000):
        r = self.call(CREATE_TTL, create_body(path, data, acl, flags, ttl))
        return r.string(), r.stat()

    def delete(self, path, version=-1):
        self.call(DELETE, path_version_body(path, version))

    def exists(self, path, watch=False):
        """The Stat, or None on NoNode (a watch, if asked, is still registered)."""
        header, r = self.call_raw(EXISTS, path_watch_body(path, watch))
        if header.err == -101:
            return None
        if header.err:
            raise ZkError(header.err)
        return r.stat()

    def get(self, path, watch=False):
        r = self.call(GET_DATA, path_watch_body(path, watch))
        return r.buffer(), r.stat()

    def set(self, path, data, version=-1):
        return self.call(SET_DATA, enc_string(path) + enc_buffer(data) + enc_int(version)).stat()

    def get_acl(self, path):
        r = self.call(GET_ACL, enc_string(path))
        return r.acl(), r.stat()

    def set_acl(self, path, acl, version=-1):
        return self.call(SET_ACL, enc_string(path) + enc_acl(acl) + enc_int(version)).stat()

    def get_children(self, path, watch=False):
        return self.call(GET_CHILDREN, path_watch_body(path, watch)).strings()

    def get_children2(self, path, watch=False):
        r = self.call(GET_CHILDREN2, path_watch_body(path, watch))
        return r.strings(), r.stat()

    def sync(self, path):
        return self.call(SYNC, enc_string(path)).string()

    def check(self, path, version):
        self.call(CHECK, path_version_body(path, version))

    def multi(self, ops):
        return parse_multi(self.call(MULTI, multi_body(ops)))

    def multi_read(self, ops):
        return parse_multi(self.call(MULTI_READ, multi_body(ops)))

    def reconfig(self, joining=None, leaving=None, new_members=None, config_id=-1):
        body = enc_string(joining) + enc_string(leaving) + enc_string(new_members) + enc_long(config_id)
        r = self.call(RECONFIG, body)
        return r.buffer(), r.stat()

    def check_watches(self, path, watcher_type):
        self.call(CHECK_WATCHES, enc_string(path) + enc_int(watcher_type))

    def remove_watches(self, path, watcher_type):
        self.call(REMOVE_WATCHES, enc_string(path) + enc_int(watcher_type))

    def add_watch(self, path, mode):
        """Returns the 4-byte ErrorResponse body's code (0)."""
        r = self.call(ADD_WATCH, enc_string(path) + enc_int(mode))
        return r.int() if r.remaining() >= 4 else None

    def get_ephemerals(self, prefix):
        return self.call(GET_EPHEMERALS, enc_string(prefix)).strings()

    def get_all_children_number(self, path):
        return self.call(GET_ALL_CHILDREN_NUMBER, enc_string(path)).int()

    def who_am_i(self):
        r = self.call(WHO_AM_I)
        n = r.int()
        return [(r.string(), r.string()) for _ in range(n)]

    def add_auth(self, scheme, auth):
        """Returns the reply header of the xid -4 packet (err -115 means AuthFailed; the server then closes)."""
        body = enc_int(0) + enc_string(scheme) + enc_buffer(auth if isinstance(auth, bytes) else auth.encode())
        return self.call_raw(AUTH, body, xid=AUTH_XID)[0]

    def set_watches(self, relative_zxid, data=(), exist=(), child=()):
        body = enc_long(relative_zxid) + enc_strings(list(data)) + enc_strings(list(exist)) + enc_strings(list(child))
        return self.call_raw(SET_WATCHES, body, xid=SET_WATCHES_XID)[0]

    def set_watches2(self, relative_zxid, data=(), exist=(), child=(), persistent=(), recursive=()):
        body = (enc_long(relative_zxid) + enc_strings(list(data)) + enc_strings(list(exist))
                + enc_strings(list(child)) + enc_strings(list(persistent)) + enc_strings(list(recursive)))
        return self.call_raw(SET_WATCHES2, body, xid=SET_WATCHES_XID)[0]

    def close_session(self):
        """Sends closeSession and returns its reply header; the server closes the socket afterwards."""
        header, _ = self.call_raw(CLOSE_SESSION)
        return header

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        try:
            self.close_session()
        except (Closed, OSError, AssertionError, ZkError):
            pass
        self.close()


def delete_recursive(client, path):
    """Deletes `path` and everything under it; a missing node is fine."""
    try:
        children = client.get_children(path)
    except ZkError as e:
        if e.code == -101:
            return
        raise
    for child in children:
        delete_recursive(client, f"{path.rstrip('/')}/{child}")
    try:
        client.delete(path)
    except ZkError as e:
        if e.code != -101:
            raise
