// Handover meter report: arrivals -> counts and gaps, and their output.
#include "meter_report.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <unordered_set>

namespace pmip::meter {

Report make_report(const std::vector<Arrival>& arrivals, double gap_threshold_ms,
                   std::uint64_t socket_drops) {
    Report report;
    report.socket_drops = socket_drops;
    report.received = arrivals.size();
    if (arrivals.empty())
        return report;

    std::unordered_set<std::uint64_t> seen;
    seen.reserve(arrivals.size());
    bool any = false;
    std::uint64_t highest = 0;
    for (const Arrival& a : arrivals) {
        if (!seen.insert(a.sequence).second)
            ++report.duplicates;
        if (any && a.sequence < highest)
            ++report.reordered;
        highest = any ? std::max(highest, a.sequence) : a.sequence;
        any = true;
    }
    const auto [lowest, highest_seen] = std::minmax_element(seen.begin(), seen.end());
    report.first_seq = *lowest;
    report.last_seq = *highest_seen;
    report.lost = (*highest_seen - *lowest + 1) - seen.size();

    const std::int64_t t0 = arrivals.front().arrival_ns;
    for (std::size_t i = 1; i < arrivals.size(); ++i) {
        const Arrival& a = arrivals[i - 1];
        const Arrival& b = arrivals[i];
        const double gap_ms = static_cast<double>(b.arrival_ns - a.arrival_ns) / 1e6;
        if (gap_ms > gap_threshold_ms) {
            const std::uint64_t missing = b.sequence > a.sequence ? b.sequence - a.sequence - 1 : 0;
            report.gaps.push_back({python_round(static_cast<double>(a.arrival_ns - t0) / 1e9, 3),
                                   python_round(gap_ms, 2), missing});
        }
        report.max_gap_ms = std::max(report.max_gap_ms, python_round(gap_ms, 2));
    }
    // Jitter (RFC 3550 section 6.4.1's D, averaged): the sender's spacing is
    // the median spacing of consecutive sequence numbers.
    std::vector<std::int64_t> steps;
    for (std::size_t i = 1; i < arrivals.size(); ++i) {
        if (arrivals[i].sequence == arrivals[i - 1].sequence + 1)
            steps.push_back(arrivals[i].arrival_ns - arrivals[i - 1].arrival_ns);
    }
    if (!steps.empty()) {
        std::nth_element(steps.begin(), steps.begin() + static_cast<std::ptrdiff_t>(steps.size() / 2),
                         steps.end());
        const double spacing = static_cast<double>(steps[steps.size() / 2]);
        double sum = 0;
        std::size_t pairs = 0;
        for (std::size_t i = 1; i < arrivals.size(); ++i) {
            const Arrival& a = arrivals[i - 1];
            const Arrival& b = arrivals[i];
            if (b.sequence <= a.sequence)
                continue;  // duplicate or reordered: no transit difference
            const double d = static_cast<double>(b.arrival_ns - a.arrival_ns) -
                             static_cast<double>(b.sequence - a.sequence) * spacing;
            sum += std::fabs(d);
            ++pairs;
        }
        if (pairs > 0)
            report.jitter_ms = std::round(sum / static_cast<double>(pairs) / 1e6 * 1000) / 1000;
    }
    return report;
}

namespace {

std::string optional_number(const std::optional<std::uint64_t>& value) {
    return value ? std::to_string(*value) : "null";
}

}  // namespace

std::string report_json(const Report& report) {
    std::string out = "{\"received\": " + std::to_string(report.received) +
                      ", \"lost\": " + std::to_string(report.lost) +
                      ", \"duplicates\": " + std::to_string(report.duplicates) +
                      ", \"reordered\": " + std::to_string(report.reordered) +
                      ", \"first_seq\": " + optional_number(report.first_seq) +
                      ", \"last_seq\": " + optional_number(report.last_seq) +
                      ", \"max_gap_ms\": " + python_float(report.max_gap_ms) + ", \"gaps\": [";
    for (std::size_t i = 0; i < report.gaps.size(); ++i) {
        const Gap& g = report.gaps[i];
        if (i > 0)
            out += ", ";
        out += "{\"at_s\": " + python_float(g.at_s) + ", \"ms\": " + python_float(g.ms) +
               ", \"missing\": " + std::to_string(g.missing) + "}";
    }
    out += "], \"socket_drops\": " + std::to_string(report.socket_drops) +
           ", \"jitter_ms\": " + python_float(report.jitter_ms) + "}";
    return out;
}

std::string report_text(const Report& report) {
    std::string out = "received " + std::to_string(report.received) + ", lost " +
                      std::to_string(report.lost) + ", duplicates " +
                      std::to_string(report.duplicates) + ", reordered " +
                      std::to_string(report.reordered) + ", largest gap " +
                      python_float(report.max_gap_ms) + " ms\n";
    for (const Gap& g : report.gaps)
        out += "  gap of " + python_float(g.ms) + " ms at " + python_float(g.at_s) + " s, " +
               std::to_string(g.missing) + " missing\n";
    if (report.socket_drops > 0)
        out += "  " + std::to_string(report.socket_drops) +
               " datagrams dropped by the kernel: receive buffer full\n";
    return out;
}

double python_round(double value, int digits) {
    // Python rounds the exact binary value to the nearest decimal, as printf
    // does; reading the decimal back gives the same double Python returns.
    if (!std::isfinite(value))
        return value;
    char text[400];
    std::snprintf(text, sizeof text, "%.*f", digits, value);
    return std::strtod(text, nullptr);
}

std::string python_float(double value) {
    if (std::isnan(value))
        return "NaN";
    if (std::isinf(value))
        return value > 0 ? "Infinity" : "-Infinity";  // what json.dumps prints
    // Shortest round-trip digits, then repr()'s layout: positional for
    // exponents -4..15 with at least one decimal, scientific otherwise.
    char buffer[64];
    const auto result =
        std::to_chars(buffer, buffer + sizeof buffer, value, std::chars_format::scientific);
    const std::string scientific(buffer, result.ptr);
    const std::size_t e = scientific.find('e');
    std::string mantissa = scientific.substr(0, e);
    const int exponent = std::atoi(scientific.c_str() + e + 1);
    std::string sign;
    if (!mantissa.empty() && mantissa[0] == '-') {
        sign = "-";
        mantissa.erase(0, 1);
    }
    std::string digits;
    for (char c : mantissa)
        if (c != '.')
            digits += c;

    if (exponent < -4 || exponent >= 16) {
        std::string out = sign + digits.substr(0, 1);
        if (digits.size() > 1)
            out += "." + digits.substr(1);
        const int magnitude = std::abs(exponent);
        out += exponent < 0 ? "e-" : "e+";
        if (magnitude < 10)
            out += '0';
        return out + std::to_string(magnitude);
    }
    const int point = exponent + 1;  // digits before the decimal point
    std::string integral, fraction;
    if (point <= 0) {
        integral = "0";
        fraction = std::string(static_cast<std::size_t>(-point), '0') + digits;
    } else if (static_cast<std::size_t>(point) >= digits.size()) {
        integral = digits + std::string(static_cast<std::size_t>(point) - digits.size(), '0');
        fraction = "0";
    } else {
        integral = digits.substr(0, static_cast<std::size_t>(point));
        fraction = digits.substr(static_cast<std::size_t>(point));
    }
    return sign + integral + "." + fraction;
}

}  // namespace pmip::meter
