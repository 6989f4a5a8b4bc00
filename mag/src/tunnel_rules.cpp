// TunnelRules: see tunnel_rules.hpp.
#include "pmip/mag/tunnel_rules.hpp"

#include "pmip/common/log.hpp"

namespace pmip::mag {

Rule TunnelRules::rule(const std::string& device) const {
    return Rule{Ipv6Prefix{Ipv6Address{}, 0}, kMainTable, priority_, device};
}

Status TunnelRules::in_use(const TunnelInfo& tunnel) {
    if (devices_.contains(tunnel.name)) return {};
    if (Status st = routes_.add(rule(tunnel.name)); !st.ok())
        return Error{st.error().code, "its rule \"iif " + tunnel.name + " lookup main\" not added: " + st.error().what};
    devices_.insert(tunnel.name);
    return {};
}

void TunnelRules::unused(const TunnelInfo& tunnel) {
    const auto it = devices_.find(tunnel.name);
    if (it == devices_.end()) return;
    devices_.erase(it);
    if (Status st = routes_.remove(rule(tunnel.name)); !st.ok()) {
        ++removal_errors_;
        PMIP_ERROR(kRoute, "[tunnel " + tunnel.name + "]", "its rule not removed: " + st.error().what);
    }
}

}  // namespace pmip::mag
