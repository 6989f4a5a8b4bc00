// Small synchronous rtnetlink helpers for network devices, shared by the
// tunnel backends: create a device from a prepared RTM_NEWLINK, delete by
// name, list names, delete every device whose name has a given prefix.
//
// Threading: any thread; each call opens and closes its own NETLINK_ROUTE
// socket (device creation is rare; the hot paths never call these).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "pmip/common/fd.hpp"
#include "pmip/common/ip.hpp"
#include "pmip/common/result.hpp"

struct nlmsghdr;

namespace pmip::netlink {

// Sends one request built by `build` (which adds attributes to a message
// whose header and struct ifinfomsg are already in place) and waits for the
// kernel's acknowledgement.
using LinkMessageBuilder = std::function<void(nlmsghdr* message)>;
Status link_request(int type, int flags, int ifindex, unsigned ifi_flags, unsigned ifi_change,
                    const LinkMessageBuilder& build, const std::string& context);

// RTM_NEWADDR / RTM_DELADDR for one IPv6 address (IFA_F_* in `ifa_flags`).
Status address_request(int type, int flags, int ifindex, const Ipv6Address& address,
                       std::uint8_t prefix_length, std::uint32_t ifa_flags,
                       const std::string& context);

// Deletes the IPv6 neighbour entries of device `ifindex` (not the permanent
// ones); returns how many. A device that is gone has none. One dump the
// kernel filters by device (NDA_IFINDEX with strict dump checking, Linux
// 4.20), then one RTM_DELNEIGH per entry: the kernel still walks its table,
// but only the device's entries are copied out and parsed.
Expected<std::size_t> flush_ipv6_neighbours(int ifindex, const std::string& context);

// How many neighbour dumps went without strict checking (kernel older than
// 4.20) and may have listed every device's entries; the first is logged.
std::uint64_t unfiltered_neighbour_dumps();

// Deletes device `name`; a device that does not exist is not an error.
Status delete_link(const std::string& name);

// The device's packet and octet counts (IFLA_STATS64), as `ip -s link`.
struct LinkStats {
    std::uint64_t rx_packets = 0, tx_packets = 0, rx_bytes = 0, tx_bytes = 0;
    std::uint64_t rx_frame_errors = 0;  // ip6tnl / ip6gre: packets dropped for ECN (RFC 6040)
};
Expected<LinkStats> link_stats(int ifindex);

// The output interface of the kernel's route to `destination` (RTM_GETROUTE,
// as `ip -6 route get`), from `source` when given (policy rules by source
// then apply, as to the packets a tunnel sends from its local address).
Expected<int> route_output_interface(const Ipv6Address& destination,
                                     const Ipv6Address* source = nullptr);
// The same for many (source, destination) pairs over one netlink socket, in
// their order (the ebpf tunnel backend asks for every tunnel's every 2 s).
struct RouteEnds {
    Ipv6Address source;
    Ipv6Address destination;
};
std::vector<Expected<int>> route_output_interfaces(std::span<const RouteEnds> ends);

// Tells whether the kernel's routing may have changed for the ebpf tunnel
// backend: its tunnels' peers may now be reached through another interface
// (IPv6 routes and policy rules added or deleted), or an interface it
// serves may have lost its filter (device, qdisc or filter deleted). One
// non-blocking NETLINK_ROUTE socket joined to RTNLGRP_IPV6_ROUTE,
// RTNLGRP_IPV6_RULE, RTNLGRP_NEXTHOP, RTNLGRP_LINK and RTNLGRP_TC (a route
// whose interface moves with its nexthop object, under nexthop_compat_mode
// 0, sends no route notification). A socket filter (classic
// BPF) drops in the kernel the routes of protocol `ignored_protocol`: the
// daemons' own per-binding routes (proto 213), so an LMA's route churn never
// wakes this reader.
class RouteChanges {
public:
    static Expected<RouteChanges> open(std::uint8_t ignored_protocol);

    struct Drained {
        std::uint64_t changes = 0;  // notifications that may matter
        std::uint64_t ignored = 0;  // about `own` devices, the local table, new qdiscs and filters
        bool overflowed = false;    // ENOBUFS, a truncated or unparsed read: assume a change
        bool more = false;          // kMaxReads read and more queued: left for the next drain
    };
    static constexpr int kMaxReads = 64;  // per drain: a flood (a full BGP table) cannot hold the loop
    // Reads the queued notifications without blocking (at most kMaxReads
    // datagrams). Those about the devices for which `own` says true (the
    // tunnels' own: their creation, their link-local and multicast routes
    // being added, their qdiscs), routes of the local table, and
    // RTM_NEWQDISC / RTM_NEWTFILTER (filters being attached) count as
    // ignored. A route deleted through an own device counts: it may uncover
    // a route through an underlay.
    Drained drain(const std::function<bool(int ifindex)>& own);

private:
    explicit RouteChanges(Fd fd) : fd_(std::move(fd)), buf_(64 * 1024) {}
    Fd fd_;
    std::vector<char> buf_;
};

// Names of all network devices.
Expected<std::vector<std::string>> link_names();

// Deletes every device whose name starts with one of `prefixes`. Returns how
// many were deleted.
Expected<std::size_t> delete_links_with_prefix(const std::vector<std::string>& prefixes);

}  // namespace pmip::netlink
