// Device configuration over rtnetlink and /proc/sys. See link_config.hpp.
#include "pmip/common/link_config.hpp"

#include <linux/if_addr.h>
#include <linux/rtnetlink.h>
#include <libmnl/libmnl.h>

#include <cerrno>
#include <fstream>
#include <sstream>

#include "netlink_links.hpp"

namespace pmip {

namespace {

std::string sysctl_path(const std::string& device, const std::string& key) {
    return "/proc/sys/net/ipv6/conf/" + device + "/" + key;
}

class KernelLinkConfigurator final : public LinkConfigurator {
  public:
    Status set_mac(int ifindex, const MacAddress& mac) override {
        return netlink::link_request(
            RTM_NEWLINK, 0, ifindex, 0, 0,
            [&](nlmsghdr* nlh) { mnl_attr_put(nlh, IFLA_ADDRESS, mac.size(), mac.data()); },
            "setting the link-layer address of ifindex " + std::to_string(ifindex));
    }
    Status add_address(int ifindex, const Ipv6Prefix& address, bool nodad) override {
        Status st = netlink::address_request(
            RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, ifindex, address.address, address.length,
            nodad ? IFA_F_NODAD : 0u,
            "adding " + to_string(address) + " to ifindex " + std::to_string(ifindex));
        if (!st.ok() && st.error().code == EEXIST) return {};
        return st;
    }
    Status remove_address(int ifindex, const Ipv6Prefix& address) override {
        Status st = netlink::address_request(
            RTM_DELADDR, 0, ifindex, address.address, address.length, 0,
            "removing " + to_string(address) + " from ifindex " + std::to_string(ifindex));
        if (!st.ok() && (st.error().code == EADDRNOTAVAIL || st.error().code == ENODEV ||
                         st.error().code == ENOENT)) {
            return {};
        }
        return st;
    }
    Expected<std::size_t> flush_neighbours(int ifindex) override {
        return netlink::flush_ipv6_neighbours(
            ifindex, "flushing the IPv6 neighbours of ifindex " + std::to_string(ifindex));
    }
    Status set_ipv6_sysctl(const std::string& device, const std::string& key,
                           const std::string& value) override {
        const std::string path = sysctl_path(device, key);
        std::ofstream out(path);
        if (!out) return Error::from_errno("opening " + path);
        out << value << "\n";
        out.flush();
        if (!out) return Error::from_errno("writing " + value + " to " + path);
        return {};
    }
    Expected<std::string> ipv6_sysctl(const std::string& device,
                                      const std::string& key) const override {
        const std::string path = sysctl_path(device, key);
        std::ifstream in(path);
        if (!in) return Error::from_errno("reading " + path);
        std::string value;
        std::getline(in, value);
        return value;
    }
};

}  // namespace

std::unique_ptr<LinkConfigurator> make_kernel_link_configurator() {
    return std::make_unique<KernelLinkConfigurator>();
}

Status FakeLinkConfigurator::set_mac(int ifindex, const MacAddress& mac) {
    if (fail_with) return *fail_with;
    macs[ifindex] = mac;
    return {};
}
Status FakeLinkConfigurator::add_address(int ifindex, const Ipv6Prefix& address, bool) {
    if (fail_with) return *fail_with;
    addresses.insert({ifindex, address});
    return {};
}
Status FakeLinkConfigurator::remove_address(int ifindex, const Ipv6Prefix& address) {
    if (fail_with) return *fail_with;
    addresses.erase({ifindex, address});
    return {};
}
Expected<std::size_t> FakeLinkConfigurator::flush_neighbours(int ifindex) {
    if (fail_with) return *fail_with;
    neighbour_flushes.push_back(ifindex);
    return std::size_t{0};
}
Status FakeLinkConfigurator::set_ipv6_sysctl(const std::string& device, const std::string& key,
                                             const std::string& value) {
    if (fail_with) return *fail_with;
    sysctls[{device, key}] = value;
    return {};
}
Expected<std::string> FakeLinkConfigurator::ipv6_sysctl(const std::string& device,
                                                        const std::string& key) const {
    const auto it = sysctls.find({device, key});
    if (it == sysctls.end()) return Error{ENOENT, "no sysctl " + device + "/" + key};
    return it->second;
}

}  // namespace pmip
