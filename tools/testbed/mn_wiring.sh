# shellcheck shell=bash
# The kernel mobile node's wiring, shared by testbed.sh and dmm_topology.sh
# (sourced).
#
#   mn_wire MN_NS MAC NS1 IF1 MAC1 [NS2 IF2 MAC2 ...]
#   mn_add_port MN_NS PORT PEER_NS PEER_IF PEER_MAC
#   mn_send_only_to MN_NS PORT
#
# The MN's one interface, eth0 (MAC), is wired by tc to ports p1, p2, ...:
# port pK is a veth whose peer is IFK (address MACK) in NSK, an access
# router's link to the MN. What eth0 sends goes out of every port, what any
# port receives comes in on eth0. A port that is down carries nothing, so
# the MN is attached where its port is up, and a move is an L2 handover: link
# changes in one netlink batch, no namespace move (whose teardown costs the
# kernel 30-50 ms) and no carrier change on eth0 (the MN's stack sees none,
# as on a roam). eth0 and the tc side (air) come up here; the ports stay down
# for the caller to bring up.
mn_wire() {
    local mn=$1 mac=$2 k=0 port sysctls="net.ipv6.conf.air.disable_ipv6=1" mirror=""
    shift 2
    ip link add eth0 netns "$mn" address "$mac" type veth peer name air netns "$mn"
    while (($# >= 3)); do
        k=$((k + 1))
        ip link add "p$k" netns "$mn" type veth peer name "$2" netns "$1" address "$3"
        sysctls+=" net.ipv6.conf.p$k.disable_ipv6=1"
        shift 3
    done
    # shellcheck disable=SC2086
    ip netns exec "$mn" sysctl -qw $sysctls net.ipv6.conf.eth0.accept_ra=1 net.ipv6.conf.eth0.autoconf=1
    ip netns exec "$mn" tc qdisc add dev air clsact
    for ((port = 1; port <= k; port++)); do
        ip netns exec "$mn" tc qdisc add dev "p$port" clsact
        ip netns exec "$mn" tc filter add dev "p$port" ingress protocol all u32 match u32 0 0 \
            action mirred egress redirect dev air
        if ((port < k)); then mirror+=" action mirred egress mirror dev p$port pipe"; fi
    done
    # shellcheck disable=SC2086
    ip netns exec "$mn" tc filter add dev air ingress protocol all u32 match u32 0 0 \
        $mirror action mirred egress redirect dev "p$k"
    ip -n "$mn" link set eth0 up
    ip -n "$mn" link set air up
}

# One more port PORT after mn_wire, to PEER_IF (PEER_MAC) in PEER_NS, wired
# as the others (what it receives comes in on eth0), both ends up. Nothing
# of eth0's goes out of it until mn_send_only_to names it: a second access
# link the MN's interface can move to while the first keeps its carrier.
mn_add_port() {
    ip link add "$2" netns "$1" type veth peer name "$4" netns "$3" address "$5"
    ip netns exec "$1" sysctl -qw "net.ipv6.conf.$2.disable_ipv6=1"
    ip netns exec "$1" tc qdisc add dev "$2" clsact
    ip netns exec "$1" tc filter add dev "$2" ingress protocol all u32 match u32 0 0 \
        action mirred egress redirect dev air
    ip -n "$1" link set "$2" up
    ip -n "$3" link set "$4" up
}

# What eth0 sends goes out of PORT only (an MN's interface that moved).
mn_send_only_to() {
    ip netns exec "$1" tc filter del dev air ingress
    ip netns exec "$1" tc filter add dev air ingress protocol all u32 match u32 0 0 \
        action mirred egress redirect dev "$2"
}
