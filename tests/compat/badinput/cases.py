"""Malformed and hostile input, as raw bytes. Each case returns a short outcome string describing what the
server did, so ZooKeeper's and Paddock's behaviour can be compared and asserted."""

import socket
import struct

from zkwire import (
    CREATE,
    GET_DATA,
    RawClient,
    create_body,
    enc_buffer,
    enc_int,
    enc_long,
    enc_string,
    path_watch_body,
    split_addr,
)

MAX_BUFFER = 0xFFFFF  # jute.maxbuffer default: 1 MiB - 1


def connect_body(read_only=True):
    body = enc_int(0) + enc_long(0) + enc_int(10000) + enc_long(0) + enc_buffer(bytes(16))
    return body + (b"\x00" if read_only else b"")


def frame(payload):
    return enc_int(len(payload)) + payload


def outcome(sock, timeout=3.0):
    """What the server does next: `closed`, `reply err=N len=L`, or `silent` (open, nothing sent)."""
    sock.settimeout(timeout)
    try:
        head = sock.recv(4)
    except socket.timeout:
        return "silent"
    except (ConnectionResetError, BrokenPipeError):
        return "closed"
    if not head:
        return "closed"
    while len(head) < 4:
        more = sock.recv(4 - len(head))
        if not more:
            return "closed"
        head += more
    length = struct.unpack("!i", head)[0]
    body = b""
    while len(body) < length:
        try:
            chunk = sock.recv(length - len(body))
        except (ConnectionResetError, socket.timeout):
            break
        if not chunk:
            break
        body += chunk
    if len(body) >= 16:
        xid, zxid, err = struct.unpack("!iqi", body[:16])
        return f"reply xid={xid} err={err} len={length}"
    return f"frame len={length}"


def raw_socket(addr):
    sock = socket.create_connection(split_addr(addr), timeout=5)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def send_all(sock, data):
    try:
        sock.sendall(data)
        return True
    except (ConnectionResetError, BrokenPipeError):
        return False


def after_handshake(addr):
    """A socket with a session established (the ConnectResponse read)."""
    sock = raw_socket(addr)
    sock.sendall(frame(connect_body()))
    head = sock.recv(4)
    length = struct.unpack("!i", head)[0]
    got = b""
    while len(got) < length:
        got += sock.recv(length - len(got))
    return sock


def request(xid, opcode, body=b""):
    return frame(enc_int(xid) + enc_int(opcode) + body)


def and_then(sock, first):
    """After a reply, is the connection still usable? Sends a ping and reports what follows."""
    if not first.startswith("reply"):
        return first
    if not send_all(sock, request(-2, 11)):
        return f"{first}; then closed"
    return f"{first}; then {outcome(sock)}"


# ---- the cases ---------------------------------------------------------------------------------------------


def oversized_first_frame(addr):
    sock = raw_socket(addr)
    send_all(sock, enc_int(MAX_BUFFER + 1) + bytes(1024))
    return outcome(sock)


def oversized_request_after_handshake(addr):
    sock = after_handshake(addr)
    big = create_body("/badinput-big", b"x" * (MAX_BUFFER + 16))
    send_all(sock, frame(enc_int(1) + enc_int(CREATE) + big))
    return outcome(sock)


def oversized_length_only(addr):
    """Only the length prefix of a 2 MiB frame: the server must refuse without waiting for the bytes."""
    sock = after_handshake(addr)
    send_all(sock, enc_int(2 * 1024 * 1024))
    return outcome(sock)


def request_at_frame_limit(addr):
    """A create whose frame is exactly jute.maxbuffer bytes: still accepted."""
    sock = after_handshake(addr)
    head = enc_int(1) + enc_int(CREATE)
    empty = create_body("/badinput-limit", b"")
    data = b"y" * (MAX_BUFFER - len(head) - len(empty))
    payload = head + create_body("/badinput-limit", data)
    assert len(payload) == MAX_BUFFER
    send_all(sock, frame(payload))
    result = and_then(sock, outcome(sock, timeout=10))
    cleanup = after_handshake(addr)
    send_all(cleanup, request(1, 2, enc_string("/badinput-limit") + enc_int(-1)))
    outcome(cleanup)
    return result


def negative_length(addr):
    sock = after_handshake(addr)
    send_all(sock, enc_int(-5) + b"abcd")
    return outcome(sock)


def zero_length_frame(addr):
    sock = after_handshake(addr)
    send_all(sock, enc_int(0))
    return outcome(sock)


def truncated_frame_then_close(addr):
    sock = after_handshake(addr)
    send_all(sock, enc_int(100) + b"\x00\x00\x00\x01\x00\x00\x00\x04")
    sock.close()
    return "sent"


def truncated_handshake_then_close(addr):
    sock = raw_socket(addr)
    send_all(sock, enc_int(45) + connect_body()[:20])
    sock.close()
    return "sent"


def garbage_before_handshake(addr):
    sock = raw_socket(addr)
    send_all(sock, b"\x00\x00\x00\x10" + b"\xde\xad\xbe\xef" * 4)
    return outcome(sock)


def text_before_handshake(addr):
    """An HTTP request where a ConnectRequest belongs ('GET ' read as a length is far too large)."""
    sock = raw_socket(addr)
    send_all(sock, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    return outcome(sock)


def short_handshake(addr):
    sock = raw_socket(addr)
    send_all(sock, frame(enc_int(0) + enc_long(0)))
    return outcome(sock)


def handshake_without_read_only(addr):
    client = RawClient(addr, send_read_only=False)
    try:
        ok = client.exists("/") is not None
        return f"response {client.connect_frame_len} bytes, readOnly={client.connect_response.read_only}, " \
               f"works={ok}"
    finally:
        client.__exit__(None, None, None)


def handshake_with_read_only(addr):
    client = RawClient(addr, send_read_only=True)
    try:
        ok = client.exists("/") is not None
        return f"response {client.connect_frame_len} bytes, readOnly={client.connect_response.read_only}, " \
               f"works={ok}"
    finally:
        client.__exit__(None, None, None)


def handshake_unknown_session(addr):
    client = RawClient(addr, session_id=0x7123456789, passwd=bytes(16))
    response = client.connect_response
    client.close()
    return f"timeout={response.timeout} session={response.session_id}"


def unknown_opcode(addr):
    sock = after_handshake(addr)
    send_all(sock, request(1, 77))
    return and_then(sock, outcome(sock))


def request_body_truncated(addr):
    """A complete frame whose create body ends in the middle of the path string."""
    sock = after_handshake(addr)
    send_all(sock, frame(enc_int(1) + enc_int(CREATE) + enc_int(50) + b"/short"))
    return and_then(sock, outcome(sock))


def huge_string_length_in_body(addr):
    sock = after_handshake(addr)
    send_all(sock, frame(enc_int(1) + enc_int(GET_DATA) + enc_int(0x7FFFFFF0) + b"/x\x00"))
    return and_then(sock, outcome(sock))


def huge_acl_count(addr):
    sock = after_handshake(addr)
    body = enc_string("/badinput-acl") + enc_buffer(b"") + enc_int(0x7FFFFFFF) + enc_int(0)
    send_all(sock, frame(enc_int(1) + enc_int(CREATE) + body))
    return and_then(sock, outcome(sock))


def invalid_utf8_create(addr):
    sock = after_handshake(addr)
    send_all(sock, frame(enc_int(1) + enc_int(CREATE) + create_body(b"/badinput-\xff\xfe")))
    return and_then(sock, outcome(sock))


def invalid_utf8_get(addr):
    sock = after_handshake(addr)
    send_all(sock, frame(enc_int(1) + enc_int(GET_DATA) + path_watch_body(b"/badinput-\xc3\x28")))
    return and_then(sock, outcome(sock))


def request_before_handshake(addr):
    """A getData frame where the ConnectRequest belongs."""
    sock = raw_socket(addr)
    send_all(sock, request(1, GET_DATA, path_watch_body("/")))
    return outcome(sock)


def unknown_four_letter_word(addr):
    sock = raw_socket(addr)
    send_all(sock, b"abcd")
    return outcome(sock)


CASES = [
    oversized_first_frame, oversized_request_after_handshake, oversized_length_only, request_at_frame_limit,
    negative_length, zero_length_frame, truncated_frame_then_close, truncated_handshake_then_close,
    garbage_before_handshake, text_before_handshake, short_handshake, handshake_without_read_only,
    handshake_with_read_only, handshake_unknown_session, unknown_opcode, request_body_truncated,
    huge_string_length_in_body, huge_acl_count, invalid_utf8_create, invalid_utf8_get, request_before_handshake,
    unknown_four_letter_word,
]
