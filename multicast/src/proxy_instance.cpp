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
    return s == d->second.statics.end() ? learnt : merge(learnt, s->second);
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
        if (database_.policy().apply(group, state) != state)
            ++counters_.static_refused;
    }
    it->second.statics = std::move(subscriptions);
    const Querier& q = *it->second.querier;
    for (const Ipv6Address& group : groups)
        database_.update(downstream, group, with_static(downstream, group, q.state(group)));
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
    Querier& q = *it->second.querier;
    const Policy& policy = database_.policy();
    if (const auto* report = std::get_if<Mldv2Report>(&message)) {
        std::vector<MulticastAddressRecord> records = report->records;
        counters_.records_refused += filter_records(policy, records);
        q.receive_records(source, records);
        return;
    }
    if (const auto* r1 = std::get_if<Mldv1Report>(&message)) {
        if (!admits_v1(policy, r1->multicast_address)) {
            ++counters_.v1_refused;
            return;
        }
    } else if (const auto* d1 = std::get_if<Mldv1Done>(&message)) {
        if (!admits_v1(policy, d1->multicast_address)) {
            ++counters_.v1_refused;
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
