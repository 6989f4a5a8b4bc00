// The configuration sections both daemons share. See daemon_config.hpp.
#include "pmip/common/daemon_config.hpp"

#include <algorithm>
#include <cctype>

namespace pmip::config {

void read_tunnel_section(Validator& v, TunnelBackendChoice& backend, TunnelOptions& options) {
    if (const auto b = v.choice("tunnel.backend", {"auto", "kernel", "userspace", "ebpf"})) {
        constexpr TunnelBackendChoice kChoices[] = {TunnelBackendChoice::kAuto, TunnelBackendChoice::kKernel,
                                                    TunnelBackendChoice::kUserspace, TunnelBackendChoice::kEbpf};
        backend = kChoices[*b];
    }
    v.number_into<unsigned>("tunnel.path-mtu", options.path_mtu, 1280, 65535);
    unsigned hop = options.hop_limit;
    v.number_into<unsigned>("tunnel.hop-limit", hop, 1, 255);
    options.hop_limit = static_cast<std::uint8_t>(hop);
    if (const Value* value = v.single("tunnel.device-prefix")) {
        const bool ok = !value->text.empty() && value->text.size() <= kMaxTunnelNamePrefix &&
                        std::all_of(value->text.begin(), value->text.end(), [](unsigned char ch) {
                            return std::islower(ch) || std::isdigit(ch);
                        });
        if (!ok) {
            v.error(*value, "tunnel.device-prefix",
                    "must be 1 to " + std::to_string(kMaxTunnelNamePrefix) +
                        " lower-case letters or digits");
        } else {
            options.name_prefix = value->text;
        }
    }
    unsigned ms = static_cast<unsigned>(
        std::chrono::duration_cast<std::chrono::milliseconds>(options.delete_delay).count());
    v.number_into<unsigned>("tunnel.delete-delay-ms", ms, 0, 3600000, " ms");
    options.delete_delay = std::chrono::milliseconds(ms);
}

void read_heartbeat_section(Validator& v, HeartbeatConfig& heartbeat, bool& enabled) {
    if (const Value* value = v.single("heartbeat.interval-s")) {
        if (auto s = v.number<unsigned>(*value, "heartbeat.interval-s", 0, 3600, " seconds")) {
            enabled = *s != 0;
            if (*s != 0)
                heartbeat.interval = std::chrono::seconds(*s);
            if (*s != 0 && *s < 30)
                v.warning(*value, "heartbeat.interval-s", "below the 30 s RFC 5847 section 5 advises");
        }
    }
    v.number_into<unsigned>("heartbeat.missing-allowed", heartbeat.missing_allowed, 1, 100);
}

void read_control_section(Validator& v, std::string& socket, mode_t& mode) {
    if (auto p = v.path("control.socket")) {
        if (p->size() >= 108) {
            v.error(*v.single("control.socket"), "control.socket",
                    "longer than the 107 characters a UNIX socket path may have");
        }
        socket = *p;
    }
    v.directory_usable("control.socket", socket);
    v.mode_into("control.mode", mode);
}

void read_log_section(Validator& v, log::Sink& sink, log::Level& level,
                      std::vector<log::Category>& debug) {
    if (const auto s = v.choice("log.sink", {"stderr", "syslog"}))
        sink = *s == 0 ? log::Sink::kStderr : log::Sink::kSyslog;
    if (const Value* value = v.single("log.level")) {
        if (const auto l = log::level_from_name(value->text)) {
            level = *l;
        } else {
            v.error(*value, "log.level", "\"" + value->text + "\" is not one of debug|info|warning|error");
        }
    }
    for (const Value& value : v.all("log.debug")) {
        for (const auto& word : split_words(value.text)) {
            if (word == "all") {
                for (std::size_t i = 0; i < static_cast<std::size_t>(log::Category::kCount); ++i)
                    debug.push_back(static_cast<log::Category>(i));
            } else if (const auto cat = log::category_from_name(word)) {
                debug.push_back(*cat);
            } else {
                std::string list = "all";
                for (auto n : log::category_names()) list += "|" + std::string(n);
                v.error(value, "log.debug", "\"" + word + "\" is not a debug category (" + list + ")");
            }
        }
    }
}

}  // namespace pmip::config
