// udp_flood: a UDP blaster and counter for data-plane benchmarks
// (tools/bench/bench_tunnel.sh; DESIGN.md section 8, tunnel throughput as a
// ratio of plain routing). Not a test: it prints one JSON object.
//
//   udp_flood send --source ADDR --dest ADDR --port N --size N
//                  [--count N] [--duration S] [--pps N]
//       sendmmsg batches of 64 datagrams of `size` octets of UDP payload until
//       `count` were sent or `duration` seconds passed (optionally paced to
//       `pps`); prints {"sent", "seconds", "pps", "errors"}.
//   udp_flood recv --bind ADDR --port N [--duration S] [--idle-ms N]
//       recvmmsg batches of 64 until `duration` seconds passed or, once
//       traffic started, `idle-ms` passed without a datagram; prints
//       {"received", "bytes", "seconds" (first to last datagram), "pps"}.
//       Touches --ready FILE once bound.
//
// Both ends are bounded in time and count, so a lost flow cannot hang a run.
// Threading: single thread. Counters: what it prints.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

namespace {

constexpr int kBatch = 64;
using Clock = std::chrono::steady_clock;

struct Options {
    std::string mode, source, dest, bind = "::", ready;
    int port = 9000;
    std::size_t size = 64;
    unsigned long long count = 0;  // 0 = no bound
    double duration = 5.0;
    unsigned long long pps = 0;  // 0 = as fast as possible
    int idle_ms = 500;
};

[[noreturn]] void usage(const char* message) {
    std::fprintf(stderr,
                 "udp_flood: %s\nusage: udp_flood send --source A --dest A --port N --size N "
                 "[--count N] [--duration S] [--pps N]\n"
                 "       udp_flood recv --bind A --port N [--duration S] [--idle-ms N] "
                 "[--ready FILE]\n",
                 message);
    std::exit(2);
}

Options parse(int argc, char** argv) {
    if (argc < 2)
        usage("no mode");
    Options o;
    o.mode = argv[1];
    for (int i = 2; i < argc; ++i) {
        const std::string arg = argv[i];
        if (i + 1 >= argc)
            usage("option without value");
        const std::string value = argv[++i];
        if (arg == "--source")
            o.source = value;
        else if (arg == "--dest")
            o.dest = value;
        else if (arg == "--bind")
            o.bind = value;
        else if (arg == "--ready")
            o.ready = value;
        else if (arg == "--port")
            o.port = std::stoi(value);
        else if (arg == "--size")
            o.size = std::stoul(value);
        else if (arg == "--count")
            o.count = std::stoull(value);
        else if (arg == "--duration")
            o.duration = std::stod(value);
        else if (arg == "--pps")
            o.pps = std::stoull(value);
        else if (arg == "--idle-ms")
            o.idle_ms = std::stoi(value);
        else
            usage("unknown option");
    }
    if (o.mode != "send" && o.mode != "recv")
        usage("mode is send or recv");
    if (o.size == 0 || o.size > 65000)
        usage("size out of range");
    return o;
}

sockaddr_in6 address(const std::string& text, int port) {
    sockaddr_in6 a{};
    a.sin6_family = AF_INET6;
    a.sin6_port = htons(static_cast<std::uint16_t>(port));
    if (inet_pton(AF_INET6, text.c_str(), &a.sin6_addr) != 1)
        usage("bad address");
    return a;
}

double seconds_between(Clock::time_point a, Clock::time_point b) {
    return std::chrono::duration<double>(b - a).count();
}

int run_send(const Options& o) {
    const int fd = ::socket(AF_INET6, SOCK_DGRAM, 0);
    if (fd < 0)
        return std::perror("socket"), 1;
    const int buffer = 4 * 1024 * 1024;
    (void)::setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &buffer, sizeof buffer);
    if (!o.source.empty()) {
        const sockaddr_in6 src = address(o.source, 0);
        if (::bind(fd, reinterpret_cast<const sockaddr*>(&src), sizeof src) < 0) {
            return std::perror("bind"), 1;
        }
    }
    const sockaddr_in6 dst = address(o.dest, o.port);
    if (::connect(fd, reinterpret_cast<const sockaddr*>(&dst), sizeof dst) < 0) {
        return std::perror("connect"), 1;
    }
    std::vector<std::uint8_t> payload(o.size, 0x5a);
    iovec iov[kBatch];
    mmsghdr messages[kBatch]{};
    for (int i = 0; i < kBatch; ++i) {
        iov[i] = {payload.data(), payload.size()};
        messages[i].msg_hdr.msg_iov = &iov[i];
        messages[i].msg_hdr.msg_iovlen = 1;
    }
    unsigned long long sent = 0, errors = 0;
    const auto start = Clock::now();
    const auto end = start + std::chrono::duration_cast<Clock::duration>(
                                 std::chrono::duration<double>(o.duration));
    auto now = start;
    while (now < end && (o.count == 0 || sent < o.count)) {
        int batch = kBatch;
        if (o.count != 0 && o.count - sent < static_cast<unsigned long long>(batch)) {
            batch = static_cast<int>(o.count - sent);
        }
        if (o.pps != 0) {
            const double due = static_cast<double>(sent) / static_cast<double>(o.pps);
            const double elapsed = seconds_between(start, now);
            if (elapsed < due) {
                std::this_thread::sleep_for(std::chrono::duration<double>(due - elapsed));
            }
        }
        const int n = ::sendmmsg(fd, messages, static_cast<unsigned>(batch), 0);
        if (n > 0) {
            sent += static_cast<unsigned long long>(n);
        } else if (errno == ENOBUFS || errno == EAGAIN || errno == ECONNREFUSED) {
            ++errors;  // a full queue below us: try again
        } else if (errno != EINTR) {
            return std::perror("sendmmsg"), 1;
        }
        now = Clock::now();
    }
    const double secs = seconds_between(start, Clock::now());
    std::printf("{\"sent\": %llu, \"seconds\": %.6f, \"pps\": %.0f, \"errors\": %llu}\n", sent,
                secs, secs > 0 ? static_cast<double>(sent) / secs : 0.0, errors);
    ::close(fd);
    return 0;
}

int run_recv(const Options& o) {
    const int fd = ::socket(AF_INET6, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return std::perror("socket"), 1;
    const int buffer = 16 * 1024 * 1024;
    (void)::setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &buffer, sizeof buffer);
    const sockaddr_in6 local = address(o.bind, o.port);
    if (::bind(fd, reinterpret_cast<const sockaddr*>(&local), sizeof local) < 0) {
        return std::perror("bind"), 1;
    }
    if (!o.ready.empty())
        std::ofstream(o.ready) << "ready\n";
    std::vector<std::uint8_t> buffers(static_cast<std::size_t>(kBatch) * 2048);
    iovec iov[kBatch];
    mmsghdr messages[kBatch]{};
    for (int i = 0; i < kBatch; ++i) {
        iov[i] = {buffers.data() + static_cast<std::size_t>(i) * 2048, 2048};
        messages[i].msg_hdr.msg_iov = &iov[i];
        messages[i].msg_hdr.msg_iovlen = 1;
    }
    unsigned long long received = 0, bytes = 0;
    const auto start = Clock::now();
    const auto end = start + std::chrono::duration_cast<Clock::duration>(
                                 std::chrono::duration<double>(o.duration));
    Clock::time_point first{}, last{};
    for (;;) {
        const int n = ::recvmmsg(fd, messages, kBatch, 0, nullptr);
        const auto now = Clock::now();
        if (n > 0) {
            if (received == 0)
                first = now;
            last = now;
            received += static_cast<unsigned long long>(n);
            for (int i = 0; i < n; ++i) bytes += messages[i].msg_len;
            continue;
        }
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
            return std::perror("recvmmsg"), 1;
        }
        if (now >= end)
            break;
        if (received > 0 && now - last > std::chrono::milliseconds(o.idle_ms))
            break;
        pollfd p{fd, POLLIN, 0};
        (void)::poll(&p, 1, 20);
    }
    const double secs = received > 1 ? seconds_between(first, last) : 0.0;
    std::printf("{\"received\": %llu, \"bytes\": %llu, \"seconds\": %.6f, \"pps\": %.0f}\n",
                received, bytes, secs, secs > 0 ? static_cast<double>(received) / secs : 0.0);
    ::close(fd);
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    const Options o = parse(argc, argv);
    return o.mode == "send" ? run_send(o) : run_recv(o);
}
