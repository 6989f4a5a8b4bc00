// JSON forms of lmad state for the control socket. See show_json.hpp.
#include "show_json.hpp"

#include "pmip/mh/types.hpp"
#include "policy_file.hpp"

namespace pmip::lma {

using pmip::to_string;

using json = nlohmann::json;

std::string hex_string(const std::string& octets) {
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out = "0x";
    for (unsigned char c : octets) {
        out += kHex[c >> 4];
        out += kHex[c & 15];
    }
    return out;
}

json binding_json(const BindingCacheEntry& entry, const SessionTunnel* tunnel, TimePoint now) {
    json prefixes = json::array();
    for (const auto& p : entry.home_network_prefixes) prefixes.push_back(to_string(p));
    const auto lifetime = std::chrono::seconds(4) * entry.lifetime;
    const auto elapsed = std::chrono::duration_cast<std::chrono::seconds>(now - entry.accepted_at);
    const long long remaining =
        entry.state == BindingState::kDeregistering
            ? 0
            : std::max<long long>(0, static_cast<long long>((lifetime - elapsed).count()));
    json j{{"id", entry.id},
           {"mn", mn_identifier_text(entry.mn_identifier)},
           {"mn_subtype", entry.mn_identifier.subtype},
           {"prefixes", prefixes},
           {"mag", to_string(entry.proxy_coa)},
           {"lma", tunnel ? json(to_string(tunnel->local)) : json(nullptr)},
           {"tunnel", tunnel ? json(tunnel->device) : json(nullptr)},
           {"lifetime", lifetime.count()},
           {"remaining", remaining},
           {"state", std::string(to_string(entry.state))},
           {"access_technology_type", entry.access_technology_type},
           {"handoff_indicator", entry.handoff_indicator},
           {"timestamp", entry.timestamp},
           {"sequence", entry.sequence},
           {"mag_link_local", to_string(entry.mag_link_local)},
           {"multicast_signalling", entry.multicast_signalling},
           {"multicast_request", entry.multicast_request}};
    j["mn_link_layer_identifier"] = entry.mn_link_layer_identifier.empty()
                                        ? json(nullptr)
                                        : json(hex_string(entry.mn_link_layer_identifier));
    if (entry.gre) {
        j["gre"] =
            json{{"uplink_key", keyed(entry) ? json(*entry.uplink_key) : json(nullptr)},
                 {"downlink_key", entry.downlink_key ? json(*entry.downlink_key) : json(nullptr)}};
    }
    return j;
}

json peer_json(const PeerView& peer) {
    json j{{"mag", to_string(peer.mag)},
           {"lma", peer.lma ? json(to_string(*peer.lma)) : json(nullptr)},
           {"bindings", peer.bindings},
           {"profile", std::string(to_string(peer.profile))}};
    if (const HeartbeatPeer* h = peer.heartbeat) {
        j["state"] = std::string(to_string(h->state));
        j["missing"] = h->missing;
        j["awaiting_response"] = h->awaiting_response;
        j["restart_counter"] = h->restart_counter ? json(*h->restart_counter) : json(nullptr);
        j["requests_sent"] = h->requests_sent;
        j["responses_received"] = h->responses_received;
        j["restarts_detected"] = h->restarts_detected;
    } else {
        j["state"] = "heartbeat-off";
    }
    return j;
}

json engine_counters_json(const LmaCounters& c) {
    json rejected = json::object();
    std::uint64_t total_rejected = 0;
    for (const auto& [status, n] : c.pbu_rejected) {
        const std::string name(mh::status_name(status));
        rejected[std::to_string(status) + (name.empty() ? "" : " " + name)] = n;
        total_rejected += n;
    }
    json bra = json::object();
    for (const auto& [status, n] : c.bra_by_status) {
        const std::string name(revocation_status_name(status));
        bra[std::to_string(status) + (name.empty() ? "" : " " + name)] = n;
    }
    return json{{"pbu_received", c.pbu_received},         {"pbu_accepted", c.pbu_accepted},
                {"pbu_rejected", total_rejected},         {"pbu_rejected_by_status", rejected},
                {"pbu_ignored", c.pbu_ignored},           {"pbu_waiting", c.pbu_waiting},
                {"pbu_waiting_withdrawn", c.pbu_waiting_withdrawn},
                {"pbu_retransmissions_answered", c.pbu_retransmissions_answered},
                {"pbu_dmm_refused", c.pbu_dmm_refused},
                {"sessions_created", c.sessions_created}, {"sessions_deleted", c.sessions_deleted},
                {"sessions_reencapsulated", c.sessions_reencapsulated},
                {"sessions_expired", c.sessions_expired}, {"data_path_errors", c.data_path_errors},
                {"batches", c.batches}, {"batched_route_requests", c.batched_route_requests},
                {"batched_pbas", c.batched_pbas}, {"batch_sessions_failed", c.batch_sessions_failed},
                {"batch_pbas_rewritten", c.batch_pbas_rewritten},
                {"revocations_started", c.revocations_started},
                {"revocations_completed", c.revocations_completed},
                {"revocations_timed_out", c.revocations_timed_out},
                {"bri_sent", c.bri_sent},
                {"bri_retransmitted", c.bri_retransmitted},
                {"bra_received", c.bra_received},
                {"bra_by_status", bra},
                {"bra_unknown_sequence", c.bra_unknown_sequence},
                {"bra_wrong_source", c.bra_wrong_source},
                {"sessions_revoked", c.sessions_revoked},
                {"pbu_during_revocation", c.pbu_during_revocation},
                {"sial",
                 {{"contexts_stored", c.sial_contexts_stored},
                  {"contexts_in_pba", c.sial_contexts_in_pba},
                  {"queries_sent", c.sial_queries_sent},
                  {"query_retransmissions", c.sial_query_retransmissions},
                  {"queries_timed_out", c.sial_queries_timed_out},
                  {"responses_received", c.sial_responses_received},
                  {"responses_unmatched", c.sial_responses_unmatched},
                  {"contexts_from_deregistration", c.sial_contexts_from_deregistration},
                  {"pbas_held", c.sial_pbas_held},
                  {"pba_timer_expired", c.sial_pba_timer_expired},
                  {"held_pbas_dropped", c.sial_held_pbas_dropped},
                  {"queries_received", c.sial_queries_received},
                  {"queries_unknown", c.sial_queries_unknown},
                  {"responses_sent", c.sial_responses_sent},
                  {"responses_with_context", c.sial_responses_with_context},
                  {"queries_skipped", c.sial_queries_skipped},
                  {"subscriptions_dropped", c.sial_subscriptions_dropped}}},
                {"pbu_m",
                 {{"received", c.pbu_m_received},
                  {"records_granted", c.pbu_m_records_granted},
                  {"records_refused", c.pbu_m_records_refused},
                  {"records_denied", c.pbu_m_records_denied},
                  {"profile_records", c.pbu_m_profile_records},
                  {"renewals", c.pbu_m_renewals},
                  {"ignored", c.pbu_m_ignored}}},
                {"update_notification",
                 {{"sent", c.upn_sent},
                  {"retransmitted", c.upn_retransmitted},
                  {"reregistered", c.upn_reregistered},
                  {"unanswered", c.upn_unanswered},
                  {"upa_received", c.upa_received},
                  {"upa_failed", c.upa_failed}}}};
}

json cmd_session_json(const CmdSession& s, TimePoint now) {
    const auto prefixes = [](const std::vector<Ipv6Prefix>& l) {
        json out = json::array();
        for (const auto& p : l) out.push_back(to_string(p));
        return out;
    };
    json previous = json::array();
    for (const auto& a : s.previous)
        previous.push_back({{"maar", to_string(a.maar)}, {"prefixes", prefixes(a.prefixes)}, {"confirmed", a.confirmed}});
    const auto lifetime = std::chrono::seconds(4) * s.lifetime;
    const auto elapsed = std::chrono::duration_cast<std::chrono::seconds>(now - s.accepted_at);
    return {{"mn", mn_identifier_text(s.mn)},
            {"serving_maar", to_string(s.serving)},
            {"serving_prefixes", prefixes(s.serving_prefixes)},
            {"previous_maars", previous},
            {"lifetime", lifetime.count()},
            {"remaining", std::max<long long>(0, static_cast<long long>((lifetime - elapsed).count()))},
            {"sequence", s.sequence}};
}

json cmd_counters_json(const CmdCounters& c) {
    json rejected = json::object();
    for (const auto& [status, n] : c.pbu_rejected) rejected[std::to_string(status)] = n;
    return {{"pbu_received", c.pbu_received},
            {"pbu_accepted", c.pbu_accepted},
            {"pbu_rejected_by_status", rejected},
            {"sessions_created", c.sessions_created},
            {"sessions_deleted", c.sessions_deleted},
            {"sessions_expired", c.sessions_expired},
            {"handovers", c.handovers},
            {"returns_to_anchor", c.returns_to_anchor},
            {"pmaar_pbu_sent", c.pmaar_pbu_sent},
            {"pmaar_pbu_retransmitted", c.pmaar_pbu_retransmitted},
            {"pmaar_pba_received", c.pmaar_pba_received},
            {"pmaar_pba_unmatched", c.pmaar_pba_unmatched},
            {"pmaar_failed", c.pmaar_failed},
            {"pmaar_deregistered", c.pmaar_deregistered},
            {"pba_aggregated", c.pba_aggregated},
            {"pba_late", c.pba_late}};
}

}  // namespace pmip::lma
