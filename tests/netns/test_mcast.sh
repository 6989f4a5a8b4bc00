#!/usr/bin/env bash
# MLD proxy (KernelProxy, multicast/) in network namespaces with the real
# kernel (root).
#
#   test_mcast.sh PATH/mcast_proxy_harness [ebpf|kernel]
#
# The forwarding backend (default ebpf): ebpf (tc programs and BPF maps; the
# forwarding entries are read from the harness's show) or kernel (ip6mr,
# MRT6 tables 100 and 101, read with `ip -6 mroute`; SKIPPED without ip6mr).
#
# Topology (namespace names carry this shell's PID so that runs never meet):
#
#   pmc-PID-s: source + independent MLD querier
#     br0 (bridge, mcast_snooping 1, mcast_querier 1, MLDv2, query interval 5 s,
#          membership interval 11 s; mcast_flood off on its ports, so data only
#          goes where a report was heard)  S1 2001:db8:1::1, S2 2001:db8:1::2
#       |-- su1 ----- up1 (pmc-PID-p, instance A upstream, table 100)
#       `-- su2 ----- up2 (pmc-PID-p, instance B upstream, table 101)
#   pmc-PID-p: mcast_proxy_harness with
#     A: upstream up1, downstreams d1, d2 (d3 added at run time), deny ff0e::db8:2
#     B: upstream up2, downstream d4
#     d1 -- l1 (pmc-PID-l1)   d2 -- l2 (pmc-PID-l2)   d3 -- l3 (pmc-PID-l3)   d4 -- l4 (pmc-PID-l4)
#
# Streams from the source (started before anybody listens): S1 -> G1
# ff0e::db8:1 (ASM), S1 -> G2 ff0e::db8:2 (ASM, instance B's group), S1 and S2
# -> G3 ff3e::8000:1 (SSM), 50 packets/s each. Listeners use ordinary
# sockets: l1 joins G1 and G2, l2 joins (S1, G3), l3 joins G1, l4 joins G2.
#
# Checks: ASM and SSM delivery; upstream INCLUDE for SSM and EXCLUDE for ASM
# in the bridge's MDB; isolation (G2 only in table 101 and at l4; l1's G2
# join refused by A's policy and nothing of G2 reaches l1); a downstream added
# at run time receives after its General Query (delay printed); a leave stops
# forwarding on its link; the bridge querier's queries are answered (MDB
# entries outlive the 11 s membership interval, Current-State reports in the
# capture); removing the last downstream with listeners leaves upstream;
# nothing left in the kernel after SIGTERM; tshark decodes every MLD message
# on the proxy's links with a good checksum and no expert warning.
#
# One line per check; exit 1 if any failed, 77 ("SKIPPED: reason") when
# something needed is missing. Everything is removed on exit (trap).
set -u
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

HARNESS=${1:?usage: test_mcast.sh PATH/mcast_proxy_harness [ebpf|kernel]}
FORWARDING=${2:-ebpf}
[[ $FORWARDING == ebpf || $FORWARDING == kernel ]] || { echo "FAIL - backend ebpf or kernel, not $FORWARDING"; exit 1; }
need_root "network namespaces, MRT6, raw sockets"
need_tools ip bridge tshark "$PY"
TRAFFIC="$PY $NETNS_DIR/mcast_traffic.py"

ID=$$
NS_S=pmc-$ID-s
NS_P=pmc-$ID-p
NS_L=(pmc-$ID-l1 pmc-$ID-l2 pmc-$ID-l3 pmc-$ID-l4)
ALL_NS=("$NS_S" "$NS_P" "${NS_L[@]}")
NAMESPACES=("${ALL_NS[@]}")
netns_test_begin pmc
FAIL_LOGS=("$WORK/harness.log")
FAIL_LOG_LINES=30
cleanup_hook() { { exec 3>&-; } 2>/dev/null; }
reap_stale_namespaces pmc 's|p|l[0-9]'
now() { date +%s.%N; }

# ---------------------------------------------------------------- kernel support
ip netns add "$NS_S" || { echo "FAIL - creating namespaces"; exit 1; }
if [[ $FORWARDING == kernel ]]; then
need_ip6mr
if ! in_ns "$NS_S" "$PY" - <<'EOF' 2>"$WORK/probe.err"; then
import socket, struct
s = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
s.setsockopt(socket.IPPROTO_IPV6, 209, struct.pack("I", 4242))  # MRT6_TABLE
s.setsockopt(socket.IPPROTO_IPV6, 200, struct.pack("i", 1))     # MRT6_INIT
EOF
    echo "SKIPPED: kernel without IPv6 multicast routing tables (MRT6_TABLE/MRT6_INIT): $(tail -n 1 "$WORK/probe.err")"
    exit 77
fi
fi
echo "# forwarding backend: $FORWARDING"
if ! in_ns "$NS_S" ip link add brprobe type bridge mcast_snooping 1 mcast_querier 1 mcast_mld_version 2 2>"$WORK/probe.err"; then
    echo "SKIPPED: bridge without MLD snooping / querier / MLDv2: $(cat "$WORK/probe.err")"
    exit 77
fi
in_ns "$NS_S" ip link del brprobe

# ---------------------------------------------------------------- topology
for ns in "$NS_P" "${NS_L[@]}"; do ip netns add "$ns" || { echo "FAIL - creating $ns"; exit 1; }; done
for ns in "${ALL_NS[@]}"; do
    in_ns "$ns" sysctl -qw net.ipv6.conf.all.accept_dad=0
    in_ns "$ns" sysctl -qw net.ipv6.conf.default.accept_dad=0
    ip -n "$ns" link set lo up
done
in_ns "$NS_P" sysctl -qw net.ipv6.conf.all.forwarding=1
# Timers in centiseconds: query interval 5 s, response 1 s, membership 11 s,
# last member 0.5 s x 2, startup queries 1 s apart.
ip -n "$NS_S" link add br0 type bridge mcast_snooping 1 mcast_querier 1 mcast_mld_version 2 \
    mcast_query_interval 500 mcast_query_response_interval 100 mcast_membership_interval 1100 \
    mcast_startup_query_interval 100 mcast_last_member_interval 50 mcast_last_member_count 2
ip -n "$NS_S" link add su1 type veth peer name up1 netns "$NS_P"
ip -n "$NS_S" link add su2 type veth peer name up2 netns "$NS_P"
for i in 1 2 3 4; do
    ip -n "$NS_P" link add "d$i" type veth peer name "l$i" netns "${NS_L[$((i - 1))]}"
done
for p in su1 su2; do
    ip -n "$NS_S" link set "$p" master br0
    ip -n "$NS_S" link set "$p" up
    bridge -n "$NS_S" link set dev "$p" mcast_flood off
done
ip -n "$NS_S" addr add 2001:db8:1::1/64 dev br0 nodad
ip -n "$NS_S" addr add 2001:db8:1::2/64 dev br0 nodad
ip -n "$NS_S" link set br0 up
ip -n "$NS_P" addr add 2001:db8:1::11/64 dev up1 nodad
ip -n "$NS_P" addr add 2001:db8:1::12/64 dev up2 nodad
for i in 1 2 3 4; do
    ip -n "$NS_P" addr add "2001:db8:1$i::1/64" dev "d$i" nodad
    ip -n "${NS_L[$((i - 1))]}" addr add "2001:db8:1$i::2/64" dev "l$i" nodad
    ip -n "${NS_L[$((i - 1))]}" link set "l$i" up
    ip -n "$NS_P" link set "d$i" up
done
ip -n "$NS_P" link set up1 up
ip -n "$NS_P" link set up2 up

link_local() {  # link_local NS IF
    ip -n "$1" -6 -o addr show dev "$2" scope link | awk '{print $4}' | cut -d/ -f1 | head -n 1
}
links_ready() {
    local i
    [[ -n $(link_local "$NS_S" br0) && -n $(link_local "$NS_P" up1) && -n $(link_local "$NS_P" up2) ]] || return 1
    for i in 1 2 3 4; do [[ -n $(link_local "$NS_P" "d$i") ]] || return 1; done
}
check "every link has its link-local address" wait_until 10 links_ready

S1=2001:db8:1::1
S2=2001:db8:1::2
G1=ff0e::db8:1
G2=ff0e::db8:2
G3=ff3e::8000:1

# ---------------------------------------------------------------- capture
# Everything on the proxy's links but the S1 data (which would only make the
# file big): MLD, and S2's G3 data (must never reach d2).
CAPTURE=$WORK/proxy.pcapng
ip netns exec "$NS_P" tshark -q -i up1 -i up2 -i d1 -i d2 -i d3 -i d4 -f "not (udp and src host $S1)" \
    -w "$CAPTURE" >"$WORK/tshark.log" 2>&1 &
TSHARK_PID=$!
PIDS+=("$TSHARK_PID")
capturing() { [[ $(grep -c "Capturing on" "$WORK/tshark.log") -ge 1 && -s $CAPTURE ]]; }
check "tshark captures on up1, up2, d1-d4" wait_until 15 capturing

# ---------------------------------------------------------------- proxy
mkfifo "$WORK/control"
ip netns exec "$NS_P" "$HARNESS" --ready-file "$WORK/ready" \
    --instance "name=A,table=100,upstream=up1,downstream=d1,downstream=d2,deny-group=$G2/128,qi=5000,qri=1000,llqi=300,llqc=2,sqi=1000,idle=30000,forwarding=$FORWARDING" \
    --instance "name=B,table=101,upstream=up2,downstream=d4,qi=5000,qri=1000,llqi=300,llqc=2,sqi=1000,forwarding=$FORWARDING" \
    <"$WORK/control" >"$WORK/harness.out" 2>"$WORK/harness.log" &
HARNESS_PID=$!
PIDS+=("$HARNESS_PID")
exec 3>"$WORK/control"
if ! wait_until 10 test -s "$WORK/ready"; then
    fail "mcast_proxy_harness ready"
    exit 1  # the clean-up shows harness.log
fi
pass "mcast_proxy_harness runs instances A (table 100) and B (table 101)"

COMMANDS=0
control() {  # control LINE: sends a command, waits for its answer, sets REPLY_LINE
    echo "$1" >&3
    COMMANDS=$((COMMANDS + 1))
    wait_until 10 sh -c "[ \$(wc -l <'$WORK/harness.out') -ge $COMMANDS ]" || { REPLY_LINE="(no answer)"; return 1; }
    REPLY_LINE=$(sed -n "${COMMANDS}p" "$WORK/harness.out")
    [[ $REPLY_LINE == ok* ]]
}
SHOW=$WORK/show.json
show() { control "show $SHOW"; }
# jq-less JSON queries: json EXPRESSION (Python, `d` = the show output)
json() { show >/dev/null && "$PY" -c "import json,sys; d=json.load(open('$SHOW')); sys.exit(0 if ($1) else 1)"; }
json_print() { show >/dev/null && "$PY" -c "import json; d=json.load(open('$SHOW')); print($1)"; }

# ---------------------------------------------------------------- source, listeners
ip netns exec "$NS_S" $TRAFFIC send --ifname br0 --pps 50 --duration 200 \
    --flow "$S1,$G1,5001" --flow "$S1,$G2,5002" --flow "$S1,$G3,5003" --flow "$S2,$G3,5003" \
    >"$WORK/sender.log" 2>&1 &
PIDS+=("$!")
sleep 1  # data flows before anybody listens (cache misses, empty entries)

declare -A LISTENER
listen() {  # listen TAG NS IF GROUP PORT [SOURCE]
    local tag=$1 ns=$2 ifname=$3 group=$4 port=$5 source=${6:-}
    ip netns exec "$ns" $TRAFFIC listen --ifname "$ifname" --group "$group" --port "$port" \
        ${source:+--source "$source"} --out "$WORK/count-$tag" --ready "$WORK/ready-$tag" \
        >"$WORK/listen-$tag.log" 2>&1 &
    LISTENER[$tag]=$!
    PIDS+=("$!")
    wait_until 10 test -s "$WORK/ready-$tag" || fail "listener $tag joined"
}
count() { awk '{print $1}' "$WORK/count-$1" 2>/dev/null || echo 0; }
first_ts() { awk '{print $2}' "$WORK/count-$1" 2>/dev/null; }
received_at_least() { [[ $(count "$1") -ge $2 ]]; }

T_JOIN=$(now)
listen l1g1 "${NS_L[0]}" l1 "$G1" 5001
listen l1g2 "${NS_L[0]}" l1 "$G2" 5002
listen l2g3 "${NS_L[1]}" l2 "$G3" 5003 "$S1"
listen l3g1 "${NS_L[2]}" l3 "$G1" 5001
listen l4g2 "${NS_L[3]}" l4 "$G2" 5002

echo "# delivery (data started before the joins)"
check "ASM: l1 receives $S1 -> $G1 through instance A" wait_until 15 received_at_least l1g1 20
check "SSM: l2 receives ($S1, $G3) through instance A" wait_until 15 received_at_least l2g3 20
check "instance B: l4 receives $S1 -> $G2 (table 101)" wait_until 15 received_at_least l4g2 20
for tag in l1g1 l2g3 l4g2; do
    [[ -n $(first_ts $tag) && $(first_ts $tag) != 0.000000 ]] &&
        echo "#   $tag: first datagram $(awk -v a="$(first_ts $tag)" -v b="$T_JOIN" 'BEGIN{printf "%.0f", (a-b)*1000}') ms after the joins started"
done
check "l3 receives nothing while d3 is not a downstream (got $(count l3g1))" test "$(count l3g1)" -eq 0

echo "# upstream membership (the bridge's MDB, learned from our reports)"
mdb() { bridge -n "$NS_S" -d -s mdb show dev br0 2>/dev/null; }
mdb_has() {  # mdb_has PORT GROUP [REGEX]
    mdb | grep -E "port $1 grp $2( |$)" | grep -Eq "${3:-.}"
}
check "MDB: G1 $G1 on su1 (instance A), exclude mode (ASM)" wait_until 10 mdb_has su1 "$G1" "filter_mode exclude"
check "MDB: G3 $G3 on su1 in INCLUDE mode (SSM join sent as INCLUDE)" wait_until 10 mdb_has su1 "$G3" "filter_mode include"
check "MDB: ($S1, $G3) source entry on su1" wait_until 10 sh -c "bridge -n $NS_S -d mdb show dev br0 | grep -E 'port su1 grp $G3 src $S1' -q"
check "MDB: no ($S2, $G3) source entry (only S1 asked for)" sh -c "! bridge -n $NS_S -d mdb show dev br0 | grep -Eq 'grp $G3 src $S2'"
check "MDB: G2 $G2 on su2 (instance B)" wait_until 10 mdb_has su2 "$G2"
check "MDB: G2 not on su1 (A refuses it by policy)" sh -c "! bridge -n $NS_S -d mdb show dev br0 | grep -Eq 'port su1 grp $G2( |$)'"

echo "# isolation of instances A (table 100) and B (table 101)"
if [[ $FORWARDING == kernel ]]; then
mroute() { ip -n "$NS_P" -6 mroute show table "$1" 2>/dev/null; }
check "table 100 has ($S1, $G1) from up1 to d1" wait_until 5 sh -c "ip -n $NS_P -6 mroute show table 100 | grep -F '($S1,$G1)' | grep -q 'Iif: up1.*Oifs:.*d1'"
check "table 101 has ($S1, $G2) from up2 to d4" sh -c "ip -n $NS_P -6 mroute show table 101 | grep -F '($S1,$G2)' | grep -q 'Iif: up2.*Oifs:.*d4'"
# Before the bridge has heard a querier it floods every group to every port,
# so each table may hold an entry without outputs (a negative cache entry from
# the cache miss) for the other instance's group; never one with an output.
check "table 100 forwards $G2 nowhere" sh -c "! ip -n $NS_P -6 mroute show table 100 | grep -F ',$G2)' | grep -q 'Oifs: *[a-z]'"
check "table 101 forwards $G1 / $G3 nowhere" sh -c "! ip -n $NS_P -6 mroute show table 101 | grep -E ',($G1|$G3)\)' | grep -q 'Oifs: *[a-z]'"
check "ip6mr rules steer up1/d1/d2 to table 100 and up2/d4 to table 101" sh -c "
    r=\$(ip -n $NS_P -6 mrule show); for i in up1 d1 d2; do echo \"\$r\" | grep -q \"iif \$i lookup 100\" || exit 1; done
    for i in up2 d4; do echo \"\$r\" | grep -q \"iif \$i lookup 101\" || exit 1; done"
else
# Entries of an instance from its show: (S,G) in mfc, (*,G) in group_entries.
forwards() {  # forwards INSTANCE SOURCE|* GROUP IIF OIF: an entry sends it there
    json "any(e['group']=='$3' and e['source'] in ('$2','*') and e['iif']=='$4' and '$5' in e['oifs'] for e in d['$1']['mfc'] + d['$1']['group_entries'])"
}
forwards_nowhere() {  # forwards_nowhere INSTANCE GROUP...: no entry of these groups has an output
    local groups
    groups=$(printf "'%s'," "${@:2}")
    json "not any(e['group'] in ($groups) and e['oifs'] for e in d['$1']['mfc'] + d['$1']['group_entries'])"
}
filters() {  # filters IF: our tc filters on IF's clsact ingress
    tc -n "$NS_P" filter show dev "$1" ingress 2>/dev/null | grep -c "pmip_mcast_fwd"
}
check "A forwards ($S1, $G1) from up1 to d1 (an (S,G) or (*,G) entry)" wait_until 5 forwards A "$S1" "$G1" up1 d1
check "B forwards ($S1, $G2) from up2 to d4" forwards B "$S1" "$G2" up2 d4
check "A forwards $G2 nowhere" forwards_nowhere A "$G2"
check "B forwards $G1 / $G3 nowhere" forwards_nowhere B "$G1" "$G3"
check "A's backend is ebpf, B's too" json "d['A']['forwarding']['backend']=='ebpf' and d['B']['forwarding']['backend']=='ebpf'"
check "one pmip tc filter on each of up1, d1, d2, up2, d4" sh -c "for i in up1 d1 d2 up2 d4; do [ \$(tc -n $NS_P filter show dev \$i ingress | grep -c pmip_mcast_fwd) -eq 1 ] || exit 1; done"
check "no ip6mr rule (the ebpf backend needs none)" sh -c "! ip -n $NS_P -6 mrule show 2>/dev/null | grep -Eq 'lookup (100|101)'"
json_print "'#   A program: ' + ' '.join('%s=%s' % (k, v) for k, v in d['A']['forwarding']['program'].items() if v)"
fi
check "l1 joined $G2 but receives none of it (got $(count l1g2))" test "$(count l1g2)" -eq 0
check "A counted l1's refused $G2 record (records_refused > 0)" json "d['A']['counters']['instance']['records_refused'] > 0"
check "A's show: $G3 upstream INCLUDE {$S1}" json "any(g['group']=='$G3' and g['upstream']=={'filter_mode':'include','sources':['$S1']} for g in d['A']['groups'])"
check "A's show: d1 listener state for $G1 with explicit tracking" json "any(x['group']=='$G1' and len(x['listeners'])==1 for s in d['A']['downstreams'] if s['name']=='d1' for x in s['groups'])"
check "no MLD message dropped for a bad checksum, hop limit or missing Router Alert" json "all(d[i]['counters'][k]==0 for i in 'AB' for k in ('drop_bad_checksum','drop_hop_limit','drop_no_router_alert','drop_parse_error'))"

echo "# downstream added at run time"
T_ADD=$(now)
check "control: add A d3 ($REPLY_LINE)" control "add A d3"
if wait_until 10 received_at_least l3g1 1; then
    DELAY_MS=$(awk -v a="$(first_ts l3g1)" -v b="$T_ADD" 'BEGIN{printf "%.0f", (a-b)*1000}')
    pass "l3 receives $G1 after d3 was added: first datagram ${DELAY_MS} ms after 'add' (General Query at once, Query Response Interval 1 s)"
else
    fail "l3 receives $G1 after d3 was added"
fi
check "A sent a General Query on d3 at once" json "[s for s in d['A']['downstreams'] if s['name']=='d3'][0]['counters']['general_queries_sent'] >= 1"

echo "# leave stops forwarding on the listener's link"
rx() { in_ns "$1" cat "/sys/class/net/$2/statistics/rx_packets"; }
kill -TERM "${LISTENER[l1g1]}"
wait "${LISTENER[l1g1]}" 2>/dev/null
forget_pid "${LISTENER[l1g1]}"
T_LEAVE=$(now)
d1_not_in_g1() { json "all('d1' not in e['oifs'] for e in d['A']['mfc'] if e['group']=='$G1')"; }
if wait_until 5 d1_not_in_g1; then
    pass "(S1, $G1) entry loses d1 after l1's leave ($(awk -v a="$(now)" -v b="$T_LEAVE" 'BEGIN{printf "%.0f", (a-b)*1000}') ms, LLQI 0.3 s x 2)"
else
    fail "(S1, $G1) entry loses d1 after l1's leave"
fi
sleep 0.3
before=$(rx "${NS_L[0]}" l1)
l3_before=$(count l3g1)
sleep 2
after=$(rx "${NS_L[0]}" l1)
l3_after=$(count l3g1)
check "nothing of $G1 on l1's link after the leave (rx +$((after - before)) packets in 2 s, MLD only)" test $((after - before)) -le 6
check "l3 still receives $G1 (+$((l3_after - l3_before)) in 2 s)" test $((l3_after - l3_before)) -ge 50

echo "# the bridge querier's queries are answered"
# More than the 11 s membership interval has passed since the joins: the MDB
# entries live only because our host part answered the bridge's queries.
elapsed=$(awk -v a="$(now)" -v b="$T_JOIN" 'BEGIN{printf "%.0f", a-b}')
if ((elapsed < 13)); then sleep $((13 - elapsed)); fi
check "MDB still holds $G1 and $G3 on su1 > 11 s after the joins (refreshed)" sh -c "
    bridge -n $NS_S -d mdb show dev br0 | grep -Eq 'port su1 grp $G1( |$)' &&
    bridge -n $NS_S -d mdb show dev br0 | grep -Eq 'port su1 grp $G3( |$)'"

echo "# removing a downstream"
check "control: remove A d3 ($REPLY_LINE)" control "remove A d3"
sleep 0.3
l3_before=$(count l3g1)
sleep 1.5
check "l3 stops receiving after d3 was removed (+$(($(count l3g1) - l3_before)))" test "$(count l3g1)" -eq "$l3_before"
check "A leaves $G1 upstream: MDB entry on su1 gone" wait_until 6 sh -c "! bridge -n $NS_S -d mdb show dev br0 | grep -Eq 'port su1 grp $G1( |$)'"
check "A keeps $G3 upstream (l2 still listens)" mdb_has su1 "$G3"
json_print "'#   A counters: ' + ' '.join('%s=%s' % (k, v) for k, v in d['A']['counters'].items() if not isinstance(v, dict) and v)"
json_print "'#   B counters: ' + ' '.join('%s=%s' % (k, v) for k, v in d['B']['counters'].items() if not isinstance(v, dict) and v)"
cp "$SHOW" "$WORK/show-final.json"

echo "# shutdown"
kill -TERM "$HARNESS_PID"
wait "$HARNESS_PID"
rc=$?
forget_pid "$HARNESS_PID"
exec 3>&-
check "harness exits 0 on SIGTERM (rc=$rc)" test "$rc" -eq 0
((rc == 0)) || sed 's/^/    /' "$WORK/harness.log"
if [[ $FORWARDING == kernel ]]; then
check "no MFC entry left in tables 100 and 101" sh -c "[ -z \"\$(ip -n $NS_P -6 mroute show table 100)\" ] && [ -z \"\$(ip -n $NS_P -6 mroute show table 101)\" ]"
check "no MIF left" sh -c "[ \$(ip netns exec $NS_P cat /proc/net/ip6_mr_vif | wc -l) -le 1 ]"
check "no ip6mr rule left but the default" sh -c "! ip -n $NS_P -6 mrule show | grep -Eq 'lookup (100|101)'"
check "mc_forwarding back to 0" sh -c "[ \$(ip netns exec $NS_P sysctl -n net.ipv6.conf.all.mc_forwarding) -eq 0 ]"
else
check "no tc filter and no clsact qdisc left on up1, up2, d1-d4" sh -c "for i in up1 up2 d1 d2 d3 d4; do
    [ -z \"\$(tc -n $NS_P filter show dev \$i ingress)\" ] || exit 1
    tc -n $NS_P qdisc show dev \$i | grep -q clsact && exit 1; done; exit 0"
fi
check "upstream groups left: no MDB entry on su1/su2 for our groups" wait_until 6 sh -c "! bridge -n $NS_S -d mdb show dev br0 | grep -Eq 'port su[12] grp ($G1|$G2|$G3)( |$)'"

# ---------------------------------------------------------------- tshark
echo "# tshark on every MLD message of the proxy's links"
sleep 0.5
kill -TERM "$TSHARK_PID"
wait "$TSHARK_PID" 2>/dev/null
forget_pid "$TSHARK_PID"
PROXY_LL=$(for i in up1 up2 d1 d2 d3 d4; do link_local "$NS_P" "$i"; done | paste -sd, -)
"$PY" - "$CAPTURE" "$PROXY_LL" "$S2" "$G3" "$(link_local "$NS_S" br0)" <<'EOF' >"$WORK/tshark-check.txt" 2>&1
import subprocess, sys
capture, proxy_ll, s2, g3, bridge_ll = sys.argv[1], set(sys.argv[2].split(",")), sys.argv[3], sys.argv[4], sys.argv[5]
fields = ["frame.number", "frame.interface_name", "ipv6.src", "ipv6.hlim", "ipv6.opt.router_alert",
          "icmpv6.type", "icmpv6.checksum.status", "_ws.expert.severity", "_ws.malformed",
          "icmpv6.mldr.mar.record_type", "icmpv6.mldr.mar.multicast_address"]
out = subprocess.run(["tshark", "-r", capture, "-Y", "icmpv6.type == 130 || icmpv6.type == 131 || icmpv6.type == 132 || icmpv6.type == 143", "-T", "fields", "-E", "separator=|",
                      "-E", "occurrence=a", "-E", "aggregator=;"] + sum([["-e", f] for f in fields], []),
                     capture_output=True, text=True)
if out.returncode != 0:
    print("tshark failed:", out.stderr.strip()); sys.exit(1)
ours = bad = 0
queries = {}
current_state = {"up1": set(), "up2": set()}
bridge_queries = 0
problems = []
for line in out.stdout.splitlines():
    f = dict(zip(fields, line.split("|")))
    if f["ipv6.src"] == bridge_ll and f["icmpv6.type"] == "130":
        bridge_queries += 1
    if f["ipv6.src"] not in proxy_ll:
        continue
    ours += 1
    why = []
    if f["icmpv6.checksum.status"] != "1": why.append("checksum status " + f["icmpv6.checksum.status"])
    if f["_ws.expert.severity"]:
        sev = [int(x, 0) for x in f["_ws.expert.severity"].split(";") if x]
        if any(s >= 0x00600000 for s in sev): why.append("expert severity " + f["_ws.expert.severity"])
    if f["_ws.malformed"]: why.append("malformed")
    if f["ipv6.hlim"] != "1": why.append("hop limit " + f["ipv6.hlim"])
    if not f["ipv6.opt.router_alert"]: why.append("no Router Alert")
    if why:
        bad += 1
        problems.append("frame %s on %s: %s" % (f["frame.number"], f["frame.interface_name"], ", ".join(why)))
    if f["icmpv6.type"] == "130":
        queries[f["frame.interface_name"]] = queries.get(f["frame.interface_name"], 0) + 1
    if f["icmpv6.type"] == "143" and f["frame.interface_name"] in current_state:
        types = f["icmpv6.mldr.mar.record_type"].split(";")
        groups = f["icmpv6.mldr.mar.multicast_address"].split(";")
        for t, g in zip(types, groups):
            if t in ("1", "2"):  # MODE_IS_INCLUDE / MODE_IS_EXCLUDE: answers to queries
                current_state[f["frame.interface_name"]].add("%s:%s" % ("IS_IN" if t == "1" else "IS_EX", g))
print("MLD_FROM_PROXY %d" % ours)
print("BAD %d" % bad)
for p in problems[:10]: print("PROBLEM " + p)
print("QUERIES " + " ".join("%s=%d" % kv for kv in sorted(queries.items())))
print("BRIDGE_QUERIES %d" % bridge_queries)
print("CURRENT_STATE_UP1 " + " ".join(sorted(current_state["up1"])))
print("CURRENT_STATE_UP2 " + " ".join(sorted(current_state["up2"])))
s2 = subprocess.run(["tshark", "-r", capture, "-Y", 'frame.interface_name == "d2" && ipv6.src == %s && udp' % s2,
                     "-T", "fields", "-e", "frame.number"], capture_output=True, text=True)
print("S2_ON_D2 %d" % len([l for l in s2.stdout.splitlines() if l.strip()]))
EOF
sed 's/^/#   /' "$WORK/tshark-check.txt"
field() { awk -v k="$1" '$1==k {sub(/^[^ ]+ ?/, ""); print}' "$WORK/tshark-check.txt"; }
check "tshark decoded MLD messages from the proxy ($(field MLD_FROM_PROXY))" test "$(field MLD_FROM_PROXY)" -gt 0 2>/dev/null
check "every one with a good checksum, no expert warning, Hop Limit 1, Router Alert (bad: $(field BAD))" test "$(field BAD)" = 0
check "General Queries from the proxy on d1, d2, d3 and d4" sh -c "q='$(field QUERIES)'; for i in d1 d2 d3 d4; do echo \"\$q\" | grep -q \"\$i=\"; done"
check "the bridge querier's queries reached the proxy ($(field BRIDGE_QUERIES))" test "$(field BRIDGE_QUERIES)" -gt 0 2>/dev/null
check "answered on up1 with Current-State records IS_EX $G1 and IS_IN $G3" sh -c "s='$(field CURRENT_STATE_UP1)'; echo \"\$s\" | grep -q 'IS_EX:$G1' && echo \"\$s\" | grep -q 'IS_IN:$G3'"
check "answered on up2 with IS_EX $G2" sh -c "echo '$(field CURRENT_STATE_UP2)' | grep -q 'IS_EX:$G2'"
check "none of S2's $G3 data on d2 (SSM listener asked for S1 only; got $(field S2_ON_D2))" test "$(field S2_ON_D2)" = 0

finish
