// RFC 8885 Central Mobility Database. See cmd_engine.hpp.
#include "pmip/lma/cmd_engine.hpp"

#include <algorithm>

#include "pmip/common/log.hpp"
#include "pmip/mh/codec.hpp"

namespace pmip::lma {

namespace {

std::string cmd_context(const MobileNodeIdentifier& mn, const Ipv6Address& maar) {
    return log::mn_context("cmd", mn.identifier, "maar", pmip::to_string(maar));
}

std::vector<Ipv6Prefix> prefixes_of(const mh::Options& options) {
    std::vector<Ipv6Prefix> out;
    for (const auto& o : options) {
        if (const auto* h = std::get_if<mh::HomeNetworkPrefix>(&o); h && h->prefix != Ipv6Address{})
            out.push_back(canonical(Ipv6Prefix{h->prefix, h->prefix_length}));
    }
    return out;
}

mh::Options echo_of(const mh::Options& options) {
    mh::Options out;
    for (const auto& o : options) {
        if (std::holds_alternative<mh::MobileNodeIdentifier>(o) || std::holds_alternative<mh::HandoffIndicator>(o) ||
            std::holds_alternative<mh::AccessTechnologyType>(o) ||
            std::holds_alternative<mh::MobileNodeLinkLayerIdentifier>(o) || std::holds_alternative<mh::Timestamp>(o))
            out.push_back(o);
    }
    return out;
}

}  // namespace

std::string_view to_string(CmdMode mode) {
    return mode == CmdMode::kRelay ? "relay" : "proxy";
}

// One PBU of ours to a P-MAAR (Serving MAAR option, or lifetime 0), until
// its PBA; each retransmission gets a new sequence number (RFC 6275 section
// 11.8, PROTOCOL.md 1.7).
struct CmdEngine::Outgoing {
    MobileNodeIdentifier mn;
    Ipv6Address local{}, maar{};
    mh::BindingUpdate message;
    unsigned transmissions = 0;
    Duration timeout{};
    TimerId timer = 0;
};

// Relay (section 3.2): the S-MAAR's PBA, held until every P-MAAR answered
// or the aggregation timeout.
struct CmdEngine::Gathering {
    TimerId timer = 0;
};

CmdEngine::CmdEngine(CmdConfig config, const PolicyStore& policies, Timers& timers, MhSender& sender)
    : config_(std::move(config)), policies_(policies), timers_(timers), sender_(sender) {}

CmdEngine::~CmdEngine() {
    for (auto& [seq, o] : outgoing_)
        if (o->timer) timers_.cancel_timer(o->timer);
    for (auto& [mn, g] : gathering_)
        if (g->timer) timers_.cancel_timer(g->timer);
    for (auto& [mn, s] : sessions_)
        if (s.lifetime_timer) timers_.cancel_timer(s.lifetime_timer);
}

const CmdSession* CmdEngine::find(const MobileNodeIdentifier& mn) const {
    const auto it = sessions_.find(mn);
    return it == sessions_.end() ? nullptr : &it->second;
}

// Every PBA the CMD sends: D set (section 4.2), the PBU's identity options
// echoed, one HNP option per prefix the answer is about.
mh::BindingAcknowledgement CmdEngine::pba(std::uint8_t status, std::uint16_t sequence, std::uint16_t lifetime,
                                          mh::Options echo, const std::vector<Ipv6Prefix>& prefixes) {
    mh::BindingAcknowledgement out;
    out.status = status;
    out.flags = mh::ba_flag::kP | mh::ba_flag::kD;
    out.sequence = sequence;
    out.lifetime = lifetime;
    out.options = std::move(echo);
    for (const auto& p : prefixes) out.options.push_back(mh::HomeNetworkPrefix{p.length, p.address});
    return out;
}

void CmdEngine::reject(const Ipv6Address& source, const Ipv6Address& destination, const mh::BindingUpdate& pbu,
                       std::uint8_t status, std::uint16_t sequence) {
    ++counters_.pbu_rejected[status];
    sender_.send(destination, source, pba(status, sequence, 0, echo_of(pbu.options), prefixes_of(pbu.options)));
}

void CmdEngine::send_pba(const CmdSession& s, std::uint16_t lifetime, const std::vector<CmdAnchor>& anchors) {
    mh::BindingAcknowledgement out = pba(mh::status::kAccepted, s.sequence, lifetime, s.echo, s.serving_prefixes);
    // Section 4.5: one Previous MAAR option per prefix anchored elsewhere.
    for (const auto& a : anchors) {
        for (const auto& p : a.prefixes) out.options.push_back(mh::PreviousMaar{p.length, a.maar, p.address});
    }
    sender_.send(s.local, s.serving, out);
}

// Section 3.1-3.5, in the order of RFC 5213 section 5.3.1 where it applies.
void CmdEngine::handle_proxy_binding_update(const Ipv6Address& source, const Ipv6Address& destination,
                                           const mh::BindingUpdate& pbu) {
    ++counters_.pbu_received;
    if ((pbu.flags & mh::bu_flag::kD) == 0) {
        ++counters_.pbu_without_d;
        PMIP_DEBUG(kBce, "[cmd maar=" + pmip::to_string(source) + "]",
                   "PBU without the D flag (a MAG, not a MAAR): refused with 128");
        return reject(source, destination, pbu, mh::status::kReasonUnspecified, pbu.sequence);
    }
    const auto* id = mh::find_option<mh::MobileNodeIdentifier>(pbu.options);
    if (id == nullptr) return reject(source, destination, pbu, mh::status::kMissingMnIdentifierOption, pbu.sequence);
    const MobileNodeIdentifier mn{id->subtype, std::string(id->identifier.begin(), id->identifier.end())};
    if (std::none_of(config_.authorized_maars.begin(), config_.authorized_maars.end(),
                     [&](const Ipv6Prefix& p) { return contains(p, source); }))
        return reject(source, destination, pbu, mh::status::kMagNotAuthorizedForProxyReg, pbu.sequence);
    const MobileNodePolicy* policy = policies_.find(mn);
    if (policy == nullptr && !config_.serve_unknown_mobile_nodes)
        return reject(source, destination, pbu, mh::status::kNotLmaForThisMobileNode, pbu.sequence);
    if (policy != nullptr && !policy->proxy_registration_enabled)
        return reject(source, destination, pbu, mh::status::kProxyRegNotEnabled, pbu.sequence);
    if (const auto st = mh::check_proxy_binding_update(pbu))
        return reject(source, destination, pbu, *st, pbu.sequence);
    std::vector<Ipv6Prefix> prefixes = prefixes_of(pbu.options);
    const std::string ctx = cmd_context(mn, source);
    auto it = sessions_.find(mn);

    if (pbu.lifetime == 0) {
        ++counters_.pbu_accepted;
        if (it == sessions_.end())
            return sender_.send(destination, source,
                                pba(mh::status::kAccepted, pbu.sequence, 0, echo_of(pbu.options), prefixes));
        CmdSession& s = it->second;
        if (s.serving == source) {
            // Section 3.5: the S-MAAR ends the whole session.
            s.sequence = pbu.sequence;
            s.echo = echo_of(pbu.options);
            send_pba(s, 0, {});
            PMIP_INFO(kBce, ctx, "de-registered by its serving MAAR");
            return end_session(mn, false);
        }
        // A P-MAAR's anchored prefix ran out there: it leaves the list.
        const auto before = s.previous.size();
        std::erase_if(s.previous, [&](const CmdAnchor& a) { return a.maar == source; });
        if (s.previous.size() != before) {
            ++counters_.pmaar_deregistered;
            PMIP_INFO(kBce, ctx, "previous MAAR let its anchored prefix go");
        }
        sender_.send(destination, source, pba(mh::status::kAccepted, pbu.sequence, 0, echo_of(pbu.options), prefixes));
        return;
    }
    // A MAAR names the prefix it anchors for the MN (section 3.1 step 2).
    if (prefixes.empty())
        return reject(source, destination, pbu, mh::status::kMissingHomeNetworkPrefixOption, pbu.sequence);
    const std::uint16_t lifetime = std::min(pbu.lifetime, config_.max_lifetime);
    if (it == sessions_.end()) {
        CmdSession s;
        s.mn = mn;
        s.serving = source;
        s.local = destination;
        s.serving_prefixes = std::move(prefixes);
        s.lifetime = lifetime;
        s.sequence = pbu.sequence;
        s.echo = echo_of(pbu.options);
        s.accepted_at = timers_.clock().now();
        CmdSession& stored = sessions_.emplace(mn, std::move(s)).first->second;
        arm_lifetime(stored);
        ++counters_.sessions_created;
        ++counters_.pbu_accepted;
        PMIP_INFO(kBce, ctx, "new session, prefix " + pmip::to_string(stored.serving_prefixes.front()) +
                                 " anchored at its serving MAAR");
        return send_pba(stored, lifetime, {});
    }
    CmdSession& s = it->second;
    if (s.serving != source)
        return handover(s, source, pbu, std::move(prefixes));
    // A re-registration from the S-MAAR (RFC 6275 section 9.5.1 ordering).
    if (pbu.sequence != s.sequence && !mh::sequence_newer(pbu.sequence, s.sequence))
        return reject(source, destination, pbu, mh::status::kSequenceNumberOutOfWindow, s.sequence);
    s.sequence = pbu.sequence;
    s.echo = echo_of(pbu.options);
    s.serving_prefixes = std::move(prefixes);
    s.local = destination;
    s.lifetime = lifetime;
    s.accepted_at = timers_.clock().now();
    arm_lifetime(s);
    ++counters_.pbu_accepted;
    std::vector<CmdAnchor> known;
    for (const auto& a : s.previous)
        if (a.confirmed || config_.mode == CmdMode::kProxy) known.push_back(a);
    send_pba(s, lifetime, known);
}

void CmdEngine::handover(CmdSession& s, const Ipv6Address& source, const mh::BindingUpdate& pbu,
                         std::vector<Ipv6Prefix> prefixes) {
    ++counters_.handovers;
    ++counters_.pbu_accepted;
    const std::string ctx = cmd_context(s.mn, source);
    // The S-MAAR so far joins the P-MAAR list; the new one leaves it (the MN
    // is back where those prefixes are anchored: they are served again).
    const auto back = std::find_if(s.previous.begin(), s.previous.end(),
                                   [&](const CmdAnchor& a) { return a.maar == source; });
    if (back != s.previous.end()) {
        ++counters_.returns_to_anchor;
        s.previous.erase(back);
    }
    const Ipv6Address old = s.serving;
    // The old S-MAAR's prefixes move to the list (if another MAAR already
    // holds them, that entry stays: one anchor per prefix).
    s.previous.push_back({old, s.serving_prefixes, false});
    for (auto& a : s.previous) a.confirmed = false;  // their S-MAAR changes: each is told again
    std::erase_if(prefixes, [&](const Ipv6Prefix& p) {
        return std::any_of(s.previous.begin(), s.previous.end(), [&](const CmdAnchor& a) {
            return std::find(a.prefixes.begin(), a.prefixes.end(), p) != a.prefixes.end();
        });
    });
    s.serving = source;
    s.serving_prefixes = prefixes.empty() ? s.serving_prefixes : std::move(prefixes);
    s.sequence = pbu.sequence;
    s.echo = echo_of(pbu.options);
    s.lifetime = std::min(pbu.lifetime, config_.max_lifetime);
    s.accepted_at = timers_.clock().now();
    arm_lifetime(s);
    PMIP_INFO(kBce, ctx, "handover from " + pmip::to_string(old) + ": " + std::to_string(s.previous.size()) +
                             " previous MAAR(s), CMD as " + std::string(to_string(config_.mode)));
    if (const auto g = gathering_.find(s.mn); g != gathering_.end()) {
        timers_.cancel_timer(g->second->timer);
        gathering_.erase(g);
    }
    if (config_.mode == CmdMode::kProxy) {
        // Section 3.4: the S-MAAR first, then the P-MAARs.
        send_pba(s, s.lifetime, s.previous);
    } else {
        auto g = std::make_unique<Gathering>();
        const MobileNodeIdentifier mn = s.mn;
        g->timer = timers_.start_timer(config_.aggregation_timeout, [this, mn] {
            if (auto it = gathering_.find(mn); it != gathering_.end()) {
                it->second->timer = 0;
                finish_gathering(mn);
            }
        });
        gathering_[s.mn] = std::move(g);
    }
    notify_anchors(s, s.lifetime, s.previous);
}

// PBUs to `anchors` for the session: the Serving MAAR option and the
// prefixes each anchors (or lifetime 0: the session ended), paced.
void CmdEngine::notify_anchors(CmdSession& s, std::uint16_t lifetime, std::vector<CmdAnchor> anchors) {
    for (const auto& a : anchors) {
        // A newer PBU to the same P-MAAR about this MN replaces an older one.
        for (auto it = outgoing_.begin(); it != outgoing_.end();) {
            if (it->second->mn == s.mn && it->second->maar == a.maar) {
                if (it->second->timer) timers_.cancel_timer(it->second->timer);
                it = outgoing_.erase(it);
            } else {
                ++it;
            }
        }
        auto o = std::make_unique<Outgoing>();
        o->mn = s.mn;
        o->local = s.local;
        o->maar = a.maar;
        o->timeout = config_.initial_bindack_timeout;
        mh::BindingUpdate& m = o->message;
        m.flags = mh::bu_flag::kA | mh::bu_flag::kP | mh::bu_flag::kD;
        m.lifetime = lifetime;
        m.options.push_back(mh::MobileNodeIdentifier{
            s.mn.subtype, std::vector<std::uint8_t>(s.mn.identifier.begin(), s.mn.identifier.end())});
        for (const auto& p : a.prefixes) m.options.push_back(mh::HomeNetworkPrefix{p.length, p.address});
        m.options.push_back(mh::HandoffIndicator{mh::handoff_indicator::kUnknown});
        m.options.push_back(mh::AccessTechnologyType{0});
        if (lifetime != 0) m.options.push_back(mh::ServingMaar{s.serving});
        m.sequence = next_sequence();
        // Section 3.2: paced, not a burst of k PBUs: the first now, each
        // next one `pacing` later.
        const Duration wait = config_.pacing * static_cast<int>(&a - anchors.data());
        const std::uint16_t seq = m.sequence;
        outgoing_[seq] = std::move(o);
        if (wait == Duration::zero()) {
            send_outgoing(seq);
        } else {
            outgoing_[seq]->timer = timers_.start_timer(wait, [this, seq] {
                if (outgoing_.count(seq)) {
                    outgoing_[seq]->timer = 0;
                    send_outgoing(seq);
                }
            });
        }
    }
}

void CmdEngine::send_outgoing(std::uint16_t sequence) {
    Outgoing& o = *outgoing_.at(sequence);
    ++o.transmissions;
    ++counters_.pmaar_pbu_sent;
    sender_.send(o.local, o.maar, o.message);
    o.timer = timers_.start_timer(o.timeout, [this, sequence] { outgoing_timeout(sequence); });
}

// Section 3.6: exponential back-off; a P-MAAR that never answers leaves the list.
void CmdEngine::outgoing_timeout(std::uint16_t sequence) {
    auto it = outgoing_.find(sequence);
    if (it == outgoing_.end()) return;
    std::unique_ptr<Outgoing> o = std::move(it->second);
    outgoing_.erase(it);
    o->timer = 0;
    if (o->transmissions > config_.max_retransmissions) {
        const bool registration = o->message.lifetime != 0;
        PMIP_WARNING(kBce, cmd_context(o->mn, o->maar),
                     "previous MAAR never answered; " +
                         std::string(registration ? "it leaves the MN's list" : "given up"));
        if (registration) anchor_answered(o->mn, o->maar, false);
        return;
    }
    ++counters_.pmaar_pbu_retransmitted;
    o->timeout = std::min(o->timeout * 2, config_.max_bindack_timeout);
    o->message.sequence = next_sequence();
    const std::uint16_t seq = o->message.sequence;
    outgoing_[seq] = std::move(o);
    send_outgoing(seq);
}

void CmdEngine::handle_proxy_binding_acknowledgement(const Ipv6Address& source,
                                                     const mh::BindingAcknowledgement& pba) {
    const auto it = outgoing_.find(pba.sequence);
    if (it == outgoing_.end() || it->second->maar != source) {
        ++counters_.pmaar_pba_unmatched;
        return;
    }
    std::unique_ptr<Outgoing> o = std::move(it->second);
    outgoing_.erase(it);
    if (o->timer) timers_.cancel_timer(o->timer);
    ++counters_.pmaar_pba_received;
    if (o->message.lifetime == 0) return;
    anchor_answered(o->mn, o->maar, pba.status < 128);
}

void CmdEngine::anchor_answered(const MobileNodeIdentifier& mn, const Ipv6Address& maar, bool ok) {
    const auto it = sessions_.find(mn);
    if (it == sessions_.end()) return;
    CmdSession& s = it->second;
    const auto a = std::find_if(s.previous.begin(), s.previous.end(),
                                [&](const CmdAnchor& x) { return x.maar == maar; });
    if (a == s.previous.end()) return;
    CmdAnchor answered = *a;
    if (!ok) {
        ++counters_.pmaar_failed;
        s.previous.erase(a);
    } else {
        a->confirmed = true;
        answered.confirmed = true;
    }
    if (config_.mode != CmdMode::kRelay) return;
    if (gathering_.count(mn)) {
        const bool pending = std::any_of(outgoing_.begin(), outgoing_.end(), [&](const auto& kv) {
            return kv.second->mn == mn && kv.second->message.lifetime != 0;
        });
        if (!pending) finish_gathering(mn);
        return;
    }
    // Section 3.2: an answer after the aggregated PBA went gets a PBA of its own.
    if (ok) {
        ++counters_.pba_late;
        send_pba(s, s.lifetime, {answered});
    }
}

void CmdEngine::finish_gathering(const MobileNodeIdentifier& mn) {
    const auto g = gathering_.find(mn);
    if (g == gathering_.end()) return;
    if (g->second->timer) timers_.cancel_timer(g->second->timer);
    gathering_.erase(g);
    const auto it = sessions_.find(mn);
    if (it == sessions_.end()) return;
    std::vector<CmdAnchor> confirmed;
    for (const auto& a : it->second.previous)
        if (a.confirmed) confirmed.push_back(a);
    ++counters_.pba_aggregated;
    send_pba(it->second, it->second.lifetime, confirmed);
}

void CmdEngine::arm_lifetime(CmdSession& s) {
    if (s.lifetime_timer) timers_.cancel_timer(s.lifetime_timer);
    const MobileNodeIdentifier mn = s.mn;
    s.lifetime_timer = timers_.start_timer(std::chrono::seconds(4) * s.lifetime, [this, mn] {
        if (auto it = sessions_.find(mn); it != sessions_.end()) {
            it->second.lifetime_timer = 0;
            PMIP_INFO(kBce, cmd_context(mn, it->second.serving), "session lifetime ended");
            end_session(mn, true);
        }
    });
}

// Section 3.5: the P-MAARs let the MN's prefixes go.
void CmdEngine::end_session(const MobileNodeIdentifier& mn, bool expired) {
    const auto it = sessions_.find(mn);
    if (it == sessions_.end()) return;
    CmdSession& s = it->second;
    if (s.lifetime_timer) timers_.cancel_timer(s.lifetime_timer);
    if (const auto g = gathering_.find(mn); g != gathering_.end()) {
        if (g->second->timer) timers_.cancel_timer(g->second->timer);
        gathering_.erase(g);
    }
    notify_anchors(s, 0, s.previous);
    sessions_.erase(it);
    ++counters_.sessions_deleted;
    if (expired) ++counters_.sessions_expired;
}

void CmdEngine::clear() {
    std::vector<MobileNodeIdentifier> all;
    for (const auto& [mn, s] : sessions_) all.push_back(mn);
    for (const auto& mn : all) end_session(mn, false);
}

std::uint16_t CmdEngine::next_sequence() {
    while (outgoing_.count(next_sequence_)) ++next_sequence_;
    return next_sequence_++;
}

}  // namespace pmip::lma
