#!/usr/bin/env bash
# Issue 18, the LMA deciding an MN's channels, end to end on the namespace
# testbed: the real daemons ([multicast] pbu-m in lmad and both magd, context
# transfer off), the real Linux kernel as the MN, which never gets an MLD
# Report out (dropped by nftables in its own namespace), so only lmad's
# policy store can bring it its channels.
#
#   test_pmip_lma_profile.sh BUILD_DIR
#
#   mn1 registers at mag1 with nothing in either store. lmad's store then
#   gives mn1 an ASM group, an SSM channel and a third group that magd's own
#   profile for mn1 denies; `pmipctl reload` at lmad sends mag1 an RFC 7077
#   Update Notification (FORCE-REREGISTRATION), mag1 registers mn1 again at
#   once, and the PBA names the channels: mag1 joins the two admitted ones on
#   mn1's link (refusing the third, counted), lmad forwards them, both streams
#   reach mn1; the denied group never does. mn1 moves to mag2: mag2 has both
#   from its registration's PBA. A reload at lmad removes the SSM channel:
#   mag2 is told again, leaves it, the SSM stream stops at mn1 and the ASM
#   one goes on. A magd reload whose policy store is broken is refused whole:
#   the filter table added to its configuration file meanwhile is not applied
#   (the ASM stream goes on) until the store is repaired. On the wire at lmad
#   (dumpcap, decoded by tshark and
#   pmip-mh): the Update Notifications (MH type 19, reason 1) and the PBAs
#   naming the channels.
# Exit 1 when a check fails, 77 when the environment cannot run it.
set -u
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
BUILD=${1:?usage: test_pmip_lma_profile.sh BUILD_DIR}
ASM=ff0e::4545:1
SSM=ff3e::4545:2
DENIED=ff0e::4545:99
CN=2001:db8:200::2
PMIPMH=$BUILD/tools/pmip-mh/pmip-mh

testbed_test_begin lmaprof
need_tools nft dumpcap tshark
need_testbed_mechanisms
export PMIP_TESTBED_SIAL=off PMIP_TESTBED_PBU_M=yes

check "testbed up (lmad and magd with pbu-m on, context transfer off)" testbed_up "$NAME" "$BUILD" 1 multicast || finish
check "dumpcap captures the Mobility Header on lmad's links" start_capture "$NAME-lma" any "$WORK/lma.pcapng" "ip6 proto 135"

# magd's profile for mn1: multicast, no channels of its own, $DENIED denied.
"$PY" - "$TB_STATE/magd-policy.json" "$DENIED" <<'PY_END'
import json, sys
p = json.load(open(sys.argv[1]))
for e in p["mobile_nodes"]:
    if e["id"].startswith("mn1@"):
        e["multicast_policy"] = {"denied_groups": [sys.argv[2] + "/128"]}
json.dump(p, open(sys.argv[1], "w"))
PY_END
for m in mag1 mag2; do $TB ctl "$NAME" $m reload >/dev/null 2>&1; done
check "mn1 gets its address at mag1" $TB address "$NAME" 1 20 >/dev/null

ip netns exec "$NAME-mn1" nft -f - <<NFT
table ip6 lmaprof {
    chain out {
        type filter hook output priority 0;
        icmpv6 type { 131, 143 } counter drop
    }
    chain pre {
        type filter hook prerouting priority 0;
        ip6 daddr $ASM counter
        ip6 daddr $SSM counter
        ip6 daddr $DENIED counter
    }
}
NFT
check "mn1's MLD Reports dropped in its namespace" ip netns exec "$NAME-mn1" nft list table ip6 lmaprof >/dev/null
arrived() { ip netns exec "$NAME-mn1" nft list chain ip6 lmaprof pre | grep "daddr $1 " | grep -o 'packets [0-9]*' | awk '{print $2}'; }
flowing() { local a b; a=$(arrived "$1"); sleep 0.5; b=$(arrived "$1"); ((b > a)); }
stopped() { local a b; a=$(arrived "$1"); sleep 1; b=$(arrived "$1"); ((b == a)); }

members() { q "$1" "show multicast" "sorted(m['downstream'] for i in (d if isinstance(d, list) else [d]) for g in i['groups'] if g['group'] == '$2' for m in g['downstreams'])"; }
statics() { q "$1" "show multicast" "sorted(g['group'] for i in d for s in i['downstreams'] if s['name'] == 'mn1' for g in s['static'])"; }
lma_channels() { q "$1" "show bul" "sorted(c['group'] for e in d if e['interface'] == 'mn1' for c in e['lma_multicast_channels'])"; }
counter() { q "$1" "show counters" "$2"; }

# --- lmad's store gives mn1 its channels: a reload at lmad, a UPN to mag1 ------------
set_lma_channels() {
    "$PY" - "$TB_STATE/lmad-policy.json" "$1" <<'PY_END'
import json, sys
p = json.load(open(sys.argv[1]))
for e in p["mobile_nodes"]:
    if e["id"].startswith("mn1@"):
        e["multicast_channels"] = json.loads(sys.argv[2])
json.dump(p, open(sys.argv[1], "w"))
PY_END
}
sequence_before=$(q mag1 "show bul" "[e['sequence'] for e in d if e['interface'] == 'mn1'][0]")
set_lma_channels "[{\"group\": \"$ASM\"}, {\"group\": \"$SSM\", \"sources\": [\"$CN\"]}, {\"group\": \"$DENIED\"}]"
$TB ctl "$NAME" lma --json reload >"$WORK/reload1.json" 2>&1
echo "# lmad reload: $(tr -d '\n' <"$WORK/reload1.json")"
notified() { [[ $("$PY" -c "import json; print(json.load(open('$1'))['multicast_profiles_notified'])") == "$2" ]]; }
check "lmad: the reload notified mn1's serving MAG (1 session)" notified "$WORK/reload1.json" 1
reregistered() { [[ $(q mag1 "show bul" "[e['sequence'] for e in d if e['interface'] == 'mn1'][0]") != "$sequence_before" ]]; }
check "mag1: registered mn1 again at once (a new PBU)" wait_until 3 reregistered
both_named() { [[ $(lma_channels "$1") == "['$ASM', '$DENIED', '$SSM']" ]]; }
check "mag1: the PBA named lmad's three channels for mn1" wait_until 3 both_named mag1
admitted_at() { [[ $(statics "$1") == "['$ASM', '$SSM']" ]]; }
check "mag1: joined the two its own profile admits on mn1's link, not $DENIED" wait_until 3 admitted_at mag1
check "mag1: the refusal counted" test "$(counter mag1 "d['daemon'].get('multicast_lma_channels_refused', 0)")" -ge 1
lma_has() { [[ $(members lma "$1") != "[]" ]]; }
check "lmad: forwards the ASM group on a MAG tunnel" wait_until 5 lma_has $ASM
check "lmad: forwards the SSM channel on a MAG tunnel" wait_until 5 lma_has $SSM
check "lmad: counted the UPN sent and the re-registration it brought" \
    test "$(counter lma "d['engine']['update_notification']['reregistered']")" -ge 1
check "mag1: counted the UPN and the PBU it sent" \
    test "$(counter mag1 "d['engine']['update_notification']['reregistrations']")" -ge 1

RUN_S=$((40 * TIME_SCALE))
for g in $ASM $SSM $DENIED; do
    $TB exec "$NAME" cn $METER send --to $g --interface c0 --port 5001 --rate 200 --seconds "$RUN_S" 2>/dev/null &
    PIDS+=($!)
done
sleep 1
check "ASM stream reaches mn1 at mag1" wait_until 5 flowing $ASM
check "SSM stream reaches mn1 at mag1" wait_until 5 flowing $SSM
check "the stream of $DENIED never reaches mn1" test "$(arrived $DENIED)" -eq 0

# --- a move: mag2's registration PBA names them --------------------------------------
upn_before=$(counter lma "d['engine']['update_notification']['sent']")
$TB move "$NAME" 1 mag2
check "mag2: lmad's channels named in the PBA of mn1's registration" wait_until 5 both_named mag2
check "mag2: the two admitted ones on mn1's link" wait_until 3 admitted_at mag2
check "ASM stream reaches mn1 at mag2" wait_until 5 flowing $ASM
check "SSM stream reaches mn1 at mag2" wait_until 5 flowing $SSM
check "lmad: no UPN for a move" test "$(counter lma "d['engine']['update_notification']['sent']")" -eq "$upn_before"

# --- lmad's store drops the SSM channel: mag2 is told and leaves it --------------------
set_lma_channels "[{\"group\": \"$ASM\"}, {\"group\": \"$DENIED\"}]"
$TB ctl "$NAME" lma --json reload >"$WORK/reload2.json" 2>&1
check "lmad: the second reload notified mag2" notified "$WORK/reload2.json" 1
asm_only() { [[ $(statics mag2) == "['$ASM']" ]]; }
check "mag2: only the ASM group left on mn1's link" wait_until 3 asm_only
lma_lacks() { [[ $(members lma "$1") == "[]" ]]; }
check "lmad: no longer forwards the SSM channel" wait_until 5 lma_lacks $SSM
check "the SSM stream stops at mn1" wait_until 5 stopped $SSM
check "the ASM stream goes on" flowing $ASM
check "the stream of $DENIED never reached mn1" test "$(arrived $DENIED)" -eq 0
echo "# lmad counters: $(counter lma "json.dumps(d['engine']['update_notification']) + ' ' + json.dumps(d['engine']['pbu_m'])")"
echo "# mag2 counters: $(counter mag2 "json.dumps(d['engine']['update_notification']) + ' ' + json.dumps(d['engine']['pbu_m'])")"

# --- a reload with a broken policy store changes nothing, not even the file's filters ---
cp "$TB_STATE/magd-policy.json" "$WORK/magd-policy.good"
printf 'interface-filter = * deny %s/128\n' "$ASM" >>"$TB_STATE/magd2.conf"
echo '{"mobile_nodes": [' >"$TB_STATE/magd-policy.json"
refused_reload() { ! $TB ctl "$NAME" mag2 reload >"$WORK/reload3.txt" 2>&1; }
check "mag2: a reload with a broken policy store is refused" refused_reload
echo "# mag2 refused reload: $(tr -d '\n' <"$WORK/reload3.txt")"
check "mag2: the refusal counted" test "$(counter mag2 "d['daemon'].get('reload_failures', 0)")" -ge 1
check "the ASM stream goes on: the file's new filter table was not applied either" flowing $ASM
cp "$WORK/magd-policy.good" "$TB_STATE/magd-policy.json"
check "mag2: the same reload with the store repaired is taken" $TB ctl "$NAME" mag2 reload
check "the ASM stream stops at mn1 now that the filter table denies it" wait_until 5 stopped $ASM

# --- on the wire ---------------------------------------------------------------------
stop_pid "$CAP" INT
upns=$(tshark -r "$WORK/lma.pcapng" -Y "mip6.mhtype == 19" 2>/dev/null | wc -l)
echo "# tshark at lmad: $upns Mobility Header type 19 (Update Notification)"
check "tshark: Update Notifications (MH type 19) on the wire at lmad" test "$upns" -ge 2
"$PMIPMH" decode --pcap "$WORK/lma.pcapng" >"$WORK/mh.jsonl" 2>"$WORK/mh.err"
wire() { "$PY" - "$WORK/mh.jsonl" "$SSM" "$1" <<'PY_END'
import json, sys
path, group, what = sys.argv[1:]
msgs = [json.loads(l) for l in open(path) if l.strip()]
upn = [m for m in msgs if m.get("type") == "upn"]
def recs(m):
    return [r.get("group") for o in m.get("options", [])
            if o.get("name") == "multicast_subscription" for r in o.get("records", [])]
pba = [m for m in msgs if m.get("type") == "pba" and m.get("status") == 0 and group in recs(m)]
print("# pmip-mh at lmad: %d messages, %d UPN %s, %d PBAs naming %s"
      % (len(msgs), len(upn), [(m.get("reason"), m.get("flags")) for m in upn], len(pba), group),
      file=sys.stderr)
ok = {"upn": len(upn) >= 2 and all(m.get("reason") == 1 for m in upn),
      "pba": len(pba) >= 2}[what]
sys.exit(0 if ok else 1)
PY_END
}
check "pmip-mh: the UPNs carry reason 1 (FORCE-REREGISTRATION)" wire upn
check "pmip-mh: PBAs naming the SSM channel (mag1's re-registration, mag2's registration)" wire pba
finish
