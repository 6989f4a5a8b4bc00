// The MAG engine: the Binding Update List and the MAG signalling of RFC 5213
// section 6 (PROTOCOL.md sections 2.13-2.17).
//
// attach() on an access link: look up the MN's policy (by its link-layer
// address), create the BUL entry and send a PBU (A|P, MN-ID, HNPs or one
// ALL_ZERO HNP, HI, ATT, Timestamp, MN-LL-ID; section 6.9.1.1), retransmitted
// from INITIAL_BINDACK_TIMEOUT doubling to MAX_BINDACK_TIMEOUT (6.9.4). PBA
// handling per 6.9.2 and the table of PROTOCOL.md 2.14: accepted -> tunnel to
// the LMA, HNP routed on the access link, traffic from the HNP into the
// tunnel through a policy rule and a per-LMA table (6.10), renewal before
// expiry only while the MN is confirmed attached (6.13), binding event to the
// observer (router advertisements, multicast proxy downstreams); 152 stops
// service; 155 retries once asking the LMA to assign; 156/157 re-register;
// any other rejection denies service. detach(): de-registration PBU
// (lifetime 0, HI 4); the entry and its forwarding state go after the PBA or
// after INITIAL_BINDACK_TIMEOUT without one (6.9.1.2).
//
// Rate limit: RFC 6275 section 11.8 bounds BUs "about a particular home
// address to a particular node" to MAX_UPDATE_RATE per second: per BUL entry,
// not per LMA, so thousands of MNs can register at once.
//
// Multicast context transfer, RFC 7161 (SIAL; PROTOCOL.md 8.1), when
// config.multicast_context_transfer and a MulticastContext is set, for MNs
// whose policy admits multicast: PBUs carry S=1; the de-registration of a
// departing MN carries its subscriptions on its link (options 57, S=1 when
// there are any) and they are kept for a while to answer the LMA's
// Subscription Query (reactive handover, section 5.2); a first PBA with S=1
// and options 57 has them applied to the MN's link at once (after the
// observer's registered(), so the link is a proxy downstream); S=1 without
// options makes us ask the LMA with a Subscription Query (sent before
// registered(), so the answer travels while the proxy state is built),
// retransmitted until answered or given up (section 5.3).
//
// Threading: loop thread only. Counters in MagCounters.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <optional>
#include <unordered_map>
#include <string>
#include <vector>

#include "pmip/common/log.hpp"
#include "pmip/common/multicast_profile.hpp"
#include "pmip/common/mh_socket.hpp"
#include "pmip/common/route_manager.hpp"
#include "pmip/common/timers.hpp"
#include "pmip/common/tunnel.hpp"
#include "pmip/mh/messages.hpp"

namespace pmip::mag {

using EntryId = std::uint64_t;

// MulticastChannel, MulticastAdmission: pmip/common/multicast_profile.hpp.

// What the policy store says about one mobile node [RFC 5213 section 6.2].
struct MobileNodePolicy {
    std::uint8_t mn_identifier_subtype = 1;
    std::string mn_identifier;  // octets
    Ipv6Address lma{};
    std::vector<Ipv6Prefix> home_network_prefixes;  // empty: the LMA assigns
    std::uint16_t lifetime = 900;                   // requested, 4 s units
    TunnelKind tunnel_kind = TunnelKind::kIp6Ip6;
    bool gre_keys = false;
    bool multicast = false;  // admissible for the multicast proxy (issue 7)
    std::vector<MulticastChannel> multicast_channels;  // joined for it while attached
    MulticastAdmission multicast_admission;            // what it may join itself
    bool operator==(const MobileNodePolicy&) const = default;
};

class PolicyStore {
public:
    virtual ~PolicyStore() = default;
    // By the MN's link-layer address (as on the access link).
    virtual const MobileNodePolicy* find(const std::string& link_layer_address) const = 0;
};

class MapPolicyStore final : public PolicyStore {
public:
    const MobileNodePolicy* find(const std::string& mac) const override {
        const auto it = policies.find(mac);
        if (it != policies.end()) return &it->second;
        return default_policy ? &*default_policy : nullptr;
    }
    std::map<std::string, MobileNodePolicy> policies;
    std::optional<MobileNodePolicy> default_policy;  // used for MNs not listed
};

using ::pmip::MhSender;  // pmip/common/mh_socket.hpp

enum class BulState : std::uint8_t {
    kRegistering,    // PBU sent, no PBA yet
    kRegistered,     // PBA 0 received; forwarding state installed
    kDeregistering,  // lifetime-0 PBU sent
    kDenied,         // rejected; no service until administrative action
};

std::string_view to_string(BulState state);

// RFC 5213 section 6.1 (with RFC 5845 GRE fields).
struct BindingUpdateListEntry {
    EntryId id = 0;
    int access_ifindex = 0;
    std::string access_interface;
    std::string mn_link_layer_address;  // octets (MAC)
    MobileNodePolicy policy;
    std::vector<Ipv6Prefix> requested_prefixes;  // in the last PBU (empty = ALL_ZERO)
    std::vector<Ipv6Prefix> home_network_prefixes;  // assigned by the LMA
    BulState state = BulState::kRegistering;
    std::uint8_t handoff_indicator = 1;  // of the last PBU
    std::uint16_t sequence = 0;          // of the last PBU
    std::uint64_t timestamp = 0;         // of the last PBU
    std::uint16_t lifetime_granted = 0;
    std::uint8_t last_status = 0;
    bool asked_assignment_after_155 = false;
    bool gre_not_supported = false;  // LMA answered without the option / with status 2
    bool gre_required_by_lma = false;  // LMA answered 163: GRE with keys whatever the policy says
    std::optional<std::uint32_t> uplink_key;    // chosen by the LMA
    std::optional<std::uint32_t> downlink_key;  // chosen by us
    std::optional<TunnelKey> tunnel;            // when forwarding state is installed
    std::optional<TunnelKey> prepared_tunnel;   // made ahead while the first PBU is out
    Duration retransmit_timeout{};
    unsigned transmissions = 0;  // PBUs sent for the current request
    bool reasserted_after_157 = false;  // the current request was re-sent at once after a 157
    TimerId retransmit_timer = 0;
    TimerId renewal_timer = 0;
    TimerId prepare_timer = 0;  // prepare_tunnel, right after attach()
    TimePoint last_sent{};
    std::uint32_t lma_table = 0;  // per-LMA routing table
    // RFC 7161.
    bool multicast_signalling = false;  // S set in our PBUs for this MN
    std::vector<mh::ActiveMulticastSubscriptionIpv6> departing_subscriptions;  // in the de-registration
    std::optional<std::uint8_t> subscription_query;  // our outstanding query's sequence
    unsigned subscription_queries = 0;               // its transmissions
    TimerId subscription_timer = 0;
    // draft-asaeda PBU-M (MagConfig::pbu_m): the current request's PBUs carry
    // the flag (registrations and renewals of a multicast MN), and those of
    // a registration ask the LMA to forward these channels, until its PBA.
    bool pbu_m_sent = false;
    std::vector<mh::MulticastAddressRecord> requested_channels;
    // The channels the LMA's profile names for the MN (granted in the PBA of
    // a PBU-M without our asking): joined on its behalf as those of our own
    // profile are, replaced by each PBA that names them (issue 18).
    std::vector<MulticastChannel> lma_channels;
    // draft-asaeda Figure 6, previous MAG -> new MAG (MagConfig::context_peers):
    // our Subscription Queries to the peer MAGs, and the context one of them
    // answered before our PBA (applied with it).
    std::vector<std::uint8_t> peer_queries;
    TimerId peer_query_timer = 0;
    std::vector<mh::ActiveMulticastSubscriptionIpv6> peer_context;
};

// The MN's multicast subscriptions on its access link, in the form of RFC
// 7161 option 57: the daemon's MLD proxy, a fake in tests.
class MulticastContext {
public:
    virtual ~MulticastContext() = default;
    // What the MN's link holds now (one option per multicast address).
    virtual std::vector<mh::ActiveMulticastSubscriptionIpv6> subscriptions(
        const BindingUpdateListEntry& entry) = 0;
    // Set these up on the MN's link (a proxy downstream by now) as if the MN
    // had reported them; MLD confirms or expires them.
    virtual void apply(const BindingUpdateListEntry& entry,
                       const std::vector<mh::ActiveMulticastSubscriptionIpv6>& subscriptions) = 0;
    // draft-asaeda PBU-M: the channels the MN will hold here at once (its
    // profile's) that this MAG does not receive from the MN's LMA yet, as
    // Current-State records (IS_EX {} for (*, G), IS_IN {S...} for (S, G)).
    virtual std::vector<mh::MulticastAddressRecord> channels_to_request(
        const BindingUpdateListEntry& /*entry*/) {
        return {};
    }
    // The LMA's channels for a registered MN (entry.lma_channels) changed at
    // a re-registration: its link joins and leaves them now.
    virtual void lma_channels_changed(const BindingUpdateListEntry& /*entry*/) {}
};

// Binding events: router advertisements and the multicast proxy follow them.
class MagObserver {
public:
    virtual ~MagObserver() = default;
    // PBA accepted and forwarding installed (first registration or a change
    // of prefixes / tunnel).
    virtual void registered(const BindingUpdateListEntry& entry, const TunnelInfo& tunnel) = 0;
    // After registered() and the multicast context that came with the
    // registration (RFC 7161: the PBA's, or the previous MAG's) is applied
    // to what registered() built: the MN's own MLD messages held since the
    // early query go in now, after the transferred state they are newer
    // than, and off the path from the PBA to the first forwarded stream.
    virtual void registration_settled(const BindingUpdateListEntry& /*entry*/) {}
    // Forwarding state removed (de-registration, denial, lifetime end, shutdown).
    virtual void deregistered(const BindingUpdateListEntry& entry) = 0;
    // The tunnel the first PBA will use, made (down) while the PBU is out
    // (MagConfig::prepare_tunnels): what follows a binding may build on it
    // now (the MLD proxy instance whose upstream it is) instead of after
    // the PBA.
    virtual void tunnel_prepared(const BindingUpdateListEntry& /*entry*/, const TunnelInfo& /*tunnel*/) {}
    // The registration that prepared it is answered or given up; the
    // engine's reference goes right after (a registered binding holds its own).
    virtual void tunnel_unprepared(const BindingUpdateListEntry& /*entry*/, const TunnelInfo& /*tunnel*/) {}
};

struct MagConfig {
    Ipv6Address proxy_coa{};  // the MAG's egress address (tunnel endpoint, PBU source)
    std::uint8_t access_technology_type = 3;  // IEEE 802.3
    // Handoff Indicator of an initial registration when the caller gives
    // none: 4 (unknown) because a MAG seeing an MN appear cannot tell a new
    // attachment from a handover [RFC 5213 section 6.9.1.1; PROTOCOL.md 2.14
    // step 3]. With 1 an LMA that gets no MN-LL-ID must create a new session
    // (new prefix) for a handover (RFC 5213 5.4.1, PROTOCOL.md 2.9 C3); with 4
    // it matches the session or waits for the old MAG's de-registration.
    std::uint8_t attach_handoff_indicator = mh::handoff_indicator::kUnknown;
    bool timestamps = true;                   // TimestampBasedApproachInUse
    Duration initial_bindack_timeout = std::chrono::seconds(1);
    Duration max_bindack_timeout = std::chrono::seconds(32);
    unsigned max_update_rate = 3;  // per entry per second [RFC 6275 section 11.8]
    // Renew when this fraction of the granted lifetime has passed.
    double renewal_fraction = 0.8;
    std::uint32_t lma_table_base = 1000;  // per-LMA tables: base, base+1, ...
    std::uint32_t rule_priority = 1000;
    // How an MN's packets reach its LMA's tunnel (RFC 5213 section 6.10.3;
    // PROTOCOL.md 2.17), chosen by magd at start ([binding] uplink-routing):
    //   kSourceRoutes: per HNP one source-specific route "default from HNP
    //     dev TUNNEL" in table lma_table_base, which one rule "lookup
    //     lma_table_base" (rule_priority) consults for every packet. The
    //     kernel finds a packet's route in a trie, whatever the number of
    //     MNs. Needs the kernel's IPv6 subtrees (CONFIG_IPV6_SUBTREES).
    //   kRules: per LMA a table (lma_table_base + n) holding "default dev
    //     TUNNEL", per HNP a rule "from HNP lookup TABLE" (rule_priority).
    //     The kernel walks rules one by one: an MN's packet passes the rules
    //     of the MNs before its own (bench_magd_scale.sh, 5,000 MNs: 12,270
    //     and 13,093 uplink packets/s against 220,613 and 252,646 with
    //     source routes).
    // Both: per tunnel device a rule "iif TUNNEL lookup main" (rule_priority
    // - 1), kept by TunnelRules (tunnel_rules.hpp) with the device's
    // references: what comes out of a tunnel goes to the access link of its
    // destination (section 6.10.5) and never back into a tunnel by its
    // source. magd gives it to the TunnelManager both engines share.
    enum class UplinkRouting : std::uint8_t { kRules, kSourceRoutes };
    UplinkRouting uplink_routing = UplinkRouting::kRules;
    bool source_routes() const { return uplink_routing == UplinkRouting::kSourceRoutes; }
    std::uint32_t route_metric = 1024;
    // Tunnel made ahead of the first PBA (magd [tunnel] prepare; ip6ip6 only).
    bool prepare_tunnels = true;
    // RFC 7161 (magd [multicast] context-transfer).
    bool multicast_context_transfer = true;
    // Our Subscription Query to the LMA: it answers when its own query to
    // the previous MAG is answered or given up (lmad: 2 x 500 ms), so ours
    // outlasts that.
    Duration subscription_query_timeout = std::chrono::milliseconds(500);
    unsigned subscription_query_retries = 3;
    // How long a departed MN's subscriptions answer the LMA's query.
    Duration departed_context_hold = std::chrono::seconds(10);
    // draft-asaeda PBU-M (magd [multicast] pbu-m): a registration's PBUs
    // carry the flag and the multicast subscription option with the
    // channels MulticastContext::channels_to_request names (PROTOCOL.md 9.1;
    // the code points are mh::ExtensionCodePoints, the flag repeated here).
    // draft-asaeda Figure 6, the previous MAG's context straight to the new
    // MAG (magd [multicast] context-peer): at an MN's attach we ask these
    // MAGs with RFC 7161 Subscription Queries (MN-ID) and apply the context
    // the one that had the MN answers (I=1) to the MN's link at the PBA, or
    // at once when it is later; their queries about MNs that were here are
    // answered as the LMA's are. Works with an LMA without SIAL.
    std::vector<Ipv6Address> context_peers;
    Duration peer_query_timeout = std::chrono::milliseconds(500);  // one try each
    bool pbu_m = false;
    std::uint16_t pbu_m_flag = mh::ExtensionCodePoints{}.multicast_subscription_flag;
    // Octets of records one PBU carries at most; channels beyond are left
    // to the MLD reports through the tunnel (counted).
    std::size_t pbu_m_max_octets = 1024;
    // The M-Tunnel's GRE key (magd [multicast] m-tunnel-key): never an MN's
    // downlink key.
    std::optional<std::uint32_t> reserved_gre_key;
};

// The per-prefix uplink object of MagConfig::UplinkRouting (MagEngine's HNPs,
// MaarEngine's previous MAARs' prefixes): "default from PREFIX dev TUNNEL" in
// `table`, or the rule "from PREFIX lookup TABLE" at `priority`. A delete
// with `tunnel_ifindex` 0 matches the route whatever its device.
RouteRequest uplink_request(RouteOp op, bool source_routes, const Ipv6Prefix& prefix, int tunnel_ifindex,
                            std::uint32_t table, std::uint32_t priority, std::uint32_t metric,
                            RouteType type = RouteType::kUnicast);

struct MagCounters {
    std::uint64_t attaches = 0;
    std::uint64_t attach_without_policy = 0;  // MN not in the policy store: no service
    std::uint64_t intra_mag_moves = 0;  // an MN's interface on another of our links: old entry retired
    std::uint64_t gre_required_by_lma = 0;  // 163 answered by sending the GRE Key option (RFC 5845 4.2)
    std::uint64_t pbu_sent = 0;
    std::uint64_t pbu_retransmitted = 0;
    std::uint64_t pba_accepted = 0;
    std::map<std::uint8_t, std::uint64_t> pba_rejected;  // by status
    std::uint64_t pba_unmatched = 0;     // no outstanding PBU matches
    std::uint64_t pba_dmm_ignored = 0;   // D flag set (RFC 8885 4.2: a MAG ignores it)
    std::uint64_t pba_mismatched = 0;    // HI/ATT/MN-LL-ID/MN-ID differ from the request
    std::uint64_t renewals = 0;
    std::uint64_t renewals_skipped_detached = 0;
    std::uint64_t deregistrations = 0;
    std::uint64_t deregistration_timeouts = 0;
    std::uint64_t data_path_errors = 0;
    std::uint64_t tunnels_prepared = 0;        // made (down) while a first PBU was out
    std::uint64_t tunnel_preparation_errors = 0;  // not made ahead: made at the PBA instead
    std::uint64_t bri_received = 0;
    std::uint64_t bri_discarded = 0;           // non-unicast source [RFC 5846 section 6.1.2]
    std::uint64_t bindings_revoked = 0;
    std::map<std::uint8_t, std::uint64_t> bra_sent;  // by status
    // RFC 7161.
    std::uint64_t sial_contexts_sent = 0;        // de-registrations carrying options 57
    std::uint64_t sial_contexts_applied = 0;     // contexts set up on an MN's link
    std::uint64_t sial_subscriptions_applied = 0;
    std::uint64_t sial_pba_without_context = 0;  // S=1 and no options: we ask
    std::uint64_t sial_queries_sent = 0;
    std::uint64_t sial_query_retransmissions = 0;
    std::uint64_t sial_queries_timed_out = 0;
    std::uint64_t sial_responses_received = 0;
    std::uint64_t sial_responses_unmatched = 0;
    std::uint64_t sial_queries_received = 0;     // from the LMA (reactive handover)
    std::uint64_t sial_queries_unknown = 0;      // no such MN here, now or lately
    std::uint64_t sial_responses_sent = 0;
    std::uint64_t sial_responses_with_context = 0;
    std::uint64_t sial_queries_skipped = 0;  // 256 queries outstanding: no sequence number free
    // draft-asaeda PBU-M.
    std::uint64_t pbu_m_sent = 0;               // registrations whose PBU asked for channels
    std::uint64_t pbu_m_records_requested = 0;
    std::uint64_t pbu_m_records_not_sent = 0;   // beyond pbu_m_max_octets: left to MLD
    std::uint64_t pbu_m_answered = 0;           // the PBA named the channels the LMA forwards
    std::uint64_t pbu_m_records_granted = 0;
    std::uint64_t pbu_m_unanswered = 0;         // accepted without the option: an LMA without PBU-M
    std::uint64_t pbu_m_lma_channel_changes = 0;  // the LMA's profile channels for an MN changed
    // RFC 7077 Update Notifications from LMAs.
    std::uint64_t upn_received = 0;
    std::uint64_t upn_duplicates = 0;       // same sequence number without D: not a new request
    std::uint64_t upn_reregistrations = 0;  // FORCE-REREGISTRATION: PBUs sent at once
    std::uint64_t upn_unknown_mn = 0;       // no registered binding with that LMA matches
    std::uint64_t upn_unsupported = 0;      // a reason we cannot act on (status 128/129/131)
    std::uint64_t upa_sent = 0;
    // draft-asaeda Figure 6 (context_peers).
    std::uint64_t peer_queries_sent = 0;
    std::uint64_t peer_contexts_received = 0;   // answers with I=1
    std::uint64_t peer_contexts_applied = 0;
    std::uint64_t peer_responses_empty = 0;     // I=0: the MN was not there
    std::uint64_t peer_queries_timed_out = 0;   // no answer at all from a peer
    std::uint64_t peer_queries_received = 0;    // from peer MAGs (answered as the LMA's are)
    std::uint64_t peer_responses_unmatched = 0; // no outstanding query (sequence, source), or the MN left
};

class MagEngine {
public:
    // `is_attached(ifindex)` confirms an MN is still on its link before a
    // renewal or retransmission [RFC 5213 sections 6.9.4, 6.13].
    MagEngine(MagConfig config, const PolicyStore& policies, TunnelManager& tunnels,
              RouteManager& routes, Timers& timers, MhSender& sender,
              std::function<bool(int ifindex)> is_attached);
    ~MagEngine();
    MagEngine(const MagEngine&) = delete;
    MagEngine& operator=(const MagEngine&) = delete;

    // An MN appeared on access link `ifindex`. `handoff_indicator` is the
    // hint of section 6.9.1.1 (default: config.attach_handoff_indicator; 3
    // only when the access technology tells us for sure it is a handover).
    // Returns false when the MN gets no service (no policy, or already
    // attached).
    bool attach(int ifindex, const std::string& interface, const std::string& mac,
                std::optional<std::uint8_t> handoff_indicator = std::nullopt);
    // The MN left access link `ifindex`: de-register.
    void detach(int ifindex);
    void handle_proxy_binding_acknowledgement(const Ipv6Address& source,
                                              const mh::BindingAcknowledgement& pba);
    // Binding Revocation Indication from an LMA [RFC 5846 sections 6.1.2, 9.1]:
    // identifies the bindings (MN-ID, or every binding with `source` for a
    // global per-peer revocation), removes their forwarding state without a
    // de-registration PBU and answers with a BRA. An administratively
    // revoked MN stays denied on its link until it detaches (or an
    // operator detaches it); an MN revoked for an inter-MAG handover must
    // have left (else status 132).
    void handle_binding_revocation_indication(const Ipv6Address& source,
                                              const mh::BindingRevocationIndication& bri);
    // The LMA lost its state (heartbeat restart counter): register every MN
    // of that LMA again.
    void reregister_all(const Ipv6Address& lma);
    // Shutdown: remove every forwarding state (no signalling).
    void clear();

    // RFC 7161 section 4.3: the LMA asks for a departing MN's subscriptions;
    // the LMA answers our query.
    void handle_subscription_query(const Ipv6Address& source, const mh::SubscriptionQuery& query);
    void handle_subscription_response(const Ipv6Address& source,
                                      const mh::SubscriptionResponse& response);
    // RFC 7077 section 6: an Update Notification from an LMA.
    void handle_update_notification(const Ipv6Address& source, const mh::UpdateNotification& upn);

    void set_observer(MagObserver* observer) { observer_ = observer; }
    void set_multicast_context(MulticastContext* context) { multicast_context_ = context; }
    const std::map<EntryId, BindingUpdateListEntry>& entries() const { return entries_; }
    const BindingUpdateListEntry* find_by_interface(int ifindex) const;
    // The entry of the MN with link-layer address `mac` (octets), if any.
    const BindingUpdateListEntry* find_by_mac(const std::string& mac) const;
    // A policy change that needs no new registration (only the profile's
    // multicast channels or admission differ): the entry's policy updated in
    // place. False when the entry is unknown or more than those changed.
    bool update_policy_in_place(EntryId id, const MobileNodePolicy& policy);
    const MagCounters& counters() const { return counters_; }

private:
    void send_pbu(BindingUpdateListEntry& e, bool retransmission);
    void arm_retransmission(BindingUpdateListEntry& e);
    void retransmit(EntryId id);
    void schedule_renewal(BindingUpdateListEntry& e);
    void renew(EntryId id);
    void accepted(BindingUpdateListEntry& e, const mh::BindingAcknowledgement& pba);
    void deny(BindingUpdateListEntry& e, std::uint8_t status);
    bool install_forwarding(BindingUpdateListEntry& e, TunnelInfo& tunnel);
    bool move_registered(BindingUpdateListEntry& e, int ifindex, const std::string& interface);
    // The HNP's on-link route on the MN's access link (section 6.10), in main.
    Route access_route(const Ipv6Prefix& prefix, int access_ifindex) const;
    void remove_forwarding(BindingUpdateListEntry& e);
    void prepare_tunnel(BindingUpdateListEntry& e);
    void release_prepared_tunnel(BindingUpdateListEntry& e);
    void erase(EntryId id);
    void cancel_timers(BindingUpdateListEntry& e);
    std::uint32_t table_for(const Ipv6Address& lma);
    std::uint64_t now_timestamp() const;
    TunnelKey tunnel_key(const BindingUpdateListEntry& e) const;
    // GRE for this session: its policy asks for it, or the LMA required it
    // (163), and the LMA has not declined it (RFC 5845 section 4.2).
    static bool uses_gre(const BindingUpdateListEntry& e);
    // RFC 7161.
    // The PBA's context to apply (after registered()), or none; sends our
    // Subscription Query when the PBA has S=1 without one.
    std::vector<mh::ActiveMulticastSubscriptionIpv6> sial_accepted(BindingUpdateListEntry& e,
                                                                   const mh::BindingAcknowledgement& pba);
    void sial_apply(BindingUpdateListEntry& e,
                    const std::vector<mh::ActiveMulticastSubscriptionIpv6>& subscriptions,
                    const std::string& how);
    void sial_send_query(EntryId id);
    void sial_stop_query(BindingUpdateListEntry& e);
    void sial_remember_departed(const BindingUpdateListEntry& e);
    std::optional<std::uint8_t> sial_free_sequence() ;
    void peer_send_queries(EntryId id);
    void peer_stop_queries(BindingUpdateListEntry& e);
    bool peer_response(const Ipv6Address& source, const mh::SubscriptionResponse& response);
    bool is_context_peer(const Ipv6Address& a) const;
    // draft-asaeda PBU-M (mag_sial.cpp).
    void pbu_m_add(BindingUpdateListEntry& e, mh::BindingUpdate& pbu, bool retransmission);
    bool pbu_m_answered(BindingUpdateListEntry& e, const mh::BindingAcknowledgement& pba);

    MagConfig config_;
    const PolicyStore& policies_;
    TunnelManager& tunnels_;
    RouteManager& routes_;
    Timers& timers_;
    MhSender& sender_;
    std::function<bool(int)> is_attached_;
    MagObserver* observer_ = nullptr;
    MulticastContext* multicast_context_ = nullptr;
    struct Departed {
        std::vector<mh::ActiveMulticastSubscriptionIpv6> subscriptions;
        std::vector<Ipv6Prefix> prefixes;
        TimePoint until{};
    };
    // By (LMA, MN identifier): departed MNs' subscriptions (bounded).
    std::map<std::pair<Ipv6Address, std::string>, Departed> departed_;
    std::map<std::uint8_t, EntryId> subscription_queries_;  // our outstanding queries
    std::map<std::uint8_t, std::pair<EntryId, Ipv6Address>> peer_queries_;  // to context peers
    std::uint8_t next_query_sequence_ = 1;
    std::map<EntryId, BindingUpdateListEntry> entries_;
    std::map<int, EntryId> by_interface_;
    // By MN link-layer address: its latest entry (an interface moving between
    // this MAG's links, RFC 5213 section 6.9.1.1).
    std::unordered_map<std::string, EntryId> by_mac_;
    std::unordered_map<std::uint16_t, EntryId> by_sequence_;  // of each entry's last PBU
    std::map<Ipv6Address, std::uint32_t> lma_tables_;
    // Shared forwarding state (MagConfig::uplink_routing): the uplink rule
    // (source routes). Each tunnel's own rule: TunnelRules.
    bool uplink_rule_installed_ = false;
    // RFC 7077 section 6.1: the last Update Notification of each LMA (its
    // sequence number, and the status our acknowledgement carried).
    std::map<Ipv6Address, std::pair<std::uint16_t, std::uint8_t>> last_upn_;
    MagCounters counters_;
    log::RateLimit dmm_log_{1, std::chrono::seconds(10)};  // PBAs with D (pba_dmm_ignored)
    EntryId next_id_ = 1;
    std::uint16_t next_sequence_ = 1;  // per-MAG counter (section 6.9.1.1, timestamp scheme)
    std::uint64_t last_timestamp_ = 0;
    std::uint32_t next_downlink_key_ = 1;
};

}  // namespace pmip::mag
