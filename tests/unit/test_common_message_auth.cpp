// Authenticated MAG <-> LMA signalling (common/message_auth.hpp, RFC 4285
// options): sign/verify per message type, wrong key, wrong SPI, truncated
// option, replay, key rotation, optional vs required, key files.
#include <catch2/catch.hpp>

#include <sys/stat.h>

#include <cstdio>
#include <fstream>

#include "pmip/common/message_auth.hpp"

using namespace pmip;
using namespace pmip::auth;

namespace {

Ipv6Address address(const char* text) { return *parse_address(text); }
const Ipv6Address kMag = address("2001:db8:100::11");
const Ipv6Address kLma = address("2001:db8:100::1");

SecurityAssociation sa(std::uint32_t spi, std::uint8_t fill,
                       mh::AuthAlgorithm algorithm = mh::AuthAlgorithm::kHmacSha256) {
    return SecurityAssociation{spi, algorithm, std::vector<std::uint8_t>(32, fill)};
}

PeerSecurity peer(Mode mode, std::vector<SecurityAssociation> sas, const char* prefix = "2001:db8:100::/64") {
    PeerSecurity p;
    p.peers = *parse_prefix(prefix);
    p.mode = mode;
    p.associations = std::move(sas);
    return p;
}

struct Wire {
    std::vector<std::uint8_t> bytes;
    mh::Message parsed;
};

// What the receiver sees: the serialized message and its parse.
Wire transmit(const mh::Message& m) {
    Wire w;
    w.bytes = mh::serialize(m);
    auto r = mh::parse(w.bytes);
    REQUIRE(std::holds_alternative<mh::Parsed>(r));
    w.parsed = std::get<mh::Parsed>(r).message;
    return w;
}

Verdict receive(MessageAuthenticator& a, const Wire& w, const Ipv6Address& from, const Ipv6Address& to) {
    ReceivedPacket p;
    p.mh = w.bytes;
    p.source = from;
    p.destination = to;
    return a.verify(p, w.parsed);
}

mh::BindingUpdate pbu(std::uint16_t seq = 1, bool timestamp = true) {
    mh::BindingUpdate bu;
    bu.sequence = seq;
    bu.flags = mh::bu_flag::kA | mh::bu_flag::kP;
    bu.lifetime = 100;
    bu.options = {mh::MobileNodeIdentifier{1, {'m', 'n'}}, mh::HomeNetworkPrefix{0, {}},
                  mh::HandoffIndicator{1}, mh::AccessTechnologyType{4}};
    if (timestamp) bu.options.push_back(mh::Timestamp{0x1234});
    return bu;
}

}  // namespace

TEST_CASE("auth: every message type signed by one side verifies at the other, the option last",
          "[auth]") {
    SimulatedClock clock;
    MessageAuthenticator mag({peer(Mode::kRequired, {sa(1000, 7)})}, clock);
    MessageAuthenticator lma({peer(Mode::kRequired, {sa(1000, 7)})}, clock);
    mh::BindingAcknowledgement pba;
    pba.flags = mh::ba_flag::kP;
    pba.options = {mh::MobileNodeIdentifier{1, {'m', 'n'}}, mh::Timestamp{0x1234}};
    mh::Heartbeat hb;
    hb.sequence = 3;
    mh::BindingRevocationIndication bri;
    bri.sequence = 4;
    mh::BindingRevocationAcknowledgement bra;
    bra.sequence = 4;
    mh::UpdateNotification upn;
    upn.sequence = 5;
    upn.options = {mh::MobileNodeIdentifier{1, {'m', 'n'}}};
    mh::UpdateNotificationAcknowledgement upa;
    upa.sequence = 5;
    // RFC 7161: the query and the response (with an option 57) are signed too.
    mh::SubscriptionQuery sq;
    sq.sequence = 6;
    sq.options = {mh::MobileNodeIdentifier{1, {'m', 'n'}}};
    mh::SubscriptionResponse sr;
    sr.sequence = 6;
    sr.flags = mh::subscription_response_flag::kI;
    mh::ActiveMulticastSubscriptionIpv6 sub;
    sub.record.record_type = 2;
    sub.record.multicast_address[0] = 0xff;
    sub.record.multicast_address[1] = 0x3e;
    sr.options = {mh::MobileNodeIdentifier{1, {'m', 'n'}}, sub};
    const std::vector<std::pair<const char*, mh::Message>> messages = {
        {"pbu", pbu()}, {"pba", pba}, {"heartbeat", hb}, {"bri", bri}, {"bra", bra},
        {"upn", upn},   {"upa", upa}, {"subscription query", sq}, {"subscription response", sr}};
    for (const auto& [name, message] : messages) {
        INFO(name);
        const auto signed_message = mag.sign(kMag, kLma, message);
        const auto& options = mh::options_of(signed_message);
        REQUIRE(std::holds_alternative<mh::MobilityMessageAuthentication>(options.back()));
        CHECK(std::get<mh::MobilityMessageAuthentication>(options.back()).mobility_spi == 1000);
        CHECK(std::get<mh::MobilityMessageAuthentication>(options.back()).authentication_data.size() == 32);
        // Replay protection where there is no Timestamp.
        CHECK((mh::find_option<mh::MobilityMessageReplayProtection>(options) != nullptr) ==
              (mh::find_option<mh::Timestamp>(options) == nullptr));
        CHECK(receive(lma, transmit(signed_message), kMag, kLma) == Verdict::kAuthenticated);
        clock.advance(std::chrono::milliseconds(1));
    }
    CHECK(lma.counter("accepted") == messages.size());
    CHECK(lma.has_authenticated(kMag));
    CHECK(mag.counter("signed") == messages.size());
    CHECK(mag.counter("sign_failed") == 0);
}

TEST_CASE("auth: wrong key, wrong SPI, tampering, other addresses, truncated option, option not last",
          "[auth]") {
    SimulatedClock clock;
    MessageAuthenticator mag({peer(Mode::kRequired, {sa(1000, 7)})}, clock);
    MessageAuthenticator lma({peer(Mode::kRequired, {sa(1000, 7)})}, clock);
    const auto good = transmit(mag.sign(kMag, kLma, pbu()));

    MessageAuthenticator wrong_key({peer(Mode::kRequired, {sa(1000, 8)})}, clock);
    CHECK(receive(wrong_key, good, kMag, kLma) == Verdict::kBadAuthenticator);
    MessageAuthenticator wrong_spi({peer(Mode::kRequired, {sa(1001, 7)})}, clock);
    CHECK(receive(wrong_spi, good, kMag, kLma) == Verdict::kUnknownSpi);
    // The addresses are covered: the same message from another MAG fails.
    CHECK(receive(lma, good, address("2001:db8:100::12"), kLma) == Verdict::kBadAuthenticator);
    // One bit of the lifetime changed.
    Wire tampered = good;
    tampered.bytes[10] ^= 1;
    CHECK(receive(lma, tampered, kMag, kLma) == Verdict::kBadAuthenticator);
    // Authentication data of the wrong length for the algorithm (12 of 32).
    auto truncated = mag.sign(kMag, kLma, pbu());
    std::get<mh::MobilityMessageAuthentication>(mh::options_of(truncated).back()).authentication_data.resize(12);
    CHECK(receive(lma, transmit(truncated), kMag, kLma) == Verdict::kBadAuthenticator);
    // An option after the authentication option.
    auto trailing = mag.sign(kMag, kLma, pbu());
    mh::options_of(trailing).push_back(mh::HandoffIndicator{1});
    CHECK(receive(lma, transmit(trailing), kMag, kLma) == Verdict::kNotLast);
    // None at all.
    CHECK(receive(lma, transmit(pbu()), kMag, kLma) == Verdict::kMissing);
    CHECK_FALSE(lma.has_authenticated(kMag));
    CHECK(receive(lma, good, kMag, kLma) == Verdict::kAuthenticated);
    CHECK(lma.counter("bad_authenticator") == 3);
    CHECK(lma.counter("missing") == 1);
}

TEST_CASE("auth: HMAC-SHA1-96 (RFC 4285) as configured, 12 octets", "[auth]") {
    SimulatedClock clock;
    const auto sha1 = sa(300, 5, mh::AuthAlgorithm::kHmacSha1_96);
    MessageAuthenticator mag({peer(Mode::kRequired, {sha1})}, clock);
    MessageAuthenticator lma({peer(Mode::kRequired, {sha1})}, clock);
    const auto m = mag.sign(kMag, kLma, pbu());
    CHECK(std::get<mh::MobilityMessageAuthentication>(mh::options_of(m).back()).authentication_data.size() == 12);
    CHECK(receive(lma, transmit(m), kMag, kLma) == Verdict::kAuthenticated);
}

TEST_CASE("auth: replay protection option: a replayed or stale heartbeat is rejected, a fresh one is not",
          "[auth]") {
    SimulatedClock clock;
    clock.advance(std::chrono::hours(24 * 365 * 50));  // a realistic time of day
    MessageAuthenticator mag({peer(Mode::kRequired, {sa(1000, 7)})}, clock);
    MessageAuthenticator lma({peer(Mode::kRequired, {sa(1000, 7)})}, clock);
    mh::Heartbeat hb;
    const auto first = transmit(mag.sign(kMag, kLma, hb));
    CHECK(receive(lma, first, kMag, kLma) == Verdict::kAuthenticated);
    CHECK(receive(lma, first, kMag, kLma) == Verdict::kReplayOld);  // the same again
    const auto second = transmit(mag.sign(kMag, kLma, hb));            // same clock tick: still newer
    CHECK(receive(lma, second, kMag, kLma) == Verdict::kAuthenticated);
    // Captured now, replayed 8 s later: outside the 7 s window.
    const auto captured = transmit(mag.sign(kMag, kLma, hb));
    clock.advance(std::chrono::seconds(8));
    CHECK(receive(lma, captured, kMag, kLma) == Verdict::kReplayWindow);
    // Signed but without replay protection and without a Timestamp.
    auto bare = mag.sign(kMag, kLma, hb);
    auto& options = mh::options_of(bare);
    std::erase_if(options, [](const mh::Option& o) {
        return std::holds_alternative<mh::MobilityMessageReplayProtection>(o);
    });
    // Re-sign by hand without the replay option: a valid authenticator.
    const auto wire = mh::serialize(bare);
    std::vector<std::uint8_t> bytes = wire;
    const auto key = std::vector<std::uint8_t>(32, 7);
    REQUIRE(mh::sign_authentication_option(bytes, key, kMag, kLma, mh::AuthAlgorithm::kHmacSha256));
    Wire w{bytes, std::get<mh::Parsed>(mh::parse(bytes)).message};
    CHECK(receive(lma, w, kMag, kLma) == Verdict::kReplayMissing);
}

TEST_CASE("auth: optional accepts unsigned and checks signed, off checks nothing, no entry is off",
          "[auth]") {
    SimulatedClock clock;
    MessageAuthenticator signer({peer(Mode::kRequired, {sa(1000, 7)})}, clock);
    MessageAuthenticator optional({peer(Mode::kOptional, {sa(1000, 7)})}, clock);
    CHECK(receive(optional, transmit(pbu()), kMag, kLma) == Verdict::kUnsigned);
    CHECK(receive(optional, transmit(signer.sign(kMag, kLma, pbu())), kMag, kLma) == Verdict::kAuthenticated);
    MessageAuthenticator wrong({peer(Mode::kRequired, {sa(1000, 9)})}, clock);
    CHECK(receive(optional, transmit(wrong.sign(kMag, kLma, pbu())), kMag, kLma) ==
          Verdict::kBadAuthenticator);  // signed wrongly is never accepted
    // optional still signs what it sends.
    CHECK(mh::find_option<mh::MobilityMessageAuthentication>(
              mh::options_of(optional.sign(kLma, kMag, pbu()))) != nullptr);

    MessageAuthenticator off({peer(Mode::kOff, {sa(1000, 7)})}, clock);
    const auto as_is = off.sign(kLma, kMag, pbu());
    CHECK(mh::options_of(as_is).size() == mh::options_of(mh::Message{pbu()}).size());
    CHECK(receive(off, transmit(signer.sign(kMag, kLma, pbu())), kMag, kLma) == Verdict::kNotConfigured);
    CHECK(off.counter("ignored_option") == 1);
    // A peer outside every configured prefix: not configured.
    CHECK(receive(optional, transmit(pbu()), address("2001:db8:999::1"), kLma) == Verdict::kNotConfigured);
    // The longest prefix decides.
    MessageAuthenticator two({peer(Mode::kOff, {}), peer(Mode::kRequired, {sa(1000, 7)}, "2001:db8:100::11/128")},
                             clock);
    CHECK(receive(two, transmit(pbu()), kMag, kLma) == Verdict::kMissing);
    CHECK(receive(two, transmit(pbu()), address("2001:db8:100::12"), kLma) == Verdict::kNotConfigured);
}

TEST_CASE("auth: key rotation: both SPIs verify while configured, the first signs, replay state survives a "
          "reload", "[auth]") {
    SimulatedClock clock;
    clock.advance(std::chrono::hours(24 * 365 * 50));
    MessageAuthenticator old_mag({peer(Mode::kRequired, {sa(1000, 7)})}, clock);
    MessageAuthenticator new_mag({peer(Mode::kRequired, {sa(1001, 8)})}, clock);
    MessageAuthenticator lma({peer(Mode::kRequired, {sa(1000, 7)})}, clock);
    mh::Heartbeat hb;
    const auto early = transmit(old_mag.sign(kMag, kLma, hb));
    CHECK(receive(lma, early, kMag, kLma) == Verdict::kAuthenticated);
    // Step 1 at the LMA: the new SA added after the old one (the old still signs).
    lma.set_peers({peer(Mode::kRequired, {sa(1000, 7), sa(1001, 8)})});
    clock.advance(std::chrono::milliseconds(10));
    CHECK(receive(lma, transmit(old_mag.sign(kMag, kLma, hb)), kMag, kLma) == Verdict::kAuthenticated);
    clock.advance(std::chrono::milliseconds(10));
    CHECK(receive(lma, transmit(new_mag.sign(kMag, kLma, hb)), kMag, kLma) == Verdict::kAuthenticated);
    CHECK(receive(lma, early, kMag, kLma) == Verdict::kReplayOld);  // replay state kept
    CHECK(std::get<mh::MobilityMessageAuthentication>(mh::options_of(lma.sign(kLma, kMag, hb)).back())
              .mobility_spi == 1000);
    // Step 2: the old SA removed.
    lma.set_peers({peer(Mode::kRequired, {sa(1001, 8)})});
    clock.advance(std::chrono::milliseconds(10));
    CHECK(receive(lma, transmit(old_mag.sign(kMag, kLma, hb)), kMag, kLma) == Verdict::kUnknownSpi);
}

TEST_CASE("auth: key files: hex, owner-only, at least 16 octets, each problem named", "[auth]") {
    char dir_template[] = "/tmp/pmip-auth-test.XXXXXX";
    const std::string dir = ::mkdtemp(dir_template);
    auto write = [&](const std::string& name, const std::string& text, mode_t mode) {
        const std::string path = dir + "/" + name;
        std::ofstream(path) << text;
        ::chmod(path.c_str(), mode);
        return path;
    };
    const auto good = write("good", "00112233445566778899aabbccddeeff\n00112233445566778899aabbccddeeff\n", 0600);
    auto r = load_key(good);
    CHECK(r.error.empty());
    CHECK(r.key.size() == 32);
    CHECK(r.key[1] == 0x11);
    r = load_key(write("world", "00112233445566778899aabbccddeeff", 0644));
    CHECK(r.error.find("accessible to group or others (mode 0644)") != std::string::npos);
    r = load_key(write("short", "0011", 0600));
    CHECK(r.error.find("at least 16") != std::string::npos);
    r = load_key(write("nothex", "zz112233445566778899aabbccddeeff", 0600));
    CHECK(r.error.find("hex") != std::string::npos);
    r = load_key(dir + "/absent");
    CHECK(r.error.find("cannot be read") != std::string::npos);
    for (const char* name : {"good", "world", "short", "nothex"}) std::remove((dir + "/" + name).c_str());
    ::rmdir(dir.c_str());
}
