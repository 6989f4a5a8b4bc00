// KernelProxy over fakes (FakeMulticastRouter, FakeMldSocket,
// FakeUpstreamMembership, FakeInterfaceDirectory, FakeRouteManager) with a
// simulated clock: packet checks of RFC 3810 sections 6.2 / 7.4 with a
// counter per drop reason, General Query at once on a new downstream
// (RFC 6224 section 3), upstream host membership (RFC 4605 section 4.1, SSM
// as INCLUDE), MFC entries from cache misses updated on every membership
// change (RFC 4605 section 4.2), run-time removal, idle expiry, MIF limit,
// policy, and nothing left after destruction.
#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <memory>

#include "pmip/common/clock.hpp"
#include "pmip/common/route_manager.hpp"
#include "pmip/common/timers.hpp"
#include "pmip/mcast/kernel_proxy.hpp"

using namespace pmip;
using namespace pmip::mcast;
using namespace std::chrono_literals;

namespace {

Ipv6Address addr(const char* text) {
    return *parse_address(text);
}

const Ipv6Address kG = addr("ff0e::db8:1");
const Ipv6Address kSsm = addr("ff3e::8000:1");
const Ipv6Address kS1 = addr("2001:db8:1::1");
const Ipv6Address kS2 = addr("2001:db8:1::2");
const Ipv6Address kHost1 = addr("fe80::a1");
const Ipv6Address kHost2 = addr("fe80::a2");
constexpr int kUp = 2;
constexpr int kDirect = 3;  // an extra upstream (a local multicast router's link)
constexpr int kD1 = 4;
constexpr int kD2 = 5;
constexpr int kD3 = 6;
constexpr int kPeer = 7;  // a peering link to another MAG's proxy (RFC 7287)

// The proxy owns its adapters; these forward to fakes the fixture owns, so a
// test can look at the fakes after the proxy is gone.
class RouterView final : public MulticastRouter {
  public:
    explicit RouterView(FakeMulticastRouter& f) : f_(f) {}
    std::uint32_t table() const override { return f_.table(); }
    const char* backend() const override { return f_.backend(); }
    std::size_t max_mifs() const override { return f_.max_mifs(); }
    bool needs_ip6mr_rules() const override { return f_.needs_ip6mr_rules(); }
    bool supports_group_entries() const override { return f_.supports_group_entries(); }
    Status add_group_entry(const Ipv6Address& g, MifIndex p, const MifSet& o) override {
        return f_.add_group_entry(g, p, o);
    }
    Status delete_group_entry(const Ipv6Address& g) override { return f_.delete_group_entry(g); }
    Status add_mif(MifIndex m, int i, const std::string& n) override { return f_.add_mif(m, i, n); }
    Status delete_mif(MifIndex m) override { return f_.delete_mif(m); }
    Status add_mfc(const Ipv6Address& s, const Ipv6Address& g, MifIndex p,
                   const MifSet& o) override {
        return f_.add_mfc(s, g, p, o);
    }
    Status delete_mfc(const Ipv6Address& s, const Ipv6Address& g) override {
        return f_.delete_mfc(s, g);
    }
    std::optional<MfcCounters> counters(const Ipv6Address& s, const Ipv6Address& g) override {
        return f_.counters(s, g);
    }
    void set_upcall_handler(UpcallHandler h) override { f_.set_upcall_handler(std::move(h)); }

  private:
    FakeMulticastRouter& f_;
};
class MldView final : public MldSocket {
  public:
    explicit MldView(FakeMldSocket& f) : f_(f) {}
    Status join_router_groups(int i) override { return f_.join_router_groups(i); }
    void leave_router_groups(int i) override { f_.leave_router_groups(i); }
    Status send(int i, const Ipv6Address& s, const Ipv6Address& d,
                std::span<const std::uint8_t> icmp) override {
        return f_.send(i, s, d, icmp);
    }
    void set_handler(Handler h) override { f_.set_handler(std::move(h)); }
    MldSocketCounters counters() const override { return f_.counters(); }

  private:
    FakeMldSocket& f_;
};
class UpstreamView final : public UpstreamMembership {
  public:
    explicit UpstreamView(FakeUpstreamMembership& f) : f_(f) {}
    Status set(const Ipv6Address& g, const MembershipState& s) override { return f_.set(g, s); }

  private:
    FakeUpstreamMembership& f_;
};
class DirectoryView final : public InterfaceDirectory {
  public:
    explicit DirectoryView(FakeInterfaceDirectory& f) : f_(f) {}
    std::optional<int> index(const std::string& n) const override { return f_.index(n); }
    std::optional<std::string> name(int i) const override { return f_.name(i); }
    std::optional<LinkLocalAddress> link_local(int i) const override { return f_.link_local(i); }

  private:
    FakeInterfaceDirectory& f_;
};

struct Fixture {
    SimulatedClock clock;
    TimerQueue timers{clock};
    FakeRouteManager routes;
    std::unique_ptr<FakeMulticastRouter> router_owned;
    FakeMldSocket mld_owned;
    FakeUpstreamMembership upstream_owned;
    std::vector<std::unique_ptr<FakeUpstreamMembership>> extras_owned;  // config.extra_upstreams
    std::vector<std::unique_ptr<FakeUpstreamMembership>> peerings_owned;  // config.peerings
    FakeInterfaceDirectory interfaces_owned;
    FakeMulticastRouter* router = nullptr;
    FakeMldSocket* mld = &mld_owned;
    FakeUpstreamMembership* upstream = &upstream_owned;
    FakeInterfaceDirectory* interfaces = &interfaces_owned;
    std::unique_ptr<KernelProxy> proxy;

    // ebpf_like: the fake behaves as the ebpf backend (no ip6mr rules,
    // (*,G) entries, max_mifs interfaces).
    explicit Fixture(KernelProxyConfig config = default_config(), MifIndex max_mifs = kMaxMifs,
                     bool ebpf_like = false) {
        KernelProxy::Parts parts;
        router_owned = std::make_unique<FakeMulticastRouter>(config.table);
        router = router_owned.get();
        if (ebpf_like) {
            router->ip6mr_rules = false;
            router->group_entries_supported = true;
            router->max_mifs_setting = max_mifs;
        }
        auto& i = interfaces_owned;
        i.interfaces[kUp] = {"up1", LinkLocalAddress{addr("fe80::1"), true}};
        i.interfaces[kD1] = {"d1", LinkLocalAddress{addr("fe80::d1"), true}};
        i.interfaces[kD2] = {"d2", LinkLocalAddress{addr("fe80::d2"), true}};
        i.interfaces[kD3] = {"d3", LinkLocalAddress{addr("fe80::d3"), false}};  // tentative
        i.interfaces[kDirect] = {"lr1", LinkLocalAddress{addr("fe80::3"), true}};
        i.interfaces[kPeer] = {"p0", LinkLocalAddress{addr("fe80::5"), true}};
        for (std::size_t n = 0; n < config.extra_upstreams.size(); ++n) {
            extras_owned.push_back(std::make_unique<FakeUpstreamMembership>());
            parts.extra_upstreams.push_back(std::make_unique<UpstreamView>(*extras_owned.back()));
        }
        for (std::size_t n = 0; n < config.peerings.size(); ++n) {
            peerings_owned.push_back(std::make_unique<FakeUpstreamMembership>());
            parts.peerings.push_back(std::make_unique<UpstreamView>(*peerings_owned.back()));
        }
        parts.make_membership = [this](int, const std::string&)
            -> Expected<std::unique_ptr<UpstreamMembership>> {
            peerings_owned.push_back(std::make_unique<FakeUpstreamMembership>());
            return std::unique_ptr<UpstreamMembership>(
                std::make_unique<UpstreamView>(*peerings_owned.back()));
        };
        parts.router = std::make_unique<RouterView>(*router);
        parts.mld = std::make_unique<MldView>(mld_owned);
        parts.upstream = std::make_unique<UpstreamView>(upstream_owned);
        parts.interfaces = std::make_unique<DirectoryView>(interfaces_owned);
        parts.max_mifs = max_mifs;
        auto p = KernelProxy::create(timers, routes, config, std::move(parts));
        REQUIRE(p.ok());
        proxy = std::move(p.value());
    }

    static KernelProxyConfig default_config() {
        KernelProxyConfig c;
        c.name = "A";
        c.table = 100;
        c.upstream = "up1";
        c.querier.query_response_interval = 1s;
        c.querier.last_listener_query_interval = 100ms;
        c.mfc_idle_timeout = 30s;
        return c;
    }

    void advance(Duration d) {
        clock.advance(d);
        timers.run_due();
    }

    // An MLDv2 Report from `host` on `ifindex`, checksummed, passing the
    // checks unless the caller changes the result.
    static ReceivedMld report(int ifindex, const Ipv6Address& host,
                              std::vector<MulticastAddressRecord> records) {
        ReceivedMld m;
        m.ifindex = ifindex;
        m.source = host;
        m.destination = kAllMldv2Routers;
        m.hop_limit = 1;
        m.router_alert = true;
        m.icmp = serialize(MldMessage{Mldv2Report{std::move(records)}});
        fill_checksum(m.icmp, m.source, m.destination);
        return m;
    }
    static MulticastAddressRecord record(RecordType type, const Ipv6Address& group,
                                         std::vector<Ipv6Address> sources = {}) {
        return {type, group, std::move(sources), {}};
    }
    void join(int ifindex, const Ipv6Address& host, const Ipv6Address& group) {
        mld->deliver(report(ifindex, host, {record(RecordType::kChangeToExcludeMode, group)}));
    }
    void leave(int ifindex, const Ipv6Address& host, const Ipv6Address& group) {
        mld->deliver(report(ifindex, host, {record(RecordType::kChangeToIncludeMode, group)}));
    }
    const MfcEntry* entry(const Ipv6Address& s, const Ipv6Address& g) const {
        const auto it = router->entries.find({s, g});
        return it == router->entries.end() ? nullptr : &it->second;
    }
};

MifSet mifs(std::initializer_list<MifIndex> l) {
    return MifSet(l);
}

}  // namespace

TEST_CASE("mcast kernel proxy: create: MIF 0 on the upstream and an ip6mr rule for it",
          "[mcast][kernel_proxy]") {
    Fixture f;
    CHECK(f.router->mifs == std::map<MifIndex, int>{{0, kUp}});
    REQUIRE(f.routes.multicast_rules.size() == 1);
    const MulticastRule& rule = *f.routes.multicast_rules.begin();
    CHECK(rule.iif == "up1");
    CHECK(rule.table == 100);
    CHECK(f.proxy->upstream_ifindex() == kUp);
}

TEST_CASE(
    "mcast kernel proxy: create: a missing upstream or a bad config is refused with a message",
    "[mcast][kernel_proxy]") {
    SimulatedClock clock;
    TimerQueue timers(clock);
    FakeRouteManager routes;
    auto parts = [] {
        KernelProxy::Parts p;
        p.router = std::make_unique<FakeMulticastRouter>();
        p.mld = std::make_unique<FakeMldSocket>();
        p.upstream = std::make_unique<FakeUpstreamMembership>();
        p.interfaces = std::make_unique<FakeInterfaceDirectory>();
        return p;
    };
    KernelProxyConfig c = Fixture::default_config();
    auto missing = KernelProxy::create(timers, routes, c, parts());
    REQUIRE_FALSE(missing.ok());
    CHECK(missing.error().what == "proxy A: upstream up1: no such interface");
    c.table = 0;
    auto bad = KernelProxy::create(timers, routes, c, parts());
    REQUIRE_FALSE(bad.ok());
    CHECK(bad.error().what == "proxy A: table must not be 0");
}

TEST_CASE(
    "mcast kernel proxy: a new downstream gets a MIF, a rule, the router groups and a General "
    "Query at once",
    "[mcast][kernel_proxy]") {
    Fixture f;
    REQUIRE(f.proxy->add_downstream("d1").ok());
    CHECK(f.router->mifs.at(1) == kD1);
    CHECK(f.routes.multicast_rules.size() == 2);
    CHECK(f.mld->joined.contains(kD1));
    REQUIRE(f.mld->sent.size() == 1);
    const auto& q = f.mld->sent[0];
    CHECK(q.ifindex == kD1);
    CHECK(q.source == addr("fe80::d1"));  // explicit link-local source, RFC 3810 5.1.14
    CHECK(q.destination == kAllNodes);
    const ParseResult parsed = parse(q.icmp);
    REQUIRE(std::holds_alternative<Parsed>(parsed));
    const auto* query = std::get_if<Mldv2Query>(&std::get<Parsed>(parsed).message);
    REQUIRE(query != nullptr);
    CHECK(query->multicast_address == kUnspecified);
    CHECK(f.proxy->counters().queries_sent == 1);
}

TEST_CASE(
    "mcast kernel proxy: add_downstream refuses unknown interfaces, the upstream and duplicates",
    "[mcast][kernel_proxy]") {
    Fixture f;
    Status unknown = f.proxy->add_downstream("nope0");
    REQUIRE_FALSE(unknown.ok());
    CHECK(unknown.error().what == "proxy A: downstream nope0: no such interface");
    CHECK_FALSE(f.proxy->add_downstream("up1").ok());
    REQUIRE(f.proxy->add_downstream("d1").ok());
    Status twice = f.proxy->add_downstream("d1");
    REQUIRE_FALSE(twice.ok());
    CHECK(twice.error().code == EEXIST);
    CHECK_FALSE(f.proxy->remove_downstream("d2").ok());
}

TEST_CASE("mcast kernel proxy: the kernel's MIF limit is reported when every MIF is in use",
          "[mcast][kernel_proxy]") {
    Fixture f(Fixture::default_config(), 3);  // upstream + 2 downstreams
    REQUIRE(f.proxy->add_downstream("d1").ok());
    REQUIRE(f.proxy->add_downstream("d2").ok());
    Status full = f.proxy->add_downstream("d3");
    REQUIRE_FALSE(full.ok());
    CHECK(full.error().code == ENOSPC);
    CHECK(full.error().what ==
          "proxy A: downstream d3: all 3 MIFs of table 100 in use (kernel MAXMIFS)");
    // A freed MIF is reused.
    REQUIRE(f.proxy->remove_downstream("d1").ok());
    REQUIRE(f.proxy->add_downstream("d3").ok());
}

TEST_CASE(
    "mcast kernel proxy: RFC 3810 7.4: reports failing a check are dropped and counted by reason",
    "[mcast][kernel_proxy]") {
    Fixture f;
    REQUIRE(f.proxy->add_downstream("d1").ok());
    const auto good =
        Fixture::report(kD1, kHost1, {Fixture::record(RecordType::kChangeToExcludeMode, kG)});
    auto m = good;
    m.ifindex = 99;
    f.mld->deliver(m);
    m = good;
    m.source = addr("2001:db8::a1");
    f.mld->deliver(m);
    m = good;
    m.source = kUnspecified;
    f.mld->deliver(m);
    m = good;
    m.hop_limit = 2;
    f.mld->deliver(m);
    m = good;
    m.router_alert = false;
    f.mld->deliver(m);
    m = good;
    m.source = addr("fe80::d1");  // our own, looped back
    f.mld->deliver(m);
    m = good;
    m.icmp[2] ^= 0x5a;
    f.mld->deliver(m);
    m = good;
    m.icmp.resize(6);  // truncated, but with a right checksum
    fill_checksum(m.icmp, m.source, m.destination);
    f.mld->deliver(m);
    const KernelProxyCounters& c = f.proxy->counters();
    CHECK(c.drop_not_downstream == 1);
    CHECK(c.drop_source_not_link_local == 2);
    CHECK(c.drop_hop_limit == 1);
    CHECK(c.drop_no_router_alert == 1);
    CHECK(c.drop_own_message == 1);
    CHECK(c.drop_bad_checksum == 1);
    CHECK(c.drop_parse_error == 1);
    CHECK(c.mld_accepted == 0);
    CHECK(f.upstream->groups.empty());

    f.mld->deliver(good);
    CHECK(f.proxy->counters().mld_accepted == 1);
    CHECK(f.upstream->groups.at(kG) == MembershipState{FilterMode::kExclude, {}});
}

TEST_CASE(
    "mcast kernel proxy: RFC 4605 4.1: an SSM join goes upstream as INCLUDE, ASM wins the merge",
    "[mcast][kernel_proxy]") {
    Fixture f;
    REQUIRE(f.proxy->add_downstream("d1").ok());
    REQUIRE(f.proxy->add_downstream("d2").ok());
    f.mld->deliver(
        Fixture::report(kD1, kHost1, {Fixture::record(RecordType::kAllowNewSources, kSsm, {kS1})}));
    CHECK(f.upstream->groups.at(kSsm) == MembershipState{FilterMode::kInclude, {kS1}});
    f.mld->deliver(
        Fixture::report(kD2, kHost2, {Fixture::record(RecordType::kAllowNewSources, kSsm, {kS2})}));
    CHECK(f.upstream->groups.at(kSsm) == MembershipState{FilterMode::kInclude, {kS1, kS2}});
    f.join(kD2, kHost2, kSsm);
    CHECK(f.upstream->groups.at(kSsm) == MembershipState{FilterMode::kExclude, {}});
}

namespace {
// The records of the MLDv2 Reports the proxy sent on the upstream, in order.
std::vector<std::string> upstream_reports(const Fixture& f) {
    std::vector<std::string> out;
    for (const auto& m : f.mld->sent) {
        if (m.ifindex != kUp)
            continue;
        CHECK(m.source == addr("fe80::1"));
        CHECK(m.destination == kAllMldv2Routers);
        const auto parsed = parse(m.icmp);
        REQUIRE(std::holds_alternative<Parsed>(parsed));
        const auto* report = std::get_if<Mldv2Report>(&std::get<Parsed>(parsed).message);
        REQUIRE(report != nullptr);
        std::string text;
        for (const auto& r : report->records) {
            text += (text.empty() ? "" : " ") + std::string(to_string(r.type)) + "(";
            for (std::size_t i = 0; i < r.sources.size(); ++i)
                text += (i ? "," : "") + pmip::to_string(r.sources[i]);
            text += ")";
        }
        out.push_back(text);
    }
    return out;
}
}  // namespace

TEST_CASE("mcast kernel proxy: RFC 3810 6.1: every upstream change is reported on the upstream at once",
          "[mcast][kernel_proxy]") {
    Fixture f;
    REQUIRE(f.proxy->add_downstream("d1").ok());
    REQUIRE(f.proxy->add_downstream("d2").ok());
    f.mld->deliver(
        Fixture::report(kD1, kHost1, {Fixture::record(RecordType::kAllowNewSources, kSsm, {kS1})}));
    f.mld->deliver(
        Fixture::report(kD2, kHost2, {Fixture::record(RecordType::kAllowNewSources, kSsm, {kS2})}));
    f.join(kD2, kHost2, kSsm);   // INCLUDE {S1, S2} -> EXCLUDE {}
    f.leave(kD2, kHost2, kSsm);  // back to INCLUDE {S1} once d2's listener is gone
    for (int i = 0; i < 30; ++i) f.advance(100ms);
    const auto reports = upstream_reports(f);
    REQUIRE(reports.size() >= 4);
    CHECK(reports[0] == "ALLOW(" + pmip::to_string(kS1) + ")");
    CHECK(reports[1] == "ALLOW(" + pmip::to_string(kS2) + ")");
    CHECK(reports[2] == "TO_EX()");
    CHECK(reports[3] == "TO_IN(" + pmip::to_string(kS1) + ")");
    CHECK(f.proxy->counters().upstream_reports_sent == reports.size());
    CHECK(f.upstream->groups.at(kSsm) == MembershipState{FilterMode::kInclude, {kS1}});
}

TEST_CASE("mcast kernel proxy: no usable upstream link-local: the report is left to the kernel, counted",
          "[mcast][kernel_proxy]") {
    Fixture f;
    f.interfaces->interfaces[kUp].link_local->usable = false;
    REQUIRE(f.proxy->add_downstream("d1").ok());
    f.join(kD1, kHost1, kG);
    CHECK(f.upstream->groups.contains(kG));  // the kernel's host part holds it
    CHECK(upstream_reports(f).empty());
    CHECK(f.proxy->counters().upstream_reports_not_sent_no_link_local == 1);
}

TEST_CASE(
    "mcast kernel proxy: RFC 4291 2.7: link-scope groups are tracked but never joined upstream",
    "[mcast][kernel_proxy]") {
    Fixture f;
    REQUIRE(f.proxy->add_downstream("d1").ok());
    const Ipv6Address solicited = addr("ff02::1:ff00:a1");
    f.join(kD1, kHost1, solicited);
    CHECK(f.proxy->instance().database().upstream_state(solicited).mode == FilterMode::kExclude);
    CHECK(f.upstream->groups.empty());
    CHECK(f.proxy->counters().upstream_link_scope_skipped == 1);
}

TEST_CASE(
    "mcast kernel proxy: a cache miss before any listener installs an entry without outputs, a "
    "join adds the "
    "downstream at once (no second cache miss)",
    "[mcast][kernel_proxy]") {
    Fixture f;
    REQUIRE(f.proxy->add_downstream("d1").ok());
    REQUIRE(f.proxy->add_downstream("d2").ok());
    f.router->upcall({1, 0, kS1, kG});  // NOCACHE on the upstream MIF
    REQUIRE(f.entry(kS1, kG) != nullptr);
    CHECK(f.entry(kS1, kG)->parent == 0);
    CHECK(f.entry(kS1, kG)->outputs.empty());
    CHECK(f.proxy->counters().mfc_adds == 1);

    f.join(kD2, kHost2, kG);
    CHECK(f.entry(kS1, kG)->outputs == mifs({2}));
    f.join(kD1, kHost1, kG);
    CHECK(f.entry(kS1, kG)->outputs == mifs({1, 2}));
    CHECK(f.proxy->counters().mfc_updates == 2);
    CHECK(f.proxy->counters().upcalls_nocache == 1);
}

TEST_CASE(
    "mcast kernel proxy: a leave removes the downstream from the entry after the Last Listener "
    "Queries",
    "[mcast][kernel_proxy]") {
    Fixture f;
    REQUIRE(f.proxy->add_downstream("d1").ok());
    f.join(kD1, kHost1, kG);
    f.router->upcall({1, 0, kS1, kG});
    CHECK(f.entry(kS1, kG)->outputs == mifs({1}));
    f.leave(kD1, kHost1, kG);
    CHECK(f.entry(kS1, kG)->outputs == mifs({1}));  // LLQ pending: still forwarding
    f.advance(1s);                                  // LLQT = 2 x 100 ms
    CHECK(f.entry(kS1, kG)->outputs.empty());
    CHECK(f.upstream->groups.empty());  // the last listener: upstream leave
}

TEST_CASE("mcast kernel proxy: SSM: only the sources a downstream includes are forwarded to it",
          "[mcast][kernel_proxy]") {
    Fixture f;
    REQUIRE(f.proxy->add_downstream("d1").ok());
    f.mld->deliver(
        Fixture::report(kD1, kHost1, {Fixture::record(RecordType::kAllowNewSources, kSsm, {kS1})}));
    f.router->upcall({1, 0, kS1, kSsm});
    f.router->upcall({1, 0, kS2, kSsm});
    CHECK(f.entry(kS1, kSsm)->outputs == mifs({1}));
    CHECK(f.entry(kS2, kSsm)->outputs.empty());
}

TEST_CASE(
    "mcast kernel proxy: RFC 4605 4.2: traffic from a downstream goes upstream and to other "
    "listeners",
    "[mcast][kernel_proxy]") {
    Fixture f;
    REQUIRE(f.proxy->add_downstream("d1").ok());
    REQUIRE(f.proxy->add_downstream("d2").ok());
    f.join(kD1, kHost1, kG);
    f.join(kD2, kHost2, kG);
    f.router->upcall({1, 1, kS1, kG});  // arrived on d1 (MIF 1)
    REQUIRE(f.entry(kS1, kG) != nullptr);
    CHECK(f.entry(kS1, kG)->parent == 1);
    CHECK(f.entry(kS1, kG)->outputs == mifs({0, 2}));  // never back to d1
}

TEST_CASE(
    "mcast kernel proxy: upcalls for unknown MIFs, other types and link-scope groups are counted "
    "and ignored",
    "[mcast][kernel_proxy]") {
    Fixture f;
    f.router->upcall({1, 7, kS1, kG});
    f.router->upcall({2, 0, kS1, kG});
    f.router->upcall({1, 0, kS1, addr("ff02::1:3")});
    CHECK(f.router->entries.empty());
    CHECK(f.proxy->counters().upcalls_unknown_mif == 1);
    CHECK(f.proxy->counters().upcalls_other == 1);
    CHECK(f.proxy->counters().upcalls_unroutable == 1);
}

TEST_CASE(
    "mcast kernel proxy: removing a downstream at run time drops its outputs, entries, MIF, rule "
    "and "
    "upstream membership",
    "[mcast][kernel_proxy]") {
    Fixture f;
    REQUIRE(f.proxy->add_downstream("d1").ok());
    REQUIRE(f.proxy->add_downstream("d2").ok());
    f.join(kD1, kHost1, kG);
    f.join(kD2, kHost2, kSsm);
    f.router->upcall({1, 0, kS1, kG});
    f.router->upcall({1, 2, kS2, kSsm});  // a source on d2
    CHECK(f.entry(kS1, kG)->outputs == mifs({1}));
    REQUIRE(f.proxy->remove_downstream("d1").ok());
    CHECK(f.entry(kS1, kG)->outputs.empty());
    CHECK_FALSE(f.upstream->groups.contains(kG));  // d1 held the last listener
    CHECK(f.upstream->groups.contains(kSsm));
    CHECK_FALSE(f.router->mifs.contains(1));
    CHECK_FALSE(f.mld->joined.contains(kD1));
    CHECK(f.routes.multicast_rules.size() == 2);
    REQUIRE(f.proxy->remove_downstream("d2").ok());
    CHECK(f.entry(kS2, kSsm) == nullptr);  // its traffic arrived on d2
    CHECK(f.routes.multicast_rules.size() == 1);
}

TEST_CASE(
    "mcast kernel proxy: entries without packets for the idle timeout are removed, busy ones stay",
    "[mcast][kernel_proxy]") {
    Fixture f;
    REQUIRE(f.proxy->add_downstream("d1").ok());
    f.join(kD1, kHost1, kG);
    f.router->upcall({1, 0, kS1, kG});
    f.router->upcall({1, 0, kS2, kG});
    for (int i = 0; i < 3; ++i) {
        f.router->count_packets(kS1, kG, 100);
        f.advance(30s);
    }
    CHECK(f.entry(kS1, kG) != nullptr);
    CHECK(f.entry(kS2, kG) == nullptr);
    CHECK(f.proxy->counters().mfc_idle_expired == 1);
    // A new cache miss brings it back with the current outputs.
    f.router->upcall({1, 0, kS2, kG});
    CHECK(f.entry(kS2, kG)->outputs == mifs({1}));
}

TEST_CASE(
    "mcast kernel proxy: a downstream whose link-local address is tentative starts once it is "
    "usable",
    "[mcast][kernel_proxy]") {
    Fixture f;
    REQUIRE(f.proxy->add_downstream("d3").ok());
    CHECK(f.router->mifs.contains(1));
    CHECK(f.mld->sent.empty());
    f.join(kD3, kHost1, kG);
    CHECK(f.proxy->counters().held_waiting_link_local == 1);
    CHECK_FALSE(f.upstream->groups.contains(kG));
    CHECK(f.proxy->show()["downstreams"][0]["state"] == "waiting for a usable link-local address");
    f.interfaces->interfaces[kD3].link_local->usable = true;
    f.advance(200ms);
    REQUIRE(f.mld->sent.size() >= 1);  // the General Query, from the now valid address
    CHECK(f.mld->sent[0].ifindex == kD3);
    CHECK(f.mld->sent[0].source == addr("fe80::d3"));
    CHECK(f.upstream->groups.contains(kG));  // the join kept while waiting
}

TEST_CASE("mcast kernel proxy: a tentative link-local address is polled after 1 ms, then at doubling intervals",
          "[mcast][kernel_proxy]") {
    Fixture f;
    REQUIRE(f.proxy->add_downstream("d3").ok());
    f.advance(1ms);  // t = 1 ms: first poll, still tentative
    f.advance(2ms);  // t = 3 ms: second poll
    f.interfaces->interfaces[kD3].link_local->usable = true;
    f.advance(3ms);  // t = 6 ms: the next poll is at 7 ms
    CHECK(f.mld->sent.empty());
    f.advance(1ms);
    REQUIRE(f.mld->sent.size() == 1);
    CHECK(f.mld->sent[0].source == addr("fe80::d3"));
}

TEST_CASE("mcast kernel proxy: link-local polling backs off to link_local_retry", "[mcast][kernel_proxy]") {
    Fixture f;
    REQUIRE(f.proxy->add_downstream("d3").ok());
    for (int i = 0; i < 1000; ++i) f.advance(1ms);  // polls at 1, 3, 7, 15, 31, 63, 127, 255, 455, 655, 855 ms
    f.interfaces->interfaces[kD3].link_local->usable = true;
    for (int i = 0; i < 54; ++i) f.advance(1ms);  // t = 1054 ms: the next poll is at 1055 ms
    CHECK(f.mld->sent.empty());
    f.advance(1ms);
    CHECK(f.mld->sent.size() == 1);
}

TEST_CASE(
    "mcast kernel proxy: after an early General Query the new downstream sends none at once, "
    "the next one comes a Startup Query Interval after the early one",
    "[mcast][kernel_proxy]") {
    Fixture f;
    auto queries_on = [&](int ifindex) {
        return std::count_if(f.mld->sent.begin(), f.mld->sent.end(),
                             [&](const FakeMldSocket::Sent& m) { return m.ifindex == ifindex; });
    };
    const TimePoint early = f.clock.now();
    f.advance(5ms);  // the PBU/PBA exchange
    REQUIRE(f.proxy->add_downstream("d1", f.proxy->config().querier, early).ok());
    CHECK(f.mld->sent.empty());
    CHECK(f.proxy->counters().early_queries_adopted == 1);
    // Its answer, as captured before the link was added, and its processing.
    f.proxy->receive_captured(
        Fixture::report(kD1, kHost1, {Fixture::record(RecordType::kModeIsExclude, kG)}));
    CHECK(f.upstream->groups.contains(kG));
    CHECK(f.proxy->counters().captured_received == 1);
    const Duration startup = f.proxy->config().querier.startup_query_interval;
    f.advance(startup - 5ms - 1ms);
    CHECK(queries_on(kD1) == 0);
    f.advance(1ms);
    CHECK(queries_on(kD1) == 1);
}

TEST_CASE("mcast kernel proxy: an early query older than its response time plus the grace is not adopted",
          "[mcast][kernel_proxy]") {
    Fixture f;  // query_response_interval 1 s
    const TimePoint early = f.clock.now();
    f.advance(1s + KernelProxy::kEarlyQueryGrace + 1ms);
    REQUIRE(f.proxy->add_downstream("d1", f.proxy->config().querier, early).ok());
    CHECK(f.mld->sent.size() == 1);  // an ordinary start: a General Query at once
    CHECK(f.proxy->counters().early_queries_too_old == 1);
    CHECK(f.proxy->counters().early_queries_adopted == 0);
}

TEST_CASE(
    "mcast kernel proxy: captured messages and socket ones wait for the downstream's "
    "link-local, are checked alike, and are bounded",
    "[mcast][kernel_proxy]") {
    Fixture f;
    f.proxy->receive_captured(
        Fixture::report(kD3, kHost1, {Fixture::record(RecordType::kModeIsExclude, kG)}));
    CHECK(f.proxy->counters().drop_not_downstream == 1);
    const TimePoint early = f.clock.now();
    REQUIRE(f.proxy->add_downstream("d3", f.proxy->config().querier, early).ok());  // tentative
    ReceivedMld bad = Fixture::report(kD3, kHost2, {Fixture::record(RecordType::kModeIsExclude, kSsm)});
    bad.hop_limit = 2;
    f.proxy->receive_captured(bad);
    f.proxy->receive_captured(
        Fixture::report(kD3, kHost1, {Fixture::record(RecordType::kModeIsExclude, kG)}));
    f.join(kD3, kHost2, kG);  // through the socket
    CHECK(f.proxy->counters().held_waiting_link_local == 3);
    for (std::size_t i = 3; i < KernelProxy::kMaxHeld + 1; ++i) {
        f.proxy->receive_captured(
            Fixture::report(kD3, kHost1, {Fixture::record(RecordType::kModeIsExclude, kG)}));
    }
    CHECK(f.proxy->counters().drop_waiting_link_local == 1);
    CHECK(f.proxy->counters().captured_received == KernelProxy::kMaxHeld + 1);  // + the first
    CHECK_FALSE(f.upstream->groups.contains(kG));
    f.interfaces->interfaces[kD3].link_local->usable = true;
    f.advance(1ms);
    // Started within the grace: the early query counts, none on d3 (what
    // was sent is the upstream State Change Report).
    CHECK(std::none_of(f.mld->sent.begin(), f.mld->sent.end(),
                       [](const FakeMldSocket::Sent& m) { return m.ifindex == kD3; }));
    CHECK(f.upstream->groups.contains(kG));
    CHECK_FALSE(f.upstream->groups.contains(kSsm));
    CHECK(f.proxy->counters().drop_hop_limit == 1);
    CHECK(f.proxy->counters().mld_accepted == KernelProxy::kMaxHeld - 1);
    const auto listeners = f.proxy->show()["downstreams"][0]["groups"];
    CHECK_FALSE(listeners.empty());
}

TEST_CASE("mcast kernel proxy: policy: a denied group is neither joined upstream nor forwarded",
          "[mcast][kernel_proxy]") {
    KernelProxyConfig c = Fixture::default_config();
    c.policy.denied_groups.push_back(*parse_prefix("ff0e::db8:1/128"));
    Fixture f(c);
    REQUIRE(f.proxy->add_downstream("d1").ok());
    f.join(kD1, kHost1, kG);
    f.router->upcall({1, 0, kS1, kG});
    CHECK(f.upstream->groups.empty());
    CHECK(f.entry(kS1, kG)->outputs.empty());
    CHECK(f.proxy->instance().counters().records_refused == 1);
    // Lifting the policy recomputes the entries (the next report joins).
    f.proxy->set_policy({});
    f.join(kD1, kHost1, kG);
    CHECK(f.entry(kS1, kG)->outputs == mifs({1}));
}

TEST_CASE("mcast kernel proxy: a failing kernel call is counted and named, the proxy goes on",
          "[mcast][kernel_proxy]") {
    Fixture f;
    REQUIRE(f.proxy->add_downstream("d1").ok());
    f.upstream->fail_with = Error{ENOBUFS, "upstream up1: MCAST_MSFILTER: No buffer space"};
    f.join(kD1, kHost1, kG);
    CHECK(f.proxy->counters().upstream_errors == 1);
    f.mld->fail_send = Error{ENETDOWN, "MLD socket: sendmsg: Network is down"};
    f.advance(200s);  // general queries due
    CHECK(f.proxy->counters().query_send_errors >= 1);
}

TEST_CASE("mcast kernel proxy: show(): instance, interfaces, groups, listeners, MFC and counters",
          "[mcast][kernel_proxy]") {
    Fixture f;
    REQUIRE(f.proxy->add_downstream("d1").ok());
    f.mld->deliver(
        Fixture::report(kD1, kHost1, {Fixture::record(RecordType::kAllowNewSources, kSsm, {kS1})}));
    f.router->upcall({1, 0, kS1, kSsm});
    f.router->count_packets(kS1, kSsm, 5);
    const nlohmann::json j = f.proxy->show();
    CHECK(j["instance"] == "A");
    CHECK(j["table"] == 100);
    CHECK(j["upstream"]["name"] == "up1");
    const auto& d = j["downstreams"][0];
    CHECK(d["name"] == "d1");
    CHECK(d["mif"] == 1);
    CHECK(d["querier"] == true);
    CHECK(d["link_local"] == "fe80::d1");
    REQUIRE(d["groups"].size() == 1);
    CHECK(d["groups"][0]["group"] == "ff3e::8000:1");
    CHECK(d["groups"][0]["filter_mode"] == "include");
    CHECK(d["groups"][0]["sources"][0]["address"] == "2001:db8:1::1");
    CHECK(d["groups"][0]["sources"][0]["timer_ms"] > 0);
    CHECK(d["groups"][0]["listeners"][0]["address"] == "fe80::a1");
    CHECK(j["groups"][0]["upstream"]["filter_mode"] == "include");
    CHECK(j["mfc"][0]["iif"] == "up1");
    CHECK(j["mfc"][0]["oifs"][0] == "d1");
    CHECK(j["mfc"][0]["packets"] == 5);
    CHECK(j["counters"]["mld_accepted"] == 1);
    CHECK(j["counters"]["instance"]["messages_received"] == 1);
}

TEST_CASE(
    "mcast kernel proxy: destruction removes every entry, MIF and rule and leaves every upstream "
    "group",
    "[mcast][kernel_proxy]") {
    Fixture f;
    REQUIRE(f.proxy->add_downstream("d1").ok());
    REQUIRE(f.proxy->add_downstream("d2").ok());
    f.join(kD1, kHost1, kG);
    f.mld->deliver(
        Fixture::report(kD2, kHost2, {Fixture::record(RecordType::kAllowNewSources, kSsm, {kS1})}));
    f.router->upcall({1, 0, kS1, kG});
    f.router->upcall({1, 0, kS1, kSsm});
    REQUIRE(f.upstream->groups.size() == 2);
    f.proxy.reset();
    CHECK(f.router->entries.empty());
    CHECK(f.router->mifs.empty());
    CHECK(f.routes.multicast_rules.empty());
    CHECK(f.upstream->groups.empty());
    CHECK(f.mld->joined.empty());
    CHECK(f.timers.pending() == 0);
}

// --- backends with (*,G) entries and no ip6mr rules (ebpf) ---------------------

namespace {
Fixture ebpf_fixture(MifIndex max_mifs = 200) {
    return Fixture(Fixture::default_config(), max_mifs, true);
}
const MfcEntry* group_entry(const Fixture& f, const Ipv6Address& g) {
    const auto it = f.router->group_entries.find(g);
    return it == f.router->group_entries.end() ? nullptr : &it->second;
}
}  // namespace

TEST_CASE("mcast kernel proxy, (*,G) backend: no ip6mr rules, a join installs (*,G) before any data",
          "[mcast][kernel_proxy][group_entries]") {
    Fixture f = ebpf_fixture();
    REQUIRE(f.proxy->add_downstream("d1").ok());
    REQUIRE(f.proxy->add_downstream("d2").ok());
    CHECK(f.routes.multicast_rules.empty());
    CHECK(f.router->group_entries.empty());
    f.join(kD1, kHost1, kG);
    REQUIRE(group_entry(f, kG) != nullptr);
    CHECK(group_entry(f, kG)->parent == 0);
    CHECK(group_entry(f, kG)->outputs == mifs({1}));
    CHECK(f.router->entries.empty());  // no (S,G) needed: no source named, no data yet
    f.join(kD2, kHost2, kG);
    CHECK(group_entry(f, kG)->outputs == mifs({1, 2}));
    f.leave(kD1, kHost1, kG);
    f.advance(1s);  // last listener queries (LLQI 100 ms x 2), then the state goes
    CHECK(group_entry(f, kG)->outputs == mifs({2}));
    f.leave(kD2, kHost2, kG);
    f.advance(1s);
    CHECK(group_entry(f, kG) == nullptr);
    CHECK(f.proxy->counters().group_entry_errors == 0);
    CHECK(f.proxy->show()["group_entries"].empty());
}

TEST_CASE("mcast kernel proxy, (*,G) backend: named sources get their (S,G) at the join, kept while named",
          "[mcast][kernel_proxy][group_entries]") {
    Fixture f = ebpf_fixture();
    REQUIRE(f.proxy->add_downstream("d1").ok());
    REQUIRE(f.proxy->add_downstream("d2").ok());
    // d1: SSM INCLUDE {S1}; d2: ASM but EXCLUDE {S2}.
    f.mld->deliver(
        Fixture::report(kD1, kHost1, {Fixture::record(RecordType::kAllowNewSources, kSsm, {kS1})}));
    f.mld->deliver(Fixture::report(
        kD2, kHost2, {Fixture::record(RecordType::kChangeToExcludeMode, kSsm, {kS2})}));
    REQUIRE(f.entry(kS1, kSsm) != nullptr);
    CHECK(f.entry(kS1, kSsm)->parent == 0);
    CHECK(f.entry(kS1, kSsm)->outputs == mifs({1, 2}));  // d1 includes it, d2 does not exclude it
    REQUIRE(f.entry(kS2, kSsm) != nullptr);
    CHECK(f.entry(kS2, kSsm)->outputs.empty());  // d1 did not ask, d2 excludes it
    REQUIRE(group_entry(f, kSsm) != nullptr);
    CHECK(group_entry(f, kSsm)->outputs == mifs({2}));  // any other source: d2 only
    CHECK(f.proxy->counters().mfc_preinstalled == 2);
    // No data ever: the named entries outlive the idle timeout while named.
    f.advance(31s);
    f.advance(31s);
    CHECK(f.entry(kS1, kSsm) != nullptr);
    CHECK(f.entry(kS2, kSsm) != nullptr);
    CHECK(f.proxy->counters().mfc_idle_expired == 0);
}

TEST_CASE("mcast kernel proxy, (*,G) backend: a removed downstream leaves every (*,G), destruction removes all",
          "[mcast][kernel_proxy][group_entries]") {
    Fixture f = ebpf_fixture();
    REQUIRE(f.proxy->add_downstream("d1").ok());
    REQUIRE(f.proxy->add_downstream("d2").ok());
    f.join(kD1, kHost1, kG);
    f.join(kD2, kHost2, kG);
    REQUIRE(f.proxy->remove_downstream("d1").ok());
    CHECK(group_entry(f, kG)->outputs == mifs({2}));
    f.proxy.reset();
    CHECK(f.router->group_entries.empty());
    CHECK(f.router->entries.empty());
}

TEST_CASE("mcast kernel proxy, (*,G) backend: past 31 downstreams (no MAXMIFS)",
          "[mcast][kernel_proxy][group_entries]") {
    Fixture f = ebpf_fixture(200);
    for (int i = 0; i < 150; ++i) {
        const int ifindex = 100 + i;
        const std::string name = "mn" + std::to_string(i);
        f.interfaces->interfaces[ifindex] = {name, LinkLocalAddress{addr("fe80::1:1"), true}};
        REQUIRE(f.proxy->add_downstream(name).ok());
        f.join(ifindex, kHost1, kG);
    }
    REQUIRE(group_entry(f, kG) != nullptr);
    CHECK(group_entry(f, kG)->outputs.size() == 150);
    CHECK(f.proxy->show()["forwarding"]["max_interfaces"] == 200);
}

TEST_CASE("mcast kernel proxy: static subscriptions: joined upstream and forwarded without a report, kept for a "
          "downstream waiting for its link-local address, shown, gone with the downstream",
          "[mcast][kernel_proxy][static]") {
    Fixture f;
    CHECK_FALSE(f.proxy->set_static_subscriptions("d1", {{kG, MembershipState{FilterMode::kExclude, {}}}}).ok());
    REQUIRE(f.proxy->add_downstream("d1").ok());
    REQUIRE(f.proxy->set_static_subscriptions("d1", {{kG, MembershipState{FilterMode::kExclude, {}}}}).ok());
    CHECK(f.upstream->groups.contains(kG));
    f.router->upcall({1, 0, kS1, kG});  // NOCACHE on the upstream MIF
    REQUIRE(f.entry(kS1, kG) != nullptr);
    CHECK(f.entry(kS1, kG)->outputs == mifs({1}));
    const auto shown = f.proxy->show()["downstreams"][0]["static"];
    REQUIRE(shown.size() == 1);
    CHECK(shown[0]["group"] == to_string(kG));
    CHECK(shown[0]["filter_mode"] == "exclude");

    // Waiting for its link-local address: held, set up at the start.
    REQUIRE(f.proxy->add_downstream("d3").ok());
    REQUIRE(f.proxy->set_static_subscriptions("d3", {{kSsm, MembershipState{FilterMode::kInclude, {kS2}}}}).ok());
    CHECK_FALSE(f.upstream->groups.contains(kSsm));
    CHECK(f.proxy->show()["downstreams"][1]["static"].size() == 1);
    f.interfaces->interfaces[kD3].link_local->usable = true;
    f.advance(200ms);
    CHECK(f.upstream->groups.contains(kSsm));

    REQUIRE(f.proxy->remove_downstream("d1").ok());
    CHECK_FALSE(f.upstream->groups.contains(kG));
    REQUIRE(f.proxy->remove_downstream("d3").ok());
    CHECK_FALSE(f.upstream->groups.contains(kSsm));
}

TEST_CASE("mcast kernel proxy: a downstream prepared ahead has its MIF, rule and router groups but no "
          "querier and no forwarding until add_downstream takes it over, and unprepare undoes it",
          "[mcast][kernel_proxy][prepare]") {
    Fixture f;
    REQUIRE(f.proxy->prepare_downstream("d1").ok());
    CHECK(f.proxy->has_prepared_downstream("d1"));
    CHECK_FALSE(f.proxy->has_downstream("d1"));
    CHECK(f.router->mifs.at(1) == kD1);
    CHECK(f.routes.multicast_rules.size() == 2);
    CHECK(f.mld->joined.contains(kD1));
    CHECK(f.mld->sent.empty());  // no querier yet
    // A report on the prepared link is not taken (no downstream yet).
    f.join(kD1, kHost1, kG);
    CHECK(f.proxy->instance().database().upstream_state(kG).no_listeners());
    // Preparing again, or a prepared link's MIF, is not handed out twice.
    REQUIRE(f.proxy->prepare_downstream("d1").ok());
    REQUIRE(f.proxy->add_downstream("d2").ok());
    CHECK(f.router->mifs.at(2) == kD2);
    CHECK(f.proxy->counters().downstreams_prepared == 1);

    SECTION("add_downstream takes it over: no second MIF, the querier starts") {
        const auto calls_before = f.router->mifs.size();
        REQUIRE(f.proxy->add_downstream("d1").ok());
        CHECK(f.router->mifs.size() == calls_before);
        CHECK(f.router->mifs.at(1) == kD1);
        CHECK_FALSE(f.proxy->has_prepared_downstream("d1"));
        CHECK(f.proxy->has_downstream("d1"));
        CHECK(f.proxy->counters().downstreams_prepared_used == 1);
        REQUIRE(f.mld->sent.size() == 2);  // d2's and now d1's General Query
        CHECK(f.mld->sent[1].ifindex == kD1);
        f.join(kD1, kHost1, kG);
        CHECK(f.proxy->instance().database().upstream_state(kG).mode == FilterMode::kExclude);
        f.proxy->unprepare_downstream("d1");  // nothing to undo any more
        CHECK(f.router->mifs.at(1) == kD1);
        CHECK(f.proxy->counters().downstreams_unprepared == 0);
    }
    SECTION("unprepare: the MIF, rule and router groups go, the MIF is free again") {
        f.proxy->unprepare_downstream("d1");
        CHECK_FALSE(f.router->mifs.contains(1));
        CHECK(f.routes.multicast_rules.size() == 2);  // upstream's and d2's
        CHECK_FALSE(f.mld->joined.contains(kD1));
        CHECK(f.proxy->counters().downstreams_unprepared == 1);
        REQUIRE(f.proxy->add_downstream("d3").ok());
        CHECK(f.router->mifs.at(1) == kD3);
    }
    SECTION("destruction removes a prepared link's kernel state") {
        f.proxy.reset();
        CHECK(f.router->mifs.empty());
        CHECK(f.routes.multicast_rules.empty());
        CHECK(f.mld->joined.empty());
    }
}

TEST_CASE("mcast kernel proxy: traffic arriving on a prepared link gets an entry without outputs (not left "
          "unresolved), recomputed when the link becomes a downstream, deleted when it is unprepared",
          "[mcast][kernel_proxy][prepare]") {
    Fixture f;
    REQUIRE(f.proxy->prepare_downstream("d1").ok());
    f.router->upcall({1, 1, kS1, kG});  // NOCACHE on d1's MIF
    REQUIRE(f.entry(kS1, kG) != nullptr);
    CHECK(f.entry(kS1, kG)->parent == 1);
    CHECK(f.entry(kS1, kG)->outputs.empty());
    CHECK(f.proxy->counters().upcalls_unknown_mif == 0);
    SECTION("taken over: from a downstream, the upstream is an output (RFC 4605 section 4.2)") {
        REQUIRE(f.proxy->add_downstream("d1").ok());
        REQUIRE(f.entry(kS1, kG) != nullptr);
        CHECK(f.entry(kS1, kG)->outputs == mifs({0}));
    }
    SECTION("unprepared: the entry goes with the MIF") {
        f.proxy->unprepare_downstream("d1");
        CHECK(f.entry(kS1, kG) == nullptr);
    }
}

// --- several upstreams (upstream_rules.hpp) ------------------------------------

namespace {
SourceGroupRule rule(const char* source, const char* group) {
    return {*parse_prefix(source), *parse_prefix(group)};
}
// The direct link "lr1" takes ff3e::8000:0/112 from 2001:db8:1::/64 and
// ff0e::db8:0/112 from any source; the main upstream the rest.
KernelProxyConfig two_upstreams(UpstreamMatching matching = UpstreamMatching::kFirst) {
    KernelProxyConfig c = Fixture::default_config();
    c.extra_upstreams.push_back(
        {"lr1", {rule("2001:db8:1::/64", "ff3e::8000:0/112"), rule("::/0", "ff0e::db8:0/112")}});
    c.matching = matching;
    return c;
}
const Ipv6Address kOther = addr("ff0e::77");
}  // namespace

TEST_CASE("upstream rules: first matching splits INCLUDE by source and gives EXCLUDE to the "
          "any-source rule",
          "[mcast][upstream_rules]") {
    const UpstreamRules r({{rule("2001:db8:1::/64", "ff3e::/32")}, {}}, UpstreamMatching::kFirst);
    CHECK_FALSE(r.trivial());
    const Ipv6Address g = addr("ff3e::1");
    const Ipv6Address far = addr("2001:db8:9::9");
    MembershipState in{FilterMode::kInclude, {kS1, far}};
    CHECK(r.project(0, g, in) == MembershipState{FilterMode::kInclude, {kS1}});
    CHECK(r.project(1, g, in) == MembershipState{FilterMode::kInclude, {far}});
    // A source-specific rule does not take an any-source join.
    MembershipState ex{FilterMode::kExclude, {far}};
    CHECK(r.project(0, g, ex).no_listeners());
    CHECK(r.project(1, g, ex) == ex);
    CHECK(r.accepts(0, kS1, g, in));
    CHECK_FALSE(r.accepts(1, kS1, g, in));  // the same channel from the other upstream
    CHECK(r.accepts(1, far, g, in));
    CHECK_FALSE(r.accepts(0, far, g, in));
    CHECK_FALSE(r.accepts(1, far, g, ex));  // excluded
    CHECK(r.accepts(1, kS1, g, ex));
    CHECK(r.targets(kS1, g) == std::vector<std::size_t>{0});
    CHECK(r.targets(far, g) == std::vector<std::size_t>{1});
    CHECK(r.any_source_upstream(g) == 1);
    CHECK(UpstreamRules({{}}, UpstreamMatching::kFirst).trivial());
}

TEST_CASE("upstream rules: all matching gives a channel to every upstream that matches",
          "[mcast][upstream_rules]") {
    const UpstreamRules r({{rule("::/0", "ff0e::/16")}, {rule("2001:db8:1::/64", "ff0e::/16")}, {}},
                          UpstreamMatching::kAll);
    const Ipv6Address g = addr("ff0e::1");
    MembershipState in{FilterMode::kInclude, {kS1}};
    for (std::size_t i = 0; i < 3; ++i) CHECK(r.project(i, g, in) == in);
    MembershipState ex{FilterMode::kExclude, {}};
    CHECK(r.project(0, g, ex) == ex);
    CHECK(r.project(1, g, ex).no_listeners());  // source-specific: no any-source join
    CHECK(r.project(2, g, ex) == ex);
    CHECK(r.targets(kS1, g) == std::vector<std::size_t>{0, 1, 2});
    CHECK(r.targets(addr("2001:db8:7::1"), addr("ff05::1")) == std::vector<std::size_t>{2});
    // No upstream matches: nothing joined, nothing accepted.
    const UpstreamRules none({{rule("::/0", "ff0e::/16")}}, UpstreamMatching::kFirst);
    CHECK(none.project(0, addr("ff05::1"), ex).no_listeners());
    CHECK(none.targets(kS1, addr("ff05::1")).empty());
    CHECK(none.any_source_upstream(addr("ff05::1")) == 1);
}

TEST_CASE("mcast kernel proxy: two upstreams: each gets its MIF and rule, and joins its channels "
          "only",
          "[mcast][kernel_proxy][upstream_rules]") {
    Fixture f(two_upstreams());
    CHECK(f.router->mifs == std::map<MifIndex, int>{{0, kUp}, {1, kDirect}});
    CHECK(f.routes.multicast_rules.size() == 2);
    CHECK(f.proxy->upstream_ifindexes() == std::vector<int>{kDirect, kUp});
    REQUIRE(f.proxy->add_downstream("d1").ok());
    CHECK(f.router->mifs.at(2) == kD1);  // downstreams after the upstreams' MIFs
    CHECK_FALSE(f.proxy->add_downstream("lr1").ok());  // an upstream
    f.join(kD1, kHost1, kG);      // ff0e::db8:1: the direct link's any-source rule
    f.join(kD1, kHost1, kOther);  // the main upstream
    f.mld->deliver(Fixture::report(
        kD1, kHost1,
        {Fixture::record(RecordType::kAllowNewSources, kSsm, {kS1, addr("2001:db8:9::9")})}));
    FakeUpstreamMembership& direct = *f.extras_owned[0];
    CHECK(direct.groups.at(kG) == MembershipState{FilterMode::kExclude, {}});
    CHECK_FALSE(direct.groups.contains(kOther));
    CHECK(direct.groups.at(kSsm) == MembershipState{FilterMode::kInclude, {kS1}});
    CHECK_FALSE(f.upstream->groups.contains(kG));
    CHECK(f.upstream->groups.at(kOther) == MembershipState{FilterMode::kExclude, {}});
    CHECK(f.upstream->groups.at(kSsm) ==
          MembershipState{FilterMode::kInclude, {addr("2001:db8:9::9")}});
    // Each change is also reported at once on its own upstream.
    int on_direct = 0, on_main = 0;
    for (const auto& m : f.mld->sent) {
        on_direct += m.ifindex == kDirect && m.source == addr("fe80::3");
        on_main += m.ifindex == kUp;
    }
    CHECK(on_direct == 2);
    CHECK(on_main == 2);
    const auto shown = f.proxy->show();
    REQUIRE(shown["upstreams"].size() == 2);
    CHECK(shown["upstreams"][0]["name"] == "lr1");
    CHECK(shown["upstreams"][1]["channels"] == "all");
    CHECK(shown["matching"] == "first");
    // The last listener goes: each upstream leaves its part.
    REQUIRE(f.proxy->remove_downstream("d1").ok());
    CHECK(direct.groups.empty());
    CHECK(f.upstream->groups.empty());
}

TEST_CASE("mcast kernel proxy: two upstreams: data is forwarded only from the upstream asked for "
          "it, a downstream's data goes to the upstream that matches",
          "[mcast][kernel_proxy][upstream_rules]") {
    Fixture f(two_upstreams());
    REQUIRE(f.proxy->add_downstream("d1").ok());
    f.join(kD1, kHost1, kG);
    f.router->upcall({1, 1, kS1, kG});  // on the direct link (MIF 1)
    f.router->upcall({1, 0, kS2, kG});  // the same group through the main upstream
    REQUIRE(f.entry(kS1, kG) != nullptr);
    CHECK(f.entry(kS1, kG)->outputs == mifs({2}));
    // Not asked from there: the entry waits for kS2 on the direct link (its
    // parent), so the main upstream's copy is refused as arriving on the
    // wrong interface and the direct link's is forwarded: no duplicate.
    REQUIRE(f.entry(kS2, kG) != nullptr);
    CHECK(f.entry(kS2, kG)->parent == 1);
    CHECK(f.entry(kS2, kG)->outputs == mifs({2}));
    f.join(kD1, kHost1, kOther);
    f.router->upcall({1, 0, kS2, kOther});
    CHECK(f.entry(kS2, kOther)->outputs == mifs({2}));
    // From the downstream: the upstream whose rule matches, not both.
    f.router->upcall({1, 2, kS1, addr("ff0e::db8:9")});
    CHECK(f.entry(kS1, addr("ff0e::db8:9"))->outputs == mifs({1}));
    f.router->upcall({1, 2, kS1, addr("ff0e::99")});
    CHECK(f.entry(kS1, addr("ff0e::99"))->outputs == mifs({0}));
    // The listener leaves: the direct entry loses its output.
    f.leave(kD1, kHost1, kG);
    f.advance(1s);
    CHECK(f.entry(kS1, kG)->outputs.empty());
}

TEST_CASE("mcast kernel proxy, (*,G) backend: two upstreams: the (*,G) parent is the upstream of "
          "the group's any-source rule",
          "[mcast][kernel_proxy][upstream_rules]") {
    Fixture f(two_upstreams(), 200, true);
    REQUIRE(f.proxy->add_downstream("d1").ok());
    f.join(kD1, kHost1, kG);
    f.join(kD1, kHost1, kOther);
    REQUIRE(group_entry(f, kG) != nullptr);
    CHECK(group_entry(f, kG)->parent == 1);
    CHECK(group_entry(f, kOther)->parent == 0);
    // A named source of the direct range: its pinned entry expects the direct link.
    f.mld->deliver(
        Fixture::report(kD1, kHost1, {Fixture::record(RecordType::kAllowNewSources, kSsm, {kS1})}));
    REQUIRE(f.entry(kS1, kSsm) != nullptr);
    CHECK(f.entry(kS1, kSsm)->parent == 1);
    CHECK(f.entry(kS1, kSsm)->outputs == mifs({2}));
    f.proxy.reset();
    CHECK(f.router->mifs.empty());
    CHECK(f.extras_owned[0]->groups.empty());
}

TEST_CASE("mcast kernel proxy: no MLD on the downstreams (listener): no query, reports dropped and "
          "counted, static subscriptions served",
          "[mcast][kernel_proxy][listener]") {
    KernelProxyConfig c = Fixture::default_config();
    c.downstream_mld = false;
    Fixture f(c);
    REQUIRE(f.proxy->add_downstream("d1").ok());
    CHECK_FALSE(f.mld->joined.contains(kD1));  // no router groups
    f.advance(5s);                              // startup queries would be due
    CHECK(f.mld->sent.empty());
    CHECK(f.proxy->counters().queries_sent == 0);
    CHECK(f.proxy->counters().queries_not_sent_mld_off >= 1);
    f.join(kD1, kHost1, kG);
    CHECK(f.proxy->counters().drop_downstream_mld_off == 1);
    CHECK(f.upstream->groups.empty());
    // The profile's channel: joined upstream and forwarded without any MLD.
    REQUIRE(f.proxy->set_static_subscriptions("d1", {{kOther, MembershipState{FilterMode::kExclude, {}}}}).ok());
    CHECK(f.upstream->groups.at(kOther) == MembershipState{FilterMode::kExclude, {}});
    f.router->upcall({1, 0, kS1, kOther});
    CHECK(f.entry(kS1, kOther)->outputs == mifs({1}));
    f.advance(300s);  // no RFC 3810 timer takes it: not learnt from MLD
    CHECK(f.upstream->groups.contains(kOther));
    CHECK(f.proxy->show()["downstream_mld"] == false);
    REQUIRE(f.proxy->remove_downstream("d1").ok());
    CHECK(f.upstream->groups.empty());
    for (const auto& m : f.mld->sent) CHECK(m.ifindex == kUp);  // the upstream's reports only
}

TEST_CASE("mcast kernel proxy: filter tables changed at run time cut the state held at once",
          "[mcast][kernel_proxy][filter]") {
    Fixture f;
    REQUIRE(f.proxy->add_downstream("d1").ok());
    f.join(kD1, kHost1, kG);
    f.join(kD1, kHost1, kOther);
    REQUIRE(f.proxy->set_static_subscriptions("d1", {{kSsm, MembershipState{FilterMode::kInclude, {kS1, kS2}}}}).ok());
    f.router->upcall({1, 0, kS1, kG});
    REQUIRE(f.entry(kS1, kG)->outputs == mifs({1}));
    Policy p;
    p.denied_groups.push_back(*parse_prefix("ff0e::db8:0/112"));                 // kG
    p.denied_sources.push_back({*parse_prefix("2001:db8:1::2/128"), *parse_prefix("ff3e::/16")});  // kS2
    f.proxy->set_policy(p);
    CHECK_FALSE(f.upstream->groups.contains(kG));  // left at once
    CHECK(f.entry(kS1, kG)->outputs.empty());
    CHECK(f.upstream->groups.at(kOther) == MembershipState{FilterMode::kExclude, {}});
    CHECK(f.upstream->groups.at(kSsm) == MembershipState{FilterMode::kInclude, {kS1}});
    // The next report of the denied group is refused; lifting the table
    // admits it again from the listener's next report.
    f.join(kD1, kHost1, kG);
    CHECK_FALSE(f.upstream->groups.contains(kG));
    f.proxy->set_policy({});
    CHECK(f.upstream->groups.at(kSsm) == MembershipState{FilterMode::kInclude, {kS1, kS2}});
    f.join(kD1, kHost1, kG);
    CHECK(f.upstream->groups.contains(kG));
    CHECK(f.entry(kS1, kG)->outputs == mifs({1}));
}

TEST_CASE("mcast kernel proxy, (*,G) backend: two upstreams: a named source's entry moves to the "
          "upstream whose source rule takes it when the group's last any-source listener goes",
          "[mcast][kernel_proxy][upstream_rules]") {
    KernelProxyConfig c = Fixture::default_config();
    c.extra_upstreams.push_back({"lr1", {rule("2001:db8:1::/64", "ff0e::/16")}});  // no any-source rule
    Fixture f(c, 200, true);
    REQUIRE(f.proxy->add_downstream("d1").ok());
    REQUIRE(f.proxy->add_downstream("d2").ok());
    f.mld->deliver(
        Fixture::report(kD1, kHost1, {Fixture::record(RecordType::kAllowNewSources, kOther, {kS1})}));
    f.join(kD2, kHost2, kOther);  // EXCLUDE {}: the any-source join goes to the main upstream
    REQUIRE(f.entry(kS1, kOther) != nullptr);
    CHECK(f.entry(kS1, kOther)->parent == 0);
    CHECK(f.extras_owned[0]->groups.empty());
    f.leave(kD2, kHost2, kOther);
    f.advance(1s);  // d2's state goes: INCLUDE {S1}, which lr1's source rule takes
    CHECK(f.extras_owned[0]->groups.at(kOther) == MembershipState{FilterMode::kInclude, {kS1}});
    CHECK_FALSE(f.upstream->groups.contains(kOther));
    REQUIRE(f.entry(kS1, kOther) != nullptr);
    CHECK(f.entry(kS1, kOther)->parent == 1);
    CHECK(f.entry(kS1, kOther)->outputs == mifs({2}));  // d1's MIF (lr1 took MIF 1)
}

TEST_CASE("mcast kernel proxy, (*,G) backend: all matching: a source both upstreams serve is not "
          "pinned to one (its first packet decides)",
          "[mcast][kernel_proxy][upstream_rules]") {
    KernelProxyConfig c = Fixture::default_config();
    c.extra_upstreams.push_back({"lr1", {rule("::/0", "ff3e::/16")}});
    c.matching = UpstreamMatching::kAll;
    Fixture f(c, 200, true);
    REQUIRE(f.proxy->add_downstream("d1").ok());
    f.mld->deliver(
        Fixture::report(kD1, kHost1, {Fixture::record(RecordType::kAllowNewSources, kSsm, {kS1})}));
    CHECK(f.extras_owned[0]->groups.at(kSsm) == MembershipState{FilterMode::kInclude, {kS1}});
    CHECK(f.upstream->groups.at(kSsm) == MembershipState{FilterMode::kInclude, {kS1}});
    CHECK(f.entry(kS1, kSsm) == nullptr);  // not pinned
    f.router->upcall({1, 0, kS1, kSsm});   // the main upstream's copy comes first
    REQUIRE(f.entry(kS1, kSsm) != nullptr);
    CHECK(f.entry(kS1, kSsm)->parent == 0);
    CHECK(f.entry(kS1, kSsm)->outputs == mifs({2}));
}

TEST_CASE("mcast kernel proxy: an extra upstream listed twice is refused", "[mcast][kernel_proxy][upstream_rules]") {
    KernelProxyConfig c = two_upstreams();
    c.extra_upstreams.push_back({"lr1", {}});
    CHECK(validate(c) == "extra upstream lr1 is listed twice");
}

// --- RFC 7287 section 5: peering ---------------------------------------------

namespace {
KernelProxyConfig with_peering(Duration wait = 25ms) {
    KernelProxyConfig c = Fixture::default_config();
    c.peerings.push_back({"p0", wait});
    return c;
}
const Ipv6Address kPeerHost = addr("fe80::99");  // the other MAG's proxy on p0
const Ipv6Address kFar = addr("2001:db8:9::9");  // not one of our MNs
}  // namespace

TEST_CASE("mcast kernel proxy: peering: its own MIF, rule, router groups and querier, and a "
          "peering is never a downstream",
          "[mcast][kernel_proxy][peering]") {
    Fixture f(with_peering());
    CHECK(f.router->mifs == std::map<MifIndex, int>{{0, kUp}, {1, kPeer}});
    CHECK(f.routes.multicast_rules.size() == 2);
    CHECK(f.mld->joined.contains(kPeer));
    // The querier on the link starts with a General Query there.
    REQUIRE_FALSE(f.mld->sent.empty());
    CHECK(f.mld->sent.back().ifindex == kPeer);
    CHECK(f.mld->sent.back().source == addr("fe80::5"));
    CHECK(f.proxy->counters().peering_queries_sent == 1);
    CHECK_FALSE(f.proxy->add_downstream("p0").ok());
    const auto shown = f.proxy->show();
    REQUIRE(shown["peerings"].size() == 1);
    CHECK(shown["peerings"][0]["name"] == "p0");
    CHECK(shown["peerings"][0]["report_wait_ms"] == 25);
    CHECK(shown["peering_data_timeout_ms"] == 50);
    KernelProxyConfig bad = with_peering();
    bad.peerings.push_back({"p0", 10ms});
    CHECK(validate(bad) == "peering p0 is listed twice");
    bad = with_peering();
    bad.peerings[0].name = "up1";
    CHECK(validate(bad) == "peering up1 is the upstream");
    bad = with_peering(2s);
    CHECK(validate(bad) == "peering p0: report wait must be 0 to 1000 ms");
    // Nothing left after the proxy.
    f.proxy.reset();
    CHECK(f.router->mifs.empty());
    CHECK(f.routes.multicast_rules.empty());
    CHECK_FALSE(f.mld->joined.contains(kPeer));
}

TEST_CASE("mcast kernel proxy: peering, sender side: only our downstreams' sources inside their "
          "prefixes go to the peer, and only what the peer asked for",
          "[mcast][kernel_proxy][peering]") {
    Fixture f(with_peering());
    REQUIRE(f.proxy->add_downstream("d1").ok());  // an MN that sends
    REQUIRE(f.proxy->set_downstream_prefixes("d1", {*parse_prefix("2001:db8:1::/64")}).ok());
    CHECK_FALSE(f.proxy->set_downstream_prefixes("d2", {}).ok());
    const MifIndex d1 = 2, peer = 1;
    // The MN's data before the peer asks: upstream only (RFC 6224 3.2.2).
    f.router->upcall({1, d1, kS1, kG});
    REQUIRE(f.entry(kS1, kG));
    CHECK(f.entry(kS1, kG)->outputs == mifs({0}));
    // The peer joins G on the peering: the MN's stream goes there too.
    f.join(kPeer, kPeerHost, kG);
    CHECK(f.proxy->counters().peering_mld_accepted == 1);
    CHECK(f.entry(kS1, kG)->outputs == mifs({0, peer}));
    // The peer's wish is not ours: nothing joined upstream for it.
    CHECK(f.upstream->groups.empty());
    // A source outside the MN's prefixes (spoofed) does not cross.
    f.router->upcall({1, d1, kFar, kG});
    CHECK(f.entry(kFar, kG)->outputs == mifs({0}));
    // Upstream data never crosses a peering (no multi-hop forwarding).
    f.router->upcall({1, 0, kS2, kG});
    CHECK(f.entry(kS2, kG)->outputs.empty());
    // The peer leaves: after its Last Listener Queries the output goes.
    f.leave(kPeer, kPeerHost, kG);
    f.advance(1s);
    CHECK(f.entry(kS1, kG)->outputs == mifs({0}));
    CHECK(f.proxy->counters().peer_subscription_changes == 2);
}

TEST_CASE("mcast kernel proxy: peering, listener side: reports go to the peering at once, the "
          "upstream waits, a source arriving over the peering is left out upstream until the "
          "data-driven timer gives it back",
          "[mcast][kernel_proxy][peering]") {
    Fixture f(with_peering());
    REQUIRE(f.proxy->add_downstream("d1").ok());
    FakeUpstreamMembership& peering = *f.peerings_owned[0];
    const std::size_t sent_before = f.mld->sent.size();
    f.join(kD1, kHost1, kG);
    CHECK(peering.groups.at(kG) == MembershipState{FilterMode::kExclude, {}});
    bool reported_on_peering = false;
    for (std::size_t i = sent_before; i < f.mld->sent.size(); ++i)
        reported_on_peering |= f.mld->sent[i].ifindex == kPeer;
    CHECK(reported_on_peering);
    CHECK(f.proxy->counters().peering_reports_sent == 1);
    // Upstream: nothing yet (RFC 7287 section 5: 25 ms for a remote peer).
    CHECK_FALSE(f.upstream->groups.contains(kG));
    CHECK(f.proxy->counters().upstream_reports_waited == 1);
    // The peer's copy of (S1, G) comes within the wait: its entry has the
    // peering as parent, goes to d1 and never upstream.
    f.advance(5ms);
    const MifIndex d1 = 2, peer = 1;
    f.router->upcall({1, peer, kS1, kG});
    REQUIRE(f.entry(kS1, kG));
    CHECK(f.entry(kS1, kG)->parent == peer);
    CHECK(f.entry(kS1, kG)->outputs == mifs({d1}));
    CHECK(f.proxy->counters().peered_sources == 1);
    f.advance(20ms);
    // The wait ends: the upstream gets the group without the peered source
    // (ASM + MLDv2: EXCLUDE it), so the LMA does not send a duplicate.
    CHECK(f.upstream->groups.at(kG) == MembershipState{FilterMode::kExclude, {kS1}});
    // While packets keep coming over the peering it stays so.
    for (int i = 0; i < 10; ++i) {
        f.router->count_packets(kS1, kG, 10);
        f.advance(10ms);
    }
    CHECK(f.upstream->groups.at(kG) == MembershipState{FilterMode::kExclude, {kS1}});
    CHECK(f.proxy->show()["peered_sources"].size() == 1);
    // The peering goes quiet: 50 ms later the source is asked upstream again
    // and its entry goes, so the upstream's copy brings its own.
    f.advance(40ms);
    CHECK(f.upstream->groups.at(kG) == MembershipState{FilterMode::kExclude, {kS1}});
    f.advance(20ms);
    CHECK(f.upstream->groups.at(kG) == MembershipState{FilterMode::kExclude, {}});
    CHECK_FALSE(f.entry(kS1, kG));
    CHECK(f.proxy->counters().peered_sources_expired == 1);
    f.router->upcall({1, 0, kS1, kG});
    CHECK(f.entry(kS1, kG)->parent == 0);
    CHECK(f.entry(kS1, kG)->outputs == mifs({d1}));
    // Data from a peering never goes upstream, not even from a new source.
    f.router->upcall({1, peer, kS2, kG});
    CHECK(f.entry(kS2, kG)->outputs == mifs({d1}));
    CHECK(f.upstream->groups.at(kG) == MembershipState{FilterMode::kExclude, {kS2}});
    // The listener leaves: the peering and the upstream both leave.
    REQUIRE(f.proxy->remove_downstream("d1").ok());
    CHECK(peering.groups.empty());
    CHECK(f.upstream->groups.empty());
}

TEST_CASE("mcast kernel proxy: peering, listener side: SSM channels received over the peering are "
          "never asked upstream, nothing over the peering: the upstream after the wait",
          "[mcast][kernel_proxy][peering]") {
    Fixture f(with_peering(10ms));
    REQUIRE(f.proxy->add_downstream("d1").ok());
    f.mld->deliver(Fixture::report(
        kD1, kHost1, {Fixture::record(RecordType::kAllowNewSources, kSsm, {kS1, kS2})}));
    CHECK(f.peerings_owned[0]->groups.at(kSsm) == MembershipState{FilterMode::kInclude, {kS1, kS2}});
    f.router->upcall({1, 1, kS1, kSsm});  // S1 over the peering within the wait
    f.advance(10ms);
    // Only the complement goes upstream (RFC 7287 section 5, SSM).
    CHECK(f.upstream->groups.at(kSsm) == MembershipState{FilterMode::kInclude, {kS2}});
    // A group whose data never comes over the peering: upstream after the wait.
    f.join(kD1, kHost1, kOther);
    f.advance(9ms);
    CHECK_FALSE(f.upstream->groups.contains(kOther));
    f.advance(1ms);
    CHECK(f.upstream->groups.at(kOther) == MembershipState{FilterMode::kExclude, {}});
    // S1 stops: upstream INCLUDE {S1, S2}.
    f.advance(100ms);
    CHECK(f.upstream->groups.at(kSsm) == MembershipState{FilterMode::kInclude, {kS1, kS2}});
}

TEST_CASE("mcast kernel proxy: peering with report wait 0: upstream at once, duplicates still "
          "filtered",
          "[mcast][kernel_proxy][peering]") {
    Fixture f(with_peering(0ms));
    REQUIRE(f.proxy->add_downstream("d1").ok());
    f.join(kD1, kHost1, kG);
    CHECK(f.upstream->groups.at(kG) == MembershipState{FilterMode::kExclude, {}});
    CHECK(f.proxy->counters().upstream_reports_waited == 0);
    f.router->upcall({1, 1, kS1, kG});
    CHECK(f.upstream->groups.at(kG) == MembershipState{FilterMode::kExclude, {kS1}});
    // The entry takes S1 from the peering only: the upstream's copies
    // (still sent until the LMA acts on the exclusion) are refused there.
    CHECK(f.entry(kS1, kG)->parent == 1);
    CHECK_FALSE(f.entry(kS1, kG)->outputs.contains(0));
    // Those copies, counted as wrong-interface packets, are not peering
    // data: with no packet on the parent the data-driven timer expires.
    for (int i = 0; i < 6; ++i) {
        f.router->count_wrong_interface(kS1, kG, 10);
        f.advance(10ms);
    }
    CHECK(f.proxy->counters().peered_sources_expired == 1);
    CHECK(f.upstream->groups.at(kG) == MembershipState{FilterMode::kExclude, {}});
}

TEST_CASE("mcast kernel proxy: peering: a group that goes during its wait is never reported "
          "upstream, a new source of a held group waits as a new group does",
          "[mcast][kernel_proxy][peering]") {
    KernelProxyConfig c = with_peering(25ms);
    c.querier.fast_leave = true;  // the leave takes effect at once
    Fixture f(c);
    REQUIRE(f.proxy->add_downstream("d1").ok());
    const std::uint64_t calls = f.upstream->calls;
    const Ipv6Address brief = addr("ff0e::88");
    f.join(kD1, kHost1, brief);
    f.advance(10ms);
    f.leave(kD1, kHost1, brief);
    CHECK(f.peerings_owned[0]->groups.empty());  // joined and left on the peering
    f.advance(1s);
    CHECK(f.upstream->calls == calls);           // never on the upstream
    CHECK_FALSE(f.upstream->groups.contains(brief));
    // SSM: S1 asked, held upstream after its wait; then S2 added: it waits
    // 25 ms before the upstream is asked for it, unless it comes over the
    // peering meanwhile.
    auto allow = [&](std::vector<Ipv6Address> sources) {
        f.mld->deliver(Fixture::report(
            kD1, kHost1, {Fixture::record(RecordType::kAllowNewSources, kSsm, std::move(sources))}));
    };
    allow({kS1});
    f.advance(25ms);
    CHECK(f.upstream->groups.at(kSsm) == MembershipState{FilterMode::kInclude, {kS1}});
    allow({kS2});
    CHECK(f.peerings_owned[0]->groups.at(kSsm) == MembershipState{FilterMode::kInclude, {kS1, kS2}});
    CHECK(f.upstream->groups.at(kSsm) == MembershipState{FilterMode::kInclude, {kS1}});
    CHECK(f.proxy->counters().upstream_sources_waited == 1);
    f.advance(25ms);
    CHECK(f.upstream->groups.at(kSsm) == MembershipState{FilterMode::kInclude, {kS1, kS2}});
    const Ipv6Address s3 = addr("2001:db8:1::3");
    allow({s3});
    f.advance(5ms);
    f.router->upcall({1, 1, s3, kSsm});  // over the peering within its wait
    f.advance(30ms);
    f.router->count_packets(s3, kSsm, 3);
    CHECK(f.upstream->groups.at(kSsm) == MembershipState{FilterMode::kInclude, {kS1, kS2}});
}

TEST_CASE("mcast kernel proxy: peering: a source whose entry takes it from the upstream comes "
          "back over the peering and is taken from there again",
          "[mcast][kernel_proxy][peering]") {
    Fixture f(with_peering(0ms));
    REQUIRE(f.proxy->add_downstream("d1").ok());
    const MifIndex peer = 1, d1 = 2;
    f.join(kD1, kHost1, kG);
    // The LMA's copy came first: the entry takes S1 from the upstream.
    f.router->upcall({1, 0, kS1, kG});
    CHECK(f.entry(kS1, kG)->parent == 0);
    f.router->count_packets(kS1, kG, 5);
    f.advance(10ms);
    CHECK(f.entry(kS1, kG)->parent == 0);
    // The peering's copies arrive (refused: wrong interface): at the next
    // check the entry takes S1 from the peering and the upstream excludes it.
    f.router->count_wrong_interface(kS1, kG, 4);
    f.advance(10ms);
    CHECK(f.entry(kS1, kG)->parent == peer);
    CHECK(f.entry(kS1, kG)->outputs == mifs({d1}));
    CHECK(f.proxy->counters().peered_sources_rehomed == 1);
    CHECK(f.upstream->groups.at(kG) == MembershipState{FilterMode::kExclude, {kS1}});
    // A NOCACHE from the upstream for it (an entry replaced) unpeers it.
    f.router->upcall({1, 0, kS1, kG});
    CHECK(f.entry(kS1, kG)->parent == 0);
    CHECK(f.upstream->groups.at(kG) == MembershipState{FilterMode::kExclude, {}});
    CHECK(f.proxy->show()["peered_sources"].empty());
}

TEST_CASE("mcast kernel proxy: peering with ebpf (*,G) entries: a named source is still pinned, "
          "and its copies over the peering take it over",
          "[mcast][kernel_proxy][peering]") {
    Fixture f(with_peering(0ms), 200, true);
    REQUIRE(f.proxy->add_downstream("d1").ok());
    REQUIRE(f.proxy->add_downstream("d2").ok());
    const MifIndex peer = 1, d1 = 2, d2 = 3;
    f.join(kD1, kHost1, kG);  // any source on d1: the (*,G) entry
    f.mld->deliver(Fixture::report(
        kD2, kHost2, {Fixture::record(RecordType::kAllowNewSources, kG, {kS1})}));  // d2: S1 only
    // S1 named by d2: its own entry at once (from the upstream), to both.
    REQUIRE(f.entry(kS1, kG));
    CHECK(f.entry(kS1, kG)->parent == 0);
    CHECK(f.entry(kS1, kG)->outputs == mifs({d1, d2}));
    CHECK(f.router->group_entries.at(kG).outputs == mifs({d1}));
    f.advance(10ms);
    f.router->count_wrong_interface(kS1, kG, 3);
    f.advance(10ms);
    CHECK(f.entry(kS1, kG)->parent == peer);
    CHECK(f.entry(kS1, kG)->outputs == mifs({d1, d2}));
}

TEST_CASE("mcast kernel proxy: peerings replaced at run time (reload): added with the state "
          "held, removed with their entries, outputs and kernel state, sources back upstream",
          "[mcast][kernel_proxy][peering]") {
    Fixture f;  // no peering at start
    REQUIRE(f.proxy->add_downstream("d1").ok());
    REQUIRE(f.proxy->add_downstream("d2").ok());
    REQUIRE(f.proxy->set_downstream_prefixes("d2", {*parse_prefix("2001:db8:1::/64")}).ok());
    f.join(kD1, kHost1, kG);
    CHECK(f.upstream->groups.at(kG) == MembershipState{FilterMode::kExclude, {}});
    // Unchanged: nothing happens.
    REQUIRE(f.proxy->set_peerings({}, 50ms).ok());
    CHECK(f.router->mifs.size() == 3);
    // Added: its MIF (the next free one), rule, router groups, querier; the
    // state held goes there at once.
    REQUIRE(f.proxy->set_peerings({{"p0", 0ms}}, 50ms).ok());
    const MifIndex peer = 3, d1 = 1, d2 = 2;
    CHECK(f.router->mifs.at(peer) == kPeer);
    CHECK(f.mld->joined.contains(kPeer));
    REQUIRE(f.peerings_owned.size() == 1);
    CHECK(f.peerings_owned[0]->groups.at(kG) == MembershipState{FilterMode::kExclude, {}});
    CHECK(f.proxy->show()["peerings"].size() == 1);
    // It works as if configured at start: a peered source is left out upstream,
    // the peer's wish takes d2's source there.
    f.router->upcall({1, peer, kS1, kG});
    CHECK(f.upstream->groups.at(kG) == MembershipState{FilterMode::kExclude, {kS1}});
    f.join(kPeer, kPeerHost, kOther);
    f.router->upcall({1, d2, kS2, kOther});
    CHECK(f.entry(kS2, kOther)->outputs.contains(peer));
    // Removed: the peered entry goes, the output goes, S1 is asked upstream
    // again, the kernel state goes.
    REQUIRE(f.proxy->set_peerings({}, 50ms).ok());
    CHECK_FALSE(f.entry(kS1, kG));
    CHECK_FALSE(f.entry(kS2, kOther)->outputs.contains(peer));
    CHECK(f.upstream->groups.at(kG) == MembershipState{FilterMode::kExclude, {}});
    CHECK_FALSE(f.router->mifs.contains(peer));
    CHECK_FALSE(f.mld->joined.contains(kPeer));
    CHECK(f.peerings_owned[0]->groups.empty());
    CHECK(f.proxy->show()["peerings"].is_null());
    // Without peerings the upstream follows the database directly again.
    f.join(kD1, kHost1, kSsm);
    CHECK(f.upstream->groups.at(kSsm) == MembershipState{FilterMode::kExclude, {}});
    (void)d1;
    // A peering that does not exist: an error, and no peering left.
    CHECK_FALSE(f.proxy->set_peerings({{"nope0", 25ms}}, 50ms).ok());
    CHECK(f.router->mifs.size() == 3);
}

TEST_CASE("upstream rules: mutex joins like all and sends a downstream's data to one upstream",
          "[mcast][upstream_rules]") {
    const UpstreamRules r({{rule("::/0", "ff0e::/16")}, {}}, UpstreamMatching::kMutex);
    const Ipv6Address g = addr("ff0e::1");
    const MembershipState ex{FilterMode::kExclude, {}};
    CHECK(r.project(0, g, ex) == ex);
    CHECK(r.project(1, g, ex) == ex);
    CHECK(r.accepts(0, kS1, g, ex));
    CHECK(r.accepts(1, kS1, g, ex));
    CHECK(r.targets(kS1, g) == std::vector<std::size_t>{0});
    CHECK(to_string(UpstreamMatching::kMutex) == "mutex");
}

TEST_CASE("mcast kernel proxy: mutex matching: a source stays with the upstream it comes from "
          "until that one is silent for the timeout, then the next upstream that delivers takes it",
          "[mcast][kernel_proxy][upstream_rules]") {
    KernelProxyConfig c = two_upstreams(UpstreamMatching::kMutex);
    c.mutex_timeout = 100ms;
    Fixture f(c);
    REQUIRE(f.proxy->add_downstream("d1").ok());
    const MifIndex lr1 = 1, up1 = 0, d1 = 2;
    f.join(kD1, kHost1, kG);  // ff0e::db8:1: both upstreams take it from any source
    CHECK(f.extras_owned[0]->groups.at(kG) == MembershipState{FilterMode::kExclude, {}});
    CHECK(f.upstream->groups.at(kG) == MembershipState{FilterMode::kExclude, {}});
    f.router->upcall({1, lr1, kS1, kG});
    REQUIRE(f.entry(kS1, kG));
    CHECK(f.entry(kS1, kG)->parent == lr1);
    CHECK(f.entry(kS1, kG)->outputs == mifs({d1}));
    // lr1 keeps delivering: the entry keeps it (up1's copies are refused).
    for (int i = 0; i < 10; ++i) {
        f.router->count_packets(kS1, kG, 5);
        f.advance(50ms);
    }
    CHECK(f.entry(kS1, kG)->parent == lr1);
    CHECK(f.proxy->counters().mutex_releases == 0);
    CHECK(f.proxy->show()["mutex_timeout_ms"] == 100);
    // lr1 goes silent: within the timeout (+ a quarter) the entry lets go.
    f.advance(75ms);
    CHECK(f.entry(kS1, kG));
    f.advance(75ms);
    CHECK_FALSE(f.entry(kS1, kG));
    CHECK(f.proxy->counters().mutex_releases == 1);
    // up1's next packet takes it.
    f.router->upcall({1, up1, kS1, kG});
    CHECK(f.entry(kS1, kG)->parent == up1);
    CHECK(f.entry(kS1, kG)->outputs == mifs({d1}));
    // A downstream's data goes to the first matching upstream only.
    f.router->upcall({1, d1, addr("2001:db8:77::7"), kG});
    CHECK(f.entry(addr("2001:db8:77::7"), kG)->outputs == mifs({lr1}));
}

TEST_CASE("mcast kernel proxy: per-interface filter tables: a downstream's limits its listeners, "
          "an upstream's what is asked and taken there, both replaced at run time",
          "[mcast][kernel_proxy][filter]") {
    KernelProxyConfig c = Fixture::default_config();
    InterfaceFilter on_d1{"d1", {}};
    on_d1.policy.denied_groups.push_back(*parse_prefix("ff0e::db8:0/112"));
    InterfaceFilter on_up{"up*", {}};
    on_up.policy.denied_groups.push_back(*parse_prefix("ff0e::77/128"));
    c.interface_filters = {on_d1, on_up};
    CHECK(interface_policy(c.interface_filters, "d1").denied_groups.size() == 1);
    CHECK(interface_policy(c.interface_filters, "d2") == Policy{});
    Fixture f(c);
    REQUIRE(f.proxy->add_downstream("d1").ok());
    REQUIRE(f.proxy->add_downstream("d2").ok());
    const MifIndex d1 = 1, d2 = 2;
    // d1's table refuses kG there; d2 has none.
    f.join(kD1, kHost1, kG);
    CHECK(f.proxy->instance().database().downstream_state(kD1, kG).no_listeners());
    CHECK(f.proxy->instance().counters().downstream_records_refused >= 1);
    f.join(kD2, kHost2, kG);
    CHECK(f.upstream->groups.at(kG) == MembershipState{FilterMode::kExclude, {}});
    f.router->upcall({1, 0, kS1, kG});
    CHECK(f.entry(kS1, kG)->outputs == mifs({d2}));
    // up1's table: kOther is never asked there, nor taken from there.
    f.join(kD2, kHost2, kOther);
    CHECK_FALSE(f.upstream->groups.contains(kOther));
    f.router->upcall({1, 0, kS1, kOther});
    CHECK(f.entry(kS1, kOther)->outputs.empty());
    // ... nor does a downstream's data go there.
    f.router->upcall({1, d1, kS2, kOther});
    CHECK(f.entry(kS2, kOther)->outputs == mifs({d2}));
    // Replaced at run time: without tables, kOther is asked upstream at once
    // and its data taken; d1's next report of kG is admitted.
    f.proxy->set_interface_filters({});
    CHECK(f.upstream->groups.at(kOther) == MembershipState{FilterMode::kExclude, {}});
    CHECK(f.entry(kS1, kOther)->outputs == mifs({d2}));
    CHECK(f.entry(kS2, kOther)->outputs == mifs({0, d2}));
    f.join(kD1, kHost1, kG);
    CHECK(f.entry(kS1, kG)->outputs == mifs({d1, d2}));
    // And back: the table on d1 cuts its state at once.
    f.proxy->set_interface_filters({on_d1});
    CHECK(f.entry(kS1, kG)->outputs == mifs({d2}));
}
