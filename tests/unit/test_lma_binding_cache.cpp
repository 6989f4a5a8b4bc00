// Binding Cache lookup: every row of RFC 5213 section 5.4.1 tables A, B, C
// (PROTOCOL.md section 2.9), each test named after the rule it checks.
#include <catch2/catch.hpp>

#include <algorithm>
#include <map>
#include <random>
#include <string>

#include "pmip/lma/binding_cache.hpp"

using namespace pmip;
using namespace pmip::lma;

namespace {

Ipv6Prefix prefix(const char* text) { return *parse_prefix(text); }
Ipv6Address address(const char* text) { return *parse_address(text); }

const MobileNodeIdentifier kMn1{1, "mn1@example.org"};
const MobileNodeIdentifier kMn2{1, "mn2@example.org"};
const Ipv6Address kMag1 = address("2001:db8:100::1");
const Ipv6Address kMag2 = address("2001:db8:100::2");
const Ipv6Prefix kZero{};

BindingCacheEntry entry(MobileNodeIdentifier mn, std::vector<Ipv6Prefix> prefixes,
                        Ipv6Address coa = kMag1, std::uint8_t att = 3, std::string ll_id = "") {
    BindingCacheEntry e;
    e.mn_identifier = std::move(mn);
    e.home_network_prefixes = std::move(prefixes);
    e.proxy_coa = coa;
    e.access_technology_type = att;
    e.mn_link_layer_identifier = std::move(ll_id);
    e.lifetime = 100;
    return e;
}

LookupRequest request(MobileNodeIdentifier mn, std::vector<Ipv6Prefix> prefixes,
                      std::uint8_t hi, Ipv6Address coa = kMag2, std::uint8_t att = 3,
                      std::optional<std::string> ll_id = std::nullopt, std::uint16_t lifetime = 100) {
    LookupRequest r;
    r.mn_identifier = std::move(mn);
    r.home_network_prefixes = std::move(prefixes);
    r.handoff_indicator = hi;
    r.proxy_coa = coa;
    r.access_technology_type = att;
    r.mn_link_layer_identifier = std::move(ll_id);
    r.lifetime = lifetime;
    return r;
}

void check(const LookupResult& r, LookupOutcome outcome, std::string_view rule,
           SessionId session = 0, std::uint8_t status = 0) {
    INFO("rule " << r.rule << " outcome " << to_string(r.outcome));
    CHECK(r.outcome == outcome);
    CHECK(r.rule == rule);
    if (session) CHECK(r.session == session);
    CHECK(r.status == status);
}

}  // namespace

TEST_CASE("A1: no entry owns a requested NON_ZERO prefix -> new session", "[lma][bce]") {
    BindingCache bc;
    bc.insert(entry(kMn1, {prefix("2001:db8:1::/64")}));
    check(bc.lookup(request(kMn1, {prefix("2001:db8:2::/64")}, 1)), LookupOutcome::kNewSession, "A1");
}

TEST_CASE("A1 with lifetime 0: a de-registration for no session is ignored", "[lma][bce]") {
    BindingCache bc;
    check(bc.lookup(request(kMn1, {prefix("2001:db8:2::/64")}, 4, kMag1, 3, {}, 0)),
          LookupOutcome::kIgnore, "A1");
}

TEST_CASE("A2: prefix owned by another MN-ID -> reject 155", "[lma][bce]") {
    BindingCache bc;
    const SessionId id = bc.insert(entry(kMn1, {prefix("2001:db8:1::/64")})).id;
    check(bc.lookup(request(kMn2, {prefix("2001:db8:1::/64")}, 1)), LookupOutcome::kReject, "A2", id, 155);
}

TEST_CASE("A3: prefix sets differ in value or count -> reject 159", "[lma][bce]") {
    BindingCache bc;
    const SessionId id =
        bc.insert(entry(kMn1, {prefix("2001:db8:1::/64"), prefix("2001:db8:2::/64")})).id;
    check(bc.lookup(request(kMn1, {prefix("2001:db8:1::/64")}, 5, kMag1)), LookupOutcome::kReject,
          "A3", id, 159);
    check(bc.lookup(request(kMn1, {prefix("2001:db8:1::/64"), prefix("2001:db8:3::/64")}, 5, kMag1)),
          LookupOutcome::kReject, "A3", id, 159);
    // Order does not matter.
    check(bc.lookup(request(kMn1, {prefix("2001:db8:2::/64"), prefix("2001:db8:1::/64")}, 5, kMag1)),
          LookupOutcome::kUpdate, "A4", id);
}

TEST_CASE("A4(a): same MN-LL-ID and ATT -> update", "[lma][bce]") {
    BindingCache bc;
    const SessionId id = bc.insert(entry(kMn1, {prefix("2001:db8:1::/64")}, kMag1, 3, "\x02\x11")).id;
    check(bc.lookup(request(kMn1, {prefix("2001:db8:1::/64")}, 4, kMag2, 3, "\x02\x11")),
          LookupOutcome::kUpdate, "A4", id);
    // Same LL-ID but another ATT, from another MAG, HI 4: no condition holds.
    check(bc.lookup(request(kMn1, {prefix("2001:db8:1::/64")}, 4, kMag2, 4, "\x02\x11")),
          LookupOutcome::kNewSession, "A5");
}

TEST_CASE("A4(b): HI 2 -> update whatever the LL-ID", "[lma][bce]") {
    BindingCache bc;
    const SessionId id = bc.insert(entry(kMn1, {prefix("2001:db8:1::/64")}, kMag1, 3, "aa")).id;
    check(bc.lookup(request(kMn1, {prefix("2001:db8:1::/64")}, 2, kMag2, 4, "bb")),
          LookupOutcome::kUpdate, "A4", id);
}

TEST_CASE("A4(c): no LL-ID anywhere, ATT equal and HI 3 -> update", "[lma][bce]") {
    BindingCache bc;
    const SessionId id = bc.insert(entry(kMn1, {prefix("2001:db8:1::/64")})).id;
    check(bc.lookup(request(kMn1, {prefix("2001:db8:1::/64")}, 3, kMag2)), LookupOutcome::kUpdate,
          "A4", id);
    // HI 3 but the entry has an LL-ID: condition (c) fails, so does (d) (other MAG).
    BindingCache bc2;
    bc2.insert(entry(kMn1, {prefix("2001:db8:1::/64")}, kMag1, 3, "aa"));
    check(bc2.lookup(request(kMn1, {prefix("2001:db8:1::/64")}, 3, kMag2)),
          LookupOutcome::kNewSession, "A5");
}

TEST_CASE("A4(d): same Proxy-CoA and ATT -> update (re-registration)", "[lma][bce]") {
    BindingCache bc;
    const SessionId id = bc.insert(entry(kMn1, {prefix("2001:db8:1::/64")})).id;
    check(bc.lookup(request(kMn1, {prefix("2001:db8:1::/64")}, 5, kMag1)), LookupOutcome::kUpdate,
          "A4", id);
    check(bc.lookup(request(kMn1, {prefix("2001:db8:1::/64")}, 4, kMag1, 3, {}, 0)),
          LookupOutcome::kUpdate, "A4", id);
}

TEST_CASE("A5: matching prefixes but no update condition -> new session, or ignore at lifetime 0",
          "[lma][bce]") {
    BindingCache bc;
    bc.insert(entry(kMn1, {prefix("2001:db8:1::/64")}));
    check(bc.lookup(request(kMn1, {prefix("2001:db8:1::/64")}, 1, kMag2)),
          LookupOutcome::kNewSession, "A5");
    check(bc.lookup(request(kMn1, {prefix("2001:db8:1::/64")}, 4, kMag2, 3, {}, 0)),
          LookupOutcome::kIgnore, "A5");
}

TEST_CASE("B1: same MN-ID, ATT and MN-LL-ID -> update", "[lma][bce]") {
    BindingCache bc;
    bc.insert(entry(kMn1, {prefix("2001:db8:1::/64")}, kMag1, 3, "aa"));
    const SessionId id = bc.insert(entry(kMn1, {prefix("2001:db8:2::/64")}, kMag1, 3, "bb")).id;
    check(bc.lookup(request(kMn1, {kZero}, 1, kMag2, 3, "bb")), LookupOutcome::kUpdate, "B1", id);
}

TEST_CASE("B2: no match, HI 2 and exactly one session of the MN -> update it", "[lma][bce]") {
    BindingCache bc;
    const SessionId id = bc.insert(entry(kMn1, {prefix("2001:db8:1::/64")}, kMag1, 3, "aa")).id;
    check(bc.lookup(request(kMn1, {kZero}, 2, kMag2, 4, "cc")), LookupOutcome::kUpdate, "B2", id);
}

TEST_CASE("B3: no match, HI 4 and exactly one session -> wait for the old MAG", "[lma][bce]") {
    BindingCache bc;
    const SessionId id = bc.insert(entry(kMn1, {prefix("2001:db8:1::/64")}, kMag1, 3, "aa")).id;
    check(bc.lookup(request(kMn1, {kZero}, 4, kMag2, 4, "cc")),
          LookupOutcome::kWaitForDeregistration, "B3", id);
}

TEST_CASE("B3 with lifetime 0: a de-registration goes to the one session, never waits",
          "[lma][bce]") {
    BindingCache bc;
    const SessionId id = bc.insert(entry(kMn1, {prefix("2001:db8:1::/64")}, kMag1, 3, "aa")).id;
    // From the MAG that holds it and from another: the engine decides by Proxy-CoA (5.3.5).
    check(bc.lookup(request(kMn1, {kZero}, 4, kMag1, 3, "cc", 0)), LookupOutcome::kUpdate, "B3", id);
    check(bc.lookup(request(kMn1, {kZero}, 4, kMag2, 3, "cc", 0)), LookupOutcome::kUpdate, "B3", id);
}

TEST_CASE("B4: otherwise new session, several sessions with HI 2 are not guessed", "[lma][bce]") {
    BindingCache bc;
    check(bc.lookup(request(kMn1, {kZero}, 1, kMag2, 3, "cc")), LookupOutcome::kNewSession, "B4");
    bc.insert(entry(kMn1, {prefix("2001:db8:1::/64")}, kMag1, 3, "aa"));
    bc.insert(entry(kMn1, {prefix("2001:db8:2::/64")}, kMag1, 3, "bb"));
    check(bc.lookup(request(kMn1, {kZero}, 2, kMag2, 4, "cc")), LookupOutcome::kNewSession, "B4");
    check(bc.lookup(request(kMn1, {kZero}, 4, kMag2, 4, "cc", 0)), LookupOutcome::kIgnore, "B4");
}

TEST_CASE("C1: one session of the MN and HI 2 or 3 -> update", "[lma][bce]") {
    BindingCache bc;
    const SessionId id = bc.insert(entry(kMn1, {prefix("2001:db8:1::/64")})).id;
    check(bc.lookup(request(kMn1, {kZero}, 3, kMag2)), LookupOutcome::kUpdate, "C1", id);
    check(bc.lookup(request(kMn1, {kZero}, 2, kMag2)), LookupOutcome::kUpdate, "C1", id);
}

TEST_CASE("C2: one session of the MN and HI 4 -> wait for the old MAG", "[lma][bce]") {
    BindingCache bc;
    const SessionId id = bc.insert(entry(kMn1, {prefix("2001:db8:1::/64")})).id;
    check(bc.lookup(request(kMn1, {kZero}, 4, kMag2)), LookupOutcome::kWaitForDeregistration, "C2", id);
}

TEST_CASE("C2 with lifetime 0: a de-registration goes to the one session, never waits",
          "[lma][bce]") {
    BindingCache bc;
    const SessionId id = bc.insert(entry(kMn1, {prefix("2001:db8:1::/64")})).id;
    check(bc.lookup(request(kMn1, {kZero}, 4, kMag1, 3, {}, 0)), LookupOutcome::kUpdate, "C2", id);
    check(bc.lookup(request(kMn1, {kZero}, 4, kMag2, 3, {}, 0)), LookupOutcome::kUpdate, "C2", id);
}

TEST_CASE("C3: none, several, or HI 1/5 -> new session, lifetime 0 ignored", "[lma][bce]") {
    BindingCache bc;
    check(bc.lookup(request(kMn1, {kZero}, 3, kMag2)), LookupOutcome::kNewSession, "C3");
    bc.insert(entry(kMn1, {prefix("2001:db8:1::/64")}));
    check(bc.lookup(request(kMn1, {kZero}, 1, kMag2)), LookupOutcome::kNewSession, "C3");
    check(bc.lookup(request(kMn1, {kZero}, 5, kMag2)), LookupOutcome::kNewSession, "C3");
    bc.insert(entry(kMn1, {prefix("2001:db8:2::/64")}));
    check(bc.lookup(request(kMn1, {kZero}, 3, kMag2)), LookupOutcome::kNewSession, "C3");
    check(bc.lookup(request(kMn1, {kZero}, 4, kMag2, 3, {}, 0)), LookupOutcome::kIgnore, "C3");
}

TEST_CASE("Indexes follow insert, set_prefixes and erase", "[lma][bce]") {
    BindingCache bc;
    const SessionId a = bc.insert(entry(kMn1, {prefix("2001:db8:1::/64")})).id;
    const SessionId b = bc.insert(entry(kMn1, {prefix("2001:db8:2::/64")})).id;
    CHECK(bc.size() == 2);
    CHECK(bc.sessions_of(kMn1) == std::vector<SessionId>{a, b});
    CHECK(bc.find_by_prefix(prefix("2001:db8:1::1/64"))->id == a);  // host bits ignored
    bc.set_prefixes(a, {prefix("2001:db8:9::/64")});
    CHECK_FALSE(bc.prefix_bound(prefix("2001:db8:1::/64")));
    CHECK(bc.find_by_prefix(prefix("2001:db8:9::/64"))->id == a);
    bc.erase(a);
    CHECK(bc.find(a) == nullptr);
    CHECK_FALSE(bc.prefix_bound(prefix("2001:db8:9::/64")));
    CHECK(bc.sessions_of(kMn1) == std::vector<SessionId>{b});
    bc.erase(a);  // twice is harmless
    CHECK(bc.size() == 1);
}

// The MN-Identifier index is open addressing with backward-shift deletion:
// checked against a plain multimap over random inserts and erases, with a
// small table (probe runs wrap around its end) and a large one (it grows),
// several sessions per MN, and the two subtypes of one identifier apart.
TEST_CASE("MN-Identifier index: sessions_of agrees with a multimap through churn", "[lma][bce]") {
    for (const std::size_t pool : {5u, 3000u}) {
        BindingCache bc;
        std::multimap<MobileNodeIdentifier, SessionId> model;
        std::vector<SessionId> live;
        std::mt19937 rng(static_cast<unsigned>(pool));
        auto mn_of = [pool](std::size_t i) {
            return MobileNodeIdentifier{static_cast<std::uint8_t>(i % 2 ? 1 : 2),
                                        "mn" + std::to_string(i / 2 % pool) + "@example.org"};
        };
        const std::size_t max_live = pool == 5 ? 7 : 2000;
        for (int step = 0; step < 20000; ++step) {
            const bool add = live.empty() || (live.size() < max_live && rng() % 2 == 0);
            if (add) {
                const MobileNodeIdentifier mn = mn_of(rng() % (2 * pool));
                const SessionId id = bc.insert(entry(mn, {})).id;
                model.emplace(mn, id);
                live.push_back(id);
            } else {
                const std::size_t k = rng() % live.size();
                const SessionId id = live[k];
                const MobileNodeIdentifier mn = bc.find(id)->mn_identifier;
                bc.erase(id);
                for (auto [it, end] = model.equal_range(mn); it != end; ++it) {
                    if (it->second == id) {
                        model.erase(it);
                        break;
                    }
                }
                live[k] = live.back();
                live.pop_back();
            }
            if (step % 97 == 0 || pool == 5) {
                for (std::size_t i = 0; i < 2 * std::min<std::size_t>(pool, 50); ++i) {
                    const MobileNodeIdentifier mn = mn_of(i);
                    std::vector<SessionId> want;
                    for (auto [it, end] = model.equal_range(mn); it != end; ++it) want.push_back(it->second);
                    std::sort(want.begin(), want.end());
                    REQUIRE(bc.sessions_of(mn) == want);
                }
            }
        }
        CHECK(bc.size() == live.size());
        for (const SessionId id : live) {
            const MobileNodeIdentifier mn = bc.find(id)->mn_identifier;
            const auto ids = bc.sessions_of(mn);
            CHECK(std::find(ids.begin(), ids.end(), id) != ids.end());
        }
        for (const SessionId id : live) bc.erase(id);
        for (std::size_t i = 0; i < 2 * pool; ++i) REQUIRE(bc.sessions_of(mn_of(i)).empty());
    }
}

TEST_CASE("MN-Identifier index: reserve sizes it once, at most half full", "[lma][bce]") {
    MnIndex index;
    index.reserve(1000);
    CHECK(index.capacity() == 2048);
    std::vector<BindingCacheEntry> entries(1000);
    for (std::size_t i = 0; i < entries.size(); ++i) {
        entries[i].mn_identifier = {1, "mn" + std::to_string(i)};
        index.insert(&entries[i]);
    }
    CHECK(index.capacity() == 2048);  // not grown
    CHECK(index.size() == 1000);
    for (std::size_t i = 0; i < entries.size(); i += 2) index.erase(&entries[i]);
    index.erase(&entries[0]);  // not indexed any more: nothing happens
    CHECK(index.size() == 500);
    for (std::size_t i = 0; i < entries.size(); ++i) {
        int found = 0;
        index.for_each(entries[i].mn_identifier, [&](const BindingCacheEntry& e) { found += &e == &entries[i]; });
        CHECK(found == (i % 2 ? 1 : 0));
    }
}

TEST_CASE("Lifetime 0 in every row: the rows that find the MN's session update it (the engine then "
          "de-registers when the Proxy-CoA holds it, 5.3.5), rejects stay rejects, the rest ignore",
          "[lma][bce]") {
    // A2, A3: the prefix check comes first, whatever the lifetime.
    {
        BindingCache bc;
        const SessionId id = bc.insert(entry(kMn1, {prefix("2001:db8:1::/64")})).id;
        check(bc.lookup(request(kMn2, {prefix("2001:db8:1::/64")}, 4, kMag1, 3, {}, 0)),
              LookupOutcome::kReject, "A2", id, 155);
        check(bc.lookup(request(kMn1, {prefix("2001:db8:1::/64"), prefix("2001:db8:3::/64")}, 4,
                                kMag1, 3, {}, 0)),
              LookupOutcome::kReject, "A3", id, 159);
    }
    // A4(a), A4(b), A4(c): update.
    {
        BindingCache bc;
        const SessionId id =
            bc.insert(entry(kMn1, {prefix("2001:db8:1::/64")}, kMag1, 3, "\x02\x11")).id;
        check(bc.lookup(request(kMn1, {prefix("2001:db8:1::/64")}, 4, kMag2, 3, "\x02\x11", 0)),
              LookupOutcome::kUpdate, "A4", id);
        check(bc.lookup(request(kMn1, {prefix("2001:db8:1::/64")}, 2, kMag2, 4, "bb", 0)),
              LookupOutcome::kUpdate, "A4", id);
        BindingCache bc2;
        const SessionId id2 = bc2.insert(entry(kMn1, {prefix("2001:db8:1::/64")})).id;
        check(bc2.lookup(request(kMn1, {prefix("2001:db8:1::/64")}, 3, kMag2, 3, {}, 0)),
              LookupOutcome::kUpdate, "A4", id2);
    }
    // B1, B2: update.
    {
        BindingCache bc;
        const SessionId id = bc.insert(entry(kMn1, {prefix("2001:db8:1::/64")}, kMag1, 3, "aa")).id;
        check(bc.lookup(request(kMn1, {kZero}, 4, kMag1, 3, "aa", 0)), LookupOutcome::kUpdate, "B1", id);
        check(bc.lookup(request(kMn1, {kZero}, 2, kMag2, 4, "cc", 0)), LookupOutcome::kUpdate, "B2", id);
    }
    // C1: update.
    {
        BindingCache bc;
        const SessionId id = bc.insert(entry(kMn1, {prefix("2001:db8:1::/64")})).id;
        check(bc.lookup(request(kMn1, {kZero}, 3, kMag2, 3, {}, 0)), LookupOutcome::kUpdate, "C1", id);
        check(bc.lookup(request(kMn1, {kZero}, 2, kMag1, 3, {}, 0)), LookupOutcome::kUpdate, "C1", id);
    }
    // No row ever waits at lifetime 0.
    {
        BindingCache bc;
        bc.insert(entry(kMn1, {prefix("2001:db8:1::/64")}, kMag1, 3, "aa"));
        for (std::uint8_t hi = 1; hi <= 5; ++hi) {
            for (const auto& ll : {std::optional<std::string>{}, std::optional<std::string>{"aa"},
                                   std::optional<std::string>{"zz"}}) {
                for (const auto& coa : {kMag1, kMag2}) {
                    CHECK(bc.lookup(request(kMn1, {kZero}, hi, coa, 3, ll, 0)).outcome !=
                          LookupOutcome::kWaitForDeregistration);
                    CHECK(bc.lookup(request(kMn1, {prefix("2001:db8:1::/64")}, hi, coa, 3, ll, 0))
                              .outcome != LookupOutcome::kWaitForDeregistration);
                }
            }
        }
    }
}
