#!/usr/bin/env bash
# draft-zhao-multimob-pmip6-solution's MAG as a plain MLD listener (magd
# [multicast] mode = listener) end to end on the namespace testbed: the
# real daemons, the real Linux kernel as the MN, which runs MLD as usual.
#
#   test_pmip_listener.sh BUILD_DIR
#
#   Both MAGs in listener mode. mn1 joins OWN (ff0e::4f00:1) with an
#   ordinary socket: its Reports reach mag1 and are ignored (counted); its
#   profile gets PROFILE (ff0e::4f00:2) by a reload. The CN sends both.
#   Checks: mag1 sends no MLD Query on mn1's link (tshark on dumpcap's
#   capture there: none, while mn1's Reports are seen); mag1's instance
#   learns nothing from them (it does not join the router groups there) and
#   holds PROFILE as a static channel only; lmad has PROFILE on mag1's tunnel and never OWN;
#   PROFILE reaches mn1, OWN never does (nftables counters in mn1's
#   namespace). mn1 moves to mag2: PROFILE follows; its link goes down:
#   lmad leaves PROFILE.
# Exit 1 when a check fails, 77 when the environment cannot run it.
set -u
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
BUILD=${1:?usage: test_pmip_listener.sh BUILD_DIR}
OWN=ff0e::4f00:1
PROFILE=ff0e::4f00:2

testbed_test_begin plst
need_tools nft dumpcap tshark
need_testbed_mechanisms
export PMIP_TESTBED_MAG_LISTENER=yes

check "testbed up (both magd in listener mode)" testbed_up "$NAME" "$BUILD" 1 multicast || finish
check "mn1 gets its address at mag1" $TB address "$NAME" 1 20 >/dev/null
check "dumpcap captures on mag1's mn1" start_capture "$NAME-mag1" mn1 "$WORK/mn1.pcapng" "ip6 and not udp"

CN=2001:db8:200::2
count_flows 1 $CN $OWN $CN $PROFILE
arrived() { flow_arrived 1 $CN "$1"; }
flowing() { flow_flowing 1 $CN "$1"; }

SECS=$((16 * TIME_SCALE))
$TB exec "$NAME" mn1 $METER receive --group $OWN --interface eth0 --port 5021 --seconds $SECS --json >/dev/null 2>&1 &
PIDS+=($!)
for g in $OWN $PROFILE; do
    $TB exec "$NAME" cn $METER send --to $g --interface c0 --port 5021 --rate 200 --seconds $SECS >/dev/null 2>&1 &
    PIDS+=($!)
done

"$PY" - "$TB_STATE/magd-policy.json" "$PROFILE" <<'PY_END'
import json, sys
p = json.load(open(sys.argv[1]))
for e in p["mobile_nodes"]:
    e["multicast_channels"] = [{"group": sys.argv[2]}]
json.dump(p, open(sys.argv[1], "w"))
PY_END
for m in mag1 mag2; do $TB ctl "$NAME" $m reload >/dev/null 2>&1; done

statics() { q "$1" "show multicast" "sorted(g['group'] for i in d for s in i['downstreams'] if s['name'] == 'mn1' for g in s['static'])"; }
members() { q "$1" "show multicast" "sorted(g['group'] for i in d for g in i['groups'])"; }
profile_at() { [[ $(statics "$1") == "['$PROFILE']" ]]; }
check "mag1: $PROFILE on mn1's link from the profile" wait_until 5 profile_at mag1
check "mn1 at mag1: $PROFILE arrives (its socket never joined it)" wait_until 5 flowing $PROFILE
learnt() { q mag1 "show multicast" "sorted(g['group'] for i in d for s in i['downstreams'] if s['name'] == 'mn1' for g in s.get('groups', []))"; }
echo "# mag1: groups its querier learnt on mn1 $(learnt), MLD dropped (no MLD on the MN links) $(q mag1 "show multicast" "sum(i['counters']['drop_downstream_mld_off'] for i in d)"), queries not sent $(q mag1 "show multicast" "sum(i['counters']['queries_not_sent_mld_off'] for i in d)")"
check "mag1: nothing learnt from mn1's Reports" test "$(learnt)" = "[]"
check "mag1: the instance holds $PROFILE only" test "$(members mag1)" = "['$PROFILE']"
lma_groups() { q lma "show multicast" "sorted(g['group'] for g in d['groups'] if g['downstreams'] and not g['group'].startswith('ff02:'))"; }
echo "# lmad groups with a downstream: $(lma_groups)"
check "lmad: $PROFILE on a tunnel, never $OWN" test "$(lma_groups)" = "['$PROFILE']"
check "mn1: no packet of $OWN (it asked by MLD only)" test "$(arrived $OWN)" = 0
sleep 1
stop_pid "$CAP" INT
queries=$(tshark -r "$WORK/mn1.pcapng" -Y "icmpv6.type == 130" -T fields -e frame.number 2>/dev/null | wc -l)
reports=$(tshark -r "$WORK/mn1.pcapng" -Y "icmpv6.type == 143 && icmpv6.mldr.mar.multicast_address == $OWN" -T fields -e frame.number 2>/dev/null | wc -l)
echo "# tshark on mag1's mn1: $queries MLD Queries, $reports MLDv2 Reports from mn1 naming $OWN"
check "on the wire at mag1's mn1: mn1's Reports naming $OWN" test "$reports" -ge 1
check "on the wire at mag1's mn1: no MLD Query from mag1" test "$queries" -eq 0

$TB move "$NAME" 1 mag2
check "mag2: $PROFILE on mn1's link" wait_until 10 profile_at mag2
check "mn1 at mag2: $PROFILE arrives" wait_until 5 flowing $PROFILE
check "mn1: still no packet of $OWN" test "$(arrived $OWN)" = 0
ip -n "$NAME-mn1" link set p2 down
lma_clean() { [[ $(lma_groups) == "[]" ]]; }
check "lmad: $PROFILE left with mn1's detach" wait_until 10 lma_clean
finish
