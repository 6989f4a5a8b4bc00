// magd configuration: the INI file, command-line overrides with the same
// dotted names, and validation naming the file, line and key of every
// problem (`magd --config F --check`). The machinery is shared with lmad
// (pmip/common/config_file.hpp); the keys, defaults and --help are here.
//
//   [mag]        address, access-technology      Proxy-CoA, ATT [RFC 5213 sections 2.2, 8.1]
//   [access]     interface, detect, router-link-local, router-mac, set-router-mac
//                                                 [sections 6.8, 6.9.1.1; RFC 6543]
//   [ra]         max-interval-s, min-interval-s, router-lifetime-s, mtu, initial-count,
//                initial-interval-s                [RFC 4861 section 6.2.1]
//   [binding]    ordering, initial-bindack-timeout-ms, max-bindack-timeout-s,
//                renewal-percent, max-update-rate, lma-table-base, rule-priority
//                                                 [sections 6.9.4, 6.10, 9]
//   [multicast]  enabled, table-base, robustness, query-interval-s,
//                query-response-interval-ms, last-listener-query-interval-ms,
//                fast-leave, context-transfer, context-peer, pbu-m*,
//                m-tunnel, m-tunnel-key, mode, direct-upstream,
//                direct-channel                  [RFC 6224, RFC 3810 section 9,
//                                                 RFC 7161, draft-asaeda]
//   [lmas]       profile                          [PROTOCOL.md Appendix I]
//   [policy]     store
//   [tunnel]     backend, path-mtu, hop-limit, device-prefix, delete-delay-ms [RFC 2473]
//   [heartbeat]  interval-s, missing-allowed      [RFC 5847 section 3]
//   [control]    socket, mode
//   [log]        sink, level, debug
//
// Threading: none (start-up only). Counters: none.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "pmip/common/config_file.hpp"
#include "pmip/mcast/querier_config_keys.hpp"
#include "pmip/common/heartbeat.hpp"
#include "pmip/common/link_config.hpp"
#include "pmip/common/log.hpp"
#include "pmip/common/message_auth.hpp"
#include "pmip/common/tunnel.hpp"
#include "pmip/mag/maar_engine.hpp"
#include "pmip/mag/mag_engine.hpp"
#include "pmip/mag/router_advertisement.hpp"
#include "pmip/mcast/proxy.hpp"
#include "pmip/mcast/querier.hpp"
#include "pmip/mcast/upstream_rules.hpp"

namespace pmip::mag {

// How magd talks to one LMA [PROTOCOL.md Appendix I].
enum class PeerProfile : std::uint8_t {
    kRfc5213,  // strict
    kOai,      // OAI / UMIP pmip6d LMA: lenient PBA parsing (no P flag), MN-LL-ID as
               // the 8-octet modified EUI-64, Timestamp halves in host byte order
};
std::string_view to_string(PeerProfile profile);

struct LmaProfileRule {
    Ipv6Prefix lmas;
    PeerProfile profile = PeerProfile::kRfc5213;
};
PeerProfile profile_of(const std::vector<LmaProfileRule>& rules, const Ipv6Address& lma);

inline constexpr const char* kDefaultConfigFile = "/etc/pmip/magd.conf";
inline constexpr const char* kDefaultControlSocket = "/run/pmip/magd.sock";

struct AccessConfig {
    std::vector<std::string> patterns;  // fnmatch(3) patterns of access device names
    bool detect_link = true;  // a device coming up attaches the MN its policy names by interface
    bool detect_rs = true;    // a Router Solicitation (or DAD NS) attaches the MN by its MAC
    Ipv6Address router_link_local{};  // fe80::200:5eff:fe00:5213 [RFC 6543]
    MacAddress router_mac{0x00, 0x00, 0x5e, 0x00, 0x52, 0x13};
    bool set_router_mac = true;
};

struct RaConfig {
    RaTiming timing;
    std::uint16_t router_lifetime = 1800;  // AdvDefaultLifetime
    unsigned mtu = 0;                      // 0: min(tunnel MTU, access link MTU)
};

// The embedded MLD proxy (RFC 6224 sections 3-4; DESIGN.md section 5): one
// instance per LMA, upstream = the tunnel to it, downstreams = the access
// links of that LMA's MNs admitted to multicast by their policy.
struct McastConfig {
    bool enabled = true;
    std::uint32_t table_base = 2000;  // MRT6 tables: base, base+1, ... (one per LMA)
    pmip::mcast::Forwarding forwarding = pmip::mcast::Forwarding::kAuto;
    // Querier on the MN links, tuned for handover (PROTOCOL.md 6.5): a point-
    // to-point link has one listener, so there is no report implosion to
    // spread out and the General Query sent when the link becomes a
    // downstream asks for an answer within 1 ms (the MN's report is what
    // restores its streams after a handover; a Linux host answers two
    // jiffies after any query of 8 ms or less, 8 ms at HZ=250); a leave is
    // acted on at once (explicit tracking, fast leave; RFC 6224 section 4.7).
    pmip::mcast::QuerierConfig querier = [] {
        pmip::mcast::QuerierConfig q;
        q.query_response_interval = std::chrono::milliseconds(1);
        q.startup_query_interval = std::chrono::seconds(1);
        q.explicit_tracking = true;
        q.fast_leave = true;
        return q;
    }();
    // RFC 7161 multicast context transfer (S flag, options 57, Subscription
    // Query / Response) for MNs admitted to multicast.
    bool context_transfer = true;
    // draft-asaeda PBU-M (the flag and option in the engine's PBUs; the
    // code points also for the socket and the receiver).
    mh::ExtensionCodePoints code_points{};
    // draft-asaeda's M-Tunnel to each LMA as the instances' upstream.
    MulticastTunnelConfig m_tunnel;
    // draft-zhao's proxy-direct mode: channels matching direct_channels are
    // joined on direct_upstream (a local link toward a multicast router)
    // instead of through the LMA (multicast/upstream_rules.hpp, first match);
    // unicast is unchanged. Empty direct_upstream: mode proxy.
    std::string direct_upstream;
    std::vector<pmip::mcast::SourceGroupRule> direct_channels;
    // draft-zhao's MAG as a plain MLD listener (mode = listener): no MLD on
    // the MN links (no query, MN reports ignored, no early query or
    // capture); the MNs' multicast comes only from their profiles.
    bool listener = false;
    bool direct = false;  // mode = proxy-direct (global)
    // multicast.lma-mode = LMA-ADDRESS MODE: the mode of that LMA's
    // instance, instead of the global one (issue 18: modes per LMA).
    enum class Mode : std::uint8_t { kProxy, kProxyDirect, kListener };
    std::map<Ipv6Address, Mode> lma_modes;
    Mode global_mode() const {
        return listener ? Mode::kListener : direct ? Mode::kProxyDirect : Mode::kProxy;
    }
    // The mode of the instance for `lma`'s MNs.
    Mode mode_for(const Ipv6Address& lma) const {
        const auto it = lma_modes.find(lma);
        return it == lma_modes.end() ? global_mode() : it->second;
    }
    // Whether some instance may run MLD on its MN links (early query, capture).
    bool any_mld_on_links() const {
        if (!listener)
            return true;
        for (const auto& [lma, mode] : lma_modes)
            if (mode != Mode::kListener)
                return true;
        return false;
    }
    // RFC 7287 peerings toward neighbouring MAGs' proxies (multicast.peering):
    // given to one instance at a time (the first made while none has them).
    std::vector<pmip::mcast::PeeringConfig> peerings;
    Duration peering_data_timeout = std::chrono::milliseconds(50);
    // multicast.hold-packets / hold-ms (the ebpf backend's unresolved queue).
    pmip::mcast::EbpfRouterLimits ebpf_limits;
    // Filter tables of every instance (multicast.allowed-group, ...).
    pmip::mcast::Policy policy;
    // Per-interface filter tables (multicast.interface-filter).
    std::vector<pmip::mcast::InterfaceFilter> interface_filters;
};

struct MagdConfig {
    std::string config_file;
    // What --check adds after "OK": the tunnel backend and the multicast
    // forwarding backend this machine would use (an error when the
    // configured one cannot work here).
    Expected<std::vector<std::string>> check_notes() const {
        auto tunnels = pmip::tunnel_check_note(tunnel_backend);
        if (!tunnels)
            return tunnels.error();
        auto notes = pmip::mcast::multicast_check_notes(multicast.enabled, multicast.forwarding);
        if (notes)
            notes->insert(notes->begin(), *tunnels);
        return notes;
    }
    MagConfig engine;  // proxy_coa, ATT, timers, tables
    // [mag] mode = maar: an RFC 8885 MAAR ([maar] keys) instead of a MAG.
    std::optional<MaarConfig> maar;
    AccessConfig access;
    RaConfig ra;
    McastConfig multicast;
    std::vector<LmaProfileRule> profiles;
    // [lmas] auth: signalling authentication per LMA (RFC 4285 options;
    // common/message_auth.hpp). Empty: nothing signed or checked.
    std::vector<auth::PeerSecurity> auth;
    std::string policy_file;
    TunnelBackendChoice tunnel_backend = TunnelBackendChoice::kAuto;
    // [binding] uplink-routing (MagConfig::UplinkRouting); none = auto:
    // source routes when the kernel takes them, else rules.
    std::optional<MagConfig::UplinkRouting> uplink_routing;
    TunnelOptions tunnel;
    HeartbeatConfig heartbeat;
    bool heartbeat_enabled = true;
    std::string control_socket = kDefaultControlSocket;
    mode_t control_mode = 0660;
    log::Sink log_sink = log::Sink::kStderr;
    log::Level log_level = log::Level::kInfo;
    std::vector<log::Category> debug;
};

using config::Action;
using ConfigLoad = config::Load<MagdConfig>;

// Parses `args` (without argv[0]); reads the file (--config, default
// kDefaultConfigFile when it exists) and validates everything. With --check
// the policy store is loaded too and its problems added.
ConfigLoad load_config(const std::vector<std::string>& args);
// For tests: an INI text as if read from `file_name`, then `args` over it.
ConfigLoad load_config_text(const std::string& text, const std::string& file_name,
                            const std::vector<std::string>& args = {});

// The man page printed by `magd --help`.
std::string help_text();

}  // namespace pmip::mag
