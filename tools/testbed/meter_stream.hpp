// Handover meter stream: the paced sender and the timestamping receiver.
//
// Wire format (the same as tools/testbed/handover_meter.py, so the two
// interoperate): one UDP datagram per 1/rate s, payload = 64-bit sequence
// number, 64-bit send time in ns since the epoch (CLOCK_REALTIME), both big
// endian, then zero padding up to --size octets.
//
// Sender: paced with clock_nanosleep(TIMER_ABSTIME) on CLOCK_MONOTONIC
// against an absolute schedule (datagram n leaves at start + n/rate s), so
// a late wake-up delays one datagram and never shifts the ones after it.
// Receiver: arrival times are the kernel's receive timestamps
// (SO_TIMESTAMPNS), not the time the process woke up, so scheduling delays
// of the meter do not enter the measured gaps; socket drops are read from
// SO_RXQ_OVFL.
//
// Threading: single thread, blocking sockets. Counters: the report.
#pragma once

#include <netinet/in.h>

#include <cstdint>
#include <optional>
#include <string>

namespace pmip::meter {

inline constexpr std::size_t kHeaderSize = 16;  // sequence + send time

struct SendOptions {
    sockaddr_in6 to{};        // destination, port and scope set
    double rate = 1000;       // datagrams per second
    bool rate_given = false;  // Python prints 1000 by default, 1000.0 when given
    double seconds = 6;
    std::size_t size = 64;  // UDP payload octets (at least kHeaderSize are sent)
    unsigned interface_index = 0;
    int hops = 16;
    std::uint64_t pause_after = 0;  // datagrams sent before the pause
    double pause_ms = 0;            // 0 = no pause
    bool realtime = false;          // SCHED_FIFO, so the pace holds on a busy machine
};

struct ReceiveOptions {
    std::uint16_t port = 5000;
    std::optional<in6_addr> group;
    std::optional<in6_addr> source;  // SSM with group
    std::string group_text, source_text, interface_name;
    unsigned interface_index = 0;
    double seconds = 7;
    double gap_ms = 5;
    bool json = false;
};

// Both return the process exit status and print errors themselves.
int run_send(const SendOptions& options);
int run_receive(const ReceiveOptions& options);

}  // namespace pmip::meter
