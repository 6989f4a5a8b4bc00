// IPv6 + ICMPv6 packet building for the link-layer sender. See link_layer_frame.hpp.
#include "pmip/common/link_layer_frame.hpp"

#include <algorithm>

namespace pmip {

namespace {

// clang-format off
constexpr std::array<std::uint8_t, kRouterAlertHeaderSize> kRouterAlert{
    kNextHeaderIcmpv6, 0x00,  // Next Header, Hdr Ext Len 0 (8 octets)
    0x05, 0x02, 0x00, 0x00,   // Router Alert, length 2, value 0 (MLD) [RFC 2711]
    0x01, 0x00};              // PadN, 0 octets of padding data
// clang-format on

std::uint32_t add_words(std::uint32_t sum, std::span<const std::uint8_t> data) {
    for (std::size_t i = 0; i < data.size(); i += 2)
        sum += static_cast<std::uint32_t>(data[i] << 8 | (i + 1 < data.size() ? data[i + 1] : 0));
    return sum;
}

}  // namespace

std::size_t icmpv6_packet_size(const Icmpv6PacketSpec& spec) {
    return kIpv6HeaderSize + (spec.router_alert ? kRouterAlertHeaderSize : 0) + spec.icmp.size();
}

std::uint16_t compute_icmpv6_checksum(std::span<const std::uint8_t> icmp, const Ipv6Address& source,
                                      const Ipv6Address& destination) {
    // Pseudo-header [RFC 8200 section 8.1]: source, destination, 32-bit
    // upper-layer length, three zero octets, next header 58.
    std::uint32_t sum = add_words(0, source);
    sum = add_words(sum, destination);
    const auto length = static_cast<std::uint32_t>(icmp.size());
    sum += (length >> 16) + (length & 0xffff);
    sum += kNextHeaderIcmpv6;
    if (icmp.size() >= 4) {
        sum = add_words(sum, icmp.first(2));  // skip the checksum field itself
        sum = add_words(sum, icmp.subspan(4));
    } else {
        sum = add_words(sum, icmp);
    }
    while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
    return static_cast<std::uint16_t>(~sum);
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
    const std::uint16_t checksum =
        compute_icmpv6_checksum(spec.icmp, spec.source, spec.destination);
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
