// What magd does with every packet its Mobility Header socket receives
// (RFC 6275 section 9.2 receiver checks, then dispatch by MH type):
//
//   destination not our Proxy-CoA      -> drop (not_our_address)
//   parse fails (strict; lenient for `oai` LMAs, PROTOCOL.md Appendix I)
//     Binding Error reaction           -> BE status 2 to a unicast source, rate limited
//                                         [RFC 6275 sections 9.2, 9.3.3]
//     other reactions                  -> drop (parse_<kind>)
//   BA (P flag; any BA from an `oai` LMA, which never sets P) -> engine (PBA)
//   Heartbeat request                  -> answered with our Restart Counter [RFC 5847 3]
//   Heartbeat response                 -> HeartbeatMonitor
//   Binding Error status 2             -> HeartbeatMonitor (the LMA lacks heartbeats)
//   Binding Revocation Indication      -> engine, which answers with a BRA [RFC 5846 9.1]
//   anything else                      -> counted (unexpected_<kind>) and dropped
//
// The sender it gives the engine (sender()) adapts PBUs to `oai` LMAs: the
// MN-LL-ID goes as the 8-octet modified EUI-64 interface identifier and the
// Timestamp with its 32-bit halves in host (little-endian) byte order, as OAI
// pmip6d writes and reads them; PBAs from those LMAs get their MN-LL-ID
// mapped back to the MAC before the engine compares it with the PBU.
//
// What the live runs against those LMAs showed (../shared/peers/README.md,
// PROTOCOL.md Appendix I), and what the `oai` profile does about it:
//   - OAI reads the NAI as a fixed 63-octet field (NAI_SIZE) whatever the
//     option says, so a shorter NAI picks up the octets of the next options
//     (a new MN per PBU) and its PBA echoes 63 octets: a NAI of subtype 1 is
//     sent padded with NULs to 63 octets (oai_nai_padded; longer ones cannot
//     work with OAI and are counted, oai_nai_too_long, and warned about);
//   - UMIP's LMA answers with its own identifier (00 00 + MAC);
//   - OAI echoes the prefix with length 128.
// So each PBU sent to an `oai` LMA is remembered by (LMA, sequence) (at most
// kMaxRemembered; the oldest forgotten first, oai_pbu_forgotten), and a PBA
// from that LMA with that sequence gets back, before the engine sees it, the
// NAI of the PBU when its own is the padded NAI, 00 00 + the MN's MAC, or
// comes with the MN's link-layer identifier (adapted_in_identifier); and for
// each /128 prefix, the prefix the PBU asked for that contains it, else the
// /64 around it (adapted_in_prefix), so the MN is advertised a prefix it can
// build an address from. A PBA with no prefix (OAI assigns none itself) is
// counted (oai_no_prefix) and explained in a rate-limited warning.
//
// Counters (counters()): received, pba, heartbeat_requests, heartbeat_responses,
// binding_errors_received, bri; drops not_our_address, parse_<kind>,
// unexpected_<kind>, ba_not_proxy; binding_errors_sent / _rate_limited;
// adapted_out / adapted_in, adapted_in_identifier, adapted_in_prefix,
// oai_nai_padded, oai_nai_too_long, oai_pbu_forgotten, oai_no_prefix;
// quirk_<name>; auth_<verdict> (a message that failed the LMA's
// authentication check: dropped, never dispatched).
//
// Authentication ([lmas] auth, set_authenticator; common/message_auth.hpp):
// every parsed message is checked before anything acts on it (before the OAI
// adaptation too); a PBA, BRI, heartbeat or Binding Error that fails is
// dropped and counted, with one warning per 10 s naming the LMA and why. The
// transmitter given is the one that signs.
//
// Threading: loop thread only. Pure apart from the transmitter it is given.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "config.hpp"
#include "pmip/common/clock.hpp"
#include "pmip/common/log.hpp"
#include "pmip/common/message_auth.hpp"
#include "pmip/common/mh_socket.hpp"
#include "pmip/mh/codec.hpp"

namespace pmip::mag {

struct MagReceiverHandlers {
    std::function<void(const Ipv6Address& lma, const mh::BindingAcknowledgement& pba)> pba;
    std::function<void(const Ipv6Address& lma, const mh::BindingRevocationIndication& bri)> bri;
    std::function<void(const Ipv6Address& peer, std::uint32_t sequence,
                       std::optional<std::uint32_t> restart_counter, bool unsolicited)>
        heartbeat_response;
    std::function<void(const Ipv6Address& peer)> binding_error_unrecognized_type;
    // RFC 7161; when unset the messages are answered as an unrecognized MH type.
    std::function<void(const Ipv6Address& lma, const mh::SubscriptionQuery& query)> subscription_query;
    std::function<void(const Ipv6Address& lma, const mh::SubscriptionResponse& response)>
        subscription_response;
    // RFC 7077.
    std::function<void(const Ipv6Address& lma, const mh::UpdateNotification& upn)> update_notification;
    // RFC 8885: the CMD's PBU to a MAAR (unset: unexpected, dropped).
    std::function<void(const Ipv6Address& cmd, const Ipv6Address& destination, const mh::BindingUpdate& pbu)>
        proxy_binding_update;
};

class MagReceiver {
  public:
    MagReceiver(Ipv6Address proxy_coa, std::vector<LmaProfileRule> profiles,
                std::uint32_t restart_counter, MhSender& transmitter, MagReceiverHandlers handlers);

    void receive(const ReceivedPacket& packet);
    // The sender to give the engine (adapts messages to `oai` LMAs).
    MhSender& sender() { return sender_; }
    void set_profiles(std::vector<LmaProfileRule> profiles) { profiles_ = std::move(profiles); }
    // Checks every parsed message before dispatch; nullptr (the default): none.
    void set_authenticator(auth::MessageAuthenticator* auth) { auth_ = auth; }
    // draft-asaeda code points ([multicast] pbu-m-flag, pbu-m-option).
    void set_code_points(const mh::ExtensionCodePoints& code_points) { code_points_ = code_points; }

    nlohmann::json counters() const;
    std::uint64_t counter(const std::string& name) const;

  private:
    class AdaptingSender final : public MhSender {
      public:
        explicit AdaptingSender(MagReceiver& r) : r_(r) {}
        void send(const Ipv6Address& source, const Ipv6Address& destination,
                  const mh::Message& message) override;

      private:
        MagReceiver& r_;
    };
    void count(const std::string& name) { ++counters_[name]; }
    void send_binding_error_unrecognized(const Ipv6Address& source);
    // What a PBU to an `oai` LMA said, for the PBA that answers it.
    struct SentPbu {
        std::uint8_t identifier_subtype = 0;
        std::vector<std::uint8_t> identifier;  // as the engine wrote it
        std::vector<Ipv6Prefix> prefixes;      // requested (non-zero) prefixes
        std::vector<std::uint8_t> link_layer;  // the MN's MAC as the engine wrote it
    };
    static constexpr std::size_t kMaxRemembered = 4096;
    void remember(const Ipv6Address& lma, const mh::BindingUpdate& pbu);
    void adapt_oai_pba(const Ipv6Address& lma, mh::BindingAcknowledgement& pba);

    Ipv6Address proxy_coa_;
    std::vector<LmaProfileRule> profiles_;
    std::uint32_t restart_counter_;
    MhSender& transmitter_;
    MagReceiverHandlers handlers_;
    auth::MessageAuthenticator* auth_ = nullptr;
    mh::ExtensionCodePoints code_points_{};
    AdaptingSender sender_{*this};
    std::map<std::string, std::uint64_t> counters_;
    std::map<std::pair<Ipv6Address, std::uint16_t>, SentPbu> sent_;
    std::deque<std::pair<Ipv6Address, std::uint16_t>> sent_order_;
    log::RateLimit oai_log_{1, std::chrono::seconds(60)};
    log::RateLimit errors_{20, std::chrono::seconds(1)};  // BEs we send
    log::RateLimit drop_log_{20, std::chrono::seconds(1)};
    log::RateLimit auth_log_{1, std::chrono::seconds(10)};
};

// RFC 4291 Appendix A: the modified EUI-64 interface identifier of a MAC
// (U/L bit inverted, ff:fe in the middle), and back (nullopt when the 8
// octets do not come from a MAC).
std::string modified_eui64_of_mac(const std::string& mac);
std::optional<std::string> mac_of_modified_eui64(const std::string& eui64);
// The Timestamp whose network-order serialization puts each 32-bit half in
// little-endian order (OAI pmip6d), and back (the swap is its own inverse).
std::uint64_t host_order_timestamp(std::uint64_t value);

}  // namespace pmip::mag
