// RFC 6275 section 9.2 receiver checks and MH dispatch for magd. See mh_receiver.hpp.
#include "mh_receiver.hpp"

#include <algorithm>

namespace pmip::mag {

namespace {

// OAI pmip6d's NAI field (pmip_types.h NAI_SIZE): what it reads and echoes.
constexpr std::size_t kOaiNaiSize = 63;

std::uint32_t byteswap32(std::uint32_t v) {
    return (v >> 24) | ((v >> 8) & 0xff00u) | ((v << 8) & 0xff0000u) | (v << 24);
}

bool unicast(const Ipv6Address& a) {
    return a != Ipv6Address{} && !is_multicast(a);
}

}  // namespace

std::string modified_eui64_of_mac(const std::string& mac) {
    if (mac.size() != 6)
        return mac;
    std::string out;
    out += static_cast<char>(static_cast<std::uint8_t>(mac[0]) ^ 0x02);
    out += mac.substr(1, 2);
    out += '\xff';
    out += '\xfe';
    out += mac.substr(3, 3);
    return out;
}

std::optional<std::string> mac_of_modified_eui64(const std::string& eui64) {
    if (eui64.size() != 8 || static_cast<std::uint8_t>(eui64[3]) != 0xff ||
        static_cast<std::uint8_t>(eui64[4]) != 0xfe) {
        return std::nullopt;
    }
    std::string mac;
    mac += static_cast<char>(static_cast<std::uint8_t>(eui64[0]) ^ 0x02);
    mac += eui64.substr(1, 2);
    mac += eui64.substr(5, 3);
    return mac;
}

std::uint64_t host_order_timestamp(std::uint64_t value) {
    return static_cast<std::uint64_t>(byteswap32(static_cast<std::uint32_t>(value >> 32))) << 32 |
           byteswap32(static_cast<std::uint32_t>(value));
}

MagReceiver::MagReceiver(Ipv6Address proxy_coa, std::vector<LmaProfileRule> profiles,
                         std::uint32_t restart_counter, MhSender& transmitter,
                         MagReceiverHandlers handlers)
    : proxy_coa_(proxy_coa),
      profiles_(std::move(profiles)),
      restart_counter_(restart_counter),
      transmitter_(transmitter),
      handlers_(std::move(handlers)) {}

void MagReceiver::AdaptingSender::send(const Ipv6Address& source, const Ipv6Address& destination,
                                       const mh::Message& message) {
    if (profile_of(r_.profiles_, destination) != PeerProfile::kOai ||
        !std::holds_alternative<mh::BindingUpdate>(message)) {
        return r_.transmitter_.send(source, destination, message);
    }
    mh::Message adapted = message;
    r_.remember(destination, std::get<mh::BindingUpdate>(message));
    for (auto& o : mh::options_of(adapted)) {
        if (auto* id = std::get_if<mh::MobileNodeIdentifier>(&o);
            id && id->subtype == mh::mn_id_subtype::kNai) {
            if (id->identifier.size() < kOaiNaiSize) {
                id->identifier.resize(kOaiNaiSize, 0);
                r_.count("oai_nai_padded");
            } else if (id->identifier.size() > kOaiNaiSize) {
                r_.count("oai_nai_too_long");
                if (r_.oai_log_.allow()) {
                    PMIP_WARNING(kMh, "[mag mh peer=" + pmip::to_string(destination) + "]",
                                 "MN identifier longer than the 63 octets OAI/UMIP pmip6d reads: "
                                 "that LMA will not tell this MN from others; use a shorter NAI");
                }
            }
        } else if (auto* ll = std::get_if<mh::MobileNodeLinkLayerIdentifier>(&o); ll && ll->identifier.size() == 6) {
            const auto eui = modified_eui64_of_mac(std::string(ll->identifier.begin(), ll->identifier.end()));
            ll->identifier.assign(eui.begin(), eui.end());
        } else if (auto* ts = std::get_if<mh::Timestamp>(&o)) {
            ts->value = host_order_timestamp(ts->value);
        }
    }
    r_.count("adapted_out");
    r_.transmitter_.send(source, destination, adapted);
}

void MagReceiver::receive(const ReceivedPacket& packet) {
    count("received");
    const auto context = [&] { return "[mag mh peer=" + pmip::to_string(packet.source) + "]"; };
    if (packet.destination != proxy_coa_) {
        count("not_our_address");
        if (log::debug_enabled(log::Category::kMh) && drop_log_.allow()) {
            PMIP_DEBUG(kMh, context(),
                       "dropped: destination " + pmip::to_string(packet.destination) +
                           " is not our Proxy-CoA");
        }
        return;
    }
    const PeerProfile profile = profile_of(profiles_, packet.source);
    mh::ParseConfig parse_config;
    parse_config.lenient = profile == PeerProfile::kOai;
    parse_config.code_points = code_points_;
    auto result = mh::parse(packet.mh, parse_config);
    if (const auto* error = std::get_if<mh::ParseError>(&result)) {
        count("parse_" + std::string(mh::to_string(error->kind)));
        if (error->reaction == mh::Reaction::kSendBindingErrorUnrecognizedType)
            send_binding_error_unrecognized(packet.source);
        return;
    }
    auto& parsed = std::get<mh::Parsed>(result);
    for (const auto name : mh::quirk_names(parsed.quirks)) count("quirk_" + std::string(name));
    mh::Message& message = parsed.message;
    if ((std::holds_alternative<mh::SubscriptionQuery>(message) && !handlers_.subscription_query) ||
        (std::holds_alternative<mh::SubscriptionResponse>(message) && !handlers_.subscription_response)) {
        // SIAL off ([multicast] context-transfer = off): an MH type we do not
        // recognize (RFC 6275 section 9.2), as before the codec knew it.
        count("parse_" + std::string(mh::to_string(mh::ParseErrorKind::kUnknownMessageType)));
        return send_binding_error_unrecognized(packet.source);
    }
    if (auth_ != nullptr) {
        // RFC 5213 section 4: nothing unauthenticated acts on a binding.
        if (const auth::Verdict verdict = auth_->verify(packet, message); !auth::accepted(verdict)) {
            count("auth_" + std::string(auth::to_string(verdict)));
            if (auth_log_.allow()) {
                PMIP_WARNING(kMh, context(),
                             std::string(mh::message_kind(message)) + " failed authentication (" +
                                 std::string(auth::to_string(verdict)) + "): dropped");
            }
            return;
        }
    }
    if (auto* ba = std::get_if<mh::BindingAcknowledgement>(&message)) {
        if ((ba->flags & mh::ba_flag::kP) == 0 && profile != PeerProfile::kOai)
            return count("ba_not_proxy");
        count("pba");
        if (profile == PeerProfile::kOai) {
            for (auto& o : ba->options) {
                if (auto* ll = std::get_if<mh::MobileNodeLinkLayerIdentifier>(&o)) {
                    if (auto mac = mac_of_modified_eui64(std::string(ll->identifier.begin(), ll->identifier.end()))) {
                        ll->identifier.assign(mac->begin(), mac->end());
                        count("adapted_in");
                    }
                }
            }
            adapt_oai_pba(packet.source, *ba);
        }
        if (handlers_.pba)
            handlers_.pba(packet.source, *ba);
        return;
    }
    if (const auto* hb = std::get_if<mh::Heartbeat>(&message)) {
        if (!hb->is_response()) {
            count("heartbeat_requests");
            if (!unicast(packet.source))
                return count("heartbeat_requests_not_unicast");
            mh::Heartbeat response;
            response.flags = mh::heartbeat_flag::kR;
            response.sequence = hb->sequence;
            response.options.push_back(mh::RestartCounter{restart_counter_});
            transmitter_.send(proxy_coa_, packet.source, response);
            return count("heartbeat_responses_sent");
        }
        count("heartbeat_responses");
        std::optional<std::uint32_t> rc;
        if (const auto* o = mh::find_option<mh::RestartCounter>(hb->options))
            rc = o->value;
        if (handlers_.heartbeat_response) {
            handlers_.heartbeat_response(packet.source, hb->sequence, rc,
                                         (hb->flags & mh::heartbeat_flag::kU) != 0);
        }
        return;
    }
    if (const auto* be = std::get_if<mh::BindingError>(&message)) {
        count("binding_errors_received");
        if (be->status == 2 && handlers_.binding_error_unrecognized_type)
            handlers_.binding_error_unrecognized_type(packet.source);
        return;
    }
    if (const auto* sq = std::get_if<mh::SubscriptionQuery>(&message)) {
        count("subscription_queries");
        return handlers_.subscription_query(packet.source, *sq);
    }
    if (const auto* sr = std::get_if<mh::SubscriptionResponse>(&message)) {
        count("subscription_responses");
        return handlers_.subscription_response(packet.source, *sr);
    }
    if (const auto* bu = std::get_if<mh::BindingUpdate>(&message); bu != nullptr && handlers_.proxy_binding_update) {
        count("pbu_from_cmd");
        handlers_.proxy_binding_update(packet.source, packet.destination, *bu);
        return;
    }
    if (const auto* upn = std::get_if<mh::UpdateNotification>(&message)) {
        count("upn");
        if (handlers_.update_notification)
            handlers_.update_notification(packet.source, *upn);
        return;
    }
    if (const auto* bri = std::get_if<mh::BindingRevocationIndication>(&message)) {
        count("bri");
        if (handlers_.bri)
            handlers_.bri(packet.source, *bri);
        return;
    }
    count("unexpected_" + std::string(mh::message_kind(message)));
}

// RFC 6275 section 9.2: Binding Error status 2, never to a non-unicast
// source (section 9.3.3), rate limited.
void MagReceiver::send_binding_error_unrecognized(const Ipv6Address& source) {
    if (!unicast(source))
        return count("binding_errors_not_unicast");
    if (!errors_.allow())
        return count("binding_errors_rate_limited");
    mh::BindingError be;
    be.status = 2;
    transmitter_.send(proxy_coa_, source, be);
    count("binding_errors_sent");
}

void MagReceiver::remember(const Ipv6Address& lma, const mh::BindingUpdate& pbu) {
    SentPbu sent;
    for (const auto& o : pbu.options) {
        if (const auto* id = std::get_if<mh::MobileNodeIdentifier>(&o)) {
            sent.identifier_subtype = id->subtype;
            sent.identifier = id->identifier;
        } else if (const auto* h = std::get_if<mh::HomeNetworkPrefix>(&o); h && h->prefix != Ipv6Address{}) {
            sent.prefixes.push_back(canonical(Ipv6Prefix{h->prefix, h->prefix_length}));
        } else if (const auto* ll = std::get_if<mh::MobileNodeLinkLayerIdentifier>(&o)) {
            sent.link_layer = ll->identifier;
        }
    }
    const auto key = std::make_pair(lma, pbu.sequence);
    if (sent_.insert_or_assign(key, std::move(sent)).second) sent_order_.push_back(key);
    while (sent_.size() > kMaxRemembered && !sent_order_.empty()) {
        sent_.erase(sent_order_.front());
        sent_order_.pop_front();
        count("oai_pbu_forgotten");
    }
    // Keys answered (erased) early leave stale entries in the order list.
    if (sent_order_.size() > 2 * kMaxRemembered) {
        std::erase_if(sent_order_, [this](const auto& k) { return sent_.count(k) == 0; });
    }
}

void MagReceiver::adapt_oai_pba(const Ipv6Address& lma, mh::BindingAcknowledgement& pba) {
    const auto it = sent_.find({lma, pba.sequence});
    if (it == sent_.end()) return;
    const SentPbu sent = std::move(it->second);
    sent_.erase(it);
    const auto* ll = mh::find_option<mh::MobileNodeLinkLayerIdentifier>(pba.options);
    const bool same_link_layer = ll != nullptr && !sent.link_layer.empty() && ll->identifier == sent.link_layer;
    bool any_prefix = false;
    for (auto& o : pba.options) {
        if (auto* id = std::get_if<mh::MobileNodeIdentifier>(&o)) {
            if (id->subtype == sent.identifier_subtype && id->identifier == sent.identifier) continue;
            const auto& got = id->identifier;
            // The NAI padded with NULs (OAI's 63-octet field).
            const bool padded =
                got.size() > sent.identifier.size() &&
                std::equal(sent.identifier.begin(), sent.identifier.end(), got.begin()) &&
                std::all_of(got.begin() + static_cast<std::ptrdiff_t>(sent.identifier.size()), got.end(),
                            [](std::uint8_t c) { return c == 0; });
            // UMIP's own identifier: 00 00 + the MAC.
            const bool umip = got.size() == 8 && got[0] == 0 && got[1] == 0 && sent.link_layer.size() == 6 &&
                              std::equal(sent.link_layer.begin(), sent.link_layer.end(), got.begin() + 2);
            if (padded || umip || same_link_layer) {
                id->subtype = sent.identifier_subtype;
                id->identifier = sent.identifier;
                count("adapted_in_identifier");
            }
        } else if (auto* h = std::get_if<mh::HomeNetworkPrefix>(&o)) {
            if (h->prefix == Ipv6Address{}) continue;
            any_prefix = true;
            if (h->prefix_length != 128) continue;
            Ipv6Prefix mapped = canonical(Ipv6Prefix{h->prefix, 64});
            for (const auto& p : sent.prefixes) {
                if (p.length < 128 && contains(p, h->prefix)) {
                    mapped = p;
                    break;
                }
            }
            h->prefix = mapped.address;
            h->prefix_length = mapped.length;
            count("adapted_in_prefix");
        }
    }
    if (!any_prefix && pba.status < 128) {
        count("oai_no_prefix");
        if (oai_log_.allow()) {
            PMIP_WARNING(kMh, "[mag mh peer=" + pmip::to_string(lma) + "]",
                         "the oai LMA accepted a PBU without assigning a prefix (OAI/UMIP pmip6d "
                         "assign none themselves): give the MN a static prefix in magd's policy");
        }
    }
}

nlohmann::json MagReceiver::counters() const {
    nlohmann::json out = nlohmann::json::object();
    for (const auto& [k, v] : counters_) out[k] = v;
    return out;
}

std::uint64_t MagReceiver::counter(const std::string& name) const {
    const auto it = counters_.find(name);
    return it == counters_.end() ? 0 : it->second;
}

}  // namespace pmip::mag
