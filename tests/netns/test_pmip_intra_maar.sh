#!/usr/bin/env bash
# RFC 8885 MAAR: an MN's interface moving between two access links of the
# same MAAR, make before break (RFC 5213 section 6.9.1.1, as on a MAG:
# tests/netns/test_pmip_intra_mag.sh).
#
#   test_pmip_intra_maar.sh BUILD_DIR
#
# The DMM topology (tools/testbed/dmm_topology.sh: lmad as the CMD, magd in
# maar1-3 as MAARs, the kernel as the MN). The MN attaches at maar1 (P1),
# moves to maar2 (P2 local, P1 through the tunnel from maar1), then to a
# second access link of maar2 ("mn1b", the MN's port p4) while maar2's "mn1"
# keeps its carrier: the MN's frames go only to p4 and nothing of p2 reaches
# it; rdisc6 sends a Router Solicitation, which maar2 sees on mn1b. A UDP
# stream from the correspondent to the MN's P1 address runs throughout.
# Checks: maar2 counts one intra-MAAR move and serves the MN on mn1b only,
# with P2 and P1; P1 and P2 routed to mn1b; no de-registration; the CMD
# still has the MN served at maar2 with maar1 previous; the MN keeps both
# addresses and reaches the correspondent from each; the stream goes on
# (>= 90%). Then mn1's carrier goes and the previous-prefix hold (8 s) of
# the old link passes: still no de-registration, the CMD's session and P2's
# anchor at maar2 kept, the MN still reaches the correspondent from P2.
# (Before, maar2 made a second served entry for P2 on mn1b; when the old
# link's hold ended it de-registered the MN at the CMD and gave P2 back to
# its pool.)
# Exit 1 when a check fails, 77 when the environment cannot run it.
set -u
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
BUILD=${1:?usage: test_pmip_intra_maar.sh BUILD_DIR}
need_root "namespaces"
need_tun
need_tools rdisc6 ping
need_testbed_mechanisms
netns_test_begin pmipimaar
reap_stale_namespaces pmipimaar 'core|cmd|maar1|maar2|maar3|cn|mn'
N=pmipimaar-$$
METER=$BUILD/tools/testbed/pmip-handover-meter
PMIPCTL=$BUILD/tools/pmipctl/pmipctl
HOLD=$((8 * TIME_SCALE))
IDLE=$((2 * TIME_SCALE))
CN=2001:db8:100::99
source "$NETNS_ROOT/tools/testbed/dmm_topology.sh"
dmm_topology_up dmm
MN=$N-mn

FAIL_LOGS=("$WORK"/*.log)
check "lmad (the CMD) answers" wait_until 10 up "$WORK/lmad.sock"
for i in 1 2; do check "magd (maar$i) answers" wait_until 10 up "$WORK/magd$i.sock"; done
has_address() { [[ -n $(dmm_mn_address "$1") ]]; }
M2=$WORK/magd2.sock

dmm_move_to 1
check "the MN configures an address from P1 at maar1" wait_until 20 has_address 2001:db8:a1:
A1=$(dmm_mn_address 2001:db8:a1:)
RUN_S=$((16 * TIME_SCALE))
dmm_stream "$RUN_S" "$A1"
RECV=$DMM_RECV
sleep 1
dmm_move_to 2
check "the MN configures an address from P2 at maar2" wait_until 10 has_address 2001:db8:a2:
A2=$(dmm_mn_address 2001:db8:a2:)
echo "# MN addresses: $A1 (P1, maar1), $A2 (P2, maar2)"
served() { qq "$M2" "show maar" "' '.join(s['interface'] + ':' + s['state'] + ':' + s['local_prefix'] + ':' + ','.join(sorted(p['prefix'] for p in s['previous_maar_prefixes'])) for s in d['served'])"; }
served_at() { [[ $(served) == "$1" ]]; }
check "maar2 serves the MN on mn1 with P2, and P1 through maar1" \
    wait_until 5 served_at "mn1:registered:2001:db8:a2::/64:2001:db8:a1::/64"
maar_counter() { qq "$M2" "show maar" "d['counters']['$1']"; }
PBU_BEFORE=$(maar_counter pbu_sent)

# A second access link of maar2 to the MN: p4 (MN) -- mn1b (maar2).
mn_add_port "$MN" p4 "$N-maar2" mn1b 02:00:00:00:02:02
link_seen() { [[ $(qq "$M2" "show links" "[l['running'] for l in d if l['interface'] == 'mn1b']") == "[True]" ]]; }
check "maar2 tracks mn1b, up (no MN policy names it)" wait_until 10 link_seen

# The move: the MN's frames go out of p4 only; what maar2 sends on mn1 no
# longer reaches the MN, whose carrier stays up.
mn_send_only_to "$MN" p4
ip netns exec "$MN" tc filter del dev p2 ingress
ip netns exec "$MN" rdisc6 -1 -w 1000 eth0 >"$WORK/rdisc6.out" 2>&1
echo "# rdisc6 on eth0: $(grep -c 'Prefix' "$WORK/rdisc6.out") prefix option(s) in the answer"
moved() { [[ $(maar_counter intra_maar_moves) == 1 ]]; }
check "maar2 counts one intra-MAAR move" wait_until 5 moved
check "maar2 serves the MN on mn1b only, with P2 and P1 through maar1" \
    wait_until 5 served_at "mn1b:registered:2001:db8:a2::/64:2001:db8:a1::/64"
check "maar2 refreshed the CMD's binding with one PBU" test "$(maar_counter pbu_sent)" = $((PBU_BEFORE + 1))
routed_b() { ip -n "$N-maar2" -6 route show "$1" | grep -q "dev mn1b"; }
check "maar2 routes P2 to mn1b" routed_b 2001:db8:a2::/64
check "maar2 routes P1 (out of the tunnel from maar1) to mn1b" routed_b 2001:db8:a1::/64
# The routes listed (an ip failure is not "no route"), none on mn1.
not_on_mn1() { local r; r=$(ip -n "$N-maar2" -6 route show "$1") && [[ $r == *"dev mn1b"* && $r != *"dev mn1 "* ]]; }
check "maar2: P2's route is on mn1b only, none left on mn1" not_on_mn1 2001:db8:a2::/64
check "maar2: P1's route is on mn1b only, none left on mn1" not_on_mn1 2001:db8:a1::/64
local_uplink() {  # P2's way past the access table (999): a throw route there (source routes) or a rule (rules)
    ip -n "$N-maar2" -6 route show table 999 | grep -q "throw default from $1" ||
        ip -n "$N-maar2" -6 rule show | grep -q "from $1 lookup main"
}
check "maar2 keeps P2's way past its access table (the MN's P2 packets plainly routed)" local_uplink 2001:db8:a2::/64
cmd_session() { qq "$WORK/lmad.sock" "show cmd" "' '.join(s['serving_maar'] + '/' + ','.join(p['maar'] for p in s['previous_maars']) for s in d['sessions'])"; }
check "the CMD: the MN served at maar2, maar1 previous" test "$(cmd_session)" = "2001:db8:100::22/2001:db8:100::21"
check "the MN reaches the correspondent from P2 through mn1b" ip netns exec "$MN" ping -6 -c3 -i0.2 -W2 -I "$A2" $CN
check "the MN reaches the correspondent from P1 (tunnel to maar1) through mn1b" \
    ip netns exec "$MN" ping -6 -c3 -i0.2 -W2 -I "$A1" $CN

# The old link's carrier goes, and its hold passes: nothing of the MN's was
# left there.
ip -n "$MN" link set p2 down
DOWN_AT=$SECONDS
gone() { [[ $(qq "$M2" "show links" "[l['running'] for l in d if l['interface'] == 'mn1']") == "[False]" ]]; }
check "maar2 sees mn1 go down" wait_until 5 gone
wait "$RECV" 2>/dev/null
forget_pid "$RECV"
echo "# stream on P1 at the MN: $(tr -d '\n' <"$WORK/flow.json" | cut -c1-300)"
flow() { "$PY" -c "import json; d=json.load(open('$WORK/flow.json')); print(d['$1'])"; }
check "the stream on P1 went on across both moves (>= 90 % of its datagrams)" \
    test "$(flow received 2>/dev/null || echo 0)" -ge $((1440 * TIME_SCALE))
# Past the old link's hold (HOLD s after its carrier went), plus 2 s.
while ((SECONDS < DOWN_AT + HOLD + 2)); do sleep 0.5; done
check "no de-registration from maar2" test "$(maar_counter deregistrations)" = 0
SESSION=$(cmd_session)
echo "# the CMD's session after the hold: $SESSION"
check "the CMD: the MN still served at maar2 after the old link's hold" test "${SESSION%%/*}" = 2001:db8:100::22
anchored() { qq "$M2" "show maar" "' '.join(a['prefix'] + '@' + a['served_at'] for a in d['anchored'])"; }
check "maar2 still anchors P2 for the MN served here" test "$(anchored)" = "2001:db8:a2::/64@here"
check "the MN still reaches the correspondent from P2" ip netns exec "$MN" ping -6 -c3 -i0.2 -W2 -I "$A2" $CN
# mn1's carrier comes back (the policy names mn1): no sign that the MN is
# back there, so its session stays on mn1b until an RS comes on mn1.
ip -n "$MN" link set p2 up
elsewhere() { [[ $(qq "$M2" "show counters" "d['daemon'].get('link_up_mn_registered_elsewhere', 0)") == 1 ]]; }
check "maar2: mn1 up again, its MN served on mn1b: not attached there (counted)" wait_until 5 elsewhere
check "maar2 still serves the MN on mn1b only" test "$(served | cut -d: -f1-2)" = "mn1b:registered"
check "the MN still reaches the correspondent from P2 through mn1b" ip netns exec "$MN" ping -6 -c3 -i0.2 -W2 -I "$A2" $CN
echo "# maar2 counters: $(qq "$M2" "show maar" "{k: d['counters'][k] for k in ('attaches', 'intra_maar_moves', 'pbu_sent', 'deregistrations', 'data_path_errors')}")"
check "maar2: no data path error" test "$(maar_counter data_path_errors)" = 0

kill -TERM "${PIDS[@]}" 2>/dev/null
sleep 1
for i in 1 2 3; do
    check "maar$i: no tunnel device left after SIGTERM" no_links_like "$N-maar$i" mg
done
finish
