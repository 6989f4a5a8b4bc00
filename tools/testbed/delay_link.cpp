// pmip-delay-link: a link-delay stage for the namespace testbed, for kernels
// without netem (this one) and without the fq qdisc (no EDT either). It
// joins two interfaces like a cable with a one-way delay: every frame
// received on one goes out of the other `delay` later, in order.
//
//   pmip-delay-link --a IFNAME --b IFNAME --delay-ms MS [--queue N] [--stats FILE]
//
// Two AF_PACKET sockets (ETH_P_ALL, PACKET_IGNORE_OUTGOING so a socket does
// not read back what it sent), one FIFO per direction (a constant delay keeps
// the order), a poll loop that sleeps until the next frame is due. A frame
// that finds its direction's queue full (--queue, default 100000) is dropped
// and counted, as is one the kernel refuses to send. On SIGTERM or SIGINT
// the counters go to --stats (JSON) or stderr and it exits 0.
//
// Timing: ppoll with a nanosecond timeout, so a frame leaves within tens of
// microseconds of its due time on an idle machine (the worst lateness is in
// the counters). Frames keep their offload metadata (PACKET_VNET_HDR: a
// checksum left to offload, GSO), so local UDP and TCP cross it intact.
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <arpa/inet.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <string>
#include <vector>

namespace {

volatile sig_atomic_t g_stop = 0;

void on_signal(int) { g_stop = 1; }

std::int64_t now_ns() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return std::int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

struct Frame {
    std::int64_t due = 0;
    std::vector<unsigned char> octets;
};

struct Direction {
    int in = -1;   // read here
    int out = -1;  // send there
    std::string name;  // "a->b"
    std::deque<Frame> queue;
    std::uint64_t received = 0, sent = 0, dropped_queue_full = 0, dropped_oversized = 0, send_errors = 0;
    std::int64_t worst_late_ns = 0;  // how late the latest-sent frame left, at worst
};

int open_socket(const char* ifname) {
    const unsigned index = if_nametoindex(ifname);
    if (index == 0) {
        std::fprintf(stderr, "pmip-delay-link: %s: no such interface\n", ifname);
        return -1;
    }
    // Protocol 0 until bound: no frame of another interface is queued before.
    const int fd = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        std::fprintf(stderr, "pmip-delay-link: socket(AF_PACKET): %s\n", std::strerror(errno));
        return -1;
    }
    sockaddr_ll sll{};
    sll.sll_family = AF_PACKET;
    sll.sll_protocol = htons(ETH_P_ALL);
    sll.sll_ifindex = static_cast<int>(index);
    const int one = 1;
    const int buffer = 8 << 20;
    // PACKET_VNET_HDR: each frame comes with its virtio_net_hdr (checksum
    // offset, GSO type) and goes out with it, so a frame whose checksum the
    // sender left to offload (CHECKSUM_PARTIAL: a local UDP datagram on a
    // veth) or a GSO super-frame (local TCP) leaves as the kernel would have
    // sent it, not with an unfinished checksum or over the MTU.
    if (bind(fd, reinterpret_cast<sockaddr*>(&sll), sizeof sll) != 0 ||
        setsockopt(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof one) != 0 ||
        setsockopt(fd, SOL_PACKET, PACKET_VNET_HDR, &one, sizeof one) != 0) {
        std::fprintf(stderr, "pmip-delay-link: %s: bind / PACKET_IGNORE_OUTGOING / PACKET_VNET_HDR: %s\n",
                     ifname, std::strerror(errno));
        close(fd);
        return -1;
    }
    (void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buffer, sizeof buffer);
    (void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buffer, sizeof buffer);
    return fd;
}

// Reads every frame waiting on d.in into its queue.
void receive(Direction& d, std::int64_t delay_ns, std::size_t limit) {
    unsigned char buffer[65536 + 64];  // virtio_net_hdr + a GSO frame
    for (;;) {
        const ssize_t n = recv(d.in, buffer, sizeof buffer, MSG_TRUNC);
        if (n < 0)
            return;  // EAGAIN: drained
        ++d.received;
        if (static_cast<std::size_t>(n) > sizeof buffer) {
            ++d.dropped_oversized;
            continue;
        }
        if (d.queue.size() >= limit) {
            ++d.dropped_queue_full;
            continue;
        }
        d.queue.push_back(Frame{now_ns() + delay_ns, std::vector<unsigned char>(buffer, buffer + n)});
    }
}

// Sends the frames of d that are due.
void send_due(Direction& d) {
    const std::int64_t now = now_ns();
    while (!d.queue.empty() && d.queue.front().due <= now) {
        const Frame& f = d.queue.front();
        if (send(d.out, f.octets.data(), f.octets.size(), 0) < 0)
            ++d.send_errors;
        else
            ++d.sent;
        if (now - f.due > d.worst_late_ns)
            d.worst_late_ns = now - f.due;
        d.queue.pop_front();
    }
}

void print_stats(FILE* out, const Direction (&dirs)[2], long delay_ms) {
    std::fprintf(out, "{\"delay_ms\": %ld", delay_ms);
    for (const Direction& d : dirs) {
        std::fprintf(out,
                     ", \"%s\": {\"received\": %llu, \"sent\": %llu, \"dropped_queue_full\": %llu, "
                     "\"dropped_oversized\": %llu, \"send_errors\": %llu, \"queued\": %zu, "
                     "\"worst_late_us\": %.1f}",
                     d.name.c_str(), static_cast<unsigned long long>(d.received),
                     static_cast<unsigned long long>(d.sent),
                     static_cast<unsigned long long>(d.dropped_queue_full),
                     static_cast<unsigned long long>(d.dropped_oversized),
                     static_cast<unsigned long long>(d.send_errors), d.queue.size(),
                     static_cast<double>(d.worst_late_ns) / 1000.0);
    }
    std::fprintf(out, "}\n");
}

void usage(FILE* out) {
    std::fputs(
        "usage: pmip-delay-link --a IFNAME --b IFNAME --delay-ms MS [--queue N] [--stats FILE]\n"
        "  Joins two interfaces like a cable with a one-way delay of MS milliseconds\n"
        "  (0-10000) in each direction: every frame received on one goes out of the\n"
        "  other MS later, in order (AF_PACKET; for kernels without netem). A frame\n"
        "  that finds N frames (default 100000) queued in its direction is dropped\n"
        "  and counted. SIGTERM / SIGINT: the counters (JSON) go to FILE or stderr.\n",
        out);
}

}  // namespace

int main(int argc, char** argv) {
    const char* a = nullptr;
    const char* b = nullptr;
    const char* stats = nullptr;
    long delay_ms = -1;
    long limit = 100000;
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        if (arg == "--help" || arg == "-h") {
            usage(stdout);
            return 0;
        }
        if (i + 1 >= argc) {
            usage(stderr);
            return 2;
        }
        const char* value = argv[++i];
        char* end = nullptr;
        if (arg == "--a") {
            a = value;
        } else if (arg == "--b") {
            b = value;
        } else if (arg == "--stats") {
            stats = value;
        } else if (arg == "--delay-ms") {
            delay_ms = std::strtol(value, &end, 10);
            if (*end != '\0' || delay_ms < 0 || delay_ms > 10000) {
                std::fprintf(stderr, "pmip-delay-link: --delay-ms: \"%s\" is not 0-10000\n", value);
                return 2;
            }
        } else if (arg == "--queue") {
            limit = std::strtol(value, &end, 10);
            if (*end != '\0' || limit < 1 || limit > 10'000'000) {
                std::fprintf(stderr, "pmip-delay-link: --queue: \"%s\" is not 1-10000000\n", value);
                return 2;
            }
        } else {
            usage(stderr);
            return 2;
        }
    }
    if (!a || !b || delay_ms < 0) {
        usage(stderr);
        return 2;
    }
    const int fa = open_socket(a);
    const int fb = open_socket(b);
    if (fa < 0 || fb < 0)
        return 1;
    struct sigaction sa {};
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, nullptr);
    sigaction(SIGINT, &sa, nullptr);
    // The signals are blocked except inside ppoll, so one that comes between
    // the g_stop check and ppoll still ends the wait.
    sigset_t blocked, waiting;
    sigemptyset(&blocked);
    sigaddset(&blocked, SIGTERM);
    sigaddset(&blocked, SIGINT);
    sigprocmask(SIG_BLOCK, &blocked, &waiting);
    const std::int64_t delay_ns = delay_ms * 1'000'000;
    Direction dirs[2];
    dirs[0].in = fa;
    dirs[0].out = fb;
    dirs[0].name = std::string(a) + "->" + b;
    dirs[1].in = fb;
    dirs[1].out = fa;
    dirs[1].name = std::string(b) + "->" + a;
    pollfd fds[2] = {{fa, POLLIN, 0}, {fb, POLLIN, 0}};
    while (!g_stop) {
        std::int64_t next = -1;
        for (const Direction& d : dirs) {
            if (!d.queue.empty() && (next < 0 || d.queue.front().due < next))
                next = d.queue.front().due;
        }
        // ppoll: a nanosecond timeout (hrtimer), so frames leave on time and
        // frames arriving meanwhile are read (and stamped) at once.
        timespec timeout{};
        const timespec* t = nullptr;
        if (next >= 0) {
            const std::int64_t wait_ns = std::max<std::int64_t>(0, next - now_ns());
            timeout = {static_cast<time_t>(wait_ns / 1'000'000'000), static_cast<long>(wait_ns % 1'000'000'000)};
            t = &timeout;
        }
        const int n = ppoll(fds, 2, t, &waiting);
        if (n < 0 && errno != EINTR)
            break;
        if (n > 0) {
            for (int i = 0; i < 2; ++i) {
                if (fds[i].revents & (POLLERR | POLLHUP | POLLNVAL)) {
                    // The interface went down or away: a cable that is cut.
                    std::fprintf(stderr, "pmip-delay-link: %s: %s\n", i == 0 ? a : b,
                                 fds[i].revents & POLLERR ? "socket error (interface gone?)" : "hung up");
                    g_stop = 1;
                }
                if (fds[i].revents & POLLIN)
                    receive(dirs[i], delay_ns, static_cast<std::size_t>(limit));
            }
        }
        for (Direction& d : dirs) send_due(d);
    }
    FILE* out = stats ? std::fopen(stats, "w") : stderr;
    print_stats(out ? out : stderr, dirs, delay_ms);
    if (out && out != stderr)
        std::fclose(out);
    return 0;
}
