#!/usr/bin/env bash
# pmip-delay-link, the testbed's link-delay stage (kernels without netem):
# two namespaces joined through a third where it runs with DELAY ms; the
# real kernel's ping measures the round trip, the stage's counters account
# for every frame.
#
#   test_delay_link.sh BUILD_DIR
#
#   Checks: --help and usage errors; with 15 ms each way, 20 pings (after
#   one for neighbour discovery): the quickest round trip 30-32 ms, none
#   above 60 ms (timing under load is not what this checks);
#   1000 UDP datagrams in 1 s all arrive, in order; the
#   counters (JSON at SIGTERM) show every frame sent, none dropped, no send
#   error; no namespace left.
# Exit 1 when a check fails, 77 when the environment cannot run it.
set -u
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
BUILD=${1:?usage: test_delay_link.sh BUILD_DIR}
TOOL=$BUILD/tools/testbed/pmip-delay-link
[[ -x $TOOL ]] || { echo "no $TOOL"; exit 1; }

check "--help describes the tool" bash -c "'$TOOL' --help | grep -q 'one-way delay'"
usage_error() { "$TOOL" "$@" >/dev/null 2>&1; [[ $? -eq 2 ]]; }
check "usage error: no interfaces" usage_error --delay-ms 5
check "usage error: a delay out of range" usage_error --a x --b y --delay-ms 20000

need_root "network namespaces"
netns_test_begin dlink
A=dlink$$-a B=dlink$$-b W=dlink$$-w
for ns in $A $B $W; do ip netns add $ns && NAMESPACES+=($ns); done
ip link add xa netns $A type veth peer name xw netns $W
ip link add ya netns $B type veth peer name yw netns $W
ip netns exec $W sysctl -qw net.ipv6.conf.all.disable_ipv6=1
ip -n $A -6 addr add fd00:d1::1/64 dev xa nodad
ip -n $B -6 addr add fd00:d1::2/64 dev ya nodad
for d in "$A xa" "$B ya" "$W xw" "$W yw"; do set -- $d; ip -n $1 link set $2 up; done
ip netns exec $W "$TOOL" --a xw --b yw --delay-ms 15 --stats "$WORK/stats.json" 2>"$WORK/tool.log" &
TOOL_PID=$!
PIDS+=($TOOL_PID)
sleep 0.3
ip netns exec $A ping -c 1 -W 2 fd00:d1::2 >/dev/null 2>&1  # neighbour discovery first
ip netns exec $A ping -c 20 -i 0.05 -W 2 fd00:d1::2 >"$WORK/ping.txt" 2>&1
rtt=$(grep -o 'min/avg/max/mdev = [0-9./]*' "$WORK/ping.txt" | cut -d' ' -f3)
echo "# ping through the stage (15 ms each way): rtt min/avg/max/mdev $rtt ms"
# The stage's accuracy is the quickest round trip (at least 30 ms, within
# 2 ms of it); the slowest only must not look like a second delay (ctest
# runs other namespace tests beside this one: scheduling adds milliseconds).
quickest() { "$PY" -c "import sys; v=[float(x) for x in '$rtt'.split('/')]; sys.exit(0 if 30 <= v[0] <= 32 else 1)"; }
slowest() { "$PY" -c "import sys; v=[float(x) for x in '$rtt'.split('/')]; sys.exit(0 if v[2] < 30 + 30 * $TIME_SCALE else 1)"; }
check "20 pings: the quickest round trip 30-32 ms (2 x 15 ms)" quickest
check "20 pings: none above 60 ms (twice the round trip)" slowest
check "20 pings: none lost" grep -q " 0% packet loss" "$WORK/ping.txt"
# 1000 datagrams in 1 s, sequence-numbered: all arrive, in order.
ip netns exec $B "$PY" - "$WORK/rx.txt" <<'PY_END' &
import socket, sys
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s.bind(("fd00:d1::2", 5099))
s.settimeout(3)
got = []
try:
    while len(got) < 1000:
        got.append(int(s.recv(64)))
except socket.timeout:
    pass
open(sys.argv[1], "w").write("%d %d\n" % (len(got), int(got == sorted(got))))
PY_END
RX=$!
sleep 0.2
ip netns exec $A "$PY" -c "
import socket, time
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
for i in range(1000):
    s.sendto(str(i).encode(), ('fd00:d1::2', 5099))
    time.sleep(0.001)
"
wait $RX
echo "# UDP through the stage: $(cat "$WORK/rx.txt") (received, in order)"
check "1000 datagrams: all arrive, in order" test "$(cat "$WORK/rx.txt")" = "1000 1"
stop_pid $TOOL_PID TERM
echo "# counters: $(cat "$WORK/stats.json" 2>/dev/null)"
accounted() {
    "$PY" - "$WORK/stats.json" <<'PY_END'
import json, sys
d = json.load(open(sys.argv[1]))
dirs = [v for k, v in d.items() if isinstance(v, dict)]
ok = all(v["received"] == v["sent"] and v["dropped_queue_full"] == 0 and v["send_errors"] == 0 for v in dirs)
ok = ok and sum(v["sent"] for v in dirs) >= 1040
sys.exit(0 if ok else 1)
PY_END
}
check "counters: every frame received was sent, none dropped, no send error" accounted
finish
