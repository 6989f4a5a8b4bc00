// Unit tests of the JSON form of Mobility Header messages (pmip/mh/json.hpp):
// JSON -> Message -> JSON round trips for every message type and every option,
// the exact members of the common options, flag letters and hex bits, the
// error text for bad members, and JSON -> wire -> JSON through the codec.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "pmip/mh/codec.hpp"
#include "pmip/mh/json.hpp"

using namespace pmip::mh;
using nlohmann::json;

namespace {

using Bytes = std::vector<std::uint8_t>;

Ipv6Address v6(const char* text) {
    return *parse_ipv6_address(text);
}
Ipv4Address v4(const char* text) {
    return *parse_ipv4_address(text);
}
Bytes text_bytes(std::string_view s) {
    return Bytes(s.begin(), s.end());
}

Message from_json_ok(const json& j, const ExtensionCodePoints& cp = {}) {
    auto result = message_from_json(j, cp);
    if (const auto* error = std::get_if<std::string>(&result)) {
        FAIL("message_from_json failed: " << *error << " for " << j.dump());
    }
    return std::get<Message>(result);
}

std::string from_json_error(const json& j, const ExtensionCodePoints& cp = {}) {
    std::variant<Message, std::string> result;
    REQUIRE_NOTHROW(result = message_from_json(j, cp));
    if (std::holds_alternative<Message>(result)) {
        FAIL("expected an error for " << j.dump() << ", got "
                                      << to_json(std::get<Message>(result), cp).dump());
    }
    return std::get<std::string>(result);
}

// JSON -> Message -> JSON gives the same JSON, and the Message is `expected`.
void check_round_trip(const json& j, const Message& expected, const ExtensionCodePoints& cp = {}) {
    const Message m = from_json_ok(j, cp);
    CHECK(m == expected);
    CHECK(to_json(m, cp).dump() == j.dump());
    // And through the wire: serialize, parse, back to JSON.
    SerializeError error{};
    const Bytes wire = serialize(m, SerializeConfig{cp}, &error);
    INFO("serialize error " << to_string(error) << " for " << j.dump());
    REQUIRE_FALSE(wire.empty());
    ParseConfig config;
    config.code_points = cp;
    const auto parsed = parse(wire, config);
    if (const auto* e = std::get_if<ParseError>(&parsed)) {
        FAIL("parse error " << to_string(e->kind) << " at " << e->offset << " of " << to_hex(wire)
                            << " for " << j.dump());
    }
    CHECK(std::get<Parsed>(parsed).message == expected);
    CHECK(to_json(std::get<Parsed>(parsed).message, cp).dump() == j.dump());
}

json pbu_with(const json& option) {
    return {{"type", "pbu"},
            {"sequence", 1},
            {"flags", {"A", "P"}},
            {"lifetime", 150},
            {"options", json::array({option})}};
}

BindingUpdate pbu_holding(Option option) {
    BindingUpdate m;
    m.sequence = 1;
    m.flags = bu_flag::kA | bu_flag::kP;
    m.lifetime = 150;
    m.options = {std::move(option)};
    return m;
}

struct OptionCase {
    const char* what;
    json j;
    Option option;
};

MulticastAddressRecord mldv2_record() {
    MulticastAddressRecord r;
    r.record_type = 1;
    r.multicast_address = v6("ff3e::8000:1");
    r.sources = {v6("2001:db8::10"), v6("2001:db8::11")};
    r.auxiliary_data = {0xde, 0xad, 0xbe, 0xef};
    return r;
}

json mldv2_record_json() {
    return {{"record_type", 1},
            {"group", "ff3e::8000:1"},
            {"sources", {"2001:db8::10", "2001:db8::11"}},
            {"aux_hex", "deadbeef"}};
}

std::vector<OptionCase> option_cases() {
    ActiveMulticastSubscriptionIpv4 igmpv3;
    igmpv3.igmp_type = 0x22;
    igmpv3.record_type = 2;
    igmpv3.group = v4("232.1.1.1");
    igmpv3.sources = {v4("192.0.2.1")};
    igmpv3.auxiliary_data = {};
    ActiveMulticastSubscriptionIpv4 igmpv2;
    igmpv2.igmp_type = 0x16;
    igmpv2.group = v4("224.1.2.3");
    ActiveMulticastSubscriptionIpv6 mld2;
    mld2.mld_type = 143;
    mld2.record = mldv2_record();
    ActiveMulticastSubscriptionIpv6 mld1;
    mld1.mld_type = 131;
    mld1.record.multicast_address = v6("ff0e::1");
    MulticastAddressRecord plain;
    plain.record_type = 4;
    plain.multicast_address = v6("ff3e::2");

    std::vector<OptionCase> cases;
    cases.push_back(
        OptionCase{"binding refresh advice",
                   {{"type", 2}, {"name", "binding_refresh_advice"}, {"refresh_interval", 30}},
                   BindingRefreshAdvice{30}});
    cases.push_back(
        OptionCase{"alternate care-of address",
                   {{"type", 3}, {"name", "alternate_care_of_address"}, {"address", "2001:db8::5"}},
                   AlternateCareOfAddress{v6("2001:db8::5")}});
    cases.push_back(
        OptionCase{"mobile network prefix",
                   {{"type", 6}, {"name", "mobile_network_prefix"}, {"prefix", "2001:db8:2::/48"}},
                   MobileNetworkPrefix{48, v6("2001:db8:2::")}});
    cases.push_back(OptionCase{
        "MN identifier NAI",
        {{"type", 8}, {"name", "mn_identifier"}, {"subtype", 1}, {"id", "mn1@example.org"}},
        MobileNodeIdentifier{1, text_bytes("mn1@example.org")}});
    cases.push_back(OptionCase{
        "MN identifier binary (EUI-48)",
        {{"type", 8}, {"name", "mn_identifier"}, {"subtype", 5}, {"id_hex", "00005e005213"}},
        MobileNodeIdentifier{5, {0x00, 0x00, 0x5e, 0x00, 0x52, 0x13}}});
    cases.push_back(OptionCase{
        "mobility message authentication",
        {{"type", 9},
         {"name", "mobility_message_authentication"},
         {"subtype", 1},
         {"spi", 4096},
         {"data_hex", "00112233445566778899aabb"}},
        MobilityMessageAuthentication{
            1, 4096, {0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb}}});
    cases.push_back(OptionCase{"mobility message replay protection",
                               {{"type", 10},
                                {"name", "mobility_message_replay_protection"},
                                {"value", 0x1122334455667788ull}},
                               MobilityMessageReplayProtection{0x1122334455667788ull}});
    cases.push_back(OptionCase{"vendor specific",
                               {{"type", 19},
                                {"name", "vendor_specific"},
                                {"vendor_id", 10415},
                                {"subtype", 7},
                                {"data_hex", "0102"}},
                               VendorSpecific{10415, 7, {0x01, 0x02}}});
    cases.push_back(
        OptionCase{"home network prefix",
                   {{"type", 22}, {"name", "home_network_prefix"}, {"prefix", "2001:db8:1::/64"}},
                   HomeNetworkPrefix{64, v6("2001:db8:1::")}});
    cases.push_back(OptionCase{"handoff indicator",
                               {{"type", 23}, {"name", "handoff_indicator"}, {"value", 4}},
                               HandoffIndicator{4}});
    cases.push_back(OptionCase{"access technology type",
                               {{"type", 24}, {"name", "access_technology_type"}, {"value", 3}},
                               AccessTechnologyType{3}});
    cases.push_back(
        OptionCase{"MN link-layer identifier",
                   {{"type", 25}, {"name", "mn_link_layer_identifier"}, {"id_hex", "00005e005213"}},
                   MobileNodeLinkLayerIdentifier{{0x00, 0x00, 0x5e, 0x00, 0x52, 0x13}}});
    cases.push_back(
        OptionCase{"link-local address",
                   {{"type", 26}, {"name", "link_local_address"}, {"address", "fe80::1"}},
                   LinkLocalAddress{v6("fe80::1")}});
    cases.push_back(
        OptionCase{"timestamp",
                   {{"type", 27}, {"name", "timestamp"}, {"value", 0x00006553f1008000ull}},
                   Timestamp{0x00006553f1008000ull}});
    cases.push_back(OptionCase{"restart counter",
                               {{"type", 28}, {"name", "restart_counter"}, {"value", 7}},
                               RestartCounter{7}});
    cases.push_back(OptionCase{"IPv4 home address",
                               {{"type", 29},
                                {"name", "ipv4_home_address"},
                                {"prefix_length", 24},
                                {"request_prefix", true},
                                {"address", "192.0.2.7"}},
                               Ipv4HomeAddress{24, true, v4("192.0.2.7")}});
    cases.push_back(OptionCase{"IPv4 address acknowledgement",
                               {{"type", 30},
                                {"name", "ipv4_address_acknowledgement"},
                                {"status", 128},
                                {"prefix_length", 32},
                                {"address", "192.0.2.8"}},
                               Ipv4AddressAcknowledgement{128, 32, v4("192.0.2.8")}});
    cases.push_back(OptionCase{"NAT detection",
                               {{"type", 31},
                                {"name", "nat_detection"},
                                {"udp_encapsulation_required", true},
                                {"refresh_time", 110}},
                               NatDetection{true, 110}});
    cases.push_back(
        OptionCase{"IPv4 care-of address",
                   {{"type", 32}, {"name", "ipv4_care_of_address"}, {"address", "198.51.100.1"}},
                   Ipv4CareOfAddress{v4("198.51.100.1")}});
    cases.push_back(OptionCase{"GRE key with key",
                               {{"type", 33}, {"name", "gre_key"}, {"key", 0xdeadbeefu}},
                               GreKey{0xdeadbeefu}});
    cases.push_back(
        OptionCase{"GRE key without key", {{"type", 33}, {"name", "gre_key"}}, GreKey{}});
    cases.push_back(OptionCase{"IPv4 home address request",
                               {{"type", 36},
                                {"name", "ipv4_home_address_request"},
                                {"prefix_length", 0},
                                {"address", "0.0.0.0"}},
                               Ipv4HomeAddressRequest{0, v4("0.0.0.0")}});
    cases.push_back(OptionCase{"IPv4 home address reply",
                               {{"type", 37},
                                {"name", "ipv4_home_address_reply"},
                                {"status", 0},
                                {"prefix_length", 24},
                                {"address", "10.1.2.3"}},
                               Ipv4HomeAddressReply{0, 24, v4("10.1.2.3")}});
    cases.push_back(
        OptionCase{"IPv4 default-router address",
                   {{"type", 38}, {"name", "ipv4_default_router_address"}, {"address", "10.1.2.1"}},
                   Ipv4DefaultRouterAddress{v4("10.1.2.1")}});
    cases.push_back(
        OptionCase{"IPv4 DHCP support mode",
                   {{"type", 39}, {"name", "ipv4_dhcp_support_mode"}, {"dhcp_server", true}},
                   Ipv4DhcpSupportMode{true}});
    cases.push_back(
        OptionCase{"MN group identifier",
                   {{"type", 50}, {"name", "mn_group_identifier"}, {"subtype", 1}, {"group_id", 1}},
                   MobileNodeGroupIdentifier{1, 1}});
    cases.push_back(OptionCase{"active multicast subscription IPv4, IGMPv3",
                               {{"type", 56},
                                {"name", "active_multicast_subscription_ipv4"},
                                {"igmp_type", 0x22},
                                {"record_type", 2},
                                {"group", "232.1.1.1"},
                                {"sources", {"192.0.2.1"}},
                                {"aux_hex", ""}},
                               igmpv3});
    cases.push_back(OptionCase{"active multicast subscription IPv4, IGMPv2",
                               {{"type", 56},
                                {"name", "active_multicast_subscription_ipv4"},
                                {"igmp_type", 0x16},
                                {"record_type", 0},
                                {"group", "224.1.2.3"},
                                {"sources", json::array()},
                                {"aux_hex", ""}},
                               igmpv2});
    cases.push_back(OptionCase{"active multicast subscription IPv6, MLDv2",
                               {{"type", 57},
                                {"name", "active_multicast_subscription_ipv6"},
                                {"mld_type", 143},
                                {"record", mldv2_record_json()}},
                               mld2});
    cases.push_back(OptionCase{
        "active multicast subscription IPv6, MLDv1",
        {{"type", 57},
         {"name", "active_multicast_subscription_ipv6"},
         {"mld_type", 131},
         {"record",
          {{"record_type", 0}, {"group", "ff0e::1"}, {"sources", json::array()}, {"aux_hex", ""}}}},
        mld1});
    cases.push_back(OptionCase{"draft-asaeda multicast subscription",
                               {{"type", 200},
                                {"name", "multicast_subscription"},
                                {"records",
                                 {mldv2_record_json(),
                                  {{"record_type", 4},
                                   {"group", "ff3e::2"},
                                   {"sources", json::array()},
                                   {"aux_hex", ""}}}}},
                               MulticastSubscription{{mldv2_record(), plain}}});
    cases.push_back(OptionCase{"previous MAAR",
                               {{"type", 67},
                                {"name", "previous_maar"},
                                {"address", "2001:db8:ff::1"},
                                {"home_network_prefix", "2001:db8:1::/64"}},
                               PreviousMaar{64, v6("2001:db8:ff::1"), v6("2001:db8:1::")}});
    cases.push_back(
        OptionCase{"serving MAAR",
                   {{"type", 68}, {"name", "serving_maar"}, {"address", "2001:db8:ff::2"}},
                   ServingMaar{v6("2001:db8:ff::2")}});
    cases.push_back(OptionCase{"anchored prefix",
                               {{"type", 65}, {"name", "anchored_prefix"}, {"prefix", "2001:db8:a1::/64"}},
                               AnchoredPrefix{64, v6("2001:db8:a1::")}});
    cases.push_back(OptionCase{"local prefix",
                               {{"type", 66}, {"name", "local_prefix"}, {"prefix", "2001:db8:a2::/64"}},
                               LocalPrefix{64, v6("2001:db8:a2::")}});
    cases.push_back(OptionCase{"DLIF link-local address",
                               {{"type", 69}, {"name", "dlif_link_local_address"}, {"address", "fe80::a1"}},
                               DlifLinkLocalAddress{v6("fe80::a1")}});
    cases.push_back(OptionCase{"DLIF link-layer address",
                               {{"type", 70}, {"name", "dlif_link_layer_address"}, {"address_hex", "02005e00a101"}},
                               DlifLinkLayerAddress{{0x02, 0x00, 0x5e, 0x00, 0xa1, 0x01}}});
    cases.push_back(OptionCase{"unknown option",
                               {{"type", 150}, {"name", "unknown"}, {"data_hex", "0a0b0c"}},
                               UnknownOption{150, {0x0a, 0x0b, 0x0c}}});
    return cases;
}

}  // namespace

TEST_CASE("JSON round trip of every option (in a PBU, through the wire too)", "[json]") {
    for (const auto& c : option_cases()) {
        INFO(c.what);
        check_round_trip(pbu_with(c.j), pbu_holding(c.option));
    }
}

TEST_CASE("every option struct has a JSON case", "[json]") {
    std::vector<bool> seen(std::variant_size_v<Option>, false);
    for (const auto& c : option_cases()) seen[c.option.index()] = true;
    for (std::size_t i = 0; i < seen.size(); ++i) {
        INFO("Option alternative " << i);
        CHECK(seen[i]);
    }
}

TEST_CASE("JSON round trip of every message type", "[json]") {
    const json hnp = {{"type", 22}, {"name", "home_network_prefix"}, {"prefix", "2001:db8:1::/64"}};
    const json mnid = {
        {"type", 8}, {"name", "mn_identifier"}, {"subtype", 1}, {"id", "mn1@example.org"}};
    const Option hnp_option = HomeNetworkPrefix{64, v6("2001:db8:1::")};
    const Option mnid_option = MobileNodeIdentifier{1, text_bytes("mn1@example.org")};

    SECTION("pbu") {
        check_round_trip(
            {{"type", "pbu"},
             {"sequence", 4660},
             {"flags", {"A", "P"}},
             {"lifetime", 900},
             {"options", {mnid, hnp}}},
            BindingUpdate{4660, bu_flag::kA | bu_flag::kP, 900, {mnid_option, hnp_option}});
    }
    SECTION("bu (no P)") {
        check_round_trip(
            {{"type", "bu"},
             {"sequence", 9},
             {"flags", {"A", "H", "L", "K"}},
             {"lifetime", 0},
             {"options", json::array()}},
            BindingUpdate{9, bu_flag::kA | bu_flag::kH | bu_flag::kL | bu_flag::kK, 0, {}});
    }
    SECTION("pba") {
        check_round_trip(
            {{"type", "pba"},
             {"status", 0},
             {"sequence", 4660},
             {"flags", {"P"}},
             {"lifetime", 900},
             {"options", {mnid, hnp}}},
            BindingAcknowledgement{0, ba_flag::kP, 4660, 900, {mnid_option, hnp_option}});
    }
    SECTION("ba") {
        check_round_trip({{"type", "ba"},
                          {"status", 135},
                          {"sequence", 3},
                          {"flags", {"K", "R"}},
                          {"lifetime", 0},
                          {"options", json::array()}},
                         BindingAcknowledgement{135, ba_flag::kK | ba_flag::kR, 3, 0, {}});
    }
    SECTION("be") {
        check_round_trip({{"type", "be"},
                          {"status", 2},
                          {"home_address", "2001:db8::99"},
                          {"options", json::array()}},
                         BindingError{2, v6("2001:db8::99"), {}});
    }
    SECTION("heartbeat with a 32-bit sequence") {
        check_round_trip(
            {{"type", "heartbeat"},
             {"sequence", 4000000000u},
             {"flags", {"U", "R"}},
             {"options", {{{"type", 28}, {"name", "restart_counter"}, {"value", 3}}}}},
            Heartbeat{heartbeat_flag::kU | heartbeat_flag::kR, 4000000000u, {RestartCounter{3}}});
    }
    SECTION("bri") {
        check_round_trip({{"type", "bri"},
                          {"trigger", 2},
                          {"sequence", 77},
                          {"flags", {"P", "V", "G"}},
                          {"options", {mnid}}},
                         BindingRevocationIndication{
                             2,
                             77,
                             revocation_flag::kP | revocation_flag::kV | revocation_flag::kG,
                             {mnid_option}});
    }
    SECTION("bra") {
        check_round_trip({{"type", "bra"},
                          {"status", 128},
                          {"sequence", 77},
                          {"flags", {"P"}},
                          {"options", json::array()}},
                         BindingRevocationAcknowledgement{128, 77, revocation_flag::kP, {}});
    }
    SECTION("upn") {
        check_round_trip(
            {{"type", "upn"},
             {"sequence", 5},
             {"reason", 1},
             {"flags", {"A", "D"}},
             {"options", {mnid}}},
            UpdateNotification{
                5, 1, update_notification_flag::kA | update_notification_flag::kD, {mnid_option}});
    }
    SECTION("upa") {
        check_round_trip({{"type", "upa"}, {"sequence", 5}, {"status", 129}, {"options", {mnid}}},
                         UpdateNotificationAcknowledgement{5, 129, {mnid_option}});
    }
    SECTION("subscription_query") {
        check_round_trip({{"type", "subscription_query"}, {"sequence", 200}, {"options", {mnid}}},
                         SubscriptionQuery{200, {mnid_option}});
    }
    SECTION("subscription_response") {
        check_round_trip({{"type", "subscription_response"},
                          {"sequence", 200},
                          {"flags", {"I"}},
                          {"options", {mnid}}},
                         SubscriptionResponse{200, subscription_response_flag::kI, {mnid_option}});
    }
}

TEST_CASE("Message -> JSON -> Message for a PBU with every option", "[json]") {
    BindingUpdate m;
    m.sequence = 65535;
    m.flags = 0xffff;  // every bit, named or not
    m.lifetime = 65535;
    for (const auto& c : option_cases()) m.options.push_back(c.option);
    const json j = to_json(m);
    CHECK(from_json_ok(j) == Message(m));
    CHECK(from_json_ok(json::parse(j.dump())) == Message(m));
}

TEST_CASE("the worked PBU of PROTOCOL.md 2.4 has the documented members", "[json]") {
    const auto wire = *parse_hex(
        "3b0b0500 0000 0001 8200 0096"
        "16120040 20010db8000100000000000000000000"
        "0100 1b08000000006553f100 17020001 18020004 0100"
        "1a10 fe800000000000000000000000000001"
        "0810 016d6e31406578616d706c652e6f7267"
        "010400000000");
    REQUIRE(wire.size() == 96);
    const auto parsed = parse(wire);
    REQUIRE(std::holds_alternative<Parsed>(parsed));
    const json j = to_json(std::get<Parsed>(parsed).message);
    CHECK(j["type"] == "pbu");
    CHECK(j["sequence"] == 1);
    CHECK(j["flags"] == json({"A", "P"}));
    CHECK(j["lifetime"] == 150);
    CHECK_FALSE(j.contains("quirks"));
    const json& o = j["options"];
    REQUIRE(o.size() == 6);  // the PadN options are not shown
    CHECK(o[0] ==
          json({{"type", 22}, {"name", "home_network_prefix"}, {"prefix", "2001:db8:1::/64"}}));
    CHECK(o[1] == json({{"type", 27}, {"name", "timestamp"}, {"value", 0x6553f100}}));
    CHECK(o[2] == json({{"type", 23}, {"name", "handoff_indicator"}, {"value", 1}}));
    CHECK(o[3] == json({{"type", 24}, {"name", "access_technology_type"}, {"value", 4}}));
    CHECK(o[4] == json({{"type", 26}, {"name", "link_local_address"}, {"address", "fe80::1"}}));
    CHECK(
        o[5] ==
        json({{"type", 8}, {"name", "mn_identifier"}, {"subtype", 1}, {"id", "mn1@example.org"}}));

    // Encoding the JSON gives the same octets (checksum left 0 by serialize).
    CHECK(serialize(from_json_ok(j)) == wire);
}

TEST_CASE("pbu and pba set the P flag on encode", "[json]") {
    const auto pbu = std::get<BindingUpdate>(from_json_ok({{"type", "pbu"}, {"flags", {"A"}}}));
    CHECK(pbu.flags == (bu_flag::kA | bu_flag::kP));
    const auto pba = std::get<BindingAcknowledgement>(from_json_ok({{"type", "pba"}}));
    CHECK(pba.flags == ba_flag::kP);
    // "bu" with the P letter is a PBU and prints as one.
    CHECK(to_json(from_json_ok({{"type", "bu"}, {"flags", {"P"}}}))["type"] == "pbu");
    // "ba" without P stays a BA.
    CHECK(to_json(from_json_ok({{"type", "ba"}}))["type"] == "ba");
}

TEST_CASE("message members default to zero and empty", "[json]") {
    CHECK(from_json_ok({{"type", "bu"}}) == Message(BindingUpdate{}));
    CHECK(from_json_ok({{"type", "be"}}) == Message(BindingError{}));
    CHECK(from_json_ok({{"type", "heartbeat"}}) == Message(Heartbeat{}));
    CHECK(from_json_ok({{"type", "upa"}}) == Message(UpdateNotificationAcknowledgement{}));
}

TEST_CASE("flag bits without a letter are hex strings and come back", "[json]") {
    BindingUpdate bu;
    bu.flags = bu_flag::kA | 0x0004 | 0x0001;
    const json j = to_json(bu);
    CHECK(j["flags"] == json({"A", "0x0004", "0x0001"}));
    CHECK(std::get<BindingUpdate>(from_json_ok(j)).flags == bu.flags);

    BindingAcknowledgement ba;
    ba.flags = ba_flag::kP | 0x01;
    CHECK(to_json(ba)["flags"] == json({"P", "0x01"}));
    CHECK(std::get<BindingAcknowledgement>(from_json_ok(to_json(ba))).flags == ba.flags);

    Heartbeat hb;
    hb.flags = 0x80 | heartbeat_flag::kR;
    CHECK(to_json(hb)["flags"] == json({"0x80", "R"}));
    CHECK(std::get<Heartbeat>(from_json_ok(to_json(hb))).flags == hb.flags);

    // Upper-case hex digits and a combined mask are accepted too.
    CHECK(std::get<BindingUpdate>(from_json_ok({{"type", "bu"}, {"flags", {"0x000C"}}})).flags ==
          0x000c);
}

TEST_CASE("the draft-asaeda C flag follows the configured bit", "[json]") {
    BindingUpdate bu;
    bu.flags = bu_flag::kA | bu_flag::kP | 0x0008;
    CHECK(to_json(bu)["flags"] == json({"A", "P", "C"}));
    CHECK(std::get<BindingUpdate>(from_json_ok({{"type", "pbu"}, {"flags", {"C"}}})).flags ==
          (bu_flag::kP | 0x0008));

    ExtensionCodePoints draft;
    draft.multicast_subscription_flag = 0x0100;  // the draft's value, IANA's F
    bu.flags = bu_flag::kA | bu_flag::kP | 0x0100;
    CHECK(to_json(bu, draft)["flags"] == json({"A", "P", "C"}));
    CHECK(to_json(bu)["flags"] == json({"A", "P", "F"}));
    bu.flags = bu_flag::kP | 0x0008;
    CHECK(to_json(bu, draft)["flags"] == json({"P", "0x0008"}));
    CHECK(std::get<BindingUpdate>(from_json_ok({{"type", "pbu"}, {"flags", {"C"}}}, draft)).flags ==
          (bu_flag::kP | 0x0100));
}

TEST_CASE("the multicast subscription option type follows the configuration", "[json]") {
    ExtensionCodePoints cp;
    cp.multicast_subscription_option_type = 240;
    const json option = {
        {"type", 240}, {"name", "multicast_subscription"}, {"records", {mldv2_record_json()}}};
    check_round_trip(pbu_with(option), pbu_holding(MulticastSubscription{{mldv2_record()}}), cp);
    // By name alone it takes the configured type.
    const auto m = from_json_ok(
        pbu_with({{"name", "multicast_subscription"}, {"records", json::array()}}), cp);
    CHECK(to_json(m, cp)["options"][0]["type"] == 240);
    // With the default code points type 240 is just an unknown option.
    const auto unknown =
        from_json_ok(pbu_with({{"type", 240}, {"name", "unknown"}, {"data_hex", "0000"}}));
    CHECK(std::holds_alternative<UnknownOption>(options_of(unknown)[0]));
}

TEST_CASE("MN identifier: printable ASCII as id, anything else as id_hex", "[json]") {
    CHECK(option_to_json(MobileNodeIdentifier{1, text_bytes("a b~")})["id"] == "a b~");
    const json binary = option_to_json(MobileNodeIdentifier{1, {0x00, 0x00, 0x02, 0x11}});
    CHECK_FALSE(binary.contains("id"));
    CHECK(binary["id_hex"] == "00000211");
    const json empty = option_to_json(MobileNodeIdentifier{1, {}});
    CHECK(empty["id"] == "");
    CHECK(option_to_json(MobileNodeIdentifier{1, {'a', 0x7f}})["id_hex"] == "617f");
    // Subtype defaults to NAI on input.
    const auto m = from_json_ok(pbu_with({{"type", 8}, {"id", "x@y"}}));
    CHECK(std::get<MobileNodeIdentifier>(options_of(m)[0]) ==
          MobileNodeIdentifier{1, text_bytes("x@y")});
}

TEST_CASE("options may be given by name alone or by type alone", "[json]") {
    const auto by_name = from_json_ok(pbu_with({{"name", "handoff_indicator"}, {"value", 5}}));
    CHECK(options_of(by_name)[0] == Option(HandoffIndicator{5}));
    const auto by_type = from_json_ok(pbu_with({{"type", 24}, {"value", 3}}));
    CHECK(options_of(by_type)[0] == Option(AccessTechnologyType{3}));
    // An unlisted type without a name is an unknown option.
    const auto unknown = from_json_ok(pbu_with({{"type", 99}, {"data_hex", "01"}}));
    CHECK(options_of(unknown)[0] == Option(UnknownOption{99, {0x01}}));
}

TEST_CASE("decoder context members are accepted and ignored", "[json]") {
    json j = {{"type", "pbu"}, {"frame", 12}, {"quirks", {"header_length_short"}}};
    CHECK(from_json_ok(j) == from_json_ok({{"type", "pbu"}}));
}

TEST_CASE("quirks appear only when non-zero", "[json]") {
    const BindingUpdate bu;
    CHECK_FALSE(to_json(bu).contains("quirks"));
    const json j = to_json(bu, {}, quirk::kHeaderLengthShort | quirk::kTimestampHostOrder);
    REQUIRE(j.contains("quirks"));
    json expected = json::array();
    for (const auto name : quirk_names(quirk::kHeaderLengthShort | quirk::kTimestampHostOrder)) {
        expected.push_back(std::string(name));
    }
    CHECK(j["quirks"] == expected);
    CHECK(j["quirks"][0] == "header_length_short");
}

TEST_CASE("hex helpers", "[json]") {
    CHECK(to_hex(Bytes{0x00, 0xab, 0xff}) == "00abff");
    CHECK(to_hex(Bytes{}).empty());
    CHECK(parse_hex("00abFF") == Bytes{0x00, 0xab, 0xff});
    CHECK(parse_hex("0x3b 0b:05\t00") == Bytes{0x3b, 0x0b, 0x05, 0x00});
    CHECK(parse_hex("") == Bytes{});
    CHECK_FALSE(parse_hex("abc").has_value());
    CHECK_FALSE(parse_hex("zz").has_value());
    CHECK_FALSE(parse_hex("0x0x00").has_value());
}

TEST_CASE("bad members give an error naming the member", "[json]") {
    struct Case {
        json j;
        std::string expected;  // a substring of the error text
    };
    const json ok_hnp = {{"type", 22}, {"prefix", "2001:db8::/64"}};
    const std::vector<Case> cases = {
        {json::array(), "message: expected a JSON object"},
        {json::object(), "type: missing"},
        {{{"type", 5}}, "type: expected a string"},
        {{{"type", "xyz"}}, "type: unknown message type \"xyz\""},
        {{{"type", "pbu"}, {"sequence", 70000}}, "sequence: out of range 0..65535"},
        {{{"type", "pbu"}, {"sequence", -1}}, "sequence: must not be negative"},
        {{{"type", "pbu"}, {"sequence", "1"}}, "sequence: expected an unsigned integer"},
        {{{"type", "pbu"}, {"sequence", 1.5}}, "sequence: expected an unsigned integer"},
        {{{"type", "pbu"}, {"lifetime", 65536}}, "lifetime: out of range"},
        {{{"type", "heartbeat"}, {"sequence", 4294967296ull}},
         "sequence: out of range 0..4294967295"},
        {{{"type", "ba"}, {"status", 256}}, "status: out of range 0..255"},
        {{{"type", "pbu"}, {"flags", "A"}}, "flags: expected an array"},
        {{{"type", "pbu"}, {"flags", {"A", "Q"}}}, "flags[1]: unknown flag \"Q\""},
        {{{"type", "pba"}, {"flags", {"A"}}}, "flags[0]: unknown flag \"A\""},
        {{{"type", "pbu"}, {"flags", {1}}}, "flags[0]: expected a flag letter"},
        {{{"type", "ba"}, {"flags", {"0x100"}}}, "flags[0]: unknown flag"},
        {{{"type", "pbu"}, {"lifetme", 1}}, "lifetme: not a member of a \"pbu\" message"},
        {{{"type", "bri"}, {"status", 1}}, "status: not a member of a \"bri\" message"},
        {{{"type", "be"}, {"flags", json::array()}}, "flags: not a member"},
        {{{"type", "be"}, {"home_address", "1.2.3.4"}}, "home_address: bad IPv6 address"},
        {{{"type", "pbu"}, {"options", json::object()}}, "options: expected an array"},
        {{{"type", "pbu"}, {"options", {5}}}, "options[0]: expected a JSON object"},
        {pbu_with(json::object()), "options[0]: needs \"type\""},
        {pbu_with({{"type", 22}}), "options[0].prefix: missing"},
        {pbu_with({{"type", 22}, {"prefix", "2001:db8::"}}),
         "options[0].prefix: expected \"address/length\""},
        {pbu_with({{"type", 22}, {"prefix", "2001:db8::/129"}}),
         "options[0].prefix: prefix length over 128"},
        {pbu_with({{"type", 22}, {"prefix", "2001:db8::/x"}}),
         "options[0].prefix: bad prefix length"},
        {pbu_with({{"type", 22}, {"prefix", "2001:zz8::/64"}}),
         "options[0].prefix: bad IPv6 prefix"},
        {pbu_with({{"type", 22}, {"prefix", 64}}), "options[0].prefix: expected a string"},
        {pbu_with({{"type", 26}, {"address", "fe80::g"}}), "options[0].address: bad IPv6 address"},
        {pbu_with({{"type", 38}, {"address", "10.0.0"}}), "options[0].address: bad IPv4 address"},
        {pbu_with({{"type", 1}}), "options[0].type: Pad1/PadN are generated"},
        {pbu_with({{"type", 0}}), "options[0].type: Pad1/PadN are generated"},
        {pbu_with({{"type", 256}}), "options[0].type: out of range 0..255"},
        {pbu_with({{"name", "bogus"}}), "options[0].name: unknown option name \"bogus\""},
        {pbu_with({{"type", 22}, {"name", "timestamp"}, {"value", 1}}),
         "options[0].name: \"timestamp\" does not match type 22"},
        {pbu_with({{"type", 99}, {"name", "foo"}}), "options[0].name: \"foo\" with type 99"},
        {pbu_with({{"name", "unknown"}, {"data_hex", "00"}}), "options[0].type: missing"},
        {pbu_with({{"type", 99}, {"name", "unknown"}}), "options[0].data_hex: missing"},
        {pbu_with({{"type", 8}, {"id", "a"}, {"id_hex", "61"}}),
         "options[0].id_hex: give \"id\" or \"id_hex\""},
        {pbu_with({{"type", 8}}), "options[0].id: missing"},
        {pbu_with({{"type", 25}, {"id_hex", "abc"}}), "options[0].id_hex: expected hex octets"},
        {pbu_with({{"type", 23}, {"value", 1}, {"foo", 2}}),
         "options[0].foo: not a member of a handoff_indicator option"},
        {pbu_with({{"type", 23}, {"value", 300}}), "options[0].value: out of range 0..255"},
        {pbu_with({{"type", 27}, {"value", -5}}), "options[0].value: must not be negative"},
        {pbu_with({{"type", 33}, {"key", "x"}}), "options[0].key: expected an unsigned integer"},
        {pbu_with({{"type", 31}, {"udp_encapsulation_required", 1}, {"refresh_time", 1}}),
         "options[0].udp_encapsulation_required: expected true or false"},
        {pbu_with({{"type", 36}, {"prefix_length", 64}, {"address", "0.0.0.0"}}),
         "options[0].prefix_length: out of range 0..63"},
        {pbu_with({{"type", 57}, {"mld_type", 143}}), "options[0].record: missing"},
        {pbu_with({{"type", 57}, {"mld_type", 143}, {"record", {{"record_type", 1}}}}),
         "options[0].record.group: missing"},
        {pbu_with({{"type", 57},
                   {"mld_type", 143},
                   {"record", {{"record_type", 1}, {"group", "ff3e::1"}, {"sources", {"x"}}}}}),
         "options[0].record.sources[0]: bad IPv6 address"},
        {pbu_with({{"type", 56}, {"igmp_type", 34}, {"group", "232.1.1.1"}, {"sources", "x"}}),
         "options[0].sources: expected an array"},
        {pbu_with(
             {{"type", 200}, {"records", {{{"record_type", 1}, {"group", "ff3e::1"}, {"x", 1}}}}}),
         "options[0].records[0].x: not a member of a multicast address record"},
        {{{"type", "pbu"}, {"options", {ok_hnp, {{"type", 23}}}}}, "options[1].value: missing"},
    };
    for (const auto& c : cases) {
        INFO(c.j.dump());
        const std::string error = from_json_error(c.j);
        INFO("error: " << error);
        CHECK(error.find(c.expected) != std::string::npos);
    }
}
