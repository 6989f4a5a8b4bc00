// Pure per-packet functions of the userspace tunnel (see tunnel_packet.hpp
// for the RFC rules). Bounds are checked before every read; nothing here
// casts structs over packet buffers.
//
// Threading: pure. Counters: none.
#include "tunnel_packet.hpp"

#include "pmip/common/udp_checksum.hpp"
#include "../bpf/tunnel.h"

#include <algorithm>
#include <cstring>

namespace pmip::tunnel_packet {

namespace {

std::uint16_t read16(std::span<const std::uint8_t> p, std::size_t at) {
    return static_cast<std::uint16_t>(p[at] << 8 | p[at + 1]);
}

std::uint32_t read32(std::span<const std::uint8_t> p, std::size_t at) {
    return static_cast<std::uint32_t>(p[at]) << 24 | static_cast<std::uint32_t>(p[at + 1]) << 16 |
           static_cast<std::uint32_t>(p[at + 2]) << 8 | p[at + 3];
}

void write16(std::span<std::uint8_t> p, std::size_t at, std::uint16_t v) {
    p[at] = static_cast<std::uint8_t>(v >> 8);
    p[at + 1] = static_cast<std::uint8_t>(v);
}

void write32(std::span<std::uint8_t> p, std::size_t at, std::uint32_t v) {
    for (int i = 0; i < 4; ++i) p[at + i] = static_cast<std::uint8_t>(v >> (24 - 8 * i));
}

std::uint32_t add_to_sum(std::span<const std::uint8_t> data, std::uint32_t sum) {
    std::size_t i = 0;
    for (; i + 1 < data.size(); i += 2)
        sum += static_cast<std::uint32_t>(data[i] << 8 | data[i + 1]);
    if (i < data.size())
        sum += static_cast<std::uint32_t>(data[i] << 8);
    while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
    return sum;
}

// The upper-layer checksum's pseudo-header [RFC 8200 section 8.1], summed
// and folded: source, destination, upper-layer length, next header.
std::uint32_t pseudo_header_sum(std::span<const std::uint8_t> source,
                                std::span<const std::uint8_t> destination, std::uint32_t length,
                                std::uint8_t next_header) {
    std::uint32_t sum = add_to_sum(source, 0);
    sum = add_to_sum(destination, sum);
    sum += (length >> 16) + (length & 0xffff);
    sum += next_header;
    while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
    return sum;
}

constexpr std::uint16_t kGreChecksumBit = 0x8000;
constexpr std::uint16_t kGreRoutingBit = 0x4000;
constexpr std::uint16_t kGreKeyBit = 0x2000;
constexpr std::uint16_t kGreSequenceBit = 0x1000;
constexpr std::uint16_t kGreStrictRouteBit = 0x0800;
constexpr std::uint16_t kGreRecursionMask = 0x0700;
constexpr std::uint16_t kGreVersionMask = 0x0007;

}  // namespace

std::optional<Ipv6Header> parse_ipv6_header(std::span<const std::uint8_t> packet) {
    if (packet.size() < kIpv6HeaderSize)
        return std::nullopt;
    if ((packet[0] >> 4) != 6)
        return std::nullopt;
    Ipv6Header h;
    h.traffic_class = static_cast<std::uint8_t>((packet[0] & 0x0f) << 4 | packet[1] >> 4);
    h.flow_label = static_cast<std::uint32_t>(packet[1] & 0x0f) << 16 | read16(packet, 2);
    h.payload_length = read16(packet, 4);
    h.next_header = packet[6];
    h.hop_limit = packet[7];
    std::copy_n(packet.begin() + 8, 16, h.source.begin());
    std::copy_n(packet.begin() + 24, 16, h.destination.begin());
    if (h.payload_length == 0)
        return std::nullopt;
    if (kIpv6HeaderSize + h.payload_length > packet.size())
        return std::nullopt;
    return h;
}

std::uint8_t traffic_class(std::span<const std::uint8_t> packet) {
    return static_cast<std::uint8_t>((packet[0] & 0x0f) << 4 | packet[1] >> 4);
}

void set_traffic_class(std::span<std::uint8_t> packet, std::uint8_t tc) {
    packet[0] = static_cast<std::uint8_t>((packet[0] & 0xf0) | tc >> 4);
    packet[1] = static_cast<std::uint8_t>((packet[1] & 0x0f) | (tc & 0x0f) << 4);
}

std::uint8_t encapsulation_traffic_class(std::uint8_t inner) {
    const std::uint8_t ecn = inner & 0x03;
    return static_cast<std::uint8_t>((inner & 0xfc) | (ecn == kEcnCe ? kEcnEct0 : ecn));
}

std::optional<std::uint8_t> decapsulation_traffic_class(std::uint8_t outer, std::uint8_t inner) {
    const std::uint8_t ecn = pmip_decapsulated_ecn(outer & 0x03, inner & 0x03);
    if (ecn == PMIP_ECN_DROP)
        return std::nullopt;
    return static_cast<std::uint8_t>((inner & 0xfc) | ecn);
}

std::optional<UpperLayer> find_upper_layer(std::span<const std::uint8_t> packet) {
    if (packet.size() < kIpv6HeaderSize)
        return std::nullopt;
    std::uint8_t next = packet[6];
    std::size_t offset = kIpv6HeaderSize;
    // A packet cannot hold more than a few dozen extension headers; the bound
    // only guards against a loop on malformed input.
    for (int headers = 0; headers < 32; ++headers) {
        if (next != kNextHeaderHopByHop && next != kNextHeaderDestinationOptions &&
            next != kNextHeaderRouting) {
            if (next == kNextHeaderFragment)
                return std::nullopt;
            return UpperLayer{next, offset};
        }
        if (offset + 2 > packet.size())
            return std::nullopt;
        const std::size_t length = (static_cast<std::size_t>(packet[offset + 1]) + 1) * 8;
        if (offset + length > packet.size())
            return std::nullopt;
        next = packet[offset];
        offset += length;
    }
    return std::nullopt;
}

bool is_tunnel_control_message(std::span<const std::uint8_t> packet) {
    const auto upper = find_upper_layer(packet);
    if (!upper || upper->protocol != kNextHeaderIcmpv6)
        return false;
    if (upper->offset + 4 > packet.size())
        return false;  // type, code, checksum
    const std::uint8_t type = packet[upper->offset];
    switch (type) {
        case 130:  // Multicast Listener Query
        case 131:  // MLDv1 Report
        case 132:  // MLDv1 Done
        case 143:  // MLDv2 Report
        case 133:  // Router Solicitation
        case 134:  // Router Advertisement
        case 135:  // Neighbor Solicitation
        case 136:  // Neighbor Advertisement
        case 137:  // Redirect
            return true;
        default:
            return false;
    }
}

OutgoingVerdict classify_outgoing(std::span<const std::uint8_t> packet, unsigned tunnel_mtu) {
    const auto header = parse_ipv6_header(packet);
    if (!header)
        return OutgoingVerdict::kDropMalformed;
    const auto inner = packet.first(packet_length(*header));
    if (is_link_local(header->source) || is_unspecified(header->source)) {
        if (!is_tunnel_control_message(inner))
            return OutgoingVerdict::kDropLinkLocal;
    }
    if (inner.size() > tunnel_mtu && inner.size() > kMinimumMtu) {
        return OutgoingVerdict::kPacketTooBig;
    }
    return OutgoingVerdict::kEncapsulate;
}

std::size_t write_gre_header(std::span<std::uint8_t> out, std::optional<std::uint32_t> key) {
    write16(out, 0, key ? kGreKeyBit : 0);  // C=0 R=0 K S=0, version 0
    write16(out, 2, kGreProtocolIpv6);
    if (!key)
        return kGreBaseHeaderSize;
    write32(out, 4, *key);
    return kGreBaseHeaderSize + 4;
}

std::string_view to_string(GreError error) {
    switch (error) {
        case GreError::kTruncated:
            return "truncated";
        case GreError::kVersion:
            return "version not 0";
        case GreError::kProtocol:
            return "protocol not IPv6";
        case GreError::kRouting:
            return "routing present";
        case GreError::kChecksum:
            return "bad checksum";
    }
    return "unknown";
}

std::variant<GreHeader, GreError> parse_gre_header(std::span<const std::uint8_t> gre) {
    if (gre.size() < kGreBaseHeaderSize)
        return GreError::kTruncated;
    const std::uint16_t flags = read16(gre, 0);
    if ((flags & kGreVersionMask) != 0)
        return GreError::kVersion;
    if (flags & (kGreRoutingBit | kGreStrictRouteBit | kGreRecursionMask)) {
        return GreError::kRouting;
    }
    if (read16(gre, 2) != kGreProtocolIpv6)
        return GreError::kProtocol;
    GreHeader h;
    h.size = kGreBaseHeaderSize;
    if (flags & kGreChecksumBit) {
        if (gre.size() < h.size + 4)
            return GreError::kTruncated;
        if (internet_checksum(gre) != 0)
            return GreError::kChecksum;
        h.size += 4;  // checksum + reserved1
    }
    if (flags & kGreKeyBit) {
        if (gre.size() < h.size + 4)
            return GreError::kTruncated;
        h.key = read32(gre, h.size);
        h.size += 4;
    }
    if (flags & kGreSequenceBit) {
        if (gre.size() < h.size + 4)
            return GreError::kTruncated;
        h.sequence = read32(gre, h.size);
        h.size += 4;
    }
    return h;
}

std::uint16_t internet_checksum(std::span<const std::uint8_t> data, std::uint32_t initial) {
    const std::uint32_t sum = add_to_sum(data, initial);
    return static_cast<std::uint16_t>(~sum & 0xffff);
}

std::uint16_t icmpv6_checksum(const Ipv6Address& source, const Ipv6Address& destination,
                              std::span<const std::uint8_t> message) {
    return internet_checksum(message, pseudo_header_sum(source, destination,
                                                       static_cast<std::uint32_t>(message.size()),
                                                       kNextHeaderIcmpv6));
}

std::size_t build_packet_too_big(std::span<const std::uint8_t> original, const Ipv6Address& source,
                                 std::uint32_t mtu, std::span<std::uint8_t> out) {
    const auto header = parse_ipv6_header(original);
    if (!header || out.size() < kMinimumMtu)
        return 0;
    if (is_unspecified(header->source) || is_multicast(header->source))
        return 0;
    const auto upper = find_upper_layer(original);
    if (upper && upper->protocol == kNextHeaderIcmpv6 && upper->offset < original.size() &&
        original[upper->offset] < 128) {
        return 0;  // never an error about an error (RFC 4443 section 2.4 (e.1))
    }
    constexpr std::size_t kIcmpHeaderSize = 8;
    const std::size_t quoted =
        std::min(packet_length(*header), kMinimumMtu - kIpv6HeaderSize - kIcmpHeaderSize);
    const std::size_t icmp_length = kIcmpHeaderSize + quoted;
    const std::size_t total = kIpv6HeaderSize + icmp_length;

    std::fill(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(total), 0);
    out[0] = 0x60;  // version 6, traffic class 0, flow label 0
    write16(out, 4, static_cast<std::uint16_t>(icmp_length));
    out[6] = kNextHeaderIcmpv6;
    out[7] = 64;
    std::copy(source.begin(), source.end(), out.begin() + 8);
    std::copy(header->source.begin(), header->source.end(), out.begin() + 24);

    auto icmp = out.subspan(kIpv6HeaderSize, icmp_length);
    icmp[0] = kIcmpv6PacketTooBig;
    icmp[1] = 0;
    write32(icmp, 4, mtu);
    std::copy_n(original.begin(), quoted, icmp.begin() + kIcmpHeaderSize);
    write16(icmp, 2, icmpv6_checksum(source, header->source, icmp));
    return total;
}

}  // namespace pmip::tunnel_packet

namespace pmip {

bool complete_partial_udp_checksum(std::span<std::uint8_t> packet) {
    using namespace tunnel_packet;
    const auto upper = find_upper_layer(packet);
    if (!upper || upper->protocol != kNextHeaderUdp)
        return false;
    const std::size_t at = upper->offset;
    if (at + 8 > packet.size())
        return false;
    const std::uint16_t length = read16(packet, at + 4);
    const std::uint16_t field = read16(packet, at + 6);
    if (length < 8 || at + length > packet.size() || field == 0)
        return false;
    const std::uint32_t pseudo =
        pseudo_header_sum(packet.subspan(8, 16), packet.subspan(24, 16), length, kNextHeaderUdp);
    const std::uint32_t datagram = add_to_sum(packet.subspan(at, length), 0);
    if (add_to_sum({}, datagram + pseudo) == 0xffff)
        return false;  // complete already
    if (field != pseudo)
        return false;  // wrong, and not the partial form
    // The field already holds the pseudo-header's sum: the datagram's sum
    // with it is the whole sum.
    auto checksum = static_cast<std::uint16_t>(~datagram & 0xffff);
    if (checksum == 0)
        checksum = 0xffff;
    write16(packet, at + 6, checksum);
    return true;
}

}  // namespace pmip
