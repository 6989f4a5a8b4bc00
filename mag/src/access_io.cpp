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
#include <chrono>
#include <cstring>

#include "pmip/common/raw_socket.hpp"
#include "pmip/mcast/mld_codec.hpp"

namespace pmip::mag {

namespace {

// Offsets in the IPv6 packet (SOCK_DGRAM: the frame starts at the IPv6 header).
constexpr std::uint32_t kNextHeader = 6;
constexpr std::uint32_t kSource = 8;
constexpr std::uint32_t kIcmpType = 40;         // ICMPv6 right after the IPv6 header
constexpr std::uint32_t kHopByHopNext = 40;     // Hop-by-Hop header's Next Header
constexpr std::uint32_t kHopByHopLength = 41;   // its Hdr Ext Len (0: 8 octets)
constexpr std::uint32_t kIcmpTypeAfterHbh = 48;

constexpr std::uint8_t kRaHopLimit = 255;  // RFC 4861 section 6.1.2
constexpr std::uint8_t kMldHopLimit = 1;   // RFC 3810 section 5

constexpr std::uint8_t kMldv1Report = 131, kMldv1Done = 132, kMldv2Report = 143;

// Instruction indices of the filter below, for its jump offsets.
enum : std::uint8_t {
    kNd = 11,         // ICMPv6 without extension headers: RS / DAD NS
    kAcceptNd = 22,
    kAcceptMld = 23,
    kDrop = 24,
};
// Offset of a jump at `from` to `to` (classic BPF jumps are relative and
// only go forward).
consteval std::uint8_t to(std::uint8_t from, std::uint8_t target) {
    if (target <= from)
        throw "classic BPF jumps only go forward";
    return static_cast<std::uint8_t>(target - from - 1);
}

// Pass RS (133), NS (135) from the unspecified source (DAD), both with no
// extension headers (RFC 4861 messages carry none in practice), and MLD
// listener messages after the one 8-octet Hop-by-Hop header with Router
// Alert that hosts send them with (RFC 3810 section 5; the proxy checks the
// option itself).
constexpr sock_filter kFilter[] = {
    /* 0 */ BPF_STMT(BPF_LD | BPF_B | BPF_ABS, kNextHeader),
    /* 1 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0 /* Hop-by-Hop */, to(1, 3), to(1, 2)),
    /* 2 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, IPPROTO_ICMPV6, to(2, kNd), to(2, kDrop)),
    /* 3 */ BPF_STMT(BPF_LD | BPF_B | BPF_ABS, kHopByHopNext),
    /* 4 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, IPPROTO_ICMPV6, to(4, 5), to(4, kDrop)),
    /* 5 */ BPF_STMT(BPF_LD | BPF_B | BPF_ABS, kHopByHopLength),
    /* 6 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0, to(6, 7), to(6, kDrop)),
    /* 7 */ BPF_STMT(BPF_LD | BPF_B | BPF_ABS, kIcmpTypeAfterHbh),
    /* 8 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, kMldv2Report, to(8, kAcceptMld), to(8, 9)),
    /* 9 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, kMldv1Report, to(9, kAcceptMld), to(9, 10)),
    /* 10 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, kMldv1Done, to(10, kAcceptMld), to(10, kDrop)),
    /* 11 = kNd */ BPF_STMT(BPF_LD | BPF_B | BPF_ABS, kIcmpType),
    /* 12 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ND_ROUTER_SOLICIT, to(12, kAcceptNd), to(12, 13)),
    /* 13 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ND_NEIGHBOR_SOLICIT, to(13, 14), to(13, kDrop)),
    /* 14 */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, kSource),
    /* 15 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0, to(15, 16), to(15, kDrop)),
    /* 16 */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, kSource + 4),
    /* 17 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0, to(17, 18), to(17, kDrop)),
    /* 18 */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, kSource + 8),
    /* 19 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0, to(19, 20), to(19, kDrop)),
    /* 20 */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, kSource + 12),
    /* 21 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0, to(21, kAcceptNd), to(21, kDrop)),
    /* 22 = kAcceptNd */ BPF_STMT(BPF_RET | BPF_K, 128),  // the first 128 octets are enough
    /* 23 = kAcceptMld */ BPF_STMT(BPF_RET | BPF_K, 0xffffffff),  // the whole packet
    /* 24 = kDrop */ BPF_STMT(BPF_RET | BPF_K, 0),
};
static_assert(std::size(kFilter) == kDrop + 1);

// Largest packet read: an IPv6 packet without jumbogram fits.
constexpr std::size_t kBufferSize = 65575;

// 33:33:00:00:00:16, the MAC of ff02::16 (MLDv2 Reports) [RFC 2464 section 7].
constexpr std::uint8_t kAllMldv2RoutersMac[] = {0x33, 0x33, 0x00, 0x00, 0x00, 0x16};

}  // namespace

std::vector<sock_filter> solicitation_filter(bool solicitations, bool mld) {
    std::vector<sock_filter> program(std::begin(kFilter), std::end(kFilter));
    if (!mld)
        program[1].jt = to(1, kDrop);  // a Hop-by-Hop header: drop
    if (!solicitations)
        program[2].jt = to(2, kDrop);  // ICMPv6 without extension headers: drop
    return program;
}

Expected<std::unique_ptr<SolicitationSocket>> SolicitationSocket::open(EventLoop& loop,
                                                                      Handler handler,
                                                                      MldHandler mld_handler) {
    Fd fd(::socket(AF_PACKET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, htons(ETH_P_IPV6)));
    if (!fd.valid())
        return Error::from_errno("solicitation capture: AF_PACKET socket (needs CAP_NET_RAW)");
    std::vector<sock_filter> filter =
        solicitation_filter(static_cast<bool>(handler), static_cast<bool>(mld_handler));
    sock_fprog program{static_cast<unsigned short>(filter.size()), filter.data()};
    if (::setsockopt(fd.get(), SOL_SOCKET, SO_ATTACH_FILTER, &program, sizeof program) != 0)
        return Error::from_errno("solicitation capture: attaching the BPF filter");
    // The kernel's receive time of each frame: magd compares an MLD
    // message's with the moment a proxy's socket started listening.
    const int on = 1;
    if (mld_handler && ::setsockopt(fd.get(), SOL_SOCKET, SO_TIMESTAMPNS, &on, sizeof on) != 0)
        return Error::from_errno("solicitation capture: SO_TIMESTAMPNS");
    std::unique_ptr<SolicitationSocket> s(new SolicitationSocket(
        loop, std::move(fd), std::move(handler), std::move(mld_handler)));
    if (Status st = loop.add_fd(s->fd_.get(), EPOLLIN, [p = s.get()](std::uint32_t) { p->on_readable(); });
        !st.ok()) {
        return st.error();
    }
    return s;
}

SolicitationSocket::SolicitationSocket(EventLoop& loop, Fd fd, Handler handler,
                                       MldHandler mld_handler)
    : loop_(loop),
      fd_(std::move(fd)),
      handler_(std::move(handler)),
      mld_handler_(std::move(mld_handler)),
      buffer_(kBufferSize) {}

SolicitationSocket::~SolicitationSocket() {
    if (fd_.valid())
        loop_.remove_fd(fd_.get());
}

Status SolicitationSocket::listen_mld(int ifindex) {
    packet_mreq mreq{};
    mreq.mr_ifindex = ifindex;
    mreq.mr_type = PACKET_MR_MULTICAST;
    mreq.mr_alen = sizeof kAllMldv2RoutersMac;
    std::memcpy(mreq.mr_address, kAllMldv2RoutersMac, sizeof kAllMldv2RoutersMac);
    if (::setsockopt(fd_.get(), SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mreq, sizeof mreq) != 0) {
        return Error::from_errno("MLD capture: receiving 33:33:00:00:00:16 on ifindex " +
                                 std::to_string(ifindex));
    }
    return {};
}

void SolicitationSocket::drain() {
    on_readable(4096);
}

void SolicitationSocket::on_readable(int budget) {
    for (int i = 0; i < budget; ++i) {  // bounded per wake-up; level-triggered
        sockaddr_ll from{};
        iovec iov{buffer_.data(), buffer_.size()};
        alignas(cmsghdr) std::array<char, CMSG_SPACE(sizeof(timespec))> control{};
        msghdr msg{};
        msg.msg_name = &from;
        msg.msg_namelen = sizeof from;
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.data();
        msg.msg_controllen = control.size();
        const ssize_t n = ::recvmsg(fd_.get(), &msg, MSG_TRUNC);
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
        if (static_cast<std::size_t>(n) > buffer_.size()) {
            ++counters_.rx_truncated;
            continue;
        }
        if (n < 48) {
            ++counters_.rx_short;
            continue;
        }
        if (buffer_[kNextHeader] == 0) {  // the filter passes MLD only after Hop-by-Hop
            ++counters_.rx_mld;
            if (mld_handler_) {
                std::optional<std::chrono::system_clock::time_point> at;
                for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
                    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS &&
                        c->cmsg_len >= CMSG_LEN(sizeof(timespec)) && (msg.msg_flags & MSG_CTRUNC) == 0) {
                        timespec ts{};
                        std::memcpy(&ts, CMSG_DATA(c), sizeof ts);
                        at = std::chrono::system_clock::time_point(
                            std::chrono::duration_cast<std::chrono::system_clock::duration>(
                                std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec)));
                    }
                }
                mld_handler_(from.sll_ifindex,
                             std::span<const std::uint8_t>(buffer_.data(), static_cast<std::size_t>(n)),
                             at);
            }
            continue;
        }
        if (from.sll_halen != 6) {
            ++counters_.rx_short;
            continue;
        }
        const auto kind = buffer_[kIcmpType] == ND_ROUTER_SOLICIT
                              ? SolicitationKind::kRouterSolicitation
                              : SolicitationKind::kDadNeighborSolicitation;
        ++(kind == SolicitationKind::kRouterSolicitation ? counters_.rx_rs : counters_.rx_dad_ns);
        if (handler_)
            handler_(from.sll_ifindex, std::string(reinterpret_cast<const char*>(from.sll_addr), 6), kind);
    }
}

nlohmann::json SolicitationSocket::counters() const {
    return {{"rx_frames", counters_.rx_frames}, {"rx_rs", counters_.rx_rs},
            {"rx_dad_ns", counters_.rx_dad_ns}, {"rx_mld", counters_.rx_mld},
            {"rx_short", counters_.rx_short}, {"rx_truncated", counters_.rx_truncated},
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

Expected<std::unique_ptr<MldQuerySender>> MldQuerySender::open() {
    auto link_layer = make_packet_socket_sender();
    if (!link_layer)
        return Error{link_layer.error().code, "MLD query sender: " + link_layer.error().what};
    return std::make_unique<MldQuerySender>(std::move(*link_layer));
}

MldQuerySender::MldQuerySender(std::unique_ptr<LinkLayerSender> link_layer)
    : transmitter_(std::move(link_layer), {}, {kMldHopLimit, true}) {}

Status MldQuerySender::send_general_query(int ifindex, const Ipv6Address& source,
                                          std::span<const std::uint8_t> icmp) {
    if (Status st = transmitter_.send(ifindex, true, source, mcast::kAllNodes, icmp); !st.ok())
        return Error{st.error().code, "sending the early General Query: " + st.error().what};
    return {};
}

nlohmann::json MldQuerySender::counters() const {
    const Icmpv6TransmitterCounters& c = transmitter_.counters();
    return {{"early_queries_sent", c.link_layer_sent}, {"early_query_errors", c.link_layer_errors}};
}

}  // namespace pmip::mag
