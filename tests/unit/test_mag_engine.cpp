// MAG engine: Binding Update List and RFC 5213 section 6 signalling, with fakes
// and a simulated clock. Each test is named after the rule it checks.
#include <catch2/catch.hpp>

#include <functional>

#include <set>

#include "pmip/mag/mag_engine.hpp"
#include "pmip/mag/tunnel_rules.hpp"
#include "pmip/mh/codec.hpp"

using namespace pmip;
using namespace pmip::mag;
using namespace std::chrono_literals;

namespace {

Ipv6Address address(const char* text) { return *parse_address(text); }
Ipv6Prefix prefix(const char* text) { return *parse_prefix(text); }

const Ipv6Address kLma = address("2001:db8:100::1");
const Ipv6Address kMag = address("2001:db8:100::11");
const std::string kMac("\x02\x11\x22\x33\x44\x55", 6);

struct Sent {
    Ipv6Address source, destination;
    mh::BindingUpdate pbu;
    TimePoint at;
};

struct Fixture : MagObserver {
    SimulatedClock clock;
    TimerQueue timers{clock};
    FakeRouteManager routes;
    TunnelRules tunnel_rules{routes, 999};  // as magd: rule-priority 1000 - 1
    FakeTunnelBackend* backend = nullptr;
    std::unique_ptr<RefCountingTunnelManager> tunnels;
    MapPolicyStore policies;
    std::set<int> attached_links;
    struct Sender final : MhSender {
        Fixture* f;
        void send(const Ipv6Address& s, const Ipv6Address& d, const mh::Message& m) override {
            const auto wire = mh::serialize(m);
            REQUIRE_FALSE(wire.empty());
            if (const auto* bra = std::get_if<mh::BindingRevocationAcknowledgement>(&m)) {
                f->acks.push_back({d, *bra});
                return;
            }
            f->sent.push_back({s, d, std::get<mh::BindingUpdate>(m), f->clock.now()});
        }
    } sender;
    std::vector<Sent> sent;
    std::vector<std::pair<Ipv6Address, mh::BindingRevocationAcknowledgement>> acks;
    std::vector<std::string> events;
    std::unique_ptr<MagEngine> engine;

    explicit Fixture(const std::function<void(MagConfig&)>& tweak = {}, TunnelOptions tunnel_options = {}) {
        sender.f = this;
        auto b = std::make_unique<FakeTunnelBackend>();
        backend = b.get();
        tunnels = std::make_unique<RefCountingTunnelManager>(std::move(b), timers, tunnel_options);
        tunnels->set_use_listener(&tunnel_rules);
        MobileNodePolicy p;
        p.mn_identifier = "mn1@example.org";
        p.lma = kLma;
        p.lifetime = 100;  // 400 s
        policies.policies[kMac] = p;
        MagConfig config;
        config.proxy_coa = kMag;
        if (tweak)
            tweak(config);
        engine = std::make_unique<MagEngine>(config, policies, *tunnels, routes, timers, sender,
                                             [this](int ifindex) { return attached_links.count(ifindex) != 0; });
        engine->set_observer(this);
    }
    void registered(const BindingUpdateListEntry& e, const TunnelInfo& t) override {
        events.push_back("registered " + e.access_interface + " " + t.name);
    }
    void deregistered(const BindingUpdateListEntry& e) override {
        events.push_back("deregistered " + e.access_interface);
    }
    // With the number of binding events seen by then (the order of the two).
    std::vector<std::string> prepare_events;
    void tunnel_prepared(const BindingUpdateListEntry& e, const TunnelInfo& t) override {
        prepare_events.push_back("prepared " + e.access_interface + " " + t.name + (t.up ? " up" : " down") +
                                 " after " + std::to_string(events.size()));
    }
    void tunnel_unprepared(const BindingUpdateListEntry& e, const TunnelInfo& t) override {
        prepare_events.push_back("unprepared " + e.access_interface + " " + t.name + (t.up ? " up" : " down") +
                                 " after " + std::to_string(events.size()));
    }
    void advance(Duration d) {
        clock.advance(d);
        timers.run_due();
    }
    bool attach(int ifindex = 7) {
        attached_links.insert(ifindex);
        return engine->attach(ifindex, "veth" + std::to_string(ifindex), kMac);
    }
    // A PBA answering the last PBU.
    mh::BindingAcknowledgement pba(std::uint8_t status = 0, const char* hnp = "2001:db8:8000::/64",
                                   std::uint16_t lifetime = 100) {
        const auto& pbu = sent.back().pbu;
        mh::BindingAcknowledgement a;
        a.status = status;
        a.flags = mh::ba_flag::kP;
        a.sequence = pbu.sequence;
        a.lifetime = lifetime;
        a.options.push_back(*mh::find_option<mh::MobileNodeIdentifier>(pbu.options));
        const auto p = prefix(hnp);
        a.options.push_back(mh::HomeNetworkPrefix{p.length, p.address});
        a.options.push_back(*mh::find_option<mh::HandoffIndicator>(pbu.options));
        a.options.push_back(*mh::find_option<mh::AccessTechnologyType>(pbu.options));
        if (const auto* ts = mh::find_option<mh::Timestamp>(pbu.options)) a.options.push_back(*ts);
        if (const auto* ll = mh::find_option<mh::MobileNodeLinkLayerIdentifier>(pbu.options)) {
            a.options.push_back(*ll);
        }
        return a;
    }
    const BindingUpdateListEntry& entry(int ifindex = 7) { return *engine->find_by_interface(ifindex); }
    // Attached, and the tunnel prepared right after (the engine's zero timer).
    void attach_prepared(int ifindex = 7) {
        REQUIRE(attach(ifindex));
        timers.run_due();
        REQUIRE(tunnels->tunnels().size() == 1);
    }
};

}  // namespace

TEST_CASE("The first PBU's Handoff Indicator: the configured one, or the caller's (6.9.1.1)",
          "[mag]") {
    Fixture configured([](MagConfig& c) { c.attach_handoff_indicator = 1; });
    REQUIRE(configured.attach());
    CHECK(mh::find_option<mh::HandoffIndicator>(configured.sent[0].pbu.options)->value == 1);
    Fixture told;
    told.attached_links.insert(7);
    REQUIRE(told.engine->attach(7, "veth7", kMac, mh::handoff_indicator::kHandoffBetweenMags));
    CHECK(mh::find_option<mh::HandoffIndicator>(told.sent[0].pbu.options)->value == 3);
    // Renewal 5 and de-registration 4 whatever the first one was.
    told.engine->handle_proxy_binding_acknowledgement(kLma, told.pba());
    told.advance(321s);  // 80 % of 400 s
    REQUIRE(told.sent.size() == 2);
    CHECK(mh::find_option<mh::HandoffIndicator>(told.sent[1].pbu.options)->value == 5);
    told.attached_links.clear();
    told.engine->detach(7);
    CHECK(mh::find_option<mh::HandoffIndicator>(told.sent.back().pbu.options)->value == 4);
}

TEST_CASE("An MN with a policy gets a PBU with every mandatory option (6.9.1.1)", "[mag]") {
    Fixture f;
    REQUIRE(f.attach());
    REQUIRE(f.sent.size() == 1);
    const auto& s = f.sent[0];
    CHECK(s.source == kMag);
    CHECK(s.destination == kLma);
    CHECK(s.pbu.flags == (mh::bu_flag::kA | mh::bu_flag::kP));
    CHECK(s.pbu.lifetime == 100);
    CHECK(mh::find_option<mh::MobileNodeIdentifier>(s.pbu.options)->identifier.size() == 15);
    CHECK(mh::count_options<mh::HomeNetworkPrefix>(s.pbu.options) == 1);
    CHECK(mh::find_option<mh::HomeNetworkPrefix>(s.pbu.options)->prefix == Ipv6Address{});
    // A MAG cannot tell a new attachment from a handover: unknown (4).
    CHECK(mh::find_option<mh::HandoffIndicator>(s.pbu.options)->value == 4);
    CHECK(mh::find_option<mh::AccessTechnologyType>(s.pbu.options)->value == 3);
    CHECK(mh::find_option<mh::Timestamp>(s.pbu.options) != nullptr);
    const auto* ll = mh::find_option<mh::MobileNodeLinkLayerIdentifier>(s.pbu.options);
    REQUIRE(ll != nullptr);
    CHECK(std::string(ll->identifier.begin(), ll->identifier.end()) == kMac);
    CHECK_FALSE(mh::check_proxy_binding_update(s.pbu).has_value());
}

TEST_CASE("An MN not in the policy store gets no service and is counted", "[mag]") {
    Fixture f;
    f.attached_links.insert(8);
    CHECK_FALSE(f.engine->attach(8, "veth8", std::string("\x02\x99\x99\x99\x99\x99", 6)));
    CHECK(f.sent.empty());
    CHECK(f.engine->counters().attach_without_policy == 1);
}

TEST_CASE("Policy prefixes are requested one option each", "[mag]") {
    Fixture f;
    f.policies.policies[kMac].home_network_prefixes = {prefix("2001:db8:1::/64"), prefix("2001:db8:2::/64")};
    f.attach();
    CHECK(mh::count_options<mh::HomeNetworkPrefix>(f.sent[0].pbu.options) == 2);
}

TEST_CASE("Retransmission: 1 s doubling to 32 s, new sequence and newer timestamp each time (6.9.4)",
          "[mag]") {
    Fixture f;
    f.attach();
    for (int i = 0; i < 8; ++i) f.advance(40s);
    REQUIRE(f.sent.size() >= 8);
    for (std::size_t i = 1; i < 8; ++i) {
        CHECK(f.sent[i].pbu.sequence != f.sent[i - 1].pbu.sequence);
        CHECK(mh::find_option<mh::Timestamp>(f.sent[i].pbu.options)->value >
              mh::find_option<mh::Timestamp>(f.sent[i - 1].pbu.options)->value);
    }
    // The schedule itself, with fine steps: sent at 0, 1, 3, 7, 15, 31, 63, 95 s.
    Fixture g;
    g.attach();
    for (int i = 0; i < 1000; ++i) g.advance(100ms);  // 100 s
    std::vector<long> ms;
    for (std::size_t i = 1; i < g.sent.size(); ++i) {
        ms.push_back(std::chrono::duration_cast<std::chrono::milliseconds>(g.sent[i].at - g.sent[i - 1].at).count());
    }
    CHECK(ms == std::vector<long>{1000, 2000, 4000, 8000, 16000, 32000, 32000});
    CHECK(g.engine->counters().pbu_retransmitted == 7);
}

TEST_CASE("Retransmission stops when the MN is no longer attached", "[mag]") {
    Fixture f;
    f.attach();
    f.attached_links.clear();
    f.advance(10s);
    CHECK(f.sent.size() == 1);
    CHECK(f.engine->entries().empty());
}

TEST_CASE("PBA 0 installs the tunnel, the HNP route, the source rule and the LMA table route "
          "(6.9.2, 6.10)", "[mag]") {
    Fixture f;
    f.attach();
    f.engine->handle_proxy_binding_acknowledgement(kLma, f.pba());
    const auto& e = f.entry();
    CHECK(e.state == BulState::kRegistered);
    REQUIRE(e.home_network_prefixes.size() == 1);
    CHECK(to_string(e.home_network_prefixes[0]) == "2001:db8:8000::/64");
    REQUIRE(f.tunnels->tunnels().size() == 1);
    const auto t = f.tunnels->tunnels().front();
    CHECK(t.key.peer == kLma);
    CHECK(t.key.local == kMag);
    CHECK(f.routes.routes.count(Route{prefix("2001:db8:8000::/64"), 7, kMainTable, 1024, std::nullopt}) == 1);
    CHECK(f.routes.routes.count(Route{Ipv6Prefix{{}, 0}, t.ifindex, 1000, 1024, std::nullopt}) == 1);
    CHECK(f.routes.rules.count(Rule{prefix("2001:db8:8000::/64"), 1000, 1000, ""}) == 1);
    // What leaves the tunnel is routed by its destination, never by its source.
    CHECK(f.routes.rules.count(Rule{Ipv6Prefix{{}, 0}, kMainTable, 999, t.name}) == 1);
    CHECK(f.routes.rules.size() == 2);
    CHECK(f.events == std::vector<std::string>{"registered veth7 " + t.name});
    // No more retransmissions.
    const auto n = f.sent.size();
    f.advance(60s);
    CHECK(f.sent.size() == n);
}

TEST_CASE("Uplink by source routes: one route per HNP in one table, one rule for every MN, one rule per "
          "tunnel, and none of it per MN left after detach (6.10)", "[mag]") {
    Fixture f([](MagConfig& c) { c.uplink_routing = MagConfig::UplinkRouting::kSourceRoutes; });
    const std::string mac2("\x02\x11\x22\x33\x44\x66", 6);
    MobileNodePolicy p2 = f.policies.policies[kMac];
    p2.mn_identifier = "mn2@example.org";
    f.policies.policies[mac2] = p2;
    const Ipv6Prefix any{{}, 0};
    const auto hnp1 = prefix("2001:db8:8000::/64"), hnp2 = prefix("2001:db8:8000:1::/64");

    f.attach();
    f.engine->handle_proxy_binding_acknowledgement(kLma, f.pba(0, "2001:db8:8000::/64"));
    REQUIRE(f.entry().state == BulState::kRegistered);
    CHECK(f.entry().lma_table == 1000);
    const auto t = f.tunnels->tunnels().front();
    const Rule uplink{any, 1000, 1000, ""}, tunnel{any, kMainTable, 999, t.name};
    CHECK(f.routes.routes == std::set<Route>{Route{hnp1, 7, kMainTable, 1024, std::nullopt},
                                              Route{any, t.ifindex, 1000, 1024, std::nullopt, RouteType::kUnicast, hnp1}});
    CHECK(f.routes.rules == std::set<Rule>{uplink, tunnel});

    // A second MN of the same LMA: its two routes, no rule.
    f.attached_links.insert(8);
    REQUIRE(f.engine->attach(8, "veth8", mac2));
    const auto requests_before = f.routes.requests.size();
    f.engine->handle_proxy_binding_acknowledgement(kLma, f.pba(0, "2001:db8:8000:1::/64"));
    REQUIRE(f.entry(8).state == BulState::kRegistered);
    CHECK(f.routes.requests.size() - requests_before == 2);
    CHECK(f.routes.routes.size() == 4);
    CHECK(f.routes.routes.count(Route{any, t.ifindex, 1000, 1024, std::nullopt, RouteType::kUnicast, hnp2}) == 1);
    CHECK(f.routes.rules == std::set<Rule>{uplink, tunnel});

    // The first leaves: its routes go, the shared rules stay.
    f.attached_links.erase(7);
    f.engine->detach(7);
    CHECK(f.routes.routes == std::set<Route>{Route{hnp2, 8, kMainTable, 1024, std::nullopt},
                                              Route{any, t.ifindex, 1000, 1024, std::nullopt, RouteType::kUnicast, hnp2}});
    CHECK(f.routes.rules == std::set<Rule>{uplink, tunnel});
    // The last one of the tunnel: the tunnel's rule goes with the tunnel.
    f.attached_links.erase(8);
    f.engine->detach(8);
    CHECK(f.routes.routes.empty());
    CHECK(f.backend->devices.empty());
    CHECK(f.routes.rules == std::set<Rule>{uplink});
    CHECK(f.engine->counters().data_path_errors == 0);

    // The next MN makes the tunnel again, and its rule, but not the uplink rule.
    f.attach();
    f.engine->handle_proxy_binding_acknowledgement(kLma, f.pba(0, "2001:db8:8000::/64"));
    REQUIRE(f.entry().state == BulState::kRegistered);
    const auto t2 = f.tunnels->tunnels().front();
    CHECK(f.routes.rules == std::set<Rule>{uplink, Rule{any, kMainTable, 999, t2.name}});
    CHECK(std::count_if(f.routes.requests.begin(), f.routes.requests.end(), [&](const RouteRequest& r) {
              const auto* rule = std::get_if<Rule>(&r.object);
              return rule && *rule == uplink;
          }) == 1);
}

TEST_CASE("Uplink by source routes: a route the kernel refuses undoes the MN's own routes and keeps "
          "the shared rules (6.10)", "[mag]") {
    Fixture f([](MagConfig& c) { c.uplink_routing = MagConfig::UplinkRouting::kSourceRoutes; });
    f.routes.fail_if = [](const RouteRequest& r) -> std::optional<Error> {
        const auto* route = std::get_if<Route>(&r.object);
        if (r.op == RouteOp::kAdd && route && route->source) return Error{22, "Invalid argument"};
        return std::nullopt;
    };
    f.attach();  // no prepared tunnel: the registration's is the only reference
    f.engine->handle_proxy_binding_acknowledgement(kLma, f.pba());
    CHECK(f.engine->counters().data_path_errors >= 1);
    CHECK(f.routes.routes.empty());  // the HNP route was undone
    CHECK(f.backend->devices.empty());  // the tunnel went with its only reference,
    // and its rule with it; the uplink rule, shared by every MN, stays.
    CHECK(f.routes.rules == std::set<Rule>{Rule{Ipv6Prefix{{}, 0}, 1000, 1000, ""}});
}

TEST_CASE("The tunnel's rule goes with the tunnel's last binding, also while the device waits for its "
          "delete delay, and comes back with the next binding", "[mag]") {
    TunnelOptions options;
    options.delete_delay = 2s;
    Fixture f([](MagConfig& c) { c.uplink_routing = MagConfig::UplinkRouting::kSourceRoutes; }, options);
    const Ipv6Prefix any{{}, 0};
    const Rule uplink{any, 1000, 1000, ""};
    f.attach();
    f.engine->handle_proxy_binding_acknowledgement(kLma, f.pba());
    REQUIRE(f.entry().state == BulState::kRegistered);
    const auto t = f.tunnels->tunnels().front();
    CHECK(f.routes.rules == std::set<Rule>{uplink, Rule{any, kMainTable, 999, t.name}});
    f.attached_links.clear();
    f.engine->detach(7);
    f.engine->handle_proxy_binding_acknowledgement(kLma, f.pba(0, "2001:db8:8000::/64", 0));
    REQUIRE(f.tunnels->find(t.key));  // the device waits for its delay
    CHECK(f.tunnels->find(t.key)->references == 0);
    CHECK(f.routes.rules == std::set<Rule>{uplink});
    // Back within the delay: the same device, its rule again.
    f.attach();
    f.engine->handle_proxy_binding_acknowledgement(kLma, f.pba());
    REQUIRE(f.entry().state == BulState::kRegistered);
    CHECK(f.tunnels->tunnels().front().name == t.name);
    CHECK(f.routes.rules == std::set<Rule>{uplink, Rule{any, kMainTable, 999, t.name}});
    f.attached_links.clear();
    f.engine->detach(7);
    f.engine->handle_proxy_binding_acknowledgement(kLma, f.pba(0, "2001:db8:8000::/64", 0));
    f.advance(3s);
    CHECK(f.tunnels->tunnels().empty());
    CHECK(f.routes.rules == std::set<Rule>{uplink});
    CHECK(f.routes.routes.empty());
    CHECK(f.engine->counters().data_path_errors == 0);
}

TEST_CASE("Renewal at 80% of the granted lifetime with HI 5 and the assigned prefix (6.9.1.1, 6.13)",
          "[mag]") {
    Fixture f;
    f.attach();
    f.engine->handle_proxy_binding_acknowledgement(kLma, f.pba());
    const auto n = f.sent.size();
    f.advance(319s);
    CHECK(f.sent.size() == n);
    f.advance(1s);  // 80% of 400 s
    REQUIRE(f.sent.size() == n + 1);
    const auto& r = f.sent.back().pbu;
    CHECK(mh::find_option<mh::HandoffIndicator>(r.options)->value == 5);
    CHECK(to_string(Ipv6Prefix{mh::find_option<mh::HomeNetworkPrefix>(r.options)->prefix, 64}) ==
          "2001:db8:8000::/64");
    f.engine->handle_proxy_binding_acknowledgement(kLma, f.pba());
    CHECK(f.entry().state == BulState::kRegistered);
    CHECK(f.events.size() == 1);  // nothing changed: no second event
    CHECK(f.engine->counters().renewals == 1);
}

TEST_CASE("No renewal for an MN that cannot be confirmed attached: de-register instead (6.13)",
          "[mag]") {
    Fixture f;
    f.attach();
    f.engine->handle_proxy_binding_acknowledgement(kLma, f.pba());
    f.attached_links.clear();
    f.advance(320s);
    CHECK(f.engine->counters().renewals_skipped_detached == 1);
    CHECK(f.sent.back().pbu.lifetime == 0);
}

TEST_CASE("Detach sends a de-registration (lifetime 0, HI 4), removes forwarding now, and the entry "
          "after the PBA (6.9.1.2)", "[mag]") {
    Fixture f;
    f.attach();
    f.engine->handle_proxy_binding_acknowledgement(kLma, f.pba());
    f.attached_links.clear();
    f.engine->detach(7);
    const auto& d = f.sent.back().pbu;
    CHECK(d.lifetime == 0);
    CHECK(mh::find_option<mh::HandoffIndicator>(d.options)->value == 4);
    CHECK(f.routes.routes.empty());
    CHECK(f.routes.rules.empty());
    CHECK(f.backend->devices.empty());
    CHECK(f.events.back() == "deregistered veth7");
    REQUIRE(f.engine->find_by_interface(7) != nullptr);
    f.engine->handle_proxy_binding_acknowledgement(kLma, f.pba(0, "2001:db8:8000::/64", 0));
    CHECK(f.engine->entries().empty());
}

TEST_CASE("A de-registration without PBA is completed after INITIAL_BINDACK_TIMEOUT (6.9.1.2)",
          "[mag]") {
    Fixture f;
    f.attach();
    f.engine->handle_proxy_binding_acknowledgement(kLma, f.pba());
    f.engine->detach(7);
    f.advance(999ms);
    CHECK(f.engine->entries().size() == 1);
    f.advance(1ms);
    CHECK(f.engine->entries().empty());
    CHECK(f.engine->counters().deregistration_timeouts == 1);
}

TEST_CASE("152 stops service and retransmission", "[mag]") {
    Fixture f;
    f.attach();
    f.engine->handle_proxy_binding_acknowledgement(kLma, f.pba(152));
    CHECK(f.entry().state == BulState::kDenied);
    const auto n = f.sent.size();
    f.advance(100s);
    CHECK(f.sent.size() == n);
    CHECK(f.routes.routes.empty());
    CHECK(f.events.empty());
    CHECK(f.engine->counters().pba_rejected.at(152) == 1);
}

TEST_CASE("155 retries once asking the LMA to assign, then denies", "[mag]") {
    Fixture f;
    f.policies.policies[kMac].home_network_prefixes = {prefix("2001:db8:1::/64")};
    f.attach();
    f.engine->handle_proxy_binding_acknowledgement(kLma, f.pba(155));
    f.advance(1s);
    const auto& retry = f.sent.back().pbu;
    REQUIRE(mh::count_options<mh::HomeNetworkPrefix>(retry.options) == 1);
    CHECK(mh::find_option<mh::HomeNetworkPrefix>(retry.options)->prefix == Ipv6Address{});
    f.engine->handle_proxy_binding_acknowledgement(kLma, f.pba(155));
    CHECK(f.entry().state == BulState::kDenied);
}

TEST_CASE("157 makes the MAG re-register at once with a fresh timestamp, once per request", "[mag]") {
    Fixture f;
    f.attach();
    const auto ts1 = mh::find_option<mh::Timestamp>(f.sent.back().pbu.options)->value;
    const std::size_t sent = f.sent.size();
    f.advance(1ms);
    f.engine->handle_proxy_binding_acknowledgement(kLma, f.pba(157));
    // No wait for the retransmission timer: in a handover the old MAG's
    // de-registration may have been stamped after our PBU and reached the
    // LMA first; the BCE would be deleted before a PBU 1 s later.
    REQUIRE(f.sent.size() == sent + 1);
    const auto ts2 = mh::find_option<mh::Timestamp>(f.sent.back().pbu.options)->value;
    CHECK(ts2 > ts1);
    // A second 157 for the same request: back to the timer (no PBU storm).
    f.engine->handle_proxy_binding_acknowledgement(kLma, f.pba(157));
    CHECK(f.sent.size() == sent + 1);
    f.advance(1s);
    REQUIRE(f.sent.size() == sent + 2);
    CHECK(mh::find_option<mh::Timestamp>(f.sent.back().pbu.options)->value > ts2);
    f.engine->handle_proxy_binding_acknowledgement(kLma, f.pba());
    CHECK(f.entry().state == BulState::kRegistered);
}

TEST_CASE("Any other rejection denies service and advertises nothing", "[mag]") {
    Fixture f;
    f.attach();
    f.engine->handle_proxy_binding_acknowledgement(kLma, f.pba(130));
    CHECK(f.entry().state == BulState::kDenied);
    CHECK(f.tunnels->tunnels().empty());
    CHECK(f.events.empty());
}

TEST_CASE("A PBA matching no outstanding PBU, or from another LMA, is ignored (6.9.2)", "[mag]") {
    Fixture f;
    f.attach();
    auto a = f.pba();
    a.sequence += 1;
    f.engine->handle_proxy_binding_acknowledgement(kLma, a);
    f.engine->handle_proxy_binding_acknowledgement(address("2001:db8:100::99"), f.pba());
    CHECK(f.engine->counters().pba_unmatched == 2);
    CHECK(f.entry().state == BulState::kRegistering);
}

TEST_CASE("A MAG ignores a PBA with the D flag and counts it (RFC 8885 section 4.2)", "[mag][dmm]") {
    Fixture f;
    f.attach();
    const auto sent = f.sent.size();
    auto a = f.pba();
    a.flags |= mh::ba_flag::kD;
    f.engine->handle_proxy_binding_acknowledgement(kLma, a);
    CHECK(f.engine->counters().pba_dmm_ignored == 1);
    CHECK(f.engine->counters().pba_accepted == 0);
    CHECK(f.entry().state == BulState::kRegistering);
    CHECK(f.tunnels->tunnels().empty());
    CHECK(f.events.empty());
    // The PBU is still outstanding: retransmitted, and a PBA without D from
    // the LMA completes it.
    f.advance(1s);
    CHECK(f.sent.size() == sent + 1);
    f.engine->handle_proxy_binding_acknowledgement(kLma, f.pba());
    CHECK(f.entry().state == BulState::kRegistered);
    CHECK(f.engine->counters().pba_dmm_ignored == 1);
}

TEST_CASE("A PBA whose HI differs from the request is ignored and retries stop (6.9.2)", "[mag]") {
    Fixture f;
    f.attach();
    auto a = f.pba();
    for (auto& o : a.options) {
        if (auto* hi = std::get_if<mh::HandoffIndicator>(&o)) hi->value = 3;
    }
    f.engine->handle_proxy_binding_acknowledgement(kLma, a);
    CHECK(f.engine->counters().pba_mismatched == 1);
    CHECK(f.entry().state == BulState::kDenied);
    CHECK(f.tunnels->tunnels().empty());
}

TEST_CASE("An LMA restart makes the MAG register its MNs again", "[mag]") {
    Fixture f;
    f.attach();
    f.engine->handle_proxy_binding_acknowledgement(kLma, f.pba());
    const auto n = f.sent.size();
    f.engine->reregister_all(kLma);
    CHECK(f.sent.size() == n + 1);
    CHECK(f.entry().state == BulState::kRegistering);
    f.engine->handle_proxy_binding_acknowledgement(kLma, f.pba());
    CHECK(f.entry().state == BulState::kRegistered);
}

TEST_CASE("GRE keys: the PBU carries our downlink key, the LMA's uplink key keys the tunnel, "
          "status 2 falls back to ip6ip6 (RFC 5845)", "[mag]") {
    Fixture f;
    f.policies.policies[kMac].gre_keys = true;
    f.attach();
    const auto* key = mh::find_option<mh::GreKey>(f.sent.back().pbu.options);
    REQUIRE(key != nullptr);
    REQUIRE(key->key.has_value());
    auto a = f.pba();
    a.options.push_back(mh::GreKey{777u});
    f.engine->handle_proxy_binding_acknowledgement(kLma, a);
    const auto t = f.tunnels->tunnels().front();
    CHECK(t.key.kind == TunnelKind::kGre);
    CHECK(t.key.output_key == 777u);
    CHECK(t.key.input_key == *key->key);

    Fixture g;
    g.policies.policies[kMac].tunnel_kind = TunnelKind::kGre;
    g.attach();
    g.engine->handle_proxy_binding_acknowledgement(kLma, g.pba(mh::status::kGreKeyOptionNotRequired));
    CHECK(g.tunnels->tunnels().front().key.kind == TunnelKind::kIp6Ip6);
}

TEST_CASE("An MN's downlink key is never the M-Tunnel's (multicast.m-tunnel-key)", "[mag][m-tunnel]") {
    Fixture f([](MagConfig& c) { c.reserved_gre_key = 1; });
    f.policies.policies[kMac].gre_keys = true;
    f.attach();
    const auto* key = mh::find_option<mh::GreKey>(f.sent.back().pbu.options);
    REQUIRE(key != nullptr);
    CHECK(key->key == 2u);
}

TEST_CASE("Two MNs of one LMA share the tunnel and its table, the last one removes the table route",
          "[mag]") {
    Fixture f;
    const std::string mac2("\x02\x11\x22\x33\x44\x66", 6);
    auto p2 = f.policies.policies[kMac];
    p2.mn_identifier = "mn2@example.org";
    f.policies.policies[mac2] = p2;
    f.attach(7);
    f.engine->handle_proxy_binding_acknowledgement(kLma, f.pba(0, "2001:db8:8000::/64"));
    f.attached_links.insert(8);
    f.engine->attach(8, "veth8", mac2);
    f.engine->handle_proxy_binding_acknowledgement(kLma, f.pba(0, "2001:db8:8000:1::/64"));
    CHECK(f.tunnels->tunnels().size() == 1);
    CHECK(f.tunnels->tunnels().front().references == 2);
    CHECK(f.routes.routes.size() == 3);  // two HNPs + one table default
    f.engine->clear();
    CHECK(f.routes.routes.empty());
    CHECK(f.routes.rules.empty());
    CHECK(f.backend->devices.empty());
}

// --- Binding Revocation (RFC 5846 section 9.1) ------------------------------

namespace {

mh::BindingRevocationIndication bri(std::uint8_t trigger, std::uint8_t flags,
                                    std::optional<std::string> mn_id, std::uint16_t seq = 77) {
    mh::BindingRevocationIndication b;
    b.revocation_trigger = trigger;
    b.flags = flags;
    b.sequence = seq;
    if (mn_id) {
        b.options.push_back(mh::MobileNodeIdentifier{1, std::vector<std::uint8_t>(mn_id->begin(), mn_id->end())});
    }
    return b;
}

void register_mn(Fixture& f, int ifindex = 7) {
    REQUIRE(f.attach(ifindex));
    f.engine->handle_proxy_binding_acknowledgement(kLma, f.pba());
    REQUIRE(f.entry(ifindex).state == BulState::kRegistered);
}

}  // namespace

TEST_CASE("BRI administrative for a registered MN: forwarding removed, BRA success, no PBU (9.1)", "[mag][revocation]") {
    Fixture f;
    register_mn(f);
    const auto pbus = f.sent.size();
    const auto routes_before = f.routes.routes.size();
    f.engine->handle_binding_revocation_indication(kLma, bri(1, mh::revocation_flag::kP, "mn1@example.org"));
    REQUIRE(f.acks.size() == 1);
    CHECK(f.acks[0].first == kLma);
    CHECK(f.acks[0].second.status == 0);
    CHECK(f.acks[0].second.sequence == 77);
    CHECK(f.acks[0].second.flags == mh::revocation_flag::kP);
    CHECK(f.sent.size() == pbus);  // no de-registration PBU: the LMA asked
    CHECK(f.routes.routes.size() < routes_before);
    CHECK(f.events.back() == "deregistered veth7");
    // Still on its link: denied until it detaches; a repeated RS brings no PBU.
    CHECK(f.entry().state == BulState::kDenied);
    CHECK_FALSE(f.engine->attach(7, "veth7", kMac));
    CHECK(f.sent.size() == pbus);
    CHECK(f.engine->counters().bindings_revoked == 1);
}

TEST_CASE("BRI for an unknown MN-ID answers 128 Binding Does NOT Exist (9.1)", "[mag][revocation]") {
    Fixture f;
    register_mn(f);
    f.engine->handle_binding_revocation_indication(kLma, bri(1, mh::revocation_flag::kP, "other@example.org"));
    REQUIRE(f.acks.size() == 1);
    CHECK(f.acks[0].second.status == 128);
    CHECK(f.entry().state == BulState::kRegistered);
}

TEST_CASE("BRI from another LMA does not touch our bindings (128)", "[mag][revocation]") {
    Fixture f;
    register_mn(f);
    f.engine->handle_binding_revocation_indication(address("2001:db8:100::99"),
                                                    bri(1, mh::revocation_flag::kP, "mn1@example.org"));
    REQUIRE(f.acks.size() == 1);
    CHECK(f.acks[0].first == address("2001:db8:100::99"));
    CHECK(f.acks[0].second.status == 128);
    CHECK(f.entry().state == BulState::kRegistered);
}

TEST_CASE("BRI without MN-ID answers 131, per-MN trigger with G answers 134, unknown trigger 133", "[mag][revocation]") {
    Fixture f;
    register_mn(f);
    f.engine->handle_binding_revocation_indication(kLma, bri(1, mh::revocation_flag::kP, std::nullopt, 1));
    f.engine->handle_binding_revocation_indication(
        kLma, bri(1, mh::revocation_flag::kP | mh::revocation_flag::kG, "mn1@example.org", 2));
    f.engine->handle_binding_revocation_indication(kLma, bri(42, mh::revocation_flag::kP, "mn1@example.org", 3));
    f.engine->handle_binding_revocation_indication(
        kLma, bri(129, mh::revocation_flag::kP | mh::revocation_flag::kG, std::nullopt, 4));
    REQUIRE(f.acks.size() == 4);
    CHECK(f.acks[0].second.status == 131);
    CHECK(f.acks[1].second.status == 134);
    CHECK(f.acks[1].second.flags == (mh::revocation_flag::kP | mh::revocation_flag::kG));
    CHECK(f.acks[2].second.status == 133);
    CHECK(f.acks[3].second.status == 131);
    CHECK(f.entry().state == BulState::kRegistered);
}

TEST_CASE("Inter-MAG handover BRI: 132 while the MN is attached, success once it left (9.1)", "[mag][revocation]") {
    Fixture f;
    register_mn(f);
    f.engine->handle_binding_revocation_indication(kLma, bri(4, mh::revocation_flag::kP, "mn1@example.org", 1));
    REQUIRE(f.acks.size() == 1);
    CHECK(f.acks[0].second.status == 132);
    CHECK(f.entry().state == BulState::kRegistered);
    f.attached_links.erase(7);
    f.engine->handle_binding_revocation_indication(kLma, bri(4, mh::revocation_flag::kP, "mn1@example.org", 2));
    REQUIRE(f.acks.size() == 2);
    CHECK(f.acks[1].second.status == 0);
    CHECK(f.engine->find_by_interface(7) == nullptr);  // gone: it had left
}

TEST_CASE("Global per-peer BRI revokes every binding with that LMA (9.1)", "[mag][revocation]") {
    Fixture f;
    register_mn(f, 7);
    f.policies.policies[std::string("\x02\x11\x22\x33\x44\x66", 6)] = f.policies.policies[kMac];
    f.policies.policies[std::string("\x02\x11\x22\x33\x44\x66", 6)].mn_identifier = "mn2@example.org";
    f.attached_links.insert(8);
    REQUIRE(f.engine->attach(8, "veth8", std::string("\x02\x11\x22\x33\x44\x66", 6)));
    f.engine->handle_proxy_binding_acknowledgement(kLma, f.pba(0, "2001:db8:8000:1::/64"));
    REQUIRE(f.entry(8).state == BulState::kRegistered);
    f.engine->handle_binding_revocation_indication(
        kLma, bri(128, mh::revocation_flag::kP | mh::revocation_flag::kG, std::nullopt));
    REQUIRE(f.acks.size() == 1);
    CHECK(f.acks[0].second.status == 0);
    CHECK(f.entry(7).state == BulState::kDenied);
    CHECK(f.entry(8).state == BulState::kDenied);
    CHECK(f.engine->counters().bindings_revoked == 2);
    // With options it is refused (the per-peer form carries none).
    auto with_options = bri(128, mh::revocation_flag::kP | mh::revocation_flag::kG, "x", 9);
    f.engine->handle_binding_revocation_indication(kLma, with_options);
    CHECK(f.acks.back().second.status == 134);
}

TEST_CASE("BRI from a multicast source is discarded without a BRA (6.1.2)", "[mag][revocation]") {
    Fixture f;
    register_mn(f);
    f.engine->handle_binding_revocation_indication(address("ff02::1"), bri(1, mh::revocation_flag::kP, "mn1@example.org"));
    CHECK(f.acks.empty());
    CHECK(f.engine->counters().bri_discarded == 1);
    CHECK(f.entry().state == BulState::kRegistered);
}

TEST_CASE("A revoked MN that detaches and comes back registers again", "[mag][revocation]") {
    Fixture f;
    register_mn(f);
    f.engine->handle_binding_revocation_indication(kLma, bri(1, mh::revocation_flag::kP, "mn1@example.org"));
    REQUIRE(f.entry().state == BulState::kDenied);
    f.attached_links.erase(7);
    f.engine->detach(7);
    CHECK(f.engine->find_by_interface(7) == nullptr);
    const auto pbus = f.sent.size();
    CHECK(f.attach(7));
    CHECK(f.sent.size() == pbus + 1);
}

TEST_CASE("An MN back on its link while its de-registration is outstanding registers again (6.9.1.2, 5.3.5)", "[mag]") {
    Fixture f;
    REQUIRE(f.attach());
    f.engine->handle_proxy_binding_acknowledgement(kLma, f.pba());
    REQUIRE(f.entry().state == BulState::kRegistered);
    f.attached_links.erase(7);
    f.engine->detach(7);
    REQUIRE(f.entry().state == BulState::kDeregistering);
    const auto sent = f.sent.size();
    // The link comes back before the de-registration's PBA or timeout.
    REQUIRE(f.attach(7));
    REQUIRE(f.sent.size() == sent + 1);
    CHECK(f.sent.back().pbu.lifetime == 100);  // a registration, not the de-registration again
    CHECK(f.entry().state == BulState::kRegistering);
    // The late PBA of the de-registration matches nothing now.
    mh::BindingAcknowledgement late;
    late.status = 0;
    late.flags = mh::ba_flag::kP;
    late.sequence = f.sent[sent - 1].pbu.sequence;
    f.engine->handle_proxy_binding_acknowledgement(kLma, late);
    CHECK(f.engine->counters().pba_unmatched == 1);
    f.engine->handle_proxy_binding_acknowledgement(kLma, f.pba());
    CHECK(f.entry().state == BulState::kRegistered);
    // The old entry's de-registration timer does not remove the new binding.
    f.advance(std::chrono::seconds(2));
    CHECK(f.entry().state == BulState::kRegistered);
}

TEST_CASE("MAG: a policy change of the multicast channels or admission only is applied in place, nothing sent",
          "[mag][static]") {
    Fixture f;
    REQUIRE(f.attach());
    f.engine->handle_proxy_binding_acknowledgement(kLma, f.pba());
    REQUIRE(f.entry().state == BulState::kRegistered);
    const EntryId id = f.entry().id;
    const std::size_t pbus = f.sent.size();

    MobileNodePolicy channels = f.entry().policy;
    channels.multicast_channels = {{address("ff0e::8000:1"), {}}};
    CHECK(f.engine->update_policy_in_place(id, channels));
    CHECK(f.entry().policy.multicast_channels == channels.multicast_channels);
    CHECK(f.entry().state == BulState::kRegistered);
    CHECK(f.sent.size() == pbus);

    MobileNodePolicy admission = channels;
    admission.multicast_admission.max_groups = 4;
    CHECK(f.engine->update_policy_in_place(id, admission));
    CHECK(f.entry().policy.multicast_admission.max_groups == 4);
    CHECK(f.sent.size() == pbus);

    MobileNodePolicy other = channels;
    other.lifetime = 50;  // carried in the PBU: needs a new registration
    CHECK_FALSE(f.engine->update_policy_in_place(id, other));
    CHECK(f.entry().policy.lifetime == 100);
    CHECK_FALSE(f.engine->update_policy_in_place(id + 1000, channels));
}

// --- the tunnel made while the first PBU is out (magd [tunnel] prepare) ----

TEST_CASE("The tunnel is made down while the first PBU is out and comes up at the PBA", "[mag][prepare]") {
    Fixture f;
    REQUIRE(f.attach());
    // Right after the attach call (magd's early query goes first), not in it.
    CHECK(f.tunnels->tunnels().empty());
    f.timers.run_due();
    REQUIRE(f.tunnels->tunnels().size() == 1);
    const TunnelInfo t = f.tunnels->tunnels().front();
    CHECK_FALSE(t.up);
    CHECK(f.backend->down.contains(t.name));
    CHECK(f.routes.routes.empty());  // nothing routed into it before the PBA
    CHECK(f.prepare_events == std::vector<std::string>{"prepared veth7 " + t.name + " down after 0"});
    CHECK(f.events.empty());
    CHECK(f.engine->counters().tunnels_prepared == 1);
    f.engine->handle_proxy_binding_acknowledgement(kLma, f.pba());
    REQUIRE(f.entry().state == BulState::kRegistered);
    // The observer sees the binding first (it builds on the prepared
    // tunnel), then the prepared reference goes: the binding holds its own.
    CHECK(f.events == std::vector<std::string>{"registered veth7 " + t.name});
    CHECK(f.prepare_events == std::vector<std::string>{"prepared veth7 " + t.name + " down after 0",
                                                       "unprepared veth7 " + t.name + " up after 1"});
    REQUIRE(f.tunnels->tunnels().size() == 1);
    CHECK(f.tunnels->tunnels().front().up);
    CHECK(f.tunnels->tunnels().front().references == 1);
    CHECK(f.backend->calls == std::vector<std::string>{"create " + t.name + " down", "up " + t.name});
    // De-registration: the device goes with the binding's reference.
    f.attached_links.clear();
    f.engine->detach(7);
    CHECK(f.tunnels->tunnels().empty());
}

TEST_CASE("A prepared tunnel goes when the registration is rejected, given up or the MN leaves",
          "[mag][prepare]") {
    SECTION("rejected") {
        Fixture f;
        f.attach_prepared();
        f.engine->handle_proxy_binding_acknowledgement(kLma, f.pba(mh::status::kAdministrativelyProhibited));
        CHECK(f.tunnels->tunnels().empty());
        REQUIRE(f.prepare_events.size() == 2);
        CHECK(f.prepare_events.back().starts_with("unprepared veth7 "));
        CHECK(f.prepare_events.back().ends_with(" down after 0"));
        CHECK(f.events.empty());
    }
    SECTION("the MN left while registering") {
        Fixture f;
        f.attach_prepared();
        f.attached_links.clear();
        f.advance(2s);  // the retransmission finds it gone
        CHECK(f.engine->entries().empty());
        CHECK(f.tunnels->tunnels().empty());
    }
    SECTION("detached before the first PBA") {
        Fixture f;
        f.attach_prepared();
        f.attached_links.clear();
        f.engine->detach(7);  // a de-registration goes out; the tunnel goes now, not with its answer
        CHECK(f.tunnels->tunnels().empty());
        CHECK(f.backend->devices.empty());
        CHECK(f.prepare_events.size() == 2);
    }
    SECTION("detached before the preparation ran") {
        Fixture f;
        REQUIRE(f.attach());
        f.attached_links.clear();
        f.engine->detach(7);
        f.advance(2s);
        CHECK(f.backend->calls.empty());
        CHECK(f.prepare_events.empty());
    }
    SECTION("a PBA that does not echo the PBU") {
        Fixture f;
        f.attach_prepared();
        auto a = f.pba();
        for (auto& o : a.options)
            if (auto* hi = std::get_if<mh::HandoffIndicator>(&o)) hi->value = 2;
        f.engine->handle_proxy_binding_acknowledgement(kLma, a);
        CHECK(f.tunnels->tunnels().empty());
    }
}

TEST_CASE("Two MNs of one LMA prepare one tunnel, and one refused leaves it to the other", "[mag][prepare]") {
    Fixture f;
    f.policies.policies["\x02\x11\x22\x33\x44\x66"] = f.policies.policies[kMac];
    f.policies.policies["\x02\x11\x22\x33\x44\x66"].mn_identifier = "mn2@example.org";
    REQUIRE(f.attach(7));
    auto pba_first = f.pba();
    f.attached_links.insert(8);
    REQUIRE(f.engine->attach(8, "veth8", "\x02\x11\x22\x33\x44\x66"));
    f.timers.run_due();
    REQUIRE(f.tunnels->tunnels().size() == 1);
    CHECK(f.tunnels->tunnels().front().references == 2);
    // The second is refused: the tunnel stays, down, for the first.
    f.engine->handle_proxy_binding_acknowledgement(kLma, f.pba(mh::status::kAdministrativelyProhibited));
    REQUIRE(f.tunnels->tunnels().size() == 1);
    CHECK_FALSE(f.tunnels->tunnels().front().up);
    f.engine->handle_proxy_binding_acknowledgement(kLma, pba_first);
    REQUIRE(f.tunnels->tunnels().size() == 1);
    CHECK(f.tunnels->tunnels().front().up);
    CHECK(f.tunnels->tunnels().front().references == 1);
}

TEST_CASE("No tunnel is prepared for GRE (keys, or the LMA may decline it: RFC 5845 section 4) or when disabled",
          "[mag][prepare]") {
    Fixture keyed;
    keyed.policies.policies[kMac].gre_keys = true;
    REQUIRE(keyed.attach());
    keyed.timers.run_due();
    CHECK(keyed.tunnels->tunnels().empty());
    CHECK(keyed.engine->counters().tunnels_prepared == 0);
    Fixture gre;
    gre.policies.policies[kMac].tunnel_kind = TunnelKind::kGre;
    REQUIRE(gre.attach());
    gre.timers.run_due();
    CHECK(gre.tunnels->tunnels().empty());
    Fixture off([](MagConfig& c) { c.prepare_tunnels = false; });
    REQUIRE(off.attach());
    off.timers.run_due();
    CHECK(off.tunnels->tunnels().empty());
    off.engine->handle_proxy_binding_acknowledgement(kLma, off.pba());
    REQUIRE(off.tunnels->tunnels().size() == 1);
    CHECK(off.backend->calls.front().find(" down") == std::string::npos);
}

TEST_CASE("A tunnel that cannot be prepared is made at the PBA, counted", "[mag][prepare]") {
    Fixture f;
    f.backend->fail_create = Error{EPERM, "no"};
    REQUIRE(f.attach());
    f.timers.run_due();
    CHECK(f.engine->counters().tunnel_preparation_errors == 1);
    CHECK(f.tunnels->tunnels().empty());
    f.backend->fail_create.reset();
    f.engine->handle_proxy_binding_acknowledgement(kLma, f.pba());
    CHECK(f.entry().state == BulState::kRegistered);
    REQUIRE(f.tunnels->tunnels().size() == 1);
    CHECK(f.tunnels->tunnels().front().up);
}
