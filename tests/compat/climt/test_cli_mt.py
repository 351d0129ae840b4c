"""The C client's shell, cli_mt (libzookeeper-mt), driven through a pseudo-terminal against both servers.

cli_mt prints results from its completion thread, so after every command the driver sends an asynchronous
`get /climt-sync-N` and waits for its "rc = -101 ... null" answer: the completion thread runs callbacks (and
watchers) in reply order, so everything the command printed is out by then. (`exists` would not do: cli_mt
runs it synchronously on the main thread, which overtakes the completion thread.) Transcripts are normalized
(zxids ranked, times and session ids masked, timing lines dropped), compared, and checked for concrete lines."""

import difflib
import os
import pty
import re
import select
import subprocess
import termios
import time

import pytest

from kazoo.exceptions import NoNodeError

from targets import addr_of, cluster_mode, start_kazoo, stop_kazoo, super_auth

CLI_MT = "/usr/lib/zookeeper/bin/cli_mt"

COMMANDS = [
    "create /cmt",
    "create /cmt/a",
    "create /cmt/a",
    "create /cmt/missing/x",
    "create +s /cmt/s-",
    "create +s /cmt/s-",
    "create +e /cmt/eph",
    "create +es /cmt/es-",
    "create2 /cmt/c2",
    "create2 +e /cmt/eph2",
    "create2 +c /cmt/container",
    "create2 +t=600000 /cmt/ttl",
    "create +x /cmt/badflag",
    "ls /cmt",
    "ls2 /cmt",
    "get /cmt/a",
    "set /cmt/a hello",
    "get /cmt/a",
    "exists /cmt/a",
    "exists /cmt/nope",
    "wexists /cmt/later",
    "create /cmt/later",
    "sync /cmt",
    "delete /cmt/a",
    "delete /cmt/a",
    "delete /cmt",
    "get /cmt/nope",
    "ls /cmt/nope",
    "create bad-relative",
    "config",
    "addauth digest user1:pw1",
    "ls /zookeeper",
]


if cluster_mode():
    # In the cluster phase the reference is a standalone ZooKeeper and Paddock's side an ensemble member, and
    # ZooKeeper's /zookeeper/config (what `config` prints) holds the ensemble's configuration on a member but
    # nothing on a standalone server; kazoo/test_nodes.py::test_zookeeper_config_node checks that node exactly,
    # so the transcripts leave it out.
    COMMANDS = [command for command in COMMANDS if command != "config"]


class Shell:
    def __init__(self, addr):
        self.master, slave = pty.openpty()
        attrs = termios.tcgetattr(slave)
        attrs[3] &= ~termios.ECHO  # no echo: the transcript records commands itself, in order
        termios.tcsetattr(slave, termios.TCSANOW, attrs)
        self.proc = subprocess.Popen([CLI_MT, addr], stdin=slave, stdout=slave, stderr=slave, close_fds=True)
        os.close(slave)
        self.buffer = ""

    def read_until(self, pattern, timeout=20.0):
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while not regex.search(self.buffer):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"cli_mt: no {pattern!r} within {timeout}s; output so far:\n{self.buffer}")
            ready, _, _ = select.select([self.master], [], [], remaining)
            if ready:
                try:
                    chunk = os.read(self.master, 65536)
                except OSError:
                    chunk = b""
                if not chunk:
                    raise AssertionError(f"cli_mt exited while waiting for {pattern!r}:\n{self.buffer}")
                self.buffer += chunk.decode("utf-8", "replace")
        match = regex.search(self.buffer)
        taken, self.buffer = self.buffer[:match.end()], self.buffer[match.end():]
        return taken

    def send(self, line):
        os.write(self.master, (line + "\n").encode())

    def close(self):
        self.send("quit")
        try:
            self.proc.wait(timeout=10)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            os.close(self.master)


def run_session(target):
    shell = Shell(addr_of(target))
    transcript = []
    try:
        transcript.append(shell.read_until(r"Got a new session id: 0x[0-9a-f]+\r?\n"))
        for n, command in enumerate(COMMANDS, start=1):
            transcript.append(f"> {command}\n")
            shell.send(command)
            shell.send(f"get /climt-sync-{n}")
            transcript.append(shell.read_until(rf"/climt-sync-{n}: rc = -101\s+Stat:\s+null\r?\n"))
    finally:
        shell.close()
    return "".join(transcript)


DATE = re.compile(r"\b[A-Z][a-z]{2} [A-Z][a-z]{2} +\d+ \d\d:\d\d:\d\d \d{4}\b")


SYNC_OUTPUT = re.compile(r"(?s)/climt-sync-\d+: rc = -101\s+Stat:\s+null")


def normalize(text):
    """Drops the sync reads and timing lines; zxids (hex) become dense ranks, dates <time>, session ids
    <session>; children lists (tab-indented names) are sorted, as servers return them in hash order."""
    text = SYNC_OUTPUT.sub("", text.replace("\r\n", "\n"))
    lines = [line.rstrip("\r") for line in text.split("\n")]
    lines = [line for line in lines if line.strip() and not re.match(r"^\s*time = -?\d+ msec$", line)]
    zxids = sorted({int(m, 16) for line in lines for m in re.findall(r"\b[cmp]zxid=([0-9a-f]+)", line)})
    rank = {z: i for i, z in enumerate(z for z in zxids if z != 0)}
    out, names = [], []
    for line in lines:
        line = re.sub(r"\b([cmp]zxid)=([0-9a-f]+)", lambda m: f"{m.group(1)}=" + (
            "0" if int(m.group(2), 16) == 0 else f"z{rank[int(m.group(2), 16)]}"), line)
        line = re.sub(r"session id: 0x[0-9a-f]+", "session id: <session>", line)
        line = re.sub(r"ephemeralOwner = [0-9a-f]+", lambda m: m.group(0) if m.group(0).endswith(" 0")
                      else "ephemeralOwner = <session>", line)
        line = DATE.sub("<time>", line)
        if line.startswith("\t") and "=" not in line:
            names.append(line)
            continue
        out.extend(sorted(names))
        names = []
        out.append(line)
    return out + sorted(names)


def remove_tree(target, path):
    client = start_kazoo(addr_of(target), auth_data=[("digest", super_auth())])
    try:
        client.delete(path, recursive=True)
    except NoNodeError:
        pass
    finally:
        stop_kazoo(client)


@pytest.fixture(scope="module")
def transcripts():
    result = {}
    for target in ("zookeeper", "paddock"):
        remove_tree(target, "/cmt")
        result[target] = normalize(run_session(target))
    return result


def test_cli_mt_transcripts_match(transcripts):
    zk, paddock = transcripts["zookeeper"], transcripts["paddock"]
    if zk != paddock:
        diff = difflib.unified_diff(zk, paddock, "cli_mt on zookeeper", "cli_mt on paddock", lineterm="")
        raise AssertionError("cli_mt transcripts diverge:\n" + "\n".join(diff))


EXPECTED = [
    "[/cmt]: rc = 0",
    "\tname = /cmt",
    "[/cmt/a]: rc = -110",
    "[/cmt/missing/x]: rc = -101",
    "\tname = /cmt/s-0000000001",
    "\tname = /cmt/s-0000000002",
    "\tname = /cmt/es-0000000004",
    "/cmt/nope: rc = -101",
    "Watcher CREATED_EVENT state = CONNECTED_STATE for path /cmt/later",
    "/cmt: rc = -111",
]


@pytest.mark.parametrize("target", ["zookeeper", "paddock"])
def test_cli_mt_lines(transcripts, target):
    lines = transcripts[target]
    missing = [line for line in EXPECTED if line not in lines]
    assert not missing, f"{target}: missing {missing} in:\n" + "\n".join(lines)
