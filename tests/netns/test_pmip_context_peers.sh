#!/usr/bin/env bash
# draft-asaeda Figure 6 end to end on the namespace testbed: the previous
# MAG's multicast context goes straight to the new MAG (magd [multicast]
# context-peer, RFC 7161 Subscription Query / Response between the MAGs)
# while lmad does no SIAL at all ([sial] enabled = false, as an LMA that
# does not know RFC 7161). The real daemons, the real Linux kernel as the
# MN, its MLD Reports held back (nftables in its namespace) across the move.
#
#   test_pmip_context_peers.sh BUILD_DIR
#
#   mn1 at mag1 listens to an ASM group (ff3e::4545:1) and an SSM channel
#   (2001:db8:200::2, ff3e::4545:2); the correspondent streams both. mn1's
#   Reports held, it moves to mag2: mag2 has both on mn1's link while mn1 is
#   silent, counted as a context from a peer (context_peers counters; lmad's
#   SIAL counters stay 0), and both streams reach mn1 at mag2 within 1.5 s.
#   tshark at lmad (which routes between the MAGs) sees the Subscription
#   Query mag2 -> mag1 (MH type 22) and the Response mag1 -> mag2 with the I
#   flag (type 23), and no RFC 7161 message to or from lmad.
# Exit 1 when a check fails, 77 when the environment cannot run it.
set -u
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
BUILD=${1:?usage: test_pmip_context_peers.sh BUILD_DIR}
ASM=ff3e::4545:1
SSM=ff3e::4545:2
CN=2001:db8:200::2
MAG1=2001:db8:101::11
MAG2=2001:db8:102::12

testbed_test_begin cpeer
need_tools tshark dumpcap nft
need_testbed_mechanisms
export PMIP_TESTBED_SIAL=sial PMIP_TESTBED_LMA_SIAL=off PMIP_TESTBED_CONTEXT_PEERS=yes

check "testbed up (magd: SIAL and each other as context peers; lmad: no SIAL)" testbed_up "$NAME" "$BUILD" 1 multicast || finish
check "mn1 gets its address at mag1" $TB address "$NAME" 1 20 >/dev/null
RUN_S=$((12 * TIME_SCALE))
RESUME_MS=$((1500 * TIME_SCALE))
members() { q "$1" "show multicast" "sorted(m['downstream'] for i in (d if isinstance(d, list) else [d]) for g in i['groups'] if g['group'] == '$2' for m in g['downstreams'])"; }
member() { [[ $(members "$1" "$2") == "['mn1']" ]]; }
both_at() { member "$1" $ASM && member "$1" $SSM; }

$TB exec "$NAME" mn1 $METER receive --group $ASM --interface eth0 --port 5001 --seconds "$RUN_S" --gap-ms 100 --json >"$WORK/asm.json" &
PIDS+=($!)
RX_ASM=$!
$TB exec "$NAME" mn1 $METER receive --group $SSM --source $CN --interface eth0 --port 5002 --seconds "$RUN_S" --gap-ms 100 --json >"$WORK/ssm.json" &
PIDS+=($!)
RX_SSM=$!
check "mag1: mn1 reported both channels" wait_until 10 both_at mag1
$TB exec "$NAME" cn $METER send --to $ASM --interface c0 --port 5001 --rate 1000 --seconds $((RUN_S - 2)) 2>/dev/null &
PIDS+=($!)
TX_ASM=$!
$TB exec "$NAME" cn $METER send --to $SSM --interface c0 --port 5002 --rate 1000 --seconds $((RUN_S - 2)) 2>/dev/null &
PIDS+=($!)
TX_SSM=$!
sleep 2
check "dumpcap captures the Mobility Header on lmad's links" start_capture "$NAME-lma" any "$WORK/lma.pcapng" "ip6 proto 135"

ip netns exec "$NAME-mn1" nft -f - <<'NFT'
table ip6 cpeer_hold {
    chain out {
        type filter hook output priority 0;
        icmpv6 type { 131, 143 } counter drop
    }
}
NFT
check "mn1's MLD Reports held in its namespace" ip netns exec "$NAME-mn1" nft list table ip6 cpeer_hold >/dev/null
$TB move "$NAME" 1 mag2
check "mag2's proxy has both channels on mn1's link while mn1 is silent" wait_until $((5 * TIME_SCALE)) both_at mag2
peer_applied() { (($(q mag2 "show counters" "d['engine']['context_peers']['contexts_applied']") >= 1)); }
check "mag2: the context came from its peer mag1 (context_peers.contexts_applied)" peer_applied
echo "# mag2 context_peers: $(q mag2 "show counters" "d['engine']['context_peers']")"
echo "# mag1 context_peers: $(q mag1 "show counters" "d['engine']['context_peers']")"
lma_quiet() { [[ $(q lma "show counters" "sum(v for v in d['engine']['sial'].values())") == 0 ]]; }
check "lmad: no RFC 7161 activity at all (its SIAL is off)" lma_quiet
sleep 3
held=$(ip netns exec "$NAME-mn1" nft list table ip6 cpeer_hold | grep -o 'packets [0-9]*' | awk '{print $2}')
echo "# mn1 tried to send ${held:-0} MLD Reports, all dropped"
check "mn1 really was held from reporting (its Reports were dropped)" test "${held:-0}" -gt 0
check "still both channels on mn1's link at mag2 after 3 s of silence" both_at mag2
ip netns exec "$NAME-mn1" nft delete table ip6 cpeer_hold
gone_from_old() { [[ $(members mag1 $ASM) == "[]" ]]; }
check "mag1 keeps no state for mn1 (RFC 6224 section 6)" wait_until 5 gone_from_old
stop_pid $CAP INT
wait $TX_ASM $TX_SSM
wait $RX_ASM $RX_SSM
for s in asm ssm; do
    "$PY" - "$WORK/$s.json" "$s" <<'PY_END'
import json, sys
r = json.load(open(sys.argv[1]))
print(f"# {sys.argv[2]}: received {r['received']}, lost {r['lost']}, largest gap {r['max_gap_ms']} ms, duplicates {r['duplicates']}")
PY_END
    gap_ok() { "$PY" -c "import json,sys; r=json.load(open('$WORK/$1.json')); sys.exit(0 if r['received'] > 0 and r['max_gap_ms'] < $RESUME_MS else 1)"; }
    check "$s stream: back at mn1 within $RESUME_MS ms after the move, its Reports held" gap_ok $s
done

count() { tshark -r "$WORK/lma.pcapng" -Y "$1" 2>/dev/null | wc -l; }
SQ=$(count "mip6.mhtype == 22 && ipv6.src == $MAG2 && ipv6.dst == $MAG1")
SR=$(count "mip6.mhtype == 23 && ipv6.src == $MAG1 && ipv6.dst == $MAG2 && mipv6[7:1] & 80")
LMA7161=$(count "(mip6.mhtype == 22 || mip6.mhtype == 23) && (ipv6.src == 2001:db8:100::1 || ipv6.dst == 2001:db8:100::1)")
echo "# tshark at lmad: Subscription Queries mag2->mag1 $SQ, Responses with I mag1->mag2 $SR, RFC 7161 messages of lmad $LMA7161"
check "tshark: a Subscription Query from mag2 to mag1" test "$SQ" -ge 1
check "tshark: a Subscription Response with the I flag from mag1 to mag2" test "$SR" -ge 1
check "tshark: no Subscription Query or Response to or from lmad" test "$LMA7161" -eq 0
finish
