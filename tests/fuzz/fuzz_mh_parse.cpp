// libFuzzer target for the Mobility Header codec (pmip_mh).
//
// Feeds arbitrary octets to parse() in strict and lenient mode
// (RFC 6275 section 6.1 / 9.2 framing, the option formats of RFC 5213
// section 8 and later RFCs, the OAI quirks of PROTOCOL.md Appendix I) and
// checks the codec's contracts; any violation calls __builtin_trap():
//   - parse never crashes or reads past the span (ASan/UBSan catch that);
//   - a strict parse of a message serialized from a parsed message succeeds,
//     equals the first message, and serializes to the same octets
//     (parse -> serialize -> parse -> serialize is a fixed point);
//   - the same holds for lenient mode: quirk normalisation may change the
//     octets once (input -> first serialization), never again;
//   - serialized output is framed correctly (59, Header Len, 8-octet multiple,
//     checksum 0) and serialized_size() agrees with serialize();
//   - whatever strict mode accepts, lenient mode accepts too;
//   - octets past Header Len are counted as trailing (strict mode) and never
//     lost: length + trailing_octets == input size;
//   - parse_with_checksum() agrees with parse() when the checksum (over the
//     declared length, or the whole span in lenient mode) is right and
//     rejects the message when it is wrong;
//   - check_proxy_binding_update() / mn_identifier_missing() on any parsed BU.
// Build: tests/fuzz/CMakeLists.txt (PMIP_FUZZ=ON, clang). Run: run_fuzz.sh.
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <variant>
#include <vector>

#include "pmip/mh/authentication.hpp"
#include "pmip/mh/codec.hpp"

namespace {

using namespace pmip::mh;

constexpr Ipv6Address kSource{0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01};
constexpr Ipv6Address kDestination{0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x02};

// Kept out of line and volatile so the checks below are not optimised away.
volatile std::size_t g_sink = 0;

void require(bool condition) {
    if (!condition) __builtin_trap();
}

// Reads every accessor of a parsed message once (coverage for the helpers).
void touch(const Parsed& parsed) {
    const Message& message = parsed.message;
    g_sink = g_sink + static_cast<std::size_t>(message_type_of(message));
    g_sink = g_sink + message_kind(message).size();
    for (const Option& option : options_of(message)) {
        g_sink = g_sink + option_type_of(option) + option_name(option).size();
    }
    for (std::string_view name : quirk_names(parsed.quirks)) g_sink = g_sink + name.size();
    if (const auto* bu = std::get_if<BindingUpdate>(&message)) {
        const std::optional<std::uint8_t> status = check_proxy_binding_update(*bu);
        // A PBU that lacks an MN Identifier must be reported as 160 first
        // [RFC 5213 section 5.3.1 step 4 comes before steps 10-12].
        if (mn_identifier_missing(*bu)) {
            require(status.has_value() && *status == status::kMissingMnIdentifierOption);
        }
        if (status) g_sink = g_sink + *status;
    }
}

// Serializes `message`, checks the framing, and returns the octets (empty
// when the message legitimately cannot be serialized).
std::vector<std::uint8_t> serialize_checked(const Message& message) {
    SerializeError error{};
    std::vector<std::uint8_t> octets = serialize(message, SerializeConfig{}, &error);
    const auto size = serialized_size(message);
    if (octets.empty()) {
        // A message parsed from <= 2048 octets can grow past 2048 only through
        // the padding the serializer adds; every other error means the parser
        // accepted a value the serializer refuses.
        require(error == SerializeError::kMessageTooLong);
        require(std::holds_alternative<SerializeError>(size));
        return octets;
    }
    require(std::holds_alternative<std::size_t>(size) && std::get<std::size_t>(size) == octets.size());
    require(octets.size() >= 8 && octets.size() % 8 == 0 && octets.size() <= 2048);
    require(octets[0] == kIpProtoNone);
    require(octets[1] == octets.size() / 8 - 1);
    require(octets[2] == static_cast<std::uint8_t>(message_type_of(message)));
    require(octets[4] == 0 && octets[5] == 0);

    // The span overload writes the same octets into an exact-size buffer and
    // refuses a buffer one octet short.
    std::vector<std::uint8_t> buffer(octets.size(), 0xA5);
    const auto written = serialize(message, std::span<std::uint8_t>(buffer));
    require(std::holds_alternative<std::size_t>(written) && std::get<std::size_t>(written) == octets.size());
    require(buffer == octets);
    const auto short_write = serialize(message, std::span<std::uint8_t>(buffer.data(), buffer.size() - 1));
    require(std::holds_alternative<SerializeError>(short_write) &&
            std::get<SerializeError>(short_write) == SerializeError::kBufferTooSmall);
    return octets;
}

// parse -> serialize -> parse -> serialize must be a fixed point.
void check_round_trip(const Parsed& first, const ParseConfig& config) {
    const std::vector<std::uint8_t> octets1 = serialize_checked(first.message);
    if (octets1.empty()) return;
    const ParseResult second = parse(octets1, config);
    require(std::holds_alternative<Parsed>(second));
    const Parsed& parsed2 = std::get<Parsed>(second);
    require(parsed2.length == octets1.size() && parsed2.trailing_octets == 0);
    // Lenient quirk handling normalises values (e.g. a host-order timestamp)
    // once; the serialized form is standard, so re-reading it must not apply
    // a quirk again and change the message.
    require(parsed2.message == first.message);
    if (!config.lenient) require(parsed2.quirks == 0);
    const std::vector<std::uint8_t> octets2 = serialize_checked(parsed2.message);
    require(octets2 == octets1);
}

void check_error(const ParseError& error, std::size_t size) {
    g_sink = g_sink + to_string(error.kind).size() + to_string(error.reaction).size();
    if (error.reaction == Reaction::kSendIcmpParameterProblem) {
        // The ICMPv6 pointer must point into the offending packet.
        require(error.offset < size);
    }
}

// Checksum handling over the same octets. The checksum covers the declared
// MH length; lenient mode also accepts one over the whole span (OAI). Right
// checksum -> same result as parse(); wrong checksum -> an error.
void check_checksum_paths(std::span<const std::uint8_t> input) {
    const std::size_t declared = input.size() >= 2 ? (static_cast<std::size_t>(input[1]) + 1) * 8 : 0;
    if (input.size() < 8 || declared > input.size()) {
        for (bool lenient : {false, true}) {
            ParseConfig config;
            config.lenient = lenient;
            require(std::holds_alternative<ParseError>(parse_with_checksum(input, kSource, kDestination, config)));
        }
        return;
    }
    std::vector<std::uint8_t> mh(input.begin(), input.end());
    const std::span<std::uint8_t> message(mh.data(), declared);
    fill_checksum(message, kSource, kDestination);
    require(verify_checksum(message, kSource, kDestination));
    const std::uint16_t stored = static_cast<std::uint16_t>(mh[4] << 8 | mh[5]);
    mh[4] = 0;
    mh[5] = 0;
    require(compute_checksum(message, kSource, kDestination) == stored);
    mh[4] = static_cast<std::uint8_t>(stored >> 8);
    mh[5] = static_cast<std::uint8_t>(stored);

    auto same_as_parse = [&](bool lenient) {
        ParseConfig config;
        config.lenient = lenient;
        const ParseResult plain = parse(mh, config);
        const ParseResult checked = parse_with_checksum(mh, kSource, kDestination, config);
        require(plain.index() == checked.index());
        if (const auto* p = std::get_if<Parsed>(&plain)) {
            const auto& c = std::get<Parsed>(checked);
            require(p->message == c.message && p->quirks == c.quirks && p->length == c.length &&
                    p->trailing_octets == c.trailing_octets);
        }
    };
    same_as_parse(false);
    same_as_parse(true);

    // Change the checksum by a value that is not a multiple of 0xFFFF, so no
    // one's-complement equivalence can make it valid again.
    mh[4] ^= 0x01;
    mh[5] ^= 0x01;
    require(!verify_checksum(message, kSource, kDestination));
    require(std::holds_alternative<ParseError>(parse_with_checksum(mh, kSource, kDestination)));
    if (declared == mh.size()) {
        ParseConfig config;
        config.lenient = true;
        require(std::holds_alternative<ParseError>(parse_with_checksum(mh, kSource, kDestination, config)));
    }

    // OAI computes the checksum over the whole IPv6 payload: lenient mode
    // accepts that as well.
    if (declared < mh.size()) {
        fill_checksum(mh, kSource, kDestination);
        same_as_parse(true);
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::span<const std::uint8_t> input(data, size);

    ParseConfig strict;
    ParseConfig lenient;
    lenient.lenient = true;

    const ParseResult strict_result = parse(input, strict);
    if (const auto* parsed = std::get_if<Parsed>(&strict_result)) {
        require(parsed->quirks == 0);
        // Octets past Header Len are ignored (RFC 8200 section 4.7), not parsed.
        require(parsed->length == (static_cast<std::size_t>(data[1]) + 1) * 8);
        require(parsed->length + parsed->trailing_octets == size);
        touch(*parsed);
        check_round_trip(*parsed, strict);
    } else {
        check_error(std::get<ParseError>(strict_result), size);
    }

    const ParseResult lenient_result = parse(input, lenient);
    if (const auto* parsed = std::get_if<Parsed>(&lenient_result)) {
        require(parsed->length + parsed->trailing_octets == size);
        touch(*parsed);
        check_round_trip(*parsed, lenient);
    } else {
        // Lenient mode accepts a superset of strict mode.
        require(!std::holds_alternative<Parsed>(strict_result));
        check_error(std::get<ParseError>(lenient_result), size);
    }

    check_checksum_paths(input);

    // The RFC 4285 option walker must cope with any octets as well.
    static constexpr std::array<std::uint8_t, 20> kKey{1, 2, 3, 4, 5, 6, 7, 8, 9, 10,
                                                       11, 12, 13, 14, 15, 16, 17, 18, 19, 20};
    g_sink = g_sink + (verify_authentication_option(input, kKey, kSource, Ipv6Address{}) ? 1 : 0);
    return 0;
}
