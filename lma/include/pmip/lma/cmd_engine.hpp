// The Central Mobility Database of RFC 8885 (distributed mobility
// management; PROTOCOL.md 9.2): the Binding Cache of a DMM domain without a
// data path. Each MN's session names its serving MAAR (S-MAAR, the prefixes
// it anchors for the MN) and the list of previous MAARs (P-MAARs) that still
// anchor a prefix of the MN (section 3). The MAARs' PBUs and PBAs carry the
// D flag.
//
//   Initial registration (section 3.1): the MAAR's PBU names its own prefix
//   for the MN (HNP option); the CMD stores the session and answers.
//   Handover, the CMD as relay (section 3.2): the new S-MAAR's PBU is
//   forwarded to every P-MAAR (the old S-MAAR included) as a PBU with the
//   Serving MAAR option and that MAAR's prefix; their PBAs are gathered into
//   one PBA to the S-MAAR with one Previous MAAR option per anchored prefix,
//   sent when all have answered or `aggregation_timeout` has passed (later
//   answers go in further PBAs, section 3.2).
//   Handover, the CMD as proxy (section 3.4): the PBA with the Previous MAAR
//   options goes at once, then the PBUs to the P-MAARs.
//   A MAAR the MN comes back to stops being a P-MAAR: its prefix is the
//   serving one again (the MN's own prefix there).
//   De-registration (section 3.5): only the S-MAAR ends the session (its PBU
//   with lifetime 0, or the session's lifetime runs out); the P-MAARs then
//   get a PBU with lifetime 0 for their prefixes. A P-MAAR whose anchored
//   prefix ran out de-registers just that prefix (lifetime 0 from a MAAR that
//   is not serving): it leaves the list.
//   Retransmissions (section 3.6): PBUs to P-MAARs are repeated from
//   INITIAL_BINDACK_TIMEOUT, doubling up to MAX_BINDACK_TIMEOUT, at most
//   `max_retransmissions` times; a P-MAAR that never answers leaves the
//   list (counted). They are paced (`pacing` apart, section 3.2's MUST).
//
// A PBU without the D flag is refused with status 128 (a MAG registering
// with a CMD; RFC 8885 section 4.1 asks a non-DMM LMA for "an error", and a
// CMD is no LMA for a MAG). The CMD-as-locator variant (section 3.3) is not
// built.
//
// Threading: loop thread only.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <vector>

#include "pmip/common/clock.hpp"
#include "pmip/common/ip.hpp"
#include "pmip/common/mh_socket.hpp"
#include "pmip/common/timers.hpp"
#include "pmip/lma/lma_engine.hpp"
#include "pmip/mh/messages.hpp"

namespace pmip::lma {

enum class CmdMode : std::uint8_t { kRelay, kProxy };
std::string_view to_string(CmdMode mode);

struct CmdConfig {
    CmdMode mode = CmdMode::kRelay;
    std::vector<Ipv6Prefix> authorized_maars;  // sources allowed to send PBUs (else 154)
    bool serve_unknown_mobile_nodes = false;   // else 153
    std::uint16_t max_lifetime = 900;          // 4 s units
    Duration initial_bindack_timeout = std::chrono::seconds(1);
    Duration max_bindack_timeout = std::chrono::seconds(32);
    unsigned max_retransmissions = 3;          // per PBU to a P-MAAR
    Duration aggregation_timeout = std::chrono::milliseconds(500);  // relay
    Duration pacing = std::chrono::milliseconds(1);  // between PBUs to P-MAARs
};

// A MAAR that anchors prefixes of the MN.
struct CmdAnchor {
    Ipv6Address maar{};
    std::vector<Ipv6Prefix> prefixes;
    bool confirmed = false;  // its PBA (to our PBU with the Serving MAAR option) came
    bool operator==(const CmdAnchor&) const = default;
};

struct CmdSession {
    MobileNodeIdentifier mn;
    Ipv6Address serving{};  // the S-MAAR
    Ipv6Address local{};    // our address its PBUs came to
    std::vector<Ipv6Prefix> serving_prefixes;
    std::vector<CmdAnchor> previous;  // the P-MAAR list
    std::uint16_t lifetime = 0;       // granted, 4 s units
    std::uint16_t sequence = 0;       // of the S-MAAR's last accepted PBU
    mh::Options echo;                 // its options a PBA copies (MN-ID, HI, ATT, MN-LL-ID, Timestamp)
    TimePoint accepted_at{};
    TimerId lifetime_timer = 0;
};

struct CmdCounters {
    std::uint64_t pbu_received = 0;
    std::uint64_t pbu_accepted = 0;
    std::map<std::uint8_t, std::uint64_t> pbu_rejected;  // by status
    std::uint64_t pbu_without_d = 0;       // refused with 128
    std::uint64_t sessions_created = 0;
    std::uint64_t sessions_deleted = 0;
    std::uint64_t sessions_expired = 0;
    std::uint64_t handovers = 0;
    std::uint64_t returns_to_anchor = 0;   // the MN came back to one of its P-MAARs
    std::uint64_t pmaar_pbu_sent = 0;      // to P-MAARs (Serving MAAR option, or lifetime 0)
    std::uint64_t pmaar_pbu_retransmitted = 0;
    std::uint64_t pmaar_pba_received = 0;
    std::uint64_t pmaar_pba_unmatched = 0;  // no PBU of ours waiting for it
    std::uint64_t pmaar_failed = 0;         // refused (status >= 128) or never answered: left the list
    std::uint64_t pmaar_deregistered = 0;   // a P-MAAR's own de-registration of its prefix
    std::uint64_t pba_aggregated = 0;       // relay: PBAs to an S-MAAR after gathering
    std::uint64_t pba_late = 0;             // relay: further PBAs for late P-MAAR answers
};

class CmdEngine {
public:
    CmdEngine(CmdConfig config, const PolicyStore& policies, Timers& timers, MhSender& sender);
    ~CmdEngine();
    CmdEngine(const CmdEngine&) = delete;
    CmdEngine& operator=(const CmdEngine&) = delete;

    // A PBU from a MAAR to our address `destination`.
    void handle_proxy_binding_update(const Ipv6Address& source, const Ipv6Address& destination,
                                     const mh::BindingUpdate& pbu);
    // A P-MAAR's PBA to one of our PBUs.
    void handle_proxy_binding_acknowledgement(const Ipv6Address& source, const mh::BindingAcknowledgement& pba);

    const CmdSession* find(const MobileNodeIdentifier& mn) const;
    const std::map<MobileNodeIdentifier, CmdSession>& sessions() const { return sessions_; }
    const CmdCounters& counters() const { return counters_; }
    const CmdConfig& config() const { return config_; }
    // Ends every session (shutdown): P-MAARs are told (lifetime 0).
    void clear();

private:
    struct Outgoing;  // a PBU of ours to a P-MAAR, until its PBA
    struct Gathering;  // relay: the S-MAAR's PBA waiting for the P-MAARs

    static mh::BindingAcknowledgement pba(std::uint8_t status, std::uint16_t sequence, std::uint16_t lifetime,
                                          mh::Options echo, const std::vector<Ipv6Prefix>& prefixes);
    void reject(const Ipv6Address& source, const Ipv6Address& destination, const mh::BindingUpdate& pbu,
                std::uint8_t status, std::uint16_t sequence);
    // The accepted PBA to the session's S-MAAR, with a Previous MAAR option
    // per prefix of `anchors`.
    void send_pba(const CmdSession& s, std::uint16_t lifetime, const std::vector<CmdAnchor>& anchors);
    void handover(CmdSession& s, const Ipv6Address& source, const mh::BindingUpdate& pbu,
                  std::vector<Ipv6Prefix> prefixes);
    void notify_anchors(CmdSession& s, std::uint16_t lifetime, std::vector<CmdAnchor> anchors);
    void send_outgoing(std::uint16_t sequence);
    void outgoing_timeout(std::uint16_t sequence);
    void anchor_answered(const MobileNodeIdentifier& mn, const Ipv6Address& maar, bool ok);
    void finish_gathering(const MobileNodeIdentifier& mn);
    void arm_lifetime(CmdSession& s);
    void end_session(const MobileNodeIdentifier& mn, bool expired);
    std::uint16_t next_sequence();

    CmdConfig config_;
    const PolicyStore& policies_;
    Timers& timers_;
    MhSender& sender_;
    std::map<MobileNodeIdentifier, CmdSession> sessions_;
    std::map<std::uint16_t, std::unique_ptr<Outgoing>> outgoing_;  // by our PBU's sequence
    std::map<MobileNodeIdentifier, std::unique_ptr<Gathering>> gathering_;
    std::uint16_t next_sequence_ = 1;
    CmdCounters counters_;
};

}  // namespace pmip::lma
