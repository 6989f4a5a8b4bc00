// In-process scenarios: two MAG engines and an LMA engine joined by a fake
// fabric that carries serialized Mobility Header messages (so every message
// goes through the codec both ways) and can lose them. One simulated clock.
#include <catch2/catch.hpp>

#include <deque>
#include <set>

#include "pmip/lma/lma_engine.hpp"
#include "pmip/mag/mag_engine.hpp"
#include "pmip/mh/codec.hpp"

using namespace pmip;
using namespace std::chrono_literals;

namespace {

Ipv6Address address(const char* text) { return *parse_address(text); }
Ipv6Prefix prefix(const char* text) { return *parse_prefix(text); }

const Ipv6Address kLma = address("2001:db8:100::1");
const Ipv6Address kMag1 = address("2001:db8:100::11");
const Ipv6Address kMag2 = address("2001:db8:100::12");
const std::string kMac("\x02\x11\x22\x33\x44\x55", 6);

struct Packet {
    Ipv6Address source, destination;
    std::vector<std::uint8_t> wire;
};

struct World {
    SimulatedClock clock;
    TimerQueue timers{clock};
    std::deque<Packet> in_flight;
    unsigned drop_next = 0;  // drop the next N packets
    std::uint64_t delivered = 0, dropped = 0;

    struct Port final : MhSender {
        World* w;
        void send(const Ipv6Address& s, const Ipv6Address& d, const mh::Message& m) override {
            w->in_flight.push_back({s, d, mh::serialize(m)});
        }
    } port;

    // LMA side.
    FakeRouteManager lma_routes;
    std::unique_ptr<RefCountingTunnelManager> lma_tunnels;
    lma::MapPolicyStore lma_policies;
    std::unique_ptr<lma::LmaEngine> lma;

    // MAG side, two MAGs.
    struct Mag {
        FakeRouteManager routes;
        std::unique_ptr<RefCountingTunnelManager> tunnels;
        std::unique_ptr<mag::MagEngine> engine;
        std::set<int> links;
    } mag1, mag2;
    mag::MapPolicyStore mag_policies;

    World() {
        port.w = this;
        lma_tunnels = std::make_unique<RefCountingTunnelManager>(std::make_unique<FakeTunnelBackend>(), timers);
        lma_policies.policies[{1, "mn1@example.org"}] = lma::MobileNodePolicy{};
        make_lma();
        mag::MobileNodePolicy p;
        p.mn_identifier = "mn1@example.org";
        p.lma = kLma;
        p.lifetime = 25;  // 100 s
        mag_policies.policies[kMac] = p;
        make_mag(mag1, kMag1);
        make_mag(mag2, kMag2);
    }
    void make_lma() {
        lma::LmaConfig config;
        config.authorized_mags = {prefix("2001:db8:100::/64")};
        config.min_delay_before_bce_delete = 2s;
        std::vector<lma::PrefixPool> pools;
        pools.push_back(*lma::PrefixPool::create(prefix("2001:db8:8000::/60"), 64));
        lma = std::make_unique<lma::LmaEngine>(config, lma_policies, std::move(pools), *lma_tunnels,
                                               lma_routes, timers, port);
    }
    void make_mag(Mag& m, const Ipv6Address& coa) {
        m.tunnels = std::make_unique<RefCountingTunnelManager>(std::make_unique<FakeTunnelBackend>(), timers);
        mag::MagConfig config;
        config.proxy_coa = coa;
        m.engine = std::make_unique<mag::MagEngine>(config, mag_policies, *m.tunnels, m.routes, timers,
                                                    port, [&m](int i) { return m.links.count(i) != 0; });
    }
    // Delivers everything in flight (and what that triggers) at 1 ms per hop.
    void pump() {
        while (!in_flight.empty()) {
            Packet p = std::move(in_flight.front());
            in_flight.pop_front();
            if (drop_next > 0) {
                --drop_next;
                ++dropped;
                continue;
            }
            ++delivered;
            const auto parsed = mh::parse(p.wire);
            REQUIRE(std::holds_alternative<mh::Parsed>(parsed));
            const auto& m = std::get<mh::Parsed>(parsed).message;
            if (const auto* bu = std::get_if<mh::BindingUpdate>(&m)) {
                REQUIRE(p.destination == kLma);
                if (lma) lma->handle_proxy_binding_update(p.source, p.destination, *bu);
            } else if (const auto* ba = std::get_if<mh::BindingAcknowledgement>(&m)) {
                Mag& target = p.destination == kMag1 ? mag1 : mag2;
                target.engine->handle_proxy_binding_acknowledgement(p.source, *ba);
            }
        }
    }
    void advance(Duration d) {
        const auto end = clock.now() + d;
        while (clock.now() < end) {
            clock.advance(std::min<Duration>(100ms, end - clock.now()));
            timers.run_due();
            pump();
        }
    }
    void attach(Mag& m, int ifindex) {
        m.links.insert(ifindex);
        REQUIRE(m.engine->attach(ifindex, "veth" + std::to_string(ifindex), kMac));
        pump();
    }
    void detach(Mag& m, int ifindex) {
        m.links.erase(ifindex);
        m.engine->detach(ifindex);
        pump();
    }
    const lma::BindingCacheEntry& only_binding() {
        REQUIRE(lma->cache().size() == 1);
        return lma->cache().entries().begin()->second;
    }
};

}  // namespace

TEST_CASE("Scenario: attach, renew, detach between a MAG and the LMA", "[scenario]") {
    World w;
    w.attach(w.mag1, 7);
    const auto& e = *w.mag1.engine->find_by_interface(7);
    CHECK(e.state == mag::BulState::kRegistered);
    CHECK(w.only_binding().proxy_coa == kMag1);
    CHECK(e.home_network_prefixes == w.only_binding().home_network_prefixes);
    CHECK(w.lma_routes.routes.size() == 1);
    CHECK(w.mag1.routes.rules.size() == 1);
    // Several lifetimes pass: renewals keep both sides alive.
    w.advance(500s);
    CHECK(w.lma->cache().size() == 1);
    CHECK(w.mag1.engine->counters().renewals >= 5);
    w.detach(w.mag1, 7);
    CHECK(w.mag1.engine->entries().empty());
    w.advance(3s);  // MinDelayBeforeBCEDelete = 2 s here
    CHECK(w.lma->cache().size() == 0);
    CHECK(w.lma_routes.routes.empty());
    CHECK(w.mag1.routes.routes.empty());
}

TEST_CASE("Scenario: handover MAG1 -> MAG2 keeps the prefix; the old MAG's late de-registration "
          "changes nothing", "[scenario]") {
    World w;
    w.attach(w.mag1, 7);
    const auto hnp = w.only_binding().home_network_prefixes;
    w.advance(2s);
    w.attach(w.mag2, 9);  // the MN shows up at MAG2 (same MN-LL-ID: table B1)
    CHECK(w.mag2.engine->find_by_interface(9)->state == mag::BulState::kRegistered);
    CHECK(w.mag2.engine->find_by_interface(9)->home_network_prefixes == hnp);
    CHECK(w.only_binding().proxy_coa == kMag2);
    w.detach(w.mag1, 7);  // MAG1 notices the MN left
    w.advance(5s);
    CHECK(w.mag1.engine->entries().empty());  // gave up after INITIAL_BINDACK_TIMEOUT
    CHECK(w.only_binding().proxy_coa == kMag2);
    CHECK(w.only_binding().state == lma::BindingState::kActive);
    CHECK(w.lma_tunnels->tunnels().size() == 1);
    CHECK(w.lma_tunnels->tunnels().front().key.peer == kMag2);
}

TEST_CASE("Scenario: a lost PBA is recovered by retransmission with the same prefix", "[scenario]") {
    World v;
    v.mag1.links.insert(7);
    REQUIRE(v.mag1.engine->attach(7, "veth7", kMac));
    const Packet pbu = v.in_flight.front();
    v.in_flight.pop_front();
    v.lma->handle_proxy_binding_update(pbu.source, pbu.destination,
                                       std::get<mh::BindingUpdate>(std::get<mh::Parsed>(mh::parse(pbu.wire)).message));
    v.drop_next = 1;  // the PBA
    v.pump();
    CHECK(v.mag1.engine->find_by_interface(7)->state == mag::BulState::kRegistering);
    v.advance(1100ms);
    CHECK(v.mag1.engine->find_by_interface(7)->state == mag::BulState::kRegistered);
    CHECK(v.lma->cache().size() == 1);
    CHECK(v.mag1.engine->find_by_interface(7)->home_network_prefixes ==
          v.only_binding().home_network_prefixes);
    CHECK(v.dropped == 1);
}

TEST_CASE("Scenario: after an LMA restart the MAG registers again and keeps its prefix",
          "[scenario]") {
    World w;
    w.attach(w.mag1, 7);
    const auto hnp = w.only_binding().home_network_prefixes;
    w.lma.reset();  // the LMA loses its state
    w.lma_tunnels->destroy_all();
    w.lma_routes.routes.clear();
    w.make_lma();
    CHECK(w.lma->cache().size() == 0);
    w.mag1.engine->reregister_all(kLma);
    w.pump();
    CHECK(w.only_binding().home_network_prefixes == hnp);
    CHECK(w.mag1.engine->find_by_interface(7)->state == mag::BulState::kRegistered);
}
