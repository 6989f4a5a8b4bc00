// RFC 7077 Update Notification, LMA side (PROTOCOL.md 3.5): when the
// multicast profile of an MN changes in lmad's policy store, its serving MAG
// is told to register again (Notification Reason 1, FORCE-REREGISTRATION),
// and the PBA to that PBU names the channels of the profile as it is now
// (pbu_m_answer). Only MAGs that take our channels (their last PBU had the
// PBU-M flag) are told: a MAG without PBU-M would learn nothing from it.
#include "pmip/lma/lma_engine.hpp"

#include "pmip/common/log.hpp"
#include "lma_engine_parts.hpp"

namespace pmip::lma {


namespace {

constexpr std::uint16_t kForceReregistration = 1;  // RFC 7077 section 4.1

std::string upn_context(const BindingCacheEntry& e) {
    return log::mn_context("lma upn", e.mn_identifier.identifier, "mag", pmip::to_string(e.proxy_coa));
}

}  // namespace

const MobileNodePolicy* LmaEngine::policy_of(const MobileNodeIdentifier& mn) const {
    if (const MobileNodePolicy* p = policies_.find(mn)) return p;
    return config_.serve_unknown_mobile_nodes ? &config_.default_policy : nullptr;
}

std::size_t LmaEngine::profile_changed(const std::function<bool(const BindingCacheEntry&)>& affected) {
    std::vector<SessionId> notify;
    for (const auto& [id, e] : cache_.entries()) {
        if (e.state == BindingState::kActive && e.multicast_request && affected(e)) notify.push_back(id);
    }
    for (SessionId id : notify) {
        const BindingCacheEntry& e = *cache_.find(id);
        upn_forget(id);  // a newer change replaces a notification still out
        PendingUpn& p = upn_[id];
        // Section 5.1: the sequence number starts at random and grows by one
        // per new message (a retransmission keeps it); the A flag is
        // RECOMMENDED 0 for FORCE-REREGISTRATION: the PBU is the answer.
        p.message.sequence = next_upn_sequence_++;
        p.message.notification_reason = kForceReregistration;
        p.message.flags = 0;
        p.message.options.push_back(signalled_identifier_option(e));
        const auto local = local_address_.find(id);
        p.lma = local != local_address_.end() ? local->second : Ipv6Address{};
        p.mag = e.proxy_coa;
        ++counters_.upn_sent;
        PMIP_INFO(kBce, upn_context(e),
                  "multicast profile changed: Update Notification (FORCE-REREGISTRATION) to the MAG");
        upn_send(id);
    }
    return notify.size();
}

void LmaEngine::upn_send(SessionId id) {
    PendingUpn& p = upn_.at(id);
    ++p.transmissions;
    sender_.send(p.lma, p.mag, p.message);
    // Section 5.2 with the D flag's use in section 6.1: a request whose
    // action the LMA does not see (no PBU came) is sent again, D = 1, same
    // sequence number and contents.
    p.timer = timers_.start_timer(config_.update_notification.replay_delay, [this, id] {
        const auto it = upn_.find(id);
        if (it == upn_.end()) return;
        it->second.timer = 0;
        if (it->second.transmissions > config_.update_notification.max_retransmissions) {
            ++counters_.upn_unanswered;
            if (const BindingCacheEntry* e = cache_.find(id))
                PMIP_WARNING(kBce, upn_context(*e),
                             "no re-registration after the Update Notification; the profile's channels "
                             "reach the MAG at the session's next renewal");
            upn_.erase(it);
            return;
        }
        it->second.message.flags |= mh::update_notification_flag::kD;
        ++counters_.upn_retransmitted;
        upn_send(id);
    });
}

void LmaEngine::upn_reregistered(SessionId id) {
    if (!upn_.count(id)) return;
    ++counters_.upn_reregistered;
    upn_forget(id);
}

void LmaEngine::upn_forget(SessionId id) {
    const auto it = upn_.find(id);
    if (it == upn_.end()) return;
    if (it->second.timer) timers_.cancel_timer(it->second.timer);
    upn_.erase(it);
}

void LmaEngine::handle_update_notification_acknowledgement(const Ipv6Address& source,
                                                           const mh::UpdateNotificationAcknowledgement& upa) {
    ++counters_.upa_received;
    if (upa.status >= 128) {
        ++counters_.upa_failed;
        PMIP_DEBUG(kBce, "[lma mag=" + pmip::to_string(source) + "]",
                   "Update Notification Acknowledgement with status " + std::to_string(upa.status));
    }
}

}  // namespace pmip::lma
