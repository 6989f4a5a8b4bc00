#!/usr/bin/env bash
# The tunnel made while an MN's first PBU is out ([tunnel] prepare, the
# default) with the real kernel on the namespace testbed: lmad is held
# (SIGSTOP) so the PBA cannot come, and what magd holds in the meantime is
# checked, then what it does with the answer and without one.
#
#   test_pmip_prepared_tunnel.sh BUILD_DIR
#
#   mn1 registers at mag1. lmad held; mn1 moves to mag2: mag2 has the tunnel
#   to the LMA, down (its device not UP), counted tunnels_prepared, and the
#   MLD proxy instance on it with no downstream yet, mn1's link prepared
#   (its MIF, rule and router groups made ahead). lmad let go: the
#   registration completes, the tunnel is up, the instance has mn1's link,
#   mn1 reaches the correspondent. lmad held again; mn1 moves to mag1, and
#   away again before any PBA: mag1 releases the tunnel it prepared (no
#   device left, no instance). lmad let go: mn1 ends at mag2 with service.
# Exit 1 when a check fails, 77 when the environment cannot run it.
set -u
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
BUILD=${1:?usage: test_pmip_prepared_tunnel.sh BUILD_DIR}
CN=2001:db8:200::2

testbed_test_begin ptn
need_testbed_mechanisms
LMAD_PID=
cleanup_hook() { [[ -n $LMAD_PID ]] && kill -CONT "$LMAD_PID" 2>/dev/null; return 0; }
check "testbed up (lmad, magd at mag1 and mag2, one MN)" testbed_up "$NAME" "$BUILD" 1 multicast || finish
check "mn1 gets its address at mag1" $TB address "$NAME" 1 20 >/dev/null
LMAD_PID=$(cat "$TB_STATE/lmad.pid")
hold() { kill -STOP "$LMAD_PID"; }
release() { kill -CONT "$LMAD_PID"; }

tunnels() { q "$1" "show tunnels" "';'.join(sorted(t['device'] + ('/up' if t['up'] else '/down') + '/' + str(t['references']) for t in d))"; }
device_up() { ip -n "$NAME-$1" -o link show dev "$2" | grep -q '[<,]UP[,>]'; }
device_exists() { ip -n "$NAME-$1" -o link show dev "$2" >/dev/null 2>&1; }
instances() { q "$1" "show multicast" "';'.join(sorted(i['upstream']['name'] + ':' + ','.join(sorted(s['name'] for s in i['downstreams'])) for i in d))"; }
prepared_count() { q "$1" "show counters" "d['engine']['tunnels_prepared'] if 'engine' in d else d['tunnels_prepared']"; }

hold
$TB move "$NAME" 1 mag2
one_prepared() { [[ $(tunnels mag2) == *"/down/1" ]]; }
check "mag2: the tunnel to the LMA prepared, down, one reference, while the PBU is out" wait_until 5 one_prepared
T=$(tunnels mag2); T=${T%%/*}
echo "# mag2 tunnels: $(tunnels mag2); instances: $(instances mag2); prepared: $(prepared_count mag2)"
check "mag2: its device $T exists and is not UP" bash -c "ip -n '$NAME-mag2' -o link show dev '$T' && ! ip -n '$NAME-mag2' -o link show dev '$T' | grep -q '[<,]UP[,>]'"
instance_ready() { [[ $(instances mag2) == "$T:" ]]; }
check "mag2: the MLD proxy instance on $T, no downstream yet" wait_until 5 instance_ready
pcount() { q mag2 "show multicast" "sum(i['counters']['$1'] for i in d)"; }
mn_link_prepared() { (($(pcount downstreams_prepared) >= 1)); }
check "mag2: mn1's link prepared ahead (MIF, rule, router groups) without being a downstream" wait_until 5 mn_link_prepared
check "mag2: counted in tunnels_prepared" test "$(prepared_count mag2)" -ge 1
release
registered() { [[ $(tunnels mag2) == "$T/up/1" ]] && [[ $(instances mag2) == "$T:mn1" ]]; }
check "lmad answers: $T up with the binding's reference, mn1's link a downstream" wait_until 10 registered
check "mag2: the downstream took over what was prepared for it" test "$(pcount downstreams_prepared_used)" -ge 1
check "mag2: $T is UP in the kernel" device_up mag2 "$T"
check "mn1 reaches the correspondent through mag2" $TB exec "$NAME" mn1 ping -6 -c 1 -W 2 "$CN"

hold
$TB move "$NAME" 1 mag1
prepared1() { [[ $(tunnels mag1) == *"/down/1" ]]; }
check "mag1: a tunnel prepared again while lmad is held" wait_until 5 prepared1
T1=$(tunnels mag1); T1=${T1%%/*}
$TB move "$NAME" 1 mag2
abandoned() { [[ -z $(tunnels mag1) ]] && [[ -z $(instances mag1) ]] && ! device_exists mag1 "$T1"; }
check "mag1: the MN left before any PBA: the prepared tunnel and its instance are gone" wait_until 10 abandoned
echo "# mag1 tunnels: '$(tunnels mag1)'; instances: '$(instances mag1)'"
release
back() { [[ $(tunnels mag2) == *"/up/1" ]] && [[ $(instances mag2) == *":mn1" ]]; }
check "mn1 registered at mag2 again" wait_until 15 back
check "mn1 reaches the correspondent through mag2" wait_until 10 $TB exec "$NAME" mn1 ping -6 -c 1 -W 1 "$CN"
finish
