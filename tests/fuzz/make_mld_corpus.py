#!/usr/bin/env python3
# Writes the seed corpus of fuzz_mld_parse (tests/fuzz/corpus_mld/*.bin).
#
# Each seed is one ICMPv6 MLD message (from the Type octet) built by hand
# here, independently of the codec under test, after RFC 2710 section 3
# (MLDv1 Query / Report / Done, 24 octets) and RFC 3810 sections 5.1 and 5.2
# (MLDv2 Query with sources, S flag, QRV, QQIC; MLDv2 Report with all six
# record types and auxiliary data), plus a Query of the ambiguous 25-27
# octet length and a record of unknown type (section 5.2.12). Checksums are 0.
# Deterministic: re-running produces identical files.
#
# Usage: make_mld_corpus.py [OUTPUT_DIR]   (default: corpus_mld/ beside this script)
import os
import socket
import struct
import sys


def a(text):
    return socket.inet_pton(socket.AF_INET6, text)


G = a("ff3e::8000:1")
S1, S2 = a("2001:db8::1"), a("2001:db8::2")


def v1(msg_type, delay, group):
    return struct.pack("!BBHHH", msg_type, 0, 0, delay, 0) + group


def v2_query(code, group, s_flag, qrv, qqic, sources):
    return (struct.pack("!BBHHH", 130, 0, 0, code, 0) + group +
            struct.pack("!BBH", (0x08 if s_flag else 0) | qrv, qqic, len(sources)) + b"".join(sources))


def record(rtype, group, sources, aux=b""):
    return struct.pack("!BBH", rtype, len(aux) // 4, len(sources)) + group + b"".join(sources) + aux


def v2_report(records):
    return struct.pack("!BBHHH", 143, 0, 0, 0, len(records)) + b"".join(records)


SEEDS = {
    "v1_general_query": v1(130, 10000, bytes(16)),
    "v1_report": v1(131, 0, G),
    "v1_done": v1(132, 0, G),
    "v2_general_query": v2_query(10000, bytes(16), False, 2, 125, []),
    "v2_group_source_query_s": v2_query(0x8123, G, True, 7, 0x8f, [S1, S2]),
    "v2_report_all_types": v2_report([record(t, G, [S1] if t != 2 else []) for t in range(1, 7)]),
    "v2_report_aux": v2_report([record(5, G, [S1, S2], b"\x01\x02\x03\x04")]),
    "v2_report_unknown_type": v2_report([record(9, G, [S1]), record(4, G, [])]),
    "query_ambiguous_26": v1(130, 0, G) + b"\x00\x00",
    "v1_report_trailing": v1(131, 0, G) + b"\xde\xad",
}

out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus_mld")
os.makedirs(out, exist_ok=True)
for name, data in sorted(SEEDS.items()):
    with open(os.path.join(out, name + ".bin"), "wb") as f:
        f.write(data)
print("%d seeds in %s" % (len(SEEDS), out))
