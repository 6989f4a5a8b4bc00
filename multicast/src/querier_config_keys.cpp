// The [multicast] querier keys both daemons share. See querier_config_keys.hpp.
#include "pmip/mcast/querier_config_keys.hpp"

#include <chrono>

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

}  // namespace pmip::mcast
