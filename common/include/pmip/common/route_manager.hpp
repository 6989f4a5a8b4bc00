// IPv6 routes, policy rules and ip6mr rules, programmed in batches.
//
// The MAG routes each HNP on its access link and sends traffic sourced from an
// HNP into the tunnel through a policy rule and a per-LMA table
// (RFC 5213 section 6.10); the LMA routes each HNP into the tunnel of its MAG
// (section 5.6); the multicast module steers interfaces to its multicast
// routing table with ip6mr rules (RTNL_FAMILY_IP6MR).
//
// Everything we install is tagged with our routing protocol number
// (rtm_protocol / FRA_PROTOCOL, default kDefaultProtocol) so that
// flush_owned() can remove it on shutdown and after a crash.
//
// Operations are idempotent: adding what exists or deleting what is absent
// succeeds. apply() sends a whole batch in as few sendmsg calls as the socket
// buffer allows and reports one Status per request, in order.
//
// Threading: loop thread only. Implementations: NetlinkRouteManager (libmnl),
// FakeRouteManager (records requests and keeps the resulting tables).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <variant>
#include <vector>

#include "pmip/common/ip.hpp"
#include "pmip/common/result.hpp"

namespace pmip {

inline constexpr std::uint8_t kDefaultProtocol = 213;  // not in iproute2's rt_protos
inline constexpr std::uint32_t kMainTable = 254;

// rtm_type: a route that forwards; one that ends the lookup with ICMPv6
// Destination Unreachable (no device); one that ends the lookup in this
// table and lets the policy rules go on to the next (ip -6 route "throw").
enum class RouteType : std::uint8_t { kUnicast, kUnreachable, kThrow };

struct Route {
    Ipv6Prefix destination;
    int ifindex = 0;
    std::uint32_t table = kMainTable;
    std::uint32_t metric = 1024;
    std::optional<Ipv6Address> gateway;
    RouteType type = RouteType::kUnicast;
    // RTA_SRC: a source-specific route ("from" in ip -6 route; the kernel's
    // IPv6 subtrees, CONFIG_IPV6_SUBTREES): it matches only packets whose
    // source is in this prefix. Part of the route's identity.
    std::optional<Ipv6Prefix> source{};
    auto operator<=>(const Route&) const = default;
};

// "from <source> lookup <table>" with a priority (ip -6 rule).
struct Rule {
    Ipv6Prefix source;
    std::uint32_t table = kMainTable;
    std::uint32_t priority = 1000;
    std::string iif;  // optional input interface name
    auto operator<=>(const Rule&) const = default;
};

// An RTNL_FAMILY_IP6MR rule: multicast routing lookups for packets arriving on
// `iif` (or sent out of `oif`) use multicast routing table `table`.
struct MulticastRule {
    std::string iif;
    std::string oif;
    std::uint32_t table = 0;
    std::uint32_t priority = 1000;
    auto operator<=>(const MulticastRule&) const = default;
};

enum class RouteOp : std::uint8_t { kAdd, kDelete };

struct RouteRequest {
    RouteOp op = RouteOp::kAdd;
    std::variant<Route, Rule, MulticastRule> object;
};

// "adding route 2001:db8:1::/64 dev pm6-1a2b table 100", for errors and logs.
// `device_name` turns an ifindex into a name; without it devices read "#7".
std::string describe(const RouteRequest& request,
                     const std::function<std::string(int)>& device_name = {});

class RouteManager {
public:
    virtual ~RouteManager() = default;

    // One Status per request, in order.
    virtual std::vector<Status> apply(std::span<const RouteRequest> batch) = 0;

    // Removes every route and rule (unicast and ip6mr) carrying our protocol
    // number, in every table. Returns how many objects were removed.
    virtual Expected<std::size_t> flush_owned() = 0;

    Status add(const Route& r) { return apply_one({RouteOp::kAdd, r}); }
    Status remove(const Route& r) { return apply_one({RouteOp::kDelete, r}); }
    Status add(const Rule& r) { return apply_one({RouteOp::kAdd, r}); }
    Status remove(const Rule& r) { return apply_one({RouteOp::kDelete, r}); }
    Status add(const MulticastRule& r) { return apply_one({RouteOp::kAdd, r}); }
    Status remove(const MulticastRule& r) { return apply_one({RouteOp::kDelete, r}); }

private:
    Status apply_one(RouteRequest request) {
        auto results = apply(std::span<const RouteRequest>(&request, 1));
        return results.empty() ? Status{Error{0, "no result"}} : results.front();
    }
};

// Opens a NETLINK_ROUTE socket (libmnl) tagging objects with `protocol`.
// Routes are added with NLM_F_CREATE | NLM_F_REPLACE (a route is identified
// by destination, source, table and metric; adding one again replaces its
// device and gateway), rules with NLM_F_CREATE | NLM_F_EXCL (EEXIST is success).
// Errors name the object: "adding route 2001:db8:1::/64 dev pm6-1a2b table
// 100: No such device".
Expected<std::unique_ptr<RouteManager>> make_netlink_route_manager(
    std::uint8_t protocol = kDefaultProtocol);

// A batch that goes in whole or not at all (nothing left half-configured):
// applies `batch` and, when a request fails, undoes the ones from `shared`
// on that succeeded, in one more batch. Requests before `shared` are objects
// other users share (a table's default route, the one uplink rule): they
// stay. `undo` says how request i is undone (nothing: std::nullopt); by
// default an add is deleted and a delete stays done. Returns the batch's
// statuses, one per request, for the caller to count and log its failures.
using UndoRequest = std::function<std::optional<RouteRequest>(std::size_t, const RouteRequest&)>;
std::vector<Status> apply_or_undo(RouteManager& routes, std::span<const RouteRequest> batch,
                                  std::size_t shared = 0, const UndoRequest& undo = {});

// Keeps what was asked and the resulting state; optionally fails requests.
// Same identities as the kernel: a route is replaced by one with the same
// (canonical destination, canonical source, table, metric), metric 0 is stored as 1024; a route
// is deleted only if its device (when non-zero) and gateway (when given)
// match; rules and ip6mr rules are sets. `batches` counts apply() calls.
class FakeRouteManager final : public RouteManager {
public:
    std::vector<Status> apply(std::span<const RouteRequest> batch) override;
    Expected<std::size_t> flush_owned() override;

    // How many uplink objects prefix p has (MagConfig::uplink_routing): rules
    // "from p" plus source routes "default from p".
    std::size_t uplinks_from(const Ipv6Prefix& p) const;

    std::vector<RouteRequest> requests;  // every request, in order
    std::set<Route> routes;
    std::set<Rule> rules;
    std::set<MulticastRule> multicast_rules;
    std::size_t batches = 0;
    // When set, requests fail with this error (and change nothing).
    std::optional<Error> fail_with;
    // When set, a request for which it returns an error fails with it (and
    // changes nothing); the others are carried out.
    std::function<std::optional<Error>(const RouteRequest&)> fail_if;
};

}  // namespace pmip
