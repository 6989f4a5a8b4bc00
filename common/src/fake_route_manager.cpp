// FakeRouteManager: the in-memory RouteManager for unit tests (DESIGN.md
// section 2: every kernel touch has a fake that records what was asked).
//
// It mirrors the identities and idempotence of NetlinkRouteManager and the
// kernel's IPv6 FIB: an added route replaces the one with the same canonical
// destination, source, table and metric (NLM_F_REPLACE); a delete matches
// destination, source, table, metric (0 = any), device (when non-zero) and gateway (when given);
// deleting what is absent and adding a rule that exists succeed.
//
// Threading: loop thread only, like the real one.
#include "pmip/common/route_manager.hpp"

#include <algorithm>

namespace pmip {

namespace {

constexpr std::uint32_t kDefaultMetric = 1024;  // the kernel's IP6_RT_PRIO_USER

Route normalized(Route route) {
    route.destination = canonical(route.destination);
    if (route.source)
        route.source = canonical(*route.source);
    if (route.metric == 0)
        route.metric = kDefaultMetric;
    return route;
}

bool delete_matches(const Route& installed, const Route& wanted) {
    return installed.destination == canonical(wanted.destination) &&
           installed.source == (wanted.source ? std::optional(canonical(*wanted.source)) : std::nullopt) &&
           installed.table == wanted.table &&
           (wanted.metric == 0 || installed.metric == wanted.metric) &&
           (wanted.ifindex == 0 || installed.ifindex == wanted.ifindex) &&
           (!wanted.gateway || installed.gateway == wanted.gateway);
}

}  // namespace

std::vector<Status> FakeRouteManager::apply(std::span<const RouteRequest> batch) {
    ++batches;
    std::vector<Status> results;
    results.reserve(batch.size());
    for (const RouteRequest& request : batch) {
        requests.push_back(request);
        if (fail_with) {
            results.emplace_back(*fail_with);
            continue;
        }
        if (fail_if) {
            if (auto error = fail_if(request)) {
                results.emplace_back(*error);
                continue;
            }
        }
        const bool add = request.op == RouteOp::kAdd;
        if (const auto* route = std::get_if<Route>(&request.object)) {
            if (add) {
                Route wanted = normalized(*route);
                std::erase_if(routes, [&](const Route& r) {
                    return r.destination == wanted.destination && r.source == wanted.source &&
                           r.table == wanted.table && r.metric == wanted.metric;
                });
                routes.insert(std::move(wanted));
            } else {
                const auto it = std::find_if(routes.begin(), routes.end(), [&](const Route& r) {
                    return delete_matches(r, *route);
                });
                if (it != routes.end())
                    routes.erase(it);
            }
        } else if (const auto* rule = std::get_if<Rule>(&request.object)) {
            Rule wanted = *rule;
            wanted.source = canonical(wanted.source);
            if (add) {
                rules.insert(std::move(wanted));
            } else {
                rules.erase(wanted);
            }
        } else {
            const auto& multicast_rule = std::get<MulticastRule>(request.object);
            if (add) {
                multicast_rules.insert(multicast_rule);
            } else {
                multicast_rules.erase(multicast_rule);
            }
        }
        results.emplace_back();
    }
    return results;
}

Expected<std::size_t> FakeRouteManager::flush_owned() {
    if (fail_with)
        return *fail_with;
    const std::size_t removed = routes.size() + rules.size() + multicast_rules.size();
    routes.clear();
    rules.clear();
    multicast_rules.clear();
    return removed;
}

std::size_t FakeRouteManager::uplinks_from(const Ipv6Prefix& p) const {
    const auto from_p = std::count_if(rules.begin(), rules.end(), [&](const Rule& r) { return r.source == p; });
    const auto default_from_p = std::count_if(routes.begin(), routes.end(), [&](const Route& r) {
        return r.source == p && r.destination.length == 0 && r.type == RouteType::kUnicast;
    });
    return static_cast<std::size_t>(from_p + default_from_p);
}

}  // namespace pmip
