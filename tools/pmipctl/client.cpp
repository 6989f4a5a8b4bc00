// pmipctl: requests from command words, and the socket exchange. See client.hpp.
#include "client.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace pmip::pmipctl {

using json = nlohmann::json;

namespace {

bool is_member(const std::string& word) {
    const auto eq = word.find('=');
    return eq != std::string::npos && eq > 0;
}

void add_members(json& request, const std::vector<std::string>& words, std::size_t from) {
    for (std::size_t i = from; i < words.size(); ++i) {
        if (!is_member(words[i])) {
            throw UsageError{"unexpected argument \"" + words[i] +
                             "\" (extra arguments are key=value members)"};
        }
        const auto eq = words[i].find('=');
        const std::string key = words[i].substr(0, eq);
        const std::string text = words[i].substr(eq + 1);
        json value = json::parse(text, nullptr, false);
        request[key] = value.is_discarded() ? json(text) : value;
    }
}

std::string describe_errno(int e) {
    return std::strerror(e);
}

}  // namespace

json request_for(const std::vector<std::string>& words) {
    if (words.empty())
        throw UsageError{"no command given"};
    const std::string& first = words[0];
    json r = json::object();
    if (first == "show") {
        if (words.size() < 2)
            throw UsageError{
                "show what? (bindings, binding MN, tunnels, peers, counters, mns, bul)"};
        const std::string& what = words[1];
        r["command"] = "show " + what;
        if (what == "binding") {
            if (words.size() < 3 || is_member(words[2]))
                throw UsageError{"show binding MN: which mobile node?"};
            r["mn"] = words[2];
            add_members(r, words, 3);
        } else {
            add_members(r, words, 2);
        }
        return r;
    }
    if (first == "debug") {
        r["command"] = "debug";
        if (words.size() == 1)
            return r;
        if (words.size() != 3 || (words[2] != "on" && words[2] != "off")) {
            throw UsageError{"usage: debug [CATEGORY on|off]"};
        }
        r["category"] = words[1];
        r["enable"] = words[2] == "on";
        return r;
    }
    if (first == "log-level") {
        r["command"] = "log-level";
        if (words.size() > 2)
            throw UsageError{"usage: log-level [debug|info|warning|error]"};
        if (words.size() == 2)
            r["level"] = words[1];
        return r;
    }
    if (first == "attach") {
        if (words.size() < 2 || words.size() > 3 || is_member(words[1])) {
            throw UsageError{"usage: attach IFACE [MAC]"};
        }
        r["command"] = "attach";
        r["interface"] = words[1];
        if (words.size() == 3)
            r["mac"] = words[2];
        return r;
    }
    if (first == "detach") {
        if (words.size() != 2 || is_member(words[1]))
            throw UsageError{"usage: detach IFACE"};
        r["command"] = "detach";
        r["interface"] = words[1];
        return r;
    }
    if (first == "channel") {
        // channel add|remove MN GROUP [SOURCE...] (magd).
        if (words.size() < 4 || (words[1] != "add" && words[1] != "remove"))
            throw UsageError{"usage: channel add|remove MN GROUP [SOURCE...]"};
        r["command"] = "channel " + words[1];
        r["mn"] = words[2];
        r["group"] = words[3];
        json sources = json::array();
        for (std::size_t i = 4; i < words.size(); ++i) sources.push_back(words[i]);
        if (!sources.empty())
            r["sources"] = sources;
        return r;
    }
    if (first == "revoke") {
        // revoke mn MN | revoke mag ADDRESS, then optional key=value members.
        r["command"] = "revoke";
        if (words.size() >= 3 && (words[1] == "mn" || words[1] == "mag")) {
            r[words[1]] = words[2];
            add_members(r, words, 3);
        } else {
            add_members(r, words, 1);
        }
        return r;
    }
    // Anything else passes through: the command is the words up to the first
    // key=value member ("reload", "help", "show pools", ...).
    std::string command;
    std::size_t i = 0;
    for (; i < words.size() && !is_member(words[i]); ++i)
        command += (command.empty() ? "" : " ") + words[i];
    if (command.empty())
        throw UsageError{"no command before \"" + words[0] + "\""};
    r["command"] = command;
    add_members(r, words, i);
    return r;
}

std::string daemon_for(const json& request) {
    const std::string command = request.value("command", "");
    if (command == "show mns" || command == "show bul" || command == "attach" ||
        command == "detach" || command == "channel add" || command == "channel remove" ||
        command == "show maar") {
        return "magd";
    }
    if (command == "show bindings" || command == "show binding" || command == "show peers" ||
        command == "show revocations" || command == "revoke" || command == "show cmd") {
        return "lmad";
    }
    return "";
}

json exchange(const std::string& socket_path, const json& request,
              std::chrono::milliseconds timeout) {
    auto fail = [&](const std::string& what) { return ConnectionError{socket_path + ": " + what}; };
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    if (socket_path.size() >= sizeof address.sun_path)
        throw fail("path too long for a UNIX socket");
    std::memcpy(address.sun_path, socket_path.data(), socket_path.size());
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        throw fail("socket: " + describe_errno(errno));
    struct Closer {
        int fd;
        ~Closer() { ::close(fd); }
    } closer{fd};
    if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
        const int e = errno;
        std::string hint;
        if (e == ENOENT || e == ECONNREFUSED)
            hint = " (is the daemon running? --socket PATH names another socket)";
        if (e == EACCES)
            hint = " (permission denied: run as root or as a member of the socket's group)";
        throw fail("cannot connect: " + describe_errno(e) + hint);
    }
    const std::string line = request.dump() + "\n";
    std::size_t sent = 0;
    while (sent < line.size()) {
        const ssize_t n = ::send(fd, line.data() + sent, line.size() - sent, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            throw fail("sending the request: " + describe_errno(errno));
        }
        sent += static_cast<std::size_t>(n);
    }
    std::string reply;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    char buffer[65536];
    for (;;) {
        const auto newline = reply.find('\n');
        if (newline != std::string::npos) {
            reply.resize(newline);
            break;
        }
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0)
            throw fail("no reply within " + std::to_string(timeout.count()) + " ms");
        pollfd p{fd, POLLIN, 0};
        const int ready = ::poll(&p, 1, static_cast<int>(left.count()));
        if (ready < 0) {
            if (errno == EINTR)
                continue;
            throw fail("poll: " + describe_errno(errno));
        }
        if (ready == 0)
            continue;
        const ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            throw fail("reading the reply: " + describe_errno(errno));
        }
        if (n == 0) {
            if (reply.empty())
                throw fail("the daemon closed the connection without a reply");
            break;
        }
        reply.append(buffer, static_cast<std::size_t>(n));
    }
    json parsed = json::parse(reply, nullptr, false);
    if (parsed.is_discarded() || !parsed.is_object() || !parsed.contains("ok") ||
        !parsed["ok"].is_boolean()) {
        throw fail("reply is not a control-protocol object: " + reply.substr(0, 200));
    }
    return parsed;
}

}  // namespace pmip::pmipctl
