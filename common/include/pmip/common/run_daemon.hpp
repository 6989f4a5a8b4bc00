// The life of a PMIPv6 daemon process, shared by lmad and magd: what the
// command line asks for (--help, --version, --check, a usage error), the
// configuration's problems, logging, then the event loop and its signals
// (SIGTERM / SIGINT stop, SIGHUP reloads the policy store) around the
// daemon's start, run and shutdown. Each daemon's main() is wiring only: it
// loads its configuration and calls run_daemon().
//
// Exit status: 0 normal shutdown or clean --check, 1 configuration or
// start-up errors, 2 command-line usage errors.
//
// Threading: the loop thread; signals are blocked before any thread starts
// (the userspace tunnel backend's data-plane thread inherits the mask).
// Counters: none here (see `pmipctl show counters`).
#pragma once

#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "pmip/common/config_file.hpp"
#include "pmip/common/event_loop.hpp"
#include "pmip/common/log.hpp"
#include "pmip/common/result.hpp"

namespace pmip {

// Which daemon runs: its names in messages and logs.
struct DaemonProgram {
    const char* name;           // "lmad": messages, the usage line, the log ident
    const char* context;        // "[lma]": prefix of its start-up and shutdown log lines
    log::Category category;     // category of those lines
    const char* version;        // printed by --version
    std::string (*help_text)();  // the manual printed by --help
};

// What the event loop drives: start() builds and connects the daemon on the
// loop, reload() runs on SIGHUP (once started), shutdown() after the loop stops.
struct DaemonControl {
    std::function<Status(EventLoop&)> start;
    std::function<void()> reload;
    std::function<void()> shutdown;
};

// Answers --help, --version, a usage error or --check, or prints the
// configuration's problems: the exit status when the process is done,
// nullopt when the daemon is to run.
// With --check and no configuration error, `check_notes` (when set) gives
// the lines printed after "OK" (e.g. the multicast forwarding backend this
// machine would use), or an error that fails the check instead.
using CheckNotes = std::function<Expected<std::vector<std::string>>()>;
std::optional<int> answer_command_line(const DaemonProgram& program, config::Action action,
                                       const std::string& usage_error,
                                       const std::vector<ConfigProblem>& problems,
                                       const std::string& config_file,
                                       const CheckNotes& check_notes = {});

// Creates the event loop and its signals, starts the daemon, runs until
// SIGTERM or SIGINT and shuts it down; the exit status.
int run_event_loop(const DaemonProgram& program, const DaemonControl& control);

// A daemon's whole main() after loading its configuration. Daemon has
// `static Expected<std::unique_ptr<Daemon>> start(Config, EventLoop&)`,
// reload() and shutdown(); Config has config_file, log_sink, log_level and
// debug.
// With --check, a Config that has `Expected<std::vector<std::string>>
// check_notes() const` adds its lines after "OK" (e.g. the multicast
// forwarding backend this machine would use), or fails the check with its
// error.
template <typename Daemon, typename Config>
int run_daemon(const DaemonProgram& program, const config::Load<Config>& load) {
    CheckNotes notes;
    if constexpr (requires(const Config& c) { c.check_notes(); })
        notes = [&] { return load.config.check_notes(); };
    if (const auto status = answer_command_line(program, load.action, load.usage_error,
                                                load.problems, load.config.config_file, notes)) {
        return *status;
    }
    const Config& config = load.config;
    log::configure(config.log_sink, program.name, config.log_level);
    for (const auto category : config.debug) log::enable_debug(category, true);

    std::unique_ptr<Daemon> daemon;
    return run_event_loop(program, {
        .start = [&](EventLoop& loop) -> Status {
            auto started = Daemon::start(config, loop);
            if (!started)
                return started.error();
            daemon = std::move(*started);
            return {};
        },
        .reload = [&] {
            if (!daemon)
                return;
            try {
                (void)daemon->reload();
            } catch (const std::exception&) {
                // reload() logged the problems.
            }
        },
        .shutdown = [&] {
            daemon->shutdown();
            daemon.reset();
        },
    });
}

}  // namespace pmip
