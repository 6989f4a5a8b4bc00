#!/usr/bin/env python3
# Seed programs for fuzz_lma_engine (see the operation list at the top of
# fuzz_lma_engine.cpp). Writes tests/fuzz/corpus_lma/*.bin; regression_*.bin
# there are inputs the fuzzer found (kept as they are, not generated here).
#   op % 10: 0 raw packet, 1-3 PBU, 4 OAI PBU, 5-6 advance time, 7 revoke,
#            8 BRA, 9 faults
import os

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "corpus_lma")


def pbu(who=0, flags=0, hi=1, life=100, hnp=0, ts=0, seq=1, oai=False):
    # who: MN index (low bits), source (bits 4-5: 0 MAG 1, 1 MAG 2, 3 stranger)
    return bytes([4 if oai else 1, who, flags, hi, life, hnp, ts, seq >> 8, seq & 0xff])


def time(units):  # 50 ms each
    return bytes([5, units])


def revoke(what, arg=0):
    return bytes([7, what, arg])


def bra(pick=0xC0, status=0, seq=0):
    return bytes([8, pick, status, seq >> 8, seq & 0xff])


def raw(octets, where=0):
    return bytes([0, where | (0x80 if len(octets) > 255 else 0), len(octets) & 0xff]) + octets


SEEDS = {
    # register, renew, revoke (trigger 1), BRA from the MAG
    "revoke_mn_bra": pbu(0) + time(20) + pbu(0, seq=2) + revoke(0x04) + bra(0xC0),
    # register two MNs at MAG 1, global revocation, no BRA: retransmissions, clean-up
    "revoke_mag_timeout": pbu(0) + pbu(1, seq=2) + revoke(0x01, 0) + time(20) + time(40) + time(80),
    # handoff to MAG 2 with the bound prefix, then de-registration and the delay
    "handoff_dereg": pbu(0) + time(2) + pbu(0x10, hi=3, hnp=3, seq=2) + time(2)
    + pbu(0x10, hi=4, life=0, hnp=3, seq=3) + time(30),
    # HI=4 from another MAG: wait for the old MAG, then the new session
    "hi4_wait": pbu(1) + time(2) + pbu(0x11, hi=4, seq=2) + time(40),
    # OAI pmip6d MNs (all-zero NAI, MN-LL-ID), renewal, revocation by realm-less MAG
    "oai": pbu(1, oai=True) + pbu(0, oai=True, seq=2) + time(4) + pbu(1, oai=True, seq=3)
    + revoke(0x01, 4) + bra(0xC0),
    # GRE keys, static prefix, disabled MN, unknown MN, faults
    "policies": pbu(3, flags=0x40) + pbu(4) + pbu(5) + pbu(6) + bytes([9, 3]) + pbu(0)
    + bytes([9, 0]) + pbu(1),
    # lifetime expiry (max lifetime 80 s) during a revocation
    "expiry": pbu(2) + revoke(0x08) + time(255) + time(255) + time(255) + time(255),
    # a raw PBU as bytes, a stray BRA, garbage
    "raw": raw(bytes.fromhex("3b030500000000018200006408000f6d6e30406578616d706c652e6f7267")
               + bytes(2)) + bra(0x00, 0, 77) + raw(bytes([59, 9, 42, 0, 0, 0, 0, 0])),
}

os.makedirs(OUT, exist_ok=True)
for name, program in SEEDS.items():
    with open(os.path.join(OUT, name + ".bin"), "wb") as f:
        f.write(program)
print(f"{len(SEEDS)} seeds in {OUT}")
