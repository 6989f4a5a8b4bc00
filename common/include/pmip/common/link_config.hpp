// Configuring a network device: its link-layer address, IPv6 addresses and
// per-device IPv6 sysctls. magd uses it on access links (RFC 6543: the same
// link-local address and MAC on every access link of every MAG; RFC 5213
// section 6.8: no RAs accepted there, forwarding on) and undoes it when the
// link stops being an access link or magd stops.
//
// Threading: loop thread only; each call is one synchronous rtnetlink
// request (a neighbour flush: one dump and a delete per entry) or one
// /proc/sys write (rare: once per access link or attachment).
// Counters: none (callers count failures).
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "pmip/common/ip.hpp"
#include "pmip/common/result.hpp"

namespace pmip {

using MacAddress = std::array<std::uint8_t, 6>;

class LinkConfigurator {
  public:
    virtual ~LinkConfigurator() = default;
    virtual Status set_mac(int ifindex, const MacAddress& mac) = 0;
    // Adds `address` (without DAD when `nodad`: the fixed link-local of RFC
    // 6543 must be usable at once). An address already there is not an error.
    virtual Status add_address(int ifindex, const Ipv6Prefix& address, bool nodad) = 0;
    // An address (or device) already gone is not an error.
    virtual Status remove_address(int ifindex, const Ipv6Prefix& address) = 0;
    // Deletes the device's IPv6 neighbour entries (not permanent ones);
    // returns how many. A device that is gone has none.
    virtual Expected<std::size_t> flush_neighbours(int ifindex) = 0;
    // /proc/sys/net/ipv6/conf/DEVICE/KEY = value ("all" for the global one).
    virtual Status set_ipv6_sysctl(const std::string& device, const std::string& key,
                                   const std::string& value) = 0;
    virtual Expected<std::string> ipv6_sysctl(const std::string& device,
                                              const std::string& key) const = 0;
};

std::unique_ptr<LinkConfigurator> make_kernel_link_configurator();

// Records what was asked; `fail_with` makes every call fail.
class FakeLinkConfigurator final : public LinkConfigurator {
  public:
    Status set_mac(int ifindex, const MacAddress& mac) override;
    Status add_address(int ifindex, const Ipv6Prefix& address, bool nodad) override;
    Status remove_address(int ifindex, const Ipv6Prefix& address) override;
    Expected<std::size_t> flush_neighbours(int ifindex) override;
    Status set_ipv6_sysctl(const std::string& device, const std::string& key,
                           const std::string& value) override;
    Expected<std::string> ipv6_sysctl(const std::string& device,
                                      const std::string& key) const override;

    std::map<int, MacAddress> macs;
    std::vector<int> neighbour_flushes;  // ifindexes, in order
    std::set<std::pair<int, Ipv6Prefix>> addresses;
    std::map<std::pair<std::string, std::string>, std::string> sysctls;
    std::optional<Error> fail_with;
};

}  // namespace pmip
