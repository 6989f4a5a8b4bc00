// The LMA engine: Proxy Binding Update processing of RFC 5213 section 5.3
// (PROTOCOL.md sections 2.8-2.12) over the Binding Cache.
//
// Pipeline, in the mandatory order of section 5.3.1: MN-Identifier present
// (160), MAG authorized (154), MN known (153), MN entitled (152), ordering
// (156/157 for timestamps; 135 for sequence numbers, checked against the
// session found in step 13), HNP (158), HI (161), ATT (162), BCE lookup
// (section 5.4.1), then new session / re-registration / handoff /
// de-registration (sections 5.3.2-5.3.5) and the PBA of section 5.3.6 for
// every outcome that is answered. GRE key negotiation per RFC 5845 section
// 5.1 (163, status 2, uplink keys chosen here).
//
// Kernel and network effects go through narrow interfaces with fakes:
// TunnelManager (one tunnel per MAG shared by its sessions), RouteManager
// (one route per HNP into the tunnel, batched), MhSender (PBAs), Timers
// (lifetime, MinDelayBeforeBCEDelete, MaxDelayBeforeNewBCEAssign).
//
// Counters: PBUs received / accepted / rejected by status / ignored, data
// path failures, sessions created and deleted.
//
// Threading: loop thread only.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "pmip/common/mh_socket.hpp"
#include "pmip/common/route_manager.hpp"
#include "pmip/common/timers.hpp"
#include "pmip/common/tunnel.hpp"
#include "pmip/lma/binding_cache.hpp"
#include "pmip/lma/prefix_pool.hpp"
#include "pmip/mh/messages.hpp"

namespace pmip::lma {

// What the policy store says about one mobile node (DESIGN.md section 6).
struct MobileNodePolicy {
    bool proxy_registration_enabled = true;   // false -> 152
    std::vector<Ipv6Prefix> static_prefixes;  // assigned to this MN; else from the pools
    unsigned prefix_count = 1;                // prefixes allocated per new session
    std::vector<Ipv6Prefix> authorized_mags;  // empty = every configured MAG
    TunnelKind tunnel_kind = TunnelKind::kIp6Ip6;
    bool gre_keys = false;  // GRE with keys (RFC 5845); implies kGre
};

class PolicyStore {
public:
    virtual ~PolicyStore() = default;
    virtual const MobileNodePolicy* find(const MobileNodeIdentifier& mn) const = 0;
};

// A map-backed store (tests, and the file-backed store's in-memory form).
class MapPolicyStore final : public PolicyStore {
public:
    const MobileNodePolicy* find(const MobileNodeIdentifier& mn) const override {
        const auto it = policies.find(mn);
        return it == policies.end() ? nullptr : &it->second;
    }
    std::map<MobileNodeIdentifier, MobileNodePolicy> policies;
};

// Sends Mobility Header messages (the raw MH socket in lmad; a recorder in tests).
using ::pmip::MhSender;  // pmip/common/mh_socket.hpp

struct LmaConfig {
    std::vector<Ipv6Prefix> authorized_mags;       // sources allowed to send PBUs
    bool serve_unknown_mobile_nodes = false;       // else 153; served with default_policy
    MobileNodePolicy default_policy;
    std::uint16_t max_lifetime = 900;              // 4 s units (3600 s)
    std::chrono::nanoseconds timestamp_validity_window = std::chrono::milliseconds(300);
    bool mobile_node_generated_timestamps = false;  // MobileNodeGeneratedTimestampInUse
    Duration min_delay_before_bce_delete = std::chrono::milliseconds(10000);
    Duration max_delay_before_new_bce_assign = std::chrono::milliseconds(1500);
    bool new_session_without_waiting = false;  // B3/C2: the RFC's configurable MAY
    Ipv6Address mag_link_local{0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0x02, 0x00, 0x5e, 0xff,
                               0xfe, 0x00, 0x52, 0x13};  // RFC 6543
    std::uint32_t route_metric = 1024;
    std::uint32_t route_table = kMainTable;
};

// Binding events for the rest of lmad: heartbeat peers (RFC 5847 runs while
// a MAG has bindings), the multicast anchor (a MAG's tunnel becomes an MLD
// downstream while it carries sessions, RFC 6224 section 4.3), logging.
class LmaObserver {
public:
    virtual ~LmaObserver() = default;
    // A session now uses `tunnel` towards MAG `proxy_coa` (new session, or
    // the new MAG after a handoff).
    virtual void session_bound(const BindingCacheEntry& entry, const TunnelInfo& tunnel) = 0;
    // A session stopped using its tunnel to `proxy_coa` (deleted, or the old
    // MAG of a handoff). `entry` still holds the old Proxy-CoA.
    virtual void session_unbound(const BindingCacheEntry& entry, const Ipv6Address& proxy_coa) = 0;
};

struct LmaCounters {
    std::uint64_t pbu_received = 0;
    std::uint64_t pbu_accepted = 0;
    std::uint64_t pbu_ignored = 0;  // RFC says: silently ignore
    std::map<std::uint8_t, std::uint64_t> pbu_rejected;  // by status
    std::uint64_t pbu_waiting = 0;  // held for the old MAG's de-registration
    std::uint64_t sessions_created = 0;
    std::uint64_t sessions_deleted = 0;
    std::uint64_t sessions_expired = 0;
    std::uint64_t data_path_errors = 0;  // tunnel or route programming failures
};

class LmaEngine {
public:
    LmaEngine(LmaConfig config, const PolicyStore& policies, std::vector<PrefixPool> pools,
              TunnelManager& tunnels, RouteManager& routes, Timers& timers, MhSender& sender);
    ~LmaEngine();
    LmaEngine(const LmaEngine&) = delete;
    LmaEngine& operator=(const LmaEngine&) = delete;

    // A PBU (BU with P set) that passed the MH checks, received from `source`
    // to our address `destination`.
    void handle_proxy_binding_update(const Ipv6Address& source, const Ipv6Address& destination,
                                     const mh::BindingUpdate& pbu);

    // Deletes every session (routes, tunnels, prefixes): shutdown.
    void clear();

    // Deletes the sessions whose Proxy-CoA is `mag` (a failed or restarted
    // MAG, by policy; revocation). Returns how many.
    std::size_t delete_sessions_of(const Ipv6Address& mag);
    // Deletes one session now (revocation). False if there is no such session.
    bool delete_session_now(SessionId id);

    void set_observer(LmaObserver* observer) { observer_ = observer; }

    const BindingCache& cache() const { return cache_; }
    const LmaCounters& counters() const { return counters_; }

private:
    struct Pbu;
    struct Waiting;

    static Pbu extract(const Ipv6Address& source, const Ipv6Address& destination,
                       const mh::BindingUpdate& message);
    void process(const Pbu& pbu);
    void reject(const Pbu& pbu, std::uint8_t status, std::optional<std::uint64_t> timestamp = {});
    void create_session(const Pbu& pbu, const MobileNodePolicy& policy);
    void update_session(const Pbu& pbu, SessionId id, const MobileNodePolicy& policy);
    void deregister(const Pbu& pbu, SessionId id);
    void wait_for_deregistration(const Pbu& pbu, SessionId id);
    void delete_session(SessionId id);
    void arm_lifetime(BindingCacheEntry& entry);
    void send_pba(const Pbu& pbu, std::uint8_t status, const BindingCacheEntry* entry,
                  std::optional<std::uint64_t> timestamp_override = {},
                  std::optional<std::uint32_t> uplink_key = {});
    TunnelKey tunnel_key(const BindingCacheEntry& entry, const Ipv6Address& local) const;
    bool bind_data_path(const BindingCacheEntry& entry, const Ipv6Address& local);
    void unbind_data_path(const BindingCacheEntry& entry);
    std::optional<std::vector<Ipv6Prefix>> assign_prefixes(const Pbu& pbu,
                                                           const MobileNodePolicy& policy,
                                                           std::uint8_t& status);
    void release_prefixes(const std::vector<Ipv6Prefix>& prefixes);
    std::uint64_t now_timestamp() const;
    bool mag_authorized(const Ipv6Address& mag, const MobileNodePolicy& policy) const;

    LmaConfig config_;
    const PolicyStore& policies_;
    std::vector<PrefixPool> pools_;
    TunnelManager& tunnels_;
    RouteManager& routes_;
    Timers& timers_;
    MhSender& sender_;
    BindingCache cache_;
    LmaCounters counters_;
    std::unordered_map<SessionId, Ipv6Address> local_address_;  // LMA address per session
    std::map<SessionId, std::unique_ptr<Waiting>> waiting_;     // B3 / C2
    std::uint32_t next_uplink_key_ = 1;
    LmaObserver* observer_ = nullptr;
};

}  // namespace pmip::lma
