#!/usr/bin/env bash
# draft-asaeda PBU-M end to end on the namespace testbed ([multicast] pbu-m in
# lmad and both magd; context transfer off, so the new MAG has only the
# MN's profile): the real daemons, the real Linux kernel as the MN.
#
#   test_pmip_pbu_m.sh BUILD_DIR
#
#   mn1's profile lists an ASM group (ff0e::4444:1). mn1 registers at mag1.
#   At mag2 every MLD Report leaving towards lmad through its tunnel is
#   dropped (nftables in mag2's namespace, counted), so lmad can learn the
#   group on mag2's tunnel only from mag2's PBU-M. mn1 moves to mag2: mag2's
#   PBU carried the flag (0x0008) and the group (pmip-mh decodes tshark's
#   capture at lmad), lmad forwarded it on mag2's tunnel (show multicast:
#   the group on that tunnel; anchor pbu_m_applied) and listed it in the PBA;
#   mag2 counts the PBU-M answered; the stream reaches mn1 at mag2 although
#   mag2's Reports never reach lmad (and they were really sent: the drop
#   counter moved). The renewal-free de-registration at mag1 carries no flag.
# Exit 1 when a check fails, 77 when the environment cannot run it.
set -u
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
BUILD=${1:?usage: test_pmip_pbu_m.sh BUILD_DIR}
ASM=ff0e::4444:1
PMIPMH=$BUILD/tools/pmip-mh/pmip-mh

testbed_test_begin pbum
need_tools nft dumpcap
need_testbed_mechanisms
export PMIP_TESTBED_SIAL=off PMIP_TESTBED_PBU_M=yes

check "testbed up (lmad and magd with pbu-m on, context transfer off)" testbed_up "$NAME" "$BUILD" 1 multicast || finish
check "dumpcap captures the Mobility Header on lmad's links" start_capture "$NAME-lma" any "$WORK/lma.pcapng" "ip6 proto 135"

POLICY=$TB_STATE/magd-policy.json
"$PY" - "$POLICY" "$ASM" <<'PY_END'
import json, sys
p = json.load(open(sys.argv[1]))
for e in p["mobile_nodes"]:
    if e["id"].startswith("mn1@"):
        e["multicast_channels"] = [{"group": sys.argv[2]}]
json.dump(p, open(sys.argv[1], "w"))
PY_END
for m in mag1 mag2; do $TB ctl "$NAME" $m reload >/dev/null 2>&1; done
check "mn1 gets its address at mag1" $TB address "$NAME" 1 20 >/dev/null

# mag2's MLD Reports towards lmad (out of its tunnel devices) are dropped.
ip netns exec "$NAME-mag2" nft -f - <<NFT
table ip6 pbum {
    chain out {
        type filter hook output priority 0;
        oifname != "mn*" icmpv6 type { 131, 143 } counter drop
    }
}
NFT
check "mag2's MLD Reports towards lmad dropped in its namespace" ip netns exec "$NAME-mag2" nft list table ip6 pbum >/dev/null
dropped() { ip netns exec "$NAME-mag2" nft list chain ip6 pbum out | grep -o 'packets [0-9]*' | awk '{print $2}'; }

tunnel_of() { q "$1" "show tunnels" "[t['device'] for t in d][0] if d else ''"; }
lma_members() { q lma "show multicast" "sorted(m['downstream'] for i in (d if isinstance(d, list) else [d]) for g in i['groups'] if g['group'] == '$ASM' for m in g['downstreams'])"; }
RUN_S=$((20 * TIME_SCALE))
$TB exec "$NAME" mn1 $METER receive --group $ASM --interface eth0 --port 5001 --seconds "$RUN_S" >/dev/null 2>&1 &
PIDS+=($!)
$TB exec "$NAME" cn $METER send --to $ASM --interface c0 --port 5001 --rate 200 --seconds "$RUN_S" 2>/dev/null &
PIDS+=($!)
ip netns exec "$NAME-mn1" nft -f - <<NFT
table ip6 pbumn {
    chain pre {
        type filter hook prerouting priority 0;
        ip6 daddr $ASM counter
    }
}
NFT
arrived() { ip netns exec "$NAME-mn1" nft list chain ip6 pbumn pre | grep -o 'packets [0-9]*' | awk '{print $2}'; }
flowing() { local a b; a=$(arrived); sleep 0.5; b=$(arrived); ((b > a)); }
check "the stream reaches mn1 at mag1" wait_until 5 flowing

$TB move "$NAME" 1 mag2
T2=
registered2() { T2=$(tunnel_of mag2); [[ -n $T2 ]] && [[ $(q mag2 "show counters" "d['engine']['pbu_m']['answered']") -ge 1 ]]; }
check "mag2: its PBU-M answered by lmad (show counters)" wait_until 10 registered2
echo "# mag2 pbu_m: $(q mag2 "show counters" "d['engine']['pbu_m']"); lmad pbu_m: $(q lma "show counters" "d['engine']['pbu_m'] if 'engine' in d else d['pbu_m']")"
check "mag2: one channel asked for and granted" test "$(q mag2 "show counters" "d['engine']['pbu_m']['records_granted']")" -ge 1
check "lmad: the anchor set it up on a MAG tunnel (pbu_m_applied)" test "$(q lma "show multicast" "(d[0] if isinstance(d, list) else d)['anchor']['pbu_m_applied']")" -ge 1
MAG2_TUNNEL=$(q lma "show tunnels" "[t['device'] for t in d if t['peer'] == '2001:db8:102::12'][0]")
on_mag2_tunnel() { [[ $(lma_members) == *"'$MAG2_TUNNEL'"* ]]; }
check "lmad: forwards $ASM on mag2's tunnel ($MAG2_TUNNEL)" wait_until 5 on_mag2_tunnel
echo "# lmad members of $ASM: $(lma_members)"
check "the stream reaches mn1 at mag2" wait_until 5 flowing
sleep 1
check "mag2 did send MLD Reports towards lmad (all dropped): only the PBU-M asked" test "$(dropped)" -gt 0
check "the stream still reaches mn1 at mag2 a second later" flowing

stop_pid "$CAP" INT
"$PMIPMH" decode --pcap "$WORK/lma.pcapng" >"$WORK/mh.jsonl" 2>"$WORK/mh.err"
wire() { "$PY" - "$WORK/mh.jsonl" "$ASM" "$1" <<'PY_END'
import json, sys
path, group, what = sys.argv[1:]
msgs = [json.loads(l) for l in open(path) if l.strip()]
def recs(m):
    return [r.get("group") for o in m.get("options", [])
            if o.get("name") == "multicast_subscription" and o.get("type") == 200 for r in o.get("records", [])]
pbu_m = [m for m in msgs if m.get("type") == "pbu" and m.get("lifetime", 0) > 0 and "C" in m.get("flags", [])
         and group in recs(m)]
pba_m = [m for m in msgs if m.get("type") == "pba" and m.get("status") == 0 and group in recs(m)]
dereg_c = [m for m in msgs if m.get("type") == "pbu" and m.get("lifetime") == 0 and "C" in m.get("flags", [])]
print("# pmip-mh at lmad: %d messages, %d PBU-M with %s, %d PBAs listing it, %d de-registrations with C"
      % (len(msgs), len(pbu_m), group, len(pba_m), len(dereg_c)), file=sys.stderr)
ok = {"pbu": len(pbu_m) >= 1, "pba": len(pba_m) >= 1, "dereg": len(dereg_c) == 0}[what]
sys.exit(0 if ok else 1)
PY_END
}
grep '"C"' "$WORK/mh.jsonl" | head -1
check "on the wire at lmad: a PBU with the C flag and $ASM in its multicast subscription option" wire pbu
check "on the wire at lmad: a PBA listing $ASM" wire pba
check "on the wire at lmad: no de-registration with the C flag" wire dereg
finish
