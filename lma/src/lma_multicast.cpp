// lmad's multicast anchor. See lma_multicast.hpp.
#include "lma_multicast.hpp"

#include "pmip/mcast/subscription_options.hpp"

#include "pmip/common/log.hpp"
#include "pmip/mcast/querier_config_keys.hpp"

namespace pmip::lma {

namespace {
const char* const kContext = "[lma mcast]";
}

Expected<std::unique_ptr<LmaMulticast>> LmaMulticast::create(EventLoop& loop, RouteManager& routes,
                                                             LmaMulticastConfig config) {
    auto forwarding = mcast::start_forwarding(config.forwarding, config.table, kContext);
    if (!forwarding)
        return Error{forwarding.error().code, "multicast anchor: " + forwarding.error().what};
    mcast::KernelProxyConfig pc;
    pc.forwarding = *forwarding;
    pc.ebpf_limits = config.ebpf_limits;
    pc.filter_handle = config.table;
    pc.name = "lma";
    pc.table = config.table;
    pc.upstream = config.upstream;
    pc.extra_upstreams = config.extra_upstreams;
    pc.matching = config.matching;
    pc.mutex_timeout = config.mutex_timeout;
    pc.interface_filters = config.interface_filters;
    pc.policy = config.policy;
    pc.querier = config.querier;
    pc.rule_priority = config.rule_priority;
    auto proxy = mcast::KernelProxy::create(loop, routes, pc);
    if (!proxy)
        return Error{proxy.error().code, "multicast anchor: " + proxy.error().what};
    std::string upstreams = "upstream " + config.upstream;
    if (!config.extra_upstreams.empty()) {
        upstreams = "upstreams";
        for (const auto& e : config.extra_upstreams)
            upstreams += " " + e.name + " (" + std::to_string(e.rules.size()) + " rules),";
        upstreams += " " + config.upstream + " (matching " +
                     std::string(mcast::to_string(config.matching)) +
                     (config.matching == mcast::UpstreamMatching::kMutex
                          ? " " + std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(
                                                     config.mutex_timeout)
                                                     .count()) +
                                " ms"
                          : std::string()) +
                     ")";
    }
    PMIP_INFO(kMld, kContext, "MLD proxy: " + upstreams + ", table " +
                                  std::to_string(config.table) + "; MAG tunnels become downstreams");
    return std::unique_ptr<LmaMulticast>(new LmaMulticast(std::move(config), std::move(*proxy)));
}

void LmaMulticast::tunnel_used(const std::string& device) {
    if (users_[device]++ > 0)
        return;
    // RFC 6224 section 4.3: the LMA is the querier on every MAG tunnel.
    if (Status st = proxy_->add_downstream(device, config_.querier); !st.ok()) {
        ++errors_;
        PMIP_ERROR(kMld, kContext, "tunnel " + device + " not a downstream: " + st.error().what);
        return;
    }
    ++added_;
}

void LmaMulticast::tunnel_unused(const std::string& device) {
    const auto it = users_.find(device);
    if (it == users_.end())
        return;
    if (--it->second > 0)
        return;
    users_.erase(it);
    if (!proxy_->has_downstream(device))
        return;
    if (Status st = proxy_->remove_downstream(device); !st.ok()) {
        ++errors_;
        PMIP_WARNING(kMld, kContext, "removing tunnel " + device + ": " + st.error().what);
        return;
    }
    ++removed_;
}

void LmaMulticast::apply_context(const std::string& device,
                                 const std::vector<mh::ActiveMulticastSubscriptionIpv6>& subscriptions) {
    if (!proxy_->has_downstream(device))
        return;
    if (Status st = proxy_->apply_context(device, mcast::to_context_records(subscriptions)); !st.ok()) {
        ++errors_;
        PMIP_WARNING(kMld, kContext, "context on tunnel " + device + ": " + st.error().what);
        return;
    }
    ++contexts_applied_;
}

void LmaMulticast::apply_records(const std::string& device, const std::vector<mh::MulticastAddressRecord>& records) {
    if (!proxy_->has_downstream(device))
        return;
    std::vector<mcast::MulticastAddressRecord> converted;
    for (const auto& r : records)
        converted.push_back({static_cast<mcast::RecordType>(r.record_type), r.multicast_address, r.sources, {}});
    if (Status st = proxy_->apply_context(device, std::move(converted)); !st.ok()) {
        ++errors_;
        PMIP_WARNING(kMld, kContext, "PBU-M channels on tunnel " + device + ": " + st.error().what);
        return;
    }
    ++pbu_m_applied_;
}

nlohmann::json LmaMulticast::show() const {
    nlohmann::json j = proxy_->show();
    j["anchor"] = {{"downstreams_added", added_},
                   {"downstreams_removed", removed_},
                   {"contexts_applied", contexts_applied_},
                   {"pbu_m_applied", pbu_m_applied_},
                   {"errors", errors_}};
    return j;
}

}  // namespace pmip::lma
