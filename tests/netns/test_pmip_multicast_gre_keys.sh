#!/usr/bin/env bash
# Multicast for MNs with tunnels of their own (GRE keys, RFC 5845: one tunnel
# per MN between the same MAG and LMA) on the namespace testbed: magd keeps
# one MLD proxy instance per upstream tunnel, so the second MN's tunnel does
# not replace the first MN's instance (it did: one instance per LMA, made
# anew for the new tunnel device, and the first MN's link lost its state).
#
#   test_pmip_multicast_gre_keys.sh BUILD_DIR
#
#   Two MNs at mag1, first reaching each other through the LMA (what leaves
#   the tunnel goes to the other MN's link, not back into the tunnel); their
#   profiles switched by reload to "tunnel": "gre-key"
#   with the channel (2001:db8:200::2, ff3e::4444:1) in "multicast_channels"
#   (so no MLD timing is involved); both register again. Checks: two GRE
#   tunnels at mag1, two proxy instances (one per tunnel), each with its MN's
#   link and the channel; lmad forwards the channel into both tunnels; the
#   stream reaches both MNs; mn1 detaches: its instance goes, mn2's stays and
#   its stream goes on.
# Exit 1 when a check fails, 77 when the environment cannot run it.
set -u
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
BUILD=${1:?usage: test_pmip_multicast_gre_keys.sh BUILD_DIR}
CH=ff3e::4444:1
CN=2001:db8:200::2

testbed_test_begin mgk
need_tools nft
need_testbed_mechanisms
check "testbed up (lmad, magd at mag1 and mag2, two MNs)" testbed_up "$NAME" "$BUILD" 2 multicast || finish
check "mn1 gets its address at mag1" $TB address "$NAME" 1 20 >/dev/null
check "mn2 gets its address at mag1" $TB address "$NAME" 2 20 >/dev/null
# Two MNs of one MAG talk through the LMA (RFC 5213 6.10.3: no local routing
# by default); what comes back out of the tunnel must go to mn2's link, not
# into the tunnel again by its source (it looped until its hop limit ran out).
A2=$($TB address "$NAME" 2 5)
check "mn1 reaches mn2 ($A2) at the same MAG through the LMA" \
    ip netns exec "$NAME-mn1" ping -6 -c3 -i0.2 -W2 "$A2"

gre_key_profiles "$CH" "$CN"
check "lmad: the store reloaded with gre-key tunnels" $TB ctl "$NAME" lma reload >/dev/null
$TB ctl "$NAME" mag1 --json reload >"$WORK/reload.json" 2>&1
echo "# mag1 reload: $(tr -d '\n' <"$WORK/reload.json")"
gre_tunnels() { [[ $(q mag1 "show tunnels" "len([t for t in d if t.get('kind', t.get('type', '')).startswith('gre')])") == 2 ]]; }
check "mag1: both MNs registered again with a GRE tunnel each" wait_until 10 gre_tunnels
instances() { q mag1 "show multicast" "sorted((i['upstream']['name'], tuple(sorted(s['name'] for s in i['downstreams'])), tuple(g['group'] for g in i['groups'])) for i in d)"; }
two_instances() {
    "$PY" -c "
import ast, sys
v = ast.literal_eval(sys.argv[1])
ok = len(v) == 2 and len({u for u, _, _ in v}) == 2 and sorted(d for _, ds, _ in v for d in ds) == ['mn1', 'mn2'] \
     and all(len(ds) == 1 and '$CH' in gs for _, ds, gs in v)
sys.exit(0 if ok else 1)" "$(instances)"
}
check "mag1: two proxy instances, one per GRE tunnel, each with its MN's link and the channel" wait_until 10 two_instances
echo "# mag1 instances: $(instances)"
lma_tunnels() { [[ $(q lma "show multicast" "len([m for g in d['groups'] if g['group'] == '$CH' for m in g['downstreams']])") == 2 ]]; }
check "lmad: the channel forwarded into both tunnels" wait_until 10 lma_tunnels

for i in 1 2; do count_arrivals $i $CH; done
$TB exec "$NAME" cn $METER send --to $CH --interface c0 --port 5005 --rate 200 --seconds $((12 * TIME_SCALE)) 2>/dev/null &
PIDS+=($!)
sleep 1
check "the stream reaches mn1" wait_until 5 mn_flowing 1
check "the stream reaches mn2" wait_until 5 mn_flowing 2

ip -n "$NAME-mn1" link set p1 down
one_left() { [[ $(q mag1 "show multicast" "sorted(s['name'] for i in d for s in i['downstreams'])") == "['mn2']" ]]; }
check "mn1 detached: its instance gone, mn2's kept" wait_until 5 one_left
check "the stream still reaches mn2" mn_flowing 2

finish
