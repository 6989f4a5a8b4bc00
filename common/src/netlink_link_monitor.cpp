// NetlinkLinkMonitor: network devices, their IPv6 addresses and link events
// from rtnetlink with libnl-route. Contract in link_monitor.hpp; DESIGN.md
// section 3 step 1 (magd detects attachment from access links appearing or
// coming up, detachment from links going down or disappearing).
//
// Two sockets: a synchronous one that dumps links (rtnl_link_alloc_cache) and
// IPv6 addresses (rtnl_addr_alloc_cache) for the table, and a non-blocking
// event socket subscribed to RTNLGRP_LINK and RTNLGRP_IPV6_IFADDR whose fd is
// registered with the EventLoop. The event socket subscribes before the first
// dump so that nothing falls between them; events repeating what the dump
// showed change nothing. RTM_NEWLINK / RTM_DELLINK of family AF_UNSPEC become
// LinkEvents (AF_BRIDGE port notifications share the group and are ignored):
// kNew for an unknown ifindex (then kUp if it is running), kUp / kDown when
// "running" (IFF_UP and IFF_RUNNING or IFF_LOWER_UP) changes, kDeleted on
// RTM_DELLINK. When the kernel overruns our receive buffer (ENOBUFS) the
// queued events are discarded, both tables are dumped again and the
// differences are emitted (deletions first, then by ifindex).
//
// Threading: loop thread only; the handler runs inside the loop's callback.
#include <linux/if.h>
#include <netlink/cache.h>
#include <netlink/msg.h>
#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/socket.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "pmip/common/event_loop.hpp"
#include "pmip/common/link_monitor.hpp"
#include "pmip/common/log.hpp"
#include "pmip/common/raw_socket.hpp"

namespace pmip {

namespace {

// Notifications handled per wakeup before yielding to the loop (the fd stays
// readable, so the loop comes back).
constexpr int kMaxNotificationsPerWakeup = 1024;
constexpr const char* kLogContext = "[netlink links]";

Error nl_error(const std::string& context, int nl_code) {
    int code = EIO;
    switch (-nl_code) {
        case NLE_PERM:
            code = EPERM;
            break;
        case NLE_NOACCESS:
            code = EACCES;
            break;
        case NLE_NOMEM:
            code = ENOMEM;
            break;
        case NLE_AF_NOSUPPORT:
            code = EAFNOSUPPORT;
            break;
        case NLE_PROTO_MISMATCH:
            code = EPROTONOSUPPORT;
            break;
        default:
            break;
    }
    return Error{code, context + ": " + nl_geterror(nl_code)};
}

struct SocketFree {
    void operator()(nl_sock* s) const { nl_socket_free(s); }
};
using Socket = std::unique_ptr<nl_sock, SocketFree>;

struct CacheFree {
    void operator()(nl_cache* c) const { nl_cache_free(c); }
};
using Cache = std::unique_ptr<nl_cache, CacheFree>;

Link to_link(rtnl_link* object) {
    Link link;
    link.ifindex = rtnl_link_get_ifindex(object);
    if (const char* name = rtnl_link_get_name(object))
        link.name = name;
    if (nl_addr* address = rtnl_link_get_addr(object); address && nl_addr_get_len(address) > 0) {
        const auto* bytes = static_cast<const std::uint8_t*>(nl_addr_get_binary_addr(address));
        link.mac.assign(bytes, bytes + nl_addr_get_len(address));
    }
    const unsigned flags = rtnl_link_get_flags(object);
    link.up = (flags & IFF_UP) != 0;
    link.running = link.up && (flags & (IFF_RUNNING | IFF_LOWER_UP)) != 0;
    link.mtu = rtnl_link_get_mtu(object);
    if (const char* kind = rtnl_link_get_type(object))
        link.kind = kind;
    return link;
}

std::optional<InterfaceAddress> to_address(rtnl_addr* object) {
    if (rtnl_addr_get_family(object) != AF_INET6)
        return std::nullopt;
    nl_addr* local = rtnl_addr_get_local(object);
    if (local == nullptr || nl_addr_get_len(local) != 16)
        return std::nullopt;
    InterfaceAddress address;
    address.ifindex = rtnl_addr_get_ifindex(object);
    std::memcpy(address.prefix.address.data(), nl_addr_get_binary_addr(local), 16);
    address.prefix.length = static_cast<std::uint8_t>(rtnl_addr_get_prefixlen(object));
    return address;
}

class NetlinkLinkMonitor final : public LinkMonitor {
  public:
    explicit NetlinkLinkMonitor(EventLoop& loop) : loop_(loop) {}
    ~NetlinkLinkMonitor() override {
        if (registered_)
            loop_.remove_fd(nl_socket_get_fd(events_.get()));
    }
    NetlinkLinkMonitor(const NetlinkLinkMonitor&) = delete;
    NetlinkLinkMonitor& operator=(const NetlinkLinkMonitor&) = delete;

    Status start(int receive_buffer_bytes);

    std::vector<Link> links() const override {
        std::vector<Link> out;
        out.reserve(links_.size());
        for (const auto& [ifindex, link] : links_) out.push_back(link);
        return out;
    }
    std::optional<Link> find(const std::string& name) const override {
        for (const auto& [ifindex, link] : links_) {
            if (link.name == name)
                return link;
        }
        return std::nullopt;
    }
    std::optional<Link> find(int ifindex) const override {
        const auto it = links_.find(ifindex);
        if (it == links_.end())
            return std::nullopt;
        return it->second;
    }
    std::vector<InterfaceAddress> addresses(int ifindex) const override {
        const auto it = addresses_.find(ifindex);
        if (it == addresses_.end())
            return {};
        return it->second;
    }
    void set_handler(Handler handler) override { handler_ = std::move(handler); }

  private:
    static int on_message(nl_msg* message, void* self);
    static void on_object(nl_object* object, void* self);
    void on_readable();
    void on_link(int message_type, const Link& link);
    void on_address(int message_type, const InterfaceAddress& address);
    // Dumps links and addresses into fresh tables.
    Status dump(std::map<int, Link>& links,
                std::map<int, std::vector<InterfaceAddress>>& addresses);
    void resynchronise();
    void emit(LinkEventType type, const Link& link) {
        PMIP_DEBUG(kNetlink, kLogContext,
                   "link " + link.name + " (" + std::to_string(link.ifindex) + ") " +
                       std::string(to_string(type)));
        if (handler_)
            handler_(LinkEvent{type, link});
    }

    EventLoop& loop_;
    Socket sync_;
    Socket events_;
    bool registered_ = false;
    std::map<int, Link> links_;
    std::map<int, std::vector<InterfaceAddress>> addresses_;
    Handler handler_;
};

Status NetlinkLinkMonitor::start(int receive_buffer_bytes) {
    sync_.reset(nl_socket_alloc());
    events_.reset(nl_socket_alloc());
    if (!sync_ || !events_)
        return Error{ENOMEM, "link monitor: allocating netlink sockets"};
    if (int err = nl_connect(sync_.get(), NETLINK_ROUTE); err < 0) {
        return nl_error("link monitor: connecting the dump socket", err);
    }

    nl_sock* events = events_.get();
    nl_socket_disable_seq_check(events);
    nl_socket_enable_msg_peek(events);
    nl_socket_modify_cb(events, NL_CB_VALID, NL_CB_CUSTOM, &NetlinkLinkMonitor::on_message, this);
    if (int err = nl_connect(events, NETLINK_ROUTE); err < 0) {
        return nl_error("link monitor: connecting the event socket", err);
    }
    if (int err = nl_socket_add_memberships(events, RTNLGRP_LINK, RTNLGRP_IPV6_IFADDR, 0);
        err < 0) {
        return nl_error("link monitor: joining RTNLGRP_LINK and RTNLGRP_IPV6_IFADDR", err);
    }
    if (int err = nl_socket_set_nonblocking(events); err < 0) {
        return nl_error("link monitor: making the event socket non-blocking", err);
    }
    const int fd = nl_socket_get_fd(events);
    if (receive_buffer_bytes > 0) (void)set_socket_buffer(fd, true, receive_buffer_bytes);

    if (Status s = dump(links_, addresses_); !s)
        return s;
    if (Status s = loop_.add_fd(fd, EPOLLIN, [this](std::uint32_t) { on_readable(); }); !s) {
        return Error{s.error().code, "link monitor: " + s.error().what};
    }
    registered_ = true;
    return {};
}

Status NetlinkLinkMonitor::dump(std::map<int, Link>& links,
                                std::map<int, std::vector<InterfaceAddress>>& addresses) {
    nl_cache* raw = nullptr;
    if (int err = rtnl_link_alloc_cache(sync_.get(), AF_UNSPEC, &raw); err < 0) {
        return nl_error("link monitor: dumping links", err);
    }
    Cache link_cache(raw);
    for (nl_object* o = nl_cache_get_first(link_cache.get()); o; o = nl_cache_get_next(o)) {
        const Link link = to_link(reinterpret_cast<rtnl_link*>(o));
        links[link.ifindex] = link;
    }
    raw = nullptr;
    if (int err = rtnl_addr_alloc_cache(sync_.get(), &raw); err < 0) {
        return nl_error("link monitor: dumping addresses", err);
    }
    Cache address_cache(raw);
    for (nl_object* o = nl_cache_get_first(address_cache.get()); o; o = nl_cache_get_next(o)) {
        if (auto address = to_address(reinterpret_cast<rtnl_addr*>(o))) {
            addresses[address->ifindex].push_back(*address);
        }
    }
    return {};
}

int NetlinkLinkMonitor::on_message(nl_msg* message, void* self) {
    switch (nlmsg_hdr(message)->nlmsg_type) {
        case RTM_NEWLINK:
        case RTM_DELLINK:
        case RTM_NEWADDR:
        case RTM_DELADDR:
            nl_msg_parse(message, &NetlinkLinkMonitor::on_object, self);
            break;
        default:
            break;
    }
    return NL_OK;
}

void NetlinkLinkMonitor::on_object(nl_object* object, void* self) {
    auto* monitor = static_cast<NetlinkLinkMonitor*>(self);
    const int type = nl_object_get_msgtype(object);
    if (type == RTM_NEWLINK || type == RTM_DELLINK) {
        auto* link = reinterpret_cast<rtnl_link*>(object);
        if (rtnl_link_get_family(link) != AF_UNSPEC)
            return;  // AF_BRIDGE port news
        monitor->on_link(type, to_link(link));
    } else if (type == RTM_NEWADDR || type == RTM_DELADDR) {
        if (auto address = to_address(reinterpret_cast<rtnl_addr*>(object))) {
            monitor->on_address(type, *address);
        }
    }
}

void NetlinkLinkMonitor::on_link(int message_type, const Link& link) {
    const auto it = links_.find(link.ifindex);
    if (message_type == RTM_DELLINK) {
        if (it == links_.end())
            return;
        links_.erase(it);
        addresses_.erase(link.ifindex);
        emit(LinkEventType::kDeleted, link);
        return;
    }
    if (it == links_.end()) {
        links_.emplace(link.ifindex, link);
        emit(LinkEventType::kNew, link);
        if (link.running)
            emit(LinkEventType::kUp, link);
        return;
    }
    const bool was_running = it->second.running;
    it->second = link;
    if (!was_running && link.running)
        emit(LinkEventType::kUp, link);
    if (was_running && !link.running)
        emit(LinkEventType::kDown, link);
}

void NetlinkLinkMonitor::on_address(int message_type, const InterfaceAddress& address) {
    auto& list = addresses_[address.ifindex];
    const auto it = std::find(list.begin(), list.end(), address);
    if (message_type == RTM_NEWADDR && it == list.end())
        list.push_back(address);
    if (message_type == RTM_DELADDR && it != list.end())
        list.erase(it);
    if (list.empty())
        addresses_.erase(address.ifindex);
}

void NetlinkLinkMonitor::on_readable() {
    for (int i = 0; i < kMaxNotificationsPerWakeup; ++i) {
        const int err = nl_recvmsgs_default(events_.get());
        if (err >= 0)
            continue;
        if (err == -NLE_AGAIN)
            return;
        if (err == -NLE_NOMEM) {  // ENOBUFS: the kernel dropped notifications
            resynchronise();
            return;
        }
        PMIP_WARNING(kNetlink, kLogContext,
                     std::string("reading link events: ") + nl_geterror(err));
        return;
    }
}

void NetlinkLinkMonitor::resynchronise() {
    PMIP_INFO(kNetlink, kLogContext, "kernel dropped link events (ENOBUFS); dumping again");
    // What is still queued predates the dump below: discard it.
    const int fd = nl_socket_get_fd(events_.get());
    std::vector<char> scratch(64 * 1024);
    for (;;) {
        const ssize_t n = ::recv(fd, scratch.data(), scratch.size(), MSG_DONTWAIT);
        if (n >= 0 || errno == EINTR || errno == ENOBUFS)
            continue;
        break;
    }
    std::map<int, Link> links;
    std::map<int, std::vector<InterfaceAddress>> addresses;
    if (Status s = dump(links, addresses); !s) {
        PMIP_WARNING(kNetlink, kLogContext, "resynchronising links: " + s.error().what);
        return;
    }
    std::vector<Link> gone;
    for (const auto& [ifindex, link] : links_) {
        if (links.find(ifindex) == links.end())
            gone.push_back(link);
    }
    const std::map<int, Link> before = std::move(links_);
    links_ = std::move(links);
    addresses_ = std::move(addresses);
    for (const Link& link : gone) emit(LinkEventType::kDeleted, link);
    for (const auto& [ifindex, link] : links_) {
        const auto old = before.find(ifindex);
        if (old == before.end()) {
            emit(LinkEventType::kNew, link);
            if (link.running)
                emit(LinkEventType::kUp, link);
        } else if (!old->second.running && link.running) {
            emit(LinkEventType::kUp, link);
        } else if (old->second.running && !link.running) {
            emit(LinkEventType::kDown, link);
        }
    }
}

}  // namespace

Expected<std::unique_ptr<LinkMonitor>> make_netlink_link_monitor(EventLoop& loop,
                                                                 int receive_buffer_bytes) {
    auto monitor = std::make_unique<NetlinkLinkMonitor>(loop);
    if (Status s = monitor->start(receive_buffer_bytes); !s)
        return s.error();
    return std::unique_ptr<LinkMonitor>(std::move(monitor));
}

}  // namespace pmip
