// magd's policy store: which mobile nodes this MAG serves and how
// [RFC 5213 section 6.2; PROTOCOL.md 2.13], as JSON, reloaded on SIGHUP and
// `pmipctl reload` (the daemon applies the changes to existing bindings).
//
//   {
//     "mobile_nodes": [
//       {"mac": "02:00:00:00:00:01",      // the MN's link-layer address (key)
//        "interface": "mn1",              // optional: this device is the MN's link
//                                         //   (attach on link up, [access] detect link)
//        "id": "mn1@example.org",         // MN-Identifier (NAI), subtype 1
//        "lma": "2001:db8:1::1",          // LMA address
//        "prefixes": ["2001:db8:8000::/64"], // optional: static HNPs; absent = LMA assigns
//        "lifetime": 3600,                // seconds requested (multiple of 4), default 3600
//        "tunnel": "ip6ip6",              // ip6ip6 | gre | gre-key
//        "multicast": true,               // admissible for the MLD proxy (RFC 6224)
//        "multicast_channels": [          // optional: joined for it while attached,
//          {"group": "ff0e::8000:1"},     //   whatever MLD says (network-initiated
//          {"group": "ff3e::8000:2",      //   service); (*, G) without sources,
//           "sources": ["2001:db8:5::10"]}], // (S, G) with; needs "multicast": true
//        "multicast_policy": {            // optional: what the MN may join by MLD
//          "allowed_groups": ["ff3e::/32"], "denied_groups": ["ff3e::dead/128"],
//          "allowed_sources": [{"source": "2001:db8:5::/64", "group": "ff3e::/32"}],
//          "denied_sources": [], "max_groups": 8}}   // 0: no limit
//     ],
//     "default": {"id": "{mac}@example.org", "lma": "2001:db8:1::1", ...}
//   }
//
// "default" (optional) serves MNs absent from the list; its "id" is a
// template in which "{mac}" becomes the MN's MAC (lower-case, colons). An MN
// that is neither listed nor covered by a default gets no service (magd
// logs and counts it). Unknown members are errors (typos must not silently
// change policy). Problems name the file and the member:
// "magd-policy.json: mobile_nodes[2].lma: ...".
//
// Threading: loop thread only. Counters: none (reload reports what changed).
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "pmip/common/config_file.hpp"
#include "pmip/mag/mag_engine.hpp"

namespace pmip::mag {

struct PolicyEntry {
    std::string mac;        // 6 octets
    std::string interface;  // empty: any access link
    MobileNodePolicy policy;
};

struct PolicyFileContents {
    std::map<std::string, PolicyEntry> by_mac;  // key: 6 octets
    std::optional<MobileNodePolicy> default_policy;
    std::string default_id_template;  // with "{mac}"
    std::map<std::string, std::string> mac_by_interface;  // interface -> mac (index)
};

struct PolicyLoad {
    PolicyFileContents contents;
    std::vector<ConfigProblem> problems;
    bool ok() const { return !has_errors(problems); }
};

PolicyLoad parse_policy_json(const std::string& text, const std::string& name);
PolicyLoad load_policy_file(const std::string& path);

// "02:00:00:00:00:01" <-> 6 octets.
std::optional<std::string> parse_mac_text(const std::string& text);
std::string mac_text(const std::string& octets);

class FilePolicyStore final : public PolicyStore {
  public:
    const MobileNodePolicy* find(const std::string& mac) const override;
    // The MN whose entry names `interface` (for attach on link up).
    const PolicyEntry* find_by_interface(const std::string& interface) const;

    // Replaces the contents; returns the MACs whose policy changed or went.
    std::vector<std::string> replace(PolicyFileContents contents);
    std::size_t size() const { return contents_.by_mac.size(); }
    const PolicyFileContents& contents() const { return contents_; }
    nlohmann::json to_json() const;

  private:
    PolicyFileContents contents_;
    mutable std::map<std::string, MobileNodePolicy> defaults_;  // synthesized per MAC
};

}  // namespace pmip::mag
