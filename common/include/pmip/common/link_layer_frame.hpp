// Complete IPv6 packets carrying one ICMPv6 message, built in userspace for
// the link-layer sender (link_layer_sender.hpp): magd's Router Advertisements
// and the MLD proxy's queries leave through an AF_PACKET socket, so nothing
// here may depend on the kernel's IPv6 state of the link (no route, no
// source-address check, no neighbour lookup).
//
//   IPv6 header [RFC 8200 section 3]: version 6, traffic class 0, flow label
//     0, Payload Length, Next Header (58, or 0 with a Hop-by-Hop header), the
//     given Hop Limit, source and destination.
//   Optional Hop-by-Hop Options header [RFC 8200 section 4.3] with the Router
//     Alert option, value 0 = MLD [RFC 2711; RFC 3810 section 5], padded with
//     PadN to 8 octets: 3a 00 05 02 00 00 01 00.
//   The ICMPv6 message with its checksum over the pseudo-header [RFC 8200
//     section 8.1; RFC 4443 section 2.3]: source, destination, upper-layer
//     length, next header 58 (also when a Hop-by-Hop header precedes it).
//   Ethernet destination of a multicast destination: 33:33 followed by the
//     address's low 32 bits [RFC 2464 section 7].
//
// Pure: no I/O, no clock. Threading: any thread. Counters: none.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "pmip/common/ip.hpp"

namespace pmip {

using MacAddress = std::array<std::uint8_t, 6>;  // as in link_config.hpp

inline constexpr std::size_t kIpv6HeaderSize = 40;
inline constexpr std::size_t kRouterAlertHeaderSize = 8;
inline constexpr std::uint8_t kNextHeaderHopByHop = 0;
inline constexpr std::uint8_t kNextHeaderIcmpv6 = 58;

struct Icmpv6PacketSpec {
    Ipv6Address source{};
    Ipv6Address destination{};
    std::uint8_t hop_limit = 255;
    bool router_alert = false;           // Hop-by-Hop header with Router Alert (MLD)
    std::span<const std::uint8_t> icmp;  // from the Type octet; its checksum octets are ignored
};

// Octets build_icmpv6_packet() writes for `spec`.
std::size_t icmpv6_packet_size(const Icmpv6PacketSpec& spec);

// Writes the packet (from the IPv6 header) into `out`. Returns the octets
// written, 0 when `out` is too small, the ICMPv6 message is shorter than 4
// octets or the payload does not fit the 16-bit Payload Length (no jumbograms).
std::size_t build_icmpv6_packet(const Icmpv6PacketSpec& spec, std::span<std::uint8_t> out);
// The same in a new vector (empty on the same errors).
std::vector<std::uint8_t> build_icmpv6_packet(const Icmpv6PacketSpec& spec);

// The ICMPv6 checksum of `icmp` from `source` to `destination` (the message's
// own checksum octets count as zero) [RFC 4443 section 2.3].
std::uint16_t compute_icmpv6_checksum(std::span<const std::uint8_t> icmp, const Ipv6Address& source,
                                      const Ipv6Address& destination);

// 33:33:xx:xx:xx:xx for a multicast `group` [RFC 2464 section 7].
MacAddress ipv6_multicast_mac(const Ipv6Address& group);

}  // namespace pmip
