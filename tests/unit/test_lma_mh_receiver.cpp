// lmad's MH receiver: RFC 6275 section 9.2 reactions (Binding Error 2,
// ICMPv6 Parameter Problem, silent drops), dispatch by MH type, heartbeat
// answers, the OAI reply adaptation. A recording transmitter stands in for the
// raw sockets.
#include <catch2/catch.hpp>

#include "mh_receiver.hpp"
#include "pmip/common/message_auth.hpp"
#include "pmip/common/route_manager.hpp"
#include "pmip/common/timers.hpp"
#include "pmip/common/tunnel.hpp"
#include "pmip/lma/lma_engine.hpp"
#include "pmip/lma/ordering.hpp"
#include "pmip/common/prefix_pool.hpp"
#include "pmip/mh/codec.hpp"

using namespace pmip;
using namespace pmip::lma;

namespace {

Ipv6Address address(const char* text) {
    return *parse_address(text);
}

const Ipv6Address kLma = address("2001:db8:100::1");
const Ipv6Address kMag = address("2001:db8:100::11");
const Ipv6Address kOaiMag = address("2001:db8:100::21");

struct Sent {
    Ipv6Address source, destination;
    mh::Message message;
};

struct ParameterProblem {
    Ipv6Address source, destination;
    std::uint32_t pointer;
    std::vector<std::uint8_t> invoking;
};

class RecordingTransmitter final : public MhTransmitter {
  public:
    void send(const Ipv6Address& s, const Ipv6Address& d, const mh::Message& m) override {
        REQUIRE_FALSE(mh::serialize(m).empty());
        sent.push_back({s, d, m});
    }
    void send_parameter_problem(const Ipv6Address& s, const Ipv6Address& d, std::uint32_t pointer,
                                std::span<const std::uint8_t> invoking) override {
        problems.push_back({s, d, pointer, {invoking.begin(), invoking.end()}});
    }
    std::vector<Sent> sent;
    std::vector<ParameterProblem> problems;
};

struct Fixture {
    SimulatedClock clock;
    RecordingTransmitter out;
    std::vector<std::pair<Ipv6Address, mh::BindingUpdate>> pbus;
    std::vector<std::tuple<Ipv6Address, std::uint32_t, std::optional<std::uint32_t>, bool>>
        responses;
    std::vector<Ipv6Address> binding_errors;
    std::vector<std::optional<MobileNodeIdentifier>> identities;
    std::unique_ptr<auth::AuthenticatingTransmitter> signing;  // with an authenticator, as lmad
    std::unique_ptr<MhReceiver> receiver;

    explicit Fixture(Ordering ordering = Ordering::kTimestamp,
                     auth::MessageAuthenticator* authenticator = nullptr, bool cmd = false) {
        MhReceiverConfig c;
        c.auth = authenticator;
        c.cmd = cmd;
        c.local_addresses = {kLma};
        c.profiles = {{*parse_prefix("2001:db8:100::21/128"), PeerProfile::kOai}};
        c.ordering = ordering;
        c.restart_counter = 7;
        MhReceiverHandlers h;
        h.proxy_binding_update = [this](const Ipv6Address& s, const Ipv6Address&,
                                        const mh::BindingUpdate& b,
                                        const MobileNodeIdentifier* identity) {
            pbus.emplace_back(s, b);
            identities.push_back(identity ? std::optional(*identity) : std::nullopt);
        };
        h.heartbeat_response = [this](const Ipv6Address& p, std::uint32_t seq,
                                      std::optional<std::uint32_t> rc,
                                      bool u) { responses.emplace_back(p, seq, rc, u); };
        h.binding_error_unrecognized_type = [this](const Ipv6Address& p) {
            binding_errors.push_back(p);
        };
        MhTransmitter* transmitter = &out;
        if (authenticator != nullptr) {
            signing = std::make_unique<auth::AuthenticatingTransmitter>(*authenticator, out);
            transmitter = signing.get();
        }
        receiver = std::make_unique<MhReceiver>(c, *transmitter, clock, h);
    }

    void deliver(const std::vector<std::uint8_t>& wire, const Ipv6Address& source = kMag,
                 const Ipv6Address& destination = kLma) {
        ReceivedPacket p;
        p.mh = wire;
        p.source = source;
        p.destination = destination;
        receiver->receive(p);
    }
    void deliver(const mh::Message& m, const Ipv6Address& source = kMag,
                 const Ipv6Address& destination = kLma) {
        deliver(mh::serialize(m), source, destination);
    }
};

mh::BindingUpdate pbu_with_timestamp(std::uint64_t ts) {
    mh::BindingUpdate bu;
    bu.flags = mh::bu_flag::kA | mh::bu_flag::kP;
    bu.lifetime = 10;
    bu.options = {mh::MobileNodeIdentifier{1, {'m', 'n'}}, mh::HomeNetworkPrefix{0, {}},
                  mh::HandoffIndicator{1}, mh::AccessTechnologyType{4}, mh::Timestamp{ts}};
    return bu;
}

// An MH of an unknown type (42) with a valid framing.
std::vector<std::uint8_t> unknown_type() {
    return {59, 0, 42, 0, 0, 0, 0, 0};
}

}  // namespace

TEST_CASE("lmad: MH to an address that is not ours is dropped and counted", "[lma][mh]") {
    Fixture f;
    f.deliver(pbu_with_timestamp(1), kMag, address("2001:db8:100::99"));
    CHECK(f.pbus.empty());
    CHECK(f.out.sent.empty());
    CHECK(f.receiver->counter("not_our_address") == 1);
}

TEST_CASE("lmad: a PBU goes to the engine, a BU without P is counted and dropped", "[lma][mh]") {
    Fixture f;
    f.deliver(pbu_with_timestamp(5));
    REQUIRE(f.pbus.size() == 1);
    CHECK(f.pbus[0].first == kMag);
    CHECK(f.receiver->counter("pbu") == 1);
    mh::BindingUpdate bu = pbu_with_timestamp(5);
    bu.flags = mh::bu_flag::kA | mh::bu_flag::kH;
    f.deliver(bu);
    CHECK(f.pbus.size() == 1);
    CHECK(f.receiver->counter("bu_not_proxy") == 1);
}

TEST_CASE(
    "lmad: unknown MH type is answered with Binding Error status 2 from the address it was sent to",
    "[lma][mh]") {
    Fixture f;
    f.deliver(unknown_type());
    REQUIRE(f.out.sent.size() == 1);
    CHECK(f.out.sent[0].source == kLma);
    CHECK(f.out.sent[0].destination == kMag);
    const auto* be = std::get_if<mh::BindingError>(&f.out.sent[0].message);
    REQUIRE(be != nullptr);
    CHECK(be->status == 2);
    CHECK(be->home_address == Ipv6Address{});
    CHECK(f.receiver->counter("binding_errors_sent") == 1);
}

TEST_CASE("lmad: Binding Error is never sent to a non-unicast source", "[lma][mh]") {
    Fixture f;
    f.deliver(unknown_type(), address("ff02::1"));
    f.deliver(unknown_type(), Ipv6Address{});
    CHECK(f.out.sent.empty());
    CHECK(f.receiver->counter("binding_errors_not_unicast") == 2);
}

TEST_CASE("lmad: Binding Errors are rate limited by a token bucket", "[lma][mh]") {
    Fixture f;
    for (int i = 0; i < 50; ++i) f.deliver(unknown_type());
    CHECK(f.out.sent.size() == 20);  // the burst
    CHECK(f.receiver->counter("binding_errors_rate_limited") == 30);
    f.clock.advance(std::chrono::seconds(1));  // 10 per second refill
    for (int i = 0; i < 50; ++i) f.deliver(unknown_type());
    CHECK(f.out.sent.size() == 30);
}

TEST_CASE("lmad: PBAs 154 to unauthorized (maybe spoofed) sources share the error token bucket, "
          "other PBAs never wait",
          "[lma][mh]") {
    Fixture f;
    const Ipv6Address stranger = address("2001:db8:666::1");
    mh::BindingAcknowledgement rejected;
    rejected.status = mh::status::kMagNotAuthorizedForProxyReg;
    rejected.flags = mh::ba_flag::kP;
    for (int i = 0; i < 50; ++i) f.receiver->reply_sender().send(kLma, stranger, rejected);
    CHECK(f.out.sent.size() == 20);  // the burst
    CHECK(f.receiver->counter("pba_154_sent") == 20);
    CHECK(f.receiver->counter("pba_154_rate_limited") == 30);
    mh::BindingAcknowledgement accepted;
    accepted.flags = mh::ba_flag::kP;
    for (int i = 0; i < 50; ++i) f.receiver->reply_sender().send(kLma, kMag, accepted);
    CHECK(f.out.sent.size() == 70);
    f.clock.advance(std::chrono::seconds(1));  // 10 per second refill
    for (int i = 0; i < 50; ++i) f.receiver->reply_sender().send(kLma, stranger, rejected);
    CHECK(f.receiver->counter("pba_154_sent") == 30);
}

TEST_CASE("lmad: bad Payload Proto gets an ICMPv6 Parameter Problem pointing at it", "[lma][mh]") {
    Fixture f;
    std::vector<std::uint8_t> wire = mh::serialize(pbu_with_timestamp(5));
    wire[0] = 6;  // Payload Proto TCP
    f.deliver(wire);
    REQUIRE(f.out.problems.size() == 1);
    const auto& p = f.out.problems[0];
    CHECK(p.source == kLma);
    CHECK(p.destination == kMag);
    CHECK(p.pointer == 40);  // the first octet after the (rebuilt) IPv6 header
    REQUIRE(p.invoking.size() == 40 + wire.size());
    CHECK(p.invoking[0] >> 4 == 6);
    CHECK(p.invoking[6] == 135);
    CHECK(std::equal(wire.begin(), wire.end(), p.invoking.begin() + 40));
    CHECK(f.pbus.empty());
    CHECK(f.receiver->counter("parameter_problems_sent") == 1);
}

TEST_CASE("lmad: the invoking packet quoted in a Parameter Problem fits in 1280 octets",
          "[lma][mh]") {
    Fixture f;
    std::vector<std::uint8_t> wire(2048, 0);
    wire[0] = 0;  // bad Payload Proto
    wire[1] = 255;
    wire[2] = 5;
    f.deliver(wire);
    REQUIRE(f.out.problems.size() == 1);
    CHECK(f.out.problems[0].invoking.size() == MhReceiver::kMaxInvokingPacket);
}

TEST_CASE("lmad: garbage is dropped silently and counted by parse error kind", "[lma][mh]") {
    Fixture f;
    f.deliver(std::vector<std::uint8_t>{1, 2, 3});
    CHECK(f.out.sent.empty());
    CHECK(f.out.problems.empty());
    CHECK(f.receiver->counter("received") == 1);
    CHECK(f.receiver->counter("parse_truncated") == 1);
}

TEST_CASE("lmad: a heartbeat request is always answered with our Restart Counter", "[lma][mh]") {
    Fixture f;
    mh::Heartbeat request;
    request.sequence = 99;
    f.deliver(request);
    REQUIRE(f.out.sent.size() == 1);
    const auto* hb = std::get_if<mh::Heartbeat>(&f.out.sent[0].message);
    REQUIRE(hb != nullptr);
    CHECK(hb->is_response());
    CHECK(hb->sequence == 99);
    const auto* rc = mh::find_option<mh::RestartCounter>(hb->options);
    REQUIRE(rc != nullptr);
    CHECK(rc->value == 7);
}

TEST_CASE("lmad: heartbeat responses and Binding Error 2 go to the heartbeat monitor",
          "[lma][mh]") {
    Fixture f;
    mh::Heartbeat response;
    response.flags = mh::heartbeat_flag::kR | mh::heartbeat_flag::kU;
    response.sequence = 3;
    response.options.push_back(mh::RestartCounter{12});
    f.deliver(response);
    REQUIRE(f.responses.size() == 1);
    CHECK(std::get<2>(f.responses[0]) == std::optional<std::uint32_t>(12));
    CHECK(std::get<3>(f.responses[0]));
    mh::BindingError be;
    be.status = 2;
    f.deliver(be);
    CHECK(f.binding_errors == std::vector{kMag});
}

TEST_CASE("lmad: messages an LMA does not act on are counted by kind", "[lma][mh]") {
    Fixture f;
    mh::BindingAcknowledgement ba;
    f.deliver(ba);
    CHECK(f.receiver->counter("unexpected_ba") == 1);
    CHECK(f.out.sent.empty());
}

TEST_CASE("lmad: RFC 7161 Subscription Query / Response, not implemented yet, get Binding Error 2 "
          "as an unrecognized MH type",
          "[lma][mh]") {
    Fixture f;
    f.deliver(mh::SubscriptionQuery{1, {mh::MobileNodeIdentifier{1, {'m', 'n'}}}});
    f.deliver(mh::SubscriptionResponse{1, 0, {mh::MobileNodeIdentifier{1, {'m', 'n'}}}});
    REQUIRE(f.out.sent.size() == 2);
    for (const auto& sent : f.out.sent) CHECK(std::get<mh::BindingError>(sent.message).status == 2);
    CHECK(f.receiver->counter("binding_errors_sent") == 2);
}

TEST_CASE("lmad: ordering = sequence removes the Timestamp option before the engine", "[lma][mh]") {
    Fixture f(Ordering::kSequence);
    f.deliver(pbu_with_timestamp(5));
    REQUIRE(f.pbus.size() == 1);
    CHECK(mh::find_option<mh::Timestamp>(f.pbus[0].second.options) == nullptr);
    CHECK(f.receiver->counter("timestamps_ignored") == 1);
}

TEST_CASE("lmad: an oai MAG's host-order Timestamp is accepted and echoed in its byte order",
          "[lma][mh]") {
    Fixture f;
    const std::uint64_t ts = mh::make_timestamp(1'763'798'400, 0);
    std::vector<std::uint8_t> wire = mh::serialize(pbu_with_timestamp(host_order_timestamp(ts)));
    f.deliver(wire, kOaiMag);
    REQUIRE(f.pbus.size() == 1);
    CHECK(mh::find_option<mh::Timestamp>(f.pbus[0].second.options)->value == ts);
    CHECK(f.receiver->counter("quirk_timestamp_host_order") == 1);

    // The engine answers with the value it understood; the MAG gets its own octets back.
    mh::BindingAcknowledgement pba;
    pba.flags = mh::ba_flag::kP;
    pba.options = {mh::Timestamp{ts}};
    f.receiver->reply_sender().send(kLma, kOaiMag, pba);
    REQUIRE(f.out.sent.size() == 1);
    const auto* sent = std::get_if<mh::BindingAcknowledgement>(&f.out.sent[0].message);
    CHECK(mh::find_option<mh::Timestamp>(sent->options)->value == host_order_timestamp(ts));
    CHECK(f.receiver->counter("replies_adapted") == 1);

    // A strict MAG with the same bytes: the PBU is not valid for it and a PBA is not adapted.
    f.receiver->reply_sender().send(kLma, kMag, pba);
    CHECK(std::get<mh::BindingAcknowledgement>(f.out.sent[1].message) == pba);
}

TEST_CASE("lmad: random octets never crash the receiver and are all accounted for", "[lma][mh]") {
    Fixture f;
    std::uint32_t state = 12345;
    auto next = [&] {
        state = state * 1103515245u + 12345u;
        return static_cast<std::uint8_t>(state >> 16);
    };
    for (int i = 0; i < 20000; ++i) {
        std::vector<std::uint8_t> wire(next() % 64);
        for (auto& b : wire) b = next();
        if (!wire.empty() && i % 2 == 0)
            wire[0] = 59;  // get past the first check half the time
        if (wire.size() > 2 && i % 4 == 0)
            wire[1] = static_cast<std::uint8_t>(wire.size() / 8);
        f.deliver(wire);
    }
    CHECK(f.receiver->counter("received") == 20000);
    // One token bucket for BE and ICMPv6 errors: the burst, no more (the clock stands still).
    CHECK(f.out.sent.size() + f.out.problems.size() <= 20);
}

TEST_CASE("lmad: a PBU from the wire reaches the engine and the PBA leaves from the LMA address",
          "[lma][mh]") {
    Fixture f;
    TimerQueue timers(f.clock);
    FakeRouteManager routes;
    RefCountingTunnelManager tunnels(std::make_unique<FakeTunnelBackend>(), timers);
    MapPolicyStore policies;
    policies.policies[{1, "mn"}] = MobileNodePolicy{};
    LmaConfig config;
    config.authorized_mags = {*parse_prefix("2001:db8:100::/64")};
    std::vector<PrefixPool> pools;
    pools.push_back(*PrefixPool::create(*parse_prefix("2001:db8:8000::/48"), 64));
    LmaEngine engine(config, policies, std::move(pools), tunnels, routes, timers,
                     f.receiver->reply_sender());
    f.pbus.clear();
    MhReceiverHandlers h;
    MhReceiverConfig c;
    c.local_addresses = {kLma};
    h.proxy_binding_update = [&](const Ipv6Address& s, const Ipv6Address& d,
                                 const mh::BindingUpdate& b, const MobileNodeIdentifier* id) {
        engine.handle_proxy_binding_update(s, d, b, id);
    };
    MhReceiver receiver(c, f.out, f.clock, h);
    const auto ts = lma::timestamp_units(
        std::chrono::duration_cast<std::chrono::nanoseconds>(f.clock.since_epoch()));
    const auto wire = mh::serialize(pbu_with_timestamp(ts));
    ReceivedPacket p;
    p.mh = wire;
    p.source = kMag;
    p.destination = kLma;
    receiver.receive(p);
    REQUIRE(f.out.sent.size() == 1);
    CHECK(f.out.sent[0].source == kLma);
    CHECK(f.out.sent[0].destination == kMag);
    const auto& pba = std::get<mh::BindingAcknowledgement>(f.out.sent[0].message);
    CHECK(pba.status == 0);
    CHECK(pba.is_proxy());
    CHECK(routes.routes.size() == 1);
    engine.clear();
}

TEST_CASE("lmad: a BRA goes to the revocation handler (RFC 5846 section 6.2.2)", "[lma][mh]") {
    Fixture f;
    std::vector<std::pair<Ipv6Address, std::uint16_t>> bras;
    MhReceiverHandlers h;
    h.binding_revocation_acknowledgement =
        [&](const Ipv6Address& s, const Ipv6Address&,
            const mh::BindingRevocationAcknowledgement& bra) { bras.emplace_back(s, bra.sequence); };
    MhReceiverConfig c;
    c.local_addresses = {kLma};
    MhReceiver receiver(c, f.out, f.clock, h);
    mh::BindingRevocationAcknowledgement bra;
    bra.sequence = 4242;
    bra.flags = mh::revocation_flag::kP;
    const auto wire = mh::serialize(bra);
    ReceivedPacket p;
    p.mh = wire;
    p.source = kMag;
    p.destination = kLma;
    receiver.receive(p);
    REQUIRE(bras.size() == 1);
    CHECK(bras[0] == std::make_pair(kMag, std::uint16_t{4242}));
    CHECK(receiver.counter("bra") == 1);
    CHECK(f.out.sent.empty());
}

TEST_CASE("lmad: a MAG's BRI is answered with BRA 134, sequence and P/G copied, from a "
          "non-unicast source it is discarded (RFC 5846 sections 5.2, 6.1.2)", "[lma][mh]") {
    Fixture f;
    mh::BindingRevocationIndication bri;
    bri.sequence = 9;
    bri.revocation_trigger = 128;
    bri.flags = mh::revocation_flag::kP | mh::revocation_flag::kG;
    f.deliver(bri);
    REQUIRE(f.out.sent.size() == 1);
    CHECK(f.out.sent[0].destination == kMag);
    CHECK(f.out.sent[0].source == kLma);
    const auto& bra = std::get<mh::BindingRevocationAcknowledgement>(f.out.sent[0].message);
    CHECK(bra.status == 134);
    CHECK(bra.sequence == 9);
    CHECK(bra.flags == (mh::revocation_flag::kP | mh::revocation_flag::kG));
    CHECK(f.receiver->counter("bri_answered_not_supported") == 1);

    f.deliver(bri, Ipv6Address{});
    CHECK(f.out.sent.size() == 1);
    CHECK(f.receiver->counter("bri_not_unicast") == 1);
}

namespace {

// A PBU as OAI pmip6d sends it (PROTOCOL.md Appendix I): all-zero 63-octet
// NAI, HNP, HI 3, ATT 4, MN-LL-ID = modified EUI-64 of the MAC.
mh::BindingUpdate oai_pbu(std::vector<std::uint8_t> link_layer_id, std::uint64_t ts,
                          std::uint16_t sequence) {
    mh::BindingUpdate bu;
    bu.sequence = sequence;
    bu.flags = mh::bu_flag::kA | mh::bu_flag::kP;
    bu.lifetime = 2;
    bu.options = {mh::MobileNodeIdentifier{1, std::vector<std::uint8_t>(63, 0)},
                  mh::HomeNetworkPrefix{128, {}},
                  mh::HandoffIndicator{3},
                  mh::AccessTechnologyType{4},
                  mh::MobileNodeLinkLayerIdentifier{std::move(link_layer_id)},
                  mh::Timestamp{ts}};
    return bu;
}

std::string mac(std::initializer_list<std::uint8_t> octets) {
    return std::string(octets.begin(), octets.end());
}

}  // namespace

TEST_CASE("lmad: OAI identity: the MAC comes from the modified EUI-64 MN-LL-ID of an all-zero NAI, or "
          "from UMIP's 00 00 + MAC NAI (PROTOCOL.md Appendix I)", "[lma][mh][oai]") {
    bool from_ll = false;
    auto id = oai_mobile_node_identity(
        oai_pbu({0x02, 0x11, 0x22, 0xff, 0xfe, 0x33, 0x44, 0x55}, 1, 1), &from_ll);
    REQUIRE(id);
    CHECK(from_ll);
    CHECK(id->subtype == mh::mn_id_subtype::kEui48);
    CHECK(id->identifier == mac({0x00, 0x11, 0x22, 0x33, 0x44, 0x55}));  // U/L bit flipped back
    // An 8-octet MN-LL-ID that is no MAC's: EUI-64.
    id = oai_mobile_node_identity(oai_pbu({0x02, 1, 2, 3, 4, 5, 6, 7}, 1, 1));
    REQUIRE(id);
    CHECK(id->subtype == mh::mn_id_subtype::kEui64);
    CHECK(id->identifier == mac({0x00, 1, 2, 3, 4, 5, 6, 7}));
    // A 6-octet MN-LL-ID is the MAC itself.
    id = oai_mobile_node_identity(oai_pbu({0xaa, 1, 2, 3, 4, 5}, 1, 1));
    REQUIRE(id);
    CHECK(id->identifier == mac({0xaa, 1, 2, 3, 4, 5}));
    // No usable MN-LL-ID: nothing to map.
    CHECK_FALSE(oai_mobile_node_identity(oai_pbu({0, 0, 0, 0, 0, 0, 0, 0}, 1, 1)));
    CHECK_FALSE(oai_mobile_node_identity(oai_pbu({1, 2, 3}, 1, 1)));
    // UMIP: NAI 00 00 + MAC.
    mh::BindingUpdate umip = oai_pbu({}, 1, 1);
    umip.options[0] = mh::MobileNodeIdentifier{1, {0, 0, 0x00, 0x11, 0x22, 0x33, 0x44, 0x55}};
    id = oai_mobile_node_identity(umip, &from_ll);
    REQUIRE(id);
    CHECK_FALSE(from_ll);
    CHECK(id->identifier == mac({0x00, 0x11, 0x22, 0x33, 0x44, 0x55}));
    // An ordinary NAI is not touched.
    umip.options[0] = mh::MobileNodeIdentifier{1, {'m', 'n'}};
    CHECK_FALSE(oai_mobile_node_identity(umip));
}

TEST_CASE("lmad: OAI identity: two MNs of an oai MAG with the same all-zero NAI get their own policy "
          "(by MAC) and binding, the PBA echoes the NAI as sent", "[lma][mh][oai]") {
    Fixture f;
    TimerQueue timers(f.clock);
    FakeRouteManager routes;
    RefCountingTunnelManager tunnels(std::make_unique<FakeTunnelBackend>(), timers);
    MapPolicyStore policies;
    MobileNodePolicy first;
    first.static_prefixes = {*parse_prefix("2001:db8:1::/64")};
    policies.policies[{5, mac({0x00, 0x11, 0x22, 0x33, 0x44, 0x55})}] = first;
    policies.policies[{5, mac({0x00, 0x11, 0x22, 0x33, 0x44, 0x66})}] = MobileNodePolicy{};
    LmaConfig config;
    config.authorized_mags = {*parse_prefix("2001:db8:100::/64")};
    std::vector<PrefixPool> pools;
    pools.push_back(*PrefixPool::create(*parse_prefix("2001:db8:8000::/48"), 64));
    LmaEngine engine(config, policies, std::move(pools), tunnels, routes, timers,
                     f.receiver->reply_sender());
    auto make = [&](OaiIdentity mode) {
        MhReceiverHandlers h;
        h.proxy_binding_update = [&](const Ipv6Address& s, const Ipv6Address& d,
                                     const mh::BindingUpdate& b, const MobileNodeIdentifier* id) {
            engine.handle_proxy_binding_update(s, d, b, id);
        };
        MhReceiverConfig c;
        c.local_addresses = {kLma};
        c.profiles = {{*parse_prefix("2001:db8:100::21/128"), PeerProfile::kOai}};
        c.oai_identity = mode;
        return std::make_unique<MhReceiver>(c, f.out, f.clock, h);
    };
    auto receiver = make(OaiIdentity::kMac);
    auto deliver = [&](MhReceiver& r, const mh::BindingUpdate& bu) {
        const auto wire = mh::serialize(bu);
        ReceivedPacket p;
        p.mh = wire;
        p.source = kOaiMag;
        p.destination = kLma;
        r.receive(p);
        f.clock.advance(std::chrono::milliseconds(10));
    };
    auto now = [&] {
        return lma::timestamp_units(
            std::chrono::duration_cast<std::chrono::nanoseconds>(f.clock.since_epoch()));
    };
    deliver(*receiver, oai_pbu({0x02, 0x11, 0x22, 0xff, 0xfe, 0x33, 0x44, 0x55}, now(), 0));
    deliver(*receiver, oai_pbu({0x02, 0x11, 0x22, 0xff, 0xfe, 0x33, 0x44, 0x66}, now(), 1));
    REQUIRE(f.out.sent.size() == 2);
    for (const auto& sent : f.out.sent) {
        const auto& pba = std::get<mh::BindingAcknowledgement>(sent.message);
        CHECK(pba.status == 0);
        // The NAI exactly as the MAG sent it.
        CHECK(mh::find_option<mh::MobileNodeIdentifier>(pba.options)->identifier ==
              std::vector<std::uint8_t>(63, 0));
    }
    CHECK(engine.cache().size() == 2);
    const auto first_sessions =
        engine.cache().sessions_of({5, mac({0x00, 0x11, 0x22, 0x33, 0x44, 0x55})});
    REQUIRE(first_sessions.size() == 1);
    const BindingCacheEntry* e = engine.cache().find(first_sessions[0]);
    CHECK(pmip::to_string(e->home_network_prefixes.at(0)) == "2001:db8:1::/64");  // its policy
    CHECK(e->signalled_mn_identifier.identifier == std::string(63, '\0'));
    CHECK(receiver->counter("oai_identity_from_link_layer_id") == 2);

    // A BRI for such an MN carries the NAI the MAG used (RFC 5846 section 8.1).
    f.out.sent.clear();
    REQUIRE(engine.revoke_mobile_node({5, mac({0x00, 0x11, 0x22, 0x33, 0x44, 0x55})}).ok());
    REQUIRE(f.out.sent.size() == 1);
    const auto& bri = std::get<mh::BindingRevocationIndication>(f.out.sent[0].message);
    CHECK(mh::find_option<mh::MobileNodeIdentifier>(bri.options)->identifier ==
          std::vector<std::uint8_t>(63, 0));

    // as-sent: the zero NAI is the identity, unknown to this store -> 153.
    auto as_sent = make(OaiIdentity::kAsSent);
    f.out.sent.clear();
    deliver(*as_sent, oai_pbu({0x02, 0x11, 0x22, 0xff, 0xfe, 0x33, 0x44, 0x77}, now(), 2));
    REQUIRE(f.out.sent.size() == 1);
    CHECK(std::get<mh::BindingAcknowledgement>(f.out.sent[0].message).status == 153);
    CHECK(as_sent->counter("oai_identity_from_link_layer_id") == 0);

    // No usable MN-LL-ID: counted, left as sent.
    deliver(*receiver, oai_pbu({0, 0, 0, 0, 0, 0, 0, 0}, now(), 3));
    CHECK(receiver->counter("oai_identity_unmapped") == 1);
    engine.clear();
}

TEST_CASE("lmad: an oai MAG's /128 prefix request is served as the /64 it advertises, from the pool "
          "without a per-MN prefix (PROTOCOL.md Appendix I)", "[lma][mh][oai]") {
    Fixture f;
    TimerQueue timers(f.clock);
    FakeRouteManager routes;
    RefCountingTunnelManager tunnels(std::make_unique<FakeTunnelBackend>(), timers);
    MapPolicyStore policies;
    policies.policies[{5, mac({0x00, 0x11, 0x22, 0x33, 0x44, 0x55})}] = MobileNodePolicy{};
    LmaConfig config;
    config.authorized_mags = {*parse_prefix("2001:db8:100::/64")};
    std::vector<PrefixPool> pools;
    pools.push_back(*PrefixPool::create(*parse_prefix("2001:db8:8000::/48"), 64));
    LmaEngine engine(config, policies, std::move(pools), tunnels, routes, timers,
                     f.receiver->reply_sender());
    MhReceiverHandlers h;
    h.proxy_binding_update = [&](const Ipv6Address& s, const Ipv6Address& d, const mh::BindingUpdate& b,
                                 const MobileNodeIdentifier* id) {
        engine.handle_proxy_binding_update(s, d, b, id);
    };
    MhReceiverConfig c;
    c.local_addresses = {kLma};
    c.profiles = {{*parse_prefix("2001:db8:100::21/128"), PeerProfile::kOai}};
    MhReceiver receiver(c, f.out, f.clock, h);
    auto now = [&] {
        return lma::timestamp_units(
            std::chrono::duration_cast<std::chrono::nanoseconds>(f.clock.since_epoch()));
    };
    auto pbu = oai_pbu({0x02, 0x11, 0x22, 0xff, 0xfe, 0x33, 0x44, 0x55}, now(), 7);
    std::get<mh::HomeNetworkPrefix>(pbu.options[1]) =
        mh::HomeNetworkPrefix{128, *parse_address("2001:db8:8000:5::")};
    const auto wire = mh::serialize(pbu);  // ReceivedPacket::mh is a view
    ReceivedPacket p;
    p.mh = wire;
    p.source = kOaiMag;
    p.destination = kLma;
    receiver.receive(p);
    // HI 3 with no entry: the MaxDelayBeforeNewBCEAssign wait [RFC 5213 5.4.1].
    f.clock.advance(std::chrono::seconds(2));
    timers.run_due();
    REQUIRE(f.out.sent.size() == 1);
    const auto& pba = std::get<mh::BindingAcknowledgement>(f.out.sent[0].message);
    CHECK(pba.status == 0);
    const auto* hnp = mh::find_option<mh::HomeNetworkPrefix>(pba.options);
    REQUIRE(hnp);
    CHECK(hnp->prefix_length == 64);
    CHECK(pmip::to_string(hnp->prefix) == "2001:db8:8000:5::");
    CHECK(receiver.counter("oai_hnp_128_as_64") == 1);
    REQUIRE(engine.cache().size() == 1);
    // The /64 is now bound: a second MN asking for the same prefix is refused.
    policies.policies[{5, mac({0x00, 0x11, 0x22, 0x33, 0x44, 0x66})}] = MobileNodePolicy{};
    auto other = oai_pbu({0x02, 0x11, 0x22, 0xff, 0xfe, 0x33, 0x44, 0x66}, now(), 8);
    std::get<mh::HomeNetworkPrefix>(other.options[1]) =
        mh::HomeNetworkPrefix{128, *parse_address("2001:db8:8000:5::1")};
    const auto other_wire = mh::serialize(other);
    p.mh = other_wire;
    receiver.receive(p);
    f.clock.advance(std::chrono::seconds(2));
    timers.run_due();
    REQUIRE(f.out.sent.size() == 2);
    CHECK(std::get<mh::BindingAcknowledgement>(f.out.sent[1].message).status ==
          mh::status::kNotAuthorizedForHomeNetworkPrefix);
    engine.clear();
}

TEST_CASE("lmad: an OAI-shaped PBU from a MAG without the oai profile is dropped, counted as such "
          "and explained (the fix named in a warning)", "[lma][mh][oai]") {
    Fixture f;
    const auto wire = mh::serialize(oai_pbu({0x02, 0x11, 0x22, 0xff, 0xfe, 0x33, 0x44, 0x55}, 1, 1));
    REQUIRE_FALSE(wire.empty());
    f.deliver(wire, kMag);  // strict
    CHECK(f.pbus.empty());
    CHECK(f.receiver->counter("strict_profile_oai_shaped") == 1);
    f.deliver(wire, kOaiMag);  // the same octets from the oai MAG reach the engine
    CHECK(f.pbus.size() == 1);
    CHECK(f.receiver->counter("strict_profile_oai_shaped") == 1);
    // Garbage that no profile takes is not called OAI-shaped.
    f.deliver(std::vector<std::uint8_t>{59, 3, 5, 0, 0, 0, 0xab, 0xcd}, kMag);
    CHECK(f.receiver->counter("strict_profile_oai_shaped") == 1);
}

// --- [mags] auth (RFC 5213 section 4, RFC 4285) ---------------------------------

namespace {

auth::PeerSecurity keyed(const char* prefix, std::uint8_t key_fill,
                         auth::Mode mode = auth::Mode::kRequired) {
    auth::PeerSecurity p;
    p.peers = *parse_prefix(prefix);
    p.mode = mode;
    p.associations = {{1000, mh::AuthAlgorithm::kHmacSha256, std::vector<std::uint8_t>(32, key_fill)}};
    return p;
}

// lmad's receiver with [mags] auth for 2001:db8:100::11 (key 7), and the
// MAG's side of the association (`mag`), which signs what it sends and checks
// what lmad answers.
struct AuthFixture {
    SimulatedClock clock;
    auth::MessageAuthenticator lma{{keyed("2001:db8:100::11/128", 7)}, clock};
    auth::MessageAuthenticator mag{{keyed("2001:db8:100::1/128", 7)}, clock};
    auth::MessageAuthenticator forger{{keyed("2001:db8:100::1/128", 8)}, clock};  // wrong key
    Fixture f;

    explicit AuthFixture(bool cmd = false) : f(Ordering::kTimestamp, &lma, cmd) {}

    mh::Message signed_by(auth::MessageAuthenticator& who, const mh::Message& m) {
        return who.sign(kMag, kLma, m);
    }
    // What the MAG makes of a message lmad sent it.
    auth::Verdict at_mag(const Sent& s) {
        const auto bytes = mh::serialize(s.message);
        ReceivedPacket p;
        p.mh = bytes;
        p.source = s.source;
        p.destination = s.destination;
        return mag.verify(p, s.message);
    }
};

}  // namespace

TEST_CASE("lmad auth: required - an unsigned or forged PBU from a MAG that never authenticated is "
          "dropped unanswered, nothing reaches the engine",
          "[lma][mh][auth]") {
    AuthFixture a;
    a.f.deliver(pbu_with_timestamp(100));
    a.f.deliver(a.signed_by(a.forger, pbu_with_timestamp(101)));
    CHECK(a.f.pbus.empty());
    CHECK(a.f.out.sent.empty());  // no PBA 146 to a source that may be spoofed
    CHECK(a.f.receiver->counter("auth_missing") == 1);
    CHECK(a.f.receiver->counter("auth_bad_authenticator") == 1);
    CHECK(a.lma.counter("missing") == 1);
    CHECK(a.lma.counter("bad_authenticator") == 1);
}

TEST_CASE("lmad auth: required - a signed PBU reaches the engine, after that a forged one from the "
          "same MAG is answered with PBA 146 MIPV6-AUTH-FAIL, signed, echoing MN-ID and Timestamp",
          "[lma][mh][auth]") {
    AuthFixture a;
    a.f.deliver(a.signed_by(a.mag, pbu_with_timestamp(100)));
    REQUIRE(a.f.pbus.size() == 1);
    CHECK(a.lma.has_authenticated(kMag));

    auto forged = pbu_with_timestamp(200);
    forged.sequence = 9;
    a.f.deliver(a.signed_by(a.forger, forged));
    CHECK(a.f.pbus.size() == 1);
    REQUIRE(a.f.out.sent.size() == 1);
    const Sent& answer = a.f.out.sent[0];
    CHECK(answer.destination == kMag);
    CHECK(answer.source == kLma);
    const auto& pba = std::get<mh::BindingAcknowledgement>(answer.message);
    CHECK(pba.status == mh::status::kMipv6AuthFail);
    CHECK(pba.sequence == 9);
    CHECK((pba.flags & mh::ba_flag::kP) != 0);
    CHECK(mh::find_option<mh::Timestamp>(pba.options)->value == 200);
    CHECK(mh::find_option<mh::MobileNodeIdentifier>(pba.options) != nullptr);
    CHECK(a.at_mag(answer) == auth::Verdict::kAuthenticated);  // signed with the MAG's key
    CHECK(a.f.receiver->counter("auth_pba_146_sent") == 1);
}

TEST_CASE("lmad auth: the PBA 146 to a MAAR's PBU (D set) carries D when lmad runs the CMD, not otherwise "
          "(RFC 8885 section 4.2)",
          "[lma][mh][auth][dmm]") {
    const bool cmd = GENERATE(true, false);
    AuthFixture a(cmd);
    a.f.deliver(a.signed_by(a.mag, pbu_with_timestamp(100)));
    REQUIRE(a.f.pbus.size() == 1);
    auto forged = pbu_with_timestamp(200);
    forged.flags |= mh::bu_flag::kD;
    a.f.deliver(a.signed_by(a.forger, forged));
    REQUIRE(a.f.out.sent.size() == 1);
    const auto& pba = std::get<mh::BindingAcknowledgement>(a.f.out.sent[0].message);
    CHECK(pba.status == mh::status::kMipv6AuthFail);
    CHECK(((pba.flags & mh::ba_flag::kD) != 0) == cmd);
    // A MAG's PBU (no D) never gets D.
    a.f.deliver(a.signed_by(a.forger, pbu_with_timestamp(300)));
    REQUIRE(a.f.out.sent.size() == 2);
    CHECK((std::get<mh::BindingAcknowledgement>(a.f.out.sent[1].message).flags & mh::ba_flag::kD) == 0);
}

TEST_CASE("lmad auth: required - an unsigned heartbeat is not answered, a signed one is answered "
          "signed with a replay protection option, and its replay is refused",
          "[lma][mh][auth]") {
    AuthFixture a;
    mh::Heartbeat request;
    request.sequence = 5;
    a.f.deliver(request);
    CHECK(a.f.out.sent.empty());
    CHECK(a.f.receiver->counter("auth_missing") == 1);

    const auto wire = mh::serialize(a.signed_by(a.mag, request));
    a.f.deliver(wire);
    REQUIRE(a.f.out.sent.size() == 1);
    const auto& response = std::get<mh::Heartbeat>(a.f.out.sent[0].message);
    CHECK(response.sequence == 5);
    CHECK(mh::find_option<mh::MobilityMessageReplayProtection>(response.options) != nullptr);
    CHECK(a.at_mag(a.f.out.sent[0]) == auth::Verdict::kAuthenticated);

    a.f.deliver(wire);  // the same packet again
    CHECK(a.f.out.sent.size() == 1);
    CHECK(a.f.receiver->counter("auth_replay_old") == 1);
}

TEST_CASE("lmad auth: optional - unsigned PBUs are accepted and counted, forged ones never",
          "[lma][mh][auth]") {
    SimulatedClock clock;
    auth::MessageAuthenticator lma{{keyed("2001:db8:100::/64", 7, auth::Mode::kOptional)}, clock};
    auth::MessageAuthenticator forger{{keyed("2001:db8:100::1/128", 8)}, clock};
    Fixture f{Ordering::kTimestamp, &lma};
    f.deliver(pbu_with_timestamp(100));
    CHECK(f.pbus.size() == 1);
    CHECK(lma.counter("accepted_unsigned") == 1);
    f.deliver(forger.sign(kMag, kLma, pbu_with_timestamp(101)));
    CHECK(f.pbus.size() == 1);
    CHECK(f.receiver->counter("auth_bad_authenticator") == 1);
}

TEST_CASE("lmad auth: a MAG outside every [mags] auth line is neither checked nor signed to",
          "[lma][mh][auth]") {
    SimulatedClock clock;
    auth::MessageAuthenticator lma{{keyed("2001:db8:100::11/128", 7)}, clock};
    Fixture f{Ordering::kTimestamp, &lma};
    f.deliver(pbu_with_timestamp(100), kOaiMag);  // another MAG
    CHECK(f.pbus.size() == 1);
    CHECK(lma.counter("accepted_off") == 1);
}
