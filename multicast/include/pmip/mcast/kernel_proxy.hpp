// KernelProxy: one MLD proxy instance on the real kernel, the library magd
// and lmad embed (DESIGN.md section 5; RFC 4605; RFC 6224 sections 3, 4.2).
//
// It wires the pure ProxyInstance (one RFC 3810 querier per downstream, the
// RFC 4605 section 4.1 membership database, the allow/deny policy) to four
// narrow adapters, each with a fake for tests:
//   MldSocket           MLD in and out on the downstreams; received messages
//                       are checked here first: arrival on a downstream of
//                       this instance, link-local source, Hop Limit 1, Router
//                       Alert (RFC 3810 sections 6.2, 7.4; RFC 2710 section
//                       3), not sent by this router (looped back), checksum
//                       (RFC 4443 section 2.3), then parsed with unknown record
//                       types skipped (RFC 3810 section 5.2.12). Every drop is
//                       counted by reason.
//   UpstreamMembership  the merged database as host membership on the
//                       upstream (RFC 4605 section 4.1), so the kernel's host
//                       MLD reports it and answers the upstream querier; SSM
//                       state goes upstream as INCLUDE. Each change is also
//                       reported at once through MldSocket from the upstream
//                       link-local (the kernel's own State Change Report
//                       follows two jiffies later), see report_upstream_change.
//   MulticastRouter     the instance's own MRT6 table: MIF 0 = upstream, one
//                       MIF per downstream; (S,G) entries installed on
//                       NOCACHE upcalls and updated on *every* membership
//                       change (a listener joining while data flows gets it
//                       as soon as its report is processed, no cache-miss
//                       wait); entries with no packets for mfc_idle_timeout
//                       removed (the next packet brings a new upcall).
//                       Forwarding per RFC 4605 section 4.2: traffic from the
//                       upstream goes to the downstreams that want (S,G) and
//                       where this proxy is the querier; traffic from a
//                       downstream goes to the upstream and to the other
//                       downstreams that want it.
//   RouteManager        one ip6mr rule (RTNL_FAMILY_IP6MR) "iif IF lookup
//                       TABLE" per interface, so packets arriving on the
//                       instance's interfaces use its table (instances are
//                       isolated; their interfaces must be disjoint).
//   InterfaceDirectory  names, ifindexes, link-local addresses (a downstream
//                       whose link-local address is still tentative waits,
//                       polled after 1 ms, then at doubling intervals up to
//                       link_local_retry (a new tunnel's address is usually
//                       usable within a millisecond), before its querier
//                       starts: queries need a valid link-local source,
//                       RFC 3810 section 5.1.14; MLD arriving meanwhile is
//                       kept, up to kMaxHeld messages, for the start).
// Downstreams are added and removed at run time: a new one gets a General
// Query at once (RFC 6224 section 3 step 6); a removed one drops its state,
// its (S,G) outputs, its MIF and its rule, and the upstream leaves what it
// alone held (RFC 6224 section 6: no stale state). The destructor removes
// every entry, MIF and rule and leaves every upstream group.
//
// Kernel limits: an ip6mr table holds at most 32 MIFs (MAXMIFS), so a kernel
// instance has at most 31 downstreams; a MIF's device needs ifindex <= 65535.
//
// Threading: one thread (the event loop). Counters: KernelProxyCounters,
// plus the ProxyInstance's, the database's and each querier's (all in show()).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "pmip/common/result.hpp"
#include "pmip/common/route_manager.hpp"
#include "pmip/common/timers.hpp"
#include "pmip/mcast/ebpf_multicast_router.hpp"
#include "pmip/mcast/interface_directory.hpp"
#include "pmip/mcast/mld_socket.hpp"
#include "pmip/mcast/multicast_router.hpp"
#include "pmip/mcast/proxy_instance.hpp"
#include "pmip/mcast/upstream_membership.hpp"
#include "pmip/mcast/upstream_rules.hpp"

namespace pmip {
class EventLoop;
}

namespace pmip::mcast {

// An upstream before the main one (upstream_rules.hpp): an interface toward
// another multicast router (magd's direct upstream) and the channels it takes.
struct ExtraUpstreamConfig {
    std::string name;                    // interface name
    std::vector<SourceGroupRule> rules;  // empty: every channel
};

struct KernelProxyConfig {
    std::string name;                    // instance name, for logs and show ("lma1")
    std::uint32_t table = 0;             // MRT6 table id (required, not 0)
    std::string upstream;                // upstream interface name, or
    int upstream_ifindex = 0;            //   its ifindex (used when non-zero)
    // Several upstreams (upstream_rules.hpp): these come first in match
    // order, each with its own MIF, rule and host membership; the main
    // upstream above is last, with upstream_rules (empty: every channel).
    std::vector<ExtraUpstreamConfig> extra_upstreams;
    std::vector<SourceGroupRule> upstream_rules;
    UpstreamMatching matching = UpstreamMatching::kFirst;
    // mutex: a source's data stays with the upstream it comes from until
    // that one brings no packet for this long, then the next packet from any
    // upstream that takes it decides.
    Duration mutex_timeout = std::chrono::milliseconds(500);
    // false: no MLD on the downstreams (draft-zhao's MAG as a plain MLD
    // listener, magd's mode = listener): no query is sent there, their
    // router groups are not joined, MLD received there anyway is dropped
    // (counted), so their state comes only from set_static_subscriptions
    // (the MN's profile) and apply_context.
    bool downstream_mld = true;
    // RFC 7287 peerings (PeeringConfig above), and the data-driven timer.
    std::vector<PeeringConfig> peerings;
    Duration peering_data_timeout = std::chrono::milliseconds(50);
    QuerierConfig querier;               // robustness, timers, version, tracking (all downstreams)
    Policy policy;                       // allow / deny lists of groups and (S,G)
    // Per-interface filter tables (proxy.hpp InterfaceFilter): a downstream's
    // in its DownstreamPolicy::link, an upstream's on what is reported there
    // and taken from there (and what a downstream's data sends there).
    std::vector<InterfaceFilter> interface_filters;
    std::uint32_t rule_priority = 1000;  // of the ip6mr rules
    Duration mfc_idle_timeout = std::chrono::seconds(60);
    Duration link_local_retry = std::chrono::milliseconds(200);
    // Forwarding backend (create(loop, ...) only): ebpf, kernel (ip6mr), or
    // auto (ebpf when its program loads, else kernel). Daemons resolve auto
    // once with choose_forwarding() and pass the result.
    Forwarding forwarding = Forwarding::kAuto;
    std::uint32_t filter_handle = 0;  // ebpf tc filter handle; 0: the table
    EbpfRouterLimits ebpf_limits;     // ebpf: map sizes, the unresolved queue
};

// Empty when valid, else what is wrong ("table must not be 0").
std::string validate(const KernelProxyConfig& config);

struct KernelProxyCounters {
    // MLD received on the socket, and why messages were dropped.
    std::uint64_t mld_received = 0;
    std::uint64_t mld_accepted = 0;
    std::uint64_t drop_not_downstream = 0;      // arrived on an interface that is not ours
    std::uint64_t held_waiting_link_local = 0;  // downstream not started yet: processed at its start
    std::uint64_t drop_waiting_link_local = 0;  // the same, kMaxHeld already held
    std::uint64_t drop_own_message = 0;         // our own, looped back
    std::uint64_t drop_source_not_link_local = 0;
    std::uint64_t drop_hop_limit = 0;  // Hop Limit not 1 (or unknown)
    std::uint64_t drop_no_router_alert = 0;
    std::uint64_t drop_bad_checksum = 0;
    std::uint64_t drop_parse_error = 0;
    std::uint64_t drop_downstream_mld_off = 0;  // downstream_mld = false
    std::uint64_t unknown_records_skipped = 0;
    // MLD sent.
    std::uint64_t queries_sent = 0;
    std::uint64_t query_send_errors = 0;
    std::uint64_t query_serialize_errors = 0;
    std::uint64_t queries_not_sent_no_link_local = 0;
    std::uint64_t queries_not_sent_mld_off = 0;  // downstream_mld = false
    // Upstream host membership.
    std::uint64_t upstream_changes = 0;
    std::uint64_t upstream_errors = 0;
    std::uint64_t upstream_link_scope_skipped = 0;  // scope <= 2 groups: never joined upstream
    std::uint64_t upstream_reports_sent = 0;  // our immediate State Change Reports (RFC 3810 6.1)
    std::uint64_t upstream_report_errors = 0;
    std::uint64_t upstream_reports_not_sent_no_link_local = 0;  // the kernel's report still goes
    // Kernel upcalls.
    std::uint64_t upcalls = 0;
    std::uint64_t upcalls_nocache = 0;
    std::uint64_t upcalls_unknown_mif = 0;
    std::uint64_t upcalls_other = 0;       // WRONGMIF / WHOLEPKT / unknown types (ignored)
    std::uint64_t upcalls_unroutable = 0;  // link-local / non-multicast group (ignored)
    // MFC.
    std::uint64_t mfc_adds = 0;     // new (S,G) entries
    std::uint64_t mfc_updates = 0;  // changed outputs of an existing entry
    std::uint64_t mfc_deletes = 0;
    std::uint64_t mfc_idle_expired = 0;
    std::uint64_t mfc_errors = 0;
    std::uint64_t mfc_preinstalled = 0;  // (S,G) of a named source, before its data (ebpf)
    // (*,G) entries (backends that hold them: ebpf).
    std::uint64_t group_entry_updates = 0;
    std::uint64_t group_entry_errors = 0;
    // Downstreams.
    std::uint64_t downstreams_added = 0;
    std::uint64_t downstreams_removed = 0;
    std::uint64_t rule_errors = 0;
    // The adapter's early General Query (add_downstream with its time).
    std::uint64_t early_queries_adopted = 0;    // counted as the first startup query
    std::uint64_t early_queries_too_old = 0;    // an ordinary start followed (query at once)
    // Messages captured outside the MLD socket (receive_captured; then
    // counted like socket ones from mld_received on).
    std::uint64_t captured_received = 0;
    std::uint64_t context_records = 0;  // records set up by apply_context (RFC 7161)
    std::uint64_t downstreams_prepared = 0;       // prepare_downstream: kernel state made ahead
    std::uint64_t downstreams_prepared_used = 0;  // ... then taken over by add_downstream
    std::uint64_t downstreams_unprepared = 0;     // ... or undone
    // RFC 7287 peerings.
    std::uint64_t peering_mld_accepted = 0;       // the peer's MLD, to the peering querier
    std::uint64_t peering_queries_sent = 0;
    std::uint64_t peering_membership_changes = 0;  // our host membership there
    std::uint64_t peering_reports_sent = 0;        // our immediate State Change Reports there
    std::uint64_t peering_errors = 0;              // membership, report or query not done
    std::uint64_t peer_subscription_changes = 0;   // the peer's state (restricted downstream)
    std::uint64_t upstream_reports_waited = 0;     // a new group's upstream report held report_wait
    std::uint64_t peered_sources = 0;              // sources taken over a peering (left out upstream)
    std::uint64_t peered_sources_expired = 0;      // data-driven timer: back to the upstream
    std::uint64_t peered_sources_rehomed = 0;      // an upstream entry's source came over the peering
    std::uint64_t peering_mld_not_started = 0;     // the peer's MLD before our link-local was usable
    std::uint64_t upstream_sources_waited = 0;     // a new source of a held group held report_wait
    std::uint64_t mutex_releases = 0;  // mutex: a silent upstream let go of a source
};
nlohmann::json to_json(const KernelProxyCounters& counters);

class KernelProxy final : private ProxyInstanceOutput {
  public:
    // The adapters a KernelProxy drives (kernel ones from create(loop, ...),
    // fakes in tests).
    struct Parts {
        std::unique_ptr<MulticastRouter> router;
        std::unique_ptr<MldSocket> mld;
        std::unique_ptr<UpstreamMembership> upstream;
        // One per config.extra_upstreams entry, in the same order.
        std::vector<std::unique_ptr<UpstreamMembership>> extra_upstreams;
        // One per config.peerings entry: the host membership on the peering.
        std::vector<std::unique_ptr<UpstreamMembership>> peerings;
        // Makes the host membership of a peering added at run time
        // (set_peerings); the kernel one from create(loop, ...).
        std::function<Expected<std::unique_ptr<UpstreamMembership>>(int ifindex,
                                                                    const std::string& name)>
            make_membership;
        std::unique_ptr<InterfaceDirectory> interfaces;
        MifIndex max_mifs = kMaxMifs;  // the kernel's MAXMIFS; fakes may allow more
    };

    // On the real kernel: MRT6 socket for config.table, MLD socket, upstream
    // membership socket, MIF 0 and the ip6mr rule for the upstream. `loop`
    // and `routes` must outlive the proxy. Errors name the interface and the
    // call ("proxy lma1: upstream tun0: no such interface").
    static Expected<std::unique_ptr<KernelProxy>> create(EventLoop& loop, RouteManager& routes,
                                                         KernelProxyConfig config);
    // The same with a forwarding table made beforehand (magd keeps a loaded
    // ebpf program ready so that an instance created on a handover's path
    // does not wait for the verifier); config.forwarding is then ignored.
    static Expected<std::unique_ptr<KernelProxy>> create(EventLoop& loop, RouteManager& routes,
                                                         KernelProxyConfig config,
                                                         std::unique_ptr<MulticastRouter> router);
    // With given adapters (tests, benchmarks).
    static Expected<std::unique_ptr<KernelProxy>> create(Timers& timers, RouteManager& routes,
                                                         KernelProxyConfig config, Parts parts);
    ~KernelProxy() override;
    KernelProxy(const KernelProxy&) = delete;
    KernelProxy& operator=(const KernelProxy&) = delete;

    // Adds a downstream at run time: MIF, ip6mr rule, ff02::16 / ff02::2
    // joined, querier started (General Query at once) as soon as the
    // interface has a usable link-local address. `config` overrides the
    // instance's querier config for this link (e.g. fast_leave on a
    // point-to-point MN link). Fails when the interface does not exist, is
    // the upstream or already a downstream, or no MIF is free.
    Status add_downstream(const std::string& ifname);
    Status add_downstream(const std::string& ifname, const QuerierConfig& config);
    // The same on a link where the caller already sent general_query(config)
    // at `early_query_sent_at` (magd's early query at an MN's attach,
    // PROTOCOL.md 6.2 step 3, RFC 6224 section 3). If the querier starts
    // within that query's response time plus kEarlyQueryGrace, the query is
    // its first startup query and none is sent at once
    // (Querier::start_after_query): a second General Query would restart the
    // MN's pending answer. Later than that, the start is the ordinary one.
    Status add_downstream(const std::string& ifname, const QuerierConfig& config,
                          std::optional<TimePoint> early_query_sent_at);
    // The kernel part of a later add_downstream done ahead (magd: while an
    // MN's first PBU is out, so the PBA does not wait for it): the MIF (with
    // ebpf its tc filter), the ip6mr rule and the router groups, each taking
    // the kernel's RTNL lock, which other work (another daemon's tunnel
    // deletion) may hold for milliseconds. Nothing is forwarded to or from
    // the link and no querier runs until add_downstream takes it over;
    // unprepare_downstream undoes it (nothing when the link was added or
    // never prepared). Errors as add_downstream's.
    Status prepare_downstream(const std::string& ifname);
    void unprepare_downstream(const std::string& ifname);
    bool has_prepared_downstream(const std::string& ifname) const;
    // An MLD message captured on a downstream by other means than the MLD
    // socket: magd's AF_PACKET capture of an MN's answer to the early query,
    // which can arrive before the link is a downstream and before its router
    // groups are joined. Checked and processed exactly as if received on the
    // socket. The caller should not pass what the socket also received (magd
    // passes what reached the link before the add); a rare duplicate is
    // harmless: Current State records restate state and hosts repeat State
    // Change Reports anyway (RFC 3810 section 6.1).
    void receive_captured(const ReceivedMld& message);
    // How long after the end of the early query's Maximum Response Delay a
    // host's answer may still come (Linux: two jiffies, 20 ms at HZ=100, plus
    // its work queue), so that a General Query then would restart it. Later,
    // the downstream gets an ordinary start.
    static constexpr Duration kEarlyQueryGrace = std::chrono::milliseconds(250);
    // Messages (socket or captured) kept for a downstream that waits for its
    // link-local address, processed when it starts.
    static constexpr std::size_t kMaxHeld = 16;
    // Multicast context transfer (RFC 7161): ProxyInstance::subscriptions
    // of a downstream by name.
    std::vector<LinkSubscription> subscriptions(const std::string& ifname) const;
    // Sets up `records` on a downstream as a report from no listener in
    // particular (the unspecified address: no tracked listener), through the
    // instance policy; RFC 3810 timers then keep them only if a listener
    // confirms them. Kept for the start of a downstream still waiting for its
    // link-local address. Error when `ifname` is not a downstream.
    Status apply_context(const std::string& ifname, std::vector<MulticastAddressRecord> records);
    // ProxyInstance::set_static_subscriptions by name (network-initiated
    // service: the MN's policy profile); kept for the start of a downstream
    // still waiting for its link-local address. Error when `ifname` is not a
    // downstream.
    Status set_static_subscriptions(const std::string& ifname, StaticSubscriptions subscriptions);
    // ProxyInstance::set_downstream_policy by name (the MN's profile); kept
    // like the static subscriptions for a downstream not started yet.
    Status set_downstream_policy(const std::string& ifname, DownstreamPolicy policy);
    // The prefixes of the hosts below a downstream (magd: the MN's home
    // network prefixes): only data from a source inside them goes to the
    // peerings (RFC 7287 section 5's source filter). Without a call, any
    // source that arrives on the downstream does. Error when `ifname` is not
    // a downstream.
    Status set_downstream_prefixes(const std::string& ifname, std::vector<Ipv6Prefix> prefixes);
    // Removes a downstream; its listeners' state goes, upstream leaves follow.
    Status remove_downstream(const std::string& ifname);
    std::vector<std::string> downstreams() const;
    bool has_downstream(const std::string& ifname) const;

    // Replaces the policy and recomputes every forwarding entry.
    void set_policy(Policy policy);
    // Replaces the per-interface filter tables at run time (a reload): each
    // downstream's link table restated, each upstream's reports and entries
    // recomputed.
    void set_interface_filters(std::vector<InterfaceFilter> filters);
    // Replaces the RFC 7287 peerings at run time (a reload); nothing happens
    // when they are the same. The old ones go first (their entries, outputs,
    // MIFs, rules, router groups and host memberships; their peered sources
    // are asked upstream again), then the new ones start and get the merged
    // state. On an error (an interface missing) the instance is left without
    // peerings.
    Status set_peerings(std::vector<PeeringConfig> peerings, Duration data_timeout);

    // The instance, interfaces (querier role, timers, counters), groups with
    // filter mode, sources and timers and listeners per downstream, the
    // merged upstream state, MFC entries with kernel packet counts, counters.
    nlohmann::json show() const;
    const KernelProxyCounters& counters() const { return counters_; }
    const KernelProxyConfig& config() const { return config_; }
    const ProxyInstance& instance() const { return *instance_; }
    int upstream_ifindex() const { return upstream_.ifindex; }
    // Every upstream's ifindex in match order (the extra ones, then the main).
    std::vector<int> upstream_ifindexes() const;

  private:
    struct Peering;
    class PeeringLink;
    struct Interface {
        std::string name;
        int ifindex = 0;
        MifIndex mif = 0;
        bool mif_installed = false;
        bool rule_installed = false;
        // Downstreams only:
        bool started = false;  // querier running (link-local usable)
        Ipv6Address link_local{};
        QuerierConfig querier;
        TimerId retry_timer = 0;
        Duration retry_delay{};  // the next link-local poll's delay
        std::optional<TimePoint> early_query;  // sent by the caller before the add
        std::vector<MulticastAddressRecord> context;  // apply_context before the start
        StaticSubscriptions statics;                  // set_static_subscriptions before the start
        std::optional<DownstreamPolicy> policy;       // set_downstream_policy before the start
        std::vector<ReceivedMld> held;         // received before the querier started
        std::optional<std::vector<Ipv6Prefix>> prefixes;  // set_downstream_prefixes
    };
    struct Route {  // one installed (S,G) entry
        MifIndex parent = 0;
        MifSet outputs;
        std::uint64_t packets_at_check = 0;
        TimePoint installed{};
        bool pinned = false;  // installed for a named source; kept while named
        // peering: the wrong-interface packets when last checked (a source
        // whose copies come over the peering while the entry takes it from
        // the upstream).
        std::uint64_t wrong_at_check = 0;  // kUnchecked: not known yet (entry replaced)
        static constexpr std::uint64_t kUnchecked = ~std::uint64_t{0};
        // mutex matching: the parent's packets when last seen increasing.
        std::uint64_t mutex_packets = 0;
        TimePoint mutex_seen{};
    };
    using GroupRoutes = std::map<Ipv6Address, Route>;  // by source

    KernelProxy(Timers& timers, RouteManager& routes, KernelProxyConfig config, Parts parts);
    Status start();

    // ProxyInstanceOutput.
    void send_query(InterfaceId downstream, const Ipv6Address& destination,
                    const MldMessage& query) override;
    void upstream_membership_changed(const Ipv6Address& group, const MembershipState& old_state,
                                     const MembershipState& new_state) override;
    void forwarding_changed(const Ipv6Address& group) override;
    void downstream_forwarding_changed(const Ipv6Address& group, InterfaceId downstream) override;
    void report_upstream_change(Interface& upstream, const Ipv6Address& group,
                                const MembershipState& old_state, const MembershipState& new_state,
                                bool peering);
    // Sets `state` as the host membership of `group` on `u` (an upstream or,
    // with `peering`, a peering) through `m` and reports the change.
    void set_upstream_on(Interface& u, UpstreamMembership& m, const Ipv6Address& group,
                         const MembershipState& old_state, const MembershipState& new_state,
                         bool peering);
    // Sets `state` as the host membership of `group` on upstream `index`
    // (match order) and reports the change; false on a kernel error.
    void set_upstream(std::size_t index, const Ipv6Address& group, const MembershipState& old_state,
                      const MembershipState& new_state);
    std::size_t main_upstream() const { return extras_.size(); }
    // The host membership of upstream `index` (match order).
    UpstreamMembership& upstream_membership(std::size_t index) {
        return index < extras_.size() ? *parts_.extra_upstreams[index] : *parts_.upstream;
    }
    // Each upstream's own filter table (interface_filters), in match order.
    std::vector<Policy> upstream_tables() const;
    Interface& upstream_at(std::size_t index) {
        return index < extras_.size() ? extras_[index] : upstream_;
    }
    const Interface& upstream_at(std::size_t index) const {
        return index < extras_.size() ? extras_[index] : upstream_;
    }
    // The match-order index of the upstream with MIF `mif`, if it is one.
    std::optional<std::size_t> upstream_of_mif(MifIndex mif) const;
    // With several upstreams: whether (S, G) arriving on upstream `index` goes
    // downstream (UpstreamRules::accepts on the merged state); always true
    // with one upstream.
    bool upstream_accepts(std::size_t index, const Ipv6Address& source,
                          const Ipv6Address& group) const;
    // The MIF (S, G) from upstream is expected on (pinned entries, (*,G)).
    MifIndex upstream_mif_for(const Ipv6Address& source, const Ipv6Address& group) const;
    void rehome_upstream_routes(const Ipv6Address& group);
    // How many upstreams accept (source, group) now (1 with one upstream).
    std::size_t accepting_upstreams(const Ipv6Address& source, const Ipv6Address& group) const;
    // The parent of the (*, group) entry: the upstream with an any-source
    // rule for it (the main one when none has).
    MifIndex star_parent(const Ipv6Address& group) const;

    // The downstream called `ifname` and its ifindex ({0, nullptr}: none).
    std::pair<int, Interface*> downstream_named(const std::string& ifname);
    // The ifindex of `ifname` as a downstream: an error when it does not
    // exist or is the upstream.
    Expected<int> downstream_index(const std::string& ifname) const;
    // The kernel part of a downstream (MIF, rule, router groups) for `d`
    // (ifindex, name set), its MIF chosen here; undone on failure.
    Status install_downstream_kernel_state(Interface& d);
    void remove_downstream_kernel_state(Interface& d);
    // The RFC 3810 checks of a received message (own, link-local source,
    // Hop Limit, Router Alert, checksum, parse); nullopt when dropped (counted).
    std::optional<MldMessage> checked(const ReceivedMld& message, const Ipv6Address& own);
    // The main upstream part of upstream_membership_changed (split by rules).
    void apply_upstream(const Ipv6Address& group, const MembershipState& old_state,
                        const MembershipState& new_state);
    // --- RFC 7287 peerings (kernel_proxy_peering.cpp) ---
    Status start_peerings();
    void stop_peerings();
    void try_start_peering(std::size_t index);
    Peering* peering_by_ifindex(int ifindex);
    std::optional<std::size_t> peering_of_mif(MifIndex mif) const;
    void process_peering_mld(Peering& peering, const ReceivedMld& message);
    void send_peering_query(std::size_t index, const Ipv6Address& destination,
                            const MldMessage& query);
    void peer_membership_changed(std::size_t index, const Ipv6Address& group);
    void peering_upstream_changed(const Ipv6Address& group, const MembershipState& old_state,
                                  const MembershipState& new_state);
    // Makes the upstreams hold the group's merged state minus the peered sources.
    void sync_upstream(const Ipv6Address& group);
    MembershipState without_peered(const Ipv6Address& group, MembershipState state) const;
    void note_peered(const Ipv6Address& source, const Ipv6Address& group);
    // The source's entry no longer takes it from a peering: asked upstream again.
    void unpeer(const Ipv6Address& source, const Ipv6Address& group);
    void schedule_peering_check();
    void check_peered();
    // Whether an upstream entry's wrong-interface packets can only be the
    // peering's (one started peering, one upstream without rules).
    bool rehome_possible() const;
    // Whether data of `source` that arrived on MIF `parent` (a downstream)
    // may go to the peering `index` (RFC 7287 section 5: sender side).
    bool peering_forwards(std::size_t index, const Ipv6Address& source, const Ipv6Address& group,
                          const Interface& arrival) const;
    Duration report_wait() const;
    Interface& peering_interface(std::size_t index);
    const Interface& peering_interface(std::size_t index) const;
    void on_mld(const ReceivedMld& message);
    void process_mld(const ReceivedMld& message);  // on_mld after counting
    void on_upcall(const Upcall& upcall);
    void try_start_downstream(int ifindex);
    MifSet outputs_for(const Ipv6Address& source, const Ipv6Address& group, MifIndex parent) const;
    // False when the kernel refused it (counted, logged; route unchanged).
    bool install(const Ipv6Address& source, const Ipv6Address& group, Route& route, MifSet outputs,
                 bool is_new);
    void delete_route(const Ipv6Address& source, const Ipv6Address& group);
    void recompute_all();
    void write_group_entry(const Ipv6Address& group, MifSet outputs);
    void update_group_entry_bit(const Ipv6Address& group, InterfaceId downstream, MifIndex mif);
    void recompute_group_entry(const Ipv6Address& group);
    void pin_named_sources(const Ipv6Address& group, InterfaceId downstream);
    bool named_by_a_downstream(const Ipv6Address& source, const Ipv6Address& group) const;
    void schedule_idle_check();
    void check_idle();
    // mutex matching: entries whose source several upstreams serve.
    void schedule_mutex_check();
    void check_mutex();
    std::optional<MifIndex> free_mif() const;
    const Interface* interface_by_mif(MifIndex mif) const;
    MulticastRule rule_of(const Interface& interface) const;
    Status add_rule(Interface& interface);
    void remove_rule(Interface& interface);
    std::string context() const { return "[mcast proxy=" + config_.name + "]"; }

    Timers& timers_;
    RouteManager& routes_;
    KernelProxyConfig config_;
    Parts parts_;
    std::unique_ptr<ProxyInstance> instance_;
    Interface upstream_;
    std::vector<Interface> extras_;         // config_.extra_upstreams, in order
    UpstreamRules rules_;                   // extras_ then upstream_
    std::vector<Policy> upstream_tables_;   // per upstream in match order (interface_filters)
    std::map<int, Interface> downstreams_;  // by ifindex
    std::map<int, Interface> prepared_;     // prepare_downstream: kernel state only, by ifindex
    std::vector<int> mif_owner_;            // MIF -> ifindex of its downstream or extra upstream (0: free, or the main upstream)
    std::unordered_map<Ipv6Address, GroupRoutes, AddressHash> routes_by_group_;
    std::uint64_t route_count_ = 0;
    std::unordered_map<Ipv6Address, MifSet, AddressHash> group_entries_;  // (*,G) outputs
    TimerId idle_timer_ = 0;
    TimerId mutex_timer_ = 0;
    // RFC 7287 peerings (empty without).
    std::vector<std::unique_ptr<Peering>> peerings_;
    struct PeeredSource {
        TimePoint last_data{};
        std::uint64_t packets = 0;
    };
    std::map<Ipv6Address, std::map<Ipv6Address, PeeredSource>> peered_;  // group -> source
    std::unordered_map<Ipv6Address, MembershipState, AddressHash> upstream_held_;  // what upstream holds
    std::unordered_map<Ipv6Address, TimerId, AddressHash> upstream_wait_;  // report_wait per group
    // report_wait per channel: new INCLUDE sources of a group held upstream,
    // left out upstream until their due time.
    std::map<Ipv6Address, std::map<Ipv6Address, TimePoint>> waiting_sources_;  // group -> source -> due
    std::set<TimerId> source_wait_timers_;
    TimerId peered_timer_ = 0;
    bool shutting_down_ = false;
    KernelProxyCounters counters_;
};

}  // namespace pmip::mcast
