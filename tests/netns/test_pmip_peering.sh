#!/usr/bin/env bash
# RFC 7287 section 5 peering between the two MAGs' proxies (magd
# [multicast] peering = pe0) end to end on the namespace testbed: the real
# daemons, the real Linux kernel as MNs (a sender and a listener).
#
#   test_pmip_peering.sh BUILD_DIR
#
#   mn2 stays at mag1 and sends GROUP (ff0e::4f10:1, 200/s); the CN sends
#   VIA (ff0e::4f10:2). mn1 joins both with ordinary sockets (its own MLD
#   Reports) and gets GROUP from mag1 locally. mn1 moves to mag2. Checks:
#   mag2 reports both groups on pe0 and mag1's peering querier learns them;
#   GROUP reaches mn1 over pe0 (mag2's entry for (mn2, GROUP) takes data
#   from pe0, the source is listed as peered); mag2 asks lmad for GROUP
#   without mn2 (lmad's state for mag2's tunnel excludes mn2), so on the wire
#   at lmad's link to mag2 no packet of mn2's GROUP goes down the tunnel
#   once that is in; VIA comes through the tunnel and never crosses pe0
#   (data from upstream never goes to a peering, though mn2 at mag1 listens
#   to VIA too, so mag1 asks for it on pe0); tshark on pe0: mn2's GROUP
#   packets, mag2's MLDv2 Reports naming GROUP, no VIA packet. mn1's
#   receiver counts no duplicate. Then mag1's pe0 goes down: after the
#   data-driven timer (50 ms) mag2 asks lmad for mn2 again and the upstream
#   takes over: GROUP flows to mn1 through the tunnel. pe0 comes back up:
#   mn2's copies over it are taken again (mag2's entry from pe0, lmad asked
#   without mn2 again). mn1's receivers count no duplicate throughout.
# Exit 1 when a check fails, 77 when the environment cannot run it.
set -u
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
BUILD=${1:?usage: test_pmip_peering.sh BUILD_DIR}
GROUP=ff0e::4f10:1
VIA=ff0e::4f10:2
CN=2001:db8:200::2

testbed_test_begin ppeer
need_tools nft dumpcap tshark
need_testbed_mechanisms

check "testbed up (two MNs, a peering link pe0 between mag1 and mag2)" \
    testbed_up "$NAME" "$BUILD" 2 multicast peer || finish
check "mn1 gets its address at mag1" $TB address "$NAME" 1 20 >/dev/null
MN2=$($TB address "$NAME" 2 20) || { fail "mn2 has no address"; finish; }
echo "# mn2 (the sender at mag1): $MN2"

peering_started() { q "$1" "show multicast" "[p['name'] for i in d for p in i.get('peerings', []) if 'querier' in p]" | grep -q pe0; }
check "mag1: its instance has the peering pe0 (querier started)" wait_until 10 peering_started mag1
check "magd logged the peering" grep -q "peering pe0 .* started, upstream reports wait 25 ms" "$TB_STATE/magd1.log"

count_flows 1 "$MN2" $GROUP $CN $VIA
flowing() { flow_flowing 1 "$@"; }

# Long enough for the last checks in the stock-kernel VM (TIME_SCALE 4,
# where the test takes about 150 s); the receivers are waited for at the end.
SECS=$((32 * TIME_SCALE))
$TB exec "$NAME" mn1 $METER receive --group $GROUP --interface eth0 --port 5021 --seconds $SECS --json \
    >"$WORK/group-rx.json" 2>/dev/null &
RX_GROUP=$!
PIDS+=($RX_GROUP)
$TB exec "$NAME" mn1 $METER receive --group $VIA --interface eth0 --port 5022 --seconds $SECS --json \
    >"$WORK/via-rx.json" 2>/dev/null &
RX_VIA=$!
PIDS+=($RX_VIA)
$TB exec "$NAME" mn2 $METER send --to $GROUP --interface eth0 --port 5021 --rate 200 --seconds $SECS >/dev/null 2>&1 &
PIDS+=($!)
# mn2 listens to VIA too: mag1 then asks for VIA on pe0, so a copy from
# mag2's tunnel would cross the peering if upstream data could.
$TB exec "$NAME" mn2 $METER receive --group $VIA --interface eth0 --port 5022 --seconds $SECS --json \
    >/dev/null 2>&1 &
PIDS+=($!)
$TB exec "$NAME" cn $METER send --to $VIA --interface c0 --port 5022 --rate 200 --seconds $SECS >/dev/null 2>&1 &
PIDS+=($!)

check "mn1 at mag1: mn2's $GROUP arrives (mag1 forwards it locally)" wait_until 5 flowing "$MN2" $GROUP
check "mn1 at mag1: $VIA arrives from the CN" wait_until 5 flowing $CN $VIA

check "dumpcap captures at mag2's pe0" start_capture "$NAME-mag2" pe0 "$WORK/pe0.pcapng" "ip6"
CAP_PE=$CAP
check "dumpcap captures at lmad's link to mag2" start_capture "$NAME-lma" l2 "$WORK/l2.pcapng" "ip6"
CAP_L2=$CAP

check "mn1 moves to mag2" $TB move "$NAME" 1 mag2
peer_wants() { q mag1 "show multicast" "sorted(w['group'] for i in d for p in i.get('peerings', []) for w in p.get('peer_wants', []) if w['group'].startswith('ff0e:'))"; }
wants_both() { [[ $(peer_wants) == "['$GROUP', '$VIA']" ]]; }
check "mag1: its peering querier learns mag2's $GROUP and $VIA on pe0" wait_until 10 wants_both
mag2_peer_wants() { q mag2 "show multicast" "sorted(w['group'] for i in d for p in i.get('peerings', []) for w in p.get('peer_wants', []) if w['group'].startswith('ff0e:'))"; }
wants_via() { [[ $(mag2_peer_wants) == *"$VIA"* ]]; }
check "mag2: its peering querier learns mag1's $VIA (mn2 listens to it at mag1)" wait_until 10 wants_via
check "mn1 at mag2: mn2's $GROUP arrives again" wait_until 10 flowing "$MN2" $GROUP
check "mn1 at mag2: $VIA arrives" wait_until 10 flowing $CN $VIA
iif() { q mag2 "show multicast" "sorted(e['iif'] for i in d for e in i['mfc'] if e['group'] == '$1' and e['source'] == '$2')"; }
iifs() {  # iifs GROUP SOURCE: the interfaces of (SOURCE, GROUP) and of (*, GROUP) (ebpf)
    q mag2 "show multicast" "sorted(set(e['iif'] for i in d for e in i['mfc'] + i.get('group_entries', []) if e['group'] == '$1' and e['source'] in ('$2', '*')))"
}
echo "# mag2 entries: $(q mag2 "show multicast" "[(e['source'], e['group'], e['iif'], e.get('packets')) for i in d for e in i['mfc']]")"
echo "# mag2 peered sources: $(q mag2 "show multicast" "[(p['source'], p['group']) for i in d for p in i.get('peered_sources', [])]")"
check "mag2: (mn2, $GROUP) takes data from pe0" test "$(iif $GROUP "$MN2")" = "['pe0']"
peered() { q mag2 "show multicast" "[p['source'] for i in d for p in i.get('peered_sources', []) if p['group'] == '$GROUP']"; }
check "mag2: mn2 is a peered source of $GROUP" test "$(peered)" = "['$MN2']"
TUN2=$(q mag2 "show multicast" "d[0]['upstream']['name']")
check "mag2: $VIA's entries take data from its tunnel $TUN2" test "$(iifs $VIA $CN)" = "['$TUN2']"
# lmad's querier state for mag2's tunnel: GROUP with mn2 excluded.
lma_state() {
    q lma "show multicast" "[(m['downstream'], m['filter_mode'], m['sources']) for g in d['groups'] if g['group'] == '$GROUP' for m in g['downstreams']]"
}
excluded_at_lma() { lma_state | grep -q "$MN2"; }
check "lmad: mag2 asked for $GROUP without mn2 ($(lma_state))" wait_until 5 excluded_at_lma
sleep 2
# Settled: the tunnel carries none of mn2's GROUP now; count over 2 s.
WINDOW_START=$(date +%s.%N)
sleep 2
WINDOW_END=$(date +%s.%N)

# --- the peering goes away: the upstream takes over ----------------------------------
check "mag1: pe0 down" ip -n "$NAME-mag1" link set pe0 down
expired() { q mag2 "show multicast" "sum(i['counters']['peered_sources_expired'] for i in d)" | grep -qv '^0$'; }
check "mag2: the data-driven timer expired for mn2" wait_until 5 expired
no_longer_peered() { test "$(peered)" = "[]"; }
check "mag2: mn2 is no longer peered" wait_until 5 no_longer_peered
not_excluded() { ! lma_state | grep -q "$MN2"; }
check "lmad: mag2 asks for mn2's $GROUP again ($(lma_state))" wait_until 5 not_excluded
check "mn1 at mag2: mn2's $GROUP flows again, now through the tunnel" wait_until 10 flowing "$MN2" $GROUP
from_tunnel() { test "$(iifs $GROUP "$MN2")" = "['$TUN2']"; }
check "mag2: mn2's $GROUP is taken from the tunnel ((S,G) or (*,G) entry)" wait_until 5 from_tunnel
# --- the peering comes back: the source is taken over it again -----------------------
check "mag1: pe0 up again" ip -n "$NAME-mag1" link set pe0 up
peered_again() { test "$(peered)" = "['$MN2']"; }
check "mag2: mn2's $GROUP comes over pe0 again and is taken from there" wait_until 10 peered_again
check "mag2: (mn2, $GROUP) takes data from pe0 again" wait_until 5 test "$(iif $GROUP "$MN2")" = "['pe0']"
check "lmad: mag2 excludes mn2 again ($(lma_state))" wait_until 5 excluded_at_lma
check "mn1 at mag2: mn2's $GROUP still flows" flowing "$MN2" $GROUP
echo "# mag2 peering counters: $(q mag2 "show multicast" "{k: v for i in d for k, v in i['counters'].items() if k.startswith('peer')}")"
stop_pid "$CAP_PE" INT
stop_pid "$CAP_L2" INT
wait $RX_GROUP $RX_VIA 2>/dev/null
forget_pid $RX_GROUP
forget_pid $RX_VIA

wire() {  # wire PCAP FILTER: the number of packets tshark finds
    tshark -r "$1" -Y "$2" -T fields -e frame.number 2>/dev/null | wc -l
}
group_pe=$(wire "$WORK/pe0.pcapng" "udp && ipv6.src == $MN2 && ipv6.dst == $GROUP")
via_pe=$(wire "$WORK/pe0.pcapng" "udp && ipv6.dst == $VIA")
mld_pe=$(wire "$WORK/pe0.pcapng" "icmpv6.type == 143 && icmpv6.mldr.mar.multicast_address == $GROUP")
group_l2_window=$(wire "$WORK/l2.pcapng" \
    "udp && ipv6.src == $MN2 && ipv6.dst == $GROUP && frame.time_epoch >= $WINDOW_START && frame.time_epoch <= $WINDOW_END")
group_l2_after=$(wire "$WORK/l2.pcapng" "udp && ipv6.src == $MN2 && ipv6.dst == $GROUP && frame.time_epoch > $WINDOW_END")
via_l2=$(wire "$WORK/l2.pcapng" "udp && ipv6.dst == $VIA")
echo "# tshark at mag2 pe0: $group_pe packets of mn2's $GROUP, $via_pe of $VIA, $mld_pe MLDv2 Reports naming $GROUP;" \
    "at lmad l2: $via_l2 packets of $VIA, mn2's $GROUP: $group_l2_window in the 2 s peered window, $group_l2_after after pe0 went down"
check "on the wire at pe0: mn2's $GROUP crosses the peering" test "$group_pe" -gt 100
check "on the wire at pe0: $VIA (from the LMA) never does" test "$via_pe" -eq 0
check "on the wire at pe0: MLDv2 Reports naming $GROUP" test "$mld_pe" -ge 1
check "on the wire at lmad-mag2: none of mn2's $GROUP while peered" test "$group_l2_window" -eq 0
check "on the wire at lmad-mag2: mn2's $GROUP after the peering went" test "$group_l2_after" -gt 50
check "on the wire at lmad-mag2: $VIA in the tunnel" test "$via_l2" -gt 100
report() { "$PY" -c "import json; r=json.load(open('$1')); print(r['received'], r['duplicates'], r['max_gap_ms'])" 2>/dev/null; }
echo "# mn1's receivers (received, duplicates, largest gap ms): $GROUP $(report "$WORK/group-rx.json"), $VIA $(report "$WORK/via-rx.json")"
dups() { "$PY" -c "import json; print(json.load(open('$1'))['duplicates'])" 2>/dev/null || echo missing; }
check "mn1: no duplicate of $GROUP (peering, then upstream)" test "$(dups "$WORK/group-rx.json")" = 0
check "mn1: no duplicate of $VIA" test "$(dups "$WORK/via-rx.json")" = 0
finish
