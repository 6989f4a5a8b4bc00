// magd's adapters that need no kernel: configuration (--check messages with
// file, line and key), the JSON policy store (problems, default template,
// reload diff), the MH receiver (dispatch, drops, heartbeat answers, the
// `oai` profile's adaptation both ways), and the RA socket's path choice
// (link-layer frame or raw socket) with a fake link-layer sender.
#include <catch2/catch.hpp>

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>

#include "access_io.hpp"
#include "config.hpp"
#include "mh_receiver.hpp"
#include "pmip/mag/router_advertisement.hpp"
#include "pmip/mh/codec.hpp"
#include "policy_file.hpp"

using namespace pmip;
using namespace pmip::mag;

namespace {

Ipv6Address address(const char* text) { return *parse_address(text); }

std::string problems_text(const std::vector<ConfigProblem>& problems) {
    std::string out;
    for (const auto& p : problems) out += p.to_string() + "\n";
    return out;
}

const char* const kGoodConfig = R"([mag]
address = 2001:db8:101::11
[access]
interface = mn* veth-ap?
[policy]
store = /dev/null
)";

}  // namespace

TEST_CASE("magd config: a minimal file is valid and the defaults are the RFC values", "[magd][config]") {
    auto load = load_config_text(kGoodConfig, "magd.conf");
    INFO(problems_text(load.problems));
    // /dev/null is not a regular file: the only problem.
    REQUIRE(load.problems.size() == 1);
    CHECK(load.problems[0].to_string() == "magd.conf:6: policy.store: /dev/null: no such file");
    const MagdConfig& c = load.config;
    CHECK(c.engine.proxy_coa == address("2001:db8:101::11"));
    CHECK(c.access.patterns == std::vector<std::string>{"mn*", "veth-ap?"});
    CHECK(c.access.router_link_local == address("fe80::200:5eff:fe00:5213"));  // RFC 6543
    CHECK(c.access.router_mac == MacAddress{0x00, 0x00, 0x5e, 0x00, 0x52, 0x13});
    CHECK(c.engine.initial_bindack_timeout == std::chrono::seconds(1));  // RFC 5213 section 9
    CHECK(c.engine.max_bindack_timeout == std::chrono::seconds(32));
    CHECK(c.ra.timing.max_interval == std::chrono::seconds(600));  // RFC 4861 section 6.2.1
    CHECK(c.ra.timing.min_interval == std::chrono::seconds(200));
    CHECK(c.ra.router_lifetime == 1800);
    CHECK(c.tunnel.name_prefix == "mg");
}

TEST_CASE("magd config: mag.mode = maar with its [maar] keys, and what is missing or wrong named", "[magd][config][dmm]") {
    auto load = load_config_text(std::string(kGoodConfig) +
                                     "[mag]\nmode = maar\n[maar]\ncmd = 2001:db8:100::1\npool = 2001:db8:a1::/48 64\n"
                                     "lifetime-s = 400\nprevious-prefix-hold-s = 30\n",
                                 "magd.conf");
    INFO(problems_text(load.problems));
    REQUIRE(load.config.maar.has_value());
    const MaarConfig& m = *load.config.maar;
    CHECK(m.cmd == address("2001:db8:100::1"));
    CHECK(m.pool == *parse_prefix("2001:db8:a1::/48"));
    CHECK(m.pool_length == 64);
    CHECK(m.lifetime == 100);
    CHECK(m.previous_prefix_hold == std::chrono::seconds(30));
    CHECK(m.previous_prefix_idle == std::chrono::seconds(60));  // default
    CHECK(m.address == address("2001:db8:101::11"));
    CHECK(load.config.tunnel.delete_delay == std::chrono::seconds(1));  // a MAAR's default
    CHECK_FALSE(load_config_text(kGoodConfig, "magd.conf").config.maar.has_value());
    CHECK(load_config_text(kGoodConfig, "magd.conf").config.tunnel.delete_delay == Duration::zero());
    const auto fixed = load_config_text(std::string(kGoodConfig) +
                                            "[mag]\nmode = maar\n[maar]\ncmd = 2001:db8:100::1\npool = 2001:db8:a1::/48\n"
                                            "previous-prefix-idle-s = 0\n[tunnel]\ndelete-delay-ms = 0\n",
                                        "magd.conf");
    INFO(problems_text(fixed.problems));
    REQUIRE(fixed.config.maar.has_value());
    CHECK(fixed.config.maar->previous_prefix_idle == Duration::zero());
    CHECK(fixed.config.tunnel.delete_delay == Duration::zero());

    load = load_config_text(std::string(kGoodConfig) + "[mag]\nmode = maar\n[maar]\npool = 2001:db8:a1::1/48\n",
                            "magd.conf");
    const std::string text = problems_text(load.problems);
    INFO(text);
    CHECK(text.find("maar.cmd: mag.mode = maar needs the CMD's address") != std::string::npos);
    CHECK(text.find("maar.pool: \"2001:db8:a1::1/48\" is not \"PREFIX [LENGTH]\"") != std::string::npos);
    load = load_config_text(std::string(kGoodConfig) + "[mag]\nmode = anchor\n", "magd.conf");
    CHECK(problems_text(load.problems).find("mag.mode: \"anchor\" is not mag|maar") != std::string::npos);
}

TEST_CASE("magd config: every problem is named with file, line and key", "[magd][config]") {
    auto load = load_config_text(R"([mag]
address = fe80::1
colour = blue
[ra]
max-interval-s = 100
min-interval-s = 90
[access]
detect = link carrier-pigeon
router-mac = 01:00:5e:00:00:01
[lmas]
profile = 2001:db8::1 umip
)", "m.conf");
    const std::string text = problems_text(load.problems);
    INFO(text);
    CHECK(text.find("m.conf:2: mag.address: fe80::1 is a link-local address") != std::string::npos);
    CHECK(text.find("m.conf:3: mag.colour: unknown key") != std::string::npos);
    CHECK(text.find("m.conf:6: ra.min-interval-s: must be at most 0.75 x ra.max-interval-s (75)") != std::string::npos);
    CHECK(text.find("m.conf:8: access.detect: \"carrier-pigeon\" is not a detection method") != std::string::npos);
    CHECK(text.find("m.conf:9: access.router-mac: 01:00:5e:00:00:01 is a multicast address") != std::string::npos);
    CHECK(text.find("m.conf:11: lmas.profile: \"umip\" is not a profile (rfc5213|oai)") != std::string::npos);
    CHECK(text.find("m.conf: policy.store: no policy store") != std::string::npos);
    CHECK(has_errors(load.problems));
}

TEST_CASE("magd config: lma-table-base keeps the access table (base - 1) and the first uplink table off "
          "0 and the kernel's reserved tables, and the MAAR's tables start there",
          "[magd][config]") {
    for (const char* bad : {"1", "252", "253", "256"}) {
        INFO(bad);
        auto load = load_config_text(std::string(kGoodConfig) + "[binding]\nlma-table-base = " + bad + "\n", "m.conf");
        CHECK(has_errors(load.problems));
        CHECK(problems_text(load.problems).find("m.conf:8: binding.lma-table-base:") != std::string::npos);
    }
    for (const char* good : {"2", "251", "257", "1000"}) {
        INFO(good);
        auto load = load_config_text(std::string(kGoodConfig) + "[binding]\nlma-table-base = " + good + "\n", "m.conf");
        CHECK(problems_text(load.problems).find("lma-table-base") == std::string::npos);
    }
    CHECK(MaarConfig{}.table_base == MagConfig{}.lma_table_base);  // the daemon gives it lma-table-base
}

TEST_CASE("magd config: command line overrides the file, usage errors are reported", "[magd][config]") {
    auto load = load_config_text(kGoodConfig, "magd.conf", {"--mag.address", "2001:db8:102::12"});
    CHECK(load.config.engine.proxy_coa == address("2001:db8:102::12"));
    auto bad = load_config_text(kGoodConfig, "magd.conf", {"--no-such-option"});
    CHECK(bad.action == Action::kUsageError);
    CHECK_FALSE(bad.usage_error.empty());
}

TEST_CASE("magd policy: entries, default template and located problems", "[magd][policy]") {
    auto load = parse_policy_json(R"({
      "mobile_nodes": [
        {"mac": "02:00:00:00:00:01", "interface": "mn1", "id": "mn1@example.org",
         "lma": "2001:db8:100::1", "prefixes": ["2001:db8:1::/64"], "lifetime": 400,
         "tunnel": "gre-key", "multicast": true}
      ],
      "default": {"id": "{mac}@guests.example.org", "lma": "2001:db8:100::1"}
    })", "p.json");
    INFO(problems_text(load.problems));
    REQUIRE(load.ok());
    FilePolicyStore store;
    (void)store.replace(std::move(load.contents));
    const auto mac1 = *parse_mac_text("02:00:00:00:00:01");
    const MobileNodePolicy* p = store.find(mac1);
    REQUIRE(p != nullptr);
    CHECK(p->mn_identifier == "mn1@example.org");
    CHECK(p->lifetime == 100);  // 4 s units
    CHECK(p->tunnel_kind == TunnelKind::kGre);
    CHECK(p->gre_keys);
    CHECK(p->multicast);
    CHECK(p->home_network_prefixes.size() == 1);
    CHECK(store.find_by_interface("mn1")->mac == mac1);
    CHECK(store.find_by_interface("mn9") == nullptr);
    const MobileNodePolicy* guest = store.find(*parse_mac_text("02:aa:bb:cc:dd:ee"));
    REQUIRE(guest != nullptr);
    CHECK(guest->mn_identifier == "02:aa:bb:cc:dd:ee@guests.example.org");
    CHECK(guest->home_network_prefixes.empty());  // the LMA assigns

    auto bad = parse_policy_json(R"({"mobile_nodes": [
        {"mac": "02:00:00:00:00:01", "id": "a", "lma": "ff02::1", "prefixes": ["2001:db8:1::1/64"], "tunnel": "ipip"},
        {"mac": "zz", "id": "b", "lma": "2001:db8::1", "colour": 3},
        {"mac": "02:00:00:00:00:01", "id": "c", "lma": "2001:db8::1"}
      ], "extra": 1})", "bad.json");
    const std::string text = problems_text(bad.problems);
    INFO(text);
    CHECK(text.find("bad.json: mobile_nodes[0].lma: must be the LMA's global unicast IPv6 address") != std::string::npos);
    CHECK(text.find("bad.json: mobile_nodes[0].prefixes[0]: bits set past /64 (did you mean 2001:db8:1::/64?)") != std::string::npos);
    CHECK(text.find("bad.json: mobile_nodes[0].tunnel: must be") != std::string::npos);
    CHECK(text.find("bad.json: mobile_nodes[1].mac: not a MAC address") != std::string::npos);
    CHECK(text.find("bad.json: mobile_nodes[1].colour: unknown member") != std::string::npos);
    CHECK(text.find("bad.json: mobile_nodes[2].mac: 02:00:00:00:00:01 is listed twice") != std::string::npos);
    CHECK(text.find("bad.json: extra: unknown member") != std::string::npos);

    auto syntax = parse_policy_json("{\n\"mobile_nodes\": [\n,]}", "s.json");
    REQUIRE_FALSE(syntax.ok());
    CHECK(syntax.problems[0].to_string().rfind("s.json:3: JSON syntax", 0) == 0);
}

TEST_CASE("magd policy: the MN's multicast admission, and its located problems", "[magd][policy][downstream_policy]") {
    auto load = parse_policy_json(R"({"mobile_nodes": [
        {"mac": "02:00:00:00:00:01", "id": "a", "lma": "2001:db8::1", "multicast": true,
         "multicast_policy": {"allowed_groups": ["ff3e::/32", "ff0e::1"], "denied_groups": ["ff3e::dead/128"],
                              "allowed_sources": [{"source": "2001:db8:5::/64", "group": "ff3e::/32"}],
                              "denied_sources": [{"source": "2001:db8:5::66", "group": "ff3e::/32"}],
                              "max_groups": 8}}]})", "p.json");
    INFO(problems_text(load.problems));
    REQUIRE(load.ok());
    FilePolicyStore store;
    (void)store.replace(std::move(load.contents));
    const MobileNodePolicy* p = store.find(*parse_mac_text("02:00:00:00:00:01"));
    REQUIRE(p != nullptr);
    const MulticastAdmission& a = p->multicast_admission;
    CHECK(a.allowed_groups.size() == 2);
    CHECK(a.allowed_groups[1] == *parse_prefix("ff0e::1/128"));
    CHECK(a.denied_sources[0].source == *parse_prefix("2001:db8:5::66/128"));
    CHECK(a.max_groups == 8);
    CHECK(store.to_json()[0]["multicast_policy"]["allowed_sources"][0]["group"] == "ff3e::/32");

    auto bad = parse_policy_json(R"({"mobile_nodes": [
        {"mac": "02:00:00:00:00:01", "id": "a", "lma": "2001:db8::1", "multicast_policy": {}},
        {"mac": "02:00:00:00:00:02", "id": "b", "lma": "2001:db8::1", "multicast": true,
         "multicast_policy": {"allowed_groups": ["2001:db8::/32", "ff3e::1/16"], "max_groups": -1,
                              "denied_sources": [{"source": "ff0e::1", "group": "ff3e::/32"}, {"group": "ff3e::/32"},
                                                 {"source": "2001:db8:5::/64", "group": "ff3e::/32"}],
                              "colour": 1}}]})", "bad.json");
    const std::string text = problems_text(bad.problems);
    INFO(text);
    CHECK(text.find("bad.json: mobile_nodes[0].multicast_policy: needs \"multicast\": true") != std::string::npos);
    CHECK(text.find("bad.json: mobile_nodes[1].multicast_policy.allowed_groups[0]: must be a multicast prefix") != std::string::npos);
    CHECK(text.find("bad.json: mobile_nodes[1].multicast_policy.allowed_groups[1]: bits set past /16") != std::string::npos);
    CHECK(text.find("bad.json: mobile_nodes[1].multicast_policy.max_groups: must be a number of groups") != std::string::npos);
    CHECK(text.find("bad.json: mobile_nodes[1].multicast_policy.denied_sources[0].source: must be a unicast IPv6 prefix") != std::string::npos);
    CHECK(text.find("bad.json: mobile_nodes[1].multicast_policy.denied_sources[1]: must be an object") != std::string::npos);
    CHECK(text.find("bad.json: mobile_nodes[1].multicast_policy.denied_sources[2].source: must be a host address (/128) for an MN") != std::string::npos);
    CHECK(text.find("bad.json: mobile_nodes[1].multicast_policy.colour: unknown member") != std::string::npos);
}

TEST_CASE("magd policy: replace() reports the MNs whose policy changed or went", "[magd][policy]") {
    FilePolicyStore store;
    auto first = parse_policy_json(R"({"mobile_nodes": [
        {"mac": "02:00:00:00:00:01", "id": "a", "lma": "2001:db8::1"},
        {"mac": "02:00:00:00:00:02", "id": "b", "lma": "2001:db8::1"},
        {"mac": "02:00:00:00:00:03", "id": "c", "lma": "2001:db8::1"}]})", "p");
    REQUIRE(store.replace(std::move(first.contents)).size() == 3);  // all new
    auto second = parse_policy_json(R"({"mobile_nodes": [
        {"mac": "02:00:00:00:00:01", "id": "a", "lma": "2001:db8::1"},
        {"mac": "02:00:00:00:00:02", "id": "b", "lma": "2001:db8::2"}]})", "p");
    const auto changed = store.replace(std::move(second.contents));
    REQUIRE(changed.size() == 2);
    CHECK(mac_text(changed[0]) == "02:00:00:00:00:02");  // new LMA
    CHECK(mac_text(changed[1]) == "02:00:00:00:00:03");  // gone
}

TEST_CASE("magd policy: multicast channels of the profile, and their located problems", "[magd][policy][static]") {
    auto load = parse_policy_json(R"({"mobile_nodes": [
        {"mac": "02:00:00:00:00:01", "id": "a", "lma": "2001:db8::1", "multicast": true,
         "multicast_channels": [{"group": "ff0e::8000:1"},
                                {"group": "ff3e::8000:2", "sources": ["2001:db8:5::10", "2001:db8:5::11"]}]}],
      "default": {"id": "{mac}@x", "lma": "2001:db8::1", "multicast": true,
                  "multicast_channels": [{"group": "ff05::1:3"}]}})", "p.json");
    INFO(problems_text(load.problems));
    REQUIRE(load.ok());
    FilePolicyStore store;
    (void)store.replace(std::move(load.contents));
    const MobileNodePolicy* p = store.find(*parse_mac_text("02:00:00:00:00:01"));
    REQUIRE(p != nullptr);
    REQUIRE(p->multicast_channels.size() == 2);
    CHECK(p->multicast_channels[0].group == *parse_address("ff0e::8000:1"));
    CHECK(p->multicast_channels[0].sources.empty());
    CHECK(p->multicast_channels[1].sources.size() == 2);
    const MobileNodePolicy* guest = store.find(*parse_mac_text("02:00:00:00:00:09"));
    REQUIRE(guest != nullptr);
    REQUIRE(guest->multicast_channels.size() == 1);
    CHECK(store.to_json()[0]["multicast_channels"][1]["sources"][1] == "2001:db8:5::11");

    auto bad = parse_policy_json(R"({"mobile_nodes": [
        {"mac": "02:00:00:00:00:01", "id": "a", "lma": "2001:db8::1",
         "multicast_channels": [{"group": "ff0e::1"}]},
        {"mac": "02:00:00:00:00:02", "id": "b", "lma": "2001:db8::1", "multicast": true,
         "multicast_channels": [{"group": "ff02::1:3"}, {"group": "2001:db8::1"}, {"group": "ff3e::1"},
                                {"group": "ff0e::1", "sources": ["ff0e::2"]}, {"group": "ff0e::1", "port": 5},
                                7]},
        {"mac": "02:00:00:00:00:03", "id": "c", "lma": "2001:db8::1", "multicast": true,
         "multicast_channels": {"group": "ff0e::1"}}]})", "bad.json");
    const std::string text = problems_text(bad.problems);
    INFO(text);
    CHECK(text.find("bad.json: mobile_nodes[0].multicast_channels: needs \"multicast\": true") != std::string::npos);
    CHECK(text.find("bad.json: mobile_nodes[1].multicast_channels[0].group: must be a multicast address of a scope beyond the link") != std::string::npos);
    CHECK(text.find("bad.json: mobile_nodes[1].multicast_channels[1].group: must be a multicast address") != std::string::npos);
    CHECK(text.find("bad.json: mobile_nodes[1].multicast_channels[2].sources: missing: ff3e::1 is a source-specific (ff3x::/32) group") != std::string::npos);
    CHECK(text.find("bad.json: mobile_nodes[1].multicast_channels[3].sources[0]: must be a unicast IPv6 address") != std::string::npos);
    CHECK(text.find("bad.json: mobile_nodes[1].multicast_channels[4].port: unknown member") != std::string::npos);
    CHECK(text.find("bad.json: mobile_nodes[1].multicast_channels[5]: must be an object") != std::string::npos);
    CHECK(text.find("bad.json: mobile_nodes[2].multicast_channels: must be an array") != std::string::npos);
}

namespace {

struct Recorder final : MhSender {
    std::vector<std::pair<Ipv6Address, mh::Message>> sent;
    void send(const Ipv6Address&, const Ipv6Address& d, const mh::Message& m) override {
        sent.emplace_back(d, m);
    }
};

const Ipv6Address kMag = address("2001:db8:101::11");
const Ipv6Address kLma = address("2001:db8:100::1");
const Ipv6Address kOaiLma = address("2001:db8:100::99");

struct ReceiverFixture {
    Recorder wire;
    std::vector<mh::BindingAcknowledgement> pbas;
    std::vector<mh::BindingRevocationIndication> bris;
    MagReceiver receiver{kMag, {{Ipv6Prefix{kOaiLma, 128}, PeerProfile::kOai}}, 4242, wire, [this] {
                             MagReceiverHandlers h;
                             h.pba = [this](const Ipv6Address&, const mh::BindingAcknowledgement& b) { pbas.push_back(b); };
                             h.bri = [this](const Ipv6Address&, const mh::BindingRevocationIndication& b) { bris.push_back(b); };
                             return h;
                         }()};
    void deliver(const Ipv6Address& from, const mh::Message& m, const Ipv6Address& to = kMag) {
        const auto bytes = mh::serialize(m);
        ReceivedPacket p;
        p.mh = bytes;
        p.source = from;
        p.destination = to;
        receiver.receive(p);
    }
};

}  // namespace

TEST_CASE("magd MH receiver: PBA to the engine, heartbeat answered, drops counted", "[magd][mh]") {
    ReceiverFixture f;
    mh::BindingAcknowledgement pba;
    pba.flags = mh::ba_flag::kP;
    pba.sequence = 7;
    f.deliver(kLma, pba);
    REQUIRE(f.pbas.size() == 1);
    CHECK(f.pbas[0].sequence == 7);

    mh::BindingAcknowledgement ba;  // no P: a Mobile IPv6 BA, not for us
    f.deliver(kLma, ba);
    CHECK(f.pbas.size() == 1);
    CHECK(f.receiver.counter("ba_not_proxy") == 1);

    f.deliver(kLma, pba, address("2001:db8:101::99"));  // not our Proxy-CoA
    CHECK(f.receiver.counter("not_our_address") == 1);

    mh::Heartbeat request;
    request.sequence = 11;
    f.deliver(kLma, request);
    REQUIRE(f.wire.sent.size() == 1);
    const auto& response = std::get<mh::Heartbeat>(f.wire.sent[0].second);
    CHECK(response.is_response());
    CHECK(response.sequence == 11);
    CHECK(mh::find_option<mh::RestartCounter>(response.options)->value == 4242);  // RFC 5847 section 3

    mh::BindingRevocationIndication bri;
    bri.sequence = 3;
    f.deliver(kLma, bri);
    CHECK(f.bris.size() == 1);

    mh::BindingUpdate bu;  // a MAG does not take BUs
    f.deliver(kLma, bu);
    CHECK(f.receiver.counter("unexpected_bu") == 1);

    // RFC 7161 messages, not implemented yet: Binding Error 2 (unrecognized type).
    const std::size_t before = f.wire.sent.size();
    f.deliver(kLma, mh::SubscriptionQuery{1, {mh::MobileNodeIdentifier{1, {'m', 'n'}}}});
    REQUIRE(f.wire.sent.size() == before + 1);
    CHECK(std::get<mh::BindingError>(f.wire.sent.back().second).status == 2);

    const std::vector<std::uint8_t> garbage{59, 0, 99, 0, 0, 0};
    ReceivedPacket p;
    p.mh = garbage;
    p.source = kLma;
    p.destination = kMag;
    f.receiver.receive(p);
    CHECK(f.receiver.counters().size() >= 6);
}

TEST_CASE("magd MH receiver: oai LMAs get EUI-64 MN-LL-IDs and host-order timestamps, PBAs without P", "[magd][mh][oai]") {
    ReceiverFixture f;
    const std::string mac("\x02\x11\x22\x33\x44\x55", 6);
    mh::BindingUpdate pbu;
    pbu.flags = mh::bu_flag::kA | mh::bu_flag::kP;
    pbu.options.push_back(mh::MobileNodeLinkLayerIdentifier{std::vector<std::uint8_t>(mac.begin(), mac.end())});
    pbu.options.push_back(mh::Timestamp{0x0102030405060708ull});
    f.receiver.sender().send(kMag, kOaiLma, pbu);
    f.receiver.sender().send(kMag, kLma, pbu);
    REQUIRE(f.wire.sent.size() == 2);
    const auto& to_oai = std::get<mh::BindingUpdate>(f.wire.sent[0].second);
    const auto* ll = mh::find_option<mh::MobileNodeLinkLayerIdentifier>(to_oai.options);
    REQUIRE(ll->identifier.size() == 8);  // modified EUI-64, RFC 4291 Appendix A
    CHECK(ll->identifier == std::vector<std::uint8_t>{0x00, 0x11, 0x22, 0xff, 0xfe, 0x33, 0x44, 0x55});
    CHECK(mh::find_option<mh::Timestamp>(to_oai.options)->value == 0x0403020108070605ull);
    const auto& to_rfc = std::get<mh::BindingUpdate>(f.wire.sent[1].second);
    CHECK(mh::find_option<mh::MobileNodeLinkLayerIdentifier>(to_rfc.options)->identifier.size() == 6);
    CHECK(mh::find_option<mh::Timestamp>(to_rfc.options)->value == 0x0102030405060708ull);

    // The OAI LMA answers without P and echoes the 8-octet form.
    mh::BindingAcknowledgement pba;
    pba.sequence = 1;
    pba.options.push_back(*ll);
    f.deliver(kOaiLma, pba);
    REQUIRE(f.pbas.size() == 1);
    const auto* back = mh::find_option<mh::MobileNodeLinkLayerIdentifier>(f.pbas[0].options);
    CHECK(std::string(back->identifier.begin(), back->identifier.end()) == mac);
    CHECK(f.receiver.counter("adapted_in") == 1);

    CHECK(mac_of_modified_eui64(modified_eui64_of_mac(mac)) == mac);
    CHECK_FALSE(mac_of_modified_eui64(std::string(8, '\x01')).has_value());
}

TEST_CASE("magd MH receiver: oai LMAs get the NAI padded to OAI's 63 octets, their PBAs get the NAI, "
          "and the prefix for a /128, of the PBU they answer (OAI-FM and UMIP shapes)", "[magd][mh][oai]") {
    ReceiverFixture f;
    const std::string mac("\x02\x11\x22\x33\x44\x55", 6);
    const std::string nai = "mn1@example.org";
    mh::BindingUpdate pbu;
    pbu.sequence = 40;
    pbu.flags = mh::bu_flag::kA | mh::bu_flag::kP;
    pbu.options.push_back(mh::MobileNodeIdentifier{1, std::vector<std::uint8_t>(nai.begin(), nai.end())});
    pbu.options.push_back(mh::HomeNetworkPrefix{64, *parse_address("2001:db8:8000:7::")});
    pbu.options.push_back(mh::MobileNodeLinkLayerIdentifier{std::vector<std::uint8_t>(mac.begin(), mac.end())});
    f.receiver.sender().send(kMag, kOaiLma, pbu);
    f.receiver.sender().send(kMag, kLma, pbu);
    REQUIRE(f.wire.sent.size() == 2);
    const auto* padded =
        mh::find_option<mh::MobileNodeIdentifier>(std::get<mh::BindingUpdate>(f.wire.sent[0].second).options);
    REQUIRE(padded->identifier.size() == 63);
    CHECK(std::string(padded->identifier.begin(), padded->identifier.begin() + 15) == nai);
    CHECK(std::all_of(padded->identifier.begin() + 15, padded->identifier.end(), [](auto c) { return c == 0; }));
    CHECK(mh::find_option<mh::MobileNodeIdentifier>(std::get<mh::BindingUpdate>(f.wire.sent[1].second).options)
              ->identifier.size() == nai.size());  // rfc5213 LMAs: as is
    CHECK(f.receiver.counter("oai_nai_padded") == 1);

    // OAI-FM: echoes the 63 octets and the prefix as a /128.
    mh::BindingAcknowledgement pba;
    pba.sequence = 40;
    pba.lifetime = 100;
    pba.options.push_back(*padded);
    pba.options.push_back(mh::HomeNetworkPrefix{128, *parse_address("2001:db8:8000:7::")});
    f.deliver(kOaiLma, pba);
    REQUIRE(f.pbas.size() == 1);
    const auto* id = mh::find_option<mh::MobileNodeIdentifier>(f.pbas[0].options);
    CHECK(std::string(id->identifier.begin(), id->identifier.end()) == nai);
    const auto* hnp = mh::find_option<mh::HomeNetworkPrefix>(f.pbas[0].options);
    CHECK(hnp->prefix_length == 64);
    CHECK(pmip::to_string(hnp->prefix) == "2001:db8:8000:7::");
    CHECK(f.receiver.counter("adapted_in_identifier") == 1);
    CHECK(f.receiver.counter("adapted_in_prefix") == 1);

    // Answered once: a second PBA with that sequence is left as it came.
    f.deliver(kOaiLma, pba);
    REQUIRE(f.pbas.size() == 2);
    CHECK(mh::find_option<mh::MobileNodeIdentifier>(f.pbas[1].options)->identifier.size() == 63);

    // UMIP: its own identifier 00 00 + MAC; a /128 not inside what was asked
    // (the PBU asked for assignment) -> the /64 around it.
    pbu.sequence = 41;
    pbu.options[1] = mh::HomeNetworkPrefix{0, {}};
    f.receiver.sender().send(kMag, kOaiLma, pbu);
    mh::BindingAcknowledgement umip;
    umip.sequence = 41;
    umip.lifetime = 100;
    std::vector<std::uint8_t> umip_id(2 + mac.size(), 0);  // 00 00 + MAC
    std::copy(mac.begin(), mac.end(), umip_id.begin() + 2);
    umip.options.push_back(mh::MobileNodeIdentifier{1, umip_id});
    umip.options.push_back(mh::HomeNetworkPrefix{128, *parse_address("2001:db8:9:1::5")});
    f.deliver(kOaiLma, umip);
    REQUIRE(f.pbas.size() == 3);
    id = mh::find_option<mh::MobileNodeIdentifier>(f.pbas[2].options);
    CHECK(std::string(id->identifier.begin(), id->identifier.end()) == nai);
    hnp = mh::find_option<mh::HomeNetworkPrefix>(f.pbas[2].options);
    CHECK(pmip::to_string(Ipv6Prefix{hnp->prefix, hnp->prefix_length}) == "2001:db8:9:1::/64");

    // Another MN's identifier with another MAC is not rewritten.
    pbu.sequence = 42;
    f.receiver.sender().send(kMag, kOaiLma, pbu);
    umip.sequence = 42;
    umip.options[0] = mh::MobileNodeIdentifier{1, {0, 0, 9, 9, 9, 9, 9, 9}};
    f.deliver(kOaiLma, umip);
    REQUIRE(f.pbas.size() == 4);
    CHECK(mh::find_option<mh::MobileNodeIdentifier>(f.pbas[3].options)->identifier ==
          std::vector<std::uint8_t>{0, 0, 9, 9, 9, 9, 9, 9});

    // Accepted with no prefix (OAI assigns none itself): counted.
    pbu.sequence = 43;
    f.receiver.sender().send(kMag, kOaiLma, pbu);
    mh::BindingAcknowledgement none;
    none.sequence = 43;
    none.options.push_back(mh::HomeNetworkPrefix{128, {}});
    f.deliver(kOaiLma, none);
    CHECK(f.receiver.counter("oai_no_prefix") == 1);

    // A NAI longer than OAI's field: counted, sent as is.
    const std::string long_nai(70, 'x');
    pbu.options[0] = mh::MobileNodeIdentifier{1, std::vector<std::uint8_t>(long_nai.begin(), long_nai.end())};
    f.receiver.sender().send(kMag, kOaiLma, pbu);
    CHECK(f.receiver.counter("oai_nai_too_long") == 1);
}

TEST_CASE("magd MH receiver: the PBUs remembered for oai LMAs are bounded, the oldest forgotten first",
          "[magd][mh][oai]") {
    ReceiverFixture f;
    mh::BindingUpdate pbu;
    pbu.flags = mh::bu_flag::kA | mh::bu_flag::kP;
    pbu.options.push_back(mh::MobileNodeIdentifier{1, {'m'}});
    for (unsigned i = 0; i < 5000; ++i) {
        pbu.sequence = static_cast<std::uint16_t>(i);
        f.receiver.sender().send(kMag, kOaiLma, pbu);
    }
    CHECK(f.receiver.counter("oai_pbu_forgotten") == 5000 - 4096);
    mh::BindingAcknowledgement pba;
    pba.options.push_back(mh::MobileNodeIdentifier{1, std::vector<std::uint8_t>(63, 0)});
    pba.options[0] = mh::MobileNodeIdentifier{1, [] { std::vector<std::uint8_t> v(63, 0); v[0] = 'm'; return v; }()};
    pba.sequence = 0;  // forgotten: left as it came
    f.deliver(kOaiLma, pba);
    CHECK(f.receiver.counter("adapted_in_identifier") == 0);
    pba.sequence = 4999;  // remembered
    f.deliver(kOaiLma, pba);
    CHECK(f.receiver.counter("adapted_in_identifier") == 1);
}

TEST_CASE("magd RA socket: Ethernet access links get a complete frame, TUN links the raw socket",
          "[magd][ra]") {
    auto fake = std::make_unique<FakeLinkLayerSender>();
    FakeLinkLayerSender& frames = *fake;
    std::vector<int> raw;
    RaSocket socket(std::move(fake), [&](int ifindex, const Ipv6Address&, const Ipv6Address&,
                                         std::span<const std::uint8_t>) -> Status {
        raw.push_back(ifindex);
        return {};
    });
    RouterAdvertisement ra;
    ra.source_link_layer_address = std::array<std::uint8_t, 6>{0x00, 0x00, 0x5e, 0x00, 0x52, 0x13};
    ra.mtu = 1500;
    ra.prefixes.push_back({Ipv6Prefix{address("2001:db8:1::"), 64}});
    const auto icmp = build_router_advertisement(ra);
    const Ipv6Address router = address("fe80::200:5eff:fe00:5213");
    const Ipv6Address all_nodes = address("ff02::1");

    REQUIRE(socket.send(3, true, router, all_nodes, icmp).ok());
    REQUIRE(frames.sent.size() == 1);
    const auto& f = frames.sent[0];
    CHECK(f.ifindex == 3);
    CHECK(f.destination == MacAddress{0x33, 0x33, 0, 0, 0, 1});
    REQUIRE(f.packet.size() == 40 + icmp.size());
    CHECK(f.packet[6] == 58);   // no extension header
    CHECK(f.packet[7] == 255);  // RFC 4861 section 6.1.2
    CHECK(std::equal(router.begin(), router.end(), f.packet.begin() + 8));
    CHECK(std::equal(all_nodes.begin(), all_nodes.end(), f.packet.begin() + 24));
    // The checksum agrees with the RA codec's own implementation.
    const std::uint16_t checksum = icmpv6_checksum(icmp, router, all_nodes);
    CHECK(f.packet[42] == (checksum >> 8));
    CHECK(f.packet[43] == (checksum & 0xff));
    auto parsed = parse_router_advertisement(std::span<const std::uint8_t>(f.packet).subspan(40));
    REQUIRE(parsed);
    CHECK(parsed->prefixes.size() == 1);

    REQUIRE(socket.send(9, false, router, all_nodes, icmp).ok());
    CHECK(raw == std::vector<int>{9});
    CHECK(frames.sent.size() == 1);

    frames.fail_send = Error{ENOBUFS, "AF_PACKET sendto: No buffer space available"};
    const Status failed = socket.send(3, true, router, all_nodes, icmp);
    REQUIRE_FALSE(failed.ok());
    CHECK(failed.error().what.rfind("sending a Router Advertisement: ", 0) == 0);
    const auto c = socket.counters();
    CHECK(c.at("ra_sent") == 2);
    CHECK(c.at("ra_errors") == 1);
    CHECK(c.at("ra_sent_link_layer") == 1);
    CHECK(c.at("ra_errors_link_layer") == 1);
    CHECK(c.at("ra_sent_raw") == 1);
    CHECK(c.at("ra_errors_raw") == 0);
}

namespace {

// What the capture's BPF program lets through: the real program attached
// (SO_ATTACH_FILTER) to one end of an AF_UNIX datagram pair, so the
// kernel's own BPF interpreter judges every packet (no privileges needed).
struct FilterJudge {
    int fds[2] = {-1, -1};
    FilterJudge(bool solicitations, bool mld) {
        REQUIRE(::socketpair(AF_UNIX, SOCK_DGRAM, 0, fds) == 0);
        std::vector<sock_filter> program = solicitation_filter(solicitations, mld);
        sock_fprog prog{static_cast<unsigned short>(program.size()), program.data()};
        REQUIRE(::setsockopt(fds[1], SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof prog) == 0);
    }
    ~FilterJudge() {
        ::close(fds[0]);
        ::close(fds[1]);
    }
    // The octets the filter keeps (0: dropped).
    std::size_t kept(const std::vector<std::uint8_t>& packet) {
        REQUIRE(::send(fds[0], packet.data(), packet.size(), 0) == static_cast<ssize_t>(packet.size()));
        std::vector<std::uint8_t> in(70000);
        const ssize_t n = ::recv(fds[1], in.data(), in.size(), MSG_DONTWAIT);
        return n < 0 ? 0 : static_cast<std::size_t>(n);
    }
};

std::vector<std::uint8_t> icmp_packet(const char* source, const char* destination,
                                      std::vector<std::uint8_t> icmp, bool router_alert,
                                      std::uint8_t hop_limit = 255) {
    return build_icmpv6_packet(
        {address(source), address(destination), hop_limit, router_alert, icmp});
}

}  // namespace

TEST_CASE("magd capture filter: RS, DAD NS and MLD listener messages pass as asked, nothing else",
          "[magd][capture]") {
    const std::vector<std::uint8_t> rs = {133, 0, 0, 0, 0, 0, 0, 0};
    const std::vector<std::uint8_t> ns(24, 0);
    std::vector<std::uint8_t> ns_msg = ns;
    ns_msg[0] = 135;
    const std::vector<std::uint8_t> report = {143, 0, 0, 0, 0, 0, 0, 1, 4, 0, 0, 0,
                                              0xff, 0x3e, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x42, 0x42, 0, 1};
    std::vector<std::uint8_t> v1_report(24, 0), v1_done(24, 0), query(28, 0), ra(16, 0);
    v1_report[0] = 131;
    v1_done[0] = 132;
    query[0] = 130;
    ra[0] = 134;

    FilterJudge with(true, true), without(true, false), mld_only(false, true);
    const auto rs_packet = icmp_packet("fe80::1", "ff02::2", rs, false);
    CHECK(with.kept(rs_packet) == rs_packet.size());  // 48 octets: under the 128 kept
    CHECK(with.kept(icmp_packet("::", "ff02::2", rs, false)) > 0);
    CHECK(with.kept(icmp_packet("::", "ff02::1:ff00:1", ns_msg, false)) > 0);
    CHECK(with.kept(icmp_packet("fe80::1", "ff02::1:ff00:1", ns_msg, false)) == 0);  // not DAD
    CHECK(with.kept(icmp_packet("fe80::1", "ff02::1", ra, false)) == 0);
    const auto report_packet = icmp_packet("fe80::a1", "ff02::16", report, true, 1);
    CHECK(with.kept(report_packet) == report_packet.size());  // whole
    CHECK(with.kept(icmp_packet("fe80::a1", "ff3e::4242:1", v1_report, true, 1)) > 0);
    CHECK(with.kept(icmp_packet("fe80::a1", "ff02::2", v1_done, true, 1)) > 0);
    CHECK(with.kept(icmp_packet("fe80::1", "ff02::1", query, true, 1)) == 0);  // queries: ours
    CHECK(with.kept(icmp_packet("fe80::a1", "ff02::16", report, false, 1)) == 0);  // no Hop-by-Hop
    CHECK(with.kept(icmp_packet("fe80::1", "ff02::2", rs, true)) == 0);  // RS after Hop-by-Hop
    std::vector<std::uint8_t> udp_after_hbh = report_packet;
    udp_after_hbh[40] = 17;
    CHECK(with.kept(udp_after_hbh) == 0);
    std::vector<std::uint8_t> long_hbh = report_packet;
    long_hbh[41] = 1;  // a 16-octet Hop-by-Hop header
    CHECK(with.kept(long_hbh) == 0);
    std::vector<std::uint8_t> cut(report_packet.begin(), report_packet.begin() + 48);
    CHECK(with.kept(cut) == 0);  // no ICMPv6 type octet

    // Without the MLD branch (multicast disabled): solicitations only.
    CHECK(without.kept(rs_packet) > 0);
    CHECK(without.kept(icmp_packet("::", "ff02::1:ff00:1", ns_msg, false)) > 0);
    CHECK(without.kept(report_packet) == 0);
    // MLD only (magd's capture socket): no solicitations.
    CHECK(mld_only.kept(report_packet) == report_packet.size());
    CHECK(mld_only.kept(rs_packet) == 0);
    CHECK(mld_only.kept(icmp_packet("::", "ff02::1:ff00:1", ns_msg, false)) == 0);
}

TEST_CASE("magd early query sender: a whole frame to 33:33:00:00:00:01, Hop Limit 1, Router Alert",
          "[magd][capture]") {
    auto fake = std::make_unique<FakeLinkLayerSender>();
    FakeLinkLayerSender& frames = *fake;
    MldQuerySender sender(std::move(fake));
    const std::vector<std::uint8_t> query = {130, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0,
                                             0,   0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 125, 0, 0};
    const Ipv6Address router = address("fe80::200:5eff:fe00:5213");
    REQUIRE(sender.send_general_query(4, router, query).ok());
    REQUIRE(frames.sent.size() == 1);
    const auto& f = frames.sent[0];
    CHECK(f.ifindex == 4);
    CHECK(f.destination == MacAddress{0x33, 0x33, 0, 0, 0, 1});
    REQUIRE(f.packet.size() == 40 + 8 + query.size());
    CHECK(f.packet[6] == 0);   // Hop-by-Hop
    CHECK(f.packet[7] == 1);   // RFC 3810 section 5
    CHECK(std::equal(router.begin(), router.end(), f.packet.begin() + 8));
    CHECK(f.packet[40] == 58);
    CHECK(f.packet[42] == 5);  // Router Alert, value 0
    CHECK(f.packet[44] == 0);
    CHECK(f.packet[45] == 0);
    const std::uint16_t checksum = compute_icmpv6_checksum(
        std::span<const std::uint8_t>(f.packet).subspan(48), router, address("ff02::1"));
    CHECK(f.packet[50] == (checksum >> 8));
    CHECK(f.packet[51] == (checksum & 0xff));
    CHECK(sender.counters()["early_queries_sent"] == 1);
}

// --- [lmas] auth (RFC 5213 section 4, RFC 4285) ---------------------------------

namespace {

auth::PeerSecurity lma_keyed(std::uint8_t key_fill, const char* prefix = "2001:db8:100::1/128") {
    auth::PeerSecurity p;
    p.peers = *parse_prefix(prefix);
    p.mode = auth::Mode::kRequired;
    p.associations = {{1000, mh::AuthAlgorithm::kHmacSha256, std::vector<std::uint8_t>(32, key_fill)}};
    return p;
}

// magd's receiver checking its LMA (key 7); `lma` signs as the real LMA
// does, `forger` with a wrong key.
struct AuthReceiverFixture : ReceiverFixture {
    SimulatedClock clock;
    auth::MessageAuthenticator mag{{lma_keyed(7)}, clock};
    auth::MessageAuthenticator lma{{lma_keyed(7, "2001:db8:101::11/128")}, clock};
    auth::MessageAuthenticator forger{{lma_keyed(8, "2001:db8:101::11/128")}, clock};
    AuthReceiverFixture() { receiver.set_authenticator(&mag); }
    void deliver_signed(auth::MessageAuthenticator& who, const mh::Message& m) {
        deliver(kLma, who.sign(kLma, kMag, m));
    }
};

mh::BindingAcknowledgement accepted_pba(std::uint16_t sequence) {
    mh::BindingAcknowledgement pba;
    pba.flags = mh::ba_flag::kP;
    pba.sequence = sequence;
    pba.lifetime = 100;
    pba.options = {mh::MobileNodeIdentifier{1, {'m', 'n'}},
                   mh::HomeNetworkPrefix{64, *parse_address("2001:db8:8000::")},
                   mh::Timestamp{0x1234}};
    return pba;
}

}  // namespace

TEST_CASE("magd auth: a PBA or BRI without the LMA's valid authenticator never reaches the engine",
          "[magd][mh][auth]") {
    AuthReceiverFixture f;
    f.deliver(kLma, accepted_pba(1));             // unsigned
    f.deliver_signed(f.forger, accepted_pba(2));  // wrong key
    mh::BindingRevocationIndication bri;
    bri.sequence = 3;
    bri.flags = mh::revocation_flag::kP;
    f.deliver(kLma, bri);
    f.deliver_signed(f.forger, bri);
    CHECK(f.pbas.empty());
    CHECK(f.bris.empty());
    CHECK(f.receiver.counter("auth_missing") == 2);
    CHECK(f.receiver.counter("auth_bad_authenticator") == 2);

    f.deliver_signed(f.lma, accepted_pba(4));
    REQUIRE(f.pbas.size() == 1);
    CHECK(f.pbas[0].sequence == 4);
    f.deliver_signed(f.lma, bri);
    CHECK(f.bris.size() == 1);
}

TEST_CASE("magd auth: a captured BRI replayed is refused (replay protection option)",
          "[magd][mh][auth]") {
    AuthReceiverFixture f;
    mh::BindingRevocationIndication bri;
    bri.sequence = 3;
    bri.flags = mh::revocation_flag::kP;
    const mh::Message captured = f.lma.sign(kLma, kMag, bri);
    f.deliver(kLma, captured);
    f.deliver(kLma, captured);
    CHECK(f.bris.size() == 1);
    CHECK(f.receiver.counter("auth_replay_old") == 1);
}

TEST_CASE("magd auth: an unsigned heartbeat request is not answered, a signed one is",
          "[magd][mh][auth]") {
    AuthReceiverFixture f;
    mh::Heartbeat request;
    request.sequence = 11;
    f.deliver(kLma, request);
    CHECK(f.wire.sent.empty());
    f.deliver_signed(f.lma, request);
    CHECK(f.wire.sent.size() == 1);
    CHECK(f.receiver.counter("auth_missing") == 1);
}

TEST_CASE("magd config: the M-Tunnel keys (draft-asaeda): mode and key and the key reserved from MN keys",
          "[magd][config][m-tunnel]") {
    auto load = load_config_text(std::string(kGoodConfig) + "[multicast]\nm-tunnel = dynamic\nm-tunnel-key = 77\n",
                                 "magd.conf");
    INFO(problems_text(load.problems));
    CHECK(load.problems.size() == 1);  // the /dev/null store only
    CHECK(load.config.multicast.m_tunnel.mode == MulticastTunnelMode::kDynamic);
    CHECK(load.config.multicast.m_tunnel.key == 77u);
    CHECK(load.config.engine.reserved_gre_key == 77u);

    auto off = load_config_text(kGoodConfig, "magd.conf");
    CHECK_FALSE(off.config.multicast.m_tunnel.enabled());
    CHECK_FALSE(off.config.engine.reserved_gre_key.has_value());

    auto bad = load_config_text(std::string(kGoodConfig) + "[multicast]\nenabled = false\nm-tunnel = static\n",
                                "magd.conf");
    CHECK(problems_text(bad.problems).find("magd.conf: multicast.m-tunnel: needs multicast.enabled = true") !=
          std::string::npos);
    CHECK_FALSE(bad.config.multicast.m_tunnel.enabled());
    auto wrong = load_config_text(std::string(kGoodConfig) + "[multicast]\nm-tunnel = on\n", "magd.conf");
    CHECK(problems_text(wrong.problems).find("magd.conf:8: multicast.m-tunnel:") != std::string::npos);
}

TEST_CASE("magd config: proxy-direct (draft-zhao): the direct upstream and its channels, each "
          "problem located",
          "[magd][config][upstream_rules]") {
    auto load = load_config_text(std::string(kGoodConfig) +
                                     "[multicast]\nmode = proxy-direct\ndirect-upstream = lr0\n"
                                     "direct-channel = ff3e::8000:0/112 2001:db8:5::/64\n"
                                     "direct-channel = ff0e::db8:0/112\n",
                                 "magd.conf");
    INFO(problems_text(load.problems));
    CHECK(load.problems.size() == 1);  // the /dev/null store only
    const auto& m = load.config.multicast;
    CHECK(m.direct_upstream == "lr0");
    REQUIRE(m.direct_channels.size() == 2);
    CHECK(m.direct_channels[0].group == *parse_prefix("ff3e::8000:0/112"));
    CHECK(m.direct_channels[0].source == *parse_prefix("2001:db8:5::/64"));
    CHECK(m.direct_channels[1].source.length == 0);  // any source

    auto plain = load_config_text(kGoodConfig, "magd.conf");
    CHECK(plain.config.multicast.direct_upstream.empty());

    auto missing = load_config_text(std::string(kGoodConfig) + "[multicast]\nmode = proxy-direct\n",
                                    "magd.conf");
    const std::string text = problems_text(missing.problems);
    CHECK(text.find("multicast.direct-upstream: proxy-direct (multicast.mode or lma-mode) needs a direct-upstream") !=
          std::string::npos);
    CHECK(text.find("needs at least one direct-channel") != std::string::npos);

    auto bad = load_config_text(std::string(kGoodConfig) +
                                    "[multicast]\nmode = proxy-direct\ndirect-upstream = lr0\n"
                                    "direct-channel = 2001:db8::/32\n"
                                    "direct-channel = ff0e::/16 ff0e::/16\n"
                                    "direct-channel = ff0e::1/16\n",
                                "magd.conf");
    const std::string b = problems_text(bad.problems);
    CHECK(b.find("magd.conf:10: multicast.direct-channel: \"2001:db8::/32\" is not a multicast prefix") !=
          std::string::npos);
    CHECK(b.find("magd.conf:11: multicast.direct-channel: \"ff0e::/16\" is not a unicast source prefix") !=
          std::string::npos);
    CHECK(b.find("magd.conf:12: multicast.direct-channel: \"ff0e::1/16\" is not a multicast prefix") !=
          std::string::npos);

    auto mode = load_config_text(std::string(kGoodConfig) + "[multicast]\nmode = router\n", "magd.conf");
    CHECK(problems_text(mode.problems).find("magd.conf:8: multicast.mode: \"router\" is not proxy|proxy-direct") !=
          std::string::npos);
    auto stray = load_config_text(std::string(kGoodConfig) + "[multicast]\ndirect-upstream = lr0\n",
                                  "magd.conf");
    CHECK(problems_text(stray.problems).find("ignored: needs multicast.mode (or an lma-mode) = proxy-direct") !=
          std::string::npos);
    CHECK(stray.config.multicast.direct_upstream.empty());
}

TEST_CASE("magd config: RFC 7287 peering links and the data-driven timer, each problem located",
          "[magd][config][peering]") {
    using namespace std::chrono_literals;
    auto load = load_config_text(std::string(kGoodConfig) +
                                     "[multicast]\npeering = pe0\npeering = pe1 10\n"
                                     "peering-data-timeout-ms = 80\n",
                                 "magd.conf");
    INFO(problems_text(load.problems));
    CHECK(load.problems.size() == 1);  // the /dev/null store only
    const auto& m = load.config.multicast;
    REQUIRE(m.peerings.size() == 2);
    CHECK(m.peerings[0].name == "pe0");
    CHECK(m.peerings[0].report_wait == 25ms);  // RFC 7287 section 5, remote peer
    CHECK(m.peerings[1].report_wait == 10ms);
    CHECK(m.peering_data_timeout == 80ms);
    CHECK(load_config_text(kGoodConfig, "magd.conf").config.multicast.peering_data_timeout == 50ms);

    auto bad = load_config_text(std::string(kGoodConfig) +
                                    "[multicast]\npeering = pe0 2000\npeering = pe1\npeering = pe1\n"
                                    "peering = a b c\npeering-data-timeout-ms = 0\n",
                                "magd.conf");
    const std::string b = problems_text(bad.problems);
    CHECK(b.find("magd.conf:8: multicast.peering: \"2000\" is not an integer from 0 to 1000 (ms)") !=
          std::string::npos);
    CHECK(b.find("magd.conf:10: multicast.peering: pe1 is listed twice") != std::string::npos);
    CHECK(b.find("magd.conf:11: multicast.peering: \"a b c\" is not \"IFNAME [WAIT-MS]\"") !=
          std::string::npos);
    CHECK(b.find("magd.conf:12: multicast.peering-data-timeout-ms: \"0\" is not an integer from 1") !=
          std::string::npos);
    auto direct = load_config_text(std::string(kGoodConfig) +
                                       "[multicast]\nmode = proxy-direct\ndirect-upstream = lr0\n"
                                       "direct-channel = ff0e::/16\npeering = lr0\n",
                                   "magd.conf");
    CHECK(problems_text(direct.problems).find("multicast.peering: lr0 is the direct-upstream") !=
          std::string::npos);
}

TEST_CASE("magd config: per-interface filter tables, each problem located",
          "[magd][config][filter]") {
    auto load = load_config_text(std::string(kGoodConfig) +
                                     "[multicast]\ninterface-filter = mn* deny ff0e::dead/128\n"
                                     "interface-filter = mn* allow ff3e::/16 2001:db8:5::/64\n"
                                     "interface-filter = eth2 allow ff0e::/16\n",
                                 "magd.conf");
    INFO(problems_text(load.problems));
    CHECK(load.problems.size() == 1);  // the /dev/null store only
    const auto& f = load.config.multicast.interface_filters;
    REQUIRE(f.size() == 2);
    CHECK(f[0].pattern == "mn*");
    CHECK(f[0].policy.denied_groups == std::vector<Ipv6Prefix>{*parse_prefix("ff0e::dead/128")});
    REQUIRE(f[0].policy.allowed_sources.size() == 1);
    CHECK(f[0].policy.allowed_sources[0].source == *parse_prefix("2001:db8:5::/64"));
    CHECK(f[1].pattern == "eth2");
    CHECK(f[1].policy.allowed_groups == std::vector<Ipv6Prefix>{*parse_prefix("ff0e::/16")});
    auto bad = load_config_text(std::string(kGoodConfig) +
                                    "[multicast]\ninterface-filter = mn* keep ff0e::/16\n"
                                    "interface-filter = mn* deny ff0e::/16 2001:db8::/32\n"
                                    "interface-filter = mn* allow 2001:db8::/32\n",
                                "magd.conf");
    const std::string b = problems_text(bad.problems);
    CHECK(b.find("magd.conf:8: multicast.interface-filter: expected \"IFNAME-PATTERN allow|deny GROUP-PREFIX [SOURCE]\"") !=
          std::string::npos);
    CHECK(b.find("magd.conf:9: multicast.interface-filter: \"2001:db8::/32\" is not a host address") !=
          std::string::npos);
    CHECK(b.find("magd.conf:10: multicast.interface-filter: \"2001:db8::/32\" is not a multicast prefix") !=
          std::string::npos);
}

TEST_CASE("magd config: a mode per LMA (lma-mode) over the global one, each problem located",
          "[magd][config][upstream_rules]") {
    auto load = load_config_text(std::string(kGoodConfig) +
                                     "[multicast]\nmode = listener\n"
                                     "lma-mode = 2001:db8:100::1 proxy\n"
                                     "lma-mode = 2001:db8:300::1 proxy-direct\n"
                                     "direct-upstream = lr0\ndirect-channel = ff0e::/16\n",
                                 "magd.conf");
    INFO(problems_text(load.problems));
    CHECK(load.problems.size() == 1);  // the /dev/null store only
    const auto& m = load.config.multicast;
    using Mode = McastConfig::Mode;
    CHECK(m.global_mode() == Mode::kListener);
    CHECK(m.mode_for(*parse_address("2001:db8:100::1")) == Mode::kProxy);
    CHECK(m.mode_for(*parse_address("2001:db8:300::1")) == Mode::kProxyDirect);
    CHECK(m.mode_for(*parse_address("2001:db8:999::1")) == Mode::kListener);
    CHECK(m.any_mld_on_links());
    CHECK(m.direct_upstream == "lr0");  // an LMA in proxy-direct needs it
    auto all_listen = load_config_text(std::string(kGoodConfig) + "[multicast]\nmode = listener\n", "magd.conf");
    CHECK_FALSE(all_listen.config.multicast.any_mld_on_links());
    auto direct = load_config_text(std::string(kGoodConfig) +
                                       "[multicast]\nmode = proxy-direct\ndirect-upstream = lr0\n"
                                       "direct-channel = ff0e::/16\nlma-mode = 2001:db8:100::1 proxy\n",
                                   "magd.conf");
    CHECK(direct.config.multicast.global_mode() == Mode::kProxyDirect);
    CHECK(direct.config.multicast.mode_for(*parse_address("2001:db8:100::1")) == Mode::kProxy);
    auto bad = load_config_text(std::string(kGoodConfig) +
                                    "[multicast]\nlma-mode = 2001:db8:100::1 router\n"
                                    "lma-mode = nowhere proxy\n"
                                    "lma-mode = 2001:db8:300::1 listener\nlma-mode = 2001:db8:300::1 proxy\n"
                                    "lma-mode = 2001:db8:400::1 proxy-direct\n",
                                "magd.conf");
    const std::string b = problems_text(bad.problems);
    CHECK(b.find("magd.conf:8: multicast.lma-mode: \"router\" is not proxy|proxy-direct|listener") !=
          std::string::npos);
    CHECK(b.find("magd.conf:9: multicast.lma-mode: expected \"LMA-ADDRESS proxy|proxy-direct|listener\"") !=
          std::string::npos);
    CHECK(b.find("magd.conf:11: multicast.lma-mode: 2001:db8:300::1 is given twice") != std::string::npos);
    CHECK(b.find("needs a direct-upstream") != std::string::npos);
}

TEST_CASE("magd config: the multicast filter tables, each problem located", "[magd][config][filter]") {
    auto load = load_config_text(std::string(kGoodConfig) +
                                     "[multicast]\nallowed-group = ff3e::/16\nallowed-group = ff0e::/16\n"
                                     "denied-group = ff0e::dead/128\n"
                                     "allowed-source = ff3e::/16 2001:db8:5::/64\n"
                                     "denied-source = ff0e::/16 2001:db8:6::6\n",
                                 "magd.conf");
    INFO(problems_text(load.problems));
    CHECK(load.problems.size() == 1);  // the /dev/null store only
    const mcast::Policy& p = load.config.multicast.policy;
    CHECK(p.allowed_groups.size() == 2);
    CHECK(p.denied_groups == std::vector<Ipv6Prefix>{*parse_prefix("ff0e::dead/128")});
    REQUIRE(p.allowed_sources.size() == 1);
    CHECK(p.allowed_sources[0].source == *parse_prefix("2001:db8:5::/64"));
    REQUIRE(p.denied_sources.size() == 1);
    CHECK(p.denied_sources[0].source == *parse_prefix("2001:db8:6::6/128"));

    auto bad = load_config_text(std::string(kGoodConfig) +
                                    "[multicast]\nallowed-group = ff0e::/16 2001:db8::/32\n"
                                    "denied-group = 2001:db8::/32\n"
                                    "allowed-source = ff0e::/16\n"
                                    "denied-source = ff0e::/16 2001:db8:6::/64\n",
                                "magd.conf");
    const std::string b = problems_text(bad.problems);
    CHECK(b.find("magd.conf:8: multicast.allowed-group: expected one GROUP-PREFIX") != std::string::npos);
    CHECK(b.find("magd.conf:9: multicast.denied-group: \"2001:db8::/32\" is not a multicast prefix") != std::string::npos);
    CHECK(b.find("magd.conf:10: multicast.allowed-source: expected \"GROUP-PREFIX SOURCE-PREFIX\"") != std::string::npos);
    CHECK(b.find("magd.conf:11: multicast.denied-source: \"2001:db8:6::/64\" is not a host address (a /128)") !=
          std::string::npos);
    CHECK(bad.config.multicast.policy == mcast::Policy{});
}

TEST_CASE("magd config: [multicast] hold-packets and hold-ms set the ebpf backend's unresolved queue",
          "[magd][config][hold]") {
    auto load = load_config_text(kGoodConfig, "magd.conf");
    CHECK(load.config.multicast.ebpf_limits.hold_packets == 8);
    CHECK(load.config.multicast.ebpf_limits.hold_ms == 1000);
    load = load_config_text(std::string(kGoodConfig) + "[multicast]\nhold-packets = 3\nhold-ms = 40\n",
                            "magd.conf");
    INFO(problems_text(load.problems));
    CHECK(load.config.multicast.ebpf_limits.hold_packets == 3);
    CHECK(load.config.multicast.ebpf_limits.hold_ms == 40);
    auto bad = load_config_text(std::string(kGoodConfig) + "[multicast]\nhold-packets = -1\n", "magd.conf");
    CHECK(problems_text(bad.problems).find("magd.conf:8: multicast.hold-packets: \"-1\" is not an integer from 0 to 64") !=
          std::string::npos);
}
