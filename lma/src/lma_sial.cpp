// LMA engine, multicast context transfer: RFC 7161 (SIAL), PROTOCOL.md 8.1.
//
// Per session (only while there is something to hold) the engine keeps the
// MN's Active Multicast Subscription options and where they stand:
//   from_deregistration: the serving MAG de-registered with S=1 and the
//       options (section 4.2.1.2); the next registration from another MAG
//       with S=1 gets them in its PBA (section 5.1, proactive handover);
//   delivered: given to the MAG now serving (PBA or Subscription Response),
//       kept to repeat them to a retransmitted PBU or a repeated query.
// and, in a reactive handover (section 5.2), the Subscription Query sent to
// the previous MAG, the PBA held for the PBA timer (section 4.4) and the
// serving MAG's own queries waiting for the answer (section 5.3, Figure 4).
#include <algorithm>

#include "pmip/common/log.hpp"
#include "pmip/lma/lma_engine.hpp"
#include "pmip/mcast/proxy.hpp"
#include "pmip/mh/codec.hpp"
#include "lma_engine_parts.hpp"

namespace pmip::lma {

namespace {

std::string context_of(const BindingCacheEntry& e) {
    return log::mn_context("lma sial", e.mn_identifier.identifier, "mag", pmip::to_string(e.proxy_coa));
}

}  // namespace


const std::vector<mh::ActiveMulticastSubscriptionIpv6>* LmaEngine::multicast_context(SessionId id) const {
    const auto it = sial_.find(id);
    if (it == sial_.end() || it->second->held == Sial::Held::kNothing) return nullptr;
    return &it->second->records;
}

bool LmaEngine::multicast_context_pending(SessionId id) const {
    const auto it = sial_.find(id);
    return it != sial_.end() && it->second->querying;
}

SialAnswer LmaEngine::sial_answer(const BindingCacheEntry& entry, const Ipv6Address& mag,
                                             const Pbu& pbu) const {
    // Section 4.2.1.1: S=0 to S=0; S=1 with the options when we have them,
    // S=1 alone while they are being fetched, S=0 when the MN has none.
    if (!config_.sial.enabled || !pbu.multicast_signalling || pbu.message->lifetime == 0)
        return {false, nullptr};
    const auto it = sial_.find(entry.id);
    if (it == sial_.end()) return {false, nullptr};
    const Sial& s = *it->second;
    if (s.held == Sial::Held::kDelivered && s.held_mag == mag && !s.records.empty())
        return {true, &s.records};
    if (s.querying) return {true, nullptr};
    return {false, nullptr};
}

bool LmaEngine::sial_registration(const Pbu& pbu, BindingCacheEntry& entry, bool handoff,
                                  const Ipv6Address& previous, bool previous_signalling) {
    if (!config_.sial.enabled) return false;
    const SessionId id = entry.id;
    const Ipv6Address& mag = pbu.lookup.proxy_coa;
    auto it = sial_.find(id);
    if (!pbu.multicast_signalling) {
        // A MAG without SIAL serves the MN now: nobody to give a context to.
        if (it != sial_.end() && handoff) sial_forget(id);
        return false;
    }
    if (it != sial_.end()) {
        Sial& s = *it->second;
        if (s.held == Sial::Held::kFromDeregistration) {
            // Section 5.1 step 7: the context of the proactive handover (or
            // of an MN back at the MAG that de-registered it).
            s.held = Sial::Held::kDelivered;
            s.held_mag = mag;
            s.delivered_at = timers_.clock().now();
            PMIP_INFO(kBce, context_of(entry),
                      "multicast context (" + std::to_string(s.records.size()) +
                          " subscriptions) from the de-registration goes in the PBA");
            if (observer_) observer_->multicast_context(entry, s.records);
            return false;
        }
        if (s.querying) {
            // Handed off again while querying: the query stays (same MN);
            // only the MAG now serving will be answered.
            if (handoff) s.askers.clear();
            return false;
        }
        // Delivered to this MAG a moment ago: its PBU again (magd sends every
        // retransmission with a new sequence number, so accepted_before does
        // not catch it): the PBA again carries the context. Later (a renewal)
        // or elsewhere (the MN moved on): done with it.
        if (!handoff && s.held == Sial::Held::kDelivered && s.held_mag == mag &&
            timers_.clock().now() - s.delivered_at < kRedeliveryWindow)
            return false;
        sial_forget(id);
    }
    if (!handoff || !previous_signalling) {
        // Section 5.2.1: a previous MAG without SIAL is not asked (MAY).
        return false;
    }
    // Section 5.2: reactive handover, ask the previous MAG, with a sequence
    // number no outstanding query holds (8 bits: at most 256 at once).
    std::optional<std::uint8_t> sequence;
    for (int tries = 0; tries < 256 && !sequence; ++tries) {
        const std::uint8_t candidate = next_query_sequence_++;
        if (!sial_queries_.contains(candidate)) sequence = candidate;
    }
    if (!sequence) {
        ++counters_.sial_queries_skipped;
        return false;  // S=0: the MN's reports at the new MAG will do
    }
    auto& slot = sial_[id];
    slot = std::make_unique<Sial>();
    Sial& s = *slot;
    s.querying = true;
    s.previous_mag = previous;
    s.local = pbu.destination;
    s.query_sequence = *sequence;
    sial_queries_[s.query_sequence] = id;
    sial_send_query(id);
    if (config_.sial.pba_timer <= Duration::zero()) return false;
    // Section 4.4: hold the PBA up to the PBA timer.
    ++counters_.sial_pbas_held;
    s.held_pbu = *pbu.message;
    s.held_source = pbu.source;
    s.held_destination = pbu.destination;
    if (!pbu.signalled.identifier.empty()) s.held_identity = pbu.mn;
    s.pba_timer = timers_.start_timer(std::min(config_.sial.pba_timer, kMaxPbaTimer), [this, id] {
        const auto i = sial_.find(id);
        if (i == sial_.end()) return;
        i->second->pba_timer = 0;
        ++counters_.sial_pba_timer_expired;
        sial_release_pba(id);
    });
    return true;
}

void LmaEngine::sial_send_query(SessionId id) {
    Sial& s = *sial_.at(id);
    const BindingCacheEntry* entry = cache_.find(id);
    mh::SubscriptionQuery q;
    q.sequence = s.query_sequence;
    q.options.push_back(signalled_identifier_option(*entry));
    for (const auto& p : entry->home_network_prefixes)
        q.options.push_back(mh::HomeNetworkPrefix{p.length, p.address});
    ++s.transmissions;
    ++counters_.sial_queries_sent;
    if (s.transmissions > 1) ++counters_.sial_query_retransmissions;
    PMIP_DEBUG(kBce, context_of(*entry),
               "Subscription Query " + std::to_string(q.sequence) + " to the previous MAG " +
                   pmip::to_string(s.previous_mag));
    sender_.send(s.local, s.previous_mag, q);
    s.query_timer = timers_.start_timer(config_.sial.query_timeout, [this, id] {
        if (const auto i = sial_.find(id); i != sial_.end()) {
            i->second->query_timer = 0;
            sial_query_timeout(id);
        }
    });
}

void LmaEngine::sial_query_timeout(SessionId id) {
    Sial& s = *sial_.at(id);
    if (s.transmissions <= config_.sial.query_retries) return sial_send_query(id);
    ++counters_.sial_queries_timed_out;
    PMIP_INFO(kBce, context_of(*cache_.find(id)),
              "no Subscription Response from the previous MAG " + pmip::to_string(s.previous_mag) +
                  ": no multicast context for this handover");
    sial_context_arrived(id, {}, "timeout");
}

// The context of a reactive handover is known (possibly empty): the held PBA
// goes, waiting queries are answered, the records stay as delivered.
void LmaEngine::sial_context_arrived(SessionId id, std::vector<mh::ActiveMulticastSubscriptionIpv6> records,
                                     const char* how) {
    const auto it = sial_.find(id);
    if (it == sial_.end() || !it->second->querying) return;
    Sial& s = *it->second;
    BindingCacheEntry* entry = cache_.find(id);
    s.querying = false;
    sial_queries_.erase(s.query_sequence);
    if (s.query_timer) timers_.cancel_timer(s.query_timer);
    s.query_timer = 0;
    s.records = std::move(records);
    counters_.sial_subscriptions_dropped += mh::fit_subscriptions(s.records, mh::kSubscriptionBudget);
    s.held = Sial::Held::kDelivered;
    s.held_mag = entry->proxy_coa;
    s.delivered_at = timers_.clock().now();
    if (std::string_view(how) != "timeout") {
        PMIP_INFO(kBce, context_of(*entry),
                  "multicast context from the previous MAG (" + std::string(how) + "): " +
                      std::to_string(s.records.size()) + " subscriptions");
    }
    if (observer_ && !s.records.empty()) observer_->multicast_context(*entry, s.records);
    if (s.held_pbu) sial_release_pba(id);
    for (const auto& a : std::exchange(s.askers, {}))
        sial_respond(a.source, a.destination, a.sequence, a.echo, &s.records);
}

void LmaEngine::sial_release_pba(SessionId id) {
    Sial& s = *sial_.at(id);
    if (!s.held_pbu) return;
    if (s.pba_timer) timers_.cancel_timer(s.pba_timer);
    s.pba_timer = 0;
    const mh::BindingUpdate message = std::move(*s.held_pbu);
    s.held_pbu.reset();
    const auto identity = s.held_identity;
    const Pbu held = extract(s.held_source, s.held_destination, message, identity ? &*identity : nullptr);
    const BindingCacheEntry* entry = cache_.find(id);
    if (entry == nullptr || entry->proxy_coa != held.lookup.proxy_coa) {
        // The MN moved on while the PBA waited: that MAG's retransmission
        // will be answered as what it is by then.
        ++counters_.sial_held_pbas_dropped;
        PMIP_DEBUG(kBce, held.ctx(), "held PBA not sent: the MN is at another MAG now");
        return;
    }
    send_pba(held, accepted_status(held, *entry), entry, std::nullopt, entry->uplink_key,
             sial_answer(*entry, held.lookup.proxy_coa, held));
}

void LmaEngine::sial_deregistration(const Pbu& pbu, const BindingCacheEntry& entry, bool serving) {
    if (!config_.sial.enabled) return;
    const SessionId id = entry.id;
    const auto it = sial_.find(id);
    if (!serving) {
        // Section 5.2.3: the previous MAG's de-registration answers our query.
        if (it != sial_.end() && it->second->querying &&
            it->second->previous_mag == pbu.lookup.proxy_coa) {
            ++counters_.sial_contexts_from_deregistration;
            sial_context_arrived(id, pbu.multicast_signalling ? pbu.subscriptions
                                                              : std::vector<mh::ActiveMulticastSubscriptionIpv6>{},
                                 "its de-registration");
        }
        return;
    }
    // Section 4.2.1.2 / 5.1 step 3: kept with the entry for the next MAG.
    if (it != sial_.end()) sial_forget(id);
    if (!pbu.multicast_signalling || pbu.subscriptions.empty()) return;
    auto& slot = sial_[id];
    slot = std::make_unique<Sial>();
    slot->held = Sial::Held::kFromDeregistration;
    slot->held_mag = pbu.lookup.proxy_coa;
    slot->records = pbu.subscriptions;
    counters_.sial_subscriptions_dropped += mh::fit_subscriptions(slot->records, mh::kSubscriptionBudget);
    ++counters_.sial_contexts_stored;
    PMIP_INFO(kBce, pbu.ctx(), "de-registration carries " + std::to_string(slot->records.size()) +
                                 " multicast subscriptions: kept for the next MAG");
}

void LmaEngine::sial_forget(SessionId id) {
    const auto it = sial_.find(id);
    if (it == sial_.end()) return;
    Sial& s = *it->second;
    if (s.query_timer) timers_.cancel_timer(s.query_timer);
    if (s.pba_timer) timers_.cancel_timer(s.pba_timer);
    if (s.querying) sial_queries_.erase(s.query_sequence);
    sial_.erase(it);
}

void LmaEngine::sial_respond(const Ipv6Address& source, const Ipv6Address& destination,
                             std::uint8_t sequence, const mh::Options& echo,
                             const std::vector<mh::ActiveMulticastSubscriptionIpv6>* records) {
    mh::SubscriptionResponse r;
    r.sequence = sequence;
    r.options = echo;
    if (records && !records->empty()) {
        r.flags = mh::subscription_response_flag::kI;
        for (const auto& s : *records) r.options.push_back(s);
        ++counters_.sial_responses_with_context;
    }
    ++counters_.sial_responses_sent;
    sender_.send(destination, source, r);
}

// Section 4.3.1.1: the serving MAG asks (its PBA had S=1 and no context).
void LmaEngine::handle_subscription_query(const Ipv6Address& source, const Ipv6Address& destination,
                                          const mh::SubscriptionQuery& query) {
    if (!config_.sial.enabled) return;
    ++counters_.sial_queries_received;
    mh::Options echo;
    const mh::MobileNodeIdentifier* id = nullptr;
    for (const auto& o : query.options) {
        if (const auto* m = std::get_if<mh::MobileNodeIdentifier>(&o)) {
            if (id == nullptr) id = m;
            echo.push_back(o);
        } else if (std::holds_alternative<mh::HomeNetworkPrefix>(o)) {
            echo.push_back(o);
        }
    }
    const BindingCacheEntry* entry = nullptr;
    if (id != nullptr) {
        const MobileNodeIdentifier mn{id->subtype, std::string(id->identifier.begin(), id->identifier.end())};
        for (SessionId sid : cache_.sessions_of(mn)) {
            const BindingCacheEntry* e = cache_.find(sid);
            if (e->proxy_coa == source && e->state == BindingState::kActive) entry = e;
        }
    }
    if (entry == nullptr) {
        // Not the serving MAG of that MN (or a spoofed source): no answer, so
        // lmad reflects nothing.
        ++counters_.sial_queries_unknown;
        return;
    }
    const auto it = sial_.find(entry->id);
    if (it != sial_.end() && it->second->querying) {
        auto& askers = it->second->askers;
        // A repeated query replaces the one it repeats.
        std::erase_if(askers, [&](const Sial::Asker& a) { return a.source == source; });
        askers.push_back({source, destination, query.sequence, std::move(echo)});
        return;
    }
    const bool have = it != sial_.end() && it->second->held == Sial::Held::kDelivered &&
                      it->second->held_mag == source;
    sial_respond(source, destination, query.sequence, echo, have ? &it->second->records : nullptr);
}

// Section 4.3.2.1: the previous MAG answers our query.
void LmaEngine::handle_subscription_response(const Ipv6Address& source, const Ipv6Address&,
                                             const mh::SubscriptionResponse& response) {
    if (!config_.sial.enabled) return;
    ++counters_.sial_responses_received;
    const auto q = sial_queries_.find(response.sequence);
    const auto it = q == sial_queries_.end() ? sial_.end() : sial_.find(q->second);
    if (it == sial_.end() || !it->second->querying || it->second->previous_mag != source) {
        ++counters_.sial_responses_unmatched;
        return;
    }
    // The sequence is 8 bits: a late answer to an old query may carry a
    // number now in use for another MN; its MN-ID tells.
    const auto* id = mh::find_option<mh::MobileNodeIdentifier>(response.options);
    if (id == nullptr || *id != signalled_identifier_option(*cache_.find(q->second))) {
        ++counters_.sial_responses_unmatched;
        return;
    }
    sial_context_arrived(q->second,
                         response.has_information() ? mh::options_of_type<mh::ActiveMulticastSubscriptionIpv6>(response.options)
                                                    : std::vector<mh::ActiveMulticastSubscriptionIpv6>{},
                         "Subscription Response");
}

// draft-asaeda PBU-M (PROTOCOL.md 9.1), at the PBA of an accepted
// registration: the records that describe a listening state the anchor can
// set up on the MAG's tunnel, as if the MAG had reported them (they stay
// only if its reports confirm them, RFC 3810 timers):
//   IS_IN (1) with sources, IS_EX (2); TO_IN / TO_EX (3, 4) read as 1 / 2;
//   ALLOW / BLOCK (5, 6) change a state we do not hold: refused;
//   a group wider than link scope (RFC 4291 section 2.7: 0-2 refused);
//   no EXCLUDE in the SSM range ff3x::/32 (RFC 4607 section 1);
//   at most config.pbu_m.max_records, and what fits the PBA's `budget`.
// Where this LMA's policy store holds the MN's multicast profile (issue 18,
// draft-zhao network-initiated service, draft-asaeda section 7.1):
//   its channels come first in the answer, asked for or not, so the MAG
//   joins them on the MN's behalf (a PBU-M without records asks just that);
//   what the MAG asks beyond them passes the MN's multicast_policy (groups,
//   sources, max_groups counting the profile's) or is refused (counted).
// The PBA lists what was taken (an empty option: nothing); a repeated PBU
// (its PBA lost) gets the same list without setting anything up again, and
// so does a re-registration with the session's MAG (`renewal`: its tunnel
// carries what it reports). An LMA with PBU-M off answers as a standard LMA
// (no option) and counts it.
mh::Options LmaEngine::pbu_m_answer(const Pbu& pbu, const BindingCacheEntry& entry, std::size_t budget,
                                     bool renewal) {
    if (!config_.pbu_m.enabled) {
        if (!pbu.repeated) ++counters_.pbu_m_ignored;
        return {};
    }
    const MobileNodePolicy* policy = policy_of(entry.mn_identifier);
    std::vector<mh::MulticastAddressRecord> taken;
    const auto find = [&taken](const Ipv6Address& g) {
        return std::find_if(taken.begin(), taken.end(),
                            [&g](const mh::MulticastAddressRecord& r) { return r.multicast_address == g; });
    };
    if (policy != nullptr) {
        for (const MulticastChannel& c : policy->multicast_channels) {
            const auto it = find(c.group);
            if (it == taken.end()) {
                taken.push_back({static_cast<std::uint8_t>(c.sources.empty() ? 2 : 1), c.group, c.sources, {}});
            } else if (c.sources.empty()) {
                it->record_type = 2;
                it->sources.clear();
            } else if (it->record_type == 1) {
                for (const auto& src : c.sources) {
                    if (std::find(it->sources.begin(), it->sources.end(), src) == it->sources.end())
                        it->sources.push_back(src);
                }
            }
        }
    }
    const std::size_t profile = taken.size();
    std::vector<mcast::MulticastAddressRecord> asked;
    std::size_t refused = 0;
    for (const auto& r : pbu.requested_channels) {
        const Ipv6Address& g = r.multicast_address;
        std::uint8_t type = r.record_type;
        if (type == 3 || type == 4) type = static_cast<std::uint8_t>(type - 2);
        const bool multicast = g[0] == 0xff && (g[1] & 0x0f) > 2;
        const bool ssm = (g[1] & 0xf0) == 0x30 && g[2] == 0 && g[3] == 0;
        const bool state = (type == 1 && !r.sources.empty()) || (type == 2 && !ssm);
        if (!multicast || !state || asked.size() >= config_.pbu_m.max_records) {
            ++refused;
            continue;
        }
        if (find(g) != taken.end()) continue;  // the profile's channel says it
        asked.push_back({static_cast<mcast::RecordType>(type), g, r.sources, {}});
    }
    std::size_t denied = 0;
    if (policy != nullptr && policy->multicast_admission != MulticastAdmission{}) {
        const std::size_t before = asked.size();
        mcast::filter_records(mcast::admission_policy(policy->multicast_admission), asked);
        denied = before - asked.size();
        const std::size_t limit = policy->multicast_admission.max_groups;
        if (limit != 0 && profile + asked.size() > limit) {
            const std::size_t keep = limit > profile ? limit - profile : 0;
            denied += asked.size() - keep;
            asked.resize(keep);
        }
    }
    for (auto& r : asked)
        taken.push_back({static_cast<std::uint8_t>(r.type), r.multicast_address,
                         std::vector<Ipv6Address>(r.sources.begin(), r.sources.end()), {}});
    std::size_t left_out = 0;
    mh::Options out;
    std::vector<mh::MulticastAddressRecord> granted;
    for (auto& o : mh::pack_multicast_subscription(taken, budget, &left_out)) {
        granted.insert(granted.end(), o.records.begin(), o.records.end());
        out.emplace_back(std::move(o));
    }
    if (out.empty()) out.emplace_back(mh::MulticastSubscription{});
    if (pbu.repeated) return out;
    if (renewal) {
        ++counters_.pbu_m_renewals;
        return out;
    }
    ++counters_.pbu_m_received;
    counters_.pbu_m_records_granted += taken.size() - left_out;
    counters_.pbu_m_records_refused += refused + left_out;
    counters_.pbu_m_records_denied += denied;
    counters_.pbu_m_profile_records += std::min(profile, taken.size() - left_out);
    if (!granted.empty()) {
        PMIP_INFO(kBce, context_of(entry),
                  "PBU-M: " + std::to_string(taken.size() - left_out) + " channel(s) (" +
                      std::to_string(std::min(profile, granted.size())) +
                      " of the MN's profile here) forwarded to the MAG from its PBA on");
        if (observer_) observer_->multicast_channels_requested(entry, granted);
    }
    return out;
}

}  // namespace pmip::lma
