// MldSocket: MLD messages to and from the downstream links, behind a narrow
// interface with an in-memory fake.
//
// Kernel implementation (DESIGN.md section 5): one raw ICMPv6 socket with
//  - ICMP6_FILTER passing only types 130, 131, 132 and 143 (RFC 2710
//    section 3, RFC 3810 section 5);
//  - IPV6_RECVPKTINFO (arrival interface and destination), IPV6_RECVHOPLIMIT
//    and IPV6_RECVHOPOPTS (the Hop-by-Hop header, for the Router Alert check):
//    RFC 3810 sections 6.2 and 7.4 drop a message whose source is not
//    link-local, whose Hop Limit is not 1, or that lacks Router Alert; the
//    adapter (kernel_proxy.cpp) applies those checks on ReceivedMld;
//  - on each downstream it joins ff02::16 (MLDv2 Reports, RFC 3810 section
//    5.2.14) and ff02::2 (MLDv1 Done, RFC 2710 section 3.7); MLDv1 Reports
//    go to the group itself and reach the socket because the kernel delivers
//    Router Alert MLD packets to a multicast router (ip6_mc_input);
//  - sends on downstreams (the interfaces join_router_groups() was called
//    for) with an Ethernet header (ARPHRD_ETHER, looked up with
//    SIOCGIFHWADDR when joining) go through the link-layer sender
//    (common/link_layer_sender.hpp): the whole packet is built here, IPv6
//    header with the given link-local source and Hop Limit 1, the Router
//    Alert Hop-by-Hop option (RFC 2711 value 0), the ICMPv6 checksum, to
//    33:33 + the low 32 bits of the destination (RFC 2464 section 7). No
//    route lookup, so the first General Query at an MN's attach does not fail
//    with ENETUNREACH while the kernel is still configuring IPv6 on the link.
//  - sends on other interfaces (the upstream, TUN, tunnels) use this raw socket: Router
//    Alert (sticky IPV6_HOPOPTS), explicit link-local source and interface in
//    IPV6_PKTINFO, Hop Limit 1 (IPV6_MULTICAST_HOPS / IPV6_UNICAST_HOPS); the
//    kernel fills the ICMPv6 checksum.
// Multicast loopback: raw-socket sends are looped back (the router's own host
// stack hears them), link-layer frames are not; the proxy never needs its own
// queries (the adapter drops looped-back ones by their source, querier
// election only looks at other routers' queries), and the MAG's own host
// membership on an access link needs no answer to them.
// The socket sees MLD from every interface of the namespace; the adapter
// keeps what arrives on its downstreams.
//
// Threading: loop thread only. Counters: MldSocketCounters.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <span>
#include <vector>

#include "pmip/common/ip.hpp"
#include "pmip/common/result.hpp"

namespace pmip {
class EventLoop;
}

namespace pmip::mcast {

// One ICMPv6 message as received, with what the checks need.
struct ReceivedMld {
    int ifindex = 0;
    Ipv6Address source{};
    Ipv6Address destination{};
    int hop_limit = -1;              // -1: no IPV6_HOPLIMIT control message
    bool router_alert = false;       // Hop-by-Hop header with Router Alert value 0
    std::vector<std::uint8_t> icmp;  // from the ICMPv6 Type octet
};

// An MLD message from a whole IPv6 packet captured on `ifindex` (an AF_PACKET
// SOCK_DGRAM capture starts at the IPv6 header; magd captures MN answers to
// its early query that way, see KernelProxy::receive_captured): source,
// destination, Hop Limit and Router Alert from the headers, the ICMPv6
// message as the Payload Length delimits it. The packet must be IPv6 with
// ICMPv6 (58) either directly or after one Hop-by-Hop Options header
// [RFC 8200 sections 3, 4.3]; nullopt otherwise, or when truncated. Nothing
// else is checked here: the proxy checks hop limit, Router Alert, source and
// checksum as for any received message.
std::optional<ReceivedMld> parse_captured_mld(std::span<const std::uint8_t> packet, int ifindex);

struct MldSocketCounters {
    std::uint64_t received = 0;
    std::uint64_t receive_errors = 0;
    std::uint64_t truncated = 0;   // larger than the receive buffer (dropped)
    std::uint64_t no_pktinfo = 0;  // no IPV6_PKTINFO (dropped)
    std::uint64_t sent = 0;         // both paths
    std::uint64_t send_errors = 0;  // both paths
    std::uint64_t sent_link_layer = 0;
    std::uint64_t send_errors_link_layer = 0;
    std::uint64_t sent_raw = 0;
    std::uint64_t send_errors_raw = 0;
};

class MldSocket {
  public:
    using Handler = std::function<void(const ReceivedMld&)>;
    virtual ~MldSocket() = default;
    // Joins ff02::16 and ff02::2 on `ifindex` (idempotent).
    virtual Status join_router_groups(int ifindex) = 0;
    virtual void leave_router_groups(int ifindex) = 0;
    // Sends `icmp` (checksum filled by the kernel) on `ifindex` from
    // `source` (link-local) to `destination`, Hop Limit 1, Router Alert.
    virtual Status send(int ifindex, const Ipv6Address& source, const Ipv6Address& destination,
                        std::span<const std::uint8_t> icmp) = 0;
    virtual void set_handler(Handler handler) = 0;
    virtual MldSocketCounters counters() const = 0;
};

Expected<std::unique_ptr<MldSocket>> make_kernel_mld_socket(EventLoop& loop);

// Records what is sent and joined; tests inject messages with deliver().
class FakeMldSocket final : public MldSocket {
  public:
    struct Sent {
        int ifindex = 0;
        Ipv6Address source{};
        Ipv6Address destination{};
        std::vector<std::uint8_t> icmp;
    };
    Status join_router_groups(int ifindex) override;
    void leave_router_groups(int ifindex) override { joined.erase(ifindex); }
    Status send(int ifindex, const Ipv6Address& source, const Ipv6Address& destination,
                std::span<const std::uint8_t> icmp) override;
    void set_handler(Handler handler) override { handler_ = std::move(handler); }
    MldSocketCounters counters() const override { return counters_; }

    void deliver(const ReceivedMld& message) {
        ++counters_.received;
        if (handler_)
            handler_(message);
    }

    std::set<int> joined;
    std::vector<Sent> sent;
    std::optional<Error> fail_send;  // when set, send() fails with it

  private:
    Handler handler_;
    MldSocketCounters counters_;
};

}  // namespace pmip::mcast
