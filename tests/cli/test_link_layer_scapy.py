#!/usr/bin/env python3
# Cross-check of the link-layer sender's packets (common/link_layer_frame.hpp)
# against scapy, an independent builder: for each line of link_layer_frame_dump
# (a Router Advertisement built by magd's codec, MLD queries built by the MLD
# proxy's codec, each framed by build_icmpv6_packet) scapy builds the same
# message from its own layers (ICMPv6ND_RA + options, ICMPv6MLQuery2,
# ICMPv6MLQuery, IPv6ExtHdrHopByHop with RouterAlert and its own padding)
# and this script asserts
#   1. the IPv6 packets are identical octet for octet (header, Hop-by-Hop,
#      ICMPv6 checksum computed by scapy over the pseudo-header);
#   2. the destination MAC equals scapy's in6_getnsmac() (RFC 2464 section 7);
#   3. scapy parsing our octets and recomputing the checksum gets ours.
# Exit 0: all passed; 1: a mismatch; 77: scapy missing (CTest: skipped).
import subprocess
import sys

try:
    import scapy  # noqa: F401
except ImportError:
    sys.path.append("/usr/lib/python3/dist-packages")
try:
    import logging
    logging.getLogger("scapy.runtime").setLevel(logging.ERROR)
    from scapy.layers.inet6 import (IPv6, IPv6ExtHdrHopByHop, RouterAlert, ICMPv6ND_RA,
                                    ICMPv6NDOptSrcLLAddr, ICMPv6NDOptMTU, ICMPv6NDOptPrefixInfo,
                                    ICMPv6MLQuery, ICMPv6MLQuery2, in6_getnsmac)
    from scapy.pton_ntop import inet_pton
    import socket
except ImportError as e:
    print(f"SKIPPED: scapy not available ({e}); install python3-scapy")
    sys.exit(77)

SRC = "fe80::200:5eff:fe00:5213"


def hbh():
    return IPv6ExtHdrHopByHop(options=[RouterAlert(value=0)])  # scapy pads (PadN) itself


def expected():
    ra = (IPv6(src=SRC, dst="ff02::1", hlim=255, tc=0, fl=0) /
          ICMPv6ND_RA(chlim=64, M=0, O=0, H=0, prf=0, P=0, routerlifetime=1800, reachabletime=0, retranstimer=0) /
          ICMPv6NDOptSrcLLAddr(lladdr="00:00:5e:00:52:13") /
          ICMPv6NDOptMTU(mtu=1500) /
          ICMPv6NDOptPrefixInfo(prefixlen=64, L=1, A=1, validlifetime=2592000,
                                preferredlifetime=604800, prefix="2001:db8:1::") /
          ICMPv6NDOptPrefixInfo(prefixlen=64, L=1, A=1, validlifetime=0,
                                preferredlifetime=0, prefix="2001:db8:2::"))
    general = (IPv6(src=SRC, dst="ff02::1", hlim=1, tc=0, fl=0) / hbh() /
               ICMPv6MLQuery2(mrd=10000, mladdr="::", S=0, QRV=2, QQIC=125, sources=[]))
    specific = (IPv6(src=SRC, dst="ff3e::8000:1234", hlim=1, tc=0, fl=0) / hbh() /
                ICMPv6MLQuery2(mrd=1000, mladdr="ff3e::8000:1234", S=1, QRV=2, QQIC=125,
                               sources=["2001:db8::1", "2001:db8::2"]))
    v1 = (IPv6(src=SRC, dst="ff02::1", hlim=1, tc=0, fl=0) / hbh() /
          ICMPv6MLQuery(mrd=10000, mladdr="::"))
    return {"ra": (ra, "ff02::1"), "mldv2_general_query": (general, "ff02::1"),
            "mldv2_source_specific_query": (specific, "ff3e::8000:1234"),
            "mldv1_general_query": (v1, "ff02::1")}


def first_icmpv6(packet):
    # The ICMPv6 message layer (RA options and MLD fields are later layers).
    layer = packet
    while layer:
        if type(layer).__name__.startswith("ICMPv6") and "cksum" in layer.fields:
            return layer
        layer = layer.payload
    raise SystemExit("FAIL: scapy found no ICMPv6 layer in " + packet.summary())


def main():
    if len(sys.argv) != 2:
        print("usage: test_link_layer_scapy.py PATH/TO/link_layer_frame_dump", file=sys.stderr)
        return 2
    out = subprocess.run([sys.argv[1]], check=True, capture_output=True, text=True).stdout
    want = expected()
    seen = set()
    failures = 0
    for line in out.splitlines():
        name, mac, hexdata = line.split()
        ours = bytes.fromhex(hexdata)
        packet, dst = want[name]
        theirs = bytes(packet)
        seen.add(name)
        if ours != theirs:
            failures += 1
            print(f"FAIL {name}: octets differ\n  ours   {ours.hex()}\n  scapy  {theirs.hex()}")
        smac = in6_getnsmac(inet_pton(socket.AF_INET6, dst))
        if mac != smac:
            failures += 1
            print(f"FAIL {name}: destination MAC {mac}, scapy {smac}")
        parsed = IPv6(ours)
        icmp = first_icmpv6(parsed)
        ours_sum = icmp.cksum
        del icmp.cksum
        again = first_icmpv6(IPv6(bytes(parsed))).cksum
        if ours_sum != again:
            failures += 1
            print(f"FAIL {name}: checksum {ours_sum:#06x}, scapy recomputes {again:#06x}")
        if failures == 0:
            print(f"ok {name}: {len(ours)} octets, checksum {ours_sum:#06x}, MAC {mac}")
    missing = set(want) - seen
    if missing:
        failures += 1
        print(f"FAIL: no output for {sorted(missing)}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
