// MLD codec: golden vectors built by hand from the RFC 2710 section 3 and
// RFC 3810 section 5 figures, encodings, round trips, every parse error.
#include <catch2/catch.hpp>

#include <cstdint>
#include <random>
#include <vector>

#include "pmip/mcast/mld_codec.hpp"
#include "pmip/mcast/mld_socket.hpp"

using namespace pmip;
using namespace pmip::mcast;

namespace {

Ipv6Address addr(const char* text) {
    return *parse_address(text);
}

std::vector<std::uint8_t> bytes_of(const Ipv6Address& a) {
    return {a.begin(), a.end()};
}

std::vector<std::uint8_t> cat(std::initializer_list<std::vector<std::uint8_t>> parts) {
    std::vector<std::uint8_t> out;
    for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
    return out;
}

Parsed parse_ok(const std::vector<std::uint8_t>& wire, const ParseConfig& config = {}) {
    auto r = parse(wire, config);
    if (const auto* e = std::get_if<ParseError>(&r)) {
        FAIL("parse error " << to_string(e->kind) << " at " << e->offset);
    }
    return std::get<Parsed>(r);
}

ParseError parse_err(const std::vector<std::uint8_t>& wire, const ParseConfig& config = {}) {
    auto r = parse(wire, config);
    REQUIRE(std::holds_alternative<ParseError>(r));
    return std::get<ParseError>(r);
}

}  // namespace

TEST_CASE("MLDv1 General Query golden vector (RFC 2710 section 3)", "[mcast][codec]") {
    const std::vector<std::uint8_t> wire =
        cat({{0x82, 0x00, 0x00, 0x00, 0x27, 0x10, 0x00, 0x00}, std::vector<std::uint8_t>(16, 0)});
    const MldMessage m = Mldv1Query{10000, {}};
    CHECK(serialize(m) == wire);
    const auto p = parse_ok(wire);
    CHECK(std::get<Mldv1Query>(p.message) == std::get<Mldv1Query>(m));
    CHECK(p.length == 24);
}

TEST_CASE("MLDv1 Report golden vector with checksum", "[mcast][codec]") {
    const auto group = addr("ff05::1:3");
    const auto wire = cat({{0x83, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00}, bytes_of(group)});
    auto out = serialize(Mldv1Report{group});
    CHECK(out == wire);
    fill_checksum(out, addr("fe80::1"), group);
    // Computed independently (Python, RFC 1071 sum over the pseudo-header).
    CHECK(out[2] == 0x80);
    CHECK(out[3] == 0x17);
    CHECK(verify_checksum(out, addr("fe80::1"), group));
    CHECK(std::holds_alternative<Parsed>(parse_with_checksum(out, addr("fe80::1"), group)));
    out[10] ^= 0x01;
    const auto bad = parse_with_checksum(out, addr("fe80::1"), group);
    REQUIRE(std::holds_alternative<ParseError>(bad));
    CHECK(std::get<ParseError>(bad).kind == ParseErrorKind::kBadChecksum);
}

TEST_CASE("MLDv1 Done golden vector", "[mcast][codec]") {
    const auto group = addr("ff05::1:3");
    const auto wire = cat({{0x84, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00}, bytes_of(group)});
    CHECK(serialize(Mldv1Done{group}) == wire);
    CHECK(std::get<Mldv1Done>(parse_ok(wire).message).multicast_address == group);
}

TEST_CASE("MLDv1 messages longer than 24 octets: the rest is ignored", "[mcast][codec]") {
    auto wire = cat(
        {{0x83, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00}, bytes_of(addr("ff05::1")), {1, 2, 3}});
    const auto p = parse_ok(wire);
    CHECK(p.length == 24);
    CHECK(p.trailing_octets == 3);
}

TEST_CASE("MLDv2 Multicast Address and Source Specific Query golden vector (RFC 3810 5.1)",
          "[mcast][codec]") {
    const auto group = addr("ff3e::8000:1");
    const auto s1 = addr("2001:db8::1");
    const auto s2 = addr("2001:db8::2");
    const auto wire = cat({{0x82, 0x00, 0x00, 0x00, 0x03, 0xe8, 0x00, 0x00},
                           bytes_of(group),
                           {0x0a, 0x7d, 0x00, 0x02},
                           bytes_of(s1),
                           bytes_of(s2)});
    Mldv2Query q;
    q.max_response_code = 1000;
    q.multicast_address = group;
    q.suppress_router_processing = true;
    q.querier_robustness = 2;
    q.querier_query_interval_code = 125;
    q.sources = {s1, s2};
    CHECK(serialize(q) == wire);
    const auto p = parse_ok(wire);
    CHECK(std::get<Mldv2Query>(p.message) == q);
    CHECK(p.length == 28 + 32);
}

TEST_CASE("MLDv2 General Query golden vector", "[mcast][codec]") {
    const auto wire = cat({{0x82, 0x00, 0x00, 0x00, 0x27, 0x10, 0x00, 0x00},
                           std::vector<std::uint8_t>(16, 0),
                           {0x02, 0x7d, 0x00, 0x00}});
    Mldv2Query q;
    q.max_response_code = encode_max_response_delay(10000);
    q.querier_robustness = 2;
    q.querier_query_interval_code = encode_qqic(125);
    CHECK(serialize(q) == wire);
    CHECK(std::get<Mldv2Query>(parse_ok(wire).message) == q);
}

TEST_CASE("MLDv2 Report golden vector with TO_EX and ALLOW + aux data (RFC 3810 5.2)",
          "[mcast][codec]") {
    const auto g1 = addr("ff02::fb");
    const auto g2 = addr("ff3e::8000:1");
    const auto s = addr("2001:db8::1");
    const auto wire = cat({{0x8f, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02},
                           {0x04, 0x00, 0x00, 0x00},
                           bytes_of(g1),
                           {0x05, 0x01, 0x00, 0x01},
                           bytes_of(g2),
                           bytes_of(s),
                           {0xde, 0xad, 0xbe, 0xef}});
    Mldv2Report r;
    r.records.push_back({RecordType::kChangeToExcludeMode, g1, {}, {}});
    r.records.push_back({RecordType::kAllowNewSources, g2, {s}, {0xde, 0xad, 0xbe, 0xef}});
    CHECK(serialize(r) == wire);
    CHECK(std::get<Mldv2Report>(parse_ok(wire).message) == r);
}

TEST_CASE("MLDv2 Report checksum golden vector", "[mcast][codec]") {
    Mldv2Report r;
    r.records.push_back({RecordType::kChangeToExcludeMode, addr("ff02::fb"), {}, {}});
    auto out = serialize(r);
    fill_checksum(out, addr("fe80::211:22ff:fe33:4455"), kAllMldv2Routers);
    CHECK(out[2] == 0x07);
    CHECK(out[3] == 0x77);
}

TEST_CASE("every record type round-trips", "[mcast][codec]") {
    for (std::uint8_t t = 1; t <= 6; ++t) {
        Mldv2Report r;
        r.records.push_back(
            {static_cast<RecordType>(t), addr("ff3e::1"), {addr("2001:db8::9")}, {}});
        const auto wire = serialize(r);
        CHECK(wire[8] == t);
        CHECK(std::get<Mldv2Report>(parse_ok(wire).message) == r);
    }
    CHECK(to_string(RecordType::kModeIsInclude) == "IS_IN");
    CHECK(to_string(RecordType::kBlockOldSources) == "BLOCK");
}

TEST_CASE("Maximum Response Code encoding at the boundaries (RFC 3810 5.1.3)", "[mcast][codec]") {
    CHECK(encode_max_response_delay(0) == 0);
    CHECK(encode_max_response_delay(32767) == 0x7fff);
    CHECK(decode_max_response_code(0x7fff) == 32767);
    CHECK(encode_max_response_delay(32768) == 0x8000);
    CHECK(decode_max_response_code(0x8000) == 32768);
    // Next representable after 32768 is 32776 (mantissa step 8 at exp 0).
    CHECK(encode_max_response_delay(32775) == 0x8000);
    CHECK(encode_max_response_delay(32776) == 0x8001);
    CHECK(decode_max_response_code(0x8fff) == 65528);
    CHECK(encode_max_response_delay(65536) == 0x9000);
    CHECK(decode_max_response_code(0x9000) == 65536);
    CHECK(decode_max_response_code(0xffff) == 8387584);
    CHECK(encode_max_response_delay(8387584) == 0xffff);
    CHECK(encode_max_response_delay(0xffffffff) == 0xffff);
    for (std::uint32_t code = 0; code <= 0xffff; ++code) {
        REQUIRE(encode_max_response_delay(
                    decode_max_response_code(static_cast<std::uint16_t>(code))) == code);
    }
}

TEST_CASE("QQIC encoding at the boundaries (RFC 3810 5.1.9)", "[mcast][codec]") {
    CHECK(encode_qqic(127) == 127);
    CHECK(encode_qqic(128) == 0x80);
    CHECK(decode_qqic(0x80) == 128);
    CHECK(encode_qqic(135) == 0x80);
    CHECK(encode_qqic(136) == 0x81);
    CHECK(decode_qqic(0xff) == 31744);
    CHECK(encode_qqic(31744) == 0xff);
    CHECK(encode_qqic(1000000) == 0xff);
    for (unsigned code = 0; code <= 0xff; ++code) {
        REQUIRE(encode_qqic(decode_qqic(static_cast<std::uint8_t>(code))) == code);
    }
}

TEST_CASE("round trips over random messages", "[mcast][codec]") {
    std::mt19937 rng(4605);
    auto rand_addr = [&] {
        Ipv6Address a{};
        for (auto& b : a) b = static_cast<std::uint8_t>(rng());
        return a;
    };
    for (int i = 0; i < 500; ++i) {
        MldMessage m;
        switch (rng() % 5) {
            case 0:
                m = Mldv1Query{static_cast<std::uint16_t>(rng()), rand_addr()};
                break;
            case 1:
                m = Mldv1Report{rand_addr()};
                break;
            case 2:
                m = Mldv1Done{rand_addr()};
                break;
            case 3: {
                Mldv2Query q;
                q.max_response_code = static_cast<std::uint16_t>(rng());
                q.multicast_address = rand_addr();
                q.suppress_router_processing = rng() % 2;
                q.querier_robustness = static_cast<std::uint8_t>(rng() % 8);
                q.querier_query_interval_code = static_cast<std::uint8_t>(rng());
                for (unsigned n = rng() % 5; n > 0; --n) q.sources.push_back(rand_addr());
                m = q;
                break;
            }
            default: {
                Mldv2Report r;
                for (unsigned k = rng() % 4; k > 0; --k) {
                    MulticastAddressRecord rec;
                    rec.type = static_cast<RecordType>(1 + rng() % 6);
                    rec.multicast_address = rand_addr();
                    for (unsigned n = rng() % 4; n > 0; --n) rec.sources.push_back(rand_addr());
                    for (unsigned n = (rng() % 3) * 4; n > 0; --n)
                        rec.aux_data.push_back(static_cast<std::uint8_t>(rng()));
                    r.records.push_back(rec);
                }
                m = r;
                break;
            }
        }
        const auto wire = serialize(m);
        REQUIRE(!wire.empty());
        REQUIRE(std::get<std::size_t>(serialized_size(m)) == wire.size());
        const auto p = parse_ok(wire);
        REQUIRE(p.message == m);
        REQUIRE(p.length == wire.size());
        REQUIRE(p.trailing_octets == 0);
    }
}

TEST_CASE("parse is total on random bytes and truncations", "[mcast][codec]") {
    std::mt19937 rng(3810);
    for (int i = 0; i < 20000; ++i) {
        std::vector<std::uint8_t> wire(rng() % 80);
        for (auto& b : wire) b = static_cast<std::uint8_t>(rng());
        if (!wire.empty())
            wire[0] = std::array<std::uint8_t, 5>{130, 131, 132, 143, 1}[rng() % 5];
        (void)parse(wire);
        (void)parse(wire, ParseConfig{true});
    }
    Mldv2Report r;
    r.records.push_back(
        {RecordType::kModeIsInclude, addr("ff3e::1"), {addr("2001:db8::1")}, {1, 2, 3, 4}});
    const auto wire = serialize(r);
    for (std::size_t n = 0; n < wire.size(); ++n) {
        CHECK(std::holds_alternative<ParseError>(parse(std::span(wire).first(n))));
    }
}

TEST_CASE("parse errors", "[mcast][codec]") {
    SECTION("empty and short messages are truncated") {
        CHECK(parse_err({}).kind == ParseErrorKind::kTruncated);
        CHECK(parse_err({0x83, 0, 0, 0}).kind == ParseErrorKind::kTruncated);
        CHECK(parse_err(std::vector<std::uint8_t>(23, 0x82)).kind == ParseErrorKind::kTruncated);
        CHECK(parse_err({0x8f, 0, 0, 0, 0, 0, 0}).kind == ParseErrorKind::kTruncated);
    }
    SECTION("not an MLD type") {
        CHECK(parse_err({0x80, 0, 0, 0}).kind == ParseErrorKind::kNotMld);
    }
    SECTION("a query of 25 to 27 octets has a bad length (RFC 3810 8.1)") {
        for (std::size_t n : {25u, 26u, 27u}) {
            std::vector<std::uint8_t> wire(n, 0);
            wire[0] = 0x82;
            CHECK(parse_err(wire).kind == ParseErrorKind::kBadLength);
        }
    }
    SECTION("query source count past end") {
        Mldv2Query q;
        q.sources = {addr("2001:db8::1")};
        auto wire = serialize(q);
        wire[27] = 2;
        const auto e = parse_err(wire);
        CHECK(e.kind == ParseErrorKind::kSourceCountPastEnd);
        CHECK(e.offset == 26);
    }
    SECTION("record count past end") {
        Mldv2Report r;
        r.records.push_back({RecordType::kModeIsExclude, addr("ff3e::1"), {}, {}});
        auto wire = serialize(r);
        wire[7] = 2;
        const auto e = parse_err(wire);
        CHECK(e.kind == ParseErrorKind::kRecordPastEnd);
        CHECK(e.offset == 28);
    }
    SECTION("record source count past end") {
        Mldv2Report r;
        r.records.push_back(
            {RecordType::kModeIsInclude, addr("ff3e::1"), {addr("2001:db8::1")}, {}});
        auto wire = serialize(r);
        wire[11] = 2;
        CHECK(parse_err(wire).kind == ParseErrorKind::kSourceCountPastEnd);
    }
    SECTION("aux data past end") {
        Mldv2Report r;
        r.records.push_back(
            {RecordType::kModeIsInclude, addr("ff3e::1"), {addr("2001:db8::1")}, {}});
        auto wire = serialize(r);
        wire[9] = 1;
        const auto e = parse_err(wire);
        CHECK(e.kind == ParseErrorKind::kAuxDataPastEnd);
        CHECK(e.offset == 9);
    }
    SECTION("bad record type, strict; skipped when asked (RFC 3810 5.2.12)") {
        Mldv2Report r;
        r.records.push_back(
            {RecordType::kModeIsInclude, addr("ff3e::1"), {addr("2001:db8::1")}, {}});
        r.records.push_back({RecordType::kModeIsExclude, addr("ff3e::2"), {}, {}});
        auto wire = serialize(r);
        wire[8] = 7;
        const auto e = parse_err(wire);
        CHECK(e.kind == ParseErrorKind::kBadRecordType);
        CHECK(e.offset == 8);
        const auto p = parse_ok(wire, ParseConfig{true});
        CHECK(p.skipped_records == 1);
        const auto& rep = std::get<Mldv2Report>(p.message);
        REQUIRE(rep.records.size() == 1);
        CHECK(rep.records[0].multicast_address == addr("ff3e::2"));
        wire[8] = 0;
        CHECK(parse_err(wire).kind == ParseErrorKind::kBadRecordType);
    }
    SECTION("bad checksum") {
        auto wire = serialize(Mldv1Report{addr("ff3e::1")});
        CHECK(parse_with_checksum(wire, addr("fe80::1"), addr("ff3e::1")).index() == 1);
        CHECK(
            std::get<ParseError>(parse_with_checksum({}, addr("fe80::1"), addr("ff3e::1"))).kind ==
            ParseErrorKind::kTruncated);
    }
    CHECK(to_string(ParseErrorKind::kAuxDataPastEnd) == "aux data past end");
}

TEST_CASE("serialize errors", "[mcast][codec]") {
    SerializeError e{};
    Mldv2Query q;
    q.querier_robustness = 8;
    CHECK(serialize(q, &e).empty());
    CHECK(e == SerializeError::kBadField);
    Mldv2Report r;
    r.records.push_back({RecordType::kModeIsInclude, addr("ff3e::1"), {}, {1, 2, 3}});
    CHECK(serialize(r, &e).empty());
    CHECK(e == SerializeError::kBadAuxData);
    std::array<std::uint8_t, 23> small{};
    CHECK(std::get<SerializeError>(serialize(Mldv1Report{}, small)) ==
          SerializeError::kBufferTooSmall);
    Mldv2Query big;
    big.sources.resize(0x10000);
    CHECK(std::get<SerializeError>(serialized_size(big)) == SerializeError::kTooManySources);
}

TEST_CASE("Router Alert hop-by-hop header (RFC 2711, RFC 3810 section 5)", "[mcast][codec]") {
    const std::array<std::uint8_t, 8> expected{0x3a, 0x00, 0x05, 0x02, 0x00, 0x00, 0x01, 0x00};
    CHECK(router_alert_hop_by_hop() == expected);
    CHECK(kRouterAlertHopByHop == expected);
    CHECK(has_mld_router_alert(expected));
    auto rsvp = expected;
    rsvp[5] = 1;  // value 1 = RSVP
    CHECK_FALSE(has_mld_router_alert(rsvp));
    const std::array<std::uint8_t, 8> padded{0x3a, 0x00, 0x00, 0x00,
                                             0x05, 0x02, 0x00, 0x00};  // Pad1 x2
    CHECK(has_mld_router_alert(padded));
    const std::array<std::uint8_t, 8> none{0x3a, 0x00, 0x01, 0x04, 0x00, 0x00, 0x00, 0x00};
    CHECK_FALSE(has_mld_router_alert(none));
    const std::array<std::uint8_t, 8> overrun{0x3a, 0x00, 0x01, 0x09, 0x00, 0x00, 0x00, 0x00};
    CHECK_FALSE(has_mld_router_alert(overrun));
    CHECK_FALSE(has_mld_router_alert(std::span(expected).first(6)));
    CHECK(query_destination(kUnspecified) == kAllNodes);
    CHECK(query_destination(addr("ff3e::1")) == addr("ff3e::1"));
}

// ---- parse_captured_mld: whole IPv6 packets from magd's AF_PACKET capture ----

namespace {
// Built by scapy (independent of our codec): IPv6(src=fe80::a1, dst=ff02::16,
// hlim=1) / IPv6ExtHdrHopByHop(RouterAlert) / ICMPv6MLReport2(TO_EX ff3e::4242:1).
const std::vector<std::uint8_t> kScapyReport = {
    0x60, 0x00, 0x00, 0x00, 0x00, 0x24, 0x00, 0x01, 0xfe, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xa1, 0xff, 0x02, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x16, 0x3a, 0x00, 0x05, 0x02, 0x00,
    0x00, 0x01, 0x00, 0x8f, 0x00, 0x2c, 0xeb, 0x00, 0x00, 0x00, 0x01, 0x04, 0x00, 0x00, 0x00,
    0xff, 0x3e, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x42, 0x42, 0x00,
    0x01};
}  // namespace

TEST_CASE("parse_captured_mld: a scapy-built MLDv2 Report after Hop-by-Hop", "[mcast][codec]") {
    const auto m = parse_captured_mld(kScapyReport, 7);
    REQUIRE(m);
    CHECK(m->ifindex == 7);
    CHECK(m->source == *parse_address("fe80::a1"));
    CHECK(m->destination == *parse_address("ff02::16"));
    CHECK(m->hop_limit == 1);
    CHECK(m->router_alert);
    REQUIRE(m->icmp.size() == 28);
    const ParseResult r = parse_with_checksum(m->icmp, m->source, m->destination);
    REQUIRE(std::holds_alternative<Parsed>(r));
    const auto& report = std::get<Mldv2Report>(std::get<Parsed>(r).message);
    REQUIRE(report.records.size() == 1);
    CHECK(report.records[0].type == RecordType::kChangeToExcludeMode);
    CHECK(report.records[0].multicast_address == *parse_address("ff3e::4242:1"));
}

TEST_CASE("parse_captured_mld: truncation, other headers and trailing octets", "[mcast][codec]") {
    // Ethernet padding after the Payload Length is not part of the message.
    std::vector<std::uint8_t> padded = kScapyReport;
    padded.insert(padded.end(), {0, 0, 0, 0});
    const auto m = parse_captured_mld(padded, 1);
    REQUIRE(m);
    CHECK(m->icmp.size() == 28);
    // Cut short: Payload Length says more than there is.
    std::vector<std::uint8_t> cut(kScapyReport.begin(), kScapyReport.end() - 1);
    CHECK_FALSE(parse_captured_mld(cut, 1));
    // Not IPv6.
    std::vector<std::uint8_t> v4 = kScapyReport;
    v4[0] = 0x45;
    CHECK_FALSE(parse_captured_mld(v4, 1));
    // Hop-by-Hop followed by something other than ICMPv6.
    std::vector<std::uint8_t> udp = kScapyReport;
    udp[40] = 17;
    CHECK_FALSE(parse_captured_mld(udp, 1));
    // No Router Alert in the Hop-by-Hop header: parsed, flagged for the proxy to drop.
    std::vector<std::uint8_t> no_ra = kScapyReport;
    no_ra[42] = 0x01;  // PadN instead of Router Alert
    const auto n = parse_captured_mld(no_ra, 1);
    REQUIRE(n);
    CHECK_FALSE(n->router_alert);
    // ICMPv6 straight after the IPv6 header (no Hop-by-Hop): no Router Alert.
    std::vector<std::uint8_t> direct(kScapyReport.begin(), kScapyReport.begin() + 40);
    direct.insert(direct.end(), kScapyReport.begin() + 48, kScapyReport.end());
    direct[5] = 28;
    direct[6] = 58;
    const auto d = parse_captured_mld(direct, 1);
    REQUIRE(d);
    CHECK_FALSE(d->router_alert);
    CHECK(d->icmp.size() == 28);
}
