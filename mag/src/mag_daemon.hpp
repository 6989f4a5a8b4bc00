// magd's wiring: the adapters around the MAG engine (DESIGN.md section 2:
// "daemons whose main is wiring only"; magd_main.cpp parses the
// configuration, sets up logging, the loop and signals).
//
//   LinkMonitor ------> access links (pattern) -> prepare (RFC 6543 MAC and
//                       link-local, accept_ra=0) -> attach on link up (policy
//                       by interface) / detach on down or deletion
//   SolicitationSocket -> RS / DAD NS on an access link -> attach by MAC,
//                       or an immediate RA when already registered
//   MH socket -> MagReceiver -> MagEngine (PBA, BRI) / HeartbeatMonitor
//   MagEngine observer -> RAs (RaScheduler + RaSocket), heartbeat peers,
//                       binding events (subscribe(); the multicast proxy of
//                       issue 7 follows them)
//   ControlServer: show mns | bul | tunnels | links | counters | policy,
//                  attach, detach, reload
//
// RFC 5213 section 6 (the engine), 6.7-6.9.3 and RFC 4861 (RAs), RFC 6543
// (fixed link-local / MAC), RFC 5847 (heartbeats: a changed LMA Restart
// Counter re-registers that LMA's MNs), RFC 5846 (revocation).
//
// Start-up removes what a crashed run left (routes and rules of our protocol
// number, tunnel devices with our name prefix); shutdown() withdraws every
// prefix (a last RA with zero lifetimes), deletes every route, rule and
// tunnel, restores the access devices' MAC and removes the link-local it
// added, and removes the control socket.
//
// Counters (show counters "daemon"): access_links_prepared, prepare_errors,
// attach_no_policy_for_interface, solicitations_not_access_link,
// ra_errors, early_query_errors,
// mld_captured_not_access_link, mld_captured_outside_window,
// mld_captured_unparsed, mld_captured_passed, mld_captured_buffered,
// mld_captured_overflow, mld_captured_seen_by_proxy,
// mld_captured_no_downstream, mld_captured_time_unknown, mld_listen_errors, lma_unreachable, lma_restarts, reloads, reload_failures,
// policy_changes_applied.
//
// Threading: loop thread only (the userspace tunnel backend's data-plane
// thread is private to it).
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <thread>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "access_io.hpp"
#include "config.hpp"
#include "mh_receiver.hpp"
#include "pmip/common/control_server.hpp"
#include "pmip/common/event_loop.hpp"
#include "pmip/common/heartbeat.hpp"
#include "pmip/common/link_config.hpp"
#include "pmip/common/link_monitor.hpp"
#include "pmip/common/mh_socket.hpp"
#include "pmip/common/route_manager.hpp"
#include "pmip/common/tunnel.hpp"
#include "pmip/mag/mag_engine.hpp"
#include "pmip/mag/router_advertisement.hpp"
#include "pmip/mag/tunnel_rules.hpp"
#include "pmip/mcast/kernel_proxy.hpp"
#include "policy_file.hpp"

namespace pmip::mag {

// What the multicast proxy (and anything else) learns about bindings.
struct BindingEvent {
    enum class Kind : std::uint8_t {
        kAttached,  // PBA accepted, forwarding installed (also after a change of prefix/tunnel)
        kDetached,  // forwarding removed (detach, denial, revocation, lifetime, shutdown)
    };
    Kind kind{};
    std::string mac;  // 6 octets
    std::string mn_identifier;
    Ipv6Address lma{};
    std::string access_device;
    int access_ifindex = 0;
    std::string tunnel_device;  // empty for kDetached when the tunnel is gone
    int tunnel_ifindex = 0;
    std::vector<Ipv6Prefix> prefixes;
    bool multicast = false;  // admissible per policy
    std::vector<MulticastChannel> multicast_channels;  // per policy, joined for the MN
    MulticastAdmission multicast_admission;            // per policy, what the MN may join
};

class MagDaemon final : private MagObserver, private MulticastContext, private MaarObserver {
  public:
    static Expected<std::unique_ptr<MagDaemon>> start(MagdConfig config, EventLoop& loop);
    ~MagDaemon() override;
    MagDaemon(const MagDaemon&) = delete;
    MagDaemon& operator=(const MagDaemon&) = delete;

    // Reloads the policy store; MNs whose policy changed are registered again
    // (or lose service). Throws ControlError (old policy kept) on problems.
    nlohmann::json reload();
    // pmipctl channel add|remove MN GROUP [SOURCE...]: the MN's
    // network-initiated channels changed in this magd's copy of the policy
    // store and applied at once (until the next reload re-reads the file).
    nlohmann::json channel_command(const nlohmann::json& request, bool add);
    // [lmas] auth re-read from the configuration file; what is now in force.
    // Throws ControlError (the keys in use stay) when the file has problems.
    std::string reload_configuration(const ConfigLoad* fresh);
    void check_peerings(const McastConfig& fresh);
    // [multicast] filter tables from a reload's re-read configuration:
    // applied at once to the proxy instance(s) when they changed (counted
    // multicast_filters_reloaded).
    void reload_filter_tables(const mcast::Policy& policy,
                              const std::vector<mcast::InterfaceFilter>& filters);
    // [multicast] peering and peering-data-timeout-ms from a reload's
    // re-read configuration, applied to the instance that has the peerings
    // (KernelProxy::set_peerings). Throws ControlError (unchanged) when a
    // link is missing or is an access link.
    void reload_peerings(const McastConfig& fresh);
    void shutdown();
    void subscribe(std::function<void(const BindingEvent&)> listener) {
        listeners_.push_back(std::move(listener));
    }

  private:
    // A policy store's contents put in force (reload, channel commands): MNs
    // whose profile changed only in its multicast part get it in place,
    // others register again.
    struct PolicyApplied {
        std::vector<std::string> changed;  // MACs
        std::size_t reregistering = 0;
        std::size_t in_place = 0;
    };
    PolicyApplied apply_policy_contents(PolicyFileContents contents);
    struct AccessLink {
        int ifindex = 0;
        std::string name;
        bool running = false;
        unsigned mtu = 1500;
        bool prepared = false;
        std::vector<std::uint8_t> original_mac;  // restored at the end
        bool ethernet = false;  // 6-octet link-layer address: RAs as frames (else raw socket)
        bool mac_changed = false;
        bool address_added = false;
        bool rule_added = false;  // iif NAME lookup <access table>: no binding, no forwarding
        bool clsact_created = false;  // ebpf forwarding: its clsact qdisc, made once (ensure_clsact)
        bool ra_withdraw_pending = false;
        std::vector<Ipv6Prefix> advertised;  // prefixes in our RAs
        unsigned tunnel_mtu = 0;
        // The early General Query at attach, for the BUL entry it was sent
        // for, and the MN's MLD messages captured after it until the link
        // is a downstream (PROTOCOL.md 6.2 steps 3 and 7); from then on only
        // those that reached the link before the proxy listened on it.
        std::optional<TimePoint> early_query;
        std::uint64_t early_entry = 0;  // BindingUpdateListEntry::id
        std::vector<mcast::ReceivedMld> captured;
        // Set when the link became a downstream: `captured` goes to its
        // proxy in registration_settled().
        bool replay_pending = false;
        // When the link became a downstream, on the kernel's receive-time
        // clock (CLOCK_REALTIME) and on the steady clock, to notice a step.
        std::optional<std::chrono::system_clock::time_point> downstream_since;
        TimePoint downstream_since_steady{};
        bool mld_listening = false;  // 33:33:00:00:00:16 membership on the capture socket
    };

    MagDaemon(MagdConfig config, EventLoop& loop);
    Status open();
    void register_commands();

    // MagObserver
    void registered(const BindingUpdateListEntry& entry, const TunnelInfo& tunnel) override;
    void registration_settled(const BindingUpdateListEntry& entry) override;
    void deregistered(const BindingUpdateListEntry& entry) override;
    void tunnel_prepared(const BindingUpdateListEntry& entry, const TunnelInfo& tunnel) override;
    void tunnel_unprepared(const BindingUpdateListEntry& entry, const TunnelInfo& tunnel) override;
    // MulticastContext (RFC 7161): the MN link's state in its proxy instance.
    std::vector<mh::ActiveMulticastSubscriptionIpv6> subscriptions(
        const BindingUpdateListEntry& entry) override;
    void apply(const BindingUpdateListEntry& entry,
               const std::vector<mh::ActiveMulticastSubscriptionIpv6>& subscriptions) override;
    // MulticastContext (draft-asaeda PBU-M): the MN's profile channels the
    // instance of its LMA does not receive yet.
    std::vector<mh::MulticastAddressRecord> channels_to_request(const BindingUpdateListEntry& entry) override;
    void lma_channels_changed(const BindingUpdateListEntry& entry) override;
    // The channels joined on an MN's behalf: its profile's here, and those
    // the LMA's profile names (PBU-M answers) that its profile here admits.
    std::vector<MulticastChannel> profile_channels(const BindingUpdateListEntry& entry);

    bool is_access_name(const std::string& name) const;
    void on_link_event(const LinkEvent& event);
    void track(const Link& link);
    void prepare(AccessLink& link);
    void restore(AccessLink& link);
    void remove_access_rule(AccessLink& link);
    std::uint32_t access_table() const { return config_.engine.lma_table_base - 1; }
    void link_up(AccessLink& link);
    void on_solicitation(int ifindex, const std::string& mac, SolicitationKind kind);
    void send_early_query(AccessLink& link);
    void on_captured_mld(int ifindex, std::span<const std::uint8_t> packet,
                         std::optional<std::chrono::system_clock::time_point> received_at);
    void forget_early_query(AccessLink& link);
    std::optional<TimePoint> current_early_query(const AccessLink& link) const;
    mcast::KernelProxy* downstream_proxy(const AccessLink& link);
    bool attach(AccessLink& link, const std::string& mac, const char* how);
    // The access link the MN with `mac` is registered on, when not `ifindex`.
    std::optional<std::string> registered_elsewhere(const std::string& mac, int ifindex) const;
    void send_ra(int ifindex, bool withdraw);
    bool is_attached(int ifindex) const;
    void send_heartbeat_request(const Ipv6Address& lma, std::uint32_t sequence);
    void publish(const BindingEvent& event);
    // The embedded MLD proxy follows the binding events (RFC 6224 section 3).
    void multicast_attached(const BindingEvent& event);
    void apply_profile(mcast::KernelProxy& proxy, const std::string& access_device,
                       const std::vector<MulticastChannel>& channels, const MulticastAdmission& admission);
    mcast::KernelProxy* add_multicast_downstream(const BindingEvent& event,
                                                 std::optional<TimePoint> early_query);
    void multicast_detached(const BindingEvent& event);
    nlohmann::json show_multicast() const;

    nlohmann::json show_mns() const;
    nlohmann::json show_bul(const nlohmann::json& request) const;
    nlohmann::json show_tunnels() const;
    nlohmann::json show_links() const;
    nlohmann::json show_counters() const;
    nlohmann::json attach_command(const nlohmann::json& request);
    nlohmann::json detach_command(const nlohmann::json& request);

    MagdConfig config_;
    EventLoop& loop_;
    bool shut_down_ = false;
    std::uint32_t restart_counter_ = 0;

    std::unique_ptr<RouteManager> routes_;
    std::unique_ptr<LinkConfigurator> link_config_;
    std::unique_ptr<TunnelRules> tunnel_rules_;  // before tunnels_: outlives what releases tunnels
    std::unique_ptr<RefCountingTunnelManager> tunnels_;
    std::unique_ptr<MhSocket> socket_;
    std::unique_ptr<auth::MessageAuthenticator> auth_;              // [lmas] auth
    std::unique_ptr<auth::AuthenticatingTransmitter> transmitter_;  // signs, then socket_
    std::unique_ptr<MagReceiver> receiver_;
    std::unique_ptr<FilePolicyStore> policies_;
    std::unique_ptr<HeartbeatMonitor> heartbeat_;
    std::unique_ptr<RaSocket> ra_socket_;
    std::unique_ptr<RaScheduler> ra_scheduler_;
    std::unique_ptr<MagEngine> engine_;
    std::unique_ptr<MaarEngine> maar_;  // [mag] mode = maar (RFC 8885)
    // MaarObserver
    void prefixes_changed(const MaarServed& served) override;
    void left(const MaarServed& served) override;
    void send_maar_ra(AccessLink& link, RouterAdvertisement& ra);
    nlohmann::json show_maar() const;
    std::unique_ptr<LinkMonitor> links_;
    std::unique_ptr<SolicitationSocket> solicitations_;  // RS / DAD NS
    std::unique_ptr<SolicitationSocket> mld_capture_;    // MLD on access links (multicast on)
    std::unique_ptr<MldQuerySender> mld_query_sender_;
    std::vector<std::uint8_t> early_query_icmp_;  // general_query(multicast.querier), serialized
    std::unique_ptr<ControlServer> control_;

    std::map<int, AccessLink> access_;
    bool access_table_ready_ = false;
    std::map<Ipv6Address, unsigned> lma_bindings_;
    struct McastInstance {
        std::unique_ptr<mcast::KernelProxy> proxy;
        Ipv6Address lma{};
        std::uint32_t table = 0;
    };
    // draft-asaeda's M-Tunnel (multicast.m-tunnel): see multicast_upstream.
    std::string multicast_upstream(const std::string& tunnel_device, const Ipv6Address& lma) const;
    TunnelKey m_tunnel_key(const Ipv6Address& lma) const;
    std::string m_tunnel_name(const Ipv6Address& lma) const;  // its device, made or not
    bool acquire_m_tunnel(const Ipv6Address& lma);
    bool take_m_tunnel(const Ipv6Address& lma);
    void release_m_tunnel(const Ipv6Address& lma);
    // static mode: the LMAs whose M-Tunnel is held until shutdown.
    std::set<Ipv6Address> static_m_tunnels_;
    void refill_spare_program();
    // The instance whose upstream is `tunnel_device`, created if needed;
    // null (error logged and counted) when it cannot be.
    McastInstance* multicast_instance(const std::string& tunnel_device, const Ipv6Address& lma);
    // Removes the instance when nothing uses it any more (no downstream, no
    // registration preparing its tunnel).
    void drop_unused_instance(const std::string& tunnel_device);
    // Registrations of multicast MNs whose first PBA is awaited, by the
    // tunnel device prepared for it (MagObserver::tunnel_prepared).
    std::map<std::string, unsigned> preparing_;
    // (tunnel device, access link) of each registration preparing: the
    // posted build prepares the link only while its registration still is.
    std::set<std::pair<std::string, std::string>> preparing_links_;
    // The instance `access_device` is a downstream of (one at most), or null.
    McastInstance* instance_with_downstream(const std::string& access_device);
    // Per upstream: the tunnel device to an LMA (one per LMA, or one per MN
    // with GRE keys), so an MN with a tunnel of its own never disturbs the
    // instance of the others.
    std::map<std::string, McastInstance> multicast_;
    mcast::Forwarding forwarding_ = mcast::Forwarding::kKernel;  // chosen at start
    // ebpf: a program loaded ahead for the next instance (refill_spare_program).
    std::optional<mcast::LoadedEbpfProgram> spare_program_;
    bool spare_loading_ = false;
    TimerId spare_refill_timer_ = 0;
    static constexpr Duration kSpareRefillDelay = std::chrono::milliseconds(250);
    std::thread spare_loader_;
    std::vector<std::function<void(const BindingEvent&)>> listeners_;
    std::map<std::string, std::uint64_t> counters_;
};

}  // namespace pmip::mag
