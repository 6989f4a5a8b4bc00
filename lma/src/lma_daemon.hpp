// lmad's wiring: builds the adapters around the LMA engine and connects them
// (DESIGN.md section 2: "daemons whose main is wiring only"; lmad_main.cpp
// only parses the configuration, sets up logging, the loop and signals).
//
//   MH socket -> MhReceiver -> LmaEngine -> (tunnels, routes, PBAs)
//                           -> HeartbeatMonitor <- observer of sessions per MAG
//   ControlServer: show bindings | binding | tunnels | peers | counters |
//                  revocations, reload, revoke
//   state file:   Restart Counter (+1 at every start) and the MAGs with bindings
//
// RFC 5213 section 5 (the engine), RFC 5847 (heartbeats: requests only to MAGs
// with bindings; an unreachable MAG's bindings kept or purged by
// configuration; a MAG whose Restart Counter changed loses its bindings, it
// will re-register; unsolicited responses with our new counter at start to the
// MAGs that had bindings when we stopped or crashed).
//
// Start-up removes what a crashed run left in the kernel (routes of our
// protocol number via RouteManager::flush_owned(), tunnel devices with our
// name prefix via TunnelBackend::remove_stale()); shutdown() deletes every
// binding, route and tunnel and the control socket, so nothing is left.
//
// Binding Revocation (RFC 5846 section 8.1): `revoke` {"mn", "prefix"?,
// "trigger"?} or {"mag", "realm"?} starts it in the engine and answers with
// the BRIs sent; `show revocations` lists those waiting for their BRA.
//
// Counters (show counters "daemon"): peer_unreachable, peer_reachable_again,
// peer_restarts, sessions_purged, reloads, reload_failures, state_write_errors,
// revoke_refused, unsolicited_heartbeats_sent, heartbeat_requests_sent.
//
// Threading: loop thread only (the userspace tunnel backend's data-plane
// thread is private to it).
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>

#include <nlohmann/json.hpp>

#include "config.hpp"
#include "lma_multicast.hpp"
#include "mh_receiver.hpp"
#include "pmip/common/mh_socket.hpp"
#include "pmip/common/control_server.hpp"
#include "pmip/common/event_loop.hpp"
#include "pmip/common/heartbeat.hpp"
#include "pmip/common/route_manager.hpp"
#include "pmip/common/tunnel.hpp"
#include "pmip/lma/cmd_engine.hpp"
#include "pmip/lma/lma_engine.hpp"
#include "policy_file.hpp"
#include "show_json.hpp"
#include "state_file.hpp"

namespace pmip::lma {

class LmaDaemon final : private LmaObserver {
  public:
    // Everything lmad needs before the loop runs; an error names what failed.
    static Expected<std::unique_ptr<LmaDaemon>> start(LmadConfig config, EventLoop& loop);
    ~LmaDaemon() override;
    LmaDaemon(const LmaDaemon&) = delete;
    LmaDaemon& operator=(const LmaDaemon&) = delete;

    // Reloads the policy store file; returns what changed. Throws ControlError
    // (the old policies stay) when the file has problems.
    nlohmann::json reload();
    std::string reload_auth();
    // [multicast] filter tables from a reload's re-read configuration:
    // applied at once to the proxy instance(s) when they changed (counted
    // multicast_filters_reloaded).
    void reload_filter_tables(const mcast::Policy& policy,
                              const std::vector<mcast::InterfaceFilter>& filters);
    // Deletes every binding, route and tunnel; removes the control socket.
    void shutdown();

    std::uint32_t restart_counter() const { return state_.restart_counter; }

  private:
    LmaDaemon(LmadConfig config, EventLoop& loop);
    Status open(const LmadState& previous);
    void register_commands();

    // LmaObserver
    void session_bound(const BindingCacheEntry& entry, const TunnelInfo& tunnel) override;
    void warn_unused_multicast_profiles();
    nlohmann::json show_cmd() const;
    void multicast_channels_requested(const BindingCacheEntry& entry,
                                      const std::vector<mh::MulticastAddressRecord>& records) override;
    void multicast_context(const BindingCacheEntry& entry,
                           const std::vector<mh::ActiveMulticastSubscriptionIpv6>& subscriptions) override;
    void session_unbound(const BindingCacheEntry& entry, const Ipv6Address& proxy_coa,
                         const std::string& tunnel) override;

    // draft-asaeda's M-Tunnel (multicast.m-tunnel): see lma_daemon.cpp.
    void multicast_bound(SessionId session, const TunnelInfo& tunnel);
    void make_m_tunnel(const std::string& device);
    void on_multicast_device(const std::string& tunnel, std::function<void(const std::string&)> apply);
    void multicast_unbound(SessionId session, const std::string& tunnel);
    Expected<TunnelInfo> take_m_tunnel(const Ipv6Address& mag, const Ipv6Address& local);
    void make_static_m_tunnels();

    void peer_unreachable(const Ipv6Address& mag);
    void peer_restarted(const Ipv6Address& mag, std::uint32_t old_value, std::uint32_t new_value);
    void send_heartbeat_request(const Ipv6Address& mag, std::uint32_t sequence);
    void send_unsolicited_heartbeats(const std::vector<StatePeer>& peers);
    Ipv6Address local_address_for(const Ipv6Address& mag) const;
    void save_state();
    void schedule_state_save();
    void warn_about_unassigned_addresses() const;

    nlohmann::json show_bindings(const nlohmann::json& request) const;
    nlohmann::json show_binding(const nlohmann::json& request) const;
    nlohmann::json show_tunnels() const;
    nlohmann::json show_peers() const;
    nlohmann::json show_counters() const;
    nlohmann::json revoke(const nlohmann::json& request);
    nlohmann::json show_revocations() const;
    nlohmann::json revocation_json(const Revocation& revocation) const;

    struct MagPeer {
        unsigned bindings = 0;
        Ipv6Address local{};
    };

    LmadConfig config_;
    EventLoop& loop_;
    LmadState state_;
    bool stopping_ = false;
    bool state_save_pending_ = false;
    bool shut_down_ = false;

    // Declaration order = construction order; destruction runs backwards, so
    // the engine goes before what it uses.
    std::unique_ptr<RouteManager> routes_;
    std::unique_ptr<RefCountingTunnelManager> tunnels_;
    std::unique_ptr<MhSocket> socket_;
    std::unique_ptr<auth::MessageAuthenticator> auth_;        // [mags] auth
    std::unique_ptr<auth::AuthenticatingTransmitter> transmitter_;  // signs, then socket_
    std::unique_ptr<MhReceiver> receiver_;
    std::unique_ptr<FilePolicyStore> policies_;
    std::unique_ptr<HeartbeatMonitor> heartbeat_;
    std::unique_ptr<LmaEngine> engine_;
    std::unique_ptr<CmdEngine> cmd_;  // [dmm] cmd
    std::unique_ptr<LmaMulticast> multicast_;  // RFC 6224 section 4.3 (when enabled)
    std::unique_ptr<ControlServer> control_;

    std::unordered_map<SessionId, SessionTunnel> session_tunnels_;
    std::size_t heap_reserved_ = 0;  // [binding] reserve-heap: octets touched at start
    std::map<Ipv6Address, MagPeer> mag_peers_;
    // Per unicast tunnel device: the M-Tunnel its sessions hold (one
    // reference each).
    struct MTunnelUse {
        TunnelKey key;
        std::string name;
        // Sessions bound to the unicast tunnel: those holding a reference
        // (and a downstream use) each, and those waiting for make_m_tunnel.
        std::map<SessionId, unsigned> held, pending;
        bool made = false;    // made: a new session takes its reference at once
        bool queued = false;  // make_m_tunnel posted
        std::vector<std::function<void(const std::string&)>> waiting;  // applies
    };
    std::map<std::string, MTunnelUse> m_tunnel_uses_;
    std::map<std::string, std::uint64_t> counters_;
};

}  // namespace pmip::lma
