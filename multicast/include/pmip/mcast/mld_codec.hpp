// MLD codec: MLDv1 and MLDv2 messages, checksum, Router Alert header.
//
// Implements the wire formats of RFC 2710 section 3 (MLDv1 Query, Report,
// Done: 24 octets), RFC 3810 section 5.1 (MLDv2 Query, with the Maximum
// Response Code and QQIC floating-point encodings of sections 5.1.3 and
// 5.1.9), section 5.2 (MLDv2 Report with its six record types and auxiliary
// data) and the version distinction of section 8.1 (a 24-octet Query is
// MLDv1, >= 28 octets MLDv2, anything else is ignored). The ICMPv6 checksum
// is computed over the IPv6 pseudo-header of RFC 8200 section 8.1 with Next
// Header 58. The Hop-by-Hop header with the Router Alert option (RFC 2711,
// value 0 = MLD) is built and recognised here too.
//
// Parsing starts at the ICMPv6 Type octet and is strict and total: any bytes
// give either a message or a ParseError (with the octet offset), nothing
// throws and nothing reads past the span. Octets after the message (after
// 24 octets for MLDv1, after the last source / record for MLDv2) are ignored
// as RFC 2710 section 3.7 and RFC 3810 section 5 ask, and counted.
// Serialization writes into a caller's buffer; the checksum field is left 0
// (the kernel fills it on raw ICMPv6 sockets; call fill_checksum otherwise).
//
// Thread safety: all functions are pure; no shared state.
// Counters: none (callers count parse errors by ParseErrorKind).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <variant>
#include <vector>

#include "pmip/common/ip.hpp"

namespace pmip::mcast {

inline constexpr std::uint8_t kIpProtoIcmpv6 = 58;
inline constexpr std::uint8_t kIpProtoHopByHop = 0;

// ICMPv6 types [RFC 2710 section 3; RFC 3810 section 5].
inline constexpr std::uint8_t kTypeQuery = 130;
inline constexpr std::uint8_t kTypeV1Report = 131;
inline constexpr std::uint8_t kTypeV1Done = 132;
inline constexpr std::uint8_t kTypeV2Report = 143;

inline constexpr std::size_t kV1MessageSize = 24;      // RFC 2710 section 3
inline constexpr std::size_t kV2QueryMinSize = 28;     // RFC 3810 section 5.1
inline constexpr std::size_t kV2ReportHeaderSize = 8;  // RFC 3810 section 5.2
inline constexpr std::size_t kRecordHeaderSize = 20;   // RFC 3810 section 5.2.4
inline constexpr std::size_t kAddressSize = 16;
static_assert(kV1MessageSize == 8 + kAddressSize);
static_assert(kV2QueryMinSize == kV1MessageSize + 4);
static_assert(kRecordHeaderSize == 4 + kAddressSize);

// ff02::1, ff02::2, ff02::16 [RFC 3810 section 5.1.15, 5.2.14; RFC 2710 section 3.7].
inline constexpr Ipv6Address kAllNodes{0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01};
inline constexpr Ipv6Address kAllRouters{0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x02};
inline constexpr Ipv6Address kAllMldv2Routers{0xff, 0x02, 0, 0, 0, 0, 0, 0,
                                              0,    0,    0, 0, 0, 0, 0, 0x16};
inline constexpr Ipv6Address kUnspecified{};

// MLDv1 messages [RFC 2710 section 3]. Maximum Response Delay in ms.
struct Mldv1Query {
    std::uint16_t max_response_delay = 0;
    Ipv6Address multicast_address{};  // :: for a General Query
    bool operator==(const Mldv1Query&) const = default;
};
struct Mldv1Report {
    Ipv6Address multicast_address{};
    bool operator==(const Mldv1Report&) const = default;
};
struct Mldv1Done {
    Ipv6Address multicast_address{};
    bool operator==(const Mldv1Done&) const = default;
};

// MLDv2 Query [RFC 3810 section 5.1]. Fields hold wire values; use
// max_response_delay_ms() and query_interval_s() for the decoded ones.
struct Mldv2Query {
    std::uint16_t max_response_code = 0;
    Ipv6Address multicast_address{};               // :: for a General Query
    bool suppress_router_processing = false;       // S flag, section 5.1.7
    std::uint8_t querier_robustness = 0;           // QRV, 3 bits, section 5.1.8
    std::uint8_t querier_query_interval_code = 0;  // QQIC, section 5.1.9
    std::vector<Ipv6Address> sources;
    bool operator==(const Mldv2Query&) const = default;
};

// Multicast Address Record types [RFC 3810 section 5.2.12].
enum class RecordType : std::uint8_t {
    kModeIsInclude = 1,        // IS_IN
    kModeIsExclude = 2,        // IS_EX
    kChangeToIncludeMode = 3,  // TO_IN
    kChangeToExcludeMode = 4,  // TO_EX
    kAllowNewSources = 5,      // ALLOW
    kBlockOldSources = 6,      // BLOCK
};
std::string_view to_string(RecordType type);  // "IS_IN", "IS_EX", ...
bool is_known_record_type(std::uint8_t value);

struct MulticastAddressRecord {
    RecordType type = RecordType::kModeIsInclude;
    Ipv6Address multicast_address{};
    std::vector<Ipv6Address> sources;
    std::vector<std::uint8_t> aux_data;  // multiple of 4 octets (Aux Data Len in 32-bit words)
    bool operator==(const MulticastAddressRecord&) const = default;
};

// MLDv2 Report [RFC 3810 section 5.2].
struct Mldv2Report {
    std::vector<MulticastAddressRecord> records;
    bool operator==(const Mldv2Report&) const = default;
};

using MldMessage = std::variant<Mldv1Query, Mldv1Report, Mldv1Done, Mldv2Query, Mldv2Report>;

enum class ParseErrorKind : std::uint8_t {
    kTruncated,           // fewer octets than the fixed part of the message
    kNotMld,              // ICMPv6 type is not 130, 131, 132 or 143
    kBadLength,           // a Query of 25-27 octets [RFC 3810 section 8.1]
    kSourceCountPastEnd,  // Number of Sources runs past the end of the message
    kRecordPastEnd,       // Number of Records runs past the end (record header cut)
    kAuxDataPastEnd,      // Aux Data Len runs past the end
    kBadRecordType,       // a record type other than 1-6 (strict mode)
    kBadChecksum,         // checked only by parse_with_checksum
};
std::string_view to_string(ParseErrorKind kind);

struct ParseError {
    ParseErrorKind kind{};
    std::size_t offset = 0;  // octet offset in the ICMPv6 message where the problem is
    bool operator==(const ParseError&) const = default;
};

struct ParseConfig {
    // RFC 3810 section 5.2.12 has receivers skip records of unknown type and
    // process the rest; strict parsing (the default) reports them instead.
    bool skip_unknown_record_types = false;
};

struct Parsed {
    MldMessage message;
    std::size_t length = 0;           // octets the message occupies
    std::size_t trailing_octets = 0;  // ignored octets after it
    std::size_t skipped_records = 0;  // unknown records skipped (skip mode)
};

using ParseResult = std::variant<Parsed, ParseError>;

// Parses the ICMPv6 message (Type onwards). The checksum is not checked.
ParseResult parse(std::span<const std::uint8_t> icmp, const ParseConfig& config = {});

// Verifies the checksum over the pseudo-header (source, destination, Next
// Header 58) and the whole span first, then parses.
ParseResult parse_with_checksum(std::span<const std::uint8_t> icmp, const Ipv6Address& source,
                                const Ipv6Address& destination, const ParseConfig& config = {});

// ICMPv6 checksum [RFC 4443 section 2.3; pseudo-header RFC 8200 section 8.1]
// over the whole span, with octets 2-3 taken as zero. Returns the value to store.
std::uint16_t compute_checksum(std::span<const std::uint8_t> icmp, const Ipv6Address& source,
                               const Ipv6Address& destination);
bool verify_checksum(std::span<const std::uint8_t> icmp, const Ipv6Address& source,
                     const Ipv6Address& destination);
void fill_checksum(std::span<std::uint8_t> icmp, const Ipv6Address& source,
                   const Ipv6Address& destination);

enum class SerializeError : std::uint8_t {
    kBufferTooSmall,
    kTooManySources,  // more than 65535 sources in a Query or a record
    kTooManyRecords,  // more than 65535 records
    kBadAuxData,      // aux data not a multiple of 4 octets, or over 255 words
    kBadField,        // QRV over 7
};
std::string_view to_string(SerializeError error);

// Octets serialize() writes for `message`, or an error.
std::variant<std::size_t, SerializeError> serialized_size(const MldMessage& message);
// Serializes into `out`; returns the octets written (checksum left 0).
std::variant<std::size_t, SerializeError> serialize(const MldMessage& message,
                                                    std::span<std::uint8_t> out);
// Convenience: into a new vector (empty on error, `error` set when given).
std::vector<std::uint8_t> serialize(const MldMessage& message, SerializeError* error = nullptr);

// Maximum Response Code <-> Maximum Response Delay in ms [RFC 3810 section
// 5.1.3]. Encoding gives the exact code when representable, else the code of
// the next lower representable delay; delays past 8,387,584 ms saturate.
std::uint32_t decode_max_response_code(std::uint16_t code);
std::uint16_t encode_max_response_delay(std::uint32_t delay_ms);
// QQIC <-> Querier's Query Interval in s [RFC 3810 section 5.1.9]; same
// rounding, saturating at 31,744 s.
std::uint32_t decode_qqic(std::uint8_t code);
std::uint8_t encode_qqic(std::uint32_t interval_s);

// The Hop-by-Hop Options header every MLD message carries [RFC 3810 section 5;
// RFC 2711]: Next Header 58, Hdr Ext Len 0, Router Alert (type 5, length 2,
// value 0 = MLD), PadN of 2 octets.
inline constexpr std::array<std::uint8_t, 8> kRouterAlertHopByHop{0x3a, 0x00, 0x05, 0x02,
                                                                  0x00, 0x00, 0x01, 0x00};
std::array<std::uint8_t, 8> router_alert_hop_by_hop(std::uint8_t next_header = kIpProtoIcmpv6);
// The option data alone (type, length, value) for IPV6_HOPOPTS-style APIs.
inline constexpr std::array<std::uint8_t, 4> kRouterAlertOption{0x05, 0x02, 0x00, 0x00};

// True when the Hop-by-Hop Options header `hbh` (from its Next Header octet,
// whole header) is well formed and carries a Router Alert option with value 0.
bool has_mld_router_alert(std::span<const std::uint8_t> hbh);

// Destination address of a query [RFC 3810 section 5.1.15]: ff02::1 for a
// General Query, else the queried multicast address.
Ipv6Address query_destination(const Ipv6Address& multicast_address);

}  // namespace pmip::mcast
