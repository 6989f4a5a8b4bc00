// Membership state helpers [RFC 3810 sections 5.2.14, 6; RFC 4605 section 4.1].
#include "pmip/mcast/membership.hpp"

#include "pmip/mcast/mld_codec.hpp"

namespace pmip::mcast {

std::string_view to_string(FilterMode mode) {
    return mode == FilterMode::kInclude ? "include" : "exclude";
}

std::string to_string(const MembershipState& state) {
    std::string out = state.mode == FilterMode::kInclude ? "INCLUDE {" : "EXCLUDE {";
    bool first = true;
    for (const auto& s : state.sources) {
        if (!first)
            out += ", ";
        out += pmip::to_string(s);
        first = false;
    }
    out += "}";
    return out;
}

MembershipState merge(const MembershipState& a, const MembershipState& b) {
    MembershipState out;
    if (a.mode == FilterMode::kInclude && b.mode == FilterMode::kInclude) {
        out.sources = a.sources;
        out.sources.insert(b.sources.begin(), b.sources.end());
        return out;
    }
    out.mode = FilterMode::kExclude;
    if (a.mode == FilterMode::kExclude && b.mode == FilterMode::kExclude) {
        for (const auto& s : a.sources)
            if (b.sources.contains(s))
                out.sources.insert(s);
        return out;
    }
    const MembershipState& ex = a.mode == FilterMode::kExclude ? a : b;
    const MembershipState& in = a.mode == FilterMode::kExclude ? b : a;
    for (const auto& s : ex.sources)
        if (!in.sources.contains(s))
            out.sources.insert(s);
    return out;
}

bool is_reportable_multicast(const Ipv6Address& address) {
    if (address[0] != 0xff)
        return false;
    const unsigned scope = address[1] & 0x0f;
    if (scope == 0 || scope == 1)
        return false;
    return address != kAllNodes;
}

}  // namespace pmip::mcast
