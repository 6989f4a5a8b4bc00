// Raw ICMPv6 socket (and link-layer sender) for MLD on the downstreams, and the
// fake. See mld_socket.hpp.
#include <net/if.h>
#include <net/if_arp.h>
#include <sys/ioctl.h>
#include <netinet/icmp6.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstring>
#include <map>

#include "pmip/common/event_loop.hpp"
#include "pmip/common/raw_socket.hpp"
#include "pmip/common/fd.hpp"
#include "pmip/common/link_layer_sender.hpp"
#include "pmip/common/log.hpp"
#include "pmip/mcast/mld_codec.hpp"
#include "pmip/mcast/mld_socket.hpp"

namespace pmip::mcast {

using pmip::to_string;

namespace {

constexpr std::size_t kBufferSize = 65536;  // an MLDv2 Report can fill a jumbo MTU
constexpr std::size_t kControlSize =
    CMSG_SPACE(sizeof(in6_pktinfo)) + CMSG_SPACE(sizeof(int)) + CMSG_SPACE(256);

std::string if_label(int ifindex) {
    char name[IF_NAMESIZE] = {};
    if (::if_indextoname(static_cast<unsigned>(ifindex), name))
        return std::string(name) + " (ifindex " + std::to_string(ifindex) + ")";
    return "ifindex " + std::to_string(ifindex);
}

class KernelMldSocket final : public MldSocket {
  public:
    KernelMldSocket(EventLoop& loop, Fd fd, std::unique_ptr<LinkLayerSender> link_layer)
        : loop_(loop),
          fd_(std::move(fd)),
          buffer_(kBufferSize),
          // Hop Limit 1, Router Alert [RFC 3810 section 5; RFC 2711].
          transmitter_(std::move(link_layer),
                       [this](int ifindex, const Ipv6Address& source, const Ipv6Address& destination,
                              std::span<const std::uint8_t> icmp) {
                           // Explicit link-local source and interface [RFC 3810
                           // section 5.1.14]; Router Alert from IPV6_HOPOPTS.
                           return send_from(fd_.get(), source, destination, ifindex, icmp, 1, 0);
                       },
                       {1, true}) {}

    ~KernelMldSocket() override { loop_.remove_fd(fd_.get()); }

    Status watch() {
        return loop_.add_fd(fd_.get(), EPOLLIN, [this](std::uint32_t) { read(); });
    }

    Status join_router_groups(int ifindex) override {
        if (joined_.contains(ifindex))
            return {};
        for (const Ipv6Address* g : {&kAllMldv2Routers, &kAllRouters}) {
            if (Status s = membership(IPV6_JOIN_GROUP, ifindex, *g); !s) {
                if (g == &kAllRouters)
                    (void)membership(IPV6_LEAVE_GROUP, ifindex, kAllMldv2Routers);
                return s;
            }
        }
        joined_.insert(ifindex);
        ethernet_[ifindex] = has_ethernet_header(ifindex);  // looked up again for a reused ifindex
        return {};
    }

    void leave_router_groups(int ifindex) override {
        ethernet_.erase(ifindex);
        if (joined_.erase(ifindex) == 0)
            return;
        // ENODEV when the interface is already gone: nothing left to leave.
        for (const Ipv6Address* g : {&kAllMldv2Routers, &kAllRouters}) {
            if (Status s = membership(IPV6_LEAVE_GROUP, ifindex, *g);
                !s && s.error().code != ENODEV)
                PMIP_WARNING(kMld, "[mcast]", s.error().what);
        }
    }

    Status send(int ifindex, const Ipv6Address& source, const Ipv6Address& destination,
                std::span<const std::uint8_t> icmp) override {
        // Frames only on downstreams (the interfaces whose router groups are
        // joined) with an Ethernet header; the upstream and tunnels: raw socket.
        const auto downstream = ethernet_.find(ifindex);
        const bool ethernet = downstream != ethernet_.end() && downstream->second;
        Status st = transmitter_.send(ifindex, ethernet, source, destination, icmp);
        const Icmpv6TransmitterCounters& t = transmitter_.counters();
        counters_.sent_link_layer = t.link_layer_sent;
        counters_.send_errors_link_layer = t.link_layer_errors;
        counters_.sent_raw = t.raw_sent;
        counters_.send_errors_raw = t.raw_errors;
        if (!st.ok()) {
            ++counters_.send_errors;
            return Error{st.error().code, "MLD socket: " + st.error().what + " (" + if_label(ifindex) + ")"};
        }
        ++counters_.sent;
        return {};
    }

    void set_handler(Handler handler) override { handler_ = std::move(handler); }
    MldSocketCounters counters() const override { return counters_; }

  private:
    // ARPHRD_ETHER: the link has an Ethernet header (veth, bridge ports, tap,
    // Wi-Fi). Anything else, or a failed lookup, takes the raw socket.
    bool has_ethernet_header(int ifindex) const {
        ifreq request{};
        return ::if_indextoname(static_cast<unsigned>(ifindex), request.ifr_name) &&
               ::ioctl(fd_.get(), SIOCGIFHWADDR, &request) == 0 &&
               request.ifr_hwaddr.sa_family == ARPHRD_ETHER;
    }

    Status membership(int option, int ifindex, const Ipv6Address& group) {
        ipv6_mreq mreq{};
        std::memcpy(&mreq.ipv6mr_multiaddr, group.data(), 16);
        mreq.ipv6mr_interface = static_cast<unsigned>(ifindex);
        if (::setsockopt(fd_.get(), IPPROTO_IPV6, option, &mreq, sizeof mreq) != 0) {
            return Error::from_errno(
                std::string("MLD socket: ") +
                (option == IPV6_JOIN_GROUP ? "IPV6_JOIN_GROUP " : "IPV6_LEAVE_GROUP ") +
                to_string(group) + " on " + if_label(ifindex));
        }
        return {};
    }

    void read() {
        for (int i = 0; i < 64; ++i) {  // bounded: timers and other fds get their turn
            sockaddr_in6 from{};
            iovec iov{buffer_.data(), buffer_.size()};
            alignas(cmsghdr) std::uint8_t control[kControlSize];
            msghdr msg{};
            msg.msg_name = &from;
            msg.msg_namelen = sizeof from;
            msg.msg_iov = &iov;
            msg.msg_iovlen = 1;
            msg.msg_control = control;
            msg.msg_controllen = sizeof control;
            const ssize_t n = ::recvmsg(fd_.get(), &msg, MSG_DONTWAIT);
            if (n < 0) {
                if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
                    ++counters_.receive_errors;
                    PMIP_WARNING(kMld, "[mcast]",
                                 "recvmsg on the MLD socket: " + std::string(std::strerror(errno)));
                }
                return;
            }
            ++counters_.received;
            if (msg.msg_flags & MSG_TRUNC) {
                ++counters_.truncated;
                continue;
            }
            ReceivedMld m;
            bool have_info = false;
            for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
                if (c->cmsg_level != IPPROTO_IPV6)
                    continue;
                if (c->cmsg_type == IPV6_PKTINFO && c->cmsg_len >= CMSG_LEN(sizeof(in6_pktinfo))) {
                    in6_pktinfo info;
                    std::memcpy(&info, CMSG_DATA(c), sizeof info);
                    m.ifindex = info.ipi6_ifindex;
                    std::memcpy(m.destination.data(), &info.ipi6_addr, 16);
                    have_info = true;
                } else if (c->cmsg_type == IPV6_HOPLIMIT && c->cmsg_len >= CMSG_LEN(sizeof(int))) {
                    std::memcpy(&m.hop_limit, CMSG_DATA(c), sizeof(int));
                } else if (c->cmsg_type == IPV6_HOPOPTS) {
                    const std::size_t len = c->cmsg_len - CMSG_LEN(0);
                    m.router_alert = has_mld_router_alert({CMSG_DATA(c), len});
                }
            }
            if (!have_info) {
                ++counters_.no_pktinfo;
                continue;
            }
            std::memcpy(m.source.data(), &from.sin6_addr, 16);
            m.icmp.assign(buffer_.begin(), buffer_.begin() + n);
            if (handler_)
                handler_(m);
        }
    }

    EventLoop& loop_;
    Fd fd_;
    std::vector<std::uint8_t> buffer_;
    std::set<int> joined_;
    std::map<int, bool> ethernet_;  // joined downstreams: has an Ethernet header
    Icmpv6Transmitter transmitter_;
    Handler handler_;
    MldSocketCounters counters_;
};

}  // namespace

Expected<std::unique_ptr<MldSocket>> make_kernel_mld_socket(EventLoop& loop) {
    Fd fd(::socket(AF_INET6, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_ICMPV6));
    if (!fd.valid())
        return Error::from_errno("MLD socket: socket(AF_INET6, SOCK_RAW, IPPROTO_ICMPV6)");
    auto option = [&](int level, int name, const void* value, socklen_t size,
                      const char* what) -> Status {
        if (::setsockopt(fd.get(), level, name, value, size) != 0)
            return Error::from_errno(std::string("MLD socket: ") + what);
        return {};
    };
    // Only MLD [RFC 2710 section 3; RFC 3810 section 5].
    icmp6_filter filter;
    ICMP6_FILTER_SETBLOCKALL(&filter);
    for (std::uint8_t t : {kTypeQuery, kTypeV1Report, kTypeV1Done, kTypeV2Report})
        ICMP6_FILTER_SETPASS(t, &filter);
    const int on = 1;
    const int hops = 1;
    // Router Alert on everything we send [RFC 3810 section 5; RFC 2711].
    const auto hbh = kRouterAlertHopByHop;
    for (Status s :
         {option(IPPROTO_ICMPV6, ICMP6_FILTER, &filter, sizeof filter, "ICMP6_FILTER"),
          option(IPPROTO_IPV6, IPV6_RECVPKTINFO, &on, sizeof on, "IPV6_RECVPKTINFO"),
          option(IPPROTO_IPV6, IPV6_RECVHOPLIMIT, &on, sizeof on, "IPV6_RECVHOPLIMIT"),
          option(IPPROTO_IPV6, IPV6_RECVHOPOPTS, &on, sizeof on, "IPV6_RECVHOPOPTS"),
          option(IPPROTO_IPV6, IPV6_MULTICAST_HOPS, &hops, sizeof hops, "IPV6_MULTICAST_HOPS"),
          option(IPPROTO_IPV6, IPV6_UNICAST_HOPS, &hops, sizeof hops, "IPV6_UNICAST_HOPS"),
          option(IPPROTO_IPV6, IPV6_HOPOPTS, hbh.data(), hbh.size(),
                 "IPV6_HOPOPTS (Router Alert)")}) {
        if (!s)
            return s.error();
    }
    auto link_layer = make_packet_socket_sender();
    if (!link_layer)
        return Error{link_layer.error().code, "MLD socket: " + link_layer.error().what};
    auto socket = std::make_unique<KernelMldSocket>(loop, std::move(fd), std::move(*link_layer));
    if (Status s = socket->watch(); !s)
        return Error{s.error().code, "MLD socket: watching the socket: " + s.error().what};
    return std::unique_ptr<MldSocket>(std::move(socket));
}

// --- fake --------------------------------------------------------------------

Status FakeMldSocket::join_router_groups(int ifindex) {
    joined.insert(ifindex);
    return {};
}

Status FakeMldSocket::send(int ifindex, const Ipv6Address& source, const Ipv6Address& destination,
                           std::span<const std::uint8_t> icmp) {
    if (fail_send) {
        ++counters_.send_errors;
        return *fail_send;
    }
    ++counters_.sent;
    sent.push_back({ifindex, source, destination, {icmp.begin(), icmp.end()}});
    return {};
}

}  // namespace pmip::mcast
