// Membership state values shared by the querier and the proxy database.
//
// MembershipState is the "forwarding state" of one multicast address on one
// interface, in the form RFC 4605 section 4.1 merges: timers dropped, and for
// a router EXCLUDE(X, Y) state only Y kept (RFC 4605 section 4.1 step 2):
//   INCLUDE, A : forward traffic from the sources in A only;
//   EXCLUDE, Y : forward traffic from every source except those in Y.
// INCLUDE {} means "no listener" (RFC 3810 section 6.1: non-existent state).
//
// Thread safety: plain values.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <set>
#include <string>
#include <string_view>

#include "pmip/common/ip.hpp"

namespace pmip::mcast {

enum class FilterMode : std::uint8_t { kInclude, kExclude };
std::string_view to_string(FilterMode mode);  // "include", "exclude"

using SourceSet = std::set<Ipv6Address>;

struct MembershipState {
    FilterMode mode = FilterMode::kInclude;
    SourceSet sources;
    bool no_listeners() const { return mode == FilterMode::kInclude && sources.empty(); }
    // True when traffic from `source` is wanted [RFC 3810 section 7.3].
    bool wants(const Ipv6Address& source) const {
        const bool listed = sources.contains(source);
        return mode == FilterMode::kInclude ? listed : !listed;
    }
    bool operator==(const MembershipState&) const = default;
};

std::string to_string(const MembershipState& state);  // "EXCLUDE {2001:db8::1}"

// The state of an interface with two members [RFC 3810 section 4.2]: any
// EXCLUDE -> EXCLUDE, (intersection of the EXCLUDE lists) minus (the INCLUDE
// list); both INCLUDE -> INCLUDE, the union.
MembershipState merge(const MembershipState& a, const MembershipState& b);

// Hash of an address for unordered containers.
struct AddressHash {
    std::size_t operator()(const Ipv6Address& a) const noexcept {
        std::uint64_t h = 1469598103934665603ull;  // FNV-1a
        for (auto b : a) h = (h ^ b) * 1099511628211ull;
        return static_cast<std::size_t>(h);
    }
};

// Multicast addresses a router never keeps state for: scope 0 (reserved) and
// 1 (interface-local), and ff02::1 [RFC 3810 sections 5.2.14 and 6].
bool is_reportable_multicast(const Ipv6Address& address);

}  // namespace pmip::mcast
