#!/usr/bin/env python3
# Writes the seed corpus of fuzz_mh_parse (tests/fuzz/corpus/*.bin).
#
# Each seed is one Mobility Header (RFC 6275 section 6.1) built by hand here,
# independently of the codec under test, following the layouts of
# ../shared/PROTOCOL.md: the worked PBU of section 2.4, a PBA, BE, heartbeat
# (RFC 5847), BRI/BRA (RFC 5846), UPN/UPA (RFC 7077), and the peer quirks of
# Appendix I (OAI PBU with Header Len 8 octets short, UMIP MN-ID, opmip
# Pad1 padding). The checksum field is 0 (the fuzz target fills it when it
# needs a valid one). Deterministic: re-running produces identical files.
#
# Usage: make_corpus.py [OUTPUT_DIR]   (default: corpus/ beside this script)
import os
import struct
import sys

HNP = bytes.fromhex("20010db8000100000000000000000000")          # 2001:db8:1::
LINK_LOCAL = bytes.fromhex("fe8000000000000002005efffe005213")   # RFC 6543 address
TIMESTAMP = (1700000000 << 16) | 0x4ccd                          # 48.16 fixed point


def opt(otype, data):
    return bytes([otype, len(data)]) + data


def pad(n):
    """Pad1 for one octet, PadN otherwise (RFC 6275 section 6.2.1/6.2.2)."""
    if n == 0:
        return b""
    if n == 1:
        return b"\x00"
    return bytes([1, n - 2]) + bytes(n - 2)


def align(offset, x, y):
    return pad((y - offset) % x) if x else b""


def build(mh_type, fixed, options, header_len=None):
    """options: list of (x, y, bytes); pads each to xn+y and the end to 8."""
    body = bytes(fixed)
    offset = 6 + len(body)
    for x, y, data in options:
        p = align(offset, x, y)
        body += p + data
        offset += len(p) + len(data)
    body += align(offset, 8, 0)
    total = 6 + len(body)
    assert total % 8 == 0, total
    hl = total // 8 - 1 if header_len is None else header_len
    return bytes([59, hl, mh_type, 0, 0, 0]) + body


def worked_pbu_options():
    # PROTOCOL.md 2.4: HNP, Timestamp, HI, ATT, Link-local, MN-ID.
    return [
        (8, 4, opt(22, bytes([0, 64]) + HNP)),
        (8, 2, opt(27, struct.pack("!Q", TIMESTAMP))),
        (0, 0, opt(23, bytes([0, 1]))),
        (0, 0, opt(24, bytes([0, 4]))),
        (8, 6, opt(26, LINK_LOCAL)),
        (0, 0, opt(8, b"\x01" + b"mn1@example.org")),
    ]


def seeds():
    s = {}
    # 1. Worked PBU of PROTOCOL.md 2.4: 96 octets, Header Len 11.
    s["pbu_worked"] = build(5, struct.pack("!HHH", 7, 0x8200, 100), worked_pbu_options())
    assert len(s["pbu_worked"]) == 96
    # 2. Its PBA: status 0, P, same options.
    s["pba_accepted"] = build(6, struct.pack("!BBHH", 0, 0x20, 7, 100), worked_pbu_options())
    # 3. PBA rejection 155 with only MN-ID and HNP.
    s["pba_rejected_155"] = build(6, struct.pack("!BBHH", 155, 0x20, 8, 0), [
        (0, 0, opt(8, b"\x01" + b"mn1@example.org")),
        (8, 4, opt(22, bytes([0, 64]) + HNP)),
    ])
    # 4. PBU with IPv4 and GRE options (RFC 5844, 5845), Vendor-Specific, ACoA.
    s["pbu_ipv4_gre"] = build(5, struct.pack("!HHH", 9, 0x8280, 300), [
        (0, 0, opt(8, b"\x01" + b"mn2@example.org")),
        (8, 4, opt(22, bytes([0, 0]) + bytes(16))),
        (0, 0, opt(23, bytes([0, 4]))),
        (0, 0, opt(24, bytes([0, 3]))),
        (4, 0, opt(36, bytes([24 << 2, 0]) + bytes(4))),
        (4, 0, opt(33, bytes(2) + struct.pack("!I", 0xdeadbeef))),
        (4, 2, opt(19, struct.pack("!I", 8164) + b"\x05" + b"abc")),
        (8, 6, opt(3, bytes.fromhex("20010db8ffff00000000000000000001"))),
        (4, 2, opt(25, bytes(2) + bytes.fromhex("020000fffe000001"))),
    ])
    # 5. Binding Error status 2, Header Len 2.
    s["be_unrecognized"] = build(7, bytes([2, 0]) + bytes(16), [])
    # 6. Heartbeat request, then response with Restart Counter (4n+2).
    s["heartbeat_request"] = build(13, bytes([0, 0]) + struct.pack("!I", 41), [])
    s["heartbeat_response"] = build(13, bytes([0, 0x01]) + struct.pack("!I", 41), [
        (4, 2, opt(28, struct.pack("!I", 3))),
    ])
    # 7. BRI (P|G, trigger 1) with MN-ID and HNP; BRA success.
    s["bri"] = build(16, bytes([1, 1]) + struct.pack("!H", 12) + bytes([0xa0, 0]), [
        (8, 4, opt(22, bytes([0, 64]) + HNP)),
        (0, 0, opt(8, b"\x01" + b"mn1@example.org")),
    ])
    s["bra"] = build(16, bytes([2, 0]) + struct.pack("!H", 12) + bytes([0x80, 0]), [])
    # 8. UPN (reason 1, A) with MN-ID; UPA success.
    s["upn"] = build(19, struct.pack("!HHBB", 5, 1, 0x80, 0), [
        (0, 0, opt(8, b"\x01" + b"mn1@example.org")),
    ])
    s["upa"] = build(20, struct.pack("!HBBH", 5, 0, 0, 0), [
        (0, 0, opt(8, b"\x01" + b"mn1@example.org")),
    ])

    # 9. OAI-shaped PBU (Appendix I): MN-ID with 63 zero octets, HNP /128,
    # HI 3, ATT 4, MN-LL-ID as 8-octet EUI-64, Timestamp with little-endian
    # 32-bit halves; padding only in front of options, none at the end, and
    # Header Len one unit (8 octets) short of what is carried.
    ts = struct.pack("<II", TIMESTAMP >> 32, TIMESTAMP & 0xffffffff)
    body = struct.pack("!HHH", 0, 0x8200, 2)
    off = 12
    for x, y, data in [
        (0, 0, opt(8, b"\x01" + bytes(63))),
        (8, 4, opt(22, bytes([0, 128]) + HNP)),
        (0, 0, opt(23, bytes([0, 3]))),
        (0, 0, opt(24, bytes([0, 4]))),
        (0, 0, opt(25, bytes(2) + bytes.fromhex("0211 22ff fe33 4455"))),
        (8, 2, opt(27, ts)),
    ]:
        p = align(off, x, y)
        body += p + data
        off += len(p) + len(data)
    carried = 6 + len(body)                     # 140: ends 4 octets into a unit
    carried_padded = carried + (-carried) % 8   # 144 if the sender pads the IPv6 payload
    short_hl = carried_padded // 8 - 2          # declares 136 = 8 octets short
    s["pbu_oai_short_hdrlen"] = bytes([59, short_hl, 5, 0, 0, 0]) + body + pad(carried_padded - carried)
    # Same, exactly as Appendix I words it: nothing after the Timestamp.
    s["pbu_oai_short_hdrlen_unpadded"] = bytes([59, carried // 8 - 1, 5, 0, 0, 0]) + body
    # 10. UMIP-shaped MN-ID (00 00 + MAC, then PadN(3)) in an otherwise clean PBU.
    s["pbu_umip_mnid"] = build(5, struct.pack("!HHH", 1, 0x8200, 2), [
        (0, 0, opt(8, b"\x01" + bytes(2) + bytes.fromhex("021122334455")) + pad(3)),
        (8, 4, opt(22, bytes([0, 64]) + HNP)),
        (0, 0, opt(23, bytes([0, 1]))),
        (0, 0, opt(24, bytes([0, 4]))),
    ])
    # 11. opmip-shaped PBU: HNP without 8n+4 alignment, Pad1 padding to 8.
    body = struct.pack("!HHH", 3, 0x8200, 50)
    body += opt(8, b"\x01" + b"mn3") + opt(22, bytes([0, 64]) + HNP)
    body += opt(23, bytes([0, 4])) + opt(24, bytes([0, 1]))
    body += b"\x00" * ((-(6 + len(body))) % 8)
    s["pbu_opmip_unaligned"] = bytes([59, (6 + len(body)) // 8 - 1, 5, 0, 0, 0]) + body
    # 12. De-registration PBU (lifetime 0, HI 4) and a BU without options.
    s["pbu_deregistration"] = build(5, struct.pack("!HHH", 10, 0x8200, 0), [
        (0, 0, opt(8, b"\x01" + b"mn1@example.org")),
        (8, 4, opt(22, bytes([0, 64]) + HNP)),
        (0, 0, opt(23, bytes([0, 4]))),
        (0, 0, opt(24, bytes([0, 4]))),
    ])
    s["bu_no_options"] = build(5, struct.pack("!HHH", 1, 0x8000, 10), [])
    # 13. Regression: IPv4 HoA Request with a 6-bit prefix length of 46 (> 32).
    # The parser must reject it or the serializer must write it back; found by
    # fuzz_mh_parse (parse accepted it, serialize failed with kBadField).
    s["regression_ipv4_prefix_length_46"] = build(5, struct.pack("!HHH", 0, 0x8200, 0), [
        (4, 0, opt(36, bytes([46 << 2, 0]) + bytes(4))),
    ])
    assert s["regression_ipv4_prefix_length_46"].hex() == "3b02050000000000820000002406b8000000000001020000"
    return s


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")
    os.makedirs(out, exist_ok=True)
    for name, data in sorted(seeds().items()):
        with open(os.path.join(out, name + ".bin"), "wb") as f:
            f.write(data)
        print(f"{name}.bin {len(data)} octets")


if __name__ == "__main__":
    main()
