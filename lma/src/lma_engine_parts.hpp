// Private parts of the LMA engine shared by its source files: the extracted
// PBU (lma_engine.cpp) and the per-session RFC 7161 state (lma_sial.cpp).
#pragma once

#include <optional>
#include <vector>

#include "pmip/common/log.hpp"
#include "pmip/lma/lma_engine.hpp"

namespace pmip::lma {

// "[lma mn=... mag=...]": the context of the engine's log lines about an MN.
inline std::string engine_context(const MobileNodeIdentifier& mn, const Ipv6Address& mag) {
    return log::mn_context("lma", mn.identifier, "mag", pmip::to_string(mag));
}

// The parts of a PBU the pipeline uses, extracted once.
struct LmaEngine::Pbu {
    Ipv6Address source{};
    Ipv6Address destination{};
    const mh::BindingUpdate* message = nullptr;
    MobileNodeIdentifier mn;         // the identity policy and the cache use
    MobileNodeIdentifier signalled;  // the option as sent, when `mn` was mapped
    bool has_mn_identifier = false;
    LookupRequest lookup;
    std::vector<mh::HomeNetworkPrefix> requested_prefixes;
    std::optional<std::uint64_t> timestamp;
    const mh::LinkLocalAddress* link_local = nullptr;
    const mh::GreKey* gre = nullptr;
    bool multicast_signalling = false;  // S flag [RFC 7161 section 4.2]
    std::vector<mh::ActiveMulticastSubscriptionIpv6> subscriptions;  // options 57
    bool multicast_request = false;                      // the PBU-M flag (config.pbu_m.flag)
    std::vector<mh::MulticastAddressRecord> requested_channels;  // its multicast subscription options
    bool repeated = false;  // answered before (accepted_before): its PBA again, nothing set up again
    // "[lma mn=... mag=...]" for log lines, made on first use (most PBUs log
    // nothing at the default level).
    const std::string& ctx() const {
        if (!ctx_) ctx_ = engine_context(mn, lookup.proxy_coa);
        return *ctx_;
    }

  private:
    mutable std::optional<std::string> ctx_;
};

struct LmaEngine::Sial {
    enum class Held : std::uint8_t { kNothing, kFromDeregistration, kDelivered };
    Held held = Held::kNothing;
    Ipv6Address held_mag{};  // the MAG it came from (de-registration) or went to
    std::vector<mh::ActiveMulticastSubscriptionIpv6> records;
    TimePoint delivered_at{};  // kDelivered: when it went to held_mag

    // Reactive handover: our query to the previous MAG.
    bool querying = false;
    std::uint8_t query_sequence = 0;
    Ipv6Address previous_mag{};
    Ipv6Address local{};  // our address towards the MAGs (the session's)
    unsigned transmissions = 0;
    TimerId query_timer = 0;
    // The new MAG's PBU, its PBA held by the PBA timer.
    std::optional<mh::BindingUpdate> held_pbu;
    Ipv6Address held_source{}, held_destination{};
    std::optional<MobileNodeIdentifier> held_identity;
    TimerId pba_timer = 0;
    // Queries from the serving MAG waiting for the answer (section 5.3 step 6).
    struct Asker {
        Ipv6Address source{}, destination{};
        std::uint8_t sequence = 0;
        mh::Options echo;  // its MN-ID and HNP options
    };
    std::vector<Asker> askers;
};

// What a batch collected (lma_batch.cpp; LmaEngine::begin_batch).
struct LmaEngine::Batch {
    std::vector<RouteRequest> routes;
    std::vector<SessionId> route_sessions;  // routes[i] was asked for route_sessions[i]
    struct Release {
        TunnelKey key;
        MobileNodeIdentifier mn;
        Ipv6Address mag;
    };
    std::vector<Release> releases;
    struct HeldPba {
        SessionId session = 0;  // 0: not a session's (a rejection)
        Ipv6Address source, destination;
        mh::BindingAcknowledgement pba;
        // What a rejection echoes instead (section 5.3.6): the PBU's own
        // HNP options and Link-local Address option.
        std::vector<mh::HomeNetworkPrefix> requested;
        std::optional<mh::LinkLocalAddress> link_local;
    };
    std::vector<HeldPba> pbas;
};

}  // namespace pmip::lma
