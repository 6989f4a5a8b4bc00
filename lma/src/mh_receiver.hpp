// What lmad does with every packet its Mobility Header socket receives: the
// receiver checks of RFC 6275 section 9.2, then dispatch by MH type.
//
//   destination not one of our LMA addresses -> drop (not_our_address)
//   parse (strict, or lenient for MAGs with the `oai` profile, PROTOCOL.md
//   Appendix I) fails with reaction
//     drop silently                    -> drop (parse_<kind>)
//     Binding Error status 2           -> BE(2) to the source [RFC 6275 sections 9.2,
//                                         9.3.3]: never to a non-unicast source, rate
//                                         limited by a token bucket
//     ICMPv6 Parameter Problem code 0  -> ICMPv6 type 4 code 0 [RFC 4443 section 3.4]
//                                         with the pointer and as much of the packet as
//                                         fits in 1280 octets; same rules
//   BU with P (a PBU)                  -> the engine [RFC 5213 section 5.3]
//   BU without P                       -> drop (bu_not_proxy)
//   Heartbeat request                  -> always answered with a response carrying our
//                                         Restart Counter [RFC 5847 sections 3, 5.2]
//   Heartbeat response                 -> HeartbeatMonitor
//   Binding Error status 2             -> HeartbeatMonitor (the MAG lacks heartbeats)
//   BRA                                -> the engine [RFC 5846 section 6.2.2]
//   BRI (MAG-initiated revocation)     -> BRA status 134 "revocation function not
//                                         supported" [RFC 5846 section 6.1.2: a BRI
//                                         not discarded is answered]; a non-unicast
//                                         source is silently discarded
//   anything else                      -> counted (unexpected_<kind>) and dropped
//
// MN identity of `oai` MAGs (PROTOCOL.md Appendix I): OAI pmip6d sends every
// MN with the same all-zero NAI and identifies it only by the MN-LL-ID (the
// modified EUI-64 interface identifier of its MAC); UMIP sends the NAI
// 00 00 + MAC. With oai_identity = kMac (default) such a PBU reaches the
// engine with the identity subtype 5 (EUI-48) = the MAC, so the policy store
// names these MNs as {"id": "00:11:22:33:44:55", "subtype": 5} and each MN
// gets its own binding; the PBA still echoes the NAI the MAG sent.
//
// Prefix of `oai` MAGs: they write every Home Network Prefix option with
// length 128 and advertise that prefix to the MN as a /64, so a non-zero /128
// HNP from them is taken as the /64 around it (oai_hnp_128_as_64): a pool that
// contains the MAG's configured prefixes serves them, with no per-MN policy.
//
// With `ordering = sequence` (TimestampBasedApproachInUse = 0) a PBU's Timestamp
// option is removed before the engine sees it. For `oai` MAGs whose Timestamp
// arrives with its 32-bit halves in host byte order, reply_sender() writes the
// PBA's Timestamp back in that order, so the MAG matches the PBA to its PBU.
//
// A raw IPv6 socket does not hand over the IPv6 header or extension headers;
// the Parameter Problem quotes a rebuilt IPv6 header (flow label 0, no
// extension headers) and its pointer counts from it, which is exact for the
// PBUs MAGs send (no extension headers) and approximate otherwise.
//
// Authentication ([mags] auth, MhReceiverConfig::auth; common/message_auth.hpp):
// a parsed message that fails the peer's check is never dispatched
// (auth_<verdict>); a PBU from a MAG that has authenticated before is
// answered with a PBA status 146 MIPV6-AUTH-FAIL (auth_pba_146_sent, rate
// limited with the other errors), from any other source dropped: answering
// would let spoofed sources make lmad send PBAs to whoever they name. One
// warning per 10 s says which and why.
//
// Counters (counters()): received; pbu, bu_not_proxy, heartbeat_requests,
// heartbeat_responses, binding_errors_received; drops not_our_address,
// parse_<kind>, unexpected_<kind>; pba_154_sent / pba_154_rate_limited (PBAs
// 154 to unauthorized sources share the error token bucket); binding_errors_sent / _rate_limited /
// _not_unicast; parameter_problems_sent / _rate_limited / _not_unicast;
// heartbeat_responses_sent, timestamps_ignored, replies_adapted, quirk_<name>,
// bra, bri, bri_answered_not_supported, bri_not_unicast,
// oai_identity_from_link_layer_id, oai_identity_from_binary_nai,
// oai_identity_unmapped (an all-zero NAI without a usable MN-LL-ID: left as sent),
// oai_hnp_128_as_64.
//
// Threading: loop thread only. Pure apart from the transmitter it is given.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "config.hpp"
#include "pmip/common/clock.hpp"
#include "pmip/common/log.hpp"
#include "pmip/common/message_auth.hpp"
#include "pmip/common/mh_socket.hpp"
#include "pmip/lma/lma_engine.hpp"
#include "pmip/mh/codec.hpp"

namespace pmip::lma {

// At most `rate` tokens per second, `burst` at once.
class TokenBucket {
  public:
    TokenBucket(double rate_per_second, double burst)
        : rate_(rate_per_second), burst_(burst), tokens_(burst) {}
    bool take(TimePoint now);

  private:
    double rate_, burst_, tokens_;
    std::optional<TimePoint> last_;
};

struct MhReceiverConfig {
    std::vector<Ipv6Address> local_addresses;
    std::vector<PeerProfileRule> profiles;
    Ordering ordering = Ordering::kTimestamp;
    std::uint32_t restart_counter = 0;
    double error_rate_per_second = 10;  // BE and ICMPv6 errors together
    double error_burst = 20;
    std::size_t max_adapted_peers = 4096;  // OAI peers remembered for reply_sender()
    OaiIdentity oai_identity = OaiIdentity::kMac;
    mh::ExtensionCodePoints code_points{};  // draft-asaeda ([multicast] pbu-m-flag, pbu-m-option)
    bool cmd = false;  // lmad runs the RFC 8885 CMD: its PBAs to a PBU with D carry D (4.2)
    // Checks every parsed message before dispatch ([mags] auth); nullptr: none.
    auth::MessageAuthenticator* auth = nullptr;
};

struct MhReceiverHandlers {
    // `identity`: the MN identity mapped for an `oai` MAG, else nullptr.
    std::function<void(const Ipv6Address& source, const Ipv6Address& destination,
                       const mh::BindingUpdate& pbu, const MobileNodeIdentifier* identity)>
        proxy_binding_update;
    std::function<void(const Ipv6Address& peer, std::uint32_t sequence,
                       std::optional<std::uint32_t> restart_counter, bool unsolicited)>
        heartbeat_response;
    std::function<void(const Ipv6Address& peer)> binding_error_unrecognized_type;
    std::function<void(const Ipv6Address& source, const Ipv6Address& destination,
                       const mh::BindingRevocationAcknowledgement& bra)>
        binding_revocation_acknowledgement;
    // RFC 7161; when unset the messages are answered as an unrecognized MH type.
    std::function<void(const Ipv6Address& source, const Ipv6Address& destination,
                       const mh::SubscriptionQuery& query)>
        subscription_query;
    std::function<void(const Ipv6Address& source, const Ipv6Address& destination,
                       const mh::SubscriptionResponse& response)>
        subscription_response;
    // RFC 8885: a MAAR's PBA to the CMD's PBU (unset: unexpected, dropped).
    std::function<void(const Ipv6Address& source, const mh::BindingAcknowledgement& pba)>
        proxy_binding_acknowledgement;
    // RFC 7077: the answer to our Update Notification.
    std::function<void(const Ipv6Address& source, const mh::UpdateNotificationAcknowledgement& upa)>
        update_notification_acknowledgement;
};

class MhReceiver {
  public:
    // Octets of the invoking packet an ICMPv6 error may carry: 1280 minus the
    // IPv6 (40) and ICMPv6 (8) headers [RFC 4443 section 2.4 (c)].
    static constexpr std::size_t kMaxInvokingPacket = 1280 - 40 - 8;

    MhReceiver(MhReceiverConfig config, MhTransmitter& transmitter, const Clock& clock,
               MhReceiverHandlers handlers);

    void receive(const ReceivedPacket& packet);

    // The sender to give the engine: the transmitter, with PBAs to `oai`
    // MAGs adapted as described above.
    MhSender& reply_sender() { return reply_sender_; }

    std::uint32_t restart_counter() const { return config_.restart_counter; }
    nlohmann::json counters() const;
    std::uint64_t counter(const std::string& name) const;

  private:
    class ReplySender final : public MhSender {
      public:
        explicit ReplySender(MhReceiver& receiver) : receiver_(receiver) {}
        void send(const Ipv6Address& source, const Ipv6Address& destination,
                  const mh::Message& message) override;

      private:
        MhReceiver& receiver_;
    };

    void count(const std::string& name) { ++counters_[name]; }
    // Rate-limited debug line about a dropped packet (untrusted input must
    // not flood the log even with debug on).
    void log_drop(const ReceivedPacket& packet, const std::string& what);
    bool ours(const Ipv6Address& address) const;
    void explain_strict_drop(const ReceivedPacket& packet, const mh::ParseError& error);
    void react(const ReceivedPacket& packet, const mh::ParseError& error);
    void dispatch(const ReceivedPacket& packet, mh::Parsed& parsed, PeerProfile profile);
    void reject_unauthenticated(const ReceivedPacket& packet, const mh::Message& message,
                                auth::Verdict verdict);

    MhReceiverConfig config_;
    MhTransmitter& transmitter_;
    const Clock& clock_;
    MhReceiverHandlers handlers_;
    TokenBucket errors_;
    ReplySender reply_sender_{*this};
    std::set<Ipv6Address> host_order_timestamp_peers_;
    // Per-packet counters as fields (the PBU path runs at tens of thousands
    // of packets per second); the rarer ones by name.
    std::uint64_t received_ = 0, pbu_ = 0;
    std::map<std::string, std::uint64_t> counters_;
    log::RateLimit drop_log_{20, std::chrono::seconds(1)};
    log::RateLimit profile_hint_log_{1, std::chrono::seconds(60)};
    log::RateLimit auth_log_{1, std::chrono::seconds(10)};
};

// True for an address an error message may be sent to (RFC 6275 section
// 9.3.3, RFC 4443 section 2.4 (e)): not unspecified, not multicast.
bool unicast_source(const Ipv6Address& address);

// The identity of an OAI / UMIP MAG's MN (PROTOCOL.md Appendix I): subtype 5
// (EUI-48) with the MAC when the PBU's NAI is all zero and its MN-LL-ID is the
// 8-octet modified EUI-64 of a MAC (ff:fe in the middle; the U/L bit flipped
// back) or a 6-octet MAC, subtype 6 (EUI-64) for another 8-octet MN-LL-ID, or
// when the NAI is UMIP's 00 00 + 6-octet MAC. nullopt otherwise (including an
// all-zero NAI without a usable MN-LL-ID). `from_link_layer` tells which.
std::optional<MobileNodeIdentifier> oai_mobile_node_identity(const mh::BindingUpdate& pbu,
                                                             bool* from_link_layer = nullptr);

// The Timestamp value whose network-order serialization puts each 32-bit
// half of `value` in little-endian order (how OAI pmip6d writes it).
std::uint64_t host_order_timestamp(std::uint64_t value);

}  // namespace pmip::lma
