// magd's sockets on the access links (DESIGN.md section 3, step 1 and 5):
//
// SolicitationSocket: one AF_PACKET (SOCK_DGRAM, ETH_P_IPV6) socket with a
// classic BPF filter in the kernel that passes only ICMPv6 Router
// Solicitations (type 133) and Duplicate Address Detection Neighbour
// Solicitations (type 135 from ::), so routed traffic never reaches
// userspace. Each one gives the device and the sender's MAC from the frame
// (an RS from :: carries no Source Link-Layer Address option, RFC 4861
// section 4.1; the frame always has the MAC). Frames we send are ignored.
//
// RaSocket: sends Router Advertisements from the fixed link-local of RFC 6543
// with Hop Limit 255 (RFC 4861 section 6.1.2 makes receivers drop anything
// else). On access links with an Ethernet header it builds the whole IPv6
// packet (checksum included) and sends it to 33:33:00:00:00:01 through the
// link-layer sender (common/link_layer_sender.hpp): no route lookup, so it
// works before the kernel has configured IPv6 on a link that just got
// carrier, and it costs no per-message route/rule/source checks. Links
// without one (TUN, ARPHRD_NONE) use a raw ICMPv6 socket with an explicit
// source and device (IPV6_PKTINFO), the kernel filling the checksum; that
// socket receives nothing (ICMP6_FILTER blocks every type).
//
// Counters (counters()): rx_frames, rx_rs, rx_dad_ns, rx_short, rx_outgoing,
// rx_errors; ra_sent, ra_errors (both paths), ra_sent_link_layer,
// ra_errors_link_layer, ra_sent_raw, ra_errors_raw.
//
// Threading: loop thread only.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>

#include <nlohmann/json.hpp>

#include "pmip/common/event_loop.hpp"
#include "pmip/common/fd.hpp"
#include "pmip/common/ip.hpp"
#include "pmip/common/link_layer_sender.hpp"
#include "pmip/common/result.hpp"

namespace pmip::mag {

enum class SolicitationKind : std::uint8_t { kRouterSolicitation, kDadNeighborSolicitation };

class SolicitationSocket {
  public:
    using Handler = std::function<void(int ifindex, const std::string& mac, SolicitationKind kind)>;
    static Expected<std::unique_ptr<SolicitationSocket>> open(EventLoop& loop, Handler handler);
    ~SolicitationSocket();
    SolicitationSocket(const SolicitationSocket&) = delete;
    SolicitationSocket& operator=(const SolicitationSocket&) = delete;
    nlohmann::json counters() const;

  private:
    SolicitationSocket(EventLoop& loop, Fd fd, Handler handler);
    void on_readable();
    EventLoop& loop_;
    Fd fd_;
    Handler handler_;
    struct {
        std::uint64_t rx_frames = 0, rx_rs = 0, rx_dad_ns = 0, rx_short = 0, rx_outgoing = 0,
                      rx_errors = 0;
    } counters_;
};

class RaSocket {
  public:
    // The AF_PACKET sender and the raw ICMPv6 socket (CAP_NET_RAW).
    static Expected<std::unique_ptr<RaSocket>> open();
    // With given paths (tests: a FakeLinkLayerSender and a recording callback).
    RaSocket(std::unique_ptr<LinkLayerSender> link_layer, Icmpv6Transmitter::RawSend raw);
    // Sends `icmp` (type 134 onwards, checksum 0) on `ifindex` from `source`
    // to `destination`; `ethernet`: the link has an Ethernet header.
    Status send(int ifindex, bool ethernet, const Ipv6Address& source,
                const Ipv6Address& destination, std::span<const std::uint8_t> icmp);
    nlohmann::json counters() const;

  private:
    Fd raw_fd_;  // the raw ICMPv6 socket behind the transmitter's raw path (open() only)
    Icmpv6Transmitter transmitter_;
};

}  // namespace pmip::mag
