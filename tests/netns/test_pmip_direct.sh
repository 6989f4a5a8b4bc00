#!/usr/bin/env bash
# draft-zhao-multimob-pmip6-solution's MAG joining directly (magd
# [multicast] mode = proxy-direct) end to end on the namespace testbed: the
# real daemons, the real Linux kernel as the MN and as the MAGs' host
# membership on their direct links.
#
#   test_pmip_direct.sh BUILD_DIR
#
#   Each MAG's direct upstream d0 leads to a local router lrN, which sends
#   DIRECT (ff0e::4d00:1; a direct-channel from any source). The CN behind
#   lmad sends DIRECT too and VIA (ff0e::4e00:1, not a direct channel). mn1
#   joins both with ordinary sockets (its own MLD Reports). Checks: mag1's
#   instance lists d0 (direct) before its tunnel, matching first; mag1's
#   kernel holds DIRECT on d0 and not on the tunnel, VIA on the tunnel and
#   not on d0; lmad's querier never learns DIRECT on mag1's tunnel, VIA yes;
#   at mn1 DIRECT arrives from lr1 only (nftables counters by source: none
#   of the CN's copy), VIA from the CN; mag1's forwarding entries take
#   DIRECT from d0 and VIA from the tunnel. On the
#   wire (dumpcap at lmad's link to mag1, read by tshark): no packet of
#   DIRECT and no MLD Report naming it, VIA's packets yes; at lr1's r0,
#   mag1's MLDv2 Reports name DIRECT and never VIA. Then mag1's own kernel
#   joins DIRECT on the tunnel, so lmad forwards the CN's copy to mag1: it
#   arrives there and still never reaches mn1. mn1 moves to mag2:
#   DIRECT from lr2, VIA through mag2's tunnel; mag1 leaves DIRECT on d0.
#   A reload of mag2 with a filter table entry denying DIRECT's range: mag2
#   leaves it on d0 at once and it stops at mn1; VIA goes on.
# Exit 1 when a check fails, 77 when the environment cannot run it.
set -u
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
BUILD=${1:?usage: test_pmip_direct.sh BUILD_DIR}
DIRECT=ff0e::4d00:1
VIA=ff0e::4e00:1
CN=2001:db8:200::2
LR1=2001:db8:401::2 LR2=2001:db8:402::2

testbed_test_begin pdir
need_tools nft dumpcap tshark
need_testbed_mechanisms

check "testbed up (both magd in proxy-direct mode, local routers lr1 and lr2)" \
    testbed_up "$NAME" "$BUILD" 1 multicast direct || finish
check "mn1 gets its address at mag1" $TB address "$NAME" 1 20 >/dev/null

upstreams() { q "$1" "show multicast" "[[u['name'] for u in i.get('upstreams', [])] + [i['upstream']['name'], i.get('matching')] for i in d]"; }
instance_up() { q "$1" "show multicast" "len(d)" | grep -qx 1; }
check "mag1: an instance for mn1's LMA" wait_until 10 instance_up mag1
TUN1=$(q mag1 "show multicast" "d[0]['upstream']['name']")
echo "# mag1 instance upstreams (match order), main upstream, matching: $(upstreams mag1)"
check "mag1: its upstreams are d0 (direct) then the tunnel $TUN1, matching first" \
    test "$(upstreams mag1)" = "[['d0', '$TUN1', '$TUN1', 'first']]"
check "magd logged the instance's upstreams" grep -q "MLD proxy instance: upstream d0 (direct), $TUN1" "$TB_STATE/magd1.log"

# Arrivals at mn1 by (source, group), before its sockets.
count_flows 1 $LR1 $DIRECT $LR2 $DIRECT $CN $DIRECT $CN $VIA
arrived() { flow_arrived 1 "$@"; }
flowing() { flow_flowing 1 "$@"; }

check "dumpcap captures at lmad's link to mag1" start_capture "$NAME-lma" l1 "$WORK/l1.pcapng" "ip6"
CAP_L1=$CAP
check "dumpcap captures at lr1's link to mag1" start_capture "$NAME-lr1" r0 "$WORK/r0.pcapng" "ip6"
CAP_R0=$CAP

# The streams outlive the test (stopped at its end): in the stock-kernel VM
# (TIME_SCALE 4) the test once took 104 s and an 80 s stream ended before
# its last check.
SECS=$((40 * TIME_SCALE))
$TB exec "$NAME" mn1 $METER receive --group $DIRECT --interface eth0 --port 5011 --seconds $SECS --json >/dev/null 2>&1 &
PIDS+=($!)
$TB exec "$NAME" mn1 $METER receive --group $VIA --interface eth0 --port 5012 --seconds $SECS --json >/dev/null 2>&1 &
PIDS+=($!)
for lr in lr1 lr2; do
    $TB exec "$NAME" $lr $METER send --to $DIRECT --interface r0 --port 5011 --rate 200 --seconds $SECS >/dev/null 2>&1 &
    PIDS+=($!)
done
$TB exec "$NAME" cn $METER send --to $DIRECT --interface c0 --port 5011 --rate 200 --seconds $SECS >/dev/null 2>&1 &
PIDS+=($!)
$TB exec "$NAME" cn $METER send --to $VIA --interface c0 --port 5012 --rate 200 --seconds $SECS >/dev/null 2>&1 &
PIDS+=($!)

joined_on() {  # joined_on NODE DEVICE GROUP: the kernel's host membership there
    ip -n "$NAME-$1" -6 maddr show dev "$2" | grep -q "inet6 $3\$"
}
check "mag1: the kernel holds $DIRECT on d0 (host membership of the direct upstream)" wait_until 5 joined_on mag1 d0 $DIRECT
check "mag1: and $VIA on the tunnel $TUN1" wait_until 5 joined_on mag1 "$TUN1" $VIA
check "mag1: not $VIA on d0" bash -c "! ip -n $NAME-mag1 -6 maddr show dev d0 | grep -q 'inet6 $VIA\$'"
check "mag1: not $DIRECT on the tunnel" bash -c "! ip -n $NAME-mag1 -6 maddr show dev $TUN1 | grep -q 'inet6 $DIRECT\$'"
lma_members() { q lma "show multicast" "sorted(m['downstream'] for g in d['groups'] if g['group'] == '$1' for m in g['downstreams'])"; }
TUN1_AT_LMA=$($TB ctl "$NAME" lma --json show bindings | "$PY" -c "import json,sys; print(json.load(sys.stdin)[0]['tunnel'])")
via_at_lma() { [[ $(lma_members $VIA) == "['$TUN1_AT_LMA']" ]]; }
check "lmad: $VIA reported on mag1's tunnel $TUN1_AT_LMA" wait_until 5 via_at_lma
check "lmad: $DIRECT never reported by mag1" test "$(lma_members $DIRECT)" = "[]"

check "mn1 at mag1: $DIRECT arrives from lr1" wait_until 5 flowing $LR1 $DIRECT
check "mn1 at mag1: $VIA arrives from the CN through lmad" wait_until 5 flowing $CN $VIA
check "mn1 at mag1: no copy of $DIRECT from the CN (not asked through lmad)" test "$(arrived $CN $DIRECT)" = 0
# mag1's forwarding entries: each group's from its own upstream ((S,G)
# entries, and with ebpf the (*,G) ones that serve any-source groups).
iifs() {  # iifs GROUP: the interfaces mag1's entries for GROUP take data from
    q mag1 "show multicast" "sorted(set(e['iif'] for i in d for e in i['mfc'] + i.get('group_entries', []) if e['group'] == '$1'))"
}
echo "# mag1 entries: mfc $(q mag1 "show multicast" "[(e['source'], e['group'], e['iif'], e.get('packets')) for i in d for e in i['mfc']]")," \
    "(*,G) $(q mag1 "show multicast" "[(e['group'], e['iif'], e['oifs']) for i in d for e in i.get('group_entries', [])]")"
check "mag1: $DIRECT's entries take data from d0 only" test "$(iifs $DIRECT)" = "['d0']"
check "mag1: $VIA's entries from the tunnel only" test "$(iifs $VIA)" = "['$TUN1']"
sleep 1
stop_pid "$CAP_L1" INT
stop_pid "$CAP_R0" INT

wire() {  # wire PCAP FILTER: the number of packets tshark finds
    tshark -r "$1" -Y "$2" -T fields -e frame.number 2>/dev/null | wc -l
}
via_l1=$(wire "$WORK/l1.pcapng" "udp && ipv6.dst == $VIA")
direct_l1=$(wire "$WORK/l1.pcapng" "udp && ipv6.dst == $DIRECT")
mld_direct_l1=$(wire "$WORK/l1.pcapng" "icmpv6.type == 143 && icmpv6.mldr.mar.multicast_address == $DIRECT")
mld_direct_r0=$(wire "$WORK/r0.pcapng" "icmpv6.type == 143 && ipv6.src == fe80::/64 && icmpv6.mldr.mar.multicast_address == $DIRECT")
mld_via_r0=$(wire "$WORK/r0.pcapng" "icmpv6.type == 143 && icmpv6.mldr.mar.multicast_address == $VIA")
echo "# tshark at lmad l1: $via_l1 packets of $VIA, $direct_l1 of $DIRECT, $mld_direct_l1 MLD Reports naming $DIRECT;" \
    "at lr1 r0: $mld_direct_r0 MLDv2 Reports from mag1 naming $DIRECT, $mld_via_r0 naming $VIA"
check "on the wire at lmad-mag1: $VIA's packets in the tunnel" test "$via_l1" -gt 100
check "on the wire at lmad-mag1: no packet of $DIRECT" test "$direct_l1" -eq 0
check "on the wire at lmad-mag1: no MLD Report naming $DIRECT" test "$mld_direct_l1" -eq 0
check "on the wire at lr1: mag1's MLDv2 Reports name $DIRECT" test "$mld_direct_r0" -ge 1
check "on the wire at lr1: none names $VIA" test "$mld_via_r0" -eq 0

# --- duplicate suppression: the CN's copy reaches mag1 through the tunnel ----------
# mag1's own kernel joins DIRECT on the tunnel (a host socket: the kernel
# reports it there), so lmad forwards the CN's DIRECT into mag1's tunnel
# too. It arrives at mag1 (the socket counts it) and must not reach mn1:
# mag1's proxy takes DIRECT from d0 only.
$TB exec "$NAME" mag1 $METER receive --group $DIRECT --interface "$TUN1" --port 5011 \
    --seconds $((4 * TIME_SCALE)) --json >"$WORK/tunnel-rx.json" 2>/dev/null &
TUNNEL_RX=$!
PIDS+=($TUNNEL_RX)
direct_at_lma() { [[ $(lma_members $DIRECT) == "['$TUN1_AT_LMA']" ]]; }
check "lmad: $DIRECT now on mag1's tunnel (mag1's host socket reported it)" wait_until 5 direct_at_lma
wait $TUNNEL_RX
forget_pid $TUNNEL_RX
tunnel_rx=$("$PY" -c "import json; print(json.load(open('$WORK/tunnel-rx.json'))['received'])" 2>/dev/null || echo 0)
echo "# mag1's host socket on the tunnel received $tunnel_rx packets of the CN's $DIRECT; mn1 got $(arrived $CN $DIRECT) of them"
check "mag1: the CN's $DIRECT arrived through the tunnel" test "$tunnel_rx" -gt 100
check "mn1: none of them (mag1 forwards $DIRECT from d0 only)" test "$(arrived $CN $DIRECT)" = 0
check "mn1: $DIRECT still arrives from lr1" flowing $LR1 $DIRECT

# --- the move: mag2's direct upstream takes over ----------------------------------
$TB move "$NAME" 1 mag2
check "mag2: an instance for mn1" wait_until 10 instance_up mag2
check "mn1 at mag2: $DIRECT arrives from lr2" wait_until 5 flowing $LR2 $DIRECT
check "mn1 at mag2: $VIA arrives from the CN" wait_until 5 flowing $CN $VIA
check "mag2: the kernel holds $DIRECT on d0" wait_until 5 joined_on mag2 d0 $DIRECT
left_d0() { ! joined_on mag1 d0 $DIRECT; }
check "mag1: $DIRECT left on d0 with its last MN" wait_until 5 left_d0
check "mn1: still no copy of $DIRECT from the CN" test "$(arrived $CN $DIRECT)" = 0
# The filter tables at run time: mag2's reload denies DIRECT's range.
printf '[multicast]\ndenied-group = ff0e::4d00:0/112\n' >>"$TB_STATE/magd2.conf"
$TB ctl "$NAME" mag2 reload >/dev/null 2>&1
check "reload: mag2 counted the new filter tables" test "$(q mag2 "show counters" "d['daemon'].get('multicast_filters_reloaded', 0)")" = 1
not_joined_mag2() { ! joined_on mag2 d0 $DIRECT; }
check "reload: mag2 left $DIRECT on d0 at once" wait_until 3 not_joined_mag2
check "reload: $DIRECT no longer reaches mn1" wait_until 3 flow_stopped 1 $LR2 $DIRECT
check "reload: $VIA still does" flowing $CN $VIA
echo "# mn1 arrivals: lr1 $(arrived $LR1 $DIRECT), lr2 $(arrived $LR2 $DIRECT), CN $DIRECT $(arrived $CN $DIRECT), CN $VIA $(arrived $CN $VIA)"
finish
