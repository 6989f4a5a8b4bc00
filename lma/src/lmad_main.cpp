// lmad: the Proxy Mobile IPv6 Local Mobility Anchor daemon (RFC 5213
// section 5, RFC 5845, RFC 5847).
//
// Wiring only (DESIGN.md section 2): the configuration (config.hpp), then
// run_daemon() (pmip/common/run_daemon.hpp: logging, the event loop and its
// signals, exit status) around LmaDaemon (lma_daemon.hpp), which builds and
// connects the adapters; at exit it removes every binding, route, tunnel and
// the control socket. SIGTERM / SIGINT stop, SIGHUP reloads the policy store.
// Exit status: 0 normal shutdown or clean --check, 1 configuration or
// start-up errors, 2 command-line usage errors. `lmad --help` is the manual.
//
// Threading: the loop thread. Counters: none here (see `pmipctl show counters`).
#include <string>
#include <vector>

#include "config.hpp"
#include "lma_daemon.hpp"
#include "pmip/common/run_daemon.hpp"

int main(int argc, char** argv) {
    using namespace pmip;
    const std::vector<std::string> args(argv + 1, argv + argc);
    const DaemonProgram program{"lmad", "[lma]", log::Category::kBce, PMIP_VERSION,
                                lma::help_text};
    return run_daemon<lma::LmaDaemon>(program, lma::load_config(args));
}
