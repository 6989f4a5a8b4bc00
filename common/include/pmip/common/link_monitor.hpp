// Network devices and their events.
//
// magd detects attachment from access links appearing or coming up and
// detachment from links going down or disappearing (DESIGN.md section 3,
// step 1); both daemons find addresses and MTUs of their interfaces.
//
// Threading: loop thread only. NetlinkLinkMonitor (libnl-route) subscribes to
// RTNLGRP_LINK (and IPv6 address groups) and registers its socket with the
// EventLoop; FakeLinkMonitor lets tests inject events.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "pmip/common/ip.hpp"
#include "pmip/common/result.hpp"

namespace pmip {

class EventLoop;

struct Link {
    int ifindex = 0;
    std::string name;
    std::vector<std::uint8_t> mac;  // empty when the link has no L2 address (TUN)
    bool up = false;                // IFF_UP (administratively up)
    bool running = false;           // IFF_RUNNING / carrier (operationally up)
    unsigned mtu = 0;
    std::string kind;  // "veth", "tun", "ip6tnl", ... ("" if unknown)
    bool operator==(const Link&) const = default;
};

enum class LinkEventType : std::uint8_t {
    kNew,      // a device appeared
    kUp,       // became running (up + carrier)
    kDown,     // stopped running
    kDeleted,  // disappeared
};

struct LinkEvent {
    LinkEventType type{};
    Link link;
};

std::string_view to_string(LinkEventType type);

struct InterfaceAddress {
    int ifindex = 0;
    Ipv6Prefix prefix;  // address + prefix length
    bool operator==(const InterfaceAddress&) const = default;
};

class LinkMonitor {
public:
    using Handler = std::function<void(const LinkEvent&)>;
    virtual ~LinkMonitor() = default;

    virtual std::vector<Link> links() const = 0;
    virtual std::optional<Link> find(const std::string& name) const = 0;
    virtual std::optional<Link> find(int ifindex) const = 0;
    virtual std::vector<InterfaceAddress> addresses(int ifindex) const = 0;
    // One handler; events arrive on the loop thread in kernel order.
    virtual void set_handler(Handler handler) = 0;
};

// Dumps links and IPv6 addresses, then follows RTNLGRP_LINK and
// RTNLGRP_IPV6_IFADDR on a non-blocking socket registered with `loop` (which
// must outlive the monitor). A link seen for the first time gives kNew (then
// kUp if running); deleting a running link gives the kernel's kDown first,
// then kDeleted. When the kernel drops events (ENOBUFS) the monitor re-dumps
// and emits the differences. `receive_buffer_bytes` sizes the event socket
// (SO_RCVBUFFORCE when permitted).
Expected<std::unique_ptr<LinkMonitor>> make_netlink_link_monitor(
    EventLoop& loop, int receive_buffer_bytes = 4 << 20);

class FakeLinkMonitor final : public LinkMonitor {
public:
    std::vector<Link> links() const override { return links_; }
    std::optional<Link> find(const std::string& name) const override;
    std::optional<Link> find(int ifindex) const override;
    std::vector<InterfaceAddress> addresses(int ifindex) const override;
    void set_handler(Handler handler) override { handler_ = std::move(handler); }

    // Test controls: change the table and deliver the matching event.
    // kNew (and kUp if running); for a known ifindex, updates it and emits
    // kUp / kDown only when `running` changes, like the netlink monitor.
    void add_link(Link link);
    void set_running(int ifindex, bool running);  // kUp / kDown, on change only
    void remove_link(int ifindex);  // kDeleted (and forgets its addresses)
    void add_address(InterfaceAddress address);  // once per (ifindex, prefix)
    void remove_address(const InterfaceAddress& address);

private:
    void emit(LinkEventType type, const Link& link);
    std::vector<Link> links_;
    std::vector<InterfaceAddress> addresses_;
    Handler handler_;
};

}  // namespace pmip
