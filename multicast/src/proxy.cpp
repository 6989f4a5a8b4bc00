// MLD proxy membership database [RFC 4605 sections 4.1, 4.2; merge rules
// RFC 3810 section 4.2].
#include "pmip/mcast/proxy.hpp"

#include <algorithm>
#include <iterator>

#include <fnmatch.h>

namespace pmip::mcast {

// --- Policy -----------------------------------------------------------------

bool Policy::admits_group(const Ipv6Address& group) const {
    if (!allowed_groups.empty() &&
        std::none_of(allowed_groups.begin(), allowed_groups.end(),
                     [&](const Ipv6Prefix& p) { return contains(p, group); })) {
        return false;
    }
    return std::none_of(denied_groups.begin(), denied_groups.end(),
                        [&](const Ipv6Prefix& p) { return contains(p, group); });
}

bool Policy::source_restricted(const Ipv6Address& group) const {
    return std::any_of(allowed_sources.begin(), allowed_sources.end(),
                       [&](const SourceGroupRule& r) { return contains(r.group, group); });
}

bool Policy::admits_source(const Ipv6Address& source, const Ipv6Address& group) const {
    if (!admits_group(group))
        return false;
    const auto matches = [&](const SourceGroupRule& r) {
        return contains(r.source, source) && contains(r.group, group);
    };
    if (std::any_of(denied_sources.begin(), denied_sources.end(), matches))
        return false;
    if (source_restricted(group))
        return std::any_of(allowed_sources.begin(), allowed_sources.end(), matches);
    return true;
}

namespace {

// Denied host sources (/128) for `group`: the ones an EXCLUDE list can name.
void add_denied_hosts(const Policy& policy, const Ipv6Address& group, SourceSet& out) {
    for (const auto& r : policy.denied_sources) {
        if (r.source.length == 128 && contains(r.group, group))
            out.insert(r.source.address);
    }
}

}  // namespace

MembershipState Policy::apply(const Ipv6Address& group, const MembershipState& state) const {
    if (!admits_group(group))
        return {};
    MembershipState out = state;
    if (state.mode == FilterMode::kInclude) {
        std::erase_if(out.sources, [&](const Ipv6Address& s) { return !admits_source(s, group); });
        return out;
    }
    if (source_restricted(group))
        return {};
    add_denied_hosts(*this, group, out.sources);
    return out;
}

Policy admission_policy(const MulticastAdmission& admission) {
    Policy out;
    out.allowed_groups = admission.allowed_groups;
    out.denied_groups = admission.denied_groups;
    for (const auto& r : admission.allowed_sources) out.allowed_sources.push_back({r.source, r.group});
    for (const auto& r : admission.denied_sources) out.denied_sources.push_back({r.source, r.group});
    return out;
}

std::size_t filter_records(const Policy& policy, std::vector<MulticastAddressRecord>& records) {
    std::size_t dropped = 0;
    std::erase_if(records, [&](MulticastAddressRecord& r) {
        const Ipv6Address& g = r.multicast_address;
        if (!policy.admits_group(g)) {
            ++dropped;
            return true;
        }
        switch (r.type) {
            case RecordType::kModeIsInclude:
            case RecordType::kChangeToIncludeMode:
            case RecordType::kAllowNewSources: {
                const auto removed = std::erase_if(
                    r.sources, [&](const Ipv6Address& s) { return !policy.admits_source(s, g); });
                dropped += removed;
                // An IS_IN or ALLOW left empty says nothing (IS_IN is never empty,
                // RFC 3810 section 5.2.12); TO_IN({}) is a leave and is kept.
                if (removed > 0 && r.sources.empty() &&
                    r.type != RecordType::kChangeToIncludeMode) {
                    ++dropped;
                    return true;
                }
                return false;
            }
            case RecordType::kModeIsExclude:
            case RecordType::kChangeToExcludeMode: {
                if (policy.source_restricted(g)) {
                    ++dropped;
                    return true;
                }
                SourceSet extra;
                add_denied_hosts(policy, g, extra);
                for (const auto& s : extra) {
                    if (std::find(r.sources.begin(), r.sources.end(), s) == r.sources.end()) {
                        r.sources.push_back(s);
                    }
                }
                return false;
            }
            case RecordType::kBlockOldSources:
                return false;
        }
        return false;
    });
    return dropped;
}

bool admits_v1(const Policy& policy, const Ipv6Address& group) {
    return policy.admits_group(group) && !policy.source_restricted(group);
}

// --- Upstream records [RFC 3810 section 6.1 table] ---------------------------

namespace {

std::vector<Ipv6Address> minus(const SourceSet& a, const SourceSet& b) {
    std::vector<Ipv6Address> out;
    std::set_difference(a.begin(), a.end(), b.begin(), b.end(), std::back_inserter(out));
    return out;
}

}  // namespace

std::vector<MulticastAddressRecord> state_change_records(const Ipv6Address& group,
                                                         const MembershipState& old_state,
                                                         const MembershipState& new_state) {
    std::vector<MulticastAddressRecord> out;
    if (old_state == new_state)
        return out;
    auto add = [&](RecordType type, std::vector<Ipv6Address> sources, bool omit_empty) {
        if (omit_empty && sources.empty())
            return;
        out.push_back({type, group, std::move(sources), {}});
    };
    const SourceSet& a = old_state.sources;
    const SourceSet& b = new_state.sources;
    if (old_state.mode == FilterMode::kInclude && new_state.mode == FilterMode::kInclude) {
        add(RecordType::kAllowNewSources, minus(b, a), true);
        add(RecordType::kBlockOldSources, minus(a, b), true);
    } else if (old_state.mode == FilterMode::kExclude && new_state.mode == FilterMode::kExclude) {
        add(RecordType::kAllowNewSources, minus(a, b), true);
        add(RecordType::kBlockOldSources, minus(b, a), true);
    } else if (new_state.mode == FilterMode::kExclude) {
        add(RecordType::kChangeToExcludeMode, {b.begin(), b.end()}, false);
    } else {
        add(RecordType::kChangeToIncludeMode, {b.begin(), b.end()}, false);
    }
    return out;
}

std::optional<MulticastAddressRecord> current_state_record(const Ipv6Address& group,
                                                           const MembershipState& state) {
    if (state.no_listeners())
        return std::nullopt;
    const RecordType type = state.mode == FilterMode::kInclude ? RecordType::kModeIsInclude
                                                               : RecordType::kModeIsExclude;
    return MulticastAddressRecord{type, group, {state.sources.begin(), state.sources.end()}, {}};
}

// --- MembershipDatabase -----------------------------------------------------

MembershipDatabase::MembershipDatabase(ProxyOutput& output, Policy policy)
    : output_(output), policy_(std::move(policy)) {}

void MembershipDatabase::add_downstream(InterfaceId downstream, bool querier) {
    const auto [it, inserted] = downstreams_.try_emplace(downstream);
    if (inserted) {
        it->second.querier = querier;
        ++counters_.downstreams_added;
    }
}

void MembershipDatabase::remove_downstream(InterfaceId downstream) {
    const auto it = downstreams_.find(downstream);
    if (it == downstreams_.end())
        return;
    const std::vector<Ipv6Address> held = it->second.groups;
    for (const auto& g : held) set_member(downstream, g, MembershipState{});
    downstreams_.erase(downstream);
    ++counters_.downstreams_removed;
}

std::vector<InterfaceId> MembershipDatabase::downstreams() const {
    std::vector<InterfaceId> out;
    out.reserve(downstreams_.size());
    for (const auto& [id, d] : downstreams_) out.push_back(id);
    std::sort(out.begin(), out.end());
    return out;
}

void MembershipDatabase::set_querier(InterfaceId downstream, bool querier) {
    const auto it = downstreams_.find(downstream);
    if (it == downstreams_.end() || it->second.querier == querier)
        return;
    it->second.querier = querier;
    for (const auto& g : it->second.groups) output_.downstream_forwarding_changed(g, downstream);
}

void MembershipDatabase::update(InterfaceId downstream, const Ipv6Address& group,
                                const MembershipState& state) {
    add_downstream(downstream);
    MembershipState admitted = policy_.apply(group, state);
    if (admitted != state)
        ++counters_.updates_refused;
    set_member(downstream, group, admitted);
}

void MembershipDatabase::add_contribution(GroupEntry& entry, const MembershipState& state) {
    if (state.mode == FilterMode::kExclude) {
        ++entry.exclude_members;
        for (const auto& s : state.sources) ++entry.exclude_counts[s];
    } else {
        for (const auto& s : state.sources) ++entry.include_counts[s];
    }
}

void MembershipDatabase::remove_contribution(GroupEntry& entry, const MembershipState& state) {
    auto drop = [](auto& counts, const Ipv6Address& s) {
        const auto it = counts.find(s);
        if (it != counts.end() && --it->second == 0)
            counts.erase(it);
    };
    if (state.mode == FilterMode::kExclude) {
        --entry.exclude_members;
        for (const auto& s : state.sources) drop(entry.exclude_counts, s);
    } else {
        for (const auto& s : state.sources) drop(entry.include_counts, s);
    }
}

// RFC 3810 section 4.2 merge, as RFC 4605 section 4.1 step 3 applies it.
MembershipState MembershipDatabase::merge(const GroupEntry& entry) const {
    MembershipState out;
    if (entry.exclude_members > 0) {
        // Intersection of the EXCLUDE lists minus the union of the INCLUDE lists.
        out.mode = FilterMode::kExclude;
        for (const auto& [s, n] : entry.exclude_counts) {
            if (n == entry.exclude_members && !entry.include_counts.contains(s))
                out.sources.insert(s);
        }
    } else {
        for (const auto& [s, n] : entry.include_counts) out.sources.insert(s);
    }
    return out;
}

void MembershipDatabase::set_member(InterfaceId downstream, const Ipv6Address& group,
                                    const MembershipState& state) {
    auto git = groups_.find(group);
    if (git == groups_.end()) {
        if (state.no_listeners()) {
            ++counters_.updates_unchanged;
            return;
        }
        git = groups_.try_emplace(group).first;
    }
    GroupEntry& entry = git->second;
    const auto mit = entry.members.find(downstream);
    const MembershipState empty;
    const MembershipState& old = mit == entry.members.end() ? empty : mit->second;
    if (old == state) {
        ++counters_.updates_unchanged;
        return;
    }
    ++counters_.updates;
    remove_contribution(entry, old);
    add_contribution(entry, state);
    auto& held = downstreams_[downstream].groups;
    if (state.no_listeners()) {
        entry.members.erase(mit);
        std::erase(held, group);
    } else if (mit == entry.members.end()) {
        entry.members.emplace(downstream, state);
        held.push_back(group);
    } else {
        mit->second = state;
    }
    MembershipState merged = merge(entry);
    std::optional<MembershipState> previous;
    if (merged != entry.merged) {
        previous = std::move(entry.merged);
        entry.merged = merged;
    }
    if (entry.members.empty())
        groups_.erase(git);
    // Forwarding first: with a context transfer (RFC 7161) the LMA already
    // sends the group, and the upstream's join and report (hundreds of
    // microseconds) need not come before the first packet goes out.
    output_.downstream_forwarding_changed(group, downstream);
    if (previous) {
        ++counters_.upstream_changes;
        output_.upstream_membership_changed(group, *previous, merged);
    }
}

MembershipState MembershipDatabase::upstream_state(const Ipv6Address& group) const {
    const auto it = groups_.find(group);
    return it == groups_.end() ? MembershipState{} : it->second.merged;
}

std::vector<Ipv6Address> MembershipDatabase::groups() const {
    std::vector<Ipv6Address> out;
    out.reserve(groups_.size());
    for (const auto& [g, e] : groups_) out.push_back(g);
    std::sort(out.begin(), out.end());
    return out;
}

MembershipState MembershipDatabase::downstream_state(InterfaceId downstream,
                                                     const Ipv6Address& group) const {
    const auto it = groups_.find(group);
    if (it == groups_.end())
        return {};
    const auto mit = it->second.members.find(downstream);
    return mit == it->second.members.end() ? MembershipState{} : mit->second;
}

std::vector<Ipv6Address> MembershipDatabase::downstream_groups(InterfaceId downstream) const {
    const auto it = downstreams_.find(downstream);
    if (it == downstreams_.end())
        return {};
    std::vector<Ipv6Address> out = it->second.groups;
    std::sort(out.begin(), out.end());
    return out;
}

std::vector<InterfaceId> MembershipDatabase::downstreams_for(
    const Ipv6Address& source, const Ipv6Address& group, std::optional<InterfaceId> arrival) const {
    std::vector<InterfaceId> out;
    const auto it = groups_.find(group);
    if (it == groups_.end() || !policy_.admits_source(source, group))
        return out;
    for (const auto& [id, state] : it->second.members) {
        if (arrival && *arrival == id)
            continue;  // never back out of the arrival interface
        const auto d = downstreams_.find(id);
        if (d == downstreams_.end() || !d->second.querier)
            continue;
        if (state.wants(source))
            out.push_back(id);
    }
    std::sort(out.begin(), out.end());
    return out;
}

bool MembershipDatabase::forwards_to(InterfaceId downstream, const Ipv6Address& source,
                                     const Ipv6Address& group,
                                     std::optional<InterfaceId> arrival) const {
    if (arrival && *arrival == downstream)
        return false;
    const auto d = downstreams_.find(downstream);
    if (d == downstreams_.end() || !d->second.querier)
        return false;
    const auto it = groups_.find(group);
    if (it == groups_.end())
        return false;
    const auto mit = it->second.members.find(downstream);
    if (mit == it->second.members.end() || !mit->second.wants(source))
        return false;
    return policy_.admits_source(source, group);
}

Policy interface_policy(const std::vector<InterfaceFilter>& filters, const std::string& name) {
    Policy out;
    for (const InterfaceFilter& f : filters) {
        if (::fnmatch(f.pattern.c_str(), name.c_str(), 0) != 0)
            continue;
        const Policy& p = f.policy;
        out.allowed_groups.insert(out.allowed_groups.end(), p.allowed_groups.begin(), p.allowed_groups.end());
        out.denied_groups.insert(out.denied_groups.end(), p.denied_groups.begin(), p.denied_groups.end());
        out.allowed_sources.insert(out.allowed_sources.end(), p.allowed_sources.begin(), p.allowed_sources.end());
        out.denied_sources.insert(out.denied_sources.end(), p.denied_sources.begin(), p.denied_sources.end());
    }
    return out;
}

}  // namespace pmip::mcast
