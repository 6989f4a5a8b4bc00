// AF_PACKET solicitation capture and RA sending (link layer or raw ICMPv6). See access_io.hpp.
#include "access_io.hpp"

#include <arpa/inet.h>
#include <linux/filter.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <netinet/icmp6.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cstring>

#include "pmip/common/raw_socket.hpp"

namespace pmip::mag {

namespace {

// Offsets in the IPv6 packet (SOCK_DGRAM: the frame starts at the IPv6 header).
constexpr std::uint32_t kNextHeader = 6;
constexpr std::uint32_t kSource = 8;
constexpr std::uint32_t kIcmpType = 40;

constexpr std::uint8_t kRaHopLimit = 255;  // RFC 4861 section 6.1.2

// Pass RS (133), and NS (135) from the unspecified source (DAD), both with
// no extension headers (RFC 4861 messages carry none in practice).
const sock_filter kFilter[] = {
    BPF_STMT(BPF_LD | BPF_B | BPF_ABS, kNextHeader),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, IPPROTO_ICMPV6, 0, 12),
    BPF_STMT(BPF_LD | BPF_B | BPF_ABS, kIcmpType),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ND_ROUTER_SOLICIT, 9, 0),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ND_NEIGHBOR_SOLICIT, 0, 9),
    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, kSource),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0, 0, 7),
    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, kSource + 4),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0, 0, 5),
    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, kSource + 8),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0, 0, 3),
    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, kSource + 12),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0, 0, 1),
    BPF_STMT(BPF_RET | BPF_K, 128),  // accept (the first 128 octets are enough)
    BPF_STMT(BPF_RET | BPF_K, 0),    // drop
};

}  // namespace

Expected<std::unique_ptr<SolicitationSocket>> SolicitationSocket::open(EventLoop& loop,
                                                                      Handler handler) {
    Fd fd(::socket(AF_PACKET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, htons(ETH_P_IPV6)));
    if (!fd.valid())
        return Error::from_errno("solicitation capture: AF_PACKET socket (needs CAP_NET_RAW)");
    sock_fprog program{static_cast<unsigned short>(std::size(kFilter)),
                       const_cast<sock_filter*>(kFilter)};
    if (::setsockopt(fd.get(), SOL_SOCKET, SO_ATTACH_FILTER, &program, sizeof program) != 0)
        return Error::from_errno("solicitation capture: attaching the BPF filter");
    std::unique_ptr<SolicitationSocket> s(new SolicitationSocket(loop, std::move(fd), std::move(handler)));
    if (Status st = loop.add_fd(s->fd_.get(), EPOLLIN, [p = s.get()](std::uint32_t) { p->on_readable(); });
        !st.ok()) {
        return st.error();
    }
    return s;
}

SolicitationSocket::SolicitationSocket(EventLoop& loop, Fd fd, Handler handler)
    : loop_(loop), fd_(std::move(fd)), handler_(std::move(handler)) {}

SolicitationSocket::~SolicitationSocket() {
    if (fd_.valid())
        loop_.remove_fd(fd_.get());
}

void SolicitationSocket::on_readable() {
    std::array<std::uint8_t, 256> buffer;
    for (int i = 0; i < 64; ++i) {  // bounded per wake-up; level-triggered
        sockaddr_ll from{};
        socklen_t from_len = sizeof from;
        const ssize_t n = ::recvfrom(fd_.get(), buffer.data(), buffer.size(), MSG_TRUNC,
                                     reinterpret_cast<sockaddr*>(&from), &from_len);
        if (n < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
                ++counters_.rx_errors;
            return;
        }
        ++counters_.rx_frames;
        if (from.sll_pkttype == PACKET_OUTGOING) {
            ++counters_.rx_outgoing;
            continue;
        }
        if (n < 48 || from.sll_halen != 6) {
            ++counters_.rx_short;
            continue;
        }
        const auto kind = buffer[kIcmpType] == ND_ROUTER_SOLICIT
                              ? SolicitationKind::kRouterSolicitation
                              : SolicitationKind::kDadNeighborSolicitation;
        ++(kind == SolicitationKind::kRouterSolicitation ? counters_.rx_rs : counters_.rx_dad_ns);
        if (handler_)
            handler_(from.sll_ifindex, std::string(reinterpret_cast<const char*>(from.sll_addr), 6), kind);
    }
}

nlohmann::json SolicitationSocket::counters() const {
    return {{"rx_frames", counters_.rx_frames}, {"rx_rs", counters_.rx_rs},
            {"rx_dad_ns", counters_.rx_dad_ns}, {"rx_short", counters_.rx_short},
            {"rx_outgoing", counters_.rx_outgoing}, {"rx_errors", counters_.rx_errors}};
}

Expected<std::unique_ptr<RaSocket>> RaSocket::open() {
    Fd fd(::socket(AF_INET6, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_ICMPV6));
    if (!fd.valid())
        return Error::from_errno("RA socket: raw ICMPv6 socket (needs CAP_NET_RAW)");
    icmp6_filter filter;
    ICMP6_FILTER_SETBLOCKALL(&filter);
    if (::setsockopt(fd.get(), IPPROTO_ICMPV6, ICMP6_FILTER, &filter, sizeof filter) != 0)
        return Error::from_errno("RA socket: ICMP6_FILTER");
    const int hops = kRaHopLimit;
    if (::setsockopt(fd.get(), IPPROTO_IPV6, IPV6_MULTICAST_HOPS, &hops, sizeof hops) != 0 ||
        ::setsockopt(fd.get(), IPPROTO_IPV6, IPV6_UNICAST_HOPS, &hops, sizeof hops) != 0) {
        return Error::from_errno("RA socket: hop limit 255");
    }
    const int loop = 0;
    (void)::setsockopt(fd.get(), IPPROTO_IPV6, IPV6_MULTICAST_LOOP, &loop, sizeof loop);
    auto link_layer = make_packet_socket_sender();
    if (!link_layer)
        return Error{link_layer.error().code, "RA socket: " + link_layer.error().what};
    const int raw_fd = fd.get();
    auto socket = std::make_unique<RaSocket>(
        std::move(*link_layer),
        [raw_fd](int ifindex, const Ipv6Address& source, const Ipv6Address& destination,
                 std::span<const std::uint8_t> icmp) {
            // Hop Limit 255 from the socket options.
            return send_from(raw_fd, source, destination, ifindex, icmp);
        });
    socket->raw_fd_ = std::move(fd);
    return socket;
}

RaSocket::RaSocket(std::unique_ptr<LinkLayerSender> link_layer, Icmpv6Transmitter::RawSend raw)
    : transmitter_(std::move(link_layer), std::move(raw), {kRaHopLimit, false}) {}

Status RaSocket::send(int ifindex, bool ethernet, const Ipv6Address& source,
                      const Ipv6Address& destination, std::span<const std::uint8_t> icmp) {
    if (Status st = transmitter_.send(ifindex, ethernet, source, destination, icmp); !st.ok())
        return Error{st.error().code, "sending a Router Advertisement: " + st.error().what};
    return {};
}

nlohmann::json RaSocket::counters() const {
    const Icmpv6TransmitterCounters& c = transmitter_.counters();
    return {{"ra_sent", c.link_layer_sent + c.raw_sent},
            {"ra_errors", c.link_layer_errors + c.raw_errors},
            {"ra_sent_link_layer", c.link_layer_sent},
            {"ra_errors_link_layer", c.link_layer_errors},
            {"ra_sent_raw", c.raw_sent},
            {"ra_errors_raw", c.raw_errors}};
}

}  // namespace pmip::mag
