// Prints the link-layer sender's packets for fixed messages built by magd's
// and the MLD proxy's own codecs, one line each: NAME DESTINATION-MAC HEX
// (the IPv6 packet from its header; the kernel adds the Ethernet header).
// test_link_layer_scapy.py builds the same messages with scapy and compares.
#include <cstdio>
#include <cstdlib>
#include <string>

#include "pmip/common/link_layer_sender.hpp"
#include "pmip/mag/router_advertisement.hpp"
#include "pmip/mcast/mld_codec.hpp"

using namespace pmip;

namespace {

Ipv6Address address(const char* text) {
    return *parse_address(text);
}

void dump(const char* name, Icmpv6Transmitter::Options options, const Ipv6Address& destination,
          const std::vector<std::uint8_t>& icmp) {
    auto fake = std::make_unique<FakeLinkLayerSender>();
    FakeLinkLayerSender& frames = *fake;
    Icmpv6Transmitter t(std::move(fake), nullptr, options);
    if (Status st = t.send(1, true, address("fe80::200:5eff:fe00:5213"), destination, icmp);
        !st.ok()) {
        std::fprintf(stderr, "%s: %s\n", name, st.error().what.c_str());
        std::exit(1);
    }
    const auto& f = frames.sent.at(0);
    std::printf("%s %02x:%02x:%02x:%02x:%02x:%02x ", name, f.destination[0], f.destination[1],
                f.destination[2], f.destination[3], f.destination[4], f.destination[5]);
    for (std::uint8_t b : f.packet) std::printf("%02x", b);
    std::printf("\n");
}

}  // namespace

int main() {
    mag::RouterAdvertisement ra;
    ra.router_lifetime = 1800;
    ra.source_link_layer_address = std::array<std::uint8_t, 6>{0x00, 0x00, 0x5e, 0x00, 0x52, 0x13};
    ra.mtu = 1500;
    ra.prefixes.push_back(
        {Ipv6Prefix{address("2001:db8:1::"), 64}, true, true, 2'592'000, 604'800});
    ra.prefixes.push_back({Ipv6Prefix{address("2001:db8:2::"), 64}, true, true, 0, 0});
    dump("ra", {255, false}, address("ff02::1"), mag::build_router_advertisement(ra));

    mcast::Mldv2Query general;
    general.max_response_code = 10000;
    general.querier_robustness = 2;
    general.querier_query_interval_code = 125;
    dump("mldv2_general_query", {1, true}, address("ff02::1"), mcast::serialize(general));

    mcast::Mldv2Query specific;
    specific.max_response_code = 1000;
    specific.multicast_address = address("ff3e::8000:1234");
    specific.suppress_router_processing = true;
    specific.querier_robustness = 2;
    specific.querier_query_interval_code = 125;
    specific.sources = {address("2001:db8::1"), address("2001:db8::2")};
    dump("mldv2_source_specific_query", {1, true}, address("ff3e::8000:1234"),
         mcast::serialize(specific));

    mcast::Mldv1Query v1;
    v1.max_response_delay = 10000;
    dump("mldv1_general_query", {1, true}, address("ff02::1"), mcast::serialize(v1));
    return 0;
}
