// MAG engine: RFC 5213 section 6 over the Binding Update List.
#include "pmip/mag/mag_engine.hpp"

#include <algorithm>
#include <utility>

#include "pmip/common/log.hpp"
#include "pmip/mh/codec.hpp"

namespace pmip::mag {

namespace {

std::string mac_text(const std::string& mac) {
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out;
    for (unsigned char c : mac) {
        if (!out.empty()) out += ':';
        out += kHex[c >> 4];
        out += kHex[c & 0xf];
    }
    return out;
}

std::string context(const BindingUpdateListEntry& e) {
    return "[mag mn=" + mac_text(e.mn_link_layer_address) + " if=" + e.access_interface + "]";
}

bool all_zero(const std::string& s) {
    return std::all_of(s.begin(), s.end(), [](char c) { return c == 0; });
}

}  // namespace

std::string_view to_string(BulState state) {
    switch (state) {
        case BulState::kRegistering: return "registering";
        case BulState::kRegistered: return "registered";
        case BulState::kDeregistering: return "deregistering";
        case BulState::kDenied: return "denied";
    }
    return "unknown";
}

MagEngine::MagEngine(MagConfig config, const PolicyStore& policies, TunnelManager& tunnels,
                     RouteManager& routes, Timers& timers, MhSender& sender,
                     std::function<bool(int)> is_attached)
    : config_(std::move(config)),
      policies_(policies),
      tunnels_(tunnels),
      routes_(routes),
      timers_(timers),
      sender_(sender),
      is_attached_(std::move(is_attached)) {}

// Destruction removes the forwarding state but tells no observer: it may be
// gone already (an observer that owns the engine, or one declared after it).
MagEngine::~MagEngine() {
    observer_ = nullptr;
    clear();
}

std::uint64_t MagEngine::now_timestamp() const {
    const auto ns =
        std::chrono::duration_cast<std::chrono::nanoseconds>(timers_.clock().since_epoch());
    const std::uint64_t seconds = static_cast<std::uint64_t>(ns.count()) / 1'000'000'000u;
    const auto nanos = static_cast<std::uint32_t>(static_cast<std::uint64_t>(ns.count()) % 1'000'000'000u);
    return mh::make_timestamp(seconds, nanos);
}

const BindingUpdateListEntry* MagEngine::find_by_interface(int ifindex) const {
    const auto it = by_interface_.find(ifindex);
    if (it == by_interface_.end()) return nullptr;
    return &entries_.at(it->second);
}

const BindingUpdateListEntry* MagEngine::find_by_mac(const std::string& mac) const {
    const auto it = by_mac_.find(mac);
    if (it == by_mac_.end()) return nullptr;
    return &entries_.at(it->second);
}

bool MagEngine::update_policy_in_place(EntryId id, const MobileNodePolicy& policy) {
    const auto it = entries_.find(id);
    if (it == entries_.end())
        return false;
    MobileNodePolicy same = policy;
    same.multicast_channels = it->second.policy.multicast_channels;
    same.multicast_admission = it->second.policy.multicast_admission;
    if (!(same == it->second.policy))
        return false;  // what the PBU carries changed: a new registration
    it->second.policy.multicast_channels = policy.multicast_channels;
    it->second.policy.multicast_admission = policy.multicast_admission;
    return true;
}

bool MagEngine::attach(int ifindex, const std::string& interface, const std::string& mac,
                       std::optional<std::uint8_t> handoff_indicator) {
    ++counters_.attaches;
    if (const auto it = by_interface_.find(ifindex); it != by_interface_.end()) {
        const BindingUpdateListEntry& existing = entries_.at(it->second);
        if (existing.state != BulState::kDeregistering) {
            // Already known on this link (a repeated RS, a link flap): nothing new.
            return existing.state != BulState::kDenied;
        }
        // The MN came back while its de-registration is outstanding: that
        // entry is finished (its forwarding state is already gone) and a new
        // registration starts; the LMA takes it as a registration during its
        // MinDelayBeforeBCEDelete wait [RFC 5213 section 5.3.5].
        erase(it->second);
    }
    const MobileNodePolicy* policy = policies_.find(mac);
    if (policy == nullptr) {
        ++counters_.attach_without_policy;
        PMIP_INFO(kBul, "[mag mn=" + mac_text(mac) + " if=" + interface + "]",
                  "no policy for this mobile node: no service");
        return false;
    }
    // RFC 5213 section 6.9.1.1 (Handoff Indicator considerations): the MN's
    // link-layer identifier names its interface, so the same one on another
    // access link of this MAG (for the same MN and LMA) is that interface
    // moved here, not a second attachment. The LMA's binding names this
    // proxy CoA and nothing of the link: a registered entry moves to the new
    // link in place, with no signalling (move_registered). Otherwise (its
    // first PBU still out, or the move's route refused) the old entry is
    // retired without a de-registration, its tunnel held for the new entry
    // as a prepared one, and the new link's PBU asks for the session's
    // prefixes (the LMA sees a re-registration). Either way the old link's
    // forwarding state goes now: the HNP's uplink object (source route or
    // rule) is the one of both links, and the old link going down later must
    // find nothing of the MN's there to remove.
    const BindingUpdateListEntry* moved_from = nullptr;
    if (const auto m = by_mac_.find(mac); m != by_mac_.end()) {
        BindingUpdateListEntry& old = entries_.at(m->second);
        if (old.state == BulState::kDenied) {
            erase(old.id);
        } else if (old.state != BulState::kDeregistering && old.policy.lma == policy->lma &&
                   old.policy.mn_identifier == policy->mn_identifier) {
            ++counters_.intra_mag_moves;
            if (old.state == BulState::kRegistered && old.tunnel && move_registered(old, ifindex, interface))
                return true;
            moved_from = &old;
        }
    }
    BindingUpdateListEntry e;
    e.id = next_id_++;
    e.access_ifindex = ifindex;
    e.access_interface = interface;
    e.mn_link_layer_address = mac;
    e.policy = *policy;
    e.requested_prefixes = policy->home_network_prefixes;
    if (moved_from && !moved_from->home_network_prefixes.empty())
        e.requested_prefixes = moved_from->home_network_prefixes;
    e.handoff_indicator = handoff_indicator.value_or(config_.attach_handoff_indicator);
    if (policy->gre_keys) e.downlink_key = next_session_gre_key(next_downlink_key_, config_.reserved_gre_key);
    e.multicast_signalling =
        config_.multicast_context_transfer && multicast_context_ != nullptr && policy->multicast;
    const EntryId id = e.id;
    auto& entry = entries_.emplace(id, std::move(e)).first->second;
    by_interface_[ifindex] = id;
    by_mac_[mac] = id;
    if (moved_from) {
        PMIP_INFO(kBul, context(*moved_from), "mobile node moved to " + interface +
                                                  " of this MAG: the entry here goes without a de-registration");
        const auto held = moved_from->tunnel ? moved_from->tunnel : moved_from->prepared_tunnel;
        if (held && *held == tunnel_key(entry)) {
            if (auto kept = tunnels_.prepare(*held)) {
                entry.prepared_tunnel = held;
                if (observer_) observer_->tunnel_prepared(entry, *kept);
            } else {
                ++counters_.tunnel_preparation_errors;
                PMIP_WARNING(kTunnel, context(entry), "tunnel not held across the move (made again at the PBA): " +
                                                          kept.error().what);
            }
        }
        erase(moved_from->id);
    }
    PMIP_INFO(kBul, context(entry), "attached; registering with LMA " + pmip::to_string(policy->lma));
    entry.retransmit_timeout = config_.initial_bindack_timeout;
    send_pbu(entry, false);
    arm_retransmission(entry);
    if (entry.multicast_signalling && !config_.context_peers.empty()) peer_send_queries(id);
    // Right after this call, not in it: the caller's own work for the
    // attach (magd's early General Query, PROTOCOL.md 6.2 step 3) goes first.
    if (config_.prepare_tunnels)
        entry.prepare_timer = timers_.start_timer(Duration::zero(), [this, id] {
            const auto it = entries_.find(id);
            if (it == entries_.end()) return;
            it->second.prepare_timer = 0;
            if (it->second.state == BulState::kRegistering) prepare_tunnel(it->second);
        });
    return true;
}

// A registered MN's interface on another access link of this MAG (attach):
// its prefixes' routes onto the new link first (the kernel replaces the
// route, which names the device), then what follows the binding moves:
// the new link is registered (RAs, the multicast proxy downstream, with
// the old link's subscriptions when the MN has multicast context), then
// the old link is let go. The tunnel, the uplink objects, the binding and
// its renewal timer stay as they are: nothing the LMA knows changed. False
// (nothing changed) when the kernel refuses a route.
bool MagEngine::move_registered(BindingUpdateListEntry& e, int ifindex, const std::string& interface) {
    const auto tunnel = tunnels_.find(*e.tunnel);
    if (!tunnel) return false;
    std::vector<RouteRequest> batch;
    for (const auto& p : e.home_network_prefixes)
        batch.push_back({RouteOp::kAdd, access_route(p, ifindex)});
    const auto back_onto_old_link = [this, &e](std::size_t, const RouteRequest& r) -> std::optional<RouteRequest> {
        return RouteRequest{RouteOp::kAdd, access_route(std::get<Route>(r.object).destination, e.access_ifindex)};
    };
    for (const auto& st : apply_or_undo(routes_, batch, 0, back_onto_old_link)) {
        if (st.ok()) continue;
        ++counters_.data_path_errors;
        PMIP_ERROR(kRoute, context(e), "moving to " + interface + ": route not added: " + st.error().what +
                                           "; registering there afresh");
        return false;
    }
    PMIP_INFO(kBul, context(e), "mobile node moved to " + interface + " of this MAG: binding kept, no signalling");
    std::vector<mh::ActiveMulticastSubscriptionIpv6> subscriptions;
    if (multicast_context_ != nullptr && e.policy.multicast) subscriptions = multicast_context_->subscriptions(e);
    const BindingUpdateListEntry old = e;
    by_interface_.erase(e.access_ifindex);
    by_interface_[ifindex] = e.id;
    e.access_ifindex = ifindex;
    e.access_interface = interface;
    if (observer_) observer_->registered(e, *tunnel);
    if (!subscriptions.empty()) sial_apply(e, subscriptions, "previous link of this MAG");
    if (observer_) observer_->registration_settled(e);
    if (observer_) observer_->deregistered(old);
    // The old link's routes are gone already: the kernel replaced each (same
    // destination, table and metric; NetlinkRouteManager adds with
    // NLM_F_REPLACE), so nothing is left to delete.
    return true;
}

// While the first PBU is out, the tunnel its PBA will use is made, down, and
// what follows the binding builds on it (the multicast proxy instance): at
// the PBA only the device comes up and the routes go in. RFC 5213 section
// 6.10 leaves when the tunnel is created to the implementation; down, it
// carries nothing before the LMA accepts. ip6ip6 only: with GRE the key we
// send with comes in the PBA, and the LMA may decline GRE altogether (RFC
// 5845 section 4), so the tunnel the PBA asks for is not known before it.
void MagEngine::prepare_tunnel(BindingUpdateListEntry& e) {
    if (!config_.prepare_tunnels || e.policy.gre_keys || e.policy.tunnel_kind != TunnelKind::kIp6Ip6 ||
        e.tunnel || e.prepared_tunnel)
        return;
    const TunnelKey key = tunnel_key(e);
    auto prepared = tunnels_.prepare(key);
    if (!prepared) {
        ++counters_.tunnel_preparation_errors;
        PMIP_WARNING(kTunnel, context(e), "tunnel not made ahead (it will be at the PBA): " +
                                              prepared.error().what);
        return;
    }
    ++counters_.tunnels_prepared;
    e.prepared_tunnel = key;
    if (observer_) observer_->tunnel_prepared(e, *prepared);
}

// The first answer (or giving up): the registration holds its own
// reference by now if it was accepted; the prepared one goes, and with it
// the device if nothing else uses it.
void MagEngine::release_prepared_tunnel(BindingUpdateListEntry& e) {
    if (!e.prepared_tunnel) return;
    const TunnelKey key = *std::exchange(e.prepared_tunnel, std::nullopt);
    const auto info = tunnels_.find(key);
    if (info && observer_) observer_->tunnel_unprepared(e, *info);
    if (Status st = tunnels_.release(key); !st.ok()) {
        ++counters_.data_path_errors;
        PMIP_ERROR(kTunnel, context(e), "prepared tunnel not released: " + st.error().what);
    }
}

// Section 6.9.1.1 (registration / renewal) and 6.9.1.2 (de-registration).
void MagEngine::send_pbu(BindingUpdateListEntry& e, bool retransmission) {
    const bool deregistration = e.state == BulState::kDeregistering;
    mh::BindingUpdate pbu;
    pbu.sequence = next_sequence_++;
    pbu.flags = mh::bu_flag::kA | mh::bu_flag::kP;
    // RFC 7161 section 4.2.1: S=1 registers a MAG that handles multicast
    // signalling; in a de-registration, the MN's subscriptions follow.
    if (e.multicast_signalling && (!deregistration || !e.departing_subscriptions.empty()))
        pbu.flags |= mh::bu_flag::kS;
    pbu.lifetime = deregistration ? 0 : e.policy.lifetime;
    pbu.options.push_back(mh::MobileNodeIdentifier{
        e.policy.mn_identifier_subtype,
        std::vector<std::uint8_t>(e.policy.mn_identifier.begin(), e.policy.mn_identifier.end())});
    // HNPs: the assigned ones once known; else the policy's; else one ALL_ZERO.
    const auto& prefixes =
        !e.home_network_prefixes.empty() ? e.home_network_prefixes : e.requested_prefixes;
    if (prefixes.empty()) {
        pbu.options.push_back(mh::HomeNetworkPrefix{0, {}});
    } else {
        for (const auto& p : prefixes) pbu.options.push_back(mh::HomeNetworkPrefix{p.length, p.address});
    }
    std::uint8_t hi = e.handoff_indicator;
    if (deregistration) hi = mh::handoff_indicator::kUnknown;
    else if (e.tunnel) hi = mh::handoff_indicator::kNotChanged;  // renewal, section 6.9.1.1
    e.handoff_indicator = hi;
    pbu.options.push_back(mh::HandoffIndicator{hi});
    pbu.options.push_back(mh::AccessTechnologyType{config_.access_technology_type});
    if (config_.timestamps) {
        // Retransmissions carry the latest timestamp (section 6.9.4); never
        // repeat one, even within a clock tick.
        e.timestamp = std::max(now_timestamp(), last_timestamp_ + 1);
        last_timestamp_ = e.timestamp;
        pbu.options.push_back(mh::Timestamp{e.timestamp});
    }
    if (!e.mn_link_layer_address.empty() && !all_zero(e.mn_link_layer_address)) {
        pbu.options.push_back(mh::MobileNodeLinkLayerIdentifier{std::vector<std::uint8_t>(
            e.mn_link_layer_address.begin(), e.mn_link_layer_address.end())});
    }
    if (uses_gre(e)) pbu.options.push_back(mh::GreKey{e.downlink_key});
    if (deregistration && e.multicast_signalling) {
        for (const auto& sub : e.departing_subscriptions) pbu.options.push_back(sub);
        if (!retransmission && !e.departing_subscriptions.empty()) ++counters_.sial_contexts_sent;
    }
    pbu_m_add(e, pbu, retransmission);
    if (const auto old = by_sequence_.find(e.sequence); old != by_sequence_.end() && old->second == e.id)
        by_sequence_.erase(old);
    e.sequence = pbu.sequence;
    by_sequence_[pbu.sequence] = e.id;
    e.last_sent = timers_.clock().now();
    ++e.transmissions;
    ++counters_.pbu_sent;
    if (retransmission) ++counters_.pbu_retransmitted;
    PMIP_DEBUG(kBul, context(e),
               std::string(deregistration ? "de-registration" : "PBU") + " seq " +
                   std::to_string(pbu.sequence) + " HI " + std::to_string(hi));
    sender_.send(config_.proxy_coa, e.policy.lma, pbu);
}

void MagEngine::arm_retransmission(BindingUpdateListEntry& e) {
    if (e.retransmit_timer) timers_.cancel_timer(e.retransmit_timer);
    const EntryId id = e.id;
    e.retransmit_timer = timers_.start_timer(e.retransmit_timeout, [this, id] { retransmit(id); });
}

// Section 6.9.4: back-off doubling to MAX_BINDACK_TIMEOUT; the MN must still
// be attached; a de-registration is given up after INITIAL_BINDACK_TIMEOUT.
void MagEngine::retransmit(EntryId id) {
    const auto it = entries_.find(id);
    if (it == entries_.end()) return;
    BindingUpdateListEntry& e = it->second;
    e.retransmit_timer = 0;
    if (e.state == BulState::kDeregistering) {
        ++counters_.deregistration_timeouts;
        PMIP_INFO(kBul, context(e), "no PBA to the de-registration; removing the binding locally");
        return erase(id);
    }
    if (e.state != BulState::kRegistering) return;
    if (is_attached_ && !is_attached_(e.access_ifindex)) {
        PMIP_INFO(kBul, context(e), "mobile node gone while registering; dropping the entry");
        return erase(id);
    }
    e.retransmit_timeout = std::min(e.retransmit_timeout * 2, config_.max_bindack_timeout);
    send_pbu(e, true);
    arm_retransmission(e);
}

void MagEngine::schedule_renewal(BindingUpdateListEntry& e) {
    if (e.renewal_timer) timers_.cancel_timer(e.renewal_timer);
    const auto lifetime = std::chrono::seconds(4) * e.lifetime_granted;
    const auto at = std::chrono::duration_cast<Duration>(lifetime * config_.renewal_fraction);
    const EntryId id = e.id;
    e.renewal_timer = timers_.start_timer(at, [this, id] { renew(id); });
}

// Section 6.13: extend the lifetime only if the MN is confirmed attached.
void MagEngine::renew(EntryId id) {
    const auto it = entries_.find(id);
    if (it == entries_.end()) return;
    BindingUpdateListEntry& e = it->second;
    e.renewal_timer = 0;
    if (e.state != BulState::kRegistered) return;
    if (is_attached_ && !is_attached_(e.access_ifindex)) {
        ++counters_.renewals_skipped_detached;
        PMIP_INFO(kBul, context(e), "cannot confirm the MN is attached: de-registering");
        return detach(e.access_ifindex);
    }
    ++counters_.renewals;
    e.state = BulState::kRegistering;
    e.transmissions = 0;
    e.reasserted_after_157 = false;
    e.retransmit_timeout = config_.initial_bindack_timeout;
    send_pbu(e, false);
    arm_retransmission(e);
}

void MagEngine::detach(int ifindex) {
    const auto it = by_interface_.find(ifindex);
    if (it == by_interface_.end()) return;
    BindingUpdateListEntry& e = entries_.at(it->second);
    if (e.state == BulState::kDeregistering) return;
    if (e.state == BulState::kDenied || (!e.tunnel && e.home_network_prefixes.empty() &&
                                         e.state == BulState::kRegistering &&
                                         e.transmissions == 0)) {
        return erase(e.id);
    }
    ++counters_.deregistrations;
    cancel_timers(e);
    // RFC 7161 section 5.1 step 2: the MN's subscriptions as they are when
    // it leaves, before its link stops being a proxy downstream.
    if (e.multicast_signalling && e.tunnel && multicast_context_ != nullptr) {
        e.departing_subscriptions = multicast_context_->subscriptions(e);
        sial_remember_departed(e);
    }
    // Section 6.9.1.2: the de-registration, then the routing state goes
    // (the MN has left); the entry waits for the PBA or
    // INITIAL_BINDACK_TIMEOUT. The PBU goes first because removing the
    // forwarding state can take milliseconds (a tunnel device deleted with
    // its last user) and the LMA (and with RFC 7161 the new MAG, waiting for
    // the MN's subscriptions) should not wait for that.
    e.state = BulState::kDeregistering;
    e.retransmit_timeout = config_.initial_bindack_timeout;
    PMIP_INFO(kBul, context(e), "detached; de-registering");
    send_pbu(e, false);
    remove_forwarding(e);
    release_prepared_tunnel(e);  // the MN left before the first PBA
    arm_retransmission(e);
}

void MagEngine::handle_proxy_binding_acknowledgement(const Ipv6Address& source,
                                                     const mh::BindingAcknowledgement& pba) {
    // RFC 8885 section 4.2: a MAG (not a MAAR) ignores a PBA with the D flag,
    // and says so: the peer is a CMD, so this MAG's LMA address points at the
    // wrong node (or the peer answers MAGs as a MAAR). RFC 8885 names no
    // message for the error; it is logged and counted here.
    if (pba.flags & mh::ba_flag::kD) {
        ++counters_.pba_dmm_ignored;
        if (dmm_log_.allow()) {
            PMIP_ERROR(kBul, "[mag lma=" + pmip::to_string(source) + "]",
                       "PBA with the D flag (RFC 8885: from a MAAR or CMD) ignored: this magd is a MAG "
                       "(mag.mode = mag); check the MN's LMA address");
        }
        return;
    }
    // Match by MN-Identifier, disambiguated by sequence (section 6.9.2).
    const auto* id = mh::find_option<mh::MobileNodeIdentifier>(pba.options);
    BindingUpdateListEntry* match = nullptr;
    // The outstanding PBU with that sequence number (per-MAG counter, so one
    // entry at most): an index, not a scan of the whole BUL.
    const auto by_seq = by_sequence_.find(pba.sequence);
    if (by_seq != by_sequence_.end()) {
        auto& e = entries_.at(by_seq->second);
        const bool candidate =
            e.sequence == pba.sequence && e.policy.lma == source &&
            (e.state == BulState::kRegistering || e.state == BulState::kDeregistering);
        if (candidate && !(id && (id->subtype != e.policy.mn_identifier_subtype ||
                                  std::string(id->identifier.begin(), id->identifier.end()) !=
                                      e.policy.mn_identifier))) {
            match = &e;
        }
    }
    for (auto& [eid, e] : entries_) {
        if (match != nullptr) break;
        if (by_seq != by_sequence_.end()) break;  // the index is authoritative
        if (e.sequence != pba.sequence || e.policy.lma != source) continue;
        if (e.state != BulState::kRegistering && e.state != BulState::kDeregistering) continue;
        if (id && (id->subtype != e.policy.mn_identifier_subtype ||
                   std::string(id->identifier.begin(), id->identifier.end()) !=
                       e.policy.mn_identifier)) {
            continue;
        }
        match = &e;
        break;
    }
    if (match == nullptr) {
        ++counters_.pba_unmatched;
        PMIP_DEBUG(kBul, "[mag lma=" + pmip::to_string(source) + "]",
                   "PBA seq " + std::to_string(pba.sequence) + " matches no outstanding PBU");
        return;
    }
    BindingUpdateListEntry& e = *match;
    // Copied options must be what we sent; otherwise ignore and stop
    // retransmitting until administrative action (PROTOCOL.md 2.14).
    const auto* hi = mh::find_option<mh::HandoffIndicator>(pba.options);
    const auto* att = mh::find_option<mh::AccessTechnologyType>(pba.options);
    const auto* ll = mh::find_option<mh::MobileNodeLinkLayerIdentifier>(pba.options);
    const bool mismatch =
        (hi && hi->value != e.handoff_indicator) ||
        (att && att->value != config_.access_technology_type) ||
        (ll && std::string(ll->identifier.begin(), ll->identifier.end()) !=
                   e.mn_link_layer_address);
    if (mismatch) {
        ++counters_.pba_mismatched;
        PMIP_WARNING(kBul, context(e),
                     "PBA does not echo the PBU (HI/ATT/MN-LL-ID); not retrying until reset");
        cancel_timers(e);
        remove_forwarding(e);
        release_prepared_tunnel(e);
        e.state = BulState::kDenied;
        return;
    }
    if (e.state == BulState::kDeregistering) {
        PMIP_INFO(kBul, context(e), "de-registration acknowledged");
        return erase(e.id);
    }
    if (pba.status < 128) return accepted(e, pba);

    ++counters_.pba_rejected[pba.status];
    e.last_status = pba.status;
    switch (pba.status) {
        case mh::status::kNotAuthorizedForHomeNetworkPrefix:
            // Do not ask for those prefixes again; MAY ask the LMA to assign.
            if (!e.asked_assignment_after_155 && !e.requested_prefixes.empty()) {
                e.asked_assignment_after_155 = true;
                e.requested_prefixes.clear();
                e.home_network_prefixes.clear();
                PMIP_INFO(kBul, context(e), "prefix refused (155): asking the LMA to assign one");
                return;  // the running retransmission timer sends the new request
            }
            return deny(e, pba.status);
        case mh::status::kTimestampLowerThanPrevAccepted:
            // Re-register to reassert presence (RFC 5213 section 5.5), at
            // once: in a handover the old MAG's de-registration, stamped a
            // moment after our PBU, can reach the LMA first; waiting for the
            // retransmission timer (1 s) let the LMA delete the session after
            // MinDelayBeforeBCEDelete and give the MN a new prefix. Once per
            // request; a second 157 waits for the timer (back-off).
            PMIP_INFO(kBul, context(e), "timestamp lower than accepted (157): re-registering");
            if (!e.reasserted_after_157 && e.state == BulState::kRegistering) {
                e.reasserted_after_157 = true;
                send_pbu(e, true);
            }
            return;
        case mh::status::kGreKeyOptionRequired:
            // RFC 5845 section 4.2: the LMA needs GRE with keys (its policy,
            // perhaps reloaded, while we sent no GRE Key option): SHOULD
            // resend with the option. At once, once per entry; 163 to a PBU
            // that carried the option is a refusal.
            if (!e.gre_required_by_lma && !uses_gre(e)) {
                e.gre_required_by_lma = true;
                e.gre_not_supported = false;
                if (!e.downlink_key) e.downlink_key = next_session_gre_key(next_downlink_key_, config_.reserved_gre_key);
                ++counters_.gre_required_by_lma;
                PMIP_INFO(kBul, context(e), "LMA requires GRE with keys (163): registering again with the GRE Key option");
                send_pbu(e, true);
                return;
            }
            return deny(e, pba.status);
        case mh::status::kTimestampMismatch:
            PMIP_WARNING(kBul, context(e),
                         "LMA says our clock is off (156, TIMESTAMP_MISMATCH): check time "
                         "synchronisation; retrying at back-off pace");
            return;
        default:
            return deny(e, pba.status);
    }
}

void MagEngine::accepted(BindingUpdateListEntry& e, const mh::BindingAcknowledgement& pba) {
    std::vector<Ipv6Prefix> prefixes;
    for (const auto& o : pba.options) {
        if (const auto* h = std::get_if<mh::HomeNetworkPrefix>(&o); h && h->prefix != Ipv6Address{}) {
            prefixes.push_back(canonical(Ipv6Prefix{h->prefix, h->prefix_length}));
        }
    }
    if (prefixes.empty() || pba.lifetime == 0) {
        ++counters_.pba_mismatched;
        PMIP_WARNING(kBul, context(e), "accepted PBA without a prefix or lifetime: ignored");
        return;
    }
    ++counters_.pba_accepted;
    e.last_status = pba.status;
    const bool lma_channels_changed = pbu_m_answered(e, pba);
    // RFC 5845 section 4: the LMA's uplink key, or GRE not used for this session.
    if (uses_gre(e)) {
        const auto* key = mh::find_option<mh::GreKey>(pba.options);
        if (pba.status == mh::status::kGreKeyOptionNotRequired || key == nullptr) {
            e.gre_not_supported = true;
            e.uplink_key.reset();
        } else {
            e.uplink_key = key->key;
        }
    }
    cancel_timers(e);
    e.lifetime_granted = pba.lifetime;
    const bool changed = !e.tunnel || prefixes != e.home_network_prefixes ||
                         *e.tunnel != tunnel_key(e);
    if (changed) {
        remove_forwarding(e);
        e.home_network_prefixes = prefixes;
        TunnelInfo tunnel;
        if (!install_forwarding(e, tunnel)) {
            release_prepared_tunnel(e);
            e.state = BulState::kDenied;
            PMIP_ERROR(kBul, context(e), "forwarding state not installed; no service");
            return;
        }
        e.state = BulState::kRegistered;
        PMIP_INFO(kBul, context(e), "registered: prefix " + pmip::to_string(prefixes.front()) +
                                        " via " + tunnel.name);
        // RFC 7161: a query for the context goes before the observer builds
        // the MN link's proxy state (milliseconds), so the answer is on its
        // way meanwhile; a context in the PBA is applied once it is built,
        // before the MN's own captured reports (registration_settled).
        const auto subscriptions = sial_accepted(e, pba);
        if (observer_) observer_->registered(e, tunnel);
        if (!subscriptions.empty()) sial_apply(e, subscriptions, "PBA");
        if (!e.peer_context.empty()) {
            ++counters_.peer_contexts_applied;
            sial_apply(e, std::exchange(e.peer_context, {}), "previous MAG (before the PBA)");
        }
        if (observer_) observer_->registration_settled(e);
        release_prepared_tunnel(e);
    } else {
        e.state = BulState::kRegistered;
        // A re-registration: the registration's observer call does not
        // come again (at a registration, `registered` carries them).
        if (lma_channels_changed && multicast_context_) multicast_context_->lma_channels_changed(e);
    }
    e.transmissions = 0;
    e.reasserted_after_157 = false;
    schedule_renewal(e);
}

void MagEngine::deny(BindingUpdateListEntry& e, std::uint8_t status) {
    PMIP_INFO(kBul, context(e), "registration rejected: " + std::string(mh::status_name(status)) +
                                    " (" + std::to_string(status) + "); no service");
    cancel_timers(e);
    remove_forwarding(e);
    release_prepared_tunnel(e);
    e.state = BulState::kDenied;
}

bool MagEngine::uses_gre(const BindingUpdateListEntry& e) {
    return (e.policy.tunnel_kind == TunnelKind::kGre || e.policy.gre_keys || e.gre_required_by_lma) &&
           !e.gre_not_supported;
}

TunnelKey MagEngine::tunnel_key(const BindingUpdateListEntry& e) const {
    TunnelKey key;
    key.peer = e.policy.lma;
    key.local = config_.proxy_coa;
    const bool gre = uses_gre(e);
    key.kind = gre ? TunnelKind::kGre : TunnelKind::kIp6Ip6;
    if (gre && e.downlink_key && e.uplink_key) {
        key.input_key = e.downlink_key;  // the LMA sends with our downlink key
        key.output_key = e.uplink_key;
    }
    return key;
}

std::uint32_t MagEngine::table_for(const Ipv6Address& lma) {
    const auto it = lma_tables_.find(lma);
    if (it != lma_tables_.end()) return it->second;
    const auto table = config_.lma_table_base + static_cast<std::uint32_t>(lma_tables_.size());
    lma_tables_.emplace(lma, table);
    return table;
}

Route MagEngine::access_route(const Ipv6Prefix& prefix, int access_ifindex) const {
    return Route{prefix, access_ifindex, kMainTable, config_.route_metric, std::nullopt};
}

RouteRequest uplink_request(RouteOp op, bool source_routes, const Ipv6Prefix& prefix, int tunnel_ifindex,
                            std::uint32_t table, std::uint32_t priority, std::uint32_t metric, RouteType type) {
    if (source_routes)
        return {op, Route{Ipv6Prefix{Ipv6Address{}, 0}, tunnel_ifindex, table, metric, std::nullopt, type, prefix}};
    return {op, Rule{prefix, table, priority, ""}};
}

// Section 6.10: the HNP is on-link on the access link; traffic sourced from
// it goes into the tunnel (MagConfig::uplink_routing says how).
bool MagEngine::install_forwarding(BindingUpdateListEntry& e, TunnelInfo& tunnel) {
    const TunnelKey key = tunnel_key(e);
    auto acquired = tunnels_.acquire(key);
    if (!acquired) {
        ++counters_.data_path_errors;
        PMIP_ERROR(kTunnel, context(e), "tunnel to LMA not created: " + acquired.error().what);
        return false;
    }
    tunnel = *acquired;
    const bool source_routes = config_.source_routes();
    e.lma_table = source_routes ? config_.lma_table_base : table_for(e.policy.lma);
    const Ipv6Prefix any{Ipv6Address{}, 0};
    // First what MNs share (kept when a later request fails), then the MN's
    // own. The tunnel's own rule came with it (TunnelRules).
    std::vector<RouteRequest> batch;
    bool adds_uplink_rule = false;
    if (!source_routes) {
        batch.push_back({RouteOp::kAdd, Route{any, tunnel.ifindex, e.lma_table, config_.route_metric, std::nullopt}});
    } else if (!uplink_rule_installed_) {
        batch.push_back({RouteOp::kAdd, Rule{any, config_.lma_table_base, config_.rule_priority, ""}});
        adds_uplink_rule = true;
    }
    const std::size_t shared = batch.size();
    for (const auto& p : e.home_network_prefixes) {
        batch.push_back({RouteOp::kAdd, access_route(p, e.access_ifindex)});
        batch.push_back(uplink_request(RouteOp::kAdd, source_routes, p, tunnel.ifindex, e.lma_table,
                                       config_.rule_priority, config_.route_metric));
    }
    const auto results = apply_or_undo(routes_, batch, shared);
    if (adds_uplink_rule && results[0].ok()) uplink_rule_installed_ = true;
    for (const auto& st : results) {
        if (st.ok()) continue;
        ++counters_.data_path_errors;
        PMIP_ERROR(kRoute, context(e), "forwarding state not installed: " + st.error().what);
        (void)tunnels_.release(key);
        return false;
    }
    e.tunnel = key;
    return true;
}

void MagEngine::remove_forwarding(BindingUpdateListEntry& e) {
    if (!e.tunnel) return;
    const TunnelKey key = *e.tunnel;
    const auto info = tunnels_.find(key);
    const bool source_routes = config_.source_routes();
    const Ipv6Prefix any{Ipv6Address{}, 0};
    std::vector<RouteRequest> batch;
    for (const auto& p : e.home_network_prefixes) {
        batch.push_back({RouteOp::kDelete, access_route(p, e.access_ifindex)});
        batch.push_back(uplink_request(RouteOp::kDelete, source_routes, p, info ? info->ifindex : 0, e.lma_table,
                                       config_.rule_priority, config_.route_metric));
    }
    for (const auto& st : routes_.apply(batch)) {
        if (!st.ok()) {
            ++counters_.data_path_errors;
            PMIP_ERROR(kRoute, context(e), "forwarding state not removed: " + st.error().what);
        }
    }
    // Before the tunnel may go: what follows the binding (the multicast
    // proxy whose upstream is this tunnel) lets go of it first.
    if (observer_) observer_->deregistered(e);
    if (Status st = tunnels_.release(key); !st.ok()) {
        ++counters_.data_path_errors;
        PMIP_ERROR(kTunnel, context(e), "tunnel not released: " + st.error().what);
    }
    // The LMA table's default route goes with the tunnel's device.
    if (info && !tunnels_.find(key) && !source_routes)
        (void)routes_.remove(Route{any, info->ifindex, e.lma_table, config_.route_metric, std::nullopt});
    e.tunnel.reset();
}

void MagEngine::cancel_timers(BindingUpdateListEntry& e) {
    sial_stop_query(e);
    if (e.retransmit_timer) timers_.cancel_timer(e.retransmit_timer);
    if (e.renewal_timer) timers_.cancel_timer(e.renewal_timer);
    if (e.prepare_timer) timers_.cancel_timer(e.prepare_timer);
    e.retransmit_timer = 0;
    e.renewal_timer = 0;
    e.prepare_timer = 0;
}

void MagEngine::erase(EntryId id) {
    const auto it = entries_.find(id);
    if (it == entries_.end()) return;
    cancel_timers(it->second);
    peer_stop_queries(it->second);
    remove_forwarding(it->second);
    release_prepared_tunnel(it->second);
    if (const auto bs = by_sequence_.find(it->second.sequence); bs != by_sequence_.end() && bs->second == id)
        by_sequence_.erase(bs);
    const auto bi = by_interface_.find(it->second.access_ifindex);
    if (bi != by_interface_.end() && bi->second == id) by_interface_.erase(bi);
    const auto bm = by_mac_.find(it->second.mn_link_layer_address);
    if (bm != by_mac_.end() && bm->second == id) by_mac_.erase(bm);
    entries_.erase(it);
}

namespace {

// RFC 5846 section 8.1 (Revocation Trigger values) and section 6.1.
constexpr std::uint8_t kTriggerUnspecified = 0;
constexpr std::uint8_t kTriggerLastPerMn = 7;  // Possible Out-of-Sync BCE State
constexpr std::uint8_t kTriggerInterMagSameAtt = 2;
constexpr std::uint8_t kTriggerInterMagUnknown = 4;
constexpr std::uint8_t kTriggerPerPeerPolicy = 128;
constexpr std::uint8_t kTriggerLocalPolicy = 129;
constexpr std::uint8_t kTriggerTestingFirst = 250;

constexpr std::uint8_t kBraSuccess = 0;
constexpr std::uint8_t kBraBindingDoesNotExist = 128;
constexpr std::uint8_t kBraIdentityRequired = 131;
constexpr std::uint8_t kBraMnAttached = 132;
constexpr std::uint8_t kBraTriggerNotSupported = 133;
constexpr std::uint8_t kBraFunctionNotSupported = 134;

bool unicast(const Ipv6Address& a) {
    return a != Ipv6Address{} && !is_multicast(a);
}

}  // namespace

void MagEngine::handle_binding_revocation_indication(const Ipv6Address& source,
                                                     const mh::BindingRevocationIndication& bri) {
    ++counters_.bri_received;
    const std::string ctx = "[mag lma=" + pmip::to_string(source) + "]";
    if (!unicast(source)) {  // section 6.1.2: silently discarded, never acknowledged
        ++counters_.bri_discarded;
        return;
    }
    const bool global = (bri.flags & mh::revocation_flag::kG) != 0;
    const bool proxy = (bri.flags & mh::revocation_flag::kP) != 0;
    const std::uint8_t trigger = bri.revocation_trigger;
    std::vector<EntryId> targets;
    std::uint8_t status = kBraSuccess;

    // The MN-ID options of the BRI (section 8.1: subtype 1, the NAI).
    std::vector<std::string> ids;
    for (const auto& o : bri.options) {
        if (const auto* id = std::get_if<mh::MobileNodeIdentifier>(&o)) {
            ids.emplace_back(id->identifier.begin(), id->identifier.end());
        }
    }
    auto of_ids = [&] {
        for (auto& [eid, e] : entries_) {
            if (e.policy.lma != source || e.state == BulState::kDenied) continue;
            if (std::find(ids.begin(), ids.end(), e.policy.mn_identifier) != ids.end()) {
                targets.push_back(eid);
            }
        }
    };
    const bool per_mn_trigger = trigger <= kTriggerLastPerMn || trigger >= kTriggerTestingFirst;
    if (!proxy || (bri.flags & mh::revocation_flag::kV) != 0) {
        // We keep only IPv6 proxy bindings [RFC 5213]: nothing else exists here.
        status = kBraBindingDoesNotExist;
    } else if (global) {
        if (trigger == kTriggerPerPeerPolicy) {
            // Section 9.1: P set and no options; every binding with this LMA.
            if (!bri.options.empty()) {
                status = kBraFunctionNotSupported;
            } else {
                for (auto& [eid, e] : entries_) {
                    if (e.policy.lma == source && e.state != BulState::kDenied) targets.push_back(eid);
                }
            }
        } else if (trigger == kTriggerLocalPolicy) {
            if (ids.empty()) {
                status = kBraIdentityRequired;
            } else {
                of_ids();
                if (targets.empty()) status = kBraIdentityRequired;
            }
        } else {
            status = kBraFunctionNotSupported;  // a per-MN trigger with G
        }
    } else if (!per_mn_trigger) {
        status = trigger == kTriggerPerPeerPolicy || trigger == kTriggerLocalPolicy
                     ? kBraFunctionNotSupported  // a global trigger without G
                     : kBraTriggerNotSupported;
    } else if (ids.empty()) {
        status = kBraIdentityRequired;  // section 8.1: MN-ID MUST be present with P
    } else {
        of_ids();
        if (targets.empty()) {
            status = kBraBindingDoesNotExist;
        } else if (trigger >= kTriggerInterMagSameAtt && trigger <= kTriggerInterMagUnknown) {
            // Inter-MAG handover: only once the MN has left this MAG.
            for (EntryId id : targets) {
                const auto& e = entries_.at(id);
                if (is_attached_ && is_attached_(e.access_ifindex)) status = kBraMnAttached;
            }
            if (status != kBraSuccess) targets.clear();
        }
    }
    (void)kTriggerUnspecified;

    for (EntryId id : targets) {
        auto& e = entries_.at(id);
        ++counters_.bindings_revoked;
        PMIP_INFO(kBul, context(e), "binding revoked by the LMA (trigger " + std::to_string(trigger) +
                                        "); no service on this link until the MN detaches");
        cancel_timers(e);
        remove_forwarding(e);
        release_prepared_tunnel(e);
        e.home_network_prefixes.clear();
        e.last_status = 0;
        if (is_attached_ && is_attached_(e.access_ifindex)) {
            e.state = BulState::kDenied;
        } else {
            erase(id);
        }
    }
    mh::BindingRevocationAcknowledgement bra;
    bra.status = status;
    bra.sequence = bri.sequence;
    bra.flags = bri.flags & (mh::revocation_flag::kP | mh::revocation_flag::kV |
                             mh::revocation_flag::kG);
    ++counters_.bra_sent[status];
    if (status != kBraSuccess) {
        PMIP_INFO(kBul, ctx, "revocation (trigger " + std::to_string(trigger) + ") refused with status " +
                                 std::to_string(status));
    }
    sender_.send(config_.proxy_coa, source, bra);
}

// RFC 7077 section 6 (PROTOCOL.md 3.5): an Update Notification from the
// LMA of our bindings. FORCE-REREGISTRATION (1) sends the PBU of each
// registered binding it names (MN-ID option, or MN Group ID 1: every
// binding with that LMA) at once; lmad uses it when an MN's multicast
// profile changes, and the PBA names the channels (issue 18). Reasons we
// cannot act on are answered, when A = 1, with 128 (2: we apply no session
// parameters), 129 (3 without a vendor option) or 131 (3 with one, 4: we
// send no Access Network Identifier, anything else); with A = 0 they are
// logged and dropped, as sections 6.1 says.
void MagEngine::handle_update_notification(const Ipv6Address& source, const mh::UpdateNotification& upn) {
    constexpr std::uint8_t kSuccess = 0, kFailedToUpdate = 128, kMissingVendorOption = 129,
                           kUnspecified = 131, kNotAttached = 132;
    ++counters_.upn_received;
    const std::string ctx = "[mag upn lma=" + pmip::to_string(source) + "]";
    const bool ack = (upn.flags & mh::update_notification_flag::kA) != 0;
    const auto answer = [&](std::uint8_t status) {
        last_upn_[source] = {upn.sequence, status};
        if (!ack) return;
        mh::UpdateNotificationAcknowledgement upa;
        upa.sequence = upn.sequence;
        upa.status = status;
        for (const auto& o : upn.options) {
            if (std::holds_alternative<mh::MobileNodeIdentifier>(o) ||
                std::holds_alternative<mh::MobileNodeGroupIdentifier>(o))
                upa.options.push_back(o);
        }
        ++counters_.upa_sent;
        sender_.send(config_.proxy_coa, source, upa);
    };
    // Section 6.1: a retransmission (same sequence number) is not a new
    // request; with D set we redo it (the LMA saw no result), and we always
    // answer when A is set.
    if (const auto last = last_upn_.find(source); last != last_upn_.end() && last->second.first == upn.sequence &&
                                                  (upn.flags & mh::update_notification_flag::kD) == 0) {
        ++counters_.upn_duplicates;
        return answer(last->second.second);
    }
    std::vector<EntryId> targets;
    bool named = false;
    for (const auto& o : upn.options) {
        if (const auto* id = std::get_if<mh::MobileNodeIdentifier>(&o)) {
            named = true;
            const std::string octets(id->identifier.begin(), id->identifier.end());
            for (auto& [eid, e] : entries_) {
                if (e.policy.lma == source && e.policy.mn_identifier_subtype == id->subtype &&
                    e.policy.mn_identifier == octets)
                    targets.push_back(eid);
            }
        } else if (const auto* g = std::get_if<mh::MobileNodeGroupIdentifier>(&o)) {
            named = true;
            if (g->group_identifier != 1) continue;  // we negotiate no other group (RFC 6602)
            for (auto& [eid, e] : entries_) {
                if (e.policy.lma == source) targets.push_back(eid);
            }
        }
    }
    const bool vendor = mh::find_option<mh::VendorSpecific>(upn.options) != nullptr;
    std::uint8_t status = kSuccess;
    switch (upn.notification_reason) {
        case 1: break;
        case 2: status = kFailedToUpdate; break;
        case 3: status = vendor ? kUnspecified : kMissingVendorOption; break;
        default: status = kUnspecified; break;
    }
    if (status != kSuccess) {
        ++counters_.upn_unsupported;
        PMIP_WARNING(kBul, ctx, "Update Notification reason " + std::to_string(upn.notification_reason) +
                                    " not supported (status " + std::to_string(status) + ")" +
                                    (ack ? "" : ": dropped"));
        return answer(status);
    }
    std::size_t sent = 0;
    for (EntryId id : targets) {
        BindingUpdateListEntry& e = entries_.at(id);
        if (e.state != BulState::kRegistered) {
            // A PBU of this binding is out already: its PBA tells the same.
            if (e.state == BulState::kRegistering) ++sent;
            continue;
        }
        PMIP_INFO(kBul, context(e), "LMA asks for a re-registration (Update Notification)");
        timers_.cancel_timer(e.renewal_timer);
        e.renewal_timer = 0;
        renew(id);
        ++sent;
    }
    if (sent == 0) {
        ++counters_.upn_unknown_mn;
        PMIP_DEBUG(kBul, ctx, named ? "Update Notification for no binding of ours" :
                                      "Update Notification without an MN-ID or group option");
        return answer(kNotAttached);
    }
    counters_.upn_reregistrations += sent;
    answer(kSuccess);
}

void MagEngine::reregister_all(const Ipv6Address& lma) {
    for (auto& [id, e] : entries_) {
        if (e.policy.lma != lma || e.state != BulState::kRegistered) continue;
        PMIP_INFO(kBul, context(e), "LMA restarted: registering again");
        cancel_timers(e);
        e.state = BulState::kRegistering;
        e.transmissions = 0;
        e.reasserted_after_157 = false;
        e.retransmit_timeout = config_.initial_bindack_timeout;
        send_pbu(e, false);
        arm_retransmission(e);
    }
}

void MagEngine::clear() {
    std::vector<EntryId> ids;
    for (const auto& [id, e] : entries_) ids.push_back(id);
    for (EntryId id : ids) erase(id);
}

}  // namespace pmip::mag
