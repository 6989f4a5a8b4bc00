// One problem found in lmad's configuration or policy store, located so that
// an operator can fix it: "FILE:LINE: key: problem" (STYLE.md "Errors":
// reject bad config at load with a message naming the file, line and key).
//
// Shared by config.cpp (INI file and command line) and policy_file.cpp
// (JSON policy store). Plain data; no I/O.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace pmip::lma {

struct ConfigProblem {
    std::string file;      // path as given, or "command line"
    std::size_t line = 0;  // 1-based; 0 = no line (whole file, or a JSON member path)
    std::string key;       // "binding.max-lifetime", "mobile_nodes[2].prefixes[0]", ...
    std::string message;
    bool warning = false;  // reported, but does not make the configuration invalid

    // "lmad.conf:12: pools.pool: 2001:db8::/129 is not an IPv6 prefix"
    // "command line: --binding.max-lifetime: must be ..."
    // "policy.json: mobile_nodes[2].id: missing"
    // Warnings read "...: key: warning: ...".
    std::string to_string() const {
        std::string out = file;
        if (line > 0)
            out += ":" + std::to_string(line);
        out += ": ";
        if (!key.empty())
            out += (file == "command line" ? "--" : "") + key + ": ";
        if (warning)
            out += "warning: ";
        return out + message;
    }
};

inline bool has_errors(const std::vector<ConfigProblem>& problems) {
    for (const auto& p : problems) {
        if (!p.warning)
            return true;
    }
    return false;
}

}  // namespace pmip::lma
