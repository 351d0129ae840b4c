"""zkCli.sh, the Java shell: one-shot commands and an interactive session (driven by expect through a
pseudo-terminal) against both servers. Transcripts are normalized (zxids ranked, times and session ids
masked, client-side connection noise dropped), compared, and checked for concrete lines."""

import difflib
import os
import re
import subprocess

import pytest

from targets import addr_of, cluster_mode

ZKCLI = "/usr/share/zookeeper/bin/zkCli.sh"
HERE = os.path.dirname(__file__)

NOISE = [
    re.compile(r"^SLF4J: "),
    re.compile(r"^Connecting to "),
    re.compile(r"^Welcome to ZooKeeper!$"),
    re.compile(r"^JLine support is "),
    re.compile(r"^WATCHER::$"),
    re.compile(r"^WatchedEvent state:(SyncConnected|Closed) type:None path:null$"),
    re.compile(r"^spawn "),
    re.compile(r"^(get )?/?zkcli-sync-\d+$"),
    re.compile(r"^get /zkcli-sync-\d+$"),
    re.compile(r"^Node does not exist: /zkcli-sync-\d+$"),
    re.compile(r"^quit$"),
]
ZXID = re.compile(r"\b0x[0-9a-f]+\b")
DATE = re.compile(r"\b[A-Z][a-z]{2} [A-Z][a-z]{2} \d\d \d\d:\d\d:\d\d [A-Z]+ \d{4}\b")


# zkCli's event thread prints a notification and its newline in two writes; the main thread's echo of the next
# command can land between them ("...path:/zkc/aget /x"). Such a line is split back into the two it was.
GLUED_EVENT = re.compile(r"^(WatchedEvent state:\w+ type:\w+ path:\S*?)((?:get|set|ls|create|delete|deleteall|stat|sync)"
                         r" .*)$", re.M)


def normalize(text):
    """Drops client-side noise; zxids become dense ranks (z0, z1, ...), dates <time>, session ids <session>."""
    text = GLUED_EVENT.sub(lambda m: m.group(1) + "\n" + m.group(2), text.replace("\r\n", "\n"))
    lines = [line.rstrip("\r") for line in text.split("\n")]
    lines = [line for line in lines if line.strip() and not any(p.search(line) for p in NOISE)]
    zxids = sorted({int(m, 16) for line in lines if re.match(r"^[cmp]Zxid = ", line) for m in ZXID.findall(line)})
    rank = {z: i for i, z in enumerate(z for z in zxids if z != 0)}
    out = []
    for line in lines:
        if re.match(r"^[cmp]Zxid = ", line):
            value = int(ZXID.search(line).group(0), 16)
            line = line.split("=")[0] + "= " + ("0x0" if value == 0 else f"z{rank[value]}")
        elif line.startswith("ephemeralOwner = ") and not line.endswith("= 0x0"):
            line = "ephemeralOwner = <session>"
        line = DATE.sub(lambda m: "<epoch>" if m.group(0).endswith(" 1970") else "<time>", line)
        out.append(line)
    return out


def events_last(lines, commands):
    """zkCli prints notifications from its event thread, racing the main thread's output of the same command:
    within each command's block, notification lines are moved after the command's own output."""
    out, block_events = [], []
    for line in lines:
        if line in commands:
            out.extend(block_events)
            block_events = []
            out.append(line)
        elif line.startswith("WatchedEvent "):
            block_events.append(line)
        else:
            out.append(line)
    return out + block_events


# In the cluster phase the reference is a standalone ZooKeeper and Paddock's side an ensemble member, and
# ZooKeeper prints the ensemble's configuration for this command on a member but nothing on a standalone server;
# kazoo/test_nodes.py::test_zookeeper_config_node checks that node exactly, so the transcripts leave it out.
CLUSTER_ONLY_DIFFERENT = {"get /zookeeper/config"}


def interactive_lines():
    with open(os.path.join(HERE, "interactive.txt")) as f:
        lines = [line for line in f if line.strip()]
    if cluster_mode():
        lines = [line for line in lines if line.split(" ## ")[0].strip() not in CLUSTER_ONLY_DIFFERENT]
    return lines


def interactive_file(tmp_dir):
    path = os.path.join(tmp_dir, "interactive.txt")
    with open(path, "w") as f:
        f.writelines(interactive_lines())
    return path


def interactive_commands():
    return {line.split(" ## ")[0].strip() for line in interactive_lines()}


def compare(name, zk_lines, paddock_lines):
    if zk_lines != paddock_lines:
        diff = difflib.unified_diff(zk_lines, paddock_lines, f"{name} on zookeeper", f"{name} on paddock",
                                    lineterm="")
        raise AssertionError(f"zkCli transcript {name!r} diverges:\n" + "\n".join(diff))


def run_interactive(target, commands_file):
    result = subprocess.run(
        ["expect", os.path.join(HERE, "session.exp"), addr_of(target), commands_file],
        capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, f"session.exp failed on {target}:\n{result.stdout[-3000:]}\n{result.stderr}"
    return result.stdout


def clean_root(target, path):
    subprocess.run([ZKCLI, "-server", addr_of(target), "deleteall", path], capture_output=True, timeout=60)


def with_super(target, path):
    """Removes a tree left by an earlier run, as super (it holds read-only and digest ACLs)."""
    from kazoo.exceptions import NoNodeError

    from targets import start_kazoo, stop_kazoo, super_auth

    client = start_kazoo(addr_of(target), auth_data=[("digest", super_auth())])
    try:
        client.delete(path, recursive=True)
    except NoNodeError:
        pass
    finally:
        stop_kazoo(client)


@pytest.fixture(scope="module")
def interactive(tmp_path_factory):
    commands_file = interactive_file(tmp_path_factory.mktemp("zkcli"))
    transcripts = {}
    for target in ("zookeeper", "paddock"):
        with_super(target, "/zkc")
        with_super(target, "/zookeeper/quota/zkc")
        transcripts[target] = events_last(normalize(run_interactive(target, commands_file)), interactive_commands())
    return transcripts


def test_interactive_session_matches(interactive):
    compare("interactive", interactive["zookeeper"], interactive["paddock"])


EXPECTED_INTERACTIVE = [
    "Created /zkc",
    "Created /zkc/s-0000000001",
    "Created /zkc/s-0000000002",
    "Created /zkc/es-0000000004",
    "Node already exists: /zkc/a",
    "Node does not exist: /zkc/missing/x",
    "[a, cont, eph, es-0000000004, s-0000000001, s-0000000002, ttl]",
    "data-a",
    "version No is not valid : /zkc/a",
    "Node does not exist: /zkc/nope",
    "WatchedEvent state:SyncConnected type:NodeDataChanged path:/zkc/a",
    "WatchedEvent state:SyncConnected type:NodeChildrenChanged path:/zkc",
    "WatchedEvent state:SyncConnected type:NodeCreated path:/zkc/later",
    "Node not empty: /zkc/tree",
    "'world,'anyone",
    ": ra",
    "Insufficient permission : /zkc/b",
    "'digest,'user1:GMJqCvSAmNfv41XqBotWHO0HsNc=",
    ": cdrwa",
    ": cdrw",
    "s",
    "WatchedEvent state:SyncConnected type:NodeCreated path:/zkc/b/deep",
    "WatchedEvent state:SyncConnected type:NodeDataChanged path:/zkc/b/deep",
    "[config, quota]",
]


@pytest.mark.parametrize("target", ["zookeeper", "paddock"])
def test_interactive_session_lines(interactive, target):
    lines = interactive[target]
    missing = [line for line in EXPECTED_INTERACTIVE if line not in lines]
    assert not missing, f"{target} transcript lacks {missing}:\n" + "\n".join(lines)
    stat_block = lines[lines.index("get -s /zkc/a") + 1:lines.index("get -s /zkc/a") + 13]
    assert stat_block[0] == "data-a"
    assert [line.split(" = ")[0] for line in stat_block[1:]] == [
        "cZxid", "ctime", "mZxid", "mtime", "pZxid", "cversion", "dataVersion", "aclVersion",
        "ephemeralOwner", "dataLength", "numChildren"]
    assert "dataVersion = 0" in stat_block and "dataLength = 6" in stat_block


ONE_SHOT = [
    ["create", "/zko", "first"],
    ["create", "-s", "/zko/q-", "x"],
    ["get", "-s", "/zko"],
    ["set", "/zko", "second"],
    ["stat", "/zko"],
    ["ls", "-s", "/zko"],
    ["get", "/zko/nope"],
    ["delete", "/zko"],
    ["deleteall", "/zko"],
    ["ls", "/zko"],
]


def run_one_shot(target):
    transcript = []
    for command in ONE_SHOT:
        result = subprocess.run([ZKCLI, "-server", addr_of(target)] + command, capture_output=True, text=True,
                                timeout=60)
        transcript.append(f"$ {' '.join(command)} (exit {result.returncode})")
        transcript.extend(normalize(result.stdout + "\n" + result.stderr))
    return transcript


@pytest.fixture(scope="module")
def one_shot():
    transcripts = {}
    for target in ("zookeeper", "paddock"):
        with_super(target, "/zko")
        transcripts[target] = run_one_shot(target)
    return transcripts


def test_one_shot_commands_match(one_shot):
    compare("one-shot", one_shot["zookeeper"], one_shot["paddock"])


@pytest.mark.parametrize("target", ["zookeeper", "paddock"])
def test_one_shot_lines(one_shot, target):
    lines = one_shot[target]
    for expected in ("Created /zko", "Created /zko/q-0000000000", "first", "dataVersion = 1",
                     "Node does not exist: /zko/nope", "Node not empty: /zko", "$ ls /zko (exit 1)"):
        assert expected in lines, f"{target}: {expected!r} missing from:\n" + "\n".join(lines)
