// AF_PACKET sender, its fake, and the per-link path choice. See link_layer_sender.hpp.
#include "pmip/common/link_layer_sender.hpp"

#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "pmip/common/fd.hpp"

namespace pmip {

namespace {

std::string mac_string(const MacAddress& mac) {
    char text[18];
    std::snprintf(text, sizeof text, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2],
                  mac[3], mac[4], mac[5]);
    return text;
}

class PacketSocketSender final : public LinkLayerSender {
  public:
    explicit PacketSocketSender(Fd fd) : fd_(std::move(fd)) {}

    Status send(int ifindex, const MacAddress& destination,
                std::span<const std::uint8_t> ipv6_packet) override {
        sockaddr_ll to{};
        to.sll_family = AF_PACKET;
        to.sll_protocol = htons(ETH_P_IPV6);  // the socket's own protocol is 0
        to.sll_ifindex = ifindex;
        to.sll_halen = static_cast<unsigned char>(destination.size());
        std::memcpy(to.sll_addr, destination.data(), destination.size());
        for (;;) {
            if (::sendto(fd_.get(), ipv6_packet.data(), ipv6_packet.size(),
                         MSG_DONTWAIT | MSG_NOSIGNAL, reinterpret_cast<const sockaddr*>(&to),
                         sizeof to) >= 0)
                return {};
            if (errno != EINTR)
                break;
        }
        return Error::from_errno("AF_PACKET sendto " + mac_string(destination) + " on ifindex " +
                                 std::to_string(ifindex));
    }

  private:
    Fd fd_;
};

}  // namespace

Expected<std::unique_ptr<LinkLayerSender>> make_packet_socket_sender() {
    // Protocol 0: the socket is not bound to any EtherType, so the kernel
    // never queues received frames on it (send only).
    Fd fd(::socket(AF_PACKET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!fd.valid())
        return Error::from_errno("link-layer sender: AF_PACKET socket (needs CAP_NET_RAW)");
    return std::unique_ptr<LinkLayerSender>(new PacketSocketSender(std::move(fd)));
}

Status FakeLinkLayerSender::send(int ifindex, const MacAddress& destination,
                                 std::span<const std::uint8_t> ipv6_packet) {
    if (fail_send)
        return *fail_send;
    sent.push_back({ifindex, destination, {ipv6_packet.begin(), ipv6_packet.end()}});
    return {};
}

nlohmann::json to_json(const Icmpv6TransmitterCounters& c) {
    return {{"link_layer_sent", c.link_layer_sent},
            {"link_layer_errors", c.link_layer_errors},
            {"raw_sent", c.raw_sent},
            {"raw_errors", c.raw_errors}};
}

Icmpv6Transmitter::Icmpv6Transmitter(std::unique_ptr<LinkLayerSender> link_layer, RawSend raw,
                                     Options options)
    : link_layer_(std::move(link_layer)), raw_(std::move(raw)), options_(options) {}

Status Icmpv6Transmitter::send(int ifindex, bool ethernet, const Ipv6Address& source,
                               const Ipv6Address& destination, std::span<const std::uint8_t> icmp,
                               const std::optional<MacAddress>& destination_mac) {
    if (!ethernet || !link_layer_) {
        Status st = raw_ ? raw_(ifindex, source, destination, icmp)
                         : Status{Error{ENOTSUP, "no raw ICMPv6 socket for ifindex " +
                                                     std::to_string(ifindex)}};
        ++(st.ok() ? counters_.raw_sent : counters_.raw_errors);
        return st;
    }
    MacAddress mac{};
    if (is_multicast(destination)) {
        mac = ipv6_multicast_mac(destination);
    } else if (destination_mac) {
        mac = *destination_mac;
    } else {
        ++counters_.link_layer_errors;
        return Error{EINVAL, "link-layer send to " + to_string(destination) + " on ifindex " +
                                 std::to_string(ifindex) + ": unicast destination without a MAC"};
    }
    const Icmpv6PacketSpec spec{source, destination, options_.hop_limit, options_.router_alert,
                                icmp};
    buffer_.resize(icmpv6_packet_size(spec));
    const std::size_t n = build_icmpv6_packet(spec, buffer_);
    if (n == 0) {
        ++counters_.link_layer_errors;
        return Error{EMSGSIZE, "link-layer send to " + to_string(destination) + " on ifindex " +
                                   std::to_string(ifindex) + ": ICMPv6 message of " +
                                   std::to_string(icmp.size()) + " octets cannot be framed"};
    }
    if (Status st =
            link_layer_->send(ifindex, mac, std::span<const std::uint8_t>(buffer_.data(), n));
        !st.ok()) {
        ++counters_.link_layer_errors;
        return Error{st.error().code, "from " + to_string(source) + " to " +
                                          to_string(destination) + ": " + st.error().what};
    }
    ++counters_.link_layer_sent;
    return {};
}

}  // namespace pmip
