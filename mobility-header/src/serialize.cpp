// Mobility Header serializer [RFC 6275 sections 6.1, 6.2].
//
// Each option is preceded by the Pad1/PadN that puts its Type octet at an
// offset = y (mod x) for its xn+y alignment rule, and the message is padded
// to a multiple of 8 octets [RFC 6275 section 6.2; PROTOCOL.md 1.3].
#include "cursor.hpp"
#include "pmip/mh/codec.hpp"

namespace pmip::mh {

namespace {

// The layout of the HNP option (RFC 5213 8.3) that MNP, Anchored Prefix and
// Local Prefix (RFC 8885 4.3, 4.4) share: Reserved, Prefix Length, prefix.
template <typename Writer>
bool write_prefix(Writer& w, std::uint8_t prefix_length, const Ipv6Address& prefix) {
    if (prefix_length > 128) return false;
    w.u8(0);
    w.u8(prefix_length);
    w.bytes(prefix);
    return true;
}

using detail::Writer;

template <class... Ts>
struct Overloaded : Ts... {
    using Ts::operator()...;
};
template <class... Ts>
Overloaded(Ts...) -> Overloaded<Ts...>;

struct Alignment {
    std::uint8_t x = 1;
    std::uint8_t y = 0;
};

// Alignment rules [PROTOCOL.md 12.4 and the RFC section of each option].
Alignment alignment_of(const Option& option) {
    return std::visit(
        Overloaded{
            [](const BindingRefreshAdvice&) { return Alignment{2, 0}; },
            [](const AlternateCareOfAddress&) { return Alignment{8, 6}; },
            [](const MobileNetworkPrefix&) { return Alignment{8, 4}; },
            [](const MobileNodeIdentifier&) { return Alignment{1, 0}; },
            [](const MobilityMessageAuthentication&) { return Alignment{4, 1}; },
            [](const MobilityMessageReplayProtection&) { return Alignment{8, 2}; },
            [](const VendorSpecific&) { return Alignment{4, 2}; },
            [](const HomeNetworkPrefix&) { return Alignment{8, 4}; },
            [](const HandoffIndicator&) { return Alignment{1, 0}; },
            [](const AccessTechnologyType&) { return Alignment{1, 0}; },
            [](const MobileNodeLinkLayerIdentifier&) { return Alignment{4, 0}; },
            [](const LinkLocalAddress&) { return Alignment{8, 6}; },
            [](const Timestamp&) { return Alignment{8, 2}; },
            [](const RestartCounter&) { return Alignment{4, 2}; },
            [](const Ipv4HomeAddress&) { return Alignment{4, 0}; },
            [](const Ipv4AddressAcknowledgement&) { return Alignment{4, 0}; },
            [](const NatDetection&) { return Alignment{4, 0}; },
            [](const Ipv4CareOfAddress&) { return Alignment{4, 0}; },
            [](const GreKey&) { return Alignment{4, 0}; },
            [](const Ipv4HomeAddressRequest&) { return Alignment{4, 0}; },
            [](const Ipv4HomeAddressReply&) { return Alignment{4, 0}; },
            [](const Ipv4DefaultRouterAddress&) { return Alignment{4, 0}; },
            [](const Ipv4DhcpSupportMode&) { return Alignment{1, 0}; },
            [](const MobileNodeGroupIdentifier&) { return Alignment{4, 0}; },
            [](const ActiveMulticastSubscriptionIpv4&) { return Alignment{4, 1}; },
            [](const ActiveMulticastSubscriptionIpv6&) { return Alignment{8, 1}; },
            [](const MulticastSubscription&) { return Alignment{4, 0}; },
            [](const PreviousMaar&) { return Alignment{8, 4}; },
            [](const ServingMaar&) { return Alignment{8, 6}; },
            [](const AnchoredPrefix&) { return Alignment{8, 4}; },
            [](const LocalPrefix&) { return Alignment{8, 4}; },
            [](const DlifLinkLocalAddress&) { return Alignment{8, 6}; },
            [](const DlifLinkLayerAddress&) { return Alignment{4, 0}; },
            [](const UnknownOption&) { return Alignment{1, 0}; },
        },
        option);
}

void write_padding(Writer& w, std::size_t pad) {
    if (pad == 0) return;
    if (pad == 1) {
        w.u8(option_type::kPad1);
        return;
    }
    w.u8(option_type::kPadN);
    w.u8(static_cast<std::uint8_t>(pad - 2));
    w.zeros(pad - 2);
}

void pad_to(Writer& w, Alignment a) {
    const std::size_t off = w.offset();
    write_padding(w, (a.y + a.x - off % a.x) % a.x);
}

std::size_t mldv2_record_size(const MulticastAddressRecord& r) {
    return 20 + 16 * r.sources.size() + r.auxiliary_data.size();
}

bool write_mldv2_record(Writer& w, const MulticastAddressRecord& r) {
    if (r.auxiliary_data.size() % 4 != 0 || r.auxiliary_data.size() / 4 > 255 ||
        r.sources.size() > 0xffff) {
        return false;
    }
    w.u8(r.record_type);
    w.u8(static_cast<std::uint8_t>(r.auxiliary_data.size() / 4));
    w.u16(static_cast<std::uint16_t>(r.sources.size()));
    w.bytes(r.multicast_address);
    for (const auto& s : r.sources) w.bytes(s);
    w.bytes(r.auxiliary_data);
    return true;
}

// Option data length (the Length octet), or nullopt when it cannot be encoded.
std::optional<std::size_t> data_length(const Option& option) {
    return std::visit(
        Overloaded{
            [](const BindingRefreshAdvice&) -> std::optional<std::size_t> { return 2; },
            [](const AlternateCareOfAddress&) -> std::optional<std::size_t> { return 16; },
            [](const MobileNetworkPrefix&) -> std::optional<std::size_t> { return 18; },
            [](const MobileNodeIdentifier& o) -> std::optional<std::size_t> {
                return 1 + o.identifier.size();
            },
            [](const MobilityMessageAuthentication& o) -> std::optional<std::size_t> {
                return 5 + o.authentication_data.size();
            },
            [](const MobilityMessageReplayProtection&) -> std::optional<std::size_t> {
                return 8;
            },
            [](const VendorSpecific& o) -> std::optional<std::size_t> {
                return 5 + o.data.size();
            },
            [](const HomeNetworkPrefix&) -> std::optional<std::size_t> { return 18; },
            [](const HandoffIndicator&) -> std::optional<std::size_t> { return 2; },
            [](const AccessTechnologyType&) -> std::optional<std::size_t> { return 2; },
            [](const MobileNodeLinkLayerIdentifier& o) -> std::optional<std::size_t> {
                if (o.identifier.empty()) return std::nullopt;
                return 2 + o.identifier.size();
            },
            [](const LinkLocalAddress&) -> std::optional<std::size_t> { return 16; },
            [](const Timestamp&) -> std::optional<std::size_t> { return 8; },
            [](const RestartCounter&) -> std::optional<std::size_t> { return 4; },
            [](const Ipv4HomeAddress&) -> std::optional<std::size_t> { return 6; },
            [](const Ipv4AddressAcknowledgement&) -> std::optional<std::size_t> { return 6; },
            [](const NatDetection&) -> std::optional<std::size_t> { return 6; },
            [](const Ipv4CareOfAddress&) -> std::optional<std::size_t> { return 6; },
            [](const GreKey& o) -> std::optional<std::size_t> { return o.key ? 6 : 2; },
            [](const Ipv4HomeAddressRequest&) -> std::optional<std::size_t> { return 6; },
            [](const Ipv4HomeAddressReply&) -> std::optional<std::size_t> { return 6; },
            [](const Ipv4DefaultRouterAddress&) -> std::optional<std::size_t> { return 6; },
            [](const Ipv4DhcpSupportMode&) -> std::optional<std::size_t> { return 2; },
            [](const MobileNodeGroupIdentifier&) -> std::optional<std::size_t> { return 6; },
            [](const ActiveMulticastSubscriptionIpv4& o) -> std::optional<std::size_t> {
                if (o.igmp_type == 0x22) {
                    return 1 + 8 + 4 * o.sources.size() + o.auxiliary_data.size();
                }
                if (o.igmp_type == 0x12 || o.igmp_type == 0x16) return 5;
                return std::nullopt;
            },
            [](const ActiveMulticastSubscriptionIpv6& o) -> std::optional<std::size_t> {
                if (o.mld_type == 143) return 1 + mldv2_record_size(o.record);
                if (o.mld_type == 131) return 21;
                return std::nullopt;
            },
            [](const MulticastSubscription& o) -> std::optional<std::size_t> {
                std::size_t n = 2;
                for (const auto& r : o.records) n += mldv2_record_size(r);
                return n;
            },
            [](const PreviousMaar&) -> std::optional<std::size_t> { return 34; },
            [](const ServingMaar&) -> std::optional<std::size_t> { return 16; },
            [](const AnchoredPrefix&) -> std::optional<std::size_t> { return 18; },
            [](const LocalPrefix&) -> std::optional<std::size_t> { return 18; },
            [](const DlifLinkLocalAddress&) -> std::optional<std::size_t> { return 16; },
            [](const DlifLinkLayerAddress& o) -> std::optional<std::size_t> {
                if (o.address.empty() || o.address.size() > 253) return std::nullopt;
                return 2 + o.address.size();
            },
            [](const UnknownOption& o) -> std::optional<std::size_t> { return o.data.size(); },
        },
        option);
}

// Writes the data of one option (after Type and Length). False on a field
// value the format cannot hold.
bool write_option_data(Writer& w, const Option& option) {
    return std::visit(
        Overloaded{
            [&](const BindingRefreshAdvice& o) {
                w.u16(o.refresh_interval);
                return true;
            },
            [&](const AlternateCareOfAddress& o) {
                w.bytes(o.address);
                return true;
            },
            [&](const MobileNetworkPrefix& o) { return write_prefix(w, o.prefix_length, o.prefix); },
            [&](const MobileNodeIdentifier& o) {
                w.u8(o.subtype);
                w.bytes(o.identifier);
                return true;
            },
            [&](const MobilityMessageAuthentication& o) {
                w.u8(o.subtype);
                w.u32(o.mobility_spi);
                w.bytes(o.authentication_data);
                return true;
            },
            [&](const MobilityMessageReplayProtection& o) {
                w.u64(o.timestamp);
                return true;
            },
            [&](const VendorSpecific& o) {
                w.u32(o.vendor_id);
                w.u8(o.subtype);
                w.bytes(o.data);
                return true;
            },
            [&](const HomeNetworkPrefix& o) { return write_prefix(w, o.prefix_length, o.prefix); },
            [&](const HandoffIndicator& o) {
                w.u8(0);
                w.u8(o.value);
                return true;
            },
            [&](const AccessTechnologyType& o) {
                w.u8(0);
                w.u8(o.value);
                return true;
            },
            [&](const MobileNodeLinkLayerIdentifier& o) {
                w.u16(0);
                w.bytes(o.identifier);
                return true;
            },
            [&](const LinkLocalAddress& o) {
                w.bytes(o.address);
                return true;
            },
            [&](const Timestamp& o) {
                w.u64(o.value);
                return true;
            },
            [&](const RestartCounter& o) {
                w.u32(o.value);
                return true;
            },
            [&](const Ipv4HomeAddress& o) {
                if (o.prefix_length > 32) return false;
                w.u16(static_cast<std::uint16_t>(o.prefix_length << 10 |
                                                 (o.request_prefix ? 0x0200 : 0)));
                w.bytes(o.address);
                return true;
            },
            [&](const Ipv4AddressAcknowledgement& o) {
                if (o.prefix_length > 32) return false;
                w.u8(o.status);
                w.u8(static_cast<std::uint8_t>(o.prefix_length << 2));
                w.bytes(o.address);
                return true;
            },
            [&](const NatDetection& o) {
                w.u16(o.udp_encapsulation_required ? 0x8000 : 0);
                w.u32(o.refresh_time);
                return true;
            },
            [&](const Ipv4CareOfAddress& o) {
                w.u16(0);
                w.bytes(o.address);
                return true;
            },
            [&](const GreKey& o) {
                w.u16(0);
                if (o.key) w.u32(*o.key);
                return true;
            },
            [&](const Ipv4HomeAddressRequest& o) {
                if (o.prefix_length > 32) return false;
                w.u8(static_cast<std::uint8_t>(o.prefix_length << 2));
                w.u8(0);
                w.bytes(o.address);
                return true;
            },
            [&](const Ipv4HomeAddressReply& o) {
                if (o.prefix_length > 32) return false;
                w.u8(o.status);
                w.u8(static_cast<std::uint8_t>(o.prefix_length << 2));
                w.bytes(o.address);
                return true;
            },
            [&](const Ipv4DefaultRouterAddress& o) {
                w.u16(0);
                w.bytes(o.address);
                return true;
            },
            [&](const Ipv4DhcpSupportMode& o) {
                w.u16(o.dhcp_server ? 1 : 0);
                return true;
            },
            [&](const MobileNodeGroupIdentifier& o) {
                w.u8(o.subtype);
                w.u8(0);
                w.u32(o.group_identifier);
                return true;
            },
            [&](const ActiveMulticastSubscriptionIpv4& o) {
                w.u8(o.igmp_type);
                if (o.igmp_type != 0x22) {
                    w.bytes(o.group);
                    return true;
                }
                if (o.auxiliary_data.size() % 4 != 0 || o.auxiliary_data.size() / 4 > 255 ||
                    o.sources.size() > 0xffff) {
                    return false;
                }
                w.u8(o.record_type);
                w.u8(static_cast<std::uint8_t>(o.auxiliary_data.size() / 4));
                w.u16(static_cast<std::uint16_t>(o.sources.size()));
                w.bytes(o.group);
                for (const auto& s : o.sources) w.bytes(s);
                w.bytes(o.auxiliary_data);
                return true;
            },
            [&](const ActiveMulticastSubscriptionIpv6& o) {
                w.u8(o.mld_type);
                if (o.mld_type == 131) {
                    w.u32(0);
                    w.bytes(o.record.multicast_address);
                    return true;
                }
                return write_mldv2_record(w, o.record);
            },
            [&](const MulticastSubscription& o) {
                w.u16(0);
                for (const auto& r : o.records) {
                    if (!write_mldv2_record(w, r)) return false;
                }
                return true;
            },
            [&](const PreviousMaar& o) {
                if (o.prefix_length > 128) return false;
                w.u8(0);
                w.u8(o.prefix_length);
                w.bytes(o.previous_maar);
                w.bytes(o.home_network_prefix);
                return true;
            },
            [&](const ServingMaar& o) {
                w.bytes(o.serving_maar);
                return true;
            },
            [&](const AnchoredPrefix& o) { return write_prefix(w, o.prefix_length, o.prefix); },
            [&](const LocalPrefix& o) { return write_prefix(w, o.prefix_length, o.prefix); },
            [&](const DlifLinkLocalAddress& o) {
                w.bytes(o.address);
                return true;
            },
            [&](const DlifLinkLayerAddress& o) {
                w.u16(0);
                w.bytes(o.address);
                return true;
            },
            [&](const UnknownOption& o) {
                // Pad1 and PadN are generated here, never carried as options.
                if (o.type == option_type::kPad1 || o.type == option_type::kPadN) return false;
                w.bytes(o.data);
                return true;
            },
        },
        option);
}

// Fixed part of the message after the 6-octet common header.
void write_fixed(Writer& w, const Message& message) {
    std::visit(Overloaded{
                   [&](const BindingUpdate& m) {
                       w.u16(m.sequence);
                       w.u16(m.flags);
                       w.u16(m.lifetime);
                   },
                   [&](const BindingAcknowledgement& m) {
                       w.u8(m.status);
                       w.u8(m.flags);
                       w.u16(m.sequence);
                       w.u16(m.lifetime);
                   },
                   [&](const BindingError& m) {
                       w.u8(m.status);
                       w.u8(0);
                       w.bytes(m.home_address);
                   },
                   [&](const Heartbeat& m) {
                       w.u8(0);
                       w.u8(m.flags);
                       w.u32(m.sequence);
                   },
                   [&](const BindingRevocationIndication& m) {
                       w.u8(1);
                       w.u8(m.revocation_trigger);
                       w.u16(m.sequence);
                       w.u8(m.flags);
                       w.u8(0);
                   },
                   [&](const BindingRevocationAcknowledgement& m) {
                       w.u8(2);
                       w.u8(m.status);
                       w.u16(m.sequence);
                       w.u8(m.flags);
                       w.u8(0);
                   },
                   [&](const UpdateNotification& m) {
                       w.u16(m.sequence);
                       w.u16(m.notification_reason);
                       w.u8(m.flags);
                       w.u8(0);
                   },
                   [&](const UpdateNotificationAcknowledgement& m) {
                       w.u16(m.sequence);
                       w.u8(m.status);
                       w.zeros(3);
                   },
                   [&](const SubscriptionQuery& m) {
                       w.u8(m.sequence);
                       w.u8(0);
                   },
                   [&](const SubscriptionResponse& m) {
                       w.u8(m.sequence);
                       w.u8(m.flags);
                   },
               },
               message);
}

std::optional<SerializeError> write_message(Writer& w, const Message& message,
                                            const SerializeConfig& config) {
    w.u8(kIpProtoNone);
    w.u8(0);  // Header Len, patched below
    w.u8(static_cast<std::uint8_t>(message_type_of(message)));
    w.u8(0);
    w.u16(0);  // checksum: the kernel fills it, or fill_checksum()
    write_fixed(w, message);
    for (const Option& option : options_of(message)) {
        const auto len = data_length(option);
        if (!len) return SerializeError::kBadField;
        if (*len > 255) return SerializeError::kOptionTooLong;
        pad_to(w, alignment_of(option));
        w.u8(option_type_of(option, config.code_points));
        w.u8(static_cast<std::uint8_t>(*len));
        const std::size_t data_start = w.offset();
        if (!write_option_data(w, option)) return SerializeError::kBadField;
        if (w.offset() - data_start != *len) return SerializeError::kBadField;
    }
    pad_to(w, Alignment{8, 0});
    const std::size_t total = w.offset();
    if (total > 2048) return SerializeError::kMessageTooLong;
    w.patch_u8(1, static_cast<std::uint8_t>(total / 8 - 1));
    return std::nullopt;
}

}  // namespace

std::variant<std::size_t, SerializeError> serialized_size(const Message& message,
                                                          const SerializeConfig& config) {
    Writer w({});
    if (auto err = write_message(w, message, config)) return *err;
    return w.offset();
}

std::variant<std::size_t, SerializeError> serialize(const Message& message,
                                                    std::span<std::uint8_t> out,
                                                    const SerializeConfig& config) {
    Writer w(out);
    if (auto err = write_message(w, message, config)) return *err;
    if (w.overflow()) return SerializeError::kBufferTooSmall;
    return w.offset();
}

std::vector<std::uint8_t> serialize(const Message& message, const SerializeConfig& config,
                                    SerializeError* error) {
    std::vector<std::uint8_t> out(2048);
    const auto result = serialize(message, std::span<std::uint8_t>(out), config);
    if (const auto* err = std::get_if<SerializeError>(&result)) {
        if (error) *error = *err;
        return {};
    }
    out.resize(std::get<std::size_t>(result));
    return out;
}

std::string_view to_string(SerializeError error) {
    switch (error) {
        case SerializeError::kBufferTooSmall: return "buffer_too_small";
        case SerializeError::kMessageTooLong: return "message_too_long";
        case SerializeError::kOptionTooLong: return "option_too_long";
        case SerializeError::kBadField: return "bad_field";
    }
    return "unknown";
}

}  // namespace pmip::mh
