// pmipctl: human-readable output of control-socket results.
//
// Arrays of objects become aligned tables (columns chosen per command where
// pmipctl knows the result's shape, e.g. `show bindings`, else every member
// in order); objects become "name  value" lines with nested members joined by
// dots; scalars print as they are. --json bypasses all of this.
//
// Threading: none. Counters: none.
#pragma once

#include <ostream>
#include <string>

#include <nlohmann/json.hpp>

namespace pmip::pmipctl {

// Writes `result` of `command` for people.
void print_human(std::ostream& out, const std::string& command, const nlohmann::json& result);

}  // namespace pmip::pmipctl
