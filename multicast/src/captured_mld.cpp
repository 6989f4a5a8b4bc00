// MLD messages from captured IPv6 packets. See mld_socket.hpp.
#include <algorithm>

#include "pmip/mcast/mld_codec.hpp"
#include "pmip/mcast/mld_socket.hpp"

namespace pmip::mcast {

namespace {
constexpr std::size_t kIpv6Header = 40;
constexpr std::uint8_t kHopByHop = 0;
}  // namespace

std::optional<ReceivedMld> parse_captured_mld(std::span<const std::uint8_t> packet, int ifindex) {
    if (packet.size() < kIpv6Header || (packet[0] >> 4) != 6)
        return std::nullopt;
    const std::size_t payload = (static_cast<std::size_t>(packet[4]) << 8) | packet[5];
    if (payload == 0 || kIpv6Header + payload > packet.size())  // 0: a jumbogram, never MLD
        return std::nullopt;
    ReceivedMld m;
    m.ifindex = ifindex;
    m.hop_limit = packet[7];
    std::copy_n(packet.begin() + 8, 16, m.source.begin());
    std::copy_n(packet.begin() + 24, 16, m.destination.begin());
    std::span<const std::uint8_t> rest = packet.subspan(kIpv6Header, payload);
    std::uint8_t next = packet[6];
    if (next == kHopByHop) {
        if (rest.size() < 8)
            return std::nullopt;
        const std::size_t length = (static_cast<std::size_t>(rest[1]) + 1) * 8;
        if (length > rest.size())
            return std::nullopt;
        m.router_alert = has_mld_router_alert(rest.first(length));
        next = rest[0];
        rest = rest.subspan(length);
    }
    if (next != kIpProtoIcmpv6 || rest.empty())
        return std::nullopt;
    m.icmp.assign(rest.begin(), rest.end());
    return m;
}

}  // namespace pmip::mcast
