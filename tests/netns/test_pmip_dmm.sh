#!/usr/bin/env bash
# RFC 8885 distributed mobility management end to end in namespaces: lmad as
# the CMD ([dmm] cmd = relay), three magd as MAARs (mag.mode = maar, each with
# its own /48), a correspondent node, and the real Linux kernel as the MN.
#
#   test_pmip_dmm.sh BUILD_DIR
#
#   Topology (tools/testbed/dmm_topology.sh): one link (a bridge in "core") joins cmd (2001:db8:100::1),
#   maar1-3 (::21-23) and cn (::99); cn routes 2001:db8:aN::/48 via maarN.
#   The MN's eth0 reaches maarN's access link mn1 through port pN (tc mirred,
#   as in the testbed): the port that is up is where the MN is.
#   At maar1 the MN configures an address from P1 (routed at maar1, no
#   tunnel); a UDP stream from cn to that address runs throughout. The MN
#   moves to maar2: it gets P2 (preferred) and keeps P1 (deprecated), the
#   stream on P1 goes on through the maar1-maar2 tunnel; to maar3: P1 and P2
#   through tunnels from maar1 and maar2, the stream still goes on; a new
#   connection from the MN takes P3 as its source. The previous-prefix hold
#   (8 s) ends while the stream (20 s) still flows: maar1 and maar3 keep P1
#   (traffic in their tunnel), 2 s at a time. The stream ends; at the next
#   look maar1 and maar2 let their prefixes go:
#   no tunnel and no anchored prefix left there, maar3 has no previous
#   prefix left.
#   Beside the MAARs, a plain MAG (mag4, magd in mag mode) serves a second
#   kernel MN (mn2) with the same lmad as its LMA (tools/testbed/
#   dmm_topology.sh dmm_add_mag): mn2 gets a prefix of the LMA's pool, the
#   correspondent reaches it through the LMA's tunnel, the CMD holds no
#   session for it and the LMA none for mn1: RFC 8885 DMM and centralized
#   PMIPv6 in one deployment.
#   On the wire at the CMD (dumpcap): pmip-mh and tshark with our RFC 8885
#   plugin (tools/wireshark/pmip6-rfc8885.lua; Debian 12's tshark alone names
#   neither the D flag nor options 65-70) see PBUs and PBAs with the D flag,
#   the Serving MAAR (68) and Previous MAAR (67) options with the MAARs'
#   addresses, and mag4's PBU/PBA without D.
#   Tunnels: PMIP_TESTBED_TUNNELS (default userspace; netns_pmip_dmm_kernel
#   sets kernel and runs in the stock-kernel VM).
#   (Options 65, 66, 69, 70 are in the codec but this deployment sends none:
#   no local networks, no DLIFs.)
# Exit 1 when a check fails, 77 when the environment cannot run it.
set -u
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
BUILD=${1:?usage: test_pmip_dmm.sh BUILD_DIR}
need_root "namespaces"
need_tun
need_tools dumpcap tshark
need_testbed_mechanisms  # PMIP_TESTBED_TUNNELS=kernel: ip6tnl (netns_pmip_dmm_kernel, in the VM)
netns_test_begin pmipdmm
reap_stale_namespaces pmipdmm 'core|cmd|maar1|maar2|maar3|mag4|cn|mn|mn2'
N=pmipdmm-$$
METER=$BUILD/tools/testbed/pmip-handover-meter
PMIPCTL=$BUILD/tools/pmipctl/pmipctl
PMIPMH=$BUILD/tools/pmip-mh/pmip-mh
# The previous prefixes' hold (8 s) ends while the 20 s stream on P1 still
# flows: P1 is kept, IDLE (2 s) at a time, until the stream ends.
HOLD=$((8 * TIME_SCALE))
IDLE=$((2 * TIME_SCALE))
source "$NETNS_ROOT/tools/testbed/dmm_topology.sh"
dmm_topology_up dmm
dmm_add_mag
MN=$N-mn

FAIL_LOGS=("$WORK"/*.log)
check "lmad (the CMD) answers" wait_until 10 up "$WORK/lmad.sock"
for i in 1 2 3; do check "magd (maar$i) answers" wait_until 10 up "$WORK/magd$i.sock"; done
check "magd (mag4, a plain MAG) answers" wait_until 10 up "$WORK/magd4.sock"
check "lmad logs the CMD on, as relay" grep -q "Central Mobility Database on, as relay" "$WORK/lmad.log"
check "dumpcap captures the Mobility Header at the CMD" start_capture "$N-cmd" u0 "$WORK/cmd.pcapng" "ip6 proto 135"

mn_address() { dmm_mn_address "$1"; }
has_address() { [[ -n $(mn_address "$1") ]]; }
deprecated() { ip -n "$MN" -6 -o addr show dev eth0 scope global | grep "$1" | grep -q deprecated; }
move_to() { dmm_move_to "$1"; }

# --- maar1: P1, routed there, no tunnel ---------------------------------------------------
move_to 1
check "the MN configures an address from P1 (2001:db8:a1::/64) at maar1" wait_until 20 has_address 2001:db8:a1:
A1=$(mn_address 2001:db8:a1:)
echo "# MN address at maar1: $A1"
check "maar1 serves the MN with P1 and no previous MAAR's prefix" \
    test "$(qq "$WORK/magd1.sock" "show maar" "d['served'][0]['local_prefix'] + ' ' + str(len(d['served'][0]['previous_maar_prefixes']))")" = "2001:db8:a1::/64 0"
check "maar1 has no tunnel" test "$(qq "$WORK/magd1.sock" "show tunnels" "len(d)")" = 0
check "the CMD: mn1 served at maar1, no previous MAAR" \
    test "$(qq "$WORK/lmad.sock" "show cmd" "d['sessions'][0]['serving_maar'] + ' ' + str(len(d['sessions'][0]['previous_maars']))")" = "2001:db8:100::21 0"

# --- mag4: centralized PMIPv6 beside the MAARs, with the same lmad ---------------------
mn2_address() { ip -n "$N-mn2" -6 -o addr show dev eth0 scope global -tentative | awk '{print $4}' | cut -d/ -f1 | grep '^2001:db8:8000:' | head -1; }
has_mn2_address() { [[ -n $(mn2_address) ]]; }
dmm_mag_attach
check "mn2 at the plain MAG configures an address from the LMA's pool (2001:db8:8000::/48)" wait_until 20 has_mn2_address
A2=$(mn2_address)
check "the LMA: a binding for mn2 at mag4, none for mn1" \
    test "$(qq "$WORK/lmad.sock" "show bindings" "' '.join(sorted(e['mn'] + '@' + e['mag'] for e in d))")" = "mn2@pmip.example@2001:db8:100::24"
check "the CMD: a session for mn1 only" \
    test "$(qq "$WORK/lmad.sock" "show cmd" "' '.join(s['mn'] for s in d['sessions'])")" = "mn1@dmm.example"
check "the correspondent reaches mn2 through the LMA's tunnel to mag4" \
    ip netns exec "$N-cn" ping -6 -c 3 -i 0.2 -W 2 "$A2"

RUN_S=$((20 * TIME_SCALE))
dmm_stream "$RUN_S" "$A1"
RECV=$DMM_RECV
sleep 2

# --- maar2: P2 preferred, P1 deprecated through the tunnel from maar1 ----------------------
move_to 2
check "the MN configures an address from P2 at maar2" wait_until 10 has_address 2001:db8:a2:
check "its P1 address is deprecated (preferred lifetime 0)" wait_until 5 deprecated "$A1"
prev2() { qq "$WORK/magd2.sock" "show maar" "' '.join(sorted(p['prefix'] for s in d['served'] for p in s['previous_maar_prefixes']))"; }
check "maar2 reaches P1 through maar1" test "$(prev2)" = "2001:db8:a1::/64"
check "maar1 anchors P1 for the MN served at maar2" \
    test "$(qq "$WORK/magd1.sock" "show maar" "[a['served_at'] for a in d['anchored']][0]")" = "2001:db8:100::22"
# What leaves the tunnel is routed by destination, never back in by source
# (tunnel_rules.hpp): each MAAR's tunnel has its rule "iif TUNNEL lookup main".
tunnel_rule() {  # tunnel_rule N: maarN's tunnel device, and the rules naming it
    local dev
    dev=$(qq "$WORK/magd$1.sock" "show tunnels" "d[0]['device']")
    ip -n "$N-maar$1" -6 rule show iif "$dev" | grep -q "lookup main"
}
check "maar2's tunnel to maar1 has its rule 'iif TUNNEL lookup main'" tunnel_rule 2
check "maar1's tunnel to maar2 has its rule 'iif TUNNEL lookup main'" tunnel_rule 1
sleep 2

# --- maar3: P1 and P2 through tunnels from maar1 and maar2 ---------------------------------
move_to 3
check "the MN configures an address from P3 at maar3" wait_until 10 has_address 2001:db8:a3:
prev3() { qq "$WORK/magd3.sock" "show maar" "' '.join(sorted(p['prefix'] for s in d['served'] for p in s['previous_maar_prefixes']))"; }
both_prev3() { [[ $(prev3) == "2001:db8:a1::/64 2001:db8:a2::/64" ]]; }
check "maar3 reaches P1 and P2 through maar1 and maar2" wait_until 3 both_prev3
src_for_new() { ip -n "$MN" -6 route get 2001:db8:100::99 | grep -o 'src [^ ]*' | awk '{print $2}'; }
echo "# a new connection's source: $(src_for_new)"
check "a new connection takes P3 as its source" wait_until 5 bash -c "ip -n $MN -6 route get 2001:db8:100::99 | grep -q 'src 2001:db8:a3:'"
# maar3 routes what the MN sends from its local P3 as a plain router (RFC
# 8885 section 3.1), past the access links' unreachable table.
A3=$(mn_address 2001:db8:a3:)
check "the MN reaches the correspondent from P3, plainly routed at maar3" \
    ip netns exec "$MN" ping -6 -c 3 -i 0.2 -W 2 -I "$A3" 2001:db8:100::99
# Its way past the access table (999): "throw default from P3" there
# (source routes) or "from P3 lookup main" (rules).
local_uplink() {  # local_uplink N PREFIX
    ip -n "$N-maar$1" -6 route show table 999 | grep -q "throw default from $2" ||
        ip -n "$N-maar$1" -6 rule show | grep -q "from $2 lookup main"
}
check "maar3: P3's way past its access table (a throw route or a rule)" local_uplink 3 2001:db8:a3::/64
backends() { qq "$1" "show tunnels" "','.join(sorted({t['backend'] for t in d}))"; }
want_backend=$(expected_tunnel_backend)
for who in lmad magd1 magd2 magd3; do
    check "$who: tunnels on the $want_backend backend (PMIP_TESTBED_TUNNELS=${PMIP_TESTBED_TUNNELS:-userspace})" \
        test "$(backends "$WORK/$who.sock")" = "$want_backend"
done
check "the CMD: served at maar3, maar1 and maar2 previous" \
    test "$(qq "$WORK/lmad.sock" "show cmd" "' '.join(sorted(p['maar'] for p in d['sessions'][0]['previous_maars']))")" = "2001:db8:100::21 2001:db8:100::22"

wait "$RECV" 2>/dev/null
forget_pid "$RECV"
echo "# stream at the MN: $(tr -d '\n' <"$WORK/flow.json" | cut -c1-400)"
flow() { "$PY" -c "import json; d=json.load(open('$WORK/flow.json')); print(d['$1'])"; }
received=$(flow received 2>/dev/null || echo 0)
check "the stream on P1 reached the MN at maar1 from its start" test "$(flow first_seq 2>/dev/null || echo 99)" -le 5
check "the stream on P1 reached the MN through both moves (>= 90 % of its datagrams)" test "$received" -ge $((1800 * TIME_SCALE))
check "the stream on P1 kept arriving after the last move and past the ${HOLD} s hold (its last datagrams came)" \
    test "$(flow last_seq 2>/dev/null || echo 0)" -ge $((1990 * TIME_SCALE))
check "maar1 and maar3 kept P1 past the hold while the stream flowed (holds_extended)" \
    test "$(qq "$WORK/magd1.sock" "show maar" "d['counters']['holds_extended']")" -ge 1 -a \
    "$(qq "$WORK/magd3.sock" "show maar" "d['counters']['holds_extended']")" -ge 1

# --- the hold ends: maar1 and maar2 let their prefixes go ------------------------------
gone() {
    [[ $(qq "$WORK/magd1.sock" "show maar" "len(d['anchored'])") == 0 &&
       $(qq "$WORK/magd2.sock" "show maar" "len(d['anchored'])") == 0 &&
       $(qq "$WORK/magd1.sock" "show tunnels" "len(d)") == 0 &&
       $(qq "$WORK/magd2.sock" "show tunnels" "len(d)") == 0 ]]
}
check "once the stream ended (one ${IDLE} s idle look), maar1 and maar2 anchor nothing and have no tunnel" \
    wait_until $((HOLD + IDLE + 5)) gone
none3() { [[ -z $(prev3) && $(qq "$WORK/magd3.sock" "show tunnels" "len(d)") == 0 ]]; }
check "maar3 has no previous MAAR's prefix left, nor a tunnel" wait_until 5 none3
check "the CMD: maar1 and maar2 left the MN's list" \
    test "$(qq "$WORK/lmad.sock" "show cmd" "len(d['sessions'][0]['previous_maars'])")" = 0
no_route_p1() { ! ip -n "$N-maar1" -6 route show 2001:db8:a1::/64 | grep -q .; }
check "maar1: no route for P1 left" no_route_p1
no_tunnel_rule() { local r; r=$(ip -n "$N-maar$1" -6 rule show) && ! grep -q "iif mg6" <<<"$r"; }
check "maar1: no 'iif TUNNEL lookup main' rule left (it went with the tunnel)" no_tunnel_rule 1
check "maar2: no 'iif TUNNEL lookup main' rule left (it went with the tunnel)" no_tunnel_rule 2
no_local_uplink() { ip -n "$N-maar$1" -6 route show table 999 >/dev/null && ! local_uplink "$@"; }
check "maar1: P1's way past its access table gone (the table read, neither a throw route nor a rule for P1)" \
    no_local_uplink 1 2001:db8:a1::/64

# --- on the wire ---------------------------------------------------------------------------
stop_pid "$CAP" INT
"$PMIPMH" decode --pcap "$WORK/cmd.pcapng" >"$WORK/mh.jsonl" 2>"$WORK/mh.err"
wire() { "$PY" - "$WORK/mh.jsonl" "$1" <<'PY_END'
import json, sys
path, what = sys.argv[1:]
msgs = [json.loads(l) for l in open(path) if l.strip()]
def has(m, name): return any(o.get("name") == name for o in m.get("options", []))
d_pbu = [m for m in msgs if m.get("type") == "pbu" and "D" in m.get("flags", [])]
d_pba = [m for m in msgs if m.get("type") == "pba" and "D" in m.get("flags", [])]
serving = [m for m in d_pbu if has(m, "serving_maar")]
previous = [m for m in d_pba if has(m, "previous_maar")]
print("# pmip-mh at the CMD: %d messages, %d PBUs with D (%d with Serving MAAR), %d PBAs with D (%d with Previous MAAR)"
      % (len(msgs), len(d_pbu), len(serving), len(d_pba), len(previous)), file=sys.stderr)
ok = {"d": len(d_pbu) >= 3 and len(d_pba) >= 3, "options": len(serving) >= 2 and len(previous) >= 2}[what]
sys.exit(0 if ok else 1)
PY_END
}
# tshark with our RFC 8885 plugin (Debian 12's tshark alone knows neither
# the D flag nor options 65-70; tests/cli/test_wireshark_rfc8885.sh checks
# the plugin field by field against crafted packets).
TS=(tshark -X "lua_script:$NETNS_ROOT/tools/wireshark/pmip6-rfc8885.lua" -r "$WORK/cmd.pcapng")
malformed=$("${TS[@]}" -Y "_ws.malformed || _ws.expert.severity >= warning" 2>/dev/null | wc -l)
check "tshark: no malformed Mobility Header at the CMD" test "$malformed" -eq 0
ts_count() { "${TS[@]}" -Y "$1" 2>/dev/null | wc -l; }
check "tshark: PBUs with D from maar1-3 to the CMD, and from the CMD" \
    test "$(ts_count 'mip6.mhtype == 5 && pmip6dmm.d == 1 && ipv6.dst == 2001:db8:100::1')" -ge 3 -a \
    "$(ts_count 'mip6.mhtype == 5 && pmip6dmm.d == 1 && ipv6.src == 2001:db8:100::1')" -ge 2
check "tshark: PBAs with D from the CMD" test "$(ts_count 'mip6.mhtype == 6 && pmip6dmm.d == 1 && ipv6.src == 2001:db8:100::1')" -ge 3
check "tshark: Serving MAAR (68) naming maar2 and maar3 in the CMD's PBUs" \
    test "$(ts_count 'pmip6dmm.serving_maar == 2001:db8:100::22')" -ge 1 -a "$(ts_count 'pmip6dmm.serving_maar == 2001:db8:100::23')" -ge 1
check "tshark: Previous MAAR (67) naming maar1 with P1 in the CMD's PBAs" \
    test "$(ts_count 'mip6.mhtype == 6 && pmip6dmm.previous_maar.address == 2001:db8:100::21 && pmip6dmm.previous_maar.prefix == 2001:db8:a1::')" -ge 1
check "tshark: mag4's PBU and the LMA's PBA to it without D" \
    test "$(ts_count 'mip6.mhtype == 5 && pmip6dmm.d == 0 && ipv6.src == 2001:db8:100::24')" -ge 1 -a \
    "$(ts_count 'mip6.mhtype == 6 && pmip6dmm.d == 0 && ipv6.dst == 2001:db8:100::24')" -ge 1
check "on the wire: PBUs and PBAs with the D flag" wire d
check "on the wire: Serving MAAR (68) in the CMD's PBUs, Previous MAAR (67) in its PBAs" wire options

kill -TERM "${PIDS[@]}" 2>/dev/null
sleep 1
check "mag4: no tunnel device left after SIGTERM" no_links_like "$N-mag4" mg
for i in 1 2 3; do
    check "maar$i: no tunnel device left after SIGTERM" no_links_like "$N-maar$i" mg
done
finish
