// magd: the Proxy Mobile IPv6 Mobile Access Gateway daemon (RFC 5213
// section 6, RFC 5845, RFC 5846, RFC 5847, RFC 6543).
//
// Wiring only (DESIGN.md section 2): configuration (config.hpp), logging,
// the event loop and its signals (SIGTERM / SIGINT stop, SIGHUP reloads the
// policy store), then MagDaemon (mag_daemon.hpp) builds and connects the
// adapters; at exit it removes every route, rule, tunnel and the control
// socket and restores the access devices. Exit status: 0 normal shutdown or
// clean --check, 1 configuration or start-up errors, 2 usage errors.
// `magd --help` is the manual.
//
// Threading: the loop thread; signals are blocked before any thread starts.
// Counters: none here (see `pmipctl show counters`).
#include <csignal>
#include <iostream>
#include <string>
#include <vector>

#include "config.hpp"
#include "mag_daemon.hpp"
#include "pmip/common/clock.hpp"
#include "pmip/common/event_loop.hpp"
#include "pmip/common/log.hpp"

using namespace pmip;
using namespace pmip::mag;

int main(int argc, char** argv) {
    const std::vector<std::string> args(argv + 1, argv + argc);
    ConfigLoad load = load_config(args);
    switch (load.action) {
        case Action::kUsageError:
            std::cerr << "magd: " << load.usage_error << "\n"
                      << "usage: magd [--config FILE] [--check] [--SECTION.KEY VALUE]...; "
                         "magd --help for the manual\n";
            return 2;
        case Action::kHelp:
            std::cout << help_text();
            return 0;
        case Action::kVersion:
            std::cout << "magd " << PMIP_VERSION << "\n";
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
        std::cerr << "magd: configuration has errors; not starting (magd --check lists them)\n";
        return 1;
    }
    const MagdConfig& config = load.config;
    log::configure(config.log_sink, "magd", config.log_level);
    for (const auto category : config.debug) log::enable_debug(category, true);

    static SteadyClock clock;
    auto loop = EventLoop::create(clock);
    if (!loop) {
        PMIP_ERROR(kBul, "[mag]", "event loop: " + loop.error().what);
        return 1;
    }
    std::unique_ptr<MagDaemon> daemon;
    for (const int signal_number : {SIGTERM, SIGINT}) {
        if (Status st = (*loop)->on_signal(signal_number,
                                           [&](int s) {
                                               PMIP_INFO(kBul, "[mag]",
                                                         std::string("received ") +
                                                             (s == SIGTERM ? "SIGTERM" : "SIGINT") +
                                                             "; shutting down");
                                               (*loop)->stop();
                                           });
            !st.ok()) {
            PMIP_ERROR(kBul, "[mag]", "signal set-up: " + st.error().what);
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
        PMIP_ERROR(kBul, "[mag]", "signal set-up: " + st.error().what);
        return 1;
    }
    std::signal(SIGPIPE, SIG_IGN);

    auto started = MagDaemon::start(config, **loop);
    if (!started) {
        PMIP_ERROR(kBul, "[mag]", "not started: " + started.error().what);
        return 1;
    }
    daemon = std::move(*started);
    const Status ran = (*loop)->run();
    daemon->shutdown();
    daemon.reset();
    if (!ran.ok()) {
        PMIP_ERROR(kBul, "[mag]", "event loop failed: " + ran.error().what);
        return 1;
    }
    PMIP_INFO(kBul, "[mag]", "magd stopped");
    return 0;
}
