#!/usr/bin/env bash
# Multicast context transfer (RFC 7161, SIAL) end to end on the namespace
# testbed: the real daemons, the real Linux kernel as the mobile node, its
# MLD reports held back (nftables in its namespace) across each move, so the
# new MAG can only learn its channels from the transfer.
#
#   test_pmip_sial.sh BUILD_DIR
#
#   mn1 at mag1 listens to an ASM group (ff3e::4242:1) and an SSM channel
#   (2001:db8:200::2, ff3e::4242:2); the correspondent streams both at 1000/s.
#   Move 1, reactive (RFC 7161 5.2): mag1's magd is stopped (SIGSTOP) across
#     the move, so mag2's PBU reaches lmad before mag1 notices: lmad asks mag1
#     with a Subscription Query, answers mag2 at once with S=1 and no context,
#     mag2 asks lmad, and gets the context when mag1 (resumed) answers.
#   Move 2, proactive (RFC 7161 5.1): back to mag1 with mag1's magd stopped,
#     so mag2's de-registration (S=1, options 57) reaches lmad first and mag1's
#     PBA carries the context.
#   After each move, with mn1 still silent: the new MAG's proxy has both
#     channels on mn1's link (show multicast), counted as applied context
#     (and lmad's anchor set them up on the new MAG's tunnel), and
#     both streams reach mn1 again within 1.5 s (the reports are held 3 s).
#   tshark on lmad's links decodes MH types 5/6/22/23 and option type 57 (it
#   has no names for RFC 7161's flag and option; the S bits are read from the
#   Mobility Header octets it shows).
# Exit 1 when a check fails, 77 when the environment cannot run it.
set -u
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
BUILD=${1:?usage: test_pmip_sial.sh BUILD_DIR}
ASM=ff3e::4242:1
SSM=ff3e::4242:2
CN=2001:db8:200::2

testbed_test_begin sial
need_tools tshark dumpcap nft
need_testbed_mechanisms
is_true() { [[ $("$@") == True ]]; }

check "testbed up (lmad, magd at mag1 and mag2)" testbed_up "$NAME" "$BUILD" 1 multicast || finish
check "mn1 gets its address at mag1" $TB address "$NAME" 1 20 >/dev/null
if [[ ${PMIP_TESTBED_M_TUNNEL:-off} != off ]]; then
    m_tunnel_downstream() { q lma "show multicast" "[s['name'] for s in d['downstreams']] == [t['device'] for t in json.loads('$(q lma "show tunnels" "json.dumps(d)")') if t['input_key'] == 4294967295]"; }
    check "lmad: m-tunnel = $PMIP_TESTBED_M_TUNNEL, its querier's downstream the M-Tunnel to mag1" is_true m_tunnel_downstream
fi
BLOCK_S=$((3 * TIME_SCALE))
RESUME_MS=$((1500 * TIME_SCALE))
RUN_S=$((14 + 2 * BLOCK_S))

# A downstream of the instance(s) of WHO listening to GROUP.
members() { q "$1" "show multicast" "sorted(m['downstream'] for i in (d if isinstance(d, list) else [d]) for g in i['groups'] if g['group'] == '$2' for m in g['downstreams'])"; }
member() { [[ $(members "$1" "$2") == "['mn1']" ]]; }
both_at() { member "$1" $ASM && member "$1" $SSM; }

$TB exec "$NAME" mn1 $METER receive --group $ASM --interface eth0 --port 5001 --seconds "$RUN_S" --gap-ms 100 --json >"$WORK/asm.json" &
PIDS+=($!)
RX_ASM=$!
$TB exec "$NAME" mn1 $METER receive --group $SSM --source $CN --interface eth0 --port 5002 --seconds "$RUN_S" --gap-ms 100 --json >"$WORK/ssm.json" &
PIDS+=($!)
RX_SSM=$!
check "mag1: mn1 reported both channels (ASM $ASM, SSM ($CN, $SSM))" wait_until 10 both_at mag1
$TB exec "$NAME" cn $METER send --to $ASM --interface c0 --port 5001 --rate 1000 --seconds $((RUN_S - 2)) 2>"$WORK/tx-asm.json" &
PIDS+=($!)
TX_ASM=$!
$TB exec "$NAME" cn $METER send --to $SSM --interface c0 --port 5002 --rate 1000 --seconds $((RUN_S - 2)) 2>"$WORK/tx-ssm.json" &
PIDS+=($!)
TX_SSM=$!
sleep 2
check "dumpcap captures the Mobility Header on lmad's links" start_capture "$NAME-lma" any "$WORK/lma.pcapng" "ip6 proto 135"

# mn1's MLD Reports (v1 131, v2 143) are dropped in its own namespace.
hold_reports() {
    ip netns exec "$NAME-mn1" nft -f - <<'NFT'
table ip6 sial_hold {
    chain out {
        type filter hook output priority 0;
        icmpv6 type { 131, 143 } counter drop
    }
}
NFT
}
release_reports() { ip netns exec "$NAME-mn1" nft delete table ip6 sial_hold; }
held_reports() { ip netns exec "$NAME-mn1" nft list table ip6 sial_hold | grep -o 'packets [0-9]*' | awk '{print $2}'; }

# move NUMBER FROM TO KIND: mn1 from FROM to TO with the magd named by
# STOPPED (magd1 / magd2) stopped for 300 ms across the move.
move() {
    local n=$1 from=$2 to=$3 stopped=$4 kind=$5
    local applied_before
    applied_before=$(q "$to" "show counters" "d['engine']['sial']['contexts_applied']")
    check "move $n: mn1's MLD Reports held in its namespace" hold_reports
    local pid
    pid=$(cat "$TB_STATE/$stopped.pid")
    kill -STOP "$pid"
    $TB move "$NAME" 1 "$to"
    sleep 0.3
    kill -CONT "$pid"
    check "move $n ($kind): $to's proxy has both channels on mn1's link while mn1 is silent" wait_until $((5 * TIME_SCALE)) both_at "$to"
    applied() { (($(q "$to" "show counters" "d['engine']['sial']['contexts_applied']") > applied_before)); }
    check "move $n: $to applied a transferred context (engine counter)" applied
    sleep "$BLOCK_S"
    local held
    held=$(held_reports)
    echo "# move $n: mn1 tried to send $held MLD Reports, all dropped"
    check "move $n: mn1 really was held from reporting (its Reports were dropped)" test "${held:-0}" -gt 0
    both_after() { both_at "$to"; }
    check "move $n: still both channels on mn1's link at $to after $BLOCK_S s of silence" both_after
    check "move $n: mn1's Reports let go" release_reports
    gone_from_old() { [[ $(members "$from" $ASM) == "[]" ]]; }
    check "move $n: $from keeps no state for mn1 (RFC 6224 section 6)" wait_until 5 gone_from_old
}

move 1 mag1 mag2 magd1 "reactive: mag1 stopped, mag2 registers first"
react() { (($(q lma "show counters" "d['engine']['sial']['queries_sent']") >= 1)); }
check "move 1: lmad sent a Subscription Query to mag1" react
sleep 2
move 2 mag2 mag1 magd1 "proactive: mag1 (new) stopped, mag2's de-registration first"
stored() { (($(q lma "show counters" "d['engine']['sial']['contexts_stored']") >= 1)); }
check "move 2: lmad kept the context of mag2's de-registration" stored
anchored() { (($(q lma "show multicast" "d['anchor']['contexts_applied']") >= 2)); }
check "lmad's multicast anchor set both transferred contexts up on the new MAG's tunnel" anchored
sleep 1
q lma "show counters" "json.dumps(d['engine']['sial'])" >"$WORK/lma-sial.json"
q mag1 "show counters" "json.dumps(d['engine']['sial'])" >"$WORK/mag1-sial.json"
q mag2 "show counters" "json.dumps(d['engine']['sial'])" >"$WORK/mag2-sial.json"
echo "# lmad sial: $(cat "$WORK/lma-sial.json")"
echo "# mag1 sial: $(cat "$WORK/mag1-sial.json")"
echo "# mag2 sial: $(cat "$WORK/mag2-sial.json")"
stop_pid $CAP INT

wait $TX_ASM $TX_SSM
wait $RX_ASM $RX_SSM
for s in asm ssm; do
    "$PY" - "$WORK/$s.json" "$s" <<'PY_END'
import json, sys
r = json.load(open(sys.argv[1]))
print(f"# {sys.argv[2]}: received {r['received']}, lost {r['lost']}, largest gap {r['max_gap_ms']} ms, gaps over 100 ms {r['gaps']}, duplicates {r['duplicates']}")
PY_END
    gap_ok() { "$PY" -c "import json,sys; r=json.load(open('$WORK/$1.json')); sys.exit(0 if r['received'] > 0 and r['max_gap_ms'] < $RESUME_MS else 1)"; }
    check "$s stream: back at mn1 within $RESUME_MS ms after each move, while its Reports were held ${BLOCK_S} s" gap_ok $s
    nodup() { "$PY" -c "import json,sys; sys.exit(0 if json.load(open('$WORK/$1.json'))['duplicates'] == 0 else 1)"; }
    check "$s stream: no duplicates" nodup $s
done

# --- tshark: what went on the wire at lmad -----------------------------------------
# tshark (4.0) names MH types 22/23 and option 57 by number only (and does
# not decode the options of 22/23) and has no
# field for the S bits: they are read from the Mobility Header octets with a
# slice of the mipv6 protocol (BU flags at octets 8-9, S = 0x0020; BA flags
# at octet 7, S = 0x04).
count() {  # count FILTER: frames of the capture that match
    tshark -r "$WORK/lma.pcapng" -Y "$1" 2>/dev/null | wc -l
}
declare -A WIRE_N
declare -A WIRE=(
    [pbu_s]='mip6.mhtype == 5 && mip6.bu.lifetime > 0 && mipv6[8:2] & 00:20'
    [dereg_s_57]='mip6.mhtype == 5 && mip6.bu.lifetime == 0 && mipv6[8:2] & 00:20 && mip6.mobility_opt == 57'
    [pba_s]='mip6.mhtype == 6 && mipv6[7:1] & 04'
    [pba_s_57]='mip6.mhtype == 6 && mipv6[7:1] & 04 && mip6.mobility_opt == 57'
    [sq]='mip6.mhtype == 22'
    [sr_i]='mip6.mhtype == 23 && mipv6[7:1] & 80'
)
summary=""
for k in pbu_s dereg_s_57 pba_s pba_s_57 sq sr_i; do
    WIRE_N[$k]=$(count "${WIRE[$k]}")
    summary+="$k=${WIRE_N[$k]} "
done
echo "# on the wire at lmad (tshark): $summary"
wire() { ((${WIRE_N[$1]:-0} > 0)); }
check "tshark: registration PBUs with S set" wire pbu_s
check "tshark: a de-registration with S set and option 57 (move 2)" wire dereg_s_57
check "tshark: a PBA with S set" wire pba_s
check "tshark: a PBA with S set and option 57 (move 2)" wire pba_s_57
check "tshark: Subscription Queries (MH type 22) (move 1)" wire sq
check "tshark: Subscription Responses (MH type 23) with the I flag (move 1)" wire sr_i
# tshark does not decode the options of types it does not know (22, 23):
# pmip-mh (our codec) shows the option 57 records they carry.
"$BUILD/tools/pmip-mh/pmip-mh" decode --pcap "$WORK/lma.pcapng" >"$WORK/mh.jsonl" 2>/dev/null
sr_records() {
    "$PY" - "$WORK/mh.jsonl" <<'PY_END'
import json, sys
found = 0
for line in open(sys.argv[1]):
    m = json.loads(line)
    if m.get("type") == "subscription_response":
        subs = [o for o in m.get("options", []) if o.get("type") == 57]
        if subs:
            found += 1
            print("#", json.dumps(subs)[:300])
sys.exit(0 if found else 1)
PY_END
}
check "pmip-mh: the Subscription Responses carry option 57 records" sr_records

finish
