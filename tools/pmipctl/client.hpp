// pmipctl: the control-socket client (DESIGN.md section 6).
//
// Protocol (common/include/pmip/common/control_server.hpp): one JSON object
// per line to the daemon's UNIX socket, one reply line back:
//   {"ok":true,"result":...} or {"ok":false,"error":"..."}.
//
// request_for() turns the words of a command line into the request object;
// exchange() sends it and waits (poll, bounded by a timeout) for the reply.
//
// Threading: single-threaded tool. Counters: none.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace pmip::pmipctl {

inline constexpr const char* kLmadSocket = "/run/pmip/lmad.sock";
inline constexpr const char* kMagdSocket = "/run/pmip/magd.sock";

// A command line that cannot be turned into a request (exit status 2).
struct UsageError {
    std::string message;
};

// The request for `words` ("show", "binding", "mn1@example.org"), or throws
// UsageError. Words of the form key=value after the command become members
// (the value parsed as JSON when it is valid JSON, else kept as a string).
nlohmann::json request_for(const std::vector<std::string>& words);

// Which daemon a command belongs to: "magd", "lmad" or "" (either).
std::string daemon_for(const nlohmann::json& request);

// A failure to talk to the daemon (exit status 2); names the socket path.
struct ConnectionError {
    std::string message;
};

// Sends `request` to `socket_path` and returns the reply object, or throws
// ConnectionError.
nlohmann::json exchange(const std::string& socket_path, const nlohmann::json& request,
                        std::chrono::milliseconds timeout);

}  // namespace pmip::pmipctl
