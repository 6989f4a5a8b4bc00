// Unit tests of the Mobility Header codec: golden vectors, alignment, round
// trips over random messages, every parse error, checksum, PBU validation,
// RFC 4285 authentication.
#include <catch2/catch.hpp>

#include <random>

#include "pmip/mh/authentication.hpp"
#include "pmip/mh/codec.hpp"

using namespace pmip::mh;

namespace {

using Bytes = std::vector<std::uint8_t>;

Ipv6Address v6(const char* text) { return *parse_ipv6_address(text); }

Bytes text_bytes(std::string_view s) { return Bytes(s.begin(), s.end()); }

Bytes concat(std::initializer_list<Bytes> parts) {
    Bytes out;
    for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
    return out;
}

Bytes addr_bytes(const Ipv6Address& a) { return Bytes(a.begin(), a.end()); }

Parsed expect_parsed(const ParseResult& r) {
    if (const auto* e = std::get_if<ParseError>(&r)) {
        FAIL("parse error " << to_string(e->kind) << " at " << e->offset);
    }
    return std::get<Parsed>(r);
}

ParseError expect_error(const ParseResult& r) {
    REQUIRE(std::holds_alternative<ParseError>(r));
    return std::get<ParseError>(r);
}

// The worked PBU of PROTOCOL.md section 2.4.
BindingUpdate worked_pbu() {
    BindingUpdate pbu;
    pbu.sequence = 0x1234;
    pbu.flags = bu_flag::kA | bu_flag::kP;
    pbu.lifetime = 900;
    pbu.options = {
        HomeNetworkPrefix{64, v6("2001:db8:1::")},
        Timestamp{0x00006553f1008000ull},
        HandoffIndicator{handoff_indicator::kNewInterface},
        AccessTechnologyType{3},
        LinkLocalAddress{v6("fe80::200:5eff:fe00:5213")},
        MobileNodeIdentifier{mn_id_subtype::kNai, text_bytes("mn1@example.org")},
    };
    return pbu;
}

Bytes worked_pbu_bytes() {
    return concat({
        {59, 11, 5, 0, 0, 0},                // 0-5
        {0x12, 0x34, 0x82, 0x00, 0x03, 0x84},  // 6-11 sequence, A|P, lifetime 900
        {22, 18, 0, 64},                     // 12 HNP
        addr_bytes(v6("2001:db8:1::")),
        {1, 0},                               // 32 PadN
        {27, 8, 0x00, 0x00, 0x65, 0x53, 0xf1, 0x00, 0x80, 0x00},  // 34 Timestamp
        {23, 2, 0, 1},                        // 44 HI
        {24, 2, 0, 3},                        // 48 ATT
        {1, 0},                               // 52 PadN
        {26, 16},                             // 54 Link-local
        addr_bytes(v6("fe80::200:5eff:fe00:5213")),
        {8, 16, 1},                           // 72 MN-ID
        text_bytes("mn1@example.org"),
        {1, 4, 0, 0, 0, 0},                   // 90 PadN to 96
    });
}

// Walks the options of serialized bytes and checks each one's alignment.
void check_alignment(const Bytes& mh, std::size_t options_start) {
    std::size_t pos = options_start;
    while (pos < mh.size()) {
        const std::uint8_t type = mh[pos];
        if (type == 0) {
            ++pos;
            continue;
        }
        REQUIRE(pos + 1 < mh.size());
        std::size_t x = 1, y = 0;
        switch (type) {
            case 2: x = 2; break;
            case 3: case 26: case 68: case 69: x = 8; y = 6; break;
            case 6: case 22: case 65: case 66: case 67: x = 8; y = 4; break;
            case 9: case 56: x = 4; y = 1; break;
            case 10: case 27: x = 8; y = 2; break;
            case 19: case 28: x = 4; y = 2; break;
            case 25: case 29: case 30: case 31: case 32: case 33: case 36: case 37: case 38:
            case 50: case 70: case 200: x = 4; break;
            case 57: x = 8; y = 1; break;
            default: break;
        }
        INFO("option type " << int(type) << " at offset " << pos);
        CHECK(pos % x == y);
        pos += 2 + mh[pos + 1];
    }
    CHECK(pos == mh.size());
}

}  // namespace

TEST_CASE("Worked PBU of PROTOCOL.md 2.4 serializes to the documented layout", "[mh][golden]") {
    const Bytes got = serialize(worked_pbu());
    CHECK(got == worked_pbu_bytes());
    CHECK(got.size() == 96);
}

TEST_CASE("Worked PBU parses back to the same message", "[mh][golden]") {
    const Bytes wire = worked_pbu_bytes();
    const Parsed p = expect_parsed(parse(wire));
    CHECK(p.length == 96);
    CHECK(p.quirks == 0);
    REQUIRE(std::holds_alternative<BindingUpdate>(p.message));
    CHECK(std::get<BindingUpdate>(p.message) == worked_pbu());
    CHECK(message_kind(p.message) == "pbu");
}

TEST_CASE("Messages without options have the minimum Header Len", "[mh][golden]") {
    CHECK(serialize(BindingUpdate{1, bu_flag::kA, 0, {}}) ==
          Bytes{59, 1, 5, 0, 0, 0, 0, 1, 0x80, 0, 0, 0, 1, 2, 0, 0});
    CHECK(serialize(BindingAcknowledgement{0, ba_flag::kP, 9, 10, {}}) ==
          Bytes{59, 1, 6, 0, 0, 0, 0, 0x20, 0, 9, 0, 10, 1, 2, 0, 0});
    Bytes be = serialize(BindingError{2, v6("2001:db8::5"), {}});
    REQUIRE(be.size() == 24);
    CHECK(be[1] == 2);
    CHECK(be[6] == 2);
    CHECK(Bytes(be.begin() + 8, be.end()) == addr_bytes(v6("2001:db8::5")));
    CHECK(serialize(BindingRevocationIndication{1, 0x0102, revocation_flag::kP, {}}) ==
          Bytes{59, 1, 16, 0, 0, 0, 1, 1, 1, 2, 0x80, 0, 1, 2, 0, 0});
    CHECK(serialize(BindingRevocationAcknowledgement{128, 0x0102, revocation_flag::kP, {}}) ==
          Bytes{59, 1, 16, 0, 0, 0, 2, 128, 1, 2, 0x80, 0, 1, 2, 0, 0});
    CHECK(serialize(UpdateNotification{7, 1, update_notification_flag::kA, {}}) ==
          Bytes{59, 1, 19, 0, 0, 0, 0, 7, 0, 1, 0x80, 0, 1, 2, 0, 0});
    CHECK(serialize(UpdateNotificationAcknowledgement{7, 132, {}}) ==
          Bytes{59, 1, 20, 0, 0, 0, 0, 7, 132, 0, 0, 0, 1, 2, 0, 0});
    // RFC 7161 4.3.1.2 / 4.3.2.2: Sequence # (8 bits) and Reserved / I at
    // offsets 6 and 7; without options the message is its 8-octet header.
    CHECK(serialize(SubscriptionQuery{0xfe, {}}) == Bytes{59, 0, 22, 0, 0, 0, 0xfe, 0});
    CHECK(serialize(SubscriptionResponse{0xfe, subscription_response_flag::kI, {}}) ==
          Bytes{59, 0, 23, 0, 0, 0, 0xfe, 0x80});
}

TEST_CASE("RFC 7161 Subscription Query / Response with MN-ID and option 57 round trip",
          "[mh][golden]") {
    const Option mn_id = MobileNodeIdentifier{mn_id_subtype::kNai, {'m', 'n', '1'}};
    const Message query = SubscriptionQuery{7, {mn_id, HomeNetworkPrefix{64, v6("2001:db8:8000::")}}};
    const Bytes q = serialize(query);
    REQUIRE(q.size() % 8 == 0);
    CHECK(q[2] == 22);
    CHECK(q[6] == 7);
    auto parsed = parse(q);
    REQUIRE(std::holds_alternative<Parsed>(parsed));
    CHECK(std::get<Parsed>(parsed).message == query);
    CHECK(message_kind(query) == "subscription_query");

    MulticastAddressRecord record;
    record.record_type = 1;  // MODE_IS_INCLUDE
    record.multicast_address = v6("ff3e::4242:1");
    record.sources = {v6("2001:db8:200::2")};
    const Message response = SubscriptionResponse{
        7, subscription_response_flag::kI, {mn_id, ActiveMulticastSubscriptionIpv6{143, record}}};
    const Bytes r = serialize(response);
    REQUIRE(r.size() % 8 == 0);
    CHECK(r[2] == 23);
    CHECK(r[7] == 0x80);
    parsed = parse(r);
    REQUIRE(std::holds_alternative<Parsed>(parsed));
    CHECK(std::get<Parsed>(parsed).message == response);
    CHECK(std::get<SubscriptionResponse>(std::get<Parsed>(parsed).message).has_information());
    CHECK(message_kind(response) == "subscription_response");
}

TEST_CASE("RFC 7161 Subscription Query sequence numbers compare modulo 2^8", "[mh][sequence]") {
    // Section 4.3.1.2's example: after 15, 0..15 and 143..255 are not newer.
    for (int s = 0; s <= 15; ++s) CHECK_FALSE(subscription_sequence_newer(static_cast<std::uint8_t>(s), 15));
    for (int s = 143; s <= 255; ++s) CHECK_FALSE(subscription_sequence_newer(static_cast<std::uint8_t>(s), 15));
    for (int s = 16; s <= 142; ++s) CHECK(subscription_sequence_newer(static_cast<std::uint8_t>(s), 15));
}

TEST_CASE("Heartbeat response carries the Restart Counter at 4n+2", "[mh][golden]") {
    Heartbeat hb{heartbeat_flag::kR, 0x01020304, {RestartCounter{42}}};
    CHECK(serialize(hb) == Bytes{59, 2, 13, 0, 0, 0, 0, 1, 1, 2, 3, 4,  // fixed
                                 1, 0,                                // PadN to 14
                                 28, 4, 0, 0, 0, 42,                  // 14 Restart Counter
                                 1, 2, 0, 0});                        // PadN to 24
}

TEST_CASE("RFC 8885 options 65, 66, 69, 70 in a PBU with D: layouts and alignments of section 4",
          "[mh][golden][dmm]") {
    BindingUpdate bu{7, bu_flag::kA | bu_flag::kP | bu_flag::kD, 10,
                     {AnchoredPrefix{64, v6("2001:db8:a1::")}, LocalPrefix{64, v6("2001:db8:a2::")},
                      DlifLinkLocalAddress{v6("fe80::a1")}, DlifLinkLayerAddress{{2, 0, 0x5e, 0, 0xa1, 1}}}};
    const Bytes wire = serialize(bu);
    Bytes expected = concat({
        {59, 0, 5, 0, 0, 0, 0, 7, 0x82, 0x10, 0, 10},  // 0-11: A|P and D (0x0010)
        {65, 18, 0, 64},                             // 12 Anchored Prefix (8n+4)
        addr_bytes(v6("2001:db8:a1::")),
        {1, 2, 0, 0},                                // 32 PadN
        {66, 18, 0, 64},                             // 36 Local Prefix (8n+4)
        addr_bytes(v6("2001:db8:a2::")),
        {1, 4, 0, 0, 0, 0},                          // 56 PadN
        {69, 16},                                    // 62 DLIF Link-Local Address (8n+6)
        addr_bytes(v6("fe80::a1")),
        {70, 8, 0, 0, 2, 0, 0x5e, 0, 0xa1, 1},       // 80 DLIF Link-Layer Address (4n)
        {1, 4, 0, 0, 0, 0},                          // 90 PadN to 96
    });
    expected[1] = static_cast<std::uint8_t>(expected.size() / 8 - 1);
    CHECK(wire == expected);
    const auto parsed = parse(wire);
    REQUIRE(std::holds_alternative<Parsed>(parsed));
    CHECK(std::get<BindingUpdate>(std::get<Parsed>(parsed).message) == bu);
}

TEST_CASE("GRE Key option is 4n aligned, with and without key", "[mh][golden]") {
    BindingUpdate bu{1, bu_flag::kA | bu_flag::kP, 10, {GreKey{0xdeadbeef}, GreKey{}}};
    CHECK(serialize(bu) == Bytes{59, 2, 5, 0, 0, 0, 0, 1, 0x82, 0, 0, 10,
                                 33, 6, 0, 0, 0xde, 0xad, 0xbe, 0xef,  // 12
                                 33, 2, 0, 0});                        // 20
}

TEST_CASE("Every BU and BA flag survives a round trip", "[mh][flags]") {
    for (int bit = 0; bit < 16; ++bit) {
        BindingUpdate bu{0, static_cast<std::uint16_t>(1u << bit), 0, {}};
        const Bytes wire = serialize(bu);
        CHECK((wire[8] << 8 | wire[9]) == (1 << bit));
        CHECK(std::get<BindingUpdate>(expect_parsed(parse(wire)).message) == bu);
    }
    for (int bit = 0; bit < 8; ++bit) {
        BindingAcknowledgement ba{0, static_cast<std::uint8_t>(1u << bit), 0, 0, {}};
        const Bytes wire = serialize(ba);
        CHECK(wire[7] == (1 << bit));
        CHECK(std::get<BindingAcknowledgement>(expect_parsed(parse(wire)).message) == ba);
    }
    CHECK(bu_flag::kP == 0x0200);
    CHECK(bu_flag::kF == 0x0100);
    CHECK(bu_flag::kS == 0x0020);
    CHECK(bu_flag::kD == 0x0010);
    CHECK(ba_flag::kS == 0x04);
    CHECK(ba_flag::kD == 0x02);
}

TEST_CASE("Unknown options are kept and forwarded unchanged", "[mh][options]") {
    const Bytes wire = {59, 2, 5, 0, 0, 0, 0, 1, 0x82, 0, 0, 1,
                        99, 3, 0xaa, 0xbb, 0xcc,  // unknown type 99
                        23, 2, 0, 4,              // HI
                        1, 1, 0};                 // PadN
    const Parsed p = expect_parsed(parse(wire));
    const auto& bu = std::get<BindingUpdate>(p.message);
    REQUIRE(bu.options.size() == 2);
    CHECK(std::get<UnknownOption>(bu.options[0]) == UnknownOption{99, {0xaa, 0xbb, 0xcc}});
    CHECK(serialize(bu) == wire);
}

TEST_CASE("Pad1 and PadN anywhere are skipped", "[mh][options]") {
    const Bytes wire = {59, 2, 5, 0, 0, 0, 0, 1, 0x82, 0, 0, 1,
                        0,                      // 12 Pad1
                        23, 2, 0, 4,            // 13 HI
                        1, 5, 0, 0, 0, 0, 0,    // 17 PadN to 24
                        0xee, 0xee};            // not part of the MH
    // Header Len 2 = 24 octets; the extra 2 are ignored (RFC 8200 section 4.7).
    const Parsed p = expect_parsed(parse(wire));
    CHECK(p.trailing_octets == 2);
    const auto& bu = std::get<BindingUpdate>(p.message);
    REQUIRE(bu.options.size() == 1);
    CHECK(std::get<HandoffIndicator>(bu.options[0]).value == 4);
}

TEST_CASE("Parse errors carry the reaction RFC 6275 section 9.2 asks for", "[mh][errors]") {
    const Bytes good = worked_pbu_bytes();

    SECTION("fewer than 8 octets is dropped") {
        const auto e = expect_error(parse(Bytes{59, 0, 5, 0}));
        CHECK(e.kind == ParseErrorKind::kTruncated);
        CHECK(e.reaction == Reaction::kDropSilently);
    }
    SECTION("Header Len past the end is dropped") {
        Bytes b = good;
        b.resize(88);
        const auto e = expect_error(parse(b));
        CHECK(e.kind == ParseErrorKind::kTruncated);
        CHECK(e.offset == 1);
    }
    SECTION("Payload Proto other than 59 gets ICMP Parameter Problem pointing at octet 0") {
        Bytes b = good;
        b[0] = 6;
        const auto e = expect_error(parse(b));
        CHECK(e.kind == ParseErrorKind::kBadPayloadProto);
        CHECK(e.reaction == Reaction::kSendIcmpParameterProblem);
        CHECK(e.offset == 0);
    }
    SECTION("Unknown MH Type gets Binding Error status 2") {
        Bytes b = good;
        b[2] = 99;
        const auto e = expect_error(parse(b));
        CHECK(e.kind == ParseErrorKind::kUnknownMessageType);
        CHECK(e.reaction == Reaction::kSendBindingErrorUnrecognizedType);
    }
    SECTION("Header Len below the fixed part gets ICMP Parameter Problem pointing at octet 1") {
        const auto e = expect_error(parse(Bytes{59, 0, 5, 0, 0, 0, 0, 0}));
        CHECK(e.kind == ParseErrorKind::kHeaderLengthTooShort);
        CHECK(e.reaction == Reaction::kSendIcmpParameterProblem);
        CHECK(e.offset == 1);
        // Binding Error needs 24 octets.
        const auto e2 = expect_error(parse(Bytes{59, 1, 7, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0}));
        CHECK(e2.kind == ParseErrorKind::kHeaderLengthTooShort);
    }
    SECTION("An option running past the end is dropped") {
        Bytes b = good;
        b[90] = 22;  // turns the final PadN(4) into an HNP claiming 4 octets... then 18
        b[91] = 18;
        const auto e = expect_error(parse(b));
        CHECK(e.kind == ParseErrorKind::kOptionTruncated);
        CHECK(e.offset == 90);
        CHECK(e.option_type == 22);
    }
    SECTION("A known option with a wrong Length is dropped") {
        Bytes b = good;
        b[90] = 23;  // HI with Length 4
        const auto e = expect_error(parse(b));
        CHECK(e.kind == ParseErrorKind::kOptionBadLength);
        CHECK(e.option_type == 23);
        CHECK(e.reaction == Reaction::kDropSilently);
    }
    SECTION("HNP with prefix length over 128 is a bad value") {
        Bytes b = good;
        b[15] = 129;
        const auto e = expect_error(parse(b));
        CHECK(e.kind == ParseErrorKind::kOptionBadValue);
        CHECK(e.offset == 12);
    }
    SECTION("An IPv4 prefix length over 32 is a bad value (found by the fuzzer)") {
        const Bytes b = {0x3b, 0x02, 0x05, 0x00, 0x00, 0x00, 0x00, 0x00, 0x82, 0x00, 0x00, 0x00,
                         0x24, 0x06, 0xb8, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x02, 0x00, 0x00};
        const auto e = expect_error(parse(b));
        CHECK(e.kind == ParseErrorKind::kOptionBadValue);
        CHECK(e.option_type == 36);
    }
    SECTION("An NAI with a NUL octet is a bad value in strict mode") {
        Bytes b = good;
        b[80] = 0;
        const auto e = expect_error(parse(b));
        CHECK(e.kind == ParseErrorKind::kOptionBadValue);
        CHECK(e.option_type == 8);
    }
    SECTION("Binding Revocation with B.R. Type 0 is dropped") {
        Bytes b = serialize(BindingRevocationIndication{1, 1, 0, {}});
        b[6] = 0;
        CHECK(expect_error(parse(b)).kind == ParseErrorKind::kUnknownRevocationType);
    }
    SECTION("A bad checksum is dropped") {
        Bytes b = good;
        const auto src = v6("2001:db8::1"), dst = v6("2001:db8::2");
        fill_checksum(b, src, dst);
        CHECK(std::holds_alternative<Parsed>(parse_with_checksum(b, src, dst)));
        b[20] ^= 1;
        const auto e = expect_error(parse_with_checksum(b, src, dst));
        CHECK(e.kind == ParseErrorKind::kBadChecksum);
        CHECK(e.reaction == Reaction::kDropSilently);
    }
}

TEST_CASE("Checksum matches a hand-computed value and detects any flipped bit", "[mh][checksum]") {
    // 16-octet BU, src ::1, dst ::2. Sum of 16-bit words:
    // pseudo: 0x0001 + 0x0002 + length 0x0010 + next header 0x0087 = 0x009a
    // MH: 0x3b01 + 0x0500 + (checksum 0) + 0x0001 + 0x8000 + 0x0000 + 0x0102 + 0x0000 = 0xc104
    // total 0xc19e, complement 0x3e61.
    Bytes b = serialize(BindingUpdate{1, bu_flag::kA, 0, {}});
    const auto src = v6("::1"), dst = v6("::2");
    CHECK(compute_checksum(b, src, dst) == 0x3e61);
    fill_checksum(b, src, dst);
    CHECK(verify_checksum(b, src, dst));
    for (std::size_t i = 0; i < b.size() * 8; ++i) {
        Bytes c = b;
        c[i / 8] ^= static_cast<std::uint8_t>(1u << (i % 8));
        CHECK_FALSE(verify_checksum(c, src, dst));
    }
}

TEST_CASE("PBU validation reports missing options in RFC 5213 section 5.3.1 order",
          "[mh][validation]") {
    BindingUpdate pbu = worked_pbu();
    CHECK_FALSE(check_proxy_binding_update(pbu).has_value());

    auto without = [](BindingUpdate m, auto pred) {
        std::erase_if(m.options, pred);
        return m;
    };
    auto is = [](auto tag) {
        return [](const Option& o) { return std::holds_alternative<decltype(tag)>(o); };
    };
    const auto no_att = without(pbu, is(AccessTechnologyType{}));
    CHECK(check_proxy_binding_update(no_att) == status::kMissingAccessTechTypeOption);
    const auto no_hi = without(no_att, is(HandoffIndicator{}));
    CHECK(check_proxy_binding_update(no_hi) == status::kMissingHandoffIndicatorOption);
    const auto no_hnp = without(no_hi, is(HomeNetworkPrefix{}));
    CHECK(check_proxy_binding_update(no_hnp) == status::kMissingHomeNetworkPrefixOption);
    const auto no_id = without(no_hnp, is(MobileNodeIdentifier{}));
    CHECK(check_proxy_binding_update(no_id) == status::kMissingMnIdentifierOption);
    CHECK(mn_identifier_missing(no_id));

    SECTION("an IPv4 HoA Request stands in for the HNP (RFC 5844 section 3.1.2)") {
        auto v4only = without(pbu, is(HomeNetworkPrefix{}));
        v4only.options.push_back(Ipv4HomeAddressRequest{0, {}});
        CHECK_FALSE(check_proxy_binding_update(v4only).has_value());
    }
    SECTION("an ALL_ZERO HNP must be the only HNP") {
        auto two = pbu;
        two.options.push_back(HomeNetworkPrefix{0, {}});
        CHECK(check_proxy_binding_update(two) == status::kReasonUnspecified);
    }
}

TEST_CASE("Sequence numbers compare modulo 2^16 (RFC 6275 section 9.5.1)", "[mh][sequence]") {
    // last = 15: 0..15 and 32783..65535 are not newer.
    for (std::uint32_t v : {0u, 15u, 32783u, 65535u}) {
        CHECK_FALSE(sequence_newer(static_cast<std::uint16_t>(v), 15));
    }
    for (std::uint32_t v : {16u, 100u, 32782u}) CHECK(sequence_newer(static_cast<std::uint16_t>(v), 15));
    CHECK(sequence_newer(0, 65535));
}

TEST_CASE("Timestamp is 48-bit seconds and 16-bit fraction (RFC 5213 section 8.8)",
          "[mh][timestamp]") {
    CHECK(make_timestamp(1700000000, 500000000) == ((1700000000ull << 16) | 0x8000));
    CHECK(timestamp_seconds(make_timestamp(1700000000, 999999999)) == 1700000000);
    // 300 ms is about 19661 fraction units (PROTOCOL.md 2.3).
    CHECK((make_timestamp(0, 300000000) & 0xffff) == 19660);
}

TEST_CASE("Serialize reports fields it cannot encode", "[mh][errors]") {
    SerializeError err{};
    CHECK(serialize(BindingUpdate{0, 0, 0, {HomeNetworkPrefix{129, {}}}}, {}, &err).empty());
    CHECK(err == SerializeError::kBadField);
    CHECK(serialize(BindingUpdate{0, 0, 0, {MobileNodeIdentifier{1, Bytes(255, 'a')}}}, {}, &err)
              .empty());
    CHECK(err == SerializeError::kOptionTooLong);
    BindingUpdate big{0, 0, 0, {}};
    for (int i = 0; i < 120; ++i) big.options.push_back(HomeNetworkPrefix{64, {}});
    CHECK(serialize(big, {}, &err).empty());
    CHECK(err == SerializeError::kMessageTooLong);
    std::array<std::uint8_t, 40> small{};
    const auto r = serialize(Message{worked_pbu()}, std::span<std::uint8_t>(small));
    CHECK(std::get<SerializeError>(r) == SerializeError::kBufferTooSmall);
    CHECK(std::get<std::size_t>(serialized_size(Message{worked_pbu()})) == 96);
    CHECK(serialize(BindingUpdate{0, 0, 0, {UnknownOption{1, {0}}}}, {}, &err).empty());
}

TEST_CASE("RFC 4285 authentication option: known answer, verify, tamper", "[mh][auth]") {
    const Bytes key = [] {
        Bytes k;
        for (int i = 1; i <= 20; ++i) k.push_back(static_cast<std::uint8_t>(i));
        return k;
    }();
    const auto coa = v6("2001:db8::1");
    const Ipv6Address hoa{};
    BindingUpdate pbu{7, bu_flag::kA | bu_flag::kP, 100,
                      {MobileNodeIdentifier{1, text_bytes("mn1@example.org")},
                       MobilityMessageAuthentication{1, 0x1000, Bytes(12, 0)}}};
    Bytes wire = serialize(pbu);
    REQUIRE(wire.size() == 56);
    check_alignment(wire, 12);
    REQUIRE(sign_authentication_option(wire, key, coa, hoa));
    // HMAC-SHA1-96 computed independently with Python's hmac module.
    const Bytes expected = {0xb8, 0x8c, 0xe6, 0x2c, 0xa4, 0x46, 0x94, 0x7b, 0x82, 0x7d, 0x92, 0x2d};
    CHECK(Bytes(wire.begin() + 40, wire.begin() + 52) == expected);
    CHECK(verify_authentication_option(wire, key, coa, hoa));
    fill_checksum(wire, coa, v6("2001:db8::2"));  // checksum is not covered
    CHECK(verify_authentication_option(wire, key, coa, hoa));
    Bytes tampered = wire;
    tampered[10] ^= 1;
    CHECK_FALSE(verify_authentication_option(tampered, key, coa, hoa));
    CHECK_FALSE(verify_authentication_option(wire, key, v6("2001:db8::9"), hoa));
    CHECK_FALSE(verify_authentication_option(serialize(worked_pbu()), key, coa, hoa));
}

namespace {

struct Random {
    std::mt19937_64 rng;
    std::uint64_t u(std::uint64_t max) {
        return std::uniform_int_distribution<std::uint64_t>(0, max)(rng);
    }
    std::uint8_t u8() { return static_cast<std::uint8_t>(u(255)); }
    Bytes bytes(std::size_t max) {
        Bytes b(u(max));
        for (auto& v : b) v = u8();
        return b;
    }
    Ipv6Address a6() {
        Ipv6Address a;
        for (auto& v : a) v = u8();
        return a;
    }
    Ipv4Address a4() {
        Ipv4Address a;
        for (auto& v : a) v = u8();
        return a;
    }
    MulticastAddressRecord record() {
        MulticastAddressRecord r;
        r.record_type = static_cast<std::uint8_t>(1 + u(5));
        r.multicast_address = a6();
        r.sources.resize(u(3));
        for (auto& s : r.sources) s = a6();
        r.auxiliary_data.resize(4 * u(2));
        for (auto& v : r.auxiliary_data) v = u8();
        return r;
    }
    Option option() {
        switch (u(33)) {
            case 0: return BindingRefreshAdvice{static_cast<std::uint16_t>(u(65535))};
            case 1: return AlternateCareOfAddress{a6()};
            case 2: return MobileNetworkPrefix{static_cast<std::uint8_t>(u(128)), a6()};
            case 3: {
                Bytes id = bytes(60);
                for (auto& c : id) c = static_cast<std::uint8_t>('a' + c % 26);
                return MobileNodeIdentifier{static_cast<std::uint8_t>(1 + u(7)), id};
            }
            case 4: return MobilityMessageAuthentication{u8(), static_cast<std::uint32_t>(u(~0u)), bytes(20)};
            case 5: return MobilityMessageReplayProtection{u(~0ull)};
            case 6: return VendorSpecific{static_cast<std::uint32_t>(u(~0u)), u8(), bytes(30)};
            case 7: return HomeNetworkPrefix{static_cast<std::uint8_t>(u(128)), a6()};
            case 8: return HandoffIndicator{u8()};
            case 9: return AccessTechnologyType{u8()};
            case 10: {
                Bytes id = bytes(15);
                id.push_back(u8());
                return MobileNodeLinkLayerIdentifier{id};
            }
            case 11: return LinkLocalAddress{a6()};
            case 12: return Timestamp{u(~0ull)};
            case 13: return RestartCounter{static_cast<std::uint32_t>(u(~0u))};
            case 14: return Ipv4HomeAddress{static_cast<std::uint8_t>(u(32)), u(1) == 1, a4()};
            case 15: return Ipv4AddressAcknowledgement{u8(), static_cast<std::uint8_t>(u(32)), a4()};
            case 16: return NatDetection{u(1) == 1, static_cast<std::uint32_t>(u(~0u))};
            case 17: return Ipv4CareOfAddress{a4()};
            case 18: {
                GreKey k;
                if (u(1)) k.key = static_cast<std::uint32_t>(u(~0u));
                return k;
            }
            case 19: return Ipv4HomeAddressRequest{static_cast<std::uint8_t>(u(32)), a4()};
            case 20: return Ipv4HomeAddressReply{u8(), static_cast<std::uint8_t>(u(32)), a4()};
            case 21: return Ipv4DefaultRouterAddress{a4()};
            case 22: return Ipv4DhcpSupportMode{u(1) == 1};
            case 23: return MobileNodeGroupIdentifier{u8(), static_cast<std::uint32_t>(u(~0u))};
            case 24: {
                ActiveMulticastSubscriptionIpv4 o;
                o.igmp_type = std::array<std::uint8_t, 3>{0x12, 0x16, 0x22}[u(2)];
                o.group = a4();
                if (o.igmp_type == 0x22) {
                    o.record_type = static_cast<std::uint8_t>(1 + u(5));
                    o.sources.resize(u(3));
                    for (auto& s : o.sources) s = a4();
                    o.auxiliary_data.resize(4 * u(1));
                }
                return o;
            }
            case 25: {
                ActiveMulticastSubscriptionIpv6 o;
                if (u(1)) {
                    o.mld_type = 131;
                    o.record.multicast_address = a6();
                } else {
                    o.record = record();
                }
                return o;
            }
            case 26: {
                MulticastSubscription o;
                o.records.resize(u(2));
                for (auto& r : o.records) r = record();
                return o;
            }
            case 27: return PreviousMaar{static_cast<std::uint8_t>(u(128)), a6(), a6()};
            case 28: return ServingMaar{a6()};
            case 29: return AnchoredPrefix{static_cast<std::uint8_t>(u(128)), a6()};
            case 30: return LocalPrefix{static_cast<std::uint8_t>(u(128)), a6()};
            case 31: return DlifLinkLocalAddress{a6()};
            case 32: {
                Bytes a = bytes(20);
                a.push_back(u8());  // never empty
                return DlifLinkLayerAddress{a};
            }
            default: return UnknownOption{static_cast<std::uint8_t>(100 + u(90)), bytes(40)};
        }
    }
    Message message() {
        Options opts;
        const auto n = u(8);
        for (std::uint64_t i = 0; i < n; ++i) opts.push_back(option());
        const auto s16 = static_cast<std::uint16_t>(u(65535));
        switch (u(9)) {
            case 0: return BindingUpdate{s16, static_cast<std::uint16_t>(u(65535)), static_cast<std::uint16_t>(u(65535)), opts};
            case 1: return BindingAcknowledgement{u8(), u8(), s16, static_cast<std::uint16_t>(u(65535)), opts};
            case 2: return BindingError{u8(), a6(), opts};
            case 3: return Heartbeat{u8(), static_cast<std::uint32_t>(u(~0u)), opts};
            case 4: return BindingRevocationIndication{u8(), s16, u8(), opts};
            case 5: return BindingRevocationAcknowledgement{u8(), s16, u8(), opts};
            case 6: return UpdateNotification{s16, static_cast<std::uint16_t>(u(65535)), u8(), opts};
            case 7: return SubscriptionQuery{u8(), opts};
            case 8: return SubscriptionResponse{u8(), u8(), opts};
            default: return UpdateNotificationAcknowledgement{s16, u8(), opts};
        }
    }
};

}  // namespace

TEST_CASE("Random messages round trip and every option meets its alignment", "[mh][roundtrip]") {
    Random random{std::mt19937_64(20261122)};
    int encoded = 0;
    for (int i = 0; i < 5000; ++i) {
        const Message m = random.message();
        SerializeError err{};
        const Bytes wire = serialize(m, {}, &err);
        if (wire.empty()) {
            // Only a message over 2048 octets may fail (random sizes can reach it).
            CHECK(err == SerializeError::kMessageTooLong);
            continue;
        }
        ++encoded;
        INFO("message " << i << " kind " << message_kind(m));
        CHECK(wire.size() % 8 == 0);
        CHECK(wire[1] == wire.size() / 8 - 1);
        const bool eight = std::holds_alternative<SubscriptionQuery>(m) ||
                           std::holds_alternative<SubscriptionResponse>(m);
        check_alignment(wire, std::holds_alternative<BindingError>(m) ? 24 : eight ? 8 : 12);
        const Parsed p = expect_parsed(parse(wire));
        CHECK(p.message == m);
        CHECK(p.length == wire.size());
    }
    CHECK(encoded > 4900);
}

TEST_CASE("Every truncation of a valid message yields an error, never a crash", "[mh][errors]") {
    Random random{std::mt19937_64(7)};
    for (int i = 0; i < 300; ++i) {
        const Bytes wire = serialize(random.message());
        if (wire.empty()) continue;
        for (std::size_t n = 0; n < wire.size(); ++n) {
            const auto r = parse(std::span<const std::uint8_t>(wire.data(), n));
            CHECK(std::holds_alternative<ParseError>(r));
        }
    }
}

TEST_CASE("Configured draft-asaeda code points are used on the wire", "[mh][extension]") {
    MulticastAddressRecord rec{4, v6("ff3e::8000:1"), {v6("2001:db8::100")}, {}};
    BindingUpdate pbu{1, static_cast<std::uint16_t>(bu_flag::kA | bu_flag::kP | 0x0008), 10,
                      {MulticastSubscription{{rec}}}};
    const Bytes wire = serialize(pbu);
    CHECK(wire[12] == 200);  // default option type, 4n
    CHECK(wire[13] == 2 + 20 + 16);
    SerializeConfig sc;
    sc.code_points.multicast_subscription_option_type = 210;
    const Bytes wire210 = serialize(pbu, sc);
    CHECK(wire210[12] == 210);
    // Parsed with the wrong configuration the option is just unknown.
    const Parsed parsed_default = expect_parsed(parse(wire210));
    const auto& unknown = std::get<BindingUpdate>(parsed_default.message);
    CHECK(std::holds_alternative<UnknownOption>(unknown.options[0]));
    ParseConfig pc;
    pc.code_points.multicast_subscription_option_type = 210;
    CHECK(std::get<BindingUpdate>(expect_parsed(parse(wire210, pc)).message) == pbu);
}
