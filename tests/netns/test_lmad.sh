#!/usr/bin/env bash
# The real lmad in a network namespace answering PBUs built by scapy
# (issue 4 "Evidence expected"; DESIGN.md section 7 items 3 and 4).
#
#   test_lmad.sh PATH/lmad PATH/pmipctl
#
# Topology (namespace names carry this shell's PID so that runs never meet):
#
#   pml-PID-lma                          pml-PID-mag
#   lv 2001:db8:100::1/64 ------------- mv 2001:db8:100::11/64 (MAG 1)
#   lmad (userspace tunnels,               2001:db8:100::12/64 (MAG 2)
#   control socket + state in a            2001:db8:100::13/64 (not authorized)
#   mktemp dir)                          lmad_peer.py plays the MAGs (scapy)
#
# Checks, one line each: --check passes; registration accepted (status 0, P,
# HNP from the pool); `pmipctl --json show bindings` shows it; route to the HNP
# (proto 213) via the tunnel device; handoff to MAG 2 moves the route to
# another tunnel; de-registration removes it after MinDelayBeforeBCEDelete
# (1000 ms here); 153 for an unknown MN, 154 for an unauthorized MAG; unknown
# MH type -> Binding Error 2; bad Payload Proto -> ICMPv6 Parameter Problem;
# garbage dropped and counted; heartbeat answered with the Restart Counter;
# policy reload (pmipctl and SIGHUP); pmipctl exit statuses; Binding
# Revocation (RFC 5846): `pmipctl revoke mn` puts a BRI on the wire (P, trigger,
# MN-ID, HNP) and a scapy-built BRA removes the binding and its route; an
# unanswered BRI is retransmitted once after 1 s and the binding removed 2 s
# later; `pmipctl revoke mag` sends a global BRI (G, P, trigger 128, no
# options); a BRA with an unknown sequence number is dropped and counted;
# tshark decodes every PBA, BRI and BRA with no malformed/expert warnings;
# SIGTERM leaves no pm* device, no
# proto 213 route and no socket; a restarted lmad sends the MAG that had
# bindings an unsolicited Heartbeat Response with Restart Counter 2.
#
# Exit 1 if any check failed, 77 ("SKIPPED: reason") when not root or a tool
# is missing. Everything is removed on exit (trap cleanup EXIT); with
# KEEP_WORK=1 the scratch directory (configs, JSON answers, capture, log) is
# kept and its path printed.
set -u

LMAD=${1:?usage: test_lmad.sh PATH/lmad PATH/pmipctl}
PMIPCTL=${2:?usage: test_lmad.sh PATH/lmad PATH/pmipctl}
HERE=$(cd "$(dirname "$0")" && pwd)
PY=/usr/bin/python3   # Debian's python3: the one that imports python3-scapy
PEER="$PY $HERE/lmad_peer.py"

if [[ $(id -u) -ne 0 ]]; then
    echo "SKIPPED: needs root (network namespaces, TUN devices, raw sockets)"
    exit 77
fi
for tool in ip tshark "$PY"; do
    if ! command -v "$tool" >/dev/null; then
        echo "SKIPPED: $tool not installed"
        exit 77
    fi
done
if ! "$PY" -c 'import sys; sys.path.append("/usr/lib/python3/dist-packages"); import scapy.layers.inet6' 2>/dev/null; then
    echo "SKIPPED: python3-scapy not installed"
    exit 77
fi
if [[ ! -c /dev/net/tun ]]; then
    echo "SKIPPED: no /dev/net/tun (userspace tunnel backend)"
    exit 77
fi

ID=$$
NS_LMA=pml-$ID-lma
NS_MAG=pml-$ID-mag
WORK=$(mktemp -d /tmp/pml-$ID.XXXXXX)
LMA=2001:db8:100::1
MAG1=2001:db8:100::11
MAG2=2001:db8:100::12
MAG3=2001:db8:100::13
SOCK=$WORK/lmad.sock
LMAD_PID=
GONE_MS=0
CAPTURE_PID=
FAILURES=0

cleanup() {
    [[ -n $CAPTURE_PID ]] && kill -TERM "$CAPTURE_PID" 2>/dev/null && wait "$CAPTURE_PID" 2>/dev/null
    [[ -n $LMAD_PID ]] && kill -TERM "$LMAD_PID" 2>/dev/null && wait "$LMAD_PID" 2>/dev/null
    ip netns del "$NS_LMA" 2>/dev/null
    ip netns del "$NS_MAG" 2>/dev/null
    if [[ $FAILURES -ne 0 && -f $WORK/lmad.log ]]; then
        echo "--- lmad log (last 60 lines) ---"
        tail -n 60 "$WORK/lmad.log"
    fi
    [[ -n ${KEEP_WORK:-} ]] && echo "kept $WORK" || rm -rf "$WORK"
}
trap cleanup EXIT

pass() { echo "ok - $*"; }
fail() {
    echo "FAIL - $*"
    FAILURES=$((FAILURES + 1))
}
check() {  # check DESCRIPTION COMMAND...
    local what=$1
    shift
    if "$@"; then pass "$what"; else fail "$what"; fi
}
in_lma() { ip netns exec "$NS_LMA" "$@"; }
in_mag() { ip netns exec "$NS_MAG" "$@"; }
ctl() { "$PMIPCTL" --socket "$SOCK" "$@"; }
# json EXPR < JSON: prints the Python expression over the document `d`.
json() { "$PY" -c "import json,sys; d=json.load(sys.stdin); r=($1); print(r if not isinstance(r,(dict,list)) else json.dumps(r))"; }
# wait_until SECONDS COMMAND...: polls every 100 ms.
wait_until() {
    local deadline=$((SECONDS + $1))
    shift
    while ((SECONDS < deadline)); do
        "$@" && return 0
        sleep 0.1
    done
    "$@"
}

# --- topology ---------------------------------------------------------------
ip netns add "$NS_LMA" && ip netns add "$NS_MAG" || { echo "SKIPPED: cannot create namespaces"; exit 77; }
ip link add lv netns "$NS_LMA" type veth peer name mv netns "$NS_MAG"
in_lma ip link set lo up
in_mag ip link set lo up
in_lma ip link set lv up
in_mag ip link set mv up
in_lma ip -6 addr add $LMA/64 dev lv nodad
for a in $MAG1 $MAG2 $MAG3; do in_mag ip -6 addr add $a/64 dev mv nodad; done
wait_until 5 in_mag ping -6 -c1 -W1 $LMA >/dev/null || fail "veth link up"

cat >"$WORK/policy.json" <<EOF
{"mobile_nodes": [{"id": "mn1@example.org"}, {"id": "mn2@example.org"}]}
EOF
cat >"$WORK/lmad.conf" <<EOF
# generated by test_lmad.sh
[lma]
address = $LMA
[pools]
pool = 2001:db8:8000::/33 64
[binding]
max-lifetime = 400
min-delay-before-bce-delete-ms = 1000
[mags]
authorized = $MAG1 $MAG2
[policy]
store = $WORK/policy.json
[tunnel]
backend = userspace
[heartbeat]
interval-s = 30
[control]
socket = $SOCK
[state]
file = $WORK/lmad.state
[log]
level = debug
debug = mh bce tunnel
EOF

check "lmad --check accepts the generated configuration" "$LMAD" --config "$WORK/lmad.conf" --check >/dev/null

start_lmad() {
    # Not through in_lma: a function would run in a subshell and $! would be
    # the subshell's PID, not lmad's (signals must reach lmad itself).
    ip netns exec "$NS_LMA" "$LMAD" --config "$WORK/lmad.conf" >>"$WORK/lmad.log" 2>&1 &
    LMAD_PID=$!
    wait_until 10 ctl show counters >/dev/null 2>&1
}
check "lmad starts and answers on its control socket" start_lmad

# Capture what lmad puts on the wire, for tshark at the end.
ip netns exec "$NS_LMA" dumpcap -i lv -w "$WORK/cap.pcapng" -f "ip6" >"$WORK/dumpcap.log" 2>&1 &
CAPTURE_PID=$!
wait_until 5 grep -q "Capturing on" "$WORK/dumpcap.log" || sleep 1

check "restart counter 1 after the first start" \
    test "$(ctl --json show counters | json 'd["daemon"]["restart_counter"]')" = 1

# --- registration -----------------------------------------------------------
PBAS=0
pba() {  # pba NAME ARGS...: sends a PBU, stores the PBA JSON in $WORK/NAME.json
    local name=$1
    shift
    in_mag $PEER pbu --dst $LMA "$@" >"$WORK/$name.json" 2>"$WORK/$name.err"
    local rc=$?
    [[ $rc -eq 0 ]] && PBAS=$((PBAS + 1))
    return $rc
}
field() { json "$2" <"$WORK/$1.json"; }

check "PBU from MAG 1 answered" pba reg --src $MAG1 --mn mn1@example.org --hi 1 --seq 10
check "PBA status 0 (accepted)" test "$(field reg 'd["status"]')" = 0
check "PBA has P flag, sequence 10, lifetime 100 units, MN-ID echoed" \
    test "$(field reg 'd["p_flag"] and d["seq"]==10 and d["lifetime"]==100 and d["mn_id"]=="mn1@example.org"')" = True
HNP=$(field reg 'd["hnps"][0] if d.get("hnps") else ""')
check "HNP $HNP assigned from the pool 2001:db8:8000::/33 as a /64" \
    "$PY" -c "import ipaddress,sys; n=ipaddress.IPv6Network('$HNP'); sys.exit(not (n.prefixlen==64 and n.subnet_of(ipaddress.IPv6Network('2001:db8:8000::/33'))))"

ctl --json show bindings >"$WORK/bindings.json"
check "pmipctl --json show bindings lists mn1 with $HNP at MAG 1" \
    test "$(json "[b['mn'] for b in d if '$HNP' in b['prefixes'] and b['mag']=='$MAG1' and b['state']=='active']" <"$WORK/bindings.json")" = '["mn1@example.org"]'
TUN1=$(json 'd[0]["tunnel"]' <"$WORK/bindings.json")
route_dev() { in_lma ip -6 route show proto 213 | awk -v p="$HNP" '$1 == p { for (i = 1; i < NF; i++) if ($i == "dev") print $(i + 1) }'; }
route_is() { test "$(route_dev)" = "$1"; }
check "route $HNP proto 213 via tunnel device $TUN1" route_is "$TUN1"
check "tunnel device $TUN1 exists" in_lma ip link show dev "$TUN1" >/dev/null
check "pmipctl show bindings prints a table with mn1" \
    bash -c "'$PMIPCTL' --socket '$SOCK' show bindings | grep -E '^MN +PREFIXES' >/dev/null && '$PMIPCTL' --socket '$SOCK' show bindings | grep -q 'mn1@example.org'"
check "pmipctl show binding mn1@example.org" bash -c "'$PMIPCTL' --socket '$SOCK' --json show binding mn1@example.org | grep -q '$HNP'"

# --- handoff to MAG 2 -------------------------------------------------------
check "handoff PBU from MAG 2 (HI=3) answered" pba handoff --src $MAG2 --mn mn1@example.org --hnp "$HNP" --hi 3 --seq 11
check "handoff PBA status 0 with the same HNP" \
    test "$(field handoff 'd["status"]==0 and d["hnps"]==["'$HNP'"]')" = True
TUN2=$(ctl --json show binding mn1@example.org | json 'd[0]["tunnel"]')
check "binding now at MAG 2 via another tunnel ($TUN2)" \
    test "$(ctl --json show binding mn1@example.org | json 'd[0]["mag"]')" = $MAG2 -a "$TUN2" != "$TUN1"
check "route $HNP moved to $TUN2" route_is "$TUN2"
check "MAG 1's tunnel $TUN1 deleted (no binding uses it)" wait_until 2 bash -c "! ip netns exec $NS_LMA ip link show dev $TUN1 2>/dev/null"

# --- de-registration after MinDelayBeforeBCEDelete ----------------------------
check "de-registration (lifetime 0, HI=4) from MAG 2 accepted" pba dereg --src $MAG2 --mn mn1@example.org --hnp "$HNP" --hi 4 --lifetime 0 --seq 12
check "de-registration PBA status 0" test "$(field dereg 'd["status"]')" = 0
check "route still present during MinDelayBeforeBCEDelete" route_is "$TUN2"
check "binding shown as deregistering" test "$(ctl --json show bindings | json 'd[0]["state"]')" = deregistering
route_gone() {
    [[ -z $(route_dev) ]] || return 1
    GONE_MS=$(date +%s%3N)
}
wait_until 5 route_gone
# From the PBA's arrival at the MAG (the LMA started its timer just before sending it).
ELAPSED=$((GONE_MS - $(field dereg 'd["received_at_ms"]')))
check "route removed ${ELAPSED} ms after the PBA (MinDelayBeforeBCEDelete 1000 ms)" \
    test -z "$(route_dev)" -a $ELAPSED -ge 900 -a $ELAPSED -le 2500
check "binding deleted" test "$(ctl --json show bindings | json 'len(d)')" = 0
check "show binding of a deleted MN exits 1" bash -c "'$PMIPCTL' --socket '$SOCK' show binding mn1@example.org 2>/dev/null; test \$? -eq 1"

# --- rejections ---------------------------------------------------------------
if pba unknown --src $MAG1 --mn stranger@example.org --seq 20; then
    check "PBA status 153 (NOT_LMA_FOR_THIS_MOBILE_NODE) for an unknown MN" test "$(field unknown 'd["status"]')" = 153
else
    fail "PBU for an unknown MN answered"
fi
if pba unauth --src $MAG3 --mn mn2@example.org --seq 21; then
    check "PBA status 154 (MAG_NOT_AUTHORIZED_FOR_PROXY_REG) from an unauthorized MAG" test "$(field unauth 'd["status"]')" = 154
else
    fail "PBU from an unauthorized MAG answered"
fi

# --- bad input -----------------------------------------------------------------
in_mag $PEER mh --src $MAG1 --dst $LMA --hex 3b012a00000000000000000000000000 --expect be >"$WORK/be.json" 2>&1
check "unknown MH type 42 answered with Binding Error status 2" test "$(json 'd.get("status")' <"$WORK/be.json")" = 2
in_mag $PEER mh --src $MAG1 --dst $LMA --hex 06010500000000018200006400000000 --expect icmp >"$WORK/icmp.json" 2>&1
check "bad Payload Proto answered with ICMPv6 Parameter Problem code 0, pointer 40" \
    test "$(json 'd.get("icmp_type")==4 and d.get("code")==0 and d.get("pointer")==40 and d.get("quoted_next_header")==135' <"$WORK/icmp.json")" = True
BEFORE=$(ctl --json show counters | json 'd["mh"].get("parse_truncated", 0)')
in_mag $PEER mh --src $MAG1 --dst $LMA --hex 3b0305000000abcd --timeout 1 >"$WORK/garbage.json" 2>&1
check "garbage MH (Header Len past the end) not answered" test "$(json 'd["answer"]' <"$WORK/garbage.json")" = None
check "garbage MH dropped and counted (mh.parse_truncated)" \
    test "$(ctl --json show counters | json 'd["mh"].get("parse_truncated", 0)')" = $((BEFORE + 1))

# --- heartbeat --------------------------------------------------------------------
in_mag $PEER heartbeat --src $MAG1 --dst $LMA --seq 77 >"$WORK/hb.json" 2>&1
check "heartbeat request answered (R=1, sequence 77, Restart Counter 1)" \
    test "$(json 'd.get("r_flag") and d.get("seq")==77 and d.get("restart_counter")==1' <"$WORK/hb.json")" = True

# --- policy reload ----------------------------------------------------------------
cat >"$WORK/policy.json" <<EOF
{"mobile_nodes": [{"id": "mn1@example.org"}, {"id": "mn2@example.org"}, {"id": "mn3@example.org"}]}
EOF
check "pmipctl reload reports mn3 added" test "$(ctl --json reload | json 'd["added"]')" = '["mn3@example.org"]'
check "mn3 registers after the reload" pba mn3 --src $MAG1 --mn mn3@example.org --seq 30
check "mn3 PBA status 0" test "$(field mn3 'd["status"]')" = 0
cat >"$WORK/policy.json" <<EOF
{"mobile_nodes": [{"id": "mn1@example.org"}, {"id": "mn2@example.org"}, {"id": "mn3@example.org"}, {"id": "mn4@example.org"}]}
EOF
kill -HUP "$LMAD_PID"
check "SIGHUP reloads the policy store (log names mn4)" wait_until 5 grep -q "added mn4@example.org" "$WORK/lmad.log"
echo '{"mobile_nodes": [{"id": 1}]}' >"$WORK/policy.json"
check "reload of a broken policy file exits 1 and keeps the old policy" \
    bash -c "'$PMIPCTL' --socket '$SOCK' reload 2>'$WORK/reload.err'; test \$? -eq 1 && grep -q 'mobile_nodes\[0\].id' '$WORK/reload.err'"
cat >"$WORK/policy.json" <<EOF
{"mobile_nodes": [{"id": "mn1@example.org"}, {"id": "mn2@example.org"}]}
EOF
check "pmipctl exits 2 naming the socket when it cannot connect" \
    bash -c "'$PMIPCTL' --socket '$WORK/none.sock' show counters 2>'$WORK/ctl.err'; test \$? -eq 2 && grep -q '$WORK/none.sock' '$WORK/ctl.err'"

# A binding that is still there at shutdown (for the restart check).
check "mn2 registered at MAG 1" pba mn2 --src $MAG1 --mn mn2@example.org --seq 40

# --- Binding Revocation [RFC 5846], the LMA as initiator ----------------------------
route_dev_for() { in_lma ip -6 route show proto 213 | awk -v p="$1" '$1 == p { for (i = 1; i < NF; i++) if ($i == "dev") print $(i + 1) }'; }
no_binding() { ! "$PMIPCTL" --socket "$SOCK" --json show binding "$1" >/dev/null 2>&1; }
listen_bri() {  # listen_bri NAME MAG ARGS...: background BRI listener, ready when this returns
    local name=$1 mag=$2
    shift 2
    ip netns exec "$NS_MAG" $PEER revocation --src "$mag" --ready-file "$WORK/$name.ready" "$@" >"$WORK/$name.json" 2>&1 &
    BRI_PID=$!
    wait_until 5 test -e "$WORK/$name.ready"
}
BRIS=0
HNP3=$(ctl --json show binding mn3@example.org | json 'd[0]["prefixes"][0]')
listen_bri rev1 $MAG1 --answer 0 --timeout 5
ctl --json revoke mn mn3@example.org >"$WORK/revoke1.json" 2>"$WORK/revoke1.err"
check "pmipctl revoke mn mn3@example.org: one BRI to MAG 1, trigger 1, prefix $HNP3" \
    test "$(json '(r:=d["revocations"]) and len(r)==1 and r[0]["mag"]=="'$MAG1'" and r[0]["trigger"]==1 and r[0]["prefixes"]==["'$HNP3'"] and not r[0]["global"]' <"$WORK/revoke1.json")" = True
wait $BRI_PID
BRIS=$((BRIS + 1))
check "MAG 1 received the BRI from $LMA: P=1 V=0 G=0, trigger 1 (administrative), MN-ID mn3, HNP $HNP3" \
    test "$(json '(b:=d["bris"][0]) and b["p_flag"] and not b["v_flag"] and not b["g_flag"] and b["trigger"]==1 and b["mn_id"]=="mn3@example.org" and b["mn_id_subtype"]==1 and b["hnps"]==["'$HNP3'"] and b["source"]=="'$LMA'"' <"$WORK/rev1.json")" = True
check "the scapy-built BRA (status 0) completes it: mn3's binding gone" wait_until 5 no_binding mn3@example.org
check "mn3's route $HNP3 gone" test -z "$(route_dev_for "$HNP3")"
ctl --json show counters >"$WORK/counters-rev1.json"
check "counters: 1 revocation started and completed, BRA status 0 counted, 1 session revoked" \
    test "$(json '(e:=d["engine"]) and e["revocations_started"]==1 and e["revocations_completed"]==1 and e["bra_by_status"]=={"0 success": 1} and e["sessions_revoked"]==1 and d["mh"]["bra"]==1' <"$WORK/counters-rev1.json")" = True

# No BRA: one retransmission after InitMINDelayBRIs (1 s), clean-up after MAX_BRACK_TIMEOUT (2 s).
check "mn1 registered at MAG 2" pba mn1b --src $MAG2 --mn mn1@example.org --seq 50
HNP1=$(field mn1b 'd["hnps"][0]')
listen_bri rev2 $MAG2 --answer none --count 2 --timeout 6
ctl --json revoke mn mn1@example.org trigger=user-initiated-session-termination >"$WORK/revoke2.json" 2>"$WORK/revoke2.err"
check "pmipctl revoke with trigger=user-initiated-session-termination sends trigger 5" \
    test "$(json 'd["revocations"][0]["trigger"]' <"$WORK/revoke2.json")" = 5
check "while the BRI is unanswered the binding is shown as revoking and keeps its route" \
    test "$(ctl --json show binding mn1@example.org | json 'd[0]["state"]')" = revoking -a -n "$(route_dev_for "$HNP1")"
check "pmipctl show revocations lists it" \
    test "$(ctl --json show revocations | json '[r["mag"] for r in d]')" = "[\"$MAG2\"]"
wait $BRI_PID
BRIS=$((BRIS + 2))
RETRY_MS=$(json 'd["bris"][1]["received_at_ms"] - d["bris"][0]["received_at_ms"]' <"$WORK/rev2.json")
check "the BRI was retransmitted unchanged ${RETRY_MS} ms later (InitMINDelayBRIs 1000 ms)" \
    test "$(json '(a:=d["bris"][0]) and (b:=d["bris"][1]) and a["seq"]==b["seq"] and a["trigger"]==b["trigger"]==5 and a["hnps"]==b["hnps"]==["'$HNP1'"]' <"$WORK/rev2.json")" = True -a "$RETRY_MS" -ge 900 -a "$RETRY_MS" -le 2500
wait_until 6 no_binding mn1@example.org
GONE=$(( $(date +%s%3N) - $(json 'd["bris"][1]["received_at_ms"]' <"$WORK/rev2.json") ))
check "binding and route removed ${GONE} ms after the retransmission (MAX_BRACK_TIMEOUT 2000 ms)" \
    test -z "$(route_dev_for "$HNP1")" -a $GONE -ge 1800 -a $GONE -le 5000
check "counters: 1 revocation timed out, 1 BRI retransmitted" \
    test "$(ctl --json show counters | json 'd["engine"]["revocations_timed_out"]==1 and d["engine"]["bri_retransmitted"]==1')" = True

# Global: every binding at MAG 2.
check "mn1 registered at MAG 2 again" pba mn1c --src $MAG2 --mn mn1@example.org --seq 51
listen_bri rev3 $MAG2 --answer 0 --timeout 5
ctl --json revoke mag $MAG2 >"$WORK/revoke3.json" 2>"$WORK/revoke3.err"
wait $BRI_PID
BRIS=$((BRIS + 1))
check "pmipctl revoke mag $MAG2: a global BRI (P=1 G=1, trigger 128 per-peer policy, no options, 16 octets)" \
    test "$(json '(b:=d["bris"][0]) and b["p_flag"] and b["g_flag"] and b["trigger"]==128 and b["options"]==[] and b["octets"]==16 and b["header_len"]==1' <"$WORK/rev3.json")" = True
check "MAG 2's bindings gone after its BRA; mn2 at MAG 1 untouched" \
    wait_until 5 bash -c "test \"\$('$PMIPCTL' --socket '$SOCK' --json show bindings | $PY -c 'import json,sys; print(sorted((b[\"mn\"], b[\"mag\"]) for b in json.load(sys.stdin)))')\" = \"[('mn2@example.org', '$MAG1')]\""

# Refusals and stray BRAs.
check "revoke of an MN without binding exits 1 naming it" \
    bash -c "'$PMIPCTL' --socket '$SOCK' revoke mn nobody@example.org 2>'$WORK/rev-err1'; test \$? -eq 1 && grep -q 'no binding for mobile node \"nobody@example.org\"' '$WORK/rev-err1'"
check "revoke of a MAG without bindings exits 1" \
    bash -c "'$PMIPCTL' --socket '$SOCK' revoke mag $MAG2 2>'$WORK/rev-err2'; test \$? -eq 1 && grep -q 'no active binding at MAG' '$WORK/rev-err2'"
check "revoke mn with a global trigger exits 1 (RFC 5846 section 5.1)" \
    bash -c "'$PMIPCTL' --socket '$SOCK' revoke mn mn2@example.org trigger=128 2>'$WORK/rev-err3'; test \$? -eq 1 && grep -q 'per-MN trigger' '$WORK/rev-err3'"
in_mag $PEER bra --src $MAG1 --dst $LMA --seq 999 --timeout 1 >"$WORK/stray.json" 2>&1
check "a BRA with an unknown sequence number is not answered" test "$(json 'd["answer"]' <"$WORK/stray.json")" = None
check "and dropped and counted (engine.bra_unknown_sequence)" \
    test "$(ctl --json show counters | json 'd["engine"]["bra_unknown_sequence"]')" = 1
check "mn2 still bound at MAG 1" test "$(ctl --json show binding mn2@example.org | json 'd[0]["state"]')" = active

# --- tshark: every PBA decodes cleanly ---------------------------------------------
sleep 0.5
# SIGTERM: a background job of a non-interactive shell ignores SIGINT.
kill -TERM "$CAPTURE_PID" 2>/dev/null
wait "$CAPTURE_PID" 2>/dev/null
CAPTURE_PID=
CAPTURED=$(tshark -r "$WORK/cap.pcapng" -Y "mip6.mhtype == 6" 2>/dev/null | wc -l)
check "tshark sees every PBA ($CAPTURED captured, $PBAS received)" test "$CAPTURED" -eq "$PBAS"
CAPTURED_BRI=$(tshark -r "$WORK/cap.pcapng" -Y "mip6.mhtype == 16 && mip6.bri_br.type == 1" 2>/dev/null | wc -l)
check "tshark decodes every BRI lmad sent ($CAPTURED_BRI captured, $BRIS received)" test "$CAPTURED_BRI" -eq "$BRIS"
CAPTURED_BRA=$(tshark -r "$WORK/cap.pcapng" -Y "mip6.mhtype == 16 && mip6.bri_br.type == 2" 2>/dev/null | wc -l)
check "tshark decodes the scapy BRAs ($CAPTURED_BRA captured, 3 sent)" test "$CAPTURED_BRA" -eq 3
BAD=$(tshark -r "$WORK/cap.pcapng" -Y "(mip6.mhtype == 6 || mip6.mhtype == 7 || mip6.mhtype == 13 || mip6.mhtype == 16) && (_ws.malformed || _ws.expert)" 2>/dev/null)
check "tshark: no malformed or expert warnings on PBAs, Binding Errors, heartbeats, BRIs, BRAs" test -z "$BAD"
[[ -n $BAD ]] && echo "$BAD"

# --- SIGTERM: nothing left ---------------------------------------------------------
kill -TERM "$LMAD_PID"
wait_until 10 bash -c "! kill -0 $LMAD_PID 2>/dev/null"
wait "$LMAD_PID"
RC=$?
LMAD_PID=
check "lmad exits 0 on SIGTERM" test $RC -eq 0
check "no pm* tunnel device left" test -z "$(in_lma ip -o link show | grep -E ': pm[6g]-')"
check "no proto 213 route left" test -z "$(in_lma ip -6 route show proto 213 table all)"
check "control socket removed" test ! -e "$SOCK"
check "state file keeps restart counter 1 and MAG 1 as a peer with bindings" \
    test "$(json 'd["restart_counter"]==1 and [p["mag"] for p in d["peers"]]==["'$MAG1'"]' <"$WORK/lmad.state")" = True

# --- restart: unsolicited Heartbeat Response with the new counter ---------------------
ip netns exec "$NS_MAG" $PEER listen --src $MAG1 --type 13 --timeout 10 --ready-file "$WORK/listen.ready" >"$WORK/unsolicited.json" 2>&1 &
LISTEN_PID=$!
wait_until 5 test -e "$WORK/listen.ready"
check "lmad restarts" start_lmad
wait "$LISTEN_PID"
check "MAG 1 told of the restart: unsolicited Heartbeat Response U=1 R=1, Restart Counter 2" \
    test "$(json 'd.get("u_flag") and d.get("r_flag") and d.get("restart_counter")==2 and d.get("source")=="'$LMA'"' <"$WORK/unsolicited.json")" = True
kill -TERM "$LMAD_PID"
wait "$LMAD_PID"
RC=$?
LMAD_PID=
check "second lmad exits 0 on SIGTERM" test $RC -eq 0
check "nothing left in the kernel after the second run" \
    test -z "$(in_lma ip -o link show | grep -E ': pm[6g]-')$(in_lma ip -6 route show proto 213 table all)"

if [[ $FAILURES -ne 0 ]]; then
    echo "$FAILURES check(s) failed"
    exit 1
fi
echo "all checks passed"
