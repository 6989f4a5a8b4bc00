#!/usr/bin/env bash
# Authenticated signalling end to end (issue 16; RFC 5213 section 4, RFC 4285):
# the namespace testbed with `auth` (lmad [mags] auth and magd [lmas] auth
# required, HMAC-SHA256, SPI 1000, one key per MAG), the real Linux kernel as
# the MN, scapy (tests/netns/lmad_peer.py) as the attacker on the MAG links.
#
#   test_pmip_auth.sh BUILD_DIR
#
# 1. mn1 registers at mag1; tshark sees the authentication option (SPI 1000)
#    on every PBU and PBA and decodes them without a warning.
# 2. A PBU for mn1 from mag2's address, unsigned (a source that never
#    authenticated): no answer, the binding stays at mag1.
# 3. The same from mag1's address (a MAG that has authenticated): PBA 146
#    MIPV6-AUTH-FAIL, the binding stays.
# 4. A BRI for mn1 to magd1 from the LMA's address, unsigned: no BRA, mn1
#    stays registered at mag1.
# 5. mn1 moves to mag2; mag1's captured (validly signed) PBU replayed from
#    mag1: the binding stays at mag2.
# 6. Key rotation by reload (new SPI 2000 added second, moved first, old
#    removed) while the binding lives; mn1 moves back to mag1 under SPI 2000;
#    session and prefix kept throughout.
# Exit 1 when a check fails, 77 when it cannot run here.
set -u
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
BUILD=${1:?usage: test_pmip_auth.sh BUILD_DIR}
PEER="$PY $(dirname "${BASH_SOURCE[0]}")/lmad_peer.py"
LMAA=2001:db8:100::1
MAG1=2001:db8:101::11
MAG2=2001:db8:102::12

testbed_test_begin pau
need_tools tshark dumpcap
"$PY" -c "import scapy.layers.inet6" 2>/dev/null || skip "python3-scapy is not installed"

check "testbed up with authenticated signalling" testbed_up "$NAME" "$BUILD" 1 auth || finish
check "lmad says which peers it authenticates" grep -q "signalling authentication: required for 2001:db8:101::11/128 (SPI 1000 hmac-sha256)" "$TB_STATE/lmad.log"

capture() { start_capture "$NAME-$1" "$2" "$3" "ip6 proto 135"; }  # capture NODE IFACE FILE: MH only
check "dumpcap captures on mag1's u1" capture mag1 u1 "$WORK/u1.pcapng"
CAP1=$CAP
check "dumpcap captures on mag2's u2" capture mag2 u2 "$WORK/u2.pcapng"
CAP_U2=$CAP

# --- 1. registration, authenticated -----------------------------------------------
bindings() { $TB ctl "$NAME" lma --json show bindings 2>/dev/null; }
binding_is() {  # binding_is MAG: one binding, mn1's, through MAG
    bindings | "$PY" -c "import json,sys; b=json.load(sys.stdin); sys.exit(not (len(b) == 1 and b[0]['mag'] == '$1'))"
}
check "mn1 gets an address" bash -c "$TB address $NAME 1 20 >/dev/null"
check "lmad: mn1's binding through mag1" wait_until 10 binding_is $MAG1
SESSION=$(bindings | "$PY" -c "import json,sys; b=json.load(sys.stdin)[0]; print(b['id'], b['prefixes'])")
echo "# binding: session and prefixes $SESSION"
counter() {  # counter WHO SECTION NAME
    q "$1" "show counters" "d.get('$2', {}).get('$3', 0)"
}
check "lmad: PBUs authenticated (auth.accepted)" test "$(counter lma auth accepted)" -ge 1
check "magd1: PBAs authenticated (auth.accepted)" test "$(counter mag1 auth accepted)" -ge 1
check "magd1: everything it sent to the LMA signed (auth.signed)" test "$(counter mag1 auth signed)" -ge 1

# --- 2. forged PBU from a source that never authenticated --------------------------
out=$(ip netns exec "$NAME-mag2" $PEER pbu --src $MAG2 --dst $LMAA --mn mn1@testbed.example --hi 2 --seq 100 --timeout 2)
echo "# forged PBU from mag2's address: $out"
check "forged unsigned PBU from a source that never authenticated: no answer" grep -q '"no PBA"' <<<"$out"
check "... and the binding stays at mag1" binding_is $MAG1
check "lmad: counted (mh.auth_missing)" test "$(counter lma mh auth_missing)" -ge 1

# --- 3. forged PBU from a MAG that has authenticated --------------------------------
out=$(ip netns exec "$NAME-mag1" $PEER pbu --src $MAG1 --dst $LMAA --mn mn1@testbed.example --hi 3 --seq 101 --lifetime 0 --timeout 2)
echo "# forged de-registration from mag1's address: $out"
check "forged unsigned PBU from mag1's address: PBA 146 MIPV6-AUTH-FAIL" grep -q '"status": 146' <<<"$out"
check "... and the binding stays" binding_is $MAG1
check "lmad: the 146 counted (mh.auth_pba_146_sent)" test "$(counter lma mh auth_pba_146_sent)" -ge 1

# --- 4. forged BRI to magd1 --------------------------------------------------------------
bri=$(echo '{"type":"bri","sequence":77,"trigger":1,"flags":["P"],"options":[{"type":8,"subtype":1,"id":"mn1@testbed.example"}]}' |
    "$BUILD/tools/pmip-mh/pmip-mh" encode --hex --src $LMAA --dst $MAG1)
out=$(ip netns exec "$NAME-lma" $PEER mh --src $LMAA --dst $MAG1 --hex "$bri" --expect none --timeout 2)
check "forged unsigned BRI to magd1: no BRA" test "$out" = '{"answer": null}'
mag1_registered() { q mag1 "show bul" "[e['state'] for e in d]" | grep -q "'registered'"; }
check "... mn1 still registered at mag1" mag1_registered
check "... and at lmad" binding_is $MAG1
check "magd1: counted (mh.auth_missing)" test "$(counter mag1 mh auth_missing)" -ge 1

# --- 5. handover, then the captured PBU replayed -----------------------------------------
$TB move "$NAME" 1 mag2
check "mn1 moved: the binding follows to mag2" wait_until 10 binding_is $MAG2
sleep 0.3
stop_pid $CAP1 INT
stop_pid $CAP_U2 INT
tshark -r "$WORK/u2.pcapng" -Y "mip6.mhtype == 5 || mip6.mhtype == 6" -T fields -e ipv6.src -e mip6.mhtype \
    -e mip6.auth.mobility_spi -e mip6.ba.status >"$WORK/u2.txt" 2>/dev/null
sed 's/^/#   /' "$WORK/u2.txt"
check "tshark: mag2's handover PBU and lmad's PBA (status 0) carry SPI 1000" \
    sh -c "grep -q '^$MAG2	5	1000' '$WORK/u2.txt' && grep -q '^$LMAA	6	1000	0$' '$WORK/u2.txt'"
# The first PBU magd1 signed (tshark finds it, scapy gives its octets).
frame=$(tshark -r "$WORK/u1.pcapng" -Y "ipv6.src == $MAG1 && mip6.mhtype == 5 && mip6.auth.mobility_spi" \
    -T fields -e frame.number 2>/dev/null | head -1)
first_pbu=$("$PY" - "$WORK/u1.pcapng" "${frame:-0}" <<'PY_END'
import sys
from scapy.all import rdpcap
from scapy.layers.inet6 import IPv6
frame = int(sys.argv[2])
packets = rdpcap(sys.argv[1])
if 0 < frame <= len(packets):
    print(bytes(packets[frame - 1].getlayer(IPv6).payload).hex())
PY_END
)
check "mag1's signed PBU found in the capture" test -n "$first_pbu"
ip netns exec "$NAME-mag1" $PEER mh --src $MAG1 --dst $LMAA --hex "$first_pbu" --expect none --timeout 2 >"$WORK/replay.json"
echo "# replayed PBU: $(cat "$WORK/replay.json")"
check "replayed PBU: the binding stays at mag2" binding_is $MAG2
check "replayed PBU: not acknowledged with status 0" sh -c "! grep -q '\"answer\": \"3b..0600....00' '$WORK/replay.json'"

# tshark on what mag1's link carried: magd's and lmad's messages signed.
tshark -r "$WORK/u1.pcapng" -Y mipv6 -T fields -e ipv6.src -e mip6.mhtype -e mip6.auth.mobility_spi \
    -e mip6.ba.status -e _ws.expert.message >"$WORK/u1.txt" 2>"$WORK/u1.err"
sed 's/^/#   /' "$WORK/u1.txt"
signed() {  # signed SRC TYPE: every such message carries SPI 1000
    awk -v s="$1" -v t="$2" '$1 == s && $2 == t { n++; if ($3 != "1000") bad++ } END { exit !(n > 0 && bad == 0) }' "$WORK/u1.txt"
}
check "tshark: every PBA lmad sent to mag1 carries the authentication option, SPI 1000" signed $LMAA 6
check "tshark: magd1's PBUs carry it too" awk -v s=$MAG1 '$1 == s && $2 == 5 && $3 == "1000" { n++ } END { exit !(n >= 1) }' "$WORK/u1.txt"
check "tshark: no warning on the authenticated messages" sh -c "! awk -F'\t' '\$3 != \"\" && \$5 != \"\"' '$WORK/u1.txt' | grep -q ."

# --- 6. key rotation by reload, then back to mag1 under the new SPI ----------------------
check "dumpcap captures on mag1's u1 again" capture mag1 u1 "$WORK/u1-rotated.pcapng"
CAP2=$CAP
(umask 077 && od -An -tx1 -N32 /dev/urandom | tr -d ' \n' >"$TB_STATE/mag1.key2")
OLD="1000 hmac-sha256 $TB_STATE/mag1.key"
NEW="2000 hmac-sha256 $TB_STATE/mag1.key2"
set_auth() {  # set_auth CONF PEER SAS: the auth line for PEER
    sed -i "s|^auth = $2 .*|auth = $2 required $3|" "$1"
}
reload() { $TB ctl "$NAME" "$1" --json reload >"$WORK/reload-$1.json" 2>&1; }
set_auth "$TB_STATE/lmad.conf" $MAG1 "$OLD $NEW"
check "rotation 1/3: lmad accepts SPI 2000 beside 1000 (reload)" reload lma
set_auth "$TB_STATE/magd1.conf" $LMAA "$NEW $OLD"
check "rotation 2/3: magd1 signs with SPI 2000 (reload)" reload mag1
set_auth "$TB_STATE/lmad.conf" $MAG1 "$NEW"
check "rotation 3/3: lmad signs with 2000, 1000 gone (reload)" reload lma
check "lmad's reload says what is in force" grep -q "SPI 2000 hmac-sha256" "$WORK/reload-lma.json"
check "the binding lived through the reloads" binding_is $MAG2
$TB move "$NAME" 1 mag1
check "mn1 moved back to mag1 under the new key" wait_until 10 binding_is $MAG1
now=$(bindings | "$PY" -c "import json,sys; b=json.load(sys.stdin)[0]; print(b['id'], b['prefixes'])")
check "same session and prefix after the rotation and two handovers ($now)" test "$now" = "$SESSION"
sleep 0.3
stop_pid $CAP2 INT
tshark -r "$WORK/u1-rotated.pcapng" -Y "mip6.mhtype == 5 || mip6.mhtype == 6" -T fields -e ipv6.src -e mip6.mhtype \
    -e mip6.auth.mobility_spi >"$WORK/u1-rotated.txt" 2>/dev/null
sed 's/^/#   /' "$WORK/u1-rotated.txt"
check "tshark: after the rotation magd1's PBU and lmad's PBA carry SPI 2000" \
    sh -c "grep -q '^$MAG1	5	2000' '$WORK/u1-rotated.txt' && grep -q '^$LMAA	6	2000' '$WORK/u1-rotated.txt'"
check "lmad: no authentication failure of mag1's own messages during the rotation" \
    test "$(counter lma mh auth_bad_authenticator)$(counter lma mh auth_unknown_spi)" = "00"

finish
