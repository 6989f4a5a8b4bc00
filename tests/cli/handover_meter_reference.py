#!/usr/bin/python3
"""Reference handover meter (the first one, in Python): the independent
cross-check of tools/testbed/pmip-handover-meter in tests/cli/test_handover_meter.sh.
A sequence-numbered UDP stream and its receiver.

  handover_meter.py send --to ADDR [--port 5000] [--rate 1000] [--seconds 6]
                         [--interface IF] [--hops 16]
  handover_meter.py receive [--group ADDR [--source ADDR]] [--port 5000]
                            [--interface IF] [--seconds 7] [--gap-ms 5] [--json]

`send` sends one datagram every 1/rate seconds to ADDR (unicast or
multicast; for multicast --interface names the outgoing device). Each
datagram carries a 64-bit sequence number and the sender's send time.

`receive` listens on --port (joining --group, ASM, or (--source, --group),
SSM, on --interface) until --seconds pass, then reports: datagrams received,
lost (sequence numbers never seen between the first and the last received),
duplicates, reordered, and every interruption longer than --gap-ms between
two consecutive arrivals: when it started (seconds after the first
arrival), its length in milliseconds and the sequence numbers missing across
it. The largest interruption is the handover gap. --json prints one JSON
object; otherwise a few readable lines.

Exit status: 0 when at least one datagram arrived, 1 otherwise, 2 on usage
errors.
"""
import argparse
import json
import socket
import struct
import sys
import time

HEADER = struct.Struct("!QQ")  # sequence, send time in ns


def send(args):
    family = socket.AF_INET6
    s = socket.socket(family, socket.SOCK_DGRAM)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, args.hops)
    if args.interface:
        index = socket.if_nametoindex(args.interface)
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, index)
    payload_pad = b"\0" * max(0, args.size - HEADER.size)
    interval = 1.0 / args.rate
    start = time.perf_counter()
    count = int(args.rate * args.seconds)
    errors = 0
    for seq in range(count):
        target = start + seq * interval
        while True:
            now = time.perf_counter()
            if now >= target:
                break
            if target - now > 0.002:
                time.sleep(target - now - 0.001)
        try:
            s.sendto(HEADER.pack(seq, time.time_ns()) + payload_pad, (args.to, args.port, 0, 0))
        except OSError:
            errors += 1  # e.g. no route while the MN moves: counted, not fatal
    print(json.dumps({"sent": count, "send_errors": errors, "rate": args.rate}), file=sys.stderr)
    return 0


def receive(args):
    s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:  # SO_RCVBUFFORCE (33) passes net.core.rmem_max when we may (root)
        s.setsockopt(socket.SOL_SOCKET, 33, 4 << 20)
    except OSError:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    s.bind(("::", args.port))
    if args.group:
        index = socket.if_nametoindex(args.interface) if args.interface else 0
        group = socket.inet_pton(socket.AF_INET6, args.group)
        if args.source:
            # struct group_source_req: interface, group, source (sockaddr_storage each)
            def storage(addr):
                sa = struct.pack("!HHI16sI", socket.AF_INET6, 0, 0, socket.inet_pton(socket.AF_INET6, addr), 0)
                return sa + b"\0" * (128 - len(sa))
            req = struct.pack("I", index) + b"\0" * 4 + storage(args.group) + storage(args.source)
            MCAST_JOIN_SOURCE_GROUP = 46
            s.setsockopt(socket.IPPROTO_IPV6, MCAST_JOIN_SOURCE_GROUP, req)
        else:
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_JOIN_GROUP, group + struct.pack("I", index))
    deadline = time.monotonic() + args.seconds
    arrivals = []  # (monotonic arrival, seq)
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        s.settimeout(left)
        try:
            data = s.recv(2048)
        except socket.timeout:
            break
        if len(data) < HEADER.size:
            continue
        seq, _ = HEADER.unpack_from(data)
        arrivals.append((time.monotonic(), seq))
    report = {"received": len(arrivals), "lost": 0, "duplicates": 0, "reordered": 0,
              "first_seq": None, "last_seq": None, "max_gap_ms": 0.0, "gaps": []}
    if arrivals:
        seqs = [q for _, q in arrivals]
        seen = set()
        highest = -1
        for q in seqs:
            if q in seen:
                report["duplicates"] += 1
            seen.add(q)
            if q < highest:
                report["reordered"] += 1
            highest = max(highest, q)
        report["first_seq"], report["last_seq"] = min(seen), max(seen)
        report["lost"] = (report["last_seq"] - report["first_seq"] + 1) - len(seen)
        t0 = arrivals[0][0]
        for (ta, qa), (tb, qb) in zip(arrivals, arrivals[1:]):
            gap_ms = (tb - ta) * 1000.0
            if gap_ms > args.gap_ms:
                report["gaps"].append({"at_s": round(ta - t0, 3), "ms": round(gap_ms, 2),
                                       "missing": max(0, qb - qa - 1)})
            report["max_gap_ms"] = max(report["max_gap_ms"], round(gap_ms, 2))
    if args.json:
        print(json.dumps(report))
    else:
        print(f"received {report['received']}, lost {report['lost']}, duplicates {report['duplicates']}, "
              f"reordered {report['reordered']}, largest gap {report['max_gap_ms']} ms")
        for g in report["gaps"]:
            print(f"  gap of {g['ms']} ms at {g['at_s']} s, {g['missing']} missing")
    return 0 if arrivals else 1


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="mode", required=True)
    ps = sub.add_parser("send")
    ps.add_argument("--to", required=True)
    ps.add_argument("--port", type=int, default=5000)
    ps.add_argument("--rate", type=float, default=1000)
    ps.add_argument("--seconds", type=float, default=6)
    ps.add_argument("--size", type=int, default=64)
    ps.add_argument("--interface")
    ps.add_argument("--hops", type=int, default=16)
    pr = sub.add_parser("receive")
    pr.add_argument("--group")
    pr.add_argument("--source")
    pr.add_argument("--port", type=int, default=5000)
    pr.add_argument("--interface")
    pr.add_argument("--seconds", type=float, default=7)
    pr.add_argument("--gap-ms", type=float, default=5)
    pr.add_argument("--json", action="store_true")
    args = p.parse_args()
    return send(args) if args.mode == "send" else receive(args)


if __name__ == "__main__":
    sys.exit(main())
