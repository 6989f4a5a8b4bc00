// Several upstreams per proxy instance, chosen by rules (pure).
//
// Mcproxy's multiple upstreams (seed 004; its "rule matching" of
// subscriptions to upstream interfaces), in this proxy's terms: an instance
// has an ordered list of upstreams, each with rules (source prefix, group
// prefix); an upstream with no rule matches every channel. The merged
// membership of a group (RFC 4605 section 4.1) is split among them:
//   - a source S of an INCLUDE state goes to the upstreams whose rules match
//     (S, G);
//   - an EXCLUDE (any-source) state goes to the upstreams with a rule for the
//     group from any source (source prefix ::/0): an any-source join cannot be
//     split by source, and a source-specific rule does not take it;
// with matching `first` to the first such upstream in order, with `all` and
// `mutex` to every one. Data arriving on an upstream is forwarded downstream only for
// what that upstream was asked (accepts()): the same channel arriving on an
// upstream it was not asked from (an LMA tunnel while the local router serves
// it) is not forwarded twice. Data from a downstream goes to the upstreams
// that match (S, G) (first or all), none when none matches.
//
// draft-zhao-multimob-pmip6-solution's MAG "proxy-direct" mode is the case of
// two upstreams: a local interface with the locally routed channels' rules
// first, the LMA tunnel (no rule) last.
//
// `mutex` (Mcproxy's): joined on every upstream that matches, as `all`, but a
// source's data taken from one of them at a time (KernelProxy: the entry's
// parent) and switched to another only when that one brought nothing for
// the mutex timeout; a downstream's data goes to the first matching upstream
// only, as with `first`.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "pmip/mcast/membership.hpp"
#include "pmip/common/clock.hpp"
#include "pmip/mcast/proxy.hpp"

namespace pmip::mcast {

enum class UpstreamMatching : std::uint8_t { kFirst, kAll, kMutex };
std::string_view to_string(UpstreamMatching matching);  // "first", "all", "mutex"

class UpstreamRules {
  public:
    // rules[i]: upstream i's rules (empty: every channel); in match order.
    UpstreamRules(std::vector<std::vector<SourceGroupRule>> rules, UpstreamMatching matching);

    std::size_t size() const { return rules_.size(); }
    UpstreamMatching matching() const { return matching_; }
    // True when there is one upstream without rules: the split is the
    // identity and callers may skip it.
    bool trivial() const { return rules_.size() == 1 && rules_[0].empty(); }

    // Whether upstream `index` has a rule for (source, group); for the any
    // source (an EXCLUDE-mode join) only a rule with source ::/0 counts.
    bool matches(std::size_t index, const Ipv6Address& source, const Ipv6Address& group) const;
    bool matches_any_source(std::size_t index, const Ipv6Address& group) const;

    // The part of the merged `state` of `group` upstream `index` reports.
    MembershipState project(std::size_t index, const Ipv6Address& group,
                            const MembershipState& state) const;
    // Whether data (source, group) arriving on upstream `index` is forwarded
    // downstream, given the merged state of the group.
    bool accepts(std::size_t index, const Ipv6Address& source, const Ipv6Address& group,
                 const MembershipState& merged) const;
    // The upstreams data from a downstream goes to, in order.
    std::vector<std::size_t> targets(const Ipv6Address& source, const Ipv6Address& group) const;
    // The upstream an any-source (*, group) entry takes its data from: the
    // first with an any-source rule for it; size() when none has.
    std::size_t any_source_upstream(const Ipv6Address& group) const;

  private:
    // Upstream `index` is chosen for the channel among those that match:
    // with kFirst only the first matching one.
    template <typename Match>
    bool chosen(std::size_t index, Match&& match) const;

    std::vector<std::vector<SourceGroupRule>> rules_;
    UpstreamMatching matching_;
};

// A peering interface (RFC 7287 section 5): a link or tunnel between this
// proxy instance and another one (another MAG's), silent unless one side
// subscribes to a source attached below the other. On it this instance is
//   - a restricted downstream (sender side): an RFC 3810 querier of its own,
//     whose state is the peer's and is never merged upstream; only data that
//     arrived on one of our downstreams, from a source inside that
//     downstream's prefixes (set_downstream_prefixes), goes there: traffic
//     from an upstream or from another peering never crosses a peering;
//   - a preferred upstream (listener side): the merged membership is joined
//     there at once, before the upstreams; an upstream report of a group
//     nobody held waits report_wait for the group's data over the peering;
//     a source whose data arrives over a peering is left out of the upstream
//     state (INCLUDE: not asked for; EXCLUDE: excluded), so the upstream
//     stops sending a duplicate, and its (S,G) entry takes the peering as
//     parent (an upstream copy is dropped as arriving on the wrong
//     interface); when the peering brings no packet of that source for
//     peering_data_timeout (the data-driven timer, shared by the peerings)
//     the entry goes and the upstream is asked for the source again.
struct PeeringConfig {
    std::string name;  // interface name
    // RFC 7287 section 5: 10 ms for a peer on the same node, 25 ms for a
    // remote one; 0: report upstream at once (duplicates are still filtered).
    Duration report_wait = std::chrono::milliseconds(25);
    bool operator==(const PeeringConfig&) const = default;
};

}  // namespace pmip::mcast
