// draft-asaeda PBU-M end to end in process (PROTOCOL.md 9.1): the new MAG's
// registration PBU carries the flag and the multicast subscription option
// with the channels its MulticastContext names; the LMA checks them, tells
// its multicast anchor before the PBA goes out, and lists what it took in the
// PBA. Over the fake fabric of scenario_world.hpp (every message through the
// codec), with the LMA's PBU-M on and off, retransmissions, renewals and
// de-registrations, and the packing of large records into options.
#include "scenario_world.hpp"

using namespace pmip;
using namespace pmip::lma_test;
using namespace pmip::scenario;
using namespace std::chrono_literals;

namespace {

const Ipv6Address kG1 = address("ff0e::8000:1");   // (*, G)
const Ipv6Address kG2 = address("ff3e::8000:2");   // SSM
const Ipv6Address kS1 = address("2001:db8:5::1");
const Ipv6Address kS2 = address("2001:db8:5::2");

constexpr std::uint16_t kFlag = mh::ExtensionCodePoints{}.multicast_subscription_flag;

mh::MulticastAddressRecord record(std::uint8_t type, const Ipv6Address& g, std::vector<Ipv6Address> s = {}) {
    return {type, g, std::move(s), {}};
}

// What magd's MulticastDaemon::channels_to_request would answer.
struct Channels final : mag::MulticastContext {
    std::vector<mh::MulticastAddressRecord> records;
    unsigned asked = 0;
    std::vector<mh::ActiveMulticastSubscriptionIpv6> subscriptions(const mag::BindingUpdateListEntry&) override {
        return {};
    }
    void apply(const mag::BindingUpdateListEntry&, const std::vector<mh::ActiveMulticastSubscriptionIpv6>&) override {}
    std::vector<mh::MulticastAddressRecord> channels_to_request(const mag::BindingUpdateListEntry&) override {
        ++asked;
        return records;
    }
    std::vector<std::vector<MulticastChannel>> lma_changes;  // what lma_channels_changed saw
    void lma_channels_changed(const mag::BindingUpdateListEntry& e) override { lma_changes.push_back(e.lma_channels); }
};

// lmad's multicast anchor as the engine tells it.
struct Anchor final : lma::LmaObserver {
    std::vector<std::pair<Ipv6Address, std::vector<mh::MulticastAddressRecord>>> requested;
    std::function<void()> on_requested;
    void session_bound(const lma::BindingCacheEntry&, const TunnelInfo&) override {}
    void session_unbound(const lma::BindingCacheEntry&, const Ipv6Address&, const std::string&) override {}
    void multicast_channels_requested(const lma::BindingCacheEntry& e,
                                      const std::vector<mh::MulticastAddressRecord>& r) override {
        requested.emplace_back(e.proxy_coa, r);
        if (on_requested) on_requested();
    }
};

Options with_pbu_m(bool lma_on) {
    Options o;
    o.mag_pbu_m = true;
    o.pbu_m.enabled = lma_on;
    return o;
}

struct PbuMWorld {
    World w;
    Channels channels;
    Anchor anchor;
    std::vector<mh::Message> seen;
    explicit PbuMWorld(Options o) : w(o) {
        w.mag_policies.policies[mac_of(1)].multicast = true;
        w.mag2.engine->set_multicast_context(&channels);
        w.mag1.engine->set_multicast_context(&channels);
        w.lma->set_observer(&anchor);
        w.hold = [this](const Packet&, const mh::Message& m) {
            seen.push_back(m);
            return false;
        };
    }
    template <typename T>
    std::vector<T> sent() const {
        std::vector<T> out;
        for (const auto& m : seen) {
            if (const auto* t = std::get_if<T>(&m)) out.push_back(*t);
        }
        return out;
    }
};

std::vector<mh::MulticastAddressRecord> records_in(const mh::Options& options) {
    std::vector<mh::MulticastAddressRecord> out;
    for (const auto& o : options) {
        if (const auto* m = std::get_if<mh::MulticastSubscription>(&o))
            out.insert(out.end(), m->records.begin(), m->records.end());
    }
    return out;
}

std::size_t subscription_options(const mh::Options& options) {
    return static_cast<std::size_t>(std::count_if(options.begin(), options.end(), [](const auto& o) {
        return std::holds_alternative<mh::MulticastSubscription>(o);
    }));
}

}  // namespace

TEST_CASE("PBU-M: the registration asks for the MN's channels, the LMA's anchor gets them before the "
          "PBA, and the PBA lists them",
          "[pbu-m][scenario]") {
    PbuMWorld s(with_pbu_m(true));
    s.channels.records = {record(2, kG1), record(1, kG2, {kS1, kS2})};
    bool pba_before_anchor = false;
    s.anchor.on_requested = [&] { pba_before_anchor = !s.sent<mh::BindingAcknowledgement>().empty(); };
    s.w.attach(s.w.mag2, 9);
    s.w.advance(100ms);

    const auto pbus = s.sent<mh::BindingUpdate>();
    REQUIRE(pbus.size() == 1);
    CHECK((pbus[0].flags & kFlag) != 0);
    CHECK(records_in(pbus[0].options) == s.channels.records);
    REQUIRE(s.anchor.requested.size() == 1);
    CHECK(s.anchor.requested[0].first == kMag2);
    CHECK(s.anchor.requested[0].second == s.channels.records);
    CHECK_FALSE(pba_before_anchor);
    const auto pbas = s.sent<mh::BindingAcknowledgement>();
    REQUIRE(pbas.size() == 1);
    CHECK(pbas[0].status == 0);
    CHECK(records_in(pbas[0].options) == s.channels.records);
    const auto& mc = s.w.mag2.engine->counters();
    CHECK(mc.pbu_m_sent == 1);
    CHECK(mc.pbu_m_records_requested == 2);
    CHECK(mc.pbu_m_answered == 1);
    CHECK(mc.pbu_m_records_granted == 2);
    CHECK(mc.pbu_m_unanswered == 0);
    const auto& lc = s.w.lma->counters();
    CHECK(lc.pbu_m_received == 1);
    CHECK(lc.pbu_m_records_granted == 2);
    CHECK(lc.pbu_m_records_refused == 0);

    SECTION("renewals carry the flag without records (nothing set up again); the de-registration "
            "carries neither") {
        s.seen.clear();
        s.w.advance(90s);  // past 80 % of the 100 s lifetime: one renewal
        s.w.detach(s.w.mag2, 9);
        s.w.advance(1s);
        const auto later = s.sent<mh::BindingUpdate>();
        REQUIRE(later.size() == 2);
        CHECK(later[0].lifetime > 0);
        CHECK((later[0].flags & kFlag) != 0);
        CHECK(records_in(later[0].options).empty());
        CHECK(later[1].lifetime == 0);
        CHECK((later[1].flags & kFlag) == 0);
        CHECK(subscription_options(later[1].options) == 0);
        CHECK(s.anchor.requested.size() == 1);
        CHECK(s.channels.asked == 1);
        CHECK(s.w.lma->counters().pbu_m_renewals == 1);
        CHECK(s.w.lma->counters().pbu_m_received == 1);
        // The renewal's answer lists nothing: the LMA's profile has no channels.
        CHECK(s.w.mag2.engine->counters().pbu_m_answered == 2);
        CHECK(s.w.mag2.engine->counters().pbu_m_lma_channel_changes == 0);
    }
}

TEST_CASE("PBU-M: a lost PBU's retransmission asks for the same channels (chosen once)", "[pbu-m][scenario]") {
    PbuMWorld s(with_pbu_m(true));
    s.channels.records = {record(2, kG1)};
    s.w.drop_next = 1;
    s.w.attach(s.w.mag2, 9);
    s.channels.records = {record(2, kG2)};  // would differ if asked again
    s.w.advance(3s);
    const auto pbus = s.sent<mh::BindingUpdate>();
    REQUIRE(pbus.size() == 2);
    CHECK(records_in(pbus[0].options) == std::vector{record(2, kG1)});
    CHECK(records_in(pbus[1].options) == std::vector{record(2, kG1)});
    CHECK(s.channels.asked == 1);
    CHECK(s.w.dropped == 1);
    REQUIRE(s.anchor.requested.size() == 1);
    const auto& mc = s.w.mag2.engine->counters();
    CHECK(mc.pbu_m_sent == 1);
    CHECK(mc.pbu_m_answered == 1);
}

TEST_CASE("PBU-M: the LMA takes only Current-State records of groups wider than link scope, no (*, G) in "
          "the SSM range, and lists only those",
          "[pbu-m][scenario]") {
    PbuMWorld s(with_pbu_m(true));
    s.channels.records = {
        record(2, kG1),                                    // IS_EX: taken
        record(4, address("ff0e::8000:4")),                // TO_EX: taken as IS_EX
        record(3, address("ff0e::8000:5"), {kS1}),         // TO_IN: taken as IS_IN
        record(1, address("ff0e::8000:6")),                // IS_IN {}: no state
        record(5, address("ff0e::8000:7"), {kS1}),         // ALLOW: a change
        record(2, address("ff02::1:3")),                   // link scope
        record(2, kG2),                                    // (*, G) in the SSM range
        record(2, address("2001:db8::1")),                 // not multicast
    };
    s.w.attach(s.w.mag2, 9);
    s.w.advance(100ms);
    const std::vector<mh::MulticastAddressRecord> taken{
        record(2, kG1), record(2, address("ff0e::8000:4")), record(1, address("ff0e::8000:5"), {kS1})};
    REQUIRE(s.anchor.requested.size() == 1);
    CHECK(s.anchor.requested[0].second == taken);
    const auto pbas = s.sent<mh::BindingAcknowledgement>();
    REQUIRE(pbas.size() == 1);
    CHECK(records_in(pbas[0].options) == taken);
    CHECK(s.w.lma->counters().pbu_m_records_granted == 3);
    CHECK(s.w.lma->counters().pbu_m_records_refused == 5);
    CHECK(s.w.mag2.engine->counters().pbu_m_records_granted == 3);
}

TEST_CASE("PBU-M: nothing taken is answered with an empty option, not silence", "[pbu-m][scenario]") {
    PbuMWorld s(with_pbu_m(true));
    s.channels.records = {record(2, address("ff02::1:3"))};
    s.w.attach(s.w.mag2, 9);
    s.w.advance(100ms);
    CHECK(s.anchor.requested.empty());
    const auto pbas = s.sent<mh::BindingAcknowledgement>();
    REQUIRE(pbas.size() == 1);
    CHECK(subscription_options(pbas[0].options) == 1);
    CHECK(records_in(pbas[0].options).empty());
    CHECK(s.w.mag2.engine->counters().pbu_m_answered == 1);
    CHECK(s.w.mag2.engine->counters().pbu_m_unanswered == 0);
}

TEST_CASE("PBU-M: an LMA with PBU-M off answers as a standard LMA and the MAG counts the PBU-M unanswered",
          "[pbu-m][scenario]") {
    PbuMWorld s(with_pbu_m(false));
    s.channels.records = {record(2, kG1)};
    s.w.attach(s.w.mag2, 9);
    s.w.advance(100ms);
    const auto pbus = s.sent<mh::BindingUpdate>();
    REQUIRE(pbus.size() == 1);
    CHECK((pbus[0].flags & kFlag) != 0);
    CHECK(s.anchor.requested.empty());
    const auto pbas = s.sent<mh::BindingAcknowledgement>();
    REQUIRE(pbas.size() == 1);
    CHECK(pbas[0].status == 0);
    CHECK(subscription_options(pbas[0].options) == 0);
    CHECK(s.w.lma->counters().pbu_m_ignored == 1);
    CHECK(s.w.lma->counters().pbu_m_received == 0);
    CHECK(s.w.mag2.engine->counters().pbu_m_unanswered == 1);
    CHECK(s.w.mag2.engine->counters().pbu_m_answered == 0);
}

TEST_CASE("PBU-M: no flag and no option when the MAG has it off or the MN is not a multicast MN",
          "[pbu-m][scenario]") {
    Options o = with_pbu_m(true);
    SECTION("MAG off") {
        o.mag_pbu_m = false;
    }
    bool multicast = true;
    SECTION("not a multicast MN") {
        multicast = false;
    }
    PbuMWorld s(o);
    s.w.mag_policies.policies[mac_of(1)].multicast = multicast;
    s.channels.records = {record(2, kG1)};
    s.w.attach(s.w.mag2, 9);
    s.w.advance(100ms);
    const auto pbus = s.sent<mh::BindingUpdate>();
    REQUIRE(pbus.size() == 1);
    CHECK((pbus[0].flags & kFlag) == 0);
    CHECK(subscription_options(pbus[0].options) == 0);
    CHECK(s.anchor.requested.empty());
    CHECK(s.w.mag2.engine->counters().pbu_m_sent == 0);
    CHECK(s.w.lma->counters().pbu_m_received == 0);
}

TEST_CASE("PBU-M: with nothing to ask for, the flag alone asks what the LMA's profile holds, and an empty "
          "option answers",
          "[pbu-m][scenario]") {
    PbuMWorld s(with_pbu_m(true));
    s.w.attach(s.w.mag2, 9);
    s.w.advance(100ms);
    const auto pbus = s.sent<mh::BindingUpdate>();
    REQUIRE(pbus.size() == 1);
    CHECK((pbus[0].flags & kFlag) != 0);
    CHECK(subscription_options(pbus[0].options) == 0);
    const auto pbas = s.sent<mh::BindingAcknowledgement>();
    REQUIRE(pbas.size() == 1);
    CHECK(subscription_options(pbas[0].options) == 1);
    CHECK(records_in(pbas[0].options).empty());
    CHECK(s.anchor.requested.empty());
    CHECK(s.w.mag2.engine->counters().pbu_m_sent == 1);
    CHECK(s.w.mag2.engine->counters().pbu_m_records_requested == 0);
    CHECK(s.w.mag2.engine->counters().pbu_m_answered == 1);
    CHECK(s.w.lma->counters().pbu_m_received == 1);
    const auto* e = s.w.mag2.engine->find_by_interface(9);
    REQUIRE(e != nullptr);
    CHECK(e->lma_channels.empty());
}

TEST_CASE("PBU-M: records are packed into options of at most 255 octets: an INCLUDE record with many "
          "sources is split, an EXCLUDE one that cannot fit is left out, and so is what exceeds the budget",
          "[pbu-m][mh]") {
    std::vector<Ipv6Address> sources;
    for (int i = 1; i <= 30; ++i) {
        auto a = kS1;
        a[15] = static_cast<std::uint8_t>(i);
        sources.push_back(a);
    }
    std::size_t left_out = 99;
    const auto options = mh::pack_multicast_subscription(
        {record(1, kG2, sources), record(2, kG1, std::vector<Ipv6Address>(sources.begin(), sources.begin() + 20)),
         record(2, kG1)},
        1024, &left_out);
    CHECK(left_out == 1);
    std::vector<mh::MulticastAddressRecord> all;
    for (const auto& o : options) {
        const auto octets = mh::serialized_size(mh::Message{[&] {
            mh::BindingUpdate bu;
            bu.options.push_back(o);
            return bu;
        }()});
        REQUIRE(std::holds_alternative<std::size_t>(octets));
        std::size_t body = 2;
        for (const auto& r : o.records) body += 20 + 16 * r.sources.size();
        CHECK(body <= 255);
        all.insert(all.end(), o.records.begin(), o.records.end());
    }
    REQUIRE(all.size() == 4);  // 14 + 14 + 2 sources, then (*, G1)
    CHECK(all[0].sources.size() == 14);
    CHECK(all[1].sources.size() == 14);
    CHECK(all[2].sources.size() == 2);
    std::vector<Ipv6Address> joined;
    for (int i = 0; i < 3; ++i) joined.insert(joined.end(), all[i].sources.begin(), all[i].sources.end());
    CHECK(joined == sources);
    CHECK(all[3] == record(2, kG1));
    // Through the codec and back, with the draft's literal code points too.
    for (const mh::ExtensionCodePoints cp : {mh::ExtensionCodePoints{}, mh::ExtensionCodePoints{0x0100, 201}}) {
        mh::BindingUpdate bu;
        bu.flags = mh::bu_flag::kA | mh::bu_flag::kP | cp.multicast_subscription_flag;
        for (const auto& o : options) bu.options.push_back(o);
        const auto parsed = mh::parse(mh::serialize(bu, mh::SerializeConfig{cp}), mh::ParseConfig{false, cp});
        REQUIRE(std::holds_alternative<mh::Parsed>(parsed));
        const auto& back = std::get<mh::BindingUpdate>(std::get<mh::Parsed>(parsed).message);
        CHECK(records_in(back.options) == all);
    }
    // A small budget keeps what fits, in order.
    left_out = 0;
    const auto small = mh::pack_multicast_subscription({record(2, kG1), record(2, kG2), record(2, kG1)}, 45, &left_out);
    CHECK(left_out == 1);
    REQUIRE(small.size() == 1);
    CHECK(small[0].records.size() == 2);
}

TEST_CASE("PBU-M: a PBU the LMA answered before (its PBA lost, the same PBU again) gets the same list "
          "and sets nothing up again",
          "[pbu-m][scenario]") {
    PbuMWorld s(with_pbu_m(true));
    s.channels.records = {record(2, kG1), record(1, kG2, {kS1})};
    s.w.duplicate = 1.0;  // every message arrives twice
    s.w.attach(s.w.mag2, 9);
    s.w.advance(100ms);
    s.w.duplicate = 0;
    CHECK(s.w.duplicated >= 2);
    CHECK(s.w.lma->counters().pbu_retransmissions_answered >= 1);
    REQUIRE(s.anchor.requested.size() == 1);
    CHECK(s.w.lma->counters().pbu_m_received == 1);
    CHECK(s.w.lma->counters().pbu_m_records_granted == 2);
    const auto pbas = s.sent<mh::BindingAcknowledgement>();
    REQUIRE(pbas.size() >= 2);
    for (const auto& ba : pbas) CHECK(records_in(ba.options) == s.channels.records);
}

TEST_CASE("PBU-M: a split record counts once, left out when not carried whole", "[pbu-m][mh]") {
    std::vector<Ipv6Address> sources;
    for (int i = 1; i <= 100; ++i) {
        auto a = kS1;
        a[14] = static_cast<std::uint8_t>(i >> 8);
        a[15] = static_cast<std::uint8_t>(i);
        sources.push_back(a);
    }
    std::size_t left_out = 0;
    const auto options = mh::pack_multicast_subscription({record(1, kG2, sources)}, 1024, &left_out);
    CHECK(left_out == 1);  // 8 pieces of up to 14 sources; 4 fit in 1024 octets
    std::size_t carried = 0;
    for (const auto& o : options)
        for (const auto& r : o.records) carried += r.sources.size();
    CHECK(carried == 4 * 14);
    left_out = 9;
    CHECK(mh::pack_multicast_subscription({record(1, kG2, sources)}, 4096, &left_out).size() == 8);
    CHECK(left_out == 0);
}

// --- issue 18: the LMA's policy store decides an MN's channels ------------

namespace {

MulticastChannel any_source(const Ipv6Address& g) { return {g, {}}; }
MulticastChannel from(const Ipv6Address& g, std::vector<Ipv6Address> s) { return {g, std::move(s)}; }

const mag::BindingUpdateListEntry& mag2_entry(PbuMWorld& s) {
    const auto* e = s.w.mag2.engine->find_by_interface(9);
    REQUIRE(e != nullptr);
    return *e;
}

template <typename T>
std::size_t count_sent(const PbuMWorld& s) {
    return s.sent<T>().size();
}

}  // namespace

TEST_CASE("LMA profile: the channels of lmad's store go to the MAG in the PBA of a PBU-M that asked for "
          "none, are set up on its tunnel first, and become the MAG's channels for the MN",
          "[pbu-m][lma-profile][scenario]") {
    PbuMWorld s(with_pbu_m(true));
    s.w.lma_policies.policies[lma_id(1)].multicast_channels = {any_source(kG1), from(kG2, {kS1})};
    s.w.attach(s.w.mag2, 9);
    s.w.advance(100ms);
    const std::vector<mh::MulticastAddressRecord> expected = {record(2, kG1), record(1, kG2, {kS1})};
    const auto pbas = s.sent<mh::BindingAcknowledgement>();
    REQUIRE(pbas.size() == 1);
    CHECK(records_in(pbas[0].options) == expected);
    REQUIRE(s.anchor.requested.size() == 1);
    CHECK(s.anchor.requested[0].second == expected);
    CHECK(mag2_entry(s).lma_channels == std::vector<MulticastChannel>{any_source(kG1), from(kG2, {kS1})});
    // At a registration the observer's `registered` carries them, not the change hook.
    CHECK(s.channels.lma_changes.empty());
    CHECK(s.w.lma->counters().pbu_m_profile_records == 2);
    CHECK(s.w.mag2.engine->counters().pbu_m_lma_channel_changes == 1);

    SECTION("a channel the MAG asked for itself is named once and is not the LMA's") {
        PbuMWorld t(with_pbu_m(true));
        t.w.lma_policies.policies[lma_id(1)].multicast_channels = {any_source(kG1), from(kG2, {kS1})};
        t.channels.records = {record(2, kG1)};
        t.w.attach(t.w.mag2, 9);
        t.w.advance(100ms);
        const auto answer = t.sent<mh::BindingAcknowledgement>();
        REQUIRE(answer.size() == 1);
        CHECK(records_in(answer[0].options) == expected);
        CHECK(mag2_entry(t).lma_channels == std::vector<MulticastChannel>{from(kG2, {kS1})});
    }
}

TEST_CASE("LMA profile: what a PBU-M asks beyond the profile passes the MN's multicast_policy in lmad's "
          "store, its group limit counting the profile's channels",
          "[pbu-m][lma-profile][scenario]") {
    PbuMWorld s(with_pbu_m(true));
    auto& policy = s.w.lma_policies.policies[lma_id(1)];
    const Ipv6Address g3 = address("ff0e::8000:3"), g4 = address("ff05::4");
    s.channels.records = {record(2, kG1), record(1, kG2, {kS1, kS2}), record(2, g3), record(2, g4)};
    SECTION("denied groups and sources") {
        policy.multicast_admission.denied_groups = {*parse_prefix("ff05::/16")};
        policy.multicast_admission.allowed_sources = {{*parse_prefix("2001:db8:5::1/128"), *parse_prefix("ff3e::/16")}};
        s.w.attach(s.w.mag2, 9);
        s.w.advance(100ms);
        const auto pbas = s.sent<mh::BindingAcknowledgement>();
        REQUIRE(pbas.size() == 1);
        CHECK(records_in(pbas[0].options) ==
              std::vector<mh::MulticastAddressRecord>{record(2, kG1), record(1, kG2, {kS1}), record(2, g3)});
        CHECK(s.w.lma->counters().pbu_m_records_denied == 1);  // g4; kS2 is pruned from its record
    }
    SECTION("max_groups") {
        policy.multicast_channels = {any_source(address("ff0e::9"))};
        policy.multicast_admission.max_groups = 2;
        s.w.attach(s.w.mag2, 9);
        s.w.advance(100ms);
        const auto pbas = s.sent<mh::BindingAcknowledgement>();
        REQUIRE(pbas.size() == 1);
        CHECK(records_in(pbas[0].options) ==
              std::vector<mh::MulticastAddressRecord>{record(2, address("ff0e::9")), record(2, kG1)});
        CHECK(s.w.lma->counters().pbu_m_records_denied == 3);
        CHECK(mag2_entry(s).lma_channels == std::vector<MulticastChannel>{any_source(address("ff0e::9"))});
    }
}

TEST_CASE("LMA profile: a change in lmad's store reaches the MAG by an Update Notification "
          "(FORCE-REREGISTRATION), the re-registration's PBA names the new channels, nothing is set up "
          "again on the tunnel, and the MAG's link follows",
          "[pbu-m][lma-profile][upn][scenario]") {
    PbuMWorld s(with_pbu_m(true));
    auto& policy = s.w.lma_policies.policies[lma_id(1)];
    policy.multicast_channels = {any_source(kG1)};
    s.w.attach(s.w.mag2, 9);
    s.w.advance(100ms);
    REQUIRE(mag2_entry(s).lma_channels == std::vector<MulticastChannel>{any_source(kG1)});
    s.seen.clear();
    policy.multicast_channels = {from(kG2, {kS1})};
    const auto everyone = [](const lma::BindingCacheEntry&) { return true; };

    SECTION("delivered") {
        CHECK(s.w.lma->profile_changed(everyone) == 1);
        s.w.advance(50ms);
        const auto upns = s.sent<mh::UpdateNotification>();
        REQUIRE(upns.size() == 1);
        CHECK(upns[0].notification_reason == 1);
        CHECK(upns[0].flags == 0);  // A = 0, RFC 7077 section 5.1's recommendation
        const auto* id = mh::find_option<mh::MobileNodeIdentifier>(upns[0].options);
        REQUIRE(id != nullptr);
        CHECK(std::string(id->identifier.begin(), id->identifier.end()) == nai_of(1));
        const auto pbus = s.sent<mh::BindingUpdate>();
        REQUIRE(pbus.size() == 1);
        CHECK(pbus[0].lifetime > 0);
        CHECK((pbus[0].flags & kFlag) != 0);
        const auto pbas = s.sent<mh::BindingAcknowledgement>();
        REQUIRE(pbas.size() == 1);
        CHECK(records_in(pbas[0].options) == std::vector<mh::MulticastAddressRecord>{record(1, kG2, {kS1})});
        CHECK(mag2_entry(s).lma_channels == std::vector<MulticastChannel>{from(kG2, {kS1})});
        REQUIRE(s.channels.lma_changes.size() == 1);
        CHECK(s.channels.lma_changes[0] == std::vector<MulticastChannel>{from(kG2, {kS1})});
        CHECK(s.anchor.requested.size() == 1);  // the registration's only
        CHECK(count_sent<mh::UpdateNotificationAcknowledgement>(s) == 0);
        const auto& lc = s.w.lma->counters();
        CHECK(lc.upn_sent == 1);
        CHECK(lc.upn_reregistered == 1);
        CHECK(lc.upn_retransmitted == 0);
        CHECK(lc.pbu_m_renewals == 1);
        const auto& mc = s.w.mag2.engine->counters();
        CHECK(mc.upn_received == 1);
        CHECK(mc.upn_reregistrations == 1);
        // Nothing more: no retransmission after the re-registration.
        s.w.advance(3s);
        CHECK(count_sent<mh::UpdateNotification>(s) == 1);
    }
    SECTION("the first one lost: repeated with D after the replay delay") {
        s.w.drop_next = 1;
        s.w.lma->profile_changed(everyone);
        s.w.advance(900ms);
        CHECK(count_sent<mh::BindingUpdate>(s) == 0);
        s.w.advance(200ms);
        const auto upns = s.sent<mh::UpdateNotification>();
        REQUIRE(upns.size() == 2);
        CHECK(upns[1].sequence == upns[0].sequence);
        CHECK((upns[1].flags & mh::update_notification_flag::kD) != 0);
        CHECK(count_sent<mh::BindingUpdate>(s) == 1);
        CHECK(mag2_entry(s).lma_channels == std::vector<MulticastChannel>{from(kG2, {kS1})});
        CHECK(s.w.lma->counters().upn_retransmitted == 1);
        CHECK(s.w.lma->counters().upn_reregistered == 1);
    }
    SECTION("both lost: given up and counted; the next renewal still brings the channels") {
        s.w.drop_next = 2;
        s.w.lma->profile_changed(everyone);
        s.w.advance(2500ms);
        CHECK(count_sent<mh::UpdateNotification>(s) == 2);
        CHECK(s.w.lma->counters().upn_unanswered == 1);
        CHECK(mag2_entry(s).lma_channels == std::vector<MulticastChannel>{any_source(kG1)});
        s.w.advance(90s);
        CHECK(mag2_entry(s).lma_channels == std::vector<MulticastChannel>{from(kG2, {kS1})});
    }
    SECTION("only MNs the predicate names, and only MAGs that send PBU-Ms") {
        CHECK(s.w.lma->profile_changed([](const lma::BindingCacheEntry&) { return false; }) == 0);
        PbuMWorld plain(with_pbu_m(true));
        plain.w.mag2.engine->set_multicast_context(nullptr);  // the MAG sends no PBU-M
        plain.w.attach(plain.w.mag2, 9);
        plain.w.advance(100ms);
        CHECK(plain.w.lma->profile_changed(everyone) == 0);
        plain.w.advance(50ms);
        CHECK(count_sent<mh::UpdateNotification>(plain) == 0);
    }
}

TEST_CASE("UPN at the MAG (RFC 7077 section 6): acknowledged when A is set, duplicates not acted on again, "
          "unsupported reasons and unknown MNs answered with their status",
          "[upn][scenario]") {
    PbuMWorld s(with_pbu_m(true));
    s.w.attach(s.w.mag2, 9);
    s.w.advance(100ms);
    s.seen.clear();
    auto& mag = *s.w.mag2.engine;
    mh::UpdateNotification upn;
    upn.sequence = 700;
    upn.notification_reason = 1;
    upn.flags = mh::update_notification_flag::kA;
    const auto nai = nai_of(1);
    upn.options.push_back(mh::MobileNodeIdentifier{1, std::vector<std::uint8_t>(nai.begin(), nai.end())});
    const auto upa_status = [&] {
        const auto upas = s.sent<mh::UpdateNotificationAcknowledgement>();
        REQUIRE(!upas.empty());
        return upas.back().status;
    };
    SECTION("FORCE-REREGISTRATION, then the same one again") {
        mag.handle_update_notification(kLma, upn);
        s.w.advance(50ms);
        CHECK(upa_status() == 0);
        CHECK(count_sent<mh::BindingUpdate>(s) == 1);
        const auto upas = s.sent<mh::UpdateNotificationAcknowledgement>();
        CHECK(upas[0].sequence == 700);
        CHECK(mh::find_option<mh::MobileNodeIdentifier>(upas[0].options) != nullptr);
        mag.handle_update_notification(kLma, upn);  // a duplicate: answered, not redone
        s.w.advance(50ms);
        CHECK(count_sent<mh::UpdateNotificationAcknowledgement>(s) == 2);
        CHECK(count_sent<mh::BindingUpdate>(s) == 1);
        CHECK(mag.counters().upn_duplicates == 1);
        upn.flags |= mh::update_notification_flag::kD;  // D: redone
        mag.handle_update_notification(kLma, upn);
        s.w.advance(50ms);
        CHECK(count_sent<mh::BindingUpdate>(s) == 2);
    }
    SECTION("the group of every session with this LMA (group identifier 1)") {
        upn.options = {mh::MobileNodeGroupIdentifier{1, 1}};
        mag.handle_update_notification(kLma, upn);
        s.w.advance(50ms);
        CHECK(upa_status() == 0);
        CHECK(count_sent<mh::BindingUpdate>(s) == 1);
    }
    SECTION("an MN we hold no binding for, or from another LMA") {
        const auto other = address("2001:db8:ffff::1");
        mag.handle_update_notification(other, upn);
        s.w.advance(50ms);
        CHECK(upa_status() == 132);
        CHECK(count_sent<mh::BindingUpdate>(s) == 0);
        CHECK(mag.counters().upn_unknown_mn == 1);
    }
    SECTION("UPDATE-SESSION-PARAMETERS: 128; VENDOR-SPECIFIC-REASON without the option: 129; "
            "ANI-PARAMS-REQUESTED: 131") {
        const std::pair<std::uint16_t, std::uint8_t> cases[] = {{2, 128}, {3, 129}, {4, 131}, {200, 131}};
        for (const auto& [reason, status] : cases) {
            upn.notification_reason = reason;
            ++upn.sequence;
            mag.handle_update_notification(kLma, upn);
            s.w.advance(50ms);
            CHECK(upa_status() == status);
        }
        CHECK(count_sent<mh::BindingUpdate>(s) == 0);
        CHECK(mag.counters().upn_unsupported == 4);
    }
    SECTION("A = 0 and a reason we cannot act on: dropped, no acknowledgement") {
        upn.flags = 0;
        upn.notification_reason = 2;
        mag.handle_update_notification(kLma, upn);
        s.w.advance(50ms);
        CHECK(count_sent<mh::UpdateNotificationAcknowledgement>(s) == 0);
        CHECK(mag.counters().upn_unsupported == 1);
    }
}
