// magd configuration: file + command line -> MagdConfig, with located problems.
#include "config.hpp"

#include <fnmatch.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <optional>

#include "pmip/common/auth_config_keys.hpp"
#include "pmip/common/daemon_config.hpp"
#include "pmip/mcast/querier_config_keys.hpp"
#include "policy_file.hpp"

namespace pmip::mag {

using config::KeySpec;
using config::split_words;
using config::Validator;
using config::Value;

std::string_view to_string(PeerProfile profile) {
    return profile == PeerProfile::kOai ? "oai" : "rfc5213";
}

PeerProfile profile_of(const std::vector<LmaProfileRule>& rules, const Ipv6Address& lma) {
    const LmaProfileRule* best = nullptr;
    for (const auto& rule : rules) {
        if (contains(rule.lmas, lma) && (!best || rule.lmas.length > best->lmas.length))
            best = &rule;
    }
    return best ? best->profile : PeerProfile::kRfc5213;
}

namespace {

constexpr KeySpec kKeys[] = {
    {"mag.address", false},
    {"mag.mode", false},
    {"maar.cmd", false},
    {"maar.pool", false},
    {"maar.lifetime-s", false},
    {"maar.previous-prefix-hold-s", false},
    {"maar.previous-prefix-idle-s", false},
    {"mag.access-technology", false},
    {"access.interface", true},
    {"access.detect", false},
    {"access.router-link-local", false},
    {"access.router-mac", false},
    {"access.set-router-mac", false},
    {"ra.max-interval-s", false},
    {"ra.min-interval-s", false},
    {"ra.router-lifetime-s", false},
    {"ra.mtu", false},
    {"ra.initial-count", false},
    {"ra.initial-interval-s", false},
    {"binding.ordering", false},
    {"binding.initial-bindack-timeout-ms", false},
    {"binding.max-bindack-timeout-s", false},
    {"binding.renewal-percent", false},
    {"binding.max-update-rate", false},
    {"binding.handoff-indicator", false},
    {"binding.lma-table-base", false},
    {"binding.rule-priority", false},
    {"binding.uplink-routing", false},
    {"multicast.enabled", false},
    {"multicast.table-base", false},
    {"multicast.forwarding", false},
    {"multicast.hold-packets", false},
    {"multicast.hold-ms", false},
    {"multicast.robustness", false},
    {"multicast.query-interval-s", false},
    {"multicast.query-response-interval-ms", false},
    {"multicast.last-listener-query-interval-ms", false},
    {"multicast.fast-leave", false},
    {"multicast.context-transfer", false},
    {"multicast.context-peer", true},
    {"multicast.pbu-m", false},
    {"multicast.pbu-m-flag", false},
    {"multicast.pbu-m-option", false},
    {"multicast.m-tunnel", false},
    {"multicast.m-tunnel-key", false},
    {"multicast.mode", false},
    {"multicast.lma-mode", true},
    {"multicast.direct-upstream", false},
    {"multicast.direct-channel", true},
    {"multicast.peering", true},
    {"multicast.peering-data-timeout-ms", false},
    {"multicast.allowed-group", true},
    {"multicast.denied-group", true},
    {"multicast.allowed-source", true},
    {"multicast.denied-source", true},
    {"multicast.interface-filter", true},
    {"lmas.profile", true},
    {"lmas.auth", true},
    {"lmas.auth-replay-window-ms", false},
    {"policy.store", false},
    {"tunnel.backend", false},
    {"tunnel.path-mtu", false},
    {"tunnel.hop-limit", false},
    {"tunnel.device-prefix", false},
    {"tunnel.delete-delay-ms", false},
    {"tunnel.prepare", false},
    {"heartbeat.interval-s", false},
    {"heartbeat.missing-allowed", false},
    {"control.socket", false},
    {"control.mode", false},
    {"log.sink", false},
    {"log.level", false},
    {"log.debug", true},
};

std::optional<MacAddress> parse_mac(const std::string& text) {
    MacAddress mac{};
    unsigned values[6];
    char tail;
    if (std::sscanf(text.c_str(), "%2x:%2x:%2x:%2x:%2x:%2x%c", &values[0], &values[1], &values[2],
                    &values[3], &values[4], &values[5], &tail) != 6 ||
        text.size() != 17) {
        return std::nullopt;
    }
    for (int i = 0; i < 6; ++i) mac[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(values[i]);
    return mac;
}

bool bad_mag_address(const Ipv6Address& a, std::string& why) {
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

// [multicast] mode, direct-upstream, direct-channel (proxy-direct).
void read_direct_keys(Validator& v, McastConfig& m) {
    bool direct = false;
    const Value* mode = v.single("multicast.mode");
    if (mode) {
        if (mode->text == "proxy-direct")
            direct = m.direct = true;
        else if (mode->text == "listener")
            m.listener = true;
        else if (mode->text != "proxy")
            v.error(*mode, "multicast.mode",
                    "\"" + mode->text + "\" is not proxy|proxy-direct|listener");
    }
    // Per LMA: "LMA-ADDRESS MODE".
    for (const Value& value : v.all("multicast.lma-mode")) {
        const auto words = split_words(value.text);
        const auto lma = words.size() == 2 ? parse_address(words[0]) : std::nullopt;
        if (!lma || is_multicast(*lma) || *lma == Ipv6Address{}) {
            v.error(value, "multicast.lma-mode", "expected \"LMA-ADDRESS proxy|proxy-direct|listener\"");
            continue;
        }
        McastConfig::Mode mm;
        if (words[1] == "proxy")
            mm = McastConfig::Mode::kProxy;
        else if (words[1] == "proxy-direct")
            mm = McastConfig::Mode::kProxyDirect;
        else if (words[1] == "listener")
            mm = McastConfig::Mode::kListener;
        else {
            v.error(value, "multicast.lma-mode", "\"" + words[1] + "\" is not proxy|proxy-direct|listener");
            continue;
        }
        if (!m.lma_modes.emplace(*lma, mm).second) {
            v.error(value, "multicast.lma-mode", words[0] + " is given twice");
            continue;
        }
        direct = direct || mm == McastConfig::Mode::kProxyDirect;
    }
    if (!m.lma_modes.empty() && !m.enabled)
        v.global("multicast.lma-mode", "ignored: needs multicast.enabled = true", true);
    std::string upstream;
    if (const Value* u = v.single("multicast.direct-upstream")) {
        if (u->text.empty() || u->text.size() >= 16 || u->text.find_first_of(" /") != std::string::npos)
            v.error(*u, "multicast.direct-upstream", "\"" + u->text + "\" is not an interface name");
        else
            upstream = u->text;
        if (!direct)
            v.warning(*u, "multicast.direct-upstream",
                      "ignored: needs multicast.mode (or an lma-mode) = proxy-direct");
    }
    std::vector<mcast::SourceGroupRule> channels;
    for (const Value& value : v.all("multicast.direct-channel")) {
        if (auto rule = mcast::read_channel_rule(v, value, "multicast.direct-channel",
                                                 split_words(value.text)))
            channels.push_back(*rule);
        if (!direct)
            v.warning(value, "multicast.direct-channel",
                      "ignored: needs multicast.mode (or an lma-mode) = proxy-direct");
    }
    if (m.listener && !m.enabled)
        v.global("multicast.mode", "listener needs multicast.enabled = true", false);
    if (!direct || !m.enabled) {
        if (direct)
            v.global("multicast.mode", "proxy-direct needs multicast.enabled = true", false);
        return;
    }
    if (upstream.empty())
        v.global("multicast.direct-upstream", "proxy-direct (multicast.mode or lma-mode) needs a direct-upstream",
                 false);
    if (channels.empty())
        v.global("multicast.direct-channel",
                 "proxy-direct (multicast.mode or lma-mode) needs at least one direct-channel", false);
    m.direct_upstream = upstream;
    m.direct_channels = std::move(channels);
}

// [multicast] peering, peering-data-timeout-ms (RFC 7287 section 5).
void read_peering_keys(Validator& v, McastConfig& m) {
    for (const Value& value : v.all("multicast.peering")) {
        const std::vector<std::string> words = split_words(value.text);
        if (words.empty() || words.size() > 2 || words[0].size() >= 16 ||
            words[0].find('/') != std::string::npos) {
            v.error(value, "multicast.peering", "\"" + value.text + "\" is not \"IFNAME [WAIT-MS]\"");
            continue;
        }
        mcast::PeeringConfig peering;
        peering.name = words[0];
        if (words.size() == 2) {
            Value wait = value;
            wait.text = words[1];
            const auto ms = v.number<unsigned>(wait, "multicast.peering", 0, 1000, " (ms)");
            if (!ms)
                continue;
            peering.report_wait = std::chrono::milliseconds(*ms);
        }
        if (!m.direct_upstream.empty() && peering.name == m.direct_upstream) {
            v.error(value, "multicast.peering", peering.name + " is the direct-upstream");
            continue;
        }
        if (std::any_of(m.peerings.begin(), m.peerings.end(),
                        [&](const auto& p) { return p.name == peering.name; })) {
            v.error(value, "multicast.peering", peering.name + " is listed twice");
            continue;
        }
        if (m.listener)
            v.warning(value, "multicast.peering",
                      "with mode = listener only the MNs' profiles are asked over it");
        m.peerings.push_back(std::move(peering));
    }
    unsigned timeout_ms = 50;
    v.number_into<unsigned>("multicast.peering-data-timeout-ms", timeout_ms, 1, 10000, " (ms)");
    m.peering_data_timeout = std::chrono::milliseconds(timeout_ms);
    if (m.peerings.empty() && !v.all("multicast.peering-data-timeout-ms").empty())
        v.global("multicast.peering-data-timeout-ms", "ignored: no multicast.peering", true);
    if (!m.peerings.empty() && !m.enabled)
        v.global("multicast.peering", "needs multicast.enabled = true", false);
}

void validate(Validator& v, MagdConfig& c) {
    // [mag]
    if (const Value* value = v.single("mag.address")) {
        const auto a = parse_address(value->text);
        std::string why;
        if (!a) {
            v.error(*value, "mag.address", "\"" + value->text + "\" is not an IPv6 address");
        } else if (bad_mag_address(*a, why)) {
            v.error(*value, "mag.address", value->text + " is " + why);
        } else {
            c.engine.proxy_coa = *a;
        }
    } else {
        v.global("mag.address",
                 "no Proxy Care-of Address configured (set [mag] address: the MAG's global "
                 "address towards the LMAs)",
                 false);
    }
    unsigned att = c.engine.access_technology_type;
    v.number_into<unsigned>("mag.access-technology", att, 1, 255);
    c.engine.access_technology_type = static_cast<std::uint8_t>(att);

    // [mag] mode, [maar]: RFC 8885 distributed mobility management.
    if (const Value* value = v.single("mag.mode")) {
        if (value->text == "maar")
            c.maar = MaarConfig{};
        else if (value->text != "mag")
            v.error(*value, "mag.mode", "\"" + value->text + "\" is not mag|maar");
    }
    if (c.maar) {
        MaarConfig& m = *c.maar;
        m.address = c.engine.proxy_coa;
        m.access_technology_type = c.engine.access_technology_type;
        if (const Value* value = v.single("maar.cmd")) {
            const auto a = parse_address(value->text);
            if (!a || is_multicast(*a) || *a == Ipv6Address{})
                v.error(*value, "maar.cmd", "\"" + value->text + "\" is not a unicast IPv6 address");
            else
                m.cmd = *a;
        } else {
            v.global("maar.cmd", "mag.mode = maar needs the CMD's address ([maar] cmd)", false);
        }
        if (const Value* value = v.single("maar.pool")) {
            const auto words = split_words(value->text);
            const auto p = words.empty() ? std::nullopt : parse_prefix(words[0]);
            unsigned length = 64;
            bool ok = p && !is_multicast(p->address) && canonical(*p) == *p && words.size() <= 2;
            if (ok && words.size() == 2) {
                try {
                    length = static_cast<unsigned>(std::stoul(words[1]));
                } catch (...) {
                    ok = false;
                }
            }
            if (!ok || length < p->length || length > 128 || length - p->length > 32)
                v.error(*value, "maar.pool",
                        "\"" + value->text + "\" is not \"PREFIX [LENGTH]\" (a unicast prefix with no bits past "
                        "its length, LENGTH from it to 32 bits longer, default 64)");
            else {
                m.pool = *p;
                m.pool_length = length;
            }
        } else {
            v.global("maar.pool", "mag.mode = maar needs the MAAR's own prefixes ([maar] pool)", false);
        }
        unsigned lifetime_s = 3600, hold_s = 600, idle_s = 60;
        v.number_into<unsigned>("maar.lifetime-s", lifetime_s, 4, 262140, " s");
        v.number_into<unsigned>("maar.previous-prefix-hold-s", hold_s, 1, 86400, " s");
        v.number_into<unsigned>("maar.previous-prefix-idle-s", idle_s, 0, 86400, " s");
        m.lifetime = static_cast<std::uint16_t>(lifetime_s / 4);
        m.previous_prefix_hold = std::chrono::seconds(hold_s);
        m.previous_prefix_idle = std::chrono::seconds(idle_s);
        if (const Value* value = v.single("multicast.enabled"); value && value->text == "true")
            v.error(*value, "multicast.enabled", "the multicast proxy does not run on a MAAR (mag.mode = maar)");
    }

    // [access]
    for (const Value& value : v.all("access.interface")) {
        for (const auto& word : split_words(value.text)) {
            if (word.size() > 15 && word.find_first_of("*?[") == std::string::npos) {
                v.error(value, "access.interface",
                        "\"" + word + "\" is longer than a device name can be (15)");
                continue;
            }
            c.access.patterns.push_back(word);
        }
    }
    if (c.access.patterns.empty()) {
        v.global("access.interface",
                 "no access interface configured (set [access] interface, e.g. \"mn*\"): only "
                 "\"pmipctl attach\" can attach mobile nodes, and only on devices it names",
                 true);
    }
    if (const Value* value = v.single("access.detect")) {
        c.access.detect_link = false;
        c.access.detect_rs = false;
        for (const auto& word : split_words(value->text)) {
            if (word == "link") {
                c.access.detect_link = true;
            } else if (word == "rs") {
                c.access.detect_rs = true;
            } else if (word == "none") {
                // explicit attach only
            } else {
                v.error(*value, "access.detect",
                        "\"" + word + "\" is not a detection method (link, rs, none)");
            }
        }
    }
    c.access.router_link_local = *parse_address("fe80::200:5eff:fe00:5213");
    if (const Value* value = v.single("access.router-link-local")) {
        const auto a = parse_address(value->text);
        if (!a || !is_link_local(*a)) {
            v.error(*value, "access.router-link-local",
                    "\"" + value->text + "\" is not a link-local IPv6 address");
        } else {
            c.access.router_link_local = *a;
        }
    }
    if (const Value* value = v.single("access.router-mac")) {
        if (const auto mac = parse_mac(value->text)) {
            if ((*mac)[0] & 1) {
                v.error(*value, "access.router-mac", value->text + " is a multicast address");
            } else {
                c.access.router_mac = *mac;
            }
        } else {
            v.error(*value, "access.router-mac",
                    "\"" + value->text + "\" is not a MAC address (xx:xx:xx:xx:xx:xx)");
        }
    }
    v.boolean_into("access.set-router-mac", c.access.set_router_mac);

    // [ra]
    unsigned max_s = 600, min_s = 0, initial_s = 16, life = 0;
    v.number_into<unsigned>("ra.max-interval-s", max_s, 4, 1800, " seconds");
    min_s = std::max(3u, max_s / 3);
    v.number_into<unsigned>("ra.min-interval-s", min_s, 3, 1350, " seconds");
    if (min_s > max_s * 3 / 4) {
        if (const Value* value = v.single("ra.min-interval-s")) {
            v.error(*value, "ra.min-interval-s",
                    "must be at most 0.75 x ra.max-interval-s (" + std::to_string(max_s * 3 / 4) +
                        ") [RFC 4861 section 6.2.1]");
        } else {
            min_s = std::max(3u, max_s * 3 / 4);
        }
    }
    c.ra.timing.max_interval = std::chrono::seconds(max_s);
    c.ra.timing.min_interval = std::chrono::seconds(min_s);
    life = 3 * max_s;
    v.number_into<unsigned>("ra.router-lifetime-s", life, 0, 9000, " seconds");
    c.ra.router_lifetime = static_cast<std::uint16_t>(life);
    v.number_into<unsigned>("ra.mtu", c.ra.mtu, 0, 65535);
    if (c.ra.mtu != 0 && c.ra.mtu < 1280) {
        v.error(*v.single("ra.mtu"), "ra.mtu", "below the IPv6 minimum link MTU 1280 (0 = automatic)");
    }
    v.number_into<unsigned>("ra.initial-count", c.ra.timing.max_initial_advertisements, 0, 10);
    v.number_into<unsigned>("ra.initial-interval-s", initial_s, 1, 16, " seconds");
    c.ra.timing.max_initial_interval = std::chrono::seconds(initial_s);

    // [binding]
    if (const auto o = v.choice("binding.ordering", {"timestamp", "sequence"})) {
        c.engine.timestamps = *o == 0;
    }
    unsigned ms = 1000, s = 32, pct = 80;
    v.number_into<unsigned>("binding.initial-bindack-timeout-ms", ms, 100, 10000, " ms");
    v.number_into<unsigned>("binding.max-bindack-timeout-s", s, 1, 3600, " seconds");
    c.engine.initial_bindack_timeout = std::chrono::milliseconds(ms);
    c.engine.max_bindack_timeout = std::chrono::seconds(s);
    if (c.engine.max_bindack_timeout < c.engine.initial_bindack_timeout) {
        v.global("binding.max-bindack-timeout-s",
                 "shorter than binding.initial-bindack-timeout-ms", false);
    }
    v.number_into<unsigned>("binding.renewal-percent", pct, 10, 95, " percent");
    c.engine.renewal_fraction = pct / 100.0;
    v.number_into<unsigned>("binding.max-update-rate", c.engine.max_update_rate, 1, 100,
                            " per second");
    if (const auto o = v.choice("binding.handoff-indicator",
                                {"unknown", "new-interface", "same-interface"})) {
        constexpr std::uint8_t kValues[] = {mh::handoff_indicator::kUnknown,
                                            mh::handoff_indicator::kNewInterface,
                                            mh::handoff_indicator::kHandoffBetweenMags};
        c.engine.attach_handoff_indicator = kValues[*o];
    }
    // base - 1 is the access table: 0 (unspecified) and 252-255 (the
    // kernel's reserved tables) are neither it nor the first uplink table.
    v.number_into<std::uint32_t>("binding.lma-table-base", c.engine.lma_table_base, 2, 0xefffffff);
    if (c.engine.lma_table_base >= 252 && c.engine.lma_table_base <= 256) {
        v.error(*v.single("binding.lma-table-base"), "binding.lma-table-base",
                "252-255 are the kernel's reserved tables (base - 1 is the access table, so 252-256 are refused)");
    }
    // rule-priority - 1 (tunnels) and + 1 (access links) are ours too, below the main table's 32766.
    v.number_into<std::uint32_t>("binding.rule-priority", c.engine.rule_priority, 2, 32764);
    if (const auto o = v.choice("binding.uplink-routing", {"auto", "source-routes", "rules"})) {
        if (*o == 1)
            c.uplink_routing = MagConfig::UplinkRouting::kSourceRoutes;
        else if (*o == 2)
            c.uplink_routing = MagConfig::UplinkRouting::kRules;
    }

    // [multicast]
    {
        McastConfig& m = c.multicast;
        v.boolean_into("multicast.enabled", m.enabled);
        v.number_into<std::uint32_t>("multicast.table-base", m.table_base, 1, 0xefffffff);
        mcast::read_forwarding_key(v, m.forwarding);
        mcast::read_hold_keys(v, m.ebpf_limits);
        mcast::read_querier_keys(v, m.querier, mcast::FastLeaveKey::kPresent);
        if (const Value* t = v.single("multicast.context-transfer")) {
            if (t->text == "sial" || t->text == "off")
                m.context_transfer = t->text == "sial";
            else
                v.error(*t, "multicast.context-transfer", "\"" + t->text + "\" is not sial|off");
        }
        c.engine.multicast_context_transfer = m.enabled && m.context_transfer;
        for (const Value& value : v.all("multicast.context-peer")) {
            const auto a = parse_address(value.text);
            if (!a || is_multicast(*a) || is_link_local(*a) || *a == Ipv6Address{}) {
                v.error(value, "multicast.context-peer", "\"" + value.text + "\" is not a unicast IPv6 address");
                continue;
            }
            const auto& peers = c.engine.context_peers;
            if (!c.engine.multicast_context_transfer)
                v.warning(value, "multicast.context-peer",
                          "ignored: needs multicast.enabled = true and multicast.context-transfer = sial");
            else if (std::find(peers.begin(), peers.end(), *a) != peers.end())
                v.warning(value, "multicast.context-peer", value.text + " is listed already");
            else
                c.engine.context_peers.push_back(*a);
        }
        bool pbu_m = false;
        mcast::read_pbu_m_keys(v, pbu_m, m.code_points);
        if (pbu_m && !m.enabled)
            v.global("multicast.pbu-m", "needs multicast.enabled = true", false);
        c.engine.pbu_m = pbu_m && m.enabled;
        c.engine.pbu_m_flag = m.code_points.multicast_subscription_flag;
        mcast::read_m_tunnel_keys(v, m.m_tunnel, m.enabled);
        if (m.m_tunnel.enabled())
            c.engine.reserved_gre_key = m.m_tunnel.key;
        read_direct_keys(v, m);
        read_peering_keys(v, m);
        mcast::read_filter_keys(v, m.policy);
        mcast::read_interface_filter_keys(v, m.interface_filters);
        if (!m.enabled && !m.interface_filters.empty())
            v.global("multicast.interface-filter", "ignored: needs multicast.enabled = true", true);
        if (!m.enabled && m.policy != mcast::Policy{})
            v.global("multicast.allowed-group", "filter tables ignored: need multicast.enabled = true", true);
    }

    // [lmas]
    for (const Value& value : v.all("lmas.profile")) {
        const auto words = split_words(value.text);
        if (words.size() != 2) {
            v.error(value, "lmas.profile", "expected \"ADDRESS-OR-PREFIX rfc5213|oai\"");
            continue;
        }
        const auto p = parse_prefix(words[0]);
        if (!p || canonical(*p) != *p) {
            v.error(value, "lmas.profile", "\"" + words[0] + "\" is not an IPv6 address or prefix");
            continue;
        }
        if (words[1] != "rfc5213" && words[1] != "oai") {
            v.error(value, "lmas.profile", "\"" + words[1] + "\" is not a profile (rfc5213|oai)");
            continue;
        }
        c.profiles.push_back({*p, words[1] == "oai" ? PeerProfile::kOai : PeerProfile::kRfc5213});
    }
    c.auth = auth::read_auth_keys(v, "lmas", [&](const auth::PeerSecurity& p) {
        const bool oai = p.mode != auth::Mode::kOff &&
                         profile_of(c.profiles, p.peers.address) == PeerProfile::kOai;
        return std::string(oai ? "OAI/UMIP pmip6d LMAs (profile oai) do not authenticate their messages"
                               : "");
    });

    // [policy]
    if (auto p = v.path("policy.store")) {
        c.policy_file = *p;
        std::error_code ec;
        if (!std::filesystem::is_regular_file(*p, ec))
            v.error(*v.single("policy.store"), "policy.store", *p + ": no such file");
    } else {
        v.global("policy.store", "no policy store: no mobile node can be served (set [policy] store)",
                 false);
    }

    // [tunnel], [heartbeat], [control], [log]
    c.tunnel.name_prefix = "mg";
    // A MAAR keeps a released tunnel 1 s by default: a move's PBA often
    // names a prefix of the MAAR whose tunnel was just released, and taking
    // the device again costs nothing while making it anew waits for the
    // kernel to unregister the old one (30 ms measured, bench_dmm.sh).
    if (c.maar) c.tunnel.delete_delay = std::chrono::seconds(1);
    config::read_tunnel_section(v, c.tunnel_backend, c.tunnel);
    v.boolean_into("tunnel.prepare", c.engine.prepare_tunnels);
    config::read_heartbeat_section(v, c.heartbeat, c.heartbeat_enabled);
    config::read_control_section(v, c.control_socket, c.control_mode);
    config::read_log_section(v, c.log_sink, c.log_level, c.debug);
}

}  // namespace

ConfigLoad load_config_text(const std::string& text, const std::string& file_name,
                            const std::vector<std::string>& args) {
    return config::load(config::read_input_text(text, file_name, args, kKeys), validate);
}

ConfigLoad load_config(const std::vector<std::string>& args) {
    ConfigLoad load = config::load(config::read_input(args, kDefaultConfigFile, kKeys), validate);
    std::error_code ec;
    if (load.action == Action::kCheck && !load.config.policy_file.empty() &&
        std::filesystem::is_regular_file(load.config.policy_file, ec)) {
        auto policy = load_policy_file(load.config.policy_file);
        for (auto& p : policy.problems) load.problems.push_back(std::move(p));
    }
    return load;
}

std::string help_text() {
    return R"(NAME
    magd - Proxy Mobile IPv6 Mobile Access Gateway (RFC 5213, RFC 5845, RFC 5846, RFC 5847)

SYNOPSIS
    magd [--config FILE] [--check] [--SECTION.KEY VALUE]...
    magd --help | --version

DESCRIPTION
    magd runs on an access router. Every mobile node has its own
    point-to-point access link (a veth, VLAN, PPP or TUN device whose name
    matches [access] interface). When an MN shows up on such a link -- the
    device comes up and the policy store names the MN by that interface, or a
    Router Solicitation arrives from a MAC the policy store knows, or an AP
    controller runs "pmipctl attach IFACE [MAC]" -- magd sends a Proxy Binding
    Update to the MN's LMA, retransmitted 1 s, 2 s, 4 s ... 32 s until a Proxy
    Binding Acknowledgement arrives. On acceptance it creates the tunnel to
    the LMA (ip6ip6 or GRE; kernel, ebpf or userspace backend), routes the MN's home
    network prefix on the access link, sends traffic sourced from it into the
    tunnel (a source rule and one routing table per LMA), and advertises the
    prefix in Router Advertisements from fe80::200:5eff:fe00:5213 /
    00:00:5e:00:52:13 (RFC 6543), the same on every MAG, so the MN keeps its
    address and default router when it moves. Bindings are renewed before
    they expire while the link is up. Link down, device deletion or
    "pmipctl detach" de-registers the MN (lifetime 0) and withdraws the prefix
    (zero lifetimes in a last RA). magd also answers and sends heartbeats
    (a changed LMA Restart Counter re-registers that LMA's MNs) and accepts
    Binding Revocation from the LMAs. It runs in the foreground (use a
    service manager) and is controlled with pmipctl.

    On access links magd sets the device's MAC to [access] router-mac (when
    set-router-mac is true), adds [access] router-link-local without DAD, and
    sets accept_ra=0; it sets net.ipv6.conf.all.forwarding=1. It restores the
    MAC and removes the address when the link stops being used and at exit.

OPTIONS
    -c, --config FILE
        Configuration file (INI). Default: /etc/pmip/magd.conf when it
        exists, else only built-in defaults and the command line.
    --check
        Validate the configuration and the policy store, print every problem
        as "FILE:LINE: key: problem" and exit: 0 when valid (warnings
        allowed), 1 otherwise.
    -h, --help
        This text.
    -V, --version
        Print the version and exit.
    --SECTION.KEY VALUE
        Any configuration key below, overriding the file.

CONFIGURATION KEYS (section.key = default)
    mag.address = (required)
        Proxy Care-of Address: the MAG's global address towards the LMAs
        (PBU source, tunnel endpoint).
    mag.access-technology = 3
        Access Technology Type option value (3 = IEEE 802.3).
    mag.mode = mag
        mag | maar. maar: an RFC 8885 Mobility Anchor and Access Router
        for distributed mobility management, with lmad as the CMD ([dmm]
        cmd there). An MN attaching here gets a prefix of maar.pool, routed
        here with no tunnel, registered with the CMD (PBU with the D flag);
        prefixes it keeps from previous MAARs reach it through tunnels to
        them and are advertised deprecated (preferred lifetime 0), so new
        flows use the local prefix and old ones go on. When the MN has
        moved on, the CMD makes this MAAR tunnel its prefix to the serving
        MAAR for maar.previous-prefix-hold-s; then it de-registers it. A
        detach does not de-register (section 3.5). The policy store names
        the MNs (its "lma" is not used). Not with the multicast proxy.
    maar.cmd = (required with mag.mode = maar)
        The CMD's address (lmad with [dmm] cmd).
    maar.pool = (required with mag.mode = maar) PREFIX [LENGTH]
        This MAAR's own prefixes, exclusive to it: one of LENGTH (default
        64) per MN, e.g. "2001:db8:a1::/48 64".
    maar.lifetime-s = 3600
        Lifetime asked from the CMD (renewed at 80 %).
    maar.previous-prefix-hold-s = 600
        How long a prefix stays reachable after its MN moved on (the
        previous MAAR's tunnel and the serving MAAR's deprecated prefix);
        set it alike on every MAAR of a domain.
    maar.previous-prefix-idle-s = 60
        When the hold ends and the tunnel to the other MAAR carried
        packets since the last look, the prefix stays this much longer,
        and so on while traffic flows (either end decides alike from its
        own tunnel counters; they count every MN between the two MAARs).
        The deprecated prefix is advertised valid for the rest of the hold
        plus this. 0: the hold is fixed, a longer flow is cut.
    access.interface = (repeatable, space separated)
        fnmatch(3) patterns of access device names, e.g. "mn*" or "veth-mn?".
    access.detect = link rs
        How attachment is detected: link (a device coming up attaches the
        MN whose policy entry names that interface), rs (a Router
        Solicitation or DAD Neighbour Solicitation from a MAC in the policy
        store), none (only pmipctl attach). An MN (same MAC, MN identifier
        and LMA) detected on another access link while registered on one
        has moved: its binding follows it to the new link at once, without
        signalling, and the old link is let go (RFC 5213 6.9.1.1;
        show counters: engine.intra_mag_moves). A MAAR ([mag] mode = maar)
        moves such an MN's session the same way, its local and previous
        MAARs' prefixes routed onto the new link, and refreshes the CMD's
        binding with a PBU (show maar: counters.intra_maar_moves). With rs
        on, a link coming up whose policy MN is registered on another of
        our links attaches nothing: the MN's Router Solicitation there
        moves it (show counters: daemon.link_up_mn_registered_elsewhere).
    access.router-link-local = fe80::200:5eff:fe00:5213
        Source of the RAs and the MN's default router (RFC 6543).
    access.router-mac = 00:00:5e:00:52:13
        Link-layer address given to access devices (RFC 6543).
    access.set-router-mac = true
        Set access devices' MAC to router-mac (false: leave it).
    ra.max-interval-s = 600
        MaxRtrAdvInterval (4..1800).
    ra.min-interval-s = max(3, ra.max-interval-s / 3)
        MinRtrAdvInterval (3 .. 0.75 x max).
    ra.router-lifetime-s = 3 x ra.max-interval-s
        Router Lifetime of the RAs (0..9000).
    ra.mtu = 0
        MTU option value; 0 = min(tunnel MTU, access link MTU).
    ra.initial-count = 3
        MAX_INITIAL_RTR_ADVERTISEMENTS after a registration.
    ra.initial-interval-s = 16
        MAX_INITIAL_RTR_ADVERT_INTERVAL (1..16).
    binding.ordering = timestamp
        timestamp: PBUs carry a Timestamp option; sequence: they do not
        (RFC 5213 section 5.5, TimestampBasedApproachInUse).
    binding.initial-bindack-timeout-ms = 1000
        INITIAL_BINDACK_TIMEOUT (100..10000).
    binding.max-bindack-timeout-s = 32
        MAX_BINDACK_TIMEOUT (1..3600).
    binding.renewal-percent = 80
        Renew when this share of the granted lifetime has passed (10..95).
    binding.max-update-rate = 3
        MAX_UPDATE_RATE: PBUs per second per mobile node (RFC 6275 11.8).
    binding.handoff-indicator = unknown
        Handoff Indicator of an MN's first PBU at this MAG: unknown (4; a
        MAG cannot tell a new attachment from a handover, RFC 5213 6.9.1.1),
        new-interface (1: the LMA must create a new session, a handover
        without MN-LL-ID then gets a new prefix) or same-interface (3: only
        when every MN has one interface, e.g. towards OAI pmip6d, whose MAG
        sends 3). Renewals send 5, de-registrations 4.
    binding.uplink-routing = auto
        How an MN's packets reach its LMA's tunnel. source-routes: one
        source-specific route per home network prefix ("default from HNP
        dev TUNNEL") in table lma-table-base, and one rule "lookup
        lma-table-base" for all MNs: the kernel finds each packet's route in
        a trie however many MNs there are (needs IPv6 subtrees,
        CONFIG_IPV6_SUBTREES, as Debian's kernels have). rules: one table per
        LMA and one rule "from HNP lookup TABLE" per prefix: the kernel walks
        the rules one by one for every packet from an MN, so uplink
        forwarding slows down with the number of MNs (about 17 times at
        5,000). auto:
        source-routes when the kernel takes them (tried at start), else
        rules with a warning. The choice is logged at start.
    binding.lma-table-base = 1000
        Routing table of the uplink source routes, or of the first LMA with
        rules (the next LMA gets base+1, ...); base-1 is the access table
        (unreachable: packets from an access link without a binding). A
        MAAR (mag.mode = maar) uses the same tables for the prefixes of
        previous MAARs.
    binding.rule-priority = 1000
        Priority of the uplink rule(s) (2..32764); rule-priority - 1 holds
        one "iif TUNNEL lookup main" rule per tunnel device (what leaves a
        tunnel goes to its destination's access link, never back into a
        tunnel), rule-priority + 1 one "iif LINK lookup ACCESS-TABLE" rule per
        access link.
    multicast.enabled = true
        Run the embedded MLD proxy (RFC 6224): one instance per LMA, upstream
        the tunnel to that LMA, downstreams the access links of its MNs whose
        policy has "multicast": true. An MN's link gets a General Query as
        soon as its registration starts (on Ethernet links; its answer is
        captured until the link is a downstream), else when it is added.
    multicast.forwarding = auto
        How multicast data is replicated: ebpf (tc programs on the tunnels
        and MN links; no kernel multicast routing needed, up to 8191 MN links
        per LMA), kernel (the kernel's IPv6 multicast routing, ip6mr: at most
        31 MNs per LMA, its 32 MIFs per table) or auto (ebpf when its program
        loads, else kernel). The choice is logged at start; --check names it.
)" + mcast::hold_keys_help() + R"(    multicast.table-base = 2000
        Number of the first instance: its MRT6 table (kernel; base+1, ... for
        the next LMAs); with ebpf, the tc filter handle of all instances.
    multicast.robustness = 2
        Robustness Variable of the queriers on MN links (RFC 3810 9.1).
    multicast.query-interval-s = 125
        Query Interval (RFC 3810 9.2).
    multicast.query-response-interval-ms = 1
        Query Response Interval (1-60000): short, because an MN link has one
        listener and its report after a handover is what restores the
        stream (a Linux MN answers 8 ms after the query at HZ=250).
    multicast.last-listener-query-interval-ms = 1000
        Last Listener Query Interval (RFC 3810 9.8).
    multicast.fast-leave = true
        Act on a leave at once when the tracked listener was the last one
        (explicit tracking, RFC 6224 section 4.7).
    multicast.context-transfer = sial
        sial: multicast context transfer of RFC 7161 for MNs admitted to
        multicast. PBUs carry the S flag; a departing MN's de-registration
        carries its groups and sources (options 57) and the LMA's
        Subscription Query about it is answered; a new MN's groups come in
        the PBA (or in the answer to our Subscription Query) and are set up
        on its link before it reports them, so its streams resume with the
        unicast path. MLD then confirms them (groups the MN does not report
        again expire by RFC 3810 timers). An LMA without SIAL ignores the
        flag: nothing changes. off: no S flag; Subscription Queries are
        answered as an unrecognized type.
    multicast.mode = proxy
        proxy: the MLD proxy of RFC 6224, every channel joined through the
        LMA (the instance's upstream is the tunnel to it, or its M-Tunnel).
        proxy-direct: draft-zhao-multimob-pmip6-solution's MAG joining
        directly: the channels matching direct-channel are joined on
        direct-upstream, a local link toward a multicast router, and their
        data is taken from there only (the same channel arriving through the
        LMA is not forwarded twice); every other channel goes through the
        LMA; unicast is unchanged. The direct upstream serves the first MLD
        proxy instance made (one per LMA, or per tunnel with gre-key
        tunnels); a later one joins everything through its LMA, logged and
        counted (multicast_direct_upstream_busy).
        listener: draft-zhao's MAG as a plain MLD listener: no MLD on the MN
        links (no query sent, no early query, the router groups not joined
        there so the MNs' Reports are not heard; MLD that still arrives is
        dropped and counted in show multicast: drop_downstream_mld_off), so
        an MN receives exactly the channels of its profile
        (multicast_channels, network-initiated service), joined through the
        LMA while it is attached.
    multicast.direct-upstream = IFNAME
        The local link of proxy-direct (required by it; must exist at start).
    multicast.direct-channel = (repeatable) "GROUP-PREFIX [SOURCE-PREFIX]"
        Channels joined on direct-upstream (required by proxy-direct):
        without a source prefix an any-source (*, G) join of a group in the
        prefix, and any source's data; with one, (S, G) for the sources in
        it (an any-source join of the group still goes through the LMA).
        Checked in order; a channel no entry matches goes through the LMA.
    multicast.peering = (repeatable) "IFNAME [WAIT-MS]"
        A peering link (RFC 7287 section 5) toward a neighbouring MAG's
        magd: a direct link or a tunnel, named here on both MAGs. Both
        sides report their MNs' groups there and query it; multicast data
        crosses it only when one side's MNs want what an MN of the other
        sends. Sender side: the other MAG's reports there are tracked by a
        querier of their own and never go to the LMA; the data of our MNs
        (sources inside their home network prefixes) goes there only when
        asked for, and data from the LMA never does. Listener side: our MNs'
        groups are reported there at once, and to the LMA WAIT-MS later
        (a new group, or a new source of a source-specific group)
        (default 25, the RFC's value for a remote peer; 10 for a peer on the
        same node; 0: at once); a source whose data arrives over the peering
        is left out of what the LMA is asked for (excluded, or not
        included), and the LMA's copy is dropped. The peering links go to
        one proxy instance at a time (the first made while no other has
        them). Must exist at start, must not be an access link or the
        direct-upstream.
    multicast.peering-data-timeout-ms = 50
        RFC 7287's data-driven timer: a source that brings no packet over
        the peering for this long is asked from the LMA again.
)" + mcast::filter_keys_help() + R"(    multicast.context-peer = (repeatable) ADDRESS
        Neighbouring MAGs (their Proxy-CoA) that exchange MNs' multicast
        contexts directly (draft-asaeda Figure 6, carried by RFC 7161's
        Subscription Query / Response between MAGs; needs context-transfer =
        sial): when a multicast MN attaches here, each is asked about it at
        once (one query each, 500 ms), and the one that had the MN answers
        with its groups and sources, which are set up on the MN's link at the
        PBA (or at once when the answer comes later), also when the LMA does
        no SIAL (an OpenAirInterface/UMIP LMA); their queries about MNs that
        were here are answered. Only listed addresses are answered as peers.
)" + mcast::pbu_m_keys_help(R"(the first PBU of an MN's
        registration here (its PBU-M, repeated in retransmissions) carries
        the flag and the channels of the MN's profile (multicast_channels)
        that this MAG does not yet receive from that LMA, so the LMA forwards
        them from its PBA on instead of after our MLD report through the new
        tunnel. The PBA names what the LMA forwards (show counters:
        pbu_m_*). A peer without PBU-M skips the option; the report asks.)") +
           mcast::m_tunnel_keys_help(R"(LMA: the upstream of the MLD proxy
        instance for an LMA is its M-Tunnel, not the unicast tunnel. static:
        an M-Tunnel to each LMA of the policy store's multicast MNs is made
        at start (one named by a later reload, at its first multicast MN).)") + R"(    lmas.profile = (repeatable) "ADDRESS-OR-PREFIX rfc5213|oai"
        Peer profile of LMAs; oai talks to OpenAirInterface/UMIP pmip6d
        (PBAs without the P flag accepted, MN-LL-ID sent as the 8-octet
        modified EUI-64, Timestamp halves in host byte order).
)" + auth::auth_keys_help("lmas", "LMAs", "magd") + R"(    policy.store = (required)
        JSON policy store (conf/magd-policy.json): MAC -> MN-Identifier,
        LMA, prefixes, lifetime, tunnel kind, multicast, and the multicast
        channels joined on the MN's behalf while it is attached
        ("multicast_channels": [{"group": G, "sources": [S...]}], whatever
        MLD says) and what it may join itself ("multicast_policy":
        allowed_groups, denied_groups, allowed_sources, denied_sources,
        max_groups); reloaded on SIGHUP and "pmipctl reload" (changes apply
        to existing bindings: a change of multicast channels or policy only
        in place, any other change by registering the MN again).
    tunnel.backend = auto
        auto | kernel (ip6tnl/ip6gre devices) | ebpf (TUN devices whose
        packets tc/eBPF programs encapsulate and decapsulate in the kernel;
        the userspace data plane takes what they leave) | userspace (TUN
        devices); auto takes the first that works here in that order and
        warns once for each it passes over, naming why.
    tunnel.path-mtu = 1500
        Path MTU towards the LMAs; tunnel MTU = path MTU - encapsulation.
    tunnel.hop-limit = 64
        Hop limit of the outer header (RFC 2473 section 6.3).
    tunnel.device-prefix = mg
        Tunnel devices are named PREFIX6-xxxxxxxx / PREFIXg-xxxxxxxx; devices
        with this prefix left by a crashed run are removed at start.
    tunnel.delete-delay-ms = 0 (1000 with mag.mode = maar)
        Keep an unused tunnel this long before deleting it. A MAAR's moves
        often release a tunnel to a MAAR and take it again a moment later.
    tunnel.prepare = true
        Make the tunnel to the LMA, down, when an MN's first PBU goes out,
        with the multicast proxy instance whose upstream it is, and bring it
        up at the PBA: the handover's set-up (milliseconds) overlaps the
        LMA's answer instead of following it. ip6ip6 tunnels only (with
        GRE the keys come in the PBA and the LMA may decline GRE). false:
        made at the PBA.
    heartbeat.interval-s = 60
        HEARTBEAT_INTERVAL towards LMAs with bindings; 0 disables them.
    heartbeat.missing-allowed = 3
        MISSING_HEARTBEATS_ALLOWED before an LMA is declared unreachable.
    control.socket = /run/pmip/magd.sock
        pmipctl control socket (UNIX, JSON lines).
    control.mode = 0660
        File mode of the control socket.
    log.sink = stderr
        stderr | syslog (facility daemon).
    log.level = info
        debug | info | warning | error.
    log.debug = (none; repeatable, space separated)
        Debug categories: mh bce bul tunnel route mld netlink ctl, or all.

FILES
    /etc/pmip/magd.conf          configuration (see conf/magd.conf)
    /etc/pmip/magd-policy.json   policy store (see conf/magd-policy.json)
    /run/pmip/magd.sock          control socket

SIGNALS
    SIGTERM, SIGINT   withdraw every prefix, delete every route, rule and
                      tunnel, restore the access devices, then exit 0 (no
                      de-registration is sent: the LMA keeps the bindings
                      until their lifetime ends, so a restarted magd can
                      register the MNs again without a new prefix).
    SIGHUP            reload the policy store and [lmas] auth.

EXIT STATUS
    0   normal shutdown, or --check found no errors
    1   configuration errors, or start-up failed
    2   usage error on the command line

EXAMPLES
    magd --config /etc/pmip/magd.conf --check
    magd -c magd.conf --tunnel.backend userspace --control.socket /tmp/magd.sock
    pmipctl --socket /tmp/magd.sock show mns
    pmipctl --socket /tmp/magd.sock attach veth-mn7 02:00:00:00:00:07
)";
}

}  // namespace pmip::mag
