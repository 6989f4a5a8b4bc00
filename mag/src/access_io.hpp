// magd's sockets on the access links (DESIGN.md section 3, step 1 and 5):
//
// SolicitationSocket: one AF_PACKET (SOCK_DGRAM, ETH_P_IPV6) socket with a
// classic BPF filter in the kernel that passes only ICMPv6 Router
// Solicitations (type 133), Duplicate Address Detection Neighbour
// Solicitations (type 135 from ::) and MLD listener messages (MLDv2 Report
// 143, MLDv1 Report 131 and Done 132 after an 8-octet Hop-by-Hop header, as
// RFC 3810 section 5 and RFC 2710 section 3 send them), so routed traffic
// never reaches userspace. A solicitation gives the device and the sender's
// MAC from the frame (an RS from :: carries no Source Link-Layer Address
// option, RFC 4861 section 4.1; the frame always has the MAC). An MLD
// message goes whole (from the IPv6 header) to the MLD handler: magd needs
// an MN's answer to its early General Query, which can arrive before the link
// is a proxy downstream (PROTOCOL.md 6.2 steps 3 and 7). Frames we send are
// ignored. The filter passes only the kinds a handler is given for: magd
// opens one socket for solicitations and, with multicast on, one for MLD,
// which it drains at once when an access link becomes a downstream.
//
// MldQuerySender: that early General Query, sent at an MN's attach on an
// access link with an Ethernet header as a whole frame through the
// link-layer sender: Hop Limit 1, Router Alert (RFC 3810 section 5), from the
// RFC 6543 link-local, no route lookup (the link may have just come up).
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
// Counters (counters()): rx_frames, rx_rs, rx_dad_ns, rx_mld, rx_short,
// rx_truncated, rx_outgoing, rx_errors; ra_sent, ra_errors (both paths),
// ra_sent_link_layer, ra_errors_link_layer, ra_sent_raw, ra_errors_raw;
// early_queries_sent, early_query_errors.
//
// Threading: loop thread only.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <linux/filter.h>

#include <nlohmann/json.hpp>

#include "pmip/common/event_loop.hpp"
#include "pmip/common/fd.hpp"
#include "pmip/common/ip.hpp"
#include "pmip/common/link_layer_sender.hpp"
#include "pmip/common/result.hpp"

namespace pmip::mag {

enum class SolicitationKind : std::uint8_t { kRouterSolicitation, kDadNeighborSolicitation };

// The capture's classic BPF program (for SO_ATTACH_FILTER), passing
// solicitations, MLD listener messages, or both; exposed for its unit test.
std::vector<sock_filter> solicitation_filter(bool solicitations, bool mld);

class SolicitationSocket {
  public:
    using Handler = std::function<void(int ifindex, const std::string& mac, SolicitationKind kind)>;
    // An MLD listener message received on `ifindex`, from its IPv6 header,
    // with the kernel's receive time (SO_TIMESTAMPNS; none if it was not
    // delivered).
    using MldHandler =
        std::function<void(int ifindex, std::span<const std::uint8_t> ipv6_packet,
                           std::optional<std::chrono::system_clock::time_point> received_at)>;
    // The filter passes only what a handler is given for (magd opens one
    // socket for solicitations and one for MLD).
    static Expected<std::unique_ptr<SolicitationSocket>> open(EventLoop& loop, Handler handler,
                                                              MldHandler mld_handler);
    // Handles every frame queued now, at once (magd, when an access link
    // becomes a proxy downstream: the MN's messages from before must reach
    // the proxy before anything its own socket reads later).
    void drain();
    // Receives frames to 33:33:00:00:00:16 (MLDv2 Reports) on `ifindex`
    // (PACKET_ADD_MEMBERSHIP): until the link is a proxy downstream nothing
    // else asks the device for that address, and a NIC with a hardware
    // multicast filter would drop an MN's answer before the capture.
    // Memberships end with the socket or the device.
    Status listen_mld(int ifindex);
    ~SolicitationSocket();
    SolicitationSocket(const SolicitationSocket&) = delete;
    SolicitationSocket& operator=(const SolicitationSocket&) = delete;
    nlohmann::json counters() const;

  private:
    SolicitationSocket(EventLoop& loop, Fd fd, Handler handler, MldHandler mld_handler);
    void on_readable(int budget = 64);
    EventLoop& loop_;
    Fd fd_;
    Handler handler_;
    MldHandler mld_handler_;
    std::vector<std::uint8_t> buffer_;  // one whole packet (MLD Reports can fill the MTU)
    struct {
        std::uint64_t rx_frames = 0, rx_rs = 0, rx_dad_ns = 0, rx_mld = 0, rx_short = 0,
                      rx_truncated = 0, rx_outgoing = 0, rx_errors = 0;
    } counters_;
};

class MldQuerySender {
  public:
    // The AF_PACKET sender (CAP_NET_RAW).
    static Expected<std::unique_ptr<MldQuerySender>> open();
    // With a given sender (tests: a FakeLinkLayerSender).
    explicit MldQuerySender(std::unique_ptr<LinkLayerSender> link_layer);
    // Sends the MLD query `icmp` (checksum 0) on the Ethernet link `ifindex`
    // from `source` to ff02::1.
    Status send_general_query(int ifindex, const Ipv6Address& source,
                              std::span<const std::uint8_t> icmp);
    nlohmann::json counters() const;

  private:
    Icmpv6Transmitter transmitter_;
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
