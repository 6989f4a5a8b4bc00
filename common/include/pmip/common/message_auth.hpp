// Authenticated signalling between MAG and LMA: the RFC 4285 Mobility Message
// Authentication option (type 9, subtype 1) with a per-peer security
// association, and replay protection (RFC 5213 section 4 asks that PBU/PBA
// have integrity and data-origin authentication).
//
// A peer (a MAG of lmad, an LMA of magd; chosen by the longest matching
// prefix of its address) has a mode and one or more security associations
// (SPI, algorithm, key):
//   off       nothing signed, nothing checked (an authentication option
//             received is ignored, counted)
//   optional  everything sent is signed with the first SA; received messages
//             are accepted signed (checked) or unsigned (counted): migration
//   required  everything sent is signed; a received message without a valid
//             authenticator is rejected
// Every SA of the peer verifies (so during a key rotation the old and the
// new SPI are both accepted); the first one signs.
//
// What is authenticated [RFC 4285 section 5]: HMAC(key, source address |
// destination address | the MH up to and including the SPI), the
// authentication option last. Replay [RFC 4285 section 6]: a message with a
// Timestamp option (PBU, PBA) is protected by it (the LMA's RFC 5213 5.5
// checks; the MAG matches a PBA to the PBU it sent); every other message
// (heartbeats, BRI/BRA, UPN/UPA, and PBUs sent without a Timestamp) carries a
// Mobility Message Replay Protection option (type 10: RFC 5213 timestamp
// format, strictly increasing per sender), which the receiver requires to be
// within the replay window of its clock (default 7 s, RFC 4285 section 6)
// and greater than the last one it accepted from that peer.
//
// Counters (counters()): signed, sign_failed; accepted (authenticated),
// accepted_unsigned (optional mode), accepted_off (mode off / no peer
// entry), ignored_option (an option received in mode off); rejects
// missing, unknown_spi, bad_authenticator, not_last (options after the
// authentication option), replay_missing, replay_old, replay_window.
//
// Threading: loop thread only. Pure apart from the clock.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "pmip/common/clock.hpp"
#include "pmip/common/ip.hpp"
#include "pmip/common/mh_socket.hpp"
#include "pmip/mh/authentication.hpp"
#include "pmip/mh/codec.hpp"

namespace pmip::auth {

enum class Mode : std::uint8_t { kOff, kOptional, kRequired };
std::string_view to_string(Mode mode);
std::optional<Mode> parse_mode(std::string_view text);

struct SecurityAssociation {
    std::uint32_t spi = 0;  // 256 and above (0-255 reserved, RFC 4285 section 5.1)
    mh::AuthAlgorithm algorithm = mh::AuthAlgorithm::kHmacSha256;
    std::vector<std::uint8_t> key;
    bool operator==(const SecurityAssociation&) const = default;
};

struct PeerSecurity {
    Ipv6Prefix peers;  // the peer addresses this applies to
    Mode mode = Mode::kRequired;
    std::vector<SecurityAssociation> associations;  // [0] signs; all verify
    std::chrono::milliseconds replay_window{7000};
    bool operator==(const PeerSecurity&) const = default;
};

enum class Verdict : std::uint8_t {
    kAuthenticated,      // valid authenticator (and replay protection)
    kUnsigned,           // no authenticator, accepted (mode optional)
    kNotConfigured,      // mode off or no entry for the peer: accepted unchecked
    kMissing,            // required, and no authentication option
    kUnknownSpi,
    kBadAuthenticator,   // wrong key, tampered, truncated or wrong length
    kNotLast,            // an option follows the authentication option
    kReplayMissing,      // no Timestamp and no replay protection option
    kReplayOld,          // replay protection not greater than the last accepted
    kReplayWindow,       // replay protection too far from our clock
};
std::string_view to_string(Verdict verdict);
inline bool accepted(Verdict v) {
    return v == Verdict::kAuthenticated || v == Verdict::kUnsigned || v == Verdict::kNotConfigured;
}

class MessageAuthenticator {
  public:
    MessageAuthenticator(std::vector<PeerSecurity> peers, const Clock& clock);

    // Reload: the new table; the replay state of peers kept by address.
    void set_peers(std::vector<PeerSecurity> peers);
    // The draft-asaeda code points the daemon's socket serializes with (the
    // authenticator covers the octets as sent).
    void set_code_points(const mh::ExtensionCodePoints& code_points) { serialize_config_.code_points = code_points; }
    const PeerSecurity* find(const Ipv6Address& peer) const;

    // The message as it goes to `destination`: unchanged when the peer's
    // mode is off (or it has no entry); otherwise with a replay protection
    // option when it has no Timestamp, and the authentication option, signed,
    // last.
    mh::Message sign(const Ipv6Address& source, const Ipv6Address& destination,
                     mh::Message message);

    // Checks a received packet and its parse (`message`, the parse of
    // packet.mh). Updates the peer's replay state only when accepted.
    Verdict verify(const ReceivedPacket& packet, const mh::Message& message);

    // True once `peer` has sent a message with a valid authenticator (lmad
    // answers a bad PBU from such a MAG with 146 instead of dropping it).
    bool has_authenticated(const Ipv6Address& peer) const { return authenticated_.count(peer) != 0; }

    nlohmann::json counters() const;
    std::uint64_t counter(const std::string& name) const;

  private:
    std::uint64_t now_timestamp() const;
    void count(const std::string& name) { ++counters_[name]; }

    std::vector<PeerSecurity> peers_;
    const Clock& clock_;
    mh::SerializeConfig serialize_config_;
    std::uint64_t last_sent_replay_ = 0;
    std::map<Ipv6Address, std::uint64_t> last_replay_;  // last accepted per peer
    std::set<Ipv6Address> authenticated_;                // bounded by configured peers
    std::map<std::string, std::uint64_t> counters_;
};

// The daemons' transmitter: signs what goes to peers that want it (the
// engines' messages and the receivers' own answers), passes ICMPv6 errors on.
class AuthenticatingTransmitter final : public MhTransmitter {
  public:
    AuthenticatingTransmitter(MessageAuthenticator& auth, MhTransmitter& out) : auth_(auth), out_(out) {}
    void send(const Ipv6Address& source, const Ipv6Address& destination,
              const mh::Message& message) override {
        out_.send(source, destination, auth_.sign(source, destination, message));
    }
    void send_parameter_problem(const Ipv6Address& source, const Ipv6Address& destination,
                                std::uint32_t pointer,
                                std::span<const std::uint8_t> invoking_packet) override {
        out_.send_parameter_problem(source, destination, pointer, invoking_packet);
    }

  private:
    MessageAuthenticator& auth_;
    MhTransmitter& out_;
};

// A key file: the key in hex (whitespace ignored), a regular file not
// readable or writable by group or others (keys are secrets). An error
// message naming the problem otherwise.
struct KeyResult {
    std::vector<std::uint8_t> key;
    std::string error;
};
KeyResult load_key(std::string_view spec);

// One `auth` configuration line: "PEER-PREFIX MODE [SPI ALGORITHM KEY-FILE]..."
// (e.g. "2001:db8:100::/64 required 1000 hmac-sha256 /etc/pmip/mag.key";
// two triples during a key rotation, the first signs). Keys are loaded and
// checked (load_key). `error` names the problem when it is not empty.
struct PeerSecurityResult {
    PeerSecurity peer;
    std::string error;
};
PeerSecurityResult parse_peer_security(std::string_view line,
                                       std::chrono::milliseconds replay_window);
// The lines' summary for --check and the start-up log: "required for
// 2001:db8:100::/64 (SPI 1000 hmac-sha256)", joined with "; ".
std::string describe(const std::vector<PeerSecurity>& peers);

}  // namespace pmip::auth
