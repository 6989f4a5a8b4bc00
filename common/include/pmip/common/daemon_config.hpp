// Configuration sections both daemons have, read the same way with the same
// messages: [tunnel], [heartbeat], [control] and [log]. Each function reads
// its section's keys through the shared Validator (config_file.hpp) into the
// given fields, leaving them at their defaults when a key is absent.
//
// Threading: none (start-up only). Counters: none.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "pmip/common/config_file.hpp"
#include "pmip/common/heartbeat.hpp"
#include "pmip/common/log.hpp"
#include "pmip/common/tunnel.hpp"

namespace pmip::config {

// tunnel.backend, tunnel.path-mtu, tunnel.hop-limit, tunnel.device-prefix,
// tunnel.delete-delay-ms [RFC 2473 sections 6.3, 6.7].
void read_tunnel_section(Validator& v, TunnelBackendChoice& backend, TunnelOptions& options);
// heartbeat.interval-s (0 = off), heartbeat.missing-allowed [RFC 5847 section 3].
void read_heartbeat_section(Validator& v, HeartbeatConfig& heartbeat, bool& enabled);
// control.socket, control.mode.
void read_control_section(Validator& v, std::string& socket, mode_t& mode);
// log.sink, log.level, log.debug.
void read_log_section(Validator& v, log::Sink& sink, log::Level& level,
                      std::vector<log::Category>& debug);

}  // namespace pmip::config
