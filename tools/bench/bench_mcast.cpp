// bench_mcast: MLD proxy membership micro-benchmark (DESIGN.md section 8;
// issue 6: at most 10 microseconds per membership-change record).
//
// One proxy instance: a MembershipDatabase and one Querier per downstream
// interface (5,000 by default, explicit tracking with fast leave, as on
// RFC 6224 point-to-point MN links), every downstream with 10 groups drawn
// from a pool of 100, so each group is held by ~500 downstreams and every
// change runs the RFC 4605 merge against a crowded group. Half the joins are
// ASM (TO_EX({})), half SSM (ALLOW({S})). Timers run on a TimerQueue with a
// simulated clock (time does not move; no kernel, no sockets).
//
// Phases, each timed over all downstreams x groups records:
//   join        one record per (downstream, group): querier + database
//   leave       the same records' leaves (TO_IN({}) / BLOCK({S})), fast leave
//   rejoin      joins again on the populated instance
//   leave_llq   leaves without fast leave on a second instance: Last Listener
//               Queries sent, then the clock moved past LLQT and the timers
//               run (cost per record includes the expiry)
//   db_update   MembershipDatabase::update() alone
//   forwarding  MembershipDatabase::downstreams_for(S, G) for a crowded group
// Prints one JSON object:
//   {"downstreams":5000,"groups_per_downstream":10,"group_pool":100,
//    "records_per_phase":50000,"ns_per_record":{"join":..,"leave":..,"rejoin":..,
//    "leave_llq":..,"db_update":..},"forwarding_decision_ns":..,
//    "upstream_changes":..,"queries_sent":..,"target_ns":10000,"within_target":true}
// A benchmark, not a test: run it on an idle machine in a Release or
// RelWithDebInfo build.
//
// Usage: bench_mcast [DOWNSTREAMS [GROUPS_PER_DOWNSTREAM [GROUP_POOL]]]
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <vector>

#include "pmip/common/clock.hpp"
#include "pmip/common/timers.hpp"
#include "pmip/mcast/proxy.hpp"
#include "pmip/mcast/querier.hpp"

namespace {

using namespace pmip;
using namespace pmip::mcast;
using BenchClock = std::chrono::steady_clock;

template <typename T>
inline void do_not_optimize(const T& value) {
    asm volatile("" : : "r"(&value) : "memory");
}

class CountingUpstream final : public ProxyOutput {
  public:
    void upstream_membership_changed(const Ipv6Address&, const MembershipState&,
                                     const MembershipState&) override {
        ++changes;
    }
    void forwarding_changed(const Ipv6Address&) override { ++forwarding; }
    std::uint64_t changes = 0;
    std::uint64_t forwarding = 0;
};

class Downstream final : public QuerierOutput {
  public:
    Downstream(MembershipDatabase& db, InterfaceId id) : db_(db), id_(id) {}
    void send_query(const Ipv6Address&, const MldMessage&) override { ++queries; }
    void membership_changed(const Ipv6Address& group, const MembershipState& state) override {
        db_.update(id_, group, state);
    }
    std::uint64_t queries = 0;

  private:
    MembershipDatabase& db_;
    InterfaceId id_;
};

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
    a[15] = static_cast<std::uint8_t>(1 + index % 4);
    return a;
}

struct Instance {
    Instance(unsigned downstreams, bool fast_leave) : db(upstream) {
        QuerierConfig c;
        c.fast_leave = fast_leave;
        links.reserve(downstreams);
        queriers.reserve(downstreams);
        for (unsigned i = 0; i < downstreams; ++i) {
            links.push_back(std::make_unique<Downstream>(db, i + 1));
            db.add_downstream(i + 1);
            queriers.push_back(
                std::make_unique<Querier>(timers, *links.back(), host_address(0), c));
            queriers.back()->start();
        }
    }
    std::uint64_t queries() const {
        std::uint64_t n = 0;
        for (const auto& l : links) n += l->queries;
        return n;
    }

    SimulatedClock clock;
    TimerQueue timers{clock};
    CountingUpstream upstream;
    MembershipDatabase db;
    std::vector<std::unique_ptr<Downstream>> links;
    std::vector<std::unique_ptr<Querier>> queriers;
};

struct Plan {
    unsigned downstreams;
    unsigned groups_per_downstream;
    unsigned group_pool;
    unsigned group(unsigned ds, unsigned slot) const { return (ds * 7 + slot * 13) % group_pool; }
    bool ssm(unsigned ds, unsigned slot) const { return (ds + slot) % 2 == 0; }
};

MulticastAddressRecord join_record(const Plan& p, unsigned ds, unsigned slot) {
    MulticastAddressRecord r;
    r.multicast_address = group_address(p.group(ds, slot));
    if (p.ssm(ds, slot)) {
        r.type = RecordType::kAllowNewSources;
        r.sources = {source_address(ds + slot)};
    } else {
        r.type = RecordType::kChangeToExcludeMode;
    }
    return r;
}

MulticastAddressRecord leave_record(const Plan& p, unsigned ds, unsigned slot) {
    MulticastAddressRecord r;
    r.multicast_address = group_address(p.group(ds, slot));
    if (p.ssm(ds, slot)) {
        r.type = RecordType::kBlockOldSources;
        r.sources = {source_address(ds + slot)};
    } else {
        r.type = RecordType::kChangeToIncludeMode;
    }
    return r;
}

// Runs one record per (downstream, slot) through the queriers; ns per record.
template <typename MakeRecord>
double run_records(Instance& inst, const Plan& p, MakeRecord make) {
    // Records are built first so only the protocol work is timed.
    std::vector<std::pair<unsigned, MulticastAddressRecord>> records;
    records.reserve(static_cast<std::size_t>(p.downstreams) * p.groups_per_downstream);
    for (unsigned slot = 0; slot < p.groups_per_downstream; ++slot) {
        for (unsigned ds = 0; ds < p.downstreams; ++ds) records.emplace_back(ds, make(p, ds, slot));
    }
    const auto start = BenchClock::now();
    for (const auto& [ds, rec] : records) {
        inst.queriers[ds]->receive_records(host_address(ds + 1), std::span(&rec, 1));
    }
    const auto elapsed = BenchClock::now() - start;
    return static_cast<double>(
               std::chrono::duration_cast<std::chrono::nanoseconds>(elapsed).count()) /
           static_cast<double>(records.size());
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
    if (p.downstreams == 0 || p.groups_per_downstream == 0 || p.group_pool == 0) {
        std::fprintf(stderr,
                     "usage: bench_mcast [DOWNSTREAMS [GROUPS_PER_DOWNSTREAM [GROUP_POOL]]]\n");
        return 2;
    }
    const std::size_t records = static_cast<std::size_t>(p.downstreams) * p.groups_per_downstream;

    Instance fast(p.downstreams, true);
    const double join_ns = run_records(fast, p, join_record);
    const std::size_t groups_after_join = fast.db.groups().size();
    const double leave_ns = run_records(fast, p, leave_record);
    const std::size_t groups_after_leave = fast.db.groups().size();
    const double rejoin_ns = run_records(fast, p, join_record);

    // Forwarding decision for a crowded group.
    const Ipv6Address g0 = group_address(p.group(0, 0));
    const Ipv6Address s0 = source_address(0);
    constexpr int kForwardingRounds = 200;
    std::size_t fanout = 0;
    const auto fstart = BenchClock::now();
    for (int i = 0; i < kForwardingRounds; ++i) {
        const auto out = fast.db.downstreams_for(s0, g0);
        fanout = out.size();
        do_not_optimize(out);
    }
    const double forwarding_ns =
        static_cast<double>(
            std::chrono::duration_cast<std::chrono::nanoseconds>(BenchClock::now() - fstart)
                .count()) /
        kForwardingRounds;

    // Leaves through Last Listener Queries and timer expiry.
    Instance slow(p.downstreams, false);
    (void)run_records(slow, p, join_record);
    const auto lstart = BenchClock::now();
    const double leave_llq_records_ns = run_records(slow, p, leave_record);
    slow.clock.advance(slow.queriers[0]->last_listener_query_time());
    slow.timers.run_due();
    const double leave_llq_ns =
        static_cast<double>(
            std::chrono::duration_cast<std::chrono::nanoseconds>(BenchClock::now() - lstart)
                .count()) /
        static_cast<double>(records);
    do_not_optimize(leave_llq_records_ns);
    const std::size_t slow_groups_left = slow.db.groups().size();

    // The database alone: flip every (downstream, group) between two states.
    CountingUpstream up;
    MembershipDatabase db(up);
    std::vector<std::pair<InterfaceId, Ipv6Address>> keys;
    keys.reserve(records);
    for (unsigned slot = 0; slot < p.groups_per_downstream; ++slot) {
        for (unsigned ds = 0; ds < p.downstreams; ++ds)
            keys.emplace_back(ds + 1, group_address(p.group(ds, slot)));
    }
    const MembershipState asm_join{FilterMode::kExclude, {}};
    const MembershipState ssm_join{FilterMode::kInclude, {source_address(1)}};
    for (const auto& [id, g] : keys) db.update(id, g, asm_join);
    const auto dstart = BenchClock::now();
    for (const auto& [id, g] : keys) db.update(id, g, ssm_join);
    const double db_ns = static_cast<double>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                                 BenchClock::now() - dstart)
                                                 .count()) /
                         static_cast<double>(records);

    const double worst = std::max({join_ns, leave_ns, rejoin_ns, leave_llq_ns, db_ns});
    std::printf(
        "{\"downstreams\":%u,\"groups_per_downstream\":%u,\"group_pool\":%u,\"records_per_phase\":%"
        "zu,"
        "\"ns_per_record\":{\"join\":%.0f,\"leave\":%.0f,\"rejoin\":%.0f,\"leave_llq\":%.0f,\"db_"
        "update\":%.0f},"
        "\"forwarding_decision_ns\":%.0f,\"forwarding_fanout\":%zu,\"groups_after_join\":%zu,"
        "\"groups_after_leave\":%zu,\"groups_after_leave_llq\":%zu,\"upstream_changes\":%llu,"
        "\"queries_sent\":%llu,\"target_ns\":10000,\"within_target\":%s}\n",
        p.downstreams, p.groups_per_downstream, p.group_pool, records, join_ns, leave_ns, rejoin_ns,
        leave_llq_ns, db_ns, forwarding_ns, fanout, groups_after_join, groups_after_leave,
        slow_groups_left,
        static_cast<unsigned long long>(fast.upstream.changes + slow.upstream.changes),
        static_cast<unsigned long long>(fast.queries() + slow.queries()),
        worst <= 10000.0 ? "true" : "false");
    // Sanity: every leave phase must empty the database.
    return groups_after_leave == 0 && slow_groups_left == 0 ? 0 : 1;
}
