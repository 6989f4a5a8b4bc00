// Per-packet logic of the userspace tunnel data plane, as pure functions over
// byte spans so that unit tests can check it with hand-built packets and no
// root: IPv6 header checks, the link-local filter, ECN handling, GRE header
// build and parse, ICMPv6 Packet Too Big.
//
// RFCs:
// - RFC 2473 sections 3.1 / 3.3 (encapsulation / decapsulation), 6.3-6.5
//   (outer hop limit, traffic class, flow label 0), 7.1 (packets larger than
//   the tunnel MTU: Packet Too Big when > 1280 octets, else encapsulate and
//   let the outer packet be fragmented);
// - RFC 3168 section 9.1.1, full functionality, on encapsulation: the inner
//   DSCP and ECT(0)/ECT(1) are copied into the outer header, an inner CE
//   becomes ECT(0) in the outer header (PROTOCOL.md section 2.17);
// - RFC 6040 section 4.2 on decapsulation (it updates RFC 3168's rule, which
//   PROTOCOL.md section 2.17 digests): an outer CE over an ECT inner packet
//   sets the inner CE, an outer ECT(1) over an ECT(0) inner one makes it
//   ECT(1), an inner Not-ECT packet under an outer CE is dropped; anything
//   else leaves the inner header unchanged;
// - RFC 2784 / RFC 2890 GRE, with the key of RFC 5845: we build version 0,
//   protocol 0x86DD, K bit and key when we send with a key; we accept version
//   0, protocol 0x86DD, no routing bit, an optional checksum (verified), key
//   and sequence number;
// - RFC 5213 section 6.10.5 / PROTOCOL.md 2.17: packets with a link-local (or
//   unspecified) source are never forwarded through the tunnel, except the
//   control traffic the daemons themselves exchange over it: MLD (130, 131,
//   132, 143; RFC 6224 section 5) and ND (133-137), possibly behind a
//   Hop-by-Hop header (Router Alert);
// - RFC 4443 sections 2.4 (e) and 3.2: Packet Too Big, not in answer to an
//   ICMPv6 error or to a packet from an unspecified/multicast source, as much
//   of the offending packet as fits into 1280 octets.
//
// Threading: pure, no state. Counters: none (callers count verdicts).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <variant>

#include "pmip/common/ip.hpp"

namespace pmip::tunnel_packet {

inline constexpr std::size_t kIpv6HeaderSize = 40;
inline constexpr std::size_t kMinimumMtu = 1280;  // RFC 8200 section 5
inline constexpr std::uint16_t kGreProtocolIpv6 = 0x86DD;
inline constexpr std::size_t kGreBaseHeaderSize = 4;
inline constexpr std::size_t kGreMaxBuiltHeaderSize = 8;  // base + key

inline constexpr std::uint8_t kNextHeaderHopByHop = 0;
inline constexpr std::uint8_t kNextHeaderRouting = 43;
inline constexpr std::uint8_t kNextHeaderFragment = 44;
inline constexpr std::uint8_t kNextHeaderUdp = 17;
inline constexpr std::uint8_t kNextHeaderIcmpv6 = 58;
inline constexpr std::uint8_t kNextHeaderDestinationOptions = 60;

inline constexpr std::uint8_t kIcmpv6PacketTooBig = 2;

// ECN codepoints (RFC 3168 section 5), the low two bits of the Traffic Class.
inline constexpr std::uint8_t kEcnNotEct = 0;
inline constexpr std::uint8_t kEcnEct1 = 1;
inline constexpr std::uint8_t kEcnEct0 = 2;
inline constexpr std::uint8_t kEcnCe = 3;

struct Ipv6Header {
    std::uint8_t traffic_class = 0;
    std::uint32_t flow_label = 0;
    std::uint16_t payload_length = 0;
    std::uint8_t next_header = 0;
    std::uint8_t hop_limit = 0;
    Ipv6Address source{};
    Ipv6Address destination{};
};

// Version 6, at least 40 octets, payload length not 0 (no jumbograms) and
// not past the end of `packet`. Octets after 40 + payload_length are
// tolerated (the caller trims them with packet_length()).
std::optional<Ipv6Header> parse_ipv6_header(std::span<const std::uint8_t> packet);
inline std::size_t packet_length(const Ipv6Header& header) {
    return kIpv6HeaderSize + header.payload_length;
}

std::uint8_t traffic_class(std::span<const std::uint8_t> packet);  // packet >= 40 octets
void set_traffic_class(std::span<std::uint8_t> packet, std::uint8_t traffic_class);

// Outer Traffic Class for an inner one (RFC 3168 section 9.1.1 full
// functionality): DSCP copied, ECT kept, CE -> ECT(0).
std::uint8_t encapsulation_traffic_class(std::uint8_t inner);
// New inner Traffic Class after decapsulation (RFC 6040 section 4.2, the rule
// the ebpf backend's program applies too: pmip_decapsulated_ecn in
// common/bpf/tunnel.h): the inner DSCP, the ECN field merged from both
// headers; nullopt when the packet must be dropped (an inner Not-ECT packet
// under an outer CE: its sender would not understand the mark).
std::optional<std::uint8_t> decapsulation_traffic_class(std::uint8_t outer, std::uint8_t inner);

// The upper-layer protocol after Hop-by-Hop, Destination Options and Routing
// headers: its number and its offset in `packet`. nullopt when a header runs
// past the end or a Fragment header comes first (non-first fragments carry no
// upper-layer header to look at).
struct UpperLayer {
    std::uint8_t protocol = 0;
    std::size_t offset = 0;
};
std::optional<UpperLayer> find_upper_layer(std::span<const std::uint8_t> packet);

// True for ICMPv6 MLD (130, 131, 132, 143) and ND (133-137) messages.
bool is_tunnel_control_message(std::span<const std::uint8_t> packet);

enum class OutgoingVerdict : std::uint8_t {
    kEncapsulate,
    kPacketTooBig,   // answer with build_packet_too_big(), do not send
    kDropLinkLocal,  // link-local or unspecified source, not MLD/ND
    kDropMalformed,  // not a valid IPv6 packet
};
// What to do with a packet read from the tunnel device (RFC 2473 section 7.1
// for the size rule: larger than the tunnel MTU and than 1280 -> Packet Too
// Big; larger than the tunnel MTU but not than 1280 -> encapsulate anyway).
OutgoingVerdict classify_outgoing(std::span<const std::uint8_t> packet, unsigned tunnel_mtu);

// MTU to announce in a Packet Too Big for a tunnel: max(tunnel MTU, 1280).
inline std::uint32_t packet_too_big_mtu(unsigned tunnel_mtu) {
    return tunnel_mtu > kMinimumMtu ? tunnel_mtu : static_cast<std::uint32_t>(kMinimumMtu);
}

// GRE (RFC 2784 section 2, RFC 2890 section 2).
inline std::size_t gre_header_size(std::optional<std::uint32_t> key) {
    return key ? kGreBaseHeaderSize + 4 : kGreBaseHeaderSize;
}
// Writes the header we send (no checksum, no sequence number; K and the key
// when `key` is set) at the start of `out`, which must hold
// gre_header_size(key) octets. Returns that size.
std::size_t write_gre_header(std::span<std::uint8_t> out, std::optional<std::uint32_t> key);

struct GreHeader {
    std::size_t size = 0;  // octets to strip before the payload
    std::optional<std::uint32_t> key;
    std::optional<std::uint32_t> sequence;
};
enum class GreError : std::uint8_t {
    kTruncated,
    kVersion,   // version not 0
    kProtocol,  // protocol not 0x86DD
    kRouting,   // R bit or strict source route / recursion bits set (RFC 1701 leftovers)
    kChecksum,  // C bit set and the checksum does not verify
};
std::string_view to_string(GreError error);
// `gre` starts at the GRE header and runs to the end of the packet (the
// checksum, when present, covers header and payload).
std::variant<GreHeader, GreError> parse_gre_header(std::span<const std::uint8_t> gre);

// Internet checksum (RFC 1071) of `data`, one's complement sum started at
// `initial`; the returned value is ready to store.
std::uint16_t internet_checksum(std::span<const std::uint8_t> data, std::uint32_t initial = 0);
// ICMPv6 checksum (RFC 4443 section 2.3) of `message` (its checksum field
// included as it stands: zero it first to compute, leave it to verify -> 0).
std::uint16_t icmpv6_checksum(const Ipv6Address& source, const Ipv6Address& destination,
                              std::span<const std::uint8_t> message);

// Builds an ICMPv6 Packet Too Big from `source` to the source of `original`,
// announcing `mtu`, quoting as much of `original` as fits into 1280 octets.
// `out` must hold 1280 octets. Returns the packet size, or 0 when no error
// may be sent (unspecified or multicast original source, original is an
// ICMPv6 error message, original malformed).
std::size_t build_packet_too_big(std::span<const std::uint8_t> original, const Ipv6Address& source,
                                 std::uint32_t mtu, std::span<std::uint8_t> out);

}  // namespace pmip::tunnel_packet
