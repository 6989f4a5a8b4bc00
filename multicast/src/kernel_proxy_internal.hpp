// Helpers shared by the KernelProxy source files (kernel_proxy.cpp,
// kernel_proxy_peering.cpp); not part of the library's interface.
#pragma once

#include <chrono>
#include <string>

#include "pmip/common/ip.hpp"
#include "pmip/common/log.hpp"
#include "pmip/common/result.hpp"
#include "pmip/mcast/kernel_proxy.hpp"
#include "pmip/mcast/querier.hpp"

namespace pmip::mcast::detail {

inline Error proxy_error(const std::string& name, const std::string& what, int code = 0) {
    return Error{code, "proxy " + name + ": " + what};
}

// Multicast of scope 3 (realm-local) or wider: link-local and smaller scopes
// never leave their link [RFC 4291 section 2.7; RFC 7346].
inline bool beyond_link_scope(const Ipv6Address& group) {
    return is_multicast(group) && (group[1] & 0x0f) > 2;
}

inline log::RateLimit& drop_log() {
    static log::RateLimit limit(10, std::chrono::seconds(10));
    return limit;
}

}  // namespace pmip::mcast::detail

namespace pmip::mcast {

// One peering interface of a KernelProxy (kernel_proxy_peering.cpp).
struct KernelProxy::Peering {
    Interface link;
    Duration report_wait{};
    bool groups_joined = false;
    std::unique_ptr<PeeringLink> output;
    std::unique_ptr<Querier> querier;  // from the start (usable link-local)
    std::unordered_map<Ipv6Address, MembershipState, AddressHash> wants;  // the peer's state
};


// The peer's subscriptions, as the querier on the peering link learns them.
class KernelProxy::PeeringLink final : public QuerierOutput {
  public:
    PeeringLink(KernelProxy& proxy, std::size_t index) : proxy_(proxy), index_(index) {}
    void send_query(const Ipv6Address& destination, const MldMessage& query) override {
        proxy_.send_peering_query(index_, destination, query);
    }
    void membership_changed(const Ipv6Address& group, const MembershipState& state) override {
        proxy_.peerings_[index_]->wants[group] = state;
        if (state.no_listeners())
            proxy_.peerings_[index_]->wants.erase(group);
        proxy_.peer_membership_changed(index_, group);
    }

  private:
    KernelProxy& proxy_;
    std::size_t index_;
};

}  // namespace pmip::mcast
