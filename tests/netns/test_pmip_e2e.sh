#!/usr/bin/env bash
# magd and lmad end to end with the real Linux kernel as the mobile node
# (issue 5 "Evidence expected"; DESIGN.md section 3), on the namespace testbed
# (tools/testbed/testbed.sh: cn, lma, mag1, mag2 and one MN, mn1, whose link
# starts at mag1).
#
#   test_pmip_e2e.sh BUILD_DIR
#
# Added here to what the testbed offers: a second access device at mag1, mn2,
# with no MN behind it (magd prepares it and must restore it at exit); a build
# directory whose mag/magd records the real magd's exit status (the rest
# links to BUILD_DIR); captures of the MH on the LMA's l1/l2 and of ICMPv6 on
# the MN's eth0. `testbed.sh up` brings the MN's link up before anything can
# capture, so after that first attach the MN detaches (link down at mag1, its
# eth0 reset so that it starts over without an address), the captures start,
# and the attach that is checked and timed is the MN's link coming up again.
#
# Checks, one line each: magd --check; the MN gets an address inside the
# LMA's pool by SLAAC from an RA sent from fe80::200:5eff:fe00:5213 (time
# from link up printed); pmipctl show mns / show bindings agree; ping to the
# correspondent through both tunnels; an operator's rule to the LMA
# (blackhole, priority 1500) stops the MN's packets into the tunnel, which
# pass again once it is gone; handover: the MN's link is moved from
# mag1 to mag2 (testbed.sh move) while the MN pings every 10 ms: same
# address, pings continue, lost pings and the gap printed; lmad's binding now
# at mag2; mag1 has no binding, route, rule or tunnel left; detach (link down
# at mag2) leaves no binding, route, rule or tunnel on either side; tshark
# decodes every PBU/PBA on the wire with no malformed or expert warnings;
# SIGTERM: magd exits 0 and leaves no tunnel device, proto 213 route or rule
# and no control socket, and restores the access device's MAC.
#
# Exit 1 if any check failed, 77 ("SKIPPED: reason") when not root or a tool
# is missing. Everything is removed on exit (KEEP_WORK=1 keeps the scratch
# directory with the captures).
set -u
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
BUILD=${1:?usage: test_pmip_e2e.sh BUILD_DIR}

need_tools ip tshark dumpcap ping "$PY"
testbed_test_begin pme
need_testbed_mechanisms
MAG1_NS=$NAME-mag1 MAG2_NS=$NAME-mag2 LMA_NS=$NAME-lma MN_NS=$NAME-mn1
LMA=2001:db8:100::1
MAG1=2001:db8:101::11
MAG2=2001:db8:102::12
CN=2001:db8:200::2
MN_ID=mn1@testbed.example
ms_now() { date +%s%3N; }

# --- a build directory whose magd records its exit status ---------------------
# testbed.sh starts BUILD/mag/magd in the background of a shell that is gone
# when `up` returns: nobody could tell how magd exited. This magd runs the real
# one, passes SIGTERM on, and writes its PID to WORK/magdN.pid and its exit
# status to WORK/magdN.rc (magdN: the name of the --config file).
SHADOW=$WORK/build
mkdir -p "$SHADOW/mag"
for entry in "$BUILD"/* "$BUILD"/mag/*; do
    [[ $entry == "$BUILD/mag" || $entry == "$BUILD/mag/magd" ]] ||
        ln -s "$(realpath "$entry")" "$SHADOW/${entry#"$BUILD"/}"
done
cat >"$SHADOW/mag/magd" <<EOF
#!/usr/bin/env bash
label=\$(basename "\${@: -1}" .conf)
"$(realpath "$BUILD/mag/magd")" "\$@" &
child=\$!
echo \$child >"$WORK/\$label.pid"
trap 'kill -TERM \$child 2>/dev/null' TERM
while kill -0 \$child 2>/dev/null; do wait \$child; done
wait \$child
rc=\$?
echo \$rc >"$WORK/\$label.rc.new" && mv "$WORK/\$label.rc.new" "$WORK/\$label.rc"
exit \$rc
EOF
chmod +x "$SHADOW/mag/magd"
# The real magd processes, should a wrapper be killed before passing SIGTERM on.
cleanup_hook() {
    local f
    for f in "$WORK"/magd?.pid; do [[ -f $f ]] && kill -TERM "$(<"$f")" 2>/dev/null; done
}

# --- topology: the testbed, a spare access device ------------------------------
check "testbed up (lmad, magd at mag1 and mag2 answer on their control sockets)" \
    testbed_up "$NAME" "$SHADOW" 1 || finish
check "magd --check accepts the testbed's configuration" "$BUILD/mag/magd" --config "$TB_STATE/magd1.conf" --check
wait_until 5 in_ns "$MAG1_NS" ping -6 -c1 -W1 $LMA >/dev/null || fail "mag1 reaches the LMA"
wait_until 5 in_ns "$MAG2_NS" ping -6 -c1 -W1 $LMA >/dev/null || fail "mag2 reaches the LMA"
ip -n "$MAG1_NS" link add mn2 address 02:00:00:00:01:02 type veth peer name spare

# What stays while magd runs: the access table's unreachable default (table
# 999), for each access device there its "iif DEV lookup 999", and with
# source routes the uplink rule "lookup 1000".
mag_clean() {  # mag_clean mag1|mag2
    local ns=$NAME-$1 devices
    devices=$(ip -n "$ns" -o link show | awk -F': ' '{sub("@.*", "", $2); print $2}' | grep '^mn' | paste -sd'|' -)
    [[ $($TB ctl "$NAME" "$1" --json show mns) == "[]" ]] &&
        [[ -z $(ip -n "$ns" -6 route show table all proto 213 | grep -v '^unreachable default .*table 999') ]] &&
        [[ -z $(ip -n "$ns" -6 rule show | grep -v -E "from all lookup (local|main|1000)|from all iif ($devices) lookup 999") ]] &&
        [[ -z $(ip -n "$ns" -o link show | grep -E ': mg[6g]-') ]]
}
lma_clean() {
    [[ $($TB ctl "$NAME" lma --json show bindings) == "[]" ]] &&
        [[ -z $(ip -n "$LMA_NS" -6 route show table all proto 213) ]] &&
        [[ -z $(ip -n "$LMA_NS" -o link show | grep -E ': pm[6g]-') ]]
}

# --- up to the captures: the testbed's attach, a detach, the MN reset ----------
check "the testbed's attach at mag1 gives the MN an address" $TB address "$NAME" 1 15 >/dev/null
ip -n "$MAG1_NS" link set mn1 down
ip -n "$MN_NS" link set eth0 down  # the MN forgets its addresses and routes
ip -n "$MN_NS" link set eth0 up
mag1_and_lma_clean() { mag_clean mag1 && lma_clean; }
check "after that detach mag1 and lmad have no binding, route or tunnel left" wait_until 5 mag1_and_lma_clean
check "the MN has no global address and no default route left" \
    test -z "$(ip -n "$MN_NS" -6 addr show dev eth0 scope global)$(ip -n "$MN_NS" -6 route show default)"

# Captures: MH between the MAGs and the LMA; ICMPv6 on the access link. (Not
# through in_ns: a function would run in a subshell, and $! be its PID.)
ip netns exec "$LMA_NS" dumpcap -q -i l1 -i l2 -w "$WORK/mh.pcapng" -f "ip6" >"$WORK/dumpcap-mh.log" 2>&1 &
PIDS+=("$!")
MH_CAPTURE=$!
ip netns exec "$MN_NS" dumpcap -q -i eth0 -w "$WORK/access.pcapng" -f "icmp6" >"$WORK/dumpcap-access.log" 2>&1 &
PIDS+=("$!")
ACCESS_CAPTURE=$!
capturing() { grep -q "Capturing on" "$WORK/dumpcap-mh.log" && grep -q "Capturing on" "$WORK/dumpcap-access.log"; }
check "dumpcap captures on lma l1+l2 and on the MN's eth0" wait_until 10 capturing

# --- attach: link up at mag1 -> PBU/PBA -> RA -> SLAAC ----------------------
t0=$(ms_now)
ip -n "$MAG1_NS" link set mn1 up
ADDR=$($TB address "$NAME" 1 15)
check "the MN gets a global address by SLAAC" test -n "$ADDR"
t1=$(ms_now)
echo "# link up -> MN address $ADDR in $((t1 - t0)) ms"
check "the address lies in the LMA's pool 2001:db8:8000::/33" \
    "$PY" -c "import ipaddress,sys; sys.exit(not ipaddress.IPv6Address('$ADDR') in ipaddress.IPv6Network('2001:db8:8000::/33'))"
check "the MN's default router is fe80::200:5eff:fe00:5213" \
    bash -c "ip -n $MN_NS -6 route show default | grep -q 'via fe80::200:5eff:fe00:5213'"
check "magd mag1: mn1 registered on mn1" \
    test "$(q mag1 "show mns" "[m['mn'] for m in d if m['state']=='registered' and m['interface']=='mn1']")" = "['$MN_ID']"
check "lmad: mn1 bound at mag1" \
    test "$(q lma "show bindings" "[b['mag'] for b in d if b['mn']=='$MN_ID']")" = "['$MAG1']"
check "the MN reaches the correspondent through the tunnels" in_ns "$MN_NS" ping -6 -c3 -i0.2 -W2 $CN
check_tunnel_backend lma mag1
# How mag1 sends the MN's packets into the tunnel ([binding] uplink-routing;
# auto takes source routes on every kernel we run: Debian's and this one).
HNP=$("$PY" -c "import ipaddress; print(ipaddress.IPv6Network('$ADDR/64', strict=False))")
TUN1=$(q mag1 "show tunnels" "d[0]['device']")
MAG1_RULES=$(ip -n "$MAG1_NS" -6 rule show)
echo "# mag1 rules: $(echo "$MAG1_RULES" | grep -v 'iif mn' | tr '\n' ';')"
check "mag1: rule 999 'iif $TUN1 lookup main' (what leaves the tunnel is routed by its destination)" \
    grep -q "^999:.*from all iif $TUN1 lookup main" <<<"$MAG1_RULES"
if [[ ${PMIP_TESTBED_UPLINK_ROUTING:-auto} == rules ]]; then
    check "magd logs its choice: rules (configured)" \
        grep -q "uplink forwarding: rules (configured)" "$TB_STATE/magd1.log"
    check "mag1: rule 1000 'from $HNP lookup 1000'" grep -q "^1000:.*from $HNP lookup 1000" <<<"$MAG1_RULES"
else
    check "magd logs its choice: source routes" grep -q "uplink forwarding: source routes" "$TB_STATE/magd1.log"
    check "mag1: one uplink rule 'lookup 1000' and none per prefix" \
        bash -c "grep -q '^1000:.*from all lookup 1000' <<<'$MAG1_RULES' && ! grep -q 'from $HNP' <<<'$MAG1_RULES'"
    check "mag1: the source route 'default from $HNP dev $TUN1' in table 1000" \
        bash -c "ip -n $MAG1_NS -6 route show table 1000 | grep -q '^default from $HNP dev $TUN1'"
fi
# An operator's rule between rule-priority and the main table applies to the
# tunnel's outer packets, whatever the backend, as to any packet the router
# sends itself (a kernel tunnel routes them as output): here one that drops
# what goes to the LMA. The ebpf backend asks the FIB as output for this: with
# the tunnel as input interface it met "iif TUNNEL lookup main" first and
# skipped the operator's rule.
# Specific to that rule: the MN's echo requests reach mag1's access link,
# and nothing more from mag1's tunnel reaches lmad (its tunnel's received
# count stays), so the drop is between the two.
lma_tunnel_rx() { q lma "show tunnels" "sum(t['counters']['rx_packets'] for t in d if t['peer'] == '$MAG1')"; }
access_rx() { ip -n "$MAG1_NS" -s -j link show mn1 | "$PY" -c "import json,sys; print(json.load(sys.stdin)[0]['stats64']['rx']['packets'])"; }
ip -n "$MAG1_NS" -6 rule add prio 1500 to $LMA/128 blackhole
RX_LMA=$(lma_tunnel_rx) RX_ACCESS=$(access_rx)
check "an operator's rule (prio 1500, to the LMA: blackhole) stops the MN's packets into the tunnel" \
    bash -c "! ip netns exec $MN_NS ping -6 -c2 -i0.2 -W1 $CN >/dev/null"
echo "# while the rule was in: lmad's tunnel from mag1 received $(($(lma_tunnel_rx) - RX_LMA)), mag1's mn1 $(($(access_rx) - RX_ACCESS)) packets"
check "... dropped at mag1 by that rule: the pings reached mag1's mn1, nothing more reached lmad's tunnel" \
    test "$(lma_tunnel_rx)" = "$RX_LMA" -a "$(access_rx)" -ge $((RX_ACCESS + 2))
ip -n "$MAG1_NS" -6 rule del prio 1500 to $LMA/128 blackhole
check "with that rule gone the MN reaches the correspondent again" in_ns "$MN_NS" ping -6 -c3 -i0.2 -W2 $CN

# --- bulk TCP both ways --------------------------------------------------------
# 4 MiB from the correspondent to the MN and 4 MiB back, each checked octet for
# octet. The senders' stacks make GSO packets (64 KiB writes), which the veths
# carry whole: with ebpf tunnels lmad's and mag1's programs must encapsulate and
# decapsulate them whole (`show counters` tunnel_backend: what they left to the
# userspace data plane).
ebpf_slow_path() {  # lmad's and mag1's ebpf_{tx,rx}_slow_path, tx_no_route, tx_frag_needed ("" if unreadable)
    local who total=0 n
    for who in lma mag1; do
        n=$(q $who "show counters" "sum(d['tunnel_backend'][k] for k in
            ('ebpf_tx_slow_path', 'ebpf_tx_no_route', 'ebpf_rx_slow_path', 'ebpf_tx_frag_needed'))")
        [[ $n =~ ^[0-9]+$ ]] || return 1
        total=$((total + n))
    done
    echo $total
}
tcp_through() {  # tcp_through LABEL FROM_NS FROM TO_NS TO PORT
    local label=$1 from_ns=$2 from=$3 to_ns=$4 to=$5 port=$6 octets=$((4 << 20))
    local slow_before slow_after
    slow_before=$(ebpf_slow_path)
    tcp_transfer "$from_ns" "$from" "$to_ns" "$to" "$port" $octets
    check "$label: $octets octets over TCP arrive intact (got $TCP_GOT, intact $TCP_INTACT, $TCP_SECONDS s)" \
        test "$TCP_GOT" -eq $octets -a "$TCP_INTACT" -eq 1
    slow_after=$(ebpf_slow_path)
    if [[ $(q lma "show tunnels" "d[0]['backend']") == ebpf ]]; then
        check "$label: carried by the tunnels' eBPF programs, GSO packets whole (left to the slow path: ${slow_before:-unreadable} -> ${slow_after:-unreadable})" \
            test -n "$slow_before" -a -n "$slow_after" -a $((slow_after - slow_before)) -lt 20
    fi
}
tcp_through "correspondent -> MN" "$NAME-cn" $CN "$MN_NS" "$ADDR" 5201
tcp_through "MN -> correspondent" "$MN_NS" "$ADDR" "$NAME-cn" $CN 5202

# --- handover: the MN's link moves from mag1 to mag2 ------------------------
ip netns exec "$MN_NS" ping -6 -i 0.01 -c 600 -W 1 $CN >"$WORK/ping.txt" 2>&1 &
PING_PID=$!
PIDS+=("$PING_PID")
# A neighbour entry left on mag2's access link by an earlier attachment
# (stale: the MN behind it is gone) must not survive the new one.
ip -n "$MAG2_NS" -6 neigh replace 2001:db8:8000::99 lladdr 02:00:00:00:00:99 dev mn1 nud stale
sleep 1.5
$TB move "$NAME" 1 mag2
wait $PING_PID
forget_pid $PING_PID
sent=$(awk '/packets transmitted/ {print $1}' "$WORK/ping.txt")
received=$(awk '/packets transmitted/ {print $4}' "$WORK/ping.txt")
lost=$((${sent:-0} - ${received:-0}))
echo "# handover: ${sent:-0} pings every 10 ms, $lost lost (gap about $((lost * 10)) ms)"
check "pings continue after the handover (>= 90% of 600 answered)" test "${received:-0}" -ge 540
check "the MN keeps its address $ADDR" test "$($TB address "$NAME" 1 5)" = "$ADDR"
check "lmad: mn1 now bound at mag2, same prefix" \
    test "$(q lma "show bindings" "[b['mag'] for b in d if b['mn']=='$MN_ID']")" = "['$MAG2']"
check "mag1: no binding, route, rule or tunnel left after the MN left" wait_until 5 mag_clean mag1
check "mag2 flushed its access link's neighbour entries when the MN's link came up" \
    test -z "$(ip -n "$MAG2_NS" -6 neigh show dev mn1 to 2001:db8:8000::99)" -a \
    "$(q mag2 "show counters" "d['daemon'].get('neighbours_flushed', 0) >= 1")" = True

# --- detach: link down at mag2 -----------------------------------------------
ip -n "$MAG2_NS" link set mn1 down
check "detach: mag2 has no binding, route, rule or tunnel" wait_until 5 mag_clean mag2
check "detach: lmad has no binding, route or tunnel (after MinDelayBeforeBCEDelete)" wait_until 5 lma_clean

# --- the wire -----------------------------------------------------------------
stop_pid $MH_CAPTURE INT
stop_pid $ACCESS_CAPTURE INT
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
if ip -n "$MAG1_NS" link show mn2 | grep -q 'link/ether 00:00:5e:00:52:13' &&
    ip -n "$MAG1_NS" -6 addr show dev mn2 | grep -q 'fe80::200:5eff:fe00:5213'; then
    MN2_PREPARED=yes
fi
kill -TERM "$(<"$WORK/magd2.pid")" "$(<"$WORK/magd1.pid")"
wait_until 10 test -e "$WORK/magd1.rc" -a -e "$WORK/magd2.rc"
rc1=$(cat "$WORK/magd1.rc" 2>/dev/null)
rc2=$(cat "$WORK/magd2.rc" 2>/dev/null)
check "magd exits 0 on SIGTERM (mag1 ${rc1:-still running}, mag2 ${rc2:-still running})" test "$rc1" = 0 -a "$rc2" = 0
check "mag1 had prepared mn2: router MAC and fe80::200:5eff:fe00:5213 (checked before exit)" test "$MN2_PREPARED" = yes
check "at exit magd restored mn2's MAC and removed the router link-local" \
    bash -c "ip -n $MAG1_NS link show mn2 | grep -q 'link/ether 02:00:00:00:01:02' && ! ip -n $MAG1_NS -6 addr show dev mn2 | grep -q 'fe80::200:5eff:fe00:5213'"
for ns in $MAG1_NS $MAG2_NS; do
    check "$ns: no proto 213 route, no rule, no tunnel device after SIGTERM" \
        bash -c "[[ -z \$(ip -n $ns -6 route show table all proto 213) && -z \$(ip -n $ns -6 rule show | grep -v -E 'from all lookup (local|main)') && -z \$(ip -n $ns -o link show | grep -E ': mg[6g]-') ]]"
done
check "no magd control socket left" test ! -e "$TB_STATE/magd1.sock" -a ! -e "$TB_STATE/magd2.sock"

finish
