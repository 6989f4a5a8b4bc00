// JSON form of a tunnel (both daemons' "show tunnels").
#include "pmip/common/tunnel.hpp"

namespace pmip {

nlohmann::json tunnel_json(const TunnelInfo& info, const TunnelCounters& c) {
    using json = nlohmann::json;
    json j{{"device", info.name},
           {"ifindex", info.ifindex},
           {"kind", std::string(to_string(info.key.kind))},
           {"peer", to_string(info.key.peer)},
           {"local", to_string(info.key.local)},
           {"mtu", info.mtu},
           {"references", info.references},
           {"pending_delete", info.pending_delete},
           {"up", info.up},
           {"backend", info.backend},
           {"input_key", info.key.input_key ? json(*info.key.input_key) : json(nullptr)},
           {"output_key", info.key.output_key ? json(*info.key.output_key) : json(nullptr)}};
    j["counters"] = tunnel_counters_json(c);
    return j;
}

nlohmann::json tunnel_counters_json(const TunnelCounters& c) {
    return {{"tx_packets", c.tx_packets},         {"tx_bytes", c.tx_bytes},
            {"rx_packets", c.rx_packets},         {"rx_bytes", c.rx_bytes},
            {"drop_too_big", c.drop_too_big},     {"drop_link_local", c.drop_link_local},
            {"drop_malformed", c.drop_malformed}, {"drop_send_error", c.drop_send_error},
            {"drop_not_up", c.drop_not_up},       {"drop_ecn", c.drop_ecn}};
}

}  // namespace pmip
