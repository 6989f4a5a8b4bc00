// LMA engine: RFC 5213 sections 5.3 - 5.6 over the Binding Cache.
#include "pmip/lma/lma_engine.hpp"

#include <algorithm>
#include <random>

#include "pmip/common/log.hpp"
#include "pmip/lma/ordering.hpp"
#include "pmip/mh/codec.hpp"
#include "lma_engine_parts.hpp"

namespace pmip::lma {

namespace {

Ipv6Prefix to_prefix(const mh::HomeNetworkPrefix& hnp) {
    return canonical(Ipv6Prefix{hnp.prefix, hnp.prefix_length});
}

}  // namespace

mh::MobileNodeIdentifier signalled_identifier_option(const BindingCacheEntry& e) {
    const MobileNodeIdentifier& id =
        e.signalled_mn_identifier.identifier.empty() ? e.mn_identifier : e.signalled_mn_identifier;
    return {id.subtype, std::vector<std::uint8_t>(id.identifier.begin(), id.identifier.end())};
}


// A PBU held while the previous MAG is expected to de-register (B3 / C2).
struct LmaEngine::Waiting {
    Ipv6Address source{};
    Ipv6Address destination{};
    mh::BindingUpdate message;
    std::optional<MobileNodeIdentifier> identity;
    TimerId timer = 0;
};

LmaEngine::LmaEngine(LmaConfig config, const PolicyStore& policies,
                     std::vector<PrefixPool> pools, TunnelManager& tunnels, RouteManager& routes,
                     Timers& timers, MhSender& sender)
    : config_(std::move(config)),
      policies_(policies),
      pools_(std::move(pools)),
      tunnels_(tunnels),
      routes_(routes),
      timers_(timers),
      sender_(sender),
      next_upn_sequence_(static_cast<std::uint16_t>(std::random_device{}())) {
    if (config_.expected_bindings > 0) {
        cache_.reserve(config_.expected_bindings);
        local_address_.reserve(config_.expected_bindings);
        timers_.reserve(config_.expected_bindings);  // one lifetime timer each
    }
}

// Destruction removes the forwarding state but tells no observer (it may be
// gone already).
LmaEngine::~LmaEngine() {
    observer_ = nullptr;
    batch_.reset();  // held PBAs are not sent
    clear();
}

std::uint64_t LmaEngine::now_timestamp() const {
    return timestamp_units(
        std::chrono::duration_cast<std::chrono::nanoseconds>(timers_.clock().since_epoch()));
}

bool LmaEngine::mag_authorized(const Ipv6Address& mag, const MobileNodePolicy& policy) const {
    auto in = [&](const std::vector<Ipv6Prefix>& list) {
        return std::any_of(list.begin(), list.end(),
                           [&](const Ipv6Prefix& p) { return contains(p, mag); });
    };
    if (!in(config_.authorized_mags)) return false;
    return policy.authorized_mags.empty() || in(policy.authorized_mags);
}

void LmaEngine::handle_proxy_binding_update(const Ipv6Address& source,
                                            const Ipv6Address& destination,
                                            const mh::BindingUpdate& message,
                                            const MobileNodeIdentifier* identity) {
    ++counters_.pbu_received;
    process(extract(source, destination, message, identity));
}

LmaEngine::Pbu LmaEngine::extract(const Ipv6Address& source, const Ipv6Address& destination,
                                  const mh::BindingUpdate& message,
                                  const MobileNodeIdentifier* identity) {
    Pbu pbu;
    pbu.source = source;
    pbu.destination = destination;
    pbu.message = &message;
    Ipv6Address proxy_coa = source;
    for (const auto& option : message.options) {
        if (const auto* id = std::get_if<mh::MobileNodeIdentifier>(&option)) {
            if (!pbu.has_mn_identifier) {
                pbu.mn = {id->subtype, std::string(id->identifier.begin(), id->identifier.end())};
                pbu.has_mn_identifier = true;
            }
        } else if (const auto* hnp = std::get_if<mh::HomeNetworkPrefix>(&option)) {
            pbu.requested_prefixes.push_back(*hnp);
            pbu.lookup.home_network_prefixes.push_back(to_prefix(*hnp));
        } else if (const auto* hi = std::get_if<mh::HandoffIndicator>(&option)) {
            pbu.lookup.handoff_indicator = hi->value;
        } else if (const auto* att = std::get_if<mh::AccessTechnologyType>(&option)) {
            pbu.lookup.access_technology_type = att->value;
        } else if (const auto* ll = std::get_if<mh::MobileNodeLinkLayerIdentifier>(&option)) {
            pbu.lookup.mn_link_layer_identifier =
                std::string(ll->identifier.begin(), ll->identifier.end());
        } else if (const auto* ts = std::get_if<mh::Timestamp>(&option)) {
            pbu.timestamp = ts->value;
        } else if (const auto* lla = std::get_if<mh::LinkLocalAddress>(&option)) {
            pbu.link_local = lla;
        } else if (const auto* gre = std::get_if<mh::GreKey>(&option)) {
            pbu.gre = gre;
        } else if (const auto* acoa = std::get_if<mh::AlternateCareOfAddress>(&option)) {
            proxy_coa = acoa->address;  // RFC 6275 section 6.1.7
        } else if (const auto* ams = std::get_if<mh::ActiveMulticastSubscriptionIpv6>(&option)) {
            pbu.subscriptions.push_back(*ams);
        } else if (const auto* ms = std::get_if<mh::MulticastSubscription>(&option)) {
            pbu.requested_channels.insert(pbu.requested_channels.end(), ms->records.begin(), ms->records.end());
        }
    }
    if (identity != nullptr && pbu.has_mn_identifier && *identity != pbu.mn) {
        pbu.signalled = pbu.mn;
        pbu.mn = *identity;
    }
    pbu.lookup.mn_identifier = pbu.mn;
    pbu.lookup.proxy_coa = proxy_coa;
    pbu.lookup.lifetime = message.lifetime;
    pbu.multicast_signalling = (message.flags & mh::bu_flag::kS) != 0;
    pbu.multicast_request = (message.flags & config_.pbu_m.flag) != 0;
    return pbu;
}

void LmaEngine::process(const Pbu& pbu) {
    const mh::BindingUpdate& m = *pbu.message;
    // RFC 8885 section 4.1: an LMA that is no CMD must not process a PBU
    // with the D flag and returns an error.
    if ((m.flags & mh::bu_flag::kD) != 0) {
        ++counters_.pbu_dmm_refused;
        return reject(pbu, mh::status::kReasonUnspecified);
    }
    // Section 5.3.1 step 4.
    if (!pbu.has_mn_identifier) return reject(pbu, mh::status::kMissingMnIdentifierOption);
    // Steps 5-8: policy. The MN must be known (or unknown MNs served) before
    // we can tell whether this MAG may register it.
    const MobileNodePolicy* policy = policies_.find(pbu.mn);
    if (policy == nullptr && config_.serve_unknown_mobile_nodes) policy = &config_.default_policy;
    const MobileNodePolicy& effective = policy ? *policy : config_.default_policy;
    if (!mag_authorized(pbu.lookup.proxy_coa, effective)) {
        return reject(pbu, mh::status::kMagNotAuthorizedForProxyReg);
    }
    if (policy == nullptr) return reject(pbu, mh::status::kNotLmaForThisMobileNode);
    if (!policy->proxy_registration_enabled) return reject(pbu, mh::status::kProxyRegNotEnabled);
    // A retransmission of the PBU last accepted for a session of this MN
    // (same MAG, sequence number and timestamp) means its PBA was lost: the
    // same PBA again, no state change (RFC 5213 5.3.6, 5.5). Ordering (step
    // 9) would answer 157, and a MAG that keeps the original timestamp in
    // its retransmissions (OAI, PROTOCOL.md Appendix I) would never finish.
    if (const BindingCacheEntry* e = accepted_before(pbu)) {
        ++counters_.pbu_retransmissions_answered;
        PMIP_DEBUG(kBce, pbu.ctx(), "retransmission of the accepted PBU: PBA repeated");
        if (pbu.multicast_request) {  // the same PBU-M answer, nothing set up again
            Pbu again = pbu;
            again.repeated = true;
            return send_pba(again, accepted_status(pbu, *e), e, std::nullopt, e->uplink_key,
                            sial_answer(*e, pbu.lookup.proxy_coa, pbu));
        }
        return send_pba(pbu, accepted_status(pbu, *e), e, std::nullopt, e->uplink_key,
                        sial_answer(*e, pbu.lookup.proxy_coa, pbu));
    }
    // Step 9, timestamp scheme: newer than every accepted timestamp of this MN.
    if (pbu.timestamp) {
        std::optional<std::uint64_t> last;
        for (SessionId id : cache_.sessions_of(pbu.mn)) {
            const auto* e = cache_.find(id);
            if (e->timestamp != 0) last = std::max(last.value_or(0), e->timestamp);
        }
        const std::uint8_t st =
            check_timestamp(*pbu.timestamp, now_timestamp(), last,
                            config_.timestamp_validity_window,
                            config_.mobile_node_generated_timestamps);
        if (st != mh::status::kAccepted) return reject(pbu, st, now_timestamp());
    }
    // Steps 10-12.
    if (const auto st = mh::check_proxy_binding_update(m)) return reject(pbu, *st);

    // Step 13: section 5.4.1.
    const LookupResult r = cache_.lookup(pbu.lookup);
    PMIP_DEBUG(kBce, pbu.ctx(),
               "lookup " + std::string(r.rule) + " -> " + std::string(to_string(r.outcome)));
    switch (r.outcome) {
        case LookupOutcome::kReject:
            return reject(pbu, r.status);
        case LookupOutcome::kIgnore:
            ++counters_.pbu_ignored;
            PMIP_DEBUG(kBce, pbu.ctx(), "de-registration for no session ignored (" +
                                          std::string(r.rule) + ")");
            return;
        case LookupOutcome::kWaitForDeregistration:
            if (!config_.new_session_without_waiting) return wait_for_deregistration(pbu, r.session);
            return create_session(pbu, *policy);
        case LookupOutcome::kNewSession:
            return create_session(pbu, *policy);
        case LookupOutcome::kUpdate:
            break;
    }
    BindingCacheEntry* entry = cache_.find(r.session);
    // Sequence-number scheme: per mobility session [section 5.5].
    if (!pbu.timestamp) {
        const std::uint8_t st = check_sequence(m.sequence, entry->sequence);
        if (st != mh::status::kAccepted) {
            ++counters_.pbu_rejected[st];
            return send_pba(pbu, st, entry);
        }
    }
    if (entry->state == BindingState::kRevoking) return revocation_race(pbu, *entry);
    if (m.lifetime == 0) return deregister(pbu, r.session);
    return update_session(pbu, r.session, *policy);
}

// The session whose last accepted PBU `pbu` repeats: same MN, Proxy-CoA,
// sequence number, timestamp (or both without), registration or
// de-registration alike; never during a revocation (section 8.1 of RFC
// 5846 decides those).
const BindingCacheEntry* LmaEngine::accepted_before(const Pbu& pbu) const {
    const mh::BindingUpdate& m = *pbu.message;
    for (SessionId id : cache_.sessions_of(pbu.mn)) {
        const BindingCacheEntry* e = cache_.find(id);
        const bool same_time = pbu.timestamp ? e->timestamp == *pbu.timestamp : e->timestamp == 0;
        const bool same_kind = (m.lifetime == 0) == (e->state == BindingState::kDeregistering);
        if (e->proxy_coa == pbu.lookup.proxy_coa && e->sequence == m.sequence && same_time &&
            same_kind && e->state != BindingState::kRevoking)
            return e;
    }
    return nullptr;
}

void LmaEngine::reject(const Pbu& pbu, std::uint8_t status,
                       std::optional<std::uint64_t> timestamp) {
    ++counters_.pbu_rejected[status];
    // Untrusted input: debug only (counted), so a flood cannot flood the log.
    PMIP_DEBUG(kBce, pbu.ctx(),
              "PBU rejected: " + std::string(mh::status_name(status)) + " (" +
                  std::to_string(status) + ")");
    send_pba(pbu, status, nullptr, timestamp);
}

std::optional<std::vector<Ipv6Prefix>> LmaEngine::assign_prefixes(const Pbu& pbu,
                                                                  const MobileNodePolicy& policy,
                                                                  std::uint8_t& status) {
    const bool wants_assignment =
        pbu.requested_prefixes.empty() ||
        std::any_of(pbu.requested_prefixes.begin(), pbu.requested_prefixes.end(),
                    [](const mh::HomeNetworkPrefix& h) { return h.prefix == Ipv6Address{}; });
    std::vector<Ipv6Prefix> out;
    if (!wants_assignment) {
        // Section 5.3.2 step 3: every requested prefix owned and authorized.
        for (const auto& h : pbu.requested_prefixes) {
            const Ipv6Prefix p = to_prefix(h);
            const bool static_for_mn =
                std::find(policy.static_prefixes.begin(), policy.static_prefixes.end(), p) !=
                policy.static_prefixes.end();
            const bool from_pool =
                std::any_of(pools_.begin(), pools_.end(),
                            [&](const PrefixPool& pool) { return pool.owns(p); });
            if ((!static_for_mn && !from_pool) || cache_.prefix_bound(p)) {
                status = mh::status::kNotAuthorizedForHomeNetworkPrefix;
                return std::nullopt;
            }
            out.push_back(p);
        }
        return out;
    }
    // Section 5.3.2 steps 1-2: static prefixes of the MN, else from the pools.
    for (const auto& p : policy.static_prefixes) {
        if (!cache_.prefix_bound(p)) out.push_back(canonical(p));
    }
    if (!policy.static_prefixes.empty()) {
        if (out.empty()) status = mh::status::kInsufficientResources;
        return out.empty() ? std::nullopt : std::optional(out);
    }
    // A pool prefix once taken by request (step 3) can be both ahead of the
    // pool's never-used cursor and in its released list: what this call
    // already chose counts as bound too.
    auto bound = [this, &out](const Ipv6Prefix& p) {
        return cache_.prefix_bound(p) || std::find(out.begin(), out.end(), p) != out.end();
    };
    for (unsigned n = 0; n < std::max(1u, policy.prefix_count); ++n) {
        std::optional<Ipv6Prefix> p;
        for (auto& pool : pools_) {
            if ((p = pool.allocate(bound))) break;
        }
        if (!p) {
            release_prefixes(out);
            status = mh::status::kInsufficientResources;
            return std::nullopt;
        }
        out.push_back(*p);
    }
    return out;
}

void LmaEngine::release_prefixes(const std::vector<Ipv6Prefix>& prefixes) {
    for (const auto& p : prefixes) {
        for (auto& pool : pools_) {
            if (pool.owns(p)) pool.release(p);
        }
    }
}

TunnelKey LmaEngine::tunnel_key(const BindingCacheEntry& entry, const Ipv6Address& local) const {
    TunnelKey key;
    key.peer = entry.proxy_coa;
    key.local = local;
    key.kind = entry.gre ? TunnelKind::kGre : TunnelKind::kIp6Ip6;
    if (keyed(entry)) {
        key.input_key = entry.uplink_key;     // the MAG sends with our uplink key
        key.output_key = entry.downlink_key;  // we send with the MAG's downlink key
    }
    return key;
}

// Section 5.3.2 steps 5-6: tunnel to the MAG, one route per HNP into it.
bool LmaEngine::bind_data_path(const BindingCacheEntry& entry, const Ipv6Address& local) {
    auto tunnel = tunnels_.acquire(tunnel_key(entry, local));
    if (!tunnel) {
        ++counters_.data_path_errors;
        PMIP_ERROR(kTunnel, engine_context(entry.mn_identifier, entry.proxy_coa),
                   "tunnel to MAG not created: " + tunnel.error().what);
        return false;
    }
    std::vector<RouteRequest> batch;
    for (const auto& p : entry.home_network_prefixes) {
        batch.push_back({RouteOp::kAdd, Route{p, tunnel->ifindex, config_.route_table,
                                              config_.route_metric, std::nullopt}});
    }
    const auto results = apply_routes(entry.id, batch);
    for (const auto& st : results) {
        if (!st.ok()) {
            ++counters_.data_path_errors;
            PMIP_ERROR(kRoute, engine_context(entry.mn_identifier, entry.proxy_coa),
                       "route not installed: " + st.error().what);
            // Undo what this call did: routes that went in, and the tunnel reference.
            std::vector<RouteRequest> undo;
            for (std::size_t i = 0; i < results.size(); ++i) {
                if (results[i].ok()) undo.push_back({RouteOp::kDelete, batch[i].object});
            }
            (void)routes_.apply(undo);
            (void)tunnels_.release(tunnel_key(entry, local));
            return false;
        }
    }
    if (observer_) observer_->session_bound(entry, *tunnel);
    return true;
}

std::optional<LmaEngine::DataPath> LmaEngine::data_path(const BindingCacheEntry& entry) const {
    const auto local = local_address_.find(entry.id);
    if (local == local_address_.end()) return std::nullopt;
    return DataPath{tunnel_key(entry, local->second), entry.proxy_coa};
}

void LmaEngine::unbind_data_path(const BindingCacheEntry& entry) {
    if (const auto path = data_path(entry)) release_data_path(entry, *path, false);
}

void LmaEngine::release_data_path(const BindingCacheEntry& entry, const DataPath& path,
                                  bool routes_replaced) {
    const auto info = tunnels_.find(path.key);
    if (observer_) observer_->session_unbound(entry, path.proxy_coa, info ? info->name : std::string());
    if (info && !routes_replaced) {
        std::vector<RouteRequest> batch;
        for (const auto& p : entry.home_network_prefixes) {
            batch.push_back({RouteOp::kDelete, Route{p, info->ifindex, config_.route_table,
                                                     config_.route_metric, std::nullopt}});
        }
        for (const auto& st : apply_routes(entry.id, std::move(batch))) {
            if (!st.ok()) {
                ++counters_.data_path_errors;
                PMIP_ERROR(kRoute, engine_context(entry.mn_identifier, path.proxy_coa),
                           "route not removed: " + st.error().what);
            }
        }
    }
    release_tunnel(path.key, entry.mn_identifier, path.proxy_coa);
}

// Make before break (a handoff, or a new GRE downlink key): the new tunnel
// is acquired and the HNP routes are replaced in place (a route's identity is
// destination, table and metric), so downlink traffic switches tunnels in one
// netlink operation and never meets a missing route. The old tunnel is let go
// of by the caller after the PBA is on its way (`superseded`). On failure the
// entry is as before and still holds its old path.
bool LmaEngine::move_data_path(BindingCacheEntry& entry, const Ipv6Address& local,
                               const Ipv6Address& proxy_coa, const Encapsulation& encapsulation,
                               std::optional<DataPath>& superseded) {
    const auto old_path = data_path(entry);
    const Ipv6Address old_coa = entry.proxy_coa;
    const Encapsulation old_encapsulation = encapsulation_of(entry);
    const auto old_local = local_address_.find(entry.id);
    const std::optional<Ipv6Address> old_address =
        old_local == local_address_.end() ? std::nullopt : std::optional(old_local->second);
    entry.proxy_coa = proxy_coa;
    set_encapsulation(entry, encapsulation);
    local_address_[entry.id] = local;
    if (!bind_data_path(entry, local)) {
        // The entry describes the path it still holds again.
        entry.proxy_coa = old_coa;
        set_encapsulation(entry, old_encapsulation);
        if (old_address) {
            local_address_[entry.id] = *old_address;
        } else {
            local_address_.erase(entry.id);
        }
        return false;
    }
    superseded = old_path;
    return true;
}

void LmaEngine::arm_lifetime(BindingCacheEntry& entry) {
    if (entry.lifetime_timer) timers_.cancel_timer(entry.lifetime_timer);
    const SessionId id = entry.id;
    entry.lifetime_timer =
        timers_.start_timer(std::chrono::seconds(4) * entry.lifetime, [this, id] {
            BindingCacheEntry* e = cache_.find(id);
            if (e == nullptr) return;
            e->lifetime_timer = 0;
            ++counters_.sessions_expired;
            PMIP_INFO(kBce, engine_context(e->mn_identifier, e->proxy_coa), "binding lifetime expired");
            delete_session(id);
        });
}

LmaEngine::Encapsulation LmaEngine::encapsulation_of(const BindingCacheEntry& entry) {
    return {entry.gre, entry.downlink_key, entry.uplink_key};
}

void LmaEngine::set_encapsulation(BindingCacheEntry& entry, const Encapsulation& encapsulation) {
    entry.gre = encapsulation.gre;
    entry.downlink_key = encapsulation.downlink_key;
    entry.uplink_key = encapsulation.uplink_key;
}

// The status of an accepted PBA: GRE offered but not used for the session
// (its policy does not want it) -> 2 and no option (RFC 5845 section 5.1),
// also in a repeated or held answer; else 0.
std::uint8_t LmaEngine::accepted_status(const Pbu& pbu, const BindingCacheEntry& entry) {
    return (pbu.gre && !entry.gre) ? mh::status::kGreKeyOptionNotRequired : mh::status::kAccepted;
}

void LmaEngine::create_session(const Pbu& pbu, const MobileNodePolicy& policy) {
    const mh::BindingUpdate& m = *pbu.message;
    // RFC 5845 section 5.1: GRE as policy says.
    if (policy.wants_gre() && pbu.gre == nullptr) return reject(pbu, mh::status::kGreKeyOptionRequired);
    std::uint8_t status = mh::status::kAccepted;
    auto prefixes = assign_prefixes(pbu, policy, status);
    if (!prefixes) return reject(pbu, status);

    BindingCacheEntry e;
    e.mn_identifier = pbu.mn;
    e.signalled_mn_identifier = pbu.signalled;
    e.mn_link_layer_identifier = pbu.lookup.mn_link_layer_identifier.value_or("");
    e.home_network_prefixes = *prefixes;
    e.proxy_coa = pbu.lookup.proxy_coa;
    e.access_technology_type = pbu.lookup.access_technology_type;
    e.handoff_indicator = pbu.lookup.handoff_indicator;
    e.lifetime = std::min(m.lifetime, config_.max_lifetime);
    e.accepted_at = timers_.clock().now();
    e.timestamp = pbu.timestamp.value_or(0);
    e.sequence = m.sequence;
    e.multicast_signalling = config_.sial.enabled && pbu.multicast_signalling;
    e.multicast_request = config_.pbu_m.enabled && pbu.multicast_request;
    e.mag_link_local = (pbu.link_local && pbu.link_local->address != Ipv6Address{})
                           ? pbu.link_local->address
                           : config_.mag_link_local;
    set_encapsulation(e, encapsulation_for(pbu, policy, std::nullopt));
    BindingCacheEntry& entry = cache_.insert(std::move(e));
    local_address_[entry.id] = pbu.destination;
    if (!bind_data_path(entry, pbu.destination)) {
        const auto prefixes_copy = entry.home_network_prefixes;
        local_address_.erase(entry.id);
        cache_.erase(entry.id);
        release_prefixes(prefixes_copy);
        return reject(pbu, mh::status::kInsufficientResources);
    }
    arm_lifetime(entry);
    ++counters_.sessions_created;
    ++counters_.pbu_accepted;
    PMIP_INFO(kBce, pbu.ctx(), "new mobility session " + std::to_string(entry.id) + " prefix " +
                                 pmip::to_string(entry.home_network_prefixes.front()));
    send_pba(pbu, accepted_status(pbu, entry), &entry, std::nullopt, entry.uplink_key);
}

// RFC 5845 sections 5.1-5.2: the encapsulation a registration asks for.
// GRE when the MAG offers it and the policy wants it (a policy that does not
// is answered with status 2, and the session goes ip6ip6); keys when both
// name them (the MAG's downlink key present). `uplink_key` is the session's
// own for its life (section 3.3: the same at every re-registration and
// handoff), so it is kept while the session is unkeyed too (a MAG that sent
// the option without a key, or a policy without keys) and is the one the
// PBA names when keys come back; only a session that never had keys gets a
// new one.
LmaEngine::Encapsulation LmaEngine::encapsulation_for(const Pbu& pbu, const MobileNodePolicy& policy,
                                                      std::optional<std::uint32_t> uplink_key) {
    Encapsulation e;
    e.uplink_key = uplink_key;
    if (pbu.gre == nullptr || !policy.wants_gre()) return e;
    e.gre = true;
    if (policy.gre_keys && pbu.gre->key) {
        e.downlink_key = pbu.gre->key;
        if (!e.uplink_key) e.uplink_key = next_session_gre_key(next_uplink_key_, config_.reserved_gre_key);
    }
    return e;
}

void LmaEngine::update_session(const Pbu& pbu, SessionId id, const MobileNodePolicy& policy) {
    BindingCacheEntry* entry = cache_.find(id);
    const mh::BindingUpdate& m = *pbu.message;
    // RFC 5845 section 5.2: a PBU without the GRE Key option while the
    // policy needs GRE: 163, at a handoff and at a re-registration alike,
    // also for a session that is not in GRE yet (its policy was reloaded);
    // the MAG then sends the option (section 4.2). A session the policy no
    // longer wants in GRE goes ip6ip6 with a PBU without it (section 5.1).
    if (policy.wants_gre() && pbu.gre == nullptr) return reject(pbu, mh::status::kGreKeyOptionRequired);
    const Encapsulation encapsulation = encapsulation_for(pbu, policy, entry->uplink_key);
    const bool reencapsulated = encapsulation != encapsulation_of(*entry);

    const bool handoff = entry->proxy_coa != pbu.lookup.proxy_coa;
    const Ipv6Address previous = entry->proxy_coa;
    const bool previous_signalling = entry->multicast_signalling;
    if (entry->state == BindingState::kDeregistering) {
        // Section 5.3.5: a valid registration during MinDelayBeforeBCEDelete
        // updates the entry and ends the wait.
        timers_.cancel_timer(entry->delete_timer);
        entry->delete_timer = 0;
        entry->state = BindingState::kActive;
    }
    std::optional<DataPath> superseded;
    // Section 5.3.4: at a handoff the routes move from the old MAG's tunnel
    // to the new one. The tunnel changes too when the encapsulation does: the
    // MAG chose a new downlink key (RFC 5845 section 5.1), or the MN's policy
    // was reloaded (GRE, keys, or neither) and this PBU is the first of the
    // session to ask for it. The session's uplink key stays for its life.
    if (handoff || reencapsulated) {
        if (!move_data_path(*entry, pbu.destination, pbu.lookup.proxy_coa, encapsulation, superseded)) {
            const auto ctx = pbu.ctx();
            delete_session(id);  // releases the old path, which it still holds
            PMIP_ERROR(kBce, ctx,
                       std::string(handoff ? "handoff" : "new encapsulation") + " failed; session deleted");
            return reject(pbu, mh::status::kInsufficientResources);
        }
        if (reencapsulated) {
            ++counters_.sessions_reencapsulated;
            PMIP_INFO(kBce, pbu.ctx(),
                      "session " + std::to_string(id) + " now in " +
                          (!encapsulation.gre            ? std::string("ip6ip6")
                           : encapsulation.downlink_key ? "GRE with keys"
                                                        : "GRE without keys"));
        }
    }
    entry->access_technology_type = pbu.lookup.access_technology_type;
    entry->handoff_indicator = pbu.lookup.handoff_indicator;
    if (pbu.lookup.mn_link_layer_identifier) {
        entry->mn_link_layer_identifier = *pbu.lookup.mn_link_layer_identifier;
    }
    if (pbu.link_local && pbu.link_local->address != Ipv6Address{}) {
        entry->mag_link_local = pbu.link_local->address;
    }
    entry->lifetime = std::min(m.lifetime, config_.max_lifetime);
    entry->accepted_at = timers_.clock().now();
    if (pbu.timestamp) entry->timestamp = *pbu.timestamp;
    entry->sequence = m.sequence;
    entry->multicast_signalling = config_.sial.enabled && pbu.multicast_signalling;
    entry->multicast_request = config_.pbu_m.enabled && pbu.multicast_request;
    arm_lifetime(*entry);
    upn_reregistered(id);
    ++counters_.pbu_accepted;
    PMIP_INFO(kBce, pbu.ctx(),
              std::string(handoff ? "handoff" : "re-registration") + " of session " +
                  std::to_string(id));
    if (!sial_registration(pbu, *entry, handoff, previous, previous_signalling)) {
        // Not a handoff: a renewal with the MAG that holds the session. Its
        // tunnel carries what that MAG reports; a PBU-M answer only names the
        // channels (the LMA's profile may have changed).
        send_pba(pbu, accepted_status(pbu, *entry), entry, std::nullopt, entry->uplink_key,
                 sial_answer(*entry, pbu.lookup.proxy_coa, pbu), /*renewal=*/!handoff);
    }
    if (superseded) release_data_path(*entry, *superseded, true);
}

void LmaEngine::deregister(const Pbu& pbu, SessionId id) {
    BindingCacheEntry* entry = cache_.find(id);
    // Section 5.3.5: only the MAG that holds the binding may de-register it.
    if (entry->proxy_coa != pbu.lookup.proxy_coa) {
        // A MAG whose own registration of this MN is held (B3 / C2) and that
        // now de-registers it (the MN left it before the old MAG let go):
        // the held PBU is withdrawn, never to create a session, and the
        // de-registration acknowledged.
        if (const auto w = waiting_.find(id);
            w != waiting_.end() && w->second->source == pbu.source) {
            timers_.cancel_timer(w->second->timer);
            waiting_.erase(w);
            ++counters_.pbu_waiting_withdrawn;
            PMIP_INFO(kBce, pbu.ctx(), "de-registration from the MAG whose PBU was waiting: withdrawn");
            return send_pba(pbu, mh::status::kAccepted, nullptr);
        }
        // RFC 7161 section 5.2.3: the previous MAG's de-registration may carry
        // the context a query to it is waiting for.
        sial_deregistration(pbu, *entry, false);
        ++counters_.pbu_ignored;
        PMIP_DEBUG(kBce, pbu.ctx(), "de-registration from a MAG that does not hold the binding");
        return;
    }
    sial_deregistration(pbu, *entry, true);
    // Section 4.2.1.2: its S said whether the MN had subscriptions; either
    // way there is nothing more to ask that MAG.
    entry->multicast_signalling = false;
    entry->multicast_request = false;
    upn_forget(id);
    ++counters_.pbu_accepted;
    if (pbu.timestamp) entry->timestamp = *pbu.timestamp;
    entry->sequence = pbu.message->sequence;
    if (entry->lifetime_timer) timers_.cancel_timer(entry->lifetime_timer);
    entry->lifetime_timer = 0;
    entry->lifetime = 0;
    send_pba(pbu, mh::status::kAccepted, entry, std::nullopt, entry->uplink_key);

    // A PBU from the new MAG waiting for exactly this (B3 / C2) now updates the entry.
    if (const auto w = waiting_.find(id); w != waiting_.end()) {
        std::unique_ptr<Waiting> waiting = std::move(w->second);
        waiting_.erase(w);
        timers_.cancel_timer(waiting->timer);
        PMIP_INFO(kBce, pbu.ctx(), "previous MAG de-registered; waiting PBU takes the session");
        const Pbu held = extract(waiting->source, waiting->destination, waiting->message,
                                waiting->identity ? &*waiting->identity : nullptr);
        const MobileNodePolicy* policy = policies_.find(held.mn);
        if (policy == nullptr) policy = &config_.default_policy;
        return update_session(held, id, *policy);
    }
    if (entry->state == BindingState::kDeregistering) return;
    entry->state = BindingState::kDeregistering;
    entry->delete_timer = timers_.start_timer(config_.min_delay_before_bce_delete, [this, id] {
        if (BindingCacheEntry* e = cache_.find(id)) {
            e->delete_timer = 0;
            delete_session(id);
        }
    });
    PMIP_INFO(kBce, pbu.ctx(), "de-registered session " + std::to_string(id) + "; deleting in " +
                                 std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(
                                                    config_.min_delay_before_bce_delete)
                                                    .count()) +
                                 " ms");
}

void LmaEngine::wait_for_deregistration(const Pbu& pbu, SessionId id) {
    ++counters_.pbu_waiting;
    auto& slot = waiting_[id];
    const bool first = !slot;
    if (first) slot = std::make_unique<Waiting>();
    // A retransmission replaces the held PBU; the window keeps its start.
    slot->source = pbu.source;
    slot->destination = pbu.destination;
    slot->message = *pbu.message;
    if (pbu.signalled.identifier.empty()) {
        slot->identity.reset();
    } else {
        slot->identity = pbu.mn;
    }
    if (!first) return;
    PMIP_INFO(kBce, pbu.ctx(), "HI=4 for an existing session: waiting up to " +
                                 std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(
                                                    config_.max_delay_before_new_bce_assign)
                                                    .count()) +
                                 " ms for the previous MAG");
    slot->timer = timers_.start_timer(config_.max_delay_before_new_bce_assign, [this, id] {
        const auto w = waiting_.find(id);
        if (w == waiting_.end()) return;
        std::unique_ptr<Waiting> waiting = std::move(w->second);
        waiting_.erase(w);
        const Pbu held = extract(waiting->source, waiting->destination, waiting->message,
                                waiting->identity ? &*waiting->identity : nullptr);
        if (held.message->lifetime == 0)
            return;  // de-registrations never wait (BindingCache::lookup B3 / C2)
        PMIP_INFO(kBce, held.ctx(),
                  "no de-registration within MaxDelayBeforeNewBCEAssign: new session");
        const MobileNodePolicy* policy = policies_.find(held.mn);
        if (policy == nullptr) policy = &config_.default_policy;
        create_session(held, *policy);
    });
}

void LmaEngine::delete_session(SessionId id) {
    BindingCacheEntry* entry = cache_.find(id);
    if (entry == nullptr) return;
    if (entry->lifetime_timer) timers_.cancel_timer(entry->lifetime_timer);
    if (entry->delete_timer) timers_.cancel_timer(entry->delete_timer);
    if (const auto w = waiting_.find(id); w != waiting_.end()) {
        timers_.cancel_timer(w->second->timer);
        waiting_.erase(w);
    }
    revoking_.erase(id);
    sial_forget(id);
    upn_forget(id);
    unbind_data_path(*entry);
    const auto prefixes = entry->home_network_prefixes;
    PMIP_INFO(kBce, engine_context(entry->mn_identifier, entry->proxy_coa),
              "session " + std::to_string(id) + " deleted");
    local_address_.erase(id);
    cache_.erase(id);
    release_prefixes(prefixes);
    ++counters_.sessions_deleted;
}

std::size_t LmaEngine::delete_sessions_of(const Ipv6Address& mag) {
    std::vector<SessionId> ids;
    for (const auto& [id, e] : cache_.entries()) {
        if (e.proxy_coa == mag) ids.push_back(id);
    }
    for (SessionId id : ids) delete_session(id);
    return ids.size();
}

bool LmaEngine::delete_session_now(SessionId id) {
    if (cache_.find(id) == nullptr) return false;
    delete_session(id);
    return true;
}

void LmaEngine::clear() {
    for (auto& [sequence, r] : revocations_) {
        if (r.timer) timers_.cancel_timer(r.timer);
    }
    revocations_.clear();
    std::vector<SessionId> ids;
    for (const auto& [id, e] : cache_.entries()) ids.push_back(id);
    for (SessionId id : ids) delete_session(id);
}

// Section 8.1 race condition, by local policy: a de-registration from the MAG
// that holds the binding ends it now (the MAG has let go, as a BRA would
// say); anything else for an entry being revoked is refused.
void LmaEngine::revocation_race(const Pbu& pbu, BindingCacheEntry& entry) {
    const SessionId id = entry.id;
    if (pbu.message->lifetime == 0 && entry.proxy_coa == pbu.lookup.proxy_coa) {
        ++counters_.pbu_accepted;
        if (pbu.timestamp) entry.timestamp = *pbu.timestamp;
        entry.sequence = pbu.message->sequence;
        entry.lifetime = 0;
        send_pba(pbu, mh::status::kAccepted, &entry, std::nullopt, entry.uplink_key);
        const auto rv = revoking_.find(id);
        PMIP_INFO(kBce, pbu.ctx(),
                  "de-registration during revocation" +
                      (rv != revoking_.end() ? " (BRI " + std::to_string(rv->second) + ")"
                                             : std::string()) +
                      ": session " + std::to_string(id) + " deleted");
        delete_session(id);
        ++counters_.sessions_revoked;
        return;
    }
    ++counters_.pbu_during_revocation;
    reject(pbu, mh::status::kAdministrativelyProhibited);
}

// Section 5.3.6 (PROTOCOL.md section 2.12).
void LmaEngine::send_pba(const Pbu& pbu, std::uint8_t status, const BindingCacheEntry* entry,
                         std::optional<std::uint64_t> timestamp_override,
                         std::optional<std::uint32_t> uplink_key, SialAnswer sial, bool renewal) {
    const mh::BindingUpdate& m = *pbu.message;
    const bool accepted = status < 128;
    mh::BindingAcknowledgement pba;
    pba.options.reserve(8);  // MN-ID, HNP, HI, ATT, MN-LL-ID, LLA, Timestamp, GRE key
    pba.status = status;
    pba.flags = m.is_proxy() ? mh::ba_flag::kP : 0;
    if (accepted && sial.s) pba.flags |= mh::ba_flag::kS;  // RFC 7161 section 4.2.1
    pba.sequence = (status == mh::status::kSequenceNumberOutOfWindow && entry) ? entry->sequence
                                                                                : m.sequence;
    pba.lifetime = accepted && entry ? entry->lifetime : 0;
    // MN-Identifier copied (zero-length if the PBU had none).
    if (const auto* id = mh::find_option<mh::MobileNodeIdentifier>(m.options)) {
        pba.options.push_back(*id);
    } else {
        pba.options.push_back(mh::MobileNodeIdentifier{mh::mn_id_subtype::kNai, {}});
    }
    // HNPs: the session's real prefixes when accepted, else echo the request.
    if (accepted && entry) {
        for (const auto& p : entry->home_network_prefixes) {
            pba.options.push_back(mh::HomeNetworkPrefix{p.length, p.address});
        }
    } else if (!pbu.requested_prefixes.empty()) {
        for (const auto& h : pbu.requested_prefixes) pba.options.push_back(h);
    } else {
        pba.options.push_back(mh::HomeNetworkPrefix{0, {}});
    }
    const auto* hi = mh::find_option<mh::HandoffIndicator>(m.options);
    pba.options.push_back(mh::HandoffIndicator{hi ? hi->value : std::uint8_t{0}});
    const auto* att = mh::find_option<mh::AccessTechnologyType>(m.options);
    pba.options.push_back(mh::AccessTechnologyType{att ? att->value : std::uint8_t{0}});
    if (const auto* ll = mh::find_option<mh::MobileNodeLinkLayerIdentifier>(m.options)) {
        pba.options.push_back(*ll);
    }
    if (pbu.link_local) {
        pba.options.push_back(accepted && entry ? mh::LinkLocalAddress{entry->mag_link_local}
                                                : *pbu.link_local);
    }
    if (pbu.timestamp) pba.options.push_back(mh::Timestamp{timestamp_override.value_or(*pbu.timestamp)});
    // GRE key: on success with GRE, the uplink key when the session is keyed
    // (the MAG gave a downlink key), else no key; never with status 2.
    if (accepted && entry && entry->gre && status != mh::status::kGreKeyOptionNotRequired) {
        pba.options.push_back(mh::GreKey{keyed(*entry) ? uplink_key : std::nullopt});
    }
    // The multicast options share one budget (kSubscriptionBudget: room
    // left by every other option of a PBA in 2048 octets).
    std::size_t budget = mh::kSubscriptionBudget;
    if (accepted && sial.s && sial.records) {
        for (const auto& r : *sial.records) {
            pba.options.push_back(r);
            budget -= std::min(budget, mh::subscription_option_octets(r).value_or(0));
        }
        if (!sial.records->empty()) ++counters_.sial_contexts_in_pba;
    }
    if (accepted && entry && m.lifetime != 0 && pbu.multicast_request) {
        for (auto& o : pbu_m_answer(pbu, *entry, budget, renewal)) pba.options.push_back(std::move(o));
    }
    hold_or_send(accepted && entry ? entry->id : 0, pbu, std::move(pba));
}

}  // namespace pmip::lma
