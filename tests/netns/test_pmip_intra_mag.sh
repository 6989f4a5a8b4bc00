#!/usr/bin/env bash
# An MN's interface moving between two access links of the same MAG, make
# before break, as behind two access points whose ports on the MAG stay up
# (RFC 5213 section 6.9.1.1: the MN-LL-ID names the interface, so the same one
# on another link is that interface moved, not a second attachment).
#
#   test_pmip_intra_mag.sh BUILD_DIR
#
# The testbed with one MN at mag1; a second link of mag1 to the MN (mag1's
# "mn1b" -- the MN's port p3, wired into the MN's eth0 like p1 and p2). The
# move: the MN's frames go only to p3 and nothing of p1 reaches the MN, while
# mag1's "mn1" keeps its carrier; the MN sends a Router Solicitation (rdisc6),
# which mag1 sees on mn1b. The MN pings the correspondent every 10 ms across
# it. Checks: mag1 counts one intra-MAG move, sends no PBU for it (the binding
# names the proxy CoA, not the link) and no de-registration; >= 90% of the
# pings answered; a multicast stream to the MN (1000/s, joined with a
# socket) moves with it: the proxy's membership goes to mn1b, >= 90% of the
# stream received; lmad still has the MN's one binding at mag1, with the same
# prefix; mag1 routes the prefix to mn1b; the MN keeps its address and reaches
# the correspondent; after lmad's MinDelayBeforeBCEDelete (1 s here) and after
# mn1's carrier goes (p1 down) the binding and the path are still there, and
# still no de-registration. (Before, mag1 registered the MN again from mn1b,
# then de-registered it when mn1 went down: lmad deleted the binding, and mag1
# removed the prefix's uplink route that mn1b's registration shared.)
# Exit 1 when a check fails, 77 when the environment cannot run it.
set -u
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$NETNS_ROOT/tools/testbed/mn_wiring.sh"
BUILD=${1:?usage: test_pmip_intra_mag.sh BUILD_DIR}
CN=2001:db8:200::2
MAG1=2001:db8:101::11
GROUP=ff3e::4242:1

need_tools rdisc6 ping
testbed_test_begin pim
need_testbed_mechanisms
check "testbed up (lmad, magd at mag1 and mag2 with multicast, one MN at mag1)" \
    testbed_up "$NAME" "$BUILD" 1 multicast || finish
A=$($TB address "$NAME" 1 20) || { fail "mn1 gets no address at mag1"; finish; }
pass "mn1 has $A at mag1"
MN=$NAME-mn1 M1=$NAME-mag1
check "mn1 reaches the correspondent through mag1's mn1" ip netns exec "$MN" ping -6 -c2 -i0.2 -W2 $CN

# A second access link of mag1 to the MN: p3 (MN) -- mn1b (mag1).
mn_add_port "$MN" p3 "$M1" mn1b 02:00:00:00:03:01
link_seen() { [[ $(q mag1 "show links" "[l['running'] for l in d if l['interface'] == 'mn1b']") == "[True]" ]]; }
check "mag1 tracks mn1b, up (no MN policy names it)" wait_until 10 link_seen

# The move: the MN's frames go out of p3 only; what mag1 sends on mn1 no
# longer reaches the MN. mn1 keeps its carrier. The MN pings every 10 ms
# across it.
# A multicast stream to the MN (it joins $GROUP with a socket), 1000/s.
$TB exec "$NAME" mn1 $METER receive --group $GROUP --interface eth0 --port 5001 --seconds 16 --json >"$WORK/rx.json" &
RX=$!
PIDS+=($RX)
members() { q mag1 "show multicast" "sorted(m['downstream'] for i in d for g in i['groups'] if g['group'] == '$GROUP' for m in g['downstreams'])"; }
member_at() { [[ $(members) == "['$1']" ]]; }
check "mag1: mn1's report for $GROUP in the proxy database" wait_until 5 member_at mn1
$TB exec "$NAME" cn $METER send --to $GROUP --interface c0 --port 5001 --rate 1000 --seconds 6 2>"$WORK/tx.json" &
PIDS+=($!)
sleep 1
pbus() { q mag1 "show counters" "d['engine']['pbu_sent']"; }
PBUS_BEFORE=$(pbus)
ip netns exec "$MN" ping -6 -i 0.01 -c 300 -W 1 $CN >"$WORK/ping.txt" 2>&1 &
PING_PID=$!
PIDS+=("$PING_PID")
sleep 1
mn_send_only_to "$MN" p3
ip netns exec "$MN" tc filter del dev p1 ingress  # p1 has no IPv6: what arrives there stays there
ip netns exec "$MN" rdisc6 -1 -w 1000 eth0 >"$WORK/rdisc6.out" 2>&1
echo "# rdisc6 on eth0: $(grep -c 'Prefix' "$WORK/rdisc6.out") prefix option(s) in the answer"
moved() { [[ $(q mag1 "show counters" "d['engine']['intra_mag_moves']") == 1 ]]; }
check "mag1 counts one intra-MAG move" wait_until 5 moved
check "mag1 sent no PBU for it (the binding names the proxy CoA, not the link)" test "$(pbus)" = "$PBUS_BEFORE"
wait "$PING_PID"
received=$(grep -o '[0-9]* received' "$WORK/ping.txt" | awk '{print $1}')
echo "# pings across the move: ${received:-0} of 300 answered"
check "pings go on across the move (>= 90% of 300 answered)" test "${received:-0}" -ge 270
registered_b() { [[ $(q mag1 "show mns" "[m['interface'] for m in d if m['state'] == 'registered']") == "['mn1b']" ]]; }
check "mag1: the MN registered on mn1b, nothing left on mn1" wait_until 5 registered_b
check "mag1: $GROUP now held by mn1b, not mn1 (the proxy followed the move)" wait_until 5 member_at mn1b
binding() { q lma "show bindings" "' '.join(sorted(e['mag'] for e in d))"; }
check "lmad: one binding for the MN, at mag1" test "$(binding)" = "$MAG1"
HNP=$(q mag1 "show mns" "[m['prefixes'][0] for m in d][0]" 2>/dev/null)
echo "# mn1's prefix at mag1: $HNP"
check "mag1 routes the MN's prefix to mn1b" bash -c "ip -n '$M1' -6 route show '$HNP' | grep -q 'dev mn1b'"
check "the MN keeps its address $A" bash -c "ip -n '$MN' -6 addr show dev eth0 | grep -q '$A'"
check "mn1 reaches the correspondent through mn1b" ip netns exec "$MN" ping -6 -c3 -i0.2 -W2 $CN
dereg() { q mag1 "show counters" "d['engine']['deregistrations']"; }
sleep $((2 * TIME_SCALE))  # past lmad's MinDelayBeforeBCEDelete (1 s)
check "no de-registration from mag1" test "$(dereg)" = 0
check "lmad: the binding is still at mag1" test "$(binding)" = "$MAG1"

# The old link's carrier goes later: nothing of the MN's is left there.
ip -n "$MN" link set p1 down
gone() { [[ $(q mag1 "show links" "[l['running'] for l in d if l['interface'] == 'mn1']") == "[False]" ]]; }
check "mag1 sees mn1 go down" wait_until 5 gone
sleep $((2 * TIME_SCALE))
check "still no de-registration from mag1" test "$(dereg)" = 0
check "lmad: the binding is still at mag1 after mn1 went down" test "$(binding)" = "$MAG1"
check "mn1 still reaches the correspondent" ip netns exec "$MN" ping -6 -c3 -i0.2 -W2 $CN
# mn1's carrier comes back (the policy names mn1): no sign that the MN is
# back there, so its binding stays on mn1b until an RS comes on mn1.
ip -n "$MN" link set p1 up
elsewhere() { [[ $(q mag1 "show counters" "d['daemon'].get('link_up_mn_registered_elsewhere', 0)") == 1 ]]; }
check "mag1: mn1 up again, its MN registered on mn1b: not attached there (counted)" wait_until 5 elsewhere
check "mag1: the MN still registered on mn1b only" registered_b
check "mn1 still reaches the correspondent through mn1b" ip netns exec "$MN" ping -6 -c3 -i0.2 -W2 $CN
wait "$RX"
echo "# multicast across the move: $(tr -d '\n' <"$WORK/rx.json" | "$PY" -c "import json,sys; d=json.load(sys.stdin); print(d['received'], 'of 6000 received, lost', d['lost'], ', longest gap', d['max_gap_ms'], 'ms')")"
mc_received() { "$PY" -c "import json,sys; print(json.load(open(sys.argv[1]))['received'])" "$WORK/rx.json"; }
check "the multicast stream went on across the move (>= 90% of 6000 received)" test "$(mc_received)" -ge 5400
echo "# mag1 engine counters: $(q mag1 "show counters" "{k: d['engine'][k] for k in ('attaches', 'intra_mag_moves', 'deregistrations', 'data_path_errors')}")"

finish
