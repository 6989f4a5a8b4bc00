#!/usr/bin/env bash
# lmad with several upstreams ([multicast] upstream-channel,
# upstream-matching; Mcproxy's rule matching) end to end on the namespace
# testbed: the real daemons, the real Linux kernel as the MN and as lmad's
# host membership on its upstreams.
#
#   test_pmip_lma_upstreams.sh BUILD_DIR [first|all]
#
#   lmad's upstreams: l9 to a source "sat" for ff0e::5a00:0/112, then l0 to
#   the CN (every channel). mn1 joins SAT (ff0e::5a00:1), which both sat and
#   the CN send, and VIA (ff0e::5b00:1), which the CN sends. Checks: lmad's
#   kernel holds SAT on l9 and VIA on l0; first: not SAT on l0, and mn1
#   gets SAT from sat only (nftables counters by source in mn1's namespace:
#   none of the CN's copy); all: SAT on l0 too, and mn1 gets both copies.
#   VIA reaches mn1 from the CN. A reload that adds a filter table entry
#   denying VIA's range: lmad leaves VIA on l0 at once and it stops at mn1,
#   SAT goes on. mn1 detaches: lmad leaves everything on both upstreams.
# Exit 1 when a check fails, 77 when the environment cannot run it.
set -u
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
BUILD=${1:?usage: test_pmip_lma_upstreams.sh BUILD_DIR [first|all]}
MATCHING=${2:-first}
[[ $MATCHING =~ ^(first|all)$ ]] || { echo "matching: first or all" >&2; exit 2; }
SAT=ff0e::5a00:1
VIA=ff0e::5b00:1
CN=2001:db8:200::2 SATS=2001:db8:500::2

testbed_test_begin plup
need_tools nft
need_testbed_mechanisms
export PMIP_TESTBED_LMA_MATCHING=$MATCHING

check "testbed up (lmad's upstreams l9 for $SAT's range then l0, matching $MATCHING)" \
    testbed_up "$NAME" "$BUILD" 1 multicast sat || finish
check "mn1 gets its address at mag1" $TB address "$NAME" 1 20 >/dev/null
check "lmad logged its upstreams" grep -q "MLD proxy: upstreams l9 (1 rules), l0 (matching $MATCHING)" "$TB_STATE/lmad.log"
shown() { q lma "show multicast" "[(u['name'], u['channels']) for u in d['upstreams']] + [d['matching']]"; }
echo "# lmad show multicast upstreams: $(shown)"
check "lmad: show multicast lists l9 (its channels) then l0 (all)" \
    test "$(shown)" = "[('l9', [{'group': 'ff0e::5a00:0/112', 'source': '::/0'}]), ('l0', 'all'), '$MATCHING']"

count_flows 1 $SATS $SAT $CN $SAT $CN $VIA
arrived() { flow_arrived 1 "$@"; }
flowing() { flow_flowing 1 "$@"; }

SECS=$((12 * TIME_SCALE))
for g in $SAT $VIA; do
    $TB exec "$NAME" mn1 $METER receive --group $g --interface eth0 --port 5031 --seconds $SECS --json >/dev/null 2>&1 &
    PIDS+=($!)
    $TB exec "$NAME" cn $METER send --to $g --interface c0 --port 5031 --rate 200 --seconds $SECS >/dev/null 2>&1 &
    PIDS+=($!)
done
$TB exec "$NAME" sat $METER send --to $SAT --interface s9 --port 5031 --rate 200 --seconds $SECS >/dev/null 2>&1 &
PIDS+=($!)

joined_on() { ip -n "$NAME-lma" -6 maddr show dev "$1" | grep -q "inet6 $2\$"; }
not_joined_on() { ! joined_on "$@"; }
check "lmad: the kernel holds $SAT on l9" wait_until 10 joined_on l9 $SAT
check "lmad: and $VIA on l0" wait_until 5 joined_on l0 $VIA
check "lmad: not $VIA on l9" not_joined_on l9 $VIA
check "mn1: $SAT arrives from sat" wait_until 5 flowing $SATS $SAT
check "mn1: $VIA arrives from the CN" wait_until 5 flowing $CN $VIA
if [[ $MATCHING == first ]]; then
    check "first: lmad has not joined $SAT on l0" not_joined_on l0 $SAT
    sleep 1
    check "first: mn1 got no copy of $SAT from the CN" test "$(arrived $CN $SAT)" = 0
else
    check "all: lmad has joined $SAT on l0 too" joined_on l0 $SAT
    check "all: mn1 gets the CN's $SAT as well" wait_until 5 flowing $CN $SAT
fi
echo "# mn1 arrivals: $SAT from sat $(arrived $SATS $SAT), from the CN $(arrived $CN $SAT); $VIA from the CN $(arrived $CN $VIA)"

# The filter tables at run time: a reload that denies VIA's range.
printf '[multicast]\ndenied-group = ff0e::5b00:0/112\n' >>"$TB_STATE/lmad.conf"
$TB ctl "$NAME" lma reload >/dev/null 2>&1
check "reload: lmad counted the new filter tables" test "$(q lma "show counters" "d['daemon'].get('multicast_filters_reloaded', 0)")" = 1
check "reload: lmad left $VIA on l0 at once" wait_until 3 not_joined_on l0 $VIA
check "reload: $VIA no longer reaches mn1" wait_until 3 flow_stopped 1 $CN $VIA
check "reload: $SAT still does" flowing $SATS $SAT

ip -n "$NAME-mn1" link set p1 down
left() { not_joined_on l9 $SAT && not_joined_on l0 $SAT; }
check "mn1 detached: lmad left every group on both upstreams" wait_until 10 left
finish
