#!/usr/bin/env bash
# The compatibility suite: proves Paddock answers like Apache ZooKeeper 3.8.
#
# Two phases, each beside a fresh standalone Apache ZooKeeper (Debian's package) as the reference, on free ports
# of 127.0.0.1 with fresh data directories and equivalent zoo.cfg files:
#   standalone  a standalone Paddock server;
#   cluster     a 3-server Paddock ensemble (`server.1..3` lines, `myid` 1..3, each member its own data dir),
#               used once exactly one member says `Mode: leader` in srvr and the others `Mode: follower`; every
#               test's Paddock side talks to a FOLLOWER (writes are forwarded to the leader, sync is a read
#               barrier through it). pytest gets COMPAT_CLUSTER=1: the few assertions on standalone-only facts
#               (srvr's Mode, ...) then expect what a ZooKeeper follower says instead, each with a comment.
# In each phase the same suites run, against both servers:
#   differential/  the same scripted scenarios on both servers, normalized traces compared
#   kazoo/         kazoo API and recipe tests, parametrized over both servers
#   zkcli/         zkCli.sh (Java) one-shot and interactive (expect) sessions, outputs compared
#   climt/         the C client cli_mt, outputs compared
#   badinput/      malformed frames over raw sockets; the server must carry on
#   reconfig/      cluster phase only, last: kazoo's and zkCli's reconfig remove and re-add a member of the
#                  ensemble (whose members have reconfigEnabled=true), which must end whole again
#
# Usage:  PADDOCK_BIN=target/debug/paddock tests/compat/run.sh [pytest args, e.g. -k acl -x]   # both phases
#         COMPAT_PHASE=standalone|cluster ...     # one phase only (default: standalone, then cluster)
#         COMPAT_SELF_TEST=1 tests/compat/run.sh   # Apache ZooKeeper stands in for Paddock (a second standalone
#                                                  # server, then a 3-server ZooKeeper ensemble): proves the
#                                                  # harness itself (every differential must then be equal)
#         tests/compat/run.sh --serve                # start the first phase's servers, print their addresses and
#                                                  # wait for ^C (with COMPAT_PHASE=cluster: the ensemble)
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

export COMPAT_SELF_TEST=${COMPAT_SELF_TEST:-0}  # pytest reads it too
if [ "$COMPAT_SELF_TEST" = 1 ]; then
    PADDOCK_BIN=""
    echo "compat: self-test mode: Apache ZooKeeper stands in for Paddock"
else
    [ -n "${PADDOCK_BIN:-}" ] || die "PADDOCK_BIN is not set (build with cargo build -p paddock, then PADDOCK_BIN=\$PWD/target/debug/paddock)"
    [ -x "$PADDOCK_BIN" ] || die "PADDOCK_BIN=$PADDOCK_BIN is not an executable file"
fi

WORK=$(mktemp -d /tmp/paddock-compat.XXXXXX)
PIDS=()
# Stops every server started so far (by pid) and forgets them.
stop_servers() {
    local pid
    for pid in "${PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        # Bounded wait, then SIGKILL: a hung server must not hang the suite.
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$pid" 2>/dev/null || true
    done
    PIDS=()
}
cleanup() {
    local rc=$?
    stop_servers
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

# zoo.cfg shared by all servers; $1 = dir, $2 = port, $3 = extra lines (an ensemble's server.N list).
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
    if [ -n "${3:-}" ]; then printf '%s\n' "$3" >>"$1/zoo.cfg"; fi
}

start_zookeeper() { # $1 = name, $2 = extra zoo.cfg lines (optional), $3 = myid (optional)
    local dir=$WORK/$1 port
    port=$(free_port)
    write_cfg "$dir" "$port" "${2:-}"
    if [ -n "${3:-}" ]; then echo "$3" >"$dir/data/myid"; fi
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

start_paddock() { # $1 = name, $2 = extra zoo.cfg lines (optional), $3 = myid (optional)
    local dir=$WORK/$1 port
    port=$(free_port)
    write_cfg "$dir" "$port" "${2:-}"
    if [ -n "${3:-}" ]; then echo "$3" >"$dir/data/myid"; fi
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

# A server's srvr `Mode:` (leader, follower, standalone, ...); empty if it does not answer. $1 = its dir in $WORK.
srvr_mode() {
    { "$VENV/bin/python" "$COMPAT/lib/fourlw.py" "127.0.0.1:$(cat "$WORK/$1/port")" srvr 2>/dev/null || true; } |
        sed -n 's/^Mode: //p'
}

# Waits (at most 120 s: with tickTime=2000 and syncLimit=5 an election waits 10 to 20 s, and a loaded machine
# stretches that) until exactly one of the members $@ (dirs in $WORK) says `Mode: leader` and all the others
# `Mode: follower`. Prints the name of the lowest-numbered follower.
wait_ensemble() {
    local deadline=$((SECONDS + 120)) member mode modes leaders followers follower
    while true; do
        modes="" leaders=0 followers=0 follower=""
        for member in "$@"; do
            kill -0 "$(cat "$WORK/$member/pid")" 2>/dev/null ||
                die "$member exited during startup (log: $WORK/$member/server.log)"
            mode=$(srvr_mode "$member")
            modes+=" $member=${mode:-?}"
            case $mode in
                leader) leaders=$((leaders + 1)) ;;
                follower) followers=$((followers + 1)); [ -n "$follower" ] || follower=$member ;;
            esac
        done
        if [ $leaders = 1 ] && [ $((leaders + followers)) = $# ]; then
            echo "compat: one leader:$modes" >&2
            echo "$follower"
            return 0
        fi
        [ $SECONDS -lt $deadline ] || die "no single leader with followers within 120 s:$modes"
        sleep 0.5
    done
}

# Exports what pytest needs to find the servers; $1 = reference dir, $2 = candidate dir, $3 = trace dir name.
export_targets() {
    export ZK_ADDR=127.0.0.1:$(cat "$WORK/$1/port")
    export PADDOCK_ADDR=127.0.0.1:$(cat "$WORK/$2/port")
    export COMPAT_SUPER_AUTH=super:$SUPER_PASSWORD
    export COMPAT_TRACE_DIR=$WORK/$3
    export COMPAT_CONTAINER_CHECK_MS=$CONTAINER_CHECK_MS
    mkdir -p "$COMPAT_TRACE_DIR"
}

serve_if_asked() { # $@ = the script's arguments
    if [ "${1:-}" = --serve ]; then
        # For working on the suite: keep the servers up and print how to point pytest at them.
        echo "export ZK_ADDR=$ZK_ADDR PADDOCK_ADDR=$PADDOCK_ADDR COMPAT_SUPER_AUTH=$COMPAT_SUPER_AUTH \\"
        echo "  COMPAT_TRACE_DIR=$COMPAT_TRACE_DIR COMPAT_CONTAINER_CHECK_MS=$CONTAINER_CHECK_MS \\"
        echo "  COMPAT_CLUSTER=$COMPAT_CLUSTER COMPAT_SELF_TEST=$COMPAT_SELF_TEST \\"
        echo "  COMPAT_PADDOCK_MYID=${COMPAT_PADDOCK_MYID:-} \\"
        printf '  COMPAT_MEMBERS=%q \\\n' "${COMPAT_MEMBERS:-}"
        printf '  COMPAT_ENSEMBLE_CONFIG=%q\n' "${COMPAT_ENSEMBLE_CONFIG:-}"
        echo "compat: serving until interrupted"
        while true; do sleep 3600 & wait $!; done
    fi
}

# Differential scenarios first, on quiet servers: their zxid offsets must not see other tests' sessions expire.
# Bad input last: it abandons connections whose sessions expire later. (pytest.ini's testpaths gives that order
# when no paths are passed.)
run_pytest() { # $@ = pytest arguments
    (cd "$COMPAT" && "$VENV/bin/python" -m pytest -q "$@")
}

standalone_phase() {
    echo "compat: ==== standalone phase ===="
    local started=$SECONDS
    start_zookeeper zookeeper
    if [ -n "$PADDOCK_BIN" ]; then
        start_paddock paddock
        wait_ready zookeeper ""
        wait_ready paddock "paddock ready"
    else
        start_zookeeper paddock
        wait_ready zookeeper ""
        wait_ready paddock ""
    fi
    export_targets zookeeper paddock traces
    export COMPAT_CLUSTER=0
    serve_if_asked "$@"
    run_pytest "$@"
    stop_servers
    echo "compat: standalone phase took $((SECONDS - started)) s"
}

cluster_phase() {
    echo "compat: ==== cluster phase: a 3-server ensemble, clients on a follower ===="
    local started=$SECONDS i line servers="" config="" members=() follower modes="" rc=0
    # A fresh standalone reference: the first phase's abandoned sessions (bad input) would otherwise expire into
    # the zxid ranges of this phase's differential scenarios.
    start_zookeeper cluster-zookeeper
    for i in 1 2 3; do
        line="server.$i=127.0.0.1:$(free_port):$(free_port)"
        servers+=$line$'\n'
        config+=$line:participant$'\n'
    done
    # What a ZooKeeper member keeps in /zookeeper/config for these lines, before its `version=` line (kazoo/
    # test_nodes.py checks it; the version is the node's mzxid, see lib/targets.py's ensemble_config).
    export COMPAT_ENSEMBLE_CONFIG=${config%$'\n'}
    # Dynamic reconfiguration on (reconfig/ runs last and removes and re-adds a member): ZooKeeper 3.5.3+ needs
    # reconfigEnabled=true and lets only the super user (superDigest, set for every server) write /zookeeper/config;
    # skipACL is not set, so that ACL check is real.
    servers+=reconfigEnabled=true$'\n'
    for i in 1 2 3; do
        members+=("member-$i")
        if [ -n "$PADDOCK_BIN" ]; then
            start_paddock "member-$i" "$servers" "$i"
        else
            start_zookeeper "member-$i" "$servers" "$i"
        fi
    done
    # Every member's client address by id (`1=127.0.0.1:port 2=...`): reconfig/ reads each member's srvr and
    # re-adds a removed member with its client port, which its zoo.cfg line leaves out.
    COMPAT_MEMBERS=""
    for i in 1 2 3; do COMPAT_MEMBERS+="${COMPAT_MEMBERS:+ }$i=127.0.0.1:$(cat "$WORK/member-$i/port")"; done
    export COMPAT_MEMBERS
    wait_ready cluster-zookeeper ""
    follower=$(wait_ensemble "${members[@]}")
    wait_ready "$follower" ""
    echo "compat: servers ready after $((SECONDS - started)) s; the tests use $follower, a follower"
    export_targets cluster-zookeeper "$follower" cluster-traces
    export COMPAT_PADDOCK_MYID=${follower#member-}
    export COMPAT_CLUSTER=1
    serve_if_asked "$@"
    run_pytest "$@" || rc=$?
    # Raft indexes (Paddock's zxids) skip numbers at a new term: a leader change during the run shows here.
    for i in "${members[@]}"; do modes+=" $i=$(srvr_mode "$i")"; done
    echo "compat: modes after the run:$modes"
    [ $rc = 0 ] || exit $rc
    stop_servers
    echo "compat: cluster phase took $((SECONDS - started)) s"
}

case ${COMPAT_PHASE:-} in
    "") standalone_phase "$@"; cluster_phase "$@" ;;
    standalone) standalone_phase "$@" ;;
    cluster) cluster_phase "$@" ;;
    *) die "COMPAT_PHASE=$COMPAT_PHASE: expected standalone, cluster or nothing (both phases)" ;;
esac
