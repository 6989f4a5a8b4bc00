// JSON form of Mobility Header messages (see pmip/mh/json.hpp for the shape).
//
// Option members, one line per option struct of options.hpp ("type" and
// "name" are always present; "name" is option_name(), "unknown" for
// UnknownOption):
//
//   binding_refresh_advice    "refresh_interval": N (4 s units)
//   alternate_care_of_address "address": "2001:db8::1"
//   mobile_network_prefix     "prefix": "2001:db8:2::/48"
//   mn_identifier             "subtype": N, "id": "text" | "id_hex": "..."
//   mobility_message_auth.    "subtype": N, "spi": N, "data_hex": "..."
//   replay protection         "value": U64
//   vendor_specific           "vendor_id": N, "subtype": N, "data_hex": "..."
//   home_network_prefix       "prefix": "2001:db8:1::/64"
//   handoff indicator, ATT    "value": N
//   mn_link_layer_identifier  "id_hex": "..."
//   link_local_address        "address": "fe80::1"
//   timestamp                 "value": U64 (raw 48.16 fixed point)
//   restart_counter           "value": N
//   ipv4_home_address         "prefix_length": N, "request_prefix": bool, "address"
//   ipv4 address ack          "status": N, "prefix_length": N, "address"
//   nat_detection             "udp_encapsulation_required": bool, "refresh_time": N
//   ipv4_care_of_address      "address": "192.0.2.1"
//   gre_key                   "key": N (absent: GRE without key)
//   ipv4 HoA request          "prefix_length": N, "address"
//   ipv4 HoA reply            "status": N, "prefix_length": N, "address"
//   ipv4 default router       "address"
//   ipv4 dhcp support mode    "dhcp_server": bool
//   mn_group_identifier       "subtype": N, "group_id": N
//   active mcast subscr. v4   "igmp_type", "record_type", "group", "sources", "aux_hex"
//   active mcast subscr. v6   "mld_type": N, "record": RECORD
//   multicast_subscription    "records": [RECORD, ...]
//   previous_maar             "address": P-MAAR, "home_network_prefix": "p/len"
//   serving_maar              "address": S-MAAR
//   anchored_prefix (65)      "prefix": "p/len"
//   local_prefix (66)         "prefix": "p/len"
//   dlif_link_local_address   "address": "fe80::..."
//   dlif_link_layer_address   "address_hex": "..."
//   unknown                   "data_hex": "..."
//
// RECORD = {"record_type": N, "group": "ff3e::1", "sources": ["..."], "aux_hex": ""}.
// On input every member above is required except: "subtype" of the MN
// Identifier (default 1, NAI), "key" of gre_key, booleans (default false),
// "sources", "aux_hex" and the "data_hex" of vendor_specific (default empty).
// Message-level members default to 0 / empty. Unknown members are rejected so
// that a misspelt member is not silently dropped.
#include "pmip/mh/json.hpp"

#include <array>
#include <cstdio>
#include <exception>
#include <limits>
#include <set>
#include <tuple>
#include <utility>

namespace pmip::mh {
namespace {

using nlohmann::json;

template <class... Ts>
struct Overloaded : Ts... {
    using Ts::operator()...;
};
template <class... Ts>
Overloaded(Ts...) -> Overloaded<Ts...>;

// Thrown inside message_from_json only; never escapes it.
struct JsonInputError {
    std::string text;
};

[[noreturn]] void fail(const std::string& path, const std::string& problem) {
    throw JsonInputError{path + ": " + problem};
}

std::string hex_value(std::uint32_t value, int digits) {
    static constexpr char kDigits[] = "0123456789abcdef";
    std::string out = "0x";
    for (int i = digits - 1; i >= 0; --i) out += kDigits[(value >> (4 * i)) & 0xf];
    return out;
}

// ---------------------------------------------------------------- flags

struct FlagName {
    std::string_view letter;
    std::uint16_t mask;
};

struct FlagSet {
    std::vector<FlagName> names;  // checked in order: the first match names a bit
    int width_bits;               // 16 or 8
};

FlagSet bu_flags(const ExtensionCodePoints& cp) {
    // "C" first so that a draft-asaeda bit configured onto a registered bit
    // (the draft's own 0x0100 = F) is shown as C.
    return {{{"C", cp.multicast_subscription_flag},
             {"A", bu_flag::kA},
             {"H", bu_flag::kH},
             {"L", bu_flag::kL},
             {"K", bu_flag::kK},
             {"M", bu_flag::kM},
             {"R", bu_flag::kR},
             {"P", bu_flag::kP},
             {"F", bu_flag::kF},
             {"T", bu_flag::kT},
             {"B", bu_flag::kB},
             {"S", bu_flag::kS},
             {"D", bu_flag::kD}},
            16};
}

FlagSet ba_flags() {
    return {{{"K", ba_flag::kK},
             {"R", ba_flag::kR},
             {"P", ba_flag::kP},
             {"T", ba_flag::kT},
             {"B", ba_flag::kB},
             {"S", ba_flag::kS},
             {"D", ba_flag::kD}},
            8};
}

FlagSet heartbeat_flags() {
    return {{{"U", heartbeat_flag::kU}, {"R", heartbeat_flag::kR}}, 8};
}

FlagSet revocation_flags() {
    return {{{"P", revocation_flag::kP}, {"V", revocation_flag::kV}, {"G", revocation_flag::kG}},
            8};
}

FlagSet update_notification_flags() {
    return {{{"A", update_notification_flag::kA}, {"D", update_notification_flag::kD}}, 8};
}

FlagSet subscription_response_flags() {
    return {{{"I", subscription_response_flag::kI}}, 8};
}

json flags_to_json(std::uint16_t flags, const FlagSet& set) {
    json out = json::array();
    for (int bit = set.width_bits - 1; bit >= 0; --bit) {
        const auto mask = static_cast<std::uint16_t>(1u << bit);
        if ((flags & mask) == 0)
            continue;
        std::string name;
        for (const auto& f : set.names) {
            if (f.mask == mask) {
                name = f.letter;
                break;
            }
        }
        out.push_back(name.empty() ? hex_value(mask, set.width_bits / 4) : name);
    }
    return out;
}

std::uint16_t flags_from_json(const json& j, const FlagSet& set, const std::string& path) {
    if (!j.is_array())
        fail(path, "expected an array of flag letters");
    const std::uint32_t limit = (1u << set.width_bits) - 1;
    std::uint32_t flags = 0;
    for (std::size_t i = 0; i < j.size(); ++i) {
        const std::string item_path = path + "[" + std::to_string(i) + "]";
        if (!j[i].is_string())
            fail(item_path, "expected a flag letter or \"0x..\" string");
        const auto text = j[i].get<std::string>();
        bool found = false;
        for (const auto& f : set.names) {
            if (f.letter == text) {
                flags |= f.mask;
                found = true;
                break;
            }
        }
        if (found)
            continue;
        if (text.size() > 2 && text[0] == '0' && (text[1] == 'x' || text[1] == 'X') &&
            text.size() <= 2 + static_cast<std::size_t>(set.width_bits / 4)) {
            std::uint32_t value = 0;
            bool ok = true;
            for (std::size_t k = 2; k < text.size(); ++k) {
                const char c = text[k];
                int digit = -1;
                if (c >= '0' && c <= '9')
                    digit = c - '0';
                if (c >= 'a' && c <= 'f')
                    digit = c - 'a' + 10;
                if (c >= 'A' && c <= 'F')
                    digit = c - 'A' + 10;
                if (digit < 0)
                    ok = false;
                value = value * 16 + static_cast<std::uint32_t>(digit < 0 ? 0 : digit);
            }
            if (ok && value <= limit) {
                flags |= value;
                continue;
            }
        }
        std::string known;
        for (const auto& f : set.names) known += std::string(known.empty() ? "" : " ") += f.letter;
        fail(item_path, "unknown flag \"" + text + "\" (known: " + known + ", or a hex mask like " +
                            hex_value(1, set.width_bits / 4) + ")");
    }
    return static_cast<std::uint16_t>(flags);
}

// ---------------------------------------------------------------- member reading

// Reads members of one JSON object, remembering which it used so that
// finish() can reject the rest.
class ObjectReader {
  public:
    ObjectReader(const json& object, std::string path, std::string what)
        : object_(object), path_(std::move(path)), what_(std::move(what)) {
        if (!object_.is_object())
            fail(path_.empty() ? "message" : path_, "expected a JSON object");
    }

    std::string member_path(std::string_view key) const {
        return path_.empty() ? std::string(key) : path_ + "." + std::string(key);
    }

    const json* find(std::string_view key) {
        const auto it = object_.find(std::string(key));
        if (it == object_.end())
            return nullptr;
        used_.insert(std::string(key));
        return &*it;
    }

    const json& require(std::string_view key) {
        const json* v = find(key);
        if (v == nullptr)
            fail(member_path(key), "missing (required in " + what_ + ")");
        return *v;
    }

    void ignore(std::string_view key) { used_.insert(std::string(key)); }

    template <typename T>
    T uint_value(const json& v, std::string_view key) {
        const std::uint64_t max = std::numeric_limits<T>::max();
        std::uint64_t value = 0;
        if (v.is_number_unsigned()) {
            value = v.get<std::uint64_t>();
        } else if (v.is_number_integer()) {
            const auto s = v.get<std::int64_t>();
            if (s < 0)
                fail(member_path(key), "must not be negative");
            value = static_cast<std::uint64_t>(s);
        } else {
            std::string shown = v.dump();
            if (shown.size() > 40)
                shown = shown.substr(0, 37) + "...";
            fail(member_path(key), "expected an unsigned integer, got " + shown);
        }
        if (value > max)
            fail(member_path(key), "out of range 0.." + std::to_string(max));
        return static_cast<T>(value);
    }

    template <typename T>
    T required_uint(std::string_view key) {
        return uint_value<T>(require(key), key);
    }

    template <typename T>
    T optional_uint(std::string_view key, T fallback) {
        const json* v = find(key);
        return v == nullptr ? fallback : uint_value<T>(*v, key);
    }

    std::uint8_t bounded_uint(std::string_view key, unsigned max, bool required,
                              std::uint8_t fallback = 0) {
        const json* v = required ? &require(key) : find(key);
        if (v == nullptr)
            return fallback;
        const auto value = uint_value<std::uint8_t>(*v, key);
        if (value > max)
            fail(member_path(key), "out of range 0.." + std::to_string(max));
        return value;
    }

    std::string string_value(const json& v, std::string_view key) {
        if (!v.is_string()) {
            fail(member_path(key), "expected a string, got " + std::string(v.type_name()));
        }
        return v.get<std::string>();
    }

    std::string required_string(std::string_view key) { return string_value(require(key), key); }

    bool optional_bool(std::string_view key) {
        const json* v = find(key);
        if (v == nullptr)
            return false;
        if (!v->is_boolean())
            fail(member_path(key), "expected true or false");
        return v->get<bool>();
    }

    Ipv6Address ipv6_value(const json& v, std::string_view key) {
        const auto text = string_value(v, key);
        const auto address = parse_ipv6_address(text);
        if (!address)
            fail(member_path(key), "bad IPv6 address \"" + text + "\"");
        return *address;
    }

    Ipv6Address required_ipv6(std::string_view key) { return ipv6_value(require(key), key); }

    Ipv4Address ipv4_value(const json& v, std::string_view key) {
        const auto text = string_value(v, key);
        const auto address = parse_ipv4_address(text);
        if (!address)
            fail(member_path(key), "bad IPv4 address \"" + text + "\"");
        return *address;
    }

    Ipv4Address required_ipv4(std::string_view key) { return ipv4_value(require(key), key); }

    std::pair<Ipv6Address, std::uint8_t> required_prefix(std::string_view key) {
        const auto text = required_string(key);
        const auto slash = text.find('/');
        if (slash == std::string::npos) {
            fail(member_path(key), "expected \"address/length\", got \"" + text + "\"");
        }
        const auto address = parse_ipv6_address(std::string_view(text).substr(0, slash));
        if (!address)
            fail(member_path(key), "bad IPv6 prefix \"" + text + "\"");
        const auto length_text = text.substr(slash + 1);
        unsigned length = 0;
        if (length_text.empty() || length_text.size() > 3) {
            fail(member_path(key), "bad prefix length in \"" + text + "\"");
        }
        for (const char c : length_text) {
            if (c < '0' || c > '9')
                fail(member_path(key), "bad prefix length in \"" + text + "\"");
            length = length * 10 + static_cast<unsigned>(c - '0');
        }
        if (length > 128)
            fail(member_path(key), "prefix length over 128 in \"" + text + "\"");
        return {*address, static_cast<std::uint8_t>(length)};
    }

    std::vector<std::uint8_t> hex_value_of(const json& v, std::string_view key) {
        const auto text = string_value(v, key);
        auto bytes = parse_hex(text);
        if (!bytes)
            fail(member_path(key), "expected hex octets, got \"" + text + "\"");
        return *bytes;
    }

    std::vector<std::uint8_t> required_hex(std::string_view key) {
        return hex_value_of(require(key), key);
    }

    std::vector<std::uint8_t> optional_hex(std::string_view key) {
        const json* v = find(key);
        return v == nullptr ? std::vector<std::uint8_t>{} : hex_value_of(*v, key);
    }

    void finish() const {
        for (const auto& item : object_.items()) {
            if (used_.count(item.key()) == 0) {
                fail(member_path(item.key()), "not a member of " + what_);
            }
        }
    }

    const std::string& path() const { return path_; }
    void set_what(std::string what) { what_ = std::move(what); }

  private:
    const json& object_;
    std::string path_;
    std::string what_;
    std::set<std::string> used_;
};

// ---------------------------------------------------------------- options

std::string prefix_text(const Ipv6Address& prefix, std::uint8_t length) {
    return to_string(prefix) + "/" + std::to_string(length);
}

bool printable_ascii(const std::vector<std::uint8_t>& bytes) {
    for (const auto b : bytes) {
        if (b < 0x20 || b > 0x7e)
            return false;
    }
    return true;
}

json record_to_json(const MulticastAddressRecord& r) {
    json sources = json::array();
    for (const auto& s : r.sources) sources.push_back(to_string(s));
    return {{"record_type", r.record_type},
            {"group", to_string(r.multicast_address)},
            {"sources", sources},
            {"aux_hex", to_hex(r.auxiliary_data)}};
}

MulticastAddressRecord record_from_json(const json& j, const std::string& path) {
    ObjectReader r(j, path, "a multicast address record");
    MulticastAddressRecord record;
    record.record_type = r.required_uint<std::uint8_t>("record_type");
    record.multicast_address = r.required_ipv6("group");
    if (const json* sources = r.find("sources")) {
        if (!sources->is_array())
            fail(r.member_path("sources"), "expected an array of addresses");
        for (std::size_t i = 0; i < sources->size(); ++i) {
            record.sources.push_back(
                r.ipv6_value((*sources)[i], "sources[" + std::to_string(i) + "]"));
        }
    }
    record.auxiliary_data = r.optional_hex("aux_hex");
    r.finish();
    return record;
}

void put(json& j, const BindingRefreshAdvice& o) {
    j["refresh_interval"] = o.refresh_interval;
}
void get(ObjectReader& r, BindingRefreshAdvice& o) {
    o.refresh_interval = r.required_uint<std::uint16_t>("refresh_interval");
}

void put(json& j, const AlternateCareOfAddress& o) {
    j["address"] = to_string(o.address);
}
void get(ObjectReader& r, AlternateCareOfAddress& o) {
    o.address = r.required_ipv6("address");
}

void put(json& j, const MobileNetworkPrefix& o) {
    j["prefix"] = prefix_text(o.prefix, o.prefix_length);
}
void get(ObjectReader& r, MobileNetworkPrefix& o) {
    std::tie(o.prefix, o.prefix_length) = r.required_prefix("prefix");
}

void put(json& j, const MobileNodeIdentifier& o) {
    j["subtype"] = o.subtype;
    if (printable_ascii(o.identifier)) {
        j["id"] = std::string(o.identifier.begin(), o.identifier.end());
    } else {
        j["id_hex"] = to_hex(o.identifier);
    }
}
void get(ObjectReader& r, MobileNodeIdentifier& o) {
    o.subtype = r.optional_uint<std::uint8_t>("subtype", mn_id_subtype::kNai);
    const json* text = r.find("id");
    const json* hex = r.find("id_hex");
    if (text != nullptr && hex != nullptr)
        fail(r.member_path("id_hex"), "give \"id\" or \"id_hex\", not both");
    if (text != nullptr) {
        const auto s = r.string_value(*text, "id");
        o.identifier.assign(s.begin(), s.end());
    } else if (hex != nullptr) {
        o.identifier = r.hex_value_of(*hex, "id_hex");
    } else {
        fail(r.member_path("id"), "missing (\"id\" or \"id_hex\" is required)");
    }
}

void put(json& j, const MobilityMessageAuthentication& o) {
    j["subtype"] = o.subtype;
    j["spi"] = o.mobility_spi;
    j["data_hex"] = to_hex(o.authentication_data);
}
void get(ObjectReader& r, MobilityMessageAuthentication& o) {
    o.subtype = r.required_uint<std::uint8_t>("subtype");
    o.mobility_spi = r.required_uint<std::uint32_t>("spi");
    o.authentication_data = r.required_hex("data_hex");
}

void put(json& j, const MobilityMessageReplayProtection& o) {
    j["value"] = o.timestamp;
}
void get(ObjectReader& r, MobilityMessageReplayProtection& o) {
    o.timestamp = r.required_uint<std::uint64_t>("value");
}

void put(json& j, const VendorSpecific& o) {
    j["vendor_id"] = o.vendor_id;
    j["subtype"] = o.subtype;
    j["data_hex"] = to_hex(o.data);
}
void get(ObjectReader& r, VendorSpecific& o) {
    o.vendor_id = r.required_uint<std::uint32_t>("vendor_id");
    o.subtype = r.required_uint<std::uint8_t>("subtype");
    o.data = r.optional_hex("data_hex");
}

void put(json& j, const HomeNetworkPrefix& o) {
    j["prefix"] = prefix_text(o.prefix, o.prefix_length);
}
void get(ObjectReader& r, HomeNetworkPrefix& o) {
    std::tie(o.prefix, o.prefix_length) = r.required_prefix("prefix");
}

void put(json& j, const HandoffIndicator& o) {
    j["value"] = o.value;
}
void get(ObjectReader& r, HandoffIndicator& o) {
    o.value = r.required_uint<std::uint8_t>("value");
}

void put(json& j, const AccessTechnologyType& o) {
    j["value"] = o.value;
}
void get(ObjectReader& r, AccessTechnologyType& o) {
    o.value = r.required_uint<std::uint8_t>("value");
}

void put(json& j, const MobileNodeLinkLayerIdentifier& o) {
    j["id_hex"] = to_hex(o.identifier);
}
void get(ObjectReader& r, MobileNodeLinkLayerIdentifier& o) {
    o.identifier = r.required_hex("id_hex");
}

void put(json& j, const LinkLocalAddress& o) {
    j["address"] = to_string(o.address);
}
void get(ObjectReader& r, LinkLocalAddress& o) {
    o.address = r.required_ipv6("address");
}

void put(json& j, const Timestamp& o) {
    j["value"] = o.value;
}
void get(ObjectReader& r, Timestamp& o) {
    o.value = r.required_uint<std::uint64_t>("value");
}

void put(json& j, const RestartCounter& o) {
    j["value"] = o.value;
}
void get(ObjectReader& r, RestartCounter& o) {
    o.value = r.required_uint<std::uint32_t>("value");
}

void put(json& j, const Ipv4HomeAddress& o) {
    j["prefix_length"] = o.prefix_length;
    j["request_prefix"] = o.request_prefix;
    j["address"] = to_string(o.address);
}
void get(ObjectReader& r, Ipv4HomeAddress& o) {
    o.prefix_length = r.bounded_uint("prefix_length", 63, true);
    o.request_prefix = r.optional_bool("request_prefix");
    o.address = r.required_ipv4("address");
}

void put(json& j, const Ipv4AddressAcknowledgement& o) {
    j["status"] = o.status;
    j["prefix_length"] = o.prefix_length;
    j["address"] = to_string(o.address);
}
void get(ObjectReader& r, Ipv4AddressAcknowledgement& o) {
    o.status = r.required_uint<std::uint8_t>("status");
    o.prefix_length = r.bounded_uint("prefix_length", 63, true);
    o.address = r.required_ipv4("address");
}

void put(json& j, const NatDetection& o) {
    j["udp_encapsulation_required"] = o.udp_encapsulation_required;
    j["refresh_time"] = o.refresh_time;
}
void get(ObjectReader& r, NatDetection& o) {
    o.udp_encapsulation_required = r.optional_bool("udp_encapsulation_required");
    o.refresh_time = r.required_uint<std::uint32_t>("refresh_time");
}

void put(json& j, const Ipv4CareOfAddress& o) {
    j["address"] = to_string(o.address);
}
void get(ObjectReader& r, Ipv4CareOfAddress& o) {
    o.address = r.required_ipv4("address");
}

void put(json& j, const GreKey& o) {
    if (o.key)
        j["key"] = *o.key;
}
void get(ObjectReader& r, GreKey& o) {
    if (const json* v = r.find("key"))
        o.key = r.uint_value<std::uint32_t>(*v, "key");
}

void put(json& j, const Ipv4HomeAddressRequest& o) {
    j["prefix_length"] = o.prefix_length;
    j["address"] = to_string(o.address);
}
void get(ObjectReader& r, Ipv4HomeAddressRequest& o) {
    o.prefix_length = r.bounded_uint("prefix_length", 63, true);
    o.address = r.required_ipv4("address");
}

void put(json& j, const Ipv4HomeAddressReply& o) {
    j["status"] = o.status;
    j["prefix_length"] = o.prefix_length;
    j["address"] = to_string(o.address);
}
void get(ObjectReader& r, Ipv4HomeAddressReply& o) {
    o.status = r.required_uint<std::uint8_t>("status");
    o.prefix_length = r.bounded_uint("prefix_length", 63, true);
    o.address = r.required_ipv4("address");
}

void put(json& j, const Ipv4DefaultRouterAddress& o) {
    j["address"] = to_string(o.address);
}
void get(ObjectReader& r, Ipv4DefaultRouterAddress& o) {
    o.address = r.required_ipv4("address");
}

void put(json& j, const Ipv4DhcpSupportMode& o) {
    j["dhcp_server"] = o.dhcp_server;
}
void get(ObjectReader& r, Ipv4DhcpSupportMode& o) {
    o.dhcp_server = r.optional_bool("dhcp_server");
}

void put(json& j, const MobileNodeGroupIdentifier& o) {
    j["subtype"] = o.subtype;
    j["group_id"] = o.group_identifier;
}
void get(ObjectReader& r, MobileNodeGroupIdentifier& o) {
    o.subtype = r.required_uint<std::uint8_t>("subtype");
    o.group_identifier = r.required_uint<std::uint32_t>("group_id");
}

void put(json& j, const ActiveMulticastSubscriptionIpv4& o) {
    json sources = json::array();
    for (const auto& s : o.sources) sources.push_back(to_string(s));
    j["igmp_type"] = o.igmp_type;
    j["record_type"] = o.record_type;
    j["group"] = to_string(o.group);
    j["sources"] = sources;
    j["aux_hex"] = to_hex(o.auxiliary_data);
}
void get(ObjectReader& r, ActiveMulticastSubscriptionIpv4& o) {
    o.igmp_type = r.required_uint<std::uint8_t>("igmp_type");
    o.record_type = r.optional_uint<std::uint8_t>("record_type", 0);
    o.group = r.required_ipv4("group");
    if (const json* sources = r.find("sources")) {
        if (!sources->is_array())
            fail(r.member_path("sources"), "expected an array of addresses");
        for (std::size_t i = 0; i < sources->size(); ++i) {
            o.sources.push_back(r.ipv4_value((*sources)[i], "sources[" + std::to_string(i) + "]"));
        }
    }
    o.auxiliary_data = r.optional_hex("aux_hex");
}

void put(json& j, const ActiveMulticastSubscriptionIpv6& o) {
    j["mld_type"] = o.mld_type;
    j["record"] = record_to_json(o.record);
}
void get(ObjectReader& r, ActiveMulticastSubscriptionIpv6& o) {
    o.mld_type = r.required_uint<std::uint8_t>("mld_type");
    o.record = record_from_json(r.require("record"), r.member_path("record"));
}

void put(json& j, const MulticastSubscription& o) {
    json records = json::array();
    for (const auto& record : o.records) records.push_back(record_to_json(record));
    j["records"] = records;
}
void get(ObjectReader& r, MulticastSubscription& o) {
    const json& records = r.require("records");
    if (!records.is_array())
        fail(r.member_path("records"), "expected an array of records");
    for (std::size_t i = 0; i < records.size(); ++i) {
        o.records.push_back(
            record_from_json(records[i], r.member_path("records[" + std::to_string(i) + "]")));
    }
}

void put(json& j, const PreviousMaar& o) {
    j["address"] = to_string(o.previous_maar);
    j["home_network_prefix"] = prefix_text(o.home_network_prefix, o.prefix_length);
}
void get(ObjectReader& r, PreviousMaar& o) {
    o.previous_maar = r.required_ipv6("address");
    std::tie(o.home_network_prefix, o.prefix_length) = r.required_prefix("home_network_prefix");
}

void put(json& j, const ServingMaar& o) {
    j["address"] = to_string(o.serving_maar);
}
void get(ObjectReader& r, ServingMaar& o) {
    o.serving_maar = r.required_ipv6("address");
}

void put(json& j, const AnchoredPrefix& o) {
    j["prefix"] = prefix_text(o.prefix, o.prefix_length);
}
void get(ObjectReader& r, AnchoredPrefix& o) {
    std::tie(o.prefix, o.prefix_length) = r.required_prefix("prefix");
}

void put(json& j, const LocalPrefix& o) {
    j["prefix"] = prefix_text(o.prefix, o.prefix_length);
}
void get(ObjectReader& r, LocalPrefix& o) {
    std::tie(o.prefix, o.prefix_length) = r.required_prefix("prefix");
}

void put(json& j, const DlifLinkLocalAddress& o) {
    j["address"] = to_string(o.address);
}
void get(ObjectReader& r, DlifLinkLocalAddress& o) {
    o.address = r.required_ipv6("address");
}

void put(json& j, const DlifLinkLayerAddress& o) {
    j["address_hex"] = to_hex(o.address);
}
void get(ObjectReader& r, DlifLinkLayerAddress& o) {
    o.address = r.required_hex("address_hex");
}

void put(json& j, const UnknownOption& o) {
    j["data_hex"] = to_hex(o.data);
}
void get(ObjectReader& r, UnknownOption& o) {
    o.data = r.required_hex("data_hex");
}

constexpr std::string_view kUnknownOptionName = "unknown";

// Default-constructed option of variant alternative `index`.
template <std::size_t... I>
Option make_option(std::size_t index, std::index_sequence<I...>) {
    Option result;
    ((index == I ? (result = Option(std::in_place_index<I>), 0) : 0), ...);
    return result;
}

Option make_option(std::size_t index) {
    return make_option(index, std::make_index_sequence<std::variant_size_v<Option>>{});
}

constexpr std::size_t kUnknownIndex = std::variant_size_v<Option> - 1;
static_assert(std::is_same_v<std::variant_alternative_t<kUnknownIndex, Option>, UnknownOption>);
constexpr std::size_t kMulticastSubscriptionIndex = 26;
static_assert(std::is_same_v<std::variant_alternative_t<kMulticastSubscriptionIndex, Option>,
                             MulticastSubscription>);

// Variant index of the known option with wire type `type`, if any. The
// configured draft-asaeda type wins over a registered one it collides with.
std::optional<std::size_t> index_of_type(std::uint8_t type, const ExtensionCodePoints& cp) {
    if (type == cp.multicast_subscription_option_type)
        return kMulticastSubscriptionIndex;
    for (std::size_t i = 0; i < kUnknownIndex; ++i) {
        if (i == kMulticastSubscriptionIndex)
            continue;
        if (option_type_of(make_option(i), cp) == type)
            return i;
    }
    return std::nullopt;
}

std::optional<std::size_t> index_of_name(std::string_view name) {
    for (std::size_t i = 0; i < kUnknownIndex; ++i) {
        if (option_name(make_option(i)) == name)
            return i;
    }
    return std::nullopt;
}

Option option_from_json(const json& j, const std::string& path, const ExtensionCodePoints& cp) {
    ObjectReader r(j, path, "an option");
    std::optional<std::uint8_t> type;
    if (const json* v = r.find("type"))
        type = r.uint_value<std::uint8_t>(*v, "type");
    std::optional<std::string> name;
    if (const json* v = r.find("name"))
        name = r.string_value(*v, "name");
    if (!type && !name)
        fail(path, "needs \"type\" (option type number) or \"name\"");
    if (type && (*type == option_type::kPad1 || *type == option_type::kPadN)) {
        fail(r.member_path("type"), "Pad1/PadN are generated by the encoder; leave them out");
    }

    std::size_t index = kUnknownIndex;
    if (name && *name == kUnknownOptionName) {
        if (!type)
            fail(r.member_path("type"), "missing (required for an unknown option)");
    } else if (type) {
        const auto known = index_of_type(*type, cp);
        if (known) {
            index = *known;
            const auto expected = option_name(make_option(index));
            if (name && *name != expected) {
                fail(r.member_path("name"), "\"" + *name + "\" does not match type " +
                                                std::to_string(*type) + " (\"" +
                                                std::string(expected) + "\")");
            }
        } else if (name) {
            fail(r.member_path("name"), "\"" + *name + "\" with type " + std::to_string(*type) +
                                            ": not a known option type; use name \"unknown\"");
        }
    } else {
        const auto known = index_of_name(*name);
        if (!known)
            fail(r.member_path("name"), "unknown option name \"" + *name + "\"");
        index = *known;
    }

    Option option = make_option(index);
    const std::string name_text =
        index == kUnknownIndex ? std::string("unknown") : std::string(option_name(option));
    const bool vowel = std::string_view("aeiou").find(name_text.front()) != std::string_view::npos;
    r.set_what((vowel ? "an " : "a ") + name_text + " option");
    std::visit([&](auto& o) { get(r, o); }, option);
    if (auto* unknown = std::get_if<UnknownOption>(&option))
        unknown->type = *type;
    r.finish();
    return option;
}

Options options_from_json(ObjectReader& r, const ExtensionCodePoints& cp) {
    Options options;
    const json* list = r.find("options");
    if (list == nullptr)
        return options;
    if (!list->is_array())
        fail("options", "expected an array of option objects");
    for (std::size_t i = 0; i < list->size(); ++i) {
        options.push_back(option_from_json((*list)[i], "options[" + std::to_string(i) + "]", cp));
    }
    return options;
}

json options_to_json(const Options& options, const ExtensionCodePoints& cp) {
    json out = json::array();
    for (const auto& o : options) out.push_back(option_to_json(o, cp));
    return out;
}

// ---------------------------------------------------------------- messages

constexpr std::array<std::string_view, 12> kMessageKinds = {
    "pbu", "pba", "bu", "ba", "be", "heartbeat", "bri", "bra", "upn", "upa",
    "subscription_query", "subscription_response"};

Message message_from_object(const json& j, const ExtensionCodePoints& cp) {
    if (!j.is_object())
        fail("message", "expected a JSON object");
    const auto type_it = j.find("type");
    if (type_it == j.end())
        fail("type", "missing (one of pbu pba bu ba be heartbeat bri bra upn upa subscription_query "
                     "subscription_response)");
    if (!type_it->is_string())
        fail("type", "expected a string such as \"pbu\"");
    const auto kind = type_it->get<std::string>();

    ObjectReader r(j, "", "a \"" + kind + "\" message");
    r.ignore("type");
    r.ignore("frame");   // added by pmip-mh decode --pcap
    r.ignore("quirks");  // added by a lenient decode

    auto flags = [&](const FlagSet& set) -> std::uint16_t {
        const json* v = r.find("flags");
        return v == nullptr ? 0 : flags_from_json(*v, set, "flags");
    };

    Message message;
    if (kind == "pbu" || kind == "bu") {
        BindingUpdate m;
        m.sequence = r.optional_uint<std::uint16_t>("sequence", 0);
        m.flags = flags(bu_flags(cp));
        if (kind == "pbu")
            m.flags |= bu_flag::kP;
        m.lifetime = r.optional_uint<std::uint16_t>("lifetime", 0);
        m.options = options_from_json(r, cp);
        message = std::move(m);
    } else if (kind == "pba" || kind == "ba") {
        BindingAcknowledgement m;
        m.status = r.optional_uint<std::uint8_t>("status", 0);
        m.flags = static_cast<std::uint8_t>(flags(ba_flags()));
        if (kind == "pba")
            m.flags |= ba_flag::kP;
        m.sequence = r.optional_uint<std::uint16_t>("sequence", 0);
        m.lifetime = r.optional_uint<std::uint16_t>("lifetime", 0);
        m.options = options_from_json(r, cp);
        message = std::move(m);
    } else if (kind == "be") {
        BindingError m;
        m.status = r.optional_uint<std::uint8_t>("status", 0);
        if (const json* v = r.find("home_address"))
            m.home_address = r.ipv6_value(*v, "home_address");
        m.options = options_from_json(r, cp);
        message = std::move(m);
    } else if (kind == "heartbeat") {
        Heartbeat m;
        m.flags = static_cast<std::uint8_t>(flags(heartbeat_flags()));
        m.sequence = r.optional_uint<std::uint32_t>("sequence", 0);
        m.options = options_from_json(r, cp);
        message = std::move(m);
    } else if (kind == "bri") {
        BindingRevocationIndication m;
        m.revocation_trigger = r.optional_uint<std::uint8_t>("trigger", 0);
        m.sequence = r.optional_uint<std::uint16_t>("sequence", 0);
        m.flags = static_cast<std::uint8_t>(flags(revocation_flags()));
        m.options = options_from_json(r, cp);
        message = std::move(m);
    } else if (kind == "bra") {
        BindingRevocationAcknowledgement m;
        m.status = r.optional_uint<std::uint8_t>("status", 0);
        m.sequence = r.optional_uint<std::uint16_t>("sequence", 0);
        m.flags = static_cast<std::uint8_t>(flags(revocation_flags()));
        m.options = options_from_json(r, cp);
        message = std::move(m);
    } else if (kind == "upn") {
        UpdateNotification m;
        m.sequence = r.optional_uint<std::uint16_t>("sequence", 0);
        m.notification_reason = r.optional_uint<std::uint16_t>("reason", 0);
        m.flags = static_cast<std::uint8_t>(flags(update_notification_flags()));
        m.options = options_from_json(r, cp);
        message = std::move(m);
    } else if (kind == "upa") {
        UpdateNotificationAcknowledgement m;
        m.sequence = r.optional_uint<std::uint16_t>("sequence", 0);
        m.status = r.optional_uint<std::uint8_t>("status", 0);
        m.options = options_from_json(r, cp);
        message = std::move(m);
    } else if (kind == "subscription_query") {
        SubscriptionQuery m;
        m.sequence = r.optional_uint<std::uint8_t>("sequence", 0);
        m.options = options_from_json(r, cp);
        message = std::move(m);
    } else if (kind == "subscription_response") {
        SubscriptionResponse m;
        m.sequence = r.optional_uint<std::uint8_t>("sequence", 0);
        m.flags = static_cast<std::uint8_t>(flags(subscription_response_flags()));
        m.options = options_from_json(r, cp);
        message = std::move(m);
    } else {
        std::string known;
        for (const auto k : kMessageKinds) known += std::string(known.empty() ? "" : " ") += k;
        fail("type", "unknown message type \"" + kind + "\" (known: " + known + ")");
    }
    r.finish();
    return message;
}

}  // namespace

std::string to_hex(std::span<const std::uint8_t> bytes) {
    static constexpr char kDigits[] = "0123456789abcdef";
    std::string out;
    out.reserve(bytes.size() * 2);
    for (const auto b : bytes) {
        out.push_back(kDigits[b >> 4]);
        out.push_back(kDigits[b & 0x0f]);
    }
    return out;
}

std::optional<std::vector<std::uint8_t>> parse_hex(std::string_view text) {
    std::size_t start = 0;
    while (start < text.size() && (text[start] == ' ' || text[start] == '\t')) ++start;
    if (text.size() - start >= 2 && text[start] == '0' &&
        (text[start + 1] == 'x' || text[start + 1] == 'X')) {
        start += 2;
    }
    std::vector<std::uint8_t> out;
    int high = -1;
    for (std::size_t i = start; i < text.size(); ++i) {
        const char c = text[i];
        int digit = -1;
        if (c >= '0' && c <= '9')
            digit = c - '0';
        else if (c >= 'a' && c <= 'f')
            digit = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F')
            digit = c - 'A' + 10;
        else if (c == ' ' || c == '\t' || c == ':' || c == '\r' || c == '\n')
            continue;
        else
            return std::nullopt;
        if (high < 0) {
            high = digit;
        } else {
            out.push_back(static_cast<std::uint8_t>(high << 4 | digit));
            high = -1;
        }
    }
    if (high >= 0)
        return std::nullopt;
    return out;
}

nlohmann::json option_to_json(const Option& option, const ExtensionCodePoints& cp) {
    json j = json::object();
    if (const auto* unknown = std::get_if<UnknownOption>(&option)) {
        j["type"] = unknown->type;
        j["name"] = kUnknownOptionName;
    } else {
        j["type"] = option_type_of(option, cp);
        j["name"] = option_name(option);
    }
    std::visit([&](const auto& o) { put(j, o); }, option);
    return j;
}

nlohmann::json to_json(const Message& m, const ExtensionCodePoints& cp, std::uint32_t quirks) {
    json j = json::object();
    std::visit(Overloaded{
                   [&](const BindingUpdate& bu) {
                       j["type"] = bu.is_proxy() ? "pbu" : "bu";
                       j["sequence"] = bu.sequence;
                       j["flags"] = flags_to_json(bu.flags, bu_flags(cp));
                       j["lifetime"] = bu.lifetime;
                   },
                   [&](const BindingAcknowledgement& ba) {
                       j["type"] = ba.is_proxy() ? "pba" : "ba";
                       j["status"] = ba.status;
                       j["sequence"] = ba.sequence;
                       j["flags"] = flags_to_json(ba.flags, ba_flags());
                       j["lifetime"] = ba.lifetime;
                   },
                   [&](const BindingError& be) {
                       j["type"] = "be";
                       j["status"] = be.status;
                       j["home_address"] = to_string(be.home_address);
                   },
                   [&](const Heartbeat& hb) {
                       j["type"] = "heartbeat";
                       j["sequence"] = hb.sequence;
                       j["flags"] = flags_to_json(hb.flags, heartbeat_flags());
                   },
                   [&](const BindingRevocationIndication& bri) {
                       j["type"] = "bri";
                       j["trigger"] = bri.revocation_trigger;
                       j["sequence"] = bri.sequence;
                       j["flags"] = flags_to_json(bri.flags, revocation_flags());
                   },
                   [&](const BindingRevocationAcknowledgement& bra) {
                       j["type"] = "bra";
                       j["status"] = bra.status;
                       j["sequence"] = bra.sequence;
                       j["flags"] = flags_to_json(bra.flags, revocation_flags());
                   },
                   [&](const UpdateNotification& upn) {
                       j["type"] = "upn";
                       j["sequence"] = upn.sequence;
                       j["reason"] = upn.notification_reason;
                       j["flags"] = flags_to_json(upn.flags, update_notification_flags());
                   },
                   [&](const UpdateNotificationAcknowledgement& upa) {
                       j["type"] = "upa";
                       j["sequence"] = upa.sequence;
                       j["status"] = upa.status;
                   },
                   [&](const SubscriptionQuery& q) {
                       j["type"] = "subscription_query";
                       j["sequence"] = q.sequence;
                   },
                   [&](const SubscriptionResponse& r) {
                       j["type"] = "subscription_response";
                       j["sequence"] = r.sequence;
                       j["flags"] = flags_to_json(r.flags, subscription_response_flags());
                   },
               },
               m);
    j["options"] = options_to_json(options_of(m), cp);
    if (quirks != 0) {
        json names = json::array();
        for (const auto name : quirk_names(quirks)) names.push_back(std::string(name));
        j["quirks"] = names;
    }
    return j;
}

std::variant<Message, std::string> message_from_json(const nlohmann::json& j,
                                                     const ExtensionCodePoints& cp) {
    try {
        return message_from_object(j, cp);
    } catch (const JsonInputError& e) {
        return e.text;
    } catch (const nlohmann::json::exception& e) {
        return std::string("message: ") + e.what();
    } catch (const std::exception& e) {
        return std::string("message: ") + e.what();
    }
}

}  // namespace pmip::mh
