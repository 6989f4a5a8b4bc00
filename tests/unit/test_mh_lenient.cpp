// Lenient parse mode against bytes shaped like the OAI / UMIP pmip6d messages
// of PROTOCOL.md Appendix I, and the strict mode's answer to the same bytes.
#include <catch2/catch.hpp>

#include "pmip/mh/codec.hpp"

using namespace pmip::mh;

namespace {

using Bytes = std::vector<std::uint8_t>;

Bytes cat(std::initializer_list<Bytes> parts) {
    Bytes out;
    for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
    return out;
}

const Ipv6Address kPrefix = *parse_ipv6_address("2001:db8:a::1");
const Ipv6Address kSrc = *parse_ipv6_address("2001:db8:100::2");
const Ipv6Address kDst = *parse_ipv6_address("2001:db8:100::1");
constexpr std::uint64_t kSeconds = 1763798400;  // 2025-11-22
constexpr std::uint64_t kTimestamp = kSeconds << 16 | 0x1234;

// Two 32-bit halves of the timestamp, each little-endian.
Bytes host_order_timestamp(std::uint64_t ts) {
    Bytes b;
    for (std::uint32_t half : {static_cast<std::uint32_t>(ts >> 32), static_cast<std::uint32_t>(ts)}) {
        for (int i = 0; i < 4; ++i) b.push_back(static_cast<std::uint8_t>(half >> (8 * i)));
    }
    return b;
}

// OAI pmip6d PBU: empty fixed 63-octet NAI, HNP /128, HI 3, ATT 4, 8-octet
// EUI-64 MN-LL-ID, host-order Timestamp, no final padding, and a Header Len
// that declares less than the payload carries (the Timestamp lies past it).
Bytes oai_pbu(Bytes mn_identifier) {
    Bytes id_option = cat({{8, static_cast<std::uint8_t>(1 + mn_identifier.size()), 1}, mn_identifier});
    Bytes b = cat({
        {59, 0, 5, 0, 0, 0, 0x00, 0x05, 0x82, 0x00, 0x00, 0x02},
        id_option,
    });
    while (b.size() % 8 != 4) b.push_back(0);  // Pad1s in front of the HNP
    b = cat({b, {22, 18, 0, 128}, Bytes(kPrefix.begin(), kPrefix.end()),
             {23, 2, 0, 3}, {24, 2, 0, 4},
             {25, 10, 0, 0, 0x02, 0x11, 0x22, 0xff, 0xfe, 0x33, 0x44, 0x55}});
    while (b.size() % 8 != 2) b.push_back(0);
    b = cat({b, {27, 8}, host_order_timestamp(kTimestamp)});
    // No final padding: the message ends 4 octets past a multiple of 8, and
    // Header Len counts only whole units, so the Timestamp straddles the end.
    b[1] = static_cast<std::uint8_t>(b.size() / 8 - 1);
    return b;
}

const Bytes kEmptyNai(63, 0);

}  // namespace

TEST_CASE("OAI PBU: strict mode reads only the declared length", "[mh][lenient]") {
    const Bytes wire = oai_pbu(kEmptyNai);
    // The NAI of 63 NUL octets is malformed for a strict parser.
    const auto r = parse(wire);
    REQUIRE(std::holds_alternative<ParseError>(r));
    CHECK(std::get<ParseError>(r).kind == ParseErrorKind::kOptionBadValue);
    CHECK(std::get<ParseError>(r).option_type == option_type::kMobileNodeIdentifier);
}

TEST_CASE("OAI PBU: lenient mode accepts it and reports every quirk", "[mh][lenient]") {
    const Bytes wire = oai_pbu(kEmptyNai);
    const std::size_t declared = (wire[1] + 1u) * 8;
    REQUIRE(declared < wire.size());
    REQUIRE(wire.size() - declared <= 8);

    const auto r = parse(wire, ParseConfig{.lenient = true});
    REQUIRE(std::holds_alternative<Parsed>(r));
    const Parsed& p = std::get<Parsed>(r);
    CHECK(p.length == wire.size());
    CHECK(p.trailing_octets == 0);
    CHECK(p.quirks == (quirk::kHeaderLengthShort | quirk::kTimestampHostOrder | quirk::kEmptyNai |
                       quirk::kEui64LinkLayerIdentifier));
    CHECK(quirk_names(p.quirks) == std::vector<std::string_view>{
                                       "header_length_short", "timestamp_host_order", "empty_nai",
                                       "eui64_link_layer_identifier"});

    const auto& pbu = std::get<BindingUpdate>(p.message);
    CHECK(pbu.is_proxy());
    CHECK(pbu.lifetime == 2);
    REQUIRE(find_option<Timestamp>(pbu.options));
    CHECK(find_option<Timestamp>(pbu.options)->value == kTimestamp);
    CHECK(find_option<HomeNetworkPrefix>(pbu.options)->prefix_length == 128);
    CHECK(find_option<HandoffIndicator>(pbu.options)->value == 3);
    CHECK(find_option<AccessTechnologyType>(pbu.options)->value == 4);
    CHECK(find_option<MobileNodeLinkLayerIdentifier>(pbu.options)->identifier.size() == 8);
    CHECK(find_option<MobileNodeIdentifier>(pbu.options)->identifier == kEmptyNai);
    CHECK_FALSE(check_proxy_binding_update(pbu).has_value());
}

TEST_CASE("OAI checksum over the whole payload is accepted only in lenient mode",
          "[mh][lenient][checksum]") {
    Bytes wire = oai_pbu(kEmptyNai);
    fill_checksum(wire, kSrc, kDst);  // over all octets, as OAI computes it
    const auto strict = parse_with_checksum(wire, kSrc, kDst);
    REQUIRE(std::holds_alternative<ParseError>(strict));
    CHECK(std::get<ParseError>(strict).kind == ParseErrorKind::kBadChecksum);
    CHECK(std::holds_alternative<Parsed>(
        parse_with_checksum(wire, kSrc, kDst, ParseConfig{.lenient = true})));
}

TEST_CASE("UMIP PBU: binary MAC NAI is accepted leniently and reported", "[mh][lenient]") {
    const Bytes wire = oai_pbu({0, 0, 0x02, 0x11, 0x22, 0x33, 0x44, 0x55});
    CHECK(std::holds_alternative<ParseError>(parse(wire)));
    const auto r = parse(wire, ParseConfig{.lenient = true});
    REQUIRE(std::holds_alternative<Parsed>(r));
    CHECK((std::get<Parsed>(r).quirks & quirk::kBinaryMacNai) != 0);
    CHECK((std::get<Parsed>(r).quirks & quirk::kEmptyNai) == 0);
}

TEST_CASE("NUL-padded textual NAI is accepted leniently", "[mh][lenient]") {
    Bytes id = {'m', 'n', '1', '@', 'x'};
    id.resize(63, 0);
    const auto r = parse(oai_pbu(id), ParseConfig{.lenient = true});
    REQUIRE(std::holds_alternative<Parsed>(r));
    CHECK((std::get<Parsed>(r).quirks & quirk::kNulPaddedNai) != 0);
    // A NUL in the middle of text is still malformed.
    Bytes bad = {'m', 0, 'n'};
    CHECK(std::holds_alternative<ParseError>(parse(oai_pbu(bad), ParseConfig{.lenient = true})));
}

TEST_CASE("A correct big-endian timestamp is never reinterpreted", "[mh][lenient]") {
    BindingUpdate bu{1, bu_flag::kA | bu_flag::kP, 10, {Timestamp{kTimestamp}}};
    const auto r = parse(serialize(bu), ParseConfig{.lenient = true});
    REQUIRE(std::holds_alternative<Parsed>(r));
    CHECK(std::get<Parsed>(r).quirks == 0);
    CHECK(std::get<BindingUpdate>(std::get<Parsed>(r).message) == bu);
}

TEST_CASE("Strict mode rejects the option that runs past Header Len", "[mh][lenient]") {
    Bytes id = {'m', 'n', '1'};
    const Bytes wire = oai_pbu(id);
    const auto r = parse(wire);
    REQUIRE(std::holds_alternative<ParseError>(r));
    CHECK(std::get<ParseError>(r).kind == ParseErrorKind::kOptionTruncated);
    CHECK(std::get<ParseError>(r).option_type == option_type::kTimestamp);
    CHECK(std::get<ParseError>(r).offset == wire.size() - 10);
}

TEST_CASE("OAI PBA without the P flag is reported as a quirk", "[mh][lenient]") {
    BindingAcknowledgement pba{0, 0, 5, 2,
                               {MobileNodeIdentifier{1, {'a'}}, HomeNetworkPrefix{128, kPrefix}}};
    const Bytes wire = serialize(pba);
    const auto strict = parse(wire);
    REQUIRE(std::holds_alternative<Parsed>(strict));
    CHECK(std::get<Parsed>(strict).quirks == 0);
    CHECK(message_kind(std::get<Parsed>(strict).message) == "ba");
    const auto r = parse(wire, ParseConfig{.lenient = true});
    CHECK(std::get<Parsed>(r).quirks == quirk::kProxyAckWithoutProxyFlag);
}
