#!/usr/bin/python3
# Many MAGs on one namespace, for tests/netns/test_mcast_scale.sh's LMA part:
# each MAG address registers one MN with lmad (scapy-built PBUs, via
# lmad_peer.py), then acts as that tunnel's MLD proxy: MLDv2 Reports built
# with scapy, sent ip6ip6-encapsulated to the LMA (a raw protocol-41 socket
# bound to the MAG address), and counts what the LMA sends down each tunnel.
#
#   mag_crowd.py register --lma L --mags A1,A2,... [--timeout S]
#       one PBU per MAG (MN "crowd-I@scale.example"): prints {"accepted": n, "rejected": [...]}
#   mag_crowd.py report --lma L --mags A1,... --group G (--join | --leave)
#       CHANGE_TO_EXCLUDE {} (join) or CHANGE_TO_INCLUDE {} (leave) for G on each tunnel
#   mag_crowd.py count --group G --port P --seconds S --ready FILE
#       counts the encapsulated datagrams to G port P per outer destination
#       (the MAG address; IPV6_PKTINFO) with mcast_traffic.py's sequence
#       numbers: prints {"MAG": {"received": n, "duplicates": d}, ...}
import argparse
import json
import os
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lmad_peer  # noqa: E402  (sets up scapy's import path too)
from mcast_scale_mn import SequenceCounts, big_receive_buffer  # noqa: E402

from scapy.layers.inet6 import (IPv6, IPv6ExtHdrHopByHop, RouterAlert,  # noqa: E402
                                ICMPv6MLReport2, ICMPv6MLDMultAddrRec)

IPPROTO_IPV6_IN_IPV6 = 41


def cmd_register(a):
    accepted, rejected = 0, []
    for i, mag in enumerate(a.mags.split(","), start=1):
        args = argparse.Namespace(src=mag, dst=a.lma, mn="crowd-%d@scale.example" % i, hnp=None,
                                  hi=4, att=4, lifetime=400, seq=1, no_timestamp=False,
                                  ts_offset=0.0, timeout=a.timeout)
        saved = sys.stdout
        sys.stdout = open(os.devnull, "w")
        try:
            rc = lmad_peer.cmd_pbu(args)
        finally:
            sys.stdout.close()
            sys.stdout = saved
        if rc == 0:
            accepted += 1
        else:
            rejected.append(mag)
    print(json.dumps({"accepted": accepted, "rejected": rejected}))
    return 0 if not rejected else 1


def cmd_report(a):
    rtype = 4 if a.join else 3  # CHANGE_TO_EXCLUDE_MODE / CHANGE_TO_INCLUDE_MODE (RFC 3810 5.2.12)
    for i, mag in enumerate(a.mags.split(","), start=1):
        inner = IPv6(src="fe80::c:%x" % i, dst="ff02::16", hlim=1) / \
            IPv6ExtHdrHopByHop(options=[RouterAlert()]) / \
            ICMPv6MLReport2(records=[ICMPv6MLDMultAddrRec(rtype=rtype, dst=a.group)])
        s = socket.socket(socket.AF_INET6, socket.SOCK_RAW, IPPROTO_IPV6_IN_IPV6)
        s.bind((mag, 0))
        s.sendto(bytes(inner), (a.lma, 0))
        s.close()
    return 0


def cmd_count(a):
    s = socket.socket(socket.AF_INET6, socket.SOCK_RAW, IPPROTO_IPV6_IN_IPV6)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVPKTINFO, 1)
    big_receive_buffer(s)
    s.settimeout(0.2)
    group = socket.inet_pton(socket.AF_INET6, a.group)
    counts = SequenceCounts()
    open(a.ready, "w").write("counting\n")
    deadline = time.monotonic() + a.seconds
    while time.monotonic() < deadline:
        try:
            data, ancillary, _, _ = s.recvmsg(65535, 256)
        except socket.timeout:
            continue
        mag = None
        for level, kind, value in ancillary:
            if level == socket.IPPROTO_IPV6 and kind == socket.IPV6_PKTINFO:
                mag = socket.inet_ntop(socket.AF_INET6, value[:16])
        if mag is None or len(data) < 48 or data[6] != 17 or data[24:40] != group:
            continue
        if struct.unpack("!H", data[42:44])[0] != a.port:
            continue
        counts.add(mag, data[48:])
    print(counts.json())
    return 0


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("register")
    r.add_argument("--lma", required=True)
    r.add_argument("--mags", required=True)
    r.add_argument("--timeout", type=float, default=3.0)
    m = sub.add_parser("report")
    m.add_argument("--lma", required=True)
    m.add_argument("--mags", required=True)
    m.add_argument("--group", required=True)
    g = m.add_mutually_exclusive_group(required=True)
    g.add_argument("--join", action="store_true")
    g.add_argument("--leave", action="store_true")
    c = sub.add_parser("count")
    c.add_argument("--group", required=True)
    c.add_argument("--port", type=int, required=True)
    c.add_argument("--seconds", type=float, required=True)
    c.add_argument("--ready", required=True)
    a = p.parse_args()
    return {"register": cmd_register, "report": cmd_report, "count": cmd_count}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
