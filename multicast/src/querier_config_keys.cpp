// The [multicast] querier keys both daemons share. See querier_config_keys.hpp.
#include "pmip/mcast/querier_config_keys.hpp"

#include <unistd.h>

#include <chrono>

#include "pmip/common/log.hpp"

namespace pmip::mcast {

void read_querier_keys(config::Validator& v, QuerierConfig& querier, FastLeaveKey fast_leave_key) {
    using std::chrono::duration_cast;
    unsigned rv = querier.robustness;
    v.number_into<unsigned>("multicast.robustness", rv, 1, 7);
    // The RV-derived counts follow the robustness read; the rest keeps the
    // daemon's defaults unless a key sets it.
    QuerierConfig q = QuerierConfig::with_robustness(rv);
    q.startup_query_interval = querier.startup_query_interval;
    q.explicit_tracking = querier.explicit_tracking;
    q.fast_leave = querier.fast_leave;
    auto qi = static_cast<unsigned>(duration_cast<std::chrono::seconds>(querier.query_interval).count());
    auto qri = static_cast<unsigned>(
        duration_cast<std::chrono::milliseconds>(querier.query_response_interval).count());
    auto llqi = static_cast<unsigned>(
        duration_cast<std::chrono::milliseconds>(querier.last_listener_query_interval).count());
    v.number_into<unsigned>("multicast.query-interval-s", qi, 2, 3600, " seconds");
    v.number_into<unsigned>("multicast.query-response-interval-ms", qri, 1, 60000, " ms");
    v.number_into<unsigned>("multicast.last-listener-query-interval-ms", llqi, 100, 60000, " ms");
    if (fast_leave_key == FastLeaveKey::kPresent)
        v.boolean_into("multicast.fast-leave", q.fast_leave);
    q.query_interval = std::chrono::seconds(qi);
    q.query_response_interval = std::chrono::milliseconds(qri);
    q.last_listener_query_interval = std::chrono::milliseconds(llqi);
    if (const std::string why = validate(q); !why.empty())
        v.global("multicast.query-response-interval-ms", why, false);
    else
        querier = q;
}

void read_forwarding_key(config::Validator& v, Forwarding& forwarding) {
    if (const config::Value* value = v.single("multicast.forwarding")) {
        if (const auto f = parse_forwarding(value->text))
            forwarding = *f;
        else
            v.error(*value, "multicast.forwarding",
                    "\"" + value->text + "\" is not one of auto|ebpf|kernel");
    }
}

Expected<std::string> forwarding_check_note(Forwarding forwarding) {
    // The probes need what the daemon needs (raw sockets, BPF); a --check
    // without them judges the file only.
    if (::geteuid() != 0)
        return "multicast forwarding: " + std::string(to_string(forwarding)) +
               " (not probed: --check without root; the daemon says which backend at start)";
    auto choice = choose_forwarding(forwarding);
    if (!choice)
        return choice.error();
    return "multicast forwarding: " + std::string(to_string(choice->backend)) + " (" + choice->why +
           ")";
}

Expected<std::vector<std::string>> multicast_check_notes(bool enabled, Forwarding forwarding) {
    if (!enabled)
        return std::vector<std::string>{"multicast: disabled"};
    auto note = forwarding_check_note(forwarding);
    if (!note)
        return note.error();
    return std::vector<std::string>{*note};
}

Expected<Forwarding> start_forwarding(Forwarding wanted, std::uint32_t filter_handle,
                                      const char* log_context) {
    auto choice = choose_forwarding(wanted);
    if (!choice)
        return choice.error();
    PMIP_INFO(kMld, log_context,
              "multicast forwarding: " + std::string(to_string(choice->backend)) + " (" +
                  choice->why + ")");
    if (choice->backend == Forwarding::kEbpf) {
        if (const std::size_t n = remove_leftover_filters(filter_handle); n > 0)
            PMIP_INFO(kMld, log_context,
                      "removed " + std::to_string(n) + " tc filters left by a previous run");
    }
    return choice->backend;
}

}  // namespace pmip::mcast
