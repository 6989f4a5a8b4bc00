// KernelProxy: the MLD proxy instance on the kernel [RFC 4605 sections 4.1,
// 4.2; RFC 3810 sections 5.1.14, 6.2, 7.4; RFC 6224 sections 3, 4.2, 6].
// show() is in kernel_proxy_show.cpp.
#include "pmip/mcast/kernel_proxy.hpp"
#include "pmip/mcast/ebpf_multicast_router.hpp"

#include <algorithm>

#include "pmip/common/event_loop.hpp"
#include "pmip/common/log.hpp"
#include "kernel_proxy_internal.hpp"

namespace pmip::mcast {

using pmip::to_string;

using detail::beyond_link_scope;
using detail::drop_log;
using detail::proxy_error;

std::string validate(const KernelProxyConfig& config) {
    if (config.name.empty())
        return "name must not be empty";
    if (config.table == 0)
        return "table must not be 0";
    if (config.upstream.empty() && config.upstream_ifindex <= 0)
        return "an upstream interface (name or ifindex) is required";
    for (std::size_t i = 0; i < config.extra_upstreams.size(); ++i) {
        const std::string& name = config.extra_upstreams[i].name;
        if (name.empty())
            return "an extra upstream needs an interface name";
        if (name == config.upstream)
            return "extra upstream " + name + " is the main upstream";
        for (std::size_t j = 0; j < i; ++j) {
            if (config.extra_upstreams[j].name == name)
                return "extra upstream " + name + " is listed twice";
        }
    }
    for (std::size_t i = 0; i < config.peerings.size(); ++i) {
        const std::string& name = config.peerings[i].name;
        if (name.empty())
            return "a peering needs an interface name";
        if (name == config.upstream)
            return "peering " + name + " is the upstream";
        for (const auto& e : config.extra_upstreams) {
            if (e.name == name)
                return "peering " + name + " is an upstream";
        }
        for (std::size_t j = 0; j < i; ++j) {
            if (config.peerings[j].name == name)
                return "peering " + name + " is listed twice";
        }
        if (config.peerings[i].report_wait < Duration::zero() ||
            config.peerings[i].report_wait > std::chrono::seconds(1))
            return "peering " + name + ": report wait must be 0 to 1000 ms";
    }
    if (config.peering_data_timeout <= Duration::zero())
        return "peering_data_timeout must be positive";
    if (config.mfc_idle_timeout <= Duration::zero())
        return "mfc_idle_timeout must be positive";
    if (config.mutex_timeout <= Duration::zero())
        return "mutex_timeout must be positive";
    if (config.link_local_retry <= Duration::zero())
        return "link_local_retry must be positive";
    return validate(config.querier);
}

Expected<std::unique_ptr<KernelProxy>> KernelProxy::create(EventLoop& loop, RouteManager& routes,
                                                           KernelProxyConfig config) {
    return create(loop, routes, std::move(config), std::unique_ptr<MulticastRouter>{});
}

Expected<std::unique_ptr<KernelProxy>> KernelProxy::create(EventLoop& loop, RouteManager& routes,
                                                           KernelProxyConfig config,
                                                           std::unique_ptr<MulticastRouter> given) {
    if (std::string problem = validate(config); !problem.empty())
        return proxy_error(config.name, problem);
    Parts parts;
    parts.interfaces = std::make_unique<KernelInterfaceDirectory>();
    int upstream = config.upstream_ifindex;
    if (upstream <= 0) {
        const auto index = parts.interfaces->index(config.upstream);
        if (!index)
            return proxy_error(config.name, "upstream " + config.upstream + ": no such interface",
                               ENODEV);
        upstream = *index;
    }
    const std::string upstream_name =
        parts.interfaces->name(upstream).value_or("#" + std::to_string(upstream));
    Expected<std::unique_ptr<MulticastRouter>> router = std::move(given);
    if (!*router) {
        Forwarding backend = config.forwarding;
        if (backend == Forwarding::kAuto) {
            auto choice = choose_forwarding(Forwarding::kAuto);
            if (!choice)
                return proxy_error(config.name, choice.error().what, choice.error().code);
            backend = choice->backend;
        }
        router = make_multicast_router(loop, backend, config.table,
                                       config.filter_handle ? config.filter_handle : config.table,
                                       config.ebpf_limits);
        if (!router)
            return proxy_error(config.name, router.error().what, router.error().code);
    }
    auto mld = make_kernel_mld_socket(loop);
    if (!mld)
        return proxy_error(config.name, mld.error().what, mld.error().code);
    auto membership = make_kernel_upstream_membership(upstream, upstream_name);
    if (!membership)
        return proxy_error(config.name, membership.error().what, membership.error().code);
    parts.router = std::move(router.value());
    parts.mld = std::move(mld.value());
    parts.upstream = std::move(membership.value());
    for (const auto& extra : config.extra_upstreams) {
        const auto index = parts.interfaces->index(extra.name);
        if (!index)
            return proxy_error(config.name, "upstream " + extra.name + ": no such interface",
                               ENODEV);
        auto m = make_kernel_upstream_membership(*index, extra.name);
        if (!m)
            return proxy_error(config.name, m.error().what, m.error().code);
        parts.extra_upstreams.push_back(std::move(m.value()));
    }
    for (const auto& peering : config.peerings) {
        const auto index = parts.interfaces->index(peering.name);
        if (!index)
            return proxy_error(config.name, "peering " + peering.name + ": no such interface",
                               ENODEV);
        auto m = make_kernel_upstream_membership(*index, peering.name);
        if (!m)
            return proxy_error(config.name, m.error().what, m.error().code);
        parts.peerings.push_back(std::move(m.value()));
    }
    parts.make_membership = [](int ifindex, const std::string& name) {
        return make_kernel_upstream_membership(ifindex, name);
    };
    parts.max_mifs = static_cast<MifIndex>(std::min<std::size_t>(parts.router->max_mifs(), 65535));
    return create(loop, routes, std::move(config), std::move(parts));
}

Expected<std::unique_ptr<KernelProxy>> KernelProxy::create(Timers& timers, RouteManager& routes,
                                                           KernelProxyConfig config, Parts parts) {
    if (std::string problem = validate(config); !problem.empty())
        return proxy_error(config.name, problem);
    if (!parts.router || !parts.mld || !parts.upstream || !parts.interfaces ||
        parts.extra_upstreams.size() != config.extra_upstreams.size() ||
        parts.peerings.size() != config.peerings.size())
        return proxy_error(config.name, "missing adapter");
    for (const auto& m : parts.peerings) {
        if (!m)
            return proxy_error(config.name, "missing adapter");
    }
    for (const auto& m : parts.extra_upstreams) {
        if (!m)
            return proxy_error(config.name, "missing adapter");
    }
    if (parts.max_mifs <= config.extra_upstreams.size() + config.peerings.size())
        return proxy_error(config.name,
                           "max_mifs must be more than the extra upstreams and peerings");
    std::unique_ptr<KernelProxy> proxy(
        new KernelProxy(timers, routes, std::move(config), std::move(parts)));
    if (Status s = proxy->start(); !s)
        return s.error();
    return proxy;
}

KernelProxy::KernelProxy(Timers& timers, RouteManager& routes, KernelProxyConfig config,
                         Parts parts)
    : timers_(timers),
      routes_(routes),
      config_(std::move(config)),
      parts_(std::move(parts)),
      rules_(
          [this] {
              std::vector<std::vector<SourceGroupRule>> rules;
              for (const auto& e : config_.extra_upstreams) rules.push_back(e.rules);
              rules.push_back(config_.upstream_rules);
              return rules;
          }(),
          config_.matching) {
    ProxyInstanceOutput& output = *this;
    instance_ = std::make_unique<ProxyInstance>(timers_, output, config_.policy, context());
}

Status KernelProxy::start() {
    auto& dir = *parts_.interfaces;
    int ifindex = config_.upstream_ifindex;
    if (ifindex <= 0) {
        const auto index = dir.index(config_.upstream);
        if (!index)
            return proxy_error(config_.name, "upstream " + config_.upstream + ": no such interface",
                               ENODEV);
        ifindex = *index;
    }
    upstream_.ifindex = ifindex;
    upstream_.name = dir.name(ifindex).value_or(config_.upstream);
    upstream_.mif = 0;
    mif_owner_.assign(parts_.max_mifs, 0);
    if (Status s = parts_.router->add_mif(0, ifindex, upstream_.name); !s)
        return proxy_error(config_.name, s.error().what, s.error().code);
    upstream_.mif_installed = true;
    if (Status s = add_rule(upstream_); !s)
        return proxy_error(config_.name, s.error().what, s.error().code);
    for (const auto& extra : config_.extra_upstreams) {
        Interface u;
        u.name = extra.name;
        const auto index = dir.index(extra.name);
        if (!index)
            return proxy_error(config_.name, "upstream " + extra.name + ": no such interface",
                               ENODEV);
        u.ifindex = *index;
        if (u.ifindex == upstream_.ifindex)
            return proxy_error(config_.name, "extra upstream " + u.name + " is the main upstream",
                               EINVAL);
        u.mif = static_cast<MifIndex>(extras_.size() + 1);
        if (Status s = parts_.router->add_mif(u.mif, u.ifindex, u.name); !s)
            return proxy_error(config_.name, s.error().what, s.error().code);
        u.mif_installed = true;
        mif_owner_[u.mif] = u.ifindex;
        extras_.push_back(std::move(u));
        if (Status s = add_rule(extras_.back()); !s)
            return proxy_error(config_.name, s.error().what, s.error().code);
    }
    upstream_tables_ = upstream_tables();
    // Match order: the extras, then the main upstream.
    std::string names = extras_.empty() ? "upstream " : "upstreams ";
    for (std::size_t i = 0; i <= main_upstream(); ++i) names += (i ? ", " : "") + upstream_at(i).name;
    if (!extras_.empty())
        names += " (matching " + std::string(to_string(config_.matching)) + ")";
    if (Status s = start_peerings(); !s)
        return s;
    for (const auto& p : config_.peerings) names += ", peering " + p.name;
    parts_.router->set_upcall_handler([this](const Upcall& u) { on_upcall(u); });
    parts_.mld->set_handler([this](const ReceivedMld& m) { on_mld(m); });
    PMIP_INFO(kMld, context(),
              "started: table " + std::to_string(config_.table) + ", " + names);
    return {};
}

KernelProxy::~KernelProxy() {
    shutting_down_ = true;
    if (idle_timer_)
        timers_.cancel_timer(idle_timer_);
    if (mutex_timer_)
        timers_.cancel_timer(mutex_timer_);
    parts_.router->set_upcall_handler({});
    parts_.mld->set_handler({});
    // Every (S,G) entry, then the downstreams (their queriers, state, MIFs,
    // rules, router groups), then whatever the upstream still holds.
    std::vector<std::pair<Ipv6Address, Ipv6Address>> all;
    for (const auto& [g, sources] : routes_by_group_)
        for (const auto& [s, r] : sources) all.emplace_back(s, g);
    for (const auto& [s, g] : all) delete_route(s, g);
    for (const auto& [g, outputs] : group_entries_) {
        if (Status st = parts_.router->delete_group_entry(g); !st) {
            ++counters_.group_entry_errors;
            PMIP_WARNING(kMld, context(), st.error().what);
        }
    }
    group_entries_.clear();
    std::vector<std::string> names;
    for (const auto& [ifindex, d] : downstreams_) names.push_back(d.name);
    for (const auto& n : names) (void)remove_downstream(n);
    for (auto& [ifindex, d] : prepared_) remove_downstream_kernel_state(d);
    prepared_.clear();
    for (const auto& g : instance_->database().groups()) {
        (void)parts_.upstream->set(g, MembershipState{});
        for (auto& m : parts_.extra_upstreams) (void)m->set(g, MembershipState{});
    }
    stop_peerings();
    instance_.reset();
    for (auto& u : extras_) {
        if (u.mif_installed) {
            if (Status s = parts_.router->delete_mif(u.mif); !s) {
                ++counters_.mfc_errors;
                PMIP_WARNING(kMld, context(), s.error().what);
            }
        }
        remove_rule(u);
    }
    if (!upstream_.mif_installed) {
        // create() failed before the upstream MIF existed: nothing else either.
    } else if (Status s = parts_.router->delete_mif(upstream_.mif); !s) {
        ++counters_.mfc_errors;
        PMIP_WARNING(kMld, context(), s.error().what);
    }
    remove_rule(upstream_);
    PMIP_INFO(kMld, context(), "stopped");
}

// --- rules ------------------------------------------------------------------

// The ip6mr rule of `interface`: packets arriving on it use this instance's table.
MulticastRule KernelProxy::rule_of(const Interface& interface) const {
    MulticastRule rule;
    rule.iif = interface.name;
    rule.table = config_.table;
    rule.priority = config_.rule_priority;
    return rule;
}

Status KernelProxy::add_rule(Interface& interface) {
    if (!parts_.router->needs_ip6mr_rules())
        return {};
    if (Status s = routes_.add(rule_of(interface)); !s) {
        ++counters_.rule_errors;
        return s;
    }
    interface.rule_installed = true;
    return {};
}

void KernelProxy::remove_rule(Interface& interface) {
    if (!interface.rule_installed)
        return;
    if (Status s = routes_.remove(rule_of(interface)); !s) {
        ++counters_.rule_errors;
        PMIP_WARNING(kMld, context(), s.error().what);
    }
    interface.rule_installed = false;
}

// --- downstreams -----------------------------------------------------------

std::optional<MifIndex> KernelProxy::free_mif() const {
    for (std::size_t m = 0; m < mif_owner_.size(); ++m)
        if (m != upstream_.mif && mif_owner_[m] == 0)
            return static_cast<MifIndex>(m);
    return std::nullopt;
}

Status KernelProxy::add_downstream(const std::string& ifname) {
    return add_downstream(ifname, config_.querier);
}

Status KernelProxy::add_downstream(const std::string& ifname, const QuerierConfig& config) {
    return add_downstream(ifname, config, std::nullopt);
}

Status KernelProxy::add_downstream(const std::string& ifname, const QuerierConfig& config,
                                   std::optional<TimePoint> early_query_sent_at) {
    if (std::string problem = validate(config); !problem.empty())
        return proxy_error(config_.name, "downstream " + ifname + ": " + problem);
    const auto index = downstream_index(ifname);
    if (!index)
        return index.error();
    const int ifindex = *index;
    if (downstreams_.contains(ifindex))
        return proxy_error(config_.name, "downstream " + ifname + ": already a downstream", EEXIST);
    Interface d;
    if (const auto p = prepared_.find(ifindex); p != prepared_.end()) {
        d = std::move(p->second);  // its kernel state is in already
        prepared_.erase(p);
        ++counters_.downstreams_prepared_used;
    } else {
        d.name = ifname;
        d.ifindex = ifindex;
        if (Status s = install_downstream_kernel_state(d); !s)
            return s;
    }
    d.querier = config;
    d.early_query = early_query_sent_at;
    const MifIndex mif = d.mif;
    downstreams_.emplace(ifindex, std::move(d));
    // Entries of traffic that arrived on the link while it was prepared.
    for (auto& [g, sources] : routes_by_group_) {
        for (auto& [s, r] : sources) {
            if (r.parent == mif)
                install(s, g, r, outputs_for(s, g, mif), false);
        }
    }
    ++counters_.downstreams_added;
    try_start_downstream(ifindex);
    return {};
}

Status KernelProxy::install_downstream_kernel_state(Interface& d) {
    const auto mif = free_mif();
    if (!mif) {
        return proxy_error(config_.name,
                           "downstream " + d.name + ": all " + std::to_string(parts_.max_mifs) +
                               " MIFs of table " + std::to_string(config_.table) +
                               " in use (kernel MAXMIFS)",
                           ENOSPC);
    }
    d.mif = *mif;
    if (Status s = parts_.router->add_mif(d.mif, d.ifindex, d.name); !s)
        return proxy_error(config_.name, s.error().what, s.error().code);
    if (Status s = add_rule(d); !s) {
        (void)parts_.router->delete_mif(d.mif);
        return proxy_error(config_.name, s.error().what, s.error().code);
    }
    if (!config_.downstream_mld) {
        // No MLD there: the router groups are not joined.
    } else if (Status s = parts_.mld->join_router_groups(d.ifindex); !s) {
        remove_rule(d);
        (void)parts_.router->delete_mif(d.mif);
        return proxy_error(config_.name, s.error().what, s.error().code);
    }
    mif_owner_[d.mif] = d.ifindex;
    return {};
}

void KernelProxy::remove_downstream_kernel_state(Interface& d) {
    if (config_.downstream_mld)
        parts_.mld->leave_router_groups(d.ifindex);
    if (Status s = parts_.router->delete_mif(d.mif); !s) {
        ++counters_.mfc_errors;
        PMIP_WARNING(kMld, context(), s.error().what);
    }
    remove_rule(d);
    mif_owner_[d.mif] = 0;
}

Expected<int> KernelProxy::downstream_index(const std::string& ifname) const {
    const auto index = parts_.interfaces->index(ifname);
    if (!index)
        return proxy_error(config_.name, "downstream " + ifname + ": no such interface", ENODEV);
    if (*index == upstream_.ifindex)
        return proxy_error(config_.name, "downstream " + ifname + ": is the upstream", EINVAL);
    for (const auto& u : extras_) {
        if (*index == u.ifindex)
            return proxy_error(config_.name, "downstream " + ifname + ": is an upstream", EINVAL);
    }
    for (const auto& p : config_.peerings) {
        if (p.name == ifname)
            return proxy_error(config_.name, "downstream " + ifname + ": is a peering", EINVAL);
    }
    return *index;
}

Status KernelProxy::prepare_downstream(const std::string& ifname) {
    const auto index = downstream_index(ifname);
    if (!index)
        return index.error();
    const int ifindex = *index;
    if (downstreams_.contains(ifindex) || prepared_.contains(ifindex))
        return {};  // nothing to do ahead
    Interface d;
    d.name = ifname;
    d.ifindex = ifindex;
    if (Status s = install_downstream_kernel_state(d); !s)
        return s;
    prepared_.emplace(ifindex, std::move(d));
    ++counters_.downstreams_prepared;
    PMIP_DEBUG(kMld, context(), "downstream " + ifname + " prepared (MIF, rule, router groups)");
    return {};
}

void KernelProxy::unprepare_downstream(const std::string& ifname) {
    const auto it = std::find_if(prepared_.begin(), prepared_.end(),
                                 [&](const auto& entry) { return entry.second.name == ifname; });
    if (it == prepared_.end())
        return;
    const MifIndex mif = it->second.mif;
    std::vector<std::pair<Ipv6Address, Ipv6Address>> doomed;  // entries of its traffic
    for (const auto& [g, sources] : routes_by_group_) {
        for (const auto& [s, r] : sources) {
            if (r.parent == mif)
                doomed.emplace_back(s, g);
        }
    }
    for (const auto& [s, g] : doomed) delete_route(s, g);
    remove_downstream_kernel_state(it->second);
    prepared_.erase(it);
    ++counters_.downstreams_unprepared;
}

bool KernelProxy::has_prepared_downstream(const std::string& ifname) const {
    return std::any_of(prepared_.begin(), prepared_.end(),
                       [&](const auto& entry) { return entry.second.name == ifname; });
}

// Starts the querier once the link-local address is usable (RFC 3810
// section 5.1.14); until then polls, 1 ms first, doubling up to
// link_local_retry.
void KernelProxy::try_start_downstream(int ifindex) {
    const auto it = downstreams_.find(ifindex);
    if (it == downstreams_.end())
        return;
    Interface& d = it->second;
    d.retry_timer = 0;
    const auto ll = parts_.interfaces->link_local(ifindex);
    if (!ll || !ll->usable) {
        PMIP_DEBUG(kMld, context(),
                   "downstream " + d.name + ": waiting for a usable link-local address");
        d.retry_delay = d.retry_delay == Duration::zero()
                            ? std::min<Duration>(std::chrono::milliseconds(1), config_.link_local_retry)
                            : std::min<Duration>(2 * d.retry_delay, config_.link_local_retry);
        d.retry_timer = timers_.start_timer(d.retry_delay,
                                            [this, ifindex] { try_start_downstream(ifindex); });
        return;
    }
    d.link_local = ll->address;
    d.started = true;
    std::optional<TimePoint> early = d.early_query;
    if (early) {
        const Duration age = timers_.clock().now() - *early;
        if (age <= d.querier.query_response_interval + kEarlyQueryGrace) {
            ++counters_.early_queries_adopted;
        } else {
            ++counters_.early_queries_too_old;
            early.reset();
        }
    }
    PMIP_INFO(kMld, context(),
              "downstream " + d.name + " (ifindex " + std::to_string(ifindex) + ", MIF " +
                  std::to_string(d.mif) + ", " + to_string(d.link_local) + ") added" +
                  (early ? ", the early General Query counts as its first" : ""));
    instance_->add_downstream(static_cast<InterfaceId>(ifindex), d.link_local, d.querier, early);
    if (d.policy) {
        instance_->set_downstream_policy(static_cast<InterfaceId>(ifindex), std::move(*std::exchange(d.policy, {})));
    } else if (Policy link = interface_policy(config_.interface_filters, d.name); link != Policy{}) {
        DownstreamPolicy own;
        own.link = std::move(link);
        instance_->set_downstream_policy(static_cast<InterfaceId>(ifindex), std::move(own));
    }
    if (!d.statics.empty())
        instance_->set_static_subscriptions(static_cast<InterfaceId>(ifindex), std::exchange(d.statics, {}));
    if (!d.context.empty())
        instance_->apply_context(static_cast<InterfaceId>(ifindex), std::exchange(d.context, {}));
    // Messages held until now, in arrival order.
    std::vector<ReceivedMld> held = std::move(d.held);
    d.held.clear();
    for (const ReceivedMld& m : held) process_mld(m);  // counted when held
}

std::vector<LinkSubscription> KernelProxy::subscriptions(const std::string& ifname) const {
    for (const auto& [ifindex, d] : downstreams_) {
        if (d.name != ifname)
            continue;
        if (!d.started) {  // not started yet: only what was handed to it
            std::vector<LinkSubscription> out;
            for (const auto& r : d.context) out.push_back({r, false});
            return out;
        }
        return instance_->subscriptions(static_cast<InterfaceId>(ifindex));
    }
    return {};
}

std::pair<int, KernelProxy::Interface*> KernelProxy::downstream_named(const std::string& ifname) {
    for (auto& [ifindex, d] : downstreams_) {
        if (d.name == ifname)
            return {ifindex, &d};
    }
    return {0, nullptr};
}

Status KernelProxy::apply_context(const std::string& ifname, std::vector<MulticastAddressRecord> records) {
    const auto [ifindex, d] = downstream_named(ifname);
    if (d == nullptr)
        return proxy_error(config_.name, "apply_context: " + ifname + " is not a downstream");
    counters_.context_records += records.size();
    if (!d->started)
        d->context.insert(d->context.end(), records.begin(), records.end());
    else
        instance_->apply_context(static_cast<InterfaceId>(ifindex), std::move(records));
    return {};
}

Status KernelProxy::set_static_subscriptions(const std::string& ifname,
                                             StaticSubscriptions subscriptions) {
    const auto [ifindex, d] = downstream_named(ifname);
    if (d == nullptr)
        return proxy_error(config_.name, "set_static_subscriptions: " + ifname + " is not a downstream");
    if (!d->started)
        d->statics = std::move(subscriptions);
    else
        instance_->set_static_subscriptions(static_cast<InterfaceId>(ifindex), std::move(subscriptions));
    return {};
}

Status KernelProxy::set_downstream_policy(const std::string& ifname, DownstreamPolicy policy) {
    const auto [ifindex, d] = downstream_named(ifname);
    if (d == nullptr)
        return proxy_error(config_.name, "set_downstream_policy: " + ifname + " is not a downstream");
    policy.link = interface_policy(config_.interface_filters, ifname);
    if (!d->started)
        d->policy = std::move(policy);
    else
        instance_->set_downstream_policy(static_cast<InterfaceId>(ifindex), std::move(policy));
    return {};
}

void KernelProxy::receive_captured(const ReceivedMld& message) {
    ++counters_.captured_received;
    on_mld(message);
}

Status KernelProxy::remove_downstream(const std::string& ifname) {
    auto it = std::find_if(downstreams_.begin(), downstreams_.end(),
                           [&](const auto& entry) { return entry.second.name == ifname; });
    if (it == downstreams_.end())
        return proxy_error(config_.name, "downstream " + ifname + ": not a downstream", ENOENT);
    const int ifindex = it->first;
    if (it->second.retry_timer)
        timers_.cancel_timer(it->second.retry_timer);
    // The database drops the link's state: upstream leaves and output
    // changes (the MIF is still known while that happens).
    if (it->second.started)
        instance_->remove_downstream(static_cast<InterfaceId>(ifindex));
    const MifIndex mif = it->second.mif;
    // Entries whose traffic arrived on this link go; no entry may keep the
    // MIF as an output (the kernel does not clean them when a MIF goes).
    std::vector<std::pair<Ipv6Address, Ipv6Address>> doomed;
    for (auto& [g, sources] : routes_by_group_) {
        for (auto& [s, r] : sources) {
            if (r.parent == mif) {
                doomed.emplace_back(s, g);
            } else if (r.outputs.contains(mif) && !shutting_down_) {
                MifSet outputs = r.outputs;
                outputs.erase(mif);
                install(s, g, r, std::move(outputs), false);
            }
        }
    }
    for (const auto& [s, g] : doomed) delete_route(s, g);
    if (!shutting_down_) {
        std::vector<std::pair<Ipv6Address, MifSet>> changed;
        for (const auto& [g, outputs] : group_entries_) {
            if (!outputs.contains(mif))
                continue;
            MifSet next = outputs;
            next.erase(mif);
            changed.emplace_back(g, std::move(next));
        }
        for (auto& [g, next] : changed) write_group_entry(g, std::move(next));
    }
    it = downstreams_.find(ifindex);
    remove_downstream_kernel_state(it->second);
    downstreams_.erase(it);
    ++counters_.downstreams_removed;
    PMIP_INFO(kMld, context(), "downstream " + ifname + " removed");
    return {};
}

std::vector<std::string> KernelProxy::downstreams() const {
    std::vector<std::string> out;
    for (const auto& [i, d] : downstreams_) out.push_back(d.name);
    return out;
}

bool KernelProxy::has_downstream(const std::string& ifname) const {
    return std::any_of(downstreams_.begin(), downstreams_.end(),
                       [&](const auto& entry) { return entry.second.name == ifname; });
}

void KernelProxy::set_policy(Policy policy) {
    config_.policy = policy;
    instance_->set_policy(std::move(policy));
    recompute_all();
}

std::vector<Policy> KernelProxy::upstream_tables() const {
    std::vector<Policy> tables;
    for (std::size_t i = 0; i <= main_upstream(); ++i)
        tables.push_back(interface_policy(config_.interface_filters, upstream_at(i).name));
    return tables;
}

void KernelProxy::set_interface_filters(std::vector<InterfaceFilter> filters) {
    if (filters == config_.interface_filters)
        return;
    config_.interface_filters = std::move(filters);
    // Upstreams: each group's report redone from the old table to the new.
    std::vector<Policy> old_tables = std::exchange(upstream_tables_, upstream_tables());
    for (const auto& g : instance_->database().groups()) {
        if (!beyond_link_scope(g))
            continue;
        MembershipState merged = instance_->database().upstream_state(g);
        if (!peerings_.empty()) {
            const auto held = upstream_held_.find(g);
            merged = held == upstream_held_.end() ? MembershipState{} : held->second;
        }
        for (std::size_t i = 0; i <= main_upstream(); ++i) {
            const MembershipState part = rules_.trivial() ? merged : rules_.project(i, g, merged);
            const MembershipState o = old_tables[i].apply(g, part);
            const MembershipState n = upstream_tables_[i].apply(g, part);
            if (o != n) {
                set_upstream_on(upstream_at(i), upstream_membership(i), g, o, n, false);
            }
        }
    }
    // Downstreams: each link's own table restated.
    for (auto& [ifindex, d] : downstreams_) {
        const auto id = static_cast<InterfaceId>(ifindex);
        if (!d.started) {
            if (d.policy)
                d.policy->link = interface_policy(config_.interface_filters, d.name);
            continue;
        }
        DownstreamPolicy own;
        if (const DownstreamPolicy* now = instance_->downstream_policy(id))
            own = *now;
        own.link = interface_policy(config_.interface_filters, d.name);
        instance_->set_downstream_policy(id, std::move(own));
    }
    recompute_all();
}

// --- MLD in and out --------------------------------------------------------

void KernelProxy::on_mld(const ReceivedMld& m) {
    ++counters_.mld_received;
    process_mld(m);
}

namespace {
void log_drop(const std::string& context, const ReceivedMld& m, const char* why) {
    if (log::debug_enabled(log::Category::kMld) && drop_log().allow()) {
        PMIP_DEBUG(kMld, context,
                   std::string("dropped MLD from ") + to_string(m.source) + " ifindex " +
                       std::to_string(m.ifindex) + ": " + why);
    }
}
}  // namespace

void KernelProxy::process_mld(const ReceivedMld& m) {
    if (Peering* p = peering_by_ifindex(m.ifindex))
        return process_peering_mld(*p, m);
    const auto it = downstreams_.find(m.ifindex);
    auto drop = [&](std::uint64_t& counter, const char* why) {
        ++counter;
        log_drop(context(), m, why);
    };
    if (it == downstreams_.end())
        return drop(counters_.drop_not_downstream, "not a downstream");
    if (!config_.downstream_mld)
        return drop(counters_.drop_downstream_mld_off, "no MLD on the downstreams (listener)");
    Interface& d = it->second;
    if (!d.started) {
        // A report that comes before the querier can start (a new tunnel's
        // link-local still tentative) is kept for the start, not lost.
        if (d.held.size() >= kMaxHeld)
            return drop(counters_.drop_waiting_link_local, "downstream not started, enough held");
        ++counters_.held_waiting_link_local;
        d.held.push_back(m);
        return;
    }
    const std::optional<MldMessage> message = checked(m, d.link_local);
    if (!message)
        return;
    ++counters_.mld_accepted;
    instance_->receive(static_cast<InterfaceId>(m.ifindex), m.source, *message);
}

std::optional<MldMessage> KernelProxy::checked(const ReceivedMld& m, const Ipv6Address& own) {
    auto drop = [&](std::uint64_t& counter, const char* why) -> std::optional<MldMessage> {
        ++counter;
        log_drop(context(), m, why);
        return std::nullopt;
    };
    // Our own messages come back through multicast loopback (queries sent on
    // the raw socket, i.e. on links without an Ethernet header, and the host
    // part's reports for ff02::16 / ff02::2 on this link). Nothing relies on
    // them: frames from the link-layer sender are not looped back at all.
    if (m.source == own)
        return drop(counters_.drop_own_message, "own message");
    // RFC 3810 sections 5.1.14, 6.2, 7.4 (RFC 2710 section 3 for MLDv1):
    // link-local source (the unspecified address is not), Hop Limit 1,
    // Router Alert; else drop without looking at the contents.
    if (!is_link_local(m.source))
        return drop(counters_.drop_source_not_link_local, "source not link-local");
    if (m.hop_limit != 1)
        return drop(counters_.drop_hop_limit, "hop limit not 1");
    if (!m.router_alert)
        return drop(counters_.drop_no_router_alert, "no Router Alert");
    ParseConfig pc;
    pc.skip_unknown_record_types = true;  // RFC 3810 section 5.2.12
    const ParseResult r = parse_with_checksum(m.icmp, m.source, m.destination, pc);
    if (const auto* e = std::get_if<ParseError>(&r)) {
        if (e->kind == ParseErrorKind::kBadChecksum)
            return drop(counters_.drop_bad_checksum, "bad checksum");
        return drop(counters_.drop_parse_error, to_string(e->kind).data());
    }
    const Parsed& p = std::get<Parsed>(r);
    counters_.unknown_records_skipped += p.skipped_records;
    return p.message;
}

void KernelProxy::send_query(InterfaceId downstream, const Ipv6Address& destination,
                             const MldMessage& query) {
    if (!config_.downstream_mld) {
        ++counters_.queries_not_sent_mld_off;
        return;
    }
    const auto it = downstreams_.find(static_cast<int>(downstream));
    if (it == downstreams_.end() || !it->second.started) {
        ++counters_.queries_not_sent_no_link_local;
        return;
    }
    SerializeError error{};
    const std::vector<std::uint8_t> octets = serialize(query, &error);
    if (octets.empty()) {
        ++counters_.query_serialize_errors;
        PMIP_WARNING(kMld, context(),
                     "downstream " + it->second.name +
                         ": query not serialized: " + std::string(to_string(error)));
        return;
    }
    if (Status s = parts_.mld->send(it->first, it->second.link_local, destination, octets); !s) {
        ++counters_.query_send_errors;
        if (drop_log().allow())
            PMIP_WARNING(kMld, context(), s.error().what);
        return;
    }
    ++counters_.queries_sent;
}

void KernelProxy::upstream_membership_changed(const Ipv6Address& group,
                                              const MembershipState& old_state,
                                              const MembershipState& new_state) {
    // Link-local (and smaller) scope traffic never leaves its link [RFC 4291
    // section 2.7], so such groups (e.g. solicited-node ff02::1:ffxx:xxxx)
    // are tracked on the downstream but never joined upstream.
    if (!beyond_link_scope(group)) {
        ++counters_.upstream_link_scope_skipped;
        return;
    }
    if (!peerings_.empty())
        return peering_upstream_changed(group, old_state, new_state);
    apply_upstream(group, old_state, new_state);
}

void KernelProxy::apply_upstream(const Ipv6Address& group, const MembershipState& old_state,
                                 const MembershipState& new_state) {
    if (rules_.trivial()) {
        set_upstream(main_upstream(), group, old_state, new_state);
        return;
    }
    // Several upstreams: each gets its part (upstream_rules.hpp), and what
    // each accepts may have changed for the group's entries.
    for (std::size_t i = 0; i < rules_.size(); ++i) {
        const MembershipState o = rules_.project(i, group, old_state);
        const MembershipState n = rules_.project(i, group, new_state);
        if (o != n)
            set_upstream(i, group, o, n);
    }
    if (shutting_down_)
        return;
    rehome_upstream_routes(group);
    forwarding_changed(group);
}

// An (S, group) entry waiting for data on an upstream that no longer serves
// that source (the group went from EXCLUDE to INCLUDE, so a source-specific
// rule now takes it) moves to the one that does: its data arrives there, and
// an entry with the wrong parent forwards nothing (ebpf: not even an upcall).
void KernelProxy::rehome_upstream_routes(const Ipv6Address& group) {
    const auto git = routes_by_group_.find(group);
    if (git == routes_by_group_.end())
        return;
    for (auto& [s, r] : git->second) {
        const auto from = upstream_of_mif(r.parent);
        if (!from || upstream_accepts(*from, s, group))
            continue;
        const MifIndex to = upstream_mif_for(s, group);
        const auto to_index = upstream_of_mif(to);
        if (to == r.parent || !to_index || !upstream_accepts(*to_index, s, group))
            continue;
        const MifIndex was = r.parent;
        r.parent = to;
        if (!install(s, group, r, outputs_for(s, group, to), true))
            r.parent = was;  // the kernel still has the old entry
    }
}

void KernelProxy::set_upstream(std::size_t index, const Ipv6Address& group,
                               const MembershipState& old_state, const MembershipState& new_state) {
    UpstreamMembership& m = upstream_membership(index);
    // The upstream's own filter table: what it may be asked for.
    const Policy& table = upstream_tables_[index];
    const MembershipState o = table.apply(group, old_state);
    const MembershipState n = table.apply(group, new_state);
    if (o != n)
        set_upstream_on(upstream_at(index), m, group, o, n, false);
}

void KernelProxy::set_upstream_on(Interface& u, UpstreamMembership& m, const Ipv6Address& group,
                                  const MembershipState& old_state,
                                  const MembershipState& new_state, bool peering) {
    ++(peering ? counters_.peering_membership_changes : counters_.upstream_changes);
    PMIP_INFO(kMld, context(),
              (peering ? "peering " : "upstream ") + u.name + " " + to_string(group) + ": " +
                  to_string(old_state) + " -> " + to_string(new_state));
    if (Status s = m.set(group, new_state); !s) {
        ++(peering ? counters_.peering_errors : counters_.upstream_errors);
        PMIP_WARNING(kMld, context(), s.error().what);
        return;
    }
    report_upstream_change(u, group, old_state, new_state, peering);
}

// RFC 3810 section 6.1: a change of an interface's state is reported at once.
// The kernel's host part, which holds the membership, sends its own State
// Change Report two jiffies later (8 ms at HZ=250) and repeats it
// [Robustness Variable]; this one goes first so the querier upstream (the
// LMA, RFC 6224 section 4.3) updates its forwarding without that wait, which
// is part of a handover's multicast gap. Same records, same source (the
// upstream link-local) as the kernel's; a duplicate report changes nothing
// at a querier.
void KernelProxy::report_upstream_change(Interface& upstream, const Ipv6Address& group,
                                         const MembershipState& old_state,
                                         const MembershipState& new_state, bool peering) {
    if (upstream.link_local == Ipv6Address{}) {
        const auto ll = parts_.interfaces->link_local(upstream.ifindex);
        if (!ll || !ll->usable) {
            ++(peering ? counters_.peering_errors
                       : counters_.upstream_reports_not_sent_no_link_local);
            return;
        }
        upstream.link_local = ll->address;
    }
    Mldv2Report report;
    report.records = state_change_records(group, old_state, new_state);
    if (report.records.empty())
        return;
    SerializeError error{};
    const std::vector<std::uint8_t> octets = serialize(MldMessage{report}, &error);
    if (octets.empty()) {
        ++(peering ? counters_.peering_errors : counters_.upstream_report_errors);
        return;
    }
    if (Status s = parts_.mld->send(upstream.ifindex, upstream.link_local, kAllMldv2Routers, octets);
        !s) {
        ++(peering ? counters_.peering_errors : counters_.upstream_report_errors);
        if (drop_log().allow())
            PMIP_WARNING(kMld, context(), "upstream report: " + s.error().what);
        return;
    }
    ++(peering ? counters_.peering_reports_sent : counters_.upstream_reports_sent);
}

// --- forwarding ---------------------------------------------------------------

std::vector<int> KernelProxy::upstream_ifindexes() const {
    std::vector<int> out;
    for (std::size_t i = 0; i <= main_upstream(); ++i) out.push_back(upstream_at(i).ifindex);
    return out;
}

std::optional<std::size_t> KernelProxy::upstream_of_mif(MifIndex mif) const {
    if (mif == upstream_.mif)
        return main_upstream();
    for (std::size_t i = 0; i < extras_.size(); ++i) {
        if (extras_[i].mif == mif)
            return i;
    }
    return std::nullopt;
}

bool KernelProxy::upstream_accepts(std::size_t index, const Ipv6Address& source,
                                   const Ipv6Address& group) const {
    if (index < upstream_tables_.size()) {
        const Policy& table = upstream_tables_[index];
        if (!table.admits_group(group) || !table.admits_source(source, group))
            return false;
    }
    if (rules_.trivial())
        return true;
    return rules_.accepts(index, source, group, instance_->database().upstream_state(group));
}

MifIndex KernelProxy::upstream_mif_for(const Ipv6Address& source, const Ipv6Address& group) const {
    if (rules_.trivial())
        return upstream_.mif;
    for (std::size_t i = 0; i < rules_.size(); ++i) {
        if (upstream_accepts(i, source, group))
            return upstream_at(i).mif;
    }
    return upstream_.mif;
}

std::size_t KernelProxy::accepting_upstreams(const Ipv6Address& source, const Ipv6Address& group) const {
    if (rules_.trivial())
        return 1;
    std::size_t n = 0;
    for (std::size_t i = 0; i < rules_.size(); ++i) n += upstream_accepts(i, source, group) ? 1 : 0;
    return n;
}

MifIndex KernelProxy::star_parent(const Ipv6Address& group) const {
    const std::size_t i = rules_.any_source_upstream(group);
    return i < rules_.size() ? upstream_at(i).mif : upstream_.mif;
}

const KernelProxy::Interface* KernelProxy::interface_by_mif(MifIndex mif) const {
    if (const auto u = upstream_of_mif(mif))
        return &upstream_at(*u);
    if (mif >= mif_owner_.size() || mif_owner_[mif] == 0)
        return nullptr;
    if (const auto p = peering_of_mif(mif))
        return &peering_interface(*p);
    const auto it = downstreams_.find(mif_owner_[mif]);
    return it == downstreams_.end() ? nullptr : &it->second;
}

// RFC 4605 section 4.2.
MifSet KernelProxy::outputs_for(const Ipv6Address& source, const Ipv6Address& group,
                                MifIndex parent) const {
    MifSet out;
    std::optional<InterfaceId> arrival;
    if (const auto u = upstream_of_mif(parent)) {
        if (!upstream_accepts(*u, source, group))
            return out;  // another upstream serves it (upstream_rules.hpp)
    } else if (peering_of_mif(parent)) {
        // RFC 7287 section 5: data from a peering goes to the downstreams
        // only, never upstream (the peer sends it there itself) nor to
        // another peering (no multi-hop forwarding).
    } else {
        const Interface* in = interface_by_mif(parent);
        if (!in)
            return out;
        arrival = static_cast<InterfaceId>(in->ifindex);
        // From a downstream: also upstream.
        auto table_admits = [&](std::size_t i) {
            const Policy& t = upstream_tables_[i];
            return t.admits_group(group) && t.admits_source(source, group);
        };
        if (rules_.trivial()) {
            if (table_admits(main_upstream()))
                out.insert(upstream_.mif);
        } else {
            for (std::size_t i : rules_.targets(source, group)) {
                if (table_admits(i))
                    out.insert(upstream_at(i).mif);
            }
        }
        for (std::size_t i = 0; i < peerings_.size(); ++i) {
            if (peering_forwards(i, source, group, *in))
                out.insert(peering_interface(i).mif);
        }
    }
    for (InterfaceId id : instance_->downstreams_for(source, group, arrival)) {
        const auto it = downstreams_.find(static_cast<int>(id));
        if (it != downstreams_.end())
            out.insert(it->second.mif);
    }
    return out;
}

bool KernelProxy::install(const Ipv6Address& source, const Ipv6Address& group, Route& route,
                          MifSet outputs, bool is_new) {
    if (!is_new && outputs == route.outputs)
        return true;
    if (Status s = parts_.router->add_mfc(source, group, route.parent, outputs); !s) {
        ++counters_.mfc_errors;
        if (drop_log().allow())
            PMIP_WARNING(kMld, context(), s.error().what);
        return false;
    }
    route.outputs = std::move(outputs);
    ++(is_new ? counters_.mfc_adds : counters_.mfc_updates);
    return true;
}

void KernelProxy::delete_route(const Ipv6Address& source, const Ipv6Address& group) {
    const auto git = routes_by_group_.find(group);
    if (git == routes_by_group_.end())
        return;
    const auto sit = git->second.find(source);
    if (sit == git->second.end())
        return;
    if (Status s = parts_.router->delete_mfc(source, group); !s) {
        ++counters_.mfc_errors;
        PMIP_WARNING(kMld, context(), s.error().what);
    }
    ++counters_.mfc_deletes;
    git->second.erase(sit);
    --route_count_;
    if (git->second.empty())
        routes_by_group_.erase(git);
}

// Every downstream's wish for `group` (policy change, querier change).
void KernelProxy::forwarding_changed(const Ipv6Address& group) {
    if (shutting_down_)
        return;
    recompute_group_entry(group);
    const auto git = routes_by_group_.find(group);
    if (git == routes_by_group_.end())
        return;
    for (auto& [s, r] : git->second) install(s, group, r, outputs_for(s, group, r.parent), false);
}

// One downstream's wish for `group` changed: update that one output of each
// (S, group) entry; O(sources of the group), independent of its members.
void KernelProxy::downstream_forwarding_changed(const Ipv6Address& group, InterfaceId downstream) {
    if (shutting_down_)
        return;
    const auto dit = downstreams_.find(static_cast<int>(downstream));
    if (dit == downstreams_.end())
        return;
    const MifIndex mif = dit->second.mif;
    if (parts_.router->supports_group_entries()) {
        update_group_entry_bit(group, downstream, mif);
        pin_named_sources(group, downstream);
    }
    const auto git = routes_by_group_.find(group);
    if (git == routes_by_group_.end())
        return;
    for (auto& [s, r] : git->second) {
        std::optional<InterfaceId> arrival;
        if (const auto u = upstream_of_mif(r.parent)) {
            if (!upstream_accepts(*u, s, group))
                continue;  // another upstream serves it: no outputs
        } else if (const Interface* in = interface_by_mif(r.parent)) {
            arrival = static_cast<InterfaceId>(in->ifindex);
        }
        const bool wanted = instance_->forwards_to(downstream, s, group, arrival);
        if (wanted == r.outputs.contains(mif))
            continue;
        // One output changes: flip it in place (no copy of the set), undo
        // when the kernel refuses.
        if (wanted)
            r.outputs.insert(mif);
        else
            r.outputs.erase(mif);
        if (Status st = parts_.router->add_mfc(s, group, r.parent, r.outputs); !st) {
            if (wanted)
                r.outputs.erase(mif);
            else
                r.outputs.insert(mif);
            ++counters_.mfc_errors;
            if (drop_log().allow())
                PMIP_WARNING(kMld, context(), st.error().what);
            continue;
        }
        ++counters_.mfc_updates;
    }
}

void KernelProxy::recompute_all() {
    for (auto& [g, sources] : routes_by_group_)
        for (auto& [s, r] : sources) install(s, g, r, outputs_for(s, g, r.parent), false);
    if (!parts_.router->supports_group_entries())
        return;
    std::set<Ipv6Address> groups;
    for (const auto& [g, outputs] : group_entries_) groups.insert(g);
    for (const auto& g : instance_->database().groups()) groups.insert(g);
    for (const auto& g : groups) recompute_group_entry(g);
}

// --- (*,G) entries (backends that hold them: ebpf) ----------------------------
// Upstream data of G from any source that has no (S,G) entry goes to the
// downstreams that want a source nobody named (EXCLUDE mode, RFC 3810 7.3),
// from its first packet: the entry exists as soon as a listener does, not
// after a cache miss. Sources a downstream names (INCLUDE {S}, EXCLUDE {S})
// get their own (S,G) entry at the same moment (pin_named_sources), whose
// outputs follow RFC 4605 section 4.2 per source.

void KernelProxy::write_group_entry(const Ipv6Address& group, MifSet outputs) {
    const auto it = group_entries_.find(group);
    const bool present = it != group_entries_.end();
    if (present ? it->second == outputs : outputs.empty())
        return;
    const Status st = outputs.empty() ? parts_.router->delete_group_entry(group)
                                      : parts_.router->add_group_entry(group, star_parent(group), outputs);
    if (!st) {
        ++counters_.group_entry_errors;
        if (drop_log().allow())
            PMIP_WARNING(kMld, context(), st.error().what);
        return;
    }
    ++counters_.group_entry_updates;
    if (outputs.empty())
        group_entries_.erase(it);
    else
        group_entries_[group] = std::move(outputs);
}

void KernelProxy::update_group_entry_bit(const Ipv6Address& group, InterfaceId downstream,
                                         MifIndex mif) {
    if (!beyond_link_scope(group))
        return;
    const bool wanted = instance_->forwards_to(downstream, Ipv6Address{}, group, std::nullopt);
    const auto it = group_entries_.find(group);
    const bool has = it != group_entries_.end() && it->second.contains(mif);
    if (wanted == has)
        return;
    MifSet outputs = it == group_entries_.end() ? MifSet{} : it->second;
    if (wanted)
        outputs.insert(mif);
    else
        outputs.erase(mif);
    write_group_entry(group, std::move(outputs));
}

void KernelProxy::recompute_group_entry(const Ipv6Address& group) {
    if (!parts_.router->supports_group_entries() || !beyond_link_scope(group))
        return;
    MifSet outputs;
    for (const auto& [ifindex, d] : downstreams_) {
        if (d.started && instance_->forwards_to(static_cast<InterfaceId>(ifindex), Ipv6Address{},
                                                group, std::nullopt))
            outputs.insert(d.mif);
    }
    write_group_entry(group, std::move(outputs));
}

// The sources `downstream` names for `group` get their (S,G) entry now, with
// the upstream as parent, kept while a downstream names them.
void KernelProxy::pin_named_sources(const Ipv6Address& group, InterfaceId downstream) {
    if (!beyond_link_scope(group))
        return;
    const MembershipState state = instance_->database().downstream_state(downstream, group);
    for (const Ipv6Address& source : state.sources) {
        // With `all` matching a source two upstreams may both deliver: the
        // entry is left to its first packet (its parent), not pinned to one.
        if (accepting_upstreams(source, group) > 1)
            continue;
        auto& sources = routes_by_group_[group];
        auto [it, inserted] = sources.try_emplace(source);
        Route& r = it->second;
        r.pinned = true;
        if (!inserted)
            continue;
        ++route_count_;
        r.parent = upstream_mif_for(source, group);
        r.installed = timers_.clock().now();
        install(source, group, r, outputs_for(source, group, r.parent), true);
        ++counters_.mfc_preinstalled;
    }
    schedule_idle_check();
    // With a peering, the source's copies may come over it instead: seen on
    // the entry's wrong-interface counter (check_peered).
    if (!peerings_.empty())
        schedule_peering_check();
}

bool KernelProxy::named_by_a_downstream(const Ipv6Address& source, const Ipv6Address& group) const {
    for (const auto& [ifindex, d] : downstreams_) {
        if (instance_->database()
                .downstream_state(static_cast<InterfaceId>(ifindex), group)
                .sources.contains(source))
            return true;
    }
    return false;
}

// NOCACHE: data for an (S,G) without an entry arrived on a MIF. Install the
// entry with the current outputs (possibly none: the kernel then drops the
// traffic without asking again) and remember S, so that later membership
// changes update it at once.
void KernelProxy::on_upcall(const Upcall& u) {
    ++counters_.upcalls;
    if (u.type != static_cast<std::uint8_t>(UpcallType::kNoCache)) {
        ++counters_.upcalls_other;
        return;
    }
    ++counters_.upcalls_nocache;
    // A prepared link's MIF (prepare_downstream): its traffic gets an entry
    // without outputs, so the kernel does not keep the packet's (S,G)
    // unresolved (ip6mr: 10 s without another upcall); add_downstream
    // recomputes it.
    const bool prepared_mif = u.mif < mif_owner_.size() && mif_owner_[u.mif] != 0 &&
                              prepared_.contains(mif_owner_[u.mif]);
    if (!interface_by_mif(u.mif) && !prepared_mif) {
        ++counters_.upcalls_unknown_mif;
        return;
    }
    if (!beyond_link_scope(u.group)) {
        ++counters_.upcalls_unroutable;
        return;
    }
    // Data on an upstream not asked for it (several upstreams): the entry
    // waits for it on the upstream that serves it, so that one's copy is not
    // refused as arriving on the wrong interface (an entry has one parent).
    MifIndex parent = u.mif;
    if (const auto up = upstream_of_mif(u.mif); up && !upstream_accepts(*up, u.source, u.group)) {
        const MifIndex serving = upstream_mif_for(u.source, u.group);
        if (const auto sv = upstream_of_mif(serving); sv && upstream_accepts(*sv, u.source, u.group))
            parent = serving;
    }
    auto& sources = routes_by_group_[u.group];
    auto [it, inserted] = sources.try_emplace(u.source);
    Route& r = it->second;
    bool left_peering = false;
    if (inserted) {
        ++route_count_;
    } else if (r.parent != parent) {
        // The source moved to another interface: re-home the entry.
        r.outputs.clear();
        left_peering = peering_of_mif(r.parent).has_value() && !peering_of_mif(parent);
    }
    r.parent = parent;
    r.packets_at_check = 0;
    // A replaced entry keeps its kernel counters: the first check takes them.
    r.wrong_at_check = inserted ? 0 : Route::kUnchecked;
    r.installed = timers_.clock().now();
    const bool installed = install(u.source, u.group, r, outputs_for(u.source, u.group, parent), true);
    if (left_peering)
        unpeer(u.source, u.group);
    if (installed && peering_of_mif(parent))
        note_peered(u.source, u.group);
    if (!peerings_.empty())
        schedule_peering_check();
    if (config_.matching == UpstreamMatching::kMutex) {
        const auto c = parts_.router->counters(u.source, u.group);
        r.mutex_packets = c ? c->packets : 0;
        r.mutex_seen = r.installed;
        schedule_mutex_check();
    }
    PMIP_DEBUG(kMld, context(),
               "cache miss (" + to_string(u.source) + ", " + to_string(u.group) + ") on MIF " +
                   std::to_string(u.mif) + ": " + std::to_string(r.outputs.size()) + " output(s)");
    schedule_idle_check();
}

void KernelProxy::schedule_idle_check() {
    if (idle_timer_ || route_count_ == 0)
        return;
    idle_timer_ = timers_.start_timer(config_.mfc_idle_timeout, [this] {
        idle_timer_ = 0;
        check_idle();
    });
}

// An entry that forwarded no packet since the last check goes (the source
// stopped); traffic that comes back brings a new NOCACHE upcall.
void KernelProxy::check_idle() {
    std::vector<std::pair<Ipv6Address, Ipv6Address>> idle;
    const TimePoint now = timers_.clock().now();
    for (auto& [g, sources] : routes_by_group_) {
        for (auto& [s, r] : sources) {
            if (now - r.installed < config_.mfc_idle_timeout)
                continue;  // younger than one period: not judged yet
            if (r.pinned) {
                if (named_by_a_downstream(s, g))
                    continue;  // a listener waits for this source
                r.pinned = false;
            }
            const auto c = parts_.router->counters(s, g);
            const std::uint64_t packets = c ? c->packets : 0;
            if (c && packets != r.packets_at_check) {
                r.packets_at_check = packets;
                continue;
            }
            idle.emplace_back(s, g);
        }
    }
    for (const auto& [s, g] : idle) {
        delete_route(s, g);
        ++counters_.mfc_idle_expired;
    }
    schedule_idle_check();
}

// Mcproxy's mutex matching: a source that several upstreams serve keeps the
// parent its data came from while that upstream delivers; one silent for
// mutex_timeout lets go (the entry goes) and the next packet, from whichever
// upstream still sends it, brings the new parent. Checked every quarter of
// the timeout while such entries exist.
void KernelProxy::schedule_mutex_check() {
    if (mutex_timer_ || config_.matching != UpstreamMatching::kMutex || rules_.size() < 2 ||
        route_count_ == 0)
        return;
    mutex_timer_ = timers_.start_timer(
        std::max<Duration>(config_.mutex_timeout / 4, std::chrono::milliseconds(1)), [this] {
            mutex_timer_ = 0;
            check_mutex();
        });
}

void KernelProxy::check_mutex() {
    const TimePoint now = timers_.clock().now();
    std::vector<std::pair<Ipv6Address, Ipv6Address>> released;
    bool watching = false;
    for (auto& [g, sources] : routes_by_group_) {
        for (auto& [s, r] : sources) {
            if (!upstream_of_mif(r.parent) || accepting_upstreams(s, g) < 2)
                continue;
            watching = true;
            const auto c = parts_.router->counters(s, g);
            if (c && c->packets != r.mutex_packets) {
                r.mutex_packets = c->packets;
                r.mutex_seen = now;
            } else if (now - r.mutex_seen >= config_.mutex_timeout) {
                released.emplace_back(s, g);
            }
        }
    }
    for (const auto& [s, g] : released) {
        const Interface* from = interface_by_mif(routes_by_group_[g][s].parent);
        PMIP_INFO(kMld, context(),
                  "(" + to_string(s) + ", " + to_string(g) + "): nothing from upstream " +
                      (from ? from->name : std::string("?")) +
                      " for the mutex timeout: the next upstream that delivers takes it");
        delete_route(s, g);
        ++counters_.mutex_releases;
    }
    if (watching)
        schedule_mutex_check();
}

}  // namespace pmip::mcast
