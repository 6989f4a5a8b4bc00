// Unit tests of TimerQueue (simulated clock) and EventLoop (real clock):
// timer order and cancellation, fd readiness and removal from callbacks,
// cross-thread post(), signals through signalfd, stop().
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <csignal>
#include <string>
#include <thread>
#include <vector>

#include "pmip/common/clock.hpp"
#include "pmip/common/event_loop.hpp"
#include "pmip/common/log.hpp"
#include "pmip/common/timers.hpp"

using namespace std::chrono_literals;
using pmip::EventLoop;
using pmip::SimulatedClock;
using pmip::SteadyClock;
using pmip::TimerQueue;

namespace {

// Bounds every wait; passing it fails the test (it is not a timing assertion).
constexpr auto kWaitLimit = 10s;

std::unique_ptr<EventLoop> make_loop(const pmip::Clock& clock) {
    auto loop = EventLoop::create(clock);
    if (!loop)
        FAIL("EventLoop::create: " << loop.error().what);
    return std::move(*loop);
}

template <typename Predicate>
void run_until(EventLoop& loop, Predicate done) {
    const auto limit = std::chrono::steady_clock::now() + kWaitLimit;
    while (!done()) {
        if (std::chrono::steady_clock::now() > limit)
            FAIL("condition not met before the deadline");
        const auto s = loop.run_once(10);
        REQUIRE(s.ok());
    }
}

struct Pipe {
    int read_end = -1;
    int write_end = -1;
    Pipe() {
        int fds[2];
        REQUIRE(::pipe2(fds, O_NONBLOCK | O_CLOEXEC) == 0);
        read_end = fds[0];
        write_end = fds[1];
    }
    ~Pipe() { close(); }
    void close() {
        if (read_end >= 0)
            ::close(read_end);
        if (write_end >= 0)
            ::close(write_end);
        read_end = write_end = -1;
    }
    void put(char c = 'x') const { REQUIRE(::write(write_end, &c, 1) == 1); }
    Pipe(const Pipe&) = delete;
    Pipe& operator=(const Pipe&) = delete;
};

}  // namespace

// ---------------------------------------------------------------- TimerQueue

TEST_CASE("TimerQueue runs due timers earliest first, ties in start order", "[common][timers]") {
    SimulatedClock clock;
    TimerQueue timers(clock);
    std::vector<std::string> ran;
    timers.start_timer(3s, [&] { ran.push_back("c"); });
    timers.start_timer(1s, [&] { ran.push_back("a1"); });
    timers.start_timer(2s, [&] { ran.push_back("b"); });
    timers.start_timer(1s, [&] { ran.push_back("a2"); });
    REQUIRE(timers.pending() == 4);

    CHECK(timers.run_due() == 0);
    clock.advance(1s);
    CHECK(timers.run_due() == 2);
    CHECK(ran == std::vector<std::string>{"a1", "a2"});
    clock.advance(5s);
    CHECK(timers.run_due() == 2);
    CHECK(ran == std::vector<std::string>{"a1", "a2", "b", "c"});
    CHECK(timers.pending() == 0);
}

TEST_CASE("TimerQueue ids are non-zero and distinct", "[common][timers]") {
    SimulatedClock clock;
    TimerQueue timers(clock);
    const auto a = timers.start_timer(1s, [] {});
    const auto b = timers.start_timer(1s, [] {});
    CHECK(a != 0);
    CHECK(b != 0);
    CHECK(a != b);
}

TEST_CASE("TimerQueue cancel stops a timer, unknown and expired ids are ignored",
          "[common][timers]") {
    SimulatedClock clock;
    TimerQueue timers(clock);
    int ran = 0;
    const auto id = timers.start_timer(1s, [&] { ++ran; });
    const auto other = timers.start_timer(1s, [&] { ran += 10; });
    timers.cancel_timer(id);
    timers.cancel_timer(id);
    timers.cancel_timer(12345);
    clock.advance(2s);
    CHECK(timers.run_due() == 1);
    CHECK(ran == 10);
    timers.cancel_timer(other);  // expired
    CHECK(timers.pending() == 0);
}

TEST_CASE("TimerQueue: a callback cancelling another due timer prevents it", "[common][timers]") {
    SimulatedClock clock;
    TimerQueue timers(clock);
    pmip::TimerId second = 0;
    bool second_ran = false;
    timers.start_timer(1s, [&] { timers.cancel_timer(second); });
    second = timers.start_timer(1s, [&] { second_ran = true; });
    clock.advance(1s);
    CHECK(timers.run_due() == 1);
    CHECK_FALSE(second_ran);
    CHECK(timers.pending() == 0);
}

TEST_CASE("TimerQueue: a callback cancelling itself is harmless", "[common][timers]") {
    SimulatedClock clock;
    TimerQueue timers(clock);
    pmip::TimerId self = 0;
    int ran = 0;
    self = timers.start_timer(1s, [&] {
        ++ran;
        timers.cancel_timer(self);
    });
    clock.advance(1s);
    CHECK(timers.run_due() == 1);
    CHECK(ran == 1);
}

TEST_CASE("TimerQueue: timers started by callbacks run now if due, else later",
          "[common][timers]") {
    SimulatedClock clock;
    TimerQueue timers(clock);
    std::vector<std::string> ran;
    timers.start_timer(1s, [&] {
        ran.push_back("first");
        timers.start_timer(0s, [&] { ran.push_back("immediate"); });
        timers.start_timer(-5s, [&] { ran.push_back("negative"); });
        timers.start_timer(1s, [&] { ran.push_back("later"); });
    });
    clock.advance(1s);
    CHECK(timers.run_due() == 3);
    CHECK(ran == std::vector<std::string>{"first", "immediate", "negative"});
    REQUIRE(timers.next_deadline().has_value());
    CHECK(*timers.next_deadline() == clock.now() + 1s);
    clock.advance(1s);
    CHECK(timers.run_due() == 1);
    CHECK(ran.back() == "later");
}

TEST_CASE("TimerQueue next_deadline follows starts, cancels and runs", "[common][timers]") {
    SimulatedClock clock;
    TimerQueue timers(clock);
    CHECK_FALSE(timers.next_deadline().has_value());
    const auto start = clock.now();
    const auto late = timers.start_timer(10s, [] {});
    CHECK(timers.next_deadline() == start + 10s);
    const auto early = timers.start_timer(2s, [] {});
    CHECK(timers.next_deadline() == start + 2s);
    timers.cancel_timer(early);
    CHECK(timers.next_deadline() == start + 10s);
    timers.cancel_timer(late);
    CHECK_FALSE(timers.next_deadline().has_value());
}

TEST_CASE("TimerQueue: a huge delay saturates instead of firing at once", "[common][timers]") {
    SimulatedClock clock;
    TimerQueue timers(clock);
    bool ran = false;
    timers.start_timer(pmip::Duration::max(), [&] { ran = true; });
    clock.advance(24h);
    CHECK(timers.run_due() == 0);
    CHECK_FALSE(ran);
    CHECK(timers.next_deadline() == pmip::TimePoint::max());
}

// ----------------------------------------------------------------- EventLoop

TEST_CASE("EventLoop with a simulated clock runs due timers in run_once(0)", "[common][loop]") {
    SimulatedClock clock;
    auto loop = make_loop(clock);
    int ran = 0;
    loop->start_timer(5s, [&] { ++ran; });
    REQUIRE(loop->run_once(0).ok());
    CHECK(ran == 0);
    clock.advance(5s);
    REQUIRE(loop->run_once(0).ok());
    CHECK(ran == 1);
    // Due timers make even an unbounded wait return.
    loop->start_timer(1s, [&] { ++ran; });
    clock.advance(1s);
    REQUIRE(loop->run_once(-1).ok());
    CHECK(ran == 2);
}

TEST_CASE("EventLoop reports pipe readiness to the fd callback", "[common][loop]") {
    SteadyClock clock;
    auto loop = make_loop(clock);
    Pipe p;
    int calls = 0;
    std::uint32_t seen = 0;
    REQUIRE(loop->add_fd(p.read_end, EPOLLIN,
                         [&](std::uint32_t events) {
                             ++calls;
                             seen = events;
                             char c;
                             while (::read(p.read_end, &c, 1) == 1) {
                             }
                         })
                .ok());
    REQUIRE(loop->run_once(0).ok());
    CHECK(calls == 0);
    p.put();
    run_until(*loop, [&] { return calls == 1; });
    CHECK((seen & EPOLLIN) != 0);

    SECTION("adding the same fd twice is an error") {
        const auto s = loop->add_fd(p.read_end, EPOLLIN, [](std::uint32_t) {});
        REQUIRE_FALSE(s.ok());
        CHECK(s.error().code == EEXIST);
    }
    SECTION("modify_fd of an unwatched fd is an error") {
        const auto s = loop->modify_fd(p.write_end, EPOLLOUT);
        REQUIRE_FALSE(s.ok());
        CHECK(s.error().what.find("not watched") != std::string::npos);
    }
    SECTION("modify_fd changes the events watched") {
        loop->remove_fd(p.read_end);
        int writable = 0;
        REQUIRE(loop->add_fd(p.write_end, 0,
                             [&](std::uint32_t events) {
                                 if (events & EPOLLOUT)
                                     ++writable;
                             })
                    .ok());
        REQUIRE(loop->run_once(0).ok());
        CHECK(writable == 0);
        REQUIRE(loop->modify_fd(p.write_end, EPOLLOUT).ok());
        run_until(*loop, [&] { return writable > 0; });
        loop->remove_fd(p.write_end);
    }
}

TEST_CASE("EventLoop: remove_fd from the fd's own callback stops further calls", "[common][loop]") {
    SteadyClock clock;
    auto loop = make_loop(clock);
    Pipe p;
    int calls = 0;
    // Level-triggered and never read: without the removal it would fire every time.
    REQUIRE(loop->add_fd(p.read_end, EPOLLIN,
                         [&](std::uint32_t) {
                             ++calls;
                             loop->remove_fd(p.read_end);
                         })
                .ok());
    p.put();
    run_until(*loop, [&] { return calls == 1; });
    for (int i = 0; i < 5; ++i) REQUIRE(loop->run_once(0).ok());
    CHECK(calls == 1);
    // And the fd can be watched again.
    REQUIRE(loop->add_fd(p.read_end, EPOLLIN,
                         [&](std::uint32_t) {
                             ++calls;
                             loop->remove_fd(p.read_end);
                         })
                .ok());
    run_until(*loop, [&] { return calls == 2; });
}

TEST_CASE("EventLoop: an fd removed by another callback in the same batch is not called",
          "[common][loop]") {
    SteadyClock clock;
    auto loop = make_loop(clock);
    auto a = std::make_unique<Pipe>();
    auto b = std::make_unique<Pipe>();
    int a_calls = 0;
    int b_calls = 0;
    int replacement_calls = 0;
    std::unique_ptr<Pipe> replacement;

    // Whichever runs first removes and closes the other, then opens a new pipe
    // that likely reuses the closed fd numbers: the stale event already fetched
    // for the old fd must not reach the new registration either.
    auto first_removes_other = [&](std::unique_ptr<Pipe>& other) {
        loop->remove_fd(other->read_end);
        other->close();
        replacement = std::make_unique<Pipe>();
        REQUIRE(loop->add_fd(replacement->read_end, EPOLLIN,
                             [&](std::uint32_t) { ++replacement_calls; })
                    .ok());
    };
    REQUIRE(loop->add_fd(a->read_end, EPOLLIN,
                         [&](std::uint32_t) {
                             ++a_calls;
                             if (b_calls == 0 && !replacement)
                                 first_removes_other(b);
                         })
                .ok());
    REQUIRE(loop->add_fd(b->read_end, EPOLLIN,
                         [&](std::uint32_t) {
                             ++b_calls;
                             if (a_calls == 0 && !replacement)
                                 first_removes_other(a);
                         })
                .ok());
    a->put();
    b->put();
    // Both are ready before the wait, so one epoll_wait returns both.
    REQUIRE(loop->run_once(1000).ok());
    CHECK(a_calls + b_calls == 1);
    CHECK(replacement_calls == 0);
    REQUIRE(replacement);
    loop->remove_fd(a_calls == 1 ? a->read_end : b->read_end);
    loop->remove_fd(replacement->read_end);
}

TEST_CASE("EventLoop timers fire in deadline order with a real clock", "[common][loop]") {
    SteadyClock clock;
    auto loop = make_loop(clock);
    std::vector<std::string> fired;
    loop->start_timer(30ms, [&] { fired.push_back("30ms"); });
    loop->start_timer(10ms, [&] { fired.push_back("10ms-a"); });
    const auto cancelled = loop->start_timer(5ms, [&] { fired.push_back("cancelled"); });
    loop->start_timer(20ms, [&] { fired.push_back("20ms"); });
    loop->start_timer(10ms, [&] { fired.push_back("10ms-b"); });
    loop->cancel_timer(cancelled);
    const auto limit = std::chrono::steady_clock::now() + kWaitLimit;
    while (fired.size() < 4) {
        if (std::chrono::steady_clock::now() > limit)
            FAIL("timers did not fire");
        // -1: only the timerfd can wake this wait.
        REQUIRE(loop->run_once(-1).ok());
    }
    CHECK(fired == std::vector<std::string>{"10ms-a", "10ms-b", "20ms", "30ms"});
}

TEST_CASE("EventLoop: post() from 4 threads x 1000 tasks runs each exactly once",
          "[common][loop]") {
    SteadyClock clock;
    auto loop = make_loop(clock);
    constexpr int kThreads = 4;
    constexpr int kTasks = 1000;
    std::vector<int> runs(kThreads * kTasks, 0);  // touched on the loop thread only
    int total = 0;
    const auto loop_thread = std::this_thread::get_id();
    std::atomic<int> wrong_thread{0};

    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
        threads.emplace_back([&, t] {
            for (int i = 0; i < kTasks; ++i) {
                loop->post([&, index = t * kTasks + i] {
                    if (std::this_thread::get_id() != loop_thread)
                        ++wrong_thread;
                    ++runs[static_cast<std::size_t>(index)];
                    ++total;
                });
            }
        });
    }
    run_until(*loop, [&] { return total == kThreads * kTasks; });
    for (auto& th : threads) th.join();
    for (int i = 0; i < 3; ++i) REQUIRE(loop->run_once(0).ok());
    CHECK(total == kThreads * kTasks);
    CHECK(wrong_thread == 0);
    int not_once = 0;
    for (int r : runs) not_once += r != 1;
    CHECK(not_once == 0);
}

TEST_CASE("EventLoop: tasks run in post order, a task posted by a task runs later",
          "[common][loop]") {
    SteadyClock clock;
    auto loop = make_loop(clock);
    std::vector<int> order;
    loop->post([&] {
        order.push_back(1);
        loop->post([&] { order.push_back(3); });
    });
    loop->post([&] { order.push_back(2); });
    REQUIRE(loop->run_once(0).ok());
    CHECK(order == std::vector<int>{1, 2});
    run_until(*loop, [&] { return order.size() == 3; });
    CHECK(order == std::vector<int>{1, 2, 3});
}

TEST_CASE("EventLoop delivers SIGHUP raised in the process to its callback", "[common][loop]") {
    SteadyClock clock;
    auto loop = make_loop(clock);
    std::vector<int> received;
    REQUIRE(loop->on_signal(SIGHUP, [&](int signal_number) { received.push_back(signal_number); })
                .ok());
    REQUIRE(::raise(SIGHUP) == 0);  // blocked now: pending until the signalfd is read
    run_until(*loop, [&] { return !received.empty(); });
    CHECK(received == std::vector<int>{SIGHUP});
}

TEST_CASE("EventLoop refuses SIGKILL and invalid signal numbers", "[common][loop]") {
    SteadyClock clock;
    auto loop = make_loop(clock);
    CHECK_FALSE(loop->on_signal(SIGKILL, [](int) {}).ok());
    CHECK_FALSE(loop->on_signal(100000, [](int) {}).ok());
}

TEST_CASE("EventLoop: stop() from a callback makes run() return", "[common][loop]") {
    SteadyClock clock;
    auto loop = make_loop(clock);
    int ticks = 0;
    std::function<void()> tick = [&] {
        if (++ticks == 3) {
            loop->stop();
        } else {
            loop->start_timer(1ms, tick);
        }
    };
    loop->start_timer(1ms, tick);
    CHECK_FALSE(loop->stopped());
    REQUIRE(loop->run().ok());
    CHECK(ticks == 3);
    CHECK(loop->stopped());
    CHECK(loop->run().ok());  // stays stopped
}

TEST_CASE("EventLoop: stop() from another thread wakes run()", "[common][loop]") {
    SteadyClock clock;
    auto loop = make_loop(clock);
    std::atomic<bool> running{false};
    loop->post([&] { running = true; });
    std::thread stopper([&] {
        const auto limit = std::chrono::steady_clock::now() + kWaitLimit;
        while (!running && std::chrono::steady_clock::now() < limit) std::this_thread::yield();
        loop->stop();
    });
    REQUIRE(loop->run().ok());
    stopper.join();
    CHECK(running);
}

TEST_CASE("EventLoop: a timer far in the future arms the timerfd without error", "[common][loop]") {
    pmip::log::configure(pmip::log::Sink::kNone, "pmip-test", pmip::log::Level::kInfo);
    pmip::log::clear_recent_lines();
    SteadyClock clock;
    auto loop = make_loop(clock);
    bool ran = false;
    const auto far = loop->start_timer(pmip::Duration::max(), [&] { ran = true; });
    bool soon = false;
    loop->start_timer(1ms, [&] { soon = true; });
    run_until(*loop, [&] { return soon; });
    CHECK_FALSE(ran);
    loop->cancel_timer(far);
    REQUIRE(loop->run_once(0).ok());
    CHECK(pmip::log::recent_lines().empty());  // no "arming the loop's timerfd" error
}
