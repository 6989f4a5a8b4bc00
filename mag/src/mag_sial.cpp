// MAG engine, multicast context transfer: RFC 7161 (SIAL), PROTOCOL.md 8.1.
// The new MAG's side: the context from the PBA or from our Subscription
// Query to the LMA, applied to the MN's link. The previous MAG's side: the
// subscriptions in the de-registration, and the answer to the LMA's query.
#include <algorithm>

#include "pmip/common/log.hpp"
#include "pmip/mag/mag_engine.hpp"

namespace pmip::mag {

namespace {

std::string sial_context(const BindingUpdateListEntry& e) {
    return "[mag sial if=" + e.access_interface + " lma=" + pmip::to_string(e.policy.lma) + "]";
}

mh::MobileNodeIdentifier identifier_option(const MobileNodePolicy& policy) {
    return {policy.mn_identifier_subtype,
            std::vector<std::uint8_t>(policy.mn_identifier.begin(), policy.mn_identifier.end())};
}

// Bound on remembered departures: a burst of detaches cannot grow it without limit.
constexpr std::size_t kMaxDeparted = 4096;

}  // namespace

// Section 4.2.1.1, at the first accepted PBA of a registration here.
std::vector<mh::ActiveMulticastSubscriptionIpv6> MagEngine::sial_accepted(
    BindingUpdateListEntry& e, const mh::BindingAcknowledgement& pba) {
    if (!e.multicast_signalling || multicast_context_ == nullptr ||
        (pba.flags & mh::ba_flag::kS) == 0)
        return {};
    auto subscriptions = mh::options_of_type<mh::ActiveMulticastSubscriptionIpv6>(pba.options);
    if (!subscriptions.empty()) return subscriptions;
    // S=1 without the option: the LMA is still fetching it (section 5.3 step 6).
    ++counters_.sial_pba_without_context;
    e.subscription_queries = 0;
    sial_send_query(e.id);
    return {};
}

void MagEngine::sial_apply(BindingUpdateListEntry& e,
                           const std::vector<mh::ActiveMulticastSubscriptionIpv6>& subscriptions,
                           const std::string& how) {
    ++counters_.sial_contexts_applied;
    counters_.sial_subscriptions_applied += subscriptions.size();
    PMIP_INFO(kBul, sial_context(e),
              "multicast context from the " + how + ": " +
                  std::to_string(subscriptions.size()) + " subscriptions set up on the MN's link");
    multicast_context_->apply(e, subscriptions);
}

void MagEngine::sial_send_query(EntryId id) {
    BindingUpdateListEntry& e = entries_.at(id);
    if (e.subscription_query) subscription_queries_.erase(*e.subscription_query);
    e.subscription_query.reset();
    const std::optional<std::uint8_t> free = sial_free_sequence();
    if (!free) {
        ++counters_.sial_queries_skipped;  // the MN's reports will set its groups up
        return;
    }
    const std::uint8_t sequence = *free;
    subscription_queries_[sequence] = id;
    e.subscription_query = sequence;
    mh::SubscriptionQuery q;
    q.sequence = sequence;
    q.options.push_back(identifier_option(e.policy));
    for (const auto& p : e.home_network_prefixes) q.options.push_back(mh::HomeNetworkPrefix{p.length, p.address});
    ++e.subscription_queries;
    ++counters_.sial_queries_sent;
    if (e.subscription_queries > 1) ++counters_.sial_query_retransmissions;
    sender_.send(config_.proxy_coa, e.policy.lma, q);
    e.subscription_timer = timers_.start_timer(config_.subscription_query_timeout, [this, id] {
        const auto it = entries_.find(id);
        if (it == entries_.end()) return;
        BindingUpdateListEntry& entry = it->second;
        entry.subscription_timer = 0;
        if (entry.subscription_queries <= config_.subscription_query_retries) return sial_send_query(id);
        ++counters_.sial_queries_timed_out;
        PMIP_INFO(kBul, sial_context(entry),
                  "no Subscription Response from the LMA: the MN's reports will set up its groups");
        sial_stop_query(entry);
    });
}

// 8-bit sequence numbers shared by our queries to the LMA and to peer MAGs:
// at most 256 outstanding.
std::optional<std::uint8_t> MagEngine::sial_free_sequence() {
    for (int tries = 0; tries < 256; ++tries) {
        const std::uint8_t candidate = next_query_sequence_++;
        if (!subscription_queries_.contains(candidate) && !peer_queries_.contains(candidate)) return candidate;
    }
    return std::nullopt;
}

void MagEngine::sial_stop_query(BindingUpdateListEntry& e) {
    if (e.subscription_timer) timers_.cancel_timer(e.subscription_timer);
    e.subscription_timer = 0;
    if (e.subscription_query) {
        if (const auto it = subscription_queries_.find(*e.subscription_query);
            it != subscription_queries_.end() && it->second == e.id)
            subscription_queries_.erase(it);
    }
    e.subscription_query.reset();
}

void MagEngine::sial_remember_departed(const BindingUpdateListEntry& e) {
    const TimePoint now = timers_.clock().now();
    std::erase_if(departed_, [&](const auto& d) { return d.second.until <= now; });
    if (departed_.size() >= kMaxDeparted) {
        auto oldest = std::min_element(departed_.begin(), departed_.end(), [](const auto& a, const auto& b) {
            return a.second.until < b.second.until;
        });
        departed_.erase(oldest);
    }
    departed_[{e.policy.lma, e.policy.mn_identifier}] =
        Departed{e.departing_subscriptions, e.home_network_prefixes, now + config_.departed_context_hold};
}

// Section 4.3.1.1 / 5.2.2 step 3: the LMA asks what the MN had here.
void MagEngine::handle_subscription_query(const Ipv6Address& source, const mh::SubscriptionQuery& query) {
    ++counters_.sial_queries_received;
    const auto* id = mh::find_option<mh::MobileNodeIdentifier>(query.options);
    if (id == nullptr) {
        ++counters_.sial_queries_unknown;
        return;
    }
    const std::string mn(id->identifier.begin(), id->identifier.end());
    // A peer MAG (draft-asaeda Figure 6) asks about the MN whatever its LMA;
    // the LMA about its own MNs.
    const bool peer = is_context_peer(source);
    if (peer) ++counters_.peer_queries_received;
    const std::vector<mh::ActiveMulticastSubscriptionIpv6>* found = nullptr;
    std::vector<mh::ActiveMulticastSubscriptionIpv6> current;
    bool known = false;
    for (auto& [eid, e] : entries_) {
        if ((!peer && e.policy.lma != source) || e.policy.mn_identifier != mn ||
            e.policy.mn_identifier_subtype != id->subtype)
            continue;
        known = true;
        if (e.state == BulState::kDeregistering) {
            found = &e.departing_subscriptions;
        } else if (e.tunnel && e.multicast_signalling && multicast_context_ != nullptr) {
            current = multicast_context_->subscriptions(e);
            found = &current;
        }
        break;
    }
    if (!known) {
        const TimePoint now = timers_.clock().now();
        for (const auto& [key, d] : departed_) {
            if ((peer || key.first == source) && key.second == mn && d.until > now) {
                known = true;
                found = &d.subscriptions;
                break;
            }
        }
    }
    if (!known) ++counters_.sial_queries_unknown;
    mh::SubscriptionResponse r;
    r.sequence = query.sequence;
    for (const auto& o : query.options) {
        if (std::holds_alternative<mh::MobileNodeIdentifier>(o) || std::holds_alternative<mh::HomeNetworkPrefix>(o))
            r.options.push_back(o);
    }
    if (found != nullptr && !found->empty()) {
        r.flags = mh::subscription_response_flag::kI;
        for (const auto& s : *found) r.options.push_back(s);
        ++counters_.sial_responses_with_context;
    }
    ++counters_.sial_responses_sent;
    PMIP_DEBUG(kBul, "[mag sial lma=" + pmip::to_string(source) + "]",
               "Subscription Query " + std::to_string(query.sequence) + " answered with " +
                   std::to_string(found ? found->size() : 0) + " subscriptions");
    sender_.send(config_.proxy_coa, source, r);
}

// Section 5.3 step 8: the LMA's answer to our query.
void MagEngine::handle_subscription_response(const Ipv6Address& source,
                                             const mh::SubscriptionResponse& response) {
    if (peer_response(source, response)) return;
    ++counters_.sial_responses_received;
    const auto q = subscription_queries_.find(response.sequence);
    if (q == subscription_queries_.end()) {
        ++counters_.sial_responses_unmatched;
        return;
    }
    BindingUpdateListEntry& e = entries_.at(q->second);
    const auto* id = mh::find_option<mh::MobileNodeIdentifier>(response.options);
    const bool same_mn = id != nullptr && id->subtype == e.policy.mn_identifier_subtype &&
                         std::string(id->identifier.begin(), id->identifier.end()) == e.policy.mn_identifier;
    if (e.policy.lma != source || e.state != BulState::kRegistered || !same_mn) {
        ++counters_.sial_responses_unmatched;
        return;
    }
    sial_stop_query(e);
    const auto subscriptions = response.has_information() ? mh::options_of_type<mh::ActiveMulticastSubscriptionIpv6>(response.options)
                                                          : std::vector<mh::ActiveMulticastSubscriptionIpv6>{};
    if (subscriptions.empty()) {
        PMIP_DEBUG(kBul, sial_context(e), "the LMA has no multicast context for the MN");
        return;
    }
    sial_apply(e, subscriptions, "Subscription Response");
}

// draft-asaeda Figure 6: the previous MAG's context straight to the new
// MAG, carried by RFC 7161's Subscription Query / Response between MAGs
// (MagConfig::context_peers). Sent at the MN's attach, with its PBU, to
// every peer; the one that had the MN answers with I=1 and its options 57
// (from the MN's link, its de-registration or the departed MNs kept for
// departed_context_hold), the others with I=0. The context is applied to
// the MN's link at the PBA (after the LMA's, if any; MLD merges them) or at
// once if it comes later; records the MN does not confirm expire by RFC
// 3810 timers, as with the LMA's. One try per peer: the LMA's context and
// the MN's reports remain.
bool MagEngine::is_context_peer(const Ipv6Address& a) const {
    return std::find(config_.context_peers.begin(), config_.context_peers.end(), a) != config_.context_peers.end();
}

void MagEngine::peer_send_queries(EntryId id) {
    BindingUpdateListEntry& e = entries_.at(id);
    for (const Ipv6Address& peer : config_.context_peers) {
        if (peer == config_.proxy_coa) continue;
        const auto sequence = sial_free_sequence();
        if (!sequence) {
            ++counters_.sial_queries_skipped;
            break;
        }
        peer_queries_[*sequence] = {id, peer};
        e.peer_queries.push_back(*sequence);
        mh::SubscriptionQuery q;
        q.sequence = *sequence;
        q.options.push_back(identifier_option(e.policy));
        ++counters_.peer_queries_sent;
        sender_.send(config_.proxy_coa, peer, q);
    }
    if (e.peer_queries.empty()) return;
    e.peer_query_timer = timers_.start_timer(config_.peer_query_timeout, [this, id] {
        const auto it = entries_.find(id);
        if (it == entries_.end()) return;
        it->second.peer_query_timer = 0;
        counters_.peer_queries_timed_out += it->second.peer_queries.size();
        peer_stop_queries(it->second);
    });
}

void MagEngine::peer_stop_queries(BindingUpdateListEntry& e) {
    if (e.peer_query_timer) timers_.cancel_timer(e.peer_query_timer);
    e.peer_query_timer = 0;
    for (std::uint8_t s : e.peer_queries) {
        if (const auto it = peer_queries_.find(s); it != peer_queries_.end() && it->second.first == e.id)
            peer_queries_.erase(it);
    }
    e.peer_queries.clear();
}

// True when `response` answers one of our queries to a peer MAG (handled here).
bool MagEngine::peer_response(const Ipv6Address& source, const mh::SubscriptionResponse& response) {
    const auto q = peer_queries_.find(response.sequence);
    if (q == peer_queries_.end() || q->second.second != source) return false;
    const EntryId id = q->second.first;
    peer_queries_.erase(q);
    const auto it = entries_.find(id);
    if (it == entries_.end()) {
        ++counters_.peer_responses_unmatched;
        return true;
    }
    BindingUpdateListEntry& e = it->second;
    std::erase(e.peer_queries, response.sequence);
    if (e.peer_queries.empty() && e.peer_query_timer) {
        timers_.cancel_timer(e.peer_query_timer);
        e.peer_query_timer = 0;
    }
    const auto* mn = mh::find_option<mh::MobileNodeIdentifier>(response.options);
    const bool same_mn = mn != nullptr && mn->subtype == e.policy.mn_identifier_subtype &&
                         std::string(mn->identifier.begin(), mn->identifier.end()) == e.policy.mn_identifier;
    const bool serving = e.state == BulState::kRegistering || e.state == BulState::kRegistered;
    if (!same_mn || !serving) {
        ++counters_.peer_responses_unmatched;
        return true;
    }
    auto subscriptions = response.has_information() ? mh::options_of_type<mh::ActiveMulticastSubscriptionIpv6>(response.options)
                                                    : std::vector<mh::ActiveMulticastSubscriptionIpv6>{};
    if (subscriptions.empty()) {
        ++counters_.peer_responses_empty;
        return true;
    }
    ++counters_.peer_contexts_received;
    // The other peers' answers do not matter any more.
    peer_stop_queries(e);
    if (e.state == BulState::kRegistered && e.tunnel) {
        ++counters_.peer_contexts_applied;
        sial_apply(e, subscriptions, "previous MAG " + pmip::to_string(source));
    } else {
        e.peer_context = std::move(subscriptions);
    }
    return true;
}

// draft-asaeda PBU-M (PROTOCOL.md 9.1): a registration here asks the LMA to
// forward the channels the MN will hold at once (its profile's) that this
// MAG does not receive from that LMA yet, so the stream is in the tunnel
// when the PBA arrives instead of after our MLD report through it. The
// channels are chosen at the first PBU and repeated in retransmissions.
// Every registration and renewal of a multicast MN carries the flag, with
// no records when there is nothing to ask: the LMA's answer names the
// channels its own profile holds for the MN (issue 18), which we join on
// its behalf; a de-registration carries neither. An LMA that does not know
// the flag or the option ignores both (reserved bit; unknown option
// skipped, RFC 6275 section 6.2.1) and our report asks instead.
void MagEngine::pbu_m_add(BindingUpdateListEntry& e, mh::BindingUpdate& pbu, bool retransmission) {
    if (!config_.pbu_m || !e.policy.multicast || multicast_context_ == nullptr ||
        e.state == BulState::kDeregistering) {
        e.requested_channels.clear();
        e.pbu_m_sent = false;
        return;
    }
    const bool registration = !e.tunnel;
    if (!retransmission) {
        e.requested_channels = registration ? multicast_context_->channels_to_request(e)
                                            : std::vector<mh::MulticastAddressRecord>{};
    }
    pbu.flags |= config_.pbu_m_flag;
    e.pbu_m_sent = true;
    std::size_t left_out = 0;
    if (!e.requested_channels.empty()) {
        auto options = mh::pack_multicast_subscription(e.requested_channels, config_.pbu_m_max_octets, &left_out);
        if (options.empty()) {  // nothing fits: the flag alone
            if (!retransmission) counters_.pbu_m_records_not_sent += e.requested_channels.size();
            e.requested_channels.clear();
            left_out = 0;
        }
        for (auto& o : options) pbu.options.push_back(std::move(o));
    }
    if (retransmission) return;
    ++counters_.pbu_m_sent;
    if (e.requested_channels.empty()) return;
    counters_.pbu_m_records_requested += e.requested_channels.size() - left_out;
    counters_.pbu_m_records_not_sent += left_out;
    PMIP_DEBUG(kBul, sial_context(e),
               "PBU-M asks for " + std::to_string(e.requested_channels.size() - left_out) + " channel(s)" +
                   (left_out ? " (" + std::to_string(left_out) + " left to MLD: too large)" : ""));
}

// The accepted PBA of a PBU-M: the LMA's option lists what it forwards now;
// what it lists that we did not ask for is its profile's for the MN.
// Returns whether e.lma_channels changed.
bool MagEngine::pbu_m_answered(BindingUpdateListEntry& e, const mh::BindingAcknowledgement& pba) {
    if (!std::exchange(e.pbu_m_sent, false)) return false;
    const auto requested = std::exchange(e.requested_channels, {});
    std::vector<mh::MulticastAddressRecord> granted;
    bool answered = false;
    for (const auto& o : pba.options) {
        if (const auto* m = std::get_if<mh::MulticastSubscription>(&o)) {
            answered = true;
            granted.insert(granted.end(), m->records.begin(), m->records.end());
        }
    }
    if (!answered) {
        ++counters_.pbu_m_unanswered;
        PMIP_DEBUG(kBul, sial_context(e), "PBA without the multicast subscription option: the LMA ignored the PBU-M");
        return false;
    }
    ++counters_.pbu_m_answered;
    counters_.pbu_m_records_granted += granted.size();
    std::vector<MulticastChannel> lma;
    for (const auto& r : granted) {
        if (std::find(requested.begin(), requested.end(), r) != requested.end())
            continue;
        // IS_EX: (*, G); IS_IN {S...}: (S, G). A split record (pack) comes
        // back in parts: their sources join.
        if (r.record_type != 1 && r.record_type != 2)
            continue;
        auto it = std::find_if(lma.begin(), lma.end(),
                               [&](const MulticastChannel& c) { return c.group == r.multicast_address; });
        if (it == lma.end())
            it = lma.insert(lma.end(), MulticastChannel{r.multicast_address, {}});
        if (r.record_type == 1) {
            for (const auto& s : r.sources) {
                if (std::find(it->sources.begin(), it->sources.end(), s) == it->sources.end())
                    it->sources.push_back(s);
            }
        }
    }
    if (lma == e.lma_channels)
        return false;
    e.lma_channels = std::move(lma);
    ++counters_.pbu_m_lma_channel_changes;
    PMIP_INFO(kBul, sial_context(e),
              "the LMA's profile names " + std::to_string(e.lma_channels.size()) + " channel(s) for the MN");
    return true;
}

}  // namespace pmip::mag
