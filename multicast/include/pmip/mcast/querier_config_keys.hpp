// The querier keys of a daemon's [multicast] configuration section, read the
// same way with the same messages by lmad (queriers on the MAG tunnels) and
// magd (queriers on the MN links): robustness, query-interval-s,
// query-response-interval-ms, last-listener-query-interval-ms and, where the
// daemon offers it, fast-leave [RFC 3810 section 9, RFC 6224 section 4.7].
// Each daemon keeps its own defaults: they are the values of the
// QuerierConfig the keys are read over.
//
// Threading: none (start-up only). Counters: none.
#pragma once

#include <cstdint>

#include "pmip/common/config_file.hpp"
#include "pmip/mcast/querier.hpp"

namespace pmip::mcast {

// Whether a daemon's [multicast] section has the fast-leave key.
enum class FastLeaveKey : std::uint8_t { kAbsent, kPresent };

// Reads the keys over `querier`. A combination validate() (querier.hpp)
// refuses is reported at multicast.query-response-interval-ms and leaves
// `querier` unchanged.
void read_querier_keys(config::Validator& v, QuerierConfig& querier, FastLeaveKey fast_leave_key);

}  // namespace pmip::mcast
