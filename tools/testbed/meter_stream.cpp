// Handover meter stream: sockets, pacing and kernel receive timestamps.
#include "meter_stream.hpp"

#include <arpa/inet.h>
#include <poll.h>
#include <sched.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <vector>

#include "meter_report.hpp"

namespace pmip::meter {

namespace {

constexpr int kReceiveBufferOctets = 4 << 20;  // as the Python meter asks
constexpr std::size_t kDatagramBuffer = 2048;

std::int64_t now_ns(clockid_t clock) {
    timespec ts{};
    clock_gettime(clock, &ts);
    return std::int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

timespec to_timespec(std::int64_t ns) {
    return timespec{static_cast<time_t>(ns / 1'000'000'000), static_cast<long>(ns % 1'000'000'000)};
}

void put_be64(unsigned char* out, std::uint64_t value) {
    for (int i = 7; i >= 0; --i) {
        out[i] = static_cast<unsigned char>(value & 0xff);
        value >>= 8;
    }
}

std::uint64_t get_be64(const unsigned char* in) {
    std::uint64_t value = 0;
    for (int i = 0; i < 8; ++i) value = (value << 8) | in[i];
    return value;
}

// A socket closed on scope exit.
class Socket {
  public:
    Socket() : fd_(::socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0)) {}
    ~Socket() {
        if (fd_ >= 0)
            ::close(fd_);
    }
    Socket(const Socket&) = delete;
    Socket& operator=(const Socket&) = delete;
    int fd() const { return fd_; }

  private:
    int fd_;
};

int fail(const char* mode, const std::string& what) {
    std::fprintf(stderr, "pmip-handover-meter: %s: %s: %s\n", mode, what.c_str(),
                 std::strerror(errno));
    return 1;
}

bool set_int(int fd, int level, int name, int value) {
    return setsockopt(fd, level, name, &value, sizeof value) == 0;
}

// Number of datagrams the pause skips: those whose slots fall in the pause.
std::uint64_t paused_datagrams(const SendOptions& o) {
    if (o.pause_ms <= 0)
        return 0;
    return static_cast<std::uint64_t>(std::ceil(o.pause_ms * o.rate / 1000.0 - 1e-9));
}

}  // namespace

int run_send(const SendOptions& o) {
    if (o.realtime) {
        const sched_param priority{1};
        if (sched_setscheduler(0, SCHED_FIFO, &priority) < 0)
            return fail("send", "--realtime: SCHED_FIFO priority 1");
    }
    Socket s;
    if (s.fd() < 0)
        return fail("send", "socket");
    if (!set_int(s.fd(), IPPROTO_IPV6, IPV6_MULTICAST_HOPS, o.hops) ||
        !set_int(s.fd(), IPPROTO_IPV6, IPV6_UNICAST_HOPS, o.hops))
        return fail("send", "setting hop limit " + std::to_string(o.hops));
    if (o.interface_index != 0 &&
        !set_int(s.fd(), IPPROTO_IPV6, IPV6_MULTICAST_IF, static_cast<int>(o.interface_index)))
        return fail("send", "setting the multicast interface");

    std::vector<unsigned char> payload(std::max(o.size, kHeaderSize), 0);
    const auto count = static_cast<std::uint64_t>(o.rate * o.seconds);  // Python's int()
    const std::uint64_t pause_first = o.pause_after;
    const std::uint64_t pause_end = pause_first + paused_datagrams(o);
    const double interval_ns = 1e9 / o.rate;
    std::uint64_t errors = 0, skipped = 0;

    const std::int64_t start = now_ns(CLOCK_MONOTONIC);
    for (std::uint64_t sequence = 0; sequence < count; ++sequence) {
        if (sequence >= pause_first && sequence < pause_end) {
            ++skipped;
            continue;
        }
        const timespec target =
            to_timespec(start + static_cast<std::int64_t>(
                                    std::llround(static_cast<double>(sequence) * interval_ns)));
        while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &target, nullptr) == EINTR) {
        }
        put_be64(payload.data(), sequence);
        put_be64(payload.data() + 8, static_cast<std::uint64_t>(now_ns(CLOCK_REALTIME)));
        if (sendto(s.fd(), payload.data(), payload.size(), 0,
                   reinterpret_cast<const sockaddr*>(&o.to), sizeof o.to) < 0)
            ++errors;  // e.g. no route while the MN moves: counted, not fatal
    }

    std::string line = "{\"sent\": " + std::to_string(count - skipped) +
                       ", \"send_errors\": " + std::to_string(errors) +
                       ", \"rate\": " + (o.rate_given ? python_float(o.rate) : "1000");
    if (o.pause_ms > 0)
        line += ", \"skipped\": " + std::to_string(skipped);
    std::fprintf(stderr, "%s}\n", line.c_str());
    return 0;
}

namespace {

// Joins the group (ASM) or the (source, group) channel (SSM) on the interface
// (0: the kernel picks it from the routing table).
bool join(int fd, const ReceiveOptions& o) {
    auto storage = [](const in6_addr& address) {
        sockaddr_storage ss{};
        sockaddr_in6 sin6{};
        sin6.sin6_family = AF_INET6;
        sin6.sin6_addr = address;
        std::memcpy(&ss, &sin6, sizeof sin6);
        return ss;
    };
    if (o.source) {
        group_source_req request{};
        request.gsr_interface = o.interface_index;
        request.gsr_group = storage(*o.group);
        request.gsr_source = storage(*o.source);
        return setsockopt(fd, IPPROTO_IPV6, MCAST_JOIN_SOURCE_GROUP, &request, sizeof request) == 0;
    }
    group_req request{};
    request.gr_interface = o.interface_index;
    request.gr_group = storage(*o.group);
    return setsockopt(fd, IPPROTO_IPV6, MCAST_JOIN_GROUP, &request, sizeof request) == 0;
}

struct Receiver {
    int fd;
    std::vector<Arrival> arrivals;
    std::uint64_t socket_drops = 0;

    // Reads every queued datagram; false on a socket error. Stops at the
    // first datagram that arrived after deadline_ns (CLOCK_REALTIME, as the
    // kernel stamps), which is not counted.
    bool drain(std::int64_t deadline_ns) {
        std::array<unsigned char, kDatagramBuffer> data{};
        alignas(cmsghdr) std::array<unsigned char, CMSG_SPACE(sizeof(timespec)) +
                                                       CMSG_SPACE(sizeof(std::uint32_t))>
            control{};
        for (;;) {
            iovec iov{data.data(), data.size()};
            msghdr message{};
            message.msg_iov = &iov;
            message.msg_iovlen = 1;
            message.msg_control = control.data();
            message.msg_controllen = control.size();
            const ssize_t n = recvmsg(fd, &message, MSG_DONTWAIT);
            if (n < 0)
                return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
            std::optional<std::int64_t> stamp;
            for (cmsghdr* c = CMSG_FIRSTHDR(&message); c != nullptr; c = CMSG_NXTHDR(&message, c)) {
                if (c->cmsg_level != SOL_SOCKET)
                    continue;
                if (c->cmsg_type == SCM_TIMESTAMPNS) {
                    timespec ts{};
                    std::memcpy(&ts, CMSG_DATA(c), sizeof ts);
                    stamp = std::int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
                } else if (c->cmsg_type == SO_RXQ_OVFL) {
                    std::uint32_t drops = 0;
                    std::memcpy(&drops, CMSG_DATA(c), sizeof drops);
                    socket_drops = std::max<std::uint64_t>(socket_drops, drops);
                }
            }
            const std::int64_t arrival = stamp ? *stamp : now_ns(CLOCK_REALTIME);
            if (arrival > deadline_ns)
                return true;
            if (static_cast<std::size_t>(n) < kHeaderSize)
                continue;
            arrivals.push_back({arrival, get_be64(data.data())});
        }
    }
};

}  // namespace

int run_receive(const ReceiveOptions& o) {
    Socket s;
    if (s.fd() < 0)
        return fail("receive", "socket");
    if (!set_int(s.fd(), SOL_SOCKET, SO_REUSEADDR, 1))
        return fail("receive", "SO_REUSEADDR");
    // SO_RCVBUFFORCE passes net.core.rmem_max when we may (CAP_NET_ADMIN).
    if (!set_int(s.fd(), SOL_SOCKET, SO_RCVBUFFORCE, kReceiveBufferOctets) &&
        !set_int(s.fd(), SOL_SOCKET, SO_RCVBUF, kReceiveBufferOctets))
        return fail("receive", "setting the receive buffer");
    if (!set_int(s.fd(), SOL_SOCKET, SO_TIMESTAMPNS, 1))
        return fail("receive", "enabling kernel receive timestamps (SO_TIMESTAMPNS)");
    if (!set_int(s.fd(), SOL_SOCKET, SO_RXQ_OVFL, 1))
        return fail("receive", "enabling the socket drop counter (SO_RXQ_OVFL)");

    sockaddr_in6 local{};
    local.sin6_family = AF_INET6;
    local.sin6_addr = in6addr_any;
    local.sin6_port = htons(o.port);
    if (bind(s.fd(), reinterpret_cast<const sockaddr*>(&local), sizeof local) < 0)
        return fail("receive", "binding [::]:" + std::to_string(o.port));
    if (o.group && !join(s.fd(), o)) {
        std::string what = "joining ";
        what += o.source ? "(" + o.source_text + ", " + o.group_text + ")" : o.group_text;
        what += o.interface_name.empty() ? "" : " on " + o.interface_name;
        return fail("receive", what);
    }

    const auto window_ns = static_cast<std::int64_t>(std::llround(o.seconds * 1e9));
    const std::int64_t deadline = now_ns(CLOCK_MONOTONIC) + window_ns;
    const std::int64_t deadline_realtime = now_ns(CLOCK_REALTIME) + window_ns;
    Receiver receiver{s.fd(), {}, 0};
    receiver.arrivals.reserve(1 << 16);
    for (;;) {
        const std::int64_t left = deadline - now_ns(CLOCK_MONOTONIC);
        if (left <= 0)
            break;
        pollfd p{s.fd(), POLLIN, 0};
        const timespec timeout = to_timespec(left);
        const int ready = ppoll(&p, 1, &timeout, nullptr);
        if (ready < 0 && errno != EINTR)
            return fail("receive", "waiting for datagrams");
        if (ready > 0 && !receiver.drain(deadline_realtime))
            return fail("receive", "reading a datagram");
    }
    // What the kernel queued before the deadline while we were not looking.
    if (!receiver.drain(deadline_realtime))
        return fail("receive", "reading a datagram");

    const Report report = make_report(receiver.arrivals, o.gap_ms, receiver.socket_drops);
    if (o.json)
        std::printf("%s\n", report_json(report).c_str());
    else
        std::fputs(report_text(report).c_str(), stdout);
    return report.received > 0 ? 0 : 1;
}

}  // namespace pmip::meter
