// Sending ICMPv6 straight onto a link: magd's Router Advertisements and the
// MLD proxy's queries on access links.
//
// Why not the raw ICMPv6 socket: a sendmsg() on it goes through the kernel's
// route and rule lookups and the source-address check for every message.
// Right after an access link gets carrier the kernel has not configured IPv6
// on it yet (no ff00::/8 route in table local), so the send fails with
// ENETUNREACH exactly when the MN needs the RA / the first General Query; and
// at thousands of access links those lookups dominate magd's profile.
//
// LinkLayerSender (the only kernel touch, with a fake): one AF_PACKET socket
// (SOCK_DGRAM, protocol 0: it is never hooked into receive, so it receives
// nothing) that sends a complete IPv6 packet built by build_icmpv6_packet()
// (link_layer_frame.hpp) out of a given device to a given MAC; the kernel
// adds the Ethernet header with the device's own address as source (on
// magd's access links the RFC 6543 router MAC, which magd sets on them). No
// multicast loopback: the sending host's own stack does not see the frame.
//
// Icmpv6Transmitter: the path choice. On a link with an Ethernet header the
// message goes as a frame through the LinkLayerSender; elsewhere (TUN,
// ARPHRD_NONE, IP tunnels) through a raw-socket callback (the kernel builds
// the IPv6 header there). Counted per path.
//
// Threading: loop thread only. Counters: Icmpv6TransmitterCounters.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "pmip/common/ip.hpp"
#include "pmip/common/link_layer_frame.hpp"
#include "pmip/common/result.hpp"

namespace pmip {

class LinkLayerSender {
  public:
    virtual ~LinkLayerSender() = default;
    // Sends `ipv6_packet` (from the IPv6 header) out of `ifindex` in an
    // Ethernet frame to `destination` (EtherType 0x86dd). Never blocks; a
    // full device queue is an error (ENOBUFS / EAGAIN).
    virtual Status send(int ifindex, const MacAddress& destination,
                        std::span<const std::uint8_t> ipv6_packet) = 0;
};

// AF_PACKET, SOCK_DGRAM, protocol 0 (needs CAP_NET_RAW).
Expected<std::unique_ptr<LinkLayerSender>> make_packet_socket_sender();

// Records every frame; fails with `fail_send` when set.
class FakeLinkLayerSender final : public LinkLayerSender {
  public:
    struct Frame {
        int ifindex = 0;
        MacAddress destination{};
        std::vector<std::uint8_t> packet;
    };
    Status send(int ifindex, const MacAddress& destination,
                std::span<const std::uint8_t> ipv6_packet) override;

    std::vector<Frame> sent;
    std::optional<Error> fail_send;
};

struct Icmpv6TransmitterCounters {
    std::uint64_t link_layer_sent = 0;
    std::uint64_t link_layer_errors = 0;
    std::uint64_t raw_sent = 0;
    std::uint64_t raw_errors = 0;
};
nlohmann::json to_json(const Icmpv6TransmitterCounters& counters);

class Icmpv6Transmitter {
  public:
    // The raw-socket path: sends `icmp` (checksum left to the kernel) from
    // `source` to `destination` out of `ifindex`.
    using RawSend =
        std::function<Status(int ifindex, const Ipv6Address& source, const Ipv6Address& destination,
                             std::span<const std::uint8_t> icmp)>;
    struct Options {
        std::uint8_t hop_limit = 255;
        bool router_alert = false;
    };

    // `link_layer` may be null: then every message takes the raw path.
    Icmpv6Transmitter(std::unique_ptr<LinkLayerSender> link_layer, RawSend raw, Options options);

    // Sends `icmp` (from the Type octet) on `ifindex`. `ethernet`: the link
    // has an Ethernet header (a 6-octet link-layer address). A unicast
    // destination needs `destination_mac` on the link-layer path (EINVAL
    // otherwise); a multicast one maps to 33:33:... [RFC 2464 section 7].
    Status send(int ifindex, bool ethernet, const Ipv6Address& source,
                const Ipv6Address& destination, std::span<const std::uint8_t> icmp,
                const std::optional<MacAddress>& destination_mac = std::nullopt);

    const Icmpv6TransmitterCounters& counters() const { return counters_; }

  private:
    std::unique_ptr<LinkLayerSender> link_layer_;
    RawSend raw_;
    Options options_;
    std::vector<std::uint8_t> buffer_;
    Icmpv6TransmitterCounters counters_;
};

}  // namespace pmip
