// pmip-mh: compact JSON output with a fixed member order (see json_line.hpp).
#include "json_line.hpp"

#include <array>
#include <string_view>

namespace pmip::tools {
namespace {

// Members printed first, in this order; the rest alphabetically, then kLast.
constexpr std::array<std::string_view, 20> kFirst = {
    "frame",        "type",     "name",      "error",       "reaction", "offset", "option_type",
    "subtype",      "sequence", "status",    "trigger",     "reason",   "flags",  "lifetime",
    "home_address", "mld_type", "igmp_type", "record_type", "group",    "sources"};
constexpr std::array<std::string_view, 2> kLast = {"options", "quirks"};

nlohmann::ordered_json ordered(const nlohmann::json& value) {
    if (value.is_array()) {
        auto out = nlohmann::ordered_json::array();
        for (const auto& item : value) out.push_back(ordered(item));
        return out;
    }
    if (!value.is_object())
        return nlohmann::ordered_json(value);
    auto out = nlohmann::ordered_json::object();
    auto is_listed = [](std::string_view key) {
        for (const auto k : kFirst) {
            if (k == key)
                return true;
        }
        for (const auto k : kLast) {
            if (k == key)
                return true;
        }
        return false;
    };
    for (const auto key : kFirst) {
        const auto it = value.find(std::string(key));
        if (it != value.end())
            out[std::string(key)] = ordered(*it);
    }
    for (const auto& item : value.items()) {
        if (!is_listed(item.key()))
            out[item.key()] = ordered(item.value());
    }
    for (const auto key : kLast) {
        const auto it = value.find(std::string(key));
        if (it != value.end())
            out[std::string(key)] = ordered(*it);
    }
    return out;
}

}  // namespace

std::string json_line(const nlohmann::json& value) {
    return ordered(value).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace pmip::tools
