// MLD querier: the RFC 3810 section 7.4.1 / 7.4.2 router tables row by row,
// timer expiry (7.2, 7.5), specific queries and the S flag (7.6.1, 7.6.3),
// querier election (7.6.2), startup queries (9.6, 9.7), MLDv1 compatibility
// (8.3.2), explicit tracking and fast leave (RFC 6224 section 4.7).
// Driven by TimerQueue + SimulatedClock; no sleeps.
#include <catch2/catch.hpp>

#include <chrono>
#include <map>
#include <random>
#include <vector>

#include "pmip/common/clock.hpp"
#include "pmip/common/timers.hpp"
#include "pmip/mcast/querier.hpp"

using namespace pmip;
using namespace pmip::mcast;
using namespace std::chrono_literals;

namespace {

Ipv6Address addr(const char* text) {
    return *parse_address(text);
}

const Ipv6Address kRouter = addr("fe80::5");
const Ipv6Address kLowerRouter = addr("fe80::2");
const Ipv6Address kHigherRouter = addr("fe80::9");
const Ipv6Address kHost1 = addr("fe80::a1");
const Ipv6Address kHost2 = addr("fe80::a2");
const Ipv6Address kHost3 = addr("fe80::a3");
const Ipv6Address kG = addr("ff3e::8000:1");
const Ipv6Address kS1 = addr("2001:db8::1");
const Ipv6Address kS2 = addr("2001:db8::2");
const Ipv6Address kS3 = addr("2001:db8::3");
const Ipv6Address kS4 = addr("2001:db8::4");

struct SentQuery {
    Ipv6Address destination;
    MldMessage message;
};

class RecordingOutput final : public QuerierOutput {
  public:
    void send_query(const Ipv6Address& destination, const MldMessage& query) override {
        queries.push_back({destination, query});
    }
    void membership_changed(const Ipv6Address& group, const MembershipState& state) override {
        changes.emplace_back(group, state);
    }
    void querier_changed(bool is_querier) override { querier_events.push_back(is_querier); }

    std::vector<SentQuery> queries;
    std::vector<std::pair<Ipv6Address, MembershipState>> changes;
    std::vector<bool> querier_events;
};

// A querier not started yet, with the clock and timers that drive it.
struct Unstarted {
    SimulatedClock clock;
    TimerQueue timers{clock};
    RecordingOutput out;
    Querier q;
    explicit Unstarted(const QuerierConfig& c) : q(timers, out, kRouter, c) {}
    void step(Duration d) {
        clock.advance(d);
        timers.run_due();
    }
};

MembershipState include(SourceSet s) {
    return {FilterMode::kInclude, std::move(s)};
}
MembershipState exclude(SourceSet s) {
    return {FilterMode::kExclude, std::move(s)};
}

struct Fixture {
    explicit Fixture(QuerierConfig config = {}) : querier(timers, out, kRouter, config, "[test]") {
        querier.start();
        out.queries.clear();  // the startup General Query
    }

    // Moves the clock forward, running every timer at its own deadline.
    void advance(Duration d) {
        const TimePoint target = clock.now() + d;
        while (auto next = timers.next_deadline()) {
            if (*next > target)
                break;
            if (*next > clock.now())
                clock.advance(*next - clock.now());
            timers.run_due();
        }
        clock.advance(target - clock.now());
        timers.run_due();
    }

    void report(const Ipv6Address& from, RecordType type, std::vector<Ipv6Address> sources,
                const Ipv6Address& group = kG) {
        Mldv2Report r;
        r.records.push_back({type, group, std::move(sources), {}});
        querier.receive_report(from, r);
    }
    void report(RecordType type, std::vector<Ipv6Address> sources) {
        report(kHost1, type, std::move(sources));
    }

    Duration source_timer(const Ipv6Address& s) const {
        const auto v = querier.address(kG);
        REQUIRE(v);
        for (const auto& sv : v->sources) {
            if (sv.address == s)
                return sv.timer;
        }
        FAIL("no source record");
        return {};
    }
    bool has_source(const Ipv6Address& s) const {
        const auto v = querier.address(kG);
        if (!v)
            return false;
        for (const auto& sv : v->sources) {
            if (sv.address == s)
                return true;
        }
        return false;
    }
    Duration filter_timer() const { return querier.address(kG)->filter_timer; }
    FilterMode mode() const { return querier.address(kG)->mode; }
    MembershipState state() const { return querier.state(kG); }

    // Specific queries sent since the last clear, as (S flag, sources).
    std::vector<Mldv2Query> specific_queries() const {
        std::vector<Mldv2Query> out_q;
        for (const auto& q : out.queries) {
            if (const auto* v2 = std::get_if<Mldv2Query>(&q.message)) {
                if (v2->multicast_address != Ipv6Address{})
                    out_q.push_back(*v2);
            }
        }
        return out_q;
    }

    SimulatedClock clock;
    TimerQueue timers{clock};
    RecordingOutput out;
    Querier querier;
};

constexpr Duration kMali = 260s;
constexpr Duration kLlqt = 2s;

// Builds EXCLUDE(X = {S1, S2}, Y = {S3}) at time 0 of the returned fixture.
void make_exclude_x12_y3(Fixture& f) {
    f.report(RecordType::kModeIsExclude, {kS3});
    f.report(RecordType::kModeIsInclude, {kS1, kS2});
    REQUIRE(f.mode() == FilterMode::kExclude);
    REQUIRE(f.state() == exclude({kS3}));
    f.out.queries.clear();
}

}  // namespace

// ---- RFC 3810 section 7.4.1: Current-State Records --------------------------

TEST_CASE("7.4.1 INCLUDE(A) IS_IN(B) -> INCLUDE(A+B), (B)=MALI", "[mcast][querier]") {
    Fixture f;
    f.report(RecordType::kModeIsInclude, {kS1});
    f.advance(100s);
    f.report(RecordType::kModeIsInclude, {kS2});
    CHECK(f.mode() == FilterMode::kInclude);
    CHECK(f.state() == include({kS1, kS2}));
    CHECK(f.source_timer(kS1) == kMali - 100s);
    CHECK(f.source_timer(kS2) == kMali);
    CHECK(f.specific_queries().empty());
}

TEST_CASE("7.4.1 INCLUDE(A) IS_EX(B) -> EXCLUDE(A*B, B-A), (B-A)=0, delete (A-B), FT=MALI",
          "[mcast][querier]") {
    Fixture f;
    f.report(RecordType::kModeIsInclude, {kS1, kS2});
    f.advance(10s);
    f.report(RecordType::kModeIsExclude, {kS2, kS3});
    CHECK(f.mode() == FilterMode::kExclude);
    CHECK_FALSE(f.has_source(kS1));
    CHECK(f.source_timer(kS2) == kMali - 10s);  // A*B keeps its timer
    CHECK(f.source_timer(kS3) == Duration{});   // B-A = 0
    CHECK(f.filter_timer() == kMali);
    CHECK(f.state() == exclude({kS3}));
    CHECK(f.out.queries.empty());  // current-state records never trigger queries
}

TEST_CASE("7.4.1 EXCLUDE(X,Y) IS_IN(A) -> EXCLUDE(X+A, Y-A), (A)=MALI", "[mcast][querier]") {
    Fixture f;
    make_exclude_x12_y3(f);
    f.advance(10s);
    f.report(RecordType::kModeIsInclude, {kS3, kS4});
    CHECK(f.state() == exclude({}));
    CHECK(f.source_timer(kS3) == kMali);
    CHECK(f.source_timer(kS4) == kMali);
    CHECK(f.source_timer(kS1) == kMali - 10s);
    CHECK(f.filter_timer() == kMali - 10s);
}

TEST_CASE(
    "7.4.1 EXCLUDE(X,Y) IS_EX(A) -> EXCLUDE(A-Y, Y*A), (A-X-Y)=MALI, delete (X-A),(Y-A), FT=MALI",
    "[mcast][querier]") {
    Fixture f;
    make_exclude_x12_y3(f);
    f.advance(10s);
    f.report(RecordType::kModeIsExclude, {kS2, kS3, kS4});
    CHECK_FALSE(f.has_source(kS1));             // X-A deleted
    CHECK(f.source_timer(kS2) == kMali - 10s);  // kept
    CHECK(f.source_timer(kS3) == Duration{});   // stays excluded
    CHECK(f.source_timer(kS4) == kMali);        // A-X-Y = MALI
    CHECK(f.filter_timer() == kMali);
    CHECK(f.state() == exclude({kS3}));
    f.report(RecordType::kModeIsExclude, {kS2});
    CHECK_FALSE(f.has_source(kS3));  // Y-A deleted
    CHECK(f.out.queries.empty());
}

// ---- RFC 3810 section 7.4.2: Filter-Mode-Change and Source-List-Change ------

TEST_CASE("7.4.2 INCLUDE(A) ALLOW(B) -> INCLUDE(A+B), (B)=MALI", "[mcast][querier]") {
    Fixture f;
    f.report(RecordType::kAllowNewSources, {kS1});
    f.advance(5s);
    f.report(RecordType::kAllowNewSources, {kS2});
    CHECK(f.state() == include({kS1, kS2}));
    CHECK(f.source_timer(kS2) == kMali);
    CHECK(f.out.queries.empty());
}

TEST_CASE("7.4.2 INCLUDE(A) BLOCK(B) -> INCLUDE(A), send Q(MA, A*B)", "[mcast][querier]") {
    Fixture f;
    f.report(RecordType::kAllowNewSources, {kS1, kS2});
    f.report(RecordType::kBlockOldSources, {kS2, kS3});
    CHECK(f.state() == include({kS1, kS2}));
    auto q = f.specific_queries();
    REQUIRE(q.size() == 1);
    CHECK(f.out.queries[0].destination == kG);
    CHECK(q[0].sources == std::vector<Ipv6Address>{kS2});
    CHECK_FALSE(q[0].suppress_router_processing);
    CHECK(decode_max_response_code(q[0].max_response_code) == 1000);  // LLQI
    CHECK(f.source_timer(kS2) == kLlqt);
    CHECK(f.source_timer(kS1) == kMali);
    f.advance(1s);
    CHECK(f.specific_queries().size() == 2);  // LLQC - 1 = 1 retransmission
    f.advance(1s);
    CHECK(f.state() == include({kS1}));  // nobody answered for S2
    f.advance(10s);
    CHECK(f.specific_queries().size() == 2);
}

TEST_CASE(
    "7.4.2 INCLUDE(A) TO_EX(B) -> EXCLUDE(A*B, B-A), (B-A)=0, delete (A-B), Q(MA, A*B), FT=MALI",
    "[mcast][querier]") {
    Fixture f;
    f.report(RecordType::kAllowNewSources, {kS1, kS2});
    f.report(RecordType::kChangeToExcludeMode, {kS2, kS3});
    CHECK(f.mode() == FilterMode::kExclude);
    CHECK_FALSE(f.has_source(kS1));
    CHECK(f.source_timer(kS2) == kLlqt);
    CHECK(f.source_timer(kS3) == Duration{});
    CHECK(f.filter_timer() == kMali);
    CHECK(f.state() == exclude({kS3}));
    const auto q = f.specific_queries();
    REQUIRE(q.size() == 1);
    CHECK(q[0].sources == std::vector<Ipv6Address>{kS2});
    f.advance(kLlqt);
    CHECK(f.state() == exclude({kS2, kS3}));  // S2 timed out into the Exclude List
}

TEST_CASE("7.4.2 INCLUDE(A) TO_IN(B) -> INCLUDE(A+B), (B)=MALI, Q(MA, A-B)", "[mcast][querier]") {
    Fixture f;
    f.report(RecordType::kAllowNewSources, {kS1, kS2});
    f.report(RecordType::kChangeToIncludeMode, {kS2, kS3});
    CHECK(f.state() == include({kS1, kS2, kS3}));
    CHECK(f.source_timer(kS1) == kLlqt);
    CHECK(f.source_timer(kS3) == kMali);
    const auto q = f.specific_queries();
    REQUIRE(q.size() == 1);
    CHECK(q[0].sources == std::vector<Ipv6Address>{kS1});
    f.advance(kLlqt);
    CHECK(f.state() == include({kS2, kS3}));
}

TEST_CASE("7.4.2 EXCLUDE(X,Y) ALLOW(A) -> EXCLUDE(X+A, Y-A), (A)=MALI", "[mcast][querier]") {
    Fixture f;
    make_exclude_x12_y3(f);
    f.report(RecordType::kAllowNewSources, {kS3, kS4});
    CHECK(f.state() == exclude({}));
    CHECK(f.source_timer(kS3) == kMali);
    CHECK(f.source_timer(kS4) == kMali);
    CHECK(f.out.queries.empty());
}

TEST_CASE("7.4.2 EXCLUDE(X,Y) BLOCK(A) -> EXCLUDE(X+(A-Y), Y), (A-X-Y)=FT, Q(MA, A-Y)",
          "[mcast][querier]") {
    Fixture f;
    make_exclude_x12_y3(f);
    f.advance(10s);
    f.report(RecordType::kBlockOldSources, {kS1, kS3, kS4});
    CHECK(f.state() == exclude({kS3}));
    CHECK(f.source_timer(kS4) == kLlqt);  // FT, then lowered by the query
    CHECK(f.source_timer(kS1) == kLlqt);
    CHECK(f.source_timer(kS2) == kMali - 10s);
    CHECK(f.source_timer(kS3) == Duration{});
    const auto q = f.specific_queries();
    REQUIRE(q.size() == 1);
    CHECK(q[0].sources == std::vector<Ipv6Address>{kS1, kS4});
    f.advance(kLlqt);
    CHECK(f.state() == exclude({kS1, kS3, kS4}));
}

TEST_CASE("7.4.2 EXCLUDE(X,Y) BLOCK(A): (A-X-Y) takes the Filter Timer value", "[mcast][querier]") {
    Fixture f;
    make_exclude_x12_y3(f);
    // FT = MALI = 260 s is far above LLQT: the new source gets FT, then the
    // query lowers it. With a non-querier nothing is lowered, so FT shows.
    f.querier.receive_query(kLowerRouter, Mldv2Query{});
    f.advance(10s);
    f.report(RecordType::kBlockOldSources, {kS4});
    CHECK(f.source_timer(kS4) == f.filter_timer());
    CHECK(f.specific_queries().empty());
}

TEST_CASE(
    "7.4.2 EXCLUDE(X,Y) TO_EX(A) -> EXCLUDE(A-Y, Y*A), (A-X-Y)=FT, delete (X-A),(Y-A), Q(MA, A-Y), "
    "FT=MALI",
    "[mcast][querier]") {
    Fixture f;
    make_exclude_x12_y3(f);
    f.advance(10s);
    f.report(RecordType::kChangeToExcludeMode, {kS2, kS3, kS4});
    CHECK_FALSE(f.has_source(kS1));
    CHECK(f.source_timer(kS2) == kLlqt);
    CHECK(f.source_timer(kS3) == Duration{});
    CHECK(f.source_timer(kS4) == kLlqt);
    CHECK(f.filter_timer() == kMali);
    const auto q = f.specific_queries();
    REQUIRE(q.size() == 1);
    CHECK(q[0].sources == std::vector<Ipv6Address>{kS2, kS4});
    f.report(RecordType::kChangeToExcludeMode, {kS2});
    CHECK_FALSE(f.has_source(kS3));  // Y-A deleted
}

TEST_CASE("7.4.2 EXCLUDE(X,Y) TO_IN(A) -> EXCLUDE(X+A, Y-A), (A)=MALI, Q(MA, X-A), Q(MA)",
          "[mcast][querier]") {
    Fixture f;
    make_exclude_x12_y3(f);
    f.report(RecordType::kChangeToIncludeMode, {kS2, kS3});
    CHECK(f.state() == exclude({}));
    CHECK(f.source_timer(kS1) == kLlqt);
    CHECK(f.source_timer(kS2) == kMali);
    CHECK(f.source_timer(kS3) == kMali);
    CHECK(f.filter_timer() == kLlqt);  // Q(MA) lowers FT to LLQT (7.6.3.1)
    const auto q = f.specific_queries();
    REQUIRE(q.size() == 2);
    CHECK(q[0].sources == std::vector<Ipv6Address>{kS1});
    CHECK(q[1].sources.empty());
    CHECK_FALSE(q[1].suppress_router_processing);
    f.advance(kLlqt);
    // 7.5: FT expiry switches to INCLUDE with the Requested List.
    CHECK(f.mode() == FilterMode::kInclude);
    CHECK(f.state() == include({kS2, kS3}));
}

// ---- Timers: RFC 3810 sections 7.2.2, 7.2.3, 7.5 --------------------------

TEST_CASE("7.5 Filter Timer expiry with an empty Requested List deletes the record",
          "[mcast][querier]") {
    Fixture f;
    f.report(RecordType::kModeIsExclude, {});
    CHECK(f.state() == exclude({}));
    f.advance(kMali - 1s);
    CHECK(f.querier.address(kG));
    f.advance(1s);
    CHECK_FALSE(f.querier.address(kG));
    REQUIRE(f.out.changes.size() == 2);
    CHECK(f.out.changes.back().second == include({}));
    CHECK(f.querier.counters().filter_timer_expiries == 1);
    CHECK(f.querier.counters().addresses_deleted == 1);
}

TEST_CASE("7.5 Filter Timer expiry switches EXCLUDE(X,Y) to INCLUDE(X)", "[mcast][querier]") {
    Fixture f;
    f.report(RecordType::kModeIsExclude, {kS3});
    f.advance(100s);
    f.report(RecordType::kAllowNewSources, {kS1});
    f.advance(kMali - 100s);
    CHECK(f.mode() == FilterMode::kInclude);
    CHECK(f.state() == include({kS1}));
    CHECK_FALSE(f.has_source(kS3));
    f.advance(100s);
    CHECK_FALSE(f.querier.address(kG));  // S1's own timer ran out
}

TEST_CASE(
    "7.2.3 source timer expiry: INCLUDE deletes the source, EXCLUDE moves it to the Exclude List",
    "[mcast][querier]") {
    Fixture f;
    f.report(RecordType::kAllowNewSources, {kS1});
    f.advance(10s);
    f.report(RecordType::kAllowNewSources, {kS2});
    f.advance(kMali - 10s);
    CHECK(f.state() == include({kS2}));
    Fixture g;
    g.report(RecordType::kModeIsExclude, {});
    g.advance(10s);
    g.report(RecordType::kModeIsExclude, {});  // FT = MALI from now
    g.report(RecordType::kAllowNewSources, {kS1});
    g.advance(kMali - 5s);
    g.report(RecordType::kModeIsExclude, {kS1});  // keeps S1 (in X), FT refreshed
    g.advance(5s);
    CHECK(g.state() == exclude({kS1}));
    CHECK(g.querier.counters().source_timer_expiries == 1);
}

// ---- Specific queries: RFC 3810 sections 7.6.1, 7.6.3 ------------------------

TEST_CASE(
    "7.6.3.1 Q(MA): LLQC transmissions LLQI apart, S set once a report raised the Filter Timer",
    "[mcast][querier]") {
    Fixture f;
    f.report(kHost1, RecordType::kModeIsExclude, {});
    f.report(kHost1, RecordType::kChangeToIncludeMode, {});
    auto q = f.specific_queries();
    REQUIRE(q.size() == 1);
    CHECK_FALSE(q[0].suppress_router_processing);
    f.advance(500ms);
    f.report(kHost2, RecordType::kModeIsExclude, {});  // another listener answers: FT = MALI
    f.advance(500ms);
    q = f.specific_queries();
    REQUIRE(q.size() == 2);
    CHECK(q[1].suppress_router_processing);
    f.advance(10s);
    CHECK(f.specific_queries().size() == 2);
    CHECK(f.state() == exclude({}));
    CHECK(f.querier.counters().address_queries_sent == 2);
}

TEST_CASE("7.6.3.2 Q(MA,A) retransmissions are split by the S flag", "[mcast][querier]") {
    Fixture f;
    f.report(kHost1, RecordType::kAllowNewSources, {kS1, kS2});
    f.report(kHost1, RecordType::kBlockOldSources, {kS1, kS2});
    auto q = f.specific_queries();
    REQUIRE(q.size() == 1);
    CHECK(q[0].sources == std::vector<Ipv6Address>{kS1, kS2});
    CHECK_FALSE(q[0].suppress_router_processing);
    f.advance(500ms);
    f.report(kHost2, RecordType::kModeIsInclude, {kS1});  // S1 timer back to MALI
    f.advance(500ms);
    q = f.specific_queries();
    REQUIRE(q.size() == 3);
    CHECK(q[1].suppress_router_processing);
    CHECK(q[1].sources == std::vector<Ipv6Address>{kS1});
    CHECK_FALSE(q[2].suppress_router_processing);
    CHECK(q[2].sources == std::vector<Ipv6Address>{kS2});
    f.advance(1s);
    CHECK(f.state() == include({kS1}));
    CHECK(f.querier.counters().address_source_queries_sent == 3);
}

TEST_CASE("7.6.3 with Last Listener Query Count 1 only one query is sent", "[mcast][querier]") {
    QuerierConfig c;
    c.last_listener_query_count = 1;
    Fixture f(c);
    f.report(RecordType::kModeIsExclude, {});
    f.report(RecordType::kChangeToIncludeMode, {});
    CHECK(f.filter_timer() == 1s);  // LLQT = LLQI x 1
    f.advance(5s);
    CHECK(f.specific_queries().size() == 1);
    CHECK_FALSE(f.querier.address(kG));
}

TEST_CASE("7.6.1 a received Q(MA) with S clear lowers the Filter Timer, with S set it does not",
          "[mcast][querier]") {
    Fixture f;
    f.report(RecordType::kModeIsExclude, {});
    Mldv2Query q;
    q.multicast_address = kG;
    q.suppress_router_processing = true;
    f.querier.receive_query(kHigherRouter, q);
    CHECK(f.filter_timer() == kMali);
    q.suppress_router_processing = false;
    f.querier.receive_query(kHigherRouter, q);
    CHECK(f.filter_timer() == kLlqt);
    CHECK(f.querier.is_querier());  // a higher address does not win
}

TEST_CASE("7.6.1 a received Q(MA,A) with S clear lowers the source timers", "[mcast][querier]") {
    Fixture f;
    f.report(RecordType::kAllowNewSources, {kS1, kS2});
    Mldv2Query q;
    q.multicast_address = kG;
    q.sources = {kS1};
    f.querier.receive_query(kHigherRouter, q);
    CHECK(f.source_timer(kS1) == kLlqt);
    CHECK(f.source_timer(kS2) == kMali);
    f.advance(kLlqt);
    CHECK(f.state() == include({kS2}));
}

// ---- Querier election: RFC 3810 section 7.6.2 ----------------------------

TEST_CASE(
    "7.6.2 a query from a lower address makes us non-querier until Other Querier Present Timeout",
    "[mcast][querier]") {
    Fixture f;
    CHECK(f.querier.is_querier());
    Mldv2Query general;
    general.querier_robustness = 2;
    general.querier_query_interval_code = 125;
    f.querier.receive_query(kLowerRouter, general);
    CHECK_FALSE(f.querier.is_querier());
    CHECK(f.querier.other_querier() == kLowerRouter);
    CHECK(f.out.querier_events == std::vector<bool>{false});
    const Duration oqpt = f.querier.other_querier_present_timeout();
    CHECK(oqpt == 255s);
    f.advance(200s);
    f.querier.receive_query(kLowerRouter, general);  // restarts the timer
    f.advance(oqpt - 1s);
    CHECK_FALSE(f.querier.is_querier());
    CHECK(f.out.queries.empty());  // a non-querier sends no General Queries
    f.advance(1s);
    CHECK(f.querier.is_querier());
    CHECK(f.out.querier_events == std::vector<bool>{false, true});
    REQUIRE(f.out.queries.size() == 1);
    CHECK(f.out.queries[0].destination == kAllNodes);
}

TEST_CASE("7.6.2 a query from a higher address leaves us querier", "[mcast][querier]") {
    Fixture f;
    f.querier.receive_query(kHigherRouter, Mldv2Query{});
    CHECK(f.querier.is_querier());
    CHECK_FALSE(f.querier.other_querier());
    f.advance(125s);
    CHECK(f.out.queries.size() == 1);
}

TEST_CASE("7.6.2 lower address means lower interface ID (last 64 bits)", "[mcast][querier]") {
    CHECK(querier_address_lower(addr("fe80:0:0:1::2"), addr("fe80::3")));
    CHECK_FALSE(querier_address_lower(addr("fe80::3"), addr("fe80:0:0:1::2")));
    CHECK(querier_address_lower(addr("fe80::1:0:0:0"), addr("fe80::2:0:0:0")));
    CHECK_FALSE(querier_address_lower(addr("fe80::5"), addr("fe80::5")));
}

TEST_CASE("7.6.2 a non-querier adopts the querier's QRV and QQI and sends no specific queries",
          "[mcast][querier]") {
    Fixture f;
    Mldv2Query general;
    general.querier_robustness = 3;
    general.querier_query_interval_code = 60;
    f.querier.receive_query(kLowerRouter, general);
    CHECK(f.querier.robustness() == 3);
    CHECK(f.querier.query_interval() == 60s);
    CHECK(f.querier.multicast_address_listening_interval() == 190s);
    f.report(RecordType::kAllowNewSources, {kS1});
    f.report(RecordType::kBlockOldSources, {kS1});
    CHECK(f.out.queries.empty());
    CHECK(f.source_timer(kS1) == 190s);  // not lowered without a query
    // The querier's own query lowers the timer (7.6.1).
    Mldv2Query q;
    q.multicast_address = kG;
    q.sources = {kS1};
    f.querier.receive_query(kLowerRouter, q);
    CHECK(f.source_timer(kS1) == kLlqt);
}

TEST_CASE("7.6.2 specific query retransmissions stop when another router wins",
          "[mcast][querier]") {
    Fixture f;
    f.report(RecordType::kModeIsExclude, {});
    f.report(RecordType::kChangeToIncludeMode, {});
    CHECK(f.specific_queries().size() == 1);
    f.querier.receive_query(kLowerRouter, Mldv2Query{});
    f.advance(5s);
    CHECK(f.specific_queries().size() == 1);
}

// ---- Startup and General Queries: RFC 3810 sections 5.1, 9.6, 9.7 ----------

TEST_CASE(
    "startup: Startup Query Count General Queries Startup Query Interval apart, then Query "
    "Interval",
    "[mcast][querier]") {
    QuerierConfig c;
    c.startup_query_interval = 1s;
    c.startup_query_count = 3;
    Unstarted u(c);
    auto& [clock, timers, out, q] = u;
    q.start();
    CHECK(out.queries.size() == 1);
    auto step = [&](Duration d) { u.step(d); };
    step(1s);
    CHECK(out.queries.size() == 2);
    step(1s);
    CHECK(out.queries.size() == 3);
    step(1s);
    CHECK(out.queries.size() == 3);  // startup over: next one a Query Interval later
    step(123s);
    CHECK(out.queries.size() == 3);
    step(1s);
    CHECK(out.queries.size() == 4);
    CHECK(q.counters().general_queries_sent == 4);
}

TEST_CASE("General Query contents: to ff02::1, MRC = QRI, QRV = RV, QQIC = QI",
          "[mcast][querier]") {
    SimulatedClock clock;
    TimerQueue timers(clock);
    RecordingOutput out;
    QuerierConfig c = QuerierConfig::with_robustness(3);
    c.query_interval = 300s;
    c.query_response_interval = 40s;
    Querier q(timers, out, kRouter, c);
    q.start();
    REQUIRE(out.queries.size() == 1);
    CHECK(out.queries[0].destination == kAllNodes);
    const auto& g = std::get<Mldv2Query>(out.queries[0].message);
    CHECK(g.multicast_address == Ipv6Address{});
    CHECK(decode_max_response_code(g.max_response_code) == 40000);
    CHECK(g.querier_robustness == 3);
    CHECK(decode_qqic(g.querier_query_interval_code) == 288);  // next lower representable
    CHECK(g.sources.empty());
    CHECK_FALSE(g.suppress_router_processing);
    CHECK(q.multicast_address_listening_interval() == 940s);
}

TEST_CASE("general_query(config) is what the querier sends, in both versions", "[mcast][querier]") {
    for (unsigned version : {1u, 2u}) {
        QuerierConfig c = QuerierConfig::with_robustness(3);
        c.query_response_interval = 7ms;
        c.version = version;
        Unstarted u(c);
        u.q.start();
        REQUIRE(u.out.queries.size() == 1);
        CHECK(u.out.queries[0].message == general_query(c));
    }
    QuerierConfig c;
    c.query_response_interval = 1ms;
    const MldMessage query = general_query(c);
    const auto& g = std::get<Mldv2Query>(query);
    CHECK(decode_max_response_code(g.max_response_code) == 1);
    CHECK(g.querier_robustness == 2);
    CHECK(decode_qqic(g.querier_query_interval_code) == 125);
}

TEST_CASE(
    "start_after_query: no query now, the adapter's counts as startup query 1, the next one "
    "a Startup Query Interval after it (RFC 3810 9.6, 9.7)",
    "[mcast][querier]") {
    QuerierConfig c;
    c.startup_query_interval = 1s;
    c.startup_query_count = 3;
    Unstarted u(c);
    auto& [clock, timers, out, q] = u;
    const TimePoint sent = clock.now();
    clock.advance(300ms);  // the PBA took this long
    q.start_after_query(sent);
    CHECK(q.is_querier());
    CHECK(out.queries.empty());
    CHECK(q.counters().general_queries_sent_before_start == 1);
    auto step = [&](Duration d) { u.step(d); };
    step(699ms);
    CHECK(out.queries.empty());
    step(1ms);  // sent + 1 s
    CHECK(out.queries.size() == 1);
    step(1s);
    CHECK(out.queries.size() == 2);  // the third and last startup query
    step(124s);
    CHECK(out.queries.size() == 2);
    step(1s);
    CHECK(out.queries.size() == 3);
    CHECK(q.counters().general_queries_sent == 3);
    // Reports are processed as after start().
    Mldv2Report r;
    r.records.push_back({RecordType::kModeIsExclude, kG, {}, {}});
    q.receive_report(kHost1, r);
    CHECK(q.state(kG) == exclude({}));
}

TEST_CASE("start_after_query: a query older than the Startup Query Interval is followed at once",
          "[mcast][querier]") {
    QuerierConfig c;
    c.startup_query_interval = 1s;
    c.startup_query_count = 1;  // the adapter's was the only startup query
    Unstarted u(c);
    auto& [clock, timers, out, q] = u;
    const TimePoint sent = clock.now();
    clock.advance(130s);
    q.start_after_query(sent);
    timers.run_due();
    CHECK(out.queries.size() == 1);  // a Query Interval after it had passed
}

TEST_CASE("send_general_query_now sends at once and restarts the interval", "[mcast][querier]") {
    Fixture f;
    f.advance(100s);
    f.out.queries.clear();
    f.querier.send_general_query_now();
    CHECK(f.out.queries.size() == 1);
    f.advance(124s);
    CHECK(f.out.queries.size() == 1);
}

TEST_CASE("version 1 mode sends 24-octet MLDv1 queries (RFC 3810 8.3.1, RFC 2710)",
          "[mcast][querier]") {
    QuerierConfig c;
    c.version = 1;
    SimulatedClock clock;
    TimerQueue timers(clock);
    RecordingOutput out;
    Querier q(timers, out, kRouter, c);
    q.start();
    REQUIRE(out.queries.size() == 1);
    CHECK(std::get<Mldv1Query>(out.queries[0].message).max_response_delay == 10000);
    q.receive_v1_report(kHost1, Mldv1Report{kG});
    q.receive_v1_done(kHost1, Mldv1Done{kG});
    REQUIRE(out.queries.size() == 2);
    CHECK(out.queries[1].destination == kG);
    CHECK(std::get<Mldv1Query>(out.queries[1].message) == Mldv1Query{1000, kG});
}

TEST_CASE("config validation", "[mcast][querier]") {
    CHECK(validate(QuerierConfig{}).empty());
    QuerierConfig c;
    c.query_response_interval = 125s;
    CHECK(validate(c) == "query_response_interval must be shorter than query_interval");
    c = {};
    c.robustness = 0;
    CHECK_FALSE(validate(c).empty());
    c = {};
    c.fast_leave = true;
    c.explicit_tracking = false;
    CHECK_FALSE(validate(c).empty());
}

// ---- MLDv1 compatibility: RFC 3810 section 8.3.2 ----------------------------

TEST_CASE("8.3.2 an MLDv1 Report is IS_EX({}) and sets Older Version Host Present",
          "[mcast][querier]") {
    Fixture f;
    f.querier.receive(kHost1, Mldv1Report{kG});
    CHECK(f.state() == exclude({}));
    const auto v = f.querier.address(kG);
    CHECK(v->mldv1_compatibility);
    CHECK(v->older_version_host_present == 260s);
    CHECK(f.querier.counters().v1_reports_received == 1);
    f.advance(kMali);
    CHECK_FALSE(f.querier.address(kG));
}

TEST_CASE("8.3.2 an MLDv1 Done is TO_IN({}): Q(MA), then deletion after LLQT", "[mcast][querier]") {
    Fixture f;
    f.querier.receive(kHost1, Mldv1Report{kG});
    f.querier.receive(kHost1, Mldv1Done{kG});
    const auto q = f.specific_queries();
    REQUIRE(q.size() == 1);
    CHECK(q[0].sources.empty());
    f.advance(kLlqt);
    CHECK_FALSE(f.querier.address(kG));
    CHECK(f.out.changes.back().second == include({}));
}

TEST_CASE("8.3.2 in MLDv1 compatibility mode BLOCK is ignored and TO_EX(x) is TO_EX({})",
          "[mcast][querier]") {
    Fixture f;
    f.querier.receive(kHost1, Mldv1Report{kG});
    f.report(kHost2, RecordType::kChangeToExcludeMode, {kS1});
    CHECK(f.state() == exclude({}));
    f.report(kHost2, RecordType::kBlockOldSources, {kS2});
    CHECK_FALSE(f.has_source(kS2));
    CHECK(f.querier.counters().records_ignored == 1);
    // After Older Version Host Present Timeout the same records act normally.
    f.advance(100s);
    f.report(kHost2, RecordType::kModeIsExclude, {});
    f.advance(160s);
    CHECK_FALSE(f.querier.address(kG)->mldv1_compatibility);
    f.report(kHost2, RecordType::kChangeToExcludeMode, {kS1});
    CHECK(f.has_source(kS1));  // no longer reduced to TO_EX({})
    f.advance(kLlqt);
    CHECK(f.state() == exclude({kS1}));
}

TEST_CASE("an MLDv1 Done for an address without state is ignored", "[mcast][querier]") {
    Fixture f;
    f.querier.receive(kHost1, Mldv1Done{kG});
    CHECK(f.out.queries.empty());
    CHECK_FALSE(f.querier.address(kG));
}

// ---- Explicit tracking: RFC 6224 section 4.7 -------------------------------

TEST_CASE("explicit tracking: fast leave when the last listener leaves", "[mcast][querier]") {
    QuerierConfig c;
    c.fast_leave = true;
    Fixture f(c);
    f.report(kHost1, RecordType::kChangeToExcludeMode, {});
    REQUIRE(f.querier.address(kG)->listeners.size() == 1);
    f.report(kHost1, RecordType::kChangeToIncludeMode, {});
    CHECK_FALSE(f.querier.address(kG));
    CHECK(f.out.queries.empty());
    CHECK(f.out.changes.back().second == include({}));
    CHECK(f.querier.counters().fast_leaves == 1);
}

TEST_CASE("explicit tracking: no fast leave while another listener remains", "[mcast][querier]") {
    QuerierConfig c;
    c.fast_leave = true;
    Fixture f(c);
    f.report(kHost1, RecordType::kChangeToExcludeMode, {});
    f.report(kHost2, RecordType::kAllowNewSources, {kS1});
    f.report(kHost1, RecordType::kChangeToIncludeMode, {});
    CHECK(f.specific_queries().size() == 2);  // ordinary Q(MA, X-A) and Q(MA)
    const auto v = f.querier.address(kG);
    REQUIRE(v);
    REQUIRE(v->listeners.size() == 1);
    CHECK(v->listeners[0].address == kHost2);
    CHECK(v->listeners[0].state == include({kS1}));
    f.report(kHost2, RecordType::kBlockOldSources, {kS1});
    CHECK_FALSE(f.querier.address(kG));
    CHECK(f.querier.counters().fast_leaves == 1);
}

TEST_CASE("explicit tracking: fast leave on an MLDv1 Done", "[mcast][querier]") {
    QuerierConfig c;
    c.fast_leave = true;
    Fixture f(c);
    f.querier.receive(kHost1, Mldv1Report{kG});
    f.querier.receive(kHost1, Mldv1Done{kG});
    CHECK_FALSE(f.querier.address(kG));
    CHECK(f.out.queries.empty());
}

TEST_CASE("explicit tracking: fast leave of a source no listener includes any more",
          "[mcast][querier]") {
    QuerierConfig c;
    c.fast_leave = true;
    Fixture f(c);
    f.report(kHost1, RecordType::kAllowNewSources, {kS1, kS2});
    f.report(kHost2, RecordType::kAllowNewSources, {kS2});
    f.report(kHost1, RecordType::kBlockOldSources, {kS1, kS2});
    CHECK(f.state() == include({kS2}));  // S1 gone at once, S2 still wanted by host 2
    const auto q = f.specific_queries();
    REQUIRE(q.size() == 1);  // S2 is queried as usual (host 2 will answer)
    CHECK(q[0].sources == std::vector<Ipv6Address>{kS2});
    f.out.queries.clear();
    f.report(kHost2, RecordType::kChangeToIncludeMode, {kS3});
    CHECK(f.state() == include({kS3}));
    CHECK(f.specific_queries().empty());
    CHECK(f.querier.counters().fast_leaves == 2);
}

TEST_CASE("explicit tracking: no source fast leave while a listener is in EXCLUDE mode",
          "[mcast][querier]") {
    QuerierConfig c;
    c.fast_leave = true;
    Fixture f(c);
    f.report(kHost1, RecordType::kAllowNewSources, {kS1});
    f.report(kHost2, RecordType::kModeIsInclude, {kS2});
    f.report(kHost1, RecordType::kBlockOldSources, {kS1});
    CHECK(f.state() == include({kS2}));
    f.report(kHost1, RecordType::kAllowNewSources, {kS1});
    f.report(kHost2, RecordType::kChangeToExcludeMode, {});
    f.report(kHost3, RecordType::kAllowNewSources, {kS3});
    f.out.queries.clear();
    f.report(kHost3, RecordType::kBlockOldSources, {kS3});
    CHECK(f.has_source(kS3));  // router is in EXCLUDE mode: ordinary query
    CHECK(f.specific_queries().size() == 1);
}

TEST_CASE("without fast leave the last listener's leave goes through Last Listener Queries",
          "[mcast][querier]") {
    Fixture f;
    f.report(kHost1, RecordType::kChangeToExcludeMode, {});
    f.report(kHost1, RecordType::kChangeToIncludeMode, {});
    CHECK(f.querier.address(kG));
    CHECK(f.specific_queries().size() == 1);
}

// ---- Input checks -----------------------------------------------------------

TEST_CASE("records for ff02::1 and interface-local scope are ignored", "[mcast][querier]") {
    Fixture f;
    f.report(kHost1, RecordType::kChangeToExcludeMode, {}, kAllNodes);
    f.report(kHost1, RecordType::kChangeToExcludeMode, {}, addr("ff01::5"));
    f.report(kHost1, RecordType::kChangeToExcludeMode, {}, addr("2001:db8::5"));
    CHECK(f.querier.addresses().empty());
    CHECK(f.querier.counters().records_ignored == 3);
    CHECK(f.out.changes.empty());
}

TEST_CASE("membership_changed reports the forwarding state once per change", "[mcast][querier]") {
    Fixture f;
    f.report(kHost1, RecordType::kAllowNewSources, {kS1});
    f.report(kHost2, RecordType::kAllowNewSources, {kS1});  // no change
    f.report(kHost2, RecordType::kAllowNewSources, {kS2});
    REQUIRE(f.out.changes.size() == 2);
    CHECK(f.out.changes[0].second == include({kS1}));
    CHECK(f.out.changes[1].second == include({kS1, kS2}));
}

TEST_CASE("stop drops all state and timers", "[mcast][querier]") {
    Fixture f;
    f.report(kHost1, RecordType::kChangeToExcludeMode, {});
    f.querier.stop();
    CHECK(f.timers.pending() == 0);
    CHECK(f.querier.addresses().empty());
}

TEST_CASE("random reports and queries: invariants hold and silence empties the state",
          "[mcast][querier]") {
    QuerierConfig c;
    c.fast_leave = GENERATE(false, true);
    Fixture f(c);
    std::mt19937 rng(6224);
    const std::vector<Ipv6Address> sources{kS1, kS2, kS3, kS4};
    const std::vector<Ipv6Address> hosts{kHost1, kHost2, addr("fe80::a3")};
    const std::vector<Ipv6Address> groups{kG, addr("ff3e::8000:2")};
    for (int i = 0; i < 4000; ++i) {
        const auto roll = rng() % 20;
        if (roll < 14) {
            std::vector<Ipv6Address> s;
            for (const auto& x : sources) {
                if (rng() % 2)
                    s.push_back(x);
            }
            auto type = static_cast<RecordType>(1 + rng() % 6);
            if (type == RecordType::kModeIsInclude && s.empty())
                type = RecordType::kModeIsExclude;
            f.report(hosts[rng() % hosts.size()], type, s, groups[rng() % groups.size()]);
        } else if (roll < 15) {
            f.querier.receive(hosts[rng() % hosts.size()],
                              Mldv1Report{groups[rng() % groups.size()]});
        } else if (roll < 16) {
            f.querier.receive(hosts[rng() % hosts.size()],
                              Mldv1Done{groups[rng() % groups.size()]});
        } else if (roll < 17) {
            Mldv2Query q;
            q.multicast_address = groups[rng() % groups.size()];
            if (rng() % 2)
                q.sources = {sources[rng() % sources.size()]};
            q.suppress_router_processing = rng() % 2;
            f.querier.receive_query(rng() % 4 == 0 ? kLowerRouter : kHigherRouter, q);
        } else {
            f.advance(std::chrono::milliseconds(rng() % 5000));
        }
        for (const auto& g : f.querier.addresses()) {
            const auto v = f.querier.address(g);
            REQUIRE(v);
            // The reported state matches the record: INCLUDE lists every
            // source, EXCLUDE lists exactly the sources with timer 0.
            SourceSet expect;
            for (const auto& s : v->sources) {
                if (v->mode == FilterMode::kInclude) {
                    REQUIRE(s.timer > Duration{});
                    expect.insert(s.address);
                } else if (s.timer == Duration{}) {
                    expect.insert(s.address);
                }
                REQUIRE(s.timer <= f.querier.multicast_address_listening_interval());
            }
            REQUIRE(v->state == MembershipState{v->mode, expect});
            REQUIRE_FALSE(v->state.no_listeners());
            if (v->mode == FilterMode::kExclude)
                REQUIRE(v->filter_timer > Duration{});
        }
    }
    // Without reports everything times out, and every change was reported.
    f.advance(1000s);
    CHECK(f.querier.addresses().empty());
    std::map<Ipv6Address, MembershipState> last;
    for (const auto& [g, st] : f.out.changes) last[g] = st;
    for (const auto& [g, st] : last) CHECK(st.no_listeners());
    CHECK(f.timers.pending() <= 2);  // General Query / Other Querier Present only
}
