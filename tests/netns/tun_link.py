#!/usr/bin/env python3
"""A point-to-point L3 link between two namespaces, made of two TUN devices.

  tun_link.py NS_A DEVICE_A NS_B DEVICE_B READY_FILE

DEVICE_A (in NS_A) and DEVICE_B (in NS_B) are persistent TUN devices
(`ip tuntap add dev NAME mode tun`, no packet information) made by the
caller; this process attaches to both and copies every packet one sends
into the other, until killed. Touches READY_FILE once attached. The test
link for the tunnels' L3 underlays (tests/netns/test_tunnels.sh): a link
with no link-layer header, as WireGuard, a raw-IP modem or a TUN-based VPN
gives (ARPHRD_NONE).

Only ever run inside the test's own namespaces.
"""
import ctypes
import fcntl
import os
import select
import struct
import sys

TUNSETIFF = 0x400454CA
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000
CLONE_NEWNET = 0x40000000

libc = ctypes.CDLL(None, use_errno=True)


def enter(namespace):
    fd = os.open(f"/run/netns/{namespace}", os.O_RDONLY)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            error = ctypes.get_errno()
            raise OSError(error, f"setns {namespace}: {os.strerror(error)}")
    finally:
        os.close(fd)


def attach(namespace, device):
    enter(namespace)
    fd = os.open("/dev/net/tun", os.O_RDWR)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", device.encode(), IFF_TUN | IFF_NO_PI))
    return fd


def main():
    if len(sys.argv) != 6:
        print(__doc__, file=sys.stderr)
        return 2
    ns_a, device_a, ns_b, device_b, ready = sys.argv[1:]
    a = attach(ns_a, device_a)
    b = attach(ns_b, device_b)
    open(ready, "w").close()
    other = {a: b, b: a}
    while True:
        readable, _, _ = select.select([a, b], [], [])
        for fd in readable:
            packet = os.read(fd, 65536)
            try:
                os.write(other[fd], packet)
            except OSError:
                pass  # the other device is down: the packet is lost, as on a wire


if __name__ == "__main__":
    sys.exit(main())
