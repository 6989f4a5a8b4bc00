// KernelProxy's peering interfaces [RFC 7287 section 5; ../shared/PROTOCOL.md
// section 7]: the sender side (a restricted downstream with a querier of its
// own and a source filter of our downstreams' prefixes) and the listener side
// (a preferred upstream: reports there first, the upstream report of a new
// group after report_wait, sources arriving over a peering left out upstream,
// the data-driven timer that gives them back to the upstream).
#include <algorithm>

#include "kernel_proxy_internal.hpp"
#include "pmip/common/log.hpp"
#include "pmip/mcast/kernel_proxy.hpp"

namespace pmip::mcast {

using detail::beyond_link_scope;
using detail::drop_log;
using detail::proxy_error;
using pmip::to_string;

KernelProxy::Interface& KernelProxy::peering_interface(std::size_t index) {
    return peerings_[index]->link;
}
const KernelProxy::Interface& KernelProxy::peering_interface(std::size_t index) const {
    return peerings_[index]->link;
}

Status KernelProxy::start_peerings() {
    auto& dir = *parts_.interfaces;
    for (std::size_t i = 0; i < config_.peerings.size(); ++i) {
        const PeeringConfig& pc = config_.peerings[i];
        const auto index = dir.index(pc.name);
        if (!index)
            return proxy_error(config_.name, "peering " + pc.name + ": no such interface", ENODEV);
        bool taken = *index == upstream_.ifindex;
        for (const auto& u : extras_) taken = taken || *index == u.ifindex;
        for (const auto& p : peerings_) taken = taken || *index == p->link.ifindex;
        if (taken)
            return proxy_error(config_.name,
                               "peering " + pc.name + ": already an upstream or a peering", EINVAL);
        const auto mif = free_mif();
        if (!mif)
            return proxy_error(config_.name, "peering " + pc.name + ": no MIF free", ENOSPC);
        if (i >= parts_.peerings.size()) {
            // A peering added at run time (set_peerings).
            if (!parts_.make_membership)
                return proxy_error(config_.name, "peering " + pc.name + ": no membership adapter");
            auto m = parts_.make_membership(*index, pc.name);
            if (!m)
                return proxy_error(config_.name, m.error().what, m.error().code);
            parts_.peerings.push_back(std::move(m.value()));
        }
        auto p = std::make_unique<Peering>();
        p->link.name = pc.name;
        p->link.ifindex = *index;
        p->link.mif = *mif;
        p->report_wait = pc.report_wait;
        p->output = std::make_unique<PeeringLink>(*this, i);
        peerings_.push_back(std::move(p));
        Peering& peering = *peerings_.back();
        if (Status s = parts_.router->add_mif(peering.link.mif, peering.link.ifindex, pc.name); !s)
            return proxy_error(config_.name, s.error().what, s.error().code);
        peering.link.mif_installed = true;
        mif_owner_[peering.link.mif] = peering.link.ifindex;
        if (Status s = add_rule(peering.link); !s)
            return proxy_error(config_.name, s.error().what, s.error().code);
        if (Status s = parts_.mld->join_router_groups(peering.link.ifindex); !s)
            return proxy_error(config_.name, s.error().what, s.error().code);
        peering.groups_joined = true;
        try_start_peering(i);
    }
    return {};
}

void KernelProxy::try_start_peering(std::size_t index) {
    Peering& p = *peerings_[index];
    p.link.retry_timer = 0;
    const auto ll = parts_.interfaces->link_local(p.link.ifindex);
    if (!ll || !ll->usable) {
        p.link.retry_timer = timers_.start_timer(config_.link_local_retry,
                                                 [this, index] { try_start_peering(index); });
        return;
    }
    p.link.link_local = ll->address;
    p.link.started = true;
    p.querier = std::make_unique<Querier>(timers_, *p.output, p.link.link_local, config_.querier,
                                          context() + " peering " + p.link.name);
    p.querier->start();
    // What our listeners hold already goes to the peer now.
    for (const auto& g : instance_->database().groups()) {
        const MembershipState st = instance_->database().upstream_state(g);
        if (beyond_link_scope(g) && !st.no_listeners())
            set_upstream_on(p.link, *parts_.peerings[index], g, MembershipState{}, st, true);
    }
    PMIP_INFO(kMld, context(),
              "peering " + p.link.name + " (ifindex " + std::to_string(p.link.ifindex) + ", MIF " +
                  std::to_string(p.link.mif) + ", " + to_string(p.link.link_local) +
                  ") started, upstream reports wait " +
                  std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(p.report_wait)
                                     .count()) +
                  " ms for data over it");
}

void KernelProxy::stop_peerings() {
    if (peered_timer_)
        timers_.cancel_timer(std::exchange(peered_timer_, 0));
    for (auto& [g, t] : upstream_wait_) timers_.cancel_timer(t);
    upstream_wait_.clear();
    for (TimerId t : source_wait_timers_) timers_.cancel_timer(t);
    source_wait_timers_.clear();
    waiting_sources_.clear();
    for (std::size_t i = 0; i < peerings_.size(); ++i) {
        Peering& p = *peerings_[i];
        if (p.link.retry_timer)
            timers_.cancel_timer(p.link.retry_timer);
        if (p.querier)
            p.querier->stop();
        p.querier.reset();
        if (i < parts_.peerings.size()) {
            for (const auto& g : instance_->database().groups())
                (void)parts_.peerings[i]->set(g, MembershipState{});
        }
        if (p.groups_joined)
            parts_.mld->leave_router_groups(p.link.ifindex);
        if (p.link.mif_installed) {
            if (Status s = parts_.router->delete_mif(p.link.mif); !s) {
                ++counters_.mfc_errors;
                PMIP_WARNING(kMld, context(), s.error().what);
            }
            mif_owner_[p.link.mif] = 0;
        }
        remove_rule(p.link);
    }
    peerings_.clear();
    parts_.peerings.clear();  // set_peerings makes those of the next ones
    peered_.clear();
}

Status KernelProxy::set_peerings(std::vector<PeeringConfig> peerings, Duration data_timeout) {
    if (peerings == config_.peerings && data_timeout == config_.peering_data_timeout)
        return {};
    KernelProxyConfig next = config_;
    next.peerings = peerings;
    next.peering_data_timeout = data_timeout;
    if (std::string problem = validate(next); !problem.empty())
        return proxy_error(config_.name, problem, EINVAL);
    const bool had = !peerings_.empty();
    if (!had) {
        // Until now the upstreams held the merged state as it is.
        for (const auto& g : instance_->database().groups()) {
            const MembershipState st = instance_->database().upstream_state(g);
            if (beyond_link_scope(g) && !st.no_listeners())
                upstream_held_[g] = st;
        }
    }
    // The entries fed by a peering go (their sources' next packets bring new
    // ones); no entry keeps a peering output once its MIF is gone.
    std::vector<std::pair<Ipv6Address, Ipv6Address>> doomed;
    for (const auto& [g, sources] : routes_by_group_) {
        for (const auto& [s, r] : sources) {
            if (peering_of_mif(r.parent))
                doomed.emplace_back(s, g);
        }
    }
    for (const auto& [s, g] : doomed) delete_route(s, g);
    for (auto& p : peerings_) {
        p->wants.clear();
        p->link.started = false;
    }
    recompute_all();
    stop_peerings();
    config_.peerings = std::move(peerings);
    config_.peering_data_timeout = data_timeout;
    Status started = start_peerings();
    if (!started) {
        stop_peerings();
        config_.peerings.clear();
    }
    // What the upstreams hold: the merged state, without peered sources.
    std::set<Ipv6Address> groups;
    for (const auto& [g, st] : upstream_held_) groups.insert(g);
    for (const auto& g : instance_->database().groups()) {
        if (beyond_link_scope(g))
            groups.insert(g);
    }
    for (const auto& g : groups) sync_upstream(g);
    if (peerings_.empty())
        upstream_held_.clear();  // kept only with peerings
    std::string names;
    for (const auto& p : config_.peerings) names += (names.empty() ? "" : ", ") + p.name;
    PMIP_INFO(kMld, context(), "peerings now: " + (names.empty() ? std::string("none") : names));
    return started;
}

KernelProxy::Peering* KernelProxy::peering_by_ifindex(int ifindex) {
    for (auto& p : peerings_) {
        if (p->link.ifindex == ifindex)
            return p.get();
    }
    return nullptr;
}

std::optional<std::size_t> KernelProxy::peering_of_mif(MifIndex mif) const {
    for (std::size_t i = 0; i < peerings_.size(); ++i) {
        if (peerings_[i]->link.mif == mif && peerings_[i]->link.mif_installed)
            return i;
    }
    return std::nullopt;
}

Duration KernelProxy::report_wait() const {
    Duration wait{};
    for (const auto& p : peerings_) {
        if (p->link.started)
            wait = std::max(wait, p->report_wait);
    }
    return wait;
}

// The peer's MLD on the peering link: the same checks as on a downstream,
// then to the peering's own querier (its state is never merged upstream).
void KernelProxy::process_peering_mld(Peering& p, const ReceivedMld& m) {
    if (!p.link.started) {
        ++counters_.peering_mld_not_started;
        return;
    }
    const std::optional<MldMessage> message = checked(m, p.link.link_local);
    if (!message)
        return;
    ++counters_.peering_mld_accepted;
    p.querier->receive(m.source, *message);
}

void KernelProxy::send_peering_query(std::size_t index, const Ipv6Address& destination,
                                     const MldMessage& query) {
    const Peering& p = *peerings_[index];
    const std::vector<std::uint8_t> octets = serialize(query, nullptr);
    if (octets.empty()) {
        ++counters_.peering_errors;
        return;
    }
    if (Status s = parts_.mld->send(p.link.ifindex, p.link.link_local, destination, octets); !s) {
        ++counters_.peering_errors;
        if (drop_log().allow())
            PMIP_WARNING(kMld, context(), "peering " + p.link.name + ": " + s.error().what);
        return;
    }
    ++counters_.peering_queries_sent;
}

// Sender side: the peer's wish for `group` changed; the entries of our
// downstreams' sources gain or lose the peering output.
void KernelProxy::peer_membership_changed(std::size_t index, const Ipv6Address& group) {
    if (!beyond_link_scope(group))
        return;  // the peer host's own link-scope groups: never forwarded
    ++counters_.peer_subscription_changes;
    const Peering& p = *peerings_[index];
    const auto w = p.wants.find(group);
    PMIP_INFO(kMld, context(),
              "peering " + p.link.name + " " + to_string(group) + ": the peer wants " +
                  (w == p.wants.end() ? std::string("nothing") : to_string(w->second)));
    if (!shutting_down_)
        forwarding_changed(group);
}

bool KernelProxy::peering_forwards(std::size_t index, const Ipv6Address& source,
                                   const Ipv6Address& group, const Interface& arrival) const {
    const Peering& p = *peerings_[index];
    if (!p.link.started)
        return false;
    const auto w = p.wants.find(group);
    if (w == p.wants.end() || !w->second.wants(source))
        return false;
    // RFC 7287 section 5: only sources of our own downstream prefixes.
    if (!arrival.prefixes)
        return true;
    return std::any_of(arrival.prefixes->begin(), arrival.prefixes->end(),
                       [&](const Ipv6Prefix& prefix) { return contains(prefix, source); });
}

Status KernelProxy::set_downstream_prefixes(const std::string& ifname,
                                            std::vector<Ipv6Prefix> prefixes) {
    auto [ifindex, d] = downstream_named(ifname);
    if (!d) {
        // A prepared link keeps them for its add.
        for (auto& [index, p] : prepared_) {
            if (p.name == ifname) {
                p.prefixes = std::move(prefixes);
                return {};
            }
        }
        return proxy_error(config_.name, "downstream " + ifname + ": not a downstream", ENOENT);
    }
    d->prefixes = std::move(prefixes);
    const MifIndex mif = d->mif;
    for (auto& [g, sources] : routes_by_group_) {
        for (auto& [s, r] : sources) {
            if (r.parent == mif)
                install(s, g, r, outputs_for(s, g, mif), false);
        }
    }
    return {};
}

// Listener side: the merged state goes to every peering at once; upstream, a
// group nobody held waits report_wait for its data over a peering [RFC 7287
// section 5], then the upstreams get it without the peered sources.
void KernelProxy::peering_upstream_changed(const Ipv6Address& group,
                                           const MembershipState& old_state,
                                           const MembershipState& new_state) {
    for (std::size_t i = 0; i < peerings_.size(); ++i) {
        if (peerings_[i]->link.started)
            set_upstream_on(peerings_[i]->link, *parts_.peerings[i], group, old_state, new_state,
                            true);
    }
    if (const auto w = upstream_wait_.find(group); w != upstream_wait_.end()) {
        if (!new_state.no_listeners())
            return;  // the end of the wait applies the state of then
        timers_.cancel_timer(w->second);
        upstream_wait_.erase(w);
    } else if (!shutting_down_ && !upstream_held_.contains(group) && !new_state.no_listeners() &&
               report_wait() > Duration::zero()) {
        ++counters_.upstream_reports_waited;
        waiting_sources_.erase(group);
        upstream_wait_[group] = timers_.start_timer(report_wait(), [this, group] {
            upstream_wait_.erase(group);
            sync_upstream(group);
        });
        return;
    }
    // A group held upstream: its new channels (INCLUDE sources) wait too.
    if (auto w = waiting_sources_.find(group); w != waiting_sources_.end()) {
        for (auto it = w->second.begin(); it != w->second.end();) {
            if (new_state.mode == FilterMode::kInclude && new_state.sources.contains(it->first))
                ++it;
            else
                it = w->second.erase(it);  // gone, or the group went any-source
        }
        if (w->second.empty())
            waiting_sources_.erase(w);
    }
    if (!shutting_down_ && new_state.mode == FilterMode::kInclude && upstream_held_.contains(group) &&
        report_wait() > Duration::zero()) {
        std::vector<Ipv6Address> fresh;
        for (const auto& s : new_state.sources) {
            const bool had = old_state.mode == FilterMode::kInclude ? old_state.sources.contains(s)
                                                                     : !old_state.sources.contains(s);
            if (!had)
                fresh.push_back(s);
        }
        if (!fresh.empty()) {
            const TimePoint due = timers_.clock().now() + report_wait();
            for (const auto& s : fresh) waiting_sources_[group].emplace(s, due);
            counters_.upstream_sources_waited += fresh.size();
            auto id = std::make_shared<TimerId>(0);
            *id = timers_.start_timer(report_wait(), [this, group, id] {
                source_wait_timers_.erase(*id);
                const TimePoint now = timers_.clock().now();
                if (auto w = waiting_sources_.find(group); w != waiting_sources_.end()) {
                    std::erase_if(w->second, [&](const auto& e) { return e.second <= now; });
                    if (w->second.empty())
                        waiting_sources_.erase(w);
                }
                if (!upstream_wait_.contains(group))
                    sync_upstream(group);
            });
            source_wait_timers_.insert(*id);
        }
    }
    sync_upstream(group);
}

MembershipState KernelProxy::without_peered(const Ipv6Address& group, MembershipState state) const {
    if (state.no_listeners())
        return state;
    if (const auto it = peered_.find(group); it != peered_.end()) {
        for (const auto& [s, ps] : it->second) {
            if (state.mode == FilterMode::kInclude)
                state.sources.erase(s);
            else
                state.sources.insert(s);
        }
    }
    // New channels still waiting for their data over a peering.
    if (const auto w = waiting_sources_.find(group);
        w != waiting_sources_.end() && state.mode == FilterMode::kInclude) {
        for (const auto& [s, due] : w->second) state.sources.erase(s);
    }
    return state;
}

void KernelProxy::sync_upstream(const Ipv6Address& group) {
    const MembershipState want = without_peered(group, instance_->database().upstream_state(group));
    const auto it = upstream_held_.find(group);
    const MembershipState had = it == upstream_held_.end() ? MembershipState{} : it->second;
    if (want == had)
        return;
    if (want.no_listeners())
        upstream_held_.erase(group);
    else
        upstream_held_[group] = want;
    apply_upstream(group, had, want);
}

// Data of (source, group) arrived over a peering (its entry's parent): the
// upstream stops being asked for it (duplicate filtering, RFC 7287 section 5)
// while the data-driven timer sees its packets.
void KernelProxy::note_peered(const Ipv6Address& source, const Ipv6Address& group) {
    auto [it, inserted] = peered_[group].try_emplace(source);
    it->second.last_data = timers_.clock().now();
    const auto c = parts_.router->counters(source, group);
    it->second.packets = c ? c->packets : 0;
    if (inserted) {
        ++counters_.peered_sources;
        PMIP_INFO(kMld, context(),
                  "(" + to_string(source) + ", " + to_string(group) +
                      ") arrives over a peering: left out upstream");
    }
    if (auto w = waiting_sources_.find(group); w != waiting_sources_.end()) {
        w->second.erase(source);  // it came over the peering: no need to wait
        if (w->second.empty())
            waiting_sources_.erase(w);
    }
    if (!upstream_wait_.contains(group))
        sync_upstream(group);
    schedule_peering_check();
}

void KernelProxy::unpeer(const Ipv6Address& source, const Ipv6Address& group) {
    auto git = peered_.find(group);
    if (git == peered_.end() || git->second.erase(source) == 0)
        return;
    if (git->second.empty())
        peered_.erase(git);
    if (!upstream_wait_.contains(group))
        sync_upstream(group);
}

bool KernelProxy::rehome_possible() const {
    return peerings_.size() == 1 && peerings_[0]->link.started && rules_.trivial();
}

void KernelProxy::schedule_peering_check() {
    if (peered_timer_ || peerings_.empty() || (peered_.empty() && (route_count_ == 0 || !rehome_possible())))
        return;
    peered_timer_ = timers_.start_timer(
        std::max<Duration>(config_.peering_data_timeout / 5, std::chrono::milliseconds(1)), [this] {
            peered_timer_ = 0;
            check_peered();
        });
}

// The data-driven timer [RFC 7287 section 5, default 50 ms], checked on the
// entries' packet counters every fifth of it.
void KernelProxy::check_peered() {
    const TimePoint now = timers_.clock().now();
    std::vector<std::pair<Ipv6Address, Ipv6Address>> expired;  // (source, group)
    for (auto& [g, sources] : peered_) {
        for (auto& [s, ps] : sources) {
            const auto c = parts_.router->counters(s, g);
            if (c && c->packets != ps.packets) {
                ps.packets = c->packets;
                ps.last_data = now;
            } else if (now - ps.last_data >= config_.peering_data_timeout) {
                expired.emplace_back(s, g);
            }
        }
    }
    std::set<Ipv6Address> groups;
    for (const auto& [s, g] : expired) {
        auto git = peered_.find(g);
        git->second.erase(s);
        if (git->second.empty())
            peered_.erase(git);
        ++counters_.peered_sources_expired;
        PMIP_INFO(kMld, context(),
                  "(" + to_string(s) + ", " + to_string(g) +
                      "): no data over the peering: asked upstream again");
        // The entry goes, so that the source's next packet (from an upstream)
        // brings its own parent.
        const auto rit = routes_by_group_.find(g);
        if (rit != routes_by_group_.end()) {
            const auto sit = rit->second.find(s);
            if (sit != rit->second.end() && peering_of_mif(sit->second.parent))
                delete_route(s, g);
        }
        groups.insert(g);
    }
    for (const auto& g : groups) {
        if (!upstream_wait_.contains(g))
            sync_upstream(g);
    }
    // A source whose entry takes it from the upstream while its copies come
    // over the peering (they were there first, its entry was pinned ahead, or
    // the source came back after the data-driven timer): RFC 7287 section 5
    // takes it over the peering again. With one peering and one upstream, the
    // entry's wrong-interface packets can only be the peering's.
    if (rehome_possible()) {
        const MifIndex peer = peerings_[0]->link.mif;
        std::vector<std::pair<Ipv6Address, Ipv6Address>> rehome;
        for (auto& [g, sources] : routes_by_group_) {
            for (auto& [s, r] : sources) {
                if (r.parent != upstream_.mif)
                    continue;
                const auto c = parts_.router->counters(s, g);
                if (!c)
                    continue;
                if (c->wrong_interface > r.wrong_at_check && r.wrong_at_check != Route::kUnchecked)
                    rehome.emplace_back(s, g);
                r.wrong_at_check = c->wrong_interface;
            }
        }
        for (const auto& [s, g] : rehome) {
            Route& r = routes_by_group_[g][s];
            const MifIndex was = r.parent;
            r.parent = peer;
            if (!install(s, g, r, outputs_for(s, g, peer), true)) {
                r.parent = was;
                continue;
            }
            ++counters_.peered_sources_rehomed;
            PMIP_INFO(kMld, context(),
                      "(" + to_string(s) + ", " + to_string(g) + ") comes over peering " +
                          peerings_[0]->link.name + ": taken from there");
            note_peered(s, g);
        }
    }
    schedule_peering_check();
}

}  // namespace pmip::mcast
