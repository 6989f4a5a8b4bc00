// TimerQueue: deadlines of a Clock, ordered by (deadline, id).
#include "pmip/common/timers.hpp"

namespace pmip {

TimerId TimerQueue::start_timer(Duration delay, TimerCallback callback) {
    const TimerId id = next_id_++;
    const TimePoint now = clock_.now();
    // Saturates instead of overflowing: a huge delay means "never", not "now".
    const TimePoint deadline = delay.count() <= 0           ? now
                               : delay > TimePoint::max() - now ? TimePoint::max()
                                                              : now + delay;
    // Ids grow, so a deadline no earlier than the last one (the common case:
    // one lifetime for every binding) belongs at the end: no tree descent.
    const Key key{deadline, id};
    if (!by_deadline_.empty() && by_deadline_.rbegin()->first < key)
        by_deadline_.emplace_hint(by_deadline_.end(), key, std::move(callback));
    else
        by_deadline_.emplace(key, std::move(callback));
    by_id_.emplace(id, deadline);
    return id;
}

void TimerQueue::cancel_timer(TimerId id) {
    const auto it = by_id_.find(id);
    if (it == by_id_.end()) return;
    by_deadline_.erase(Key{it->second, id});
    by_id_.erase(it);
}

std::size_t TimerQueue::run_due() {
    std::size_t ran = 0;
    while (!by_deadline_.empty()) {
        auto first = by_deadline_.begin();
        if (first->first.first > clock_.now()) break;
        TimerCallback callback = std::move(first->second);
        by_id_.erase(first->first.second);
        by_deadline_.erase(first);
        ++ran;
        if (callback) callback();
    }
    return ran;
}

std::optional<TimePoint> TimerQueue::next_deadline() const {
    if (by_deadline_.empty()) return std::nullopt;
    return by_deadline_.begin()->first.first;
}

}  // namespace pmip
