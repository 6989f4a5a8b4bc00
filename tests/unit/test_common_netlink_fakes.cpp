// Unit tests of FakeRouteManager and FakeLinkMonitor (route_manager.hpp,
// link_monitor.hpp): the fakes that protocol engines and adapters are tested
// against must keep the same identities and idempotence as the netlink
// implementations (tests/netns/test_netns_netlink.cpp checks those against
// the kernel). Also the text forms describe() and to_string(LinkEventType).
//
// Threading: single-threaded.
#include <catch2/catch.hpp>

#include <vector>

#include "pmip/common/link_monitor.hpp"
#include "pmip/common/route_manager.hpp"

using namespace pmip;

namespace {

Ipv6Prefix prefix(const char* text) {
    return *parse_prefix(text);
}

Route route(const char* destination, int ifindex, std::uint32_t table = kMainTable) {
    Route r;
    r.destination = prefix(destination);
    r.ifindex = ifindex;
    r.table = table;
    return r;
}

}  // namespace

TEST_CASE("FakeRouteManager adds a route once however often it is asked", "[common][route]") {
    FakeRouteManager manager;
    const Route r = route("2001:db8:1::/64", 7, 100);
    CHECK(manager.add(r).ok());
    CHECK(manager.add(r).ok());
    CHECK(manager.routes == std::set<Route>{r});
    CHECK(manager.requests.size() == 2);
    CHECK(manager.batches == 2);
}

TEST_CASE("FakeRouteManager deleting an absent route succeeds", "[common][route]") {
    FakeRouteManager manager;
    CHECK(manager.remove(route("2001:db8:1::/64", 7)).ok());
    CHECK(manager.routes.empty());
}

TEST_CASE("FakeRouteManager replaces a route with the same destination, table and metric",
          "[common][route]") {
    FakeRouteManager manager;
    CHECK(manager.add(route("2001:db8:1::/64", 7, 100)).ok());
    Route moved = route("2001:db8:1::/64", 9, 100);  // handover to another tunnel
    CHECK(manager.add(moved).ok());
    CHECK(manager.routes == std::set<Route>{moved});

    Route other_table = route("2001:db8:1::/64", 7, 200);
    Route other_metric = route("2001:db8:1::/64", 7, 100);
    other_metric.metric = 10;
    CHECK(manager.add(other_table).ok());
    CHECK(manager.add(other_metric).ok());
    CHECK(manager.routes.size() == 3);
}

TEST_CASE("FakeRouteManager stores canonical destinations and metric 0 as 1024",
          "[common][route]") {
    FakeRouteManager manager;
    Route r = route("2001:db8:1::55/64", 7);
    r.metric = 0;
    CHECK(manager.add(r).ok());
    REQUIRE(manager.routes.size() == 1);
    CHECK(manager.routes.begin()->destination == prefix("2001:db8:1::/64"));
    CHECK(manager.routes.begin()->metric == 1024);
    // Deleting with the host bits set and metric 0 (any) finds it, as in the kernel.
    CHECK(manager.remove(r).ok());
    CHECK(manager.routes.empty());
}

TEST_CASE("FakeRouteManager deletes a route only through its device and gateway",
          "[common][route]") {
    FakeRouteManager manager;
    Route r = route("2001:db8:1::/64", 7);
    r.gateway = parse_address("fe80::1");
    CHECK(manager.add(r).ok());

    CHECK(manager.remove(route("2001:db8:1::/64", 8)).ok());  // other device: nothing
    CHECK(manager.routes.size() == 1);
    Route wrong_gateway = r;
    wrong_gateway.gateway = parse_address("fe80::2");
    CHECK(manager.remove(wrong_gateway).ok());
    CHECK(manager.routes.size() == 1);

    CHECK(manager.remove(route("2001:db8:1::/64", 0)).ok());  // any device
    CHECK(manager.routes.empty());
}

TEST_CASE("FakeRouteManager keeps rules and ip6mr rules as sets", "[common][route]") {
    FakeRouteManager manager;
    Rule rule{prefix("2001:db8:1::7/64"), 100, 1000, ""};
    MulticastRule multicast_rule{"pm6-1a2b3c4d", "", 5, 1000};
    CHECK(manager.add(rule).ok());
    CHECK(manager.add(rule).ok());
    CHECK(manager.add(multicast_rule).ok());
    CHECK(manager.add(multicast_rule).ok());
    REQUIRE(manager.rules.size() == 1);
    CHECK(manager.rules.begin()->source == prefix("2001:db8:1::/64"));
    CHECK(manager.multicast_rules == std::set<MulticastRule>{multicast_rule});

    Rule other_priority = rule;
    other_priority.priority = 1001;
    CHECK(manager.add(other_priority).ok());
    CHECK(manager.rules.size() == 2);

    CHECK(manager.remove(rule).ok());
    CHECK(manager.remove(rule).ok());
    CHECK(manager.remove(multicast_rule).ok());
    CHECK(manager.rules.size() == 1);
    CHECK(manager.multicast_rules.empty());
}

TEST_CASE("FakeRouteManager answers one status per request, in order, in one batch",
          "[common][route]") {
    FakeRouteManager manager;
    std::vector<RouteRequest> batch{
        {RouteOp::kAdd, route("2001:db8:1::/64", 7)},
        {RouteOp::kAdd, Rule{prefix("2001:db8:1::/64"), 100, 1000, ""}},
        {RouteOp::kDelete, route("2001:db8:2::/64", 7)},
        {RouteOp::kAdd, MulticastRule{"", "veth1", 6, 900}},
    };
    const auto results = manager.apply(batch);
    REQUIRE(results.size() == 4);
    for (const Status& s : results) CHECK(s.ok());
    CHECK(manager.batches == 1);
    CHECK(manager.requests.size() == 4);
    CHECK(manager.routes.size() == 1);
    CHECK(manager.rules.size() == 1);
    CHECK(manager.multicast_rules.size() == 1);
}

TEST_CASE("FakeRouteManager fail_with fails every request and changes nothing", "[common][route]") {
    FakeRouteManager manager;
    CHECK(manager.add(route("2001:db8:1::/64", 7)).ok());
    manager.fail_with = Error{ENODEV, "adding route: No such device"};
    const std::vector<RouteRequest> batch{{RouteOp::kAdd, route("2001:db8:2::/64", 7)},
                                          {RouteOp::kDelete, route("2001:db8:1::/64", 7)}};
    const auto results = manager.apply(batch);
    REQUIRE(results.size() == 2);
    for (const Status& s : results) {
        REQUIRE_FALSE(s.ok());
        CHECK(s.error().code == ENODEV);
    }
    CHECK(manager.routes == std::set<Route>{route("2001:db8:1::/64", 7)});
    CHECK(manager.requests.size() == 3);  // failed requests are recorded too
    CHECK_FALSE(manager.flush_owned().ok());

    manager.fail_with.reset();
    CHECK(manager.add(route("2001:db8:2::/64", 7)).ok());
    CHECK(manager.routes.size() == 2);
}

TEST_CASE("apply_or_undo: a refused request undoes the batch's own requests that went in, keeps the shared "
          "ones, and says each status", "[common][route]") {
    FakeRouteManager m;
    m.fail_if = [](const RouteRequest& r) -> std::optional<Error> {
        const auto* x = std::get_if<Route>(&r.object);
        if (x && x->destination == prefix("2001:db8:3::/64")) return Error{22, "Invalid argument"};
        return std::nullopt;
    };
    const Rule shared{prefix("::/0"), 1000, 1000, ""};
    const std::vector<RouteRequest> batch{{RouteOp::kAdd, shared},
                                          {RouteOp::kAdd, route("2001:db8:1::/64", 7)},
                                          {RouteOp::kDelete, route("2001:db8:9::/64", 7)},
                                          {RouteOp::kAdd, route("2001:db8:3::/64", 7)}};
    m.routes.insert(route("2001:db8:9::/64", 7));
    const auto results = apply_or_undo(m, batch, 1);
    REQUIRE(results.size() == 4);
    CHECK(results[0].ok());
    CHECK(results[1].ok());
    CHECK(results[2].ok());
    CHECK_FALSE(results[3].ok());
    CHECK(m.rules == std::set<Rule>{shared});  // shared: stays
    CHECK(m.routes.empty());                   // the add undone, the delete stays done
    CHECK(m.batches == 2);

    SECTION("all in: one batch, nothing undone") {
        m.fail_if = nullptr;
        CHECK(apply_or_undo(m, std::span(batch).first(2)).size() == 2);
        CHECK(m.batches == 3);
        CHECK(m.routes.size() == 1);
    }
    SECTION("a caller's own undo: a replaced route goes back where it was") {
        m.routes.insert(route("2001:db8:1::/64", 7));
        const std::vector<RouteRequest> move{{RouteOp::kAdd, route("2001:db8:1::/64", 8)},
                                             {RouteOp::kAdd, route("2001:db8:3::/64", 8)}};
        const auto back = [](std::size_t, const RouteRequest& r) -> std::optional<RouteRequest> {
            Route old = std::get<Route>(r.object);
            old.ifindex = 7;
            return RouteRequest{RouteOp::kAdd, old};
        };
        const auto moved = apply_or_undo(m, move, 0, back);
        CHECK(moved[0].ok());
        CHECK_FALSE(moved[1].ok());
        CHECK(m.routes == std::set<Route>{route("2001:db8:1::/64", 7)});
    }
}

TEST_CASE("FakeRouteManager flush_owned removes everything and counts it", "[common][route]") {
    FakeRouteManager manager;
    CHECK(manager.add(route("2001:db8:1::/64", 7)).ok());
    CHECK(manager.add(route("2001:db8:2::/64", 7, 100)).ok());
    CHECK(manager.add(Rule{prefix("2001:db8:1::/64"), 100, 1000, ""}).ok());
    CHECK(manager.add(MulticastRule{"veth1", "", 6, 900}).ok());
    auto removed = manager.flush_owned();
    REQUIRE(removed.ok());
    CHECK(*removed == 4);
    CHECK(manager.routes.empty());
    CHECK(manager.rules.empty());
    CHECK(manager.multicast_rules.empty());
    removed = manager.flush_owned();
    REQUIRE(removed.ok());
    CHECK(*removed == 0);
}

TEST_CASE("describe names the operation, the object, its device and table", "[common][route]") {
    Route r = route("2001:db8:1::/64", 12, 100);
    CHECK(describe({RouteOp::kAdd, r}, [](int) { return std::string("pm6-1a2b"); }) ==
          "adding route 2001:db8:1::/64 dev pm6-1a2b table 100");
    r.gateway = parse_address("fe80::1");
    r.metric = 10;
    CHECK(describe({RouteOp::kDelete, r}) ==
          "deleting route 2001:db8:1::/64 via fe80::1 dev #12 table 100 metric 10");
    CHECK(describe({RouteOp::kAdd, Rule{prefix("2001:db8:1::/64"), 100, 1000, "veth3"}}) ==
          "adding rule from 2001:db8:1::/64 iif veth3 lookup 100 priority 1000");
    CHECK(describe({RouteOp::kAdd, Rule{prefix("::/0"), 254, 5, ""}}) ==
          "adding rule from all lookup 254 priority 5");
    CHECK(describe({RouteOp::kDelete, MulticastRule{"pm6-1", "veth1", 6, 900}}) ==
          "deleting ip6mr rule iif pm6-1 oif veth1 lookup 6 priority 900");
}

namespace {

struct Recorder {
    std::vector<LinkEvent> events;
    LinkMonitor::Handler handler() {
        return [this](const LinkEvent& e) { events.push_back(e); };
    }
    std::vector<LinkEventType> types() const {
        std::vector<LinkEventType> out;
        for (const auto& e : events) out.push_back(e.type);
        return out;
    }
};

Link link(int ifindex, const char* name, bool running) {
    Link l;
    l.ifindex = ifindex;
    l.name = name;
    l.mac = {0x02, 0, 0, 0, 0, static_cast<std::uint8_t>(ifindex)};
    l.up = running;
    l.running = running;
    l.mtu = 1500;
    l.kind = "veth";
    return l;
}

using T = LinkEventType;

}  // namespace

TEST_CASE("FakeLinkMonitor announces a new link, then up when it is running", "[common][link]") {
    FakeLinkMonitor monitor;
    Recorder recorder;
    monitor.set_handler(recorder.handler());
    monitor.add_link(link(3, "veth3", false));
    monitor.add_link(link(4, "veth4", true));
    CHECK(recorder.types() == std::vector<T>{T::kNew, T::kNew, T::kUp});
    CHECK(recorder.events[2].link.name == "veth4");
    CHECK(monitor.links().size() == 2);
    REQUIRE(monitor.find("veth4"));
    CHECK(monitor.find("veth4")->ifindex == 4);
    REQUIRE(monitor.find(3));
    CHECK(monitor.find(3)->name == "veth3");
    CHECK_FALSE(monitor.find("veth9"));
    CHECK_FALSE(monitor.find(9));
}

TEST_CASE("FakeLinkMonitor reports up and down only when running changes", "[common][link]") {
    FakeLinkMonitor monitor;
    Recorder recorder;
    monitor.set_handler(recorder.handler());
    monitor.add_link(link(3, "veth3", false));
    monitor.set_running(3, true);
    monitor.set_running(3, true);
    monitor.set_running(3, false);
    monitor.set_running(3, false);
    monitor.set_running(99, true);  // unknown: nothing
    CHECK(recorder.types() == std::vector<T>{T::kNew, T::kUp, T::kDown});
    CHECK(recorder.events[1].link.running);
    CHECK(recorder.events[1].link.up);
    CHECK_FALSE(recorder.events[2].link.running);
    CHECK_FALSE(monitor.find(3)->running);

    // add_link of a known ifindex updates it, like a netlink RTM_NEWLINK.
    Link renamed = link(3, "access0", true);
    monitor.add_link(renamed);
    CHECK(recorder.types() == std::vector<T>{T::kNew, T::kUp, T::kDown, T::kUp});
    CHECK(monitor.find(3)->name == "access0");
    CHECK(monitor.links().size() == 1);
}

TEST_CASE("FakeLinkMonitor removing a link reports deleted and forgets its addresses",
          "[common][link]") {
    FakeLinkMonitor monitor;
    Recorder recorder;
    monitor.set_handler(recorder.handler());
    monitor.add_link(link(3, "veth3", true));
    monitor.add_address({3, prefix("2001:db8:1::1/64")});
    monitor.add_address({3, prefix("2001:db8:1::1/64")});
    monitor.add_address({3, prefix("fe80::1/64")});
    monitor.add_address({4, prefix("2001:db8:2::1/64")});
    CHECK(monitor.addresses(3).size() == 2);
    monitor.remove_address({3, prefix("fe80::1/64")});
    CHECK(monitor.addresses(3) == std::vector<InterfaceAddress>{{3, prefix("2001:db8:1::1/64")}});

    monitor.remove_link(3);
    monitor.remove_link(3);
    CHECK(recorder.types() == std::vector<T>{T::kNew, T::kUp, T::kDeleted});
    CHECK(recorder.events.back().link.name == "veth3");
    CHECK(monitor.addresses(3).empty());
    CHECK(monitor.addresses(4).size() == 1);
    CHECK(monitor.links().empty());
}

TEST_CASE("FakeLinkMonitor without a handler only keeps the table", "[common][link]") {
    FakeLinkMonitor monitor;
    monitor.add_link(link(3, "veth3", true));
    monitor.set_running(3, false);
    CHECK(monitor.links().size() == 1);
}

TEST_CASE("Link events have names for logs", "[common][link]") {
    CHECK(to_string(LinkEventType::kNew) == "new");
    CHECK(to_string(LinkEventType::kUp) == "up");
    CHECK(to_string(LinkEventType::kDown) == "down");
    CHECK(to_string(LinkEventType::kDeleted) == "deleted");
}
