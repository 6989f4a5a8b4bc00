#!/usr/bin/env bash
# Two MNs of different LMAs on one MAG are served by isolated multicast proxy
# instances (RFC 6224 section 4.2; issue 7), on the namespace testbed with a
# second LMA (tools/testbed/testbed.sh ... twolmas).
#
#   test_pmip_multicast_isolation.sh BUILD_DIR
#
# mn1 is anchored at lma, mn2 at lma2, both attached to mag1. Both join the
# same group ff3e::4242:7. The source behind lma sends it to port 5001, the
# source behind lma2 to port 5002. mag1 must run two proxy instances (one
# per LMA, each its own multicast routing table, each with one MN link), and
# each MN must receive only its own LMA's stream: mn1 on 5001 and nothing on
# 5002, mn2 the reverse. Then mn1 detaches: its instance goes, mn2's keeps
# receiving. Exit 1 when a check fails, 77 when it cannot run here.
set -u
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
BUILD=${1:?usage: test_pmip_multicast_isolation.sh BUILD_DIR}
GROUP=ff3e::4242:7

testbed_test_begin pmi
[[ ${PMIP_TESTBED_FORWARDING:-auto} == kernel ]] && need_ip6mr

check "testbed up with a second LMA (lmad, lmad2, magd at mag1 and mag2)" testbed_up "$NAME" "$BUILD" 2 multicast twolmas || finish
check "mn1 gets an address from lma's pool" bash -c "$TB address $NAME 1 20 | grep -q '^2001:db8:8'"
check "mn2 gets an address from lma2's pool" bash -c "$TB address $NAME 2 20 | grep -q '^2001:db8:9'"

two_instances() {
    [[ $(q mag1 "show multicast" "sorted((i['lma'], i['table'], [x['name'] for x in i['downstreams']]) for i in d)") == \
       "[('2001:db8:100::1', 2000, ['mn1']), ('2001:db8:300::1', 2001, ['mn2'])]" ]]
}
check "mag1 runs one proxy instance per LMA, own tables, one MN link each" wait_until 10 two_instances

for mn in 1 2; do
    for port in 5001 5002; do
        $TB exec "$NAME" mn$mn $METER receive --group $GROUP --interface eth0 --port $port --seconds 8 --json >"$WORK/mn$mn-$port.json" &
        PIDS+=($!)
    done
done
sleep 1.5
$TB exec "$NAME" cn $METER send --to $GROUP --interface c0 --port 5001 --rate 500 --seconds 5 2>/dev/null &
PIDS+=($!)
$TB exec "$NAME" src2 $METER send --to $GROUP --interface c2 --port 5002 --rate 500 --seconds 5 2>/dev/null &
PIDS+=($!)
for pid in "${PIDS[@]}"; do wait "$pid"; done
PIDS=()
got() { "$PY" -c "import json; print(json.load(open('$WORK/$1.json'))['received'])"; }
echo "# received: mn1 from lma $(got mn1-5001), from lma2 $(got mn1-5002); mn2 from lma $(got mn2-5001), from lma2 $(got mn2-5002)"
check "mn1 receives its own LMA's stream" test "$(got mn1-5001)" -gt 2000
check "mn1 receives nothing of the other LMA's stream" test "$(got mn1-5002)" -eq 0
check "mn2 receives its own LMA's stream" test "$(got mn2-5002)" -gt 2000
check "mn2 receives nothing of the other LMA's stream" test "$(got mn2-5001)" -eq 0

ip -n "$NAME-mag1" link set mn1 down
one_left() {
    [[ $(q mag1 "show multicast" "[(i['lma'], [x['name'] for x in i['downstreams']]) for i in d]") == "[('2001:db8:300::1', ['mn2'])]" ]]
}
check "mn1 detached: its instance is gone, mn2's stays" wait_until 10 one_left
$TB exec "$NAME" mn2 $METER receive --group $GROUP --interface eth0 --port 5002 --seconds 3 --json >"$WORK/after.json" &
R=$!
sleep 0.5
$TB exec "$NAME" src2 $METER send --to $GROUP --interface c2 --port 5002 --rate 500 --seconds 2 2>/dev/null
wait $R
check "mn2 still receives its stream" test "$(got after)" -gt 800

finish
