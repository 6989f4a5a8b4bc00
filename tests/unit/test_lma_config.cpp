// lmad configuration (INI file + command line, --check messages), the JSON
// policy store file and the state file. Each test names the rule it checks.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "config.hpp"
#include "policy_file.hpp"
#include "state_file.hpp"

using namespace pmip;
using namespace pmip::lma;

namespace {

Ipv6Address address(const char* text) {
    return *parse_address(text);
}
Ipv6Prefix prefix(const char* text) {
    return *parse_prefix(text);
}

// A scratch directory removed at the end of the test.
struct TempDir {
    std::filesystem::path path;
    TempDir() {
        char tmpl[] = "/tmp/pmip-lma-test.XXXXXX";
        path = ::mkdtemp(tmpl);
    }
    ~TempDir() { std::filesystem::remove_all(path); }
    std::string file(const std::string& name, const std::string& text) const {
        const auto p = path / name;
        std::ofstream(p) << text;
        return p.string();
    }
};

const char* const kValid = R"([lma]
address = 2001:db8:100::1

[pools]
pool = 2001:db8:8000::/33 64
pool = 2001:db8:1000::/48 56   # a second pool

[binding]
max-lifetime = 400
ordering = sequence
min-delay-before-bce-delete-ms = 1000
new-session-without-waiting = yes

[mags]
authorized = 2001:db8:100::/64
profile = 2001:db8:100::11 oai

[policy]
serve-unknown = true
default-tunnel = gre-key

[tunnel]
backend = userspace

[heartbeat]
interval-s = 0
on-peer-failure = purge

[log]
level = debug
debug = mh bce
)";

std::vector<std::string> messages(const ConfigLoad& load) {
    std::vector<std::string> out;
    for (const auto& p : load.problems) out.push_back(p.to_string());
    return out;
}

bool has_problem(const ConfigLoad& load, const std::string& text) {
    for (const auto& p : load.problems) {
        if (p.to_string() == text)
            return true;
    }
    return false;
}

}  // namespace

TEST_CASE("lmad: a valid lmad.conf loads every section without problems", "[lma][config]") {
    const ConfigLoad load = load_config_text(kValid, "lmad.conf");
    INFO(Catch::Detail::stringify(messages(load)));
    REQUIRE_FALSE(has_errors(load.problems));
    const LmadConfig& c = load.config;
    REQUIRE(c.addresses == std::vector{address("2001:db8:100::1")});
    REQUIRE(c.pools.size() == 2);
    CHECK(c.pools[0].prefix == prefix("2001:db8:8000::/33"));
    CHECK(c.pools[0].delegated_length == 64);
    CHECK(c.pools[1].delegated_length == 56);
    CHECK(c.engine.max_lifetime == 100);
    CHECK(c.ordering == Ordering::kSequence);
    CHECK(c.engine.min_delay_before_bce_delete == std::chrono::milliseconds(1000));
    CHECK(c.engine.new_session_without_waiting);
    CHECK(c.engine.authorized_mags == std::vector{prefix("2001:db8:100::/64")});
    CHECK(profile_of(c, address("2001:db8:100::11")) == PeerProfile::kOai);
    CHECK(profile_of(c, address("2001:db8:100::12")) == PeerProfile::kRfc5213);
    CHECK(c.engine.serve_unknown_mobile_nodes);
    CHECK(c.engine.default_policy.gre_keys);
    CHECK(c.tunnel_backend == TunnelBackendChoice::kUserspace);
    CHECK_FALSE(c.heartbeat_enabled);
    CHECK(c.on_peer_failure == OnPeerFailure::kPurge);
    CHECK(c.log_level == log::Level::kDebug);
    CHECK(c.debug == std::vector{log::Category::kMh, log::Category::kBce});
    CHECK(c.control_socket == kDefaultControlSocket);
}

TEST_CASE("lmad: --check names file, line and key of each problem", "[lma][config]") {
    const std::string text = R"([lma]
address = 2001:db8:100::1
address = ff02::1
address = not-an-address

[pools]
pool = 2001:db8:8000::/33 64
pool = 2001:db8:8000:1::/64 64
pool = 2001:db8:9000::/48 40
pool = 2001:db8:a000::1/48 64

[binding]
max-lifetime = 0
max-lifetime = 100
ordering = random
bogus = 1

[mags]
authorized = 2001:db8:100::/64
profile = 2001:db8:100::11 opmip

[tunnel]
backend = fpga
path-mtu = 9x
)";
    const ConfigLoad load = load_config_text(text, "lmad.conf");
    INFO(Catch::Detail::stringify(messages(load)));
    CHECK(has_errors(load.problems));
    CHECK(has_problem(load, "lmad.conf:3: lma.address: ff02::1 is a multicast address"));
    CHECK(has_problem(load, "lmad.conf:4: lma.address: \"not-an-address\" is not an IPv6 address"));
    CHECK(has_problem(load,
                      "lmad.conf:8: pools.pool: 2001:db8:8000:1::/64 overlaps pool "
                      "2001:db8:8000::/33 (line 7)"));
    CHECK(has_problem(load,
                      "lmad.conf:9: pools.pool: delegated length /40 is shorter than the pool "
                      "2001:db8:9000::/48"));
    CHECK(has_problem(load,
                      "lmad.conf:10: pools.pool: 2001:db8:a000::1/48 has bits set past /48 "
                      "(did you mean 2001:db8:a000::/48?)"));
    CHECK(has_problem(load,
                      "lmad.conf:13: binding.max-lifetime: \"0\" is not an integer from 4 to "
                      "262140 seconds"));
    CHECK(has_problem(
        load, "lmad.conf:14: binding.max-lifetime: given more than once (first on line 13)"));
    CHECK(has_problem(
        load, "lmad.conf:15: binding.ordering: \"random\" is not one of timestamp|sequence"));
    CHECK(has_problem(load, "lmad.conf:16: binding.bogus: unknown key"));
    CHECK(
        has_problem(load, "lmad.conf:20: mags.profile: \"opmip\" is not a profile (rfc5213|oai)"));
    CHECK(has_problem(
        load, "lmad.conf:23: tunnel.backend: \"fpga\" is not one of auto|kernel|userspace|ebpf"));
    CHECK(has_problem(
        load, "lmad.conf:24: tunnel.path-mtu: \"9x\" is not an integer from 1280 to 65535"));
}

TEST_CASE("lmad: [dmm] cmd turns the Central Mobility Database on, with its timers, and a bad mode is named",
          "[lma][config][dmm]") {
    std::string text(kValid);
    text += "[dmm]\ncmd = proxy\naggregation-timeout-ms = 250\npacing-ms = 2\nmax-retransmissions = 5\n";
    ConfigLoad load = load_config_text(text, "lmad.conf");
    INFO(Catch::Detail::stringify(messages(load)));
    REQUIRE(load.config.cmd.has_value());
    CHECK(load.config.cmd->mode == CmdMode::kProxy);
    CHECK(load.config.cmd->aggregation_timeout == std::chrono::milliseconds(250));
    CHECK(load.config.cmd->pacing == std::chrono::milliseconds(2));
    CHECK(load.config.cmd->max_retransmissions == 5);
    CHECK_FALSE(load_config_text(kValid, "lmad.conf").config.cmd.has_value());
    load = load_config_text(std::string(kValid) + "[dmm]\ncmd = central\n", "lmad.conf");
    bool named = false;
    for (const auto& m : messages(load)) named = named || m.find("dmm.cmd: \"central\" is not off|relay|proxy") != std::string::npos;
    CHECK(named);
}

TEST_CASE("lmad: lines that are neither key = value nor [section] are reported with their line",
          "[lma][config]") {
    const ConfigLoad load = load_config_text(
        "[lma]\naddress 2001:db8::1\naddress = 2001:db8::2\n[pools\npool = x\n[binding]\n"
        "ordering = x\n[control]\nsocket = /tmp/a.sock\nsocket = /tmp/b.sock\n",
        "x.conf");
    INFO(Catch::Detail::stringify(messages(load)));
    CHECK(has_problem(
        load, "x.conf:2: expected \"key = value\" or \"[section]\", got \"address 2001:db8::1\""));
    CHECK(has_problem(load,
                      "x.conf:4: malformed section header \"[pools\" (the lines up to the "
                      "next section are ignored)"));
    // The rest of the file is still read and checked.
    CHECK(load.config.addresses == std::vector{address("2001:db8::2")});
    CHECK(has_problem(load, "x.conf:7: binding.ordering: \"x\" is not one of timestamp|sequence"));
    // A repeated key is reported once, however often it is looked at.
    CHECK(has_problem(load, "x.conf:10: control.socket: given more than once (first on line 9)"));
    const auto repeats =
        std::count_if(load.problems.begin(), load.problems.end(),
                      [](const ConfigProblem& p) { return p.key == "control.socket"; });
    CHECK(repeats == 1);
}

TEST_CASE("lmad: a missing LMA address is an error, missing MAGs and policy are warnings",
          "[lma][config]") {
    const ConfigLoad load = load_config_text("[pools]\npool = 2001:db8:8000::/33 64\n", "x.conf");
    INFO(Catch::Detail::stringify(messages(load)));
    CHECK(has_problem(load, "x.conf: lma.address: no LMA address configured (set [lma] address)"));
    CHECK(has_problem(load,
                      "x.conf: mags.authorized: warning: no MAG is authorized: every PBU will be "
                      "rejected with 154"));
    CHECK(has_problem(load,
                      "x.conf: policy.store: warning: no policy store and serve-unknown is "
                      "false: every PBU will be rejected with 153"));
}

TEST_CASE("lmad: command-line options override the file, and their problems name the option",
          "[lma][config]") {
    const ConfigLoad load =
        load_config_text(kValid, "lmad.conf",
                         {"--lma.address", "2001:db8:200::1", "--lma.address=2001:db8:200::2",
                          "--binding.max-lifetime", "8", "--heartbeat.missing-allowed", "0"});
    INFO(Catch::Detail::stringify(messages(load)));
    CHECK(load.config.addresses ==
          std::vector{address("2001:db8:200::1"), address("2001:db8:200::2")});
    CHECK(load.config.engine.max_lifetime == 2);
    CHECK(has_problem(
        load, "command line: --heartbeat.missing-allowed: \"0\" is not an integer from 1 to 100"));
}

TEST_CASE("lmad: an unknown command-line option is a usage error", "[lma][config]") {
    const ConfigLoad load = load_config_text(kValid, "lmad.conf", {"--lma.adress", "x"});
    CHECK(load.action == Action::kUsageError);
    CHECK_FALSE(load.usage_error.empty());
}

TEST_CASE("lmad: --check loads the policy store and reports its problems", "[lma][config]") {
    TempDir dir;
    const std::string policy =
        dir.file("policy.json", R"({"mobile_nodes":[{"id":"a","tunnel":"vxlan"}]})");
    const std::string conf = dir.file("lmad.conf",
                                      "[lma]\naddress = 2001:db8::1\n[mags]\nauthorized = "
                                      "2001:db8::/64\n[policy]\nstore = " +
                                          policy + "\n");
    const ConfigLoad load = load_config({"--config", conf, "--check"});
    INFO(Catch::Detail::stringify(messages(load)));
    CHECK(load.action == Action::kCheck);
    CHECK(has_problem(
        load, policy + ": mobile_nodes[0].tunnel: must be \"ip6ip6\", \"gre\" or \"gre-key\""));

    const ConfigLoad missing = load_config(
        {"--config", conf, "--check", "--policy.store", dir.path.string() + "/nope.json"});
    CHECK(has_problem(missing, "command line: --policy.store: " + dir.path.string() +
                                   "/nope.json: no such file"));

    const ConfigLoad no_file =
        load_config({"--config", dir.path.string() + "/absent.conf", "--check"});
    CHECK(has_errors(no_file.problems));
    CHECK(no_file.problems.front().to_string().find("absent.conf: cannot be read") !=
          std::string::npos);
}

TEST_CASE("lmad: --help is a manual with every key", "[lma][config]") {
    const std::string help = help_text();
    for (const char* key :
         {"lma.address", "pools.pool", "binding.max-lifetime", "mags.profile", "policy.store",
          "tunnel.backend", "heartbeat.on-peer-failure", "control.socket", "state.file",
          "log.debug", "SYNOPSIS", "EXIT STATUS", "SIGNALS", "FILES", "EXAMPLES"}) {
        INFO(key);
        CHECK(help.find(key) != std::string::npos);
    }
}

// --- policy store file ------------------------------------------------------

TEST_CASE("lmad: policy file: entries become policies keyed by MN-Identifier", "[lma][policy]") {
    MobileNodePolicy base;
    base.prefix_count = 2;
    const PolicyLoad load = parse_policy_text(R"({
      "mobile_nodes": [
        {"id": "mn1@example.org"},
        {"id": "mn2@example.org", "prefixes": ["2001:db8:1::/64"], "tunnel": "gre-key",
         "mags": ["2001:db8:100::11"], "enabled": false},
        {"id": "00:11:22:33:44:55", "subtype": 5},
        {"id_hex": "0000ab", "subtype": 1}
      ],
      "default": {"tunnel": "gre"}
    })",
                                              "p.json", base);
    REQUIRE(load.ok());
    const auto& m = load.contents.mobile_nodes;
    REQUIRE(m.size() == 4);
    const auto& mn1 = m.at({1, "mn1@example.org"});
    CHECK(mn1.prefix_count == 2);                // from the base default
    CHECK(mn1.tunnel_kind == TunnelKind::kGre);  // from the file's default
    const auto& mn2 = m.at({1, "mn2@example.org"});
    CHECK(mn2.static_prefixes == std::vector{prefix("2001:db8:1::/64")});
    CHECK(mn2.gre_keys);
    CHECK_FALSE(mn2.proxy_registration_enabled);
    CHECK(mn2.authorized_mags == std::vector{prefix("2001:db8:100::11/128")});
    CHECK(m.count({5, std::string("\x00\x11\x22\x33\x44\x55", 6)}) == 1);
    CHECK(m.count({1, std::string("\x00\x00\xab", 3)}) == 1);
    CHECK(load.contents.default_policy.tunnel_kind == TunnelKind::kGre);
}

TEST_CASE("lmad: policy file: errors name the file and the entry member", "[lma][policy]") {
    const PolicyLoad load = parse_policy_text(R"({
      "mobile_nodes": [
        {"id": "a", "prefixes": ["2001:db8:1::/64", "zz"]},
        {"prefix_count": 1},
        {"id": "b", "prefix_count": 0, "colour": "red"},
        {"id": "a"},
        {"id": "c", "prefixes": ["2001:db8:1::/64"]},
        {"id": "d", "subtype": 5},
        "e"
      ],
      "extra": 1
    })",
                                              "p.json", {});
    CHECK_FALSE(load.ok());
    std::vector<std::string> got;
    for (const auto& p : load.problems) got.push_back(p.to_string());
    INFO(Catch::Detail::stringify(got));
    auto has = [&](const std::string& s) {
        return std::find(got.begin(), got.end(), s) != got.end();
    };
    CHECK(has("p.json: extra: unknown member (expected one of: mobile_nodes, default)"));
    CHECK(has("p.json: mobile_nodes[0].prefixes[1]: not an IPv6 prefix or address: \"zz\""));
    CHECK(has("p.json: mobile_nodes[1]: needs exactly one of \"id\" and \"id_hex\""));
    CHECK(
        has("p.json: mobile_nodes[2].colour: unknown member (expected one of: id, id_hex, subtype, "
            "prefixes, prefix_count, enabled, mags, tunnel, multicast_channels, multicast_policy)"));
    CHECK(has("p.json: mobile_nodes[2].prefix_count: must be an integer from 1 to 64"));
    CHECK(has("p.json: mobile_nodes[5].id: subtype 5 needs 6 colon-separated hex octets as id"));
    CHECK(has("p.json: mobile_nodes[6]: must be an object"));
}

TEST_CASE("lmad: policy file: duplicate ids and shared static prefixes are errors",
          "[lma][policy]") {
    const PolicyLoad load = parse_policy_text(R"({"mobile_nodes": [
        {"id": "a", "prefixes": ["2001:db8:1::/64"]},
        {"id": "a"},
        {"id": "c", "prefixes": ["2001:db8:1::/64"]},
        {"id": "d", "prefixes": ["2001:db8:2::1/64"]}
    ]})",
                                              "p.json", {});
    std::vector<std::string> got;
    for (const auto& p : load.problems) got.push_back(p.to_string());
    INFO(Catch::Detail::stringify(got));
    auto has = [&](const std::string& s) {
        return std::find(got.begin(), got.end(), s) != got.end();
    };
    CHECK(has("p.json: mobile_nodes[1].id: \"a\" already defined by mobile_nodes[0]"));
    CHECK(
        has("p.json: mobile_nodes[2].prefixes: 2001:db8:1::/64 is already a static prefix of "
            "mobile_nodes[0]"));
    CHECK(has(
        "p.json: mobile_nodes[3].prefixes[0]: 2001:db8:2::1/64 has bits set past /64 (did you mean "
        "2001:db8:2::/64?)"));
}

TEST_CASE("lmad: policy file: a JSON syntax error names the line", "[lma][policy]") {
    const PolicyLoad load =
        parse_policy_text("{\n  \"mobile_nodes\": [\n    {\"id\": \"a\",}\n  ]\n}\n", "p.json", {});
    REQUIRE(load.problems.size() == 1);
    INFO(load.problems[0].to_string());
    CHECK(load.problems[0].line == 3);
    CHECK(load.problems[0].to_string().rfind("p.json:3: not valid JSON: ", 0) == 0);
}

TEST_CASE(
    "lmad: policy store: unknown MNs get the default only with serve-unknown, reload reports "
    "changes",
    "[lma][policy]") {
    FilePolicyStore strict(false);
    FilePolicyStore lenient(true);
    PolicyFileContents first;
    first.mobile_nodes[{1, "a"}] = MobileNodePolicy{};
    first.mobile_nodes[{1, "b"}] = MobileNodePolicy{};
    (void)strict.replace(first);
    (void)lenient.replace(first);
    CHECK(strict.find({1, "a"}) != nullptr);
    CHECK(strict.find({1, "zz"}) == nullptr);
    CHECK(lenient.find({1, "zz"}) == &lenient.default_policy());

    PolicyFileContents second;
    second.mobile_nodes[{1, "a"}] = MobileNodePolicy{};
    second.mobile_nodes[{1, "a"}].prefix_count = 3;
    second.mobile_nodes[{1, "c"}] = MobileNodePolicy{};
    second.default_policy.tunnel_kind = TunnelKind::kGre;
    const PolicyChanges changes = strict.replace(second);
    CHECK(changes.added == std::vector<std::string>{"c"});
    CHECK(changes.removed == std::vector<std::string>{"b"});
    CHECK(changes.changed == std::vector<std::string>{"a"});
    CHECK(changes.default_changed);
    CHECK(strict.find({1, "a"})->prefix_count == 3);
}

TEST_CASE("lmad: policy file: an MN's multicast profile (channels, policy), in entries and the default, "
          "with errors named",
          "[lma][policy][lma-profile]") {
    const PolicyLoad good = parse_policy_text(R"({"mobile_nodes": [
        {"id": "a", "multicast_channels": [{"group": "ff0e::8000:1"},
                                           {"group": "ff3e::8000:2", "sources": ["2001:db8:5::1"]}],
         "multicast_policy": {"denied_groups": ["ff05::/16"], "max_groups": 4}},
        {"id": "b"}],
        "default": {"multicast_channels": [{"group": "ff0e::9"}]}})",
                                              "p.json", {});
    INFO(Catch::Detail::stringify(good.problems.size()));
    REQUIRE(good.ok());
    const MobileNodePolicy& a = good.contents.mobile_nodes.at({1, "a"});
    REQUIRE(a.multicast_channels.size() == 2);
    CHECK(a.multicast_channels[0] == MulticastChannel{*parse_address("ff0e::8000:1"), {}});
    CHECK(a.multicast_channels[1] ==
          MulticastChannel{*parse_address("ff3e::8000:2"), {*parse_address("2001:db8:5::1")}});
    CHECK(a.multicast_admission.denied_groups == std::vector<Ipv6Prefix>{*parse_prefix("ff05::/16")});
    CHECK(a.multicast_admission.max_groups == 4);
    // An entry without channels of its own takes the default's.
    CHECK(good.contents.mobile_nodes.at({1, "b"}).multicast_channels ==
          std::vector<MulticastChannel>{{*parse_address("ff0e::9"), {}}});

    const PolicyLoad bad = parse_policy_text(R"({"mobile_nodes": [
        {"id": "a", "multicast_channels": [{"group": "ff02::1"}, {"group": "ff3e::1"}],
         "multicast_policy": {"colour": 1}}]})",
                                             "p.json", {});
    std::vector<std::string> got;
    for (const auto& p : bad.problems) got.push_back(p.to_string());
    INFO(Catch::Detail::stringify(got));
    auto has = [&](const std::string& s) { return std::find(got.begin(), got.end(), s) != got.end(); };
    CHECK(has("p.json: mobile_nodes[0].multicast_channels[0].group: must be a multicast address of a "
              "scope beyond the link (ff03:: and wider)"));
    CHECK(has("p.json: mobile_nodes[0].multicast_channels[1].sources: missing: ff3e::1 is a "
              "source-specific (ff3x::/32) group, name its sources"));
    CHECK(has("p.json: mobile_nodes[0].multicast_policy.colour: unknown member"));
}

TEST_CASE("lmad: policy store: a reload names the MNs whose multicast profile changed", "[lma][policy][lma-profile]") {
    FilePolicyStore store(true);
    MobileNodePolicy with;
    with.multicast_channels = {{*parse_address("ff0e::1"), {}}};
    PolicyFileContents first;
    first.mobile_nodes[{1, "a"}] = with;
    first.mobile_nodes[{1, "b"}] = MobileNodePolicy{};
    first.mobile_nodes[{1, "c"}] = with;
    (void)store.replace(first);
    PolicyFileContents second = first;
    second.mobile_nodes[{1, "a"}].multicast_channels.clear();  // changed
    second.mobile_nodes[{1, "b"}].prefix_count = 2;             // changed, not its multicast
    second.mobile_nodes.erase({1, "c"});                        // now the default's (none)
    PolicyChanges changes = store.replace(second);
    CHECK(changes.multicast_changed == std::vector<MobileNodeIdentifier>{{1, "a"}, {1, "c"}});
    CHECK_FALSE(changes.default_multicast_changed);
    PolicyFileContents third = second;
    third.default_policy.multicast_admission.max_groups = 1;
    changes = store.replace(third);
    CHECK(changes.multicast_changed.empty());
    CHECK(changes.default_multicast_changed);
}

TEST_CASE("lmad: MN-Identifiers are shown as text when printable, else as hex", "[lma][policy]") {
    CHECK(mn_identifier_text({1, "mn1@example.org"}) == "mn1@example.org");
    CHECK(mn_identifier_text({1, std::string("\0\0\x01", 3)}) == "0x000001");
    CHECK(mn_identifier_text({1, "0x12"}) == "0x30783132");  // no ambiguity with the hex form
}

// --- state file -------------------------------------------------------------

TEST_CASE("lmad: state file: missing means counter 0, written atomically and read back",
          "[lma][state]") {
    TempDir dir;
    const std::string path = (dir.path / "sub" / "lmad.state").string();
    auto empty = read_state_file(path);
    REQUIRE(empty.ok());
    CHECK(empty->restart_counter == 0);
    CHECK(empty->peers.empty());

    LmadState state;
    state.restart_counter = 41;
    state.peers = {{address("2001:db8:100::11"), address("2001:db8:100::1")}};
    REQUIRE(write_state_file(path, state).ok());  // creates "sub"
    CHECK_FALSE(std::filesystem::exists(path + ".tmp"));
    auto back = read_state_file(path);
    REQUIRE(back.ok());
    CHECK(back->restart_counter == 41);
    CHECK(back->peers == state.peers);

    std::ofstream(path) << "garbage";
    auto bad = read_state_file(path);
    REQUIRE_FALSE(bad.ok());
    CHECK(bad.error().what.find(path) != std::string::npos);
}

TEST_CASE("lmad: [revocation] sets the RFC 5846 section 11 variables, defaults 1 s, 2 s, 1 retry, "
          "and [binding] expected-bindings, reserve-heap (default on)",
          "[lma][config]") {
    const ConfigLoad defaults = load_config_text(kValid, "lmad.conf");
    CHECK(defaults.config.engine.revocation.initial_timeout == std::chrono::milliseconds(1000));
    CHECK(defaults.config.engine.revocation.max_timeout == std::chrono::milliseconds(2000));
    CHECK(defaults.config.engine.revocation.max_retries == 1);
    CHECK(defaults.config.oai_identity == OaiIdentity::kMac);
    CHECK(defaults.config.reserve_heap);

    const ConfigLoad load = load_config_text(
        std::string(kValid) +
            "[revocation]\ninitial-timeout-ms = 700\nmax-timeout-ms = 5000\nmax-retries = 3\n"
            "[mags]\noai-identity = as-sent\n[binding]\nexpected-bindings = 1000000\nreserve-heap = no\n",
        "lmad.conf");
    INFO(Catch::Detail::stringify(messages(load)));
    REQUIRE_FALSE(has_errors(load.problems));
    CHECK(load.config.engine.revocation.initial_timeout == std::chrono::milliseconds(700));
    CHECK(load.config.engine.revocation.max_timeout == std::chrono::milliseconds(5000));
    CHECK(load.config.engine.revocation.max_retries == 3);
    CHECK(load.config.oai_identity == OaiIdentity::kAsSent);
    CHECK(load.config.engine.expected_bindings == 1000000);
    CHECK_FALSE(load.config.reserve_heap);
}

TEST_CASE("lmad: [revocation] problems name the key: InitMINDelayBRIs below 0.5 s, a cap below "
          "it, an unknown oai-identity", "[lma][config]") {
    const ConfigLoad load = load_config_text(
        "[lma]\naddress = 2001:db8:100::1\n[revocation]\ninitial-timeout-ms = 100\n"
        "max-retries = 11\n[mags]\noai-identity = imsi\n",
        "x.conf");
    INFO(Catch::Detail::stringify(messages(load)));
    CHECK(has_problem(load,
                      "x.conf:4: revocation.initial-timeout-ms: \"100\" is not an integer from "
                      "500 to 60000 ms"));
    CHECK(has_problem(load,
                      "x.conf:5: revocation.max-retries: \"11\" is not an integer from 0 to 10"));
    CHECK(has_problem(load, "x.conf:7: mags.oai-identity: \"imsi\" is not one of mac|as-sent"));
    const ConfigLoad capped = load_config_text(
        "[lma]\naddress = 2001:db8:100::1\n[revocation]\ninitial-timeout-ms = 3000\n", "y.conf");
    CHECK(has_problem(capped,
                      "y.conf:4: revocation.initial-timeout-ms: MAX_BRACK_TIMEOUT "
                      "(max-timeout-ms, 2000) is below InitMINDelayBRIs (initial-timeout-ms, "
                      "3000) [RFC 5846 section 11]"));
}

TEST_CASE("lmad: [multicast] pbu-m keys: the flag is one free bit (IANA bits warned), the option type "
          "not one the daemons parse, and PBU-M needs the anchor",
          "[lma][config][pbu-m]") {
    {
        const ConfigLoad load = load_config_text(std::string(kValid) + R"(
[multicast]
enabled = true
upstream = up0
pbu-m = true
pbu-m-flag = 0x0100
pbu-m-option = 201
)", "lmad.conf");
        INFO(Catch::Detail::stringify(messages(load)));
        REQUIRE_FALSE(has_errors(load.problems));
        CHECK(load.config.engine.pbu_m.enabled);
        CHECK(load.config.engine.pbu_m.flag == 0x0100);
        CHECK(load.config.code_points.multicast_subscription_flag == 0x0100);
        CHECK(load.config.code_points.multicast_subscription_option_type == 201);
        CHECK(has_problem(load, "lmad.conf:37: multicast.pbu-m-flag: warning: is an IANA-assigned flag (F 0x0100, "
                                "T 0x0080, B 0x0040 or D 0x0010): a standard peer reads a PBU-M as that flag"));
    }
    {
        const ConfigLoad load = load_config_text(std::string(kValid) + R"(
[multicast]
pbu-m = true
pbu-m-flag = 0x0020
pbu-m-option = 57
)", "lmad.conf");
        CHECK_FALSE(load.config.engine.pbu_m.enabled);
        CHECK(load.config.code_points == mh::ExtensionCodePoints{});
        CHECK(has_problem(load, "lmad.conf:35: multicast.pbu-m-flag: is a flag the daemons use (A, H, L, K, M, R, "
                                "P or S); the free bits are 0x0001-0x0008 (0x0010-0x0100 are IANA-assigned: "
                                "accepted with a warning)"));
        CHECK(has_problem(load, "lmad.conf:36: multicast.pbu-m-option: 57 is an option type the daemons parse "
                                "(active_multicast_subscription_ipv6); use an unassigned one such as 200"));
        CHECK(has_problem(load, "lmad.conf: multicast.pbu-m: needs multicast.enabled = true (the anchor forwards "
                                "what a PBU-M asks for)"));
    }
    {
        const ConfigLoad load = load_config_text(std::string(kValid) + "\n[multicast]\npbu-m-flag = 0x0003\n", "lmad.conf");
        CHECK(has_problem(load, "lmad.conf:34: multicast.pbu-m-flag: must be a single bit such as 0x0008 or 0x0100"));
    }
}

TEST_CASE("lmad config: the M-Tunnel keys (draft-asaeda): mode and key and static MAGs with problems named",
          "[lma][config][m-tunnel]") {
    {
        const ConfigLoad load = load_config_text(std::string(kValid) + R"(
[multicast]
enabled = true
upstream = up0
m-tunnel = static
m-tunnel-key = 0x4d54
m-tunnel-mag = 2001:db8:101::11
m-tunnel-mag = 2001:db8:102::12
)", "lmad.conf");
        INFO(Catch::Detail::stringify(messages(load)));
        REQUIRE_FALSE(has_errors(load.problems));
        CHECK(load.config.multicast.m_tunnel.mode == MulticastTunnelMode::kStatic);
        CHECK(load.config.multicast.m_tunnel.key == 0x4d54u);
        CHECK(load.config.engine.reserved_gre_key == 0x4d54u);
        CHECK(load.config.multicast.m_tunnel_mags ==
              std::vector<Ipv6Address>{*parse_address("2001:db8:101::11"), *parse_address("2001:db8:102::12")});
    }
    {
        const ConfigLoad load = load_config_text(std::string(kValid), "lmad.conf");
        CHECK_FALSE(load.config.multicast.m_tunnel.enabled());
        CHECK(load.config.multicast.m_tunnel.key == 0xffffffffu);
        CHECK_FALSE(load.config.engine.reserved_gre_key.has_value());
    }
    {
        const ConfigLoad load = load_config_text(std::string(kValid) + R"(
[multicast]
m-tunnel = sometimes
m-tunnel-key = -1
m-tunnel-mag = ff02::1
)", "lmad.conf");
        INFO(Catch::Detail::stringify(messages(load)));
        CHECK(has_errors(load.problems));
        CHECK(has_problem(load, "lmad.conf:35: multicast.m-tunnel-key: \"-1\" is not an integer from 0 to 4294967295"));
        CHECK(has_problem(load, "lmad.conf:36: multicast.m-tunnel-mag: \"ff02::1\" is not a unicast IPv6 address"));
        CHECK_FALSE(load.config.multicast.m_tunnel.enabled());
    }
    {
        const ConfigLoad load = load_config_text(std::string(kValid) + R"(
[multicast]
m-tunnel = dynamic
m-tunnel-mag = 2001:db8:101::11
)", "lmad.conf");
        INFO(Catch::Detail::stringify(messages(load)));
        CHECK(has_problem(load, "lmad.conf: multicast.m-tunnel: needs multicast.enabled = true"));
        CHECK(has_problem(load, "lmad.conf:35: multicast.m-tunnel-mag: warning: ignored: needs multicast.m-tunnel = static"));
        CHECK_FALSE(load.config.multicast.m_tunnel.enabled());
        CHECK(load.config.multicast.m_tunnel_mags.empty());
    }
    {
        const ConfigLoad load = load_config_text(std::string(kValid) + R"(
[multicast]
enabled = true
upstream = up0
m-tunnel = static
)", "lmad.conf");
        CHECK_FALSE(has_errors(load.problems));
        CHECK(has_problem(load, "lmad.conf: multicast.m-tunnel-mag: warning: m-tunnel = static without any "
                                "m-tunnel-mag: every M-Tunnel is made as with dynamic"));
    }
}

TEST_CASE("lmad config: several upstreams: channels per interface in order of appearance, matching, "
          "problems named",
          "[lma][config][upstream_rules]") {
    {
        const ConfigLoad load = load_config_text(std::string(kValid) + R"(
[multicast]
enabled = true
upstream = up0
upstream-channel = sat0 ff3e::/32 2001:db8:5::/64
upstream-channel = iptv0 ff0e::100:0/104
upstream-channel = sat0 ff0e::5:0/112
upstream-matching = all
denied-group = ff0e::dead/128
)", "lmad.conf");
        INFO(Catch::Detail::stringify(messages(load)));
        REQUIRE_FALSE(has_errors(load.problems));
        const auto& e = load.config.multicast.extra_upstreams;
        REQUIRE(e.size() == 2);
        CHECK(e[0].name == "sat0");
        REQUIRE(e[0].rules.size() == 2);
        CHECK(e[0].rules[0].source == *parse_prefix("2001:db8:5::/64"));
        CHECK(e[0].rules[1].group == *parse_prefix("ff0e::5:0/112"));
        CHECK(e[0].rules[1].source.length == 0);
        CHECK(e[1].name == "iptv0");
        CHECK(load.config.multicast.matching == mcast::UpstreamMatching::kAll);
        CHECK(load.config.multicast.policy.denied_groups == std::vector<Ipv6Prefix>{*parse_prefix("ff0e::dead/128")});
    }
    {
        const ConfigLoad load = load_config_text(std::string(kValid), "lmad.conf");
        CHECK(load.config.multicast.extra_upstreams.empty());
        CHECK(load.config.multicast.matching == mcast::UpstreamMatching::kFirst);
        CHECK(load.config.multicast.mutex_timeout == std::chrono::milliseconds(500));
    }
    {
        const ConfigLoad load = load_config_text(std::string(kValid) + R"(
[multicast]
enabled = true
upstream = up0
upstream-channel = sat0 ff0e::/16
upstream-matching = mutex
upstream-mutex-timeout-ms = 250
)", "lmad.conf");
        INFO(Catch::Detail::stringify(messages(load)));
        REQUIRE_FALSE(has_errors(load.problems));
        CHECK(load.config.multicast.matching == mcast::UpstreamMatching::kMutex);
        CHECK(load.config.multicast.mutex_timeout == std::chrono::milliseconds(250));
        const ConfigLoad bad = load_config_text(std::string(kValid) + R"(
[multicast]
enabled = true
upstream = up0
upstream-mutex-timeout-ms = 5
)", "lmad.conf");
        CHECK(has_problem(bad, "lmad.conf:36: multicast.upstream-mutex-timeout-ms: \"5\" is not an integer from 10 to 60000 (ms)"));
    }
    {
        const ConfigLoad load = load_config_text(std::string(kValid) + R"(
[multicast]
enabled = true
upstream = up0
upstream-channel = ff0e::/16
upstream-channel = up0 ff0e::/16
upstream-channel = sat0 2001:db8::/32
upstream-matching = any
)", "lmad.conf");
        INFO(Catch::Detail::stringify(messages(load)));
        CHECK(has_problem(load, "lmad.conf:36: multicast.upstream-channel: expected \"IFNAME GROUP-PREFIX [SOURCE-PREFIX]\""));
        CHECK(has_problem(load, "lmad.conf:37: multicast.upstream-channel: up0 is multicast.upstream, which takes every channel no other upstream takes"));
        CHECK(has_problem(load, "lmad.conf:38: multicast.upstream-channel: \"2001:db8::/32\" is not a multicast prefix (ff00::/8 or longer)"));
        CHECK(has_problem(load, "lmad.conf:39: multicast.upstream-matching: \"any\" is not first|all|mutex"));
        CHECK(load.config.multicast.extra_upstreams.empty());
    }
}

TEST_CASE("lmad: [tunnel] backend takes auto, kernel, userspace and ebpf, and names them when wrong",
          "[lma][config][tunnel]") {
    const std::pair<const char*, TunnelBackendChoice> choices[] = {
        {"auto", TunnelBackendChoice::kAuto},
        {"kernel", TunnelBackendChoice::kKernel},
        {"userspace", TunnelBackendChoice::kUserspace},
        {"ebpf", TunnelBackendChoice::kEbpf},
    };
    for (const auto& [text, choice] : choices) {
        std::string conf(kValid);
        const std::string from = "backend = userspace";
        conf.replace(conf.find(from), from.size(), std::string("backend = ") + text);
        const ConfigLoad load = load_config_text(conf, "lmad.conf");
        INFO(text << ": " << Catch::Detail::stringify(messages(load)));
        CHECK(load.config.tunnel_backend == choice);
        CHECK(to_string(choice) == text);
    }
    std::string conf(kValid);
    conf.replace(conf.find("backend = userspace"), 19, "backend = bpf");
    bool named = false;
    for (const auto& m : messages(load_config_text(conf, "lmad.conf")))
        named = named || m.find("tunnel.backend: \"bpf\" is not one of auto|kernel|userspace|ebpf") != std::string::npos;
    CHECK(named);
}

TEST_CASE("lmad: [multicast] hold-packets and hold-ms set the ebpf backend's unresolved queue",
          "[lma][config][hold]") {
    ConfigLoad load = load_config_text(kValid, "lmad.conf");
    CHECK(load.config.multicast.ebpf_limits.hold_packets == 8);
    CHECK(load.config.multicast.ebpf_limits.hold_ms == 1000);
    load = load_config_text(std::string(kValid) + "[multicast]\nhold-packets = 0\nhold-ms = 250\n",
                            "lmad.conf");
    CHECK(load.config.multicast.ebpf_limits.hold_packets == 0);
    CHECK(load.config.multicast.ebpf_limits.hold_ms == 250);
    load = load_config_text(std::string(kValid) + "[multicast]\nhold-packets = 65\nhold-ms = 0\n",
                            "lmad.conf");
    bool packets = false, ms = false;
    for (const auto& m : messages(load)) {
        packets = packets || m.find("multicast.hold-packets: \"65\" is not an integer from 0 to 64") !=
                                 std::string::npos;
        ms = ms || m.find("multicast.hold-ms: \"0\" is not an integer from 1 to 10000") != std::string::npos;
    }
    CHECK(packets);
    CHECK(ms);
}
