// lmad as the multicast anchor (RFC 6224 section 4.3; DESIGN.md section 5):
// one MLD proxy instance whose upstream is the configured interface towards
// the fixed network and whose downstreams are the tunnels to the MAGs, each
// with an MLD querier; a tunnel becomes a downstream with its first binding
// and stops being one when its last binding goes (before the tunnel is
// deleted). Traffic is replicated once per MAG tunnel, not per MN. After a
// handover nothing is queried on purpose: the new MAG's proxy reports, the
// old one sends its leaves (RFC 6224 section 4.3).
//
// Threading: loop thread only. Counters: downstreams_added / _removed,
// errors (in show()).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "pmip/common/event_loop.hpp"
#include "pmip/common/route_manager.hpp"
#include "pmip/common/tunnel.hpp"
#include "pmip/mcast/kernel_proxy.hpp"
#include "pmip/mh/options.hpp"

namespace pmip::lma {

struct LmaMulticastConfig {
    bool enabled = false;       // needs an upstream interface
    std::string upstream;       // towards the content sources / the multicast network
    // Several upstreams (multicast/upstream_rules.hpp): these before
    // `upstream` in match order, each with the channels it takes; the main
    // upstream takes every channel none of them takes (first) or every
    // channel (all).
    std::vector<mcast::ExtraUpstreamConfig> extra_upstreams;
    mcast::UpstreamMatching matching = mcast::UpstreamMatching::kFirst;
    Duration mutex_timeout = std::chrono::milliseconds(500);  // matching mutex
    std::vector<mcast::InterfaceFilter> interface_filters;    // multicast.interface-filter
    mcast::Policy policy;  // filter tables (multicast.allowed-group, ...)
    std::uint32_t table = 1999; // MRT6 table of the instance (ebpf: its tc filter handle)
    pmip::mcast::Forwarding forwarding = pmip::mcast::Forwarding::kAuto;
    pmip::mcast::EbpfRouterLimits ebpf_limits;  // multicast.hold-packets / hold-ms
    // The querier on the MAG tunnels: few MAGs per tunnel (one), so short
    // response intervals cost nothing (PROTOCOL.md 6.5).
    pmip::mcast::QuerierConfig querier = [] {
        pmip::mcast::QuerierConfig q;
        q.query_response_interval = std::chrono::seconds(1);
        q.startup_query_interval = std::chrono::seconds(1);
        q.explicit_tracking = true;
        return q;
    }();
    std::uint32_t rule_priority = 1000;
    // draft-asaeda's M-Tunnel to each MAG as its downstream (made and
    // counted by LmaDaemon); static ones to these MAGs.
    MulticastTunnelConfig m_tunnel;
    std::vector<Ipv6Address> m_tunnel_mags;
};

class LmaMulticast {
  public:
    static Expected<std::unique_ptr<LmaMulticast>> create(EventLoop& loop, RouteManager& routes,
                                                          LmaMulticastConfig config);
    // A binding now uses tunnel `device` (counted per device).
    void tunnel_used(const std::string& device);
    // A binding stopped using it; the last one removes the downstream.
    void tunnel_unused(const std::string& device);
    // RFC 7161: a transferred context of an MN behind tunnel `device`: its
    // groups are set up on the tunnel's querier as an unattributed report
    // (KernelProxy::apply_context), so forwarding starts before the MAG's
    // own report; they stay only if the MAG confirms them (RFC 3810 timers,
    // Last Listener Queries on its leave).
    void apply_context(const std::string& device,
                       const std::vector<mh::ActiveMulticastSubscriptionIpv6>& subscriptions);
    // draft-asaeda PBU-M: channels the MAG behind `device` asks for in its
    // registration (checked Current-State records), set up the same way.
    void apply_records(const std::string& device, const std::vector<mh::MulticastAddressRecord>& records);
    // The filter tables at run time (KernelProxy::set_policy).
    void set_policy(const mcast::Policy& policy) { proxy_->set_policy(policy); }
    void set_interface_filters(const std::vector<mcast::InterfaceFilter>& filters) {
        proxy_->set_interface_filters(filters);
    }
    nlohmann::json show() const;

  private:
    LmaMulticast(LmaMulticastConfig config, std::unique_ptr<mcast::KernelProxy> proxy)
        : config_(std::move(config)), proxy_(std::move(proxy)) {}
    LmaMulticastConfig config_;
    std::unique_ptr<mcast::KernelProxy> proxy_;
    std::map<std::string, unsigned> users_;
    std::uint64_t added_ = 0, removed_ = 0, errors_ = 0, contexts_applied_ = 0, pbu_m_applied_ = 0;
};

}  // namespace pmip::lma
