// lmad policy store file (JSON) -> MapPolicyStore. See policy_file.hpp.
#include "policy_file.hpp"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>

namespace pmip::lma {

namespace {

using json = nlohmann::json;

class Reader {
  public:
    Reader(const std::string& name, std::vector<ConfigProblem>& problems)
        : name_(name), problems_(problems) {}

    void error(const std::string& where, const std::string& message, std::size_t line = 0) {
        problems_.push_back({name_, line, where, message, false});
    }

    // Reports members of `object` not in `allowed`.
    void unknown_members(const json& object, const std::string& where,
                         std::initializer_list<std::string_view> allowed) {
        for (const auto& [key, value] : object.items()) {
            if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
                std::string list;
                for (auto a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
                error(where.empty() ? key : where + "." + key,
                      "unknown member (expected one of: " + list + ")");
            }
        }
    }

    std::optional<std::vector<Ipv6Prefix>> prefixes(const json& value, const std::string& where,
                                                    bool canonical_only) {
        if (!value.is_array()) {
            error(where, "must be an array of IPv6 prefixes");
            return std::nullopt;
        }
        std::vector<Ipv6Prefix> out;
        bool ok = true;
        for (std::size_t i = 0; i < value.size(); ++i) {
            const std::string at = where + "[" + std::to_string(i) + "]";
            const json& v = value[i];
            const auto p = v.is_string() ? parse_prefix(v.get<std::string>()) : std::nullopt;
            if (!p) {
                error(at, "not an IPv6 prefix or address: " + v.dump());
                ok = false;
                continue;
            }
            if (canonical_only && canonical(*p) != *p) {
                error(at, v.get<std::string>() + " has bits set past /" +
                              std::to_string(p->length) + " (did you mean " +
                              pmip::to_string(canonical(*p)) + "?)");
                ok = false;
                continue;
            }
            out.push_back(canonical(*p));
        }
        return ok ? std::optional(out) : std::nullopt;
    }

    // Members shared by entries and "default": prefix_count, enabled, mags, tunnel.
    void common_members(const json& object, const std::string& where, MobileNodePolicy& policy) {
        if (const auto it = object.find("prefix_count"); it != object.end()) {
            if (!it->is_number_unsigned() || it->get<std::uint64_t>() < 1 ||
                it->get<std::uint64_t>() > 64) {
                error(where + ".prefix_count", "must be an integer from 1 to 64");
            } else {
                policy.prefix_count = it->get<unsigned>();
            }
        }
        if (const auto it = object.find("enabled"); it != object.end()) {
            if (!it->is_boolean()) {
                error(where + ".enabled", "must be true or false");
            } else {
                policy.proxy_registration_enabled = it->get<bool>();
            }
        }
        if (const auto it = object.find("mags"); it != object.end()) {
            if (auto p = prefixes(*it, where + ".mags", false))
                policy.authorized_mags = *p;
        }
        if (const auto it = object.find("tunnel"); it != object.end()) {
            if (!it->is_string() || !set_tunnel_policy(it->get<std::string>(), policy)) {
                error(where + ".tunnel", "must be \"ip6ip6\", \"gre\" or \"gre-key\"");
            }
        }
        const auto report = [this](const std::string& w, const std::string& m) { error(w, m); };
        if (const auto it = object.find("multicast_channels"); it != object.end()) {
            policy.multicast_channels.clear();
            read_multicast_channels(*it, where + ".multicast_channels", policy.multicast_channels, report);
        }
        if (const auto it = object.find("multicast_policy"); it != object.end()) {
            policy.multicast_admission = {};
            read_multicast_admission(*it, where + ".multicast_policy", policy.multicast_admission, report);
        }
    }

  private:
    const std::string& name_;
    std::vector<ConfigProblem>& problems_;
};

std::optional<std::string> hex_octets(std::string_view text, char separator) {
    std::string out;
    std::size_t i = 0;
    auto nibble = [](char c) -> int {
        if (c >= '0' && c <= '9')
            return c - '0';
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        if (c >= 'a' && c <= 'f')
            return c - 'a' + 10;
        return -1;
    };
    while (i < text.size()) {
        if (i + 1 >= text.size())
            return std::nullopt;
        const int hi = nibble(text[i]), lo = nibble(text[i + 1]);
        if (hi < 0 || lo < 0)
            return std::nullopt;
        out.push_back(static_cast<char>(hi << 4 | lo));
        i += 2;
        if (separator != 0 && i < text.size()) {
            if (text[i] != separator)
                return std::nullopt;
            ++i;
            if (i == text.size())
                return std::nullopt;
        }
    }
    return out;
}

// The identifier octets for `text` under `subtype` [RFC 8371 section 6].
std::optional<std::string> identifier_octets(std::uint8_t subtype, const std::string& text,
                                             std::string& problem) {
    switch (subtype) {
        case mh::mn_id_subtype::kIpv6Address: {
            const auto a = parse_address(text);
            if (!a) {
                problem = "subtype 2 needs an IPv6 address as id";
                return std::nullopt;
            }
            return std::string(a->begin(), a->end());
        }
        case mh::mn_id_subtype::kEui48:
        case mh::mn_id_subtype::kEui64: {
            const std::size_t octets = subtype == mh::mn_id_subtype::kEui48 ? 6 : 8;
            auto v = hex_octets(text, ':');
            if (!v)
                v = hex_octets(text, '-');
            if (!v || v->size() != octets) {
                problem = "subtype " + std::to_string(subtype) + " needs " +
                          std::to_string(octets) + " colon-separated hex octets as id";
                return std::nullopt;
            }
            return v;
        }
        default:
            return text;
    }
}

std::size_t line_of_byte(std::string_view text, std::size_t byte) {
    byte = std::min(byte, text.size());
    return 1 + static_cast<std::size_t>(std::count(text.begin(), text.begin() + byte, '\n'));
}

}  // namespace

std::string_view tunnel_policy_name(const MobileNodePolicy& policy) {
    if (policy.gre_keys)
        return "gre-key";
    return policy.tunnel_kind == TunnelKind::kGre ? "gre" : "ip6ip6";
}

bool set_tunnel_policy(std::string_view name, MobileNodePolicy& policy) {
    if (name == "ip6ip6") {
        policy.tunnel_kind = TunnelKind::kIp6Ip6;
        policy.gre_keys = false;
    } else if (name == "gre") {
        policy.tunnel_kind = TunnelKind::kGre;
        policy.gre_keys = false;
    } else if (name == "gre-key") {
        policy.tunnel_kind = TunnelKind::kGre;
        policy.gre_keys = true;
    } else {
        return false;
    }
    return true;
}

std::string mn_identifier_text(const MobileNodeIdentifier& mn) {
    const bool printable =
        !mn.identifier.empty() && std::all_of(mn.identifier.begin(), mn.identifier.end(),
                                              [](char c) { return c >= 0x20 && c < 0x7f; });
    if (printable && mn.identifier.rfind("0x", 0) != 0)
        return mn.identifier;
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out = "0x";
    for (unsigned char c : mn.identifier) {
        out += kHex[c >> 4];
        out += kHex[c & 15];
    }
    return out;
}

bool same_policy(const MobileNodePolicy& a, const MobileNodePolicy& b) {
    return a.proxy_registration_enabled == b.proxy_registration_enabled &&
           a.static_prefixes == b.static_prefixes && a.prefix_count == b.prefix_count &&
           a.authorized_mags == b.authorized_mags && a.tunnel_kind == b.tunnel_kind &&
           a.gre_keys == b.gre_keys && same_multicast_profile(a, b);
}

bool same_multicast_profile(const MobileNodePolicy& a, const MobileNodePolicy& b) {
    return a.multicast_channels == b.multicast_channels && a.multicast_admission == b.multicast_admission;
}

PolicyLoad parse_policy_text(std::string_view text, const std::string& name,
                             const MobileNodePolicy& base_default) {
    PolicyLoad load;
    load.contents.default_policy = base_default;
    Reader r(name, load.problems);
    json doc;
    try {
        doc = json::parse(text.begin(), text.end());
    } catch (const json::parse_error& e) {
        // e.what() is "[json.exception.parse_error.101] parse error at line 3, column 5: ...";
        // the line goes in front, as for every other problem.
        std::string what = e.what();
        if (const auto pe = what.find("] "); pe != std::string::npos && what[0] == '[') {
            what.erase(0, pe + 2);
        }
        if (what.rfind("parse error at line ", 0) == 0) {
            if (const auto colon = what.find(": "); colon != std::string::npos)
                what.erase(0, colon + 2);
        }
        r.error("", "not valid JSON: " + what, line_of_byte(text, e.byte == 0 ? 0 : e.byte - 1));
        return load;
    }
    if (!doc.is_object()) {
        r.error("", "must be a JSON object with \"mobile_nodes\" (and optionally \"default\")");
        return load;
    }
    r.unknown_members(doc, "", {"mobile_nodes", "default"});

    if (const auto it = doc.find("default"); it != doc.end()) {
        if (!it->is_object()) {
            r.error("default", "must be an object");
        } else {
            r.unknown_members(*it, "default", {"prefix_count", "enabled", "mags", "tunnel", "multicast_channels", "multicast_policy"});
            r.common_members(*it, "default", load.contents.default_policy);
        }
    }

    const auto nodes = doc.find("mobile_nodes");
    if (nodes == doc.end())
        return load;  // only a default: every MN unknown
    if (!nodes->is_array()) {
        r.error("mobile_nodes", "must be an array of objects");
        return load;
    }
    std::map<MobileNodeIdentifier, std::size_t> seen;
    std::map<Ipv6Prefix, std::size_t> static_owner;
    for (std::size_t i = 0; i < nodes->size(); ++i) {
        const std::string where = "mobile_nodes[" + std::to_string(i) + "]";
        const json& e = (*nodes)[i];
        if (!e.is_object()) {
            r.error(where, "must be an object");
            continue;
        }
        const std::size_t problems_before = load.problems.size();
        r.unknown_members(
            e, where,
            {"id", "id_hex", "subtype", "prefixes", "prefix_count", "enabled", "mags", "tunnel",
             "multicast_channels", "multicast_policy"});
        MobileNodeIdentifier mn;
        if (const auto st = e.find("subtype"); st != e.end()) {
            if (!st->is_number_unsigned() || st->get<std::uint64_t>() < 1 ||
                st->get<std::uint64_t>() > 255) {
                r.error(where + ".subtype", "must be an integer from 1 to 255");
            } else {
                mn.subtype = st->get<std::uint8_t>();
            }
        }
        const auto id = e.find("id");
        const auto id_hex = e.find("id_hex");
        if ((id == e.end()) == (id_hex == e.end())) {
            r.error(where, "needs exactly one of \"id\" and \"id_hex\"");
        } else if (id != e.end()) {
            if (!id->is_string() || id->get_ref<const std::string&>().empty()) {
                r.error(where + ".id", "must be a non-empty string");
            } else {
                std::string problem;
                if (auto octets = identifier_octets(mn.subtype, id->get<std::string>(), problem)) {
                    mn.identifier = *octets;
                } else {
                    r.error(where + ".id", problem);
                }
            }
        } else {
            const auto octets = id_hex->is_string()
                                    ? hex_octets(id_hex->get_ref<const std::string&>(), 0)
                                    : std::nullopt;
            if (!octets || octets->empty()) {
                r.error(where + ".id_hex", "must be a non-empty string of hex digit pairs");
            } else {
                mn.identifier = *octets;
            }
        }
        // The MN Identifier option holds subtype + identifier in 255 octets.
        if (mn.identifier.size() > 254) {
            r.error(where + ".id", "longer than the 254 octets an MN-Identifier option holds");
        }
        MobileNodePolicy policy = load.contents.default_policy;
        policy.static_prefixes.clear();
        r.common_members(e, where, policy);
        if (const auto p = e.find("prefixes"); p != e.end()) {
            if (auto list = r.prefixes(*p, where + ".prefixes", true)) {
                if (list->empty())
                    r.error(where + ".prefixes", "must not be empty when given");
                policy.static_prefixes = *list;
            }
        }
        if (load.problems.size() != problems_before || mn.identifier.empty())
            continue;
        if (const auto dup = seen.find(mn); dup != seen.end()) {
            r.error(where + ".id", "\"" + mn_identifier_text(mn) +
                                       "\" already defined by mobile_nodes[" +
                                       std::to_string(dup->second) + "]");
            continue;
        }
        bool clash = false;
        for (const auto& pfx : policy.static_prefixes) {
            const auto [owner, inserted] = static_owner.emplace(pfx, i);
            if (!inserted) {
                r.error(where + ".prefixes", pmip::to_string(pfx) +
                                                 " is already a static prefix of mobile_nodes[" +
                                                 std::to_string(owner->second) + "]");
                clash = true;
            }
        }
        if (clash)
            continue;
        seen.emplace(mn, i);
        load.contents.mobile_nodes.emplace(std::move(mn), std::move(policy));
    }
    return load;
}

PolicyLoad load_policy_file(const std::string& path, const MobileNodePolicy& base_default) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        PolicyLoad load;
        load.contents.default_policy = base_default;
        load.problems.push_back(
            {path, 0, "", "cannot be read: " + std::string(std::strerror(errno)), false});
        return load;
    }
    std::ostringstream text;
    text << in.rdbuf();
    return parse_policy_text(text.str(), path, base_default);
}

nlohmann::json PolicyChanges::to_json() const {
    return json{{"added", added},
                {"removed", removed},
                {"changed", changed},
                {"default_changed", default_changed}};
}

const MobileNodePolicy* FilePolicyStore::find(const MobileNodeIdentifier& mn) const {
    if (const MobileNodePolicy* p = store_.find(mn))
        return p;
    return serve_unknown_ ? &default_ : nullptr;
}

PolicyChanges FilePolicyStore::replace(PolicyFileContents contents) {
    PolicyChanges changes;
    for (const auto& [mn, policy] : contents.mobile_nodes) {
        const auto old = store_.policies.find(mn);
        if (old == store_.policies.end()) {
            changes.added.push_back(mn_identifier_text(mn));
        } else if (!same_policy(old->second, policy)) {
            changes.changed.push_back(mn_identifier_text(mn));
        }
        if (old == store_.policies.end() ? !same_multicast_profile(default_, policy)
                                         : !same_multicast_profile(old->second, policy))
            changes.multicast_changed.push_back(mn);
    }
    for (const auto& [mn, policy] : store_.policies) {
        if (!contents.mobile_nodes.count(mn)) {
            changes.removed.push_back(mn_identifier_text(mn));
            if (!same_multicast_profile(policy, contents.default_policy))
                changes.multicast_changed.push_back(mn);
        }
    }
    changes.default_changed = !same_policy(default_, contents.default_policy);
    changes.default_multicast_changed = !same_multicast_profile(default_, contents.default_policy);
    store_.policies = std::move(contents.mobile_nodes);
    default_ = std::move(contents.default_policy);
    return changes;
}

}  // namespace pmip::lma
