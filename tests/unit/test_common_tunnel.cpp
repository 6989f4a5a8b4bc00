// Unit tests of the tunnel layer without root: RefCountingTunnelManager over
// FakeTunnelBackend with a TimerQueue on a SimulatedClock (references,
// delayed delete, re-acquire during the delay, destroy_all, failing create),
// device names and overhead, and the userspace data plane's pure per-packet
// functions on hand-built packets (GRE build / parse, ECN per RFC 3168
// section 9.1.1, the link-local filter of RFC 5213 section 6.10.5 with the
// MLD exception of RFC 6224 section 5, RFC 2473 section 7.1 size rule and the
// ICMPv6 Packet Too Big of RFC 4443 section 3.2).
#include <catch2/catch.hpp>

#include <cstdio>
#include <set>
#include <string>
#include <vector>

#include "pmip/common/clock.hpp"
#include "pmip/common/timers.hpp"
#include "pmip/common/tunnel.hpp"
#include "pmip/common/udp_checksum.hpp"
#include "tunnel_packet.hpp"

using namespace std::chrono_literals;
using namespace pmip;
namespace tp = pmip::tunnel_packet;

namespace {

using Bytes = std::vector<std::uint8_t>;

Ipv6Address v6(const char* text) {
    auto a = parse_address(text);
    REQUIRE(a.has_value());
    return *a;
}

TunnelKey ip6ip6_key(const char* peer = "2001:db8:ff::2") {
    TunnelKey k;
    k.peer = v6(peer);
    k.local = v6("2001:db8:ff::1");
    k.kind = TunnelKind::kIp6Ip6;
    return k;
}

TunnelKey gre_key(std::optional<std::uint32_t> input, std::optional<std::uint32_t> output) {
    TunnelKey k = ip6ip6_key();
    k.kind = TunnelKind::kGre;
    k.input_key = input;
    k.output_key = output;
    return k;
}

struct ManagerFixture {
    SimulatedClock clock;
    TimerQueue timers{clock};
    FakeTunnelBackend* fake = nullptr;
    std::unique_ptr<RefCountingTunnelManager> manager;

    explicit ManagerFixture(Duration delete_delay = {}) {
        auto backend = std::make_unique<FakeTunnelBackend>();
        fake = backend.get();
        TunnelOptions options;
        options.delete_delay = delete_delay;
        manager = std::make_unique<RefCountingTunnelManager>(std::move(backend), timers, options);
    }
    void advance(Duration d) {
        clock.advance(d);
        timers.run_due();
    }
};

// An IPv6 packet: 40-octet header then `payload`.
Bytes ipv6_packet(const Ipv6Address& source, const Ipv6Address& destination,
                  std::uint8_t next_header, const Bytes& payload, std::uint8_t tclass = 0,
                  std::uint8_t hop_limit = 64) {
    Bytes p(40);
    p[0] = static_cast<std::uint8_t>(0x60 | tclass >> 4);
    p[1] = static_cast<std::uint8_t>((tclass & 0x0f) << 4);
    p[4] = static_cast<std::uint8_t>(payload.size() >> 8);
    p[5] = static_cast<std::uint8_t>(payload.size());
    p[6] = next_header;
    p[7] = hop_limit;
    std::copy(source.begin(), source.end(), p.begin() + 8);
    std::copy(destination.begin(), destination.end(), p.begin() + 24);
    p.insert(p.end(), payload.begin(), payload.end());
    return p;
}

Bytes udp_payload(std::size_t data_size) {
    Bytes u(8 + data_size, 0xab);
    u[0] = 0x30;  // source port 12345
    u[1] = 0x39;
    u[2] = 0x13;  // destination port 5000
    u[3] = 0x88;
    u[4] = static_cast<std::uint8_t>(u.size() >> 8);
    u[5] = static_cast<std::uint8_t>(u.size());
    u[6] = u[7] = 0;  // checksum not checked here
    return u;
}

// MLDv2 Report (type 143) with one record, behind a Hop-by-Hop header with
// Router Alert (value 0 = MLD) and PadN, as RFC 3810 section 5 sends it.
Bytes mld_report_behind_router_alert() {
    Bytes hop_by_hop = {58, 0, 0x05, 0x02, 0x00, 0x00, 0x01, 0x00};
    Bytes report = {143, 0, 0, 0, 0, 0, 0, 1,  // type, code, checksum, reserved, 1 record
                    4,   0, 0, 0};             // CHANGE_TO_EXCLUDE, aux 0, 0 sources
    const auto group = v6("ff3e::8000:1");
    report.insert(report.end(), group.begin(), group.end());
    Bytes payload = hop_by_hop;
    payload.insert(payload.end(), report.begin(), report.end());
    return ipv6_packet(v6("fe80::1"), v6("ff02::16"), tp::kNextHeaderHopByHop, payload, 0, 1);
}

std::uint32_t fnv1a_reference(const Bytes& data) {
    std::uint32_t h = 0x811c9dc5u;
    for (auto o : data) {
        h ^= o;
        h *= 0x01000193u;
    }
    return h;
}

}  // namespace

// ---------------------------------------------------------------- manager

TEST_CASE("tunnel acquired twice is created once and shared", "[tunnel][manager]") {
    ManagerFixture f;
    auto first = f.manager->acquire(ip6ip6_key());
    REQUIRE(first.ok());
    auto second = f.manager->acquire(ip6ip6_key());
    REQUIRE(second.ok());
    CHECK(first->ifindex == 1000);
    CHECK(second->ifindex == 1000);
    CHECK(second->references == 2);
    CHECK(second->name == first->name);
    CHECK(second->backend == "fake");
    CHECK(second->mtu == 1460);
    CHECK(f.fake->calls == std::vector<std::string>{"create " + first->name});
    CHECK(f.manager->tunnels().size() == 1);
}

TEST_CASE("a prepared tunnel is made down and comes up with its first acquire", "[tunnel][manager][prepare]") {
    ManagerFixture f;
    const auto key = ip6ip6_key();
    auto prepared = f.manager->prepare(key);
    REQUIRE(prepared.ok());
    CHECK_FALSE(prepared->up);
    CHECK(prepared->references == 1);
    CHECK(f.fake->down.contains(prepared->name));
    // A second preparer shares it, still down.
    REQUIRE(f.manager->prepare(key).ok());
    CHECK(f.fake->down.contains(prepared->name));
    auto acquired = f.manager->acquire(key);
    REQUIRE(acquired.ok());
    CHECK(acquired->up);
    CHECK(acquired->references == 3);
    CHECK_FALSE(f.fake->down.contains(prepared->name));
    // Preparing an up tunnel leaves it up; releases count as any other.
    REQUIRE(f.manager->prepare(key).ok());
    CHECK(f.manager->find(key)->up);
    for (int i = 0; i < 3; ++i) REQUIRE(f.manager->release(key).ok());
    CHECK(f.fake->devices.contains(prepared->name));
    REQUIRE(f.manager->release(key).ok());
    CHECK_FALSE(f.fake->devices.contains(prepared->name));
    CHECK(f.fake->calls == std::vector<std::string>{"create " + prepared->name + " down",
                                                    "up " + prepared->name,
                                                    "destroy " + prepared->name});
}

TEST_CASE("a prepared tunnel released unused is deleted without coming up", "[tunnel][manager][prepare]") {
    ManagerFixture f;
    const auto key = ip6ip6_key();
    const auto name = f.manager->prepare(key)->name;
    REQUIRE(f.manager->release(key).ok());
    CHECK(f.fake->calls == std::vector<std::string>{"create " + name + " down", "destroy " + name});
    CHECK(f.manager->tunnels().empty());
}

TEST_CASE("a prepared tunnel that cannot come up fails the acquire and keeps its references",
          "[tunnel][manager][prepare]") {
    ManagerFixture f;
    const auto key = ip6ip6_key();
    const auto name = f.manager->prepare(key)->name;
    f.fake->fail_bring_up = Error{EPERM, "refused"};
    auto acquired = f.manager->acquire(key);
    REQUIRE_FALSE(acquired.ok());
    CHECK(acquired.error().what.find("bringing up prepared tunnel " + name) != std::string::npos);
    CHECK(acquired.error().what.find("refused") != std::string::npos);
    CHECK(f.manager->find(key)->references == 1);
    CHECK_FALSE(f.manager->find(key)->up);
    f.fake->fail_bring_up.reset();
    REQUIRE(f.manager->acquire(key).ok());
    CHECK(f.manager->find(key)->up);
}

TEST_CASE("tunnel is deleted at the last release when there is no delay", "[tunnel][manager]") {
    ManagerFixture f;
    const auto key = ip6ip6_key();
    const auto name = f.manager->acquire(key)->name;
    REQUIRE(f.manager->acquire(key).ok());
    REQUIRE(f.manager->release(key).ok());
    CHECK(f.fake->devices.contains(name));
    CHECK(f.manager->find(key)->references == 1);
    REQUIRE(f.manager->release(key).ok());
    CHECK_FALSE(f.fake->devices.contains(name));
    CHECK_FALSE(f.manager->find(key).has_value());
    CHECK(f.fake->calls.back() == "destroy " + name);
    CHECK_FALSE(f.manager->release(key).ok());  // nothing left to release
}

TEST_CASE("different keys get different tunnels", "[tunnel][manager]") {
    ManagerFixture f;
    auto a = f.manager->acquire(gre_key(1, 2));
    auto b = f.manager->acquire(gre_key(3, 4));
    auto c = f.manager->acquire(ip6ip6_key("2001:db8:ff::3"));
    REQUIRE((a.ok() && b.ok() && c.ok()));
    CHECK(std::set<std::string>{a->name, b->name, c->name}.size() == 3);
    CHECK(std::set<int>{a->ifindex, b->ifindex, c->ifindex}.size() == 3);
    CHECK(a->mtu == 1452);  // GRE with an output key: 48 octets of overhead
}

TEST_CASE("the M-Tunnel: GRE with one key both ways, a device of its own beside every kind of unicast tunnel",
          "[tunnel][manager][m-tunnel]") {
    ManagerFixture f;
    const TunnelKey m = multicast_tunnel_key(v6("2001:db8:ff::2"), v6("2001:db8:ff::1"), 0xffffffff);
    CHECK(m.kind == TunnelKind::kGre);
    CHECK(m.input_key == 0xffffffffu);
    CHECK(m.output_key == 0xffffffffu);
    CHECK(m.peer == v6("2001:db8:ff::2"));
    CHECK(m.local == v6("2001:db8:ff::1"));
    TunnelKey keyless = ip6ip6_key();
    keyless.kind = TunnelKind::kGre;
    std::set<std::string> names;
    for (const TunnelKey& k : {ip6ip6_key(), keyless, gre_key(1, 1), m}) {
        auto t = f.manager->acquire(k);
        REQUIRE(t.ok());
        names.insert(t->name);
    }
    CHECK(names.size() == 4);
    CHECK(names.contains(tunnel_device_name(m, "pm")));
    CHECK(f.manager->find(m)->mtu == 1452);
    CHECK(to_string(MulticastTunnelMode::kStatic) == "static");
    CHECK_FALSE(MulticastTunnelConfig{}.enabled());
}

TEST_CASE("an MN's GRE keys count up and skip 0 and the M-Tunnel's key", "[tunnel][m-tunnel]") {
    std::uint32_t next = 1;
    CHECK(next_session_gre_key(next, 2u) == 1);
    CHECK(next_session_gre_key(next, 2u) == 3);
    CHECK(next == 4);
    next = 0xfffffffe;
    CHECK(next_session_gre_key(next, 0xffffffffu) == 0xfffffffe);
    CHECK(next_session_gre_key(next, 0xffffffffu) == 1);  // past the reserved key and 0
    next = 0xffffffff;
    CHECK(next_session_gre_key(next, std::nullopt) == 0xffffffff);
    CHECK(next_session_gre_key(next, std::nullopt) == 1);
}

TEST_CASE("delayed delete waits for the delay after the last release", "[tunnel][manager]") {
    ManagerFixture f(5s);
    const auto key = ip6ip6_key();
    const auto name = f.manager->acquire(key)->name;
    REQUIRE(f.manager->release(key).ok());
    CHECK(f.manager->find(key)->pending_delete);
    CHECK(f.manager->find(key)->references == 0);
    CHECK(f.fake->devices.contains(name));
    f.advance(4s);
    CHECK(f.fake->devices.contains(name));
    f.advance(1s);
    CHECK_FALSE(f.fake->devices.contains(name));
    CHECK_FALSE(f.manager->find(key).has_value());
    CHECK(f.timers.pending() == 0);
}

TEST_CASE("the manager refreshes its backend at the backend's interval while tunnels exist",
          "[tunnel][manager][refresh]") {
    SimulatedClock clock;
    TimerQueue timers{clock};
    auto backend = std::make_unique<FakeTunnelBackend>();
    FakeTunnelBackend* fake = backend.get();
    fake->refresh_every = 2s;
    auto advance = [&](Duration d) {
        clock.advance(d);
        timers.run_due();
    };
    {
        RefCountingTunnelManager manager(std::move(backend), timers);
        CHECK(timers.pending() == 0);  // no tunnel: no timer (an idle daemon sleeps)
        advance(10s);
        REQUIRE(manager.acquire(ip6ip6_key()));
        REQUIRE(manager.acquire(gre_key(1, 2)));
        CHECK(timers.pending() == 1);  // one timer for all tunnels
        advance(1s);
        CHECK(fake->refreshes == 0);
        advance(1s);
        CHECK(fake->refreshes == 1);
        advance(2s);
        CHECK(fake->refreshes == 2);
        REQUIRE(manager.release(ip6ip6_key()).ok());  // deleted: no delay
        REQUIRE(manager.release(gre_key(1, 2)).ok());
        advance(2s);  // the tick that finds no tunnel stops the timer
        CHECK(fake->refreshes == 2);
        CHECK(timers.pending() == 0);
        REQUIRE(manager.acquire(ip6ip6_key()));  // and the next tunnel arms it again
        advance(2s);
        CHECK(fake->refreshes == 3);
    }
    CHECK(timers.pending() == 0);  // the manager's timer went with it
}

TEST_CASE("a backend without a refresh interval is never refreshed", "[tunnel][manager][refresh]") {
    ManagerFixture f;
    REQUIRE(f.manager->acquire(ip6ip6_key()));
    f.advance(60s);
    CHECK(f.fake->refreshes == 0);
    CHECK(f.timers.pending() == 0);
}

TEST_CASE("re-acquire during the delete delay cancels the delete", "[tunnel][manager]") {
    ManagerFixture f(5s);
    const auto key = ip6ip6_key();
    const auto created = f.manager->acquire(key);
    REQUIRE(f.manager->release(key).ok());
    f.advance(3s);
    auto again = f.manager->acquire(key);
    REQUIRE(again.ok());
    CHECK(again->ifindex == created->ifindex);
    CHECK_FALSE(again->pending_delete);
    CHECK(again->references == 1);
    CHECK(f.timers.pending() == 0);
    f.advance(10s);
    CHECK(f.fake->devices.contains(created->name));
    CHECK(f.fake->calls.size() == 1);  // created once, never destroyed

    // A later release starts a fresh delay.
    REQUIRE(f.manager->release(key).ok());
    f.advance(4s);
    CHECK(f.fake->devices.contains(created->name));
    f.advance(1s);
    CHECK_FALSE(f.fake->devices.contains(created->name));
}

TEST_CASE("the use listener hears a device's first reference and its last: made, prepared, taken "
          "again in its delete delay, released, and a refusal fails the acquire and deletes what it made",
          "[tunnel][manager]") {
    struct Listener final : TunnelUseListener {
        std::vector<std::string> heard;
        bool refuse = false;
        Status in_use(const TunnelInfo& t) override {
            heard.push_back("in_use " + t.name + (t.up ? " up" : " down"));
            if (refuse) return Error{EPERM, "no"};
            return {};
        }
        void unused(const TunnelInfo& t) override { heard.push_back("unused " + t.name); }
    } listener;
    ManagerFixture f(5s);
    f.manager->set_use_listener(&listener);
    const auto key = ip6ip6_key();
    const auto prepared = f.manager->prepare(key);
    REQUIRE(prepared.ok());
    const std::string n = prepared->name;
    REQUIRE(f.manager->acquire(key).ok());  // brought up: not a first reference
    REQUIRE(f.manager->acquire(key).ok());
    CHECK(listener.heard == std::vector<std::string>{"in_use " + n + " down"});
    REQUIRE(f.manager->release(key).ok());
    REQUIRE(f.manager->release(key).ok());
    CHECK(listener.heard.size() == 1);
    REQUIRE(f.manager->release(key).ok());  // the last: the device waits for its delay
    CHECK(listener.heard.back() == "unused " + n);
    f.advance(2s);
    REQUIRE(f.manager->acquire(key).ok());  // back within the delay
    CHECK(listener.heard.back() == "in_use " + n + " up");
    REQUIRE(f.manager->release(key).ok());
    f.advance(6s);
    CHECK(f.manager->tunnels().empty());
    CHECK(listener.heard.size() == 4);  // the deletion itself says nothing more

    // Refused while the device waits for its delay: no reference taken, the
    // delay still runs.
    REQUIRE(f.manager->acquire(key).ok());
    REQUIRE(f.manager->release(key).ok());
    listener.refuse = true;
    const auto refused_again = f.manager->acquire(key);
    REQUIRE_FALSE(refused_again.ok());
    CHECK(refused_again.error().what == "tunnel " + n + ": no");
    REQUIRE(f.manager->find(key));
    CHECK(f.manager->find(key)->references == 0);
    f.advance(6s);
    CHECK(f.manager->tunnels().empty());

    // Refused for a new device: it is deleted again, nothing is kept.
    const auto refused = f.manager->acquire(key);
    REQUIRE_FALSE(refused.ok());
    CHECK(refused.error().what == "tunnel " + n + ": no");
    CHECK(f.manager->tunnels().empty());
    CHECK(f.fake->devices.empty());
}

TEST_CASE("release of a tunnel already waiting for deletion is refused", "[tunnel][manager]") {
    ManagerFixture f(5s);
    const auto key = ip6ip6_key();
    REQUIRE(f.manager->acquire(key).ok());
    REQUIRE(f.manager->release(key).ok());
    CHECK_FALSE(f.manager->release(key).ok());
    CHECK(f.manager->find(key)->pending_delete);
}

TEST_CASE("destroy_all deletes every tunnel whatever its references", "[tunnel][manager]") {
    ManagerFixture f(5s);
    REQUIRE(f.manager->acquire(ip6ip6_key()).ok());
    REQUIRE(f.manager->acquire(ip6ip6_key()).ok());
    REQUIRE(f.manager->acquire(gre_key(1, 2)).ok());
    REQUIRE(f.manager->release(gre_key(1, 2)).ok());  // pending delete
    f.manager->destroy_all();
    CHECK(f.manager->tunnels().empty());
    CHECK(f.fake->devices.empty());
    CHECK(f.timers.pending() == 0);
    f.advance(10s);                    // the cancelled delete timer does not fire
    CHECK(f.fake->calls.size() == 4);  // 2 creates, 2 destroys
}

TEST_CASE("a failing create leaves no entry", "[tunnel][manager]") {
    ManagerFixture f;
    f.fake->fail_create = Error{EPERM, "Operation not permitted"};
    auto result = f.manager->acquire(ip6ip6_key());
    REQUIRE_FALSE(result.ok());
    CHECK(result.error().code == EPERM);
    CHECK(result.error().what.find("Operation not permitted") != std::string::npos);
    CHECK(f.manager->tunnels().empty());
    CHECK_FALSE(f.manager->find(ip6ip6_key()).has_value());
    CHECK_FALSE(f.manager->release(ip6ip6_key()).ok());

    f.fake->fail_create.reset();
    auto retried = f.manager->acquire(ip6ip6_key());
    REQUIRE(retried.ok());
    CHECK(retried->references == 1);
}

TEST_CASE("the manager destroys its tunnels when it goes away", "[tunnel][manager]") {
    SimulatedClock clock;
    TimerQueue timers(clock);
    auto backend = std::make_unique<FakeTunnelBackend>();
    auto* fake = backend.get();
    std::vector<std::string>* calls = &fake->calls;
    {
        RefCountingTunnelManager manager(std::move(backend), timers);
        REQUIRE(manager.acquire(ip6ip6_key()).ok());
        REQUIRE(manager.backend().name() == "fake");
        CHECK(calls->size() == 1);
        manager.destroy_all();
        CHECK(calls->size() == 2);
    }
}

TEST_CASE("fake remove_stale removes only devices with the prefix", "[tunnel][fake]") {
    FakeTunnelBackend fake;
    fake.devices.emplace("pm6-00000001", TunnelKey{});
    fake.devices.emplace("pmg-00000002", TunnelKey{});
    fake.devices.emplace("xx6-00000003", TunnelKey{});
    auto removed = fake.remove_stale("pm");
    REQUIRE(removed.ok());
    CHECK(*removed == 2);
    CHECK(fake.devices.size() == 1);
    CHECK(fake.devices.contains("xx6-00000003"));
}

// ---------------------------------------------------------------- names and overhead

TEST_CASE("device names are prefix, kind, dash and 8 hex digits of FNV-1a", "[tunnel][names]") {
    const auto key = gre_key(0x11223344, std::nullopt);
    Bytes material(key.peer.begin(), key.peer.end());
    material.insert(material.end(), key.local.begin(), key.local.end());
    material.push_back(static_cast<std::uint8_t>(TunnelKind::kGre));
    material.insert(material.end(), {1, 0x11, 0x22, 0x33, 0x44, 0});
    char hex[9];
    std::snprintf(hex, sizeof hex, "%08x", fnv1a_reference(material));
    CHECK(tunnel_device_name(key, "pm") == std::string("pmg-") + hex);

    const auto name6 = tunnel_device_name(ip6ip6_key(), "pm");
    CHECK(name6.rfind("pm6-", 0) == 0);
    CHECK(name6.size() == 12);
    CHECK(name6.find_first_not_of("0123456789abcdef", 4) == std::string::npos);
    CHECK(tunnel_device_name(ip6ip6_key(), "pm") == name6);  // deterministic
}

TEST_CASE("device names differ by keys and stay within IFNAMSIZ", "[tunnel][names]") {
    std::set<std::string> names;
    names.insert(tunnel_device_name(gre_key(std::nullopt, std::nullopt), "pm"));
    names.insert(tunnel_device_name(gre_key(1, std::nullopt), "pm"));
    names.insert(tunnel_device_name(gre_key(std::nullopt, 1), "pm"));
    names.insert(tunnel_device_name(gre_key(1, 2), "pm"));
    names.insert(tunnel_device_name(gre_key(2, 1), "pm"));
    CHECK(names.size() == 5);
    const auto long_name = tunnel_device_name(ip6ip6_key(), "averylongprefix");
    CHECK(long_name.size() <= 15);
    CHECK(long_name.rfind("aver6-", 0) == 0);
}

TEST_CASE("tunnel overhead and MTU", "[tunnel][names]") {
    CHECK(tunnel_overhead(ip6ip6_key()) == 40);
    CHECK(tunnel_overhead(gre_key(std::nullopt, std::nullopt)) == 44);
    CHECK(tunnel_overhead(gre_key(7, std::nullopt)) == 44);  // we never send the input key
    CHECK(tunnel_overhead(gre_key(std::nullopt, 7)) == 48);
    CHECK(tunnel_overhead(gre_key(7, 8)) == 48);
    CHECK(tunnel_mtu(ip6ip6_key(), 1500) == 1460);
    CHECK(tunnel_mtu(gre_key(7, 8), 9000) == 8952);
    CHECK(tunnel_mtu(ip6ip6_key(), 1300) == 1280);  // never below the IPv6 minimum
    CHECK(to_string(TunnelKind::kIp6Ip6) == "ip6ip6");
    CHECK(to_string(TunnelKind::kGre) == "gre");
}

// ---------------------------------------------------------------- GRE

TEST_CASE("GRE header without key: build and parse", "[tunnel][gre]") {
    std::uint8_t buffer[8] = {};
    REQUIRE(tp::write_gre_header(buffer, std::nullopt) == 4);
    CHECK(Bytes(buffer, buffer + 4) == Bytes{0x00, 0x00, 0x86, 0xdd});
    auto parsed = tp::parse_gre_header(std::span<const std::uint8_t>(buffer, 4));
    REQUIRE(std::holds_alternative<tp::GreHeader>(parsed));
    CHECK(std::get<tp::GreHeader>(parsed).size == 4);
    CHECK_FALSE(std::get<tp::GreHeader>(parsed).key.has_value());
}

TEST_CASE("GRE header with key: build and parse", "[tunnel][gre]") {
    std::uint8_t buffer[8] = {};
    REQUIRE(tp::write_gre_header(buffer, 0xdeadbeef) == 8);
    CHECK(Bytes(buffer, buffer + 8) == Bytes{0x20, 0x00, 0x86, 0xdd, 0xde, 0xad, 0xbe, 0xef});
    auto parsed = tp::parse_gre_header(buffer);
    REQUIRE(std::holds_alternative<tp::GreHeader>(parsed));
    const auto& h = std::get<tp::GreHeader>(parsed);
    CHECK(h.size == 8);
    REQUIRE(h.key.has_value());
    CHECK(*h.key == 0xdeadbeef);
    CHECK(tp::gre_header_size(std::nullopt) == 4);
    CHECK(tp::gre_header_size(1u) == 8);
}

TEST_CASE("GRE with checksum, key and sequence number is accepted", "[tunnel][gre]") {
    // C K S, version 0, IPv6; checksum, reserved1, key 5, sequence 9; payload.
    Bytes gre = {0xb0, 0x00, 0x86, 0xdd, 0, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0, 9};
    const Bytes inner = ipv6_packet(v6("fd00:a::1"), v6("fd00:b::1"), 17, udp_payload(3));
    gre.insert(gre.end(), inner.begin(), inner.end());
    const std::uint16_t sum = tp::internet_checksum(gre);
    gre[4] = static_cast<std::uint8_t>(sum >> 8);
    gre[5] = static_cast<std::uint8_t>(sum);
    auto parsed = tp::parse_gre_header(gre);
    REQUIRE(std::holds_alternative<tp::GreHeader>(parsed));
    const auto& h = std::get<tp::GreHeader>(parsed);
    CHECK(h.size == 16);
    CHECK(h.key == std::optional<std::uint32_t>(5));
    CHECK(h.sequence == std::optional<std::uint32_t>(9));

    gre.back() ^= 0xff;  // payload damaged: the checksum no longer verifies
    CHECK(std::get<tp::GreError>(tp::parse_gre_header(gre)) == tp::GreError::kChecksum);
}

TEST_CASE("GRE that is not version 0 / IPv6 / routing-free is dropped", "[tunnel][gre]") {
    const Bytes version1 = {0x00, 0x01, 0x86, 0xdd};
    CHECK(std::get<tp::GreError>(tp::parse_gre_header(version1)) == tp::GreError::kVersion);
    const Bytes pptp = {0x30, 0x01, 0x88, 0x0b, 0, 0, 0, 0, 0, 0, 0, 0};
    CHECK(std::get<tp::GreError>(tp::parse_gre_header(pptp)) == tp::GreError::kVersion);
    const Bytes ipv4 = {0x00, 0x00, 0x08, 0x00};
    CHECK(std::get<tp::GreError>(tp::parse_gre_header(ipv4)) == tp::GreError::kProtocol);
    const Bytes routing = {0x40, 0x00, 0x86, 0xdd, 0, 0, 0, 0};
    CHECK(std::get<tp::GreError>(tp::parse_gre_header(routing)) == tp::GreError::kRouting);
    const Bytes short_key = {0x20, 0x00, 0x86, 0xdd, 0, 0};
    CHECK(std::get<tp::GreError>(tp::parse_gre_header(short_key)) == tp::GreError::kTruncated);
    const Bytes three = {0x00, 0x00, 0x86};
    CHECK(std::get<tp::GreError>(tp::parse_gre_header(three)) == tp::GreError::kTruncated);
}

TEST_CASE("internet checksum matches the RFC 1071 example", "[tunnel][checksum]") {
    const Bytes data = {0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7};
    CHECK(tp::internet_checksum(data) == 0x220d);
}

// ---------------------------------------------------------------- ECN and Traffic Class

TEST_CASE("encapsulation copies DSCP and ECT, CE becomes ECT(0)", "[tunnel][ecn]") {
    const std::uint8_t af41 = 0x22 << 2;
    CHECK(tp::encapsulation_traffic_class(af41 | tp::kEcnNotEct) == (af41 | tp::kEcnNotEct));
    CHECK(tp::encapsulation_traffic_class(af41 | tp::kEcnEct0) == (af41 | tp::kEcnEct0));
    CHECK(tp::encapsulation_traffic_class(af41 | tp::kEcnEct1) == (af41 | tp::kEcnEct1));
    CHECK(tp::encapsulation_traffic_class(af41 | tp::kEcnCe) == (af41 | tp::kEcnEct0));
}

TEST_CASE("decapsulation merges the ECN fields as RFC 6040 Figure 4 says", "[tunnel][ecn]") {
    // Every cell of the table (RFC 6040 section 4.2), rows the arriving
    // inner field, columns the arriving outer one; -1: dropped. The outer
    // DSCP never reaches the inner packet.
    const std::uint8_t dscp = 0x2e << 2;
    const std::uint8_t codepoints[4] = {tp::kEcnNotEct, tp::kEcnEct0, tp::kEcnEct1, tp::kEcnCe};
    const int expected[4][4] = {
        {tp::kEcnNotEct, tp::kEcnNotEct, tp::kEcnNotEct, -1},
        {tp::kEcnEct0, tp::kEcnEct0, tp::kEcnEct1, tp::kEcnCe},
        {tp::kEcnEct1, tp::kEcnEct1, tp::kEcnEct1, tp::kEcnCe},
        {tp::kEcnCe, tp::kEcnCe, tp::kEcnCe, tp::kEcnCe},
    };
    for (int row = 0; row < 4; ++row) {
        for (int column = 0; column < 4; ++column) {
            CAPTURE(row, column);
            const std::uint8_t outer = static_cast<std::uint8_t>((0x0a << 2) | codepoints[column]);
            const auto got = tp::decapsulation_traffic_class(outer, dscp | codepoints[row]);
            if (expected[row][column] < 0) {
                CHECK_FALSE(got.has_value());
            } else {
                REQUIRE(got.has_value());
                CHECK(*got == (dscp | expected[row][column]));
            }
        }
    }
}

TEST_CASE("traffic class is read and written across the first two octets", "[tunnel][ecn]") {
    Bytes p = ipv6_packet(v6("fd00:a::1"), v6("fd00:b::1"), 17, udp_payload(4), 0xb9);
    p[1] |= 0x0a;  // flow label bits must survive
    CHECK(tp::traffic_class(p) == 0xb9);
    tp::set_traffic_class(p, 0x03);
    CHECK(tp::traffic_class(p) == 0x03);
    CHECK(p[0] >> 4 == 6);
    CHECK((p[1] & 0x0f) == 0x0a);
    auto header = tp::parse_ipv6_header(p);
    REQUIRE(header.has_value());
    CHECK(header->traffic_class == 0x03);
    CHECK(header->flow_label == 0xa0000);
}

// ---------------------------------------------------------------- link-local filter and size

TEST_CASE("MLD from a link-local source behind Hop-by-Hop Router Alert is tunnelled",
          "[tunnel][filter]") {
    const Bytes mld = mld_report_behind_router_alert();
    CHECK(tp::is_tunnel_control_message(mld));
    CHECK(tp::classify_outgoing(mld, 1460) == tp::OutgoingVerdict::kEncapsulate);
}

TEST_CASE("ND from a link-local source is tunnelled", "[tunnel][filter]") {
    const Bytes rs =
        ipv6_packet(v6("fe80::1"), v6("ff02::2"), 58, Bytes{133, 0, 0, 0, 0, 0, 0, 0}, 0, 255);
    CHECK(tp::classify_outgoing(rs, 1460) == tp::OutgoingVerdict::kEncapsulate);
}

TEST_CASE("link-local UDP and echo are not tunnelled", "[tunnel][filter]") {
    const Bytes udp = ipv6_packet(v6("fe80::1"), v6("fd00:b::1"), 17, udp_payload(20));
    CHECK(tp::classify_outgoing(udp, 1460) == tp::OutgoingVerdict::kDropLinkLocal);
    const Bytes echo =
        ipv6_packet(v6("fe80::1"), v6("fd00:b::1"), 58, Bytes{128, 0, 0, 0, 0, 1, 0, 1});
    CHECK(tp::classify_outgoing(echo, 1460) == tp::OutgoingVerdict::kDropLinkLocal);
    const Bytes unspecified = ipv6_packet(v6("::"), v6("fd00:b::1"), 17, udp_payload(20));
    CHECK(tp::classify_outgoing(unspecified, 1460) == tp::OutgoingVerdict::kDropLinkLocal);
    // MLD type hidden behind a truncated Hop-by-Hop header is not trusted.
    Bytes broken = mld_report_behind_router_alert();
    broken[41] = 200;  // Hop-by-Hop length past the end
    CHECK(tp::classify_outgoing(broken, 1460) == tp::OutgoingVerdict::kDropLinkLocal);
}

TEST_CASE("global UDP is tunnelled, malformed packets are dropped", "[tunnel][filter]") {
    const Bytes udp = ipv6_packet(v6("fd00:a::1"), v6("fd00:b::1"), 17, udp_payload(20));
    CHECK(tp::classify_outgoing(udp, 1460) == tp::OutgoingVerdict::kEncapsulate);
    Bytes v4 = udp;
    v4[0] = 0x45;
    CHECK(tp::classify_outgoing(v4, 1460) == tp::OutgoingVerdict::kDropMalformed);
    Bytes long_claim = udp;
    long_claim[5] = static_cast<std::uint8_t>(long_claim[5] + 1);  // payload length past the end
    CHECK(tp::classify_outgoing(long_claim, 1460) == tp::OutgoingVerdict::kDropMalformed);
    CHECK(tp::classify_outgoing(Bytes(39, 0x60), 1460) == tp::OutgoingVerdict::kDropMalformed);
}

TEST_CASE("size rule of RFC 2473 section 7.1", "[tunnel][filter]") {
    const auto src = v6("2001:db8:1::5");
    const auto dst = v6("fd00:b::1");
    const Bytes big = ipv6_packet(src, dst, 17, udp_payload(1500 - 48));  // 1500 octets
    REQUIRE(big.size() == 1500);
    CHECK(tp::classify_outgoing(big, 1460) == tp::OutgoingVerdict::kPacketTooBig);
    CHECK(tp::classify_outgoing(big, 1500) == tp::OutgoingVerdict::kEncapsulate);
    // Not larger than 1280: encapsulated even above the tunnel MTU (the outer
    // packet gets fragmented).
    const Bytes minimum = ipv6_packet(src, dst, 17, udp_payload(1280 - 48));
    CHECK(tp::classify_outgoing(minimum, 1200) == tp::OutgoingVerdict::kEncapsulate);
    CHECK(tp::packet_too_big_mtu(1200) == 1280);
    CHECK(tp::packet_too_big_mtu(1452) == 1452);
}

// ---------------------------------------------------------------- Packet Too Big

TEST_CASE("Packet Too Big quotes the packet up to 1280 octets with a valid checksum",
          "[tunnel][ptb]") {
    const auto src = v6("2001:db8:1::5");
    const auto router = v6("2001:db8:ff::1");
    const Bytes big = ipv6_packet(src, v6("fd00:b::1"), 17, udp_payload(1500 - 48));
    std::uint8_t out[1280] = {};
    const std::size_t size = tp::build_packet_too_big(big, router, 1452, out);
    REQUIRE(size == 1280);
    auto header = tp::parse_ipv6_header(std::span<const std::uint8_t>(out, size));
    REQUIRE(header.has_value());
    CHECK(header->payload_length == 1240);
    CHECK(header->next_header == 58);
    CHECK(header->source == router);
    CHECK(header->destination == src);
    CHECK(header->hop_limit == 64);
    CHECK(out[40] == 2);  // Packet Too Big
    CHECK(out[41] == 0);
    CHECK((out[44] << 24 | out[45] << 16 | out[46] << 8 | out[47]) == 1452);
    CHECK(Bytes(out + 48, out + 1280) == Bytes(big.begin(), big.begin() + 1232));
    CHECK(tp::icmpv6_checksum(router, src, std::span<const std::uint8_t>(out + 40, 1240)) == 0);
    CHECK((out[42] | out[43]) != 0);
}

TEST_CASE("Packet Too Big quotes a short packet whole", "[tunnel][ptb]") {
    const auto src = v6("fd00:a::1");
    const Bytes small = ipv6_packet(src, v6("fd00:b::1"), 17, udp_payload(52));  // 100 octets
    std::uint8_t out[1280] = {};
    const std::size_t size = tp::build_packet_too_big(small, v6("2001:db8:ff::1"), 1280, out);
    REQUIRE(size == 148);
    CHECK(Bytes(out + 48, out + 148) == small);
    CHECK(tp::icmpv6_checksum(v6("2001:db8:ff::1"), src,
                              std::span<const std::uint8_t>(out + 40, 108)) == 0);
}

TEST_CASE("no Packet Too Big about errors or from unusable sources", "[tunnel][ptb]") {
    std::uint8_t out[1280] = {};
    const Bytes error = ipv6_packet(v6("fd00:a::1"), v6("fd00:b::1"), 58,
                                    Bytes(1400, 0x01));  // type 1 = Destination Unreachable
    CHECK(tp::build_packet_too_big(error, v6("2001:db8:ff::1"), 1280, out) == 0);
    const Bytes from_multicast = ipv6_packet(v6("ff02::1"), v6("fd00:b::1"), 17, udp_payload(1400));
    CHECK(tp::build_packet_too_big(from_multicast, v6("2001:db8:ff::1"), 1280, out) == 0);
    const Bytes from_unspecified = ipv6_packet(v6("::"), v6("fd00:b::1"), 17, udp_payload(1400));
    CHECK(tp::build_packet_too_big(from_unspecified, v6("2001:db8:ff::1"), 1280, out) == 0);
    const Bytes echo = ipv6_packet(v6("fd00:a::1"), v6("fd00:b::1"), 58, Bytes(1400, 128));
    CHECK(tp::build_packet_too_big(echo, v6("2001:db8:ff::1"), 1280, out) == 1280);
}

// complete_partial_udp_checksum (pmip/common/udp_checksum.hpp): the ebpf
// multicast backend's held packets are octets copied before the device
// finished a checksum the sender's offload left partial.
namespace {

// One's complement sum of 16-bit words, folded (RFC 1071), written here
// again so the test does not check the code with itself.
std::uint32_t sum16(const Bytes& b, std::size_t from, std::size_t to, std::uint32_t sum = 0) {
    for (std::size_t i = from; i < to; i += 2)
        sum += static_cast<std::uint32_t>(b[i] << 8 | (i + 1 < to ? b[i + 1] : 0));
    while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
    return sum;
}

// IPv6 from 2001:db8:1::1 to ff3e::4242:1, optionally a Destination Options
// header, then UDP 5001 -> 5001 with `payload` octets (value i * 7 + 1).
Bytes udp_packet(std::size_t payload, bool destination_options = false) {
    const std::size_t ext = destination_options ? 8 : 0;
    Bytes p(40 + ext + 8 + payload, 0);
    p[0] = 0x60;
    const std::size_t plen = ext + 8 + payload;
    p[4] = static_cast<std::uint8_t>(plen >> 8);
    p[5] = static_cast<std::uint8_t>(plen);
    p[6] = destination_options ? 60 : 17;
    p[7] = 64;
    const auto s = v6("2001:db8:1::1"), d = v6("ff3e::4242:1");
    std::copy(s.begin(), s.end(), p.begin() + 8);
    std::copy(d.begin(), d.end(), p.begin() + 24);
    std::size_t u = 40;
    if (destination_options) {
        p[40] = 17;  // then UDP; length 0 = 8 octets; PadN
        p[42] = 1;
        p[43] = 4;
        u = 48;
    }
    p[u] = 0x13;
    p[u + 1] = 0x89;
    p[u + 2] = 0x13;
    p[u + 3] = 0x89;
    p[u + 4] = static_cast<std::uint8_t>((8 + payload) >> 8);
    p[u + 5] = static_cast<std::uint8_t>(8 + payload);
    for (std::size_t i = 0; i < payload; ++i) p[u + 8 + i] = static_cast<std::uint8_t>(i * 7 + 1);
    return p;
}

std::size_t udp_at(const Bytes& p) { return p[6] == 60 ? 48 : 40; }

// The pseudo-header's sum, folded: what Linux leaves in the field.
std::uint16_t partial_form(const Bytes& p) {
    const std::size_t u = udp_at(p);
    std::uint32_t sum = sum16(p, 8, 40);
    sum += static_cast<std::uint32_t>(p[u + 4] << 8 | p[u + 5]);
    sum += 17;
    while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
    return static_cast<std::uint16_t>(sum);
}

void set_field(Bytes& p, std::uint16_t v) {
    p[udp_at(p) + 6] = static_cast<std::uint8_t>(v >> 8);
    p[udp_at(p) + 7] = static_cast<std::uint8_t>(v);
}

std::uint16_t field(const Bytes& p) { return static_cast<std::uint16_t>(p[udp_at(p) + 6] << 8 | p[udp_at(p) + 7]); }

// What a receiver checks: pseudo-header + datagram sums to 0xffff.
bool verifies(const Bytes& p) {
    const std::size_t u = udp_at(p);
    const std::size_t length = static_cast<std::size_t>(p[u + 4] << 8 | p[u + 5]);
    std::uint32_t sum = sum16(p, u, u + length, partial_form(p));
    return sum == 0xffff && field(p) != 0;
}

}  // namespace

TEST_CASE("A partial UDP checksum is completed, a complete or a wrong one is left alone",
          "[common][udp_checksum]") {
    for (const bool ext : {false, true}) {
        for (const std::size_t payload : {0u, 1u, 64u, 1001u}) {
            Bytes p = udp_packet(payload, ext);
            set_field(p, partial_form(p));
            REQUIRE_FALSE(verifies(p));
            CHECK(complete_partial_udp_checksum(p));
            CHECK(verifies(p));
            const Bytes done = p;
            CHECK_FALSE(complete_partial_udp_checksum(p));  // complete now
            CHECK(p == done);
            // Wrong, and not the partial form: a corrupt packet stays corrupt.
            set_field(p, static_cast<std::uint16_t>(field(done) ^ 0x0101));
            const Bytes corrupt = p;
            CHECK_FALSE(complete_partial_udp_checksum(p));
            CHECK(p == corrupt);
        }
    }
}

TEST_CASE("A UDP checksum that computes to zero is sent as 0xffff", "[common][udp_checksum]") {
    Bytes p = udp_packet(2);
    // Choose the payload's two octets so that the whole sum is 0xffff.
    p[48] = p[49] = 0;
    set_field(p, 0);
    const std::uint16_t rest = static_cast<std::uint16_t>(sum16(p, 40, p.size(), partial_form(p)));
    const std::uint16_t x = static_cast<std::uint16_t>(~rest);
    p[48] = static_cast<std::uint8_t>(x >> 8);
    p[49] = static_cast<std::uint8_t>(x);
    set_field(p, partial_form(p));
    CHECK(complete_partial_udp_checksum(p));
    CHECK(field(p) == 0xffff);
    CHECK(verifies(p));
}

TEST_CASE("Checksum completion leaves zero checksums, other protocols, fragments and short packets",
          "[common][udp_checksum]") {
    Bytes zero = udp_packet(10);
    set_field(zero, 0);
    CHECK_FALSE(complete_partial_udp_checksum(zero));
    CHECK(field(zero) == 0);

    Bytes icmp = udp_packet(10);
    set_field(icmp, partial_form(icmp));
    icmp[6] = 58;
    const Bytes icmp_before = icmp;
    CHECK_FALSE(complete_partial_udp_checksum(icmp));
    CHECK(icmp == icmp_before);

    Bytes fragment = udp_packet(10, true);
    set_field(fragment, partial_form(fragment));
    fragment[6] = 44;  // a Fragment header first
    const Bytes fragment_before = fragment;
    CHECK_FALSE(complete_partial_udp_checksum(fragment));
    CHECK(fragment == fragment_before);

    Bytes truncated = udp_packet(10);
    set_field(truncated, partial_form(truncated));
    truncated.resize(truncated.size() - 1);  // UDP length now past the end
    const Bytes truncated_before = truncated;
    CHECK_FALSE(complete_partial_udp_checksum(truncated));
    CHECK(truncated == truncated_before);
    Bytes tiny(44, 0);
    tiny[0] = 0x60;
    tiny[6] = 17;
    CHECK_FALSE(complete_partial_udp_checksum(tiny));
}
