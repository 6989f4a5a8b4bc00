// The [multicast] querier keys both daemons share. See querier_config_keys.hpp.
#include "pmip/mcast/querier_config_keys.hpp"

#include <algorithm>

#include <unistd.h>

#include <chrono>

#include "pmip/common/log.hpp"
#include "pmip/mh/options.hpp"

namespace pmip::mcast {

std::optional<SourceGroupRule> read_channel_rule(config::Validator& v, const config::Value& value,
                                                 const std::string& key,
                                                 const std::vector<std::string>& words) {
    if (words.empty() || words.size() > 2) {
        v.error(value, key, "expected \"GROUP-PREFIX [SOURCE-PREFIX]\"");
        return std::nullopt;
    }
    const auto group = parse_prefix(words[0]);
    if (!group || group->length < 8 || !is_multicast(group->address) || canonical(*group) != *group) {
        v.error(value, key, "\"" + words[0] + "\" is not a multicast prefix (ff00::/8 or longer)");
        return std::nullopt;
    }
    if (words.size() == 1)
        return SourceGroupRule{Ipv6Prefix{{}, 0}, *group};
    const auto source = parse_prefix(words[1]);
    if (!source || is_multicast(source->address) || canonical(*source) != *source) {
        v.error(value, key, "\"" + words[1] + "\" is not a unicast source prefix");
        return std::nullopt;
    }
    return SourceGroupRule{*source, *group};
}

void read_pbu_m_keys(config::Validator& v, bool& enabled, mh::ExtensionCodePoints& code_points) {
    v.boolean_into("multicast.pbu-m", enabled);
    if (const config::Value* value = v.single("multicast.pbu-m-flag")) {
        if (const auto flag = v.number<unsigned>(*value, "multicast.pbu-m-flag", 1, 0xffff)) {
            using namespace mh::bu_flag;
            constexpr unsigned kUsed = kA | kH | kL | kK | kM | kR | kP | kS;
            constexpr unsigned kRegistered = kF | kT | kB | kD;
            if ((*flag & (*flag - 1)) != 0) {
                v.error(*value, "multicast.pbu-m-flag", "must be a single bit such as 0x0008 or 0x0100");
            } else if ((*flag & kUsed) != 0) {
                v.error(*value, "multicast.pbu-m-flag",
                        "is a flag the daemons use (A, H, L, K, M, R, P or S); the free bits are 0x0001-0x0008 "
                        "(0x0010-0x0100 are IANA-assigned: accepted with a warning)");
            } else {
                if ((*flag & kRegistered) != 0)
                    v.warning(*value, "multicast.pbu-m-flag",
                              "is an IANA-assigned flag (F 0x0100, T 0x0080, B 0x0040 or D 0x0010): a "
                              "standard peer reads a PBU-M as that flag");
                code_points.multicast_subscription_flag = static_cast<std::uint16_t>(*flag);
            }
        }
    }
    if (const config::Value* value = v.single("multicast.pbu-m-option")) {
        if (const auto type = v.number<unsigned>(*value, "multicast.pbu-m-option", 2, 255)) {
            const bool known = !mh::option_type_name(static_cast<std::uint8_t>(*type)).empty();
            if (known)
                v.error(*value, "multicast.pbu-m-option",
                        std::to_string(*type) + " is an option type the daemons parse (" +
                            std::string(mh::option_type_name(static_cast<std::uint8_t>(*type))) +
                            "); use an unassigned one such as 200");
            else
                code_points.multicast_subscription_option_type = static_cast<std::uint8_t>(*type);
        }
    }
}

std::string pbu_m_keys_help(const std::string& what) {
    return R"(    multicast.pbu-m = false
        draft-asaeda-multimob-pmip6-extension's PBU-M (PROTOCOL.md 9.1): )" + what + R"(
    multicast.pbu-m-flag = 0x0008
        The PBU-M's Binding Update flag. The draft asks for 0x0100, which
        IANA assigned to F (RFC 5555): a standard LMA reads it as "force UDP
        encapsulation". The default is the highest reserved bit; set 0x0100
        only towards a peer that follows the draft literally (a warning).
    multicast.pbu-m-option = 200
        Type of the option carrying the MLDv2 multicast address records
        (alignment 4n: Type, Length, Reserved(16), records); an unassigned
        type, so a peer without PBU-M skips it (RFC 6275 section 6.2.1).
)";
}

void read_m_tunnel_keys(config::Validator& v, MulticastTunnelConfig& m_tunnel, bool multicast_enabled) {
    if (const auto mode = v.choice("multicast.m-tunnel", {"off", "dynamic", "static"})) {
        constexpr MulticastTunnelMode kModes[] = {MulticastTunnelMode::kOff, MulticastTunnelMode::kDynamic,
                                                  MulticastTunnelMode::kStatic};
        m_tunnel.mode = kModes[*mode];
    }
    v.number_into<std::uint32_t>("multicast.m-tunnel-key", m_tunnel.key, 0, 0xffffffff);
    if (m_tunnel.enabled() && !multicast_enabled) {
        v.global("multicast.m-tunnel", "needs multicast.enabled = true", false);
        m_tunnel.mode = MulticastTunnelMode::kOff;
    }
}

std::string m_tunnel_keys_help(const std::string& peers) {
    return R"(    multicast.m-tunnel = off
        draft-asaeda-multimob-pmip6-extension's M-Tunnel (PROTOCOL.md 9.1):
        multicast data and MLD between this node and each )" + peers + R"(
        Unicast stays in its tunnels; with per-MN GRE keys multicast then
        crosses once per MAG instead of once per MN. Both ends must agree:
        set it (and the key) the same in magd and lmad. dynamic: the
        M-Tunnel is made with the first binding that needs it and deleted
        after the last ([tunnel] delete-delay-ms applies); static: as
        described above, kept until shutdown (one that cannot be made at
        start is made when needed, as with dynamic; logged, counted
        m_tunnel_errors). off: multicast shares the unicast tunnel (RFC
        6224).
    multicast.m-tunnel-key = 0xffffffff
        The M-Tunnel's GRE key (RFC 2890), sent and expected both ways. No
        MN's session is given this key.
)";
}

void read_filter_keys(config::Validator& v, Policy& policy) {
    Policy p;
    auto groups = [&](const char* key, std::vector<Ipv6Prefix>& out) {
        for (const config::Value& value : v.all(key)) {
            const auto words = config::split_words(value.text);
            if (words.size() != 1) {
                v.error(value, key, "expected one GROUP-PREFIX");
                continue;
            }
            if (auto rule = read_channel_rule(v, value, key, words))
                out.push_back(rule->group);
        }
    };
    groups("multicast.allowed-group", p.allowed_groups);
    groups("multicast.denied-group", p.denied_groups);
    auto sources = [&](const char* key, std::vector<SourceGroupRule>& out, bool host) {
        for (const config::Value& value : v.all(key)) {
            const auto words = config::split_words(value.text);
            if (words.size() != 2) {
                v.error(value, key, host ? "expected \"GROUP-PREFIX SOURCE-ADDRESS\""
                                         : "expected \"GROUP-PREFIX SOURCE-PREFIX\"");
                continue;
            }
            auto rule = read_channel_rule(v, value, key, words);
            if (!rule)
                continue;
            // An EXCLUDE-mode join can exclude hosts only: a refused prefix
            // could not be asked of the upstream (RFC 3810 source lists).
            if (host && rule->source.length != 128) {
                v.error(value, key, "\"" + words[1] + "\" is not a host address (a /128)");
                continue;
            }
            out.push_back(*rule);
        }
    };
    sources("multicast.allowed-source", p.allowed_sources, false);
    sources("multicast.denied-source", p.denied_sources, true);
    policy = std::move(p);
}

void read_interface_filter_keys(config::Validator& v, std::vector<InterfaceFilter>& filters) {
    const char* key = "multicast.interface-filter";
    std::vector<InterfaceFilter> out;
    for (const config::Value& value : v.all(key)) {
        const auto words = config::split_words(value.text);
        if (words.size() < 3 || words.size() > 4 || (words[1] != "allow" && words[1] != "deny")) {
            v.error(value, key, "expected \"IFNAME-PATTERN allow|deny GROUP-PREFIX [SOURCE]\"");
            continue;
        }
        if (words[0].empty() || words[0].size() > 64) {
            v.error(value, key, "\"" + words[0] + "\" is not an interface name pattern");
            continue;
        }
        const std::vector<std::string> channel(words.begin() + 2, words.end());
        auto rule = read_channel_rule(v, value, key, channel);
        if (!rule)
            continue;
        const bool allow = words[1] == "allow";
        const bool with_source = channel.size() == 2;
        if (!allow && with_source && rule->source.length != 128) {
            v.error(value, key, "\"" + channel[1] + "\" is not a host address (a /128): deny takes one source");
            continue;
        }
        auto it = std::find_if(out.begin(), out.end(),
                               [&](const InterfaceFilter& f) { return f.pattern == words[0]; });
        if (it == out.end())
            it = out.insert(out.end(), InterfaceFilter{words[0], {}});
        Policy& p = it->policy;
        if (!with_source)
            (allow ? p.allowed_groups : p.denied_groups).push_back(rule->group);
        else
            (allow ? p.allowed_sources : p.denied_sources).push_back(*rule);
    }
    filters = std::move(out);
}

std::string filter_keys_help() {
    return R"(    multicast.allowed-group = (repeatable) GROUP-PREFIX
        Filter table, white list: only groups in these prefixes are joined,
        reported upstream and forwarded (none listed: every group).
    multicast.denied-group = (repeatable) GROUP-PREFIX
        Filter table, black list (after the white list).
    multicast.allowed-source = (repeatable) "GROUP-PREFIX SOURCE-PREFIX"
        A group in GROUP-PREFIX takes only the sources these rules list (its
        any-source and MLDv1 joins are refused).
    multicast.denied-source = (repeatable) "GROUP-PREFIX SOURCE-ADDRESS"
        A source refused for the groups in GROUP-PREFIX (excluded from
        any-source joins, dropped from source lists, not forwarded).
        The filter tables apply to every listener's reports (refusals counted
        in show multicast: records_refused, v1_refused), to what goes
        upstream and to forwarding; a reload that changes them applies them
        at once to the state held (a looser table gives back what the
        queriers still hold, and admits the rest from the listeners' next
        reports).
    multicast.interface-filter = (repeatable) "IFNAME-PATTERN allow|deny GROUP-PREFIX [SOURCE]"
        A filter table of its own for the interfaces matching the pattern
        (fnmatch: "mn*", "eth2"), on top of the tables above; the lines of
        one pattern form one table: allow GROUP-PREFIX (white list of
        groups), deny GROUP-PREFIX (black list), allow GROUP-PREFIX
        SOURCE-PREFIX (the group takes only those sources), deny
        GROUP-PREFIX SOURCE-ADDRESS (that host refused). On a downstream
        (an MN link, a MAG tunnel) it limits what its listeners may join
        and what is forwarded there; on an upstream what is reported there,
        what is taken from there and what a downstream's data sends there.
        Reloaded with the tables above.
)";
}

void read_querier_keys(config::Validator& v, QuerierConfig& querier, FastLeaveKey fast_leave_key) {
    using std::chrono::duration_cast;
    unsigned rv = querier.robustness;
    v.number_into<unsigned>("multicast.robustness", rv, 1, 7);
    // The RV-derived counts follow the robustness read; the rest keeps the
    // daemon's defaults unless a key sets it.
    QuerierConfig q = QuerierConfig::with_robustness(rv);
    q.startup_query_interval = querier.startup_query_interval;
    q.explicit_tracking = querier.explicit_tracking;
    q.fast_leave = querier.fast_leave;
    auto qi = static_cast<unsigned>(duration_cast<std::chrono::seconds>(querier.query_interval).count());
    auto qri = static_cast<unsigned>(
        duration_cast<std::chrono::milliseconds>(querier.query_response_interval).count());
    auto llqi = static_cast<unsigned>(
        duration_cast<std::chrono::milliseconds>(querier.last_listener_query_interval).count());
    v.number_into<unsigned>("multicast.query-interval-s", qi, 2, 3600, " seconds");
    v.number_into<unsigned>("multicast.query-response-interval-ms", qri, 1, 60000, " ms");
    v.number_into<unsigned>("multicast.last-listener-query-interval-ms", llqi, 100, 60000, " ms");
    if (fast_leave_key == FastLeaveKey::kPresent)
        v.boolean_into("multicast.fast-leave", q.fast_leave);
    q.query_interval = std::chrono::seconds(qi);
    q.query_response_interval = std::chrono::milliseconds(qri);
    q.last_listener_query_interval = std::chrono::milliseconds(llqi);
    if (const std::string why = validate(q); !why.empty())
        v.global("multicast.query-response-interval-ms", why, false);
    else
        querier = q;
}

void read_forwarding_key(config::Validator& v, Forwarding& forwarding) {
    if (const config::Value* value = v.single("multicast.forwarding")) {
        if (const auto f = parse_forwarding(value->text))
            forwarding = *f;
        else
            v.error(*value, "multicast.forwarding",
                    "\"" + value->text + "\" is not one of auto|ebpf|kernel");
    }
}

void read_hold_keys(config::Validator& v, EbpfRouterLimits& limits) {
    v.number_into<std::uint32_t>("multicast.hold-packets", limits.hold_packets, 0, 64);
    v.number_into<std::uint32_t>("multicast.hold-ms", limits.hold_ms, 1, 10000, " (ms)");
}

std::string hold_keys_help() {
    return R"(    multicast.hold-packets = 8
        With forwarding ebpf: the first packets of a multicast flow that
        arrive before its forwarding entry exists are held (per source,
        group and arrival interface, at most this many; 0: none) and sent
        on the entry's outputs when it is written, as the kernel's
        multicast routing holds them for its upcall (ip6mr keeps 4). After a
        handover the stream reaches the new MAG's tunnel a few milliseconds
        before the MN's entry is written: these packets are what it would
        otherwise lose. `show multicast` counts them (held: queued,
        released, expired, over_limit); at most 1 MiB is held per instance.
    multicast.hold-ms = 1000
        How long a held packet waits for its entry before it is dropped
        (counted expired).
)";
}

Expected<std::string> forwarding_check_note(Forwarding forwarding) {
    // The probes need what the daemon needs (raw sockets, BPF); a --check
    // without them judges the file only.
    if (::geteuid() != 0)
        return "multicast forwarding: " + std::string(to_string(forwarding)) +
               " (not probed: --check without root; the daemon says which backend at start)";
    auto choice = choose_forwarding(forwarding);
    if (!choice)
        return choice.error();
    return "multicast forwarding: " + std::string(to_string(choice->backend)) + " (" + choice->why +
           ")";
}

Expected<std::vector<std::string>> multicast_check_notes(bool enabled, Forwarding forwarding) {
    if (!enabled)
        return std::vector<std::string>{"multicast: disabled"};
    auto note = forwarding_check_note(forwarding);
    if (!note)
        return note.error();
    return std::vector<std::string>{*note};
}

Expected<Forwarding> start_forwarding(Forwarding wanted, std::uint32_t filter_handle,
                                      const char* log_context) {
    auto choice = choose_forwarding(wanted);
    if (!choice)
        return choice.error();
    PMIP_INFO(kMld, log_context,
              "multicast forwarding: " + std::string(to_string(choice->backend)) + " (" +
                  choice->why + ")");
    if (choice->backend == Forwarding::kEbpf) {
        if (const std::size_t n = remove_leftover_filters(filter_handle); n > 0)
            PMIP_INFO(kMld, log_context,
                      "removed " + std::to_string(n) + " tc filters left by a previous run");
    }
    return choice->backend;
}

}  // namespace pmip::mcast
