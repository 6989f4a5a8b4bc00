// A daemon process's command-line answers and event loop. See
// pmip/common/run_daemon.hpp.
#include "pmip/common/run_daemon.hpp"

#include <csignal>
#include <iostream>

#include "pmip/common/clock.hpp"

namespace pmip {

std::optional<int> answer_command_line(const DaemonProgram& program, config::Action action,
                                       const std::string& usage_error,
                                       const std::vector<ConfigProblem>& problems,
                                       const std::string& config_file,
                                       const CheckNotes& check_notes) {
    const std::string name = program.name;
    switch (action) {
        case config::Action::kUsageError:
            std::cerr << name << ": " << usage_error << "\n"
                      << "usage: " << name << " [--config FILE] [--check] [--SECTION.KEY VALUE]...; "
                      << name << " --help for the manual\n";
            return 2;
        case config::Action::kHelp:
            std::cout << program.help_text();
            return 0;
        case config::Action::kVersion:
            std::cout << name << " " << program.version << "\n";
            return 0;
        case config::Action::kCheck:
            for (const auto& p : problems) std::cerr << p.to_string() << "\n";
            if (has_errors(problems))
                return 1;
            if (check_notes) {
                const auto notes = check_notes();
                if (!notes) {
                    std::cerr << name << ": " << notes.error().what << "\n";
                    return 1;
                }
                std::cout << (config_file.empty() ? std::string("configuration") : config_file)
                          << ": OK\n";
                for (const auto& line : *notes) std::cout << line << "\n";
                return 0;
            }
            std::cout << (config_file.empty() ? std::string("configuration") : config_file)
                      << ": OK\n";
            return 0;
        case config::Action::kRun:
            break;
    }
    for (const auto& p : problems) std::cerr << p.to_string() << "\n";
    if (has_errors(problems)) {
        std::cerr << name << ": configuration has errors; not starting (" << name
                  << " --check lists them)\n";
        return 1;
    }
    return std::nullopt;
}

int run_event_loop(const DaemonProgram& program, const DaemonControl& control) {
    const auto log_error = [&](const std::string& message) {
        PMIP_LOG(log::Level::kError, program.category, program.context, message);
    };
    static SteadyClock clock;
    auto loop = EventLoop::create(clock);
    if (!loop) {
        log_error("event loop: " + loop.error().what);
        return 1;
    }
    // Before any thread exists: the signals are blocked process-wide.
    for (const int signal_number : {SIGTERM, SIGINT}) {
        const Status st = (*loop)->on_signal(signal_number, [&](int s) {
            PMIP_LOG(log::Level::kInfo, program.category, program.context,
                     std::string("received ") + (s == SIGTERM ? "SIGTERM" : "SIGINT") +
                         "; shutting down");
            (*loop)->stop();
        });
        if (!st.ok()) {
            log_error("signal set-up: " + st.error().what);
            return 1;
        }
    }
    if (const Status st = (*loop)->on_signal(SIGHUP, [&](int) { control.reload(); }); !st.ok()) {
        log_error("signal set-up: " + st.error().what);
        return 1;
    }
    std::signal(SIGPIPE, SIG_IGN);

    if (const Status started = control.start(**loop); !started.ok()) {
        log_error("not started: " + started.error().what);
        return 1;
    }
    const Status ran = (*loop)->run();
    control.shutdown();
    if (!ran.ok()) {
        log_error("event loop failed: " + ran.error().what);
        return 1;
    }
    PMIP_LOG(log::Level::kInfo, program.category, program.context,
             std::string(program.name) + " stopped");
    return 0;
}

}  // namespace pmip
