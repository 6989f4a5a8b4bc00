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
    args = parser.parse_args()
    {"recv": receive, "send": send, "tcp-recv": tcp_receive, "tcp-send": tcp_send}[args.mode](args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
