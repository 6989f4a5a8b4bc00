// Router Advertisements on the MN's point-to-point access link
// [RFC 4861 sections 4.1, 4.2, 4.6, 6.2; RFC 5213 section 6.7-6.9.3;
// PROTOCOL.md section 2.15].
//
// The MAG emulates the MN's home link: after a successful PBA it advertises
// each HNP in a Prefix Information option (on-link, autonomous), the MTU
// (min of tunnel and access link MTU) and its fixed link-layer address, from
// the same fixed link-local address on every MAG (RFC 6543), so the MN never
// sees a new router. On de-registration the prefixes are withdrawn with zero
// lifetimes (section 6.12). Router Solicitations are answered at once (the MN
// is waiting for its prefix after a handover).
//
// Pure: message building/parsing and the per-link schedule (initial burst of
// MAX_INITIAL_RTR_ADVERTISEMENTS, then a random interval between
// MinRtrAdvInterval and MaxRtrAdvInterval). The sending (a complete frame
// through the link-layer sender, or the raw ICMPv6 socket on links without an
// Ethernet header) lives in magd (access_io.hpp).
//
// Threading: loop thread only.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "pmip/common/ip.hpp"
#include "pmip/common/timers.hpp"

namespace pmip::mag {

struct PrefixInformation {
    Ipv6Prefix prefix;
    bool on_link = true;     // L
    bool autonomous = true;  // A
    std::uint32_t valid_lifetime = 2'592'000;     // AdvValidLifetime (30 d)
    std::uint32_t preferred_lifetime = 604'800;   // AdvPreferredLifetime (7 d)
};

struct RouterAdvertisement {
    std::uint8_t cur_hop_limit = 64;
    bool managed = false;  // M
    bool other = false;    // O
    std::uint16_t router_lifetime = 1800;  // seconds
    std::uint32_t reachable_time = 0;
    std::uint32_t retrans_timer = 0;
    std::optional<std::array<std::uint8_t, 6>> source_link_layer_address;
    std::optional<std::uint32_t> mtu;
    std::vector<PrefixInformation> prefixes;
};

// The ICMPv6 message (type 134 onwards), checksum field 0 (the link-layer
// sender's packet builder or the kernel's raw ICMPv6 socket fills it; compute
// it with icmpv6_checksum for tests/pcaps).
std::vector<std::uint8_t> build_router_advertisement(const RouterAdvertisement& ra);

// Parses an RA (for tests and tools). nullopt when malformed.
std::optional<RouterAdvertisement> parse_router_advertisement(std::span<const std::uint8_t> icmp);

struct RouterSolicitation {
    std::vector<std::uint8_t> source_link_layer_address;  // empty when absent
};

// Parses an RS (type 133, code 0, length >= 8, options well formed) [RFC 4861
// section 6.1.1]. nullopt when it must be discarded.
std::optional<RouterSolicitation> parse_router_solicitation(std::span<const std::uint8_t> icmp);

std::uint16_t icmpv6_checksum(std::span<const std::uint8_t> icmp, const Ipv6Address& source,
                              const Ipv6Address& destination);

struct RaTiming {
    Duration max_interval = std::chrono::seconds(600);  // MaxRtrAdvInterval
    Duration min_interval = std::chrono::seconds(198);  // MinRtrAdvInterval
    Duration max_initial_interval = std::chrono::seconds(16);  // MAX_INITIAL_RTR_ADVERT_INTERVAL
    unsigned max_initial_advertisements = 3;                   // MAX_INITIAL_RTR_ADVERTISEMENTS
};

// Per access link: when to send unsolicited RAs. The owner sends what
// `send(ifindex, withdraw)` asks for with the link's current prefixes.
class RaScheduler {
public:
    using Send = std::function<void(int ifindex)>;
    RaScheduler(Timers& timers, RaTiming timing, Send send, std::uint32_t seed = 5213);
    ~RaScheduler();

    // The link's binding was accepted: advertise now, then the initial burst,
    // then periodically.
    void start(int ifindex);
    // A Router Solicitation arrived: answer now (and keep the schedule).
    void solicited(int ifindex);
    // The binding is gone: stop (the owner sends the withdrawing RA itself).
    void stop(int ifindex);
    bool running(int ifindex) const { return links_.count(ifindex) != 0; }

private:
    struct Link {
        unsigned sent = 0;
        TimerId timer = 0;
    };
    void fire(int ifindex);
    void arm(int ifindex, Link& link);

    Timers& timers_;
    RaTiming timing_;
    Send send_;
    std::mt19937 random_;
    std::map<int, Link> links_;
};

}  // namespace pmip::mag
