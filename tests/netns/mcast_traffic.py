#!/usr/bin/env python3
"""Multicast source and listeners for tests/netns/test_mcast.sh.

  mcast_traffic.py send --ifname IF --pps N --duration S --flow SRC,GROUP,PORT [--flow ...]
      Sends one datagram per flow every 1/N s (hop limit 8) from SRC (bound)
      out of IF, for S seconds. Payload: "FLOW SEQ".
  mcast_traffic.py listen --ifname IF --group G [--source S] --port P --out FILE --ready FILE
      Joins G on IF with an ordinary socket: any-source (MCAST_JOIN_GROUP, the
      kernel sends an MLDv2 TO_EX({}) / IS_EX report) or, with --source, source-
      specific (MCAST_JOIN_SOURCE_GROUP: ALLOW / IS_IN (S)). Writes the ready
      file once joined and, after every datagram, "COUNT FIRST_TS LAST_TS"
      (CLOCK_REALTIME seconds) to FILE. SIGTERM closes the socket, which
      leaves the group (the kernel sends the leave report), and exits.
"""
import argparse
import os
import signal
import socket
import struct
import sys
import time

MCAST_JOIN_GROUP = 42
MCAST_JOIN_SOURCE_GROUP = 46


def sockaddr_storage(address):
    # struct sockaddr_in6 (family, port, flowinfo, addr, scope) padded to 128 octets.
    sin6 = struct.pack("=HHI16sI", socket.AF_INET6, 0, 0,
                       socket.inet_pton(socket.AF_INET6, address), 0)
    return sin6 + bytes(128 - len(sin6))


def write_atomically(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def listen(args):
    ifindex = socket.if_nametoindex(args.ifname)
    s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("::", args.port))
    # struct group_req / group_source_req: u32 interface, 4 octets of padding
    # (sockaddr_storage is 8-aligned), then the address(es).
    if args.source:
        req = struct.pack("=I4x", ifindex) + sockaddr_storage(args.group) + sockaddr_storage(args.source)
        s.setsockopt(socket.IPPROTO_IPV6, MCAST_JOIN_SOURCE_GROUP, req)
    else:
        req = struct.pack("=I4x", ifindex) + sockaddr_storage(args.group)
        s.setsockopt(socket.IPPROTO_IPV6, MCAST_JOIN_GROUP, req)
    signal.signal(signal.SIGTERM, lambda *_: (s.close(), sys.exit(0)))
    write_atomically(args.out, "0 0 0\n")
    write_atomically(args.ready, "joined\n")
    count, first = 0, 0.0
    while True:
        data, sender = s.recvfrom(2048)
        now = time.time()
        if args.source and sender[0] != args.source:
            continue
        count += 1
        if count == 1:
            first = now
        write_atomically(args.out, "%d %.6f %.6f\n" % (count, first, now))


def send(args):
    ifindex = socket.if_nametoindex(args.ifname)
    sockets = []
    for flow in args.flow:
        src, group, port = flow.split(",")
        s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        s.bind((src, 0))
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, ifindex)
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, 8)
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_LOOP, 0)
        sockets.append((s, (group, int(port), 0, ifindex), flow))
    interval = 1.0 / args.pps
    deadline = time.monotonic() + args.duration
    seq = 0
    next_at = time.monotonic()
    while time.monotonic() < deadline:
        for s, dest, flow in sockets:
            try:
                s.sendto(("%s %d" % (flow, seq)).encode(), dest)
            except OSError:
                pass
        seq += 1
        next_at += interval
        delay = next_at - time.monotonic()
        if delay > 0:
            time.sleep(delay)


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    l = sub.add_parser("listen")
    l.add_argument("--ifname", required=True)
    l.add_argument("--group", required=True)
    l.add_argument("--source")
    l.add_argument("--port", type=int, required=True)
    l.add_argument("--out", required=True)
    l.add_argument("--ready", required=True)
    s = sub.add_parser("send")
    s.add_argument("--ifname", required=True)
    s.add_argument("--pps", type=float, default=50)
    s.add_argument("--duration", type=float, default=120)
    s.add_argument("--flow", action="append", required=True)
    args = p.parse_args()
    listen(args) if args.cmd == "listen" else send(args)


if __name__ == "__main__":
    main()
