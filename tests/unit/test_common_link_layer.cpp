// The link-layer sender's packets (common/link_layer_frame.hpp), byte for
// byte from RFC 8200 sections 3, 4.3 and 8.1, RFC 2711, RFC 2464 section 7,
// RFC 3810 section 5.1 and RFC 4861 section 4.2; and the per-link path choice
// (Icmpv6Transmitter) with the fake sender. An independent cross-check with
// scapy is the CLI test link_layer_scapy (tests/cli/test_link_layer_scapy.py).
#include <catch2/catch.hpp>

#include <cstdint>
#include <vector>

#include "pmip/common/link_layer_frame.hpp"
#include "pmip/common/link_layer_sender.hpp"

using namespace pmip;

namespace {

Ipv6Address address(const char* text) { return *parse_address(text); }

const Ipv6Address kRouter = address("fe80::200:5eff:fe00:5213");  // RFC 6543
const Ipv6Address kAllNodes = address("ff02::1");

// MLDv2 General Query [RFC 3810 section 5.1]: type 130, code 0, checksum,
// Maximum Response Code 10000 (10 s), reserved, Multicast Address ::, Resv 0
// S 0 QRV 2, QQIC 125, 0 sources.
const std::vector<std::uint8_t> kGeneralQuery{
    0x82, 0x00, 0x00, 0x00, 0x27, 0x10, 0x00, 0x00,  //
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,  //
    0x02, 0x7d, 0x00, 0x00};

// Router Advertisement [RFC 4861 section 4.2]: Cur Hop Limit 64, M=O=0,
// Router Lifetime 1800, Reachable Time 0, Retrans Timer 0; Source Link-Layer
// Address 00:00:5e:00:52:13; MTU 1500; Prefix Information 2001:db8:1::/64,
// L=A=1, valid 2592000, preferred 604800.
const std::vector<std::uint8_t> kRouterAdvertisement{
    0x86, 0x00, 0x00, 0x00, 0x40, 0x00, 0x07, 0x08,  //
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,  //
    0x01, 0x01, 0x00, 0x00, 0x5e, 0x00, 0x52, 0x13,  //
    0x05, 0x01, 0x00, 0x00, 0x00, 0x00, 0x05, 0xdc,  //
    0x03, 0x04, 0x40, 0xc0, 0x00, 0x27, 0x8d, 0x00,  //
    0x00, 0x09, 0x3a, 0x80, 0x00, 0x00, 0x00, 0x00,  //
    0x20, 0x01, 0x0d, 0xb8, 0x00, 0x01, 0x00, 0x00,  //
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00};

// One's complement sum over pseudo-header and message, checksum included:
// 0xffff when the checksum is right [RFC 4443 section 2.3].
std::uint16_t verify_sum(std::span<const std::uint8_t> packet, std::size_t icmp_at) {
    std::uint32_t sum = 0;
    auto add = [&](std::span<const std::uint8_t> d) {
        for (std::size_t i = 0; i < d.size(); i += 2)
            sum += static_cast<std::uint32_t>(d[i] << 8 | (i + 1 < d.size() ? d[i + 1] : 0));
    };
    add(packet.subspan(8, 32));  // source, destination
    sum += static_cast<std::uint32_t>(packet.size() - icmp_at) + 58;
    add(packet.subspan(icmp_at));
    while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
    return static_cast<std::uint16_t>(sum);
}

}  // namespace

TEST_CASE("link-layer frame: MLDv2 General Query with Router Alert, Hop Limit 1, byte for byte",
          "[common][link_layer]") {
    const auto packet = build_icmpv6_packet({kRouter, kAllNodes, 1, true, kGeneralQuery});
    // Checksum by hand [RFC 8200 section 8.1], 16-bit words:
    //   source      fe80 + 0200 + 5eff + fe00 + 5213 = 2af92
    //   destination ff02 + 0001                      -> 3ae95
    //   length 001c, next header 003a (58, not 0)    -> 3aeeb
    //   message 8200 + 2710 + 027d                   -> 45a78
    //   fold 5a78 + 4 = 5a7c; complement a583.
    const std::vector<std::uint8_t> expected{
        // IPv6: version 6, TC 0, flow label 0; Payload Length 8 + 28 = 36;
        // Next Header 0 (Hop-by-Hop); Hop Limit 1.
        0x60, 0x00, 0x00, 0x00, 0x00, 0x24, 0x00, 0x01,
        0xfe, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x5e, 0xff, 0xfe, 0x00, 0x52, 0x13,
        0xff, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01,
        // Hop-by-Hop: Next Header 58, length 0; Router Alert (5, 2, value 0 =
        // MLD); PadN (1, 0).
        0x3a, 0x00, 0x05, 0x02, 0x00, 0x00, 0x01, 0x00,
        // ICMPv6 with the checksum in place.
        0x82, 0x00, 0xa5, 0x83, 0x27, 0x10, 0x00, 0x00,
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        0x02, 0x7d, 0x00, 0x00};
    CHECK(packet == expected);
    CHECK(verify_sum(packet, 48) == 0xffff);
    CHECK(compute_icmpv6_checksum(kGeneralQuery, kRouter, kAllNodes) == 0xa583);
    CHECK(icmpv6_packet_size({kRouter, kAllNodes, 1, true, kGeneralQuery}) == 76);
}

TEST_CASE("link-layer frame: Router Advertisement, Hop Limit 255, no extension header, byte for byte",
          "[common][link_layer]") {
    const auto packet = build_icmpv6_packet({kRouter, kAllNodes, 255, false, kRouterAdvertisement});
    REQUIRE(packet.size() == 40 + 64);
    const std::vector<std::uint8_t> header{
        0x60, 0x00, 0x00, 0x00, 0x00, 0x40, 0x3a, 0xff,  // Payload Length 64, Next Header 58, Hop Limit 255
        0xfe, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x5e, 0xff, 0xfe, 0x00, 0x52, 0x13,
        0xff, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01};
    CHECK(std::vector<std::uint8_t>(packet.begin(), packet.begin() + 40) == header);
    std::vector<std::uint8_t> icmp = kRouterAdvertisement;
    icmp[2] = 0x8e;  // computed independently (scapy agrees: link_layer_scapy)
    icmp[3] = 0xc3;
    CHECK(std::vector<std::uint8_t>(packet.begin() + 40, packet.end()) == icmp);
    CHECK(verify_sum(packet, 40) == 0xffff);
}

TEST_CASE("link-layer frame: the message's own checksum octets are ignored", "[common][link_layer]") {
    std::vector<std::uint8_t> dirty = kGeneralQuery;
    dirty[2] = 0xde;
    dirty[3] = 0xad;
    CHECK(build_icmpv6_packet({kRouter, kAllNodes, 1, true, dirty}) ==
          build_icmpv6_packet({kRouter, kAllNodes, 1, true, kGeneralQuery}));
    // An odd length is padded with a zero octet for the sum only.
    const std::vector<std::uint8_t> odd{0x80, 0x00, 0x00, 0x00, 0x12, 0x34, 0x56};
    const auto packet = build_icmpv6_packet({kRouter, kAllNodes, 64, false, odd});
    REQUIRE(packet.size() == 47);
    CHECK(packet[5] == 7);
    CHECK(verify_sum(packet, 40) == 0xffff);
}

TEST_CASE("link-layer frame: too small a buffer, a runt message or an oversized payload gives 0",
          "[common][link_layer]") {
    std::vector<std::uint8_t> out(75);
    CHECK(build_icmpv6_packet({kRouter, kAllNodes, 1, true, kGeneralQuery}, out) == 0);
    out.resize(76);
    CHECK(build_icmpv6_packet({kRouter, kAllNodes, 1, true, kGeneralQuery}, out) == 76);
    const std::vector<std::uint8_t> runt{0x82, 0x00, 0x00};
    CHECK(build_icmpv6_packet({kRouter, kAllNodes, 1, false, runt}).empty());
    const std::vector<std::uint8_t> largest(65535, 0);
    CHECK(build_icmpv6_packet({kRouter, kAllNodes, 1, false, largest}).size() == 40 + 65535);
    CHECK(build_icmpv6_packet({kRouter, kAllNodes, 1, true, largest}).empty());  // 8 + 65535 > 65535
}

TEST_CASE("link-layer frame: multicast MAC is 33:33 + the low 32 bits (RFC 2464 section 7)",
          "[common][link_layer]") {
    CHECK(ipv6_multicast_mac(kAllNodes) == MacAddress{0x33, 0x33, 0, 0, 0, 1});
    CHECK(ipv6_multicast_mac(address("ff02::16")) == MacAddress{0x33, 0x33, 0, 0, 0, 0x16});
    CHECK(ipv6_multicast_mac(address("ff02::1:ff00:5213")) ==
          MacAddress{0x33, 0x33, 0xff, 0x00, 0x52, 0x13});
    CHECK(ipv6_multicast_mac(address("ff3e::8000:1234")) ==
          MacAddress{0x33, 0x33, 0x80, 0x00, 0x12, 0x34});
}

TEST_CASE("ICMPv6 transmitter: Ethernet links get complete frames, other links the raw socket",
          "[common][link_layer]") {
    auto fake = std::make_unique<FakeLinkLayerSender>();
    FakeLinkLayerSender& frames = *fake;
    struct Raw {
        int ifindex;
        Ipv6Address source, destination;
        std::vector<std::uint8_t> icmp;
    };
    std::vector<Raw> raw;
    Icmpv6Transmitter t(std::move(fake),
                        [&](int ifindex, const Ipv6Address& s, const Ipv6Address& d,
                            std::span<const std::uint8_t> icmp) -> Status {
                            raw.push_back({ifindex, s, d, {icmp.begin(), icmp.end()}});
                            return {};
                        },
                        {1, true});

    REQUIRE(t.send(3, true, kRouter, kAllNodes, kGeneralQuery).ok());
    REQUIRE(frames.sent.size() == 1);
    CHECK(frames.sent[0].ifindex == 3);
    CHECK(frames.sent[0].destination == MacAddress{0x33, 0x33, 0, 0, 0, 1});
    CHECK(frames.sent[0].packet == build_icmpv6_packet({kRouter, kAllNodes, 1, true, kGeneralQuery}));
    CHECK(raw.empty());

    REQUIRE(t.send(7, false, kRouter, kAllNodes, kGeneralQuery).ok());
    REQUIRE(raw.size() == 1);
    CHECK(raw[0].ifindex == 7);
    CHECK(raw[0].source == kRouter);
    CHECK(raw[0].destination == kAllNodes);
    CHECK(raw[0].icmp == kGeneralQuery);  // the kernel fills the checksum there
    CHECK(frames.sent.size() == 1);

    // A unicast destination needs the neighbour's MAC on the link-layer path.
    const Ipv6Address mn = address("fe80::1");
    const Status no_mac = t.send(3, true, kRouter, mn, kGeneralQuery);
    REQUIRE_FALSE(no_mac.ok());
    CHECK(no_mac.error().code == EINVAL);
    const MacAddress mn_mac{0x02, 0, 0, 0, 0, 0x01};
    REQUIRE(t.send(3, true, kRouter, mn, kGeneralQuery, mn_mac).ok());
    CHECK(frames.sent.back().destination == mn_mac);

    const Icmpv6TransmitterCounters& c = t.counters();
    CHECK(c.link_layer_sent == 2);
    CHECK(c.link_layer_errors == 1);
    CHECK(c.raw_sent == 1);
    CHECK(c.raw_errors == 0);
}

TEST_CASE("ICMPv6 transmitter: send errors are counted per path and keep the errno",
          "[common][link_layer]") {
    auto fake = std::make_unique<FakeLinkLayerSender>();
    fake->fail_send = Error{ENETDOWN, "AF_PACKET sendto 33:33:00:00:00:01 on ifindex 3: Network is down"};
    Icmpv6Transmitter t(std::move(fake),
                        [](int, const Ipv6Address&, const Ipv6Address&, std::span<const std::uint8_t>)
                            -> Status { return Error{ENETUNREACH, "sendmsg: Network is unreachable"}; },
                        {255, false});
    const Status a = t.send(3, true, kRouter, kAllNodes, kRouterAdvertisement);
    REQUIRE_FALSE(a.ok());
    CHECK(a.error().code == ENETDOWN);
    CHECK(a.error().what.find("ff02::1") != std::string::npos);
    const Status b = t.send(4, false, kRouter, kAllNodes, kRouterAdvertisement);
    REQUIRE_FALSE(b.ok());
    CHECK(b.error().code == ENETUNREACH);
    CHECK(t.counters().link_layer_errors == 1);
    CHECK(t.counters().raw_errors == 1);
    CHECK(t.counters().link_layer_sent + t.counters().raw_sent == 0);
    const auto j = to_json(t.counters());
    CHECK(j.at("link_layer_errors") == 1);
    CHECK(j.at("raw_errors") == 1);

    // Without a link-layer sender everything takes the raw path.
    std::vector<int> raw;
    Icmpv6Transmitter only_raw(nullptr,
                               [&](int ifindex, const Ipv6Address&, const Ipv6Address&,
                                   std::span<const std::uint8_t>) -> Status {
                                   raw.push_back(ifindex);
                                   return {};
                               },
                               {255, false});
    REQUIRE(only_raw.send(3, true, kRouter, kAllNodes, kRouterAdvertisement).ok());
    CHECK(raw == std::vector<int>{3});
}
