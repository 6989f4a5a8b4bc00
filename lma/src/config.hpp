// lmad configuration: the INI file (Boost.Program_options syntax, sections
// become "section.key"), command-line overrides with the same dotted names,
// and validation that names the file, line and key of every problem
// (`lmad --config F --check`).
//
// What it configures, with the RFC that asks for it:
//   [lma]        address            LMAA(s) [RFC 5213 section 2.2]
//   [pools]      pool               HNP pools "PREFIX DELEGATED-LENGTH" [section 5.3.2]
//   [binding]    max-lifetime, ordering, timestamp-validity-window-ms,
//                mobile-node-generated-timestamps, min-delay-before-bce-delete-ms,
//                max-delay-before-new-bce-assign-ms, new-session-without-waiting,
//                mag-link-local, expected-bindings, reserve-heap, max-queue-delay-ms
//                                                     [sections 5.5, 6.9.4, 9.1, 9.3; RFC 6543]
//   [mags]       authorized, profile, oai-identity    [section 5.3.1 step 5; Appendix I]
//   [multicast]  enabled, upstream, table, robustness, query-interval-s,
//                query-response-interval-ms, last-listener-query-interval-ms,
//                pbu-m*, m-tunnel, m-tunnel-key, m-tunnel-mag
//                                                      [RFC 6224 section 4.3, draft-asaeda]
//   [revocation] initial-timeout-ms, max-timeout-ms, max-retries  [RFC 5846 section 11]
//   [policy]     store, serve-unknown, default-tunnel, default-prefix-count
//   [tunnel]     backend, path-mtu, hop-limit, device-prefix, delete-delay-ms [RFC 2473]
//   [heartbeat]  interval-s, missing-allowed, on-peer-failure   [RFC 5847 section 3]
//   [control]    socket, mode
//   [state]      file               Restart Counter + peers [RFC 5847 section 3.2]
//   [log]        sink, level, debug
//
// Boost.Program_options parses the file and the command line; it gives no
// line numbers, so the file is also scanned here to map each occurrence of a
// key to its line. Every option is stored as strings and validated here, so
// one run reports every problem, not just the first.
//
// Threading: none (start-up only). Counters: none.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "config_problem.hpp"
#include "pmip/common/message_auth.hpp"
#include "pmip/common/heartbeat.hpp"
#include "pmip/common/log.hpp"
#include "pmip/common/tunnel.hpp"
#include "lma_multicast.hpp"
#include "pmip/lma/cmd_engine.hpp"
#include "pmip/mcast/querier_config_keys.hpp"
#include "pmip/lma/cmd_engine.hpp"
#include "pmip/lma/lma_engine.hpp"

namespace pmip::lma {

// How lmad talks to one MAG [PROTOCOL.md Appendix I].
enum class PeerProfile : std::uint8_t {
    kRfc5213,  // strict parsing
    kOai,      // the codec's lenient mode: OAI / UMIP pmip6d quirks accepted, replies adapted
};
std::string_view to_string(PeerProfile profile);

// How the MN of an `oai` MAG is identified (PROTOCOL.md Appendix I; see
// mh_receiver.hpp).
enum class OaiIdentity : std::uint8_t {
    kMac,     // the MAC from the MN-LL-ID (all-zero NAI) or from UMIP's binary NAI
    kAsSent,  // the MN-Identifier option as sent (the policy store needs id_hex entries)
};

// RFC 5213 section 5.5: TimestampBasedApproachInUse.
enum class Ordering : std::uint8_t {
    kTimestamp,  // Timestamp option when present, else sequence numbers (section 5.5 rule 5)
    kSequence,   // sequence numbers only: a received Timestamp option is ignored
};

// What to do with the bindings of a MAG that stopped answering heartbeats.
enum class OnPeerFailure : std::uint8_t { kKeep, kPurge };

struct PoolConfig {
    Ipv6Prefix prefix;
    std::uint8_t delegated_length = 64;
};

struct PeerProfileRule {
    Ipv6Prefix mags;
    PeerProfile profile = PeerProfile::kRfc5213;
};

inline constexpr const char* kDefaultConfigFile = "/etc/pmip/lmad.conf";
inline constexpr const char* kDefaultControlSocket = "/run/pmip/lmad.sock";
inline constexpr const char* kDefaultStateFile = "/var/lib/pmip/lmad.state";

struct LmadConfig {
    std::string config_file;  // empty when none was read
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
    std::vector<Ipv6Address> addresses;
    std::vector<PoolConfig> pools;
    LmaConfig engine;  // authorized MAGs, lifetimes, timers, default policy
    Ordering ordering = Ordering::kTimestamp;
    std::vector<PeerProfileRule> profiles;
    OaiIdentity oai_identity = OaiIdentity::kMac;
    // [mags] auth: signalling authentication per MAG (RFC 4285 options;
    // common/message_auth.hpp). Empty: nothing signed or checked.
    std::vector<auth::PeerSecurity> auth;
    std::string policy_file;  // empty = no file (only serve-unknown MNs)
    LmaMulticastConfig multicast;
    // [dmm] RFC 8885: lmad is also the Central Mobility Database of a DMM
    // domain (PBUs with the D flag go to it; others to the LMA engine).
    std::optional<CmdConfig> cmd;
    mh::ExtensionCodePoints code_points{};  // draft-asaeda ([multicast] pbu-m-flag, pbu-m-option)
    Duration max_queue_delay = std::chrono::milliseconds(500);  // [binding] max-queue-delay-ms
    bool reserve_heap = true;  // [binding] reserve-heap (with expected-bindings; common/heap.hpp)
    TunnelBackendChoice tunnel_backend = TunnelBackendChoice::kAuto;
    TunnelOptions tunnel;
    HeartbeatConfig heartbeat;
    bool heartbeat_enabled = true;
    OnPeerFailure on_peer_failure = OnPeerFailure::kKeep;
    std::string control_socket = kDefaultControlSocket;
    mode_t control_mode = 0660;
    std::string state_file = kDefaultStateFile;
    log::Sink log_sink = log::Sink::kStderr;
    log::Level log_level = log::Level::kInfo;
    std::vector<log::Category> debug;
};

// The profile of the most specific [mags] profile rule containing `mag`.
PeerProfile profile_of(const std::vector<PeerProfileRule>& rules, const Ipv6Address& mag);
inline PeerProfile profile_of(const LmadConfig& config, const Ipv6Address& mag) {
    return profile_of(config.profiles, mag);
}

using config::Action;
using ConfigLoad = config::Load<LmadConfig>;

// Parses `args` (without argv[0]); reads the config file (--config, default
// kDefaultConfigFile when it exists) and validates everything. With --check
// the policy store file is loaded too and its problems added.
ConfigLoad load_config(const std::vector<std::string>& args);

// Parses and validates an INI text as if read from `file_name`, then applies
// the command-line `args` (dotted names) over it. For tests.
ConfigLoad load_config_text(const std::string& text, const std::string& file_name,
                            const std::vector<std::string>& args = {});

// The man page printed by `lmad --help`.
std::string help_text();

}  // namespace pmip::lma
