// InterfaceDirectory: interface names, indexes and link-local addresses for
// the multicast adapter, with a fake.
//
// The kernel implementation asks the current network namespace directly
// (if_nametoindex / if_indextoname, and /proc/net/if_inet6 for addresses with
// their flags), so it needs no netlink subscription of its own. A link-local
// address that is still tentative (DAD, RFC 4862 section 5.4) or failed DAD
// is reported as unusable: the kernel refuses it as an IPV6_PKTINFO source
// (EINVAL), and RFC 3810 section 5.1.14 wants queries from a valid
// link-local address.
//
// Threading: loop thread only.
#pragma once

#include <map>
#include <optional>
#include <string>

#include "pmip/common/ip.hpp"

namespace pmip::mcast {

struct LinkLocalAddress {
    Ipv6Address address{};
    bool usable = false;  // false while tentative or after DAD failed
};

class InterfaceDirectory {
  public:
    virtual ~InterfaceDirectory() = default;
    virtual std::optional<int> index(const std::string& name) const = 0;
    virtual std::optional<std::string> name(int ifindex) const = 0;
    // The lowest usable link-local address of the interface, else the lowest
    // tentative one (usable = false), else nullopt.
    virtual std::optional<LinkLocalAddress> link_local(int ifindex) const = 0;
};

class KernelInterfaceDirectory final : public InterfaceDirectory {
  public:
    std::optional<int> index(const std::string& name) const override;
    std::optional<std::string> name(int ifindex) const override;
    std::optional<LinkLocalAddress> link_local(int ifindex) const override;
};

class FakeInterfaceDirectory final : public InterfaceDirectory {
  public:
    struct Entry {
        std::string name;
        std::optional<LinkLocalAddress> link_local;
    };
    std::optional<int> index(const std::string& name) const override;
    std::optional<std::string> name(int ifindex) const override;
    std::optional<LinkLocalAddress> link_local(int ifindex) const override;

    std::map<int, Entry> interfaces;  // by ifindex
};

}  // namespace pmip::mcast
