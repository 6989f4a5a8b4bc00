// bench_lma: load generator for lmad's PBU path (DESIGN.md section 8, issue 4
// "Evidence expected"): MhReceiver::receive() on real serialized PBUs (RFC
// 6275 section 9.2 checks, strict parse) -> LmaEngine (RFC 5213 section 5.3
// pipeline, section 5.4.1 lookup, HNP allocation from a pool, tunnel
// acquisition, route batch, lifetime timer) -> PBA serialized into a buffer.
//
// In-process, one thread, like lmad's loop. Stand-ins: the tunnel backend is
// FakeTunnelBackend (one tunnel per MAG, as the real one), the route manager
// only counts (a real lmad's routes live in the kernel, not in its memory;
// kernel route programming is measured by bench_routes), the MH socket
// becomes a PBA sink that serializes every PBA as MhSocket::send() does. The
// Binding Cache, prefix pool, timers (TimerQueue, as the EventLoop holds them)
// and the receiver are the real ones.
//
// Phases:
//   register  N new MNs ("mn0000001@example.org", HNP ALL_ZERO -> assigned),
//             spread over M MAG addresses (default 200 MAGs: 5,000 MNs each,
//             RFC 6224 Appendix C), PBUs built and serialized in batches of
//             1,024 outside the timed region; each receive() is timed
//   renew     R re-registrations (HI 5, with the assigned HNP, as magd sends
//             them) of registered MNs
//   memory    resident set size (VmRSS) after the registrations minus before
//             them, per binding; measured with the latency arrays already
//             reserved
// Latency = receive() entry to the PBA handed to the sink, i.e. the service
// time of one PBU on an otherwise idle loop (no queueing: the in-process
// generator offers the next PBU when the previous one is done), so the same
// figure holds at 25,000 PBU/s as long as the loop keeps up.
//
// pbu_per_s is over wall time spent processing; pbu_per_cpu_s over the
// thread's CPU time (CLOCK_THREAD_CPUTIME_ID), which preemption on a shared
// machine does not inflate. Prints one JSON object. Bounded: stops registering after --max-seconds
// (default 45) and reports how many bindings it reached.
//
// Usage: bench_lma [--bindings N] [--mags M] [--renewals R] [--max-seconds S]
//                  [--expected-bindings yes]   (LmaConfig::expected_bindings = N:
//                                               the cache indexes never rehash)
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "mh_receiver.hpp"
#include "pmip/common/log.hpp"
#include "pmip/common/route_manager.hpp"
#include "pmip/common/timers.hpp"
#include "pmip/common/tunnel.hpp"
#include "pmip/lma/lma_engine.hpp"
#include "pmip/lma/ordering.hpp"
#include "pmip/common/prefix_pool.hpp"
#include "pmip/mh/codec.hpp"

namespace {

using namespace pmip;
using namespace pmip::lma;
using Steady = std::chrono::steady_clock;

// Routes go to the kernel in lmad; here they are only counted.
class CountingRouteManager final : public RouteManager {
  public:
    std::vector<Status> apply(std::span<const RouteRequest> batch) override {
        for (const auto& r : batch) (r.op == RouteOp::kAdd ? added : deleted)++;
        ++batches;
        return std::vector<Status>(batch.size());
    }
    Expected<std::size_t> flush_owned() override { return std::size_t{0}; }
    std::uint64_t added = 0, deleted = 0, batches = 0;
};

// MhSocket::send() minus the sendmsg(): serialize into a buffer.
class PbaSink final : public MhTransmitter {
  public:
    void send(const Ipv6Address&, const Ipv6Address&, const mh::Message& m) override {
        const auto n = mh::serialize(m, buffer_);
        if (std::holds_alternative<mh::SerializeError>(n)) {
            ++serialize_errors;
            return;
        }
        const auto* pba = std::get_if<mh::BindingAcknowledgement>(&m);
        if (pba && pba->status == 0) ++accepted;
        else ++other;
        done = Steady::now();
    }
    void send_parameter_problem(const Ipv6Address&, const Ipv6Address&, std::uint32_t,
                                std::span<const std::uint8_t>) override {
        ++other;
    }
    std::uint64_t accepted = 0, other = 0, serialize_errors = 0;
    Steady::time_point done{};

  private:
    std::array<std::uint8_t, 2048> buffer_{};
};

double thread_cpu_seconds() {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

long rss_kib() {
    std::ifstream in("/proc/self/status");
    std::string line;
    while (std::getline(in, line)) {
        if (line.rfind("VmRSS:", 0) == 0) return std::strtol(line.c_str() + 6, nullptr, 10);
    }
    return -1;
}

struct Percentiles {
    double p50 = 0, p99 = 0, p999 = 0, max = 0;
};

Percentiles percentiles(std::vector<std::uint32_t>& v) {
    Percentiles p;
    if (v.empty()) return p;
    auto at = [&](double q) {
        const std::size_t i = std::min(v.size() - 1, static_cast<std::size_t>(q * v.size()));
        std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(i), v.end());
        return static_cast<double>(v[i]);
    };
    p.p50 = at(0.50);
    p.p99 = at(0.99);
    p.p999 = at(0.999);
    p.max = static_cast<double>(*std::max_element(v.begin(), v.end()));
    return p;
}

std::string latency_json(const Percentiles& p) {
    char out[256];
    std::snprintf(out, sizeof out,
                  "{\"p50_us\":%.2f,\"p99_us\":%.2f,\"p999_us\":%.2f,\"max_us\":%.1f}",
                  p.p50 / 1000, p.p99 / 1000, p.p999 / 1000, p.max / 1000);
    return out;
}

Ipv6Address mag_address(std::uint32_t i) {
    Ipv6Address a = *parse_address("2001:db8:100::");
    a[12] = static_cast<std::uint8_t>(i >> 24);
    a[13] = static_cast<std::uint8_t>(i >> 16);
    a[14] = static_cast<std::uint8_t>(i >> 8);
    a[15] = static_cast<std::uint8_t>(i + 0x10);
    return a;
}

// The pool hands out its /64s in order, so MN i (registered i-th) holds
// 2001:db8:4000:0:: + i; a renewal carries it as magd does.
const char* const kPool = "2001:db8:4000::/36";
Ipv6Address assigned_prefix(std::uint32_t i) {
    Ipv6Address a = parse_prefix(kPool)->address;
    std::uint64_t upper = 0;
    for (int k = 0; k < 8; ++k) upper = upper << 8 | a[k];
    upper += i;
    for (int k = 7; k >= 0; --k) {
        a[k] = static_cast<std::uint8_t>(upper);
        upper >>= 8;
    }
    return a;
}

std::vector<std::uint8_t> mn_identifier(std::uint32_t i) {
    char id[32];
    const int n = std::snprintf(id, sizeof id, "mn%07u@example.org", i);
    return std::vector<std::uint8_t>(id, id + n);
}

}  // namespace

int main(int argc, char** argv) {
    std::uint32_t bindings = 1'000'000, mags = 200, renewals = 200'000;
    double max_seconds = 45;
    bool reserve = false;
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string k = argv[i];
        const char* v = argv[i + 1];
        if (k == "--bindings") bindings = static_cast<std::uint32_t>(std::strtoul(v, nullptr, 10));
        else if (k == "--mags") mags = static_cast<std::uint32_t>(std::strtoul(v, nullptr, 10));
        else if (k == "--renewals") renewals = static_cast<std::uint32_t>(std::strtoul(v, nullptr, 10));
        else if (k == "--max-seconds") max_seconds = std::strtod(v, nullptr);
        else if (k == "--expected-bindings") reserve = std::string(v) == "yes";
        else {
            std::fprintf(stderr, "bench_lma: unknown option %s\n"
                                 "usage: bench_lma [--bindings N] [--mags M] [--renewals R] "
                                 "[--max-seconds S] [--expected-bindings yes]\n", k.c_str());
            return 2;
        }
    }
    if (bindings == 0 || mags == 0 || bindings > (1u << 24)) {
        std::fprintf(stderr, "bench_lma: --bindings must be 1..16777216 and --mags >= 1\n");
        return 2;
    }
    renewals = std::min(renewals, bindings);
    log::set_minimum_level(log::Level::kError);

    const Ipv6Address lma = *parse_address("2001:db8:100::1");
    SimulatedClock clock;
    TimerQueue timers(clock);
    CountingRouteManager routes;
    RefCountingTunnelManager tunnels(std::make_unique<FakeTunnelBackend>(), timers);
    PbaSink sink;
    MapPolicyStore policies;  // empty: every MN served with the default policy
    LmaConfig config;
    config.authorized_mags = {*parse_prefix("2001:db8:100::/64")};
    config.serve_unknown_mobile_nodes = true;
    if (reserve) config.expected_bindings = bindings;
    std::vector<PrefixPool> pools;
    pools.push_back(*PrefixPool::create(*parse_prefix(kPool), 64));  // 2^28 /64s

    MhReceiverConfig rc;
    rc.local_addresses = {lma};
    LmaEngine* engine_ptr = nullptr;
    MhReceiverHandlers handlers;
    handlers.proxy_binding_update = [&](const Ipv6Address& s, const Ipv6Address& d,
                                        const mh::BindingUpdate& pbu,
                                        const MobileNodeIdentifier* identity) {
        engine_ptr->handle_proxy_binding_update(s, d, pbu, identity);
    };
    MhReceiver receiver(rc, sink, clock, handlers);
    LmaEngine engine(config, policies, std::move(pools), tunnels, routes, timers,
                     receiver.reply_sender());
    engine_ptr = &engine;

    constexpr std::size_t kBatch = 1024;
    std::vector<std::vector<std::uint8_t>> wires(kBatch);
    std::vector<Ipv6Address> sources(kBatch);
    for (auto& w : wires) w.reserve(128);
    std::vector<std::uint32_t> register_ns, renew_ns;
    register_ns.reserve(bindings);
    renew_ns.reserve(renewals);

    auto build = [&](std::uint32_t mn, std::uint8_t hi, std::size_t slot) {
        mh::BindingUpdate bu;
        bu.sequence = static_cast<std::uint16_t>(mn);
        bu.flags = mh::bu_flag::kA | mh::bu_flag::kP;
        bu.lifetime = 900;
        bu.options = {mh::MobileNodeIdentifier{1, mn_identifier(mn)},
                      hi == 5 ? mh::HomeNetworkPrefix{64, assigned_prefix(mn)}
                              : mh::HomeNetworkPrefix{0, {}},
                      mh::HandoffIndicator{hi},
                      mh::AccessTechnologyType{4},
                      mh::Timestamp{timestamp_units(std::chrono::duration_cast<std::chrono::nanoseconds>(
                          clock.since_epoch()))}};
        wires[slot] = mh::serialize(bu);
        sources[slot] = mag_address(mn % mags);
    };
    // Runs `count` PBUs from `first`; returns processing seconds (wall) and
    // adds the thread's CPU seconds spent processing to `cpu`.
    auto run = [&](std::uint32_t first, std::uint32_t count, std::uint8_t hi,
                   std::vector<std::uint32_t>& latencies, double budget, double& cpu) {
        double busy = 0;
        const auto start = Steady::now();
        for (std::uint32_t done = 0; done < count;) {
            const std::size_t n = std::min<std::size_t>(kBatch, count - done);
            // Later PBUs of an MN need a later Timestamp (RFC 5213 section 5.5).
            clock.advance(std::chrono::milliseconds(1));
            timers.run_due();
            for (std::size_t i = 0; i < n; ++i) build(first + done + static_cast<std::uint32_t>(i), hi, i);
            const auto batch_start = Steady::now();
            const double cpu_start = thread_cpu_seconds();
            for (std::size_t i = 0; i < n; ++i) {
                ReceivedPacket p;
                p.mh = wires[i];
                p.source = sources[i];
                p.destination = lma;
                const auto t0 = Steady::now();
                receiver.receive(p);
                latencies.push_back(static_cast<std::uint32_t>(
                    std::chrono::duration_cast<std::chrono::nanoseconds>(sink.done - t0).count()));
            }
            busy += std::chrono::duration<double>(Steady::now() - batch_start).count();
            cpu += thread_cpu_seconds() - cpu_start;
            done += static_cast<std::uint32_t>(n);
            if (std::chrono::duration<double>(Steady::now() - start).count() > budget) break;
        }
        return busy;
    };

    const auto wall_start = Steady::now();
    const long rss_before = rss_kib();
    double register_cpu = 0, renew_cpu = 0;
    const double register_s = run(0, bindings, 1, register_ns, max_seconds, register_cpu);
    const std::size_t held = engine.cache().size();
    const long rss_after = rss_kib();
    const std::uint64_t accepted_registrations = sink.accepted;
    const double renew_s =
        run(0, std::min<std::uint32_t>(renewals, static_cast<std::uint32_t>(held)), 5, renew_ns,
            std::max(1.0, max_seconds - register_s), renew_cpu);
    const std::uint64_t accepted_renewals = sink.accepted - accepted_registrations;

    const std::size_t registered = register_ns.size(), renewed = renew_ns.size();
    const Percentiles reg = percentiles(register_ns), ren = percentiles(renew_ns);
    const double reg_rate = registered / register_s, ren_rate = renewed / renew_s;
    const double bytes_per_binding =
        held ? (static_cast<double>(rss_after - rss_before) * 1024.0 / static_cast<double>(held)) : 0;
    // Renewals update entries: no new binding, no new route.
    const bool ok = sink.serialize_errors == 0 && accepted_registrations == registered &&
                    accepted_renewals == renewed && held == registered &&
                    engine.cache().size() == held && routes.added == held;

    std::printf(
        "{\"bench\":\"lma_pbu_path\",\"bindings_requested\":%u,\"bindings_held\":%zu,"
        "\"mags\":%u,\"tunnels\":%zu,\"expected_bindings\":%s,"
        "\"register\":{\"pbus\":%zu,\"accepted\":%llu,\"seconds\":%.3f,\"pbu_per_s\":%.0f,"
        "\"pbu_per_cpu_s\":%.0f,\"latency\":%s},"
        "\"renew\":{\"pbus\":%zu,\"accepted\":%llu,\"seconds\":%.3f,\"pbu_per_s\":%.0f,"
        "\"pbu_per_cpu_s\":%.0f,\"latency\":%s},"
        "\"memory\":{\"rss_before_kib\":%ld,\"rss_after_kib\":%ld,\"bytes_per_binding\":%.0f},"
        "\"routes_added\":%llu,\"route_batches\":%llu,\"pending_timers\":%zu,"
        "\"targets\":{\"pbu_per_s_50000\":%s,\"p99_below_1ms\":%s,\"bindings_1m\":%s,"
        "\"below_1kib_per_binding\":%s},\"consistent\":%s,\"wall_seconds\":%.1f}\n",
        bindings, held, mags, tunnels.tunnels().size(), reserve ? "true" : "false", registered,
        static_cast<unsigned long long>(accepted_registrations), register_s, reg_rate,
        registered / register_cpu, latency_json(reg).c_str(), renewed,
        static_cast<unsigned long long>(accepted_renewals), renew_s, ren_rate,
        renewed / renew_cpu, latency_json(ren).c_str(), rss_before, rss_after, bytes_per_binding,
        static_cast<unsigned long long>(routes.added), static_cast<unsigned long long>(routes.batches),
        timers.pending(), reg_rate >= 50000 ? "true" : "false",
        std::max(reg.p99, ren.p99) < 1e6 ? "true" : "false", held >= 1'000'000 ? "true" : "false",
        bytes_per_binding < 1024 ? "true" : "false", ok ? "true" : "false",
        std::chrono::duration<double>(Steady::now() - wall_start).count());
    // Exit as lmad would not: the 1M bindings are dropped with the process.
    std::fflush(stdout);
    std::_Exit(ok ? 0 : 1);
}
