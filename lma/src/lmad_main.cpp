// lmad: the Proxy Mobile IPv6 Local Mobility Anchor daemon (RFC 5213
// section 5, RFC 5845, RFC 5847).
//
// Wiring only (DESIGN.md section 2): configuration (config.hpp), logging,
// the event loop and its signals (SIGTERM / SIGINT stop, SIGHUP reloads the
// policy store), then LmaDaemon (lma_daemon.hpp) builds and connects the
// adapters; at exit it removes every binding, route, tunnel and the control
// socket. Exit status: 0 normal shutdown or clean --check, 1 configuration or
// start-up errors, 2 command-line usage errors. `lmad --help` is the manual.
//
// Threading: the loop thread; signals are blocked before any thread starts
// (the userspace tunnel backend's data-plane thread inherits the mask).
// Counters: none here (see `pmipctl show counters`).
#include <csignal>
#include <iostream>
#include <string>
#include <vector>

#include "config.hpp"
#include "lma_daemon.hpp"
#include "pmip/common/clock.hpp"
#include "pmip/common/event_loop.hpp"
#include "pmip/common/log.hpp"

using namespace pmip;
using namespace pmip::lma;

int main(int argc, char** argv) {
    const std::vector<std::string> args(argv + 1, argv + argc);
    ConfigLoad load = load_config(args);
    switch (load.action) {
        case Action::kUsageError:
            std::cerr << "lmad: " << load.usage_error << "\n"
                      << "usage: lmad [--config FILE] [--check] [--SECTION.KEY VALUE]...; "
                         "lmad --help for the manual\n";
            return 2;
        case Action::kHelp:
            std::cout << help_text();
            return 0;
        case Action::kVersion:
            std::cout << "lmad " << PMIP_VERSION << "\n";
            return 0;
        case Action::kCheck:
            for (const auto& p : load.problems) std::cerr << p.to_string() << "\n";
            if (has_errors(load.problems))
                return 1;
            std::cout << (load.config.config_file.empty() ? std::string("configuration")
                                                          : load.config.config_file)
                      << ": OK\n";
            return 0;
        case Action::kRun:
            break;
    }
    for (const auto& p : load.problems) std::cerr << p.to_string() << "\n";
    if (has_errors(load.problems)) {
        std::cerr << "lmad: configuration has errors; not starting (lmad --check lists them)\n";
        return 1;
    }
    const LmadConfig& config = load.config;

    log::configure(config.log_sink, "lmad", config.log_level);
    for (const auto category : config.debug) log::enable_debug(category, true);

    static SteadyClock clock;
    auto loop = EventLoop::create(clock);
    if (!loop) {
        PMIP_ERROR(kBce, "[lma]", "event loop: " + loop.error().what);
        return 1;
    }
    std::unique_ptr<LmaDaemon> daemon;
    // Before any thread exists: the signals are blocked process-wide.
    for (const int signal_number : {SIGTERM, SIGINT}) {
        if (Status st = (*loop)->on_signal(signal_number,
                                           [&](int s) {
                                               PMIP_INFO(kBce, "[lma]",
                                                         std::string("received ") +
                                                             (s == SIGTERM ? "SIGTERM" : "SIGINT") +
                                                             "; shutting down");
                                               (*loop)->stop();
                                           });
            !st.ok()) {
            PMIP_ERROR(kBce, "[lma]", "signal set-up: " + st.error().what);
            return 1;
        }
    }
    if (Status st = (*loop)->on_signal(SIGHUP,
                                       [&](int) {
                                           if (!daemon)
                                               return;
                                           try {
                                               (void)daemon->reload();
                                           } catch (const std::exception&) {
                                               // reload() logged the problems.
                                           }
                                       });
        !st.ok()) {
        PMIP_ERROR(kBce, "[lma]", "signal set-up: " + st.error().what);
        return 1;
    }
    std::signal(SIGPIPE, SIG_IGN);

    auto started = LmaDaemon::start(config, **loop);
    if (!started) {
        PMIP_ERROR(kBce, "[lma]", "not started: " + started.error().what);
        return 1;
    }
    daemon = std::move(*started);
    const Status ran = (*loop)->run();
    daemon->shutdown();
    daemon.reset();
    if (!ran.ok()) {
        PMIP_ERROR(kBce, "[lma]", "event loop failed: " + ran.error().what);
        return 1;
    }
    PMIP_INFO(kBce, "[lma]", "lmad stopped");
    return 0;
}
