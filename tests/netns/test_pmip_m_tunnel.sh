#!/usr/bin/env bash
# draft-asaeda's M-Tunnel end to end on the namespace testbed ([multicast]
# m-tunnel in lmad and both magd): one GRE tunnel per MAG-LMA pair, key
# 0xffffffff both ways, carries the multicast data and MLD; unicast stays in
# its own tunnels. The real daemons, the real Linux kernel as the MNs.
#
#   test_pmip_m_tunnel.sh BUILD_DIR [dynamic|static]
#
#   Two MNs at mag1. static: mag2, which has no MN, has its M-Tunnel to lmad
#   from the start and lmad has one to each MAG (listed in m-tunnel-mag), a
#   downstream of its querier; dynamic: neither exists until an MN needs it.
#   Both MNs' profiles are switched by reload to "tunnel": "gre-key" (a
#   unicast tunnel per MN) with the channel (2001:db8:200::2, ff3e::4444:1)
#   joined on their behalf. Checks: mag1 has two keyed unicast tunnels and
#   one M-Tunnel; one proxy instance, its upstream the M-Tunnel, with both
#   MN links; lmad forwards the channel into mag1's M-Tunnel only; the stream
#   reaches both MNs. On the wire (dumpcap at lmad's link to mag1, read by
#   tshark): every packet of the stream is in GRE with key 0xffffffff and
#   none is sent twice (without the M-Tunnel it crosses once per MN tunnel),
#   mag1's MLD Reports go in the M-Tunnel, no MLD in the unicast tunnels.
#   mn1 moves to mag2: the stream follows through mag2's M-Tunnel. mn2
#   detaches: dynamic: mag1's instance and M-Tunnel go, and lmad's to mag1
#   with the binding; static: both M-Tunnels stay.
# Exit 1 when a check fails, 77 when the environment cannot run it.
set -u
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
BUILD=${1:?usage: test_pmip_m_tunnel.sh BUILD_DIR [dynamic|static]}
MODE=${2:-dynamic}
[[ $MODE =~ ^(dynamic|static)$ ]] || { echo "mode: dynamic or static" >&2; exit 2; }
CH=ff3e::4444:1 CH2=ff3e::4444:2
CN=2001:db8:200::2
KEY=4294967295
LMA=2001:db8:100::1 MAG1=2001:db8:101::11 MAG2=2001:db8:102::12

testbed_test_begin mtun
need_tools nft dumpcap tshark
need_testbed_mechanisms
export PMIP_TESTBED_M_TUNNEL=$MODE
check "testbed up (m-tunnel = $MODE in lmad and both magd, two MNs at mag1)" \
    testbed_up "$NAME" "$BUILD" 2 multicast || finish
check "mn1 gets its address at mag1" $TB address "$NAME" 1 20 >/dev/null
check "mn2 gets its address at mag1" $TB address "$NAME" 2 20 >/dev/null

# m_tunnels WHO PEER: the devices WHO has towards PEER with the M-Tunnel's key.
m_tunnels() { q "$1" "show tunnels" "sorted(t['device'] for t in d if t['input_key'] == $KEY and t['output_key'] == $KEY and t['peer'] == '$2')"; }
lma_downstreams() { q lma "show multicast" "sorted(s['name'] for s in d['downstreams'])"; }
if [[ $MODE == static ]]; then
    check "static: mag2 (no MN) has its M-Tunnel to lmad from the start" test "$(m_tunnels mag2 $LMA)" != "[]"
    check "static: lmad has an M-Tunnel to mag2 (no binding) from the start" test "$(m_tunnels lma $MAG2)" != "[]"
    M2_AT_LMA=$(q lma "show tunnels" "[t['device'] for t in d if t['input_key'] == $KEY and t['peer'] == '$MAG2'][0]")
    check "static: lmad's querier runs on it ($M2_AT_LMA a downstream)" grep -q "'$M2_AT_LMA'" <<<"$(lma_downstreams)"
else
    check "dynamic: mag2 (no MN) has no M-Tunnel" test "$(m_tunnels mag2 $LMA)" = "[]"
    check "dynamic: lmad has no M-Tunnel to mag2 (no binding)" test "$(m_tunnels lma $MAG2)" = "[]"
fi
echo "# lmad: show multicast m_tunnel $(q lma "show multicast" "d['m_tunnel']"), downstreams $(lma_downstreams)"

gre_key_profiles "$CH" "$CN"
check "lmad: the store reloaded with gre-key tunnels" $TB ctl "$NAME" lma reload >/dev/null
for m in mag1 mag2; do $TB ctl "$NAME" $m reload >/dev/null 2>&1; done
keyed_unicast() { q mag1 "show tunnels" "len([t for t in d if t['kind'] == 'gre' and t['input_key'] not in (None, $KEY)])"; }
registered_again() { [[ $(keyed_unicast) == 2 && $(m_tunnels mag1 $LMA) != "[]" ]]; }
check "mag1: two keyed unicast tunnels (one per MN) and one M-Tunnel" wait_until 10 registered_again
M1=$(q mag1 "show tunnels" "[t['device'] for t in d if t['input_key'] == $KEY][0]")
echo "# mag1 tunnels: $(q mag1 "show tunnels" "[(t['device'], t['kind'], t['input_key'], t['output_key']) for t in d]")"
instances() { q mag1 "show multicast" "[(i['upstream']['name'], i['m_tunnel'], sorted(s['name'] for s in i['downstreams']), sorted(g['group'] for g in i['groups'])) for i in d]"; }
one_instance() {
    "$PY" -c "
import ast, sys
v = ast.literal_eval(sys.argv[1])
sys.exit(0 if len(v) == 1 and v[0][0] == '$M1' and v[0][1] and v[0][2] == ['mn1', 'mn2'] and '$CH' in v[0][3] else 1)" "$(instances)"
}
check "mag1: one proxy instance, upstream the M-Tunnel $M1, with mn1 and mn2 and the channel" wait_until 10 one_instance
echo "# mag1 instances: $(instances)"
M1_AT_LMA=$(q lma "show tunnels" "[t['device'] for t in d if t['input_key'] == $KEY and t['peer'] == '$MAG1'][0]")
ch_downstreams() { q lma "show multicast" "sorted(m['downstream'] for g in d['groups'] if g['group'] == '$CH' for m in g['downstreams'])"; }
only_m1() { [[ $(ch_downstreams) == "['$M1_AT_LMA']" ]]; }
check "lmad: the channel forwarded into mag1's M-Tunnel ($M1_AT_LMA) only" wait_until 10 only_m1
echo "# lmad: $CH on $(ch_downstreams)"

for i in 1 2; do count_arrivals $i $CH; done
check "dumpcap captures GRE on lmad's link to mag1" start_capture "$NAME-lma" l1 "$WORK/l1.pcapng" "ip6 proto 47"
$TB exec "$NAME" cn $METER send --to $CH --interface c0 --port 5007 --rate 200 --seconds $((14 * TIME_SCALE)) 2>/dev/null &
PIDS+=($!)
check "the stream reaches mn1 at mag1" wait_until 5 mn_flowing 1
check "the stream reaches mn2 at mag1" wait_until 5 mn_flowing 2
# A second channel in both profiles, applied in place: mag1's proxy reports
# it upstream (a State Change Report) while the capture runs.
"$PY" - "$TB_STATE/magd-policy.json" "$CH2" "$CN" <<'PY_END'
import json, sys
p = json.load(open(sys.argv[1]))
for e in p["mobile_nodes"]:
    e["multicast_channels"].append({"group": sys.argv[2], "sources": [sys.argv[3]]})
json.dump(p, open(sys.argv[1], "w"))
PY_END
$TB ctl "$NAME" mag1 reload >/dev/null 2>&1
ch2_on_m1() { [[ $(q lma "show multicast" "sorted(m['downstream'] for g in d['groups'] if g['group'] == '$CH2' for m in g['downstreams'])") == "['$M1_AT_LMA']" ]]; }
check "lmad: the second channel ($CH2) reported by mag1 in its M-Tunnel" wait_until 5 ch2_on_m1
sleep 1
stop_pid "$CAP" INT

wire() {
    "$PY" - "$WORK/l1.pcapng" "$CH" "$KEY" "$1" "$CH2" <<'PY_END'
import subprocess, sys
pcap, group, key, what = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
def rows(flt, fields):
    out = subprocess.run(["tshark", "-r", pcap, "-Y", flt, "-T", "fields"] + sum((["-e", f] for f in fields), []),
                         capture_output=True, text=True).stdout
    return [l.split("\t") for l in out.splitlines() if l.strip()]
data = rows("gre && udp && ipv6.dst == %s" % group, ["gre.key", "udp.payload"])
keys = {}
for k, _ in data:
    keys[k] = keys.get(k, 0) + 1
payloads = [p for _, p in data]
# The proxy's reports (the kernel's own for a tunnel's link-local address
# go in each tunnel: not the proxy's).
mld = rows("gre && icmpv6.type == 143 && icmpv6.mldr.mar.multicast_address == %s" % sys.argv[5], ["gre.key", "ipv6.src"])
mld_keys = {}
for k, _ in mld:
    mld_keys[k] = mld_keys.get(k, 0) + 1
print("# tshark at lmad l1: stream packets by GRE key %s, %d distinct of %d; MLDv2 Reports naming the second channel by GRE key %s"
      % (keys, len(set(payloads)), len(payloads), mld_keys), file=sys.stderr)
k = "0x%08x" % key
ok = {
    "stream": len(payloads) > 100 and set(keys) <= {k, str(key)},
    "once": len(payloads) > 100 and len(set(payloads)) == len(payloads),
    "mld": len(mld) >= 1 and set(mld_keys) <= {k, str(key)},
}[what]
sys.exit(0 if ok else 1)
PY_END
}
check "on the wire: every packet of the stream in the M-Tunnel (GRE key 0xffffffff)" wire stream
check "on the wire: no packet of the stream sent twice to mag1 (not once per MN tunnel)" wire once
check "on the wire: mag1's MLDv2 Reports of $CH2 in the M-Tunnel, none in the unicast tunnels" wire mld

$TB move "$NAME" 1 mag2
at_mag2() { [[ $(m_tunnels mag2 $LMA) != "[]" ]] && q mag2 "show multicast" "[i['upstream']['name'] for i in d]" | grep -q "'$(q mag2 "show tunnels" "[t['device'] for t in d if t['input_key'] == $KEY][0]")'"; }
check "mag2: mn1's instance on its M-Tunnel" wait_until 10 at_mag2
check "the stream reaches mn1 at mag2" wait_until 5 mn_flowing 1
check "the stream still reaches mn2 at mag1" mn_flowing 2
M2_AT_LMA=$(q lma "show tunnels" "[t['device'] for t in d if t['input_key'] == $KEY and t['peer'] == '$MAG2'][0]")
on_m2() { [[ $(ch_downstreams) == *"'$M2_AT_LMA'"* ]]; }
check "lmad: the channel forwarded into mag2's M-Tunnel ($M2_AT_LMA)" wait_until 5 on_m2

ip -n "$NAME-mn2" link set p1 down
if [[ $MODE == dynamic ]]; then
    mag1_clean() { [[ $(q mag1 "show multicast" "len(d)") == 0 && $(m_tunnels mag1 $LMA) == "[]" ]]; }
    check "dynamic: mn2 detached: mag1's instance and M-Tunnel gone" wait_until 5 mag1_clean
    lma_clean() { [[ $(m_tunnels lma $MAG1) == "[]" && $(lma_downstreams) != *"'$M1_AT_LMA'"* ]]; }
    check "dynamic: lmad's M-Tunnel to mag1 gone with the binding" wait_until 10 lma_clean
else
    mag1_instance_gone() { [[ $(q mag1 "show multicast" "len(d)") == 0 ]]; }
    check "static: mn2 detached: mag1's instance gone" wait_until 5 mag1_instance_gone
    sleep 2
    check "static: mag1's M-Tunnel stays" test "$(m_tunnels mag1 $LMA)" = "['$M1']"
    check "static: lmad's M-Tunnel to mag1 stays, its querier's downstream" grep -q "'$M1_AT_LMA'" <<<"$(lma_downstreams)"
fi
check "the stream still reaches mn1 at mag2" mn_flowing 1
for who in mag1 mag2 lma; do
    echo "# $who: m_tunnels_created $(q $who "show counters" "d['daemon'].get('m_tunnels_created', 0)"), m_tunnel_errors $(q $who "show counters" "d['daemon'].get('m_tunnel_errors', 0)")"
    check "$who: no M-Tunnel errors" test "$(q $who "show counters" "d['daemon'].get('m_tunnel_errors', 0)")" = 0
done
finish
