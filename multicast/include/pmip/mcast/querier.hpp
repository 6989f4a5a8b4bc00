// MLD querier: the router side of MLD on one interface (pure engine).
//
// Implements RFC 3810 sections 6-7 for one link: per multicast address the
// Router Filter Mode, Filter Timer and source timers (7.2), the Current-State
// table of 7.4.1 and the Filter-Mode-Change / Source-List-Change table of
// 7.4.2, filter mode switching on timer expiry (7.5), timer updates on queries
// (7.6.1), querier election by lowest link-local interface ID with the Other
// Querier Present timer (7.6.2), Multicast Address Specific and Multicast
// Address and Source Specific queries with Last Listener Query Interval/Count
// and the S flag split (7.6.3), General Queries with startup queries (9.6,
// 9.7), adoption of the querier's QRV/QQI when not querier (5.1.8, 5.1.9),
// MLDv1 compatibility (8.3.2: Older Version Host Present, v1 Report =
// IS_EX({}), v1 Done = TO_IN({}), BLOCK ignored, TO_EX(x) = TO_EX({}))
// and MLDv1-only operation (8.3.1, RFC 2710: config.version = 1).
// Explicit tracking of listeners (RFC 6224 section 4.7, RFC 6636 section
// 3.1): each listener's own state is kept by its link-local address; with
// fast_leave a group whose last listener leaves is deleted at once, without
// Last Listener Queries, and in INCLUDE mode a source no listener includes
// any more is dropped at once (meant for point-to-point MN links).
//
// Only the querier sends queries and carries out the "Send Q" actions of the
// tables (with their timer lowering); a non-querier lowers timers when it
// hears the querier's specific queries with S clear (7.6.1).
//
// Pure: events in (reports, queries, timer expiry through the Timers
// interface), actions out through QuerierOutput (queries to send; changes of
// the per-address MembershipState). The adapter validates packets first
// (link-local source, hop limit 1, Router Alert, checksum: RFC 3810 7.4, 7.6)
// and drops the instance's own looped-back messages; it parses Reports with
// ParseConfig::skip_unknown_record_types (RFC 3810 section 5.2.12) and
// applies the instance's Policy (proxy.hpp filter_records) before calling in.
//
// Defaults: PROTOCOL.md section 10 (RV 2, QI 125 s, QRI 10 s, LLQI 1 s,
// LLQC 2, startup 31.25 s x 2).
//
// Threading: one thread (the event loop). QuerierOutput callbacks run inside
// the Querier's calls and must not call back into the same Querier.
//
// Counters: QuerierCounters (queries sent by kind, messages and records
// received, records ignored, timer expiries, fast leaves, querier changes).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "pmip/common/timers.hpp"
#include "pmip/mcast/membership.hpp"
#include "pmip/mcast/mld_codec.hpp"

namespace pmip::mcast {

// RFC 3810 section 9 variables (names as there). Non-default values must be
// consistent on the link (section 9.14).
struct QuerierConfig {
    unsigned robustness = 2;                                             // 9.1
    Duration query_interval = std::chrono::seconds(125);                 // 9.2
    Duration query_response_interval = std::chrono::seconds(10);         // 9.3
    Duration startup_query_interval = std::chrono::milliseconds(31250);  // 9.6 (QI / 4)
    unsigned startup_query_count = 2;                                    // 9.7 (RV)
    Duration last_listener_query_interval = std::chrono::seconds(1);     // 9.8
    unsigned last_listener_query_count = 2;                              // 9.9 (RV)
    unsigned version = 2;           // 1: MLDv1 router mode (RFC 3810 8.3.1, RFC 2710)
    bool explicit_tracking = true;  // RFC 6224 section 4.7
    bool fast_leave = false;        // needs explicit_tracking; point-to-point links

    // A config with every RV-derived default following `robustness`.
    static QuerierConfig with_robustness(unsigned robustness);
};

// Empty when valid, else what is wrong ("query_response_interval must be
// shorter than query_interval").
std::string validate(const QuerierConfig& config);

// The General Query a querier with `config` sends: MLDv2 with the Maximum
// Response Code, QRV and QQIC of the config [RFC 3810 sections 5.1.3, 5.1.8,
// 5.1.9], or MLDv1 in version 1 mode [RFC 2710 section 3.4]. Also what magd
// sends as the early query on an MN link before the link has a querier.
MldMessage general_query(const QuerierConfig& config);

struct QuerierCounters {
    std::uint64_t general_queries_sent = 0;
    std::uint64_t general_queries_sent_before_start = 0;  // by the adapter (start_after_query)
    std::uint64_t address_queries_sent = 0;         // Q(MA)
    std::uint64_t address_source_queries_sent = 0;  // Q(MA, A), each message
    std::uint64_t queries_received = 0;
    std::uint64_t v2_reports_received = 0;
    std::uint64_t v1_reports_received = 0;
    std::uint64_t v1_dones_received = 0;
    std::uint64_t records_processed = 0;
    std::uint64_t records_ignored = 0;  // unreportable address, BLOCK in v1 mode
    std::uint64_t filter_timer_expiries = 0;
    std::uint64_t source_timer_expiries = 0;
    std::uint64_t addresses_deleted = 0;
    std::uint64_t fast_leaves = 0;
    std::uint64_t querier_changes = 0;  // transitions either way
};

// What a Querier asks of its adapter.
class QuerierOutput {
  public:
    virtual ~QuerierOutput() = default;
    // Send `query` (an Mldv2Query, or an Mldv1Query in version 1 mode) on this
    // interface to `destination`, from the interface's link-local address,
    // with Hop Limit 1 and Router Alert.
    virtual void send_query(const Ipv6Address& destination, const MldMessage& query) = 0;
    // The listener state of `multicast_address` on this interface changed
    // (state.no_listeners() when the last listener went away).
    virtual void membership_changed(const Ipv6Address& multicast_address,
                                    const MembershipState& state) = 0;
    // This router became or stopped being the querier on the link.
    virtual void querier_changed(bool /*is_querier*/) {}
};

// Read-only view of one multicast address record, for show commands and tests.
struct SourceView {
    Ipv6Address address{};
    Duration timer{};  // 0 for an EXCLUDE-mode Exclude List source
    unsigned retransmissions = 0;
};
struct ListenerView {
    Ipv6Address address{};
    MembershipState state;
    Duration timer{};
};
struct AddressView {
    Ipv6Address multicast_address{};
    FilterMode mode = FilterMode::kInclude;
    Duration filter_timer{};  // 0 in INCLUDE
    std::vector<SourceView> sources;
    bool mldv1_compatibility = false;
    Duration older_version_host_present{};
    unsigned address_query_retransmissions = 0;
    std::vector<ListenerView> listeners;  // explicit tracking
    MembershipState state;                // what membership_changed last reported
};

class Querier {
  public:
    // `link_local` is this router's address on the link (querier election and
    // the queries' source); `context` prefixes log lines ("[mag if=veth3]").
    Querier(Timers& timers, QuerierOutput& output, const Ipv6Address& link_local,
            QuerierConfig config = {}, std::string context = {});
    ~Querier();
    Querier(const Querier&) = delete;
    Querier& operator=(const Querier&) = delete;

    // Takes the querier role and sends the startup General Queries
    // [RFC 3810 section 7.6.2, 9.6, 9.7].
    void start();
    // start() on a link where the adapter already sent general_query(config)
    // at `sent_at` (magd's early query at an MN's attach, PROTOCOL.md 6.2
    // step 3): takes the querier role, counts that query as the first startup
    // query and sends the next one at sent_at + Startup Query Interval
    // [RFC 3810 sections 9.6, 9.7], none now. A General Query now would only
    // delay the hosts' answers: a Linux host restarts its pending report
    // timer on every General Query.
    void start_after_query(TimePoint sent_at);
    // Cancels every timer and drops every state (no membership_changed calls).
    void stop();

    // Dispatches a parsed message received on the link from `source`.
    void receive(const Ipv6Address& source, const MldMessage& message);
    void receive_report(const Ipv6Address& source, const Mldv2Report& report);
    void receive_records(const Ipv6Address& source,
                         std::span<const MulticastAddressRecord> records);
    void receive_v1_report(const Ipv6Address& source, const Mldv1Report& report);
    void receive_v1_done(const Ipv6Address& source, const Mldv1Done& done);
    void receive_query(const Ipv6Address& source, const MldMessage& query);

    // Sends a General Query now and restarts the interval (a new downstream,
    // RFC 6224 section 3 step 6). Ignored when not querier.
    void send_general_query_now();

    bool is_querier() const { return is_querier_; }
    std::optional<Ipv6Address> other_querier() const { return other_querier_; }
    const Ipv6Address& link_local() const { return link_local_; }
    const QuerierConfig& config() const { return config_; }
    // Robustness and Query Interval in use (adopted from the querier when
    // not querier, RFC 3810 sections 5.1.8, 5.1.9).
    unsigned robustness() const { return robustness_; }
    Duration query_interval() const { return query_interval_; }
    Duration multicast_address_listening_interval() const;  // MALI, 9.4
    Duration other_querier_present_timeout() const;         // 9.5
    Duration last_listener_query_time() const;              // LLQT, 9.10
    Duration older_version_host_present_timeout() const;    // 9.13

    MembershipState state(const Ipv6Address& multicast_address) const;
    std::optional<AddressView> address(const Ipv6Address& multicast_address) const;
    std::vector<Ipv6Address> addresses() const;
    const QuerierCounters& counters() const { return counters_; }

  private:
    struct SourceRecord {
        TimePoint expiry{};  // <= now: timer 0 (EXCLUDE-mode Exclude List)
        unsigned retransmissions = 0;
    };
    struct ListenerRecord {
        MembershipState state;
        TimePoint expiry{};
    };
    struct AddressRecord {
        FilterMode mode = FilterMode::kInclude;
        TimePoint filter_expiry{};
        std::map<Ipv6Address, SourceRecord> sources;
        TimePoint v1_host_present_until{};
        unsigned address_retransmissions = 0;
        TimePoint next_retransmission{};
        std::map<Ipv6Address, ListenerRecord> listeners;
        MembershipState reported;
        TimerId timer = 0;
        TimePoint timer_at{};
    };
    using Records = std::map<Ipv6Address, AddressRecord>;

    TimePoint now() const { return timers_.clock().now(); }
    void apply_record(const Ipv6Address& from, RecordType type, const Ipv6Address& address,
                      const SourceSet& sources);
    void apply_current_state(AddressRecord& rec, RecordType type, const SourceSet& sources);
    void apply_state_change(AddressRecord& rec, RecordType type, const SourceSet& sources,
                            const Ipv6Address& address);
    void track_listener(AddressRecord& rec, const Ipv6Address& from, RecordType type,
                        const SourceSet& sources);
    bool has_live_listener(const AddressRecord& rec) const;
    std::size_t drop_unwanted_sources(AddressRecord& rec);
    void set_source_timers(AddressRecord& rec, const SourceSet& sources, TimePoint expiry);
    void query_address(AddressRecord& rec, const Ipv6Address& address);
    void query_sources(AddressRecord& rec, const Ipv6Address& address, const SourceSet& sources);
    void transmit_specific(AddressRecord& rec, const Ipv6Address& address, bool address_query,
                           const SourceSet* only_sources);
    void on_address_timer(const Ipv6Address& address);
    // Reports a changed MembershipState, deletes an empty record, re-arms its timer.
    void settle(Records::iterator it);
    void delete_record(Records::iterator it);
    void send_general_query();
    void arm_general_timer(Duration delay);
    void on_other_querier_timeout();
    void lower_timers_on_query(const Ipv6Address& address, const std::vector<Ipv6Address>& sources);
    MembershipState current_state(const AddressRecord& rec) const;
    void clear_retransmissions();

    Timers& timers_;
    QuerierOutput& output_;
    Ipv6Address link_local_;
    QuerierConfig config_;
    std::string context_;
    unsigned robustness_;
    Duration query_interval_;
    bool is_querier_ = false;
    bool started_ = false;
    std::optional<Ipv6Address> other_querier_;
    unsigned startup_remaining_ = 0;
    TimerId general_timer_ = 0;
    TimerId other_querier_timer_ = 0;
    Records records_;
    QuerierCounters counters_;
};

// RFC 3810 section 7.6.2: A is lower than B when the interface ID (last 64
// bits) of A is lower, as an unsigned big-endian number; whole addresses
// break a tie.
bool querier_address_lower(const Ipv6Address& a, const Ipv6Address& b);

}  // namespace pmip::mcast
