// Heartbeat peer monitoring [RFC 5847].
#include "pmip/common/heartbeat.hpp"

#include "pmip/common/log.hpp"

namespace pmip {

std::string_view to_string(PeerState state) {
    switch (state) {
        case PeerState::kReachable: return "reachable";
        case PeerState::kUnreachable: return "unreachable";
        case PeerState::kNotSupported: return "heartbeat-not-supported";
    }
    return "unknown";
}

HeartbeatMonitor::HeartbeatMonitor(Timers& timers, HeartbeatConfig config, Callbacks callbacks)
    : timers_(timers), config_(config), callbacks_(std::move(callbacks)) {}

HeartbeatMonitor::~HeartbeatMonitor() {
    for (auto& [address, p] : peers_) {
        if (p.timer) timers_.cancel_timer(p.timer);
    }
}

void HeartbeatMonitor::schedule(HeartbeatPeer& p) {
    if (p.timer || p.bindings == 0 || p.state == PeerState::kNotSupported) return;
    const Ipv6Address address = p.address;
    p.timer = timers_.start_timer(config_.interval, [this, address] { tick(address); });
}

void HeartbeatMonitor::binding_added(const Ipv6Address& address) {
    HeartbeatPeer& p = peers_[address];
    p.address = address;
    ++p.bindings;
    schedule(p);
}

void HeartbeatMonitor::binding_removed(const Ipv6Address& address) {
    const auto it = peers_.find(address);
    if (it == peers_.end() || it->second.bindings == 0) return;
    HeartbeatPeer& p = it->second;
    if (--p.bindings > 0) return;
    // No binding left: stop the requests (section 3). The peer's restart
    // counter need not be kept once no session exists with it.
    if (p.timer) timers_.cancel_timer(p.timer);
    if (p.state == PeerState::kNotSupported) {
        p.timer = 0;  // keep the entry: never send heartbeats to it again
        return;
    }
    peers_.erase(it);
}

// Section 3.1: before each new request, count the unanswered previous one.
void HeartbeatMonitor::tick(const Ipv6Address& address) {
    const auto it = peers_.find(address);
    if (it == peers_.end()) return;
    HeartbeatPeer& p = it->second;
    p.timer = 0;
    if (p.bindings == 0 || p.state == PeerState::kNotSupported) return;
    if (p.awaiting_response) {
        ++p.missing;
        if (p.missing > config_.missing_allowed && p.state == PeerState::kReachable) {
            p.state = PeerState::kUnreachable;
            PMIP_WARNING(kMh, "[heartbeat peer=" + to_string(address) + "]",
                         "peer unreachable: " + std::to_string(p.missing) +
                             " heartbeats unanswered");
            if (callbacks_.unreachable) callbacks_.unreachable(address);
            // The callback may have removed the peer's bindings.
            const auto again = peers_.find(address);
            if (again == peers_.end()) return;
        }
    }
    HeartbeatPeer& q = peers_.at(address);
    q.last_sequence_sent = next_sequence_++;
    q.awaiting_response = true;
    ++q.requests_sent;
    if (callbacks_.send_request) callbacks_.send_request(address, q.last_sequence_sent);
    schedule(q);
}

void HeartbeatMonitor::check_restart(HeartbeatPeer& p, std::optional<std::uint32_t> counter) {
    if (!counter) return;
    // Section 3.2: a changed value means the peer lost its state; the first
    // value is just stored.
    if (p.restart_counter && *p.restart_counter != *counter) {
        const std::uint32_t old_value = *p.restart_counter;
        p.restart_counter = counter;
        ++p.restarts_detected;
        PMIP_WARNING(kMh, "[heartbeat peer=" + to_string(p.address) + "]",
                     "peer restarted (restart counter " + std::to_string(old_value) + " -> " +
                         std::to_string(*counter) + ")");
        if (callbacks_.restarted) callbacks_.restarted(p.address, old_value, *counter);
        return;
    }
    p.restart_counter = counter;
}

void HeartbeatMonitor::response_received(const Ipv6Address& address, std::uint32_t sequence,
                                         std::optional<std::uint32_t> restart_counter,
                                         bool unsolicited) {
    const auto it = peers_.find(address);
    if (it == peers_.end()) return;  // no session with it: nothing to track
    HeartbeatPeer& p = it->second;
    ++p.responses_received;
    if (!unsolicited && p.awaiting_response && sequence == p.last_sequence_sent) {
        p.awaiting_response = false;
    }
    p.missing = 0;
    const bool was_unreachable = p.state == PeerState::kUnreachable;
    if (was_unreachable) p.state = PeerState::kReachable;
    check_restart(p, restart_counter);
    if (was_unreachable && peers_.count(address) && callbacks_.reachable) {
        PMIP_INFO(kMh, "[heartbeat peer=" + to_string(address) + "]", "peer reachable again");
        callbacks_.reachable(address);
    }
}

void HeartbeatMonitor::binding_error_received(const Ipv6Address& address) {
    const auto it = peers_.find(address);
    if (it == peers_.end()) return;
    HeartbeatPeer& p = it->second;
    if (!p.awaiting_response) return;  // a Binding Error not caused by our request
    p.state = PeerState::kNotSupported;
    p.awaiting_response = false;
    if (p.timer) timers_.cancel_timer(p.timer);
    p.timer = 0;
    PMIP_INFO(kMh, "[heartbeat peer=" + to_string(address) + "]",
              "peer does not implement heartbeats (Binding Error 2); not sending them again");
}

const HeartbeatPeer* HeartbeatMonitor::peer(const Ipv6Address& address) const {
    const auto it = peers_.find(address);
    return it == peers_.end() ? nullptr : &it->second;
}

std::vector<HeartbeatPeer> HeartbeatMonitor::peers() const {
    std::vector<HeartbeatPeer> out;
    for (const auto& [a, p] : peers_) out.push_back(p);
    return out;
}

}  // namespace pmip
