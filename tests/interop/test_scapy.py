#!/usr/bin/env python3
# Interop check: Mobility Headers built by scapy, decoded by `pmip-mh decode`.
#
# scapy (an independent builder) serializes each message: it computes Header
# Len, the Pad1/PadN padding from each option's xn+y alignment, and the
# RFC 6275 section 6.1.1 checksum. This script then asserts that
#   1. `pmip-mh decode --hex -` of the MH octets gives exactly the fields
#      scapy was given (strict mode);
#   2. `pmip-mh decode --pcap` of the full packets gives the same, for an
#      Ethernet capture (one frame 802.1Q-tagged, one with IPv6 extension
#      headers before the MH), a LINKTYPE_RAW (101) and a DLT_IPV6 (229)
#      capture, i.e. the checksum verified (a bad checksum is an error line);
#   3. a packet with a wrong checksum is reported as bad_checksum, exit 1;
#   4. `pmip-mh encode --hex` of the expected JSON reproduces scapy's octets
#      exactly (same padding, same checksum).
#
# scapy 2.5 has the BU/BA/BE layers and options 2, 3, 4, 6, 8, 9, 10, 11 but
# none of the PMIPv6 ones: what it lacks is built here and labelled. Options
# as raw TLVs ("RAW option") in a subclass of scapy's MIP6OptUnknown that only
# carries the RFC alignment, so scapy still pads them; MH types 13/16/19/20 as
# small layers defined here on scapy's own _MobilityHeader/_OptionsField
# ("LOCAL layer"), so scapy still computes length, padding and checksum. The
# HNP option reuses scapy's MIP6OptMobNetPrefix with otype 22 (RFC 5213
# section 8.3 has the layout of RFC 3963 section 6.2).
#
# Usage: test_scapy.py PATH/TO/pmip-mh      (exit 0 = all checks passed)
# Needs: python3-scapy (Debian); Python 3 standard library otherwise.
import ipaddress
import json
import os
import struct
import subprocess
import sys
import tempfile

try:
    import scapy  # noqa: F401
except ImportError:
    # python3-scapy is a Debian package; a python3 from pyenv/venv does not
    # see Debian's dist-packages by default.
    sys.path.append("/usr/lib/python3/dist-packages")

import logging
logging.getLogger("scapy.runtime").setLevel(logging.ERROR)

from scapy.fields import ByteEnumField, ByteField, IntField, ShortField, XShortField  # noqa: E402
from scapy.layers.inet6 import (IPv6, IPv6ExtHdrDestOpt, IPv6ExtHdrHopByHop,  # noqa: E402
                                MIP6MH_BA, MIP6MH_BE, MIP6MH_BU, MIP6OptAltCoA, MIP6OptBRAdvice,
                                MIP6OptCGAParamsReq, MIP6OptMNID, MIP6OptMobNetPrefix,
                                MIP6OptMsgAuth, MIP6OptNonceIndices, MIP6OptReplayProtection,
                                MIP6OptUnknown, _MobilityHeader, _OptionsField,
                                _PhantomAutoPadField, ipv6nh)
from scapy.layers.l2 import Dot1Q, Ether  # noqa: E402
from scapy.utils import wrpcap  # noqa: E402
import scapy.config  # noqa: E402

SRC = "2001:db8::a"
DST = "2001:db8::b"

LABELS = []   # what had to be built by hand, printed once


def label(text):
    if text not in LABELS:
        LABELS.append(text)


# ---------------------------------------------------------------------------
# What scapy lacks.

_raw_option_classes = {}


def raw_option(otype, data, x=0, y=0, what=""):
    """A mobility option as raw octets, with alignment xn+y applied by scapy."""
    align = f"{x}n+{y}" if x else "none"
    label(f"RAW option {otype} ({what}): scapy 2.5 has no layer; raw TLV data, alignment {align}")
    cls = _raw_option_classes.get((x, y))
    if cls is None:
        cls = type(f"RawMobilityOption_{x}n{y}", (MIP6OptUnknown,), {"x": x, "y": y})
        _raw_option_classes[(x, y)] = cls
    return cls(otype=otype, odata=data)


def hnp(prefix, plen):
    label("HNP (22): scapy's MIP6OptMobNetPrefix with otype=22 (same layout, RFC 5213 8.3 / RFC 3963 6.2)")
    return MIP6OptMobNetPrefix(otype=22, plen=plen, prefix=prefix)


def ipv4(text):
    return ipaddress.IPv4Address(text).packed


def opt_hi(v):
    return raw_option(23, bytes([0, v]), what="Handoff Indicator")


def opt_att(v):
    return raw_option(24, bytes([0, v]), what="Access Technology Type")


def opt_ts(v):
    return raw_option(27, struct.pack("!Q", v), 8, 2, "Timestamp")


def opt_lla(addr):
    return raw_option(26, ipaddress.IPv6Address(addr).packed, 8, 6, "Link-local Address")


def opt_mnlli(ident):
    return raw_option(25, b"\0\0" + ident, 4, 0, "MN Link-layer Identifier")


def opt_gre(key=None):
    return raw_option(33, b"\0\0" + (struct.pack("!I", key) if key is not None else b""), 4, 0, "GRE Key")


def opt_rc(v):
    return raw_option(28, struct.pack("!I", v), 4, 2, "Restart Counter")


def opt_vsm(vendor, subtype, data):
    return raw_option(19, struct.pack("!IB", vendor, subtype) + data, 4, 2, "Vendor-Specific")


def opt_v4req(plen, addr):
    return raw_option(36, struct.pack("!H", plen << 10) + ipv4(addr), 4, 0, "IPv4 HoA Request")


def opt_v4rep(status, plen, addr):
    return raw_option(37, bytes([status, plen << 2]) + ipv4(addr), 4, 0, "IPv4 HoA Reply")


def opt_v4dr(addr):
    return raw_option(38, b"\0\0" + ipv4(addr), 4, 0, "IPv4 Default-Router Address")


def opt_dhcp(server):
    return raw_option(39, struct.pack("!H", 1 if server else 0), what="IPv4 DHCP Support Mode")


def opt_v4ha(plen, p, addr):
    return raw_option(29, struct.pack("!H", plen << 10 | (0x200 if p else 0)) + ipv4(addr), 4, 0,
                      "IPv4 Home Address (RFC 5555)")


def opt_v4ack(status, plen, addr):
    return raw_option(30, bytes([status, plen << 2]) + ipv4(addr), 4, 0, "IPv4 Address Acknowledgement")


def opt_natd(f, refresh):
    return raw_option(31, struct.pack("!HI", 0x8000 if f else 0, refresh), 4, 0, "NAT Detection")


def opt_v4coa(addr):
    return raw_option(32, b"\0\0" + ipv4(addr), 4, 0, "IPv4 Care-of Address")


def opt_mng(subtype, group):
    return raw_option(50, struct.pack("!BBI", subtype, 0, group), 4, 0, "MN Group Identifier")


class MHHeartbeat(_MobilityHeader):
    """LOCAL layer: Heartbeat, MH type 13 [RFC 5847 section 5.1]."""
    name = "Heartbeat (local layer)"
    fields_desc = [ByteEnumField("nh", 59, ipv6nh), ByteField("len", None), ByteField("mhtype", 13),
                   ByteField("res", 0), XShortField("cksum", None), ByteField("reserved", 0),
                   ByteField("flags", 0),  # U = 0x02, R = 0x01
                   IntField("seq", 0), _PhantomAutoPadField("autopad", 1),
                   _OptionsField("options", [], MIP6OptUnknown, 12, length_from=lambda pkt: 8 * pkt.len - 4)]
    overload_fields = {IPv6: {"nh": 135}}


class MHBindingRevocation(_MobilityHeader):
    """LOCAL layer: Binding Revocation, MH type 16 [RFC 5846 section 6]."""
    name = "Binding Revocation (local layer)"
    fields_desc = [ByteEnumField("nh", 59, ipv6nh), ByteField("len", None), ByteField("mhtype", 16),
                   ByteField("res", 0), XShortField("cksum", None), ByteField("brtype", 1),
                   ByteField("trigger_or_status", 0), ShortField("seq", 0),
                   ByteField("flags", 0),  # P = 0x80, V = 0x40, G = 0x20
                   ByteField("reserved", 0), _PhantomAutoPadField("autopad", 1),
                   _OptionsField("options", [], MIP6OptUnknown, 12, length_from=lambda pkt: 8 * pkt.len - 4)]
    overload_fields = {IPv6: {"nh": 135}}


class MHUpdateNotification(_MobilityHeader):
    """LOCAL layer: Update Notification, MH type 19 [RFC 7077 section 4.1]."""
    name = "Update Notification (local layer)"
    fields_desc = [ByteEnumField("nh", 59, ipv6nh), ByteField("len", None), ByteField("mhtype", 19),
                   ByteField("res", 0), XShortField("cksum", None), ShortField("seq", 0),
                   ShortField("reason", 0), ByteField("flags", 0),  # A = 0x80, D = 0x40
                   ByteField("reserved", 0), _PhantomAutoPadField("autopad", 1),
                   _OptionsField("options", [], MIP6OptUnknown, 12, length_from=lambda pkt: 8 * pkt.len - 4)]
    overload_fields = {IPv6: {"nh": 135}}


class MHUpdateNotificationAck(_MobilityHeader):
    """LOCAL layer: Update Notification Acknowledgement, MH type 20 [RFC 7077 section 4.2]."""
    name = "Update Notification Ack (local layer)"
    fields_desc = [ByteEnumField("nh", 59, ipv6nh), ByteField("len", None), ByteField("mhtype", 20),
                   ByteField("res", 0), XShortField("cksum", None), ShortField("seq", 0),
                   ByteField("status", 0), ByteField("reserved", 0), ShortField("reserved2", 0),
                   _PhantomAutoPadField("autopad", 1),
                   _OptionsField("options", [], MIP6OptUnknown, 12, length_from=lambda pkt: 8 * pkt.len - 4)]
    overload_fields = {IPv6: {"nh": 135}}


# ---------------------------------------------------------------------------
# The cases: (name, scapy MH layer, expected pmip-mh decode JSON).

NAI = b"mn1@example.org"
J_NAI = {"type": 8, "name": "mn_identifier", "subtype": 1, "id": "mn1@example.org"}
TS = (1700000000 << 16) | 0x4CCD


def j_hnp(prefix):
    return {"type": 22, "name": "home_network_prefix", "prefix": prefix}


def cases():
    c = []
    worked_opts = [hnp("2001:db8:1::", 64), opt_ts(TS), opt_hi(1), opt_att(4),
                   opt_lla("fe80::200:5eff:fe00:5213"), MIP6OptMNID(subtype=1, id=NAI)]
    worked_json = [j_hnp("2001:db8:1::/64"), {"type": 27, "name": "timestamp", "value": TS},
                   {"type": 23, "name": "handoff_indicator", "value": 1},
                   {"type": 24, "name": "access_technology_type", "value": 4},
                   {"type": 26, "name": "link_local_address", "address": "fe80::200:5eff:fe00:5213"}, J_NAI]
    # PROTOCOL.md 2.4 worked PBU and its PBA.
    c.append(("pbu_worked", MIP6MH_BU(seq=7, flags="AP", mhtime=100, options=worked_opts),
              {"type": "pbu", "sequence": 7, "flags": ["A", "P"], "lifetime": 100, "options": worked_json}))
    c.append(("pba_worked", MIP6MH_BA(status=0, flags="P", seq=7, mhtime=100, options=list(worked_opts)),
              {"type": "pba", "sequence": 7, "status": 0, "flags": ["P"], "lifetime": 100,
               "options": worked_json}))

    label("BU flags F T B S D: scapy names only A H L K M R P; set through its 9-bit 'reserved' field")
    label("BA flags T B S D: scapy names only K R P; set through its 5-bit 'res2' field")
    c.append(("pbu_ipv4_gre", MIP6MH_BU(seq=9, flags="AP", reserved=0x080, mhtime=300, options=[
        MIP6OptMNID(subtype=1, id=b"mn2@example.org"), hnp("::", 0), opt_hi(4), opt_att(3),
        opt_v4req(24, "0.0.0.0"), opt_gre(0xDEADBEEF), opt_gre(None), opt_vsm(8164, 5, b"abc"),
        MIP6OptAltCoA(acoa="2001:db8:ffff::1"), opt_mnlli(bytes.fromhex("021122334455")),
    ]), {"type": "pbu", "sequence": 9, "flags": ["A", "P", "T"], "lifetime": 300, "options": [
        {"type": 8, "name": "mn_identifier", "subtype": 1, "id": "mn2@example.org"}, j_hnp("::/0"),
        {"type": 23, "name": "handoff_indicator", "value": 4},
        {"type": 24, "name": "access_technology_type", "value": 3},
        {"type": 36, "name": "ipv4_home_address_request", "prefix_length": 24, "address": "0.0.0.0"},
        {"type": 33, "name": "gre_key", "key": 0xDEADBEEF}, {"type": 33, "name": "gre_key"},
        {"type": 19, "name": "vendor_specific", "vendor_id": 8164, "subtype": 5, "data_hex": "616263"},
        {"type": 3, "name": "alternate_care_of_address", "address": "2001:db8:ffff::1"},
        {"type": 25, "name": "mn_link_layer_identifier", "id_hex": "021122334455"}]}))
    c.append(("pba_ipv4", MIP6MH_BA(status=0, flags="P", seq=9, mhtime=300, options=[
        MIP6OptMNID(subtype=1, id=NAI), hnp("2001:db8:7::", 64), opt_hi(4), opt_att(3),
        opt_v4rep(0, 24, "10.0.0.5"), opt_v4dr("10.0.0.1"), opt_dhcp(True), MIP6OptBRAdvice(rinter=450),
        opt_gre(7),
    ]), {"type": "pba", "sequence": 9, "status": 0, "flags": ["P"], "lifetime": 300, "options": [
        J_NAI, j_hnp("2001:db8:7::/64"), {"type": 23, "name": "handoff_indicator", "value": 4},
        {"type": 24, "name": "access_technology_type", "value": 3},
        {"type": 37, "name": "ipv4_home_address_reply", "status": 0, "prefix_length": 24, "address": "10.0.0.5"},
        {"type": 38, "name": "ipv4_default_router_address", "address": "10.0.0.1"},
        {"type": 39, "name": "ipv4_dhcp_support_mode", "dhcp_server": True},
        {"type": 2, "name": "binding_refresh_advice", "refresh_interval": 450},
        {"type": 33, "name": "gre_key", "key": 7}]}))
    c.append(("ba_all_flags", MIP6MH_BA(status=135, flags="KRP", res2=0x1E, seq=65535, mhtime=0),
              {"type": "pba", "sequence": 65535, "status": 135, "flags": ["K", "R", "P", "T", "B", "S", "D"],
               "lifetime": 0, "options": []}))
    c.append(("ba_reject", MIP6MH_BA(status=160, flags="", seq=3, mhtime=0, options=[MIP6OptMNID(subtype=1, id=b"")]),
              {"type": "ba", "sequence": 3, "status": 160, "flags": [], "lifetime": 0,
               "options": [{"type": 8, "name": "mn_identifier", "subtype": 1, "id": ""}]}))
    c.append(("bu_all_flags", MIP6MH_BU(seq=0, flags="AHLKMRP", reserved=0x1F0, mhtime=65535),
              {"type": "pbu", "sequence": 0, "lifetime": 65535,
               "flags": ["A", "H", "L", "K", "M", "R", "P", "F", "T", "B", "S", "D"], "options": []}))
    c.append(("bu_mipv6_options", MIP6MH_BU(seq=100, flags="AHR", mhtime=75, options=[
        MIP6OptMobNetPrefix(plen=48, prefix="2001:db8:5::"),
        MIP6OptReplayProtection(timestamp=0x0000011F71FB04CB),
        MIP6OptMsgAuth(subtype=1, mspi=256, authdata=bytes.fromhex("00112233445566778899aabb")),
        MIP6OptNonceIndices(olen=4, hni=1, coni=2), MIP6OptCGAParamsReq(),
    ]), {"type": "bu", "sequence": 100, "flags": ["A", "H", "R"], "lifetime": 75, "options": [
        {"type": 6, "name": "mobile_network_prefix", "prefix": "2001:db8:5::/48"},
        {"type": 10, "name": "mobility_message_replay_protection", "value": 0x0000011F71FB04CB},
        {"type": 9, "name": "mobility_message_authentication", "subtype": 1, "spi": 256,
         "data_hex": "00112233445566778899aabb"},
        {"type": 4, "name": "unknown", "data_hex": "00010002"},
        {"type": 11, "name": "unknown", "data_hex": ""}]}))
    label("Nonce Indices (4): scapy's MIP6OptNonceIndices with olen=4 (its default olen 16 is wrong)")
    c.append(("bu_dsmipv6_options", MIP6MH_BU(seq=101, flags="A", mhtime=10, options=[
        opt_v4ha(24, True, "10.1.0.5"), opt_v4ack(128, 16, "10.1.0.5"), opt_natd(True, 30),
        opt_v4coa("192.0.2.1"), opt_mng(1, 4000000000),
    ]), {"type": "bu", "sequence": 101, "flags": ["A"], "lifetime": 10, "options": [
        {"type": 29, "name": "ipv4_home_address", "prefix_length": 24, "request_prefix": True, "address": "10.1.0.5"},
        {"type": 30, "name": "ipv4_address_acknowledgement", "status": 128, "prefix_length": 16,
         "address": "10.1.0.5"},
        {"type": 31, "name": "nat_detection", "udp_encapsulation_required": True, "refresh_time": 30},
        {"type": 32, "name": "ipv4_care_of_address", "address": "192.0.2.1"},
        {"type": 50, "name": "mn_group_identifier", "subtype": 1, "group_id": 4000000000}]}))
    c.append(("be", MIP6MH_BE(status=2, ha="2001:db8::99"),
              {"type": "be", "status": 2, "home_address": "2001:db8::99", "options": []}))

    label("Heartbeat (13), Binding Revocation (16), UPN (19), UPA (20): LOCAL layers on scapy's "
          "_MobilityHeader/_OptionsField")
    c.append(("heartbeat_request", MHHeartbeat(flags=0, seq=4000000001),
              {"type": "heartbeat", "sequence": 4000000001, "flags": [], "options": []}))
    c.append(("heartbeat_response", MHHeartbeat(flags=0x03, seq=7, options=[opt_rc(3)]),
              {"type": "heartbeat", "sequence": 7, "flags": ["U", "R"],
               "options": [{"type": 28, "name": "restart_counter", "value": 3}]}))
    c.append(("bri", MHBindingRevocation(brtype=1, trigger_or_status=1, seq=12, flags=0xA0,
                                         options=[hnp("2001:db8:1::", 64), MIP6OptMNID(subtype=1, id=NAI)]),
              {"type": "bri", "sequence": 12, "trigger": 1, "flags": ["P", "G"],
               "options": [j_hnp("2001:db8:1::/64"), J_NAI]}))
    c.append(("bra", MHBindingRevocation(brtype=2, trigger_or_status=128, seq=12, flags=0xC0),
              {"type": "bra", "sequence": 12, "status": 128, "flags": ["P", "V"], "options": []}))
    c.append(("upn", MHUpdateNotification(seq=5, reason=3, flags=0xC0,
                                          options=[MIP6OptMNID(subtype=1, id=NAI), opt_vsm(10415, 1, b"\x01\x02")]),
              {"type": "upn", "sequence": 5, "reason": 3, "flags": ["A", "D"],
               "options": [J_NAI, {"type": 19, "name": "vendor_specific", "vendor_id": 10415, "subtype": 1,
                                   "data_hex": "0102"}]}))
    c.append(("upa", MHUpdateNotificationAck(seq=5, status=129, options=[MIP6OptMNID(subtype=1, id=NAI)]),
              {"type": "upa", "sequence": 5, "status": 129, "options": [J_NAI]}))
    return c


# ---------------------------------------------------------------------------

def normalise(j):
    """Order-independent flags; drop the decoder's context members."""
    j = dict(j)
    j.pop("frame", None)
    if "flags" in j:
        j["flags"] = sorted(j["flags"])
    return j


def diff(path, got, want, out):
    if isinstance(want, dict) and isinstance(got, dict):
        for k in sorted(set(want) | set(got)):
            if k not in got:
                out.append(f"{path}.{k}: missing (want {want[k]!r})")
            elif k not in want:
                out.append(f"{path}.{k}: unexpected {got[k]!r}")
            else:
                diff(f"{path}.{k}", got[k], want[k], out)
    elif isinstance(want, list) and isinstance(got, list):
        if len(got) != len(want):
            out.append(f"{path}: {len(got)} items, want {len(want)}")
        for i, (g, w) in enumerate(zip(got, want)):
            diff(f"{path}[{i}]", g, w, out)
    elif got != want:
        out.append(f"{path}: got {got!r}, want {want!r}")


class Result:
    def __init__(self):
        self.failures = []
        self.checks = 0

    def compare(self, where, got, want):
        self.checks += 1
        out = []
        diff("", normalise(got), normalise(want), out)
        for d in out:
            self.failures.append(f"{where}: {d}")
            print(f"  MISMATCH {where}: {d}")
        return not out

    def true(self, where, what, cond):
        self.checks += 1
        if not cond:
            self.failures.append(f"{where}: {what}")
            print(f"  FAIL {where}: {what}")


def run(args, stdin=""):
    return subprocess.run(args, input=stdin, capture_output=True, text=True)


def json_lines(text):
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def main():
    if len(sys.argv) != 2:
        print("usage: test_scapy.py PATH/TO/pmip-mh", file=sys.stderr)
        return 2
    tool = sys.argv[1]
    r = Result()
    all_cases = cases()
    packets = [IPv6(src=SRC, dst=DST) / mh for _, mh, _ in all_cases]
    wires = [bytes(p) for p in packets]
    mh_octets = [w[40:] for w in wires]
    print(f"test_scapy: scapy {scapy.config.conf.version}, {len(all_cases)} messages")
    for text in LABELS:
        print(f"  built by hand: {text}")

    # PROTOCOL.md 2.4 worked layout, as scapy pads it.
    worked = mh_octets[0]
    r.true("pbu_worked", "scapy's PBU is the 96-octet PROTOCOL.md 2.4 layout",
           len(worked) == 96 and worked[1] == 11 and worked[12] == 22 and worked[34] == 27 and
           worked[44] == 23 and worked[48] == 24 and worked[54] == 26 and worked[72] == 8)

    # 1. Hex decode (strict), one call for all messages.
    res = run([tool, "decode", "--hex", "-"], "".join(m.hex() + "\n" for m in mh_octets))
    r.true("decode --hex", f"exit status 0 (got {res.returncode}: {res.stderr.strip()})", res.returncode == 0)
    decoded = json_lines(res.stdout)
    r.true("decode --hex", "one JSON line per message", len(decoded) == len(all_cases))
    for (name, mh, want), got, octets in zip(all_cases, decoded, mh_octets):
        print(f"{name}: {len(octets)} octets, Header Len {octets[1]}: {octets.hex()}")
        r.compare(f"{name} decode --hex", got, want)

    # 2. pcap decode: Ethernet (with a VLAN tag and extension headers on two
    #    frames), LINKTYPE_RAW, DLT_IPV6. The checksum is verified there.
    with tempfile.TemporaryDirectory() as tmp:
        ether = []
        for i, p in enumerate(packets):
            if i == 1:
                ether.append(Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02") / Dot1Q(vlan=42) / p)
            elif i == 2:
                ip = p.copy()
                mh = ip.payload.copy()
                ext = IPv6(src=SRC, dst=DST) / IPv6ExtHdrHopByHop() / IPv6ExtHdrDestOpt() / mh
                ether.append(Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02") / ext)
            else:
                ether.append(Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02") / p)
        # scapy computed the checksum of frame 3 with the extension headers in place.
        ext_mh = bytes(ether[2])[14 + 40 + 8 + 8:]
        r.true("ethernet frame 3", "MH behind Hop-by-Hop + Destination Options keeps its octets",
               ext_mh[6:] == mh_octets[2][6:])
        captures = {"ethernet": (ether, None), "raw": (packets, 101), "ipv6": (packets, 229)}
        for kind, (pkts, linktype) in captures.items():
            path = os.path.join(tmp, f"{kind}.pcap")
            if linktype is None:
                wrpcap(path, pkts)
            else:
                wrpcap(path, pkts, linktype=linktype)
            res = run([tool, "decode", "--pcap", path])
            r.true(f"decode --pcap {kind}", f"exit status 0 (got {res.returncode}: {res.stderr.strip()})",
                   res.returncode == 0)
            lines = json_lines(res.stdout)
            r.true(f"decode --pcap {kind}", f"{len(all_cases)} objects (got {len(lines)})",
                   len(lines) == len(all_cases))
            for i, ((name, _, want), got) in enumerate(zip(all_cases, lines), start=1):
                r.true(f"{kind} {name}", f"frame number {got.get('frame')} == {i}", got.get("frame") == i)
                r.compare(f"{kind} {name} decode --pcap", got, want)
            print(f"decode --pcap {kind} (link type {linktype or 1}): {len(lines)} messages, checksums verified")

        # 3. A wrong checksum must be reported, not decoded.
        bad = IPv6(src=SRC, dst=DST) / MIP6MH_BU(seq=1, flags="AP", mhtime=1, cksum=0x1234)
        good_sum = IPv6(bytes(IPv6(src=SRC, dst=DST) / MIP6MH_BU(seq=1, flags="AP", mhtime=1)))[MIP6MH_BU].cksum
        r.true("bad checksum", "test packet's checksum is really wrong", good_sum != 0x1234)
        path = os.path.join(tmp, "bad.pcap")
        wrpcap(path, [bad], linktype=101)
        res = run([tool, "decode", "--pcap", path])
        lines = json_lines(res.stdout)
        r.true("bad checksum", f"exit status 1 (got {res.returncode})", res.returncode == 1)
        r.true("bad checksum", f"reported as an error: {res.stdout.strip()}",
               len(lines) == 1 and "checksum" in str(lines[0].get("error", "")) and lines[0].get("frame") == 1)
        print(f"decode --pcap bad checksum: {res.stdout.strip()} (exit {res.returncode})")

    # 4. Encode the expected JSON: same octets as scapy, checksum included.
    res = run([tool, "encode", "--src", SRC, "--dst", DST, "--hex"],
              "".join(json.dumps(want) + "\n" for _, _, want in all_cases))
    r.true("encode --hex", f"exit status 0 (got {res.returncode}: {res.stderr.strip()})", res.returncode == 0)
    encoded = [line.strip() for line in res.stdout.splitlines() if line.strip()]
    r.true("encode --hex", "one hex line per message", len(encoded) == len(all_cases))
    for (name, _, _), ours, theirs in zip(all_cases, encoded, mh_octets):
        r.true(f"{name} encode", f"pmip-mh encode == scapy octets\n    pmip-mh {ours}\n    scapy   {theirs.hex()}",
               ours == theirs.hex())

    print(f"test_scapy: {r.checks} checks, {len(r.failures)} failures")
    for f in r.failures:
        print(f"FAILED: {f}")
    return 1 if r.failures else 0


if __name__ == "__main__":
    sys.exit(main())
