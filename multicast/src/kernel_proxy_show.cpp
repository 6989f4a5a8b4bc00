// KernelProxy::show(): the instance as JSON for the daemons' control sockets
// (DESIGN.md section 6: show multicast instances and groups, counters).
#include <algorithm>
#include <chrono>

#include "pmip/mcast/kernel_proxy.hpp"
#include "kernel_proxy_internal.hpp"

namespace pmip::mcast {

using pmip::to_string;

namespace {

std::int64_t ms(Duration d) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
}

nlohmann::json addresses(const SourceSet& set) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& a : set) out.push_back(to_string(a));
    return out;
}

nlohmann::json state_json(const MembershipState& s) {
    return {{"filter_mode", to_string(s.mode)}, {"sources", addresses(s.sources)}};
}

nlohmann::json prefixes_json(const std::vector<Ipv6Prefix>& list) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& p : list) out.push_back(to_string(p));
    return out;
}

nlohmann::json rules_json(const std::vector<SourceGroupRule>& list) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& r : list) out.push_back({{"source", to_string(r.source)}, {"group", to_string(r.group)}});
    return out;
}

nlohmann::json policy_json(const DownstreamPolicy& p) {
    return {{"allowed_groups", prefixes_json(p.policy.allowed_groups)},
            {"denied_groups", prefixes_json(p.policy.denied_groups)},
            {"allowed_sources", rules_json(p.policy.allowed_sources)},
            {"denied_sources", rules_json(p.policy.denied_sources)},
            {"max_groups", p.max_groups}};
}

nlohmann::json querier_counters(const QuerierCounters& c) {
    return {{"general_queries_sent", c.general_queries_sent},
            {"general_queries_sent_before_start", c.general_queries_sent_before_start},
            {"address_queries_sent", c.address_queries_sent},
            {"address_source_queries_sent", c.address_source_queries_sent},
            {"queries_received", c.queries_received},
            {"v2_reports_received", c.v2_reports_received},
            {"v1_reports_received", c.v1_reports_received},
            {"v1_dones_received", c.v1_dones_received},
            {"records_processed", c.records_processed},
            {"records_ignored", c.records_ignored},
            {"filter_timer_expiries", c.filter_timer_expiries},
            {"source_timer_expiries", c.source_timer_expiries},
            {"addresses_deleted", c.addresses_deleted},
            {"fast_leaves", c.fast_leaves},
            {"querier_changes", c.querier_changes}};
}

nlohmann::json address_json(const AddressView& v) {
    nlohmann::json sources = nlohmann::json::array();
    for (const auto& s : v.sources) {
        sources.push_back({{"address", to_string(s.address)},
                           {"timer_ms", ms(s.timer)},
                           {"retransmissions", s.retransmissions}});
    }
    nlohmann::json listeners = nlohmann::json::array();
    for (const auto& l : v.listeners) {
        listeners.push_back({{"address", to_string(l.address)},
                             {"filter_mode", to_string(l.state.mode)},
                             {"sources", addresses(l.state.sources)},
                             {"timer_ms", ms(l.timer)}});
    }
    return {{"group", to_string(v.multicast_address)},
            {"filter_mode", to_string(v.mode)},
            {"filter_timer_ms", ms(v.filter_timer)},
            {"sources", sources},
            {"mldv1_compatibility", v.mldv1_compatibility},
            {"older_version_host_present_ms", ms(v.older_version_host_present)},
            {"address_query_retransmissions", v.address_query_retransmissions},
            {"listeners", listeners},
            {"forwarding_state", state_json(v.state)}};
}

}  // namespace

nlohmann::json to_json(const KernelProxyCounters& c) {
    return {{"mld_received", c.mld_received},
            {"mld_accepted", c.mld_accepted},
            {"drop_not_downstream", c.drop_not_downstream},
            {"held_waiting_link_local", c.held_waiting_link_local},
            {"drop_waiting_link_local", c.drop_waiting_link_local},
            {"drop_own_message", c.drop_own_message},
            {"drop_source_not_link_local", c.drop_source_not_link_local},
            {"drop_hop_limit", c.drop_hop_limit},
            {"drop_no_router_alert", c.drop_no_router_alert},
            {"drop_bad_checksum", c.drop_bad_checksum},
            {"drop_parse_error", c.drop_parse_error},
            {"unknown_records_skipped", c.unknown_records_skipped},
            {"queries_sent", c.queries_sent},
            {"query_send_errors", c.query_send_errors},
            {"query_serialize_errors", c.query_serialize_errors},
            {"queries_not_sent_no_link_local", c.queries_not_sent_no_link_local},
            {"drop_downstream_mld_off", c.drop_downstream_mld_off},
            {"queries_not_sent_mld_off", c.queries_not_sent_mld_off},
            {"upstream_changes", c.upstream_changes},
            {"upstream_errors", c.upstream_errors},
            {"upstream_reports_sent", c.upstream_reports_sent},
            {"upstream_report_errors", c.upstream_report_errors},
            {"upstream_reports_not_sent_no_link_local", c.upstream_reports_not_sent_no_link_local},
            {"upstream_link_scope_skipped", c.upstream_link_scope_skipped},
            {"upcalls", c.upcalls},
            {"upcalls_nocache", c.upcalls_nocache},
            {"upcalls_unknown_mif", c.upcalls_unknown_mif},
            {"upcalls_other", c.upcalls_other},
            {"upcalls_unroutable", c.upcalls_unroutable},
            {"mfc_adds", c.mfc_adds},
            {"mfc_updates", c.mfc_updates},
            {"mfc_deletes", c.mfc_deletes},
            {"mfc_idle_expired", c.mfc_idle_expired},
            {"mfc_errors", c.mfc_errors},
            {"mfc_preinstalled", c.mfc_preinstalled},
            {"group_entry_updates", c.group_entry_updates},
            {"group_entry_errors", c.group_entry_errors},
            {"downstreams_added", c.downstreams_added},
            {"downstreams_removed", c.downstreams_removed},
            {"rule_errors", c.rule_errors},
            {"early_queries_adopted", c.early_queries_adopted},
            {"early_queries_too_old", c.early_queries_too_old},
            {"captured_received", c.captured_received},
            {"context_records", c.context_records},
            {"downstreams_prepared", c.downstreams_prepared},
            {"downstreams_prepared_used", c.downstreams_prepared_used},
            {"downstreams_unprepared", c.downstreams_unprepared},
            {"peering_mld_accepted", c.peering_mld_accepted},
            {"peering_queries_sent", c.peering_queries_sent},
            {"peering_membership_changes", c.peering_membership_changes},
            {"peering_reports_sent", c.peering_reports_sent},
            {"peering_errors", c.peering_errors},
            {"peer_subscription_changes", c.peer_subscription_changes},
            {"upstream_reports_waited", c.upstream_reports_waited},
            {"peered_sources", c.peered_sources},
            {"peered_sources_expired", c.peered_sources_expired},
            {"peered_sources_rehomed", c.peered_sources_rehomed},
            {"peering_mld_not_started", c.peering_mld_not_started},
            {"upstream_sources_waited", c.upstream_sources_waited},
            {"mutex_releases", c.mutex_releases}};
}

nlohmann::json KernelProxy::show() const {
    nlohmann::json out;
    out["instance"] = config_.name;
    out["table"] = config_.table;
    out["rule_priority"] = config_.rule_priority;
    out["downstream_mld"] = config_.downstream_mld;
    out["upstream"] = {{"name", upstream_.name},
                       {"ifindex", upstream_.ifindex},
                       {"mif", upstream_.mif},
                       {"rule", upstream_.rule_installed}};
    if (!extras_.empty() || !config_.upstream_rules.empty()) {
        // Several upstreams (upstream_rules.hpp), in match order.
        auto rules_json = [](const std::vector<SourceGroupRule>& rules) {
            nlohmann::json r = nlohmann::json::array();
            for (const auto& rule : rules)
                r.push_back({{"source", to_string(rule.source)}, {"group", to_string(rule.group)}});
            return r;
        };
        nlohmann::json ups = nlohmann::json::array();
        for (std::size_t i = 0; i <= main_upstream(); ++i) {
            const Interface& u = upstream_at(i);
            const auto& rules =
                i < extras_.size() ? config_.extra_upstreams[i].rules : config_.upstream_rules;
            ups.push_back({{"name", u.name},
                           {"ifindex", u.ifindex},
                           {"mif", u.mif},
                           {"rule", u.rule_installed},
                           {"channels", rules.empty() ? nlohmann::json("all") : rules_json(rules)}});
        }
        out["upstreams"] = std::move(ups);
        out["matching"] = to_string(config_.matching);
        if (config_.matching == UpstreamMatching::kMutex)
            out["mutex_timeout_ms"] =
                std::chrono::duration_cast<std::chrono::milliseconds>(config_.mutex_timeout).count();
    }

    if (!peerings_.empty()) {
        // RFC 7287 peerings: the peer's wishes (restricted downstream) and
        // the sources taken over them (left out upstream).
        const auto ms = [](Duration d) {
            return std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
        };
        nlohmann::json peers = nlohmann::json::array();
        for (const auto& p : peerings_) {
            nlohmann::json j = {{"name", p->link.name},
                                {"ifindex", p->link.ifindex},
                                {"mif", p->link.mif},
                                {"rule", p->link.rule_installed},
                                {"report_wait_ms", ms(p->report_wait)}};
            if (!p->querier) {
                j["state"] = "waiting for a usable link-local address";
            } else {
                j["querier"] = p->querier->is_querier();
                nlohmann::json wants = nlohmann::json::array();
                for (const auto& [g, st] : p->wants) {
                    nlohmann::json w = state_json(st);
                    w["group"] = to_string(g);
                    wants.push_back(std::move(w));
                }
                j["peer_wants"] = std::move(wants);
            }
            peers.push_back(std::move(j));
        }
        out["peerings"] = std::move(peers);
        out["peering_data_timeout_ms"] = ms(config_.peering_data_timeout);
        nlohmann::json peered = nlohmann::json::array();
        const TimePoint now = timers_.clock().now();
        for (const auto& [g, sources] : peered_) {
            for (const auto& [s, ps] : sources) {
                peered.push_back({{"group", to_string(g)},
                                  {"source", to_string(s)},
                                  {"ms_since_data", ms(now - ps.last_data)}});
            }
        }
        out["peered_sources"] = std::move(peered);
        nlohmann::json waits = nlohmann::json::array();
        for (const auto& [g, t] : upstream_wait_) waits.push_back(to_string(g));
        out["upstream_reports_waiting"] = std::move(waits);
    }

    nlohmann::json downs = nlohmann::json::array();
    for (const auto& [ifindex, d] : downstreams_) {
        nlohmann::json j = {
            {"name", d.name}, {"ifindex", ifindex}, {"mif", d.mif}, {"rule", d.rule_installed}};
        nlohmann::json statics = nlohmann::json::array();
        const StaticSubscriptions* held = d.started
            ? instance_->static_subscriptions(static_cast<InterfaceId>(ifindex)) : &d.statics;
        if (held) {
            for (const auto& [group, state] : *held) {
                nlohmann::json sj = state_json(state);
                sj["group"] = to_string(group);
                statics.push_back(std::move(sj));
            }
        }
        j["static"] = std::move(statics);
        const DownstreamPolicy* own = d.started
            ? instance_->downstream_policy(static_cast<InterfaceId>(ifindex))
            : (d.policy ? &*d.policy : nullptr);
        if (own)
            j["policy"] = policy_json(*own);
        if (!d.started) {
            j["state"] = "waiting for a usable link-local address";
            downs.push_back(std::move(j));
            continue;
        }
        j["state"] = "active";
        j["link_local"] = to_string(d.link_local);
        const Querier* q = instance_->querier(static_cast<InterfaceId>(ifindex));
        if (q) {
            j["querier"] = q->is_querier();
            if (q->other_querier())
                j["other_querier"] = to_string(*q->other_querier());
            j["version"] = q->config().version;
            j["robustness"] = q->robustness();
            j["query_interval_ms"] = ms(q->query_interval());
            j["query_response_interval_ms"] = ms(q->config().query_response_interval);
            j["last_listener_query_interval_ms"] = ms(q->config().last_listener_query_interval);
            j["explicit_tracking"] = q->config().explicit_tracking;
            j["fast_leave"] = q->config().fast_leave;
            nlohmann::json groups = nlohmann::json::array();
            for (const auto& a : q->addresses()) {
                if (const auto v = q->address(a))
                    groups.push_back(address_json(*v));
            }
            j["groups"] = std::move(groups);
            j["counters"] = querier_counters(q->counters());
        }
        downs.push_back(std::move(j));
    }
    out["downstreams"] = std::move(downs);

    const MembershipDatabase& db = instance_->database();
    nlohmann::json groups = nlohmann::json::array();
    for (const auto& g : db.groups()) {
        nlohmann::json members = nlohmann::json::array();
        for (const auto& [ifindex, d] : downstreams_) {
            const MembershipState s = db.downstream_state(static_cast<InterfaceId>(ifindex), g);
            if (s.no_listeners())
                continue;
            nlohmann::json m = state_json(s);
            m["downstream"] = d.name;
            members.push_back(std::move(m));
        }
        groups.push_back({{"group", to_string(g)},
                          {"upstream", state_json(db.upstream_state(g))},
                          {"downstreams", members}});
    }
    out["groups"] = std::move(groups);

    const TimePoint now = timers_.clock().now();
    nlohmann::json mfc = nlohmann::json::array();
    std::vector<Ipv6Address> mfc_groups;
    for (const auto& [g, sources] : routes_by_group_) mfc_groups.push_back(g);
    std::sort(mfc_groups.begin(), mfc_groups.end());
    for (const auto& g : mfc_groups) {
        for (const auto& [s, r] : routes_by_group_.at(g)) {
            const Interface* in = interface_by_mif(r.parent);
            nlohmann::json oifs = nlohmann::json::array();
            r.outputs.for_each([&](MifIndex m) {
                const Interface* o = interface_by_mif(m);
                oifs.push_back(o ? o->name : "mif" + std::to_string(m));
            });
            nlohmann::json e = {{"source", to_string(s)},
                                {"group", to_string(g)},
                                {"iif", in ? in->name : "mif" + std::to_string(r.parent)},
                                {"oifs", oifs},
                                {"age_ms", ms(now - r.installed)}};
            if (const auto c = parts_.router->counters(s, g)) {
                e["packets"] = c->packets;
                e["bytes"] = c->bytes;
                e["wrong_interface"] = c->wrong_interface;
            }
            mfc.push_back(std::move(e));
        }
    }
    out["mfc"] = std::move(mfc);
    nlohmann::json star = nlohmann::json::array();
    std::vector<Ipv6Address> star_groups;
    for (const auto& [g, outputs] : group_entries_) star_groups.push_back(g);
    std::sort(star_groups.begin(), star_groups.end());
    for (const auto& g : star_groups) {
        nlohmann::json oifs = nlohmann::json::array();
        group_entries_.at(g).for_each([&](MifIndex m) {
            const Interface* o = interface_by_mif(m);
            oifs.push_back(o ? o->name : "mif" + std::to_string(m));
        });
        star.push_back({{"source", "*"}, {"group", to_string(g)}, {"iif", interface_by_mif(star_parent(g))->name},
                        {"oifs", oifs}});
    }
    out["group_entries"] = std::move(star);
    out["forwarding"] = parts_.router->show();
    out["forwarding"]["backend"] = parts_.router->backend();
    out["forwarding"]["max_interfaces"] = parts_.max_mifs;

    const ProxyInstanceCounters& pc = instance_->counters();
    const ProxyCounters& dc = db.counters();
    const MldSocketCounters sc = parts_.mld->counters();
    out["counters"] = to_json(counters_);
    out["counters"]["instance"] = {{"messages_received", pc.messages_received},
                                   {"messages_unknown_downstream", pc.messages_unknown_downstream},
                                   {"records_refused", pc.records_refused},
                                   {"v1_refused", pc.v1_refused},
                                   {"static_set", pc.static_set},
                                   {"static_refused", pc.static_refused},
                                   {"downstream_records_refused", pc.downstream_records_refused},
                                   {"downstream_v1_refused", pc.downstream_v1_refused},
                                   {"group_limit_refused", pc.group_limit_refused}};
    out["counters"]["database"] = {{"updates", dc.updates},
                                   {"updates_unchanged", dc.updates_unchanged},
                                   {"updates_refused", dc.updates_refused},
                                   {"upstream_changes", dc.upstream_changes},
                                   {"downstreams_added", dc.downstreams_added},
                                   {"downstreams_removed", dc.downstreams_removed}};
    out["counters"]["socket"] = {{"received", sc.received},   {"receive_errors", sc.receive_errors},
                                 {"truncated", sc.truncated}, {"no_pktinfo", sc.no_pktinfo},
                                 {"sent", sc.sent},           {"send_errors", sc.send_errors},
                                 {"sent_link_layer", sc.sent_link_layer},
                                 {"send_errors_link_layer", sc.send_errors_link_layer},
                                 {"sent_raw", sc.sent_raw},   {"send_errors_raw", sc.send_errors_raw}};
    return out;
}

}  // namespace pmip::mcast
