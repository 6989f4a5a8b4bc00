// Mobility Header parser [RFC 6275 sections 6.1, 6.2, 9.2].
//
// Receiver checks in the order RFC 6275 section 9.2 lists them (the checksum
// is verified in parse_with_checksum, checksum.cpp): length, Payload Proto,
// MH Type, Header Len against the type's fixed part, then the options. Each
// known option's Length is checked against its format; an unknown option is
// kept as raw bytes (section 6.2.1: skipped, never an error).
#include <algorithm>

#include "cursor.hpp"
#include "pmip/mh/codec.hpp"

namespace pmip::mh {

namespace {

using detail::Reader;

struct Context {
    const ParseConfig& config;
    std::uint32_t quirks = 0;
};

ParseError option_error(ParseErrorKind kind, std::size_t offset, std::uint8_t type) {
    return ParseError{kind, Reaction::kDropSilently, offset, type};
}

Ipv6Address read_ipv6(Reader& r) {
    Ipv6Address a{};
    r.copy_to(a);
    return a;
}

Ipv4Address read_ipv4(Reader& r) {
    Ipv4Address a{};
    r.copy_to(a);
    return a;
}

std::vector<std::uint8_t> to_vector(std::span<const std::uint8_t> s) {
    return std::vector<std::uint8_t>(s.begin(), s.end());
}

// One MLDv2 Multicast Address Record [RFC 3810 section 5.2.4] at the reader.
bool read_mldv2_record(Reader& r, MulticastAddressRecord& record) {
    record.record_type = r.u8();
    const std::size_t aux_words = r.u8();
    const std::size_t sources = r.u16();
    record.multicast_address = read_ipv6(r);
    if (!r.ok() || r.remaining() < sources * 16 + aux_words * 4) return false;
    record.sources.resize(sources);
    for (auto& s : record.sources) s = read_ipv6(r);
    record.auxiliary_data = to_vector(r.bytes(aux_words * 4));
    return r.ok();
}

// Seconds field of a 48.16 timestamp that a 2000..2200 clock could produce.
bool plausible_timestamp(std::uint64_t ts) {
    const std::uint64_t seconds = ts >> 16;
    return seconds >= 946684800ull && seconds < 7258118400ull;
}

std::uint32_t byteswap32(std::uint32_t v) {
    return (v >> 24) | ((v >> 8) & 0xff00u) | ((v << 8) & 0xff0000u) | (v << 24);
}

// OAI pmip6d writes the two 32-bit halves in host (little-endian) order
// [PROTOCOL.md Appendix I]. Only a value implausible as sent and plausible once
// swapped is taken as that quirk.
std::uint64_t lenient_timestamp(std::uint64_t raw, Context& ctx) {
    if (plausible_timestamp(raw)) return raw;
    const std::uint64_t halves_swapped =
        static_cast<std::uint64_t>(byteswap32(static_cast<std::uint32_t>(raw >> 32))) << 32 |
        byteswap32(static_cast<std::uint32_t>(raw));
    if (plausible_timestamp(halves_swapped)) {
        ctx.quirks |= quirk::kTimestampHostOrder;
        return halves_swapped;
    }
    const std::uint64_t fully_swapped =
        static_cast<std::uint64_t>(byteswap32(static_cast<std::uint32_t>(raw))) << 32 |
        byteswap32(static_cast<std::uint32_t>(raw >> 32));
    if (plausible_timestamp(fully_swapped)) {
        ctx.quirks |= quirk::kTimestampHostOrder;
        return fully_swapped;
    }
    return raw;
}

bool is_printable(std::span<const std::uint8_t> s) {
    return std::all_of(s.begin(), s.end(), [](std::uint8_t c) { return c >= 0x20 && c < 0x7f; });
}

// An NAI [RFC 4282] is text: a NUL octet in it is malformed, except for the
// shapes OAI and UMIP send, which lenient mode accepts and reports.
bool check_nai(std::span<const std::uint8_t> id, Context& ctx) {
    if (std::find(id.begin(), id.end(), 0) == id.end()) return true;
    if (!ctx.config.lenient) return false;
    if (std::all_of(id.begin(), id.end(), [](std::uint8_t c) { return c == 0; })) {
        ctx.quirks |= quirk::kEmptyNai;
        return true;
    }
    if (id.size() == 8 && id[0] == 0 && id[1] == 0) {
        ctx.quirks |= quirk::kBinaryMacNai;
        return true;
    }
    const auto first_nul = std::find(id.begin(), id.end(), 0);
    if (is_printable({id.begin(), first_nul}) &&
        std::all_of(first_nul, id.end(), [](std::uint8_t c) { return c == 0; })) {
        ctx.quirks |= quirk::kNulPaddedNai;
        return true;
    }
    return false;
}

// Parses the data of one option (Length octets, without Type and Length).
// `offset` is the option's Type octet in the MH, for error reports.
std::optional<ParseError> parse_option(std::uint8_t type, std::span<const std::uint8_t> data,
                                       std::size_t offset, Context& ctx, Options& out) {
    Reader r(data);
    const std::size_t len = data.size();
    auto bad_length = [&] { return option_error(ParseErrorKind::kOptionBadLength, offset, type); };
    auto bad_value = [&] { return option_error(ParseErrorKind::kOptionBadValue, offset, type); };
    using namespace option_type;

    if (type == ctx.config.code_points.multicast_subscription_option_type) {
        if (len < 2) return bad_length();
        r.skip(2);
        MulticastSubscription o;
        while (r.remaining() > 0) {
            MulticastAddressRecord record;
            if (!read_mldv2_record(r, record)) return bad_length();
            o.records.push_back(std::move(record));
        }
        out.emplace_back(std::move(o));
        return std::nullopt;
    }

    switch (type) {
        case kBindingRefreshAdvice:
            if (len != 2) return bad_length();
            out.emplace_back(BindingRefreshAdvice{r.u16()});
            return std::nullopt;
        case kAlternateCareOfAddress:
            if (len != 16) return bad_length();
            out.emplace_back(AlternateCareOfAddress{read_ipv6(r)});
            return std::nullopt;
        case kMobileNetworkPrefix:
        case kHomeNetworkPrefix:
        case kAnchoredPrefix:  // RFC 8885 4.3 and 4.4: laid out as the HNP option
        case kLocalPrefix: {
            if (len != 18) return bad_length();
            r.skip(1);
            const std::uint8_t prefix_length = r.u8();
            if (prefix_length > 128) return bad_value();
            const Ipv6Address prefix = read_ipv6(r);
            if (type == kHomeNetworkPrefix) {
                out.emplace_back(HomeNetworkPrefix{prefix_length, prefix});
            } else if (type == kMobileNetworkPrefix) {
                out.emplace_back(MobileNetworkPrefix{prefix_length, prefix});
            } else if (type == kAnchoredPrefix) {
                out.emplace_back(AnchoredPrefix{prefix_length, prefix});
            } else {
                out.emplace_back(LocalPrefix{prefix_length, prefix});
            }
            return std::nullopt;
        }
        case kMobileNodeIdentifier: {
            if (len < 1) return bad_length();
            MobileNodeIdentifier o;
            o.subtype = r.u8();
            const auto id = r.bytes(len - 1);
            if (o.subtype == mn_id_subtype::kNai && !check_nai(id, ctx)) return bad_value();
            o.identifier = to_vector(id);
            out.emplace_back(std::move(o));
            return std::nullopt;
        }
        case kMobilityMessageAuthentication: {
            if (len < 5) return bad_length();
            MobilityMessageAuthentication o;
            o.subtype = r.u8();
            o.mobility_spi = r.u32();
            o.authentication_data = to_vector(r.bytes(len - 5));
            out.emplace_back(std::move(o));
            return std::nullopt;
        }
        case kMobilityMessageReplayProtection:
            if (len != 8) return bad_length();
            out.emplace_back(MobilityMessageReplayProtection{r.u64()});
            return std::nullopt;
        case kVendorSpecific: {
            if (len < 5) return bad_length();
            VendorSpecific o;
            o.vendor_id = r.u32();
            o.subtype = r.u8();
            o.data = to_vector(r.bytes(len - 5));
            out.emplace_back(std::move(o));
            return std::nullopt;
        }
        case kHandoffIndicator:
            if (len != 2) return bad_length();
            r.skip(1);
            out.emplace_back(HandoffIndicator{r.u8()});
            return std::nullopt;
        case kAccessTechnologyType:
            if (len != 2) return bad_length();
            r.skip(1);
            out.emplace_back(AccessTechnologyType{r.u8()});
            return std::nullopt;
        case kMobileNodeLinkLayerIdentifier: {
            if (len < 3) return bad_length();
            r.skip(2);
            MobileNodeLinkLayerIdentifier o;
            o.identifier = to_vector(r.bytes(len - 2));
            // OAI sends the modified EUI-64 interface identifier derived from
            // the MAC (octets 3-4 ff:fe) instead of the MAC itself.
            if (ctx.config.lenient && o.identifier.size() == 8 && o.identifier[3] == 0xff &&
                o.identifier[4] == 0xfe) {
                ctx.quirks |= quirk::kEui64LinkLayerIdentifier;
            }
            out.emplace_back(std::move(o));
            return std::nullopt;
        }
        case kLinkLocalAddress:
            if (len != 16) return bad_length();
            out.emplace_back(LinkLocalAddress{read_ipv6(r)});
            return std::nullopt;
        case kTimestamp: {
            if (len != 8) return bad_length();
            std::uint64_t value = r.u64();
            if (ctx.config.lenient) value = lenient_timestamp(value, ctx);
            out.emplace_back(Timestamp{value});
            return std::nullopt;
        }
        case kRestartCounter:
            if (len != 4) return bad_length();
            out.emplace_back(RestartCounter{r.u32()});
            return std::nullopt;
        // The IPv4 prefix-length fields are 6 bits wide, but an IPv4 prefix
        // is at most 32 bits long: 33-63 is malformed (RFC 5555, RFC 5844).
        case kIpv4HomeAddress: {
            if (len != 6) return bad_length();
            const std::uint16_t bits = r.u16();
            if ((bits >> 10) > 32) return bad_value();
            out.emplace_back(Ipv4HomeAddress{static_cast<std::uint8_t>(bits >> 10),
                                             (bits & 0x0200) != 0, read_ipv4(r)});
            return std::nullopt;
        }
        case kIpv4AddressAcknowledgement:
        case kIpv4HomeAddressReply: {
            if (len != 6) return bad_length();
            const std::uint8_t st = r.u8();
            const std::uint8_t plen = static_cast<std::uint8_t>(r.u8() >> 2);
            if (plen > 32) return bad_value();
            const Ipv4Address a = read_ipv4(r);
            if (type == kIpv4HomeAddressReply) {
                out.emplace_back(Ipv4HomeAddressReply{st, plen, a});
            } else {
                out.emplace_back(Ipv4AddressAcknowledgement{st, plen, a});
            }
            return std::nullopt;
        }
        case kNatDetection: {
            if (len != 6) return bad_length();
            const std::uint16_t bits = r.u16();
            out.emplace_back(NatDetection{(bits & 0x8000) != 0, r.u32()});
            return std::nullopt;
        }
        case kIpv4CareOfAddress:
            if (len != 6) return bad_length();
            r.skip(2);
            out.emplace_back(Ipv4CareOfAddress{read_ipv4(r)});
            return std::nullopt;
        case kGreKey: {
            if (len != 2 && len != 6) return bad_length();
            r.skip(2);
            GreKey o;
            if (len == 6) o.key = r.u32();
            out.emplace_back(o);
            return std::nullopt;
        }
        case kIpv4HomeAddressRequest: {
            if (len != 6) return bad_length();
            const std::uint8_t plen = static_cast<std::uint8_t>(r.u8() >> 2);
            if (plen > 32) return bad_value();
            r.skip(1);
            out.emplace_back(Ipv4HomeAddressRequest{plen, read_ipv4(r)});
            return std::nullopt;
        }
        case kIpv4DefaultRouterAddress:
            if (len != 6) return bad_length();
            r.skip(2);
            out.emplace_back(Ipv4DefaultRouterAddress{read_ipv4(r)});
            return std::nullopt;
        case kIpv4DhcpSupportMode:
            if (len != 2) return bad_length();
            out.emplace_back(Ipv4DhcpSupportMode{(r.u16() & 0x0001) != 0});
            return std::nullopt;
        case kMobileNodeGroupIdentifier: {
            if (len != 6) return bad_length();
            const std::uint8_t subtype = r.u8();
            r.skip(1);
            out.emplace_back(MobileNodeGroupIdentifier{subtype, r.u32()});
            return std::nullopt;
        }
        case kActiveMulticastSubscriptionIpv4: {
            if (len < 1) return bad_length();
            ActiveMulticastSubscriptionIpv4 o;
            o.igmp_type = r.u8();
            if (o.igmp_type == 0x22) {  // IGMPv3 group record [RFC 3376 section 4.2.4]
                o.record_type = r.u8();
                const std::size_t aux_words = r.u8();
                const std::size_t sources = r.u16();
                o.group = read_ipv4(r);
                if (!r.ok() || r.remaining() != sources * 4 + aux_words * 4) return bad_length();
                o.sources.resize(sources);
                for (auto& s : o.sources) s = read_ipv4(r);
                o.auxiliary_data = to_vector(r.bytes(aux_words * 4));
            } else if (o.igmp_type == 0x12 || o.igmp_type == 0x16) {
                if (len != 5) return bad_length();
                o.group = read_ipv4(r);
            } else {
                return bad_value();
            }
            out.emplace_back(std::move(o));
            return std::nullopt;
        }
        case kActiveMulticastSubscriptionIpv6: {
            if (len < 1) return bad_length();
            ActiveMulticastSubscriptionIpv6 o;
            o.mld_type = r.u8();
            if (o.mld_type == 143) {
                if (!read_mldv2_record(r, o.record) || r.remaining() != 0) return bad_length();
            } else if (o.mld_type == 131) {
                if (len != 21) return bad_length();
                r.skip(4);
                o.record.multicast_address = read_ipv6(r);
            } else {
                return bad_value();
            }
            out.emplace_back(std::move(o));
            return std::nullopt;
        }
        case kPreviousMaar: {
            if (len != 34) return bad_length();
            r.skip(1);
            PreviousMaar o;
            o.prefix_length = r.u8();
            if (o.prefix_length > 128) return bad_value();
            o.previous_maar = read_ipv6(r);
            o.home_network_prefix = read_ipv6(r);
            out.emplace_back(o);
            return std::nullopt;
        }
        case kServingMaar:
            if (len != 16) return bad_length();
            out.emplace_back(ServingMaar{read_ipv6(r)});
            return std::nullopt;
        case kDlifLinkLocalAddress:
            if (len != 16) return bad_length();
            out.emplace_back(DlifLinkLocalAddress{read_ipv6(r)});
            return std::nullopt;
        case kDlifLinkLayerAddress: {
            if (len < 3) return bad_length();
            r.skip(2);
            out.emplace_back(DlifLinkLayerAddress{to_vector(r.bytes(len - 2))});
            return std::nullopt;
        }
        default:
            out.emplace_back(UnknownOption{type, to_vector(data)});
            return std::nullopt;
    }
}

// Options between [begin, end) of the MH [RFC 6275 section 6.2.1].
std::optional<ParseError> parse_options(std::span<const std::uint8_t> mh, std::size_t begin,
                                        std::size_t end, Context& ctx, Options& out) {
    std::size_t pos = begin;
    // A PBU carries 5-8 options: one allocation instead of four growing ones.
    if (begin < end) out.reserve(out.size() + std::min<std::size_t>((end - begin) / 4, 8));
    while (pos < end) {
        const std::uint8_t type = mh[pos];
        if (type == option_type::kPad1) {
            ++pos;
            continue;
        }
        if (end - pos < 2 || end - pos - 2 < mh[pos + 1]) {
            return option_error(ParseErrorKind::kOptionTruncated, pos, type);
        }
        const std::size_t len = mh[pos + 1];
        if (type != option_type::kPadN) {
            if (auto err = parse_option(type, mh.subspan(pos + 2, len), pos, ctx, out)) return err;
        }
        pos += 2 + len;
    }
    return std::nullopt;
}

// Octets of the fixed part (from offset 0) for each implemented MH type.
std::optional<std::size_t> fixed_size(std::uint8_t mh_type) {
    switch (static_cast<MessageType>(mh_type)) {
        case MessageType::kBindingUpdate:
        case MessageType::kBindingAcknowledgement:
        case MessageType::kHeartbeat:
        case MessageType::kBindingRevocation:
        case MessageType::kUpdateNotification:
        case MessageType::kUpdateNotificationAck:
            return 12;
        case MessageType::kBindingError:
            return 24;
        case MessageType::kSubscriptionQuery:
        case MessageType::kSubscriptionResponse:
            return 8;
    }
    return std::nullopt;
}

// The fixed part of `mh_type` (already known to be implemented and to fit).
Message parse_fixed(std::uint8_t mh_type, Reader& r) {
    switch (static_cast<MessageType>(mh_type)) {
        case MessageType::kBindingUpdate: {
            BindingUpdate m;
            m.sequence = r.u16();
            m.flags = r.u16();
            m.lifetime = r.u16();
            return m;
        }
        case MessageType::kBindingAcknowledgement: {
            BindingAcknowledgement m;
            m.status = r.u8();
            m.flags = r.u8();
            m.sequence = r.u16();
            m.lifetime = r.u16();
            return m;
        }
        case MessageType::kBindingError: {
            BindingError m;
            m.status = r.u8();
            r.skip(1);
            m.home_address = read_ipv6(r);
            return m;
        }
        case MessageType::kHeartbeat: {
            Heartbeat m;
            r.skip(1);
            m.flags = r.u8();
            m.sequence = r.u32();
            return m;
        }
        case MessageType::kBindingRevocation: {
            const std::uint8_t br_type = r.u8();
            if (br_type == 1) {
                BindingRevocationIndication m;
                m.revocation_trigger = r.u8();
                m.sequence = r.u16();
                m.flags = r.u8();
                r.skip(1);
                return m;
            }
            BindingRevocationAcknowledgement m;
            m.status = r.u8();
            m.sequence = r.u16();
            m.flags = r.u8();
            r.skip(1);
            return m;
        }
        case MessageType::kUpdateNotification: {
            UpdateNotification m;
            m.sequence = r.u16();
            m.notification_reason = r.u16();
            m.flags = r.u8();
            r.skip(1);
            return m;
        }
        case MessageType::kUpdateNotificationAck: {
            UpdateNotificationAcknowledgement m;
            m.sequence = r.u16();
            m.status = r.u8();
            r.skip(3);
            return m;
        }
        case MessageType::kSubscriptionQuery: {
            SubscriptionQuery m;
            m.sequence = r.u8();
            r.skip(1);
            return m;
        }
        case MessageType::kSubscriptionResponse: {
            SubscriptionResponse m;
            m.sequence = r.u8();
            m.flags = r.u8();
            return m;
        }
    }
    return BindingUpdate{};  // unreachable: callers check fixed_size() first
}

bool looks_like_proxy_ack(const BindingAcknowledgement& ba) {
    return !ba.is_proxy() && (find_option<HomeNetworkPrefix>(ba.options) != nullptr ||
                              find_option<MobileNodeIdentifier>(ba.options) != nullptr);
}

}  // namespace

ParseResult parse(std::span<const std::uint8_t> mh, const ParseConfig& config) {
    // RFC 6275 section 9.2: a message shorter than its own length fields is
    // dropped; there is nothing trustworthy to answer.
    if (mh.size() < 8) return ParseError{ParseErrorKind::kTruncated, Reaction::kDropSilently, 0, 0};
    const std::size_t declared = (static_cast<std::size_t>(mh[1]) + 1) * 8;
    if (declared > mh.size()) {
        return ParseError{ParseErrorKind::kTruncated, Reaction::kDropSilently, 1, 0};
    }
    if (mh[0] != kIpProtoNone) {
        return ParseError{ParseErrorKind::kBadPayloadProto, Reaction::kSendIcmpParameterProblem,
                          0, 0};
    }
    const std::uint8_t mh_type = mh[2];
    const auto fixed = fixed_size(mh_type);
    if (!fixed) {
        return ParseError{ParseErrorKind::kUnknownMessageType,
                          Reaction::kSendBindingErrorUnrecognizedType, 2, 0};
    }
    if (declared < *fixed) {
        return ParseError{ParseErrorKind::kHeaderLengthTooShort,
                          Reaction::kSendIcmpParameterProblem, 1, 0};
    }
    if (static_cast<MessageType>(mh_type) == MessageType::kBindingRevocation && mh[6] != 1 &&
        mh[6] != 2) {
        return ParseError{ParseErrorKind::kUnknownRevocationType, Reaction::kDropSilently, 6, 0};
    }

    Reader r(mh.subspan(6, *fixed - 6));
    Parsed parsed{parse_fixed(mh_type, r), 0, declared, mh.size() - declared};
    Context ctx{config};
    Options& options = options_of(parsed.message);

    // OAI pmip6d declares up to 8 octets less than it sends, with options in
    // the rest [PROTOCOL.md Appendix I]. Lenient mode reads them when they parse.
    if (config.lenient && parsed.trailing_octets > 0 && parsed.trailing_octets <= 8) {
        Options extended;
        Context extended_ctx{config};
        if (!parse_options(mh, *fixed, mh.size(), extended_ctx, extended)) {
            options = std::move(extended);
            parsed.quirks = extended_ctx.quirks | quirk::kHeaderLengthShort;
            parsed.length = mh.size();
            parsed.trailing_octets = 0;
        }
    }
    if (parsed.length == declared) {
        if (auto err = parse_options(mh, *fixed, declared, ctx, options)) return *err;
        parsed.quirks = ctx.quirks;
    }
    if (config.lenient) {
        if (auto* ba = std::get_if<BindingAcknowledgement>(&parsed.message);
            ba && looks_like_proxy_ack(*ba)) {
            parsed.quirks |= quirk::kProxyAckWithoutProxyFlag;
        }
    }
    return parsed;
}

std::optional<std::uint8_t> check_proxy_binding_update(const BindingUpdate& pbu) {
    // RFC 5213 section 5.3.1 step 4.
    if (mn_identifier_missing(pbu)) return status::kMissingMnIdentifierOption;
    // Step 10, with RFC 5844 section 3.1.2: an IPv4 HoA Request stands in.
    const std::size_t prefixes = count_options<HomeNetworkPrefix>(pbu.options);
    if (prefixes == 0 && find_option<Ipv4HomeAddressRequest>(pbu.options) == nullptr) {
        return status::kMissingHomeNetworkPrefixOption;
    }
    // Steps 11 and 12.
    if (find_option<HandoffIndicator>(pbu.options) == nullptr) {
        return status::kMissingHandoffIndicatorOption;
    }
    if (find_option<AccessTechnologyType>(pbu.options) == nullptr) {
        return status::kMissingAccessTechTypeOption;
    }
    // RFC 5213 section 6.9.1.1: an ALL_ZERO HNP must be the only HNP option.
    if (prefixes > 1) {
        for (const auto& o : pbu.options) {
            const auto* hnp = std::get_if<HomeNetworkPrefix>(&o);
            if (hnp && hnp->prefix == Ipv6Address{}) return status::kReasonUnspecified;
        }
    }
    return std::nullopt;
}

bool mn_identifier_missing(const BindingUpdate& pbu) {
    return find_option<MobileNodeIdentifier>(pbu.options) == nullptr;
}

std::uint64_t make_timestamp(std::uint64_t seconds_since_epoch, std::uint32_t nanoseconds) {
    const std::uint64_t fraction = (static_cast<std::uint64_t>(nanoseconds) << 16) / 1000000000u;
    return (seconds_since_epoch << 16) | (fraction & 0xffff);
}

std::uint64_t timestamp_seconds(std::uint64_t timestamp) { return timestamp >> 16; }

std::string_view to_string(ParseErrorKind kind) {
    switch (kind) {
        case ParseErrorKind::kTruncated: return "truncated";
        case ParseErrorKind::kBadPayloadProto: return "bad_payload_proto";
        case ParseErrorKind::kUnknownMessageType: return "unknown_message_type";
        case ParseErrorKind::kHeaderLengthTooShort: return "header_length_too_short";
        case ParseErrorKind::kBadChecksum: return "bad_checksum";
        case ParseErrorKind::kOptionTruncated: return "option_truncated";
        case ParseErrorKind::kOptionBadLength: return "option_bad_length";
        case ParseErrorKind::kOptionBadValue: return "option_bad_value";
        case ParseErrorKind::kUnknownRevocationType: return "unknown_revocation_type";
    }
    return "unknown";
}

std::string_view to_string(Reaction reaction) {
    switch (reaction) {
        case Reaction::kDropSilently: return "drop";
        case Reaction::kSendBindingErrorUnrecognizedType: return "binding_error_2";
        case Reaction::kSendIcmpParameterProblem: return "icmp_parameter_problem";
    }
    return "unknown";
}

std::vector<std::string_view> quirk_names(std::uint32_t quirks) {
    static constexpr std::string_view kNames[] = {
        "header_length_short",   "timestamp_host_order",     "empty_nai",
        "binary_mac_nai",        "eui64_link_layer_identifier", "proxy_ack_without_p_flag",
        "nul_padded_nai",
    };
    std::vector<std::string_view> names;
    for (std::size_t i = 0; i < std::size(kNames); ++i) {
        if (quirks & (1u << i)) names.push_back(kNames[i]);
    }
    return names;
}

}  // namespace pmip::mh
