// machine_probe: what this machine charges for the things the daemons do
// most, to read the other benchmarks' figures against (README "Measured
// figures"). Not a test. Prints one JSON object:
//   syscall_ns       a system call that does nothing (getppid), averaged over
//                    --syscalls calls: the floor under every recvmmsg,
//                    sendmmsg, netlink exchange and epoll_wait
//   stall_us         a thread that only reads the clock, for --seconds: each
//                    gap between two consecutive reads beyond --spin-us of
//                    spinning, as percentiles and counts (> 100 us, > 1 ms):
//                    time the CPU was taken from a busy thread (interrupts,
//                    the hypervisor, other tasks); a PBA's latency percentile
//                    cannot be lower than this machine's
// Run it pinned (taskset -c N) next to the benchmark it explains.
//
//   machine_probe [--syscalls N] [--seconds S] [--spin-us U]
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

std::int64_t ns_since(Clock::time_point start) {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - start).count();
}

[[noreturn]] void usage() {
    std::fprintf(stderr, "usage: machine_probe [--syscalls N] [--seconds S] [--spin-us U]\n");
    std::exit(2);
}

}  // namespace

int main(int argc, char** argv) {
    long syscalls = 1000000;
    double seconds = 2;
    long spin_us = 20;
    for (int i = 1; i < argc; ++i) {
        if (i + 1 >= argc) usage();
        const char* v = argv[++i];
        if (std::strcmp(argv[i - 1], "--syscalls") == 0) syscalls = std::atol(v);
        else if (std::strcmp(argv[i - 1], "--seconds") == 0) seconds = std::atof(v);
        else if (std::strcmp(argv[i - 1], "--spin-us") == 0) spin_us = std::atol(v);
        else usage();
    }
    if (syscalls <= 0 || seconds <= 0 || seconds > 60 || spin_us <= 0) usage();

    const auto s0 = Clock::now();
    for (long i = 0; i < syscalls; ++i) (void)::syscall(SYS_getppid);
    const double syscall_ns = static_cast<double>(ns_since(s0)) / static_cast<double>(syscalls);

    // Spin for spin_us, then note how much longer than that the round took.
    std::vector<std::int64_t> stalls;
    stalls.reserve(static_cast<std::size_t>(seconds * 1e6 / static_cast<double>(spin_us)) + 16);
    const std::int64_t spin_ns = spin_us * 1000;
    const auto start = Clock::now();
    auto previous = start;
    while (ns_since(start) < static_cast<std::int64_t>(seconds * 1e9)) {
        const auto round = Clock::now();
        while (std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - round).count() < spin_ns) {
        }
        const auto now = Clock::now();
        stalls.push_back(std::chrono::duration_cast<std::chrono::nanoseconds>(now - previous).count() - spin_ns);
        previous = now;
    }
    std::sort(stalls.begin(), stalls.end());
    const auto at = [&](double q) {
        const auto i = std::min(stalls.size() - 1, static_cast<std::size_t>(q * static_cast<double>(stalls.size())));
        return static_cast<double>(stalls[i]) / 1000.0;
    };
    const auto over = [&](std::int64_t ns) {
        return static_cast<long>(stalls.end() - std::upper_bound(stalls.begin(), stalls.end(), ns));
    };
    std::printf(
        "{\"syscall_ns\":%.0f,\"stall_us\":{\"rounds\":%zu,\"seconds\":%.2f,\"spin_us\":%ld,"
        "\"p50\":%.1f,\"p99\":%.1f,\"p999\":%.1f,\"max\":%.1f,\"over_100us\":%ld,\"over_1ms\":%ld}}\n",
        syscall_ns, stalls.size(), seconds, spin_us, at(0.5), at(0.99), at(0.999),
        static_cast<double>(stalls.back()) / 1000.0, over(100000), over(1000000));
    return 0;
}
