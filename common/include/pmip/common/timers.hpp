// Timers by id [STYLE.md: timers live in the loop, records hold only ids].
//
// TimerQueue is pure: callbacks scheduled at deadlines of a Clock, run by
// run_due(). The EventLoop owns one and arms a timerfd for next_deadline();
// tests own one with a SimulatedClock and call run_due() after advancing it.
// Protocol engines see only the Timers interface.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <unordered_map>

#include "pmip/common/clock.hpp"

namespace pmip {

using TimerId = std::uint64_t;  // 0 is never a valid id
using TimerCallback = std::function<void()>;

class Timers {
public:
    virtual ~Timers() = default;
    // Runs `callback` once, `delay` from now. Returns its id.
    virtual TimerId start_timer(Duration delay, TimerCallback callback) = 0;
    // Cancels a pending timer; unknown or expired ids are ignored.
    virtual void cancel_timer(TimerId id) = 0;
    virtual const Clock& clock() const = 0;
    // Room for `count` pending timers, so that a daemon expecting that many
    // does not rehash its tables under load. A hint; may do nothing.
    virtual void reserve(std::size_t /*count*/) {}
};

class TimerQueue final : public Timers {
public:
    explicit TimerQueue(const Clock& clock) : clock_(clock) {}

    TimerId start_timer(Duration delay, TimerCallback callback) override;
    void cancel_timer(TimerId id) override;
    const Clock& clock() const override { return clock_; }
    void reserve(std::size_t count) override { by_id_.reserve(count); }

    // Runs every timer whose deadline is <= clock().now(), earliest first
    // (ties in start order). Timers started by callbacks run in the same call
    // if already due. Returns how many ran.
    std::size_t run_due();
    std::optional<TimePoint> next_deadline() const;
    std::size_t pending() const { return by_id_.size(); }

private:
    using Key = std::pair<TimePoint, TimerId>;
    const Clock& clock_;
    std::map<Key, TimerCallback> by_deadline_;
    std::unordered_map<TimerId, TimePoint> by_id_;
    TimerId next_id_ = 1;
};

}  // namespace pmip
