// IPv6 + ICMPv6 packet building for the link-layer sender. See link_layer_frame.hpp.
#include "pmip/common/link_layer_frame.hpp"

#include <algorithm>
#include <vector>

#include "tunnel_packet.hpp"

namespace pmip {

namespace {

// clang-format off
constexpr std::array<std::uint8_t, kRouterAlertHeaderSize> kRouterAlert{
    kNextHeaderIcmpv6, 0x00,  // Next Header, Hdr Ext Len 0 (8 octets)
    0x05, 0x02, 0x00, 0x00,   // Router Alert, length 2, value 0 (MLD) [RFC 2711]
    0x01, 0x00};              // PadN, 0 octets of padding data
// clang-format on

}  // namespace

std::size_t icmpv6_packet_size(const Icmpv6PacketSpec& spec) {
    return kIpv6HeaderSize + (spec.router_alert ? kRouterAlertHeaderSize : 0) + spec.icmp.size();
}

std::uint16_t compute_icmpv6_checksum(std::span<const std::uint8_t> icmp, const Ipv6Address& source,
                                      const Ipv6Address& destination) {
    std::vector<std::uint8_t> zeroed(icmp.begin(), icmp.end());
    if (zeroed.size() >= 4)
        zeroed[2] = zeroed[3] = 0;
    return tunnel_packet::icmpv6_checksum(source, destination, zeroed);
}

std::size_t build_icmpv6_packet(const Icmpv6PacketSpec& spec, std::span<std::uint8_t> out) {
    const std::size_t size = icmpv6_packet_size(spec);
    const std::size_t payload = size - kIpv6HeaderSize;
    if (spec.icmp.size() < 4 || payload > 0xffff || out.size() < size)
        return 0;
    std::uint8_t* p = out.data();
    // IPv6 header [RFC 8200 section 3]: version 6, traffic class 0, flow label 0.
    p[0] = 0x60;
    p[1] = p[2] = p[3] = 0;
    p[4] = static_cast<std::uint8_t>(payload >> 8);
    p[5] = static_cast<std::uint8_t>(payload);
    p[6] = spec.router_alert ? kNextHeaderHopByHop : kNextHeaderIcmpv6;
    p[7] = spec.hop_limit;
    std::copy(spec.source.begin(), spec.source.end(), p + 8);
    std::copy(spec.destination.begin(), spec.destination.end(), p + 24);
    std::size_t at = kIpv6HeaderSize;
    if (spec.router_alert) {
        std::copy(kRouterAlert.begin(), kRouterAlert.end(), p + at);
        at += kRouterAlertHeaderSize;
    }
    std::copy(spec.icmp.begin(), spec.icmp.end(), p + at);
    p[at + 2] = p[at + 3] = 0;  // the checksum field counts as zero
    const std::uint16_t checksum = tunnel_packet::icmpv6_checksum(
        spec.source, spec.destination, std::span<const std::uint8_t>(p + at, spec.icmp.size()));
    p[at + 2] = static_cast<std::uint8_t>(checksum >> 8);
    p[at + 3] = static_cast<std::uint8_t>(checksum);
    return size;
}

std::vector<std::uint8_t> build_icmpv6_packet(const Icmpv6PacketSpec& spec) {
    std::vector<std::uint8_t> out(icmpv6_packet_size(spec));
    out.resize(build_icmpv6_packet(spec, out));
    return out;
}

MacAddress ipv6_multicast_mac(const Ipv6Address& group) {
    return {0x33, 0x33, group[12], group[13], group[14], group[15]};
}

}  // namespace pmip
