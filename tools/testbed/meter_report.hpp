// Handover meter report: what a receive window saw, computed from the
// arrivals alone (no I/O, no clock), and its JSON and readable forms.
//
// The numbers and their output match tools/testbed/handover_meter.py, the
// meter this one replaces, key for key and line for line, so scripts can
// read either:
//   received     datagrams received (duplicates included)
//   lost         sequence numbers never seen between the lowest and the
//                highest seen
//   duplicates   datagrams whose sequence number was already seen
//   reordered    datagrams whose sequence number is below the highest seen
//                before them
//   first_seq, last_seq
//                lowest and highest sequence number seen (null when none)
//   max_gap_ms   the longest time between two consecutive arrivals: the
//                handover gap
//   gaps         every time between consecutive arrivals longer than the
//                threshold: {"at_s" (seconds after the first arrival),
//                "ms", "missing" (sequence numbers skipped across it)}
// plus keys of its own:
//   socket_drops datagrams the kernel dropped because the socket's receive
//                buffer was full (SO_RXQ_OVFL)
//   jitter_ms    the mean of |D| over consecutive arrivals, D being RFC 3550
//                section 6.4.1's transit difference with the send times
//                taken from the sequence numbers at the sender's constant
//                spacing (the median arrival spacing of consecutive
//                sequence numbers): (R_j - R_i) - (seq_j - seq_i) * spacing.
//                A handover adds its gap minus the missing packets' share,
//                and any change of the path's delay.
//
// Rounding and number formatting are Python's: round(x, 2) for
// milliseconds, round(x, 3) for seconds, floats printed as repr() prints
// them (20.0, 0.125).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace pmip::meter {

// One datagram as the receiver saw it: kernel arrival time and the sequence
// number the sender put in it.
struct Arrival {
    std::int64_t arrival_ns = 0;
    std::uint64_t sequence = 0;
};

struct Gap {
    double at_s = 0;  // rounded to 3 decimals, after the first arrival
    double ms = 0;    // rounded to 2 decimals
    std::uint64_t missing = 0;
};

struct Report {
    std::uint64_t received = 0;
    std::uint64_t lost = 0;
    std::uint64_t duplicates = 0;
    std::uint64_t reordered = 0;
    std::optional<std::uint64_t> first_seq;
    std::optional<std::uint64_t> last_seq;
    double max_gap_ms = 0;  // rounded to 2 decimals
    std::vector<Gap> gaps;
    std::uint64_t socket_drops = 0;
    double jitter_ms = 0;  // rounded to 3 decimals
};

// Arrivals in the order they were received; gaps longer than gap_threshold_ms
// are listed.
Report make_report(const std::vector<Arrival>& arrivals, double gap_threshold_ms,
                   std::uint64_t socket_drops);

// One line, no newline: the JSON object, Python json.dumps layout.
std::string report_json(const Report& report);

// The readable lines, each ending in a newline.
std::string report_text(const Report& report);

// Python's round(value, digits) and repr(float).
double python_round(double value, int digits);
std::string python_float(double value);

}  // namespace pmip::meter
