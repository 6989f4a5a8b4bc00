// Text form of route requests, shared by NetlinkRouteManager (error messages)
// and FakeRouteManager / callers (logs), and apply_or_undo, the
// all-or-nothing batch of the engines. See route_manager.hpp.
//
// Threading: pure functions; apply_or_undo on the route manager's thread.
#include "pmip/common/route_manager.hpp"

#include <algorithm>
#include <string>

namespace pmip {

namespace {

std::string device(int ifindex, const std::function<std::string(int)>& device_name) {
    if (device_name)
        return device_name(ifindex);
    return "#" + std::to_string(ifindex);
}

std::string describe_route(const Route& route, const std::function<std::string(int)>& device_name) {
    std::string text = "route ";
    if (route.type == RouteType::kUnreachable) text += "unreachable ";
    if (route.type == RouteType::kThrow) text += "throw ";
    text += to_string(route.destination);
    if (route.source)
        text += " from " + to_string(*route.source);
    if (route.gateway)
        text += " via " + to_string(*route.gateway);
    if (route.ifindex != 0)
        text += " dev " + device(route.ifindex, device_name);
    text += " table " + std::to_string(route.table);
    if (route.metric != 1024 && route.metric != 0)
        text += " metric " + std::to_string(route.metric);
    return text;
}

std::string describe_rule(const Rule& rule) {
    std::string text =
        "rule from " + (rule.source.length == 0 ? std::string("all") : to_string(rule.source));
    if (!rule.iif.empty())
        text += " iif " + rule.iif;
    text += " lookup " + std::to_string(rule.table);
    text += " priority " + std::to_string(rule.priority);
    return text;
}

std::string describe_multicast_rule(const MulticastRule& rule) {
    std::string text = "ip6mr rule";
    if (!rule.iif.empty())
        text += " iif " + rule.iif;
    if (!rule.oif.empty())
        text += " oif " + rule.oif;
    text += " lookup " + std::to_string(rule.table);
    text += " priority " + std::to_string(rule.priority);
    return text;
}

}  // namespace

std::string describe(const RouteRequest& request,
                     const std::function<std::string(int)>& device_name) {
    std::string text = request.op == RouteOp::kAdd ? "adding " : "deleting ";
    if (const auto* route = std::get_if<Route>(&request.object)) {
        text += describe_route(*route, device_name);
    } else if (const auto* rule = std::get_if<Rule>(&request.object)) {
        text += describe_rule(*rule);
    } else {
        text += describe_multicast_rule(std::get<MulticastRule>(request.object));
    }
    return text;
}

std::vector<Status> apply_or_undo(RouteManager& routes, std::span<const RouteRequest> batch, std::size_t shared,
                                  const UndoRequest& undo) {
    auto results = routes.apply(batch);
    if (std::all_of(results.begin(), results.end(), [](const Status& st) { return st.ok(); })) return results;
    std::vector<RouteRequest> back;
    for (std::size_t i = shared; i < batch.size() && i < results.size(); ++i) {
        if (!results[i].ok()) continue;
        if (undo) {
            if (auto request = undo(i, batch[i])) back.push_back(std::move(*request));
        } else if (batch[i].op == RouteOp::kAdd) {
            back.push_back({RouteOp::kDelete, batch[i].object});
        }
    }
    if (!back.empty()) (void)routes.apply(back);
    return results;
}

}  // namespace pmip
