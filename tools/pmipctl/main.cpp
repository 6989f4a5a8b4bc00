// pmipctl: command-line client of the magd / lmad control sockets
// (DESIGN.md section 6). Parses its options, turns the command words into a
// request (client.cpp), exchanges it, prints the result for people
// (output.cpp) or as JSON (--json).
//
// Exit status: 0 the daemon answered ok; 1 it answered {"ok":false} (the
// error on stderr); 2 usage errors and connection / protocol errors (the
// message names the socket path).
//
// Threading: single-threaded. Counters: none.
#include <sys/stat.h>

#include <cstdlib>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include "client.hpp"
#include "output.hpp"

namespace {

using namespace pmip::pmipctl;
using json = nlohmann::json;

constexpr int kExitOk = 0;
constexpr int kExitFailed = 1;
constexpr int kExitUsage = 2;

const char* help_text() {
    return R"(NAME
    pmipctl - query and steer the PMIPv6 daemons magd and lmad

SYNOPSIS
    pmipctl [--socket PATH | --daemon lmad|magd] [--json] [--timeout SECONDS] COMMAND...
    pmipctl [--socket PATH] --raw JSON
    pmipctl --help

DESCRIPTION
    pmipctl sends one request to a daemon's control socket (a UNIX socket
    speaking one JSON object per line) and prints the result: tables and
    "name value" lines by default, the daemon's JSON result with --json.

OPTIONS
    -s, --socket PATH
        Control socket. Default: $PMIPCTL_SOCKET if set; else the daemon the
        command belongs to (mns, bul, attach, detach, channel: magd; bindings,
        binding, peers, revoke: lmad); else whichever of
        /run/pmip/lmad.sock and /run/pmip/magd.sock exists (lmad first).
    -d, --daemon lmad|magd
        Shorthand for --socket /run/pmip/lmad.sock or /run/pmip/magd.sock.
    -j, --json
        Print the JSON result (the "result" member of the reply) as is.
    -t, --timeout SECONDS
        How long to wait for the reply (default 5).
    --raw JSON
        Send JSON (an object with a "command" member) unchanged and print
        the whole reply object.
    -h, --help
        This text.

COMMANDS
    show bindings [mag=ADDRESS]     lmad: Binding Cache (MN, prefixes, MAG,
                                    tunnel, state, remaining lifetime)
    show binding MN                 lmad: the sessions of one mobile node
    show tunnels                    tunnel devices, peers, keys, references
    show peers                      lmad: MAGs with bindings, heartbeat state
    show counters                   protocol, socket and control counters
    show mns                        magd: attached mobile nodes
    show bul                        magd: Binding Update List
    reload                          reload the policy store
    debug                           list the debug categories switched on
    debug CATEGORY on|off           mh bce bul tunnel route mld netlink ctl all
    log-level [LEVEL]               show or set: debug info warning error
    attach IFACE [MAC]              magd: a mobile node attached on IFACE
    detach IFACE                    magd: the mobile node on IFACE left
    channel add MN GROUP [SOURCE...]
                                    magd: join GROUP (from SOURCEs, or any
                                    source) on behalf of MN (its MAC or
                                    MN identifier) while it is attached:
                                    its profile's multicast_channels in
                                    magd's copy of the policy store,
                                    applied at once; the store file is not
                                    written, the next reload re-reads it
    channel remove MN GROUP [SOURCE...]
                                    magd: the channel (or those sources of
                                    it) no longer joined for MN; left
                                    upstream when no listener is left
    revoke mn MN [prefix=P/LEN] [trigger=T]
                                    lmad: Binding Revocation (RFC 5846): a
                                    BRI to the MN's MAG(s); T is a per-MN
                                    trigger number or name (default 1,
                                    administrative-reason); the binding goes
                                    on the BRA or after the last retry
    revoke mag ADDR [realm=REALM]   lmad: global BRI to MAG ADDR (trigger 128
                                    per-peer policy; with realm: trigger 129
                                    for the MNs whose NAI ends in @REALM)
    show revocations                lmad: BRIs waiting for their BRA
    show cmd                        lmad with [dmm] cmd: each MN's serving
                                    MAAR and previous MAARs (RFC 8885)
    show maar                       magd with mag.mode = maar: the MNs
                                    served (local and previous MAARs'
                                    prefixes) and the prefixes anchored
    help                            the commands the daemon implements
    WORDS... [key=value]...         any other command: the words are the
                                    command, key=value pairs its members
                                    (values parsed as JSON when valid)

EXIT STATUS
    0   the daemon answered {"ok":true}
    1   the daemon answered {"ok":false}; its error is printed on stderr
    2   usage error, or the socket could not be reached or answered garbage
        (the message names the socket path)

FILES
    /run/pmip/lmad.sock, /run/pmip/magd.sock   default control sockets

EXAMPLES
    pmipctl show bindings
    pmipctl --json show binding mn1@example.org
    pmipctl --socket /tmp/lmad.sock show counters
    pmipctl debug mh on
    pmipctl --daemon magd attach veth3 00:11:22:33:44:55
    pmipctl --daemon magd channel add 02:00:00:00:00:01 ff3e::8000:1 2001:db8:5::5
)";
}

bool exists(const std::string& path) {
    struct stat st {};
    return ::stat(path.c_str(), &st) == 0;
}

std::string default_socket(const json& request) {
    if (const char* env = std::getenv("PMIPCTL_SOCKET"); env && *env)
        return env;
    const std::string daemon = daemon_for(request);
    if (daemon == "magd")
        return kMagdSocket;
    if (daemon == "lmad")
        return kLmadSocket;
    if (exists(kLmadSocket))
        return kLmadSocket;
    if (exists(kMagdSocket))
        return kMagdSocket;
    return kLmadSocket;
}

int usage(const std::string& message) {
    std::cerr << "pmipctl: " << message << "\n"
              << "usage: pmipctl [--socket PATH] [--json] COMMAND...   (pmipctl --help)\n";
    return kExitUsage;
}

}  // namespace

int main(int argc, char** argv) {
    std::string socket_path;
    bool as_json = false;
    std::optional<std::string> raw;
    double timeout_seconds = 5;
    std::vector<std::string> words;
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        if (!words.empty()) {  // options end at the first command word
            words.push_back(arg);
            continue;
        }
        auto value = [&](const std::string& name) -> std::optional<std::string> {
            const std::string prefix = name + "=";
            if (arg.rfind(prefix, 0) == 0)
                return arg.substr(prefix.size());
            if (i + 1 >= argc)
                return std::nullopt;
            return std::string(argv[++i]);
        };
        auto is = [&](const char* long_name, const char* short_name) {
            return arg == long_name || (short_name && arg == short_name) ||
                   arg.rfind(std::string(long_name) + "=", 0) == 0;
        };
        if (arg == "--help" || arg == "-h") {
            std::cout << help_text();
            return kExitOk;
        } else if (is("--json", "-j")) {
            as_json = true;
        } else if (is("--socket", "-s")) {
            const auto v = value("--socket");
            if (!v || v->empty())
                return usage("--socket needs a PATH");
            socket_path = *v;
        } else if (is("--daemon", "-d")) {
            const auto v = value("--daemon");
            if (!v || (*v != "lmad" && *v != "magd"))
                return usage("--daemon needs lmad or magd");
            socket_path = *v == "lmad" ? kLmadSocket : kMagdSocket;
        } else if (is("--timeout", "-t")) {
            const auto v = value("--timeout");
            char* end = nullptr;
            timeout_seconds = v ? std::strtod(v->c_str(), &end) : 0;
            if (!v || end == v->c_str() || *end != '\0' || timeout_seconds <= 0 ||
                timeout_seconds > 3600) {
                return usage("--timeout needs a number of seconds (0 < T <= 3600)");
            }
        } else if (is("--raw", nullptr)) {
            const auto v = value("--raw");
            if (!v)
                return usage("--raw needs a JSON object");
            raw = *v;
        } else if (arg == "--") {
            continue;
        } else if (arg.size() > 1 && arg[0] == '-') {
            return usage("unknown option " + arg);
        } else {
            words.push_back(arg);
        }
    }

    json request;
    if (raw) {
        if (!words.empty())
            return usage("--raw takes no command words");
        request = json::parse(*raw, nullptr, false);
        if (request.is_discarded() || !request.is_object())
            return usage("--raw: not a JSON object");
    } else {
        try {
            request = request_for(words);
        } catch (const UsageError& e) {
            return usage(e.message);
        }
    }
    if (socket_path.empty())
        socket_path = default_socket(request);

    json reply;
    try {
        reply = exchange(socket_path, request,
                         std::chrono::milliseconds(static_cast<long long>(timeout_seconds * 1000)));
    } catch (const ConnectionError& e) {
        std::cerr << "pmipctl: " << e.message << "\n";
        return kExitUsage;
    }
    if (raw) {
        std::cout << reply.dump(2) << "\n";
        return reply["ok"].get<bool>() ? kExitOk : kExitFailed;
    }
    if (!reply["ok"].get<bool>()) {
        const json& error = reply.contains("error") ? reply["error"] : json("(no error message)");
        std::cerr << "pmipctl: " << (error.is_string() ? error.get<std::string>() : error.dump())
                  << "\n";
        return kExitFailed;
    }
    const json& result = reply.contains("result") ? reply["result"] : json(nullptr);
    if (as_json) {
        std::cout << result.dump(2) << "\n";
    } else {
        print_human(std::cout, request.value("command", ""), result);
    }
    return kExitOk;
}
