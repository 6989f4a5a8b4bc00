// Shared configuration machinery. See pmip/common/config_file.hpp.
#include "pmip/common/config_file.hpp"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <boost/program_options.hpp>

namespace pmip::config {

namespace po = boost::program_options;

std::string trim(std::string_view s) {
    const auto b = s.find_first_not_of(" \t\r");
    if (b == std::string_view::npos)
        return {};
    const auto e = s.find_last_not_of(" \t\r");
    return std::string(s.substr(b, e - b + 1));
}

std::vector<std::string> split_words(std::string_view s) {
    std::vector<std::string> out;
    std::string word;
    for (char c : s) {
        if (c == ' ' || c == '\t' || c == ',') {
            if (!word.empty())
                out.push_back(std::move(word));
            word.clear();
        } else {
            word += c;
        }
    }
    if (!word.empty())
        out.push_back(std::move(word));
    return out;
}

namespace {

bool known(std::span<const KeySpec> keys, std::string_view name) {
    return std::any_of(keys.begin(), keys.end(), [&](const KeySpec& k) { return name == k.name; });
}

po::options_description key_options(std::span<const KeySpec> keys) {
    po::options_description d("configuration keys");
    for (const auto& k : keys) d.add_options()(k.name, po::value<std::vector<std::string>>());
    return d;
}

// The lines of each key, in file order, read the way Boost.Program_options
// reads the file (comments from '#', "[section]" prefixes, "name = value").
// Lines Boost would reject are reported here, with their line number, and
// blanked in `sanitized` (with the lines of a section whose header is
// malformed) so that Boost still parses the rest.
std::map<std::string, std::vector<std::size_t>> scan_lines(const std::string& text,
                                                           const std::string& file,
                                                           std::vector<ConfigProblem>& problems,
                                                           std::string& sanitized) {
    std::map<std::string, std::vector<std::size_t>> lines;
    std::istringstream in(text);
    std::string raw, prefix;
    std::size_t number = 0;
    bool skipping = false;  // inside a section whose header is malformed
    sanitized.clear();
    while (std::getline(in, raw)) {
        ++number;
        const std::string original = raw;
        if (const auto hash = raw.find('#'); hash != std::string::npos)
            raw.erase(hash);
        const std::string line = trim(raw);
        bool keep = true;
        if (line.empty()) {
            // nothing
        } else if (line.front() == '[') {
            if (line.back() != ']' || line.size() < 3) {
                problems.push_back({file, number, "",
                                    "malformed section header \"" + line +
                                        "\" (the lines up to the next section are ignored)",
                                    false});
                skipping = true;
                keep = false;
            } else {
                prefix = trim(line.substr(1, line.size() - 2)) + ".";
                skipping = false;
            }
        } else if (skipping) {
            keep = false;
        } else {
            const auto eq = line.find('=');
            if (eq == std::string::npos || trim(line.substr(0, eq)).empty()) {
                problems.push_back(
                    {file, number, "",
                     "expected \"key = value\" or \"[section]\", got \"" + line + "\"", false});
                keep = false;
            } else {
                lines[prefix + trim(line.substr(0, eq))].push_back(number);
            }
        }
        sanitized += (keep ? original : std::string()) + "\n";
    }
    return lines;
}

}  // namespace

CommandLine parse_command_line(const std::vector<std::string>& args,
                               std::span<const KeySpec> keys) {
    CommandLine out;
    po::options_description generic("options");
    generic.add_options()("help,h", "")("version,V", "")("check", "")("config,c",
                                                                      po::value<std::string>());
    po::options_description all;
    all.add(generic).add(key_options(keys));
    try {
        po::parsed_options parsed = po::command_line_parser(args).options(all).run();
        for (const auto& o : parsed.options) {
            if (o.position_key >= 0) {
                out.usage_error = "unexpected argument \"" + o.original_tokens.front() + "\"";
                return out;
            }
        }
        po::variables_map vm;
        po::store(parsed, vm);
        out.help = vm.count("help") > 0;
        out.version = vm.count("version") > 0;
        out.check = vm.count("check") > 0;
        if (vm.count("config"))
            out.config_file = vm["config"].as<std::string>();
        for (const auto& o : parsed.options) {
            if (!known(keys, o.string_key))
                continue;
            for (const auto& t : o.value) out.values[o.string_key].push_back({t, "command line", 0});
        }
    } catch (const po::error& e) {
        out.usage_error = e.what();
    }
    return out;
}

Values parse_file(const std::string& text, const std::string& file, std::span<const KeySpec> keys,
                  std::vector<ConfigProblem>& problems) {
    Values values;
    std::string sanitized;
    const auto lines = scan_lines(text, file, problems, sanitized);
    std::istringstream in(sanitized);
    po::parsed_options parsed(nullptr);
    try {
        parsed = po::parse_config_file(in, key_options(keys), true);
    } catch (const po::error& e) {
        problems.push_back({file, 0, "", e.what(), false});
        return values;
    }
    std::map<std::string, std::size_t> seen;
    for (const auto& o : parsed.options) {
        const std::size_t index = seen[o.string_key]++;
        const auto it = lines.find(o.string_key);
        const std::size_t line =
            (it != lines.end() && index < it->second.size()) ? it->second[index] : 0;
        if (o.unregistered) {
            const auto dot = o.string_key.rfind('.');
            std::string hint;
            if (dot == std::string::npos)
                hint = " (keys belong in a [section])";
            problems.push_back({file, line, o.string_key, "unknown key" + hint, false});
            continue;
        }
        for (const auto& t : o.value) values[o.string_key].push_back({t, file, line});
    }
    return values;
}

std::optional<std::string> read_file(const std::string& path,
                                     std::vector<ConfigProblem>& problems) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        problems.push_back({path, 0, "", std::string("cannot be read: ") + std::strerror(errno),
                            false});
        return std::nullopt;
    }
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

namespace {

Input usage_error(std::string what) {
    Input input;
    input.action = Action::kUsageError;
    input.usage_error = std::move(what);
    return input;
}

// The file's values (when it was read) with the command line's over them.
Input merge(CommandLine cmd, const std::optional<std::string>& text, const std::string& file_name,
            std::span<const KeySpec> keys, std::vector<ConfigProblem> problems) {
    Input input;
    input.problems = std::move(problems);
    if (text) {
        input.values = parse_file(*text, file_name, keys, input.problems);
        input.config_file = file_name;
    }
    input.origin = text ? file_name : "command line";
    // Command-line values replace the file's values of the same key.
    for (auto& [key, list] : cmd.values) input.values[key] = std::move(list);
    return input;
}

}  // namespace

Input read_input(const std::vector<std::string>& args, const std::string& default_file,
                 std::span<const KeySpec> keys) {
    CommandLine cmd = parse_command_line(args, keys);
    if (!cmd.usage_error.empty())
        return usage_error(std::move(cmd.usage_error));
    Input input;
    if (cmd.help) {
        input.action = Action::kHelp;
        return input;
    }
    if (cmd.version) {
        input.action = Action::kVersion;
        return input;
    }
    const bool check = cmd.check;
    const std::string file_name = cmd.config_file.value_or(default_file);
    std::vector<ConfigProblem> problems;
    std::optional<std::string> text;
    std::error_code ec;
    if (cmd.config_file || std::filesystem::exists(file_name, ec))
        text = read_file(file_name, problems);
    input = merge(std::move(cmd), text, file_name, keys, std::move(problems));
    input.action = check ? Action::kCheck : Action::kRun;
    return input;
}

Input read_input_text(const std::string& text, const std::string& file_name,
                      const std::vector<std::string>& args, std::span<const KeySpec> keys) {
    CommandLine cmd = parse_command_line(args, keys);
    if (!cmd.usage_error.empty())
        return usage_error(std::move(cmd.usage_error));
    return merge(std::move(cmd), text, file_name, keys, {});
}

const std::vector<Value>& Validator::all(const std::string& key) const {
    static const std::vector<Value> kNone;
    const auto it = values_.find(key);
    return it == values_.end() ? kNone : it->second;
}

const Value* Validator::single(const std::string& key) {
    const auto& v = all(key);
    if (v.empty())
        return nullptr;
    if (!repeats_reported_.insert(key).second)
        return &v[0];
    for (std::size_t i = 1; i < v.size(); ++i) {
        error(v[i], key,
              "given more than once" +
                  (v[0].line ? " (first on line " + std::to_string(v[0].line) + ")"
                             : std::string()));
    }
    return &v[0];
}

void Validator::boolean_into(const std::string& key, bool& into) {
    const Value* v = single(key);
    if (!v)
        return;
    std::string s = v->text;
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
    if (s == "true" || s == "yes" || s == "on" || s == "1") {
        into = true;
    } else if (s == "false" || s == "no" || s == "off" || s == "0") {
        into = false;
    } else {
        error(*v, key, "\"" + v->text + "\" is not a boolean (true|false|yes|no|on|off|1|0)");
    }
}

std::optional<std::size_t> Validator::choice(const std::string& key,
                                             std::initializer_list<std::string_view> names) {
    const Value* v = single(key);
    if (!v)
        return std::nullopt;
    std::size_t i = 0;
    for (auto n : names) {
        if (v->text == n)
            return i;
        ++i;
    }
    std::string list;
    for (auto n : names) list += (list.empty() ? "" : "|") + std::string(n);
    error(*v, key, "\"" + v->text + "\" is not one of " + list);
    return std::nullopt;
}

std::optional<std::string> Validator::path(const std::string& key) {
    const Value* v = single(key);
    if (!v)
        return std::nullopt;
    if (v->text.empty()) {
        error(*v, key, "empty path");
        return std::nullopt;
    }
    return v->text;
}

void Validator::directory_usable(const std::string& key, const std::string& path) {
    const Value* v = single(key);
    const Value where = v ? *v : Value{"", file_, 0};
    const std::filesystem::path dir = std::filesystem::path(path).parent_path();
    std::error_code ec;
    if (dir.empty() || std::filesystem::is_directory(dir, ec))
        return;
    if (std::filesystem::is_directory(dir.parent_path(), ec))
        return;
    error(where, key, "directory " + dir.string() + " does not exist (nor does its parent)");
}

void Validator::mode_into(const std::string& key, mode_t& into) {
    const Value* value = single(key);
    if (!value)
        return;
    const std::string& text = value->text;
    unsigned mode = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), mode, 8);
    if (text.empty() || ec != std::errc() || end != text.data() + text.size() || mode > 0777) {
        error(*value, key, "\"" + text + "\" is not an octal file mode (e.g. 0660)");
    } else {
        into = static_cast<mode_t>(mode);
    }
}

}  // namespace pmip::config
