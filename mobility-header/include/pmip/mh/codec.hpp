// Mobility Header codec: parse, serialize, checksum, PBU validation.
//
// Implements RFC 6275 sections 6.1 and 6.2 (framing, option TLVs, alignment),
// the receiver checks of RFC 6275 section 9.2, and the option formats of
// RFC 5213 section 8 and the later RFCs listed in options.hpp.
//
// Parsing is total: any byte sequence yields either a Message or a ParseError
// whose `reaction` tells the caller what RFC 6275 section 9.2 asks for (drop
// silently, Binding Error status 2, ICMPv6 Parameter Problem with a pointer).
// Nothing throws; nothing reads past the span. Serialization writes into a
// caller's buffer (or a vector), inserting Pad1/PadN so each option meets its
// xn+y alignment and the message is a multiple of 8 octets long.
//
// Lenient mode (off by default) accepts the OAI/UMIP pmip6d quirks of
// PROTOCOL.md Appendix I and reports each one it saw in Parsed::quirks.
//
// Thread safety: all functions are pure; no shared state.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <variant>
#include <vector>

#include "pmip/mh/messages.hpp"

namespace pmip::mh {

// What the receiver should do with a message that failed to parse
// [RFC 6275 section 9.2].
enum class Reaction : std::uint8_t {
    kDropSilently,
    kSendBindingErrorUnrecognizedType,  // Binding Error status 2
    kSendIcmpParameterProblem,          // ICMPv6 type 4 code 0, pointer = error offset
};

enum class ParseErrorKind : std::uint8_t {
    kTruncated,               // fewer octets than the 8-octet minimum or than Header Len says
    kBadPayloadProto,         // Payload Proto != 59
    kUnknownMessageType,      // MH Type this node does not implement
    kHeaderLengthTooShort,    // Header Len below the fixed part of that MH type
    kBadChecksum,             // checked only when the caller supplies addresses
    kOptionTruncated,         // an option's Length runs past the message end
    kOptionBadLength,         // a known option with a Length its format does not allow
    kOptionBadValue,          // a field value its format forbids (e.g. NUL in an NAI)
    kUnknownRevocationType,   // MH 16 with B.R. Type other than 1 or 2
};

std::string_view to_string(ParseErrorKind kind);
std::string_view to_string(Reaction reaction);

struct ParseError {
    ParseErrorKind kind{};
    Reaction reaction{};
    std::size_t offset = 0;        // octet offset in the MH; the ICMP pointer when asked for
    std::uint8_t option_type = 0;  // for option errors
    bool operator==(const ParseError&) const = default;
};

// OAI / UMIP behaviours accepted in lenient mode [PROTOCOL.md Appendix I].
namespace quirk {
inline constexpr std::uint32_t kHeaderLengthShort = 1u << 0;   // Header Len 8 octets short
inline constexpr std::uint32_t kTimestampHostOrder = 1u << 1;  // 32-bit halves little-endian
inline constexpr std::uint32_t kEmptyNai = 1u << 2;            // NAI of all-zero octets
inline constexpr std::uint32_t kBinaryMacNai = 1u << 3;        // NAI = 00 00 + 6-octet MAC
inline constexpr std::uint32_t kEui64LinkLayerIdentifier = 1u << 4;  // MN-LL-ID as modified EUI-64
inline constexpr std::uint32_t kProxyAckWithoutProxyFlag = 1u << 5;  // PBA-shaped BA with P=0
inline constexpr std::uint32_t kNulPaddedNai = 1u << 6;  // NAI text followed by NUL octets
}  // namespace quirk

// Names of the quirk bits set in `quirks`, in bit order.
std::vector<std::string_view> quirk_names(std::uint32_t quirks);

struct ParseConfig {
    bool lenient = false;
    ExtensionCodePoints code_points{};
};

struct Parsed {
    Message message;
    std::uint32_t quirks = 0;        // quirk:: bits seen (lenient mode only)
    std::size_t length = 0;          // octets the message occupies: (Header Len + 1) * 8,
                                     // or the whole span with kHeaderLengthShort
    std::size_t trailing_octets = 0; // octets after the message, ignored as RFC 8200
                                     // section 4.7 asks after Next Header 59
};

using ParseResult = std::variant<Parsed, ParseError>;

// Parses the Mobility Header at the start of `mh` (the IPv6 payload after any
// extension headers). Strict unless config.lenient. Octets past the length
// Header Len declares are ignored (RFC 8200 section 4.7) and counted in
// Parsed::trailing_octets; in lenient mode up to 8 such octets are read as
// options (the OAI Header Len quirk) when they parse as options.
ParseResult parse(std::span<const std::uint8_t> mh, const ParseConfig& config = {});

// As parse(), and first verifies the checksum against the IPv6 pseudo-header
// (RFC 6275 section 6.1.1) made of `source` and `destination`, over the
// declared MH length; in lenient mode a checksum over the whole span (as OAI
// computes it) is accepted too.
ParseResult parse_with_checksum(std::span<const std::uint8_t> mh, const Ipv6Address& source,
                                const Ipv6Address& destination, const ParseConfig& config = {});

// The checksum RFC 6275 section 6.1.1 defines over the pseudo-header and the
// MH (octets 4-5 of `mh` are treated as zero). Returns the value to store.
std::uint16_t compute_checksum(std::span<const std::uint8_t> mh, const Ipv6Address& source,
                               const Ipv6Address& destination);

// True when the checksum stored in `mh` is correct.
bool verify_checksum(std::span<const std::uint8_t> mh, const Ipv6Address& source,
                     const Ipv6Address& destination);

// Writes the checksum into octets 4-5 of `mh` (which must be >= 6 octets).
void fill_checksum(std::span<std::uint8_t> mh, const Ipv6Address& source,
                   const Ipv6Address& destination);

enum class SerializeError : std::uint8_t {
    kBufferTooSmall,
    kMessageTooLong,  // over (255 + 1) * 8 = 2048 octets
    kOptionTooLong,   // an option's data over 255 octets
    kBadField,        // a value its format cannot hold (e.g. prefix length > 128)
};

std::string_view to_string(SerializeError error);

struct SerializeConfig {
    ExtensionCodePoints code_points{};
};

// Octets serialize() will write for `message` (including padding), or an error.
std::variant<std::size_t, SerializeError> serialized_size(const Message& message,
                                                          const SerializeConfig& config = {});

// Serializes into `out`; returns the octets written. The checksum field is
// left 0 (the kernel fills it on raw sockets; call fill_checksum otherwise).
std::variant<std::size_t, SerializeError> serialize(const Message& message,
                                                    std::span<std::uint8_t> out,
                                                    const SerializeConfig& config = {});

// Convenience: serialize into a new vector (empty on error, with `error` set).
std::vector<std::uint8_t> serialize(const Message& message, const SerializeConfig& config = {},
                                    SerializeError* error = nullptr);

// RFC 5213 section 5.3.1 steps 4, 10, 11, 12 (with RFC 5844 section 3.1.2 for
// IPv4): the PBA status for the first mandatory option a PBU lacks, in the
// order the RFC checks them, or nullopt when all are present. Also rejects an
// ALL_ZERO HNP that is not the only HNP option (RFC 5213 section 6.9.1.1) with
// status 128. The LMA applies its policy steps (5-8) between the MN-ID check
// and the rest; mn_identifier_missing() lets it do the first check alone.
std::optional<std::uint8_t> check_proxy_binding_update(const BindingUpdate& pbu);
bool mn_identifier_missing(const BindingUpdate& pbu);

// Timestamp option helpers [RFC 5213 section 8.8].
std::uint64_t make_timestamp(std::uint64_t seconds_since_epoch, std::uint32_t nanoseconds);
std::uint64_t timestamp_seconds(std::uint64_t timestamp);

// Sequence number comparison modulo 2^16 [RFC 6275 section 9.5.1].
constexpr bool sequence_newer(std::uint16_t received, std::uint16_t last) {
    const std::uint16_t d = static_cast<std::uint16_t>(received - last);
    return d != 0 && d < 0x8000;
}

}  // namespace pmip::mh
