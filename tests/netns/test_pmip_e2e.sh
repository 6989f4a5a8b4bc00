#!/usr/bin/env bash
# magd and lmad end to end with the real Linux kernel as the mobile node
# (issue 5 "Evidence expected"; DESIGN.md section 3).
#
#   test_pmip_e2e.sh PATH/magd PATH/lmad PATH/pmipctl
#
# Topology (namespace names carry this shell's PID, so runs never meet):
#
#   pme-PID-cn          pme-PID-lma                   pme-PID-mag1 / -mag2
#   c0 2001:db8:200::2 - l0 2001:db8:200::1          u1 2001:db8:101::11 (mag1)
#                        lo 2001:db8:100::1 (LMAA)    u2 2001:db8:102::12 (mag2)
#                        l1 2001:db8:101::1 -------- u1
#                        l2 2001:db8:102::1 -------- u2
#                        lmad (userspace tunnels)     magd (userspace tunnels)
#
#   pme-PID-mn: eth0 (MAC 02:00:00:00:00:01) <-> mn1 in mag1 (later mag2):
#   the kernel does SLAAC from magd's RA and pings the correspondent.
#
# Checks, one line each: magd --check; the MN gets an address inside the
# LMA's pool by SLAAC from an RA sent from fe80::200:5eff:fe00:5213 (time
# from link up printed); pmipctl show mns / show bindings agree; ping to the
# correspondent through both tunnels; handover: the MAG side of the MN's link
# is moved from mag1 to mag2 while the MN pings every 10 ms: same address,
# pings continue, lost pings and the gap printed; lmad's binding now at mag2;
# mag1 has no binding, route, rule or tunnel left; detach (link down at mag2)
# leaves no binding, route, rule or tunnel on either side; tshark decodes
# every PBU/PBA on the wire with no malformed or expert warnings; SIGTERM
# leaves no tunnel device, proto 213 route or rule, and restores the access
# device's MAC.
#
# Exit 1 if any check failed, 77 ("SKIPPED: reason") when not root or a tool
# is missing. Everything is removed on exit (trap cleanup EXIT).
set -u

MAGD=${1:?usage: test_pmip_e2e.sh PATH/magd PATH/lmad PATH/pmipctl}
LMAD=${2:?usage}
PMIPCTL=${3:?usage}
PY=/usr/bin/python3

if [[ $(id -u) -ne 0 ]]; then
    echo "SKIPPED: needs root (network namespaces, TUN devices, raw sockets)"
    exit 77
fi
for tool in ip tshark dumpcap ping "$PY"; do
    if ! command -v "$tool" >/dev/null; then
        echo "SKIPPED: $tool not installed"
        exit 77
    fi
done
if [[ ! -c /dev/net/tun ]]; then
    echo "SKIPPED: no /dev/net/tun (userspace tunnel backend)"
    exit 77
fi

ID=$$
P=pme-$ID
NS_CN=$P-cn NS_LMA=$P-lma NS_MAG1=$P-mag1 NS_MAG2=$P-mag2 NS_MN=$P-mn
WORK=$(mktemp -d /tmp/pme-$ID.XXXXXX)
LMA=2001:db8:100::1
MAG1=2001:db8:101::11
MAG2=2001:db8:102::12
CN=2001:db8:200::2
MN_MAC=02:00:00:00:00:01
ACCESS_MAC=02:00:00:00:01:01
PIDS=()
CAPTURES=()
FAILURES=0

cleanup() {
    for pid in "${CAPTURES[@]}" "${PIDS[@]}"; do
        kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    done
    for ns in $NS_CN $NS_LMA $NS_MAG1 $NS_MAG2 $NS_MN; do ip netns del "$ns" 2>/dev/null; done
    if [[ $FAILURES -ne 0 ]]; then
        for log in lmad magd1 magd2; do
            [[ -f $WORK/$log.log ]] || continue
            echo "--- $log log (last 40 lines) ---"
            tail -n 40 "$WORK/$log.log"
        done
    fi
    if [[ -n ${KEEP_WORK:-} ]]; then echo "# kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

pass() { echo "ok - $*"; }
fail() {
    echo "FAIL - $*"
    FAILURES=$((FAILURES + 1))
}
check() {
    local what=$1
    shift
    if "$@"; then pass "$what"; else fail "$what"; fi
}
nsx() { local ns=$1; shift; ip netns exec "$ns" "$@"; }
json() { "$PY" -c "import json,sys; d=json.load(sys.stdin); r=($1); print(r if not isinstance(r,(dict,list)) else json.dumps(r))"; }
wait_until() {
    local deadline=$((SECONDS + $1))
    shift
    while ((SECONDS < deadline)); do
        "$@" && return 0
        sleep 0.05
    done
    "$@"
}
ms_now() { date +%s%3N; }
lctl() { "$PMIPCTL" --socket "$WORK/lmad.sock" "$@"; }
m1ctl() { "$PMIPCTL" --socket "$WORK/magd1.sock" "$@"; }
m2ctl() { "$PMIPCTL" --socket "$WORK/magd2.sock" "$@"; }

# --- topology ---------------------------------------------------------------
for ns in $NS_CN $NS_LMA $NS_MAG1 $NS_MAG2 $NS_MN; do
    ip netns add "$ns" || { echo "SKIPPED: cannot create namespaces"; exit 77; }
    nsx "$ns" ip link set lo up
done
ip link add c0 netns "$NS_CN" type veth peer name l0 netns "$NS_LMA"
ip link add l1 netns "$NS_LMA" type veth peer name u1 netns "$NS_MAG1"
ip link add l2 netns "$NS_LMA" type veth peer name u2 netns "$NS_MAG2"
ip link add eth0 netns "$NS_MN" address $MN_MAC type veth peer name mn1 netns "$NS_MAG1" address $ACCESS_MAC
# A second access device at mag1 with no MN behind it: magd prepares it (RFC
# 6543 MAC and link-local) and must restore it at exit.
ip link add mn2 netns "$NS_MAG1" address 02:00:00:00:01:02 type veth peer name spare netns "$NS_MAG1"
nsx $NS_CN ip -6 addr add $CN/64 dev c0 nodad
nsx $NS_CN ip link set c0 up
nsx $NS_CN ip -6 route add default via 2001:db8:200::1
nsx $NS_LMA ip -6 addr add 2001:db8:200::1/64 dev l0 nodad
nsx $NS_LMA ip -6 addr add $LMA/128 dev lo
nsx $NS_LMA ip -6 addr add 2001:db8:101::1/64 dev l1 nodad
nsx $NS_LMA ip -6 addr add 2001:db8:102::1/64 dev l2 nodad
for d in l0 l1 l2; do nsx $NS_LMA ip link set $d up; done
nsx $NS_LMA sysctl -qw net.ipv6.conf.all.forwarding=1
nsx $NS_MAG1 ip -6 addr add $MAG1/64 dev u1 nodad
nsx $NS_MAG1 ip link set u1 up
nsx $NS_MAG1 ip -6 route add default via 2001:db8:101::1
nsx $NS_MAG2 ip -6 addr add $MAG2/64 dev u2 nodad
nsx $NS_MAG2 ip link set u2 up
nsx $NS_MAG2 ip -6 route add default via 2001:db8:102::1
# The mobile node: an ordinary host taking RAs (SLAAC, EUI-64 addresses).
nsx $NS_MN sysctl -qw net.ipv6.conf.all.forwarding=0
nsx $NS_MN sysctl -qw net.ipv6.conf.eth0.accept_ra=1 net.ipv6.conf.eth0.autoconf=1 net.ipv6.conf.eth0.addr_gen_mode=0
nsx $NS_MN ip link set eth0 up
wait_until 5 nsx $NS_MAG1 ping -6 -c1 -W1 $LMA >/dev/null || fail "mag1 reaches the LMA"
wait_until 5 nsx $NS_MAG2 ping -6 -c1 -W1 $LMA >/dev/null || fail "mag2 reaches the LMA"

cat >"$WORK/lmad-policy.json" <<EOF
{"mobile_nodes": [{"id": "mn1@example.org"}]}
EOF
cat >"$WORK/lmad.conf" <<EOF
[lma]
address = $LMA
[pools]
pool = 2001:db8:8000::/33 64
[binding]
max-lifetime = 400
min-delay-before-bce-delete-ms = 500
[mags]
authorized = 2001:db8:100::/46
[policy]
store = $WORK/lmad-policy.json
[tunnel]
backend = userspace
[control]
socket = $WORK/lmad.sock
[state]
file = $WORK/lmad.state
[log]
level = debug
debug = mh bce
EOF
cat >"$WORK/magd-policy.json" <<EOF
{"mobile_nodes": [{"mac": "$MN_MAC", "interface": "mn1", "id": "mn1@example.org",
                   "lma": "$LMA", "lifetime": 400, "multicast": true}]}
EOF
for i in 1 2; do
    mag=MAG$i
    cat >"$WORK/magd$i.conf" <<EOF
[mag]
address = ${!mag}
[access]
interface = mn*
[ra]
max-interval-s = 10
[policy]
store = $WORK/magd-policy.json
[tunnel]
backend = userspace
[control]
socket = $WORK/magd$i.sock
[log]
level = debug
debug = bul mh
EOF
done
check "magd --check accepts the generated configuration" "$MAGD" --config "$WORK/magd1.conf" --check

# Captures: MH between the MAGs and the LMA; RAs on the access link.
ip netns exec $NS_LMA dumpcap -q -i l1 -i l2 -w "$WORK/mh.pcapng" -f "ip6" >"$WORK/dumpcap-mh.log" 2>&1 &
CAPTURES+=($!)
ip netns exec $NS_MN dumpcap -q -i eth0 -w "$WORK/access.pcapng" -f "icmp6" >"$WORK/dumpcap-access.log" 2>&1 &
CAPTURES+=($!)
sleep 1

ip netns exec $NS_LMA "$LMAD" --config "$WORK/lmad.conf" >>"$WORK/lmad.log" 2>&1 &
PIDS+=($!)
check "lmad answers on its control socket" wait_until 10 lctl show counters >/dev/null 2>&1
ip netns exec $NS_MAG1 "$MAGD" --config "$WORK/magd1.conf" >>"$WORK/magd1.log" 2>&1 &
MAGD1_PID=$!
PIDS+=($MAGD1_PID)
ip netns exec $NS_MAG2 "$MAGD" --config "$WORK/magd2.conf" >>"$WORK/magd2.log" 2>&1 &
MAGD2_PID=$!
PIDS+=($MAGD2_PID)
check "magd (mag1) answers on its control socket" wait_until 10 m1ctl show counters >/dev/null 2>&1
check "magd (mag2) answers on its control socket" wait_until 10 m2ctl show counters >/dev/null 2>&1

# --- attach: link up at mag1 -> PBU/PBA -> RA -> SLAAC ----------------------
mn_address() { nsx $NS_MN ip -6 -o addr show dev eth0 scope global | awk '{print $4}' | grep '^2001:db8:8' | head -1; }
# Usable: global, in the pool, DAD finished (not tentative).
has_address() { nsx $NS_MN ip -6 -o addr show dev eth0 scope global | grep '2001:db8:8' | grep -vq tentative; }
t0=$(ms_now)
nsx $NS_MAG1 ip link set mn1 up
check "the MN gets a global address by SLAAC" wait_until 15 has_address
t1=$(ms_now)
ADDR=$(mn_address)
echo "# link up -> MN address $ADDR in $((t1 - t0)) ms"
check "the address lies in the LMA's pool 2001:db8:8000::/33" \
    "$PY" -c "import ipaddress,sys; sys.exit(not ipaddress.IPv6Interface('$ADDR').ip in ipaddress.IPv6Network('2001:db8:8000::/33'))"
check "the MN's default router is fe80::200:5eff:fe00:5213" \
    bash -c "ip netns exec $NS_MN ip -6 route show default | grep -q 'via fe80::200:5eff:fe00:5213'"
m1ctl --json show mns >"$WORK/mns1.json"
check "magd mag1: mn1 registered on mn1" \
    test "$(json "[m['mn'] for m in d if m['state']=='registered' and m['interface']=='mn1']" <"$WORK/mns1.json")" = '["mn1@example.org"]'
lctl --json show bindings >"$WORK/bind1.json"
check "lmad: mn1 bound at mag1" \
    test "$(json "[b['mag'] for b in d if b['mn']=='mn1@example.org']" <"$WORK/bind1.json")" = "[\"$MAG1\"]"
check "the MN reaches the correspondent through the tunnels" nsx $NS_MN ping -6 -c3 -i0.2 -W2 $CN

# --- handover: the MN's link moves from mag1 to mag2 ------------------------
nsx $NS_MN ping -6 -i 0.01 -c 600 -W 1 $CN >"$WORK/ping.txt" 2>&1 &
PING_PID=$!
sleep 1.5
ip -n $NS_MAG1 link set mn1 netns $NS_MAG2
ip -n $NS_MAG2 link set mn1 up
wait $PING_PID
sent=$(awk '/packets transmitted/ {print $1}' "$WORK/ping.txt")
received=$(awk '/packets transmitted/ {print $4}' "$WORK/ping.txt")
lost=$((${sent:-0} - ${received:-0}))
echo "# handover: ${sent:-0} pings every 10 ms, $lost lost (gap about $((lost * 10)) ms)"
check "pings continue after the handover (>= 90% of 600 answered)" test "${received:-0}" -ge 540
check "the MN keeps its address $ADDR" test "$(mn_address)" = "$ADDR"
lctl --json show bindings >"$WORK/bind2.json"
check "lmad: mn1 now bound at mag2, same prefix" \
    test "$(json "[b['mag'] for b in d if b['mn']=='mn1@example.org']" <"$WORK/bind2.json")" = "[\"$MAG2\"]"
# What stays while magd runs: the access table's unreachable default
# (table 999) and, while an access device is there, its "iif DEV lookup 999".
mag_clean() {  # mag_clean NS CTL ACCESS-DEVICE-STILL-THERE
    [[ $($2 --json show mns) == "[]" ]] &&
        [[ -z $(nsx $1 ip -6 route show table all proto 213 | grep -v '^unreachable default .*table 999') ]] &&
        [[ -z $(nsx $1 ip -6 rule show | grep -v -E "from all lookup (local|main)|from all iif $3 lookup 999") ]] &&
        [[ -z $(nsx $1 ip -o link show | grep -E ': mg[6g]-') ]]
}
check "mag1: no binding, route, rule or tunnel left after the MN left" wait_until 5 mag_clean $NS_MAG1 m1ctl mn2

# --- detach: link down at mag2 -----------------------------------------------
nsx $NS_MAG2 ip link set mn1 down
lma_clean() {
    [[ $(lctl --json show bindings) == "[]" ]] &&
        [[ -z $(nsx $NS_LMA ip -6 route show table all proto 213) ]] &&
        [[ -z $(nsx $NS_LMA ip -o link show | grep -E ': pm[6g]-') ]]
}
check "detach: mag2 has no binding, route, rule or tunnel" wait_until 5 mag_clean $NS_MAG2 m2ctl mn1
check "detach: lmad has no binding, route or tunnel (after MinDelayBeforeBCEDelete)" wait_until 5 lma_clean

# --- the wire -----------------------------------------------------------------
for pid in "${CAPTURES[@]}"; do kill -INT "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; done
CAPTURES=()
tshark -r "$WORK/mh.pcapng" -Y mipv6 -T fields -e mip6.mhtype -e _ws.expert.message >"$WORK/mh.txt" 2>/dev/null
pbus=$(awk -F'\t' '$1 == 5' "$WORK/mh.txt" | wc -l)
pbas=$(awk -F'\t' '$1 == 6' "$WORK/mh.txt" | wc -l)
echo "# on the wire: $pbus PBUs, $pbas PBAs"
check "tshark sees at least 3 PBUs and 3 PBAs (mag1 reg+dereg, mag2 reg)" test "$pbus" -ge 3 -a "$pbas" -ge 3
check "tshark: no malformed packet or expert warning in any MH message" \
    bash -c "! awk -F'\t' '\$2 != \"\"' '$WORK/mh.txt' | grep -q . && ! tshark -r '$WORK/mh.pcapng' -Y 'mipv6 && (_ws.malformed || _ws.expert.severity >= warning)' 2>/dev/null | grep -q ."
tshark -r "$WORK/access.pcapng" -Y "icmpv6.type == 134" -T fields -e ipv6.src -e eth.src -e icmpv6.opt.prefix -e ipv6.hlim >"$WORK/ra.txt" 2>/dev/null
check "RAs on the access link from fe80::200:5eff:fe00:5213 / 00:00:5e:00:52:13, hop limit 255, with the HNP" \
    bash -c "grep -q \$'^fe80::200:5eff:fe00:5213\t00:00:5e:00:52:13\t2001:db8:8' '$WORK/ra.txt' && ! cut -f4 '$WORK/ra.txt' | grep -vq '^255$'"

# --- shutdown -----------------------------------------------------------------
MN2_PREPARED=no
if ip -n $NS_MAG1 link show mn2 | grep -q 'link/ether 00:00:5e:00:52:13' &&
    ip -n $NS_MAG1 -6 addr show dev mn2 | grep -q 'fe80::200:5eff:fe00:5213'; then
    MN2_PREPARED=yes
fi
kill -TERM $MAGD2_PID $MAGD1_PID
wait $MAGD2_PID
rc2=$?
wait $MAGD1_PID
rc1=$?
check "magd exits 0 on SIGTERM" test $rc1 -eq 0 -a $rc2 -eq 0
check "mag1 had prepared mn2: router MAC and fe80::200:5eff:fe00:5213 (checked before exit)" test "$MN2_PREPARED" = yes
check "at exit magd restored mn2's MAC and removed the router link-local" \
    bash -c "ip -n $NS_MAG1 link show mn2 | grep -q 'link/ether 02:00:00:00:01:02' && ! ip -n $NS_MAG1 -6 addr show dev mn2 | grep -q 'fe80::200:5eff:fe00:5213'"
for ns in $NS_MAG1 $NS_MAG2; do
    check "$ns: no proto 213 route, no rule, no tunnel device after SIGTERM" \
        bash -c "[[ -z \$(ip -n $ns -6 route show table all proto 213) && -z \$(ip -n $ns -6 rule show | grep -v -E 'from all lookup (local|main)') && -z \$(ip -n $ns -o link show | grep -E ': mg[6g]-') ]]"
done
check "no magd control socket left" test ! -e "$WORK/magd1.sock" -a ! -e "$WORK/magd2.sock"

echo "# $FAILURES failure(s)"
[[ $FAILURES -eq 0 ]]
