// NetlinkRouteManager, NetlinkLinkMonitor and the kernel LinkConfigurator's
// neighbour flush against the real kernel, each test case in a fresh private
// network namespace (see netns_netlink_main.cpp). What the managers did is
// read back independently with iproute2's JSON output (`ip -6 -j route show
// table all proto 213`, `ip -6 -j rule show`, `ip -6 -j mrule show`,
// `ip -6 -j neigh show`); link events are waited for through
// EventLoop::run_once with a deadline, never by sleeping.
//
// Devices: "dummy" when the kernel has it, else "ifb" (also a one-ended
// device that is up with carrier), so the tests run on minimal kernels.
//
// Threading: single-threaded.
#include <catch2/catch.hpp>

#include <net/if.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "pmip/common/clock.hpp"
#include "pmip/common/event_loop.hpp"
#include "pmip/common/link_config.hpp"
#include "pmip/common/link_monitor.hpp"
#include "pmip/common/mh_socket.hpp"
#include "pmip/mh/codec.hpp"
#include "pmip/common/route_manager.hpp"

using namespace pmip;
using namespace std::chrono_literals;

namespace {

// Moves this process into a new, empty network namespace; the previous one
// (and everything a failed test left in it) goes away.
void fresh_namespace() {
    REQUIRE(::unshare(CLONE_NEWNET) == 0);
    REQUIRE(std::system("ip link set lo up") == 0);
}

// PMIP_TEST_TIME_SCALE (tests/netns/lib.sh): deadlines are multiplied by it.
int time_scale() {
    const char* text = std::getenv("PMIP_TEST_TIME_SCALE");
    const int scale = text ? std::atoi(text) : 1;
    return scale >= 1 ? scale : 1;
}

int sh(const std::string& command) {
    return std::system((command + " >/dev/null 2>&1").c_str());
}

std::string capture(const std::string& command) {
    std::string out;
    FILE* pipe = ::popen(command.c_str(), "r");
    REQUIRE(pipe != nullptr);
    char buffer[4096];
    std::size_t n = 0;
    while ((n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0) out.append(buffer, n);
    ::pclose(pipe);
    return out;
}

nlohmann::json json_of(const std::string& command) {
    const std::string text = capture(command);
    INFO(command << " printed: " << text);
    auto parsed = nlohmann::json::parse(text, nullptr, false);
    REQUIRE_FALSE(parsed.is_discarded());
    return parsed;
}

// A one-ended device that is up, with carrier; returns its ifindex.
int make_device(const std::string& name) {
    if (sh("ip link add " + name + " type dummy") != 0) {
        REQUIRE(sh("ip link add " + name + " type ifb") == 0);
    }
    REQUIRE(sh("ip link set " + name + " up") == 0);
    const int ifindex = static_cast<int>(::if_nametoindex(name.c_str()));
    REQUIRE(ifindex > 0);
    return ifindex;
}

Ipv6Prefix prefix(const std::string& text) {
    auto p = parse_prefix(text);
    REQUIRE(p);
    return *p;
}

Route route(const std::string& destination, int ifindex, std::uint32_t table = kMainTable) {
    Route r;
    r.destination = prefix(destination);
    r.ifindex = ifindex;
    r.table = table;
    return r;
}

std::unique_ptr<RouteManager> route_manager(std::uint8_t protocol = kDefaultProtocol) {
    auto manager = make_netlink_route_manager(protocol);
    if (!manager)
        FAIL("make_netlink_route_manager: " << manager.error().what);
    return std::move(*manager);
}

// A route as iproute2 shows it.
struct ShownRoute {
    std::string destination, device, table, gateway;
    unsigned metric = 0;
    auto operator<=>(const ShownRoute&) const = default;
};

std::ostream& operator<<(std::ostream& os, const ShownRoute& r) {
    return os << r.destination << " dev " << r.device << " table " << r.table << " via '"
              << r.gateway << "' metric " << r.metric;
}

std::set<ShownRoute> shown_routes(const std::string& filter = "proto 213") {
    std::set<ShownRoute> routes;
    for (const auto& r : json_of("ip -6 -j route show table all " + filter)) {
        ShownRoute shown;
        shown.destination = r.value("dst", "");
        shown.device = r.value("dev", "");
        shown.table = r.value("table", "main");
        shown.gateway = r.value("gateway", "");
        shown.metric = r.value("metric", 0u);
        routes.insert(shown);
    }
    return routes;
}

// Rules (or ip6mr rules) with our protocol, as "priority:from:iif:oif:table".
std::multiset<std::string> shown_rules(const std::string& command) {
    std::multiset<std::string> rules;
    for (const auto& r : json_of(command)) {
        if (r.value("protocol", "") != "213")
            continue;
        std::string from = r.value("src", "");
        if (r.contains("srclen"))
            from += "/" + std::to_string(r["srclen"].get<int>());
        rules.insert(std::to_string(r.value("priority", 0)) + ":" + from + ":" +
                     r.value("iif", "") + ":" + r.value("oif", "") + ":" + r.value("table", ""));
    }
    return rules;
}

std::multiset<std::string> unicast_rules() {
    return shown_rules("ip -6 -j rule show");
}
std::multiset<std::string> multicast_rules() {
    return shown_rules("ip -6 -j mrule show");
}

// Sets SO_RCVBUF(FORCE) of every AF_NETLINK socket of this process; returns
// how many there were.
int shrink_netlink_receive_buffers(int bytes) {
    int count = 0;
    for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) {
        const int fd = std::stoi(entry.path().filename().string());
        int domain = 0;
        socklen_t length = sizeof domain;
        if (::getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &length) != 0)
            continue;
        if (domain != AF_NETLINK)
            continue;
        REQUIRE(::setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &bytes, sizeof bytes) == 0);
        ++count;
    }
    return count;
}

void require_all_ok(const std::vector<Status>& results) {
    for (std::size_t i = 0; i < results.size(); ++i) {
        INFO("request " << i << ": " << (results[i].ok() ? "" : results[i].error().what));
        REQUIRE(results[i].ok());
    }
}

}  // namespace

TEST_CASE("Routes are installed in the main table and in numbered tables", "[netns][route]") {
    fresh_namespace();
    const int d0 = make_device("d0");
    auto manager = route_manager();

    Route main_route = route("2001:db8:1::/64", d0);
    Route table_route = route("2001:db8:2::/64", d0, 100);
    table_route.gateway = parse_address("fe80::1");
    table_route.metric = 10;
    Route big_table_route = route("2001:db8:3::/64", d0, 100000);
    const std::vector<RouteRequest> batch{{RouteOp::kAdd, main_route},
                                          {RouteOp::kAdd, table_route},
                                          {RouteOp::kAdd, big_table_route}};
    require_all_ok(manager->apply(batch));

    CHECK(shown_routes() == std::set<ShownRoute>{
                                {"2001:db8:1::/64", "d0", "main", "", 1024},
                                {"2001:db8:2::/64", "d0", "100", "fe80::1", 10},
                                {"2001:db8:3::/64", "d0", "100000", "", 1024},
                            });

    CHECK(manager->remove(table_route).ok());
    CHECK(manager->remove(main_route).ok());
    CHECK(shown_routes() == std::set<ShownRoute>{{"2001:db8:3::/64", "d0", "100000", "", 1024}});
    CHECK(manager->remove(big_table_route).ok());
    CHECK(shown_routes().empty());
}

TEST_CASE("Adding a route again replaces its device (handover to another tunnel)",
          "[netns][route]") {
    fresh_namespace();
    const int d0 = make_device("d0");
    const int d1 = make_device("d1");
    auto manager = route_manager();
    CHECK(manager->add(route("2001:db8:1::/64", d0, 100)).ok());
    CHECK(manager->add(route("2001:db8:1::/64", d1, 100)).ok());
    CHECK(shown_routes() == std::set<ShownRoute>{{"2001:db8:1::/64", "d1", "100", "", 1024}});
    // Deleting through the old device finds nothing, and that is success.
    CHECK(manager->remove(route("2001:db8:1::/64", d0, 100)).ok());
    CHECK(shown_routes().size() == 1);
}

TEST_CASE("Rules send traffic from a prefix to a table", "[netns][route]") {
    fresh_namespace();
    make_device("d0");
    auto manager = route_manager();
    const Rule from_prefix{prefix("2001:db8:1::/64"), 100, 1000, ""};
    const Rule from_prefix_on_link{prefix("2001:db8:2::/64"), 100000, 1001, "d0"};
    CHECK(manager->add(from_prefix).ok());
    CHECK(manager->add(from_prefix_on_link).ok());
    CHECK(unicast_rules() == std::multiset<std::string>{"1000:2001:db8:1::/64:::100",
                                                        "1001:2001:db8:2::/64:d0::100000"});
    CHECK(manager->remove(from_prefix).ok());
    CHECK(manager->remove(from_prefix_on_link).ok());
    CHECK(unicast_rules().empty());
}

TEST_CASE("ip6mr rules steer interfaces to a multicast routing table", "[netns][route][ip6mr]") {
    fresh_namespace();
    make_device("d0");
    auto manager = route_manager();
    const MulticastRule by_input{"d0", "", 5, 900};
    const MulticastRule by_output{"", "d0", 6, 901};
    CHECK(manager->add(by_input).ok());
    CHECK(manager->add(by_output).ok());
    CHECK(multicast_rules() == std::multiset<std::string>{"900:all:d0::5", "901:all::d0:6"});
    CHECK(manager->remove(by_input).ok());
    CHECK(manager->remove(by_output).ok());
    CHECK(multicast_rules().empty());
}

TEST_CASE("Adding twice and deleting twice succeed and leave one object or none",
          "[netns][route]") {
    fresh_namespace();
    const int d0 = make_device("d0");
    auto manager = route_manager();
    const Route r = route("2001:db8:1::/64", d0, 100);
    const Rule rule{prefix("2001:db8:1::/64"), 100, 1000, ""};
    for (int i = 0; i < 2; ++i) {
        CHECK(manager->add(r).ok());
        CHECK(manager->add(rule).ok());
    }
    CHECK(shown_routes().size() == 1);
    CHECK(unicast_rules().size() == 1);
    for (int i = 0; i < 2; ++i) {
        const Status route_deleted = manager->remove(r);
        INFO((route_deleted.ok() ? "" : route_deleted.error().what));
        CHECK(route_deleted.ok());
        CHECK(manager->remove(rule).ok());
    }
    CHECK(shown_routes().empty());
    CHECK(unicast_rules().empty());
}

TEST_CASE("An ip6mr rule added twice and deleted twice leaves one, then none",
          "[netns][route][ip6mr]") {
    fresh_namespace();
    make_device("d0");
    auto manager = route_manager();
    const MulticastRule multicast_rule{"d0", "", 5, 900};
    for (int i = 0; i < 2; ++i) CHECK(manager->add(multicast_rule).ok());
    CHECK(multicast_rules().size() == 1);
    for (int i = 0; i < 2; ++i) CHECK(manager->remove(multicast_rule).ok());
    CHECK(multicast_rules().empty());
}

TEST_CASE("In a batch of 1000 exactly the request naming a missing device fails",
          "[netns][route]") {
    fresh_namespace();
    const int d0 = make_device("d0");
    auto manager = route_manager();
    constexpr int kMissingIfindex = 99999;
    std::vector<RouteRequest> batch;
    for (int i = 0; i < 1000; ++i) {
        Route r =
            route("2001:db8:" + std::to_string(i) + "::/64", i == 500 ? kMissingIfindex : d0, 100);
        batch.push_back({RouteOp::kAdd, r});
    }
    const auto results = manager->apply(batch);
    REQUIRE(results.size() == 1000);
    for (int i = 0; i < 1000; ++i) {
        if (i == 500)
            continue;
        INFO("request " << i << ": " << (results[i].ok() ? "" : results[i].error().what));
        CHECK(results[i].ok());
    }
    REQUIRE_FALSE(results[500].ok());
    CHECK(results[500].error().code == ENODEV);
    CHECK_THAT(results[500].error().what,
               Catch::StartsWith("adding route 2001:db8:500::/64 dev ifindex 99999 table 100: "
                                 "No such device"));
    CHECK(shown_routes().size() == 999);
}

TEST_CASE("A batch in which every request fails reports every failure", "[netns][route]") {
    fresh_namespace();
    make_device("d0");
    auto manager = route_manager();
    const bool shrink = GENERATE(false, true);
    // Fault injection: shrink the receive buffer of every netlink socket of
    // this process (only the manager's exists now) behind the manager's back,
    // so that the kernel drops error answers (ENOBUFS). The manager must send
    // the unanswered requests again, never take a lost answer for success.
    if (shrink)
        REQUIRE(shrink_netlink_receive_buffers(4096) >= 1);
    INFO("receive buffer shrunk: " << shrink);
    constexpr int kRequests = 30000;
    std::vector<RouteRequest> batch;
    for (int i = 0; i < kRequests; ++i) {
        char destination[64];
        std::snprintf(destination, sizeof destination, "2001:db8:%x:%x::/64", i / 65536, i % 65536);
        Route r = route(destination, 99999, 100);
        batch.push_back({RouteOp::kAdd, r});
    }
    const auto results = manager->apply(batch);
    REQUIRE(results.size() == kRequests);
    int no_such_device = 0;
    for (const Status& s : results) {
        if (!s.ok() && s.error().code == ENODEV)
            ++no_such_device;
    }
    CHECK(no_such_device == kRequests);
    CHECK(shown_routes().empty());
}

TEST_CASE("Errors name the object and the device", "[netns][route]") {
    fresh_namespace();
    make_device("d0");
    REQUIRE(sh("ip link add d1 type ifb") == 0);  // exists but is down
    const int d1 = static_cast<int>(::if_nametoindex("d1"));
    auto manager = route_manager();
    const Status s = manager->add(route("2001:db8:1::/64", d1, 100));
    REQUIRE_FALSE(s.ok());
    CHECK_THAT(s.error().what,
               Catch::StartsWith("adding route 2001:db8:1::/64 dev d1 table 100: "));
}

TEST_CASE("Source-specific routes: one table holds a default per source prefix, each taken only by "
          "packets from its prefix; added twice, flushed, deleted (magd's uplink source routes)",
          "[netns][route]") {
    fresh_namespace();
    const int d0 = make_device("d0");
    const int d1 = make_device("d1");
    auto manager = route_manager();
    Route from1 = route("::/0", d0, 1000), from2 = route("::/0", d1, 1000);
    from1.source = prefix("2001:db8:1::/64");
    from2.source = prefix("2001:db8:2::5/64");  // written canonical
    const Rule uplink{prefix("::/0"), 1000, 1000, ""};
    for (int i = 0; i < 2; ++i) {
        INFO("round " << i);
        const auto results = manager->apply(std::vector<RouteRequest>{
            {RouteOp::kAdd, from1}, {RouteOp::kAdd, from2}, {RouteOp::kAdd, uplink}});
        require_all_ok(results);
    }
    std::set<std::string> shown;
    for (const auto& r : json_of("ip -6 -j route show table 1000 proto 213"))
        shown.insert(r.value("dst", "") + " from " + r.value("from", "") + " dev " + r.value("dev", ""));
    CHECK(shown == std::set<std::string>{"default from 2001:db8:1::/64 dev d0", "default from 2001:db8:2::/64 dev d1"});
    // The kernel's own lookup: by source, and nothing for another source.
    CHECK(capture("ip -6 route get 2001:db8:ffff::1 from 2001:db8:1::9 2>&1").find("dev d0 table 1000") !=
          std::string::npos);
    CHECK(capture("ip -6 route get 2001:db8:ffff::1 from 2001:db8:2::9 2>&1").find("dev d1 table 1000") !=
          std::string::npos);
    CHECK(capture("ip -6 route get 2001:db8:ffff::1 from 2001:db8:3::9 2>&1").find("table 1000") ==
          std::string::npos);
    // Deleting names the source: the other prefix's route stays.
    CHECK(manager->remove(from1).ok());
    CHECK(manager->remove(from1).ok());
    CHECK(json_of("ip -6 -j route show table 1000 proto 213").size() == 1);
    auto removed = manager->flush_owned();
    REQUIRE(removed.ok());
    CHECK(*removed == 2);  // the route and the rule
    CHECK(shown_routes().empty());
    CHECK(unicast_rules().empty());
}

TEST_CASE("flush_owned removes exactly our routes and rules", "[netns][route]") {
    fresh_namespace();
    const int d0 = make_device("d0");
    auto manager = route_manager();
    auto other = route_manager(214);
    std::vector<RouteRequest> ours;
    for (int i = 0; i < 50; ++i) {
        ours.push_back({RouteOp::kAdd, route("2001:db8:" + std::to_string(i) + "::/64", d0,
                                             i % 2 ? kMainTable : 100)});
    }
    ours.push_back({RouteOp::kAdd, route("2001:db8:100::/64", d0, 100000)});
    ours.push_back({RouteOp::kAdd, Rule{prefix("2001:db8:1::/64"), 100, 1000, ""}});
    ours.push_back({RouteOp::kAdd, Rule{prefix("2001:db8:2::/64"), 100, 1001, "d0"}});
    require_all_ok(manager->apply(ours));
    // Not ours: another protocol number, a static route, an administrator's rule.
    CHECK(other->add(route("2001:db8:aaaa::/64", d0, 100)).ok());
    REQUIRE(sh("ip -6 route add 2001:db8:ffff::/64 dev d0 proto static") == 0);
    REQUIRE(sh("ip -6 rule add from 2001:db8:ffff::/64 table 200 priority 2000") == 0);

    auto removed = manager->flush_owned();
    REQUIRE(removed.ok());
    CHECK(*removed == 53);
    CHECK(shown_routes().empty());
    CHECK(unicast_rules().empty());
    CHECK(shown_routes("proto 214") ==
          std::set<ShownRoute>{{"2001:db8:aaaa::/64", "d0", "100", "", 1024}});
    CHECK(shown_routes("proto static") ==
          std::set<ShownRoute>{{"2001:db8:ffff::/64", "d0", "main", "", 1024}});
    CHECK(capture("ip -6 rule show priority 2000").find("2001:db8:ffff::/64") != std::string::npos);

    removed = manager->flush_owned();
    REQUIRE(removed.ok());
    CHECK(*removed == 0);
}

// ip6mr rules need a kernel with IPv6 multicast routing: these cases run in
// netns_netlink_ip6mr, which reports SKIPPED where the kernel has none.
TEST_CASE("flush_owned removes exactly our ip6mr rules", "[netns][route][ip6mr]") {
    fresh_namespace();
    make_device("d0");
    auto manager = route_manager();
    auto other = route_manager(214);
    const std::vector<RouteRequest> ours{{RouteOp::kAdd, MulticastRule{"d0", "", 5, 900}},
                                         {RouteOp::kAdd, MulticastRule{"", "d0", 6, 901}}};
    require_all_ok(manager->apply(ours));
    REQUIRE(sh("ip -6 mrule add iif d0 table 9 priority 2000") == 0);

    auto removed = manager->flush_owned();
    REQUIRE(removed.ok());
    CHECK(*removed == 2);
    CHECK(multicast_rules().empty());
    CHECK(capture("ip -6 mrule show").find("lookup 9") != std::string::npos);
    removed = manager->flush_owned();
    REQUIRE(removed.ok());
    CHECK(*removed == 0);
}

namespace {

struct Monitored {
    SteadyClock clock;
    std::unique_ptr<EventLoop> loop;
    std::unique_ptr<LinkMonitor> monitor;
    std::vector<LinkEvent> events;

    explicit Monitored(int receive_buffer_bytes = 4 << 20) {
        auto created = EventLoop::create(clock);
        if (!created)
            FAIL("EventLoop::create: " << created.error().what);
        loop = std::move(*created);
        auto made = make_netlink_link_monitor(*loop, receive_buffer_bytes);
        if (!made)
            FAIL("make_netlink_link_monitor: " << made.error().what);
        monitor = std::move(*made);
        monitor->set_handler([this](const LinkEvent& e) { events.push_back(e); });
    }

    // Runs the loop until `done` holds or five seconds pass.
    template <typename Done>
    bool run_until(Done done) {
        // 5 s, times PMIP_TEST_TIME_SCALE (the stock-kernel VM runs under TCG).
        const auto deadline = std::chrono::steady_clock::now() + 5s * time_scale();
        while (!done()) {
            if (std::chrono::steady_clock::now() > deadline)
                return false;
            REQUIRE(loop->run_once(50).ok());
        }
        return true;
    }

    std::vector<LinkEventType> types_of(const std::string& name) const {
        std::vector<LinkEventType> out;
        for (const auto& e : events) {
            if (e.link.name == name)
                out.push_back(e.type);
        }
        return out;
    }
};

using T = LinkEventType;

}  // namespace

TEST_CASE("Link monitor reports a veth new, up, down and deleted, in order", "[netns][link]") {
    fresh_namespace();
    Monitored m;
    REQUIRE(m.monitor->find("lo"));  // from the initial dump

    REQUIRE(sh("ip link add va type veth peer name vb") == 0);
    CHECK(m.run_until([&] { return m.types_of("va").size() >= 1; }));
    REQUIRE(m.monitor->find("va"));
    const Link va = *m.monitor->find("va");
    CHECK(va.kind == "veth");
    CHECK(va.mac.size() == 6);
    CHECK(va.mtu == 1500);
    CHECK_FALSE(va.running);
    CHECK(m.monitor->find(va.ifindex) == va);

    REQUIRE(sh("ip link set va up") == 0);
    REQUIRE(sh("ip link set vb up") == 0);  // carrier on va
    CHECK(m.run_until([&] { return m.types_of("va").size() >= 2; }));
    CHECK(m.monitor->find("va")->running);
    REQUIRE(sh("ip link set va down") == 0);
    CHECK(m.run_until([&] { return m.types_of("va").size() >= 3; }));
    CHECK_FALSE(m.monitor->find("va")->running);
    REQUIRE(sh("ip link del va") == 0);
    CHECK(
        m.run_until([&] { return m.types_of("va").size() >= 4 && m.types_of("vb").size() >= 4; }));

    CHECK(m.types_of("va") == std::vector<T>{T::kNew, T::kUp, T::kDown, T::kDeleted});
    // vb lost its carrier when va went down, and went down when va was deleted.
    CHECK(m.types_of("vb") == std::vector<T>{T::kNew, T::kUp, T::kDown, T::kDeleted});
    CHECK_FALSE(m.monitor->find("va"));
    CHECK_FALSE(m.monitor->find(va.ifindex));
}

TEST_CASE("Link monitor tracks IPv6 addresses per interface", "[netns][link]") {
    fresh_namespace();
    make_device("d0");
    REQUIRE(sh("ip -6 addr add 2001:db8:1::1/64 dev d0 nodad") == 0);
    Monitored m;
    const int d0 = m.monitor->find("d0")->ifindex;
    const InterfaceAddress first{d0, prefix("2001:db8:1::1/64")};
    const InterfaceAddress second{d0, prefix("2001:db8:2::1/80")};
    const auto has = [&](const InterfaceAddress& a) {
        const auto all = m.monitor->addresses(d0);
        return std::find(all.begin(), all.end(), a) != all.end();
    };
    CHECK(has(first));  // from the initial dump

    REQUIRE(sh("ip -6 addr add 2001:db8:2::1/80 dev d0 nodad") == 0);
    CHECK(m.run_until([&] { return has(second); }));
    REQUIRE(sh("ip -6 addr del 2001:db8:1::1/64 dev d0") == 0);
    CHECK(m.run_until([&] { return !has(first); }));
    CHECK(has(second));
}

TEST_CASE("Link monitor reports a TUN device with its kind and no MAC", "[netns][link]") {
    fresh_namespace();
    Monitored m;
    REQUIRE(sh("ip tuntap add t0 mode tun") == 0);
    CHECK(m.run_until([&] { return !m.types_of("t0").empty(); }));
    REQUIRE(m.monitor->find("t0"));
    CHECK(m.monitor->find("t0")->kind == "tun");
    CHECK(m.monitor->find("t0")->mac.empty());
}

TEST_CASE("Link monitor resynchronises after the kernel drops events (ENOBUFS)", "[netns][link]") {
    fresh_namespace();
    Monitored m(1);  // the smallest receive buffer the kernel allows
    // Many events while the loop does not read: the socket overruns.
    REQUIRE(sh("for i in $(seq 1 30); do ip link add xa$i type veth peer name xb$i; done") == 0);
    REQUIRE(sh("ip link set xa1 up && ip link set xb1 up") == 0);
    const auto all_seen = [&] {
        for (int i = 1; i <= 30; ++i) {
            if (!m.monitor->find("xa" + std::to_string(i)))
                return false;
            if (!m.monitor->find("xb" + std::to_string(i)))
                return false;
        }
        return m.monitor->find("xa1")->running;
    };
    CHECK(m.run_until(all_seen));
    for (int i = 1; i <= 30; ++i) {
        const std::string name = "xa" + std::to_string(i);
        INFO(name);
        const auto types = m.types_of(name);
        REQUIRE_FALSE(types.empty());
        CHECK(types.front() == T::kNew);
        CHECK(std::count(types.begin(), types.end(), T::kNew) == 1);
    }
    CHECK(m.types_of("xa1").back() == T::kUp);

    REQUIRE(sh("for i in $(seq 1 30); do ip link del xa$i; done") == 0);
    // What the kernel has in this namespace: lo, and the fallback devices
    // (ip6tnl0, ip6gre0, ...) of tunnel modules loaded earlier in the boot.
    std::set<std::string> kernel_links;
    for (const auto& l : json_of("ip -j link show")) kernel_links.insert(l["ifname"].get<std::string>());
    const auto monitor_links = [&] {
        std::set<std::string> names;
        for (const auto& link : m.monitor->links()) names.insert(link.name);
        return names;
    };
    CHECK(m.run_until([&] { return monitor_links() == kernel_links; }));
    CHECK(m.types_of("xa7").back() == T::kDeleted);
}

namespace {

// The neighbour entries of `device` as iproute2 shows them (NOARP and NONE
// ones hidden, as by default), as "address STATE".
std::multiset<std::string> shown_neighbours(const std::string& device) {
    std::multiset<std::string> entries;
    for (const auto& n : json_of("ip -6 -j neigh show dev " + device)) {
        const auto& state = n.value("state", nlohmann::json::array());
        entries.insert(n.value("dst", "") + " " +
                       (state.empty() ? std::string() : state[0].get<std::string>()));
    }
    return entries;
}

// Adds `count` STALE entries fd00::N:1.. on `device` in one `ip -batch`.
// extern_learn keeps them out of the neighbour table's garbage collection
// count (gc_thresh3, 1024 by default, shared by all namespaces), so that
// thousands fit; for a flush they are entries like any other.
void add_neighbours(const std::string& device, int count, int net) {
    const std::string file = "/tmp/pmip-netns-neigh-" + std::to_string(::getpid()) + ".batch";
    FILE* out = std::fopen(file.c_str(), "w");
    REQUIRE(out != nullptr);
    for (int i = 1; i <= count; ++i) {
        std::fprintf(out,
                     "neigh add fd00::%x:%x lladdr 02:00:00:00:00:01 dev %s nud stale "
                     "extern_learn\n",
                     net, i, device.c_str());
    }
    std::fclose(out);
    const int status = sh("ip -6 -batch " + file);
    std::remove(file.c_str());
    REQUIRE(status == 0);
}

int make_veth(const std::string& name) {
    REQUIRE(sh("ip link add " + name + " type veth peer name " + name + "p") == 0);
    REQUIRE(sh("ip link set " + name + " up && ip link set " + name + "p up") == 0);
    const int ifindex = static_cast<int>(::if_nametoindex(name.c_str()));
    REQUIRE(ifindex > 0);
    return ifindex;
}

}  // namespace

TEST_CASE("flush_neighbours removes exactly the device's entries, not other devices'",
          "[netns][neigh]") {
    fresh_namespace();
    const int acc = make_veth("acc0");
    make_veth("oth0");
    const int oth1_index = make_veth("oth1");
    // The device's own: two to go, a permanent one to stay.
    REQUIRE(sh("ip -6 neigh add fd00::1 lladdr 02:00:00:00:00:01 dev acc0 nud stale") == 0);
    REQUIRE(sh("ip -6 neigh add fd00::2 lladdr 02:00:00:00:00:02 dev acc0 nud reachable") == 0);
    REQUIRE(sh("ip -6 neigh add fd00::3 lladdr 02:00:00:00:00:03 dev acc0 nud permanent") == 0);
    // Many on other devices, some with the device's addresses: deletes name
    // the device, not only the address.
    add_neighbours("oth0", 2000, 1);
    add_neighbours("oth1", 1000, 2);
    add_neighbours("acc0p", 500, 3);
    REQUIRE(sh("ip -6 neigh add fd00::1 lladdr 02:00:00:00:00:09 dev oth0 nud stale") == 0);
    REQUIRE(sh("ip -6 neigh add fd00::2 lladdr 02:00:00:00:00:09 dev oth1 nud stale") == 0);
    const auto oth0 = shown_neighbours("oth0");
    const auto oth1 = shown_neighbours("oth1");
    const auto accp = shown_neighbours("acc0p");
    REQUIRE(oth0.size() == 2001);
    REQUIRE(oth1.size() == 1001);
    REQUIRE(accp.size() == 500);

    auto config = make_kernel_link_configurator();
    const auto flushed = config->flush_neighbours(acc);
    if (!flushed)
        FAIL("flush_neighbours: " << flushed.error().what);
    CHECK(*flushed == 2);
    CHECK(shown_neighbours("acc0") == std::multiset<std::string>{"fd00::3 PERMANENT"});
    CHECK(shown_neighbours("oth0") == oth0);
    CHECK(shown_neighbours("oth1") == oth1);
    CHECK(shown_neighbours("acc0p") == accp);

    // Nothing left to flush; a device that is gone has nothing either.
    const auto again = config->flush_neighbours(acc);
    REQUIRE(again.ok());
    CHECK(*again == 0);
    REQUIRE(sh("ip link del oth1") == 0);
    const auto gone = config->flush_neighbours(oth1_index);
    REQUIRE(gone.ok());
    CHECK(*gone == 0);
    CHECK(shown_neighbours("oth0") == oth0);
}

// The MH socket under overload (lmad [binding] max-queue-delay-ms): packets
// that waited in the socket's queue longer than the bound are dropped before
// the handler and counted; later ones are read. On loopback, the socket
// sending to itself; the queue ages while the loop does not run.
TEST_CASE("MH socket: what waited longer than max-queue-delay is dropped and counted, the rest is read",
          "[netns][mh]") {
    fresh_namespace();
    SteadyClock clock;
    auto created = EventLoop::create(clock);
    REQUIRE(created);
    EventLoop& loop = **created;
    auto opened = MhSocket::open(loop);
    REQUIRE(opened);
    MhSocket& socket = **opened;
    const bool bounded = GENERATE(true, false);
    if (bounded) socket.set_max_queue_delay(std::chrono::milliseconds(100 * time_scale()));
    std::vector<std::uint16_t> read;
    socket.set_handler([&](const ReceivedPacket& p) {
        const auto parsed = mh::parse(p.mh);
        REQUIRE(std::holds_alternative<mh::Parsed>(parsed));
        read.push_back(std::get<mh::BindingUpdate>(std::get<mh::Parsed>(parsed).message).sequence);
    });
    const Ipv6Address lo = *parse_address("::1");
    const auto clock_deadline = [start = std::chrono::steady_clock::now()](int seconds) {
        return start + std::chrono::seconds(seconds);
    };
    const auto send = [&](std::uint16_t first, int count) {
        for (int i = 0; i < count; ++i) {
            mh::BindingUpdate pbu;
            pbu.sequence = static_cast<std::uint16_t>(first + i);
            pbu.flags = mh::bu_flag::kA | mh::bu_flag::kP;
            pbu.lifetime = 10;
            socket.send(lo, lo, pbu);
        }
    };
    // Receive timestamps are a global static key the kernel turns on in a
    // work item after the first SO_TIMESTAMPNS socket asks (lmad's socket is
    // open long before any load): a probe first, and time for the key.
    send(0, 1);
    std::this_thread::sleep_for(std::chrono::milliseconds(50 * time_scale()));
    while (read.empty() && std::chrono::steady_clock::now() < clock_deadline(2)) REQUIRE(loop.run_once(50).ok());
    REQUIRE(read == std::vector<std::uint16_t>{0});
    read.clear();
    send(1, 10);
    // The queue ages: three times the bound, scaled for slow machines.
    std::this_thread::sleep_for(std::chrono::milliseconds(300 * time_scale()));
    send(100, 5);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    const std::size_t expected = bounded ? 5 : 15;
    while (read.size() < expected && std::chrono::steady_clock::now() < deadline) REQUIRE(loop.run_once(50).ok());
    const auto counters = socket.counters();
    if (bounded) {
        CHECK(read == std::vector<std::uint16_t>{100, 101, 102, 103, 104});
        CHECK(counters["rx_shed_stale"] == 10);
    } else {
        CHECK(read.size() == 15);
        CHECK(counters["rx_shed_stale"] == 0);
    }
    CHECK(counters["rx_queue_overflows"] == 0);
    CHECK(counters["rx_packets"] == 16);
}
