#!/usr/bin/python3
# A MAG stand-in for tests/netns/test_lmad.sh: builds Mobility Header
# messages with scapy (an independent builder, not our codec), sends them from
# a given MAG address over a raw IPv6 socket, and decodes the LMA's answers
# itself (raw octets, not our codec). Prints one JSON object on stdout.
#
#   lmad_peer.py pbu --src A --dst L --mn ID [--hnp P/LEN] [--hi N] [--att N]
#                    [--lifetime SECONDS] [--seq N] [--no-timestamp]
#                    [--ts-offset SECONDS]         -> the PBA
#   lmad_peer.py mh --src A --dst L --hex HEX [--expect be|icmp|none]
#                                                  -> the Binding Error / ICMPv6 error
#   lmad_peer.py heartbeat --src A --dst L [--seq N]   -> the Heartbeat Response
#   lmad_peer.py listen --src A --type T [--timeout S] -> the first MH of type T to A
#   lmad_peer.py revocation --src A [--answer STATUS|none] [--count N] [--timeout S]
#                    [--ready-file F]            -> the BRIs (RFC 5846) sent to A: waits
#                                                  for N of them (default 1); with
#                                                  --answer, replies to the first with
#                                                  a scapy-built BRA of that status
#   lmad_peer.py bra --src A --dst L --seq N [--status S] [--flags P|PG|...]
#                                                  -> sends one BRA, expects no answer
#
# Exit 0 with the answer, 1 when none came within --timeout (default 3 s).
# scapy 2.5 lacks the PMIPv6 options: they are built here as raw TLVs with
# their RFC 5213 alignment (scapy pads them), as tests/interop/test_scapy.py does.
import argparse
import ipaddress
import json
import os
import select
import socket
import struct
import sys
import time

try:
    import scapy  # noqa: F401
except ImportError:
    sys.path.append("/usr/lib/python3/dist-packages")

import logging
logging.getLogger("scapy.runtime").setLevel(logging.ERROR)

from scapy.fields import (BitField, ByteEnumField, ByteField, ShortField,  # noqa: E402
                          XShortField)
from scapy.layers.inet6 import (IPv6, MIP6MH_BU, MIP6OptMNID, MIP6OptMobNetPrefix,  # noqa: E402
                                MIP6OptUnknown, _MobilityHeader, ipv6nh)


class MIP6MH_BRA(_MobilityHeader):
    """Binding Revocation Acknowledgement, RFC 5846 section 5.2 (scapy 2.5 has none).

    No options: Header Len 1 and 4 octets of padding (section 5.2)."""
    name = "IPv6 Mobility Header - Binding Revocation Acknowledgement"
    fields_desc = [ByteEnumField("nh", 59, ipv6nh),
                   ByteField("len", None),
                   ByteField("mhtype", 16),
                   ByteField("res", 0),
                   XShortField("cksum", None),
                   ByteField("brtype", 2),
                   ByteField("status", 0),
                   ShortField("seq", 0),
                   BitField("p", 0, 1),
                   BitField("v", 0, 1),
                   BitField("g", 0, 1),
                   BitField("reserved", 0, 13),
                   ShortField("pad", 0),
                   ShortField("pad2", 0)]

IPPROTO_MH = 135
_raw_classes = {}


def raw_option(otype, data, x=0, y=0):
    """A mobility option as raw octets; scapy applies alignment xn+y."""
    cls = _raw_classes.get((x, y))
    if cls is None:
        cls = type(f"RawOpt_{x}n{y}", (MIP6OptUnknown,), {"x": x, "y": y})
        _raw_classes[(x, y)] = cls
    return cls(otype=otype, odata=data)


def timestamp_now(offset=0.0):
    """RFC 5213 section 8.8: 48-bit seconds since 1970, 16-bit 1/65536 fractions."""
    t = time.time() + offset
    seconds = int(t)
    return (seconds << 16) | int((t - seconds) * 65536)


def mh_socket(src):
    s = socket.socket(socket.AF_INET6, socket.SOCK_RAW, IPPROTO_MH)
    s.bind((src, 0))
    return s


def send_mh(sock, dst, octets, kernel_checksum=True):
    # IPV6_CHECKSUM = 7: the kernel fills the MH checksum at offset 4.
    sock.setsockopt(socket.IPPROTO_IPV6, 7, 4 if kernel_checksum else -1)
    sock.sendto(octets, (dst, 0))


def receive(sock, want, timeout):
    """The first datagram for which want(octets, source) is true, or None."""
    deadline = time.time() + timeout
    while True:
        left = deadline - time.time()
        if left <= 0:
            return None
        ready, _, _ = select.select([sock], [], [], left)
        if not ready:
            return None
        data, address = sock.recvfrom(65535)
        if want(data, address[0]):
            return data, address[0]


def parse_options(data, start, end):
    """Mobility options [RFC 6275 section 6.2] -> list of (type, octets)."""
    out = []
    i = start
    while i < end:
        otype = data[i]
        if otype == 0:
            i += 1
            continue
        length = data[i + 1]
        out.append((otype, data[i + 2:i + 2 + length]))
        i += 2 + length
    return out


def decode_ba(data):
    length = (data[1] + 1) * 8
    result = {"mh_type": data[2], "length": length, "received_octets": len(data),
              "status": data[6], "flags": data[7], "p_flag": bool(data[7] & 0x20),
              "seq": struct.unpack("!H", data[8:10])[0],
              "lifetime": struct.unpack("!H", data[10:12])[0], "hnps": []}
    for otype, o in parse_options(data, 12, length):
        if otype == 8:
            result["mn_id"] = o[1:].decode("latin-1")
            result["mn_id_subtype"] = o[0]
        elif otype == 22:
            result["hnps"].append(f"{ipaddress.IPv6Address(bytes(o[2:18]))}/{o[1]}")
        elif otype == 23:
            result["hi"] = o[1]
        elif otype == 24:
            result["att"] = o[1]
        elif otype == 27:
            result["timestamp"] = struct.unpack("!Q", o)[0]
        elif otype == 33:
            result["gre_key"] = struct.unpack("!I", o[2:6])[0] if len(o) == 6 else None
        else:
            result.setdefault("other_options", []).append(otype)
    return result


def decode_heartbeat(data):
    length = (data[1] + 1) * 8
    result = {"mh_type": data[2], "flags": data[7], "u_flag": bool(data[7] & 2),
              "r_flag": bool(data[7] & 1), "seq": struct.unpack("!I", data[8:12])[0]}
    for otype, o in parse_options(data, 12, length):
        if otype == 28:
            result["restart_counter"] = struct.unpack("!I", o)[0]
    return result


def cmd_pbu(a):
    plen = 0
    prefix = "::"
    if a.hnp:
        net = ipaddress.IPv6Network(a.hnp, strict=False)
        prefix, plen = str(net.network_address), net.prefixlen
    options = [MIP6OptMNID(subtype=1, id=a.mn.encode()),
               MIP6OptMobNetPrefix(otype=22, plen=plen, prefix=prefix),  # HNP, RFC 5213 8.3
               raw_option(23, bytes([0, a.hi])),                           # Handoff Indicator
               raw_option(24, bytes([0, a.att]))]                          # Access Technology Type
    if not a.no_timestamp:
        options.append(raw_option(27, struct.pack("!Q", timestamp_now(a.ts_offset)), 8, 2))
    lifetime_units = a.lifetime // 4
    bu = MIP6MH_BU(seq=a.seq, flags="AP", mhtime=lifetime_units, options=options)
    octets = bytes(IPv6(src=a.src, dst=a.dst) / bu)[40:]
    sock = mh_socket(a.src)
    send_mh(sock, a.dst, octets)
    got = receive(sock, lambda d, s: s == a.dst and len(d) >= 12 and d[2] == 6
                  and struct.unpack("!H", d[8:10])[0] == a.seq, a.timeout)
    if got is None:
        print(json.dumps({"error": "no PBA"}))
        return 1
    result = decode_ba(got[0])
    result["received_at_ms"] = int(time.time() * 1000)
    print(json.dumps(result))
    return 0


def cmd_mh(a):
    sock = mh_socket(a.src)
    octets = bytes.fromhex(a.hex)
    icmp = None
    if a.expect == "icmp":
        icmp = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
    send_mh(sock, a.dst, octets, kernel_checksum=len(octets) >= 6)
    if a.expect == "be":
        got = receive(sock, lambda d, s: s == a.dst and len(d) >= 8 and d[2] == 7, a.timeout)
        if got is None:
            print(json.dumps({"error": "no Binding Error"}))
            return 1
        d = got[0]
        print(json.dumps({"mh_type": 7, "status": d[6],
                          "home_address": str(ipaddress.IPv6Address(bytes(d[8:24])))}))
        return 0
    if a.expect == "icmp":
        got = receive(icmp, lambda d, s: s == a.dst and len(d) >= 8 and d[0] == 4, a.timeout)
        if got is None:
            print(json.dumps({"error": "no ICMPv6 Parameter Problem"}))
            return 1
        d = got[0]
        print(json.dumps({"icmp_type": d[0], "code": d[1], "pointer": struct.unpack("!I", d[4:8])[0],
                          "quoted_octets": len(d) - 8,
                          "quoted_next_header": d[8 + 6] if len(d) >= 16 else None}))
        return 0
    got = receive(sock, lambda d, s: s == a.dst, a.timeout)
    print(json.dumps({"answer": None if got is None else got[0].hex()}))
    return 0 if got is None else 1


def cmd_heartbeat(a):
    # Heartbeat request [RFC 5847 section 5.1]: no scapy layer; 16 octets, the
    # kernel fills the checksum.
    octets = struct.pack("!BBBBHBBI", 59, 1, 13, 0, 0, 0, 0, a.seq) + b"\x01\x02\x00\x00"
    sock = mh_socket(a.src)
    send_mh(sock, a.dst, octets)
    got = receive(sock, lambda d, s: s == a.dst and len(d) >= 12 and d[2] == 13, a.timeout)
    if got is None:
        print(json.dumps({"error": "no Heartbeat Response"}))
        return 1
    print(json.dumps(decode_heartbeat(got[0])))
    return 0


def decode_bri(data):
    """Binding Revocation Indication [RFC 5846 section 5.1], decoded by hand."""
    length = (data[1] + 1) * 8
    result = {"mh_type": data[2], "header_len": data[1], "octets": len(data),
              "br_type": data[6], "trigger": data[7],
              "seq": struct.unpack("!H", data[8:10])[0], "flags": data[10],
              "p_flag": bool(data[10] & 0x80), "v_flag": bool(data[10] & 0x40),
              "g_flag": bool(data[10] & 0x20), "hnps": [], "options": []}
    for otype, o in parse_options(data, 12, length):
        if otype == 1:  # PadN
            continue
        result["options"].append(otype)
        if otype == 8:
            result["mn_id"] = o[1:].decode("latin-1")
            result["mn_id_subtype"] = o[0]
        elif otype == 22:
            result["hnps"].append(f"{ipaddress.IPv6Address(bytes(o[2:18]))}/{o[1]}")
    return result


def send_bra(sock, dst, src, seq, status, flags):
    bra = MIP6MH_BRA(seq=seq, status=status, p=int("P" in flags), v=int("V" in flags),
                     g=int("G" in flags))
    send_mh(sock, dst, bytes(IPv6(src=src, dst=dst) / bra)[40:])


def cmd_revocation(a):
    sock = mh_socket(a.src)
    if a.ready_file:
        with open(a.ready_file, "w") as f:
            f.write("ready\n")
    bris = []
    deadline = time.time() + a.timeout
    while len(bris) < a.count:
        got = receive(sock, lambda d, s: len(d) >= 12 and d[2] == 16 and d[6] == 1,
                      deadline - time.time())
        if got is None:
            break
        bri = decode_bri(got[0])
        bri["source"] = got[1]
        bri["received_at_ms"] = int(time.time() * 1000)
        bris.append(bri)
        if len(bris) == 1 and a.answer != "none":
            flags = ("P" if bri["p_flag"] else "") + ("V" if bri["v_flag"] else "") + \
                    ("G" if bri["g_flag"] else "")
            send_bra(sock, got[1], a.src, bri["seq"], int(a.answer), flags)
            bri["answered_with"] = int(a.answer)
    print(json.dumps({"bris": bris}))
    return 0 if len(bris) >= a.count else 1


def cmd_bra(a):
    sock = mh_socket(a.src)
    send_bra(sock, a.dst, a.src, a.seq, a.status, a.flags)
    got = receive(sock, lambda d, s: s == a.dst, a.timeout)
    print(json.dumps({"answer": None if got is None else got[0].hex()}))
    return 0 if got is None else 1


def cmd_listen(a):
    sock = mh_socket(a.src)
    if a.ready_file:
        with open(a.ready_file, "w") as f:
            f.write("ready\n")
    got = receive(sock, lambda d, s: len(d) >= 8 and d[2] == a.type, a.timeout)
    if got is None:
        print(json.dumps({"error": f"no MH type {a.type}"}))
        return 1
    out = decode_heartbeat(got[0]) if a.type == 13 else {"mh_type": got[0][2], "hex": got[0].hex()}
    out["source"] = got[1]
    print(json.dumps(out))
    return 0


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    for name in ("pbu", "mh", "heartbeat", "listen", "revocation", "bra"):
        s = sub.add_parser(name)
        s.add_argument("--src", required=True)
        s.add_argument("--timeout", type=float, default=3.0)
        if name not in ("listen", "revocation"):
            s.add_argument("--dst", required=True)
        if name == "pbu":
            s.add_argument("--mn", required=True)
            s.add_argument("--hnp")
            s.add_argument("--hi", type=int, default=1)
            s.add_argument("--att", type=int, default=4)
            s.add_argument("--lifetime", type=int, default=400)
            s.add_argument("--seq", type=int, default=1)
            s.add_argument("--no-timestamp", action="store_true")
            s.add_argument("--ts-offset", type=float, default=0.0)
        if name == "mh":
            s.add_argument("--hex", required=True)
            s.add_argument("--expect", choices=("be", "icmp", "none"), default="none")
        if name == "heartbeat":
            s.add_argument("--seq", type=int, default=1)
        if name == "listen":
            s.add_argument("--type", type=int, required=True)
            s.add_argument("--ready-file")
        if name == "revocation":
            s.add_argument("--answer", default="0")
            s.add_argument("--count", type=int, default=1)
            s.add_argument("--ready-file")
        if name == "bra":
            s.add_argument("--seq", type=int, required=True)
            s.add_argument("--status", type=int, default=0)
            s.add_argument("--flags", default="P")
    a = p.parse_args()
    return {"pbu": cmd_pbu, "mh": cmd_mh, "heartbeat": cmd_heartbeat, "listen": cmd_listen,
            "revocation": cmd_revocation, "bra": cmd_bra}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
