#!/usr/bin/python3
# Many mobile nodes' ends in one namespace, for tests/netns/test_mcast_scale.sh.
#
#   mcast_scale_mn.py join --group G --ifnames p1,p2,... --ready FILE
#       one UDP socket joined to G on each named interface (the kernel sends
#       an MLD report on each); holds them until SIGTERM (closing the socket
#       leaves every group: the kernel reports the leaves)
#   mcast_scale_mn.py count --group G --port P --seconds S --ready FILE
#       counts, per interface, the UDP datagrams to G port P that arrive
#       (AF_PACKET: every interface of the namespace, joined or not), with
#       the sequence numbers of mcast_traffic.py's sender ("S,G,P SEQ"):
#       prints {"ifname": {"received": n, "duplicates": d}, ...}
import argparse
import json
import signal
import socket
import struct
import sys
import time

ETH_P_IPV6 = 0x86DD


class SequenceCounts:
    """Datagrams of mcast_traffic.py's sender ("S,G,P SEQ") per place (an
    interface, a tunnel): distinct sequence numbers and duplicates."""

    def __init__(self):
        self.seen = {}

    def add(self, place, payload):
        try:
            seq = int(payload.decode().split()[-1])
        except (ValueError, IndexError, UnicodeDecodeError):
            return
        entry = self.seen.setdefault(place, [set(), 0])
        if seq in entry[0]:
            entry[1] += 1
        entry[0].add(seq)

    def json(self, **extra):
        out = {p: {"received": len(v[0]), "duplicates": v[1]} for p, v in self.seen.items()}
        out.update(extra)  # names that do not end in a digit: not places
        return json.dumps(out)


SO_RCVBUFFORCE = 33
SOL_PACKET, PACKET_STATISTICS = 263, 6


def big_receive_buffer(s, size=32 << 20):
    """A receive queue that holds seconds of the fan-out, so that a counter
    the scheduler holds back (two tests share two cores in CI) loses
    nothing: SO_RCVBUFFORCE as root, else as much as SO_RCVBUF gives."""
    try:
        s.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, size)
    except OSError:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, size)


def join(args):
    s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    for name in args.ifnames.split(","):
        req = socket.inet_pton(socket.AF_INET6, args.group) + struct.pack("=I", socket.if_nametoindex(name))
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_JOIN_GROUP, req)
    open(args.ready, "w").write("joined\n")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    while True:
        time.sleep(3600)


def count(args):
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_IPV6))
    big_receive_buffer(s)
    s.settimeout(0.2)
    group = socket.inet_pton(socket.AF_INET6, args.group)
    counts = SequenceCounts()
    open(args.ready, "w").write("counting\n")
    deadline = time.monotonic() + args.seconds
    while time.monotonic() < deadline:
        try:
            frame, address = s.recvfrom(65535)
        except socket.timeout:
            continue
        if address[2] == socket.PACKET_OUTGOING:
            continue
        ip = frame[14:]
        if len(ip) < 48 or ip[6] != 17 or ip[24:40] != group:
            continue
        if struct.unpack("!H", ip[42:44])[0] != args.port:
            continue
        counts.add(address[0], ip[48:])
    # What the socket itself dropped (its queue full): the count is then the
    # counter's failure, not the forwarding's, and the verdict says so.
    _, drops = struct.unpack("=II", s.getsockopt(SOL_PACKET, PACKET_STATISTICS, 8))
    print(counts.json(counter_drops=drops))


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    j = sub.add_parser("join")
    j.add_argument("--group", required=True)
    j.add_argument("--ifnames", required=True)
    j.add_argument("--ready", required=True)
    c = sub.add_parser("count")
    c.add_argument("--group", required=True)
    c.add_argument("--port", type=int, required=True)
    c.add_argument("--seconds", type=float, required=True)
    c.add_argument("--ready", required=True)
    args = p.parse_args()
    join(args) if args.cmd == "join" else count(args)


if __name__ == "__main__":
    main()
