#!/usr/bin/env bash
# magd's multicast mode per LMA ([multicast] lma-mode = LMA-ADDRESS MODE)
# end to end on the namespace testbed with a second LMA: the real daemons,
# the real Linux kernel as MNs.
#
#   test_pmip_lma_modes.sh BUILD_DIR
#
#   mag1 serves mn1 (anchored at lma, global mode proxy) and mn2 (anchored
#   at lma2, lma-mode listener). Each MN joins a group with an ordinary
#   socket (its own MLD Reports); mn2's profile also lists PROFILE. Checks:
#   mag1 has one instance per LMA, lma's in mode proxy with MLD on its MN
#   link, lma2's in mode listener without; the instances' log lines name
#   the modes; both MNs attach again while dumpcap captures mag1's MN links
#   (mn1 moves to mag2 and back, mn2's link goes down and up); tshark: MLD
#   Queries on mn1's link (the early one at attach and the querier's), none
#   on mn2's (though mn2's Reports are there); mn1 gets the
#   group it joined; mn2 gets PROFILE and never the group it joined itself
#   (nftables counters in the MNs' namespaces).
# Exit 1 when a check fails, 77 when the environment cannot run it.
set -u
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
BUILD=${1:?usage: test_pmip_lma_modes.sh BUILD_DIR}
OWN1=ff0e::4f30:1
OWN2=ff0e::4f30:2
PROFILE=ff0e::4f30:3
CN=2001:db8:200::2
SRC2=2001:db8:210::2

testbed_test_begin plmo
need_tools nft dumpcap tshark
need_testbed_mechanisms
export PMIP_TESTBED_MAG_LMA_MODE="2001:db8:300::1 listener"

check "testbed up (two LMAs; magd: lma2's instance in listener mode)" \
    testbed_up "$NAME" "$BUILD" 2 multicast twolmas || finish
check "mn1 gets an address from lma's pool" bash -c "$TB address $NAME 1 20 | grep -q '^2001:db8:8'"
check "mn2 gets an address from lma2's pool" bash -c "$TB address $NAME 2 20 | grep -q '^2001:db8:9'"
check "dumpcap captures on mag1's mn1" start_capture "$NAME-mag1" mn1 "$WORK/mn1.pcapng" "ip6 and not udp"
CAP1=$CAP
check "dumpcap captures on mag1's mn2" start_capture "$NAME-mag1" mn2 "$WORK/mn2.pcapng" "ip6 and not udp"
CAP2=$CAP

"$PY" - "$TB_STATE/magd-policy.json" "$PROFILE" <<'PY_END'
import json, sys
p = json.load(open(sys.argv[1]))
for e in p["mobile_nodes"]:
    if e["id"].startswith("mn2@"):
        e["multicast_channels"] = [{"group": sys.argv[2]}]
json.dump(p, open(sys.argv[1], "w"))
PY_END
$TB ctl "$NAME" mag1 reload >/dev/null 2>&1

# Both MNs attach again while the captures run: mn1 moves to mag2 and back,
# mn2's link at mag1 goes down and up (its LMA is reachable from mag1 only).
check "mn1 moves to mag2" $TB move "$NAME" 1 mag2
sleep 1
check "mn1 moves back to mag1" $TB move "$NAME" 1 mag1
check "mag1: mn2's link down" ip -n "$NAME-mag1" link set mn2 down
sleep 1
check "mag1: mn2's link up" ip -n "$NAME-mag1" link set mn2 up
registered() { q mag1 "show mns" "sorted(e['interface'] for e in d if e['state'] == 'registered')" | grep -q "'mn1', 'mn2'"; }
check "mag1: both MNs registered again" wait_until 15 registered

modes() { q mag1 "show multicast" "sorted((i['lma'], i['mode'], i['downstream_mld'], [x['name'] for x in i['downstreams']]) for i in d)"; }
want="[('2001:db8:100::1', 'proxy', True, ['mn1']), ('2001:db8:300::1', 'listener', False, ['mn2'])]"
two_modes() { [[ $(modes) == "$want" ]]; }
check "mag1: lma's instance in proxy mode with MLD on mn1's link, lma2's in listener mode without ($(modes))" \
    wait_until 10 two_modes
check "magd logged lma2's instance in listener mode" grep -q "MLD proxy instance: .*, mode listener" "$TB_STATE/magd1.log"
check "magd logged lma's instance in proxy mode" grep -q "MLD proxy instance: .*, mode proxy$" "$TB_STATE/magd1.log"

count_flows 1 $CN $OWN1
count_flows 2 $SRC2 $OWN2 $SRC2 $PROFILE
SECS=$((14 * TIME_SCALE))
$TB exec "$NAME" mn1 $METER receive --group $OWN1 --interface eth0 --port 5031 --seconds $SECS --json >/dev/null 2>&1 &
PIDS+=($!)
$TB exec "$NAME" mn2 $METER receive --group $OWN2 --interface eth0 --port 5031 --seconds $SECS --json >/dev/null 2>&1 &
PIDS+=($!)
$TB exec "$NAME" cn $METER send --to $OWN1 --interface c0 --port 5031 --rate 200 --seconds $SECS >/dev/null 2>&1 &
PIDS+=($!)
for g in $OWN2 $PROFILE; do
    $TB exec "$NAME" src2 $METER send --to $g --interface c2 --port 5031 --rate 200 --seconds $SECS >/dev/null 2>&1 &
    PIDS+=($!)
done
check "mn1: $OWN1, joined by its own Reports, arrives (proxy)" wait_until 10 flow_flowing 1 $CN $OWN1
check "mn2: $PROFILE from its profile arrives (listener)" wait_until 10 flow_flowing 2 $SRC2 $PROFILE
sleep 2
check "mn2: $OWN2, joined by its own Reports, never arrives (listener)" test "$(flow_arrived 2 $SRC2 $OWN2)" = 0
stop_pid "$CAP1" INT
stop_pid "$CAP2" INT
wire() { tshark -r "$1" -Y "$2" -T fields -e frame.number 2>/dev/null | wc -l; }
q1=$(wire "$WORK/mn1.pcapng" "icmpv6.type == 130")
q2=$(wire "$WORK/mn2.pcapng" "icmpv6.type == 130")
r2=$(wire "$WORK/mn2.pcapng" "icmpv6.type == 143 && icmpv6.mldr.mar.multicast_address == $OWN2")
echo "# tshark on mag1: $q1 MLD Queries on mn1's link; $q2 on mn2's, where mn2 sent $r2 MLDv2 Reports naming $OWN2"
check "on the wire: MLD Queries on mn1's link (proxy)" test "$q1" -ge 1
check "on the wire: no MLD Query on mn2's link (listener)" test "$q2" -eq 0
check "on the wire: mn2's own Reports are there (and ignored)" test "$r2" -ge 1
finish
