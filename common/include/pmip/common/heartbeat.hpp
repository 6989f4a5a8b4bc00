// Heartbeat peer monitoring between MAG and LMA [RFC 5847 sections 3-5;
// PROTOCOL.md section 3.3], shared by magd and lmad.
//
// Pure logic over Timers: which peers get Heartbeat Requests (only peers with
// at least one binding, section 3), the missed-response counter and the
// unreachable verdict (section 3.1), Restart Counter comparison (section 3.2)
// and the "never again" rule after a Binding Error status 2. The daemon
// encodes and sends the messages through the callbacks and feeds received
// responses back in; requests from peers are always answered by the daemon
// (answering needs no state here beyond our own restart counter).
//
// Counters per peer: requests sent, responses received, misses, restarts seen.
// Threading: loop thread only.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <vector>

#include "pmip/common/ip.hpp"
#include "pmip/common/timers.hpp"

namespace pmip {

struct HeartbeatConfig {
    Duration interval = std::chrono::seconds(60);  // HEARTBEAT_INTERVAL (30-3600 s advised)
    unsigned missing_allowed = 3;                  // MISSING_HEARTBEATS_ALLOWED
};

enum class PeerState : std::uint8_t {
    kReachable,
    kUnreachable,       // more than missing_allowed requests unanswered
    kNotSupported,      // answered a request with Binding Error status 2
};

std::string_view to_string(PeerState state);

struct HeartbeatPeer {
    Ipv6Address address{};
    unsigned bindings = 0;  // heartbeats run while > 0
    PeerState state = PeerState::kReachable;
    std::uint32_t last_sequence_sent = 0;
    bool awaiting_response = false;
    unsigned missing = 0;  // MISSING_HEARTBEAT
    std::optional<std::uint32_t> restart_counter;  // last value the peer reported
    std::uint64_t requests_sent = 0;
    std::uint64_t responses_received = 0;
    std::uint64_t restarts_detected = 0;
    TimerId timer = 0;
};

class HeartbeatMonitor {
public:
    struct Callbacks {
        // Send a Heartbeat Request with this sequence number to the peer.
        std::function<void(const Ipv6Address& peer, std::uint32_t sequence)> send_request;
        // The peer stopped answering (state moved to kUnreachable).
        std::function<void(const Ipv6Address& peer)> unreachable;
        // The peer answers again after being unreachable.
        std::function<void(const Ipv6Address& peer)> reachable;
        // The peer's Restart Counter changed: it lost its PMIPv6 state.
        std::function<void(const Ipv6Address& peer, std::uint32_t old_value,
                           std::uint32_t new_value)> restarted;
    };

    HeartbeatMonitor(Timers& timers, HeartbeatConfig config, Callbacks callbacks);
    ~HeartbeatMonitor();
    HeartbeatMonitor(const HeartbeatMonitor&) = delete;
    HeartbeatMonitor& operator=(const HeartbeatMonitor&) = delete;

    // A binding with `peer` was created / removed. Heartbeats to a peer run
    // while it has bindings (RFC 5847 section 3).
    void binding_added(const Ipv6Address& peer);
    void binding_removed(const Ipv6Address& peer);

    // A Heartbeat Response from `peer`. `unsolicited` = U flag (its sequence
    // is ignored). Responses whose sequence does not match the outstanding
    // request still prove reachability but do not clear the wait.
    void response_received(const Ipv6Address& peer, std::uint32_t sequence,
                           std::optional<std::uint32_t> restart_counter, bool unsolicited);

    // A Binding Error status 2 from `peer`: it does not implement heartbeats;
    // never send it another (section 3).
    void binding_error_received(const Ipv6Address& peer);

    const HeartbeatPeer* peer(const Ipv6Address& address) const;
    std::vector<HeartbeatPeer> peers() const;

private:
    void schedule(HeartbeatPeer& p);
    void tick(const Ipv6Address& address);
    void check_restart(HeartbeatPeer& p, std::optional<std::uint32_t> counter);

    Timers& timers_;
    HeartbeatConfig config_;
    Callbacks callbacks_;
    std::map<Ipv6Address, HeartbeatPeer> peers_;
    std::uint32_t next_sequence_ = 1;
};

}  // namespace pmip
