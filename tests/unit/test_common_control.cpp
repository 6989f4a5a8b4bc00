// Unit tests of the control socket: the request/reply protocol, built-in
// commands, every kind of bad input, connection limits, partial writes and
// clients that disappear, socket file handling.
#include <catch2/catch.hpp>

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "pmip/common/clock.hpp"
#include "pmip/common/control_server.hpp"
#include "pmip/common/event_loop.hpp"
#include "pmip/common/log.hpp"

using namespace std::chrono_literals;
using nlohmann::json;
using pmip::ControlError;
using pmip::ControlServer;
using pmip::EventLoop;

namespace {

constexpr auto kWaitLimit = 10s;  // passing it fails the test

class TempDir {
  public:
    TempDir() {
        char name[] = "/tmp/pmip-ctl-XXXXXX";
        REQUIRE(::mkdtemp(name) != nullptr);
        path_ = name;
    }
    ~TempDir() {
        std::error_code ignored;
        std::filesystem::remove_all(path_, ignored);
    }
    std::string file(const std::string& name) const { return path_ + "/" + name; }

  private:
    std::string path_;
};

template <typename Predicate>
void run_until(EventLoop& loop, Predicate done, const char* what) {
    const auto limit = std::chrono::steady_clock::now() + kWaitLimit;
    while (!done()) {
        if (std::chrono::steady_clock::now() > limit)
            FAIL("deadline passed waiting for " << what);
        REQUIRE(loop.run_once(5).ok());
    }
}

// A non-blocking client whose waits turn the server's loop.
class Client {
  public:
    Client(EventLoop& loop, const std::string& path) : loop_(loop) {
        fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        REQUIRE(fd_ >= 0);
        sockaddr_un address{};
        address.sun_family = AF_UNIX;
        std::strncpy(address.sun_path, path.c_str(), sizeof address.sun_path - 1);
        REQUIRE(::connect(fd_, reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0);
    }
    ~Client() { close(); }
    Client(const Client&) = delete;
    Client& operator=(const Client&) = delete;

    void close() {
        if (fd_ >= 0)
            ::close(fd_);
        fd_ = -1;
    }

    // False if the server closed the connection before taking everything.
    bool send_all(std::string_view data) {
        const auto limit = std::chrono::steady_clock::now() + kWaitLimit;
        while (!data.empty()) {
            const ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
            if (n > 0) {
                data.remove_prefix(static_cast<std::size_t>(n));
                continue;
            }
            if (errno == EPIPE || errno == ECONNRESET)
                return false;
            REQUIRE((errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR));
            if (std::chrono::steady_clock::now() > limit)
                FAIL("deadline passed sending");
            REQUIRE(loop_.run_once(5).ok());
        }
        return true;
    }

    void send_line(const std::string& line) { REQUIRE(send_all(line + "\n")); }

    // The next reply line, or nullopt when the server closed the connection.
    std::optional<std::string> read_line() {
        const auto limit = std::chrono::steady_clock::now() + kWaitLimit;
        for (;;) {
            const auto newline = buffer_.find('\n');
            if (newline != std::string::npos) {
                std::string line = buffer_.substr(0, newline);
                buffer_.erase(0, newline + 1);
                return line;
            }
            if (eof_)
                return std::nullopt;
            fill();
            if (std::chrono::steady_clock::now() > limit)
                FAIL("deadline passed reading a reply");
            REQUIRE(loop_.run_once(5).ok());
        }
    }

    json read_reply() {
        const auto line = read_line();
        REQUIRE(line.has_value());
        const json reply = json::parse(*line, nullptr, false);
        REQUIRE_FALSE(reply.is_discarded());
        REQUIRE(reply.is_object());
        REQUIRE(reply.contains("ok"));
        return reply;
    }

    json request(const json& request) {
        send_line(request.dump());
        return read_reply();
    }

    // Waits until the server has closed the connection (EOF or reset).
    void wait_closed() {
        const auto limit = std::chrono::steady_clock::now() + kWaitLimit;
        while (!eof_) {
            fill();
            if (std::chrono::steady_clock::now() > limit)
                FAIL("deadline passed waiting for close");
            REQUIRE(loop_.run_once(5).ok());
        }
    }

    int fd() const { return fd_; }

  private:
    void fill() {
        char buf[65536];
        for (;;) {
            const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
            if (n > 0) {
                buffer_.append(buf, static_cast<std::size_t>(n));
                continue;
            }
            if (n == 0 || errno == ECONNRESET)
                eof_ = true;
            return;
        }
    }

    EventLoop& loop_;
    int fd_ = -1;
    std::string buffer_;
    bool eof_ = false;
};

struct Fixture {
    Fixture() {
        pmip::log::configure(pmip::log::Sink::kNone, "pmip-test", pmip::log::Level::kInfo);
        auto l = EventLoop::create(clock);
        if (!l)
            FAIL(l.error().what);
        loop = std::move(*l);
        path = dir.file("ctl.sock");
        auto s = ControlServer::create(*loop, path);
        if (!s)
            FAIL(s.error().what);
        server = std::move(*s);
        server->handle("show bindings", [](const json& request) {
            return json{{"count", 2}, {"mn", request.value("mn", "")}};
        });
    }

    std::uint64_t counter(const char* name) const {
        return server->counters()[name].get<std::uint64_t>();
    }

    pmip::SteadyClock clock;
    TempDir dir;
    std::unique_ptr<EventLoop> loop;
    std::string path;
    std::unique_ptr<ControlServer> server;
};

void check_error(const json& reply, const std::string& needle) {
    INFO(reply.dump());
    CHECK(reply["ok"] == false);
    REQUIRE(reply.contains("error"));
    REQUIRE(reply["error"].is_string());
    CHECK(reply["error"].get<std::string>().find(needle) != std::string::npos);
}

}  // namespace

TEST_CASE("control: a registered command gets its request and answers ok/result",
          "[common][control]") {
    Fixture f;
    Client c(*f.loop, f.path);
    const json reply = c.request({{"command", "show bindings"}, {"mn", "00:11:22:33:44:55"}});
    CHECK(reply == json{{"ok", true}, {"result", {{"count", 2}, {"mn", "00:11:22:33:44:55"}}}});
    CHECK(f.counter("requests") == 1);
    CHECK(f.counter("errors") == 0);
}

TEST_CASE("control: help lists built-in and registered commands", "[common][control]") {
    Fixture f;
    Client c(*f.loop, f.path);
    const json reply = c.request({{"command", "help"}});
    REQUIRE(reply["ok"] == true);
    CHECK(reply["result"]["commands"] == json{"debug", "help", "log-level", "show bindings"});
}

TEST_CASE("control: debug switches log categories on and off", "[common][control]") {
    Fixture f;
    pmip::log::enable_debug(pmip::log::Category::kTunnel, false);
    Client c(*f.loop, f.path);

    json reply = c.request({{"command", "debug"}, {"category", "tunnel"}, {"enable", true}});
    REQUIRE(reply["ok"] == true);
    CHECK(pmip::log::debug_enabled(pmip::log::Category::kTunnel));
    CHECK(reply["result"]["enabled"] == json{"tunnel"});

    reply = c.request({{"command", "debug"}, {"category", "tunnel"}, {"enable", false}});
    REQUIRE(reply["ok"] == true);
    CHECK_FALSE(pmip::log::debug_enabled(pmip::log::Category::kTunnel));
    CHECK(reply["result"]["enabled"] == json::array());

    reply = c.request({{"command", "debug"}, {"category", "all"}, {"enable", true}});
    REQUIRE(reply["ok"] == true);
    CHECK(reply["result"]["enabled"].size() == pmip::log::category_names().size());
    CHECK(pmip::log::debug_enabled(pmip::log::Category::kMld));

    reply = c.request({{"command", "debug"}, {"category", "all"}, {"enable", false}});
    CHECK(reply["result"]["enabled"] == json::array());
    CHECK_FALSE(pmip::log::debug_enabled(pmip::log::Category::kMld));

    check_error(c.request({{"command", "debug"}, {"category", "nope"}, {"enable", true}}),
                "unknown category \"nope\"");
    check_error(c.request({{"command", "debug"}, {"category", "mh"}, {"enable", 3}}),
                "\"enable\" must be true or false");
    check_error(c.request({{"command", "debug"}, {"enable", true}}), "\"category\"");
    // Without arguments: only the list.
    reply = c.request({{"command", "debug"}});
    CHECK(reply["result"]["enabled"] == json::array());
}

TEST_CASE("control: log-level reads and sets the minimum level", "[common][control]") {
    Fixture f;
    Client c(*f.loop, f.path);
    CHECK(c.request({{"command", "log-level"}})["result"]["level"] == "info");
    CHECK(c.request({{"command", "log-level"}, {"level", "warning"}})["result"]["level"] ==
          "warning");
    CHECK(pmip::log::minimum_level() == pmip::log::Level::kWarning);
    check_error(c.request({{"command", "log-level"}, {"level", "loud"}}), "\"level\"");
    pmip::log::set_minimum_level(pmip::log::Level::kInfo);
}

TEST_CASE("control: bad requests get an error reply and the connection stays open",
          "[common][control]") {
    Fixture f;
    Client c(*f.loop, f.path);

    c.send_line(std::string("\x00\xff\xfe\x01garbage", 11));
    check_error(c.read_reply(), "not valid JSON");
    c.send_line("{");
    check_error(c.read_reply(), "not valid JSON");
    c.send_line("[1,2]");
    check_error(c.read_reply(), "must be a JSON object");
    c.send_line("\"command\"");
    check_error(c.read_reply(), "must be a JSON object");
    c.send_line("{}");
    check_error(c.read_reply(), "no \"command\"");
    c.send_line(R"({"command":5})");
    check_error(c.read_reply(), "\"command\" must be a string");
    c.send_line(R"({"command":"show nothing"})");
    check_error(c.read_reply(), "unknown command \"show nothing\"");
    c.send_line("\"\xc3\x28\"");  // invalid UTF-8
    check_error(c.read_reply(), "not valid JSON");

    CHECK(f.counter("requests") == 8);
    CHECK(f.counter("errors") == 8);
    // Blank lines are ignored, and the same connection still works.
    c.send_line("");
    c.send_line("\r");
    CHECK(c.request({{"command", "show bindings"}})["ok"] == true);
    CHECK(f.counter("requests") == 9);
    CHECK(f.counter("errors") == 8);
}

TEST_CASE("control: several requests in one write are answered in order", "[common][control]") {
    Fixture f;
    Client c(*f.loop, f.path);
    REQUIRE(
        c.send_all("{\"command\":\"show bindings\",\"mn\":\"a\"}\r\n{\"command\":\"x\"}\n"
                   "{\"command\":\"show bindings\",\"mn\":\"b\"}\n"));
    CHECK(c.read_reply()["result"]["mn"] == "a");
    check_error(c.read_reply(), "unknown command");
    CHECK(c.read_reply()["result"]["mn"] == "b");
}

TEST_CASE("control: a last request without newline is answered when the client stops sending",
          "[common][control]") {
    Fixture f;
    Client c(*f.loop, f.path);
    REQUIRE(c.send_all(R"({"command":"help"})"));
    REQUIRE(::shutdown(c.fd(), SHUT_WR) == 0);
    CHECK(c.read_reply()["ok"] == true);
    c.wait_closed();
}

TEST_CASE("control: handler exceptions become error replies", "[common][control]") {
    Fixture f;
    f.server->handle("fails",
                     [](const json&) -> json { throw ControlError("no binding for MN x"); });
    f.server->handle("breaks", [](const json& request) -> json {
        return request.at("missing");  // nlohmann throws out_of_range
    });
    f.server->handle("throws int", [](const json&) -> json { throw 42; });
    Client c(*f.loop, f.path);
    check_error(c.request({{"command", "fails"}}), "no binding for MN x");
    check_error(c.request({{"command", "breaks"}}), "internal error");
    check_error(c.request({{"command", "throws int"}}), "internal error");
    CHECK(c.request({{"command", "show bindings"}})["ok"] == true);
    CHECK(f.counter("errors") == 3);
}

TEST_CASE("control: a line over 64 KiB gets an error and the connection is closed",
          "[common][control]") {
    Fixture f;
    Client c(*f.loop, f.path);
    const std::string huge = "{\"command\":\"" + std::string(70 * 1024, 'a') + "\"}\n";
    c.send_all(huge);  // may be cut short when the server closes
    check_error(c.read_reply(), "longer than 65536 bytes");
    c.wait_closed();
    CHECK(f.counter("lines_too_long") == 1);

    Client next(*f.loop, f.path);
    CHECK(next.request({{"command", "help"}})["ok"] == true);
}

TEST_CASE("control: the 65th client is refused with an error line", "[common][control]") {
    Fixture f;
    std::vector<std::unique_ptr<Client>> clients;
    for (std::size_t i = 0; i < ControlServer::kMaxClients; ++i) {
        clients.push_back(std::make_unique<Client>(*f.loop, f.path));
        REQUIRE(clients.back()->request({{"command", "help"}})["ok"] == true);
    }
    CHECK(f.counter("clients") == 64);

    Client refused(*f.loop, f.path);
    check_error(refused.read_reply(), "too many control connections");
    refused.wait_closed();
    CHECK(f.counter("clients_refused") == 1);

    // Everyone admitted is still served; a slot freed can be reused.
    CHECK(clients.front()->request({{"command", "help"}})["ok"] == true);
    clients.back()->close();
    run_until(
        *f.loop, [&] { return f.counter("clients") == 63; }, "the server to see the close");
    Client again(*f.loop, f.path);
    CHECK(again.request({{"command", "help"}})["ok"] == true);
}

TEST_CASE("control: large replies are sent in pieces as the client reads", "[common][control]") {
    Fixture f;
    const std::string big(4 * 1024 * 1024, 'z');
    f.server->handle("big", [&](const json&) { return json(big); });
    Client c(*f.loop, f.path);
    const json reply = c.request({{"command", "big"}});
    REQUIRE(reply["ok"] == true);
    CHECK(reply["result"].get<std::string>().size() == big.size());
    CHECK(c.request({{"command", "help"}})["ok"] == true);
}

TEST_CASE("control: a client that leaves before reading its reply is dropped quietly",
          "[common][control]") {
    Fixture f;
    const std::string big(4 * 1024 * 1024, 'z');
    int served = 0;
    f.server->handle("big", [&](const json&) {
        ++served;
        return json(big);
    });

    SECTION("closing right after the request") {
        Client c(*f.loop, f.path);
        c.send_line(R"({"command":"big"})");
        c.close();
    }
    SECTION("closing in the middle of a reply") {
        Client c(*f.loop, f.path);
        c.send_line(R"({"command":"big"})");
        run_until(
            *f.loop, [&] { return served == 1; }, "the request to be served");
        char some[1024];
        run_until(
            *f.loop, [&] { return ::recv(c.fd(), some, sizeof some, 0) > 0; }, "part of the reply");
        c.close();
    }
    // Served or not, the connection is gone and nothing crashed (no SIGPIPE).
    run_until(
        *f.loop, [&] { return f.counter("clients") == 0; }, "the server to drop the client");
    Client next(*f.loop, f.path);
    CHECK(next.request({{"command", "show bindings"}})["ok"] == true);
}

TEST_CASE("control: the socket file gets the mode asked for", "[common][control]") {
    Fixture f;
    struct stat st {};
    REQUIRE(::stat(f.path.c_str(), &st) == 0);
    CHECK(S_ISSOCK(st.st_mode));
    CHECK((st.st_mode & 07777) == 0660);

    auto other = ControlServer::create(*f.loop, f.dir.file("other.sock"), 0600);
    REQUIRE(other.ok());
    REQUIRE(::stat(f.dir.file("other.sock").c_str(), &st) == 0);
    CHECK((st.st_mode & 07777) == 0600);
}

TEST_CASE("control: a second server on a live socket fails and names the path",
          "[common][control]") {
    Fixture f;
    auto second = ControlServer::create(*f.loop, f.path);
    REQUIRE_FALSE(second.ok());
    CHECK(second.error().what.find(f.path) != std::string::npos);
    CHECK(second.error().what.find("another daemon is running?") != std::string::npos);
    // The first one is untouched.
    Client c(*f.loop, f.path);
    CHECK(c.request({{"command", "help"}})["ok"] == true);
}

TEST_CASE("control: a stale socket file is replaced, a non-socket file is left alone",
          "[common][control]") {
    pmip::SteadyClock clock;
    auto loop = EventLoop::create(clock);
    REQUIRE(loop.ok());
    TempDir dir;

    SECTION("stale socket") {
        const std::string path = dir.file("stale.sock");
        const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
        sockaddr_un address{};
        address.sun_family = AF_UNIX;
        std::strncpy(address.sun_path, path.c_str(), sizeof address.sun_path - 1);
        REQUIRE(::bind(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0);
        ::close(fd);  // the file stays, nobody listens: what a crashed daemon leaves
        auto server = ControlServer::create(**loop, path);
        REQUIRE(server.ok());
        Client c(**loop, path);
        CHECK(c.request({{"command", "help"}})["ok"] == true);
    }
    SECTION("regular file") {
        const std::string path = dir.file("not-a-socket");
        std::ofstream(path) << "keep me\n";
        auto server = ControlServer::create(**loop, path);
        REQUIRE_FALSE(server.ok());
        CHECK(server.error().what.find(path) != std::string::npos);
        CHECK(std::filesystem::exists(path));
    }
    SECTION("path too long") {
        auto server = ControlServer::create(**loop, "/tmp/" + std::string(200, 'p'));
        REQUIRE_FALSE(server.ok());
        CHECK(server.error().code == ENAMETOOLONG);
    }
    SECTION("directory missing") {
        auto server = ControlServer::create(**loop, dir.file("no/such/dir.sock"));
        REQUIRE_FALSE(server.ok());
        CHECK(server.error().code == ENOENT);
    }
}

TEST_CASE("control: the socket file is removed when the server goes away", "[common][control]") {
    Fixture f;
    REQUIRE(std::filesystem::exists(f.path));
    f.server.reset();
    CHECK_FALSE(std::filesystem::exists(f.path));
    // And a new server can take the path at once.
    auto again = ControlServer::create(*f.loop, f.path);
    REQUIRE(again.ok());
}
