// MRT6 socket of one ip6mr table, and the fake. See multicast_router.hpp.
#include <linux/mroute6.h>
#include <netinet/icmp6.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <cstring>

#include "pmip/common/event_loop.hpp"
#include "pmip/common/fd.hpp"
#include "pmip/common/log.hpp"
#include "pmip/mcast/multicast_router.hpp"

namespace pmip::mcast {

using pmip::to_string;

namespace {

static_assert(sizeof(mrt6msg) == 40);
static_assert(MAXMIFS == kMaxMifs);

sockaddr_in6 socket_address(const Ipv6Address& a) {
    sockaddr_in6 sa{};
    sa.sin6_family = AF_INET6;
    std::memcpy(&sa.sin6_addr, a.data(), 16);
    return sa;
}

std::string sg(const Ipv6Address& s, const Ipv6Address& g) {
    return "(" + to_string(s) + ", " + to_string(g) + ")";
}

class KernelMulticastRouter final : public MulticastRouter {
  public:
    KernelMulticastRouter(EventLoop& loop, Fd fd, std::uint32_t table)
        : loop_(loop), fd_(std::move(fd)), table_(table) {}

    ~KernelMulticastRouter() override {
        loop_.remove_fd(fd_.get());
        // Closing the socket is MRT6_DONE: the kernel drops the table's MIFs
        // and non-static entries (mroute_clean_tables) and decrements
        // mc_forwarding.
    }

    Status watch() {
        return loop_.add_fd(fd_.get(), EPOLLIN, [this](std::uint32_t) { read_upcalls(); });
    }

    std::uint32_t table() const override { return table_; }
    const char* backend() const override { return "kernel"; }
    std::size_t max_mifs() const override { return kMaxMifs; }
    bool needs_ip6mr_rules() const override { return true; }

    Status add_mif(MifIndex mif, int ifindex, const std::string& name) override {
        if (ifindex <= 0 || ifindex > 0xffff) {
            return fail("MRT6_ADD_MIF " + std::to_string(mif) + " (" + name + ", ifindex " +
                            std::to_string(ifindex) + "): ifindex does not fit mif6c_pifi",
                        EINVAL);
        }
        mif6ctl c{};
        c.mif6c_mifi = mif;
        c.mif6c_flags = 0;
        c.vifc_threshold = 1;
        c.mif6c_pifi = static_cast<std::uint16_t>(ifindex);
        c.vifc_rate_limit = 0;
        if (::setsockopt(fd_.get(), IPPROTO_IPV6, MRT6_ADD_MIF, &c, sizeof c) != 0) {
            return fail("MRT6_ADD_MIF " + std::to_string(mif) + " (" + name + ", ifindex " +
                            std::to_string(ifindex) + ")",
                        errno);
        }
        return {};
    }

    Status delete_mif(MifIndex mif) override {
        mifi_t m = mif;
        if (::setsockopt(fd_.get(), IPPROTO_IPV6, MRT6_DEL_MIF, &m, sizeof m) != 0)
            return fail("MRT6_DEL_MIF " + std::to_string(mif), errno);
        return {};
    }

    Status add_mfc(const Ipv6Address& source, const Ipv6Address& group, MifIndex parent,
                   const MifSet& outputs) override {
        mf6cctl c{};
        c.mf6cc_origin = socket_address(source);
        c.mf6cc_mcastgrp = socket_address(group);
        c.mf6cc_parent = parent;
        std::memset(&c.mf6cc_ifset, 0, sizeof c.mf6cc_ifset);
        bool fits = true;
        outputs.for_each([&](MifIndex m) {
            if (m < IF_SETSIZE)
                IF_SET(m, &c.mf6cc_ifset);
            else
                fits = false;
        });
        if (!fits)
            return fail("MRT6_ADD_MFC " + sg(source, group) + ": output MIF >= 256", EINVAL);
        if (::setsockopt(fd_.get(), IPPROTO_IPV6, MRT6_ADD_MFC, &c, sizeof c) != 0)
            return fail("MRT6_ADD_MFC " + sg(source, group), errno);
        return {};
    }

    Status delete_mfc(const Ipv6Address& source, const Ipv6Address& group) override {
        mf6cctl c{};
        c.mf6cc_origin = socket_address(source);
        c.mf6cc_mcastgrp = socket_address(group);
        if (::setsockopt(fd_.get(), IPPROTO_IPV6, MRT6_DEL_MFC, &c, sizeof c) != 0 &&
            errno != ENOENT) {
            return fail("MRT6_DEL_MFC " + sg(source, group), errno);
        }
        return {};
    }

    std::optional<MfcCounters> counters(const Ipv6Address& source,
                                        const Ipv6Address& group) override {
        sioc_sg_req6 req{};
        req.src = socket_address(source);
        req.grp = socket_address(group);
        if (::ioctl(fd_.get(), SIOCGETSGCNT_IN6, &req) != 0)
            return std::nullopt;
        // ip6_mr_forward counts a packet in pktcnt before its wrong-interface
        // check: packets here are those that arrived on the parent, as the
        // ebpf backend counts them (bytes still include the others).
        const std::uint64_t on_parent = req.pktcnt >= req.wrong_if ? req.pktcnt - req.wrong_if : 0;
        return MfcCounters{on_parent, req.bytecnt, req.wrong_if};
    }

    void set_upcall_handler(UpcallHandler handler) override { handler_ = std::move(handler); }

  private:
    Error fail(const std::string& what, int code) {
        return Error::from_errno("MRT6 table " + std::to_string(table_) + ": " + what, code);
    }

    // struct mrt6msg at offset 0 (checked on this kernel: 40 octets of header,
    // followed by a copy of the IPv6 header area).
    void read_upcalls() {
        for (int i = 0; i < 64; ++i) {
            alignas(8) std::uint8_t buffer[256];
            const ssize_t n = ::recv(fd_.get(), buffer, sizeof buffer, MSG_DONTWAIT);
            if (n < 0) {
                if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
                    PMIP_WARNING(kMld, "[mcast table=" + std::to_string(table_) + "]",
                                 "recv on the MRT6 socket: " + std::string(std::strerror(errno)));
                return;
            }
            if (static_cast<std::size_t>(n) < sizeof(mrt6msg) || buffer[0] != 0)
                continue;  // not an upcall (im6_mbz must be zero)
            mrt6msg msg;
            std::memcpy(&msg, buffer, sizeof msg);
            Upcall u;
            u.type = msg.im6_msgtype;
            u.mif = msg.im6_mif;
            std::memcpy(u.source.data(), &msg.im6_src, 16);
            std::memcpy(u.group.data(), &msg.im6_dst, 16);
            if (handler_)
                handler_(u);
        }
    }

    EventLoop& loop_;
    Fd fd_;
    std::uint32_t table_;
    UpcallHandler handler_;
};

}  // namespace

std::optional<std::string> ip6mr_unavailable_reason() {
    Fd fd(::socket(AF_INET6, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_ICMPV6));
    if (!fd.valid())
        return "cannot probe IPv6 multicast routing: socket(AF_INET6, SOCK_RAW, IPPROTO_ICMPV6): " +
               std::string(std::strerror(errno));
    int version = 0;
    socklen_t length = sizeof version;
    if (::getsockopt(fd.get(), IPPROTO_IPV6, MRT6_VERSION, &version, &length) == 0)
        return std::nullopt;
    const int code = errno;
    if (code == ENOPROTOOPT)
        return "kernel without IPv6 multicast routing (CONFIG_IPV6_MROUTE): MRT6_VERSION: " +
               std::string(std::strerror(code));
    // ENOENT: no default table yet, still ip6mr; anything else is a surprise
    // worth naming but not proof that ip6mr is missing.
    if (code == ENOENT)
        return std::nullopt;
    return "IPv6 multicast routing probe: MRT6_VERSION: " + std::string(std::strerror(code));
}

Expected<std::unique_ptr<MulticastRouter>> make_kernel_multicast_router(EventLoop& loop,
                                                                        std::uint32_t table) {
    const std::string where = "MRT6 table " + std::to_string(table) + ": ";
    if (auto reason = ip6mr_unavailable_reason())
        return Error{ENOPROTOOPT, where + *reason};
    Fd fd(::socket(AF_INET6, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_ICMPV6));
    if (!fd.valid())
        return Error::from_errno(where + "socket(AF_INET6, SOCK_RAW, IPPROTO_ICMPV6)");
    // Upcalls bypass ICMP6_FILTER; nothing else should be read here.
    icmp6_filter filter;
    ICMP6_FILTER_SETBLOCKALL(&filter);
    if (::setsockopt(fd.get(), IPPROTO_ICMPV6, ICMP6_FILTER, &filter, sizeof filter) != 0)
        return Error::from_errno(where + "ICMP6_FILTER");
    // The table must be chosen before MRT6_INIT binds the socket to it.
    const std::uint32_t t = table;
    if (::setsockopt(fd.get(), IPPROTO_IPV6, MRT6_TABLE, &t, sizeof t) != 0) {
        return Error::from_errno(where +
                                 "MRT6_TABLE (kernel without CONFIG_IPV6_MROUTE_MULTIPLE_TABLES?)");
    }
    const int one = 1;
    if (::setsockopt(fd.get(), IPPROTO_IPV6, MRT6_INIT, &one, sizeof one) != 0) {
        return Error::from_errno(where + (errno == EADDRINUSE
                                              ? "MRT6_INIT (another socket owns this table)"
                                              : "MRT6_INIT"));
    }
    auto router = std::make_unique<KernelMulticastRouter>(loop, std::move(fd), table);
    if (Status s = router->watch(); !s)
        return Error{s.error().code, where + "watching the socket: " + s.error().what};
    return std::unique_ptr<MulticastRouter>(std::move(router));
}

Status MulticastRouter::add_group_entry(const Ipv6Address& group, MifIndex, const MifSet&) {
    return Error{EOPNOTSUPP, std::string(backend()) + " multicast forwarding: no (*," +
                                 to_string(group) + ") entries"};
}

Status MulticastRouter::delete_group_entry(const Ipv6Address& group) {
    return Error{EOPNOTSUPP, std::string(backend()) + " multicast forwarding: no (*," +
                                 to_string(group) + ") entries"};
}

// --- fake --------------------------------------------------------------------

Status FakeMulticastRouter::add_group_entry(const Ipv6Address& group, MifIndex parent,
                                            const MifSet& outputs) {
    if (!group_entries_supported)
        return MulticastRouter::add_group_entry(group, parent, outputs);
    if (fail_with)
        return *fail_with;
    if (!mif_set.contains(parent) || !outputs.is_subset_of(mif_set))
        return Error{ENFILE, "fake router: (*,G) with an absent MIF"};
    MfcEntry& e = group_entries[group];
    e.group = group;
    e.parent = parent;
    e.outputs = outputs;
    return {};
}

Status FakeMulticastRouter::delete_group_entry(const Ipv6Address& group) {
    if (!group_entries_supported)
        return MulticastRouter::delete_group_entry(group);
    if (fail_with)
        return *fail_with;
    group_entries.erase(group);
    return {};
}

Status FakeMulticastRouter::add_mif(MifIndex mif, int ifindex, const std::string& name) {
    if (fail_with)
        return *fail_with;
    if (mifs.contains(mif))
        return Error{EADDRINUSE,
                     "fake MRT6: MIF " + std::to_string(mif) + " (" + name + ") in use"};
    mifs[mif] = ifindex;
    mif_set.insert(mif);
    return {};
}

Status FakeMulticastRouter::delete_mif(MifIndex mif) {
    if (fail_with)
        return *fail_with;
    if (mifs.erase(mif) == 0)
        return Error{EADDRNOTAVAIL, "fake MRT6: no MIF " + std::to_string(mif)};
    mif_set.erase(mif);
    return {};
}

Status FakeMulticastRouter::add_mfc(const Ipv6Address& source, const Ipv6Address& group,
                                    MifIndex parent, const MifSet& outputs) {
    if (fail_with)
        return *fail_with;
    if (!mif_set.contains(parent))
        return Error{ENFILE, "fake MRT6: parent MIF " + std::to_string(parent) + " absent"};
    if (!outputs.is_subset_of(mif_set))
        return Error{ENFILE, "fake MRT6: an output MIF is absent"};
    ++mfc_adds;
    const auto key = std::make_pair(source, group);
    const auto [it, inserted] = entries.try_emplace(key);
    if (inserted) {
        it->second.source = source;
        it->second.group = group;
        entry_counters.try_emplace(key);
    }
    it->second.parent = parent;
    it->second.outputs = outputs;  // reuses the held storage
    return {};
}

Status FakeMulticastRouter::delete_mfc(const Ipv6Address& source, const Ipv6Address& group) {
    if (fail_with)
        return *fail_with;
    ++mfc_deletes;
    entries.erase({source, group});
    entry_counters.erase({source, group});
    return {};
}

std::optional<MfcCounters> FakeMulticastRouter::counters(const Ipv6Address& source,
                                                         const Ipv6Address& group) {
    const auto it = entry_counters.find({source, group});
    if (it == entry_counters.end())
        return std::nullopt;
    return it->second;
}

void FakeMulticastRouter::count_packets(const Ipv6Address& source, const Ipv6Address& group,
                                        std::uint64_t packets) {
    const auto it = entry_counters.find({source, group});
    if (it != entry_counters.end())
        it->second.packets += packets;
}

void FakeMulticastRouter::count_wrong_interface(const Ipv6Address& source, const Ipv6Address& group,
                                                std::uint64_t packets) {
    const auto it = entry_counters.find({source, group});
    if (it != entry_counters.end())
        it->second.wrong_interface += packets;
}

}  // namespace pmip::mcast
