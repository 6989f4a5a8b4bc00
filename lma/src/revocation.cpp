// LMA engine: Binding Revocation as initiator [RFC 5846 sections 6.1.1,
// 6.2.2, 6.3, 8.1, 11]. See lma_engine.hpp.
#include <algorithm>
#include <cctype>
#include <charconv>

#include "pmip/common/log.hpp"
#include "pmip/lma/lma_engine.hpp"

namespace pmip::lma {

namespace {

std::string revocation_context(const Ipv6Address& mag, std::uint16_t sequence) {
    return "[lma mag=" + pmip::to_string(mag) + " bri=" + std::to_string(sequence) + "]";
}

std::string milliseconds(Duration d) {
    return std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(d).count()) +
           " ms";
}

// The realm of an NAI: what follows its last '@' [RFC 4282 section 2.1].
std::optional<std::string_view> nai_realm(const std::string& nai) {
    const auto at = nai.rfind('@');
    if (at == std::string::npos) return std::nullopt;
    return std::string_view(nai).substr(at + 1);
}

bool per_mn_trigger(std::uint8_t t) { return t < 128 || t >= 250; }

}  // namespace

std::string_view revocation_trigger_name(std::uint8_t trigger) {
    using namespace revocation_trigger;
    switch (trigger) {
        case kUnspecified: return "unspecified";
        case kAdministrativeReason: return "administrative reason";
        case kInterMagHandoverSameAccessType: return "inter-MAG handover - same access type";
        case kInterMagHandoverDifferentAccessType:
            return "inter-MAG handover - different access type";
        case kInterMagHandoverUnknown: return "inter-MAG handover - unknown";
        case kUserInitiatedSessionTermination: return "user-initiated session(s) termination";
        case kAccessNetworkSessionTermination: return "access network session(s) termination";
        case kPossibleOutOfSyncBceState: return "possible out-of-sync BCE state";
        case kPerPeerPolicy: return "per-peer policy";
        case kRevokingMobilityNodeLocalPolicy: return "revoking mobility node local policy";
        default: return trigger >= 250 ? "testing" : "";
    }
}

std::string_view revocation_status_name(std::uint8_t status) {
    using namespace revocation_status;
    switch (status) {
        case kSuccess: return "success";
        case kPartialSuccess: return "partial success";
        case kBindingDoesNotExist: return "binding does not exist";
        case kIpv4HomeAddressOptionRequired: return "IPv4 home address option required";
        case kGlobalRevocationNotAuthorized: return "global revocation not authorized";
        case kRevokedMobileNodesIdentityRequired: return "revoked mobile nodes identity required";
        case kRevocationFailedMnIsAttached: return "revocation failed - MN is attached";
        case kRevocationTriggerNotSupported: return "revocation trigger not supported";
        case kRevocationFunctionNotSupported: return "revocation function not supported";
        case kProxyBindingRevocationNotSupported: return "proxy binding revocation not supported";
        default: return "";
    }
}

std::optional<std::uint8_t> parse_revocation_trigger(std::string_view text) {
    unsigned n = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
    if (!text.empty() && ec == std::errc() && end == text.data() + text.size()) {
        if (n > 255) return std::nullopt;
        return static_cast<std::uint8_t>(n);
    }
    // Names compare without case, spaces, dashes and "(s)".
    auto squash = [](std::string_view s) {
        std::string out;
        for (std::size_t i = 0; i < s.size(); ++i) {
            if (s.substr(i, 3) == "(s)") {
                i += 2;
                continue;
            }
            const unsigned char c = static_cast<unsigned char>(s[i]);
            if (std::isalnum(c)) out += static_cast<char>(std::tolower(c));
        }
        return out;
    };
    const std::string wanted = squash(text);
    if (wanted.empty()) return std::nullopt;
    for (unsigned t = 0; t < 250; ++t) {
        const auto name = revocation_trigger_name(static_cast<std::uint8_t>(t));
        if (!name.empty() && squash(name) == wanted) return static_cast<std::uint8_t>(t);
    }
    if (wanted == "administrative") return revocation_trigger::kAdministrativeReason;
    return std::nullopt;
}

// Section 5.1: "no collision between the sequence numbers of all outstanding
// Binding Revocation Indication messages".
std::uint16_t LmaEngine::free_bri_sequence() {
    while (revocations_.count(next_bri_sequence_)) ++next_bri_sequence_;
    return next_bri_sequence_++;
}

Expected<std::vector<const Revocation*>> LmaEngine::revoke_mobile_node(
    const MobileNodeIdentifier& mn, std::uint8_t trigger, std::optional<Ipv6Prefix> prefix) {
    // Section 6.1.1: G cleared -> a per-MN trigger.
    if (!per_mn_trigger(trigger)) {
        return Error{EINVAL, "revocation trigger " + std::to_string(trigger) +
                                 " is a global trigger; revoking one mobile node needs a per-MN "
                                 "trigger (0-127, or 250-255 for testing) [RFC 5846 section 5.1]"};
    }
    const auto ids = cache_.sessions_of(mn);
    if (ids.empty()) return Error{ENOENT, "no binding for this mobile node"};
    std::map<Ipv6Address, std::vector<SessionId>> by_mag;
    std::size_t revoking = 0, deregistering = 0, other_prefix = 0;
    for (SessionId id : ids) {
        const BindingCacheEntry* e = cache_.find(id);
        if (prefix && std::find(e->home_network_prefixes.begin(), e->home_network_prefixes.end(),
                                canonical(*prefix)) == e->home_network_prefixes.end()) {
            ++other_prefix;
            continue;
        }
        if (e->state == BindingState::kRevoking) {
            ++revoking;
        } else if (e->state == BindingState::kDeregistering) {
            ++deregistering;
        } else {
            by_mag[e->proxy_coa].push_back(id);
        }
    }
    if (by_mag.empty()) {
        if (prefix && other_prefix == ids.size()) {
            return Error{ENOENT, "the mobile node has no binding for prefix " +
                                     pmip::to_string(canonical(*prefix))};
        }
        return Error{EALREADY, "nothing to revoke: " + std::to_string(revoking) +
                                   " binding(s) already being revoked, " +
                                   std::to_string(deregistering) + " de-registering"};
    }
    std::vector<const Revocation*> out;
    for (auto& [mag, sessions] : by_mag) {
        // Section 8.1: P set, the trigger, the MN-ID option with the NAI used
        // in the PBU, and an HNP option for each registered prefix revoked.
        mh::BindingRevocationIndication bri;
        bri.revocation_trigger = trigger;
        bri.flags = mh::revocation_flag::kP;
        const BindingCacheEntry* first = cache_.find(sessions.front());
        bri.options.push_back(signalled_identifier_option(*first));
        for (SessionId id : sessions) {
            for (const auto& p : cache_.find(id)->home_network_prefixes) {
                bri.options.push_back(mh::HomeNetworkPrefix{p.length, p.address});
            }
        }
        out.push_back(start_revocation(mag, std::move(sessions), std::move(bri)));
    }
    return out;
}

Expected<const Revocation*> LmaEngine::revoke_mag(const Ipv6Address& mag,
                                                  std::optional<std::string> realm) {
    if (realm && (realm->empty() || realm->find('@') != std::string::npos)) {
        return Error{EINVAL, "realm \"" + *realm + "\" must be a non-empty NAI realm without '@'"};
    }
    std::vector<SessionId> sessions;
    std::size_t not_active = 0;
    for (const auto& [id, e] : cache_.entries()) {
        if (e.proxy_coa != mag) continue;
        if (realm) {
            // Section 8.1: an MN-ID of subtype 1 whose realm is exactly this one.
            if (e.mn_identifier.subtype != mh::mn_id_subtype::kNai) continue;
            const auto r = nai_realm(e.mn_identifier.identifier);
            if (!r || *r != *realm) continue;
        }
        if (e.state != BindingState::kActive) {
            ++not_active;
            continue;
        }
        sessions.push_back(id);
    }
    if (sessions.empty()) {
        return Error{ENOENT, "no active binding at MAG " + pmip::to_string(mag) +
                                 (realm ? " in realm " + *realm : std::string()) +
                                 (not_active ? " (" + std::to_string(not_active) +
                                                   " already being revoked or de-registered)"
                                             : std::string())};
    }
    mh::BindingRevocationIndication bri;
    bri.flags = mh::revocation_flag::kP | mh::revocation_flag::kG;
    if (realm) {
        // Section 8.1: G, "Revoking Mobility Node Local Policy", MN-ID "@realm".
        bri.revocation_trigger = revocation_trigger::kRevokingMobilityNodeLocalPolicy;
        const std::string nai = "@" + *realm;
        bri.options.push_back(mh::MobileNodeIdentifier{
            mh::mn_id_subtype::kNai, std::vector<std::uint8_t>(nai.begin(), nai.end())});
    } else {
        // Section 8.1: G, "Per-Peer Policy", and no mobility options.
        bri.revocation_trigger = revocation_trigger::kPerPeerPolicy;
    }
    return start_revocation(mag, std::move(sessions), std::move(bri));
}

const Revocation* LmaEngine::start_revocation(const Ipv6Address& mag,
                                              std::vector<SessionId> sessions,
                                              mh::BindingRevocationIndication bri) {
    const std::uint16_t sequence = free_bri_sequence();
    Revocation& r = revocations_[sequence];
    r.sequence = sequence;
    r.mag = mag;
    const auto local = local_address_.find(sessions.front());
    r.lma = local != local_address_.end() ? local->second : Ipv6Address{};
    bri.sequence = sequence;
    r.bri = std::move(bri);
    r.sessions = std::move(sessions);
    // Section 11: InitMINDelayBRIs is never below 0.5 s.
    r.timeout = std::max(config_.revocation.initial_timeout, kMinInitialBriTimeout);
    r.started = timers_.clock().now();
    for (SessionId id : r.sessions) {
        // Section 8.1: the "revocation in progress" flag; the entry stays.
        cache_.find(id)->state = BindingState::kRevoking;
        revoking_[id] = sequence;
    }
    ++counters_.revocations_started;
    PMIP_INFO(kBce, revocation_context(mag, sequence),
              "revoking " + std::to_string(r.sessions.size()) + " binding(s)" +
                  (r.global() ? " (global)" : "") + ", trigger " +
                  std::to_string(r.bri.revocation_trigger) + " (" +
                  std::string(revocation_trigger_name(r.bri.revocation_trigger)) + ")");
    send_bri(r);
    return &r;
}

void LmaEngine::send_bri(Revocation& r) {
    ++r.transmissions;
    ++counters_.bri_sent;
    sender_.send(r.lma, r.mag, r.bri);
    const std::uint16_t sequence = r.sequence;
    r.timer = timers_.start_timer(r.timeout, [this, sequence] { bri_timeout(sequence); });
}

// Section 6.3: retransmit up to BRIMaxRetriesNumber times, the timeout
// doubling up to MAX_BRACK_TIMEOUT; then clean up anyway.
void LmaEngine::bri_timeout(std::uint16_t sequence) {
    const auto it = revocations_.find(sequence);
    if (it == revocations_.end()) return;
    Revocation& r = it->second;
    r.timer = 0;
    if (r.transmissions <= config_.revocation.max_retries) {
        ++counters_.bri_retransmitted;
        r.timeout = std::min(r.timeout * 2, std::max(config_.revocation.max_timeout, r.timeout));
        PMIP_DEBUG(kBce, revocation_context(r.mag, sequence),
                   "no BRA; retransmission " + std::to_string(r.transmissions) + " of " +
                       std::to_string(config_.revocation.max_retries) + ", next wait " +
                       milliseconds(r.timeout));
        return send_bri(r);
    }
    ++counters_.revocations_timed_out;
    PMIP_WARNING(kBce, revocation_context(r.mag, sequence),
                 "no BRA after " + std::to_string(r.transmissions) +
                     " BRI transmission(s); deleting the revoked bindings anyway");
    finish_revocation(sequence, "no BRA");
}

void LmaEngine::finish_revocation(std::uint16_t sequence, const char* why) {
    auto node = revocations_.extract(sequence);
    if (node.empty()) return;
    Revocation& r = node.mapped();
    if (r.timer) timers_.cancel_timer(r.timer);
    std::size_t deleted = 0;
    for (SessionId id : r.sessions) {
        // Entries may have gone meanwhile (lifetime, de-registration) or be
        // part of a later revocation: only ours are deleted here.
        const auto rv = revoking_.find(id);
        if (rv == revoking_.end() || rv->second != sequence) continue;
        delete_session(id);
        ++deleted;
    }
    counters_.sessions_revoked += deleted;
    PMIP_INFO(kBce, revocation_context(r.mag, sequence),
              std::string(why) + ": " + std::to_string(deleted) + " revoked binding(s) deleted");
}

void LmaEngine::handle_binding_revocation_acknowledgement(
    const Ipv6Address& source, const Ipv6Address& /*destination*/,
    const mh::BindingRevocationAcknowledgement& bra) {
    ++counters_.bra_received;
    const auto it = revocations_.find(bra.sequence);
    // Section 6.2.2: a BRA matching no outstanding BRI is silently discarded.
    if (it == revocations_.end()) {
        ++counters_.bra_unknown_sequence;
        PMIP_DEBUG(kBce, revocation_context(source, bra.sequence),
                   "BRA for no outstanding BRI dropped");
        return;
    }
    // The BRI went to the MAG; an answer from anywhere else is not its answer
    // (section 6.1.2: the BRA goes back to the BRI's source from its destination).
    if (it->second.mag != source) {
        ++counters_.bra_wrong_source;
        PMIP_DEBUG(kBce, revocation_context(source, bra.sequence),
                   "BRA from a node the BRI was not sent to dropped (BRI went to " +
                       pmip::to_string(it->second.mag) + ")");
        return;
    }
    ++counters_.bra_by_status[bra.status];
    ++counters_.revocations_completed;
    const std::string status = std::to_string(bra.status) + " (" +
                               std::string(revocation_status_name(bra.status)) + ")";
    if (bra.status > revocation_status::kPartialSuccess) {
        // Section 6.2.2: anything but success is for local policy; ours is
        // that an LMA revocation stands (the operator asked for it).
        PMIP_WARNING(kBce, revocation_context(source, bra.sequence),
                     "MAG answered the BRI with status " + status +
                         "; deleting the revoked bindings all the same");
    }
    finish_revocation(bra.sequence, ("BRA status " + status).c_str());
}

}  // namespace pmip::lma
