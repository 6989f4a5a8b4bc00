// tunnel_harness: a small program for the namespace tests of the tunnel layer
// (tests/netns/test_tunnels.sh) and the tunnel benchmark. It plays the part a
// daemon plays: a RefCountingTunnelManager over a chosen backend acquires the
// tunnels given on the command line, a NetlinkRouteManager routes prefixes
// into them (optionally in their own table behind a source rule, as a MAG
// does, RFC 5213 section 6.10), and an EventLoop runs until SIGTERM / SIGINT;
// then routes are removed and every tunnel destroyed.
//
//   tunnel_harness [--backend userspace|kernel|ebpf|auto] [--prefix pm]
//                  [--path-mtu 1500] [--hop-limit 64] [--ready-file PATH]
//                  [--counters-file PATH] [--prepare-ms N]
//                  --tunnel kind=ip6ip6|gre,local=ADDR,peer=ADDR[,ikey=N][,okey=N]
//                           [,route=PREFIX]...[,table=N,rule=FROM_PREFIX]
//                  [--tunnel ...]
//   tunnel_harness --cleanup [--prefix pm]   stale devices + flush_owned()
//   tunnel_harness --kernel-reason           prints why the kernel backend is
//                                            unavailable; exit 0 if available
//   tunnel_harness --ebpf-reason             the same for the ebpf backend
//
// --prepare-ms N: each tunnel is first prepared (made down, as a MAG does
// while its PBU is out), then acquired (brought up, as at the PBA) N ms later.
//
// The ready file gets one line per tunnel, "NAME IFINDEX MTU", once every
// tunnel and route is in place. SIGUSR1 writes the counters (JSON, one object)
// to the counters file; they are also printed to stdout at exit.
//
// Threading: the loop thread (the userspace backend has its own data plane).
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "pmip/common/clock.hpp"
#include "pmip/common/event_loop.hpp"
#include "pmip/common/log.hpp"
#include "pmip/common/route_manager.hpp"
#include "pmip/common/tunnel.hpp"

namespace {

using namespace pmip;

struct TunnelSpec {
    TunnelKey key;
    std::vector<Ipv6Prefix> routes;
    std::uint32_t table = kMainTable;
    std::optional<Ipv6Prefix> rule_from;
};

struct Arguments {
    std::string backend = "userspace";
    TunnelOptions options;
    std::string ready_file;
    std::string counters_file;
    bool cleanup = false;
    bool kernel_reason = false;
    bool ebpf_reason = false;
    unsigned prepare_ms = 0;  // 0: acquired at once
    std::vector<TunnelSpec> tunnels;
};

[[noreturn]] void usage(const std::string& message) {
    std::cerr << "tunnel_harness: " << message << "\n"
              << "usage: tunnel_harness [--backend userspace|kernel|ebpf|auto] [--prefix P]\n"
              << "         [--path-mtu N] [--hop-limit N] [--ready-file F] [--counters-file F]\n"
              << "         [--prepare-ms N]\n"
              << "         --tunnel kind=ip6ip6|gre,local=A,peer=A[,ikey=N][,okey=N]"
                 "[,route=P]...[,table=N,rule=P]\n"
              << "       tunnel_harness --cleanup [--prefix P]\n"
              << "       tunnel_harness --kernel-reason\n"
              << "       tunnel_harness --ebpf-reason\n";
    std::exit(2);
}

std::uint32_t parse_number(const std::string& text, const std::string& what) {
    try {
        std::size_t used = 0;
        const unsigned long value = std::stoul(text, &used, 0);
        if (used != text.size() || value > 0xffffffffUL)
            throw std::out_of_range(what);
        return static_cast<std::uint32_t>(value);
    } catch (const std::exception&) {
        usage("bad " + what + " '" + text + "'");
    }
}

TunnelSpec parse_tunnel(const std::string& text) {
    TunnelSpec spec;
    bool have_peer = false;
    std::stringstream stream(text);
    std::string item;
    while (std::getline(stream, item, ',')) {
        const auto eq = item.find('=');
        if (eq == std::string::npos)
            usage("tunnel item without '=': " + item);
        const std::string name = item.substr(0, eq);
        const std::string value = item.substr(eq + 1);
        if (name == "kind") {
            if (value == "ip6ip6") {
                spec.key.kind = TunnelKind::kIp6Ip6;
            } else if (value == "gre") {
                spec.key.kind = TunnelKind::kGre;
            } else {
                usage("unknown kind " + value);
            }
        } else if (name == "local" || name == "peer") {
            auto address = parse_address(value);
            if (!address)
                usage("bad address " + value);
            (name == "local" ? spec.key.local : spec.key.peer) = *address;
            have_peer |= name == "peer";
        } else if (name == "ikey") {
            spec.key.input_key = parse_number(value, "ikey");
        } else if (name == "okey") {
            spec.key.output_key = parse_number(value, "okey");
        } else if (name == "route") {
            auto prefix = parse_prefix(value);
            if (!prefix)
                usage("bad prefix " + value);
            spec.routes.push_back(canonical(*prefix));
        } else if (name == "table") {
            spec.table = parse_number(value, "table");
        } else if (name == "rule") {
            auto prefix = parse_prefix(value);
            if (!prefix)
                usage("bad prefix " + value);
            spec.rule_from = canonical(*prefix);
        } else {
            usage("unknown tunnel item " + name);
        }
    }
    if (!have_peer)
        usage("tunnel without peer");
    return spec;
}

Arguments parse_arguments(int argc, char** argv) {
    Arguments args;
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= argc)
                usage(arg + " needs a value");
            return argv[++i];
        };
        if (arg == "--backend") {
            args.backend = value();
        } else if (arg == "--prefix") {
            args.options.name_prefix = value();
        } else if (arg == "--path-mtu") {
            args.options.path_mtu = parse_number(value(), "path MTU");
        } else if (arg == "--hop-limit") {
            args.options.hop_limit = static_cast<std::uint8_t>(parse_number(value(), "hop limit"));
        } else if (arg == "--ready-file") {
            args.ready_file = value();
        } else if (arg == "--counters-file") {
            args.counters_file = value();
        } else if (arg == "--prepare-ms") {
            args.prepare_ms = parse_number(value(), "prepare delay");
        } else if (arg == "--tunnel") {
            args.tunnels.push_back(parse_tunnel(value()));
        } else if (arg == "--cleanup") {
            args.cleanup = true;
        } else if (arg == "--kernel-reason") {
            args.kernel_reason = true;
        } else if (arg == "--ebpf-reason") {
            args.ebpf_reason = true;
        } else {
            usage("unknown argument " + arg);
        }
    }
    return args;
}

Expected<std::unique_ptr<TunnelBackend>> make_backend(const std::string& name) {
    if (name == "userspace")
        return make_tunnel_backend(TunnelBackendChoice::kUserspace);
    if (name == "kernel")
        return make_tunnel_backend(TunnelBackendChoice::kKernel);
    if (name == "ebpf")
        return make_tunnel_backend(TunnelBackendChoice::kEbpf);
    if (name == "auto")
        return make_tunnel_backend(TunnelBackendChoice::kAuto);
    usage("unknown backend " + name);
}

nlohmann::json counters_json(const RefCountingTunnelManager& manager,
                             const std::map<std::string, std::uint64_t>& statistics) {
    nlohmann::json out;
    out["statistics"] = statistics;
    for (const auto& info : manager.tunnels()) {
        const TunnelCounters c = manager.counters(info.key);
        out["tunnels"][info.name] = tunnel_counters_json(c);
    }
    return out;
}

int run_cleanup(const Arguments& args) {
    int status = 0;
    for (const char* backend_name : {"userspace", "kernel", "ebpf"}) {
        auto backend = make_backend(backend_name);
        if (!backend)
            continue;  // the kernel backend may be unavailable here
        auto removed = (*backend)->remove_stale(args.options.name_prefix);
        if (removed) {
            std::cout << "removed " << *removed << " stale device(s) (" << backend_name << ")\n";
        } else {
            std::cerr << "remove_stale: " << removed.error().what << "\n";
            status = 1;
        }
    }
    auto routes = make_netlink_route_manager();
    if (!routes) {
        std::cerr << "route manager: " << routes.error().what << "\n";
        return 1;
    }
    auto flushed = (*routes)->flush_owned();
    if (!flushed) {
        std::cerr << "flush_owned: " << flushed.error().what << "\n";
        return 1;
    }
    std::cout << "flushed " << *flushed << " route(s)/rule(s)\n";
    return status;
}

}  // namespace

int main(int argc, char** argv) {
    const Arguments args = parse_arguments(argc, argv);
    log::configure(log::Sink::kStderr, "tunnel_harness", log::Level::kInfo);

    if (args.ebpf_reason) {
        const std::string reason = ebpf_tunnel_unavailable_reason();
        if (reason.empty())
            return 0;
        std::cout << reason << "\n";
        return 1;
    }
    if (args.kernel_reason) {
        std::string reason = kernel_tunnel_unavailable_reason(TunnelKind::kIp6Ip6);
        if (reason.empty())
            reason = kernel_tunnel_unavailable_reason(TunnelKind::kGre);
        if (reason.empty())
            return 0;
        std::cout << reason << "\n";
        return 1;
    }
    if (args.cleanup)
        return run_cleanup(args);
    if (args.tunnels.empty())
        usage("no --tunnel given");

    SteadyClock clock;
    auto loop = EventLoop::create(clock);
    if (!loop) {
        std::cerr << "event loop: " << loop.error().what << "\n";
        return 1;
    }
    auto backend = make_backend(args.backend);
    if (!backend) {
        std::cerr << "tunnel backend: " << backend.error().what << "\n";
        return 1;
    }
    auto routes = make_netlink_route_manager();
    if (!routes) {
        std::cerr << "route manager: " << routes.error().what << "\n";
        return 1;
    }
    auto manager =
        std::make_unique<RefCountingTunnelManager>(std::move(*backend), **loop, args.options);

    std::vector<RouteRequest> installed;
    std::ostringstream ready;
    int exit_code = 0;
    for (const auto& spec : args.tunnels) {
        if (args.prepare_ms > 0) {
            if (auto prepared = manager->prepare(spec.key); !prepared) {
                std::cerr << "prepare: " << prepared.error().what << "\n";
                exit_code = 1;
                break;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(args.prepare_ms));
        }
        auto info = manager->acquire(spec.key);
        if (args.prepare_ms > 0 && info)
            (void)manager->release(spec.key);  // the prepared reference, as magd at its PBA
        if (!info) {
            std::cerr << "acquire: " << info.error().what << "\n";
            exit_code = 1;
            break;
        }
        ready << info->name << " " << info->ifindex << " " << info->mtu << "\n";
        std::vector<RouteRequest> batch;
        for (const auto& prefix : spec.routes) {
            Route route;
            route.destination = prefix;
            route.ifindex = info->ifindex;
            route.table = spec.table;
            batch.push_back({RouteOp::kAdd, route});
        }
        if (spec.rule_from) {
            Rule rule;
            rule.source = *spec.rule_from;
            rule.table = spec.table;
            batch.push_back({RouteOp::kAdd, rule});
        }
        const auto results = (*routes)->apply(batch);
        for (std::size_t i = 0; i < results.size(); ++i) {
            if (!results[i]) {
                std::cerr << "route: " << results[i].error().what << "\n";
                exit_code = 1;
            } else {
                installed.push_back({RouteOp::kDelete, batch[i].object});
            }
        }
        if (exit_code != 0)
            break;
    }

    if (exit_code == 0) {
        if (!args.ready_file.empty()) {
            const std::string temporary = args.ready_file + ".tmp";
            std::ofstream(temporary) << ready.str();
            std::rename(temporary.c_str(), args.ready_file.c_str());
        }
        std::cout << ready.str() << std::flush;
        auto stop = [&](int) { (*loop)->stop(); };
        (void)(*loop)->on_signal(SIGTERM, stop);
        (void)(*loop)->on_signal(SIGINT, stop);
        (void)(*loop)->on_signal(SIGUSR1, [&](int) {
            if (args.counters_file.empty())
                return;
            const std::string temporary = args.counters_file + ".tmp";
            std::ofstream(temporary)
                << counters_json(*manager, manager->backend().statistics()).dump() << "\n";
            std::rename(temporary.c_str(), args.counters_file.c_str());
        });
        if (auto s = (*loop)->run(); !s) {
            std::cerr << "loop: " << s.error().what << "\n";
            exit_code = 1;
        }
    }

    std::cout << counters_json(*manager, manager->backend().statistics()).dump() << "\n";
    const auto results = (*routes)->apply(installed);
    for (const auto& r : results) {
        if (!r)
            std::cerr << "removing route: " << r.error().what << "\n";
    }
    manager->destroy_all();
    return exit_code;
}
