// magd's JSON policy store. See policy_file.hpp.
#include "policy_file.hpp"

#include <algorithm>
#include <cctype>
#include <fstream>
#include <set>
#include <sstream>

namespace pmip::mag {

using json = nlohmann::json;

std::optional<std::string> parse_mac_text(const std::string& text) {
    if (text.size() != 17)
        return std::nullopt;
    std::string out;
    for (std::size_t i = 0; i < 17; i += 3) {
        if (i + 2 < 17 && text[i + 2] != ':' && text[i + 2] != '-')
            return std::nullopt;
        const auto hex = [](char c) -> int {
            c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
            if (c >= '0' && c <= '9') return c - '0';
            if (c >= 'a' && c <= 'f') return c - 'a' + 10;
            return -1;
        };
        const int hi = hex(text[i]), lo = hex(text[i + 1]);
        if (hi < 0 || lo < 0)
            return std::nullopt;
        out.push_back(static_cast<char>(hi << 4 | lo));
    }
    return out;
}

std::string mac_text(const std::string& octets) {
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out;
    for (unsigned char c : octets) {
        if (!out.empty()) out += ':';
        out += kHex[c >> 4];
        out += kHex[c & 0xf];
    }
    return out;
}

namespace {

constexpr const char* kNeedsMulticast = "needs \"multicast\": true (the MN must be admitted to the MLD proxy)";

class Reader {
  public:
    Reader(const std::string& name, std::vector<ConfigProblem>& problems)
        : name_(name), problems_(problems) {}

    void error(const std::string& where, const std::string& message) {
        problems_.push_back({name_, 0, where, message, false});
    }

    // Members of an entry or of "default". `is_default` allows the "{mac}" id template.
    void policy_members(const json& o, const std::string& where, MobileNodePolicy& p,
                        bool is_default, std::string* id_template) {
        static const std::set<std::string> kEntry = {"mac", "interface", "id", "lma", "prefixes",
                                                     "lifetime", "tunnel", "multicast",
                                                     "multicast_channels", "multicast_policy"};
        static const std::set<std::string> kDefault = {"id", "lma", "lifetime", "tunnel", "multicast",
                                                       "multicast_channels", "multicast_policy"};
        for (const auto& [key, value] : o.items()) {
            if (!(is_default ? kDefault : kEntry).count(key))
                error(where + "." + key, "unknown member");
        }
        if (const auto it = o.find("id"); it != o.end()) {
            if (!it->is_string() || it->get<std::string>().empty() ||
                it->get<std::string>().size() > 255) {
                error(where + ".id", "must be a non-empty string of at most 255 octets");
            } else if (is_default) {
                *id_template = it->get<std::string>();
            } else {
                p.mn_identifier = it->get<std::string>();
            }
        } else {
            error(where + ".id", "missing (the MN-Identifier sent in PBUs)");
        }
        if (const auto it = o.find("lma"); it != o.end()) {
            const auto a = it->is_string() ? parse_address(it->get<std::string>()) : std::nullopt;
            if (!a || *a == Ipv6Address{} || is_multicast(*a) || is_link_local(*a)) {
                error(where + ".lma", "must be the LMA's global unicast IPv6 address");
            } else {
                p.lma = *a;
            }
        } else {
            error(where + ".lma", "missing (the LMA address of this mobile node)");
        }
        if (const auto it = o.find("prefixes"); it != o.end()) {
            if (!it->is_array()) {
                error(where + ".prefixes", "must be an array of IPv6 prefixes");
            } else {
                for (std::size_t i = 0; i < it->size(); ++i) {
                    const auto& v = (*it)[i];
                    const auto pr = v.is_string() ? parse_prefix(v.get<std::string>()) : std::nullopt;
                    const std::string w = where + ".prefixes[" + std::to_string(i) + "]";
                    if (!pr || v.get<std::string>().find('/') == std::string::npos) {
                        error(w, "not an IPv6 prefix (PREFIX/LEN)");
                    } else if (canonical(*pr) != *pr) {
                        error(w, "bits set past /" + std::to_string(pr->length) + " (did you mean " +
                                     pmip::to_string(canonical(*pr)) + "?)");
                    } else {
                        p.home_network_prefixes.push_back(*pr);
                    }
                }
            }
        }
        p.lifetime = 900;  // 3600 s
        if (const auto it = o.find("lifetime"); it != o.end()) {
            if (!it->is_number_unsigned() || it->get<std::uint64_t>() < 4 ||
                it->get<std::uint64_t>() > 262140) {
                error(where + ".lifetime", "must be seconds from 4 to 262140");
            } else {
                p.lifetime = static_cast<std::uint16_t>(it->get<std::uint64_t>() / 4);
            }
        }
        if (const auto it = o.find("tunnel"); it != o.end()) {
            const std::string t = it->is_string() ? it->get<std::string>() : "";
            if (t == "ip6ip6") {
                p.tunnel_kind = TunnelKind::kIp6Ip6;
            } else if (t == "gre") {
                p.tunnel_kind = TunnelKind::kGre;
            } else if (t == "gre-key") {
                p.tunnel_kind = TunnelKind::kGre;
                p.gre_keys = true;
            } else {
                error(where + ".tunnel", "must be \"ip6ip6\", \"gre\" or \"gre-key\"");
            }
        }
        if (const auto it = o.find("multicast"); it != o.end()) {
            if (!it->is_boolean())
                error(where + ".multicast", "must be true or false");
            else
                p.multicast = it->get<bool>();
        }
        const auto report = [this](const std::string& w, const std::string& m) { error(w, m); };
        if (const auto it = o.find("multicast_channels"); it != o.end()) {
            if (!p.multicast && !it->empty())
                error(where + ".multicast_channels", kNeedsMulticast);
            read_multicast_channels(*it, where + ".multicast_channels", p.multicast_channels, report);
        }
        if (const auto it = o.find("multicast_policy"); it != o.end()) {
            if (!p.multicast)
                error(where + ".multicast_policy", kNeedsMulticast);
            read_multicast_admission(*it, where + ".multicast_policy", p.multicast_admission, report);
        }
    }

  private:
    const std::string& name_;
    std::vector<ConfigProblem>& problems_;
};

}  // namespace

PolicyLoad parse_policy_json(const std::string& text, const std::string& name) {
    PolicyLoad load;
    json doc;
    try {
        doc = json::parse(text);
    } catch (const json::parse_error& e) {
        std::size_t line = 1 + static_cast<std::size_t>(std::count(
                                   text.begin(), text.begin() + static_cast<std::ptrdiff_t>(
                                                                    std::min(e.byte, text.size())),
                                   '\n'));
        load.problems.push_back({name, line, "", std::string("JSON syntax: ") + e.what(), false});
        return load;
    }
    Reader r(name, load.problems);
    if (!doc.is_object()) {
        r.error("", "must be a JSON object with \"mobile_nodes\" and/or \"default\"");
        return load;
    }
    for (const auto& [key, value] : doc.items()) {
        if (key != "mobile_nodes" && key != "default")
            r.error(key, "unknown member (expected mobile_nodes, default)");
    }
    std::map<std::string, std::string> interfaces;  // interface -> where
    if (const auto it = doc.find("mobile_nodes"); it != doc.end()) {
        if (!it->is_array()) {
            r.error("mobile_nodes", "must be an array");
        } else {
            for (std::size_t i = 0; i < it->size(); ++i) {
                const auto& o = (*it)[i];
                const std::string where = "mobile_nodes[" + std::to_string(i) + "]";
                if (!o.is_object()) {
                    r.error(where, "must be an object");
                    continue;
                }
                PolicyEntry e;
                const auto m = o.find("mac");
                const auto mac = (m != o.end() && m->is_string()) ? parse_mac_text(m->get<std::string>())
                                                                   : std::nullopt;
                if (!mac) {
                    r.error(where + ".mac", m == o.end() ? "missing (the MN's MAC, the key)"
                                                         : "not a MAC address (xx:xx:xx:xx:xx:xx)");
                }
                if (const auto f = o.find("interface"); f != o.end()) {
                    if (!f->is_string() || f->get<std::string>().empty() ||
                        f->get<std::string>().size() > 15) {
                        r.error(where + ".interface", "must be a device name (1-15 characters)");
                    } else {
                        e.interface = f->get<std::string>();
                        if (const auto d = interfaces.find(e.interface); d != interfaces.end()) {
                            r.error(where + ".interface", "\"" + e.interface + "\" already used by " + d->second);
                        }
                        interfaces[e.interface] = where;
                    }
                }
                r.policy_members(o, where, e.policy, false, nullptr);
                if (!mac)
                    continue;
                e.mac = *mac;
                if (load.contents.by_mac.count(*mac)) {
                    r.error(where + ".mac", mac_text(*mac) + " is listed twice");
                    continue;
                }
                if (!e.interface.empty())
                    load.contents.mac_by_interface[e.interface] = *mac;
                load.contents.by_mac.emplace(*mac, std::move(e));
            }
        }
    }
    if (const auto it = doc.find("default"); it != doc.end()) {
        if (!it->is_object()) {
            r.error("default", "must be an object");
        } else {
            MobileNodePolicy p;
            r.policy_members(*it, "default", p, true, &load.contents.default_id_template);
            load.contents.default_policy = p;
        }
    }
    return load;
}

PolicyLoad load_policy_file(const std::string& path) {
    std::vector<ConfigProblem> problems;
    const auto text = config::read_file(path, problems);
    if (!text) {
        PolicyLoad load;
        load.problems = std::move(problems);
        return load;
    }
    return parse_policy_json(*text, path);
}

const MobileNodePolicy* FilePolicyStore::find(const std::string& mac) const {
    if (const auto it = contents_.by_mac.find(mac); it != contents_.by_mac.end())
        return &it->second.policy;
    if (!contents_.default_policy)
        return nullptr;
    auto [it, inserted] = defaults_.try_emplace(mac, *contents_.default_policy);
    if (inserted) {
        std::string id = contents_.default_id_template;
        const std::string text = mac_text(mac);
        for (std::size_t pos; (pos = id.find("{mac}")) != std::string::npos;)
            id.replace(pos, 5, text);
        it->second.mn_identifier = id;
    }
    return &it->second;
}

const PolicyEntry* FilePolicyStore::find_by_interface(const std::string& interface) const {
    const auto m = contents_.mac_by_interface.find(interface);
    if (m == contents_.mac_by_interface.end())
        return nullptr;
    const auto it = contents_.by_mac.find(m->second);
    return it == contents_.by_mac.end() ? nullptr : &it->second;
}

std::vector<std::string> FilePolicyStore::replace(PolicyFileContents contents) {
    std::vector<std::string> changed;
    std::set<std::string> macs;
    for (const auto& [mac, e] : contents_.by_mac) macs.insert(mac);
    for (const auto& [mac, e] : contents.by_mac) macs.insert(mac);
    for (const auto& [mac, p] : defaults_) macs.insert(mac);
    // Compare what each MN got before and gets now.
    std::map<std::string, std::optional<MobileNodePolicy>> before;
    for (const auto& mac : macs) {
        const MobileNodePolicy* p = find(mac);
        before[mac] = p ? std::optional(*p) : std::nullopt;
    }
    contents_ = std::move(contents);
    defaults_.clear();
    for (const auto& mac : macs) {
        const MobileNodePolicy* p = find(mac);
        const auto& old = before[mac];
        if (static_cast<bool>(p) != old.has_value() || (p && !(*p == *old)))
            changed.push_back(mac);
    }
    return changed;
}


json FilePolicyStore::to_json() const {
    json out = json::array();
    for (const auto& [mac, e] : contents_.by_mac) {
        json prefixes = json::array();
        for (const auto& p : e.policy.home_network_prefixes) prefixes.push_back(pmip::to_string(p));
        out.push_back({{"mac", mac_text(mac)},
                       {"interface", e.interface},
                       {"id", e.policy.mn_identifier},
                       {"lma", pmip::to_string(e.policy.lma)},
                       {"prefixes", prefixes},
                       {"lifetime", e.policy.lifetime * 4},
                       {"multicast", e.policy.multicast},
                       {"multicast_channels", channels_json(e.policy.multicast_channels)},
                       {"multicast_policy", admission_json(e.policy.multicast_admission)}});
    }
    return out;
}

}  // namespace pmip::mag
