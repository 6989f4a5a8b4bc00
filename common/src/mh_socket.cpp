// Raw Mobility Header socket (protocol 135) and ICMPv6 error socket. See mh_socket.hpp.
#include "pmip/common/mh_socket.hpp"

#include <netinet/icmp6.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cstring>
#include <ctime>

#include "pmip/common/log.hpp"
#include "pmip/common/raw_socket.hpp"
#include "pmip/mh/codec.hpp"

namespace pmip {

namespace {

constexpr std::size_t kControlSize = CMSG_SPACE(sizeof(in6_pktinfo)) + CMSG_SPACE(sizeof(int)) +
                                     CMSG_SPACE(sizeof(int)) + CMSG_SPACE(sizeof(std::uint32_t)) +
                                     CMSG_SPACE(sizeof(timespec));

Error socket_error(const char* what) {
    return Error::from_errno(std::string("MH socket: ") + what);
}

log::RateLimit& send_problem_log() {
    static log::RateLimit limit(5, std::chrono::seconds(10));
    return limit;
}

// One message of a recvmmsg/sendmmsg vector: its address, one buffer and
// its control messages.
void point_header(msghdr& h, sockaddr_in6* name, iovec* iov, void* control, std::size_t control_size) {
    h = {};
    h.msg_name = name;
    h.msg_namelen = sizeof(sockaddr_in6);
    h.msg_iov = iov;
    h.msg_iovlen = 1;
    h.msg_control = control;
    h.msg_controllen = control_size;
}

struct alignas(cmsghdr) ControlBuffer {
    std::uint8_t bytes[kControlSize];
};

}  // namespace

struct MhSocket::Buffers {
    std::array<std::array<std::uint8_t, kBufferSize>, kBatch> data{};
    std::array<ControlBuffer, kBatch> control{};
    std::array<sockaddr_in6, kBatch> from{};
    std::array<iovec, kBatch> iov{};
    std::array<mmsghdr, kBatch> headers{};
};

struct MhSocket::SendQueue {
    struct alignas(cmsghdr) PktInfo {
        std::uint8_t bytes[CMSG_SPACE(sizeof(in6_pktinfo))];
    };
    std::array<std::array<std::uint8_t, 2048>, kBatch> data{};
    std::array<PktInfo, kBatch> control{};
    std::array<sockaddr_in6, kBatch> to{};
    std::array<iovec, kBatch> iov{};
    std::array<mmsghdr, kBatch> headers{};
    std::size_t count = 0;
};

Expected<std::unique_ptr<MhSocket>> MhSocket::open(EventLoop& loop) {
    const int fd = ::socket(AF_INET6, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_MH);
    if (fd < 0)
        return socket_error("socket(AF_INET6, SOCK_RAW, 135)");
    auto fail = [fd](const char* what) {
        Error e = socket_error(what);
        ::close(fd);
        return e;
    };
    // RFC 6275 section 6.1.1: the checksum is at offset 4 of the MH.
    const int offset = 4;
    if (::setsockopt(fd, IPPROTO_IPV6, IPV6_CHECKSUM, &offset, sizeof offset) != 0) {
        return fail("IPV6_CHECKSUM");
    }
    const int on = 1;
    if (::setsockopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &on, sizeof on) != 0) {
        return fail("IPV6_RECVPKTINFO");
    }
    (void)::setsockopt(fd, IPPROTO_IPV6, IPV6_RECVHOPLIMIT, &on, sizeof on);
    (void)::setsockopt(fd, IPPROTO_IPV6, IPV6_RECVTCLASS, &on, sizeof on);
    // Bursts of PBUs from many MAGs: 4 MiB each way, past net.core.rmem_max
    // when we may (CAP_NET_ADMIN). What still overflows the queue is counted
    // (SO_RXQ_OVFL: rx_queue_overflows).
    const int buffer = 4 << 20;
    (void)set_socket_buffer(fd, true, buffer);
    (void)set_socket_buffer(fd, false, buffer);
    (void)::setsockopt(fd, SOL_SOCKET, SO_RXQ_OVFL, &on, sizeof on);

    int icmp = ::socket(AF_INET6, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_ICMPV6);
    if (icmp >= 0) {
        icmp6_filter filter;
        ICMP6_FILTER_SETBLOCKALL(&filter);
        if (::setsockopt(icmp, IPPROTO_ICMPV6, ICMP6_FILTER, &filter, sizeof filter) != 0) {
            ::close(icmp);
            icmp = -1;
        }
    }
    if (icmp < 0) {
        PMIP_WARNING(kMh, "[lma mh]",
                     std::string("no ICMPv6 socket (") + std::strerror(errno) +
                         "): MH packets that need a Parameter Problem are only dropped");
    }
    std::unique_ptr<MhSocket> s(new MhSocket(loop, fd, icmp));
    MhSocket* self = s.get();
    if (Status st = loop.add_fd(fd, EPOLLIN, [self](std::uint32_t) { self->on_readable(); });
        !st.ok()) {
        return st.error();
    }
    return s;
}

MhSocket::MhSocket(EventLoop& loop, int mh_fd, int icmp_fd)
    : loop_(loop), mh_fd_(mh_fd), icmp_fd_(icmp_fd), buffers_(std::make_unique<Buffers>()) {}

MhSocket::~MhSocket() {
    loop_.remove_fd(mh_fd_);
    ::close(mh_fd_);
    if (icmp_fd_ >= 0)
        ::close(icmp_fd_);
}

void MhSocket::set_max_queue_delay(Duration delay) {
    max_queue_delay_ = delay;
    const int on = delay > Duration::zero() ? 1 : 0;
    (void)::setsockopt(mh_fd_, SOL_SOCKET, SO_TIMESTAMPNS, &on, sizeof on);
}

void MhSocket::on_readable() {
    Buffers& b = *buffers_;
    for (std::size_t round = 0; round < kMaxBatchesPerWakeup; ++round) {
        for (std::size_t i = 0; i < kBatch; ++i) {
            b.iov[i] = {b.data[i].data(), b.data[i].size()};
            point_header(b.headers[i].msg_hdr, &b.from[i], &b.iov[i], b.control[i].bytes,
                         sizeof b.control[i].bytes);
            b.headers[i].msg_len = 0;
        }
        const int n = ::recvmmsg(mh_fd_, b.headers.data(), kBatch, MSG_DONTWAIT, nullptr);
        if (n < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
                ++counters_.rx_errors;
                if (send_problem_log().allow()) {
                    PMIP_WARNING(kMh, "[lma mh]", std::string("recvmmsg: ") + std::strerror(errno));
                }
            }
            return;
        }
        ++counters_.rx_batches;
        corked_ = true;
        if (batch_begin_)
            batch_begin_();
        timespec now{};
        if (max_queue_delay_ > Duration::zero()) ::clock_gettime(CLOCK_REALTIME, &now);
        for (int i = 0; i < n; ++i) {
            ++counters_.rx_packets;
            const msghdr& h = b.headers[i].msg_hdr;
            if (h.msg_flags & MSG_TRUNC) {
                ++counters_.rx_truncated;
                continue;
            }
            ReceivedPacket packet;
            packet.mh = std::span<const std::uint8_t>(b.data[i].data(), b.headers[i].msg_len);
            std::memcpy(packet.source.data(), &b.from[i].sin6_addr, 16);
            bool have_destination = false;
            timespec arrived{};
            for (cmsghdr* c = CMSG_FIRSTHDR(&h); c != nullptr;
                 c = CMSG_NXTHDR(const_cast<msghdr*>(&h), c)) {
                if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS) {
                    std::memcpy(&arrived, CMSG_DATA(c), sizeof arrived);
                    continue;
                }
                if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SO_RXQ_OVFL) {
                    // The socket's drop count since it was opened (full queue).
                    std::uint32_t dropped = 0;
                    std::memcpy(&dropped, CMSG_DATA(c), sizeof dropped);
                    counters_.rx_queue_overflows = dropped;
                    continue;
                }
                if (c->cmsg_level != IPPROTO_IPV6)
                    continue;
                if (c->cmsg_type == IPV6_PKTINFO) {
                    in6_pktinfo info;
                    std::memcpy(&info, CMSG_DATA(c), sizeof info);
                    std::memcpy(packet.destination.data(), &info.ipi6_addr, 16);
                    packet.ifindex = static_cast<int>(info.ipi6_ifindex);
                    have_destination = true;
                } else if (c->cmsg_type == IPV6_HOPLIMIT) {
                    int v = 0;
                    std::memcpy(&v, CMSG_DATA(c), sizeof v);
                    packet.hop_limit = static_cast<std::uint8_t>(v);
                } else if (c->cmsg_type == IPV6_TCLASS) {
                    int v = 0;
                    std::memcpy(&v, CMSG_DATA(c), sizeof v);
                    packet.traffic_class = static_cast<std::uint8_t>(v);
                }
            }
            if (!have_destination) {
                ++counters_.rx_no_pktinfo;
                continue;
            }
            // Overload: the oldest packets are at the queue's head; what
            // waited longer than max_queue_delay is dropped unanswered (the
            // MAG retransmits, RFC 5213 section 6.9.4), which drains the
            // backlog at the cost of reading it.
            if (max_queue_delay_ > Duration::zero() && arrived.tv_sec != 0) {
                const auto waited = std::chrono::seconds(now.tv_sec - arrived.tv_sec) +
                                    std::chrono::nanoseconds(now.tv_nsec - arrived.tv_nsec);
                if (waited > max_queue_delay_) {
                    ++counters_.rx_shed_stale;
                    continue;
                }
            }
            if (handler_)
                handler_(packet);
        }
        if (batch_end_)
            batch_end_();
        corked_ = false;
        flush_sends();
        if (static_cast<std::size_t>(n) < kBatch)
            return;
    }
}

bool MhSocket::send_from(int fd, const Ipv6Address& source, const Ipv6Address& destination,
                         std::span<const std::uint8_t> data) {
    Status st = pmip::send_from(fd, source, destination, 0, data);
    if (st.ok())
        return true;
    if (send_problem_log().allow())
        PMIP_WARNING(kMh, "[mh peer=" + pmip::to_string(destination) + "]", st.error().what);
    return false;
}

void MhSocket::send(const Ipv6Address& source, const Ipv6Address& destination,
                    const mh::Message& message) {
    std::array<std::uint8_t, 2048> wire{};
    const auto written = mh::serialize(message, wire, serialize_config_);
    if (const auto* error = std::get_if<mh::SerializeError>(&written)) {
        ++counters_.tx_serialize_errors;
        PMIP_ERROR(kMh, "[lma mh peer=" + pmip::to_string(destination) + "]",
                   std::string(mh::message_kind(message)) +
                       " not serialized: " + std::string(mh::to_string(*error)));
        return;
    }
    const std::size_t length = std::get<std::size_t>(written);
    if (corked_) {
        if (!send_queue_)
            send_queue_ = std::make_unique<SendQueue>();
        SendQueue& q = *send_queue_;
        const std::size_t i = q.count++;
        std::memcpy(q.data[i].data(), wire.data(), length);
        q.iov[i] = {q.data[i].data(), length};
        q.to[i] = {};
        q.to[i].sin6_family = AF_INET6;
        std::memcpy(&q.to[i].sin6_addr, destination.data(), 16);
        msghdr& h = q.headers[i].msg_hdr;
        point_header(h, &q.to[i], &q.iov[i], q.control[i].bytes, sizeof q.control[i].bytes);
        write_pktinfo(CMSG_FIRSTHDR(&h), source, 0);
        PMIP_DEBUG(kMh, "[lma mh peer=" + pmip::to_string(destination) + "]",
                   "queued " + std::string(mh::message_kind(message)) + " (" +
                       std::to_string(length) + " octets)");
        if (q.count == kBatch)
            flush_sends();
        return;
    }
    if (send_from(mh_fd_, source, destination, std::span(wire.data(), length))) {
        ++counters_.tx_packets;
        PMIP_DEBUG(kMh, "[lma mh peer=" + pmip::to_string(destination) + "]",
                   "sent " + std::string(mh::message_kind(message)) + " (" +
                       std::to_string(length) + " octets)");
    } else {
        ++counters_.tx_errors;
    }
}

// The queued messages in sendmmsg() calls. A message the kernel refuses is
// counted (tx_errors) and named in a rate-limited warning; the rest still go.
void MhSocket::flush_sends() {
    if (!send_queue_ || send_queue_->count == 0)
        return;
    SendQueue& q = *send_queue_;
    std::size_t i = 0;
    while (i < q.count) {
        const int n = ::sendmmsg(mh_fd_, q.headers.data() + i, static_cast<unsigned>(q.count - i), 0);
        if (n < 0 && errno == EINTR)
            continue;
        ++counters_.tx_batches;
        if (n > 0) {
            counters_.tx_packets += static_cast<std::uint64_t>(n);
            i += static_cast<std::size_t>(n);
            continue;
        }
        // Message i failed (n < 0; n == 0 does not happen for a non-empty vector).
        ++counters_.tx_errors;
        if (send_problem_log().allow()) {
            Ipv6Address to{};
            std::memcpy(to.data(), &q.to[i].sin6_addr, 16);
            PMIP_WARNING(kMh, "[mh peer=" + pmip::to_string(to) + "]",
                         std::string("sendmmsg: ") + std::strerror(errno));
        }
        ++i;
    }
    q.count = 0;
}

void MhSocket::send_parameter_problem(const Ipv6Address& source, const Ipv6Address& destination,
                                      std::uint32_t pointer,
                                      std::span<const std::uint8_t> invoking_packet) {
    if (icmp_fd_ < 0) {
        ++counters_.icmp_unavailable;
        return;
    }
    // RFC 4443 section 3.4: type 4, code 0 (erroneous header field), pointer.
    std::vector<std::uint8_t> message(8);
    message[0] = ICMP6_PARAM_PROB;
    message[1] = ICMP6_PARAMPROB_HEADER;
    message[4] = static_cast<std::uint8_t>(pointer >> 24);
    message[5] = static_cast<std::uint8_t>(pointer >> 16);
    message[6] = static_cast<std::uint8_t>(pointer >> 8);
    message[7] = static_cast<std::uint8_t>(pointer);
    message.insert(message.end(), invoking_packet.begin(), invoking_packet.end());
    if (send_from(icmp_fd_, source, destination, message)) {
        ++counters_.icmp_sent;
    } else {
        ++counters_.icmp_errors;
    }
}

nlohmann::json MhSocket::counters() const {
    const auto& c = counters_;
    return nlohmann::json{{"rx_packets", c.rx_packets},
                          {"rx_batches", c.rx_batches},
                          {"rx_truncated", c.rx_truncated},
                          {"rx_no_pktinfo", c.rx_no_pktinfo},
                          {"rx_errors", c.rx_errors},
                          {"rx_queue_overflows", c.rx_queue_overflows},
                          {"rx_shed_stale", c.rx_shed_stale},
                          {"tx_packets", c.tx_packets},
                          {"tx_errors", c.tx_errors},
                          {"tx_serialize_errors", c.tx_serialize_errors},
                          {"tx_batches", c.tx_batches},
                          {"icmp_sent", c.icmp_sent},
                          {"icmp_errors", c.icmp_errors},
                          {"icmp_unavailable", c.icmp_unavailable}};
}

}  // namespace pmip
