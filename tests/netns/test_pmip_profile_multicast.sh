#!/usr/bin/env bash
# Network-initiated multicast from the MN's policy profile end to end on the
# namespace testbed (draft-zhao-multimob-pmip6-solution's network-initiated
# service; the profile's subscription of draft-asaeda section 7.1): the real
# daemons, the real Linux kernel as the MN, which never gets an MLD Report
# out (all dropped by nftables in its own namespace from the start), so only
# the profile can bring its channels.
#
#   test_pmip_profile_multicast.sh BUILD_DIR
#
#   The testbed runs with context transfer off (PMIP_TESTBED_SIAL=off): the
#   new MAG has nothing but the profile. mn1's profile gets an ASM group
#   (ff0e::4343:1) and an SSM channel (2001:db8:200::2, ff3e::4343:2) by a
#   `pmipctl reload` while mn1 is registered at mag1 (applied in place: no new
#   registration). Checks: mag1's proxy holds both on mn1's link with no
#   listener known to its querier; lmad joins them on mag1's tunnel; both
#   streams reach mn1. mn1 moves to mag2: mag2's proxy holds both at once,
#   mag1 keeps nothing, both streams reach mn1 again. A reload removes the
#   SSM channel: mag2 leaves it upstream (lmad too), the SSM stream stops at
#   mn1, the ASM one goes on, nothing registers again. The profile's admission
#   (multicast_policy: ff0e::4343:99 denied, at most 4 groups): mn1's Reports
#   let go, it joins the denied group and an admitted one: mag2 takes the
#   admitted one, refuses the denied one (counted), lmad never joins it.
#   mn1's link goes down: mag2's instance goes and lmad leaves the group on
#   mag2's tunnel.
# Exit 1 when a check fails, 77 when the environment cannot run it.
set -u
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
BUILD=${1:?usage: test_pmip_profile_multicast.sh BUILD_DIR}
ASM=ff0e::4343:1
SSM=ff3e::4343:2
DENIED=ff0e::4343:99
ALLOWED=ff0e::4343:3
CN=2001:db8:200::2

testbed_test_begin profmc
need_tools nft
need_testbed_mechanisms
export PMIP_TESTBED_SIAL=off

check "testbed up (lmad, magd at mag1 and mag2; context transfer off)" testbed_up "$NAME" "$BUILD" 1 multicast || finish
check "mn1 gets its address at mag1" $TB address "$NAME" 1 20 >/dev/null
# ebpf forwarding: magd makes each access link's clsact qdisc when it finds
# the link, not when an MN's link becomes a downstream (creating or deleting
# one deactivates the device for a moment: an MN's first downlink packets
# and its Neighbor Solicitation were dropped, a 1 s interruption in about
# 1 handover of 30).
has_clsact() { tc -n "$NAME-$1" qdisc show dev mn1 | grep -q clsact; }
ebpf=$(q mag2 "show multicast" "1" >/dev/null; grep -c "multicast forwarding: ebpf" "$TB_STATE/magd2.log")
if [[ $ebpf -gt 0 ]]; then
    check "mag2: mn1 has its clsact qdisc from magd's start, before any MN attached there" has_clsact mag2
else
    echo "# clsact checks not run: magd's multicast forwarding is not ebpf here (see $TB_STATE/magd2.log)"
fi

# mn1 runs no MLD as far as the network can tell: every Report it sends
# (v1 131, v2 143) is dropped in its own namespace; counters per group of
# the multicast data reaching it (before its sockets' filters).
ip netns exec "$NAME-mn1" nft -f - <<NFT
table ip6 profmc {
    chain out {
        type filter hook output priority 0;
        icmpv6 type { 131, 143 } counter drop
    }
    chain pre {
        type filter hook prerouting priority 0;
        ip6 daddr $ASM counter
        ip6 daddr $SSM counter
    }
}
NFT
check "mn1's MLD Reports dropped in its namespace" ip netns exec "$NAME-mn1" nft list table ip6 profmc >/dev/null
arrived() {  # arrived GROUP: data packets to GROUP that reached mn1
    ip netns exec "$NAME-mn1" nft list chain ip6 profmc pre | grep "daddr $1 " | grep -o 'packets [0-9]*' | awk '{print $2}'
}
dropped_reports() { ip netns exec "$NAME-mn1" nft list chain ip6 profmc out | grep -o 'packets [0-9]*' | awk '{print $2}'; }
flowing() {  # flowing GROUP: more packets to GROUP reach mn1 within 0.5 s
    local a b
    a=$(arrived "$1"); sleep 0.5; b=$(arrived "$1")
    ((b > a))
}
stopped() {  # stopped GROUP: none in 1 s
    local a b
    a=$(arrived "$1"); sleep 1; b=$(arrived "$1")
    ((b == a))
}

# A downstream of WHO's instance(s) whose merged state holds GROUP; the
# groups WHO's querier learnt from listeners on mn1's link; its static ones.
members() { q "$1" "show multicast" "sorted(m['downstream'] for i in (d if isinstance(d, list) else [d]) for g in i['groups'] if g['group'] == '$2' for m in g['downstreams'])"; }
learnt() { q "$1" "show multicast" "sorted(g['group'] for i in d for s in i['downstreams'] if s['name'] == 'mn1' for g in s.get('groups', []))"; }
statics() { q "$1" "show multicast" "sorted(g['group'] for i in d for s in i['downstreams'] if s['name'] == 'mn1' for g in s['static'])"; }
both_at() { [[ $(members "$1" $ASM) == "['mn1']" && $(members "$1" $SSM) == "['mn1']" ]]; }
lma_has() { [[ $(members lma "$1") != "[]" ]]; }
lma_lacks() { [[ $(members lma "$1") == "[]" ]]; }

# --- the profile gets the channels: reload, applied in place --------------------
POLICY=$TB_STATE/magd-policy.json
set_channels() {  # set_channels JSON-LIST: mn1's multicast_channels (and a policy denying $DENIED)
    "$PY" - "$POLICY" "$1" "$DENIED" <<'PY_END'
import json, sys
p = json.load(open(sys.argv[1]))
for e in p["mobile_nodes"]:
    if e["id"].startswith("mn1@"):
        e["multicast_channels"] = json.loads(sys.argv[2])
        e["multicast_policy"] = {"denied_groups": [sys.argv[3] + "/128"], "max_groups": 4}
json.dump(p, open(sys.argv[1], "w"))
PY_END
}
sequence_before=$(q mag1 "show bul" "[e['sequence'] for e in d if e['interface'] == 'mn1'][0]")
set_channels "[{\"group\": \"$ASM\"}, {\"group\": \"$SSM\", \"sources\": [\"$CN\"]}]"
$TB ctl "$NAME" mag1 --json reload >"$WORK/reload1.json" 2>&1
echo "# mag1 reload: $(cat "$WORK/reload1.json" | tr -d '\n')"
in_place() { [[ $("$PY" -c "import json; d=json.load(open('$1')); print(d['multicast_profile_updated'], d['reregistering'])") == "$2" ]]; }
check "mag1: the reload applied mn1's new channels in place (1 updated, 0 registering again)" in_place "$WORK/reload1.json" "1 0"
$TB ctl "$NAME" mag2 --json reload >/dev/null 2>&1
same_binding() { [[ $(q mag1 "show bul" "[e['sequence'] for e in d if e['interface'] == 'mn1'][0]") == "$sequence_before" ]]; }
check "mag1: mn1's binding untouched by the reload (no PBU sent)" same_binding

check "mag1: both channels of the profile on mn1's link" wait_until 5 both_at mag1
echo "# mag1 static on mn1: $(statics mag1); learnt from listeners: $(learnt mag1)"
none_learnt() { local l; l=$(learnt "$1"); [[ $l == \[* && $l != *4343* ]]; }
check "mag1: its querier learnt neither from mn1 (no Report reached it)" none_learnt mag1
check "lmad: joined the ASM group on a MAG tunnel" wait_until 5 lma_has $ASM
check "lmad: joined the SSM channel on a MAG tunnel" wait_until 5 lma_has $SSM

RUN_S=$((30 * TIME_SCALE))
$TB exec "$NAME" cn $METER send --to $ASM --interface c0 --port 5001 --rate 200 --seconds "$RUN_S" 2>/dev/null &
PIDS+=($!)
$TB exec "$NAME" cn $METER send --to $SSM --interface c0 --port 5002 --rate 200 --seconds "$RUN_S" 2>/dev/null &
PIDS+=($!)
sleep 1
check "ASM stream reaches mn1 at mag1" flowing $ASM
check "SSM stream reaches mn1 at mag1" flowing $SSM

# --- a move: the new MAG has the channels from the profile at once -------------
$TB move "$NAME" 1 mag2
check "mag2: both channels on mn1's link after the move, mn1 still silent" wait_until 3 both_at mag2
check "mag2: its querier learnt neither from mn1" none_learnt mag2
gone_from_mag1() { [[ $(members mag1 $ASM) == "[]" && $(members mag1 $SSM) == "[]" ]]; }
check "mag1: keeps no state for mn1 after the move" wait_until 5 gone_from_mag1
check "ASM stream reaches mn1 at mag2" wait_until 5 flowing $ASM
check "SSM stream reaches mn1 at mag2" wait_until 5 flowing $SSM

# --- the profile drops the SSM channel: reload, in place ----------------------------
sequence_before=$(q mag2 "show bul" "[e['sequence'] for e in d if e['interface'] == 'mn1'][0]")
set_channels "[{\"group\": \"$ASM\"}]"
$TB ctl "$NAME" mag2 --json reload >"$WORK/reload2.json" 2>&1
echo "# mag2 reload: $(cat "$WORK/reload2.json" | tr -d '\n')"
check "mag2: the reload applied the removal in place (1 updated, 0 registering again)" in_place "$WORK/reload2.json" "1 0"
same_binding2() { [[ $(q mag2 "show bul" "[e['sequence'] for e in d if e['interface'] == 'mn1'][0]") == "$sequence_before" ]]; }
check "mag2: mn1's binding untouched by the reload" same_binding2
ssm_left() { [[ $(members mag2 $SSM) == "[]" ]]; }
check "mag2: the SSM channel left on mn1's link" wait_until 3 ssm_left
check "lmad: left the SSM channel (mag2's upstream report)" wait_until 5 lma_lacks $SSM
sleep 0.5
check "SSM stream no longer reaches mn1" stopped $SSM
check "ASM stream still reaches mn1" flowing $ASM

# --- pmipctl channel add / remove: the same at run time, without the file -------------
MN1_ID=$(q mag2 "show mns" "[e['mn'] for e in d if e['interface'] == 'mn1'][0]")
$TB ctl "$NAME" mag2 --json channel add "$MN1_ID" $SSM $CN >"$WORK/channel-add.json" 2>&1
echo "# mag2 channel add: $(tr -d '\n' <"$WORK/channel-add.json")"
applied() { [[ $("$PY" -c "import json; d=json.load(open('$1')); print(d['applied_in_place'], d['reregistering'])") == "1 0" ]]; }
check "pmipctl channel add $SSM from the CN for mn1: applied in place" applied "$WORK/channel-add.json"
check "mag2: mn1's binding untouched by the command" same_binding2
ssm_back() { [[ $(statics mag2) == *"$SSM"* ]]; }
check "mag2: the SSM channel is on mn1's link again" wait_until 3 ssm_back
check "lmad: joined the SSM channel again" wait_until 5 lma_has $SSM
check "SSM stream reaches mn1 again" wait_until 5 flowing $SSM
check "pmipctl channel remove (by MAC) applied" $TB ctl "$NAME" mag2 channel remove 02:00:00:00:00:01 $SSM
check "mag2: the SSM channel left on mn1's link" wait_until 3 ssm_left
check "lmad: left the SSM channel" wait_until 5 lma_lacks $SSM
sleep 0.5
check "SSM stream no longer reaches mn1" stopped $SSM
check "ASM stream still reaches mn1" flowing $ASM
$TB ctl "$NAME" mag2 channel add nobody@example $SSM >"$WORK/channel-bad.out" 2>&1
bad_status=$?
echo "# mag2 channel add for an unknown MN: exit $bad_status: $(tr -d '\n' <"$WORK/channel-bad.out")"
check "pmipctl channel add for an MN without a store entry: exit 1, the MN named" \
    bash -c "[[ $bad_status == 1 ]] && grep -q 'no entry for nobody@example' '$WORK/channel-bad.out'"
check "pmipctl channel add of a link-local group: refused" \
    bash -c "! $TB ctl $NAME mag2 channel add '$MN1_ID' ff02::1:3 >/dev/null 2>&1"
commands() { q mag2 "show counters" "d['daemon'].get('multicast_channel_commands', 0)"; }
echo "# mag2 multicast_channel_commands: $(commands)"
check "mag2: 2 channel commands counted" test "$(commands)" = 2

# --- the profile's admission: mn1 speaks MLD again, a denied group is refused ---------
reports=$(dropped_reports)
echo "# mn1 sent $reports MLD Reports while held, every one dropped in its namespace"
check "mn1 really tried to report (its Reports were dropped, not absent)" test "${reports:-0}" -gt 0
ip netns exec "$NAME-mn1" nft delete chain ip6 profmc out
refused_before=$(q mag2 "show multicast" "d[0]['counters']['instance']['downstream_records_refused']")
$TB exec "$NAME" mn1 $METER receive --group $DENIED --interface eth0 --port 5003 --seconds 4 >/dev/null 2>&1 &
PIDS+=($!)
$TB exec "$NAME" mn1 $METER receive --group $ALLOWED --interface eth0 --port 5004 --seconds 4 >/dev/null 2>&1 &
PIDS+=($!)
allowed_joined() { [[ $(members mag2 $ALLOWED) == "['mn1']" ]]; }
check "mag2: mn1's own join of an admitted group ($ALLOWED) is taken" wait_until 5 allowed_joined
refused() { (($(q mag2 "show multicast" "d[0]['counters']['instance']['downstream_records_refused']") > refused_before)); }
check "mag2: mn1's join of $DENIED, denied by its profile, is refused and counted" wait_until 5 refused
denied_absent() { local l; l=$(learnt mag2); [[ $(members mag2 $DENIED) == "[]" && $l == \[* && $l != *4343:99* ]]; }
check "mag2: no state for the denied group on mn1's link" denied_absent
check "lmad: never joined the denied group" lma_lacks $DENIED
echo "# mag2 mn1 policy: $(q mag2 "show multicast" "json.dumps([s['policy'] for s in d[0]['downstreams'] if s['name'] == 'mn1'][0])")"

# --- detach: the profile's channels go with the link ------------------------------
ip -n "$NAME-mn1" link set p2 down
no_instance() { [[ $(q mag2 "show multicast" "len(d)") == 0 ]]; }
check "mag2: mn1's link down: its instance and channels gone" wait_until 5 no_instance
check "lmad: left the ASM group (no MAG listens)" wait_until 5 lma_lacks $ASM
if [[ $ebpf -gt 0 ]]; then
    check "mag2: mn1's clsact qdisc kept after its last downstream went (not made and deleted per attach)" has_clsact mag2
fi
for m in mag1 mag2; do
    echo "# counters $m: $(q $m "show counters" "json.dumps(d)" | grep -o '"\(multicast_profile\|policy_multicast\)[a-z_]*": [0-9]*' | tr '\n' ' ')"
done

MAGD2=$(cat "$TB_STATE/magd2.pid")
kill -TERM "$MAGD2"
magd2_gone() { ! kill -0 "$MAGD2" 2>/dev/null; }
check "mag2: magd exits on SIGTERM" wait_until 10 magd2_gone
if [[ $ebpf -gt 0 ]]; then
    no_clsact() { ! has_clsact mag2; }
    check "mag2: magd removed the clsact qdisc it made on mn1" no_clsact
fi

finish
