#!/usr/bin/env bash
# Multicast over PMIPv6 end to end (RFC 6224; issue 7 "Evidence expected"),
# on the namespace testbed (tools/testbed/testbed.sh) with the real daemons
# and the real Linux kernel as mobile nodes joining with ordinary sockets.
#
#   test_pmip_multicast.sh BUILD_DIR
#
# Steps, each asserted by polling the daemons' JSON state, then the data:
#   attach: mn1 at mag1 registered; mag1's proxy instance for the LMA has the
#     tunnel as upstream and mn1 as a downstream (General Query sent);
#   join: mn1 joins ff3e::4242:1 (ASM); the report reaches mag1's database,
#     mag1 reports upstream, lmad's querier on the mag1 tunnel sees the group;
#   data: the correspondent's 1000/s stream reaches mn1;
#   handover: mn1 moves to mag2 while the stream runs: reception continues,
#     lost packets and the gap printed; mag2's proxy has mn1; mag1's instance
#     is gone (no stale state, RFC 6224 section 6) and lmad no longer has the
#     group on the mag1 tunnel;
#   leave: mn1 detaches (link down at mag2): lmad stops forwarding on that
#     tunnel (no group state left on it), no binding or multicast instance left.
# Exit 1 when a check fails, 77 when the environment cannot run it.
set -u
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
BUILD=${1:?usage: test_pmip_multicast.sh BUILD_DIR}
GROUP=ff3e::4242:1

testbed_test_begin pmm
is_true() { [[ $("$@") == True ]]; }

check "testbed up (lmad, magd at mag1 and mag2)" testbed_up "$NAME" "$BUILD" 1 multicast || finish
check "mn1 gets its address at mag1" $TB address "$NAME" 1 20 >/dev/null

# --- attach: mag1's instance has the tunnel upstream and mn1 downstream ---------
mag1_has_mn1() { is_true q mag1 "show multicast" "any('mn1' in [x.get('name') for x in i.get('downstreams', [])] for i in d)"; }
check "mag1: proxy instance for the LMA with mn1 as a downstream" wait_until 10 mag1_has_mn1
q mag1 "show multicast" "json.dumps(d)" >"$WORK/mag1-mcast.json"

# --- join + data ------------------------------------------------------------------
$TB exec "$NAME" mn1 $METER receive --group $GROUP --interface eth0 --port 5001 --seconds 16 --json >"$WORK/rx.json" &
RX=$!
PIDS+=($RX)
# A downstream of the instance(s) in `d` listening to $GROUP.
members() { q "$1" "show multicast" "sorted(m['downstream'] for i in (d if isinstance(d, list) else [d]) for g in i['groups'] if g['group'] == '$GROUP' for m in g['downstreams'])"; }
mag1_member() { [[ $(members mag1) == "['mn1']" ]]; }
check "mag1: mn1's report for $GROUP in the proxy database" wait_until 5 mag1_member
TUN1=$($TB ctl "$NAME" lma --json show bindings | "$PY" -c "import json,sys; print(json.load(sys.stdin)[0]['tunnel'])")
lma_member() { [[ $(members lma) == "['$1']" ]]; }
check "lmad: $GROUP reported on the mag1 tunnel $TUN1 (lmad's querier saw mag1's proxy)" wait_until 10 lma_member "$TUN1"
$TB exec "$NAME" cn $METER send --to $GROUP --interface c0 --port 5001 --rate 1000 --seconds 12 2>"$WORK/tx.json" &
TX=$!
PIDS+=($TX)
sleep 4
# --- handover while the stream runs ----------------------------------------------
$TB move "$NAME" 1 mag2
mag2_has_mn1() { is_true q mag2 "show multicast" "any('mn1' in [x.get('name') for x in i.get('downstreams', [])] for i in d)"; }
check "mag2: mn1 becomes a downstream of mag2's instance" wait_until 10 mag2_has_mn1
mag1_empty() { [[ $(q mag1 "show multicast" "len(d)") == 0 ]]; }
check "mag1: its proxy instance is gone with its last MN (RFC 6224 section 6)" wait_until 5 mag1_empty
TUN2=$($TB ctl "$NAME" lma --json show bindings | "$PY" -c "import json,sys; print(json.load(sys.stdin)[0]['tunnel'])")
check "lmad: $GROUP now on the mag2 tunnel $TUN2 only (mag1's leave and mag2's report)" wait_until 5 lma_member "$TUN2"
wait $TX
wait $RX
"$PY" - "$WORK/rx.json" <<'PY_END'
import json, sys
r = json.load(open(sys.argv[1]))
print(f"# multicast handover: received {r['received']}, lost {r['lost']}, largest gap {r['max_gap_ms']} ms, duplicates {r['duplicates']}")
PY_END
received=$("$PY" -c "import json; print(json.load(open('$WORK/rx.json'))['received'])" 2>/dev/null || echo 0)
dups=$("$PY" -c "import json; print(json.load(open('$WORK/rx.json'))['duplicates'])" 2>/dev/null || echo -1)
check "mn1 received the stream before and after the handover (> 9000 of 12000)" test "${received:-0}" -gt 9000
check "no duplicates at the MN" test "$dups" = 0

# --- leave: detach at mag2 ---------------------------------------------------------
ip -n "$NAME-mag2" link set mn1 down
lma_clean() {
    [[ $(members lma) == "[]" ]] &&
        [[ $(q lma "show multicast" "[e['oifs'] for e in d['mfc'] if e['group'] == '$GROUP' and e['oifs']]") == "[]" ]]
}
check "lmad: no listener of $GROUP and no forwarding of it on any tunnel after the last listener left" wait_until 10 lma_clean
mag2_empty() { [[ $(q mag2 "show multicast" "len(d)") == 0 ]]; }
check "mag2: no multicast instance left after the detach" wait_until 5 mag2_empty
no_bindings() { [[ $($TB ctl "$NAME" lma --json show bindings) == "[]" ]]; }
check "lmad: no binding left" wait_until 5 no_bindings

finish
