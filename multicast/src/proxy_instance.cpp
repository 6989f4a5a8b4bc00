// MLD proxy instance [RFC 4605 sections 3, 4; RFC 6224 sections 3, 4.2].
#include "pmip/mcast/proxy_instance.hpp"

#include <set>

#include "pmip/common/log.hpp"

namespace pmip::mcast {

void ProxyInstance::Link::send_query(const Ipv6Address& destination, const MldMessage& query) {
    instance_.output_.send_query(id_, destination, query);
}

void ProxyInstance::Link::membership_changed(const Ipv6Address& group,
                                             const MembershipState& state) {
    instance_.database_.update(id_, group, instance_.with_static(id_, group, state));
}

MembershipState ProxyInstance::with_static(InterfaceId downstream, const Ipv6Address& group,
                                           const MembershipState& learnt) const {
    const auto d = downstreams_.find(downstream);
    if (d == downstreams_.end())
        return learnt;
    const auto s = d->second.statics.find(group);
    const MembershipState merged = s == d->second.statics.end() ? learnt : merge(learnt, s->second);
    return d->second.policy.link.apply(group, d->second.policy.policy.apply(group, merged));
}

void ProxyInstance::restate(InterfaceId downstream, const Downstream& d, const std::set<Ipv6Address>& groups) {
    for (const Ipv6Address& group : groups)
        database_.update(downstream, group, with_static(downstream, group, d.querier->state(group)));
}

namespace {

// Groups wider than link scope: the ones a downstream's max_groups counts.
bool counted_group(const Ipv6Address& group) {
    return (group[1] & 0x0f) > 2;
}

// A record that gives its group state when it had none [RFC 3810 section 7.4].
bool creates_state(const MulticastAddressRecord& r) {
    switch (r.type) {
        case RecordType::kModeIsExclude:
        case RecordType::kChangeToExcludeMode:
            return true;
        case RecordType::kModeIsInclude:
        case RecordType::kChangeToIncludeMode:
        case RecordType::kAllowNewSources:
            return !r.sources.empty();
        default:
            return false;
    }
}

}  // namespace

void ProxyInstance::enforce_group_limit(const Downstream& d, std::vector<MulticastAddressRecord>& records) {
    const std::size_t limit = d.policy.max_groups;
    if (limit == 0)
        return;
    const Querier& q = *d.querier;
    // The profile's own channels neither count nor are refused.
    const auto counted = [&](const Ipv6Address& a) { return counted_group(a) && !d.statics.contains(a); };
    std::set<Ipv6Address> held;
    for (const Ipv6Address& a : q.addresses()) {
        if (counted(a) && !q.state(a).no_listeners())
            held.insert(a);
    }
    std::erase_if(records, [&](const MulticastAddressRecord& r) {
        if (!counted(r.multicast_address) || held.contains(r.multicast_address) || !creates_state(r))
            return false;
        if (held.size() < limit) {
            held.insert(r.multicast_address);
            return false;
        }
        ++counters_.group_limit_refused;
        return true;
    });
}

bool ProxyInstance::set_downstream_policy(InterfaceId downstream, DownstreamPolicy policy) {
    const auto it = downstreams_.find(downstream);
    if (it == downstreams_.end())
        return false;
    it->second.policy = std::move(policy);
    std::set<Ipv6Address> groups;
    for (const Ipv6Address& a : it->second.querier->addresses()) groups.insert(a);
    for (const auto& [group, state] : it->second.statics) groups.insert(group);
    restate(downstream, it->second, groups);
    return true;
}

void ProxyInstance::set_policy(Policy policy) {
    database_.set_policy(std::move(policy));
    for (const auto& [id, d] : downstreams_) {
        std::set<Ipv6Address> groups;
        for (const Ipv6Address& a : d.querier->addresses()) groups.insert(a);
        for (const auto& [group, state] : d.statics) groups.insert(group);
        for (const Ipv6Address& g : database_.downstream_groups(id)) groups.insert(g);
        restate(id, d, groups);
    }
}

const DownstreamPolicy* ProxyInstance::downstream_policy(InterfaceId downstream) const {
    const auto it = downstreams_.find(downstream);
    return it == downstreams_.end() ? nullptr : &it->second.policy;
}

bool ProxyInstance::set_static_subscriptions(InterfaceId downstream, StaticSubscriptions subscriptions) {
    const auto it = downstreams_.find(downstream);
    if (it == downstreams_.end())
        return false;
    ++counters_.static_set;
    std::set<Ipv6Address> groups;
    for (const auto& [group, state] : it->second.statics) groups.insert(group);
    for (const auto& [group, state] : subscriptions) {
        groups.insert(group);
        if (database_.policy().apply(group, state) != state ||
            it->second.policy.policy.apply(group, state) != state ||
            it->second.policy.link.apply(group, state) != state)
            ++counters_.static_refused;
    }
    it->second.statics = std::move(subscriptions);
    restate(downstream, it->second, groups);
    return true;
}

const StaticSubscriptions* ProxyInstance::static_subscriptions(InterfaceId downstream) const {
    const auto it = downstreams_.find(downstream);
    return it == downstreams_.end() ? nullptr : &it->second.statics;
}

// RFC 4605 section 4.2: forward onto a downstream only where this proxy is
// the querier.
void ProxyInstance::Link::querier_changed(bool is_querier) {
    instance_.database_.set_querier(id_, is_querier);
}

ProxyInstance::ProxyInstance(Timers& timers, ProxyInstanceOutput& output, Policy policy,
                             std::string context)
    : timers_(timers),
      output_(output),
      context_(std::move(context)),
      database_output_(output),
      database_(database_output_, std::move(policy)) {}

ProxyInstance::~ProxyInstance() {
    // Queriers first: their timers reference the links.
    for (auto& [id, d] : downstreams_) d.querier.reset();
}

bool ProxyInstance::add_downstream(InterfaceId downstream, const Ipv6Address& link_local,
                                   const QuerierConfig& config,
                                   std::optional<TimePoint> query_sent_at) {
    if (downstreams_.contains(downstream))
        return false;
    Downstream d;
    d.link = std::make_unique<Link>(*this, downstream);
    d.querier = std::make_unique<Querier>(timers_, *d.link, link_local, config,
                                          context_ + " [if=" + std::to_string(downstream) + "]");
    database_.add_downstream(downstream, true);
    Querier& q = *d.querier;
    downstreams_.emplace(downstream, std::move(d));
    PMIP_INFO(kMld, context_, "downstream " + std::to_string(downstream) + " added");
    // RFC 6224 section 3 step 6: General Query on the new link (or the one
    // the adapter sent already, PROTOCOL.md 6.2 step 3).
    if (query_sent_at)
        q.start_after_query(*query_sent_at);
    else
        q.start();
    return true;
}

void ProxyInstance::remove_downstream(InterfaceId downstream) {
    const auto it = downstreams_.find(downstream);
    if (it == downstreams_.end())
        return;
    it->second.querier->stop();
    downstreams_.erase(it);
    database_.remove_downstream(downstream);
    PMIP_INFO(kMld, context_, "downstream " + std::to_string(downstream) + " removed");
}

void ProxyInstance::receive(InterfaceId downstream, const Ipv6Address& source,
                            const MldMessage& message) {
    ++counters_.messages_received;
    const auto it = downstreams_.find(downstream);
    if (it == downstreams_.end()) {
        ++counters_.messages_unknown_downstream;
        return;
    }
    const Downstream& d = it->second;
    Querier& q = *d.querier;
    const Policy& policy = database_.policy();
    const Policy& own = d.policy.policy;
    if (const auto* report = std::get_if<Mldv2Report>(&message)) {
        std::vector<MulticastAddressRecord> records = report->records;
        counters_.records_refused += filter_records(policy, records);
        counters_.downstream_records_refused += filter_records(own, records);
        counters_.downstream_records_refused += filter_records(d.policy.link, records);
        enforce_group_limit(d, records);
        q.receive_records(source, records);
        return;
    }
    const Ipv6Address* v1_group = nullptr;
    if (const auto* r1 = std::get_if<Mldv1Report>(&message))
        v1_group = &r1->multicast_address;
    else if (const auto* d1 = std::get_if<Mldv1Done>(&message))
        v1_group = &d1->multicast_address;
    if (v1_group != nullptr) {
        if (!admits_v1(policy, *v1_group)) {
            ++counters_.v1_refused;
            return;
        }
        if (!admits_v1(own, *v1_group) || !admits_v1(d.policy.link, *v1_group)) {
            ++counters_.downstream_v1_refused;
            return;
        }
        if (std::holds_alternative<Mldv1Report>(message) && d.policy.max_groups != 0) {
            // As an IS_EX {} record (RFC 3810 section 8.3.2).
            std::vector<MulticastAddressRecord> as_record{{RecordType::kModeIsExclude, *v1_group, {}, {}}};
            enforce_group_limit(d, as_record);
            if (as_record.empty())
                return;
        }
    }
    q.receive(source, message);
}

const Querier* ProxyInstance::querier(InterfaceId downstream) const {
    const auto it = downstreams_.find(downstream);
    return it == downstreams_.end() ? nullptr : it->second.querier.get();
}

Querier* ProxyInstance::querier(InterfaceId downstream) {
    const auto it = downstreams_.find(downstream);
    return it == downstreams_.end() ? nullptr : it->second.querier.get();
}

std::vector<InterfaceId> ProxyInstance::downstreams() const {
    std::vector<InterfaceId> out;
    out.reserve(downstreams_.size());
    for (const auto& [id, d] : downstreams_) out.push_back(id);
    return out;
}

std::vector<LinkSubscription> ProxyInstance::subscriptions(InterfaceId downstream) const {
    std::vector<LinkSubscription> out;
    const Querier* q = querier(downstream);
    if (q == nullptr)
        return out;
    for (const Ipv6Address& group : q->addresses()) {
        const auto view = q->address(group);
        if (!view)
            continue;
        std::optional<MulticastAddressRecord> record = current_state_record(group, view->state);
        if (!record)
            continue;  // INCLUDE {}: nobody listens
        out.push_back({std::move(*record), view->mldv1_compatibility});
    }
    return out;
}

bool ProxyInstance::apply_context(InterfaceId downstream, std::vector<MulticastAddressRecord> records) {
    if (querier(downstream) == nullptr)
        return false;
    Mldv2Report report;
    report.records = std::move(records);
    receive(downstream, Ipv6Address{}, report);
    return true;
}

}  // namespace pmip::mcast
