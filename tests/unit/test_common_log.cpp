// Unit tests of logging: level filter, run-time debug categories, line format
// with context prefix, escaping, recent lines, rate limiting.
#include <catch2/catch.hpp>

#include <cctype>
#include <string>

#include "pmip/common/log.hpp"

namespace plog = pmip::log;
using pmip::log::Category;
using pmip::log::Level;

namespace {

void reset_log() {
    plog::configure(plog::Sink::kNone, "pmip-test", Level::kInfo);
    for (const auto name : plog::category_names())
        plog::enable_debug(*plog::category_from_name(name), false);
    plog::clear_recent_lines();
}

bool ends_with(const std::string& text, const std::string& suffix) {
    return text.size() >= suffix.size() &&
           text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

TEST_CASE("log line: timestamp, level, category, context prefix, message", "[common][log]") {
    reset_log();
    PMIP_WARNING(kTunnel, "[lma peer=2001:db8::2]", "message");
    const auto lines = plog::recent_lines();
    REQUIRE(lines.size() == 1);
    // "2026-11-22T08:00:00.123Z " then the rest.
    const std::string pattern = "dddd-dd-ddTdd:dd:dd.dddZ ";
    REQUIRE(lines[0].size() > pattern.size());
    for (std::size_t i = 0; i < pattern.size(); ++i) {
        INFO(lines[0] << " at " << i);
        if (pattern[i] == 'd') {
            CHECK(std::isdigit(static_cast<unsigned char>(lines[0][i])));
        } else {
            CHECK(lines[0][i] == pattern[i]);
        }
    }
    CHECK(lines[0].substr(pattern.size()) == "warning [tunnel] [lma peer=2001:db8::2] message");
}

TEST_CASE("log context is bracketed when given bare, omitted when empty", "[common][log]") {
    reset_log();
    PMIP_INFO(kBce, "lma mn=00:11:22:33:44:55", "created");
    PMIP_ERROR(kRoute, "", "no context");
    const auto lines = plog::recent_lines();
    REQUIRE(lines.size() == 2);
    CHECK(ends_with(lines[0], " info [bce] [lma mn=00:11:22:33:44:55] created"));
    CHECK(ends_with(lines[1], " error [route] no context"));
}

TEST_CASE("log escapes control characters so one message is one line", "[common][log]") {
    reset_log();
    PMIP_WARNING(kMh, "[mag]", "bad\nline\x01");
    const auto lines = plog::recent_lines();
    REQUIRE(lines.size() == 1);
    CHECK(ends_with(lines[0], "[mag] bad\\x0aline\\x01"));
}

TEST_CASE("log drops messages below the minimum level", "[common][log]") {
    reset_log();
    plog::set_minimum_level(Level::kWarning);
    CHECK(plog::minimum_level() == Level::kWarning);
    PMIP_INFO(kTunnel, "[t]", "dropped");
    PMIP_WARNING(kTunnel, "[t]", "kept warning");
    PMIP_ERROR(kTunnel, "[t]", "kept error");
    const auto lines = plog::recent_lines();
    REQUIRE(lines.size() == 2);
    CHECK(ends_with(lines[0], "kept warning"));
    CHECK(ends_with(lines[1], "kept error"));
}

TEST_CASE("debug messages are written only for enabled categories", "[common][log]") {
    reset_log();
    PMIP_DEBUG(kTunnel, "[t]", "off");
    CHECK(plog::recent_lines().empty());

    plog::enable_debug(Category::kTunnel, true);
    CHECK(plog::debug_enabled(Category::kTunnel));
    CHECK_FALSE(plog::debug_enabled(Category::kMld));
    CHECK(plog::enabled_categories() == std::vector<std::string_view>{"tunnel"});
    PMIP_DEBUG(kTunnel, "[t]", "on");
    PMIP_DEBUG(kMld, "[t]", "other category");
    auto lines = plog::recent_lines();
    REQUIRE(lines.size() == 1);
    CHECK(ends_with(lines[0], " debug [tunnel] [t] on"));

    plog::enable_debug(Category::kTunnel, false);
    PMIP_DEBUG(kTunnel, "[t]", "off again");
    CHECK(plog::recent_lines().size() == 1);
}

TEST_CASE("the macros do not build the message when it would be dropped", "[common][log]") {
    reset_log();
    int built = 0;
    auto message = [&] {
        ++built;
        return std::string("expensive");
    };
    PMIP_DEBUG(kNetlink, "[n]", message());
    CHECK(built == 0);
    plog::enable_debug(Category::kNetlink, true);
    PMIP_DEBUG(kNetlink, "[n]", message());
    CHECK(built == 1);
}

TEST_CASE("category and level names round-trip", "[common][log]") {
    const auto names = plog::category_names();
    CHECK(names == std::vector<std::string_view>{"mh", "bce", "bul", "tunnel", "route", "mld",
                                                 "netlink", "ctl"});
    for (const auto n : names) {
        const auto c = plog::category_from_name(n);
        REQUIRE(c.has_value());
        CHECK(plog::name(*c) == n);
    }
    CHECK_FALSE(plog::category_from_name("nope").has_value());
    CHECK(plog::level_from_name("warning") == Level::kWarning);
    CHECK(plog::name(Level::kError) == "error");
    CHECK_FALSE(plog::level_from_name("loud").has_value());
}

TEST_CASE("recent lines keep the last 256", "[common][log]") {
    reset_log();
    for (int i = 0; i < 300; ++i) PMIP_INFO(kCtl, "[c]", "line " + std::to_string(i));
    const auto lines = plog::recent_lines();
    REQUIRE(lines.size() == 256);
    CHECK(ends_with(lines.front(), "line 44"));
    CHECK(ends_with(lines.back(), "line 299"));
    plog::clear_recent_lines();
    CHECK(plog::recent_lines().empty());
}

TEST_CASE("RateLimit allows a burst per interval and counts what it suppressed", "[common][log]") {
    plog::RateLimit limit(3, std::chrono::hours(1));
    int allowed = 0;
    for (int i = 0; i < 10; ++i) allowed += limit.allow() ? 1 : 0;
    CHECK(allowed == 3);
    CHECK(limit.suppressed() == 7);

    // A zero interval starts a new window on every call.
    plog::RateLimit open(1, std::chrono::steady_clock::duration::zero());
    for (int i = 0; i < 5; ++i) CHECK(open.allow());
    CHECK(open.suppressed() == 0);
}
