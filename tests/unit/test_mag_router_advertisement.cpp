// Router Advertisement building/parsing and the RA schedule (RFC 4861, RFC 5213 6.7-6.9.3).
#include <catch2/catch.hpp>

#include "pmip/mag/router_advertisement.hpp"

using namespace pmip;
using namespace pmip::mag;
using namespace std::chrono_literals;

TEST_CASE("RA carries the HNP as on-link autonomous prefix, the MTU and the fixed MAC (RFC 4861 4.2)",
          "[mag][ra]") {
    RouterAdvertisement ra;
    ra.source_link_layer_address = std::array<std::uint8_t, 6>{0x00, 0x00, 0x5e, 0x00, 0x52, 0x13};
    ra.mtu = 1460;
    ra.prefixes.push_back({*parse_prefix("2001:db8:8000::/64")});
    const auto b = build_router_advertisement(ra);
    REQUIRE(b.size() == 16 + 8 + 8 + 32);
    CHECK(b[0] == 134);
    CHECK((b[6] << 8 | b[7]) == 1800);
    CHECK(std::vector<std::uint8_t>(b.begin() + 16, b.begin() + 24) ==
          std::vector<std::uint8_t>{1, 1, 0x00, 0x00, 0x5e, 0x00, 0x52, 0x13});
    CHECK(std::vector<std::uint8_t>(b.begin() + 24, b.begin() + 32) ==
          std::vector<std::uint8_t>{5, 1, 0, 0, 0, 0, 0x05, 0xb4});
    CHECK(b[32] == 3);
    CHECK(b[33] == 4);
    CHECK(b[34] == 64);
    CHECK(b[35] == 0xc0);  // L and A
    const auto back = parse_router_advertisement(b);
    REQUIRE(back.has_value());
    CHECK(back->mtu == 1460u);
    REQUIRE(back->prefixes.size() == 1);
    CHECK(to_string(back->prefixes[0].prefix) == "2001:db8:8000::/64");
    CHECK(back->prefixes[0].valid_lifetime == 2592000);
}

TEST_CASE("A withdrawing RA has zero prefix lifetimes (RFC 5213 6.12)", "[mag][ra]") {
    RouterAdvertisement ra;
    ra.prefixes.push_back({*parse_prefix("2001:db8:8000::/64"), true, true, 0, 0});
    const auto back = parse_router_advertisement(build_router_advertisement(ra));
    REQUIRE(back.has_value());
    CHECK(back->prefixes[0].valid_lifetime == 0);
    CHECK(back->prefixes[0].preferred_lifetime == 0);
}

TEST_CASE("Router Solicitations: the MN's MAC from the SLLA option, malformed ones discarded "
          "(RFC 4861 6.1.1)", "[mag][ra]") {
    const std::vector<std::uint8_t> rs = {133, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0x02, 0x11, 0x22, 0x33, 0x44, 0x55};
    const auto parsed = parse_router_solicitation(rs);
    REQUIRE(parsed.has_value());
    CHECK(parsed->source_link_layer_address ==
          std::vector<std::uint8_t>{0x02, 0x11, 0x22, 0x33, 0x44, 0x55});
    CHECK(parse_router_solicitation(std::vector<std::uint8_t>{133, 0, 0, 0, 0, 0, 0, 0})->source_link_layer_address.empty());
    CHECK_FALSE(parse_router_solicitation(std::vector<std::uint8_t>{133, 1, 0, 0, 0, 0, 0, 0}));  // code != 0
    CHECK_FALSE(parse_router_solicitation(std::vector<std::uint8_t>{133, 0, 0, 0}));              // short
    CHECK_FALSE(parse_router_solicitation(std::vector<std::uint8_t>{133, 0, 0, 0, 0, 0, 0, 0, 1, 0}));  // length 0
    CHECK_FALSE(parse_router_solicitation(std::vector<std::uint8_t>{133, 0, 0, 0, 0, 0, 0, 0, 1, 2, 0, 0}));  // overruns
}

TEST_CASE("ICMPv6 checksum matches a hand-computed RS", "[mag][ra]") {
    // RS from fe80::1 to ff02::2, no options:
    // pseudo: fe80 + 0001 + ff02 + 0002 + length 0008 + 003a = 0x1fcc1... folded below.
    const std::vector<std::uint8_t> rs = {133, 0, 0, 0, 0, 0, 0, 0};
    const auto src = *parse_address("fe80::1");
    const auto dst = *parse_address("ff02::2");
    // sum = 0xfe80 + 0x0001 + 0xff02 + 0x0002 + 0x0008 + 0x003a + 0x8500 = 0x282c7
    // fold: 0x82c7 + 0x2 = 0x82c9; complement 0x7d36.
    CHECK(icmpv6_checksum(rs, src, dst) == 0x7d36);
}

TEST_CASE("RA schedule: one at start, an initial burst within 16 s, then 198-600 s apart, RS "
          "answered at once (RFC 4861 6.2.4)", "[mag][ra]") {
    SimulatedClock clock;
    TimerQueue timers(clock);
    std::vector<TimePoint> sent;
    RaScheduler s(timers, RaTiming{}, [&](int) { sent.push_back(clock.now()); });
    s.start(7);
    CHECK(sent.size() == 1);
    for (int i = 0; i < 3000; ++i) {
        clock.advance(1s);
        timers.run_due();
    }
    REQUIRE(sent.size() >= 6);
    for (std::size_t i = 1; i < sent.size(); ++i) {
        const auto gap = std::chrono::duration_cast<std::chrono::seconds>(sent[i] - sent[i - 1]).count();
        if (i < 3) {
            CHECK(gap <= 16);
        } else {
            CHECK(gap >= 198);
            CHECK(gap <= 600);
        }
    }
    const auto n = sent.size();
    s.solicited(7);
    CHECK(sent.size() == n + 1);
    s.solicited(8);  // no binding on link 8
    CHECK(sent.size() == n + 1);
    s.stop(7);
    for (int i = 0; i < 700; ++i) {
        clock.advance(1s);
        timers.run_due();
    }
    CHECK(sent.size() == n + 1);
    CHECK(timers.pending() == 0);
}
