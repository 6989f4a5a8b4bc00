// JSON forms of lmad's state for the control socket (`pmipctl show ...`,
// DESIGN.md section 6). Pure functions over the engine's records; the
// daemon registers the commands and passes what it knows besides (the
// tunnel device of each session, heartbeat peers, counters of the adapters).
//
//   show bindings  [binding_json...]
//     {"id","mn","mn_subtype","mn_link_layer_identifier","prefixes":[..],
//      "mag","lma","tunnel","lifetime","remaining","state","access_technology_type",
//      "handoff_indicator","timestamp","sequence","mag_link_local",
//      "gre":{"uplink_key","downlink_key"} (GRE sessions only)}
//   show tunnels   [tunnel_json...]
//   show peers     [peer_json...]
//   show counters  {"engine":engine_counters_json, ...}
//
// Threading: none. Counters: none.
#pragma once

#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "config.hpp"
#include "pmip/common/heartbeat.hpp"
#include "pmip/common/tunnel.hpp"
#include "pmip/lma/binding_cache.hpp"
#include "pmip/lma/cmd_engine.hpp"
#include "pmip/lma/lma_engine.hpp"

namespace pmip::lma {

// The tunnel a session is bound to, as the daemon's observer recorded it.
struct SessionTunnel {
    std::string device;
    Ipv6Address local{};
};

nlohmann::json binding_json(const BindingCacheEntry& entry, const SessionTunnel* tunnel,
                            TimePoint now);
// tunnel_json(): pmip/common/tunnel.hpp (shared with magd).

// A MAG lmad has bindings with (or heartbeat state for).
struct PeerView {
    Ipv6Address mag{};
    std::optional<Ipv6Address> lma;
    unsigned bindings = 0;
    PeerProfile profile = PeerProfile::kRfc5213;
    const HeartbeatPeer* heartbeat = nullptr;  // nullptr: heartbeats off or none
};
nlohmann::json peer_json(const PeerView& peer);

nlohmann::json engine_counters_json(const LmaCounters& counters);

// "0x" + hex of octets (MN link-layer identifiers).
std::string hex_string(const std::string& octets);

// RFC 8885 CMD: a session and the counters.
nlohmann::json cmd_session_json(const CmdSession& session, TimePoint now);
nlohmann::json cmd_counters_json(const CmdCounters& counters);

}  // namespace pmip::lma
