// PBU ordering (RFC 5213 section 5.5) and home network prefix pools.
#include <catch2/catch.hpp>

#include <set>

#include "pmip/lma/ordering.hpp"
#include "pmip/common/prefix_pool.hpp"

using namespace pmip;
using namespace pmip::lma;
using namespace std::chrono_literals;

namespace {
constexpr std::uint64_t kNow = 1763798400ull << 16;
const std::uint64_t k300ms = timestamp_units(300ms);
}  // namespace

TEST_CASE("TimestampValidityWindow of 300 ms is 19660 fraction units", "[lma][ordering]") {
    CHECK(k300ms == 19660);
}

TEST_CASE("A timestamp inside the window and newer than the last is accepted (5.5 step 7)",
          "[lma][ordering]") {
    CHECK(check_timestamp(kNow, kNow, std::nullopt, 300ms, false) == 0);
    CHECK(check_timestamp(kNow + k300ms, kNow, kNow - 5, 300ms, false) == 0);
    CHECK(check_timestamp(kNow - k300ms, kNow, std::nullopt, 300ms, false) == 0);
}

TEST_CASE("A timestamp not greater than the last accepted is rejected with 157 (5.5 step 8)",
          "[lma][ordering]") {
    CHECK(check_timestamp(kNow, kNow, kNow, 300ms, false) == 157);
    CHECK(check_timestamp(kNow - 1, kNow, kNow, 300ms, false) == 157);
    // 157 wins over 156 when both apply.
    CHECK(check_timestamp(kNow - (10ull << 16), kNow, kNow, 300ms, false) == 157);
}

TEST_CASE("A timestamp outside TimestampValidityWindow is rejected with 156 (5.5 step 9)",
          "[lma][ordering]") {
    CHECK(check_timestamp(kNow + k300ms + 1, kNow, std::nullopt, 300ms, false) == 156);
    CHECK(check_timestamp(kNow - k300ms - 1, kNow, std::nullopt, 300ms, false) == 156);
}

TEST_CASE("MobileNodeGeneratedTimestampInUse skips the window check only", "[lma][ordering]") {
    CHECK(check_timestamp(1, kNow, std::nullopt, 300ms, true) == 0);
    CHECK(check_timestamp(5, kNow, 5, 300ms, true) == 157);
}

TEST_CASE("Sequence numbers: newer accepted, stale rejected with 135 (RFC 6275 9.5.1)",
          "[lma][ordering]") {
    CHECK(check_sequence(7, std::nullopt) == 0);
    CHECK(check_sequence(16, 15) == 0);
    CHECK(check_sequence(15, 15) == 135);
    CHECK(check_sequence(32783, 15) == 135);
    CHECK(check_sequence(0, 65535) == 0);
}

TEST_CASE("Prefix pool hands out distinct /64s, skips bound ones, reuses released last",
          "[lma][pool]") {
    auto pool = PrefixPool::create(*parse_prefix("2001:db8:8000::/62"), 64);
    REQUIRE(pool.ok());
    CHECK(pool->capacity() == 4);
    std::set<Ipv6Prefix> bound = {*parse_prefix("2001:db8:8000:1::/64")};
    auto in_use = [&](const Ipv6Prefix& p) { return bound.count(p) != 0; };
    const auto a = pool->allocate(in_use);
    const auto b = pool->allocate(in_use);
    const auto c = pool->allocate(in_use);
    REQUIRE((a && b && c));
    CHECK(to_string(*a) == "2001:db8:8000::/64");
    CHECK(to_string(*b) == "2001:db8:8000:2::/64");  // :1:: is bound
    CHECK(to_string(*c) == "2001:db8:8000:3::/64");
    CHECK_FALSE(pool->allocate(in_use).has_value());  // exhausted: the LMA answers 130
    CHECK(pool->allocated() == 3);
    pool->release(*b);
    pool->release(*a);
    CHECK(pool->allocate(in_use) == b);  // oldest released first
    CHECK(pool->allocate(in_use) == a);
    CHECK(pool->owns(*parse_prefix("2001:db8:8000:3::/64")));
    CHECK_FALSE(pool->owns(*parse_prefix("2001:db8:8000:3::/80")));
    CHECK_FALSE(pool->owns(*parse_prefix("2001:db8:9000::/64")));
}

TEST_CASE("Prefix pool rejects a delegated length shorter than the pool", "[lma][pool]") {
    const auto bad = PrefixPool::create(*parse_prefix("2001:db8::/48"), 40);
    REQUIRE_FALSE(bad.ok());
    CHECK(bad.error().what.find("2001:db8::/48") != std::string::npos);
    auto big = PrefixPool::create(*parse_prefix("2001:db8::/32"), 128);
    REQUIRE(big.ok());
    CHECK(big->capacity() == (std::uint64_t{1} << 63));
    CHECK(to_string(*big->allocate({})) == "2001:db8::/128");
    CHECK(to_string(*big->allocate({})) == "2001:db8::1/128");
}
