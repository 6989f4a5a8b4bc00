// The daemon's single event loop: epoll over file descriptors, one timerfd
// armed for the earliest TimerQueue deadline, a signalfd for SIGTERM / SIGINT
// (stop) and SIGHUP (reload), and an eventfd through which other threads (the
// userspace tunnel's data plane) post closures to run on the loop thread.
//
// DESIGN.md sections 2 (one event loop per daemon, no threads in protocol
// code) and 4 (the userspace tunnel talks to the loop through post()).
//
// Threading: everything but post() and stop() must be called on the loop
// thread. on_signal() blocks the signal in the calling thread (and so in every
// thread created after it): call it from main before starting threads.
// Errors from epoll / timerfd / signalfd set-up are returned, never thrown.
//
// Guarantees: fds are level-triggered unless EPOLLET is passed; a callback is
// never called for an fd after remove_fd() (even for events already fetched
// in the same epoll batch, and even if the fd number was reused since); timers
// run in deadline order, ties in start order; posted tasks run in post order,
// each exactly once; a task posted by a task runs in a later run_once().
// With a SteadyClock the timerfd is armed at the earliest deadline (absolute
// CLOCK_MONOTONIC); with any other clock (SimulatedClock) it is never armed
// and run_once() runs whatever is due by clock().now().
//
// Counters: none.
#pragma once

#include <sys/epoll.h>  // EPOLLIN, EPOLLOUT, ... for add_fd / modify_fd

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <unordered_map>

#include "pmip/common/result.hpp"
#include "pmip/common/timers.hpp"

namespace pmip {

class EventLoop final : public Timers {
public:
    using FdCallback = std::function<void(std::uint32_t epoll_events)>;
    using SignalCallback = std::function<void(int signal_number)>;

    // Creates epoll, timerfd, eventfd. `clock` must be a real clock for run();
    // tests may pass a SimulatedClock and drive timers with run_once().
    static Expected<std::unique_ptr<EventLoop>> create(const Clock& clock);
    ~EventLoop() override;

    // Watches `fd` for `events` (EPOLLIN, ...). The callback runs on the loop.
    Status add_fd(int fd, std::uint32_t events, FdCallback callback);
    Status modify_fd(int fd, std::uint32_t events);
    // Safe to call from inside any callback, including the fd's own.
    void remove_fd(int fd);

    // Blocks `signal_number` for the process and delivers it through the loop.
    Status on_signal(int signal_number, SignalCallback callback);

    // Timers (the loop's TimerQueue, with the timerfd kept armed).
    TimerId start_timer(Duration delay, TimerCallback callback) override;
    void cancel_timer(TimerId id) override;
    void reserve(std::size_t count) override;
    const Clock& clock() const override;

    // Thread-safe: queues `task` to run on the loop thread.
    void post(std::function<void()> task);

    // Runs until stop(). Returns an error only if epoll_wait fails for a
    // reason other than EINTR. Once stopped, the loop stays stopped (run()
    // returns at once).
    Status run();
    // One epoll_wait of at most `timeout_ms` (-1 = until something happens)
    // and everything it made ready, due timers and posted tasks included.
    Status run_once(int timeout_ms);
    // Makes run() return after the current iteration. Also safe from another
    // thread (it wakes the loop).
    void stop();
    bool stopped() const;

private:
    struct Impl;
    explicit EventLoop(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

}  // namespace pmip
