// PBU ordering checks [RFC 5213 section 5.5].
#include "pmip/lma/ordering.hpp"

#include "pmip/mh/codec.hpp"

namespace pmip::lma {

std::uint64_t timestamp_units(std::chrono::nanoseconds d) {
    return static_cast<std::uint64_t>(
        (static_cast<unsigned __int128>(d.count() < 0 ? 0 : d.count()) << 16) / 1'000'000'000u);
}

std::uint8_t check_timestamp(std::uint64_t timestamp, std::uint64_t lma_now,
                             std::optional<std::uint64_t> last_accepted,
                             std::chrono::nanoseconds validity_window,
                             bool mobile_node_generated) {
    // Step 8: not greater than every previously accepted timestamp.
    if (last_accepted && timestamp <= *last_accepted) {
        return mh::status::kTimestampLowerThanPrevAccepted;
    }
    // Step 6, first bullet / step 9: too far from the LMA's clock.
    if (!mobile_node_generated) {
        const std::uint64_t distance =
            timestamp > lma_now ? timestamp - lma_now : lma_now - timestamp;
        if (distance > timestamp_units(validity_window)) return mh::status::kTimestampMismatch;
    }
    return mh::status::kAccepted;
}

std::uint8_t check_sequence(std::uint16_t received, std::optional<std::uint16_t> last) {
    if (!last || mh::sequence_newer(received, *last)) return mh::status::kAccepted;
    return mh::status::kSequenceNumberOutOfWindow;
}

}  // namespace pmip::lma
