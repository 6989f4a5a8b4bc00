// An MN's multicast profile in a policy store. See multicast_profile.hpp.
#include "pmip/common/multicast_profile.hpp"

#include <optional>

namespace pmip {

using json = nlohmann::json;

// "multicast_policy": {"allowed_groups": [P...], "denied_groups": [P...],
//   "allowed_sources": [{"source": P, "group": P}...], "denied_sources": [...],
//   "max_groups": N}
void read_multicast_admission(const json& v, const std::string& where, MulticastAdmission& a,
                              const ProfileError& error) {
    static constexpr std::size_t kMaxRules = 256;
    if (!v.is_object()) {
        error(where, "must be an object with allowed_groups, denied_groups, allowed_sources, "
                     "denied_sources, max_groups");
        return;
    }
    const auto group_prefix = [&](const json& x, const std::string& w) -> std::optional<Ipv6Prefix> {
        const auto pr = x.is_string() ? parse_prefix(x.get<std::string>()) : std::nullopt;
        if (!pr || !is_multicast(pr->address) || pr->length < 8) {
            error(w, "must be a multicast prefix (ff00::/8 or longer, e.g. ff3e::/32 or ff0e::1)");
            return std::nullopt;
        }
        if (canonical(*pr) != *pr) {
            error(w, "bits set past /" + std::to_string(pr->length));
            return std::nullopt;
        }
        return pr;
    };
    const auto source_prefix = [&](const json& x, const std::string& w) -> std::optional<Ipv6Prefix> {
        const auto pr = x.is_string() ? parse_prefix(x.get<std::string>()) : std::nullopt;
        if (!pr || (pr->length >= 8 && is_multicast(pr->address))) {
            error(w, "must be a unicast IPv6 prefix (or address)");
            return std::nullopt;
        }
        if (canonical(*pr) != *pr) {
            error(w, "bits set past /" + std::to_string(pr->length));
            return std::nullopt;
        }
        return pr;
    };
    for (const auto& [key, value] : v.items()) {
        const std::string w = where + "." + key;
        if (key == "max_groups") {
            if (!value.is_number_unsigned() || value.get<std::uint64_t>() > 65535)
                error(w, "must be a number of groups from 0 (no limit) to 65535");
            else
                a.max_groups = value.get<std::size_t>();
            continue;
        }
        const bool groups = key == "allowed_groups" || key == "denied_groups";
        const bool sources = key == "allowed_sources" || key == "denied_sources";
        if (!groups && !sources) {
            error(w, "unknown member");
            continue;
        }
        if (!value.is_array() || value.size() > kMaxRules) {
            error(w, "must be an array of at most " + std::to_string(kMaxRules) +
                         (groups ? " group prefixes" : " {\"source\": ..., \"group\": ...} objects"));
            continue;
        }
        for (std::size_t i = 0; i < value.size(); ++i) {
            const std::string wi = w + "[" + std::to_string(i) + "]";
            if (groups) {
                if (auto g = group_prefix(value[i], wi))
                    (key == "allowed_groups" ? a.allowed_groups : a.denied_groups).push_back(*g);
                continue;
            }
            const json& r = value[i];
            if (!r.is_object() || !r.contains("source") || !r.contains("group") || r.size() != 2) {
                error(wi, "must be an object {\"source\": PREFIX, \"group\": PREFIX}");
                continue;
            }
            const auto sp = source_prefix(r["source"], wi + ".source");
            const auto gp = group_prefix(r["group"], wi + ".group");
            // An MN's EXCLUDE-mode join can only exclude listed hosts, and
            // its link's forwarding is by group: a denied prefix could not
            // be enforced against a (*, G) join.
            if (sp && key == "denied_sources" && sp->length != 128) {
                error(wi + ".source", "must be a host address (/128) for an MN; restrict a group to "
                                      "source prefixes with allowed_sources");
                continue;
            }
            if (sp && gp)
                (key == "allowed_sources" ? a.allowed_sources : a.denied_sources).push_back({*sp, *gp});
        }
    }
}

// "multicast_channels": [{"group": "ff3e::8000:1", "sources": ["2001:db8::5"]}, ...]
void read_multicast_channels(const json& v, const std::string& where, std::vector<MulticastChannel>& out,
                             const ProfileError& error) {
    static constexpr std::size_t kMaxChannels = 64, kMaxSources = 64;
    if (!v.is_array() || v.size() > kMaxChannels) {
        error(where, "must be an array of at most " + std::to_string(kMaxChannels) +
                         " {\"group\": ..., \"sources\": [...]} objects");
        return;
    }
    for (std::size_t i = 0; i < v.size(); ++i) {
        const std::string w = where + "[" + std::to_string(i) + "]";
        const json& c = v[i];
        if (!c.is_object()) {
            error(w, "must be an object {\"group\": ..., \"sources\": [...]}");
            continue;
        }
        for (const auto& [key, value] : c.items()) {
            if (key != "group" && key != "sources")
                error(w + "." + key, "unknown member");
        }
        MulticastChannel ch;
        const auto g = c.contains("group") && c["group"].is_string()
                           ? parse_address(c["group"].get<std::string>()) : std::nullopt;
        // Scopes 0-2 never reach the LMA (reserved, interface- and link-local).
        if (!g || !is_multicast(*g) || ((*g)[1] & 0x0f) <= 2) {
            error(w + ".group", "must be a multicast address of a scope beyond the link (ff03:: and wider)");
            continue;
        }
        ch.group = *g;
        if (const auto s = c.find("sources"); s != c.end()) {
            if (!s->is_array() || s->size() > kMaxSources) {
                error(w + ".sources", "must be an array of at most " + std::to_string(kMaxSources) +
                                          " unicast IPv6 addresses");
                continue;
            }
            for (std::size_t k = 0; k < s->size(); ++k) {
                const auto a = (*s)[k].is_string() ? parse_address((*s)[k].get<std::string>())
                                                   : std::nullopt;
                if (!a || *a == Ipv6Address{} || is_multicast(*a)) {
                    error(w + ".sources[" + std::to_string(k) + "]", "must be a unicast IPv6 address");
                    continue;
                }
                ch.sources.push_back(*a);
            }
        }
        // RFC 4607 section 1: the SSM range (ff3x::/32) carries (S, G) only.
        if (ch.sources.empty() && (*g)[0] == 0xff && ((*g)[1] & 0xf0) == 0x30 && (*g)[2] == 0 &&
            (*g)[3] == 0) {
            error(w + ".sources", "missing: " + pmip::to_string(*g) +
                                      " is a source-specific (ff3x::/32) group, name its sources");
            continue;
        }
        out.push_back(std::move(ch));
    }
}


json channels_json(const std::vector<MulticastChannel>& channels) {
    json out = json::array();
    for (const auto& c : channels) {
        json sources = json::array();
        for (const auto& s : c.sources) sources.push_back(pmip::to_string(s));
        out.push_back({{"group", pmip::to_string(c.group)}, {"sources", sources}});
    }
    return out;
}

json admission_json(const MulticastAdmission& a) {
    const auto prefixes = [](const std::vector<Ipv6Prefix>& l) {
        json out = json::array();
        for (const auto& p : l) out.push_back(pmip::to_string(p));
        return out;
    };
    const auto rules = [](const std::vector<SourceGroupPrefixes>& l) {
        json out = json::array();
        for (const auto& r : l)
            out.push_back({{"source", pmip::to_string(r.source)}, {"group", pmip::to_string(r.group)}});
        return out;
    };
    return {{"allowed_groups", prefixes(a.allowed_groups)},
            {"denied_groups", prefixes(a.denied_groups)},
            {"allowed_sources", rules(a.allowed_sources)},
            {"denied_sources", rules(a.denied_sources)},
            {"max_groups", a.max_groups}};
}

}  // namespace pmip
