// bench_mcast_proxy: the whole KernelProxy per membership change (DESIGN.md
// section 8; issue 6: at most 10 microseconds per membership-change record,
// and the MFC update rate), with 5,000 downstream interfaces x 10 groups.
//
// What runs is the adapter the daemons embed: each record arrives as an
// MLDv2 Report packet (one record per packet, the worst case) through a
// FakeMldSocket and goes through the RFC 3810 packet checks, the checksum,
// the parser, the policy, the downstream's querier (explicit tracking, fast
// leave), the RFC 4605 merge, the upstream host membership (fake) and the
// incremental MFC update of every active (S,G) of the group. The MRT6 table is
// a FakeMulticastRouter (in memory): the kernel allows 32 MIFs per table
// (MAXMIFS), so 5,000 downstreams exist only with the fake, and the cost of
// the MRT6_ADD_MFC system call itself is not included. Sources: 4 per group
// (100 groups), installed by NOCACHE upcalls before the joins, as when data
// already flows. Half the joins are ASM (TO_EX({})), half SSM (ALLOW({S})).
//
// Phases:
//   add_downstream  5,000 add_downstream() calls (MIF, rule, General Query)
//   join / leave / rejoin   50,000 records each; microseconds per record
//   nocache         400 new (S,G) cache misses on crowded groups (~500
//                   members each); microseconds per upcall
// MFC update rate = MFC changes made / time of the join phase.
// Prints one JSON object. A benchmark, not a test: run on an idle machine in
// a Release or RelWithDebInfo build.
//
// Usage: bench_mcast_proxy [DOWNSTREAMS [GROUPS_PER_DOWNSTREAM [GROUP_POOL]]]
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <vector>

#include "pmip/common/clock.hpp"
#include "pmip/common/log.hpp"
#include "pmip/common/route_manager.hpp"
#include "pmip/common/timers.hpp"
#include "pmip/mcast/kernel_proxy.hpp"

namespace {

using namespace pmip;
using namespace pmip::mcast;
using BenchClock = std::chrono::steady_clock;

constexpr unsigned kSourcesPerGroup = 4;

Ipv6Address group_address(unsigned index) {
    Ipv6Address a{0xff, 0x3e};
    a[12] = 0x80;
    a[14] = static_cast<std::uint8_t>(index >> 8);
    a[15] = static_cast<std::uint8_t>(index);
    return a;
}

Ipv6Address host_address(unsigned index) {
    Ipv6Address a{0xfe, 0x80};
    a[8] = 0x02;
    a[13] = static_cast<std::uint8_t>(index >> 16);
    a[14] = static_cast<std::uint8_t>(index >> 8);
    a[15] = static_cast<std::uint8_t>(index);
    return a;
}

Ipv6Address source_address(unsigned index) {
    Ipv6Address a{0x20, 0x01, 0x0d, 0xb8};
    a[14] = static_cast<std::uint8_t>(index >> 8);
    a[15] = static_cast<std::uint8_t>(1 + index);
    return a;
}

Ipv6Address router_address(unsigned index) {
    Ipv6Address a = host_address(index);
    a[8] = 0x04;
    return a;
}

struct Plan {
    unsigned downstreams;
    unsigned groups_per_downstream;
    unsigned group_pool;
    unsigned group(unsigned ds, unsigned slot) const { return (ds * 7 + slot * 13) % group_pool; }
    bool ssm(unsigned ds, unsigned slot) const { return (ds + slot) % 2 == 0; }
};

int ifindex_of(unsigned ds) {
    return static_cast<int>(ds) + 10;
}

ReceivedMld packet(unsigned ds, MulticastAddressRecord record) {
    ReceivedMld m;
    m.ifindex = ifindex_of(ds);
    m.source = host_address(ds + 1);
    m.destination = kAllMldv2Routers;
    m.hop_limit = 1;
    m.router_alert = true;
    m.icmp = serialize(MldMessage{Mldv2Report{{std::move(record)}}});
    fill_checksum(m.icmp, m.source, m.destination);
    return m;
}

std::vector<ReceivedMld> records(const Plan& p, bool join) {
    std::vector<ReceivedMld> out;
    out.reserve(static_cast<std::size_t>(p.downstreams) * p.groups_per_downstream);
    for (unsigned slot = 0; slot < p.groups_per_downstream; ++slot) {
        for (unsigned ds = 0; ds < p.downstreams; ++ds) {
            MulticastAddressRecord r;
            r.multicast_address = group_address(p.group(ds, slot));
            if (p.ssm(ds, slot)) {
                r.type = join ? RecordType::kAllowNewSources : RecordType::kBlockOldSources;
                r.sources = {source_address((ds + slot) % kSourcesPerGroup)};
            } else {
                r.type = join ? RecordType::kChangeToExcludeMode : RecordType::kChangeToIncludeMode;
            }
            out.push_back(packet(ds, std::move(r)));
        }
    }
    return out;
}

double microseconds(BenchClock::duration d) {
    return static_cast<double>(std::chrono::duration_cast<std::chrono::nanoseconds>(d).count()) /
           1000.0;
}

}  // namespace

int main(int argc, char** argv) {
    Plan p{5000, 10, 100};
    if (argc > 1)
        p.downstreams = static_cast<unsigned>(std::strtoul(argv[1], nullptr, 10));
    if (argc > 2)
        p.groups_per_downstream = static_cast<unsigned>(std::strtoul(argv[2], nullptr, 10));
    if (argc > 3)
        p.group_pool = static_cast<unsigned>(std::strtoul(argv[3], nullptr, 10));
    if (p.downstreams == 0 || p.downstreams > 60000 || p.groups_per_downstream == 0 ||
        p.group_pool == 0 || p.group_pool > 65535) {
        std::fprintf(stderr,
                     "usage: bench_mcast_proxy [DOWNSTREAMS<=60000 [GROUPS_PER_DOWNSTREAM "
                     "[GROUP_POOL]]]\n");
        return 2;
    }
    log::configure(log::Sink::kNone, "bench_mcast_proxy", log::Level::kError);

    SimulatedClock clock;
    TimerQueue timers(clock);
    FakeRouteManager routes;
    KernelProxy::Parts parts;
    auto router_owned = std::make_unique<FakeMulticastRouter>(100);
    auto mld_owned = std::make_unique<FakeMldSocket>();
    auto dir = std::make_unique<FakeInterfaceDirectory>();
    FakeMulticastRouter* router = router_owned.get();
    FakeMldSocket* mld = mld_owned.get();
    dir->interfaces[1] = {"up", LinkLocalAddress{router_address(0), true}};
    for (unsigned ds = 0; ds < p.downstreams; ++ds) {
        dir->interfaces[ifindex_of(ds)] = {"d" + std::to_string(ds),
                                           LinkLocalAddress{router_address(ds + 1), true}};
    }
    parts.router = std::move(router_owned);
    parts.mld = std::move(mld_owned);
    parts.upstream = std::make_unique<FakeUpstreamMembership>();
    parts.interfaces = std::move(dir);
    parts.max_mifs = static_cast<MifIndex>(p.downstreams + 1);
    KernelProxyConfig config;
    config.name = "bench";
    config.table = 100;
    config.upstream = "up";
    config.querier.fast_leave = true;
    auto created = KernelProxy::create(timers, routes, config, std::move(parts));
    if (!created) {
        std::fprintf(stderr, "bench_mcast_proxy: %s\n", created.error().what.c_str());
        return 1;
    }
    KernelProxy& proxy = **created;

    auto t0 = BenchClock::now();
    for (unsigned ds = 0; ds < p.downstreams; ++ds) {
        if (Status s = proxy.add_downstream("d" + std::to_string(ds)); !s) {
            std::fprintf(stderr, "bench_mcast_proxy: %s\n", s.error().what.c_str());
            return 1;
        }
    }
    const double add_us = microseconds(BenchClock::now() - t0) / p.downstreams;
    mld->sent.clear();
    mld->sent.shrink_to_fit();

    // Data already flows: a cache miss per (S, G) on the upstream MIF.
    for (unsigned g = 0; g < p.group_pool; ++g)
        for (unsigned s = 0; s < kSourcesPerGroup; ++s)
            router->upcall({1, 0, source_address(s), group_address(g)});

    auto run = [&](const std::vector<ReceivedMld>& packets) {
        const auto start = BenchClock::now();
        for (const auto& m : packets) mld->deliver(m);
        return BenchClock::now() - start;
    };
    const auto joins = records(p, true);
    const auto leaves = records(p, false);
    const std::size_t n = joins.size();

    const std::uint64_t mfc_before = proxy.counters().mfc_updates;
    const auto join_time = run(joins);
    const std::uint64_t join_mfc_updates = proxy.counters().mfc_updates - mfc_before;
    const std::size_t entries_with_outputs = [&] {
        std::size_t k = 0;
        for (const auto& [key, e] : router->entries) k += e.outputs.empty() ? 0 : 1;
        return k;
    }();
    std::size_t outputs_total = 0;
    for (const auto& [key, e] : router->entries) outputs_total += e.outputs.size();

    // Cache misses on crowded groups: outputs computed over ~500 members.
    t0 = BenchClock::now();
    for (unsigned g = 0; g < p.group_pool; ++g)
        for (unsigned s = kSourcesPerGroup; s < 2 * kSourcesPerGroup; ++s)
            router->upcall({1, 0, source_address(s), group_address(g)});
    const double nocache_us =
        microseconds(BenchClock::now() - t0) / (p.group_pool * kSourcesPerGroup);

    const auto leave_time = run(leaves);
    const auto rejoin_time = run(joins);

    const double join_us = microseconds(join_time) / static_cast<double>(n);
    const double leave_us = microseconds(leave_time) / static_cast<double>(n);
    const double rejoin_us = microseconds(rejoin_time) / static_cast<double>(n);
    const double join_s = microseconds(join_time) / 1e6;
    const KernelProxyCounters& c = proxy.counters();
    const bool within = join_us <= 10.0 && leave_us <= 10.0 && rejoin_us <= 10.0;
    std::printf(
        "{\"downstreams\":%u,\"groups_per_downstream\":%u,\"group_pool\":%u,"
        "\"sources_per_group\":%u,\"records_per_phase\":%zu,"
        "\"mfc\":\"FakeMulticastRouter (in-memory, no MRT6 syscalls; the kernel allows 32 MIFs "
        "per table)\","
        "\"us_per_record\":{\"join\":%.3f,\"leave\":%.3f,\"rejoin\":%.3f},"
        "\"add_downstream_us\":%.3f,\"nocache_install_us\":%.3f,"
        "\"join_mfc_updates\":%llu,\"mfc_updates_per_record\":%.3f,"
        "\"mfc_updates_per_second\":%.0f,\"mfc_entries\":%zu,\"entries_with_outputs_after_join\":%"
        "zu,"
        "\"outputs_after_join\":%zu,\"mld_accepted\":%llu,\"mld_dropped\":%llu,"
        "\"upstream_changes\":%llu,\"target_us\":10,\"within_target\":%s}\n",
        p.downstreams, p.groups_per_downstream, p.group_pool, kSourcesPerGroup, n, join_us,
        leave_us, rejoin_us, add_us, nocache_us, static_cast<unsigned long long>(join_mfc_updates),
        static_cast<double>(join_mfc_updates) / static_cast<double>(n),
        static_cast<double>(join_mfc_updates) / join_s, router->entries.size(),
        entries_with_outputs, outputs_total, static_cast<unsigned long long>(c.mld_accepted),
        static_cast<unsigned long long>(c.mld_received - c.mld_accepted),
        static_cast<unsigned long long>(c.upstream_changes), within ? "true" : "false");
    return 0;
}
