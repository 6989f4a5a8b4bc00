#!/usr/bin/env python3
# Interop check: what `pmip-mh encode` puts on the wire, decoded by tshark.
#
# Builds PMIPv6 messages as JSON (PBU with every PMIPv6 option, PBA with
# several statuses and flags, BU/BA, BE, Heartbeat, BRI/BRA, UPN/UPA), encodes
# them with `pmip-mh encode --pcap`, reads the capture back with
# `tshark -T json` (Wireshark's independent MIPv6 dissector) and asserts that
# every field tshark decodes equals what was encoded: MH header, type,
# sequence, each flag bit, lifetime, status, each option's values, in order.
# Also asserts no malformed packet and no expert info other than tshark's
# own "IE data not dissected yet" note for options it does not know
# (DESIGN.md section 7 item 4). tshark does not verify the MH checksum, so
# this script verifies it itself (RFC 6275 section 6.1.1 pseudo-header sum).
#
# What tshark (4.0) cannot check is printed as "UNCHECKED ..." lines; known
# tshark dissector defects are printed as "TSHARK-BUG ..." lines and the
# affected field is compared only as far as tshark decodes it correctly.
#
# Usage: test_tshark.py PATH/TO/pmip-mh      (exit 0 = all checks passed)
# Needs: tshark on PATH; Python 3 standard library only.
import datetime
import ipaddress
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile

SRC = "2001:db8::10"
DST = "2001:db8::20"

# ---------------------------------------------------------------------------
# The messages. JSON form of tools/pmip-mh (mobility-header/include/pmip/mh/json.hpp).

NAI = {"name": "mn_identifier", "subtype": 1, "id": "mn1@example.org"}
TS_VALUE = (1700000000 << 16) | 0x4CCD   # 2023-11-14 22:13:20.300003 UTC

MESSAGES = [
    # 1. PBU with every PMIPv6 option of RFC 5213 and several HNPs.
    {"type": "pbu", "sequence": 4711, "flags": ["A"], "lifetime": 900, "options": [
        NAI,
        {"name": "home_network_prefix", "prefix": "2001:db8:1::/64"},
        {"name": "home_network_prefix", "prefix": "2001:db8:2::/64"},
        {"name": "home_network_prefix", "prefix": "2001:db8:3:4::5/128"},
        {"name": "handoff_indicator", "value": 1},
        {"name": "access_technology_type", "value": 4},
        {"name": "mn_link_layer_identifier", "id_hex": "021122334455"},
        {"name": "link_local_address", "address": "fe80::200:5eff:fe00:5213"},
        {"name": "timestamp", "value": TS_VALUE},
    ]},
    # 2. PBU with the RFC 5844 / 5845 / 5094 / 6275 options: GRE key with a
    #    key, IPv4 HoA Request, Vendor-Specific, Alternate CoA, T flag.
    {"type": "pbu", "sequence": 4712, "flags": ["A", "T"], "lifetime": 65535, "options": [
        {"name": "mn_identifier", "subtype": 1, "id": "user.name+tag@sub.example.net"},
        {"name": "home_network_prefix", "prefix": "::/0"},
        {"name": "handoff_indicator", "value": 4},
        {"name": "access_technology_type", "value": 3},
        {"name": "gre_key", "key": 3735928559},
        {"name": "ipv4_home_address_request", "prefix_length": 24, "address": "0.0.0.0"},
        {"name": "vendor_specific", "vendor_id": 8164, "subtype": 5, "data_hex": "616263"},
        {"name": "alternate_care_of_address", "address": "2001:db8:ffff::1"},
        {"name": "mn_link_layer_identifier", "id_hex": "021122fffe334455"},
        {"name": "timestamp", "value": (1800000000 << 16) | 0x8000},
    ]},
    # 3. De-registration PBU, GRE without a key, MN-ID as binary (id_hex),
    #    IPv4 HoA Request with an address, every BU flag set.
    {"type": "bu", "sequence": 65535, "lifetime": 0,
     "flags": ["A", "H", "L", "K", "M", "R", "P", "F", "T", "B", "S", "D"], "options": [
        {"name": "mn_identifier", "subtype": 5, "id_hex": "021122334455"},
        {"name": "home_network_prefix", "prefix": "2001:db8:1::/64"},
        {"name": "handoff_indicator", "value": 5},
        {"name": "access_technology_type", "value": 9},
        {"name": "gre_key"},
        {"name": "ipv4_home_address_request", "prefix_length": 32, "address": "10.1.2.3"},
        {"name": "mn_group_identifier", "subtype": 1, "group_id": 4000000000},
    ]},
    # 4. PBA accepted with the IPv4 reply options, uplink GRE key, refresh advice.
    {"type": "pba", "sequence": 4711, "status": 0, "flags": [], "lifetime": 900, "options": [
        NAI,
        {"name": "home_network_prefix", "prefix": "2001:db8:1::/64"},
        {"name": "handoff_indicator", "value": 1},
        {"name": "access_technology_type", "value": 4},
        {"name": "link_local_address", "address": "fe80::1"},
        {"name": "timestamp", "value": TS_VALUE},
        {"name": "gre_key", "key": 1},
        {"name": "ipv4_home_address_reply", "status": 0, "prefix_length": 24, "address": "10.0.0.5"},
        {"name": "ipv4_default_router_address", "address": "10.0.0.1"},
        {"name": "ipv4_dhcp_support_mode", "dhcp_server": True},
        {"name": "binding_refresh_advice", "refresh_interval": 450},
    ]},
    # 5. PBA rejections and the non-zero accept codes, with flag combinations.
    {"type": "pba", "sequence": 1, "status": 155, "flags": ["T"], "lifetime": 0,
     "options": [NAI, {"name": "home_network_prefix", "prefix": "2001:db8:1::/64"}]},
    {"type": "pba", "sequence": 2, "status": 2, "flags": ["K", "R", "T", "B", "S", "D"], "lifetime": 10,
     "options": [NAI, {"name": "ipv4_dhcp_support_mode", "dhcp_server": False},
                 {"name": "ipv4_home_address_reply", "status": 132, "prefix_length": 0,
                  "address": "0.0.0.0"}]},
    {"type": "pba", "sequence": 3, "status": 163, "lifetime": 0, "options": []},
    {"type": "ba", "sequence": 4, "status": 135, "flags": ["K"], "lifetime": 0, "options": []},
    # 6. Binding Errors.
    {"type": "be", "status": 2, "home_address": "::"},
    {"type": "be", "status": 1, "home_address": "2001:db8:1::99"},
    # 7. Heartbeats: request, response with Restart Counter, unsolicited response.
    {"type": "heartbeat", "sequence": 1, "flags": []},
    {"type": "heartbeat", "sequence": 4000000001, "flags": ["R"],
     "options": [{"name": "restart_counter", "value": 3}]},
    {"type": "heartbeat", "sequence": 0, "flags": ["U", "R"],
     "options": [{"name": "restart_counter", "value": 4294967295}]},
    # 8. Binding Revocation.
    {"type": "bri", "sequence": 12, "trigger": 1, "flags": ["P"],
     "options": [{"name": "home_network_prefix", "prefix": "2001:db8:1::/64"}, NAI]},
    {"type": "bri", "sequence": 13, "trigger": 128, "flags": ["P", "G"], "options": []},
    {"type": "bri", "sequence": 14, "trigger": 7, "flags": ["P", "V"],
     "options": [NAI, {"name": "ipv4_home_address_request", "prefix_length": 24, "address": "10.0.0.5"}]},
    {"type": "bra", "sequence": 12, "status": 0, "flags": ["P"], "options": []},
    {"type": "bra", "sequence": 13, "status": 132, "flags": ["P", "V", "G"], "options": [NAI]},
    # 9. Update Notification (RFC 7077).
    {"type": "upn", "sequence": 5, "reason": 1, "flags": ["A"], "options": [NAI]},
    {"type": "upn", "sequence": 6, "reason": 3, "flags": ["A", "D"],
     "options": [NAI, {"name": "vendor_specific", "vendor_id": 10415, "subtype": 1, "data_hex": "0102030405"}]},
    {"type": "upa", "sequence": 5, "status": 0, "options": [NAI]},
    {"type": "upa", "sequence": 6, "status": 129, "options": []},
    # 10. DSMIPv6 / NEMO / RFC 4285 / RFC 6602 options and options tshark
    #     does not know (RFC 8885 MAAR options, an unassigned type).
    {"type": "bu", "sequence": 100, "flags": ["A", "H", "R"], "lifetime": 75, "options": [
        {"name": "mobile_network_prefix", "prefix": "2001:db8:5::/48"},
        {"name": "ipv4_home_address", "prefix_length": 24, "request_prefix": True, "address": "10.1.0.5"},
        {"name": "ipv4_care_of_address", "address": "192.0.2.1"},
        {"name": "mobility_message_replay_protection", "value": 0x0000011F71FB04CB},
        {"name": "mobility_message_authentication", "subtype": 1, "spi": 256,
         "data_hex": "00112233445566778899aabb"},
    ]},
    {"type": "ba", "sequence": 100, "status": 0, "flags": ["R"], "lifetime": 75, "options": [
        {"name": "ipv4_address_acknowledgement", "status": 128, "prefix_length": 16, "address": "10.1.0.5"},
        {"name": "nat_detection", "udp_encapsulation_required": True, "refresh_time": 30},
        {"name": "binding_refresh_advice", "refresh_interval": 60},
    ]},
    {"type": "pbu", "sequence": 7, "flags": ["A", "D"], "lifetime": 10, "options": [
        NAI,
        {"name": "serving_maar", "address": "2001:db8::9"},
        {"name": "previous_maar", "address": "2001:db8::8", "home_network_prefix": "2001:db8:9::/64"},
        {"type": 201, "data_hex": "0001"},
    ]},
]

# ---------------------------------------------------------------------------
# Flag letters -> tshark field, per message type. None: tshark 4.0 has no
# field for that bit (printed as UNCHECKED).

BU_FLAGS = {"A": "mip6.bu.a_flag", "H": "mip6.bu.h_flag", "L": "mip6.bu.l_flag",
            "K": "mip6.bu.k_flag", "M": "mip6.bu.m_flag", "R": "mip6.nemo.bu.r_flag",
            "P": "mip6.bu.p_flag", "F": "mip6.bu.f_flag", "T": "mip6.bu.t_flag",
            "B": "mip6.bu.b_flag", "S": None, "D": None}
BA_FLAGS = {"K": "mip6.ba.k_flag", "R": "mip6.nemo.ba.r_flag", "P": "mip6.ba.p_flag",
            "T": "mip6.ba.t_flag", "B": "mip6.ba.b_flag", "S": None, "D": None}
HB_FLAGS = {"U": "mip6.hb.u_flag", "R": "mip6.hb.r_flag"}
BRI_FLAGS = {"P": "mip6.bri_ip", "V": "mip6.bri_iv", "G": "mip6.bri_ig"}
BRA_FLAGS = {"P": "mip6.bri_ap", "V": "mip6.bri_av", "G": "mip6.bri_ag"}

# tshark option key (mip6.options.X) -> option type.
OPTION_KEYS = {"bra": 2, "acoa": 3, "mnp": 6, "mnid": 8, "auth": 9, "mseg_id": 10, "vsm": 19,
               "hnp": 22, "hi": 23, "att": 24, "mnlli": 25, "lla": 26, "ts": 27, "rc": 28,
               "ipv4ha": 29, "ipv4aa": 30, "natd": 31, "ipv4coa": 32, "grek": 33,
               "ipv4hareq": 36, "ipv4harep": 37, "ipv4dra": 38, "ipv4dsm": 39, "mng": 50,
               "pad1": 0, "padn": 1}

OPTION_TYPES = {"binding_refresh_advice": 2, "alternate_care_of_address": 3, "mobile_network_prefix": 6,
                "mn_identifier": 8, "mobility_message_authentication": 9,
                "mobility_message_replay_protection": 10, "vendor_specific": 19,
                "home_network_prefix": 22, "handoff_indicator": 23, "access_technology_type": 24,
                "mn_link_layer_identifier": 25, "link_local_address": 26, "timestamp": 27,
                "restart_counter": 28, "ipv4_home_address": 29, "ipv4_address_acknowledgement": 30,
                "nat_detection": 31, "ipv4_care_of_address": 32, "gre_key": 33,
                "ipv4_home_address_request": 36, "ipv4_home_address_reply": 37,
                "ipv4_default_router_address": 38, "ipv4_dhcp_support_mode": 39,
                "mn_group_identifier": 50, "previous_maar": 67, "serving_maar": 68}


# ---------------------------------------------------------------------------
# Bookkeeping.

class Checker:
    def __init__(self):
        self.checked = 0
        self.failures = []
        self.unchecked = 0

    def eq(self, where, what, got, want):
        self.checked += 1
        if got != want:
            self.failures.append(f"{where}: {what}: tshark {got!r}, encoded {want!r}")
            print(f"  MISMATCH {where}: {what}: tshark {got!r} != encoded {want!r}")

    def true(self, where, what, condition, detail=""):
        self.checked += 1
        if not condition:
            self.failures.append(f"{where}: {what} {detail}")
            print(f"  FAIL {where}: {what} {detail}")

    def not_checked(self, where, what):
        self.unchecked += 1
        print(f"  UNCHECKED {where}: {what}")


class Node(list):
    """A JSON object as its ordered (key, value) pairs (tshark repeats keys)."""

    def get(self, key, default=None):
        for k, v in self:
            if k == key:
                return v
        return default

    def find(self, key):
        """Depth-first search for the first value under `key`."""
        for k, v in self:
            if k == key:
                return v
            if isinstance(v, Node):
                r = v.find(key)
                if r is not None:
                    return r
        return None

    def walk(self, prefix=""):
        for k, v in self:
            if isinstance(v, Node):
                yield from v.walk(prefix + k + "/")
            else:
                yield prefix + k, v


def ip_text(text):
    return str(ipaddress.ip_address(text))


def colon_hex(text):
    return text.replace(":", "").lower()


def flag_set(message):
    flags = set(message.get("flags", []))
    if message["type"] in ("pbu", "pba"):
        flags.add("P")
    return flags


# ---------------------------------------------------------------------------
# Own checksum (RFC 6275 section 6.1.1) and pcap reader: stdlib only.

def ones_complement_sum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return s


def mh_checksum_ok(src, dst, mh):
    pseudo = src + dst + struct.pack("!I", len(mh)) + b"\0\0\0" + bytes([135])
    return ones_complement_sum(pseudo + mh) == 0xFFFF


def read_pcap(path):
    with open(path, "rb") as f:
        data = f.read()
    magic = data[:4]
    if magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        endian = ">"
    elif magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        endian = "<"
    else:
        raise ValueError(f"{path}: not a pcap file (magic {magic.hex()})")
    linktype = struct.unpack(endian + "I", data[20:24])[0]
    packets, off = [], 24
    while off + 16 <= len(data):
        _, _, caplen, _ = struct.unpack(endian + "IIII", data[off:off + 16])
        packets.append(data[off + 16:off + 16 + caplen])
        off += 16 + caplen
    return linktype, packets


# ---------------------------------------------------------------------------
# Message-level comparison.

def check_header(c, where, mh_tree, packet, message):
    mh = packet[40:]
    c.eq(where, "IPv6 next header", packet[6], 135)
    c.eq(where, "mip6.proto", int(mh_tree.get("mip6.proto")), 59)
    c.eq(where, "mip6.hlen", int(mh_tree.get("mip6.hlen")), len(mh) // 8 - 1)
    c.true(where, "MH length is a multiple of 8", len(mh) % 8 == 0, f"({len(mh)})")
    c.eq(where, "mip6.reserved", int(mh_tree.get("mip6.reserved"), 16), 0)
    c.eq(where, "mip6.csum", int(mh_tree.get("mip6.csum"), 16), struct.unpack("!H", mh[4:6])[0])
    c.true(where, "MH checksum verifies (own RFC 6275 6.1.1 sum; tshark does not verify it)",
           mh_checksum_ok(packet[8:24], packet[24:40], mh))
    c.eq(where, "IPv6 source", str(ipaddress.IPv6Address(packet[8:24])), ip_text(SRC))
    c.eq(where, "IPv6 destination", str(ipaddress.IPv6Address(packet[24:40])), ip_text(DST))


def check_flags(c, where, tree, table, message):
    flags = flag_set(message)
    for letter, field in table.items():
        if field is None:
            c.not_checked(where, f"flag {letter} ({'set' if letter in flags else 'clear'}): "
                                 f"tshark 4.0 has no field for this bit")
            continue
        c.eq(where, f"flag {letter} ({field})", int(tree.get(field, "-1")), 1 if letter in flags else 0)


def check_fixed_part(c, where, mh_tree, message, mh):
    kind = message["type"]
    mh_type = int(mh_tree.get("mip6.mhtype"))
    want_type = {"pbu": 5, "bu": 5, "pba": 6, "ba": 6, "be": 7, "heartbeat": 13, "bri": 16,
                 "bra": 16, "upn": 19, "upa": 20}[kind]
    c.eq(where, "mip6.mhtype", mh_type, want_type)
    consumed = {"mip6.proto", "mip6.hlen", "mip6.mhtype", "mip6.reserved", "mip6.csum", "Mobility Options"}
    if kind in ("pbu", "bu"):
        t = mh_tree.get("Binding Update")
        c.eq(where, "mip6.bu.seqnr", int(t.get("mip6.bu.seqnr")), message["sequence"])
        c.eq(where, "mip6.bu.lifetime", int(t.get("mip6.bu.lifetime")), message.get("lifetime", 0))
        check_flags(c, where, t, BU_FLAGS, message)
        check_all_consumed(c, where, t, {"mip6.bu.seqnr", "mip6.bu.lifetime", *filter(None, BU_FLAGS.values())})
        consumed.add("Binding Update")
    elif kind in ("pba", "ba"):
        t = mh_tree.get("Binding Acknowledgement")
        c.true(where, "tshark shows a Binding Acknowledgement", t is not None)
        c.eq(where, "mip6.ba.status", int(t.get("mip6.ba.status")), message.get("status", 0))
        c.eq(where, "mip6.ba.seqnr", int(t.get("mip6.ba.seqnr")), message["sequence"])
        c.eq(where, "mip6.ba.lifetime", int(t.get("mip6.ba.lifetime")), message.get("lifetime", 0))
        check_flags(c, where, t, BA_FLAGS, message)
        check_all_consumed(c, where, t, {"mip6.ba.status", "mip6.ba.seqnr", "mip6.ba.lifetime",
                                         *filter(None, BA_FLAGS.values())})
        consumed.add("Binding Acknowledgement")
    elif kind == "be":
        t = mh_tree.get("Binding Error")
        c.eq(where, "mip6.be.status", int(t.get("mip6.be.status")), message["status"])
        c.eq(where, "mip6.be.haddr", ip_text(t.get("mip6.be.haddr")), ip_text(message["home_address"]))
        check_all_consumed(c, where, t, {"mip6.be.status", "mip6.be.haddr"})
        consumed.add("Binding Error")
    elif kind == "heartbeat":
        t = mh_tree.get("Heartbeat")
        c.eq(where, "mip6.hb.seqnr", int(t.get("mip6.hb.seqnr")), message["sequence"])
        check_flags(c, where, t, HB_FLAGS, message)
        check_all_consumed(c, where, t, {"mip6.hb.seqnr", *HB_FLAGS.values()})
        consumed.add("Heartbeat")
    elif kind in ("bri", "bra"):
        name = "Binding Revocation Indication" if kind == "bri" else "Binding Revocation Acknowledge"
        t = mh_tree.get(name)
        c.true(where, f"tshark shows a {name}", t is not None)
        c.eq(where, "mip6.bri_br.type", int(t.get("mip6.bri_br.type")), 1 if kind == "bri" else 2)
        c.eq(where, "mip6.bri_seqnr", int(t.get("mip6.bri_seqnr")), message["sequence"])
        if kind == "bri":
            c.eq(where, "mip6.bri_r.trigger", int(t.get("mip6.bri_r.trigger")), message["trigger"])
            check_flags(c, where, t, BRI_FLAGS, message)
            fields = {"mip6.bri_br.type", "mip6.bri_seqnr", "mip6.bri_r.trigger", *BRI_FLAGS.values()}
        else:
            c.eq(where, "mip6.bri_status", int(t.get("mip6.bri_status")), message["status"])
            check_flags(c, where, t, BRA_FLAGS, message)
            fields = {"mip6.bri_br.type", "mip6.bri_seqnr", "mip6.bri_status", *BRA_FLAGS.values()}
        # tshark shows octets 10-11 minus the flags as one 16-bit "reserved".
        c.eq(where, "mip6.bri_res", int(t.get("mip6.bri_res"), 16), 0)
        check_all_consumed(c, where, t, fields | {"mip6.bri_res"})
        consumed.add(name)
    elif kind in ("upn", "upa"):
        # tshark 4.0 has no UPN/UPA dissector: it shows the message data raw.
        raw = mh_tree.get("mip6.unknown_type_data")
        c.true(where, "tshark shows the message data", raw is not None)
        consumed.add("mip6.unknown_type_data")
        data = bytes.fromhex(colon_hex(raw or ""))
        c.not_checked(where, f"tshark 4.0 does not dissect MH type {mh_type} ({kind.upper()}); "
                             f"its raw message data is compared with the RFC 7077 layout by this script")
        c.eq(where, "raw data = octets 6.. of the MH", data, mh[6:6 + len(data)])
        if kind == "upn":
            seq, reason, flags = struct.unpack("!HHB", mh[6:11])
            want_flags = (0x80 if "A" in flag_set(message) else 0) | (0x40 if "D" in flag_set(message) else 0)
            c.eq(where, "UPN sequence (raw)", seq, message["sequence"])
            c.eq(where, "UPN reason (raw)", reason, message["reason"])
            c.eq(where, "UPN flags (raw)", flags, want_flags)
        else:
            seq, st = struct.unpack("!HB", mh[6:9])
            c.eq(where, "UPA sequence (raw)", seq, message["sequence"])
            c.eq(where, "UPA status (raw)", st, message["status"])
        if message.get("options"):
            c.not_checked(where, f"{len(message['options'])} option(s): tshark does not dissect {kind.upper()} options")
    check_all_consumed(c, where, mh_tree, consumed)


def check_all_consumed(c, where, tree, consumed):
    for key, value in tree:
        if key not in consumed:
            c.true(where, f"tshark field {key} = {value!r} is accounted for", False, "(not compared)")


# ---------------------------------------------------------------------------
# Option comparison.

def tshark_options(mh_tree):
    """[(type, raw bytes or None, tree)] in wire order, pads included."""
    opts = mh_tree.get("Mobility Options")
    if opts is None:
        return []
    result = []
    items = list(opts)
    i = 0
    while i < len(items):
        key, value = items[i]
        if key.startswith("mip6.options.") and not key.endswith("_tree"):
            tree = Node()
            if i + 1 < len(items) and items[i + 1][0] == key + "_tree":
                tree = items[i + 1][1]
                i += 1
            raw = bytes.fromhex(colon_hex(value))
            result.append((OPTION_KEYS.get(key[len("mip6.options."):], raw[0]), raw, tree, key))
        elif key.startswith("Unknown (0x"):
            result.append((int(value.get("mip6.mobility_opt")), None, value, key))
        else:
            result.append((None, None, value, key))
        i += 1
    return result


def check_option(c, where, mh_tree, option, got_type, raw, tree, key):
    name = option.get("name") or "unknown"
    otype = option.get("type", OPTION_TYPES.get(name))
    where = f"{where} option {name}({otype})"
    c.eq(where, "option type", got_type, otype)
    used = {"mip6.mobility_opt.len"}

    if key.startswith("Unknown (0x"):
        # tshark does not dissect this option type.
        used |= {"mip6.mobility_opt", "_ws.expert"}
        shown = int(tree.get("mip6.mobility_opt.len", "-1"))
        hlen = int(mh_tree.get("mip6.hlen"))
        c.not_checked(where, "tshark 4.0 does not dissect this option (only its type is compared)")
        if shown != hlen:
            c.eq(where, "mip6.mobility_opt.len", shown, len(bytes.fromhex(option.get("data_hex", ""))))
        else:
            print(f"  TSHARK-BUG {where}: tshark shows the MH Header Len ({hlen}) as the length of an "
                  f"option it does not dissect; length not compared")
        expert = tree.get("_ws.expert")
        c.eq(where, "expert note", expert.get("_ws.expert.message") if expert else None, "IE data not dissected yet")
        check_all_consumed(c, where, tree, used)
        return

    c.eq(where, "mip6.mobility_opt.len", int(tree.get("mip6.mobility_opt.len", "-1")), raw[1])
    c.eq(where, "raw option length", len(raw), raw[1] + 2)

    def field(f, want, conv=int):
        used.add(f)
        got = tree.get(f)
        c.eq(where, f, conv(got) if got is not None else None, want)

    if name == "mn_identifier":
        field("mip6.mnid.subtype", option.get("subtype", 1))
        if "id" in option:
            field("mip6.mnid.identifier", option["id"], str)
        else:
            used.add("mip6.mnid.identifier")
            c.eq(where, "identifier octets (tshark raw option)", raw[3:].hex(), option["id_hex"])
    elif name == "home_network_prefix" or name == "mobile_network_prefix":
        net = option["prefix"].split("/")
        field("mip6.nemo.mnp.pfl", int(net[1]))
        field("mip6.nemo.mnp.mnp", ip_text(net[0]), ip_text)
    elif name == "handoff_indicator":
        field("mip6.hi", option["value"])
        field("mip6.hi.reserved", 0)
    elif name == "access_technology_type":
        field("mip6.att", option["value"])
        field("mip6.att.reserved", 0)
    elif name == "mn_link_layer_identifier":
        field("mip6.mnlli.reserved", 0)
        field("mip6.mnlli.lli", option["id_hex"], colon_hex)
    elif name == "link_local_address":
        field("mip6.lila_lla", ip_text(option["address"]), ip_text)
    elif name == "timestamp":
        used.add("mip6.timestamp_tmp")
        check_timestamp_48_16(c, where, tree.get("mip6.timestamp_tmp"), option["value"])
    elif name == "restart_counter":
        field("mip6.rc", option["value"])
    elif name == "gre_key":
        used.add("mip6.ipv4dra.reserved")   # tshark labels the GRE reserved field so
        c.eq(where, "reserved (tshark: mip6.ipv4dra.reserved)", int(tree.get("mip6.ipv4dra.reserved", "-1")), 0)
        if "key" in option:
            field("mip6.gre_key", option["key"])
        else:
            c.true(where, "no mip6.gre_key when encoded without a key", tree.get("mip6.gre_key") is None)
            c.eq(where, "option length without key", raw[1], 2)
    elif name == "vendor_specific":
        field("mip6.vsm.vendorId", option["vendor_id"])
        field("mip6.vsm.subtype", option["subtype"])
        used.add("mip6.vsm.data")
        shown = colon_hex(tree.get("mip6.vsm.data", ""))
        want = option["data_hex"]
        c.eq(where, "VSM data (from raw option)", raw[7:].hex(), want)
        if shown != want:
            c.true(where, "tshark's VSM data is a prefix of the encoded data", want.startswith(shown))
            print(f"  TSHARK-BUG {where}: tshark shows {len(shown) // 2} of {len(want) // 2} data octets "
                  f"(it takes Length - 7 where RFC 5094 gives Length - 5); prefix compared")
    elif name == "alternate_care_of_address":
        field("mip6.acoa.acoa", ip_text(option["address"]), ip_text)
    elif name in ("ipv4_home_address_request", "ipv4_home_address_reply", "ipv4_home_address",
                  "ipv4_address_acknowledgement"):
        field("mip6.ipv4ha.preflen", option["prefix_length"])
        field("mip6.ipv4ha.ha", option["address"], str)
        if name == "ipv4_home_address_request":
            field("mip6.ipv4ha.reserved", 0, lambda v: int(v, 16))
        if name == "ipv4_home_address":
            field("mip6.ipv4ha.p_flag", 1 if option.get("request_prefix") else 0)
        if name in ("ipv4_home_address_reply", "ipv4_address_acknowledgement"):
            field("mip6.ipv4aa.sts", option["status"])
    elif name == "ipv4_default_router_address":
        field("mip6.ipv4dra.reserved", 0)
        field("mip6.ipv4dra.dra", option["address"], str)
    elif name == "ipv4_dhcp_support_mode":
        field("mip6.ipv4dsm.reserved", 0)
        field("mip6.ipv4dsm.s_flag", 1 if option["dhcp_server"] else 0)
    elif name == "ipv4_care_of_address":
        field("mip6.ipv4coa.reserved", 0)
        field("mip6.ipv4coa.addr", option["address"], str)
    elif name == "nat_detection":
        field("mip6.natd.f_flag", 1 if option["udp_encapsulation_required"] else 0)
        field("mip6.natd.reserved", 0)
        field("mip6.natd.refresh_t", option["refresh_time"])
    elif name == "mn_group_identifier":
        field("mip6.mng.sub_type", option["subtype"])
        field("mip6.mng.reserved", 0)
        field("mip6.mng.mng_id", option["group_id"])
    elif name == "binding_refresh_advice":
        field("mip6.bra.interval", option["refresh_interval"])
    elif name == "mobility_message_replay_protection":
        used.add("mip6.mseg_id.timestamp")
        check_timestamp_32_32(c, where, tree.get("mip6.mseg_id.timestamp"), option["value"])
    elif name == "mobility_message_authentication":
        field("mip6.auth.subtype", option["subtype"])
        field("mip6.auth.mobility_spi", option["spi"])
        used.add("mip6.auth.auth_data")
        shown = colon_hex(tree.get("mip6.auth.auth_data", ""))
        want = option["data_hex"]
        c.eq(where, "authentication data (from raw option)", raw[7:].hex(), want)
        if shown != want:
            c.true(where, "tshark's authentication data is a prefix of the encoded data", want.startswith(shown))
            print(f"  TSHARK-BUG {where}: tshark shows {len(shown) // 2} of {len(want) // 2} authentication "
                  f"data octets (Length - 7 where RFC 4285 gives Length - 5); prefix compared")
    else:
        c.true(where, "option known to this script", False, "(add a comparison)")
    check_all_consumed(c, where, tree, used)


TIME_RE = re.compile(r"^(\w{3}) +(\d+), (\d{4}) (\d\d):(\d\d):(\d\d)\.(\d+) UTC$")


def parse_tshark_time(text):
    m = TIME_RE.match(text or "")
    if not m:
        return None, None
    mon, day, year, hh, mm, ss, frac = m.groups()
    month = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"].index(mon) + 1
    dt = datetime.datetime(int(year), month, int(day), int(hh), int(mm), int(ss), tzinfo=datetime.timezone.utc)
    return int(dt.timestamp()), frac


def check_timestamp_48_16(c, where, text, value):
    """RFC 5213 8.8: 48-bit seconds since 1970 + 16-bit 1/65536 fraction."""
    seconds, frac = parse_tshark_time(text)
    c.eq(where, "timestamp seconds (mip6.timestamp_tmp)", seconds, value >> 16)
    if frac is not None:
        nanos = int(frac.ljust(9, "0")[:9])
        want = (value & 0xFFFF) * 1_000_000_000 / 65536
        c.true(where, f"timestamp fraction {nanos} ns within 1 us of {want:.1f} ns", abs(nanos - want) < 1000)


def check_timestamp_32_32(c, where, text, value):
    """RFC 4285 6: tshark shows it as seconds + a raw 32-bit fraction."""
    seconds, frac = parse_tshark_time(text)
    c.eq(where, "replay protection seconds (mip6.mseg_id.timestamp)", seconds, value >> 32)
    c.eq(where, "replay protection fraction (shown raw by tshark)", int(frac) if frac else None,
         value & 0xFFFFFFFF)


def check_options(c, where, mh_tree, message):
    if message["type"] in ("upn", "upa"):
        return
    got = [o for o in tshark_options(mh_tree) if o[0] not in (0, 1)]
    for o in tshark_options(mh_tree):
        if o[0] == 1:
            c.true(where, "PadN content is zero", set(o[1][2:]) <= {0}, o[1].hex())
    want = message.get("options", [])
    c.eq(where, "number of options (pads excluded)", len(got), len(want))
    for option, (otype, raw, tree, key) in zip(want, got):
        if otype is None:
            c.true(where, f"tshark item {key} is an option", False)
            continue
        check_option(c, where, mh_tree, option, otype, raw, tree, key)


# ---------------------------------------------------------------------------

def run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ, TZ="UTC"), **kw)


def check_expert(c, pcap, undissected):
    """tshark -z expert: no errors, warnings or chats; only the notes we expect."""
    out = run(["tshark", "-r", pcap, "-q", "-z", "expert"]).stdout
    section, notes = None, 0
    for line in out.splitlines():
        m = re.match(r"^(Errors|Warns|Notes|Chats) \((\d+)\)", line)
        if m:
            section = m.group(1)
            continue
        m = re.match(r"^\s+(\d+)\s+\S+\s+(\S+)\s+(.*)$", line)
        if not m or m.group(1) == "Frequency" or section is None:
            continue
        count, proto, summary = int(m.group(1)), m.group(2), m.group(3).strip()
        if section == "Notes" and summary == "IE data not dissected yet":
            notes += count
            print(f"  expert note x{count}: {summary} (options tshark does not know)")
            continue
        c.true("tshark -z expert", f"{section}: {proto}: {summary} (x{count})", False)
    c.eq("tshark -z expert", "number of 'IE data not dissected yet' notes", notes, undissected)


def main():
    if len(sys.argv) != 2:
        print("usage: test_tshark.py PATH/TO/pmip-mh", file=sys.stderr)
        return 2
    tool = sys.argv[1]
    if shutil.which("tshark") is None:
        print("test_tshark: tshark not found", file=sys.stderr)
        return 1
    version = run(["tshark", "--version"]).stdout.splitlines()[0]
    print(f"test_tshark: {len(MESSAGES)} messages, {version}")
    c = Checker()

    with tempfile.TemporaryDirectory() as tmp:
        pcap = os.path.join(tmp, "pmip.pcap")
        lines = "".join(json.dumps(m) + "\n" for m in MESSAGES)
        enc = run([tool, "encode", "--src", SRC, "--dst", DST, "--pcap", pcap], input=lines)
        if enc.returncode != 0:
            print(f"pmip-mh encode failed ({enc.returncode}): {enc.stderr}")
            return 1
        linktype, packets = read_pcap(pcap)
        c.eq("pcap", "link type (LINKTYPE_RAW)", linktype, 101)
        c.eq("pcap", "packets", len(packets), len(MESSAGES))

        tj = run(["tshark", "-r", pcap, "-T", "json"])
        if tj.returncode != 0:
            print(f"tshark failed: {tj.stderr}")
            return 1
        frames = json.loads(tj.stdout, object_pairs_hook=Node)
        c.eq("tshark", "frames", len(frames), len(MESSAGES))

        undissected = 0
        for i, (message, frame, packet) in enumerate(zip(MESSAGES, frames, packets), start=1):
            where = f"frame {i} {message['type']}"
            print(f"{where}: {json.dumps(message)[:150]}")
            protocols = frame.find("frame.protocols")
            c.true(where, "frame.protocols ends with ipv6:mipv6", protocols.endswith("ipv6:mipv6"), protocols)
            for path, value in frame.walk():
                if "_ws.malformed" in path or ("_ws.expert.severity" in path and int(value) >= 0x00600000):
                    c.true(where, f"no malformed / expert warning ({path} = {value})", False)
            mh_tree = frame.find("mipv6")
            if mh_tree is None:
                c.true(where, "tshark decodes a Mobility Header", False)
                continue
            undissected += sum(1 for o in tshark_options(mh_tree) if o[3].startswith("Unknown (0x"))
            check_header(c, where, mh_tree, packet, message)
            check_fixed_part(c, where, mh_tree, message, packet[40:])
            check_options(c, where, mh_tree, message)
        check_expert(c, pcap, undissected)

    print(f"test_tshark: {c.checked} comparisons, {c.unchecked} items tshark cannot check, "
          f"{len(c.failures)} failures")
    for f in c.failures:
        print(f"FAILED: {f}")
    return 1 if c.failures else 0


if __name__ == "__main__":
    sys.exit(main())
