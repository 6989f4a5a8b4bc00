// pmip-mh: one JSON value per output line, members in reading order.
//
// nlohmann::json keeps object members sorted by name; for people reading the
// tool's output "frame" and "type" come first and "options" last.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace pmip::tools {

std::string json_line(const nlohmann::json& value);

}  // namespace pmip::tools
