#!/usr/bin/env bash
# The compatibility suite: proves Paddock answers like Apache ZooKeeper 3.8.
#
# Starts a standalone Apache ZooKeeper (Debian's package) and a Paddock server side by side on free ports of
# 127.0.0.1, each with a fresh data directory and equivalent zoo.cfg, then runs, against both:
#   differential/  the same scripted scenarios on both servers, normalized traces compared
#   kazoo/         kazoo API and recipe tests, parametrized over both servers
#   zkcli/         zkCli.sh (Java) one-shot and interactive (expect) sessions, outputs compared
#   climt/         the C client cli_mt, outputs compared
#   badinput/      malformed frames over raw sockets; the server must carry on
#
# Usage:  PADDOCK_BIN=target/debug/paddock tests/compat/run.sh [pytest args, e.g. -k acl -x]
#         COMPAT_SELF_TEST=1 tests/compat/run.sh   # a second Apache ZooKeeper stands in for Paddock: proves the
#                                                  # harness itself (every differential must then be equal)
#         tests/compat/run.sh --serve                # start both servers, print their addresses, wait for ^C
#         COMPAT_KEEP=1 ...                        # keep the temp dir (logs, data, traces) after the run
# Exits non-zero if anything required is missing or any test fails; nothing is skipped.
set -euo pipefail
cd "$(dirname "$0")/../.."
REPO=$PWD
COMPAT=$REPO/tests/compat

die() { echo "compat: $*" >&2; exit 1; }

scripts/install-test-deps

VENV=$REPO/target/venv
ZK_SERVER=/usr/share/zookeeper/bin/zkServer.sh
for tool in "$ZK_SERVER" /usr/share/zookeeper/bin/zkCli.sh /usr/lib/zookeeper/bin/cli_mt /usr/bin/expect \
    "$VENV/bin/python"; do
    [ -x "$tool" ] || die "required tool $tool is missing (scripts/install-test-deps should have installed it)"
done
command -v java >/dev/null || die "java is missing"
"$VENV/bin/python" -c 'import kazoo, pytest' || die "the venv $VENV lacks kazoo or pytest"

if [ "${COMPAT_SELF_TEST:-0}" = 1 ]; then
    PADDOCK_BIN=""
    echo "compat: self-test mode: a second Apache ZooKeeper stands in for Paddock"
else
    [ -n "${PADDOCK_BIN:-}" ] || die "PADDOCK_BIN is not set (build with cargo build -p paddock, then PADDOCK_BIN=\$PWD/target/debug/paddock)"
    [ -x "$PADDOCK_BIN" ] || die "PADDOCK_BIN=$PADDOCK_BIN is not an executable file"
fi

WORK=$(mktemp -d /tmp/paddock-compat.XXXXXX)
PIDS=()
cleanup() {
    local rc=$?
    for pid in "${PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        # Bounded wait, then SIGKILL: a hung server must not hang the suite.
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$pid" 2>/dev/null || true
    done
    if [ $rc -ne 0 ]; then
        for log in "$WORK"/*/server.log; do
            [ -f "$log" ] || continue
            echo "---- tail of $log ----" >&2
            tail -n 40 "$log" >&2
        done
    fi
    if [ "${COMPAT_KEEP:-0}" = 1 ] || [ $rc -ne 0 ]; then
        echo "compat: logs, data and traces kept in $WORK" >&2
    else
        rm -rf "$WORK"
    fi
    exit $rc
}
trap cleanup EXIT
trap 'exit 143' TERM
trap 'exit 130' INT

SUPER_PASSWORD=secret
SUPER_DIGEST=$("$VENV/bin/python" -c \
    'import base64,hashlib,sys; print(base64.b64encode(hashlib.sha1(sys.argv[1].encode()).digest()).decode())' \
    "super:$SUPER_PASSWORD")
# Containers and TTL nodes are reaped by a periodic check (60 s by default); 1 s keeps those tests short.
CONTAINER_CHECK_MS=1000

free_port() {
    "$VENV/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# zoo.cfg shared by both servers; $1 = dir, $2 = port.
write_cfg() {
    mkdir -p "$1/data"
    cat >"$1/zoo.cfg" <<EOF
tickTime=2000
initLimit=10
syncLimit=5
dataDir=$1/data
clientPort=$2
clientPortAddress=127.0.0.1
4lw.commands.whitelist=*
admin.enableServer=false
extendedTypesEnabled=true
znode.container.checkIntervalMs=$CONTAINER_CHECK_MS
DigestAuthenticationProvider.superDigest=super:$SUPER_DIGEST
EOF
}

start_zookeeper() { # $1 = name
    local dir=$WORK/$1 port
    port=$(free_port)
    write_cfg "$dir" "$port"
    # zkServer.sh appends SERVER_JVMFLAGS after its own -cp: the second -cp wins and adds an slf4j binding, without
    # which ZooKeeper logs nothing at all. Most settings are JVM properties, not zoo.cfg keys, in ZooKeeper.
    SERVER_JVMFLAGS="-Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Djava.net.preferIPv4Stack=true \
-cp /etc/zookeeper/conf:/usr/share/java/zookeeper.jar:/usr/share/java/slf4j-simple.jar \
-Dzookeeper.extendedTypesEnabled=true \
-Dzookeeper.DigestAuthenticationProvider.superDigest=super:$SUPER_DIGEST \
-Dznode.container.checkIntervalMs=$CONTAINER_CHECK_MS \
-Dzookeeper.log.dir=$dir" \
        JMXDISABLE=true "$ZK_SERVER" start-foreground "$dir/zoo.cfg" >"$dir/server.log" 2>&1 &
    PIDS+=($!)
    echo "$port" >"$dir/port"
    echo $! >"$dir/pid"
}

start_paddock() {
    local dir=$WORK/paddock port
    port=$(free_port)
    write_cfg "$dir" "$port"
    "$PADDOCK_BIN" server --config "$dir/zoo.cfg" >"$dir/server.log" 2>&1 &
    PIDS+=($!)
    echo "$port" >"$dir/port"
    echo $! >"$dir/pid"
}

# Waits (at most 60 s) until the server in $WORK/$1 answers ruok with imok; $2 = a log line it must also print.
wait_ready() {
    local dir=$WORK/$1 port pid answer
    port=$(cat "$dir/port")
    pid=$(cat "$dir/pid")
    for _ in $(seq 120); do
        kill -0 "$pid" 2>/dev/null || die "$1 exited during startup (log: $dir/server.log)"
        answer=$("$VENV/bin/python" "$COMPAT/lib/ruok.py" "127.0.0.1:$port" 2>/dev/null || true)
        if [ "$answer" = imok ] && { [ -z "$2" ] || grep -q "$2" "$dir/server.log"; }; then
            echo "compat: $1 ready on 127.0.0.1:$port"
            return 0
        fi
        sleep 0.5
    done
    die "$1 did not answer ruok with imok within 60 s (log: $dir/server.log)"
}

start_zookeeper zookeeper
if [ -n "$PADDOCK_BIN" ]; then
    start_paddock
    wait_ready zookeeper ""
    wait_ready paddock "paddock ready"
else
    start_zookeeper paddock
    wait_ready zookeeper ""
    wait_ready paddock ""
fi

export ZK_ADDR=127.0.0.1:$(cat "$WORK/zookeeper/port")
export PADDOCK_ADDR=127.0.0.1:$(cat "$WORK/paddock/port")
export COMPAT_SUPER_AUTH=super:$SUPER_PASSWORD
export COMPAT_TRACE_DIR=$WORK/traces
export COMPAT_CONTAINER_CHECK_MS=$CONTAINER_CHECK_MS
mkdir -p "$COMPAT_TRACE_DIR"

if [ "${1:-}" = --serve ]; then
    # For working on the suite: keep both servers up and print how to point pytest at them.
    echo "export ZK_ADDR=$ZK_ADDR PADDOCK_ADDR=$PADDOCK_ADDR COMPAT_SUPER_AUTH=$COMPAT_SUPER_AUTH \\"
    echo "  COMPAT_TRACE_DIR=$COMPAT_TRACE_DIR COMPAT_CONTAINER_CHECK_MS=$CONTAINER_CHECK_MS"
    echo "compat: serving until interrupted"
    while true; do sleep 3600 & wait $!; done
fi

# Differential scenarios first, on quiet servers: their zxid offsets must not see other tests' sessions expire.
# Bad input last: it abandons connections whose sessions expire later.
cd "$COMPAT"
# (pytest.ini's testpaths gives that order when no paths are passed.)
"$VENV/bin/python" -m pytest -q "$@"
