// Logging: levels, run-time debug categories, stderr or syslog, recent lines
// kept for tests, rate limiting for messages caused by untrusted input.
#include "pmip/common/log.hpp"

#include <syslog.h>

#include <array>
#include <cstdio>
#include <ctime>
#include <deque>
#include <mutex>

namespace pmip::log {
namespace {

constexpr std::size_t kRecentLines = 256;
constexpr std::size_t kCategoryCount = static_cast<std::size_t>(Category::kCount);

constexpr std::array<std::string_view, kCategoryCount> kCategoryNames = {
    "mh", "bce", "bul", "tunnel", "route", "mld", "netlink", "ctl"};
constexpr std::array<std::string_view, 4> kLevelNames = {"debug", "info", "warning", "error"};

struct State {
    std::mutex mutex;  // guards everything below that is not atomic
    Sink sink = Sink::kStderr;
    std::string ident;  // openlog() keeps the pointer: must outlive the syslog session
    bool syslog_open = false;
    std::deque<std::string> recent;
    std::atomic<Level> minimum{Level::kInfo};
    std::array<std::atomic<bool>, kCategoryCount> debug{};
};

State& state() {
    // Never destroyed, so that destructors of other statics may still log.
    static State* const s = new State;
    return *s;
}

int syslog_priority(Level level) {
    switch (level) {
        case Level::kDebug:
            return LOG_DEBUG;
        case Level::kInfo:
            return LOG_INFO;
        case Level::kWarning:
            return LOG_WARNING;
        case Level::kError:
            return LOG_ERR;
    }
    return LOG_ERR;
}

std::string timestamp() {
    const auto now = std::chrono::system_clock::now();
    const auto since_epoch = now.time_since_epoch();
    const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(since_epoch);
    const auto millis =
        std::chrono::duration_cast<std::chrono::milliseconds>(since_epoch - seconds).count();
    const std::time_t t = static_cast<std::time_t>(seconds.count());
    std::tm tm{};
    ::gmtime_r(&t, &tm);
    char buf[64];
    std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                  tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                  static_cast<int>(millis));
    return buf;
}

// Control characters become \xNN so one write() is always one line.
void append_escaped(std::string& out, std::string_view text) {
    static constexpr char kHex[] = "0123456789abcdef";
    for (const char ch : text) {
        const auto c = static_cast<unsigned char>(ch);
        if (c < 0x20 || c == 0x7f) {
            out += "\\x";
            out += kHex[c >> 4];
            out += kHex[c & 0xf];
        } else {
            out += ch;
        }
    }
}

}  // namespace

std::string_view name(Category c) {
    const auto i = static_cast<std::size_t>(c);
    return i < kCategoryCount ? kCategoryNames[i] : std::string_view{"?"};
}

std::optional<Category> category_from_name(std::string_view text) {
    for (std::size_t i = 0; i < kCategoryCount; ++i) {
        if (kCategoryNames[i] == text)
            return static_cast<Category>(i);
    }
    return std::nullopt;
}

std::vector<std::string_view> category_names() {
    return {kCategoryNames.begin(), kCategoryNames.end()};
}

std::string mn_context(std::string_view role, std::string_view mn_identifier, std::string_view peer_kind,
                       std::string_view peer) {
    std::string out = "[";
    out.append(role).append(" mn=");
    for (char c : mn_identifier) out += (c >= 0x20 && c < 0x7f) ? c : '.';
    if (!peer_kind.empty()) out.append(" ").append(peer_kind).append("=").append(peer);
    return out + "]";
}

std::string_view name(Level level) {
    const auto i = static_cast<std::size_t>(level);
    return i < kLevelNames.size() ? kLevelNames[i] : std::string_view{"?"};
}

std::optional<Level> level_from_name(std::string_view text) {
    for (std::size_t i = 0; i < kLevelNames.size(); ++i) {
        if (kLevelNames[i] == text)
            return static_cast<Level>(i);
    }
    return std::nullopt;
}

void configure(Sink sink, std::string_view ident, Level minimum) {
    State& s = state();
    std::lock_guard lock(s.mutex);
    if (s.syslog_open) {
        ::closelog();
        s.syslog_open = false;
    }
    s.sink = sink;
    s.ident = std::string(ident);
    s.minimum.store(minimum);
    if (sink == Sink::kSyslog) {
        ::openlog(s.ident.c_str(), LOG_PID | LOG_NDELAY, LOG_DAEMON);
        s.syslog_open = true;
    }
}

void set_minimum_level(Level level) {
    state().minimum.store(level);
}

Level minimum_level() {
    return state().minimum.load(std::memory_order_relaxed);
}

void enable_debug(Category c, bool on) {
    const auto i = static_cast<std::size_t>(c);
    if (i < kCategoryCount)
        state().debug[i].store(on);
}

bool debug_enabled(Category c) {
    const auto i = static_cast<std::size_t>(c);
    return i < kCategoryCount && state().debug[i].load(std::memory_order_relaxed);
}

std::vector<std::string_view> enabled_categories() {
    std::vector<std::string_view> out;
    for (std::size_t i = 0; i < kCategoryCount; ++i) {
        if (state().debug[i].load())
            out.push_back(kCategoryNames[i]);
    }
    return out;
}

void write(Level level, Category category, std::string_view context, std::string_view message) {
    std::string body;
    body.reserve(32 + context.size() + message.size());
    body += name(level);
    body += " [";
    body += name(category);
    body += "] ";
    if (!context.empty()) {
        const bool bracketed = context.front() == '[';
        if (!bracketed)
            body += '[';
        append_escaped(body, context);
        if (!bracketed)
            body += ']';
        body += ' ';
    }
    append_escaped(body, message);

    std::string line = timestamp();
    line += ' ';
    line += body;

    State& s = state();
    std::lock_guard lock(s.mutex);
    switch (s.sink) {
        case Sink::kStderr:
            line += '\n';
            std::fwrite(line.data(), 1, line.size(), stderr);
            line.pop_back();
            break;
        case Sink::kSyslog:
            ::syslog(syslog_priority(level), "%s", body.c_str());
            break;
        case Sink::kNone:
            break;
    }
    if (s.recent.size() == kRecentLines)
        s.recent.pop_front();
    s.recent.push_back(std::move(line));
}

std::vector<std::string> recent_lines() {
    State& s = state();
    std::lock_guard lock(s.mutex);
    return {s.recent.begin(), s.recent.end()};
}

void clear_recent_lines() {
    State& s = state();
    std::lock_guard lock(s.mutex);
    s.recent.clear();
}

bool RateLimit::allow() {
    const auto now = std::chrono::steady_clock::now();
    if (window_start_ == std::chrono::steady_clock::time_point{} ||
        now - window_start_ >= interval_) {
        window_start_ = now;
        in_window_ = 0;
    }
    if (in_window_ < burst_) {
        ++in_window_;
        return true;
    }
    ++suppressed_;
    return false;
}

}  // namespace pmip::log
