// The in-process scenario world: two MAG engines and an LMA engine joined by a fake
// fabric that carries serialized Mobility Header messages (so every message
// goes through the codec both ways). One simulated clock; advance() jumps
// from event to event (timers and packet deliveries).
//
// The fabric can
//   - drop the next N messages (drop_next),
//   - hold back the messages a predicate picks (hold) until the test releases
//     them, one by one and in any order: reordering by hand,
//   - delay every message by a random time in [0, jitter], which reorders
//     messages sent close together,
//   - lose (loss) and duplicate (duplicate) messages at random,
// with a seeded generator, so a run is the same every time. It counts what
// it did (dropped, duplicated, reordered) so a test can show that the
// impairment it relies on really happened.
#pragma once

#include <catch2/catch.hpp>

#include <deque>
#include <random>
#include <set>

#include "lma_test_support.hpp"
#include "pmip/lma/lma_engine.hpp"
#include "pmip/mag/mag_engine.hpp"
#include "pmip/mag/tunnel_rules.hpp"
#include "pmip/mh/codec.hpp"


namespace pmip::scenario {
namespace {  // one copy per test file

using namespace pmip::lma_test;
using namespace std::chrono_literals;

const std::string kMac("\x02\x11\x22\x33\x44\x55", 6);

// Mobile node i (1-based): MN 1 is kMac / mn1@example.org.
std::string mac_of(unsigned i) {
    if (i == 1) return kMac;
    return std::string("\x02\x11\x22\x33\x44", 5) + static_cast<char>(0x54 + i);
}
std::string nai_of(unsigned i) { return "mn" + std::to_string(i) + "@example.org"; }
lma::MobileNodeIdentifier lma_id(unsigned i) { return {1, nai_of(i)}; }

struct Packet {
    Ipv6Address source, destination;
    std::vector<std::uint8_t> wire;
    TimePoint due{};
    std::uint64_t order = 0;  // send order, for counting reorderings
};

mh::Message message_of(const Packet& p) {
    const auto parsed = mh::parse(p.wire);
    REQUIRE(std::holds_alternative<mh::Parsed>(parsed));
    return std::get<mh::Parsed>(parsed).message;
}
[[maybe_unused]] bool is_pbu(const mh::Message& m) { return std::holds_alternative<mh::BindingUpdate>(m); }
[[maybe_unused]] bool is_pba(const mh::Message& m) { return std::holds_alternative<mh::BindingAcknowledgement>(m); }
[[maybe_unused]] bool is_deregistration(const mh::Message& m) {
    const auto* bu = std::get_if<mh::BindingUpdate>(&m);
    return bu && bu->lifetime == 0;
}
[[maybe_unused]] std::uint16_t sequence_of(const mh::Message& m) {
    if (const auto* bu = std::get_if<mh::BindingUpdate>(&m)) return bu->sequence;
    return std::get<mh::BindingAcknowledgement>(m).sequence;
}

struct Options {
    unsigned mobile_nodes = 1;
    Duration min_delay_before_bce_delete = 2s;
    unsigned prefix_pool_length = 60;  // /64s from 2001:db8:8000::/N
    lma::SialConfig sial;              // the LMA's RFC 7161 settings
    lma::PbuMConfig pbu_m;             // the LMA's draft-asaeda PBU-M settings
    bool mag_pbu_m = false;            // the MAGs send PBU-Ms (MagConfig::pbu_m)
    bool context_peers = false;        // MAG1 and MAG2 are each other's context peer
    mag::MagConfig::UplinkRouting mag_uplink = mag::MagConfig::UplinkRouting::kRules;
    bool gre_keys = false;  // every MN's policy (both ends): GRE with per-session keys (RFC 5845)
    unsigned prefixes_per_mn = 1;  // the LMA's policy: prefix_count
};

struct World {
    SimulatedClock clock;
    TimerQueue timers{clock};
    Options options;

    // --- the fabric ---
    std::deque<Packet> in_flight;  // ordered by due time (FIFO among equals)
    std::vector<Packet> held;      // picked by `hold`, waiting for release()
    std::function<bool(const Packet&, const mh::Message&)> hold;
    unsigned drop_next = 0;  // drop the next N packets delivered
    std::mt19937_64 rng{1};
    double loss = 0;       // probability that a packet is lost
    double duplicate = 0;  // probability that a packet arrives twice
    Duration jitter{};     // each copy is delayed by a uniform time in [0, jitter]
    std::uint64_t sent = 0, delivered = 0, dropped = 0, duplicated = 0, reordered = 0;
    std::map<std::pair<Ipv6Address, Ipv6Address>, std::uint64_t> last_order;  // per direction
    std::function<void()> after_event;  // after every delivery and timer run

    struct Port final : MhSender {
        World* w;
        void send(const Ipv6Address& s, const Ipv6Address& d, const mh::Message& m) override {
            w->transmit(Packet{s, d, mh::serialize(m)}, m);
        }
    } port;

    // LMA side.
    FakeRouteManager lma_routes;
    std::unique_ptr<RefCountingTunnelManager> lma_tunnels;
    lma::MapPolicyStore lma_policies;
    std::unique_ptr<lma::LmaEngine> lma;

    // MAG side, two MAGs.
    struct Mag;
    struct Recorder final : mag::MagObserver {
        std::function<void(const mag::BindingUpdateListEntry&)> on_registered, on_deregistered, on_settled;
        unsigned registered_events = 0, deregistered_events = 0, settled_events = 0;
        void registered(const mag::BindingUpdateListEntry& e, const TunnelInfo&) override {
            ++registered_events;
            if (on_registered) on_registered(e);
        }
        void registration_settled(const mag::BindingUpdateListEntry& e) override {
            ++settled_events;
            if (on_settled) on_settled(e);
        }
        void deregistered(const mag::BindingUpdateListEntry& e) override {
            ++deregistered_events;
            if (on_deregistered) on_deregistered(e);
        }
    };
    struct Mag {
        Ipv6Address coa{};
        FakeRouteManager routes;
        mag::TunnelRules tunnel_rules{routes, 999};  // as magd: rule-priority 1000 - 1
        std::unique_ptr<RefCountingTunnelManager> tunnels;
        std::unique_ptr<mag::MagEngine> engine;
        std::set<int> links;  // access links with an MN on them (is_attached)
        Recorder observer;
    } mag1, mag2;
    mag::MapPolicyStore mag_policies;

    explicit World(Options o = {}) : options(o) {
        port.w = this;
        lma_tunnels = std::make_unique<RefCountingTunnelManager>(std::make_unique<FakeTunnelBackend>(), timers);
        for (unsigned i = 1; i <= options.mobile_nodes; ++i) {
            lma::MobileNodePolicy lma_policy;
            lma_policy.gre_keys = options.gre_keys;
            lma_policy.prefix_count = options.prefixes_per_mn;
            lma_policies.policies[lma_id(i)] = lma_policy;
            mag::MobileNodePolicy p;
            p.gre_keys = options.gre_keys;
            p.mn_identifier = nai_of(i);
            p.lma = kLma;
            p.lifetime = 25;  // 100 s
            mag_policies.policies[mac_of(i)] = p;
        }
        make_lma();
        make_mag(mag1, kMag1);
        make_mag(mag2, kMag2);
    }
    void make_lma() {
        lma::LmaConfig config;
        config.authorized_mags = {prefix("2001:db8:100::/64")};
        config.min_delay_before_bce_delete = options.min_delay_before_bce_delete;
        config.sial = options.sial;
        config.pbu_m = options.pbu_m;
        std::vector<PrefixPool> pools;
        const std::string pool = "2001:db8:8000::/" + std::to_string(options.prefix_pool_length);
        pools.push_back(*PrefixPool::create(prefix(pool.c_str()), 64));
        lma = std::make_unique<lma::LmaEngine>(config, lma_policies, std::move(pools), *lma_tunnels,
                                               lma_routes, timers, port);
    }
    void make_mag(Mag& m, const Ipv6Address& coa) {
        m.coa = coa;
        m.tunnels = std::make_unique<RefCountingTunnelManager>(std::make_unique<FakeTunnelBackend>(), timers);
        m.tunnels->set_use_listener(&m.tunnel_rules);
        mag::MagConfig config;
        config.proxy_coa = coa;
        config.pbu_m = options.mag_pbu_m;
        config.uplink_routing = options.mag_uplink;
        if (options.context_peers) config.context_peers = {kMag1, kMag2};  // its own address is skipped
        m.engine = std::make_unique<mag::MagEngine>(config, mag_policies, *m.tunnels, m.routes, timers,
                                                    port, [&m](int i) { return m.links.count(i) != 0; });
        m.engine->set_observer(&m.observer);
    }
    Mag& mag_at(const Ipv6Address& a) {
        REQUIRE((a == kMag1 || a == kMag2));
        return a == kMag1 ? mag1 : mag2;
    }

    double uniform() { return std::uniform_real_distribution<double>(0.0, 1.0)(rng); }
    void enqueue(Packet p) {
        const auto at = std::upper_bound(in_flight.begin(), in_flight.end(), p.due,
                                         [](TimePoint t, const Packet& q) { return t < q.due; });
        in_flight.insert(at, std::move(p));
    }
    void transmit(Packet p, const mh::Message& m) {
        p.order = ++sent;
        if (hold && hold(p, m)) {
            held.push_back(std::move(p));
            return;
        }
        if (loss > 0 && uniform() < loss) {
            ++dropped;
            return;
        }
        const int copies = duplicate > 0 && uniform() < duplicate ? 2 : 1;
        if (copies == 2) ++duplicated;
        for (int c = 0; c < copies; ++c) {
            Packet copy = p;
            copy.due = clock.now();
            if (jitter > Duration::zero()) {
                const auto span = std::chrono::duration_cast<std::chrono::microseconds>(jitter).count();
                copy.due += std::chrono::microseconds(
                    std::uniform_int_distribution<std::int64_t>(0, span)(rng));
            }
            enqueue(std::move(copy));
        }
    }
    // Held packet `index` goes on the wire now (arrives at the next pump()).
    void release(std::size_t index) {
        REQUIRE(index < held.size());
        Packet p = std::move(held[index]);
        held.erase(held.begin() + static_cast<std::ptrdiff_t>(index));
        p.due = clock.now();
        enqueue(std::move(p));
        pump();
    }
    void deliver(const Packet& p) {
        auto& last = last_order[{p.source, p.destination}];
        if (p.order < last) ++reordered;
        last = std::max(last, p.order);
        const auto m = message_of(p);
        if (const auto* bu = std::get_if<mh::BindingUpdate>(&m)) {
            REQUIRE(p.destination == kLma);
            if (lma) lma->handle_proxy_binding_update(p.source, p.destination, *bu);
        } else if (const auto* ba = std::get_if<mh::BindingAcknowledgement>(&m)) {
            mag_at(p.destination).engine->handle_proxy_binding_acknowledgement(p.source, *ba);
        } else if (const auto* bri = std::get_if<mh::BindingRevocationIndication>(&m)) {
            mag_at(p.destination).engine->handle_binding_revocation_indication(p.source, *bri);
        } else if (const auto* bra = std::get_if<mh::BindingRevocationAcknowledgement>(&m)) {
            if (lma) lma->handle_binding_revocation_acknowledgement(p.source, p.destination, *bra);
        } else if (const auto* upn = std::get_if<mh::UpdateNotification>(&m)) {
            mag_at(p.destination).engine->handle_update_notification(p.source, *upn);
        } else if (const auto* upa = std::get_if<mh::UpdateNotificationAcknowledgement>(&m)) {
            if (lma) lma->handle_update_notification_acknowledgement(p.source, *upa);
        } else if (const auto* sq = std::get_if<mh::SubscriptionQuery>(&m)) {
            if (p.destination == kLma) {
                if (lma) lma->handle_subscription_query(p.source, p.destination, *sq);
            } else {
                mag_at(p.destination).engine->handle_subscription_query(p.source, *sq);
            }
        } else if (const auto* sr = std::get_if<mh::SubscriptionResponse>(&m)) {
            if (p.destination == kLma) {
                if (lma) lma->handle_subscription_response(p.source, p.destination, *sr);
            } else {
                mag_at(p.destination).engine->handle_subscription_response(p.source, *sr);
            }
        }
    }
    // Delivers everything due (and what that triggers, when due too).
    void pump() {
        while (!in_flight.empty() && in_flight.front().due <= clock.now()) {
            Packet p = std::move(in_flight.front());
            in_flight.pop_front();
            if (drop_next > 0) {
                --drop_next;
                ++dropped;
                continue;
            }
            ++delivered;
            deliver(p);
            if (after_event) after_event();
        }
    }
    // Moves the clock by `d`, stopping at every timer deadline and delivery.
    void advance(Duration d) {
        const auto end = clock.now() + d;
        for (;;) {
            TimePoint next = end;
            if (const auto t = timers.next_deadline()) next = std::min(next, *t);
            if (!in_flight.empty()) next = std::min(next, in_flight.front().due);
            if (next > clock.now()) clock.advance(next - clock.now());
            if (timers.run_due() > 0 && after_event) after_event();
            pump();
            if (clock.now() >= end) {
                const auto t = timers.next_deadline();
                const bool due = (t && *t <= end) || (!in_flight.empty() && in_flight.front().due <= end);
                if (!due) break;
            }
        }
    }
    void attach(Mag& m, int ifindex, unsigned mn = 1) {
        m.links.insert(ifindex);
        REQUIRE(m.engine->attach(ifindex, "veth" + std::to_string(ifindex), mac_of(mn)));
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
    // LMA routes whose prefix is `p`.
    std::size_t lma_routes_for(const Ipv6Prefix& p) const {
        return static_cast<std::size_t>(std::count_if(lma_routes.routes.begin(), lma_routes.routes.end(),
                                                      [&](const Route& r) { return r.destination == p; }));
    }
    static std::size_t routes_for(const Mag& m, const Ipv6Prefix& p) {
        return static_cast<std::size_t>(std::count_if(m.routes.routes.begin(), m.routes.routes.end(),
                                                      [&](const Route& r) { return r.destination == p; }));
    }
    static std::size_t rules_for(const Mag& m, const Ipv6Prefix& p) {
        return static_cast<std::size_t>(std::count_if(m.routes.rules.begin(), m.routes.rules.end(),
                                                      [&](const Rule& r) { return r.source == p; }));
    }
    // The uplink object of prefix `p`, whichever MagConfig::uplink_routing:
    // a rule "from p" or a source route "default from p".
    static std::size_t uplinks_for(const Mag& m, const Ipv6Prefix& p) { return m.routes.uplinks_from(p); }
    // Rules "iif TUNNEL lookup main" (MagConfig::uplink_routing).
    static std::size_t tunnel_rules(const Mag& m) {
        return static_cast<std::size_t>(std::count_if(m.routes.rules.begin(), m.routes.rules.end(),
                                                      [&](const Rule& r) { return !r.iif.empty(); }));
    }
    // Nothing of any binding left anywhere.
    void require_no_state() {
        for (Mag* m : {&mag1, &mag2}) {
            CHECK(m->engine->entries().empty());
            CHECK(m->routes.routes.empty());
            CHECK(m->routes.rules.empty());
            CHECK(m->tunnels->tunnels().empty());
        }
        CHECK(lma->cache().size() == 0);
        CHECK(lma_routes.routes.empty());
        CHECK(lma_tunnels->tunnels().empty());
    }
};

}  // namespace
}  // namespace pmip::scenario
