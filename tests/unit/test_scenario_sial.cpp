// RFC 7161 (SIAL) end to end in process: the MN's reports at the previous
// MAG's MLD proxy (a real ProxyInstance per MAG, as in magd) -> options 57 in
// its de-registration or its Subscription Response -> the LMA's binding ->
// the new MAG's PBA or Subscription Response -> the new MAG's proxy, before
// the MN reports anything there. Over the fake fabric of scenario_world.hpp
// (every message through the codec), for ASM and SSM (INCLUDE / EXCLUDE with
// sources) and MLDv1 listeners, and for the races of RFC 7161 section 5.
#include "scenario_world.hpp"

#include "pmip/mcast/subscription_options.hpp"
#include "pmip/mcast/proxy_instance.hpp"

using namespace pmip;
using namespace pmip::lma_test;
using namespace pmip::scenario;
using namespace std::chrono_literals;

namespace {

const Ipv6Address kMnLinkLocal = address("fe80::11:22ff:fe33:4455");
const Ipv6Address kG1 = address("ff3e::4242:1");   // ASM: EXCLUDE {}
const Ipv6Address kG2 = address("ff3e::4242:2");   // SSM: INCLUDE {S1, S2}
const Ipv6Address kG3 = address("ff3e::4242:3");   // EXCLUDE {S3}
const Ipv6Address kG4 = address("ff3e::4242:4");   // an MLDv1 listener
const Ipv6Address kS1 = address("2001:db8:5::1");
const Ipv6Address kS2 = address("2001:db8:5::2");
const Ipv6Address kS3 = address("2001:db8:5::3");

mcast::MembershipState include(std::set<Ipv6Address> s) { return {mcast::FilterMode::kInclude, std::move(s)}; }
mcast::MembershipState exclude(std::set<Ipv6Address> s = {}) { return {mcast::FilterMode::kExclude, std::move(s)}; }

// One MAG's MLD proxy as magd runs it: the MN links of registered MNs are
// downstreams (added at registered(), removed at deregistered()); the
// engine's MulticastContext reads and writes their state.
struct MagProxy final : mag::MulticastContext, mcast::ProxyInstanceOutput {
    mcast::ProxyInstance instance;
    std::map<Ipv6Address, mcast::MembershipState> upstream;
    unsigned queries = 0;

    MagProxy(Timers& timers, mcast::Policy policy) : instance(timers, *this, std::move(policy)) {}

    std::vector<mh::ActiveMulticastSubscriptionIpv6> subscriptions(const mag::BindingUpdateListEntry& e) override {
        return mcast::to_subscription_options(instance.subscriptions(static_cast<mcast::InterfaceId>(e.access_ifindex)));
    }
    void apply(const mag::BindingUpdateListEntry& e,
               const std::vector<mh::ActiveMulticastSubscriptionIpv6>& subscriptions) override {
        REQUIRE(instance.apply_context(static_cast<mcast::InterfaceId>(e.access_ifindex),
                                       mcast::to_context_records(subscriptions)));
    }
    void send_query(mcast::InterfaceId, const Ipv6Address&, const mcast::MldMessage&) override { ++queries; }
    void upstream_membership_changed(const Ipv6Address& g, const mcast::MembershipState&,
                                     const mcast::MembershipState& now) override {
        upstream[g] = now;
    }
    mcast::MembershipState link_state(int ifindex, const Ipv6Address& g) const {
        const mcast::Querier* q = instance.querier(static_cast<mcast::InterfaceId>(ifindex));
        REQUIRE(q != nullptr);
        return q->state(g);
    }
};

// What the LMA engine tells lmad's multicast anchor.
struct AnchorRecorder final : lma::LmaObserver {
    std::vector<std::pair<Ipv6Address, std::size_t>> contexts;  // (MAG, subscriptions)
    void session_bound(const lma::BindingCacheEntry&, const TunnelInfo&) override {}
    void session_unbound(const lma::BindingCacheEntry&, const Ipv6Address&, const std::string&) override {}
    void multicast_context(const lma::BindingCacheEntry& e,
                           const std::vector<mh::ActiveMulticastSubscriptionIpv6>& s) override {
        contexts.emplace_back(e.proxy_coa, s.size());
    }
};

struct SialWorld {
    World w;
    AnchorRecorder anchor;
    std::unique_ptr<MagProxy> proxy1, proxy2;
    std::vector<mh::Message> seen;  // every message on the fabric, in send order

    explicit SialWorld(Options o = {}, mcast::Policy policy2 = {}) : w(o) {
        w.mag_policies.policies[mac_of(1)].multicast = true;
        proxy1 = std::make_unique<MagProxy>(w.timers, mcast::Policy{});
        proxy2 = std::make_unique<MagProxy>(w.timers, std::move(policy2));
        w.lma->set_observer(&anchor);
        wire(w.mag1, *proxy1);
        wire(w.mag2, *proxy2);
        w.hold = [this](const Packet& p, const mh::Message& m) {
            seen.push_back(m);
            return drop && drop(p, m);
        };
    }
    void wire(World::Mag& m, MagProxy& p) {
        m.engine->set_multicast_context(&p);
        m.observer.on_registered = [&p](const mag::BindingUpdateListEntry& e) {
            p.instance.add_downstream(static_cast<mcast::InterfaceId>(e.access_ifindex),
                                      address("fe80::1"));
        };
        m.observer.on_deregistered = [&p](const mag::BindingUpdateListEntry& e) {
            p.instance.remove_downstream(static_cast<mcast::InterfaceId>(e.access_ifindex));
        };
    }
    // Messages the predicate picks are lost (kept in w.held, never released).
    std::function<bool(const Packet&, const mh::Message&)> drop;

    // The MN registers at MAG1 (link 7) and reports the four subscriptions there.
    void listening_at_mag1() {
        w.attach(w.mag1, 7);
        report_all(*proxy1, 7);
        w.advance(1s);
    }
    // ... then leaves MAG1 and, 100 ms later, appears at MAG2 (link 9): proactive.
    void move_after_deregistration() {
        w.detach(w.mag1, 7);
        w.advance(100ms);
        w.attach(w.mag2, 9);
    }
    // The MN at `ifindex` of `p` reports the four subscriptions.
    void report_all(MagProxy& p, int ifindex) {
        mcast::Mldv2Report r;
        r.records.push_back({mcast::RecordType::kModeIsExclude, kG1, {}, {}});
        r.records.push_back({mcast::RecordType::kModeIsInclude, kG2, {kS1, kS2}, {}});
        r.records.push_back({mcast::RecordType::kModeIsExclude, kG3, {kS3}, {}});
        p.instance.receive(static_cast<mcast::InterfaceId>(ifindex), kMnLinkLocal, r);
        p.instance.receive(static_cast<mcast::InterfaceId>(ifindex), kMnLinkLocal, mcast::Mldv1Report{kG4});
    }
    void require_all(MagProxy& p, int ifindex) {
        CHECK(p.link_state(ifindex, kG1) == exclude());
        CHECK(p.link_state(ifindex, kG2) == include({kS1, kS2}));
        CHECK(p.link_state(ifindex, kG3) == exclude({kS3}));
        CHECK(p.link_state(ifindex, kG4) == exclude());
        CHECK(p.upstream[kG1] == exclude());
        CHECK(p.upstream[kG2] == include({kS1, kS2}));
        CHECK(p.upstream[kG3] == exclude({kS3}));
        CHECK(p.upstream[kG4] == exclude());
    }
    template <typename T>
    std::vector<T> sent() const {
        std::vector<T> out;
        for (const auto& m : seen) {
            if (const auto* t = std::get_if<T>(&m)) out.push_back(*t);
        }
        return out;
    }
    std::vector<mh::BindingUpdate> deregistrations() const {
        std::vector<mh::BindingUpdate> out;
        for (const auto& bu : sent<mh::BindingUpdate>()) {
            if (bu.lifetime == 0) out.push_back(bu);
        }
        return out;
    }
    // The PBAs to registrations (lifetime > 0).
    std::vector<mh::BindingAcknowledgement> registration_pbas() const {
        std::vector<mh::BindingAcknowledgement> out;
        for (const auto& ba : sent<mh::BindingAcknowledgement>()) {
            if (ba.lifetime > 0) out.push_back(ba);
        }
        return out;
    }
    const mag::MagCounters& c1() const { return w.mag1.engine->counters(); }
    const mag::MagCounters& c2() const { return w.mag2.engine->counters(); }
    const lma::LmaCounters& lc() const { return w.lma->counters(); }
};

std::size_t options57(const mh::Options& options) {
    return static_cast<std::size_t>(std::count_if(options.begin(), options.end(), [](const auto& o) {
        return std::holds_alternative<mh::ActiveMulticastSubscriptionIpv6>(o);
    }));
}

}  // namespace

TEST_CASE("RFC 7161 codec helpers: link subscriptions <-> options 57 (MLDv2 record, MLDv1 as type 131)",
          "[sial]") {
    const std::vector<mcast::LinkSubscription> link{
        {{mcast::RecordType::kModeIsInclude, kG2, {kS1, kS2}, {}}, false},
        {{mcast::RecordType::kModeIsExclude, address("ff02::1:ff00:1"), {}, {}}, false},  // left out
        {{mcast::RecordType::kModeIsExclude, kG4, {}, {}}, true}};
    const auto options = mcast::to_subscription_options(link);
    REQUIRE(options.size() == 2);
    CHECK(options[0].mld_type == 143);
    CHECK(options[0].record.record_type == 1);
    CHECK(options[0].record.sources == std::vector<Ipv6Address>{kS1, kS2});
    CHECK(options[1].mld_type == 131);
    CHECK(options[1].record.multicast_address == kG4);
    // Through the codec: a PBU carrying both decodes to the same options.
    mh::BindingUpdate bu;
    bu.flags = mh::bu_flag::kA | mh::bu_flag::kP | mh::bu_flag::kS;
    for (const auto& o : options) bu.options.push_back(o);
    const auto parsed = mh::parse(mh::serialize(bu));
    REQUIRE(std::holds_alternative<mh::Parsed>(parsed));
    const auto& back = std::get<mh::BindingUpdate>(std::get<mh::Parsed>(parsed).message);
    CHECK(back.flags & mh::bu_flag::kS);
    const auto records = mcast::to_context_records(
        {std::get<mh::ActiveMulticastSubscriptionIpv6>(back.options[0]),
         std::get<mh::ActiveMulticastSubscriptionIpv6>(back.options[1])});
    REQUIRE(records.size() == 2);
    CHECK(records[0] == mcast::MulticastAddressRecord{mcast::RecordType::kModeIsInclude, kG2, {kS1, kS2}, {}});
    CHECK(records[1] == mcast::MulticastAddressRecord{mcast::RecordType::kModeIsExclude, kG4, {}, {}});
    std::size_t unknown = 0;
    mh::ActiveMulticastSubscriptionIpv6 odd;
    odd.record.record_type = 9;
    CHECK(mcast::to_context_records({odd}, &unknown).empty());
    CHECK(unknown == 1);
}

TEST_CASE("RFC 7161 5.1 proactive handover: the old MAG's de-registration carries the MN's ASM, SSM, "
          "EXCLUDE and MLDv1 subscriptions, the LMA keeps them, the new MAG's PBA brings them to its "
          "proxy before the MN reports",
          "[sial][scenario]") {
    SialWorld s;
    s.w.attach(s.w.mag1, 7);
    REQUIRE(s.w.mag1.engine->find_by_interface(7)->state == mag::BulState::kRegistered);
    CHECK(s.sent<mh::BindingUpdate>().front().flags & mh::bu_flag::kS);
    CHECK((s.registration_pbas().front().flags & mh::ba_flag::kS) == 0);  // nothing to give yet
    s.report_all(*s.proxy1, 7);
    s.require_all(*s.proxy1, 7);

    s.w.detach(s.w.mag1, 7);
    const auto dereg = s.deregistrations();
    REQUIRE(dereg.size() == 1);
    CHECK(dereg[0].flags & mh::bu_flag::kS);
    CHECK(options57(dereg[0].options) == 4);
    CHECK(s.c1().sial_contexts_sent == 1);
    const auto& binding = s.w.only_binding();
    REQUIRE(s.w.lma->multicast_context(binding.id) != nullptr);
    CHECK(s.w.lma->multicast_context(binding.id)->size() == 4);
    CHECK(s.lc().sial_contexts_stored == 1);
    // Section 4.2.1.2: the PBA to the de-registration has S=0.
    for (const auto& ba : s.sent<mh::BindingAcknowledgement>()) {
        if (ba.lifetime == 0) CHECK((ba.flags & mh::ba_flag::kS) == 0);
    }

    s.w.advance(100ms);
    s.w.attach(s.w.mag2, 9);
    REQUIRE(s.w.mag2.engine->find_by_interface(9)->state == mag::BulState::kRegistered);
    const auto pba = s.registration_pbas().back();
    CHECK(pba.flags & mh::ba_flag::kS);
    CHECK(options57(pba.options) == 4);
    CHECK(s.c2().sial_contexts_applied == 1);
    CHECK(s.c2().sial_subscriptions_applied == 4);
    CHECK(s.c2().sial_queries_sent == 0);
    s.require_all(*s.proxy2, 9);  // no report from the MN at MAG2
    // lmad's anchor is told, for the MAG now serving, when the PBA carries it.
    REQUIRE(s.anchor.contexts.size() == 1);
    CHECK(s.anchor.contexts[0] == std::make_pair(kMag2, std::size_t{4}));
    // No tracked listener: the MN's own reports take over.
    const auto view = s.proxy2->instance.querier(9)->address(kG2);
    REQUIRE(view);
    CHECK(view->listeners.empty());
    CHECK(s.lc().sial_contexts_in_pba == 1);
}

TEST_CASE("RFC 7161 + magd's early query: what the MN said at the new MAG before the PBA goes to the "
          "proxy after the PBA's context (registration_settled), so the MN's newer report wins",
          "[sial][scenario]") {
    SialWorld s;
    s.listening_at_mag1();
    // magd replays the MN's reports captured since its early query in
    // registration_settled(): here the MN left G1 meanwhile (TO_IN {}).
    bool context_in_at_settle = false;
    s.w.mag2.observer.on_settled = [&](const mag::BindingUpdateListEntry& e) {
        const int ifindex = e.access_ifindex;
        context_in_at_settle = s.proxy2->link_state(ifindex, kG2) == include({kS1, kS2}) &&
                               s.proxy2->link_state(ifindex, kG1) == exclude();
        mcast::Mldv2Report left;
        left.records.push_back({mcast::RecordType::kChangeToIncludeMode, kG1, {}, {}});
        s.proxy2->instance.receive(static_cast<mcast::InterfaceId>(ifindex), kMnLinkLocal, left);
    };
    s.move_after_deregistration();
    REQUIRE(s.w.mag2.engine->find_by_interface(9)->state == mag::BulState::kRegistered);
    CHECK(s.c2().sial_contexts_applied == 1);
    CHECK(s.w.mag2.observer.registered_events == 1);
    CHECK(s.w.mag2.observer.settled_events == 1);
    CHECK(context_in_at_settle);
    // The transferred G1 is being left, as the MN said; the rest stands.
    CHECK(s.proxy2->link_state(9, kG2) == include({kS1, kS2}));
    CHECK(s.proxy2->link_state(9, kG3) == exclude({kS3}));
    CHECK(s.proxy2->link_state(9, kG4) == exclude());
    s.w.advance(5s);  // the Last Listener Query time passes
    CHECK(s.proxy2->link_state(9, kG1) == include({}));
    CHECK(s.proxy2->link_state(9, kG2) == include({kS1, kS2}));
}

TEST_CASE("RFC 7161 5.2 reactive handover, PBA timer 0: PBA S=1 at once without the context, the LMA "
          "queries the old MAG, the new MAG's Subscription Query is answered with it (Figure 4)",
          "[sial][scenario]") {
    SialWorld s;
    s.listening_at_mag1();
    s.w.attach(s.w.mag2, 9);  // MAG1 has not noticed yet
    s.w.advance(10ms);
    const auto pba = s.registration_pbas().back();
    CHECK(pba.flags & mh::ba_flag::kS);
    CHECK(options57(pba.options) == 0);
    CHECK(s.lc().sial_queries_sent == 1);
    CHECK(s.c1().sial_queries_received == 1);
    CHECK(s.c1().sial_responses_with_context == 1);  // from its live link state
    CHECK(s.c2().sial_pba_without_context == 1);
    CHECK(s.c2().sial_queries_sent == 1);
    CHECK(s.lc().sial_responses_with_context == 1);
    CHECK(s.c2().sial_contexts_applied == 1);
    s.require_all(*s.proxy2, 9);
    REQUIRE(s.anchor.contexts.size() == 1);
    CHECK(s.anchor.contexts[0] == std::make_pair(kMag2, std::size_t{4}));
    const auto queries = s.sent<mh::SubscriptionQuery>();
    REQUIRE(queries.size() == 2);
    for (const auto& q : queries) CHECK(mh::find_option<mh::MobileNodeIdentifier>(q.options) != nullptr);
    const auto responses = s.sent<mh::SubscriptionResponse>();
    REQUIRE(responses.size() == 2);
    for (const auto& r : responses) {
        CHECK(r.has_information());
        CHECK(options57(r.options) == 4);
    }
    CHECK(responses[0].sequence == queries[0].sequence);
    CHECK(responses[1].sequence == queries[1].sequence);
    // MAG1's late de-registration carries the context too; nothing is waiting for it.
    s.w.detach(s.w.mag1, 7);
    s.w.advance(2s);
    CHECK(s.lc().sial_contexts_from_deregistration == 0);
    CHECK(s.lc().sial_contexts_stored == 0);
    CHECK(s.w.only_binding().proxy_coa == kMag2);
    // A later renewal from MAG2 gets S=0: the context was delivered once.
    s.w.advance(120s);
    CHECK(s.c2().renewals >= 1);
    CHECK((s.registration_pbas().back().flags & mh::ba_flag::kS) == 0);
    CHECK(s.c2().sial_contexts_applied == 1);
}

TEST_CASE("RFC 7161 4.4 PBA timer: the PBA waits for the old MAG's answer and carries the context "
          "(Figure 3), the new MAG asks nothing",
          "[sial][scenario]") {
    Options o;
    o.sial.pba_timer = 100ms;
    SialWorld s(o);
    s.listening_at_mag1();
    s.w.attach(s.w.mag2, 9);
    s.w.advance(10ms);
    CHECK(s.lc().sial_pbas_held == 1);
    CHECK(s.lc().sial_pba_timer_expired == 0);
    const auto pba = s.registration_pbas().back();
    CHECK(pba.flags & mh::ba_flag::kS);
    CHECK(options57(pba.options) == 4);
    CHECK(s.c2().sial_queries_sent == 0);
    s.require_all(*s.proxy2, 9);
}

TEST_CASE("RFC 7161 4.4: when the old MAG does not answer within the PBA timer the PBA goes without "
          "the context, and the context still follows",
          "[sial][scenario]") {
    Options o;
    o.sial.pba_timer = 100ms;
    SialWorld s(o);
    s.listening_at_mag1();
    unsigned lost = 0;
    s.drop = [&](const Packet& p, const mh::Message& m) {  // the LMA's first query is lost
        return std::holds_alternative<mh::SubscriptionQuery>(m) && p.destination == kMag1 && lost++ == 0;
    };
    s.w.attach(s.w.mag2, 9);
    s.w.advance(150ms);
    CHECK(s.lc().sial_pba_timer_expired == 1);
    CHECK(s.w.mag2.engine->find_by_interface(9)->state == mag::BulState::kRegistered);
    CHECK(options57(s.registration_pbas().back().options) == 0);
    s.w.advance(2s);  // the query is repeated after 500 ms
    CHECK(s.lc().sial_query_retransmissions == 1);
    CHECK(s.c2().sial_contexts_applied == 1);
    s.require_all(*s.proxy2, 9);
}

TEST_CASE("RFC 7161 5.2.3: the old MAG's de-registration answers the LMA's query when its Subscription "
          "Response is lost",
          "[sial][scenario]") {
    SialWorld s;
    s.listening_at_mag1();
    s.drop = [&](const Packet& p, const mh::Message& m) {  // MAG1's answers
        return std::holds_alternative<mh::SubscriptionResponse>(m) && p.source == kMag1;
    };
    s.w.attach(s.w.mag2, 9);
    s.w.advance(10ms);
    CHECK(s.c2().sial_contexts_applied == 0);
    s.w.detach(s.w.mag1, 7);  // within the query timeout
    s.w.advance(10ms);
    CHECK(s.lc().sial_contexts_from_deregistration == 1);
    CHECK(s.c2().sial_contexts_applied == 1);
    s.require_all(*s.proxy2, 9);
}

TEST_CASE("RFC 7161 5.2.3: a query reaching the old MAG after the MN left it is answered from the "
          "departed MN's subscriptions",
          "[sial][scenario]") {
    SialWorld s;
    s.listening_at_mag1();
    // MAG1 notices first but its de-registration is lost; the MN appears at MAG2.
    s.drop = [&](const Packet&, const mh::Message& m) {
        const auto* bu = std::get_if<mh::BindingUpdate>(&m);
        return bu != nullptr && bu->lifetime == 0;
    };
    s.w.detach(s.w.mag1, 7);
    s.w.advance(2s);  // MAG1 gave up waiting for a PBA: its entry is gone
    CHECK(s.w.mag1.engine->entries().empty());
    s.w.attach(s.w.mag2, 9);
    s.w.advance(10ms);
    CHECK(s.c1().sial_responses_with_context == 1);
    CHECK(s.c2().sial_contexts_applied == 1);
    s.require_all(*s.proxy2, 9);
}

TEST_CASE("RFC 7161: with every query and answer lost the LMA gives up after its retransmission and "
          "tells the new MAG there is no context, the MN's reports remain the way",
          "[sial][scenario]") {
    SialWorld s;
    s.listening_at_mag1();
    s.drop = [&](const Packet& p, const mh::Message& m) {  // every query to MAG1
        return std::holds_alternative<mh::SubscriptionQuery>(m) && p.destination == kMag1;
    };
    s.w.attach(s.w.mag2, 9);
    s.w.advance(3s);
    CHECK(s.lc().sial_queries_sent == 2);  // one retransmission
    CHECK(s.lc().sial_queries_timed_out == 1);
    CHECK(s.c1().sial_queries_received == 0);
    CHECK(s.lc().sial_responses_sent >= 1);  // each of MAG2's queries is answered, I=0
    CHECK(s.c2().sial_responses_received >= 1);
    CHECK(s.lc().sial_responses_with_context == 0);
    CHECK(s.c2().sial_contexts_applied == 0);
    CHECK(s.c2().sial_queries_timed_out == 0);
    CHECK(s.anchor.contexts.empty());  // nothing to forward ahead
    CHECK(s.proxy2->instance.subscriptions(9).empty());
    // The MN reports at MAG2 (answering its General Query): the usual path.
    s.report_all(*s.proxy2, 9);
    s.require_all(*s.proxy2, 9);
}

TEST_CASE("RFC 7161: a peer without SIAL gets exactly the RFC 5213 behaviour (no S, no options, no "
          "queries)",
          "[sial][scenario]") {
    SECTION("the new MAG does not set S") {
        SialWorld s;
        s.w.mag2.engine->set_multicast_context(nullptr);
        s.listening_at_mag1();
        s.w.attach(s.w.mag2, 9);
        s.w.advance(1s);
        CHECK((s.sent<mh::BindingUpdate>().back().flags & mh::bu_flag::kS) == 0);
        CHECK((s.registration_pbas().back().flags & mh::ba_flag::kS) == 0);
        CHECK(s.sent<mh::SubscriptionQuery>().empty());
        CHECK(s.lc().sial_queries_sent == 0);
    }
    SECTION("the LMA has SIAL disabled") {
        Options o;
        o.sial.enabled = false;
        SialWorld s(o);
        s.w.attach(s.w.mag1, 7);
        s.report_all(*s.proxy1, 7);
        s.w.detach(s.w.mag1, 7);
        CHECK(options57(s.deregistrations().front().options) == 4);  // the MAG offers
        s.w.advance(100ms);
        s.w.attach(s.w.mag2, 9);
        s.w.advance(1s);
        for (const auto& ba : s.sent<mh::BindingAcknowledgement>()) {
            CHECK((ba.flags & mh::ba_flag::kS) == 0);
            CHECK(options57(ba.options) == 0);
        }
        CHECK(s.sent<mh::SubscriptionQuery>().empty());
        CHECK(s.c2().sial_contexts_applied == 0);
        CHECK(s.proxy2->instance.subscriptions(9).empty());
    }
    SECTION("the MN's policy does not admit multicast: no S from either MAG") {
        SialWorld s;
        s.w.mag_policies.policies[mac_of(1)].multicast = false;
        s.w.attach(s.w.mag1, 7);
        s.w.detach(s.w.mag1, 7);
        for (const auto& bu : s.sent<mh::BindingUpdate>()) CHECK((bu.flags & mh::bu_flag::kS) == 0);
    }
}

TEST_CASE("RFC 7161 with the new MAG's policy: a transferred channel the policy does not admit is not "
          "set up there",
          "[sial][scenario]") {
    mcast::Policy deny;
    deny.denied_groups.push_back(prefix("ff3e::4242:2/128"));
    SialWorld s({}, deny);
    s.listening_at_mag1();
    s.move_after_deregistration();
    CHECK(s.c2().sial_contexts_applied == 1);
    CHECK(s.proxy2->link_state(9, kG1) == exclude());
    CHECK(s.proxy2->link_state(9, kG2).no_listeners());
    CHECK(s.proxy2->upstream.count(kG2) == 0);
    CHECK(s.proxy2->instance.counters().records_refused >= 1);
}

TEST_CASE("RFC 7161 + RFC 3810: transferred groups the MN does not confirm at the new MAG expire, those "
          "it reports stay",
          "[sial][scenario]") {
    SialWorld s;
    s.listening_at_mag1();
    s.move_after_deregistration();
    s.require_all(*s.proxy2, 9);
    // The MN (which left G2, G3, G4 meanwhile) answers every query with G1 only.
    const auto mali = s.proxy2->instance.querier(9)->multicast_address_listening_interval();
    for (auto t = Duration::zero(); t < mali + 10s; t += 60s) {
        mcast::Mldv2Report r;
        r.records.push_back({mcast::RecordType::kModeIsExclude, kG1, {}, {}});
        s.proxy2->instance.receive(9, kMnLinkLocal, r);
        s.w.advance(60s);
    }
    CHECK(s.proxy2->link_state(9, kG1) == exclude());
    CHECK(s.proxy2->link_state(9, kG2).no_listeners());
    CHECK(s.proxy2->link_state(9, kG3).no_listeners());
    CHECK(s.proxy2->link_state(9, kG4).no_listeners());
    CHECK(s.proxy2->upstream[kG2].no_listeners());
}

TEST_CASE("RFC 7161: a lost PBA that carried the context: the retransmitted PBU (a new sequence number) "
          "gets it again, a renewal later does not",
          "[sial][scenario]") {
    SialWorld s;
    s.listening_at_mag1();
    unsigned lost = 0;
    s.drop = [&](const Packet& p, const mh::Message& m) {  // the first PBA to MAG2
        const auto* ba = std::get_if<mh::BindingAcknowledgement>(&m);
        return ba != nullptr && p.destination == kMag2 && lost++ == 0;
    };
    s.move_after_deregistration();
    s.w.advance(3s);
    CHECK(lost >= 1);
    CHECK(s.c2().pbu_retransmitted >= 1);
    REQUIRE(s.w.mag2.engine->find_by_interface(9)->state == mag::BulState::kRegistered);
    CHECK(s.c2().sial_contexts_applied == 1);
    s.require_all(*s.proxy2, 9);
    s.w.advance(120s);  // renewals
    CHECK(s.c2().renewals >= 1);
    CHECK((s.registration_pbas().back().flags & mh::ba_flag::kS) == 0);
    CHECK(s.c2().sial_contexts_applied == 1);
}

TEST_CASE("RFC 7161 4.2.1.2: a de-registration with S=0 (no subscriptions) means nothing to ask: the next "
          "MAG gets S=0 and no query is sent",
          "[sial][scenario]") {
    SialWorld s;
    s.w.attach(s.w.mag1, 7);  // the MN joins nothing
    s.w.advance(1s);
    s.move_after_deregistration();
    s.w.advance(1s);
    CHECK((s.deregistrations().front().flags & mh::bu_flag::kS) == 0);
    CHECK((s.registration_pbas().back().flags & mh::ba_flag::kS) == 0);
    CHECK(s.sent<mh::SubscriptionQuery>().empty());
    CHECK(s.lc().sial_queries_sent == 0);
}

TEST_CASE("RFC 7161: a Subscription Response naming another MN does not answer the query its sequence "
          "number matches",
          "[sial][scenario]") {
    SialWorld s;
    s.listening_at_mag1();
    s.drop = [&](const Packet& p, const mh::Message& m) {  // MAG1's real answers
        return std::holds_alternative<mh::SubscriptionResponse>(m) && p.source == kMag1;
    };
    s.w.attach(s.w.mag2, 9);
    s.w.advance(10ms);
    const auto queries = s.sent<mh::SubscriptionQuery>();
    REQUIRE(!queries.empty());
    mh::SubscriptionResponse forged;
    forged.sequence = queries.front().sequence;
    forged.flags = mh::subscription_response_flag::kI;
    mh::ActiveMulticastSubscriptionIpv6 sub;
    sub.record.record_type = 2;
    sub.record.multicast_address = address("ff3e::9");
    forged.options = {mh::MobileNodeIdentifier{1, {'o', 't', 'h', 'e', 'r'}}, sub};
    s.w.lma->handle_subscription_response(kMag1, kLma, forged);
    CHECK(s.lc().sial_responses_unmatched == 1);
    CHECK(s.c2().sial_contexts_applied == 0);
    CHECK(s.w.lma->multicast_context_pending(s.w.only_binding().id));
}

TEST_CASE("RFC 7161: contexts fit the message: a record of more than 14 sources and what exceeds the "
          "budget are left out",
          "[sial]") {
    std::vector<mcast::LinkSubscription> link;
    mcast::LinkSubscription big{{mcast::RecordType::kModeIsInclude, kG2, {}, {}}, false};
    for (int i = 0; i < 15; ++i) {
        auto a = kS1;
        a[15] = static_cast<std::uint8_t>(i);
        big.record.sources.push_back(a);
    }
    link.push_back(big);
    link.push_back({{mcast::RecordType::kModeIsExclude, kG1, {}, {}}, false});
    auto options = mcast::to_subscription_options(link);
    REQUIRE(options.size() == 1);
    CHECK(options[0].record.multicast_address == kG1);
    // 200 groups with no source: 30 octets each at worst; the budget keeps 51.
    link.clear();
    for (int i = 0; i < 200; ++i) {
        auto g = kG1;
        g[14] = static_cast<std::uint8_t>(i);
        link.push_back({{mcast::RecordType::kModeIsExclude, g, {}, {}}, false});
    }
    options = mcast::to_subscription_options(link);
    CHECK(options.size() == mh::kSubscriptionBudget / 30);
    mh::BindingUpdate bu;
    bu.flags = mh::bu_flag::kA | mh::bu_flag::kP | mh::bu_flag::kS;
    bu.options.push_back(mh::MobileNodeIdentifier{1, std::vector<std::uint8_t>(60, 'm')});
    for (const auto& o : options) bu.options.push_back(o);
    CHECK(!mh::serialize(bu).empty());  // fits the 2048-octet Mobility Header
}

// --- draft-asaeda Figure 6: previous MAG -> new MAG, without the LMA --------------

namespace {
Options peers_without_lma_sial() {
    Options o;
    o.context_peers = true;
    o.sial.enabled = false;  // an LMA without SIAL (OAI/UMIP): S=0 in every PBA
    return o;
}
}  // namespace

TEST_CASE("draft-asaeda Figure 6, proactive: the new MAG asks its peer at attach, the previous MAG answers "
          "from the departed MN's context, and the new MAG's proxy has it at the PBA with an LMA "
          "without SIAL",
          "[sial][peers][scenario]") {
    SialWorld s(peers_without_lma_sial());
    s.listening_at_mag1();
    CHECK(s.c1().peer_queries_sent == 1);     // MAG1 asked MAG2 at the first attach
    CHECK(s.c1().peer_responses_empty == 1);  // MAG2 never had the MN
    s.move_after_deregistration();
    REQUIRE(s.w.mag2.engine->find_by_interface(9)->state == mag::BulState::kRegistered);
    CHECK((s.registration_pbas().back().flags & mh::ba_flag::kS) == 0);  // nothing from the LMA
    const auto qs = s.sent<mh::SubscriptionQuery>();
    REQUIRE(qs.size() == 2);  // MAG1 -> MAG2 at the first attach, MAG2 -> MAG1 now
    CHECK(s.c2().peer_queries_sent == 1);
    CHECK(s.c1().peer_queries_received == 1);
    CHECK(s.c2().peer_contexts_received == 1);
    CHECK(s.c2().peer_contexts_applied == 1);
    CHECK(s.c2().sial_subscriptions_applied == 4);
    s.require_all(*s.proxy2, 9);  // no report from the MN at MAG2
    CHECK(s.lc().sial_queries_sent == 0);
    CHECK(s.anchor.contexts.empty());  // the LMA knew nothing of it
}

TEST_CASE("draft-asaeda Figure 6, reactive: the previous MAG still serves the MN and answers from its link",
          "[sial][peers][scenario]") {
    SialWorld s(peers_without_lma_sial());
    s.listening_at_mag1();
    s.w.attach(s.w.mag2, 9);  // MAG1 has not noticed the move yet
    s.w.advance(10ms);
    CHECK(s.c2().peer_contexts_applied == 1);
    s.require_all(*s.proxy2, 9);
}

TEST_CASE("draft-asaeda Figure 6: an answer after the PBA is applied at once, one lost is given up after "
          "its timeout, and a query from an address that is not a peer is not answered about another "
          "LMA's MN",
          "[sial][peers][scenario]") {
    SECTION("late answer") {
        SialWorld s(peers_without_lma_sial());
        s.listening_at_mag1();
        s.w.detach(s.w.mag1, 7);
        s.w.advance(100ms);
        s.drop = [](const Packet& p, const mh::Message& m) {
            return std::holds_alternative<mh::SubscriptionResponse>(m) && p.source == kMag1;
        };
        s.w.attach(s.w.mag2, 9);
        s.w.advance(10ms);
        REQUIRE(s.w.mag2.engine->find_by_interface(9)->state == mag::BulState::kRegistered);
        CHECK(s.c2().peer_contexts_applied == 0);
        REQUIRE(s.w.held.size() == 1);
        s.drop = nullptr;
        s.w.release(0);
        CHECK(s.c2().peer_contexts_received == 1);
        CHECK(s.c2().peer_contexts_applied == 1);
        s.require_all(*s.proxy2, 9);
    }
    SECTION("lost answer") {
        SialWorld s(peers_without_lma_sial());
        s.listening_at_mag1();
        s.drop = [](const Packet& p, const mh::Message& m) {
            return std::holds_alternative<mh::SubscriptionResponse>(m) && p.source == kMag1;
        };
        s.move_after_deregistration();
        s.w.advance(1s);
        REQUIRE(s.w.mag2.engine->find_by_interface(9)->state == mag::BulState::kRegistered);
        CHECK(s.c2().peer_queries_timed_out == 1);
        CHECK(s.c2().peer_contexts_applied == 0);
        CHECK(s.proxy2->link_state(9, kG1) == include({}));  // the MN's own reports will tell
    }
    SECTION("not a peer") {
        Options o = peers_without_lma_sial();
        o.context_peers = false;
        SialWorld s(o);
        s.listening_at_mag1();
        s.w.detach(s.w.mag1, 7);
        s.w.advance(100ms);
        mh::SubscriptionQuery q;
        q.sequence = 77;
        const std::string nai = nai_of(1);
        q.options.push_back(mh::MobileNodeIdentifier{1, std::vector<std::uint8_t>(nai.begin(), nai.end())});
        s.w.mag1.engine->handle_subscription_query(kMag2, q);
        const auto responses = s.sent<mh::SubscriptionResponse>();
        REQUIRE(responses.size() == 1);
        CHECK_FALSE(responses[0].has_information());
        CHECK(s.c1().sial_queries_unknown == 1);
        CHECK(s.c1().peer_queries_received == 0);
    }
}
