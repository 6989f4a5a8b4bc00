// libFuzzer target for the MLD codec (pmip_mcast's mld_codec.cpp).
//
// Feeds arbitrary octets to parse() in strict mode and in the receiver's mode
// (unknown record types skipped, RFC 3810 section 5.2.12), and checks the
// codec's contracts; any violation calls __builtin_trap():
//   - parse never crashes or reads past the span (ASan/UBSan catch that);
//   - length + trailing_octets == input size (octets after the message are
//     ignored, RFC 2710 section 3.7 / RFC 3810 section 5, never lost);
//   - whatever strict mode accepts, skip mode accepts with the same message;
//   - parse -> serialize -> parse -> serialize is a fixed point, and
//     serialized_size() agrees with serialize(); the span overload refuses a
//     buffer one octet short;
//   - a Query is 24 octets (MLDv1) or >= 28 (MLDv2), never 25-27 (RFC 3810
//     section 8.1);
//   - parse_with_checksum() agrees with parse() when the checksum is right
//     and refuses the message when it is wrong;
//   - the Max Resp Code and QQIC encodings decode to at most the value
//     encoded (sections 5.1.3, 5.1.9), and has_mld_router_alert() copes with
//     any Hop-by-Hop header.
// Build: tests/fuzz/CMakeLists.txt (PMIP_FUZZ=ON, clang). Run: run_fuzz.sh.
#include <cstddef>
#include <cstdint>
#include <span>
#include <variant>
#include <vector>

#include "pmip/mcast/mld_codec.hpp"

namespace {

using namespace pmip::mcast;
using pmip::Ipv6Address;

constexpr Ipv6Address kSource{0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xa1};

volatile std::size_t g_sink = 0;

void require(bool condition) {
    if (!condition)
        __builtin_trap();
}

std::vector<std::uint8_t> serialize_checked(const MldMessage& message) {
    SerializeError error{};
    std::vector<std::uint8_t> octets = serialize(message, &error);
    const auto size = serialized_size(message);
    if (octets.empty()) {
        // Anything parsed from the wire fits the wire format again.
        __builtin_trap();
    }
    require(std::holds_alternative<std::size_t>(size) &&
            std::get<std::size_t>(size) == octets.size());
    require(octets[2] == 0 && octets[3] == 0);  // checksum left to the kernel / fill_checksum
    std::vector<std::uint8_t> buffer(octets.size(), 0xA5);
    const auto written = serialize(message, std::span<std::uint8_t>(buffer));
    require(std::holds_alternative<std::size_t>(written) &&
            std::get<std::size_t>(written) == octets.size());
    require(buffer == octets);
    const auto short_write =
        serialize(message, std::span<std::uint8_t>(buffer.data(), buffer.size() - 1));
    require(std::holds_alternative<SerializeError>(short_write) &&
            std::get<SerializeError>(short_write) == SerializeError::kBufferTooSmall);
    return octets;
}

void check_round_trip(const Parsed& first) {
    const std::vector<std::uint8_t> octets1 = serialize_checked(first.message);
    const ParseResult second = parse(octets1);
    require(std::holds_alternative<Parsed>(second));
    const Parsed& p2 = std::get<Parsed>(second);
    require(p2.length == octets1.size() && p2.trailing_octets == 0 && p2.skipped_records == 0);
    require(p2.message == first.message);
    require(serialize_checked(p2.message) == octets1);
}

void touch(const Parsed& parsed) {
    if (const auto* q = std::get_if<Mldv2Query>(&parsed.message)) {
        const std::uint32_t delay = decode_max_response_code(q->max_response_code);
        require(decode_max_response_code(encode_max_response_delay(delay)) == delay);
        const std::uint32_t qqi = decode_qqic(q->querier_query_interval_code);
        require(decode_qqic(encode_qqic(qqi)) == qqi);
        g_sink = g_sink + q->sources.size() + query_destination(q->multicast_address)[1];
    } else if (const auto* r = std::get_if<Mldv2Report>(&parsed.message)) {
        for (const auto& rec : r->records) {
            require(is_known_record_type(static_cast<std::uint8_t>(rec.type)));
            require(rec.aux_data.size() % 4 == 0);
            g_sink = g_sink + to_string(rec.type).size() + rec.sources.size();
        }
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::span<const std::uint8_t> input(data, size);
    ParseConfig skip;
    skip.skip_unknown_record_types = true;

    const ParseResult strict = parse(input);
    const ParseResult lenient = parse(input, skip);
    if (const auto* p = std::get_if<Parsed>(&strict)) {
        require(p->length + p->trailing_octets == size);
        require(p->skipped_records == 0);
        if (data[0] == kTypeQuery)
            require(p->length == kV1MessageSize || p->length >= kV2QueryMinSize);
        // Skip mode accepts the same message.
        const auto* l = std::get_if<Parsed>(&lenient);
        require(l != nullptr && l->message == p->message && l->length == p->length);
        touch(*p);
        check_round_trip(*p);
    } else {
        const ParseError& e = std::get<ParseError>(strict);
        require(e.offset <= size);
        g_sink = g_sink + to_string(e.kind).size();
    }
    if (const auto* l = std::get_if<Parsed>(&lenient)) {
        require(l->length + l->trailing_octets == size);
        touch(*l);
        check_round_trip(*l);
    } else {
        require(!std::holds_alternative<Parsed>(strict));
    }

    // Checksum paths: right checksum -> same as parse(); wrong -> refused.
    if (size >= 4) {
        std::vector<std::uint8_t> icmp(input.begin(), input.end());
        fill_checksum(icmp, kSource, kAllMldv2Routers);
        require(verify_checksum(icmp, kSource, kAllMldv2Routers));
        const ParseResult plain = parse(icmp, skip);
        const ParseResult checked = parse_with_checksum(icmp, kSource, kAllMldv2Routers, skip);
        require(plain.index() == checked.index());
        if (const auto* p = std::get_if<Parsed>(&plain))
            require(p->message == std::get<Parsed>(checked).message);
        icmp[2] ^= 0x01;
        icmp[3] ^= 0x01;
        const ParseResult wrong = parse_with_checksum(icmp, kSource, kAllMldv2Routers, skip);
        require(std::holds_alternative<ParseError>(wrong) &&
                std::get<ParseError>(wrong).kind == ParseErrorKind::kBadChecksum);
    }

    // The Router Alert recogniser must cope with any Hop-by-Hop header.
    g_sink = g_sink + (has_mld_router_alert(input) ? 1 : 0);
    return 0;
}
