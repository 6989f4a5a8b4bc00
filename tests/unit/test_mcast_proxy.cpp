// MLD proxy membership database: RFC 4605 section 4.1 merge (RFC 3810
// section 4.2 rules), upstream changes, downstream removal, the section 4.2
// forwarding decision, allow/deny policy, and queriers feeding the database.
#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <map>
#include <random>
#include <vector>

#include "pmip/common/clock.hpp"
#include "pmip/common/timers.hpp"
#include "pmip/mcast/proxy.hpp"
#include "pmip/mcast/proxy_instance.hpp"
#include "pmip/mcast/querier.hpp"

using namespace pmip;
using namespace pmip::mcast;
using namespace std::chrono_literals;

namespace {

Ipv6Address addr(const char* text) {
    return *parse_address(text);
}
Ipv6Prefix prefix(const char* text) {
    return *parse_prefix(text);
}

const Ipv6Address kG = addr("ff3e::8000:1");
const Ipv6Address kG2 = addr("ff3e::8000:2");
const Ipv6Address kS1 = addr("2001:db8::1");
const Ipv6Address kS2 = addr("2001:db8::2");
const Ipv6Address kS3 = addr("2001:db8::3");
const Ipv6Address kS4 = addr("2001:db8::4");

MembershipState include(SourceSet s) {
    return {FilterMode::kInclude, std::move(s)};
}
MembershipState exclude(SourceSet s) {
    return {FilterMode::kExclude, std::move(s)};
}

struct UpstreamChange {
    Ipv6Address group;
    MembershipState old_state;
    MembershipState new_state;
};

class RecordingProxyOutput final : public ProxyOutput {
  public:
    void upstream_membership_changed(const Ipv6Address& group, const MembershipState& old_state,
                                     const MembershipState& new_state) override {
        upstream.push_back({group, old_state, new_state});
    }
    void forwarding_changed(const Ipv6Address& group) override { forwarding.push_back(group); }

    std::vector<UpstreamChange> upstream;
    std::vector<Ipv6Address> forwarding;
};

// The merge written the slow, obvious way (RFC 3810 section 4.2).
MembershipState brute_force_merge(const std::vector<MembershipState>& states) {
    bool any_exclude = false;
    SourceSet include_union;
    std::optional<SourceSet> exclude_intersection;
    for (const auto& s : states) {
        if (s.no_listeners())
            continue;
        if (s.mode == FilterMode::kInclude) {
            include_union.insert(s.sources.begin(), s.sources.end());
        } else {
            any_exclude = true;
            if (!exclude_intersection) {
                exclude_intersection = s.sources;
            } else {
                SourceSet keep;
                for (const auto& x : *exclude_intersection) {
                    if (s.sources.contains(x))
                        keep.insert(x);
                }
                exclude_intersection = keep;
            }
        }
    }
    if (!any_exclude)
        return include(include_union);
    SourceSet out;
    for (const auto& x : *exclude_intersection) {
        if (!include_union.contains(x))
            out.insert(x);
    }
    return exclude(out);
}

}  // namespace

TEST_CASE("RFC 4605 4.1: all INCLUDE merge to INCLUDE with the union", "[mcast][proxy]") {
    RecordingProxyOutput out;
    MembershipDatabase db(out);
    db.update(1, kG, include({kS1}));
    db.update(2, kG, include({kS2, kS3}));
    CHECK(db.upstream_state(kG) == include({kS1, kS2, kS3}));
    REQUIRE(out.upstream.size() == 2);
    CHECK(out.upstream[0].old_state == include({}));
    CHECK(out.upstream[0].new_state == include({kS1}));
    CHECK(out.upstream[1].new_state == include({kS1, kS2, kS3}));
}

TEST_CASE(
    "RFC 4605 4.1: any EXCLUDE merges to EXCLUDE, intersection of EXCLUDE lists minus INCLUDE "
    "sources",
    "[mcast][proxy]") {
    RecordingProxyOutput out;
    MembershipDatabase db(out);
    db.update(1, kG, exclude({kS1, kS2, kS3}));
    db.update(2, kG, exclude({kS2, kS3, kS4}));
    CHECK(db.upstream_state(kG) == exclude({kS2, kS3}));
    db.update(3, kG, include({kS3}));
    CHECK(db.upstream_state(kG) == exclude({kS2}));
    db.update(3, kG, include({}));
    CHECK(db.upstream_state(kG) == exclude({kS2, kS3}));
}

TEST_CASE("RFC 4605 4.1 example: an MLDv1 listener and INCLUDE {S1,S2} merge to EXCLUDE {}",
          "[mcast][proxy]") {
    RecordingProxyOutput out;
    MembershipDatabase db(out);
    db.update(1, kG, exclude({}));  // MLDv1 subscription, step 1
    db.update(2, kG, include({kS1, kS2}));
    CHECK(db.upstream_state(kG) == exclude({}));
}

TEST_CASE("RFC 4605 4.1: an EXCLUDE result is never produced from INCLUDE inputs only",
          "[mcast][proxy]") {
    RecordingProxyOutput out;
    MembershipDatabase db(out);
    db.update(1, kG, exclude({kS1}));
    db.update(2, kG, include({kS2}));
    CHECK(db.upstream_state(kG) == exclude({kS1}));
    db.update(1, kG, include({kS1}));
    CHECK(db.upstream_state(kG) == include({kS1, kS2}));
}

TEST_CASE("upstream changes are produced only when the merged state changes", "[mcast][proxy]") {
    RecordingProxyOutput out;
    MembershipDatabase db(out);
    db.update(1, kG, exclude({}));
    db.update(2, kG, exclude({}));
    CHECK(out.upstream.size() == 1);
    db.update(2, kG, exclude({}));  // same state again
    CHECK(db.counters().updates_unchanged == 1);
    db.update(2, kG, include({}));
    CHECK(out.upstream.size() == 1);
    db.update(1, kG, include({}));
    REQUIRE(out.upstream.size() == 2);
    CHECK(out.upstream[1].new_state == include({}));
    CHECK(db.groups().empty());
    CHECK(db.counters().upstream_changes == 2);
}

TEST_CASE(
    "removing a downstream drops its state and leaves upstream where it held the last listener",
    "[mcast][proxy]") {
    RecordingProxyOutput out;
    MembershipDatabase db(out);
    db.add_downstream(1);
    db.add_downstream(2);
    db.update(1, kG, exclude({}));
    db.update(1, kG2, include({kS1}));
    db.update(2, kG2, include({kS2}));
    CHECK(db.downstream_groups(1) == std::vector<Ipv6Address>{kG, kG2});
    out.upstream.clear();
    db.remove_downstream(1);
    CHECK_FALSE(db.has_downstream(1));
    CHECK(db.downstreams() == std::vector<InterfaceId>{2});
    REQUIRE(out.upstream.size() == 2);
    std::map<Ipv6Address, MembershipState> changes;
    for (const auto& c : out.upstream) changes[c.group] = c.new_state;
    CHECK(changes[kG] == include({}));      // leave
    CHECK(changes[kG2] == include({kS2}));  // S1 blocked upstream
    CHECK(db.upstream_state(kG).no_listeners());
    CHECK(db.downstream_state(1, kG2).no_listeners());
    db.remove_downstream(1);  // unknown now: no-op
    CHECK(db.counters().downstreams_removed == 1);
}

TEST_CASE(
    "RFC 4605 4.2: forwarding per (S,G) to the downstreams that want it, never back to arrival",
    "[mcast][proxy]") {
    RecordingProxyOutput out;
    MembershipDatabase db(out);
    db.update(1, kG, include({kS1}));
    db.update(2, kG, exclude({kS1}));
    db.update(3, kG, exclude({}));
    CHECK(db.downstreams_for(kS1, kG) == std::vector<InterfaceId>{1, 3});
    CHECK(db.downstreams_for(kS2, kG) == std::vector<InterfaceId>{2, 3});
    CHECK(db.downstreams_for(kS2, kG, 2) == std::vector<InterfaceId>{3});
    CHECK(db.downstreams_for(kS1, kG2).empty());
    out.forwarding.clear();
    db.set_querier(3, false);  // another router is querier there
    CHECK(out.forwarding == std::vector<Ipv6Address>{kG});
    CHECK(db.downstreams_for(kS2, kG) == std::vector<InterfaceId>{2});
    db.set_querier(3, true);
    CHECK(db.downstreams_for(kS2, kG) == std::vector<InterfaceId>{2, 3});
}

TEST_CASE("every change of a downstream's state signals forwarding_changed for its group",
          "[mcast][proxy]") {
    RecordingProxyOutput out;
    MembershipDatabase db(out);
    db.update(1, kG, exclude({}));
    db.update(2, kG, exclude({}));  // upstream unchanged, forwarding changed
    CHECK(out.forwarding == std::vector<Ipv6Address>{kG, kG});
    db.update(2, kG, exclude({}));
    CHECK(out.forwarding.size() == 2);
}

TEST_CASE("incremental merge equals the brute-force merge over random updates", "[mcast][proxy]") {
    RecordingProxyOutput out;
    MembershipDatabase db(out);
    std::mt19937 rng(42);
    const std::vector<Ipv6Address> sources{kS1, kS2, kS3, kS4};
    const std::vector<Ipv6Address> groups{kG, kG2};
    std::map<std::pair<InterfaceId, Ipv6Address>, MembershipState> truth;
    for (int i = 0; i < 3000; ++i) {
        const InterfaceId ifc = 1 + rng() % 6;
        const Ipv6Address g = groups[rng() % 2];
        if (rng() % 40 == 0) {
            db.remove_downstream(ifc);
            std::erase_if(truth, [&](const auto& kv) { return kv.first.first == ifc; });
        } else {
            MembershipState st;
            st.mode = rng() % 3 == 0 ? FilterMode::kExclude : FilterMode::kInclude;
            for (const auto& s : sources) {
                if (rng() % 2)
                    st.sources.insert(s);
            }
            db.update(ifc, g, st);
            truth[{ifc, g}] = st;
        }
        for (const auto& group : groups) {
            std::vector<MembershipState> states;
            for (const auto& [key, st] : truth) {
                if (key.second == group)
                    states.push_back(st);
            }
            REQUIRE(db.upstream_state(group) == brute_force_merge(states));
        }
    }
}

TEST_CASE("RFC 4605 4.2: forwards_to agrees with downstreams_for for every downstream",
          "[mcast][proxy]") {
    RecordingProxyOutput out;
    Policy policy;
    policy.denied_sources.push_back({prefix("2001:db8::4/128"), prefix("ff3e::/16")});
    MembershipDatabase db(out, policy);
    std::mt19937 rng(7);
    const std::vector<Ipv6Address> sources{kS1, kS2, kS3, kS4};
    for (int i = 0; i < 2000; ++i) {
        const InterfaceId ifc = 1 + rng() % 6;
        if (rng() % 50 == 0) {
            db.set_querier(ifc, rng() % 2 == 0);
        } else {
            MembershipState st;
            st.mode = rng() % 3 == 0 ? FilterMode::kExclude : FilterMode::kInclude;
            for (const auto& s : sources) {
                if (rng() % 2)
                    st.sources.insert(s);
            }
            db.update(ifc, kG, st);
        }
        for (const auto& s : sources) {
            for (std::optional<InterfaceId> arrival : {std::optional<InterfaceId>{},
                                                       std::optional<InterfaceId>{3}}) {
                const auto list = db.downstreams_for(s, kG, arrival);
                for (InterfaceId d = 1; d <= 7; ++d) {
                    const bool listed = std::find(list.begin(), list.end(), d) != list.end();
                    REQUIRE(db.forwards_to(d, s, kG, arrival) == listed);
                }
            }
        }
    }
}

TEST_CASE("policy: denied and not-allowed groups are refused", "[mcast][proxy]") {
    Policy p;
    p.allowed_groups = {prefix("ff3e::/16")};
    p.denied_groups = {prefix("ff3e::8000:2/128")};
    CHECK(p.admits_group(kG));
    CHECK_FALSE(p.admits_group(kG2));
    CHECK_FALSE(p.admits_group(addr("ff05::1")));
    RecordingProxyOutput out;
    MembershipDatabase db(out, p);
    db.update(1, kG2, exclude({}));
    db.update(1, addr("ff05::1"), exclude({}));
    CHECK(db.groups().empty());
    CHECK(out.upstream.empty());
    CHECK(db.counters().updates_refused == 2);
    db.update(1, kG, exclude({}));
    CHECK(db.upstream_state(kG) == exclude({}));
}

TEST_CASE("policy: denied (S,G) is removed from INCLUDE, excluded in EXCLUDE and never forwarded",
          "[mcast][proxy]") {
    Policy p;
    p.denied_sources = {{prefix("2001:db8::1/128"), prefix("ff3e::/16")},
                        {prefix("2001:db8:bad::/48"), prefix("ff3e::/16")}};
    RecordingProxyOutput out;
    MembershipDatabase db(out, p);
    db.update(1, kG, include({kS1, kS2}));
    CHECK(db.upstream_state(kG) == include({kS2}));
    db.update(2, kG, exclude({}));
    CHECK(db.downstream_state(2, kG) == exclude({kS1}));
    CHECK(db.upstream_state(kG) == exclude({kS1}));
    CHECK(db.downstreams_for(kS1, kG).empty());
    CHECK(db.downstreams_for(addr("2001:db8:bad::7"), kG).empty());
    CHECK(db.downstreams_for(kS3, kG) == std::vector<InterfaceId>{2});
}

TEST_CASE("policy: a source-restricted group admits only listed sources and no EXCLUDE joins",
          "[mcast][proxy]") {
    Policy p;
    p.allowed_sources = {{prefix("2001:db8::2/128"), prefix("ff3e::8000:1/128")}};
    CHECK(p.source_restricted(kG));
    CHECK_FALSE(p.source_restricted(kG2));
    CHECK(p.admits_source(kS2, kG));
    CHECK_FALSE(p.admits_source(kS1, kG));
    CHECK(p.admits_source(kS1, kG2));
    CHECK_FALSE(admits_v1(p, kG));
    CHECK(admits_v1(p, kG2));
    RecordingProxyOutput out;
    MembershipDatabase db(out, p);
    db.update(1, kG, exclude({}));
    CHECK(db.groups().empty());
    db.update(1, kG, include({kS1, kS2}));
    CHECK(db.upstream_state(kG) == include({kS2}));
}

TEST_CASE("policy: filter_records applies the lists to received records", "[mcast][proxy]") {
    Policy p;
    p.denied_groups = {prefix("ff3e::8000:2/128")};
    p.denied_sources = {{prefix("2001:db8::1/128"), prefix("ff3e::/16")}};
    std::vector<MulticastAddressRecord> records{
        {RecordType::kChangeToExcludeMode, kG2, {}, {}},     // group denied: dropped
        {RecordType::kAllowNewSources, kG, {kS1, kS2}, {}},  // S1 removed
        {RecordType::kModeIsInclude, kG, {kS1}, {}},         // empty after: dropped
        {RecordType::kChangeToIncludeMode, kG, {kS1}, {}},   // TO_IN({}) kept
        {RecordType::kModeIsExclude, kG, {kS3}, {}},         // S1 added
        {RecordType::kBlockOldSources, kG, {kS1}, {}},       // kept as is
    };
    const auto dropped = filter_records(p, records);
    CHECK(dropped == 5);  // 2 records dropped, 3 sources removed
    REQUIRE(records.size() == 4);
    CHECK(records[0].type == RecordType::kAllowNewSources);
    CHECK(records[0].sources == std::vector<Ipv6Address>{kS2});
    CHECK(records[1].type == RecordType::kChangeToIncludeMode);
    CHECK(records[1].sources.empty());
    CHECK(records[2].sources == std::vector<Ipv6Address>{kS3, kS1});
    CHECK(records[3].type == RecordType::kBlockOldSources);
}

namespace {

// Wires one querier per downstream interface to the database, as the proxy
// instance adapter does.
class DownstreamLink final : public QuerierOutput {
  public:
    DownstreamLink(MembershipDatabase& db, InterfaceId id) : db_(db), id_(id) {}
    void send_query(const Ipv6Address&, const MldMessage&) override { ++queries; }
    void membership_changed(const Ipv6Address& group, const MembershipState& state) override {
        db_.update(id_, group, state);
    }
    int queries = 0;

  private:
    MembershipDatabase& db_;
    InterfaceId id_;
};

}  // namespace

TEST_CASE("queriers on two downstreams feed the database, a listener's leave reaches upstream",
          "[mcast][proxy]") {
    SimulatedClock clock;
    TimerQueue timers(clock);
    RecordingProxyOutput out;
    MembershipDatabase db(out);
    DownstreamLink link1(db, 1);
    DownstreamLink link2(db, 2);
    QuerierConfig c;
    c.fast_leave = true;
    Querier q1(timers, link1, addr("fe80::1"), c);
    Querier q2(timers, link2, addr("fe80::1"), c);
    q1.start();
    q2.start();
    const auto mn1 = addr("fe80::a1");
    const auto mn2 = addr("fe80::a2");
    Mldv2Report join_ssm;
    join_ssm.records.push_back({RecordType::kAllowNewSources, kG, {kS1}, {}});
    Mldv2Report join_asm;
    join_asm.records.push_back({RecordType::kChangeToExcludeMode, kG, {kS2}, {}});
    q1.receive_report(mn1, join_ssm);
    q2.receive_report(mn2, join_asm);
    CHECK(db.upstream_state(kG) == exclude({kS2}));
    CHECK(db.downstreams_for(kS1, kG) == std::vector<InterfaceId>{1, 2});
    CHECK(db.downstreams_for(kS2, kG).empty());
    CHECK(db.downstreams_for(kS3, kG) == std::vector<InterfaceId>{2});
    Mldv2Report leave_asm;
    leave_asm.records.push_back({RecordType::kChangeToIncludeMode, kG, {}, {}});
    q2.receive_report(mn2, leave_asm);  // fast leave on the point-to-point link
    CHECK(db.upstream_state(kG) == include({kS1}));
    // Link 1's listener goes silent: after MALI the group is gone upstream.
    clock.advance(q1.multicast_address_listening_interval());
    timers.run_due();
    CHECK(db.upstream_state(kG).no_listeners());
    REQUIRE_FALSE(out.upstream.empty());
    CHECK(out.upstream.back().new_state == include({}));
}

TEST_CASE("upstream records follow the RFC 3810 section 6.1 table", "[mcast][proxy]") {
    using V = std::vector<Ipv6Address>;
    auto recs = state_change_records(kG, include({kS1, kS2}), include({kS2, kS3}));
    REQUIRE(recs.size() == 2);
    CHECK(recs[0].type == RecordType::kAllowNewSources);
    CHECK(recs[0].sources == V{kS3});
    CHECK(recs[1].type == RecordType::kBlockOldSources);
    CHECK(recs[1].sources == V{kS1});
    recs = state_change_records(kG, exclude({kS1, kS2}), exclude({kS2, kS3}));
    REQUIRE(recs.size() == 2);
    CHECK(recs[0].type == RecordType::kAllowNewSources);
    CHECK(recs[0].sources == V{kS1});
    CHECK(recs[1].type == RecordType::kBlockOldSources);
    CHECK(recs[1].sources == V{kS3});
    recs = state_change_records(kG, include({kS1}), exclude({kS2}));
    REQUIRE(recs.size() == 1);
    CHECK(recs[0].type == RecordType::kChangeToExcludeMode);
    CHECK(recs[0].sources == V{kS2});
    recs = state_change_records(kG, exclude({}), include({}));  // leave
    REQUIRE(recs.size() == 1);
    CHECK(recs[0].type == RecordType::kChangeToIncludeMode);
    CHECK(recs[0].sources.empty());
    recs = state_change_records(kG, include({kS1}), include({kS1, kS2}));
    REQUIRE(recs.size() == 1);  // empty BLOCK omitted
    CHECK(state_change_records(kG, include({kS1}), include({kS1})).empty());
    CHECK_FALSE(current_state_record(kG, include({})));
    CHECK(current_state_record(kG, exclude({kS1}))->type == RecordType::kModeIsExclude);
    CHECK(current_state_record(kG, include({kS1}))->sources == V{kS1});
}

namespace {

class RecordingInstanceOutput final : public ProxyInstanceOutput {
  public:
    void send_query(InterfaceId downstream, const Ipv6Address& destination,
                    const MldMessage& query) override {
        queries.push_back({downstream, destination, query});
    }
    void upstream_membership_changed(const Ipv6Address& group, const MembershipState& old_state,
                                     const MembershipState& new_state) override {
        upstream.push_back({group, old_state, new_state});
    }
    void forwarding_changed(const Ipv6Address& group) override { forwarding.push_back(group); }

    struct Sent {
        InterfaceId downstream;
        Ipv6Address destination;
        MldMessage query;
    };
    std::vector<Sent> queries;
    std::vector<UpstreamChange> upstream;
    std::vector<Ipv6Address> forwarding;
};

Mldv2Report report_of(RecordType type, const Ipv6Address& group, std::vector<Ipv6Address> s) {
    Mldv2Report r;
    r.records.push_back({type, group, std::move(s), {}});
    return r;
}

}  // namespace

TEST_CASE("proxy instance: a downstream added at run time gets a General Query at once",
          "[mcast][proxy]") {
    SimulatedClock clock;
    TimerQueue timers(clock);
    RecordingInstanceOutput out;
    ProxyInstance inst(timers, out);
    CHECK(inst.add_downstream(7, addr("fe80::1")));
    CHECK_FALSE(inst.add_downstream(7, addr("fe80::1")));
    REQUIRE(out.queries.size() == 1);
    CHECK(out.queries[0].downstream == 7);
    CHECK(out.queries[0].destination == kAllNodes);
    CHECK(std::get<Mldv2Query>(out.queries[0].query).multicast_address == Ipv6Address{});
    CHECK(inst.downstreams() == std::vector<InterfaceId>{7});
}

TEST_CASE(
    "proxy instance: reports reach upstream, removal of the last listener's downstream leaves",
    "[mcast][proxy]") {
    SimulatedClock clock;
    TimerQueue timers(clock);
    RecordingInstanceOutput out;
    ProxyInstance inst(timers, out);
    inst.add_downstream(1, addr("fe80::1"));
    inst.add_downstream(2, addr("fe80::1"));
    inst.receive(1, addr("fe80::a1"), report_of(RecordType::kChangeToExcludeMode, kG, {}));
    inst.receive(2, addr("fe80::a2"), report_of(RecordType::kAllowNewSources, kG, {kS1}));
    inst.receive(2, addr("fe80::a2"), Mldv1Report{kG2});
    CHECK(inst.database().upstream_state(kG) == exclude({}));
    CHECK(inst.database().upstream_state(kG2) == exclude({}));
    CHECK(inst.downstreams_for(kS2, kG) == std::vector<InterfaceId>{1});
    out.upstream.clear();
    inst.remove_downstream(2);
    REQUIRE(out.upstream.size() == 1);  // kG is still held by downstream 1
    CHECK(out.upstream[0].group == kG2);
    CHECK(out.upstream[0].new_state == include({}));
    inst.receive(2, addr("fe80::a2"), Mldv1Report{kG2});
    CHECK(inst.counters().messages_unknown_downstream == 1);
    CHECK(timers.pending() > 0);
    inst.remove_downstream(1);
    CHECK(inst.database().groups().empty());
    CHECK(timers.pending() == 0);
}

TEST_CASE("proxy instance: the policy is applied to received reports", "[mcast][proxy]") {
    SimulatedClock clock;
    TimerQueue timers(clock);
    RecordingInstanceOutput out;
    Policy p;
    p.denied_groups = {prefix("ff3e::8000:2/128")};
    p.denied_sources = {{prefix("2001:db8::1/128"), prefix("ff3e::/16")}};
    ProxyInstance inst(timers, out, p);
    inst.add_downstream(1, addr("fe80::1"));
    inst.receive(1, addr("fe80::a1"), report_of(RecordType::kAllowNewSources, kG, {kS1, kS2}));
    inst.receive(1, addr("fe80::a1"), Mldv1Report{kG2});
    CHECK(inst.database().upstream_state(kG) == include({kS2}));
    CHECK(inst.database().upstream_state(kG2).no_listeners());
    CHECK(inst.querier(1)->state(kG) == include({kS2}));
    CHECK(inst.counters().records_refused == 1);
    CHECK(inst.counters().v1_refused == 1);
}

TEST_CASE("proxy instance: no forwarding onto a downstream where another router is querier",
          "[mcast][proxy]") {
    SimulatedClock clock;
    TimerQueue timers(clock);
    RecordingInstanceOutput out;
    ProxyInstance inst(timers, out);
    inst.add_downstream(1, addr("fe80::5"));
    inst.receive(1, addr("fe80::a1"), report_of(RecordType::kChangeToExcludeMode, kG, {}));
    CHECK(inst.downstreams_for(kS1, kG) == std::vector<InterfaceId>{1});
    inst.receive(1, addr("fe80::2"), Mldv2Query{});  // lower address wins the election
    CHECK_FALSE(inst.querier(1)->is_querier());
    CHECK(inst.downstreams_for(kS1, kG).empty());
    clock.advance(inst.querier(1)->other_querier_present_timeout());
    timers.run_due();
    CHECK(inst.querier(1)->is_querier());
}

TEST_CASE("two members' states merge by RFC 3810 section 4.2", "[mcast][proxy]") {
    CHECK(merge(include({kS1}), include({kS2})) == include({kS1, kS2}));
    CHECK(merge(include({}), include({})) == include({}));
    CHECK(merge(exclude({kS1, kS2}), exclude({kS2, kS3})) == exclude({kS2}));
    CHECK(merge(exclude({kS1, kS2}), include({kS1})) == exclude({kS2}));
    CHECK(merge(include({kS1}), exclude({kS1, kS2})) == exclude({kS2}));
    CHECK(merge(exclude({}), include({})) == exclude({}));
}

// Network-initiated service: channels of the MN's profile held on its link
// whatever MLD says (draft-zhao; draft-asaeda section 7.1's profile).
TEST_CASE("proxy instance: static subscriptions reach upstream without any report and outlive the MN's",
          "[mcast][proxy][static]") {
    SimulatedClock clock;
    TimerQueue timers(clock);
    RecordingInstanceOutput out;
    ProxyInstance inst(timers, out);
    CHECK_FALSE(inst.set_static_subscriptions(1, {{kG, include({kS1})}}));
    CHECK(inst.static_subscriptions(1) == nullptr);
    inst.add_downstream(1, addr("fe80::1"));
    inst.add_downstream(2, addr("fe80::1"));
    REQUIRE(inst.set_static_subscriptions(1, {{kG, include({kS1})}, {kG2, exclude({})}}));
    CHECK(inst.counters().static_set == 1);
    CHECK(inst.database().upstream_state(kG) == include({kS1}));
    CHECK(inst.database().upstream_state(kG2) == exclude({}));
    CHECK(inst.downstreams_for(kS1, kG) == std::vector<InterfaceId>{1});
    CHECK(inst.downstreams_for(kS2, kG2) == std::vector<InterfaceId>{1});
    CHECK(inst.querier(1)->state(kG).no_listeners());  // nobody reported it

    // The MN's own reports merge with the profile's channels...
    inst.receive(1, addr("fe80::a1"), report_of(RecordType::kAllowNewSources, kG, {kS2}));
    CHECK(inst.database().downstream_state(1, kG) == include({kS1, kS2}));
    // ...and its leave or silence removes only what it asked for.
    inst.receive(1, addr("fe80::a1"), report_of(RecordType::kBlockOldSources, kG, {kS2}));
    inst.receive(1, addr("fe80::a1"), Mldv1Done{kG2});
    for (int i = 0; i < 3; ++i) {
        clock.advance(inst.querier(1)->multicast_address_listening_interval());
        timers.run_due();
    }
    CHECK(inst.database().downstream_state(1, kG) == include({kS1}));
    CHECK(inst.database().downstream_state(1, kG2) == exclude({}));
    CHECK(inst.downstreams_for(kS1, kG) == std::vector<InterfaceId>{1});

    // Another downstream's listener keeps kG2 upstream when the profile drops it.
    inst.receive(2, addr("fe80::a2"), report_of(RecordType::kChangeToExcludeMode, kG2, {}));
    out.upstream.clear();
    REQUIRE(inst.set_static_subscriptions(1, {{kG, include({kS1})}}));
    CHECK(out.upstream.empty());
    CHECK(inst.downstreams_for(kS1, kG2) == std::vector<InterfaceId>{2});
    CHECK(inst.static_subscriptions(1)->size() == 1);

    // Replaced by nothing: the upstream leaves kG (nobody else holds it).
    REQUIRE(inst.set_static_subscriptions(1, {}));
    REQUIRE(out.upstream.size() == 1);
    CHECK(out.upstream[0].group == kG);
    CHECK(out.upstream[0].new_state == include({}));
    CHECK(inst.downstreams_for(kS1, kG).empty());
}

TEST_CASE("proxy instance: a removed downstream's static subscriptions go with it", "[mcast][proxy][static]") {
    SimulatedClock clock;
    TimerQueue timers(clock);
    RecordingInstanceOutput out;
    ProxyInstance inst(timers, out);
    inst.add_downstream(1, addr("fe80::1"));
    REQUIRE(inst.set_static_subscriptions(1, {{kG, exclude({})}}));
    inst.receive(1, addr("fe80::a1"), report_of(RecordType::kChangeToExcludeMode, kG, {}));
    out.upstream.clear();
    inst.remove_downstream(1);
    REQUIRE(out.upstream.size() == 1);
    CHECK(out.upstream[0].new_state == include({}));
    CHECK(inst.database().groups().empty());
    // Added again, the downstream starts without them.
    inst.add_downstream(1, addr("fe80::1"));
    CHECK(inst.static_subscriptions(1)->empty());
    CHECK(inst.database().groups().empty());
}

TEST_CASE("proxy instance: the policy applies to static subscriptions and counts what it refuses",
          "[mcast][proxy][static]") {
    SimulatedClock clock;
    TimerQueue timers(clock);
    RecordingInstanceOutput out;
    Policy p;
    p.denied_groups = {prefix("ff3e::8000:2/128")};
    p.denied_sources = {{prefix("2001:db8::1/128"), prefix("ff3e::/16")}};
    ProxyInstance inst(timers, out, p);
    inst.add_downstream(1, addr("fe80::1"));
    REQUIRE(inst.set_static_subscriptions(1, {{kG, include({kS1, kS2})}, {kG2, exclude({})}}));
    CHECK(inst.counters().static_refused == 2);
    CHECK(inst.database().upstream_state(kG) == include({kS2}));
    CHECK(inst.database().upstream_state(kG2).no_listeners());
    CHECK(inst.downstreams_for(kS1, kG).empty());
    CHECK(inst.downstreams_for(kS2, kG) == std::vector<InterfaceId>{1});
}

TEST_CASE("proxy instance: a downstream's own policy filters its reports, cuts its state and counts refusals",
          "[mcast][proxy][downstream_policy]") {
    SimulatedClock clock;
    TimerQueue timers(clock);
    RecordingInstanceOutput out;
    ProxyInstance inst(timers, out);
    CHECK_FALSE(inst.set_downstream_policy(1, {}));
    inst.add_downstream(1, addr("fe80::1"));
    inst.add_downstream(2, addr("fe80::1"));
    DownstreamPolicy own;
    own.policy.denied_groups = {prefix("ff3e::8000:2/128")};
    own.policy.denied_sources = {{prefix("2001:db8::1/128"), prefix("ff3e::/16")}};
    REQUIRE(inst.set_downstream_policy(1, own));
    inst.receive(1, addr("fe80::a1"), report_of(RecordType::kAllowNewSources, kG, {kS1, kS2}));
    inst.receive(1, addr("fe80::a1"), Mldv1Report{kG2});
    inst.receive(1, addr("fe80::a1"), report_of(RecordType::kChangeToExcludeMode, kG2, {}));
    CHECK(inst.database().downstream_state(1, kG) == include({kS2}));
    CHECK(inst.database().downstream_state(1, kG2).no_listeners());
    CHECK(inst.counters().downstream_records_refused == 2);  // kS1 of kG, the kG2 record
    CHECK(inst.counters().downstream_v1_refused == 1);
    CHECK(inst.counters().records_refused == 0);  // not the instance's policy
    // The other downstream is not bound by it.
    inst.receive(2, addr("fe80::a2"), Mldv1Report{kG2});
    CHECK(inst.database().downstream_state(2, kG2) == exclude({}));
    CHECK(inst.downstreams_for(kS3, kG2) == std::vector<InterfaceId>{2});

    // A static channel the downstream's policy denies is cut too (and counted).
    REQUIRE(inst.set_static_subscriptions(1, {{kG2, exclude({})}, {kG, include({kS1, kS3})}}));
    CHECK(inst.counters().static_refused == 2);
    CHECK(inst.database().downstream_state(1, kG2).no_listeners());
    CHECK(inst.database().downstream_state(1, kG) == include({kS2, kS3}));

    // A stricter policy cuts the state already held, at once.
    own.policy.denied_groups.push_back(prefix("ff3e::8000:1/128"));
    out.upstream.clear();
    REQUIRE(inst.set_downstream_policy(1, own));
    CHECK(inst.database().downstream_state(1, kG).no_listeners());
    REQUIRE_FALSE(out.upstream.empty());
    CHECK(out.upstream.back().group == kG);
    CHECK(out.upstream.back().new_state == include({}));
    // And a looser one gives it back (the querier kept what the MN said).
    REQUIRE(inst.set_downstream_policy(1, {}));
    CHECK(inst.database().downstream_state(1, kG) == include({kS2, kS1, kS3}));
    CHECK(inst.database().downstream_state(1, kG2) == exclude({}));
}

TEST_CASE("proxy instance: max_groups refuses the groups past the limit (counted), link scope and statics not counted",
          "[mcast][proxy][downstream_policy]") {
    SimulatedClock clock;
    TimerQueue timers(clock);
    RecordingInstanceOutput out;
    ProxyInstance inst(timers, out);
    inst.add_downstream(1, addr("fe80::1"));
    DownstreamPolicy own;
    own.max_groups = 2;
    REQUIRE(inst.set_downstream_policy(1, own));
    const Ipv6Address kG3 = addr("ff0e::3"), kG4 = addr("ff0e::4"), kLink = addr("ff02::1:ff00:1");
    REQUIRE(inst.set_static_subscriptions(1, {{addr("ff0e::99"), exclude({})}}));
    inst.receive(1, addr("fe80::a1"), Mldv1Report{kLink});
    Mldv2Report three;
    three.records = {{RecordType::kChangeToExcludeMode, kG, {}, {}},
                     {RecordType::kAllowNewSources, kG2, {kS1}, {}},
                     {RecordType::kChangeToExcludeMode, kG3, {}, {}}};
    inst.receive(1, addr("fe80::a1"), three);
    CHECK(inst.database().downstream_state(1, kG) == exclude({}));
    CHECK(inst.database().downstream_state(1, kG2) == include({kS1}));
    CHECK(inst.database().downstream_state(1, kG3).no_listeners());
    CHECK(inst.counters().group_limit_refused == 1);
    // Held groups may change; a new one (v1 too) is refused; a leave frees a place.
    inst.receive(1, addr("fe80::a1"), report_of(RecordType::kAllowNewSources, kG2, {kS2}));
    CHECK(inst.database().downstream_state(1, kG2) == include({kS1, kS2}));
    inst.receive(1, addr("fe80::a1"), Mldv1Report{kG4});
    CHECK(inst.database().downstream_state(1, kG4).no_listeners());
    CHECK(inst.counters().group_limit_refused == 2);
    inst.receive(1, addr("fe80::a1"), report_of(RecordType::kChangeToIncludeMode, kG, {}));
    // The querier confirms the leave (Last Listener Query) before the group goes.
    for (int i = 0; i < 5; ++i) {
        clock.advance(1s);
        timers.run_due();
    }
    inst.receive(1, addr("fe80::a1"), report_of(RecordType::kChangeToExcludeMode, kG3, {}));
    CHECK(inst.database().downstream_state(1, kG3) == exclude({}));
    CHECK(inst.counters().group_limit_refused == 2);
}

TEST_CASE("proxy instance: max_groups: the profile's own channels, reported by the MN too, take no place",
          "[mcast][proxy][downstream_policy]") {
    SimulatedClock clock;
    TimerQueue timers(clock);
    RecordingInstanceOutput out;
    ProxyInstance inst(timers, out);
    inst.add_downstream(1, addr("fe80::1"));
    DownstreamPolicy own;
    own.max_groups = 1;
    REQUIRE(inst.set_downstream_policy(1, own));
    REQUIRE(inst.set_static_subscriptions(1, {{kG, exclude({})}}));
    // The MN's app listens to the profile's channel: no place taken, none refused.
    inst.receive(1, addr("fe80::a1"), report_of(RecordType::kChangeToExcludeMode, kG, {}));
    CHECK(inst.counters().group_limit_refused == 0);
    // Its one group of its own is still free; a second is refused. Two
    // records for the same new group in one report take one place.
    Mldv2Report two;
    two.records = {{RecordType::kAllowNewSources, kG2, {kS1}, {}},
                   {RecordType::kAllowNewSources, kG2, {kS2}, {}},
                   {RecordType::kChangeToExcludeMode, addr("ff0e::5"), {}, {}}};
    inst.receive(1, addr("fe80::a1"), two);
    CHECK(inst.database().downstream_state(1, kG2) == include({kS1, kS2}));
    CHECK(inst.database().downstream_state(1, addr("ff0e::5")).no_listeners());
    CHECK(inst.counters().group_limit_refused == 1);
}
