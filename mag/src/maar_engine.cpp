// RFC 8885 MAAR. See maar_engine.hpp.
#include "pmip/mag/maar_engine.hpp"

#include <algorithm>

#include "pmip/common/log.hpp"
#include "pmip/mh/codec.hpp"

namespace pmip::mag {

std::string_view to_string(MaarState state) {
    switch (state) {
        case MaarState::kRegistering: return "registering";
        case MaarState::kRegistered: return "registered";
        case MaarState::kDetached: return "detached";
        case MaarState::kDeregistering: return "deregistering";
    }
    return "?";
}

MaarEngine::MaarEngine(MaarConfig config, const PolicyStore& policies, TunnelManager& tunnels,
                       RouteManager& routes, Timers& timers, MhSender& sender)
    : config_(std::move(config)), policies_(policies), tunnels_(tunnels), routes_(routes), timers_(timers),
      sender_(sender) {
    // magd's configuration checks the pool's lengths; a pool it would refuse
    // leaves the MAAR with no prefix to give (pool_exhausted).
    if (auto pool = PrefixPool::create(config_.pool, static_cast<std::uint8_t>(config_.pool_length))) {
        pool_.emplace(std::move(*pool));
    }
}

MaarEngine::~MaarEngine() {
    for (auto& [i, s] : served_) {
        for (TimerId t : {s.retransmit_timer, s.renewal_timer, s.detach_timer, s.remote_timer})
            if (t) timers_.cancel_timer(t);
    }
    for (auto& [p, a] : anchors_)
        if (a.hold_timer) timers_.cancel_timer(a.hold_timer);
}

std::string MaarEngine::context(const std::string& mn) const {
    return log::mn_context("maar", mn);
}

TunnelKey MaarEngine::tunnel_to(const Ipv6Address& maar) const {
    TunnelKey key;
    key.peer = maar;
    key.local = config_.address;
    key.kind = TunnelKind::kIp6Ip6;
    return key;
}

std::uint32_t MaarEngine::table_for(const Ipv6Address& maar) {
    if (const auto it = tables_.find(maar); it != tables_.end()) return it->second;
    const auto table = config_.table_base + static_cast<std::uint32_t>(tables_.size());
    tables_[maar] = table;
    return table;
}

// Section 3.1 step 1: a prefix of our own pool; an MN we still anchor a
// prefix for (it comes back) gets that one again.
std::optional<Ipv6Prefix> MaarEngine::allocate(const MobileNodePolicy& policy) {
    for (auto& [prefix, a] : anchors_) {
        if (a.mn_identifier == policy.mn_identifier && a.subtype == policy.mn_identifier_subtype) {
            ++counters_.returns;
            return prefix;
        }
    }
    if (!pool_) return std::nullopt;
    // A prefix we still anchor for another MN is not in the pool's free
    // list, so the pool needs no in-use test.
    return pool_->allocate(nullptr);
}

void MaarEngine::release(const Ipv6Prefix& prefix) {
    ++counters_.anchors_released;
    if (pool_) pool_->release(prefix);
}

bool MaarEngine::attach(int ifindex, const std::string& interface, const std::string& mac) {
    if (served_.count(ifindex)) return true;
    const MobileNodePolicy* policy = policies_.find(mac);
    if (policy == nullptr) return false;
    // RFC 5213 section 6.9.1.1, as on a MAG (MagEngine::attach): the MN's
    // link-layer identifier names its interface, so the same one on another
    // access link of this MAAR is that interface moved here, not a second
    // attachment. Its session moves; a second served entry for the same
    // prefix would de-register it, and give the prefix back to the pool,
    // when the old link's hold ended.
    if (const auto it = served_by_mac(mac); it != served_.end() &&
                                             it->second.policy.mn_identifier == policy->mn_identifier &&
                                             it->second.policy.mn_identifier_subtype == policy->mn_identifier_subtype) {
        if (it->second.state != MaarState::kDeregistering) return move_served(it, ifindex, interface);
        end_served(it->first, false);  // its session is ending: a new one starts here
    }
    const auto prefix = allocate(*policy);
    if (!prefix) {
        ++counters_.pool_exhausted;
        PMIP_ERROR(kBul, context(policy->mn_identifier), "no prefix left in the pool: MN not served");
        return false;
    }
    ++counters_.attaches;
    MaarAnchor& a = anchors_[*prefix];
    const bool back = a.serving_elsewhere.has_value();
    a.prefix = *prefix;
    a.subtype = policy->mn_identifier_subtype;
    a.mn_identifier = policy->mn_identifier;
    if (a.hold_timer) timers_.cancel_timer(a.hold_timer);
    a.hold_timer = 0;
    // The MN is back: its prefix comes out of the tunnel to the S-MAAR it
    // left. The route onto the MN's link (route_local, below) replaces the
    // tunnel's; our reference to the tunnel goes after the PBU is out (the
    // tunnel manager deletes the device [tunnel] delete-delay-ms later).
    const std::optional<TunnelKey> old_tunnel = back ? a.tunnel : std::nullopt;
    a.tunnel.reset();
    a.serving_elsewhere.reset();
    MaarServed& s = served_[ifindex];
    by_mac_[mac] = ifindex;
    s.ifindex = ifindex;
    s.interface = interface;
    s.mac = mac;
    s.policy = *policy;
    s.local = *prefix;
    s.state = MaarState::kRegistering;
    s.transmissions = 0;
    s.retransmit_timeout = config_.initial_bindack_timeout;
    route_local(s, true);
    PMIP_INFO(kBul, context(policy->mn_identifier),
              "attached on " + interface + ": prefix " + pmip::to_string(*prefix) + " anchored here" +
                  (back ? " (again)" : ""));
    send_pbu(s, false);
    arm_retransmission(s);
    if (old_tunnel) release_tunnel(*old_tunnel, *prefix);
    return true;
}

// The MN's interface moved from the served entry's link to `ifindex`: the
// local prefix and the P-MAARs' prefixes go onto the new link first (the
// kernel replaces each route: same destination, table and metric), then the
// entry moves. Its tunnels, uplink objects and anchor stay as they are. A
// PBU refreshes the CMD's binding, whose PBA re-arms the renewal on the new
// link (the CMD's binding names this MAAR, not the link). False, with the
// MN still served on the old link, when the kernel refuses a route.
std::map<int, MaarServed>::iterator MaarEngine::served_by_mac(const std::string& mac) {
    const auto i = by_mac_.find(mac);
    return i == by_mac_.end() ? served_.end() : served_.find(i->second);
}

const MaarServed* MaarEngine::find_by_mac(const std::string& mac) const {
    const auto i = by_mac_.find(mac);
    if (i == by_mac_.end()) return nullptr;
    const auto it = served_.find(i->second);
    return it == served_.end() ? nullptr : &it->second;
}

bool MaarEngine::move_served(std::map<int, MaarServed>::iterator it, int ifindex, const std::string& interface) {
    const MaarServed& old = it->second;
    auto batch = local_requests(RouteOp::kAdd, old.local, ifindex);
    const std::size_t local = batch.size();  // the local prefix's requests come first
    for (const auto& r : old.remote)
        batch.push_back({RouteOp::kAdd, Route{r.prefix, ifindex, kMainTable, config_.route_metric, std::nullopt}});
    // On a refusal, back as it was: what replaced an old-link route goes
    // back onto the old link; what the old entry did not have comes out.
    const auto undo = [&old, local](std::size_t i, const RouteRequest& r) -> std::optional<RouteRequest> {
        if (i < local && !old.routed) return RouteRequest{RouteOp::kDelete, r.object};
        const auto* route = std::get_if<Route>(&r.object);
        if (route == nullptr || route->table != kMainTable) return std::nullopt;
        Route back = *route;
        back.ifindex = old.ifindex;
        return RouteRequest{RouteOp::kAdd, back};
    };
    for (const auto& st : apply_or_undo(routes_, batch, 0, undo)) {
        if (st.ok()) continue;
        ++counters_.data_path_errors;
        PMIP_ERROR(kRoute, context(old.policy.mn_identifier),
                   "moving to " + interface + ": route not added: " + st.error().what + "; still served on " +
                       old.interface);
        return false;
    }
    ++counters_.intra_maar_moves;
    PMIP_INFO(kBul, context(old.policy.mn_identifier),
              "moved from " + old.interface + " to " + interface + " of this MAAR: prefix " +
                  pmip::to_string(old.local) + " and " + std::to_string(old.remote.size()) +
                  " previous MAARs' prefix(es) kept, no de-registration");
    MaarServed moved = take_served(it);  // its timers, sequence number and old link's RAs go
    moved.ifindex = ifindex;
    moved.interface = interface;
    moved.routed = true;
    if (moved.state == MaarState::kDetached) moved.state = MaarState::kRegistered;  // the MN is here
    by_mac_[moved.mac] = ifindex;
    MaarServed& s = served_[ifindex] = std::move(moved);
    s.transmissions = 0;
    s.retransmit_timeout = config_.initial_bindack_timeout;
    send_pbu(s, false);
    arm_retransmission(s);
    arm_remote_timer(s);
    if (observer_ && s.state == MaarState::kRegistered) observer_->prefixes_changed(s);
    return true;
}

// The next P-MAAR prefix's hold end (expire_remotes), if the MN has any.
void MaarEngine::arm_remote_timer(MaarServed& s) {
    if (s.remote_timer) timers_.cancel_timer(s.remote_timer);
    s.remote_timer = 0;
    if (s.remote.empty()) return;
    const TimePoint now = timers_.clock().now();
    const auto next = std::min_element(s.remote.begin(), s.remote.end(),
                                       [](const auto& a, const auto& b) { return a.until < b.until; })->until;
    const int ifindex = s.ifindex;
    s.remote_timer = timers_.start_timer(std::max(next - now, Duration::zero()),
                                         [this, ifindex] { expire_remotes(ifindex); });
}

// The local prefix is plain routing both ways (RFC 8885 section 3.1, "MAAR1
// acts as a plain router"): on-link on the MN's access link, and what the MN
// sends from it gets past the access links' rule (rule-priority + 1), whose
// table ends everything else from an access link unreachable. As the
// uplink objects (MagConfig::UplinkRouting): with source routes, "throw
// default from PREFIX" in that access table, so the rules go on to main (a
// route: one per served MN costs no rule walk); with rules (also where the
// kernel has no source-specific routes), "from PREFIX lookup main" at
// rule-priority, ahead of the access rule.
std::vector<RouteRequest> MaarEngine::local_requests(RouteOp op, const Ipv6Prefix& local, int ifindex) const {
    std::vector<RouteRequest> requests{{op, Route{local, ifindex, kMainTable, config_.route_metric, std::nullopt}}};
    if (config_.access_table == 0) return requests;
    // The shape of a tunnel's uplink (uplink_request), out to main instead.
    const bool source_routes = config_.uplink_routing == MagConfig::UplinkRouting::kSourceRoutes;
    requests.push_back(uplink_request(op, source_routes, local, 0, source_routes ? config_.access_table : kMainTable,
                                      config_.rule_priority, config_.route_metric, RouteType::kThrow));
    return requests;
}

void MaarEngine::route_local(MaarServed& s, bool add) {
    if (s.routed == add) return;
    const auto batch = local_requests(add ? RouteOp::kAdd : RouteOp::kDelete, s.local, s.ifindex);
    bool ok = true;
    for (const auto& st : apply_or_undo(routes_, batch)) {  // nothing half made
        if (st.ok()) continue;
        ok = false;
        ++counters_.data_path_errors;
        PMIP_ERROR(kRoute, context(s.policy.mn_identifier), "local prefix's forwarding: " + st.error().what);
    }
    if (!ok && add) return;
    s.routed = add;
}

void MaarEngine::send_pbu(MaarServed& s, bool retransmission) {
    const bool deregistration = s.state == MaarState::kDeregistering;
    mh::BindingUpdate pbu;
    // Every transmission a new sequence number (RFC 6275 section 11.8).
    by_sequence_.erase(s.sequence);
    s.sequence = next_sequence_++;
    by_sequence_[s.sequence] = s.ifindex;
    pbu.sequence = s.sequence;
    pbu.flags = mh::bu_flag::kA | mh::bu_flag::kP | mh::bu_flag::kD;
    pbu.lifetime = deregistration ? 0 : config_.lifetime;
    pbu.options.push_back(mh::MobileNodeIdentifier{
        s.policy.mn_identifier_subtype,
        std::vector<std::uint8_t>(s.policy.mn_identifier.begin(), s.policy.mn_identifier.end())});
    pbu.options.push_back(mh::HomeNetworkPrefix{s.local.length, s.local.address});
    pbu.options.push_back(mh::HandoffIndicator{mh::handoff_indicator::kUnknown});
    pbu.options.push_back(mh::AccessTechnologyType{config_.access_technology_type});
    if (!s.mac.empty())
        pbu.options.push_back(mh::MobileNodeLinkLayerIdentifier{std::vector<std::uint8_t>(s.mac.begin(), s.mac.end())});
    ++s.transmissions;
    if (retransmission) ++counters_.pbu_retransmitted;
    else ++counters_.pbu_sent;
    sender_.send(config_.address, config_.cmd, pbu);
}

// RFC 5213 6.9.4 / RFC 6275 11.8: doubling up to MAX_BINDACK_TIMEOUT, for
// as long as it takes (a de-registration: up to 3 times).
void MaarEngine::arm_retransmission(MaarServed& s) {
    if (s.retransmit_timer) timers_.cancel_timer(s.retransmit_timer);
    const int ifindex = s.ifindex;
    s.retransmit_timer = timers_.start_timer(s.retransmit_timeout, [this, ifindex] {
        const auto it = served_.find(ifindex);
        if (it == served_.end()) return;
        MaarServed& entry = it->second;
        entry.retransmit_timer = 0;
        if (entry.state == MaarState::kDeregistering && entry.transmissions > 3) return end_served(ifindex, false);
        entry.retransmit_timeout = std::min(entry.retransmit_timeout * 2, config_.max_bindack_timeout);
        send_pbu(entry, true);
        arm_retransmission(entry);
    });
}

void MaarEngine::handle_proxy_binding_acknowledgement(const Ipv6Address& source,
                                                      const mh::BindingAcknowledgement& pba) {
    const auto seq = by_sequence_.find(pba.sequence);
    const auto it = seq == by_sequence_.end() ? served_.end() : served_.find(seq->second);
    if (source != config_.cmd || it == served_.end()) {
        ++counters_.pba_unmatched;
        return;
    }
    MaarServed& s = it->second;
    if ((pba.flags & mh::ba_flag::kD) == 0) {
        // Section 4.2: D says the sender is a MAAR or CMD. An answer without
        // it comes from an LMA that does not do RFC 8885 (which must refuse
        // our PBU; a refusal without D may also be an error raised before
        // the CMD saw it): the MN is not served, as on a refusal, and
        // retrying would not change that.
        ++counters_.pba_not_dmm;
        if (pba.status >= 128) ++counters_.pba_rejected;
        PMIP_ERROR(kBul, context(s.policy.mn_identifier),
                   "the PBA from " + pmip::to_string(source) + " has no D flag (status " +
                       std::to_string(pba.status) + " " + std::string(mh::status_name(pba.status)) +
                       "): " +
                       (pba.status < 128 ? "not an RFC 8885 CMD (a plain LMA?); check [maar] cmd"
                                         : "refused, perhaps by an LMA that does not do RFC 8885") +
                       ". MN not served");
        return end_served(s.ifindex, false);
    }
    if (s.state == MaarState::kDeregistering) return end_served(s.ifindex, false);
    if (pba.status >= 128) {
        ++counters_.pba_rejected;
        PMIP_WARNING(kBul, context(s.policy.mn_identifier),
                     "the CMD refused the registration: " + std::string(mh::status_name(pba.status)) + " (" +
                         std::to_string(pba.status) + ")");
        return end_served(s.ifindex, false);
    }
    registered(s, pba);
}

// The CMD's PBA (section 3.2 step 4, or 3.4): our prefix is registered; the
// Previous MAAR options name the prefixes to reach through P-MAARs. A
// relaying CMD may send further PBAs for the same PBU (late P-MAARs):
// each adds what it names.
void MaarEngine::registered(MaarServed& s, const mh::BindingAcknowledgement& pba) {
    ++counters_.pba_accepted;
    if (s.retransmit_timer) timers_.cancel_timer(s.retransmit_timer);
    s.retransmit_timer = 0;
    s.transmissions = 0;
    s.retransmit_timeout = config_.initial_bindack_timeout;
    const bool first = s.state == MaarState::kRegistering;
    s.state = s.state == MaarState::kDetached ? MaarState::kDetached : MaarState::kRegistered;
    s.lifetime_granted = pba.lifetime;
    for (const auto& p : mh::options_of_type<mh::PreviousMaar>(pba.options)) {
        const Ipv6Prefix prefix = canonical(Ipv6Prefix{p.home_network_prefix, p.prefix_length});
        if (p.previous_maar == config_.address || prefix == s.local) continue;
        add_remote(s, p.previous_maar, prefix);
    }
    if (s.renewal_timer) timers_.cancel_timer(s.renewal_timer);
    const int ifindex = s.ifindex;
    const auto renew_in = std::chrono::duration_cast<Duration>(std::chrono::seconds(4) * pba.lifetime *
                                                               config_.renewal_fraction);
    s.renewal_timer = timers_.start_timer(renew_in, [this, ifindex] {
        const auto it = served_.find(ifindex);
        if (it == served_.end() || it->second.state != MaarState::kRegistered) return;
        it->second.renewal_timer = 0;
        send_pbu(it->second, false);
        arm_retransmission(it->second);
    });
    if (first)
        PMIP_INFO(kBul, context(s.policy.mn_identifier),
                  "registered with the CMD: " + std::to_string(s.remote.size()) + " prefix(es) from previous MAARs");
    if (observer_) observer_->prefixes_changed(s);
}

// The P-MAAR's prefix: tunnelled both ways (the MAG's forwarding of RFC 5213
// 6.10, towards a MAAR).
void MaarEngine::add_remote(MaarServed& s, const Ipv6Address& maar, const Ipv6Prefix& prefix) {
    const TimePoint until = timers_.clock().now() + config_.previous_prefix_hold;
    for (auto& r : s.remote) {
        if (r.prefix == prefix && r.maar == maar) return;
    }
    const TunnelKey key = tunnel_to(maar);
    auto tunnel = tunnels_.acquire(key);
    if (!tunnel) {
        ++counters_.data_path_errors;
        PMIP_ERROR(kTunnel, context(s.policy.mn_identifier), "tunnel to " + pmip::to_string(maar) + ": " +
                                                                 tunnel.error().what);
        return;
    }
    const bool source_routes = config_.uplink_routing == MagConfig::UplinkRouting::kSourceRoutes;
    const std::uint32_t table = source_routes ? config_.table_base : table_for(maar);
    const Ipv6Prefix any{Ipv6Address{}, 0};
    // First what prefixes share (kept when a later request fails): the
    // P-MAAR table's default route, or the one uplink rule.
    std::vector<RouteRequest> batch;
    if (!source_routes)
        batch.push_back({RouteOp::kAdd, Route{any, tunnel->ifindex, table, config_.route_metric, std::nullopt}});
    else if (!uplink_rule_installed_)
        batch.push_back({RouteOp::kAdd, Rule{any, table, config_.rule_priority, ""}});
    const std::size_t shared = batch.size();
    batch.push_back({RouteOp::kAdd, Route{prefix, s.ifindex, kMainTable, config_.route_metric, std::nullopt}});
    batch.push_back(uplink_request(RouteOp::kAdd, source_routes, prefix, tunnel->ifindex, table,
                                   config_.rule_priority, config_.route_metric));
    const auto results = apply_or_undo(routes_, batch, shared);
    if (source_routes && shared == 1 && results[0].ok()) uplink_rule_installed_ = true;
    for (const auto& st : results) {
        if (st.ok()) continue;
        ++counters_.data_path_errors;
        PMIP_ERROR(kRoute, context(s.policy.mn_identifier), "previous MAAR's prefix: " + st.error().what);
        (void)tunnels_.release(key);
        return;
    }
    s.remote.push_back({maar, prefix, key, table, until, tunnel_packets(key)});
    ++counters_.remotes_added;
    PMIP_INFO(kBul, context(s.policy.mn_identifier),
              "prefix " + pmip::to_string(prefix) + " anchored at " + pmip::to_string(maar) + ": through " +
                  tunnel->name);
    if (!s.remote_timer) {
        const int ifindex = s.ifindex;
        s.remote_timer = timers_.start_timer(config_.previous_prefix_hold, [this, ifindex] { expire_remotes(ifindex); });
    }
}

void MaarEngine::remove_remote(int ifindex, const MaarRemote& r) {
    const auto info = tunnels_.find(r.tunnel);
    std::vector<RouteRequest> batch;
    const bool source_routes = config_.uplink_routing == MagConfig::UplinkRouting::kSourceRoutes;
    batch.push_back({RouteOp::kDelete, Route{r.prefix, ifindex, kMainTable, config_.route_metric, std::nullopt}});
    batch.push_back(uplink_request(RouteOp::kDelete, source_routes, r.prefix, info ? info->ifindex : 0, r.table,
                                   config_.rule_priority, config_.route_metric));
    for (const auto& st : routes_.apply(batch)) {
        if (!st.ok()) ++counters_.data_path_errors;
    }
    (void)tunnels_.release(r.tunnel);
    if (info && !tunnels_.find(r.tunnel) && !source_routes)
        (void)routes_.remove(Route{Ipv6Prefix{Ipv6Address{}, 0}, info->ifindex, r.table, config_.route_metric,
                                   std::nullopt});
}

// The P-MAARs' holds end (the same domain-wide hold as theirs).
void MaarEngine::expire_remotes(int ifindex) {
    const auto it = served_.find(ifindex);
    if (it == served_.end()) return;
    MaarServed& s = it->second;
    s.remote_timer = 0;
    const TimePoint now = timers_.clock().now();
    bool extended = false;  // a longer valid lifetime to advertise
    std::vector<MaarRemote> keep;
    for (auto& r : s.remote) {
        if (r.until <= now && still_used(r.tunnel, r.packets)) {
            r.until = now + config_.previous_prefix_idle;
            PMIP_INFO(kBul, context(s.policy.mn_identifier),
                      "prefix " + pmip::to_string(r.prefix) + " of " + pmip::to_string(r.maar) +
                          " still in use: kept " + std::to_string(std::chrono::duration_cast<std::chrono::seconds>(
                                                                      config_.previous_prefix_idle)
                                                                      .count()) +
                          " s more");
            keep.push_back(r);
            extended = true;
        } else if (r.until <= now) {
            ++counters_.remotes_expired;
            PMIP_INFO(kBul, context(s.policy.mn_identifier),
                      "prefix " + pmip::to_string(r.prefix) + " of " + pmip::to_string(r.maar) + " expired");
            remove_remote(s.ifindex, r);
        } else {
            keep.push_back(r);
        }
    }
    const bool changed = extended || keep.size() != s.remote.size();
    s.remote = std::move(keep);
    arm_remote_timer(s);
    if (changed && observer_) observer_->prefixes_changed(s);
}

void MaarEngine::detach(int ifindex) {
    const auto it = served_.find(ifindex);
    if (it == served_.end()) return;
    MaarServed& s = it->second;
    if (s.state == MaarState::kDetached || s.state == MaarState::kDeregistering) return;
    // Section 3.5: no de-registration on an L2 detach; the CMD will say if
    // the MN turns up elsewhere, else the session ends after the hold.
    s.state = MaarState::kDetached;
    if (s.renewal_timer) timers_.cancel_timer(s.renewal_timer);
    s.renewal_timer = 0;
    PMIP_INFO(kBul, context(s.policy.mn_identifier), "detached from " + s.interface + ": state kept for the hold");
    s.detach_timer = timers_.start_timer(config_.previous_prefix_hold, [this, ifindex] {
        const auto found = served_.find(ifindex);
        if (found == served_.end()) return;
        found->second.detach_timer = 0;
        end_served(ifindex, true);
    });
}

// The MN's session here ends: with `deregister`, the CMD is told (PBU with
// lifetime 0) first and everything goes at its PBA (or after 3 tries).
void MaarEngine::end_served(int ifindex, bool deregister) {
    const auto it = served_.find(ifindex);
    if (it == served_.end()) return;
    MaarServed& s = it->second;
    if (deregister && s.state != MaarState::kDeregistering) {
        ++counters_.deregistrations;
        s.state = MaarState::kDeregistering;
        s.transmissions = 0;
        s.retransmit_timeout = config_.initial_bindack_timeout;
        send_pbu(s, false);
        arm_retransmission(s);
        return;
    }
    MaarServed gone = take_served(it);
    for (const auto& r : gone.remote) remove_remote(gone.ifindex, r);
    route_local(gone, false);
    if (const auto a = anchors_.find(gone.local); a != anchors_.end() && !a->second.serving_elsewhere) {
        anchors_.erase(a);
        release(gone.local);
    }
}

// A served entry leaves the table: its timers and sequence number go, the
// daemon stops advertising on its link. Its data path is the caller's.
MaarServed MaarEngine::take_served(std::map<int, MaarServed>::iterator it) {
    MaarServed gone = std::move(it->second);
    served_.erase(it);
    if (const auto i = by_mac_.find(gone.mac); i != by_mac_.end() && i->second == gone.ifindex) {
        // Another entry with this MAC (served under another MN identifier,
        // a policy reload ago) is found by it again.
        const auto other = std::find_if(served_.begin(), served_.end(),
                                        [&gone](const auto& kv) { return kv.second.mac == gone.mac; });
        if (other == served_.end()) {
            by_mac_.erase(i);
        } else {
            i->second = other->first;
        }
    }
    for (TimerId* t : {&gone.retransmit_timer, &gone.renewal_timer, &gone.detach_timer, &gone.remote_timer}) {
        if (*t) timers_.cancel_timer(*t);
        *t = 0;
    }
    by_sequence_.erase(gone.sequence);
    if (observer_) observer_->left(gone);
    return gone;
}

// From the CMD (section 3.2 step 3, 3.5): the MN is served at the MAAR of
// the Serving MAAR option now, or (lifetime 0) its session is over.
void MaarEngine::handle_proxy_binding_update(const Ipv6Address& source, const Ipv6Address& destination,
                                             const mh::BindingUpdate& pbu) {
    ++counters_.cmd_pbu_received;
    mh::BindingAcknowledgement pba;
    pba.flags = mh::ba_flag::kP | mh::ba_flag::kD;
    pba.sequence = pbu.sequence;
    pba.lifetime = pbu.lifetime;
    for (const auto& o : pbu.options) {
        if (std::holds_alternative<mh::MobileNodeIdentifier>(o) || std::holds_alternative<mh::HomeNetworkPrefix>(o))
            pba.options.push_back(o);
    }
    if (source != config_.cmd || (pbu.flags & mh::bu_flag::kD) == 0) {
        ++counters_.cmd_pbu_unknown;
        pba.status = mh::status::kReasonUnspecified;
        sender_.send(destination, source, pba);
        return;
    }
    const auto* serving = mh::find_option<mh::ServingMaar>(pbu.options);
    bool known = false;
    for (const auto& o : pbu.options) {
        const auto* h = std::get_if<mh::HomeNetworkPrefix>(&o);
        if (h == nullptr) continue;
        const Ipv6Prefix prefix = canonical(Ipv6Prefix{h->prefix, h->prefix_length});
        const auto a = anchors_.find(prefix);
        if (a == anchors_.end()) continue;
        known = true;
        if (pbu.lifetime == 0) {
            end_anchor(prefix, false);
        } else if (serving != nullptr && serving->serving_maar != config_.address) {
            become_previous(a->second, serving->serving_maar);
        }
    }
    if (!known) ++counters_.cmd_pbu_unknown;
    pba.status = known || pbu.lifetime == 0 ? mh::status::kAccepted : mh::status::kReasonUnspecified;
    sender_.send(destination, source, pba);
}

// Section 3.2 step 3: the MN left; its prefix here goes to the S-MAAR
// through a tunnel, for the hold.
void MaarEngine::become_previous(MaarAnchor& a, const Ipv6Address& serving) {
    if (a.serving_elsewhere == serving) return;
    ++counters_.became_previous;
    // Make before break: the prefix's route into the tunnel to the serving
    // MAAR replaces the one it had (onto the MN's link, or into a tunnel to
    // the MAAR it left). The old tunnel is released below, before our PBA
    // goes; the tunnel manager deletes the device [tunnel] delete-delay-ms
    // later (1 s on a MAAR), so the PBA a relaying CMD waits for does not
    // wait for the kernel (deleting a device costs it tens of ms).
    const std::optional<TunnelKey> old_tunnel = a.tunnel;
    a.tunnel.reset();
    const TunnelKey key = tunnel_to(serving);
    auto tunnel = tunnels_.acquire(key);
    if (!tunnel) {
        ++counters_.data_path_errors;
        PMIP_ERROR(kTunnel, context(a.mn_identifier), "tunnel to the serving MAAR: " + tunnel.error().what);
    } else if (Status st = routes_.add(Route{a.prefix, tunnel->ifindex, kMainTable, config_.route_metric,
                                             std::nullopt});
               !st.ok()) {
        ++counters_.data_path_errors;
        PMIP_ERROR(kRoute, context(a.mn_identifier), "prefix into the tunnel: " + st.error().what);
        (void)tunnels_.release(key);
    } else {
        a.tunnel = key;
    }
    a.serving_elsewhere = serving;
    PMIP_INFO(kBul, context(a.mn_identifier),
              "served at " + pmip::to_string(serving) + " now: " + pmip::to_string(a.prefix) + " goes through " +
                  (tunnel ? tunnel->name : std::string("(no tunnel)")));
    // Whatever we served the MN with goes: the new S-MAAR has its remotes.
    for (auto it = served_.begin(); it != served_.end(); ++it) {
        if (it->second.local != a.prefix) continue;
        MaarServed gone = take_served(it);
        timers_.start_timer(Duration::zero(), [this, gone] {
            for (const auto& r : gone.remote) remove_remote(gone.ifindex, r);
            // The route replaced by the tunnel's: ENOENT is success. Not if
            // the MN came back meanwhile: its new entry has them again.
            const bool back = std::any_of(served_.begin(), served_.end(),
                                          [&](const auto& kv) { return kv.second.local == gone.local; });
            if (gone.routed && !back) (void)routes_.apply(local_requests(RouteOp::kDelete, gone.local, gone.ifindex));
        });
        break;
    }
    if (old_tunnel) release_tunnel(*old_tunnel, a.prefix);
    if (a.hold_timer) timers_.cancel_timer(a.hold_timer);
    if (a.tunnel) a.packets = tunnel_packets(*a.tunnel);
    arm_hold(a.prefix, config_.previous_prefix_hold);
}

// The P-MAAR's hold: at its end the prefix goes, unless its tunnel still
// carries traffic (then previous_prefix_idle more, and the same question).
void MaarEngine::arm_hold(const Ipv6Prefix& prefix, Duration after) {
    MaarAnchor& a = anchors_.at(prefix);
    a.hold_timer = timers_.start_timer(after, [this, prefix] {
        const auto it = anchors_.find(prefix);
        if (it == anchors_.end()) return;
        MaarAnchor& held = it->second;
        held.hold_timer = 0;
        if (held.tunnel && still_used(*held.tunnel, held.packets)) {
            PMIP_INFO(kBul, context(held.mn_identifier),
                      "prefix " + pmip::to_string(prefix) + " still in use: kept " +
                          std::to_string(
                              std::chrono::duration_cast<std::chrono::seconds>(config_.previous_prefix_idle).count()) +
                          " s more");
            return arm_hold(prefix, config_.previous_prefix_idle);
        }
        end_anchor(prefix, true);
    });
}

std::uint64_t MaarEngine::tunnel_packets(const TunnelKey& key) const {
    const TunnelCounters c = tunnels_.counters(key);
    return c.rx_packets + c.tx_packets;
}

bool MaarEngine::still_used(const TunnelKey& key, std::uint64_t& packets) {
    if (config_.previous_prefix_idle == Duration::zero()) return false;
    const std::uint64_t now = tunnel_packets(key);
    if (now == packets) return false;
    packets = now;
    ++counters_.holds_extended;
    return true;
}

// `prefix`'s route in `key`'s tunnel (if it is still that one: when a newer
// route replaced it, the delete finds nothing) and our reference to the
// tunnel. The tunnel manager keeps the device for [tunnel] delete-delay-ms
// (1 s on a MAAR): the PBA to come often names a prefix of that same MAAR,
// whose tunnel is then taken again instead of made while the kernel still
// unregisters the old device (30 ms measured for a TUN device).
void MaarEngine::release_tunnel(const TunnelKey& key, const Ipv6Prefix& prefix) {
    if (const auto info = tunnels_.find(key))
        (void)routes_.remove(Route{prefix, info->ifindex, kMainTable, config_.route_metric, std::nullopt});
    (void)tunnels_.release(key);
}

// A prefix we anchor for an MN served elsewhere ends (the hold, or the
// CMD's lifetime 0): its tunnel route goes and the prefix returns to the pool.
void MaarEngine::end_anchor(const Ipv6Prefix& prefix, bool tell_cmd) {
    const auto it = anchors_.find(prefix);
    if (it == anchors_.end()) return;
    MaarAnchor& a = it->second;
    if (!a.serving_elsewhere) {
        // The MN is served here: the session's end is the served entry's.
        for (auto& [ifindex, s] : served_) {
            if (s.local == prefix) {
                end_served(ifindex, false);
                return;
            }
        }
    }
    if (a.hold_timer) timers_.cancel_timer(a.hold_timer);
    if (tell_cmd) send_prefix_deregistration(a);
    if (a.tunnel) release_tunnel(*a.tunnel, a.prefix);
    PMIP_INFO(kBul, context(a.mn_identifier), "prefix " + pmip::to_string(prefix) + " let go");
    anchors_.erase(it);
    release(prefix);
}

// Section 3.5: the P-MAAR's binding for the prefix ends (one try; the CMD
// drops it from the MN's list; its own PBUs to us would find nothing).
void MaarEngine::send_prefix_deregistration(const MaarAnchor& a) {
    mh::BindingUpdate pbu;
    pbu.sequence = next_sequence_++;
    pbu.flags = mh::bu_flag::kA | mh::bu_flag::kP | mh::bu_flag::kD;
    pbu.lifetime = 0;
    pbu.options.push_back(
        mh::MobileNodeIdentifier{a.subtype, std::vector<std::uint8_t>(a.mn_identifier.begin(), a.mn_identifier.end())});
    pbu.options.push_back(mh::HomeNetworkPrefix{a.prefix.length, a.prefix.address});
    pbu.options.push_back(mh::HandoffIndicator{mh::handoff_indicator::kUnknown});
    pbu.options.push_back(mh::AccessTechnologyType{config_.access_technology_type});
    ++counters_.pbu_sent;
    sender_.send(config_.address, config_.cmd, pbu);
}

void MaarEngine::clear() {
    std::vector<int> ifindexes;
    for (const auto& [i, s] : served_) ifindexes.push_back(i);
    for (int i : ifindexes) end_served(i, false);
    std::vector<Ipv6Prefix> prefixes;
    for (const auto& [p, a] : anchors_) prefixes.push_back(p);
    for (const auto& p : prefixes) end_anchor(p, false);
}

}  // namespace pmip::mag
