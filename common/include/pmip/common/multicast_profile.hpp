// An MN's multicast profile in a policy store (magd's and lmad's): the
// channels the network joins on its behalf and what it may join itself
// (draft-zhao-multimob-pmip6-solution; draft-asaeda section 7.1; PROTOCOL.md
// 9.1), with the JSON readers and writers both policy files share.
//
//   "multicast_channels": [{"group": "ff3e::8000:1", "sources": ["2001:db8::5"]}, ...]
//   "multicast_policy": {"allowed_groups": [P...], "denied_groups": [P...],
//     "allowed_sources": [{"source": P, "group": P}...], "denied_sources": [...],
//     "max_groups": N}
//
// Threading: plain values and pure functions.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "pmip/common/ip.hpp"

namespace pmip {

// A multicast channel an MN receives because its profile says so
// (network-initiated service): (*, G) when `sources` is empty, else (S, G)
// for each source.
struct MulticastChannel {
    Ipv6Address group{};
    std::vector<Ipv6Address> sources;
    bool operator==(const MulticastChannel&) const = default;
};

// What an MN may join by MLD (its profile, on top of the router's own
// rules): groups and (source, group) prefixes allowed / denied as in the MLD
// proxy's policy (pmip/mcast/proxy.hpp), and a limit on its groups (0: none).
struct SourceGroupPrefixes {
    Ipv6Prefix source{};
    Ipv6Prefix group{};
    bool operator==(const SourceGroupPrefixes&) const = default;
};
struct MulticastAdmission {
    std::vector<Ipv6Prefix> allowed_groups;  // empty: every group
    std::vector<Ipv6Prefix> denied_groups;
    std::vector<SourceGroupPrefixes> allowed_sources;
    std::vector<SourceGroupPrefixes> denied_sources;
    std::size_t max_groups = 0;
    bool operator==(const MulticastAdmission&) const = default;
};

// Problems are reported as (where, message), `where` being the JSON path.
using ProfileError = std::function<void(const std::string& where, const std::string& message)>;

// Appends the channels of a "multicast_channels" array to `out`; groups of
// link scope or narrower and (*, G) in the SSM range are errors.
void read_multicast_channels(const nlohmann::json& value, const std::string& where,
                             std::vector<MulticastChannel>& out, const ProfileError& error);
// Fills `out` from a "multicast_policy" object.
void read_multicast_admission(const nlohmann::json& value, const std::string& where,
                              MulticastAdmission& out, const ProfileError& error);

// As in the file.
nlohmann::json channels_json(const std::vector<MulticastChannel>& channels);
nlohmann::json admission_json(const MulticastAdmission& admission);

}  // namespace pmip
