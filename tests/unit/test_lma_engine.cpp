// LMA engine: the RFC 5213 section 5.3 pipeline with fakes for tunnels,
// routes, timers (simulated clock) and the MH socket. Each test is named after
// the rule it checks.
#include <catch2/catch.hpp>

#include <cstring>
#include <set>

#include "lma_test_support.hpp"
#include "pmip/lma/lma_engine.hpp"
#include "pmip/lma/ordering.hpp"
#include "pmip/mh/codec.hpp"

using namespace pmip;
using namespace pmip::lma;
using namespace pmip::lma_test;
using namespace std::chrono_literals;

namespace {

struct Fixture : LmaFakes {
    explicit Fixture(unsigned pool_size_bits = 8) {
        policies.policies[{1, "mn1@example.org"}] = MobileNodePolicy{};
        policies.policies[{1, "mn2@example.org"}] = MobileNodePolicy{};
        std::vector<PrefixPool> pools;
        pools.push_back(*PrefixPool::create(
            Ipv6Prefix{address("2001:db8:8000::"), static_cast<std::uint8_t>(64 - pool_size_bits)},
            64));
        make(std::move(pools));
    }
    mh::BindingAcknowledgement last_pba() {
        REQUIRE_FALSE(sender.sent.empty());
        return std::get<mh::BindingAcknowledgement>(sender.sent.back().message);
    }
};

struct PbuBuilder {
    mh::BindingUpdate m{1, mh::bu_flag::kA | mh::bu_flag::kP, 100, {}};
    PbuBuilder& mn(const char* id) {
        m.options.push_back(mh::MobileNodeIdentifier{1, std::vector<std::uint8_t>(id, id + std::strlen(id))});
        return *this;
    }
    PbuBuilder& hnp(const char* p = "::/0") {
        const auto x = prefix(p);
        m.options.push_back(mh::HomeNetworkPrefix{x.length, x.address});
        return *this;
    }
    PbuBuilder& hi(std::uint8_t v) {
        m.options.push_back(mh::HandoffIndicator{v});
        return *this;
    }
    PbuBuilder& att(std::uint8_t v = 3) {
        m.options.push_back(mh::AccessTechnologyType{v});
        return *this;
    }
    PbuBuilder& ts(std::uint64_t v) {
        m.options.push_back(mh::Timestamp{v});
        return *this;
    }
    PbuBuilder& gre(std::optional<std::uint32_t> key) {
        m.options.push_back(mh::GreKey{key});
        return *this;
    }
    PbuBuilder& lifetime(std::uint16_t v) {
        m.lifetime = v;
        return *this;
    }
    PbuBuilder& seq(std::uint16_t v) {
        m.sequence = v;
        return *this;
    }
};

// A complete PBU as a MAG sends it for mn1.
PbuBuilder pbu(const Fixture& f, std::uint8_t hi = 1, const char* hnp = "::/0") {
    PbuBuilder b;
    b.mn("mn1@example.org").hnp(hnp).hi(hi).att(3).ts(f.now_ts());
    return b;
}

Ipv6Prefix first_hnp(const mh::BindingAcknowledgement& pba) {
    const auto* h = mh::find_option<mh::HomeNetworkPrefix>(pba.options);
    REQUIRE(h != nullptr);
    return Ipv6Prefix{h->prefix, h->prefix_length};
}

void register_mn1(Fixture& f, const Ipv6Address& mag = kMag1) {
    f.engine->handle_proxy_binding_update(mag, kLma, pbu(f).m);
    REQUIRE(f.last_pba().status == 0);
}

}  // namespace

TEST_CASE("Initial registration allocates a prefix, builds the tunnel and route, answers PBA 0 "
          "(5.3.2, 5.3.6)", "[lma][engine]") {
    Fixture f;
    auto b = pbu(f);
    b.m.sequence = 77;
    b.m.lifetime = 5000;  // above the configured maximum (900)
    b.m.options.push_back(mh::LinkLocalAddress{});  // ALL_ZERO: LMA supplies it
    f.engine->handle_proxy_binding_update(kMag1, kLma, b.m);

    REQUIRE(f.sender.sent.size() == 1);
    CHECK(f.sender.sent[0].source == kLma);
    CHECK(f.sender.sent[0].destination == kMag1);
    const auto pba = f.last_pba();
    CHECK(pba.status == 0);
    CHECK(pba.is_proxy());
    CHECK(pba.sequence == 77);
    CHECK(pba.lifetime == 900);
    CHECK(pmip::to_string(first_hnp(pba)) == "2001:db8:8000::/64");
    CHECK(mh::find_option<mh::MobileNodeIdentifier>(pba.options)->identifier.size() == 15);
    CHECK(mh::find_option<mh::HandoffIndicator>(pba.options)->value == 1);
    CHECK(mh::find_option<mh::AccessTechnologyType>(pba.options)->value == 3);
    CHECK(mh::find_option<mh::Timestamp>(pba.options)->value == f.now_ts());
    CHECK(mh::find_option<mh::LinkLocalAddress>(pba.options)->address ==
          address("fe80::200:5eff:fe00:5213"));

    REQUIRE(f.tunnels->tunnels().size() == 1);
    const TunnelInfo t = f.tunnels->tunnels().front();
    CHECK(t.key.peer == kMag1);
    CHECK(t.key.local == kLma);
    CHECK(t.key.kind == TunnelKind::kIp6Ip6);
    CHECK(f.routes.routes.size() == 1);
    CHECK(f.routes.routes.begin()->destination == prefix("2001:db8:8000::/64"));
    CHECK(f.routes.routes.begin()->ifindex == t.ifindex);
    CHECK(f.engine->cache().size() == 1);
    CHECK(f.engine->counters().sessions_created == 1);
}

TEST_CASE("A PBU without MN-Identifier is rejected with 160 and a zero-length MN-ID (5.3.1 step 4)",
          "[lma][engine]") {
    Fixture f;
    PbuBuilder b;
    b.hnp().hi(1).att().ts(f.now_ts());
    f.engine->handle_proxy_binding_update(kMag1, kLma, b.m);
    const auto pba = f.last_pba();
    CHECK(pba.status == 160);
    CHECK(mh::find_option<mh::MobileNodeIdentifier>(pba.options)->identifier.empty());
    CHECK(f.engine->cache().size() == 0);
    CHECK(f.tunnels->tunnels().empty());
}

TEST_CASE("Policy checks answer 154, 153 and 152 in RFC order and create no state (5.3.1 steps 5-8)",
          "[lma][engine]") {
    Fixture f;
    f.engine->handle_proxy_binding_update(kStranger, kLma, pbu(f).m);
    CHECK(f.last_pba().status == 154);
    PbuBuilder unknown;
    unknown.mn("nobody@example.org").hnp().hi(1).att().ts(f.now_ts());
    f.engine->handle_proxy_binding_update(kMag1, kLma, unknown.m);
    CHECK(f.last_pba().status == 153);
    f.policies.policies[{1, "mn1@example.org"}].proxy_registration_enabled = false;
    f.engine->handle_proxy_binding_update(kMag1, kLma, pbu(f).m);
    CHECK(f.last_pba().status == 152);
    f.policies.policies[{1, "mn1@example.org"}] = MobileNodePolicy{};
    f.policies.policies[{1, "mn1@example.org"}].authorized_mags = {prefix("2001:db8:100::12/128")};
    f.engine->handle_proxy_binding_update(kMag1, kLma, pbu(f).m);
    CHECK(f.last_pba().status == 154);
    CHECK(f.engine->cache().size() == 0);
    CHECK(f.engine->counters().pbu_rejected.at(154) == 2);
}

TEST_CASE("Unknown MNs are served from the pools when configured", "[lma][engine]") {
    Fixture f;
    f.config.serve_unknown_mobile_nodes = true;
    f.make({*PrefixPool::create(prefix("2001:db8:9000::/60"), 64)});
    PbuBuilder unknown;
    unknown.mn("visitor@example.org").hnp().hi(1).att().ts(f.now_ts());
    f.engine->handle_proxy_binding_update(kMag1, kLma, unknown.m);
    CHECK(f.last_pba().status == 0);
    CHECK(pmip::to_string(first_hnp(f.last_pba())) == "2001:db8:9000::/64");
}

TEST_CASE("Missing HNP, HI and ATT options give 158, 161, 162 (5.3.1 steps 10-12)",
          "[lma][engine]") {
    Fixture f;
    PbuBuilder no_hnp;
    no_hnp.mn("mn1@example.org").hi(1).att().ts(f.now_ts());
    f.engine->handle_proxy_binding_update(kMag1, kLma, no_hnp.m);
    CHECK(f.last_pba().status == 158);
    // The rejected PBA still carries one ALL_ZERO HNP option (5.3.6).
    CHECK(first_hnp(f.last_pba()).address == Ipv6Address{});
    PbuBuilder no_hi;
    no_hi.mn("mn1@example.org").hnp().att().ts(f.now_ts() + 1);
    f.engine->handle_proxy_binding_update(kMag1, kLma, no_hi.m);
    CHECK(f.last_pba().status == 161);
    CHECK(mh::find_option<mh::HandoffIndicator>(f.last_pba().options)->value == 0);
    PbuBuilder no_att;
    no_att.mn("mn1@example.org").hnp().hi(1).ts(f.now_ts() + 2);
    f.engine->handle_proxy_binding_update(kMag1, kLma, no_att.m);
    CHECK(f.last_pba().status == 162);
    CHECK(f.engine->cache().size() == 0);
}

TEST_CASE("Timestamps: stale gives 157, outside the window gives 156, both with the LMA's time "
          "(5.5 steps 8-9)", "[lma][engine]") {
    Fixture f;
    register_mn1(f);
    auto again = pbu(f, 5, "2001:db8:8000::/64");  // same timestamp as the accepted one
    again.seq(2);  // a new PBU (with sequence 1 it would be a retransmission, answered again)
    f.engine->handle_proxy_binding_update(kMag1, kLma, again.m);
    CHECK(f.last_pba().status == 157);
    CHECK(mh::find_option<mh::Timestamp>(f.last_pba().options)->value == f.now_ts());
    f.advance(1s);
    PbuBuilder early;
    early.mn("mn1@example.org").hnp("2001:db8:8000::/64").hi(5).att().ts(f.now_ts() + timestamp_units(400ms));
    f.engine->handle_proxy_binding_update(kMag1, kLma, early.m);
    CHECK(f.last_pba().status == 156);
    CHECK(mh::find_option<mh::Timestamp>(f.last_pba().options)->value == f.now_ts());
    CHECK(f.engine->counters().pbu_rejected.at(157) == 1);
}

TEST_CASE("Re-registration from the same MAG extends the lifetime and keeps the data path (5.3.3)",
          "[lma][engine]") {
    Fixture f;
    register_mn1(f);
    const auto prefix1 = first_hnp(f.last_pba());
    f.advance(300s);  // lifetime 100 units = 400 s
    f.engine->handle_proxy_binding_update(kMag1, kLma, pbu(f, 5, "2001:db8:8000::/64").m);
    CHECK(f.last_pba().status == 0);
    CHECK(first_hnp(f.last_pba()) == prefix1);
    f.advance(300s);  // past the first lifetime: still bound
    CHECK(f.engine->cache().size() == 1);
    CHECK(f.backend->calls.size() == 1);  // one create, nothing else
    CHECK(f.routes.routes.size() == 1);
}

TEST_CASE("Handoff to another MAG moves the route to the new tunnel and frees the old one (5.3.4)",
          "[lma][engine]") {
    Fixture f;
    register_mn1(f, kMag1);
    const int old_ifindex = f.tunnels->tunnels().front().ifindex;
    f.advance(1s);
    f.engine->handle_proxy_binding_update(kMag2, kLma, pbu(f, 3, "2001:db8:8000::/64").m);
    CHECK(f.last_pba().status == 0);
    CHECK(f.sender.sent.back().destination == kMag2);
    REQUIRE(f.tunnels->tunnels().size() == 1);
    const TunnelInfo t = f.tunnels->tunnels().front();
    CHECK(t.key.peer == kMag2);
    REQUIRE(f.routes.routes.size() == 1);
    CHECK(f.routes.routes.begin()->ifindex == t.ifindex);
    CHECK(t.ifindex != old_ifindex);
    CHECK(f.backend->devices.size() == 1);
    CHECK(f.engine->cache().entries().begin()->second.proxy_coa == kMag2);
}

TEST_CASE("De-registration answers 0, keeps the entry for MinDelayBeforeBCEDelete, then removes "
          "everything (5.3.5)", "[lma][engine]") {
    Fixture f;
    register_mn1(f);
    f.advance(1s);
    auto dereg = pbu(f, 4, "2001:db8:8000::/64");
    dereg.lifetime(0);
    f.engine->handle_proxy_binding_update(kMag1, kLma, dereg.m);
    CHECK(f.last_pba().status == 0);
    CHECK(f.last_pba().lifetime == 0);
    f.advance(9s);
    CHECK(f.engine->cache().size() == 1);
    f.advance(1s);
    CHECK(f.engine->cache().size() == 0);
    CHECK(f.routes.routes.empty());
    CHECK(f.backend->devices.empty());
    // The prefix is free again.
    f.engine->handle_proxy_binding_update(kMag1, kLma, pbu(f).m);
    CHECK(f.last_pba().status == 0);
}

TEST_CASE("A registration during MinDelayBeforeBCEDelete revives the entry (5.3.5)",
          "[lma][engine]") {
    Fixture f;
    register_mn1(f);
    f.advance(1s);
    auto dereg = pbu(f, 4, "2001:db8:8000::/64");
    dereg.lifetime(0);
    f.engine->handle_proxy_binding_update(kMag1, kLma, dereg.m);
    f.advance(2s);
    f.engine->handle_proxy_binding_update(kMag2, kLma, pbu(f, 3, "2001:db8:8000::/64").m);
    CHECK(f.last_pba().status == 0);
    f.advance(20s);
    CHECK(f.engine->cache().size() == 1);
    CHECK(f.routes.routes.size() == 1);
}

TEST_CASE("A de-registration from a MAG that does not hold the binding is ignored (5.3.5)",
          "[lma][engine]") {
    Fixture f;
    register_mn1(f, kMag1);
    const auto sent = f.sender.sent.size();
    f.advance(1s);
    auto dereg = pbu(f, 4, "2001:db8:8000::/64");
    dereg.lifetime(0);
    dereg.m.options.erase(dereg.m.options.begin() + 2);  // drop HI so A4(b)/(c) cannot match
    dereg.hi(5);
    f.engine->handle_proxy_binding_update(kMag2, kLma, dereg.m);
    CHECK(f.sender.sent.size() == sent);
    CHECK(f.engine->cache().size() == 1);
    CHECK(f.engine->counters().pbu_ignored == 1);
}

TEST_CASE("Binding lifetime expiry deletes the session", "[lma][engine]") {
    Fixture f;
    auto b = pbu(f);
    b.lifetime(10);  // 40 s
    f.engine->handle_proxy_binding_update(kMag1, kLma, b.m);
    f.advance(39s);
    CHECK(f.engine->cache().size() == 1);
    f.advance(1s);
    CHECK(f.engine->cache().size() == 0);
    CHECK(f.engine->counters().sessions_expired == 1);
    CHECK(f.routes.routes.empty());
}

TEST_CASE("HI=4 for an existing session waits for the old MAG's de-registration (C2, 5.4.1.3)",
          "[lma][engine]") {
    Fixture f;
    register_mn1(f, kMag1);
    const auto prefix1 = first_hnp(f.last_pba());
    const auto sent = f.sender.sent.size();
    f.advance(1s);
    f.engine->handle_proxy_binding_update(kMag2, kLma, pbu(f, 4).m);
    CHECK(f.sender.sent.size() == sent);  // held
    f.advance(500ms);
    auto dereg = pbu(f, 4, "2001:db8:8000::/64");
    dereg.lifetime(0);
    f.engine->handle_proxy_binding_update(kMag1, kLma, dereg.m);
    REQUIRE(f.sender.sent.size() == sent + 2);
    CHECK(f.sender.sent[sent].destination == kMag1);
    CHECK(f.sender.sent[sent + 1].destination == kMag2);
    const auto pba = std::get<mh::BindingAcknowledgement>(f.sender.sent[sent + 1].message);
    CHECK(pba.status == 0);
    CHECK(first_hnp(pba) == prefix1);  // the session moved, same prefix
    CHECK(f.engine->cache().size() == 1);
    CHECK(f.tunnels->tunnels().front().key.peer == kMag2);
}

TEST_CASE("HI=4 with no de-registration within MaxDelayBeforeNewBCEAssign creates a new session "
          "(C2)", "[lma][engine]") {
    Fixture f;
    register_mn1(f, kMag1);
    const auto prefix1 = first_hnp(f.last_pba());
    const auto sent = f.sender.sent.size();
    f.advance(1s);
    f.engine->handle_proxy_binding_update(kMag2, kLma, pbu(f, 4).m);
    f.advance(1s);
    f.engine->handle_proxy_binding_update(kMag2, kLma, pbu(f, 4).m);  // retransmission
    CHECK(f.sender.sent.size() == sent);
    f.advance(500ms);  // 1.5 s after the first
    REQUIRE(f.sender.sent.size() == sent + 1);
    const auto pba = f.last_pba();
    CHECK(pba.status == 0);
    CHECK(first_hnp(pba) != prefix1);
    CHECK(f.engine->cache().size() == 2);
}

// Issue 15: a de-registration as MAGs send it (HI 4, HNP ::/0) fell into the
// C2 wait and, 1.5 s later, created a session with a new prefix while the
// old one stayed. Every lookup row with lifetime 0, through the engine:
// A4 / C2 / B3 from the MAG holding the session de-register it; from another
// MAG they are ignored (5.3.5); A1 / A5 / B4 / C3 (no session) are ignored.
TEST_CASE("A de-registration (HI 4, HNP ::/0: row C2) from the MAG holding the session "
          "de-registers it, no wait and no new session (5.3.5)", "[lma][engine]") {
    Fixture f;
    register_mn1(f, kMag1);
    const auto prefix1 = first_hnp(f.last_pba());
    const auto sent = f.sender.sent.size();
    f.advance(1s);
    auto dereg = pbu(f, 4);
    dereg.lifetime(0);
    f.engine->handle_proxy_binding_update(kMag1, kLma, dereg.m);
    REQUIRE(f.sender.sent.size() == sent + 1);  // answered at once
    const auto pba = f.last_pba();
    CHECK(pba.status == 0);
    CHECK(pba.lifetime == 0);
    CHECK(first_hnp(pba) == prefix1);
    CHECK(f.engine->counters().pbu_waiting == 0);
    f.advance(2s);  // past MaxDelayBeforeNewBCEAssign: nothing was held
    CHECK(f.sender.sent.size() == sent + 1);
    CHECK(f.engine->counters().sessions_created == 1);
    f.advance(10s);  // MinDelayBeforeBCEDelete
    CHECK(f.engine->cache().size() == 0);
    CHECK(f.routes.routes.empty());
}

TEST_CASE("A de-registration with the MN-LL-ID (row B3) from the holding MAG de-registers, "
          "from another MAG (C2, B3) it is ignored without a PBA", "[lma][engine]") {
    Fixture f;
    register_mn1(f, kMag1);
    const auto prefix1 = first_hnp(f.last_pba());
    auto sent = f.sender.sent.size();
    f.advance(1s);
    auto other = pbu(f, 4);
    other.lifetime(0);
    f.engine->handle_proxy_binding_update(kMag2, kLma, other.m);  // C2, not the holder
    auto other_ll = pbu(f, 4);
    other_ll.lifetime(0).m.options.push_back(mh::MobileNodeLinkLayerIdentifier{{0x02, 0, 0, 0, 0, 9}});
    f.engine->handle_proxy_binding_update(kMag2, kLma, other_ll.m);  // B3, not the holder
    f.advance(2s);
    CHECK(f.sender.sent.size() == sent);
    CHECK(f.engine->counters().pbu_ignored == 2);
    CHECK(f.engine->cache().size() == 1);
    CHECK(f.engine->counters().sessions_created == 1);
    auto mine = pbu(f, 4);
    mine.lifetime(0).m.options.push_back(mh::MobileNodeLinkLayerIdentifier{{0x02, 0, 0, 0, 0, 9}});
    f.engine->handle_proxy_binding_update(kMag1, kLma, mine.m);  // B3, the holder
    REQUIRE(f.sender.sent.size() == sent + 1);
    CHECK(f.last_pba().status == 0);
    CHECK(first_hnp(f.last_pba()) == prefix1);
    f.advance(12s);
    CHECK(f.engine->cache().size() == 0);
    CHECK(f.engine->counters().sessions_created == 1);
}

TEST_CASE("A MAG whose HI 4 registration is held and that then de-registers the MN withdraws "
          "it: PBA 0, no session created when the wait ends", "[lma][engine]") {
    Fixture f;
    register_mn1(f, kMag1);
    const auto sent = f.sender.sent.size();
    f.advance(1s);
    f.engine->handle_proxy_binding_update(kMag2, kLma, pbu(f, 4).m);  // held (C2)
    CHECK(f.sender.sent.size() == sent);
    f.advance(200ms);
    auto dereg = pbu(f, 4);
    dereg.lifetime(0);
    f.engine->handle_proxy_binding_update(kMag2, kLma, dereg.m);
    REQUIRE(f.sender.sent.size() == sent + 1);
    CHECK(f.sender.sent.back().destination == kMag2);
    CHECK(f.last_pba().status == 0);
    CHECK(f.last_pba().lifetime == 0);
    CHECK(f.engine->counters().pbu_waiting_withdrawn == 1);
    f.advance(2s);  // the wait would have ended here
    CHECK(f.sender.sent.size() == sent + 1);
    CHECK(f.engine->cache().size() == 1);  // mag1's session, untouched
    CHECK(f.engine->counters().sessions_created == 1);
    CHECK(f.tunnels->tunnels().front().key.peer == kMag1);
}

TEST_CASE("De-registrations that match no session are ignored in every table (A1, B4, C3)",
          "[lma][engine]") {
    Fixture f;
    auto a = pbu(f, 4, "2001:db8:8000::/64");
    a.lifetime(0);
    f.engine->handle_proxy_binding_update(kMag1, kLma, a.m);
    auto b = pbu(f, 4);
    b.lifetime(0).m.options.push_back(mh::MobileNodeLinkLayerIdentifier{{0x02, 0, 0, 0, 0, 9}});
    f.engine->handle_proxy_binding_update(kMag1, kLma, b.m);
    auto c = pbu(f, 4);
    c.lifetime(0);
    f.engine->handle_proxy_binding_update(kMag1, kLma, c.m);
    f.advance(2s);
    CHECK(f.sender.sent.empty());
    CHECK(f.engine->cache().size() == 0);
    CHECK(f.engine->counters().pbu_ignored == 3);
}

TEST_CASE("A retransmission of the accepted PBU (same MAG, sequence and timestamp: its PBA was "
          "lost) gets the same PBA again and changes nothing (5.3.6, 5.5)", "[lma][engine]") {
    Fixture f;
    auto reg = pbu(f);
    reg.seq(40);
    f.engine->handle_proxy_binding_update(kMag1, kLma, reg.m);
    const auto first = f.last_pba();
    REQUIRE(first.status == 0);
    const auto routes = f.routes.routes;
    f.advance(500ms);
    f.engine->handle_proxy_binding_update(kMag1, kLma, reg.m);  // OAI keeps the timestamp
    const auto again = f.last_pba();
    CHECK(again.status == 0);
    CHECK(again.sequence == 40);
    CHECK(again.lifetime == first.lifetime);
    CHECK(first_hnp(again) == first_hnp(first));
    CHECK(mh::find_option<mh::Timestamp>(again.options)->value ==
          mh::find_option<mh::Timestamp>(first.options)->value);
    CHECK(f.engine->counters().pbu_retransmissions_answered == 1);
    CHECK(f.engine->counters().sessions_created == 1);
    CHECK(f.engine->cache().size() == 1);
    CHECK(f.routes.routes == routes);
    // The same octets from another MAG are no retransmission: ordering answers 157.
    f.engine->handle_proxy_binding_update(kMag2, kLma, reg.m);
    CHECK(f.last_pba().status == 157);
    // A new sequence number with the old timestamp is a new PBU: 157 too.
    reg.seq(41);
    f.engine->handle_proxy_binding_update(kMag1, kLma, reg.m);
    CHECK(f.last_pba().status == 157);
    CHECK(f.engine->counters().pbu_retransmissions_answered == 1);
}

TEST_CASE("A retransmitted de-registration gets its PBA again and does not restart "
          "MinDelayBeforeBCEDelete", "[lma][engine]") {
    Fixture f;
    register_mn1(f, kMag1);
    f.advance(1s);
    auto dereg = pbu(f, 4);
    dereg.lifetime(0).seq(50);
    f.engine->handle_proxy_binding_update(kMag1, kLma, dereg.m);
    REQUIRE(f.last_pba().status == 0);
    f.advance(6s);
    f.engine->handle_proxy_binding_update(kMag1, kLma, dereg.m);
    CHECK(f.last_pba().status == 0);
    CHECK(f.last_pba().lifetime == 0);
    CHECK(f.engine->counters().pbu_retransmissions_answered == 1);
    f.advance(4s);  // 10 s after the first: deleted on the original schedule
    CHECK(f.engine->cache().size() == 0);
}

TEST_CASE("Pool exhaustion answers 130 (5.3.2 step 2)", "[lma][engine]") {
    Fixture f(1);  // a /63: two /64s
    f.policies.policies[{1, "mn3@example.org"}] = MobileNodePolicy{};
    for (const char* mn : {"mn1@example.org", "mn2@example.org", "mn3@example.org"}) {
        PbuBuilder b;
        b.mn(mn).hnp().hi(1).att().ts(f.now_ts());
        f.engine->handle_proxy_binding_update(kMag1, kLma, b.m);
    }
    CHECK(f.last_pba().status == 130);
    CHECK(f.engine->cache().size() == 2);
}

TEST_CASE("Requested prefixes: another MN's gives 155, a different set gives 159, a foreign "
          "prefix gives 155", "[lma][engine]") {
    Fixture f;
    register_mn1(f);
    PbuBuilder other;
    other.mn("mn2@example.org").hnp("2001:db8:8000::/64").hi(1).att().ts(f.now_ts() + 1);
    f.engine->handle_proxy_binding_update(kMag1, kLma, other.m);
    CHECK(f.last_pba().status == 155);
    PbuBuilder more;
    more.mn("mn1@example.org").hnp("2001:db8:8000::/64").hnp("2001:db8:8000:1::/64").hi(5).att().ts(f.now_ts() + 2);
    f.engine->handle_proxy_binding_update(kMag1, kLma, more.m);
    CHECK(f.last_pba().status == 159);
    PbuBuilder foreign;
    foreign.mn("mn2@example.org").hnp("2001:db8:7777::/64").hi(1).att().ts(f.now_ts() + 3);
    f.engine->handle_proxy_binding_update(kMag1, kLma, foreign.m);
    CHECK(f.last_pba().status == 155);
}

TEST_CASE("GRE negotiation: 163 when policy needs GRE, status 2 when not needed, uplink key "
          "returned (RFC 5845 5.1)", "[lma][engine]") {
    Fixture f;
    f.policies.policies[{1, "mn1@example.org"}].gre_keys = true;
    f.engine->handle_proxy_binding_update(kMag1, kLma, pbu(f).m);
    CHECK(f.last_pba().status == 163);
    auto with_key = pbu(f);
    with_key.m.options.back() = mh::Timestamp{f.now_ts() + 1};
    with_key.gre(0xabcd);
    f.engine->handle_proxy_binding_update(kMag1, kLma, with_key.m);
    const auto pba = f.last_pba();
    CHECK(pba.status == 0);
    const auto* key = mh::find_option<mh::GreKey>(pba.options);
    REQUIRE(key != nullptr);
    REQUIRE(key->key.has_value());
    const TunnelInfo t = f.tunnels->tunnels().front();
    CHECK(t.key.kind == TunnelKind::kGre);
    CHECK(t.key.output_key == 0xabcdu);
    CHECK(t.key.input_key == *key->key);

    PbuBuilder offered;
    offered.mn("mn2@example.org").hnp().hi(1).att().ts(f.now_ts() + 2).gre(7);
    f.engine->handle_proxy_binding_update(kMag1, kLma, offered.m);
    CHECK(f.last_pba().status == 2);
    CHECK(mh::find_option<mh::GreKey>(f.last_pba().options) == nullptr);
    // Its retransmission (the PBA lost) is answered as it was: 2 again.
    const auto repeated = f.engine->counters().pbu_retransmissions_answered;
    f.engine->handle_proxy_binding_update(kMag1, kLma, offered.m);
    CHECK(f.engine->counters().pbu_retransmissions_answered == repeated + 1);
    CHECK(f.last_pba().status == 2);
    CHECK(mh::find_option<mh::GreKey>(f.last_pba().options) == nullptr);
}

TEST_CASE("lma: an MN's uplink key is never the M-Tunnel's (multicast.m-tunnel-key)", "[lma][engine][m-tunnel]") {
    Fixture f;
    f.config.reserved_gre_key = 1;  // the key the first session would get
    std::vector<PrefixPool> pools;
    pools.push_back(*PrefixPool::create(Ipv6Prefix{address("2001:db8:8000::"), 56}, 64));
    f.make(std::move(pools));
    f.policies.policies[{1, "mn1@example.org"}].gre_keys = true;
    auto with_key = pbu(f);
    with_key.gre(0xabcd);
    f.engine->handle_proxy_binding_update(kMag1, kLma, with_key.m);
    const auto pba = f.last_pba();  // find_option points into it
    REQUIRE(pba.status == 0);
    const auto* key = mh::find_option<mh::GreKey>(pba.options);
    REQUIRE(key != nullptr);
    CHECK(key->key == 2u);
}

TEST_CASE("lma: a pool prefix once requested explicitly is never given twice to one session "
          "(5.3.2, found by fuzz_lma_engine)", "[lma][engine]") {
    Fixture f(2);  // 2001:db8:8000::/62: four /64s
    f.policies.policies[{1, "mn2@example.org"}].prefix_count = 2;
    f.policies.policies[{1, "mn3@example.org"}] = MobileNodePolicy{};
    // mn1 asks for the pool's last prefix (step 3), then leaves: it goes to
    // the released list while the never-used cursor has not reached it.
    f.engine->handle_proxy_binding_update(kMag1, kLma, pbu(f, 1, "2001:db8:8000:3::/64").m);
    REQUIRE(f.last_pba().status == 0);
    REQUIRE(f.engine->delete_session_now(f.engine->cache().sessions_of({1, "mn1@example.org"})[0]));
    PbuBuilder mn3;
    mn3.mn("mn3@example.org").hnp().hi(1).att().ts(f.now_ts());
    f.engine->handle_proxy_binding_update(kMag1, kLma, mn3.m);  // takes ::0
    REQUIRE(f.last_pba().status == 0);
    f.advance(10ms);
    PbuBuilder two;
    two.mn("mn2@example.org").hnp().hi(1).att().ts(f.now_ts());
    f.engine->handle_proxy_binding_update(kMag1, kLma, two.m);  // takes ::1 and ::2
    REQUIRE(f.last_pba().status == 0);
    f.advance(10ms);
    PbuBuilder again;
    again.mn("mn2@example.org").hnp().hi(1).att().ts(f.now_ts());
    f.engine->handle_proxy_binding_update(kMag2, kLma, again.m);  // ::3 is all that is left
    CHECK(f.last_pba().status == 130);
    std::set<Ipv6Prefix> bound;
    std::size_t count = 0;
    for (const auto& [id, e] : f.engine->cache().entries()) {
        for (const auto& p : e.home_network_prefixes) {
            bound.insert(p);
            ++count;
        }
    }
    CHECK(bound.size() == count);
    CHECK(f.routes.routes.size() == count);
}

TEST_CASE("lma: a re-registration with a new GRE downlink key moves the session to a tunnel "
          "with that key and nothing leaks (RFC 5845 5.1)", "[lma][engine]") {
    Fixture f;
    f.policies.policies[{1, "mn1@example.org"}].gre_keys = true;
    auto first = pbu(f);
    first.gre(100);
    f.engine->handle_proxy_binding_update(kMag1, kLma, first.m);
    REQUIRE(f.last_pba().status == 0);
    const Ipv6Prefix hnp = first_hnp(f.last_pba());
    f.advance(10ms);
    auto renew = pbu(f, 5, pmip::to_string(hnp).c_str());
    renew.gre(200);
    f.engine->handle_proxy_binding_update(kMag1, kLma, renew.m);
    CHECK(f.last_pba().status == 0);
    REQUIRE(f.tunnels->tunnels().size() == 1);
    CHECK(f.tunnels->tunnels().front().key.output_key == 200u);
    REQUIRE(f.routes.routes.size() == 1);
    CHECK(f.routes.routes.begin()->ifindex == f.tunnels->tunnels().front().ifindex);
    f.engine->clear();
    CHECK(f.tunnels->tunnels().empty());
    CHECK(f.routes.routes.empty());
    CHECK(f.engine->counters().data_path_errors == 0);
}

// A reloaded profile (tunnel ip6ip6 <-> gre-key) takes effect at the
// session's next registration that asks for it; before, a PBU with the GRE
// option for a live ip6ip6 session was accepted without the option and the
// MAG fell back to ip6ip6 (netns_pmip_m_tunnel_dynamic, when the MN's RS came
// within MinDelayBeforeBCEDelete of the de-registration its MAG's reload sent).
TEST_CASE("lma: a reloaded policy's encapsulation takes effect at the session's next registration "
          "(ip6ip6 to GRE with keys and back, within MinDelayBeforeBCEDelete too, RFC 5845 5.1)",
          "[lma][engine]") {
    Fixture f;
    register_mn1(f);
    const Ipv6Prefix hnp = first_hnp(f.last_pba());
    const auto hnp_text = pmip::to_string(hnp);
    REQUIRE(f.tunnels->tunnels().front().key.kind == TunnelKind::kIp6Ip6);
    const auto only_tunnel = [&f] {
        REQUIRE(f.tunnels->tunnels().size() == 1);
        REQUIRE(f.routes.routes.size() == 1);
        CHECK(f.routes.routes.begin()->ifindex == f.tunnels->tunnels().front().ifindex);
        CHECK(f.backend->devices.size() == 1);
        return f.tunnels->tunnels().front().key;
    };
    auto& policy = f.policies.policies[{1, "mn1@example.org"}];
    // MAG1's renewal 10 ms on, with the GRE Key option carrying `key` when
    // there is one, else without the option.
    const auto renew = [&](std::optional<std::uint32_t> key = std::nullopt) {
        f.advance(10ms);
        auto b = pbu(f, 5, hnp_text.c_str());
        if (key) b.gre(*key);
        f.engine->handle_proxy_binding_update(kMag1, kLma, b.m);
    };

    // The last PBA, which must be accepted (status 0) with the GRE Key
    // option: that option's key field.
    const auto accepted_key = [&f]() -> std::optional<std::uint32_t> {
        const auto pba = f.last_pba();  // a copy: the option points into it
        CHECK(pba.status == 0);
        const auto* key = mh::find_option<mh::GreKey>(pba.options);
        REQUIRE(key != nullptr);
        return key->key;
    };

    SECTION("a renewal from the same MAG") {
        policy.gre_keys = true;
        renew(100);
        const auto first = accepted_key();
        REQUIRE(first.has_value());
        const std::uint32_t uplink = *first;
        auto k = only_tunnel();
        CHECK(k.kind == TunnelKind::kGre);
        CHECK(k.output_key == 100u);
        CHECK(k.input_key == uplink);
        CHECK(f.engine->counters().sessions_reencapsulated == 1);

        // The same keys again: nothing changes, the uplink key is the session's.
        renew(100);
        CHECK(accepted_key() == uplink);
        CHECK(only_tunnel() == k);
        CHECK(f.engine->counters().sessions_reencapsulated == 1);

        // Back to ip6ip6: GRE offered, not needed -> status 2, no option, and
        // the session's tunnel is ip6ip6 again.
        policy.gre_keys = false;
        renew(100);
        const auto pba = f.last_pba();
        CHECK(pba.status == 2);
        CHECK(mh::find_option<mh::GreKey>(pba.options) == nullptr);
        k = only_tunnel();
        CHECK(k.kind == TunnelKind::kIp6Ip6);
        CHECK_FALSE(k.output_key.has_value());
        CHECK(f.engine->counters().sessions_reencapsulated == 2);

        // Without the option, as the MAG then sends: accepted, unchanged.
        renew();
        CHECK(f.last_pba().status == 0);
        CHECK(only_tunnel() == k);
        CHECK(f.engine->counters().sessions_reencapsulated == 2);

        // Keys again (the policy reloaded once more): the session's uplink
        // key, kept through the ip6ip6 spell (RFC 5845 3.3).
        policy.gre_keys = true;
        renew(100);
        CHECK(accepted_key() == uplink);
        CHECK(only_tunnel().input_key == uplink);
        CHECK(f.engine->counters().sessions_reencapsulated == 3);
    }
    SECTION("a keyed session renewed with the option but no key goes unkeyed and keeps its uplink "
            "key for when keys come back (RFC 5845 3.3, 5.2)") {
        policy.gre_keys = true;
        renew(100);
        const auto first = accepted_key();
        REQUIRE(first.has_value());
        const std::uint32_t uplink = *first;
        // The option without a key: GRE without keys, the PBA's option
        // without a key (section 5.2's first rule).
        f.advance(10ms);
        auto keyless = pbu(f, 5, hnp_text.c_str());
        keyless.gre(std::nullopt);
        f.engine->handle_proxy_binding_update(kMag1, kLma, keyless.m);
        CHECK_FALSE(accepted_key().has_value());
        auto k = only_tunnel();
        CHECK(k.kind == TunnelKind::kGre);
        CHECK_FALSE(k.input_key.has_value());
        CHECK_FALSE(k.output_key.has_value());
        CHECK(f.engine->counters().sessions_reencapsulated == 2);
        // Keys again: the session's uplink key, not a new one.
        renew(300);
        CHECK(accepted_key() == uplink);
        k = only_tunnel();
        CHECK(k.output_key == 300u);
        CHECK(k.input_key == uplink);
    }
    SECTION("a GRE session the policy no longer wants, renewed without the option") {
        policy.gre_keys = true;
        renew(100);
        REQUIRE(f.last_pba().status == 0);
        policy.gre_keys = false;
        renew();
        CHECK(f.last_pba().status == 0);  // not 163: the policy does not need GRE
        CHECK(only_tunnel().kind == TunnelKind::kIp6Ip6);
    }
    SECTION("a GRE policy and a live ip6ip6 session renewed without the option: 163, the session kept "
            "until the MAG sends the option (RFC 5845 5.2)") {
        policy.gre_keys = true;
        renew();
        CHECK(f.last_pba().status == 163);
        CHECK(only_tunnel().kind == TunnelKind::kIp6Ip6);
        CHECK(f.engine->cache().size() == 1);
        renew(9);
        CHECK(f.last_pba().status == 0);
        CHECK(only_tunnel().output_key == 9u);
        CHECK(f.engine->counters().sessions_reencapsulated == 1);
    }
    SECTION("a registration within MinDelayBeforeBCEDelete of the de-registration") {
        f.advance(1s);
        auto dereg = pbu(f, 4, hnp_text.c_str());
        dereg.lifetime(0);
        f.engine->handle_proxy_binding_update(kMag1, kLma, dereg.m);
        REQUIRE(f.last_pba().status == 0);
        policy.gre_keys = true;
        f.advance(150ms);
        auto back = pbu(f, 4, hnp_text.c_str());  // the MAG attached it again
        back.gre(7);
        f.engine->handle_proxy_binding_update(kMag1, kLma, back.m);
        const auto pba = f.last_pba();
        CHECK(pba.status == 0);
        CHECK(first_hnp(pba) == hnp);
        const auto* key = mh::find_option<mh::GreKey>(pba.options);
        REQUIRE(key != nullptr);
        CHECK(key->key.has_value());
        const auto k = only_tunnel();
        CHECK(k.kind == TunnelKind::kGre);
        CHECK(k.output_key == 7u);
        f.advance(20s);
        CHECK(f.engine->cache().size() == 1);
    }
    SECTION("the new tunnel cannot be made: the session goes, nothing is left") {
        policy.gre_keys = true;
        f.backend->fail_create = Error{ENOBUFS, "test: no tunnel"};
        renew(100);
        CHECK(f.last_pba().status == 130);
        CHECK(f.engine->cache().size() == 0);
        CHECK(f.tunnels->tunnels().empty());
        CHECK(f.routes.routes.empty());
        CHECK(f.backend->devices.empty());
    }
    f.engine->clear();
    CHECK(f.tunnels->tunnels().empty());
    CHECK(f.routes.routes.empty());
}

TEST_CASE("lma: a handoff whose new tunnel cannot be made deletes the session without releasing "
          "another session's tunnel", "[lma][engine]") {
    Fixture f;
    register_mn1(f, kMag1);
    PbuBuilder other;
    other.mn("mn2@example.org").hnp().hi(1).att().ts(f.now_ts());
    f.engine->handle_proxy_binding_update(kMag2, kLma, other.m);  // MAG 2's tunnel in use
    REQUIRE(f.last_pba().status == 0);
    const Ipv6Prefix hnp = first_hnp(f.last_pba());
    f.routes.fail_with = Error{ENOBUFS, "test: no route"};
    f.advance(10ms);
    f.engine->handle_proxy_binding_update(kMag2, kLma, pbu(f, 3, "2001:db8:8000::/64").m);
    CHECK(f.last_pba().status == 130);
    f.routes.fail_with.reset();
    // mn2 still has its tunnel to MAG 2 and its route.
    REQUIRE(f.tunnels->tunnels().size() == 1);
    CHECK(f.tunnels->tunnels().front().key.peer == kMag2);
    CHECK(f.tunnels->tunnels().front().references == 1);
    bool routed = false;
    for (const auto& r : f.routes.routes) routed = routed || r.destination == hnp;
    CHECK(routed);
}

TEST_CASE("Sequence-number scheme: a stale sequence gets 135 with the last accepted number "
          "(5.5, RFC 6275 9.5.1)", "[lma][engine]") {
    Fixture f;
    PbuBuilder first;
    first.mn("mn1@example.org").hnp().hi(1).att().seq(100);
    f.engine->handle_proxy_binding_update(kMag1, kLma, first.m);
    CHECK(f.last_pba().status == 0);
    CHECK(mh::find_option<mh::Timestamp>(f.last_pba().options) == nullptr);
    PbuBuilder stale;
    stale.mn("mn1@example.org").hnp("2001:db8:8000::/64").hi(5).att().seq(99);
    f.engine->handle_proxy_binding_update(kMag1, kLma, stale.m);
    CHECK(f.last_pba().status == 135);
    CHECK(f.last_pba().sequence == 100);
    PbuBuilder newer;
    newer.mn("mn1@example.org").hnp("2001:db8:8000::/64").hi(5).att().seq(101);
    f.engine->handle_proxy_binding_update(kMag1, kLma, newer.m);
    CHECK(f.last_pba().status == 0);
}

TEST_CASE("A tunnel that cannot be created gives 130 and leaves no state", "[lma][engine]") {
    Fixture f(0);  // a pool of exactly one /64: it must come back
    f.backend->fail_create = Error{EPERM, "creating device: Operation not permitted"};
    f.engine->handle_proxy_binding_update(kMag1, kLma, pbu(f).m);
    CHECK(f.last_pba().status == 130);
    CHECK(f.engine->cache().size() == 0);
    CHECK(f.routes.routes.empty());
    CHECK(f.engine->counters().data_path_errors == 1);
    f.backend->fail_create.reset();
    f.engine->handle_proxy_binding_update(kMag1, kLma, pbu(f).m);
    CHECK(f.last_pba().status == 0);
    CHECK(pmip::to_string(first_hnp(f.last_pba())) == "2001:db8:8000::/64");  // prefix was released
}

TEST_CASE("A flood of PBUs from an unauthorized source creates no state", "[lma][engine]") {
    Fixture f;
    for (int i = 0; i < 1000; ++i) {
        auto b = pbu(f);
        b.m.sequence = static_cast<std::uint16_t>(i);
        f.engine->handle_proxy_binding_update(kStranger, kLma, b.m);
    }
    CHECK(f.engine->cache().size() == 0);
    CHECK(f.tunnels->tunnels().empty());
    CHECK(f.timers.pending() == 0);
    CHECK(f.engine->counters().pbu_rejected.at(154) == 1000);
}

TEST_CASE("Two MNs on one MAG share one tunnel, it goes with the last session", "[lma][engine]") {
    Fixture f;
    register_mn1(f);
    PbuBuilder b;
    b.mn("mn2@example.org").hnp().hi(1).att().ts(f.now_ts());
    f.engine->handle_proxy_binding_update(kMag1, kLma, b.m);
    CHECK(f.last_pba().status == 0);
    CHECK(f.tunnels->tunnels().size() == 1);
    CHECK(f.tunnels->tunnels().front().references == 2);
    CHECK(f.routes.routes.size() == 2);
    f.engine->clear();
    CHECK(f.backend->devices.empty());
    CHECK(f.routes.routes.empty());
}

namespace {
struct RecordingObserver final : LmaObserver {
    void session_bound(const BindingCacheEntry& e, const TunnelInfo& t) override {
        events.push_back("bound " + std::to_string(e.id) + " " + pmip::to_string(e.proxy_coa) + " " + t.name);
    }
    void session_unbound(const BindingCacheEntry& e, const Ipv6Address& mag, const std::string& t) override {
        events.push_back("unbound " + std::to_string(e.id) + " " + pmip::to_string(mag) + " " + t);
    }
    std::vector<std::string> events;
};
}  // namespace

TEST_CASE("The observer sees sessions bound and unbound per MAG, handoffs make before break", "[lma][engine]") {
    Fixture f;
    RecordingObserver observer;
    f.engine->set_observer(&observer);
    register_mn1(f, kMag1);
    REQUIRE(f.tunnels->tunnels().size() == 1);
    const std::string old_tunnel = f.tunnels->tunnels().front().name;
    const std::size_t pbas = f.sender.sent.size();
    f.advance(1s);
    f.engine->handle_proxy_binding_update(kMag2, kLma, pbu(f, 3, "2001:db8:8000::/64").m);
    REQUIRE(f.sender.sent.size() == pbas + 1);
    CHECK(f.last_pba().status == 0);
    // The route was replaced in place, never deleted: downlink traffic always
    // has a tunnel (the old tunnel's route delete would be a separate request).
    std::size_t route_deletes = 0;
    for (const auto& r : f.routes.requests)
        route_deletes += r.op == RouteOp::kDelete && std::holds_alternative<Route>(r.object);
    CHECK(route_deletes == 0);
    REQUIRE(f.routes.routes.size() == 1);
    REQUIRE(f.tunnels->tunnels().size() == 1);
    CHECK(f.routes.routes.begin()->ifindex == f.tunnels->tunnels().front().ifindex);
    CHECK(f.engine->delete_sessions_of(kMag1) == 0);
    CHECK(f.engine->delete_sessions_of(kMag2) == 1);
    REQUIRE(observer.events.size() == 4);
    CHECK(observer.events[0].rfind("bound 1 2001:db8:100::11 pm6-", 0) == 0);
    CHECK(observer.events[1].rfind("bound 1 2001:db8:100::12 pm6-", 0) == 0);
    CHECK(observer.events[2] == "unbound 1 2001:db8:100::11 " + old_tunnel);
    CHECK(observer.events[3].rfind("unbound 1 2001:db8:100::12 pm6-", 0) == 0);
    CHECK(f.engine->cache().size() == 0);
    CHECK(f.tunnels->tunnels().empty());
}

TEST_CASE("A PBU with the D flag (RFC 8885, from a MAAR) is refused with 128 by an LMA that is no CMD",
          "[lma][dmm]") {
    Fixture f;
    auto b = pbu(f);
    b.m.flags |= mh::bu_flag::kD;
    f.engine->handle_proxy_binding_update(kMag1, kLma, b.m);
    CHECK(f.last_pba().status == 128);
    CHECK(f.engine->counters().pbu_dmm_refused == 1);
    CHECK(f.engine->cache().size() == 0);
}

// Issue 20: batching across PBUs (LmaEngine::begin_batch / end_batch).
namespace {
PbuBuilder pbu_for(const Fixture& f, const char* mn, std::uint16_t sequence = 1) {
    PbuBuilder b;
    b.mn(mn).hnp().hi(1).att(3).ts(f.now_ts()).seq(sequence);
    return b;
}
const mh::BindingAcknowledgement& pba_at(const Fixture& f, std::size_t i) {
    return std::get<mh::BindingAcknowledgement>(f.sender.sent.at(i).message);
}
}  // namespace

TEST_CASE("lma batch: the routes of many PBUs go in one apply, and no PBA leaves before it",
          "[lma][engine][batch]") {
    Fixture f;
    f.policies.policies[{1, "mn3@example.org"}] = MobileNodePolicy{};
    const std::size_t batches_before = f.routes.batches;
    f.engine->begin_batch();
    f.engine->handle_proxy_binding_update(kMag1, kLma, pbu_for(f, "mn1@example.org").m);
    f.engine->handle_proxy_binding_update(kMag2, kLma, pbu_for(f, "mn2@example.org").m);
    f.engine->handle_proxy_binding_update(kMag1, kLma, pbu_for(f, "mn3@example.org").m);
    // Held: nothing sent, no route programmed yet.
    CHECK(f.sender.sent.empty());
    CHECK(f.routes.batches == batches_before);
    CHECK(f.routes.routes.empty());
    CHECK(f.engine->batching());
    f.engine->end_batch();
    CHECK_FALSE(f.engine->batching());
    CHECK(f.routes.batches == batches_before + 1);
    CHECK(f.routes.routes.size() == 3);
    REQUIRE(f.sender.sent.size() == 3);
    for (std::size_t i = 0; i < 3; ++i) CHECK(pba_at(f, i).status == 0);
    // In the order the PBUs came.
    CHECK(f.sender.sent[0].destination == kMag1);
    CHECK(f.sender.sent[1].destination == kMag2);
    CHECK(f.sender.sent[2].destination == kMag1);
    CHECK(f.engine->counters().batches == 1);
    CHECK(f.engine->counters().batched_route_requests == 3);
    CHECK(f.engine->counters().batched_pbas == 3);
    CHECK(f.engine->counters().pbu_accepted == 3);
    // Outside a batch, at once as before.
    f.engine->handle_proxy_binding_update(kMag1, kLma, pbu_for(f, "mn1@example.org", 2).m);
    CHECK(f.sender.sent.size() == 4);
}

TEST_CASE("lma batch: a session whose route fails is deleted and its PBA becomes 130, the "
          "others of the batch stand", "[lma][engine][batch]") {
    Fixture g;
    auto& e = *g.engine;
    g.policies.policies[{1, "mn3@example.org"}] = MobileNodePolicy{};
    // mn2's prefix will be the second allocated: 2001:db8:8000:1::/64.
    g.routes.fail_if = [](const RouteRequest& r) -> std::optional<Error> {
        const auto* route = std::get_if<Route>(&r.object);
        if (r.op == RouteOp::kAdd && route && pmip::to_string(route->destination) == "2001:db8:8000:1::/64")
            return Error{ENODEV, "adding route 2001:db8:8000:1::/64: No such device"};
        return std::nullopt;
    };
    e.begin_batch();
    auto b1 = pbu_for(g, "mn1@example.org");
    auto b2 = pbu_for(g, "mn2@example.org");
    b2.m.options.push_back(mh::GreKey{std::nullopt});  // offered, not needed by policy: status 2 would say so
    auto b3 = pbu_for(g, "mn3@example.org");
    e.handle_proxy_binding_update(kMag1, kLma, b1.m);
    e.handle_proxy_binding_update(kMag2, kLma, b2.m);
    e.handle_proxy_binding_update(kMag1, kLma, b3.m);
    // mn2 re-registers within the same batch.
    g.clock.advance(1ms);
    PbuBuilder again;
    again.mn("mn2@example.org").hnp("2001:db8:8000:1::/64").hi(1).att(3).ts(g.now_ts()).seq(2);
    e.handle_proxy_binding_update(kMag2, kLma, again.m);
    CHECK(g.sender.sent.empty());
    e.end_batch();
    REQUIRE(g.sender.sent.size() == 4);
    CHECK(pba_at(g, 0).status == 0);
    CHECK(pba_at(g, 2).status == 0);
    for (std::size_t i : {1u, 3u}) {
        INFO("PBA " << i);
        const auto& pba = pba_at(g, i);
        CHECK(pba.status == 130);
        CHECK(pba.lifetime == 0);
        CHECK(g.sender.sent[i].destination == kMag2);
        // A rejection echoes the PBU's request, not the prefix the session had.
        CHECK(pmip::to_string(first_hnp(pba)) == (i == 1 ? "::/0" : "2001:db8:8000:1::/64"));
        CHECK(mh::find_option<mh::GreKey>(pba.options) == nullptr);
        CHECK(mh::find_option<mh::MobileNodeIdentifier>(pba.options) != nullptr);
        CHECK(mh::find_option<mh::Timestamp>(pba.options) != nullptr);
    }
    // No binding claims the route that is not in; mn2's prefix went back to the pool.
    CHECK(e.cache().size() == 2);
    CHECK(g.routes.routes.size() == 2);
    for (const auto& r : g.routes.routes) CHECK(pmip::to_string(r.destination) != "2001:db8:8000:1::/64");
    CHECK(e.counters().batch_sessions_failed == 1);
    CHECK(e.counters().batch_pbas_rewritten == 2);
    CHECK(e.counters().pbu_accepted == 2);
    CHECK(e.counters().pbu_rejected.at(130) == 2);
    CHECK(e.counters().data_path_errors == 1);
    // mn2's MAG retransmits once the route can go in: served, its tunnel still there.
    g.routes.fail_if = nullptr;
    g.clock.advance(1ms);
    e.handle_proxy_binding_update(kMag2, kLma, pbu_for(g, "mn2@example.org", 3).m);
    CHECK(g.last_pba().status == 0);
    CHECK(e.cache().size() == 3);
    CHECK(g.routes.routes.size() == 3);
}

TEST_CASE("lma batch: a handoff's old tunnel goes only after the batch's routes left it",
          "[lma][engine][batch]") {
    Fixture f;
    register_mn1(f, kMag1);
    REQUIRE(f.tunnels->tunnels().size() == 1);
    f.advance(1s);
    f.engine->begin_batch();
    f.engine->handle_proxy_binding_update(kMag2, kLma, pbu(f, 3, "2001:db8:8000::/64").m);
    // The old tunnel is still held: the route into it is not replaced yet.
    CHECK(f.tunnels->tunnels().size() == 2);
    CHECK(f.routes.routes.begin()->ifindex == f.tunnels->tunnels().front().ifindex);
    f.engine->end_batch();
    REQUIRE(f.tunnels->tunnels().size() == 1);
    CHECK(f.tunnels->tunnels().front().key.peer == kMag2);
    REQUIRE(f.routes.routes.size() == 1);
    CHECK(f.routes.routes.begin()->ifindex == f.tunnels->tunnels().front().ifindex);
    CHECK(f.last_pba().status == 0);
}

TEST_CASE("lma batch: a failed handoff deletes the session, its PBA 130, the old tunnel let go",
          "[lma][engine][batch]") {
    Fixture f;
    register_mn1(f, kMag1);
    const int old_ifindex = f.tunnels->tunnels().front().ifindex;
    f.routes.fail_if = [old_ifindex](const RouteRequest& r) -> std::optional<Error> {
        const auto* route = std::get_if<Route>(&r.object);
        if (r.op == RouteOp::kAdd && route && route->ifindex != old_ifindex)
            return Error{ENOBUFS, "adding route: No buffer space available"};
        return std::nullopt;
    };
    f.advance(1s);
    f.engine->begin_batch();
    f.engine->handle_proxy_binding_update(kMag2, kLma, pbu(f, 3, "2001:db8:8000::/64").m);
    f.engine->end_batch();
    CHECK(f.last_pba().status == 130);
    CHECK(f.engine->cache().size() == 0);
    CHECK(f.tunnels->tunnels().empty());
    CHECK(f.backend->devices.empty());
    CHECK(f.routes.routes.empty());  // the old route too, whatever its device
    CHECK(f.engine->counters().batch_sessions_failed == 1);
}
