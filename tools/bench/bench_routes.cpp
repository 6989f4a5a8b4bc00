// bench_routes: how fast NetlinkRouteManager programs and flushes IPv6 routes
// (DESIGN.md section 8: lmad registers >= 50,000 PBU/s with routes programmed
// through batched netlink; target here >= 100,000 routes/s for add).
//
// Runs in a private network namespace (unshare CLONE_NEWNET; needs root and
// iproute2): brings up lo and a one-ended device (dummy, else ifb) with an
// address, then adds ROUTES distinct /64 routes through the device with
// apply() in batches of BATCH requests, timed with std::chrono::steady_clock,
// then removes them all with flush_owned(), timed likewise. Building the
// request vectors is not timed. Prints one JSON object per run:
//   {"routes":100000,"add_seconds":..,"add_routes_per_second":..,
//    "flush_seconds":..,"flush_routes_per_second":..,"batch":1000}
// With --sweep it repeats the run for batch sizes 1, 10, 100, 1000, 10000 and
// ROUTES, each in a fresh namespace, one JSON line each. A benchmark, not a
// test: it fails only if a route cannot be added or flushed.
//
// Usage: bench_routes [ROUTES [BATCH]] | bench_routes --sweep [ROUTES]
//        (defaults 100000 and 1000)
//
// Threading: single-threaded.
#include <net/if.h>
#include <sched.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "pmip/common/route_manager.hpp"

namespace {

using Clock = std::chrono::steady_clock;

bool run(const std::string& command) {
    return std::system((command + " >/dev/null 2>&1").c_str()) == 0;
}

// A new namespace with lo and "b0" up; returns b0's ifindex or 0.
int prepare_namespace() {
    if (::unshare(CLONE_NEWNET) != 0) {
        std::fprintf(stderr, "bench_routes: unshare(CLONE_NEWNET): %s (needs root)\n",
                     std::strerror(errno));
        return 0;
    }
    if (!run("ip link set lo up") ||
        !(run("ip link add b0 type dummy") || run("ip link add b0 type ifb")) ||
        !run("ip link set b0 up") || !run("ip -6 addr add 2001:db8:ffff::1/64 dev b0 nodad")) {
        std::fprintf(stderr, "bench_routes: cannot set up device b0 with iproute2\n");
        return 0;
    }
    return static_cast<int>(::if_nametoindex("b0"));
}

bool bench(std::size_t routes, std::size_t batch_size) {
    const int ifindex = prepare_namespace();
    if (ifindex == 0)
        return false;
    auto made = pmip::make_netlink_route_manager();
    if (!made) {
        std::fprintf(stderr, "bench_routes: %s\n", made.error().what.c_str());
        return false;
    }
    pmip::RouteManager& manager = **made;

    // 2001:db8:XXXX:XXXX::/64, i in the third and fourth groups.
    std::vector<pmip::RouteRequest> requests;
    requests.reserve(routes);
    for (std::size_t i = 0; i < routes; ++i) {
        pmip::Route route;
        route.destination.address = {0x20, 0x01, 0x0d, 0xb8};
        for (int b = 0; b < 4; ++b) {
            route.destination.address[4 + b] = static_cast<std::uint8_t>(i >> (24 - 8 * b));
        }
        route.destination.length = 64;
        route.ifindex = ifindex;
        requests.push_back({pmip::RouteOp::kAdd, route});
    }

    std::size_t failed = 0;
    const auto add_start = Clock::now();
    for (std::size_t first = 0; first < routes; first += batch_size) {
        const std::size_t count = std::min(batch_size, routes - first);
        const auto results = manager.apply(std::span(requests).subspan(first, count));
        for (const auto& status : results) {
            if (!status.ok() && failed++ == 0) {
                std::fprintf(stderr, "bench_routes: %s\n", status.error().what.c_str());
            }
        }
    }
    const double add_seconds = std::chrono::duration<double>(Clock::now() - add_start).count();

    const auto flush_start = Clock::now();
    const auto flushed = manager.flush_owned();
    const double flush_seconds = std::chrono::duration<double>(Clock::now() - flush_start).count();
    if (!flushed) {
        std::fprintf(stderr, "bench_routes: %s\n", flushed.error().what.c_str());
        return false;
    }
    if (failed != 0 || *flushed != routes) {
        std::fprintf(stderr, "bench_routes: %zu adds failed, %zu of %zu routes flushed\n", failed,
                     *flushed, routes);
        return false;
    }
    std::printf(
        "{\"routes\":%zu,\"add_seconds\":%.4f,\"add_routes_per_second\":%.0f,"
        "\"flush_seconds\":%.4f,\"flush_routes_per_second\":%.0f,\"batch\":%zu}\n",
        routes, add_seconds, static_cast<double>(routes) / add_seconds, flush_seconds,
        static_cast<double>(routes) / flush_seconds, batch_size);
    std::fflush(stdout);
    return true;
}

std::size_t number(const char* text) {
    char* end = nullptr;
    const unsigned long long value = std::strtoull(text, &end, 10);
    if (end == text || *end != '\0' || value == 0) {
        std::fprintf(stderr,
                     "usage: bench_routes [ROUTES [BATCH]] | bench_routes --sweep [ROUTES]\n");
        std::exit(2);
    }
    return static_cast<std::size_t>(value);
}

}  // namespace

int main(int argc, char** argv) {
    if (argc >= 2 && std::strcmp(argv[1], "--sweep") == 0) {
        const std::size_t routes = argc >= 3 ? number(argv[2]) : 100000;
        for (const std::size_t batch : {std::size_t{1}, std::size_t{10}, std::size_t{100},
                                        std::size_t{1000}, std::size_t{10000}, routes}) {
            if (!bench(routes, batch))
                return 1;
        }
        return 0;
    }
    const std::size_t routes = argc >= 2 ? number(argv[1]) : 100000;
    const std::size_t batch = argc >= 3 ? number(argv[2]) : 1000;
    return bench(routes, batch) ? 0 : 1;
}
