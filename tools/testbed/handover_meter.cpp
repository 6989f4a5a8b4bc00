// pmip-handover-meter: a sequence-numbered UDP stream and its receiver, the
// C++ replacement of tests/cli/handover_meter_reference.py (same subcommands,
// options, wire format, JSON keys, readable lines and exit statuses).
//
// This file is the command line and the manual; meter_stream.cpp holds the
// sockets, meter_report.cpp the arithmetic and the output.
#include <arpa/inet.h>
#include <net/if.h>
#include <netdb.h>

#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>

#include "meter_stream.hpp"

namespace {

constexpr int kExitUsage = 2;

const char* const kManual = R"(NAME
    pmip-handover-meter - measure a handover: a sequence-numbered UDP stream
    and its receiver

SYNOPSIS
    pmip-handover-meter send --to ADDR [--port N] [--rate R] [--seconds S]
                             [--size N] [--interface IF] [--hops N]
                             [--pause-after N --pause-ms MS] [--realtime]
    pmip-handover-meter receive [--group ADDR [--source ADDR]] [--port N]
                                [--interface IF] [--seconds S] [--gap-ms MS]
                                [--json]
    pmip-handover-meter --help | --version

DESCRIPTION
    send sends one UDP datagram every 1/R seconds to ADDR (unicast or
    multicast) for S seconds: int(R * S) datagrams, numbered from 0. Each
    datagram carries a 64-bit sequence number and the sender's send time in
    nanoseconds since the epoch, both big endian, padded with zeros to --size
    octets. The pace follows an absolute schedule (datagram n leaves at start
    + n/R s, clock_nanosleep on CLOCK_MONOTONIC), so a late wake-up delays one
    datagram and never the ones after it. A datagram the kernel refuses (no
    route while the mobile node moves, for instance) is counted, not fatal.
    At the end send prints one JSON object on stderr:
      {"sent": N, "send_errors": E, "rate": R}
    with "skipped": K added when --pause-ms is given.

    receive listens on UDP port N of every address, joining --group on
    --interface (any-source multicast) or the channel (--source, --group)
    (source-specific multicast), until S seconds have passed, then reports:
    datagrams received, lost (sequence numbers never seen between the lowest
    and the highest seen), duplicates, reordered (below the highest sequence
    number seen before them), and every interruption longer than --gap-ms
    between two consecutive arrivals: when it started (seconds after the first
    arrival), its length in milliseconds and the sequence numbers missing
    across it. The largest interruption is the handover gap.

    Arrival times are the kernel's receive timestamps (SO_TIMESTAMPNS), not
    the moment the meter woke up, so the meter's own scheduling delays do not
    enter the gaps. The socket asks for a 4 MiB receive buffer (beyond
    net.core.rmem_max when the meter has CAP_NET_ADMIN); datagrams the kernel
    still dropped for want of buffer space are counted (SO_RXQ_OVFL) and
    reported as socket_drops.

    The wire format, the options and the report are those of
    tests/cli/handover_meter_reference.py: either sender works with either receiver.

OPTIONS
  send
    --to ADDR       destination IPv6 address (required); a link-local address
                    takes its zone from ADDR%IF or from --interface.
    --port N        destination UDP port; default 5000.
    --rate R        datagrams per second, > 0; default 1000.
    --seconds S     how long to send; default 6.
    --size N        UDP payload octets, 16..65527 are sent (smaller values
                    send the 16-octet header alone); default 64.
    --interface IF  outgoing interface of multicast datagrams
                    (IPV6_MULTICAST_IF) and zone of a link-local ADDR.
    --hops N        hop limit of the datagrams, multicast and unicast, 0..255;
                    default 16.
    --pause-after N, --pause-ms MS
                    simulate an interruption: after datagrams 0..N-1, the
                    datagrams whose slots fall in the next MS milliseconds,
                    ceil(MS * R / 1000) of them, are not sent (their sequence
                    numbers are skipped, as a handover loses them). A receiver
                    then reports one gap of MS + 1000/R ms with that many
                    missing. Given together.
    --realtime      send under the real-time policy SCHED_FIFO, priority 1
                    (root or CAP_SYS_NICE; exit 1 otherwise), so the pace
                    holds on a busy machine. Without it, a sender that the
                    scheduler wakes late sends late, and the receiver sees
                    that delay as part of the gaps (a few ms on a loaded
                    2-core machine). The stream costs little CPU.

  receive
    --group ADDR    IPv6 multicast group to join; without it the meter
                    receives unicast only.
    --source ADDR   with --group: join the channel (ADDR, group) instead
                    (MCAST_JOIN_SOURCE_GROUP), for SSM groups (ff3x::/32).
    --port N        UDP port; default 5000.
    --interface IF  interface of the join; without it the kernel picks the
                    interface from the routing table.
    --seconds S     how long to listen; default 7.
    --gap-ms MS     list interruptions longer than MS milliseconds; default 5.
    --json          print one JSON object instead of readable lines.

    -h, --help      print this manual and exit.
    --version       print the version and exit.

    Options may also be written --option=VALUE.

OUTPUT
    receive --json prints one line:
      {"received": 5951, "lost": 49, "duplicates": 0, "reordered": 0,
       "first_seq": 0, "last_seq": 5999, "max_gap_ms": 51.48,
       "gaps": [{"at_s": 2.501, "ms": 51.48, "missing": 49}],
       "socket_drops": 0}
    first_seq and last_seq are null when nothing arrived; max_gap_ms is the
    longest time between consecutive arrivals, listed or not; at_s is rounded
    to 1 ms, ms to 10 us. Without --json:
      received 5951, lost 49, duplicates 0, reordered 0, largest gap 51.48 ms
        gap of 51.48 ms at 2.501 s, 49 missing
    and, only when the kernel dropped datagrams at the socket,
        N datagrams dropped by the kernel: receive buffer full

EXIT STATUS
    0   send: always once the stream was sent; receive: at least one datagram
        arrived.
    1   receive: no datagram arrived; either: a socket operation failed (the
        message names it and the kernel's reason).
    2   usage error: unknown subcommand or option, missing or malformed value,
        bad address, unknown interface.

EXAMPLES
    Multicast handover in the namespace testbed (tools/testbed/testbed.sh):
      mn1$ pmip-handover-meter receive --group ff3e::4242:1 --interface eth0 \
               --port 5001 --seconds 8 --json
      cn$  pmip-handover-meter send --to ff3e::4242:1 --interface c0 \
               --port 5001 --rate 1000 --seconds 6

    A 20 ms interruption on loopback:
      $ pmip-handover-meter receive --port 5002 --seconds 2 &
      $ pmip-handover-meter send --to ::1 --port 5002 --seconds 1 \
            --pause-after 500 --pause-ms 20
)";

struct UsageError {
    std::string text;
};

[[noreturn]] void usage_error(std::string text) {
    throw UsageError{std::move(text)};
}

double parse_number(std::string_view option, const std::string& value) {
    double number = 0;
    const char* end = value.data() + value.size();
    const auto [ptr, ec] = std::from_chars(value.data(), end, number);
    if (value.empty() || ec != std::errc{} || ptr != end || !std::isfinite(number))
        usage_error(std::string(option) + ": \"" + value + "\" is not a number");
    return number;
}

long parse_integer(std::string_view option, const std::string& value, long low, long high) {
    long number = 0;
    const char* end = value.data() + value.size();
    const auto [ptr, ec] = std::from_chars(value.data(), end, number);
    if (value.empty() || ec != std::errc{} || ptr != end)
        usage_error(std::string(option) + ": \"" + value + "\" is not an integer");
    if (number < low || number > high)
        usage_error(std::string(option) + ": " + value + " is out of range (" +
                    std::to_string(low) + ".." + std::to_string(high) + ")");
    return number;
}

unsigned interface_index(const std::string& name) {
    const unsigned index = if_nametoindex(name.c_str());
    if (index == 0)
        usage_error("--interface: unknown interface \"" + name + "\"");
    return index;
}

in6_addr parse_address(std::string_view option, const std::string& text) {
    in6_addr address{};
    if (inet_pton(AF_INET6, text.c_str(), &address) != 1)
        usage_error(std::string(option) + ": \"" + text + "\" is not an IPv6 address");
    return address;
}

// The remaining arguments as (option, value) pairs; flags get no value.
class Arguments {
  public:
    Arguments(int argc, char** argv, int first) : argc_(argc), argv_(argv), next_(first) {}

    bool next(std::string& option, std::string& value, bool (*is_flag)(std::string_view)) {
        if (next_ >= argc_)
            return false;
        const std::string arg = argv_[next_++];
        if (arg.rfind("--", 0) != 0)
            usage_error("unexpected argument \"" + arg + "\"");
        const std::size_t equals = arg.find('=');
        option = arg.substr(0, equals);
        if (is_flag(option)) {
            if (equals != std::string::npos)
                usage_error(option + " takes no value");
            value.clear();
            return true;
        }
        if (equals != std::string::npos) {
            value = arg.substr(equals + 1);
        } else {
            if (next_ >= argc_)
                usage_error(option + " needs a value");
            value = argv_[next_++];
        }
        return true;
    }

  private:
    int argc_;
    char** argv_;
    int next_;
};

bool send_flags(std::string_view option) {
    return option == "--realtime";
}
bool receive_flags(std::string_view option) {
    return option == "--json";
}

pmip::meter::SendOptions parse_send(Arguments args) {
    pmip::meter::SendOptions o;
    std::string to, interface_name;
    long port = 5000;
    bool pause_after_given = false, pause_ms_given = false;
    std::string option, value;
    while (args.next(option, value, send_flags)) {
        if (option == "--to") {
            to = value;
        } else if (option == "--port") {
            port = parse_integer(option, value, 1, 65535);
        } else if (option == "--rate") {
            o.rate = parse_number(option, value);
            if (o.rate <= 0)
                usage_error("--rate: " + value + " is not a positive rate");
            o.rate_given = true;
        } else if (option == "--seconds") {
            o.seconds = parse_number(option, value);
            if (o.seconds < 0)
                usage_error("--seconds: " + value + " is negative");
        } else if (option == "--size") {
            o.size = static_cast<std::size_t>(parse_integer(option, value, 0, 65527));
        } else if (option == "--interface") {
            interface_name = value;
            o.interface_index = interface_index(value);
        } else if (option == "--hops") {
            o.hops = static_cast<int>(parse_integer(option, value, 0, 255));
        } else if (option == "--pause-after") {
            o.pause_after = static_cast<std::uint64_t>(parse_integer(option, value, 0, 1L << 40));
            pause_after_given = true;
        } else if (option == "--realtime") {
            o.realtime = true;
        } else if (option == "--pause-ms") {
            o.pause_ms = parse_number(option, value);
            if (o.pause_ms < 0)
                usage_error("--pause-ms: " + value + " is negative");
            pause_ms_given = true;
        } else {
            usage_error("send: unknown option " + option);
        }
    }
    if (to.empty())
        usage_error("send: --to ADDR is required");
    if (pause_after_given != pause_ms_given)
        usage_error("send: --pause-after and --pause-ms go together");
    if (o.rate * o.seconds > 1e12)
        usage_error("send: --rate times --seconds is more than 10^12 datagrams");

    addrinfo hints{};
    hints.ai_family = AF_INET6;
    hints.ai_socktype = SOCK_DGRAM;
    hints.ai_flags = AI_NUMERICHOST;
    addrinfo* found = nullptr;
    if (getaddrinfo(to.c_str(), nullptr, &hints, &found) != 0 || found == nullptr)
        usage_error("--to: \"" + to + "\" is not an IPv6 address (ADDR or ADDR%INTERFACE)");
    std::memcpy(&o.to, found->ai_addr, sizeof o.to);
    freeaddrinfo(found);
    o.to.sin6_port = htons(static_cast<std::uint16_t>(port));
    if (o.to.sin6_scope_id == 0 && IN6_IS_ADDR_LINKLOCAL(&o.to.sin6_addr))
        o.to.sin6_scope_id = o.interface_index;
    return o;
}

pmip::meter::ReceiveOptions parse_receive(Arguments args) {
    pmip::meter::ReceiveOptions o;
    std::string option, value;
    while (args.next(option, value, receive_flags)) {
        if (option == "--group") {
            o.group = parse_address(option, value);
            o.group_text = value;
            if (!IN6_IS_ADDR_MULTICAST(&*o.group))
                usage_error("--group: " + value + " is not a multicast address (ff00::/8)");
        } else if (option == "--source") {
            o.source = parse_address(option, value);
            o.source_text = value;
            if (IN6_IS_ADDR_MULTICAST(&*o.source) || IN6_IS_ADDR_UNSPECIFIED(&*o.source))
                usage_error("--source: " + value + " is not a unicast address");
        } else if (option == "--port") {
            o.port = static_cast<std::uint16_t>(parse_integer(option, value, 1, 65535));
        } else if (option == "--interface") {
            o.interface_name = value;
            o.interface_index = interface_index(value);
        } else if (option == "--seconds") {
            o.seconds = parse_number(option, value);
            if (o.seconds < 0)
                usage_error("--seconds: " + value + " is negative");
        } else if (option == "--gap-ms") {
            o.gap_ms = parse_number(option, value);
            if (o.gap_ms < 0)
                usage_error("--gap-ms: " + value + " is negative");
        } else if (option == "--json") {
            o.json = true;
        } else {
            usage_error("receive: unknown option " + option);
        }
    }
    if (o.source && !o.group)
        usage_error("receive: --source needs --group (the channel is (source, group))");
    return o;
}

bool wants_help(int argc, char** argv) {
    for (int i = 1; i < argc; ++i) {
        const std::string_view a = argv[i];
        if (a == "--help" || a == "-h")
            return true;
    }
    return false;
}

}  // namespace

int main(int argc, char** argv) {
    if (wants_help(argc, argv)) {
        std::fputs(kManual, stdout);
        return 0;
    }
    try {
        if (argc < 2)
            usage_error("missing subcommand (send or receive)");
        const std::string_view mode = argv[1];
        if (mode == "--version") {
            std::printf("pmip-handover-meter %s\n", PMIP_VERSION);
            return 0;
        }
        if (mode == "send")
            return pmip::meter::run_send(parse_send(Arguments(argc, argv, 2)));
        if (mode == "receive")
            return pmip::meter::run_receive(parse_receive(Arguments(argc, argv, 2)));
        usage_error("unknown subcommand \"" + std::string(mode) + "\" (send or receive)");
    } catch (const UsageError& e) {
        std::fprintf(stderr, "pmip-handover-meter: %s\nTry 'pmip-handover-meter --help'.\n",
                     e.text.c_str());
        return kExitUsage;
    }
}
