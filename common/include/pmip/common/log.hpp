// Logging with levels and run-time switchable debug categories.
//
// STYLE.md / FRR rules: error and warning only when an operator must act;
// info for state changes a show command also shows; debug behind categories
// (mh, bce, bul, tunnel, route, mld, netlink, ctl) switched at run time
// (`pmipctl debug CATEGORY on|off`). Every message carries a context prefix,
// e.g. "[mag mn=00:11:22:33:44:55 if=veth3]". Output to stderr (with a
// timestamp) or syslog. Repeated messages from untrusted input go through
// RateLimit so a flood of bad packets cannot flood the log.
//
// Line format (stderr; syslog gets the same text without the timestamp, at
// facility LOG_DAEMON):
//   2026-11-22T08:00:00.123Z warning [tunnel] [lma peer=2001:db8::2] message
// A context given without brackets is bracketed; control characters in the
// message are escaped (\xNN) so untrusted text cannot forge log lines.
//
// Threading: the logger may be called from any thread (one mutex around the
// write); categories and the minimum level are atomics. A RateLimit object is
// not thread-safe: keep one per call site on the loop thread.
//
// Counters: none (RateLimit counts what it suppressed).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace pmip::log {

enum class Level : std::uint8_t { kDebug, kInfo, kWarning, kError };

enum class Category : std::uint8_t { kMh, kBce, kBul, kTunnel, kRoute, kMld, kNetlink, kCtl, kCount };

std::string_view name(Category c);
std::optional<Category> category_from_name(std::string_view name);
std::vector<std::string_view> category_names();

std::string_view name(Level level);  // "debug", "info", "warning", "error"
std::optional<Level> level_from_name(std::string_view name);

enum class Sink : std::uint8_t { kStderr, kSyslog, kNone };

// Process-wide set-up; call once from main. `ident` names the daemon in syslog.
void configure(Sink sink, std::string_view ident, Level minimum = Level::kInfo);
void set_minimum_level(Level level);
Level minimum_level();

void enable_debug(Category c, bool on);
bool debug_enabled(Category c);
// Names of the categories whose debug messages are on, in enum order.
std::vector<std::string_view> enabled_categories();

// Writes one line. Prefer the macros below, which skip formatting when the
// message would be dropped.
void write(Level level, Category category, std::string_view context, std::string_view message);

// The context of a message about one mobile node: its identifier (octets
// outside printable ASCII shown as '.') and, when peer_kind is given, the peer:
//   mn_context("lma sial", id, "mag", "2001:db8::2") -> "[lma sial mn=ID mag=2001:db8::2]"
std::string mn_context(std::string_view role, std::string_view mn_identifier, std::string_view peer_kind = {},
                       std::string_view peer = {});

// For tests: the last lines written (kept whatever the sink; at most 256).
std::vector<std::string> recent_lines();
void clear_recent_lines();

// Allows at most `burst` messages per `interval`; counts what it suppressed.
class RateLimit {
public:
    RateLimit(unsigned burst, std::chrono::steady_clock::duration interval)
        : burst_(burst), interval_(interval) {}
    // True when a message may be written now. When returning true after a
    // period of suppression, suppressed() tells how many were dropped.
    bool allow();
    std::uint64_t suppressed() const { return suppressed_; }

private:
    unsigned burst_;
    std::chrono::steady_clock::duration interval_;
    std::chrono::steady_clock::time_point window_start_{};
    unsigned in_window_ = 0;
    std::uint64_t suppressed_ = 0;
};

}  // namespace pmip::log

#define PMIP_LOG(level, category, context, message)                                          \
    do {                                                                                     \
        if ((level) != ::pmip::log::Level::kDebug                                            \
                ? (level) >= ::pmip::log::minimum_level()                                    \
                : ::pmip::log::debug_enabled(category)) {                                    \
            ::pmip::log::write((level), (category), (context), (message));                  \
        }                                                                                    \
    } while (0)

#define PMIP_DEBUG(category, context, message) \
    PMIP_LOG(::pmip::log::Level::kDebug, ::pmip::log::Category::category, context, message)
#define PMIP_INFO(category, context, message) \
    PMIP_LOG(::pmip::log::Level::kInfo, ::pmip::log::Category::category, context, message)
#define PMIP_WARNING(category, context, message) \
    PMIP_LOG(::pmip::log::Level::kWarning, ::pmip::log::Category::category, context, message)
#define PMIP_ERROR(category, context, message) \
    PMIP_LOG(::pmip::log::Level::kError, ::pmip::log::Category::category, context, message)
