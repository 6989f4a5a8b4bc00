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
// RaSocket: a raw ICMPv6 socket that sends Router Advertisements with an
// explicit source (IPV6_PKTINFO: the fixed link-local of RFC 6543) and
// outgoing device, Hop Limit 255 (RFC 4861 section 6.1.2 makes receivers
// drop anything else); the kernel fills the ICMPv6 checksum. It receives
// nothing (ICMP6_FILTER blocks every type).
//
// Counters (counters()): rx_frames, rx_rs, rx_dad_ns, rx_short, rx_outgoing,
// rx_errors; ra_sent, ra_errors.
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
    static Expected<std::unique_ptr<RaSocket>> open();
    // Sends `icmp` (type 134 onwards, checksum 0) on `ifindex` from `source`
    // to `destination`.
    Status send(int ifindex, const Ipv6Address& source, const Ipv6Address& destination,
                std::span<const std::uint8_t> icmp);
    nlohmann::json counters() const;

  private:
    explicit RaSocket(Fd fd) : fd_(std::move(fd)) {}
    Fd fd_;
    std::uint64_t sent_ = 0, errors_ = 0;
};

}  // namespace pmip::mag
