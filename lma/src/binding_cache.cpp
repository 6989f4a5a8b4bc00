// Binding Cache storage and the RFC 5213 section 5.4.1 lookup.
#include "pmip/lma/binding_cache.hpp"

#include <algorithm>

namespace pmip::lma {

namespace {

bool is_zero(const Ipv6Prefix& p) { return p.address == Ipv6Address{}; }

std::vector<Ipv6Prefix> sorted(std::vector<Ipv6Prefix> v) {
    for (auto& p : v) p = canonical(p);
    std::sort(v.begin(), v.end());
    return v;
}

}  // namespace

std::string_view to_string(LookupOutcome outcome) {
    switch (outcome) {
        case LookupOutcome::kNewSession: return "new-session";
        case LookupOutcome::kUpdate: return "update";
        case LookupOutcome::kReject: return "reject";
        case LookupOutcome::kIgnore: return "ignore";
        case LookupOutcome::kWaitForDeregistration: return "wait-for-deregistration";
    }
    return "unknown";
}

std::string_view to_string(BindingState state) {
    switch (state) {
        case BindingState::kActive: return "active";
        case BindingState::kDeregistering: return "deregistering";
        case BindingState::kRevoking: return "revoking";
    }
    return "unknown";
}

std::size_t MobileNodeIdentifierHash::operator()(const MobileNodeIdentifier& id) const {
    // std::hash of the octets, then the subtype and a final mix (MnIndex
    // takes the low bits as the slot).
    std::uint64_t h = std::hash<std::string_view>{}(id.identifier) ^
                      (std::uint64_t{id.subtype} * 0x9e3779b97f4a7c15ull);
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    return h;
}

void MnIndex::insert(const BindingCacheEntry* entry) {
    if ((size_ + 1) * 2 > slots_.size()) rehash(std::max<std::size_t>(16, slots_.size() * 2));
    const std::uint64_t hash = MobileNodeIdentifierHash{}(entry->mn_identifier);
    std::size_t i = home(hash);
    while (slots_[i].entry != nullptr) i = (i + 1) & (slots_.size() - 1);
    slots_[i] = {hash, entry};
    ++size_;
}

void MnIndex::erase(const BindingCacheEntry* entry) {
    if (size_ == 0) return;
    const std::uint64_t hash = MobileNodeIdentifierHash{}(entry->mn_identifier);
    const std::size_t mask = slots_.size() - 1;
    std::size_t i = home(hash);
    while (slots_[i].entry != entry) {
        if (slots_[i].entry == nullptr) return;  // not indexed
        i = (i + 1) & mask;
    }
    // Backward shift: move up every later slot of the run that may live at i
    // (its home is not cyclically in (i, j]), so no probe run has a hole.
    for (std::size_t j = (i + 1) & mask; slots_[j].entry != nullptr; j = (j + 1) & mask) {
        const std::size_t k = home(slots_[j].hash);
        const bool stays = i <= j ? (i < k && k <= j) : (i < k || k <= j);
        if (stays) continue;
        slots_[i] = slots_[j];
        i = j;
    }
    slots_[i] = Slot{};
    --size_;
}

void MnIndex::reserve(std::size_t entries) {
    std::size_t capacity = 16;
    while (capacity < entries * 2) capacity *= 2;
    if (capacity > slots_.size()) rehash(capacity);
}

void MnIndex::rehash(std::size_t capacity) {
    std::vector<Slot> old(capacity);
    old.swap(slots_);
    for (const Slot& s : old) {
        if (s.entry == nullptr) continue;
        std::size_t i = home(s.hash);
        while (slots_[i].entry != nullptr) i = (i + 1) & (slots_.size() - 1);
        slots_[i] = s;
    }
}

void BindingCache::reserve(std::size_t sessions) {
    by_prefix_.reserve(sessions);
    by_mn_.reserve(sessions);
}

LookupResult BindingCache::lookup(const LookupRequest& request) const {
    const bool has_non_zero_prefix =
        std::any_of(request.home_network_prefixes.begin(), request.home_network_prefixes.end(),
                    [](const Ipv6Prefix& p) { return !is_zero(p); });
    if (has_non_zero_prefix) return lookup_by_prefix(request);  // section 5.4.1.1
    const bool has_ll_id = request.mn_link_layer_identifier.has_value() &&
                           !request.mn_link_layer_identifier->empty();
    if (has_ll_id) return lookup_by_link_layer_identifier(request);  // section 5.4.1.2
    return lookup_by_mn_identifier(request);                          // section 5.4.1.3
}

// Steps 6 of 5.4.1.1, 5 of 5.4.1.2 and 5.4.1.3: a request that matches no
// session creates one, unless it is a de-registration, which is ignored.
LookupResult BindingCache::new_session(const LookupRequest& request, std::string_view rule) const {
    if (request.lifetime == 0) return {LookupOutcome::kIgnore, 0, 0, rule};
    return {LookupOutcome::kNewSession, 0, 0, rule};
}

// RFC 5213 section 5.4.1.1 (table A).
LookupResult BindingCache::lookup_by_prefix(const LookupRequest& request) const {
    const BindingCacheEntry* entry = nullptr;
    for (const auto& p : request.home_network_prefixes) {
        if (is_zero(p)) continue;
        if ((entry = find_by_prefix(p)) != nullptr) break;
    }
    // Step 2: no entry owns any requested prefix.
    if (entry == nullptr) return new_session(request, "A1");
    // Step 3: the prefix belongs to another mobile node.
    if (entry->mn_identifier != request.mn_identifier) {
        return {LookupOutcome::kReject, entry->id, 155, "A2"};
    }
    // Step 4: the whole prefix set must match, values and count.
    if (sorted(request.home_network_prefixes) != sorted(entry->home_network_prefixes)) {
        return {LookupOutcome::kReject, entry->id, 159, "A3"};
    }
    // Step 5: any one of four conditions makes it an update of that entry.
    const bool att_equal = request.access_technology_type == entry->access_technology_type;
    const bool ll_id_present = request.mn_link_layer_identifier.has_value() &&
                               !request.mn_link_layer_identifier->empty();
    const bool update =
        (ll_id_present && *request.mn_link_layer_identifier == entry->mn_link_layer_identifier &&
         att_equal) ||
        request.handoff_indicator == 2 ||
        (!ll_id_present && entry->mn_link_layer_identifier.empty() && att_equal &&
         request.handoff_indicator == 3) ||
        (request.proxy_coa == entry->proxy_coa && att_equal);
    if (update) return {LookupOutcome::kUpdate, entry->id, 0, "A4"};
    // Step 6.
    return new_session(request, "A5");
}

// RFC 5213 section 5.4.1.2 (table B).
LookupResult BindingCache::lookup_by_link_layer_identifier(const LookupRequest& request) const {
    const auto sessions = sessions_of(request.mn_identifier);
    for (SessionId id : sessions) {
        const BindingCacheEntry& e = *find(id);
        if (e.access_technology_type == request.access_technology_type &&
            e.mn_link_layer_identifier == *request.mn_link_layer_identifier) {
            return {LookupOutcome::kUpdate, id, 0, "B1"};
        }
    }
    if (sessions.size() == 1 && request.handoff_indicator == 2) {
        return {LookupOutcome::kUpdate, sessions.front(), 0, "B2"};
    }
    if (sessions.size() == 1 && request.handoff_indicator == 4) {
        // The wait is for a registration from a new MAG. Every
        // de-registration carries HI 4 (PROTOCOL.md 2.5): it concerns the
        // one session, and 5.3.5 decides by its Proxy-CoA (section 2.10 d).
        if (request.lifetime == 0) return {LookupOutcome::kUpdate, sessions.front(), 0, "B3"};
        return {LookupOutcome::kWaitForDeregistration, sessions.front(), 0, "B3"};
    }
    return new_session(request, "B4");
}

// RFC 5213 section 5.4.1.3 (table C).
LookupResult BindingCache::lookup_by_mn_identifier(const LookupRequest& request) const {
    const auto sessions = sessions_of(request.mn_identifier);
    if (sessions.size() == 1 &&
        (request.handoff_indicator == 2 || request.handoff_indicator == 3)) {
        return {LookupOutcome::kUpdate, sessions.front(), 0, "C1"};
    }
    if (sessions.size() == 1 && request.handoff_indicator == 4) {
        // As in B3: a de-registration goes to the session, never waits.
        if (request.lifetime == 0) return {LookupOutcome::kUpdate, sessions.front(), 0, "C2"};
        return {LookupOutcome::kWaitForDeregistration, sessions.front(), 0, "C2"};
    }
    return new_session(request, "C3");
}

BindingCacheEntry& BindingCache::insert(BindingCacheEntry entry) {
    entry.id = next_id_++;
    for (auto& p : entry.home_network_prefixes) p = canonical(p);
    for (const auto& p : entry.home_network_prefixes) by_prefix_[p] = entry.id;
    const SessionId id = entry.id;
    BindingCacheEntry& stored = entries_.emplace_hint(entries_.end(), id, std::move(entry))->second;
    by_mn_.insert(&stored);
    return stored;
}

void BindingCache::erase(SessionId id) {
    const auto it = entries_.find(id);
    if (it == entries_.end()) return;
    for (const auto& p : it->second.home_network_prefixes) {
        const auto pi = by_prefix_.find(p);
        if (pi != by_prefix_.end() && pi->second == id) by_prefix_.erase(pi);
    }
    by_mn_.erase(&it->second);
    entries_.erase(it);
}

void BindingCache::set_prefixes(SessionId id, std::vector<Ipv6Prefix> prefixes) {
    BindingCacheEntry* e = find(id);
    if (e == nullptr) return;
    for (const auto& p : e->home_network_prefixes) {
        const auto pi = by_prefix_.find(p);
        if (pi != by_prefix_.end() && pi->second == id) by_prefix_.erase(pi);
    }
    for (auto& p : prefixes) p = canonical(p);
    e->home_network_prefixes = std::move(prefixes);
    for (const auto& p : e->home_network_prefixes) by_prefix_[p] = id;
}

BindingCacheEntry* BindingCache::find(SessionId id) {
    const auto it = entries_.find(id);
    return it == entries_.end() ? nullptr : &it->second;
}

const BindingCacheEntry* BindingCache::find(SessionId id) const {
    const auto it = entries_.find(id);
    return it == entries_.end() ? nullptr : &it->second;
}

const BindingCacheEntry* BindingCache::find_by_prefix(const Ipv6Prefix& prefix) const {
    const auto it = by_prefix_.find(canonical(prefix));
    return it == by_prefix_.end() ? nullptr : find(it->second);
}

std::vector<SessionId> BindingCache::sessions_of(const MobileNodeIdentifier& mn) const {
    std::vector<SessionId> out;
    by_mn_.for_each(mn, [&out](const BindingCacheEntry& e) { out.push_back(e.id); });
    std::sort(out.begin(), out.end());
    return out;
}

}  // namespace pmip::lma
