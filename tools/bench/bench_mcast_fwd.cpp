// bench_mcast_fwd: the multicast forwarding backends' data path and update
// rate, next to plain unicast routing measured in the same run (issue 13).
// Root. Prints one JSON object. A benchmark, not a test.
//
//   bench_mcast_fwd [--seconds S] [--outputs 1,10,100] [--sizes 64,1400]
//                   [--entries 10000] [--backend ebpf|kernel]
//
// Namespaces (this process's PID in the names, removed at exit):
//   pmf-PID-src  s0 2001:db8:f1::2 -- u0 2001:db8:f1::1  pmf-PID-fwd
//   pmf-PID-fwd  d1..dN 2001:db8:f2:I::1/64 -- d1p..dNp  pmf-PID-sink
// A sender thread in src sends UDP (sendmmsg, 64 per call) for S seconds,
// as fast as it can, to:
//   unicast    2001:db8:f2:1::2 (routed by fwd to d1; static neighbours)
//   multicast  ff0e::db8:1 from 2001:db8:f1::2, one (S,G) entry in fwd's
//              backend with parent u0 and outputs d1..dN.
// Delivered: the receive counters of the sink ends (rtnl_link_stats), so no
// socket reads limit the figure; IPv6 is off on the sink ends, which drop
// every frame on arrival (unicast and multicast alike). Sender and forwarding share the machine's
// cores (veth hands packets to the receiving softirq on the sending CPU):
// the ratio to unicast in the same run is the comparable figure.
//
// Then the update rate: `entries` (S,G) entries added through the real maps
// (add_mfc), then every entry's outputs replaced 5 times (alternating
// {d1} / {d1, d2}), then deleted; operations per second of each phase.
//
// Threading: main thread (setns between namespaces) and one sender thread.
#include <arpa/inet.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <linux/if_link.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>

#include "pmip/common/clock.hpp"
#include "pmip/common/event_loop.hpp"
#include "pmip/mcast/ebpf_multicast_router.hpp"

using namespace pmip;
using namespace pmip::mcast;
using Steady = std::chrono::steady_clock;

namespace {

std::string g_prefix;
bool g_created = false;

int sh(const std::string& command) {
    return std::system((command + " >/dev/null 2>&1").c_str());
}
void must(const std::string& command) {
    if (sh(command) != 0) {
        std::cerr << "bench_mcast_fwd: failed: " << command << "\n";
        std::exit(1);
    }
}
std::string ns(const char* role) {
    return g_prefix + role;
}
void cleanup() {
    if (!g_created)
        return;
    for (const char* r : {"src", "fwd", "sink"}) sh("ip netns del " + ns(r));
}

void enter(const std::string& name) {
    const std::string path = "/run/netns/" + name;
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0 || ::setns(fd, CLONE_NEWNET) != 0) {
        std::cerr << "bench_mcast_fwd: setns " << name << ": " << std::strerror(errno) << "\n";
        std::exit(1);
    }
    ::close(fd);
}

// Sum of rx_packets of the sink ends d1p..dNp (in the current namespace).
std::vector<std::uint64_t> rx_packets(int n) {
    std::vector<std::uint64_t> rx(static_cast<std::size_t>(n) + 1, 0);
    ifaddrs* list = nullptr;
    if (::getifaddrs(&list) != 0)
        return rx;
    for (ifaddrs* a = list; a; a = a->ifa_next) {
        if (!a->ifa_addr || a->ifa_addr->sa_family != AF_PACKET || !a->ifa_data)
            continue;
        int i = 0;
        if (std::sscanf(a->ifa_name, "d%dp", &i) == 1 && i >= 1 && i <= n)
            rx[static_cast<std::size_t>(i)] = static_cast<const rtnl_link_stats*>(a->ifa_data)->rx_packets;
    }
    ::freeifaddrs(list);
    return rx;
}

// Sends for `seconds` from the src namespace; returns packets sent.
std::uint64_t send_for(double seconds, const char* destination, std::size_t packet_size) {
    std::uint64_t sent = 0;
    std::thread sender([&] {
        enter(ns("src"));
        const int fd = ::socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        sockaddr_in6 to{};
        to.sin6_family = AF_INET6;
        to.sin6_port = htons(9);
        ::inet_pton(AF_INET6, destination, &to.sin6_addr);
        const int hops = 8;
        const unsigned s0 = ::if_nametoindex("s0");
        ::setsockopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_HOPS, &hops, sizeof hops);
        ::setsockopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_IF, &s0, sizeof s0);
        const int sndbuf = 4 << 20;
        ::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
        if (::connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof to) != 0) {
            std::cerr << "bench_mcast_fwd: connect: " << std::strerror(errno) << "\n";
            std::exit(1);
        }
        const std::size_t payload = packet_size > 48 ? packet_size - 48 : 16;  // IPv6 40 + UDP 8
        std::vector<char> data(payload, 'x');
        constexpr int kBatch = 64;
        std::vector<mmsghdr> msgs(kBatch);
        std::vector<iovec> iov(kBatch);
        for (int i = 0; i < kBatch; ++i) {
            iov[i] = {data.data(), data.size()};
            msgs[i] = {};
            msgs[i].msg_hdr.msg_iov = &iov[i];
            msgs[i].msg_hdr.msg_iovlen = 1;
        }
        const auto end = Steady::now() + std::chrono::duration<double>(seconds);
        while (Steady::now() < end) {
            const int n = ::sendmmsg(fd, msgs.data(), kBatch, 0);
            if (n > 0)
                sent += static_cast<std::uint64_t>(n);
        }
        ::close(fd);
    });
    sender.join();
    return sent;
}

struct Figure {
    std::uint64_t sent = 0;
    double delivered_pps = 0;  // per output (the least-served output)
    double copies_per_s = 0;   // every output
};

Figure measure(double seconds, const char* destination, std::size_t size, int outputs) {
    enter(ns("sink"));
    const auto before = rx_packets(outputs);
    const auto t0 = Steady::now();
    Figure f;
    f.sent = send_for(seconds, destination, size);
    // Let queued packets land.
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    const double elapsed = std::chrono::duration<double>(Steady::now() - t0).count() - 0.1;
    enter(ns("sink"));
    const auto after = rx_packets(outputs);
    std::uint64_t least = UINT64_MAX, total = 0;
    for (int i = 1; i <= outputs; ++i) {
        const std::uint64_t d = after[static_cast<std::size_t>(i)] - before[static_cast<std::size_t>(i)];
        least = std::min(least, d);
        total += d;
    }
    f.delivered_pps = static_cast<double>(least) / elapsed;
    f.copies_per_s = static_cast<double>(total) / elapsed;
    return f;
}

std::vector<int> list_of(const std::string& text) {
    std::vector<int> out;
    std::stringstream in(text);
    std::string item;
    while (std::getline(in, item, ',')) out.push_back(std::atoi(item.c_str()));
    return out;
}

}  // namespace

int main(int argc, char** argv) {
    double seconds = 2.0;
    std::vector<int> outputs_list{1, 10, 100};
    std::vector<int> sizes{64, 1400};
    int entries = 10000;
    std::string backend = "ebpf";
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        auto next = [&] { return i + 1 < argc ? std::string(argv[++i]) : std::string(); };
        if (a == "--seconds")
            seconds = std::atof(next().c_str());
        else if (a == "--outputs")
            outputs_list = list_of(next());
        else if (a == "--sizes")
            sizes = list_of(next());
        else if (a == "--entries")
            entries = std::atoi(next().c_str());
        else if (a == "--backend")
            backend = next();
        else {
            std::cerr << "usage: bench_mcast_fwd [--seconds S] [--outputs 1,10,100] [--sizes 64,1400]"
                         " [--entries N] [--backend ebpf|kernel]\n";
            return 2;
        }
    }
    if (::geteuid() != 0) {
        std::cout << "{\"error\":\"needs root (namespaces, BPF)\"}\n";
        return 77;
    }
    const auto forwarding = parse_forwarding(backend);
    if (!forwarding || *forwarding == Forwarding::kAuto) {
        std::cerr << "bench_mcast_fwd: --backend ebpf or kernel\n";
        return 2;
    }
    if (auto choice = choose_forwarding(*forwarding); !choice) {
        std::cout << nlohmann::json{{"backend", backend}, {"skipped", choice.error().what}}.dump()
                  << "\n";
        return 77;
    }
    int max_outputs = 1;
    for (int o : outputs_list) max_outputs = std::max(max_outputs, o);

    g_prefix = "pmf-" + std::to_string(::getpid()) + "-";
    std::atexit(cleanup);
    for (const char* r : {"src", "fwd", "sink"}) must("ip netns add " + ns(r));
    g_created = true;
    const std::string src = ns("src"), fwd = ns("fwd"), sink = ns("sink");
    for (const std::string& n : {src, fwd, sink}) {
        must("ip -n " + n + " link set lo up");
        must("ip netns exec " + n + " sysctl -qw net.ipv6.conf.all.accept_dad=0");
        must("ip netns exec " + n + " sysctl -qw net.ipv6.conf.default.accept_dad=0");
    }
    must("ip netns exec " + fwd + " sysctl -qw net.ipv6.conf.all.forwarding=1");
    must("ip -n " + src + " link add s0 type veth peer name u0 netns " + fwd);
    {
        std::string batch;
        for (int i = 1; i <= max_outputs; ++i)
            batch += "link add d" + std::to_string(i) + " type veth peer name d" + std::to_string(i) +
                     "p netns " + sink + "\n";
        const std::string file = "/tmp/" + g_prefix + "batch";
        FILE* f = std::fopen(file.c_str(), "w");
        std::fputs(batch.c_str(), f);
        std::fclose(f);
        must("ip -n " + fwd + " -batch " + file);
        std::remove(file.c_str());
    }
    must("ip -n " + src + " addr add 2001:db8:f1::2/64 dev s0 nodad");
    must("ip -n " + src + " link set s0 up");
    must("ip -n " + src + " -6 route add default via 2001:db8:f1::1");
    must("ip -n " + fwd + " addr add 2001:db8:f1::1/64 dev u0 nodad");
    must("ip -n " + fwd + " link set u0 up");
    for (int i = 1; i <= max_outputs; ++i) {
        const std::string d = "d" + std::to_string(i);
        must("ip -n " + fwd + " link set " + d + " up");
        must("ip -n " + sink + " link set " + d + "p up");
    }
    must("ip -n " + fwd + " addr add 2001:db8:f2:1::1/64 dev d1 nodad");
    // The sink ends count frames (veth rx counters) and drop them before
    // IPv6: with IPv6 on, every multicast frame's input route lookup in the
    // sink walks one ff00::/8 route per interface (100 here), a receiver
    // cost that no real output link has and that would be charged to the
    // forwarder (the copies are received on the same cores).
    must("ip netns exec " + sink + " sysctl -qw net.ipv6.conf.all.disable_ipv6=1");
    must("ip netns exec " + sink + " sysctl -qw net.ipv6.conf.default.disable_ipv6=1");
    // Static neighbours: no ND during the runs.
    auto mac = [&](const std::string& n, const std::string& dev) {
        FILE* p = ::popen(("ip -n " + n + " -o link show " + dev + " | sed -n 's/.*link\\/ether \\([0-9a-f:]*\\).*/\\1/p'").c_str(), "r");
        char buf[64] = {};
        if (p && std::fgets(buf, sizeof buf, p))
            buf[std::strcspn(buf, "\n")] = 0;
        if (p)
            ::pclose(p);
        return std::string(buf);
    };
    must("ip -n " + fwd + " -6 neigh replace 2001:db8:f2:1::2 lladdr " + mac(sink, "d1p") +
         " dev d1 nud permanent");
    must("ip -n " + src + " -6 neigh replace 2001:db8:f1::1 lladdr " + mac(fwd, "u0") +
         " dev s0 nud permanent");
    std::this_thread::sleep_for(std::chrono::milliseconds(300));

    // The forwarding table in fwd.
    enter(fwd);
    SteadyClock steady;
    auto loop = EventLoop::create(steady);
    if (!loop) {
        std::cerr << loop.error().what << "\n";
        return 1;
    }
    auto made = make_multicast_router(**loop, *forwarding, 4242, 4242);
    if (!made) {
        std::cout << nlohmann::json{{"backend", backend}, {"error", made.error().what}}.dump() << "\n";
        return 1;
    }
    std::unique_ptr<MulticastRouter> router = std::move(*made);
    auto check = [](const Status& s, const char* what) {
        if (!s) {
            std::cerr << "bench_mcast_fwd: " << what << ": " << s.error().what << "\n";
            std::exit(1);
        }
    };
    check(router->add_mif(0, static_cast<int>(::if_nametoindex("u0")), "u0"), "add_mif u0");
    const int mif_limit = static_cast<int>(router->max_mifs()) - 1;
    for (int i = 1; i <= std::min(max_outputs, mif_limit); ++i) {
        const std::string d = "d" + std::to_string(i);
        check(router->add_mif(static_cast<MifIndex>(i), static_cast<int>(::if_nametoindex(d.c_str())), d),
              "add_mif");
    }
    const Ipv6Address source = *parse_address("2001:db8:f1::2");
    const Ipv6Address group = *parse_address("ff0e::db8:1");

    nlohmann::json runs = nlohmann::json::array();
    for (int size : sizes) {
        const Figure unicast = measure(seconds, "2001:db8:f2:1::2", static_cast<std::size_t>(size), 1);
        for (int outputs : outputs_list) {
            nlohmann::json run = {{"size", size}, {"outputs", outputs}};
            if (outputs > mif_limit) {
                run["skipped"] = "the " + backend + " backend has at most " + std::to_string(mif_limit) +
                                 " outputs per table";
                runs.push_back(run);
                continue;
            }
            MifSet set;
            for (int i = 1; i <= outputs; ++i) set.insert(static_cast<MifIndex>(i));
            enter(fwd);
            check(router->add_mfc(source, group, 0, set), "add_mfc");
            const Figure m = measure(seconds, "ff0e::db8:1", static_cast<std::size_t>(size), outputs);
            run["multicast_pps_per_output"] = static_cast<std::uint64_t>(m.delivered_pps);
            run["multicast_copies_per_s"] = static_cast<std::uint64_t>(m.copies_per_s);
            run["unicast_pps"] = static_cast<std::uint64_t>(unicast.delivered_pps);
            run["ratio_to_unicast"] = unicast.delivered_pps > 0
                                          ? std::round(100.0 * m.delivered_pps / unicast.delivered_pps) / 100.0
                                          : 0.0;
            run["ns_per_packet"] = m.delivered_pps > 0 ? static_cast<std::uint64_t>(1e9 / m.delivered_pps) : 0;
            runs.push_back(run);
        }
    }
    // The program alone (BPF_PROG_TEST_RUN, 64-octet frame, repeated): the
    // kernel's own time per run; clones are really transmitted on the veths
    // (their receive side runs later, outside this time); the last output's
    // redirect is not carried out by a test run.
    nlohmann::json program_ns = nlohmann::json::object();
    if (const int prog = ebpf_program_fd(*router); prog >= 0) {
        enter(fwd);
        const int u0 = static_cast<int>(::if_nametoindex("u0"));
        std::vector<std::uint8_t> frame(14 + 40 + 8 + 16, 0);
        frame[0] = 0x33; frame[1] = 0x33; frame[12] = 0x86; frame[13] = 0xdd;
        std::memcpy(&frame[2], &group[12], 4);
        frame[14] = 0x60; frame[14 + 5] = 24; frame[14 + 6] = 17; frame[14 + 7] = 64;
        std::memcpy(&frame[14 + 8], source.data(), 16);
        std::memcpy(&frame[14 + 24], group.data(), 16);
        for (int outputs : outputs_list) {
            if (outputs > mif_limit)
                continue;
            MifSet set;
            for (int i = 1; i <= outputs; ++i) set.insert(static_cast<MifIndex>(i));
            check(router->add_mfc(source, group, 0, set), "add_mfc");
            __sk_buff ctx{};
            ctx.ifindex = static_cast<std::uint32_t>(u0);
            LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = frame.data(),
                        .data_size_in = static_cast<std::uint32_t>(frame.size()), .ctx_in = &ctx,
                        .ctx_size_in = sizeof ctx, .repeat = 20000);
            if (bpf_prog_test_run_opts(prog, &opts) == 0)
                program_ns[std::to_string(outputs)] = opts.duration;
        }
    }

    // Per extra output: from the smallest and largest output counts measured.
    nlohmann::json per_output = nlohmann::json::object();
    for (int size : sizes) {
        const nlohmann::json* lo = nullptr;
        const nlohmann::json* hi = nullptr;
        for (const auto& r : runs) {
            if (r["size"] != size || r.contains("skipped"))
                continue;
            if (!lo || r["outputs"] < (*lo)["outputs"])
                lo = &r;
            if (!hi || r["outputs"] > (*hi)["outputs"])
                hi = &r;
        }
        if (lo && hi && (*hi)["outputs"] > (*lo)["outputs"]) {
            const double dt = (*hi)["ns_per_packet"].get<double>() - (*lo)["ns_per_packet"].get<double>();
            const double dn = (*hi)["outputs"].get<double>() - (*lo)["outputs"].get<double>();
            per_output[std::to_string(size)] = std::round(dt / dn) / 1000.0;
        }
    }

    // Update rate through the real maps.
    enter(fwd);
    check(router->delete_mfc(source, group), "delete_mfc");
    nlohmann::json updates = nlohmann::json::object();
    if (entries > 0 && mif_limit >= 2) {
        std::vector<Ipv6Address> sources(static_cast<std::size_t>(entries));
        for (int i = 0; i < entries; ++i) {
            Ipv6Address a = source;
            a[12] = static_cast<std::uint8_t>(i >> 24);
            a[13] = static_cast<std::uint8_t>(i >> 16);
            a[14] = static_cast<std::uint8_t>(i >> 8);
            a[15] = static_cast<std::uint8_t>(i);
            sources[static_cast<std::size_t>(i)] = a;
        }
        const MifSet one{1}, two{1, 2};
        auto rate = [&](auto&& body, int operations) {
            const auto t0 = Steady::now();
            body();
            const double s = std::chrono::duration<double>(Steady::now() - t0).count();
            return static_cast<std::uint64_t>(operations / s);
        };
        updates["entries"] = entries;
        updates["adds_per_s"] = rate([&] {
            for (const auto& s : sources) check(router->add_mfc(s, group, 0, one), "add_mfc");
        }, entries);
        updates["output_updates_per_s"] = rate([&] {
            for (int round = 0; round < 5; ++round)
                for (const auto& s : sources) check(router->add_mfc(s, group, 0, round % 2 ? one : two), "update");
        }, entries * 5);
        updates["deletes_per_s"] = rate([&] {
            for (const auto& s : sources) check(router->delete_mfc(s, group), "delete_mfc");
        }, entries);
    }
    router.reset();
    nlohmann::json out = {{"backend", backend},
                          {"seconds_per_run", seconds},
                          {"runs", runs},
                          {"us_per_extra_output", per_output},
                          {"program_ns_per_packet_by_outputs", program_ns},
                          {"updates", updates},
                          {"targets", {{"ratio_1_output", ">= 0.9"},
                                       {"us_per_extra_output", "<= 1"},
                                       {"entries", ">= 10000"},
                                       {"updates_per_s", ">= 100000"}}}};
    std::cout << out.dump() << "\n";
    return 0;
}
