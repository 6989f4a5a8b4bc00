// MLD proxy membership database (pure): RFC 4605 sections 4.1 and 4.2.
//
// Holds, per downstream interface and multicast address, the MembershipState
// its querier reports (membership.hpp; RFC 4605 section 4.1 steps 1-2 are
// already applied there: MLDv1 listeners appear as EXCLUDE {}, router
// EXCLUDE(X, Y) as EXCLUDE Y). Merges them into one upstream state per
// address with the RFC 3810 section 4.2 rules (RFC 4605 section 4.1 step 3):
//   any EXCLUDE -> EXCLUDE, (intersection of the EXCLUDE lists) minus (union
//                  of the INCLUDE lists);
//   all INCLUDE -> INCLUDE, union of the INCLUDE lists.
// The merge is incremental: per address it keeps the number of EXCLUDE
// members and, per source, how many INCLUDE members list it and how many
// EXCLUDE members exclude it, so a change costs O(sources of the changed
// states), independent of how many downstream interfaces hold the address.
// Upstream changes go out through ProxyOutput (the adapter expresses them as
// host membership on the upstream interface, e.g. MCAST_MSFILTER, or as
// RFC 3810 section 6.1 state-change records).
//
// Forwarding [RFC 4605 section 4.2]: downstreams_for(S, G, arrival) gives the
// downstream interfaces whose state wants (S, G), where this proxy is the
// querier (the rule may be disabled per interface), never the arrival
// interface; traffic arriving on a downstream also goes upstream. Every
// change of an interface's state for G is signalled with forwarding_changed(G)
// so the adapter recomputes its MFC entries for G at once (not on a cache
// miss). Downstream interfaces are added and removed at run time; removal
// drops the interface's state and produces the upstream changes.
//
// Policy: per-instance allow/deny lists of groups and (S, G), applied to
// reports before they reach the queriers (filter_records), to the states
// given to update(), and to the forwarding decision.
//
// Threading: one thread (the event loop); ProxyOutput callbacks run inside
// the database's calls and must not call back into it.
//
// Counters: ProxyCounters.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "pmip/common/multicast_profile.hpp"
#include "pmip/mcast/membership.hpp"
#include "pmip/mcast/mld_codec.hpp"

namespace pmip::mcast {

using InterfaceId = std::uint32_t;  // the adapter's interface index

// A (source prefix, group prefix) pair for (S, G) allow/deny lists.
struct SourceGroupRule {
    Ipv6Prefix source;
    Ipv6Prefix group;
    bool operator==(const SourceGroupRule&) const = default;
};

// Per-instance admission policy (MN admissibility, operator policy).
struct Policy {
    std::vector<Ipv6Prefix> allowed_groups;  // empty: every group allowed
    std::vector<Ipv6Prefix> denied_groups;   // checked after allowed_groups
    // When a group matches the group prefix of any rule here, only the sources
    // those rules list are admitted for it (and EXCLUDE-mode / MLDv1 joins to
    // it are refused, as they ask for every source).
    std::vector<SourceGroupRule> allowed_sources;
    std::vector<SourceGroupRule> denied_sources;

    bool admits_group(const Ipv6Address& group) const;
    bool admits_source(const Ipv6Address& source, const Ipv6Address& group) const;
    // True when allowed_sources restricts the group to listed sources.
    bool source_restricted(const Ipv6Address& group) const;
    // The state with the policy applied (INCLUDE {} when the group is refused).
    MembershipState apply(const Ipv6Address& group, const MembershipState& state) const;
    bool operator==(const Policy&) const = default;
};

// A filter table of its own for the interfaces whose name matches `pattern`
// (fnmatch(3): "mn*", "pe0"; Mcproxy's per-interface black/white lists):
// on a downstream it limits what its listeners may join and what is
// forwarded there, on top of the instance policy; on an upstream what is
// reported there and what is taken from there.
struct InterfaceFilter {
    std::string pattern;
    Policy policy;
    bool operator==(const InterfaceFilter&) const = default;
};
// The table of interface `name`: the entries of every filter whose pattern
// matches it, together (empty Policy: no table).
Policy interface_policy(const std::vector<InterfaceFilter>& filters, const std::string& name);

// The policy of an MN's multicast profile (what it may join; its group
// limit is DownstreamPolicy::max_groups, not part of a Policy).
Policy admission_policy(const MulticastAdmission& admission);

// Applies `policy` to received records: drops records for refused groups and
// EXCLUDE-mode records for source-restricted groups; removes refused sources
// from IS_IN / TO_IN / ALLOW; adds refused host (/128) sources to IS_EX /
// TO_EX lists. Returns how many records or sources it dropped.
std::size_t filter_records(const Policy& policy, std::vector<MulticastAddressRecord>& records);
// For an MLDv1 Report or Done: whether the group may be joined at all.
bool admits_v1(const Policy& policy, const Ipv6Address& group);

// Upstream reporting helpers [RFC 4605 section 4.1 -> RFC 3810 section 6.1]:
// the records a host sends when its per-interface state for `group` goes
// from `old_state` to `new_state`:
//   IN(A) -> IN(B): ALLOW(B-A), BLOCK(A-B)    EX(A) -> EX(B): ALLOW(A-B), BLOCK(B-A)
//   IN(A) -> EX(B): TO_EX(B)                  EX(A) -> IN(B): TO_IN(B)
// Empty ALLOW / BLOCK records are omitted.
std::vector<MulticastAddressRecord> state_change_records(const Ipv6Address& group,
                                                         const MembershipState& old_state,
                                                         const MembershipState& new_state);
// The Current-State record answering a query [RFC 3810 section 6.2]:
// IS_IN(A) or IS_EX(Y); nothing for INCLUDE {}.
std::optional<MulticastAddressRecord> current_state_record(const Ipv6Address& group,
                                                           const MembershipState& state);

struct ProxyCounters {
    std::uint64_t updates = 0;            // update() calls that changed a member state
    std::uint64_t updates_unchanged = 0;  // update() calls with the state already held
    std::uint64_t updates_refused = 0;    // states cut down or refused by the policy
    std::uint64_t upstream_changes = 0;   // upstream_membership_changed() calls
    std::uint64_t downstreams_added = 0;
    std::uint64_t downstreams_removed = 0;
};

class ProxyOutput {
  public:
    virtual ~ProxyOutput() = default;
    // The merged state of `group` changed from `old_state` to `new_state`
    // (INCLUDE {} = no member left: leave upstream).
    virtual void upstream_membership_changed(const Ipv6Address& group,
                                             const MembershipState& old_state,
                                             const MembershipState& new_state) = 0;
    // Some downstream's wish for `group` changed: recompute the (S, group)
    // forwarding entries with downstreams_for().
    virtual void forwarding_changed(const Ipv6Address& /*group*/) {}
    // The same, naming the downstream whose wish changed, so an adapter can
    // update its entries for that one interface (forwards_to()) instead of
    // recomputing them over every member. The default calls the one above.
    virtual void downstream_forwarding_changed(const Ipv6Address& group,
                                               InterfaceId /*downstream*/) {
        forwarding_changed(group);
    }
};

class MembershipDatabase {
  public:
    explicit MembershipDatabase(ProxyOutput& output, Policy policy = {});

    // Idempotent. `querier`: this proxy is the elected querier there (RFC 4605
    // section 4.2 forwards only onto such links; pass true to disable the rule
    // on a link where the proxy is the only router).
    void add_downstream(InterfaceId downstream, bool querier = true);
    // Drops the interface's state; upstream changes for groups it held alone.
    void remove_downstream(InterfaceId downstream);
    bool has_downstream(InterfaceId downstream) const { return downstreams_.contains(downstream); }
    std::vector<InterfaceId> downstreams() const;
    void set_querier(InterfaceId downstream, bool querier);

    // The downstream's querier reported `state` for `group` (INCLUDE {} = no
    // listeners). Unknown downstreams are added first.
    void update(InterfaceId downstream, const Ipv6Address& group, const MembershipState& state);

    // Upstream (merged) state; INCLUDE {} when nobody listens.
    MembershipState upstream_state(const Ipv6Address& group) const;
    std::vector<Ipv6Address> groups() const;
    MembershipState downstream_state(InterfaceId downstream, const Ipv6Address& group) const;
    // Groups the downstream holds state for.
    std::vector<Ipv6Address> downstream_groups(InterfaceId downstream) const;

    // RFC 4605 section 4.2: downstream interfaces to forward (S, G) to, in
    // ascending order, excluding `arrival` (pass the upstream's id or nullopt
    // for traffic from upstream).
    std::vector<InterfaceId> downstreams_for(
        const Ipv6Address& source, const Ipv6Address& group,
        std::optional<InterfaceId> arrival = std::nullopt) const;
    // The same decision for one downstream: true when `downstreams_for`
    // would list it. O(1) expected (plus the policy's lists).
    bool forwards_to(InterfaceId downstream, const Ipv6Address& source, const Ipv6Address& group,
                     std::optional<InterfaceId> arrival = std::nullopt) const;

    const Policy& policy() const { return policy_; }
    // Replaces the policy; held states are not re-filtered (the next reports are).
    void set_policy(Policy policy) { policy_ = std::move(policy); }
    const ProxyCounters& counters() const { return counters_; }

  private:
    struct GroupEntry {
        std::unordered_map<InterfaceId, MembershipState> members;  // non-empty states only
        std::uint32_t exclude_members = 0;
        std::unordered_map<Ipv6Address, std::uint32_t, AddressHash> include_counts;
        std::unordered_map<Ipv6Address, std::uint32_t, AddressHash> exclude_counts;
        MembershipState merged;
    };
    struct Downstream {
        bool querier = true;
        std::vector<Ipv6Address> groups;  // unordered; small
    };

    void add_contribution(GroupEntry& entry, const MembershipState& state);
    void remove_contribution(GroupEntry& entry, const MembershipState& state);
    MembershipState merge(const GroupEntry& entry) const;
    void set_member(InterfaceId downstream, const Ipv6Address& group, const MembershipState& state);

    ProxyOutput& output_;
    Policy policy_;
    std::unordered_map<Ipv6Address, GroupEntry, AddressHash> groups_;
    std::unordered_map<InterfaceId, Downstream> downstreams_;
    ProxyCounters counters_;
};

}  // namespace pmip::mcast
