// MLD proxy instance (pure): one Querier per downstream interface feeding one
// MembershipDatabase, with the instance's Policy applied to what arrives.
//
// Implements the downstream half of RFC 4605 section 3 and 4 for one proxy
// instance (DESIGN.md section 5: the MAG instance per LMA tunnel, the LMA
// instance over its MAG tunnels): the router part of MLD on every downstream
// (querier.hpp), the merged membership database (proxy.hpp, RFC 4605 section
// 4.1), the section 4.2 querier rule for forwarding (a downstream where
// another router won the election gets no traffic), downstreams added and
// removed at run time (a new one starts its querier, so it gets a General
// Query at once, RFC 6224 section 3 step 6; a removed one drops its state and
// its upstream consequences are reported). The upstream host part is left to
// the adapter: it receives upstream_membership_changed() and expresses it (for
// example with MCAST_MSFILTER on the upstream device, or state_change_records()).
//
// The adapter validates packets (checksum, link-local source, hop limit 1,
// Router Alert), drops the instance's own looped-back messages, parses with
// ParseConfig::skip_unknown_record_types and calls receive().
//
// Threading: one thread (the event loop); output callbacks must not call back
// into the instance.
//
// Counters: ProxyInstanceCounters, plus each Querier's and the database's.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "pmip/common/timers.hpp"
#include "pmip/mcast/proxy.hpp"
#include "pmip/mcast/querier.hpp"

namespace pmip::mcast {

class ProxyInstanceOutput {
  public:
    virtual ~ProxyInstanceOutput() = default;
    // Send `query` on `downstream` to `destination` (link-local source, Hop
    // Limit 1, Router Alert).
    virtual void send_query(InterfaceId downstream, const Ipv6Address& destination,
                            const MldMessage& query) = 0;
    // The merged upstream state of `group` changed (INCLUDE {} = leave).
    virtual void upstream_membership_changed(const Ipv6Address& group,
                                             const MembershipState& old_state,
                                             const MembershipState& new_state) = 0;
    // Recompute the forwarding entries of `group` (downstreams_for()).
    virtual void forwarding_changed(const Ipv6Address& /*group*/) {}
    // The same, naming the downstream whose wish changed (forwards_to());
    // the default calls the one above.
    virtual void downstream_forwarding_changed(const Ipv6Address& group,
                                               InterfaceId /*downstream*/) {
        forwarding_changed(group);
    }
};

// One multicast address a downstream listens to, as the Current-State record
// a host would send for it (IS_IN(sources) / IS_EX(excluded sources)); mldv1
// when the address is in MLDv1 compatibility mode there (RFC 3810 8.3.2).
// The form RFC 7161 transfers (option 57).
struct LinkSubscription {
    MulticastAddressRecord record;
    bool mldv1 = false;
    bool operator==(const LinkSubscription&) const = default;
};

// Channels a downstream is subscribed to by configuration rather than by MLD
// (the MN's policy profile: network-initiated service), by multicast address:
// INCLUDE {S...} for (S, G) channels, EXCLUDE {} for (*, G).
using StaticSubscriptions = std::map<Ipv6Address, MembershipState>;

// What one downstream's listeners may join, on top of the instance policy
// (the MN's profile: allowed / denied groups and sources, a limit on its
// groups). max_groups counts the multicast addresses wider than link scope
// that hold state from MLD on the link (0: no limit); static subscriptions
// do not count.
struct DownstreamPolicy {
    Policy policy;
    std::size_t max_groups = 0;
    // The link's own filter table (InterfaceFilter entries matching its
    // name), applied like `policy`, after it.
    Policy link;
};

struct ProxyInstanceCounters {
    std::uint64_t messages_received = 0;
    std::uint64_t messages_unknown_downstream = 0;
    std::uint64_t records_refused = 0;  // records or sources removed by the policy
    std::uint64_t v1_refused = 0;       // MLDv1 Reports / Dones refused by the policy
    std::uint64_t static_set = 0;       // set_static_subscriptions calls on a known downstream
    std::uint64_t static_refused = 0;   // static channels cut down or refused by the policy
    // By a downstream's own policy (set_downstream_policy):
    std::uint64_t downstream_records_refused = 0;  // records or sources removed
    std::uint64_t downstream_v1_refused = 0;       // MLDv1 Reports refused
    std::uint64_t group_limit_refused = 0;         // records / v1 Reports past max_groups
};

class ProxyInstance {
  public:
    ProxyInstance(Timers& timers, ProxyInstanceOutput& output, Policy policy = {},
                  std::string context = {});
    ~ProxyInstance();
    ProxyInstance(const ProxyInstance&) = delete;
    ProxyInstance& operator=(const ProxyInstance&) = delete;

    // Adds a downstream and starts its querier (General Query at once; with
    // `query_sent_at`, Querier::start_after_query: the adapter already sent
    // one then). Returns false when `downstream` already exists.
    bool add_downstream(InterfaceId downstream, const Ipv6Address& link_local,
                        const QuerierConfig& config = {},
                        std::optional<TimePoint> query_sent_at = std::nullopt);
    // Stops its querier, drops its state; upstream changes follow.
    void remove_downstream(InterfaceId downstream);

    // A validated MLD message received on `downstream` from `source`.
    void receive(InterfaceId downstream, const Ipv6Address& source, const MldMessage& message);

    // RFC 4605 section 4.2 (see MembershipDatabase::downstreams_for).
    std::vector<InterfaceId> downstreams_for(
        const Ipv6Address& source, const Ipv6Address& group,
        std::optional<InterfaceId> arrival = std::nullopt) const {
        return database_.downstreams_for(source, group, arrival);
    }
    bool forwards_to(InterfaceId downstream, const Ipv6Address& source, const Ipv6Address& group,
                     std::optional<InterfaceId> arrival = std::nullopt) const {
        return database_.forwards_to(downstream, source, group, arrival);
    }

    const MembershipDatabase& database() const { return database_; }
    const Querier* querier(InterfaceId downstream) const;
    Querier* querier(InterfaceId downstream);
    std::vector<InterfaceId> downstreams() const;
    // Multicast context transfer (RFC 7161): what `downstream` listens to
    // (empty for an unknown downstream), and records set up on it as a
    // report from no listener in particular (the unspecified address, so no
    // tracked listener: RFC 3810 timers keep them only if a listener
    // confirms them), through the policy like any report. Returns false for
    // an unknown downstream.
    std::vector<LinkSubscription> subscriptions(InterfaceId downstream) const;
    bool apply_context(InterfaceId downstream, std::vector<MulticastAddressRecord> records);
    // Network-initiated service (draft-zhao-multimob-pmip6-solution; the MN's
    // policy profile of draft-asaeda section 7.1): replaces the downstream's
    // static subscriptions. They are merged with what its querier learnt
    // from MLD (RFC 3810 section 4.2) before the database sees the
    // downstream's state, so they stay whatever the MN reports or lets
    // expire, until they are replaced or the downstream is removed; then the
    // upstream leaves what nobody else holds. The instance policy applies to
    // them as to reports (what it refuses is counted in static_refused).
    // Returns false for an unknown downstream.
    bool set_static_subscriptions(InterfaceId downstream, StaticSubscriptions subscriptions);
    // Null for an unknown downstream.
    const StaticSubscriptions* static_subscriptions(InterfaceId downstream) const;
    // Replaces the downstream's own policy (the MN's profile): reports are
    // filtered by it after the instance policy (refusals counted), new groups
    // past its max_groups refused (counted), and the state the downstream
    // gives the database, static subscriptions included, is cut to what it
    // admits, at once for the state already held. Returns false for an
    // unknown downstream.
    bool set_downstream_policy(InterfaceId downstream, DownstreamPolicy policy);
    const DownstreamPolicy* downstream_policy(InterfaceId downstream) const;
    const Policy& policy() const { return database_.policy(); }
    // Replaces the instance policy (filter tables) at run time: the state
    // every downstream holds, static subscriptions included, is given to the
    // database again through it, so what it now refuses goes at once
    // (upstream leaves follow). A looser policy gives back at once what the
    // queriers still hold (learnt before a stricter one cut it); reports the
    // old policy refused were never learnt: admitted from the listeners'
    // next reports.
    void set_policy(Policy policy);
    const ProxyInstanceCounters& counters() const { return counters_; }

  private:
    class DatabaseOutput final : public ProxyOutput {
      public:
        explicit DatabaseOutput(ProxyInstanceOutput& out) : out_(out) {}
        void upstream_membership_changed(const Ipv6Address& group, const MembershipState& old_state,
                                         const MembershipState& new_state) override {
            out_.upstream_membership_changed(group, old_state, new_state);
        }
        void forwarding_changed(const Ipv6Address& group) override {
            out_.forwarding_changed(group);
        }
        void downstream_forwarding_changed(const Ipv6Address& group,
                                           InterfaceId downstream) override {
            out_.downstream_forwarding_changed(group, downstream);
        }

      private:
        ProxyInstanceOutput& out_;
    };

    class Link final : public QuerierOutput {
      public:
        Link(ProxyInstance& instance, InterfaceId id) : instance_(instance), id_(id) {}
        void send_query(const Ipv6Address& destination, const MldMessage& query) override;
        void membership_changed(const Ipv6Address& group, const MembershipState& state) override;
        void querier_changed(bool is_querier) override;

      private:
        ProxyInstance& instance_;
        InterfaceId id_;
    };

    struct Downstream {
        std::unique_ptr<Link> link;
        std::unique_ptr<Querier> querier;
        StaticSubscriptions statics;
        DownstreamPolicy policy;
    };

    // The downstream's state for `group`: its querier's `learnt` merged with
    // its static subscription, cut to the downstream's policy.
    MembershipState with_static(InterfaceId downstream, const Ipv6Address& group,
                                const MembershipState& learnt) const;
    // Gives the database the downstream's state of `groups` again.
    void restate(InterfaceId downstream, const Downstream& d, const std::set<Ipv6Address>& groups);
    // Drops the records that would make the downstream hold more than its
    // max_groups groups.
    void enforce_group_limit(const Downstream& d, std::vector<MulticastAddressRecord>& records);

    Timers& timers_;
    ProxyInstanceOutput& output_;
    std::string context_;
    DatabaseOutput database_output_;
    MembershipDatabase database_;
    std::map<InterfaceId, Downstream> downstreams_;
    ProxyInstanceCounters counters_;
};

}  // namespace pmip::mcast
