// pmipctl: tables and name/value lines for people. See output.hpp.
#include "output.hpp"

#include <algorithm>
#include <cctype>
#include <map>
#include <vector>

namespace pmip::pmipctl {

using json = nlohmann::json;

namespace {

struct Column {
    std::string header;
    std::string path;  // member, or dotted path into nested objects
    std::string suffix;
};

const std::map<std::string, std::vector<Column>>& known_columns() {
    static const std::map<std::string, std::vector<Column>> kColumns = {
        {"show bindings",
         {{"MN", "mn", ""},
          {"PREFIXES", "prefixes", ""},
          {"MAG", "mag", ""},
          {"TUNNEL", "tunnel", ""},
          {"STATE", "state", ""},
          {"REMAINING", "remaining", "s"},
          {"LIFETIME", "lifetime", "s"}}},
        {"show binding",
         {{"ID", "id", ""},
          {"MN", "mn", ""},
          {"PREFIXES", "prefixes", ""},
          {"MAG", "mag", ""},
          {"LMA", "lma", ""},
          {"TUNNEL", "tunnel", ""},
          {"STATE", "state", ""},
          {"REMAINING", "remaining", "s"},
          {"LIFETIME", "lifetime", "s"},
          {"ATT", "access_technology_type", ""},
          {"HI", "handoff_indicator", ""},
          {"SEQ", "sequence", ""},
          {"MN-LL-ID", "mn_link_layer_identifier", ""},
          {"GRE-UP", "gre.uplink_key", ""},
          {"GRE-DOWN", "gre.downlink_key", ""}}},
        {"show tunnels",
         {{"DEVICE", "device", ""},
          {"KIND", "kind", ""},
          {"PEER", "peer", ""},
          {"LOCAL", "local", ""},
          {"IKEY", "input_key", ""},
          {"OKEY", "output_key", ""},
          {"REFS", "references", ""},
          {"MTU", "mtu", ""},
          {"BACKEND", "backend", ""},
          {"TX", "counters.tx_packets", ""},
          {"RX", "counters.rx_packets", ""}}},
        {"show peers",
         {{"MAG", "mag", ""},
          {"LMA", "lma", ""},
          {"PROFILE", "profile", ""},
          {"BINDINGS", "bindings", ""},
          {"STATE", "state", ""},
          {"MISSING", "missing", ""},
          {"RESTART", "restart_counter", ""},
          {"SENT", "requests_sent", ""},
          {"RECEIVED", "responses_received", ""}}},
    };
    return kColumns;
}

const json* at_path(const json& object, const std::string& path) {
    const json* cur = &object;
    std::size_t start = 0;
    while (start <= path.size()) {
        const auto dot = path.find('.', start);
        const std::string name =
            path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
        if (!cur->is_object())
            return nullptr;
        const auto it = cur->find(name);
        if (it == cur->end())
            return nullptr;
        cur = &*it;
        if (dot == std::string::npos)
            break;
        start = dot + 1;
    }
    return cur;
}

std::string cell(const json* v, const std::string& suffix = "") {
    if (v == nullptr || v->is_null())
        return "-";
    if (v->is_string())
        return v->get<std::string>() + suffix;
    if (v->is_boolean())
        return v->get<bool>() ? "yes" : "no";
    if (v->is_number())
        return v->dump() + suffix;
    if (v->is_array()) {
        if (v->empty())
            return "-";
        std::string out;
        for (const auto& e : *v) out += (out.empty() ? "" : ",") + cell(&e);
        return out;
    }
    return v->dump();
}

std::string upper(std::string s) {
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) {
        return c == '_' ? '-' : static_cast<char>(std::toupper(c));
    });
    return s;
}

void print_table(std::ostream& out, const std::vector<Column>& columns, const json& rows) {
    std::vector<std::vector<std::string>> cells;
    std::vector<std::size_t> width;
    for (const auto& c : columns) width.push_back(c.header.size());
    for (const auto& row : rows) {
        std::vector<std::string> line;
        for (std::size_t i = 0; i < columns.size(); ++i) {
            line.push_back(cell(at_path(row, columns[i].path), columns[i].suffix));
            width[i] = std::max(width[i], line.back().size());
        }
        cells.push_back(std::move(line));
    }
    auto emit = [&](const std::vector<std::string>& line) {
        std::string text;
        for (std::size_t i = 0; i < line.size(); ++i) {
            text += line[i];
            if (i + 1 < line.size())
                text += std::string(width[i] - line[i].size() + 2, ' ');
        }
        out << text << "\n";
    };
    std::vector<std::string> header;
    for (const auto& c : columns) header.push_back(c.header);
    emit(header);
    for (const auto& line : cells) emit(line);
}

// Every member of every row, in first-seen order.
std::vector<Column> columns_of(const json& rows) {
    std::vector<Column> columns;
    for (const auto& row : rows) {
        for (const auto& [key, value] : row.items()) {
            const bool seen = std::any_of(columns.begin(), columns.end(),
                                          [&](const Column& c) { return c.path == key; });
            if (!seen)
                columns.push_back({upper(key), key, ""});
        }
    }
    return columns;
}

void print_object(std::ostream& out, const json& object, const std::string& indent) {
    std::size_t width = 0;
    for (const auto& [key, value] : object.items()) {
        if (!value.is_object())
            width = std::max(width, key.size());
    }
    for (const auto& [key, value] : object.items()) {
        if (value.is_object()) {
            out << indent << key << ":\n";
            if (value.empty())
                out << indent << "  -\n";
            print_object(out, value, indent + "  ");
        } else {
            out << indent << key << std::string(width - key.size() + 2, ' ') << cell(&value)
                << "\n";
        }
    }
}

}  // namespace

void print_human(std::ostream& out, const std::string& command, const json& result) {
    if (result.is_array()) {
        if (result.empty()) {
            out << "(none)\n";
            return;
        }
        const bool rows =
            std::all_of(result.begin(), result.end(), [](const json& r) { return r.is_object(); });
        if (!rows) {
            for (const auto& e : result) out << cell(&e) << "\n";
            return;
        }
        const auto known = known_columns().find(command);
        print_table(out, known != known_columns().end() ? known->second : columns_of(result),
                    result);
        return;
    }
    if (result.is_object()) {
        if (result.empty()) {
            out << "ok\n";
            return;
        }
        print_object(out, result, "");
        return;
    }
    out << cell(&result) << "\n";
}

}  // namespace pmip::pmipctl
