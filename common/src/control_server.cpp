// ControlServer: line-delimited JSON requests over a UNIX stream socket.
#include "pmip/common/control_server.hpp"

#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <map>
#include <string_view>
#include <unordered_map>
#include <utility>

#include "pmip/common/event_loop.hpp"
#include "pmip/common/log.hpp"

namespace pmip {
namespace {

using nlohmann::json;

constexpr std::size_t kReadChunk = 16 * 1024;
constexpr int kListenBacklog = 64;
constexpr std::size_t kAcceptsPerWake = 64;
constexpr Duration kAcceptPause = std::chrono::seconds(1);
constexpr std::size_t kMaxNameInMessage = 64;

// Untrusted text quoted in a reply or log line, cut to a readable length.
std::string shorten(std::string_view text) {
    if (text.size() <= kMaxNameInMessage)
        return std::string(text);
    return std::string(text.substr(0, kMaxNameInMessage)) + "...";
}

std::string joined(const std::vector<std::string_view>& names) {
    std::string out;
    for (const auto& n : names) {
        if (!out.empty())
            out += ", ";
        out += n;
    }
    return out;
}

json string_array(const std::vector<std::string_view>& names) {
    json out = json::array();
    for (const auto& n : names) out.push_back(std::string(n));
    return out;
}

json error_reply(std::string message) {
    return json{{"ok", false}, {"error", std::move(message)}};
}

std::string serialize(const json& reply) {
    // `replace` keeps a handler's invalid UTF-8 from throwing here.
    return reply.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
}

sockaddr_un unix_address(const std::string& path) {
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::memcpy(address.sun_path, path.data(), path.size());
    return address;
}

json debug_command(const json& request) {
    const bool has_category = request.contains("category");
    const bool has_enable = request.contains("enable");
    if (has_category || has_enable) {
        const std::string valid = "one of: all, " + joined(log::category_names());
        if (!has_category || !request["category"].is_string()) {
            throw ControlError("debug: \"category\" must be a category name (" + valid + ")");
        }
        bool on = false;
        const json& enable = request.contains("enable") ? request["enable"] : json{};
        if (enable.is_boolean()) {
            on = enable.get<bool>();
        } else if (enable.is_string() && (enable == "on" || enable == "off")) {
            on = enable == "on";
        } else {
            throw ControlError("debug: \"enable\" must be true or false");
        }
        const auto& category = request["category"].get_ref<const std::string&>();
        if (category == "all") {
            for (std::size_t i = 0; i < static_cast<std::size_t>(log::Category::kCount); ++i) {
                log::enable_debug(static_cast<log::Category>(i), on);
            }
        } else if (const auto c = log::category_from_name(category)) {
            log::enable_debug(*c, on);
        } else {
            throw ControlError("debug: unknown category \"" + shorten(category) + "\" (" + valid +
                               ")");
        }
        PMIP_INFO(kCtl, "[ctl]",
                  "debug " + category + (on ? " on" : " off") +
                      "; enabled: " + joined(log::enabled_categories()));
    }
    return json{{"enabled", string_array(log::enabled_categories())}};
}

json log_level_command(const json& request) {
    if (request.contains("level")) {
        const json& level = request["level"];
        const auto parsed = level.is_string()
                                ? log::level_from_name(level.get_ref<const std::string&>())
                                : std::nullopt;
        if (!parsed) {
            throw ControlError("log-level: \"level\" must be one of: debug, info, warning, error");
        }
        log::set_minimum_level(*parsed);
        PMIP_INFO(kCtl, "[ctl]", "log level " + std::string(log::name(*parsed)));
    }
    return json{{"level", std::string(log::name(log::minimum_level()))}};
}

}  // namespace

struct ControlServer::Impl {
    struct Client {
        int fd = -1;
        std::string context;  // "[ctl fd=7]"
        std::string in;       // bytes of the request line(s) not yet complete
        std::string out;      // reply bytes not yet sent, from out_sent on
        std::size_t out_sent = 0;
        bool closing = false;  // close once `out` is sent
        std::uint32_t events = EPOLLIN;
        bool pending_out() const { return out_sent < out.size(); }
    };

    Impl(EventLoop& l, std::string p) : loop(l), path(std::move(p)) {}

    ~Impl() {
        if (accept_timer != 0)
            loop.cancel_timer(accept_timer);
        for (auto& [fd, client] : clients) {
            loop.remove_fd(fd);
            ::close(fd);
        }
        clients.clear();
        if (listen_fd >= 0) {
            if (listening)
                loop.remove_fd(listen_fd);
            ::close(listen_fd);
        }
        if (owns_path) {
            // Only our own socket file: another daemon may have replaced it.
            struct stat st {};
            if (::stat(path.c_str(), &st) == 0 && st.st_dev == device && st.st_ino == inode) {
                ::unlink(path.c_str());
            }
        }
    }

    EventLoop& loop;
    std::string path;
    int listen_fd = -1;
    bool listening = false;  // listen_fd registered with the loop
    bool owns_path = false;
    dev_t device = 0;
    ino_t inode = 0;
    TimerId accept_timer = 0;

    std::map<std::string, Handler> handlers;
    std::unordered_map<int, std::unique_ptr<Client>> clients;

    std::uint64_t requests = 0;
    std::uint64_t errors = 0;
    std::uint64_t clients_refused = 0;
    std::uint64_t lines_too_long = 0;

    log::RateLimit problem_log{10, std::chrono::seconds(60)};

    Status bind_socket();
    Status start_listening();
    void on_listen_ready();
    void pause_accepting(const std::string& reason);
    void refuse(int fd);
    void on_client_event(int fd, std::uint32_t events);
    void read_client(Client& c);
    void process_lines(Client& c);
    void line_too_long(Client& c);
    json execute(std::string_view line, const std::string& context);
    bool flush(Client& c);
    void close_client(int fd, std::string_view why);
};

Status ControlServer::Impl::bind_socket() {
    const sockaddr_un address = unix_address(path);
    const std::string quoted = "control socket " + path;
    // At most twice: once, and once more after removing a stale socket file.
    for (int attempt = 0; attempt < 2; ++attempt) {
        const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0)
            return Error::from_errno("creating " + quoted);
        if (::bind(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0) {
            listen_fd = fd;
            struct stat st {};
            if (::stat(path.c_str(), &st) == 0) {
                owns_path = true;
                device = st.st_dev;
                inode = st.st_ino;
            }
            return {};
        }
        const int bind_errno = errno;
        ::close(fd);
        if (bind_errno != EADDRINUSE)
            return Error::from_errno("binding " + quoted, bind_errno);

        struct stat st {};
        if (::lstat(path.c_str(), &st) != 0)
            continue;  // vanished meanwhile: try again
        if (!S_ISSOCK(st.st_mode)) {
            return Error{EEXIST, quoted + ": the path exists and is not a socket; not removing it"};
        }
        // Is anybody accepting on it? Non-blocking, so a full backlog cannot stall us.
        const int probe = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (probe < 0)
            return Error::from_errno("creating a probe socket for " + quoted);
        const int rc =
            ::connect(probe, reinterpret_cast<const sockaddr*>(&address), sizeof address);
        const int connect_errno = errno;
        ::close(probe);
        if (rc == 0 || connect_errno == EAGAIN || connect_errno == EINPROGRESS) {
            return Error{EADDRINUSE, quoted + " is in use: another daemon is running?"};
        }
        if (connect_errno != ECONNREFUSED) {
            return Error::from_errno("probing the existing " + quoted, connect_errno);
        }
        PMIP_INFO(kCtl, "[ctl]", "removing stale " + quoted);
        if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
            return Error::from_errno("removing stale " + quoted);
        }
    }
    return Error{EADDRINUSE, quoted + ": could not replace the stale socket file"};
}

Status ControlServer::Impl::start_listening() {
    if (::listen(listen_fd, kListenBacklog) != 0) {
        return Error::from_errno("listening on control socket " + path);
    }
    if (auto s = loop.add_fd(listen_fd, EPOLLIN, [this](std::uint32_t) { on_listen_ready(); });
        !s) {
        return Error{s.error().code, "control socket " + path + ": " + s.error().what};
    }
    listening = true;
    return {};
}

void ControlServer::Impl::on_listen_ready() {
    for (std::size_t i = 0; i < kAcceptsPerWake; ++i) {
        const int fd = ::accept4(listen_fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return;
            // EMFILE, ENFILE, ENOBUFS, ENOMEM: the listener stays readable,
            // so stop watching it for a while instead of spinning.
            pause_accepting(Error::from_errno("accepting a control connection").what);
            return;
        }
        if (clients.size() >= kMaxClients) {
            refuse(fd);
            continue;
        }
        auto client = std::make_unique<Client>();
        client->fd = fd;
        client->context = "[ctl fd=" + std::to_string(fd) + "]";
        if (auto s = loop.add_fd(fd, EPOLLIN,
                                 [this, fd](std::uint32_t events) { on_client_event(fd, events); });
            !s) {
            if (problem_log.allow())
                PMIP_WARNING(kCtl, "[ctl]", s.error().what);
            ::close(fd);
            continue;
        }
        PMIP_DEBUG(kCtl, client->context, "client connected");
        clients.emplace(fd, std::move(client));
    }
}

void ControlServer::Impl::pause_accepting(const std::string& reason) {
    if (problem_log.allow()) {
        PMIP_WARNING(kCtl, "[ctl]", reason + "; not accepting for 1 s");
    }
    if (accept_timer != 0)
        return;
    loop.remove_fd(listen_fd);
    listening = false;
    accept_timer = loop.start_timer(kAcceptPause, [this] {
        accept_timer = 0;
        if (auto s = start_listening(); !s && problem_log.allow()) {
            PMIP_ERROR(kCtl, "[ctl]", s.error().what);
        }
    });
}

void ControlServer::Impl::refuse(int fd) {
    ++clients_refused;
    const std::string line = serialize(error_reply(
        "too many control connections (" + std::to_string(kMaxClients) + "); try again later"));
    [[maybe_unused]] const auto n =
        ::send(fd, line.data(), line.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    ::close(fd);
    PMIP_DEBUG(kCtl, "[ctl]",
               "refused a control connection: " + std::to_string(kMaxClients) + " open");
}

void ControlServer::Impl::on_client_event(int fd, std::uint32_t events) {
    const auto it = clients.find(fd);
    if (it == clients.end())
        return;
    Client& c = *it->second;
    const bool hangup = (events & (EPOLLHUP | EPOLLERR)) != 0;
    if (c.pending_out() && ((events & EPOLLOUT) != 0 || hangup)) {
        if (!flush(c))
            return;
        if (hangup && c.pending_out()) {
            close_client(fd, "hang-up with a reply pending");
            return;
        }
    }
    if (!c.pending_out() && !c.closing && ((events & EPOLLIN) != 0 || hangup))
        read_client(c);
}

void ControlServer::Impl::read_client(Client& c) {
    char buf[kReadChunk];
    const ssize_t n = ::recv(c.fd, buf, sizeof buf, 0);
    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
            return;
        close_client(c.fd, Error::from_errno("read").what);
        return;
    }
    if (n == 0) {
        // The client finished sending; an unterminated last line is still a request.
        if (!c.in.empty())
            c.in += '\n';
        process_lines(c);
        c.closing = true;
        flush(c);
        return;
    }
    c.in.append(buf, static_cast<std::size_t>(n));
    process_lines(c);
    flush(c);
}

void ControlServer::Impl::process_lines(Client& c) {
    std::size_t start = 0;
    while (!c.closing) {
        const auto newline = c.in.find('\n', start);
        if (newline == std::string::npos)
            break;
        if (newline - start > kMaxLineBytes) {
            line_too_long(c);
            break;
        }
        std::string_view line(c.in.data() + start, newline - start);
        start = newline + 1;
        if (!line.empty() && line.back() == '\r')
            line.remove_suffix(1);
        if (line.find_first_not_of(" \t") == std::string_view::npos)
            continue;  // blank line
        ++requests;
        const json reply = execute(line, c.context);
        std::string text;
        try {
            text = serialize(reply);
        } catch (const std::exception& e) {
            ++errors;
            text =
                serialize(error_reply(std::string("reply could not be serialized: ") + e.what()));
        }
        c.out += text;
    }
    if (c.closing) {
        c.in.clear();
        return;
    }
    c.in.erase(0, start);
    if (c.in.size() > kMaxLineBytes)
        line_too_long(c);
}

void ControlServer::Impl::line_too_long(Client& c) {
    ++lines_too_long;
    ++errors;
    c.out += serialize(error_reply("request line longer than " + std::to_string(kMaxLineBytes) +
                                   " bytes; closing the connection"));
    c.closing = true;
    c.in.clear();
    PMIP_DEBUG(kCtl, c.context, "request line too long; closing");
}

json ControlServer::Impl::execute(std::string_view line, const std::string& context) {
    auto fail = [&](std::string message) {
        ++errors;
        PMIP_DEBUG(kCtl, context, "error reply: " + message);
        return error_reply(std::move(message));
    };
    std::string command;
    try {
        const json request = json::parse(line.begin(), line.end(), nullptr, false);
        if (request.is_discarded())
            return fail("request is not valid JSON");
        if (!request.is_object()) {
            return fail(std::string("request must be a JSON object, not ") + request.type_name());
        }
        const auto member = request.find("command");
        if (member == request.end())
            return fail("request has no \"command\" member");
        if (!member->is_string())
            return fail("\"command\" must be a string");
        command = member->get<std::string>();
        const auto found = handlers.find(command);
        if (found == handlers.end()) {
            return fail("unknown command \"" + shorten(command) +
                        "\" (\"help\" lists the commands)");
        }
        PMIP_DEBUG(kCtl, context, "command " + shorten(command));
        const Handler handler = found->second;  // the handler may (re)register commands
        json result = handler(request);
        return json{{"ok", true}, {"result", std::move(result)}};
    } catch (const ControlError& e) {
        return fail(e.what());
    } catch (const std::exception& e) {
        if (problem_log.allow()) {
            PMIP_ERROR(kCtl, context, "command \"" + shorten(command) + "\" failed: " + e.what());
        }
        return fail("command \"" + shorten(command) + "\" failed: internal error: " + e.what());
    } catch (...) {
        if (problem_log.allow()) {
            PMIP_ERROR(kCtl, context, "command \"" + shorten(command) + "\" failed");
        }
        return fail("command \"" + shorten(command) + "\" failed: internal error");
    }
}

bool ControlServer::Impl::flush(Client& c) {
    while (c.pending_out()) {
        const ssize_t n = ::send(c.fd, c.out.data() + c.out_sent, c.out.size() - c.out_sent,
                                 MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                break;
            close_client(c.fd,
                         Error::from_errno("client went away before its reply was sent").what);
            return false;
        }
        c.out_sent += static_cast<std::size_t>(n);
    }
    if (!c.pending_out()) {
        c.out.clear();
        c.out_sent = 0;
        if (c.closing) {
            close_client(c.fd, "closed");
            return false;
        }
    }
    // While a reply is pending the client is not read: backpressure.
    const std::uint32_t wanted = c.pending_out() ? EPOLLOUT : EPOLLIN;
    if (wanted != c.events) {
        if (auto s = loop.modify_fd(c.fd, wanted); !s) {
            close_client(c.fd, s.error().what);
            return false;
        }
        c.events = wanted;
    }
    return true;
}

void ControlServer::Impl::close_client(int fd, std::string_view why) {
    const auto it = clients.find(fd);
    if (it == clients.end())
        return;
    PMIP_DEBUG(kCtl, it->second->context, "client gone: " + std::string(why));
    loop.remove_fd(fd);
    ::close(fd);
    clients.erase(it);
}

ControlServer::ControlServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

ControlServer::~ControlServer() = default;

Expected<std::unique_ptr<ControlServer>> ControlServer::create(EventLoop& loop,
                                                               const std::string& path,
                                                               mode_t mode) {
    if (path.empty() || path.size() >= sizeof(sockaddr_un::sun_path)) {
        return Error{ENAMETOOLONG, "control socket path \"" + path + "\" must be 1 to " +
                                       std::to_string(sizeof(sockaddr_un::sun_path) - 1) +
                                       " bytes long"};
    }
    auto impl = std::make_unique<Impl>(loop, path);
    if (auto s = impl->bind_socket(); !s)
        return s.error();
    // Before listen(): nobody can connect while the mode is still the umask's.
    if (::chmod(path.c_str(), mode) != 0) {
        return Error::from_errno("setting the mode of control socket " + path);
    }
    if (auto s = impl->start_listening(); !s)
        return s.error();

    std::unique_ptr<ControlServer> server(new ControlServer(std::move(impl)));
    ControlServer* self = server.get();
    server->handle("help", [self](const json&) {
        json commands = json::array();
        for (const auto& [name, handler] : self->impl_->handlers) commands.push_back(name);
        return json{{"commands", std::move(commands)}};
    });
    server->handle("debug", debug_command);
    server->handle("log-level", log_level_command);
    PMIP_INFO(kCtl, "[ctl]", "control socket listening on " + path);
    return server;
}

void ControlServer::handle(std::string command, Handler handler) {
    impl_->handlers[std::move(command)] = std::move(handler);
}

json ControlServer::counters() const {
    return json{{"requests", impl_->requests},
                {"errors", impl_->errors},
                {"clients_refused", impl_->clients_refused},
                {"lines_too_long", impl_->lines_too_long},
                {"clients", impl_->clients.size()}};
}

const std::string& ControlServer::path() const {
    return impl_->path;
}

}  // namespace pmip
