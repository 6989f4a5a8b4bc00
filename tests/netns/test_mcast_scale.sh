#!/usr/bin/env bash
# Multicast past ip6mr's 31 interfaces, with the real daemons (root): one
# magd instance with N MN access links (veths, default 200) of which L
# (default 150) listen to one group, behind one lmad anchoring multicast,
# over the ebpf forwarding backend (issue 13); then the same lmad with M
# (default 100) more MAG tunnels, all receiving the group.
#
#   test_mcast_scale.sh BUILD_DIR [N] [L] [M]
#
#   pmsc-PID-cn   c0 2001:db8:200::2: the source of G ff3e::5ca1:1 (port 6100)
#   pmsc-PID-lma  l0 2001:db8:200::1 (multicast upstream), lo 2001:db8:100::1
#                 (LMAA), l1 2001:db8:101::1; lmad
#   pmsc-PID-mag  u1 2001:db8:101::11; magd, access links mn1..mnN
#   pmsc-PID-mn   p1..pN, the MN ends (MAC 02:00:00:00:XX:XX, the policy's),
#                 IPv6 on (MLD), RAs ignored (accept_ra 0): p1..pL join G
#                 with an ordinary socket (mcast_scale_mn.py join)
#   pmsc-PID-crowd  v0 2001:db8:120::101..+M: M MAG addresses (mag_crowd.py:
#                 scapy-built PBUs, then each tunnel's MLD proxy: MLDv2
#                 Reports sent ip6ip6-encapsulated, the stream counted per
#                 tunnel on a raw protocol-41 socket) -- l2 2001:db8:120::1 at lmad
#
# Checks: all N MNs registered and all N links downstreams of magd's one
# instance (more than 31: no MIF limit); a stream of 300 datagrams reaches
# each of the L listeners completely and none of the N-L others, with no
# duplicate anywhere (counted per interface with AF_PACKET in the MN
# namespace); then L/3 listeners leave (their sockets close) and a second
# stream reaches exactly the remaining ones; magd's and lmad's instances say
# "ebpf". LMA part: M PBUs accepted, lmad's instance has M+1 tunnel
# downstreams, every MAG tunnel gets every datagram once, M/3 MAGs leave and
# a second stream reaches exactly the others. magd killed with SIGKILL
# leaves its filters; the next start removes them (log). Nothing of ours left
# in tc after SIGTERM.
#
# One line per check; exit 1 if any failed, 77 ("SKIPPED: reason") when not
# root, no TUN, or the ebpf backend cannot load here. Everything is removed
# on exit (trap, tests/netns/lib.sh).
set -u
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

BUILD=${1:?usage: test_mcast_scale.sh BUILD_DIR [N] [L]}
N=${2:-200}
L=${3:-150}
M=${4:-100}
GROUP=ff3e::5ca1:1
PORT=6100
MAGD=$BUILD/mag/magd
LMAD=$BUILD/lma/lmad
PMIPCTL=$BUILD/tools/pmipctl/pmipctl
HARNESS=$BUILD/tests/mcast_proxy_harness
MN_TOOL="$PY $NETNS_DIR/mcast_scale_mn.py"
CROWD="$PY $NETNS_DIR/mag_crowd.py"
TRAFFIC="$PY $NETNS_DIR/mcast_traffic.py"

need_root "network namespaces, TUN devices, BPF"
need_tun
[[ -x $MAGD && -x $LMAD && -x $PMIPCTL && -x $HARNESS ]] || { echo "FAIL - build magd, lmad, pmipctl, mcast_proxy_harness in $BUILD"; exit 1; }
reason=$("$HARNESS" --probe ebpf) || skip "${reason#SKIPPED: }"
((L <= N)) || { echo "FAIL - L must be <= N"; exit 1; }

ID=$$
NS_CN=pmsc-$ID-cn
NS_LMA=pmsc-$ID-lma
NS_MAG=pmsc-$ID-mag
NS_MN=pmsc-$ID-mn
NS_CROWD=pmsc-$ID-crowd
NAMESPACES=("$NS_CN" "$NS_LMA" "$NS_MAG" "$NS_MN" "$NS_CROWD")
netns_test_begin pmsc
reap_stale_namespaces pmsc 'cn|lma|mag|mn|crowd'
FAIL_LOGS+=("$WORK/lmad.log" "$WORK/magd.log")
MAGD_PID=
LMAD_PID=
# The kernel's per-CPU input backlog (net.core.netdev_max_backlog, one
# setting for every namespace) takes each copy a veth delivers: 100-150 per
# datagram here, while another test (CI runs two at once) fills the same
# backlog. The suspected cause of one CI failure (session 31: 5 of 300
# datagrams lost for everyone and more for 5 consecutive listeners). Raised
# for this test to 10,000 (the routers' transmit drops, which such an
# overflow counts, are printed with each stream's verdict), and put back at
# exit unless someone changed it meanwhile.
BACKLOG_BEFORE=$(sysctl -n net.core.netdev_max_backlog)
BACKLOG_OURS=
if ((BACKLOG_BEFORE < 10000)) && sysctl -qw net.core.netdev_max_backlog=10000; then
    BACKLOG_OURS=10000
fi
cleanup_hook() {
    local pid
    for pid in $MAGD_PID $LMAD_PID; do kill -TERM "$pid" 2>/dev/null; done
    for pid in $MAGD_PID $LMAD_PID; do wait "$pid" 2>/dev/null; done
    if [[ -n $BACKLOG_OURS && $(sysctl -n net.core.netdev_max_backlog) == "$BACKLOG_OURS" ]]; then
        sysctl -qw net.core.netdev_max_backlog="$BACKLOG_BEFORE"
    fi
}
mctl() { "$PMIPCTL" --socket "$WORK/magd.sock" --timeout 10 "$@"; }
lctl() { "$PMIPCTL" --socket "$WORK/lmad.sock" --timeout 10 "$@"; }
quiet() { "$@" >/dev/null 2>&1; }
pyq() {  # pyq JSON-FILE EXPR: prints EXPR over d
    "$PY" -c "import json,sys; d=json.load(open('$1')); print($2)"
}

# ---------------------------------------------------------------- topology
add_namespaces "${NAMESPACES[@]}"
ip link add c0 netns "$NS_CN" type veth peer name l0 netns "$NS_LMA"
ip link add l1 netns "$NS_LMA" type veth peer name u1 netns "$NS_MAG"
ip -n "$NS_CN" addr add 2001:db8:200::2/64 dev c0 nodad
ip -n "$NS_CN" link set c0 up
ip -n "$NS_LMA" addr add 2001:db8:100::1/128 dev lo
ip -n "$NS_LMA" addr add 2001:db8:200::1/64 dev l0 nodad
ip -n "$NS_LMA" addr add 2001:db8:101::1/64 dev l1 nodad
ip -n "$NS_LMA" link set l0 up
ip -n "$NS_LMA" link set l1 up
in_ns "$NS_LMA" sysctl -qw net.ipv6.conf.all.forwarding=1
ip -n "$NS_MAG" addr add 2001:db8:101::11/64 dev u1 nodad
ip -n "$NS_MAG" link set u1 up
ip -n "$NS_MAG" -6 route add default via 2001:db8:101::1
in_ns "$NS_MN" sysctl -qw net.ipv6.conf.default.accept_ra=0 net.ipv6.conf.all.accept_ra=0
ip link add l2 netns "$NS_LMA" type veth peer name v0 netns "$NS_CROWD"
ip -n "$NS_LMA" addr add 2001:db8:120::1/64 dev l2 nodad
ip -n "$NS_LMA" link set l2 up
CROWD_MAGS=$(seq -s, -f '2001:db8:120::%g' 101 $((100 + M)))
for ((i = 101; i <= 100 + M; i++)); do echo "address add 2001:db8:120::$i/64 dev v0 nodad"; done >"$WORK/crowd.batch"
ip -n "$NS_CROWD" -batch "$WORK/crowd.batch"
ip -n "$NS_CROWD" link set v0 up
ip -n "$NS_CROWD" -6 route add 2001:db8:100::1/128 via 2001:db8:120::1
mac_of() { printf -v MAC '02:00:00:00:%02x:%02x' $(($1 >> 8 & 255)) $(($1 & 255)); }
for ((i = 1; i <= N; i++)); do
    mac_of $i
    echo "link add mn$i type veth peer name p$i netns $NS_MN address $MAC"
done >"$WORK/create.batch"
ip -n "$NS_MAG" -batch "$WORK/create.batch" >/dev/null 2>&1
check "$N access links created" test "$(ip -n "$NS_MAG" -o link show | grep -c ': mn[0-9]*@')" -eq "$N"

# ---------------------------------------------------------------- daemons
{
    echo '{"mobile_nodes": ['
    for ((i = 1; i <= N; i++)); do
        mac_of $i
        printf '{"mac": "%s", "interface": "mn%d", "id": "mn%d@scale.example", "lma": "2001:db8:100::1", "lifetime": 400, "multicast": true}%s\n' \
            "$MAC" $i $i "$([[ $i -lt $N ]] && echo ,)"
    done
    echo ']}'
} >"$WORK/magd-policy.json"
{
    echo '{"mobile_nodes": ['
    for ((i = 1; i <= N; i++)); do printf '{"id": "mn%d@scale.example"},\n' $i; done
    for ((i = 1; i <= M; i++)); do printf '{"id": "crowd-%d@scale.example"}%s\n' $i "$([[ $i -lt $M ]] && echo ,)"; done
    echo ']}'
} >"$WORK/lmad-policy.json"
cat >"$WORK/lmad.conf" <<EOF
[lma]
address = 2001:db8:100::1
[pools]
pool = 2001:db8:8000::/33 64
[mags]
authorized = 2001:db8:101::/64
authorized = 2001:db8:120::/64
[policy]
store = $WORK/lmad-policy.json
[tunnel]
backend = userspace
[control]
socket = $WORK/lmad.sock
[state]
file = $WORK/lmad.state
[multicast]
enabled = true
upstream = l0
forwarding = ebpf
EOF
cat >"$WORK/magd.conf" <<EOF
[mag]
address = 2001:db8:101::11
[access]
interface = mn*
[policy]
store = $WORK/magd-policy.json
[tunnel]
backend = userspace
[control]
socket = $WORK/magd.sock
[multicast]
forwarding = ebpf
EOF
ip netns exec "$NS_LMA" "$LMAD" --config "$WORK/lmad.conf" >"$WORK/lmad.log" 2>&1 &
LMAD_PID=$!
check "lmad runs" wait_until 20 quiet lctl show counters
ip netns exec "$NS_MAG" "$MAGD" --config "$WORK/magd.conf" >"$WORK/magd.log" 2>&1 &
MAGD_PID=$!
check "magd runs" wait_until 20 quiet mctl show counters
check "both daemons log their forwarding backend: ebpf" sh -c \
    "grep -q 'multicast forwarding: ebpf' '$WORK/lmad.log' && grep -q 'multicast forwarding: ebpf' '$WORK/magd.log'"

for ((i = 1; i <= N; i++)); do echo "link set p$i up"; done >"$WORK/mn-up.batch"
for ((i = 1; i <= N; i++)); do echo "link set mn$i up"; done >"$WORK/mag-up.batch"
ip -n "$NS_MN" -batch "$WORK/mn-up.batch"
ip -n "$NS_MAG" -batch "$WORK/mag-up.batch"
registered() { [[ $(mctl --json show mns 2>/dev/null | grep -c '"state": "registered"') -ge $N ]]; }
check "all $N MNs registered" wait_until 60 registered
downstreams() {
    mctl --json show multicast >"$WORK/mag-mcast.json" 2>/dev/null &&
        [[ $(pyq "$WORK/mag-mcast.json" "sum(len(i.get('downstreams', [])) for i in d)") -ge $N ]]
}
check "magd: one proxy instance with all $N MN links as downstreams (past ip6mr's 31)" wait_until 30 downstreams
check "magd: that instance forwards with ebpf" sh -c "[ \"\$($PY -c \"import json; d=json.load(open('$WORK/mag-mcast.json')); print(len(d), d[0]['forwarding']['backend'])\")\" = '1 ebpf' ]"

# ---------------------------------------------------------------- listeners
stayers=$(seq -s, -f 'p%g' 1 $((L - L / 3)))
leavers=$(seq -s, -f 'p%g' $((L - L / 3 + 1)) "$L")
ip netns exec "$NS_MN" $MN_TOOL join --group $GROUP --ifnames "$stayers" --ready "$WORK/join1" &
PIDS+=($!)
ip netns exec "$NS_MN" $MN_TOOL join --group $GROUP --ifnames "$leavers" --ready "$WORK/join2" &
LEAVERS_PID=$!
PIDS+=("$LEAVERS_PID")
wait_until 10 test -e "$WORK/join2"
star_outputs() {  # the (*,G) outputs of magd's instance
    mctl --json show multicast >"$WORK/mag-mcast.json" 2>/dev/null || { echo 0; return; }
    pyq "$WORK/mag-mcast.json" "sum(len(e['oifs']) for i in d for e in i.get('group_entries', []) if e['group']=='$GROUP')"
}
listeners_known() { [[ $(star_outputs) -eq $1 ]]; }
check "magd: (*,$GROUP) towards all $L listeners' links before any data" wait_until 20 listeners_known "$L"
lmad_forwards() {
    lctl --json show multicast >"$WORK/lma-mcast.json" 2>/dev/null &&
        [[ $(pyq "$WORK/lma-mcast.json" "sum(len(e['oifs']) for e in d.get('group_entries', []) if e['group']=='$GROUP')") -ge 1 ]]
}
check "lmad: (*,$GROUP) towards the MAG tunnel (magd's proxy reported it)" wait_until 20 lmad_forwards

# router_tx_dropped: what the MAG's and the LMA's devices dropped on
# transmission so far (a veth whose peer's backlog is full drops there): a
# forwarding copy lost on the way, told apart from one the counter lost.
router_tx_dropped() {
    local ns
    for ns in "$NS_MAG" "$NS_LMA"; do
        ip netns exec "$ns" sh -c 'cat /sys/class/net/*/statistics/tx_dropped'
    done | awk '{ total += $1 } END { print total + 0 }'
}
# stream TAG NS COUNTER PPS SECONDS: the source sends PPS x SECONDS datagrams
# while COUNTER (mcast_scale_mn.py or mag_crowd.py) counts them per place
# (MN interface, MAG tunnel) in NS, into count-TAG.json; the routers'
# transmit drops meanwhile into dropped-TAG.
stream() {
    local tag=$1 ns=$2 counter_tool=$3 pps=$4 seconds=$5 dropped_before
    dropped_before=$(router_tx_dropped)
    rm -f "$WORK/count-ready"
    ip netns exec "$ns" $counter_tool count --group $GROUP --port $PORT --seconds $((seconds + 3)) \
        --ready "$WORK/count-ready" >"$WORK/count-$tag.json" &
    local counter=$!
    wait_until 5 test -e "$WORK/count-ready"
    sleep 0.2
    ip netns exec "$NS_CN" $TRAFFIC send --ifname c0 --pps "$pps" --duration "$seconds" \
        --flow "2001:db8:200::2,$GROUP,$PORT" >/dev/null 2>&1
    wait "$counter"
    echo $(($(router_tx_dropped) - dropped_before)) >"$WORK/dropped-$tag"
}
# verdict TAG FIRST LAST COUNT OFFSET MIN: places are numbered by the
# trailing number of their name minus OFFSET (p7 -> 7, 2001:db8:120::107 ->
# 7 with OFFSET 100); FIRST..LAST got every datagram that got through (at
# least MIN), the others of 1..COUNT none, no duplicates anywhere.
verdict() {
    "$PY" - "$WORK/count-$1.json" "$2" "$3" "$4" "$5" "$6" "$WORK/dropped-$1" <<'EOF'
import json, re, sys
d = json.load(open(sys.argv[1])); first, last, count, offset, least = map(int, sys.argv[2:7])
try:
    router_drops = open(sys.argv[7]).read().strip()
except OSError:
    router_drops = "unread"
got = {int(re.search(r"(\d+)$", k).group(1)) - offset: v for k, v in d.items() if re.search(r"\d$", k)}
full = max((v["received"] for v in got.values()), default=0)
short = [i for i in range(first, last + 1) if got.get(i, {"received": 0})["received"] != full]
extra = [i for i in range(1, count + 1) if not first <= i <= last and got.get(i, {"received": 0})["received"] > 0]
dups = sum(v["duplicates"] for v in got.values())
lost = d.get("counter_drops", 0)  # the counting socket's own drops
print("sent-through %d; short %s; others receiving %s; duplicates %d; the counter's own drops %d; "
      "the routers' transmit drops %s" % (full, short[:5], extra[:5], dups, lost, router_drops))
sys.exit(0 if full >= least and not short and not extra and dups == 0 and lost == 0 else 1)
EOF
}
stream one "$NS_MN" "$MN_TOOL" 100 3
check "stream 1: each of the $L listeners got every datagram, the $((N - L)) others none, no duplicate ($(verdict one 1 "$L" "$N" 0 290))" \
    verdict one 1 "$L" "$N" 0 290

# ---------------------------------------------------------------- leaves
stop_pid "$LEAVERS_PID"
check "magd: the $((L / 3)) leavers' links drop out of (*,$GROUP) ($((L - L / 3)) remain)" \
    wait_until 10 listeners_known $((L - L / 3))
stream two "$NS_MN" "$MN_TOOL" 100 3
check "stream 2: only the $((L - L / 3)) remaining listeners receive ($(verdict two 1 $((L - L / 3)) "$N" 0 290))" \
    verdict two 1 $((L - L / 3)) "$N" 0 290

# ---------------------------------------------------------------- LMA: M MAG tunnels
echo "# lmad with $M more MAG tunnels"
check "$M MAGs register one MN each with lmad" ip netns exec "$NS_CROWD" $CROWD register --lma 2001:db8:100::1 --mags "$CROWD_MAGS"
tunnels() {
    lctl --json show multicast >"$WORK/lma-mcast.json" 2>/dev/null &&
        [[ $(pyq "$WORK/lma-mcast.json" "len(d.get('downstreams', []))") -ge $((M + 1)) ]]
}
check "lmad: $((M + 1)) MAG tunnels are downstreams of its instance (past ip6mr's 31)" wait_until 30 tunnels
ip netns exec "$NS_CROWD" $CROWD report --lma 2001:db8:100::1 --mags "$CROWD_MAGS" --group $GROUP --join
lma_outputs() {
    lctl --json show multicast >"$WORK/lma-mcast.json" 2>/dev/null || { echo 0; return; }
    pyq "$WORK/lma-mcast.json" "sum(len(e['oifs']) for e in d.get('group_entries', []) if e['group']=='$GROUP')"
}
lma_outputs_are() { [[ $(lma_outputs) -eq $1 ]]; }
check "lmad: (*,$GROUP) towards all $((M + 1)) tunnels after the MAGs' reports" wait_until 20 lma_outputs_are $((M + 1))
stream three "$NS_CROWD" "$CROWD" 50 4
check "stream 3: each of the $M MAG tunnels got every datagram once ($(verdict three 1 "$M" "$M" 100 190))" \
    verdict three 1 "$M" "$M" 100 190
leaving=$(seq -s, -f '2001:db8:120::%g' $((101 + M - M / 3)) $((100 + M)))
ip netns exec "$NS_CROWD" $CROWD report --lma 2001:db8:100::1 --mags "$leaving" --group $GROUP --leave
check "lmad: $((M / 3)) MAGs' leaves take their tunnels out of (*,$GROUP)" \
    wait_until 15 lma_outputs_are $((M - M / 3 + 1))
stream four "$NS_CROWD" "$CROWD" 50 4
check "stream 4: only the $((M - M / 3)) remaining MAG tunnels receive ($(verdict four 1 $((M - M / 3)) "$M" 100 190))" \
    verdict four 1 $((M - M / 3)) "$M" 100 190

# ---------------------------------------------------------------- SIGKILL, restart
echo "# magd killed (SIGKILL) and restarted"
kill -KILL "$MAGD_PID"
wait "$MAGD_PID" 2>/dev/null
MAGD_PID=
left=$(for ((i = 1; i <= N; i++)); do tc -n "$NS_MAG" filter show dev "mn$i" ingress 2>/dev/null; done | grep -c pmip_mcast_fwd)
check "the killed magd left its tc filters on the MN links ($left of $N)" test "$left" -eq "$N"
ip netns exec "$NS_MAG" "$MAGD" --config "$WORK/magd.conf" >"$WORK/magd2.log" 2>&1 &
MAGD_PID=$!
FAIL_LOGS+=("$WORK/magd2.log")
check "magd runs again" wait_until 20 quiet mctl show counters
check "the new magd removed the $N filters the killed one left (log)" \
    grep -q "removed $N tc filters left by a previous run" "$WORK/magd2.log"
check "after the restart all $N MNs are registered again" wait_until 60 registered
check "and all $N links are downstreams of its new instance" wait_until 30 downstreams

# ---------------------------------------------------------------- shutdown
for pid in $MAGD_PID $LMAD_PID; do kill -TERM "$pid"; done
rc_mag=0 rc_lma=0
wait "$MAGD_PID" || rc_mag=$?
wait "$LMAD_PID" || rc_lma=$?
MAGD_PID= LMAD_PID=
check "magd and lmad exit 0 on SIGTERM ($rc_mag, $rc_lma)" test $((rc_mag + rc_lma)) -eq 0
no_filters() {  # no_filters NS: no pmip tc filter on any link of NS
    local dev
    for dev in $(ip -n "$1" -o link show | awk -F': ' '{print $2}' | cut -d@ -f1); do
        tc -n "$1" filter show dev "$dev" ingress 2>/dev/null | grep -q pmip_mcast_fwd && return 1
    done
    return 0
}
check "no pmip tc filter left at the MAG ($N + 1 links) or the LMA" sh -c "$(declare -f no_filters); no_filters $NS_MAG && no_filters $NS_LMA"
finish
