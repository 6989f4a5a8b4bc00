#!/usr/bin/env python3
"""UDP traffic for the tunnel namespace tests (tests/netns/test_tunnels.sh).

  tunnel_traffic.py recv --bind ADDR --port N --expect N [--group G --ifname IF]
                         --ready FILE [--timeout S]
      Binds (and joins G on IF when given), touches FILE once ready, counts
      datagrams until `expect` arrived, 1.5 s passed without one, or the
      overall timeout; prints the count. With --order: also the datagrams
      that came after one with a higher sequence number (sent with
      --sequence), "COUNT REORDERED".
  tunnel_traffic.py send --source ADDR --dest ADDR --port N --count N
                         [--size N] [--ifname IF --hops N]
      Sends `count` datagrams of `size` octets, paced in bursts of 20 so that
      no queue on the way overflows; for a multicast destination the output
      interface and hop limit are set. With --sequence each datagram starts
      with its number (32 bits, network order).

  tunnel_traffic.py tcp-recv --bind ADDR --port N --expect OCTETS --ready FILE
                             [--timeout S]
      Accepts one TCP connection, reads until `expect` octets came, the peer
      closed, or the timeout; prints "OCTETS INTACT SECONDS" (INTACT 1 when
      every octet is the sender's pattern, in order; with --no-verify, for
      benchmarks, when all arrived).
  tunnel_traffic.py tcp-send --source ADDR --dest ADDR --port N --octets N
      Connects from ADDR and sends N octets of a fixed pseudo-random pattern
      in writes of 64 KiB (so that the stack builds GSO packets).

  tunnel_traffic.py ecn-recv --bind ADDR --port N --expect N --ready FILE
                             [--timeout S]
      Receives datagrams (IPV6_RECVTCLASS) until `expect` came or 1.5 s
      passed without one; prints one line "CASE TRAFFIC_CLASS COUNT" per
      (case, Traffic Class) received, the case being the first octet.
  tunnel_traffic.py ecn-send --kind ip6ip6|gre [--key K] --outer-source ADDR
                             --outer-dest ADDR --source ADDR --dest ADDR
                             --port N --count N
      Sends, as a tunnel's peer would (a raw socket of protocol 41 or 47,
      its Traffic Class set with IPV6_TCLASS), `count` packets for each
      case of ECN_CASES: the outer header with the case's outer Traffic
      Class, the inner IPv6/UDP packet with its inner one.

Only ever run inside the test's own namespaces; addresses come from the
test (2001:db8::/32, fd00::/8).
"""
import argparse
import hashlib
import random
import socket
import struct
import sys
import time


def receive(args):
    s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * 1024 * 1024)
    s.bind((args.bind, args.port))
    if args.group:
        index = socket.if_nametoindex(args.ifname)
        mreq = socket.inet_pton(socket.AF_INET6, args.group) + struct.pack("@I", index)
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_JOIN_GROUP, mreq)
    open(args.ready, "w").close()
    deadline = time.monotonic() + args.timeout
    count = 0
    reordered = 0
    highest = -1
    s.settimeout(1.5)
    while count < args.expect and time.monotonic() < deadline:
        try:
            data = s.recv(65535)
            count += 1
        except socket.timeout:
            if count > 0:
                break
            continue
        if args.order and len(data) >= 4:
            (number,) = struct.unpack("!I", data[:4])
            if number < highest:
                reordered += 1
            highest = max(highest, number)
    print(f"{count} {reordered}" if args.order else count)


def send(args):
    s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    s.bind((args.source, 0))
    if args.ifname:
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF,
                     socket.if_nametoindex(args.ifname))
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, args.hops)
    payload = b"\xa5" * args.size
    for i in range(args.count):
        if args.sequence:
            payload = struct.pack("!I", i) + payload[4:]
        s.sendto(payload, (args.dest, args.port))
        if i % 20 == 19:
            time.sleep(0.002)


# The TCP pattern: 1 MiB of seeded pseudo-random octets, repeated.
PATTERN = random.Random(20).randbytes(1 << 20)


def pattern_digest(octets):
    h = hashlib.sha256()
    for offset in range(0, octets, len(PATTERN)):
        h.update(PATTERN[:min(len(PATTERN), octets - offset)])
    return h.digest()


def tcp_receive(args):
    listener = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((args.bind, args.port))
    listener.listen(1)
    listener.settimeout(args.timeout)
    open(args.ready, "w").close()
    got, digest, start = 0, hashlib.sha256(), time.monotonic()
    try:
        connection, _ = listener.accept()
        start = time.monotonic()
        deadline = start + args.timeout
        while got < args.expect and time.monotonic() < deadline:
            connection.settimeout(max(0.1, deadline - time.monotonic()))
            data = connection.recv(1 << 16)
            if not data:
                break
            got += len(data)
            if not args.no_verify:
                digest.update(data)
    except OSError:
        pass
    intact = int(got == args.expect and (args.no_verify or digest.digest() == pattern_digest(got)))
    print(f"{got} {intact} {time.monotonic() - start:.4f}")


def tcp_send(args):
    s = socket.create_connection((args.dest, args.port), timeout=args.timeout,
                                 source_address=(args.source, 0))
    view = memoryview(PATTERN)
    sent = 0
    while sent < args.octets:
        offset = sent % len(PATTERN)
        sent += s.send(view[offset:offset + min(1 << 16, len(PATTERN) - offset, args.octets - sent)])
    s.close()


# ECN cases for the decapsulation (RFC 6040 section 4.2): number -> (outer
# Traffic Class, inner Traffic Class). The inner DSCP is AF41, the outer
# CS1 (which must not reach the inner packet); the test knows what each
# case must become.
INNER_DSCP = 0x22 << 2
OUTER_DSCP = 0x08 << 2
NOT_ECT, ECT1, ECT0, CE = 0, 1, 2, 3
ECN_CASES = {
    1: (OUTER_DSCP | CE, INNER_DSCP | ECT0),
    2: (OUTER_DSCP | CE, INNER_DSCP | ECT1),
    3: (OUTER_DSCP | CE, INNER_DSCP | NOT_ECT),
    4: (OUTER_DSCP | ECT1, INNER_DSCP | ECT0),
    5: (OUTER_DSCP | ECT0, INNER_DSCP | NOT_ECT),
    6: (OUTER_DSCP | NOT_ECT, INNER_DSCP | CE),
    7: (OUTER_DSCP | ECT0, INNER_DSCP | ECT0),
}


def checksum(octets):
    if len(octets) % 2:
        octets += b"\0"
    total = sum(struct.unpack(f"!{len(octets) // 2}H", octets))
    while total >> 16:
        total = (total & 0xffff) + (total >> 16)
    return ~total & 0xffff


def inner_udp(source, dest, port, tclass, payload):
    src = socket.inet_pton(socket.AF_INET6, source)
    dst = socket.inet_pton(socket.AF_INET6, dest)
    length = 8 + len(payload)
    pseudo = src + dst + struct.pack("!I3xB", length, 17)
    udp = struct.pack("!HHHH", 40000, port, length, 0) + payload
    udp = udp[:6] + struct.pack("!H", checksum(pseudo + udp) or 0xffff) + udp[8:]
    first = (6 << 28) | (tclass << 20)
    return struct.pack("!IHBB", first, length, 17, 64) + src + dst + udp


def ecn_send(args):
    s = socket.socket(socket.AF_INET6, socket.SOCK_RAW, 47 if args.kind == "gre" else 41)
    s.bind((args.outer_source, 0))
    if args.kind == "gre":
        gre = struct.pack("!HHI", 0x2000, 0x86dd, args.key) if args.key is not None \
            else struct.pack("!HH", 0, 0x86dd)
    else:
        gre = b""
    for case, (outer, inner) in ECN_CASES.items():
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_TCLASS, outer)
        packet = gre + inner_udp(args.source, args.dest, args.port, inner, bytes([case]) * 16)
        for _ in range(args.count):
            s.sendto(packet, (args.outer_dest, 0))
        time.sleep(0.01)


def ecn_receive(args):
    s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1024 * 1024)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVTCLASS, 1)
    s.bind((args.bind, args.port))
    open(args.ready, "w").close()
    seen = {}
    count = 0
    deadline = time.monotonic() + args.timeout
    s.settimeout(1.5)
    while count < args.expect and time.monotonic() < deadline:
        try:
            data, ancillary, _, _ = s.recvmsg(2048, socket.CMSG_SPACE(4))
        except socket.timeout:
            if count > 0:
                break
            continue
        count += 1
        tclass = -1
        for level, kind, value in ancillary:
            if level == socket.IPPROTO_IPV6 and kind == socket.IPV6_TCLASS:
                (tclass,) = struct.unpack("@i", value[:4])
        key = (data[0] if data else -1, tclass)
        seen[key] = seen.get(key, 0) + 1
    for (case, tclass), n in sorted(seen.items()):
        print(case, tclass, n)


def main():
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="mode", required=True)
    r = sub.add_parser("recv")
    r.add_argument("--bind", required=True)
    r.add_argument("--port", type=int, required=True)
    r.add_argument("--expect", type=int, required=True)
    r.add_argument("--group")
    r.add_argument("--ifname")
    r.add_argument("--ready", required=True)
    r.add_argument("--timeout", type=float, default=20.0)
    r.add_argument("--order", action="store_true")
    w = sub.add_parser("send")
    w.add_argument("--source", required=True)
    w.add_argument("--dest", required=True)
    w.add_argument("--port", type=int, required=True)
    w.add_argument("--count", type=int, required=True)
    w.add_argument("--size", type=int, default=100)
    w.add_argument("--ifname")
    w.add_argument("--hops", type=int, default=8)
    w.add_argument("--sequence", action="store_true")
    tr = sub.add_parser("tcp-recv")
    tr.add_argument("--bind", required=True)
    tr.add_argument("--port", type=int, required=True)
    tr.add_argument("--expect", type=int, required=True)
    tr.add_argument("--ready", required=True)
    tr.add_argument("--timeout", type=float, default=20.0)
    tr.add_argument("--no-verify", action="store_true")  # count only (benchmarks)
    ts = sub.add_parser("tcp-send")
    ts.add_argument("--source", required=True)
    ts.add_argument("--dest", required=True)
    ts.add_argument("--port", type=int, required=True)
    ts.add_argument("--octets", type=int, required=True)
    ts.add_argument("--timeout", type=float, default=20.0)
    er = sub.add_parser("ecn-recv")
    er.add_argument("--bind", required=True)
    er.add_argument("--port", type=int, required=True)
    er.add_argument("--expect", type=int, required=True)
    er.add_argument("--ready", required=True)
    er.add_argument("--timeout", type=float, default=20.0)
    es = sub.add_parser("ecn-send")
    es.add_argument("--kind", choices=["ip6ip6", "gre"], required=True)
    es.add_argument("--key", type=int)
    es.add_argument("--outer-source", required=True)
    es.add_argument("--outer-dest", required=True)
    es.add_argument("--source", required=True)
    es.add_argument("--dest", required=True)
    es.add_argument("--port", type=int, required=True)
    es.add_argument("--count", type=int, required=True)
    args = parser.parse_args()
    {"recv": receive, "send": send, "tcp-recv": tcp_receive, "tcp-send": tcp_send,
     "ecn-recv": ecn_receive, "ecn-send": ecn_send}[args.mode](args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
