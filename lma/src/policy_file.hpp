// lmad's policy store file: the mobile nodes this LMA serves, as JSON
// (DESIGN.md section 6), loaded into a MapPolicyStore and reloaded on SIGHUP
// and `pmipctl reload`.
//
// RFC 5213 section 5.3.1 steps 5-8 read it: which MAGs may register an MN
// (154), whether the MN is known (153) and entitled (152); section 5.3.2: its
// static home network prefixes or how many to take from the pools; RFC 5845:
// the tunnel kind (ip6ip6, GRE, GRE with keys).
//
//   {
//     "mobile_nodes": [
//       {"id": "mn1@example.org",          // MN-Identifier (or "id_hex": "00ab..")
//        "subtype": 1,                     // RFC 4283 / RFC 8371; default 1 (NAI)
//        "prefixes": ["2001:db8:1::/64"],  // static HNPs; default: from the pools
//        "prefix_count": 1,                // HNPs from the pools per new session
//        "enabled": true,                  // false -> PBA 152
//        "mags": ["2001:db8:100::/64"],    // MAGs allowed for this MN; default any
//        "tunnel": "ip6ip6",               // ip6ip6 | gre | gre-key
//        "multicast_channels": [           // optional: the LMA decides them; named
//          {"group": "ff3e::8000:1",       //   in the PBA of the MAG's every PBU-M,
//           "sources": ["2001:db8::5"]}],  //   joined there on the MN's behalf
//        "multicast_policy": {...}}        // optional: what a PBU-M may ask for it
//     ],
//     "default": {"prefix_count": 1, "tunnel": "ip6ip6", "mags": [...], "enabled": true}
//   }
//
// Subtypes 5 (EUI-48) and 6 (EUI-64) take the id as colon-separated hex
// ("00:11:22:33:44:55"), subtype 2 as an IPv6 address; every other subtype
// takes the id's octets as written. Unknown members are errors (typos must
// not silently change policy). Every problem names the file and the member:
// "policy.json: mobile_nodes[2].prefixes[0]: ..."; JSON syntax errors name
// the line.
//
// The "default" policy (fields over the [policy] section of lmad.conf) serves
// MNs absent from the file when [policy] serve-unknown is true.
//
// Threading: loop thread only. Counters: none (reload reports what changed).
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "config_problem.hpp"
#include "pmip/lma/lma_engine.hpp"

namespace pmip::lma {

struct PolicyFileContents {
    std::map<MobileNodeIdentifier, MobileNodePolicy> mobile_nodes;
    MobileNodePolicy default_policy;  // the base default with the file's "default" applied
};

struct PolicyLoad {
    PolicyFileContents contents;
    std::vector<ConfigProblem> problems;
    bool ok() const { return !has_errors(problems); }
};

// Parses policy JSON. `name` is the file name used in problems; `base_default`
// is the default policy from lmad.conf, which the file's "default" refines.
PolicyLoad parse_policy_text(std::string_view text, const std::string& name,
                             const MobileNodePolicy& base_default);
// Reads and parses `path`.
PolicyLoad load_policy_file(const std::string& path, const MobileNodePolicy& base_default);

// The MN-Identifier as shown to operators: the text when every octet is
// printable ASCII, else "0x" + hex (what `pmipctl show binding MN` accepts).
std::string mn_identifier_text(const MobileNodeIdentifier& mn);

bool same_policy(const MobileNodePolicy& a, const MobileNodePolicy& b);
bool same_multicast_profile(const MobileNodePolicy& a, const MobileNodePolicy& b);

// What a reload changed, by MN-Identifier text.
struct PolicyChanges {
    std::vector<std::string> added, removed, changed;
    bool default_changed = false;
    // The MNs whose multicast profile (channels, policy) is not what it was,
    // the default's MNs included when default_multicast_changed (their
    // serving MAGs are told: LmaEngine::profile_changed).
    std::vector<MobileNodeIdentifier> multicast_changed;
    bool default_multicast_changed = false;
    nlohmann::json to_json() const;
    bool empty() const {
        return added.empty() && removed.empty() && changed.empty() && !default_changed;
    }
};

// The policy store lmad hands to the engine: the file's entries, and for an
// MN not in the file the default policy when serve_unknown is set (else
// nullptr, so the engine answers 153).
class FilePolicyStore final : public PolicyStore {
  public:
    explicit FilePolicyStore(bool serve_unknown) : serve_unknown_(serve_unknown) {}

    const MobileNodePolicy* find(const MobileNodeIdentifier& mn) const override;
    // Replaces every entry; returns what changed.
    PolicyChanges replace(PolicyFileContents contents);

    std::size_t size() const { return store_.policies.size(); }
    bool serve_unknown() const { return serve_unknown_; }
    const MobileNodePolicy& default_policy() const { return default_; }
    const MapPolicyStore& entries() const { return store_; }

  private:
    MapPolicyStore store_;
    MobileNodePolicy default_;
    bool serve_unknown_;
};

// "ip6ip6" | "gre" | "gre-key" of a policy, and back.
std::string_view tunnel_policy_name(const MobileNodePolicy& policy);
bool set_tunnel_policy(std::string_view name, MobileNodePolicy& policy);

}  // namespace pmip::lma
