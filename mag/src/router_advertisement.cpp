// Router Advertisement / Solicitation messages and the per-link RA schedule.
#include "pmip/mag/router_advertisement.hpp"

#include <algorithm>

namespace pmip::mag {

namespace {

constexpr std::uint8_t kRouterSolicitation = 133;
constexpr std::uint8_t kRouterAdvertisement = 134;
constexpr std::uint8_t kOptionSourceLinkLayer = 1;
constexpr std::uint8_t kOptionPrefixInformation = 3;
constexpr std::uint8_t kOptionMtu = 5;

void put16(std::vector<std::uint8_t>& b, std::uint16_t v) {
    b.push_back(static_cast<std::uint8_t>(v >> 8));
    b.push_back(static_cast<std::uint8_t>(v));
}
void put32(std::vector<std::uint8_t>& b, std::uint32_t v) {
    for (int s = 24; s >= 0; s -= 8) b.push_back(static_cast<std::uint8_t>(v >> s));
}
std::uint32_t get32(std::span<const std::uint8_t> b, std::size_t at) {
    return std::uint32_t{b[at]} << 24 | std::uint32_t{b[at + 1]} << 16 |
           std::uint32_t{b[at + 2]} << 8 | b[at + 3];
}

// Walks ND options [RFC 4861 section 4.6]: every option has length > 0 and
// fits; returns false otherwise (the message must be discarded, 6.1).
template <typename F>
bool for_each_option(std::span<const std::uint8_t> options, F&& f) {
    std::size_t pos = 0;
    while (pos < options.size()) {
        if (options.size() - pos < 2) return false;
        const std::size_t len = std::size_t{options[pos + 1]} * 8;
        if (len == 0 || len > options.size() - pos) return false;
        if (!f(options[pos], options.subspan(pos, len))) return false;
        pos += len;
    }
    return true;
}

}  // namespace

std::vector<std::uint8_t> build_router_advertisement(const RouterAdvertisement& ra) {
    std::vector<std::uint8_t> b;
    b.reserve(16 + 8 + 8 + 32 * ra.prefixes.size());
    b.push_back(kRouterAdvertisement);
    b.push_back(0);  // code
    put16(b, 0);     // checksum
    b.push_back(ra.cur_hop_limit);
    b.push_back(static_cast<std::uint8_t>((ra.managed ? 0x80 : 0) | (ra.other ? 0x40 : 0)));
    put16(b, ra.router_lifetime);
    put32(b, ra.reachable_time);
    put32(b, ra.retrans_timer);
    if (ra.source_link_layer_address) {
        b.push_back(kOptionSourceLinkLayer);
        b.push_back(1);
        b.insert(b.end(), ra.source_link_layer_address->begin(), ra.source_link_layer_address->end());
    }
    if (ra.mtu) {
        b.push_back(kOptionMtu);
        b.push_back(1);
        put16(b, 0);
        put32(b, *ra.mtu);
    }
    for (const auto& p : ra.prefixes) {
        b.push_back(kOptionPrefixInformation);
        b.push_back(4);
        b.push_back(p.prefix.length);
        b.push_back(static_cast<std::uint8_t>((p.on_link ? 0x80 : 0) | (p.autonomous ? 0x40 : 0)));
        put32(b, p.valid_lifetime);
        put32(b, p.preferred_lifetime);
        put32(b, 0);
        const Ipv6Prefix c = canonical(p.prefix);
        b.insert(b.end(), c.address.begin(), c.address.end());
    }
    return b;
}

std::optional<RouterAdvertisement> parse_router_advertisement(std::span<const std::uint8_t> icmp) {
    if (icmp.size() < 16 || icmp[0] != kRouterAdvertisement || icmp[1] != 0) return std::nullopt;
    RouterAdvertisement ra;
    ra.cur_hop_limit = icmp[4];
    ra.managed = (icmp[5] & 0x80) != 0;
    ra.other = (icmp[5] & 0x40) != 0;
    ra.router_lifetime = static_cast<std::uint16_t>(icmp[6] << 8 | icmp[7]);
    ra.reachable_time = get32(icmp, 8);
    ra.retrans_timer = get32(icmp, 12);
    const bool ok = for_each_option(icmp.subspan(16), [&](std::uint8_t type, auto o) {
        if (type == kOptionSourceLinkLayer && o.size() == 8) {
            std::array<std::uint8_t, 6> mac{};
            std::copy(o.begin() + 2, o.end(), mac.begin());
            ra.source_link_layer_address = mac;
        } else if (type == kOptionMtu) {
            if (o.size() != 8) return false;
            ra.mtu = get32(o, 4);
        } else if (type == kOptionPrefixInformation) {
            if (o.size() != 32 || o[2] > 128) return false;
            PrefixInformation p;
            p.prefix.length = o[2];
            p.on_link = (o[3] & 0x80) != 0;
            p.autonomous = (o[3] & 0x40) != 0;
            p.valid_lifetime = get32(o, 4);
            p.preferred_lifetime = get32(o, 8);
            std::copy(o.begin() + 16, o.end(), p.prefix.address.begin());
            ra.prefixes.push_back(p);
        }
        return true;
    });
    if (!ok) return std::nullopt;
    return ra;
}

std::optional<RouterSolicitation> parse_router_solicitation(std::span<const std::uint8_t> icmp) {
    if (icmp.size() < 8 || icmp[0] != kRouterSolicitation || icmp[1] != 0) return std::nullopt;
    RouterSolicitation rs;
    const bool ok = for_each_option(icmp.subspan(8), [&](std::uint8_t type, auto o) {
        if (type == kOptionSourceLinkLayer) rs.source_link_layer_address.assign(o.begin() + 2, o.end());
        return true;
    });
    if (!ok) return std::nullopt;
    // Trailing zero padding of the SLLA option for 6-octet MACs.
    if (rs.source_link_layer_address.size() > 6 &&
        std::all_of(rs.source_link_layer_address.begin() + 6, rs.source_link_layer_address.end(),
                    [](std::uint8_t c) { return c == 0; })) {
        rs.source_link_layer_address.resize(6);
    }
    return rs;
}

std::uint16_t icmpv6_checksum(std::span<const std::uint8_t> icmp, const Ipv6Address& source,
                              const Ipv6Address& destination) {
    std::uint32_t sum = 0;
    auto add = [&](std::span<const std::uint8_t> d) {
        for (std::size_t i = 0; i < d.size(); i += 2) {
            sum += static_cast<std::uint32_t>(d[i] << 8 | (i + 1 < d.size() ? d[i + 1] : 0));
        }
    };
    add(source);
    add(destination);
    sum += static_cast<std::uint32_t>(icmp.size() >> 16) + static_cast<std::uint32_t>(icmp.size() & 0xffff);
    sum += 58;
    if (icmp.size() >= 4) {
        add(icmp.first(2));
        add(icmp.subspan(4));
    } else {
        add(icmp);
    }
    while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
    return static_cast<std::uint16_t>(~sum);
}

RaScheduler::RaScheduler(Timers& timers, RaTiming timing, Send send, std::uint32_t seed)
    : timers_(timers), timing_(timing), send_(std::move(send)), random_(seed) {}

RaScheduler::~RaScheduler() {
    for (auto& [ifindex, link] : links_) {
        if (link.timer) timers_.cancel_timer(link.timer);
    }
}

// RFC 4861 section 6.2.4: the first MAX_INITIAL_RTR_ADVERTISEMENTS intervals
// are at most MAX_INITIAL_RTR_ADVERT_INTERVAL; afterwards uniformly random
// between MinRtrAdvInterval and MaxRtrAdvInterval.
void RaScheduler::arm(int ifindex, Link& link) {
    if (link.timer) timers_.cancel_timer(link.timer);
    Duration next;
    const auto lo = timing_.min_interval.count();
    const auto hi = std::max(timing_.max_interval.count(), lo);
    next = Duration(std::uniform_int_distribution<Duration::rep>(lo, hi)(random_));
    if (link.sent < timing_.max_initial_advertisements) {
        next = std::min(next, timing_.max_initial_interval);
    }
    link.timer = timers_.start_timer(next, [this, ifindex] { fire(ifindex); });
}

void RaScheduler::fire(int ifindex) {
    const auto it = links_.find(ifindex);
    if (it == links_.end()) return;
    it->second.timer = 0;
    ++it->second.sent;
    send_(ifindex);
    // send_ may have stopped the link.
    const auto again = links_.find(ifindex);
    if (again != links_.end()) arm(ifindex, again->second);
}

void RaScheduler::start(int ifindex) {
    Link& link = links_[ifindex];
    link.sent = 1;
    send_(ifindex);
    const auto it = links_.find(ifindex);
    if (it != links_.end()) arm(ifindex, it->second);
}

void RaScheduler::solicited(int ifindex) {
    if (links_.count(ifindex) == 0) return;  // no binding: nothing to advertise
    send_(ifindex);
}

void RaScheduler::stop(int ifindex) {
    const auto it = links_.find(ifindex);
    if (it == links_.end()) return;
    if (it->second.timer) timers_.cancel_timer(it->second.timer);
    links_.erase(it);
}

}  // namespace pmip::mag
