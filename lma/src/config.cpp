// lmad configuration: file + command line -> LmadConfig, with located problems.
#include "config.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <sstream>


#include "pmip/common/auth_config_keys.hpp"
#include "pmip/common/prefix_pool.hpp"
#include "pmip/common/daemon_config.hpp"
#include "pmip/mcast/querier_config_keys.hpp"
#include "policy_file.hpp"

namespace pmip::lma {

using config::split_words;
using config::Validator;
using config::Value;

std::string_view to_string(PeerProfile profile) {
    return profile == PeerProfile::kOai ? "oai" : "rfc5213";
}

PeerProfile profile_of(const std::vector<PeerProfileRule>& rules, const Ipv6Address& mag) {
    const PeerProfileRule* best = nullptr;
    for (const auto& rule : rules) {
        if (contains(rule.mags, mag) && (!best || rule.mags.length > best->mags.length)) {
            best = &rule;
        }
    }
    return best ? best->profile : PeerProfile::kRfc5213;
}

namespace {

// Every key of the file.
constexpr config::KeySpec kKeys[] = {
    {"lma.address", true},
    {"pools.pool", true},
    {"binding.max-lifetime", false},
    {"binding.ordering", false},
    {"binding.timestamp-validity-window-ms", false},
    {"binding.mobile-node-generated-timestamps", false},
    {"binding.min-delay-before-bce-delete-ms", false},
    {"binding.max-delay-before-new-bce-assign-ms", false},
    {"binding.new-session-without-waiting", false},
    {"binding.mag-link-local", false},
    {"binding.expected-bindings", false},
    {"binding.reserve-heap", false},
    {"binding.max-queue-delay-ms", false},
    {"mags.authorized", true},
    {"mags.profile", true},
    {"mags.oai-identity", false},
    {"mags.auth", true},
    {"mags.auth-replay-window-ms", false},
    {"revocation.initial-timeout-ms", false},
    {"revocation.max-timeout-ms", false},
    {"revocation.max-retries", false},
    {"dmm.cmd", false},
    {"dmm.aggregation-timeout-ms", false},
    {"dmm.pacing-ms", false},
    {"dmm.max-retransmissions", false},
    {"sial.enabled", false},
    {"sial.pba-timer-ms", false},
    {"sial.query-timeout-ms", false},
    {"sial.query-retries", false},
    {"multicast.enabled", false},
    {"multicast.upstream", false},
    {"multicast.upstream-channel", true},
    {"multicast.upstream-matching", false},
    {"multicast.interface-filter", true},
    {"multicast.upstream-mutex-timeout-ms", false},
    {"multicast.allowed-group", true},
    {"multicast.denied-group", true},
    {"multicast.allowed-source", true},
    {"multicast.denied-source", true},
    {"multicast.table", false},
    {"multicast.forwarding", false},
    {"multicast.hold-packets", false},
    {"multicast.hold-ms", false},
    {"multicast.robustness", false},
    {"multicast.query-interval-s", false},
    {"multicast.query-response-interval-ms", false},
    {"multicast.last-listener-query-interval-ms", false},
    {"multicast.pbu-m", false},
    {"multicast.pbu-m-flag", false},
    {"multicast.pbu-m-option", false},
    {"multicast.m-tunnel", false},
    {"multicast.m-tunnel-key", false},
    {"multicast.m-tunnel-mag", true},
    {"policy.store", false},
    {"policy.serve-unknown", false},
    {"policy.default-tunnel", false},
    {"policy.default-prefix-count", false},
    {"tunnel.backend", false},
    {"tunnel.path-mtu", false},
    {"tunnel.hop-limit", false},
    {"tunnel.device-prefix", false},
    {"tunnel.delete-delay-ms", false},
    {"heartbeat.interval-s", false},
    {"heartbeat.missing-allowed", false},
    {"heartbeat.on-peer-failure", false},
    {"control.socket", false},
    {"control.mode", false},
    {"state.file", false},
    {"log.sink", false},
    {"log.level", false},
    {"log.debug", true},
};

bool bad_lma_address(const Ipv6Address& a, std::string& why) {
    if (a == Ipv6Address{}) {
        why = "the unspecified address";
    } else if (is_multicast(a)) {
        why = "a multicast address";
    } else if (is_link_local(a)) {
        why = "a link-local address (PBUs and tunnels need a global address)";
    } else if (a == Ipv6Address{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}) {
        why = "the loopback address";
    } else {
        return false;
    }
    return true;
}

bool overlaps(const Ipv6Prefix& a, const Ipv6Prefix& b) {
    return contains(a, b.address) || contains(b, a.address);
}

void validate(Validator& v, LmadConfig& c) {
    // [lma]
    for (const Value& value : v.all("lma.address")) {
        for (const auto& word : split_words(value.text)) {
            const auto a = parse_address(word);
            std::string why;
            if (!a) {
                v.error(value, "lma.address", "\"" + word + "\" is not an IPv6 address");
            } else if (bad_lma_address(*a, why)) {
                v.error(value, "lma.address", word + " is " + why);
            } else if (std::find(c.addresses.begin(), c.addresses.end(), *a) != c.addresses.end()) {
                v.warning(value, "lma.address", word + " is listed twice");
            } else {
                c.addresses.push_back(*a);
            }
        }
    }
    if (v.all("lma.address").empty()) {
        v.global("lma.address", "no LMA address configured (set [lma] address)", false);
    }

    // [pools]
    std::vector<std::pair<Ipv6Prefix, std::size_t>> pool_lines;
    for (const Value& value : v.all("pools.pool")) {
        const auto words = split_words(value.text);
        if (words.empty() || words.size() > 2) {
            v.error(value, "pools.pool",
                    "expected \"PREFIX/LEN DELEGATED-LEN\", e.g. \"2001:db8:8000::/33 64\"");
            continue;
        }
        const auto p = parse_prefix(words[0]);
        if (!p || words[0].find('/') == std::string::npos) {
            v.error(value, "pools.pool", "\"" + words[0] + "\" is not an IPv6 prefix (PREFIX/LEN)");
            continue;
        }
        if (canonical(*p) != *p) {
            v.error(value, "pools.pool",
                    words[0] + " has bits set past /" + std::to_string(p->length) +
                        " (did you mean " + pmip::to_string(canonical(*p)) + "?)");
            continue;
        }
        std::uint8_t delegated = 64;
        if (words.size() == 2) {
            const auto d =
                v.number<unsigned>(Value{words[1], value.file, value.line}, "pools.pool", 1, 128);
            if (!d)
                continue;
            delegated = static_cast<std::uint8_t>(*d);
        }
        if (delegated < p->length) {
            v.error(value, "pools.pool",
                    "delegated length /" + std::to_string(delegated) +
                        " is shorter than the pool " + words[0]);
            continue;
        }
        if (is_multicast(p->address) || is_link_local(p->address)) {
            v.error(value, "pools.pool", words[0] + " is not a global unicast prefix");
            continue;
        }
        if (!PrefixPool::create(*p, delegated)) {
            v.error(value, "pools.pool",
                    "cannot make a pool of /" + std::to_string(delegated) + " prefixes from " +
                        words[0]);
            continue;
        }
        bool clash = false;
        for (const auto& [other, line] : pool_lines) {
            if (overlaps(other, *p)) {
                v.error(value, "pools.pool",
                        words[0] + " overlaps pool " + pmip::to_string(other) +
                            (line ? " (line " + std::to_string(line) + ")" : std::string()));
                clash = true;
            }
        }
        if (clash)
            continue;
        pool_lines.emplace_back(*p, value.line);
        c.pools.push_back({*p, delegated});
    }

    // [binding]
    if (const Value* value = v.single("binding.max-lifetime")) {
        if (auto s = v.number<unsigned>(*value, "binding.max-lifetime", 4, 262140, " seconds")) {
            if (*s % 4 != 0) {
                v.warning(*value, "binding.max-lifetime",
                          "not a multiple of 4 s (the lifetime unit); using " +
                              std::to_string(*s / 4 * 4));
            }
            c.engine.max_lifetime = static_cast<std::uint16_t>(*s / 4);
        }
    }
    if (const auto o = v.choice("binding.ordering", {"timestamp", "sequence"})) {
        c.ordering = *o == 0 ? Ordering::kTimestamp : Ordering::kSequence;
    }
    unsigned ms = 0;
    ms = 300;
    v.number_into<unsigned>("binding.timestamp-validity-window-ms", ms, 1, 60000, " ms");
    c.engine.timestamp_validity_window = std::chrono::milliseconds(ms);
    v.boolean_into("binding.mobile-node-generated-timestamps",
                   c.engine.mobile_node_generated_timestamps);
    if (c.engine.mobile_node_generated_timestamps && c.ordering == Ordering::kSequence) {
        v.warning(*v.single("binding.mobile-node-generated-timestamps"),
                  "binding.mobile-node-generated-timestamps",
                  "has no effect with ordering = sequence (RFC 5213 section 9.3)");
    }
    ms = 10000;
    v.number_into<unsigned>("binding.min-delay-before-bce-delete-ms", ms, 0, 600000, " ms");
    c.engine.min_delay_before_bce_delete = std::chrono::milliseconds(ms);
    ms = 1500;
    v.number_into<unsigned>("binding.max-delay-before-new-bce-assign-ms", ms, 0, 60000, " ms");
    c.engine.max_delay_before_new_bce_assign = std::chrono::milliseconds(ms);
    v.boolean_into("binding.new-session-without-waiting", c.engine.new_session_without_waiting);
    unsigned expected = 0;
    v.number_into<unsigned>("binding.expected-bindings", expected, 0, 16777216);
    c.engine.expected_bindings = expected;
    v.boolean_into("binding.reserve-heap", c.reserve_heap);
    ms = static_cast<unsigned>(std::chrono::duration_cast<std::chrono::milliseconds>(c.max_queue_delay).count());
    v.number_into<unsigned>("binding.max-queue-delay-ms", ms, 0, 60000, " ms");
    c.max_queue_delay = std::chrono::milliseconds(ms);
    if (const Value* value = v.single("binding.mag-link-local")) {
        const auto a = parse_address(value->text);
        if (!a || !is_link_local(*a)) {
            v.error(*value, "binding.mag-link-local",
                    "\"" + value->text + "\" is not a link-local IPv6 address");
        } else {
            c.engine.mag_link_local = *a;
        }
    }

    // [mags]
    for (const Value& value : v.all("mags.authorized")) {
        for (const auto& word : split_words(value.text)) {
            const auto p = parse_prefix(word);
            if (!p) {
                v.error(value, "mags.authorized",
                        "\"" + word + "\" is not an IPv6 address or prefix");
            } else if (canonical(*p) != *p) {
                v.error(value, "mags.authorized",
                        word + " has bits set past /" + std::to_string(p->length) +
                            " (did you mean " + pmip::to_string(canonical(*p)) + "?)");
            } else {
                c.engine.authorized_mags.push_back(*p);
            }
        }
    }
    if (v.all("mags.authorized").empty()) {
        v.global("mags.authorized", "no MAG is authorized: every PBU will be rejected with 154",
                 true);
    }
    for (const Value& value : v.all("mags.profile")) {
        const auto words = split_words(value.text);
        if (words.size() != 2) {
            v.error(value, "mags.profile", "expected \"ADDRESS-OR-PREFIX rfc5213|oai\"");
            continue;
        }
        const auto p = parse_prefix(words[0]);
        if (!p || canonical(*p) != *p) {
            v.error(value, "mags.profile", "\"" + words[0] + "\" is not an IPv6 address or prefix");
            continue;
        }
        PeerProfile profile;
        if (words[1] == "rfc5213") {
            profile = PeerProfile::kRfc5213;
        } else if (words[1] == "oai") {
            profile = PeerProfile::kOai;
        } else {
            v.error(value, "mags.profile", "\"" + words[1] + "\" is not a profile (rfc5213|oai)");
            continue;
        }
        const bool authorized =
            std::any_of(c.engine.authorized_mags.begin(), c.engine.authorized_mags.end(),
                        [&](const Ipv6Prefix& a) { return contains(a, p->address); });
        if (!authorized) {
            v.warning(value, "mags.profile",
                      words[0] + " is not within any [mags] authorized entry");
        }
        c.profiles.push_back({*p, profile});
    }

    if (const auto o = v.choice("mags.oai-identity", {"mac", "as-sent"})) {
        c.oai_identity = *o == 0 ? OaiIdentity::kMac : OaiIdentity::kAsSent;
    }
    c.auth = auth::read_auth_keys(v, "mags", [&](const auth::PeerSecurity& p) {
        const bool oai = p.mode != auth::Mode::kOff &&
                         profile_of(c.profiles, p.peers.address) == PeerProfile::kOai;
        return std::string(oai ? "OAI/UMIP pmip6d MAGs (profile oai) do not authenticate their messages"
                               : "");
    });

    // [revocation] RFC 5846 section 11.
    ms = 1000;
    v.number_into<unsigned>("revocation.initial-timeout-ms", ms, 500, 60000, " ms");
    c.engine.revocation.initial_timeout = std::chrono::milliseconds(ms);
    ms = 2000;
    v.number_into<unsigned>("revocation.max-timeout-ms", ms, 500, 600000, " ms");
    c.engine.revocation.max_timeout = std::chrono::milliseconds(ms);
    if (c.engine.revocation.max_timeout < c.engine.revocation.initial_timeout) {
        const Value* max_value = v.single("revocation.max-timeout-ms");
        const Value* initial_value = v.single("revocation.initial-timeout-ms");
        v.error(max_value ? *max_value : *initial_value,
                max_value ? "revocation.max-timeout-ms" : "revocation.initial-timeout-ms",
                "MAX_BRACK_TIMEOUT (max-timeout-ms, " +
                    std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(
                                       c.engine.revocation.max_timeout)
                                       .count()) +
                    ") is below InitMINDelayBRIs (initial-timeout-ms, " +
                    std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(
                                       c.engine.revocation.initial_timeout)
                                       .count()) +
                    ") [RFC 5846 section 11]");
    }
    v.number_into<unsigned>("revocation.max-retries", c.engine.revocation.max_retries, 0, 10);

    // [dmm] RFC 8885 Central Mobility Database.
    if (const Value* value = v.single("dmm.cmd")) {
        CmdConfig cmd;
        if (value->text == "relay") {
            cmd.mode = CmdMode::kRelay;
            c.cmd = cmd;
        } else if (value->text == "proxy") {
            cmd.mode = CmdMode::kProxy;
            c.cmd = cmd;
        } else if (value->text != "off") {
            v.error(*value, "dmm.cmd", "\"" + value->text + "\" is not off|relay|proxy");
        }
    }
    {
        unsigned aggregation = 500, pacing = 1, retries = 3;
        v.number_into<unsigned>("dmm.aggregation-timeout-ms", aggregation, 0, 10000, " ms");
        v.number_into<unsigned>("dmm.pacing-ms", pacing, 0, 100, " ms");
        v.number_into<unsigned>("dmm.max-retransmissions", retries, 0, 10);
        if (c.cmd) {
            c.cmd->aggregation_timeout = std::chrono::milliseconds(aggregation);
            c.cmd->pacing = std::chrono::milliseconds(pacing);
            c.cmd->max_retransmissions = retries;
        }
    }

    // [sial] RFC 7161 multicast context transfer.
    v.boolean_into("sial.enabled", c.engine.sial.enabled);
    ms = 0;
    v.number_into<unsigned>("sial.pba-timer-ms", ms, 0, 1000, " ms");
    c.engine.sial.pba_timer = std::chrono::milliseconds(ms);
    ms = 500;
    v.number_into<unsigned>("sial.query-timeout-ms", ms, 50, 10000, " ms");
    c.engine.sial.query_timeout = std::chrono::milliseconds(ms);
    v.number_into<unsigned>("sial.query-retries", c.engine.sial.query_retries, 0, 10);

    // [multicast] RFC 6224 section 4.3: lmad is the MLD querier on its MAG
    // tunnels and the multicast anchor towards [multicast] upstream.
    {
        LmaMulticastConfig& m = c.multicast;
        v.boolean_into("multicast.enabled", m.enabled);
        if (const Value* value = v.single("multicast.upstream")) {
            if (value->text.empty() || value->text.size() > 15)
                v.error(*value, "multicast.upstream", "must be a device name (1-15 characters)");
            else
                m.upstream = value->text;
        }
        if (m.enabled && m.upstream.empty()) {
            v.global("multicast.upstream",
                     "multicast is enabled but no upstream interface is set (the link towards "
                     "the multicast sources)",
                     false);
        }
        // Several upstreams: "IFNAME GROUP-PREFIX [SOURCE-PREFIX]", the
        // interfaces in order of first appearance, before multicast.upstream.
        for (const Value& value : v.all("multicast.upstream-channel")) {
            auto words = split_words(value.text);
            if (words.size() < 2 || words[0].size() > 15 || words[0].find_first_of(":/") != std::string::npos) {
                v.error(value, "multicast.upstream-channel",
                        "expected \"IFNAME GROUP-PREFIX [SOURCE-PREFIX]\"");
                continue;
            }
            const std::string name = words[0];
            words.erase(words.begin());
            const auto rule = mcast::read_channel_rule(v, value, "multicast.upstream-channel", words);
            if (!rule)
                continue;
            if (name == m.upstream) {
                v.error(value, "multicast.upstream-channel",
                        name + " is multicast.upstream, which takes every channel no other upstream takes");
                continue;
            }
            auto it = std::find_if(m.extra_upstreams.begin(), m.extra_upstreams.end(),
                                   [&](const auto& e) { return e.name == name; });
            if (it == m.extra_upstreams.end())
                it = m.extra_upstreams.insert(m.extra_upstreams.end(), {name, {}});
            it->rules.push_back(*rule);
        }
        if (!m.enabled && !v.all("multicast.upstream-channel").empty())
            v.global("multicast.upstream-channel", "ignored: needs multicast.enabled = true", true);
        if (const Value* value = v.single("multicast.upstream-matching")) {
            if (value->text == "first")
                m.matching = mcast::UpstreamMatching::kFirst;
            else if (value->text == "all")
                m.matching = mcast::UpstreamMatching::kAll;
            else if (value->text == "mutex")
                m.matching = mcast::UpstreamMatching::kMutex;
            else
                v.error(*value, "multicast.upstream-matching",
                        "\"" + value->text + "\" is not first|all|mutex");
        }
        unsigned mutex_ms = 500;
        v.number_into<unsigned>("multicast.upstream-mutex-timeout-ms", mutex_ms, 10, 60000, " (ms)");
        m.mutex_timeout = std::chrono::milliseconds(mutex_ms);
        mcast::read_filter_keys(v, m.policy);
        if (!m.enabled && m.policy != mcast::Policy{})
            v.global("multicast.allowed-group", "filter tables ignored: need multicast.enabled = true", true);
        mcast::read_interface_filter_keys(v, m.interface_filters);
        if (!m.enabled && !m.interface_filters.empty())
            v.global("multicast.interface-filter", "ignored: needs multicast.enabled = true", true);
        v.number_into<std::uint32_t>("multicast.table", m.table, 1, 0xefffffff);
        mcast::read_forwarding_key(v, m.forwarding);
        mcast::read_hold_keys(v, m.ebpf_limits);
        mcast::read_querier_keys(v, m.querier, mcast::FastLeaveKey::kAbsent);
        bool pbu_m = false;
        mcast::read_pbu_m_keys(v, pbu_m, c.code_points);
        if (pbu_m && !m.enabled)
            v.global("multicast.pbu-m", "needs multicast.enabled = true (the anchor forwards what a PBU-M asks for)", false);
        c.engine.pbu_m.enabled = pbu_m && m.enabled;
        c.engine.pbu_m.flag = c.code_points.multicast_subscription_flag;
        mcast::read_m_tunnel_keys(v, m.m_tunnel, m.enabled);
        if (m.m_tunnel.enabled())
            c.engine.reserved_gre_key = m.m_tunnel.key;
        for (const Value& value : v.all("multicast.m-tunnel-mag")) {
            const auto a = parse_address(value.text);
            if (!a || is_multicast(*a) || is_link_local(*a) || *a == Ipv6Address{}) {
                v.error(value, "multicast.m-tunnel-mag", "\"" + value.text + "\" is not a unicast IPv6 address");
                continue;
            }
            if (m.m_tunnel.mode != MulticastTunnelMode::kStatic)
                v.warning(value, "multicast.m-tunnel-mag", "ignored: needs multicast.m-tunnel = static");
            else if (std::find(m.m_tunnel_mags.begin(), m.m_tunnel_mags.end(), *a) != m.m_tunnel_mags.end())
                v.warning(value, "multicast.m-tunnel-mag", value.text + " is listed already");
            else
                m.m_tunnel_mags.push_back(*a);
        }
        if (m.m_tunnel.mode == MulticastTunnelMode::kStatic && m.m_tunnel_mags.empty())
            v.global("multicast.m-tunnel-mag",
                     "m-tunnel = static without any m-tunnel-mag: every M-Tunnel is made as with dynamic", true);
    }

    // [policy]
    if (auto p = v.path("policy.store")) {
        c.policy_file = *p;
        std::error_code ec;
        if (!std::filesystem::is_regular_file(*p, ec)) {
            v.error(*v.single("policy.store"), "policy.store", *p + ": no such file");
        }
    }
    v.boolean_into("policy.serve-unknown", c.engine.serve_unknown_mobile_nodes);
    if (const Value* value = v.single("policy.default-tunnel")) {
        if (!set_tunnel_policy(value->text, c.engine.default_policy)) {
            v.error(*value, "policy.default-tunnel",
                    "\"" + value->text + "\" is not one of ip6ip6|gre|gre-key");
        }
    }
    v.number_into<unsigned>("policy.default-prefix-count", c.engine.default_policy.prefix_count, 1,
                            64);
    if (c.policy_file.empty() && !c.engine.serve_unknown_mobile_nodes) {
        v.global("policy.store",
                 "no policy store and serve-unknown is false: every PBU will be rejected with 153",
                 true);
    }

    // [tunnel], [heartbeat]
    config::read_tunnel_section(v, c.tunnel_backend, c.tunnel);
    config::read_heartbeat_section(v, c.heartbeat, c.heartbeat_enabled);
    if (const auto f = v.choice("heartbeat.on-peer-failure", {"keep", "purge"})) {
        c.on_peer_failure = *f == 0 ? OnPeerFailure::kKeep : OnPeerFailure::kPurge;
    }

    // [control], [state]
    config::read_control_section(v, c.control_socket, c.control_mode);
    if (auto p = v.path("state.file"))
        c.state_file = *p;
    v.directory_usable("state.file", c.state_file);

    // [log]
    config::read_log_section(v, c.log_sink, c.log_level, c.debug);
}

}  // namespace

ConfigLoad load_config_text(const std::string& text, const std::string& file_name,
                            const std::vector<std::string>& args) {
    return config::load(config::read_input_text(text, file_name, args, kKeys), validate);
}

ConfigLoad load_config(const std::vector<std::string>& args) {
    ConfigLoad load = config::load(config::read_input(args, kDefaultConfigFile, kKeys), validate);
    if (load.action == Action::kCheck && !load.config.policy_file.empty() &&
        std::filesystem::is_regular_file(load.config.policy_file)) {
        auto policy = load_policy_file(load.config.policy_file, load.config.engine.default_policy);
        for (auto& p : policy.problems) load.problems.push_back(std::move(p));
    }
    return load;
}

std::string help_text() {
    return R"(NAME
    lmad - Proxy Mobile IPv6 Local Mobility Anchor (RFC 5213, RFC 5845, RFC 5847)

SYNOPSIS
    lmad [--config FILE] [--check] [--SECTION.KEY VALUE]...
    lmad --help | --version

DESCRIPTION
    lmad keeps the Binding Cache of a PMIPv6 domain: it answers Proxy Binding
    Updates from the configured MAGs on a raw Mobility Header socket, assigns
    home network prefixes from its pools or the policy store, creates one
    tunnel per MAG (ip6ip6 or GRE, kernel, ebpf or userspace backend), routes each
    mobile node's prefixes into it, and monitors MAGs with heartbeats. It runs
    in the foreground (use a service manager) and is controlled with pmipctl.

OPTIONS
    -c, --config FILE
        Configuration file (INI). Default: /etc/pmip/lmad.conf when it
        exists, else only built-in defaults and the command line.
    --check
        Validate the configuration and the policy store file, print every
        problem as "FILE:LINE: key: problem" and exit: 0 when valid
        (warnings allowed), 1 otherwise.
    -h, --help
        This text.
    -V, --version
        Print the version and exit.
    --SECTION.KEY VALUE
        Any configuration key below, overriding the file (a repeatable key
        given on the command line replaces all of the file's values).

CONFIGURATION KEYS (section.key = default)
    lma.address = (required, repeatable)
        An LMA address (LMAA) that MAGs send PBUs to; PBAs are sent from the
        address the PBU was sent to. Packets to any other address are dropped.
    pools.pool = (repeatable) "PREFIX/LEN DELEGATED-LEN", e.g. "2001:db8:8000::/33 64"
        Home network prefixes handed out to new sessions. Pools must not
        overlap. DELEGATED-LEN defaults to 64.
    binding.max-lifetime = 3600
        Longest binding lifetime granted, in seconds (4..262140).
    binding.ordering = timestamp
        timestamp: the Timestamp option orders PBUs when present, otherwise
        the sequence number (RFC 5213 section 5.5); sequence: the domain uses
        sequence numbers only and a received Timestamp option is ignored.
    binding.timestamp-validity-window-ms = 300
        TimestampValidityWindow (1..60000).
    binding.mobile-node-generated-timestamps = false
        MobileNodeGeneratedTimestampInUse: skip the validity-window check.
    binding.min-delay-before-bce-delete-ms = 10000
        MinDelayBeforeBCEDelete after a de-registration (0..600000).
    binding.max-delay-before-new-bce-assign-ms = 1500
        MaxDelayBeforeNewBCEAssign for HI=4 (0..60000).
    binding.new-session-without-waiting = false
        For HI=4 create a new session at once instead of waiting.
    binding.mag-link-local = fe80::200:5eff:fe00:5213
        Link-local address returned when a PBU asks for one (RFC 6543).
    binding.expected-bindings = 0
        Size the Binding Cache indexes for this many bindings at start
        (0..16777216; 0 = grow as needed). Growing rehashes them: at a
        million bindings a PBU can wait tens of milliseconds once.
    binding.reserve-heap = true
        With expected-bindings > 0: touch 1 KiB of heap per expected
        binding at start (at most 1 GiB; a binding takes about 800 B) and
        keep it, so registrations do not page-fault while they grow the
        heap (one fault per new 4 KiB page, about 6 us each on a virtual
        machine). lmad's resident memory is that size from the start; show
        counters daemon.heap_in_use_bytes says how much of it is used.
    binding.max-queue-delay-ms = 500
        Overload: a PBU (or any Mobility Header message) that waited longer
        than this in the socket's queue is dropped unanswered, counted in
        show counters mh_socket.rx_shed_stale; the MAG retransmits it (RFC
        5213 section 6.9.4, 1 s first). The backlog drains at the cost of
        reading it, and what is answered is answered in time. What the
        kernel drops on a full queue (8 MiB) is counted as
        mh_socket.rx_queue_overflows. 0: nothing is dropped for its age.
    mags.authorized = (repeatable; none = every PBU rejected with 154)
        Addresses or prefixes of the MAGs allowed to send PBUs.
    mags.profile = (repeatable) "ADDRESS-OR-PREFIX rfc5213|oai"
        Peer profile; oai accepts the OpenAirInterface/UMIP pmip6d quirks
        (lenient parsing) and answers in the byte order those MAGs use.
        Default rfc5213 (strict).
    mags.oai-identity = mac
        How the mobile nodes of oai MAGs are identified. OAI pmip6d sends
        every MN with the same all-zero NAI and names it only by its
        MN-LL-ID (the modified EUI-64 of its MAC); UMIP sends the NAI
        00 00 + MAC. mac: such an MN is the policy store entry
        {"id": "00:11:22:33:44:55", "subtype": 5} (its MAC); as-sent: the
        NAI as sent (id_hex entries; all OAI MNs then share one identity).
)" + auth::auth_keys_help("mags", "MAGs", "lmad") + R"(    revocation.initial-timeout-ms = 1000
        InitMINDelayBRIs: first wait for a Binding Revocation
        Acknowledgement (500..60000; RFC 5846 section 11).
    revocation.max-timeout-ms = 2000
        MAX_BRACK_TIMEOUT: the doubling wait stops growing here.
    revocation.max-retries = 1
        BRIMaxRetriesNumber: retransmissions of an unanswered BRI (0..10);
        after the last one the revoked bindings are deleted anyway.
    sial.enabled = true
        Multicast context transfer (RFC 7161, SIAL): a MAG's de-registration
        with the S flag leaves the MN's multicast subscriptions (option 57)
        with its binding and the next MAG's registration with S set gets
        them in its PBA; when the new MAG registers first, the previous MAG
        is asked with a Subscription Query and the new MAG's own query is
        answered when its answer comes. MAGs that do not set S see no
        difference. false: S is never set in PBAs and Subscription Queries
        and Responses are answered as an unrecognized type.
    sial.pba-timer-ms = 0
        RFC 7161 "PBA timer": how long a reactive handover's PBA waits for
        the previous MAG's answer so the context can ride in it (0..1000;
        0, as the RFC recommends, sends the PBA at once and the new MAG
        queries).
    sial.query-timeout-ms = 500
        Wait for the previous MAG's Subscription Response (50..10000).
    sial.query-retries = 1
        Retransmissions of an unanswered Subscription Query (0..10); after
        the last one the handover goes on without a context.
    dmm.cmd = off
        off | relay | proxy. RFC 8885 distributed mobility management:
        lmad is also the Central Mobility Database for MAARs (magd with
        mag.mode = maar): their PBUs (D flag) keep each MN's serving MAAR
        and the list of previous MAARs still anchoring a prefix of it;
        relay forwards a new serving MAAR's registration to the previous
        ones (PBU with the Serving MAAR option) and answers it with their
        prefixes (Previous MAAR options) once they answered (section 3.2);
        proxy answers at once and tells them after (section 3.4). PBUs
        without D still go to the LMA: MAGs and MAARs can share one lmad.
        With off, a PBU with D is refused (status 128, RFC 8885 section 4.1).
        The MAARs are authorized by mags.authorized, the MNs by the policy
        store.
    dmm.aggregation-timeout-ms = 500
        relay: the longest a new serving MAAR's PBA waits for the previous
        MAARs (0..10000); later answers follow in PBAs of their own.
    dmm.pacing-ms = 1
        Between the PBUs to the previous MAARs of one MN (0..100; RFC 8885
        section 3.2 asks for pacing).
    dmm.max-retransmissions = 3
        Of a PBU to a previous MAAR that does not answer (1 s, doubling);
        after them it leaves the MN's list (0..10).
    multicast.enabled = false
        Anchor multicast for the MNs (RFC 6224 section 4.3): one MLD proxy
        instance with upstream [multicast] upstream and every MAG tunnel as a
        downstream with an MLD querier (added with the tunnel's first binding,
        removed with its last).
    multicast.upstream = (required when enabled)
        The interface towards the multicast sources / the fixed network.
    multicast.upstream-channel = (repeatable) "IFNAME GROUP-PREFIX [SOURCE-PREFIX]"
        Several upstreams (Mcproxy's rule matching): channels joined on
        IFNAME instead of multicast.upstream, and whose data is taken from
        there only. Without a source prefix an any-source (*, G) join of a
        group in the prefix; with one, (S, G) for its sources (an any-source
        join of the group then goes elsewhere). Lines naming the same IFNAME
        add to its channels; the interfaces are tried in the order they first
        appear, multicast.upstream last, taking every channel. Data from a
        MAG's tunnel goes to the upstream(s) matching its (S, G).
)" + mcast::filter_keys_help() + R"(    multicast.upstream-matching = first
        first: a channel is joined on the first upstream that takes it; all:
        on every upstream that takes it (for sources that differ by
        upstream). A source's data is forwarded from one upstream only: the
        one that serves it, or with all, among those that take it, the one
        whose packet came first; copies arriving on another are dropped.
        mutex (Mcproxy's): joined as with all, but a source's data stays
        with the upstream it comes from until that one brings nothing for
        upstream-mutex-timeout-ms; then the next upstream that delivers it
        takes it (counter mutex_releases). A MAG's data goes to the first
        matching upstream, as with first.
    multicast.upstream-mutex-timeout-ms = 500
        The mutex matching's timeout (10..60000).
    multicast.forwarding = auto
        How multicast data is replicated: ebpf (tc programs on the upstream
        and the tunnels; no kernel multicast routing needed, up to 8191
        tunnels), kernel (the kernel's IPv6 multicast routing, ip6mr: at most
        31 MAG tunnels, its 32 MIFs per table) or auto (ebpf when its program
        loads, else kernel). The choice is logged at start; --check names it.
)" + mcast::hold_keys_help() + R"(    multicast.table = 1999
        The instance's number: its MRT6 table (kernel) or its tc filter
        handle (ebpf).
    multicast.robustness = 2
        Robustness Variable of the queriers on the tunnels (RFC 3810 9.1).
    multicast.query-interval-s = 125
        Query Interval (RFC 3810 9.2).
    multicast.query-response-interval-ms = 1000
        Query Response Interval; one MAG proxy answers on each tunnel.
    multicast.last-listener-query-interval-ms = 1000
        Last Listener Query Interval (RFC 3810 9.8).
)" + mcast::pbu_m_keys_help(R"(a MAG's registration PBU with
        the flag asks, in its multicast subscription options, for channels it
        does not receive yet; lmad forwards them on that MAG's tunnel before
        sending the PBA, as if the MAG had reported them (its reports must
        confirm them, RFC 3810 timers), and lists in the PBA the records it
        took: Current-State records (IS_IN with sources, IS_EX) of groups
        wider than link scope, no (*, G) in the SSM range, at most 64 per PBU
        (show counters: pbu_m). With a dynamic M-Tunnel not yet made (the
        MAG's first session) they are set up on it once it is, just after
        the PBA. Off: the flag and the option are ignored, as a standard LMA
        does.)") +
           mcast::m_tunnel_keys_help(R"(MAG: the M-Tunnel to a MAG, not its
        unicast tunnels, is the querier's and the anchor's downstream for that
        MAG (SIAL contexts and PBU-M channels are set up on it). static: the
        M-Tunnels to the m-tunnel-mag addresses are made at start, from the
        first [lma] address; other MAGs get theirs as with dynamic.)") +
           R"(    multicast.m-tunnel-mag = (repeatable) ADDRESS
        A MAG (its Proxy-CoA) with a static M-Tunnel (m-tunnel = static).
    policy.store = (none)
        JSON policy store file (mobile nodes, prefixes, tunnel kinds, and
        the MN's multicast profile where the LMA decides it:
        "multicast_channels": [{"group": G, "sources": [S...]}], named in
        the PBA of every PBU-M from its MAG, and "multicast_policy":
        allowed_groups, denied_groups, allowed_sources, denied_sources,
        max_groups, what a PBU-M may ask for it); reloaded on SIGHUP and
        "pmipctl reload": an MN whose multicast profile changed is
        re-registered by its MAG (RFC 7077 Update Notification,
        FORCE-REREGISTRATION) and gets the new channels from that PBA.
    policy.serve-unknown = false
        Serve mobile nodes absent from the store with the default policy
        (else PBA status 153).
    policy.default-tunnel = ip6ip6
        Tunnel kind of the default policy: ip6ip6 | gre | gre-key. A PBU
        without the GRE Key option where the policy needs GRE is refused
        with 163 (RFC 5845), a live session's renewal too; a reload that
        changes an MN's tunnel kind moves its session onto a tunnel of the
        new kind at its next PBU that asks for it (show counters:
        sessions_reencapsulated).
    policy.default-prefix-count = 1
        Prefixes from the pools per new session under the default policy.
    tunnel.backend = auto
        auto | kernel (ip6tnl/ip6gre devices) | ebpf (TUN devices whose
        packets tc/eBPF programs encapsulate and decapsulate in the kernel;
        the userspace data plane takes what they leave) | userspace (TUN
        devices); auto takes the first that works here in that order and
        warns once for each it passes over, naming why.
    tunnel.path-mtu = 1500
        Path MTU towards the MAGs; tunnel MTU = path MTU - encapsulation.
    tunnel.hop-limit = 64
        Hop limit of the outer header (RFC 2473 section 6.3).
    tunnel.device-prefix = pm
        Tunnel devices are named PREFIX6-xxxxxxxx / PREFIXg-xxxxxxxx; devices
        with this prefix left by a crashed run are removed at start.
    tunnel.delete-delay-ms = 0
        Keep an unused tunnel this long before deleting it.
    heartbeat.interval-s = 60
        HEARTBEAT_INTERVAL towards MAGs with bindings; 0 disables heartbeats
        (requests from MAGs are still answered).
    heartbeat.missing-allowed = 3
        MISSING_HEARTBEATS_ALLOWED before a MAG is declared unreachable.
    heartbeat.on-peer-failure = keep
        keep: bindings of an unreachable MAG stay until their lifetime ends;
        purge: they are deleted at once.
    control.socket = /run/pmip/lmad.sock
        pmipctl control socket (UNIX, JSON lines).
    control.mode = 0660
        File mode of the control socket.
    state.file = /var/lib/pmip/lmad.state
        Restart Counter (RFC 5847) and the MAGs that had bindings, kept
        across restarts; created when absent, written atomically.
    log.sink = stderr
        stderr | syslog (facility daemon).
    log.level = info
        debug | info | warning | error.
    log.debug = (none; repeatable, space separated)
        Debug categories: mh bce bul tunnel route mld netlink ctl, or all.
        Switchable at run time: pmipctl debug CATEGORY on|off.

FILES
    /etc/pmip/lmad.conf        configuration (see conf/lmad.conf)
    /run/pmip/lmad.sock        control socket
    /var/lib/pmip/lmad.state   restart counter and peers (JSON)

SIGNALS
    SIGTERM, SIGINT   delete every binding, route and tunnel, then exit 0.
    SIGHUP            reload the policy store (lifetimes and timers stay as
                      loaded) and [mags] auth; the log says what changed.

EXIT STATUS
    0   normal shutdown, or --check found no errors
    1   configuration errors, or start-up failed (socket, netlink, tunnels)
    2   usage error on the command line

EXAMPLES
    lmad --config /etc/pmip/lmad.conf --check
    lmad -c /etc/pmip/lmad.conf --log.level debug --log.debug "mh bce"
    lmad -c lmad.conf --tunnel.backend userspace --control.socket /tmp/lmad.sock
    pmipctl --socket /tmp/lmad.sock show bindings
)";
}

}  // namespace pmip::lma
