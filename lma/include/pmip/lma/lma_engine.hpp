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
// Binding Revocation, LMA as initiator (RFC 5846 sections 6.1.1, 6.2.2, 6.3,
// 8.1, 11): revoke_mobile_node() sends one BRI per MAG holding the MN's
// sessions (P set, a per-MN trigger, the MN-ID option as the MAG signalled it
// and one HNP option per revoked prefix); revoke_mag() sends one global BRI
// (G and P set, trigger 128 Per-Peer Policy and no options, or trigger 129
// with an MN-ID "@realm" for the sessions of one NAI realm). The revoked
// entries enter BindingState::kRevoking and keep their routes until the BRA
// (matched by sequence number and source) or until BRIMaxRetriesNumber
// retransmissions, doubling from InitMINDelayBRIs up to MAX_BRACK_TIMEOUT,
// went unanswered; then they are deleted. A BRA with a failure status is
// counted and logged and the entries are deleted all the same (section
// 6.2.2 leaves it to local policy: an LMA revocation is an operator
// decision). While an entry is being revoked, a de-registration from its MAG
// is accepted and deletes it at once; any other PBU for it is rejected with
// 129 (section 8.1 race condition, local policy).
//
// Multicast context transfer, RFC 7161 (SIAL; PROTOCOL.md 8.1), when
// config.sial.enabled: a de-registration from the serving MAG with S set
// leaves the MN's Active Multicast Subscription options with the entry
// (section 5.1); a registration from another MAG with S set gets them in its
// PBA (S=1 + options 57). When the new MAG's PBU comes first (reactive,
// section 5.2) and the previous MAG had set S, the LMA sends it a
// Subscription Query and answers the new MAG after the PBA timer (0 by
// default, section 4.4: at once) with S=1 and no options; the new MAG then
// asks with its own Subscription Query, answered when the context arrives
// (the previous MAG's Subscription Response, or its de-registration carrying
// the options, section 5.2.3) or when the query to the previous MAG timed
// out (I=0). A registration with S=0 gets S=0 and nothing else changes.
//
// Counters: PBUs received / accepted / rejected by status / ignored, data
// path failures, sessions created and deleted; revocations started /
// completed by BRA / timed out, BRIs sent and retransmitted, BRAs by status,
// BRAs dropped (unknown sequence, wrong source), sessions revoked.
//
// Threading: loop thread only.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "pmip/common/mh_socket.hpp"
#include "pmip/common/result.hpp"
#include "pmip/common/route_manager.hpp"
#include "pmip/common/timers.hpp"
#include "pmip/common/multicast_profile.hpp"
#include "pmip/common/tunnel.hpp"
#include "pmip/lma/binding_cache.hpp"
#include "pmip/common/prefix_pool.hpp"
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
    bool wants_gre() const { return tunnel_kind == TunnelKind::kGre || gre_keys; }
    // The MN's multicast profile where the LMA decides it (issue 18;
    // draft-zhao network-initiated service, draft-asaeda section 7.1): the
    // channels its MAG joins on its behalf, named in the PBA of every
    // PBU-M (PbuMConfig), and what a PBU-M may ask for it.
    std::vector<MulticastChannel> multicast_channels;
    MulticastAdmission multicast_admission;
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

// RFC 5846 section 11 protocol configuration variables.
struct RevocationConfig {
    Duration initial_timeout = std::chrono::seconds(1);  // InitMINDelayBRIs (>= 0.5 s)
    Duration max_timeout = std::chrono::seconds(2);      // MAX_BRACK_TIMEOUT
    unsigned max_retries = 1;                            // BRIMaxRetriesNumber
};
inline constexpr Duration kMinInitialBriTimeout = std::chrono::milliseconds(500);

// Revocation Trigger values [RFC 5846 section 5.1].
namespace revocation_trigger {
inline constexpr std::uint8_t kUnspecified = 0;
inline constexpr std::uint8_t kAdministrativeReason = 1;
inline constexpr std::uint8_t kInterMagHandoverSameAccessType = 2;
inline constexpr std::uint8_t kInterMagHandoverDifferentAccessType = 3;
inline constexpr std::uint8_t kInterMagHandoverUnknown = 4;
inline constexpr std::uint8_t kUserInitiatedSessionTermination = 5;
inline constexpr std::uint8_t kAccessNetworkSessionTermination = 6;
inline constexpr std::uint8_t kPossibleOutOfSyncBceState = 7;
inline constexpr std::uint8_t kPerPeerPolicy = 128;
inline constexpr std::uint8_t kRevokingMobilityNodeLocalPolicy = 129;
}  // namespace revocation_trigger

// Binding Revocation Acknowledgement status [RFC 5846 section 5.2].
namespace revocation_status {
inline constexpr std::uint8_t kSuccess = 0;
inline constexpr std::uint8_t kPartialSuccess = 1;
inline constexpr std::uint8_t kBindingDoesNotExist = 128;
inline constexpr std::uint8_t kIpv4HomeAddressOptionRequired = 129;
inline constexpr std::uint8_t kGlobalRevocationNotAuthorized = 130;
inline constexpr std::uint8_t kRevokedMobileNodesIdentityRequired = 131;
inline constexpr std::uint8_t kRevocationFailedMnIsAttached = 132;
inline constexpr std::uint8_t kRevocationTriggerNotSupported = 133;
inline constexpr std::uint8_t kRevocationFunctionNotSupported = 134;
inline constexpr std::uint8_t kProxyBindingRevocationNotSupported = 135;
}  // namespace revocation_status

// Names for logs and JSON ("administrative reason", "binding does not exist"),
// "" when unassigned. Triggers 250-255 are "testing".
std::string_view revocation_trigger_name(std::uint8_t trigger);
std::string_view revocation_status_name(std::uint8_t status);
// Parses a trigger given as a number or as its name with spaces or dashes
// ("administrative-reason", "per-peer-policy"); nullopt when neither.
std::optional<std::uint8_t> parse_revocation_trigger(std::string_view text);

// One outstanding revocation: a BRI waiting for its BRA.
struct Revocation {
    std::uint16_t sequence = 0;
    Ipv6Address lma{};  // the BRI's source
    Ipv6Address mag{};  // its destination: the Proxy-CoA [RFC 5846 section 8.1]
    mh::BindingRevocationIndication bri;
    std::vector<SessionId> sessions;  // deleted on the BRA or after the last retry
    unsigned transmissions = 0;       // 1 + retransmissions so far
    Duration timeout{};               // current wait for the BRA
    TimePoint started{};
    TimerId timer = 0;

    bool global() const { return (bri.flags & mh::revocation_flag::kG) != 0; }
};

// The MN-Identifier option of a session as its MAG signalled it (BRIs, RFC
// 7161 queries and responses).
mh::MobileNodeIdentifier signalled_identifier_option(const BindingCacheEntry& entry);

// What a PBA says under RFC 7161: the S flag and the options 57.
struct SialAnswer {
    bool s;
    const std::vector<mh::ActiveMulticastSubscriptionIpv6>* records;
};

// RFC 7161 configuration (lmad [sial]).
struct SialConfig {
    bool enabled = true;
    // Section 4.4 "PBA timer": how long the PBA of a reactive handover waits
    // for the previous MAG's answer. RECOMMENDED 0; at most
    // INITIAL_BINDACK_TIMEOUT (1 s).
    Duration pba_timer{0};
    // Our Subscription Query to the previous MAG: wait per transmission and
    // retransmissions before giving up (RFC 7161 leaves both open).
    Duration query_timeout = std::chrono::milliseconds(500);
    unsigned query_retries = 1;
};
inline constexpr Duration kMaxPbaTimer = std::chrono::seconds(1);
// A delivered context is given again to its MAG's PBUs for this long (a lost
// PBA's retransmission), then forgotten (renewals get S=0).
inline constexpr Duration kRedeliveryWindow = std::chrono::seconds(10);

// draft-asaeda PBU-M (lmad [multicast] pbu-m; PROTOCOL.md 9.1): a
// registration PBU with the flag asks, in its multicast subscription
// options, for channels its MAG does not receive yet; the LMA forwards them
// on that MAG's tunnel before its PBA (LmaObserver::multicast_channels_requested)
// and lists in the PBA the records it took.
struct PbuMConfig {
    bool enabled = false;  // needs the multicast anchor
    std::uint16_t flag = mh::ExtensionCodePoints{}.multicast_subscription_flag;
    std::size_t max_records = 64;  // per PBU; records beyond are refused (counted)
};

// RFC 7077 Update Notification (LmaEngine::profile_changed), section 9's
// variables: MIN_DELAY_BETWEEN_UPDATE_NOTIFICATION_REPLAY (500-5000 ms) and
// MAX_UPDATE_NOTIFICATION_RETRANSMIT_COUNT (0-5).
struct UpdateNotificationConfig {
    Duration replay_delay = std::chrono::milliseconds(1000);
    unsigned max_retransmissions = 1;
};

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
    RevocationConfig revocation;
    SialConfig sial;
    PbuMConfig pbu_m;
    UpdateNotificationConfig update_notification;
    // The M-Tunnel's GRE key (lmad [multicast] m-tunnel-key): never an MN's
    // uplink key.
    std::optional<std::uint32_t> reserved_gre_key;
    // Binding Cache indexes sized for this many sessions at start (0 = grow
    // as needed; growing rehashes them, a pause of tens of ms at 10^6).
    std::size_t expected_bindings = 0;
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
    // A session stopped using `tunnel` (its device name) to `proxy_coa`
    // (deleted, or the old MAG of a handoff). A handoff is make before break:
    // session_bound for the new MAG comes first, then the PBA is sent, then
    // session_unbound for the old one, so `entry` may already hold the new
    // Proxy-CoA.
    virtual void session_unbound(const BindingCacheEntry& entry, const Ipv6Address& proxy_coa,
                                 const std::string& tunnel) = 0;
    // RFC 7161: the MN of `entry` (bound to its new MAG's tunnel already)
    // has these multicast subscriptions; they go to that MAG now (PBA or
    // Subscription Response). The multicast anchor can forward them on the
    // tunnel at once instead of waiting for the MAG's report.
    virtual void multicast_context(const BindingCacheEntry& /*entry*/,
                                   const std::vector<mh::ActiveMulticastSubscriptionIpv6>& /*subscriptions*/) {}
    // draft-asaeda PBU-M: the MAG of `entry` (bound to its tunnel already)
    // asks for these channels (checked Current-State records, IS_IN with
    // sources or IS_EX); called before the PBA that lists them goes out.
    virtual void multicast_channels_requested(const BindingCacheEntry& /*entry*/,
                                              const std::vector<mh::MulticastAddressRecord>& /*records*/) {}
};

struct LmaCounters {
    std::uint64_t pbu_received = 0;
    std::uint64_t pbu_accepted = 0;
    std::uint64_t pbu_ignored = 0;  // RFC says: silently ignore
    std::map<std::uint8_t, std::uint64_t> pbu_rejected;  // by status
    std::uint64_t pbu_waiting = 0;  // held for the old MAG's de-registration
    std::uint64_t pbu_waiting_withdrawn = 0;  // its MAG de-registered while it was held
    std::uint64_t pbu_retransmissions_answered = 0;  // the accepted PBA sent again
    std::uint64_t sessions_created = 0;
    std::uint64_t sessions_reencapsulated = 0;  // encapsulation changed at a registration (policy reload)
    std::uint64_t sessions_deleted = 0;
    std::uint64_t sessions_expired = 0;
    std::uint64_t data_path_errors = 0;  // tunnel or route programming failures
    // Batching across PBUs (begin_batch / end_batch).
    std::uint64_t batches = 0;                  // end_batch() calls that had work
    std::uint64_t batched_route_requests = 0;   // route requests sent in those batches
    std::uint64_t batched_pbas = 0;             // PBAs held until their batch's routes were in
    std::uint64_t batch_sessions_failed = 0;    // sessions deleted: one of their routes failed
    std::uint64_t batch_pbas_rewritten = 0;     // accepted PBAs turned into 130 for that
    // RFC 5846, LMA as initiator.
    std::uint64_t revocations_started = 0;    // one per BRI sequence number
    std::uint64_t revocations_completed = 0;  // a matching BRA arrived
    std::uint64_t revocations_timed_out = 0;  // no BRA after the last retransmission
    std::uint64_t bri_sent = 0;               // first transmissions and retransmissions
    std::uint64_t bri_retransmitted = 0;
    std::uint64_t bra_received = 0;
    std::map<std::uint8_t, std::uint64_t> bra_by_status;
    std::uint64_t bra_unknown_sequence = 0;  // dropped: no outstanding BRI has it
    std::uint64_t bra_wrong_source = 0;      // dropped: not from the BRI's destination
    std::uint64_t sessions_revoked = 0;
    std::uint64_t pbu_during_revocation = 0;  // rejected with 129 (entry being revoked)
    // RFC 7161.
    std::uint64_t sial_contexts_stored = 0;        // options 57 kept from a de-registration
    std::uint64_t sial_contexts_in_pba = 0;        // PBAs that carried a context
    std::uint64_t sial_queries_sent = 0;           // Subscription Queries to previous MAGs
    std::uint64_t sial_query_retransmissions = 0;
    std::uint64_t sial_queries_timed_out = 0;      // no answer after the last retransmission
    std::uint64_t sial_responses_received = 0;
    std::uint64_t sial_responses_unmatched = 0;    // no outstanding query (sequence, source)
    std::uint64_t sial_contexts_from_deregistration = 0;  // a fetch answered by the old MAG's de-registration
    std::uint64_t sial_pbas_held = 0;              // waited for the PBA timer
    std::uint64_t sial_pba_timer_expired = 0;
    std::uint64_t sial_held_pbas_dropped = 0;      // its MN moved on to another MAG meanwhile
    std::uint64_t sial_queries_received = 0;       // from serving MAGs
    std::uint64_t sial_queries_unknown = 0;        // no session of that MN at that MAG
    std::uint64_t sial_responses_sent = 0;         // to serving MAGs
    std::uint64_t sial_responses_with_context = 0;
    std::uint64_t sial_queries_skipped = 0;        // 256 queries outstanding: no sequence number free
    std::uint64_t sial_subscriptions_dropped = 0;  // did not fit a message (the MN's reports restore them)
    // draft-asaeda PBU-M.
    std::uint64_t pbu_m_received = 0;          // accepted registrations that asked for channels
    std::uint64_t pbu_m_records_granted = 0;   // forwarded on the MAG's tunnel, listed in the PBA
    std::uint64_t pbu_m_records_refused = 0;   // not a state, not multicast, link scope, SSM as (*, G), too many
    std::uint64_t pbu_m_ignored = 0;           // the flag while pbu-m is off (answered as a standard LMA)
    std::uint64_t pbu_dmm_refused = 0;         // the D flag (RFC 8885) and no CMD here: 128
    std::uint64_t pbu_m_records_denied = 0;    // asked for, refused by the MN's multicast_policy here
    std::uint64_t pbu_m_profile_records = 0;   // channels of the MN's profile here named in PBAs
    std::uint64_t pbu_m_renewals = 0;          // PBU-Ms re-registering with the same MAG (named, not set up)
    // RFC 7077 Update Notifications (FORCE-REREGISTRATION after a profile change).
    std::uint64_t upn_sent = 0;           // first transmissions
    std::uint64_t upn_retransmitted = 0;  // D = 1: no re-registration within the replay delay
    std::uint64_t upn_reregistered = 0;   // the MAG registered the session again
    std::uint64_t upn_unanswered = 0;     // no re-registration after the last retransmission
    std::uint64_t upa_received = 0;       // acknowledgements (we send A = 0; a MAG may still answer)
    std::uint64_t upa_failed = 0;         // of which with a status >= 128
};

class LmaEngine {
public:
    LmaEngine(LmaConfig config, const PolicyStore& policies, std::vector<PrefixPool> pools,
              TunnelManager& tunnels, RouteManager& routes, Timers& timers, MhSender& sender);
    ~LmaEngine();
    LmaEngine(const LmaEngine&) = delete;
    LmaEngine& operator=(const LmaEngine&) = delete;

    // A PBU (BU with P set) that passed the MH checks, received from `source`
    // to our address `destination`. `identity`, when given, is the identity
    // policy lookup and the Binding Cache use instead of the MN-Identifier
    // option (an identity mapped from the MN-LL-ID for an `oai` MAG); the
    // PBA still echoes the option as received.
    void handle_proxy_binding_update(const Ipv6Address& source, const Ipv6Address& destination,
                                     const mh::BindingUpdate& pbu,
                                     const MobileNodeIdentifier* identity = nullptr);

    // RFC 5846 section 8.1: revokes the active sessions of `mn` (only the one
    // holding `prefix` when given), one BRI per MAG. `trigger` must be a
    // per-MN trigger (below 128, or 250-255 for testing). Returns the
    // revocations started; an error names why none could be (no session,
    // sessions already being revoked or de-registered, bad trigger).
    Expected<std::vector<const Revocation*>> revoke_mobile_node(
        const MobileNodeIdentifier& mn, std::uint8_t trigger = revocation_trigger::kAdministrativeReason,
        std::optional<Ipv6Prefix> prefix = std::nullopt);
    // RFC 5846 section 8.1, global: every active session at MAG `mag` (trigger
    // 128, no options), or with `realm` those whose NAI ends in "@realm"
    // (trigger 129, MN-ID option "@realm").
    Expected<const Revocation*> revoke_mag(const Ipv6Address& mag,
                                           std::optional<std::string> realm = std::nullopt);
    // A Binding Revocation Acknowledgement from `source` [RFC 5846 section 6.2.2].
    void handle_binding_revocation_acknowledgement(const Ipv6Address& source,
                                                   const Ipv6Address& destination,
                                                   const mh::BindingRevocationAcknowledgement& bra);
    const std::map<std::uint16_t, Revocation>& revocations() const { return revocations_; }

    // RFC 7161 section 4.3: a Subscription Query from a serving MAG (answered
    // now, or when the context arrives) and a Subscription Response from a
    // previous MAG to our query. Ignored (counted) when SIAL is disabled.
    void handle_subscription_query(const Ipv6Address& source, const Ipv6Address& destination,
                                   const mh::SubscriptionQuery& query);
    void handle_subscription_response(const Ipv6Address& source, const Ipv6Address& destination,
                                      const mh::SubscriptionResponse& response);
    // RFC 7077 section 5 (issue 18: the LMA decides an MN's channels): the
    // serving MAG of each active session for which `affected` holds, when it
    // takes our channels (its last PBU had the PBU-M flag), is told to
    // register again (FORCE-REREGISTRATION, A = 0 as section 5.1
    // recommends); the PBA to that PBU names the channels of the profile as
    // it is now. Without the re-registration within replay_delay the
    // notification is repeated (D = 1) up to max_retransmissions times.
    // Returns how many sessions were notified.
    std::size_t profile_changed(const std::function<bool(const BindingCacheEntry&)>& affected);
    // An Update Notification Acknowledgement (section 6.2), counted.
    void handle_update_notification_acknowledgement(const Ipv6Address& source,
                                                    const mh::UpdateNotificationAcknowledgement& upa);
    // The multicast context the LMA holds for a session (show, tests);
    // nullptr when none.
    const std::vector<mh::ActiveMulticastSubscriptionIpv6>* multicast_context(SessionId id) const;
    bool multicast_context_pending(SessionId id) const;
    const LmaConfig& config() const { return config_; }

    // Deletes every session (routes, tunnels, prefixes): shutdown.
    void clear();

    // Batching across PBUs (issue 20). The daemon brackets each batch of
    // packets read from the MH socket with these. In between, the route
    // requests of every PBU are collected, each tagged with its session,
    // tunnels let go of wait, and PBAs are held. end_batch() then
    //   1. programs every route of the batch with one RouteManager::apply
    //      (one netlink batch, one answer per request, in order);
    //   2. lets go of the tunnels (after the routes that left them);
    //   3. for each session one of whose route additions failed, does what
    //      an unbatched failure does: the session is deleted (routes,
    //      tunnel, prefixes; data_path_errors counted) and every PBA of the
    //      batch that accepted a registration of it becomes a rejection 130
    //      (Insufficient resources, section 5.3.2 step 6: no binding claims
    //      a route that is not in);
    //   4. sends the PBAs in the order they were made.
    // So a PBA goes out only after the kernel has acknowledged the routes it
    // promises (the netlink answers are read before step 4). Outside a
    // batch (timers, the control socket) everything is done at once as
    // before. Batches do not nest.
    void begin_batch();
    void end_batch();
    bool batching() const { return batch_ != nullptr; }

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
    struct Sial;

    Pbu extract(const Ipv6Address& source, const Ipv6Address& destination,
                       const mh::BindingUpdate& message, const MobileNodeIdentifier* identity);
    void process(const Pbu& pbu);
    const BindingCacheEntry* accepted_before(const Pbu& pbu) const;
    void reject(const Pbu& pbu, std::uint8_t status, std::optional<std::uint64_t> timestamp = {});
    void create_session(const Pbu& pbu, const MobileNodePolicy& policy);
    void update_session(const Pbu& pbu, SessionId id, const MobileNodePolicy& policy);
    void deregister(const Pbu& pbu, SessionId id);
    void wait_for_deregistration(const Pbu& pbu, SessionId id);
    void delete_session(SessionId id);
    void arm_lifetime(BindingCacheEntry& entry);
    void send_pba(const Pbu& pbu, std::uint8_t status, const BindingCacheEntry* entry,
                  std::optional<std::uint64_t> timestamp_override = {},
                  std::optional<std::uint32_t> uplink_key = {},
                  SialAnswer sial = {false, nullptr}, bool renewal = false);
    // RFC 7161 (lma_sial.cpp).
    // A registration from `pbu`'s MAG of `entry`, before its PBA: a held
    // context is delivered, or the previous MAG (`previous`, S as it said)
    // is queried. Returns true when the PBA is held (PBA timer).
    bool sial_registration(const Pbu& pbu, BindingCacheEntry& entry, bool handoff,
                           const Ipv6Address& previous, bool previous_signalling);
    // What a PBA to a registration of `entry` from `mag` carries.
    SialAnswer sial_answer(const BindingCacheEntry& entry, const Ipv6Address& mag, const Pbu& pbu) const;
    // A de-registration of `entry` from `pbu`'s MAG (`serving`: it holds it).
    void sial_deregistration(const Pbu& pbu, const BindingCacheEntry& entry, bool serving);
    void sial_context_arrived(SessionId id, std::vector<mh::ActiveMulticastSubscriptionIpv6> records,
                              const char* how);
    void sial_send_query(SessionId id);
    void sial_query_timeout(SessionId id);
    void sial_release_pba(SessionId id);
    void sial_forget(SessionId id);
    // draft-asaeda PBU-M (lma_sial.cpp): the options of an accepted
    // registration's PBA listing the records granted within `budget` octets
    // (the observer told and counted, unless the PBU is a repeated one).
    mh::Options pbu_m_answer(const Pbu& pbu, const BindingCacheEntry& entry, std::size_t budget, bool renewal);
    void sial_respond(const Ipv6Address& source, const Ipv6Address& destination, std::uint8_t sequence,
                      const mh::Options& echo,
                      const std::vector<mh::ActiveMulticastSubscriptionIpv6>* records);
    // Routes of `session`: applied now, or queued in the batch (all
    // reported done; end_batch() handles failures).
    std::vector<Status> apply_routes(SessionId session, std::vector<RouteRequest> requests);
    // Lets go of a tunnel now, or at the end of the batch.
    void release_tunnel(const TunnelKey& key, const MobileNodeIdentifier& mn, const Ipv6Address& mag);
    void hold_or_send(SessionId session, const Pbu& pbu, mh::BindingAcknowledgement pba);
    struct Batch;
    // What a session's data path holds: its tunnel (by key) to a MAG.
    struct DataPath {
        TunnelKey key;
        Ipv6Address proxy_coa;
    };
    TunnelKey tunnel_key(const BindingCacheEntry& entry, const Ipv6Address& local) const;
    std::optional<DataPath> data_path(const BindingCacheEntry& entry) const;
    bool bind_data_path(const BindingCacheEntry& entry, const Ipv6Address& local);
    void unbind_data_path(const BindingCacheEntry& entry);
    // Lets go of `path`; its routes are deleted unless a newer path of the
    // session has replaced them already (make before break).
    void release_data_path(const BindingCacheEntry& entry, const DataPath& path, bool routes_replaced);
    // A session's tunnel encapsulation (RFC 5845): GRE or ip6ip6, and the keys.
    struct Encapsulation {
        bool gre = false;
        std::optional<std::uint32_t> downlink_key;
        std::optional<std::uint32_t> uplink_key;
        bool operator==(const Encapsulation&) const = default;
    };
    static Encapsulation encapsulation_of(const BindingCacheEntry& entry);
    static void set_encapsulation(BindingCacheEntry& entry, const Encapsulation& encapsulation);
    Encapsulation encapsulation_for(const Pbu& pbu, const MobileNodePolicy& policy,
                                    std::optional<std::uint32_t> uplink_key);
    static std::uint8_t accepted_status(const Pbu& pbu, const BindingCacheEntry& entry);
    // Moves the session's routes onto the tunnel to `proxy_coa` with
    // `encapsulation`; on failure the entry still describes its old path.
    bool move_data_path(BindingCacheEntry& entry, const Ipv6Address& local, const Ipv6Address& proxy_coa,
                        const Encapsulation& encapsulation, std::optional<DataPath>& superseded);
    std::optional<std::vector<Ipv6Prefix>> assign_prefixes(const Pbu& pbu,
                                                           const MobileNodePolicy& policy,
                                                           std::uint8_t& status);
    void release_prefixes(const std::vector<Ipv6Prefix>& prefixes);
    std::uint64_t now_timestamp() const;
    bool mag_authorized(const Ipv6Address& mag, const MobileNodePolicy& policy) const;
    const Revocation* start_revocation(const Ipv6Address& mag, std::vector<SessionId> sessions,
                                       mh::BindingRevocationIndication bri);
    void send_bri(Revocation& revocation);
    void bri_timeout(std::uint16_t sequence);
    void finish_revocation(std::uint16_t sequence, const char* why);
    std::uint16_t free_bri_sequence();
    void revocation_race(const Pbu& pbu, BindingCacheEntry& entry);
    // RFC 7077 (update_notification.cpp).
    struct PendingUpn {
        mh::UpdateNotification message;
        Ipv6Address lma{}, mag{};
        unsigned transmissions = 0;
        TimerId timer = 0;
    };
    void upn_send(SessionId id);
    void upn_reregistered(SessionId id);
    void upn_forget(SessionId id);
    // The MN's policy: the store's, else the default when unknown MNs are served.
    const MobileNodePolicy* policy_of(const MobileNodeIdentifier& mn) const;

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
    std::map<std::uint16_t, Revocation> revocations_;           // by BRI sequence number
    std::unordered_map<SessionId, std::uint16_t> revoking_;     // session -> BRI sequence
    std::unordered_map<SessionId, std::unique_ptr<Sial>> sial_;  // sessions with a context or a query
    std::map<std::uint8_t, SessionId> sial_queries_;             // our outstanding query sequences
    std::uint8_t next_query_sequence_ = 1;
    std::uint16_t next_bri_sequence_ = 1;
    std::unordered_map<SessionId, PendingUpn> upn_;
    std::uint16_t next_upn_sequence_;  // random start (RFC 7077 section 5.1)
    std::uint32_t next_uplink_key_ = 1;
    LmaObserver* observer_ = nullptr;
    std::unique_ptr<Batch> batch_;  // between begin_batch() and end_batch()
};

}  // namespace pmip::lma
