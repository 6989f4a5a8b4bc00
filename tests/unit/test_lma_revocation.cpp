// LMA engine, Binding Revocation as initiator (RFC 5846 sections 5.1, 6.1.1,
// 6.2.2, 6.3, 8.1, 11), with fakes for tunnels, routes, timers (simulated
// clock) and the MH socket. Each test is named after the rule it checks.
#include <catch2/catch.hpp>

#include <cstring>

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
    std::uint16_t sequence = 1;

    explicit Fixture(RevocationConfig revocation = {}) {
        sender.compare_parsed = true;
        config.revocation = revocation;
        for (const char* mn : {"mn1@example.org", "mn2@example.org", "mn3@example.net"})
            policies.policies[{1, mn}] = MobileNodePolicy{};
        std::vector<PrefixPool> pools;
        pools.push_back(*PrefixPool::create(prefix("2001:db8:8000::/56"), 64));
        make(std::move(pools));
    }
    mh::BindingUpdate pbu(const char* mn, std::uint8_t hi = 1, std::uint16_t lifetime = 100,
                          std::optional<Ipv6Prefix> hnp = std::nullopt) {
        advance(10ms);  // every PBU a newer Timestamp (RFC 5213 section 5.5)
        mh::BindingUpdate m{sequence++, mh::bu_flag::kA | mh::bu_flag::kP, lifetime, {}};
        m.options.push_back(
            mh::MobileNodeIdentifier{1, std::vector<std::uint8_t>(mn, mn + std::strlen(mn))});
        const Ipv6Prefix p = hnp.value_or(Ipv6Prefix{{}, 0});
        m.options.push_back(mh::HomeNetworkPrefix{p.length, p.address});
        m.options.push_back(mh::HandoffIndicator{hi});
        m.options.push_back(mh::AccessTechnologyType{3});
        m.options.push_back(mh::Timestamp{now_ts()});
        return m;
    }
    // Registers `mn` at `mag`; returns its HNP.
    Ipv6Prefix attach(const char* mn, const Ipv6Address& mag = kMag1) {
        engine->handle_proxy_binding_update(mag, kLma, pbu(mn));
        const auto& pba = std::get<mh::BindingAcknowledgement>(sender.sent.back().message);
        REQUIRE(pba.status == 0);
        const auto* h = mh::find_option<mh::HomeNetworkPrefix>(pba.options);
        return Ipv6Prefix{h->prefix, h->prefix_length};
    }
    void bra(const Ipv6Address& from, std::uint16_t sequence_number, std::uint8_t status = 0,
             std::uint8_t flags = mh::revocation_flag::kP) {
        mh::BindingRevocationAcknowledgement a;
        a.status = status;
        a.sequence = sequence_number;
        a.flags = flags;
        engine->handle_binding_revocation_acknowledgement(from, kLma, a);
    }
    const BindingCacheEntry* binding_of(const char* mn) const {
        const auto ids = engine->cache().sessions_of({1, mn});
        return ids.empty() ? nullptr : engine->cache().find(ids.front());
    }
    bool routed(const Ipv6Prefix& p) const {
        for (const auto& r : routes.routes)
            if (r.destination == p) return true;
        return false;
    }
};

MobileNodeIdentifier nai(const char* text) { return {1, text}; }

}  // namespace

TEST_CASE("lma: Revoking one MN sends a BRI with P, a per-MN trigger, its MN-ID and HNP to its MAG, "
          "and keeps the binding while waiting (5.1, 8.1)", "[lma][revocation]") {
    Fixture f;
    const Ipv6Prefix hnp = f.attach("mn1@example.org");
    f.sender.sent.clear();

    auto started = f.engine->revoke_mobile_node(nai("mn1@example.org"));
    REQUIRE(started.ok());
    REQUIRE(started->size() == 1);
    REQUIRE(f.sender.sent.size() == 1);
    CHECK(f.sender.sent[0].source == kLma);
    CHECK(f.sender.sent[0].destination == kMag1);  // the Proxy-CoA
    const auto bri = f.sender.bris().at(0);
    CHECK(bri.flags == mh::revocation_flag::kP);  // P, not G, not V
    CHECK(bri.revocation_trigger == revocation_trigger::kAdministrativeReason);
    CHECK(bri.sequence == (*started)[0]->sequence);
    const auto* id = mh::find_option<mh::MobileNodeIdentifier>(bri.options);
    REQUIRE(id != nullptr);
    CHECK(id->subtype == 1);
    CHECK(std::string(id->identifier.begin(), id->identifier.end()) == "mn1@example.org");
    const auto* h = mh::find_option<mh::HomeNetworkPrefix>(bri.options);
    REQUIRE(h != nullptr);
    CHECK(Ipv6Prefix{h->prefix, h->prefix_length} == hnp);

    // Section 8.1: "revocation in progress"; the entry and its route stay.
    REQUIRE(f.binding_of("mn1@example.org") != nullptr);
    CHECK(f.binding_of("mn1@example.org")->state == BindingState::kRevoking);
    CHECK(f.routed(hnp));
    CHECK(f.engine->revocations().size() == 1);
    CHECK(f.engine->counters().revocations_started == 1);
    CHECK(f.engine->counters().bri_sent == 1);
}

TEST_CASE("lma: A successful BRA from the MAG deletes the revoked binding, its route and tunnel "
          "(6.2.2)", "[lma][revocation]") {
    Fixture f;
    const Ipv6Prefix hnp = f.attach("mn1@example.org");
    const Ipv6Prefix other = f.attach("mn2@example.org");
    const auto seq = (*f.engine->revoke_mobile_node(nai("mn1@example.org")))[0]->sequence;

    f.bra(kMag1, seq, revocation_status::kSuccess);
    CHECK(f.binding_of("mn1@example.org") == nullptr);
    CHECK_FALSE(f.routed(hnp));
    CHECK(f.routed(other));  // another MN at the same MAG is untouched
    CHECK(f.engine->revocations().empty());
    const auto& c = f.engine->counters();
    CHECK(c.revocations_completed == 1);
    CHECK(c.bra_by_status.at(0) == 1);
    CHECK(c.sessions_revoked == 1);

    // No retransmission after the BRA.
    const auto sent = f.sender.sent.size();
    f.advance(10s);
    CHECK(f.sender.sent.size() == sent);
}

TEST_CASE("lma: Without a BRA the BRI is retransmitted after InitMINDelayBRIs and the binding deleted "
          "after the last retry (6.3, 11 defaults: 1 s, 1 retry, 2 s cap)", "[lma][revocation]") {
    Fixture f;
    const Ipv6Prefix hnp = f.attach("mn1@example.org");
    f.sender.sent.clear();
    REQUIRE(f.engine->revoke_mobile_node(nai("mn1@example.org")).ok());
    REQUIRE(f.sender.bris().size() == 1);

    f.advance(999ms);
    CHECK(f.sender.bris().size() == 1);
    f.advance(1ms);  // t = 1 s: the one retransmission, the same message
    REQUIRE(f.sender.bris().size() == 2);
    CHECK(f.sender.bris()[1] == f.sender.bris()[0]);
    CHECK(f.engine->counters().bri_retransmitted == 1);

    // The timeout doubled to 2 s (= MAX_BRACK_TIMEOUT): no clean-up before t = 3 s.
    f.advance(1999ms);
    CHECK(f.binding_of("mn1@example.org") != nullptr);
    CHECK(f.routed(hnp));
    f.advance(1ms);
    CHECK(f.binding_of("mn1@example.org") == nullptr);
    CHECK_FALSE(f.routed(hnp));
    CHECK(f.sender.bris().size() == 2);  // BRIMaxRetriesNumber = 1
    CHECK(f.engine->counters().revocations_timed_out == 1);
    CHECK(f.engine->counters().sessions_revoked == 1);
    CHECK(f.engine->revocations().empty());

    // A BRA after the clean-up matches nothing.
    f.bra(kMag1, f.sender.bris()[0].sequence);
    CHECK(f.engine->counters().bra_unknown_sequence == 1);
}

TEST_CASE("lma: Retransmissions double the timeout up to MAX_BRACK_TIMEOUT and stop at "
          "BRIMaxRetriesNumber (6.3)", "[lma][revocation]") {
    RevocationConfig rc;
    rc.initial_timeout = 1s;
    rc.max_timeout = 4s;
    rc.max_retries = 3;
    Fixture f(rc);
    f.attach("mn1@example.org");
    f.sender.sent.clear();
    REQUIRE(f.engine->revoke_mobile_node(nai("mn1@example.org")).ok());
    // Sent at 0; retransmitted at 1, 3 (1 + 2), 7 (3 + 4, capped); deleted at 11 (7 + 4).
    std::vector<std::pair<Duration, std::size_t>> expected = {
        {999ms, 1}, {1ms, 2}, {1999ms, 2}, {1ms, 3}, {3999ms, 3}, {1ms, 4}, {3999ms, 4}};
    for (const auto& [step, count] : expected) {
        f.advance(step);
        CHECK(f.sender.bris().size() == count);
    }
    CHECK(f.binding_of("mn1@example.org") != nullptr);
    f.advance(1ms);
    CHECK(f.binding_of("mn1@example.org") == nullptr);
    CHECK(f.sender.bris().size() == 4);
}

TEST_CASE("lma: InitMINDelayBRIs is never below 0.5 s (11)", "[lma][revocation]") {
    RevocationConfig rc;
    rc.initial_timeout = 100ms;
    rc.max_retries = 1;
    Fixture f(rc);
    f.attach("mn1@example.org");
    f.sender.sent.clear();
    REQUIRE(f.engine->revoke_mobile_node(nai("mn1@example.org")).ok());
    f.advance(499ms);
    CHECK(f.sender.bris().size() == 1);
    f.advance(1ms);
    CHECK(f.sender.bris().size() == 2);
}

TEST_CASE("lma: A BRA with an unknown sequence number or from another node is dropped and counted, "
          "the revocation goes on (6.2.2)", "[lma][revocation]") {
    Fixture f;
    f.attach("mn1@example.org");
    const auto seq = (*f.engine->revoke_mobile_node(nai("mn1@example.org")))[0]->sequence;

    f.bra(kMag1, static_cast<std::uint16_t>(seq + 1));
    f.bra(kMag2, seq);       // the right number from the wrong MAG
    f.bra(kStranger, seq);
    CHECK(f.binding_of("mn1@example.org") != nullptr);
    CHECK(f.engine->revocations().size() == 1);
    const auto& c = f.engine->counters();
    CHECK(c.bra_received == 3);
    CHECK(c.bra_unknown_sequence == 1);
    CHECK(c.bra_wrong_source == 2);
    CHECK(c.revocations_completed == 0);

    f.bra(kMag1, seq);
    CHECK(f.binding_of("mn1@example.org") == nullptr);
}

TEST_CASE("lma: A BRA with a failure status is counted by status and the LMA's revocation stands "
          "(6.2.2 local policy)", "[lma][revocation]") {
    Fixture f;
    f.attach("mn1@example.org");
    const auto seq = (*f.engine->revoke_mobile_node(nai("mn1@example.org")))[0]->sequence;
    f.bra(kMag1, seq, revocation_status::kRevocationFailedMnIsAttached);
    CHECK(f.binding_of("mn1@example.org") == nullptr);
    CHECK(f.engine->counters().bra_by_status.at(132) == 1);
    CHECK(f.engine->counters().revocations_completed == 1);
}

TEST_CASE("lma: Revoking a MAG sends one global BRI (G, P, trigger 128, no options) and deletes only "
          "that MAG's bindings on the BRA (8.1)", "[lma][revocation]") {
    Fixture f;
    const Ipv6Prefix a = f.attach("mn1@example.org", kMag1);
    const Ipv6Prefix b = f.attach("mn2@example.org", kMag1);
    const Ipv6Prefix c = f.attach("mn3@example.net", kMag2);
    f.sender.sent.clear();

    auto started = f.engine->revoke_mag(kMag1);
    REQUIRE(started.ok());
    CHECK((*started)->sessions.size() == 2);
    REQUIRE(f.sender.sent.size() == 1);
    CHECK(f.sender.sent[0].destination == kMag1);
    const auto bri = f.sender.bris().at(0);
    CHECK(bri.flags == (mh::revocation_flag::kP | mh::revocation_flag::kG));
    CHECK(bri.revocation_trigger == revocation_trigger::kPerPeerPolicy);
    CHECK(bri.options.empty());
    // No options: Header Len 1, 16 octets on the wire (section 5.1).
    const auto wire = mh::serialize(mh::Message{bri});
    CHECK(wire.size() == 16);
    CHECK(wire[1] == 1);

    f.bra(kMag1, bri.sequence, 0, mh::revocation_flag::kP | mh::revocation_flag::kG);
    CHECK(f.binding_of("mn1@example.org") == nullptr);
    CHECK(f.binding_of("mn2@example.org") == nullptr);
    CHECK(f.binding_of("mn3@example.net") != nullptr);
    CHECK_FALSE(f.routed(a));
    CHECK_FALSE(f.routed(b));
    CHECK(f.routed(c));
    CHECK(f.engine->counters().sessions_revoked == 2);
    // The tunnel to MAG 1 went with its last session.
    REQUIRE(f.tunnels->tunnels().size() == 1);
    CHECK(f.tunnels->tunnels().front().key.peer == kMag2);
}

TEST_CASE("lma: Revoking a realm at a MAG sends trigger 129 with MN-ID \"@realm\" and spares other "
          "realms (8.1)", "[lma][revocation]") {
    Fixture f;
    f.attach("mn1@example.org", kMag1);
    f.attach("mn3@example.net", kMag1);
    f.sender.sent.clear();
    auto started = f.engine->revoke_mag(kMag1, std::string("example.org"));
    REQUIRE(started.ok());
    const auto bri = f.sender.bris().at(0);
    CHECK(bri.flags == (mh::revocation_flag::kP | mh::revocation_flag::kG));
    CHECK(bri.revocation_trigger == revocation_trigger::kRevokingMobilityNodeLocalPolicy);
    const auto* id = mh::find_option<mh::MobileNodeIdentifier>(bri.options);
    REQUIRE(id != nullptr);
    CHECK(std::string(id->identifier.begin(), id->identifier.end()) == "@example.org");
    CHECK(f.binding_of("mn1@example.org")->state == BindingState::kRevoking);
    CHECK(f.binding_of("mn3@example.net")->state == BindingState::kActive);
    // "1234abdelta@foo.example.com" is not in realm example.com: exact realm only.
    CHECK_FALSE(f.engine->revoke_mag(kMag1, std::string("org")).ok());
    CHECK_FALSE(f.engine->revoke_mag(kMag1, std::string("a@b")).ok());
}

TEST_CASE("lma: Revocation errors name the problem and start nothing", "[lma][revocation]") {
    Fixture f;
    const auto none = f.engine->revoke_mobile_node(nai("mn1@example.org"));
    REQUIRE_FALSE(none.ok());
    CHECK(none.error().what.find("no binding") != std::string::npos);
    f.attach("mn1@example.org");
    // Section 6.1.1: G cleared needs a per-MN trigger.
    const auto global = f.engine->revoke_mobile_node(nai("mn1@example.org"),
                                                     revocation_trigger::kPerPeerPolicy);
    REQUIRE_FALSE(global.ok());
    CHECK(global.error().what.find("per-MN trigger") != std::string::npos);
    const auto wrong_prefix =
        f.engine->revoke_mobile_node(nai("mn1@example.org"), 1, prefix("2001:db8:ffff::/64"));
    REQUIRE_FALSE(wrong_prefix.ok());
    CHECK(wrong_prefix.error().what.find("2001:db8:ffff::/64") != std::string::npos);
    CHECK(f.engine->revocations().empty());
    CHECK_FALSE(f.engine->revoke_mag(kMag2).ok());  // nothing at MAG 2

    REQUIRE(f.engine->revoke_mobile_node(nai("mn1@example.org")).ok());
    const auto again = f.engine->revoke_mobile_node(nai("mn1@example.org"));
    REQUIRE_FALSE(again.ok());
    CHECK(again.error().what.find("already being revoked") != std::string::npos);
    CHECK(f.engine->revocations().size() == 1);
}

TEST_CASE("lma: Outstanding BRIs never share a sequence number (5.1)", "[lma][revocation]") {
    Fixture f;
    f.attach("mn1@example.org");
    f.attach("mn2@example.org");
    f.attach("mn3@example.net", kMag2);
    const auto a = (*f.engine->revoke_mobile_node(nai("mn1@example.org")))[0]->sequence;
    const auto b = (*f.engine->revoke_mobile_node(nai("mn2@example.org")))[0]->sequence;
    const auto c = (*f.engine->revoke_mag(kMag2))->sequence;
    CHECK(a != b);
    CHECK(b != c);
    CHECK(a != c);
    CHECK(f.engine->revocations().size() == 3);
}

TEST_CASE("lma: Revoking one prefix of a multihomed MN leaves its other session (8.1: HNP "
          "identifies the binding)", "[lma][revocation]") {
    Fixture f;
    const Ipv6Prefix first = f.attach("mn1@example.org", kMag1);
    const Ipv6Prefix second = f.attach("mn1@example.org", kMag2);  // HI=1: a new interface
    REQUIRE(f.engine->cache().sessions_of({1, "mn1@example.org"}).size() == 2);
    f.sender.sent.clear();

    auto started = f.engine->revoke_mobile_node(nai("mn1@example.org"), 1, second);
    REQUIRE(started.ok());
    REQUIRE(f.sender.sent.size() == 1);
    CHECK(f.sender.sent[0].destination == kMag2);
    const auto bri = f.sender.bris().at(0);
    REQUIRE(mh::count_options<mh::HomeNetworkPrefix>(bri.options) == 1);
    const auto* h = mh::find_option<mh::HomeNetworkPrefix>(bri.options);
    CHECK(Ipv6Prefix{h->prefix, h->prefix_length} == second);
    f.bra(kMag2, bri.sequence);
    CHECK(f.routed(first));
    CHECK_FALSE(f.routed(second));

    // Without a prefix, sessions at two MAGs give one BRI per MAG.
    const Ipv6Prefix third = f.attach("mn1@example.org", kMag2);
    f.sender.sent.clear();
    auto both = f.engine->revoke_mobile_node(nai("mn1@example.org"));
    REQUIRE(both.ok());
    CHECK(both->size() == 2);
    REQUIRE(f.sender.sent.size() == 2);
    CHECK(f.sender.sent[0].destination != f.sender.sent[1].destination);
    CHECK(f.routed(third));
}

TEST_CASE("lma: During a revocation a de-registration from the MAG ends the binding at once and any "
          "other PBU for it gets 129 (8.1 race condition)", "[lma][revocation]") {
    Fixture f;
    const Ipv6Prefix hnp = f.attach("mn1@example.org");
    const auto seq = (*f.engine->revoke_mobile_node(nai("mn1@example.org")))[0]->sequence;

    // A re-registration crossing the BRI.
    f.engine->handle_proxy_binding_update(kMag1, kLma, f.pbu("mn1@example.org", 5, 100, hnp));
    auto pba = std::get<mh::BindingAcknowledgement>(f.sender.sent.back().message);
    CHECK(pba.status == mh::status::kAdministrativelyProhibited);
    CHECK(f.engine->counters().pbu_during_revocation == 1);
    // A handoff to another MAG during the revocation: refused too.
    f.engine->handle_proxy_binding_update(kMag2, kLma, f.pbu("mn1@example.org", 3, 100, hnp));
    pba = std::get<mh::BindingAcknowledgement>(f.sender.sent.back().message);
    CHECK(pba.status == 129);
    CHECK(f.binding_of("mn1@example.org")->proxy_coa == kMag1);

    // The MAG de-registers: accepted and deleted without MinDelayBeforeBCEDelete.
    f.engine->handle_proxy_binding_update(kMag1, kLma, f.pbu("mn1@example.org", 4, 0, hnp));
    pba = std::get<mh::BindingAcknowledgement>(f.sender.sent.back().message);
    CHECK(pba.status == 0);
    CHECK(pba.lifetime == 0);
    CHECK(f.binding_of("mn1@example.org") == nullptr);
    CHECK_FALSE(f.routed(hnp));
    CHECK(f.engine->counters().sessions_revoked == 1);

    // The BRA still completes the revocation; nothing more to delete.
    f.bra(kMag1, seq, revocation_status::kBindingDoesNotExist);
    CHECK(f.engine->counters().revocations_completed == 1);
    CHECK(f.engine->counters().sessions_revoked == 1);
    CHECK(f.engine->revocations().empty());

    // After the revocation the MN may register again.
    f.attach("mn1@example.org");
}

TEST_CASE("lma: A binding that expires while being revoked is gone, the BRA deletes nothing else",
          "[lma][revocation]") {
    Fixture f;
    f.attach("mn1@example.org");  // lifetime 100 units = 400 s
    f.attach("mn2@example.org");
    const auto seq = (*f.engine->revoke_mobile_node(nai("mn1@example.org")))[0]->sequence;
    // Delete mn1 by other means (the lifetime) while the BRI is outstanding.
    const SessionId id = f.binding_of("mn1@example.org")->id;
    CHECK(f.engine->delete_session_now(id));
    f.bra(kMag1, seq);
    CHECK(f.binding_of("mn2@example.org") != nullptr);
    CHECK(f.engine->counters().sessions_revoked == 0);
}

TEST_CASE("lma: Revocation trigger names and numbers parse, unknown ones do not (5.1)",
          "[lma][revocation]") {
    CHECK(parse_revocation_trigger("1") == std::optional<std::uint8_t>(1));
    CHECK(parse_revocation_trigger("administrative-reason") == std::optional<std::uint8_t>(1));
    CHECK(parse_revocation_trigger("administrative") == std::optional<std::uint8_t>(1));
    CHECK(parse_revocation_trigger("Per-Peer Policy") == std::optional<std::uint8_t>(128));
    CHECK(parse_revocation_trigger("user-initiated-session-termination") ==
          std::optional<std::uint8_t>(5));
    CHECK(parse_revocation_trigger("inter-mag-handover-unknown") == std::optional<std::uint8_t>(4));
    CHECK_FALSE(parse_revocation_trigger("256"));
    CHECK_FALSE(parse_revocation_trigger("bogus"));
    CHECK_FALSE(parse_revocation_trigger(""));
    CHECK(revocation_trigger_name(251) == "testing");
    CHECK(revocation_status_name(132) == "revocation failed - MN is attached");
}

TEST_CASE("lma: clear() during a revocation cancels its timers (shutdown)", "[lma][revocation]") {
    Fixture f;
    f.attach("mn1@example.org");
    REQUIRE(f.engine->revoke_mobile_node(nai("mn1@example.org")).ok());
    f.engine->clear();
    CHECK(f.engine->revocations().empty());
    CHECK(f.timers.pending() == 0);
    const auto sent = f.sender.sent.size();
    f.advance(10s);
    CHECK(f.sender.sent.size() == sent);
}
