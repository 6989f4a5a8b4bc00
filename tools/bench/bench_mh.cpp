// bench_mh: Mobility Header codec micro-benchmark (DESIGN.md section 8).
//
// Measures parse() and serialize() (span overload, preallocated buffer) of a
// typical PBU laid out as in PROTOCOL.md section 2.4 (HNP /64, Timestamp, HI,
// ATT, Link-local, MN-ID NAI "mn1@example.org"; 96 octets) and of its PBA.
// Each figure is the median over RUNS runs of ITERATIONS operations, timed
// with std::chrono::steady_clock; a compiler barrier keeps every operation
// from being hoisted or dropped. Prints one JSON object:
//   {"decode_pbu_ns":..,"encode_pbu_ns":..,"decode_pba_ns":..,"encode_pba_ns":..,
//    "iterations":N,"runs":R,"pbu_octets":96,"pba_octets":96,
//    "min_ns":{"decode_pbu":..,...},"cpu_ns":{"decode_pbu":..,...}}
// min_ns is the fastest run; cpu_ns the median of the thread's CPU time per
// operation (CLOCK_THREAD_CPUTIME_ID), which preemption on a busy machine
// does not inflate. Compare those when the machine is shared.
// Target: < 200 ns per operation. A benchmark, not a test: it fails only if
// the codec does not round-trip the messages.
//
// The cost of authenticated signalling (issue 16, common/message_auth): for
// the same PBU, "auth" gives per algorithm (hmac-sha256, hmac-sha1-96)
//   sign_ns    MessageAuthenticator::sign + serialize (what a sender adds
//              to encode_pbu: the option, then the HMAC over the message)
//   verify_ns  MessageAuthenticator::verify of the received PBU (what a
//              receiver adds to decode_pbu)
// as medians over the same runs, and the signed PBU's octets.
//
// Usage: bench_mh [ITERATIONS [RUNS]]   (defaults 200000 and 7)
#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <span>
#include <variant>
#include <vector>

#include "pmip/common/clock.hpp"
#include "pmip/common/message_auth.hpp"
#include "pmip/mh/codec.hpp"

namespace {

using namespace pmip::mh;
using Clock = std::chrono::steady_clock;

// Tells the compiler that `value` is read and that any memory may have
// changed, so the work producing it cannot be removed or hoisted.
template <typename T>
inline void do_not_optimize(const T& value) {
    asm volatile("" : : "r"(&value) : "memory");
}

inline void clobber_memory() { asm volatile("" : : : "memory"); }

Options typical_options() {
    HomeNetworkPrefix hnp;
    hnp.prefix_length = 64;
    hnp.prefix = Ipv6Address{0x20, 0x01, 0x0d, 0xb8, 0x00, 0x01};
    LinkLocalAddress link_local;
    link_local.address = Ipv6Address{0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0x02, 0x00, 0x00, 0x5e, 0xfe, 0x00, 0x52, 0x13};
    MobileNodeIdentifier mn_id;
    mn_id.subtype = mn_id_subtype::kNai;
    const std::string_view nai = "mn1@example.org";
    mn_id.identifier.assign(nai.begin(), nai.end());
    return Options{
        hnp,
        Timestamp{make_timestamp(1700000000, 300'000'000)},
        HandoffIndicator{handoff_indicator::kNewInterface},
        AccessTechnologyType{4},  // IEEE 802.11a/b/g
        link_local,
        mn_id,
    };
}

Message typical_pbu() {
    BindingUpdate pbu;
    pbu.sequence = 4711;
    pbu.flags = bu_flag::kA | bu_flag::kP;
    pbu.lifetime = 900;  // 3600 s
    pbu.options = typical_options();
    return pbu;
}

Message typical_pba() {
    BindingAcknowledgement pba;
    pba.status = status::kAccepted;
    pba.flags = ba_flag::kP;
    pba.sequence = 4711;
    pba.lifetime = 900;
    pba.options = typical_options();
    return pba;
}

struct Timing {
    double median_ns = 0;      // wall clock (steady_clock)
    double min_ns = 0;
    double cpu_median_ns = 0;  // this thread's CPU time: excludes preemption
};

double thread_cpu_ns() {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) * 1e9 + static_cast<double>(ts.tv_nsec);
}

template <typename Operation>
Timing time_ns(Operation&& operation, std::size_t iterations, int runs) {
    std::vector<double> per_op;
    std::vector<double> cpu_per_op;
    for (int run = 0; run < runs; ++run) {
        const double cpu_start = thread_cpu_ns();
        const auto start = Clock::now();
        for (std::size_t i = 0; i < iterations; ++i) operation();
        const auto stop = Clock::now();
        const double cpu_stop = thread_cpu_ns();
        per_op.push_back(std::chrono::duration<double, std::nano>(stop - start).count() /
                         static_cast<double>(iterations));
        cpu_per_op.push_back((cpu_stop - cpu_start) / static_cast<double>(iterations));
    }
    std::sort(per_op.begin(), per_op.end());
    std::sort(cpu_per_op.begin(), cpu_per_op.end());
    return Timing{per_op[per_op.size() / 2], per_op.front(), cpu_per_op[cpu_per_op.size() / 2]};
}

[[noreturn]] void fail(const char* what) {
    std::fprintf(stderr, "bench_mh: %s\n", what);
    std::exit(1);
}

struct Figures {
    Timing decode;
    Timing encode;
    std::size_t octets = 0;
};

Figures measure(const Message& message, std::size_t iterations, int runs) {
    std::array<std::uint8_t, 2048> buffer{};
    const auto written = serialize(message, std::span<std::uint8_t>(buffer));
    if (!std::holds_alternative<std::size_t>(written)) fail("serialize failed");
    const std::size_t octets = std::get<std::size_t>(written);
    const std::vector<std::uint8_t> wire(buffer.begin(), buffer.begin() + static_cast<std::ptrdiff_t>(octets));

    // Correctness once, outside the timing.
    const ParseResult check = parse(wire);
    if (!std::holds_alternative<Parsed>(check) || std::get<Parsed>(check).message != message) {
        fail("parse(serialize(m)) != m");
    }

    Figures f;
    f.octets = octets;
    const std::span<const std::uint8_t> input(wire);
    f.decode = time_ns(
        [&] {
            do_not_optimize(input);
            ParseResult result = parse(input);
            do_not_optimize(result);
        },
        iterations, runs);

    std::array<std::uint8_t, 2048> out{};
    const std::span<std::uint8_t> out_span(out);
    f.encode = time_ns(
        [&] {
            do_not_optimize(message);
            auto n = serialize(message, out_span);
            do_not_optimize(n);
            clobber_memory();
        },
        iterations, runs);
    if (!std::equal(wire.begin(), wire.end(), out.begin())) fail("span serialize differs");
    return f;
}

struct AuthFigures {
    Timing sign;
    Timing verify;
    std::size_t octets = 0;
};

AuthFigures measure_auth(const Message& message, AuthAlgorithm algorithm, std::size_t iterations,
                         int runs) {
    using namespace pmip;
    const Ipv6Address mag{0x20, 0x01, 0x0d, 0xb8, 0x01, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x11};
    const Ipv6Address lma{0x20, 0x01, 0x0d, 0xb8, 0x01, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01};
    auto peer = [&](const Ipv6Address& address) {
        auth::PeerSecurity p;
        p.peers = Ipv6Prefix{address, 128};
        p.mode = auth::Mode::kRequired;
        p.associations = {{1000, algorithm, std::vector<std::uint8_t>(32, 0x5a)}};
        return p;
    };
    SteadyClock clock;
    auth::MessageAuthenticator sender({peer(lma)}, clock);
    auth::MessageAuthenticator receiver({peer(mag)}, clock);
    const std::vector<std::uint8_t> wire = serialize(sender.sign(mag, lma, message));
    const ParseResult parsed = parse(wire);
    if (!std::holds_alternative<Parsed>(parsed)) fail("a signed PBU does not parse");
    const Message& received = std::get<Parsed>(parsed).message;
    pmip::ReceivedPacket packet;
    packet.mh = wire;
    packet.source = mag;
    packet.destination = lma;
    if (receiver.verify(packet, received) != auth::Verdict::kAuthenticated) fail("a signed PBU does not verify");

    AuthFigures f;
    f.octets = wire.size();
    f.sign = time_ns(
        [&] {
            do_not_optimize(message);
            auto out = serialize(sender.sign(mag, lma, message));
            do_not_optimize(out);
        },
        iterations, runs);
    f.verify = time_ns(
        [&] {
            do_not_optimize(packet);
            auto verdict = receiver.verify(packet, received);
            do_not_optimize(verdict);
        },
        iterations, runs);
    return f;
}

}  // namespace

int main(int argc, char** argv) {
    std::size_t iterations = 200'000;
    int runs = 7;
    if (argc > 1) iterations = std::strtoull(argv[1], nullptr, 10);
    if (argc > 2) runs = std::atoi(argv[2]);
    if (iterations == 0 || runs <= 0) fail("usage: bench_mh [ITERATIONS [RUNS]]");

    const Figures pbu = measure(typical_pbu(), iterations, runs);
    const Figures pba = measure(typical_pba(), iterations, runs);
    const AuthFigures sha256 = measure_auth(typical_pbu(), AuthAlgorithm::kHmacSha256, iterations / 4, runs);
    const AuthFigures sha1 = measure_auth(typical_pbu(), AuthAlgorithm::kHmacSha1_96, iterations / 4, runs);
    std::printf(
        "{\"decode_pbu_ns\":%.1f,\"encode_pbu_ns\":%.1f,\"decode_pba_ns\":%.1f,\"encode_pba_ns\":%.1f,"
        "\"iterations\":%zu,\"runs\":%d,\"pbu_octets\":%zu,\"pba_octets\":%zu,"
        "\"min_ns\":{\"decode_pbu\":%.1f,\"encode_pbu\":%.1f,\"decode_pba\":%.1f,\"encode_pba\":%.1f},"
        "\"cpu_ns\":{\"decode_pbu\":%.1f,\"encode_pbu\":%.1f,\"decode_pba\":%.1f,\"encode_pba\":%.1f},"
        "\"auth\":{\"hmac-sha256\":{\"sign_ns\":%.1f,\"verify_ns\":%.1f,\"pbu_octets\":%zu},"
        "\"hmac-sha1-96\":{\"sign_ns\":%.1f,\"verify_ns\":%.1f,\"pbu_octets\":%zu},\"iterations\":%zu}}\n",
        pbu.decode.median_ns, pbu.encode.median_ns, pba.decode.median_ns, pba.encode.median_ns, iterations, runs,
        pbu.octets, pba.octets, pbu.decode.min_ns, pbu.encode.min_ns, pba.decode.min_ns, pba.encode.min_ns,
        pbu.decode.cpu_median_ns, pbu.encode.cpu_median_ns, pba.decode.cpu_median_ns, pba.encode.cpu_median_ns,
        sha256.sign.median_ns, sha256.verify.median_ns, sha256.octets, sha1.sign.median_ns, sha1.verify.median_ns,
        sha1.octets, iterations / 4);
    return 0;
}
