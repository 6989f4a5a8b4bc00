#!/usr/bin/env bash
# Command-line tests of pmip-mh (tools/pmip-mh): decode of the worked PBU of
# PROTOCOL.md 2.4, encode -> decode round trips through --hex and --pcap,
# error objects and exit statuses, Ethernet / 802.1Q / extension-header
# captures built independently with scapy, and checksums checked by scapy.
#
# Usage: test_pmip_mh_cli.sh PATH_TO_PMIP_MH
# Prints one line per check; exits non-zero if any check fails.
set -u
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
OK_MARK="ok   " FAIL_MARK="FAIL "

BIN=${1:?usage: $0 PATH_TO_PMIP_MH}
[ -x "$BIN" ] || { echo "not executable: $BIN" >&2; exit 2; }

cli_test_begin

PY=$(scapy_python)
PYTHON=${PY:-python3}  # for the plain JSON / struct helpers

# jcheck DESCRIPTION JSON_LINE PYTHON_EXPR: EXPR evaluated with j = the object.
jcheck() {
    local what=$1 line=$2 expr=$3
    if "$PYTHON" -c '
import json, sys
j = json.loads(sys.argv[1])
sys.exit(0 if eval(sys.argv[2]) else 1)' "$line" "$expr" 2>"$WORK/jcheck.err"; then
        pass "$what"
    else
        fail "$what" "expression: $expr
object: $line
$(cat "$WORK/jcheck.err")"
    fi
}

# expect_status DESCRIPTION EXPECTED ACTUAL [DETAIL]
expect_status() {
    if [ "$3" -eq "$2" ]; then pass "$1 (exit $3)"; else fail "$1: exit $3, expected $2" "${4:-}"; fi
}

# The worked PBU layout of PROTOCOL.md 2.4: HNP, PadN, Timestamp, HI, ATT,
# PadN, Link-local, MN-ID "mn1@example.org", PadN(4); 96 octets, checksum 0.
PBU_HEX="3b0b0500 0000 0001 8200 0096
16120040 20010db8000100000000000000000000
0100 1b08 000000006553f100 17020001 18020004 0100
1a10 fe800000000000000000000000000001
0810 01 6d6e31406578616d706c652e6f7267
0104 00000000"
PBU_HEX=$(printf '%s' "$PBU_HEX" | tr -d ' \n')

echo "# pmip-mh CLI tests with $BIN"

# --- help and usage -----------------------------------------------------------
out=$("$BIN" --help 2>&1); rc=$?
expect_status "--help" 0 $rc
for section in SYNOPSIS DESCRIPTION OPTIONS "JSON FORM" "EXIT STATUS" EXAMPLES; do
    if grep -q "^$section" <<<"$out"; then pass "--help has section $section"; else fail "--help lacks section $section"; fi
done
"$BIN" decode --help >/dev/null 2>&1; expect_status "decode --help" 0 $?

usage_case() {  # usage_case DESCRIPTION ARGS...
    local what=$1; shift
    "$BIN" "$@" >"$WORK/usage.out" 2>"$WORK/usage.err" </dev/null; local rc=$?
    if [ $rc -eq 2 ] && [ -s "$WORK/usage.err" ]; then
        pass "$what (exit 2: $(head -1 "$WORK/usage.err"))"
    else
        fail "$what: exit $rc, expected 2 with a message on stderr" "$(cat "$WORK/usage.err")"
    fi
}
usage_case "no command"
usage_case "unknown command" frobnicate
usage_case "decode without input" decode
usage_case "decode with both --hex and --pcap" decode --hex 00 --pcap x.pcap
usage_case "decode with an unknown option" decode --hex 00 --bogus
usage_case "decode --hex with a non-hex string" decode --hex zz
usage_case "decode --pcap of a missing file" decode --pcap "$WORK/missing.pcap"
usage_case "decode --c-flag with two bits" decode --c-flag 0x0003 --hex 00
usage_case "decode --subscription-option-type 1" decode --subscription-option-type 1 --hex 00
usage_case "encode without output" encode
usage_case "encode --src not an address" encode --src bogus --hex
usage_case "encode --pcap in a missing directory" encode --pcap "$WORK/no/such/dir/x.pcap"
if grep -q "missing.pcap" <<<"$("$BIN" decode --pcap "$WORK/missing.pcap" 2>&1)"; then
    pass "unreadable file error names the file"
else
    fail "unreadable file error names the file"
fi

# --- decode of the worked PBU -------------------------------------------------
out=$("$BIN" decode --hex "$PBU_HEX"); rc=$?
expect_status "decode worked PBU" 0 $rc
jcheck "PBU type, sequence, flags, lifetime" "$out" \
    'j["type"] == "pbu" and j["sequence"] == 1 and j["flags"] == ["A", "P"] and j["lifetime"] == 150'
jcheck "PBU has 6 options (no PadN)" "$out" 'len(j["options"]) == 6'
jcheck "PBU HNP option" "$out" \
    'j["options"][0] == {"type": 22, "name": "home_network_prefix", "prefix": "2001:db8:1::/64"}'
jcheck "PBU timestamp option" "$out" \
    'j["options"][1] == {"type": 27, "name": "timestamp", "value": 0x6553f100}'
jcheck "PBU handoff indicator and ATT" "$out" \
    'j["options"][2]["value"] == 1 and j["options"][3] == {"type": 24, "name": "access_technology_type", "value": 4}'
jcheck "PBU link-local address" "$out" \
    'j["options"][4] == {"type": 26, "name": "link_local_address", "address": "fe80::1"}'
jcheck "PBU MN identifier" "$out" \
    'j["options"][5] == {"type": 8, "name": "mn_identifier", "subtype": 1, "id": "mn1@example.org"}'
jcheck "hex decode has no frame member" "$out" '"frame" not in j'
out2=$("$BIN" decode --hex "$(sed 's/../& /g; s/ $//' <<<"$PBU_HEX" | tr ' ' ':')")
if [ "$out2" = "$out" ]; then pass "decode --hex accepts colon-separated octets"; else fail "colon-separated hex" "$out2"; fi

# --- encode -> decode through --hex -------------------------------------------
enc=$(printf '%s\n' "$out" | "$BIN" encode --hex); rc=$?
expect_status "encode the decoded PBU" 0 $rc
if [ "${enc:0:8}${enc:12}" = "${PBU_HEX:0:8}${PBU_HEX:12}" ]; then
    pass "re-encoded PBU equals the worked layout (apart from the checksum)"
else
    fail "re-encoded PBU differs" "got      $enc
expected $PBU_HEX"
fi
if [ "${enc:8:4}" != "0000" ]; then pass "encode --hex fills the checksum (${enc:8:4})"; else fail "encode --hex left the checksum 0"; fi
back=$(printf '%s\n' "$enc" | "$BIN" decode --hex -)
if [ "$back" = "$out" ]; then pass "encode --hex | decode --hex - gives the same JSON"; else fail "hex round trip" "$back"; fi

# One message of every type, used for the round trips below.
cat >"$WORK/all.jsonl" <<'EOF'
# one message of each type; comment and blank lines are skipped

{"type":"pbu","sequence":7,"flags":["A"],"lifetime":150,"options":[{"type":8,"name":"mn_identifier","subtype":1,"id":"mn1@example.org"},{"type":22,"name":"home_network_prefix","prefix":"::/0"},{"type":23,"name":"handoff_indicator","value":1},{"type":24,"name":"access_technology_type","value":3},{"type":27,"name":"timestamp","value":111411200032768},{"type":33,"name":"gre_key","key":42}]}
{"type":"pba","status":0,"sequence":7,"flags":["P","T"],"lifetime":150,"options":[{"type":8,"name":"mn_identifier","subtype":1,"id":"mn1@example.org"},{"type":22,"name":"home_network_prefix","prefix":"2001:db8:1::/64"},{"type":33,"name":"gre_key"},{"type":37,"name":"ipv4_home_address_reply","status":0,"prefix_length":24,"address":"10.0.0.2"}]}
{"type":"bu","sequence":1,"flags":["A","H","0x0004"],"lifetime":10,"options":[{"type":3,"name":"alternate_care_of_address","address":"2001:db8::77"}]}
{"type":"ba","status":135,"sequence":1,"flags":["K"],"lifetime":0,"options":[{"type":2,"name":"binding_refresh_advice","refresh_interval":5}]}
{"type":"be","status":2,"home_address":"2001:db8::99","options":[]}
{"type":"heartbeat","sequence":4000000000,"flags":["R"],"options":[{"type":28,"name":"restart_counter","value":3}]}
{"type":"bri","trigger":1,"sequence":9,"flags":["P","G"],"options":[{"type":8,"name":"mn_identifier","subtype":1,"id":"mag1@example.org"}]}
{"type":"bra","status":0,"sequence":9,"flags":["P"],"options":[]}
{"type":"upn","sequence":3,"reason":1,"flags":["A"],"options":[{"type":19,"name":"vendor_specific","vendor_id":10415,"subtype":1,"data_hex":"0102"},{"type":150,"name":"unknown","data_hex":"aabb"}]}
{"type":"upa","sequence":3,"status":0,"options":[{"type":57,"name":"active_multicast_subscription_ipv6","mld_type":143,"record":{"record_type":1,"group":"ff3e::1","sources":["2001:db8::5"],"aux_hex":""}}]}
EOF
grep -v '^#' "$WORK/all.jsonl" | grep -v '^$' >"$WORK/all.expected"
# The decoder always prints "pbu"/"pba" with P among the flags.
"$PYTHON" - "$WORK/all.expected" <<'EOF'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
for j in lines:
    if j["type"] == "pbu" and "P" not in j["flags"]:
        j["flags"] = ["A", "P"]
open(sys.argv[1], "w").write("".join(json.dumps(j, sort_keys=True) + "\n" for j in lines))
EOF

"$BIN" encode --hex <"$WORK/all.jsonl" >"$WORK/all.hex"; rc=$?
expect_status "encode --hex of all message types" 0 $rc
"$BIN" decode --hex - <"$WORK/all.hex" >"$WORK/all.hexdecoded"; rc=$?
expect_status "decode --hex - of all message types" 0 $rc
normalize() {  # sorted keys, no "frame", one object per line
    "$PYTHON" -c '
import json, sys
for line in sys.stdin:
    j = json.loads(line)
    j.pop("frame", None)
    print(json.dumps(j, sort_keys=True))'
}
if diff <(normalize <"$WORK/all.hexdecoded") "$WORK/all.expected" >"$WORK/diff" 2>&1; then
    pass "JSON -> hex -> JSON round trip of 10 message types"
else
    fail "JSON -> hex -> JSON round trip" "$(cat "$WORK/diff")"
fi

# --- encode -> decode through --pcap ------------------------------------------
"$BIN" encode --src 2001:db8::10 --dst 2001:db8::20 --pcap "$WORK/all.pcap" <"$WORK/all.jsonl"; rc=$?
expect_status "encode --pcap" 0 $rc
"$BIN" decode --pcap "$WORK/all.pcap" >"$WORK/all.pcapdecoded"; rc=$?
expect_status "decode --pcap (checksums verified)" 0 $rc
if diff <(normalize <"$WORK/all.pcapdecoded") "$WORK/all.expected" >"$WORK/diff" 2>&1; then
    pass "JSON -> pcap -> JSON round trip of 10 message types"
else
    fail "JSON -> pcap -> JSON round trip" "$(cat "$WORK/diff")"
fi
frames=$("$PYTHON" -c 'import json,sys; print(" ".join(str(json.loads(l)["frame"]) for l in sys.stdin))' <"$WORK/all.pcapdecoded")
if [ "$frames" = "1 2 3 4 5 6 7 8 9 10" ]; then pass "pcap objects carry frame numbers 1..10"; else fail "frame numbers" "$frames"; fi
linktype=$("$PYTHON" -c 'import struct,sys; d=open(sys.argv[1],"rb").read(24); print(struct.unpack("<I", d[20:24])[0])' "$WORK/all.pcap")
if [ "$linktype" = 101 ]; then pass "encoded pcap is LINKTYPE_RAW (101)"; else fail "encoded pcap link type $linktype"; fi

if [ -n "$PY" ]; then
    # An independent check of framing and checksum: scapy recomputes each MH
    # checksum from the IPv6 header and compares.
    if "$PY" - "$WORK/all.pcap" >"$WORK/scapy.out" 2>&1 <<'EOF'
import sys
from scapy.all import rdpcap, raw
from scapy.layers.inet6 import IPv6, in6_chksum
bad = 0
for n, pkt in enumerate(rdpcap(sys.argv[1]), 1):
    ip = IPv6(raw(pkt))
    assert ip.nh == 135 and ip.hlim == 64, (n, ip.nh, ip.hlim)
    assert ip.src == "2001:db8::10" and ip.dst == "2001:db8::20", (n, ip.src, ip.dst)
    mh = bytearray(raw(ip.payload))
    assert ip.plen == len(mh) and len(mh) % 8 == 0 and (mh[1] + 1) * 8 == len(mh), n
    stored = mh[4] << 8 | mh[5]
    mh[4] = mh[5] = 0
    computed = in6_chksum(135, ip, bytes(mh))
    if stored != computed:
        print(f"frame {n}: checksum {stored:#06x}, scapy computes {computed:#06x}")
        bad += 1
sys.exit(1 if bad else 0)
EOF
    then pass "scapy agrees with every checksum and length in the encoded pcap"
    else fail "scapy checksum check" "$(cat "$WORK/scapy.out")"; fi
else
    fail "python3-scapy not importable (needed for the capture checks)"
fi

# --- malformed input ----------------------------------------------------------
out=$("$BIN" decode --hex "${PBU_HEX:0:40}"); rc=$?
expect_status "decode of a truncated PBU" 1 $rc
jcheck "truncated PBU gives an error object" "$out" \
    'j["error"] == "truncated" and "reaction" in j and isinstance(j["offset"], int) and "type" not in j'

# Frame 2 of 3 with a corrupted checksum: error with its frame number, the
# frames around it still decode, exit 1.
head -5 "$WORK/all.jsonl" | "$BIN" encode --pcap "$WORK/three.pcap"
"$PYTHON" - "$WORK/three.pcap" "$WORK/badsum.pcap" <<'EOF'
import struct, sys
data = bytearray(open(sys.argv[1], "rb").read())
at, frame = 24, 0
while at < len(data):
    caplen = struct.unpack("<I", data[at + 8:at + 12])[0]
    frame += 1
    if frame == 2:
        data[at + 16 + 40 + 4] ^= 0x5a  # MH checksum, first octet
    at += 16 + caplen
open(sys.argv[2], "wb").write(data)
EOF
"$BIN" decode --pcap "$WORK/badsum.pcap" >"$WORK/badsum.out"; rc=$?
expect_status "decode of a pcap with a bad checksum" 1 $rc
if [ "$(wc -l <"$WORK/badsum.out")" -eq 3 ]; then pass "all 3 frames reported"; else fail "frames reported" "$(cat "$WORK/badsum.out")"; fi
jcheck "bad checksum error names frame 2" "$(sed -n 2p "$WORK/badsum.out")" \
    'j["error"] == "bad_checksum" and j["frame"] == 2 and "reaction" in j and "offset" in j'
jcheck "frame 3 after the bad one still decodes" "$(sed -n 3p "$WORK/badsum.out")" \
    'j["type"] == "bu" and j["frame"] == 3'

# Lenient mode: OAI pmip6d declares Header Len one unit (8 octets) short.
short_hex="${PBU_HEX:0:2}0a${PBU_HEX:4}"
"$BIN" decode --hex "$short_hex" >"$WORK/strict.out"; rc=$?
expect_status "strict decode of a short Header Len" 1 $rc
out=$("$BIN" decode --lenient --hex "$short_hex"); rc=$?
expect_status "lenient decode of a short Header Len" 0 $rc
jcheck "lenient decode lists the header_length_short quirk" "$out" \
    '"header_length_short" in j.get("quirks", []) and j["type"] == "pbu" and len(j["options"]) == 6'

# --- bad JSON on encode -------------------------------------------------------
printf '%s\n' '{"type":"pbu","sequence":1}' \
    '{"type":"pbu","options":[{"type":22,"prefix":"2001:db8::"}]}' \
    'not json' \
    '{"type":"heartbeat","sequence":2}' | "$BIN" encode --hex >"$WORK/bad.out" 2>"$WORK/bad.err"; rc=$?
expect_status "encode with bad JSON lines" 1 $rc
if grep -q 'line 2: options\[0\]\.prefix' "$WORK/bad.err"; then
    pass "bad member error names line 2 and options[0].prefix"
else
    fail "bad member error text" "$(cat "$WORK/bad.err")"
fi
if grep -q 'line 3: invalid JSON' "$WORK/bad.err"; then pass "invalid JSON names line 3"; else fail "invalid JSON text" "$(cat "$WORK/bad.err")"; fi
if [ "$(wc -l <"$WORK/bad.out")" -eq 2 ]; then pass "the 2 good lines are still encoded"; else fail "good lines encoded" "$(cat "$WORK/bad.out")"; fi

# --- captures built by scapy: Ethernet, 802.1Q, extension headers --------------
if [ -n "$PY" ]; then
    pbu_for_eth=$(printf '%s\n' '{"type":"pbu","sequence":5,"flags":["A"],"lifetime":100,"options":[{"type":22,"name":"home_network_prefix","prefix":"2001:db8:5::/64"}]}' |
        "$BIN" encode --src 2001:db8::a --dst 2001:db8::b --hex)
    if "$PY" - "$WORK/eth.pcap" "$pbu_for_eth" >"$WORK/scapy.out" 2>&1 <<'EOF'
import sys
from scapy.all import Ether, Dot1Q, IP, UDP, Raw, wrpcap
from scapy.layers.inet6 import IPv6, IPv6ExtHdrHopByHop, IPv6ExtHdrDestOpt, IPv6ExtHdrFragment, MIP6MH_BU
mac = dict(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")
ours = bytes.fromhex(sys.argv[2])
frames = [
    # 1: scapy's own Binding Update encoder, checksum by scapy.
    Ether(**mac) / IPv6(src="2001:db8::1", dst="2001:db8::2") / MIP6MH_BU(seq=7, flags="AP", mhtime=10),
    # 2: not a Mobility Header: skipped.
    Ether(**mac) / IPv6(src="2001:db8::1", dst="2001:db8::2") / UDP(sport=1, dport=2) / Raw(b"x"),
    # 3: IPv4: skipped.
    Ether(**mac) / IP(src="192.0.2.1", dst="192.0.2.2") / UDP(sport=5436, dport=5436) / Raw(b"y"),
    # 4: 802.1Q tag, Hop-by-Hop and Destination Options before the MH.
    Ether(**mac) / Dot1Q(vlan=10) / IPv6(src="2001:db8::a", dst="2001:db8::b", nh=0)
        / IPv6ExtHdrHopByHop(nh=60) / IPv6ExtHdrDestOpt(nh=135) / Raw(ours),
    # 5: first fragment header (offset 0, no more fragments).
    Ether(**mac) / IPv6(src="2001:db8::a", dst="2001:db8::b", nh=44)
        / IPv6ExtHdrFragment(nh=135, offset=0, m=0, id=1) / Raw(ours),
    # 6: a non-first fragment: skipped.
    Ether(**mac) / IPv6(src="2001:db8::a", dst="2001:db8::b", nh=44)
        / IPv6ExtHdrFragment(nh=135, offset=2, m=0, id=2) / Raw(ours[16:]),
]
wrpcap(sys.argv[1], frames)
EOF
    then
        out=$("$BIN" decode --pcap "$WORK/eth.pcap"); rc=$?
        expect_status "decode of the Ethernet capture" 0 $rc "$out"
        if [ "$(wc -l <<<"$out")" -eq 3 ]; then pass "3 Mobility Headers found, 3 other frames skipped"; else fail "MH count in Ethernet capture" "$out"; fi
        jcheck "frame 1: scapy's BU decodes with its checksum" "$(sed -n 1p <<<"$out")" \
            'j["frame"] == 1 and j["type"] == "pbu" and j["sequence"] == 7 and j["lifetime"] == 10 and j["flags"] == ["A", "P"]'
        jcheck "frame 4: 802.1Q + Hop-by-Hop + Destination Options" "$(sed -n 2p <<<"$out")" \
            'j["frame"] == 4 and j["sequence"] == 5 and j["options"][0]["prefix"] == "2001:db8:5::/64"'
        jcheck "frame 5: first fragment" "$(sed -n 3p <<<"$out")" 'j["frame"] == 5 and j["sequence"] == 5'
    else
        fail "building the Ethernet capture with scapy" "$(cat "$WORK/scapy.out")"
    fi
fi

# --- tshark reads what we write (independent decoder) -------------------------
if command -v tshark >/dev/null 2>&1; then
    fields=$(tshark -r "$WORK/all.pcap" -Y 'mip6.mhtype == 5' -T fields -e mip6.bu.seqnr -e mip6.bu.lifetime -e mip6.bu.p_flag 2>/dev/null | head -1)
    if [ "$(printf '%s' "$fields" | tr -s '\t' ' ')" = "7 150 1" ] || [ "$(printf '%s' "$fields" | tr -s '\t' ' ')" = "7 150 True" ]; then
        pass "tshark reads the encoded PBU: seq 7, lifetime 150, P"
    else
        fail "tshark fields of the encoded PBU" "$fields"
    fi
fi

finish "# $CHECKS checks, $FAILURES failed"
