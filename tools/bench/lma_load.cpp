// lma_load: load generator against a running lmad (issue 4 "Evidence
// expected": "emulates many MAGs and MNs against a running lmad (raw sockets
// from a namespace with many MAG addresses)"). Run by bench_lmad.sh, which
// builds the namespaces, starts lmad and gives this tool the MAG addresses.
//
// One raw IPv6 socket for protocol 135 (RFC 6275 section 6.1; the kernel
// fills the MH checksum, IPV6_CHECKSUM 4). PBUs (A|P, MN-ID
// "mn%07u@example.org", HNP ALL_ZERO, HI 1, ATT 4, Timestamp from the system
// clock as RFC 5213 section 5.5 asks) go out from MAG address i % M (set per
// packet with IPV6_PKTINFO) in sendmmsg() batches, paced to --rate PBU/s; the
// PBAs are drained with recvmmsg() between batches and matched to their PBU
// by the MN-ID they echo. Latency = PBA read by this tool - PBU handed to the
// kernel ("latency"), and the same to the kernel's receive timestamp of the PBA
// (SO_TIMESTAMPNS, "latency_rx"): the moment lmad's PBA reached this host's
// stack, without the time this tool took to get round to reading it (it paces
// and builds PBUs on the same thread); both ends of latency_rx are CLOCK_REALTIME,
// the clock the kernel stamps in.
//
// Prints one JSON object: offered and achieved rates (accepted_per_s = PBAs
// with status 0 over the time from the start to the last PBA), PBAs received by
// status, unanswered PBUs, latency percentiles, and lmad's resident memory
// (VmRSS of --lmad-pid) before and after. Bounded by --count and by
// --max-seconds (default 50).
//
// Hostile and authenticated load (issue 16): --key FILE --spi N signs every
// PBU (RFC 4285 option, HMAC-SHA256, common/message_auth) as an authorized
// MAG with that key does; --spoof sends each PBU from a random address of
// --mag-base's /64 (IPV6_FREEBIND: addresses this namespace does not hold)
// with a random MN-ID ("flood-XXXXXXXX"), as an attacker would: nothing is
// expected back, and what comes back is counted.
//
// --trace FILE writes one line per answered PBU, in the order sent: its send
// time from the start and its latency_rx, both in us (where a run's slow PBAs
// cluster in time, e.g. behind one stall).
//
// Usage: lma_load --lma ADDR --mag-base ADDR --mags M --count N --rate R
//                 [--first I] [--lmad-pid PID] [--max-seconds S] [--drain-ms D]
//                 [--trace FILE]
//                 [--key FILE --spi N] [--spoof]
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "pmip/common/clock.hpp"
#include "pmip/common/ip.hpp"
#include "pmip/common/message_auth.hpp"
#include "pmip/mh/codec.hpp"

namespace {

using namespace pmip;
using Steady = std::chrono::steady_clock;

long rss_kib(long pid) {
    if (pid <= 0) return -1;
    std::ifstream in("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    while (std::getline(in, line)) {
        if (line.rfind("VmRSS:", 0) == 0) return std::strtol(line.c_str() + 6, nullptr, 10);
    }
    return -1;
}

std::uint64_t now_timestamp() {
    const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                        std::chrono::system_clock::now().time_since_epoch())
                        .count();
    const std::uint64_t seconds = static_cast<std::uint64_t>(ns) / 1'000'000'000u;
    const std::uint64_t fraction = (static_cast<std::uint64_t>(ns) % 1'000'000'000u) * 65536u /
                                   1'000'000'000u;
    return seconds << 16 | fraction;
}

[[noreturn]] void die(const std::string& what) {
    std::fprintf(stderr, "lma_load: %s\n", what.c_str());
    std::exit(2);
}

}  // namespace

int main(int argc, char** argv) {
    std::string lma_text, mag_base_text;
    std::uint32_t mags = 200, count = 100000, first = 0;
    double rate = 25000, max_seconds = 50;
    long lmad_pid = 0;
    int drain_ms = 2000;
    std::string key_file, trace_file;
    std::uint32_t spi = 0;
    bool spoof = false;
    for (int i = 1; i < argc; i += 2) {
        const std::string k = argv[i];
        if (k == "--spoof") {
            spoof = true;
            --i;
            continue;
        }
        if (i + 1 >= argc) die("option " + k + " needs a value");
        const char* v = argv[i + 1];
        if (k == "--lma") lma_text = v;
        else if (k == "--mag-base") mag_base_text = v;
        else if (k == "--mags") mags = static_cast<std::uint32_t>(std::strtoul(v, nullptr, 10));
        else if (k == "--count") count = static_cast<std::uint32_t>(std::strtoul(v, nullptr, 10));
        else if (k == "--first") first = static_cast<std::uint32_t>(std::strtoul(v, nullptr, 10));
        else if (k == "--rate") rate = std::strtod(v, nullptr);
        else if (k == "--lmad-pid") lmad_pid = std::strtol(v, nullptr, 10);
        else if (k == "--max-seconds") max_seconds = std::strtod(v, nullptr);
        else if (k == "--drain-ms") drain_ms = std::atoi(v);
        else if (k == "--trace") trace_file = v;
        else if (k == "--key") key_file = v;
        else if (k == "--spi") spi = static_cast<std::uint32_t>(std::strtoul(v, nullptr, 10));
        else die("unknown option " + k);
    }
    const auto lma = parse_address(lma_text);
    const auto mag_base = parse_address(mag_base_text);
    if (!lma || !mag_base || mags == 0 || mags > 65536 || count == 0 || rate <= 0) {
        die("usage: lma_load --lma ADDR --mag-base ADDR --mags M(1-65536) --count N --rate R "
            "[--first I] [--lmad-pid PID] [--max-seconds S] [--drain-ms D] [--trace FILE] [--key FILE --spi N] "
            "[--spoof]");
    }
    // The authorized MAG's side of the association: signs PBUs to the LMA.
    SteadyClock clock;
    std::unique_ptr<auth::MessageAuthenticator> signer;
    if (!key_file.empty()) {
        auto key = auth::load_key(key_file);
        if (!key.error.empty()) die(key.error);
        if (spi < 256) die("--spi: 256..4294967295 with --key");
        auth::PeerSecurity peer;
        peer.peers = Ipv6Prefix{*lma, 128};
        peer.mode = auth::Mode::kRequired;
        peer.associations = {{spi, mh::AuthAlgorithm::kHmacSha256, std::move(key.key)}};
        signer = std::make_unique<auth::MessageAuthenticator>(std::vector{std::move(peer)}, clock);
    }
    std::mt19937_64 random(std::random_device{}());
    auto mag = [&](std::uint32_t i) {
        Ipv6Address a = *mag_base;
        const std::uint32_t n = (static_cast<std::uint32_t>(a[14]) << 8 | a[15]) + i % mags;
        a[14] = static_cast<std::uint8_t>(n >> 8);
        a[15] = static_cast<std::uint8_t>(n);
        return a;
    };

    const int fd = ::socket(AF_INET6, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, 135);
    if (fd < 0) die(std::string("raw MH socket: ") + std::strerror(errno) + " (needs root)");
    const int offset = 4, buffer = 32 << 20;
    ::setsockopt(fd, IPPROTO_IPV6, IPV6_CHECKSUM, &offset, sizeof offset);
    ::setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &buffer, sizeof buffer);
    ::setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &buffer, sizeof buffer);
    const int on = 1;
    if (spoof && ::setsockopt(fd, IPPROTO_IPV6, IPV6_FREEBIND, &on, sizeof on) != 0)
        die(std::string("IPV6_FREEBIND: ") + std::strerror(errno));
    if (::setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &on, sizeof on) != 0)
        die(std::string("SO_TIMESTAMPNS: ") + std::strerror(errno));

    constexpr std::size_t kBatch = 64;
    std::vector<std::int64_t> sent_ns(count, -1);
    std::vector<std::int64_t> sent_realtime_ns(count, 0);
    std::vector<std::uint32_t> latency_ns, latency_rx_ns;
    latency_ns.reserve(count);
    latency_rx_ns.reserve(count);
    std::uint64_t no_rx_timestamp = 0;
    std::vector<std::int32_t> trace_rx_ns(trace_file.empty() ? 0 : count, -1);  // --trace: by PBU
    auto realtime_ns = [] {
        timespec ts{};
        ::clock_gettime(CLOCK_REALTIME, &ts);
        return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
    };
    std::map<int, std::uint64_t> by_status;
    std::uint64_t received = 0, unmatched = 0, send_errors = 0;
    std::int64_t last_pba_ns = 1;
    const auto start = Steady::now();
    auto elapsed_ns = [&] {
        return std::chrono::duration_cast<std::chrono::nanoseconds>(Steady::now() - start).count();
    };

    // recvmmsg buffers.
    std::vector<std::array<std::uint8_t, 512>> rx(kBatch);
    std::vector<mmsghdr> rx_msgs(kBatch);
    std::vector<iovec> rx_iov(kBatch);
    std::vector<std::array<std::uint8_t, CMSG_SPACE(sizeof(timespec))>> rx_control(kBatch);
    auto rx_timestamp_ns = [](msghdr& h) -> std::int64_t {
        for (cmsghdr* c = CMSG_FIRSTHDR(&h); c; c = CMSG_NXTHDR(&h, c)) {
            if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_TIMESTAMPNS) continue;
            timespec ts{};
            std::memcpy(&ts, CMSG_DATA(c), sizeof ts);
            return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
        }
        return -1;
    };
    auto drain = [&] {
        for (;;) {
            for (std::size_t i = 0; i < kBatch; ++i) {
                rx_iov[i] = {rx[i].data(), rx[i].size()};
                rx_msgs[i] = {};
                rx_msgs[i].msg_hdr.msg_iov = &rx_iov[i];
                rx_msgs[i].msg_hdr.msg_iovlen = 1;
                rx_msgs[i].msg_hdr.msg_control = rx_control[i].data();
                rx_msgs[i].msg_hdr.msg_controllen = rx_control[i].size();
            }
            const int n = ::recvmmsg(fd, rx_msgs.data(), kBatch, MSG_DONTWAIT, nullptr);
            if (n <= 0) return;
            const std::int64_t t = elapsed_ns();
            for (int i = 0; i < n; ++i) {
                const std::span<const std::uint8_t> mh(rx[i].data(), rx_msgs[i].msg_len);
                if (mh.size() < 12 || mh[2] != 6) continue;  // PBAs only
                ++received;
                ++by_status[mh[6]];
                last_pba_ns = t;
                const auto parsed = mh::parse(mh);
                const auto* p = std::get_if<mh::Parsed>(&parsed);
                const auto* ba = p ? std::get_if<mh::BindingAcknowledgement>(&p->message) : nullptr;
                const auto* id = ba ? mh::find_option<mh::MobileNodeIdentifier>(ba->options) : nullptr;
                unsigned long index = 0;
                if (id && id->identifier.size() > 2 &&
                    std::sscanf(std::string(id->identifier.begin(), id->identifier.end()).c_str(),
                                "mn%lu@", &index) == 1 &&
                    index >= first && index - first < count && sent_ns[index - first] >= 0) {
                    latency_ns.push_back(static_cast<std::uint32_t>(
                        std::min<std::int64_t>(t - sent_ns[index - first], UINT32_MAX)));
                    const std::int64_t arrived = rx_timestamp_ns(rx_msgs[i].msg_hdr);
                    if (arrived < 0) {
                        ++no_rx_timestamp;
                    } else {
                        latency_rx_ns.push_back(static_cast<std::uint32_t>(std::clamp<std::int64_t>(
                            arrived - sent_realtime_ns[index - first], 0, UINT32_MAX)));
                        if (!trace_rx_ns.empty())
                            trace_rx_ns[index - first] = static_cast<std::int32_t>(
                                std::min<std::uint32_t>(latency_rx_ns.back(), INT32_MAX));
                    }
                    sent_ns[index - first] = -2;  // answered
                } else {
                    ++unmatched;
                }
            }
        }
    };

    const long rss_before = rss_kib(lmad_pid);
    std::vector<std::vector<std::uint8_t>> wires(kBatch);
    std::vector<mmsghdr> msgs(kBatch);
    std::vector<iovec> iov(kBatch);
    std::vector<sockaddr_in6> to(kBatch);
    std::vector<std::array<std::uint8_t, CMSG_SPACE(sizeof(in6_pktinfo))>> control(kBatch);
    std::uint32_t sent = 0;
    while (sent < count && elapsed_ns() < static_cast<std::int64_t>(max_seconds * 1e9)) {
        const auto due = static_cast<std::uint32_t>(
            std::min<double>(count, rate * static_cast<double>(elapsed_ns()) / 1e9 + 1));
        if (due <= sent) {
            drain();
            continue;
        }
        const std::size_t n = std::min<std::size_t>(kBatch, due - sent);
        const std::uint64_t ts = now_timestamp();
        for (std::size_t k = 0; k < n; ++k) {
            const std::uint32_t index = first + sent + static_cast<std::uint32_t>(k);
            char id[32];
            const int len = spoof ? std::snprintf(id, sizeof id, "flood-%08x", static_cast<unsigned>(random()))
                                  : std::snprintf(id, sizeof id, "mn%07u@example.org", index);
            Ipv6Address source = mag(index);
            if (spoof) {  // any interface identifier in the MAGs' /64
                const std::uint64_t iid = random();
                for (int b = 0; b < 8; ++b) source[8 + b] = static_cast<std::uint8_t>(iid >> (8 * b));
            }
            mh::BindingUpdate bu;
            bu.sequence = static_cast<std::uint16_t>(index);
            bu.flags = mh::bu_flag::kA | mh::bu_flag::kP;
            bu.lifetime = 900;
            bu.options = {mh::MobileNodeIdentifier{1, std::vector<std::uint8_t>(id, id + len)},
                          mh::HomeNetworkPrefix{0, {}}, mh::HandoffIndicator{1},
                          mh::AccessTechnologyType{4}, mh::Timestamp{ts}};
            wires[k] = signer ? mh::serialize(signer->sign(source, *lma, bu)) : mh::serialize(bu);
            to[k] = {};
            to[k].sin6_family = AF_INET6;
            std::memcpy(&to[k].sin6_addr, lma->data(), 16);
            iov[k] = {wires[k].data(), wires[k].size()};
            msgs[k] = {};
            msgs[k].msg_hdr.msg_name = &to[k];
            msgs[k].msg_hdr.msg_namelen = sizeof to[k];
            msgs[k].msg_hdr.msg_iov = &iov[k];
            msgs[k].msg_hdr.msg_iovlen = 1;
            msgs[k].msg_hdr.msg_control = control[k].data();
            msgs[k].msg_hdr.msg_controllen = control[k].size();
            cmsghdr* c = CMSG_FIRSTHDR(&msgs[k].msg_hdr);
            c->cmsg_level = IPPROTO_IPV6;
            c->cmsg_type = IPV6_PKTINFO;
            c->cmsg_len = CMSG_LEN(sizeof(in6_pktinfo));
            in6_pktinfo info{};
            std::memcpy(&info.ipi6_addr, source.data(), 16);
            std::memcpy(CMSG_DATA(c), &info, sizeof info);
        }
        const std::int64_t t = elapsed_ns();
        const std::int64_t t_realtime = realtime_ns();
        const int done = ::sendmmsg(fd, msgs.data(), static_cast<unsigned>(n), 0);
        if (done <= 0) {
            ++send_errors;
            drain();
            continue;
        }
        for (int k = 0; k < done; ++k) {
            sent_ns[sent + static_cast<std::uint32_t>(k)] = t;
            sent_realtime_ns[sent + static_cast<std::uint32_t>(k)] = t_realtime;
        }
        sent += static_cast<std::uint32_t>(done);
        drain();
    }
    const double send_seconds = static_cast<double>(elapsed_ns()) / 1e9;
    const auto drain_until = elapsed_ns() + static_cast<std::int64_t>(drain_ms) * 1'000'000;
    while (latency_ns.size() < sent && elapsed_ns() < drain_until) {
        drain();
        ::usleep(1000);
    }
    const long rss_after = rss_kib(lmad_pid);
    ::close(fd);
    if (!trace_file.empty()) {
        std::FILE* out = std::fopen(trace_file.c_str(), "w");
        if (!out) die("--trace " + trace_file + ": " + std::strerror(errno));
        std::fprintf(out, "# first PBU sent at CLOCK_REALTIME %lld ns; then: send time (us from it) latency_rx (us)\n",
                     static_cast<long long>(sent_realtime_ns[0]));
        for (std::uint32_t i = 0; i < count; ++i) {
            if (trace_rx_ns[i] < 0) continue;
            std::fprintf(out, "%.1f %.1f\n", static_cast<double>(sent_realtime_ns[i] - sent_realtime_ns[0]) / 1000.0,
                         trace_rx_ns[i] / 1000.0);
        }
        std::fclose(out);
    }

    auto pct = [](std::vector<std::uint32_t>& v, double q) -> double {
        if (v.empty()) return 0;
        const std::size_t i = std::min(v.size() - 1, static_cast<std::size_t>(q * static_cast<double>(v.size())));
        std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(i), v.end());
        return v[i] / 1000.0;
    };
    auto max_of = [](const std::vector<std::uint32_t>& v) {
        return v.empty() ? 0.0 : *std::max_element(v.begin(), v.end()) / 1000.0;
    };
    const double p50 = pct(latency_ns, 0.5), p99 = pct(latency_ns, 0.99), p999 = pct(latency_ns, 0.999);
    const double max = max_of(latency_ns);
    const double rx_p50 = pct(latency_rx_ns, 0.5), rx_p99 = pct(latency_rx_ns, 0.99),
                 rx_p999 = pct(latency_rx_ns, 0.999), rx_max = max_of(latency_rx_ns);
    std::string statuses;
    for (const auto& [status, n] : by_status)
        statuses += (statuses.empty() ? "" : ",") + ("\"" + std::to_string(status) + "\":" + std::to_string(n));
    const std::uint64_t accepted = by_status.count(0) ? by_status[0] : 0;
    std::printf(
        "{\"offered_rate\":%.0f,\"pbus_sent\":%u,\"send_seconds\":%.3f,\"sent_per_s\":%.0f,"
        "\"pbas_received\":%llu,\"pbas_by_status\":{%s},\"accepted_per_s\":%.0f,"
        "\"unanswered\":%llu,\"unmatched_pbas\":%llu,\"send_errors\":%llu,"
        "\"latency\":{\"p50_us\":%.1f,\"p99_us\":%.1f,\"p999_us\":%.1f,\"max_us\":%.1f},"
        "\"latency_rx\":{\"p50_us\":%.1f,\"p99_us\":%.1f,\"p999_us\":%.1f,\"max_us\":%.1f,"
        "\"no_timestamp\":%llu},"
        "\"lmad_rss_before_kib\":%ld,\"lmad_rss_after_kib\":%ld,\"mags\":%u,\"first_mn\":%u,"
        "\"signed\":%s,\"spoofed\":%s}\n",
        rate, sent, send_seconds, sent / send_seconds, static_cast<unsigned long long>(received),
        statuses.c_str(), static_cast<double>(accepted) / (static_cast<double>(last_pba_ns) / 1e9),
        static_cast<unsigned long long>(sent - latency_ns.size()),
        static_cast<unsigned long long>(unmatched), static_cast<unsigned long long>(send_errors),
        p50, p99, p999, max, rx_p50, rx_p99, rx_p999, rx_max,
        static_cast<unsigned long long>(no_rx_timestamp), rss_before, rss_after, mags, first, signer ? "true" : "false",
        spoof ? "true" : "false");
    return 0;
}
