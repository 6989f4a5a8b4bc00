// RFC 8885 distributed mobility management in process: a CMD (CmdEngine,
// relay or proxy) and three MAARs (MaarEngine, each on its own fake routes
// and tunnels) over a fabric that passes every message through the codec.
// The walk: attach at MAAR1 (prefix P1 routed there, no tunnel),
// move to MAAR2 (P2 local; P1 through a MAAR1-MAAR2 tunnel both ways), move
// to MAAR3 (P1 and P2 through tunnels from MAAR1 and MAAR2), back to MAAR1
// (P1 local again, no tunnel for it), the holds end (P-MAARs de-register
// their prefixes, tunnels and routes gone), lost messages.
#include <catch2/catch.hpp>

#include <deque>

#include "pmip/common/route_manager.hpp"
#include "pmip/common/timers.hpp"
#include "pmip/common/tunnel.hpp"
#include "pmip/lma/cmd_engine.hpp"
#include "pmip/mag/maar_engine.hpp"
#include "pmip/mag/tunnel_rules.hpp"
#include "pmip/mh/codec.hpp"

using namespace pmip;
using namespace std::chrono_literals;

namespace {

Ipv6Address address(const char* t) { return *parse_address(t); }
Ipv6Prefix prefix(const char* t) { return *parse_prefix(t); }

const Ipv6Address kCmd = address("2001:db8:100::1");
const std::string kMac("\x02\x00\x00\x00\x00\x01", 6);
const std::string kNai = "mn1@dmm.example";

struct Maar final : mag::MaarObserver {
    Ipv6Address address_;
    FakeRouteManager routes;
    mag::TunnelRules tunnel_rules{routes, 999};  // before tunnels: outlives them
    std::unique_ptr<RefCountingTunnelManager> tunnels;
    FakeTunnelBackend* backend = nullptr;
    std::unique_ptr<mag::MaarEngine> engine;
    unsigned changes = 0, lefts = 0;
    int changed_on = 0, left_on = 0;  // the links of the last calls
    void prefixes_changed(const mag::MaarServed& s) override {
        ++changes;
        changed_on = s.ifindex;
    }
    void left(const mag::MaarServed& s) override {
        ++lefts;
        left_on = s.ifindex;
    }
    bool has_route(const Ipv6Prefix& p) const {
        return std::any_of(routes.routes.begin(), routes.routes.end(),
                           [&](const Route& r) { return r.destination == p && r.table == kMainTable; });
    }
    int route_dev(const Ipv6Prefix& p) const {
        for (const auto& r : routes.routes)
            if (r.destination == p && r.table == kMainTable) return r.ifindex;
        return -1;
    }
    // The uplink of prefix p into a tunnel: a rule "from p" (uplink-routing =
    // rules) or a source route "default from p dev TUNNEL" (source-routes).
    bool has_rule(const Ipv6Prefix& p) const { return routes.uplinks_from(p) > 0; }
    // The local prefix's way out for what the MN sends from it, past the
    // access table's unreachable default: "throw default from p" in that
    // table (999) with source routes, "from p lookup main" with rules.
    bool local_uplink(const Ipv6Prefix& p) const {
        return routes.routes.count(Route{Ipv6Prefix{Ipv6Address{}, 0}, 0, 999, 1024, std::nullopt,
                                         RouteType::kThrow, p}) == 1 ||
               routes.rules.count(Rule{p, kMainTable, 1000, ""}) == 1;
    }
    // Rules other than the one uplink rule of source routes ("lookup 1000").
    std::size_t per_prefix_rules() const {
        return static_cast<std::size_t>(std::count_if(routes.rules.begin(), routes.rules.end(),
                                                      [](const Rule& r) { return r.source.length != 0; }));
    }
    std::size_t tunnel_count() const { return backend->devices.size(); }
    // Every tunnel in use has its rule "iif TUNNEL lookup main", and no
    // other device has one (tunnel_rules.hpp): what comes out of a tunnel
    // is routed by destination, never back in by its source.
    bool tunnel_rules_follow_tunnels() const {
        std::set<std::string> in_use, with_rule;
        for (const auto& t : tunnels->tunnels())
            if (t.references > 0) in_use.insert(t.name);
        for (const auto& r : routes.rules)
            if (!r.iif.empty() && r.table == kMainTable && r.priority == 999) with_rule.insert(r.iif);
        return in_use == with_rule;
    }
    bool tunnel_to(const Ipv6Address& peer) const {
        return std::any_of(backend->devices.begin(), backend->devices.end(),
                           [&](const auto& kv) { return kv.second.peer == peer; });
    }
};

struct Dmm {
    SimulatedClock clock;
    TimerQueue timers{clock};
    lma::MapPolicyStore cmd_policies;
    mag::MapPolicyStore maar_policies;
    std::unique_ptr<lma::CmdEngine> cmd;
    Maar maar[3];
    struct Packet {
        Ipv6Address source, destination;
        std::vector<std::uint8_t> wire;
    };
    std::deque<Packet> in_flight;
    std::function<bool(const Packet&, const mh::Message&)> drop;  // true: lost
    std::vector<std::pair<Packet, mh::Message>> seen;

    struct Port final : MhSender {
        Dmm* d;
        void send(const Ipv6Address& s, const Ipv6Address& t, const mh::Message& m) override {
            const auto wire = mh::serialize(m);
            REQUIRE_FALSE(wire.empty());
            d->in_flight.push_back({s, t, wire});
        }
    } port;

    explicit Dmm(lma::CmdMode mode = lma::CmdMode::kRelay,
                 mag::MagConfig::UplinkRouting uplink = mag::MagConfig::UplinkRouting::kRules) {
        port.d = this;
        lma::CmdConfig cc;
        cc.mode = mode;
        cc.authorized_maars = {prefix("2001:db8:100::/64")};
        cmd_policies.policies[{1, kNai}] = lma::MobileNodePolicy{};
        cmd = std::make_unique<lma::CmdEngine>(cc, cmd_policies, timers, port);
        mag::MobileNodePolicy p;
        p.mn_identifier = kNai;
        p.lma = kCmd;
        maar_policies.policies[kMac] = p;
        for (int i = 0; i < 3; ++i) {
            Maar& m = maar[i];
            m.address_ = address(("2001:db8:100::2" + std::to_string(i + 1)).c_str());
            auto b = std::make_unique<FakeTunnelBackend>();
            m.backend = b.get();
            m.tunnels = std::make_unique<RefCountingTunnelManager>(std::move(b), timers);
            m.tunnels->set_use_listener(&m.tunnel_rules);
            mag::MaarConfig mc;
            mc.address = m.address_;
            mc.cmd = kCmd;
            mc.pool = prefix(("2001:db8:a" + std::to_string(i + 1) + "::/48").c_str());
            mc.lifetime = 100;
            mc.previous_prefix_hold = 60s;
            mc.previous_prefix_idle = 20s;
            mc.uplink_routing = uplink;
            mc.access_table = 999;  // as magd: lma-table-base - 1
            m.engine = std::make_unique<mag::MaarEngine>(mc, maar_policies, *m.tunnels, m.routes, timers, port);
            m.engine->set_observer(&m);
        }
    }
    Maar* maar_at(const Ipv6Address& a) {
        for (auto& m : maar)
            if (m.address_ == a) return &m;
        return nullptr;
    }
    void pump() {
        while (!in_flight.empty()) {
            Packet p = std::move(in_flight.front());
            in_flight.pop_front();
            auto parsed = mh::parse(p.wire);
            REQUIRE(std::holds_alternative<mh::Parsed>(parsed));
            const mh::Message m = std::get<mh::Parsed>(parsed).message;
            seen.emplace_back(p, m);
            if (drop && drop(p, m)) continue;
            if (p.destination == kCmd) {
                if (const auto* bu = std::get_if<mh::BindingUpdate>(&m)) cmd->handle_proxy_binding_update(p.source, p.destination, *bu);
                if (const auto* ba = std::get_if<mh::BindingAcknowledgement>(&m)) cmd->handle_proxy_binding_acknowledgement(p.source, *ba);
            } else if (Maar* target = maar_at(p.destination)) {
                if (const auto* bu = std::get_if<mh::BindingUpdate>(&m))
                    target->engine->handle_proxy_binding_update(p.source, p.destination, *bu);
                if (const auto* ba = std::get_if<mh::BindingAcknowledgement>(&m))
                    target->engine->handle_proxy_binding_acknowledgement(p.source, *ba);
            }
        }
    }
    void advance(Duration d) {
        const auto end = clock.now() + d;
        pump();
        while (clock.now() < end) {
            clock.advance(std::min<Duration>(10ms, end - clock.now()));
            timers.run_due();
            pump();
        }
        for (const auto& m : maar) CHECK(m.tunnel_rules_follow_tunnels());
    }
    void attach(int i) { REQUIRE(maar[i].engine->attach(10 + i, "mn1", kMac)); advance(50ms); }
    void detach(int i) { maar[i].engine->detach(10 + i); advance(10ms); }
    const mag::MaarServed* served(int i) const {
        const auto& s = maar[i].engine->served();
        const auto it = s.find(10 + i);
        return it == s.end() ? nullptr : &it->second;
    }
    // The MN attached at MAAR1, then at MAAR2 (link 11): P2 local there, P1
    // through the tunnel to MAAR1.
    struct AtMaar2 {
        Ipv6Prefix p1, p2;
    };
    AtMaar2 at_maar2() {
        attach(0);
        detach(0);
        attach(1);
        const auto* s2 = served(1);
        REQUIRE(s2 != nullptr);
        REQUIRE(s2->remote.size() == 1);
        return {s2->remote[0].prefix, s2->local};
    }
};

}  // namespace

TEST_CASE("DMM: attach, move, move again, back to the first MAAR, the holds end (RFC 8885 3.1-3.5)",
          "[dmm][scenario]") {
    const auto mode = GENERATE(lma::CmdMode::kRelay, lma::CmdMode::kProxy);
    const auto uplink = GENERATE(mag::MagConfig::UplinkRouting::kRules, mag::MagConfig::UplinkRouting::kSourceRoutes);
    const bool source_routes = uplink == mag::MagConfig::UplinkRouting::kSourceRoutes;
    INFO("uplink by " << (source_routes ? "source routes" : "rules"));
    Dmm d(mode, uplink);
    // --- MAAR1: P1 from its pool, routed there, no tunnel --------------------------
    d.attach(0);
    const auto* s1 = d.served(0);
    REQUIRE(s1 != nullptr);
    CHECK(s1->state == mag::MaarState::kRegistered);
    const Ipv6Prefix p1 = s1->local;
    CHECK(p1 == prefix("2001:db8:a1::/64"));
    CHECK(s1->remote.empty());
    CHECK(d.maar[0].route_dev(p1) == 10);
    CHECK(d.maar[0].local_uplink(p1));  // the MN's packets from P1: plain routing
    CHECK(d.maar[0].tunnel_count() == 0);
    REQUIRE(d.cmd->find({1, kNai}) != nullptr);
    CHECK(d.cmd->find({1, kNai})->serving == d.maar[0].address_);

    // --- MAAR2: P2 local, P1 through the tunnel MAAR1 <-> MAAR2 -----------------------
    d.detach(0);
    d.attach(1);
    const auto* s2 = d.served(1);
    REQUIRE(s2 != nullptr);
    const Ipv6Prefix p2 = s2->local;
    CHECK(p2 == prefix("2001:db8:a2::/64"));
    REQUIRE(s2->remote.size() == 1);
    CHECK(s2->remote[0].maar == d.maar[0].address_);
    CHECK(s2->remote[0].prefix == p1);
    CHECK(d.maar[1].tunnel_to(d.maar[0].address_));
    CHECK(d.maar[1].route_dev(p1) == 11);  // downlink: decapsulated, onto the MN's link
    CHECK(d.maar[1].has_rule(p1));         // uplink: from P1 into MAAR1's table
    CHECK(d.maar[1].local_uplink(p2));      // P2: plain routing
    CHECK_FALSE(d.maar[1].local_uplink(p1));
    CHECK_FALSE(d.maar[0].local_uplink(p1));  // P1 from MAAR1's access links: no more
    CHECK(d.served(0) == nullptr);         // MAAR1 serves it no more...
    CHECK(d.maar[0].engine->anchors().at(p1).serving_elsewhere == d.maar[1].address_);  // ...but anchors P1
    CHECK(d.maar[0].tunnel_to(d.maar[1].address_));
    CHECK(d.maar[0].route_dev(p1) != 10);  // P1 into the tunnel to MAAR2
    CHECK(d.maar[0].route_dev(p1) > 0);

    // --- MAAR3: P3 local, P1 and P2 through tunnels from MAAR1 and MAAR2 ---------------
    d.detach(1);
    d.attach(2);
    d.advance(600ms);  // a relaying CMD gathers both answers (or times out)
    d.advance(1s);     // the tunnels the move replaced go INITIAL_BINDACK_TIMEOUT later
    const auto* s3 = d.served(2);
    REQUIRE(s3 != nullptr);
    std::vector<Ipv6Prefix> remote;
    const Ipv6Prefix p3 = s3->local;  // s3 goes when the MN moves on
    for (const auto& r : s3->remote) remote.push_back(r.prefix);
    std::sort(remote.begin(), remote.end());
    CHECK(remote == std::vector<Ipv6Prefix>{p1, p2});
    CHECK(d.maar[2].tunnel_to(d.maar[0].address_));
    CHECK(d.maar[2].tunnel_to(d.maar[1].address_));
    CHECK(d.maar[1].tunnel_count() == 1);  // MAAR2: only its own P2 towards MAAR3 now
    CHECK(d.maar[1].tunnel_to(d.maar[2].address_));
    CHECK_FALSE(d.maar[1].has_rule(p1));
    CHECK(d.maar[0].tunnel_to(d.maar[2].address_));
    CHECK_FALSE(d.maar[0].tunnel_to(d.maar[1].address_));
    CHECK(d.cmd->find({1, kNai})->previous.size() == 2);

    SECTION("back to MAAR1: P1 is local there again, no tunnel for it") {
        d.detach(2);
        d.attach(0);
        d.advance(1600ms);
        const auto* back = d.served(0);
        REQUIRE(back != nullptr);
        CHECK(back->local == p1);
        CHECK(d.maar[0].route_dev(p1) == 10);
        std::vector<Ipv6Prefix> r;
        for (const auto& x : back->remote) r.push_back(x.prefix);
        std::sort(r.begin(), r.end());
        CHECK(r == std::vector<Ipv6Prefix>{p2, p3});
        CHECK(d.maar[0].engine->counters().returns == 1);
        CHECK(d.cmd->counters().returns_to_anchor == 1);
    }
    SECTION("the holds end: the P-MAARs let their prefixes go, tunnels and routes gone there") {
        d.advance(61s);
        CHECK(d.maar[0].engine->anchors().empty());
        CHECK(d.maar[1].engine->anchors().empty());
        CHECK(d.maar[0].tunnel_count() == 0);
        CHECK(d.maar[1].tunnel_count() == 0);
        CHECK_FALSE(d.maar[0].has_route(p1));
        CHECK_FALSE(d.maar[1].has_route(p2));
        CHECK(d.served(2)->remote.empty());
        CHECK(d.maar[2].tunnel_count() == 0);
        CHECK_FALSE(d.maar[2].has_rule(p1));
        CHECK(d.cmd->find({1, kNai})->previous.empty());
        CHECK(d.cmd->counters().pmaar_deregistered == 2);
    }
    SECTION("a flow on P1 outlives the hold: MAAR1 and MAAR3 keep P1 while their tunnel carries packets, "
            "then let it go") {
        const auto key = [](const Maar& from, const Maar& to) {
            TunnelKey k;
            k.peer = to.address_;
            k.local = from.address_;
            k.kind = TunnelKind::kIp6Ip6;
            return k;
        };
        // Packets cross the MAAR1 <-> MAAR3 tunnel (both ends count them);
        // none cross MAAR2 <-> MAAR3.
        d.maar[0].backend->traffic[key(d.maar[0], d.maar[2])].tx_packets = 500;
        d.maar[2].backend->traffic[key(d.maar[2], d.maar[0])].rx_packets = 500;
        d.advance(61s);
        CHECK(d.maar[0].engine->anchors().count(p1) == 1);  // kept: in use
        CHECK(d.maar[1].engine->anchors().empty());         // P2 idle: gone
        CHECK(d.maar[0].engine->counters().holds_extended == 1);
        CHECK(d.maar[2].engine->counters().holds_extended == 1);
        REQUIRE(d.served(2)->remote.size() == 1);
        CHECK(d.served(2)->remote[0].prefix == p1);
        CHECK(d.maar[2].has_rule(p1));
        CHECK(d.maar[0].route_dev(p1) > 0);
        REQUIRE(d.cmd->find({1, kNai})->previous.size() == 1);
        CHECK(d.cmd->find({1, kNai})->previous[0].maar == d.maar[0].address_);
        // Still flowing at the next look, one idle period (20 s) later, not
        // one hold: kept again.
        d.maar[0].backend->traffic[key(d.maar[0], d.maar[2])].tx_packets = 900;
        d.maar[2].backend->traffic[key(d.maar[2], d.maar[0])].rx_packets = 900;
        d.advance(21s);
        CHECK(d.maar[0].engine->anchors().count(p1) == 1);
        CHECK(d.maar[0].engine->counters().holds_extended == 2);
        CHECK(d.maar[2].engine->counters().holds_extended == 2);
        CHECK(d.served(2)->remote.size() == 1);
        // The flow ended: at the next look P1 goes at both ends.
        d.advance(21s);
        CHECK(d.maar[0].engine->anchors().empty());
        CHECK(d.maar[0].tunnel_count() == 0);
        CHECK_FALSE(d.maar[0].has_route(p1));
        CHECK(d.served(2)->remote.empty());
        CHECK(d.maar[2].tunnel_count() == 0);
        CHECK_FALSE(d.maar[2].has_rule(p1));
        CHECK(d.cmd->find({1, kNai})->previous.empty());
    }
    SECTION("the MN leaves the domain: after the hold MAAR3 ends the session; nothing is left anywhere") {
        d.detach(2);
        d.advance(61s);
        d.advance(2s);
        CHECK(d.cmd->find({1, kNai}) == nullptr);
        for (auto& m : d.maar) {
            CHECK(m.engine->served().empty());
            CHECK(m.engine->anchors().empty());
            CHECK(m.tunnel_count() == 0);
            CHECK(m.routes.routes.empty());
            CHECK(m.per_prefix_rules() == 0);
            // Source routes: at most the one uplink rule, kept while magd runs.
            CHECK(m.routes.rules.size() == (source_routes ? m.routes.rules.count(Rule{Ipv6Prefix{Ipv6Address{}, 0}, 1000, 1000, ""})
                                                          : 0u));
        }
    }
}

TEST_CASE("DMM: the MN's interface moving to another access link of the same MAAR keeps its session, prefixes "
          "and tunnels, and the old link's hold ending changes nothing (RFC 5213 6.9.1.1)",
          "[dmm][scenario]") {
    const auto mode = GENERATE(lma::CmdMode::kRelay, lma::CmdMode::kProxy);
    const auto uplink = GENERATE(mag::MagConfig::UplinkRouting::kRules, mag::MagConfig::UplinkRouting::kSourceRoutes);
    INFO("uplink by " << (uplink == mag::MagConfig::UplinkRouting::kSourceRoutes ? "source routes" : "rules"));
    Dmm d(mode, uplink);
    const auto [p1, p2] = d.at_maar2();
    const auto tunnels_before = d.maar[1].backend->devices;
    const auto dereg_before = d.maar[1].engine->counters().deregistrations;
    const auto lefts_before = d.maar[1].lefts;
    const auto changes_before = d.maar[1].changes;
    // Make before break: the same MN (MN-LL-ID) on link 21 of MAAR2 while
    // link 11 is still up.
    REQUIRE(d.maar[1].engine->attach(21, "mn1b", kMac));
    // At once, before the CMD answers the refresh: RAs on the new link.
    CHECK(d.maar[1].changes == changes_before + 1);
    CHECK(d.maar[1].changed_on == 21);
    CHECK(d.maar[1].left_on == 11);
    CHECK(d.maar[1].route_dev(p2) == 21);
    d.advance(50ms);
    CHECK(d.maar[1].engine->counters().intra_maar_moves == 1);
    CHECK(d.maar[1].engine->served().size() == 1);
    CHECK(d.served(1) == nullptr);
    const auto& moved = d.maar[1].engine->served().at(21);
    CHECK(moved.state == mag::MaarState::kRegistered);
    CHECK(moved.local == p2);
    REQUIRE(moved.remote.size() == 1);
    CHECK(moved.remote[0].prefix == p1);
    CHECK(d.maar[1].route_dev(p2) == 21);
    CHECK(d.maar[1].route_dev(p1) == 21);
    CHECK(d.maar[1].has_rule(p1));
    CHECK(d.maar[1].local_uplink(p2));
    CHECK(d.maar[1].backend->devices == tunnels_before);  // the tunnel to MAAR1 stayed
    CHECK(d.maar[1].lefts == lefts_before + 1);           // the old link's RAs stopped
    CHECK(d.maar[1].changed_on == 21);                    // the refresh's PBA: on the new link
    REQUIRE(d.cmd->find({1, kNai}) != nullptr);
    CHECK(d.cmd->find({1, kNai})->serving == d.maar[1].address_);
    // Link 11 goes down and its hold would end: nothing of the MN's is there.
    d.maar[1].engine->detach(11);
    d.advance(70s);
    CHECK(d.maar[1].engine->counters().deregistrations == dereg_before);
    REQUIRE(d.cmd->find({1, kNai}) != nullptr);
    CHECK(d.cmd->find({1, kNai})->serving == d.maar[1].address_);
    REQUIRE(d.maar[1].engine->anchors().count(p2) == 1);  // P2 still anchored (not back in the pool)
    CHECK(d.maar[1].route_dev(p2) == 21);
    // The hold of P1 is the same as before the move: traffic-driven, it
    // ends after previous_prefix_hold (60 s) with no traffic.
    CHECK(d.maar[1].engine->served().at(21).remote.empty());
    CHECK_FALSE(d.maar[1].has_rule(p1));
    // Renewals keep the session at MAAR2 on the new link.
    d.advance(400s);
    REQUIRE(d.cmd->find({1, kNai}) != nullptr);
    CHECK(d.maar[1].engine->served().at(21).state == mag::MaarState::kRegistered);
    CHECK(d.maar[1].engine->counters().data_path_errors == 0);
    // The MN leaves link 21: the hold, then the de-registration, as always.
    d.maar[1].engine->detach(21);
    d.advance(70s);
    CHECK(d.maar[1].engine->served().empty());
    CHECK(d.cmd->find({1, kNai}) == nullptr);
    CHECK_FALSE(d.maar[1].has_route(p2));
    CHECK_FALSE(d.maar[1].local_uplink(p2));
}

TEST_CASE("DMM: a route the kernel refuses on the MN's new link of the same MAAR leaves it served on the old "
          "one, every route back where it was, and a later attach moves it", "[dmm][scenario]") {
    const auto uplink = GENERATE(mag::MagConfig::UplinkRouting::kRules, mag::MagConfig::UplinkRouting::kSourceRoutes);
    INFO("uplink by " << (uplink == mag::MagConfig::UplinkRouting::kSourceRoutes ? "source routes" : "rules"));
    Dmm d(lma::CmdMode::kRelay, uplink);
    const auto [p1, p2] = d.at_maar2();
    const auto pbu_before = d.maar[1].engine->counters().pbu_sent;
    // P2's route onto link 21 goes in (replacing link 11's), P1's is refused.
    d.maar[1].routes.fail_if = [p1](const RouteRequest& r) -> std::optional<Error> {
        const auto* route = std::get_if<Route>(&r.object);
        if (r.op == RouteOp::kAdd && route && route->destination == p1 && route->ifindex == 21)
            return Error{ENOBUFS, "test: no route"};
        return std::nullopt;
    };
    CHECK_FALSE(d.maar[1].engine->attach(21, "mn1b", kMac));
    CHECK(d.maar[1].engine->counters().data_path_errors == 1);
    CHECK(d.maar[1].engine->counters().intra_maar_moves == 0);
    CHECK(d.maar[1].engine->counters().pbu_sent == pbu_before);
    REQUIRE(d.served(1) != nullptr);
    CHECK(d.maar[1].engine->served().size() == 1);
    CHECK(d.maar[1].route_dev(p2) == 11);
    CHECK(d.maar[1].route_dev(p1) == 11);
    CHECK(d.maar[1].local_uplink(p2));
    CHECK(d.maar[1].has_rule(p1));
    // The kernel takes it at the MN's next attach (its next RS there).
    d.maar[1].routes.fail_if = nullptr;
    REQUIRE(d.maar[1].engine->attach(21, "mn1b", kMac));
    d.advance(50ms);
    CHECK(d.maar[1].engine->counters().intra_maar_moves == 1);
    CHECK(d.served(1) == nullptr);
    CHECK(d.maar[1].route_dev(p2) == 21);
    CHECK(d.maar[1].route_dev(p1) == 21);
    CHECK(d.maar[1].local_uplink(p2));
    CHECK(d.maar[1].engine->served().at(21).state == mag::MaarState::kRegistered);
}

TEST_CASE("DMM: break before make: the MN leaves one access link of a MAAR and shows up on another within "
          "the hold: its session moves from the detached entry, renewals go on, nothing is de-registered",
          "[dmm][scenario]") {
    Dmm d;
    const auto [p1, p2] = d.at_maar2();
    d.maar[1].engine->detach(11);  // the old link's carrier goes first
    d.advance(2s);
    REQUIRE(d.served(1)->state == mag::MaarState::kDetached);
    const auto pbu_before = d.maar[1].engine->counters().pbu_sent;
    REQUIRE(d.maar[1].engine->attach(21, "mn1b", kMac));
    d.advance(50ms);
    CHECK(d.maar[1].engine->counters().intra_maar_moves == 1);
    CHECK(d.maar[1].engine->counters().pbu_sent == pbu_before + 1);  // the refresh
    REQUIRE(d.maar[1].engine->served().size() == 1);
    const auto& moved = d.maar[1].engine->served().at(21);
    CHECK(moved.state == mag::MaarState::kRegistered);  // the MN is here again
    CHECK(moved.local == p2);
    CHECK(d.maar[1].route_dev(p2) == 21);
    CHECK(d.maar[1].route_dev(p1) == 21);
    CHECK(d.maar[1].local_uplink(p2));
    CHECK(d.maar[1].changed_on == 21);
    // Past the old link's hold (60 s) and through renewals (lifetime 400 s).
    d.advance(500s);
    CHECK(d.maar[1].engine->counters().deregistrations == 0);
    REQUIRE(d.cmd->find({1, kNai}) != nullptr);
    CHECK(d.cmd->find({1, kNai})->serving == d.maar[1].address_);
    CHECK(d.maar[1].engine->served().at(21).state == mag::MaarState::kRegistered);
    CHECK(d.maar[1].engine->anchors().count(p2) == 1);
    CHECK(d.maar[1].engine->counters().data_path_errors == 0);
}

TEST_CASE("DMM: a lost PBU of the new S-MAAR and a lost PBA of the P-MAAR are retransmitted, the move "
          "completes",
          "[dmm][scenario]") {
    Dmm d;
    d.attach(0);
    d.detach(0);
    bool pbu_lost = false, pba_lost = false;
    d.drop = [&](const Dmm::Packet& p, const mh::Message& m) {
        if (!pbu_lost && p.source == d.maar[1].address_ && std::holds_alternative<mh::BindingUpdate>(m))
            return pbu_lost = true;
        if (!pba_lost && p.source == d.maar[0].address_ && std::holds_alternative<mh::BindingAcknowledgement>(m))
            return pba_lost = true;
        return false;
    };
    REQUIRE(d.maar[1].engine->attach(11, "mn1", kMac));
    d.advance(3s);
    CHECK(pbu_lost);
    CHECK(pba_lost);
    const auto* s2 = d.served(1);
    REQUIRE(s2 != nullptr);
    CHECK(s2->state == mag::MaarState::kRegistered);
    REQUIRE(s2->remote.size() == 1);
    CHECK(d.maar[1].engine->counters().pbu_retransmitted >= 1);
    CHECK(d.cmd->counters().pmaar_pbu_retransmitted >= 1);
}

TEST_CASE("DMM: a MAAR whose CMD answers without the D flag (a plain LMA) stops and serves nothing (RFC 8885 "
          "section 4.2)",
          "[dmm][scenario]") {
    Dmm d;
    // The CMD's answer reaches MAAR1 with D cleared, as a non-DMM LMA's
    // refusal would (status 128, no D).
    d.drop = [&](const Dmm::Packet& p, const mh::Message& m) {
        const auto* ba = std::get_if<mh::BindingAcknowledgement>(&m);
        if (ba == nullptr || p.destination != d.maar[0].address_) return false;
        mh::BindingAcknowledgement plain = *ba;
        plain.flags &= static_cast<std::uint8_t>(~mh::ba_flag::kD);
        plain.status = mh::status::kReasonUnspecified;
        d.maar[0].engine->handle_proxy_binding_acknowledgement(p.source, plain);
        return true;
    };
    REQUIRE(d.maar[0].engine->attach(10, "mn1", kMac));
    d.advance(5s);
    CHECK(d.maar[0].engine->counters().pba_not_dmm == 1);
    CHECK(d.maar[0].engine->counters().pbu_retransmitted == 0);
    CHECK(d.served(0) == nullptr);
    CHECK_FALSE(d.maar[0].has_route(prefix("2001:db8:a1::/64")));
    CHECK(d.maar[0].engine->anchors().empty());
    CHECK(d.maar[0].lefts == 1);
}
