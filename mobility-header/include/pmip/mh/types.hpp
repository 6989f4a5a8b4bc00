// Mobility Header codec: basic value types and code points.
//
// Every number here is a wire code point from ../shared/PROTOCOL.md section 12
// (RFC 6275 section 6, RFC 5213 section 8, and the later RFCs cited beside each
// value). No I/O, no clock, no allocation.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace pmip::mh {

using Ipv6Address = std::array<std::uint8_t, 16>;
using Ipv4Address = std::array<std::uint8_t, 4>;

inline constexpr std::uint8_t kIpProtoMobilityHeader = 135;  // RFC 6275 section 6.1
inline constexpr std::uint8_t kIpProtoNone = 59;             // MH Payload Proto

// Textual forms (RFC 5952 for IPv6). parse_* return nullopt on bad input.
std::string to_string(const Ipv6Address& address);
std::string to_string(const Ipv4Address& address);
std::optional<Ipv6Address> parse_ipv6_address(std::string_view text);
std::optional<Ipv4Address> parse_ipv4_address(std::string_view text);

// MH Type values [RFC 6275 section 6.1; PROTOCOL.md 12.3]. Only the types this
// codec decodes are named; any other value is an unrecognized MH type.
enum class MessageType : std::uint8_t {
    kBindingUpdate = 5,
    kBindingAcknowledgement = 6,
    kBindingError = 7,
    kHeartbeat = 13,               // RFC 5847
    kBindingRevocation = 16,       // RFC 5846 (BRI / BRA by octet 6)
    kUpdateNotification = 19,      // RFC 7077
    kUpdateNotificationAck = 20,   // RFC 7077
    kSubscriptionQuery = 22,       // RFC 7161 section 4.3.1
    kSubscriptionResponse = 23,    // RFC 7161 section 4.3.2
};

// Mobility option types [PROTOCOL.md 12.4].
namespace option_type {
inline constexpr std::uint8_t kPad1 = 0;
inline constexpr std::uint8_t kPadN = 1;
inline constexpr std::uint8_t kBindingRefreshAdvice = 2;
inline constexpr std::uint8_t kAlternateCareOfAddress = 3;
inline constexpr std::uint8_t kMobileNetworkPrefix = 6;            // RFC 3963
inline constexpr std::uint8_t kMobileNodeIdentifier = 8;           // RFC 4283
inline constexpr std::uint8_t kMobilityMessageAuthentication = 9;  // RFC 4285
inline constexpr std::uint8_t kMobilityMessageReplayProtection = 10;  // RFC 4285
inline constexpr std::uint8_t kVendorSpecific = 19;                // RFC 5094
inline constexpr std::uint8_t kHomeNetworkPrefix = 22;             // RFC 5213
inline constexpr std::uint8_t kHandoffIndicator = 23;
inline constexpr std::uint8_t kAccessTechnologyType = 24;
inline constexpr std::uint8_t kMobileNodeLinkLayerIdentifier = 25;
inline constexpr std::uint8_t kLinkLocalAddress = 26;
inline constexpr std::uint8_t kTimestamp = 27;
inline constexpr std::uint8_t kRestartCounter = 28;                // RFC 5847
inline constexpr std::uint8_t kIpv4HomeAddress = 29;               // RFC 5555
inline constexpr std::uint8_t kIpv4AddressAcknowledgement = 30;
inline constexpr std::uint8_t kNatDetection = 31;
inline constexpr std::uint8_t kIpv4CareOfAddress = 32;
inline constexpr std::uint8_t kGreKey = 33;                        // RFC 5845
inline constexpr std::uint8_t kIpv4HomeAddressRequest = 36;        // RFC 5844
inline constexpr std::uint8_t kIpv4HomeAddressReply = 37;
inline constexpr std::uint8_t kIpv4DefaultRouterAddress = 38;
inline constexpr std::uint8_t kIpv4DhcpSupportMode = 39;
inline constexpr std::uint8_t kMobileNodeGroupIdentifier = 50;     // RFC 6602
inline constexpr std::uint8_t kActiveMulticastSubscriptionIpv4 = 56;  // RFC 7161
inline constexpr std::uint8_t kActiveMulticastSubscriptionIpv6 = 57;  // RFC 7161
inline constexpr std::uint8_t kAnchoredPrefix = 65;                // RFC 8885
inline constexpr std::uint8_t kLocalPrefix = 66;                   // RFC 8885
inline constexpr std::uint8_t kPreviousMaar = 67;                  // RFC 8885
inline constexpr std::uint8_t kServingMaar = 68;                   // RFC 8885
inline constexpr std::uint8_t kDlifLinkLocalAddress = 69;          // RFC 8885
inline constexpr std::uint8_t kDlifLinkLayerAddress = 70;          // RFC 8885
}  // namespace option_type

// Binding Update flags (16-bit field at offset 8) [PROTOCOL.md 1.4].
namespace bu_flag {
inline constexpr std::uint16_t kA = 0x8000;
inline constexpr std::uint16_t kH = 0x4000;
inline constexpr std::uint16_t kL = 0x2000;
inline constexpr std::uint16_t kK = 0x1000;
inline constexpr std::uint16_t kM = 0x0800;
inline constexpr std::uint16_t kR = 0x0400;
inline constexpr std::uint16_t kP = 0x0200;  // proxy registration, RFC 5213
inline constexpr std::uint16_t kF = 0x0100;  // RFC 5555
inline constexpr std::uint16_t kT = 0x0080;  // RFC 5845
inline constexpr std::uint16_t kB = 0x0040;  // RFC 6602
inline constexpr std::uint16_t kS = 0x0020;  // RFC 7161 (IANA value)
inline constexpr std::uint16_t kD = 0x0010;  // RFC 8885
}  // namespace bu_flag

// Binding Acknowledgement flags (8-bit field at offset 7) [PROTOCOL.md 1.5].
namespace ba_flag {
inline constexpr std::uint8_t kK = 0x80;
inline constexpr std::uint8_t kR = 0x40;
inline constexpr std::uint8_t kP = 0x20;
inline constexpr std::uint8_t kT = 0x10;
inline constexpr std::uint8_t kB = 0x08;
inline constexpr std::uint8_t kS = 0x04;
inline constexpr std::uint8_t kD = 0x02;
}  // namespace ba_flag

// Binding Acknowledgement status codes used by PMIPv6 [PROTOCOL.md 2.5, 12.5].
namespace status {
inline constexpr std::uint8_t kAccepted = 0;
inline constexpr std::uint8_t kGreKeyOptionNotRequired = 2;
inline constexpr std::uint8_t kGreTunnelingButTlvHeaderNotSupported = 3;
inline constexpr std::uint8_t kReasonUnspecified = 128;
inline constexpr std::uint8_t kAdministrativelyProhibited = 129;
inline constexpr std::uint8_t kInsufficientResources = 130;
inline constexpr std::uint8_t kSequenceNumberOutOfWindow = 135;
inline constexpr std::uint8_t kMipv6AuthFail = 146;  // RFC 4285 section 8
inline constexpr std::uint8_t kProxyRegNotEnabled = 152;
inline constexpr std::uint8_t kNotLmaForThisMobileNode = 153;
inline constexpr std::uint8_t kMagNotAuthorizedForProxyReg = 154;
inline constexpr std::uint8_t kNotAuthorizedForHomeNetworkPrefix = 155;
inline constexpr std::uint8_t kTimestampMismatch = 156;
inline constexpr std::uint8_t kTimestampLowerThanPrevAccepted = 157;
inline constexpr std::uint8_t kMissingHomeNetworkPrefixOption = 158;
inline constexpr std::uint8_t kBcePbuPrefixSetDoNotMatch = 159;
inline constexpr std::uint8_t kMissingMnIdentifierOption = 160;
inline constexpr std::uint8_t kMissingHandoffIndicatorOption = 161;
inline constexpr std::uint8_t kMissingAccessTechTypeOption = 162;
inline constexpr std::uint8_t kGreKeyOptionRequired = 163;
}  // namespace status

// Name of a BA status code ("PROXY_REG_NOT_ENABLED", ...), or "" if unnamed.
std::string_view status_name(std::uint8_t status);

// MN Identifier subtypes [RFC 4283; RFC 8371 section 6].
namespace mn_id_subtype {
inline constexpr std::uint8_t kNai = 1;
inline constexpr std::uint8_t kIpv6Address = 2;
inline constexpr std::uint8_t kImsi = 3;
inline constexpr std::uint8_t kPTmsi = 4;
inline constexpr std::uint8_t kEui48 = 5;
inline constexpr std::uint8_t kEui64 = 6;
inline constexpr std::uint8_t kGuti = 7;
inline constexpr std::uint8_t kDuid = 8;
}  // namespace mn_id_subtype

// Handoff Indicator values [RFC 5213 section 8.4; RFC 7864].
namespace handoff_indicator {
inline constexpr std::uint8_t kNewInterface = 1;
inline constexpr std::uint8_t kHandoffBetweenInterfaces = 2;
inline constexpr std::uint8_t kHandoffBetweenMags = 3;
inline constexpr std::uint8_t kUnknown = 4;
inline constexpr std::uint8_t kNotChanged = 5;
inline constexpr std::uint8_t kNewInterfaceSharingPrefixes = 6;
}  // namespace handoff_indicator

// Heartbeat flags (octet 7) [RFC 5847 section 5.1].
namespace heartbeat_flag {
inline constexpr std::uint8_t kU = 0x02;
inline constexpr std::uint8_t kR = 0x01;
}  // namespace heartbeat_flag

// Binding Revocation flags (octet 10) [RFC 5846 section 6.1].
namespace revocation_flag {
inline constexpr std::uint8_t kP = 0x80;
inline constexpr std::uint8_t kV = 0x40;
inline constexpr std::uint8_t kG = 0x20;
}  // namespace revocation_flag

// Update Notification flags (octet 10) [RFC 7077 section 4.1].
namespace update_notification_flag {
inline constexpr std::uint8_t kA = 0x80;
inline constexpr std::uint8_t kD = 0x40;
}  // namespace update_notification_flag

// Subscription Response flags (octet 7) [RFC 7161 section 4.3.2.2].
namespace subscription_response_flag {
inline constexpr std::uint8_t kI = 0x80;  // multicast subscription information present
}  // namespace subscription_response_flag

// Configurable code points of the draft-asaeda multicast extension
// (PROTOCOL.md 9.1). The draft asks for BU flag 0x0100, which IANA assigned to
// F (RFC 5555): a standard LMA would read a PBU-M as "force UDP encapsulation".
// We therefore default the (C) flag to 0x0008, the highest bit of the reserved
// nibble, and the option type to 200, in the unassigned range; both can be set
// to the draft's values to talk to a peer that follows the draft literally.
struct ExtensionCodePoints {
    std::uint16_t multicast_subscription_flag = 0x0008;
    std::uint8_t multicast_subscription_option_type = 200;
    bool operator==(const ExtensionCodePoints&) const = default;
};

}  // namespace pmip::mh
