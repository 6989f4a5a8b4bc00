// The configuration machinery both daemons share: INI files read with
// Boost.Program_options syntax (sections become "section.key"), the same
// dotted names as command-line overrides (--section.key VALUE), and a
// Validator whose typed getters report every problem located as
// "FILE:LINE: key: problem" (STYLE.md "Errors": reject bad configuration at
// load with a message naming the file, line and key; one run reports every
// problem, not just the first).
//
// Boost.Program_options gives no line numbers, so the file is also scanned
// here to map each occurrence of a key to its line; lines Boost would reject
// are reported with their number and blanked so the rest still parses.
//
// Loading is shared too: read_input() takes the command line and the file it
// names, load() validates them into the daemon's configuration through the
// daemon's own validate function. What each daemon configures (its keys,
// defaults, cross-checks, --help) is in its own config.cpp; this file knows
// nothing of PMIPv6.
//
// Threading: none (start-up only). Counters: none.
#pragma once

#include <sys/types.h>

#include <charconv>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace pmip {

// One problem found in a configuration or policy file, located so that an
// operator can fix it.
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

namespace config {

// A key the file and the command line may set.
struct KeySpec {
    const char* name;  // "section.key"
    bool repeatable;
};

// One value of a key and where it came from.
struct Value {
    std::string text;
    std::string file;  // config file path or "command line"
    std::size_t line = 0;
};

using Values = std::map<std::string, std::vector<Value>>;

std::string trim(std::string_view s);
// Words separated by blanks or commas.
std::vector<std::string> split_words(std::string_view s);

// The command line: -h/--help, -V/--version, --check, -c/--config FILE and
// every key as --section.key VALUE.
struct CommandLine {
    Values values;
    std::optional<std::string> config_file;
    bool help = false, check = false, version = false;
    std::string usage_error;  // non-empty: the command line is wrong
};
CommandLine parse_command_line(const std::vector<std::string>& args,
                               std::span<const KeySpec> keys);

// The file's values, located by line; unknown keys and malformed lines are
// added to `problems`.
Values parse_file(const std::string& text, const std::string& file,
                  std::span<const KeySpec> keys, std::vector<ConfigProblem>& problems);

// Reads a whole file; nullopt (and a problem) when it cannot be read.
std::optional<std::string> read_file(const std::string& path, std::vector<ConfigProblem>& problems);

// Typed access to the values with located problems.
class Validator {
  public:
    Validator(Values values, std::vector<ConfigProblem>& problems, std::string file)
        : values_(std::move(values)), problems_(problems), file_(std::move(file)) {}

    void error(const Value& v, const std::string& key, const std::string& message) {
        problems_.push_back({v.file, v.line, key, message, false});
    }
    void warning(const Value& v, const std::string& key, const std::string& message) {
        problems_.push_back({v.file, v.line, key, message, true});
    }
    // A problem not tied to one value (a missing key): located at the file.
    void global(const std::string& key, const std::string& message, bool is_warning) {
        problems_.push_back({file_, 0, key, message, is_warning});
    }

    const std::vector<Value>& all(const std::string& key) const;
    // The value of a single-valued key; a repeat is an error naming both lines.
    const Value* single(const std::string& key);

    template <typename T>
    std::optional<T> number(const Value& v, const std::string& key, T min, T max,
                            const char* unit = "") {
        T out{};
        const std::string& s = v.text;
        int base = 10;
        std::size_t skip = 0;
        if constexpr (std::is_unsigned_v<T>) {
            if (s.size() > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
                base = 16;
                skip = 2;
            }
        }
        const auto [end, ec] = std::from_chars(s.data() + skip, s.data() + s.size(), out, base);
        if (s.empty() || ec != std::errc() || end != s.data() + s.size() || out < min ||
            out > max) {
            error(v, key,
                  "\"" + s + "\" is not an integer from " + std::to_string(min) + " to " +
                      std::to_string(max) + unit);
            return std::nullopt;
        }
        return out;
    }

    template <typename T>
    void number_into(const std::string& key, T& into, T min, T max, const char* unit = "") {
        if (const Value* v = single(key)) {
            if (auto n = number<T>(*v, key, min, max, unit))
                into = *n;
        }
    }

    void boolean_into(const std::string& key, bool& into);
    // One of `names`; returns the index.
    std::optional<std::size_t> choice(const std::string& key,
                                      std::initializer_list<std::string_view> names);
    std::optional<std::string> path(const std::string& key);
    // The directory of `path` exists, or its parent does (the daemons create one level).
    void directory_usable(const std::string& key, const std::string& path);
    // An octal file mode (0660).
    void mode_into(const std::string& key, mode_t& into);

  private:
    Values values_;
    std::vector<ConfigProblem>& problems_;
    std::string file_;
    std::set<std::string> repeats_reported_;
};

// What the command line asks a daemon to do.
enum class Action : std::uint8_t { kRun, kCheck, kHelp, kVersion, kUsageError };

// A daemon's command line and configuration file, read but not validated.
struct Input {
    Action action = Action::kRun;
    std::string usage_error;  // for kUsageError: what was wrong on the command line
    Values values;            // the file's, with the command line's over them
    std::string config_file;  // the file read; empty when none was
    std::string origin;       // where a missing key is reported: the file, or "command line"
    std::vector<ConfigProblem> problems;  // the file's unreadable, unknown or malformed lines
};

// Parses `args` (without argv[0]) and reads the file named by --config, or
// `default_file` when it exists.
Input read_input(const std::vector<std::string>& args, const std::string& default_file,
                 std::span<const KeySpec> keys);
// `text` as if read from `file_name`, then the command-line `args` over it;
// --help, --version and --check are ignored. For tests.
Input read_input_text(const std::string& text, const std::string& file_name,
                      const std::vector<std::string>& args, std::span<const KeySpec> keys);

// A daemon's configuration as loaded, with every problem found.
template <typename Config>
struct Load {
    Action action = Action::kRun;
    Config config;
    std::vector<ConfigProblem> problems;
    std::string usage_error;  // for kUsageError: what was wrong on the command line
};

// Validates `input` into a Config (which has a `config_file` member) with the
// daemon's `validate`; nothing is validated for --help, --version or a usage
// error.
template <typename Config>
Load<Config> load(Input input, void (*validate)(Validator&, Config&)) {
    Load<Config> out;
    out.action = input.action;
    out.usage_error = std::move(input.usage_error);
    out.problems = std::move(input.problems);
    if (out.action == Action::kHelp || out.action == Action::kVersion ||
        out.action == Action::kUsageError) {
        return out;
    }
    out.config.config_file = std::move(input.config_file);
    Validator v(std::move(input.values), out.problems, std::move(input.origin));
    validate(v, out.config);
    return out;
}

}  // namespace config
}  // namespace pmip
