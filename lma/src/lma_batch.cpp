// Batching across PBUs (issue 20): routes of many PBUs in one netlink batch,
// PBAs held until the kernel has acknowledged the routes they promise. See
// LmaEngine::begin_batch() in lma_engine.hpp for the contract.
#include <algorithm>
#include <set>

#include "pmip/common/log.hpp"
#include "lma_engine_parts.hpp"

namespace pmip::lma {

void LmaEngine::begin_batch() {
    if (!batch_) batch_ = std::make_unique<Batch>();
}

std::vector<Status> LmaEngine::apply_routes(SessionId session, std::vector<RouteRequest> requests) {
    if (!batch_) return routes_.apply(requests);
    const std::size_t n = requests.size();
    for (auto& r : requests) {
        batch_->routes.push_back(std::move(r));
        batch_->route_sessions.push_back(session);
    }
    return std::vector<Status>(n);
}

void LmaEngine::release_tunnel(const TunnelKey& key, const MobileNodeIdentifier& mn,
                               const Ipv6Address& mag) {
    if (batch_) {
        batch_->releases.push_back({key, mn, mag});
        return;
    }
    if (Status st = tunnels_.release(key); !st.ok()) {
        ++counters_.data_path_errors;
        PMIP_ERROR(kTunnel, engine_context(mn, mag), "tunnel not released: " + st.error().what);
    }
}

void LmaEngine::hold_or_send(SessionId session, const Pbu& pbu, mh::BindingAcknowledgement pba) {
    if (!batch_) return sender_.send(pbu.destination, pbu.source, pba);
    Batch::HeldPba held{session, pbu.destination, pbu.source, std::move(pba), {}, std::nullopt};
    if (session != 0 && held.pba.status < 128 && held.pba.lifetime != 0) {
        held.requested = pbu.requested_prefixes;
        if (pbu.link_local) held.link_local = *pbu.link_local;
    }
    batch_->pbas.push_back(std::move(held));
}

namespace {

// An accepted PBA turned into the rejection 130 the unbatched path would
// have sent (section 5.3.6): lifetime 0, no S flag, the PBU's HNP and
// Link-local Address options echoed, no GRE key and no multicast options.
void make_rejection(mh::BindingAcknowledgement& pba, const std::vector<mh::HomeNetworkPrefix>& requested,
                    const std::optional<mh::LinkLocalAddress>& link_local) {
    pba.status = mh::status::kInsufficientResources;
    pba.lifetime = 0;
    pba.flags &= static_cast<std::uint8_t>(~mh::ba_flag::kS);
    mh::Options kept;
    bool prefixes_done = false;
    for (auto& o : pba.options) {
        if (std::holds_alternative<mh::HomeNetworkPrefix>(o)) {
            if (prefixes_done) continue;
            prefixes_done = true;
            if (requested.empty()) kept.push_back(mh::HomeNetworkPrefix{0, {}});
            for (const auto& h : requested) kept.push_back(h);
        } else if (std::holds_alternative<mh::LinkLocalAddress>(o)) {
            if (link_local) kept.push_back(*link_local);
        } else if (std::holds_alternative<mh::MobileNodeIdentifier>(o) ||
                   std::holds_alternative<mh::HandoffIndicator>(o) ||
                   std::holds_alternative<mh::AccessTechnologyType>(o) ||
                   std::holds_alternative<mh::MobileNodeLinkLayerIdentifier>(o) ||
                   std::holds_alternative<mh::Timestamp>(o)) {
            kept.push_back(std::move(o));
        }
    }
    pba.options = std::move(kept);
}

}  // namespace

void LmaEngine::end_batch() {
    if (!batch_) return;
    std::unique_ptr<Batch> batch = std::move(batch_);  // from here on, everything at once
    if (batch->routes.empty() && batch->releases.empty() && batch->pbas.empty()) return;
    ++counters_.batches;
    counters_.batched_route_requests += batch->routes.size();
    counters_.batched_pbas += batch->pbas.size();

    // 1. One apply for every route of the batch.
    std::set<SessionId> failed;
    std::vector<RouteRequest> leftovers;  // what a failed handoff's old route may still be
    if (!batch->routes.empty()) {
        const auto results = routes_.apply(batch->routes);
        for (std::size_t i = 0; i < results.size() && i < batch->routes.size(); ++i) {
            if (results[i].ok()) continue;
            ++counters_.data_path_errors;
            const SessionId id = batch->route_sessions[i];
            const BindingCacheEntry* e = cache_.find(id);
            const std::string ctx = e ? engine_context(e->mn_identifier, e->proxy_coa) : "[lma]";
            if (batch->routes[i].op == RouteOp::kAdd) {
                failed.insert(id);
                if (const auto* route = std::get_if<Route>(&batch->routes[i].object)) {
                    Route any_device = *route;
                    any_device.ifindex = 0;
                    leftovers.push_back({RouteOp::kDelete, any_device});
                }
                PMIP_ERROR(kRoute, ctx, "route not installed: " + results[i].error().what);
            } else {
                PMIP_ERROR(kRoute, ctx, "route not removed: " + results[i].error().what);
            }
        }
    }
    // 2. Tunnels let go of, now that no route of the batch uses them.
    for (const auto& r : batch->releases) release_tunnel(r.key, r.mn, r.mag);
    // 3. Sessions claiming a route that is not in.
    for (SessionId id : failed) {
        if (cache_.find(id) == nullptr) continue;  // deleted later in the batch
        ++counters_.batch_sessions_failed;
        delete_session(id);
    }
    // A failed handoff's prefix may still be routed into the old MAG's
    // tunnel (the replacement did not happen, and the session now names
    // the new one): removed whatever its device. The prefixes went back
    // to the pools just now, so no other session holds them yet.
    if (!leftovers.empty()) {
        for (const auto& st : routes_.apply(leftovers)) {
            if (!st.ok()) {
                ++counters_.data_path_errors;
                PMIP_ERROR(kRoute, "[lma]", "route not removed: " + st.error().what);
            }
        }
    }
    // 4. The PBAs, in order.
    for (auto& held : batch->pbas) {
        if (held.session != 0 && failed.count(held.session) && held.pba.status < 128 &&
            held.pba.lifetime != 0) {
            make_rejection(held.pba, held.requested, held.link_local);
            ++counters_.batch_pbas_rewritten;
            if (counters_.pbu_accepted > 0) --counters_.pbu_accepted;
            ++counters_.pbu_rejected[mh::status::kInsufficientResources];
        }
        sender_.send(held.source, held.destination, held.pba);
    }
}

}  // namespace pmip::lma
