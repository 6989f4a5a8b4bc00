// Heartbeat monitoring (RFC 5847) with a simulated clock.
#include <catch2/catch.hpp>

#include "pmip/common/heartbeat.hpp"

using namespace pmip;
using namespace std::chrono_literals;

namespace {

struct Fixture {
    SimulatedClock clock;
    TimerQueue timers{clock};
    std::vector<std::pair<Ipv6Address, std::uint32_t>> requests;
    std::vector<Ipv6Address> unreachable, reachable;
    std::vector<std::pair<std::uint32_t, std::uint32_t>> restarts;
    HeartbeatMonitor monitor{timers, HeartbeatConfig{30s, 3},
                             HeartbeatMonitor::Callbacks{
                                 [this](const Ipv6Address& p, std::uint32_t s) { requests.emplace_back(p, s); },
                                 [this](const Ipv6Address& p) { unreachable.push_back(p); },
                                 [this](const Ipv6Address& p) { reachable.push_back(p); },
                                 [this](const Ipv6Address&, std::uint32_t o, std::uint32_t n) {
                                     restarts.emplace_back(o, n);
                                 }}};
    void advance(Duration d) {
        clock.advance(d);
        timers.run_due();
    }
};

const Ipv6Address kPeer = *parse_address("2001:db8:100::11");

}  // namespace

TEST_CASE("Heartbeat requests go only to peers with bindings (RFC 5847 section 3)", "[heartbeat]") {
    Fixture f;
    f.advance(100s);
    CHECK(f.requests.empty());
    f.monitor.binding_added(kPeer);
    f.advance(30s);
    REQUIRE(f.requests.size() == 1);
    CHECK(f.requests[0].first == kPeer);
    f.monitor.binding_removed(kPeer);
    f.advance(100s);
    CHECK(f.requests.size() == 1);
    CHECK(f.timers.pending() == 0);
}

TEST_CASE("A peer is unreachable after more than MISSING_HEARTBEATS_ALLOWED misses (3.1)",
          "[heartbeat]") {
    Fixture f;
    f.monitor.binding_added(kPeer);
    f.advance(30s);  // request 1
    f.advance(30s);  // miss 1, request 2
    f.advance(30s);  // miss 2
    f.advance(30s);  // miss 3 (= allowed)
    CHECK(f.unreachable.empty());
    f.advance(30s);  // miss 4 > 3
    REQUIRE(f.unreachable.size() == 1);
    CHECK(f.monitor.peer(kPeer)->state == PeerState::kUnreachable);
    f.advance(30s);
    CHECK(f.unreachable.size() == 1);  // reported once
    // Any response resets the counter and makes it reachable.
    f.monitor.response_received(kPeer, f.requests.back().second, 7, false);
    CHECK(f.monitor.peer(kPeer)->missing == 0);
    CHECK(f.reachable.size() == 1);
}

TEST_CASE("Answered requests never count as misses", "[heartbeat]") {
    Fixture f;
    f.monitor.binding_added(kPeer);
    for (int i = 0; i < 20; ++i) {
        f.advance(30s);
        f.monitor.response_received(kPeer, f.requests.back().second, 1, false);
    }
    CHECK(f.unreachable.empty());
    CHECK(f.monitor.peer(kPeer)->missing == 0);
    CHECK(f.monitor.peer(kPeer)->requests_sent == 20);
    // Sequence numbers increase.
    CHECK(f.requests.back().second > f.requests.front().second);
}

TEST_CASE("A changed Restart Counter reports a peer restart, the first value is stored (3.2)",
          "[heartbeat]") {
    Fixture f;
    f.monitor.binding_added(kPeer);
    f.advance(30s);
    f.monitor.response_received(kPeer, f.requests.back().second, 5, false);
    CHECK(f.restarts.empty());
    f.advance(30s);
    f.monitor.response_received(kPeer, f.requests.back().second, 5, false);
    CHECK(f.restarts.empty());
    f.monitor.response_received(kPeer, 0, 6, true);  // unsolicited, U=1
    REQUIRE(f.restarts.size() == 1);
    CHECK(f.restarts[0] == std::pair<std::uint32_t, std::uint32_t>{5, 6});
    CHECK(f.monitor.peer(kPeer)->restart_counter == 6u);
}

TEST_CASE("Binding Error 2 in reply to a request stops heartbeats to that peer for good (3)",
          "[heartbeat]") {
    Fixture f;
    f.monitor.binding_added(kPeer);
    f.monitor.binding_error_received(kPeer);  // not in reply to anything: ignored
    f.advance(30s);
    f.monitor.binding_error_received(kPeer);
    CHECK(f.monitor.peer(kPeer)->state == PeerState::kNotSupported);
    f.advance(300s);
    CHECK(f.requests.size() == 1);
    f.monitor.binding_removed(kPeer);
    f.monitor.binding_added(kPeer);
    f.advance(300s);
    CHECK(f.requests.size() == 1);
}
