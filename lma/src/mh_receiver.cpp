// RFC 6275 section 9.2 receiver checks and MH dispatch for lmad. See mh_receiver.hpp.
#include "mh_receiver.hpp"

#include <algorithm>

#include "pmip/common/log.hpp"

namespace pmip::lma {

namespace {

std::uint32_t byteswap32(std::uint32_t v) {
    return (v >> 24) | ((v >> 8) & 0xff00u) | ((v << 8) & 0xff0000u) | (v << 24);
}

std::string peer_context(const Ipv6Address& source) {
    return "[lma mh peer=" + pmip::to_string(source) + "]";
}

}  // namespace

bool TokenBucket::take(TimePoint now) {
    if (last_) {
        const double elapsed = std::chrono::duration<double>(now - *last_).count();
        if (elapsed > 0)
            tokens_ = std::min(burst_, tokens_ + elapsed * rate_);
    }
    last_ = now;
    if (tokens_ < 1.0)
        return false;
    tokens_ -= 1.0;
    return true;
}

bool unicast_source(const Ipv6Address& address) {
    return address != Ipv6Address{} && !is_multicast(address);
}

std::optional<MobileNodeIdentifier> oai_mobile_node_identity(const mh::BindingUpdate& pbu,
                                                             bool* from_link_layer) {
    const auto* id = mh::find_option<mh::MobileNodeIdentifier>(pbu.options);
    if (id == nullptr || id->subtype != mh::mn_id_subtype::kNai || id->identifier.empty())
        return std::nullopt;
    const auto& nai = id->identifier;
    // UMIP pmipv6: 00 00 + MAC.
    if (nai.size() == 8 && nai[0] == 0 && nai[1] == 0 &&
        std::any_of(nai.begin() + 2, nai.end(), [](std::uint8_t c) { return c != 0; })) {
        if (from_link_layer)
            *from_link_layer = false;
        return MobileNodeIdentifier{mh::mn_id_subtype::kEui48, std::string(nai.begin() + 2, nai.end())};
    }
    if (!std::all_of(nai.begin(), nai.end(), [](std::uint8_t c) { return c == 0; }))
        return std::nullopt;
    // OAI pmip6d: all-zero NAI; the MN is named by its MN-LL-ID.
    const auto* ll = mh::find_option<mh::MobileNodeLinkLayerIdentifier>(pbu.options);
    if (ll == nullptr || std::all_of(ll->identifier.begin(), ll->identifier.end(),
                                     [](std::uint8_t c) { return c == 0; }))
        return std::nullopt;
    const auto& l = ll->identifier;
    if (from_link_layer)
        *from_link_layer = true;
    if (l.size() == 6)
        return MobileNodeIdentifier{mh::mn_id_subtype::kEui48, std::string(l.begin(), l.end())};
    if (l.size() != 8)
        return std::nullopt;
    // RFC 4291 Appendix A: modified EUI-64 = EUI-64 with the U/L bit inverted;
    // from a MAC, ff:fe sits in octets 3-4.
    if (l[3] == 0xff && l[4] == 0xfe) {
        const std::uint8_t mac[6] = {static_cast<std::uint8_t>(l[0] ^ 0x02), l[1], l[2],
                                     l[5], l[6], l[7]};
        return MobileNodeIdentifier{mh::mn_id_subtype::kEui48, std::string(mac, mac + 6)};
    }
    std::string eui64(l.begin(), l.end());
    eui64[0] = static_cast<char>(static_cast<std::uint8_t>(eui64[0]) ^ 0x02);
    return MobileNodeIdentifier{mh::mn_id_subtype::kEui64, std::move(eui64)};
}

std::uint64_t host_order_timestamp(std::uint64_t value) {
    return static_cast<std::uint64_t>(byteswap32(static_cast<std::uint32_t>(value >> 32))) << 32 |
           byteswap32(static_cast<std::uint32_t>(value));
}

MhReceiver::MhReceiver(MhReceiverConfig config, MhTransmitter& transmitter, const Clock& clock,
                       MhReceiverHandlers handlers)
    : config_(std::move(config)),
      transmitter_(transmitter),
      clock_(clock),
      handlers_(std::move(handlers)),
      errors_(config_.error_rate_per_second, config_.error_burst) {}

bool MhReceiver::ours(const Ipv6Address& address) const {
    return std::find(config_.local_addresses.begin(), config_.local_addresses.end(), address) !=
           config_.local_addresses.end();
}

void MhReceiver::log_drop(const ReceivedPacket& packet, const std::string& what) {
    if (!log::debug_enabled(log::Category::kMh) || !drop_log_.allow())
        return;
    PMIP_DEBUG(kMh, peer_context(packet.source), "dropped: " + what);
}

void MhReceiver::receive(const ReceivedPacket& packet) {
    ++received_;
    if (!ours(packet.destination)) {
        count("not_our_address");
        log_drop(packet,
                 "destination " + pmip::to_string(packet.destination) + " is not an LMA address");
        return;
    }
    const PeerProfile profile = profile_of(config_.profiles, packet.source);
    mh::ParseConfig parse_config;
    parse_config.lenient = profile == PeerProfile::kOai;
    parse_config.code_points = config_.code_points;
    auto result = mh::parse(packet.mh, parse_config);
    if (auto* error = std::get_if<mh::ParseError>(&result)) {
        if (profile == PeerProfile::kRfc5213)
            explain_strict_drop(packet, *error);
        return react(packet, *error);
    }
    auto& parsed = std::get<mh::Parsed>(result);
    if (config_.auth != nullptr) {
        const auto verdict = config_.auth->verify(packet, parsed.message);
        if (!auth::accepted(verdict))
            return reject_unauthenticated(packet, parsed.message, verdict);
    }
    dispatch(packet, parsed, profile);
}

void MhReceiver::reject_unauthenticated(const ReceivedPacket& packet, const mh::Message& message,
                                        auth::Verdict verdict) {
    count("auth_" + std::string(auth::to_string(verdict)));
    const auto* bu = std::get_if<mh::BindingUpdate>(&message);
    std::string outcome = "dropped";
    if (bu != nullptr && bu->is_proxy()) {
        if (!config_.auth->has_authenticated(packet.source)) {
            outcome = "dropped, no PBA: this source has never authenticated (answering would let "
                      "spoofed sources make lmad send PBAs)";
        } else if (unicast_source(packet.source) && errors_.take(clock_.now())) {
            // RFC 4285 section 8: MIPV6-AUTH-FAIL, echoing what lets the MAG match it.
            mh::BindingAcknowledgement pba;
            pba.status = mh::status::kMipv6AuthFail;
            pba.flags = mh::ba_flag::kP;
            if (config_.cmd && (bu->flags & mh::bu_flag::kD)) pba.flags |= mh::ba_flag::kD;
            pba.sequence = bu->sequence;
            for (const auto& o : bu->options) {
                if (std::holds_alternative<mh::MobileNodeIdentifier>(o) ||
                    std::holds_alternative<mh::MobileNodeLinkLayerIdentifier>(o) ||
                    std::holds_alternative<mh::Timestamp>(o)) {
                    pba.options.push_back(o);
                }
            }
            transmitter_.send(packet.destination, packet.source, pba);
            count("auth_pba_146_sent");
            outcome = "answered with PBA status 146 (MIPV6-AUTH-FAIL)";
        } else {
            count("auth_pba_146_rate_limited");
            outcome = "dropped (PBA 146 rate limited)";
        }
    }
    if (auth_log_.allow()) {
        PMIP_WARNING(kMh, peer_context(packet.source),
                     std::string(mh::message_kind(message)) + " failed authentication (" +
                         std::string(auth::to_string(verdict)) + "): " + outcome);
    }
}

// A message the strict (rfc5213) profile rejects but the oai profile would
// take is most likely from an OAI / UMIP pmip6d MAG configured without its
// profile (PROTOCOL.md Appendix I: 63-octet all-zero NAI, host-order
// timestamps, ...): counted, and said in one warning a minute naming the fix.
void MhReceiver::explain_strict_drop(const ReceivedPacket& packet, const mh::ParseError& error) {
    // Only a Binding Update can be an OAI PBU: other malformed input is not
    // parsed a second time (MH type at octet 2, RFC 6275 section 6.1.1).
    if (packet.mh.size() < 3 || packet.mh[2] != static_cast<std::uint8_t>(mh::MessageType::kBindingUpdate))
        return;
    mh::ParseConfig lenient;
    lenient.lenient = true;
    lenient.code_points = config_.code_points;
    const auto again = mh::parse(packet.mh, lenient);
    const auto* parsed = std::get_if<mh::Parsed>(&again);
    if (parsed == nullptr || parsed->quirks == 0 ||
        !std::holds_alternative<mh::BindingUpdate>(parsed->message))
        return;
    count("strict_profile_oai_shaped");
    if (!profile_hint_log_.allow())
        return;
    std::string quirks;
    for (auto name : mh::quirk_names(parsed->quirks))
        quirks += (quirks.empty() ? "" : ", ") + std::string(name);
    const std::string source = pmip::to_string(packet.source);
    PMIP_WARNING(kMh, peer_context(packet.source),
                 "PBU dropped under the rfc5213 profile (" + std::string(mh::to_string(error.kind)) +
                     " at offset " + std::to_string(error.offset) +
                     "); it parses under the oai profile (" + quirks +
                     "): if this MAG runs OAI/UMIP pmip6d, configure [mags] profile = " + source +
                     " oai");
}

void MhReceiver::react(const ReceivedPacket& packet, const mh::ParseError& error) {
    count("parse_" + std::string(mh::to_string(error.kind)));
    log_drop(packet, std::string(mh::to_string(error.kind)) + " at offset " +
                         std::to_string(error.offset) + " (" +
                         std::string(mh::to_string(error.reaction)) + ")");
    const bool answer_allowed = unicast_source(packet.source) && !is_multicast(packet.destination);
    switch (error.reaction) {
        case mh::Reaction::kDropSilently:
            return;
        case mh::Reaction::kSendBindingErrorUnrecognizedType: {
            // RFC 6275 section 9.3.3: never to a non-unicast source; rate limited.
            if (!answer_allowed)
                return count("binding_errors_not_unicast");
            if (!errors_.take(clock_.now()))
                return count("binding_errors_rate_limited");
            mh::BindingError be;
            be.status = 2;  // unrecognized MH Type value
            transmitter_.send(packet.destination, packet.source, be);
            return count("binding_errors_sent");
        }
        case mh::Reaction::kSendIcmpParameterProblem: {
            if (!answer_allowed)
                return count("parameter_problems_not_unicast");
            if (!errors_.take(clock_.now()))
                return count("parameter_problems_rate_limited");
            // The invoking packet as it arrived: a rebuilt IPv6 header, then the MH.
            std::vector<std::uint8_t> invoking(40);
            invoking[0] = static_cast<std::uint8_t>(0x60 | packet.traffic_class >> 4);
            invoking[1] = static_cast<std::uint8_t>((packet.traffic_class & 0x0f) << 4);
            const std::size_t payload = packet.mh.size();
            invoking[4] = static_cast<std::uint8_t>(payload >> 8);
            invoking[5] = static_cast<std::uint8_t>(payload);
            invoking[6] = mh::kIpProtoMobilityHeader;
            invoking[7] = packet.hop_limit;
            std::copy(packet.source.begin(), packet.source.end(), invoking.begin() + 8);
            std::copy(packet.destination.begin(), packet.destination.end(), invoking.begin() + 24);
            const std::size_t room = kMaxInvokingPacket - invoking.size();
            invoking.insert(
                invoking.end(), packet.mh.begin(),
                packet.mh.begin() + static_cast<std::ptrdiff_t>(std::min(room, payload)));
            transmitter_.send_parameter_problem(packet.destination, packet.source,
                                                static_cast<std::uint32_t>(40 + error.offset),
                                                invoking);
            return count("parameter_problems_sent");
        }
    }
}

void MhReceiver::dispatch(const ReceivedPacket& packet, mh::Parsed& parsed, PeerProfile profile) {
    for (auto name : mh::quirk_names(parsed.quirks)) count("quirk_" + std::string(name));
    mh::Message& message = parsed.message;
    if (auto* bu = std::get_if<mh::BindingUpdate>(&message)) {
        if (!bu->is_proxy()) {
            log_drop(packet, "Binding Update without P flag");
            return count("bu_not_proxy");
        }
        ++pbu_;
        if (config_.ordering == Ordering::kSequence) {
            const auto before = bu->options.size();
            std::erase_if(bu->options, [](const mh::Option& o) {
                return std::holds_alternative<mh::Timestamp>(o);
            });
            if (bu->options.size() != before)
                count("timestamps_ignored");
        }
        if (profile == PeerProfile::kOai) {
            if (parsed.quirks & mh::quirk::kTimestampHostOrder) {
                if (host_order_timestamp_peers_.size() < config_.max_adapted_peers ||
                    host_order_timestamp_peers_.count(packet.source)) {
                    host_order_timestamp_peers_.insert(packet.source);
                }
            } else if (mh::find_option<mh::Timestamp>(bu->options)) {
                host_order_timestamp_peers_.erase(packet.source);
            }
        }
        if (profile == PeerProfile::kOai) {
            // OAI / UMIP pmip6d write every HNP option with prefix length 128
            // (pmip_msgs.c) while their RA advertises the same prefix as a /64
            // (pmip_cache.c): the MN's link prefix is the /64 around it, and that
            // is what it asks for (PROTOCOL.md Appendix I).
            for (auto& o : bu->options) {
                auto* hnp = std::get_if<mh::HomeNetworkPrefix>(&o);
                if (hnp == nullptr || hnp->prefix_length != 128 || hnp->prefix == Ipv6Address{})
                    continue;
                hnp->prefix_length = 64;
                std::fill(hnp->prefix.begin() + 8, hnp->prefix.end(), std::uint8_t{0});
                count("oai_hnp_128_as_64");
            }
        }
        std::optional<MobileNodeIdentifier> identity;
        if (profile == PeerProfile::kOai && config_.oai_identity == OaiIdentity::kMac &&
            (parsed.quirks & (mh::quirk::kEmptyNai | mh::quirk::kBinaryMacNai))) {
            bool from_link_layer = false;
            identity = oai_mobile_node_identity(*bu, &from_link_layer);
            if (!identity) {
                count("oai_identity_unmapped");
            } else {
                count(from_link_layer ? "oai_identity_from_link_layer_id"
                                      : "oai_identity_from_binary_nai");
            }
        }
        if (handlers_.proxy_binding_update) {
            handlers_.proxy_binding_update(packet.source, packet.destination, *bu,
                                           identity ? &*identity : nullptr);
        }
        return;
    }
    if (auto* hb = std::get_if<mh::Heartbeat>(&message)) {
        if (!hb->is_response()) {
            count("heartbeat_requests");
            // RFC 5847 section 3: always answer, with our Restart Counter.
            if (!unicast_source(packet.source))
                return count("heartbeat_requests_not_unicast");
            mh::Heartbeat response;
            response.flags = mh::heartbeat_flag::kR;
            response.sequence = hb->sequence;
            response.options.push_back(mh::RestartCounter{config_.restart_counter});
            transmitter_.send(packet.destination, packet.source, response);
            return count("heartbeat_responses_sent");
        }
        count("heartbeat_responses");
        std::optional<std::uint32_t> restart_counter;
        if (const auto* rc = mh::find_option<mh::RestartCounter>(hb->options)) {
            restart_counter = rc->value;
        }
        if (handlers_.heartbeat_response) {
            handlers_.heartbeat_response(packet.source, hb->sequence, restart_counter,
                                         (hb->flags & mh::heartbeat_flag::kU) != 0);
        }
        return;
    }
    if (const auto* be = std::get_if<mh::BindingError>(&message)) {
        count("binding_errors_received");
        if (be->status == 2 && handlers_.binding_error_unrecognized_type) {
            handlers_.binding_error_unrecognized_type(packet.source);
        }
        return;
    }
    if (const auto* bra = std::get_if<mh::BindingRevocationAcknowledgement>(&message)) {
        count("bra");
        if (handlers_.binding_revocation_acknowledgement)
            handlers_.binding_revocation_acknowledgement(packet.source, packet.destination, *bra);
        return;
    }
    if (const auto* bri = std::get_if<mh::BindingRevocationIndication>(&message)) {
        count("bri");
        // RFC 5846 section 6.1.2: a BRI from a non-unicast source is silently
        // discarded; any other is answered. lmad does not act on MAG-initiated
        // revocations (section 8.2) and says so.
        if (!unicast_source(packet.source))
            return count("bri_not_unicast");
        mh::BindingRevocationAcknowledgement bra;
        bra.status = 134;  // Revocation Function NOT Supported [section 5.2]
        bra.sequence = bri->sequence;
        bra.flags = bri->flags & (mh::revocation_flag::kP | mh::revocation_flag::kV |
                                  mh::revocation_flag::kG);
        transmitter_.send(packet.destination, packet.source, bra);
        log_drop(packet, "MAG-initiated Binding Revocation Indication answered with status 134");
        return count("bri_answered_not_supported");
    }
    if (const auto* ba = std::get_if<mh::BindingAcknowledgement>(&message);
        ba != nullptr && handlers_.proxy_binding_acknowledgement) {
        count("pba_from_maar");
        handlers_.proxy_binding_acknowledgement(packet.source, *ba);
        return;
    }
    if (const auto* upa = std::get_if<mh::UpdateNotificationAcknowledgement>(&message)) {
        count("upa");
        if (handlers_.update_notification_acknowledgement)
            handlers_.update_notification_acknowledgement(packet.source, *upa);
        return;
    }
    if (const auto* sq = std::get_if<mh::SubscriptionQuery>(&message)) {
        if (handlers_.subscription_query) {
            count("subscription_queries");
            return handlers_.subscription_query(packet.source, packet.destination, *sq);
        }
    }
    if (const auto* sr = std::get_if<mh::SubscriptionResponse>(&message)) {
        if (handlers_.subscription_response) {
            count("subscription_responses");
            return handlers_.subscription_response(packet.source, packet.destination, *sr);
        }
    }
    if (std::holds_alternative<mh::SubscriptionQuery>(message) ||
        std::holds_alternative<mh::SubscriptionResponse>(message)) {
        // SIAL disabled ([sial] enabled = false): answered as an MH type we do
        // not recognize (RFC 6275 section 9.2), which tells the peer so.
        return react(packet, mh::ParseError{mh::ParseErrorKind::kUnknownMessageType,
                                            mh::Reaction::kSendBindingErrorUnrecognizedType, 2});
    }
    count("unexpected_" + std::string(mh::message_kind(message)));
    log_drop(packet, std::string(mh::message_kind(message)) + " is not handled by an LMA");
}

void MhReceiver::ReplySender::send(const Ipv6Address& source, const Ipv6Address& destination,
                                   const mh::Message& message) {
    const auto* ba = std::get_if<mh::BindingAcknowledgement>(&message);
    // A PBA 154 answers a source that is not an authorized MAG, which may be
    // spoofed: such answers share the error token bucket (RFC 6275 9.2 rate
    // limits error answers), so a flood from unauthorized sources cannot make
    // lmad send PBAs to whomever the flood names faster than that.
    if (ba != nullptr && ba->status == mh::status::kMagNotAuthorizedForProxyReg) {
        if (!receiver_.errors_.take(receiver_.clock_.now()))
            return receiver_.count("pba_154_rate_limited");
        receiver_.count("pba_154_sent");
    }
    if (ba == nullptr || !receiver_.host_order_timestamp_peers_.count(destination) ||
        !mh::find_option<mh::Timestamp>(ba->options)) {
        return receiver_.transmitter_.send(source, destination, message);
    }
    mh::BindingAcknowledgement adapted = *ba;
    for (auto& o : adapted.options) {
        if (auto* ts = std::get_if<mh::Timestamp>(&o))
            ts->value = host_order_timestamp(ts->value);
    }
    receiver_.count("replies_adapted");
    receiver_.transmitter_.send(source, destination, adapted);
}

nlohmann::json MhReceiver::counters() const {
    nlohmann::json out = nlohmann::json::object();
    for (const auto& [name, value] : counters_) out[name] = value;
    out["received"] = received_;
    out["pbu"] = pbu_;
    return out;
}

std::uint64_t MhReceiver::counter(const std::string& name) const {
    if (name == "received")
        return received_;
    if (name == "pbu")
        return pbu_;
    const auto it = counters_.find(name);
    return it == counters_.end() ? 0 : it->second;
}

}  // namespace pmip::lma
