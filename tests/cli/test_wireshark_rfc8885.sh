#!/usr/bin/env bash
# Command-line test of the Wireshark Lua plugin tools/wireshark/pmip6-rfc8885.lua
# (RFC 8885 DMM: the D flag of PBU / PBA, mobility options 65-70).
#
# Two captures carry D and every option: one encoded by pmip-mh (raw IP), and
# one whose Mobility Headers are written octet by octet in Python and framed
# by scapy (Ethernet; scapy computes the checksums), so the test does not rest
# on our encoder alone. tshark with the plugin must give every value field by
# field (-T fields), D true where set and false where not (also with every
# other flag bit set), no malformed packet and no expert info of severity
# warning or above; tshark without the plugin must call options 65-70
# "Unknown" and not know the pmip6dmm fields. A third capture with a wrong
# Length and a Prefix Length above 128 must raise the plugin's warnings (which
# also shows that the malformed check can see something).
#
# Usage: test_wireshark_rfc8885.sh PATH_TO_PMIP_MH PATH_TO_LUA
# Prints one line per check; exits 1 if any check fails, 77 (SKIPPED) when
# tshark is missing or built without Lua.
set -u
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
OK_MARK="ok   " FAIL_MARK="FAIL "

BIN=${1:?usage: $0 PATH_TO_PMIP_MH PATH_TO_LUA}
LUA=${2:?usage: $0 PATH_TO_PMIP_MH PATH_TO_LUA}
[ -x "$BIN" ] || { echo "not executable: $BIN" >&2; exit 2; }
[ -r "$LUA" ] || { echo "not readable: $LUA" >&2; exit 2; }
LUA=$(cd "$(dirname "$LUA")" && pwd)/$(basename "$LUA")

if ! command -v tshark >/dev/null 2>&1; then
    echo "SKIPPED: tshark is not installed (Debian: apt-get install tshark)"
    exit 77
fi
# The version text is wrapped; "with Lua 5.2.4" may straddle a line break.
version=$(tshark -v 2>/dev/null | tr '\n' ' ')
if ! grep -q "with Lua" <<<"$version" || grep -q "without Lua" <<<"$version"; then
    echo "SKIPPED: tshark is built without Lua ($(tshark -v 2>/dev/null | head -1))"
    exit 77
fi

cli_test_begin
# A home of our own: no personal plugin (a copy of this one would be loaded
# twice, or make the "without the plugin" runs decode) and no preferences.
export HOME=$WORK/home XDG_CONFIG_HOME=$WORK/home/.config
mkdir -p "$XDG_CONFIG_HOME"

PY=$(scapy_python)

# tshark without name resolution; with_lua adds the plugin. The "Running as
# user root" warning goes to stderr.
plain_tshark() { tshark -n "$@"; }
with_lua() { tshark -n -X lua_script:"$LUA" "$@"; }
# Stderr of tshark less the root warning.
tshark_errors() { grep -v -e 'Running as user' -e 'This could be dangerous' "$1"; }

echo "# Wireshark RFC 8885 plugin tests: $LUA with $(tshark -v 2>/dev/null | head -1), $BIN"

# --- the plugin loads -----------------------------------------------------------
# (-G must come first.)
tshark -G protocols -X lua_script:"$LUA" >"$WORK/protocols" 2>"$WORK/load.err"
if grep -q $'\tpmip6dmm$' "$WORK/protocols" && grep -q $'\tpmip6dmm.opt$' "$WORK/protocols"; then
    pass "the plugin registers protocols pmip6dmm and pmip6dmm.opt"
else
    fail "protocols pmip6dmm / pmip6dmm.opt not registered" "$(tshark_errors "$WORK/load.err")"
fi
if [ -z "$(tshark_errors "$WORK/load.err")" ]; then
    pass "the plugin loads without errors"
else
    fail "tshark reports errors loading the plugin" "$(tshark_errors "$WORK/load.err")"
fi

# --- capture 1: encoded by pmip-mh -----------------------------------------------
cat >"$WORK/ours.jsonl" <<'EOF'
{"type":"pbu","sequence":21,"flags":["A","D"],"lifetime":150,"options":[{"name":"mn_identifier","id":"mn1@example.org"},{"name":"anchored_prefix","prefix":"2001:db8:a::/48"},{"name":"anchored_prefix","prefix":"2001:db8:b:100::/56"},{"name":"local_prefix","prefix":"2001:db8:1c::/64"},{"name":"serving_maar","address":"2001:db8::5"},{"name":"previous_maar","address":"2001:db8::7","home_network_prefix":"2001:db8:77::/52"},{"name":"dlif_link_local_address","address":"fe80::1234"},{"name":"dlif_link_layer_address","address_hex":"020000000abc"}]}
{"type":"pba","status":0,"sequence":21,"flags":["D"],"lifetime":150,"options":[{"name":"previous_maar","address":"2001:db8::9","home_network_prefix":"2001:db8:99::/64"},{"name":"dlif_link_local_address","address":"fe80::99"},{"name":"dlif_link_layer_address","address_hex":"0200000000aa"},{"name":"local_prefix","prefix":"2001:db8:1d::/60"}]}
{"type":"pbu","sequence":22,"flags":["A"],"lifetime":150,"options":[{"name":"home_network_prefix","prefix":"2001:db8:1::/64"}]}
{"type":"pba","status":0,"sequence":22,"flags":[],"lifetime":150,"options":[]}
EOF
if "$BIN" encode --src 2001:db8::10 --dst 2001:db8::20 --pcap "$WORK/ours.pcap" <"$WORK/ours.jsonl" 2>"$WORK/enc.err"; then
    pass "pmip-mh encodes 4 PBU / PBA with and without D, options 65-70"
else
    fail "pmip-mh encode" "$(cat "$WORK/enc.err")"
fi

# --- capture 2: octets written by hand, framed by scapy --------------------------
# Frame 1 PBU: flags 0x8210 (A P D); Serving MAAR, Previous MAAR, DLIF
#   link-layer address of 8 octets (an EUI-64), each at its alignment.
# Frame 2 PBA: flags 0x22 (P D); Anchored Prefix, Local Prefix, DLIF
#   link-local address.
# Frame 3 PBU: flags 0xffef, every bit but D. Frame 4 PBA: flags 0xfd.
if [ -n "$PY" ]; then
    if "$PY" - "$WORK/scapy.pcap" "$WORK/bad.pcap" >"$WORK/scapy.out" 2>&1 <<'EOF'
import socket, struct, sys
from scapy.all import Ether, Raw, wrpcap
from scapy.layers.inet6 import IPv6, in6_chksum

def a6(text):
    return socket.inet_pton(socket.AF_INET6, text)

def opt(otype, body):
    return bytes([otype, len(body)]) + body

def padn(n):  # n >= 2 octets of PadN
    return bytes([1, n - 2]) + bytes(n - 2)

def frame(mh_type, fixed, options):
    body = fixed + options
    mh = bytearray(bytes([59, 0, mh_type, 0, 0, 0]) + body)
    assert len(mh) % 8 == 0, len(mh)
    mh[1] = len(mh) // 8 - 1
    ip = IPv6(src="2001:db8::a", dst="2001:db8::b", nh=135, hlim=64)
    csum = in6_chksum(135, ip, bytes(mh))
    mh[4:6] = struct.pack("!H", csum)
    return Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02") / ip / Raw(bytes(mh))

def pbu(flags, options):  # Sequence 300, Lifetime 75
    return frame(5, struct.pack("!HHH", 300, flags, 75), options)

def pba(flags, options):  # Status 0, Sequence 300, Lifetime 75
    return frame(6, struct.pack("!BBHH", 0, flags, 300, 75), options)

frames = [
    pbu(0x8210,
        padn(2)                                                      # -> 8n+6
        + opt(68, a6("2001:db8:100::68"))                            # 4.6
        + padn(4)                                                    # -> 8n+4
        + opt(67, bytes([0, 40]) + a6("2001:db8:100::67") + a6("2001:db8:6700::"))  # 4.5
        + padn(4)
        + opt(70, bytes(2) + bytes.fromhex("0a1b2c3d4e5f6071"))),    # 4.8
    pba(0x22,
        opt(65, bytes([0, 48]) + a6("2001:db8:65::"))                # 4.3, at 8n+4
        + padn(4)
        + opt(66, bytes([0, 64]) + a6("2001:db8:66:1::"))            # 4.4
        + padn(6)                                                    # -> 8n+6
        + opt(69, a6("fe80::a:b:c:d"))),                             # 4.7
    pbu(0xffef, padn(4)),
    pba(0xfd, padn(4)),
]
wrpcap(sys.argv[1], frames)

# Wrong on purpose: an Anchored Prefix of Length 16 (RFC 8885: 18), a
# Previous MAAR with Prefix Length 200.
bad = [
    pbu(0x8210, opt(65, bytes([0, 48]) + a6("2001:db8:65::")[:14]) + padn(2)),
    pba(0x22, opt(67, bytes([0, 200]) + a6("2001:db8::67") + a6("2001:db8:67::"))),
]
wrpcap(sys.argv[2], bad)
EOF
    then pass "scapy writes the hand-made capture and the wrong-on-purpose one"
    else fail "building the captures with scapy" "$(cat "$WORK/scapy.out")"; fi
else
    fail "python3-scapy not importable (needed for the independent capture)"
fi

# Our decoder reads the hand-made capture the same way (a third opinion).
if [ -s "$WORK/scapy.pcap" ]; then
    "$BIN" decode --pcap "$WORK/scapy.pcap" >"$WORK/scapy.json" 2>&1
    if "${PY:-python3}" - "$WORK/scapy.json" >"$WORK/json.err" 2>&1 <<'EOF'
import json, sys
j = [json.loads(l) for l in open(sys.argv[1])]
assert [m["type"] for m in j] == ["pbu", "pba", "pbu", "pba"], j
assert "D" in j[0]["flags"] and "D" in j[1]["flags"], j
assert "D" not in j[2]["flags"] and "D" not in j[3]["flags"], j
names = lambda m: [o["name"] for o in m["options"]]
assert names(j[0]) == ["serving_maar", "previous_maar", "dlif_link_layer_address"], j[0]
assert names(j[1]) == ["anchored_prefix", "local_prefix", "dlif_link_local_address"], j[1]
assert j[0]["options"][1]["home_network_prefix"] == "2001:db8:6700::/40", j[0]
EOF
    then pass "pmip-mh decodes the hand-made capture alike (checksums, D, options)"
    else fail "pmip-mh decode of the hand-made capture" "$(cat "$WORK/json.err" "$WORK/scapy.json")"; fi
fi

# --- field by field -------------------------------------------------------------
FIELDS=(pmip6dmm.d pmip6dmm.opt.type pmip6dmm.opt.len
    pmip6dmm.anchored_prefix pmip6dmm.anchored_prefix.len
    pmip6dmm.local_prefix pmip6dmm.local_prefix.len
    pmip6dmm.previous_maar.address pmip6dmm.previous_maar.prefix pmip6dmm.previous_maar.prefix.len
    pmip6dmm.serving_maar pmip6dmm.dlif_lla
    pmip6dmm.dlif_l2.reserved pmip6dmm.dlif_l2 pmip6dmm.dlif_l2.mac
    mip6.mhtype mip6.mobility_opt)

# dump PCAP OUT: one line per frame, "|"-separated: frame.number, FIELDS.
dump() {
    local args=() field
    for field in "${FIELDS[@]}"; do args+=(-e "$field"); done
    with_lua -r "$1" -T fields -E separator='|' -E occurrence=a -E aggregator=, \
        -e frame.number "${args[@]}" >"$2" 2>"$2.err"
}
# expect TABLE FRAME FIELD VALUE: the FIELD column of FRAME's line is VALUE.
expect() {
    local table=$1 frame=$2 field=$3 want=$4 col=2 f got
    for f in "${FIELDS[@]}"; do [ "$f" = "$field" ] && break; col=$((col + 1)); done
    got=$(awk -F'|' -v n="$frame" -v c="$col" '$1 == n { print $c }' "$WORK/$table")
    if [ "$got" = "$want" ]; then
        pass "$table frame $frame: $field = ${want:-(absent)}"
    else
        fail "$table frame $frame: $field = '$got', expected '${want:-(absent)}'"
    fi
}

dump "$WORK/ours.pcap" "$WORK/ours.fields"
if [ "$(wc -l <"$WORK/ours.fields")" -eq 4 ]; then pass "tshark reads the 4 frames of the pmip-mh capture"
else fail "tshark -T fields of the pmip-mh capture" "$(cat "$WORK/ours.fields" "$WORK/ours.fields.err")"; fi
# PBU, D set: every option, two Anchored Prefixes.
expect ours.fields 1 mip6.mhtype 5
expect ours.fields 1 pmip6dmm.d 1
expect ours.fields 1 pmip6dmm.opt.type 65,65,66,68,67,69,70
expect ours.fields 1 pmip6dmm.opt.len 18,18,18,16,34,16,8
expect ours.fields 1 pmip6dmm.anchored_prefix 2001:db8:a::,2001:db8:b:100::
expect ours.fields 1 pmip6dmm.anchored_prefix.len 48,56
expect ours.fields 1 pmip6dmm.local_prefix 2001:db8:1c::
expect ours.fields 1 pmip6dmm.local_prefix.len 64
expect ours.fields 1 pmip6dmm.serving_maar 2001:db8::5
expect ours.fields 1 pmip6dmm.previous_maar.address 2001:db8::7
expect ours.fields 1 pmip6dmm.previous_maar.prefix 2001:db8:77::
expect ours.fields 1 pmip6dmm.previous_maar.prefix.len 52
expect ours.fields 1 pmip6dmm.dlif_lla fe80::1234
expect ours.fields 1 pmip6dmm.dlif_l2.reserved 0x0000
expect ours.fields 1 pmip6dmm.dlif_l2 020000000abc
expect ours.fields 1 pmip6dmm.dlif_l2.mac 02:00:00:00:0a:bc
# PBA, D set.
expect ours.fields 2 mip6.mhtype 6
expect ours.fields 2 pmip6dmm.d 1
expect ours.fields 2 pmip6dmm.opt.type 67,69,70,66
expect ours.fields 2 pmip6dmm.previous_maar.address 2001:db8::9
expect ours.fields 2 pmip6dmm.previous_maar.prefix 2001:db8:99::
expect ours.fields 2 pmip6dmm.previous_maar.prefix.len 64
expect ours.fields 2 pmip6dmm.dlif_lla fe80::99
expect ours.fields 2 pmip6dmm.dlif_l2 0200000000aa
expect ours.fields 2 pmip6dmm.local_prefix 2001:db8:1d::
expect ours.fields 2 pmip6dmm.local_prefix.len 60
# PBU and PBA without D: the flag is decoded, false; no DMM option.
expect ours.fields 3 pmip6dmm.d 0
expect ours.fields 3 pmip6dmm.opt.type ""
expect ours.fields 4 mip6.mhtype 6
expect ours.fields 4 pmip6dmm.d 0

if [ -s "$WORK/scapy.pcap" ]; then
    dump "$WORK/scapy.pcap" "$WORK/scapy.fields"
    # PBU, D set: Serving MAAR, Previous MAAR, an 8-octet link-layer address.
    expect scapy.fields 1 pmip6dmm.d 1
    expect scapy.fields 1 pmip6dmm.opt.type 68,67,70
    expect scapy.fields 1 pmip6dmm.opt.len 16,34,10
    expect scapy.fields 1 pmip6dmm.serving_maar 2001:db8:100::68
    expect scapy.fields 1 pmip6dmm.previous_maar.address 2001:db8:100::67
    expect scapy.fields 1 pmip6dmm.previous_maar.prefix 2001:db8:6700::
    expect scapy.fields 1 pmip6dmm.previous_maar.prefix.len 40
    expect scapy.fields 1 pmip6dmm.dlif_l2 0a1b2c3d4e5f6071
    expect scapy.fields 1 pmip6dmm.dlif_l2.mac ""
    # PBA, D set: Anchored Prefix, Local Prefix, DLIF link-local address.
    expect scapy.fields 2 pmip6dmm.d 1
    expect scapy.fields 2 pmip6dmm.opt.type 65,66,69
    expect scapy.fields 2 pmip6dmm.anchored_prefix 2001:db8:65::
    expect scapy.fields 2 pmip6dmm.anchored_prefix.len 48
    expect scapy.fields 2 pmip6dmm.local_prefix 2001:db8:66:1::
    expect scapy.fields 2 pmip6dmm.local_prefix.len 64
    expect scapy.fields 2 pmip6dmm.dlif_lla fe80::a:b:c:d
    # Every flag bit but D set: D must still read false.
    expect scapy.fields 3 mip6.mhtype 5
    expect scapy.fields 3 pmip6dmm.d 0
    expect scapy.fields 4 mip6.mhtype 6
    expect scapy.fields 4 pmip6dmm.d 0
fi

# --- the tree as a person reads it ------------------------------------------------
with_lua -r "$WORK/ours.pcap" -V >"$WORK/ours.V" 2>/dev/null
for line in \
    "PMIPv6 DMM (RFC 8885), Proxy Binding Update" \
    ".... .... ...1 .... = DMM (D) flag: Set" \
    ".... ..1. = DMM (D) flag: Set" \
    ".... .... ...0 .... = DMM (D) flag: Not set" \
    "PMIPv6 DMM Option - Anchored Prefix: 2001:db8:a::/48" \
    "PMIPv6 DMM Option - Previous MAAR: 2001:db8::7, HNP 2001:db8:77::/52" \
    "PMIPv6 DMM Option - DLIF Link-Layer Address: 02:00:00:00:0a:bc"; do
    if grep -qF -- "$line" "$WORK/ours.V"; then pass "tshark -V shows \"$line\""
    else fail "tshark -V lacks \"$line\""; fi
done
if grep -qE 'Unknown \((6[5-9]|70)\)' "$WORK/ours.V"; then
    fail "with the plugin tshark still says Unknown" "$(grep -E 'Unknown \((6[5-9]|70)\)' "$WORK/ours.V")"
else
    pass "with the plugin no option 65-70 is Unknown"
fi

# --- without the plugin -------------------------------------------------------------
plain_tshark -r "$WORK/ours.pcap" -V >"$WORK/plain.V" 2>/dev/null
for t in 65 66 67 68 69 70; do
    if grep -qF "Mobility Option: Unknown ($t)" "$WORK/plain.V"; then
        pass "without the plugin tshark says \"Mobility Option: Unknown ($t)\""
    else
        fail "without the plugin tshark does not say Unknown ($t): is the plugin installed elsewhere?"
    fi
done
check "without the plugin tshark does not know pmip6dmm.d" \
    status 1 plain_tshark -r "$WORK/ours.pcap" -T fields -e pmip6dmm.d

# --- nothing malformed, no warnings -----------------------------------------------
MALFORMED='_ws.malformed || _ws.expert.severity >= warning'
for cap in ours scapy; do
    [ -s "$WORK/$cap.pcap" ] || continue
    if status 0 with_lua -r "$WORK/$cap.pcap" -Y "$MALFORMED" && [ ! -s "$WORK/out" ]; then
        pass "$cap.pcap: no malformed packet, no expert info of warning or above"
    else
        fail "$cap.pcap: malformed or warnings" "$(cat "$WORK/out"; tshark_errors "$WORK/err")"
    fi
    if status 0 with_lua -r "$WORK/$cap.pcap" -V && ! grep -q 'Lua Error' "$WORK/out"; then
        pass "$cap.pcap: no Lua error while dissecting"
    else
        fail "$cap.pcap: Lua error" "$(grep -A2 'Lua Error' "$WORK/out"; tshark_errors "$WORK/err")"
    fi
done

# --- wrong on purpose: the plugin's warnings ----------------------------------------
if [ -s "$WORK/bad.pcap" ]; then
    with_lua -r "$WORK/bad.pcap" -Y "$MALFORMED" -T fields -e frame.number >"$WORK/bad.frames" 2>/dev/null
    if [ "$(tr '\n' ' ' <"$WORK/bad.frames")" = "1 2 " ]; then
        pass "the malformed / warning filter finds both wrong frames"
    else
        fail "malformed / warning filter on the wrong frames: '$(tr '\n' ' ' <"$WORK/bad.frames")', expected '1 2 '"
    fi
    with_lua -r "$WORK/bad.pcap" -T fields -e frame.number -e pmip6dmm.opt.bad_len \
        -e pmip6dmm.opt.bad_prefix_len -e pmip6dmm.anchored_prefix -E separator='|' >"$WORK/bad.fields" 2>/dev/null
    if grep -qx '1|1||' "$WORK/bad.fields"; then
        pass "Anchored Prefix of Length 16: pmip6dmm.opt.bad_len, no prefix decoded"
    else
        fail "Anchored Prefix of Length 16" "$(cat "$WORK/bad.fields")"
    fi
    if grep -qx '2||1|' "$WORK/bad.fields"; then
        pass "Previous MAAR with Prefix Length 200: pmip6dmm.opt.bad_prefix_len"
    else
        fail "Previous MAAR with Prefix Length 200" "$(cat "$WORK/bad.fields")"
    fi
fi

finish "# $CHECKS checks, $FAILURES failed"
