#!/usr/bin/env bash
# The tunnel namespace test (test_tunnels.sh) over the kernel backend
# (ip6tnl / ip6gre devices over rtnetlink). Exits 77 with
# "SKIPPED: kernel has no ip6tnl/ip6gre: <reason>" when this kernel cannot
# create those devices, the reason being kernel_tunnel_unavailable_reason()
# as `tunnel_harness --kernel-reason` prints it.
#
#   test_kernel_tunnels.sh PATH/tunnel_harness
set -u
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
HARNESS=${1:?usage: test_kernel_tunnels.sh PATH/tunnel_harness [PATH/mcast_proxy_harness]}

need_root "network namespaces, tunnel devices"
# Probe inside a throw-away namespace so that no probe device can touch the host.
PROBE_NS=pmt-$$-probe
ip netns add "$PROBE_NS" || { echo "FAIL - creating namespace $PROBE_NS"; exit 1; }
trap 'ip netns del "$PROBE_NS" 2>/dev/null' EXIT
trap 'exit 1' TERM INT HUP
reason=$(ip netns exec "$PROBE_NS" "$HARNESS" --kernel-reason 2>/dev/null)
rc=$?
ip netns del "$PROBE_NS" 2>/dev/null
trap - EXIT TERM INT HUP
((rc == 0)) || skip "kernel has no ip6tnl/ip6gre: ${reason:-unknown reason}"
PMT_BACKEND=kernel exec bash "$NETNS_DIR/test_tunnels.sh" "$HARNESS" ${2:+"$2"}
