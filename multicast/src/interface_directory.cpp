// Interface names, indexes and link-local addresses. See interface_directory.hpp.
#include "pmip/mcast/interface_directory.hpp"

#include <net/if.h>

#include <fstream>
#include <sstream>

namespace pmip::mcast {

namespace {

// IFA_F_* from <linux/if_addr.h>.
constexpr unsigned kTentative = 0x40;
constexpr unsigned kDadFailed = 0x08;

}  // namespace

std::optional<int> KernelInterfaceDirectory::index(const std::string& name) const {
    const unsigned i = ::if_nametoindex(name.c_str());
    if (i == 0)
        return std::nullopt;
    return static_cast<int>(i);
}

std::optional<std::string> KernelInterfaceDirectory::name(int ifindex) const {
    char buffer[IF_NAMESIZE] = {};
    if (!::if_indextoname(static_cast<unsigned>(ifindex), buffer))
        return std::nullopt;
    return std::string(buffer);
}

// /proc/net/if_inet6 (this namespace): "fe800000000000000000000000000001 07 40 20 80 eth0"
// = address, ifindex, prefix length, scope, flags, name (all hex but the name).
std::optional<LinkLocalAddress> KernelInterfaceDirectory::link_local(int ifindex) const {
    std::ifstream in("/proc/net/if_inet6");
    std::string line;
    std::optional<LinkLocalAddress> best;
    while (std::getline(in, line)) {
        std::istringstream fields(line);
        std::string hex, index_text, plen, scope, flags_text, device;
        if (!(fields >> hex >> index_text >> plen >> scope >> flags_text >> device) ||
            hex.size() != 32)
            continue;
        if (std::stoi(index_text, nullptr, 16) != ifindex)
            continue;
        Ipv6Address a{};
        for (std::size_t i = 0; i < 16; ++i)
            a[i] = static_cast<std::uint8_t>(std::stoul(hex.substr(2 * i, 2), nullptr, 16));
        if (!is_link_local(a))
            continue;
        const unsigned flags = static_cast<unsigned>(std::stoul(flags_text, nullptr, 16));
        const LinkLocalAddress candidate{a, (flags & (kTentative | kDadFailed)) == 0};
        if (!best || (candidate.usable && !best->usable) ||
            (candidate.usable == best->usable && candidate.address < best->address)) {
            best = candidate;
        }
    }
    return best;
}

std::optional<int> FakeInterfaceDirectory::index(const std::string& name) const {
    for (const auto& [i, e] : interfaces)
        if (e.name == name)
            return i;
    return std::nullopt;
}

std::optional<std::string> FakeInterfaceDirectory::name(int ifindex) const {
    const auto it = interfaces.find(ifindex);
    if (it == interfaces.end())
        return std::nullopt;
    return it->second.name;
}

std::optional<LinkLocalAddress> FakeInterfaceDirectory::link_local(int ifindex) const {
    const auto it = interfaces.find(ifindex);
    if (it == interfaces.end())
        return std::nullopt;
    return it->second.link_local;
}

}  // namespace pmip::mcast
