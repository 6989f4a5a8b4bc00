// Message ordering of Proxy Binding Updates [RFC 5213 section 5.5;
// PROTOCOL.md section 2.11]: the timestamp scheme (domain default) and the
// sequence-number scheme of RFC 6275 section 9.5.1.
//
// Pure functions. Timestamps are the 48.16 fixed-point values of the
// Timestamp option (seconds since 1970 << 16 | 1/65536 s).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>

namespace pmip::lma {

// Converts a duration to 1/65536 s units.
std::uint64_t timestamp_units(std::chrono::nanoseconds d);

// The PBA status for a PBU timestamp: 0 when valid, 157 when not greater than
// the last accepted one for that MN (step 8), 156 when outside
// TimestampValidityWindow of the LMA clock (step 9; skipped when
// MobileNodeGeneratedTimestampInUse).
std::uint8_t check_timestamp(std::uint64_t timestamp, std::uint64_t lma_now,
                             std::optional<std::uint64_t> last_accepted,
                             std::chrono::nanoseconds validity_window,
                             bool mobile_node_generated);

// RFC 6275 section 9.5.1: 0 when `received` is newer than `last` (or there
// is no binding yet), 135 (sequence number out of window) otherwise.
std::uint8_t check_sequence(std::uint16_t received, std::optional<std::uint16_t> last);

}  // namespace pmip::lma
