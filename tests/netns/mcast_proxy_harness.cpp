// mcast_proxy_harness: runs one or more KernelProxy instances (the MLD proxy
// a daemon embeds) from the command line, for the namespace tests
// (tests/netns/test_mcast.sh).
//
//   mcast_proxy_harness [--ready-file PATH] [--debug]
//       --instance name=A,table=100,upstream=IF[,downstream=IF]...
//                  [,deny-group=PREFIX]...[,allow-group=PREFIX]...
//                  [,rv=N][,qi=MS][,qri=MS][,llqi=MS][,llqc=N][,sqi=MS]
//                  [,fast-leave][,no-tracking][,mldv1][,idle=MS][,priority=N]
//                  [,forwarding=auto|ebpf|kernel]
//       [--instance ...]
//
// Control lines on stdin (one answer line on stdout each, "ok ..." or
// "error ..."):
//   add INSTANCE IFNAME       add a downstream at run time (General Query at once)
//   remove INSTANCE IFNAME    remove a downstream
//   show PATH                 write {"INSTANCE": show(), ...} to PATH (atomically)
//   quit                      stop (as SIGTERM)
// The ready file gets "ready" once every instance runs. On SIGTERM / SIGINT /
// quit / end of stdin the instances are destroyed (entries, MIFs, rules
// removed; upstream groups left) and the program exits 0.
//
// Threading: the loop thread.
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "pmip/common/clock.hpp"
#include "pmip/common/event_loop.hpp"
#include "pmip/common/log.hpp"
#include "pmip/common/route_manager.hpp"
#include "pmip/mcast/kernel_proxy.hpp"

namespace {

using namespace pmip;
using namespace pmip::mcast;

struct InstanceSpec {
    KernelProxyConfig config;
    std::vector<std::string> downstreams;
};

[[noreturn]] void usage(const std::string& message) {
    std::cerr << "mcast_proxy_harness: " << message << "\n"
              << "usage: mcast_proxy_harness [--ready-file F] [--debug]\n"
              << "         --instance name=N,table=T,upstream=IF[,downstream=IF]...\n"
              << "                    [,deny-group=P][,allow-group=P][,rv=N][,qi=MS][,qri=MS]\n"
              << "                    [,llqi=MS][,llqc=N][,sqi=MS][,fast-leave][,no-tracking]\n"
              << "                    [,mldv1][,idle=MS][,priority=N][,forwarding=auto|ebpf|kernel]\n";
    std::exit(2);
}

std::uint32_t number(const std::string& text, const std::string& key) {
    try {
        std::size_t used = 0;
        const unsigned long v = std::stoul(text, &used, 0);
        if (used != text.size() || v > 0xffffffffUL)
            throw std::out_of_range(key);
        return static_cast<std::uint32_t>(v);
    } catch (const std::exception&) {
        usage(key + ": not a number: " + text);
    }
}

InstanceSpec parse_instance(const std::string& text) {
    InstanceSpec spec;
    QuerierConfig& q = spec.config.querier;
    bool rv_given = false;
    std::optional<unsigned> rv;
    std::stringstream in(text);
    std::string item;
    std::vector<std::pair<std::string, std::string>> items;
    while (std::getline(in, item, ',')) {
        const auto eq = item.find('=');
        items.emplace_back(item.substr(0, eq), eq == std::string::npos ? "" : item.substr(eq + 1));
    }
    // Robustness first: it sets the RV-derived defaults the others refine.
    for (const auto& [k, v] : items) {
        if (k == "rv") {
            rv = number(v, k);
            rv_given = true;
        }
    }
    if (rv_given)
        q = QuerierConfig::with_robustness(*rv);
    for (const auto& [k, v] : items) {
        using std::chrono::milliseconds;
        if (k == "name")
            spec.config.name = v;
        else if (k == "table")
            spec.config.table = number(v, k);
        else if (k == "upstream")
            spec.config.upstream = v;
        else if (k == "downstream")
            spec.downstreams.push_back(v);
        else if (k == "deny-group" || k == "allow-group") {
            const auto p = parse_prefix(v);
            if (!p)
                usage(k + ": not a prefix: " + v);
            (k == "deny-group" ? spec.config.policy.denied_groups
                               : spec.config.policy.allowed_groups)
                .push_back(*p);
        } else if (k == "rv")
            continue;
        else if (k == "qi")
            q.query_interval = milliseconds(number(v, k));
        else if (k == "qri")
            q.query_response_interval = milliseconds(number(v, k));
        else if (k == "llqi")
            q.last_listener_query_interval = milliseconds(number(v, k));
        else if (k == "llqc")
            q.last_listener_query_count = number(v, k);
        else if (k == "sqi")
            q.startup_query_interval = milliseconds(number(v, k));
        else if (k == "fast-leave")
            q.fast_leave = true;
        else if (k == "no-tracking")
            q.explicit_tracking = false;
        else if (k == "mldv1")
            q.version = 1;
        else if (k == "idle")
            spec.config.mfc_idle_timeout = milliseconds(number(v, k));
        else if (k == "priority")
            spec.config.rule_priority = number(v, k);
        else if (k == "forwarding") {
            const auto f = parse_forwarding(v);
            if (!f)
                usage("forwarding: auto, ebpf or kernel, not " + v);
            spec.config.forwarding = *f;
        } else
            usage("unknown instance key: " + k);
    }
    if (spec.config.name.empty() || spec.config.table == 0 || spec.config.upstream.empty())
        usage("--instance needs name=, table= and upstream=");
    return spec;
}

bool write_atomically(const std::string& path, const std::string& text) {
    const std::string tmp = path + ".tmp";
    {
        std::ofstream out(tmp, std::ios::trunc);
        out << text << "\n";
        if (!out)
            return false;
    }
    return std::rename(tmp.c_str(), path.c_str()) == 0;
}

}  // namespace

int main(int argc, char** argv) {
    std::vector<InstanceSpec> specs;
    std::string ready_file;
    bool debug = false;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        auto next = [&]() -> std::string {
            if (i + 1 >= argc)
                usage(a + " needs a value");
            return argv[++i];
        };
        if (a == "--probe") {
            // --probe ebpf|kernel: "available" (exit 0) or "SKIPPED: why" (exit 77).
            const auto f = parse_forwarding(next());
            if (!f || *f == Forwarding::kAuto)
                usage("--probe ebpf or kernel");
            auto choice = choose_forwarding(*f);
            if (!choice) {
                std::cout << "SKIPPED: " << choice.error().what << "\n";
                return 77;
            }
            std::cout << "available: " << choice->why << "\n";
            return 0;
        }
        if (a == "--instance")
            specs.push_back(parse_instance(next()));
        else if (a == "--ready-file")
            ready_file = next();
        else if (a == "--debug")
            debug = true;
        else
            usage("unknown argument " + a);
    }
    if (specs.empty())
        usage("at least one --instance");
    log::configure(log::Sink::kStderr, "mcast_proxy_harness", log::Level::kInfo);
    if (debug)
        log::enable_debug(log::Category::kMld, true);

    SteadyClock clock;
    auto loop = EventLoop::create(clock);
    if (!loop) {
        std::cerr << "mcast_proxy_harness: " << loop.error().what << "\n";
        return 1;
    }
    auto routes = make_netlink_route_manager();
    if (!routes) {
        std::cerr << "mcast_proxy_harness: " << routes.error().what << "\n";
        return 1;
    }
    std::map<std::string, std::unique_ptr<KernelProxy>> proxies;
    for (auto& spec : specs) {
        const std::string name = spec.config.name;
        auto proxy = KernelProxy::create(**loop, **routes, spec.config);
        if (!proxy) {
            std::cerr << "mcast_proxy_harness: " << proxy.error().what << "\n";
            return 1;
        }
        for (const auto& d : spec.downstreams) {
            if (Status s = (*proxy)->add_downstream(d); !s) {
                std::cerr << "mcast_proxy_harness: " << s.error().what << "\n";
                return 1;
            }
        }
        proxies[name] = std::move(proxy.value());
    }

    auto stop = [&](int) { (*loop)->stop(); };
    for (int sig : {SIGTERM, SIGINT}) {
        if (Status s = (*loop)->on_signal(sig, stop); !s) {
            std::cerr << "mcast_proxy_harness: " << s.error().what << "\n";
            return 1;
        }
    }

    std::string pending;
    auto answer = [](const std::string& line) { std::cout << line << std::endl; };
    auto command = [&](const std::string& line) {
        std::istringstream in(line);
        std::string verb, a, b;
        in >> verb >> a >> b;
        if (verb.empty())
            return;
        if (verb == "quit") {
            answer("ok quit");
            (*loop)->stop();
        } else if (verb == "show") {
            nlohmann::json all = nlohmann::json::object();
            for (const auto& [n, p] : proxies) all[n] = p->show();
            answer(write_atomically(a, all.dump(1)) ? "ok show " + a : "error show " + a);
        } else if (verb == "add" || verb == "remove") {
            const auto it = proxies.find(a);
            if (it == proxies.end()) {
                answer("error " + verb + " " + a + " " + b + ": no such instance");
                return;
            }
            Status s =
                verb == "add" ? it->second->add_downstream(b) : it->second->remove_downstream(b);
            answer(s ? "ok " + verb + " " + a + " " + b
                     : "error " + verb + " " + a + " " + b + ": " + s.error().what);
        } else {
            answer("error unknown command: " + verb);
        }
    };
    Status watched = (*loop)->add_fd(STDIN_FILENO, EPOLLIN, [&](std::uint32_t) {
        char buffer[4096];
        const ssize_t n = ::read(STDIN_FILENO, buffer, sizeof buffer);
        if (n <= 0) {  // end of input: stop like SIGTERM
            (*loop)->remove_fd(STDIN_FILENO);
            (*loop)->stop();
            return;
        }
        pending.append(buffer, static_cast<std::size_t>(n));
        std::size_t nl;
        while ((nl = pending.find('\n')) != std::string::npos) {
            const std::string line = pending.substr(0, nl);
            pending.erase(0, nl + 1);
            command(line);
        }
    });
    if (!watched) {
        std::cerr << "mcast_proxy_harness: stdin: " << watched.error().what << "\n";
        return 1;
    }
    if (!ready_file.empty() && !write_atomically(ready_file, "ready")) {
        std::cerr << "mcast_proxy_harness: cannot write " << ready_file << "\n";
        return 1;
    }
    if (Status s = (*loop)->run(); !s) {
        std::cerr << "mcast_proxy_harness: " << s.error().what << "\n";
        return 1;
    }
    proxies.clear();
    return 0;
}
