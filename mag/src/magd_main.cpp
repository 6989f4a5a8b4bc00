// magd: the Proxy Mobile IPv6 Mobile Access Gateway daemon (RFC 5213
// section 6, RFC 5845, RFC 5846, RFC 5847, RFC 6543).
//
// Wiring only (DESIGN.md section 2): the configuration (config.hpp), then
// run_daemon() (pmip/common/run_daemon.hpp: logging, the event loop and its
// signals, exit status) around MagDaemon (mag_daemon.hpp), which builds and
// connects the adapters; at exit it removes every route, rule, tunnel and the
// control socket and restores the access devices. SIGTERM / SIGINT stop,
// SIGHUP reloads the policy store. Exit status: 0 normal shutdown or clean
// --check, 1 configuration or start-up errors, 2 usage errors.
// `magd --help` is the manual.
//
// Threading: the loop thread. Counters: none here (see `pmipctl show counters`).
#include <string>
#include <vector>

#include "config.hpp"
#include "mag_daemon.hpp"
#include "pmip/common/run_daemon.hpp"

int main(int argc, char** argv) {
    using namespace pmip;
    const std::vector<std::string> args(argv + 1, argv + argc);
    const DaemonProgram program{"magd", "[mag]", log::Category::kBul, PMIP_VERSION,
                                mag::help_text};
    return run_daemon<mag::MagDaemon>(program, mag::load_config(args));
}
