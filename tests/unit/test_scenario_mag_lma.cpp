// In-process MAG + LMA scenarios over the fake fabric of scenario_world.hpp.
#include "scenario_world.hpp"

using namespace pmip;
using namespace pmip::lma_test;
using namespace pmip::scenario;
using namespace std::chrono_literals;

TEST_CASE("Scenario: attach, renew, detach between a MAG and the LMA", "[scenario]") {
    World w;
    w.attach(w.mag1, 7);
    const auto& e = *w.mag1.engine->find_by_interface(7);
    CHECK(e.state == mag::BulState::kRegistered);
    CHECK(w.only_binding().proxy_coa == kMag1);
    CHECK(e.home_network_prefixes == w.only_binding().home_network_prefixes);
    CHECK(w.lma_routes.routes.size() == 1);
    CHECK(World::rules_for(w.mag1, e.home_network_prefixes.front()) == 1);
    CHECK(World::tunnel_rules(w.mag1) == 1);
    CHECK(w.mag1.routes.rules.size() == 2);
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

TEST_CASE("Scenario: handover MAG1 -> MAG2 keeps the prefix, the old MAG's late de-registration "
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

TEST_CASE("RFC 5213 6.9.1.1: the MN's interface moving to another access link of the same MAG keeps "
          "its binding, prefix and uplink, and the old link going down later changes nothing",
          "[scenario]") {
    Options o;
    o.mag_uplink = GENERATE(mag::MagConfig::UplinkRouting::kRules, mag::MagConfig::UplinkRouting::kSourceRoutes);
    o.gre_keys = GENERATE(false, true);  // a per-session GRE-keyed tunnel moves with its MN too
    INFO("source routes " << (o.mag_uplink == mag::MagConfig::UplinkRouting::kSourceRoutes) << ", GRE keys "
                          << o.gre_keys);
    World w(o);
    w.attach(w.mag1, 7);
    const auto hnp = w.only_binding().home_network_prefixes;
    REQUIRE(hnp.size() == 1);
    REQUIRE(w.mag1.tunnels->tunnels().size() == 1);
    const auto tunnel_key = w.mag1.tunnels->tunnels().front().key;
    CHECK(tunnel_key.kind == (o.gre_keys ? TunnelKind::kGre : TunnelKind::kIp6Ip6));
    CHECK(tunnel_key.input_key.has_value() == o.gre_keys);
    const int tunnel_ifindex = w.mag1.tunnels->tunnels().front().ifindex;
    w.advance(2s);
    // Make before break: the MN (same MN-LL-ID) shows up on link 8 of MAG1
    // while link 7 is still up, as behind two access points.
    const auto dereg_before = w.mag1.engine->counters().deregistrations;
    const auto pbu_before = w.mag1.engine->counters().pbu_sent;
    const auto registered_before = w.mag1.observer.registered_events;
    const auto deregistered_before = w.mag1.observer.deregistered_events;
    w.attach(w.mag1, 8);
    // In place, without signalling: nothing the LMA knows changed. The
    // observer (RAs, the multicast proxy) sees the new link registered and
    // the old one let go.
    CHECK(w.mag1.engine->counters().pbu_sent == pbu_before);
    CHECK(w.mag1.observer.registered_events == registered_before + 1);
    CHECK(w.mag1.observer.deregistered_events == deregistered_before + 1);
    CHECK(w.mag1.engine->find_by_interface(7) == nullptr);
    const auto* moved = w.mag1.engine->find_by_interface(8);
    REQUIRE(moved != nullptr);
    CHECK(moved->state == mag::BulState::kRegistered);
    CHECK(moved->home_network_prefixes == hnp);
    CHECK(w.mag1.engine->entries().size() == 1);
    CHECK(w.mag1.engine->counters().intra_mag_moves == 1);
    CHECK(w.mag1.engine->counters().deregistrations == dereg_before);
    CHECK(w.only_binding().proxy_coa == kMag1);
    CHECK(w.only_binding().home_network_prefixes == hnp);
    auto access_routes = [&] {
        std::vector<int> links;
        for (const auto& r : w.mag1.routes.routes)
            if (r.destination == hnp.front()) links.push_back(r.ifindex);
        return links;
    };
    CHECK(access_routes() == std::vector<int>{8});
    CHECK(World::uplinks_for(w.mag1, hnp.front()) == 1);
    CHECK(World::tunnel_rules(w.mag1) == 1);
    // Link 7's carrier goes later: nothing of the MN's is left there.
    w.detach(w.mag1, 7);
    w.advance(5s);
    CHECK(w.mag1.engine->counters().deregistrations == dereg_before);
    CHECK(w.only_binding().state == lma::BindingState::kActive);
    CHECK(w.only_binding().proxy_coa == kMag1);
    CHECK(access_routes() == std::vector<int>{8});
    CHECK(World::uplinks_for(w.mag1, hnp.front()) == 1);
    // The tunnel stayed across the move: made once, never deleted.
    REQUIRE(w.mag1.tunnels->tunnels().size() == 1);
    CHECK(w.mag1.tunnels->tunnels().front().references == 1);
    CHECK(w.mag1.tunnels->tunnels().front().ifindex == tunnel_ifindex);
    CHECK(w.mag1.tunnels->tunnels().front().key == tunnel_key);  // the same keys both ways
    // Renewals keep it; then the MN leaves link 8 and everything goes.
    w.advance(300s);
    CHECK(w.only_binding().state == lma::BindingState::kActive);
    CHECK(w.mag1.engine->find_by_interface(8)->state == mag::BulState::kRegistered);
    w.detach(w.mag1, 8);
    w.advance(10s);
    CHECK(w.mag1.engine->entries().empty());
    CHECK(w.mag1.routes.routes.empty());
    CHECK(World::uplinks_for(w.mag1, hnp.front()) == 0);
    CHECK(World::tunnel_rules(w.mag1) == 0);
    CHECK(w.mag1.tunnels->tunnels().empty());
    CHECK(w.lma->cache().size() == 0);
    CHECK(w.mag1.engine->counters().data_path_errors == 0);
}

TEST_CASE("RFC 5213 6.9.1.1: a route the kernel refuses on the MN's new link of the same MAG puts the "
          "routes that moved back, then the binding registers from the new link afresh with the same prefixes",
          "[scenario]") {
    Options o;
    o.prefixes_per_mn = 2;
    World w(o);
    w.attach(w.mag1, 7);
    const auto hnp = w.only_binding().home_network_prefixes;
    REQUIRE(hnp.size() == 2);
    w.advance(2s);
    // The first prefix's route onto link 8 goes in (replacing link 7's), the
    // second one's is refused, once: the first goes back onto link 7.
    std::vector<std::pair<Ipv6Prefix, int>> after_refusal;
    int refusals = 0;
    w.mag1.routes.fail_if = [&](const RouteRequest& r) -> std::optional<Error> {
        const auto* route = std::get_if<Route>(&r.object);
        if (r.op == RouteOp::kAdd && route && route->ifindex == 8 && route->destination == hnp[1] && refusals++ == 0)
            return Error{ENOBUFS, "test: no route"};
        return std::nullopt;
    };
    const auto requests_before = w.mag1.routes.requests.size();
    w.attach(w.mag1, 8);
    REQUIRE(refusals >= 1);  // (asked again by the fresh registration, which the kernel takes)
    // The undo batch came right after the move's: hnp[0] back onto link 7
    // (nothing else adds a route onto link 7 from here on).
    bool put_back = false;
    for (std::size_t i = requests_before; i < w.mag1.routes.requests.size(); ++i) {
        const auto* route = std::get_if<Route>(&w.mag1.routes.requests[i].object);
        if (route && w.mag1.routes.requests[i].op == RouteOp::kAdd && route->destination == hnp[0] &&
            route->ifindex == 7)
            put_back = true;
    }
    CHECK(put_back);
    w.advance(2s);
    CHECK(w.mag1.engine->counters().data_path_errors == 1);
    CHECK(w.mag1.engine->find_by_interface(7) == nullptr);
    const auto* moved = w.mag1.engine->find_by_interface(8);
    REQUIRE(moved != nullptr);
    CHECK(moved->state == mag::BulState::kRegistered);
    CHECK(moved->home_network_prefixes == hnp);
    CHECK(w.mag1.engine->entries().size() == 1);
    CHECK(w.only_binding().proxy_coa == kMag1);
    CHECK(w.only_binding().home_network_prefixes == hnp);
    for (const auto& p : hnp) {
        std::vector<int> links;
        for (const auto& r : w.mag1.routes.routes)
            if (r.destination == p) links.push_back(r.ifindex);
        CHECK(links == std::vector<int>{8});
        CHECK(World::uplinks_for(w.mag1, p) == 1);
    }
    w.detach(w.mag1, 8);
    w.advance(10s);
    CHECK(w.mag1.routes.routes.empty());
    CHECK(World::uplinks_for(w.mag1, hnp.front()) == 0);
    CHECK(w.mag1.tunnels->tunnels().empty());
}

TEST_CASE("RFC 5845 4.2 and 5.2: the LMA's policy reloaded to GRE keys answers the MAG's renewal without the "
          "option 163, the MAG sends it at once and both ends move the session onto a keyed GRE tunnel",
          "[scenario]") {
    World w;
    w.attach(w.mag1, 7);
    REQUIRE(w.mag1.tunnels->tunnels().size() == 1);
    REQUIRE(w.mag1.tunnels->tunnels().front().key.kind == TunnelKind::kIp6Ip6);
    const auto hnp = w.only_binding().home_network_prefixes;
    w.lma_policies.policies[lma_id(1)].gre_keys = true;  // as a reload does
    w.advance(100s);  // past a renewal
    CHECK(w.mag1.engine->counters().pba_rejected.at(163) == 1);
    CHECK(w.mag1.engine->counters().gre_required_by_lma == 1);
    const auto* e = w.mag1.engine->find_by_interface(7);
    REQUIRE(e != nullptr);
    CHECK(e->state == mag::BulState::kRegistered);
    CHECK(e->home_network_prefixes == hnp);
    REQUIRE(w.mag1.tunnels->tunnels().size() == 1);
    const auto mag_key = w.mag1.tunnels->tunnels().front().key;
    CHECK(mag_key.kind == TunnelKind::kGre);
    REQUIRE(mag_key.input_key.has_value());
    REQUIRE(mag_key.output_key.has_value());
    REQUIRE(w.lma_tunnels->tunnels().size() == 1);
    const auto lma_key = w.lma_tunnels->tunnels().front().key;
    CHECK(lma_key.kind == TunnelKind::kGre);
    CHECK(lma_key.input_key == mag_key.output_key);  // the uplink key
    CHECK(lma_key.output_key == mag_key.input_key);  // the downlink key
    CHECK(w.only_binding().home_network_prefixes == hnp);
    CHECK(w.lma->counters().sessions_reencapsulated == 1);
    // Renewals go on in GRE, without another 163.
    w.advance(200s);
    CHECK(w.mag1.engine->counters().pba_rejected.at(163) == 1);
    CHECK(w.mag1.engine->find_by_interface(7)->state == mag::BulState::kRegistered);
    CHECK(w.mag1.tunnels->tunnels().front().key == mag_key);
    CHECK(w.mag1.engine->counters().data_path_errors == 0);
}

TEST_CASE("RFC 5213 6.9.1.1: the MN's interface moving to another link of the same MAG while its first "
          "PBU is out registers from the new link with the same prefix, no de-registration, the tunnel kept",
          "[scenario]") {
    World w;
    w.hold = [](const Packet&, const mh::Message& m) { return is_pba(m); };
    w.attach(w.mag1, 7);  // PBU accepted by the LMA, its PBA held
    w.advance(std::chrono::milliseconds(1));  // the tunnel made ahead (prepared)
    REQUIRE(w.mag1.engine->find_by_interface(7)->state == mag::BulState::kRegistering);
    REQUIRE(w.mag1.tunnels->tunnels().size() == 1);
    const int tunnel_ifindex = w.mag1.tunnels->tunnels().front().ifindex;
    w.hold = nullptr;
    w.attach(w.mag1, 8);
    CHECK(w.mag1.engine->find_by_interface(7) == nullptr);
    CHECK(w.mag1.engine->counters().intra_mag_moves == 1);
    w.release(0);  // the old PBU's PBA: no entry is waiting for it any more
    w.advance(2s);
    const auto* e = w.mag1.engine->find_by_interface(8);
    REQUIRE(e != nullptr);
    CHECK(e->state == mag::BulState::kRegistered);
    CHECK(e->home_network_prefixes == w.only_binding().home_network_prefixes);
    CHECK(w.only_binding().proxy_coa == kMag1);
    CHECK(w.lma->counters().sessions_created == 1);
    CHECK(w.mag1.engine->counters().deregistrations == 0);
    REQUIRE(w.mag1.tunnels->tunnels().size() == 1);
    CHECK(w.mag1.tunnels->tunnels().front().ifindex == tunnel_ifindex);  // never deleted
    CHECK(w.mag1.tunnels->tunnels().front().references == 1);
    w.detach(w.mag1, 7);  // the old link's carrier: nothing there
    w.advance(3s);
    CHECK(w.only_binding().state == lma::BindingState::kActive);
    CHECK(w.mag1.engine->counters().deregistrations == 0);
}

TEST_CASE("Scenario: a lost PBA is recovered by retransmission with the same prefix", "[scenario]") {
    World v;
    v.mag1.links.insert(7);
    REQUIRE(v.mag1.engine->attach(7, "veth7", kMac));
    const Packet pbu = v.in_flight.front();
    v.in_flight.pop_front();
    v.lma->handle_proxy_binding_update(pbu.source, pbu.destination,
                                       std::get<mh::BindingUpdate>(message_of(pbu)));
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

// --- reordering, by hand -----------------------------------------------------

TEST_CASE("RFC 5213 6.9.2: a PBA for an older PBU arriving after the PBA of its retransmission "
          "is ignored",
          "[scenario][reorder]") {
    World w;
    w.hold = [](const Packet&, const mh::Message& m) { return is_pba(m); };
    w.attach(w.mag1, 7);  // PBU 1 reaches the LMA; PBA 1 held
    REQUIRE(w.held.size() == 1);
    w.advance(1s);  // INITIAL_BINDACK_TIMEOUT: PBU 2 (new sequence number) reaches the LMA
    REQUIRE(w.held.size() == 2);
    CHECK(w.mag1.engine->counters().pbu_retransmitted == 1);
    const auto older = sequence_of(message_of(w.held[0]));
    const auto newer = sequence_of(message_of(w.held[1]));
    REQUIRE(older != newer);
    w.hold = nullptr;
    w.release(1);  // the newer PBA first
    const auto* e = w.mag1.engine->find_by_interface(7);
    REQUIRE(e != nullptr);
    CHECK(e->state == mag::BulState::kRegistered);
    CHECK(e->sequence == newer);
    const auto hnp = e->home_network_prefixes;
    CHECK(hnp == w.only_binding().home_network_prefixes);
    w.release(0);  // then the older one
    CHECK(w.mag1.engine->counters().pba_unmatched == 1);
    CHECK(w.mag1.engine->counters().pba_accepted == 1);
    CHECK(w.mag1.observer.registered_events == 1);  // forwarding installed once
    CHECK(e->state == mag::BulState::kRegistered);
    CHECK(e->home_network_prefixes == hnp);
    CHECK(World::rules_for(w.mag1, hnp.front()) == 1);
    CHECK(w.mag1.routes.rules.size() == 2);  // and the tunnel's
    CHECK(w.lma->counters().sessions_created == 1);
}

TEST_CASE("RFC 5213 6.9.2: the PBA of a PBU that has been retransmitted meanwhile does not "
          "complete the registration, the retransmission's PBA does, with the same prefix",
          "[scenario][reorder]") {
    World w;
    w.hold = [](const Packet&, const mh::Message& m) { return is_pba(m); };
    w.attach(w.mag1, 7);  // PBU 1 accepted by the LMA, PBA 1 held
    w.hold = [](const Packet&, const mh::Message& m) { return is_pbu(m); };
    w.advance(1s);  // PBU 2 (the retransmission) held before the LMA
    REQUIRE(w.held.size() == 2);
    REQUIRE(is_pba(message_of(w.held[0])));
    REQUIRE(is_pbu(message_of(w.held[1])));
    w.hold = nullptr;
    w.release(0);  // PBA 1 arrives after PBU 2 left: its sequence number is stale
    CHECK(w.mag1.engine->counters().pba_unmatched == 1);
    CHECK(w.mag1.engine->find_by_interface(7)->state == mag::BulState::kRegistering);
    CHECK(w.mag1.routes.rules.size() == World::tunnel_rules(w.mag1));  // the prepared tunnel's only
    const auto hnp = w.only_binding().home_network_prefixes;
    w.release(0);  // PBU 2: re-registration of the same session, PBA 2 accepted
    const auto* e = w.mag1.engine->find_by_interface(7);
    CHECK(e->state == mag::BulState::kRegistered);
    CHECK(e->home_network_prefixes == hnp);
    CHECK(w.lma->counters().sessions_created == 1);
    CHECK(w.lma->counters().pbu_accepted == 2);
}

TEST_CASE("RFC 5213 5.3.6 / 5.5: a duplicate of an accepted PBU arriving after its PBA gets the "
          "same PBA again (no state change) and the MAG ignores that PBA",
          "[scenario][duplicate]") {
    World w;
    Packet copy;
    w.hold = [&copy](const Packet& p, const mh::Message& m) {
        if (is_pbu(m)) copy = p;  // the original goes on; a copy waits
        return false;
    };
    w.attach(w.mag1, 7);
    w.hold = nullptr;
    const auto* e = w.mag1.engine->find_by_interface(7);
    REQUIRE(e->state == mag::BulState::kRegistered);
    const auto timestamp = w.only_binding().timestamp;
    const auto hnp = e->home_network_prefixes;
    w.advance(100ms);
    w.held.push_back(copy);
    w.release(0);  // the duplicate reaches the LMA
    CHECK(w.lma->counters().pbu_retransmissions_answered == 1);
    CHECK(w.lma->counters().pbu_rejected.empty());
    CHECK(w.mag1.engine->counters().pba_unmatched == 1);
    CHECK(e->state == mag::BulState::kRegistered);
    CHECK(e->home_network_prefixes == hnp);
    CHECK(w.only_binding().timestamp == timestamp);
    CHECK(w.only_binding().state == lma::BindingState::kActive);
    CHECK(w.mag1.engine->counters().pba_rejected.empty());
}

TEST_CASE("RFC 5213 5.3.5 / 5.5: the previous MAG's de-registration overtaken by the new MAG's "
          "registration leaves the binding, its prefix and its routes at the new MAG",
          "[scenario][reorder]") {
    World w;
    w.attach(w.mag1, 7);
    const auto hnp = w.only_binding().home_network_prefixes;
    REQUIRE(hnp.size() == 1);
    w.advance(2s);
    w.hold = [](const Packet& p, const mh::Message& m) {
        return p.source == kMag1 && is_deregistration(m);
    };
    w.detach(w.mag1, 7);  // MAG1's de-registration is slow on the wire
    REQUIRE(w.held.size() == 1);
    w.advance(20ms);
    w.attach(w.mag2, 9);  // MAG2's PBU overtakes it: handoff (table B1)
    CHECK(w.only_binding().proxy_coa == kMag2);
    CHECK(w.mag2.engine->find_by_interface(9)->state == mag::BulState::kRegistered);
    w.hold = nullptr;
    w.release(0);  // the de-registration arrives (its timestamp is older)
    CHECK(w.lma->counters().pbu_rejected.at(mh::status::kTimestampLowerThanPrevAccepted) == 1);
    CHECK(w.mag1.engine->entries().empty());  // any PBA ends MAG1's de-registration
    w.advance(15s);  // past MinDelayBeforeBCEDelete: nothing was scheduled for deletion
    const auto& b = w.only_binding();
    CHECK(b.proxy_coa == kMag2);
    CHECK(b.state == lma::BindingState::kActive);
    CHECK(b.home_network_prefixes == hnp);
    CHECK(w.lma_routes_for(hnp.front()) == 1);
    REQUIRE(w.lma_tunnels->tunnels().size() == 1);
    CHECK(w.lma_tunnels->tunnels().front().key.peer == kMag2);
    CHECK(w.mag2.engine->find_by_interface(9)->home_network_prefixes == hnp);
    CHECK(World::routes_for(w.mag2, hnp.front()) == 1);
    CHECK(World::rules_for(w.mag2, hnp.front()) == 1);
    CHECK(w.mag1.routes.routes.empty());
    CHECK(w.mag1.routes.rules.empty());
    CHECK(w.mag1.tunnels->tunnels().empty());
}

TEST_CASE("RFC 5213 5.5: the new MAG's PBU, stamped just before the old MAG's de-registration and "
          "arriving after it, gets 157, the MAG re-registers at once and the MN keeps its prefix",
          "[scenario][reorder]") {
    World w;
    w.attach(w.mag1, 7);
    const auto hnp = w.only_binding().home_network_prefixes;
    REQUIRE(hnp.size() == 1);
    w.advance(2s);
    w.hold = [](const Packet& p, const mh::Message& m) { return p.source == kMag2 && is_pbu(m); };
    w.attach(w.mag2, 9);  // MAG2's PBU is stamped first ...
    REQUIRE(w.held.size() == 1);
    w.hold = nullptr;
    w.advance(1ms);
    w.detach(w.mag1, 7);  // ... MAG1's de-registration, stamped later, arrives first
    CHECK(w.only_binding().state == lma::BindingState::kDeregistering);
    // The LMA's answer takes a millisecond back to MAG2 (the fabric has no
    // latency of its own; the MAGs' clocks are the LMA's).
    w.hold = [](const Packet& p, const mh::Message& m) { return p.destination == kMag2 && is_pba(m); };
    w.release(0);
    w.pump();
    REQUIRE(w.held.size() == 1);
    w.hold = nullptr;
    w.advance(1ms);
    w.release(0);
    w.pump();
    CHECK(w.lma->counters().pbu_rejected.at(mh::status::kTimestampLowerThanPrevAccepted) == 1);
    w.advance(50ms);  // no retransmission timer (1 s) involved
    REQUIRE(w.mag2.engine->find_by_interface(9) != nullptr);
    CHECK(w.mag2.engine->find_by_interface(9)->state == mag::BulState::kRegistered);
    CHECK(w.mag2.engine->find_by_interface(9)->home_network_prefixes == hnp);
    CHECK(w.only_binding().proxy_coa == kMag2);
    w.advance(15s);  // past MinDelayBeforeBCEDelete: the handoff ended the wait
    const auto& b = w.only_binding();
    CHECK(b.proxy_coa == kMag2);
    CHECK(b.state == lma::BindingState::kActive);
    CHECK(b.home_network_prefixes == hnp);
    CHECK(w.lma_routes_for(hnp.front()) == 1);
}

TEST_CASE("RFC 5213 5.3.5: a de-registration from a MAG that no longer holds the binding is "
          "ignored (no PBA), that MAG cleans up after INITIAL_BINDACK_TIMEOUT",
          "[scenario][reorder]") {
    World w;
    w.attach(w.mag1, 7);
    const auto hnp = w.only_binding().home_network_prefixes;
    w.advance(2s);
    w.attach(w.mag2, 9);
    REQUIRE(w.only_binding().proxy_coa == kMag2);
    w.advance(50ms);      // a newer timestamp than MAG2's registration
    w.detach(w.mag1, 7);  // MAG1 notices late
    CHECK(w.lma->counters().pbu_ignored == 1);
    CHECK(w.lma->counters().pbu_rejected.empty());
    REQUIRE(w.mag1.engine->find_by_interface(7) != nullptr);  // no PBA came
    CHECK(w.mag1.engine->find_by_interface(7)->state == mag::BulState::kDeregistering);
    CHECK(w.mag1.routes.rules.empty());  // its forwarding state went at once
    w.advance(1100ms);
    CHECK(w.mag1.engine->entries().empty());
    CHECK(w.mag1.engine->counters().deregistration_timeouts == 1);
    w.advance(15s);
    CHECK(w.only_binding().proxy_coa == kMag2);
    CHECK(w.only_binding().state == lma::BindingState::kActive);
    CHECK(w.only_binding().home_network_prefixes == hnp);
    CHECK(w.lma_routes_for(hnp.front()) == 1);
    CHECK(w.mag2.engine->find_by_interface(9)->state == mag::BulState::kRegistered);
}

TEST_CASE("RFC 5213 5.5 / 6.13: a renewal overtaken by the de-registration does not revive the "
          "binding",
          "[scenario][reorder]") {
    World w;
    w.attach(w.mag1, 7);
    w.hold = [](const Packet& p, const mh::Message& m) {
        const auto* bu = std::get_if<mh::BindingUpdate>(&m);
        return p.source == kMag1 && bu && bu->lifetime > 0;
    };
    w.advance(80500ms);  // renewal at 80 % of the 100 s lifetime: held
    REQUIRE(w.held.size() == 1);
    CHECK(w.mag1.engine->counters().renewals == 1);
    w.hold = nullptr;
    w.detach(w.mag1, 7);  // the de-registration arrives first
    CHECK(w.mag1.engine->entries().empty());
    CHECK(w.only_binding().state == lma::BindingState::kDeregistering);
    w.release(0);  // then the renewal
    CHECK(w.lma->counters().pbu_rejected.at(mh::status::kTimestampLowerThanPrevAccepted) == 1);
    CHECK(w.only_binding().state == lma::BindingState::kDeregistering);
    w.advance(3s);  // MinDelayBeforeBCEDelete = 2 s
    w.require_no_state();
}

TEST_CASE("RFC 5213 6.9.4 / 5.3.5: every message delivered twice changes nothing: attach, renew, "
          "handover and detach end as without duplicates",
          "[scenario][duplicate]") {
    World w;
    w.duplicate = 1.0;
    w.attach(w.mag1, 7);
    const auto hnp = w.only_binding().home_network_prefixes;
    CHECK(w.mag1.engine->find_by_interface(7)->state == mag::BulState::kRegistered);
    w.advance(300s);  // renewals, each PBU and PBA twice
    CHECK(w.mag1.engine->counters().renewals >= 3);
    CHECK(w.only_binding().home_network_prefixes == hnp);
    w.attach(w.mag2, 9);
    w.detach(w.mag1, 7);
    w.advance(5s);
    CHECK(w.only_binding().proxy_coa == kMag2);
    CHECK(w.only_binding().state == lma::BindingState::kActive);
    CHECK(w.mag2.engine->find_by_interface(9)->state == mag::BulState::kRegistered);
    CHECK(w.mag2.engine->find_by_interface(9)->home_network_prefixes == hnp);
    CHECK(w.mag1.engine->entries().empty());
    CHECK(w.lma->counters().sessions_created == 1);
    CHECK(w.mag1.observer.registered_events == 1);
    CHECK(w.mag2.observer.registered_events == 1);
    // The second copies were answered with the accepted PBA again and ignored.
    CHECK(w.lma->counters().pbu_retransmissions_answered >= 4);
    CHECK(w.mag1.engine->counters().pba_unmatched + w.mag2.engine->counters().pba_unmatched >= 4);
    w.detach(w.mag2, 9);
    w.advance(3s);
    w.require_no_state();
    CHECK(w.duplicated == w.sent);
}

// --- random loss, duplication and reordering ----------------------------------

namespace {

// Mobile nodes moving between the two MAGs. An MN on a link is what the MAG's
// is_attached() reports; magd attaches it on link up, and again on its
// Router Solicitations (RFC 4861 section 6.3.7: up to 3, 4 s apart) when it
// holds no entry for that link then.
struct Crowd {
    World& w;
    struct Mn {
        int at = 0;  // 0: nowhere, 1: MAG1, 2: MAG2 (where it is now)
        std::set<int> links;  // MAGs whose link it is on (2 during make-before-break)
        std::uint64_t epoch = 0;  // invalidates the solicitations of earlier attachments
        std::vector<Ipv6Prefix> last_prefixes;  // of its last registration at any MAG
        bool binding_gone = false;  // the LMA had no session for it since then
    };
    std::vector<Mn> mns;
    unsigned registrations = 0, prefix_kept = 0, prefix_changed_after_deletion = 0;
    unsigned handovers = 0, detaches = 0, attaches = 0;

    Crowd(World& world, unsigned n) : w(world), mns(n + 1) {
        for (World::Mag* m : {&w.mag1, &w.mag2}) {
            m->observer.on_registered = [this](const mag::BindingUpdateListEntry& e) { registered(e); };
        }
        w.after_event = [this] { watch_lma(); };
    }
    static int ifindex(unsigned mn, int mag) { return 100 * mag + static_cast<int>(mn); }
    World::Mag& mag(int k) { return k == 1 ? w.mag1 : w.mag2; }
    unsigned mn_of(const std::string& mac) const {
        for (unsigned i = 1; i < mns.size(); ++i) {
            if (mac_of(i) == mac) return i;
        }
        FAIL("unknown MAC");
        return 0;
    }
    void watch_lma() {
        for (unsigned i = 1; i < mns.size(); ++i) {
            if (w.lma->cache().sessions_of(lma_id(i)).empty()) mns[i].binding_gone = true;
        }
    }
    // Same prefix across handovers: a registration may bring another prefix
    // only if the LMA deleted the MN's binding in between (MinDelayBeforeBCEDelete
    // or lifetime expired while the MN was away or unreachable).
    void registered(const mag::BindingUpdateListEntry& e) {
        Mn& mn = mns[mn_of(e.mn_link_layer_address)];
        ++registrations;
        if (!mn.last_prefixes.empty()) {
            if (e.home_network_prefixes == mn.last_prefixes) {
                ++prefix_kept;
            } else {
                INFO("MN " << mn_of(e.mn_link_layer_address) << " got a new prefix at "
                           << e.access_interface);
                CHECK(mn.binding_gone);
                ++prefix_changed_after_deletion;
            }
        }
        mn.last_prefixes = e.home_network_prefixes;
        mn.binding_gone = w.lma->cache().sessions_of(lma_id(mn_of(e.mn_link_layer_address))).empty();
    }
    void link_up(unsigned i, int k) {
        Mn& mn = mns[i];
        mn.links.insert(k);
        mn.at = k;
        ++attaches;
        const int ifx = ifindex(i, k);
        World::Mag& m = mag(k);
        m.links.insert(ifx);
        (void)m.engine->attach(ifx, "mn" + std::to_string(ifx), mac_of(i));
        const std::uint64_t epoch = ++mn.epoch;
        for (auto delay : {4s, 8s, 12s}) {  // the MN's Router Solicitations
            w.timers.start_timer(delay, [this, i, k, ifx, epoch] {
                World::Mag& mm = mag(k);
                if (mns[i].epoch != epoch || !mm.links.count(ifx) || mm.engine->find_by_interface(ifx))
                    return;
                (void)mm.engine->attach(ifx, "mn" + std::to_string(ifx), mac_of(i));
            });
        }
        w.pump();
    }
    void link_down(unsigned i, int k) {
        Mn& mn = mns[i];
        mn.links.erase(k);
        if (mn.at == k) mn.at = mn.links.empty() ? 0 : *mn.links.begin();
        const int ifx = ifindex(i, k);
        mag(k).links.erase(ifx);
        mag(k).engine->detach(ifx);
        w.pump();
    }
    Duration random_ms(int max) {
        return std::chrono::milliseconds(std::uniform_int_distribution<int>(0, max)(w.rng));
    }
    // One random step for MN i.
    void step(unsigned i) {
        Mn& mn = mns[i];
        if (mn.at == 0) {
            link_up(i, w.uniform() < 0.5 ? 1 : 2);
            return;
        }
        const int from = mn.at, to = 3 - mn.at;
        if (w.uniform() < 0.65) {
            ++handovers;
            if (w.uniform() < 0.5) {  // break before make
                link_down(i, from);
                w.advance(random_ms(300));
                link_up(i, to);
            } else {  // make before break: the old MAG notices late
                link_up(i, to);
                w.advance(random_ms(300));
                link_down(i, from);
            }
        } else {
            ++detaches;
            link_down(i, from);
        }
    }
    // Every attached MN registered at exactly the MAG it is on, with the
    // LMA's binding there; no state for MNs that are nowhere.
    void check_invariants() {
        std::size_t attached = 0;
        std::map<int, std::size_t> at_mag;
        for (unsigned i = 1; i < mns.size(); ++i) {
            INFO("MN " << i << " at MAG " << mns[i].at);
            const Mn& mn = mns[i];
            const auto sessions = w.lma->cache().sessions_of(lma_id(i));
            for (int k : {1, 2}) {
                const auto* e = mag(k).engine->find_by_interface(ifindex(i, k));
                if (k != mn.at) {
                    CHECK(e == nullptr);
                    continue;
                }
                REQUIRE(e != nullptr);
                CHECK(e->state == mag::BulState::kRegistered);
                REQUIRE(sessions.size() == 1);
                const auto* b = w.lma->cache().find(sessions.front());
                CHECK(b->proxy_coa == mag(k).coa);
                CHECK(b->state == lma::BindingState::kActive);
                CHECK(b->home_network_prefixes == e->home_network_prefixes);
                CHECK(e->home_network_prefixes == mn.last_prefixes);
                for (const auto& p : e->home_network_prefixes) {
                    CHECK(World::routes_for(mag(k), p) == 1);
                    CHECK(World::rules_for(mag(k), p) == 1);
                    CHECK(World::routes_for(mag(3 - k), p) == 0);
                    CHECK(World::rules_for(mag(3 - k), p) == 0);
                    CHECK(w.lma_routes_for(p) == 1);
                }
            }
            if (mn.at == 0) {
                CHECK(sessions.empty());
                for (const auto& p : mn.last_prefixes) CHECK(w.lma_routes_for(p) == 0);
            } else {
                ++attached;
                ++at_mag[mn.at];
            }
        }
        CHECK(w.lma->cache().size() == attached);
        CHECK(w.lma_routes.routes.size() == attached);
        CHECK(w.lma_tunnels->tunnels().size() == at_mag.size());
        for (int k : {1, 2}) {
            INFO("MAG " << k);
            CHECK(mag(k).engine->entries().size() == at_mag[k]);
            CHECK(mag(k).routes.rules.size() - World::tunnel_rules(mag(k)) == at_mag[k]);
            CHECK(World::tunnel_rules(mag(k)) == (at_mag[k] ? 1u : 0u));
            // The HNP routes plus the LMA table's default route into the tunnel.
            CHECK(mag(k).routes.routes.size() == at_mag[k] + (at_mag[k] ? 1 : 0));
            CHECK(mag(k).tunnels->tunnels().size() == (at_mag[k] ? 1u : 0u));
        }
    }
};

}  // namespace

TEST_CASE("RFC 5213 5.3.5, 5.5, 6.9.4: under seeded random loss, duplication and reordering, "
          "every attached MN ends registered at exactly its MAG with an unchanged prefix, and "
          "detached MNs leave no state",
          "[scenario][random]") {
    const std::uint64_t seed = GENERATE(20261122u, 7u, 1234567u);
    INFO("seed " << seed);
    constexpr unsigned kMobileNodes = 8;
    // MinDelayBeforeBCEDelete at the RFC's 10 s: a handover whose new PBU is
    // lost for longer than that may get a new prefix (the invariant allows
    // it only when the LMA really had deleted the binding).
    Options options;
    options.mobile_nodes = kMobileNodes;
    options.min_delay_before_bce_delete = 10s;
    options.prefix_pool_length = 56;
    World w(options);
    w.rng.seed(seed);
    w.loss = 0.2;
    w.duplicate = 0.1;
    w.jitter = 100ms;  // inside the LMA's 300 ms TimestampValidityWindow
    Crowd crowd(w, kMobileNodes);
    for (int round = 0; round < 400; ++round) {
        const unsigned i = std::uniform_int_distribution<unsigned>(1, kMobileNodes)(w.rng);
        crowd.step(i);
        // Mostly short pauses (messages cross each other), sometimes long
        // enough for renewals (80 s) under loss.
        const double r = w.uniform();
        w.advance(r < 0.05 ? 90s : r < 0.5 ? crowd.random_ms(3000) : crowd.random_ms(200));
    }
    INFO("sent " << w.sent << ", dropped " << w.dropped << ", duplicated " << w.duplicated
                 << ", reordered " << w.reordered << "; " << crowd.handovers << " handovers, "
                 << crowd.registrations << " registrations, prefix kept " << crowd.prefix_kept
                 << ", new prefix after the LMA deleted the binding "
                 << crowd.prefix_changed_after_deletion);
    // The impairments really happened.
    CHECK(w.dropped > 100);
    CHECK(w.duplicated > 50);
    CHECK(w.reordered > 15);
    CHECK(crowd.handovers > 100);
    CHECK(w.mag1.engine->counters().pbu_retransmitted + w.mag2.engine->counters().pbu_retransmitted > 50);

    // The network heals (duplicates and reordering stay); the state settles.
    // A lost de-registration is not retransmitted (RFC 5213 6.9.1.2,
    // PROTOCOL.md 2.14: the MAG cleans up after INITIAL_BINDACK_TIMEOUT), so
    // the LMA may keep such a binding until its lifetime (100 s) ends.
    w.loss = 0;
    w.advance(120s);
    crowd.check_invariants();
    CHECK(crowd.prefix_kept > 100);

    // Everyone leaves: nothing left at either side.
    for (unsigned i = 1; i <= kMobileNodes; ++i) {
        for (int k : {1, 2}) {
            if (crowd.mns[i].links.count(k)) crowd.link_down(i, k);
        }
    }
    w.advance(120s);
    crowd.check_invariants();
    w.require_no_state();
}
