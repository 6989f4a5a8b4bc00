// EventLoop: epoll + timerfd + signalfd + eventfd, one thread.
#include "pmip/common/fd.hpp"
#include "pmip/common/event_loop.hpp"

#include <pthread.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstring>
#include <optional>
#include <string>
#include <utility>

#include "pmip/common/log.hpp"

namespace pmip {
namespace {

constexpr int kMaxEvents = 64;

// epoll_event.data.u64 of the loop's own descriptors; watched fds get
// registration ids from kFirstWatchId up, never reused, so an event fetched
// for a removed registration can be recognised and dropped.
constexpr std::uint64_t kTimerFdId = 1;
constexpr std::uint64_t kSignalFdId = 2;
constexpr std::uint64_t kEventFdId = 3;
constexpr std::uint64_t kFirstWatchId = 16;


}  // namespace

struct EventLoop::Impl {
    explicit Impl(const Clock& c)
        : clock(c), timers(c), real_clock(dynamic_cast<const SteadyClock*>(&c) != nullptr) {}

    struct Watch {
        int fd = -1;
        std::uint64_t id = 0;
        FdCallback callback;
    };

    const Clock& clock;
    TimerQueue timers;
    const bool real_clock;

    Fd epoll_fd;
    Fd timer_fd;
    Fd signal_fd;
    Fd event_fd;

    std::unordered_map<std::uint64_t, std::shared_ptr<Watch>> watches;  // by registration id
    std::unordered_map<int, std::uint64_t> watch_by_fd;
    std::uint64_t next_watch_id = kFirstWatchId;

    sigset_t signals{};
    std::unordered_map<int, SignalCallback> signal_callbacks;

    std::optional<TimePoint> armed;  // what the timerfd is set to
    std::atomic<bool> stopped{false};

    std::mutex posted_mutex;
    std::deque<std::function<void()>> posted;

    log::RateLimit settime_log{4, std::chrono::seconds(60)};

    Status add_internal(int fd, std::uint64_t id, const char* what) {
        epoll_event ev{};
        ev.events = EPOLLIN;
        ev.data.u64 = id;
        if (::epoll_ctl(epoll_fd.get(), EPOLL_CTL_ADD, fd, &ev) != 0) {
            return Error::from_errno(std::string("adding the loop's ") + what + " to epoll");
        }
        return {};
    }

    void wake() {
        const std::uint64_t one = 1;
        // EAGAIN only when the counter is about to overflow: the loop is awake then.
        [[maybe_unused]] const auto n = ::write(event_fd.get(), &one, sizeof one);
    }

    bool has_posted() {
        std::lock_guard lock(posted_mutex);
        return !posted.empty();
    }

    bool timer_due() const {
        const auto next = timers.next_deadline();
        return next && *next <= clock.now();
    }

    // Keeps the timerfd at the earliest deadline (real clock only).
    void update_timerfd() {
        if (!real_clock)
            return;
        const auto next = timers.next_deadline();
        if (next == armed)
            return;
        itimerspec spec{};
        if (next) {
            auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(next->time_since_epoch())
                          .count();
            if (ns <= 0)
                ns = 1;  // an all-zero it_value would disarm
            spec.it_value.tv_sec = static_cast<time_t>(ns / 1'000'000'000);
            spec.it_value.tv_nsec = static_cast<long>(ns % 1'000'000'000);
        }
        if (::timerfd_settime(timer_fd.get(), TFD_TIMER_ABSTIME, &spec, nullptr) != 0) {
            const Error e = Error::from_errno("arming the loop's timerfd");
            armed.reset();  // retried on the next change; run_once also polls due timers
            if (settime_log.allow())
                PMIP_ERROR(kCtl, "[loop]", e.what);
            return;
        }
        armed = next;
    }

    void drain_timerfd() {
        std::uint64_t expirations = 0;
        while (::read(timer_fd.get(), &expirations, sizeof expirations) > 0) {
        }
        armed.reset();  // a one-shot timerfd is disarmed once it fired
    }

    void drain_eventfd() {
        std::uint64_t count = 0;
        while (::read(event_fd.get(), &count, sizeof count) > 0) {
        }
    }

    void dispatch_signals() {
        signalfd_siginfo info{};
        while (::read(signal_fd.get(), &info, sizeof info) == static_cast<ssize_t>(sizeof info)) {
            const int signal_number = static_cast<int>(info.ssi_signo);
            const auto it = signal_callbacks.find(signal_number);
            if (it == signal_callbacks.end())
                continue;
            const SignalCallback callback = it->second;  // may re-register while running
            if (callback)
                callback(signal_number);
        }
    }

    void dispatch(const epoll_event& ev) {
        switch (ev.data.u64) {
            case kTimerFdId:
                drain_timerfd();
                return;
            case kSignalFdId:
                dispatch_signals();
                return;
            case kEventFdId:
                drain_eventfd();
                return;
            default:
                break;
        }
        const auto it = watches.find(ev.data.u64);
        if (it == watches.end())
            return;  // removed earlier in this batch
        // Holding the Watch keeps the callback alive if it removes its own fd.
        const std::shared_ptr<Watch> watch = it->second;
        if (watch->callback)
            watch->callback(ev.events);
    }

    // Runs the tasks queued when it started; later ones wait for the next
    // iteration so that a task re-posting itself cannot starve the loop.
    void run_posted() {
        std::size_t count = 0;
        {
            std::lock_guard lock(posted_mutex);
            count = posted.size();
        }
        for (std::size_t i = 0; i < count; ++i) {
            std::function<void()> task;
            {
                std::lock_guard lock(posted_mutex);
                if (posted.empty())
                    return;
                task = std::move(posted.front());
                posted.pop_front();
            }
            if (task)
                task();
        }
    }
};

EventLoop::EventLoop(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

EventLoop::~EventLoop() = default;

Expected<std::unique_ptr<EventLoop>> EventLoop::create(const Clock& clock) {
    auto impl = std::make_unique<Impl>(clock);

    impl->epoll_fd = Fd(::epoll_create1(EPOLL_CLOEXEC));
    if (impl->epoll_fd.get() < 0)
        return Error::from_errno("creating the loop's epoll instance");

    impl->timer_fd = Fd(::timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC));
    if (impl->timer_fd.get() < 0)
        return Error::from_errno("creating the loop's timerfd");

    sigemptyset(&impl->signals);
    impl->signal_fd = Fd(::signalfd(-1, &impl->signals, SFD_NONBLOCK | SFD_CLOEXEC));
    if (impl->signal_fd.get() < 0)
        return Error::from_errno("creating the loop's signalfd");

    impl->event_fd = Fd(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
    if (impl->event_fd.get() < 0)
        return Error::from_errno("creating the loop's eventfd");

    if (auto s = impl->add_internal(impl->timer_fd.get(), kTimerFdId, "timerfd"); !s) {
        return s.error();
    }
    if (auto s = impl->add_internal(impl->signal_fd.get(), kSignalFdId, "signalfd"); !s) {
        return s.error();
    }
    if (auto s = impl->add_internal(impl->event_fd.get(), kEventFdId, "eventfd"); !s) {
        return s.error();
    }
    return std::unique_ptr<EventLoop>(new EventLoop(std::move(impl)));
}

Status EventLoop::add_fd(int fd, std::uint32_t events, FdCallback callback) {
    if (fd < 0)
        return Error{EBADF, "add_fd: invalid fd " + std::to_string(fd)};
    if (impl_->watch_by_fd.contains(fd)) {
        return Error{EEXIST, "add_fd: fd " + std::to_string(fd) + " is already watched"};
    }
    auto watch = std::make_shared<Impl::Watch>();
    watch->fd = fd;
    watch->id = impl_->next_watch_id++;
    watch->callback = std::move(callback);

    epoll_event ev{};
    ev.events = events;
    ev.data.u64 = watch->id;
    if (::epoll_ctl(impl_->epoll_fd.get(), EPOLL_CTL_ADD, fd, &ev) != 0) {
        return Error::from_errno("add_fd: adding fd " + std::to_string(fd) + " to epoll");
    }
    impl_->watch_by_fd.emplace(fd, watch->id);
    impl_->watches.emplace(watch->id, std::move(watch));
    return {};
}

Status EventLoop::modify_fd(int fd, std::uint32_t events) {
    const auto it = impl_->watch_by_fd.find(fd);
    if (it == impl_->watch_by_fd.end()) {
        return Error{ENOENT, "modify_fd: fd " + std::to_string(fd) + " is not watched"};
    }
    epoll_event ev{};
    ev.events = events;
    ev.data.u64 = it->second;
    if (::epoll_ctl(impl_->epoll_fd.get(), EPOLL_CTL_MOD, fd, &ev) != 0) {
        return Error::from_errno("modify_fd: changing events of fd " + std::to_string(fd));
    }
    return {};
}

void EventLoop::remove_fd(int fd) {
    const auto it = impl_->watch_by_fd.find(fd);
    if (it == impl_->watch_by_fd.end())
        return;
    // Fails harmlessly (EBADF) when the caller closed the fd already.
    ::epoll_ctl(impl_->epoll_fd.get(), EPOLL_CTL_DEL, fd, nullptr);
    impl_->watches.erase(it->second);
    impl_->watch_by_fd.erase(it);
}

Status EventLoop::on_signal(int signal_number, SignalCallback callback) {
    const std::string what = "on_signal(" + std::to_string(signal_number) + ")";
    if (signal_number == SIGKILL || signal_number == SIGSTOP) {
        return Error{EINVAL, what + ": SIGKILL and SIGSTOP cannot be caught"};
    }
    sigset_t one;
    sigemptyset(&one);
    if (sigaddset(&one, signal_number) != 0)
        return Error::from_errno(what);
    if (const int rc = ::pthread_sigmask(SIG_BLOCK, &one, nullptr); rc != 0) {
        return Error::from_errno(what + ": blocking the signal", rc);
    }
    sigset_t all = impl_->signals;
    sigaddset(&all, signal_number);
    if (::signalfd(impl_->signal_fd.get(), &all, 0) < 0) {
        return Error::from_errno(what + ": updating the loop's signalfd");
    }
    impl_->signals = all;
    impl_->signal_callbacks[signal_number] = std::move(callback);
    return {};
}

TimerId EventLoop::start_timer(Duration delay, TimerCallback callback) {
    const TimerId id = impl_->timers.start_timer(delay, std::move(callback));
    impl_->update_timerfd();
    return id;
}

void EventLoop::reserve(std::size_t count) {
    impl_->timers.reserve(count);
}

void EventLoop::cancel_timer(TimerId id) {
    impl_->timers.cancel_timer(id);
    impl_->update_timerfd();
}

const Clock& EventLoop::clock() const {
    return impl_->clock;
}

void EventLoop::post(std::function<void()> task) {
    {
        std::lock_guard lock(impl_->posted_mutex);
        impl_->posted.push_back(std::move(task));
    }
    impl_->wake();
}

Status EventLoop::run() {
    while (!impl_->stopped.load()) {
        if (auto s = run_once(-1); !s)
            return s;
    }
    return {};
}

Status EventLoop::run_once(int timeout_ms) {
    int timeout = timeout_ms;
    if (timeout != 0 && (impl_->timer_due() || impl_->has_posted()))
        timeout = 0;

    epoll_event events[kMaxEvents];
    int n = ::epoll_wait(impl_->epoll_fd.get(), events, kMaxEvents, timeout);
    if (n < 0) {
        if (errno != EINTR)
            return Error::from_errno("epoll_wait");
        n = 0;
    }
    for (int i = 0; i < n; ++i) impl_->dispatch(events[i]);
    impl_->timers.run_due();
    impl_->run_posted();
    impl_->update_timerfd();
    return {};
}

void EventLoop::stop() {
    impl_->stopped.store(true);
    impl_->wake();
}

bool EventLoop::stopped() const {
    return impl_->stopped.load();
}

}  // namespace pmip
