// The RFC 8885 Central Mobility Database (CmdEngine) on fakes: simulated
// clock and timers, a recording MH socket; the MAARs are played by the test
// (their PBUs in, their PBAs to the CMD's PBUs in). Sections 3.1-3.6: the
// initial registration, handovers with the CMD as relay and as proxy, a
// return to an anchoring MAAR, paced and retransmitted PBUs to P-MAARs, the
// aggregation timeout and late answers, de-registrations and expiry.
#include <catch2/catch.hpp>

#include "lma_test_support.hpp"
#include "pmip/lma/cmd_engine.hpp"

using namespace pmip;
using namespace pmip::lma_test;
using namespace std::chrono_literals;

namespace {

const Ipv6Address kCmd = address("2001:db8:100::1");
const Ipv6Address kMaar1 = address("2001:db8:100::21");
const Ipv6Address kMaar2 = address("2001:db8:100::22");
const Ipv6Address kMaar3 = address("2001:db8:100::23");
const Ipv6Prefix kP1 = prefix("2001:db8:a1:1::/64");
const Ipv6Prefix kP2 = prefix("2001:db8:a2:1::/64");
const Ipv6Prefix kP3 = prefix("2001:db8:a3:1::/64");
const lma::MobileNodeIdentifier kMn{1, "mn1@dmm.example"};

struct Cmd {
    SimulatedClock clock;
    TimerQueue timers{clock};
    RecordingSender sender;
    lma::MapPolicyStore policies;
    lma::CmdConfig config;
    std::unique_ptr<lma::CmdEngine> engine;
    std::uint16_t maar_sequence = 100;

    explicit Cmd(lma::CmdMode mode = lma::CmdMode::kRelay) {
        config.mode = mode;
        config.authorized_maars = {prefix("2001:db8:100::/64")};
        policies.policies[kMn] = lma::MobileNodePolicy{};
        engine = std::make_unique<lma::CmdEngine>(config, policies, timers, sender);
    }
    void advance(Duration d) {
        const auto end = clock.now() + d;
        while (clock.now() < end) {
            clock.advance(1ms);
            timers.run_due();
        }
    }
    mh::BindingUpdate pbu(const Ipv6Prefix& p, std::uint16_t lifetime = 100, bool d = true) {
        mh::BindingUpdate m;
        m.sequence = ++maar_sequence;
        m.flags = mh::bu_flag::kA | mh::bu_flag::kP | (d ? mh::bu_flag::kD : 0);
        m.lifetime = lifetime;
        m.options = {mh::MobileNodeIdentifier{kMn.subtype, std::vector<std::uint8_t>(kMn.identifier.begin(),
                                                                                   kMn.identifier.end())},
                     mh::HomeNetworkPrefix{p.length, p.address}, mh::HandoffIndicator{4},
                     mh::AccessTechnologyType{3}};
        return m;
    }
    void from(const Ipv6Address& maar, const mh::BindingUpdate& m) {
        engine->handle_proxy_binding_update(maar, kCmd, m);
    }
    // The messages sent to `to` since index `since`.
    template <typename T>
    std::vector<T> to(const Ipv6Address& dest, std::size_t since = 0) const {
        std::vector<T> out;
        for (std::size_t i = since; i < sender.sent.size(); ++i) {
            const auto& s = sender.sent[i];
            if (s.destination != dest) continue;
            if (const auto* t = std::get_if<T>(&s.message)) out.push_back(*t);
        }
        return out;
    }
    // A P-MAAR answers the CMD's last PBU to it.
    void answer(const Ipv6Address& maar, std::uint8_t status = 0) {
        const auto pbus = to<mh::BindingUpdate>(maar);
        REQUIRE(!pbus.empty());
        mh::BindingAcknowledgement pba;
        pba.status = status;
        pba.flags = mh::ba_flag::kP | mh::ba_flag::kD;
        pba.sequence = pbus.back().sequence;
        pba.lifetime = pbus.back().lifetime;
        engine->handle_proxy_binding_acknowledgement(maar, pba);
    }
};

std::vector<mh::PreviousMaar> previous_of(const mh::BindingAcknowledgement& pba) {
    return mh::options_of_type<mh::PreviousMaar>(pba.options);
}
mh::PreviousMaar previous(const Ipv6Address& maar, const Ipv6Prefix& p) { return {p.length, maar, p.address}; }

}  // namespace

TEST_CASE("CMD: the initial registration stores the MAAR's own prefix and answers with D (RFC 8885 3.1)",
          "[dmm][cmd]") {
    Cmd c;
    c.from(kMaar1, c.pbu(kP1));
    const auto pbas = c.to<mh::BindingAcknowledgement>(kMaar1);
    REQUIRE(pbas.size() == 1);
    CHECK(pbas[0].status == 0);
    CHECK((pbas[0].flags & mh::ba_flag::kD) != 0);
    CHECK((pbas[0].flags & mh::ba_flag::kP) != 0);
    CHECK(pbas[0].lifetime == 100);
    const auto* hnp = mh::find_option<mh::HomeNetworkPrefix>(pbas[0].options);
    REQUIRE(hnp != nullptr);
    CHECK(hnp->prefix == kP1.address);
    CHECK(previous_of(pbas[0]).empty());
    const auto* s = c.engine->find(kMn);
    REQUIRE(s != nullptr);
    CHECK(s->serving == kMaar1);
    CHECK(s->serving_prefixes == std::vector<Ipv6Prefix>{kP1});
    CHECK(s->previous.empty());
}

TEST_CASE("CMD: refusals: no D flag (a MAG) 128, a MAAR not authorized 154, an unknown MN 153, no HNP 158",
          "[dmm][cmd]") {
    Cmd c;
    c.from(kMaar1, c.pbu(kP1, 100, false));
    c.from(address("2001:db8:666::1"), c.pbu(kP1));
    auto unknown = c.pbu(kP1);
    unknown.options[0] = mh::MobileNodeIdentifier{1, {'x', '@', 'y'}};
    c.from(kMaar1, unknown);
    auto bare = c.pbu(kP1);
    bare.options.erase(bare.options.begin() + 1);
    c.from(kMaar1, bare);
    std::vector<int> statuses;
    for (const auto& s : c.sender.sent)
        statuses.push_back(std::get<mh::BindingAcknowledgement>(s.message).status);
    CHECK(statuses == std::vector<int>{128, 154, 153, 158});
    CHECK(c.engine->counters().pbu_without_d == 1);
    CHECK(c.engine->sessions().empty());
}

TEST_CASE("CMD as relay: the new S-MAAR's PBU goes on to the P-MAAR with the Serving MAAR option, its PBA "
          "comes back to the S-MAAR with the Previous MAAR option (RFC 8885 3.2)",
          "[dmm][cmd]") {
    Cmd c;
    c.from(kMaar1, c.pbu(kP1));
    const std::size_t mark = c.sender.sent.size();
    c.from(kMaar2, c.pbu(kP2));
    CHECK(c.to<mh::BindingAcknowledgement>(kMaar2, mark).empty());  // held for MAAR1's answer
    const auto relayed = c.to<mh::BindingUpdate>(kMaar1, mark);
    REQUIRE(relayed.size() == 1);
    CHECK((relayed[0].flags & mh::bu_flag::kD) != 0);
    CHECK(relayed[0].lifetime == 100);
    const auto* serving = mh::find_option<mh::ServingMaar>(relayed[0].options);
    REQUIRE(serving != nullptr);
    CHECK(serving->serving_maar == kMaar2);
    CHECK(mh::find_option<mh::HomeNetworkPrefix>(relayed[0].options)->prefix == kP1.address);
    c.answer(kMaar1);
    const auto pbas = c.to<mh::BindingAcknowledgement>(kMaar2, mark);
    REQUIRE(pbas.size() == 1);
    CHECK(pbas[0].status == 0);
    CHECK(previous_of(pbas[0]) == std::vector<mh::PreviousMaar>{previous(kMaar1, kP1)});
    CHECK(mh::find_option<mh::HomeNetworkPrefix>(pbas[0].options)->prefix == kP2.address);
    const auto* s = c.engine->find(kMn);
    CHECK(s->serving == kMaar2);
    REQUIRE(s->previous.size() == 1);
    CHECK(s->previous[0] == lma::CmdAnchor{kMaar1, {kP1}, true});
    CHECK(c.engine->counters().pba_aggregated == 1);
}

TEST_CASE("CMD as relay with two P-MAARs: paced PBUs, the PBA after the aggregation timeout with what "
          "answered, a late answer in a PBA of its own",
          "[dmm][cmd]") {
    Cmd c;
    c.from(kMaar1, c.pbu(kP1));
    c.from(kMaar2, c.pbu(kP2));
    c.answer(kMaar1);
    const std::size_t mark = c.sender.sent.size();
    c.from(kMaar3, c.pbu(kP3));
    // Pacing: one PBU now, the next 1 ms later.
    CHECK(c.to<mh::BindingUpdate>(kMaar1, mark).size() + c.to<mh::BindingUpdate>(kMaar2, mark).size() == 1);
    c.advance(2ms);
    REQUIRE(c.to<mh::BindingUpdate>(kMaar1, mark).size() == 1);
    REQUIRE(c.to<mh::BindingUpdate>(kMaar2, mark).size() == 1);
    c.answer(kMaar2);
    c.advance(400ms);
    CHECK(c.to<mh::BindingAcknowledgement>(kMaar3, mark).empty());
    c.advance(110ms);  // past the 500 ms aggregation timeout
    auto pbas = c.to<mh::BindingAcknowledgement>(kMaar3, mark);
    REQUIRE(pbas.size() == 1);
    CHECK(previous_of(pbas[0]) == std::vector<mh::PreviousMaar>{previous(kMaar2, kP2)});
    c.answer(kMaar1);  // late
    pbas = c.to<mh::BindingAcknowledgement>(kMaar3, mark);
    REQUIRE(pbas.size() == 2);
    CHECK(previous_of(pbas[1]) == std::vector<mh::PreviousMaar>{previous(kMaar1, kP1)});
    CHECK(c.engine->counters().pba_late == 1);
    CHECK(c.engine->find(kMn)->previous.size() == 2);
}

TEST_CASE("CMD as proxy: the PBA with the Previous MAAR options first, then the PBUs to the P-MAARs "
          "(RFC 8885 3.4)",
          "[dmm][cmd]") {
    Cmd c(lma::CmdMode::kProxy);
    c.from(kMaar1, c.pbu(kP1));
    const std::size_t mark = c.sender.sent.size();
    c.from(kMaar2, c.pbu(kP2));
    REQUIRE(c.sender.sent.size() == mark + 2);
    CHECK(c.sender.sent[mark].destination == kMaar2);
    const auto& pba = std::get<mh::BindingAcknowledgement>(c.sender.sent[mark].message);
    CHECK(previous_of(pba) == std::vector<mh::PreviousMaar>{previous(kMaar1, kP1)});
    CHECK(c.sender.sent[mark + 1].destination == kMaar1);
    CHECK(std::holds_alternative<mh::BindingUpdate>(c.sender.sent[mark + 1].message));
    c.answer(kMaar1);
    CHECK(c.engine->find(kMn)->previous[0].confirmed);
    CHECK(c.to<mh::BindingAcknowledgement>(kMaar2, mark).size() == 1);  // nothing more to the S-MAAR
}

TEST_CASE("CMD: the MN back at a MAAR that anchors its prefix: that MAAR serves it again and leaves the "
          "list",
          "[dmm][cmd]") {
    Cmd c;
    c.from(kMaar1, c.pbu(kP1));
    c.from(kMaar2, c.pbu(kP2));
    c.answer(kMaar1);
    const std::size_t mark = c.sender.sent.size();
    c.from(kMaar1, c.pbu(kP1));  // back, with the prefix it anchors for the MN
    const auto* s = c.engine->find(kMn);
    CHECK(s->serving == kMaar1);
    CHECK(s->serving_prefixes == std::vector<Ipv6Prefix>{kP1});
    REQUIRE(s->previous.size() == 1);
    CHECK(s->previous[0].maar == kMaar2);
    const auto to2 = c.to<mh::BindingUpdate>(kMaar2, mark);
    REQUIRE(to2.size() == 1);
    CHECK(mh::find_option<mh::ServingMaar>(to2[0].options)->serving_maar == kMaar1);
    CHECK(c.to<mh::BindingUpdate>(kMaar1, mark).empty());
    c.answer(kMaar2);
    const auto pbas = c.to<mh::BindingAcknowledgement>(kMaar1, mark);
    REQUIRE(pbas.size() == 1);
    CHECK(previous_of(pbas[0]) == std::vector<mh::PreviousMaar>{previous(kMaar2, kP2)});
    CHECK(c.engine->counters().returns_to_anchor == 1);
}

TEST_CASE("CMD: a silent P-MAAR gets its PBU again, doubling from 1 s, with new sequence numbers, then "
          "leaves the list (RFC 8885 3.6)",
          "[dmm][cmd]") {
    Cmd c;
    c.from(kMaar1, c.pbu(kP1));
    c.from(kMaar2, c.pbu(kP2));
    c.advance(600ms);  // aggregation timeout: the S-MAAR's PBA without MAAR1
    auto pbas = c.to<mh::BindingAcknowledgement>(kMaar2);
    REQUIRE(pbas.size() == 1);
    CHECK(previous_of(pbas[0]).empty());
    c.advance(1s);
    CHECK(c.to<mh::BindingUpdate>(kMaar1).size() == 2);
    c.advance(2s);
    CHECK(c.to<mh::BindingUpdate>(kMaar1).size() == 3);
    c.advance(4s);
    const auto all = c.to<mh::BindingUpdate>(kMaar1);
    REQUIRE(all.size() == 4);
    CHECK(all[1].sequence != all[0].sequence);
    CHECK(all[2].sequence != all[1].sequence);
    c.advance(8s);
    CHECK(c.to<mh::BindingUpdate>(kMaar1).size() == 4);
    CHECK(c.engine->find(kMn)->previous.empty());
    CHECK(c.engine->counters().pmaar_failed == 1);
    CHECK(c.engine->counters().pmaar_pbu_retransmitted == 3);
}

TEST_CASE("CMD: de-registrations: a P-MAAR lets its prefix go, the S-MAAR ends the session and the P-MAARs "
          "are told, and so are they when the session's lifetime ends (RFC 8885 3.5)",
          "[dmm][cmd]") {
    Cmd c;
    c.from(kMaar1, c.pbu(kP1));
    c.from(kMaar2, c.pbu(kP2));
    c.answer(kMaar1);
    c.from(kMaar3, c.pbu(kP3));
    c.advance(2ms);
    c.answer(kMaar1);
    c.answer(kMaar2);
    REQUIRE(c.engine->find(kMn)->previous.size() == 2);
    SECTION("a P-MAAR's own de-registration") {
        c.from(kMaar2, c.pbu(kP2, 0));
        CHECK(c.engine->find(kMn)->previous.size() == 1);
        CHECK(c.engine->counters().pmaar_deregistered == 1);
        CHECK(c.to<mh::BindingAcknowledgement>(kMaar2).back().lifetime == 0);
    }
    SECTION("the S-MAAR's") {
        const std::size_t mark = c.sender.sent.size();
        c.from(kMaar3, c.pbu(kP3, 0));
        c.advance(5ms);
        CHECK(c.engine->find(kMn) == nullptr);
        for (const auto& maar : {kMaar1, kMaar2}) {
            const auto pbus = c.to<mh::BindingUpdate>(maar, mark);
            REQUIRE(pbus.size() == 1);
            CHECK(pbus[0].lifetime == 0);
            CHECK(mh::find_option<mh::ServingMaar>(pbus[0].options) == nullptr);
        }
        CHECK(c.to<mh::BindingAcknowledgement>(kMaar3, mark).back().lifetime == 0);
    }
    SECTION("the lifetime") {
        const std::size_t mark = c.sender.sent.size();
        c.advance(401s);
        CHECK(c.engine->find(kMn) == nullptr);
        CHECK(c.engine->counters().sessions_expired == 1);
        CHECK(c.to<mh::BindingUpdate>(kMaar1, mark).size() >= 1);
        CHECK(c.to<mh::BindingUpdate>(kMaar1, mark)[0].lifetime == 0);
    }
}

TEST_CASE("CMD: the S-MAAR's renewal is answered with the P-MAARs known, an older sequence number gets 135",
          "[dmm][cmd]") {
    Cmd c;
    c.from(kMaar1, c.pbu(kP1));
    c.from(kMaar2, c.pbu(kP2));
    c.answer(kMaar1);
    const auto renewal = c.pbu(kP2);
    c.from(kMaar2, renewal);
    auto pbas = c.to<mh::BindingAcknowledgement>(kMaar2);
    CHECK(previous_of(pbas.back()) == std::vector<mh::PreviousMaar>{previous(kMaar1, kP1)});
    CHECK(pbas.back().sequence == renewal.sequence);
    auto stale = c.pbu(kP2);
    stale.sequence = static_cast<std::uint16_t>(renewal.sequence - 5);
    c.from(kMaar2, stale);
    pbas = c.to<mh::BindingAcknowledgement>(kMaar2);
    CHECK(pbas.back().status == 135);
    CHECK(pbas.back().sequence == renewal.sequence);
}
