# shellcheck shell=bash
# The DMM namespace topology that tests/netns/test_pmip_dmm.sh and
# tools/bench/bench_dmm.sh share (sourced after tests/netns/lib.sh's
# netns_test_begin, with N, WORK, BUILD and HOLD set; IDLE, the MAARs'
# previous-prefix-idle-s, defaults to 60):
#
#   dmm_topology_up MODE   MODE dmm: lmad as the RFC 8885 CMD ([dmm] cmd =
#                          relay) and magd in maar1-3 as MAARs (pools
#                          2001:db8:aN::/48, hold HOLD s); MODE pmip: the
#                          same namespaces as centralized PMIPv6 (lmad the
#                          LMA in "cmd", pool 2001:db8:8000::/48, magd as
#                          MAGs), for comparisons. One link (a bridge in
#                          "core") joins cmd (2001:db8:100::1), maar1-3
#                          (::21-23) and cn (::99); the MN's eth0 reaches
#                          maarN's access link mn1 through port pN (tc
#                          mirred, as in the testbed). Daemons' logs and
#                          sockets in WORK (lmad.*, magdN.*); PIDs in PIDS.
#                          Tunnels on [tunnel] backend = PMIP_TESTBED_TUNNELS
#                          (default userspace).
#   dmm_add_mag            a plain MAG beside the MAARs (see below);
#   dmm_mag_attach         its MN attaches.
#   dmm_move_to I          only port pI up (one netlink batch): the MN is at maarI.
#   dmm_mn_address START   the MN's global address starting with START, DAD done.
#   ctl SOCKET ARGS...     pmipctl (PMIPCTL) --json against a daemon's socket;
#   qq SOCKET "ARGS" EXPR  EXPR (Python, the answer as d) printed;
#   up SOCKET              whether the daemon answers.
#   dmm_stream SECONDS ADDRESS  a 100/s UDP stream from cn to the MN's ADDRESS
#                          (port 5001) for SECONDS, counted by the MN into
#                          WORK/flow.json (pmip-handover-meter, METER); the
#                          receiver's PID in DMM_RECV.

DMM_MAC=02:00:00:00:00:01
source "$(dirname "${BASH_SOURCE[0]}")/mn_wiring.sh"
source "$(dirname "${BASH_SOURCE[0]}")/link_local.sh"

dmm_attach_core() {  # dmm_attach_core NS IFNAME ADDRESS
    ip link add "$2" netns "$N-$1" type veth peer name "to-$1" netns "$N-core"
    ip -n "$N-core" link set "to-$1" master br0 up
    ip -n "$N-$1" -6 addr add "$3/64" dev "$2" nodad
    ip -n "$N-$1" link set "$2" up
}

dmm_namespaces() {  # dmm_namespaces NS...: made (lo up), removed by the test's cleanup
    local ns
    for ns in "$@"; do
        ip netns add "$N-$ns" 2>/dev/null || skip "cannot create network namespaces here"
        NAMESPACES+=("$N-$ns")
        ip -n "$N-$ns" link set lo up
    done
}

dmm_magd_conf() {  # dmm_magd_conf NAME ADDRESS POLICY: WORK/NAME.conf of a magd
    cat >"$WORK/$1.conf" <<EOF
[mag]
address = $2
[access]
interface = mn*
[policy]
store = $3
[tunnel]
backend = ${PMIP_TESTBED_TUNNELS:-userspace}
[control]
socket = $WORK/$1.sock
EOF
}

dmm_start() {  # dmm_start NS NAME BINARY CONFIG
    ip netns exec "$N-$1" "$3" --config "$4" >"$WORK/$2.log" 2>&1 &
    PIDS+=($!)
}

dmm_topology_up() {
    local mode=$1 i
    dmm_namespaces core cmd maar1 maar2 maar3 cn mn
    # The core link.
    ip -n "$N-core" link add br0 type bridge
    ip -n "$N-core" link set br0 up
    dmm_attach_core cmd u0 2001:db8:100::1
    dmm_attach_core cn c0 2001:db8:100::99
    ip netns exec "$N-cmd" sysctl -qw net.ipv6.conf.all.forwarding=1
    for i in 1 2 3; do
        dmm_attach_core "maar$i" u0 "2001:db8:100::2$i"
        ip netns exec "$N-maar$i" sysctl -qw net.ipv6.conf.all.forwarding=1
        ip -n "$N-cn" -6 route add "2001:db8:a$i::/48" via "2001:db8:100::2$i"
    done
    ip -n "$N-cn" -6 route add 2001:db8:8000::/48 via 2001:db8:100::1
    # The MN: eth0 wired to p1, p2, p3 (one up at a time).
    mn_wire "$N-mn" $DMM_MAC "$N-maar1" mn1 02:00:00:00:01:01 "$N-maar2" mn1 02:00:00:00:02:01 \
        "$N-maar3" mn1 02:00:00:00:03:01
    for i in 1 2 3; do ip -n "$N-maar$i" link set mn1 up; done

    # The daemons.
    # mn2 is for dmm_add_mag's plain MAG (centralized PMIPv6 beside the MAARs).
    echo '{"mobile_nodes": [{"id": "mn1@dmm.example"}, {"id": "mn2@pmip.example"}]}' >"$WORK/lmad-policy.json"
    local cmd=off
    [[ $mode == dmm ]] && cmd=relay
    cat >"$WORK/lmad.conf" <<EOF
[lma]
address = 2001:db8:100::1
[pools]
pool = 2001:db8:8000::/48 64
[mags]
authorized = 2001:db8:100::/64
[policy]
store = $WORK/lmad-policy.json
[dmm]
cmd = $cmd
[tunnel]
backend = ${PMIP_TESTBED_TUNNELS:-userspace}
[control]
socket = $WORK/lmad.sock
[state]
file = $WORK/lmad.state
EOF
    echo "{\"mobile_nodes\": [{\"mac\": \"$DMM_MAC\", \"interface\": \"mn1\", \"id\": \"mn1@dmm.example\", \"lma\": \"2001:db8:100::1\"}]}" \
        >"$WORK/magd-policy.json"
    dmm_start cmd lmad "$BUILD/lma/lmad" "$WORK/lmad.conf"
    for i in 1 2 3; do
        dmm_magd_conf "magd$i" "2001:db8:100::2$i" "$WORK/magd-policy.json"
        if [[ $mode == dmm ]]; then
            printf '[mag]\nmode = maar\n[maar]\ncmd = 2001:db8:100::1\npool = 2001:db8:a%s::/48 64\nlifetime-s = 400\nprevious-prefix-hold-s = %s\nprevious-prefix-idle-s = %s\n' \
                "$i" "$HOLD" "${IDLE:-60}" >>"$WORK/magd$i.conf"
        fi
        dmm_start "maar$i" "magd$i" "$BUILD/mag/magd" "$WORK/magd$i.conf"
    done
    dmm_wait_link_locals cmd maar1 maar2 maar3 cn
}

# dmm_wait_link_locals NODE...: until the nodes' links are usable (not in DAD:
# link_local.sh), as testbed.sh's up waits; the core's bridge is only a switch.
dmm_wait_link_locals() {
    local nodes=("${@/#/$N-}")
    wait_until 10 links_settled "${nodes[@]}" ||
        fail "no usable link-local address (still in DAD?) on: $(links_in_dad "${nodes[@]}" | tr '\n' ';')"
}

# A plain MAG (magd in mag mode, namespace mag4, 2001:db8:100::24) with its
# own kernel MN (namespace mn2, MAC DMM_MAC2, always attached) whose LMA is
# the lmad that runs the CMD: RFC 8885 DMM and centralized PMIPv6 in one
# deployment. Its HNP comes from the LMA's pool 2001:db8:8000::/48.
DMM_MAC2=02:00:00:00:00:02
dmm_add_mag() {
    dmm_namespaces mag4 mn2
    dmm_attach_core mag4 u0 2001:db8:100::24
    ip netns exec "$N-mag4" sysctl -qw net.ipv6.conf.all.forwarding=1
    ip link add eth0 netns "$N-mn2" address $DMM_MAC2 type veth peer name mn2 netns "$N-mag4" address 02:00:00:00:04:02
    ip netns exec "$N-mn2" sysctl -qw net.ipv6.conf.eth0.accept_ra=1 net.ipv6.conf.eth0.autoconf=1
    echo "{\"mobile_nodes\": [{\"mac\": \"$DMM_MAC2\", \"interface\": \"mn2\", \"id\": \"mn2@pmip.example\", \"lma\": \"2001:db8:100::1\"}]}" \
        >"$WORK/magd4-policy.json"
    dmm_magd_conf magd4 2001:db8:100::24 "$WORK/magd4-policy.json"
    dmm_start mag4 magd4 "$BUILD/mag/magd" "$WORK/magd4.conf"
    ip -n "$N-mn2" link set eth0 up
    dmm_wait_link_locals mag4
}
# mn2 attaches to mag4 (its access link comes up).
dmm_mag_attach() { ip -n "$N-mag4" link set mn2 up; }

dmm_move_to() {
    local cmds="" i
    for i in 1 2 3; do cmds+="link set p$i $([[ $i == "$1" ]] && echo up || echo down)"$'\n'; done
    ip -n "$N-mn" -batch - <<<"$cmds"
}

dmm_mn_address() {
    ip -n "$N-mn" -6 -o addr show dev eth0 scope global -tentative | awk '{print $4}' | cut -d/ -f1 |
        grep "^$1" | head -1
}

dmm_stream() {
    ip netns exec "$N-mn" "$METER" receive --port 5001 --seconds $(($1 + 2)) --gap-ms 50 --json >"$WORK/flow.json" 2>&1 &
    DMM_RECV=$!
    PIDS+=($DMM_RECV)
    sleep 0.3
    ip netns exec "$N-cn" "$METER" send --to "$2" --port 5001 --rate 100 --seconds "$1" 2>"$WORK/send.json" &
    PIDS+=($!)
}

ctl() { "$PMIPCTL" --socket "$1" --json "${@:2}"; }
qq() {  # qq SOCKET "PMIPCTL ARGS" EXPR
    ctl "$1" $2 2>/dev/null | "$PY" -c "import json,sys; d=json.load(sys.stdin); print($3)"
}
up() { ctl "$1" show counters >/dev/null 2>&1; }
