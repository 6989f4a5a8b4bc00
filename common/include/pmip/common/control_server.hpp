// The control socket: a UNIX stream socket on the EventLoop through which
// pmipctl (and tests, and AP controllers) query and steer a daemon.
//
// DESIGN.md section 6 (control, observability); STYLE.md "Errors": requests
// are untrusted input, so nothing a client sends can crash the daemon or
// throw through the loop; bad requests are answered, counted, and logged at
// debug level (category ctl).
//
// Protocol: one JSON object per line, one reply line per request, in order.
//   request  {"command":"show bindings", ...other members are arguments}
//   reply    {"ok":true,"result":<json>}
//         or {"ok":false,"error":"<message naming the problem>"}
// Built-in commands (a daemon may replace them with handle()):
//   help       -> {"commands":[...]}  every registered command
//   debug      {"category":"tunnel"|"all","enable":true|false}; without
//              arguments only lists -> {"enabled":["tunnel",...]}
//   log-level  {"level":"debug"|"info"|"warning"|"error"} (optional)
//              -> {"level":"info"}
//
// Limits: at most kMaxClients connections (one more gets an error line and is
// closed); a request line longer than kMaxLineBytes gets an error line and its
// connection is closed; a client that stops reading its replies is not read
// from until they drain (EPOLLOUT), so it cannot grow our buffers without
// bound. Sockets are non-blocking; replies use MSG_NOSIGNAL (no SIGPIPE).
//
// Start-up: a stale socket file (nothing accepting on it) is replaced; a live
// one is an error naming the path ("another daemon is running?"); a path that
// is not a socket is never removed. The file is chmod-ed to `mode` before
// listen() and unlinked on destruction if it is still ours.
//
// Threading: loop thread only; handlers run on the loop thread. The loop
// must outlive the server; do not destroy the server from inside one of its
// own handlers (do it from a posted task or after run() returns).
// Counters (counters()): requests, errors (error replies), clients_refused,
// lines_too_long, clients (connected now).
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>

#include <nlohmann/json.hpp>

#include "pmip/common/result.hpp"

namespace pmip {

class EventLoop;

// Thrown by a command handler to answer {"ok":false,"error":what()}.
class ControlError : public std::runtime_error {
  public:
    explicit ControlError(const std::string& message) : std::runtime_error(message) {}
};

class ControlServer {
  public:
    using Handler = std::function<nlohmann::json(const nlohmann::json& request)>;

    static constexpr std::size_t kMaxClients = 64;
    static constexpr std::size_t kMaxLineBytes = 64 * 1024;

    static Expected<std::unique_ptr<ControlServer>> create(EventLoop& loop, const std::string& path,
                                                           mode_t mode = 0660);
    ~ControlServer();
    ControlServer(const ControlServer&) = delete;
    ControlServer& operator=(const ControlServer&) = delete;

    // Registers (or replaces) `command`. The handler gets the whole request
    // object; what it returns becomes "result". It may throw ControlError for
    // an error reply; any other exception is logged and answered as an error.
    void handle(std::string command, Handler handler);

    // {"requests":N,"errors":N,"clients_refused":N,"lines_too_long":N,"clients":N}
    nlohmann::json counters() const;
    const std::string& path() const;

  private:
    struct Impl;
    explicit ControlServer(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

}  // namespace pmip
