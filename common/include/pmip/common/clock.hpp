// Clocks: the monotonic time every timer runs on, injectable so that protocol
// engines and the event loop's timers can be driven by a simulated clock in
// tests.
#pragma once

#include <chrono>

namespace pmip {

using Duration = std::chrono::steady_clock::duration;
using TimePoint = std::chrono::steady_clock::time_point;

class Clock {
public:
    virtual ~Clock() = default;
    virtual TimePoint now() const = 0;
    // Wall-clock time since the Unix epoch (for RFC 5213 Timestamp options).
    virtual std::chrono::system_clock::duration since_epoch() const = 0;
};

class SteadyClock final : public Clock {
public:
    TimePoint now() const override { return std::chrono::steady_clock::now(); }
    std::chrono::system_clock::duration since_epoch() const override {
        return std::chrono::system_clock::now().time_since_epoch();
    }
};

// Time moves only when a test says so.
class SimulatedClock final : public Clock {
public:
    TimePoint now() const override { return now_; }
    std::chrono::system_clock::duration since_epoch() const override {
        return epoch_offset_ + (now_ - TimePoint{});
    }
    void advance(Duration d) { now_ += d; }
    void set_epoch_offset(std::chrono::system_clock::duration d) { epoch_offset_ = d; }

private:
    TimePoint now_{std::chrono::hours(1)};
    std::chrono::system_clock::duration epoch_offset_{std::chrono::seconds(1'763'798'400)};
};

}  // namespace pmip
