// A Mobility Anchor and Access Router of RFC 8885 (distributed mobility
// management; PROTOCOL.md 9.2): magd's `[mag] mode = maar`. An MN that
// attaches gets a prefix of this MAAR's own pool, routed here with no tunnel
// (section 3.1); the MAAR registers it with the CMD (PBU with the D flag and
// the prefix in an HNP option). What the CMD's PBA names in Previous MAAR
// options are prefixes the MN keeps from earlier MAARs: each is reached
// through a tunnel to its P-MAAR (downlink: decapsulated and routed onto the
// MN's link; uplink: a rule sends what the MN sources from it into that
// MAAR's table, whose default route is the tunnel), advertised deprecated
// (preferred lifetime 0, section 3.7) so new flows take the local prefix.
//
// When the MN has moved on, the CMD's PBU with the Serving MAAR option makes
// this MAAR a P-MAAR for the prefix it anchors: the prefix is routed into a
// tunnel to the S-MAAR for `previous_prefix_hold`, after which the MAAR
// de-registers that prefix with the CMD (PBU, lifetime 0, its HNP) and lets
// it go (section 3.5, the second way: a P-MAAR's binding ends, the CMD
// drops it from the MN's list). The S-MAAR keeps the P-MAAR's prefix for
// the same hold (a domain-wide setting). A prefix still in use outlives the
// hold ("for as long as the MN uses them", issue 19): when the hold ends,
// either end keeps it for `previous_prefix_idle` more if its tunnel carried
// packets since the last look, and looks again then. The tunnel's counters
// are per MAAR pair, not per prefix: another MN's traffic between the same
// two MAARs keeps the prefix too (longer, never shorter). The CMD's PBU with lifetime 0 ends
// it at once. An MN coming back to a MAAR that anchors a prefix for it is
// served with that prefix again (no new one).
//
// A detach does not de-register (section 3.5: only the S-MAAR ends the
// session, and an L2 detach must not end the prefix's continuity): the
// state stays for `previous_prefix_hold`; if the CMD has not said by then
// that the MN is served elsewhere, the MAAR de-registers the whole session.
//
// Retransmissions to the CMD as a MAG's (RFC 5213 6.9.4); renewals at
// renewal_fraction of the granted lifetime.
//
// Threading: loop thread only.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "pmip/common/clock.hpp"
#include "pmip/common/ip.hpp"
#include "pmip/common/mh_socket.hpp"
#include "pmip/common/prefix_pool.hpp"
#include "pmip/common/route_manager.hpp"
#include "pmip/common/timers.hpp"
#include "pmip/common/tunnel.hpp"
#include "pmip/mag/mag_engine.hpp"
#include "pmip/mh/messages.hpp"

namespace pmip::mag {

struct MaarConfig {
    Ipv6Address address{};  // this MAAR's global address (PBU source, tunnel endpoint)
    Ipv6Address cmd{};
    Ipv6Prefix pool{};          // the MAAR's own prefixes, exclusive to it (section 3)
    unsigned pool_length = 64;  // one prefix of this length per MN
    std::uint16_t lifetime = 900;  // requested from the CMD, 4 s units
    Duration previous_prefix_hold = std::chrono::seconds(600);
    Duration previous_prefix_idle = std::chrono::seconds(60);  // 0: the hold is fixed
    Duration initial_bindack_timeout = std::chrono::seconds(1);
    Duration max_bindack_timeout = std::chrono::seconds(32);
    double renewal_fraction = 0.8;
    std::uint8_t access_technology_type = 3;
    // One table per P-MAAR: base, base+1, ... (magd: [binding] lma-table-base,
    // above its access table base-1).
    std::uint32_t table_base = 1000;
    // The daemon's access table (magd: lma-table-base - 1), where everything
    // arriving on an access link without a binding's rule ends unreachable:
    // each local prefix gets a "throw default from PREFIX" there, so the
    // MN's packets from it are routed as a plain router's. 0: none.
    std::uint32_t access_table = 0;
    std::uint32_t rule_priority = 1000;
    std::uint32_t route_metric = 1024;
    // As MagConfig's (magd [binding] uplink-routing): a previous MAAR's
    // prefix goes into its tunnel by a source route "default from PREFIX dev
    // TUNNEL" in table table_base behind one rule "lookup table_base", or by
    // a rule "from PREFIX lookup TABLE" into a table per P-MAAR.
    MagConfig::UplinkRouting uplink_routing = MagConfig::UplinkRouting::kRules;
};

// A prefix of ours anchored for an MN.
struct MaarAnchor {
    Ipv6Prefix prefix{};
    std::uint8_t subtype = 1;
    std::string mn_identifier;  // octets
    std::optional<Ipv6Address> serving_elsewhere;  // set: we are a P-MAAR, the prefix goes there
    std::optional<TunnelKey> tunnel;               // to that S-MAAR
    TimerId hold_timer = 0;
    std::uint64_t packets = 0;  // the tunnel's rx + tx at the last look (the hold)
};

// A prefix anchored at a P-MAAR, reached through a tunnel to it.
struct MaarRemote {
    Ipv6Address maar{};
    Ipv6Prefix prefix{};
    TunnelKey tunnel;
    std::uint32_t table = 0;
    TimePoint until{};  // the end of its hold
    std::uint64_t packets = 0;  // the tunnel's rx + tx at the last look
    bool operator==(const MaarRemote&) const = default;
};

enum class MaarState : std::uint8_t { kRegistering, kRegistered, kDetached, kDeregistering };
std::string_view to_string(MaarState state);

// An MN served here (S-MAAR).
struct MaarServed {
    int ifindex = 0;
    std::string interface;
    std::string mac;  // octets
    MobileNodePolicy policy;
    Ipv6Prefix local{};                // anchored here
    std::vector<MaarRemote> remote;    // anchored at P-MAARs
    MaarState state = MaarState::kRegistering;
    std::uint16_t sequence = 0;        // of our last PBU to the CMD
    std::uint16_t lifetime_granted = 0;
    unsigned transmissions = 0;
    Duration retransmit_timeout{};
    TimerId retransmit_timer = 0, renewal_timer = 0, detach_timer = 0, remote_timer = 0;
    bool routed = false;  // the local prefix's route to the MN's link is in
};

// Router advertisements and logging follow these.
class MaarObserver {
public:
    virtual ~MaarObserver() = default;
    // The MN's prefixes changed (registered, a P-MAAR's prefix learnt or
    // gone): advertise `local` preferred, each remote deprecated.
    virtual void prefixes_changed(const MaarServed& served) = 0;
    // No longer served here (moved on, de-registered): stop advertising.
    virtual void left(const MaarServed& served) = 0;
};

struct MaarCounters {
    std::uint64_t attaches = 0;
    std::uint64_t pbu_sent = 0;
    std::uint64_t pbu_retransmitted = 0;
    std::uint64_t pba_accepted = 0;
    std::uint64_t pba_rejected = 0;
    std::uint64_t pba_unmatched = 0;
    std::uint64_t pba_not_dmm = 0;       // the CMD's answer without D (section 4.2): a plain LMA
    std::uint64_t pool_exhausted = 0;
    std::uint64_t remotes_added = 0;     // P-MAAR prefixes reached through a tunnel
    std::uint64_t remotes_expired = 0;
    std::uint64_t holds_extended = 0;    // a hold ended with traffic in the tunnel: kept previous_prefix_idle more
    std::uint64_t became_previous = 0;   // the CMD's PBU with the Serving MAAR option
    std::uint64_t anchors_released = 0;  // prefixes given back to the pool
    std::uint64_t returns = 0;           // an MN back at a MAAR that anchors a prefix for it
    std::uint64_t cmd_pbu_received = 0;
    std::uint64_t cmd_pbu_unknown = 0;   // for a prefix we do not anchor: 128
    std::uint64_t deregistrations = 0;
    std::uint64_t intra_maar_moves = 0;  // an MN's interface moved to another access link of ours
    std::uint64_t data_path_errors = 0;
};

class MaarEngine {
public:
    MaarEngine(MaarConfig config, const PolicyStore& policies, TunnelManager& tunnels, RouteManager& routes,
               Timers& timers, MhSender& sender);
    ~MaarEngine();
    MaarEngine(const MaarEngine&) = delete;
    MaarEngine& operator=(const MaarEngine&) = delete;

    // An MN (link-layer address `mac`, octets) appeared on access link `ifindex`.
    bool attach(int ifindex, const std::string& interface, const std::string& mac);
    void detach(int ifindex);
    // From the CMD: the PBA to our PBU, or its PBU about a prefix we anchor.
    void handle_proxy_binding_acknowledgement(const Ipv6Address& source, const mh::BindingAcknowledgement& pba);
    void handle_proxy_binding_update(const Ipv6Address& source, const Ipv6Address& destination,
                                     const mh::BindingUpdate& pbu);

    void set_observer(MaarObserver* observer) { observer_ = observer; }
    const std::map<int, MaarServed>& served() const { return served_; }
    // The served entry of the MN with link-layer address `mac` (octets), if any.
    const MaarServed* find_by_mac(const std::string& mac) const;
    const std::map<Ipv6Prefix, MaarAnchor>& anchors() const { return anchors_; }
    const MaarConfig& config() const { return config_; }
    const MaarCounters& counters() const { return counters_; }
    // Shutdown: every route and tunnel of ours removed (the CMD is not told).
    void clear();

private:
    std::optional<Ipv6Prefix> allocate(const MobileNodePolicy& policy);
    void release(const Ipv6Prefix& prefix);
    void send_pbu(MaarServed& s, bool retransmission);
    void arm_retransmission(MaarServed& s);
    void registered(MaarServed& s, const mh::BindingAcknowledgement& pba);
    void add_remote(MaarServed& s, const Ipv6Address& maar, const Ipv6Prefix& prefix);
    void remove_remote(int ifindex, const MaarRemote& r);
    void arm_hold(const Ipv6Prefix& prefix, Duration after);
    std::uint64_t tunnel_packets(const TunnelKey& key) const;
    // True (and `packets` updated) when the tunnel carried packets since the
    // last look and the hold is traffic-driven.
    bool still_used(const TunnelKey& key, std::uint64_t& packets);
    void release_tunnel(const TunnelKey& key, const Ipv6Prefix& prefix);
    void expire_remotes(int ifindex);
    void route_local(MaarServed& s, bool add);
    std::vector<RouteRequest> local_requests(RouteOp op, const Ipv6Prefix& local, int ifindex) const;
    std::map<int, MaarServed>::iterator served_by_mac(const std::string& mac);
    bool move_served(std::map<int, MaarServed>::iterator it, int ifindex, const std::string& interface);
    void arm_remote_timer(MaarServed& s);
    void become_previous(MaarAnchor& a, const Ipv6Address& serving);
    void end_anchor(const Ipv6Prefix& prefix, bool tell_cmd);
    MaarServed take_served(std::map<int, MaarServed>::iterator it);
    void end_served(int ifindex, bool deregister);
    void send_prefix_deregistration(const MaarAnchor& a);
    std::uint32_t table_for(const Ipv6Address& maar);
    TunnelKey tunnel_to(const Ipv6Address& maar) const;
    std::string context(const std::string& mn) const;

    MaarConfig config_;
    const PolicyStore& policies_;
    TunnelManager& tunnels_;
    RouteManager& routes_;
    Timers& timers_;
    MhSender& sender_;
    MaarObserver* observer_ = nullptr;
    std::map<int, MaarServed> served_;               // by access ifindex
    std::unordered_map<std::string, int> by_mac_;    // served_'s key by the MN's MAC
    std::map<Ipv6Prefix, MaarAnchor> anchors_;       // ours, by prefix
    std::optional<PrefixPool> pool_;                 // config_.pool split per MN
    std::map<Ipv6Address, std::uint32_t> tables_;    // per P-MAAR
    bool uplink_rule_installed_ = false;             // source routes: the one uplink rule
    std::map<std::uint16_t, int> by_sequence_;       // our PBUs to the CMD -> ifindex
    std::uint16_t next_sequence_ = 1;
    MaarCounters counters_;
};

}  // namespace pmip::mag
